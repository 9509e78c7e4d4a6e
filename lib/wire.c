/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <lz4.h>

#include <vd/common.h>

#include "wire.h"

int vd_wire_next(const uint8_t **pos, const uint8_t *end, vd_msg *msg)
{
    const uint8_t *p = *pos;
    size_t left = (size_t)(end - p);
    if (left == 0)
        return 0;
    if (left < VD_WIRE_HEADER_SIZE)
        return VD_ERR(EBADMSG);
    uint32_t size = vd_rl32(p + 4);
    if (p[1] & ~VD_MSG_FLAGS_KNOWN || vd_rl16(p + 2) != 0 || size > VD_WIRE_MAX_BODY ||
        size > left - VD_WIRE_HEADER_SIZE)
        return VD_ERR(EBADMSG);
    msg->type = p[0];
    msg->flags = p[1];
    msg->body = p + VD_WIRE_HEADER_SIZE;
    msg->size = size;
    *pos = p + VD_WIRE_HEADER_SIZE + size;
    return 1;
}

int vd_wire_read_hello(const vd_msg *msg)
{
    if (msg->size != VD_HELLO_BODY || vd_rl32(msg->body) != VD_WIRE_MAGIC)
        return VD_ERR(EBADMSG);
    if (vd_rl16(msg->body + 4) != VD_WIRE_VERSION)
        return VD_ERR(ENOTSUP);
    return vd_rl16(msg->body + 6) == 0 ? 0 : VD_ERR(EBADMSG);
}

int vd_wire_read_surface(const vd_msg *msg, vd_msg_surface *out)
{
    const uint8_t *b = msg->body;
    if (msg->size != VD_SURFACE_BODY || b[13] != VD_TILE_LOG2 || vd_rl16(b + 14) != 0)
        return VD_ERR(EBADMSG);
    out->id = vd_rl32(b);
    out->width = vd_rl32(b + 4);
    out->height = vd_rl32(b + 8);
    out->format = b[12];
    if (out->width < 1 || out->width > VD_MAX_DIMENSION || out->height < 1 ||
        out->height > VD_MAX_DIMENSION || !vd_format_bytes_per_pixel(out->format))
        return VD_ERR(EBADMSG);
    return 0;
}

int vd_wire_read_surface_destroy(const vd_msg *msg, uint32_t *id)
{
    if (msg->size != VD_SURFACE_DESTROY_BODY)
        return VD_ERR(EBADMSG);
    *id = vd_rl32(msg->body);
    return 0;
}

int vd_wire_read_tile(const vd_msg *msg, vd_msg_tile *out)
{
    const uint8_t *b = msg->body;
    if (msg->size < VD_TILE_HEADER || b[9] < 1 || b[9] > VD_TILE_RUN_MAX || b[10] > 63 || b[11] > 63)
        return VD_ERR(EBADMSG);
    out->surface_id = vd_rl32(b);
    out->tx = vd_rl16(b + 4);
    out->ty = vd_rl16(b + 6);
    out->encoding = b[8];
    out->count = b[9];
    out->top = b[10];
    out->bottom = b[11];
    out->data = b + VD_TILE_HEADER;
    out->size = msg->size - VD_TILE_HEADER;
    return 0;
}

int vd_wire_read_frame_end(const vd_msg *msg, vd_msg_frame_end *out)
{
    const uint8_t *b = msg->body;
    if (msg->size != VD_FRAME_END_BODY || vd_rl32(b + 4))
        return VD_ERR(EBADMSG);
    out->surface_id = vd_rl32(b);
    out->frame_seq = vd_rl64(b + 8);
    out->pts_us = (int64_t)vd_rl64(b + 16);
    return 0;
}

int vd_wire_read_stream_create(const vd_msg *msg, vd_msg_stream *out)
{
    const uint8_t *b = msg->body;
    if (msg->size != VD_STREAM_CREATE_BODY || vd_rl16(b + 10))
        return VD_ERR(EBADMSG);
    *out = (vd_msg_stream){vd_rl32(b), vd_rl32(b + 4), b[8], b[9],
                           vd_rl32(b + 12), vd_rl32(b + 16), vd_rl32(b + 20), vd_rl32(b + 24)};
    return 0;
}

int vd_wire_read_stream_frame(const vd_msg *msg, vd_msg_stream_frame *out)
{
    const uint8_t *b = msg->body;
    if (msg->size < VD_STREAM_FRAME_HEADER ||
        b[4] & ~(VD_STREAM_FRAME_KEY | VD_STREAM_FRAME_CUTS | VD_STREAM_FRAME_PACKED |
                 VD_STREAM_FRAME_KEEP | VD_STREAM_FRAME_KEEP_RESET | VD_STREAM_FRAME_PATCH) ||
        b[5] ||
        vd_rl16(b + 6))
        return VD_ERR(EBADMSG);
    *out = (vd_msg_stream_frame){
        .stream_id = vd_rl32(b),
        .flags = b[4],
        .mask_size = vd_rl32(b + 8),
        .data = b + VD_STREAM_FRAME_HEADER,
        .size = msg->size - VD_STREAM_FRAME_HEADER,
    };
    return 0;
}

/* Reads a box of a STREAM_FRAME (bounds or a cut) that must lie within `within`; 0 when it
 * does not or the data ends. */
static int read_box(const uint8_t **p, const uint8_t *end, vd_box within, vd_box *box)
{
    if (end - *p < 2)
        return 0;
    *box = vd_box_unpack(vd_rl16(*p));
    *p += 2;
    return box->x0 >= within.x0 && box->y0 >= within.y0 && box->x0 < box->x1 &&
           box->y0 < box->y1 && box->x1 <= within.x1 && box->y1 <= within.y1;
}

/* The columns of a block of width w and the rows of one of height h, as keep rows may set. */
static int keep_rows_valid(const uint8_t *p, int w, int h)
{
    for (int r = 0; r < 16; r++)
        if (vd_rl16(p + 2 * r) & ~(r < h ? vd_box_cols(0, w) : 0u))
            return 0;
    return 1;
}

/* The pixels a block's keep or patch rows set. */
static int rows_count(const uint8_t *p)
{
    int n = 0;
    for (int r = 0; r < 16; r++)
        n += __builtin_popcount(vd_rl16(p + 2 * r));
    return n;
}

/* Checks a keep or patch section at *p (a block bitmap, then 32 bytes per block it sets and,
 * for a patch, bpp bytes per pixel those set); advances *p past it.  0 or VD_ERR(EBADMSG). */
static int check_block_rows(const uint8_t **p, const uint8_t *end, int width, int height,
                            int patch_bpp)
{
    int bw = (width + 15) / 16, blocks = bw * ((height + 15) / 16), n = 0;
    size_t ms = (size_t)(blocks + 7) / 8;
    if ((size_t)(end - *p) < ms)
        return VD_ERR(EBADMSG);
    const uint8_t *given = *p, *q = *p + ms;
    for (int b = 0; b < blocks; b++) {
        if (!(given[b / 8] >> (b % 8) & 1))
            continue;
        if (end - q < 32 ||
            !keep_rows_valid(q, VD_MIN(16, width - b % bw * 16), VD_MIN(16, height - b / bw * 16)) ||
            (patch_bpp && ++n > VD_STREAM_FRAME_MAX_PATCHED))
            return VD_ERR(EBADMSG);
        size_t pixels = patch_bpp ? (size_t)rows_count(q) * (size_t)patch_bpp : 0;
        q += 32;
        if ((size_t)(end - q) < pixels)
            return VD_ERR(EBADMSG);
        q += pixels;
    }
    *p = q;
    return 0;
}

size_t vd_wire_stream_side_max(uint32_t mask_size, size_t blocks, int bpp)
{
    return 5 * (size_t)mask_size + (3 + 2 * VD_STREAM_FRAME_MAX_CUTS + 32) * blocks +
           VD_MIN(blocks, (size_t)VD_STREAM_FRAME_MAX_PATCHED) * (32 + 256 * (size_t)bpp);
}

int vd_wire_stream_frame_shown(const vd_msg_stream_frame *sf, int width, int height, int bpp,
                               uint16_t *rows, vd_buf *scratch, const uint8_t **keep,
                               const uint8_t **patch, const uint8_t **picture, uint32_t *size)
{
    int bw = (width + 15) / 16, bh = (height + 15) / 16, blocks = bw * bh;
    uint32_t ms = sf->mask_size;
    if (ms != (uint32_t)(blocks + 7) / 8)
        return VD_ERR(EBADMSG);
    const uint8_t *p = sf->data, *end = sf->data + sf->size;
    *picture = NULL;
    if (sf->flags & VD_STREAM_FRAME_PACKED) {
        uint32_t packed;
        if (sf->size < 4 || (packed = vd_rl32(p)) > sf->size - 4 || packed > INT32_MAX)
            return VD_ERR(EBADMSG);
        size_t cap = vd_wire_stream_side_max(ms, (size_t)blocks, bpp);
        scratch->size = 0;
        uint8_t *out = vd_buf_reserve(scratch, cap);
        if (!out)
            return VD_ERR(ENOMEM);
        int n = LZ4_decompress_safe((const char *)p + 4, (char *)out, (int)packed, (int)cap);
        if (n < 0)
            return VD_ERR(EBADMSG);
        *picture = p + 4 + packed;
        p = out;
        end = out + n;
    }
    if ((size_t)(end - p) < 2 * (size_t)ms)
        return VD_ERR(EBADMSG);
    const uint8_t *mask = p, *partial = p + ms;
    int n_partial = 0;
    for (int b = 0; b < blocks; b++)
        n_partial += partial[b / 8] >> (b % 8) & 1;
    const uint8_t *bounds = partial + ms, *cuts = NULL;
    if ((size_t)(end - bounds) < 2 * (size_t)n_partial)
        return VD_ERR(EBADMSG);
    p = bounds + 2 * (size_t)n_partial;
    if (sf->flags & VD_STREAM_FRAME_CUTS) {
        if ((size_t)(end - p) < (size_t)(n_partial + 7) / 8)
            return VD_ERR(EBADMSG);
        cuts = p;
        p += (n_partial + 7) / 8;
    }
    for (int b = 0, i = 0; b < blocks; b++) {
        int set = mask[b / 8] >> (b % 8) & 1, part = partial[b / 8] >> (b % 8) & 1;
        int cut_some = part && cuts && cuts[i / 8] >> (i % 8) & 1;
        i += part;
        if (part && !set)
            return VD_ERR(EBADMSG);
        vd_box block = {0, 0, VD_MIN(16, width - b % bw * 16), VD_MIN(16, height - b / bw * 16)};
        vd_box part_box = block;
        int n_cuts = 0;
        if (part && !read_box(&bounds, end, block, &part_box))
            return VD_ERR(EBADMSG);
        if (cut_some) {
            if (p == end || !*p || *p > VD_STREAM_FRAME_MAX_CUTS)
                return VD_ERR(EBADMSG);
            n_cuts = *p++;
        }
        uint16_t shown[16];
        for (int r = 0; r < 16; r++)
            shown[r] = (uint16_t)(set && r >= part_box.y0 && r < part_box.y1
                                      ? vd_box_cols(part_box.x0, part_box.x1)
                                      : 0);
        for (int k = 0; k < n_cuts; k++) {
            vd_box cut;
            if (!read_box(&p, end, part_box, &cut))
                return VD_ERR(EBADMSG);
            for (int r = cut.y0; r < cut.y1; r++)
                shown[r] &= (uint16_t)~vd_box_cols(cut.x0, cut.x1);
        }
        if (rows)
            memcpy(rows + 16 * b, shown, sizeof(shown));
    }
    *keep = *patch = NULL;
    int ret;
    if (sf->flags & VD_STREAM_FRAME_KEEP) {
        *keep = p;
        if ((ret = check_block_rows(&p, end, width, height, 0)) < 0)
            return ret;
    }
    if (sf->flags & VD_STREAM_FRAME_PATCH) {
        *patch = p;
        if ((ret = check_block_rows(&p, end, width, height, bpp)) < 0)
            return ret;
    }
    if (!*picture) {
        *picture = p;
    } else if (p != end) { /* the packed block holds exactly the side */
        return VD_ERR(EBADMSG);
    }
    *size = (uint32_t)(sf->data + sf->size - *picture);
    return 0;
}

void vd_wire_stream_frame_keep(const uint8_t *keep, int width, int height, uint16_t *keep_rows)
{
    int blocks = (width + 15) / 16 * ((height + 15) / 16);
    const uint8_t *p = keep + (blocks + 7) / 8;
    for (int b = 0; b < blocks; b++)
        if (keep[b / 8] >> (b % 8) & 1) {
            for (int r = 0; r < 16; r++)
                keep_rows[16 * b + r] = vd_rl16(p + 2 * r);
            p += 32;
        }
}

void vd_wire_stream_frame_patch(const uint8_t *patch, int width, int height, int bpp,
                                uint16_t *rows, uint8_t *picture, size_t stride)
{
    int bw = (width + 15) / 16, blocks = bw * ((height + 15) / 16);
    const uint8_t *p = patch + (blocks + 7) / 8;
    for (int b = 0; b < blocks; b++) {
        if (!(patch[b / 8] >> (b % 8) & 1))
            continue;
        const uint8_t *px = p + 32;
        for (int r = 0; r < 16; r++) {
            unsigned set = vd_rl16(p + 2 * r);
            if (!set) /* (rows past a short block's end are never set) */
                continue;
            rows[16 * b + r] |= (uint16_t)set;
            uint8_t *row = picture + (size_t)(b / bw * 16 + r) * stride + (size_t)(b % bw * 16) * (size_t)bpp;
            for (; set; set &= set - 1, px += bpp)
                memcpy(row + (size_t)__builtin_ctz(set) * (size_t)bpp, px, (size_t)bpp);
        }
        p = px;
    }
}

int vd_wire_read_stream_id(const vd_msg *msg, uint32_t *id)
{
    if (msg->size != VD_STREAM_DESTROY_BODY)
        return VD_ERR(EBADMSG);
    *id = vd_rl32(msg->body);
    return 0;
}

/* Appends a header and returns the body to fill, or NULL on ENOMEM. */
static uint8_t *put_msg(vd_buf *buf, uint8_t type, uint32_t body_size)
{
    uint8_t *p = vd_buf_reserve(buf, VD_WIRE_HEADER_SIZE + (size_t)body_size);
    if (!p)
        return NULL;
    p[0] = type;
    p[1] = 0;
    vd_wl16(p + 2, 0);
    vd_wl32(p + 4, body_size);
    buf->size += VD_WIRE_HEADER_SIZE + (size_t)body_size;
    return p + VD_WIRE_HEADER_SIZE;
}

int vd_wire_put_hello(vd_buf *buf)
{
    uint8_t *b = put_msg(buf, VD_MSG_HELLO, VD_HELLO_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, VD_WIRE_MAGIC);
    vd_wl16(b + 4, VD_WIRE_VERSION);
    vd_wl16(b + 6, 0);
    return 0;
}

int vd_wire_put_surface(vd_buf *buf, uint8_t type, const vd_msg_surface *s)
{
    uint8_t *b = put_msg(buf, type, VD_SURFACE_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, s->id);
    vd_wl32(b + 4, s->width);
    vd_wl32(b + 8, s->height);
    b[12] = s->format;
    b[13] = VD_TILE_LOG2;
    vd_wl16(b + 14, 0);
    return 0;
}

int vd_wire_put_surface_destroy(vd_buf *buf, uint32_t id)
{
    uint8_t *b = put_msg(buf, VD_MSG_SURFACE_DESTROY, VD_SURFACE_DESTROY_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, id);
    return 0;
}

int vd_wire_put_frame_end(vd_buf *buf, const vd_msg_frame_end *fe)
{
    uint8_t *b = put_msg(buf, VD_MSG_FRAME_END, VD_FRAME_END_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, fe->surface_id);
    vd_wl32(b + 4, 0);
    vd_wl64(b + 8, fe->frame_seq);
    vd_wl64(b + 16, (uint64_t)fe->pts_us);
    return 0;
}

uint8_t *vd_wire_begin_tile(vd_buf *buf, uint32_t surface_id, uint16_t tx, uint16_t ty,
                            uint8_t count, uint8_t top, uint8_t bottom, size_t max_payload)
{
    uint8_t *p = vd_buf_reserve(buf, VD_WIRE_HEADER_SIZE + VD_TILE_HEADER + max_payload);
    if (!p)
        return NULL;
    p[0] = VD_MSG_TILE;
    p[1] = 0;
    vd_wl16(p + 2, 0);
    uint8_t *b = p + VD_WIRE_HEADER_SIZE;
    vd_wl32(b, surface_id);
    vd_wl16(b + 4, tx);
    vd_wl16(b + 6, ty);
    b[8] = 0;
    b[9] = count;
    b[10] = top;
    b[11] = bottom;
    return b + VD_TILE_HEADER;
}

void vd_wire_end_tile(vd_buf *buf, uint8_t encoding, size_t payload_size)
{
    uint8_t *p = buf->data + buf->size;
    vd_wl32(p + 4, (uint32_t)(VD_TILE_HEADER + payload_size));
    p[VD_WIRE_HEADER_SIZE + 8] = encoding;
    buf->size += VD_WIRE_HEADER_SIZE + VD_TILE_HEADER + payload_size;
}

int vd_wire_put_stream_create(vd_buf *buf, const vd_msg_stream *s)
{
    uint8_t *b = put_msg(buf, VD_MSG_STREAM_CREATE, VD_STREAM_CREATE_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, s->id);
    vd_wl32(b + 4, s->surface_id);
    b[8] = s->codec;
    b[9] = s->content;
    vd_wl16(b + 10, 0);
    vd_wl32(b + 12, s->x);
    vd_wl32(b + 16, s->y);
    vd_wl32(b + 20, s->width);
    vd_wl32(b + 24, s->height);
    return 0;
}

int vd_wire_put_stream_id(vd_buf *buf, uint8_t type, uint32_t id)
{
    uint8_t *b = put_msg(buf, type, VD_STREAM_DESTROY_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, id);
    return 0;
}

int vd_wire_put_stream_frame(vd_buf *buf, const vd_msg_stream_frame *sf)
{
    if ((size_t)sf->side_size + sf->size > VD_WIRE_MAX_BODY - VD_STREAM_FRAME_HEADER)
        return VD_ERR(ENOSPC);
    uint8_t *b = put_msg(buf, VD_MSG_STREAM_FRAME,
                         VD_STREAM_FRAME_HEADER + sf->side_size + sf->size);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, sf->stream_id);
    b[4] = sf->flags;
    b[5] = 0;
    vd_wl16(b + 6, 0);
    vd_wl32(b + 8, sf->mask_size);
    b += VD_STREAM_FRAME_HEADER;
    memcpy(b, sf->side, sf->side_size);
    memcpy(b + sf->side_size, sf->data, sf->size);
    return 0;
}

int vd_wire_read_codec_reset(const vd_msg *msg, uint32_t *slots, uint32_t *flags)
{
    if (msg->size != VD_CODEC_RESET_BODY || vd_rl32(msg->body + 4) & ~(uint32_t)VD_CODEC_RESET_RESUME)
        return VD_ERR(EBADMSG);
    *slots = vd_rl32(msg->body);
    *flags = vd_rl32(msg->body + 4);
    return 0;
}

int vd_wire_put_codec_reset(vd_buf *buf, uint32_t slots, uint32_t flags)
{
    uint8_t *b = put_msg(buf, VD_MSG_CODEC_RESET, VD_CODEC_RESET_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    vd_wl32(b, slots);
    vd_wl32(b + 4, flags);
    return 0;
}

int vd_wire_read_copy(const vd_msg *msg, vd_msg_copy *out)
{
    const uint8_t *b = msg->body;
    if (msg->size != VD_COPY_BODY)
        return VD_ERR(EBADMSG);
    *out = (vd_msg_copy){vd_rl32(b), vd_rl32(b + 4), vd_rl32(b + 8), vd_rl32(b + 12),
                         vd_rl32(b + 16), vd_rl32(b + 20), vd_rl32(b + 24)};
    return 0;
}

int vd_wire_put_copy(vd_buf *buf, const vd_msg_copy *c)
{
    uint8_t *b = put_msg(buf, VD_MSG_COPY, VD_COPY_BODY);
    if (!b)
        return VD_ERR(ENOMEM);
    const uint32_t v[7] = {c->surface_id, c->src_x, c->src_y, c->dst_x, c->dst_y, c->width, c->height};
    for (int i = 0; i < 7; i++)
        vd_wl32(b + 4 * i, v[i]);
    return 0;
}
