/* libvd: types and conventions shared by the encoder and the decoder.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Conventions for the whole API:
 *  - Functions that can fail return 0 (or a count) on success and a negative errno on failure,
 *    written VD_ERR(EINVAL) and so on; vd_strerror() turns any of them into text.
 *  - Handles are opaque, created by vd_x_new() and released by vd_x_free(&handle), which sets
 *    the pointer to NULL and accepts NULL.
 *  - Nothing is thread-safe unless it says so: one handle is used by one thread at a time.
 *    Different handles may be used from different threads at once.
 *  - Public structs end with reserved space; zero them (for example with = {0}) before use. */
#ifndef VD_COMMON_H
#define VD_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <vd/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VD_API __attribute__((visibility("default")))
#define VD_NODISCARD __attribute__((warn_unused_result))
#else
#define VD_API
#define VD_NODISCARD
#endif

/* A negative error code from a positive errno value. */
#define VD_ERR(e) (-(e))

/* Returned by receive functions once a drained (flushed) encoder or decoder has nothing left. */
#define VD_EOF (-0x454f46)

/* The version of the library that is running (VD_VERSION of the build it came from). */
VD_API unsigned vd_version(void);
/* The same as a string, for example "0.1.0". */
VD_API const char *vd_version_string(void);

/* A short English description of an error code (VD_ERR(x) or VD_EOF); never NULL. */
VD_API const char *vd_strerror(int err);

enum vd_log_level {
    VD_LOG_ERROR = 0,
    VD_LOG_WARNING = 1,
    VD_LOG_INFO = 2,
    VD_LOG_DEBUG = 3,
};

/* Receives every log line of the library at or below the level set with vd_log_set_level().
 * msg has no trailing newline.  Called from whichever thread logged. */
typedef void (*vd_log_fn)(void *opaque, enum vd_log_level level, const char *msg);

/* Replaces the process-wide log callback; NULL restores the default (stderr).  Thread-safe,
 * but set it before creating handles so no line is lost to the old callback. */
VD_API void vd_log_set_callback(vd_log_fn fn, void *opaque);
/* Lines above this level are dropped; the default is VD_LOG_WARNING.  Thread-safe. */
VD_API void vd_log_set_level(enum vd_log_level level);

/* Pixel formats, named by their byte order in memory (not by a packed integer).
 * X bytes are ignored: changes to them are not damage, and the encoder sends them as 0xff. */
enum vd_pixel_format {
    VD_FORMAT_BGRX8888 = 1, /* B, G, R, X: XRGB8888 in DRM terms, QEMU's default */
    VD_FORMAT_BGRA8888 = 2, /* B, G, R, A: alpha is kept bit-exact */
    VD_FORMAT_RGBX8888 = 3, /* R, G, B, X */
    VD_FORMAT_RGBA8888 = 4, /* R, G, B, A */
    VD_FORMAT_RGB565 = 5,   /* little-endian 16-bit: R in bits 15-11, G 10-5, B 4-0 */
};

/* Bytes per pixel of a format, or 0 when the format is unknown. */
VD_API int vd_format_bytes_per_pixel(enum vd_pixel_format format);

/* What a region of the screen shows, which decides how it is coded: text and UI losslessly,
 * video for efficiency, 3D for latency. */
enum vd_content {
    VD_CONTENT_NONE = 0,  /* no hint / not damaged */
    VD_CONTENT_TEXT = 1,  /* text, UI, anything that must stay exact */
    VD_CONTENT_VIDEO = 2, /* natural video playback */
    VD_CONTENT_3D = 3,    /* rendered 3D (a game, a CAD viewport, a virgl/venus scanout) */
};

/* Largest surface width and height. */
#define VD_MAX_DIMENSION 8192

/* A rectangle in pixels; x, y may be negative in input (it is clipped). */
typedef struct vd_rect {
    int32_t x, y;
    int32_t width, height;
} vd_rect;

/* Where video streams are encoded (vd_encoder_config) and decoded (vd_decoder_config). */
enum vd_video_backend_choice {
    VD_BACKEND_AUTO = 0,     /* hardware when it works (encoding: VAAPI, then NVENC for H.264;
                              * decoding: VAAPI, then NVDEC), else software */
    VD_BACKEND_VAAPI = 1,    /* VAAPI; still falls back to software when it fails */
    VD_BACKEND_SOFTWARE = 2, /* encoding: libx264, libaom, SVT-AV1; decoding: libavcodec's
                              * h264, libdav1d */
    VD_BACKEND_NVENC = 3,    /* encoding only: h264_nvenc (AV1 streams go to software); still
                              * falls back to software when it fails */
    VD_BACKEND_NVDEC = 4,    /* decoding only: NVIDIA's NVDEC through CUDA (libavcodec's h264
                              * and av1 with the driver's libcuda and libnvcuvid; no DRM node
                              * needed); still falls back to software when it fails */
};

/* Surfaces that may exist at once in one encoder or decoder (the most their configs allow). */
#define VD_MAX_SURFACES 64

/* Where a client's decoder stands, for resuming after a dropped connection: the decoder
 * reports it (vd_decoder_get_resume_state()), a session carries it to the host
 * (vd_session_config.resume), and the encoder then sends only what changed since
 * (vd_encoder_resume()).  The encoder's frames are atomic on the client, so "every frame up
 * to frame_seq, nothing after" describes the client's image, its tile cache and its surfaces
 * exactly. */
typedef struct vd_resume_state {
    uint64_t frame_seq;   /* the last frame the decoder completed (vd_packet.frame_seq);
                           * 0 = nothing to build on: the encoder sends everything again */
    uint32_t n_surfaces;  /* surfaces the decoder shows, at most VD_MAX_SURFACES */
    uint32_t surface_ids[VD_MAX_SURFACES];
    uint8_t reserved[20];
} vd_resume_state;

#ifdef __cplusplus
}
#endif

#endif
