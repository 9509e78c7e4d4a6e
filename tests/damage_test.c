/* Tile-grid damage: host rectangles are clipped, scans find exactly the differing tiles,
 * and damage rectangles cover exactly the dirty tiles.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "lib/damage.h"

static int failures;

#define EXPECT(cond, ...)                                              \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
            failures++;                                                \
        }                                                              \
    } while (0)

static uint64_t rng = 0x5eed;
static uint32_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void test_mark_rects(void)
{
    vd_tile_grid g;
    vd_tile_grid_init(&g, 200, 130, VD_FORMAT_BGRX8888); /* 4 x 3 tiles, partial edges */
    uint8_t state[12];
    const vd_rect rects[] = {
        {-50, -50, 60, 60},            /* clipped to tile (0, 0) */
        {195, 129, 1000, 1000},        /* clipped to the last tile */
        {64, 64, 0, 10},               /* empty */
        {300, 0, 10, 10},              /* outside */
        {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX}, /* overflow bait */
        {-5, 70, 10, -3},              /* negative size */
    };
    vd_damage_mark_rects(&g, state, rects, VD_ARRAY_SIZE(rects));
    for (int i = 0; i < 12; i++)
        EXPECT(state[i] == ((i == 0 || i == 11) ? VD_TILE_CANDIDATE : VD_TILE_SKIP),
               "tile %d state %d", i, state[i]);
    const vd_rect span = {63, 63, 2, 2}; /* touches four tiles */
    vd_damage_mark_rects(&g, state, &span, 1);
    for (int i = 0; i < 12; i++)
        EXPECT(state[i] == ((i == 0 || i == 1 || i == 4 || i == 5) ? VD_TILE_CANDIDATE : VD_TILE_SKIP),
               "span: tile %d state %d", i, state[i]);
    vd_damage_mark_rects(&g, state, NULL, 0);
    for (int i = 0; i < 12; i++)
        EXPECT(state[i] == VD_TILE_SKIP, "no rects: tile %d state %d", i, state[i]);
}

/* Damage rectangles must cover every dirty tile's pixels once and nothing else. */
static void test_rects_cover(void)
{
    for (int iter = 0; iter < 2000; iter++) {
        int w = 1 + (int)(rnd() % 700), h = 1 + (int)(rnd() % 500);
        vd_tile_grid g;
        vd_tile_grid_init(&g, w, h, VD_FORMAT_RGB565);
        size_t n = (size_t)g.cols * (size_t)g.rows;
        uint8_t *state = malloc(n), *cover = calloc((size_t)w * (size_t)h, 1);
        vd_rect *rects = malloc(n * sizeof(*rects));
        unsigned density = rnd() % 4;
        for (size_t i = 0; i < n; i++)
            state[i] = (rnd() % 4) < density ? VD_TILE_DIRTY : (uint8_t)(rnd() % 2 * 2);
        size_t nr = vd_damage_rects(&g, state, rects);
        EXPECT(nr <= n, "%zu rects for %zu tiles", nr, n);
        for (size_t i = 0; i < nr; i++) {
            const vd_rect *r = &rects[i];
            EXPECT(r->x >= 0 && r->y >= 0 && r->width > 0 && r->height > 0 &&
                       r->x + r->width <= w && r->y + r->height <= h,
                   "rect %d,%d %dx%d outside %dx%d", r->x, r->y, r->width, r->height, w, h);
            for (int y = r->y; y < r->y + r->height && y < h && y >= 0; y++)
                for (int x = r->x; x < r->x + r->width && x < w && x >= 0; x++)
                    cover[(size_t)y * (size_t)w + (size_t)x]++;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int dirty = state[(size_t)(y / 64) * (size_t)g.cols + (size_t)(x / 64)] == VD_TILE_DIRTY;
                EXPECT(cover[(size_t)y * (size_t)w + (size_t)x] == dirty, "pixel %d,%d covered %d times, dirty %d",
                       x, y, cover[(size_t)y * (size_t)w + (size_t)x], dirty);
                if (failures)
                    goto done;
            }
    done:
        free(state);
        free(cover);
        free(rects);
        if (failures)
            return;
    }
}

/* The grid scan against a per-pixel brute force, for every format and kernel set. */
static void test_scan(void)
{
    static const enum vd_pixel_format formats[] = {VD_FORMAT_BGRX8888, VD_FORMAT_BGRA8888,
                                                   VD_FORMAT_RGBX8888, VD_FORMAT_RGBA8888,
                                                   VD_FORMAT_RGB565};
    static const unsigned cpu_sets[] = {0, VD_CPU_SSE2, VD_CPU_SSE2 | VD_CPU_AVX2};
    for (int iter = 0; iter < 600; iter++) {
        enum vd_pixel_format fmt = formats[rnd() % VD_ARRAY_SIZE(formats)];
        int bpp = vd_format_bytes_per_pixel(fmt);
        int w = 1 + (int)(rnd() % 400), h = 1 + (int)(rnd() % 300);
        size_t stride = (size_t)w * (size_t)bpp + rnd() % 40, pstride = (size_t)w * (size_t)bpp;
        vd_tile_grid g;
        vd_tile_grid_init(&g, w, h, fmt);
        size_t n = (size_t)g.cols * (size_t)g.rows;
        uint8_t *cur = malloc(stride * (size_t)h), *prev = malloc(pstride * (size_t)h);
        uint8_t *expect = calloc(n, 1), *state = malloc(n);
        for (size_t i = 0; i < stride * (size_t)h; i++)
            cur[i] = (uint8_t)rnd();
        for (int y = 0; y < h; y++)
            memcpy(prev + (size_t)y * pstride, cur + (size_t)y * stride, pstride);
        int changes = (int)(rnd() % 12);
        for (int c = 0; c < changes; c++) {
            int x = (int)(rnd() % (unsigned)w), y = (int)(rnd() % (unsigned)h);
            int byte = (int)(rnd() % (unsigned)bpp);
            prev[(size_t)y * pstride + (size_t)x * (size_t)bpp + (size_t)byte] ^= (uint8_t)(1 + rnd() % 255);
            int ignored = bpp == 4 && byte == 3 &&
                          (fmt == VD_FORMAT_BGRX8888 || fmt == VD_FORMAT_RGBX8888);
            if (!ignored)
                expect[(size_t)(y / 64) * (size_t)g.cols + (size_t)(x / 64)] = 1;
        }
        for (size_t k = 0; k < VD_ARRAY_SIZE(cpu_sets); k++) {
            vd_damage_dsp dsp;
            vd_damage_dsp_init(&dsp, cpu_sets[k]);
            memset(state, VD_TILE_CANDIDATE, n);
            vd_damage_scan(&dsp, &g, cur, stride, prev, pstride, state);
            for (size_t i = 0; i < n; i++)
                EXPECT(state[i] == (expect[i] ? VD_TILE_DIRTY : VD_TILE_CANDIDATE),
                       "format %d %dx%d cpu %u tile %zu: got %d want %d", fmt, w, h, cpu_sets[k], i,
                       state[i], expect[i]);
        }
        free(cur);
        free(prev);
        free(expect);
        free(state);
        if (failures)
            return;
    }
}

int main(void)
{
    test_mark_rects();
    test_rects_cover();
    test_scan();
    printf("damage_test: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
