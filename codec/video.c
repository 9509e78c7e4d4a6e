/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "../lib/clock.h"
#include "../lib/log.h"
#include "colour.h"
#include "video.h"

/* The outer rate loop: x264 misses its rate by up to a fifth depending on the content and
 * the buffer (under on natural video in a small buffer, under at a slow cadence), so the
 * rate it is given is the target times a factor that the bytes it really produced over the
 * coded pictures' time correct, slowly.  The factor outlives new targets and cadences (the
 * miss is the content's), the measurement does not.  libaom's loop takes the bytes sent
 * beside its pictures off their time (loop_runs()), and gives a latency-first stream's
 * pictures more where it spent less (aom_factor()).  Units: microseconds of pts, bits. */
#define LOOP_STEP_US 1000000   /* x264's: a correction per second of coded pictures */
#define LOOP_SETTLE_US 1000000 /* not measured after a start, key frame or new target */
/* libaom's: its factor acts through the next picture's time stamp, with no new rate buffer
 * to refill, so it settles and is corrected twice as often (a raise reaches libaom's frame
 * rate, which it averages over a second, half by the next correction; the loop's no-effect
 * rule still held).  04-3dui's first 5 s window, whose cheap intro the loop had not yet seen
 * past: -10.4 -> -6.6 % of what the targets allowed with threads, -4.1 -> -6.6 % on one; 3d
 * +3.9 -> +3.3 %, the rest within 0.5 points.  Tried beside it: no no-effect rule for libaom
 * (-3.7 %, but without a QP nothing else stops a nearly static picture winding the factor
 * up to 1.6), and a whole second after each raise (-8.7 %). */
#define AOM_LOOP_STEP_US 500000
#define AOM_LOOP_SETTLE_US 500000
#define LOOP_ONE 1024                   /* factors and ratios in 1/LOOP_ONE */
#define LOOP_FACTOR_MIN (LOOP_ONE * 7 / 10)
#define LOOP_FACTOR_MAX (LOOP_ONE * 8 / 5)
#define LOOP_STEP_MAX (LOOP_ONE * 8 / 100) /* the most one correction moves the factor */
#define LOOP_GAIN_PCT 60                    /* the part of the error one correction takes */
#define LOOP_DEADBAND (LOOP_ONE * 2 / 100)  /* errors this small are left alone */
/* x264 at or below this average QP is not short of bits (its floor is 0: libavcodec leaves
 * it): the content needs fewer (a nearly static picture), and a higher rate would only wind
 * the factor up for a burst once motion starts. */
#define LOOP_QP_FLOOR 2
/* Where a latency-first stream's factor starts: x264 in a two-frame rate buffer spends less
 * than its rate on smooth shading (0.81-0.86 before the first correction on the 3d and mixed
 * workloads, whose loops settled at 1.21-1.29) and about all of it on glxgears, and a 3D
 * region that grows gets a new stream before its loop has learnt which (the 3d workload
 * replaced its stream four times in 3 s).  Between the two: 5 s windows of -5 % to +5 %
 * where 1.0 gave -13 % to -1 % and 1.2 up to +9 %. */
#define LOOP_LATENCY_FIRST_START (LOOP_ONE * 11 / 10)
/* The time the rate of the bytes sent beside the pictures is averaged over
 * (vd_video_encoder_side_rate()). */
#define SIDE_RATE_US 2000000

/* One correction's coded pictures (after the settling time): LOOP_STEP_US or AOM_LOOP_STEP_US. */
typedef struct rate_span {
    int64_t us;      /* pts covered */
    int64_t budget;  /* bits the target allowed for it, times 1e6 (bit us / s) */
    uint64_t bytes;  /* produced */
    int64_t qp_sum;  /* of the pictures with a QP */
    int qp_n;
} rate_span;

typedef struct rate_loop {
    int64_t factor;
    int64_t settle_until_us; /* pictures before this pts are not measured; -1: from the next */
    rate_span cur, prev;     /* prev is part of the window while the factor stays */
    int prev_valid;
    int64_t last_raise;      /* the last correction's raise (0: it did not raise) */
    int64_t last_ratio;      /* the bytes / budget it was made on */
    int64_t last_qp;         /* and the average QP, in 1/LOOP_ONE (-1: none) */
} rate_loop;

struct vd_video_encoder {
    vd_video_params params;
    enum vd_video_backend backend; /* the one in use */
    AVCodecContext *ctx;
    AVBufferRef *hw_device;
    AVFrame *frame;    /* YUV input (system memory) */
    AVFrame *hw_frame; /* VAAPI surface */
    AVPacket *pkt;
    vd_rgb_to_yuv_fn to_yuv;
    vd_yuv_layout layout; /* of frame */
    uint64_t convert_ns;  /* the last frame's fill_frame() */
    int64_t pts;
    /* Cadence: libx264 budgets bitrate / fps per coded picture, but only changed pictures are
     * coded (a 15 fps clip in a 30 Hz desktop), so its rate is scaled by how far apart they
     * really are (x264's timestamp-based mode did much worse at zero latency). */
    int64_t target;       /* the bit rate asked for */
    int64_t last_us;      /* the last coded picture's time; -1 before */
    int64_t interval_us;  /* between coded pictures (EWMA); -1 before the second */
    /* A lower rate reaches x264 in two frames (see vd_video_encoder_set_bitrate): 1 = the
     * average changes with the next frame, 2 = the rate buffer follows with the one after. */
    int lower_pending;
    int qp; /* the last coded picture's, when the encoder says; else -1 */
    rate_loop loop;
    int64_t opened_us; /* the last coded picture's time when it was last opened again (-1) */
    int64_t allowed_bits; /* what the target allowed the last picture (see the header) */
    size_t side_bytes;    /* sent beside pictures and not counted yet (see loop_account()) */
    size_t side_new;      /* sent beside the last picture (vd_video_encoder_count_side()) */
    int64_t side_rate;    /* what is sent beside the pictures, bit/s (EWMA; see aom_factor()) */
    /* encoder_open() or encode_frame() failed on the host's side (memory, too many packets),
     * not the backend's */
    int own_failure;
    /* VAAPI, NVENC: the encoder budgets bitrate / frame rate per picture and takes no new
     * rate in the stream, so it is opened at the rate for the cadence (see reopen()). */
    int per_frame;
    int as_hardware; /* libx264 driven that way (vd_video_test_x264_as_hardware()) */
    int64_t open_interval_us; /* per-frame: the cadence its rate is for (-1: a frame) */
    int64_t window_us;        /* per-frame: the pictures' (capped) time since the last check */
    int window_pictures;
    int cadence_checked;      /* a first window has been measured */
    int cadence_move;         /* -1, 0, 1: the last window's call (a rate lower, none, higher) */
    int64_t last_window_us;   /* and its time and pictures */
    int last_window_pictures;
};

/* What a frame is coded from: RGB pixels (rgb set), or planes already converted. */
typedef struct picture {
    const uint8_t *rgb;
    size_t stride;
    enum vd_pixel_format format;
    vd_yuv_layout layout;
    const uint8_t *planes[3];
    int strides[3];
} picture;

/* libaom's time base is this many ticks per frame, fine enough for a measured cadence. */
#define AOM_TICKS 1000

/* A picture's duration at the stream's nominal frame rate. */
static int64_t frame_us(const vd_video_params *p) { return 1000000 / VD_MAX(p->fps, 1); }

static enum AVPixelFormat av_format(enum vd_pixel_format f)
{
    switch (f) {
    case VD_FORMAT_BGRX8888: return AV_PIX_FMT_BGR0;
    case VD_FORMAT_BGRA8888: return AV_PIX_FMT_BGRA;
    case VD_FORMAT_RGBX8888: return AV_PIX_FMT_RGB0;
    case VD_FORMAT_RGBA8888: return AV_PIX_FMT_RGBA;
    case VD_FORMAT_RGB565: return AV_PIX_FMT_RGB565LE;
    }
    return AV_PIX_FMT_NONE;
}

static int av_err(int e)
{
    return e == AVERROR(ENOMEM) ? VD_ERR(ENOMEM) : e == AVERROR(EINVAL) ? VD_ERR(EINVAL) : VD_ERR(EIO);
}

static void encoder_close(vd_video_encoder *ve)
{
    avcodec_free_context(&ve->ctx);
    av_buffer_unref(&ve->hw_device);
    av_frame_free(&ve->frame);
    av_frame_free(&ve->hw_frame);
    av_packet_free(&ve->pkt);
}

static const char *software_encoder_name(enum vd_video_codec codec)
{
    if (codec == VD_VIDEO_H264)
        return "libx264";
    /* libaom in realtime mode returns every picture at once (35 frames/s on a 1280x736 region
     * on two cores at its fastest setting); SVT-AV1 is faster but, through libavcodec 5.1,
     * holds pictures in its pipeline even in low-delay mode, which a remote display cannot
     * wait for (those tiles then go losslessly).  SVT-AV1 remains the fallback. */
    return avcodec_find_encoder_by_name("libaom-av1") ? "libaom-av1" : "libsvtav1";
}

static atomic_int single_thread;
static atomic_int x264_as_hardware;

void vd_video_test_x264_as_hardware(int on) { atomic_store(&x264_as_hardware, on); }

void vd_video_test_single_thread(int on) { atomic_store(&single_thread, on); }

/* Two: libx264 codes a picture in two slices at once (zerolatency's sliced threads). */
static int encoder_threads(void) { return atomic_load(&single_thread) ? 1 : 2; }

/* Real-time settings: no B-frames, no lookahead, an endless GOP (key frames on request only);
 * the rate buffer as vd_video_params.latency_first says. */
static void set_rate(AVCodecContext *ctx, const vd_video_params *p)
{
    int64_t rate = VD_MIN(p->bitrate, INT32_MAX); /* NVENC's and VAAPI's rates are 32-bit */
    ctx->bit_rate = rate;
    ctx->rc_max_rate = rate;
    /* (libavcodec gives x264 whole kbit: under 1000 bits it would run without a buffer) */
    ctx->rc_buffer_size = (int)VD_MIN(VD_MAX(p->latency_first ? rate * 2 / VD_MAX(p->fps, 1)
                                                              : rate / 2,
                                             1000),
                                      INT32_MAX);
}

/* A rejected option would silently leave a slow or high-latency default: say so. */
static void set_option(AVCodecContext *ctx, const char *name, const char *key, const char *value)
{
    if (av_opt_set(ctx->priv_data, key, value, 0) < 0)
        vd_log(VD_LOG_WARNING, "%s refused option %s=%s", name, key, value);
}

static void set_realtime_options(AVCodecContext *ctx, const char *name, const vd_video_params *p)
{
    ctx->max_b_frames = 0;
    ctx->gop_size = INT32_MAX / 2;
    set_rate(ctx, p);
    ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
    if (!strcmp(name, "libx264")) {
        set_option(ctx, name, "preset", "veryfast");
        set_option(ctx, name, "tune", "zerolatency");
        set_option(ctx, name, "forced-idr", "1");
        set_option(ctx, name, "x264-params", "keyint=infinite:scenecut=0:rc-lookahead=0");
        ctx->thread_count = encoder_threads();
    } else if (!strcmp(name, "libsvtav1")) {
        /* SVT-AV1 wants its peak above the target and its own CBR mode for low delay. */
        ctx->rc_max_rate = 0;
        set_option(ctx, name, "preset", "12");
        set_option(ctx, name, "svtav1-params", "pred-struct=1:rc=2:lookahead=0:keyint=-1");
    } else if (!strcmp(name, "libaom-av1")) {
        set_option(ctx, name, "usage", "realtime");
        set_option(ctx, name, "cpu-used", "8"); /* libavcodec 5.1's highest */
        set_option(ctx, name, "lag-in-frames", "0");
        /* Below its buffer's optimal level, which libavcodec puts at 5/6 of the buffer (so
         * nearly always), libaom's CBR cuts a picture's target by up to half this percentage
         * (12.5 % by default), while the buffer's headroom above that level lets it raise one
         * by 10 % at most: the stream fell short of its rate.  Its q still rises as the
         * buffer drains. */
        set_option(ctx, name, "undershoot-pct", "0");
        ctx->thread_count = encoder_threads();
    } else if (!strcmp(name, "h264_nvenc")) {
        /* Its lowest-latency settings: constant rate, each picture out before the next is
         * given ("delay" 0), no lookahead or scene-cut key frames. */
        set_option(ctx, name, "preset", "p2");
        set_option(ctx, name, "tune", "ull");
        set_option(ctx, name, "rc", "cbr");
        set_option(ctx, name, "zerolatency", "1");
        set_option(ctx, name, "delay", "0");
        set_option(ctx, name, "rc-lookahead", "0");
        set_option(ctx, name, "no-scenecut", "1");
        set_option(ctx, name, "forced-idr", "1");
    } else { /* VAAPI */
        set_option(ctx, name, "async_depth", "1");
    }
}

static int64_t coded_bitrate(const vd_video_encoder *ve);
static int is_x264(const vd_video_encoder *ve);
static int uses_timestamps(const vd_video_encoder *ve);

/* The time between pictures that a rate is budgeted for: interval_us (-1: a frame), between
 * half a frame and four. */
static int64_t budgeted_interval(const vd_video_encoder *ve, int64_t interval_us)
{
    int64_t nominal = frame_us(&ve->params);
    return interval_us < 0 ? nominal : VD_MIN(VD_MAX(interval_us, nominal / 2), nominal * 4);
}

/* The rate a per-frame encoder is opened at for pictures interval_us apart (-1: a frame). */
static int64_t per_frame_rate(const vd_video_encoder *ve, int64_t interval_us)
{
    return VD_MAX(ve->target * budgeted_interval(ve, interval_us) / frame_us(&ve->params),
                  VD_VIDEO_MIN_BITRATE);
}

static int encoder_open(vd_video_encoder *ve, enum vd_video_backend backend)
{
    const vd_video_params *p = &ve->params;
    const char *name = software_encoder_name(p->codec);
    if (backend == VD_VIDEO_BACKEND_VAAPI)
        name = p->codec == VD_VIDEO_H264 ? "h264_vaapi" : "av1_vaapi";
    else if (backend == VD_VIDEO_BACKEND_NVENC) /* libavcodec 5.1 has no av1_nvenc */
        name = p->codec == VD_VIDEO_H264 ? "h264_nvenc" : "av1_nvenc";
    const AVCodec *codec = avcodec_find_encoder_by_name(name);
    if (!codec)
        return VD_ERR(ENOTSUP);
    int per_frame = backend != VD_VIDEO_BACKEND_SOFTWARE || (!strcmp(name, "libx264") && ve->as_hardware);
    if (per_frame && ve->target) /* (a probe has no target) */
        ve->params.bitrate = per_frame_rate(ve, ve->open_interval_us);
    else if (!strcmp(name, "libx264") && ve->target) /* the outer loop's factor from the start */
        ve->params.bitrate = coded_bitrate(ve);
    else if (ve->target) /* libaom, SVT-AV1: not a per-frame rate after a device's failure */
        ve->params.bitrate = ve->target;
    int ret = VD_ERR(ENOMEM);
    ve->ctx = avcodec_alloc_context3(codec);
    ve->frame = av_frame_alloc();
    ve->pkt = av_packet_alloc();
    if (!ve->ctx || !ve->frame || !ve->pkt)
        goto host_short;
    AVCodecContext *ctx = ve->ctx;
    ctx->width = p->width;
    ctx->height = p->height;
    ctx->time_base = (AVRational){1, VD_MAX(p->fps, 1)};
    ctx->framerate = (AVRational){VD_MAX(p->fps, 1), 1};
    if (!strcmp(name, "libaom-av1")) { /* libavcodec gives each picture ticks_per_frame */
        ctx->time_base.den *= AOM_TICKS;
        ctx->ticks_per_frame = AOM_TICKS;
    }
    ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    /* What colour.h converts to, said in the stream (it is also the decoders' default). */
    ctx->colorspace = AVCOL_SPC_SMPTE170M;
    ctx->color_range = AVCOL_RANGE_MPEG;
    set_realtime_options(ctx, name, p);
    enum AVPixelFormat sw_format = AV_PIX_FMT_YUV420P;
    if (backend == VD_VIDEO_BACKEND_VAAPI) {
        /* The device and a pool of surfaces that frames are uploaded into (hw_frames_ctx). */
        sw_format = AV_PIX_FMT_NV12;
        if ((ret = av_hwdevice_ctx_create(&ve->hw_device, AV_HWDEVICE_TYPE_VAAPI, NULL, NULL, 0)) < 0)
            goto fail_av;
        AVBufferRef *frames = av_hwframe_ctx_alloc(ve->hw_device);
        if (!frames) {
            ret = VD_ERR(ENOMEM);
            goto host_short;
        }
        AVHWFramesContext *fc = (AVHWFramesContext *)frames->data;
        fc->format = AV_PIX_FMT_VAAPI;
        fc->sw_format = sw_format;
        fc->width = p->width;
        fc->height = p->height;
        fc->initial_pool_size = 4;
        if ((ret = av_hwframe_ctx_init(frames)) < 0) {
            av_buffer_unref(&frames);
            goto fail_av;
        }
        ctx->pix_fmt = AV_PIX_FMT_VAAPI;
        ctx->hw_frames_ctx = frames;
        if (!(ve->hw_frame = av_frame_alloc())) {
            ret = VD_ERR(ENOMEM);
            goto host_short;
        }
    }
    if ((ret = avcodec_open2(ctx, codec, NULL)) < 0)
        goto fail_av;
    ve->frame->format = sw_format;
    ve->layout = sw_format == AV_PIX_FMT_NV12 ? VD_YUV_NV12 : VD_YUV420P;
    ve->to_yuv = vd_rgb_to_yuv_pick(p->cpu_flags);
    ve->frame->width = p->width;
    ve->frame->height = p->height;
    if ((ret = av_frame_get_buffer(ve->frame, 0)) < 0) {
        ret = av_err(ret);
        goto host_short;
    }
    ve->backend = backend;
    ve->per_frame = per_frame;
    if (uses_timestamps(ve)) /* (LOOP_LATENCY_FIRST_START is x264's) */
        ve->loop.factor = VD_MIN(ve->loop.factor, LOOP_ONE);
    return 0;
fail_av:
    ret = av_err(ret);
    goto fail;
host_short:
    ve->own_failure = 1;
fail:
    encoder_close(ve);
    return ret;
}

/* Per process: 0 = untried, 1 = works, -1 = failed its probe (logged once). */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static int probe_state[3][4]; /* [codec][backend] */

static const char *codec_name(enum vd_video_codec codec)
{
    return codec == VD_VIDEO_H264 ? "H.264" : "AV1";
}

static const char *backend_name(enum vd_video_backend backend)
{
    return backend == VD_VIDEO_BACKEND_VAAPI ? "VAAPI"
         : backend == VD_VIDEO_BACKEND_NVENC ? "NVENC"
                                             : "software";
}

static int encode_frame(vd_video_encoder *ve, const picture *pic, int force_key, vd_buf *out,
                        vd_video_packet *pkts, int *n_pkts);

/* Marks a backend that failed a stream as failed for the process (*state is its entry in a
 * probe table); returns 1 the first time, which logs it. */
static int mark_failed(int *state)
{
    pthread_mutex_lock(&probe_lock);
    int first = *state >= 0;
    *state = -1;
    pthread_mutex_unlock(&probe_lock);
    return first;
}

/* A hardware backend that failed a stream on its own side (err): new streams skip it, and it
 * is logged once.  Nothing for software. */
static void hardware_failed(const vd_video_encoder *ve, enum vd_video_backend backend, int err)
{
    if (backend != VD_VIDEO_BACKEND_SOFTWARE && mark_failed(&probe_state[ve->params.codec][backend]))
        vd_log(VD_LOG_WARNING, "%s encoder failed (%s); its streams continue in software",
               backend_name(backend), vd_strerror(err));
}

/* NVENC refuses pictures under about 145 pixels wide: narrower streams do not try it. */
#define NVENC_MIN_WIDTH 160

/* A real one-frame encode, since a device can be present and still fail (the frame is
 * accepted; some encoders emit it only with the next); at a size NVENC takes. */
#define PROBE_SIZE 256
static int backend_works(enum vd_video_codec codec, enum vd_video_backend backend)
{
    pthread_mutex_lock(&probe_lock);
    int state = probe_state[codec][backend];
    if (!state) {
        vd_video_encoder probe = {.params = {codec, PROBE_SIZE, PROBE_SIZE, 30, 1000000, backend}};
        uint8_t *pixels = calloc(PROBE_SIZE * PROBE_SIZE, 4);
        vd_buf out = {0};
        vd_video_packet pkts[VD_VIDEO_MAX_PACKETS];
        int n_pkts, ret = pixels ? encoder_open(&probe, backend) : VD_ERR(ENOMEM);
        picture pic = {.rgb = pixels, .stride = PROBE_SIZE * 4, .format = VD_FORMAT_BGRX8888};
        if (ret == 0)
            ret = encode_frame(&probe, &pic, 1, &out, pkts, &n_pkts);
        encoder_close(&probe);
        vd_buf_free(&out);
        free(pixels);
        /* No memory for the probe, or for software at all: try again later.  As for decoders
         * (hw_decode_device()), a device short of memory has failed: it would be probed again
         * by every new stream. */
        state = ret == 0 ? 1
                : !pixels || probe.own_failure ||
                          (ret == VD_ERR(ENOMEM) && backend == VD_VIDEO_BACKEND_SOFTWARE)
                    ? 0
                    : -1;
        probe_state[codec][backend] = state;
        if (state < 0)
            vd_log(VD_LOG_WARNING, "%s %s encoder unavailable (%s); using the next backend",
                   backend_name(backend), codec_name(codec),
                   vd_strerror(ret));
        else if (state > 0 && backend != VD_VIDEO_BACKEND_SOFTWARE)
            vd_log(VD_LOG_INFO, "%s %s encoder works (a one-frame test encode)",
                   backend_name(backend), codec_name(codec));
    }
    pthread_mutex_unlock(&probe_lock);
    return state > 0;
}

static enum vd_video_backend forced_backend(enum vd_video_backend configured)
{
    const char *env = getenv("VD_VIDEO_BACKEND");
    if (env && !strcmp(env, "vaapi"))
        return VD_VIDEO_BACKEND_VAAPI;
    if (env && !strcmp(env, "nvenc"))
        return VD_VIDEO_BACKEND_NVENC;
    if (env && !strcmp(env, "nvdec"))
        return VD_VIDEO_BACKEND_NVDEC;
    if (env && !strcmp(env, "software"))
        return VD_VIDEO_BACKEND_SOFTWARE;
    return configured;
}

int vd_video_size_ok(int width, int height)
{
    return width >= 2 && height >= 2 && !((width | height) & 1);
}

int vd_video_encoder_new(const vd_video_params *params, vd_video_encoder **out)
{
    *out = NULL;
    if ((params->codec != VD_VIDEO_H264 && params->codec != VD_VIDEO_AV1) ||
        !vd_video_size_ok(params->width, params->height) || params->bitrate < VD_VIDEO_MIN_BITRATE)
        return VD_ERR(EINVAL);
    vd_video_encoder *ve = calloc(1, sizeof(*ve));
    if (!ve)
        return VD_ERR(ENOMEM);
    ve->params = *params;
    ve->target = params->bitrate;
    ve->last_us = -1;
    ve->opened_us = -1;
    ve->interval_us = -1;
    ve->open_interval_us = -1;
    ve->as_hardware = atomic_load(&x264_as_hardware);
    ve->loop = (rate_loop){.factor = params->latency_first ? LOOP_LATENCY_FIRST_START : LOOP_ONE,
                           .settle_until_us = -1};
    enum vd_video_backend want = forced_backend(params->backend);
    int ret = VD_ERR(ENOTSUP);
    /* Hardware first (VAAPI, then NVENC), unless one is forced; a forced one that fails still
     * falls back to software: the output must go on. */
#if VD_HAVE_VAAPI
    if ((want == VD_VIDEO_BACKEND_AUTO || want == VD_VIDEO_BACKEND_VAAPI) &&
        backend_works(params->codec, VD_VIDEO_BACKEND_VAAPI))
        ret = encoder_open(ve, VD_VIDEO_BACKEND_VAAPI);
#else
    if (want == VD_VIDEO_BACKEND_VAAPI)
        vd_log(VD_LOG_WARNING, "VAAPI requested but not built in; using software");
#endif
    if (ret < 0 && params->codec == VD_VIDEO_H264 && params->width >= NVENC_MIN_WIDTH &&
        (want == VD_VIDEO_BACKEND_AUTO || want == VD_VIDEO_BACKEND_NVENC) &&
        backend_works(params->codec, VD_VIDEO_BACKEND_NVENC))
        ret = encoder_open(ve, VD_VIDEO_BACKEND_NVENC);
    if (ret < 0 && backend_works(params->codec, VD_VIDEO_BACKEND_SOFTWARE))
        ret = encoder_open(ve, VD_VIDEO_BACKEND_SOFTWARE);
    if (ret < 0) {
        free(ve);
        return ret;
    }
    *out = ve;
    return 0;
}

void vd_video_encoder_free(vd_video_encoder **pve)
{
    if (!pve || !*pve)
        return;
    encoder_close(*pve);
    free(*pve);
    *pve = NULL;
}

enum vd_video_backend vd_video_encoder_backend(const vd_video_encoder *ve) { return ve->backend; }

vd_yuv_layout vd_video_encoder_layout(const vd_video_encoder *ve) { return ve->layout; }

uint64_t vd_video_encoder_convert_ns(const vd_video_encoder *ve) { return ve->convert_ns; }

int64_t vd_video_encoder_allowed_bits(const vd_video_encoder *ve) { return ve->allowed_bits; }

/* The frame's planes from pic: converted from RGB, or copied (NV12 and YUV420P hold the same
 * chroma samples, interleaved or not, so either fills the other). */
static void fill_frame(vd_video_encoder *ve, const picture *pic)
{
    AVFrame *f = ve->frame;
    int w = ve->params.width, h = ve->params.height, cw = w / 2, ch = h / 2; /* even */
    uint64_t t0 = vd_now_ns();
    if (pic->rgb) {
        ve->to_yuv(pic->rgb, pic->stride, pic->format, w, h, ve->layout, f->data, f->linesize);
    } else {
        vd_copy_rows(f->data[0], (size_t)f->linesize[0], pic->planes[0], (size_t)pic->strides[0],
                     (size_t)w, (size_t)h);
        int nv12_in = pic->layout == VD_YUV_NV12, nv12_out = ve->layout == VD_YUV_NV12;
        for (int y = 0; y < ch; y++) {
            const uint8_t *u = pic->planes[1] + (size_t)y * (size_t)pic->strides[1];
            const uint8_t *v = nv12_in ? u + 1 : pic->planes[2] + (size_t)y * (size_t)pic->strides[2];
            uint8_t *du = f->data[1] + (size_t)y * (size_t)f->linesize[1];
            uint8_t *dv = nv12_out ? du + 1 : f->data[2] + (size_t)y * (size_t)f->linesize[2];
            if (nv12_in == nv12_out) {
                memcpy(du, u, (size_t)(nv12_in ? 2 * cw : cw));
                if (!nv12_in)
                    memcpy(dv, v, (size_t)cw);
                continue;
            }
            for (int x = 0; x < cw; x++) {
                du[x << nv12_out] = u[x << nv12_in];
                dv[x << nv12_out] = v[x << nv12_in];
            }
        }
    }
    ve->convert_ns = vd_now_ns() - t0;
}

static int encode_frame(vd_video_encoder *ve, const picture *pic, int force_key, vd_buf *out,
                        vd_video_packet *pkts, int *n_pkts)
{
    AVFrame *f = ve->frame;
    if (ve->lower_pending == 2) {
        set_rate(ve->ctx, &ve->params);
        ve->lower_pending = 0;
    } else if (ve->lower_pending) {
        ve->lower_pending = 2;
    }
    int ret = av_frame_make_writable(f);
    if (ret < 0)
        return av_err(ret);
    fill_frame(ve, pic);
    f->pts = ve->pts++;
    f->pict_type = force_key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    f->key_frame = force_key;
    AVFrame *send = f;
    if (ve->hw_frame) {
        av_frame_unref(ve->hw_frame);
        if ((ret = av_hwframe_get_buffer(ve->ctx->hw_frames_ctx, ve->hw_frame, 0)) < 0 ||
            (ret = av_hwframe_transfer_data(ve->hw_frame, f, 0)) < 0)
            return av_err(ret);
        ve->hw_frame->pts = f->pts;
        ve->hw_frame->pict_type = f->pict_type;
        send = ve->hw_frame;
    }
    if ((ret = avcodec_send_frame(ve->ctx, send)) < 0)
        return av_err(ret);
    *n_pkts = 0;
    ve->qp = -1;
    while ((ret = avcodec_receive_packet(ve->ctx, ve->pkt)) == 0) {
        size_t sd_size;
        const uint8_t *sd = av_packet_get_side_data(ve->pkt, AV_PKT_DATA_QUALITY_STATS, &sd_size);
        if (sd && sd_size >= 4 && is_x264(ve)) /* its QP as a lambda (libaom's says 0) */
            ve->qp = (int)((uint32_t)sd[0] | (uint32_t)sd[1] << 8 | (uint32_t)sd[2] << 16 |
                           (uint32_t)sd[3] << 24) / FF_QP2LAMBDA;
        uint8_t *dst = vd_buf_reserve(out, (size_t)ve->pkt->size);
        if (!dst || *n_pkts == VD_VIDEO_MAX_PACKETS) {
            av_packet_unref(ve->pkt);
            ve->own_failure = 1;
            return dst ? VD_ERR(EIO) : VD_ERR(ENOMEM);
        }
        memcpy(dst, ve->pkt->data, (size_t)ve->pkt->size);
        pkts[(*n_pkts)++] = (vd_video_packet){out->size, (size_t)ve->pkt->size,
                                              !!(ve->pkt->flags & AV_PKT_FLAG_KEY)};
        out->size += (size_t)ve->pkt->size;
        av_packet_unref(ve->pkt);
    }
    return ret == AVERROR(EAGAIN) ? 0 : av_err(ret);
}

/* Gives libx264 a new rate from the next picture on (libavcodec's wrapper reconfigures x264
 * when these fields change between frames). */
static void apply_bitrate(vd_video_encoder *ve, int64_t bitrate)
{
    if (bitrate == ve->params.bitrate)
        return;
    int lower = bitrate < ve->params.bitrate;
    ve->params.bitrate = bitrate;
    /* x264 takes the rate buffer before the average: lowering both at once would put the
     * peak under the old average for a frame (it warns and switches to CBR). */
    if (lower) {
        ve->ctx->bit_rate = bitrate;
        ve->lower_pending = 1;
    } else {
        set_rate(ve->ctx, &ve->params);
        ve->lower_pending = 0;
    }
}

/* libx264 taking new rates in the stream, under the outer loop. */
static int is_x264(const vd_video_encoder *ve)
{
    return ve->ctx && !strcmp(ve->ctx->codec->name, "libx264") && !ve->as_hardware;
}

/* libaom: pictures carry their time, in AOM_TICKS per frame (see encode_picture()). */
static int uses_timestamps(const vd_video_encoder *ve)
{
    return ve->ctx && !strcmp(ve->ctx->codec->name, "libaom-av1");
}

/* The encoders the outer loop holds to their target: libx264 through its rate, libaom
 * through the time its pictures are given (see encode_picture()). */
static int loop_runs(const vd_video_encoder *ve)
{
    return is_x264(ve) || uses_timestamps(ve);
}

/* libaom's factor: down by no more than the side bytes' share of the target; up only for a
 * latency-first stream, as x264's.  Its two-picture buffer cannot bank what a cheap stretch
 * left for the costly one after it: 04-3dui's first 5 s window was -11.5 % of what its
 * targets allowed with threads, -9.3 % on one (-10.4 % and -4.1 % free to go up; 3d and
 * mixed the same to the byte, cadences() 0-3 points higher, all within 5 %).  Not for a
 * video stream: there it took libaom's own swings (encode_picture()). */
static int64_t aom_factor(const vd_video_encoder *ve, int64_t factor)
{
    int64_t side = ve->side_rate * LOOP_ONE / VD_MAX(ve->target, 1);
    int64_t top = ve->params.latency_first ? LOOP_FACTOR_MAX : LOOP_ONE;
    return VD_MIN(VD_MAX(factor, VD_MAX(LOOP_ONE - side, LOOP_FACTOR_MIN)), top);
}

/* The time between coded pictures that the rate is budgeted for: the measured interval. */
static int64_t cadence_interval(const vd_video_encoder *ve)
{
    return budgeted_interval(ve, ve->interval_us);
}

/* The rate x264 is given: the target scaled by the cadence and by the outer loop's factor. */
static int64_t coded_bitrate(const vd_video_encoder *ve)
{
    int64_t rate = ve->target * cadence_interval(ve) / frame_us(&ve->params) * ve->loop.factor / LOOP_ONE;
    return VD_MAX(rate, VD_VIDEO_MIN_BITRATE);
}

/* Forgets the measured pictures: what x264 did before a new target says little about what it
 * does after.  settle: also skip the next LOOP_SETTLE_US or AOM_LOOP_SETTLE_US of pictures
 * (x264 spends unevenly after a key frame or a new target while its rate buffer refills). */
static void loop_restart(rate_loop *l, int settle)
{
    l->cur = l->prev = (rate_span){0};
    l->prev_valid = 0;
    l->last_raise = 0;
    if (settle)
        l->settle_until_us = -1;
}

/* A correction from the window (the last one or two spans): a part of the error, at most
 * LOOP_STEP_MAX, never a raise that cannot buy anything (the QP is at its floor, or the last
 * raise did not raise the bytes; the factor then goes back towards 1 instead, so that it
 * cannot wind up over a static picture and burst when motion starts). */
static void loop_correct(vd_video_encoder *ve)
{
    rate_loop *l = &ve->loop;
    rate_span w = l->cur;
    if (l->prev_valid) {
        w.us += l->prev.us;
        w.budget += l->prev.budget;
        w.bytes += l->prev.bytes;
        w.qp_sum += l->prev.qp_sum;
        w.qp_n += l->prev.qp_n;
    }
    int64_t ratio = (int64_t)w.bytes * 8 * LOOP_ONE / VD_MAX(w.budget / 1000000, 1);
    int64_t step = LOOP_ONE;
    if (llabs(ratio - LOOP_ONE) > LOOP_DEADBAND) {
        step = LOOP_ONE + (LOOP_ONE * LOOP_ONE / VD_MAX(ratio, 1) - LOOP_ONE) * LOOP_GAIN_PCT / 100;
        step = VD_MIN(VD_MAX(step, LOOP_ONE - LOOP_STEP_MAX), LOOP_ONE + LOOP_STEP_MAX);
    }
    int64_t qp = w.qp_n ? w.qp_sum * LOOP_ONE / w.qp_n : -1;
    if (step > LOOP_ONE) {
        int at_floor = qp >= 0 && qp <= LOOP_QP_FLOOR * LOOP_ONE;
        /* No effect: the bytes grew by under a quarter of the raise, and the QP did not fall
         * (when it did, the content got cheaper, and raising still helps). */
        int no_effect = l->last_raise &&
                        ratio * 4 * LOOP_ONE < l->last_ratio * (4 * LOOP_ONE + l->last_raise) &&
                        (qp < 0 || l->last_qp < 0 || qp >= l->last_qp);
        if (at_floor || no_effect)
            step = VD_MAX(LOOP_ONE * LOOP_ONE / VD_MAX(l->factor, LOOP_ONE),
                          LOOP_ONE - LOOP_STEP_MAX);
    }
    int64_t factor = VD_MIN(VD_MAX(l->factor * step / LOOP_ONE, LOOP_FACTOR_MIN), LOOP_FACTOR_MAX);
    if (!is_x264(ve))
        factor = aom_factor(ve, factor);
    l->last_raise = factor > l->factor ? (factor - l->factor) * LOOP_ONE / l->factor : 0;
    l->last_ratio = ratio;
    l->last_qp = qp;
    l->prev = l->cur;
    l->prev_valid = factor == l->factor;
    l->cur = (rate_span){0};
    if (factor != l->factor) {
        l->factor = factor;
        if (is_x264(ve))
            apply_bitrate(ve, coded_bitrate(ve));
    }
}

/* Counts a coded picture (d_us of pts since the one before) in the loop's window. */
static void loop_account(vd_video_encoder *ve, int64_t pts_us, int64_t d_us, int key, size_t bytes)
{
    rate_loop *l = &ve->loop;
    if (ve->params.plain_rate_control) {
        ve->side_bytes = 0;
        return;
    }
    if (key || l->settle_until_us < 0) {
        loop_restart(l, 0);
        l->settle_until_us = pts_us + (is_x264(ve) ? LOOP_SETTLE_US : AOM_LOOP_SETTLE_US);
    }
    if (pts_us < l->settle_until_us)
        return; /* (the side bytes wait in their pool) */
    /* A sixteenth of the side bytes not counted yet: a burst of patches (a subtitle's line)
     * spreads over half a second or more at 30 fps instead of swinging the loop's next
     * correction, which then chased every burst (a line every 2 s: the factor 0.85, 0.89,
     * 0.85, ...). */
    size_t side = (ve->side_bytes + 15) / 16;
    ve->side_bytes -= side;
    bytes += side;
    rate_span *c = &l->cur;
    c->us += d_us;
    c->budget += ve->target * d_us;
    c->bytes += bytes;
    if (ve->qp >= 0) {
        c->qp_sum += ve->qp;
        c->qp_n++;
    }
    if (c->us >= (is_x264(ve) ? LOOP_STEP_US : AOM_LOOP_STEP_US))
        loop_correct(ve);
}

/* An encoder whose rate libavcodec 5.1 cannot change (libaom, VAAPI; NVENC's reconfiguration
 * forces a key frame anyway) is opened again at the new rate, which costs a key frame: only
 * for a move of REOPEN_MIN_STEP_PCT or more (the link's steps are a quarter, those of the
 * link's share over an eighth: encoder.c), and not within REOPEN_MIN_US of pictures of the
 * last try.
 * Not SVT-AV1: a new one holds its first pictures, whose tiles would go losslessly, just
 * when the link is behind. */
#define REOPEN_MIN_STEP_PCT 12
#define REOPEN_MIN_US 2000000
/* A per-frame encoder opens at a frame's share of its rate, a guess: the mean interval of its
 * pictures over its first CADENCE_FIRST_US opens it again when its rate for that cadence
 * differs by CADENCE_STEP_PCT or more; later two CADENCE_WINDOW_US windows in a row must call
 * for the same move (a cadence that changes every second or so gives windows either side of
 * its mean: one window each reopened it every 2 s). */
#define CADENCE_FIRST_US 250000
#define CADENCE_WINDOW_US 2000000
#define CADENCE_STEP_PCT 15

/* Whether REOPEN_MIN_US of pictures have passed since the last try. */
static int reopen_due(const vd_video_encoder *ve)
{
    return ve->opened_us < 0 || ve->last_us - ve->opened_us >= REOPEN_MIN_US;
}

/* Opens the encoder again for target, a per-frame one for pictures interval_us apart. */
static int reopen(vd_video_encoder *ve, int64_t target, int64_t interval_us)
{
    ve->opened_us = ve->last_us; /* a failed try waits as long as a success */
    enum vd_video_backend backend = ve->backend;
    int64_t old_target = ve->target, old_interval = ve->open_interval_us, old_rate = ve->params.bitrate;
    encoder_close(ve);
    ve->target = ve->params.bitrate = target;
    ve->open_interval_us = interval_us;
    int ret = encoder_open(ve, backend);
    if (ret < 0) { /* what it had worked a moment ago */
        vd_log(VD_LOG_WARNING, "video encoder: opening it again at %lld bit/s failed (%s); it "
               "keeps %lld", (long long)ve->params.bitrate, vd_strerror(ret), (long long)old_rate);
        encoder_close(ve);
        ve->target = ve->params.bitrate = old_target;
        ve->open_interval_us = old_interval;
        if ((ret = encoder_open(ve, backend)) < 0) {
            /* Hardware that cannot open as it was a moment ago has failed (not for want of
             * memory): new streams skip it too. */
            if (backend != VD_VIDEO_BACKEND_SOFTWARE && ret != VD_ERR(ENOMEM))
                hardware_failed(ve, backend, ret);
            else
                vd_log(VD_LOG_WARNING, "video encoder: opening it again as it was failed too "
                       "(%s); the stream continues in software", vd_strerror(ret));
            return ret; /* encode_picture() opens it once more, in software */
        }
        return VD_ERR(EAGAIN);
    }
    return 0;
}

/* At the end of a per-frame encoder's window (see CADENCE_FIRST_US). */
static void follow_cadence(vd_video_encoder *ve)
{
    int64_t mean = ve->window_us / ve->window_pictures, rate = per_frame_rate(ve, mean);
    int move = llabs(rate - ve->params.bitrate) * 100 < ve->params.bitrate * CADENCE_STEP_PCT ? 0
             : rate > ve->params.bitrate                                                     ? 1
                                                                                             : -1;
    int first = !ve->cadence_checked, agreed = move && move == ve->cadence_move;
    if (agreed) /* the two windows' mean */
        mean = (ve->window_us + ve->last_window_us) / (ve->window_pictures + ve->last_window_pictures);
    ve->cadence_checked = 1;
    ve->cadence_move = agreed || first ? 0 : move; /* a reopen starts the agreement anew */
    ve->last_window_us = ve->window_us;
    ve->last_window_pictures = ve->window_pictures;
    ve->window_us = ve->window_pictures = 0;
    /* (the first even right after a link change's opening: until then it runs on a guess) */
    if ((first && move) || (agreed && reopen_due(ve)))
        (void)reopen(ve, ve->target, mean); /* failing, it keeps its rate */
}

static int reopen_at(vd_video_encoder *ve, int64_t bitrate)
{
    if (!ve->ctx || !strcmp(ve->ctx->codec->name, "libsvtav1"))
        return VD_ERR(ENOTSUP);
    if (llabs(bitrate - ve->target) * 100 < ve->target * REOPEN_MIN_STEP_PCT || !reopen_due(ve))
        return VD_ERR(EAGAIN);
    return reopen(ve, bitrate, ve->open_interval_us);
}

int vd_video_encoder_retargets(const vd_video_encoder *ve) { return is_x264(ve); }

int64_t vd_video_encoder_side_rate(const vd_video_encoder *ve) { return ve->side_rate; }

void vd_video_encoder_count_side(vd_video_encoder *ve, size_t bytes)
{
    ve->side_bytes += bytes;
    ve->side_new += bytes;
}

int vd_video_encoder_set_bitrate(vd_video_encoder *ve, int64_t bitrate)
{
    if (!is_x264(ve))
        return bitrate == ve->target ? 0 : reopen_at(ve, bitrate);
    if (bitrate != ve->target)
        loop_restart(&ve->loop, 1); /* measured against the new target once x264 follows */
    ve->target = bitrate;
    apply_bitrate(ve, coded_bitrate(ve));
    return 0;
}

/* vd_video_encode() and vd_video_encode_yuv() from their picture on. */
static int encode_picture(vd_video_encoder *ve, const picture *pic, int64_t pts_us, int force_key,
                          vd_buf *out, vd_video_packet *pkts, int *n_pkts)
{
    /* A pause says nothing about the cadence, nor about what the picture after it may cost. */
    int64_t d = frame_us(&ve->params);
    if (ve->last_us >= 0 && pts_us > ve->last_us) {
        d = VD_MIN(pts_us - ve->last_us, 4 * frame_us(&ve->params));
        /* The first interval stands for the cadence at once: a 15 fps clip's second picture
         * would otherwise start the stream at half its rate for a second.  Not a pause: that
         * would start it at up to four times its rate. */
        if (ve->interval_us >= 0)
            ve->interval_us = (7 * ve->interval_us + d) / 8;
        else if (pts_us - ve->last_us < 4 * frame_us(&ve->params))
            ve->interval_us = d;
        int64_t want = coded_bitrate(ve);
        /* x264 reconfigures on every change: follow moves of over a tenth only.  The loop
         * keeps its measurement: it counts against the target over the pictures' time, which
         * the cadence does not change (restarting it here, a jittery 15 fps clip left it 3
         * corrections in 9 s). */
        if (is_x264(ve) && llabs(want - ve->params.bitrate) * 10 > ve->params.bitrate)
            apply_bitrate(ve, want);
        if (ve->per_frame && ve->ctx) {
            ve->window_us += d;
            ve->window_pictures++;
            if (ve->window_us >= (ve->cadence_checked ? CADENCE_WINDOW_US : CADENCE_FIRST_US))
                follow_cadence(ve);
        }
    }
    ve->last_us = pts_us;
    ve->allowed_bits = ve->target * d / 1000000;
    if (ve->opened_us < 0) /* REOPEN_MIN_US counts from the first picture too */
        ve->opened_us = pts_us;
    size_t start = out->size;
    int ret;
    if (!ve->ctx && (ret = encoder_open(ve, VD_VIDEO_BACKEND_SOFTWARE)) < 0)
        return ret; /* a failed re-opening (vd_video_encoder_set_bitrate()) */
    /* libaom takes the cadence from the timestamps: it budgets each picture for the time
     * since the one before (with pictures a tick apart it spent half its rate on a 15 fps
     * clip).  Not from the raw gaps: each one that differs from a frame by a tenth resets its
     * frame rate at once, and a 25 fps clip in a 30 Hz desktop overshot by half.  From the
     * smoothed interval instead, as x264's rate.  Two corrections were tried and left out:
     * the outer loop through the stamps free to go either way (5 s windows of the video
     * workload -9 % where they were -7 %), and paying back what the average lags behind the
     * real gaps (04-3dui's first window -16 % -> -9 %, but cadences() at 30 and 10 fps by
     * turns 100 % -> 86 % and 76 %: libaom spends less the more its stamps vary).
     * encode_frame() adds the last tick.  What the loop does here: libaom cannot see the
     * bytes sent beside its pictures (masks, kept and patched pixels: 9 % of its bytes on
     * vdbench's 3d workload, whose 5 s windows ran up to 9 % over).  The loop counts them
     * with its pictures, and where the two run over the target its factor gives the pictures
     * that much less time, which takes the bytes from libaom's budget without opening it
     * again (it averages its frame rate over a second); never more time (but a latency-first
     * stream's), nor less by more than the side bytes' share (aom_factor()).  Free to go
     * down, it took libaom's own swings (the video workload's windows -9.1 % where they were
     * -8.3 %); the side bytes' rate taken off regardless made 04-3dui's first window -13.5 %,
     * where libaom starts low. */
    if (uses_timestamps(ve)) {
        int64_t ticks = cadence_interval(ve) * VD_MAX(ve->params.fps, 1) * AOM_TICKS;
        ticks = ticks * aom_factor(ve, ve->loop.factor) / LOOP_ONE;
        ve->pts += (ticks + 500000) / 1000000 - 1;
    }
    ve->own_failure = 0;
    ret = encode_frame(ve, pic, force_key, out, pkts, n_pkts);
    if (ret < 0 && ve->backend != VD_VIDEO_BACKEND_SOFTWARE && !ve->own_failure) {
        /* Hardware failed mid-stream: the same frame goes out from software, as a key frame. */
        hardware_failed(ve, ve->backend, ret);
        out->size = start;
        encoder_close(ve);
        if ((ret = encoder_open(ve, VD_VIDEO_BACKEND_SOFTWARE)) < 0)
            return ret;
        ret = encode_frame(ve, pic, 1, out, pkts, n_pkts);
    }
    /* As they come, not as the loop's pool gives them out (it holds them while it settles);
     * over SIDE_RATE_US of pictures: patches come in bursts (a subtitle's line, lines moved
     * every 20 pictures), and a shorter average had decayed by the next one. */
    int64_t span = VD_MIN(VD_MAX(d, 1), SIDE_RATE_US);
    ve->side_rate += ((int64_t)ve->side_new * 8 * 1000000 - ve->side_rate * span) / SIDE_RATE_US;
    ve->side_new = 0;
    if (ret == 0 && loop_runs(ve)) {
        int key = force_key;
        for (int i = 0; i < *n_pkts; i++)
            key |= pkts[i].key;
        loop_account(ve, pts_us, d, key, out->size - start);
    } else if (ret == 0) {
        ve->side_bytes = 0; /* (no loop) */
    }
    return ret;
}

int vd_video_encode(vd_video_encoder *ve, const uint8_t *src, size_t stride,
                    enum vd_pixel_format format, int64_t pts_us, int force_key, vd_buf *out,
                    vd_video_packet *pkts, int *n_pkts)
{
    if (av_format(format) == AV_PIX_FMT_NONE)
        return VD_ERR(EINVAL);
    picture pic = {.rgb = src, .stride = stride, .format = format};
    return encode_picture(ve, &pic, pts_us, force_key, out, pkts, n_pkts);
}

int vd_video_encode_yuv(vd_video_encoder *ve, vd_yuv_layout layout, const uint8_t *const planes[3],
                        const int strides[3], int64_t pts_us, int force_key, vd_buf *out,
                        vd_video_packet *pkts, int *n_pkts)
{
    if (layout != VD_YUV420P && layout != VD_YUV_NV12)
        return VD_ERR(EINVAL);
    picture pic = {.layout = layout,
                   .planes = {planes[0], planes[1], layout == VD_YUV420P ? planes[2] : NULL},
                   .strides = {strides[0], strides[1], layout == VD_YUV420P ? strides[2] : 0}};
    return encode_picture(ve, &pic, pts_us, force_key, out, pkts, n_pkts);
}

/* ---- decoder ---- */

struct vd_video_decoder {
    enum vd_video_codec codec;
    AVCodecContext *ctx;
    AVFrame *frame;
    AVFrame *sw_frame; /* a device's picture read back into memory */
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height;
    const struct hw_decode *hw; /* ctx decodes through this device: a failure may be its */
    int packets; /* given to ctx (for the test hook) */
};

/* Hardware decoding, in the order VD_VIDEO_BACKEND_AUTO tries it: VAAPI (Intel, AMD; NVIDIA
 * only with a DRM node and nvidia-vaapi-driver), then NVIDIA's NVDEC through CUDA, which
 * needs neither (libavutil loads libcuda at run time: nothing to build against). */
#if VD_HAVE_VAAPI
#define VAAPI_BUILT 1
#else
#define VAAPI_BUILT 0
#endif
static const struct hw_decode {
    const char *name;
    enum AVHWDeviceType type;
    enum AVPixelFormat format; /* of the decoder's pictures on the device */
    enum vd_video_backend backend;
    int built;
} hw_decodes[] = {
    {"VAAPI", AV_HWDEVICE_TYPE_VAAPI, AV_PIX_FMT_VAAPI, VD_VIDEO_BACKEND_VAAPI, VAAPI_BUILT},
    {"NVDEC", AV_HWDEVICE_TYPE_CUDA, AV_PIX_FMT_CUDA, VD_VIDEO_BACKEND_NVDEC, 1},
};
#define HW_DECODES (sizeof(hw_decodes) / sizeof(hw_decodes[0]))

/* Per process, device kind and codec, under probe_lock: 0 = untried, 1 = it decodes, -1 = it
 * failed its probe or a stream (logged once).  Each device is opened once and shared:
 * opening one per stream (a DRM node and vaInitialize, a CUDA context) would stall each new
 * stream. */
static int decode_probe_state[HW_DECODES][3];
static AVBufferRef *hw_devices[HW_DECODES];

/* Test hook (vd_video_test_fake_vaapi_decoder()): 0 = off, else software decoders stand for
 * VAAPI ones and the fail_at-th packet of each fails as the device would (EIO; -fail_at:
 * as rejected data, which is how libavcodec's h264 reports most VAAPI failures). */
static atomic_int fake_vaapi_fail_at;

void vd_video_test_fake_vaapi_decoder(int fail_at) { atomic_store(&fake_vaapi_fail_at, fail_at); }

/* libavcodec's h264; for AV1 libdav1d, else libavcodec's own (which in 5.1 decodes only
 * through a hardware accelerator: without libdav1d AV1 streams then fail to decode). */
static const AVCodec *software_decoder(enum vd_video_codec codec)
{
    if (codec == VD_VIDEO_H264)
        return avcodec_find_decoder(AV_CODEC_ID_H264);
    const AVCodec *c = avcodec_find_decoder_by_name("libdav1d");
    return c ? c : avcodec_find_decoder(AV_CODEC_ID_AV1);
}

/* The libavcodec decoder that takes hw's pictures for codec, or NULL (libdav1d has no
 * hardware path; libavcodec's own av1 does). */
static const AVCodec *hw_decoder(enum vd_video_codec codec, const struct hw_decode *hw)
{
    const AVCodec *c = codec == VD_VIDEO_H264 ? avcodec_find_decoder(AV_CODEC_ID_H264)
                                              : avcodec_find_decoder_by_name("av1");
    const AVCodecHWConfig *hc;
    for (int i = 0; c && (hc = avcodec_get_hw_config(c, i)); i++)
        if (hc->device_type == hw->type && (hc->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
            return c;
    return NULL;
}

/* The device's pictures where the decoder offers them (the driver takes the stream's profile
 * and size), else its software format: h264 then decodes on the CPU, libavcodec 5.1's own
 * av1 fails (ENOSYS), which vd_video_decode() hands to software (device_ran() says when
 * the device is blamed). */
static enum AVPixelFormat pick_hw_format(AVCodecContext *ctx, const enum AVPixelFormat *fmts)
{
    const struct hw_decode *hw = ctx->opaque;
    for (const enum AVPixelFormat *p = fmts; *p != AV_PIX_FMT_NONE; p++)
        if (*p == hw->format)
            return *p;
    return avcodec_default_get_format(ctx, fmts);
}

/* Opens vd->ctx: through hw on device (the reference passes to it, and is released on
 * failure too), or in software (hw NULL).  hw without a device: the test hook's stand-in. */
static int decoder_open(vd_video_decoder *vd, const struct hw_decode *hw, AVBufferRef *device)
{
    const AVCodec *c = device ? hw_decoder(vd->codec, hw) : software_decoder(vd->codec);
    if (!c || !(vd->ctx = avcodec_alloc_context3(c))) {
        av_buffer_unref(&device);
        return c ? VD_ERR(ENOMEM) : VD_ERR(ENOTSUP);
    }
    AVCodecContext *ctx = vd->ctx;
    /* One frame in, one frame out: frame threads would add a frame of delay each.  Damage
     * must surface as an error (and a key request), not as a concealed picture. */
    ctx->thread_count = 1;
    ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
    ctx->err_recognition |= AV_EF_EXPLODE;
    /* Allocations follow the stream's announced size: hold it near the rectangle's (the
     * decoders count their padded, aligned picture). */
    ctx->max_pixels = (int64_t)(vd->width + 128) * (vd->height + 128);
    if (device) {
        ctx->hw_device_ctx = device;
        ctx->opaque = (void *)hw;
        ctx->get_format = pick_hw_format;
    }
    int ret = avcodec_open2(ctx, c, NULL);
    if (ret < 0) {
        avcodec_free_context(&vd->ctx);
        return ret == AVERROR(ENOMEM) ? VD_ERR(ENOMEM) : VD_ERR(EIO);
    }
    vd->hw = hw;
    vd->packets = 0;
    return 0;
}

/* The frames and packet a decoder decodes with: 0 or VD_ERR(ENOMEM) (then some may be set). */
static int decoder_buffers(vd_video_decoder *vd)
{
    vd->frame = av_frame_alloc();
    vd->sw_frame = av_frame_alloc();
    vd->pkt = av_packet_alloc();
    return vd->frame && vd->sw_frame && vd->pkt ? 0 : VD_ERR(ENOMEM);
}

/* Frees what a decoder holds, not the decoder itself. */
static void decoder_release(vd_video_decoder *vd)
{
    avcodec_free_context(&vd->ctx);
    av_frame_free(&vd->frame);
    av_frame_free(&vd->sw_frame);
    av_packet_free(&vd->pkt);
    sws_freeContext(vd->sws);
    vd->sws = NULL;
}

/* A decoding error as decode_packet() returns it: EIO on a device for anything but rejected
 * data (memory too: the device's may have run out), else ENOMEM or EBADMSG. */
static int decode_err(const vd_video_decoder *vd, int averr)
{
    if (vd->hw && averr != AVERROR_INVALIDDATA && averr != AVERROR(EAGAIN))
        return VD_ERR(EIO);
    return averr == AVERROR(ENOMEM) ? VD_ERR(ENOMEM) : VD_ERR(EBADMSG);
}

/* Decodes one coded picture into *out (a frame in memory: read back from a hardware
 * decoder's device); the caller unrefs vd->frame and vd->sw_frame after. */
static int decode_packet(vd_video_decoder *vd, const uint8_t *data, size_t size, AVFrame **out)
{
    int ret;
    if (!vd->ctx && (ret = decoder_open(vd, NULL, NULL)) < 0) /* a fallback that failed to open */
        return ret == VD_ERR(ENOMEM) ? ret : VD_ERR(EIO);
    if (size > INT32_MAX / 2)
        return VD_ERR(EBADMSG);
    int fail_at = atomic_load(&fake_vaapi_fail_at);
    if (vd->hw && fail_at && ++vd->packets == abs(fail_at))
        return fail_at > 0 ? VD_ERR(EIO) : VD_ERR(EBADMSG);
    /* libavcodec reads past the end of the input: give it a padded copy. */
    if (av_new_packet(vd->pkt, (int)size) < 0)
        return VD_ERR(ENOMEM);
    memcpy(vd->pkt->data, data, size);
    ret = avcodec_send_packet(vd->ctx, vd->pkt);
    av_packet_unref(vd->pkt);
    if (ret < 0)
        return decode_err(vd, ret);
    if ((ret = avcodec_receive_frame(vd->ctx, vd->frame)) < 0)
        return decode_err(vd, ret);
    AVFrame *f = vd->frame;
    if (f->width != vd->width || f->height != vd->height || f->decode_error_flags ||
        (f->flags & AV_FRAME_FLAG_CORRUPT))
        return VD_ERR(EBADMSG); /* a stream may not change its size */
    if (vd->hw && f->format == vd->hw->format) {
        if (av_hwframe_transfer_data(vd->sw_frame, f, 0) < 0)
            return VD_ERR(EIO);
        f = vd->sw_frame;
    }
    *out = f;
    return 0;
}

/* Under probe_lock: frees kind's shared device when no codec decodes through it (a CUDA
 * context holds hundreds of MB of the GPU's memory); a later probe opens it again. */
static void drop_unused_device(size_t kind)
{
    if (decode_probe_state[kind][VD_VIDEO_H264] <= 0 && decode_probe_state[kind][VD_VIDEO_AV1] <= 0)
        av_buffer_unref(&hw_devices[kind]);
}

/* A new reference to hw's shared device if it decodes codec, else NULL: the first time, a
 * real decode of a software encoder's key frame through it, into memory (a device can open
 * and still fail on the first picture, or leave a profile it lacks to software). */
static AVBufferRef *hw_decode_device(enum vd_video_codec codec, const struct hw_decode *hw)
{
    size_t kind = (size_t)(hw - hw_decodes);
    pthread_mutex_lock(&probe_lock);
    int state = decode_probe_state[kind][codec];
    if (!state) {
        /* At the encoders' probe size: NVDEC refuses pictures under its minimum size. */
        vd_video_decoder probe = {.codec = codec, .width = PROBE_SIZE, .height = PROBE_SIZE};
        vd_video_encoder coder = {
            .params = {codec, PROBE_SIZE, PROBE_SIZE, 30, 1000000, VD_VIDEO_BACKEND_SOFTWARE}};
        uint8_t *pixels = calloc(PROBE_SIZE * PROBE_SIZE, 4);
        picture pic = {.rgb = pixels, .stride = PROBE_SIZE * 4, .format = VD_FORMAT_BGRX8888};
        vd_buf coded = {0};
        vd_video_packet pkts[VD_VIDEO_MAX_PACKETS];
        /* The probe's own memory first: its want is tried again later, not the device's. */
        int n_pkts = 0, ret = !pixels ? VD_ERR(ENOMEM) : decoder_buffers(&probe);
        int host_short = ret < 0;
        AVFrame *f;
        if (ret == 0 && !hw_decoder(codec, hw))
            ret = VD_ERR(ENOTSUP);
        int averr = ret || hw_devices[kind] ? 0
                  : av_hwdevice_ctx_create(&hw_devices[kind], hw->type, NULL, NULL, 0);
        if (averr < 0)
            ret = av_err(averr);
        if (ret == 0) {
            AVBufferRef *ref = av_buffer_ref(hw_devices[kind]);
            host_short = !ref;
            ret = ref ? decoder_open(&probe, hw, ref) : VD_ERR(ENOMEM);
        }
        /* Without a picture from the software encoder (none for the codec, or SVT-AV1, which
         * holds its first), the device and decoder that opened must do. */
        if (ret == 0 && encoder_open(&coder, VD_VIDEO_BACKEND_SOFTWARE) == 0 &&
            encode_frame(&coder, &pic, 1, &coded, pkts, &n_pkts) == 0 && n_pkts > 0) {
            ret = decode_packet(&probe, coded.data + pkts[0].offset, pkts[0].size, &f);
            host_short = ret == VD_ERR(ENOMEM); /* the packet's copy: a device's is EIO */
            if (ret == 0 && probe.frame->format != hw->format)
                ret = VD_ERR(ENOTSUP); /* the driver left the profile to software */
        }
        encoder_close(&coder);
        vd_buf_free(&coded);
        free(pixels);
        decoder_release(&probe);
        /* As for encoders, only the probe's own want of memory is tried again later: a device
         * short of it would be probed again by every new stream. */
        state = ret == 0 ? 1 : host_short ? 0 : -1;
        decode_probe_state[kind][codec] = state;
        if (state < 0)
            vd_log(VD_LOG_WARNING, "%s %s decoder unavailable (%s); decoding in software",
                   hw->name, codec_name(codec), vd_strerror(ret));
        else if (state > 0)
            vd_log(VD_LOG_INFO, "%s %s decoder works (a test picture decoded on the device)",
                   hw->name, codec_name(codec));
        if (state <= 0)
            drop_unused_device(kind);
    }
    AVBufferRef *device = state > 0 ? av_buffer_ref(hw_devices[kind]) : NULL;
    pthread_mutex_unlock(&probe_lock);
    return device;
}

void vd_video_decoder_free(vd_video_decoder **pvd)
{
    if (!pvd || !*pvd)
        return;
    decoder_release(*pvd);
    free(*pvd);
    *pvd = NULL;
}

int vd_video_decoder_new(enum vd_video_codec codec, int width, int height,
                         enum vd_video_backend backend, vd_video_decoder **out)
{
    *out = NULL;
    if (codec != VD_VIDEO_H264 && codec != VD_VIDEO_AV1)
        return VD_ERR(ENOTSUP);
    vd_video_decoder *vd = calloc(1, sizeof(*vd));
    if (!vd)
        return VD_ERR(ENOMEM);
    vd->codec = codec;
    vd->width = width;
    vd->height = height;
    if (decoder_buffers(vd) < 0) {
        vd_video_decoder_free(&vd);
        return VD_ERR(ENOMEM);
    }
    enum vd_video_backend want = forced_backend(backend);
    int ret = VD_ERR(ENOTSUP);
    if (atomic_load(&fake_vaapi_fail_at) &&
        (want == VD_VIDEO_BACKEND_AUTO || want == VD_VIDEO_BACKEND_VAAPI))
        ret = decoder_open(vd, &hw_decodes[0], NULL);
    /* As for encoders, a forced device that fails still falls back. */
    for (size_t i = 0; ret < 0 && i < HW_DECODES; i++) {
        const struct hw_decode *hw = &hw_decodes[i];
        AVBufferRef *device;
        if (want != VD_VIDEO_BACKEND_AUTO && want != hw->backend)
            continue;
        if (!hw->built && want == hw->backend)
            vd_log(VD_LOG_WARNING, "%s requested but not built in; decoding in software", hw->name);
        else if (hw->built && (device = hw_decode_device(codec, hw)))
            ret = decoder_open(vd, hw, device);
    }
    if (ret < 0)
        ret = decoder_open(vd, NULL, NULL);
    if (ret < 0) {
        vd_video_decoder_free(&vd);
        return ret;
    }
    *out = vd;
    return 0;
}

/* Whether a stream's failure on its device counts against the device: when the device ran
 * the stream, or did not take a stream at least the size its probe decoded; not for a smaller
 * one that libavcodec took in software (under NVDEC's minimum size, say).  The test hook's
 * stand-in, which has no device, counts. */
static int device_ran(const vd_video_decoder *vd)
{
    return !vd->ctx || vd->ctx->hwaccel || !vd->ctx->hw_device_ctx ||
           (vd->width >= PROBE_SIZE && vd->height >= PROBE_SIZE);
}

/* Stops new streams using a device that failed (logged once per process). */
static void blame_device(const struct hw_decode *hw, enum vd_video_codec codec)
{
    size_t kind = (size_t)(hw - hw_decodes);
    if (mark_failed(&decode_probe_state[kind][codec])) {
        vd_log(VD_LOG_WARNING, "%s %s decoder failed; its streams continue in software",
               hw->name, codec_name(codec));
        pthread_mutex_lock(&probe_lock);
        drop_unused_device(kind);
        pthread_mutex_unlock(&probe_lock);
    }
}

/* Hands the stream to software (a failure to open is tried again with the next picture). */
static void fall_back_to_software(vd_video_decoder *vd)
{
    av_frame_unref(vd->frame);
    av_frame_unref(vd->sw_frame);
    avcodec_free_context(&vd->ctx);
    vd->hw = NULL;
}

int vd_video_decode(vd_video_decoder *vd, const uint8_t *data, size_t size, int key,
                    uint8_t *dst, size_t stride, enum vd_pixel_format format)
{
    AVFrame *f = NULL;
    int ret = decode_packet(vd, data, size, &f);
    /* On a device, a failure that is not the data's, or any on a key frame (libavcodec's h264
     * reports most of the device's failures as rejected data): the stream goes on in
     * software, from this picture if it is a key frame, else from the key frame the caller
     * asks for.  The device is blamed for a key frame only if software decodes it (else the
     * data was bad: one bad picture from a host must not cost every stream its hardware). */
    if (vd->hw && (ret == VD_ERR(EIO) || (ret < 0 && key))) {
        const struct hw_decode *hw = vd->hw;
        int ran = device_ran(vd);
        fall_back_to_software(vd);
        ret = key ? decode_packet(vd, data, size, &f) : VD_ERR(EBADMSG);
        if (ran && (!key || ret == 0))
            blame_device(hw, vd->codec);
    }
    if (ret == 0) {
        vd->sws = sws_getCachedContext(vd->sws, f->width, f->height, f->format, vd->width,
                                       vd->height, av_format(format), SWS_POINT, NULL, NULL, NULL);
        if (vd->sws) {
            uint8_t *planes[1] = {dst};
            const int strides[1] = {(int)stride};
            sws_scale(vd->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes,
                      strides);
        } else {
            ret = VD_ERR(ENOMEM);
        }
    }
    av_frame_unref(vd->frame);
    av_frame_unref(vd->sw_frame);
    return ret;
}
