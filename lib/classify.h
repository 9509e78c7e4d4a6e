/* Content classification: per-tile statistics, a per-tile classifier with hysteresis, and a
 * region tracker that turns connected video/3D tiles into stable, 16-aligned rectangles.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_CLASSIFY_H
#define VD_CLASSIFY_H

#include <vd/encoder.h>

#include "damage.h"
#include "motion.h"
#include "internal.h"

/* What one damaged tile's change looked like (the statistics kernel's output). */
typedef struct vd_tile_stats {
    uint32_t pixels;  /* in the tile */
    uint32_t changed; /* pixels that differ from the previous frame (outside the cursor) */
    uint32_t noise;   /* changed pixels whose largest channel change is noise-sized */
    uint32_t pairs;   /* sampled horizontal neighbour pairs of the new content */
    uint32_t smooth;  /* ... that differ by a little: gradients, texture, noise */
    uint32_t colours; /* distinct colours of the new content, at most VD_CLS_COLOUR_CAP */
    uint32_t triples; /* sampled runs of three neighbours across, both steps smooth, not flat */
    uint32_t regular; /* ... whose second difference is at most 1 in every channel */
    uint16_t blocks;  /* 4 x 4 bits: which 16 x 16 blocks changed, bit (by * 4 + bx) */
} vd_tile_stats;

/* Distinct colours (bytes 0-2, or the 16-bit pixel) of the w x h pixels at p, counted up to
 * cap (at most 64). */
VD_HIDDEN unsigned vd_count_colours(const uint8_t *p, size_t stride, int w, int h, int bpp,
                                   unsigned cap);

/* Statistics of the w x h tile (w, h <= 64) at cur against prev; pixels inside the
 * tile-relative rectangle skip (the cursor) do not count as changed.  bpp 4 reads channels
 * from bytes 0-2; bpp 2 is RGB565.  The C reference; vd_tile_stats_fn picks a faster one. */
typedef void (*vd_tile_stats_fn)(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                                 size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                                 vd_tile_stats *out);
VD_HIDDEN void vd_tile_stats_c(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                               size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                               vd_tile_stats *out);
VD_HIDDEN void vd_tile_stats_sse2(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                                  size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                                  vd_tile_stats *out);
VD_HIDDEN void vd_tile_stats_avx2(const uint8_t *cur, size_t cur_stride, const uint8_t *prev,
                                  size_t prev_stride, int w, int h, int bpp, const vd_rect *skip,
                                  vd_tile_stats *out);
/* The fastest kernel that cpu_mask (VD_CPU_*) and this CPU allow. */
VD_HIDDEN vd_tile_stats_fn vd_tile_stats_pick(unsigned cpu_mask);

typedef struct vd_classifier vd_classifier;

/* The defaults of lib/classify_params.h. */
VD_HIDDEN void vd_classifier_config_default(vd_classifier_config *cfg);
/* 0 when the config is usable, VD_ERR(EINVAL) otherwise. */
VD_HIDDEN int vd_classifier_config_check(const vd_classifier_config *cfg);

/* One per surface; NULL on allocation failure.  next_region_id is shared by the encoder's
 * surfaces so that ids are unique per encoder. */
VD_HIDDEN vd_classifier *vd_classifier_new(const vd_tile_grid *grid, const vd_classifier_config *cfg,
                                           uint32_t *next_region_id);
VD_HIDDEN void vd_classifier_free(vd_classifier **cls);

/* Classifies a frame: stats[i] describes tile i where state[i] == VD_TILE_DIRTY (ignored
 * elsewhere), copies[i] (may be NULL) whether its change went as a copy (a scroll, a move);
 * hints override detection.  Afterwards tile classes and regions describe this
 * frame.  Returns 0 or VD_ERR(ENOMEM) (the classifier then keeps its previous result). */
VD_HIDDEN int vd_classifier_update(vd_classifier *cls, int64_t t_us, const uint8_t *state,
                                   const vd_tile_stats *stats, const vd_tile_copy *copies,
                                   const vd_frame *frame);

/* Class of every tile for the last frame: VD_CONTENT_NONE where not damaged. */
VD_HIDDEN const uint8_t *vd_classifier_tile_classes(const vd_classifier *cls);
/* Whether the host's hints for the last frame say tile i is text: it never goes through a
 * stream, whatever region's rectangle holds it. */
VD_HIDDEN int vd_classifier_hinted_text(const vd_classifier *cls, size_t tile);
/* The encoder sent damaged tile i otherwise than the class says: most of its change through a
 * stream of that content after all (a region's edge cut it, and rows beside the region went
 * exactly: VD_TILE_SPLIT), or all of it exactly (VD_CONTENT_TEXT: the stream's encoder held
 * its picture back). */
VD_HIDDEN void vd_classifier_set_tile_class(vd_classifier *cls, size_t tile,
                                            enum vd_content content);
/* Regions alive after the last frame. */
VD_HIDDEN size_t vd_classifier_regions(const vd_classifier *cls, vd_region *out, size_t max);

#endif
