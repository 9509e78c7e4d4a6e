/* vdbench classification scoring; definitions in score.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "score.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/internal.h"

#define MAX_TRACKED_ID (1 << 24) /* label ids above this are scored but not tracked */
#define SCORE_START_RUN 3

typedef struct tracked {
    int cls;                 /* SCORE_* */
    int start, last;         /* frame indices; -1 = not yet */
    /* Video/3D regions: every damaged frame, for the latency (worked out at the end, since
     * when the content "starts to move" depends on how much of it moves at most). */
    struct lat_sample {
        int index;
        uint8_t right;       /* at least half of its damaged pixels predicted its class */
        uint8_t major;       /* the class predicted for most of them */
        uint64_t damaged;
    } *lat;
    size_t n_lat, cap_lat;
    int major, flaps;        /* last majority prediction (-1 = none), changes of it */
    int stamp;               /* frame counter of the last frame that touched cur */
    uint64_t cur[SCORE_N];   /* this frame's damaged pixels by predicted class */
} tracked;

struct bench_score {
    double fps;
    int frames, width, height, labelled, scored;
    uint64_t conf[SCORE_N][SCORE_N];
    tracked *trk;
    size_t n_trk, cap_trk;
    int *slot_of_id; /* id -> slot + 1; 0 = none */
    size_t cap_ids;
    struct cost { double classify_ms, scan_ms; } *cost;
    size_t n_cost, cap_cost;
    /* per-frame scratch carved from one buffer: labels in priority order, tracking slot per
     * label, a tile's labels and predictions, a tile's band edges */
    int *scratch, *order, *slot, *cand, *ys;
    uint64_t *won, *won_changed; /* per candidate label of a tile: pixels it wins, changed ones */
    uint8_t *prev; /* the frame before (width * 4 bytes a row), for what changed */
    size_t prev_size;
    size_t cap_won;
    size_t cap_scratch;
};

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*(void **)pp, n * elem);
    if (!p)
        return -ENOMEM;
    *(void **)pp = p;
    *cap = n;
    return 0;
}

int bench_score_new(double fps, bench_score **out)
{
    *out = NULL;
    if (!(fps > 0))
        return -EINVAL;
    bench_score *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fps = fps;
    *out = s;
    return 0;
}

void bench_score_free(bench_score **ps)
{
    bench_score *s = *ps;
    if (!s)
        return;
    for (size_t i = 0; i < s->n_trk; i++)
        free(s->trk[i].lat);
    free(s->trk);
    free(s->slot_of_id);
    free(s->cost);
    free(s->scratch);
    free(s->won);
    free(s->prev);
    free(s);
    *ps = NULL;
}

const char *bench_score_class_name(int k)
{
    static const char *const names[SCORE_N] = {"text", "video", "3d"};
    return k >= 0 && k < SCORE_N ? names[k] : "?";
}

static int scored_class(enum bench_class c)
{
    switch (c) {
    case BENCH_CLASS_STATIC:
    case BENCH_CLASS_TEXT:
        return SCORE_TEXT;
    case BENCH_CLASS_VIDEO:
        return SCORE_VIDEO;
    case BENCH_CLASS_3D:
        return SCORE_3D;
    default:
        return -1;
    }
}

static int pred_class(uint8_t c)
{
    return c == VD_CONTENT_VIDEO ? SCORE_VIDEO : c == VD_CONTENT_3D ? SCORE_3D : SCORE_TEXT;
}

/* The tracking slot of a label id, created on first sight; -1 when untracked. */
static int slot_for(bench_score *s, int id, int cls)
{
    if (id < 0 || id >= MAX_TRACKED_ID)
        return -1;
    if ((size_t)id >= s->cap_ids) {
        size_t old = s->cap_ids;
        if (grow(&s->slot_of_id, &s->cap_ids, (size_t)id + 1, sizeof(int)) < 0)
            return -2;
        memset(s->slot_of_id + old, 0, (s->cap_ids - old) * sizeof(int));
    }
    if (s->slot_of_id[id])
        return s->slot_of_id[id] - 1;
    if (grow(&s->trk, &s->cap_trk, s->n_trk + 1, sizeof(tracked)) < 0)
        return -2;
    s->trk[s->n_trk] = (tracked){.cls = cls, .start = -1, .last = -1, .major = -1,
                                 .stamp = -1};
    s->slot_of_id[id] = (int)++s->n_trk;
    return (int)s->n_trk - 1;
}

/* qsort has no context argument; the labels being sorted are set just before the call. */
static const bench_region *sort_labels;

/* Highest z first; among equal z the later label first (it wins). */
static int cmp_priority(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int zi = sort_labels[i].z, zj = sort_labels[j].z;
    if (zi != zj)
        return zi > zj ? -1 : 1;
    return (i < j) - (i > j);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Half-open overlap of [a, a + aw) and [b0, b1), in 64 bits against label overflow. */
static int overlaps(int a, int aw, int b0, int b1)
{
    return (int64_t)a < b1 && (int64_t)a + aw > b0;
}

static int clampi(int64_t v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

/* Scores one damaged tile [x0, x1) x [y0, y1) predicted pred: its labelled pixels all count
 * for the class of most of those that changed (the tile's truth), and the tile belongs to the
 * label with the most changed visible pixels in it, for that region's latency and flaps (a
 * window frame is not judged by the video tiles its border shares); by all pixels where none
 * changed.  The tile is split into bands of rows in which every label covers a row entirely
 * or not at all, and the columns of a band are resolved once. */
static void score_tile(bench_score *s, const bench_frame *f, int n_order, int pred, int x0, int y0,
                       int x1, int y1)
{
    const bench_region *lab = f->regions;
    int nc = 0, ny = 0;
    for (int j = 0; j < n_order; j++) {
        const bench_region *r = &lab[s->order[j]];
        if (overlaps(r->x, r->w, x0, x1) && overlaps(r->y, r->h, y0, y1))
            s->cand[nc++] = s->order[j];
    }
    if (!nc)
        return; /* unlabelled pixels are not scored */
    s->ys[ny++] = y0;
    s->ys[ny++] = y1;
    for (int j = 0; j < nc; j++) {
        const bench_region *r = &lab[s->cand[j]];
        s->ys[ny++] = clampi(r->y, y0, y1);
        s->ys[ny++] = clampi((int64_t)r->y + r->h, y0, y1);
    }
    qsort(s->ys, (size_t)ny, sizeof(int), cmp_int);

    int owner[BENCH_SCORE_TILE], tw = x1 - x0; /* candidate index per column, -1 = none */
    uint64_t truth[SCORE_N] = {0}, changed[SCORE_N] = {0}, any_changed = 0;
    for (int j = 0; j < nc; j++)
        s->won[j] = s->won_changed[j] = 0;
    for (int b = 0; b + 1 < ny; b++) {
        int ya = s->ys[b], yb = s->ys[b + 1];
        if (ya == yb)
            continue;
        uint64_t bh = (uint64_t)(yb - ya);
        int left = tw;
        for (int x = 0; x < tw; x++)
            owner[x] = -1;
        for (int j = 0; j < nc && left; j++) { /* priority order: the first to claim wins */
            const bench_region *r = &lab[s->cand[j]];
            if (!overlaps(r->y, r->h, ya, ya + 1))
                continue;
            int xa = clampi(r->x, x0, x1) - x0, xb = clampi((int64_t)r->x + r->w, x0, x1) - x0;
            for (int x = xa; x < xb; x++)
                if (owner[x] < 0) {
                    owner[x] = j;
                    left--;
                }
        }
        for (int x = 0; x < tw; x++)
            if (owner[x] >= 0) {
                truth[scored_class(lab[s->cand[owner[x]]].cls)] += bh;
                s->won[owner[x]] += bh;
            }
        for (int y = ya; y < yb; y++) {
            const uint8_t *a = f->data + (size_t)y * f->stride + (size_t)x0 * 4;
            const uint8_t *p = s->prev + ((size_t)y * (size_t)s->width + (size_t)x0) * 4;
            for (int x = 0; x < tw; x++)
                if (owner[x] >= 0 && memcmp(a + 4 * x, p + 4 * x, 3)) {
                    changed[scored_class(lab[s->cand[owner[x]]].cls)]++;
                    s->won_changed[owner[x]]++;
                    any_changed++;
                }
        }
    }
    const uint64_t *won = any_changed ? s->won_changed : s->won;
    int best = 0;
    for (int j = 1; j < nc; j++)
        if (won[j] > won[best])
            best = j;
    int sl = s->slot[s->cand[best]];
    if (sl >= 0)
        s->trk[sl].cur[pred] += s->won[best];
    int major = 0;
    const uint64_t *by = any_changed ? changed : truth;
    for (int k = 1; k < SCORE_N; k++)
        if (by[k] > by[major])
            major = k;
    s->conf[major][pred] += truth[0] + truth[1] + truth[2];
}

/* Latency and flap bookkeeping of one region after a scored frame. */
static int track_update(tracked *t, int index)
{
    uint64_t d = t->cur[0] + t->cur[1] + t->cur[2];
    if (!d)
        return 0;
    if (t->start < 0)
        t->start = index;
    int major = 0;
    for (int k = 1; k < SCORE_N; k++)
        if (t->cur[k] > t->cur[major])
            major = k;
    if (t->cls != SCORE_TEXT) {
        if (grow(&t->lat, &t->cap_lat, t->n_lat + 1, sizeof(*t->lat)) < 0)
            return -ENOMEM;
        t->lat[t->n_lat++] =
            (struct lat_sample){index, (uint8_t)(2 * t->cur[t->cls] >= d), (uint8_t)major, d};
    }
    if (t->major >= 0 && major != t->major)
        t->flaps++;
    t->major = major;
    t->last = index;
    return 0;
}

/* A video/3D region's motion: it starts with the first SCORE_START_RUN frames in a row in
 * which at least half as much of it is damaged as at most (a stray repaint or a small
 * animation inside it is not the content starting to move) and covers the frames from then
 * with that much damage.  Sets the frames from that start to the first right prediction
 * (INT32_MAX when never), the flaps after it within the motion and the motion's length in
 * frames; returns 0, or -1 when the region never moved. */
static int motion(const tracked *t, int *latency, int *flaps, int *frames)
{
    uint64_t most = 0;
    for (size_t i = 0; i < t->n_lat; i++)
        most = VD_MAX(most, t->lat[i].damaged);
    size_t run = 0, start = 0;
    for (size_t i = 0; i < t->n_lat && run < SCORE_START_RUN; i++) {
        int moving = t->lat[i].damaged * 2 >= most;
        run = moving && run && t->lat[i].index == t->lat[i - 1].index + 1 ? run + 1 : (size_t)moving;
        start = i + 1 - run;
    }
    if (run < SCORE_START_RUN)
        return -1;
    *latency = INT32_MAX;
    *flaps = 0;
    int last = t->lat[start].index, major = -1;
    for (size_t k = start; k < t->n_lat; k++) {
        if (*latency == INT32_MAX && t->lat[k].right)
            *latency = t->lat[k].index - t->lat[start].index;
        if (*latency == INT32_MAX || t->lat[k].damaged * 2 < most)
            continue;
        *flaps += major >= 0 && t->lat[k].major != major;
        major = t->lat[k].major;
        last = t->lat[k].index;
    }
    *frames = last - t->lat[start].index + 1;
    return 0;
}

static int score_frame(bench_score *s, const bench_frame *f, const uint8_t *classes,
                       size_t n_classes, const vd_encoder_stats *stats)
{
    if (grow(&s->cost, &s->cap_cost, s->n_cost + 1, sizeof(*s->cost)) < 0)
        return -ENOMEM;
    s->cost[s->n_cost++] = (struct cost){(double)stats->classify_ns / 1e6,
                                         (double)stats->scan_ns / 1e6};

    /* the first frame sends everything, as does one after a resize */
    int skip = s->frames == 0 || f->width != s->width || f->height != s->height;
    s->frames++;
    s->width = f->width;
    s->height = f->height;
    if (!f->regions)
        return 0;
    s->labelled = 1;
    size_t cols = ((size_t)f->width + BENCH_SCORE_TILE - 1) / BENCH_SCORE_TILE;
    size_t rows = ((size_t)f->height + BENCH_SCORE_TILE - 1) / BENCH_SCORE_TILE;
    if (skip || !classes || n_classes != cols * rows)
        return 0;
    s->scored++;

    size_t n = f->n_regions;
    if (n > SIZE_MAX / 16 || grow(&s->scratch, &s->cap_scratch, 5 * n + 2, sizeof(int)) < 0)
        return -ENOMEM;
    s->order = s->scratch;
    s->slot = s->order + n;
    s->cand = s->slot + n;
    s->ys = s->cand + n; /* 2 + 2 per label */
    if (grow(&s->won, &s->cap_won, 2 * (n + 1), sizeof(*s->won)) < 0)
        return -ENOMEM;
    s->won_changed = s->won + n + 1;

    int n_order = 0;
    for (size_t i = 0; i < n; i++) {
        int cls = scored_class(f->regions[i].cls);
        s->slot[i] = -1;
        if (cls < 0 || f->regions[i].w <= 0 || f->regions[i].h <= 0)
            continue;
        s->order[n_order++] = (int)i;
        int sl = slot_for(s, f->regions[i].id, cls);
        if (sl == -2)
            return -ENOMEM;
        s->slot[i] = sl;
        if (sl >= 0) {
            tracked *t = &s->trk[sl];
            t->cls = cls;
            if (t->stamp != s->frames) {
                t->stamp = s->frames;
                memset(t->cur, 0, sizeof(t->cur));
            }
        }
    }
    sort_labels = f->regions;
    qsort(s->order, (size_t)n_order, sizeof(int), cmp_priority);

    for (size_t ty = 0; ty < rows; ty++)
        for (size_t tx = 0; tx < cols; tx++) {
            if (classes[ty * cols + tx] == VD_CONTENT_NONE)
                continue;
            int x0 = (int)tx * BENCH_SCORE_TILE, y0 = (int)ty * BENCH_SCORE_TILE;
            int x1 = x0 + BENCH_SCORE_TILE < f->width ? x0 + BENCH_SCORE_TILE : f->width;
            int y1 = y0 + BENCH_SCORE_TILE < f->height ? y0 + BENCH_SCORE_TILE : f->height;
            score_tile(s, f, n_order, pred_class(classes[ty * cols + tx]), x0, y0, x1, y1);
        }

    /* once per region, even when a label id repeats within the frame */
    for (size_t i = 0; i < n; i++) {
        int sl = s->slot[i];
        if (sl < 0 || s->trk[sl].stamp != s->frames)
            continue;
        if (track_update(&s->trk[sl], f->index) < 0)
            return -ENOMEM;
        s->trk[sl].stamp = -1;
    }
    return 0;
}

int bench_score_frame(bench_score *s, const bench_frame *f, const uint8_t *classes,
                      size_t n_classes, const vd_encoder_stats *stats)
{
    int ret = score_frame(s, f, classes, n_classes, stats);
    size_t row = (size_t)f->width * 4;
    if (ret < 0 || grow(&s->prev, &s->prev_size, row * (size_t)f->height, 1) < 0)
        return ret < 0 ? ret : -ENOMEM;
    for (int y = 0; y < f->height; y++)
        memcpy(s->prev + (size_t)y * row, f->data + (size_t)y * f->stride, row);
    return 0;
}

/* Nearest-rank median, as vdbench's quantile(); sorts v. */
static double median(double *v, size_t n)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof(double), bench_cmp_double);
    return v[(size_t)(0.5 * (double)(n - 1) + 0.5)];
}

void bench_score_summarize(const bench_score *s, bench_score_summary *sum)
{
    memset(sum, 0, sizeof(*sum));
    sum->labelled = s->labelled;
    sum->scored_frames = s->scored;
    memcpy(sum->conf, s->conf, sizeof(sum->conf));

    double *lat = s->n_trk ? malloc(s->n_trk * sizeof(double)) : NULL;
    for (int k = 0; k < SCORE_N; k++) {
        bench_score_class *c = &sum->cls[k];
        uint64_t row = 0, col = 0;
        for (int j = 0; j < SCORE_N; j++) {
            row += s->conf[k][j];
            col += s->conf[j][k];
        }
        c->damaged_pixels = row;
        c->precision = col ? (double)s->conf[k][k] / (double)col : -1;
        c->recall = row ? (double)s->conf[k][k] / (double)row : -1;
        c->flaps_max_per_5s = -1;
        size_t nl = 0;
        for (size_t i = 0; i < s->n_trk; i++) {
            const tracked *t = &s->trk[i];
            if (t->cls != k || t->start < 0)
                continue;
            c->regions++;
            int flaps = t->flaps, frames = t->last - t->start + 1, latency = -1;
            /* Video and 3D: while their content moves, after they were first detected (the
             * detection and the end of the motion are not flaps). */
            if (k != SCORE_TEXT && motion(t, &latency, &flaps, &frames) < 0)
                continue; /* never moved for long: neither latency nor flaps */
            double rate = (double)flaps * 5.0 * s->fps / (double)frames;
            if (rate > c->flaps_max_per_5s)
                c->flaps_max_per_5s = rate;
            if (k == SCORE_TEXT)
                continue;
            c->latency_regions++;
            if (latency == INT32_MAX)
                c->undetected++;
            if (lat)
                lat[nl++] = latency == INT32_MAX ? INFINITY : (double)latency * 1000.0 / s->fps;
        }
        c->latency_median_ms = median(lat, nl);
        c->latency_max_ms = nl ? lat[nl - 1] : -1; /* sorted by median() */
    }
    free(lat);

    double *v = s->n_cost ? malloc(s->n_cost * sizeof(double)) : NULL;
    sum->classify_ms_median = sum->scan_ms_median = sum->classify_to_scan = -1;
    if (v) {
        for (size_t i = 0; i < s->n_cost; i++)
            v[i] = s->cost[i].classify_ms;
        sum->classify_ms_median = median(v, s->n_cost);
        for (size_t i = 0; i < s->n_cost; i++)
            v[i] = s->cost[i].scan_ms;
        sum->scan_ms_median = median(v, s->n_cost);
        if (sum->scan_ms_median > 0)
            sum->classify_to_scan = sum->classify_ms_median / sum->scan_ms_median;
        free(v);
    }
}

/* A right-aligned cell: value with fmt-style precision, "n/a" (v < 0) or "never" (inf). */
static void cell(FILE *out, int width, int prec, double v)
{
    if (isinf(v))
        fprintf(out, " %*s", width, "never");
    else if (v < 0)
        fprintf(out, " %*s", width, "n/a");
    else
        fprintf(out, " %*.*f", width, prec, v);
}

void bench_score_print_text(FILE *out, const char *name, const bench_score_summary *sum)
{
    fprintf(out, "\nclassification: %s (%d frames scored; classifier median ", name,
            sum->scored_frames);
    if (sum->classify_to_scan >= 0)
        fprintf(out, "%.3f ms/frame, %.2f x scan)\n", sum->classify_ms_median,
                sum->classify_to_scan);
    else
        fprintf(out, "%.3f ms/frame, scan n/a)\n", sum->classify_ms_median);
    fprintf(out, "  %-6s %8s %7s %8s %7s %9s %9s %9s\n", "class", "dmg Mpx", "prec %",
            "recall %", "regions", "lat p50", "lat max", "flaps/5s");
    for (int k = 0; k < SCORE_N; k++) {
        const bench_score_class *c = &sum->cls[k];
        fprintf(out, "  %-6s %8.3f", bench_score_class_name(k), (double)c->damaged_pixels / 1e6);
        cell(out, 7, 2, c->precision < 0 ? -1 : 100 * c->precision);
        cell(out, 8, 2, c->recall < 0 ? -1 : 100 * c->recall);
        fprintf(out, " %7d", c->regions);
        if (k == SCORE_TEXT) {
            fprintf(out, " %9s %9s", "-", "-");
        } else {
            cell(out, 9, 0, c->latency_median_ms);
            cell(out, 9, 0, c->latency_max_ms);
        }
        cell(out, 9, 2, c->flaps_max_per_5s);
        fputc('\n', out);
    }
}

/* A JSON number, or null for n/a and never (the counts say which). */
static void jnum(FILE *out, const char *key, double v, int comma)
{
    if (v < 0 || !isfinite(v))
        fprintf(out, "%s\"%s\":null", comma ? "," : "", key);
    else
        fprintf(out, "%s\"%s\":%.4f", comma ? "," : "", key, v);
}

void bench_score_print_json(FILE *out, const bench_score_summary *sum)
{
    fprintf(out, "{\"scored_frames\":%d", sum->scored_frames);
    jnum(out, "classify_ms_median", sum->classify_ms_median, 1);
    jnum(out, "scan_ms_median", sum->scan_ms_median, 1);
    jnum(out, "classify_to_scan", sum->classify_to_scan, 1);
    fprintf(out, ",\"classes\":{");
    for (int k = 0; k < SCORE_N; k++) {
        const bench_score_class *c = &sum->cls[k];
        fprintf(out, "%s\"%s\":{\"damaged_pixels\":%" PRIu64, k ? "," : "",
                bench_score_class_name(k), c->damaged_pixels);
        jnum(out, "precision", c->precision, 1);
        jnum(out, "recall", c->recall, 1);
        fprintf(out, ",\"regions\":%d", c->regions);
        if (k != SCORE_TEXT) {
            fprintf(out, ",\"latency_ms\":{\"undetected\":%d", c->undetected);
            jnum(out, "median", c->latency_median_ms, 1);
            jnum(out, "max", c->latency_max_ms, 1);
            fputc('}', out);
        }
        jnum(out, "flaps_per_5s_max", c->flaps_max_per_5s, 1);
        fputc('}', out);
    }
    fprintf(out, "},\"confusion\":{\"order\":[\"text\",\"video\",\"3d\"],\"pixels\":[");
    for (int t = 0; t < SCORE_N; t++)
        fprintf(out, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]", t ? "," : "", sum->conf[t][0],
                sum->conf[t][1], sum->conf[t][2]);
    fprintf(out, "]}}");
}
