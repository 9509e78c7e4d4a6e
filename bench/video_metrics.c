/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "video_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/video.h"
#include "lib/buf.h"
#include "lib/wire.h"

#define MAX_DUMPED 64

struct bench_video {
    char dir[512], name[64];
    double fps;
    struct dumped {
        uint32_t id;
        FILE *file;
        int ivf;
        uint32_t frames;
    } dumped[MAX_DUMPED];
    int n_dumped, streams;
    double se;              /* luma squared error over the lossy pixels */
    uint64_t lossy_pixels;
    int64_t *lossy_since;   /* per tile: pts of its last lossy update; -1 = exact */
    size_t n_tiles;
    double *ttl;
    size_t n_ttl, cap_ttl;
};

int bench_video_new(const char *dump_dir, const char *name, double fps, bench_video **out)
{
    *out = NULL;
    bench_video *bv = calloc(1, sizeof(*bv));
    if (!bv)
        return -ENOMEM;
    if (dump_dir)
        snprintf(bv->dir, sizeof(bv->dir), "%s", dump_dir);
    snprintf(bv->name, sizeof(bv->name), "%s", name);
    bv->fps = fps > 0 ? fps : 30;
    *out = bv;
    return 0;
}

/* IVF, the container ffmpeg and libaom's tools read raw AV1 from: a 32-byte file header,
 * then a 12-byte header per frame.  The frame count and size are patched at the end. */
static void ivf_header(FILE *f, uint32_t frames, double fps)
{
    uint8_t h[32] = {'D', 'K', 'I', 'F', 0, 0, 32, 0, 'A', 'V', '0', '1'};
    vd_wl16(h + 12, 0); /* width and height: taken from the sequence header by readers */
    vd_wl16(h + 14, 0);
    vd_wl32(h + 16, (uint32_t)lround(fps));
    vd_wl32(h + 20, 1);
    vd_wl32(h + 24, frames);
    fwrite(h, 1, sizeof(h), f);
}

static struct dumped *dump_for(bench_video *bv, uint32_t id)
{
    for (int i = 0; i < bv->n_dumped; i++)
        if (bv->dumped[i].id == id)
            return &bv->dumped[i];
    return NULL;
}

int bench_video_packet(bench_video *bv, const uint8_t *data, size_t size)
{
    const uint8_t *pos = data, *end = data + size;
    vd_msg msg;
    while (vd_wire_next(&pos, end, &msg) > 0) {
        if (msg.type == VD_MSG_STREAM_CREATE) {
            vd_msg_stream s;
            if (vd_wire_read_stream_create(&msg, &s) < 0)
                return -EINVAL;
            bv->streams++;
            if (!bv->dir[0] || bv->n_dumped == MAX_DUMPED || dump_for(bv, s.id))
                continue;
            int ivf = s.codec == VD_VIDEO_AV1;
            char path[700];
            snprintf(path, sizeof(path), "%s/%s-stream-%u.%s", bv->dir, bv->name, s.id,
                     ivf ? "ivf" : "h264");
            FILE *f = fopen(path, "wb");
            if (!f)
                return -errno;
            if (ivf)
                ivf_header(f, 0, bv->fps);
            bv->dumped[bv->n_dumped++] = (struct dumped){s.id, f, ivf, 0};
        } else if (msg.type == VD_MSG_STREAM_FRAME && bv->dir[0]) {
            vd_msg_stream_frame sf;
            struct dumped *d;
            if (vd_wire_read_stream_frame(&msg, &sf) < 0)
                return -EINVAL;
            if (!(d = dump_for(bv, sf.stream_id)))
                continue;
            if (d->ivf) {
                uint8_t h[12];
                vd_wl32(h, sf.size);
                vd_wl64(h + 4, d->frames);
                fwrite(h, 1, sizeof(h), d->file);
            }
            if (fwrite(sf.data, 1, sf.size, d->file) != sf.size)
                return -EIO;
            d->frames++;
        }
    }
    return 0;
}

void bench_video_frame(bench_video *bv, const bench_frame *f, const vd_image *img,
                       const uint8_t *lossy, const uint8_t *classes, int64_t pts_us)
{
    int cols = (f->width + 63) / 64, rows = (f->height + 63) / 64;
    size_t n = (size_t)cols * (size_t)rows;
    if (bv->n_tiles != n) {
        free(bv->lossy_since);
        bv->lossy_since = malloc(n * sizeof(*bv->lossy_since));
        bv->n_tiles = bv->lossy_since ? n : 0;
        for (size_t i = 0; i < bv->n_tiles; i++)
            bv->lossy_since[i] = -1;
    }
    for (size_t i = 0; i < bv->n_tiles; i++) {
        int damaged = classes[i] != VD_CONTENT_NONE;
        if (lossy[i] && damaged) {
            bv->lossy_since[i] = pts_us;
        } else if (!lossy[i] && bv->lossy_since[i] >= 0) {
            double *t = vd_array_grow(bv->ttl, &bv->cap_ttl, bv->n_ttl, sizeof(*t));
            if (t) {
                bv->ttl = t;
                bv->ttl[bv->n_ttl++] = (double)(pts_us - bv->lossy_since[i]) / 1000.0;
            }
            bv->lossy_since[i] = -1;
        }
        if (!lossy[i])
            continue;
        int tx = (int)(i % (size_t)cols), ty = (int)(i / (size_t)cols);
        for (int y = ty * 64; y < ty * 64 + 64 && y < f->height; y++)
            for (int x = tx * 64; x < tx * 64 + 64 && x < f->width; x++) {
                const uint8_t *a = f->data + (size_t)y * f->stride + (size_t)x * 4;
                const uint8_t *b = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 4;
                double d = bench_luma_diff(a, b);
                bv->se += d * d;
                bv->lossy_pixels++;
            }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_video_summarize(const bench_video *bv, bench_video_summary *sum)
{
    *sum = (bench_video_summary){.streams = bv->streams, .lossy_pixels = bv->lossy_pixels,
                                 .ttl_samples = (int)bv->n_ttl};
    if (bv->lossy_pixels) {
        double mse = bv->se / (double)bv->lossy_pixels;
        sum->y_psnr = mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : 99;
    }
    if (bv->n_ttl) {
        qsort(bv->ttl, bv->n_ttl, sizeof(double), cmp_double);
        sum->ttl_p50_ms = bv->ttl[(size_t)(0.5 * (double)(bv->n_ttl - 1) + 0.5)];
        sum->ttl_p95_ms = bv->ttl[(size_t)(0.95 * (double)(bv->n_ttl - 1) + 0.5)];
    }
}

void bench_video_free(bench_video **pbv)
{
    bench_video *bv = *pbv;
    if (!bv)
        return;
    for (int i = 0; i < bv->n_dumped; i++) {
        struct dumped *d = &bv->dumped[i];
        if (d->ivf && !fseek(d->file, 0, SEEK_SET))
            ivf_header(d->file, d->frames, bv->fps);
        fclose(d->file);
    }
    free(bv->lossy_since);
    free(bv->ttl);
    free(bv);
    *pbv = NULL;
}
