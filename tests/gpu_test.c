/* GPU damage detection (lib/gpu.h) against the CPU path: the mask bit for bit, the tile
 * statistics against vd_tile_stats_c(), the video streams' pictures converted on the GPU, the
 * encoder's bytes and classes frame by frame, and the fallbacks (off, a missing device, a
 * failure at any Vulkan call).  Runs on whatever device there is (lavapipe in CI); without
 * one the fallback checks and the video encoder's YUV input still run and the test exits 77.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "testutil.h"

#include "../codec/video.h"
#include "classify.h"
#include "classify_params.h"
#include "damage.h"
#include "gpu.h"

static const enum vd_pixel_format formats[] = {VD_FORMAT_BGRX8888, VD_FORMAT_BGRA8888,
                                               VD_FORMAT_RGBX8888, VD_FORMAT_RGBA8888,
                                               VD_FORMAT_RGB565};

/* Warnings about the GPU: a fallback must log exactly one. */
static int gpu_warnings;
/* What the scenarios covered, from the GPU encoder's stats. */
static long streamed, copied, held_back, detected;
/* Test hook for run_pair(): before the GPU encoder's frame fail_frame, vd_gpu_test_fail_call(fail_call). */
static int fail_frame = -1, fail_call;

static void log_cb(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque;
    if (level <= VD_LOG_WARNING && strstr(msg, "GPU offload"))
        gpu_warnings++;
    fprintf(stderr, "  [log %d] %s\n", (int)level, msg);
}

/* ---- the mask, directly ------------------------------------------------------------------- */

/* Random changes a desktop sees, and the ones that must not count: X bytes, row padding. */
static void mutate(tu_rng *r, const tu_canvas *c)
{
    size_t row_bytes = (size_t)c->width * (size_t)c->bpp;
    switch (tu_rng_below(r, 6)) {
    case 0: { /* repaint rectangles */
        vd_rect d[4];
        tu_scribble(r, c, d, 4);
        break;
    }
    case 1: /* one byte anywhere, padding included */
        c->data[tu_rng_below(r, (uint32_t)(c->stride * c->height))] ^= (uint8_t)(1 + tu_rng_below(r, 255));
        break;
    case 2: /* only the fourth byte of each pixel of a rectangle (X for BGRX/RGBX) */
        if (c->bpp == 4) {
            int x0 = (int)tu_rng_below(r, (uint32_t)c->width), y0 = (int)tu_rng_below(r, (uint32_t)c->height);
            for (int y = y0; y < c->height && y < y0 + 70; y++)
                for (int x = x0; x < c->width && x < x0 + 70; x++)
                    c->data[(size_t)y * (size_t)c->stride + (size_t)x * 4 + 3] ^= 0x5a;
        }
        break;
    case 3: /* the last byte of a row: the end of the last tile column */
        c->data[tu_rng_below(r, (uint32_t)c->height) * (size_t)c->stride + row_bytes - 1] ^= 0x01;
        break;
    case 4: /* the first byte of a tile column */
        c->data[tu_rng_below(r, (uint32_t)c->height) * (size_t)c->stride +
                tu_rng_below(r, (uint32_t)((c->width + 63) / 64)) * 64 * (size_t)c->bpp] ^= 0x80;
        break;
    default: /* nothing */
        break;
    }
}

/* Content the classifier's statistics tell apart: noise-sized changes (a video's grain), a
 * few or a few dozen colours (around VD_CLS_COLOUR_CAP), text, gradients, noise. */
static void mutate_content(tu_rng *r, const tu_canvas *c)
{
    vd_rect d = {(int32_t)tu_rng_below(r, (uint32_t)c->width), (int32_t)tu_rng_below(r, (uint32_t)c->height),
                 1 + (int32_t)tu_rng_below(r, 140), 1 + (int32_t)tu_rng_below(r, 140)};
    int x1 = VD_MIN(c->width, d.x + d.width), y1 = VD_MIN(c->height, d.y + d.height);
    switch (tu_rng_below(r, 4)) {
    case 0: { /* small changes per channel, some of them noise-sized, some not */
        int amp = 1 + (int)tu_rng_below(r, 10);
        for (int y = d.y; y < y1; y++)
            for (int x = d.x; x < x1; x++)
                for (int k = 0; k < c->bpp; k++) {
                    uint8_t *b = &c->data[(size_t)y * (size_t)c->stride + (size_t)x * (size_t)c->bpp + (size_t)k];
                    *b = (uint8_t)(*b + (int)tu_rng_below(r, (uint32_t)(2 * amp + 1)) - amp);
                }
        break;
    }
    case 1: { /* a palette of 1 to 100 colours */
        uint32_t pal[100];
        uint32_t n = 1 + tu_rng_below(r, 100);
        for (uint32_t i = 0; i < n; i++)
            pal[i] = tu_rng_u32(r);
        for (int y = d.y; y < y1; y++)
            for (int x = d.x; x < x1; x++)
                tu_put_pixel(c, x, y, pal[tu_rng_below(r, n)]);
        break;
    }
    default:
        tu_paint_pattern(r, c, d, (enum tu_pattern)tu_rng_below(r, TU_PATTERNS));
        break;
    }
}

/* A cursor rectangle: none, inside, across the edges or beyond them. */
static vd_rect random_cursor(tu_rng *r, int w, int h)
{
    switch (tu_rng_below(r, 4)) {
    case 0: return (vd_rect){0, 0, 0, 0};
    case 1: return (vd_rect){(int32_t)tu_rng_below(r, (uint32_t)w), (int32_t)tu_rng_below(r, (uint32_t)h),
                             1 + (int32_t)tu_rng_below(r, 48), 1 + (int32_t)tu_rng_below(r, 48)};
    case 2: return (vd_rect){(int32_t)tu_rng_below(r, 80) - 60, (int32_t)tu_rng_below(r, 80) - 60,
                             (int32_t)tu_rng_below(r, 200), (int32_t)tu_rng_below(r, 200)};
    default: /* what the encoder makes of an old and a new place: large, maybe empty-wide */
        return (vd_rect){(int32_t)tu_rng_below(r, (uint32_t)w + 10) - 5, (int32_t)tu_rng_below(r, (uint32_t)h + 10) - 5,
                         (int32_t)tu_rng_below(r, 300) - 20, (int32_t)tu_rng_below(r, 300)};
    }
}

/* A rectangle inside w x h, from one pixel to all of it. */
static vd_rect random_rect(tu_rng *r, int w, int h)
{
    int rw = 1 + (int)tu_rng_below(r, (uint32_t)w), rh = 1 + (int)tu_rng_below(r, (uint32_t)h);
    if (tu_rng_below(r, 4) == 0)
        rw = w; /* whole rows: one copy region */
    return (vd_rect){(int32_t)tu_rng_below(r, (uint32_t)(w - rw + 1)),
                     (int32_t)tu_rng_below(r, (uint32_t)(h - rh + 1)), rw, rh};
}

static void test_mask(const vd_encoder_config *cfg)
{
    static const int sizes[][2] = {{1, 1}, {3, 2}, {64, 64}, {65, 65}, {127, 63}, {131, 67}, {257, 70}};
    static const int pads[] = {0, 1, 3, 64};
    vd_gpu *g = vd_gpu_new(cfg);
    CHECK(g, "no GPU context");
    vd_damage_dsp dsp;
    vd_damage_dsp_init(&dsp, ~0u);
    tu_rng r = tu_rng_init(7);
    long tiles = 0, dirty = 0, with_stats = 0, capped = 0, noisy = 0, skipped = 0, graded = 0;
    long scans = 0, in_place = 0;
    for (size_t fi = 0; fi < TU_ARRAY_SIZE(formats); fi++) {
        for (size_t si = 0; si < TU_ARRAY_SIZE(sizes); si++) {
            int w = sizes[si][0], h = sizes[si][1];
            tu_canvas c = tu_canvas_new(formats[fi], w, h, pads[(fi + si) % TU_ARRAY_SIZE(pads)]);
            tu_fill_desktop(&r, &c);
            vd_tile_grid grid;
            vd_tile_grid_init(&grid, w, h, formats[fi]);
            size_t row_bytes = (size_t)w * (size_t)c.bpp, n_tiles = (size_t)grid.cols * (size_t)grid.rows;
            uint8_t *prev = tu_xmalloc(row_bytes * (size_t)h);
            uint8_t *st_cpu = tu_xmalloc(n_tiles), *st_gpu = tu_xmalloc(n_tiles);
            vd_tile_stats *stats = tu_xmalloc(n_tiles * sizeof(*stats));
            vd_copy_rows(prev, row_bytes, c.data, (size_t)c.stride, row_bytes, (size_t)h);
            vd_gpu_surface *gs;
            CHECK(vd_gpu_surface_new(g, &grid, &gs) == 0 && gs, "surface %dx%d", w, h);
            for (int frame = 0; frame < 16; frame++) {
                mutate(&r, &c);
                mutate(&r, &c);
                for (int k = (int)tu_rng_below(&r, 3); k > 0; k--)
                    mutate_content(&r, &c);
                vd_rect cursor = random_cursor(&r, w, h);
                for (size_t i = 0; i < n_tiles; i++)
                    st_cpu[i] = frame % 3 == 0 || tu_rng_below(&r, 4) ? VD_TILE_CANDIDATE : VD_TILE_SKIP;
                memcpy(st_gpu, st_cpu, n_tiles);
                vd_damage_scan(&dsp, &grid, c.data, (size_t)c.stride, prev, row_bytes, st_cpu);
                memset(stats, 0xa5, n_tiles * sizeof(*stats));
                int ret = vd_gpu_damage_scan(g, gs, c.data, (size_t)c.stride, NULL, prev, st_gpu, &cursor, stats);
                CHECK(ret == (c.bpp == 4), "scan returned %d", ret);
                vd_gpu_times st;
                vd_gpu_get_times(g, &st);
                scans++;
                in_place += st.from_host;
                for (size_t i = 0; i < n_tiles; i++)
                    CHECK(st_cpu[i] == st_gpu[i], "format %d %dx%d frame %d tile %zu: CPU %d, GPU %d",
                          (int)formats[fi], w, h, frame, i, st_cpu[i], st_gpu[i]);
                /* The statistics of every dirty tile, against the reference the scan used. */
                for (size_t i = 0; ret == 1 && i < n_tiles; i++) {
                    if (st_cpu[i] != VD_TILE_DIRTY)
                        continue;
                    int x = (int)(i % (size_t)grid.cols) * 64, y = (int)(i / (size_t)grid.cols) * 64;
                    int tw = VD_MIN(64, w - x), th = VD_MIN(64, h - y);
                    vd_rect skip = {cursor.x - x, cursor.y - y, cursor.width, cursor.height};
                    vd_rect none = {0, 0, 0, 0};
                    vd_tile_stats ref, unskipped;
                    const uint8_t *cp = c.data + (size_t)y * (size_t)c.stride + (size_t)x * 4;
                    const uint8_t *pp = prev + (size_t)y * row_bytes + (size_t)x * 4;
                    vd_tile_stats_c(cp, (size_t)c.stride, pp, row_bytes, tw, th, 4, &skip, &ref);
                    vd_tile_stats_c(cp, (size_t)c.stride, pp, row_bytes, tw, th, 4, &none, &unskipped);
                    const vd_tile_stats *gt = &stats[i];
                    CHECK(ref.pixels == gt->pixels && ref.changed == gt->changed &&
                              ref.noise == gt->noise && ref.pairs == gt->pairs &&
                              ref.smooth == gt->smooth && ref.colours == gt->colours &&
                              ref.blocks == gt->blocks && ref.triples == gt->triples &&
                              ref.regular == gt->regular,
                          "format %d %dx%d frame %d tile %zu stats: CPU %u %u %u %u %u %u %04x %u "
                          "%u, GPU %u %u %u %u %u %u %04x %u %u", (int)formats[fi], w, h, frame,
                          i, ref.pixels, ref.changed, ref.noise, ref.pairs, ref.smooth,
                          ref.colours, ref.blocks, ref.triples, ref.regular, gt->pixels,
                          gt->changed, gt->noise, gt->pairs, gt->smooth, gt->colours, gt->blocks,
                          gt->triples, gt->regular);
                    with_stats++;
                    capped += ref.colours == VD_CLS_COLOUR_CAP;
                    noisy += ref.noise > 0 && ref.noise < ref.changed;
                    skipped += ref.changed != unskipped.changed;
                    graded += ref.regular > 0 && ref.regular < ref.triples;
                }
                tiles += (long)n_tiles;
                for (size_t i = 0; i < n_tiles; i++)
                    dirty += st_cpu[i] == VD_TILE_DIRTY;
                /* What an encoder does next: sends some rectangles of this frame (recorded),
                 * or, one frame in five, changes its reference off the GPU (invalidated). */
                int off_gpu = tu_rng_below(&r, 5) == 0;
                if (off_gpu)
                    vd_gpu_surface_invalidate(gs);
                for (int k = (int)tu_rng_below(&r, 6); k > 0; k--) {
                    vd_rect u = random_rect(&r, w, h);
                    vd_copy_rows(prev + (size_t)u.y * row_bytes + (size_t)u.x * (size_t)c.bpp, row_bytes,
                                 c.data + (size_t)u.y * (size_t)c.stride + (size_t)u.x * (size_t)c.bpp,
                                 (size_t)c.stride, (size_t)u.width * (size_t)c.bpp, (size_t)u.height);
                    vd_gpu_surface_record(gs, u.x, u.y, u.width, u.height);
                }
                if (off_gpu) /* and anything else may have happened to it meanwhile */
                    prev[tu_rng_below(&r, (uint32_t)(row_bytes * (size_t)h))] ^= 0x10;
            }
            vd_gpu_surface_free(g, &gs);
            free(prev);
            free(st_cpu);
            free(st_gpu);
            free(stats);
            tu_canvas_free(&c);
        }
    }
    vd_gpu_times t;
    vd_gpu_get_times(g, &t);
    /* A device that can read host frames in place does so for every frame, padded rows too. */
    CHECK(t.host_failures == 0 && (t.host_imports == 0 || in_place == scans),
          "%ld of %ld scans read the frame in place, %llu failed", in_place, scans,
          (unsigned long long)t.host_failures);
    printf("gpu_test: masks equal over %ld tiles (%ld dirty; %ld of %ld frames read in place); "
           "last scan %s timestamps\n", tiles, dirty, in_place, scans,
           t.has_timestamps ? "with" : "without");
    printf("gpu_test: statistics equal over %ld dirty tiles (%ld at the colour cap, %ld with some "
           "noise-sized changes, %ld with changes under the cursor, %ld with regular and "
           "irregular gradient steps)\n", with_stats, capped, noisy, skipped, graded);
    CHECK(with_stats > 500 && capped > 20 && noisy > 20 && skipped > 20 && graded > 20,
          "a case did not happen");
    vd_gpu_free(&g);
}

/* ---- RGB -> YUV ----------------------------------------------------------------------------- */

/* More sent rectangles than one dispatch dimension takes workgroups (65535): every pixel of
 * a 320x240 frame sent alone but those of one tile's diagonal, so the reference update goes
 * on in y; the next scan of the same frame must find exactly that tile, as the CPU does. */
static void test_many_pieces(const vd_encoder_config *cfg)
{
    const int w = 320, h = 240;
    vd_gpu *g = vd_gpu_new(cfg);
    CHECK(g, "no GPU context");
    vd_damage_dsp dsp;
    vd_damage_dsp_init(&dsp, ~0u);
    tu_rng r = tu_rng_init(5);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, w, h, 0);
    tu_fill_desktop(&r, &c);
    vd_tile_grid grid;
    vd_tile_grid_init(&grid, w, h, c.format);
    size_t row_bytes = (size_t)w * 4, n_tiles = (size_t)grid.cols * (size_t)grid.rows;
    uint8_t *prev = tu_xmalloc(row_bytes * (size_t)h);
    uint8_t *st_cpu = tu_xmalloc(n_tiles), *st_gpu = tu_xmalloc(n_tiles);
    vd_copy_rows(prev, row_bytes, c.data, (size_t)c.stride, row_bytes, (size_t)h);
    vd_gpu_surface *gs;
    CHECK(vd_gpu_surface_new(g, &grid, &gs) == 0 && gs, "surface");
    vd_rect none = {0, 0, 0, 0};
    long pieces = 0;
    for (int frame = 0; frame < 3; frame++) {
        if (frame == 1) /* every pixel changes */
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    c.data[(size_t)y * (size_t)c.stride + (size_t)x * 4] ^= 0x5a;
        memset(st_cpu, VD_TILE_CANDIDATE, n_tiles);
        memcpy(st_gpu, st_cpu, n_tiles);
        vd_damage_scan(&dsp, &grid, c.data, (size_t)c.stride, prev, row_bytes, st_cpu);
        CHECK(vd_gpu_damage_scan(g, gs, c.data, (size_t)c.stride, NULL, prev, st_gpu, &none,
                                 NULL) >= 0, "scan %d failed", frame);
        for (size_t i = 0; i < n_tiles; i++)
            CHECK(st_cpu[i] == st_gpu[i], "frame %d tile %zu: CPU %d, GPU %d", frame, i, st_cpu[i],
                  st_gpu[i]);
        if (frame == 2) { /* only tile (1, 1) differs */
            for (size_t i = 0; i < n_tiles; i++)
                CHECK((st_cpu[i] == VD_TILE_DIRTY) == (i == (size_t)grid.cols + 1),
                      "tile %zu: %d", i, st_cpu[i]);
            break;
        }
        if (frame == 0)
            continue;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                if (x / 64 == 1 && y / 64 == 1 && x % 64 == y % 64)
                    continue;
                memcpy(prev + (size_t)y * row_bytes + (size_t)x * 4,
                       c.data + (size_t)y * (size_t)c.stride + (size_t)x * 4, 4);
                vd_gpu_surface_record(gs, x, y, 1, 1);
                pieces++;
            }
    }
    CHECK(pieces > 65535 && gpu_warnings == 0, "%ld pieces, %d warnings", pieces, gpu_warnings);
    printf("gpu_test: a reference update of %ld rectangles (more workgroups than one dimension "
           "takes) gives the CPU's mask\n", pieces);
    vd_gpu_surface_free(g, &gs);
    vd_gpu_free(&g);
    free(prev);
    free(st_cpu);
    free(st_gpu);
    tu_canvas_free(&c);
}

static const vd_yuv_layout layouts[] = {VD_YUV420P, VD_YUV_NV12, VD_YUV444P};

/* Planes for a w x h conversion with padded rows; the padding must stay as it is. */
typedef struct yuv_buf {
    uint8_t *data, *planes[3];
    int strides[3];
    size_t size;
} yuv_buf;

/* The bytes per row and rows of each plane of a w x h picture (widths[2] 0 for NV12). */
static void plane_geometry(vd_yuv_layout layout, int w, int h, int widths[3], int heights[3])
{
    int cw = (w + 1) / 2, ch = (h + 1) / 2, full = layout == VD_YUV444P;
    widths[0] = w;
    widths[1] = full ? w : layout == VD_YUV_NV12 ? 2 * cw : cw;
    widths[2] = full ? w : layout == VD_YUV_NV12 ? 0 : cw;
    heights[0] = h;
    heights[1] = heights[2] = full ? h : ch;
}

static yuv_buf yuv_new(vd_yuv_layout layout, int w, int h)
{
    yuv_buf b = {0};
    int widths[3], heights[3];
    plane_geometry(layout, w, h, widths, heights);
    size_t off[3];
    for (int k = 0; k < 3; k++) {
        b.strides[k] = widths[k] + 5;
        off[k] = b.size;
        b.size += (size_t)b.strides[k] * (size_t)heights[k];
    }
    b.data = tu_xmalloc(b.size);
    memset(b.data, 0xcc, b.size);
    for (int k = 0; k < 3; k++)
        b.planes[k] = b.data + off[k];
    return b;
}

/* What vd_rgb_to_yuv_c() makes of the rectangle; the GPU's planes (b) must be that. */
static int yuv_same(const tu_canvas *c, vd_rect r, vd_yuv_layout layout, const yuv_buf *b)
{
    yuv_buf ref = yuv_new(layout, r.width, r.height);
    vd_rgb_to_yuv_c(c->data + (size_t)r.y * (size_t)c->stride + (size_t)r.x * 4, (size_t)c->stride,
                    c->format, r.width, r.height, layout, ref.planes, ref.strides);
    int same = ref.size == b->size && !memcmp(ref.data, b->data, b->size);
    free(ref.data);
    return same;
}

/* Jobs whose planes lie in one registered buffer, rows a word longer than whole words: the
 * device writes them there where it can import host memory and the buffer was registered
 * writable (else they are read back), the C reference's bytes; past each row's last word the
 * buffer stays as it was.  Returns whether the conversion was in place. */
static int convert_registered(vd_gpu *g, vd_gpu_surface *gs, const tu_canvas *c, tu_rng *r,
                              int frame, long *rects)
{
    vd_gpu_yuv_job jobs[4];
    size_t n = 1 + tu_rng_below(r, 4), size = 0, off[4][3];
    int widths[4][3], heights[4][3];
    for (size_t k = 0; k < n; k++) {
        vd_rect rr = k == 0 ? (vd_rect){0, 0, c->width, c->height} : random_rect(r, c->width, c->height);
        jobs[k] = (vd_gpu_yuv_job){rr, layouts[(k + (size_t)frame) % 3], {0}, {0}};
        plane_geometry(jobs[k].layout, rr.width, rr.height, widths[k], heights[k]);
        for (int p = 0; p < 3 && widths[k][p]; p++) {
            jobs[k].strides[p] = VD_ALIGN(widths[k][p], 4) + 4;
            off[k][p] = size;
            size += (size_t)jobs[k].strides[p] * (size_t)heights[k][p];
        }
    }
    uint8_t *buf = aligned_alloc(4096, VD_ALIGN(size, 4096));
    CHECK(buf, "out of memory");
    memset(buf, 0xcc, size);
    for (size_t k = 0; k < n; k++)
        for (int p = 0; p < 3 && widths[k][p]; p++)
            jobs[k].planes[p] = buf + off[k][p];
    int writable = frame != 3, registered = vd_gpu_register(g, buf, size, writable) == 0;
    CHECK(vd_gpu_convert(g, gs, c->format, jobs, n) == 0, "convert into a registered buffer failed");
    vd_gpu_times t;
    vd_gpu_get_times(g, &t);
    CHECK(t.convert_in_place == (registered && writable), "registered %d (writable %d), in place %d",
          registered, writable, t.convert_in_place);
    for (size_t k = 0; k < n; k++) {
        yuv_buf ref = yuv_new(jobs[k].layout, jobs[k].rect.width, jobs[k].rect.height);
        const vd_rect *rr = &jobs[k].rect;
        vd_rgb_to_yuv_c(c->data + (size_t)rr->y * (size_t)c->stride + (size_t)rr->x * 4,
                        (size_t)c->stride, c->format, rr->width, rr->height, jobs[k].layout,
                        ref.planes, ref.strides);
        for (int p = 0; p < 3 && widths[k][p]; p++)
            for (int y = 0; y < heights[k][p]; y++) {
                const uint8_t *row = jobs[k].planes[p] + (size_t)y * (size_t)jobs[k].strides[p];
                CHECK(!memcmp(row, ref.planes[p] + (size_t)y * (size_t)ref.strides[p],
                              (size_t)widths[k][p]),
                      "format %d frame %d: layout %d of %dx%d, plane %d row %d differs", (int)c->format,
                      frame, (int)jobs[k].layout, rr->width, rr->height, p, y);
                for (int x = VD_ALIGN(widths[k][p], 4); x < jobs[k].strides[p]; x++)
                    CHECK(row[x] == 0xcc, "plane %d row %d: byte %d past the row was written", p, y, x);
            }
        free(ref.data);
        (*rects)++;
    }
    vd_gpu_unregister(g, buf);
    free(buf);
    return t.convert_in_place;
}

/* Every 4-byte format and layout, odd sizes and offsets, several rectangles per submission, on
 * frames whose reference moved on (the conversion reads the frame, not the reference). */
static void test_convert(const vd_encoder_config *cfg)
{
    static const int sizes[][2] = {{1, 1}, {2, 3}, {65, 33}, {131, 67}, {257, 70}};
    vd_gpu *g = vd_gpu_new(cfg);
    CHECK(g, "no GPU context");
    tu_rng r = tu_rng_init(11);
    long rects = 0, in_place = 0;
    for (size_t fi = 0; fi < TU_ARRAY_SIZE(formats); fi++) {
        for (size_t si = 0; si < TU_ARRAY_SIZE(sizes); si++) {
            int w = sizes[si][0], h = sizes[si][1];
            tu_canvas c = tu_canvas_new(formats[fi], w, h, (int)(si % 3) * 4);
            tu_fill_desktop(&r, &c);
            vd_tile_grid grid;
            vd_tile_grid_init(&grid, w, h, formats[fi]);
            size_t row_bytes = (size_t)w * (size_t)c.bpp, n_tiles = (size_t)grid.cols * (size_t)grid.rows;
            uint8_t *prev = tu_xmalloc(row_bytes * (size_t)h), *st = tu_xmalloc(n_tiles);
            vd_copy_rows(prev, row_bytes, c.data, (size_t)c.stride, row_bytes, (size_t)h);
            vd_gpu_surface *gs;
            CHECK(vd_gpu_surface_new(g, &grid, &gs) == 0 && gs, "surface %dx%d", w, h);
            vd_gpu_yuv_job job = {{0, 0, w, h}, VD_YUV420P, {0}, {0}};
            CHECK(vd_gpu_convert(g, gs, c.format, &job, 1) == (c.bpp == 4 ? VD_ERR(ESTALE) : VD_ERR(ENOTSUP)),
                  "a conversion before any scan");
            for (int frame = 0; frame < 4; frame++) {
                mutate(&r, &c);
                mutate_content(&r, &c);
                memset(st, VD_TILE_CANDIDATE, n_tiles);
                vd_rect none = {0, 0, 0, 0};
                CHECK(vd_gpu_damage_scan(g, gs, c.data, (size_t)c.stride, NULL, prev, st, &none, NULL) == 0,
                      "scan failed");
                if (c.bpp != 4) {
                    CHECK(vd_gpu_convert(g, gs, c.format, &job, 1) == VD_ERR(ENOTSUP), "RGB565");
                    break;
                }
                vd_gpu_yuv_job jobs[6];
                yuv_buf bufs[6];
                size_t n = 1 + tu_rng_below(&r, 6);
                for (size_t k = 0; k < n; k++) {
                    vd_rect rr = k == 0 ? (vd_rect){0, 0, w, h} : random_rect(&r, w, h);
                    vd_yuv_layout layout = layouts[(k + (size_t)frame) % 3];
                    bufs[k] = yuv_new(layout, rr.width, rr.height);
                    jobs[k] = (vd_gpu_yuv_job){rr, layout, {bufs[k].planes[0], bufs[k].planes[1], bufs[k].planes[2]},
                                               {bufs[k].strides[0], bufs[k].strides[1], bufs[k].strides[2]}};
                }
                CHECK(vd_gpu_convert(g, gs, c.format, jobs, n) == 0, "convert failed");
                for (size_t k = 0; k < n; k++) {
                    CHECK(yuv_same(&c, jobs[k].rect, jobs[k].layout, &bufs[k]),
                          "format %d %dx%d frame %d: layout %d of %dx%d at %d,%d differs from the C reference",
                          (int)c.format, w, h, frame, (int)jobs[k].layout, jobs[k].rect.width,
                          jobs[k].rect.height, jobs[k].rect.x, jobs[k].rect.y);
                    free(bufs[k].data);
                    rects++;
                }
                in_place += convert_registered(g, gs, &c, &r, frame, &rects);
                /* The reference follows part of the frame, as after an encoder's frame. */
                vd_rect u = random_rect(&r, w, h);
                vd_copy_rows(prev + (size_t)u.y * row_bytes + (size_t)u.x * 4, row_bytes,
                             c.data + (size_t)u.y * (size_t)c.stride + (size_t)u.x * 4,
                             (size_t)c.stride, (size_t)u.width * 4, (size_t)u.height);
                vd_gpu_surface_record(gs, u.x, u.y, u.width, u.height);
            }
            if (c.bpp == 4) {
                job.rect = (vd_rect){1, 0, w, h};
                CHECK(vd_gpu_convert(g, gs, c.format, &job, 1) == VD_ERR(EINVAL), "a rectangle off the surface");
                vd_gpu_surface_invalidate(gs);
                job.rect = (vd_rect){0, 0, w, h};
                CHECK(vd_gpu_convert(g, gs, c.format, &job, 1) == VD_ERR(ESTALE), "an invalidated surface");
            }
            vd_gpu_surface_free(g, &gs);
            free(prev);
            free(st);
            tu_canvas_free(&c);
        }
    }
    CHECK(gpu_warnings == 0, "%d GPU warnings", gpu_warnings);
    vd_gpu_free(&g);
    printf("gpu_test: RGB -> YUV equal to vd_rgb_to_yuv_c over %ld rectangles (4:2:0, NV12, 4:4:4; "
           "%ld conversions written into registered buffers)\n", rects, in_place);
}

/* The warnings an injected failure at some call may give: one, unless the context lived on
 * (the session made fewer calls) or only reading a host frame in place failed, which turns
 * that off and logs once while the context lives on. */
static int expected_warnings(const vd_gpu *g)
{
    vd_gpu_times t = {0};
    if (g)
        vd_gpu_get_times(g, &t);
    return !g || t.host_failures;
}

/* A failure at each Vulkan call of a session that scans and converts: the planes still come
 * out right (the CPU converts once the GPU refused) and one line is logged. */
static void test_convert_failures(const vd_encoder_config *cfg)
{
    int fell = 0;
    for (int n = 1; n < 400; n++) {
        gpu_warnings = 0;
        tu_rng r = tu_rng_init(3);
        tu_canvas c = tu_canvas_new(VD_FORMAT_RGBX8888, 131, 67, 4);
        tu_fill_desktop(&r, &c);
        vd_tile_grid grid;
        vd_tile_grid_init(&grid, c.width, c.height, c.format);
        size_t row_bytes = (size_t)c.width * 4, n_tiles = (size_t)grid.cols * (size_t)grid.rows;
        uint8_t *prev = tu_xmalloc(row_bytes * (size_t)c.height), *st = tu_xmalloc(n_tiles);
        vd_copy_rows(prev, row_bytes, c.data, (size_t)c.stride, row_bytes, (size_t)c.height);
        vd_gpu_test_fail_call(n);
        vd_gpu *g = vd_gpu_new(cfg);
        vd_gpu_surface *gs = NULL;
        if (g && vd_gpu_surface_new(g, &grid, &gs) < 0)
            vd_gpu_free(&g);
        for (int frame = 0; frame < 3; frame++) {
            mutate_content(&r, &c);
            memset(st, VD_TILE_CANDIDATE, n_tiles);
            vd_rect none = {0, 0, 0, 0};
            if (g && vd_gpu_damage_scan(g, gs, c.data, (size_t)c.stride, NULL, prev, st, &none, NULL) < 0) {
                vd_gpu_surface_free(g, &gs);
                vd_gpu_free(&g);
            }
            for (size_t li = 0; li < TU_ARRAY_SIZE(layouts); li++) {
                vd_rect rr = {3, 5, 101, 51};
                yuv_buf b = yuv_new(layouts[li], rr.width, rr.height);
                vd_gpu_yuv_job job = {rr, layouts[li], {b.planes[0], b.planes[1], b.planes[2]},
                                      {b.strides[0], b.strides[1], b.strides[2]}};
                if (!g || vd_gpu_convert(g, gs, c.format, &job, 1) < 0) {
                    /* What a caller does: the CPU, from then on. */
                    vd_gpu_surface_free(g, &gs);
                    vd_gpu_free(&g);
                    vd_rgb_to_yuv_c(c.data + (size_t)rr.y * (size_t)c.stride + (size_t)rr.x * 4,
                                    (size_t)c.stride, c.format, rr.width, rr.height, layouts[li],
                                    b.planes, b.strides);
                }
                CHECK(yuv_same(&c, rr, layouts[li], &b), "failure at call %d: planes differ", n);
                free(b.data);
            }
        }
        int alive = g != NULL, warnings = expected_warnings(g);
        vd_gpu_test_fail_call(0);
        vd_gpu_surface_free(g, &gs);
        vd_gpu_free(&g);
        free(prev);
        free(st);
        tu_canvas_free(&c);
        CHECK(gpu_warnings == warnings, "failure at call %d: %d warnings, GPU %s", n, gpu_warnings,
              alive ? "alive" : "gone");
        if (!warnings)
            break;
        fell++;
    }
    CHECK(fell > 20, "only %d failures injected", fell);
    printf("gpu_test: a failure at each of the %d Vulkan calls of a scan and convert session "
           "gives the same planes\n", fell);
}

/* ---- the encoder's bytes -------------------------------------------------------------------- */

/* Replaces o with the packets the encoder has waiting. */
static void receive_all(vd_encoder *enc, tu_packets *o)
{
    tu_packets_clear(o);
    tu_receive_packets(enc, o);
}

static int encode(vd_encoder *enc, const vd_frame *f, tu_packets *o)
{
    int ret = vd_encoder_send_frame(enc, f);
    receive_all(enc, o);
    return ret;
}

static void same_bytes(const tu_packets *a, const tu_packets *b, const char *what, int frame)
{
    CHECK(a->count == b->count && a->size == b->size &&
              (!a->size || !memcmp(a->data, b->data, a->size)),
          "%s, frame %d: GPU encoder %zu packets %zu bytes, CPU encoder %zu packets %zu bytes",
          what, frame, a->count, a->size, b->count, b->size);
}

/* Scrolls rows [y0, y1) of a canvas up by dy (new rows at the bottom are repainted). */
static void scroll(tu_rng *r, const tu_canvas *c, int dy)
{
    if (dy >= c->height)
        return;
    memmove(c->data, c->data + (size_t)dy * (size_t)c->stride, (size_t)(c->height - dy) * (size_t)c->stride);
    tu_paint_pattern(r, c, (vd_rect){0, c->height - dy, c->width, dy}, TU_TEXT);
}

typedef struct scenario {
    enum vd_pixel_format format;
    int width, height, pad;
    int frames;
    uint32_t video_codecs;
    int two_surfaces;
    /* PLAYING: a video plays (noise-sized changes, no hint) for the classifier to find;
     * TERMINAL: text scrolls every other frame, new lines inside a tile (copies and a band);
     * HINTED: the host says where a video and a 3D view play (streams with video_codecs). */
    int content;
} scenario;

enum { MIXED, PLAYING, TERMINAL, HINTED };

/* Both encoders classified the surface alike: tile classes and regions. */
static void same_classes(vd_encoder *ge, vd_encoder *ce, uint32_t id, const scenario *sc,
                         const char *what, int frame)
{
    uint8_t a[4096], b[4096];
    int na = vd_encoder_get_tile_classes(ge, id, a, sizeof(a));
    int nb = vd_encoder_get_tile_classes(ce, id, b, sizeof(b));
    CHECK(na > 0 && na == nb && !memcmp(a, b, (size_t)na), "%s, frame %d: tile classes differ",
          what, frame);
    for (int i = 0; i < na; i++)
        detected += sc->content == PLAYING && (a[i] == VD_CONTENT_VIDEO || a[i] == VD_CONTENT_3D);
    /* The statistics behind them, tile by tile (the GPU's where it took them). */
    const vd_tile_stats *sa = vd_encoder_tile_stats(ge, id), *sb = vd_encoder_tile_stats(ce, id);
    for (int i = 0; i < na; i++)
        CHECK(a[i] == VD_CONTENT_NONE ||
                  (sa[i].pixels == sb[i].pixels && sa[i].changed == sb[i].changed &&
                   sa[i].noise == sb[i].noise && sa[i].pairs == sb[i].pairs &&
                   sa[i].smooth == sb[i].smooth && sa[i].colours == sb[i].colours &&
                   sa[i].blocks == sb[i].blocks),
              "%s, frame %d: tile %d's statistics differ (changed %u on the GPU, %u on the CPU)",
              what, frame, i, sa[i].changed, sb[i].changed);
    vd_region ra[16], rb[16];
    na = vd_encoder_get_regions(ge, id, ra, 16);
    nb = vd_encoder_get_regions(ce, id, rb, 16);
    CHECK(na == nb, "%s, frame %d: %d regions on the GPU, %d on the CPU", what, frame, na, nb);
    for (int i = 0; i < VD_MIN(na, 16); i++)
        CHECK(ra[i].id == rb[i].id && ra[i].content == rb[i].content &&
                  !memcmp(&ra[i].rect, &rb[i].rect, sizeof(ra[i].rect)) &&
                  ra[i].start_us == rb[i].start_us,
              "%s, frame %d: region %d differs", what, frame, i);
}

/* Runs one scenario through gpu_enc and cpu_enc in lock-step, checking every frame's bytes.
 * Returns the frames whose damage the GPU encoder found on the GPU. */
static void run_pair(vd_encoder *ge, vd_encoder *ce, const scenario *sc, uint64_t seed,
                     const char *what)
{
    tu_rng r = tu_rng_init(seed);
    tu_canvas c = tu_canvas_new(sc->format, sc->width, sc->height, sc->pad);
    tu_canvas c2 = tu_canvas_new(VD_FORMAT_BGRX8888, 97, 75, 4);
    tu_fill_desktop(&r, &c);
    tu_fill_desktop(&r, &c2);
    tu_packets a = {0}, b = {0};
    int64_t pts = 0;
    vd_rect cursor = {10, 10, 16, 24};
    for (int frame = 0; frame < sc->frames; frame++) {
        vd_rect damage[9];
        size_t n_damage = 0;
        const vd_rect *dmg = NULL;
        int held = 0;
        int kind = frame < 2 ? 99 : (int)tu_rng_below(&r, 10);
        if (sc->content == TERMINAL && frame >= 2)
            kind = frame % 2 ? 3 : 0;
        switch (kind) {
        case 0: /* exact host damage */
            n_damage = tu_scribble(&r, &c, damage, 8);
            dmg = damage;
            break;
        case 1: /* damage that misses some changes (they stay stale, in both) */
            n_damage = tu_scribble(&r, &c, damage, 8);
            tu_scribble(&r, &c, damage + n_damage, 1);
            dmg = damage;
            break;
        case 2: /* X bytes only, everywhere */
            if (c.bpp == 4)
                for (int y = 0; y < c.height; y++)
                    for (int x = 0; x < c.width; x++)
                        c.data[(size_t)y * (size_t)c.stride + (size_t)x * 4 + 3] ^= 0x33;
            break;
        case 3: /* a scroll: sent as copies */
            scroll(&r, &c, 1 + (int)tu_rng_below(&r, 40));
            break;
        case 4: /* the link is behind: frames held back, then one that carries them */
            held = 1 + (int)tu_rng_below(&r, 3);
            break;
        case 5: /* the client asks for a refresh */
            CHECK(vd_encoder_request_refresh(ge, VD_ALL_SURFACES) == 0 &&
                      vd_encoder_request_refresh(ce, VD_ALL_SURFACES) == 0, "refresh");
            mutate(&r, &c);
            break;
        case 6: /* a resume from a few frames back */
            if (frame > 4) {
                vd_resume_state rs = {.frame_seq = 0, .n_surfaces = 1, .surface_ids = {1}};
                /* frame_seq of the last packet: both encoders count alike */
                rs.frame_seq = (uint64_t)(frame > 6 ? frame - 4 : 0);
                CHECK(vd_encoder_resume(ge, &rs) == vd_encoder_resume(ce, &rs), "resume");
                receive_all(ge, &a);
                receive_all(ce, &b);
                same_bytes(&a, &b, what, frame);
            }
            mutate(&r, &c);
            break;
        case 7: /* a video-like region: noise in a rectangle, every frame for a while */
        default: {
            int vw = VD_MIN(c.width, 150), vh = VD_MIN(c.height, 100);
            tu_paint_pattern(&r, &c, (vd_rect){0, 0, vw, vh}, TU_NOISE);
            mutate(&r, &c);
            break;
        }
        }
        pts += 33333;
        for (int k = 0; k <= held; k++) {
            /* While held > k the transport is full: those frames are held back. */
            vd_encoder_feedback fb = {.flags = VD_FEEDBACK_QUEUED,
                                      .queued_bytes = k < held ? (64u << 20) : 0};
            CHECK(vd_encoder_send_feedback(ge, &fb) == 0 && vd_encoder_send_feedback(ce, &fb) == 0,
                  "feedback");
            if (k > 0) {
                n_damage = tu_scribble(&r, &c, damage, 4);
                dmg = tu_rng_below(&r, 2) ? damage : NULL;
                n_damage = dmg ? n_damage : 0;
            }
            if (sc->content == PLAYING) { /* grain on a picture, some frames all new */
                /* Large enough for a region (VD_CLS_MIN_REGION_TILES) on 250 x 199. */
                vd_rect v = {VD_MIN(c.width / 8, 40), 8, VD_MIN(c.width * 3 / 4, 200), VD_MIN(c.height * 3 / 4, 140)};
                if (frame % 7 == 0)
                    tu_paint_pattern(&r, &c, v, TU_GRADIENT);
                for (int y = v.y; y < VD_MIN(c.height, v.y + v.height); y++)
                    for (int x = v.x; x < VD_MIN(c.width, v.x + v.width); x++)
                        c.data[(size_t)y * (size_t)c.stride + (size_t)x * (size_t)c.bpp + (size_t)(x + y) % 3] +=
                            (uint8_t)(tu_rng_below(&r, 9) - 4);
                dmg = NULL;
                n_damage = 0;
            }
            /* The cursor wanders, over the video too: its places do not count as change. */
            cursor.x = VD_MAX(0, VD_MIN(c.width - 1, cursor.x + (int)tu_rng_below(&r, 41) - 20));
            cursor.y = VD_MAX(0, VD_MIN(c.height - 1, cursor.y + (int)tu_rng_below(&r, 41) - 20));
            vd_frame f = tu_frame(&c, 1, dmg, n_damage);
            /* Increasing: the classifier's clock, and the streams' rate, would otherwise follow
             * the wall clock (frame_time()), which differs between the two encoders. */
            f.pts_us = pts + k;
            if (frame % 5)
                f.cursor = cursor;
            /* The host says where the video and the 3D view play: their tiles go out in
             * streams, odd sizes and offsets included. */
            vd_hint hints[2] = {{{0, 0, VD_MIN(c.width, 150), VD_MIN(c.height, 100)}, VD_CONTENT_VIDEO},
                                {{c.width / 2 + 3, c.height / 2 + 1, c.width / 2 - 3, c.height / 2 - 1},
                                 VD_CONTENT_3D}};
            if (sc->content == HINTED) {
                f.hints = hints;
                f.n_hints = 2;
                tu_paint_pattern(&r, &c, hints[0].rect, TU_GRADIENT);
                tu_paint_pattern(&r, &c, hints[1].rect, frame % 3 ? TU_GRADIENT : TU_NOISE);
            }
            if (frame == fail_frame && k == 0)
                vd_gpu_test_fail_call(fail_call);
            int ra = encode(ge, &f, &a), rb = encode(ce, &f, &b);
            CHECK(ra == 0 && rb == 0, "%s, frame %d: send_frame %d %d", what, frame, ra, rb);
            same_bytes(&a, &b, what, frame);
            same_classes(ge, ce, 1, sc, what, frame);
            vd_encoder_stats st;
            vd_encoder_get_stats(ge, &st);
            streamed += st.tiles_streamed;
            copied += st.tiles_copied;
            held_back += st.held_back;
            if (sc->two_surfaces) {
                mutate(&r, &c2);
                vd_frame f2 = tu_frame(&c2, 2, NULL, 0);
                f2.pts_us = pts + k;
                CHECK(encode(ge, &f2, &a) == 0 && encode(ce, &f2, &b) == 0, "surface 2");
                same_bytes(&a, &b, what, frame);
                same_classes(ge, ce, 2, sc, what, frame);
            }
        }
        if (frame == sc->frames / 2 && sc->two_surfaces) { /* a resize */
            tu_canvas n = tu_canvas_new(c.format, c.width + 13, c.height - 5, c.stride - c.width * c.bpp);
            tu_fill_desktop(&r, &n);
            tu_canvas_free(&c);
            c = n;
        }
    }
    tu_packets_free(&a);
    tu_packets_free(&b);
    tu_canvas_free(&c);
    tu_canvas_free(&c2);
}

static vd_encoder *encoder(const vd_encoder_config *base, uint32_t video_codecs, int gpu)
{
    vd_encoder_config cfg = *base;
    cfg.video_codecs = video_codecs;
    if (!gpu)
        cfg.gpu = VD_GPU_OFF;
    vd_encoder *enc;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "vd_encoder_new");
    return enc;
}

static void test_encoders(const vd_encoder_config *gcfg)
{
    static const scenario scenarios[] = {
        {VD_FORMAT_BGRX8888, 333, 201, 12, 40, 0, 1, 0},
        {VD_FORMAT_BGRA8888, 131, 67, 0, 30, 0, 0, 0},
        {VD_FORMAT_RGBX8888, 200, 130, 3, 30, 0, 0, 0},
        {VD_FORMAT_RGBA8888, 65, 129, 4, 30, 0, 1, 0},
        {VD_FORMAT_RGB565, 257, 99, 2, 40, 0, 1, 0},
        {VD_FORMAT_RGB565, 1, 1, 0, 10, 0, 0, 0},
        {VD_FORMAT_BGRX8888, 320, 240, 0, 40, VD_CODEC_H264, 0, HINTED}, /* video tiles */
        {VD_FORMAT_RGBA8888, 333, 250, 4, 60, 0, 0, PLAYING},
        {VD_FORMAT_BGRX8888, 250, 199, 0, 60, 0, 1, PLAYING},
        {VD_FORMAT_RGBX8888, 300, 190, 0, 40, 0, 0, TERMINAL},
        {VD_FORMAT_RGBA8888, 333, 251, 8, 30, VD_CODEC_H264, 1, HINTED},
        {VD_FORMAT_RGB565, 200, 130, 0, 20, VD_CODEC_H264, 0, HINTED}, /* converted on the CPU */
        {VD_FORMAT_BGRX8888, 250, 199, 0, 60, VD_CODEC_H264, 1, PLAYING}, /* found, not hinted */
    };
    uint64_t gpu_pictures = 0, in_place = 0;
    for (size_t i = 0; i < TU_ARRAY_SIZE(scenarios); i++) {
        vd_encoder *ge = encoder(gcfg, scenarios[i].video_codecs, 1);
        vd_encoder *ce = encoder(gcfg, scenarios[i].video_codecs, 0);
        CHECK(vd_encoder_gpu(ge) && !vd_encoder_gpu(ce), "GPU encoder without a GPU");
        char what[64];
        snprintf(what, sizeof(what), "scenario %zu", i);
        run_pair(ge, ce, &scenarios[i], 100 + i, what);
        CHECK(vd_encoder_gpu(ge), "%s: the GPU failed", what);
        /* Streams of 4-byte pixels are converted on the GPU, 2-byte ones never. */
        vd_encoder_yuv_stats ys, yc;
        vd_encoder_get_yuv_stats(ge, &ys);
        vd_encoder_get_yuv_stats(ce, &yc);
        CHECK(yc.gpu_pictures == 0 &&
                  (scenarios[i].video_codecs && scenarios[i].format != VD_FORMAT_RGB565) ==
                      (ys.gpu_pictures > 0),
              "%s: %llu pictures converted on the GPU", what, (unsigned long long)ys.gpu_pictures);
        /* Where the device reads host memory, it writes the planes into the encoder's too. */
        vd_gpu_times t;
        vd_gpu_get_times(vd_encoder_gpu(ge), &t);
        CHECK(!t.host_imports || ys.in_place_pictures == ys.gpu_pictures,
              "%s: %llu of %llu pictures written in place", what,
              (unsigned long long)ys.in_place_pictures, (unsigned long long)ys.gpu_pictures);
        gpu_pictures += ys.gpu_pictures;
        in_place += ys.in_place_pictures;
        vd_encoder_free(&ge);
        vd_encoder_free(&ce);
    }
    CHECK(gpu_warnings == 0, "%d GPU warnings", gpu_warnings);
    printf("gpu_test: GPU and CPU encoders give the same bytes, tile classes and regions (%zu "
           "scenarios: %ld tiles streamed, %ld copied, %ld frames held back, %ld tiles classified "
           "video or 3D, %llu stream pictures converted on the GPU, %llu written in place)\n",
           TU_ARRAY_SIZE(scenarios), streamed, copied, held_back, detected,
           (unsigned long long)gpu_pictures, (unsigned long long)in_place);
    CHECK(streamed && copied && held_back && detected, "a scenario did not happen");
}

/* ---- faults ------------------------------------------------------------------------------- */

/* Frames inside a registered buffer are read by the device in place, where it can import host
 * memory, also a frame that starts inside it at an offset; a frame partly inside one, or
 * after unregistering, is pinned per frame.
 * The bytes are the CPU encoder's throughout (which registered the same buffer: a no-op
 * without a GPU).  And the API's refusals. */
static void test_registered_buffers(const vd_encoder_config *gcfg)
{
    vd_encoder *ge = encoder(gcfg, 0, 1), *ce = encoder(gcfg, 0, 0);
    tu_rng r = tu_rng_init(11);
    tu_canvas fb = tu_canvas_new(VD_FORMAT_BGRX8888, 300, 200, 8);
    tu_fill_desktop(&r, &fb);
    size_t size = (size_t)fb.stride * (size_t)fb.height;
    CHECK(vd_encoder_register_buffer(ge, fb.data, size) == 0 &&
              vd_encoder_register_buffer(ce, fb.data, size) == 0, "registering");
    /* A page each: a driver may refuse to import a page twice. */
    uint8_t *spare[VD_MAX_BUFFERS];
    for (int i = 0; i < VD_MAX_BUFFERS; i++)
        CHECK((spare[i] = aligned_alloc(4096, 4096)), "out of memory");
    CHECK(vd_encoder_register_buffer(ge, NULL, 64) == VD_ERR(EINVAL) &&
              vd_encoder_register_buffer(ge, spare[0], 0) == VD_ERR(EINVAL) &&
              vd_encoder_register_buffer(ge, fb.data + size - 1, 64) == VD_ERR(EINVAL) &&
              vd_encoder_unregister_buffer(ge, fb.data + 1) == VD_ERR(ENOENT),
          "bad registrations refused");
    for (int i = 1; i < VD_MAX_BUFFERS; i++)
        CHECK(vd_encoder_register_buffer(ge, spare[i], 64) == 0, "registering buffer %d", i);
    CHECK(vd_encoder_register_buffer(ge, spare[0], 64) == VD_ERR(ENOSPC), "one too many");
    for (int i = 1; i < VD_MAX_BUFFERS; i++)
        CHECK(vd_encoder_unregister_buffer(ge, spare[i]) == 0, "unregistering buffer %d", i);
    for (int i = 0; i < VD_MAX_BUFFERS; i++)
        free(spare[i]);
    tu_packets a = {0}, b = {0};
    int reg = 0, per_frame = 0, other = 0;
    vd_gpu_times t = {0};
    for (int frame = 0; frame < 12; frame++) {
        if (frame == 6) /* the first 100 rows only: the window's frames reach past them */
            CHECK(vd_encoder_unregister_buffer(ge, fb.data) == 0 &&
                      vd_encoder_unregister_buffer(ce, fb.data) == 0 &&
                      vd_encoder_register_buffer(ge, fb.data, 100 * (size_t)fb.stride) == 0,
                  "registering part");
        if (frame == 8)
            CHECK(vd_encoder_unregister_buffer(ge, fb.data) == 0, "unregistering");
        mutate(&r, &fb);
        vd_frame f = tu_frame(&fb, 1, NULL, 0);
        if (frame >= 4) { /* a window of the framebuffer from here on */
            f.data = fb.data + 20 * (size_t)fb.stride + 16 * 4;
            f.width = 256;
            f.height = 150;
        }
        CHECK(encode(ge, &f, &a) == 0 && encode(ce, &f, &b) == 0, "frame %d", frame);
        same_bytes(&a, &b, "registered buffer", frame);
        vd_encoder_stats st;
        vd_encoder_get_stats(ge, &st);
        CHECK(vd_encoder_gpu(ge), "frame %d: the GPU failed", frame);
        if (!st.tiles_scanned) /* a new or resized surface is sent whole, not scanned */
            continue;
        vd_gpu_get_times(vd_encoder_gpu(ge), &t);
        reg += frame < 6 && t.from_host == 2;
        per_frame += frame >= 6 && t.from_host == 1;
        other += frame < 6 ? t.from_host != 2 : t.from_host != 1;
    }
    /* Registering imported the buffer where the device can; then every scan read in place. */
    CHECK(!t.host_imports || (reg >= 4 && per_frame >= 5 && !other),
          "%d scans from the registered buffer, %d per frame, %d otherwise", reg, per_frame, other);
    CHECK(gpu_warnings == 0, "%d GPU warnings", gpu_warnings);
    printf("gpu_test: frames in a registered buffer give the same bytes (%d scans read it in place, "
           "then %d pinned per frame); bad registrations refused\n", reg, per_frame);
    tu_packets_free(&a);
    tu_packets_free(&b);
    tu_canvas_free(&fb);
    vd_encoder_free(&ge);
    vd_encoder_free(&ce);
}

static const scenario fault_scenario = {VD_FORMAT_BGRX8888, 200, 130, 8, 8, 0, 1, PLAYING};

/* An encoder that asks for cfg's GPU but must end up on the CPU, logging warnings times. */
static void fallback(const vd_encoder_config *cfg, int warnings, const char *what)
{
    gpu_warnings = 0;
    vd_encoder *ge = encoder(cfg, 0, 1), *ce = encoder(cfg, 0, 0);
    CHECK(!vd_encoder_gpu(ge), "%s: a GPU context", what);
    run_pair(ge, ce, &fault_scenario, 5, what);
    CHECK(gpu_warnings == warnings, "%s: %d GPU warnings, expected %d", what, gpu_warnings, warnings);
    vd_encoder_free(&ge);
    vd_encoder_free(&ce);
}

static void test_fallbacks(const vd_encoder_config *gcfg)
{
    vd_encoder_config cfg = *gcfg;
    cfg.gpu = VD_GPU_INDEX;
    cfg.gpu_index = 999;
    fallback(&cfg, 1, "device 999");
    cfg.gpu = VD_GPU_NAME;
    cfg.gpu_name = "no such device, surely";
    fallback(&cfg, 1, "a name nothing has");
    setenv("VD_GPU", "off", 1);
    fallback(gcfg, 0, "VD_GPU=off");
    setenv("VD_GPU", "999", 1);
    fallback(gcfg, 2, "VD_GPU=999"); /* it overrides the CPU encoder's "off" too */
    unsetenv("VD_GPU");
    /* Bad configurations are refused outright. */
    vd_encoder *enc;
    cfg.gpu = VD_GPU_NAME;
    cfg.gpu_name = NULL;
    CHECK(vd_encoder_new(&cfg, &enc) == VD_ERR(EINVAL), "VD_GPU_NAME without a name");
    cfg.gpu = (enum vd_gpu_choice)7;
    CHECK(vd_encoder_new(&cfg, &enc) == VD_ERR(EINVAL), "an unknown choice");
    printf("gpu_test: off, missing devices and bad configurations fall back or are refused\n");
}

/* The n-th Vulkan call fails, for every n from the first (instance creation) to past the
 * end of the session: the bytes stay the CPU encoder's and exactly one line is logged. */
static void test_injected_failures(const vd_encoder_config *gcfg)
{
    int n, fell = 0;
    for (n = 1; n < 400; n++) {
        gpu_warnings = 0;
        vd_gpu_test_fail_call(n);
        vd_encoder *ge = encoder(gcfg, 0, 1), *ce = encoder(gcfg, 0, 0);
        run_pair(ge, ce, &fault_scenario, 5, "injected failure");
        int alive = vd_encoder_gpu(ge) != NULL, warnings = expected_warnings(vd_encoder_gpu(ge));
        vd_gpu_test_fail_call(0);
        vd_encoder_free(&ge);
        vd_encoder_free(&ce);
        CHECK(gpu_warnings == warnings, "failure at call %d: %d warnings, GPU %s", n, gpu_warnings,
              alive ? "alive" : "gone");
        if (!warnings) /* the session made fewer calls than n */
            break;
        fell++;
    }
    CHECK(fell > 20, "only %d failures injected", fell);
    printf("gpu_test: a failure at each of the %d Vulkan calls of a session falls back cleanly\n", fell);
}

/* A failure at each Vulkan call from the second frame of a session with streams on (the first
 * one scanned and converted on the GPU) to its end.  Returns how many calls failed. */
static int fail_each_call(const vd_encoder_config *gcfg, uint32_t video_codecs)
{
    const scenario sc = {VD_FORMAT_BGRX8888, 200, 130, 8, 6, video_codecs, 0, HINTED};
    int fell = 0;
    fail_frame = 1;
    for (fail_call = 1; fail_call < 1000; fail_call++) {
        gpu_warnings = 0;
        vd_encoder *ge = encoder(gcfg, video_codecs, 1), *ce = encoder(gcfg, video_codecs, 0);
        run_pair(ge, ce, &sc, 7, "injected failure with streams");
        int alive = vd_encoder_gpu(ge) != NULL, warnings = expected_warnings(vd_encoder_gpu(ge));
        vd_gpu_test_fail_call(0);
        vd_encoder_yuv_stats ys;
        vd_encoder_get_yuv_stats(ge, &ys);
        vd_encoder_free(&ge);
        vd_encoder_free(&ce);
        CHECK(gpu_warnings == warnings, "failure at call %d of frame 1 on: %d warnings, GPU %s",
              fail_call, gpu_warnings, alive ? "alive" : "gone");
        /* Frame 0 creates the surface (not scanned): nothing before frame 1 was converted. */
        CHECK(!video_codecs || alive || ys.gpu_pictures < 2 * (uint64_t)(sc.frames - 1),
              "failure at call %d: %llu pictures converted on the GPU", fail_call,
              (unsigned long long)ys.gpu_pictures);
        if (!warnings)
            break;
        fell++;
    }
    fail_frame = -1;
    return fell;
}

/* Frames with streams: a failure in a conversion (more calls than the scans alone make) gives
 * the CPU encoder's bytes too, with one line logged. */
static void test_injected_failures_streams(const vd_encoder_config *gcfg)
{
    int scans = fail_each_call(gcfg, 0), both = fail_each_call(gcfg, VD_CODEC_H264);
    CHECK(both > scans && scans > 10, "%d calls with conversions, %d without", both, scans);
    printf("gpu_test: with streams, a failure at each of the %d Vulkan calls of 5 frames (%d "
           "without conversions) gives the same bytes\n", both, scans);
}

/* ---- the video encoder's YUV input ---------------------------------------------------------- */

/* vd_video_encode_yuv() of colour.h's planes codes the bytes vd_video_encode() codes from the
 * RGB, in the encoder's layout and in the other one (rearranged); 4:4:4 is refused. */
static void test_video_yuv(void)
{
    enum { W = 96, H = 64 };
    vd_video_params p = {.codec = VD_VIDEO_H264, .width = W, .height = H, .fps = 30,
                         .bitrate = 1000000, .backend = VD_VIDEO_BACKEND_SOFTWARE};
    static const vd_yuv_layout ins[] = {VD_YUV420P, VD_YUV_NV12};
    tu_rng r = tu_rng_init(3);
    tu_canvas c = tu_canvas_new(VD_FORMAT_RGBX8888, W, H, 4);
    uint8_t *yuv = tu_xrealloc(NULL, W * H * 3 / 2);
    for (size_t l = 0; l < TU_ARRAY_SIZE(ins); l++) {
        vd_video_encoder *a, *b;
        CHECK(vd_video_encoder_new(&p, &a) == 0 && vd_video_encoder_new(&p, &b) == 0, "encoders");
        CHECK(vd_video_encoder_layout(a) == VD_YUV420P, "software takes %d", vd_video_encoder_layout(a));
        vd_buf oa = {0}, ob = {0};
        for (int frame = 0; frame < 6; frame++) {
            tu_paint_pattern(&r, &c, (vd_rect){0, 0, W, H}, frame % 2 ? TU_NOISE : TU_GRADIENT);
            int nv12 = ins[l] == VD_YUV_NV12;
            uint8_t *planes[3] = {yuv, yuv + W * H, nv12 ? NULL : yuv + W * H * 5 / 4};
            int strides[3] = {W, nv12 ? W : W / 2, nv12 ? 0 : W / 2};
            vd_rgb_to_yuv_c(c.data, (size_t)c.stride, c.format, W, H, ins[l], planes, strides);
            const uint8_t *in[3] = {planes[0], planes[1], planes[2]};
            vd_video_packet pa[VD_VIDEO_MAX_PACKETS], pb[VD_VIDEO_MAX_PACKETS];
            int na, nb;
            oa.size = ob.size = 0;
            CHECK(vd_video_encode(a, c.data, (size_t)c.stride, c.format, frame * 33333, !frame,
                                  &oa, pa, &na) == 0 &&
                      vd_video_encode_yuv(b, ins[l], in, strides, frame * 33333, !frame, &ob, pb,
                                          &nb) == 0,
                  "encode");
            CHECK(na == nb && oa.size == ob.size && !memcmp(oa.data, ob.data, oa.size),
                  "layout %d, frame %d: %zu bytes from RGB, %zu from YUV", (int)ins[l], frame,
                  oa.size, ob.size);
        }
        const uint8_t *in[3] = {yuv, yuv, yuv};
        int strides[3] = {W, W, W}, n;
        vd_video_packet pkts[VD_VIDEO_MAX_PACKETS];
        CHECK(vd_video_encode_yuv(b, VD_YUV444P, in, strides, 7 * 33333, 0, &ob, pkts, &n) ==
                  VD_ERR(EINVAL), "4:4:4 accepted");
        vd_buf_free(&oa);
        vd_buf_free(&ob);
        vd_video_encoder_free(&a);
        vd_video_encoder_free(&b);
    }
    free(yuv);
    tu_canvas_free(&c);
    printf("gpu_test: the video encoder codes YUV420P and NV12 planes as it codes their RGB\n");
}

int main(void)
{
    vd_log_set_callback(log_cb, NULL);
    vd_log_set_level(VD_LOG_INFO);
    /* Two encoders' streams must code the same bytes: not with libx264's sliced threads. */
    vd_video_test_single_thread(1);
    vd_encoder_config gcfg;
    vd_encoder_config_default(&gcfg);
    /* VD_GPU picks the device to test; the test then sets it itself. */
    static char name[256];
    const char *env = getenv("VD_GPU");
    if (env && *env) {
        snprintf(name, sizeof(name), "%s", env);
        char *end;
        long v = strtol(name, &end, 10);
        if (!strcmp(name, "off")) {
            gcfg.gpu = VD_GPU_OFF;
        } else if (*end == '\0') {
            gcfg.gpu = VD_GPU_INDEX;
            gcfg.gpu_index = (int32_t)v;
        } else if (strcmp(name, "auto")) {
            gcfg.gpu = VD_GPU_NAME;
            gcfg.gpu_name = name;
        }
        unsetenv("VD_GPU");
    }
    vd_gpu *g = gcfg.gpu == VD_GPU_OFF ? NULL : vd_gpu_new(&gcfg);
    /* No GPU: a CPU implementation (lavapipe) is what CI has. */
    for (int i = 0; !g && gcfg.gpu == VD_GPU_AUTO && i < 4; i++) {
        vd_encoder_config c = gcfg;
        c.gpu = VD_GPU_INDEX;
        c.gpu_index = i;
        if ((g = vd_gpu_new(&c)))
            gcfg = c;
    }
    gpu_warnings = 0;
    test_video_yuv();
    if (!g) {
        printf("gpu_test: no Vulkan device; checking the fallbacks only\n");
        vd_encoder_config cfg;
        vd_encoder_config_default(&cfg);
        test_fallbacks(&cfg);
        return 77;
    }
    printf("gpu_test: device %s\n", vd_gpu_device_name(g));
    vd_gpu_free(&g);
    test_mask(&gcfg);
    test_many_pieces(&gcfg);
    test_convert(&gcfg);
    test_convert_failures(&gcfg);
    test_encoders(&gcfg);
    test_registered_buffers(&gcfg);
    test_fallbacks(&gcfg);
    test_injected_failures(&gcfg);
    test_injected_failures_streams(&gcfg);
    printf("gpu_test: ok\n");
    return 0;
}
