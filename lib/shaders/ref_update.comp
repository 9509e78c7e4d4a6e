/* The reference update: the rectangles the encoder sent from the previous frame, copied from
 * cur (which still holds that frame) into ref, for 4-byte pixels (one word each).  One
 * workgroup per piece, a rectangle clipped to one 64x64 tile.  A copy region per row did the
 * same, but drivers run each region as a copy of its own: on an H200 a frame of stream blocks
 * (16-row rectangles) took milliseconds.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#version 450

layout(local_size_x = 64, local_size_y = 4) in;

layout(std430, set = 0, binding = 0) readonly buffer Cur { uint cur[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Ref { uint ref_px[]; };
/* x, y, width, height in pixels; width and height at most 64. */
layout(std430, set = 0, binding = 2) readonly buffer Pieces { uvec4 pieces[]; };

layout(push_constant) uniform Params {
    uint stride_words;
    uint n_pieces;
    uint groups_x; /* pieces beyond one dimension's workgroup limit go on in y */
} p;

void main()
{
    uint i = gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x;
    if (i >= p.n_pieces)
        return;
    uvec4 r = pieces[i];
    uint x = gl_LocalInvocationID.x;
    if (x >= r.z)
        return;
    for (uint y = gl_LocalInvocationID.y; y < r.w; y += 4u) {
        uint at = (r.y + y) * p.stride_words + r.x + x;
        ref_px[at] = cur[at];
    }
}
