/* vdbench classification scoring: the encoder's content classes against workload labels.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Definitions (issue #3):
 *  - Truth per pixel: the label (bench_frame.regions) with the highest z covers it; among equal
 *    z the later label wins.  Unlabelled pixels are not scored.  Label classes map to scored
 *    classes: text and static -> text (wallpaper is lossless content too), video, 3d.
 *  - Scored are the damaged tiles: the 64x64 tiles the encoder sent this frame, with the class
 *    it gave them (vd_encoder_get_tile_classes: the class of the video/3D region whose
 *    stream carries the tile's change, all of it or, beside rows above or below the region
 *    that go exactly, most of its changed pixels; else text).  The first frame (everything
 *    is sent) is not scored, nor is a frame whose size differs from the one before.
 *  - Area-weighted: a tile's truth is the class of most of its labelled pixels that changed
 *    since the frame before (of most of its labelled pixels when none did: only unlabelled
 *    ones or the X byte), and it counts with all its labelled pixels.  A tile that a window's
 *    title bar shares with the video under it is judged by what damaged it.  (Region
 *    rectangles are aligned to 16 px and label boundaries are not, so a per-pixel score
 *    would measure alignment, not classification.)
 *  - conf[truth][pred] counts pixels over the run.  precision_k = conf[k][k] / sum_t conf[t][k],
 *    recall_k = conf[k][k] / sum_p conf[k][p]; n/a when the denominator is 0.
 *  - A region is a label id (bench_region.id).  A damaged tile belongs to the label that wins
 *    most of its changed pixels (most of its pixels when none changed); a region's pixels in a
 *    frame are those it wins in its tiles, each predicted as its tile.  It starts at the first scored frame in which it has such a tile.
 *  - Detection latency (video and 3D regions): from the first of the first 3 frames in a row
 *    in which at least half as much of it is in damaged tiles as at most during the run (its
 *    content starts to move; a stray repaint or a small animation inside it is not that) to
 *    the first frame from then at which at least half of its damaged pixels are predicted
 *    its class,
 *    (frames * 1000 / fps) ms;
 *    per class the median (nearest rank) and max over regions, never when not detected.
 *  - Flaps: over the frames in which a region has damaged pixels, the majority predicted
 *    class of those pixels (ties: text, video, 3D in that order); each change between
 *    consecutive such frames is a flap.  Rate = flaps * 5 / active seconds; per class the max
 *    over regions.  Text regions: every such frame, active from the first to the last.  Video
 *    and 3D regions: the frames of their motion (as for latency: from its start, those with
 *    at least half the most damage) after the first right prediction, so that neither the
 *    detection nor the end of the motion counts as a flap; active over the motion.
 *  - Cost: per frame vd_encoder_stats.classify_ns and scan_ns over every frame; the median
 *    classify time and median(classify) / median(scan).
 * Everything here runs outside vdbench's timed sections.  The per-frame work is a copy of the
 * frame (for what changed) and, per damaged tile, per horizontal band of constant label
 * coverage plus one comparison per pixel. */
#ifndef VDBENCH_SCORE_H
#define VDBENCH_SCORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vd/encoder.h>

#include "workload.h"

#define BENCH_SCORE_TILE 64 /* the encoder's tile size */

enum { SCORE_TEXT, SCORE_VIDEO, SCORE_3D, SCORE_N };

typedef struct bench_score bench_score;

typedef struct bench_score_class {
    uint64_t damaged_pixels;  /* labelled damaged pixels of this class (truth) */
    double precision, recall; /* fractions; < 0 when n/a */
    int regions;              /* regions of this class with damage */
    int latency_regions;      /* video/3D: regions that started (= regions) */
    int undetected;           /* ... of which never detected */
    double latency_median_ms, latency_max_ms; /* INFINITY = never; < 0 when no region */
    double flaps_max_per_5s;  /* < 0 when no region */
} bench_score_class;

typedef struct bench_score_summary {
    int labelled;     /* any frame carried labels; nothing else is meaningful otherwise */
    int scored_frames;
    uint64_t conf[SCORE_N][SCORE_N]; /* [truth][pred], pixels */
    bench_score_class cls[SCORE_N];
    double classify_ms_median, scan_ms_median, classify_to_scan; /* ratio < 0 when n/a */
} bench_score_summary;

/* fps converts frame counts to time; returns 0 or a negative errno. */
int bench_score_new(double fps, bench_score **out);
void bench_score_free(bench_score **s);

/* Scores one frame.  classes: the encoder's tile classes for the frame's surface (raster order,
 * n_classes entries, ceil(w/64) * ceil(h/64) expected; a mismatch skips scoring the frame).
 * stats gives the cost samples.  Returns 0 or -ENOMEM. */
int bench_score_frame(bench_score *s, const bench_frame *f, const uint8_t *classes,
                      size_t n_classes, const vd_encoder_stats *stats);

void bench_score_summarize(const bench_score *s, bench_score_summary *sum);

const char *bench_score_class_name(int k);

/* The text table (indented, after a "classification: NAME" line) and the JSON object
 * (no leading key) of a summary. */
void bench_score_print_text(FILE *out, const char *name, const bench_score_summary *sum);
void bench_score_print_json(FILE *out, const bench_score_summary *sum);

#endif
