/* The classifier's per-tile statistics: one workgroup per tile that damage_compare.comp found
 * changed, one invocation per column of a quarter of its rows, exactly what vd_tile_stats_c() (lib/classify.c) gives
 * for 4-byte pixels against the same reference.  Counts are sums and the colour count is
 * min(distinct colours of the sampled rows, VD_CLS_COLOUR_CAP), so neither depends on the
 * order the invocations run in.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#version 450
#extension GL_GOOGLE_include_directive : require

#include "vd_defs.glsl"

layout(local_size_x = 64, local_size_y = 4) in;

/* The images as damage_compare.comp reads them (4-byte pixels: one word each). */
layout(std430, set = 0, binding = 0) readonly buffer Cur { uint cur[]; };
layout(std430, set = 0, binding = 1) readonly buffer Ref { uint ref_px[]; };
/* damage_compare.comp's result: 2 for a tile that differs. */
layout(std430, set = 0, binding = 2) readonly buffer Flags { uint flags[]; };
/* Eight words per tile, in the order of the writes at the end (vd_gpu_damage_scan reads them). */
layout(std430, set = 0, binding = 3) writeonly buffer Stats { uint stats[]; };

layout(push_constant) uniform Params {
    uint stride_words;
    uint cols;
    int width, height;
    ivec4 skip; /* the cursor: x, y, width, height on the surface */
} p;

/* Open addressing with room for every sampled pixel (16 rows of 64) at half load, so an
 * insert always finds its slot; keys are stored + 1, 0 is empty. */
#define SLOTS 2048u
shared uint colour_set[SLOTS];
shared uint n_changed, n_noise, n_pairs, n_smooth, n_colours, blocks, n_triples, n_regular;

uint max_diff24(uint a, uint b)
{
    uvec3 ua = uvec3(a & 0xffu, (a >> 8) & 0xffu, (a >> 16) & 0xffu);
    uvec3 ub = uvec3(b & 0xffu, (b >> 8) & 0xffu, (b >> 16) & 0xffu);
    uvec3 d = max(ua, ub) - min(ua, ub);
    return max(d.x, max(d.y, d.z));
}

/* vd_tile_stats_c()'s triple_kind(): 0 no triple, 1 a smooth one, 2 a regular one. */
uint triple_kind(uint a, uint b, uint d)
{
    uint s1 = max_diff24(a, b), s2 = max_diff24(b, d);
    if (s1 > VD_CLS_SMOOTH_MAX || s2 > VD_CLS_SMOOTH_MAX || (s1 == 0u && s2 == 0u))
        return 0u;
    ivec3 ia = ivec3(a & 0xffu, (a >> 8) & 0xffu, (a >> 16) & 0xffu);
    ivec3 ib = ivec3(b & 0xffu, (b >> 8) & 0xffu, (b >> 16) & 0xffu);
    ivec3 id = ivec3(d & 0xffu, (d >> 8) & 0xffu, (d >> 16) & 0xffu);
    ivec3 e = abs(ia - 2 * ib + id);
    return max(e.x, max(e.y, e.z)) <= 1 ? 2u : 1u;
}

void add_colour(uint key)
{
    uint k = key + 1u;
    for (uint h = (key * 2654435761u) >> 21;; h = (h + 1u) & (SLOTS - 1u)) {
        uint old = atomicCompSwap(colour_set[h], 0u, k);
        if (old == 0u)
            atomicAdd(n_colours, 1u);
        if (old == 0u || old == k)
            return;
    }
}

void main()
{
    uint tx = gl_WorkGroupID.x, ty = gl_WorkGroupID.y, lid = gl_LocalInvocationIndex;
    uint idx = ty * p.cols + tx;
    /* The same for the whole workgroup, so returning before the barriers is allowed. */
    if (flags[idx] != 2u)
        return;
    for (uint i = lid; i < SLOTS; i += 256u)
        colour_set[i] = 0u;
    if (lid == 0u) {
        n_changed = 0u;
        n_noise = 0u;
        n_pairs = 0u;
        n_smooth = 0u;
        n_colours = 0u;
        blocks = 0u;
        n_triples = 0u;
        n_regular = 0u;
    }
    barrier();

    int x0 = int(tx) * 64, y0 = int(ty) * 64, x = int(gl_LocalInvocationID.x);
    int w = min(64, p.width - x0), h = min(64, p.height - y0);
    /* The cursor, tile-relative, as vd_tile_stats_c() gets it: columns [sx0, sx1) of rows
     * [sy, sy + its height) do not count as changed. */
    int sx = p.skip.x - x0, sy = p.skip.y - y0;
    int sx0 = w, sx1 = w;
    if (p.skip.z > 0) {
        sx0 = min(max(sx, 0), w);
        sx1 = max(min(sx + p.skip.z, w), sx0);
    }
    bool skip_col = x >= sx0 && x < sx1;
    uint changed = 0u, noise = 0u, pairs = 0u, smooth_pairs = 0u, blk = 0u, triples = 0u;
    uint regular = 0u;
    if (x < w) {
        int ya = int(gl_LocalInvocationID.y) * 16, yb = min(ya + 16, h);
        for (int y = ya; y < yb; y++) {
            uint at = uint(y0 + y) * p.stride_words + uint(x0 + x);
            uint a = cur[at] & 0xffffffu, b = ref_px[at] & 0xffffffu;
            if (a != b && !(skip_col && y >= sy && y < sy + p.skip.w)) {
                changed++;
                noise += max_diff24(a, b) <= VD_CLS_NOISE_MAX ? 1u : 0u;
                blk |= 1u << ((y >> 4) * 4 + (x >> 4));
            }
            if ((y & 3) != 0)
                continue;
            /* Spatial statistics on every fourth row, as on the CPU. */
            if (x == 0) {
                add_colour(a);
                continue;
            }
            uint u = cur[at - 1u] & 0xffffffu;
            pairs++;
            smooth_pairs += a != u && max_diff24(a, u) <= VD_CLS_SMOOTH_MAX ? 1u : 0u;
            if (a != u) /* a repeat is in the set already (or about to be) */
                add_colour(a);
            if (x < w - 1) {
                uint kind = triple_kind(u, a, cur[at + 1u] & 0xffffffu);
                triples += kind != 0u ? 1u : 0u;
                regular += kind == 2u ? 1u : 0u;
            }
        }
    }
    if (changed != 0u) {
        atomicAdd(n_changed, changed);
        atomicAdd(n_noise, noise);
        atomicOr(blocks, blk);
    }
    if (pairs != 0u) {
        atomicAdd(n_pairs, pairs);
        atomicAdd(n_smooth, smooth_pairs);
        atomicAdd(n_triples, triples);
        atomicAdd(n_regular, regular);
    }
    barrier();
    if (lid == 0u) {
        uint o = idx * 8u;
        stats[o] = n_changed;
        stats[o + 1u] = n_noise;
        stats[o + 2u] = n_pairs;
        stats[o + 3u] = n_smooth;
        stats[o + 4u] = min(n_colours, uint(VD_CLS_COLOUR_CAP));
        stats[o + 5u] = blocks;
        stats[o + 6u] = n_triples;
        stats[o + 7u] = n_regular;
    }
}
