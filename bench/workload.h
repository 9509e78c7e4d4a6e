/* vdbench workloads: a source of BGRX frames with optional ground-truth labels.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VDBENCH_WORKLOAD_H
#define VDBENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

enum bench_class {
    BENCH_CLASS_NONE = 0, /* unlabelled: not scored */
    BENCH_CLASS_STATIC,
    BENCH_CLASS_TEXT,
    BENCH_CLASS_VIDEO,
    BENCH_CLASS_3D,
    BENCH_CLASS_COUNT
};

/* One labelled rectangle; where rectangles overlap, the higher z wins. */
typedef struct bench_region {
    int x, y, w, h;
    enum bench_class cls;
    int z;
    int id; /* stable identity of the labelled region across frames (>= 0) */
} bench_region;

typedef struct bench_frame {
    const uint8_t *data; /* BGRX8888: bytes B,G,R,X in memory; X is 0xff */
    size_t stride;       /* bytes per row */
    int width, height;
    int index;           /* 0-based frame number */
    int64_t pts_us;      /* index / fps in microseconds */
    const bench_region *regions; /* labels active in this frame; NULL when unlabelled */
    size_t n_regions;
    /* "windows" workload: the id (>= 0) of the window this frame brings to the front, the
     * id of its label in regions; else -1 (other frames, other workloads, files) */
    int front_window;
    /* 1 when that window was in front before (a return: it shows again what it showed when
     * it last left the front, typing included), 0 for its first time or without a window */
    int front_returns;
    /* Content that scrolled this frame: the rectangle it now fills, moved up by scroll_dy
     * rows from the previous frame (rows of it redrawn since do not count as scrolled).
     * scroll_w = 0: nothing scrolled, or the workload does not say. */
    int scroll_x, scroll_y, scroll_w, scroll_h, scroll_dy;
} bench_frame;

typedef struct bench_workload bench_workload;

/* NULL-terminated list of built-in workload names; the first is the default. */
const char *const *bench_synthetic_names(void);

/* Deterministic built-in workload.  nframes <= 0 picks the workload's default length.
 * Returns 0 or a negative errno (-EINVAL for an unknown name or bad size). */
int bench_workload_open_synthetic(const char *name, int width, int height, int nframes,
                                  bench_workload **out);

/* Any file FFmpeg can decode; labels come from the sidecar NAME.json beside NAME.ext
 * when it exists (format in shared design: width, height, fps, regions[] with x, y, w, h,
 * class, t_start, t_end, z).  max_frames <= 0 reads the whole file. */
int bench_workload_open_file(const char *path, int max_frames, bench_workload **out);

/* Fills *frame with the next frame; its memory stays valid until the next call.
 * Returns 1 for a frame, 0 at the end, a negative errno on failure. */
int bench_workload_next(bench_workload *wl, bench_frame *frame);

const char *bench_workload_name(const bench_workload *wl);
double bench_workload_fps(const bench_workload *wl);
/* Number of frames the workload will produce, or -1 when unknown. */
int bench_workload_length(const bench_workload *wl);
/* 1 when every frame's data is in one buffer that lives until bench_workload_free() (what
 * vd_encoder_register_buffer() asks for); 0 when a frame may come in new memory. */
int bench_workload_one_buffer(const bench_workload *wl);
/* Closes the workload and sets *wl to NULL; NULL is fine. */
void bench_workload_free(bench_workload **wl);

const char *bench_class_name(enum bench_class cls);

/* 1 when the width x height BGRX pixels at a and b (strides in bytes) agree in B, G and R
 * (X bytes do not count), else 0. */
int bench_bgr_equal(const uint8_t *a, size_t stride_a, const uint8_t *b, size_t stride_b, int width,
                    int height);

/* Per-frame measurements, for medians and percentiles.  Zero-initialise; free .v. */
typedef struct bench_samples {
    double *v;
    size_t n, cap;
} bench_samples;

/* Returns 0 or -ENOMEM. */
int bench_samples_add(bench_samples *s, double x);
/* The q-quantile (nearest rank) of the samples, 0 when there are none; sorts them. */
double bench_quantile(bench_samples *s, double q);
/* Ascending order of doubles, for qsort. */
int bench_cmp_double(const void *a, const void *b);

#endif
