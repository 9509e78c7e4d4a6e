/* Tile-grid damage detection against the previous frame.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_DAMAGE_H
#define VD_DAMAGE_H

#include <vd/common.h>

#include "damage_dsp.h"
#include "internal.h"

/* Per-tile scan state, one byte per tile in raster order. */
enum {
    VD_TILE_CANDIDATE = 0, /* to be compared */
    VD_TILE_DIRTY = 1,     /* differs (or must be sent) */
    VD_TILE_SKIP = 2,      /* outside the host's damage */
    VD_TILE_VIDEO = 3,     /* differs, and goes out in a video stream's frame */
    VD_TILE_SPLIT = 4,     /* a region's edge cuts it: the stream carries the part inside, a
                            * band of rows outside goes exactly */
};

typedef struct vd_tile_grid {
    int width, height; /* pixels */
    int cols, rows;    /* tiles */
    int bpp;
    uint32_t mask;     /* bytes that count as content, per vd_diff_row_fn */
} vd_tile_grid;

VD_HIDDEN void vd_tile_grid_init(vd_tile_grid *grid, int width, int height,
                                 enum vd_pixel_format format);

/* Sets state to VD_TILE_SKIP except for the tiles that rects touch, which become
 * VD_TILE_CANDIDATE; rectangles are clipped to the surface, empty ones ignored. */
VD_HIDDEN void vd_damage_mark_rects(const vd_tile_grid *grid, uint8_t *state, const vd_rect *rects,
                                    size_t n_rects);

/* Compares every candidate tile of cur with prev and marks the differing ones dirty. */
VD_HIDDEN void vd_damage_scan(const vd_damage_dsp *dsp, const vd_tile_grid *grid,
                              const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                              size_t prev_stride, uint8_t *state);

/* Turns the dirty tiles of state into at most cols * rows rectangles (runs along tile rows,
 * merged with identical runs below), clipped to the surface.  Returns the count. */
VD_HIDDEN size_t vd_damage_rects(const vd_tile_grid *grid, const uint8_t *state, vd_rect *rects);

#endif
