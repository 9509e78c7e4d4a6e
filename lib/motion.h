/* Copy detection: damaged tiles whose new content the client already shows elsewhere
 * (scrolled text, a moved window), found before any pixels are coded.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_MOTION_H
#define VD_MOTION_H

#include "damage.h"
#include "internal.h"

/* Motion vectors tried per frame: a scroll and a window move at once fit. */
#define VD_MOTION_MAX_VECTORS 3

/* A frame's damaged tiles are searched only when at least this many changed: a copy message
 * costs as much as a small tile, and the search reads the whole damaged box. */
#define VD_MOTION_MIN_TILES 4

typedef struct vd_motion_vector {
    int dx, dy; /* the tile's content comes from (x + dx, y + dy) of the reference */
} vd_motion_vector;

/* What a damaged tile gets from copies. */
typedef struct vd_tile_copy {
    uint8_t vector;                /* motion vector index + 1; 0: no copy */
    uint8_t band;                  /* rows [band_top, height - band_bottom) still go as pixels */
    uint8_t band_top, band_bottom;
    vd_rect part[2];               /* copy destinations, width 0 for none */
} vd_tile_copy;

/* Looks at the tiles in state VD_TILE_DIRTY and fills out[tile] for each: copies when its
 * pixels (masked as g->mask says) equal a same-sized block of ref at a common offset, or its
 * changed pixels' bounding box does, or rows at its top and bottom do (the rows between then
 * go as pixels), always from pixels no lossy[] tile holds.  Pixels of the tile outside the
 * copies and the band are unchanged.  cur and ref are the new frame and what the client
 * shows (strides in bytes).  classes (VD_CONTENT_* per tile as of the last frame, or NULL)
 * says which tiles showed video or 3D: they take fewer of the search's anchors.  Returns the
 * number of vectors written to vec (0 when nothing moved). */
VD_HIDDEN int vd_motion_find(const vd_damage_dsp *dsp, const vd_tile_grid *g, const uint8_t *cur,
                             size_t cur_stride, const uint8_t *ref, size_t ref_stride,
                             const uint8_t *state, const uint8_t *lossy, const uint8_t *classes,
                             vd_tile_copy *out, vd_motion_vector vec[VD_MOTION_MAX_VECTORS]);

#endif
