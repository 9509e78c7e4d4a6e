/* RGB -> YUV planes of rectangles of the frame, byte for byte what vd_rgb_to_yuv_c()
 * (codec/colour.c) gives: the VD_YUV_* formulas of codec/colour.h, 2 x 2 sums with the last
 * column and row repeated for subsampled chroma.  One invocation writes one word (four bytes)
 * of one row of one plane; invocation z takes plane z of the list the host made.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#version 450
#extension GL_GOOGLE_include_directive : require

#include "vd_defs.glsl"

layout(local_size_x = 64) in;

/* The frame as damage_compare.comp reads it: 4-byte pixels, stride_words words a row. */
layout(std430, set = 0, binding = 0) readonly buffer Cur { uint cur[]; };

/* What a plane holds, per byte (keep in step with enum plane_kind in lib/gpu_vulkan.c). */
#define KIND_Y 0u     /* luma of pixel b */
#define KIND_U 1u     /* 4:4:4 chroma of pixel b */
#define KIND_V 2u
#define KIND_U2 3u    /* 4:2:0 chroma of 2 x 2 block b */
#define KIND_V2 4u
#define KIND_UV2 5u   /* NV12: U then V of block b / 2 */

struct Plane {
    int x, y, w, h;     /* the rectangle on the surface */
    uint kind;
    uint offset, stride; /* in Out, in words */
    uint words, rows;   /* words per row (the last one padded with zeros), rows */
};
layout(std430, set = 0, binding = 1) readonly buffer Planes { Plane planes[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { uint out_words[]; };

layout(push_constant) uniform Params {
    uint stride_words;
    uint r_shift, b_shift; /* bit offsets of R and B in a pixel's word (G is at 8) */
} p;

ivec3 rgb(int x, int y)
{
    uint v = cur[uint(y) * p.stride_words + uint(x)];
    return ivec3(int((v >> p.r_shift) & 0xffu), int((v >> 8) & 0xffu), int((v >> p.b_shift) & 0xffu));
}

void main()
{
    Plane pl = planes[gl_GlobalInvocationID.z];
    uint k = gl_GlobalInvocationID.x, row = gl_GlobalInvocationID.y;
    if (k >= pl.words || row >= pl.rows)
        return;
    int y0 = pl.y + int(row), cw = (pl.w + 1) / 2;
    /* The block's rows, the last one repeated when the height is odd. */
    int ya = pl.y + 2 * int(row), yb = pl.y + min(2 * int(row) + 1, pl.h - 1);
    uint word = 0u;
    for (uint j = 0u; j < 4u; j++) {
        int b = int(4u * k + j), v = 0;
        if (pl.kind <= KIND_V) {
            if (b >= pl.w)
                break;
            ivec3 c = rgb(pl.x + b, y0);
            v = pl.kind == KIND_Y   ? VD_YUV_Y(c.r, c.g, c.b)
                : pl.kind == KIND_U ? VD_YUV_U4(4 * c.r, 4 * c.g, 4 * c.b)
                                    : VD_YUV_V4(4 * c.r, 4 * c.g, 4 * c.b);
        } else {
            int cx = pl.kind == KIND_UV2 ? b >> 1 : b;
            if (cx >= cw)
                break;
            int xa = pl.x + 2 * cx, xb = pl.x + min(2 * cx + 1, pl.w - 1);
            ivec3 s = rgb(xa, ya) + rgb(xb, ya) + rgb(xa, yb) + rgb(xb, yb);
            bool is_u = pl.kind == KIND_U2 || (pl.kind == KIND_UV2 && (b & 1) == 0);
            v = is_u ? VD_YUV_U4(s.r, s.g, s.b) : VD_YUV_V4(s.r, s.g, s.b);
        }
        word |= (uint(v) & 0xffu) << (8u * j);
    }
    out_words[pl.offset + row * pl.stride + k] = word;
}
