/* Tile damage: one workgroup per 64x64 tile (an invocation per word of 4 rows at a time, so
 * that enough loads are in flight) marks whether any counted byte differs between
 * the frame and the reference, exactly as vd_damage_scan() (lib/damage.c) does on the CPU.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#version 450

layout(local_size_x = 64, local_size_y = 4) in;

/* Both images: rows of stride_words 32-bit words, little-endian bytes as the host has them;
 * a row's bytes past row_bytes are padding and never count. */
layout(std430, set = 0, binding = 0) readonly buffer Cur { uint cur[]; };
layout(std430, set = 0, binding = 1) readonly buffer Ref { uint ref_px[]; };
/* Per tile, raster order: the host writes 1 for a tile to compare and 0 for one to leave
 * alone; a compared tile becomes 2 (differs) or 1 (equal). */
layout(std430, set = 0, binding = 2) buffer Flags { uint flags[]; };

layout(push_constant) uniform Params {
    uint stride_words;
    uint row_bytes;
    uint tile_bytes; /* 64 * bytes per pixel: tiles start at mask phase 0 */
    uint mask;       /* vd_tile_grid.mask: bytes that count, per 4-byte group */
    uint cols;
    uint height;
} p;

shared uint any_diff;

void main()
{
    uint tx = gl_WorkGroupID.x, ty = gl_WorkGroupID.y, lid = gl_LocalInvocationIndex;
    uint idx = ty * p.cols + tx;
    /* The same for the whole workgroup, so returning before the barriers is allowed. */
    if (flags[idx] == 0u)
        return;
    if (lid == 0u)
        any_diff = 0u;
    barrier();
    uint b0 = tx * p.tile_bytes, b1 = min(b0 + p.tile_bytes, p.row_bytes);
    uint w0 = b0 >> 2, w1 = (b1 + 3u) >> 2;
    uint y1 = min(ty * 64u + 64u, p.height);
    uint d = 0u;
    for (uint y = ty * 64u + gl_LocalInvocationID.y; y < y1; y += 4u) {
        uint base = y * p.stride_words;
        for (uint w = w0 + gl_LocalInvocationID.x; w < w1; w += 64u) {
            uint m = p.mask, valid = p.row_bytes - w * 4u;
            if (valid < 4u) /* the row ends inside this word (RGB565, odd width) */
                m &= (1u << (valid * 8u)) - 1u;
            d |= (cur[base + w] ^ ref_px[base + w]) & m;
        }
    }
    if (d != 0u)
        atomicOr(any_diff, 1u);
    barrier();
    if (lid == 0u)
        flags[idx] = any_diff != 0u ? 2u : 1u;
}
