/* vdbench --peers: other lossless screen codecs, run side by side with libvd on the same
 * damaged tiles of the same frames (issue #5).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Definitions:
 *  - Damaged tiles: the 64 x 64 tiles (clipped at the frame's edges) whose B, G or R differ
 *    from the previous source frame of the same size (every tile of the first frame), less
 *    the tiles libvd sent in a video stream (video or 3D) in that frame, that is, those its
 *    client shows lossy after it (vd_encoder_get_lossy_tiles): exactly the changed tiles libvd
 *    coded losslessly.  (Its per-tile classes would not do: a stream's region also takes
 *    tiles the classifier calls text, and a tile classified video before its stream starts
 *    goes losslessly.)  Damaged pixels: their area.
 *  - Each peer codes, frame after frame, exactly those tiles of the source (BGRX) and may keep
 *    state across tiles and frames, as it would in its own protocol over one connection.
 *  - Bits per damaged pixel: the peer's coded bytes * 8 / damaged pixels.  MB/s: damaged
 *    pixels * 4 bytes (BGRX input) / time, encode and decode apart, medians over frames.
 *  - Every frame a peer codes is decoded by the peer's own decoder and compared with the
 *    source; a peer whose output does not decode exactly is reported as such, and its
 *    numbers are not trusted. */
#ifndef VDBENCH_PEERS_H
#define VDBENCH_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include <vd/common.h>

#include "lib/buf.h"

typedef struct bench_peer {
    const char *name; /* as printed: "lz4", "lz4hc", "zstd-1", "zstd-3", "png", "planar", "tight", "zrle" */
    /* Creates state for frames of at most width x height pixels; NULL when out of memory or
     * the peer cannot start. */
    void *(*create)(int width, int height);
    void (*destroy)(void *state);
    /* Codes the rects (64 x 64 tiles or smaller at the edges, in raster order) of one frame
     * (BGRX, stride bytes per row, width x height) and appends the bytes to *out.  Returns 0
     * or a negative errno. */
    int (*encode)(void *state, const uint8_t *bgrx, size_t stride, int width, int height,
                  const vd_rect *rects, size_t n_rects, vd_buf *out);
    /* Decodes what encode produced for that frame into img (BGRX, stride bytes per row,
     * holding the previously decoded frame).  Returns 0 or a negative errno. */
    int (*decode)(void *state, const uint8_t *data, size_t size, uint8_t *img, size_t stride,
                  int width, int height, const vd_rect *rects, size_t n_rects);
} bench_peer;

/* The peers built into this vdbench (each optional at configure time), in report order. */
size_t bench_peers_list(const bench_peer *const **out);

#if HAVE_LIBVNCSERVER
/* bench/peer_vnc.c: libvncserver's Tight and ZRLE encodings. */
extern const bench_peer bench_peer_tight, bench_peer_zrle;
#endif

#endif
