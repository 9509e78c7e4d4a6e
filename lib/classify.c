/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "buf.h"
#include "classify.h"
#include "classify_params.h"

/* ---- per-tile statistics ---- */

static inline uint32_t colour_key(const uint8_t *p, int bpp)
{
    return bpp == 4 ? vd_rl32(p) & 0x00ffffffu : vd_rl16(p);
}

/* Inserts into a small open-addressing set; returns 1 when the colour was new. */
static int colour_set_add(uint32_t *set, uint32_t key)
{
    /* Slot value 0 marks empty, so keys are stored + 1 (no 24-bit colour reaches 2^32 - 1). */
    uint32_t k = key + 1, h = (key * 2654435761u) >> 25; /* 128 slots */
    for (;; h = (h + 1) & 127) {
        if (set[h] == k)
            return 0;
        if (!set[h]) {
            set[h] = k;
            return 1;
        }
    }
}

unsigned vd_count_colours(const uint8_t *p, size_t stride, int w, int h, int bpp, unsigned cap)
{
    uint32_t set[128] = {0};
    unsigned n = 0;
    cap = VD_MIN(cap, 64u); /* (half the set's slots) */
    for (int y = 0; y < h && n < cap; y++)
        for (int x = 0; x < w && n < cap; x++)
            n += (unsigned)colour_set_add(
                set, colour_key(p + (size_t)y * stride + (size_t)x * (size_t)bpp, bpp));
    return n;
}

/* Largest channel difference of two packed 24-bit colours (bytes 0-2). */
static inline int max_diff24(uint32_t a, uint32_t b)
{
    int d0 = abs((int)(a & 0xff) - (int)(b & 0xff));
    int d1 = abs((int)((a >> 8) & 0xff) - (int)((b >> 8) & 0xff));
    int d2 = abs((int)((a >> 16) & 0xff) - (int)((b >> 16) & 0xff));
    return VD_MAX(d0, VD_MAX(d1, d2));
}

/* A run of three neighbours a, b, d across: 0 unless both steps are smooth and not both
 * flat; then 2 when every channel's second difference a - 2b + d is within 1 (the exact
 * gradients that rendering leaves; video's grain and coding noise break them), else 1. */
static inline unsigned triple_kind(int ar, int ag, int ab, int br, int bg, int bb, int dr, int dg,
                                   int db)
{
    int s1 = VD_MAX(abs(ar - br), VD_MAX(abs(ag - bg), abs(ab - bb)));
    int s2 = VD_MAX(abs(br - dr), VD_MAX(abs(bg - dg), abs(bb - db)));
    if (s1 > VD_CLS_SMOOTH_MAX || s2 > VD_CLS_SMOOTH_MAX || (s1 == 0 && s2 == 0))
        return 0;
    int e = VD_MAX(abs(ar - 2 * br + dr), VD_MAX(abs(ag - 2 * bg + dg), abs(ab - 2 * bb + db)));
    return e <= 1 ? 2 : 1;
}

static inline void add_triple(unsigned kind, vd_tile_stats *out)
{
    out->triples += kind != 0;
    out->regular += kind == 2;
}

/* Triples centred on [x, w - 1) of a sampled row of 4-byte pixels; the C version of every
 * kernel's loop. */
static void triples_row_4(const uint8_t *c, int x, int w, vd_tile_stats *out)
{
    for (; x < w - 1; x++) {
        const uint8_t *a = c + 4 * (size_t)x - 4, *b = a + 4, *d = a + 8;
        add_triple(triple_kind(a[0], a[1], a[2], b[0], b[1], b[2], d[0], d[1], d[2]), out);
    }
}

/* Colours of one sampled row, left to right, skipping repeats of the previous pixel; shared
 * by every version of the kernel so that they count alike. */
static void count_colours_row(const uint8_t *c, int w, uint32_t *set, vd_tile_stats *out)
{
    uint32_t last = vd_rl32(c) & 0x00ffffffu;
    out->colours += (uint32_t)colour_set_add(set, last);
    for (int x = 1; x < w && out->colours < VD_CLS_COLOUR_CAP; x++) {
        uint32_t v = vd_rl32(c + 4 * (size_t)x) & 0x00ffffffu;
        if (v != last)
            out->colours += (uint32_t)colour_set_add(set, v);
        last = v;
    }
}

/* Columns [*x0, *x1) of row y that the skip rectangle covers (empty when none). */
static void skip_span(const vd_rect *skip, int y, int w, int *x0, int *x1)
{
    *x0 = *x1 = w;
    if (y >= skip->y && y < skip->y + skip->height && skip->width > 0) {
        *x0 = VD_MIN(VD_MAX(skip->x, 0), w);
        *x1 = VD_MAX(VD_MIN(skip->x + skip->width, w), *x0);
    }
}

/* The 4-byte formats, which is nearly every frame: whole-pixel compares, channels only where
 * pixels differ.  Spatial statistics on every fourth row: plenty for a decision. */
static void tile_stats_4(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                         size_t prev_stride, int w, int h, const vd_rect *skip, vd_tile_stats *out)
{
    uint32_t set[128] = {0};
    for (int y = 0; y < h; y++) {
        const uint8_t *c = cur + (size_t)y * cur_stride, *p = prev + (size_t)y * prev_stride;
        int sx0, sx1;
        skip_span(skip, y, w, &sx0, &sx1);
        uint32_t row_blocks = 0;
        for (int x = 0; x < w; x++) {
            uint32_t a = vd_rl32(c + 4 * (size_t)x) & 0x00ffffffu;
            uint32_t b = vd_rl32(p + 4 * (size_t)x) & 0x00ffffffu;
            if (a == b || (x >= sx0 && x < sx1))
                continue;
            out->changed++;
            out->noise += max_diff24(a, b) <= VD_CLS_NOISE_MAX;
            row_blocks |= 1u << (x >> 4);
        }
        out->blocks |= (uint16_t)(row_blocks << ((y >> 4) * 4));
        if (y & 3)
            continue;
        for (int x = 1; x < w; x++) {
            uint32_t v = vd_rl32(c + 4 * (size_t)x) & 0x00ffffffu;
            uint32_t u = vd_rl32(c + 4 * (size_t)x - 4) & 0x00ffffffu;
            out->pairs++;
            out->smooth += v != u && max_diff24(v, u) <= VD_CLS_SMOOTH_MAX;
        }
        triples_row_4(c, 1, w, out);
        if (out->colours < VD_CLS_COLOUR_CAP)
            count_colours_row(c, w, set, out);
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Set bits of a 4-lane mask: baseline x86-64 has no popcnt instruction, and the builtin is a
 * libgcc call there. */
static const uint8_t lanes_set[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};

/* Lanes (bit per pixel of 4) whose three colour bytes all differ by at most limit. */
__attribute__((target("sse2"))) static inline int lanes_within(__m128i a, __m128i b, __m128i limit)
{
    __m128i d = _mm_or_si128(_mm_subs_epu8(a, b), _mm_subs_epu8(b, a));
    __m128i over = _mm_subs_epu8(d, limit);
    return _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(over, _mm_setzero_si128())));
}

/* Counts of the changed pixels of [x, end) of a row; 4 pixels per step, the C loop's logic. */
__attribute__((target("sse2"))) static void changes_sse2(const uint8_t *c, const uint8_t *p, int x,
                                                         int end, vd_tile_stats *out,
                                                         uint32_t *row_blocks)
{
    const __m128i rgb = _mm_set1_epi32(0x00ffffff), noise = _mm_set1_epi8(VD_CLS_NOISE_MAX);
    for (; x + 4 <= end; x += 4) {
        __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(c + 4 * (size_t)x)), rgb);
        __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(p + 4 * (size_t)x)), rgb);
        int ne = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(a, b))) ^ 0xf;
        if (!ne)
            continue;
        out->changed += lanes_set[ne];
        out->noise += lanes_set[ne & lanes_within(a, b, noise)];
        /* The changed lanes span at most two 16-pixel blocks. */
        *row_blocks |= (1u << ((x + __builtin_ctz((unsigned)ne)) >> 4)) |
                       (1u << ((x + 31 - __builtin_clz((unsigned)ne)) >> 4));
    }
    for (; x < end; x++) {
        uint32_t va = vd_rl32(c + 4 * (size_t)x) & 0x00ffffffu;
        uint32_t vb = vd_rl32(p + 4 * (size_t)x) & 0x00ffffffu;
        if (va == vb)
            continue;
        out->changed++;
        out->noise += max_diff24(va, vb) <= VD_CLS_NOISE_MAX;
        *row_blocks |= 1u << (x >> 4);
    }
}

/* Smooth neighbour pairs (x - 1, x) of [x, w) of a row; 4 pixels per step, the C loop's
 * logic. */
__attribute__((target("sse2"))) static void smooth_sse2(const uint8_t *c, int x, int w,
                                                        vd_tile_stats *out)
{
    const __m128i rgb = _mm_set1_epi32(0x00ffffff), smooth = _mm_set1_epi8(VD_CLS_SMOOTH_MAX);
    for (; x + 4 <= w; x += 4) {
        __m128i v = _mm_and_si128(_mm_loadu_si128((const __m128i *)(c + 4 * (size_t)x)), rgb);
        __m128i u = _mm_and_si128(_mm_loadu_si128((const __m128i *)(c + 4 * (size_t)x - 4)), rgb);
        int ne = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(v, u))) ^ 0xf;
        out->smooth += lanes_set[ne & lanes_within(v, u, smooth)];
    }
    for (; x < w; x++) {
        uint32_t v = vd_rl32(c + 4 * (size_t)x) & 0x00ffffffu;
        uint32_t u = vd_rl32(c + 4 * (size_t)x - 4) & 0x00ffffffu;
        out->smooth += v != u && max_diff24(v, u) <= VD_CLS_SMOOTH_MAX;
    }
}

/* Lanes whose three colour bytes all have a second difference u - 2v + d within 1.  Only
 * asked of smooth triples, whose steps (at most VD_CLS_SMOOTH_MAX) keep the wrapping byte
 * arithmetic exact: e + 1 lands in [0, 2] exactly when e is in [-1, 1]. */
_Static_assert(2 * VD_CLS_SMOOTH_MAX + 1 <= 127, "lanes_regular()'s byte arithmetic");

__attribute__((target("sse2"))) static inline int lanes_regular(__m128i u, __m128i v, __m128i d)
{
    __m128i e = _mm_sub_epi8(_mm_add_epi8(u, d), _mm_add_epi8(v, v));
    __m128i over = _mm_subs_epu8(_mm_add_epi8(e, _mm_set1_epi8(1)), _mm_set1_epi8(2));
    return _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(over, _mm_setzero_si128())));
}

/* Triples centred on [x, w - 1) of a sampled row; 4 per step, triple_kind()'s logic. */
__attribute__((target("sse2"))) static void triples_sse2(const uint8_t *c, int x, int w,
                                                         vd_tile_stats *out)
{
    const __m128i rgb = _mm_set1_epi32(0x00ffffff), smooth = _mm_set1_epi8(VD_CLS_SMOOTH_MAX);
    for (; x + 5 <= w; x += 4) {
        const uint8_t *at = c + 4 * (size_t)x;
        __m128i u = _mm_and_si128(_mm_loadu_si128((const __m128i *)(at - 4)), rgb);
        __m128i v = _mm_and_si128(_mm_loadu_si128((const __m128i *)at), rgb);
        __m128i d = _mm_and_si128(_mm_loadu_si128((const __m128i *)(at + 4)), rgb);
        int flat = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(u, v))) &
                   _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(v, d)));
        int triple = lanes_within(u, v, smooth) & lanes_within(v, d, smooth) & ~flat & 0xf;
        out->triples += lanes_set[triple];
        out->regular += lanes_set[triple & lanes_regular(u, v, d)];
    }
    triples_row_4(c, x, w, out);
}

__attribute__((target("sse2"))) static void tile_stats_4_sse2(const uint8_t *cur, size_t cur_stride,
                                                              const uint8_t *prev, size_t prev_stride,
                                                              int w, int h, const vd_rect *skip,
                                                              vd_tile_stats *out)
{
    uint32_t set[128] = {0};
    for (int y = 0; y < h; y++) {
        const uint8_t *c = cur + (size_t)y * cur_stride, *p = prev + (size_t)y * prev_stride;
        int sx0, sx1;
        skip_span(skip, y, w, &sx0, &sx1);
        uint32_t row_blocks = 0;
        changes_sse2(c, p, 0, sx0, out, &row_blocks);
        changes_sse2(c, p, sx1, w, out, &row_blocks);
        out->blocks |= (uint16_t)(row_blocks << ((y >> 4) * 4));
        if (y & 3)
            continue;
        smooth_sse2(c, 1, w, out);
        out->pairs += (uint32_t)(w - 1);
        triples_sse2(c, 1, w, out);
        if (out->colours < VD_CLS_COLOUR_CAP)
            count_colours_row(c, w, set, out);
    }
}

void vd_tile_stats_sse2(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                        size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                        vd_tile_stats *out)
{
    if (bpp != 4) {
        vd_tile_stats_c(cur, cur_stride, prev, prev_stride, w, h, bpp, skip, out);
        return;
    }
    *out = (vd_tile_stats){.pixels = (uint32_t)(w * h)};
    tile_stats_4_sse2(cur, cur_stride, prev, prev_stride, w, h, skip, out);
}
/* The AVX2 version: 8 pixels per step, popcnt available with AVX2. */
__attribute__((target("avx2"))) static inline int lanes_within8(__m256i a, __m256i b, __m256i limit)
{
    __m256i d = _mm256_or_si256(_mm256_subs_epu8(a, b), _mm256_subs_epu8(b, a));
    __m256i over = _mm256_subs_epu8(d, limit);
    return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(over, _mm256_setzero_si256())));
}

__attribute__((target("avx2,popcnt"))) static void changes_avx2(const uint8_t *c, const uint8_t *p,
                                                                int x, int end, vd_tile_stats *out,
                                                                uint32_t *row_blocks)
{
    const __m256i rgb = _mm256_set1_epi32(0x00ffffff), noise = _mm256_set1_epi8(VD_CLS_NOISE_MAX);
    for (; x + 8 <= end; x += 8) {
        __m256i a = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(c + 4 * (size_t)x)), rgb);
        __m256i b = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(p + 4 * (size_t)x)), rgb);
        unsigned ne = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b))) ^ 0xffu;
        if (!ne)
            continue;
        out->changed += (uint32_t)_mm_popcnt_u32(ne);
        out->noise += (uint32_t)_mm_popcnt_u32(ne & (unsigned)lanes_within8(a, b, noise));
        /* 8 lanes span at most two 16-pixel blocks. */
        *row_blocks |= (1u << ((x + __builtin_ctz(ne)) >> 4)) |
                       (1u << ((x + 31 - __builtin_clz(ne)) >> 4));
    }
    changes_sse2(c, p, x, end, out, row_blocks);
}

__attribute__((target("avx2"))) static inline int lanes_regular8(__m256i u, __m256i v, __m256i d)
{
    __m256i e = _mm256_sub_epi8(_mm256_add_epi8(u, d), _mm256_add_epi8(v, v));
    __m256i over =
        _mm256_subs_epu8(_mm256_add_epi8(e, _mm256_set1_epi8(1)), _mm256_set1_epi8(2));
    return _mm256_movemask_ps(
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(over, _mm256_setzero_si256())));
}

__attribute__((target("avx2,popcnt"))) static void triples_avx2(const uint8_t *c, int x, int w,
                                                                vd_tile_stats *out)
{
    const __m256i rgb = _mm256_set1_epi32(0x00ffffff), smooth = _mm256_set1_epi8(VD_CLS_SMOOTH_MAX);
    for (; x + 9 <= w; x += 8) {
        const uint8_t *at = c + 4 * (size_t)x;
        __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(at - 4)), rgb);
        __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)at), rgb);
        __m256i d = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(at + 4)), rgb);
        __m256i same_uv = _mm256_cmpeq_epi32(u, v), same_vd = _mm256_cmpeq_epi32(v, d);
        unsigned flat = (unsigned)(_mm256_movemask_ps(_mm256_castsi256_ps(same_uv)) &
                                   _mm256_movemask_ps(_mm256_castsi256_ps(same_vd)));
        unsigned triple = (unsigned)(lanes_within8(u, v, smooth) & lanes_within8(v, d, smooth)) &
                          ~flat & 0xffu;
        out->triples += (uint32_t)_mm_popcnt_u32(triple);
        out->regular += (uint32_t)_mm_popcnt_u32(triple & (unsigned)lanes_regular8(u, v, d));
    }
    triples_sse2(c, x, w, out);
}

__attribute__((target("avx2,popcnt"))) static void tile_stats_4_avx2(const uint8_t *cur, size_t cur_stride,
                                                                     const uint8_t *prev, size_t prev_stride,
                                                                     int w, int h, const vd_rect *skip,
                                                                     vd_tile_stats *out)
{
    const __m256i rgb = _mm256_set1_epi32(0x00ffffff), smooth = _mm256_set1_epi8(VD_CLS_SMOOTH_MAX);
    uint32_t set[128] = {0};
    for (int y = 0; y < h; y++) {
        const uint8_t *c = cur + (size_t)y * cur_stride, *p = prev + (size_t)y * prev_stride;
        int sx0, sx1;
        skip_span(skip, y, w, &sx0, &sx1);
        uint32_t row_blocks = 0;
        changes_avx2(c, p, 0, sx0, out, &row_blocks);
        changes_avx2(c, p, sx1, w, out, &row_blocks);
        out->blocks |= (uint16_t)(row_blocks << ((y >> 4) * 4));
        if (y & 3)
            continue;
        int x = 1;
        for (; x + 8 <= w; x += 8) {
            __m256i v = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(c + 4 * (size_t)x)), rgb);
            __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(c + 4 * (size_t)x - 4)), rgb);
            unsigned ne = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, u))) ^ 0xffu;
            out->smooth += (uint32_t)_mm_popcnt_u32(ne & (unsigned)lanes_within8(v, u, smooth));
        }
        smooth_sse2(c, x, w, out);
        out->pairs += (uint32_t)(w - 1);
        triples_avx2(c, 1, w, out);
        if (out->colours < VD_CLS_COLOUR_CAP)
            count_colours_row(c, w, set, out);
    }
}

void vd_tile_stats_avx2(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                        size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                        vd_tile_stats *out)
{
    if (bpp != 4) {
        vd_tile_stats_c(cur, cur_stride, prev, prev_stride, w, h, bpp, skip, out);
        return;
    }
    *out = (vd_tile_stats){.pixels = (uint32_t)(w * h)};
    tile_stats_4_avx2(cur, cur_stride, prev, prev_stride, w, h, skip, out);
}
#else
void vd_tile_stats_sse2(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                        size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                        vd_tile_stats *out)
{
    vd_tile_stats_c(cur, cur_stride, prev, prev_stride, w, h, bpp, skip, out);
}

void vd_tile_stats_avx2(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                        size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                        vd_tile_stats *out)
{
    vd_tile_stats_c(cur, cur_stride, prev, prev_stride, w, h, bpp, skip, out);
}
#endif

vd_tile_stats_fn vd_tile_stats_pick(unsigned cpu_mask)
{
    unsigned have = cpu_mask & vd_cpu_flags();
    return (have & VD_CPU_AVX2)   ? vd_tile_stats_avx2
           : (have & VD_CPU_SSE2) ? vd_tile_stats_sse2
                                  : vd_tile_stats_c;
}

void vd_tile_stats_c(const uint8_t *cur, size_t cur_stride, const uint8_t *prev, size_t prev_stride,
                     int w, int h, int bpp, const vd_rect *skip, vd_tile_stats *out)
{
    if (bpp == 4) {
        *out = (vd_tile_stats){.pixels = (uint32_t)(w * h)};
        tile_stats_4(cur, cur_stride, prev, prev_stride, w, h, skip, out);
        return;
    }
    *out = (vd_tile_stats){.pixels = (uint32_t)(w * h)};
    uint32_t set[128] = {0};
    size_t bpp_z = (size_t)bpp;
    for (int y = 0; y < h; y++) {
        const uint8_t *c = cur + (size_t)y * cur_stride, *p = prev + (size_t)y * prev_stride;
        int sx0 = w, sx1 = w; /* skipped columns [sx0, sx1) of this row */
        if (y >= skip->y && y < skip->y + skip->height) {
            sx0 = VD_MAX(skip->x, 0);
            sx1 = VD_MIN(skip->x + skip->width, w);
        }
        for (int x = 0; x < w; x++) {
            const uint8_t *cp = c + (size_t)x * bpp_z, *pp = p + (size_t)x * bpp_z;
            if (colour_key(cp, bpp) == colour_key(pp, bpp) || (x >= sx0 && x < sx1))
                continue;
            out->changed++;
            out->noise += vd_px_max_channel_diff(cp, pp, bpp) <= VD_CLS_NOISE_MAX;
            out->blocks |= (uint16_t)(1u << ((y >> 4) * 4 + (x >> 4)));
        }
        if (y & 3)
            continue;
        for (int x = 1; x < w; x++) {
            const uint8_t *a = c + (size_t)(x - 1) * bpp_z, *b = c + (size_t)x * bpp_z;
            uint32_t ka = colour_key(a, bpp), kb = colour_key(b, bpp);
            out->pairs++;
            if (ka == kb)
                continue;
            out->smooth += vd_px_max_channel_diff(a, b, bpp) <= VD_CLS_SMOOTH_MAX;
            if (out->colours < VD_CLS_COLOUR_CAP)
                out->colours += (uint32_t)colour_set_add(set, kb);
        }
        for (int x = 1; x < w - 1; x++) {
            int v[9];
            for (int k = 0; k < 3; k++)
                vd_px_rgb(c + (size_t)(x - 1 + k) * bpp_z, bpp, &v[3 * k], &v[3 * k + 1],
                       &v[3 * k + 2]);
            add_triple(triple_kind(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]), out);
        }
        if (w && out->colours < VD_CLS_COLOUR_CAP)
            out->colours += (uint32_t)colour_set_add(set, colour_key(c, bpp));
    }
    out->colours = VD_MIN(out->colours, VD_CLS_COLOUR_CAP);
}

/* ---- configuration ---- */

void vd_classifier_config_default(vd_classifier_config *cfg)
{
    *cfg = (vd_classifier_config){
        .enter_rate = VD_CLS_ENTER_RATE,
        .exit_rate = VD_CLS_EXIT_RATE,
        .min_changed_fraction = VD_CLS_MIN_CHANGED,
        .min_colours = VD_CLS_MIN_COLOURS,
        .min_smooth_fraction = VD_CLS_MIN_SMOOTH,
        .video_score = VD_CLS_VIDEO_SCORE,
        .region_idle_ms = VD_CLS_REGION_IDLE_MS,
        .fast_start_changed = VD_CLS_FAST_START_CHANGED,
        .rendered_regular = VD_CLS_RENDERED_REGULAR,
        .flat_changes = VD_CLS_FLAT_CHANGES,
        .flat_window_ms = VD_CLS_FLAT_WINDOW_MS,
    };
}

int vd_classifier_config_check(const vd_classifier_config *c)
{
    /* The rate window must be able to hold enter_rate changes: VD_CLS_HISTORY bounds it. */
    int ok = c->exit_rate <= c->enter_rate && c->enter_rate >= 1 &&
             c->enter_rate * VD_CLS_RATE_WINDOW_MS / 1000 <= VD_CLS_HISTORY &&
             c->min_changed_fraction <= 256 && c->min_colours <= VD_CLS_COLOUR_CAP &&
             c->min_smooth_fraction <= 256 && c->video_score <= 256 &&
             c->region_idle_ms >= 1 && c->region_idle_ms <= 600000 &&
             c->fast_start_changed <= 256 && c->rendered_regular <= 256 &&
             c->flat_changes <= VD_CLS_HISTORY && c->flat_window_ms <= 60000 &&
             (!c->flat_changes || c->flat_window_ms >= 1);
    return ok ? 0 : VD_ERR(EINVAL);
}

/* ---- classifier state ---- */

typedef struct tile_state {
    int64_t changes[VD_CLS_HISTORY]; /* ring of change times */
    uint8_t head, count;
    uint8_t dynamic;                 /* looks like video or 3D (with hysteresis) */
    uint16_t changed_avg, noise_avg, smooth_avg, colours_avg; /* running averages, 1/256 */
    uint16_t regular_avg;            /* ... of the regular share of smooth triples, 1/256 */
    uint8_t regular_known;           /* regular_avg has had a tile with enough triples */
    uint16_t changed_last[2];        /* fraction of the last two changes, newest first, 1/256 */
    /* Per 16 x 16 block, how often it takes part in the tile's changes (running average,
     * 1/256): the blocks that keep changing, not one big repaint, shape a region. */
    uint8_t block_rate[16];
    uint16_t frame_blocks;           /* the 16 x 16 blocks that changed in this frame */
    uint16_t looked, rendered;       /* blocks rendered_blocks() judged this frame, and how */
    uint8_t moved_rate;              /* share of its changes made beside a copy (a scroll), 1/256 */
    /* What the tile shows now, from its last statistics (a frame with nothing to compare
     * with included): colours and smooth-pair share, 1/256. */
    uint8_t shown_colours, shown_smooth, shown_known;
    uint8_t natural_repaint;         /* this frame: natural content repainted in place */
    uint8_t moved_now;               /* this frame: changed beside a copy */
    int64_t last_change;
} tile_state;

typedef struct region_state {
    vd_region pub;
    uint8_t pending;        /* the other class, while it waits out VD_CLS_REGION_SWITCH_MS */
    uint8_t hinted;         /* content comes from the host: no flap control */
    int64_t pending_since;
    /* The rectangle grows at once and shrinks a hold window later: a moving object sweeps
     * an area, and the tiles it just left still change now and then. */
    vd_rect hold_now, hold_prev;
    int64_t hold_since;
    int64_t last_active;    /* last change of its tiles; it ends region_idle_ms later */
    int matched;
} region_state;

struct vd_classifier {
    vd_tile_grid grid;
    vd_classifier_config cfg;
    uint32_t *next_id;
    size_t n_tiles;
    tile_state *tiles;
    uint8_t *classes;   /* output per tile */
    uint8_t *hint;      /* per tile, this frame: VD_CONTENT_* or NONE */
    uint8_t *sticky;    /* per tile, this frame: keeps a region it is mostly inside alive */
    int32_t *component; /* per tile: component index or -1 (scratch) */
    uint32_t *queue;    /* flood-fill scratch */
    region_state *regions;
    size_t n_regions, regions_cap;
    region_state *next;  /* regions being built for this frame */
    size_t n_next, next_cap;
    size_t component_voters; /* active tiles of the component grow_component just filled */
    /* The cursor drawn into the frame, this frame and the last, while it moves (else empty):
     * its pixels are no change to the statistics, but they are to the encoder. */
    vd_rect cursor_now, cursor_before, cursor_last;
};

void vd_classifier_free(vd_classifier **pc)
{
    if (!pc || !*pc)
        return;
    vd_classifier *c = *pc;
    free(c->tiles);
    free(c->classes);
    free(c->hint);
    free(c->sticky);
    free(c->component);
    free(c->queue);
    free(c->regions);
    free(c->next);
    free(c);
    *pc = NULL;
}

vd_classifier *vd_classifier_new(const vd_tile_grid *grid, const vd_classifier_config *cfg,
                                 uint32_t *next_region_id)
{
    vd_classifier *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->grid = *grid;
    c->cfg = *cfg;
    c->next_id = next_region_id;
    c->n_tiles = (size_t)grid->cols * (size_t)grid->rows;
    c->tiles = calloc(c->n_tiles, sizeof(*c->tiles));
    c->classes = calloc(c->n_tiles, 1);
    c->hint = calloc(c->n_tiles, 1);
    c->sticky = calloc(c->n_tiles, 1);
    c->component = malloc(c->n_tiles * sizeof(*c->component));
    c->queue = malloc(c->n_tiles * sizeof(*c->queue));
    if (!c->tiles || !c->classes || !c->hint || !c->sticky || !c->component || !c->queue) {
        vd_classifier_free(&c);
        return NULL;
    }
    return c;
}

/* Changes of a tile within the window_ms ending at t. */
static unsigned changes_within(const tile_state *ts, int64_t t, int64_t window_ms)
{
    unsigned n = 0;
    for (unsigned i = 0; i < ts->count; i++) {
        int64_t when = ts->changes[(ts->head + VD_CLS_HISTORY - 1 - i) % VD_CLS_HISTORY];
        if (t - when >= window_ms * 1000)
            break;
        n++;
    }
    return n;
}

/* Changes of a tile within the rate window ending at t. */
static unsigned recent_changes(const tile_state *ts, int64_t t)
{
    return changes_within(ts, t, VD_CLS_RATE_WINDOW_MS);
}

static uint16_t ewma(uint16_t avg, uint32_t x, int first)
{
    if (first)
        return (uint16_t)x;
    return (uint16_t)((int32_t)avg + (((int32_t)x - (int32_t)avg) >> VD_CLS_EWMA_SHIFT));
}

static void record_change(vd_classifier *c, tile_state *ts, const vd_tile_stats *st, int moved,
                          int64_t t)
{
    /* A tile idle for longer than a region lives starts its averages afresh. */
    int first = !ts->count || t - ts->last_change > (int64_t)c->cfg.region_idle_ms * 1000;
    ts->changes[ts->head] = t;
    ts->head = (uint8_t)((ts->head + 1) % VD_CLS_HISTORY);
    ts->count = (uint8_t)VD_MIN(ts->count + 1, VD_CLS_HISTORY);
    ts->changed_last[1] = ts->changed_last[0];
    ts->changed_last[0] = (uint16_t)(st->changed * 256 / st->pixels);
    ts->changed_avg = ewma(ts->changed_avg, ts->changed_last[0], first);
    ts->noise_avg = ewma(ts->noise_avg, st->noise * 256 / st->changed, first);
    if (st->pairs)
        ts->smooth_avg = ewma(ts->smooth_avg, st->smooth * 256 / st->pairs, first);
    ts->colours_avg = ewma(ts->colours_avg, st->colours, first);
    if (first)
        ts->regular_known = 0;
    if (st->triples >= VD_CLS_MIN_TRIPLES) {
        ts->regular_avg =
            ewma(ts->regular_avg, st->regular * 256 / st->triples, !ts->regular_known);
        ts->regular_known = 1;
    }
    for (int b = 0; b < 16; b++) {
        unsigned hit = (st->blocks >> b) & 1u, r = first ? 0 : ts->block_rate[b];
        ts->block_rate[b] = (uint8_t)(r - (r >> VD_CLS_EWMA_SHIFT) + (hit << (8 - VD_CLS_EWMA_SHIFT)) - hit);
    }
    unsigned m = first ? 0 : ts->moved_rate, hit = moved != 0;
    ts->moved_rate = (uint8_t)(m - (m >> VD_CLS_EWMA_SHIFT) + (hit << (8 - VD_CLS_EWMA_SHIFT)) - hit);
    ts->last_change = t;
}

/* Content that goes as copies scrolls or moves: a page of photos, text, a window.  Video and
 * rendered 3D never repeat pixels that exactly. */
static int scrolls(const tile_state *ts)
{
    return ts->moved_now || ts->moved_rate >= VD_CLS_MAX_MOVED;
}

/* The hysteresis: whether a damaged tile's history says it shows video or 3D.  Which of the
 * two is decided per region, where more tiles vote. */
static void classify_tile(const vd_classifier *c, tile_state *ts, int64_t t)
{
    const vd_classifier_config *k = &c->cfg;
    unsigned rate = recent_changes(ts, t) * 1000u / VD_CLS_RATE_WINDOW_MS;
    int scrolled = scrolls(ts);
    int fast = !scrolled && (ts->dynamic ? rate >= k->exit_rate : rate >= k->enter_rate);
    /* Fast start: two changes in a row that each repaint most of the tile.  Video and 3D
     * start like that, and every frame sent exactly before detection costs several times
     * a coded one; a window dragged over a photo or a repaint does not repaint a tile twice. */
    if (!fast && !scrolled && k->fast_start_changed && ts->count >= 2 && ts->last_change == t) {
        int64_t before = ts->changes[(ts->head + VD_CLS_HISTORY - 2) % VD_CLS_HISTORY];
        fast = t - before <= VD_CLS_FAST_START_MS * 1000 &&
               ts->changed_last[0] >= k->fast_start_changed &&
               ts->changed_last[1] >= k->fast_start_changed;
    }
    /* Natural content repainted in place by the next picture of itself: a video or a 3D view
     * that was already playing.  A photo that opens replaces a window or a background, the
     * next one in a slideshow is another picture (most pixels change by far more than
     * noise), and a scroll or a move goes as copies. */
    if (!fast && k->fast_start_changed && ts->natural_repaint)
        fast = ts->changed_last[0] >= k->fast_start_changed;
    /* Leaving needs the content to stop looking natural by a clear margin, not just dip. */
    unsigned scale = ts->dynamic ? 3 : 4; /* in quarters of each threshold */
    int natural = ts->colours_avg * 4 >= k->min_colours * scale &&
                  ts->smooth_avg * 4 >= k->min_smooth_fraction * scale &&
                  ts->changed_avg * 4 >= k->min_changed_fraction * scale;
    /* Flat-shaded 3D (untextured models, gears, CAD views) has neither the colours nor the
     * gradients of natural content: a few flat colours redrawn without pause.  Busy text looks
     * the same, but it scrolls. */
    int animated = k->flat_changes &&
                   changes_within(ts, t, k->flat_window_ms) >= k->flat_changes &&
                   !scrolled &&
                   ts->colours_avg <= VD_CLS_FLAT_MAX_COLOURS &&
                   ts->smooth_avg <= VD_CLS_FLAT_MAX_SMOOTH;
    ts->dynamic = (uint8_t)((fast && natural) || animated);
}

static void apply_hints(vd_classifier *c, const vd_frame *f)
{
    memset(c->hint, f->surface_content, c->n_tiles);
    const vd_tile_grid *g = &c->grid;
    for (size_t i = 0; i < f->n_hints; i++) {
        const vd_rect *r = &f->hints[i].rect;
        int64_t x0 = VD_MAX((int64_t)r->x, 0), y0 = VD_MAX((int64_t)r->y, 0);
        int64_t x1 = VD_MIN((int64_t)r->x + r->width, (int64_t)g->width);
        int64_t y1 = VD_MIN((int64_t)r->y + r->height, (int64_t)g->height);
        if (x0 >= x1 || y0 >= y1)
            continue;
        for (int64_t ty = y0 / 64; ty <= (y1 - 1) / 64; ty++)
            memset(c->hint + ty * g->cols + x0 / 64, f->hints[i].content,
                   (size_t)((x1 - 1) / 64 - x0 / 64 + 1));
    }
}

/* The blocks of a tile that change in most of its changes. */
static unsigned live_blocks(const tile_state *ts)
{
    unsigned live = 0;
    for (int b = 0; b < 16; b++)
        live |= (unsigned)(ts->block_rate[b] >= VD_CLS_BLOCK_LIVE) << b;
    return live;
}

/* Pixel rectangle, clipped to the surface, of the 16 x 16 blocks of tile i in blocks (bit
 * by * 4 + bx); blocks 0 means the whole tile. */
static vd_rect blocks_rect(const vd_classifier *c, size_t i, unsigned blocks)
{
    int tx = (int)(i % (size_t)c->grid.cols), ty = (int)(i / (size_t)c->grid.cols);
    int bx0 = 0, by0 = 0, bx1 = 4, by1 = 4;
    if (blocks) {
        bx0 = by0 = 4;
        bx1 = by1 = 0;
        for (int b = 0; b < 16; b++)
            if (blocks & (1u << b)) {
                bx0 = VD_MIN(bx0, b & 3);
                bx1 = VD_MAX(bx1, (b & 3) + 1);
                by0 = VD_MIN(by0, b >> 2);
                by1 = VD_MAX(by1, (b >> 2) + 1);
            }
    }
    int x = tx * 64 + bx0 * 16, y = ty * 64 + by0 * 16;
    return (vd_rect){x, y, VD_MIN(tx * 64 + bx1 * 16, c->grid.width) - x,
                     VD_MIN(ty * 64 + by1 * 16, c->grid.height) - y};
}

/* Pixel rectangle of a tile's live blocks (the whole tile if none, or if hinted). */
static vd_rect tile_block_rect(const vd_classifier *c, size_t i)
{
    return blocks_rect(c, i, c->hint[i] ? 0 : live_blocks(&c->tiles[i]));
}

static vd_rect rect_union(vd_rect a, vd_rect b)
{
    if (b.width <= 0 || b.height <= 0)
        return a;
    if (a.width <= 0 || a.height <= 0)
        return b;
    int x0 = VD_MIN(a.x, b.x), y0 = VD_MIN(a.y, b.y);
    int x1 = VD_MAX(a.x + a.width, b.x + b.width), y1 = VD_MAX(a.y + a.height, b.y + b.height);
    return (vd_rect){x0, y0, x1 - x0, y1 - y0};
}

/* The four neighbours of a tile. */
static const int step_x[4] = {-1, 1, 0, 0}, step_y[4] = {0, 0, -1, 1};

static int64_t overlap_area(vd_rect a, vd_rect b)
{
    int64_t w = (int64_t)VD_MIN(a.x + a.width, b.x + b.width) - VD_MAX(a.x, b.x);
    int64_t h = (int64_t)VD_MIN(a.y + a.height, b.y + b.height) - VD_MAX(a.y, b.y);
    return w > 0 && h > 0 ? w * h : 0;
}

/* Whether outer holds all of inner. */
static int holds(vd_rect outer, vd_rect inner)
{
    return overlap_area(inner, outer) == (int64_t)inner.width * inner.height;
}

/* Whether rectangle a meets tile rectangle t outside r. */
static int meets_outside(vd_rect a, vd_rect t, vd_rect r)
{
    int x0 = VD_MAX(a.x, t.x), y0 = VD_MAX(a.y, t.y);
    int x1 = VD_MIN(a.x + a.width, t.x + t.width), y1 = VD_MIN(a.y + a.height, t.y + t.height);
    if (x0 >= x1 || y0 >= y1)
        return 0;
    return !holds(r, (vd_rect){x0, y0, x1 - x0, y1 - y0});
}

/* Whether damaged tile i takes the class of the region at r: when r holds all that changed in
 * it this frame (its changed 16 x 16 blocks, and a moving cursor), as the encoder streams a
 * tile that a region only cuts when nothing changed outside it (a tile that the encoder splits
 * takes its class there, vd_classifier_set_tile_class()); when the changed blocks are
 * unknown (only the cursor moved, or a frame with nothing to compare with), when r covers
 * most of the tile.  It differs from the encoder for a cursor whose image changes in place,
 * and on a frame that defines the surface, where the encoder streams only the tiles wholly
 * inside. */
static int tile_in_region(const vd_classifier *c, size_t i, vd_rect r)
{
    unsigned blocks = c->tiles[i].frame_blocks;
    vd_rect tile = blocks_rect(c, i, 0);
    if (meets_outside(c->cursor_now, tile, r) || meets_outside(c->cursor_before, tile, r))
        return 0;
    vd_rect part = blocks_rect(c, i, blocks); /* blocks 0: the whole tile */
    if (blocks)
        return holds(r, part);
    return overlap_area(part, r) * 2 > (int64_t)part.width * part.height;
}

/* Active: a video/3D tile, hinted or detected (and changing: a region outlives its tiles'
 * pauses by itself, see match_regions), or one that keeps an existing region alive. */
static int is_active(const vd_classifier *c, size_t i, int64_t t)
{
    if (c->hint[i])
        return c->hint[i] != VD_CONTENT_TEXT;
    const tile_state *ts = &c->tiles[i];
    return c->sticky[i] || (ts->dynamic && t - ts->last_change < VD_CLS_RATE_WINDOW_MS * 1000);
}

/* Region-level hysteresis: an established region lives while its content keeps changing,
 * even through stretches (a slow camera, a dark scene) in which its tiles would not enter on
 * their own.  A tile mostly inside an established region (VD_CLS_REGION_ESTABLISHED_MS) that still
 * changes at the exit rate and looks natural keeps it alive; younger regions must hold on
 * their own, which ends the short-lived ones of windows dragged over a photo. */
static void mark_sticky(vd_classifier *c, int64_t t)
{
    const vd_tile_grid *g = &c->grid;
    memset(c->sticky, 0, c->n_tiles);
    for (size_t r = 0; r < c->n_regions; r++) {
        if (c->regions[r].hinted || t - c->regions[r].pub.start_us < VD_CLS_REGION_ESTABLISHED_MS * 1000)
            continue;
        const vd_rect *q = &c->regions[r].pub.rect;
        for (int ty = q->y / 64; ty <= (q->y + q->height - 1) / 64; ty++)
            for (int tx = q->x / 64; tx <= (q->x + q->width - 1) / 64; tx++) {
                size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
                const tile_state *ts = &c->tiles[i];
                vd_rect tile = blocks_rect(c, i, 0);
                if (!c->hint[i] && ts->count &&
                    t - ts->last_change < VD_CLS_RATE_WINDOW_MS * 1000 &&
                    ts->colours_avg * 4 >= c->cfg.min_colours * 3 &&
                    ts->smooth_avg * 4 >= c->cfg.min_smooth_fraction * 3 &&
                    recent_changes(ts, t) * 1000u / VD_CLS_RATE_WINDOW_MS >= c->cfg.exit_rate &&
                    overlap_area(tile, *q) * 2 > (int64_t)tile.width * tile.height)
                    c->sticky[i] = 1;
            }
    }
}

/* Of blocks (of tile i), those whose pixels in f look rendered: several colours, and most of
 * the steps between neighbours small, across and down (shading and texture are smooth both
 * ways; a flat sky beside an object is at least smooth down).
 * Text and UI drawn beside a 3D view have hard edges: on a flat line, or on a gradient across
 * or down, most of its steps one way are glyph edges. */
static unsigned rendered_blocks(const vd_classifier *c, const vd_frame *f, size_t i,
                                unsigned blocks)
{
    int bpp = c->grid.bpp;
    unsigned out = 0;
    for (int b = 0; b < 16; b++) {
        if (!(blocks >> b & 1u))
            continue;
        vd_rect r = blocks_rect(c, i, 1u << b);
        uint32_t set[128] = {0};
        unsigned colours = 0, steps[2] = {0, 0}, smooth[2] = {0, 0}; /* across, down */
        for (int y = r.y; y < r.y + r.height; y++) {
            const uint8_t *row = f->data + (size_t)y * f->stride + (size_t)r.x * (size_t)bpp;
            colours += (unsigned)colour_set_add(set, colour_key(row, bpp));
            for (int x = 0; x < r.width; x++) {
                const uint8_t *p = row + (size_t)x * (size_t)bpp;
                uint32_t kp = colour_key(p, bpp);
                const uint8_t *nb[2] = {x ? p - bpp : NULL, y > r.y ? p - f->stride : NULL};
                for (int d = 0; d < 2; d++) {
                    if (!nb[d] || colour_key(nb[d], bpp) == kp)
                        continue;
                    steps[d]++;
                    smooth[d] += vd_px_max_channel_diff(nb[d], p, bpp) <= VD_CLS_SMOOTH_MAX;
                }
                if (x && colours < VD_CLS_COLOUR_CAP)
                    colours += (unsigned)colour_set_add(set, kp);
            }
        }
        int rendered = colours >= VD_CLS_RENDERED_MIN_COLOURS;
        for (int d = 0; d < 2; d++)
            rendered &= steps[d] >= VD_CLS_RENDERED_MIN_STEPS && smooth[d] * 2 >= steps[d];
        out |= (unsigned)rendered << b;
    }
    return out;
}

/* The changed 16 x 16 blocks of tile i that touch its side facing a region (dx, dy point from
 * the region to the tile), as a pixel rectangle; empty when the tile is not busy.  A video
 * window rarely ends on a tile edge: its partly covered border tiles change too little to be
 * detected on their own, but their changed blocks beside the region belong to it when they
 * change as often as a region's tiles must (a passing cursor does not), or, when the region
 * is born on a natural repaint (born), when they were repainted too. */
static vd_rect edge_blocks(const vd_classifier *c, size_t i, int dx, int dy, int64_t t, int born)
{
    const tile_state *ts = &c->tiles[i];
    vd_rect none = {0, 0, 0, 0};
    if (c->hint[i] || !ts->count || scrolls(ts))
        return none;
    unsigned rate = recent_changes(ts, t) * 1000u / VD_CLS_RATE_WINDOW_MS;
    int busy = t - ts->last_change < VD_CLS_RATE_WINDOW_MS * 1000 && rate >= c->cfg.enter_rate;
    /* An object moving in a 3D view or a video's pan reaches tiles that have not changed
     * before: natural content changing now beside the region joins it at once. */
    int spreads = ts->frame_blocks && (rate >= c->cfg.exit_rate || (born && ts->natural_repaint)) &&
                  ts->colours_avg * 4 >= c->cfg.min_colours * 3 &&
                  ts->smooth_avg * 4 >= c->cfg.min_smooth_fraction * 3;
    if (!busy && !spreads)
        return none;
    /* A busy tile's own change is what keeps changing: not a one-off repaint beside it. */
    unsigned blocks = busy ? live_blocks(ts) : ts->frame_blocks;
    unsigned keep = 0;
    /* Walk block rows (or columns) inwards from the side that faces the region while they
     * changed. */
    for (int k = 0; k < 4; k++) {
        int line = dy > 0 ? k : dy < 0 ? 3 - k : dx > 0 ? k : 3 - k;
        unsigned mask = dy ? 0xfu << (line * 4) : 0x1111u << line;
        if (!(blocks & mask))
            break;
        keep |= blocks & mask;
    }
    return keep ? blocks_rect(c, i, keep) : none;
}

/* Whether a and b overlap or share an edge or a corner. */
static int touches(vd_rect a, vd_rect b)
{
    return overlap_area(a, (vd_rect){b.x - 1, b.y - 1, b.width + 2, b.height + 2}) > 0;
}

/* Of tile i's blocks, those that look rendered (rendered_blocks()), each judged once a frame. */
static unsigned rendered_once(vd_classifier *c, const vd_frame *f, size_t i, unsigned blocks)
{
    tile_state *ts = &c->tiles[i];
    unsigned fresh = blocks & ~(unsigned)ts->looked;
    if (fresh) {
        ts->rendered |= (uint16_t)rendered_blocks(c, f, i, fresh);
        ts->looked |= (uint16_t)fresh;
    }
    return blocks & ts->rendered;
}

/* A 3D view's objects move through a still scene (a sky, a floor) into blocks that were
 * not changing: blocks that changed this frame and look rendered join the region's rectangle
 * when they touch it or the rectangle it had (before); further out, up to VD_CLS_SWEEP_STEPS
 * blocks, those that touch blocks that joined and changed lately too (VD_CLS_SWEEP_MIN_RATE).
 * What changes once beside the view (a photo that opens) takes at most a block's width of
 * it; tiles of other content that changes on its own (a video beside the view) form their
 * own regions. */
static vd_rect sweep_blocks(vd_classifier *c, const vd_frame *f, int32_t index, int64_t t,
                            vd_rect rect, vd_rect before)
{
    const vd_tile_grid *g = &c->grid;
    vd_rect reach = rect_union(rect, before);
    for (int step = 0; step < VD_CLS_SWEEP_STEPS; step++) {
        vd_rect grown = {0, 0, 0, 0}; /* this step's blocks: they touch reach as it was */
        int tx0 = VD_MAX(reach.x - 1, 0) / 64, ty0 = VD_MAX(reach.y - 1, 0) / 64;
        int tx1 = VD_MIN(reach.x + reach.width, g->width - 1) / 64;
        int ty1 = VD_MIN(reach.y + reach.height, g->height - 1) / 64;
        for (int ty = ty0; ty <= ty1; ty++)
            for (int tx = tx0; tx <= tx1; tx++) {
                size_t i = (size_t)ty * (size_t)g->cols + (size_t)tx;
                const tile_state *ts = &c->tiles[i];
                if (!ts->frame_blocks || c->hint[i] || scrolls(ts) ||
                    holds(reach, blocks_rect(c, i, 0)) ||
                    (c->component[i] != index && is_active(c, i, t)))
                    continue;
                unsigned candidates = 0;
                for (int b = 0; b < 16; b++) {
                    vd_rect block = blocks_rect(c, i, 1u << b);
                    if ((ts->frame_blocks >> b & 1u) &&
                        (!step || ts->block_rate[b] >= VD_CLS_SWEEP_MIN_RATE) &&
                        touches(block, reach) && !holds(reach, block))
                        candidates |= 1u << b;
                }
                unsigned joined = candidates ? rendered_once(c, f, i, candidates) : 0u;
                for (int b = 0; b < 16; b++)
                    if (joined >> b & 1u)
                        grown = rect_union(grown, blocks_rect(c, i, 1u << b));
            }
        if (grown.width <= 0)
            break;
        rect = rect_union(rect, grown);
        reach = rect_union(reach, grown);
    }
    return rect;
}

/* The last frame's detected region that overlaps rect most, NULL if none does. */
static const region_state *previous_region(const vd_classifier *c, vd_rect rect)
{
    const region_state *best = NULL;
    int64_t best_area = 0;
    for (size_t i = 0; i < c->n_regions; i++) {
        int64_t a = overlap_area(c->regions[i].pub.rect, rect);
        if (!c->regions[i].hinted && a > best_area) {
            best_area = a;
            best = &c->regions[i];
        }
    }
    return best;
}

/* Flood-fills the component of active tiles from seed (hinted and detected ones apart) and
 * returns its region, not yet given an id: the hint's class, or video or 3D by the mean score
 * of its tiles. */
static region_state grow_component(vd_classifier *c, const vd_frame *f, size_t seed,
                                   int32_t index, int64_t t)
{
    const vd_tile_grid *g = &c->grid;
    size_t head = 0, tail = 0, voters = 0, graded = 0;
    uint64_t score = 0, regular = 0;
    vd_rect rect = {0, 0, 0, 0};
    int hinted = c->hint[seed] != 0;
    int born = 1; /* a new region whose tiles all changed for the first time in the window */
    int64_t last_change = hinted ? t : INT64_MIN;
    c->queue[tail++] = (uint32_t)seed;
    c->component[seed] = index;
    while (head < tail) {
        size_t i = c->queue[head++];
        if (!c->hint[i]) {
            score += (uint64_t)c->tiles[i].noise_avg + c->tiles[i].smooth_avg;
            voters++;
            if (c->tiles[i].regular_known) {
                regular += c->tiles[i].regular_avg;
                graded++;
            }
            born &= recent_changes(&c->tiles[i], t) <= 1;
            last_change = VD_MAX(last_change, c->tiles[i].last_change);
        }
        rect = rect_union(rect, tile_block_rect(c, i));
        int tx = (int)(i % (size_t)g->cols), ty = (int)(i / (size_t)g->cols);
        for (int d = 0; d < 4; d++) {
            int nx = tx + step_x[d], ny = ty + step_y[d];
            if (nx < 0 || ny < 0 || nx >= g->cols || ny >= g->rows)
                continue;
            size_t n = (size_t)ny * (size_t)g->cols + (size_t)nx;
            /* Hinted and detected areas stay separate regions. */
            if (c->component[n] != -1 || (c->hint[n] != 0) != hinted || !is_active(c, n, t))
                continue;
            c->component[n] = index;
            c->queue[tail++] = (uint32_t)n;
        }
    }
    /* Rendered shading that turns slowly changes by noise-sized steps and is smooth, as
     * video is; its gradients are exact where a video's are not. */
    int video = score >= (uint64_t)c->cfg.video_score * 2 * voters &&
                (!c->cfg.rendered_regular || !graded ||
                 regular < (uint64_t)c->cfg.rendered_regular * graded);
    if (!hinted) {
        /* A 3D view: the class the region had, or its own vote when it is new. */
        const region_state *before = previous_region(c, rect);
        int sweeps = before ? before->pub.content == VD_CONTENT_3D : !video;
        born &= !before && c->cfg.fast_start_changed;
        for (size_t q = 0; q < tail; q++) {
            size_t i = c->queue[q];
            int tx = (int)(i % (size_t)g->cols), ty = (int)(i / (size_t)g->cols);
            for (int d = 0; d < 4; d++) {
                int nx = tx + step_x[d], ny = ty + step_y[d];
                if (nx < 0 || ny < 0 || nx >= g->cols || ny >= g->rows)
                    continue;
                size_t n = (size_t)ny * (size_t)g->cols + (size_t)nx;
                if (c->component[n] != index)
                    rect = rect_union(rect,
                                      edge_blocks(c, n, step_x[d], step_y[d], t, born));
            }
        }
        if (sweeps && voters >= VD_CLS_MIN_REGION_TILES) /* else no region (update()) */
            rect = sweep_blocks(c, f, index, t, rect,
                                before ? before->pub.rect : (vd_rect){0, 0, 0, 0});
    }
    c->component_voters = voters;
    region_state r = {.pub = {.content = hinted  ? c->hint[seed]
                                         : video ? VD_CONTENT_VIDEO
                                                 : VD_CONTENT_3D,
                              .rect = rect},
                      .hinted = (uint8_t)hinted,
                      .last_active = last_change};
    return r;
}

/* Hinted regions keep the host's rectangle, aligned outwards to VD_CLS_ALIGN. */
static vd_rect hinted_rect(const vd_classifier *c, const vd_frame *f, vd_rect tiles_rect)
{
    vd_rect best = tiles_rect;
    int64_t best_area = 0;
    if (f->surface_content == VD_CONTENT_VIDEO || f->surface_content == VD_CONTENT_3D)
        best = (vd_rect){0, 0, c->grid.width, c->grid.height};
    for (size_t i = 0; i < f->n_hints; i++) {
        if (f->hints[i].content != VD_CONTENT_VIDEO && f->hints[i].content != VD_CONTENT_3D)
            continue;
        int64_t a = overlap_area(f->hints[i].rect, tiles_rect);
        if (a > best_area) {
            best_area = a;
            best = f->hints[i].rect;
        }
    }
    int64_t x0 = VD_MAX((int64_t)best.x, 0) / VD_CLS_ALIGN * VD_CLS_ALIGN;
    int64_t y0 = VD_MAX((int64_t)best.y, 0) / VD_CLS_ALIGN * VD_CLS_ALIGN;
    int64_t x1 = VD_MIN((int64_t)best.x + best.width, (int64_t)c->grid.width);
    int64_t y1 = VD_MIN((int64_t)best.y + best.height, (int64_t)c->grid.height);
    x1 = VD_MIN((x1 + VD_CLS_ALIGN - 1) / VD_CLS_ALIGN * VD_CLS_ALIGN, (int64_t)c->grid.width);
    y1 = VD_MIN((y1 + VD_CLS_ALIGN - 1) / VD_CLS_ALIGN * VD_CLS_ALIGN, (int64_t)c->grid.height);
    return (vd_rect){(int32_t)x0, (int32_t)y0, (int32_t)(x1 - x0), (int32_t)(y1 - y0)};
}

/* Whether the w x h pixels at (x, y) of the frame (inside it) are all one colour. */
static int uniform(const vd_frame *f, int bpp, int x, int y, int w, int h)
{
    const uint8_t *first = f->data + (size_t)y * (size_t)f->stride + (size_t)x * (size_t)bpp;
    for (int r = 0; r < h; r++) {
        const uint8_t *row = f->data + (size_t)(y + r) * (size_t)f->stride + (size_t)x * (size_t)bpp;
        for (int k = 0; k < w; k++)
            if (memcmp(row + (size_t)k * (size_t)bpp, first, (size_t)bpp))
                return 0;
    }
    return 1;
}

/* A video's rectangle with the letterbox or pillarbox bars around it: a player shows a
 * picture of another shape with still, single-coloured bars (black, mostly) that belong to
 * the video's window, not to the desktop.  Each side grows in steps of VD_CLS_ALIGN while the
 * strip beyond it is one colour, by at most VD_CLS_BARS_MAX of the rectangle's size. */
static vd_rect with_bars(const vd_classifier *c, const vd_frame *f, vd_rect q)
{
    int bpp = c->grid.bpp, a = VD_CLS_ALIGN;
    if (!f->data)
        return q;
    int max_x = q.width * VD_CLS_BARS_MAX / 256 / a * a, max_y = q.height * VD_CLS_BARS_MAX / 256 / a * a;
    int x0 = q.x, y0 = q.y, x1 = q.x + q.width, y1 = q.y + q.height;
    if (q.width <= 2 * a || q.height <= 2 * a)
        return q;
    /* The aligned rectangle reaches up to a - 1 pixels past the picture: a strip's ends may
     * lie on the window's frame. */
    while (q.x - x0 < max_x && x0 >= a && uniform(f, bpp, x0 - a, y0 + a, a, y1 - y0 - 2 * a))
        x0 -= a;
    while (x1 - (q.x + q.width) < max_x && x1 + a <= c->grid.width &&
           uniform(f, bpp, x1, y0 + a, a, y1 - y0 - 2 * a))
        x1 += a;
    while (q.y - y0 < max_y && y0 >= a && uniform(f, bpp, q.x + a, y0 - a, q.width - 2 * a, a))
        y0 -= a;
    while (y1 - (q.y + q.height) < max_y && y1 + a <= c->grid.height &&
           uniform(f, bpp, q.x + a, y1, q.width - 2 * a, a))
        y1 += a;
    return (vd_rect){x0, y0, x1 - x0, y1 - y0};
}

/* Gives each new region the id of the old region it overlaps most, or a fresh one; old
 * established regions without tiles this frame live on, unchanged, until region_idle_ms
 * after their last active frame (a paused game or a buffering video is still one; the
 * short-lived regions of windows dragged over a photo are not kept).  Returns 0 or
 * VD_ERR(ENOMEM). */
static int match_regions(vd_classifier *c, int64_t t)
{
    for (size_t i = 0; i < c->n_regions; i++)
        c->regions[i].matched = 0;
    for (size_t n = 0; n < c->n_next; n++) {
        region_state *r = &c->next[n];
        region_state *best = NULL;
        int64_t best_area = 0;
        for (size_t i = 0; i < c->n_regions; i++) {
            int64_t a = overlap_area(c->regions[i].pub.rect, r->pub.rect);
            if (!c->regions[i].matched && a > best_area) {
                best_area = a;
                best = &c->regions[i];
            }
        }
        if (!best) {
            r->pub.id = (*c->next_id)++;
            if (!r->pub.id) /* 0 is never an id */
                r->pub.id = (*c->next_id)++;
            r->pub.start_us = t;
            r->pending = (uint8_t)r->pub.content;
            r->hold_now = r->pub.rect;
            r->hold_since = t;
            continue;
        }
        best->matched = 1;
        if (!r->hinted) {
            int64_t hold_ms = best->pub.content == VD_CONTENT_3D ? VD_CLS_RECT_HOLD_3D_MS
                                                                 : VD_CLS_RECT_HOLD_MS;
            if (t - best->hold_since >= hold_ms * 1000) {
                r->hold_prev = best->hold_now;
                r->hold_now = r->pub.rect;
                r->hold_since = t;
            } else {
                r->hold_prev = best->hold_prev;
                r->hold_now = rect_union(best->hold_now, r->pub.rect);
                r->hold_since = best->hold_since;
            }
            r->pub.rect = rect_union(r->hold_now, r->hold_prev);
        }
        uint8_t seen = (uint8_t)r->pub.content;
        r->pub.id = best->pub.id;
        r->pub.start_us = best->pub.start_us;
        if (r->hinted) /* the host's word needs no flap control */
            continue;
        r->pub.content = best->pub.content;
        r->pending = best->pending;
        r->pending_since = best->pending_since;
        /* Flap control: the other class must hold for a while before the region switches. */
        if (seen == r->pub.content) {
            r->pending = seen;
        } else if (r->pending != seen) {
            r->pending = seen;
            r->pending_since = t;
        } else if (t - r->pending_since >= VD_CLS_REGION_SWITCH_MS * 1000) {
            r->pub.content = seen;
        }
    }
    for (size_t i = 0; i < c->n_regions; i++) {
        const region_state *old = &c->regions[i];
        if (old->matched || t - old->last_active > (int64_t)c->cfg.region_idle_ms * 1000 ||
            old->last_active - old->pub.start_us < VD_CLS_REGION_ESTABLISHED_MS * 1000)
            continue;
        region_state *next = vd_array_grow(c->next, &c->next_cap, c->n_next, sizeof(*next));
        if (!next)
            return VD_ERR(ENOMEM);
        c->next = next;
        c->next[c->n_next++] = *old;
    }
    return 0;
}

/* Detected regions of one class whose rectangles overlap become one, under the older id: parts
 * of one picture that change apart (a dark corner of a full-screen video, a second moving
 * object in a 3D view) inside the rectangle a region holds would otherwise each get a stream
 * over the same pixels. */
static void merge_overlapping(vd_classifier *c)
{
    for (size_t i = 0; i < c->n_next; i++) {
        for (size_t j = i + 1; j < c->n_next;) {
            region_state *a = &c->next[i], *b = &c->next[j];
            if (a->hinted || b->hinted || a->pub.content != b->pub.content ||
                !overlap_area(a->pub.rect, b->pub.rect)) {
                j++;
                continue;
            }
            if (b->pub.start_us < a->pub.start_us) { /* the older one stays */
                region_state keep = *b;
                *b = *a;
                *a = keep;
            }
            a->pub.rect = rect_union(a->pub.rect, b->pub.rect);
            a->hold_now = rect_union(a->hold_now, b->hold_now);
            a->hold_prev = rect_union(a->hold_prev, b->hold_prev);
            a->last_active = VD_MAX(a->last_active, b->last_active);
            c->next[j] = c->next[--c->n_next];
            j = i + 1; /* the grown rectangle may now meet one passed over */
        }
    }
}

/* Whether tile i or one of its four neighbours went as a copy this frame. */
static int beside_copy(const vd_classifier *c, const vd_tile_copy *copies, size_t i)
{
    if (copies[i].vector)
        return 1;
    int tx = (int)(i % (size_t)c->grid.cols), ty = (int)(i / (size_t)c->grid.cols);
    for (int d = 0; d < 4; d++) {
        int nx = tx + step_x[d], ny = ty + step_y[d];
        if (nx >= 0 && ny >= 0 && nx < c->grid.cols && ny < c->grid.rows &&
            copies[(size_t)ny * (size_t)c->grid.cols + (size_t)nx].vector)
            return 1;
    }
    return 0;
}

int vd_classifier_update(vd_classifier *c, int64_t t, const uint8_t *state,
                         const vd_tile_stats *stats, const vd_tile_copy *copies,
                         const vd_frame *f)
{
    apply_hints(c, f);
    int moved = memcmp(&f->cursor, &c->cursor_last, sizeof(f->cursor)) != 0;
    c->cursor_now = moved ? f->cursor : (vd_rect){0, 0, 0, 0};
    c->cursor_before = moved ? c->cursor_last : (vd_rect){0, 0, 0, 0};
    c->cursor_last = f->cursor;
    for (size_t i = 0; i < c->n_tiles; i++) {
        tile_state *ts = &c->tiles[i];
        ts->frame_blocks = ts->looked = ts->rendered = 0;
        ts->natural_repaint = ts->moved_now = 0;
        if (copies && copies[i].vector) /* its content came from elsewhere, unmeasured */
            ts->shown_known = 0;
        if (state[i] != VD_TILE_DIRTY)
            continue;
        int copied = copies && beside_copy(c, copies, i);
        ts->moved_now = (uint8_t)(stats[i].changed && copied);
        ts->natural_repaint = stats[i].changed && ts->shown_known && !copied &&
                              ts->shown_colours >= c->cfg.min_colours &&
                              ts->shown_smooth >= c->cfg.min_smooth_fraction &&
                              stats[i].noise * 256 >= stats[i].changed * VD_CLS_REPAINT_MIN_NOISE;
        if (stats[i].changed) {
            record_change(c, ts, &stats[i], copied, t);
            ts->frame_blocks = stats[i].blocks;
        }
        if (stats[i].pairs) {
            ts->shown_colours = (uint8_t)stats[i].colours;
            ts->shown_smooth = (uint8_t)VD_MIN(stats[i].smooth * 256 / stats[i].pairs, 255);
            ts->shown_known = 1;
        }
        classify_tile(c, ts, t);
    }

    /* Regions: connected active tiles. */
    mark_sticky(c, t);
    c->n_next = 0;
    for (size_t i = 0; i < c->n_tiles; i++)
        c->component[i] = -1;
    for (size_t i = 0; i < c->n_tiles; i++) {
        if (c->component[i] != -1 || !is_active(c, i, t))
            continue;
        region_state *next = vd_array_grow(c->next, &c->next_cap, c->n_next, sizeof(*next));
        if (!next)
            return VD_ERR(ENOMEM);
        c->next = next;
        region_state r = grow_component(c, f, i, (int32_t)c->n_next, t);
        if (c->hint[i]) {
            r.pub.rect = hinted_rect(c, f, r.pub.rect);
        } else if (c->component_voters < VD_CLS_MIN_REGION_TILES) {
            /* Too small to be video or 3D: the edge of a window dragged over a photo. */
            for (size_t k = 0; k < c->n_tiles; k++)
                if (c->component[k] == (int32_t)c->n_next)
                    c->component[k] = -2; /* visited, no region */
            continue;
        } else if (r.pub.content == VD_CONTENT_VIDEO) {
            r.pub.rect = with_bars(c, f, r.pub.rect);
        }
        c->next[c->n_next++] = r;
    }
    int ret = match_regions(c, t);
    if (ret < 0)
        return ret;
    merge_overlapping(c);

    for (size_t i = 0; i < c->n_tiles; i++) {
        c->classes[i] = state[i] == VD_TILE_DIRTY ? VD_CONTENT_TEXT : VD_CONTENT_NONE;
        if (state[i] != VD_TILE_DIRTY || vd_classifier_hinted_text(c, i))
            continue;
        for (size_t n = 0; n < c->n_next; n++)
            if (tile_in_region(c, i, c->next[n].pub.rect))
                c->classes[i] = (uint8_t)c->next[n].pub.content;
    }
    /* Swap the region lists: this frame's become the current ones. */
    region_state *old = c->regions;
    size_t old_cap = c->regions_cap;
    c->regions = c->next;
    c->regions_cap = c->next_cap;
    c->n_regions = c->n_next;
    c->next = old;
    c->next_cap = old_cap;
    c->n_next = 0;
    return 0;
}

const uint8_t *vd_classifier_tile_classes(const vd_classifier *c) { return c->classes; }

int vd_classifier_hinted_text(const vd_classifier *c, size_t tile)
{
    return c->hint[tile] == VD_CONTENT_TEXT;
}

void vd_classifier_set_tile_class(vd_classifier *c, size_t tile, enum vd_content content)
{
    c->classes[tile] = (uint8_t)content;
}

size_t vd_classifier_regions(const vd_classifier *c, vd_region *out, size_t max)
{
    for (size_t i = 0; i < c->n_regions && i < max; i++)
        out[i] = c->regions[i].pub;
    return c->n_regions;
}
