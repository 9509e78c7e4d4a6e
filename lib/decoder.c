/* The decoder: parses wire messages, stages each frame's tiles and applies them at frame end.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include <vd/decoder.h>

#include "../codec/tile_codec.h"
#include "../codec/video.h"
#include "buf.h"
#include "damage.h"
#include "log.h"
#include "wire.h"

#define MAX_SURFACES VD_MAX_SURFACES
#define MAX_STREAMS 64

/* A video or 3D region's stream: its decoder and the latest picture, which is shown (the
 * masked 16 x 16 blocks of it) at its surface's frame end. */
typedef struct dec_stream {
    uint32_t id, surface_id;
    vd_rect rect;
    enum vd_pixel_format format;
    int bpp;
    vd_video_decoder *video;
    uint8_t *pixels;  /* rect, in the surface's format */
    size_t stride;    /* of pixels: width * bpp and VD_VIDEO_ROW_SLACK, rounded up to 64 */
    uint8_t *mask;    /* blocks to show at frame end */
    uint32_t mask_size;
    uint16_t *rows;   /* 16 per block: the pixels to show of set mask bits, a bit per column */
    uint16_t *incoming; /* the same for a frame while it is checked */
    uint16_t *keep;   /* 16 per block: pixels its pictures do not show (VD_STREAM_FRAME_KEEP) */
    int pending;      /* a decoded frame waits for its frame end */
    int broken;       /* waits for a key frame */
    int key_asked;    /* a key request stands: none again until a key frame arrives */
} dec_stream;

typedef struct staged_run {
    uint16_t tx, ty;
    uint8_t count;
    uint8_t top, height; /* the band of rows of the tile row */
    uint8_t delta;       /* its pixels are added to the image's (VD_TILE_BULK_DELTA) */
    size_t offset; /* of its packed rows in the arena */
} staged_run;

/* Pixels a COPY took from the committed image, for its destination. */
typedef struct staged_copy {
    vd_rect dst;
    size_t offset;
} staged_copy;

/* Decoded runs wait here until their frame ends, so that a broken frame never reaches the
 * image.  A tile may come once per frame, which bounds the arena by the surface's size. */
typedef struct staging {
    vd_buf arena;
    staged_run *runs;  /* room for one per tile */
    uint32_t n_runs;
    uint8_t *covered;  /* per tile of the staged grid: already in this frame */
    /* Copies, at most one per tile and as many pixels as the surface has, so the arena
     * stays within twice the surface. */
    staged_copy *copies;
    uint32_t n_copies;
    uint64_t copy_pixels;
} staging;

typedef struct dec_surface {
    uint32_t id;
    int committed;              /* has had a frame end; else it exists only in staging */
    enum vd_pixel_format format;
    vd_tile_grid grid;          /* committed geometry */
    uint8_t *pixels;            /* committed image, stride width * bpp */

    int geometry_pending;       /* a create or resize waits for the frame end */
    int broken;                 /* may miss tiles since bad input, until it is redefined */
    vd_tile_grid next_grid;
    enum vd_pixel_format next_format;
    staging stage;

    /* Delivery: damage accumulated since the last received image. */
    uint8_t *damage;            /* per tile of the committed grid: VD_TILE_DIRTY or 0 */
    vd_rect *rects;
    int image_ready;
    uint32_t image_flags;
    uint64_t frame_seq;
    int64_t pts_us;
} dec_surface;

struct vd_decoder {
    vd_decoder_config cfg;
    dec_surface *surfaces[MAX_SURFACES];
    unsigned n_surfaces;
    int hello_seen, draining;
    /* After bad input, messages are dropped up to the next frame end: that frame is incomplete. */
    int resync;
    /* Surfaces destroyed but not yet reported to the viewer. */
    uint32_t destroyed[MAX_SURFACES];
    unsigned n_destroyed;
    dec_stream streams[MAX_STREAMS];
    unsigned n_streams;
    uint32_t key_requests[MAX_STREAMS];
    unsigned n_key_requests;
    vd_tile_decoder *tiles; /* the tile history and cache, shared by all surfaces */
    uint64_t last_frame_seq; /* of the last frame completed */
    vd_buf stream_side;      /* a STREAM_FRAME's masks, unpacked */
};

static void stream_free(dec_stream *st)
{
    vd_video_decoder_free(&st->video);
    free(st->pixels);
    free(st->mask);
    free(st->rows);
    free(st->incoming);
    free(st->keep);
}

static void remove_stream(vd_decoder *dec, unsigned k)
{
    stream_free(&dec->streams[k]);
    dec->streams[k] = dec->streams[--dec->n_streams];
}

/* A surface's streams end with its geometry. */
static void remove_streams_of(vd_decoder *dec, uint32_t surface_id)
{
    for (unsigned k = dec->n_streams; k-- > 0;)
        if (dec->streams[k].surface_id == surface_id)
            remove_stream(dec, k);
}

static dec_stream *find_stream(vd_decoder *dec, uint32_t id, unsigned *index)
{
    for (unsigned k = 0; k < dec->n_streams; k++)
        if (dec->streams[k].id == id) {
            if (index)
                *index = k;
            return &dec->streams[k];
        }
    return NULL;
}

static void request_key(vd_decoder *dec, dec_stream *st)
{
    st->broken = 1;
    if (st->key_asked)
        return;
    st->key_asked = 1;
    for (unsigned k = 0; k < dec->n_key_requests; k++)
        if (dec->key_requests[k] == st->id)
            return;
    if (dec->n_key_requests < MAX_STREAMS)
        dec->key_requests[dec->n_key_requests++] = st->id;
}

void vd_decoder_config_default(vd_decoder_config *cfg)
{
    *cfg = (vd_decoder_config){
        .max_surfaces = MAX_SURFACES,
        .max_surface_pixels = (uint64_t)VD_MAX_DIMENSION * VD_MAX_DIMENSION,
        .max_total_pixels = 2 * (uint64_t)VD_MAX_DIMENSION * VD_MAX_DIMENSION,
        .cache_size = VD_TILE_CACHE_DEFAULT_BYTES,
    };
}

int vd_decoder_new(const vd_decoder_config *cfg, vd_decoder **out)
{
    *out = NULL;
    vd_decoder_config defaults;
    vd_decoder_config_default(&defaults);
    if (!cfg)
        cfg = &defaults;
    if (cfg->max_surfaces < 1 || cfg->max_surfaces > MAX_SURFACES || cfg->max_surface_pixels < 1 ||
        cfg->max_surface_pixels > defaults.max_surface_pixels ||
        cfg->max_total_pixels < cfg->max_surface_pixels ||
        cfg->cache_size / VD_TILE_SLOT_BYTES > VD_TILE_CACHE_MAX_SLOTS ||
        cfg->video_backend == VD_BACKEND_NVENC || (unsigned)cfg->video_backend > VD_BACKEND_NVDEC)
        return VD_ERR(EINVAL);
    vd_decoder *dec = calloc(1, sizeof(*dec));
    if (!dec)
        return VD_ERR(ENOMEM);
    dec->tiles = vd_tile_decoder_new((uint32_t)(cfg->cache_size / VD_TILE_SLOT_BYTES));
    if (!dec->tiles) {
        free(dec);
        return VD_ERR(ENOMEM);
    }
    dec->cfg = *cfg;
    *out = dec;
    return 0;
}

static void staging_free(staging *st)
{
    vd_buf_free(&st->arena);
    free(st->runs);
    free(st->covered);
    free(st->copies);
    *st = (staging){0};
}

static void surface_free(dec_surface *s)
{
    if (!s)
        return;
    staging_free(&s->stage);
    free(s->pixels);
    free(s->damage);
    free(s->rects);
    free(s);
}

void vd_decoder_free(vd_decoder **pdec)
{
    if (!pdec || !*pdec)
        return;
    vd_decoder *dec = *pdec;
    for (unsigned i = 0; i < dec->n_surfaces; i++)
        surface_free(dec->surfaces[i]);
    for (unsigned k = 0; k < dec->n_streams; k++)
        stream_free(&dec->streams[k]);
    vd_tile_decoder_free(&dec->tiles);
    vd_buf_free(&dec->stream_side);
    free(dec);
    *pdec = NULL;
}

static dec_surface *find_surface(const vd_decoder *dec, uint32_t id, unsigned *index)
{
    for (unsigned i = 0; i < dec->n_surfaces; i++) {
        if (dec->surfaces[i]->id == id) {
            if (index)
                *index = i;
            return dec->surfaces[i];
        }
    }
    return NULL;
}

static void remove_surface(vd_decoder *dec, unsigned index)
{
    remove_streams_of(dec, dec->surfaces[index]->id);
    surface_free(dec->surfaces[index]);
    dec->surfaces[index] = dec->surfaces[--dec->n_surfaces];
}

/* The geometry that tiles of the frame being staged refer to. */
static const vd_tile_grid *staged_grid(const dec_surface *s)
{
    return s->geometry_pending ? &s->next_grid : &s->grid;
}

static enum vd_pixel_format staged_format(const dec_surface *s)
{
    return s->geometry_pending ? s->next_format : s->format;
}

static void staging_reset(dec_surface *s)
{
    const vd_tile_grid *g = staged_grid(s);
    staging *st = &s->stage;
    for (uint32_t i = 0; i < st->n_runs; i++)
        memset(st->covered + (size_t)st->runs[i].ty * (size_t)g->cols + st->runs[i].tx, 0,
               st->runs[i].count);
    st->n_runs = 0;
    st->n_copies = 0;
    st->copy_pixels = 0;
    st->arena.size = 0;
}

/* Sizes the run list and coverage map for the staged grid; the arena grows on demand. */
static int staging_prepare(staging *st, const vd_tile_grid *g)
{
    size_t n = (size_t)g->cols * (size_t)g->rows;
    staged_run *runs = malloc(n * sizeof(*runs));
    uint8_t *covered = calloc(n, 1);
    staged_copy *copies = malloc(n * sizeof(*copies));
    if (!runs || !covered || !copies) {
        free(runs);
        free(covered);
        free(copies);
        return VD_ERR(ENOMEM);
    }
    /* An arena much larger than the new surface could never fill again (it holds each tile
     * at most once, and grows by doubling): give it back, so that staging memory follows the
     * surface sizes the decoder's limits bound. */
    if (st->arena.capacity > 4 * (size_t)g->width * (size_t)g->height * (size_t)g->bpp)
        vd_buf_free(&st->arena);
    free(st->runs);
    free(st->covered);
    free(st->copies);
    st->runs = runs;
    st->covered = covered;
    st->copies = copies;
    st->n_runs = 0;
    st->n_copies = 0;
    st->copy_pixels = 0;
    st->arena.size = 0;
    return 0;
}

/* Drops the frame being staged on every surface, and surfaces never committed. */
static void drop_staged(vd_decoder *dec)
{
    for (unsigned k = 0; k < dec->n_streams; k++) {
        dec->streams[k].pending = 0;
        memset(dec->streams[k].mask, 0, dec->streams[k].mask_size);
    }
    for (unsigned i = dec->n_surfaces; i-- > 0;) {
        dec_surface *s = dec->surfaces[i];
        if (!s->committed) {
            remove_surface(dec, i);
            continue;
        }
        staging_reset(s);
        if (s->geometry_pending) {
            s->geometry_pending = 0;
            /* Streams created for the new geometry do not fit the old one. */
            remove_streams_of(dec, s->id);
            if (staging_prepare(&s->stage, &s->grid) < 0) {
                /* Cannot track tiles any more: forget the surface rather than misapply. */
                remove_surface(dec, i);
            }
        }
    }
}

static int handle_surface(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_surface m;
    int ret = vd_wire_read_surface(msg, &m);
    if (ret < 0)
        return ret;
    if ((uint64_t)m.width * m.height > dec->cfg.max_surface_pixels) {
        vd_log(VD_LOG_ERROR, "surface %u of %ux%u exceeds the decoder's limit", m.id, m.width,
               m.height);
        return VD_ERR(EBADMSG);
    }
    dec_surface *s = find_surface(dec, m.id, NULL);
    uint64_t total = (uint64_t)m.width * m.height;
    for (unsigned i = 0; i < dec->n_surfaces; i++) {
        const dec_surface *o = dec->surfaces[i];
        total += o->committed ? (uint64_t)o->grid.width * (uint64_t)o->grid.height : 0;
        if (o != s && o->geometry_pending)
            total += (uint64_t)o->next_grid.width * (uint64_t)o->next_grid.height;
    }
    if (total > dec->cfg.max_total_pixels) {
        vd_log(VD_LOG_ERROR, "surface %u of %ux%u exceeds the decoder's total pixel limit", m.id,
               m.width, m.height);
        return VD_ERR(EBADMSG);
    }
    /* CREATE and RESIZE both define the surface: after an error the decoder may have
     * dropped a surface the encoder still has (its first frame broke) or kept one the encoder
     * destroyed (the destroy broke), and the encoder's refresh or re-create must still work. */
    if (!s) {
        if (dec->n_surfaces >= dec->cfg.max_surfaces)
            return VD_ERR(EBADMSG);
        s = calloc(1, sizeof(*s));
        if (!s)
            return VD_ERR(ENOMEM);
        s->id = m.id;
        dec->surfaces[dec->n_surfaces++] = s;
    }
    staging_reset(s);
    remove_streams_of(dec, s->id); /* a (re)defined surface starts without streams */
    vd_tile_grid_init(&s->next_grid, (int)m.width, (int)m.height, m.format);
    s->next_format = m.format;
    s->geometry_pending = 1;
    return staging_prepare(&s->stage, &s->next_grid);
}

static int handle_stream_create(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_stream m;
    int ret = vd_wire_read_stream_create(msg, &m);
    if (ret < 0)
        return ret;
    dec_surface *s = find_surface(dec, m.surface_id, NULL);
    if (!s)
        return VD_ERR(EBADMSG);
    const vd_tile_grid *g = staged_grid(s);
    enum vd_pixel_format format = s->geometry_pending ? s->next_format : s->format;
    if ((m.codec != VD_VIDEO_H264 && m.codec != VD_VIDEO_AV1) ||
        (m.content != VD_CONTENT_VIDEO && m.content != VD_CONTENT_3D) || m.width < 2 ||
        m.height < 2 || (m.width | m.height) & 1 || m.x % 16 || m.y % 16 || m.x > (uint32_t)g->width ||
        m.y > (uint32_t)g->height || m.width > (uint32_t)g->width - m.x ||
        m.height > (uint32_t)g->height - m.y)
        return VD_ERR(EBADMSG);
    unsigned k;
    if (find_stream(dec, m.id, &k))
        remove_stream(dec, k);
    /* Stream pictures count against the same budget as surfaces, on their own. */
    uint64_t pixels = (uint64_t)m.width * m.height;
    for (k = 0; k < dec->n_streams; k++)
        pixels += (uint64_t)dec->streams[k].rect.width * (uint64_t)dec->streams[k].rect.height;
    if (dec->n_streams == MAX_STREAMS || pixels > dec->cfg.max_total_pixels)
        return VD_ERR(EBADMSG);
    dec_stream st = {.id = m.id, .surface_id = m.surface_id,
                     .rect = {(int32_t)m.x, (int32_t)m.y, (int32_t)m.width, (int32_t)m.height},
                     .format = format, .bpp = g->bpp};
    st.mask_size = ((m.width + 15) / 16 * ((m.height + 15) / 16) + 7) / 8;
    st.stride = ((size_t)m.width * (size_t)g->bpp + VD_VIDEO_ROW_SLACK + 63) / 64 * 64;
    st.pixels = calloc(st.stride, m.height);
    size_t blocks = (size_t)((m.width + 15) / 16) * ((m.height + 15) / 16);
    st.mask = calloc(st.mask_size, 1);
    st.rows = calloc(16 * blocks, sizeof(*st.rows));
    st.incoming = calloc(16 * blocks, sizeof(*st.incoming));
    st.keep = calloc(16 * blocks, sizeof(*st.keep));
    if (!st.pixels || !st.mask || !st.rows || !st.incoming || !st.keep) {
        stream_free(&st);
        return VD_ERR(ENOMEM);
    }
    if ((ret = vd_video_decoder_new(m.codec, (int)m.width, (int)m.height,
                                     (enum vd_video_backend)dec->cfg.video_backend, &st.video)) < 0) {
        stream_free(&st);
        return ret == VD_ERR(ENOTSUP) ? VD_ERR(ENOTSUP) : ret;
    }
    st.broken = 1; /* until its first key frame */
    dec->streams[dec->n_streams++] = st;
    return 0;
}

static int handle_stream_frame(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_stream_frame m;
    int ret = vd_wire_read_stream_frame(msg, &m);
    if (ret < 0)
        return ret;
    dec_stream *st = find_stream(dec, m.stream_id, NULL);
    if (!st)
        return VD_ERR(EBADMSG);
    if (m.flags & VD_STREAM_FRAME_KEY)
        st->key_asked = 0; /* the answer (or another key frame), good or bad: a failure asks again */
    if (m.mask_size != st->mask_size)
        return VD_ERR(EBADMSG);
    /* What each set block shows, checked in full before anything is decoded. */
    const uint8_t *coded, *keep, *patch;
    uint32_t coded_size;
    if ((ret = vd_wire_stream_frame_shown(&m, st->rect.width, st->rect.height, st->bpp,
                                          st->incoming, &dec->stream_side, &keep, &patch, &coded,
                                          &coded_size)) < 0)
        return ret;
    if (st->broken && !(m.flags & VD_STREAM_FRAME_KEY))
        return 0; /* what follows a loss would decode to garbage: wait for the key frame */
    ret = vd_video_decode(st->video, coded, coded_size, !!(m.flags & VD_STREAM_FRAME_KEY),
                          st->pixels, st->stride, st->format);
    if (ret == VD_ERR(ENOMEM))
        return ret;
    if (ret < 0) {
        /* An error for this stream only: it waits for a key frame, the rest goes on. */
        vd_log(VD_LOG_WARNING, "video stream %u: undecodable frame; asking for a key frame", st->id);
        request_key(dec, st);
        return 0;
    }
    st->broken = 0;
    int blocks = (st->rect.width + 15) / 16 * ((st->rect.height + 15) / 16);
    if (m.flags & VD_STREAM_FRAME_KEEP_RESET)
        memset(st->keep, 0, 16 * (size_t)blocks * sizeof(*st->keep));
    if (keep)
        vd_wire_stream_frame_keep(keep, st->rect.width, st->rect.height, st->keep);
    for (int i = 0; i < 16 * blocks; i++)
        st->incoming[i] &= (uint16_t)~st->keep[i];
    if (patch) /* exact pixels over the picture's, shown even where kept from now on */
        vd_wire_stream_frame_patch(patch, st->rect.width, st->rect.height, st->bpp, st->incoming,
                                   st->pixels, st->stride);
    for (int b = 0; b < blocks; b++) {
        uint16_t *rows = st->rows + 16 * b, any = 0;
        const uint16_t *incoming = st->incoming + 16 * b;
        for (int r = 0; r < 16; r++)
            any |= incoming[r];
        if (!any)
            continue;
        /* Shown twice before a frame end: the union. */
        int again = st->mask[b / 8] & (1u << (b % 8));
        for (int r = 0; r < 16; r++)
            rows[r] = (uint16_t)((again ? rows[r] : 0) | incoming[r]);
        st->mask[b / 8] |= (uint8_t)(1u << (b % 8));
    }
    st->pending = 1;
    return 0;
}

static int handle_stream_destroy(vd_decoder *dec, const vd_msg *msg)
{
    uint32_t id;
    unsigned k;
    int ret = vd_wire_read_stream_id(msg, &id);
    if (ret < 0)
        return ret;
    if (!find_stream(dec, id, &k))
        return VD_ERR(EBADMSG);
    remove_stream(dec, k);
    return 0;
}

/* Shows the masked blocks of a surface's streams' pending pictures (before its tiles). */
static void apply_streams(vd_decoder *dec, dec_surface *s)
{
    const vd_tile_grid *g = &s->grid;
    size_t stride = (size_t)g->width * (size_t)g->bpp;
    for (unsigned k = 0; k < dec->n_streams; k++) {
        dec_stream *st = &dec->streams[k];
        /* (a stream ends with its geometry: this guards the copy below all the same) */
        if (st->surface_id != s->id || !st->pending || st->bpp != g->bpp ||
            st->rect.x + st->rect.width > g->width || st->rect.y + st->rect.height > g->height)
            continue;
        int bw = (st->rect.width + 15) / 16, bh = (st->rect.height + 15) / 16;
        for (int by = 0; by < bh; by++)
            for (int bx = 0; bx < bw; bx++) {
                int b = by * bw + bx;
                if (!(st->mask[b / 8] & (1u << (b % 8))))
                    continue;
                /* Only the pixels that changed, a run of columns at a time. */
                const uint16_t *rows = st->rows + 16 * b;
                for (int r = 0; r < 16; r++)
                    for (unsigned cols = rows[r]; cols;) {
                        int c = __builtin_ctz(cols), n = __builtin_ctz(~(cols >> c));
                        int x = st->rect.x + bx * 16 + c, y = st->rect.y + by * 16 + r;
                        memcpy(s->pixels + (size_t)y * stride + (size_t)x * (size_t)g->bpp,
                               st->pixels + (size_t)(by * 16 + r) * st->stride +
                                   (size_t)(bx * 16 + c) * (size_t)st->bpp,
                               (size_t)n * (size_t)st->bpp);
                        cols &= ~(((1u << n) - 1) << c);
                    }
                /* Blocks are 16-aligned in the surface: one tile holds the block. */
                s->damage[(size_t)((st->rect.y + by * 16) / 64) * (size_t)g->cols +
                          (size_t)((st->rect.x + bx * 16) / 64)] = VD_TILE_DIRTY;
            }
        memset(st->mask, 0, st->mask_size);
        st->pending = 0;
    }
}

static int handle_tile(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_tile t;
    int ret = vd_wire_read_tile(msg, &t);
    if (ret < 0)
        return ret;
    dec_surface *s = find_surface(dec, t.surface_id, NULL);
    if (!s)
        return VD_ERR(EBADMSG);
    const vd_tile_grid *g = staged_grid(s);
    if (t.tx + t.count > g->cols || t.ty >= g->rows)
        return VD_ERR(EBADMSG);
    staging *st = &s->stage;
    uint8_t *covered = st->covered + (size_t)t.ty * (size_t)g->cols + t.tx;
    if (memchr(covered, 1, t.count))
        return VD_ERR(EBADMSG); /* a tile twice in one frame: never sent by an encoder */
    int x = t.tx * 64, w = VD_MIN(64 * t.count, g->width - x);
    int h = VD_MIN(64, g->height - t.ty * 64) - t.top - t.bottom;
    if (h < 1)
        return VD_ERR(EBADMSG);
    size_t packed = (size_t)w * (size_t)h * (size_t)g->bpp;
    uint8_t *dst = vd_buf_reserve(&st->arena, packed);
    if (!dst)
        return VD_ERR(ENOMEM);
    uint8_t delta = t.encoding & VD_TILE_BULK_DELTA;
    if ((ret = vd_tile_decode(dec->tiles, t.encoding & ~VD_TILE_BULK_DELTA, t.data, t.size, w, h,
                              g->bpp, vd_format_has_x(staged_format(s)), dst)) < 0)
        return ret;
    memset(covered, 1, t.count);
    st->runs[st->n_runs++] = (staged_run){t.tx, t.ty, t.count, t.top, (uint8_t)h, !!delta,
                                          st->arena.size};
    st->arena.size += packed;
    return 0;
}

static int handle_codec_reset(vd_decoder *dec, const vd_msg *msg)
{
    uint32_t slots, flags;
    int ret = vd_wire_read_codec_reset(msg, &slots, &flags);
    if (ret < 0)
        return ret;
    if (flags & VD_CODEC_RESET_RESUME) {
        /* The streams may have decoded pictures of frames the encoder now sends again. */
        while (dec->n_streams)
            remove_stream(dec, dec->n_streams - 1);
        if ((ret = vd_tile_decoder_restart(dec->tiles, slots)) < 0)
            vd_log(VD_LOG_ERROR, "a resume needs the tile cache it had (%u slots, no error since)",
                   slots);
        return ret;
    }
    if ((ret = vd_tile_decoder_reset(dec->tiles, slots)) < 0)
        vd_log(VD_LOG_ERROR, "the encoder wants %u tile cache slots, more than this decoder's %u",
               slots, (unsigned)(dec->cfg.cache_size / VD_TILE_SLOT_BYTES));
    return ret;
}

/* Takes the source pixels now, from the committed image, which no message of the frame has
 * changed yet; the frame end puts them at the destination. */
static int handle_copy(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_copy c;
    int ret = vd_wire_read_copy(msg, &c);
    if (ret < 0)
        return ret;
    dec_surface *s = find_surface(dec, c.surface_id, NULL);
    if (!s || !s->committed || s->geometry_pending)
        return VD_ERR(EBADMSG);
    const vd_tile_grid *g = &s->grid;
    uint64_t gw = (uint64_t)g->width, gh = (uint64_t)g->height;
    staging *st = &s->stage;
    if (!c.width || !c.height || (uint64_t)c.src_x + c.width > gw || (uint64_t)c.dst_x + c.width > gw ||
        (uint64_t)c.src_y + c.height > gh || (uint64_t)c.dst_y + c.height > gh ||
        st->n_copies >= (uint32_t)g->cols * (uint32_t)g->rows ||
        st->copy_pixels + (uint64_t)c.width * c.height > gw * gh)
        return VD_ERR(EBADMSG);
    size_t row = (size_t)c.width * (size_t)g->bpp, stride = (size_t)g->width * (size_t)g->bpp;
    uint8_t *dst = vd_buf_reserve(&st->arena, row * c.height);
    if (!dst)
        return VD_ERR(ENOMEM);
    vd_copy_rows(dst, row, s->pixels + (size_t)c.src_y * stride + (size_t)c.src_x * (size_t)g->bpp,
                 stride, row, c.height);
    st->copies[st->n_copies++] = (staged_copy){
        {(int32_t)c.dst_x, (int32_t)c.dst_y, (int32_t)c.width, (int32_t)c.height}, st->arena.size};
    st->arena.size += row * c.height;
    st->copy_pixels += (uint64_t)c.width * c.height;
    return 0;
}

/* Makes the staged geometry current: a cleared image whose every tile counts as damaged. */
static int commit_geometry(dec_surface *s)
{
    const vd_tile_grid *g = &s->next_grid;
    size_t n_tiles = (size_t)g->cols * (size_t)g->rows;
    uint8_t *pixels = calloc((size_t)g->width * (size_t)g->height, (size_t)g->bpp);
    uint8_t *damage = malloc(n_tiles);
    vd_rect *rects = malloc(n_tiles * sizeof(*rects));
    if (!pixels || !damage || !rects) {
        free(pixels);
        free(damage);
        free(rects);
        return VD_ERR(ENOMEM);
    }
    free(s->pixels);
    free(s->damage);
    free(s->rects);
    s->pixels = pixels;
    s->damage = damage;
    s->rects = rects;
    memset(s->damage, VD_TILE_DIRTY, n_tiles);
    if (!s->committed)
        s->image_flags |= VD_IMAGE_NEW_SURFACE;
    else if (g->width != s->grid.width || g->height != s->grid.height || s->next_format != s->format)
        s->image_flags |= VD_IMAGE_RESIZED;
    s->grid = *g;
    s->format = s->next_format;
    s->geometry_pending = 0;
    s->committed = 1;
    s->broken = 0;
    return 0;
}

/* A delta run: each byte of the difference (packed rows of row_bytes) is added modulo 256 to
 * the image's; with an X byte the pixels are 4 bytes and X stays 0xff. */
static void add_rows(uint8_t *dst, size_t stride, const uint8_t *diff, size_t row_bytes, int h,
                     int has_x)
{
    for (int y = 0; y < h; y++, dst += stride, diff += row_bytes) {
        for (size_t k = 0; k < row_bytes; k++)
            dst[k] = (uint8_t)(dst[k] + diff[k]);
        if (has_x)
            for (size_t k = 3; k < row_bytes; k += 4)
                dst[k] = 0xff;
    }
}

static int handle_frame_end(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_frame_end fe;
    int ret = vd_wire_read_frame_end(msg, &fe);
    if (ret < 0)
        return ret;
    dec_surface *s = find_surface(dec, fe.surface_id, NULL);
    if (!s)
        return VD_ERR(EBADMSG);
    if (s->geometry_pending && (ret = commit_geometry(s)) < 0)
        return ret;
    const vd_tile_grid *g = &s->grid;
    size_t stride = (size_t)g->width * (size_t)g->bpp;
    staging *st = &s->stage;
    for (uint32_t i = 0; i < st->n_copies; i++) {
        const staged_copy *c = &st->copies[i];
        size_t row = (size_t)c->dst.width * (size_t)g->bpp;
        vd_copy_rows(s->pixels + (size_t)c->dst.y * stride + (size_t)c->dst.x * (size_t)g->bpp, stride,
                     st->arena.data + c->offset, row, row, (size_t)c->dst.height);
        for (int ty = c->dst.y / 64; ty <= (c->dst.y + c->dst.height - 1) / 64; ty++)
            memset(s->damage + (size_t)ty * (size_t)g->cols + (size_t)(c->dst.x / 64), VD_TILE_DIRTY,
                   (size_t)((c->dst.x + c->dst.width - 1) / 64 - c->dst.x / 64 + 1));
    }
    apply_streams(dec, s);
    for (uint32_t i = 0; i < st->n_runs; i++) {
        const staged_run *run = &st->runs[i];
        int x = run->tx * 64, y = run->ty * 64 + run->top;
        int w = VD_MIN(64 * run->count, g->width - x), h = run->height;
        size_t row_bytes = (size_t)w * (size_t)g->bpp;
        uint8_t *at = s->pixels + (size_t)y * stride + (size_t)x * (size_t)g->bpp;
        if (run->delta)
            add_rows(at, stride, st->arena.data + run->offset, row_bytes, h,
                     vd_format_has_x(s->format));
        else
            vd_copy_rows(at, stride, st->arena.data + run->offset, row_bytes, row_bytes, (size_t)h);
        memset(s->damage + (size_t)run->ty * (size_t)g->cols + run->tx, VD_TILE_DIRTY, run->count);
    }
    staging_reset(s);
    s->image_ready = 1;
    s->frame_seq = fe.frame_seq;
    dec->last_frame_seq = fe.frame_seq;
    s->pts_us = fe.pts_us;
    return 0;
}

static int handle_destroy(vd_decoder *dec, const vd_msg *msg)
{
    uint32_t id;
    unsigned index;
    int ret = vd_wire_read_surface_destroy(msg, &id);
    if (ret < 0)
        return ret;
    /* The report list is bounded: a packet may not destroy more surfaces than can exist. */
    if (!find_surface(dec, id, &index) || dec->n_destroyed == MAX_SURFACES)
        return VD_ERR(EBADMSG);
    int was_committed = dec->surfaces[index]->committed;
    remove_surface(dec, index);
    if (was_committed)
        dec->destroyed[dec->n_destroyed++] = id;
    return 0;
}

/* A stream frame that is not decoded leaves its decoder behind the encoder: what follows
 * would decode to garbage, so the stream waits for a key frame. */
static void skip_stream_frame(vd_decoder *dec, const vd_msg *msg)
{
    vd_msg_stream_frame m;
    dec_stream *st;
    if (msg->type == VD_MSG_STREAM_FRAME && vd_wire_read_stream_frame(msg, &m) == 0 &&
        (st = find_stream(dec, m.stream_id, NULL))) {
        if (m.flags & VD_STREAM_FRAME_KEY)
            st->key_asked = 0;
        request_key(dec, st);
    }
}

static int handle_message(vd_decoder *dec, const vd_msg *msg)
{
    if (msg->type == VD_MSG_HELLO) {
        int ret = vd_wire_read_hello(msg);
        /* A stream of another version stays refused until a valid HELLO restarts it; a
         * malformed HELLO is just a bad message (corruption must not end the stream). */
        if (ret == 0)
            dec->hello_seen = 1;
        else if (ret == VD_ERR(ENOTSUP))
            dec->hello_seen = 0;
        return ret;
    }
    if (!dec->hello_seen)
        return VD_ERR(EBADMSG);
    if (dec->resync) {
        skip_stream_frame(dec, msg);
        /* The broken frame ends at its FRAME_END; a refresh starts with a create or resize. */
        if (msg->type == VD_MSG_FRAME_END) {
            dec->resync = 0;
            return 0;
        }
        if (msg->type != VD_MSG_SURFACE_CREATE && msg->type != VD_MSG_SURFACE_RESIZE &&
            msg->type != VD_MSG_CODEC_RESET)
            return 0;
        dec->resync = 0;
    }
    switch (msg->type) {
    case VD_MSG_SURFACE_CREATE:
    case VD_MSG_SURFACE_RESIZE:
        return handle_surface(dec, msg);
    case VD_MSG_SURFACE_DESTROY:
        return handle_destroy(dec, msg);
    case VD_MSG_TILE:
        return handle_tile(dec, msg);
    case VD_MSG_FRAME_END:
        return handle_frame_end(dec, msg);
    case VD_MSG_CODEC_RESET:
        return handle_codec_reset(dec, msg);
    case VD_MSG_COPY:
        return handle_copy(dec, msg);
    case VD_MSG_STREAM_CREATE:
        return handle_stream_create(dec, msg);
    case VD_MSG_STREAM_FRAME:
        return handle_stream_frame(dec, msg);
    case VD_MSG_STREAM_DESTROY:
        return handle_stream_destroy(dec, msg);
    default:
        return (msg->flags & VD_MSG_FLAG_OPTIONAL) ? 0 : VD_ERR(EBADMSG);
    }
}

static int images_waiting(const vd_decoder *dec)
{
    if (dec->n_destroyed)
        return 1;
    for (unsigned i = 0; i < dec->n_surfaces; i++)
        if (dec->surfaces[i]->image_ready)
            return 1;
    return 0;
}

int vd_decoder_send_packet(vd_decoder *dec, const uint8_t *data, size_t size)
{
    if (dec->draining)
        return VD_EOF;
    if (images_waiting(dec))
        return VD_ERR(EAGAIN);
    if (!data) {
        dec->draining = 1;
        return 0;
    }
    const uint8_t *pos = data, *end = data + size;
    vd_msg msg;
    int ret;
    while ((ret = vd_wire_next(&pos, end, &msg)) > 0) {
        if ((ret = handle_message(dec, &msg)) < 0)
            break;
    }
    if (ret < 0) {
        vd_log(VD_LOG_ERROR, "bad packet near byte %zu of %zu (%s); dropping the frame",
               (size_t)(pos - data), size, vd_strerror(ret));
        drop_staged(dec);
        /* Tiles dropped from here on still went into the encoder's history and cache.  So
         * did the stream frames: the one that failed, those of the frame dropped (decoded,
         * never shown), any the broken framing hid; every stream waits for a key frame. */
        vd_tile_decoder_invalidate(dec->tiles);
        for (unsigned k = 0; k < dec->n_streams; k++)
            request_key(dec, &dec->streams[k]);
        for (unsigned i = 0; i < dec->n_surfaces; i++)
            dec->surfaces[i]->broken = 1;
        /* A destroy already applied in this packet stays reported; pending images stay.
         * The rest of the broken frame is dropped, up to its FRAME_END, which may still be
         * in this packet when only a message body was bad. */
        dec->resync = 1;
        while (vd_wire_next(&pos, end, &msg) > 0) {
            skip_stream_frame(dec, &msg);
            if (msg.type == VD_MSG_FRAME_END)
                dec->resync = 0;
        }
        return ret == VD_ERR(ENOMEM) || ret == VD_ERR(ENOTSUP) ? ret : VD_ERR(EBADMSG);
    }
    return 0;
}

int vd_decoder_receive_image(vd_decoder *dec, vd_image *img)
{
    if (dec->n_destroyed) {
        *img = (vd_image){.surface_id = dec->destroyed[--dec->n_destroyed],
                          .flags = VD_IMAGE_DESTROYED};
        return 0;
    }
    for (unsigned i = 0; i < dec->n_surfaces; i++) {
        dec_surface *s = dec->surfaces[i];
        if (!s->image_ready)
            continue;
        size_t n = vd_damage_rects(&s->grid, s->damage, s->rects);
        memset(s->damage, 0, (size_t)s->grid.cols * (size_t)s->grid.rows);
        *img = (vd_image){
            .surface_id = s->id,
            .flags = s->image_flags,
            .format = s->format,
            .width = s->grid.width,
            .height = s->grid.height,
            .stride = s->grid.width * s->grid.bpp,
            .data = s->pixels,
            .damage = s->rects,
            .n_damage = n,
            .frame_seq = s->frame_seq,
            .pts_us = s->pts_us,
        };
        s->image_ready = 0;
        s->image_flags = 0;
        return 0;
    }
    return dec->draining ? VD_EOF : VD_ERR(EAGAIN);
}

int vd_decoder_get_resume_state(vd_decoder *dec, vd_resume_state *state)
{
    /* The frame cut off by the drop will come again whole, or not at all. */
    drop_staged(dec);
    dec->resync = 0;
    /* A surface that may miss tiles goes (the viewer is told); the encoder re-creates it. */
    int usable = dec->hello_seen && vd_tile_decoder_ready(dec->tiles);
    for (unsigned i = dec->n_surfaces; i-- > 0;) {
        if (!dec->surfaces[i]->broken)
            continue;
        if (dec->n_destroyed == MAX_SURFACES) { /* cannot report it: everything comes again */
            usable = 0;
            continue;
        }
        dec->destroyed[dec->n_destroyed++] = dec->surfaces[i]->id;
        remove_surface(dec, i);
    }
    *state = (vd_resume_state){.frame_seq = usable ? dec->last_frame_seq : 0};
    for (unsigned i = 0; i < dec->n_surfaces; i++)
        state->surface_ids[state->n_surfaces++] = dec->surfaces[i]->id;
    return 0;
}

size_t vd_decoder_get_key_requests(vd_decoder *dec, uint32_t *ids, size_t max)
{
    size_t n = VD_MIN((size_t)dec->n_key_requests, max);
    memcpy(ids, dec->key_requests, n * sizeof(*ids));
    memmove(dec->key_requests, dec->key_requests + n, (dec->n_key_requests - n) * sizeof(*ids));
    dec->n_key_requests -= (unsigned)n;
    return n;
}
