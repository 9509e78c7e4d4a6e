/* vdbench --gpu: the same frames through an encoder that detects damage on the GPU and one
 * that does it on the CPU, lossless only (video off) so that damage detection is what differs.
 * Every frame's bytes and every damaged tile's classifier statistics must agree; the times are
 * medians over the frames both scanned.  Besides, each whole frame goes to NV12 on the GPU
 * (vd_gpu_convert(), a context of its own) and through the CPU path's fastest kernel
 * (vd_rgb_to_yuv_pick()): same planes, times.
 * Then the whole path with video streams on: a GPU encoder that converts the streams' pictures
 * on the GPU and a CPU one, frame times with their RGB -> YUV stage, the same bytes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L

#include "gpu_bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vd/vd.h>

#include "codec/video.h"
#include "lib/clock.h"
#include "lib/gpu.h"

/* The device: VD_GPU if set (then cleared, or it would turn the CPU encoder's GPU on too),
 * else the best GPU, else device 0 (lavapipe where there is no GPU). */
static void gpu_config(vd_encoder_config *cfg)
{
    static char name[256];
    static int read_env;
    static enum vd_gpu_choice choice = VD_GPU_AUTO;
    static int32_t index;
    if (!read_env) {
        read_env = 1;
        const char *env = getenv("VD_GPU");
        if (env && *env) {
            snprintf(name, sizeof(name), "%s", env);
            char *end;
            long v = strtol(name, &end, 10);
            choice = !strcmp(name, "off")  ? VD_GPU_OFF
                     : !strcmp(name, "auto") ? VD_GPU_AUTO
                     : *end == '\0'          ? VD_GPU_INDEX
                                             : VD_GPU_NAME;
            index = (int32_t)v;
            unsetenv("VD_GPU");
        }
    }
    cfg->gpu = choice;
    cfg->gpu_index = index;
    cfg->gpu_name = name;
}

typedef struct packets {
    uint8_t *data;
    size_t size, cap;
} packets;

/* The RGB -> YUV side: a GPU context and surface of the frame's size, and both paths' planes. */
typedef struct converter {
    vd_gpu *gpu;
    vd_gpu_surface *surf;
    vd_tile_grid grid;
    uint8_t *prev, *state, *planes[2]; /* [0] the GPU's, [1] the CPU's */
    size_t plane_size;
} converter;

static void converter_free(converter *c)
{
    vd_gpu_surface_free(c->gpu, &c->surf);
    vd_gpu_free(&c->gpu);
    free(c->prev);
    free(c->state);
    free(c->planes[0]);
    free(c->planes[1]);
    *c = (converter){0};
}

/* Converts one frame both ways and adds the times; 0, or a negative error (the GPU's failure
 * is one: the run then reports it).  ms: this frame's GPU time, the GPU path's CPU time and
 * the CPU's conversion time. */
static int convert_frame(converter *c, const vd_encoder_config *cfg, const bench_frame *f,
                         bench_samples s[3], uint64_t *mismatches, double ms[3])
{
    if (c->grid.width != f->width || c->grid.height != f->height || !c->gpu) {
        converter_free(c);
        vd_tile_grid_init(&c->grid, f->width, f->height, VD_FORMAT_BGRX8888);
        size_t n_tiles = (size_t)c->grid.cols * (size_t)c->grid.rows;
        c->plane_size = (size_t)f->width * (size_t)f->height + 2 * (size_t)((f->width + 1) / 2) * (size_t)((f->height + 1) / 2);
        c->prev = calloc((size_t)f->width * 4, (size_t)f->height);
        c->state = malloc(n_tiles);
        /* The GPU's planes registered, as the encoder's are: the device writes them there. */
        c->planes[0] = aligned_alloc(4096, (c->plane_size + 4095) & ~(size_t)4095);
        c->planes[1] = malloc(c->plane_size);
        if (!c->prev || !c->state || !c->planes[0] || !c->planes[1])
            return VD_ERR(ENOMEM);
        if (!(c->gpu = vd_gpu_new(cfg)) || vd_gpu_surface_new(c->gpu, &c->grid, &c->surf) < 0 || !c->surf)
            return VD_ERR(ENODEV);
        vd_gpu_register(c->gpu, c->planes[0], c->plane_size, 1);
    }
    memset(c->state, VD_TILE_CANDIDATE, (size_t)c->grid.cols * (size_t)c->grid.rows);
    vd_rect none = {0, 0, 0, 0};
    int strides[3] = {f->width, 2 * ((f->width + 1) / 2), 0};
    uint8_t *gp[3] = {c->planes[0], c->planes[0] + (size_t)f->width * (size_t)f->height, NULL};
    uint8_t *cp[3] = {c->planes[1], c->planes[1] + (size_t)f->width * (size_t)f->height, NULL};
    vd_gpu_yuv_job job = {{0, 0, f->width, f->height}, VD_YUV_NV12, {gp[0], gp[1], gp[2]},
                          {strides[0], strides[1], strides[2]}};
    if (vd_gpu_damage_scan(c->gpu, c->surf, f->data, f->stride, NULL, c->prev, c->state, &none, NULL) < 0 ||
        vd_gpu_convert(c->gpu, c->surf, VD_FORMAT_BGRX8888, &job, 1) < 0)
        return VD_ERR(EIO);
    uint64_t t0 = vd_now_ns();
    vd_rgb_to_yuv_pick(cfg->cpu_flags)(f->data, f->stride, VD_FORMAT_BGRX8888, f->width, f->height, VD_YUV_NV12, cp,
                    strides);
    uint64_t cpu_ns = vd_now_ns() - t0;
    *mismatches += memcmp(c->planes[0], c->planes[1], c->plane_size) != 0;
    vd_gpu_times t;
    vd_gpu_get_times(c->gpu, &t);
    ms[0] = (double)t.convert_ns / 1e6;
    ms[1] = (double)t.convert_host_cpu_ns / 1e6;
    ms[2] = (double)cpu_ns / 1e6;
    int ret;
    if ((ret = bench_samples_add(&s[0], (double)t.convert_ns / 1e6)) < 0 ||
        (ret = bench_samples_add(&s[1], (double)t.convert_host_ns / 1e6)) < 0 ||
        (ret = bench_samples_add(&s[2], (double)cpu_ns / 1e6)) < 0)
        return ret;
    return 0;
}

static int drain(vd_encoder *enc, packets *p)
{
    p->size = 0;
    vd_packet pkt;
    while (vd_encoder_receive_packet(enc, &pkt) == 0) {
        if (p->size + pkt.size > p->cap) {
            size_t cap = 2 * (p->size + pkt.size);
            uint8_t *d = realloc(p->data, cap);
            if (!d)
                return VD_ERR(ENOMEM);
            p->data = d;
            p->cap = cap;
        }
        memcpy(p->data + p->size, pkt.data, pkt.size);
        p->size += pkt.size;
    }
    return 0;
}

/* The video pair: each frame through both encoders, timed; frames that coded a stream picture
 * on both add their times.  0, or a negative error. */
typedef struct video_pair {
    vd_encoder *enc[2]; /* [0] the GPU's, [1] the CPU's */
    packets out[2];
} video_pair;

static int video_pair_frame(video_pair *vp, const vd_frame *vf, bench_samples s[6],
                            bench_gpu_result *r)
{
    double ms[2], yuv[2], scan[2];
    int coded = 1, ret;
    for (int k = 0; k < 2; k++) {
        uint64_t t0 = vd_now_ns();
        if ((ret = vd_encoder_send_frame(vp->enc[k], vf)) < 0)
            return ret;
        ms[k] = (double)(vd_now_ns() - t0) / 1e6;
        if ((ret = drain(vp->enc[k], &vp->out[k])) < 0)
            return ret;
        vd_encoder_stats st;
        vd_encoder_get_stats(vp->enc[k], &st);
        vd_encoder_yuv_stats ys;
        vd_encoder_get_yuv_stats(vp->enc[k], &ys);
        coded &= st.video_bytes > 0;
        yuv[k] = (double)ys.convert_ns / 1e6;
        scan[k] = (double)st.scan_ns / 1e6;
        if (k == 0)
            r->gpu_pictures = ys.gpu_pictures;
    }
    if (vp->out[0].size != vp->out[1].size || memcmp(vp->out[0].data, vp->out[1].data, vp->out[0].size))
        r->video_mismatches++;
    if (!coded)
        return 0;
    r->video_frames++;
    if ((ret = bench_samples_add(&s[0], ms[0])) < 0 || (ret = bench_samples_add(&s[1], ms[1])) < 0 ||
        (ret = bench_samples_add(&s[2], yuv[0])) < 0 || (ret = bench_samples_add(&s[3], yuv[1])) < 0 ||
        (ret = bench_samples_add(&s[4], scan[0])) < 0 || (ret = bench_samples_add(&s[5], scan[1])) < 0)
        return ret;
    return 0;
}

int bench_gpu_workload(bench_workload *wl, int max_frames, unsigned cpu_flags, bench_gpu_result *r)
{
    *r = (bench_gpu_result){0};
    snprintf(r->name, sizeof(r->name), "%s", bench_workload_name(wl));
    vd_encoder_config gcfg, ccfg;
    vd_encoder_config_default(&gcfg);
    gcfg.cpu_flags = cpu_flags;
    gcfg.video_codecs = 0;
    ccfg = gcfg;
    ccfg.gpu = VD_GPU_OFF;
    gpu_config(&gcfg);
    vd_encoder *ge = NULL, *ce = NULL;
    packets pa = {0}, pb = {0};
    bench_samples s[17] = {{0}}, vs[6] = {{0}}; /* vs: the video pair's */
    uint8_t *classes = NULL;
    converter conv = {0};
    video_pair vp = {{NULL, NULL}, {{0}}};
    int ret = vd_encoder_new(&gcfg, &ge);
    if (ret == 0 && !vd_encoder_gpu(ge) && gcfg.gpu == VD_GPU_AUTO) {
        /* No GPU: a CPU implementation still checks the results. */
        vd_encoder_free(&ge);
        gcfg.gpu = VD_GPU_INDEX;
        gcfg.gpu_index = 0;
        ret = vd_encoder_new(&gcfg, &ge);
    }
    if (ret < 0 || (ret = vd_encoder_new(&ccfg, &ce)) < 0)
        goto out;
    if (!vd_encoder_gpu(ge)) {
        ret = VD_ERR(ENODEV);
        goto out;
    }
    {
        vd_encoder_config vcfg[2] = {gcfg, ccfg};
        vd_video_test_single_thread(1); /* for the streams opened while it runs */
        for (int k = 0; k < 2 && ret == 0; k++) {
            vcfg[k].video_codecs = VD_CODEC_H264;
            ret = vd_encoder_new(&vcfg[k], &vp.enc[k]);
        }
        if (ret < 0)
            goto out;
    }
    snprintf(r->device, sizeof(r->device), "%s", vd_gpu_device_name(vd_encoder_gpu(ge)));
    r->device_is_cpu = vd_gpu_device_is_cpu(vd_encoder_gpu(ge));
    bench_frame f;
    const uint8_t *registered = NULL;
    while ((max_frames <= 0 || r->frames < max_frames) && (ret = bench_workload_next(wl, &f)) > 0) {
        vd_frame vf = {.surface_id = 1, .format = VD_FORMAT_BGRX8888, .width = f.width,
                       .height = f.height, .stride = (int32_t)f.stride, .data = f.data,
                       .pts_us = f.pts_us};
        /* A synthetic workload draws every frame into one framebuffer: the GPU encoders
         * read it in place, as a hypervisor's registered guest framebuffer.  (A file's
         * frames may move on a resize, freed before the next call returns: not registered.) */
        if (!registered && bench_workload_one_buffer(wl)) {
            vd_encoder *gpu_encs[2] = {ge, vp.enc[0]};
            for (int k = 0; k < 2; k++)
                if ((ret = vd_encoder_register_buffer(gpu_encs[k], f.data,
                                                      f.stride * (size_t)(f.height - 1) +
                                                          (size_t)f.width * 4)) < 0)
                    goto out;
            registered = f.data;
        }
        if ((ret = vd_encoder_send_frame(ge, &vf)) < 0 || (ret = drain(ge, &pa)) < 0 ||
            (ret = vd_encoder_send_frame(ce, &vf)) < 0 || (ret = drain(ce, &pb)) < 0)
            goto out;
        r->frames++;
        if (pa.size != pb.size || memcmp(pa.data, pb.data, pa.size))
            r->mismatches++;
        if ((ret = video_pair_frame(&vp, &vf, vs, r)) < 0)
            goto out;
        /* The statistics each classified tile was given (the GPU's where it took them). */
        size_t n_tiles = (size_t)((f.width + 63) / 64) * (size_t)((f.height + 63) / 64);
        uint8_t *cl = realloc(classes, n_tiles);
        if (!cl) {
            ret = VD_ERR(ENOMEM);
            goto out;
        }
        classes = cl;
        const vd_tile_stats *sa = vd_encoder_tile_stats(ge, 1), *sb = vd_encoder_tile_stats(ce, 1);
        int n = vd_encoder_get_tile_classes(ce, 1, classes, n_tiles), differ = 0;
        for (int i = 0; i < n; i++) {
            if (classes[i] == VD_CONTENT_NONE)
                continue;
            r->stats_tiles++;
            differ |= sa[i].changed != sb[i].changed || sa[i].noise != sb[i].noise ||
                      sa[i].pairs != sb[i].pairs || sa[i].smooth != sb[i].smooth ||
                      sa[i].colours != sb[i].colours || sa[i].blocks != sb[i].blocks ||
                      sa[i].pixels != sb[i].pixels;
        }
        r->stats_mismatches += (uint64_t)differ;
        double conv_ms[3];
        if ((ret = convert_frame(&conv, &gcfg, &f, &s[7], &r->convert_mismatches, conv_ms)) < 0)
            goto out;
        vd_gpu *g = vd_encoder_gpu(ge);
        if (!g) {
            r->gpu_failed = 1;
            continue;
        }
        vd_encoder_stats gs, cs;
        vd_encoder_get_stats(ge, &gs);
        vd_encoder_get_stats(ce, &cs);
        if (!cs.tiles_scanned) /* a frame that sends everything is not scanned */
            continue;
        vd_gpu_times t;
        vd_gpu_get_times(g, &t);
        r->scanned_frames++;
        r->scanned_tiles += cs.tiles_scanned;
        r->has_timestamps = t.has_timestamps;
        r->in_place_frames += t.from_host != 0;
        r->registered_frames += t.from_host == 2;
        if ((ret = bench_samples_add(&s[0], (double)t.upload_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[1], (double)t.reference_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[2], (double)t.compare_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[3], (double)gs.scan_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[4], (double)t.host_cpu_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[5], (double)cs.scan_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[6], (double)t.stats_ns / 1e6)) < 0 ||
            (ret = bench_samples_add(&s[14], (double)(t.reference_ns + t.compare_ns + t.stats_ns) /
                                                     1e6 + conv_ms[0])) < 0 ||
            (ret = bench_samples_add(&s[15], (double)(t.host_cpu_ns + gs.classify_ns) / 1e6 +
                                                     conv_ms[1])) < 0 ||
            (ret = bench_samples_add(&s[16], (double)(cs.scan_ns + cs.classify_ns) / 1e6 +
                                                     conv_ms[2])) < 0)
            goto out;
    }
    r->upload_ms = bench_quantile(&s[0], 0.5);
    r->reference_ms = bench_quantile(&s[1], 0.5);
    r->compare_ms = bench_quantile(&s[2], 0.5);
    r->gpu_stage_ms = bench_quantile(&s[3], 0.5);
    r->gpu_stage_cpu_ms = bench_quantile(&s[4], 0.5);
    r->cpu_scan_ms = bench_quantile(&s[5], 0.5);
    r->stats_ms = bench_quantile(&s[6], 0.5);
    r->convert_ms = bench_quantile(&s[7], 0.5);
    r->convert_path_ms = bench_quantile(&s[8], 0.5);
    r->cpu_convert_ms = bench_quantile(&s[9], 0.5);
    r->frame_gpu_ms = bench_quantile(&vs[0], 0.5);
    r->frame_cpu_ms = bench_quantile(&vs[1], 0.5);
    r->yuv_gpu_ms = bench_quantile(&vs[2], 0.5);
    r->yuv_cpu_ms = bench_quantile(&vs[3], 0.5);
    r->scan_gpu_ms = bench_quantile(&vs[4], 0.5);
    r->scan_cpu_ms = bench_quantile(&vs[5], 0.5);
    r->total_gpu_ms = bench_quantile(&s[14], 0.5);
    r->total_gpu_path_cpu_ms = bench_quantile(&s[15], 0.5);
    r->total_cpu_path_ms = bench_quantile(&s[16], 0.5);
out:
    vd_video_test_single_thread(0);
    for (int k = 0; k < 2; k++) {
        vd_encoder_free(&vp.enc[k]);
        free(vp.out[k].data);
    }
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        free(s[i].v);
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++)
        free(vs[i].v);
    free(classes);
    converter_free(&conv);
    free(pa.data);
    free(pb.data);
    vd_encoder_free(&ge);
    vd_encoder_free(&ce);
    return ret < 0 ? ret : 0;
}

void bench_gpu_print(const bench_gpu_result *res, int n)
{
    printf("libvd %s vdbench --gpu: damage detection on the GPU against the CPU path\n\n",
           vd_version_string());
    for (int i = 0; i < n; i++)
        if (!i || strcmp(res[i].device, res[i - 1].device))
            printf("device: %s%s\n", res[i].device,
                   res[i].device_is_cpu
                       ? " -- a CPU implementation (lavapipe or alike): its GPU timings mean nothing, "
                         "only the bit-exactness counts"
                       : "");
    printf("\n%-12s %6s %9s %8s %8s %8s %8s %8s %9s %9s %8s %8s %s\n", "workload", "frames",
           "scan tl/f", "upload", "ref upd", "compare", "stats", "gpu sum", "gpu path", "gpu cpu",
           "cpu path", "cpu/cpu", "same bytes, stats");
    for (int i = 0; i < n; i++) {
        const bench_gpu_result *r = &res[i];
        double gsum = r->upload_ms + r->reference_ms + r->compare_ms + r->stats_ms;
        char ts[5][16];
        if (r->has_timestamps) {
            snprintf(ts[0], sizeof(ts[0]), "%8.3f", r->upload_ms);
            snprintf(ts[1], sizeof(ts[1]), "%8.3f", r->reference_ms);
            snprintf(ts[2], sizeof(ts[2]), "%8.3f", r->compare_ms);
            snprintf(ts[3], sizeof(ts[3]), "%8.3f", r->stats_ms);
            snprintf(ts[4], sizeof(ts[4]), "%8.3f", gsum);
        } else {
            for (int k = 0; k < 5; k++)
                snprintf(ts[k], sizeof(ts[k]), "%8s", "-");
        }
        printf("%-12s %6d %9.1f %s %s %s %s %s %9.3f %9.3f %8.3f %8.2f %s, %s (%llu tiles)%s\n",
               r->name, r->frames,
               r->scanned_frames ? (double)r->scanned_tiles / r->scanned_frames : 0, ts[0], ts[1],
               ts[2], ts[3], ts[4], r->gpu_stage_ms, r->gpu_stage_cpu_ms, r->cpu_scan_ms,
               r->cpu_scan_ms > 0 ? r->gpu_stage_cpu_ms / r->cpu_scan_ms : 0,
               r->mismatches ? "NO" : "yes", r->stats_mismatches ? "NO" : "yes",
               (unsigned long long)r->stats_tiles,
               r->gpu_failed ? " (the GPU failed: CPU path since)" : "");
    }
    printf("\ncolumns (ms, medians over the frames scanned): scan tl/f = candidate tiles per frame;\n"
           "upload, ref upd, compare, stats = GPU time of each stage of the one submission per\n"
           "frame (timestamp queries: staging -> device copy of the frame, the reference's update\n"
           "from the previous frame's sent tiles, the compare dispatch, the classifier's tile\n"
           "statistics dispatch), gpu sum = their sum;\n"
           "gpu path = wall-clock time of the damage stage on the GPU path (staging copy, submit,\n"
           "wait, mask), gpu cpu = the same in the encoder thread's CPU time; cpu path = the CPU\n"
           "path's scan (vd_damage_scan); cpu/cpu = gpu cpu / cpu path; same bytes, stats = every\n"
           "frame's packets identical on both paths, and every classified tile's statistics (in\n"
           "brackets: how many tiles were compared)\n");
    printf("\n%-12s %9s %9s %9s %8s %s\n", "workload", "yuv gpu", "yuv path", "yuv cpu", "cpu/path",
           "same planes");
    for (int i = 0; i < n; i++) {
        const bench_gpu_result *r = &res[i];
        char ts[16];
        if (r->has_timestamps)
            snprintf(ts, sizeof(ts), "%9.3f", r->convert_ms);
        else
            snprintf(ts, sizeof(ts), "%9s", "-");
        printf("%-12s %s %9.3f %9.3f %8.2f %s\n", r->name, ts, r->convert_path_ms, r->cpu_convert_ms,
               r->convert_path_ms > 0 ? r->cpu_convert_ms / r->convert_path_ms : 0,
               r->convert_mismatches ? "NO" : "yes");
    }
    printf("\nRGB -> NV12 of each whole frame (ms, medians): yuv gpu = GPU time of the conversion's\n"
           "dispatch (timestamp queries), yuv path = vd_gpu_convert() wall clock (submit, wait,\n"
           "planes written in place, as the encoder's are, or else read back), yuv cpu = the CPU path's kernel (vd_rgb_to_yuv_pick()); same\n"
           "planes = every frame's planes identical\n");
    printf("\n%-12s %6s %8s %9s %9s %9s %9s %9s %9s %s\n", "workload", "frames", "gpu pics",
           "frame gpu", "scan gpu", "yuv gpu", "frame cpu", "scan cpu", "yuv cpu", "same bytes");
    for (int i = 0; i < n; i++) {
        const bench_gpu_result *r = &res[i];
        if (!r->video_frames && !r->video_mismatches)
            continue;
        printf("%-12s %6d %8llu %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %s\n", r->name,
               r->video_frames, (unsigned long long)r->gpu_pictures, r->frame_gpu_ms,
               r->scan_gpu_ms, r->yuv_gpu_ms, r->frame_cpu_ms, r->scan_cpu_ms, r->yuv_cpu_ms,
               r->video_mismatches ? "NO" : "yes");
    }
    printf("\nwith video and 3D streams on (H.264, one coding thread; workloads whose frames coded a\n"
           "stream picture; ms, medians over those frames): frames = how many; gpu pics = stream\n"
           "pictures coded from planes converted on the GPU; frame gpu, frame cpu = the whole\n"
           "vd_encoder_send_frame() on the GPU and the CPU path; scan gpu, scan cpu = its damage\n"
           "stage (wall clock); yuv gpu, yuv cpu = its RGB -> YUV\n"
           "stage (vd_gpu_convert() from entry to planes plus their copy into the encoders, or the\n"
           "CPU's conversion); same bytes = every frame's packets identical on both paths\n");
    printf("\n%-12s %10s %8s %8s %11s %11s %8s\n", "workload", "gpu d+s+yuv", "upload", "in place",
           "cpu gpu path", "cpu cpu path", "cpu/cpu");
    for (int i = 0; i < n; i++) {
        const bench_gpu_result *r = &res[i];
        char ts[2][16];
        if (r->has_timestamps) {
            snprintf(ts[0], sizeof(ts[0]), "%11.3f", r->total_gpu_ms);
            snprintf(ts[1], sizeof(ts[1]), "%8.3f", r->upload_ms);
        } else {
            snprintf(ts[0], sizeof(ts[0]), "%11s", "-");
            snprintf(ts[1], sizeof(ts[1]), "%8s", "-");
        }
        printf("%-12s %s %s %8s %12.3f %12.3f %8.2f\n", r->name, ts[0], ts[1],
               r->registered_frames == r->scanned_frames ? "reg"
               : r->in_place_frames == r->scanned_frames ? "frame"
               : r->in_place_frames                      ? "some"
                                                         : "no",
               r->total_gpu_path_cpu_ms, r->total_cpu_path_ms,
               r->total_cpu_path_ms > 0 ? r->total_gpu_path_cpu_ms / r->total_cpu_path_ms : 0);
    }
    printf("\ndamage + statistics + NV12 of the whole frame, per frame (ms, medians of per-frame\n"
           "sums over the frames scanned): gpu d+s+yuv = GPU time of the reference update, the\n"
           "compare, the statistics and the conversion; upload = GPU time of the frame's copy to the\n"
           "device, from host memory read in place (in place: reg = a registered buffer, pinned once;\n"
           "frame = pinned for each frame; no = copied to staging); cpu gpu path =\n"
           "CPU time of the GPU path (scan, classification, conversion); cpu cpu\n"
           "path = the CPU path's scan, classification (with the statistics) and conversion;\n"
           "cpu/cpu = their ratio\n");
}
