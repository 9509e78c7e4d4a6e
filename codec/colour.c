/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "colour.h"

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
