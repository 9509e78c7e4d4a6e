/* Internal vtable shared by the synthetic and file workload sources.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VDBENCH_WORKLOAD_IMPL_H
#define VDBENCH_WORKLOAD_IMPL_H

#include "workload.h"

typedef struct bench_workload_ops {
    int (*next)(bench_workload *wl, bench_frame *frame);
    void (*close)(bench_workload *wl); /* frees priv, not wl */
} bench_workload_ops;

struct bench_workload {
    const bench_workload_ops *ops;
    void *priv;
    char name[64];
    double fps;
    int length; /* -1 when unknown */
    int one_buffer; /* every frame in one buffer that lives as long as the workload */
};

/* Implemented in workload_synth.c and workload_file.c; fill in *wl (allocated and
 * zeroed by workload.c, which also frees it). */
int bench_synth_open(bench_workload *wl, const char *name, int width, int height, int nframes);
int bench_file_open(bench_workload *wl, const char *path, int max_frames);

#endif
