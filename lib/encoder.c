/* The encoder: surfaces, damage, tile coding and packetisation.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include <lz4.h>

#include <vd/encoder.h>

#include "../codec/tile_codec.h"
#include "../codec/video.h"
#include "buf.h"
#include "classify.h"
#include "classify_params.h"
#include "clock.h"
#include "damage.h"
#include "dmabuf.h"
#include "gpu.h"
#include "log.h"
#include "motion.h"
#include "wire.h"

#define MAX_SURFACES VD_MAX_SURFACES
#define MAX_DAMAGE_RECTS 65536
#define MIN_PACKET_SIZE 4096
#define MAX_STREAMS 16       /* per surface */
#define MAX_ENCODER_STREAMS 64 /* in all: what a decoder accepts */
/* Build-to-lossless tiles per frame: a spread-out burst, nearest the cursor first. */
#define REFRESH_TILES_PER_FRAME 256
/* Build-to-lossless holds back from tiles that a stream showed again within REFRESH_CHURN_US
 * of their refresh (still or dark patches of a playing video come and go: each refresh was
 * lossless bytes thrown away): while a stream whose region overlaps them still shows blocks
 * they must be still for REFRESH_CHURN_WAIT_US, not VD_LOSSLESS_AFTER_MS, less the frame
 * interval, so that the frame that refreshes them comes within REFRESH_BOUND_US of their
 * last change (the time-to-lossless bound).  A refresh that lasts REFRESH_CHURN_US, or any
 * exact send of the tile, clears that; once no stream over it has shown blocks for
 * VD_LOSSLESS_AFTER_MS, or none covers it, the usual wait. */
#define REFRESH_CHURN_US 1000000
#define REFRESH_CHURN_WAIT_US 250000
#define REFRESH_BOUND_US 300000
/* A lossy pixel of a block that a stream shows is patched exactly once it has not changed
 * for PATCH_AGE of its pictures (see keep_update()), or for TEXT_PATCH_AGE when the block's
 * lossy pixels that stood still that long look like text (text_like() with an edge): an
 * outlined subtitle, a game's HUD text or a window's border is exact 2 pictures after it came,
 * not 30 (4 at first: vdbench -q --repeatable subtitles had 6.3 % of its still subtitle
 * pixel-frames lossy, 3.2 % at 2, for 0.01 % more bytes; 3d 0.24 %, mixed 0.13 %).
 * vdbench -q --repeatable, bytes a frame, when the rule came (a still edge only):
 * subtitles +0.03 %, 3d +0.6 %, mixed +0.3 %, the corpus' 03-video +1.3 % (the player's
 * border) and 04-3dui +0.5 % (the HUD), video unchanged; with an edge to any pixel, 3d +2.6 %,
 * and without one, +16 % (flat still parts of a rendered scene).  Thin strokes on the moving
 * picture came later (TEXT_STROKE_MIN).  Early patches wait while what a stream sends beside
 * its pictures runs at EARLY_PATCH_MAX_SIDE_PCT of its target or more, and EARLY_PATCH_WAIT_US
 * of frame time after: thin lines that move every 15-29 pictures (past the back-off's 400 ms)
 * are patched anew each time (without the wait, video_test's 1200 lines moved every 20
 * pictures were patched early again in every other set of them, 12500 pixels each; waiting
 * instead until the side bytes fell under half of the cap never ended where masks alone took
 * 16-18 % of the target).  A review's
 * harness (1200 white lines over dark video, moved every 20 pictures) ran its stream 17.5 %
 * over its target without the cap, 6.9 % with it, 4.8 % with no early patch for strokes;
 * with 300 lines the side bytes stay at 12-15 % of the target, under the cap, and it runs
 * 9.0 % over (3.7 %). */
#define PATCH_AGE 30
#define TEXT_PATCH_AGE 2
#define EARLY_PATCH_MAX_SIDE_PCT 20
#define EARLY_PATCH_WAIT_US 2000000
/* A block whose early patch was given back within TEXT_HOLD_US of frame time (it did not
 * hold: pixel art, a cel animation that changes every few pictures) patches nothing early for
 * TEXT_BACKOFF_US: each was raw pixels anew (up to twice the stream's bytes on text-like
 * content that changes every 5 pictures).  The 30-picture rule stays.  Frame time, not the
 * block's pictures: a patched block that stands still is not visited, and a subtitle line's
 * change after seconds read as one that did not hold.  Shorter than any subtitle line. */
#define TEXT_HOLD_US 400000
#define TEXT_BACKOFF_US 8000000
/* Text-like pixels have at most TEXT_MAX_COLOURS colours (an unchanged block whose still
 * lossy pixels are patched, keep_still(), too) and, where an edge is asked for, one of them
 * differs from a pixel beside it that stood still too by TEXT_EDGE or more in a channel: a
 * glyph on its outline or background, not a flat or shaded still part of a scene.  Or half
 * of them, TEXT_STROKE_MIN at least, differ so from a pixel beside them that moved: thin
 * one-colour glyphs on the moving picture, where a still part of a scene is wider than its
 * edge. */
#define TEXT_MAX_COLOURS 8
#define TEXT_EDGE 128
#define TEXT_STROKE_MIN 8
/* A tile whose pixels changed less than DELTA_MAX_CHANGED_PCT percent and whose content is
 * natural (at least DELTA_MIN_SMOOTH_PCT percent of its neighbour pairs differ by a little:
 * photos, gradients) goes as its difference to what the client shows.  Over the drag
 * workload's tiles, differences took 10 % of the bytes of the tiles themselves under 10 %
 * changed and 85 % at 30-40 %, and lost from 40 %.  Text and UI are cheap to send whole and
 * repeat what the history holds, which their differences do not: there they lost (the editor
 * recording took twice the bytes). */
#define DELTA_MAX_CHANGED_PCT 40
#define DELTA_MIN_SMOOTH_PCT 20
/* Flow control: send times of the last frames, by frame number. */
#define FLOW_RING 256
/* A minimum delay sample counts this long (the path may change). */
#define FLOW_MIN_DELAY_NS 10000000000ull
#define DEFAULT_MAX_QUEUED ((uint64_t)1 << 20)
/* With the link's rate known, what the transport may hold is time on the wire: on a 3 Mbit/s
 * link 1 MiB is 2.8 s, and every frame after it waits that long (bench/shaped-link.sh at
 * 3 Mbit/s: frames sent to acknowledged p95 4.6 s, 2.8 s with a quarter second).  At most
 * LINK_QUEUE_MAX: a session refuses to queue more than 64 MiB by default. */
#define LINK_QUEUE_MS 250
#define LINK_QUEUE_MAX ((uint64_t)16 << 20)
/* Video rates follow the link: every RATE_PERIOD frames, a quarter less when a frame was held
 * back, a quarter more after RATE_CALM_PERIODS periods without (from an eighth back to all in
 * about five seconds at 30 fps); between 1/8 and all of video_bitrate (in 1/1024). */
#define RATE_PERIOD 15
#define RATE_CALM_PERIODS 2
#define RATE_ONE 1024
#define RATE_MIN (RATE_ONE / 8)
/* The streams' part of vd_encoder_config.link_bitrate, in percent: lossless tiles come in
 * bursts (a window opening, a page scrolled) that no stream's rate can foresee. */
#define LINK_VIDEO_PCT 75
/* Lossless tiles that keep coming (a terminal scrolling beside a video) leave the streams
 * LINK_FILL_PCT of the link less their rate, but at least LINK_VIDEO_MIN_PCT: the link fills
 * up before the flow control sees a queue and holds frames back (a stutter).  Their rate, per
 * surface, is the least of its last LOSSLESS_WINDOWS windows of LOSSLESS_WINDOW_US of frame
 * time (frame_time()), so a burst (a window opening; one across two windows) leaves the
 * streams alone; frames that send a whole surface (its first, a refresh, a resume) are not
 * counted, and a window that a pause stretched past LOSSLESS_WINDOW_MAX_US is dropped. */
#define LINK_FILL_PCT 90
#define LINK_VIDEO_MIN_PCT 25
#define LOSSLESS_WINDOW_US 500000
#define LOSSLESS_WINDOW_MAX_US 2000000
#define LOSSLESS_WINDOWS 3
#define LINK_SHARE_ONE 65536

/* Lossy first: a frame that (re)creates a surface sends all of it, and a picture on it (a
 * photo, a video's or a game's first frame) costs 6 to 16 bits a pixel exactly.  vdbench's
 * mixed workload's first frame was 1.46 MB, 2.3 s of a 5 Mbit/s link, most of it the video
 * and 3D areas that become streams in the very next frame.  Tiles that would cost
 * PREVIEW_MIN_BPP or more (of the corpus' office and editor recordings' first frames, 3 and 1
 * of 510 tiles, coded alone) go instead through a stream of one picture, a preview, when they
 * add up to PREVIEW_MIN_LINK_MS of the link's rate (link_bitrate; not while none is known:
 * the trade of a lossy moment for link time is then blind, and exact first frames stay what a
 * host gets).  It ends in the next frame, as no region has its id (sync_streams()), and
 * build-to-lossless sends what stands still exactly (VD_LOSSLESS_AFTER_MS). */
#define PREVIEW_MIN_BPP 6
#define PREVIEW_MIN_LINK_MS 100
/* Text stays exact: a tile goes in a preview only if each of its 16 x 16 blocks has
 * PREVIEW_BLOCK_COLOURS colours or more (a photo's, a video's), and it has no straight line
 * of PREVIEW_LINE pixels of one colour, at any place in a row or column.  A title bar, a
 * border or a line of text beside the picture keeps the tile exact: a stream that later plays
 * over the picture shows only the blocks that change, and left such pixels lossy for 30 of
 * its pictures (vdbench mixed: 20700 text pixels a frame around the player, at 5 Mbit/s).
 * The line catches a window's edge where the picture's last columns and a grainy wallpaper
 * give the blocks enough colours (mixed: the player's border and 12 columns of wallpaper,
 * lossy for two frames), a short one too (a window's corner); a flat run in the picture (a
 * letterbox) costs the tile's exact bytes only. */
#define PREVIEW_BLOCK_COLOURS 64
#define PREVIEW_LINE 16

/* A video or 3D region's stream (its id is the region's), or a preview (see PREVIEW_MIN_BPP:
 * one picture, its id a new one, no region; region is its picture). */
typedef struct enc_stream {
    uint32_t id;
    vd_rect rect;   /* the coded picture: every rectangle the region had in this stream's life */
    vd_rect region; /* the region's rectangle now (inside rect): which tiles go through it */
    uint8_t content;
    uint8_t preview;
    vd_video_encoder *video;
    int64_t bitrate; /* its target now */
    int64_t shown_t;  /* the last frame time a picture of it came out (shown set) */
    int shown;
    int rate_pending; /* a link change its encoder could not take yet (EAGAIN) */
    int need_key;
    /* 16 per block of rect: the pixels the client keeps from before instead of showing them
     * from this stream's pictures (docs/protocol.md section 6.8, KEEP): exact, and unchanged
     * since the client was told. */
    uint16_t *keep;
    uint8_t *age; /* 256 per block of rect: the pictures since each pixel last changed, to 255 */
    /* Per block: the frame time and pixels of its last early patch (TEXT_PATCH_AGE; no
     * pixels: none), and until when it patches nothing early (TEXT_HOLD_US). */
    struct text_hold {
        int64_t patched_t, backoff_until;
        uint16_t early[16];
    } *text_hold;
    /* A key frame went out without VD_STREAM_FRAME_KEEP_RESET (a re-opened encoder's first):
     * a client that waited for one took it with kept pixels that missed what it skipped. */
    int keep_reset_due;
    int64_t early_wait_until; /* frame time: no early patches before (EARLY_PATCH_MAX_SIDE_PCT) */
} enc_stream;

typedef struct enc_surface {
    uint32_t id;
    enum vd_pixel_format format;
    vd_tile_grid grid;
    uint8_t *prev;      /* what the client shows: packed rows of width * bpp bytes */
    uint8_t *state;     /* per-tile scan state */
    int refresh;        /* send every tile with the next frame */
    int prev_valid;     /* prev holds the last frame (not a fresh allocation) */
    vd_classifier *classifier;
    vd_tile_stats *tile_stats;
    int64_t last_pts, last_t; /* frame times, see frame_time() */
    uint64_t last_clock_ns;
    /* Bytes sent outside the streams since the window began at frame time start_t (INT64_MIN:
     * no frame yet), and the rates of the last whole windows, bit/s (see LINK_FILL_PCT). */
    struct lossless_meter {
        int64_t start_t;
        uint64_t bytes;
        uint64_t rate[LOSSLESS_WINDOWS];
    } lossless;
    vd_rect last_cursor;
    enc_stream streams[MAX_STREAMS];
    unsigned n_streams;
    uint8_t *lossy;         /* per tile: the client shows lossy pixels */
    /* Per pixel row and 16 columns (bit c: column 16 * k + c): the client shows the pixel lossy.
     * Streams leave exact pixels next to what changed alone (see block_part_find()).  A second
     * plane of the same layout (patched_word()) holds the exact pixels that are exact through
     * a stream's patch alone, which a client waiting for a key frame skips: since then no TILE
     * or COPY sent them. */
    uint16_t *lossy_px;
    /* Tiles last sent before this frame may not be on the client: it dropped frames after
     * an error until the refresh it asked for (vd_encoder_request_refresh()). */
    uint64_t sure_from;
    int64_t *last_damage;   /* per tile: frame time of its last change */
    int64_t interval_us;    /* frame time since the frame before */
    struct tile_refresh {   /* per tile: its last build-to-lossless refresh (see above) */
        int64_t t;
        uint8_t since, churn; /* since: no stream has shown it since t */
    } *refreshed;
    uint32_t *candidates;   /* build-to-lossless candidates (scratch) */
    vd_tile_copy *copies;   /* per tile: what copies give it this frame (band: rows still to send) */
    uint8_t *held;          /* per tile: damaged in frames held back (flow control) */
    /* Per tile: shown lossy by the preview of the surface's last frame sent, when has_previewed
     * (see stream_open()); cleared once the next frame's streams are open. */
    uint8_t *previewed;
    int has_previewed;
    int has_held;
    uint64_t *tile_seq;     /* per tile: the last frame that changed it on the client */
    uint64_t geometry_seq;  /* the last frame that created or resized it on the client */
    enum vd_content content; /* the last frame's surface_content */
    vd_gpu_surface *gpu;     /* its images on the GPU, made at its first GPU scan */
    int gpu_unfit;           /* too large for the device: scanned on the CPU */
    int64_t stream_retry_t;  /* frame time before which no stream is opened (see below) */
} enc_surface;

/* What vd_encoder_send_feedback() has learnt. */
typedef struct flow_state {
    uint64_t sent_ns[FLOW_RING], sent_seq[FLOW_RING];
    uint64_t acked_seq;
    int acks;                         /* ACKs arrive: the frame window applies */
    uint64_t min_delay_ns, min_delay_at; /* smallest send-to-ACK delay or RTT, and when */
    uint64_t interval_ns, last_call_ns;  /* between send_frame calls (EWMA) */
    uint64_t queued_bytes;
    int has_queued;
    uint32_t rate_scale;                 /* of video_bitrate, in 1/RATE_ONE */
    uint32_t link_bitrate;               /* vd_encoder_config.link_bitrate, or feedback's */
    uint32_t link_share;                 /* of each region's rate, in 1/LINK_SHARE_ONE */
    uint32_t calls, calm_periods;
    int held_in_period;
} flow_state;

typedef struct pending_packet {
    size_t offset, size;
    uint32_t flags, surface_id;
    uint64_t frame_seq;
    int64_t pts_us;
} pending_packet;

struct vd_encoder {
    vd_encoder_config cfg;
    vd_damage_dsp dsp;
    vd_gpu *gpu;            /* NULL: damage detection on the CPU */
    struct {
        const uint8_t *data;
        size_t size;
    } buffers[VD_MAX_BUFFERS]; /* vd_encoder_register_buffer()'s, whether or not a GPU is used */
    unsigned n_buffers;
    /* The streams' pictures as the GPU converts them, all in one buffer registered with it
     * (vd_gpu_register()) so that it writes them there: page-aligned, grown, never shrunk. */
    uint8_t *planes;
    size_t planes_size;
    vd_tile_stats_fn tile_stats;
    vd_tile_encoder *tiles;
    vd_tile_encoder *probe_tiles; /* what tiles would cost (open_preview()), made when needed */
    vd_buf probe_out;
    vd_tile_cache *cache;   /* NULL: no client cache */
    /* The client's tile history and cache must start afresh (first frame, refresh, error). */
    int codec_reset_pending;
    enc_surface *surfaces[MAX_SURFACES];
    unsigned n_surfaces;

    vd_buf out;             /* wire bytes of the packets not yet received */
    pending_packet *packets;
    size_t n_packets, packets_cap, next_packet;
    size_t packet_start;    /* offset where the packet being built starts */

    uint64_t frame_seq;
    uint32_t next_region_id;
    int hello_sent, draining;
    vd_buf video_out;        /* one coded video frame */
    flow_state flow;
    /* Per block of the stream frame being picked, a block_part for set blocks (see
     * pick_blocks()); and the frame's picked streams' masks for the wire. */
    vd_buf block_parts;
    vd_buf stream_masks;
    vd_buf packed_side;      /* a stream frame's masks, packed (scratch) */
    vd_buf keep_undo;        /* keep_undo entries of this frame's stream picks */
    vd_buf delta;            /* a delta run's differences */
    vd_encoder_stats stats;
    vd_encoder_yuv_stats yuv;
};

void vd_encoder_config_default(vd_encoder_config *cfg)
{
    *cfg = (vd_encoder_config){
        .max_packet_size = 256 * 1024,
        .max_surfaces = MAX_SURFACES,
        .cpu_flags = ~0u,
        .video_codecs = VD_CODEC_H264,
        .video_bitrate = 4000000,
        .video_backend = VD_BACKEND_AUTO,
        .cache_size = VD_TILE_CACHE_DEFAULT_BYTES,
    };
    vd_classifier_config_default(&cfg->classifier);
}

#if VD_ENABLE_ENCODER

int vd_encoder_new(const vd_encoder_config *cfg, vd_encoder **out)
{
    *out = NULL;
    vd_encoder_config defaults;
    vd_encoder_config_default(&defaults);
    if (!cfg)
        cfg = &defaults;
    if (cfg->max_packet_size < MIN_PACKET_SIZE || cfg->max_surfaces < 1 ||
        cfg->max_surfaces > MAX_SURFACES || vd_classifier_config_check(&cfg->classifier) < 0 ||
        cfg->video_codecs & ~(uint32_t)(VD_CODEC_H264 | VD_CODEC_AV1) ||
        (cfg->video_codecs && cfg->video_bitrate < 10000) || (unsigned)cfg->video_backend > VD_BACKEND_NVENC ||
        cfg->cache_size / VD_TILE_SLOT_BYTES > VD_TILE_CACHE_MAX_SLOTS || cfg->gpu > VD_GPU_NAME ||
        (cfg->gpu == VD_GPU_INDEX && cfg->gpu_index < 0) || (cfg->gpu == VD_GPU_NAME && !cfg->gpu_name))
        return VD_ERR(EINVAL);
    vd_encoder *enc = calloc(1, sizeof(*enc));
    if (!enc)
        return VD_ERR(ENOMEM);
    enc->cfg = *cfg;
    enc->next_region_id = 1;
    enc->tiles = vd_tile_encoder_new();
    uint32_t slots = (uint32_t)(cfg->cache_size / VD_TILE_SLOT_BYTES);
    if (slots)
        enc->cache = vd_tile_cache_new(slots);
    if (!enc->tiles || (slots && !enc->cache)) {
        vd_tile_encoder_free(&enc->tiles);
        free(enc);
        return VD_ERR(ENOMEM);
    }
    enc->codec_reset_pending = 1;
    enc->flow.rate_scale = RATE_ONE;
    enc->flow.link_bitrate = cfg->link_bitrate;
    enc->flow.link_share = LINK_SHARE_ONE;
    vd_damage_dsp_init(&enc->dsp, cfg->cpu_flags);
    enc->tile_stats = vd_tile_stats_pick(cfg->cpu_flags);
    enc->gpu = vd_gpu_new(cfg);
    enc->cfg.gpu_name = NULL; /* the caller's string, read only here */
    *out = enc;
    return 0;
}

int vd_encoder_register_buffer(vd_encoder *enc, const void *data, size_t size)
{
    const uint8_t *p = data;
    if (!enc || !p || !size || (uintptr_t)p + size < (uintptr_t)p)
        return VD_ERR(EINVAL);
    for (unsigned i = 0; i < enc->n_buffers; i++)
        if (p < enc->buffers[i].data + enc->buffers[i].size && enc->buffers[i].data < p + size)
            return VD_ERR(EINVAL);
    if (enc->n_buffers == VD_MAX_BUFFERS)
        return VD_ERR(ENOSPC);
    enc->buffers[enc->n_buffers].data = p;
    enc->buffers[enc->n_buffers++].size = size;
    if (enc->gpu) /* a device that cannot is no error of the host's: it copies those frames */
        vd_gpu_register(enc->gpu, p, size, 0);
    return 0;
}

int vd_encoder_unregister_buffer(vd_encoder *enc, const void *data)
{
    if (!enc)
        return VD_ERR(EINVAL);
    for (unsigned i = 0; i < enc->n_buffers; i++) {
        if (enc->buffers[i].data != data)
            continue;
        if (enc->gpu)
            vd_gpu_unregister(enc->gpu, data);
        enc->buffers[i] = enc->buffers[--enc->n_buffers];
        return 0;
    }
    return VD_ERR(ENOENT);
}

static void stream_free(enc_stream *st)
{
    vd_video_encoder_free(&st->video);
    free(st->keep);
    free(st->age);
    free(st->text_hold);
    st->keep = NULL;
    st->age = NULL;
    st->text_hold = NULL;
}

static void streams_free(enc_surface *s)
{
    for (unsigned k = 0; k < s->n_streams; k++)
        stream_free(&s->streams[k]);
    s->n_streams = 0;
}

static void surface_free(vd_encoder *enc, enc_surface *s)
{
    if (!s)
        return;
    vd_gpu_surface_free(enc->gpu, &s->gpu);
    streams_free(s);
    free(s->lossy);
    free(s->lossy_px);
    free(s->last_damage);
    free(s->refreshed);
    free(s->candidates);
    free(s->copies);
    free(s->held);
    free(s->previewed);
    free(s->tile_seq);
    free(s->prev);
    free(s->state);
    free(s->tile_stats);
    vd_classifier_free(&s->classifier);
    free(s);
}

void vd_encoder_free(vd_encoder **penc)
{
    if (!penc || !*penc)
        return;
    vd_encoder *enc = *penc;
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        surface_free(enc, enc->surfaces[i]);
    vd_gpu_free(&enc->gpu);
    free(enc->planes); /* unpinned with the context */
    vd_tile_encoder_free(&enc->tiles);
    vd_tile_encoder_free(&enc->probe_tiles);
    vd_buf_free(&enc->probe_out);
    vd_tile_cache_free(&enc->cache);
    vd_buf_free(&enc->out);
    vd_buf_free(&enc->video_out);
    vd_buf_free(&enc->stream_masks);
    vd_buf_free(&enc->block_parts);
    vd_buf_free(&enc->packed_side);
    vd_buf_free(&enc->keep_undo);
    vd_buf_free(&enc->delta);
    free(enc->packets);
    free(enc);
    *penc = NULL;
}

static int content_is_valid(enum vd_content c)
{
    return c == VD_CONTENT_NONE || c == VD_CONTENT_TEXT || c == VD_CONTENT_VIDEO ||
           c == VD_CONTENT_3D;
}

static int frame_is_valid(const vd_frame *f)
{
    int bpp = vd_format_bytes_per_pixel(f->format);
    if (!bpp || (!f->data && !f->dmabuf) || f->width < 1 || f->width > VD_MAX_DIMENSION || f->height < 1 ||
        f->height > VD_MAX_DIMENSION || f->stride < f->width * bpp ||
        f->n_damage > MAX_DAMAGE_RECTS || (!f->damage && f->n_damage) ||
        f->surface_id == VD_ALL_SURFACES || f->n_hints > VD_MAX_HINTS ||
        (!f->hints && f->n_hints) || !content_is_valid(f->surface_content))
        return 0;
    for (size_t i = 0; i < f->n_hints; i++)
        if (!content_is_valid(f->hints[i].content))
            return 0;
    return 1;
}

static enc_surface *find_surface(const vd_encoder *enc, uint32_t id, unsigned *index)
{
    for (unsigned i = 0; i < enc->n_surfaces; i++) {
        if (enc->surfaces[i]->id == id) {
            if (index)
                *index = i;
            return enc->surfaces[i];
        }
    }
    return NULL;
}

/* (Re)allocates a surface's buffers for a geometry; on failure the surface is unchanged. */
static int surface_configure(vd_encoder *enc, enc_surface *s, const vd_frame *f)
{
    vd_tile_grid grid;
    vd_tile_grid_init(&grid, f->width, f->height, f->format);
    size_t n_tiles = (size_t)grid.cols * (size_t)grid.rows;
    uint8_t *prev = malloc((size_t)f->width * (size_t)grid.bpp * (size_t)f->height);
    uint8_t *state = malloc(n_tiles);
    vd_tile_stats *stats = malloc(n_tiles * sizeof(*stats));
    vd_classifier *classifier = vd_classifier_new(&grid, &enc->cfg.classifier, &enc->next_region_id);
    uint8_t *lossy = calloc(n_tiles, 1);
    uint16_t *lossy_px = calloc(2 * ((size_t)(f->width + 15) / 16) * (size_t)f->height,
                                sizeof(*lossy_px)); /* and the patched plane */
    int64_t *last_damage = calloc(n_tiles, sizeof(*last_damage));
    struct tile_refresh *refreshed = calloc(n_tiles, sizeof(*refreshed));
    uint32_t *candidates = malloc(n_tiles * sizeof(*candidates));
    vd_tile_copy *copies = calloc(n_tiles, sizeof(*copies));
    uint64_t *tile_seq = calloc(n_tiles, sizeof(*tile_seq));
    uint8_t *held = calloc(n_tiles, 1);
    uint8_t *previewed = calloc(n_tiles, 1);
    if (!prev || !state || !stats || !classifier || !lossy || !lossy_px || !last_damage ||
        !refreshed || !candidates || !copies || !tile_seq || !held || !previewed) {
        free(copies);
        free(tile_seq);
        free(held);
        free(previewed);
        free(prev);
        free(state);
        free(stats);
        free(lossy);
        free(lossy_px);
        free(last_damage);
        free(refreshed);
        free(candidates);
        vd_classifier_free(&classifier);
        return VD_ERR(ENOMEM);
    }
    /* The client drops a surface's streams when it is resized. */
    streams_free(s);
    free(s->lossy);
    free(s->lossy_px);
    free(s->last_damage);
    free(s->refreshed);
    free(s->candidates);
    free(s->copies);
    free(s->tile_seq);
    free(s->held);
    free(s->previewed);
    s->previewed = previewed;
    s->has_previewed = 0;
    s->refreshed = refreshed;
    s->copies = copies;
    s->tile_seq = tile_seq;
    s->held = held;
    s->has_held = 0;
    s->lossy = lossy;
    s->lossy_px = lossy_px;
    s->last_damage = last_damage;
    s->candidates = candidates;
    free(s->prev);
    free(s->state);
    free(s->tile_stats);
    vd_classifier_free(&s->classifier);
    s->prev = prev;
    s->state = state;
    s->tile_stats = stats;
    s->classifier = classifier;
    vd_gpu_surface_free(enc->gpu, &s->gpu); /* made again for the new geometry */
    s->gpu_unfit = 0;
    s->grid = grid;
    s->format = f->format;
    s->refresh = 1;
    s->prev_valid = 0;
    return 0;
}

/* The classifier's clock: the host's timestamps while they increase, else elapsed time.  A
 * resume's frame (resend) is the last one again: a microsecond on, not the time the resume
 * came at, or the streams' and regions' times would depend on when it was called. */
static int64_t frame_time(enc_surface *s, const vd_frame *f, int resend)
{
    if (resend && s->last_clock_ns)
        return ++s->last_t;
    uint64_t now = vd_now_ns();
    int64_t t;
    if (f->pts_us > s->last_pts || !s->last_clock_ns)
        t = f->pts_us;
    else
        t = s->last_t + (int64_t)((now - s->last_clock_ns) / 1000);
    if (s->last_clock_ns && t <= s->last_t)
        t = s->last_t + 1;
    s->interval_us = s->last_clock_ns ? t - s->last_t : 0;
    s->last_pts = f->pts_us;
    s->last_t = t;
    s->last_clock_ns = now;
    return t;
}

/* The cursor's old and new places, which the tile statistics skip: its motion is not content
 * change. */
static vd_rect cursor_skip(const enc_surface *s, const vd_frame *f)
{
    vd_rect cursor = f->cursor;
    if (s->last_cursor.width > 0 && s->last_cursor.height > 0) {
        if (cursor.width > 0 && cursor.height > 0) {
            int x0 = VD_MIN(cursor.x, s->last_cursor.x), y0 = VD_MIN(cursor.y, s->last_cursor.y);
            int x1 = VD_MAX(cursor.x + cursor.width, s->last_cursor.x + s->last_cursor.width);
            int y1 = VD_MAX(cursor.y + cursor.height, s->last_cursor.y + s->last_cursor.height);
            cursor = (vd_rect){x0, y0, x1 - x0, y1 - y0};
        } else {
            cursor = s->last_cursor;
        }
    }
    return cursor;
}

/* Per-tile statistics of the damaged tiles against the reference, then classification.
 * gpu_stats: the GPU scan left them in s->tile_stats, taken against the reference before
 * send_copies(); they stand for the tiles whose reference no copy changed since. */
static int classify_frame(const vd_encoder *enc, enc_surface *s, const vd_frame *f, int gpu_stats,
                          int resend)
{
    const vd_tile_grid *g = &s->grid;
    size_t prev_stride = (size_t)g->width * (size_t)g->bpp;
    vd_rect cursor = cursor_skip(s, f);
    s->last_cursor = f->cursor;
    int64_t t = frame_time(s, f, resend);
    for (int ty = 0; ty < g->rows; ty++) {
        for (int tx = 0; tx < g->cols; tx++) {
            size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
            if (s->state[i] != VD_TILE_DIRTY)
                continue;
            int x = tx * 64, y = ty * 64;
            int w = VD_MIN(64, g->width - x), h = VD_MIN(64, g->height - y);
            const uint8_t *cur =
                f->data + (size_t)y * (size_t)f->stride + (size_t)x * (size_t)g->bpp;
            if (!s->prev_valid) { /* nothing to compare with: only what the tile shows */
                enc->tile_stats(cur, (size_t)f->stride, cur, (size_t)f->stride, w, h, g->bpp,
                                &(vd_rect){0, 0, 0, 0}, &s->tile_stats[i]);
                continue;
            }
            if (gpu_stats && !s->copies[i].vector) /* else a band's copied rows changed it */
                continue;
            vd_rect skip = {cursor.x - x, cursor.y - y, cursor.width, cursor.height};
            enc->tile_stats(cur, (size_t)f->stride,
                            s->prev + (size_t)y * prev_stride + (size_t)x * (size_t)g->bpp,
                            prev_stride, w, h, g->bpp, &skip, &s->tile_stats[i]);
        }
    }
    return vd_classifier_update(s->classifier, t, s->state, s->tile_stats, s->copies, f);
}

/* The classes of the frame's damaged tiles, in the statistics: after the streams picked their
 * tiles (split ones may have become video or 3D). */
static void count_classes(const enc_surface *s, vd_encoder_stats *st)
{
    const uint8_t *classes = vd_classifier_tile_classes(s->classifier);
    for (size_t i = 0; i < (size_t)s->grid.cols * (size_t)s->grid.rows; i++) {
        st->tiles_video += classes[i] == VD_CONTENT_VIDEO;
        st->tiles_3d += classes[i] == VD_CONTENT_3D;
    }
}

static int push_packet(vd_encoder *enc, uint32_t flags, uint32_t surface_id, int64_t pts_us)
{
    pending_packet *packets = vd_array_grow(enc->packets, &enc->packets_cap, enc->n_packets,
                                            sizeof(*packets));
    if (!packets)
        return VD_ERR(ENOMEM);
    enc->packets = packets;
    enc->packets[enc->n_packets++] = (pending_packet){
        .offset = enc->packet_start,
        .size = enc->out.size - enc->packet_start,
        .flags = flags,
        .surface_id = surface_id,
        .frame_seq = enc->frame_seq,
        .pts_us = pts_us,
    };
    enc->packet_start = enc->out.size;
    return 0;
}

/* Cuts a packet at this message boundary once it is full. */
static int maybe_cut_packet(vd_encoder *enc, uint32_t surface_id, int64_t pts_us)
{
    if (enc->out.size - enc->packet_start < enc->cfg.max_packet_size)
        return 0;
    return push_packet(enc, 0, surface_id, pts_us);
}

/* Drops everything queued for the frame being built, so a failed send_frame leaves no trace. */
static void discard_unsent(vd_encoder *enc, size_t packets_before)
{
    enc->n_packets = packets_before;
    enc->out.size = packets_before ? enc->packets[packets_before - 1].offset +
                                         enc->packets[packets_before - 1].size
                                   : 0;
    enc->packet_start = enc->out.size;
}

static int rect_inside(vd_rect a, vd_rect b)
{
    return a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width &&
           a.y + a.height <= b.y + b.height;
}

static int rects_overlap(vd_rect a, vd_rect b)
{
    return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height &&
           b.y < a.y + a.height;
}

/* The streams of every surface, s's included (a new surface is not in enc->surfaces yet). */
static unsigned encoder_streams(const vd_encoder *enc, const enc_surface *s)
{
    unsigned total = s->n_streams;
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        total += enc->surfaces[i] != s ? enc->surfaces[i]->n_streams : 0;
    return total;
}

/* The pixels of a surface's stream pictures. */
static uint64_t stream_pixels(const enc_surface *s)
{
    uint64_t pixels = 0;
    for (unsigned k = 0; k < s->n_streams; k++)
        pixels += (uint64_t)s->streams[k].rect.width * (uint64_t)s->streams[k].rect.height;
    return pixels;
}

static void keep_forget(enc_surface *s, enc_stream *st);

/* Ends stream k of s on the wire and moves it out of s into *out, with its encoder freed and
 * the kept pixels that the client may lack counted as lossy (keep_forget()). */
static int stream_detach(vd_encoder *enc, enc_surface *s, unsigned k, enc_stream *out)
{
    *out = s->streams[k];
    s->streams[k] = s->streams[--s->n_streams];
    vd_video_encoder_free(&out->video);
    keep_forget(s, out);
    return vd_wire_put_stream_id(&enc->out, VD_MSG_STREAM_DESTROY, out->id);
}

static int stream_end(vd_encoder *enc, enc_surface *s, unsigned k)
{
    enc_stream st;
    int ret = stream_detach(enc, s, k, &st);
    stream_free(&st);
    return ret;
}

/* A stream that replaces old (its region grew), over a picture that holds old's, takes over
 * the pixels old still keeps (a TILE or COPY sent them: stream_detach()) and the ages of its
 * pixels: the ones old's patches alone made exact are patched again in its first picture that
 * shows or still-patches their block (they showed lossy for PATCH_AGE pictures), and the
 * others stay exact (its first frame gives them again). */
static void keep_take_over(enc_stream *st, const enc_stream *old)
{
    int dx = old->rect.x - st->rect.x, dy = old->rect.y - st->rect.y;
    if (dx % 16 || dy % 16 || !rect_inside(old->rect, st->rect))
        return; /* (the encoder's pictures start on the block grid) */
    int bw = (st->rect.width + 15) / 16, old_bw = (old->rect.width + 15) / 16;
    int old_blocks = old_bw * ((old->rect.height + 15) / 16);
    for (int b = 0; b < old_blocks; b++) {
        size_t to = (size_t)((dy / 16 + b / old_bw) * bw + dx / 16 + b % old_bw);
        memcpy(st->keep + 16 * to, old->keep + 16 * (size_t)b, 16 * sizeof(*st->keep));
        memcpy(st->age + 256 * to, old->age + 256 * (size_t)b, 256);
        st->text_hold[to] = old->text_hold[b];
    }
}

/* The picture area video_bitrate is for (1280 x 720). */
#define REFERENCE_AREA (1280 * 720)

/* The reference picture's rate now: video_bitrate, lowered while the link is behind. */
static int64_t reference_bitrate(const vd_encoder *enc)
{
    return (int64_t)enc->cfg.video_bitrate * enc->flow.rate_scale / RATE_ONE;
}

static uint64_t isqrt64(uint64_t x)
{
    uint64_t r = 0;
    for (uint64_t bit = (uint64_t)1 << 62; bit; bit >>= 2) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
    }
    return r;
}

/* A region's rate before the link's share and the flow control: video_bitrate times
 * (area / REFERENCE_AREA)^0.75, at least 1/16 of it, for the area of its region (the
 * content), not of its picture, which keeps every rectangle the region had and a margin to
 * grow into: static parts cost a codec next to nothing.  A codec needs fewer bits per pixel
 * the larger the picture at the same quality, and a small animation beside the text must not
 * take a full video's rate. */
static int64_t region_bitrate(const vd_encoder *enc, const vd_rect *region)
{
    uint64_t area = (uint64_t)region->width * (uint64_t)region->height;
    uint64_t root = isqrt64((area << 32) / REFERENCE_AREA); /* sqrt(ratio), 16.16 */
    uint64_t scale = root * isqrt64(root << 16) >> 16;     /* ratio^0.75, 16.16 */
    int64_t rate = (int64_t)(((uint64_t)enc->cfg.video_bitrate * scale) >> 16);
    return VD_MAX(rate, (int64_t)enc->cfg.video_bitrate / 16);
}

/* A stream's rate: its region's, times the link's share and the flow control's scale; never
 * below what a codec takes. */
static int64_t stream_bitrate(const vd_encoder *enc, const vd_rect *region)
{
    int64_t rate = region_bitrate(enc, region) * enc->flow.link_share / LINK_SHARE_ONE;
    return VD_MAX(rate * enc->flow.rate_scale / RATE_ONE, VD_VIDEO_MIN_BITRATE);
}

/* Sets a stream's target to stream_bitrate() when that differs from it by more than
 * min_step.  An encoder that takes a new rate only with a key frame (AV1, VAAPI) follows the
 * link (link set, or a change it could not take yet) and not each change of its region's
 * size; one that cannot at all (ENOTSUP) keeps its rate. */
static void retarget(const vd_encoder *enc, enc_stream *st, int64_t min_step, int link)
{
    if (st->preview) /* its one picture is coded */
        return;
    if (!link && !st->rate_pending && !vd_video_encoder_retargets(st->video))
        return;
    int64_t rate = stream_bitrate(enc, &st->region);
    /* A change the encoder could not take yet is tried again whatever its size. */
    int64_t step = st->rate_pending ? 0 : min_step;
    int ret = llabs(rate - st->bitrate) > step ? vd_video_encoder_set_bitrate(st->video, rate)
                                               : VD_ERR(EALREADY);
    if (ret == 0)
        st->bitrate = rate;
    st->rate_pending = ret == VD_ERR(EAGAIN);
}

/* Every stream retargets as for a change of the link. */
static void retarget_all(vd_encoder *enc)
{
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        for (unsigned k = 0; k < enc->surfaces[i]->n_streams; k++)
            retarget(enc, &enc->surfaces[i]->streams[k], 0, 1);
}

/* Video rates follow the link (see RATE_PERIOD); called once per frame, held back or not. */
static void adapt_video_rate(vd_encoder *enc, int held)
{
    flow_state *fl = &enc->flow;
    fl->held_in_period |= held;
    if (++fl->calls % RATE_PERIOD)
        return;
    uint32_t scale = fl->rate_scale;
    if (fl->held_in_period) {
        scale = VD_MAX(scale * 3 / 4, (uint32_t)RATE_MIN);
        fl->calm_periods = 0;
    } else if (++fl->calm_periods >= RATE_CALM_PERIODS) {
        scale = VD_MIN(scale * 5 / 4, (uint32_t)RATE_ONE);
    }
    fl->held_in_period = 0;
    if (scale == fl->rate_scale)
        return;
    fl->rate_scale = scale;
    retarget_all(enc);
}

/* Counts a frame's bytes outside the streams at frame time t, which frame_time() makes
 * increase (see LINK_FILL_PCT). */
static void count_lossless(struct lossless_meter *m, int64_t t, uint64_t bytes)
{
    if (m->start_t == INT64_MIN) {
        m->start_t = t;
        m->bytes = 0;
    }
    m->bytes += bytes;
    int64_t span = t - m->start_t;
    if (span < LOSSLESS_WINDOW_US)
        return;
    if (span <= LOSSLESS_WINDOW_MAX_US) {
        memmove(m->rate + 1, m->rate, sizeof(m->rate) - sizeof(m->rate[0]));
        m->rate[0] = m->bytes * 8 * 1000000 / (uint64_t)span;
    }
    m->start_t = t;
    m->bytes = 0;
}

/* A surface's lossless rate that lasts: the least of its last windows, bit/s. */
static int64_t sustained_lossless(const struct lossless_meter *m)
{
    uint64_t least = m->rate[0];
    for (int k = 1; k < LOSSLESS_WINDOWS; k++)
        least = VD_MIN(least, m->rate[k]);
    return (int64_t)VD_MIN(least, (uint64_t)INT64_MAX);
}

/* The link's share for the streams there are and new ones whose regions' rates add up to
 * extra_rate (a surface's first frame has only new ones: it joins enc->surfaces after the
 * frame): what scales their regions' rates to LINK_VIDEO_PCT of link_bitrate, or less where
 * lossless tiles keep coming (LINK_FILL_PCT), when they add up to more.  Taken when it moves
 * by more than an eighth, as a region's own rate (retarget()), which an encoder that is
 * opened again for a new rate takes too (more than its REOPEN_MIN_STEP_PCT), or back to no
 * scaling; every stream then retargets as for a change of the link. */
static void follow_link_share(vd_encoder *enc, int64_t extra_rate)
{
    flow_state *fl = &enc->flow;
    uint32_t share = LINK_SHARE_ONE;
    if (fl->link_bitrate) {
        int64_t sum = extra_rate;
        for (unsigned i = 0; i < enc->n_surfaces; i++)
            for (unsigned k = 0; k < enc->surfaces[i]->n_streams; k++)
                if (!enc->surfaces[i]->streams[k].preview) /* (its one picture is coded) */
                    sum += region_bitrate(enc, &enc->surfaces[i]->streams[k].region);
        int64_t link = fl->link_bitrate, lossless = 0;
        for (unsigned i = 0; i < enc->n_surfaces && lossless < link; i++)
            lossless += sustained_lossless(&enc->surfaces[i]->lossless);
        lossless = VD_MIN(lossless, link);
        int64_t cap = VD_MAX(VD_MIN(link * LINK_VIDEO_PCT, link * LINK_FILL_PCT - lossless * 100),
                             link * LINK_VIDEO_MIN_PCT) / 100;
        if (sum > cap)
            share = (uint32_t)VD_MAX(cap * LINK_SHARE_ONE / sum, 1);
    }
    uint64_t old = fl->link_share;
    if (share * 8ull >= old * 7 && share * 8ull <= old * 9 && (share != LINK_SHARE_ONE || share == old))
        return;
    fl->link_share = share;
    retarget_all(enc);
}

/* Pixels a replaced stream's picture reaches past its region where the region outgrew the
 * old picture (a multiple of 16): a region grows in steps of 16 as an object sweeps out, and
 * each replacement costs a key frame. */
#define STREAM_GROW_MARGIN 64
/* After a stream's encoder failed to open, new streams of the surface wait this long: under
 * memory pressure each try is a failing opening (and probe) per frame. */
#define STREAM_RETRY_US 1000000

static uint16_t *lossy_word(const enc_surface *s, int x, int y);

/* Opens a stream over picture q (for region, of content; or a preview) on the wire and in
 * s->streams, which has room, and sets *out to it.  VD_ERR(EAGAIN) when no encoder takes it
 * (no codec works, no memory for one): nothing was sent. */
static int stream_open(vd_encoder *enc, enc_surface *s, uint32_t id, const vd_rect *q,
                       const vd_rect *region, enum vd_content content, int preview,
                       enc_stream **out)
{
    uint32_t codecs = enc->cfg.video_codecs;
    vd_video_params p = {
        .codec = codecs & VD_CODEC_H264 ? VD_VIDEO_H264 : VD_VIDEO_AV1,
        .width = q->width,
        .height = q->height,
        .fps = 30,
        .bitrate = stream_bitrate(enc, region),
        .backend = (enum vd_video_backend)enc->cfg.video_backend,
        .latency_first = content == VD_CONTENT_3D,
        .cpu_flags = enc->cfg.cpu_flags,
    };
    enc_stream st = {.id = id, .rect = *q, .region = *region, .content = (uint8_t)content,
                     .preview = (uint8_t)preview, .bitrate = p.bitrate, .need_key = 1,
                     .early_wait_until = INT64_MIN};
    size_t blocks = (size_t)((q->width + 15) / 16) * (size_t)((q->height + 15) / 16);
    st.keep = calloc(16 * blocks, sizeof(*st.keep));
    st.age = calloc(256, blocks);
    st.text_hold = calloc(blocks, sizeof(*st.text_hold));
    if (!st.keep || !st.age || !st.text_hold) {
        stream_free(&st);
        return VD_ERR(ENOMEM);
    }
    for (size_t b = 0; b < blocks; b++)
        st.text_hold[b].backoff_until = INT64_MIN;
    /* Pixels the preview of the surface's last frame left lossy, and that this stream's next
     * picture leaves unchanged, are patched in it: no picture of the stream gave them, and
     * else they waited PATCH_AGE pictures (a strip of a window's border beside a player whose
     * first picture went in the preview).  Not other lossy pixels: those an ended stream
     * showed may be the background behind a moving object. */
    int bw = (q->width + 15) / 16;
    for (int y = q->y; s->has_previewed && y < q->y + q->height; y++)
        for (int x = q->x; x < q->x + q->width; x += 16) {
            if (!s->previewed[(size_t)(y / 64) * (size_t)s->grid.cols + (size_t)(x / 64)])
                continue;
            uint8_t *age = st.age + 256 * (size_t)((y - q->y) / 16 * bw + (x - q->x) / 16) +
                           16 * (size_t)((y - q->y) % 16);
            for (unsigned lossy = *lossy_word(s, x, y); lossy; lossy &= lossy - 1)
                age[__builtin_ctz(lossy)] = PATCH_AGE - 1;
        }
    if (vd_video_encoder_new(&p, &st.video) < 0) {
        stream_free(&st);
        return VD_ERR(EAGAIN);
    }
    vd_msg_stream m = {st.id, s->id, (uint8_t)p.codec, st.content, (uint32_t)q->x,
                       (uint32_t)q->y, (uint32_t)q->width, (uint32_t)q->height};
    int ret = vd_wire_put_stream_create(&enc->out, &m);
    if (ret < 0) {
        stream_free(&st);
        return ret;
    }
    s->streams[s->n_streams] = st;
    *out = &s->streams[s->n_streams++];
    return 0;
}

/* One stream per video/3D region, ended with it.  A codec's picture size is fixed, so the
 * picture covers every rectangle the region has had: a region that grows past it (an object
 * sweeping a scene) gets a new stream over the union, and shrinking costs nothing (the block
 * masks say what to show), so a moving region settles on one stream instead of a key frame
 * per change. */
static int sync_streams(vd_encoder *enc, enc_surface *s)
{
    vd_region regions[MAX_STREAMS];
    size_t n = VD_MIN(vd_classifier_regions(s->classifier, regions, MAX_STREAMS), MAX_STREAMS);
    vd_rect grown[MAX_STREAMS] = {{0, 0, 0, 0}};
    enc_stream replaced[MAX_STREAMS] = {{0}}; /* by region: the stream a grown one replaces */
    int ret = 0;
    for (unsigned k = 0; k < s->n_streams;) {
        size_t r = 0;
        while (r < n && regions[r].id != s->streams[k].id)
            r++;
        if (r < n && rect_inside(regions[r].rect, s->streams[k].rect)) {
            enc_stream *st = &s->streams[k++];
            st->region = regions[r].rect;
            /* The rate follows the region's size, not every 16-pixel step of it. */
            retarget(enc, st, st->bitrate / 8, 0);
            continue;
        }
        if (r < n) { /* the replacement covers both, with room to grow where it grew */
            const vd_rect *a = &regions[r].rect, *b = &s->streams[k].rect;
            int m = STREAM_GROW_MARGIN;
            int x0 = a->x < b->x ? VD_MAX(a->x - m, 0) : b->x;
            int y0 = a->y < b->y ? VD_MAX(a->y - m, 0) : b->y;
            /* Codecs take even sizes only: the margin stops at an even edge. */
            int ax1 = a->x + a->width, ay1 = a->y + a->height;
            int x1 = ax1 > b->x + b->width ? VD_MAX(ax1, VD_MIN(ax1 + m, s->grid.width & ~1))
                                           : b->x + b->width;
            int y1 = ay1 > b->y + b->height ? VD_MAX(ay1, VD_MIN(ay1 + m, s->grid.height & ~1))
                                            : b->y + b->height;
            grown[r] = (vd_rect){x0, y0, x1 - x0, y1 - y0};
            if ((ret = stream_detach(enc, s, k, &replaced[r])) < 0)
                goto done;
            continue;
        }
        if ((ret = stream_end(enc, s, k)) < 0)
            goto done;
    }
    uint32_t codecs = enc->cfg.video_codecs;
    unsigned total = encoder_streams(enc, s);
    /* The regions that get a stream now, before the share they all start at.  One whose
     * encoder failed is counted while it waits for its next try: the share stays put. */
    const vd_rect *new_picture[MAX_STREAMS] = {NULL}; /* (NULL: no new stream) */
    int64_t new_rate = 0;
    for (size_t r = 0, more = total; r < n && codecs && more < MAX_ENCODER_STREAMS; r++) {
        unsigned k = 0;
        while (k < s->n_streams && s->streams[k].id != regions[r].id)
            k++;
        const vd_rect *q = grown[r].width ? &grown[r] : &regions[r].rect;
        /* A region no encoder takes (an odd size at the surface's edge) stays lossless. */
        if (k == s->n_streams && vd_video_size_ok(q->width, q->height) &&
            (regions[r].content == VD_CONTENT_VIDEO || regions[r].content == VD_CONTENT_3D)) {
            new_picture[r] = q;
            new_rate += region_bitrate(enc, &regions[r].rect);
            more++;
        }
    }
    follow_link_share(enc, new_rate);
    /* A try is for every region: one that keeps failing must not keep those after it from
     * theirs. */
    if (s->last_t < s->stream_retry_t)
        goto done;
    for (size_t r = 0; r < n && total < MAX_ENCODER_STREAMS; r++) {
        const vd_rect *q = new_picture[r];
        if (!q)
            continue;
        enc_stream *st = NULL;
        ret = stream_open(enc, s, regions[r].id, q, &regions[r].rect, regions[r].content, 0, &st);
        if (ret == VD_ERR(EAGAIN)) { /* a region no encoder takes (no codec works) stays lossless */
            s->stream_retry_t = s->last_t + STREAM_RETRY_US;
            ret = 0;
            continue;
        }
        if (ret < 0)
            goto done;
        if (replaced[r].keep) /* (else no memory for it) */
            keep_take_over(st, &replaced[r]);
        total++;
    }
done:
    for (size_t r = 0; r < n; r++)
        stream_free(&replaced[r]);
    return ret;
}

/* Whether pixel a differs from pixel b in the bits that count (grid.mask): an X byte's do
 * not (as for damage, docs/protocol.md section 8). */
static int pixel_differs(const enc_surface *s, const uint8_t *a, const uint8_t *b)
{
    return ((vd_rl_px(a, s->grid.bpp) ^ vd_rl_px(b, s->grid.bpp)) & s->grid.mask) != 0;
}

/* Whether n pixels step bytes apart from p hold a run of need of one colour. */
static int has_run(const enc_surface *s, const uint8_t *p, size_t step, int n, int need)
{
    for (int i = 1, run = 1; i < n; i++) {
        run = pixel_differs(s, p + (size_t)i * step, p + (size_t)(i - 1) * step) ? 1 : run + 1;
        if (run >= need)
            return 1;
    }
    return 0;
}

/* Whether the w x h pixels at p hold a straight line of one colour: PREVIEW_LINE pixels in a
 * row or a column (a whole one where it is shorter, of 8 pixels or more). */
static int has_line(const enc_surface *s, const uint8_t *p, size_t stride, int w, int h)
{
    size_t bpp = (size_t)s->grid.bpp;
    int along_rows = VD_MIN(PREVIEW_LINE, w), along_cols = VD_MIN(PREVIEW_LINE, h);
    for (int r = 0; along_rows >= 8 && r < h; r++)
        if (has_run(s, p + (size_t)r * stride, bpp, w, along_rows))
            return 1;
    for (int c = 0; along_cols >= 8 && c < w; c++)
        if (has_run(s, p + (size_t)c * bpp, stride, h, along_cols))
            return 1;
    return 0;
}

/* Whether the tile (x, y, w, h) looks like a picture: see PREVIEW_BLOCK_COLOURS. */
static int photo_tile(const enc_surface *s, const vd_frame *f, int x, int y, int w, int h)
{
    for (int by = y; by < y + h; by += 16)
        for (int bx = x; bx < x + w; bx += 16) {
            int bw = VD_MIN(16, x + w - bx), bh = VD_MIN(16, y + h - by);
            const uint8_t *p =
                f->data + (size_t)by * (size_t)f->stride + (size_t)bx * (size_t)s->grid.bpp;
            /* (a block cut short by the surface's edge: a quarter of its pixels, if fewer) */
            if (vd_count_colours(p, (size_t)f->stride, bw, bh, s->grid.bpp, PREVIEW_BLOCK_COLOURS) <
                (unsigned)VD_MIN(PREVIEW_BLOCK_COLOURS, bw * bh / 4))
                return 0;
        }
    return !has_line(s, f->data + (size_t)y * (size_t)f->stride + (size_t)x * (size_t)s->grid.bpp,
                     (size_t)f->stride, w, h);
}

/* Forgets which tiles the last preview showed (s->previewed). */
static void preview_forget(enc_surface *s)
{
    if (s->has_previewed)
        memset(s->previewed, 0, (size_t)s->grid.cols * (size_t)s->grid.rows);
    s->has_previewed = 0;
}

/* Opens a preview stream (see PREVIEW_MIN_BPP) for the costly tiles of a frame that
 * (re)creates s, when they are worth one; its tiles go to s->candidates, *n_tiles of them (0:
 * no preview). */
static int open_preview(vd_encoder *enc, enc_surface *s, const vd_frame *f, uint32_t *n_tiles)
{
    const vd_tile_grid *g = &s->grid;
    *n_tiles = 0;
    if (!enc->cfg.video_codecs || !enc->flow.link_bitrate || s->n_streams >= MAX_STREAMS ||
        encoder_streams(enc, s) >= MAX_ENCODER_STREAMS || s->last_t < s->stream_retry_t)
        return 0;
    if (!enc->probe_tiles && !(enc->probe_tiles = vd_tile_encoder_new()))
        return VD_ERR(ENOMEM);
    /* Coded in order with a history, as they would go (less the cache). */
    vd_tile_encoder_reset(enc->probe_tiles);
    uint8_t *scratch = vd_buf_reserve(&enc->probe_out, vd_tile_max_payload(64, 64, g->bpp));
    if (!scratch)
        return VD_ERR(ENOMEM);
    int set_x = vd_format_has_x(s->format);
    uint64_t bytes = 0;
    uint32_t n = 0;
    int tx0 = g->cols, ty0 = g->rows, tx1 = -1, ty1 = -1;
    for (int ty = 0; ty < g->rows; ty++)
        for (int tx = 0; tx < g->cols; tx++) {
            size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
            /* (few colours: UI, text or flat, and cheap) */
            if (s->state[i] != VD_TILE_DIRTY || vd_classifier_hinted_text(s->classifier, i) ||
                s->tile_stats[i].colours < VD_CLS_COLOUR_CAP)
                continue;
            int x = tx * 64, y = ty * 64;
            int w = VD_MIN(64, g->width - x), h = VD_MIN(64, g->height - y);
            /* Codecs take even sizes: a picture stops short of an odd edge. */
            if (((x + w) & 1 && x + w == g->width) || ((y + h) & 1 && y + h == g->height))
                continue;
            /* A tile a region's stream only cuts goes exactly (a whole surface) and stays so:
             * previewed, it went exactly in the next frame as well (changed_outside()). */
            int cut = 0;
            for (unsigned k = 0; k < s->n_streams && !cut; k++)
                cut = rects_overlap(s->streams[k].region, (vd_rect){x, y, w, h});
            if (cut)
                continue;
            uint8_t encoding;
            const uint8_t *src = f->data + (size_t)y * (size_t)f->stride + (size_t)x * (size_t)g->bpp;
            size_t cost = vd_tile_encode(enc->probe_tiles, NULL, src, (size_t)f->stride, w, h,
                                         g->bpp, set_x, scratch, &encoding, &(vd_tile_counts){0});
            if (cost * 8 < (size_t)(PREVIEW_MIN_BPP * w * h) || !photo_tile(s, f, x, y, w, h))
                continue;
            s->candidates[n++] = (uint32_t)i;
            bytes += cost;
            tx0 = VD_MIN(tx0, tx);
            ty0 = VD_MIN(ty0, ty);
            tx1 = VD_MAX(tx1, tx);
            ty1 = VD_MAX(ty1, ty);
        }
    if (!n || bytes * 8 * 1000 < (uint64_t)enc->flow.link_bitrate * PREVIEW_MIN_LINK_MS)
        return 0;
    vd_rect q = {tx0 * 64, ty0 * 64, VD_MIN(g->width, (tx1 + 1) * 64) - tx0 * 64,
                 VD_MIN(g->height, (ty1 + 1) * 64) - ty0 * 64};
    /* A decoder counts stream pictures against a budget of its own, which need not hold more
     * than its surfaces: the streams must stay within their area. */
    /* (and within its own surface's: another's slack is for its own region streams, which
     * sync_streams() opens unchecked) */
    uint64_t own = (uint64_t)q.width * (uint64_t)q.height + stream_pixels(s);
    uint64_t own_area = (uint64_t)g->width * (uint64_t)g->height, pictures = own, area = own_area;
    for (unsigned i = 0; i < enc->n_surfaces; i++) {
        const enc_surface *o = enc->surfaces[i];
        if (o != s) {
            area += (uint64_t)o->grid.width * (uint64_t)o->grid.height;
            pictures += stream_pixels(o);
        }
    }
    if (!vd_video_size_ok(q.width, q.height) || pictures > area || own > own_area)
        return 0;
    enc_stream *st;
    /* (VD_CONTENT_VIDEO on the wire, which every decoder takes; informative only) */
    int ret = stream_open(enc, s, enc->next_region_id++, &q, &q, VD_CONTENT_VIDEO, 1, &st);
    if (ret == VD_ERR(EAGAIN)) { /* no encoder: they go exactly, and no probe for a while */
        s->stream_retry_t = s->last_t + STREAM_RETRY_US;
        return 0;
    }
    if (ret == 0)
        *n_tiles = n;
    return ret;
}

/* Whether any of n pixels at a differs from its twin at b (pixel_differs()). */
static int pixels_differ(const enc_surface *s, const uint8_t *a, const uint8_t *b, size_t n)
{
    int bpp = s->grid.bpp;
    if (!memcmp(a, b, n * (size_t)bpp))
        return 0;
    for (size_t k = 0; k < n; k++)
        if (pixel_differs(s, a + k * (size_t)bpp, b + k * (size_t)bpp))
            return 1;
    return 0;
}

/* The pixels of row y from column x, within columns [c0, c1) of it, that differ from the
 * reference (bit c: column x + c), as pixels_differ() tells. */
static unsigned changed_cols(const enc_surface *s, const vd_frame *f, int x, int y, int c0, int c1)
{
    int bpp = s->grid.bpp;
    const uint8_t *a = f->data + (size_t)y * (size_t)f->stride + (size_t)x * (size_t)bpp;
    const uint8_t *b = s->prev + ((size_t)y * (size_t)s->grid.width + (size_t)x) * (size_t)bpp;
    if (!memcmp(a + c0 * bpp, b + c0 * bpp, (size_t)(c1 - c0) * (size_t)bpp))
        return 0;
    unsigned cols = 0;
    for (int c = c0; c < c1; c++)
        cols |= (unsigned)pixel_differs(s, a + c * bpp, b + c * bpp) << c;
    return cols;
}

/* A packed box (vd_box_pack()) that no box can be: x0 past x1 - 1.  (0xffff is the box of
 * pixel (15, 15) alone.) */
#define NO_BOX 0x000f

/* The part of the 16 x 16 block at (x, y), clipped to the surface, that differs from the
 * reference, packed as in a STREAM_FRAME's bounds (vd_box_pack()); NO_BOX when nothing
 * changed.  Early exits keep it cheap inside moving content, where the first row and pixel
 * usually differ already. */
static uint16_t block_bounds(const enc_surface *s, const vd_frame *f, int x, int y)
{
    size_t bpp = (size_t)s->grid.bpp, ref_stride = (size_t)s->grid.width * bpp;
    int w = VD_MIN(16, s->grid.width - x), h = VD_MIN(16, s->grid.height - y);
#define ROW_A(r) (f->data + (size_t)(y + (r)) * (size_t)f->stride + (size_t)x * bpp)
#define ROW_B(r) (s->prev + (size_t)(y + (r)) * ref_stride + (size_t)x * bpp)
    int y0 = 0, y1 = h;
    while (y0 < h && !pixels_differ(s, ROW_A(y0), ROW_B(y0), (size_t)w))
        y0++;
    if (y0 == h)
        return NO_BOX;
    while (!pixels_differ(s, ROW_A(y1 - 1), ROW_B(y1 - 1), (size_t)w))
        y1--;
    int x0 = w, x1 = 0;
    for (int r = y0; r < y1 && (x0 > 0 || x1 < w); r++) {
        const uint8_t *a = ROW_A(r), *b = ROW_B(r);
        for (int c = 0; c < x0; c++)
            if (pixels_differ(s, a + (size_t)c * bpp, b + (size_t)c * bpp, 1)) {
                x0 = c;
                break;
            }
        for (int c = w - 1; c >= x1; c--)
            if (pixels_differ(s, a + (size_t)c * bpp, b + (size_t)c * bpp, 1)) {
                x1 = c + 1;
                break;
            }
    }
#undef ROW_A
#undef ROW_B
    return vd_box_pack(x0, y0, x1, y1);
}

/* The lossy map's word for the 16 pixels of row y from column x (a multiple of 16). */
static uint16_t *lossy_word(const enc_surface *s, int x, int y)
{
    return s->lossy_px + (size_t)y * (size_t)((s->grid.width + 15) / 16) + (size_t)x / 16;
}

/* The patched plane's word for the same pixels (see enc_surface.lossy_px). */
static uint16_t *patched_word(const enc_surface *s, int x, int y)
{
    return lossy_word(s, x, y) + (size_t)s->grid.height * (size_t)((s->grid.width + 15) / 16);
}

/* The rectangle of the pixels set in keep at a corner of box b, packed, where those pixels
 * form exactly a rectangle there: no set pixel touches its two inner sides.  NO_BOX when there
 * is none. */
static uint16_t corner_rect(const uint16_t keep[16], vd_box b, int corner)
{
    int right = corner & 1, bottom = corner >> 1, w = 0, k = 0;
    for (; k < b.y1 - b.y0; k++) {
        int r = bottom ? b.y1 - 1 - k : b.y0 + k, run = 0;
        while (run < b.x1 - b.x0 && keep[r] >> (right ? b.x1 - 1 - run : b.x0 + run) & 1)
            run++;
        if (k == 0)
            w = run;
        if (!w || run != w)
            break;
    }
    if (!w)
        return NO_BOX;
    int cx0 = right ? b.x1 - w : b.x0;
    int cy0 = bottom ? b.y1 - k : b.y0, cy1 = bottom ? b.y1 : b.y0 + k;
    int next = bottom ? cy0 - 1 : cy1; /* the row past its inner side */
    if (k < b.y1 - b.y0 && keep[next] & vd_box_cols(cx0, cx0 + w))
        return NO_BOX;
    return vd_box_pack(cx0, cy0, cx0 + w, cy1);
}

/* What a stream shows of a set block: the bounds of what changed (packed), rectangles within
 * them left out, and the pixels that leaves (bit c of rows[r]: pixel (c, r) of the block);
 * partial unless that is the whole block. */
typedef struct block_part {
    uint16_t rows[16];
    uint16_t changed[16]; /* the pixels of the bounds that differ from the reference */
    uint16_t exact[16]; /* the pixels of the bounds that the client shows exactly, unchanged */
    uint16_t bounds;
    uint16_t cuts[VD_STREAM_FRAME_MAX_CUTS];
    uint8_t n_cuts, partial;
    uint8_t keep_given; /* its kept pixels change: the frame's keep section gives them */
    uint16_t patch[16]; /* lossy pixels that went still: shown exactly, kept from now on */
    uint8_t patched;
} block_part;

/* The pixels of the w x h block at (x, y) to show, given the bounds bb of what changed in it.
 * That is bb, but for a rectangle at each corner of bb of pixels that the client shows exactly
 * and that did not change, bounded by other pixels: the corner of a window over a video, or of
 * a HUD inside a 3D view, stays exact where bounds alone would show it lossy for as long as
 * the content moves.  Exact pixels of other shapes (a still background along a 3D object's
 * curved edge, still pixels of a video) are shown: a mask of single pixels for them cost 11 to
 * 35 % more bytes on 3D and video recordings, these cuts 0.1 to 1.4 %. */
static void block_part_find(const enc_surface *s, const vd_frame *f, int x, int y, int w, int h,
                            uint16_t bb, int trust_ref, block_part *part)
{
    vd_box b = vd_box_unpack(bb);
    uint16_t keep[16] = {0}; /* exact and unchanged */
    part->bounds = bb;
    part->n_cuts = 0;
    for (int r = 0; r < 16; r++) {
        part->rows[r] = (uint16_t)(r >= b.y0 && r < b.y1 ? vd_box_cols(b.x0, b.x1) : 0);
        part->changed[r] = 0;
        /* On a frame that (re)creates the surface the client has nothing exact here. */
        if (!part->rows[r] || !trust_ref)
            continue;
        part->changed[r] = (uint16_t)changed_cols(s, f, x, y + r, b.x0, b.x1);
        keep[r] = (uint16_t)(part->rows[r] & ~(unsigned)*lossy_word(s, x, y + r) & ~part->changed[r]);
    }
    memcpy(part->exact, keep, sizeof(keep));
    part->keep_given = 0;
    for (int corner = 0; corner < 4; corner++) {
        uint16_t cut = corner_rect(keep, b, corner);
        if (cut == NO_BOX)
            continue;
        vd_box c = vd_box_unpack(cut);
        for (int r = c.y0; r < c.y1; r++) {
            part->rows[r] &= (uint16_t)~vd_box_cols(c.x0, c.x1);
            keep[r] &= (uint16_t)~vd_box_cols(c.x0, c.x1);
        }
        part->cuts[part->n_cuts++] = cut;
    }
    part->partial = bb != vd_box_pack(0, 0, w, h) || part->n_cuts;
}

/* bb, the bounds of what changed in the w x h block at (x, y), or the whole block when every
 * pixel outside bb is shown lossy already: showing those again costs nothing where bounds cost
 * 2 bytes, and a video's still pixels would make most of its blocks partial (a tenth of a
 * full-screen video's bytes went to bounds). */
static uint16_t widen_bounds(const enc_surface *s, int x, int y, int w, int h, uint16_t bb)
{
    vd_box b = vd_box_unpack(bb);
    for (int r = 0; r < h; r++) {
        unsigned inside = r >= b.y0 && r < b.y1 ? vd_box_cols(b.x0, b.x1) : 0;
        unsigned outside = vd_box_cols(0, w) & ~inside;
        if (outside & ~(unsigned)*lossy_word(s, x, y + r))
            return bb;
    }
    return vd_box_pack(0, 0, w, h);
}

/* Marks the pixels of a rectangle shown exactly, by a TILE or a COPY, in s->lossy_px (and
 * exact through no patch).  (A COPY of patched pixels passes their doubt on unmarked: a
 * client that skipped the patch then shows its lossy copy until it changes.) */
static void mark_exact(enc_surface *s, int x, int y, int w, int h)
{
    for (int r = y; r < y + h; r++)
        for (int c = x; c < x + w;) {
            int k = c / 16, end = VD_MIN(x + w, 16 * k + 16);
            uint16_t cols = (uint16_t)vd_box_cols(c - 16 * k, end - 16 * k);
            *lossy_word(s, 16 * k, r) &= (uint16_t)~cols;
            *patched_word(s, 16 * k, r) &= (uint16_t)~cols;
            c = end;
        }
}

/* Whether the client shows a pixel of row r, columns [c0, c1), lossy outside every stream's
 * region (a preview's, or one a region left behind as it shrank or moved). */
static int lossy_beside_streams(const enc_surface *s, int r, int c0, int c1)
{
    for (int c = c0; c < c1;) {
        int k = c / 16, end = VD_MIN(c1, 16 * k + 16);
        for (unsigned bits = *lossy_word(s, 16 * k, r) & vd_box_cols(c - 16 * k, end - 16 * k); bits;
             bits &= bits - 1) {
            int px = 16 * k + __builtin_ctz(bits), covered = 0;
            for (unsigned i = 0; i < s->n_streams && !covered; i++)
                covered = rects_overlap(s->streams[i].region, (vd_rect){px, r, 1, 1});
            if (!covered)
                return 1;
        }
        c = end;
    }
    return 0;
}

/* Whether any pixel of the tile (x, y, w, h) outside q differs from the reference, or is shown
 * lossy outside every stream's region: a stream that shows only its region's blocks would
 * leave it lossy while it plays (the window frame round a player's first picture, which
 * went in a preview). */
static int changed_outside(const enc_surface *s, const vd_frame *f, int x, int y, int w, int h,
                           const vd_rect *q)
{
    size_t bpp = (size_t)s->grid.bpp, ref_stride = (size_t)s->grid.width * bpp;
    int ix0 = VD_MAX(x, q->x), ix1 = VD_MIN(x + w, q->x + q->width);
    for (int r = y; r < y + h; r++) {
        const uint8_t *a = f->data + (size_t)r * (size_t)f->stride, *b = s->prev + (size_t)r * ref_stride;
        int inside = r >= q->y && r < q->y + q->height && ix0 < ix1;
        int spans[2][2] = {{x, inside ? ix0 : x + w}, {inside ? ix1 : x + w, x + w}};
        for (int k = 0; k < 2; k++)
            if (spans[k][0] < spans[k][1] &&
                (pixels_differ(s, a + (size_t)spans[k][0] * bpp, b + (size_t)spans[k][0] * bpp,
                               (size_t)(spans[k][1] - spans[k][0])) ||
                 lossy_beside_streams(s, r, spans[k][0], spans[k][1])))
                return 1;
    }
    return 0;
}

/* Whether a tile's scan state says a stream carries (some of) its change this frame. */
static int streamed(uint8_t state)
{
    return state == VD_TILE_VIDEO || state == VD_TILE_SPLIT;
}

/* A stream picture the frame codes: what goes between a STREAM_FRAME's header and picture
 * (the block mask, partial mask, bounds and cuts, maybe packed) at `at` in
 * enc->stream_masks. */
typedef struct stream_pick {
    unsigned k; /* s->streams[k] */
    size_t at;
    uint32_t mask_size, side_size;
    uint8_t flags; /* VD_STREAM_FRAME_CUTS, _PACKED, _KEEP, _KEEP_RESET and _PATCH */
    size_t undo_at; /* its keep_undo entries in enc->keep_undo */
    uint32_t n_undo;
    uint32_t pixels_patched;
} stream_pick;

/* A block's kept pixels before the frame changed them: put back when its picture is held back
 * and the client never hears of the change. */
typedef struct keep_undo {
    uint32_t block;
    uint16_t rows[16];
} keep_undo;

static int keep_save(vd_encoder *enc, const enc_stream *st, uint32_t b)
{
    keep_undo *u = (keep_undo *)(void *)vd_buf_reserve(&enc->keep_undo, sizeof(*u));
    if (!u)
        return VD_ERR(ENOMEM);
    u->block = b;
    memcpy(u->rows, st->keep + 16 * (size_t)b, sizeof(u->rows));
    enc->keep_undo.size += sizeof(*u);
    return 0;
}

/* Whether st keeps any pixel of its block b. */
static int keeps_any(const enc_stream *st, size_t b)
{
    static const uint16_t none[16];
    return memcmp(st->keep + 16 * b, none, sizeof(none)) != 0;
}

/* Puts back the kept pixels of a pick's blocks, last change first. */
static void keep_restore(vd_encoder *enc, enc_stream *st, size_t at, uint32_t n)
{
    const keep_undo *u = (const keep_undo *)(const void *)(enc->keep_undo.data + at);
    for (uint32_t i = n; i-- > 0;)
        memcpy(st->keep + 16 * (size_t)u[i].block, u[i].rows, sizeof(u[i].rows));
}

/* Drops st's kept pixels that are exact through a patch alone (patched_word()), counted as
 * lossy from now on: for a frame with VD_STREAM_FRAME_KEEP_RESET, or the stream's end.  The
 * client may not have them (it skips the frames that told it while it waits for a key frame,
 * and the patches with them), so build-to-lossless and later patches send them again (a
 * still pixel's age stays: it is patched again in the stream's next picture that sets or
 * still-patches its block).  Those a TILE or COPY sent since are exact whatever the client
 * skipped: they stay kept, and a KEEP_RESET frame gives them again.  All of them after a key
 * frame without KEEP_RESET (keep_reset_due): a client that waited took it with the kept
 * pixels it had, which lack those it skipped, and showed them lossy from it.  Not undone when
 * no frame goes out after all: the next that does resets too, and marking them again would
 * refresh their tiles every frame. */
static void keep_forget(enc_surface *s, enc_stream *st)
{
    int bw = (st->rect.width + 15) / 16, blocks = bw * ((st->rect.height + 15) / 16);
    for (int b = 0; b < blocks; b++) {
        uint16_t *keep = st->keep + 16 * (size_t)b;
        int x = st->rect.x + b % bw * 16, y = st->rect.y + b / bw * 16;
        for (int r = 0; r < 16; r++) {
            if (!keep[r])
                continue;
            uint16_t *patched = patched_word(s, x, y + r);
            uint16_t doubt = st->keep_reset_due ? keep[r] : (uint16_t)(keep[r] & *patched);
            if (!doubt)
                continue;
            *lossy_word(s, x, y + r) |= doubt;
            *patched &= (uint16_t)~doubt;
            s->lossy[(size_t)((y + r) / 64) * (size_t)s->grid.cols + (size_t)(x / 64)] = 1;
            keep[r] &= (uint16_t)~doubt;
        }
    }
}

/* The pictures of st since its pixel (x, y) of the surface last changed, to 255 (before or
 * after this picture's); -1 outside its picture. */
static int pixel_age(const enc_stream *st, int x, int y)
{
    const vd_rect *q = &st->rect;
    if (x < q->x || y < q->y || x >= q->x + q->width || y >= q->y + q->height)
        return -1;
    int bx = (x - q->x) / 16, by = (y - q->y) / 16, bw = (q->width + 15) / 16;
    size_t b = (size_t)(by * bw + bx);
    return st->age[256 * b + (size_t)(16 * ((y - q->y) % 16) + (x - q->x) % 16)];
}

/* Whether the pixels set in rows (bit c of rows[r]: pixel (x + c, y + r) of the image at
 * data, stride bytes a row) are text-like (TEXT_MAX_COLOURS); with edges_in (a stream whose
 * reference pixels they are), only with an edge to a pixel beside one that stood still too,
 * or as thin strokes on its moving picture (TEXT_STROKE_MIN).  "Moving" is an age under
 * TEXT_PATCH_AGE, which also holds where ages are not counted (blocks of more than 8 colours
 * that did not change, a grown picture's margin): there it errs towards patching early. */
static int text_like(const enc_surface *s, const enc_stream *edges_in, const uint8_t *data,
                     size_t stride, int x, int y, const uint16_t *rows)
{
    uint32_t seen[TEXT_MAX_COLOURS];
    int n = 0, bpp = s->grid.bpp;
    for (int r = 0; r < 16; r++)
        for (unsigned set = rows[r]; set; set &= set - 1) {
            const uint8_t *p = data + (size_t)(y + r) * stride + (size_t)(x + __builtin_ctz(set)) * (size_t)bpp;
            uint32_t v = vd_rl_px(p, bpp) & s->grid.mask;
            int k = 0;
            while (k < n && seen[k] != v)
                k++;
            if (k < n)
                continue;
            if (n == TEXT_MAX_COLOURS)
                return 0;
            seen[n++] = v;
        }
    if (!edges_in)
        return 1;
    static const int step[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
    int pixels = 0, on_moving = 0;
    for (int r = 0; r < 16; r++)
        for (unsigned set = rows[r]; set; set &= set - 1) {
            int px = x + __builtin_ctz(set), py = y + r, moving = 0;
            const uint8_t *p = data + (size_t)py * stride + (size_t)px * (size_t)bpp;
            for (int k = 0; k < 4; k++) {
                int qx = px + step[k][0], qy = py + step[k][1], age = pixel_age(edges_in, qx, qy);
                if (age < 0 ||
                    vd_px_max_channel_diff(p, data + (size_t)qy * stride + (size_t)qx * (size_t)bpp,
                                           bpp) < TEXT_EDGE)
                    continue;
                if (age >= TEXT_PATCH_AGE)
                    return 1;
                moving = 1;
            }
            pixels++;
            on_moving += moving;
        }
    /* One-colour glyphs over a moving picture, without an outline: thin strokes, most of
     * whose pixels lie on a sharp edge to the picture moving around them. */
    return pixels >= TEXT_STROKE_MIN && on_moving * 2 >= pixels;
}

/* Ages the w x h pixels of st's block b at (x, y) by one of its pictures (those set in
 * changed to 0), and sets bp->patch to its lossy pixels that PATCH_AGE pictures left
 * unchanged, or TEXT_PATCH_AGE when those are text-like, if any and *patch_budget allows
 * another block; not early for TEXT_BACKOFF_US after an early patch that did not hold
 * (keep_update()), nor before st->early_wait_until (pick_blocks()). */
static void age_and_patch(enc_surface *s, enc_stream *st, uint32_t b, int x, int y, int w, int h,
                          const uint16_t *changed, int *patch_budget, block_part *bp)
{
    uint8_t *age = st->age + 256 * (size_t)b;
    struct text_hold *hold = &st->text_hold[b];
    uint16_t young[16]; /* lossy pixels still for TEXT_PATCH_AGE */
    int more_young = 0;
    for (int r = 0; r < 16; r++) {
        unsigned stale = 0, still = 0;
        bp->patch[r] = young[r] = 0;
        if (r >= h) /* past the surface's edge */
            continue;
        for (int c = 0; c < w; c++) {
            uint8_t *a = &age[16 * r + c];
            *a = changed[r] >> c & 1 ? 0 : *a < 255 ? *a + 1 : 255;
            stale |= (unsigned)(*a >= PATCH_AGE) << c;
            still |= (unsigned)(*a >= TEXT_PATCH_AGE) << c;
        }
        unsigned lossy = *lossy_word(s, x, y + r);
        bp->patch[r] = (uint16_t)(stale & lossy);
        young[r] = (uint16_t)(still & lossy);
        more_young |= young[r] != bp->patch[r];
    }
    /* (the reference holds their pixels: they did not change) */
    int early = more_young && s->last_t >= hold->backoff_until && s->last_t >= st->early_wait_until &&
                text_like(s, st, s->prev, (size_t)s->grid.width * (size_t)s->grid.bpp, x, y, young);
    if (early)
        memcpy(bp->patch, young, sizeof(young));
    bp->patched = 0;
    for (int r = 0; r < 16; r++)
        bp->patched |= bp->patch[r] != 0;
    if (bp->patched && *patch_budget > 0) {
        --*patch_budget;
        if (early) {
            hold->patched_t = s->last_t;
            memcpy(hold->early, bp->patch, sizeof(hold->early));
        }
    } else if (bp->patched) {
        memset(bp->patch, 0, sizeof(bp->patch));
        bp->patched = 0;
    }
}

/* A set block b of st at (x, y), w x h pixels, and what it shows.  Lossy pixels that have not
 * changed for PATCH_AGE of its pictures (a subtitle that came in with the video's change) are
 * patched: shown exactly, then kept; in at most *patch_budget blocks.  Its kept pixels become
 * the patched ones, those kept before outside its bounds, and those kept within them that are
 * still exact and unchanged; it shows none of them.  Exact pixels that were not kept are not
 * added: the background ahead of a moving edge would cost a keep change each frame as the
 * edge sweeps over it (docs/protocol.md section 10.1). */
static int keep_update(vd_encoder *enc, enc_surface *s, enc_stream *st,
                       uint32_t b, int x, int y, int w, int h, int trust_ref, int *patch_budget,
                       block_part *bp)
{
    vd_box part = vd_box_unpack(bp->bounds);
    uint16_t *keep = st->keep + 16 * (size_t)b, next[16];
    int changed = 0;
    /* The block's last early patch, before this picture's can replace it. */
    struct text_hold *hold = &st->text_hold[b], last_early = *hold;
    if (trust_ref) /* (what lies outside the bounds did not change) */
        age_and_patch(s, st, b, x, y, w, h, bp->changed, patch_budget, bp);
    else {
        memset(bp->patch, 0, sizeof(bp->patch));
        bp->patched = 0;
    }
    int given_back = 0;
    for (int r = 0; r < 16; r++) {
        unsigned in_part = r >= part.y0 && r < part.y1 ? vd_box_cols(part.x0, part.x1) : 0;
        next[r] = (uint16_t)((keep[r] & (~in_part | bp->exact[r])) | bp->patch[r]);
        given_back |= (keep[r] & ~next[r] & last_early.early[r]) != 0;
        changed |= next[r] != keep[r];
        bp->rows[r] &= (uint16_t)~next[r];
        if (bp->patch[r]) { /* exact from this frame */
            *lossy_word(s, x, y + r) &= (uint16_t)~bp->patch[r];
            *patched_word(s, x, y + r) |= bp->patch[r];
        }
    }
    if (given_back && s->last_t - last_early.patched_t < TEXT_HOLD_US)
        hold->backoff_until = s->last_t + TEXT_BACKOFF_US; /* an early patch that did not hold */
    if (!changed)
        return 0;
    int ret = keep_save(enc, st, b);
    if (ret < 0)
        return ret;
    memcpy(keep, next, sizeof(next));
    bp->keep_given = 1;
    return 0;
}

/* An unchanged block b at (x, y), w x h pixels, of a tile that st carries this frame: it is
 * not shown, but its lossy pixels (the box of a subtitle, a HUD's panel, that came in with the
 * video's change and then stood still) age with the stream's pictures and are patched and kept
 * as in a shown block (keep_update()).  Else they would stay lossy for as long as the video
 * around them plays: build-to-lossless waits for the whole tile to stand still.  Only in blocks
 * of few colours (text, a panel): raw pixels are a costly way to send a still part of a natural
 * or rendered scene, which build-to-lossless sends once the scene stops. */
static int keep_still(vd_encoder *enc, enc_surface *s, const vd_frame *f, enc_stream *st,
                      uint32_t b, int x, int y, int w, int h, int *patch_budget, block_part *bp)
{
    static const uint16_t unchanged[16];
    unsigned lossy = 0;
    uint16_t all[16] = {0}; /* the block's pixels */
    bp->patched = bp->keep_given = 0;
    for (int r = 0; r < h; r++) {
        lossy |= *lossy_word(s, x, y + r);
        all[r] = (uint16_t)((1u << w) - 1);
    }
    if (!(lossy & ((1u << w) - 1)) || /* (the ages of exact pixels do not matter) */
        !text_like(s, NULL, f->data, (size_t)f->stride, x, y, all))
        return 0;
    age_and_patch(s, st, b, x, y, w, h, unchanged, patch_budget, bp);
    if (!bp->patched)
        return 0;
    int ret = keep_save(enc, st, b);
    if (ret < 0)
        return ret;
    uint16_t *keep = st->keep + 16 * (size_t)b;
    for (int r = 0; r < h; r++) {
        keep[r] |= bp->patch[r];
        *lossy_word(s, x, y + r) &= (uint16_t)~bp->patch[r];
        *patched_word(s, x, y + r) |= bp->patch[r];
    }
    bp->keep_given = 1;
    return 0;
}

/* For a damaged tile (x, y, w, h) that region q cuts, with changes outside q: whether those
 * changes lie in whole rows above or below q only (a player's controls under its picture, a
 * title bar over a 3D view), so that the stream can carry the part inside while those rows go
 * exactly, as the tile's band (in s->copies[i]).  Columns beside q, two bands, or a tile that
 * copies already cut go whole and exactly. */
static int split_band(enc_surface *s, const vd_frame *f, size_t i, int x, int y, int w, int h,
                      const vd_rect *q)
{
    vd_tile_copy *tc = &s->copies[i];
    int above = q->y > y, below = q->y + q->height < y + h;
    /* The stream's blocks must end at the cut (regions are 16-aligned; hints too). */
    if (tc->vector || tc->band || above == below || (above ? q->y : q->y + q->height) % 16)
        return 0;
    int in0 = VD_MAX(y, q->y), in1 = VD_MIN(y + h, q->y + q->height);
    if (changed_outside(s, f, x, in0, w, in1 - in0, q))
        return 0;
    *tc = (vd_tile_copy){.band = 1,
                         .band_top = (uint8_t)(above ? 0 : in1 - y),
                         .band_bottom = (uint8_t)(above ? y + h - in0 : 0)};
    return 1;
}

/* Pixels of rows [y0, y1) of the w columns from x that differ from the reference. */
static int changed_pixels(const enc_surface *s, const vd_frame *f, int x, int w, int y0, int y1)
{
    size_t bpp = (size_t)s->grid.bpp, ref_stride = (size_t)s->grid.width * bpp;
    int n = 0;
    for (int r = y0; r < y1; r++) {
        const uint8_t *a = f->data + (size_t)r * (size_t)f->stride + (size_t)x * bpp;
        const uint8_t *b = s->prev + (size_t)r * ref_stride + (size_t)x * bpp;
        for (int c = 0; c < w; c++)
            n += pixels_differ(s, a + (size_t)c * bpp, b + (size_t)c * bpp, 1);
    }
    return n;
}

/* Whether most of what changed in a split tile (x, y, w, h) is outside its band: the stream
 * carries most of its change. */
static int mostly_streamed(const enc_surface *s, const vd_frame *f, int x, int y, int w, int h,
                           const vd_tile_copy *band)
{
    int b0 = y + band->band_top, b1 = y + h - band->band_bottom;
    int in_band = changed_pixels(s, f, x, w, b0, b1);
    int streamed = band->band_top ? changed_pixels(s, f, x, w, y, b0)
                                  : changed_pixels(s, f, x, w, b1, y + h);
    return streamed > in_band;
}

/* Packs a picked stream frame's side data (mask..., pk->side_size bytes at the end of
 * enc->stream_masks) where that makes it smaller, and takes it into enc->stream_masks. */
static int pack_side(vd_encoder *enc, stream_pick *pk, uint8_t *mask)
{
    /* Masks are runs of set or clear bits (a video sets every block, and few are partial):
     * LZ4 packs them to a few bytes (vdbench video: 5 % of the stream's bytes).  Bounds and
     * cuts pack less. */
    int bound = LZ4_compressBound((int)pk->side_size);
    uint8_t *packed = vd_buf_reserve(&enc->packed_side, 4 + (size_t)bound);
    if (!packed)
        return VD_ERR(ENOMEM);
    int n = LZ4_compress_default((const char *)mask, (char *)packed + 4, (int)pk->side_size, bound);
    if (n > 0 && 4 + (uint32_t)n < pk->side_size) {
        vd_wl32(packed, (uint32_t)n);
        memcpy(mask, packed, 4 + (size_t)n);
        pk->side_size = 4 + (uint32_t)n;
        pk->flags |= VD_STREAM_FRAME_PACKED;
    }
    enc->stream_masks.size += pk->side_size;
    return 0;
}

/* The preview's frame: every block of its tiles that no other stream took (see
 * open_preview()); they become lossy on the client.  Returns as pick_blocks() does. */
static int preview_pick(vd_encoder *enc, enc_surface *s, const enc_stream *st, uint32_t n_tiles,
                        stream_pick *pk)
{
    const vd_tile_grid *g = &s->grid;
    const vd_rect *pic = &st->rect;
    int bw = (pic->width + 15) / 16, bh = (pic->height + 15) / 16;
    uint32_t mask_size = (uint32_t)(bw * bh + 7) / 8;
    /* The mask, then the partial mask: no block is partial. */
    uint8_t *mask = vd_buf_reserve(&enc->stream_masks, 2 * (size_t)mask_size);
    if (!mask)
        return VD_ERR(ENOMEM);
    memset(mask, 0, 2 * (size_t)mask_size);
    int any = 0;
    for (uint32_t k = 0; k < n_tiles; k++) {
        size_t i = s->candidates[k];
        if (s->state[i] != VD_TILE_DIRTY)
            continue;
        int x = (int)(i % (size_t)g->cols) * 64, y = (int)(i / (size_t)g->cols) * 64;
        int w = VD_MIN(64, g->width - x), h = VD_MIN(64, g->height - y);
        for (int by = 0; by < h; by += 16)
            for (int bx = 0; bx < w; bx += 16) {
                int b = (y + by - pic->y) / 16 * bw + (x + bx - pic->x) / 16;
                mask[b / 8] |= (uint8_t)(1u << (b % 8));
                uint16_t cols = (uint16_t)((1u << VD_MIN(16, w - bx)) - 1);
                for (int r = 0; r < VD_MIN(16, h - by); r++) {
                    *lossy_word(s, x + bx, y + by + r) |= cols;
                    *patched_word(s, x + bx, y + by + r) &= (uint16_t)~cols;
                }
            }
        s->state[i] = VD_TILE_VIDEO;
        s->previewed[i] = 1;
        s->has_previewed = any = 1;
    }
    if (!any)
        return 0;
    *pk = (stream_pick){0, enc->stream_masks.size, mask_size, 2 * mask_size, 0, enc->keep_undo.size, 0, 0};
    int ret = pack_side(enc, pk, mask);
    return ret < 0 ? ret : 1;
}

/* Picks the damaged tiles of st's region that go through it; those become VD_TILE_VIDEO (lossy
 * on the client).  A tile the region only cuts goes through the stream only when nothing
 * changed outside the region (its outside stays exact on the client), or as VD_TILE_SPLIT when
 * what changed outside is rows above or below the region (split_band()); otherwise it stays
 * lossless, so text beside a video never goes through it.  Returns 1 with *pk set (but its k)
 * when the stream codes this frame, 0 when not, or VD_ERR(ENOMEM). */
static int pick_blocks(vd_encoder *enc, enc_surface *s, const vd_frame *f, enc_stream *st,
                       int trust_ref, stream_pick *pk)
{
    const vd_tile_grid *g = &s->grid;
    /* Tiles are chosen by the region; blocks are counted in the picture. */
    const vd_rect *q = &st->region, *pic = &st->rect;
    int bw = (pic->width + 15) / 16, bh = (pic->height + 15) / 16;
    uint32_t mask_size = (uint32_t)(bw * bh + 7) / 8;
    size_t blocks = (size_t)(bw * bh);
    size_t side_max = vd_wire_stream_side_max(mask_size, blocks, g->bpp);
    uint8_t *mask = vd_buf_reserve(&enc->stream_masks, side_max);
    block_part *parts = (block_part *)(void *)vd_buf_reserve(&enc->block_parts,
                                                             sizeof(*parts) * blocks + mask_size);
    if (!mask || !parts)
        return VD_ERR(ENOMEM);
    uint8_t *still = (uint8_t *)(parts + blocks); /* blocks keep_still() patched, as mask */
    memset(mask, 0, mask_size);
    memset(still, 0, mask_size);
    int any = 0, any_cut = 0, any_keep = 0, any_patch = 0, ret;
    int patch_budget = VD_STREAM_FRAME_MAX_PATCHED;
    uint32_t n_partial = 0;
    size_t undo_at = enc->keep_undo.size;
    int keep_reset_now = st->need_key || st->keep_reset_due;
    if (vd_video_encoder_side_rate(st->video) * 100 >= st->bitrate * EARLY_PATCH_MAX_SIDE_PCT)
        st->early_wait_until = s->last_t + EARLY_PATCH_WAIT_US; /* (see TEXT_PATCH_AGE) */
    if (keep_reset_now)
        keep_forget(s, st);
    for (int ty = q->y / 64; ty <= (q->y + q->height - 1) / 64; ty++) {
        for (int tx = q->x / 64; tx <= (q->x + q->width - 1) / 64; tx++) {
            int x = tx * 64, y = ty * 64;
            int w = VD_MIN(64, g->width - x), h = VD_MIN(64, g->height - y);
            size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
            if (s->state[i] != VD_TILE_DIRTY || vd_classifier_hinted_text(s->classifier, i))
                continue;
            int inside = x >= q->x && y >= q->y && x + w <= q->x + q->width &&
                         y + h <= q->y + q->height;
            /* On a frame that (re)creates the surface the reference is not what the client
             * has (trust_ref is 0): cut tiles go exactly, and every block is shown. */
            if (!inside && !trust_ref)
                continue;
            int split = !inside && changed_outside(s, f, x, y, w, h, q);
            if (split && !split_band(s, f, i, x, y, w, h, q))
                continue;
            int marked = 0;
            /* The blocks of the tile inside the region (16-aligned, inside the picture) that
             * changed: an unchanged block (a caption, a HUD, a letterbox bar) keeps its
             * exact pixels on the client. */
            int x0 = VD_MAX(x, q->x) - pic->x, x1 = VD_MIN(x + w, q->x + q->width) - pic->x;
            int y0 = VD_MAX(y, q->y) - pic->y, y1 = VD_MIN(y + h, q->y + q->height) - pic->y;
            for (int by = y0 / 16; by < (y1 + 15) / 16; by++)
                for (int bx = x0 / 16; bx < (x1 + 15) / 16; bx++) {
                    int b = by * bw + bx, px = pic->x + bx * 16, py = pic->y + by * 16;
                    int w16 = VD_MIN(16, pic->x + pic->width - px);
                    int h16 = VD_MIN(16, pic->y + pic->height - py);
                    uint16_t bb =
                        trust_ref ? block_bounds(s, f, px, py) : vd_box_pack(0, 0, w16, h16);
                    if (bb == NO_BOX) {
                        if ((ret = keep_still(enc, s, f, st, (uint32_t)b, px, py, w16, h16,
                                              &patch_budget, &parts[b])) < 0)
                            return ret;
                        if (parts[b].patched) {
                            still[b / 8] |= (uint8_t)(1u << (b % 8));
                            any_keep = any_patch = 1;
                        }
                        continue;
                    }
                    bb = widen_bounds(s, px, py, w16, h16, bb);
                    mask[b / 8] |= (uint8_t)(1u << (b % 8));
                    block_part *bp = &parts[b];
                    block_part_find(s, f, px, py, w16, h16, bb, trust_ref, bp);
                    if ((ret = keep_update(enc, s, st, (uint32_t)b, px, py, w16, h16, trust_ref,
                                           &patch_budget, bp)) < 0)
                        return ret;
                    any_keep |= bp->keep_given;
                    any_patch |= bp->patched;
                    for (int r = 0; r < h16; r++) {
                        *lossy_word(s, px, py + r) |= bp->rows[r];
                        *patched_word(s, px, py + r) &= (uint16_t)~bp->rows[r];
                    }
                    n_partial += bp->partial;
                    any_cut |= bp->n_cuts != 0;
                    marked = 1;
                }
            if (split && !marked) { /* all of its change is outside: it goes whole */
                s->copies[i].band = 0;
                continue;
            }
            s->state[i] = split ? VD_TILE_SPLIT : VD_TILE_VIDEO;
            any = 1;
            if (split && mostly_streamed(s, f, x, y, w, h, &s->copies[i]))
                vd_classifier_set_tile_class(s->classifier, i, (enum vd_content)st->content);
        }
    }
    uint32_t n_undo = (uint32_t)((enc->keep_undo.size - undo_at) / sizeof(keep_undo));
    if (!any) { /* no frame: the client hears of nothing */
        keep_restore(enc, st, undo_at, n_undo);
        enc->keep_undo.size = undo_at;
        return 0;
    }
    /* The partial mask and the bounds of the partial blocks in raster order; then, if some
     * leave rectangles out, a bit per partial block for those that do, and their cuts. */
    uint8_t *partial = mask + mask_size, *bounds = partial + mask_size;
    uint8_t *cuts = any_cut ? bounds + 2 * n_partial : NULL;
    uint8_t *out = cuts ? cuts + (n_partial + 7) / 8 : bounds + 2 * n_partial;
    memset(partial, 0, mask_size);
    if (cuts)
        memset(cuts, 0, (n_partial + 7) / 8);
    for (size_t b = 0, i = 0; b < blocks; b++) {
        const block_part *bp = &parts[b];
        if (!(mask[b / 8] & (1u << (b % 8))) || !bp->partial)
            continue;
        partial[b / 8] |= (uint8_t)(1u << (b % 8));
        vd_wl16(bounds + 2 * i, bp->bounds);
        if (bp->n_cuts) {
            cuts[i / 8] |= (uint8_t)(1u << (i % 8));
            *out++ = bp->n_cuts;
            for (int k = 0; k < bp->n_cuts; k++, out += 2)
                vd_wl16(out, bp->cuts[k]);
        }
        i++;
    }
    /* The client clears what it kept (KEEP_RESET): what stays kept is given again. */
    for (size_t b = 0; keep_reset_now && !any_keep && b < blocks; b++)
        any_keep = keeps_any(st, b);
    if (any_keep) { /* the blocks whose kept pixels changed, and those pixels */
        uint8_t *given = out;
        memset(given, 0, mask_size);
        out += mask_size;
        for (size_t b = 0; b < blocks; b++) {
            if (keep_reset_now ? !keeps_any(st, b)
                               : !((mask[b / 8] | still[b / 8]) & (1u << (b % 8))) ||
                                     !parts[b].keep_given)
                continue;
            given[b / 8] |= (uint8_t)(1u << (b % 8));
            for (int r = 0; r < 16; r++, out += 2)
                vd_wl16(out, st->keep[16 * b + (size_t)r]);
        }
    }
    uint32_t pixels_patched = 0;
    if (any_patch) { /* the blocks with pixels patched, which those are, and their values */
        uint8_t *given = out;
        memset(given, 0, mask_size);
        out += mask_size;
        size_t bpp = (size_t)g->bpp;
        int set_x = vd_format_has_x(s->format);
        for (size_t b = 0; b < blocks; b++) {
            const block_part *bp = &parts[b];
            if (!((mask[b / 8] | still[b / 8]) & (1u << (b % 8))) || !bp->patched)
                continue;
            given[b / 8] |= (uint8_t)(1u << (b % 8));
            for (int r = 0; r < 16; r++, out += 2) {
                vd_wl16(out, bp->patch[r]);
                pixels_patched += (uint32_t)__builtin_popcount(bp->patch[r]);
            }
            int px = pic->x + (int)(b % (size_t)bw) * 16, py = pic->y + (int)(b / (size_t)bw) * 16;
            for (int r = 0; r < 16; r++)
                for (unsigned set = bp->patch[r]; set; set &= set - 1, out += bpp) {
                    memcpy(out,
                           f->data + (size_t)(py + r) * (size_t)f->stride +
                               (size_t)(px + __builtin_ctz(set)) * bpp,
                           bpp);
                    if (set_x) /* as every pixel it sends (docs/protocol.md section 8) */
                        out[3] = 0xff;
                }
        }
    }
    uint32_t side = (uint32_t)(out - mask);
    *pk = (stream_pick){0, enc->stream_masks.size, mask_size, side,
                        (uint8_t)((cuts ? VD_STREAM_FRAME_CUTS : 0) |
                                  (any_keep ? VD_STREAM_FRAME_KEEP : 0) |
                                  (any_patch ? VD_STREAM_FRAME_PATCH : 0) |
                                  (keep_reset_now ? VD_STREAM_FRAME_KEEP_RESET : 0)),
                        undo_at, n_undo, pixels_patched};
    if ((ret = pack_side(enc, pk, mask)) < 0)
        return ret;
    return 1;
}

/* Codes a picked stream's picture, from yuv's planes (converted on the GPU) or else from the
 * frame, and puts its frames out. */
static int code_stream(vd_encoder *enc, enc_surface *s, const vd_frame *f, const stream_pick *pk,
                       const vd_gpu_yuv_job *yuv)
{
    const vd_tile_grid *g = &s->grid;
    enc_stream *st = &s->streams[pk->k];
    const vd_rect *pic = &st->rect;
    uint64_t t0 = vd_now_ns();
    enc->video_out.size = 0;
    vd_video_packet pkts[VD_VIDEO_MAX_PACKETS];
    int n_pkts, ret;
    if (yuv) {
        const uint8_t *planes[3] = {yuv->planes[0], yuv->planes[1], yuv->planes[2]};
        ret = vd_video_encode_yuv(st->video, yuv->layout, planes, yuv->strides, s->last_t,
                                  st->need_key, &enc->video_out, pkts, &n_pkts);
    } else {
        const uint8_t *src = f->data + (size_t)pic->y * (size_t)f->stride + (size_t)pic->x * (size_t)g->bpp;
        ret = vd_video_encode(st->video, src, (size_t)f->stride, s->format, s->last_t,
                              st->need_key, &enc->video_out, pkts, &n_pkts);
    }
    if (ret < 0)
        return ret;
    enc->stats.video_ns += vd_now_ns() - t0;
    enc->stats.video_pictures++;
    enc->stats.video_pictures_hw += vd_video_encoder_backend(st->video) != VD_VIDEO_BACKEND_SOFTWARE;
    if (!st->preview) /* (a preview has no rate to keep) */
        enc->stats.video_budget += (uint32_t)VD_MIN(vd_video_encoder_allowed_bits(st->video) / 8,
                                                    (int64_t)UINT32_MAX - enc->stats.video_budget);
    enc->yuv.convert_ns += vd_video_encoder_convert_ns(st->video);
    enc->yuv.gpu_pictures += yuv != NULL;
    if (!n_pkts) {
        /* The encoder held the picture back (an AV1 pipeline): the region's tiles go exactly
         * this time, as the client cannot be told to wait.  Whole, not as differences: an
         * overlapping region's stream may have shown lossy blocks of them in this frame.  The
         * client keeps the pixels it kept. */
        keep_restore(enc, st, pk->undo_at, pk->n_undo);
        const vd_rect *q = &st->region;
        for (int ty = q->y / 64; ty <= (q->y + q->height - 1) / 64; ty++)
            for (int tx = q->x / 64; tx <= (q->x + q->width - 1) / 64; tx++) {
                size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
                /* (a preview's box may hold tiles other streams showed) */
                if (streamed(s->state[i]) && (!st->preview || s->previewed[i])) {
                    s->previewed[i] = 0;
                    if (s->state[i] == VD_TILE_SPLIT) /* all of it goes now, not its band */
                        s->copies[i].band = 0;
                    s->state[i] = VD_TILE_DIRTY;
                    s->lossy[i] = 1;
                    vd_classifier_set_tile_class(s->classifier, i, VD_CONTENT_TEXT);
                }
            }
        return 0;
    }
    st->shown_t = s->last_t;
    st->shown = 1;
    enc->stats.pixels_patched += pk->pixels_patched;
    /* One message per coded picture: the decoder takes one at a time.  Every one shows the
     * same blocks, the newest last. */
    const uint8_t *side = enc->stream_masks.data + pk->at;
    if (pk->flags & VD_STREAM_FRAME_KEEP_RESET)
        st->keep_reset_due = 0;
    for (int p = 0; p < n_pkts; p++) {
        if (pkts[p].key) {
            st->need_key = 0;
            enc->stats.video_keys++;
            st->keep_reset_due |= !(pk->flags & VD_STREAM_FRAME_KEEP_RESET);
        }
        uint8_t flags = (uint8_t)((pkts[p].key ? VD_STREAM_FRAME_KEY : 0) | pk->flags);
        vd_msg_stream_frame sf = {st->id, flags, pk->mask_size, side, pk->side_size,
                                  enc->video_out.data + pkts[p].offset, (uint32_t)pkts[p].size};
        size_t before = enc->out.size;
        if ((ret = vd_wire_put_stream_frame(&enc->out, &sf)) < 0 ||
            (ret = maybe_cut_packet(enc, s->id, f->pts_us)) < 0)
            return ret;
        enc->stats.video_bytes += enc->out.size - before;
    }
    vd_video_encoder_count_side(st->video, (size_t)n_pkts * pk->side_size);
    return 0;
}

static int gpu_convert(vd_encoder *enc, enc_surface *s, const stream_pick *picks, unsigned n,
                       vd_gpu_yuv_job *jobs);

/* Codes each stream's frame over the damaged tiles of its region.  on_gpu: the device holds
 * this frame (gpu_scan() took it), so the pictures are converted there, all in one call. */
static int encode_streams(vd_encoder *enc, enc_surface *s, const vd_frame *f, int trust_ref,
                          int on_gpu, uint32_t n_preview)
{
    stream_pick picks[MAX_STREAMS];
    vd_gpu_yuv_job jobs[MAX_STREAMS];
    unsigned n = 0;
    int ret;
    enc->stream_masks.size = 0;
    enc->keep_undo.size = 0;
    for (unsigned k = 0; k < s->n_streams; k++) {
        enc_stream *st = &s->streams[k];
        ret = st->preview ? preview_pick(enc, s, st, n_preview, &picks[n])
                          : pick_blocks(enc, s, f, st, trust_ref, &picks[n]);
        if (ret < 0)
            return ret;
        if (ret)
            picks[n++].k = k;
    }
    int yuv = n && on_gpu && gpu_convert(enc, s, picks, n, jobs);
    for (unsigned i = 0; i < n; i++)
        if ((ret = code_stream(enc, s, f, &picks[i], yuv ? &jobs[i] : NULL)) < 0)
            return ret;
    /* A preview's one picture is coded: its encoder (x264's state, 29 MB at 1080p; a hardware
     * session) goes now, not with the STREAM_DESTROY of the surface's next frame. */
    for (unsigned k = 0; k < s->n_streams; k++)
        if (s->streams[k].preview)
            vd_video_encoder_free(&s->streams[k].video);
    return 0;
}

/* How long lossy tile i must have been still to be refreshed: VD_LOSSLESS_AFTER_MS, or
 * longer for a tile that keeps coming back while a stream over it plays (see above). */
static int64_t refresh_wait_us(const enc_surface *s, size_t i, int64_t t)
{
    int64_t wait = VD_LOSSLESS_AFTER_MS * 1000;
    if (!s->refreshed[i].churn)
        return wait;
    int x = (int)(i % (size_t)s->grid.cols) * 64, y = (int)(i / (size_t)s->grid.cols) * 64;
    for (unsigned k = 0; k < s->n_streams; k++) {
        const enc_stream *st = &s->streams[k];
        if (st->shown && t - st->shown_t < wait && rects_overlap(st->region, (vd_rect){x, y, 64, 64}))
            return VD_MAX(wait, VD_MIN(REFRESH_CHURN_WAIT_US, REFRESH_BOUND_US - s->interval_us));
    }
    return wait;
}

/* Build-to-lossless: lossy tiles that have not changed for refresh_wait_us(), or that no
 * stream covers any more, are sent again exactly, nearest the cursor first. */
static uint32_t schedule_refresh(enc_surface *s, const vd_frame *f)
{
    const vd_tile_grid *g = &s->grid;
    size_t n_tiles = (size_t)g->cols * (size_t)g->rows, n = 0;
    int64_t t = s->last_t;
    for (size_t i = 0; i < n_tiles; i++) {
        struct tile_refresh *rf = &s->refreshed[i];
        if (s->state[i] == VD_TILE_DIRTY) /* goes exactly this frame */
            *rf = (struct tile_refresh){0};
        if (streamed(s->state[i]) && rf->since) { /* lossy again since its refresh */
            rf->churn = t - rf->t < REFRESH_CHURN_US;
            rf->since = 0;
        }
        if (s->state[i] == VD_TILE_DIRTY || streamed(s->state[i]))
            s->last_damage[i] = t;
        else if (s->lossy[i] && t - s->last_damage[i] >= refresh_wait_us(s, i, t))
            s->candidates[n++] = (uint32_t)i;
    }
    if (n > REFRESH_TILES_PER_FRAME) {
        /* Nearest the cursor first: a partial selection by squared distance. */
        int cx = f->cursor.x + f->cursor.width / 2, cy = f->cursor.y + f->cursor.height / 2;
        for (size_t a = 0; a < REFRESH_TILES_PER_FRAME; a++) {
            size_t best = a;
            int64_t best_d = INT64_MAX;
            for (size_t b = a; b < n; b++) {
                int64_t dx = (int64_t)(s->candidates[b] % (size_t)g->cols) * 64 + 32 - cx;
                int64_t dy = (int64_t)(s->candidates[b] / (size_t)g->cols) * 64 + 32 - cy;
                if (dx * dx + dy * dy < best_d) {
                    best_d = dx * dx + dy * dy;
                    best = b;
                }
            }
            uint32_t tmp = s->candidates[a];
            s->candidates[a] = s->candidates[best];
            s->candidates[best] = tmp;
        }
        n = REFRESH_TILES_PER_FRAME;
    }
    for (size_t k = 0; k < n; k++) { /* encode_tiles() clears their lossy flags */
        s->state[s->candidates[k]] = VD_TILE_DIRTY;
        struct tile_refresh *rf = &s->refreshed[s->candidates[k]];
        rf->t = t;
        rf->since = 1;
    }
    return (uint32_t)n;
}

/* Copies w x h pixels at (x, y) of the frame into the reference (what the client now has). */
static void update_reference(enc_surface *s, const vd_frame *f, int x, int y, int w, int h)
{
    size_t bpp = (size_t)s->grid.bpp, ref_stride = (size_t)s->grid.width * bpp;
    vd_copy_rows(s->prev + (size_t)y * ref_stride + (size_t)x * bpp, ref_stride,
                 f->data + (size_t)y * (size_t)f->stride + (size_t)x * bpp, (size_t)f->stride,
                 (size_t)w * bpp, (size_t)h);
    if (s->gpu) /* the device reference follows (from the frame it holds) at the next scan */
        vd_gpu_surface_record(s->gpu, x, y, w, h);
}

/* Damaged tiles the client can copy from what it shows (scrolled or moved content) go out as
 * COPY messages, a run of adjacent tiles with the same motion per message, and are clean
 * from then on.  Runs before classification, so scrolling is not mistaken for video. */
static int send_copies(vd_encoder *enc, enc_surface *s, const vd_frame *f)
{
    const vd_tile_grid *g = &s->grid;
    vd_motion_vector vec[VD_MOTION_MAX_VECTORS];
    int n = vd_motion_find(&enc->dsp, g, f->data, (size_t)f->stride, s->prev,
                           (size_t)g->width * (size_t)g->bpp, s->state, s->lossy,
                           vd_classifier_tile_classes(s->classifier), s->copies, vec);
    if (!n)
        return 0;
    for (int ty = 0; ty < g->rows; ty++) {
        const vd_tile_copy *tc = s->copies + (size_t)ty * (size_t)g->cols;
        for (int tx = 0; tx < g->cols; tx++) {
            if (!tc[tx].vector)
                continue;
            int x = tx * 64, y = ty * 64, h = VD_MIN(64, g->height - y);
            /* Whole tiles moved alike go as one run; other copies tile by tile. */
            int whole = tc[tx].part[0].width == VD_MIN(64, g->width - x) && tc[tx].part[0].height == h;
            int count = 1;
            while (whole && tx + count < g->cols && tc[tx + count].vector == tc[tx].vector &&
                   tc[tx + count].part[0].width == VD_MIN(64, g->width - (tx + count) * 64) &&
                   tc[tx + count].part[0].height == h)
                count++;
            vd_motion_vector v = vec[tc[tx].vector - 1];
            vd_rect parts[2] = {tc[tx].part[0], tc[tx].part[1]};
            if (whole)
                parts[0].width = VD_MIN(64 * count, g->width - x);
            for (int k = 0; k < 2; k++) {
                const vd_rect *r = &parts[k];
                if (!r->width)
                    continue;
                vd_msg_copy c = {s->id, (uint32_t)(r->x + v.dx), (uint32_t)(r->y + v.dy), (uint32_t)r->x,
                                 (uint32_t)r->y, (uint32_t)r->width, (uint32_t)r->height};
                int ret = vd_wire_put_copy(&enc->out, &c);
                if (ret < 0)
                    return ret;
                /* The client's copy equals these pixels (checked, from exact tiles), so the
                 * reference takes them. */
                update_reference(s, f, r->x, r->y, r->width, r->height);
                mark_exact(s, r->x, r->y, r->width, r->height);
            }
            size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
            if (!tc[tx].band) /* else the band's rows still go out as a TILE */
                memset(s->state + i, VD_TILE_CANDIDATE, (size_t)count);
            if (whole) /* a partial copy leaves the rest of the tile as the client had it */
                memset(s->lossy + i, 0, (size_t)count);
            enc->stats.tiles_copied += (uint32_t)count;
            tx += count - 1;
        }
    }
    return 0;
}

/* After a GPU failure: everything GPU-side goes, and the encoder stays on the CPU path.  s may
 * be a surface not yet in the list (its first frame). */
static void gpu_disable(vd_encoder *enc, enc_surface *s)
{
    vd_gpu_surface_free(enc->gpu, &s->gpu);
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        vd_gpu_surface_free(enc->gpu, &enc->surfaces[i]->gpu);
    vd_gpu_free(&enc->gpu);
}

/* What gpu_scan() did. */
enum { GPU_SCAN_NONE, GPU_SCAN_MASK, GPU_SCAN_STATS };

/* The damage scan on the GPU when there is one: GPU_SCAN_NONE when the caller must run
 * vd_damage_scan() (no GPU, a surface too large, or a failure just now), GPU_SCAN_STATS when
 * the damaged tiles' statistics came with the mask (see classify_frame()). */
static int gpu_scan(vd_encoder *enc, enc_surface *s, const vd_frame *f)
{
    if (!enc->gpu || s->gpu_unfit)
        return GPU_SCAN_NONE;
    if (!s->gpu) {
        if (vd_gpu_surface_new(enc->gpu, &s->grid, &s->gpu) < 0) {
            gpu_disable(enc, s);
            return GPU_SCAN_NONE;
        }
        if (!s->gpu) {
            s->gpu_unfit = 1;
            return GPU_SCAN_NONE;
        }
    }
    vd_rect cursor = cursor_skip(s, f);
    int ret = vd_gpu_damage_scan(enc->gpu, s->gpu, f->data, (size_t)f->stride, f->dmabuf, s->prev,
                                 s->state, &cursor, s->tile_stats);
    if (ret < 0) {
        gpu_disable(enc, s);
        return GPU_SCAN_NONE;
    }
    return ret ? GPU_SCAN_STATS : GPU_SCAN_MASK;
}

/* The picked streams' pictures to YUV on the GPU, which holds this frame: one vd_gpu_convert()
 * into the streams' planes, in the layouts their encoders take, described by jobs.  Returns 1,
 * or 0 when the CPU converts them this time: a refusal (2-byte pixels) or an allocation
 * failure, silently; a failed context, after which the GPU is off as in gpu_scan(). */
/* A stream picture's planes in the encoder's plane buffer: the luma and chroma strides,
 * whole words so that the device may write the planes where they are, and the bytes of all
 * planes (the picture's size is even). */
static size_t picture_planes(const enc_stream *st, int *luma_stride, int *chroma_stride)
{
    int nv12 = vd_video_encoder_layout(st->video) == VD_YUV_NV12;
    *luma_stride = VD_ALIGN(st->rect.width, 4);
    *chroma_stride = nv12 ? *luma_stride : VD_ALIGN(st->rect.width / 2, 4);
    return (size_t)*luma_stride * (size_t)st->rect.height +
           (size_t)*chroma_stride * (size_t)(st->rect.height / 2) * (nv12 ? 1 : 2);
}

static int gpu_convert(vd_encoder *enc, enc_surface *s, const stream_pick *picks, unsigned n,
                       vd_gpu_yuv_job *jobs)
{
    size_t size = 0;
    int ys, cs;
    for (unsigned i = 0; i < n; i++)
        size += picture_planes(&s->streams[picks[i].k], &ys, &cs);
    if (size > enc->planes_size) {
        if (enc->planes)
            vd_gpu_unregister(enc->gpu, enc->planes);
        free(enc->planes);
        enc->planes_size = VD_ALIGN(size + size / 4, 4096);
        if (!(enc->planes = aligned_alloc(4096, enc->planes_size))) {
            enc->planes_size = 0;
            return 0;
        }
        /* Where the device cannot, the planes are read back into the buffer instead. */
        vd_gpu_register(enc->gpu, enc->planes, enc->planes_size, 1);
    }
    uint8_t *p = enc->planes;
    for (unsigned i = 0; i < n; i++) {
        const enc_stream *st = &s->streams[picks[i].k];
        size_t bytes = picture_planes(st, &ys, &cs);
        vd_yuv_layout layout = vd_video_encoder_layout(st->video);
        int nv12 = layout == VD_YUV_NV12;
        uint8_t *u = p + (size_t)ys * (size_t)st->rect.height;
        uint8_t *v = u + (size_t)cs * (size_t)(st->rect.height / 2);
        jobs[i] = (vd_gpu_yuv_job){st->rect, layout, {p, u, nv12 ? NULL : v}, {ys, cs, nv12 ? 0 : cs}};
        p += bytes;
    }
    uint64_t t0 = vd_now_ns();
    int ret = vd_gpu_convert(enc->gpu, s->gpu, s->format, jobs, n);
    uint64_t dt = vd_now_ns() - t0;
    enc->stats.video_ns += dt;
    enc->yuv.convert_ns += dt;
    if (ret < 0 && ret != VD_ERR(ENOTSUP) && ret != VD_ERR(ESTALE) && ret != VD_ERR(EINVAL))
        gpu_disable(enc, s);
    if (ret == 0) {
        vd_gpu_times t;
        vd_gpu_get_times(enc->gpu, &t);
        enc->yuv.in_place_pictures += t.convert_in_place ? n : 0;
    }
    return ret == 0;
}

vd_gpu *vd_encoder_gpu(const vd_encoder *enc) { return enc->gpu; }

void vd_encoder_get_yuv_stats(const vd_encoder *enc, vd_encoder_yuv_stats *stats)
{
    *stats = enc->yuv;
}

const vd_tile_stats *vd_encoder_tile_stats(const vd_encoder *enc, uint32_t surface_id)
{
    const enc_surface *s = find_surface(enc, surface_id, NULL);
    return s ? s->tile_stats : NULL;
}

/* Whether damaged tile i goes as its difference to what the client shows, whose unchanged
 * pixels become zeros (a window's edge moving over a photo, a caret, a progress bar): where
 * the client shows the reference exactly and little of the tile changed. */
static int delta_tile(const enc_surface *s, size_t i, int trust_ref)
{
    const vd_tile_stats *st = &s->tile_stats[i];
    return trust_ref && !s->lossy[i] && s->tile_seq[i] >= s->sure_from &&
           (uint64_t)st->changed * 100 < (uint64_t)st->pixels * DELTA_MAX_CHANGED_PCT &&
           (uint64_t)st->smooth * 100 >= (uint64_t)st->pairs * DELTA_MIN_SMOOTH_PCT && st->pairs;
}

/* The w x h run at (x, y) less the reference, byte by byte (modulo 256), as packed rows. */
static const uint8_t *delta_pixels(vd_encoder *enc, const enc_surface *s, const vd_frame *f,
                                   int x, int y, int w, int h)
{
    size_t bpp = (size_t)s->grid.bpp, row = (size_t)w * bpp, ref_stride = (size_t)s->grid.width * bpp;
    enc->delta.size = 0;
    uint8_t *out = vd_buf_reserve(&enc->delta, row * (size_t)h);
    if (!out)
        return NULL;
    for (int r = 0; r < h; r++) {
        const uint8_t *a = f->data + (size_t)(y + r) * (size_t)f->stride + (size_t)x * bpp;
        const uint8_t *b = s->prev + (size_t)(y + r) * ref_stride + (size_t)x * bpp;
        uint8_t *o = out + (size_t)r * row;
        for (size_t k = 0; k < row; k++)
            o[k] = (uint8_t)(a[k] - b[k]);
    }
    return out;
}

static int encode_tiles(vd_encoder *enc, enc_surface *s, const vd_frame *f, int trust_ref,
                        vd_tile_counts *counts)
{
    const vd_tile_grid *g = &s->grid;
    int set_x = vd_format_has_x(s->format);
    for (int ty = 0; ty < g->rows; ty++) {
        const uint8_t *row_state = s->state + (size_t)ty * (size_t)g->cols;
        for (int tx = 0; tx < g->cols; tx++) {
            if (row_state[tx] == VD_TILE_VIDEO) { /* sent by its stream; the reference follows */
                update_reference(s, f, tx * 64, ty * 64, VD_MIN(64, g->width - tx * 64),
                                 VD_MIN(64, g->height - ty * 64));
                s->lossy[(size_t)ty * (size_t)g->cols + (size_t)tx] = 1;
                enc->stats.tiles_streamed++;
                continue;
            }
            uint8_t kind = row_state[tx];
            if (kind != VD_TILE_DIRTY && kind != VD_TILE_SPLIT)
                continue;
            /* A run shares its kind, its band of rows (all of the tile row, or what copies or
             * a region's edge left) and whether it goes as differences. */
            const vd_tile_copy *tc = s->copies + (size_t)ty * (size_t)g->cols;
            size_t first = (size_t)ty * (size_t)g->cols + (size_t)tx;
            int top = tc[tx].band ? tc[tx].band_top : 0, bottom = tc[tx].band ? tc[tx].band_bottom : 0;
            int delta = delta_tile(s, first, trust_ref);
            int count = 1;
            while (count < VD_TILE_RUN_MAX && tx + count < g->cols &&
                   row_state[tx + count] == kind &&
                   (tc[tx + count].band ? tc[tx + count].band_top : 0) == top &&
                   (tc[tx + count].band ? tc[tx + count].band_bottom : 0) == bottom &&
                   delta_tile(s, first + (size_t)count, trust_ref) == delta)
                count++;
            int x = tx * 64, y = ty * 64 + top;
            int w = VD_MIN(64 * count, g->width - x), h = VD_MIN(64, g->height - ty * 64) - top - bottom;
            if (kind == VD_TILE_SPLIT) {
                /* The stream showed the rows inside the region, on one side of the band: they
                 * are lossy, and the reference takes them (the band's, after its differences). */
                update_reference(s, f, x, top ? ty * 64 : y + h, w, top + bottom);
                memset(s->lossy + first, 1, (size_t)count);
                enc->stats.tiles_streamed += (uint32_t)count;
            } else {
                memset(s->lossy + first, 0, (size_t)count); /* sent exactly now */
            }
            const uint8_t *src = f->data + (size_t)y * (size_t)f->stride + (size_t)x * (size_t)g->bpp;
            size_t src_stride = (size_t)f->stride;
            uint64_t t0 = vd_now_ns();
            if (delta) { /* before the reference takes the new pixels */
                if (!(src = delta_pixels(enc, s, f, x, y, w, h)))
                    return VD_ERR(ENOMEM);
                src_stride = (size_t)w * (size_t)g->bpp;
                enc->stats.tiles_delta += (uint32_t)count;
            }
            update_reference(s, f, x, y, w, h);
            mark_exact(s, x, y, w, h);

            uint8_t *payload = vd_wire_begin_tile(&enc->out, s->id, (uint16_t)tx, (uint16_t)ty,
                                                  (uint8_t)count, (uint8_t)top, (uint8_t)bottom,
                                                  vd_tile_max_payload(w, h, g->bpp));
            if (!payload)
                return VD_ERR(ENOMEM);
            uint8_t encoding;
            /* Differences stay out of the cache: they are not what the client shows. */
            size_t n = vd_tile_encode(enc->tiles, delta ? NULL : enc->cache, src, src_stride, w, h,
                                      g->bpp, set_x, payload, &encoding, counts);
            vd_wire_end_tile(&enc->out, (uint8_t)(encoding | (delta ? VD_TILE_BULK_DELTA : 0)), n);
            enc->stats.coding_ns += vd_now_ns() - t0;
            enc->stats.tiles_damaged += (uint32_t)count;
            enc->stats.damaged_pixels += (uint64_t)w * (uint64_t)h;
            tx += count - 1;
            int ret = maybe_cut_packet(enc, s->id, f->pts_us);
            if (ret < 0)
                return ret;
        }
    }
    return 0;
}

/* Frames that may be unacknowledged: a round trip's worth at the frame rate, plus two. */
static uint32_t flow_window(const flow_state *fl)
{
    if (!fl->interval_ns)
        return 2;
    uint64_t w = 2 + (fl->min_delay_ns + fl->interval_ns - 1) / fl->interval_ns;
    return (uint32_t)VD_MIN(w, (uint64_t)FLOW_RING / 2);
}

static uint32_t flow_unacked(const vd_encoder *enc)
{
    return enc->flow.acks ? (uint32_t)VD_MIN(enc->frame_seq - enc->flow.acked_seq, (uint64_t)UINT32_MAX) : 0;
}

/* The link or the client is behind: frames now would only queue. */
static int flow_behind(const vd_encoder *enc)
{
    const flow_state *fl = &enc->flow;
    uint64_t max_queued = enc->cfg.max_queued_bytes ? enc->cfg.max_queued_bytes
                          : fl->link_bitrate ? VD_MIN((uint64_t)fl->link_bitrate * LINK_QUEUE_MS / 8000,
                                                      LINK_QUEUE_MAX)
                                             : DEFAULT_MAX_QUEUED;
    return (fl->has_queued && fl->queued_bytes > max_queued) ||
           (fl->acks && flow_unacked(enc) >= flow_window(fl));
}

static void flow_delay_sample(flow_state *fl, uint64_t delay_ns, uint64_t now)
{
    if (!fl->min_delay_at || delay_ns <= fl->min_delay_ns || now - fl->min_delay_at > FLOW_MIN_DELAY_NS) {
        fl->min_delay_ns = delay_ns;
        fl->min_delay_at = now;
    }
}

/* The flow-control part of a frame's statistics. */
static void flow_stats(const vd_encoder *enc, vd_encoder_stats *st)
{
    st->frames_unacked = flow_unacked(enc);
    st->window = flow_window(&enc->flow);
    st->video_bitrate = (uint32_t)VD_MIN(reference_bitrate(enc), (int64_t)UINT32_MAX);
    int64_t targets = 0;
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        for (unsigned k = 0; k < enc->surfaces[i]->n_streams; k++)
            if (!enc->surfaces[i]->streams[k].preview) /* (no rate to keep) */
                targets += enc->surfaces[i]->streams[k].bitrate;
    st->video_target = (uint32_t)VD_MIN(targets, (int64_t)UINT32_MAX);
}

/* A frame held back: its damage waits for the next frame that goes out. */
static void hold_back(vd_encoder *enc, enc_surface *s, const vd_frame *f)
{
    size_t n_tiles = (size_t)s->grid.cols * (size_t)s->grid.rows;
    if (!f->damage) {
        memset(s->held, 1, n_tiles);
    } else {
        vd_damage_mark_rects(&s->grid, s->state, f->damage, f->n_damage);
        for (size_t i = 0; i < n_tiles; i++)
            s->held[i] |= s->state[i] == VD_TILE_CANDIDATE;
    }
    s->has_held = 1;
    enc->stats = (vd_encoder_stats){.tiles_total = (uint32_t)n_tiles, .held_back = 1};
    flow_stats(enc, &enc->stats);
}

static int put_codec_reset(vd_encoder *enc, uint32_t flags)
{
    int ret = vd_wire_put_codec_reset(&enc->out, enc->cache ? vd_tile_cache_slots(enc->cache) : 0, flags);
    if (ret < 0)
        return ret;
    vd_tile_encoder_reset(enc->tiles);
    if (enc->cache && !(flags & VD_CODEC_RESET_RESUME))
        vd_tile_cache_reset(enc->cache);
    enc->codec_reset_pending = 0;
    return 0;
}

/* Encodes one frame.  resend_after: on a resume, the tiles changed on the client after that
 * frame go again (the client may have missed them); else UINT64_MAX. */
static int encode_frame(vd_encoder *enc, const vd_frame *f, uint64_t resend_after)
{
    size_t bytes_before = enc->out.size;
    unsigned index;
    enc_surface *s = find_surface(enc, f->surface_id, &index);
    int is_new = !s, ret, gpu_scanned = 0;
    int held = !is_new && resend_after == UINT64_MAX && s->grid.width == f->width &&
               s->grid.height == f->height && s->format == f->format && flow_behind(enc);
    if (resend_after == UINT64_MAX)
        adapt_video_rate(enc, held);
    if (held) {
        hold_back(enc, s, f);
        return 0;
    }
    if (is_new) {
        if (enc->n_surfaces >= enc->cfg.max_surfaces)
            return VD_ERR(ENOSPC);
        s = calloc(1, sizeof(*s));
        if (!s)
            return VD_ERR(ENOMEM);
        s->id = f->surface_id;
        s->stream_retry_t = INT64_MIN;
        s->lossless.start_t = INT64_MIN;
        if ((ret = surface_configure(enc, s, f)) < 0) {
            free(s);
            return ret;
        }
    } else if (s->grid.width != f->width || s->grid.height != f->height || s->format != f->format) {
        if ((ret = surface_configure(enc, s, f)) < 0)
            return ret;
    }

    enc->stats = (vd_encoder_stats){.tiles_total = (uint32_t)(s->grid.cols * s->grid.rows)};
    enc->yuv.convert_ns = 0;
    size_t n_tiles = (size_t)s->grid.cols * (size_t)s->grid.rows;

    if (!enc->hello_sent && (ret = vd_wire_put_hello(&enc->out)) < 0)
        goto fail;
    if (enc->codec_reset_pending && (ret = put_codec_reset(enc, 0)) < 0)
        goto fail;
    if (is_new || s->refresh) {
        vd_msg_surface msg = {s->id, (uint32_t)f->width, (uint32_t)f->height, (uint8_t)f->format};
        /* A refresh of an existing surface goes out as a resize to the same geometry: the
         * client clears it and every tile follows, so no earlier state is assumed. */
        ret = vd_wire_put_surface(&enc->out, is_new ? VD_MSG_SURFACE_CREATE : VD_MSG_SURFACE_RESIZE,
                                  &msg);
        if (ret < 0)
            goto fail;
        memset(s->state, VD_TILE_DIRTY, n_tiles);
        memset(s->refreshed, 0, n_tiles * sizeof(*s->refreshed));
        enc->stats.tiles_scanned = 0;
    } else {
        uint64_t t0 = vd_now_ns();
        if (f->damage)
            vd_damage_mark_rects(&s->grid, s->state, f->damage, f->n_damage);
        else
            memset(s->state, VD_TILE_CANDIDATE, n_tiles);
        for (size_t i = 0; s->has_held && i < n_tiles; i++)
            if (s->held[i])
                s->state[i] = VD_TILE_CANDIDATE;
        for (size_t i = 0; i < n_tiles; i++)
            enc->stats.tiles_scanned += s->state[i] == VD_TILE_CANDIDATE;
        /* A resume's frame is the reference itself: nothing to gain on the GPU. */
        gpu_scanned = resend_after == UINT64_MAX ? gpu_scan(enc, s, f) : GPU_SCAN_NONE;
        if (!gpu_scanned)
            vd_damage_scan(&enc->dsp, &s->grid, f->data, (size_t)f->stride, s->prev,
                           (size_t)s->grid.width * (size_t)s->grid.bpp, s->state);
        enc->stats.scan_ns = vd_now_ns() - t0;
    }
    /* The device holds another frame than this one, whose tiles now enter the reference: the
     * next GPU scan seeds its reference from the CPU one. */
    if (s->gpu && !gpu_scanned)
        vd_gpu_surface_invalidate(s->gpu);

    /* The client's image is the reference, except on a resume: then copies could read tiles
     * it missed. */
    int trust_ref = !is_new && !s->refresh && s->prev_valid && resend_after == UINT64_MAX;
    if (trust_ref) {
        if ((ret = send_copies(enc, s, f)) < 0) /* vd_motion_find() fills s->copies */
            goto fail;
    } else {
        memset(s->copies, 0, n_tiles * sizeof(*s->copies)); /* no copies, no bands */
    }
    uint64_t t_cls = vd_now_ns();
    if ((ret = classify_frame(enc, s, f, gpu_scanned == GPU_SCAN_STATS,
                              resend_after != UINT64_MAX)) < 0)
        goto fail;
    enc->stats.classify_ns = vd_now_ns() - t_cls;
    /* After classification: resent tiles did not change in this frame. */
    if (resend_after != UINT64_MAX && !is_new && !s->refresh)
        for (size_t i = 0; i < n_tiles; i++)
            if (s->tile_seq[i] > resend_after)
                s->state[i] = VD_TILE_DIRTY;
    /* A client that (re)creates the surface has no streams: start them afresh. */
    if (is_new || s->refresh)
        streams_free(s);

    uint64_t t1 = vd_now_ns();
    uint32_t n_preview = 0;
    if (!trust_ref) /* (the client starts afresh: no preview's pixels) */
        preview_forget(s);
    if ((ret = sync_streams(enc, s)) < 0)
        goto fail;
    preview_forget(s); /* (the new streams took their pixels' ages: stream_open()) */
    if (((is_new || s->refresh) && (ret = open_preview(enc, s, f, &n_preview)) < 0) ||
        (ret = encode_streams(enc, s, f, trust_ref, gpu_scanned != GPU_SCAN_NONE, n_preview)) < 0)
        goto fail;
    count_classes(s, &enc->stats);
    enc->stats.tiles_refreshed = schedule_refresh(s, f);

    enc->frame_seq++;
    if (enc->cache)
        vd_tile_cache_set_stamp(enc->cache, enc->frame_seq);
    vd_tile_counts counts = {0};
    if ((ret = encode_tiles(enc, s, f, trust_ref, &counts)) < 0)
        goto fail;
    enc->stats.tiles_cached = counts.cached;
    enc->stats.encode_ns = vd_now_ns() - t1;
    vd_msg_frame_end fe = {s->id, enc->frame_seq, f->pts_us};
    if ((ret = vd_wire_put_frame_end(&enc->out, &fe)) < 0 ||
        (ret = push_packet(enc, VD_PACKET_FRAME_END, s->id, f->pts_us)) < 0)
        goto fail;

    for (size_t i = 0; i < n_tiles; i++)
        if (s->state[i] == VD_TILE_DIRTY || streamed(s->state[i]) || s->copies[i].vector)
            s->tile_seq[i] = enc->frame_seq;
    if (is_new || s->refresh)
        s->geometry_seq = enc->frame_seq;
    if (s->has_held && resend_after == UINT64_MAX) { /* a resume sends the reference, not them */
        memset(s->held, 0, n_tiles);
        s->has_held = 0;
    }
    enc->flow.sent_ns[enc->frame_seq % FLOW_RING] = vd_now_ns();
    enc->flow.sent_seq[enc->frame_seq % FLOW_RING] = enc->frame_seq;
    s->content = f->surface_content;
    enc->hello_sent = 1;
    s->refresh = 0;
    s->prev_valid = 1;
    if (is_new)
        enc->surfaces[enc->n_surfaces++] = s;
    flow_stats(enc, &enc->stats); /* (with a new surface's streams) */
    enc->stats.bytes = enc->out.size - bytes_before;
    /* (a whole surface sent says nothing of what keeps coming) */
    count_lossless(&s->lossless, s->last_t,
                   trust_ref ? enc->stats.bytes - enc->stats.video_bytes : 0);
    for (unsigned k = 0; k < enc->n_surfaces; k++) {
        const enc_surface *o = enc->surfaces[k];
        for (size_t i = 0; i < (size_t)o->grid.cols * (size_t)o->grid.rows; i++)
            enc->stats.tiles_lossy += o->lossy[i];
    }
    return 0;

fail:
    /* Nothing of this frame goes out; the reference may hold some of its tiles, so the
     * surface is resent in full next time. */
    discard_unsent(enc, 0);
    enc->codec_reset_pending = 1; /* the client misses tiles the history and cache now hold */
    if (is_new)
        surface_free(enc, s);
    else
        s->refresh = 1;
    return ret;
}

int vd_encoder_send_frame(vd_encoder *enc, const vd_frame *frame)
{
    if (enc->draining)
        return VD_EOF;
    if (enc->next_packet < enc->n_packets)
        return VD_ERR(EAGAIN);
    enc->out.size = 0;
    enc->n_packets = enc->next_packet = 0;
    enc->packet_start = 0;
    if (!frame) {
        enc->draining = 1;
        return 0;
    }
    if (!frame_is_valid(frame)) {
        vd_log(VD_LOG_WARNING, "refused frame for surface %u: bad format, size, stride, damage or hints",
               frame->surface_id);
        return VD_ERR(EINVAL);
    }
    /* A dma-buf without data is mapped for the call: the CPU path reads it like data. */
    vd_dmabuf_mapping map = {0};
    vd_frame mapped;
    int ret;
    if (frame->dmabuf) {
        if ((ret = vd_dmabuf_check(frame)) < 0)
            return ret;
        if (!frame->data) {
            mapped = *frame;
            if ((ret = vd_dmabuf_map(frame, &map, &mapped.data)) < 0)
                return ret;
            frame = &mapped;
        }
    }
    /* The frame interval, for the flow window; a pause says nothing about the rate. */
    uint64_t now = vd_now_ns();
    flow_state *fl = &enc->flow;
    if (fl->last_call_ns && now - fl->last_call_ns < 1000000000u)
        fl->interval_ns = fl->interval_ns ? (7 * fl->interval_ns + (now - fl->last_call_ns)) / 8
                                          : now - fl->last_call_ns;
    fl->last_call_ns = now;
    ret = encode_frame(enc, frame, UINT64_MAX);
    vd_dmabuf_unmap(&map);
    return ret;
}

int vd_encoder_receive_packet(vd_encoder *enc, vd_packet *pkt)
{
    if (enc->next_packet == enc->n_packets)
        return enc->draining ? VD_EOF : VD_ERR(EAGAIN);
    const pending_packet *p = &enc->packets[enc->next_packet++];
    *pkt = (vd_packet){
        .data = enc->out.data + p->offset,
        .size = p->size,
        .flags = p->flags,
        .surface_id = p->surface_id,
        .frame_seq = p->frame_seq,
        .pts_us = p->pts_us,
    };
    return 0;
}

int vd_encoder_destroy_surface(vd_encoder *enc, uint32_t surface_id)
{
    unsigned index;
    enc_surface *s = find_surface(enc, surface_id, &index);
    if (!s)
        return VD_ERR(ENOENT);
    if (enc->next_packet < enc->n_packets)
        return VD_ERR(EAGAIN);
    enc->out.size = 0;
    enc->n_packets = enc->next_packet = 0;
    enc->packet_start = 0;
    int ret = enc->hello_sent ? 0 : vd_wire_put_hello(&enc->out);
    if (ret < 0 || (ret = vd_wire_put_surface_destroy(&enc->out, surface_id)) < 0 ||
        (ret = push_packet(enc, 0, surface_id, 0)) < 0) {
        discard_unsent(enc, 0);
        return ret;
    }
    enc->hello_sent = 1;
    surface_free(enc, s);
    enc->surfaces[index] = enc->surfaces[--enc->n_surfaces];
    return 0;
}

int vd_encoder_request_refresh(vd_encoder *enc, uint32_t surface_id)
{
    if (surface_id == VD_ALL_SURFACES) {
        for (unsigned i = 0; i < enc->n_surfaces; i++)
            enc->surfaces[i]->refresh = 1;
    } else {
        enc_surface *s = find_surface(enc, surface_id, NULL);
        if (!s)
            return VD_ERR(ENOENT);
        s->refresh = 1;
    }
    /* After bad input the client dropped the frames of every surface until this refresh:
     * differences to what they show wait until each tile went whole again. */
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        enc->surfaces[i]->sure_from = enc->frame_seq + 1;
    /* The client may have lost the HELLO too (a broken first packet): resend it.  After bad
     * input it also refuses tiles until its history and cache start afresh. */
    enc->hello_sent = 0;
    enc->codec_reset_pending = 1;
    return 0;
}

static int client_has(const vd_resume_state *st, uint32_t id)
{
    for (uint32_t i = 0; i < st->n_surfaces; i++)
        if (st->surface_ids[i] == id)
            return 1;
    return 0;
}

/* Encodes a surface again from its reference (the latest content the host gave). */
static int resume_surface(vd_encoder *enc, enc_surface *s, uint64_t resend_after)
{
    static const vd_rect no_damage;
    const vd_tile_grid *g = &s->grid;
    size_t stride = (size_t)g->width * (size_t)g->bpp;
    /* A copy: encoding writes the reference while it reads the frame. */
    uint8_t *pixels = malloc(stride * (size_t)g->height);
    if (!pixels)
        return VD_ERR(ENOMEM);
    memcpy(pixels, s->prev, stride * (size_t)g->height);
    vd_frame f = {.surface_id = s->id, .format = s->format, .width = g->width, .height = g->height,
                  .stride = (int32_t)stride, .data = pixels, .damage = &no_damage, .n_damage = 0,
                  .pts_us = s->last_pts, .surface_content = s->content, .cursor = s->last_cursor};
    int ret = encode_frame(enc, &f, resend_after);
    free(pixels);
    return ret;
}

int vd_encoder_resume(vd_encoder *enc, const vd_resume_state *state)
{
    if (enc->draining)
        return VD_EOF;
    if (!state || state->n_surfaces > VD_MAX_SURFACES)
        return VD_ERR(EINVAL);
    /* Frames in flight on the dropped connection will never be acknowledged; a new transport
     * starts empty. */
    enc->flow.acked_seq = enc->frame_seq;
    enc->flow.has_queued = 0;
    /* What the host has not taken yet was for the dropped connection. */
    enc->out.size = 0;
    enc->n_packets = enc->next_packet = 0;
    enc->packet_start = 0;
    /* A frame the encoder never sent means another encoder's client: start from nothing. */
    int delta = state->frame_seq && state->frame_seq <= enc->frame_seq;
    uint64_t after = state->frame_seq;
    int ret = vd_wire_put_hello(&enc->out);
    if (ret < 0)
        goto fail;
    enc->hello_sent = 1;
    if (delta && enc->cache)
        vd_tile_cache_forget_after(enc->cache, after);
    if ((ret = put_codec_reset(enc, delta ? VD_CODEC_RESET_RESUME : 0)) < 0)
        goto fail;
    for (uint32_t i = 0; i < state->n_surfaces; i++)
        if (!find_surface(enc, state->surface_ids[i], NULL) &&
            (ret = vd_wire_put_surface_destroy(&enc->out, state->surface_ids[i])) < 0)
            goto fail;
    if ((ret = push_packet(enc, 0, VD_ALL_SURFACES, 0)) < 0)
        goto fail;
    for (unsigned i = 0; i < enc->n_surfaces; i++) {
        enc_surface *s = enc->surfaces[i];
        /* The client ended every stream (the resume reset, or the surface's re-creation). */
        for (unsigned k = 0; k < s->n_streams; k++)
            keep_forget(s, &s->streams[k]);
        streams_free(s);
        memset(s->refreshed, 0, (size_t)s->grid.cols * (size_t)s->grid.rows * sizeof(*s->refreshed));
        if (!delta || !client_has(state, s->id) || s->geometry_seq > after)
            s->refresh = 1;
        if ((ret = resume_surface(enc, s, after)) < 0)
            goto fail;
    }
    return 0;

fail:
    /* Nothing goes out; the next frames start the client afresh. */
    discard_unsent(enc, 0);
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        enc->surfaces[i]->refresh = 1;
    enc->hello_sent = 0;
    enc->codec_reset_pending = 1;
    return ret;
}

int vd_encoder_send_feedback(vd_encoder *enc, const vd_encoder_feedback *fb)
{
    if (fb->flags & ~(uint32_t)(VD_FEEDBACK_ACK | VD_FEEDBACK_RTT | VD_FEEDBACK_QUEUED |
                                VD_FEEDBACK_LINK) ||
        ((fb->flags & VD_FEEDBACK_ACK) && fb->acked_frame_seq > enc->frame_seq))
        return VD_ERR(EINVAL);
    flow_state *fl = &enc->flow;
    uint64_t now = vd_now_ns();
    if ((fb->flags & VD_FEEDBACK_ACK) && fb->acked_frame_seq > fl->acked_seq) {
        size_t i = fb->acked_frame_seq % FLOW_RING;
        if (fl->sent_seq[i] == fb->acked_frame_seq)
            flow_delay_sample(fl, now - fl->sent_ns[i], now);
        fl->acked_seq = fb->acked_frame_seq;
        fl->acks = 1;
    }
    if (fb->flags & VD_FEEDBACK_RTT)
        flow_delay_sample(fl, (uint64_t)fb->rtt_us * 1000, now);
    if (fb->flags & VD_FEEDBACK_QUEUED) {
        fl->queued_bytes = fb->queued_bytes;
        fl->has_queued = 1;
    }
    if (fb->flags & VD_FEEDBACK_LINK)
        fl->link_bitrate = fb->link_bitrate; /* taken in the next frame's follow_link_share() */
    return 0;
}

void vd_encoder_get_stats(const vd_encoder *enc, vd_encoder_stats *stats) { *stats = enc->stats; }

int vd_encoder_get_regions(const vd_encoder *enc, uint32_t surface_id, vd_region *regions,
                           size_t max)
{
    const enc_surface *s = find_surface(enc, surface_id, NULL);
    if (!s)
        return VD_ERR(ENOENT);
    return (int)vd_classifier_regions(s->classifier, regions, max);
}

/* Copies a per-tile map of a surface (lossy or classes) for the public getters. */
static int copy_tile_map(const vd_encoder *enc, uint32_t surface_id, int classes, uint8_t *dst,
                         size_t size)
{
    const enc_surface *s = find_surface(enc, surface_id, NULL);
    if (!s)
        return VD_ERR(ENOENT);
    size_t n = (size_t)s->grid.cols * (size_t)s->grid.rows;
    if (size < n)
        return VD_ERR(ENOSPC);
    memcpy(dst, classes ? vd_classifier_tile_classes(s->classifier) : s->lossy, n);
    return (int)n;
}

int vd_encoder_get_lossy_tiles(const vd_encoder *enc, uint32_t surface_id, uint8_t *map,
                               size_t size)
{
    return copy_tile_map(enc, surface_id, 0, map, size);
}

int vd_encoder_request_keyframe(vd_encoder *enc, uint32_t stream_id)
{
    for (unsigned i = 0; i < enc->n_surfaces; i++)
        for (unsigned k = 0; k < enc->surfaces[i]->n_streams; k++)
            if (enc->surfaces[i]->streams[k].id == stream_id) {
                enc->surfaces[i]->streams[k].need_key = 1;
                return 0;
            }
    return VD_ERR(ENOENT);
}

int vd_encoder_get_tile_classes(const vd_encoder *enc, uint32_t surface_id, uint8_t *classes,
                                size_t size)
{
    return copy_tile_map(enc, surface_id, 1, classes, size);
}

#else /* !VD_ENABLE_ENCODER */

int vd_encoder_new(const vd_encoder_config *cfg, vd_encoder **out)
{
    (void)cfg;
    *out = NULL;
    return VD_ERR(ENOTSUP);
}
void vd_encoder_free(vd_encoder **enc)
{
    if (enc)
        *enc = NULL;
}
int vd_encoder_send_frame(vd_encoder *enc, const vd_frame *frame)
{
    (void)enc, (void)frame;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_receive_packet(vd_encoder *enc, vd_packet *pkt)
{
    (void)enc, (void)pkt;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_destroy_surface(vd_encoder *enc, uint32_t surface_id)
{
    (void)enc, (void)surface_id;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_request_refresh(vd_encoder *enc, uint32_t surface_id)
{
    (void)enc, (void)surface_id;
    return VD_ERR(ENOTSUP);
}
void vd_encoder_get_stats(const vd_encoder *enc, vd_encoder_stats *stats)
{
    (void)enc;
    *stats = (vd_encoder_stats){0};
}
int vd_encoder_get_regions(const vd_encoder *enc, uint32_t surface_id, vd_region *regions,
                           size_t max)
{
    (void)enc, (void)surface_id, (void)regions, (void)max;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_get_tile_classes(const vd_encoder *enc, uint32_t surface_id, uint8_t *classes,
                                size_t size)
{
    (void)enc, (void)surface_id, (void)classes, (void)size;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_get_lossy_tiles(const vd_encoder *enc, uint32_t surface_id, uint8_t *map,
                               size_t size)
{
    (void)enc, (void)surface_id, (void)map, (void)size;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_request_keyframe(vd_encoder *enc, uint32_t stream_id)
{
    (void)enc, (void)stream_id;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_resume(vd_encoder *enc, const vd_resume_state *state)
{
    (void)enc, (void)state;
    return VD_ERR(ENOTSUP);
}
int vd_encoder_send_feedback(vd_encoder *enc, const vd_encoder_feedback *fb)
{
    (void)enc, (void)fb;
    return VD_ERR(ENOTSUP);
}

#endif
