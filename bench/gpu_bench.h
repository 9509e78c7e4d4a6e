/* vdbench --gpu (bench/gpu_bench.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_BENCH_GPU_H
#define VD_BENCH_GPU_H

#include <stdint.h>

#include "workload.h"

typedef struct bench_gpu_result {
    char name[64];
    char device[256];
    int device_is_cpu;  /* lavapipe: timings mean nothing */
    int frames, scanned_frames;
    uint64_t scanned_tiles;
    uint64_t mismatches; /* frames whose bytes differ between the paths */
    uint64_t stats_mismatches; /* frames whose tile statistics differ */
    uint64_t stats_tiles;      /* damaged tiles whose statistics were compared */
    int gpu_failed;      /* the GPU encoder fell back to the CPU during the run */
    int has_timestamps;
    double upload_ms, reference_ms, compare_ms, stats_ms; /* GPU time per stage, medians */
    double gpu_stage_ms, gpu_stage_cpu_ms;      /* the GPU path's damage stage: wall, thread CPU */
    double cpu_scan_ms;                         /* the CPU path's scan */
    /* The whole frame to NV12 on the GPU (from the frame a scan uploaded) and on the CPU. */
    double convert_ms, convert_path_ms, cpu_convert_ms; /* GPU time, wall, vd_rgb_to_yuv_c */
    uint64_t convert_mismatches;                /* frames whose planes differ */
    /* The same frames with video and 3D streams on (H.264, one coding thread so that the
     * bytes compare), over the frames that coded a stream picture on both paths: the whole
     * vd_encoder_send_frame() and its RGB -> YUV stage, medians (ms). */
    int video_frames;
    uint64_t video_mismatches, gpu_pictures;
    double frame_gpu_ms, frame_cpu_ms, yuv_gpu_ms, yuv_cpu_ms, scan_gpu_ms, scan_cpu_ms;
    /* Damage, statistics and NV12 of the whole frame together, per frame: GPU time (without
     * the upload), the GPU path's CPU time, the CPU path's time; frames read in place. */
    double total_gpu_ms, total_gpu_path_cpu_ms, total_cpu_path_ms;
    int in_place_frames, registered_frames;
} bench_gpu_result;

/* Runs up to max_frames frames (<= 0: all) of wl through both paths.  Returns 0,
 * VD_ERR(ENODEV) without a Vulkan device, or another negative error. */
int bench_gpu_workload(bench_workload *wl, int max_frames, unsigned cpu_flags, bench_gpu_result *r);

void bench_gpu_print(const bench_gpu_result *res, int n);

#endif
