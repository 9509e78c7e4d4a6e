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

/* Looks at the tiles in state VD_TILE_DIRTY.  For each whose pixels (masked as g->mask
 * says) equal a same-sized block of ref at a common offset, or whose changed pixels' bounding
 * rectangle does, and whose source touches no tile with lossy[] set, sets match[tile] to the
 * vector's index + 1 (else 0) and part[tile] to what to copy (the tile, or its changed
 * part; the rest of the tile is unchanged).  cur and ref are the new frame and what the
 * client shows (strides in bytes).  Returns the number of vectors written to vec (0 when
 * nothing moved). */
VD_HIDDEN int vd_motion_find(const vd_damage_dsp *dsp, const vd_tile_grid *g, const uint8_t *cur,
                             size_t cur_stride, const uint8_t *ref, size_t ref_stride,
                             const uint8_t *state, const uint8_t *lossy, uint8_t *match,
                             vd_rect *part, vd_motion_vector vec[VD_MOTION_MAX_VECTORS]);

#endif
