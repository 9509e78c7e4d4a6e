/* vdbench: how much of the content that scrolled reached the client as copies (issue #5: a
 * scrolling terminal sends >= 90 % of its scrolled rows as copies).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Definitions:
 *  - Scrolled row: a pixel row of a frame's scroll rectangle (bench_frame.scroll_*) whose
 *    B, G and R equal those of the previous source frame scroll_dy rows further down, over
 *    the rectangle's width: content that moved and was not redrawn.
 *  - Copied: no TILE message of the same frame (parsed from libvd's packets) covers any pixel
 *    of that row segment, and a COPY message's destination does: the row reached the client
 *    by copying (what no copy covers did not change, libvd being exact). */
#ifndef VDBENCH_SCROLL_METRICS_H
#define VDBENCH_SCROLL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "workload.h"

typedef struct bench_scroll bench_scroll;

int bench_scroll_new(bench_scroll **out);
void bench_scroll_free(bench_scroll **s);
/* Notes the COPY messages of one of the frame's packets.  0 or -ENOMEM. */
int bench_scroll_packet(bench_scroll *s, const uint8_t *data, size_t size);
/* Scores f (after all its packets) and keeps it as the previous frame.  0 or -ENOMEM. */
int bench_scroll_frame(bench_scroll *s, const bench_frame *f);
void bench_scroll_totals(const bench_scroll *s, uint64_t *scrolled_rows, uint64_t *copied_rows);

#endif
