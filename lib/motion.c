/* Copy detection.  Short horizontal strips ("anchors") of the new frame, taken where it
 * changed, are looked up in the reference with a rolling hash over the damaged box, which
 * holds both where scrolled or moved content was and where it went; each exact hit votes for
 * an offset.  The offsets with most votes are then checked tile by tile, exactly.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "motion.h"

#define STRIP 32           /* pixels per anchor: text repeats shorter strips all over */
#define MAX_ANCHORS 64
#define ANCHOR_TABLE 256   /* power of two, at most a quarter full */
#define VOTE_TABLE 4096    /* power of two; offsets beyond 3/4 of it are not counted */
#define MIN_VOTES 3        /* anchors that must agree on an offset */
#define ROWS_PER_TILE 4    /* anchor rows per tile */
/* Damaged boxes larger than this (a 4K screen) are not searched: the scan would cost more
 * than it saves. */
#define MAX_BOX_PIXELS (3840 * 2160)
#define ROLL_BASE 0x100000001b3ull

typedef struct anchor {
    uint64_t hash;
    int x, y;
} anchor;

typedef struct vote {
    int dx, dy;
    uint32_t count; /* 0: empty */
} vote;

static inline uint32_t pixel(const uint8_t *p, int bpp, uint32_t mask)
{
    return vd_rl_px(p, bpp) & mask;
}

static uint64_t strip_hash(const uint8_t *p, int bpp, uint32_t mask)
{
    uint64_t h = 0;
    for (int i = 0; i < STRIP; i++)
        h = h * ROLL_BASE + pixel(p + i * bpp, bpp, mask);
    return h;
}

static int strips_equal(const uint8_t *a, const uint8_t *b, int bpp, uint32_t mask)
{
    for (int i = 0; i < STRIP; i++)
        if (pixel(a + i * bpp, bpp, mask) != pixel(b + i * bpp, bpp, mask))
            return 0;
    return 1;
}

/* A strip worth an anchor: it changed, and it is not one flat colour (which would match
 * everywhere). */
static int good_anchor(const uint8_t *cur, const uint8_t *ref, int bpp, uint32_t mask)
{
    if (strips_equal(cur, ref, bpp, mask))
        return 0;
    uint32_t first = pixel(cur, bpp, mask);
    for (int i = 1; i < STRIP; i++)
        if (pixel(cur + i * bpp, bpp, mask) != first)
            return 1;
    return 0;
}

/* Where anchor k of tile i lies: a centred strip on a row off the 8-pixel grid that UI
 * lines like; 0 when the tile has no such row or is too narrow. */
static int anchor_at(const vd_tile_grid *g, size_t i, int k, int *x, int *y)
{
    int tx = (int)(i % (size_t)g->cols), ty = (int)(i / (size_t)g->cols);
    int w = VD_MIN(64, g->width - tx * 64), h = VD_MIN(64, g->height - ty * 64);
    *x = tx * 64 + (w - STRIP) / 2;
    *y = ty * 64 + 5 + 16 * k;
    return w >= STRIP && *y < ty * 64 + h;
}

/* Tiles that were video or 3D last frame. */
static int streamed(const uint8_t *classes, size_t i)
{
    return classes && (classes[i] == VD_CONTENT_VIDEO || classes[i] == VD_CONTENT_3D);
}

static void add_vote(vote *votes, int dx, int dy, unsigned *used)
{
    uint32_t h = ((uint32_t)dx * 0x9e3779b1u ^ (uint32_t)dy * 0x85ebca77u) >> 22 & (VOTE_TABLE - 1);
    for (;; h = (h + 1) & (VOTE_TABLE - 1)) {
        if (!votes[h].count) {
            if (*used >= VOTE_TABLE * 3 / 4)
                return;
            votes[h] = (vote){dx, dy, 1};
            (*used)++;
            return;
        }
        if (votes[h].dx == dx && votes[h].dy == dy) {
            votes[h].count++;
            return;
        }
    }
}

/* The rectangle's pixels equal ref's at the offset, which lies inside the surface and on
 * exact (not lossy) tiles only. */
static int rect_matches(const vd_damage_dsp *dsp, const vd_tile_grid *g, const uint8_t *cur,
                        size_t cur_stride, const uint8_t *ref, size_t ref_stride,
                        const uint8_t *lossy, vd_rect rc, vd_motion_vector v)
{
    int x = rc.x, y = rc.y, w = rc.width, h = rc.height;
    int sx = x + v.dx, sy = y + v.dy;
    if (sx < 0 || sy < 0 || sx + w > g->width || sy + h > g->height)
        return 0;
    for (int r = sy / 64; r <= (sy + h - 1) / 64; r++)
        for (int c = sx / 64; c <= (sx + w - 1) / 64; c++)
            if (lossy[(size_t)r * (size_t)g->cols + (size_t)c])
                return 0;
    size_t bpp = (size_t)g->bpp;
    for (int r = 0; r < h; r++) {
        uint8_t differs = 0;
        dsp->diff_row(cur + (size_t)(y + r) * cur_stride + (size_t)x * bpp,
                      ref + (size_t)(sy + r) * ref_stride + (size_t)sx * bpp, (size_t)w * bpp,
                      64 * bpp, g->mask, &differs, 1);
        if (differs)
            return 0;
    }
    return 1;
}

/* The smallest rectangle of the tile holding every changed pixel. */
static vd_rect changed_bounds(const vd_tile_grid *g, const uint8_t *cur, size_t cur_stride,
                              const uint8_t *ref, size_t ref_stride, vd_rect t)
{
    int x0 = t.width, y0 = t.height, x1 = -1, y1 = -1, bpp = g->bpp;
    for (int r = 0; r < t.height; r++) {
        const uint8_t *c = cur + (size_t)(t.y + r) * cur_stride + (size_t)t.x * (size_t)bpp;
        const uint8_t *p = ref + (size_t)(t.y + r) * ref_stride + (size_t)t.x * (size_t)bpp;
        for (int x = 0; x < t.width; x++)
            if (pixel(c + x * bpp, bpp, g->mask) != pixel(p + x * bpp, bpp, g->mask)) {
                x0 = VD_MIN(x0, x), x1 = VD_MAX(x1, x), y0 = VD_MIN(y0, r), y1 = r;
            }
    }
    return x1 < 0 ? (vd_rect){t.x, t.y, 0, 0} : (vd_rect){t.x + x0, t.y + y0, x1 - x0 + 1, y1 - y0 + 1};
}

/* Per row of the tile: unchanged, or equal to ref at the vector (and from exact pixels). */
enum { ROW_OTHER, ROW_SAME, ROW_MOVED };

static int row_kind(const vd_damage_dsp *dsp, const vd_tile_grid *g, const uint8_t *cur,
                    size_t cur_stride, const uint8_t *ref, size_t ref_stride, const uint8_t *lossy,
                    vd_rect tile, int r, vd_motion_vector v)
{
    size_t bpp = (size_t)g->bpp, n = (size_t)tile.width * bpp;
    const uint8_t *c = cur + (size_t)(tile.y + r) * cur_stride + (size_t)tile.x * bpp;
    uint8_t differs = 0;
    dsp->diff_row(c, ref + (size_t)(tile.y + r) * ref_stride + (size_t)tile.x * bpp, n, 64 * bpp,
                  g->mask, &differs, 1);
    if (!differs)
        return ROW_SAME;
    vd_rect src = {tile.x, tile.y + r, tile.width, 1};
    return rect_matches(dsp, g, cur, cur_stride, ref, ref_stride, lossy, src, v) ? ROW_MOVED : ROW_OTHER;
}

/* From one end of the tile (step +1 from the top, -1 from the bottom): unchanged rows, then
 * moved rows, then unchanged rows again; returns how many rows that covers and sets *copy
 * to the moved ones. */
static int rows_from_end(const uint8_t *kind, int h, int step, vd_rect tile, vd_rect *copy)
{
    int phase = 0, n = 0, first = -1, last = -1;
    for (int k = 0; k < h; k++, n++) {
        int r = step > 0 ? k : h - 1 - k, kd = kind[r];
        if (kd == ROW_OTHER || (kd == ROW_MOVED && phase == 2))
            break;
        if (kd == ROW_MOVED) {
            phase = 1;
            first = first < 0 ? r : first;
            last = r;
        } else if (phase == 1) {
            phase = 2;
        }
    }
    *copy = (vd_rect){0};
    if (first >= 0) {
        int lo = VD_MIN(first, last), hi = VD_MAX(first, last);
        *copy = (vd_rect){tile.x, tile.y + lo, tile.width, hi - lo + 1};
    }
    return n;
}

static void row_bands(const vd_damage_dsp *dsp, const vd_tile_grid *g, const uint8_t *cur,
                      size_t cur_stride, const uint8_t *ref, size_t ref_stride,
                      const uint8_t *lossy, vd_rect tile, vd_motion_vector v, int k, vd_tile_copy *tc)
{
    uint8_t kind[64];
    for (int r = 0; r < tile.height; r++)
        kind[r] = (uint8_t)row_kind(dsp, g, cur, cur_stride, ref, ref_stride, lossy, tile, r, v);
    vd_rect top_copy, bottom_copy;
    int top = rows_from_end(kind, tile.height, 1, tile, &top_copy);
    if (top == tile.height) /* the bounding-box test failed on interleaved rows only */
        bottom_copy = (vd_rect){0};
    int bottom = top == tile.height ? 0 : rows_from_end(kind, tile.height, -1, tile, &bottom_copy);
    /* Worth it only when copies take a good part of the tile. */
    if (top_copy.height + bottom_copy.height < 8)
        return;
    *tc = (vd_tile_copy){.vector = (uint8_t)(k + 1), .part = {top_copy, bottom_copy},
                         .band_top = (uint8_t)top, .band_bottom = (uint8_t)bottom,
                         .band = top + bottom < tile.height};
}

int vd_motion_find(const vd_damage_dsp *dsp, const vd_tile_grid *g, const uint8_t *cur,
                   size_t cur_stride, const uint8_t *ref, size_t ref_stride, const uint8_t *state,
                   const uint8_t *lossy, const uint8_t *classes, vd_tile_copy *out,
                   vd_motion_vector vec[VD_MOTION_MAX_VECTORS])
{
    size_t n_tiles = (size_t)g->cols * (size_t)g->rows, n_dirty = 0;
    int bx0 = g->cols, by0 = g->rows, bx1 = -1, by1 = -1;
    memset(out, 0, n_tiles * sizeof(*out));
    for (size_t i = 0; i < n_tiles; i++) {
        if (state[i] != VD_TILE_DIRTY)
            continue;
        int tx = (int)(i % (size_t)g->cols), ty = (int)(i / (size_t)g->cols);
        bx0 = VD_MIN(bx0, tx), bx1 = VD_MAX(bx1, tx), by0 = VD_MIN(by0, ty), by1 = VD_MAX(by1, ty);
        n_dirty++;
    }
    int x0 = bx0 * 64, y0 = by0 * 64;
    int x1 = VD_MIN((bx1 + 1) * 64, g->width), y1 = VD_MIN((by1 + 1) * 64, g->height);
    if (n_dirty < VD_MOTION_MIN_TILES || x1 - x0 < STRIP ||
        (int64_t)(x1 - x0) * (y1 - y0) > MAX_BOX_PIXELS)
        return 0;

    const int bpp = g->bpp;
    const uint32_t mask = g->mask;
    anchor anchors[MAX_ANCHORS];
    uint8_t table[ANCHOR_TABLE] = {0}; /* anchor index + 1 */
    int n_anchors = 0;
    /* Good strips (changed, not flat) are counted first, then taken evenly, so that flat
     * damage (a list, a page) does not use up the anchors.  Tiles that were video or 3D last
     * frame change every frame and mostly match nothing: they get what tiles of other
     * content leave, and at least a quarter (a player window dragged whole still moves). */
    size_t good[2] = {0, 0}; /* other tiles, video or 3D ones */
    for (int pass = 0; pass < 2; pass++) {
        size_t quota[2] = {0, 0}, seen[2] = {0, 0};
        if (pass) {
            quota[1] = VD_MIN(good[1], (size_t)MAX_ANCHORS / 4);
            quota[0] = VD_MIN(good[0], (size_t)MAX_ANCHORS - quota[1]);
            quota[1] = VD_MIN(good[1], (size_t)MAX_ANCHORS - quota[0]);
        }
        for (size_t i = 0; i < n_tiles; i++) {
            if (state[i] != VD_TILE_DIRTY)
                continue;
            int kind = streamed(classes, i);
            for (int k = 0; k < ROWS_PER_TILE; k++) {
                int x, y;
                if (!anchor_at(g, i, k, &x, &y))
                    break;
                const uint8_t *c = cur + (size_t)y * cur_stride + (size_t)x * (size_t)bpp;
                if (!good_anchor(c, ref + (size_t)y * ref_stride + (size_t)x * (size_t)bpp, bpp,
                                 mask))
                    continue;
                if (!pass) {
                    good[kind]++;
                    continue;
                }
                /* the j-th of n good strips is taken when the running share passes a step */
                size_t j = seen[kind]++;
                if ((j + 1) * quota[kind] / good[kind] == j * quota[kind] / good[kind])
                    continue;
                uint64_t hash = strip_hash(c, bpp, mask);
                anchors[n_anchors] = (anchor){hash, x, y};
                uint32_t slot = (uint32_t)(hash >> 56);
                while (table[slot])
                    slot = (slot + 1) & (ANCHOR_TABLE - 1);
                table[slot] = (uint8_t)++n_anchors;
            }
        }
    }
    if (n_anchors < MIN_VOTES)
        return 0;

    /* Every strip position of the reference in the box, by rolling hash. */
    vote votes[VOTE_TABLE];
    memset(votes, 0, sizeof(votes));
    unsigned used = 0;
    uint64_t top = 1;
    for (int i = 1; i < STRIP; i++)
        top *= ROLL_BASE;
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = ref + (size_t)y * ref_stride;
        uint64_t h = strip_hash(row + (size_t)x0 * (size_t)bpp, bpp, mask);
        for (int x = x0;; x++) {
            for (uint32_t slot = (uint32_t)(h >> 56); table[slot]; slot = (slot + 1) & (ANCHOR_TABLE - 1)) {
                const anchor *a = &anchors[table[slot] - 1];
                if (a->hash == h &&
                    strips_equal(row + (size_t)x * (size_t)bpp,
                                 cur + (size_t)a->y * cur_stride + (size_t)a->x * (size_t)bpp, bpp, mask))
                    add_vote(votes, x - a->x, y - a->y, &used);
            }
            if (x + STRIP >= x1)
                break;
            h = (h - pixel(row + (size_t)x * (size_t)bpp, bpp, mask) * top) * ROLL_BASE +
                pixel(row + (size_t)(x + STRIP) * (size_t)bpp, bpp, mask);
        }
    }

    int n_vec = 0;
    for (; n_vec < VD_MOTION_MAX_VECTORS; n_vec++) {
        vote *best = NULL;
        for (int i = 0; i < VOTE_TABLE; i++)
            if (votes[i].count >= MIN_VOTES && (!best || votes[i].count > best->count))
                best = &votes[i];
        if (!best)
            break;
        vec[n_vec] = (vd_motion_vector){best->dx, best->dy};
        best->count = 0;
    }

    int found = 0;
    for (size_t i = 0; i < n_tiles; i++) {
        if (state[i] != VD_TILE_DIRTY)
            continue;
        int x = (int)(i % (size_t)g->cols) * 64, y = (int)(i / (size_t)g->cols) * 64;
        vd_rect tile = {x, y, VD_MIN(64, g->width - x), VD_MIN(64, g->height - y)};
        vd_tile_copy *tc = &out[i];
        for (int k = 0; k < n_vec && !tc->vector; k++)
            if (rect_matches(dsp, g, cur, cur_stride, ref, ref_stride, lossy, tile, vec[k]))
                *tc = (vd_tile_copy){.vector = (uint8_t)(k + 1), .part = {tile}};
        if (!tc->vector && n_vec) {
            /* A tile that moved content enters only partly (a window's edge, the first
             * scrolled line under a title bar): what changed may still be a copy. */
            vd_rect changed = changed_bounds(g, cur, cur_stride, ref, ref_stride, tile);
            for (int k = 0; k < n_vec && !tc->vector && changed.width; k++)
                if (rect_matches(dsp, g, cur, cur_stride, ref, ref_stride, lossy, changed, vec[k]))
                    *tc = (vd_tile_copy){.vector = (uint8_t)(k + 1), .part = {changed}};
        }
        /* Moved rows above or below new ones (the line a terminal just printed under the
         * scrolled text): copies for those, the rest as a band of rows.  Not over lossy
         * pixels, which only a whole resend makes exact. */
        for (int k = 0; k < n_vec && !tc->vector && !lossy[i]; k++)
            row_bands(dsp, g, cur, cur_stride, ref, ref_stride, lossy, tile, vec[k], k, tc);
        found |= tc->vector != 0;
    }
    return found ? n_vec : 0;
}
