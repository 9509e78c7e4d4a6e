/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the tests that use only the public API (roundtrip, corrupt, fuzz seeds).
 * Header-only: every function is static inline, so a test includes what it needs and unused
 * helpers cost nothing (and raise no -Wunused-function).
 *
 *   tu_rng            deterministic splitmix64 PRNG (same sequence on every machine)
 *   tu_fill_desktop   fills a frame with "desktop-like" pixels: flat areas, gradients, text
 *   tu_scribble       changes a few random rectangles of a frame and reports them as damage
 *   CHECK(cond, ...)  prints file:line, the condition and a printf message, then exit(1)
 *   tu_packets        growable list of encoder packets that stays valid after the encoder moves on
 *                     (tu_packets_clear empties it)
 *   tu_encode_frame   send_frame + receive every packet into a tu_packets
 *   tu_image_diff     compares a decoded image with a source frame, ignoring X bytes
 */
#ifndef VD_TESTUTIL_H
#define VD_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vd/vd.h>

/* Fails the test with a message: file:line, the failed condition, then printf(...). */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#define TU_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- PRNG ------------------------------------------------------------------------------- */

/* splitmix64: tiny, seedable, and identical everywhere, so failures reproduce. */
typedef struct tu_rng {
    uint64_t state;
} tu_rng;

static inline tu_rng tu_rng_init(uint64_t seed) { return (tu_rng){seed}; }

static inline uint64_t tu_rng_u64(tu_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static inline uint32_t tu_rng_u32(tu_rng *r) { return (uint32_t)(tu_rng_u64(r) >> 32); }

/* Uniform in [0, n); n = 0 gives 0.  The modulo bias is irrelevant for tests. */
static inline uint32_t tu_rng_below(tu_rng *r, uint32_t n) { return n ? tu_rng_u32(r) % n : 0; }

/* ---- allocation ------------------------------------------------------------------------- */

/* malloc/realloc that end the test on failure, so callers need no error paths. */
static inline void *tu_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    CHECK(p, "out of memory allocating %zu bytes", size);
    return p;
}

static inline void *tu_xrealloc(void *old, size_t size)
{
    void *p = realloc(old, size ? size : 1);
    CHECK(p, "out of memory reallocating %zu bytes", size);
    return p;
}

/* ---- source frames ---------------------------------------------------------------------- */

/* A source frame owned by a test; stride may exceed width * bpp to exercise padding. */
typedef struct tu_canvas {
    enum vd_pixel_format format;
    int width, height, stride, bpp;
    uint8_t *data;
} tu_canvas;

/* Allocates a zeroed canvas; pad adds bytes after each row (stride = width * bpp + pad). */
static inline tu_canvas tu_canvas_new(enum vd_pixel_format format, int width, int height, int pad)
{
    tu_canvas c = {.format = format, .width = width, .height = height};
    c.bpp = vd_format_bytes_per_pixel(format);
    CHECK(c.bpp > 0, "unknown format %d", (int)format);
    c.stride = width * c.bpp + pad;
    c.data = calloc((size_t)c.stride * (size_t)height + 1, 1);
    CHECK(c.data, "out of memory for a %dx%d canvas", width, height);
    return c;
}

static inline void tu_canvas_free(tu_canvas *c)
{
    free(c->data);
    c->data = NULL;
}

/* Sets one pixel from a 32-bit value: the low bpp bytes are stored in memory order. */
static inline void tu_put_pixel(const tu_canvas *c, int x, int y, uint32_t v)
{
    uint8_t *p = c->data + (size_t)y * (size_t)c->stride + (size_t)x * (size_t)c->bpp;
    for (int i = 0; i < c->bpp; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

enum tu_pattern {
    TU_FLAT,     /* window background: compresses very well */
    TU_GRADIENT, /* smooth but never repeating */
    TU_TEXT,     /* sparse dark strokes on a flat background */
    TU_NOISE,    /* photo-like noise: incompressible, so the encoder sends raw tiles */
    TU_PATTERNS
};

/* Fills a rectangle (clipped to the canvas) with a pattern. */
static inline void tu_paint_pattern(tu_rng *r, const tu_canvas *c, vd_rect rect,
                                    enum tu_pattern kind)
{
    int x0 = rect.x < 0 ? 0 : rect.x, y0 = rect.y < 0 ? 0 : rect.y;
    int x1 = rect.x + rect.width > c->width ? c->width : rect.x + rect.width;
    int y1 = rect.y + rect.height > c->height ? c->height : rect.y + rect.height;
    uint32_t base = tu_rng_u32(r);
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            uint32_t v;
            switch (kind) {
            case TU_FLAT:
                v = base;
                break;
            case TU_GRADIENT:
                v = base + (uint32_t)(x * 0x010203 + y * 0x030201);
                break;
            case TU_TEXT:
                v = (tu_rng_below(r, 5) == 0) ? 0x101010u : base;
                break;
            default:
                v = tu_rng_u32(r);
                break;
            }
            tu_put_pixel(c, x, y, v);
        }
    }
}

/* Fills a rectangle with a random pattern; noise (raw tiles) one time in eight. */
static inline void tu_paint_rect(tu_rng *r, const tu_canvas *c, vd_rect rect)
{
    uint32_t k = tu_rng_below(r, 8);
    tu_paint_pattern(r, c, rect, k == 0 ? TU_NOISE : (enum tu_pattern)(k % 3));
}

/* Fills the whole canvas with a desktop-like mix: a background, then random windows, and
 * random bytes in the row padding (which must never reach the output). */
static inline void tu_fill_desktop(tu_rng *r, const tu_canvas *c)
{
    /* A desktop background is rarely noise; windows may be (photos, video). */
    tu_paint_pattern(r, c, (vd_rect){0, 0, c->width, c->height},
                     (enum tu_pattern)tu_rng_below(r, 3));
    int windows = 1 + (int)tu_rng_below(r, 6);
    for (int i = 0; i < windows; i++) {
        vd_rect w = {(int32_t)tu_rng_below(r, (uint32_t)c->width),
                     (int32_t)tu_rng_below(r, (uint32_t)c->height),
                     1 + (int32_t)tu_rng_below(r, (uint32_t)c->width),
                     1 + (int32_t)tu_rng_below(r, (uint32_t)c->height)};
        tu_paint_rect(r, c, w);
    }
    for (int y = 0; y < c->height; y++)
        for (int i = c->width * c->bpp; i < c->stride; i++)
            c->data[(size_t)y * (size_t)c->stride + (size_t)i] = (uint8_t)tu_rng_u32(r);
}

/* An encoder (cfg NULL: the defaults), a decoder, and a w x h BGRX desktop to show them. */
static inline tu_canvas tu_open_desktop(const vd_encoder_config *cfg, int w, int h, tu_rng *r,
                                        vd_encoder **enc, vd_decoder **dec)
{
    CHECK(vd_encoder_new(cfg, enc) == 0 && vd_decoder_new(NULL, dec) == 0, "encoder/decoder new");
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, w, h, 0);
    tu_fill_desktop(r, &c);
    return c;
}

static inline void tu_close_desktop(tu_canvas *c, vd_encoder **enc, vd_decoder **dec)
{
    tu_canvas_free(c);
    vd_encoder_free(enc);
    vd_decoder_free(dec);
}

/* Repaints up to n random rectangles and writes them to damage (room for n); returns how many.
 * The rectangles are what changed, so they are exact damage for the encoder. */
static inline size_t tu_scribble(tu_rng *r, const tu_canvas *c, vd_rect *damage, size_t n)
{
    size_t count = 1 + tu_rng_below(r, (uint32_t)n);
    for (size_t i = 0; i < count; i++) {
        int w = 1 + (int)tu_rng_below(r, (uint32_t)(c->width < 80 ? c->width : 80));
        int h = 1 + (int)tu_rng_below(r, (uint32_t)(c->height < 40 ? c->height : 40));
        damage[i] = (vd_rect){(int32_t)tu_rng_below(r, (uint32_t)(c->width - w + 1)),
                              (int32_t)tu_rng_below(r, (uint32_t)(c->height - h + 1)), w, h};
        tu_paint_rect(r, c, damage[i]);
    }
    return count;
}

/* A vd_frame describing a canvas; damage NULL means "unknown, scan everything". */
static inline vd_frame tu_frame(const tu_canvas *c, uint32_t surface_id, const vd_rect *damage,
                                size_t n_damage)
{
    return (vd_frame){.surface_id = surface_id,
                      .format = c->format,
                      .width = c->width,
                      .height = c->height,
                      .stride = c->stride,
                      .data = c->data,
                      .damage = damage,
                      .n_damage = n_damage};
}

/* ---- packet lists ----------------------------------------------------------------------- */

typedef struct tu_packet_info {
    size_t offset, size; /* into tu_packets.data */
    uint32_t flags, surface_id;
    uint64_t frame_seq;
} tu_packet_info;

/* Copies of encoder packets, kept after the encoder has moved on.  Zero-initialise. */
typedef struct tu_packets {
    uint8_t *data;
    size_t size, capacity;
    tu_packet_info *info;
    size_t count, info_capacity;
} tu_packets;

static inline void tu_packets_free(tu_packets *pl)
{
    free(pl->data);
    free(pl->info);
    *pl = (tu_packets){0};
}

/* Empties pl, keeping its buffers. */
static inline void tu_packets_clear(tu_packets *pl)
{
    pl->size = 0;
    pl->count = 0;
}

/* Appends a copy of size bytes as one packet. */
static inline void tu_packets_append(tu_packets *pl, const uint8_t *data, size_t size,
                                     uint32_t flags, uint32_t surface_id, uint64_t frame_seq)
{
    if (pl->size + size > pl->capacity) {
        size_t cap = pl->capacity ? pl->capacity : 4096;
        while (cap < pl->size + size)
            cap *= 2;
        pl->data = tu_xrealloc(pl->data, cap);
        pl->capacity = cap;
    }
    if (pl->count == pl->info_capacity) {
        pl->info_capacity = pl->info_capacity ? pl->info_capacity * 2 : 16;
        pl->info = tu_xrealloc(pl->info, pl->info_capacity * sizeof(*pl->info));
    }
    if (size)
        memcpy(pl->data + pl->size, data, size);
    pl->info[pl->count++] =
        (tu_packet_info){pl->size, size, flags, surface_id, frame_seq};
    pl->size += size;
}

/* The bytes of packet i. */
static inline const uint8_t *tu_packet_data(const tu_packets *pl, size_t i)
{
    return pl->data + pl->info[i].offset;
}

/* Moves every packet the encoder has waiting into pl; returns how many. */
static inline size_t tu_receive_packets(vd_encoder *enc, tu_packets *pl)
{
    vd_packet pkt;
    size_t n = 0;
    int ret;
    while ((ret = vd_encoder_receive_packet(enc, &pkt)) == 0) {
        tu_packets_append(pl, pkt.data, pkt.size, pkt.flags, pkt.surface_id, pkt.frame_seq);
        n++;
    }
    CHECK(ret == VD_ERR(EAGAIN) || ret == VD_EOF, "receive_packet: %s", vd_strerror(ret));
    return n;
}

/* Encodes one frame and appends all its packets to pl.  Returns send_frame's result: on 0
 * the frame's packets (the last one flagged VD_PACKET_FRAME_END) are in pl; on an error
 * nothing was appended. */
static inline int tu_encode_frame(vd_encoder *enc, const vd_frame *frame, tu_packets *pl)
{
    int ret = vd_encoder_send_frame(enc, frame);
    if (ret < 0)
        return ret;
    size_t n = tu_receive_packets(enc, pl);
    CHECK(n > 0 && (pl->info[pl->count - 1].flags & VD_PACKET_FRAME_END),
          "a frame produced %zu packets without a final FRAME_END packet", n);
    return 0;
}

/* ---- image comparison ------------------------------------------------------------------- */

/* 1 when byte i of a pixel is content, 0 for the ignored X byte of BGRX/RGBX. */
static inline int tu_byte_counts(enum vd_pixel_format format, int i)
{
    return !((format == VD_FORMAT_BGRX8888 || format == VD_FORMAT_RGBX8888) && i == 3);
}

/* Compares a decoded image with the source (data/stride of a w x h frame of format), ignoring
 * X bytes.  Returns -1 when they match (geometry included), else the index of the first
 * differing pixel (y * width + x), or 0 when the geometry or format differs. */
static inline long tu_image_diff(const vd_image *img, enum vd_pixel_format format, int width,
                                 int height, const uint8_t *data, int stride)
{
    if (!img->data || img->format != format || img->width != width || img->height != height)
        return 0;
    int bpp = vd_format_bytes_per_pixel(format);
    for (int y = 0; y < height; y++) {
        const uint8_t *a = img->data + (size_t)y * (size_t)img->stride;
        const uint8_t *b = data + (size_t)y * (size_t)stride;
        if (!memcmp(a, b, (size_t)width * (size_t)bpp))
            continue;
        for (int x = 0; x < width; x++)
            for (int i = 0; i < bpp; i++)
                if (tu_byte_counts(format, i) &&
                    a[x * bpp + i] != b[x * bpp + i])
                    return (long)y * width + x;
    }
    return -1;
}

/* tu_image_diff against a canvas. */
static inline long tu_image_diff_canvas(const vd_image *img, const tu_canvas *c)
{
    return tu_image_diff(img, c->format, c->width, c->height, c->data, c->stride);
}

/* tu_image_diff of a canvas that holds a copy of a decoded image against the source. */
static inline long tu_canvas_diff(const tu_canvas *shown, const tu_canvas *c)
{
    vd_image img = {.format = shown->format, .width = shown->width, .height = shown->height,
                    .stride = shown->stride, .data = shown->data};
    return tu_image_diff_canvas(&img, c);
}

/* Tiles (64x64) of two same-sized canvases that differ, X bytes ignored. */
static inline int tu_tiles_differing(const tu_canvas *a, const tu_canvas *b)
{
    int n = 0;
    for (int ty = 0; ty < (a->height + 63) / 64; ty++)
        for (int tx = 0; tx < (a->width + 63) / 64; tx++) {
            int differs = 0;
            for (int y = ty * 64; y < a->height && y < ty * 64 + 64 && !differs; y++)
                for (int x = tx * 64; x < a->width && x < tx * 64 + 64 && !differs; x++)
                    for (int k = 0; k < a->bpp; k++)
                        differs |= tu_byte_counts(a->format, k) &&
                                   a->data[(size_t)y * (size_t)a->stride + (size_t)(x * a->bpp + k)] !=
                                       b->data[(size_t)y * (size_t)b->stride + (size_t)(x * b->bpp + k)];
            n += differs;
        }
    return n;
}

/* Bytes a fresh encoder spends on sending again the tiles of `to` that differ from `from`,
 * whole, with the whole of `from` in its history: what a client that missed them gets after
 * a resume, where the encoder does not know which of their pixels the client has and so
 * sends no differences.  (Between the two, those tiles are painted one flat colour, so that
 * they change entirely.) */
static inline size_t tu_resend_bytes(const tu_canvas *from, const tu_canvas *to)
{
    vd_encoder *enc;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    tu_canvas mid = tu_canvas_new(from->format, from->width, from->height, 0);
    for (int y = 0; y < from->height; y++)
        memcpy(mid.data + (size_t)y * (size_t)mid.stride, from->data + (size_t)y * (size_t)from->stride,
               (size_t)from->width * (size_t)from->bpp);
    for (int ty = 0; ty < (from->height + 63) / 64; ty++)
        for (int tx = 0; tx < (from->width + 63) / 64; tx++) {
            int differs = 0;
            for (int y = ty * 64; y < from->height && y < ty * 64 + 64 && !differs; y++)
                differs = memcmp(from->data + (size_t)y * (size_t)from->stride + (size_t)(tx * 64 * from->bpp),
                                 to->data + (size_t)y * (size_t)to->stride + (size_t)(tx * 64 * to->bpp),
                                 (size_t)((from->width - tx * 64 < 64 ? from->width - tx * 64 : 64) * from->bpp)) != 0;
            for (int y = ty * 64; differs && y < from->height && y < ty * 64 + 64; y++)
                memset(mid.data + (size_t)y * (size_t)mid.stride + (size_t)(tx * 64 * from->bpp), 0x5a,
                       (size_t)((from->width - tx * 64 < 64 ? from->width - tx * 64 : 64) * from->bpp));
        }
    tu_packets pl = {0};
    const tu_canvas *seq[3] = {from, &mid, to};
    size_t before = 0;
    for (int i = 0; i < 3; i++) {
        vd_frame f = tu_frame(seq[i], 1, NULL, 0);
        f.pts_us = i * 33333;
        before = pl.size;
        CHECK(tu_encode_frame(enc, &f, &pl) == 0, "resend: frame %d", i);
    }
    size_t n = pl.size - before;
    tu_packets_free(&pl);
    tu_canvas_free(&mid);
    vd_encoder_free(&enc);
    return n;
}

#endif
