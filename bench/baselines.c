/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "baselines.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vd/vd.h>

#include "codec/video.h"
#include "video_metrics.h"
#include "lib/buf.h"

enum { MASK_NONE, MASK_TEXT, MASK_CHANGED, MASK_NATURAL };
#define MASK_OVER 0x10 /* with MASK_TEXT or MASK_CHANGED: over a video or 3D label */

struct bench_text_mask {
    uint8_t *map;  /* per pixel: MASK_*, maybe | MASK_OVER */
    uint8_t *prev; /* the previous source frame, rows packed */
    int width, height, have_prev;
    int still_known; /* the last update had a previous frame: unchanged text is still */
    const bench_region **order;
    size_t order_cap;
};

int bench_text_mask_new(bench_text_mask **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void bench_text_mask_free(bench_text_mask **pm)
{
    bench_text_mask *m = *pm;
    if (!m)
        return;
    free(m->map);
    free(m->prev);
    free(m->order);
    free(m);
    *pm = NULL;
}

int bench_text_mask_update(bench_text_mask *m, const bench_frame *f)
{
    size_t w = (size_t)f->width, h = (size_t)f->height, row = w * 4;
    if (m->width != f->width || m->height != f->height) {
        free(m->map);
        free(m->prev);
        m->map = malloc(w * h);
        m->prev = malloc(row * h);
        m->width = m->height = m->have_prev = 0;
        if (!m->map || !m->prev)
            return -ENOMEM;
        m->width = f->width;
        m->height = f->height;
    }
    memset(m->map, MASK_NONE, w * h);
    m->still_known = m->have_prev;
    if (f->n_regions > m->order_cap) {
        free(m->order);
        m->order_cap = 0;
        if (!(m->order = malloc(f->n_regions * sizeof(*m->order))))
            return -ENOMEM;
        m->order_cap = f->n_regions;
    }
    /* Painted in ascending z, stable (insertion sort), so that the winner is painted last. */
    for (size_t i = 0; i < f->n_regions; i++) {
        size_t j = i;
        for (; j > 0 && m->order[j - 1]->z > f->regions[i].z; j--)
            m->order[j] = m->order[j - 1];
        m->order[j] = &f->regions[i];
    }
    int natural = 0; /* painted: text after it may lie over it */
    for (size_t i = 0; i < f->n_regions; i++) {
        const bench_region *r = m->order[i];
        int x0 = VD_MAX(r->x, 0), y0 = VD_MAX(r->y, 0);
        int x1 = VD_MIN(r->x + r->w, f->width), y1 = VD_MIN(r->y + r->h, f->height);
        uint8_t v = r->cls == BENCH_CLASS_TEXT || r->cls == BENCH_CLASS_STATIC ? MASK_TEXT
                    : r->cls == BENCH_CLASS_VIDEO || r->cls == BENCH_CLASS_3D     ? MASK_NATURAL
                                                                               : MASK_NONE;
        natural |= v == MASK_NATURAL;
        for (int y = y0; y < y1 && x0 < x1; y++) {
            uint8_t *line = m->map + (size_t)y * w;
            if (v != MASK_TEXT || !natural) {
                memset(line + x0, v, (size_t)(x1 - x0));
                continue;
            }
            for (int x = x0; x < x1; x++)
                line[x] = (uint8_t)(MASK_TEXT | (line[x] == MASK_NATURAL || line[x] & MASK_OVER ? MASK_OVER : 0));
        }
    }
    for (size_t y = 0; y < h; y++) {
        const uint8_t *src = f->data + y * f->stride, *prev = m->prev + y * row;
        if (m->have_prev && memcmp(src, prev, row))
            for (size_t x = 0; x < w; x++)
                if ((m->map[y * w + x] & ~MASK_OVER) == MASK_TEXT && memcmp(src + x * 4, prev + x * 4, 3))
                    m->map[y * w + x] ^= MASK_TEXT ^ MASK_CHANGED;
        memcpy(m->prev + y * row, src, row);
    }
    m->have_prev = 1;
    return 0;
}

int bench_text_over_natural(const bench_frame *f)
{
    for (size_t i = 0; i < f->n_regions; i++) {
        const bench_region *t = &f->regions[i];
        if (t->cls != BENCH_CLASS_TEXT && t->cls != BENCH_CLASS_STATIC)
            continue;
        for (size_t k = 0; k < f->n_regions; k++) {
            const bench_region *v = &f->regions[k];
            if ((v->cls == BENCH_CLASS_VIDEO || v->cls == BENCH_CLASS_3D) &&
                (v->z < t->z || (v->z == t->z && k < i)) && v->x < t->x + t->w &&
                t->x < v->x + v->w && v->y < t->y + t->h && t->y < v->y + v->h)
                return 1;
        }
    }
    return 0;
}

void bench_text_mask_skip(bench_text_mask *m) { m->have_prev = 0; }

void bench_text_error_add(bench_text_error *e, const bench_text_mask *m, const bench_frame *f,
                          const uint8_t *img, size_t stride, int width, int height)
{
    int w = VD_MIN(width, m->width), h = VD_MIN(height, m->height);
    for (int y = 0; y < h; y++) {
        const uint8_t *map = m->map + (size_t)y * (size_t)m->width;
        const uint8_t *a = f->data + (size_t)y * f->stride, *b = img + (size_t)y * stride;
        int same = !memcmp(a, b, (size_t)w * 4); /* the common case, X bytes included */
        for (int x = 0; x < w; x++, a += 4, b += 4) {
            if (!map[x])
                continue;
            if (map[x] == MASK_NATURAL) {
                double d = same ? 0 : bench_luma_diff(a, b);
                e->n_natural++;
                e->se_natural += d * d;
                continue;
            }
            int changed = (map[x] & ~MASK_OVER) == MASK_CHANGED;
            int still_over = m->still_known && map[x] == (MASK_TEXT | MASK_OVER);
            e->n_all++;
            e->n_changed += changed;
            e->n_still_over += still_over;
            if (same || !memcmp(a, b, 3))
                continue;
            double d = bench_luma_diff(a, b);
            e->se_all += d * d;
            e->wrong++;
            e->wrong_still_over += still_over;
            if (changed)
                e->se_changed += d * d;
        }
    }
}

/* INFINITY when exact, NAN when there is nothing to measure. */
static double psnr(double se, uint64_t n)
{
    if (!n)
        return NAN;
    return se > 0 ? 10 * log10(255.0 * 255.0 * (double)n / se) : INFINITY;
}

/* One stream over the whole frame and its decoder; the picture a viewer shows. */
typedef struct full_frame {
    vd_video_encoder *enc;
    vd_video_decoder *dec;
    vd_buf coded;
    uint8_t *pic;
    size_t pic_stride;
    int width, height; /* of the stream */
    int64_t bitrate;
} full_frame;

static void full_frame_free(full_frame *ff)
{
    vd_video_encoder_free(&ff->enc);
    vd_video_decoder_free(&ff->dec);
    vd_buf_free(&ff->coded);
    free(ff->pic);
}

static int full_frame_frame(full_frame *ff, bench_baseline *out, const bench_text_mask *mask,
                            const bench_frame *f, double fps)
{
    int w = ff->width, h = ff->height;
    if (!ff->enc) {
        /* H.264 needs even sizes: the odd last column or row is left out. */
        w = ff->width = f->width & ~1;
        h = ff->height = f->height & ~1;
        vd_video_params p = {.codec = VD_VIDEO_H264, .width = w, .height = h,
                             .fps = (int)lround(fps), .bitrate = ff->bitrate,
                             .backend = VD_VIDEO_BACKEND_SOFTWARE, .latency_first = 1,
                             .cpu_flags = ~0u, .plain_rate_control = 1};
        int ret = vd_video_encoder_new(&p, &ff->enc);
        /* in software, as the encoder: the baseline stays the same on every machine */
        if (ret < 0 || (ret = vd_video_decoder_new(VD_VIDEO_H264, w, h, VD_VIDEO_BACKEND_SOFTWARE,
                                                   &ff->dec)) < 0)
            return ret;
        ff->pic_stride = (size_t)w * 4 + VD_VIDEO_ROW_SLACK;
        if (!(ff->pic = calloc(ff->pic_stride, (size_t)h))) /* black until the first picture */
            return -ENOMEM;
    } else if ((f->width & ~1) != w || (f->height & ~1) != h) {
        return -ENOTSUP; /* one stream, one size */
    }
    vd_video_packet pkts[VD_VIDEO_MAX_PACKETS];
    int n = 0;
    ff->coded.size = 0;
    int ret = vd_video_encode(ff->enc, f->data, f->stride, VD_FORMAT_BGRX8888, f->pts_us,
                              f->index == 0, &ff->coded, pkts, &n);
    for (int i = 0; ret == 0 && i < n; i++) {
        out->bytes += pkts[i].size;
        ret = vd_video_decode(ff->dec, ff->coded.data + pkts[i].offset, pkts[i].size,
                              pkts[i].key, ff->pic, ff->pic_stride, VD_FORMAT_BGRX8888);
    }
    if (ret == 0)
        bench_text_error_add(&out->text, mask, f, ff->pic, ff->pic_stride, w, h);
    return ret;
}

static int equal_bgr(const bench_frame *f, const vd_image *img)
{
    if (img->width != f->width || img->height != f->height)
        return 0;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *a = f->data + (size_t)y * f->stride;
        const uint8_t *b = img->data + (size_t)y * (size_t)img->stride;
        if (memcmp(a, b, (size_t)f->width * 4))
            for (int x = 0; x < f->width; x++)
                if (memcmp(a + x * 4, b + x * 4, 3))
                    return 0;
    }
    return 1;
}

static int lossless_frame(vd_encoder *enc, vd_decoder *dec, bench_baselines *out,
                          const bench_text_mask *mask, const bench_frame *f)
{
    vd_frame vf = {.surface_id = 1, .format = VD_FORMAT_BGRX8888, .width = f->width,
                   .height = f->height, .stride = (int32_t)f->stride, .data = f->data,
                   .pts_us = f->pts_us};
    int ret = vd_encoder_send_frame(enc, &vf);
    if (ret < 0)
        return ret;
    vd_encoder_stats st;
    vd_encoder_get_stats(enc, &st);
    out->lossless.bytes += st.bytes;
    vd_packet pkt;
    vd_image img = {0};
    while ((ret = vd_encoder_receive_packet(enc, &pkt)) == 0) {
        if ((ret = vd_decoder_send_packet(dec, pkt.data, pkt.size)) < 0)
            return ret;
        if (vd_decoder_receive_image(dec, &img) < 0) /* EAGAIN until the frame's last packet */
            img.data = NULL;
    }
    if (ret != VD_ERR(EAGAIN))
        return ret;
    if (!img.data || !equal_bgr(f, &img)) {
        out->lossless.mismatches++;
        return 0;
    }
    bench_text_error_add(&out->lossless.text, mask, f, img.data, (size_t)img.stride, img.width,
                         img.height);
    return 0;
}

int bench_baselines_run(bench_workload *wl, int frames, uint64_t libvd_bytes,
                        int64_t link_bitrate, unsigned cpu_flags, bench_baselines *out)
{
    double fps = bench_workload_fps(wl) > 0 ? bench_workload_fps(wl) : 30;
    *out = (bench_baselines){.at_link = link_bitrate > 0};
    if (out->at_link)
        out->h264_bitrate = link_bitrate;
    else if (frames > 0)
        out->h264_bitrate = (int64_t)llround((double)libvd_bytes * 8 * fps / frames);
    out->h264_bitrate = VD_MAX(out->h264_bitrate, 1000); /* the encoder's floor */
    full_frame ff = {.bitrate = out->h264_bitrate};
    vd_encoder *enc = NULL;
    vd_decoder *dec = NULL;
    bench_text_mask *mask = NULL;
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.cpu_flags = cpu_flags;
    cfg.video_codecs = 0;
    int ret = vd_encoder_new(&cfg, &enc);
    if (ret < 0 || (ret = vd_decoder_new(NULL, &dec)) < 0 || (ret = bench_text_mask_new(&mask)) < 0)
        goto out;
    bench_frame f;
    while (out->frames < frames && (ret = bench_workload_next(wl, &f)) > 0) {
        if ((ret = bench_text_mask_update(mask, &f)) < 0 ||
            (ret = full_frame_frame(&ff, &out->h264, mask, &f, fps)) < 0 ||
            (ret = lossless_frame(enc, dec, out, mask, &f)) < 0)
            goto out;
        out->frames++;
    }
    if (ret > 0)
        ret = 0;
    out->h264_target_bytes = (double)out->h264_bitrate * out->frames / fps / 8;
    out->h264_width = ff.width;
    out->h264_height = ff.height;
out:
    full_frame_free(&ff);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    bench_text_mask_free(&mask);
    return ret;
}

/* The full-frame stream alone at `bitrate` over the first `frames` frames of wl. */
static int full_frame_run(bench_workload *wl, int frames, int64_t bitrate, bench_baseline *out)
{
    double fps = bench_workload_fps(wl) > 0 ? bench_workload_fps(wl) : 30;
    *out = (bench_baseline){0};
    full_frame ff = {.bitrate = bitrate};
    bench_text_mask *mask = NULL;
    int ret = bench_text_mask_new(&mask), done = 0;
    bench_frame f;
    while (ret == 0 && done < frames && (ret = bench_workload_next(wl, &f)) > 0)
        if ((ret = bench_text_mask_update(mask, &f)) == 0 &&
            (ret = full_frame_frame(&ff, out, mask, &f, fps)) == 0)
            done++;
    full_frame_free(&ff);
    bench_text_mask_free(&mask);
    return ret < 0 ? ret : 0;
}

/* A full-frame run's value that a search matches: its video/3D Y-PSNR, or the log of its
 * bytes. */
typedef double (*run_value)(const bench_baseline *run);

static double video_psnr(const bench_baseline *run)
{
    return psnr(run->text.se_natural, run->text.n_natural);
}

static double log_bytes(const bench_baseline *run)
{
    return run->bytes ? log((double)run->bytes) : NAN;
}

/* Secant steps on log(bitrate) from the first run (b->h264 at b->h264_bitrate) until value
 * comes within tolerance of want; slope: the first guess of d value / d log(bitrate).  Each
 * step at most 4x either way, within 1 kbit/s .. 200 Mbit/s; the run that came closest is
 * kept in *m. */
static int match_search(int (*open)(void *ctx, bench_workload **wl), void *ctx,
                        const bench_baselines *b, run_value value, double want, double tolerance,
                        double slope, bench_match *m)
{
    double v0 = value(&b->h264);
    *m = (bench_match){0};
    if (!isfinite(v0) || !isfinite(want) || b->frames <= 0)
        return 0;
    if (fabs(v0 - want) <= tolerance) { /* the first run is it */
        *m = (bench_match){.run = b->h264, .bitrate = b->h264_bitrate, .ok = 1};
        return 0;
    }
    double prev_r = log((double)b->h264_bitrate), prev_v = v0, best = 0;
    double r = prev_r + (want - v0) / slope;
    for (int run = 0; run < BENCH_MATCH_RUNS; run++) {
        r = VD_MIN(VD_MAX(r, prev_r - log(4.0)), prev_r + log(4.0));
        r = VD_MIN(VD_MAX(r, log(1e3)), log(2e8));
        int64_t bitrate = (int64_t)llround(exp(r));
        bench_workload *wl = NULL;
        bench_baseline got;
        int ret = open(ctx, &wl);
        if (ret == 0)
            ret = full_frame_run(wl, b->frames, bitrate, &got);
        bench_workload_free(&wl);
        if (ret < 0)
            return ret;
        double v = value(&got);
        if (!isfinite(v))
            break;
        if (!m->bitrate || fabs(v - want) < best) {
            best = fabs(v - want);
            *m = (bench_match){.run = got, .bitrate = bitrate, .ok = best <= tolerance};
        }
        if (m->ok || fabs(v - prev_v) < tolerance / 10) /* reached, or x264 gives no more */
            break;
        double next = r + (want - v) * (r - prev_r) / (v - prev_v);
        prev_r = r;
        prev_v = v;
        r = next;
    }
    return 0;
}

int bench_baselines_match(int (*open)(void *ctx, bench_workload **wl), void *ctx,
                          uint64_t libvd_bytes, const bench_text_error *libvd, bench_baselines *b)
{
    /* Y-PSNR: about 6 dB per doubling of the rate; bytes: in proportion to it. */
    int ret = match_search(open, ctx, b, video_psnr, psnr(libvd->se_natural, libvd->n_natural),
                           BENCH_MATCH_DB, 6 / log(2.0), &b->same_quality);
    if (ret == 0)
        ret = match_search(open, ctx, b, log_bytes, libvd_bytes ? log((double)libvd_bytes) : NAN,
                           log(1 + BENCH_MATCH_BYTES), 1, &b->same_bytes);
    return ret;
}

/* "inf" for exact and "n/a" for no text pixels, in a fixed-width column. */
static void print_psnr(FILE *out, double se, uint64_t n)
{
    double p = psnr(se, n);
    if (isnan(p))
        fprintf(out, " %9s", "n/a");
    else if (isinf(p))
        fprintf(out, " %9s", "inf");
    else
        fprintf(out, " %9.2f", p);
}

static void print_row(FILE *out, const char *label, uint64_t bytes, uint64_t libvd_bytes,
                      const bench_text_error *t, const char *note)
{
    fprintf(out, "  %-18s %12" PRIu64 " %8.3f", label, bytes,
            libvd_bytes ? (double)bytes / (double)libvd_bytes : 0);
    print_psnr(out, t->se_all, t->n_all);
    print_psnr(out, t->se_changed, t->n_changed);
    fprintf(out, " %12" PRIu64, t->wrong);
    print_psnr(out, t->se_natural, t->n_natural);
    fprintf(out, "  %s\n", note);
}

/* A searched full-frame run's row, if it ran; goal: what it was matched to. */
static void print_match_row(FILE *out, const char *label, const bench_match *m, const char *goal,
                            uint64_t libvd_bytes)
{
    if (!m->bitrate)
        return;
    char note[96];
    snprintf(note, sizeof(note), "the same at %.0f kbit/s: %s%s", (double)m->bitrate / 1000,
             m->ok ? "" : "the nearest it came to ", goal);
    print_row(out, label, m->run.bytes, libvd_bytes, &m->run.text, note);
}

void bench_baselines_print_text(FILE *out, const char *name, uint64_t libvd_bytes,
                                const bench_text_error *libvd_text, const bench_baselines *b)
{
    char note[96];
    fprintf(out, "%s baselines: %d frames, %" PRIu64 " text pixel-frames (%" PRIu64 " changed)\n",
            name, b->frames, libvd_text->n_all, libvd_text->n_changed);
    fprintf(out, "  %-18s %12s %8s %9s %9s %12s %9s\n", "baseline", "bytes", "ratio", "text all",
            "changed", "text wrong", "video/3d");
    /* issue #4's goal: libvd's bytes at most 1.0x what the full-frame stream really sent */
    int at = snprintf(note, sizeof(note), "%.3fx full-frame H.264's bytes",
                      b->h264.bytes ? (double)libvd_bytes / (double)b->h264.bytes : 0);
    if (b->same_quality.ok && b->same_quality.run.bytes && at > 0 && (size_t)at < sizeof(note))
        snprintf(note + at, sizeof(note) - (size_t)at, ", %.3fx at its video/3d quality",
                 (double)libvd_bytes / (double)b->same_quality.run.bytes);
    print_row(out, "libvd", libvd_bytes, libvd_bytes, libvd_text, note);
    /* x264 sends less than its target; at libvd's own average rate, libvd's ratio above is
     * 1 / that share, whatever libvd sends.  The same-bytes row compares at what each really
     * sent. */
    snprintf(note, sizeof(note), "%dx%d at %s %.0f kbit/s, sent %.1f %% of it", b->h264_width,
             b->h264_height, b->at_link ? "the link's" : "libvd's average",
             (double)b->h264_bitrate / 1000,
             b->h264_target_bytes > 0 ? 100 * (double)b->h264.bytes / b->h264_target_bytes : 0);
    print_row(out, "full-frame H.264", b->h264.bytes, libvd_bytes, &b->h264.text, note);
    print_match_row(out, "full-frame, same q", &b->same_quality, "libvd's video/3d quality",
                    libvd_bytes);
    print_match_row(out, "full-frame, same B", &b->same_bytes, "libvd's bytes", libvd_bytes);
    snprintf(note, sizeof(note), "%s", b->lossless.mismatches ? "NOT bit-exact" : "bit-exact");
    print_row(out, "lossless only", b->lossless.bytes, libvd_bytes, &b->lossless.text, note);
}

/* "pixels":n,"mse":...,"y_psnr":... of a squared error summed over n pixels.  JSON has no
 * infinity: "y_psnr" is null when the error is 0 (see "mse") or nothing was measured. */
static void print_error_json(FILE *out, uint64_t n, double se)
{
    double p = psnr(se, n);
    fprintf(out, "\"pixels\":%" PRIu64 ",\"mse\":%.6g,", n, n ? se / (double)n : 0);
    if (isfinite(p))
        fprintf(out, "\"y_psnr\":%.3f", p);
    else
        fprintf(out, "\"y_psnr\":null");
}

/* {...},"video_3d":{...} after a caller's "text": key. */
static void print_text_json(FILE *out, const bench_text_error *t)
{
    fprintf(out, "{");
    print_error_json(out, t->n_all, t->se_all);
    fprintf(out, ",\"wrong\":%" PRIu64 ",\"changed\":{", t->wrong);
    print_error_json(out, t->n_changed, t->se_changed);
    fprintf(out, "}},\"video_3d\":{");
    print_error_json(out, t->n_natural, t->se_natural);
    fprintf(out, "}");
}

void bench_baselines_print_json(FILE *out, uint64_t libvd_bytes,
                                const bench_text_error *libvd_text, const bench_baselines *b)
{
    fprintf(out, "{\"frames\":%d,\"libvd\":{\"bytes\":%" PRIu64 ",\"text\":", b->frames,
            libvd_bytes);
    print_text_json(out, libvd_text);
    fprintf(out, "},\"full_frame_h264\":{\"width\":%d,\"height\":%d,\"target_bitrate\":%" PRId64
                 ",\"target_is_link\":%s,\"target_bytes\":%.0f,\"bytes\":%" PRIu64
                 ",\"ratio_to_libvd\":%.4f,\"text\":",
            b->h264_width, b->h264_height, b->h264_bitrate, b->at_link ? "true" : "false",
            b->h264_target_bytes, b->h264.bytes,
            libvd_bytes ? (double)b->h264.bytes / (double)libvd_bytes : 0);
    print_text_json(out, &b->h264.text);
    const struct {
        const char *key;
        const bench_match *m;
    } matches[] = {{"full_frame_h264_same_quality", &b->same_quality},
                   {"full_frame_h264_same_bytes", &b->same_bytes}};
    for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
        const bench_match *m = matches[i].m;
        if (!m->bitrate)
            continue;
        fprintf(out, "},\"%s\":{\"target_bitrate\":%" PRId64 ",\"matched\":%s,\"bytes\":%" PRIu64
                     ",\"ratio_to_libvd\":%.4f,\"text\":",
                matches[i].key, m->bitrate, m->ok ? "true" : "false", m->run.bytes,
                libvd_bytes ? (double)m->run.bytes / (double)libvd_bytes : 0);
        print_text_json(out, &m->run.text);
    }
    fprintf(out, "},\"lossless_only\":{\"bytes\":%" PRIu64 ",\"ratio_to_libvd\":%.4f,"
                 "\"bit_exact\":%s,\"text\":",
            b->lossless.bytes, libvd_bytes ? (double)b->lossless.bytes / (double)libvd_bytes : 0,
            b->lossless.mismatches ? "false" : "true");
    print_text_json(out, &b->lossless.text);
    fprintf(out, "}}");
}
