/* Internal helpers shared by every part of the library.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_INTERNAL_H
#define VD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vd/common.h>

/* Everything is hidden by -fvisibility=hidden; this marks internal declarations clearly and
 * keeps them hidden when a file is built without that flag. */
#define VD_HIDDEN __attribute__((visibility("hidden")))

#define VD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* x rounded up to a multiple of the power of two n. */
#define VD_ALIGN(x, n) (((x) + (n) - 1) & ~((__typeof__(x))(n) - 1))

/* Formats whose fourth byte carries nothing. */
static inline int vd_format_has_x(enum vd_pixel_format format)
{
    return format == VD_FORMAT_BGRX8888 || format == VD_FORMAT_RGBX8888;
}

static inline uint16_t vd_rl16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t vd_rl32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t vd_rl64(const uint8_t *p)
{
    return (uint64_t)vd_rl32(p) | ((uint64_t)vd_rl32(p + 4) << 32);
}
static inline void vd_wl16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void vd_wl32(uint8_t *p, uint32_t v)
{
    vd_wl16(p, (uint16_t)v);
    vd_wl16(p + 2, (uint16_t)(v >> 16));
}
static inline void vd_wl64(uint8_t *p, uint64_t v)
{
    vd_wl32(p, (uint32_t)v);
    vd_wl32(p + 4, (uint32_t)(v >> 32));
}

/* A pixel of 2 or 4 bytes as a little-endian value. */
static inline uint32_t vd_rl_px(const uint8_t *p, int bpp) { return bpp == 4 ? vd_rl32(p) : vd_rl16(p); }

/* A pixel's channels in 8 bits: bytes 0-2 of a 4-byte one (in its format's order), or RGB565. */
static inline void vd_px_rgb(const uint8_t *p, int bpp, int *r, int *g, int *b)
{
    if (bpp == 4) {
        *r = p[0];
        *g = p[1];
        *b = p[2];
    } else {
        unsigned v = vd_rl16(p);
        *r = (int)((v >> 11) << 3);
        *g = (int)(((v >> 5) & 63) << 2);
        *b = (int)((v & 31) << 3);
    }
}

/* The largest difference of two pixels' channels (vd_px_rgb()). */
static inline int vd_px_max_channel_diff(const uint8_t *a, const uint8_t *b, int bpp)
{
    int ar, ag, ab, br, bg, bb;
    vd_px_rgb(a, bpp, &ar, &ag, &ab);
    vd_px_rgb(b, bpp, &br, &bg, &bb);
    int d = abs(ar - br), e = abs(ag - bg), f = abs(ab - bb);
    return VD_MAX(d, VD_MAX(e, f));
}

/* rows rows of row_bytes bytes between two images of any strides. */
static inline void vd_copy_rows(uint8_t *dst, size_t dst_stride, const uint8_t *src,
                                size_t src_stride, size_t row_bytes, size_t rows)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(dst + r * dst_stride, src + r * src_stride, row_bytes);
}

#endif
