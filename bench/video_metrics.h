/* vdbench: what the video streams did — their bitstreams written out for standard tools
 * (--dump-streams), the Y-PSNR and SSIM of the lossy tiles against the source, the streams'
 * bit rate over 5 s windows, and time-to-lossless.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VDBENCH_VIDEO_METRICS_H
#define VDBENCH_VIDEO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <vd/decoder.h>
#include <vd/encoder.h>

#include "workload.h"

/* The BT.601 luma difference of two BGRX pixels, as video quality is usually judged. */
static inline double bench_luma_diff(const uint8_t *a, const uint8_t *b)
{
    return 0.114 * (a[0] - b[0]) + 0.587 * (a[1] - b[1]) + 0.299 * (a[2] - b[2]);
}

typedef struct bench_video bench_video;

typedef struct bench_video_summary {
    int streams;            /* streams created (but previews) */
    /* Previews: one-picture streams that a frame creating a surface sends over its costly
     * tiles (no region's; build-to-lossless follows), and their STREAM_FRAME bytes, which the
     * windows below leave out (they have no target); not dumped */
    int previews;
    uint64_t preview_bytes;
    uint64_t lossy_pixels;  /* pixel-frames compared lossy */
    double y_psnr;          /* over all of them (BT.601 luma); 0 when none */
    double ssim;            /* mean SSIM of the luma of 8x8 windows (step 4) inside lossy
                             * tiles; 0 when none */
    int windows;            /* whole 5 s windows from the first stream frame on */
    double window_min_kbps, window_max_kbps; /* the streams' bit rate over them */
    double target_min_kbps, target_max_kbps; /* the mean of the streams' targets over them */
    double off_min_pct, off_max_pct; /* bit rate / target - 1 of the windows, in % */
    /* bytes / what the targets allowed the pictures coded in them (vd_encoder_stats.
     * video_budget: a paused stream is allowed nothing) - 1, in %, over the windows with a
     * picture; bytes are whole STREAM_FRAME messages, masks and headers included */
    double coded_off_min_pct, coded_off_max_pct;
    int ttl_samples;        /* tiles that went from lossy back to exact */
    double ttl_p50_ms, ttl_p95_ms; /* from a tile's last lossy update to exact again */
} bench_video_summary;

/* dump_dir NULL writes nothing; else DIR/NAME-stream-ID.h264 or .ivf.  Returns 0 or -errno. */
int bench_video_new(const char *dump_dir, const char *name, double fps, bench_video **out);
void bench_video_free(bench_video **bv);

/* Every packet enc sent, in order (it parses the wire messages for streams; a stream that is
 * no region's of enc is a preview). */
int bench_video_packet(bench_video *bv, const vd_encoder *enc, const uint8_t *data, size_t size);

/* After each frame: the source, the decoded image, the encoder's lossy map and its tile
 * classes (damaged = not VD_CONTENT_NONE), raster order, and its statistics (the streams'
 * targets and budget).  pts in microseconds. */
void bench_video_frame(bench_video *bv, const bench_frame *f, const vd_image *img,
                       const uint8_t *lossy, const uint8_t *classes, const vd_encoder_stats *st,
                       int64_t pts_us);

void bench_video_summarize(const bench_video *bv, bench_video_summary *sum);

#endif
