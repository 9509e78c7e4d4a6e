/* libvd encoder: framebuffers in, wire bytes out.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The host (a hypervisor's display backend) owns the event loop and calls:
 *
 *     vd_encoder_send_frame(enc, &frame);            one surface's new contents
 *     while ((ret = vd_encoder_receive_packet(enc, &pkt)) == 0)
 *         transmit(pkt.data, pkt.size);              whole wire messages, in order
 *     ret is VD_ERR(EAGAIN): send the next frame
 *
 * The rules are FFmpeg's: VD_ERR(EAGAIN) from send_frame means "receive packets first",
 * VD_ERR(EAGAIN) from receive_packet means "send more input"; the two never both return
 * EAGAIN.  send_frame(enc, NULL) drains: afterwards receive_packet returns what is left and
 * then VD_EOF, and no further frame is accepted.
 *
 * Damage contract.  frame.damage lists the rectangles the host knows to have changed since
 * the previous frame of that surface; libvd compares only the 64x64 tiles those rectangles
 * touch against its copy of the previous frame and sends the tiles that really differ.
 * Rectangles are clipped to the surface.  A host that under-reports (changes pixels outside
 * its rectangles) leaves those pixels stale on the client until a later rectangle covers
 * them or vd_encoder_request_refresh() is called; nothing else breaks.  A host that does not
 * know its damage passes damage = NULL and libvd scans the whole surface, which costs about a
 * memcpy of the frame.  damage != NULL with n_damage = 0 means "nothing changed". */
#ifndef VD_ENCODER_H
#define VD_ENCODER_H

#include <vd/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vd_encoder vd_encoder;

typedef struct vd_encoder_config {
    /* Packets are cut at message boundaries once they reach this size (bytes), so a packet
     * can exceed it by one message: a run of up to 32 tiles, at most 512 KiB and a few bytes.
     * Default 256 KiB, at least 4 KiB. */
    size_t max_packet_size;
    /* Surfaces (monitors) that may exist at once; default and maximum 64. */
    uint32_t max_surfaces;
    /* Mask of CPU features the kernels may use; ~0u (the default) = whatever the CPU has,
     * 0 = portable C only.  For tests and benchmarks. */
    uint32_t cpu_flags;
    uint8_t reserved[64];
} vd_encoder_config;

/* Fills cfg with the defaults. */
VD_API void vd_encoder_config_default(vd_encoder_config *cfg);

/* Creates an encoder; cfg NULL means defaults.  Returns 0, VD_ERR(EINVAL) for a bad
 * config, VD_ERR(ENOMEM), or VD_ERR(ENOTSUP) in a build without the encoder. */
VD_API VD_NODISCARD int vd_encoder_new(const vd_encoder_config *cfg, vd_encoder **out);

/* Frees the encoder and sets *enc to NULL; NULL and *enc == NULL are fine. */
VD_API void vd_encoder_free(vd_encoder **enc);

typedef struct vd_frame {
    uint32_t surface_id;          /* any value but VD_ALL_SURFACES; a new id creates a surface */
    enum vd_pixel_format format;
    int32_t width, height;        /* 1 .. VD_MAX_DIMENSION; a change resizes the surface */
    int32_t stride;               /* bytes between rows, >= width * bytes per pixel */
    const uint8_t *data;          /* read during send_frame only; libvd keeps its own copy */
    const vd_rect *damage;        /* see the damage contract above; NULL = unknown */
    size_t n_damage;              /* at most 65536 */
    int64_t pts_us;               /* the host's timestamp, carried to the decoder */
    uint8_t reserved[32];
} vd_frame;

/* Encodes one frame of one surface.  Returns 0; VD_ERR(EAGAIN) while packets are waiting to
 * be received; VD_ERR(EINVAL) for a bad format, size, stride, NULL data or too many damage
 * rectangles (the encoder is unchanged and keeps working); VD_ERR(ENOSPC) when a new surface
 * would exceed max_surfaces; VD_EOF after draining.  frame NULL drains. */
VD_API VD_NODISCARD int vd_encoder_send_frame(vd_encoder *enc, const vd_frame *frame);

enum {
    VD_PACKET_FRAME_END = 1u << 0, /* the last packet of a frame */
};

typedef struct vd_packet {
    const uint8_t *data; /* valid until the next call on this encoder */
    size_t size;
    uint32_t flags;      /* VD_PACKET_* */
    uint32_t surface_id;
    uint64_t frame_seq;  /* per-encoder frame counter, starting at 1 */
    int64_t pts_us;
    uint8_t reserved[32];
} vd_packet;

/* Takes the next packet.  Returns 0, VD_ERR(EAGAIN) when there is none (send a frame), or
 * VD_EOF once a drained encoder is empty. */
VD_API VD_NODISCARD int vd_encoder_receive_packet(vd_encoder *enc, vd_packet *pkt);

/* Removes a surface; the client is told in the next packets.  Returns 0,
 * VD_ERR(ENOENT) for an unknown id, or VD_ERR(EAGAIN) while packets are waiting. */
VD_API int vd_encoder_destroy_surface(vd_encoder *enc, uint32_t surface_id);

/* Every surface, for vd_encoder_request_refresh(). */
#define VD_ALL_SURFACES UINT32_MAX

/* Makes the next frame of a surface (or of all) send every tile, for example after the
 * client lost data or under-reported damage; the stream header (HELLO) is sent again too, in
 * case the client lost the first packet.  Returns 0 or VD_ERR(ENOENT). */
VD_API int vd_encoder_request_refresh(vd_encoder *enc, uint32_t surface_id);

/* What the last send_frame did; times are CPU-side wall-clock nanoseconds. */
typedef struct vd_encoder_stats {
    uint32_t tiles_total;   /* tiles in the surface */
    uint32_t tiles_scanned; /* tiles compared against the previous frame */
    uint32_t tiles_damaged; /* tiles sent */
    uint64_t damaged_pixels;
    uint64_t bytes;         /* wire bytes produced for the frame */
    uint64_t scan_ns;       /* damage detection */
    uint64_t encode_ns;     /* everything after the scan: reference update and tile coding */
    uint64_t coding_ns;     /* the tile coding part of encode_ns (packing, LZ4, messages) */
    uint8_t reserved[64];
} vd_encoder_stats;

/* Copies the statistics of the most recent frame into *stats. */
VD_API void vd_encoder_get_stats(const vd_encoder *enc, vd_encoder_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
