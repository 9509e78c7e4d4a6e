/* Damage-detection kernels: a C reference and SIMD versions picked once from CPU flags.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_DAMAGE_DSP_H
#define VD_DAMAGE_DSP_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* CPU feature bits; a mask of them selects which kernels may be used (tests force each). */
enum {
    VD_CPU_SSE2 = 1u << 0,
    VD_CPU_AVX2 = 1u << 1,
};

/* Compares one pixel row of a tile row.
 *  cur, prev  start of the row in the new and the previous frame (any alignment)
 *  row_bytes  bytes in the row (width * bytes per pixel; any value, not only multiples of 4)
 *  tile_bytes bytes per tile column (64 * bytes per pixel; a multiple of 4)
 *  mask       little-endian 32-bit pattern ANDed with each 4-byte group counted from the row
 *             start; bytes whose mask byte is 0 are ignored (the X byte of BGRX)
 *  state      one byte per tile column: nonzero = skip (already dirty or outside the host's
 *             damage); for a zero entry the kernel stores 1 when any masked byte in
 *             [t * tile_bytes, min((t + 1) * tile_bytes, row_bytes)) differs.
 *  n_tiles    number of tile columns = ceil(row_bytes / tile_bytes) */
typedef void (*vd_diff_row_fn)(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                               size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles);

typedef struct vd_damage_dsp {
    vd_diff_row_fn diff_row;
} vd_damage_dsp;

/* CPU features of this machine (VD_CPU_*). */
VD_HIDDEN unsigned vd_cpu_flags(void);

/* Fills dsp with the best kernels allowed by cpu_mask & vd_cpu_flags(); mask 0 = C only. */
VD_HIDDEN void vd_damage_dsp_init(vd_damage_dsp *dsp, unsigned cpu_mask);

/* Individual kernels, for the checkasm-style test and vdbench. */
VD_HIDDEN void vd_diff_row_c(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                             size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles);
VD_HIDDEN void vd_diff_row_sse2(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                                size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles);
VD_HIDDEN void vd_diff_row_avx2(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                                size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles);

#endif
