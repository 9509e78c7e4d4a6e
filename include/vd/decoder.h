/* libvd decoder: wire bytes in, composed surfaces out.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The viewer owns the event loop and calls:
 *
 *     vd_decoder_send_packet(dec, data, size);       whole packets, in the encoder's order
 *     while (vd_decoder_receive_image(dec, &img) == 0)
 *         present(&img);                              img.damage says what changed
 *
 * The rules are FFmpeg's: VD_ERR(EAGAIN) from send_packet means "receive images first" (the
 * packet was not consumed), VD_ERR(EAGAIN) from receive_image means "send more packets".
 * send_packet(dec, NULL, 0) drains: the images still queued come out, then VD_EOF.
 *
 * Bad input.  A packet that is truncated, oversized, out of range or otherwise malformed
 * makes send_packet return VD_ERR(EBADMSG) (VD_ERR(ENOTSUP) for an unsupported wire version)
 * and nothing of the frame it belonged to is shown: every surface keeps its last complete
 * image, and the tiles received for the broken frame are dropped.  The stream can go on; the
 * host should ask the encoder for a refresh, since the client has now missed tiles. */
#ifndef VD_DECODER_H
#define VD_DECODER_H

#include <vd/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vd_decoder vd_decoder;

typedef struct vd_decoder_config {
    /* Surfaces that may exist at once; default and maximum 64. */
    uint32_t max_surfaces;
    /* Largest width * height of one surface the decoder allocates; default and maximum
     * VD_MAX_DIMENSION squared.  Lower it on memory-poor clients. */
    uint64_t max_surface_pixels;
    /* Largest sum of width * height over all surfaces, counting a surface being resized at
     * both sizes; default 2 * VD_MAX_DIMENSION squared.  With the tiles staged for a frame,
     * the decoder's memory stays below about 12 bytes per pixel of this. */
    uint64_t max_total_pixels;
    /* Most bytes of tile cache an encoder may use (it says how much, up to this); the cache
     * grows as it fills.  Default 64 MiB; 0 = none (an encoder must then be configured with
     * cache_size 0). */
    uint64_t cache_size;
    /* Where streams are decoded: VD_BACKEND_AUTO (the default) tries VAAPI, then NVDEC, then
     * software; VD_BACKEND_VAAPI or VD_BACKEND_NVDEC that one, then software;
     * VD_BACKEND_SOFTWARE no hardware (VD_BACKEND_NVENC, an encoder, is refused).  The
     * VD_VIDEO_BACKEND environment variable ("vaapi", "nvdec", "software"; "nvenc" = software
     * here) overrides it.  A hardware decoder that fails mid-stream hands the stream to
     * software, at once on a key frame, else from the key frame the decoder asks for
     * (vd_decoder_get_key_requests()). */
    enum vd_video_backend_choice video_backend;
    uint8_t reserved[52];
} vd_decoder_config;

/* Fills cfg with the defaults. */
VD_API void vd_decoder_config_default(vd_decoder_config *cfg);

/* Creates a decoder; cfg NULL means defaults.  Returns 0, VD_ERR(EINVAL) or VD_ERR(ENOMEM). */
VD_API VD_NODISCARD int vd_decoder_new(const vd_decoder_config *cfg, vd_decoder **out);

/* Frees the decoder and sets *dec to NULL; NULL and *dec == NULL are fine. */
VD_API void vd_decoder_free(vd_decoder **dec);

/* Feeds one packet (one or more whole wire messages).  Returns 0, VD_ERR(EAGAIN) while
 * images wait to be received, VD_ERR(EBADMSG) or VD_ERR(ENOTSUP) for bad input (see above),
 * VD_ERR(ENOMEM), or VD_EOF after draining.  data NULL drains. */
VD_API VD_NODISCARD int vd_decoder_send_packet(vd_decoder *dec, const uint8_t *data, size_t size);

enum {
    VD_IMAGE_NEW_SURFACE = 1u << 0, /* first image of this surface id */
    VD_IMAGE_RESIZED = 1u << 1,     /* width, height or format changed */
    VD_IMAGE_DESTROYED = 1u << 2,   /* the surface is gone; data is NULL */
};

typedef struct vd_image {
    uint32_t surface_id;
    uint32_t flags; /* VD_IMAGE_* */
    enum vd_pixel_format format;
    int32_t width, height, stride;
    const uint8_t *data;   /* the whole surface; valid until the next send_packet or free */
    const vd_rect *damage; /* what changed since this surface's previous image */
    size_t n_damage;
    uint64_t frame_seq;    /* the encoder's frame counter */
    int64_t pts_us;        /* the host's timestamp of the frame */
    uint8_t reserved[32];
} vd_image;

/* Video and 3D regions arrive as video streams (H.264 through libavcodec, AV1 through
 * libdav1d).  A stream whose data the decoder rejects stops being shown until a key frame:
 * the viewer should pass the ids this returns to the host, which calls
 * vd_encoder_request_keyframe() for each.  Writes up to max stream ids that need a key frame
 * into ids, forgets them, and returns how many it wrote. */
VD_API size_t vd_decoder_get_key_requests(vd_decoder *dec, uint32_t *ids, size_t max);

/* The connection to the encoder dropped: drops what arrived of an unfinished frame and
 * writes where the decoder stands into *state, for the session's resume
 * (vd_session_config.resume), after which the encoder sends only what changed.  Surfaces
 * that may miss tiles after bad input are removed first (VD_IMAGE_DESTROYED images report
 * them; the encoder creates them again), and after bad input that no codec reset followed,
 * state->frame_seq is 0 (everything comes again).  Keep feeding the same decoder the
 * resumed connection's packets.  Returns 0. */
VD_API int vd_decoder_get_resume_state(vd_decoder *dec, vd_resume_state *state);

/* Takes the next completed image.  Returns 0, VD_ERR(EAGAIN) when none is ready, or
 * VD_EOF once a drained decoder is empty.  When one packet completes several frames of the
 * same surface, only the latest image comes out, with the union of their damage. */
VD_API VD_NODISCARD int vd_decoder_receive_image(vd_decoder *dec, vd_image *img);

#ifdef __cplusplus
}
#endif

#endif
