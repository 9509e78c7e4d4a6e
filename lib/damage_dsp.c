/* Damage-detection kernels: a C reference and SIMD versions picked once from CPU flags.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "damage_dsp.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define VD_X86 1
#include <immintrin.h>
#else
#define VD_X86 0
#endif

/* Tile column starts are multiples of tile_bytes, itself a multiple of 4, so every tile starts
 * at mask phase 0; only the end of the row can leave a partial 4-byte group. */

/* ---- C reference ---- */

static uint64_t mask64_native(uint32_t mask)
{
    /* Build the repeated pattern through memory so it matches memcpy loads on any endianness. */
    uint8_t b[8];
    uint64_t m;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(mask >> (8 * (i & 3)));
    memcpy(&m, b, sizeof(m));
    return m;
}

/* Nonzero when any masked byte of [0, len) differs; c and p start at mask phase 0. */
static int segment_differs_c(const uint8_t *c, const uint8_t *p, size_t len, uint32_t mask,
                             uint64_t m64)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t a, b;
        memcpy(&a, c + i, sizeof(a));
        memcpy(&b, p + i, sizeof(b));
        if ((a ^ b) & m64)
            return 1;
    }
    for (; i < len; i++)
        if ((c[i] ^ p[i]) & (uint8_t)(mask >> (8 * (i & 3))))
            return 1;
    return 0;
}

void vd_diff_row_c(const uint8_t *cur, const uint8_t *prev, size_t row_bytes, size_t tile_bytes,
                   uint32_t mask, uint8_t *state, size_t n_tiles)
{
    const uint64_t m64 = mask64_native(mask);
    for (size_t t = 0; t < n_tiles; t++) {
        if (state[t])
            continue;
        size_t off = t * tile_bytes;
        size_t len = VD_MIN(tile_bytes, row_bytes - off);
        if (segment_differs_c(cur + off, prev + off, len, mask, m64))
            state[t] = 1;
    }
}

#if VD_X86

/* Sliding window: a 32-byte load at window_bytes + n (16-byte: + 16 + n) ends in exactly n 0xff
 * bytes, to keep only the last n bytes of a load that ends at the end of a segment. */
static const uint8_t window_bytes[64] = {
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* The mask as seen by a load starting at row offset o: each 32-bit lane starts at phase o & 3. */
static uint32_t mask_at_phase(uint32_t mask, size_t o)
{
    unsigned s = 8u * (unsigned)(o & 3);
    return s ? (mask >> s) | (mask << (32 - s)) : mask;
}

/* ---- SSE2 ---- */

__attribute__((target("sse2"))) static inline __m128i xor16(const uint8_t *c, const uint8_t *p)
{
    return _mm_xor_si128(_mm_loadu_si128((const __m128i *)c), _mm_loadu_si128((const __m128i *)p));
}

__attribute__((target("sse2"))) static inline int any16(__m128i v)
{
    return _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) != 0xffff;
}

/* Segment [off, end) of the row; off is a multiple of 4. The 64-byte loop ORs four XORs before
 * the one branch so an unchanged tile costs loads, not compares. */
__attribute__((target("sse2"))) static int segment_differs_sse2(const uint8_t *cur,
                                                                const uint8_t *prev, size_t off,
                                                                size_t end, uint32_t mask,
                                                                __m128i m)
{
    size_t i = off;
    for (; i + 64 <= end; i += 64) {
        __m128i a = _mm_or_si128(xor16(cur + i, prev + i), xor16(cur + i + 16, prev + i + 16));
        __m128i b =
            _mm_or_si128(xor16(cur + i + 32, prev + i + 32), xor16(cur + i + 48, prev + i + 48));
        if (any16(_mm_and_si128(_mm_or_si128(a, b), m)))
            return 1;
    }
    for (; i + 16 <= end; i += 16)
        if (any16(_mm_and_si128(xor16(cur + i, prev + i), m)))
            return 1;
    if (i == end)
        return 0;
    size_t rem = end - i;
    if (end >= 16) {
        /* Reload the last 16 bytes of the segment; bytes before i are either already checked or
         * belong to another tile, and the window masks them off. */
        size_t o = end - 16;
        __m128i w = _mm_loadu_si128((const __m128i *)(window_bytes + 16 + rem));
        __m128i mm = _mm_and_si128(w, _mm_set1_epi32((int)mask_at_phase(mask, o)));
        return any16(_mm_and_si128(xor16(cur + o, prev + o), mm));
    }
    /* Whole row shorter than 16 bytes: nothing to reload from. */
    return segment_differs_c(cur + i, prev + i, rem, mask, mask64_native(mask));
}

__attribute__((target("sse2"))) void vd_diff_row_sse2(const uint8_t *cur, const uint8_t *prev,
                                                      size_t row_bytes, size_t tile_bytes,
                                                      uint32_t mask, uint8_t *state,
                                                      size_t n_tiles)
{
    const __m128i m = _mm_set1_epi32((int)mask);
    for (size_t t = 0; t < n_tiles; t++) {
        if (state[t])
            continue;
        size_t off = t * tile_bytes;
        size_t end = VD_MIN(off + tile_bytes, row_bytes);
        if (segment_differs_sse2(cur, prev, off, end, mask, m))
            state[t] = 1;
    }
}

/* ---- AVX2 ---- */

__attribute__((target("avx2"))) static inline __m256i xor32(const uint8_t *c, const uint8_t *p)
{
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)c),
                            _mm256_loadu_si256((const __m256i *)p));
}

/* OR of the XORs of 128 bytes; vptest against the mask does the AND for free. */
__attribute__((target("avx2"))) static inline __m256i xor128(const uint8_t *c, const uint8_t *p)
{
    __m256i a = _mm256_or_si256(xor32(c, p), xor32(c + 32, p + 32));
    __m256i b = _mm256_or_si256(xor32(c + 64, p + 64), xor32(c + 96, p + 96));
    return _mm256_or_si256(a, b);
}

__attribute__((target("avx2"))) static int segment_differs_avx2(const uint8_t *cur,
                                                                const uint8_t *prev, size_t off,
                                                                size_t end, uint32_t mask,
                                                                __m256i m)
{
    size_t i = off;
    for (; i + 128 <= end; i += 128)
        if (!_mm256_testz_si256(xor128(cur + i, prev + i), m))
            return 1;
    for (; i + 32 <= end; i += 32)
        if (!_mm256_testz_si256(xor32(cur + i, prev + i), m))
            return 1;
    if (i == end)
        return 0;
    size_t rem = end - i;
    if (end >= 32) {
        /* As in SSE2: reload the last 32 bytes, keeping only the unchecked ones. */
        size_t o = end - 32;
        __m256i w = _mm256_loadu_si256((const __m256i *)(window_bytes + rem));
        __m256i mm = _mm256_and_si256(w, _mm256_set1_epi32((int)mask_at_phase(mask, o)));
        return !_mm256_testz_si256(xor32(cur + o, prev + o), mm);
    }
    return segment_differs_c(cur + i, prev + i, rem, mask, mask64_native(mask));
}

__attribute__((target("avx2"))) void vd_diff_row_avx2(const uint8_t *cur, const uint8_t *prev,
                                                      size_t row_bytes, size_t tile_bytes,
                                                      uint32_t mask, uint8_t *state,
                                                      size_t n_tiles)
{
    const __m256i m = _mm256_set1_epi32((int)mask);
    size_t t = 0;
    if (tile_bytes == 256) {
        /* The common case (64 BGRX pixels): all 16 loads of a full tile in flight before a
         * single vptest, since an unchanged tile has to be read completely anyway. */
        size_t full = row_bytes / 256;
        for (; t < full; t++) {
            if (state[t])
                continue;
            const uint8_t *c = cur + t * 256, *p = prev + t * 256;
            if (!_mm256_testz_si256(_mm256_or_si256(xor128(c, p), xor128(c + 128, p + 128)), m))
                state[t] = 1;
        }
    }
    for (; t < n_tiles; t++) {
        if (state[t])
            continue;
        size_t off = t * tile_bytes;
        size_t end = VD_MIN(off + tile_bytes, row_bytes);
        if (segment_differs_avx2(cur, prev, off, end, mask, m))
            state[t] = 1;
    }
}

unsigned vd_cpu_flags(void)
{
    /* Bit 31 marks the cache as filled; relaxed is enough since every thread computes the same
     * value. */
    static _Atomic unsigned cached;
    unsigned f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (f)
        return f & ~(1u << 31);
    __builtin_cpu_init();
    f = 1u << 31;
    if (__builtin_cpu_supports("sse2"))
        f |= VD_CPU_SSE2;
    /* libgcc and compiler-rt report avx2 only when the OS saves YMM state (XGETBV). */
    if (__builtin_cpu_supports("avx2"))
        f |= VD_CPU_AVX2;
    atomic_store_explicit(&cached, f, memory_order_relaxed);
    return f & ~(1u << 31);
}

#else /* !VD_X86 */

/* Keep the symbols so the test and benchmark link everywhere; vd_cpu_flags() never offers them. */
void vd_diff_row_sse2(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                      size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles)
{
    vd_diff_row_c(cur, prev, row_bytes, tile_bytes, mask, state, n_tiles);
}

void vd_diff_row_avx2(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                      size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles)
{
    vd_diff_row_c(cur, prev, row_bytes, tile_bytes, mask, state, n_tiles);
}

unsigned vd_cpu_flags(void) { return 0; }

#endif

void vd_damage_dsp_init(vd_damage_dsp *dsp, unsigned cpu_mask)
{
    unsigned f = cpu_mask & vd_cpu_flags();
    dsp->diff_row = vd_diff_row_c;
    if (f & VD_CPU_SSE2)
        dsp->diff_row = vd_diff_row_sse2;
    if (f & VD_CPU_AVX2)
        dsp->diff_row = vd_diff_row_avx2;
}
