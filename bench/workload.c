/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "workload_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bench_workload *workload_alloc(void)
{
    bench_workload *wl = calloc(1, sizeof(*wl));
    if (wl)
        wl->length = -1;
    return wl;
}

/* Keeps *out NULL unless the source opened. */
static int workload_finish(bench_workload *wl, int ret, bench_workload **out)
{
    if (ret < 0) {
        free(wl);
        return ret;
    }
    *out = wl;
    return 0;
}

int bench_workload_open_synthetic(const char *name, int width, int height, int nframes,
                                  bench_workload **out)
{
    *out = NULL;
    bench_workload *wl = workload_alloc();
    if (!wl)
        return -ENOMEM;
    wl->one_buffer = 1; /* each draws into its framebuffer, made when it opens */
    return workload_finish(wl, bench_synth_open(wl, name, width, height, nframes), out);
}

int bench_workload_open_file(const char *path, int max_frames, bench_workload **out)
{
    *out = NULL;
    bench_workload *wl = workload_alloc();
    if (!wl)
        return -ENOMEM;
    return workload_finish(wl, bench_file_open(wl, path, max_frames), out);
}

int bench_workload_next(bench_workload *wl, bench_frame *frame)
{
    return wl->ops->next(wl, frame);
}

const char *bench_workload_name(const bench_workload *wl) { return wl->name; }
double bench_workload_fps(const bench_workload *wl) { return wl->fps; }
int bench_workload_length(const bench_workload *wl) { return wl->length; }
int bench_workload_one_buffer(const bench_workload *wl) { return wl->one_buffer; }

void bench_workload_free(bench_workload **pwl)
{
    if (!pwl || !*pwl)
        return;
    bench_workload *wl = *pwl;
    if (wl->ops && wl->ops->close)
        wl->ops->close(wl);
    free(wl);
    *pwl = NULL;
}

const char *bench_class_name(enum bench_class cls)
{
    static const char *const names[BENCH_CLASS_COUNT] = {"none", "static", "text", "video", "3d"};
    return (unsigned)cls < BENCH_CLASS_COUNT ? names[cls] : "?";
}

int bench_bgr_equal(const uint8_t *a, size_t stride_a, const uint8_t *b, size_t stride_b, int width,
                    int height)
{
    size_t row = (size_t)width * 4;
    for (int y = 0; y < height; y++, a += stride_a, b += stride_b) {
        if (memcmp(a, b, row) == 0)
            continue;
        for (size_t x = 0; x < row; x++)
            if ((x & 3) != 3 && a[x] != b[x])
                return 0;
    }
    return 1;
}

int bench_samples_add(bench_samples *s, double x)
{
    if (s->n == s->cap) { /* plain realloc: vdserver links these sources to libvd's API only */
        size_t cap = s->cap ? 2 * s->cap : 256;
        double *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(bench_samples *s, double q)
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof(double), bench_cmp_double);
    return s->v[(size_t)(q * (double)(s->n - 1) + 0.5)];
}
