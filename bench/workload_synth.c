/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Built-in synthetic desktop workloads: "mixed", "terminal", "drag", "video", "3d".
 *
 * Every workload is integer-only and driven by fixed-seed PRNGs, so a given
 * (name, size, length) yields bit-identical frames on every machine and compiler.
 * Frames are rendered incrementally into one persistent framebuffer and only what
 * really changes is redrawn; that keeps generation cheap and gives the codec the
 * damage statistics of a real desktop (unchanged pixels keep their exact values).
 */
#include "workload_impl.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNTH_FPS 30
#define SYNTH_DEFAULT_LEN 300
#define SYNTH_MIN_DIM 256
#define SYNTH_MAX_DIM 8192

#define SIN_N 4096 /* angles are in 1/4096 turns */
#define TITLE_H 28
#define GLYPH_W 8
#define GLYPH_H 16

enum synth_kind { K_MIXED, K_TERMINAL, K_DRAG, K_VIDEO, K_3D, K_COUNT };

static const char *const synth_names[K_COUNT + 1] = {"mixed", "terminal", "drag", "video", "3d",
                                                     NULL};

const char *const *bench_synthetic_names(void)
{
    return synth_names;
}

/* ------------------------------------------------------------------------------------ */
/* Small helpers                                                                          */

typedef struct rect {
    int x, y, w, h;
} rect;

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }
static int iclamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Pixels are handled as native 0xXXRRGGBB words, which is B,G,R,X in memory on
 * little-endian hosts; big-endian hosts convert when a frame is handed out. */
static uint32_t rgb(int r, int g, int b)
{
    return 0xff000000u | (uint32_t)iclamp(r, 0, 255) << 16 | (uint32_t)iclamp(g, 0, 255) << 8 |
           (uint32_t)iclamp(b, 0, 255);
}

static int ch_r(uint32_t c) { return (int)(c >> 16 & 0xff); }
static int ch_g(uint32_t c) { return (int)(c >> 8 & 0xff); }
static int ch_b(uint32_t c) { return (int)(c & 0xff); }

/* a + (b - a) * t / n, per channel */
static uint32_t mix(uint32_t a, uint32_t b, int t, int n)
{
    return rgb(ch_r(a) + (ch_r(b) - ch_r(a)) * t / n, ch_g(a) + (ch_g(b) - ch_g(a)) * t / n,
               ch_b(a) + (ch_b(b) - ch_b(a)) * t / n);
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant here. */
static int rnd(uint64_t *s, int lo, int hi)
{
    return lo + (int)(splitmix64(s) % (uint64_t)(hi - lo + 1));
}

static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static int isqrt64(int64_t v)
{
    if (v <= 0)
        return 0;
    int64_t r = 0, bit = (int64_t)1 << 62;
    while (bit > v)
        bit >>= 2;
    while (bit) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return (int)r;
}

/* Q14 sine table from a Taylor series in Q28: no libm, so it is bit-exact everywhere. */
static void sin_table_init(int16_t *t)
{
    const int64_t pi_q28 = 843314857; /* pi * 2^28 */
    for (int i = 0; i <= SIN_N / 4; i++) {
        int64_t x = pi_q28 * i / (SIN_N / 2);
        int64_t x2 = (x * x) >> 28;
        int64_t mag = x, sum = x;
        for (int k = 1; k < 9; k++) {
            mag = ((mag * x2) >> 28) / ((2 * k) * (2 * k + 1));
            sum += (k & 1) ? -mag : mag;
        }
        int v = (int)((sum + (1 << 13)) >> 14);
        t[i] = (int16_t)v;
        t[SIN_N / 2 - i] = (int16_t)v;
        t[SIN_N / 2 + i] = (int16_t)-v;
        if (i > 0)
            t[SIN_N - i] = (int16_t)-v;
    }
}

static int isin(const int16_t *t, int a) { return t[a & (SIN_N - 1)]; }
static int icos(const int16_t *t, int a) { return t[(a + SIN_N / 4) & (SIN_N - 1)]; }

/* ------------------------------------------------------------------------------------ */
/* Canvas: a clipped view into a pixel buffer with its own origin, so window contents   */
/* can be drawn in local coordinates and never spill outside the window or screen.      */

typedef struct canvas {
    uint32_t *px;       /* pixel (0,0) of the underlying buffer */
    ptrdiff_t stride;   /* in pixels */
    int ox, oy;         /* buffer position of this canvas's (0,0) */
    int x0, y0, x1, y1; /* clip, buffer coordinates, half-open */
} canvas;

static canvas cv_make(uint32_t *px, int w, int h, ptrdiff_t stride)
{
    canvas c = {px, stride, 0, 0, 0, 0, w, h};
    return c;
}

static canvas cv_sub(canvas c, int x, int y, int w, int h)
{
    canvas s = c;
    s.ox = c.ox + x;
    s.oy = c.oy + y;
    s.x0 = imax(c.x0, s.ox);
    s.y0 = imax(c.y0, s.oy);
    s.x1 = imax(s.x0, imin(c.x1, s.ox + w));
    s.y1 = imax(s.y0, imin(c.y1, s.oy + h));
    return s;
}

/* Converts a local rectangle to clipped buffer coordinates; false when empty. */
static bool cv_clip(const canvas *c, int *x, int *y, int *w, int *h)
{
    int ax = imax(c->ox + *x, c->x0), ay = imax(c->oy + *y, c->y0);
    int bx = imin(c->ox + *x + *w, c->x1), by = imin(c->oy + *y + *h, c->y1);
    if (bx <= ax || by <= ay)
        return false;
    *x = ax;
    *y = ay;
    *w = bx - ax;
    *h = by - ay;
    return true;
}

static uint32_t *cv_at(const canvas *c, int bx, int by) { return c->px + by * c->stride + bx; }

static void cv_fill(canvas c, int x, int y, int w, int h, uint32_t col)
{
    if (!cv_clip(&c, &x, &y, &w, &h))
        return;
    for (int j = 0; j < h; j++) {
        uint32_t *p = cv_at(&c, x, y + j);
        for (int i = 0; i < w; i++)
            p[i] = col;
    }
}

static void cv_frame(canvas c, int x, int y, int w, int h, uint32_t col)
{
    cv_fill(c, x, y, w, 1, col);
    cv_fill(c, x, y + h - 1, w, 1, col);
    cv_fill(c, x, y, 1, h, col);
    cv_fill(c, x + w - 1, y, 1, h, col);
}

/* Copies a w x h block of src (stride in pixels) to local (x, y). */
static void cv_blit(canvas c, int x, int y, const uint32_t *src, ptrdiff_t sstride, int w, int h)
{
    int bx = x, by = y, bw = w, bh = h;
    if (!cv_clip(&c, &bx, &by, &bw, &bh))
        return;
    const uint32_t *s = src + (by - (c.oy + y)) * sstride + (bx - (c.ox + x));
    for (int j = 0; j < bh; j++)
        memcpy(cv_at(&c, bx, by + j), s + j * sstride, (size_t)bw * 4);
}

/* Filled disc with a one-level soft edge, like a UI toolkit's anti-aliased circle. */
static void cv_disc(canvas c, int cx, int cy, int r, uint32_t col)
{
    int r2o = (2 * r + 1) * (2 * r + 1), r2i = (2 * r - 1) * (2 * r - 1);
    for (int j = -r; j <= r; j++) {
        for (int i = -r; i <= r; i++) {
            int d = (2 * i) * (2 * i) + (2 * j) * (2 * j);
            if (d > r2o)
                continue;
            int x = cx + i, y = cy + j, w = 1, h = 1;
            if (!cv_clip(&c, &x, &y, &w, &h))
                continue;
            uint32_t *p = cv_at(&c, x, y);
            *p = d <= r2i ? col : mix(*p, col, 1, 2);
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Procedural 8x16 bitmap font.  Each glyph is a few strokes (1 px bars, ellipse arcs,  */
/* diagonals) supersampled 4x4 and quantised to 5 coverage levels: text-like statistics */
/* (two dominant colours, a few edge greys, sharp stems) without shipping font data.    */

enum { P_SEG, P_RING };
enum { Q_TL = 1, Q_TR = 2, Q_BL = 4, Q_BR = 8, Q_ALL = 15, Q_GAP = 16 };

typedef struct stroke_def {
    unsigned char key;
    uint8_t type, mask;
    int16_t a, b, c, d; /* segment: x0 y0 x1 y1; ring: cx cy rx ry (1/8 px units) */
} stroke_def;

/* Coordinates in 1/8 px inside the 64x128 cell. */
#define XL 12
#define XC 28
#define XR 44
#define YT 24
#define YX 52
#define YCM 62
#define YM 76
#define YB 100
#define YD 122

static const stroke_def font_strokes[] = {
    {'A', P_SEG, 0, XL, YX, XL, YB},       {'B', P_SEG, 0, XR, YX, XR, YB},
    {'C', P_SEG, 0, XL, YT, XL, YB},       {'D', P_SEG, 0, XR, YT, XR, YB},
    {'E', P_SEG, 0, XC, YT, XC, YB},       {'F', P_SEG, 0, XC, YX, XC, YB},
    {'G', P_SEG, 0, XL, YX, XL, YD},       {'H', P_SEG, 0, XR, YX, XR, 108},
    {'I', P_RING, Q_BL | Q_BR, XC, 108, 16, 10},
    {'J', P_SEG, 0, XL, YT, XR, YT},       {'K', P_SEG, 0, XL, YX, XR, YX},
    {'L', P_SEG, 0, XL, YCM, XR, YCM},     {'M', P_SEG, 0, XL, YM, XR, YM},
    {'N', P_SEG, 0, XL, YB, XR, YB},       {'O', P_RING, Q_ALL, XC, YM, 16, 24},
    {'P', P_RING, Q_ALL, XC, YCM, 16, 38}, {'Q', P_RING, Q_TL | Q_TR, XC, YM, 16, 24},
    {'R', P_RING, Q_BL | Q_BR, XC, YM, 16, 24},
    {'S', P_SEG, 0, XR, YM, XR, YB},       {'T', P_SEG, 0, XL, YX, XL, YM},
    {'U', P_SEG, 0, XL, YB, XR, YT},       {'V', P_SEG, 0, XL, YT, XR, YB},
    {'W', P_SEG, 0, XL, YB, XR, YX},       {'X', P_SEG, 0, XL, YX, XR, YB},
    {'Y', P_SEG, 0, XL, YT, XC, YB},       {'Z', P_SEG, 0, XC, YB, XR, YT},
    {'a', P_SEG, 0, XL, YX, XC, YB},       {'b', P_SEG, 0, XC, YB, XR, YX},
    {'c', P_SEG, 0, XC, 97, XC, 100},      {'d', P_SEG, 0, XC, 34, XC, 37},
    {'e', P_SEG, 0, XR, 34, XR, 37},       {'f', P_RING, Q_ALL | Q_GAP, XC, YCM, 16, 38},
    {'g', P_RING, Q_ALL | Q_GAP, XC, YM, 16, 24},
    {'h', P_RING, Q_TR | Q_BR, 24, 43, 20, 19},
    {'i', P_RING, Q_TR | Q_BR, 24, 81, 20, 19},
    {'j', P_SEG, 0, XL, YT, 24, YT},       {'k', P_SEG, 0, XL, YCM, 24, YCM},
    {'l', P_SEG, 0, XL, YB, 24, YB},       {'m', P_SEG, 0, 20, YCM, XR, YB},
    {'n', P_SEG, 0, 14, 70, XR, YT},       {'o', P_SEG, 0, 14, 84, 40, YX},
    {'p', P_SEG, 0, 22, 76, XR, YB},       {'q', P_RING, Q_TL | Q_TR, 40, 36, 12, 12},
    {'r', P_SEG, 0, XC, 36, XC, YB},       {'s', P_RING, Q_TL | Q_TR | Q_BL, XC, 64, 16, 12},
    {'t', P_RING, Q_TR | Q_BL | Q_BR, XC, 88, 16, 12},
    {'u', P_RING, Q_TL | Q_TR | Q_BL, XC, 43, 16, 19},
    {'v', P_RING, Q_TR | Q_BL | Q_BR, XC, 81, 16, 19},
    {'w', P_SEG, 0, XC, YCM, XC, YB},      {'x', P_SEG, 0, XC, 66, XC, YB},
    {'y', P_RING, Q_TL | Q_TR, 20, 66, 8, 12},
    {'z', P_RING, Q_TL | Q_TR, 36, 66, 8, 12},
    {'0', P_SEG, 0, XR, 66, XR, YB},       {'1', P_SEG, 0, XL, YB, XC, 78},
    {'2', P_SEG, 0, XC, 78, XR, YB},       {'3', P_SEG, 0, XL, YT, XC, YCM},
    {'4', P_SEG, 0, XC, YCM, XR, YT},      {'5', P_SEG, 0, 20, YT, 36, YT},
    {'6', P_SEG, 0, 20, YB, 36, YB},       {'7', P_SEG, 0, XR, YT, XR, 88},
    {'8', P_RING, Q_BL | Q_BR, XC, 88, 16, 12},
    {'9', P_SEG, 0, XL, YT, XL, 88},       {'!', P_SEG, 0, XL, YT, XC, 70},
    {'"', P_SEG, 0, XC, 70, XR, YT},       {'#', P_SEG, 0, 30, 84, 46, 104},
    {'$', P_RING, Q_TR | Q_BR, 20, YCM, 24, 38},
    {'%', P_SEG, 0, XC, 66, XR, 66},       {'(', P_RING, Q_TL | Q_BL, 40, YCM, 18, 46},
    {')', P_RING, Q_TR | Q_BR, 16, YCM, 18, 46},
    {'[', P_SEG, 0, 20, 16, 20, 108},      {']', P_SEG, 0, 36, 16, 36, 108},
    {'{', P_SEG, 0, 20, 16, 36, 16},       {'}', P_SEG, 0, 20, 108, 36, 108},
    {'<', P_SEG, 0, XR, YX, XL, YM},       {'>', P_SEG, 0, XL, YM, XR, YB},
    {'^', P_SEG, 0, XL, YX, XR, YM},       {'_', P_SEG, 0, XR, YM, XL, YB},
    {'`', P_SEG, 0, 20, 18, 20, 34},       {'\'', P_SEG, 0, 36, 18, 36, 34},
    {'|', P_SEG, 0, 18, 78, 38, 78},       {'~', P_SEG, 0, XC, 16, XC, 124},
    {'+', P_SEG, 0, 16, YM, 40, YM},       {'-', P_SEG, 0, XC, 64, XC, 88},
    {'=', P_SEG, 0, XL, 68, XR, 68},       {',', P_SEG, 0, XL, 86, XR, 86},
    {'.', P_SEG, 0, XC, 98, 22, 112},      {':', P_SEG, 0, XC, 68, XC, 70},
    {';', P_SEG, 0, 2, 124, 62, 124},      {'?', P_SEG, 0, 14, 68, 24, 60},
    {'@', P_SEG, 0, 24, 60, 34, 70},       {'/', P_SEG, 0, 34, 70, 44, 62},
    {'\\', P_SEG, 0, XC, 18, XC, 30},      {'*', P_SEG, 0, XR, YX, XR, YD},
    {'&', P_SEG, 0, 20, 84, 36, 40},       {0x80, P_SEG, 0, XL, YT, XL, YCM},
    {0x81, P_SEG, 0, XC, YT, 16, 36},      {0x82, P_SEG, 0, XR, 46, XL, YB},
    {0x83, P_RING, Q_TL | Q_TR | Q_BR, XC, 43, 16, 19},
    {0x84, P_SEG, 0, XR, YT, 20, YB},      {0x85, P_RING, Q_ALL, XC, 81, 16, 19},
    {0x86, P_RING, Q_ALL, XC, 43, 14, 19}, {0x87, P_SEG, 0, XL, 81, 34, YT},
    {0x88, P_SEG, 0, XR, 43, 22, YB},      {0x89, P_SEG, 0, 36, YT, 36, YB},
    {0x8a, P_SEG, 0, 36, YT, XL, 76},      {0x8c, P_SEG, 0, 20, 30, 16, 104},
    {0x8d, P_SEG, 0, 40, 30, 36, 104},     {0x8f, P_SEG, 0, 16, 30, 16, 33},
    {0x90, P_SEG, 0, 40, 94, 40, 97},      {0x91, P_SEG, 0, XC, YT, XC, 80},
    {0x92, P_SEG, 0, XC, 62, XC, 80},
};

/* Stroke keys per printable ASCII character, from ' ' to '~'. */
static const char *const font_spec[95] = {
    "", "\x91" "c", "`'", "\x8c\x8d=,", "uvE", "U\x8f\x90", "sRX", "\\", "(", ")", "+-X",
    "+-", "c.", "+", "c", "U", "P&", "E6\x81", "\x83\x82N", "hijkl", "\x89\x8aM",
    "J\x80kil", "\x85\x87", "J\x84", "\x86\x85", "\x86\x88", ":c", ":c.", "<>", "=,", "^_",
    "\x83\x92" "c", "PO",
    /* A-Z */
    "YZ|", "Cjklhi", "f", "Cjl$", "CJLN", "CJL", "f%0", "CDL", "E56", "78", "Cnm", "CN",
    "CD!\"", "CDV", "P", "Cjkh", "P#", "Cjkhm", "uv", "JE", "978", "YZ", "CD12", "UV", "34w",
    "JNU",
    "[{}", "V", "]{}", "34", ";", "`",
    /* a-z */
    "OB", "CO", "g", "DO", "gM", "qrK", "OHI", "CQS", "dF", "eHI", "Cop", "E", "Axyz0", "AQS",
    "O", "GO", "O*", "AQ", "st", "EK", "TRB", "ab", "AB12", "WX", "TRHI", "KNW",
    "(", "~", ")", "?@/",
};

typedef struct font {
    uint8_t g[95][GLYPH_H][GLYPH_W]; /* coverage 0..4 */
} font;

static bool stroke_hit(const stroke_def *s, int X, int Y)
{
    if (s->type == P_SEG) {
        int64_t dx = s->c - s->a, dy = s->d - s->b, px = X - s->a, py = Y - s->b;
        int64_t len = dx * dx + dy * dy, t = px * dx + py * dy;
        if (len == 0 || t <= 0)
            return 4 * (px * px + py * py) <= 81; /* half width 4.5/8 px */
        if (t >= len) {
            int64_t qx = X - s->c, qy = Y - s->d;
            return 4 * (qx * qx + qy * qy) <= 81;
        }
        int64_t cr = px * dy - py * dx;
        return 4 * cr * cr <= 81 * len;
    }
    int64_t dx = X - s->a, dy = Y - s->b;
    int q = dy < 0 ? (dx < 0 ? Q_TL : Q_TR) : (dx < 0 ? Q_BL : Q_BR);
    if (!(s->mask & q))
        return false;
    if ((s->mask & Q_GAP) && dx > 0 && 2 * (dy < 0 ? -dy : dy) < s->d)
        return false;
    int64_t D2 = 4 * dx * dx, E2 = 4 * dy * dy;
    int64_t rxo = 2 * s->c + 9, ryo = 2 * s->d + 9, rxi = 2 * s->c - 9, ryi = 2 * s->d - 9;
    if (D2 * ryo * ryo + E2 * rxo * rxo > rxo * rxo * ryo * ryo)
        return false;
    if (rxi > 0 && ryi > 0 && D2 * ryi * ryi + E2 * rxi * rxi < rxi * rxi * ryi * ryi)
        return false;
    return true;
}

static void font_init(font *f)
{
    const size_t nstrokes = sizeof(font_strokes) / sizeof(font_strokes[0]);
    memset(f, 0, sizeof(*f));
    for (int ch = 0; ch < 95; ch++) {
        const stroke_def *use[8];
        int n = 0;
        for (const unsigned char *k = (const unsigned char *)font_spec[ch]; *k && n < 8; k++)
            for (size_t i = 0; i < nstrokes; i++)
                if (font_strokes[i].key == *k) {
                    use[n++] = &font_strokes[i];
                    break;
                }
        for (int py = 0; py < GLYPH_H; py++)
            for (int px = 0; px < GLYPH_W; px++) {
                int cnt = 0;
                for (int sy = 0; sy < 4; sy++)
                    for (int sx = 0; sx < 4; sx++)
                        for (int i = 0; i < n; i++)
                            if (stroke_hit(use[i], px * 8 + 1 + 2 * sx, py * 8 + 1 + 2 * sy)) {
                                cnt++;
                                break;
                            }
                f->g[ch][py][px] = (uint8_t)((cnt * 4 + 8) / 16);
            }
    }
}

/* Draws one character cell (background included) with a 5-entry fg/bg ramp. */
static void cv_glyph(canvas c, const font *f, int x, int y, unsigned ch, const uint32_t pal[5])
{
    if (ch < 32 || ch > 126)
        ch = '?';
    const uint8_t(*g)[GLYPH_W] = f->g[ch - 32];
    int bx = x, by = y, bw = GLYPH_W, bh = GLYPH_H;
    if (!cv_clip(&c, &bx, &by, &bw, &bh))
        return;
    int gx = bx - (c.ox + x), gy = by - (c.oy + y);
    for (int j = 0; j < bh; j++) {
        uint32_t *p = cv_at(&c, bx, by + j);
        const uint8_t *row = g[gy + j] + gx;
        for (int i = 0; i < bw; i++)
            p[i] = pal[row[i]];
    }
}

static void ramp(uint32_t pal[5], uint32_t fg, uint32_t bg)
{
    for (int i = 0; i < 5; i++)
        pal[i] = mix(bg, fg, i, 4);
}

/* Draws a string on a solid background; returns the x after the last cell. */
static int cv_text(canvas c, const font *f, int x, int y, const char *s, uint32_t fg, uint32_t bg)
{
    uint32_t pal[5];
    ramp(pal, fg, bg);
    for (; *s; s++, x += GLYPH_W)
        cv_glyph(c, f, x, y, (unsigned char)*s, pal);
    return x;
}

static int text_w(const char *s) { return (int)strlen(s) * GLYPH_W; }

/* ------------------------------------------------------------------------------------ */
/* Value noise: per-octave random lattices with smoothstep interpolation.  Lattices     */
/* wrap, so a lattice of size (texture >> shift) gives a tileable texture.              */

typedef struct lattice {
    int shift, gw, gh;
    int ox, oy;  /* per-octave offset, so octave lattices don't line up into a visible grid */
    int16_t *v;  /* values in [-2^14, 2^14): fine steps, so hill shading shows no banding */
    uint16_t *s; /* smoothstep weight (Q12) for each offset inside a cell */
} lattice;

static void lattice_free(lattice *l)
{
    free(l->v);
    free(l->s);
    l->v = NULL;
    l->s = NULL;
}

static int lattice_init(lattice *l, int shift, int gw, int gh, uint64_t seed)
{
    int cell = 1 << shift;
    l->shift = shift;
    l->gw = gw;
    l->gh = gh;
    l->v = malloc((size_t)gw * gh * sizeof(*l->v));
    l->s = malloc((size_t)cell * sizeof(*l->s));
    if (!l->v || !l->s) {
        lattice_free(l);
        return -ENOMEM;
    }
    for (int i = 0; i < gw * gh; i++)
        l->v[i] = (int16_t)((int)(splitmix64(&seed) >> 49) - 16384);
    l->ox = (int)(splitmix64(&seed) % (uint64_t)cell);
    l->oy = (int)(splitmix64(&seed) % (uint64_t)cell);
    for (int t = 0; t < cell; t++) {
        int64_t T = ((int64_t)(2 * t + 1) << 12) >> (shift + 1);
        l->s[t] = (uint16_t)((T * T * (3 * 4096 - 2 * T)) >> 24);
    }
    return 0;
}

/* acc[x] += amp * noise(x0 + x, y) / 64 for x in [0, n); amp 256 gives about +-2^16. */
static void lattice_row_add(const lattice *l, int x0, int y, int32_t *acc, int n, int amp)
{
    int sh = l->shift, mask = (1 << sh) - 1;
    x0 += l->ox;
    y += l->oy;
    int cy = (y >> sh) % l->gh, fy = l->s[y & mask];
    const int16_t *r0 = l->v + (size_t)cy * l->gw, *r1 = l->v + (size_t)((cy + 1) % l->gh) * l->gw;
    int x = 0;
    while (x < n) {
        int X = x0 + x, cx = (X >> sh) % l->gw, cx1 = (cx + 1) % l->gw;
        int a = r0[cx] + (((r1[cx] - r0[cx]) * fy) >> 12);
        int b = r0[cx1] + (((r1[cx1] - r0[cx1]) * fy) >> 12);
        int end = imin(n, x + ((1 << sh) - (X & mask)));
        for (; x < end; x++)
            acc[x] += (amp * (a + (((b - a) * l->s[(x0 + x) & mask]) >> 12))) >> 6;
    }
}

/* Sum of `oct` octaves starting at cell size 1 << shift0, halving amplitude each time. */
typedef struct fbm {
    lattice l[8];
    int n, amp0;
} fbm;

static void fbm_free(fbm *f)
{
    for (int i = 0; i < f->n; i++)
        lattice_free(&f->l[i]);
    f->n = 0;
}

/* tile > 0 makes the noise periodic with that (power of two) period; otherwise the
 * grid covers w x h. */
static int fbm_init(fbm *f, int shift0, int oct, int w, int h, int tile, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->amp0 = 256;
    for (int i = 0; i < oct && shift0 - i >= 1; i++) {
        int sh = shift0 - i;
        int gw = tile ? imax(1, tile >> sh) : (w >> sh) + 3;
        int gh = tile ? imax(1, tile >> sh) : (h >> sh) + 3;
        if (lattice_init(&f->l[i], sh, gw, gh, seed + 7919u * (unsigned)i) < 0) {
            fbm_free(f);
            return -ENOMEM;
        }
        f->n = i + 1;
    }
    return 0;
}

/* acc[x] = fbm(x0 + x, y), roughly within +-2^16 */
static void fbm_row(const fbm *f, int x0, int y, int32_t *acc, int n)
{
    memset(acc, 0, (size_t)n * sizeof(*acc));
    for (int i = 0; i < f->n; i++)
        lattice_row_add(&f->l[i], x0, y, acc, n, f->amp0 >> i);
}

/* ------------------------------------------------------------------------------------ */
/* Desktop: wallpaper (dusk sky, sun glow, three hazy mountain ridges, film grain) and  */
/* taskbar.  Photo-like: smooth gradients, many colours, soft anti-aliased ridges.      */

static int wallpaper_render(uint32_t *dst, int w, int h, uint64_t seed)
{
    int ret = -ENOMEM;
    int32_t *row = malloc((size_t)w * sizeof(*row));
    int32_t *ridge = malloc((size_t)3 * w * sizeof(*ridge)); /* Q8 ridge heights */
    fbm cloud = {0}, rock = {0}, ridge_n = {0};
    int big = imax(w, h);
    int cshift = 6;
    while ((1 << (cshift + 1)) < big / 3 && cshift < 10)
        cshift++;
    if (!row || !ridge || fbm_init(&cloud, cshift, 5, w, h, 0, seed) < 0 ||
        fbm_init(&rock, 5, 4, w, h, 0, seed + 11) < 0 ||
        fbm_init(&ridge_n, cshift, 6, w, 8, 0, seed + 23) < 0)
        goto out;

    static const int base[3] = {560, 690, 830}; /* ridge base, 1/1000 of the height */
    static const int amp[3] = {170, 150, 120};
    for (int k = 0; k < 3; k++) {
        fbm_row(&ridge_n, 0, 1 + k * 3, row, w);
        for (int x = 0; x < w; x++) /* row is about +-2^16 */
            ridge[k * w + x] =
                (int32_t)(((int64_t)h * 256 * base[k] + (int64_t)row[x] * h * amp[k] / 256) /
                          1000);
    }

    /* sky keys: zenith, upper, horizon glow */
    const uint32_t sky0 = rgb(22, 34, 82), sky1 = rgb(96, 86, 150), sky2 = rgb(246, 164, 120);
    const uint32_t layer[3] = {rgb(120, 98, 150), rgb(70, 56, 104), rgb(30, 26, 52)};
    int sunx = w * 7 / 10, suny = h * 56 / 100;
    int64_t sr2 = (int64_t)(h / 9) * (h / 9);
    uint32_t grain = (uint32_t)seed | 1u;

    for (int y = 0; y < h; y++) {
        int hz = h * 62 / 100;
        uint32_t sky = y < hz / 2 ? mix(sky0, sky1, y, imax(1, hz / 2))
                                  : mix(sky1, sky2, imin(y - hz / 2, hz - hz / 2), hz - hz / 2);
        fbm_row(&cloud, 0, y, row, w);
        uint32_t *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            /* thin clouds: brighten and warm the sky where the noise is high */
            int cl = row[x] >> 9; /* about +-128 */
            int cv = cl > 10 ? (cl - 10) * (y < hz ? 1 : 0) : 0;
            int64_t dx = x - sunx, dy = y - suny, d2 = dx * dx + dy * dy;
            int glow = (int)(sr2 * 160 / (sr2 + d2 * 2));
            int r = ch_r(sky) + glow + cv / 2 + cl / 16;
            int g = ch_g(sky) + glow * 3 / 4 + cv / 3 + cl / 16;
            int b = ch_b(sky) + glow / 3 + cv / 3;
            uint32_t c = rgb(r, g, b);
            /* mountain layers: the nearest one whose ridge lies above this row wins */
            for (int k = 0; k < 3; k++) {
                int32_t rq = ridge[k * w + x];
                int cov = (y + 1) * 256 - rq;
                if (cov <= 0)
                    continue;
                int depth = imin(255, (y * 256 - rq) / imax(1, h / 4)); /* darker lower down */
                uint32_t lc = mix(layer[k], rgb(ch_r(layer[k]) / 2, ch_g(layer[k]) / 2,
                                                ch_b(layer[k]) * 2 / 3),
                                  imax(0, depth), 255);
                lc = mix(lc, sky2, 40 - k * 18 > 0 ? 40 - k * 18 : 0, 255); /* haze */
                c = mix(c, lc, imin(cov, 256), 256);
            }
            d[x] = c;
        }
        { /* rock texture below the farthest ridge */
            fbm_row(&rock, 0, y, row, w);
            for (int x = 0; x < w; x++) {
                if (y * 256 < ridge[x])
                    continue;
                int t = row[x] >> 13; /* about +-8 */
                d[x] = rgb(ch_r(d[x]) + t, ch_g(d[x]) + t, ch_b(d[x]) + t);
            }
        }
        for (int x = 0; x < w; x++) { /* film grain +-1 */
            int gn = (int)(xorshift32(&grain) % 3) - 1;
            d[x] = rgb(ch_r(d[x]) + gn, ch_g(d[x]) + gn, ch_b(d[x]) + gn);
        }
    }
    ret = 0;
out:
    fbm_free(&cloud);
    fbm_free(&rock);
    fbm_free(&ridge_n);
    free(row);
    free(ridge);
    return ret;
}

static int taskbar_height(int h) { return iclamp(h / 27, 24, 48); }

static void clock_text(char *buf, size_t n, int secs, bool with_secs)
{
    int t = 14 * 3600 + 7 * 60 + 12 + secs;
    if (with_secs)
        snprintf(buf, n, "%02d:%02d:%02d", t / 3600 % 24, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%02d:%02d", t / 3600 % 24, t / 60 % 60);
}

static const uint32_t TASKBAR_BG = 0xff1a1e28u;

static void taskbar_clock(canvas scr, const font *f, int w, int h, int secs, bool with_secs)
{
    int tb = taskbar_height(h), y0 = h - tb;
    char buf[16];
    clock_text(buf, sizeof(buf), secs, with_secs);
    int x = w - 16 - text_w(buf);
    if (tb >= 38) {
        cv_text(scr, f, x, y0 + tb / 2 - 16, buf, rgb(235, 235, 240), TASKBAR_BG);
        cv_text(scr, f, w - 16 - text_w("2024-03-12"), y0 + tb / 2, "2024-03-12",
                rgb(170, 175, 190), TASKBAR_BG);
    } else {
        cv_text(scr, f, x, y0 + (tb - 16) / 2, buf, rgb(235, 235, 240), TASKBAR_BG);
    }
}

static void taskbar_draw(canvas scr, const font *f, int w, int h, bool with_secs)
{
    int tb = taskbar_height(h), y0 = h - tb;
    cv_fill(scr, 0, y0, w, tb, TASKBAR_BG);
    cv_fill(scr, 0, y0, w, 1, rgb(62, 68, 84));
    /* start button: four-square logo */
    int s = imax(4, (tb - 12) / 2);
    static const uint32_t logo[4] = {0xffe8533au, 0xff6cbf3au, 0xff3a8ee8u, 0xfff2c12eu};
    for (int i = 0; i < 4; i++)
        cv_fill(scr, 10 + (i & 1) * (s + 2), y0 + 5 + (i >> 1) * (s + 2), s, s, logo[i]);
    /* pinned apps: flat rounded tiles with a simple glyph, running ones underlined */
    static const uint32_t app[7] = {0xff2f6fd6u, 0xffd6552fu, 0xff2fa86cu, 0xff8a44c8u,
                                    0xff404040u, 0xffc8a02fu, 0xff2fb0c0u};
    static const char app_ch[7] = {'F', 'W', 'T', 'M', '>', 'N', 'V'};
    int is = tb - 12, x = 30 + 2 * s;
    for (int i = 0; i < 7 && x + is < w - 120; i++, x += is + 10) {
        cv_fill(scr, x + 1, y0 + 6, is - 2, is, app[i]);
        cv_fill(scr, x, y0 + 7, is, is - 2, app[i]);
        if (is >= 16) {
            uint32_t pal[5];
            ramp(pal, rgb(255, 255, 255), app[i]);
            cv_glyph(scr, f, x + is / 2 - 4, y0 + 6 + is / 2 - 8, (unsigned char)app_ch[i], pal);
        }
        if (i == 0 || i == 4 || i == 6)
            cv_fill(scr, x + is / 4, h - 3, is / 2, 2, rgb(120, 170, 255));
    }
    /* tray: wifi bars, speaker, battery */
    int tx = w - 16 - text_w("00:00:00") - 84;
    if (tx > x) {
        for (int i = 0; i < 4; i++)
            cv_fill(scr, tx + i * 4, y0 + tb / 2 + 6 - i * 3, 3, 3 + i * 3, rgb(210, 214, 224));
        cv_fill(scr, tx + 26, y0 + tb / 2 - 2, 4, 6, rgb(210, 214, 224));
        for (int i = 0; i < 6; i++)
            cv_fill(scr, tx + 30 + i, y0 + tb / 2 - 2 - i / 2, 1, 6 + i, rgb(210, 214, 224));
        cv_frame(scr, tx + 48, y0 + tb / 2 - 5, 20, 11, rgb(210, 214, 224));
        cv_fill(scr, tx + 68, y0 + tb / 2 - 2, 2, 5, rgb(210, 214, 224));
        cv_fill(scr, tx + 50, y0 + tb / 2 - 3, 12, 7, rgb(110, 200, 110));
    }
    taskbar_clock(scr, f, w, h, 0, with_secs);
}

/* Window frame: 1 px border and a title bar with title and three caption buttons.
 * Returns the client rectangle. */
static rect window_draw(canvas scr, const font *f, rect r, const char *title, bool dark)
{
    uint32_t border = dark ? rgb(20, 20, 20) : rgb(150, 150, 156);
    uint32_t bar = dark ? rgb(56, 56, 60) : rgb(228, 228, 232);
    uint32_t fg = dark ? rgb(220, 220, 220) : rgb(40, 40, 44);
    cv_frame(scr, r.x, r.y, r.w, r.h, border);
    cv_fill(scr, r.x + 1, r.y + 1, r.w - 2, TITLE_H - 1, bar);
    canvas tb = cv_sub(scr, r.x + 1, r.y + 1, r.w - 2 - 3 * 30, TITLE_H - 1);
    cv_text(tb, f, imax(8, (r.w - text_w(title)) / 2 - 45), (TITLE_H - 1 - 16) / 2, title, fg, bar);
    canvas bt = cv_sub(scr, r.x + 1, r.y + 1, r.w - 2, TITLE_H - 1);
    int bx = r.w - 2 - 30;
    /* close (x), maximise (box), minimise (bar) */
    for (int i = 0; i < 10; i++) {
        cv_fill(bt, bx + 10 + i, 9 + i, 1, 1, fg);
        cv_fill(bt, bx + 19 - i, 9 + i, 1, 1, fg);
    }
    cv_frame(bt, bx - 30 + 10, 9, 10, 10, fg);
    cv_fill(bt, bx - 60 + 10, 18, 10, 1, fg);
    rect c = {r.x + 1, r.y + TITLE_H, r.w - 2, r.h - TITLE_H - 1};
    if (c.w < 0)
        c.w = 0;
    if (c.h < 0)
        c.h = 0;
    return c;
}

/* ------------------------------------------------------------------------------------ */
/* Terminal: a character grid that types commands, prints their output and scrolls.     */

enum { A_DEF, A_WHITE, A_GREEN, A_BLUE, A_CYAN, A_YELLOW, A_RED, A_MAGENTA, A_DIM, A_COUNT };

static const uint32_t term_fg[A_COUNT] = {0xffcccccc, 0xffffffff, 0xff6ad45f, 0xff6f9cff,
                                          0xff5fd7d7, 0xffe5d36a, 0xffff6060, 0xffd27ae0,
                                          0xff808890};
static const uint32_t TERM_BG = 0xff1c1c1e;
static const uint32_t TERM_CURSOR = 0xffd8d8d8;

enum { CMD_LS, CMD_MAKE, CMD_GREP, CMD_DMESG, CMD_GITLOG, CMD_CAT, CMD_TESTS };

typedef struct term_cmd {
    const char *text;
    int kind;
} term_cmd;

static const term_cmd term_cmds[] = {
    {"ls -la", CMD_LS},
    {"make -j8", CMD_MAKE},
    {"grep -rn \"encode_tile\" lib/ codec/", CMD_GREP},
    {"git log --stat -4", CMD_GITLOG},
    {"sudo dmesg | tail -40", CMD_DMESG},
    {"cat codec/tile_cache.c", CMD_CAT},
    {"./build/tests/run_all --verbose", CMD_TESTS},
    {"ls -la build/lib", CMD_LS},
    {"make check", CMD_TESTS},
    {"grep -rn TODO bench/", CMD_GREP},
};

static const char *const words[] = {
    "tile",   "encode", "frame",  "buffer",  "codec",  "region", "damage", "stream", "queue",
    "palette", "cursor", "display", "surface", "vector", "hash",   "delta",  "motion", "block",
    "scale",  "render", "sync",   "packet",  "socket", "config", "main",   "util",   "test",
    "bench",  "video",  "image",  "cache",   "pool",   "worker", "entropy", "rect",  "bitmap",
    "glyph",  "input",  "clock",  "timer",   "stats",  "quant",  "filter", "mask",   "plane",
};
#define NWORDS ((int)(sizeof(words) / sizeof(words[0])))

typedef struct term_cell {
    uint8_t ch, attr;
} term_cell;

typedef struct tline { /* one line of output being built */
    char ch[256];
    uint8_t at[256];
    int n;
} tline;

typedef struct term {
    bool active;
    int tx, ty;     /* text origin, screen coordinates */
    int cols, rows;
    term_cell *cells;
    uint8_t *dirty; /* per row */
    int crow, ccol;
    int scroll;     /* rows scrolled this frame */
    bool cur_drawn;
    int cur_row, cur_col;
    bool fully_visible;
    /* script */
    int state, wait, cmd, typed, out_left, out_idx, next_cmd;
    uint64_t rng;
} term;

enum { TS_IDLE, TS_TYPE, TS_ENTER, TS_RUN };

static void term_newline(term *t)
{
    t->ccol = 0;
    if (t->crow < t->rows - 1) {
        t->crow++;
        return;
    }
    /* The grid scrolls now; the pixels follow in one memmove at the end of the frame,
     * so dirty flags and the drawn-cursor position move with the content. */
    memmove(t->cells, t->cells + t->cols, (size_t)(t->rows - 1) * t->cols * sizeof(*t->cells));
    memmove(t->dirty, t->dirty + 1, (size_t)(t->rows - 1));
    for (int c = 0; c < t->cols; c++)
        t->cells[(t->rows - 1) * t->cols + c] = (term_cell){' ', A_DEF};
    t->dirty[t->rows - 1] = 1;
    t->cur_row--;
    t->scroll++;
}

static void term_putc(term *t, char ch, int attr)
{
    if (t->ccol >= t->cols)
        term_newline(t);
    t->cells[t->crow * t->cols + t->ccol] = (term_cell){(uint8_t)ch, (uint8_t)attr};
    t->dirty[t->crow] = 1;
    t->ccol++;
}

static void term_puts(term *t, const char *s, int attr)
{
    for (; *s; s++)
        term_putc(t, *s, attr);
}

static void tl_put(tline *l, int attr, const char *s)
{
    for (; *s && l->n < (int)sizeof(l->ch); s++) {
        l->ch[l->n] = *s;
        l->at[l->n++] = (uint8_t)attr;
    }
}

static const char *word(uint64_t *r) { return words[rnd(r, 0, NWORDS - 1)]; }

static void gen_filename(uint64_t *r, char *buf, size_t n, int *attr)
{
    static const char *const ext[] = {".c",  ".h",  ".o",      ".md", ".txt",
                                      ".so", ".png", ".tar.gz", ""};
    static const int ext_attr[] = {A_DEF, A_DEF, A_DEF, A_DEF, A_DEF, A_CYAN, A_MAGENTA, A_RED,
                                   A_BLUE};
    int e = rnd(r, 0, 8);
    if (rnd(r, 0, 2) == 0)
        snprintf(buf, n, "%s_%s%s", word(r), word(r), ext[e]);
    else
        snprintf(buf, n, "%s%s", word(r), ext[e]);
    *attr = ext_attr[e];
}

/* Builds output line `idx` of a command of the given kind. */
static void gen_line(uint64_t *r, int kind, int idx, int last, tline *l)
{
    char b[160], name[64];
    int at;
    l->n = 0;
    switch (kind) {
    case CMD_LS:
        gen_filename(r, name, sizeof(name), &at);
        snprintf(b, sizeof(b), "%s %2d user user %8d Mar %2d %02d:%02d ",
                 at == A_BLUE ? "drwxr-xr-x" : at == A_CYAN ? "-rwxr-xr-x" : "-rw-r--r--",
                 rnd(r, 1, 9), rnd(r, 0, 3) ? rnd(r, 40, 99999) : rnd(r, 100000, 9999999),
                 rnd(r, 1, 28), rnd(r, 0, 23), rnd(r, 0, 59));
        tl_put(l, A_DEF, b);
        tl_put(l, at, name);
        break;
    case CMD_MAKE:
        if (idx == last - 1) {
            tl_put(l, A_DEF, "  LD      ");
            tl_put(l, A_DEF, "build/libvd.so.1.4.0");
        } else if (rnd(r, 0, 11) == 0) {
            snprintf(b, sizeof(b), "lib/%s/%s.c:%d:%d: ", word(r), word(r), rnd(r, 10, 999),
                     rnd(r, 2, 40));
            tl_put(l, A_WHITE, b);
            tl_put(l, A_MAGENTA, "warning: ");
            snprintf(b, sizeof(b), "unused variable '%s_%s' ", word(r), word(r));
            tl_put(l, A_DEF, b);
            tl_put(l, A_MAGENTA, "[-Wunused-variable]");
        } else {
            tl_put(l, A_DEF, "  CC      ");
            snprintf(b, sizeof(b), "lib/%s/%s_%s.o", word(r), word(r), word(r));
            tl_put(l, A_DEF, b);
        }
        break;
    case CMD_GREP: {
        snprintf(b, sizeof(b), "%s/%s_%s.c", rnd(r, 0, 1) ? "lib" : "codec", word(r), word(r));
        tl_put(l, A_MAGENTA, b);
        tl_put(l, A_CYAN, ":");
        snprintf(b, sizeof(b), "%d", rnd(r, 1, 2400));
        tl_put(l, A_GREEN, b);
        tl_put(l, A_CYAN, ":");
        snprintf(b, sizeof(b), "%*s%s %s_%s(", rnd(r, 0, 3) * 4, "", rnd(r, 0, 1) ? "int" : "ret =",
                 word(r), word(r));
        tl_put(l, A_DEF, b);
        tl_put(l, A_RED, "encode_tile");
        snprintf(b, sizeof(b), "(%s, %s->%s, %d);", word(r), word(r), word(r), rnd(r, 0, 64));
        tl_put(l, A_DEF, b);
        break;
    }
    case CMD_DMESG:
        snprintf(b, sizeof(b), "[%5d.%06d] ", 1200 + idx * 3 + rnd(r, 0, 2), rnd(r, 0, 999999));
        tl_put(l, A_GREEN, b);
        snprintf(b, sizeof(b), "%s%d: %s %s %s 0x%08x", rnd(r, 0, 1) ? "usb 1-" : "nvme",
                 rnd(r, 0, 9), word(r), word(r), word(r), (unsigned)splitmix64(r));
        tl_put(l, A_DEF, b);
        break;
    case CMD_GITLOG:
        switch (idx % 9) {
        case 0:
            snprintf(b, sizeof(b), "commit %016llx%016llx%08x", (unsigned long long)splitmix64(r),
                     (unsigned long long)splitmix64(r), (unsigned)splitmix64(r));
            tl_put(l, A_YELLOW, b);
            break;
        case 1: tl_put(l, A_DEF, "Author: Dev Eloper <dev@example.org>"); break;
        case 2:
            snprintf(b, sizeof(b), "Date:   Tue Mar %d %02d:%02d:%02d 2024 +0100", rnd(r, 1, 28),
                     rnd(r, 8, 20), rnd(r, 0, 59), rnd(r, 0, 59));
            tl_put(l, A_DEF, b);
            break;
        case 4:
            snprintf(b, sizeof(b), "    %s: %s the %s %s before %s", word(r), word(r), word(r),
                     word(r), word(r));
            tl_put(l, A_DEF, b);
            break;
        case 6:
        case 7: {
            int add = rnd(r, 0, 30), del = rnd(r, 0, 12);
            snprintf(b, sizeof(b), " lib/%s/%s.c | %3d ", word(r), word(r), add + del);
            tl_put(l, A_DEF, b);
            memset(b, '+', (size_t)add);
            b[add] = 0;
            tl_put(l, A_GREEN, b);
            memset(b, '-', (size_t)del);
            b[del] = 0;
            tl_put(l, A_RED, b);
            break;
        }
        default: break;
        }
        break;
    case CMD_CAT: {
        static const char *const kw[] = {"static", "int", "return", "if", "for", "const",
                                         "struct", "uint32_t", "size_t", "void"};
        int ind = rnd(r, 0, 3) * 4;
        snprintf(b, sizeof(b), "%*s", ind, "");
        tl_put(l, A_DEF, b);
        switch (rnd(r, 0, 6)) {
        case 0:
            snprintf(b, sizeof(b), "/* %s the %s %s */", word(r), word(r), word(r));
            tl_put(l, A_DIM, b);
            break;
        case 1:
            tl_put(l, A_BLUE, kw[rnd(r, 0, 9)]);
            snprintf(b, sizeof(b), " %s_%s = %d;", word(r), word(r), rnd(r, 0, 4096));
            tl_put(l, A_DEF, b);
            break;
        case 2:
            tl_put(l, A_MAGENTA, "if");
            snprintf(b, sizeof(b), " (%s->%s < %s) {", word(r), word(r), word(r));
            tl_put(l, A_DEF, b);
            break;
        case 3:
            tl_put(l, A_MAGENTA, "return");
            snprintf(b, sizeof(b), " %s_%s(%s);", word(r), word(r), word(r));
            tl_put(l, A_DEF, b);
            break;
        case 4:
            snprintf(b, sizeof(b), "%s(%s, ", word(r), word(r));
            tl_put(l, A_DEF, b);
            snprintf(b, sizeof(b), "\"%s %s\\n\"", word(r), word(r));
            tl_put(l, A_YELLOW, b);
            tl_put(l, A_DEF, ");");
            break;
        case 5: tl_put(l, A_DEF, "}"); break;
        default: break; /* blank line */
        }
        break;
    }
    case CMD_TESTS:
    default:
        if (idx == last - 1) {
            snprintf(b, sizeof(b), "All %d tests passed (%d skipped)", last - 1, rnd(r, 0, 2));
            tl_put(l, A_GREEN, b);
        } else {
            snprintf(b, sizeof(b), "test_%s_%s ", word(r), word(r));
            tl_put(l, A_DEF, b);
            int dots = imax(2, 34 - l->n);
            memset(b, '.', (size_t)dots);
            b[dots] = 0;
            tl_put(l, A_DIM, b);
            if (rnd(r, 0, 14) == 0)
                tl_put(l, A_YELLOW, " SKIP");
            else
                tl_put(l, A_GREEN, " ok");
            snprintf(b, sizeof(b), "  (%d ms)", rnd(r, 0, 900));
            tl_put(l, A_DIM, b);
        }
        break;
    }
}

static int cmd_lines(uint64_t *r, int kind)
{
    switch (kind) {
    case CMD_LS: return rnd(r, 8, 30);
    case CMD_MAKE: return rnd(r, 15, 40);
    case CMD_GREP: return rnd(r, 6, 20);
    case CMD_DMESG: return 40;
    case CMD_GITLOG: return 36;
    case CMD_CAT: return rnd(r, 30, 60);
    default: return rnd(r, 10, 25);
    }
}

static bool cmd_slow(int kind) { return kind == CMD_MAKE || kind == CMD_TESTS; }

static void term_prompt(term *t)
{
    term_puts(t, "user@vdhost", A_GREEN);
    term_puts(t, ":", A_DEF);
    term_puts(t, "~/src/libvd", A_BLUE);
    term_puts(t, "$ ", A_DEF);
}

static void term_emit_line(term *t, int kind)
{
    tline l;
    gen_line(&t->rng, kind, t->out_idx, t->out_idx + t->out_left, &l);
    t->out_idx++;
    t->out_left--;
    for (int i = 0; i < l.n; i++)
        term_putc(t, l.ch[i], l.at[i]);
    term_newline(t);
}

static void term_free(term *t)
{
    free(t->cells);
    free(t->dirty);
    t->cells = NULL;
    t->dirty = NULL;
}

static void term_draw_row(const term *t, canvas scr, const font *f, int row, bool cursor_vis)
{
    uint32_t pal[A_COUNT][5], inv[5];
    bool have[A_COUNT] = {0};
    for (int c = 0; c < t->cols; c++) {
        term_cell cell = t->cells[row * t->cols + c];
        int x = t->tx + c * GLYPH_W, y = t->ty + row * GLYPH_H;
        if (cursor_vis && row == t->crow && c == imin(t->ccol, t->cols - 1)) {
            ramp(inv, TERM_BG, TERM_CURSOR);
            cv_glyph(scr, f, x, y, cell.ch, inv);
            continue;
        }
        if (!have[cell.attr]) {
            ramp(pal[cell.attr], term_fg[cell.attr], TERM_BG);
            have[cell.attr] = true;
        }
        cv_glyph(scr, f, x, y, cell.ch, pal[cell.attr]);
    }
}

static int term_init(term *t, canvas scr, const font *f, rect win, int w, int h, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    rect c = window_draw(scr, f, win, "user@vdhost: ~/src/libvd", true);
    cv_fill(scr, c.x, c.y, c.w, c.h, TERM_BG);
    t->tx = c.x + 4;
    t->ty = c.y + 4;
    t->cols = (c.w - 8) / GLYPH_W;
    t->rows = (c.h - 8) / GLYPH_H;
    if (t->cols < 2 || t->rows < 2)
        return 0; /* too small to hold text: stays a static window */
    t->fully_visible = t->tx >= 0 && t->ty >= 0 && t->tx + t->cols * GLYPH_W <= w &&
                       t->ty + t->rows * GLYPH_H <= h;
    t->cells = malloc((size_t)t->cols * t->rows * sizeof(*t->cells));
    t->dirty = malloc((size_t)t->rows);
    if (!t->cells || !t->dirty) {
        term_free(t);
        return -ENOMEM;
    }
    t->active = true;
    t->rng = seed;
    for (int i = 0; i < t->cols * t->rows; i++)
        t->cells[i] = (term_cell){' ', A_DEF};
    /* history from before the recording started */
    static const int pre[2] = {CMD_GITLOG, CMD_LS};
    for (int k = 0; k < 2; k++) {
        term_prompt(t);
        term_puts(t, k ? "ls -la" : "git log --stat -4", A_DEF);
        term_newline(t);
        t->out_idx = 0;
        t->out_left = cmd_lines(&t->rng, pre[k]);
        while (t->out_left > 0)
            term_emit_line(t, pre[k]);
    }
    term_prompt(t);
    t->state = TS_IDLE;
    t->wait = 12;
    t->next_cmd = 1;
    t->cur_row = -1;
    t->scroll = 0;
    memset(t->dirty, 1, (size_t)t->rows);
    return 0;
}

static void term_step(term *t, canvas scr, const font *f, int frame)
{
    if (!t->active)
        return;
    const term_cmd *cmd = &term_cmds[t->cmd];
    switch (t->state) {
    case TS_IDLE:
        if (--t->wait <= 0) {
            t->cmd = t->next_cmd;
            t->next_cmd = (t->next_cmd + 1 + rnd(&t->rng, 0, 2)) %
                          (int)(sizeof(term_cmds) / sizeof(term_cmds[0]));
            t->typed = 0;
            t->state = TS_TYPE;
            t->wait = 1;
        }
        break;
    case TS_TYPE:
        if (--t->wait > 0)
            break;
        /* human typing: ~1 char per 2-3 frames, sometimes a burst or a hesitation */
        for (int n = rnd(&t->rng, 0, 5) == 0 ? rnd(&t->rng, 2, 4) : 1;
             n > 0 && cmd->text[t->typed]; n--)
            term_putc(t, cmd->text[t->typed++], A_DEF);
        if (!cmd->text[t->typed]) {
            t->state = TS_ENTER;
            t->wait = rnd(&t->rng, 4, 12);
        } else {
            t->wait = rnd(&t->rng, 0, 6) == 0 ? rnd(&t->rng, 6, 14) : rnd(&t->rng, 1, 4);
        }
        break;
    case TS_ENTER:
        if (--t->wait > 0)
            break;
        term_newline(t);
        t->state = TS_RUN;
        t->out_idx = 0;
        t->out_left = cmd_lines(&t->rng, cmd->kind);
        t->wait = rnd(&t->rng, 1, 6);
        break;
    case TS_RUN:
        if (--t->wait > 0)
            break;
        {
            bool slow = cmd_slow(cmd->kind);
            int k = slow ? rnd(&t->rng, 1, 2) : rnd(&t->rng, 8, 40);
            while (k-- > 0 && t->out_left > 0)
                term_emit_line(t, cmd->kind);
            t->wait = slow ? rnd(&t->rng, 1, 5) : 1;
        }
        if (t->out_left == 0) {
            term_prompt(t);
            t->state = TS_IDLE;
            t->wait = rnd(&t->rng, 10, 40);
        }
        break;
    }

    /* scroll the pixels once for everything that scrolled this frame */
    if (t->scroll > 0 && t->scroll < t->rows && t->fully_visible) {
        int sh = t->scroll * GLYPH_H, hpx = (t->rows * GLYPH_H) - sh;
        for (int y = 0; y < hpx; y++)
            memcpy(scr.px + (ptrdiff_t)(t->ty + y) * scr.stride + t->tx,
                   scr.px + (ptrdiff_t)(t->ty + y + sh) * scr.stride + t->tx,
                   (size_t)t->cols * GLYPH_W * 4);
    } else if (t->scroll > 0) {
        memset(t->dirty, 1, (size_t)t->rows);
    }
    t->scroll = 0;

    bool vis = (frame / 15) % 2 == 0;
    int cc = imin(t->ccol, t->cols - 1);
    if (t->cur_drawn && t->cur_row >= 0 && (!vis || t->cur_row != t->crow || t->cur_col != cc))
        t->dirty[t->cur_row] = 1;
    if (vis && (!t->cur_drawn || t->cur_row != t->crow || t->cur_col != cc))
        t->dirty[t->crow] = 1;
    t->cur_drawn = vis;
    t->cur_row = t->crow;
    t->cur_col = cc;

    for (int r = 0; r < t->rows; r++)
        if (t->dirty[r]) {
            term_draw_row(t, scr, f, r, vis);
            t->dirty[r] = 0;
        }
}

/* ------------------------------------------------------------------------------------ */
/* File-manager style window (light theme), pre-rendered once and blitted when moved.   */

static void ui_render(canvas c, const font *f, int w, int h, const char *title, uint64_t seed)
{
    uint64_t r = seed;
    const uint32_t white = rgb(255, 255, 255), line = rgb(214, 214, 218), ink = rgb(36, 36, 40),
                   grey = rgb(110, 112, 120), sel = rgb(56, 116, 216);
    rect cl = window_draw(c, f, (rect){0, 0, w, h}, title, false);
    canvas in = cv_sub(c, cl.x, cl.y, cl.w, cl.h);
    int cw = cl.w, chh = cl.h;
    cv_fill(in, 0, 0, cw, chh, white);
    /* toolbar with flat buttons */
    cv_fill(in, 0, 0, cw, 38, rgb(243, 243, 245));
    cv_fill(in, 0, 38, cw, 1, line);
    static const uint32_t icon[6] = {0xff3b82f6u, 0xff22a06bu, 0xffe5a50au, 0xffd9534fu,
                                     0xff7c5cd6u, 0xff6b7280u};
    for (int i = 0; i < 6; i++) {
        int bx = 8 + i * 38;
        cv_fill(in, bx, 5, 32, 28, rgb(251, 251, 252));
        cv_frame(in, bx, 5, 32, 28, rgb(200, 200, 206));
        cv_fill(in, bx + 9, 12, 14, 14, icon[i]);
        cv_fill(in, bx + 12, 15, 8, 3, white);
    }
    /* path field */
    int px = 8 + 6 * 38 + 10;
    cv_fill(in, px, 7, cw - px - 10, 24, white);
    cv_frame(in, px, 7, cw - px - 10, 24, rgb(190, 190, 198));
    canvas pf = cv_sub(in, px + 1, 8, cw - px - 12, 22);
    cv_text(pf, f, 6, 3, "/home/user/Documents/projects/libvd/docs", ink, white);
    /* sidebar */
    int sw = imin(180, cw / 3);
    cv_fill(in, 0, 39, sw, chh - 39 - 24, rgb(245, 245, 247));
    cv_fill(in, sw, 39, 1, chh - 39 - 24, line);
    static const char *const places[] = {"Home", "Desktop", "Documents", "Downloads", "Music",
                                         "Pictures", "Videos", "Trash", "Network", "Other"};
    canvas sb = cv_sub(in, 0, 39, sw, chh - 39 - 24);
    for (int i = 0; i < 10; i++) {
        int y = 8 + i * 26;
        bool s = i == 2;
        uint32_t bg = s ? sel : rgb(245, 245, 247);
        cv_fill(sb, 4, y, sw - 8, 24, bg);
        cv_fill(sb, 12, y + 6, 12, 12, s ? white : icon[i % 6]);
        cv_text(sb, f, 32, y + 4, places[i], s ? white : ink, bg);
    }
    /* file list */
    canvas ls = cv_sub(in, sw + 1, 39, cw - sw - 1, chh - 39 - 24);
    int lw = cw - sw - 1;
    cv_fill(ls, 0, 0, lw, 26, rgb(250, 250, 251));
    cv_fill(ls, 0, 26, lw, 1, line);
    int c1 = imax(200, lw - 300), c2 = c1 + 90;
    cv_text(ls, f, 36, 5, "Name", grey, rgb(250, 250, 251));
    cv_text(ls, f, c1, 5, "Size", grey, rgb(250, 250, 251));
    cv_text(ls, f, c2, 5, "Modified", grey, rgb(250, 250, 251));
    for (int i = 0; i * 24 + 28 < chh; i++) {
        int y = 28 + i * 24;
        uint32_t bg = i % 2 ? rgb(247, 249, 252) : white;
        bool dir = i < 4;
        char name[64], size[32], date[32];
        int at;
        gen_filename(&r, name, sizeof(name), &at);
        if (dir)
            snprintf(name, sizeof(name), "%s", words[rnd(&r, 0, NWORDS - 1)]);
        snprintf(size, sizeof(size), dir ? "%d items" : "%d.%d kB", rnd(&r, 1, 999),
                 rnd(&r, 0, 9));
        snprintf(date, sizeof(date), "2024-0%d-%02d %02d:%02d", rnd(&r, 1, 3), rnd(&r, 1, 28),
                 rnd(&r, 8, 19), rnd(&r, 0, 59));
        cv_fill(ls, 0, y, lw, 24, bg);
        cv_fill(ls, 10, y + 4, 16, 14, dir ? rgb(232, 184, 74) : rgb(170, 176, 190));
        if (!dir)
            cv_fill(ls, 13, y + 7, 10, 1, white);
        cv_text(ls, f, 36, y + 4, name, ink, bg);
        cv_text(ls, f, c1, y + 4, size, grey, bg);
        cv_text(ls, f, c2, y + 4, date, grey, bg);
    }
    /* status bar with a progress widget */
    cv_fill(in, 0, chh - 24, cw, 24, rgb(240, 240, 242));
    cv_fill(in, 0, chh - 24, cw, 1, line);
    cv_text(in, f, 8, chh - 20, "23 items, 4.2 GB free", grey, rgb(240, 240, 242));
    int pw = imin(160, cw / 4);
    cv_frame(in, cw - pw - 12, chh - 17, pw, 10, rgb(180, 180, 186));
    cv_fill(in, cw - pw - 11, chh - 16, (pw - 2) * 62 / 100, 8, rgb(64, 176, 96));
}

/* Dragged window: positions for every frame are planned at open. */
typedef struct mover {
    bool active;
    uint32_t *img;
    int w, h;
    int *px, *py;
    int cx, cy; /* drawn position */
} mover;

static void mover_free(mover *m)
{
    free(m->img);
    free(m->px);
    free(m->py);
    m->img = NULL;
    m->px = m->py = NULL;
}

/* Fills positions [from, to) with human-like drags between random targets inside
 * [b.x, b.x + b.w] x [b.y, b.y + b.h]: smoothstep speed profile peaking at <= ~20 px per
 * frame, with occasional pauses. */
static void path_plan(int *px, int *py, int from, int to, rect b, uint64_t *r)
{
    int x = px[from - 1], y = py[from - 1], f = from;
    while (f < to) {
        if (rnd(r, 0, 99) < 35) {
            for (int n = rnd(r, 8, 30); n > 0 && f < to; n--, f++) {
                px[f] = x;
                py[f] = y;
            }
            continue;
        }
        int tx = b.x + rnd(r, 0, imax(0, b.w)), ty = b.y + rnd(r, 0, imax(0, b.h));
        int dx = tx - x, dy = ty - y;
        int dist = isqrt64((int64_t)dx * dx + dy * dy);
        if (dist < 24)
            continue;
        int dur = imax(6, dist / rnd(r, 5, 13));
        for (int k = 1; k <= dur && f < to; k++, f++) {
            int64_t t = ((int64_t)k << 16) / dur;
            int64_t s = (t * t >> 16) * (3 * 65536 - 2 * t) >> 16; /* smoothstep, Q16 */
            px[f] = x + (int)((dx * s) >> 16);
            py[f] = y + (int)((dy * s) >> 16);
        }
        x = tx;
        y = ty;
    }
}

static int mover_init(mover *m, const font *f, int w, int h, int nframes, const char *title,
                      uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    if (w < 8 || h < TITLE_H + 4)
        return 0;
    m->w = w;
    m->h = h;
    m->img = malloc((size_t)w * h * sizeof(*m->img));
    m->px = calloc((size_t)nframes + 1, sizeof(int));
    m->py = calloc((size_t)nframes + 1, sizeof(int));
    if (!m->img || !m->px || !m->py) {
        mover_free(m);
        return -ENOMEM;
    }
    ui_render(cv_make(m->img, w, h, w), f, w, h, title, seed);
    m->active = true;
    return 0;
}

/* Moves the window: uncovered pixels get the wallpaper back, then the window is blitted. */
static void mover_step(mover *m, canvas scr, const uint32_t *wall, int frame, bool first)
{
    if (!m->active)
        return;
    int nx = m->px[frame], ny = m->py[frame];
    if (!first && nx == m->cx && ny == m->cy)
        return;
    if (!first) {
        rect o = {m->cx, m->cy, m->w, m->h};
        /* old minus new: a horizontal band and a vertical strip */
        int oy0 = imax(o.y, ny), oy1 = imin(o.y + o.h, ny + m->h);
        for (int y = o.y; y < o.y + o.h; y++) {
            int x0 = o.x, x1 = o.x + o.w;
            if (y >= oy0 && y < oy1) {
                if (nx > o.x)
                    x1 = imin(x1, nx);
                else
                    x0 = imax(x0, nx + m->w);
            }
            int bx = x0, by = y, bw = x1 - x0, bh = 1;
            if (bw > 0 && cv_clip(&scr, &bx, &by, &bw, &bh))
                memcpy(cv_at(&scr, bx, by), wall + (ptrdiff_t)by * scr.stride + bx,
                       (size_t)bw * 4);
        }
    }
    cv_blit(scr, nx, ny, m->img, m->w, m->w, m->h);
    m->cx = nx;
    m->cy = ny;
}

/* ------------------------------------------------------------------------------------ */
/* Video: aerial footage over a tileable fractal terrain, with pan/zoom/sway, one cut,  */
/* and +-2 sensor noise, so every pixel changes every frame like decoded video.         */

#define TEX_SHIFT 11
#define TEX_N (1 << TEX_SHIFT)
#define NOISE_LEN 65536

typedef struct video {
    bool active;
    rect pic, ctrl;
    uint32_t *tex;   /* channels in [2, 253] so adding noise never clips */
    uint32_t *noise; /* packed per-channel offsets in [0, 4] */
    uint32_t rng;
} video;

static void video_free(video *v)
{
    free(v->tex);
    free(v->noise);
    v->tex = v->noise = NULL;
}

/* Adds one tileable octave sampled through the integer rotation [a b; -b a]: octaves at
 * different angles keep the lattice lines (where smoothstep value noise has zero slope)
 * from stacking into a visible grid once the terrain is hill-shaded. */
static void lattice_row_add_rot(const lattice *l, int a, int b, int y, int32_t *acc, int n, int amp)
{
    int sh = l->shift, mask = (1 << sh) - 1, gm = l->gw - 1;
    unsigned pm = (unsigned)TEX_N - 1;
    for (int x = 0; x < n; x++) {
        unsigned X = (unsigned)(a * x + b * y + l->ox) & pm;
        unsigned Y = (unsigned)(a * y - b * x + l->oy) & pm;
        int cx = (int)(X >> sh), cy = (int)(Y >> sh), cx1 = (cx + 1) & gm, cy1 = (cy + 1) & gm;
        int fx = l->s[X & (unsigned)mask], fy = l->s[Y & (unsigned)mask];
        const int16_t *r0 = l->v + (size_t)cy * l->gw, *r1 = l->v + (size_t)cy1 * l->gw;
        int t = r0[cx] + (((r0[cx1] - r0[cx]) * fx) >> 12);
        int u = r1[cx] + (((r1[cx1] - r1[cx]) * fx) >> 12);
        acc[x] += (amp * (t + (((u - t) * fy) >> 12))) >> 6;
    }
}

#define TERRAIN_OCT 7

static int terrain_build(uint32_t *tex, uint64_t seed)
{
    /* rotation per octave and the extra lattice shift that compensates its scale
     * (|(2,1)| = sqrt 5 ~ 2, |(4,3)| = 5 ~ 4) */
    static const int rot[TERRAIN_OCT][3] = {{1, 0, 0},  {2, 1, 1}, {4, 3, 2}, {2, -1, 1},
                                            {4, -3, 2}, {2, 1, 1}, {1, 0, 0}};
    int ret = -ENOMEM;
    int32_t *hgt = malloc((size_t)TEX_N * TEX_N * sizeof(*hgt));
    lattice oct[TERRAIN_OCT] = {{0}};
    fbm mf = {0};
    int32_t *row = malloc((size_t)TEX_N * sizeof(*row));
    if (!hgt || !row || fbm_init(&mf, 8, 4, 0, 0, TEX_N, seed + 99) < 0)
        goto out;
    for (int i = 0; i < TERRAIN_OCT; i++) {
        int sh = 9 - i + rot[i][2];
        if (lattice_init(&oct[i], sh, TEX_N >> sh, TEX_N >> sh, seed + 31u * (unsigned)i) < 0)
            goto out;
    }
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int y = 0; y < TEX_N; y++) {
        int32_t *hr = hgt + (size_t)y * TEX_N;
        memset(hr, 0, TEX_N * sizeof(*hr));
        for (int i = 0; i < TERRAIN_OCT; i++)
            lattice_row_add_rot(&oct[i], rot[i][0], rot[i][1], y, hr, TEX_N, 256 >> i);
        for (int x = 0; x < TEX_N; x++) {
            lo = hr[x] < lo ? hr[x] : lo;
            hi = hr[x] > hi ? hr[x] : hi;
        }
    }
    int64_t span = imax(1, hi - lo);
    /* normalise to 0..1023 in Q6: shading whole-unit heights would show contour steps */
    for (size_t i = 0; i < (size_t)TEX_N * TEX_N; i++)
        hgt[i] = (int32_t)((int64_t)(hgt[i] - lo) * (1023 * 64) / span);

    /* height palette: deep water, shallows, sand, grass, forest, rock, snow */
    static const int key_h[] = {0, 380, 420, 440, 560, 700, 820, 900, 1023};
    static const uint8_t key_c[][3] = {{18, 40, 86},   {40, 96, 140},  {186, 172, 128},
                                       {104, 150, 62}, {62, 116, 44},  {38, 74, 36},
                                       {112, 100, 88}, {150, 142, 132}, {240, 240, 246}};
    uint32_t lut[1024];
    for (int hh = 0, k = 0; hh < 1024; hh++) {
        while (k < 7 && hh > key_h[k + 1])
            k++;
        int t = hh - key_h[k], n = key_h[k + 1] - key_h[k];
        lut[hh] = rgb(key_c[k][0] + (key_c[k + 1][0] - key_c[k][0]) * t / n,
                      key_c[k][1] + (key_c[k + 1][1] - key_c[k][1]) * t / n,
                      key_c[k][2] + (key_c[k + 1][2] - key_c[k][2]) * t / n);
    }
    for (int y = 0; y < TEX_N; y++) {
        fbm_row(&mf, 0, y, row, TEX_N); /* dryness */
        const int32_t *up = hgt + (size_t)((y - 1) & (TEX_N - 1)) * TEX_N;
        const int32_t *dn = hgt + (size_t)((y + 1) & (TEX_N - 1)) * TEX_N;
        const int32_t *cur = hgt + (size_t)y * TEX_N;
        for (int x = 0; x < TEX_N; x++) {
            int hh = cur[x] >> 6;
            uint32_t c = lut[hh];
            int shade = 256;
            if (hh > 380) {
                /* hill shading, light from the upper left; dry patches on grassland */
                int s = cur[(x - 1) & (TEX_N - 1)] - cur[(x + 1) & (TEX_N - 1)] + up[x] - dn[x];
                shade = iclamp(256 + s * 10 / 64, 120, 400);
                int dry = iclamp(row[x] >> 8, 0, 160);
                if (hh > 440 && hh < 720 && dry > 0)
                    c = mix(c, rgb(150, 136, 84), dry, 256);
            } else {
                shade = 256 + (row[x] >> 11); /* faint wave/depth variation */
            }
            int r = ch_r(c) * shade >> 8, g = ch_g(c) * shade >> 8, b = ch_b(c) * shade >> 8;
            tex[(size_t)y * TEX_N + x] =
                (uint32_t)iclamp(r, 2, 253) << 16 | (uint32_t)iclamp(g, 2, 253) << 8 |
                (uint32_t)iclamp(b, 2, 253);
        }
    }
    ret = 0;
out:
    for (int i = 0; i < TERRAIN_OCT; i++)
        lattice_free(&oct[i]);
    fbm_free(&mf);
    free(row);
    free(hgt);
    return ret;
}

static void video_controls(const video *v, canvas scr, const font *f, int sec)
{
    const uint32_t bg = rgb(24, 24, 26), fg = rgb(230, 230, 235);
    canvas c = cv_sub(scr, v->ctrl.x, v->ctrl.y, v->ctrl.w, v->ctrl.h);
    int w = v->ctrl.w, mid = v->ctrl.h / 2;
    cv_fill(c, 0, 0, w, v->ctrl.h, bg);
    for (int i = 0; i < 12; i++) /* play triangle */
        cv_fill(c, 14 + i / 2, mid - 6 + i / 2, 1, 12 - i, fg);
    int el = 83 + sec, total = 247;
    char buf[32];
    snprintf(buf, sizeof(buf), "%d:%02d / %d:%02d", el / 60, el % 60, total / 60, total % 60);
    cv_text(c, f, 36, mid - 8, buf, fg, bg);
    int tx = 36 + text_w("0:00 / 0:00") + 16, tw = w - tx - 70;
    if (tw > 20) {
        cv_fill(c, tx, mid - 2, tw, 4, rgb(80, 80, 86));
        int fill = tw * el / total;
        cv_fill(c, tx, mid - 2, fill, 4, rgb(230, 52, 52));
        cv_disc(c, tx + fill, mid, 6, rgb(240, 240, 240));
        cv_text(c, f, w - 56, mid - 8, "HD", rgb(160, 160, 170), bg);
        cv_fill(c, w - 28, mid - 3, 4, 6, fg);
        for (int i = 0; i < 6; i++)
            cv_fill(c, w - 24 + i, mid - 3 - i / 2, 1, 6 + i, fg);
    }
}

static int video_init(video *v, canvas scr, const font *f, rect win, uint64_t seed)
{
    memset(v, 0, sizeof(*v));
    rect c = window_draw(scr, f, win, "landscape_flyover.mkv - vdplay", true);
    int ch = imin(40, c.h / 3);
    v->pic = (rect){c.x, c.y, c.w, c.h - ch};
    v->ctrl = (rect){c.x, c.y + c.h - ch, c.w, ch};
    if (v->pic.w < 2 || v->pic.h < 2)
        return 0;
    v->tex = malloc((size_t)TEX_N * TEX_N * sizeof(*v->tex));
    v->noise = malloc(((size_t)NOISE_LEN + v->pic.w) * sizeof(*v->noise));
    if (!v->tex || !v->noise || terrain_build(v->tex, seed) < 0) {
        video_free(v);
        return -ENOMEM;
    }
    uint32_t r = (uint32_t)(seed >> 7) | 1u;
    for (int i = 0; i < NOISE_LEN + v->pic.w; i++) {
        uint32_t p = 0;
        for (int k = 0; k < 3; k++) /* triangular distribution over [-2, 2] */
            p |= (xorshift32(&r) % 3 + xorshift32(&r) % 3) << (k * 8);
        v->noise[i] = p;
    }
    v->rng = (uint32_t)seed | 1u;
    v->active = true;
    video_controls(v, scr, f, 0);
    return 0;
}

static uint32_t lerp_px(uint32_t a, uint32_t b, uint32_t t) /* t in [0, 256] */
{
    uint32_t rb = (((a & 0xff00ffu) * (256 - t) + (b & 0xff00ffu) * t) >> 8) & 0xff00ffu;
    uint32_t g = (((a & 0xff00u) * (256 - t) + (b & 0xff00u) * t) >> 8) & 0xff00u;
    return rb | g;
}

static void video_step(video *v, canvas scr, const font *f, const int16_t *sn, int frame)
{
    if (!v->active)
        return;
    if (frame > 0 && frame % SYNTH_FPS == 0)
        video_controls(v, scr, f, frame / SYNTH_FPS);

    /* camera: texel centre (Q16), scale in texels per pixel (Q16), sway angle */
    const int cut = 165;
    int t = frame < cut ? frame : frame - cut;
    int64_t cx, cy;
    int scale, ang;
    if (frame < cut) {
        cx = ((int64_t)600 << 16) + (int64_t)t * 105000;
        cy = ((int64_t)900 << 16) - (int64_t)t * 46000 + (int64_t)isin(sn, t * 9) * 640;
        scale = 62000 - isin(sn, t * 7) / 2;              /* ~0.95 with slow breathing */
        ang = (isin(sn, t * 6) * 45) >> 14;                /* +-4 degrees */
    } else {
        cx = ((int64_t)1500 << 16) - (int64_t)t * 60000;
        cy = ((int64_t)300 << 16) + (int64_t)t * 85000;
        scale = 58000 - t * 60;                           /* slow zoom in */
        ang = 300 + t;                                    /* slow turn */
    }
    scale = (int)((int64_t)scale * 1280 / v->pic.w); /* same view whatever the window size */
    int64_t dudx = (int64_t)scale * icos(sn, ang) >> 14;
    int64_t dvdx = (int64_t)scale * isin(sn, ang) >> 14;
    int64_t dudy = -dvdx, dvdy = dudx;

    int bx = v->pic.x, by = v->pic.y, bw = v->pic.w, bh = v->pic.h;
    if (!cv_clip(&scr, &bx, &by, &bw, &bh))
        return;
    int ox = bx - v->pic.x, oy = by - v->pic.y;
    int64_t u0 = cx - (v->pic.w / 2) * dudx - (v->pic.h / 2) * dudy;
    int64_t v0 = cy - (v->pic.w / 2) * dvdx - (v->pic.h / 2) * dvdy;
    const uint32_t *tex = v->tex;
    const uint32_t M = TEX_N - 1;
    for (int j = 0; j < bh; j++) {
        int y = oy + j;
        uint32_t u = (uint32_t)(u0 + y * dudy + ox * dudx);
        uint32_t w = (uint32_t)(v0 + y * dvdy + ox * dvdx);
        uint32_t du = (uint32_t)dudx, dw = (uint32_t)dvdx;
        const uint32_t *nz = v->noise + (xorshift32(&v->rng) & (NOISE_LEN - 1));
        uint32_t *out = cv_at(&scr, bx, by + j);
        for (int i = 0; i < bw; i++, u += du, w += dw) {
            uint32_t ix = (u >> 16) & M, iy = (w >> 16) & M;
            uint32_t fx = (u >> 8) & 0xff, fy = (w >> 8) & 0xff;
            const uint32_t *r0 = tex + (iy << TEX_SHIFT), *r1 = tex + (((iy + 1) & M) << TEX_SHIFT);
            uint32_t ix1 = (ix + 1) & M;
            uint32_t top = lerp_px(r0[ix], r0[ix1], fx), bot = lerp_px(r1[ix], r1[ix1], fx);
            out[i] = (lerp_px(top, bot, fy) + nz[i] - 0x020202u) | 0xff000000u;
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* 3D: Gouraud-shaded, z-buffered torus rasterised in fixed point over a static sky and */
/* checkerboard floor, with an fps-style HUD that updates once per second.             */

#define TOR_NU 64
#define TOR_NV 32

typedef struct pvert {
    int64_t x, y; /* screen, Q4 */
    int32_t zi;   /* 2^30 / depth: larger is nearer, linear in screen space */
    int32_t diff, spec; /* Q14 */
} pvert;

typedef struct r3d {
    bool active;
    rect vp, hud;
    uint32_t *bg, *col;
    int32_t *depth;
    int32_t pos[TOR_NU * TOR_NV][3]; /* Q12 */
    int32_t nrm[TOR_NU * TOR_NV][3]; /* Q14 */
    pvert pv[TOR_NU * TOR_NV];
    int focal;
    uint64_t seed;
} r3d;

static void r3d_free(r3d *d)
{
    free(d->bg);
    free(d->col);
    free(d->depth);
    d->bg = d->col = NULL;
    d->depth = NULL;
}

static void r3d_background(r3d *d)
{
    int w = d->vp.w, h = d->vp.h, hz = h * 52 / 100, cx = w / 2;
    const uint32_t top = rgb(38, 64, 128), horizon = rgb(196, 212, 230);
    for (int y = 0; y < h; y++) {
        uint32_t *p = d->bg + (size_t)y * w;
        if (y < hz) {
            uint32_t c = mix(top, horizon, y, imax(1, hz));
            for (int x = 0; x < w; x++)
                p[x] = c;
            continue;
        }
        int dy = y - hz + 1;
        int64_t wz = (int64_t)d->focal * 256 * 3 / 2 / dy; /* floor distance, Q8 units */
        int fog = imin(256, dy * 256 * 3 / imax(1, (h - hz)));
        for (int x = 0; x < w; x++) {
            int64_t wx = (int64_t)(x - cx) * wz / d->focal;
            int chk = (int)(((wx >> 8) ^ (wz >> 8)) & 1);
            uint32_t c = chk ? rgb(206, 206, 212) : rgb(86, 90, 104);
            /* blob shadow under the object */
            int64_t sx = (x - cx) * 256 / imax(1, w / 4), sy = (y - (hz + (h - hz) * 2 / 3)) *
                                                               256 / imax(1, (h - hz) / 5);
            int64_t s2 = sx * sx + sy * sy;
            if (s2 < 65536)
                c = mix(c, rgb(0, 0, 0), (int)(110 - s2 * 110 / 65536), 256);
            p[x] = mix(horizon, c, fog, 256);
        }
    }
}

static int r3d_init(r3d *d, canvas scr, const font *f, rect win, const int16_t *sn, uint64_t seed)
{
    memset(d, 0, sizeof(*d));
    d->vp = window_draw(scr, f, win, "vdgl demo - torus.obj (OpenGL)", true);
    if (d->vp.w < 16 || d->vp.h < 16)
        return 0;
    size_t n = (size_t)d->vp.w * d->vp.h;
    d->bg = malloc(n * sizeof(*d->bg));
    d->col = malloc(n * sizeof(*d->col));
    d->depth = malloc(n * sizeof(*d->depth));
    if (!d->bg || !d->col || !d->depth) {
        r3d_free(d);
        return -ENOMEM;
    }
    d->focal = imin(d->vp.w, d->vp.h) * 95 / 100;
    d->seed = seed;
    r3d_background(d);
    const int R = 4096, r = 1720;
    for (int i = 0; i < TOR_NU; i++)
        for (int j = 0; j < TOR_NV; j++) {
            int th = i * SIN_N / TOR_NU, ph = j * SIN_N / TOR_NV;
            int ct = icos(sn, th), st = isin(sn, th), cp = icos(sn, ph), sp = isin(sn, ph);
            int ring = R + ((r * cp) >> 14);
            int32_t *p = d->pos[i * TOR_NV + j], *q = d->nrm[i * TOR_NV + j];
            p[0] = (ring * ct) >> 14;
            p[1] = (ring * st) >> 14;
            p[2] = (r * sp) >> 14;
            q[0] = (cp * ct) >> 14;
            q[1] = (cp * st) >> 14;
            q[2] = sp;
        }
    int hw = imin(d->vp.w - 16, text_w("FPS 60.0 | 16.7 ms | 4096 tris | 8192x8192") + 12);
    d->hud = (rect){d->vp.x + 8, d->vp.y + 8, imax(0, hw), imin(24, d->vp.h - 8)};
    d->active = true;
    return 0;
}

typedef struct tvert {
    int64_t x, y;
    int64_t a[4]; /* zi, r, g, b */
} tvert;

static void raster_tri(r3d *d, const tvert *v0, const tvert *v1, const tvert *v2)
{
    int64_t area = (v1->x - v0->x) * (v2->y - v0->y) - (v1->y - v0->y) * (v2->x - v0->x);
    if (area <= 0)
        return; /* back-facing or degenerate */
    int W = d->vp.w, H = d->vp.h;
    int64_t mnx = v0->x < v1->x ? v0->x : v1->x, mxx = v0->x > v1->x ? v0->x : v1->x;
    int64_t mny = v0->y < v1->y ? v0->y : v1->y, mxy = v0->y > v1->y ? v0->y : v1->y;
    mnx = v2->x < mnx ? v2->x : mnx;
    mxx = v2->x > mxx ? v2->x : mxx;
    mny = v2->y < mny ? v2->y : mny;
    mxy = v2->y > mxy ? v2->y : mxy;
    int x0 = (int)imax(0, (int)(mnx >> 4)), x1 = imin(W - 1, (int)((mxx + 15) >> 4));
    int y0 = (int)imax(0, (int)(mny >> 4)), y1 = imin(H - 1, (int)((mxy + 15) >> 4));
    if (x0 > x1 || y0 > y1)
        return;
    /* edge functions: e0 weights v0 (edge v1->v2), e1 weights v1, e2 weights v2 */
    int64_t a0 = v1->y - v2->y, b0 = v2->x - v1->x;
    int64_t a1 = v2->y - v0->y, b1 = v0->x - v2->x;
    int64_t a2 = v0->y - v1->y, b2 = v1->x - v0->x;
    int64_t px = (int64_t)x0 * 16 + 8, py = (int64_t)y0 * 16 + 8;
    int64_t e0 = a0 * (px - v1->x) + b0 * (py - v1->y);
    int64_t e1 = a1 * (px - v2->x) + b1 * (py - v2->y);
    int64_t e2 = a2 * (px - v0->x) + b2 * (py - v0->y);
    /* with area > 0 the inside is where all three are >= 0 */
    int64_t dxe0 = a0 * 16, dxe1 = a1 * 16, dxe2 = a2 * 16;
    int64_t dye0 = b0 * 16, dye1 = b1 * 16, dye2 = b2 * 16;
    /* attribute planes in Q16 per pixel step, anchored at v0 */
    int64_t ax[4], ay[4], a_start[4];
    for (int k = 0; k < 4; k++) {
        int64_t sx = dxe0 * v0->a[k] + dxe1 * v1->a[k] + dxe2 * v2->a[k];
        int64_t sy = dye0 * v0->a[k] + dye1 * v1->a[k] + dye2 * v2->a[k];
        ax[k] = sx * 65536 / area;
        ay[k] = sy * 65536 / area;
        a_start[k] = v0->a[k] * 65536 + (ax[k] * (px - v0->x)) / 16 + (ay[k] * (py - v0->y)) / 16;
    }
    for (int y = y0; y <= y1; y++) {
        int64_t w0 = e0, w1 = e1, w2 = e2;
        int64_t z = a_start[0], r = a_start[1], g = a_start[2], b = a_start[3];
        uint32_t *cp = d->col + (size_t)y * W;
        int32_t *dp = d->depth + (size_t)y * W;
        for (int x = x0; x <= x1; x++) {
            if ((w0 | w1 | w2) >= 0) {
                int32_t zz = (int32_t)(z >> 16);
                if (zz > dp[x]) {
                    dp[x] = zz;
                    cp[x] = rgb((int)(r >> 16), (int)(g >> 16), (int)(b >> 16));
                }
            }
            w0 += dxe0;
            w1 += dxe1;
            w2 += dxe2;
            z += ax[0];
            r += ax[1];
            g += ax[2];
            b += ax[3];
        }
        e0 += dye0;
        e1 += dye1;
        e2 += dye2;
        for (int k = 0; k < 4; k++)
            a_start[k] += ay[k];
    }
}

static void r3d_step(r3d *d, canvas scr, const font *f, const int16_t *sn, int frame)
{
    if (!d->active)
        return;
    int W = d->vp.w, H = d->vp.h;
    memcpy(d->col, d->bg, (size_t)W * H * 4);
    memset(d->depth, 0, (size_t)W * H * sizeof(*d->depth));

    int a = frame * 21 + 300, b = frame * 13 + 700;
    int ca = icos(sn, a), sa = isin(sn, a), cb = icos(sn, b), sb = isin(sn, b);
    /* M = Ry(a) * Rx(b), Q14 */
    int m[3][3] = {{ca, (sa * sb) >> 14, (sa * cb) >> 14},
                   {0, cb, -sb},
                   {-sa, (ca * sb) >> 14, (ca * cb) >> 14}};
    const int L[3] = {-7391, 9033, -11497}; /* light direction, Q14 */
    const int Hh[3] = {-4001, 4891, -15116}; /* half vector with the view direction */
    const int64_t D = 13900; /* camera distance, Q12 */
    int cx = W * 16 / 2, cy = H * 16 * 45 / 100;
    for (int i = 0; i < TOR_NU * TOR_NV; i++) {
        int64_t p[3], n[3];
        for (int k = 0; k < 3; k++) {
            p[k] = ((int64_t)m[k][0] * d->pos[i][0] + (int64_t)m[k][1] * d->pos[i][1] +
                    (int64_t)m[k][2] * d->pos[i][2]) >> 14;
            n[k] = ((int64_t)m[k][0] * d->nrm[i][0] + (int64_t)m[k][1] * d->nrm[i][1] +
                    (int64_t)m[k][2] * d->nrm[i][2]) >> 14;
        }
        int64_t z = p[2] + D;
        pvert *o = &d->pv[i];
        o->x = cx + p[0] * d->focal * 16 / z;
        o->y = cy - p[1] * d->focal * 16 / z;
        o->zi = (int32_t)(((int64_t)1 << 30) / z);
        int64_t df = (n[0] * L[0] + n[1] * L[1] + n[2] * L[2]) >> 14;
        int64_t sp = (n[0] * Hh[0] + n[1] * Hh[1] + n[2] * Hh[2]) >> 14;
        o->diff = (int32_t)(df > 0 ? df : 0);
        sp = sp > 0 ? sp : 0;
        for (int k = 0; k < 5; k++) /* ^32 */
            sp = (sp * sp) >> 14;
        o->spec = (int32_t)sp;
    }
    static const uint8_t hue[8][3] = {{220, 70, 60},  {230, 150, 50}, {210, 200, 70},
                                      {90, 190, 80},  {60, 170, 180}, {70, 110, 220},
                                      {140, 90, 210}, {210, 80, 160}};
    for (int i = 0; i < TOR_NU; i++)
        for (int j = 0; j < TOR_NV; j++) {
            int i1 = (i + 1) % TOR_NU, j1 = (j + 1) % TOR_NV;
            int idx[4] = {i * TOR_NV + j, i1 * TOR_NV + j, i1 * TOR_NV + j1, i * TOR_NV + j1};
            const uint8_t *base = hue[i * 8 / TOR_NU];
            int dark = ((i / 4) ^ (j / 4)) & 1 ? 160 : 256;
            tvert tv[4];
            for (int k = 0; k < 4; k++) {
                const pvert *p = &d->pv[idx[k]];
                int lit = 40 + (p->diff * 216 >> 14);
                int s = p->spec * 210 >> 14;
                tv[k].x = p->x;
                tv[k].y = p->y;
                tv[k].a[0] = p->zi;
                for (int c = 0; c < 3; c++)
                    tv[k].a[1 + c] = imin(255, (base[c] * dark >> 8) * lit / 256 + s);
            }
            raster_tri(d, &tv[0], &tv[1], &tv[2]);
            raster_tri(d, &tv[0], &tv[2], &tv[3]);
        }

    /* HUD: values change once per second, like a real fps overlay */
    canvas c = cv_make(d->col, W, H, W);
    int sec = frame / SYNTH_FPS;
    uint64_t hs = d->seed + (uint64_t)sec * 131;
    int fps10 = 575 + rnd(&hs, 0, 30);
    char buf[96];
    snprintf(buf, sizeof(buf), "FPS %d.%d | %d.%d ms | %d tris | %dx%d", fps10 / 10, fps10 % 10,
             10000 / fps10, (100000 / fps10) % 10, TOR_NU * TOR_NV * 2, W, H);
    const uint32_t hb = rgb(12, 14, 18);
    cv_fill(c, 8, 8, d->hud.w, d->hud.h, hb);
    cv_text(cv_sub(c, 8, 8, d->hud.w, d->hud.h), f, 6, 4, buf, rgb(120, 255, 120), hb);

    cv_blit(scr, d->vp.x, d->vp.y, d->col, W, W, H);
}

/* ------------------------------------------------------------------------------------ */
/* Workload                                                                               */

typedef struct synth {
    int kind, w, h, length, frame;
    uint32_t *fb, *wall, *out;
    bool clock_secs;
    term term;
    video vid;
    r3d *r3d;
    mover mv;
    font font;
    int16_t sn[SIN_N];
    bench_region reg[12];
    size_t n_reg;
    int mv_reg; /* index of the dragged window's label, or -1 */
} synth;

static void add_region(synth *s, rect r, enum bench_class cls, int z)
{
    int x0 = imax(0, r.x), y0 = imax(0, r.y);
    int x1 = imin(s->w, r.x + r.w), y1 = imin(s->h, r.y + r.h);
    if (x1 <= x0 || y1 <= y0 || s->n_reg >= sizeof(s->reg) / sizeof(s->reg[0]))
        return;
    /* the id is the slot: setup adds the same labels in the same order, and the dragged
     * window is re-added at its own slot every frame, so ids stay stable while it moves */
    s->reg[s->n_reg] = (bench_region){x0, y0, x1 - x0, y1 - y0, cls, z, (int)s->n_reg};
    s->n_reg++;
}

static void synth_free(synth *s)
{
    term_free(&s->term);
    video_free(&s->vid);
    if (s->r3d)
        r3d_free(s->r3d);
    free(s->r3d);
    mover_free(&s->mv);
    free(s->fb);
    free(s->wall);
    free(s->out);
    free(s);
}

static void synth_close(bench_workload *wl)
{
    if (wl->priv)
        synth_free(wl->priv);
    wl->priv = NULL;
}

/* Scales a rectangle given on a 1920 x 1040 desktop (above the taskbar) to w x dh. */
static rect scale_rect(rect r, int w, int dh)
{
    int x0 = r.x * w / 1920, x1 = (r.x + r.w) * w / 1920;
    int y0 = r.y * dh / 1040, y1 = (r.y + r.h) * dh / 1040;
    return (rect){x0, y0, x1 - x0, y1 - y0};
}

static rect centred(int w, int dh, int ww, int wh)
{
    return (rect){(w - ww) / 2, imax(0, (dh - wh) / 2), ww, wh};
}

static void synth_step(synth *s, int frame)
{
    canvas scr = cv_make(s->fb, s->w, s->h, s->w);
    term_step(&s->term, scr, &s->font, frame);
    video_step(&s->vid, scr, &s->font, s->sn, frame);
    if (s->r3d)
        r3d_step(s->r3d, scr, &s->font, s->sn, frame);
    if (s->mv.active) {
        mover_step(&s->mv, scr, s->wall, frame, frame == 0);
        if (s->mv_reg >= 0) {
            s->n_reg = (size_t)s->mv_reg;
            add_region(s, (rect){s->mv.cx, s->mv.cy, s->mv.w, s->mv.h}, BENCH_CLASS_TEXT, 4);
        }
    }
    if (s->clock_secs && frame > 0 && frame % SYNTH_FPS == 0)
        taskbar_clock(scr, &s->font, s->w, s->h, frame / SYNTH_FPS, true);
}

static int synth_next(bench_workload *wl, bench_frame *fr)
{
    synth *s = wl->priv;
    if (s->frame >= s->length)
        return 0;
    if (s->frame > 0) /* frame 0 was rendered at open */
        synth_step(s, s->frame);
    const uint32_t *px = s->fb;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < (size_t)s->w * s->h; i++)
        s->out[i] = __builtin_bswap32(s->fb[i]);
    px = s->out;
#endif
    memset(fr, 0, sizeof(*fr));
    fr->data = (const uint8_t *)px;
    fr->stride = (size_t)s->w * 4;
    fr->width = s->w;
    fr->height = s->h;
    fr->index = s->frame;
    fr->pts_us = (int64_t)s->frame * 1000000 / SYNTH_FPS;
    fr->regions = s->reg;
    fr->n_regions = s->n_reg;
    s->frame++;
    return 1;
}

static const bench_workload_ops synth_ops = {synth_next, synth_close};

static int synth_setup(synth *s)
{
    int w = s->w, h = s->h, tb = taskbar_height(h), dh = h - tb;
    size_t npx = (size_t)w * h;
    bool needs_wall = s->kind == K_DRAG || s->kind == K_MIXED;
    canvas scr = cv_make(s->fb, w, h, w);
    int ret;

    if ((ret = wallpaper_render(s->fb, w, h, 0x5eed0001u)) < 0)
        return ret;
    if (needs_wall) {
        s->wall = malloc(npx * sizeof(*s->wall));
        if (!s->wall)
            return -ENOMEM;
        memcpy(s->wall, s->fb, npx * sizeof(*s->wall));
    }
    s->clock_secs = s->kind == K_MIXED;
    taskbar_draw(scr, &s->font, w, h, s->clock_secs);
    add_region(s, (rect){0, 0, w, h}, BENCH_CLASS_STATIC, 0);
    add_region(s, (rect){0, dh, w, tb}, BENCH_CLASS_TEXT, 1);
    s->mv_reg = -1;

    rect term_r = {0}, vid_r = {0}, r3d_r = {0}, free_r = {0};
    int mvw = 0, mvh = 0;
    switch (s->kind) {
    case K_TERMINAL:
        term_r = (rect){0, 0, imin(1200, w - 64), imin(800, dh - 48)};
        term_r.x = (w - term_r.w) / 3;
        term_r.y = (dh - term_r.h) / 3;
        break;
    case K_DRAG:
        mvw = imin(800, w * 2 / 3);
        mvh = imin(600, dh * 3 / 4);
        free_r = (rect){0, 0, w - mvw, dh - mvh};
        break;
    case K_VIDEO: {
        int pw = imin(1280, w - 64), ph = pw * 9 / 16;
        if (ph + TITLE_H + 41 > dh - 32) {
            ph = dh - 32 - TITLE_H - 41;
            pw = ph * 16 / 9;
        }
        vid_r = centred(w, dh, pw + 2, ph + TITLE_H + 41);
        break;
    }
    case K_3D: {
        int vw = imin(960, w - 64), vh = imin(720, dh - 32 - TITLE_H - 1);
        r3d_r = centred(w, dh, vw + 2, vh + TITLE_H + 1);
        break;
    }
    default: /* K_MIXED: reference layout on a 1920 x 1040 desktop, scaled */
        term_r = scale_rect((rect){12, 12, 860, 560}, w, dh);
        vid_r = scale_rect((rect){884, 12, 1024, 646}, w, dh);
        r3d_r = scale_rect((rect){12, 584, 860, 444}, w, dh);
        free_r = scale_rect((rect){884, 670, 1024, 358}, w, dh);
        mvw = 400 * w / 1920;
        mvh = imax(TITLE_H + 8, 280 * dh / 1040);
        free_r.w -= mvw; /* free_r becomes the range of top-left positions */
        free_r.h -= mvh;
        break;
    }

    uint64_t seed = 0x5eed0100u + (uint64_t)s->kind;
    if (term_r.w > 0) {
        if ((ret = term_init(&s->term, scr, &s->font, term_r, w, h, seed + 1)) < 0)
            return ret;
        add_region(s, term_r, BENCH_CLASS_TEXT, 1);
    }
    if (vid_r.w > 0) {
        if ((ret = video_init(&s->vid, scr, &s->font, vid_r, seed + 2)) < 0)
            return ret;
        add_region(s, vid_r, BENCH_CLASS_TEXT, 1);
        if (s->vid.active)
            add_region(s, s->vid.pic, BENCH_CLASS_VIDEO, 2);
    }
    if (r3d_r.w > 0) {
        s->r3d = malloc(sizeof(*s->r3d));
        if (!s->r3d)
            return -ENOMEM;
        if ((ret = r3d_init(s->r3d, scr, &s->font, r3d_r, s->sn, seed + 3)) < 0)
            return ret;
        add_region(s, r3d_r, BENCH_CLASS_TEXT, 1);
        if (s->r3d->active) {
            add_region(s, s->r3d->vp, BENCH_CLASS_3D, 2);
            add_region(s, s->r3d->hud, BENCH_CLASS_TEXT, 3);
        }
    }
    if (mvw > 0) {
        const char *title = s->kind == K_DRAG ? "Files - Documents" : "Files - Pictures";
        if ((ret = mover_init(&s->mv, &s->font, mvw, mvh, s->length, title, seed + 4)) < 0)
            return ret;
        if (s->mv.active) {
            uint64_t r = seed + 5;
            free_r.w = imax(0, free_r.w);
            free_r.h = imax(0, free_r.h);
            /* parked at the right end of the free area; the drag workload keeps moving,
             * mixed drags only during two stretches of the run */
            s->mv.px[0] = free_r.x + free_r.w * (s->kind == K_DRAG ? 1 : 4) / 5;
            s->mv.py[0] = free_r.y + free_r.h / 3;
            for (int i = 1; i < s->length; i++) {
                s->mv.px[i] = s->mv.px[0];
                s->mv.py[i] = s->mv.py[0];
            }
            if (s->kind == K_DRAG) {
                path_plan(s->mv.px, s->mv.py, 1, s->length, free_r, &r);
            } else {
                int a0 = imin(75, s->length), a1 = imin(165, s->length);
                int b0 = imin(210, s->length), b1 = imin(262, s->length);
                if (a0 > 0 && a1 > a0)
                    path_plan(s->mv.px, s->mv.py, a0, a1, free_r, &r);
                for (int i = a1; i < s->length && a1 > 0; i++) {
                    s->mv.px[i] = s->mv.px[a1 - 1];
                    s->mv.py[i] = s->mv.py[a1 - 1];
                }
                if (b0 > 0 && b1 > b0)
                    path_plan(s->mv.px, s->mv.py, b0, b1, free_r, &r);
                for (int i = b1; i < s->length && b1 > 0; i++) {
                    s->mv.px[i] = s->mv.px[b1 - 1];
                    s->mv.py[i] = s->mv.py[b1 - 1];
                }
            }
            s->mv_reg = (int)s->n_reg;
        }
    }
    synth_step(s, 0);
    return 0;
}

int bench_synth_open(bench_workload *wl, const char *name, int width, int height, int nframes)
{
    int kind = -1;
    if (!name)
        name = synth_names[0];
    for (int i = 0; i < K_COUNT; i++)
        if (!strcmp(name, synth_names[i]))
            kind = i;
    if (kind < 0 || width < SYNTH_MIN_DIM || height < SYNTH_MIN_DIM || width > SYNTH_MAX_DIM ||
        height > SYNTH_MAX_DIM)
        return -EINVAL;

    synth *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->kind = kind;
    s->w = width;
    s->h = height;
    s->length = nframes > 0 ? nframes : SYNTH_DEFAULT_LEN;
    s->fb = malloc((size_t)width * height * sizeof(*s->fb));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    s->out = malloc((size_t)width * height * sizeof(*s->out));
    if (!s->out) {
        synth_free(s);
        return -ENOMEM;
    }
#endif
    if (!s->fb) {
        synth_free(s);
        return -ENOMEM;
    }
    sin_table_init(s->sn);
    font_init(&s->font);
    int ret = synth_setup(s);
    if (ret < 0) {
        synth_free(s);
        return ret;
    }
    wl->ops = &synth_ops;
    wl->priv = s;
    snprintf(wl->name, sizeof(wl->name), "%s", synth_names[kind]);
    wl->fps = SYNTH_FPS;
    wl->length = s->length;
    return 0;
}
