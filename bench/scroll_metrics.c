/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vd/common.h>

#include "lib/buf.h"
#include "lib/wire.h"
#include "scroll_metrics.h"

struct bench_scroll {
    vd_rect *copies; /* this frame's COPY destinations */
    size_t n_copies, cap_copies;
    vd_rect *tiles;  /* this frame's TILE runs */
    size_t n_tiles, cap_tiles;
    uint8_t *prev;   /* the previous source frame, packed BGRX */
    int prev_w, prev_h;
    uint64_t scrolled, copied;
};

int bench_scroll_new(bench_scroll **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : VD_ERR(ENOMEM);
}

void bench_scroll_free(bench_scroll **s)
{
    if (!s || !*s)
        return;
    free((*s)->copies);
    free((*s)->tiles);
    free((*s)->prev);
    free(*s);
    *s = NULL;
}

static int add_rect(vd_rect **list, size_t *n, size_t *cap, vd_rect r)
{
    vd_rect *grown = vd_array_grow(*list, cap, *n, sizeof(*grown));
    if (!grown)
        return VD_ERR(ENOMEM);
    *list = grown;
    (*list)[(*n)++] = r;
    return 0;
}

int bench_scroll_packet(bench_scroll *s, const uint8_t *data, size_t size)
{
    const uint8_t *pos = data, *end = data + size;
    vd_msg msg;
    vd_msg_copy c;
    vd_msg_tile t;
    int ret = 0;
    while (ret == 0 && vd_wire_next(&pos, end, &msg) > 0) {
        if (msg.type == VD_MSG_COPY && vd_wire_read_copy(&msg, &c) == 0)
            ret = add_rect(&s->copies, &s->n_copies, &s->cap_copies,
                           (vd_rect){(int32_t)c.dst_x, (int32_t)c.dst_y, (int32_t)c.width, (int32_t)c.height});
        else if (msg.type == VD_MSG_TILE && vd_wire_read_tile(&msg, &t) == 0)
            ret = add_rect(&s->tiles, &s->n_tiles, &s->cap_tiles,
                           (vd_rect){t.tx * 64, t.ty * 64 + t.top, t.count * 64, 64 - t.top - t.bottom});
    }
    return ret;
}

static int crosses(const vd_rect *list, size_t n, int y, int x0, int x1)
{
    for (size_t i = 0; i < n; i++)
        if (y >= list[i].y && y < list[i].y + list[i].height && list[i].x < x1 &&
            list[i].x + list[i].width > x0)
            return 1;
    return 0;
}

/* The row segment came without tile pixels: copies brought what changed in it (the rest the
 * client had: libvd is exact), and at least one copy touches it. */
static int row_copied(const bench_scroll *s, int y, int x0, int x1)
{
    return crosses(s->copies, s->n_copies, y, x0, x1) && !crosses(s->tiles, s->n_tiles, y, x0, x1);
}

int bench_scroll_frame(bench_scroll *s, const bench_frame *f)
{
    size_t row = (size_t)f->width * 4;
    if (s->prev && f->scroll_w > 0 && s->prev_w == f->width && s->prev_h == f->height) {
        int x0 = VD_MAX(f->scroll_x, 0), x1 = VD_MIN(f->scroll_x + f->scroll_w, f->width);
        for (int y = VD_MAX(f->scroll_y, 0); y < f->scroll_y + f->scroll_h && y < f->height; y++) {
            int src = y + f->scroll_dy;
            if (src < 0 || src >= f->height || x1 <= x0 ||
                !bench_bgr_equal(f->data + (size_t)y * f->stride + (size_t)x0 * 4, 0,
                                 s->prev + (size_t)src * row + (size_t)x0 * 4, 0, x1 - x0, 1))
                continue;
            s->scrolled++;
            s->copied += (uint64_t)row_copied(s, y, x0, x1);
        }
    }
    s->n_copies = s->n_tiles = 0;
    if (s->prev_w != f->width || s->prev_h != f->height) {
        free(s->prev);
        if (!(s->prev = malloc(row * (size_t)f->height)))
            return VD_ERR(ENOMEM);
        s->prev_w = f->width;
        s->prev_h = f->height;
    }
    for (int y = 0; y < f->height; y++)
        memcpy(s->prev + (size_t)y * row, f->data + (size_t)y * f->stride, row);
    return 0;
}

void bench_scroll_totals(const bench_scroll *s, uint64_t *scrolled_rows, uint64_t *copied_rows)
{
    *scrolled_rows = s->scrolled;
    *copied_rows = s->copied;
}
