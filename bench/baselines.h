/* vdbench --baselines: what the same frames cost and look like without libvd's split into
 * lossless tiles and video regions (issue #4).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Definitions:
 *  - Text pixels: those whose winning label (highest z; among equal z the later one, as in
 *    score.h) is text or static.  Unlabelled workloads have none (PSNR n/a).
 *  - Changed text pixels: text pixels whose B, G or R differs from the previous source frame
 *    of the same size; the first frame has none.
 *  - Still text over video: text pixels that a video or 3D label lies under (a subtitle) and
 *    that did not change since the previous source frame (none in a frame without one);
 *    bit-exact or not, as wrong.
 *  - Text error: over those pixels of the decoded image against the source, the BT.601 luma
 *    difference (0.299 R + 0.587 G + 0.114 B, as video_metrics.c); Y-PSNR = 10 log10(255^2 /
 *    mean squared difference), infinite when it is 0.  wrong counts the text pixels whose
 *    B, G or R differ at all (bit-exactness, which luma alone could hide).
 *  - Video/3D error: the same over the pixels whose winning label is video or 3D, in every
 *    frame: what the bytes bought where video and 3D are.
 *  - full-frame H.264: the whole frame (cropped to even width and height) through one
 *    software x264 stream with codec/video.c's real-time settings (veryfast, zerolatency, no
 *    B-frames, endless GOP) and latency_first (a two-frame rate buffer, every frame coded at
 *    once), its target bitrate = the link's rate that libvd was given too
 *    (vd_encoder_config.link_bitrate, vdbench --link-rate), as a game streamer is set to its
 *    link; with no link given (--link-rate 0), libvd's average total bitrate on the same
 *    frames (libvd bytes * 8 * fps / frames).  x264's own rate control only (not libvd's
 *    outer rate loop, which would make it send more: game streamers run x264 as it is).
 *    x264 sends less than its target on a mostly still screen (on mixed, 80-90 % at targets
 *    from 5 to 20 Mbit/s), so the bytes compared are what each really sent.  Bytes are what
 *    x264 produced (Annex B, no framing); the decoded picture is what a viewer shows (black
 *    before the first).
 *  - full-frame, same quality: the same stream again, at the target at which its video/3D
 *    Y-PSNR comes within BENCH_MATCH_DB of libvd's (secant steps on the log of the target),
 *    for a comparison of bytes at equal video quality, text aside.
 *  - full-frame, same bytes: the same at the target at which it sends libvd's bytes within
 *    BENCH_MATCH_BYTES, for a comparison of quality at equal bytes really sent.
 *  - lossless only: a vd_encoder with video_codecs = 0 and a vd_decoder; every decoded
 *    frame must equal the source (B, G, R) everywhere.  Bytes as libvd's (stats.bytes). */
#ifndef VDBENCH_BASELINES_H
#define VDBENCH_BASELINES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "workload.h"

typedef struct bench_text_mask bench_text_mask;

int bench_text_mask_new(bench_text_mask **out);
void bench_text_mask_free(bench_text_mask **m);
/* Marks f's text, changed text and video/3D pixels; call once per frame, in order.  0 or
 * -ENOMEM. */
int bench_text_mask_update(bench_text_mask *m, const bench_frame *f);
/* For a frame not given to the mask: the next update has no previous frame. */
void bench_text_mask_skip(bench_text_mask *m);
/* Whether a text or static label of f lies over a video or 3D one (still text over video is
 * measured only then, outside --baselines: the mask walks every pixel). */
int bench_text_over_natural(const bench_frame *f);

typedef struct bench_text_error {
    double se_all, se_changed; /* summed squared luma differences */
    uint64_t n_all, n_changed; /* pixel-frames */
    uint64_t wrong;            /* text pixel-frames not bit-exact */
    uint64_t n_still_over, wrong_still_over; /* still text over video: pixel-frames, not exact */
    double se_natural;         /* ... over video and 3D pixels */
    uint64_t n_natural;
} bench_text_error;

/* Adds the frame last given to the mask, decoded as img (BGRX, stride bytes per row); only
 * its top-left width x height pixels are compared. */
void bench_text_error_add(bench_text_error *e, const bench_text_mask *m, const bench_frame *f,
                          const uint8_t *img, size_t stride, int width, int height);

typedef struct bench_baseline {
    uint64_t bytes;
    bench_text_error text;
    uint64_t mismatches; /* lossless only: frames not bit-exact */
} bench_baseline;

/* A full-frame run found by a search: bitrate 0 when none ran. */
typedef struct bench_match {
    int64_t bitrate;      /* its target */
    bench_baseline run;
    int ok;               /* within the search's tolerance; else the nearest run */
} bench_match;

typedef struct bench_baselines {
    int frames;
    int64_t h264_bitrate; /* its target, bits per second */
    int at_link;          /* that target is the link's rate (else libvd's average) */
    double h264_target_bytes; /* what that target allows over the frames run */
    int h264_width, h264_height;
    bench_baseline h264, lossless;
    /* The full-frame stream again at the target that gives its video/3D pixels libvd's Y-PSNR,
     * and at the one at which it sends libvd's bytes (bench_baselines_match()). */
    bench_match same_quality, same_bytes;
} bench_baselines;

#define BENCH_MATCH_RUNS 5      /* full-frame runs at most, per search */
#define BENCH_MATCH_DB 0.1      /* close enough in Y-PSNR */
#define BENCH_MATCH_BYTES 0.01  /* close enough in bytes: this fraction */

/* Runs both baselines over the first `frames` frames of wl (a fresh copy of the workload
 * libvd ran, which sent libvd_bytes for them over a link of link_bitrate bits per second, 0
 * when none was given).  Returns 0 or a negative errno. */
int bench_baselines_run(bench_workload *wl, int frames, uint64_t libvd_bytes,
                        int64_t link_bitrate, unsigned cpu_flags, bench_baselines *out);

/* Runs the full-frame stream again (a fresh copy of the workload from open each time), at
 * most BENCH_MATCH_RUNS times per search, keeping the nearest run: in b->same_quality until
 * its video/3D Y-PSNR is within BENCH_MATCH_DB of libvd's (its error over the same pixels),
 * what full-frame H.264 costs for the quality libvd gives video and 3D (nothing when either
 * has no such pixels, or libvd's are exact); in b->same_bytes until it sends libvd_bytes
 * within BENCH_MATCH_BYTES, what it shows for what libvd sent.  The first run itself when it
 * is close enough.  Returns 0 or a negative errno. */
int bench_baselines_match(int (*open)(void *ctx, bench_workload **wl), void *ctx,
                          uint64_t libvd_bytes, const bench_text_error *libvd, bench_baselines *b);

/* The table (after the video lines) and the JSON object (no leading key); libvd's row from
 * its bytes and text error over the same frames. */
void bench_baselines_print_text(FILE *out, const char *name, uint64_t libvd_bytes,
                                const bench_text_error *libvd_text, const bench_baselines *b);
void bench_baselines_print_json(FILE *out, uint64_t libvd_bytes,
                                const bench_text_error *libvd_text, const bench_baselines *b);

#endif
