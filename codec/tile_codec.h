/* Lossless tile codec: the pixels of a run of tiles (one rectangle) packed row after row, then
 * LZ4 (raw when LZ4 does not help).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_TILE_CODEC_H
#define VD_TILE_CODEC_H

#include "../lib/internal.h"
#include "../lib/wire.h"

/* Largest packed run: VD_TILE_RUN_MAX tiles of 64 x 64 pixels of 4 bytes. */
#define VD_TILE_RUN_MAX_BYTES (VD_TILE_RUN_MAX * 64 * 64 * 4)

typedef struct vd_tile_encoder vd_tile_encoder;

VD_HIDDEN vd_tile_encoder *vd_tile_encoder_new(void);
VD_HIDDEN void vd_tile_encoder_free(vd_tile_encoder **te);

/* Worst-case payload size for a run of packed_bytes bytes. */
VD_HIDDEN size_t vd_tile_max_payload(size_t packed_bytes);

/* Codes the w x h rectangle at src (stride bytes per row, bpp bytes per pixel; at most
 * VD_TILE_RUN_MAX_BYTES) into dst, which has room for vd_tile_max_payload(w * h * bpp).
 * set_x writes 0xff into byte 3 of every pixel (the X byte of X formats).  Returns the
 * payload size and sets *encoding. */
VD_HIDDEN size_t vd_tile_encode(vd_tile_encoder *te, const uint8_t *src, size_t stride, int w,
                                int h, int bpp, int set_x, uint8_t *dst, uint8_t *encoding);

/* Decodes a payload into packed_bytes bytes (rows of the rectangle, packed) at dst.  Returns 0, or VD_ERR(EBADMSG) when the
 * payload is malformed or does not produce exactly packed_bytes bytes. */
VD_HIDDEN int vd_tile_decode(uint8_t encoding, const uint8_t *payload, size_t size, uint8_t *dst,
                             size_t packed_bytes);

#endif
