/* Video and 3D region streams through libavcodec: an encoder per region (hardware first,
 * software always) and the matching decoder.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_VIDEO_H
#define VD_VIDEO_H

#include <vd/common.h>

#include "../lib/buf.h"
#include "../lib/internal.h"
#include "colour.h"

enum vd_video_codec {
    VD_VIDEO_H264 = 1,
    VD_VIDEO_AV1 = 2,
};

/* The values of the public enum vd_video_backend_choice, which configs pass straight in. */
enum vd_video_backend {
    VD_VIDEO_BACKEND_AUTO = 0, /* hardware when it works, else software */
    VD_VIDEO_BACKEND_VAAPI = 1,
    VD_VIDEO_BACKEND_SOFTWARE = 2,
    VD_VIDEO_BACKEND_NVENC = 3, /* encoding only */
    VD_VIDEO_BACKEND_NVDEC = 4, /* decoding only */
};
_Static_assert(VD_VIDEO_BACKEND_AUTO == (int)VD_BACKEND_AUTO &&
                   VD_VIDEO_BACKEND_VAAPI == (int)VD_BACKEND_VAAPI &&
                   VD_VIDEO_BACKEND_SOFTWARE == (int)VD_BACKEND_SOFTWARE &&
                   VD_VIDEO_BACKEND_NVENC == (int)VD_BACKEND_NVENC &&
                   VD_VIDEO_BACKEND_NVDEC == (int)VD_BACKEND_NVDEC,
               "the backends' values are the public ones");

/* The lowest rate a stream takes: x264 counts in kbit/s. */
#define VD_VIDEO_MIN_BITRATE 1000

typedef struct vd_video_params {
    enum vd_video_codec codec;
    int width, height;       /* even; the region's size */
    int fps;                 /* the stream's frame rate, for rate control */
    int64_t bitrate;         /* bits per second, at least VD_VIDEO_MIN_BITRATE */
    enum vd_video_backend backend;
    /* 3D: every frame out at once, in a rate buffer of two frames.  Video: a half-second
     * buffer, so that the rate holds its target over seconds (x264 undershoots a two-frame
     * buffer by a fifth on natural video) at the cost of burstier frames. */
    int latency_first;
    unsigned cpu_flags; /* VD_CPU_* the colour conversion may use (0 = the C reference) */
    /* x264's own rate control only, without libvd's outer loop: vdbench's full-frame
     * baseline, which stands for how game streamers run x264. */
    int plain_rate_control;
} vd_video_params;

typedef struct vd_video_encoder vd_video_encoder;

/* Opens a stream with the best backend allowed by params->backend and the
 * VD_VIDEO_BACKEND environment variable ("vaapi", "nvenc", "software"; "nvdec", a decoder,
 * = software): VAAPI, NVENC (H.264),
 * software; a backend that fails its probe (a real one-frame encode, remembered per
 * process) is skipped with one log line.
 * Returns 0, VD_ERR(ENOTSUP) when no encoder for the codec exists, or another error. */
VD_HIDDEN int vd_video_encoder_new(const vd_video_params *params, vd_video_encoder **out);
VD_HIDDEN void vd_video_encoder_free(vd_video_encoder **ve);

/* One coded picture in the output buffer. */
typedef struct vd_video_packet {
    size_t offset, size;
    int key;
} vd_video_packet;

/* Most pictures one call returns (an encoder with a pipeline may release several at once). */
#define VD_VIDEO_MAX_PACKETS 8

/* Encodes one frame from width x height pixels at src (stride bytes per row, format), shown
 * at pts_us (microseconds; the rate control spends bits by real time), and
 * appends the coded pictures (Annex B for H.264, a temporal unit of OBUs for AV1) to out,
 * describing each in pkts (*n_pkts of them; 0 when the encoder holds the frame back).
 * force_key asks for an IDR / key frame.  A hardware failure switches the stream to software
 * and codes the frame there as a key frame.  Returns 0 or a negative errno. */
VD_HIDDEN int vd_video_encode(vd_video_encoder *ve, const uint8_t *src, size_t stride,
                              enum vd_pixel_format format, int64_t pts_us, int force_key,
                              vd_buf *out, vd_video_packet *pkts, int *n_pkts);

/* The YUV layout the stream's encoder takes: VD_YUV420P for software and NVENC, VD_YUV_NV12
 * for the VAAPI upload.  It changes when a failed VAAPI stream goes on in software. */
VD_HIDDEN vd_yuv_layout vd_video_encoder_layout(const vd_video_encoder *ve);

/* vd_video_encode() of a picture already converted (colour.h's formulas, as
 * vd_rgb_to_yuv_c() writes width x height pixels): planes and strides in layout, which
 * should be vd_video_encoder_layout()'s (the other of VD_YUV420P and VD_YUV_NV12 is
 * rearranged; VD_YUV444P is refused with VD_ERR(EINVAL)). */
VD_HIDDEN int vd_video_encode_yuv(vd_video_encoder *ve, vd_yuv_layout layout,
                                  const uint8_t *const planes[3], const int strides[3],
                                  int64_t pts_us, int force_key, vd_buf *out,
                                  vd_video_packet *pkts, int *n_pkts);

/* Nanoseconds the last vd_video_encode() spent converting RGB to YUV, or the last
 * vd_video_encode_yuv() copying the planes into the encoder's picture. */
VD_HIDDEN uint64_t vd_video_encoder_convert_ns(const vd_video_encoder *ve);

/* Bits the target allowed the last picture given to the encoder: the target times the time
 * since the picture before, at most four frame intervals (one for a stream's first), the
 * span the rate control budgets for it.  A paused video is allowed nothing until it plays
 * again. */
VD_HIDDEN int64_t vd_video_encoder_allowed_bits(const vd_video_encoder *ve);

/* Counts bytes sent with the stream's last picture beside it (the wire's masks and its kept
 * and patched pixels) against its rate: the outer loop holds the two together to the
 * target, spread over the next pictures, through libx264's rate or through the time
 * libaom's pictures are given (there only less, by at most the side bytes' share).  Other
 * encoders ignore them. */
VD_HIDDEN void vd_video_encoder_count_side(vd_video_encoder *ve, size_t bytes);

/* What has been sent beside the pictures lately (vd_video_encoder_count_side()), bit/s: an
 * average over about the last 2 s of pictures. */
VD_HIDDEN int64_t vd_video_encoder_side_rate(const vd_video_encoder *ve);

/* Changes the stream's bit rate from the next frame on: libx264 without a key frame.  An
 * encoder that cannot change it during a stream (libaom, VAAPI through libavcodec 5.1; NVENC
 * only with a key frame) is opened again at the new rate, its next picture a key frame, for
 * a change of a fifth or more, at most one try per 2 s of pictures.  Returns 0;
 * VD_ERR(EAGAIN) when the change waits (too small, too soon, or opening at the new rate
 * failed: the stream keeps its rate, ask again later); VD_ERR(ENOTSUP) for SVT-AV1, which holds a new encoder's first pictures; or
 * another negative error from opening the encoder again (the next picture tries software). */
VD_HIDDEN int vd_video_encoder_set_bitrate(vd_video_encoder *ve, int64_t bitrate);

/* Whether a width x height picture is one the encoders take (even sides, at least 2). */
VD_HIDDEN int vd_video_size_ok(int width, int height);

/* 1 when vd_video_encoder_set_bitrate() changes the rate in the stream (libx264), 0 when it
 * costs a key frame. */
VD_HIDDEN int vd_video_encoder_retargets(const vd_video_encoder *ve);

/* Test hook: software streams opened from now on code with one thread, so that their bytes
 * do not depend on thread timing (libx264's row rate control in sliced-thread mode reads the
 * other slice's progress while it runs); 0 restores two. */
VD_HIDDEN void vd_video_test_single_thread(int on);

/* Test hook: libx264 streams opened from now on are driven as VAAPI and NVENC are (a rate
 * per picture of bitrate / frame rate, new rates only by opening again, for the link or the
 * cadence), so that those paths run here; 0 (the default) restores libx264's own. */
VD_HIDDEN void vd_video_test_x264_as_hardware(int on);

/* Where the stream codes now (never AUTO). */
VD_HIDDEN enum vd_video_backend vd_video_encoder_backend(const vd_video_encoder *ve);

typedef struct vd_video_decoder vd_video_decoder;

/* Opens a stream's decoder: the first hardware one that backend allows (AUTO: VAAPI, then
 * NVDEC; VAAPI or NVDEC: that one; the VD_VIDEO_BACKEND environment variable overrides it as
 * for encoders) and that passes its probe (a real decode of a software encoder's key frame
 * into memory, remembered per process and device, a failure logged once), else software.
 * Returns 0, VD_ERR(ENOTSUP) when no decoder for the codec exists, or another error. */
VD_HIDDEN int vd_video_decoder_new(enum vd_video_codec codec, int width, int height,
                                   enum vd_video_backend backend, vd_video_decoder **out);
VD_HIDDEN void vd_video_decoder_free(vd_video_decoder **vd);

/* Test hook: 0 (the default) = off; else decoders opened from now on put a software decoder
 * in VAAPI's place, and its fail_at-th packet fails as the device would: EIO, or for a
 * negative fail_at as rejected data (EBADMSG), as libavcodec's h264 reports most of VAAPI's
 * failures. */
VD_HIDDEN void vd_video_test_fake_vaapi_decoder(int fail_at);

/* Bytes past each row's width * bpp that vd_video_decode() may write: libswscale writes a
 * row in whole SIMD chunks (8 bytes past a 296-pixel BGRX row, seen under valgrind). */
#define VD_VIDEO_ROW_SLACK 64

/* Decodes one coded frame (key: a key frame) into width x height pixels of format at dst
 * (stride bytes per row; stride, and the buffer after the last row, leave VD_VIDEO_ROW_SLACK
 * bytes past width * bpp).  When VAAPI fails on it the decoder goes on in software (logged):
 * with this frame if it is a key frame, else it returns VD_ERR(EBADMSG).  Returns 0,
 * VD_ERR(EBADMSG) for data the decoder rejects (the stream then needs a key frame),
 * VD_ERR(EIO) when no decoder could be opened again, or VD_ERR(ENOMEM). */
VD_HIDDEN int vd_video_decode(vd_video_decoder *vd, const uint8_t *data, size_t size, int key,
                              uint8_t *dst, size_t stride, enum vd_pixel_format format);

#endif
