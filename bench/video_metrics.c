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
#define WINDOW_US 5000000
#define MAX_WINDOWS 4096

struct bench_video {
    char dir[512], name[64];
    double fps;
    struct dumped {
        uint32_t id;
        FILE *file;
        int ivf;
        uint32_t frames;
        int width, height;
    } dumped[MAX_DUMPED];
    int n_dumped, streams;
    uint32_t preview_ids[MAX_DUMPED]; /* the latest previews (they end in the next frame) */
    int previews;
    uint64_t preview_bytes;
    double se;              /* luma squared error over the lossy pixels */
    uint64_t lossy_pixels;
    double ssim_sum;
    uint64_t ssim_windows;
    float *luma_src, *luma_img; /* one tile's luma, scratch */
    uint64_t pending_bytes;     /* stream frames since the last frame() */
    vd_buf side;                /* a stream frame's masks, unpacked */
    int64_t window_start;       /* pts of the first stream frame; -1 before */
    int64_t last_pts;
    uint64_t window_bytes[MAX_WINDOWS];
    double window_target[MAX_WINDOWS]; /* sum over its frames of the targets, bit/s */
    uint64_t window_budget[MAX_WINDOWS]; /* what the targets allowed its pictures, bytes */
    uint32_t window_frames[MAX_WINDOWS];
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
    bv->window_start = -1;
    bv->luma_src = malloc(64 * 64 * sizeof(float));
    bv->luma_img = malloc(64 * 64 * sizeof(float));
    if (!bv->luma_src || !bv->luma_img) {
        bench_video_free(&bv);
        return -ENOMEM;
    }
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

int bench_video_packet(bench_video *bv, const vd_encoder *enc, const uint8_t *data, size_t size)
{
    const uint8_t *pos = data, *end = data + size;
    vd_msg msg;
    while (vd_wire_next(&pos, end, &msg) > 0) {
        if (msg.type == VD_MSG_STREAM_CREATE) {
            vd_msg_stream s;
            if (vd_wire_read_stream_create(&msg, &s) < 0)
                return -EINVAL;
            vd_region regions[MAX_DUMPED];
            int n = vd_encoder_get_regions(enc, s.surface_id, regions, MAX_DUMPED), region = 0;
            for (int i = 0; i < VD_MIN(n, MAX_DUMPED); i++)
                region |= regions[i].id == s.id;
            if (!region) {
                bv->preview_ids[bv->previews++ % MAX_DUMPED] = s.id;
                continue;
            }
            bv->streams++;
            struct dumped *d = dump_for(bv, s.id);
            if (d) { /* a region that outgrew its picture: the same stream goes on, larger */
                d->width = (int)s.width;
                d->height = (int)s.height;
            }
            if (!bv->dir[0] || bv->n_dumped == MAX_DUMPED || d)
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
            bv->dumped[bv->n_dumped++] =
                (struct dumped){s.id, f, ivf, 0, (int)s.width, (int)s.height};
        } else if (msg.type == VD_MSG_STREAM_FRAME) {
            vd_msg_stream_frame sf;
            struct dumped *d;
            if (vd_wire_read_stream_frame(&msg, &sf) < 0)
                return -EINVAL;
            int preview = 0;
            for (int i = 0; i < VD_MIN(bv->previews, MAX_DUMPED); i++)
                preview |= bv->preview_ids[i] == sf.stream_id;
            if (preview)
                bv->preview_bytes += VD_WIRE_HEADER_SIZE + msg.size;
            else
                bv->pending_bytes += VD_WIRE_HEADER_SIZE + msg.size; /* the whole message */
            if (!bv->dir[0] || !(d = dump_for(bv, sf.stream_id)))
                continue;
            const uint8_t *picture, *keep, *patch;
            uint32_t picture_size;
            /* vdbench's frames are BGRX (4 bytes a pixel) */
            if (vd_wire_stream_frame_shown(&sf, d->width, d->height, 4, NULL, &bv->side, &keep,
                                           &patch, &picture, &picture_size) < 0)
                return -EINVAL;
            if (d->ivf) {
                uint8_t h[12];
                vd_wl32(h, picture_size);
                vd_wl64(h + 4, d->frames);
                fwrite(h, 1, sizeof(h), d->file);
            }
            if (fwrite(picture, 1, picture_size, d->file) != picture_size)
                return -EIO;
            d->frames++;
        }
    }
    return 0;
}

static float luma(const uint8_t *p) { return 0.114f * p[0] + 0.587f * p[1] + 0.299f * p[2]; }

/* SSIM (Wang et al. 2004, the usual constants) of one lossy tile's luma, over 8x8 windows
 * every 4 pixels: adds each window's value and counts them. */
static void tile_ssim(bench_video *bv, const bench_frame *f, const vd_image *img, int x0, int y0)
{
    int w = f->width - x0 < 64 ? f->width - x0 : 64, h = f->height - y0 < 64 ? f->height - y0 : 64;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            bv->luma_src[y * 64 + x] = luma(f->data + (size_t)(y0 + y) * f->stride + (size_t)(x0 + x) * 4);
            bv->luma_img[y * 64 + x] =
                luma(img->data + (size_t)(y0 + y) * (size_t)img->stride + (size_t)(x0 + x) * 4);
        }
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    for (int wy = 0; wy + 8 <= h; wy += 4)
        for (int wx = 0; wx + 8 <= w; wx += 4) {
            double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
            for (int y = wy; y < wy + 8; y++)
                for (int x = wx; x < wx + 8; x++) {
                    double a = bv->luma_src[y * 64 + x], b = bv->luma_img[y * 64 + x];
                    sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b;
                }
            double ma = sa / 64, mb = sb / 64;
            double va = saa / 64 - ma * ma, vb = sbb / 64 - mb * mb, cov = sab / 64 - ma * mb;
            bv->ssim_sum += ((2 * ma * mb + c1) * (2 * cov + c2)) /
                            ((ma * ma + mb * mb + c1) * (va + vb + c2));
            bv->ssim_windows++;
        }
}

void bench_video_frame(bench_video *bv, const bench_frame *f, const vd_image *img,
                       const uint8_t *lossy, const uint8_t *classes, const vd_encoder_stats *st,
                       int64_t pts_us)
{
    /* The stream frames sent for this frame, and its target, count in the 5 s window of its
     * pts. */
    if (bv->pending_bytes && bv->window_start < 0)
        bv->window_start = pts_us;
    int64_t k = bv->window_start >= 0 ? (pts_us - bv->window_start) / WINDOW_US : -1;
    if (k >= 0 && k < MAX_WINDOWS) {
        bv->window_bytes[k] += bv->pending_bytes;
        bv->window_target[k] += st->video_target;
        bv->window_budget[k] += st->video_budget;
        bv->window_frames[k]++;
    }
    bv->pending_bytes = 0;
    bv->last_pts = pts_us;
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
        tile_ssim(bv, f, img, tx * 64, ty * 64);
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

void bench_video_summarize(const bench_video *bv, bench_video_summary *sum)
{
    *sum = (bench_video_summary){.streams = bv->streams, .previews = bv->previews,
                                 .preview_bytes = bv->preview_bytes,
                                 .lossy_pixels = bv->lossy_pixels,
                                 .ttl_samples = (int)bv->n_ttl};
    if (bv->lossy_pixels) {
        double mse = bv->se / (double)bv->lossy_pixels;
        sum->y_psnr = mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : 99;
    }
    if (bv->ssim_windows)
        sum->ssim = bv->ssim_sum / (double)bv->ssim_windows;
    /* Whole windows only: the last one ends at the last frame's pts. */
    int64_t whole = bv->window_start >= 0 ? (bv->last_pts - bv->window_start) / WINDOW_US : 0;
    whole = whole < MAX_WINDOWS ? whole : MAX_WINDOWS;
    int budgeted = 0; /* windows whose streams coded a picture */
    for (int k = 0; k < whole; k++) {
        double kbps = (double)bv->window_bytes[k] * 8 / (WINDOW_US / 1e6) / 1000;
        double target =
            bv->window_frames[k] ? bv->window_target[k] / bv->window_frames[k] / 1000 : 0;
        double off = target > 0 ? 100 * (kbps / target - 1) : 0;
        /* A window with no picture (all paused) has nothing to measure against. */
        double budget = (double)bv->window_budget[k];
        double coded_off = budget > 0 ? 100 * ((double)bv->window_bytes[k] / budget - 1) : 0;
        if (budget > 0 && (!budgeted || coded_off < sum->coded_off_min_pct))
            sum->coded_off_min_pct = coded_off;
        if (budget > 0 && (!budgeted || coded_off > sum->coded_off_max_pct))
            sum->coded_off_max_pct = coded_off;
        budgeted += budget > 0;
        if (!k || kbps < sum->window_min_kbps)
            sum->window_min_kbps = kbps;
        if (!k || kbps > sum->window_max_kbps)
            sum->window_max_kbps = kbps;
        if (!k || target < sum->target_min_kbps)
            sum->target_min_kbps = target;
        if (!k || target > sum->target_max_kbps)
            sum->target_max_kbps = target;
        if (!k || off < sum->off_min_pct)
            sum->off_min_pct = off;
        if (!k || off > sum->off_max_pct)
            sum->off_max_pct = off;
    }
    sum->windows = (int)whole;
    if (bv->n_ttl) {
        qsort(bv->ttl, bv->n_ttl, sizeof(double), bench_cmp_double);
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
    vd_buf_free(&bv->side);
    free(bv->lossy_since);
    free(bv->ttl);
    free(bv->luma_src);
    free(bv->luma_img);
    free(bv);
    *pbv = NULL;
}
