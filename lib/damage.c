/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "damage.h"

void vd_tile_grid_init(vd_tile_grid *grid, int width, int height, enum vd_pixel_format format)
{
    grid->width = width;
    grid->height = height;
    grid->cols = (width + 63) / 64;
    grid->rows = (height + 63) / 64;
    grid->bpp = vd_format_bytes_per_pixel(format);
    grid->mask = vd_format_has_x(format) ? 0x00ffffffu : 0xffffffffu;
}

void vd_damage_mark_rects(const vd_tile_grid *grid, uint8_t *state, const vd_rect *rects,
                          size_t n_rects)
{
    memset(state, VD_TILE_SKIP, (size_t)grid->cols * (size_t)grid->rows);
    for (size_t i = 0; i < n_rects; i++) {
        /* 64-bit arithmetic: x + width may overflow int32 for hostile input. */
        int64_t x0 = VD_MAX((int64_t)rects[i].x, 0);
        int64_t y0 = VD_MAX((int64_t)rects[i].y, 0);
        int64_t x1 = VD_MIN((int64_t)rects[i].x + rects[i].width, (int64_t)grid->width);
        int64_t y1 = VD_MIN((int64_t)rects[i].y + rects[i].height, (int64_t)grid->height);
        if (x0 >= x1 || y0 >= y1)
            continue;
        for (int64_t ty = y0 / 64; ty <= (y1 - 1) / 64; ty++)
            memset(state + ty * grid->cols + x0 / 64, VD_TILE_CANDIDATE,
                   (size_t)((x1 - 1) / 64 - x0 / 64 + 1));
    }
}

void vd_damage_scan(const vd_damage_dsp *dsp, const vd_tile_grid *grid, const uint8_t *cur,
                    size_t cur_stride, const uint8_t *prev, size_t prev_stride, uint8_t *state)
{
    size_t row_bytes = (size_t)grid->width * (size_t)grid->bpp;
    size_t tile_bytes = 64 * (size_t)grid->bpp;
    for (int ty = 0; ty < grid->rows; ty++) {
        uint8_t *row_state = state + (size_t)ty * (size_t)grid->cols;
        if (!memchr(row_state, VD_TILE_CANDIDATE, (size_t)grid->cols))
            continue;
        int y_end = VD_MIN((ty + 1) * 64, grid->height);
        for (int y = ty * 64; y < y_end; y++) {
            dsp->diff_row(cur + (size_t)y * cur_stride, prev + (size_t)y * prev_stride, row_bytes,
                          tile_bytes, grid->mask, row_state, (size_t)grid->cols);
            /* Once every tile of the row differs, the remaining pixel rows cannot add any. */
            if ((y & 7) == 7 && !memchr(row_state, VD_TILE_CANDIDATE, (size_t)grid->cols))
                break;
        }
    }
}

size_t vd_damage_rects(const vd_tile_grid *grid, const uint8_t *state, vd_rect *rects)
{
    size_t n = 0;
    /* first_of_row: index of the first rect produced by the previous tile row, for merging. */
    size_t prev_first = 0, prev_end = 0;
    for (int ty = 0; ty < grid->rows; ty++) {
        const uint8_t *row = state + (size_t)ty * (size_t)grid->cols;
        size_t row_first = n;
        int y = ty * 64, h = VD_MIN(64, grid->height - y);
        for (int tx = 0; tx < grid->cols;) {
            if (row[tx] != VD_TILE_DIRTY) {
                tx++;
                continue;
            }
            int start = tx;
            while (tx < grid->cols && row[tx] == VD_TILE_DIRTY)
                tx++;
            int x = start * 64, w = VD_MIN(tx * 64, grid->width) - x;
            /* Extend a rectangle from the row above with exactly the same span. */
            size_t k;
            for (k = prev_first; k < prev_end; k++)
                if (rects[k].x == x && rects[k].width == w &&
                    rects[k].y + rects[k].height == y)
                    break;
            if (k < prev_end) {
                rects[k].height += h;
                /* Move it into this row's range so the next row can extend it again. */
                vd_rect r = rects[k];
                rects[k] = rects[prev_end - 1];
                rects[prev_end - 1] = r;
                prev_end--;
                row_first--;
                continue;
            }
            rects[n++] = (vd_rect){x, y, w, h};
        }
        prev_first = row_first;
        prev_end = n;
    }
    return n;
}
