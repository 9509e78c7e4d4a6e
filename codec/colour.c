/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "colour.h"

#include "../lib/damage_dsp.h"

#if defined(__x86_64__) || defined(__i386__)
#define VD_X86 1
#include <immintrin.h>
#else
#define VD_X86 0
#endif

/* Byte offsets of R, G and B in the 4-byte formats. */
static void channel_offsets(enum vd_pixel_format fmt, int *r, int *g, int *b)
{
    int rgb_order = fmt == VD_FORMAT_RGBX8888 || fmt == VD_FORMAT_RGBA8888;
    *r = rgb_order ? 0 : 2;
    *g = 1;
    *b = rgb_order ? 2 : 0;
}

static inline void load_rgb(const uint8_t *row, int x, enum vd_pixel_format fmt, int ro, int go,
                            int bo, int *r, int *g, int *b)
{
    if (fmt == VD_FORMAT_RGB565) {
        unsigned v = (unsigned)row[2 * x] | (unsigned)row[2 * x + 1] << 8;
        unsigned r5 = v >> 11, g6 = (v >> 5) & 63, b5 = v & 31;
        *r = (int)(r5 << 3 | r5 >> 2);
        *g = (int)(g6 << 2 | g6 >> 4);
        *b = (int)(b5 << 3 | b5 >> 2);
        return;
    }
    const uint8_t *p = row + 4 * (size_t)x;
    *r = p[ro];
    *g = p[go];
    *b = p[bo];
}

void vd_rgb_to_yuv_c(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w, int h,
                     vd_yuv_layout layout, uint8_t *const planes[3], const int strides[3])
{
    int ro, go, bo;
    channel_offsets(fmt, &ro, &go, &bo);
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * stride;
        uint8_t *yp = planes[0] + (size_t)y * (size_t)strides[0];
        for (int x = 0; x < w; x++) {
            int r, g, b;
            load_rgb(row, x, fmt, ro, go, bo, &r, &g, &b);
            yp[x] = (uint8_t)VD_YUV_Y(r, g, b);
            if (layout == VD_YUV444P) {
                planes[1][(size_t)y * (size_t)strides[1] + (size_t)x] =
                    (uint8_t)VD_YUV_U4(4 * r, 4 * g, 4 * b);
                planes[2][(size_t)y * (size_t)strides[2] + (size_t)x] =
                    (uint8_t)VD_YUV_V4(4 * r, 4 * g, 4 * b);
            }
        }
    }
    if (layout == VD_YUV444P)
        return;
    for (int cy = 0; cy < (h + 1) / 2; cy++) {
        const uint8_t *row0 = src + (size_t)(2 * cy) * stride;
        const uint8_t *row1 = src + (size_t)VD_MIN(2 * cy + 1, h - 1) * stride;
        for (int cx = 0; cx < (w + 1) / 2; cx++) {
            int x0 = 2 * cx, x1 = VD_MIN(2 * cx + 1, w - 1), rs = 0, gs = 0, bs = 0;
            const uint8_t *rows[2] = {row0, row1};
            for (int k = 0; k < 4; k++) {
                int r, g, b;
                load_rgb(rows[k >> 1], k & 1 ? x1 : x0, fmt, ro, go, bo, &r, &g, &b);
                rs += r;
                gs += g;
                bs += b;
            }
            uint8_t u = (uint8_t)VD_YUV_U4(rs, gs, bs), v = (uint8_t)VD_YUV_V4(rs, gs, bs);
            if (layout == VD_YUV_NV12) {
                uint8_t *uv = planes[1] + (size_t)cy * (size_t)strides[1] + 2 * (size_t)cx;
                uv[0] = u;
                uv[1] = v;
            } else {
                planes[1][(size_t)cy * (size_t)strides[1] + (size_t)cx] = u;
                planes[2][(size_t)cy * (size_t)strides[2] + (size_t)cx] = v;
            }
        }
    }
}

#if VD_X86

/* ---- SIMD: the 4-byte formats ----
 * A pixel is a 32-bit lane b0 | b1 << 8 | b2 << 16 | b3 << 24.  Masking the odd bytes leaves
 * the words (b0, b2) = (B, R) or (R, B); shifting right by 8 leaves (G, X).  pmaddwd of those
 * with (coefficient of b0, of b2) and (coefficient of G, 0) sums each pixel's products into
 * its lane; 2 x 2 block sums (at most 1020) still fit the words. */

/* Word pairs (low, high) as the 32-bit lanes that pmaddwd multiplies against. */
typedef struct yuv_coefs {
    int32_t y02, y1, u02, u1, v02, v1;
} yuv_coefs;

static int32_t word_pair(int lo, int hi)
{
    return (int32_t)((uint32_t)(uint16_t)hi << 16 | (uint16_t)lo);
}

static yuv_coefs coefs_for(enum vd_pixel_format fmt)
{
    int rgb_order = fmt == VD_FORMAT_RGBX8888 || fmt == VD_FORMAT_RGBA8888;
    yuv_coefs k;
    k.y02 = rgb_order ? word_pair(VD_YUV_Y_R, VD_YUV_Y_B) : word_pair(VD_YUV_Y_B, VD_YUV_Y_R);
    k.u02 = rgb_order ? word_pair(VD_YUV_U_R, VD_YUV_U_B) : word_pair(VD_YUV_U_B, VD_YUV_U_R);
    k.v02 = rgb_order ? word_pair(VD_YUV_V_R, VD_YUV_V_B) : word_pair(VD_YUV_V_B, VD_YUV_V_R);
    k.y1 = word_pair(VD_YUV_Y_G, 0);
    k.u1 = word_pair(VD_YUV_U_G, 0);
    k.v1 = word_pair(VD_YUV_V_G, 0);
    return k;
}

/* Row kernels over the first n pixels (a multiple of the kernel's step, 16 or 32).
 * pair: 4:2:0 from rows row0 and row1 (the same row for an odd height's last; y1 is then
 * NULL); NV12 when v is NULL (u is the interleaved plane).  single: one row of 4:4:4. */
typedef void (*rows_pair_fn)(const uint8_t *row0, const uint8_t *row1, int n, const yuv_coefs *k,
                             uint8_t *y0, uint8_t *y1, uint8_t *u, uint8_t *v);
typedef void (*row_single_fn)(const uint8_t *row, int n, const yuv_coefs *k, uint8_t *y,
                              uint8_t *u, uint8_t *v);

/* The SIMD kernels cover whole steps of the row; the C reference converts the columns past
 * them (from an even column, so its chroma blocks, edge replication included, are the same). */
static void rgb4_to_yuv(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w,
                        int h, vd_yuv_layout layout, uint8_t *const planes[3],
                        const int strides[3], int step, rows_pair_fn pair, row_single_fn single)
{
    if (fmt == VD_FORMAT_RGB565) {
        vd_rgb_to_yuv_c(src, stride, fmt, w, h, layout, planes, strides);
        return;
    }
    const yuv_coefs k = coefs_for(fmt);
    int n = w / step * step;
    /* NV12 has no third plane, and the caller need not give its stride. */
    size_t ys = (size_t)strides[0], us = (size_t)strides[1];
    size_t vs = layout == VD_YUV_NV12 ? 0 : (size_t)strides[2];
    if (n && layout == VD_YUV444P) {
        for (int y = 0; y < h; y++)
            single(src + (size_t)y * stride, n, &k, planes[0] + (size_t)y * ys,
                   planes[1] + (size_t)y * us, planes[2] + (size_t)y * vs);
    } else if (n) {
        for (int cy = 0; cy < (h + 1) / 2; cy++) {
            int y0 = 2 * cy, y1 = VD_MIN(y0 + 1, h - 1);
            pair(src + (size_t)y0 * stride, src + (size_t)y1 * stride, n, &k,
                 planes[0] + (size_t)y0 * ys, y1 > y0 ? planes[0] + (size_t)y1 * ys : NULL,
                 planes[1] + (size_t)cy * us,
                 layout == VD_YUV_NV12 ? NULL : planes[2] + (size_t)cy * vs);
        }
    }
    if (n == w)
        return;
    /* Chroma columns start at n / 2 (n for NV12's pairs, n for 4:4:4). */
    size_t cx = layout == VD_YUV420P ? (size_t)n / 2 : (size_t)n;
    uint8_t *const rest[3] = {planes[0] + n, planes[1] + cx,
                              layout == VD_YUV_NV12 ? NULL : planes[2] + cx};
    vd_rgb_to_yuv_c(src + 4 * (size_t)n, stride, fmt, w - n, h, layout, rest, strides);
}

__attribute__((target("sse2"))) static inline void split_sse2(__m128i px, __m128i *even,
                                                              __m128i *odd)
{
    *even = _mm_and_si128(px, _mm_set1_epi32(0x00ff00ff));
    *odd = _mm_srli_epi16(px, 8);
}

/* Each lane's (even . k02 + odd . k1 + add) >> shift. */
__attribute__((target("sse2"))) static inline __m128i dot_sse2(__m128i even, __m128i odd,
                                                               int32_t k02, int32_t k1,
                                                               int add, int shift)
{
    __m128i d = _mm_add_epi32(_mm_madd_epi16(even, _mm_set1_epi32(k02)),
                              _mm_madd_epi16(odd, _mm_set1_epi32(k1)));
    return _mm_srai_epi32(_mm_add_epi32(d, _mm_set1_epi32(add)), shift);
}

/* Sixteen 32-bit values (each 0..255) to bytes, in order. */
__attribute__((target("sse2"))) static inline __m128i bytes_sse2(const __m128i d[4])
{
    return _mm_packus_epi16(_mm_packs_epi32(d[0], d[1]), _mm_packs_epi32(d[2], d[3]));
}

/* Horizontal pairs: lanes 2j and 2j + 1 of a, then of b, added as words. */
__attribute__((target("sse2"))) static inline __m128i pair_sum_sse2(__m128i a, __m128i b)
{
    __m128 fa = _mm_castsi128_ps(a), fb = _mm_castsi128_ps(b);
    return _mm_add_epi16(_mm_castps_si128(_mm_shuffle_ps(fa, fb, _MM_SHUFFLE(2, 0, 2, 0))),
                         _mm_castps_si128(_mm_shuffle_ps(fa, fb, _MM_SHUFFLE(3, 1, 3, 1))));
}

__attribute__((target("sse2"))) static void rows_pair_sse2(const uint8_t *row0,
                                                           const uint8_t *row1, int n,
                                                           const yuv_coefs *k, uint8_t *y0,
                                                           uint8_t *y1, uint8_t *u, uint8_t *v)
{
    for (int x = 0; x < n; x += 16) {
        __m128i e0[4], o0[4], e1[4], o1[4], d[4];
        for (int i = 0; i < 4; i++) {
            split_sse2(_mm_loadu_si128((const __m128i *)(row0 + 4 * (x + 4 * i))), &e0[i], &o0[i]);
            split_sse2(_mm_loadu_si128((const __m128i *)(row1 + 4 * (x + 4 * i))), &e1[i], &o1[i]);
            d[i] = dot_sse2(e0[i], o0[i], k->y02, k->y1, VD_YUV_Y_ADD, VD_YUV_Y_SHIFT);
        }
        _mm_storeu_si128((__m128i *)(y0 + x), bytes_sse2(d));
        if (y1) {
            for (int i = 0; i < 4; i++)
                d[i] = dot_sse2(e1[i], o1[i], k->y02, k->y1, VD_YUV_Y_ADD, VD_YUV_Y_SHIFT);
            _mm_storeu_si128((__m128i *)(y1 + x), bytes_sse2(d));
        }
        __m128i cu[2], cv[2];
        for (int j = 0; j < 2; j++) {
            __m128i es = pair_sum_sse2(_mm_add_epi16(e0[2 * j], e1[2 * j]),
                                       _mm_add_epi16(e0[2 * j + 1], e1[2 * j + 1]));
            __m128i os = pair_sum_sse2(_mm_add_epi16(o0[2 * j], o1[2 * j]),
                                       _mm_add_epi16(o0[2 * j + 1], o1[2 * j + 1]));
            cu[j] = dot_sse2(es, os, k->u02, k->u1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
            cv[j] = dot_sse2(es, os, k->v02, k->v1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
        }
        __m128i uw = _mm_packs_epi32(cu[0], cu[1]), vw = _mm_packs_epi32(cv[0], cv[1]);
        if (v) {
            _mm_storel_epi64((__m128i *)(u + x / 2), _mm_packus_epi16(uw, uw));
            _mm_storel_epi64((__m128i *)(v + x / 2), _mm_packus_epi16(vw, vw));
        } else {
            _mm_storeu_si128((__m128i *)(u + x), _mm_packus_epi16(_mm_unpacklo_epi16(uw, vw),
                                                                  _mm_unpackhi_epi16(uw, vw)));
        }
    }
}

__attribute__((target("sse2"))) static void row_single_sse2(const uint8_t *row, int n,
                                                            const yuv_coefs *k, uint8_t *y,
                                                            uint8_t *u, uint8_t *v)
{
    for (int x = 0; x < n; x += 16) {
        __m128i dy[4], du[4], dv[4];
        for (int i = 0; i < 4; i++) {
            __m128i e, o;
            split_sse2(_mm_loadu_si128((const __m128i *)(row + 4 * (x + 4 * i))), &e, &o);
            dy[i] = dot_sse2(e, o, k->y02, k->y1, VD_YUV_Y_ADD, VD_YUV_Y_SHIFT);
            e = _mm_slli_epi16(e, 2); /* four times the pixel, as the definition says */
            o = _mm_slli_epi16(o, 2);
            du[i] = dot_sse2(e, o, k->u02, k->u1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
            dv[i] = dot_sse2(e, o, k->v02, k->v1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
        }
        _mm_storeu_si128((__m128i *)(y + x), bytes_sse2(dy));
        _mm_storeu_si128((__m128i *)(u + x), bytes_sse2(du));
        _mm_storeu_si128((__m128i *)(v + x), bytes_sse2(dv));
    }
}

/* AVX2: the same steps on 32 pixels, loaded so that the low 128-bit lanes hold pixels 0-15
 * and the high ones 16-31; as the in-lane packs keep them apart, every result comes out in
 * order without a cross-lane shuffle (but the planar chroma's). */
__attribute__((target("avx2"))) static inline __m256i load_avx2(const uint8_t *p)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                   _mm_loadu_si128((const __m128i *)(p + 64)), 1);
}

__attribute__((target("avx2"))) static inline void split_avx2(__m256i px, __m256i *even,
                                                              __m256i *odd)
{
    *even = _mm256_and_si256(px, _mm256_set1_epi32(0x00ff00ff));
    *odd = _mm256_srli_epi16(px, 8);
}

__attribute__((target("avx2"))) static inline __m256i dot_avx2(__m256i even, __m256i odd,
                                                               int32_t k02, int32_t k1,
                                                               int add, int shift)
{
    __m256i d = _mm256_add_epi32(_mm256_madd_epi16(even, _mm256_set1_epi32(k02)),
                                 _mm256_madd_epi16(odd, _mm256_set1_epi32(k1)));
    return _mm256_srai_epi32(_mm256_add_epi32(d, _mm256_set1_epi32(add)), shift);
}

__attribute__((target("avx2"))) static inline __m256i bytes_avx2(const __m256i d[4])
{
    return _mm256_packus_epi16(_mm256_packs_epi32(d[0], d[1]), _mm256_packs_epi32(d[2], d[3]));
}

__attribute__((target("avx2"))) static inline __m256i pair_sum_avx2(__m256i a, __m256i b)
{
    __m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
    return _mm256_add_epi16(
        _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, _MM_SHUFFLE(2, 0, 2, 0))),
        _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, _MM_SHUFFLE(3, 1, 3, 1))));
}

__attribute__((target("avx2"))) static void rows_pair_avx2(const uint8_t *row0,
                                                           const uint8_t *row1, int n,
                                                           const yuv_coefs *k, uint8_t *y0,
                                                           uint8_t *y1, uint8_t *u, uint8_t *v)
{
    int x = 0;
    for (; x + 32 <= n; x += 32) {
        __m256i e0[4], o0[4], e1[4], o1[4], d[4];
        for (int i = 0; i < 4; i++) {
            split_avx2(load_avx2(row0 + 4 * (x + 4 * i)), &e0[i], &o0[i]);
            split_avx2(load_avx2(row1 + 4 * (x + 4 * i)), &e1[i], &o1[i]);
            d[i] = dot_avx2(e0[i], o0[i], k->y02, k->y1, VD_YUV_Y_ADD, VD_YUV_Y_SHIFT);
        }
        _mm256_storeu_si256((__m256i *)(y0 + x), bytes_avx2(d));
        if (y1) {
            for (int i = 0; i < 4; i++)
                d[i] = dot_avx2(e1[i], o1[i], k->y02, k->y1, VD_YUV_Y_ADD, VD_YUV_Y_SHIFT);
            _mm256_storeu_si256((__m256i *)(y1 + x), bytes_avx2(d));
        }
        __m256i cu[2], cv[2];
        for (int j = 0; j < 2; j++) {
            __m256i es = pair_sum_avx2(_mm256_add_epi16(e0[2 * j], e1[2 * j]),
                                       _mm256_add_epi16(e0[2 * j + 1], e1[2 * j + 1]));
            __m256i os = pair_sum_avx2(_mm256_add_epi16(o0[2 * j], o1[2 * j]),
                                       _mm256_add_epi16(o0[2 * j + 1], o1[2 * j + 1]));
            cu[j] = dot_avx2(es, os, k->u02, k->u1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
            cv[j] = dot_avx2(es, os, k->v02, k->v1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
        }
        /* words: U 0-7 | U 8-15 and V likewise */
        __m256i uw = _mm256_packs_epi32(cu[0], cu[1]), vw = _mm256_packs_epi32(cv[0], cv[1]);
        if (v) {
            /* U 0-7, V 0-7 | U 8-15, V 8-15 -> U 0-15 | V 0-15 */
            __m256i uv = _mm256_permute4x64_epi64(_mm256_packus_epi16(uw, vw),
                                                  _MM_SHUFFLE(3, 1, 2, 0));
            _mm_storeu_si128((__m128i *)(u + x / 2), _mm256_castsi256_si128(uv));
            _mm_storeu_si128((__m128i *)(v + x / 2), _mm256_extracti128_si256(uv, 1));
        } else {
            _mm256_storeu_si256((__m256i *)(u + x),
                                _mm256_packus_epi16(_mm256_unpacklo_epi16(uw, vw),
                                                    _mm256_unpackhi_epi16(uw, vw)));
        }
    }
    if (x < n)
        rows_pair_sse2(row0 + 4 * x, row1 + 4 * x, n - x, k, y0 + x, y1 ? y1 + x : NULL,
                       u + (v ? x / 2 : x), v ? v + x / 2 : NULL);
}

__attribute__((target("avx2"))) static void row_single_avx2(const uint8_t *row, int n,
                                                            const yuv_coefs *k, uint8_t *y,
                                                            uint8_t *u, uint8_t *v)
{
    int x = 0;
    for (; x + 32 <= n; x += 32) {
        __m256i dy[4], du[4], dv[4];
        for (int i = 0; i < 4; i++) {
            __m256i e, o;
            split_avx2(load_avx2(row + 4 * (x + 4 * i)), &e, &o);
            dy[i] = dot_avx2(e, o, k->y02, k->y1, VD_YUV_Y_ADD, VD_YUV_Y_SHIFT);
            e = _mm256_slli_epi16(e, 2);
            o = _mm256_slli_epi16(o, 2);
            du[i] = dot_avx2(e, o, k->u02, k->u1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
            dv[i] = dot_avx2(e, o, k->v02, k->v1, VD_YUV_C_ADD, VD_YUV_C_SHIFT);
        }
        _mm256_storeu_si256((__m256i *)(y + x), bytes_avx2(dy));
        _mm256_storeu_si256((__m256i *)(u + x), bytes_avx2(du));
        _mm256_storeu_si256((__m256i *)(v + x), bytes_avx2(dv));
    }
    if (x < n)
        row_single_sse2(row + 4 * x, n - x, k, y + x, u + x, v + x);
}

void vd_rgb_to_yuv_sse2(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w, int h,
                        vd_yuv_layout layout, uint8_t *const planes[3], const int strides[3])
{
    rgb4_to_yuv(src, stride, fmt, w, h, layout, planes, strides, 16, rows_pair_sse2,
                row_single_sse2);
}

/* Steps of 32 pixels, then one of 16 (SSE2) where it fits. */
void vd_rgb_to_yuv_avx2(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w, int h,
                        vd_yuv_layout layout, uint8_t *const planes[3], const int strides[3])
{
    rgb4_to_yuv(src, stride, fmt, w, h, layout, planes, strides, 16, rows_pair_avx2,
                row_single_avx2);
}

#else

/* Keep the symbols so the test and benchmark link everywhere; vd_cpu_flags() never offers them. */
void vd_rgb_to_yuv_sse2(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w, int h,
                        vd_yuv_layout layout, uint8_t *const planes[3], const int strides[3])
{
    vd_rgb_to_yuv_c(src, stride, fmt, w, h, layout, planes, strides);
}

void vd_rgb_to_yuv_avx2(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w, int h,
                        vd_yuv_layout layout, uint8_t *const planes[3], const int strides[3])
{
    vd_rgb_to_yuv_c(src, stride, fmt, w, h, layout, planes, strides);
}

#endif

vd_rgb_to_yuv_fn vd_rgb_to_yuv_pick(unsigned cpu_mask)
{
    unsigned f = cpu_mask & vd_cpu_flags();
    return f & VD_CPU_AVX2 ? vd_rgb_to_yuv_avx2 : f & VD_CPU_SSE2 ? vd_rgb_to_yuv_sse2 : vd_rgb_to_yuv_c;
}
