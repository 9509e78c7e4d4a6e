/* vdbench: runs workloads through encoder -> bytes -> decoder, checks bit-exactness and reports
 * sizes and times.  Times are medians and p95 of per-frame samples; speed claims are ratios to
 * a baseline measured in the same run on the same bytes, since the machines are shared.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/log.h>
#include <libswscale/swscale.h>
#include <lz4.h>

#include <vd/vd.h>

#include "codec/colour.h"
#include "codec/video.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/damage.h"
#include "baselines.h"
#include "gpu_bench.h"
#include "peers.h"
#include "score.h"
#include "scroll_metrics.h"
#include "video_metrics.h"
#include "workload.h"

#define KERNEL_RUNS 31

/* Through a volatile pointer, so that a copy into a buffer nobody reads is not optimised out. */
static void *(*volatile memcpy_fn)(void *, const void *, size_t) = memcpy;

typedef struct options {
    const char *workload; /* NULL = all built-in */
    const char **inputs;
    int n_inputs;
    int frames, width, height;
    int json, verify, quiet, baselines, peers, gpu;
    uint32_t video_codecs; /* --codec */
    uint32_t link_bitrate; /* --link-rate: libvd's vd_encoder_config.link_bitrate, and the
                            * full-frame baseline's target */
    unsigned cpu_flags;
    const char *dump_dir; /* --dump-streams */
} options;

/* --peers, see peer_bench_frame() */
typedef struct peer_bench peer_bench;
static void peer_bench_free(peer_bench **pb);

typedef struct result {
    char name[64];
    int width, height, frames;
    uint64_t damaged_tiles, damaged_pixels, bytes, tiles_total;
    bench_samples encode_ms, decode_ms, scan_ratio;
    double lz4_ratio;     /* tile coding throughput / LZ4_compress_default throughput */
    uint64_t mismatches;
    uint64_t video_bytes, tiles_streamed;
    bench_video_summary video;
    double fps;
    uint64_t video_ns, video_frames; /* frames that coded a stream picture, and their time */
    uint64_t video_pictures, video_pictures_hw, pixels_patched; /* vd_encoder_stats' */
    int lossless_frames; /* frames after the last until the client was bit-exact again */
    bench_score_summary classification; /* .labelled = 0 when the workload has no labels */
    bench_text_error text;  /* --baselines: libvd's decoded text against the source */
    int have_baselines;
    bench_baselines baselines;
    peer_bench *peers; /* --peers */
    /* Workloads that bring windows to the front: each return's bytes / the bytes of that
     * window's first showing (issue #5: <= 5 %). */
    uint64_t first_show_bytes[16];
    uint64_t tiles_copied, tiles_cached, tiles_delta; /* vd_encoder_stats, summed */
    uint64_t scrolled_rows, copied_rows;  /* scroll_metrics.h */
    bench_samples return_cost;
} result;

typedef struct kernel_result {
    const char *name;
    double scan_ms, memcpy_ms;
} kernel_result;

/* RGB -> YUV420P of a video region, see bench_colour(). */
#define COLOUR_W 1280
#define COLOUR_H 720

typedef struct colour_result {
    const char *kernel; /* the one vd_rgb_to_yuv_pick chose */
    double kernel_ms, c_ms, sws_point_ms, sws_bilinear_ms;
} colour_result;

/* The classifier at 10 % damage, see bench_classifier(). */
#define CLASSIFY_FRAMES 60
#define CLASSIFY_MEASURED 40

typedef struct classify_result {
    int tiles, changed, damaged; /* tiles, tiles changed per frame, tiles the encoder sent */
    double classify_ms, scan_ms;
} classify_result;

static void result_free(result *r)
{
    free(r->encode_ms.v);
    free(r->decode_ms.v);
    free(r->scan_ratio.v);
    free(r->return_cost.v);
    peer_bench_free(&r->peers);
}

/* Collects the damaged tiles of the source frame into one buffer, as the LZ4 baseline's input. */
/* Collects the tiles of the source frame that went out losslessly (damaged, not lossy) into
 * one buffer, as the LZ4 baseline's input. */
static size_t gather_damage(const bench_frame *f, const vd_image *img, const uint8_t *lossy,
                            uint8_t *dst)
{
    size_t n = 0;
    int cols = (f->width + 63) / 64;
    for (size_t i = 0; i < img->n_damage; i++) {
        const vd_rect *r = &img->damage[i];
        for (int y = r->y; y < r->y + r->height; y++)
            for (int x = r->x; x < r->x + r->width; x += 64) {
                if (lossy[(y / 64) * cols + x / 64])
                    continue;
                size_t w = (size_t)VD_MIN(64, r->x + r->width - x) * 4;
                memcpy(dst + n, f->data + (size_t)y * f->stride + (size_t)x * 4, w);
                n += w;
            }
    }
    return n;
}

/* Bit-exact outside the tiles the client shows lossy (lossy NULL: everywhere). */
static int images_equal(const bench_frame *f, const vd_image *img, const uint8_t *lossy)
{
    if (img->width != f->width || img->height != f->height)
        return 0;
    int cols = (f->width + 63) / 64;
    for (int y = 0; y < f->height; y++) {
        const uint8_t *a = f->data + (size_t)y * f->stride;
        const uint8_t *b = img->data + (size_t)y * (size_t)img->stride;
        if (memcmp(a, b, (size_t)f->width * 4) == 0)
            continue;
        for (int x = 0; x < f->width * 4; x++) /* X bytes do not count */
            if ((x & 3) != 3 && a[x] != b[x] && !(lossy && lossy[(y / 64) * cols + x / 256]))
                return 0;
    }
    return 1;
}

/* Sends the last frame again, unchanged, until build-to-lossless has replaced every lossy
 * tile (at most 2 s of frames); then the image must be bit-exact everywhere. */
static int converge(vd_encoder *enc, vd_decoder *dec, const bench_frame *f, int *frames,
                    bench_video *video, uint8_t *lossy, uint8_t *classes, size_t n_tiles)
{
    vd_rect none;
    vd_frame vf = {.surface_id = 1, .format = VD_FORMAT_BGRX8888, .width = f->width,
                   .height = f->height, .stride = (int32_t)f->stride, .data = f->data,
                   .damage = &none, .pts_us = f->pts_us};
    vd_encoder_stats st;
    vd_image img = {0};
    for (*frames = 0; *frames < 60; (*frames)++) {
        vf.pts_us += 33333;
        int ret = vd_encoder_send_frame(enc, &vf);
        vd_packet pkt;
        while (ret == 0 && (ret = vd_encoder_receive_packet(enc, &pkt)) == 0) {
            if ((ret = bench_video_packet(video, enc, pkt.data, pkt.size)) < 0 ||
                (ret = vd_decoder_send_packet(dec, pkt.data, pkt.size)) < 0)
                return ret;
            if (vd_decoder_receive_image(dec, &img) < 0) /* EAGAIN until the frame's last packet */
                continue;
        }
        if (ret != VD_ERR(EAGAIN))
            return ret < 0 ? ret : VD_ERR(EIO);
        vd_encoder_get_stats(enc, &st);
        if (img.data && vd_encoder_get_lossy_tiles(enc, 1, lossy, n_tiles) > 0 &&
            vd_encoder_get_tile_classes(enc, 1, classes, n_tiles) > 0) {
            bench_frame g = *f;
            g.pts_us = vf.pts_us;
            bench_video_frame(video, &g, &img, lossy, classes, &st, vf.pts_us);
        }
        if (!st.tiles_lossy)
            break;
    }
    /* The decoder's last image stays valid until the next packet. */
    return img.data && !st.tiles_lossy && images_equal(f, &img, NULL) ? 0 : 1;
}

static void progress(const options *opt, const char *name, int index, int total, uint64_t start_ns,
                     uint64_t *last_ns)
{
    uint64_t now = vd_now_ns();
    if (opt->quiet || now - start_ns < 2000000000u || now - *last_ns < 1000000000u)
        return;
    *last_ns = now;
    if (total > 0)
        fprintf(stderr, "\r%-12s frame %d/%d", name, index, total);
    else
        fprintf(stderr, "\r%-12s frame %d", name, index);
    if (!isatty(STDERR_FILENO))
        fputc('\n', stderr);
    fflush(stderr);
}

/* Fetches the encoder's tile classes for the frame just sent (for scoring and the video
 * metrics; outside the timed sections).  Returns how many, or a negative errno. */
static int fetch_classes(const vd_encoder *enc, const vd_encoder_stats *st, uint8_t **classes,
                         size_t *classes_size)
{
    if (*classes_size < st->tiles_total) {
        free(*classes);
        *classes_size = 0;
        if (!(*classes = malloc(st->tiles_total)))
            return VD_ERR(ENOMEM);
        *classes_size = st->tiles_total;
    }
    return vd_encoder_get_tile_classes(enc, 1, *classes, *classes_size);
}

/* --peers (bench/peers.h): every frame's damaged tiles through each peer, encode and decode
 * timed apart, every frame decoded and compared; row 0 is libvd itself on the same frames. */
typedef struct peer_row {
    const char *name;
    uint64_t bytes, wrong;  /* frames that did not decode exactly (or failed to decode) */
    int error;              /* could not start or refused to encode: no numbers after that */
    bench_samples enc_mbps, dec_mbps;
} peer_row;

struct peer_bench {
    const bench_peer *const *list;
    size_t n;          /* peers; rows has n + 1 */
    peer_row *rows;
    void **states;
    uint8_t **images;  /* each peer's decoded frame, width * 4 bytes per row */
    uint8_t *prev;     /* the previous source frame, likewise */
    int width, height;
    vd_rect *rects;
    vd_buf out;
    uint64_t pixels;   /* damaged pixels, all frames */
};

/* Peers' state for frames of one size (a new size starts afresh, as a new connection). */
static void peer_bench_reset(peer_bench *pb)
{
    for (size_t i = 0; i < pb->n; i++) {
        if (pb->states[i])
            pb->list[i]->destroy(pb->states[i]);
        pb->states[i] = NULL;
        free(pb->images[i]);
        pb->images[i] = NULL;
    }
    free(pb->prev);
    free(pb->rects);
    pb->prev = NULL;
    pb->rects = NULL;
    pb->width = pb->height = 0;
}

static void peer_bench_free(peer_bench **pb)
{
    if (!*pb)
        return;
    peer_bench_reset(*pb);
    for (size_t i = 0; i <= (*pb)->n; i++) {
        free((*pb)->rows[i].enc_mbps.v);
        free((*pb)->rows[i].dec_mbps.v);
    }
    free((*pb)->rows);
    free((*pb)->states);
    free((*pb)->images);
    vd_buf_free(&(*pb)->out);
    free(*pb);
    *pb = NULL;
}

static int peer_bench_new(peer_bench **out)
{
    peer_bench *pb = calloc(1, sizeof(*pb));
    if (!pb)
        return VD_ERR(ENOMEM);
    pb->n = bench_peers_list(&pb->list);
    pb->rows = calloc(pb->n + 1, sizeof(*pb->rows));
    pb->states = calloc(pb->n + 1, sizeof(*pb->states));
    pb->images = calloc(pb->n + 1, sizeof(*pb->images));
    if (!pb->rows || !pb->states || !pb->images) {
        free(pb->rows);
        free(pb->states);
        free(pb->images);
        free(pb);
        return VD_ERR(ENOMEM);
    }
    pb->rows[0].name = "libvd";
    for (size_t i = 0; i < pb->n; i++)
        pb->rows[i + 1].name = pb->list[i]->name;
    *out = pb;
    return 0;
}

/* Whether rect r has the same B, G, R in a and b (X bytes do not count). */
static int rect_equal(const uint8_t *a, size_t stride_a, const uint8_t *b, size_t stride_b,
                      const vd_rect *r)
{
    return bench_bgr_equal(a + (size_t)r->y * stride_a + (size_t)r->x * 4, stride_a,
                           b + (size_t)r->y * stride_b + (size_t)r->x * 4, stride_b, r->width,
                           r->height);
}

/* MB/s (1e6 bytes of BGRX input) of one frame. */
static double mb_per_s(uint64_t pixels, uint64_t ns)
{
    return ns ? (double)pixels * 4 * 1e3 / (double)ns : 0;
}

/* One frame: the damaged tiles as peers.h defines them (lossy: libvd's lossy-tile map after
 * this frame, so its tiles sent as video are left out), then libvd's row from its stats
 * (lossless = bytes less video bytes; the tile coding time; vdbench's decode time of the
 * frame) and each peer's. */
static int peer_bench_frame(peer_bench *pb, const bench_frame *f, const uint8_t *lossy,
                            uint64_t lossless_bytes, uint64_t coding_ns, uint64_t decode_ns)
{
    size_t stride = (size_t)f->width * 4, bytes = stride * (size_t)f->height;
    int cols = (f->width + 63) / 64, rows = (f->height + 63) / 64, first = 0;
    if (f->width != pb->width || f->height != pb->height) {
        peer_bench_reset(pb);
        if (!(pb->prev = malloc(bytes)) ||
            !(pb->rects = malloc((size_t)cols * (size_t)rows * sizeof(*pb->rects))))
            return VD_ERR(ENOMEM);
        for (size_t i = 0; i < pb->n; i++) {
            if (pb->rows[i + 1].error)
                continue;
            pb->states[i] = pb->list[i]->create(f->width, f->height);
            if (!pb->states[i] || !(pb->images[i] = calloc(1, bytes))) {
                fprintf(stderr, "vdbench: peer %s could not start\n", pb->list[i]->name);
                pb->rows[i + 1].error = 1;
            }
        }
        pb->width = f->width;
        pb->height = f->height;
        first = 1;
    }
    size_t n_rects = 0;
    uint64_t pixels = 0;
    for (int ty = 0; ty < rows; ty++)
        for (int tx = 0; tx < cols; tx++) {
            vd_rect r = {tx * 64, ty * 64, VD_MIN(64, f->width - tx * 64),
                         VD_MIN(64, f->height - ty * 64)};
            if (lossy[ty * cols + tx])
                continue;
            if (!first && rect_equal(f->data, f->stride, pb->prev, stride, &r))
                continue;
            pb->rects[n_rects++] = r;
            pixels += (uint64_t)r.width * (uint64_t)r.height;
        }
    for (int y = 0; y < f->height; y++)
        memcpy(pb->prev + (size_t)y * stride, f->data + (size_t)y * f->stride, stride);
    pb->pixels += pixels;
    pb->rows[0].bytes += lossless_bytes;
    if (!pixels) /* no samples from frames without damaged tiles */
        return 0;
    if (bench_samples_add(&pb->rows[0].enc_mbps, mb_per_s(pixels, coding_ns)) < 0 ||
        bench_samples_add(&pb->rows[0].dec_mbps, mb_per_s(pixels, decode_ns)) < 0)
        return VD_ERR(ENOMEM);
    for (size_t i = 0; i < pb->n; i++) {
        peer_row *row = &pb->rows[i + 1];
        if (row->error)
            continue;
        const bench_peer *p = pb->list[i];
        pb->out.size = 0;
        uint64_t t0 = vd_now_ns();
        int ret = p->encode(pb->states[i], f->data, f->stride, f->width, f->height, pb->rects,
                            n_rects, &pb->out);
        uint64_t t1 = vd_now_ns();
        if (ret < 0) {
            fprintf(stderr, "vdbench: peer %s failed to encode frame %d: %s\n", p->name, f->index,
                    vd_strerror(ret));
            row->error = 1;
            continue;
        }
        row->bytes += pb->out.size;
        uint64_t t2 = vd_now_ns();
        ret = p->decode(pb->states[i], pb->out.data, pb->out.size, pb->images[i], stride,
                        f->width, f->height, pb->rects, n_rects);
        uint64_t t3 = vd_now_ns();
        int exact = ret == 0; /* compared outside the timed sections */
        for (size_t k = 0; exact && k < n_rects; k++)
            exact = rect_equal(f->data, f->stride, pb->images[i], stride, &pb->rects[k]);
        row->wrong += !exact;
        if (bench_samples_add(&row->enc_mbps, mb_per_s(pixels, t1 - t0)) < 0 ||
            bench_samples_add(&row->dec_mbps, mb_per_s(pixels, t3 - t2)) < 0)
            return VD_ERR(ENOMEM);
    }
    return 0;
}

static int run_workload(const options *opt, bench_workload *wl, result *r)
{
    vd_encoder_config ecfg;
    vd_encoder_config_default(&ecfg);
    ecfg.cpu_flags = opt->cpu_flags;
    ecfg.video_codecs = opt->video_codecs;
    ecfg.link_bitrate = opt->link_bitrate;
    vd_encoder *enc = NULL;
    vd_decoder *dec = NULL;
    uint8_t *scratch = NULL, *lz4_out = NULL;
    size_t scratch_size = 0;
    uint64_t lz4_ns = 0, coding_ns = 0, start = vd_now_ns(), last_progress = start;
    /* Classification scoring; a failure there drops the scores, never the run. */
    bench_score *score = NULL;
    uint8_t *tile_classes = NULL, *lossy = NULL;
    size_t tile_classes_size = 0;
    bench_video *video = NULL;
    bench_text_mask *text_mask = NULL;
    bench_scroll *scroll = NULL;
    int ret = vd_encoder_new(&ecfg, &enc);
    if (ret < 0 || (ret = vd_decoder_new(NULL, &dec)) < 0 || (ret = bench_scroll_new(&scroll)) < 0 ||
        (ret = bench_text_mask_new(&text_mask)) < 0 ||
        (opt->peers && (ret = peer_bench_new(&r->peers)) < 0))
        goto out;
    snprintf(r->name, sizeof(r->name), "%s", bench_workload_name(wl));
    if ((ret = bench_video_new(opt->dump_dir, r->name, bench_workload_fps(wl), &video)) < 0)
        goto out;
    if (bench_score_new(bench_workload_fps(wl), &score) < 0)
        fprintf(stderr, "vdbench: %s: no classification scores (frame rate unknown)\n", r->name);

    bench_frame f;
    /* The frame limit is checked first, so that f stays the last frame sent. */
    while ((opt->frames <= 0 || r->frames < opt->frames) && (ret = bench_workload_next(wl, &f)) > 0) {
        size_t frame_bytes = (size_t)f.width * (size_t)f.height * 4;
        if (scratch_size < frame_bytes) {
            free(scratch);
            free(lz4_out);
            scratch = malloc(frame_bytes);
            lz4_out = malloc((size_t)LZ4_compressBound((int)frame_bytes));
            scratch_size = frame_bytes;
            if (!scratch || !lz4_out) {
                ret = VD_ERR(ENOMEM);
                goto out;
            }
        }
        vd_frame vf = {
            .surface_id = 1,
            .format = VD_FORMAT_BGRX8888,
            .width = f.width,
            .height = f.height,
            .stride = (int32_t)f.stride,
            .data = f.data,
            .pts_us = f.pts_us,
        };
        uint64_t t0 = vd_now_ns();
        if ((ret = vd_encoder_send_frame(enc, &vf)) < 0)
            goto out;
        uint64_t enc_ns = vd_now_ns() - t0, dec_ns = 0;
        vd_encoder_stats st;
        vd_encoder_get_stats(enc, &st);

        vd_packet pkt;
        vd_image img = {0};
        int have_image = 0;
        for (;;) {
            t0 = vd_now_ns();
            ret = vd_encoder_receive_packet(enc, &pkt);
            enc_ns += vd_now_ns() - t0;
            if (ret == VD_ERR(EAGAIN))
                break;
            if (ret < 0)
                goto out;
            if ((ret = bench_video_packet(video, enc, pkt.data, pkt.size)) < 0 || /* not timed */
                (ret = bench_scroll_packet(scroll, pkt.data, pkt.size)) < 0)
                goto out;
            t0 = vd_now_ns();
            ret = vd_decoder_send_packet(dec, pkt.data, pkt.size);
            if (ret == 0 && vd_decoder_receive_image(dec, &img) == 0)
                have_image = 1;
            dec_ns += vd_now_ns() - t0;
            if (ret < 0) {
                fprintf(stderr, "vdbench: decoder refused packet: %s\n", vd_strerror(ret));
                goto out;
            }
        }
        if (!have_image) {
            fprintf(stderr, "vdbench: frame %d produced no image\n", f.index);
            ret = VD_ERR(EIO);
            goto out;
        }
        if (!lossy && !(lossy = malloc(st.tiles_total))) {
            ret = VD_ERR(ENOMEM);
            goto out;
        }
        if (vd_encoder_get_lossy_tiles(enc, 1, lossy, st.tiles_total) < 0)
            memset(lossy, 0, st.tiles_total);
        if (opt->verify && !images_equal(&f, &img, lossy))
            r->mismatches++;
        if (opt->baselines || bench_text_over_natural(&f)) { /* not timed */
            if ((ret = bench_text_mask_update(text_mask, &f)) < 0)
                goto out;
            bench_text_error_add(&r->text, text_mask, &f, img.data, (size_t)img.stride,
                                 img.width, img.height);
        } else {
            bench_text_mask_skip(text_mask);
        }

        /* Baselines on the same bytes, outside the timed sections above. */
        if (st.tiles_scanned == st.tiles_total) {
            t0 = vd_now_ns();
            memcpy_fn(scratch, f.data, frame_bytes);
            double memcpy_ns = (double)(vd_now_ns() - t0);
            bench_samples_add(&r->scan_ratio, (double)st.scan_ns / memcpy_ns);
        }
        if (st.tiles_damaged) {
            size_t n = gather_damage(&f, &img, lossy, scratch);
            t0 = vd_now_ns();
            int c = LZ4_compress_default((const char *)scratch, (char *)lz4_out, (int)n,
                                         LZ4_compressBound((int)n));
            lz4_ns += vd_now_ns() - t0;
            coding_ns += st.coding_ns;
            if (c <= 0) {
                ret = VD_ERR(EIO);
                goto out;
            }
        }

        int n_classes = fetch_classes(enc, &st, &tile_classes, &tile_classes_size);
        /* without tile classes the frame is not scored (its cost still counts) */
        if (score && bench_score_frame(score, &f, n_classes > 0 ? tile_classes : NULL,
                                       n_classes > 0 ? (size_t)n_classes : 0, &st) < 0) {
            fprintf(stderr, "vdbench: %s: classification scoring failed, dropped\n", r->name);
            bench_score_free(&score);
        }
        if (n_classes > 0)
            bench_video_frame(video, &f, &img, lossy, tile_classes, &st, f.pts_us);
        if (r->peers && (ret = peer_bench_frame(r->peers, &f, lossy, st.bytes - st.video_bytes,
                                                st.coding_ns, dec_ns)) < 0)
            goto out;

        r->width = f.width;
        r->height = f.height;
        r->frames++;
        r->tiles_total = st.tiles_total;
        r->damaged_tiles += st.tiles_damaged;
        r->damaged_pixels += st.damaged_pixels;
        r->bytes += st.bytes;
        r->tiles_copied += st.tiles_copied;
        r->tiles_cached += st.tiles_cached;
        r->tiles_delta += st.tiles_delta;
        if ((ret = bench_scroll_frame(scroll, &f)) < 0)
            goto out;
        if (f.front_window >= 0 && f.front_window < (int)VD_ARRAY_SIZE(r->first_show_bytes)) {
            uint64_t *first = &r->first_show_bytes[f.front_window];
            if (!f.front_returns)
                *first = st.bytes;
            else if (*first && (ret = bench_samples_add(&r->return_cost, (double)st.bytes / (double)*first)) < 0)
                goto out;
        }
        r->video_bytes += st.video_bytes;
        r->video_ns += st.video_ns;
        r->video_frames += st.video_bytes > 0;
        r->video_pictures += st.video_pictures;
        r->video_pictures_hw += st.video_pictures_hw;
        r->pixels_patched += st.pixels_patched;
        r->tiles_streamed += st.tiles_streamed;
        bench_samples_add(&r->encode_ms, (double)enc_ns / 1e6);
        bench_samples_add(&r->decode_ms, (double)dec_ns / 1e6);
        progress(opt, r->name, r->frames, opt->frames > 0 ? opt->frames : bench_workload_length(wl),
                 start, &last_progress);
        ret = 0; /* the frame went through (a limit may end the loop before next() runs) */
    }
    if (ret > 0)
        ret = 0;
    if (ret == 0 && r->frames && opt->verify) {
        int conv = lossy && tile_classes
                       ? converge(enc, dec, &f, &r->lossless_frames, video, lossy, tile_classes,
                                  r->tiles_total)
                       : 0;
        if (conv < 0) {
            ret = conv;
            goto out;
        }
        r->mismatches += (uint64_t)conv;
    }
    /* Tile coding (pack + LZ4 + messages, not the reference update) against one LZ4 call over
     * the same bytes. */
    r->lz4_ratio = coding_ns ? (double)lz4_ns / (double)coding_ns : 0;
    if (score)
        bench_score_summarize(score, &r->classification);
    bench_video_summarize(video, &r->video);
    bench_scroll_totals(scroll, &r->scrolled_rows, &r->copied_rows);
    r->fps = bench_workload_fps(wl);
out:
    if (!opt->quiet && vd_now_ns() - start >= 2000000000u && isatty(STDERR_FILENO))
        fprintf(stderr, "\r%40s\r", "");
    free(scratch);
    free(lz4_out);
    free(tile_classes);
    free(lossy);
    bench_video_free(&video);
    bench_scroll_free(&scroll);
    bench_text_mask_free(&text_mask);
    bench_score_free(&score);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    return ret;
}

/* Full-frame scan of two identical frames (every byte read: the worst case) per kernel. */
static int bench_kernels(int width, int height, kernel_result *out, int *n_out)
{
    static const struct {
        const char *name;
        unsigned flags;
    } kernels[] = {{"c", 0}, {"sse2", VD_CPU_SSE2}, {"avx2", VD_CPU_SSE2 | VD_CPU_AVX2}};
    vd_tile_grid grid;
    vd_tile_grid_init(&grid, width, height, VD_FORMAT_BGRX8888);
    size_t bytes = (size_t)width * (size_t)height * 4, n_tiles = (size_t)grid.cols * (size_t)grid.rows;
    uint8_t *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes), *state = malloc(n_tiles);
    int ret = 0;
    *n_out = 0;
    if (!a || !b || !c || !state) {
        ret = VD_ERR(ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < bytes; i++)
        a[i] = (uint8_t)(i * 2654435761u >> 13);
    memcpy(b, a, bytes);
    memset(c, 0, bytes);
    for (size_t k = 0; k < VD_ARRAY_SIZE(kernels); k++) {
        if ((vd_cpu_flags() & kernels[k].flags) != kernels[k].flags)
            continue;
        vd_damage_dsp dsp;
        vd_damage_dsp_init(&dsp, kernels[k].flags);
        bench_samples scan = {0}, copy = {0};
        for (int run = 0; run < KERNEL_RUNS; run++) {
            memset(state, VD_TILE_CANDIDATE, n_tiles);
            uint64_t t0 = vd_now_ns();
            vd_damage_scan(&dsp, &grid, a, (size_t)width * 4, b, (size_t)width * 4, state);
            uint64_t t1 = vd_now_ns();
            memcpy_fn(c, a, bytes);
            uint64_t t2 = vd_now_ns();
            bench_samples_add(&scan, (double)(t1 - t0) / 1e6);
            bench_samples_add(&copy, (double)(t2 - t1) / 1e6);
            if (memchr(state, VD_TILE_DIRTY, n_tiles)) {
                fprintf(stderr, "vdbench: %s kernel found damage in identical frames\n",
                        kernels[k].name);
                ret = VD_ERR(EIO);
            }
        }
        out[(*n_out)++] = (kernel_result){kernels[k].name, bench_quantile(&scan, 0.5), bench_quantile(&copy, 0.5)};
        free(scan.v);
        free(copy.v);
    }
out:
    free(a);
    free(b);
    free(c);
    free(state);
    return ret;
}

/* RGB -> YUV420P of a COLOUR_W x COLOUR_H region of a 1920-wide BGRX frame, as the video
 * encoder converts it: the picked kernel (checked against the C reference), the C reference,
 * and libswscale with point-sampled chroma (what the encoder used before) and bilinear (which
 * averages, as colour.h does).  The methods take turns, so a busy machine slows them alike. */
static int bench_colour(unsigned cpu_flags, colour_result *out)
{
    enum { METHODS = 4 };
    const size_t stride = 1920 * 4, y_size = (size_t)COLOUR_W * COLOUR_H;
    vd_rgb_to_yuv_fn best = vd_rgb_to_yuv_pick(cpu_flags);
    memset(out, 0, sizeof(*out));
    out->kernel = best == vd_rgb_to_yuv_avx2 ? "avx2" : best == vd_rgb_to_yuv_sse2 ? "sse2" : "c";
    /* 64-byte aligned, as libavcodec allocates frames (swscale is slower unaligned). */
    uint8_t *src = aligned_alloc(64, stride * COLOUR_H), *planes[METHODS][3];
    int ret = src ? 0 : VD_ERR(ENOMEM);
    struct SwsContext *sws[2] = {NULL, NULL};
    for (int m = 0; m < METHODS; m++)
        for (int p = 0; p < 3; p++)
            if (!(planes[m][p] = aligned_alloc(64, p ? y_size / 4 : y_size)))
                ret = VD_ERR(ENOMEM);
    const int flags[2] = {SWS_POINT, SWS_BILINEAR}, strides[3] = {COLOUR_W, COLOUR_W / 2, COLOUR_W / 2};
    for (int i = 0; i < 2; i++)
        if (!(sws[i] = sws_getContext(COLOUR_W, COLOUR_H, AV_PIX_FMT_BGR0, COLOUR_W, COLOUR_H,
                                      AV_PIX_FMT_YUV420P, flags[i], NULL, NULL, NULL)))
            ret = VD_ERR(ENOMEM);
    if (ret < 0)
        goto out;
    for (size_t i = 0; i < stride * COLOUR_H; i++)
        src[i] = (uint8_t)(i * 2654435761u >> 13);
    bench_samples t[METHODS] = {{0}};
    for (int run = 0; run < KERNEL_RUNS; run++)
        for (int m = 0; m < METHODS; m++) {
            uint64_t t0 = vd_now_ns();
            if (m < 2) {
                (m ? vd_rgb_to_yuv_c : best)(src, stride, VD_FORMAT_BGRX8888, COLOUR_W, COLOUR_H,
                                             VD_YUV420P, planes[m], strides);
            } else {
                const uint8_t *const in[1] = {src};
                const int in_stride[1] = {(int)stride};
                sws_scale(sws[m - 2], in, in_stride, 0, COLOUR_H, planes[m], strides);
            }
            bench_samples_add(&t[m], (double)(vd_now_ns() - t0) / 1e6);
        }
    for (int p = 0; p < 3; p++)
        if (memcmp(planes[0][p], planes[1][p], p ? y_size / 4 : y_size)) {
            fprintf(stderr, "vdbench: the %s RGB -> YUV kernel differs from the C reference\n",
                    out->kernel);
            ret = VD_ERR(EIO);
        }
    double *ms[METHODS] = {&out->kernel_ms, &out->c_ms, &out->sws_point_ms, &out->sws_bilinear_ms};
    for (int m = 0; m < METHODS; m++) {
        *ms[m] = bench_quantile(&t[m], 0.5);
        free(t[m].v);
    }
out:
    for (int i = 0; i < 2; i++)
        sws_freeContext(sws[i]);
    for (int m = 0; m < METHODS; m++)
        for (int p = 0; p < 3; p++)
            free(planes[m][p]);
    free(src);
    return ret;
}

/* Fills tile (tx, ty) with natural-looking content: smooth diagonal ramps (a triangle wave, so
 * no hard edges) drifting with the frame, plus per-pixel noise as in camera footage. */
static void natural_tile(uint8_t *img, size_t stride, int tx, int ty, int width, int height,
                         int frame, uint32_t *rng)
{
    int x0 = tx * 64, y0 = ty * 64, x1 = x0 + 64 < width ? x0 + 64 : width;
    int y1 = y0 + 64 < height ? y0 + 64 : height;
    for (int y = y0; y < y1; y++) {
        uint8_t *p = img + (size_t)y * stride + (size_t)x0 * 4;
        for (int x = x0; x < x1; x++, p += 4) {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 17;
            *rng ^= *rng << 5;
            int noise = (int)(*rng & 15) - 8;
            int v[3] = {x * 3 + y + frame * 7, x + y * 2 + frame * 5 + 85,
                        x * 2 - y + frame * 3 + 170};
            for (int c = 0; c < 3; c++) {
                int t = v[c] & 511;
                t = (t < 256 ? t : 511 - t) * 3 / 4 + 32 + noise;
                p[c] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
            p[3] = 0xff;
        }
    }
}

/* The classifier's cost at 10 % damage: a 1920x1080 screen on which the same 10 % of the tiles,
 * spread over it, change every frame with natural content (so they become video), through a
 * fresh encoder with a full scan (damage = NULL) at 30 fps.  Medians of the last
 * CLASSIFY_MEASURED frames, once classification has settled. */
static int bench_classifier(unsigned cpu_flags, classify_result *out)
{
    const int width = 1920, height = 1080, cols = (width + 63) / 64, rows = (height + 63) / 64;
    size_t stride = (size_t)width * 4;
    uint8_t *img = malloc(stride * (size_t)height);
    vd_encoder *enc = NULL;
    bench_samples cls = {0}, scan = {0};
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.cpu_flags = cpu_flags;
    int ret = img ? vd_encoder_new(&cfg, &enc) : VD_ERR(ENOMEM);
    memset(out, 0, sizeof(*out));
    out->tiles = cols * rows;
    out->changed = out->tiles / 10;
    if (ret < 0)
        goto out;
    /* a static light UI-grey screen with faint structure, so unchanged tiles are not flat */
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *p = img + (size_t)y * stride + (size_t)x * 4;
            uint8_t g = (uint8_t)(y % 24 < 18 && x % 9 < 6 && (x / 9 + y / 24) % 5 ? 60 : 236);
            p[0] = p[1] = p[2] = g;
            p[3] = 0xff;
        }
    uint32_t rng = 0x9e3779b9u;
    for (int i = 0; i < CLASSIFY_FRAMES; i++) {
        /* tile k of the changed set sits in the k-th tenth of the raster, at an offset that
         * varies, which spreads the set over every row and many columns */
        for (int k = 0; k < out->changed; k++) {
            int t = k * out->tiles / out->changed + (k * 7) % 10;
            natural_tile(img, stride, t % cols, t / cols, width, height, i, &rng);
        }
        vd_frame vf = {
            .surface_id = 1,
            .format = VD_FORMAT_BGRX8888,
            .width = width,
            .height = height,
            .stride = (int32_t)stride,
            .data = img,
            .pts_us = (int64_t)i * 1000000 / 30,
        };
        if ((ret = vd_encoder_send_frame(enc, &vf)) < 0)
            goto out;
        vd_packet pkt;
        while ((ret = vd_encoder_receive_packet(enc, &pkt)) == 0)
            ;
        if (ret != VD_ERR(EAGAIN))
            goto out;
        ret = 0;
        vd_encoder_stats st;
        vd_encoder_get_stats(enc, &st);
        if (i >= CLASSIFY_FRAMES - CLASSIFY_MEASURED &&
            ((ret = bench_samples_add(&cls, (double)st.classify_ns / 1e6)) < 0 ||
             (ret = bench_samples_add(&scan, (double)st.scan_ns / 1e6)) < 0))
            goto out;
        out->damaged = (int)st.tiles_damaged;
    }
    out->classify_ms = bench_quantile(&cls, 0.5);
    out->scan_ms = bench_quantile(&scan, 0.5);
out:
    free(img);
    free(cls.v);
    free(scan.v);
    vd_encoder_free(&enc);
    return ret;
}

/* The video and 3D streams' rate, less the previews' pictures (they have no target). */
static double stream_kbps(const result *r)
{
    uint64_t bytes = r->video_bytes - VD_MIN(r->video.preview_bytes, r->video_bytes);
    return r->frames ? (double)bytes * 8 * r->fps / r->frames / 1000 : 0;
}

/* Of the lossless path: its bytes over the pixels of the tiles it sent. */
static double bits_per_damaged_pixel(const result *r)
{
    return r->damaged_pixels ? 8.0 * (double)(r->bytes - r->video_bytes) / (double)r->damaged_pixels
                             : 0;
}

static double peer_bits(const peer_bench *pb, const peer_row *row)
{
    return pb->pixels ? 8.0 * (double)row->bytes / (double)pb->pixels : 0;
}

/* A row's bits over those of "lz4", the plain per-tile baseline; 0 when there is none. */
static double peer_lz4_ratio(const peer_bench *pb, const peer_row *row)
{
    for (size_t i = 1; i <= pb->n; i++)
        if (!strcmp(pb->rows[i].name, "lz4") && pb->rows[i].bytes && !pb->rows[i].error)
            return (double)row->bytes / (double)pb->rows[i].bytes;
    return 0;
}

/* Row 0's exactness is libvd's (mismatches), the peers' their own. */
static const char *peer_exact(const result *r, size_t i)
{
    const peer_row *row = &r->peers->rows[i];
    if (row->error)
        return "error";
    return (i ? row->wrong : r->mismatches) ? "NO: untrusted" : "yes";
}

static void print_peers_text(const result *r)
{
    const peer_bench *pb = r->peers;
    printf("\n%s peers: %.0f damaged px/frame\n  %-8s %9s %7s %9s %9s  %s\n", r->name,
           r->frames ? (double)pb->pixels / r->frames : 0, "codec", "bits/dpx", "vs lz4",
           "enc MB/s", "dec MB/s", "exact");
    for (size_t i = 0; i <= pb->n; i++) {
        peer_row *row = &pb->rows[i];
        printf("  %-8s %9.3f %7.3f %9.1f %9.1f  %s\n", row->name, peer_bits(pb, row),
               peer_lz4_ratio(pb, row), bench_quantile(&row->enc_mbps, 0.5),
               bench_quantile(&row->dec_mbps, 0.5), peer_exact(r, i));
    }
}

static void print_peers_json(const result *r)
{
    const peer_bench *pb = r->peers;
    printf(",\"peers\":{\"damaged_pixels\":%" PRIu64 ",\"rows\":[", pb->pixels);
    for (size_t i = 0; i <= pb->n; i++) {
        peer_row *row = &pb->rows[i];
        printf("%s{\"name\":\"%s\",\"bytes\":%" PRIu64 ",\"bits_per_damaged_pixel\":%.4f,"
               "\"ratio_to_lz4\":%.4f,\"encode_mb_per_s\":%.1f,\"decode_mb_per_s\":%.1f,"
               "\"exact\":%s,\"error\":%s}",
               i ? "," : "", row->name, row->bytes, peer_bits(pb, row), peer_lz4_ratio(pb, row),
               bench_quantile(&row->enc_mbps, 0.5), bench_quantile(&row->dec_mbps, 0.5),
               !row->error && !(i ? row->wrong : r->mismatches) ? "true" : "false",
               row->error ? "true" : "false");
    }
    printf("]}");
}

static void print_text(const result *res, int n, const kernel_result *kr, int n_kr, int width,
                       int height, const colour_result *col, const classify_result *cr,
                       uint32_t link_bitrate)
{
    if (link_bitrate)
        printf("libvd %s vdbench, link %.0f kbit/s (--link-rate)\n\n", vd_version_string(),
               link_bitrate / 1000.0);
    else
        printf("libvd %s vdbench, no link (--link-rate 0)\n\n", vd_version_string());
    printf("%-12s %6s %9s %11s %9s %9s %8s %8s %8s %8s %7s %7s %s\n", "workload", "frames",
           "dmg tiles", "bytes/frame", "bits/dpx", "video/fr", "enc p50", "enc p95", "dec p50",
           "dec p95", "scan/mc", "lz4/ref", "exact");
    for (int i = 0; i < n; i++) {
        result *r = (result *)&res[i];
        double frames = r->frames ? (double)r->frames : 1;
        printf("%-12s %6d %9.1f %11.0f %9.3f %9.0f %8.3f %8.3f %8.3f %8.3f %7.2f %7.2f %s\n", r->name,
               r->frames, (double)r->damaged_tiles / frames, (double)r->bytes / frames,
               bits_per_damaged_pixel(r), (double)r->video_bytes / frames,
               bench_quantile(&r->encode_ms, 0.5), bench_quantile(&r->encode_ms, 0.95),
               bench_quantile(&r->decode_ms, 0.5), bench_quantile(&r->decode_ms, 0.95),
               bench_quantile(&r->scan_ratio, 0.5), r->lz4_ratio, r->mismatches ? "NO" : "yes");
    }
    printf("\ncolumns: tiles sent losslessly per frame; bytes per frame, all; bits per pixel of the\n"
           "lossless tiles; bytes per frame of video streams (video and 3D regions); encode and\n"
           "decode ms per frame; scan/mc = median full-frame damage scan time / memcpy of the same\n"
           "frame; lz4/ref = tile coding throughput / LZ4_compress_default on the same bytes as\n"
           "one buffer; exact = every frame bit-exact outside lossy tiles, and everywhere after\n"
           "build-to-lossless\n");
    for (int i = 0; i < n; i++) {
        result *r = (result *)&res[i];
        uint64_t lossless = r->tiles_copied + r->damaged_tiles;
        if (r->tiles_copied || r->tiles_cached || r->tiles_delta)
            printf("%s: of %" PRIu64 " changed tiles sent losslessly, %.1f %% went as copies of pixels the "
                   "client had, %.1f %% as cache references and %.1f %% as differences to what it "
                   "had\n", r->name, lossless, 100.0 * (double)r->tiles_copied / (double)lossless,
                   100.0 * (double)r->tiles_cached / (double)lossless,
                   100.0 * (double)r->tiles_delta / (double)lossless);
        if (r->scrolled_rows)
            printf("%s: %" PRIu64 " of %" PRIu64 " scrolled rows (%.1f %%) went as copies\n", r->name,
                   r->copied_rows, r->scrolled_rows, 100.0 * (double)r->copied_rows / (double)r->scrolled_rows);
        if (r->return_cost.n)
            printf("%s: a return to a window costs %.1f %% (p50; max %.1f %%) of the bytes of its "
                   "first showing, over %zu returns\n", r->name, 100 * bench_quantile(&r->return_cost, 0.5),
                   100 * bench_quantile(&r->return_cost, 1.0), r->return_cost.n);
    }
    for (int i = 0; i < n; i++) {
        const result *r = &res[i];
        if (r->video.previews)
            printf("%s video: %d preview(s) (one picture each, %.0f KB in all) of the costly tiles "
                   "of a whole surface sent, lossy first, then exactly or by a stream\n", r->name,
                   r->video.previews, (double)r->video.preview_bytes / 1000);
        if (!r->video.streams)
            continue;
        printf("%s video: %d stream(s), %.0f kbit/s at %.0f fps, coding %.0f frames/s (%s), "
               "Y-PSNR %.2f dB and SSIM %.4f over lossy tiles, time-to-lossless p50 %.0f ms p95 "
               "%.0f ms (%d tiles), %" PRIu64 " still pixels patched exactly while it played\n",
               r->name, r->video.streams, stream_kbps(r), r->fps,
               r->video_ns ? (double)r->video_frames * 1e9 / (double)r->video_ns : 0,
               !r->video_pictures_hw                        ? "software"
               : r->video_pictures_hw == r->video_pictures ? "hardware"
                                                            : "hardware and software",
               r->video.y_psnr, r->video.ssim, r->video.ttl_p50_ms, r->video.ttl_p95_ms,
               r->video.ttl_samples, r->pixels_patched);
        if (r->text.n_still_over)
            printf("%s video: still text over video or 3D (a subtitle, a window over a player) bit-exact on %.1f %% of its "
                   "pixel-frames (%" PRIu64 " of %" PRIu64 " not)\n", r->name,
                   100.0 * (double)(r->text.n_still_over - r->text.wrong_still_over) /
                       (double)r->text.n_still_over,
                   r->text.wrong_still_over, r->text.n_still_over);
        if (r->video.windows)
            printf("%s video: over %d whole 5 s window(s) from the first stream frame, the "
                   "streams sent %.0f to %.0f kbit/s for mean targets of %.0f to %.0f kbit/s "
                   "(%+.1f %% to %+.1f %%); %+.1f %% to %+.1f %% of what the targets allowed the "
                   "pictures coded (none while paused)\n",
                   r->name, r->video.windows, r->video.window_min_kbps, r->video.window_max_kbps,
                   r->video.target_min_kbps, r->video.target_max_kbps, r->video.off_min_pct,
                   r->video.off_max_pct, r->video.coded_off_min_pct, r->video.coded_off_max_pct);
    }
    int peers = 0;
    for (int i = 0; i < n; i++)
        if (res[i].peers) {
            print_peers_text(&res[i]);
            peers = 1;
        }
    if (peers)
        printf("\npeers (--peers): each codec on the same damaged tiles of every frame: the 64x64\n"
               "tiles whose B, G or R changed, less those libvd sent in video streams; bits per\n"
               "damaged pixel; vs lz4 = bits / plain per-tile LZ4's; MB/s of BGRX input, medians\n"
               "over frames; exact = every frame decoded and compared.  libvd: its lossless bytes\n"
               "(all but video, so build-to-lossless refreshes too), its tile coding time\n"
               "(stats.coding_ns) and its whole decode time per frame (video included);\n"
               "definitions in bench/peers.h\n");
    int baselines = 0;
    for (int i = 0; i < n; i++)
        if (res[i].have_baselines) {
            printf("%s", baselines++ ? "" : "\n");
            bench_baselines_print_text(stdout, res[i].name, res[i].bytes, &res[i].text,
                                       &res[i].baselines);
        }
    if (baselines)
        printf("\nbaselines (--baselines): the same frames as one full-frame x264 zerolatency stream\n"
               "at the link rate libvd was given (--link-rate; with 0, at libvd's average bitrate),\n"
               "and with every damaged tile lossless; ratio = bytes / libvd's; Y-PSNR in dB of the\n"
               "decoded image over text/static-labelled pixels, all and just changed from the\n"
               "previous frame; text wrong = those pixel-frames not bit-exact;\n"
               "video/3d = Y-PSNR over video/3D-labelled pixels; full-frame, same q = the stream\n"
               "again at the target that gives it libvd's video/3d Y-PSNR (within 0.1 dB), same B\n"
               "= at the one at which it sends libvd's bytes (within 1 %%), at most 5 runs each;\n"
               "definitions in bench/baselines.h\n");
    int labelled = 0;
    for (int i = 0; i < n; i++)
        if (res[i].classification.labelled) {
            bench_score_print_text(stdout, res[i].name, &res[i].classification);
            labelled = 1;
        }
    if (labelled)
        printf("\nclassification: area-weighted over damaged tiles (a tile counts as the class of\n"
               "most of its changed pixels, and is predicted video/3D when that region's stream\n"
               "carries most of its change); latency in ms from when a region's content starts\n"
               "to move to half of it classified right; flaps = changes of its majority class\n"
               "per 5 s (video and 3D: while moving, after detection); definitions in\n"
               "bench/score.h.  Targets: precision and recall >= 95 %%, video/3d latency <=\n"
               "500 ms, <= 1 flap per 5 s, classifier at 10 %% damage <= 0.5 ms (kernels below)\n");
    printf("\nkernels: full-frame %dx%d damage scan of identical frames (worst case), median of %d\n",
           width, height, KERNEL_RUNS);
    for (int i = 0; i < n_kr; i++)
        printf("  %-5s scan %7.3f ms  memcpy %7.3f ms  ratio %5.2f\n", kr[i].name, kr[i].scan_ms,
               kr[i].memcpy_ms, kr[i].scan_ms / kr[i].memcpy_ms);
    printf("  RGB -> YUV420P of a %dx%d region (BGRX), median of %d; in brackets: time / %s's\n"
           "  %-5s %7.3f ms  c %7.3f ms (%.2f)  swscale point %7.3f ms (%.2f)  bilinear %7.3f ms "
           "(%.2f)\n",
           COLOUR_W, COLOUR_H, KERNEL_RUNS, col->kernel, col->kernel, col->kernel_ms, col->c_ms,
           col->c_ms / col->kernel_ms, col->sws_point_ms, col->sws_point_ms / col->kernel_ms,
           col->sws_bilinear_ms, col->sws_bilinear_ms / col->kernel_ms);
    printf("\nclassifier at 10%% damage: %dx%d, %d of %d tiles change every frame (%d sent), full\n"
           "scan, median of the last %d of %d frames\n", width, height, cr->changed, cr->tiles,
           cr->damaged, CLASSIFY_MEASURED, CLASSIFY_FRAMES);
    printf("  classify %7.3f ms  scan %7.3f ms  ratio %5.2f\n", cr->classify_ms, cr->scan_ms,
           cr->scan_ms > 0 ? cr->classify_ms / cr->scan_ms : 0);
}

static void print_json(const result *res, int n, const kernel_result *kr, int n_kr, int width,
                       int height, const colour_result *col, const classify_result *cr,
                       uint32_t link_bitrate)
{
    printf("{\"version\":\"%s\",\"link_bitrate\":%" PRIu32 ",\"workloads\":[",
           vd_version_string(), link_bitrate);
    for (int i = 0; i < n; i++) {
        result *r = (result *)&res[i];
        printf("%s{\"name\":\"%s\",\"width\":%d,\"height\":%d,\"frames\":%d,"
               "\"damaged_tiles\":%" PRIu64 ",\"damaged_pixels\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"bits_per_damaged_pixel\":%.4f,"
               "\"encode_ms\":{\"median\":%.4f,\"p95\":%.4f},\"decode_ms\":{\"median\":%.4f,\"p95\":%.4f},"
               "\"scan_to_memcpy\":%.4f,\"tile_coding_to_lz4\":%.4f,\"bit_exact\":%s,"
               "\"video_bytes\":%" PRIu64 ",\"tiles_streamed\":%" PRIu64
               ",\"frames_to_lossless\":%d,\"video\":{\"streams\":%d,\"previews\":%d,"
               "\"preview_bytes\":%" PRIu64 ",\"pictures\":%" PRIu64
               ",\"pictures_on_hardware\":%" PRIu64 ",\"pixels_patched\":%" PRIu64
               ",\"still_text_over_video\":{\"pixel_frames\":%" PRIu64 ",\"not_exact\":%" PRIu64 "}"
               ",\"kbit_per_s\":%.1f,"
               "\"y_psnr\":%.3f,\"ssim\":%.5f,\"windows_5s\":{\"count\":%d,\"min_kbit_per_s\":%.1f,"
               "\"max_kbit_per_s\":%.1f,\"min_target_kbit_per_s\":%.1f,\"max_target_kbit_per_s\":%.1f,"
               "\"min_off_pct\":%.2f,\"max_off_pct\":%.2f,\"min_coded_off_pct\":%.2f,"
               "\"max_coded_off_pct\":%.2f},\"time_to_lossless_ms\":{\"p50\":%.1f,\"p95\":%.1f,\"tiles\":%d}}",
               i ? "," : "", r->name, r->width, r->height, r->frames, r->damaged_tiles,
               r->damaged_pixels, r->bytes, bits_per_damaged_pixel(r), bench_quantile(&r->encode_ms, 0.5),
               bench_quantile(&r->encode_ms, 0.95), bench_quantile(&r->decode_ms, 0.5),
               bench_quantile(&r->decode_ms, 0.95), bench_quantile(&r->scan_ratio, 0.5), r->lz4_ratio,
               r->mismatches ? "false" : "true", r->video_bytes, r->tiles_streamed,
               r->lossless_frames, r->video.streams, r->video.previews, r->video.preview_bytes,
               r->video_pictures, r->video_pictures_hw,
               r->pixels_patched, r->text.n_still_over, r->text.wrong_still_over, stream_kbps(r),
               r->video.y_psnr, r->video.ssim, r->video.windows, r->video.window_min_kbps,
               r->video.window_max_kbps, r->video.target_min_kbps, r->video.target_max_kbps,
               r->video.off_min_pct, r->video.off_max_pct, r->video.coded_off_min_pct,
               r->video.coded_off_max_pct, r->video.ttl_p50_ms, r->video.ttl_p95_ms, r->video.ttl_samples);
        if (r->classification.labelled) {
            printf(",\"classification\":");
            bench_score_print_json(stdout, &r->classification);
        }
        if (r->peers)
            print_peers_json(r);
        if (r->have_baselines) {
            printf(",\"baselines\":");
            bench_baselines_print_json(stdout, r->bytes, &r->text, &r->baselines);
        }
        printf("}");
    }
    printf("],\"kernels\":{\"width\":%d,\"height\":%d,\"runs\":%d,\"scan\":[", width, height,
           KERNEL_RUNS);
    for (int i = 0; i < n_kr; i++)
        printf("%s{\"name\":\"%s\",\"scan_ms\":%.4f,\"memcpy_ms\":%.4f,\"ratio\":%.4f}", i ? "," : "",
               kr[i].name, kr[i].scan_ms, kr[i].memcpy_ms, kr[i].scan_ms / kr[i].memcpy_ms);
    printf("],\"rgb_to_yuv420p\":{\"width\":%d,\"height\":%d,\"kernel\":\"%s\",\"kernel_ms\":%.4f,"
           "\"c_ms\":%.4f,\"sws_point_ms\":%.4f,\"sws_bilinear_ms\":%.4f}",
           COLOUR_W, COLOUR_H, col->kernel, col->kernel_ms, col->c_ms, col->sws_point_ms,
           col->sws_bilinear_ms);
    printf(",\"classifier_10pct\":{\"width\":%d,\"height\":%d,\"tiles\":%d,\"changed_tiles\":%d,"
           "\"sent_tiles\":%d,\"frames\":%d,\"measured\":%d,\"classify_ms\":%.4f,"
           "\"scan_ms\":%.4f,\"ratio\":%.4f}}}\n",
           width, height, cr->tiles, cr->changed, cr->damaged, CLASSIFY_FRAMES, CLASSIFY_MEASURED,
           cr->classify_ms, cr->scan_ms, cr->scan_ms > 0 ? cr->classify_ms / cr->scan_ms : 0);
}

static void usage(FILE *out)
{
    const char *const *names = bench_synthetic_names();
    fprintf(out,
            "usage: vdbench [options]\n"
            "  -w, --workload NAME   built-in workload (default: all of them); one of:");
    for (; *names; names++)
        fprintf(out, " %s", *names);
    fprintf(out, "\n"
                 "  -i, --input FILE      a video file as workload (repeatable; labels from FILE's .json)\n"
                 "  -n, --frames N        at most N frames per workload\n"
                 "  -s, --size WxH        size of the built-in workloads (default 1920x1080)\n"
                 "      --cpu c|sse2|avx2 limit the SIMD kernels (default: best available)\n"
                 "      --no-verify       skip the bit-exactness check\n"
                 "      --dump-streams DIR  write each video stream to DIR as .h264 or .ivf\n"
                 "      --codec h264|av1  the codec of video and 3D streams (default h264)\n"
                 "      --link-rate R     the link's bits per second, as libvd's link_bitrate and\n"
                 "                        the full-frame baseline's target (k and M suffixes;\n"
                 "                        default 10M; 0: no link, the baseline at libvd's rate)\n"
                 "      --repeatable      code each software video stream (libx264, libaom) on\n"
                 "                        one thread, so that its bytes repeat exactly from run\n"
                 "                        to run (to compare changes; coding is slower)\n"
                 "      --baselines       also run the same frames as one full-frame H.264 stream\n"
                 "                        and all-lossless, with text PSNR (slow)\n"
                 "      --peers           also code the damaged tiles with other lossless codecs\n"
                 "                        (lz4, lz4hc, zstd, png, planar, tight, zrle, as built)\n"
                 "                        and compare bits and speed with libvd's (slow)\n"
                 "      --gpu             only compare damage detection and the video streams' RGB ->\n"
                 "                        YUV on the GPU (Vulkan; VD_GPU picks the device, else the\n"
                 "                        best GPU, else lavapipe) with the CPU path: per-stage GPU\n"
                 "                        times, frame times and the same bytes\n"
                 "  -j, --json            machine-readable output\n"
                 "  -q, --quiet           no progress line\n"
                 "  -v, --verbose         libvd's notes too (which video backends and GPU it uses)\n"
                 "  -h, --help\n"
                 "Exit status: 0 when every frame decoded bit-exact (with --peers: every peer's too),\n"
                 "1 on a mismatch, 2 on error.\n");
}

static int parse_args(int argc, char **argv, options *opt)
{
    static const struct option longopts[] = {
        {"workload", required_argument, NULL, 'w'}, {"input", required_argument, NULL, 'i'},
        {"frames", required_argument, NULL, 'n'},   {"size", required_argument, NULL, 's'},
        {"cpu", required_argument, NULL, 'c'},      {"no-verify", no_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'j'},           {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {"dump-streams", required_argument, NULL, 'D'},
        {"baselines", no_argument, NULL, 'B'},      {"peers", no_argument, NULL, 'P'},
        {"gpu", no_argument, NULL, 'G'},            {"codec", required_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},        {"repeatable", no_argument, NULL, 'R'},
        {"link-rate", required_argument, NULL, 'L'},
        {0},
    };
    *opt = (options){.width = 1920, .height = 1080, .verify = 1, .cpu_flags = ~0u,
                     .video_codecs = VD_CODEC_H264, .link_bitrate = 10000000};
    opt->inputs = calloc((size_t)argc, sizeof(*opt->inputs));
    if (!opt->inputs)
        return -1;
    int c;
    while ((c = getopt_long(argc, argv, "w:i:n:s:jqvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'w':
            opt->workload = optarg;
            break;
        case 'v':
            vd_log_set_level(VD_LOG_INFO);
            break;
        case 'R':
            /* libx264's two sliced threads share its VBV budget as they go: the bytes vary
             * by tenths of a percent, on 30 frames by up to 3 %, from run to run. */
            vd_video_test_single_thread(1);
            break;
        case 'i':
            opt->inputs[opt->n_inputs++] = optarg;
            break;
        case 'n':
            opt->frames = atoi(optarg);
            if (opt->frames < 1)
                return -1;
            break;
        case 's':
            if (sscanf(optarg, "%dx%d", &opt->width, &opt->height) != 2)
                return -1;
            break;
        case 'c':
            if (!strcmp(optarg, "c"))
                opt->cpu_flags = 0;
            else if (!strcmp(optarg, "sse2"))
                opt->cpu_flags = VD_CPU_SSE2;
            else if (!strcmp(optarg, "avx2"))
                opt->cpu_flags = VD_CPU_SSE2 | VD_CPU_AVX2;
            else
                return -1;
            break;
        case 'V':
            opt->verify = 0;
            break;
        case 'D':
            opt->dump_dir = optarg;
            break;
        case 'B':
            opt->baselines = 1;
            break;
        case 'P':
            opt->peers = 1;
            break;
        case 'G':
            opt->gpu = 1;
            break;
        case 'C':
            if (!strcmp(optarg, "h264"))
                opt->video_codecs = VD_CODEC_H264;
            else if (!strcmp(optarg, "av1"))
                opt->video_codecs = VD_CODEC_AV1;
            else
                return -1;
            break;
        case 'L': {
            char *end;
            double rate = strtod(optarg, &end);
            int suffix = *end == 'k' || *end == 'M';
            rate *= *end == 'k' ? 1e3 : *end == 'M' ? 1e6 : 1;
            /* 0 or what a codec takes (1000) */
            if (end == optarg || end[suffix] != '\0' || !(rate == 0 || rate >= 1000) ||
                rate > UINT32_MAX)
                return -1;
            opt->link_bitrate = (uint32_t)llround(rate);
            break;
        }
        case 'j':
            opt->json = 1;
            break;
        case 'q':
            opt->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

/* Run i of main(): the input files first, then the built-in workloads.  Opening it again
 * replays the same frames (built-in workloads are deterministic), as --baselines needs. */
static const char *workload_name(const options *opt, int i)
{
    return i < opt->n_inputs ? opt->inputs[i]
           : opt->workload   ? opt->workload
                             : bench_synthetic_names()[i];
}

static int open_workload(const options *opt, int i, int frames, bench_workload **wl)
{
    if (i < opt->n_inputs)
        return bench_workload_open_file(opt->inputs[i], frames, wl);
    return bench_workload_open_synthetic(workload_name(opt, i), opt->width, opt->height, frames,
                                         wl);
}

/* A workload opened again, for bench_baselines_match(). */
typedef struct reopen_ctx {
    const options *opt;
    int i, frames;
} reopen_ctx;

static int reopen(void *ctx, bench_workload **wl)
{
    const reopen_ctx *c = ctx;
    return open_workload(c->opt, c->i, c->frames, wl);
}

/* --gpu: exit status 1 when a frame's bytes differ between the paths, 2 on an error or
 * without a Vulkan device. */
static int run_gpu(options *opt, int n_runs)
{
    bench_gpu_result *res = calloc((size_t)n_runs, sizeof(*res));
    if (!res)
        return 2;
    int n = 0, status = 0;
    for (int i = 0; i < n_runs; i++) {
        bench_workload *wl = NULL;
        int ret = open_workload(opt, i, opt->frames, &wl);
        if (ret == 0) {
            ret = bench_gpu_workload(wl, opt->frames, opt->cpu_flags, &res[n]);
            bench_workload_free(&wl);
        }
        if (ret < 0) {
            fprintf(stderr, "vdbench --gpu: %s: %s\n", workload_name(opt, i),
                    ret == VD_ERR(ENODEV) ? "no Vulkan device" : vd_strerror(ret));
            status = 2;
            continue;
        }
        const struct {
            uint64_t frames;
            const char *what;
        } differ[] = {
            {res[n].mismatches, "frames differ between the GPU and CPU paths"},
            {res[n].convert_mismatches, "frames' YUV planes differ between the GPU and CPU"},
            {res[n].video_mismatches,
             "frames with video streams differ between the GPU and CPU paths"},
            {res[n].stats_mismatches,
             "frames' tile statistics differ between the GPU and CPU paths"},
        };
        for (size_t k = 0; k < sizeof(differ) / sizeof(differ[0]); k++) {
            if (!differ[k].frames)
                continue;
            fprintf(stderr, "vdbench --gpu: %s: %" PRIu64 " %s\n", res[n].name,
                    differ[k].frames, differ[k].what);
            if (!status)
                status = 1;
        }
        n++;
    }
    if (n)
        bench_gpu_print(res, n);
    free(res);
    free(opt->inputs);
    return status;
}

int main(int argc, char **argv)
{
    /* libavcodec's encoders report per stream at info level: only errors here. */
    av_log_set_level(AV_LOG_ERROR);
    options opt;
    if (parse_args(argc, argv, &opt) < 0) {
        usage(stderr);
        return 2;
    }
    const char *const *names = bench_synthetic_names();
    int n_names = 0;
    while (names[n_names])
        n_names++;
    int n_runs = opt.n_inputs ? opt.n_inputs : opt.workload ? 1 : n_names;
    if (opt.n_inputs && opt.workload)
        n_runs++;
    if (opt.gpu)
        return run_gpu(&opt, n_runs);
    result *res = calloc((size_t)n_runs, sizeof(*res));
    if (!res)
        return 2;
    int n = 0, status = 0;
    for (int i = 0; i < n_runs; i++) {
        bench_workload *wl = NULL;
        int ret = open_workload(&opt, i, opt.frames, &wl);
        if (ret < 0) {
            fprintf(stderr, "vdbench: cannot open workload %s: %s\n", workload_name(&opt, i),
                    vd_strerror(ret));
            status = 2;
            continue;
        }
        ret = run_workload(&opt, wl, &res[n]);
        bench_workload_free(&wl);
        if (ret == 0 && opt.baselines && res[n].frames &&
            (ret = open_workload(&opt, i, res[n].frames, &wl)) == 0) {
            ret = bench_baselines_run(wl, res[n].frames, res[n].bytes, opt.link_bitrate,
                                      opt.cpu_flags, &res[n].baselines);
            bench_workload_free(&wl);
            reopen_ctx rc = {&opt, i, res[n].frames};
            int match_ret =
                ret == 0 ? bench_baselines_match(reopen, &rc, res[n].bytes, &res[n].text,
                                            &res[n].baselines)
                         : 0;
            if (match_ret < 0) /* the baselines that ran still count */
                fprintf(stderr, "vdbench: %s: full-frame run at libvd's quality or bytes failed: %s\n",
                        res[n].name, vd_strerror(match_ret));
            res[n].have_baselines = ret == 0;
        }
        if (ret < 0) {
            fprintf(stderr, "vdbench: workload %s failed: %s\n", res[n].name, vd_strerror(ret));
            status = 2;
            result_free(&res[n]);
            memset(&res[n], 0, sizeof(res[n])); /* the next run fills this slot afresh */
            continue;
        }
        if (res[n].baselines.lossless.mismatches) {
            fprintf(stderr, "vdbench: %s: lossless-only baseline: %" PRIu64
                            " frames were not bit-exact\n", res[n].name,
                    res[n].baselines.lossless.mismatches);
            if (!status)
                status = 1;
        }
        for (size_t k = 1; res[n].peers && k <= res[n].peers->n; k++)
            if (res[n].peers->rows[k].wrong) {
                fprintf(stderr, "vdbench: %s: PEER %s: %" PRIu64 " frames did not decode exactly; "
                                "its numbers are not trusted\n", res[n].name,
                        res[n].peers->rows[k].name, res[n].peers->rows[k].wrong);
                if (!status)
                    status = 1;
            }
        if (res[n].mismatches) {
            fprintf(stderr, "vdbench: %s: %" PRIu64 " frames were not bit-exact\n", res[n].name,
                    res[n].mismatches);
            if (!status)
                status = 1;
        }
        n++;
    }
    kernel_result kr[3];
    int n_kr = 0;
    if (bench_kernels(1920, 1080, kr, &n_kr) < 0)
        status = 2;
    colour_result col;
    if (bench_colour(opt.cpu_flags, &col) < 0)
        status = 2;
    classify_result cr;
    if (bench_classifier(opt.cpu_flags, &cr) < 0)
        status = 2;
    if (opt.json)
        print_json(res, n, kr, n_kr, 1920, 1080, &col, &cr, opt.link_bitrate);
    else
        print_text(res, n, kr, n_kr, 1920, 1080, &col, &cr, opt.link_bitrate);
    for (int i = 0; i < n; i++)
        result_free(&res[i]);
    free(res);
    free(opt.inputs);
    return status;
}
