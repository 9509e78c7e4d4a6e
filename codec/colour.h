/* RGB -> YUV conversion for the video streams: BT.601 limited range (what decoders assume
 * for untagged H.264 and AV1, and what libvd's decoder converts back from), integer maths
 * defined exactly so that every implementation (C reference, SIMD, the Vulkan shader) gives
 * the same bytes:
 *   Y = (8414 R + 16519 G + 3208 B + (16 << 15) + (1 << 14)) >> 15
 *   U = (-4857 Rs - 9535 Gs + 14392 Bs + (128 << 17) + (1 << 16)) >> 17
 *   V = (14392 Rs - 12052 Gs - 2340 Bs + (128 << 17) + (1 << 16)) >> 17
 * where Rs, Gs, Bs are sums of four samples: for 4:2:0 the 2 x 2 block (the last column and
 * row repeated when the width or height is odd: the block averages, not point samples, so
 * coloured edges do not alias), for 4:4:4 four times the pixel.  Coefficients are the
 * BT.601 matrix scaled by 219/255 and 224/255 in 15 bits, each row rounded so that grey
 * gives U = V = 128; every intermediate fits int32 and every product fits a 16 x 16 -> 32
 * bit multiply.  RGB565 channels widen by bit replication (r5 << 3 | r5 >> 2).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_COLOUR_H
#define VD_COLOUR_H

#include <stddef.h>
#include <stdint.h>

#include <vd/common.h>

#include "../lib/internal.h"

typedef enum vd_yuv_layout {
    VD_YUV420P, /* Y, U, V planes; chroma ceil(w/2) x ceil(h/2) */
    VD_YUV_NV12, /* Y plane, then interleaved U, V at ceil(w/2) pairs x ceil(h/2) */
    VD_YUV444P, /* Y, U, V planes at full size */
} vd_yuv_layout;

/* The formulas' coefficients, offsets and shifts, named for the SIMD kernels. */
#define VD_YUV_Y_R 8414
#define VD_YUV_Y_G 16519
#define VD_YUV_Y_B 3208
#define VD_YUV_Y_ADD ((16 << 15) + (1 << 14))
#define VD_YUV_Y_SHIFT 15
#define VD_YUV_U_R (-4857)
#define VD_YUV_U_G (-9535)
#define VD_YUV_U_B 14392
#define VD_YUV_V_R 14392
#define VD_YUV_V_G (-12052)
#define VD_YUV_V_B (-2340)
#define VD_YUV_C_ADD ((128 << 17) + (1 << 16))
#define VD_YUV_C_SHIFT 17

#define VD_YUV_Y(r, g, b) \
    ((VD_YUV_Y_R * (r) + VD_YUV_Y_G * (g) + VD_YUV_Y_B * (b) + VD_YUV_Y_ADD) >> VD_YUV_Y_SHIFT)
#define VD_YUV_U4(rs, gs, bs) \
    ((VD_YUV_U_R * (rs) + VD_YUV_U_G * (gs) + VD_YUV_U_B * (bs) + VD_YUV_C_ADD) >> VD_YUV_C_SHIFT)
#define VD_YUV_V4(rs, gs, bs) \
    ((VD_YUV_V_R * (rs) + VD_YUV_V_G * (gs) + VD_YUV_V_B * (bs) + VD_YUV_C_ADD) >> VD_YUV_C_SHIFT)

/* Converts the w x h pixels at src (rows stride bytes apart, format fmt) into planes:
 * planes[0..2] and strides[0..2] for VD_YUV420P and VD_YUV444P, planes[0..1] for NV12.
 * w, h >= 1.  The C reference; vd_rgb_to_yuv_pick gives the fastest. */
typedef void (*vd_rgb_to_yuv_fn)(const uint8_t *src, size_t stride, enum vd_pixel_format fmt,
                                 int w, int h, vd_yuv_layout layout, uint8_t *const planes[3],
                                 const int strides[3]);
VD_HIDDEN void vd_rgb_to_yuv_c(const uint8_t *src, size_t stride, enum vd_pixel_format fmt, int w,
                               int h, vd_yuv_layout layout, uint8_t *const planes[3],
                               const int strides[3]);
/* SIMD kernels for the 4-byte formats (RGB565 goes through the C reference); where the CPU
 * lacks the instructions they must not be called: vd_rgb_to_yuv_pick checks. */
VD_HIDDEN void vd_rgb_to_yuv_sse2(const uint8_t *src, size_t stride, enum vd_pixel_format fmt,
                                  int w, int h, vd_yuv_layout layout, uint8_t *const planes[3],
                                  const int strides[3]);
VD_HIDDEN void vd_rgb_to_yuv_avx2(const uint8_t *src, size_t stride, enum vd_pixel_format fmt,
                                  int w, int h, vd_yuv_layout layout, uint8_t *const planes[3],
                                  const int strides[3]);
/* The fastest kernel that cpu_mask (VD_CPU_*) and this CPU allow; 0 = the C reference. */
VD_HIDDEN vd_rgb_to_yuv_fn vd_rgb_to_yuv_pick(unsigned cpu_mask);

#endif
