/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Built-in synthetic desktop workloads: "mixed", "terminal", "drag", "video", "3d",
 * "windows", "subtitles" ("video" with burned-in subtitles over its picture).
 *
 * Every workload is integer-only and driven by fixed-seed PRNGs, so a given
 * (name, size, length) yields bit-identical frames on every machine and compiler.
 * Frames are rendered incrementally into one persistent framebuffer and only what
 * really changes is redrawn; that keeps generation cheap and gives the codec the
 * damage statistics of a real desktop (unchanged pixels keep their exact values).
 */
#include "workload_impl.h"

#include <errno.h>
#include <pthread.h>
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

/* New kinds go last: a kind's value seeds its content. */
enum synth_kind { K_MIXED, K_TERMINAL, K_DRAG, K_VIDEO, K_3D, K_WINDOWS, K_SUBTITLES, K_COUNT };

static const char *const synth_names[K_COUNT + 1] = {"mixed", "terminal", "drag", "video", "3d",
                                                     "windows", "subtitles", NULL};

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

/* Copies a w x h block of src (stride in pixels) to local (x, y); keyed: not its 0 pixels
 * (transparent). */
static void cv_blit_ex(canvas c, int x, int y, const uint32_t *src, ptrdiff_t sstride, int w,
                       int h, bool keyed)
{
    int bx = x, by = y, bw = w, bh = h;
    if (!cv_clip(&c, &bx, &by, &bw, &bh))
        return;
    const uint32_t *s = src + (by - (c.oy + y)) * sstride + (bx - (c.ox + x));
    for (int j = 0; j < bh; j++) {
        uint32_t *p = cv_at(&c, bx, by + j);
        if (!keyed) {
            memcpy(p, s + j * sstride, (size_t)bw * 4);
            continue;
        }
        for (int i = 0; i < bw; i++)
            if (s[j * sstride + i])
                p[i] = s[j * sstride + i];
    }
}

static void cv_blit(canvas c, int x, int y, const uint32_t *src, ptrdiff_t sstride, int w, int h)
{
    cv_blit_ex(c, x, y, src, sstride, w, h, false);
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
/* Renderings kept for the process: the terrain takes about 150 ms and the wallpaper 40 ms  */
/* to make, and a host that loops a workload by opening it again (vdserver) stalled its   */
/* event loop for that long, and with it the ACKs it timed.  One per kind, the last made. */

typedef struct kept_pixels {
    pthread_mutex_t lock;
    uint32_t *px;
    int w, h;
    uint64_t seed;
} kept_pixels;

/* render(dst, w, h, seed) into dst, or the copy kept of the same. */
static int kept_render(kept_pixels *k, uint32_t *dst, int w, int h, uint64_t seed,
                       int (*render)(uint32_t *, int, int, uint64_t))
{
    size_t size = (size_t)w * h * sizeof(*dst);
    pthread_mutex_lock(&k->lock);
    int kept = k->px && k->w == w && k->h == h && k->seed == seed;
    if (kept)
        memcpy(dst, k->px, size);
    pthread_mutex_unlock(&k->lock);
    if (kept)
        return 0;
    int ret = render(dst, w, h, seed);
    uint32_t *copy = ret < 0 ? NULL : malloc(size);
    if (copy) { /* (without memory for the copy, the next opening renders again) */
        memcpy(copy, dst, size);
        pthread_mutex_lock(&k->lock);
        free(k->px);
        k->px = copy;
        k->w = w;
        k->h = h;
        k->seed = seed;
        pthread_mutex_unlock(&k->lock);
    }
    return ret;
}

static kept_pixels kept_wallpaper = {.lock = PTHREAD_MUTEX_INITIALIZER};
static kept_pixels kept_terrain = {.lock = PTHREAD_MUTEX_INITIALIZER};

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

/* Window frame: 1 px border and a title bar with title and three caption buttons; an
 * inactive (unfocused) window has a paler bar and greyed text.  Returns the client
 * rectangle. */
static rect window_draw_ex(canvas scr, const font *f, rect r, const char *title, bool dark,
                           bool active)
{
    uint32_t border = dark ? rgb(20, 20, 20) : rgb(150, 150, 156);
    uint32_t bar = active ? (dark ? rgb(56, 56, 60) : rgb(228, 228, 232))
                          : (dark ? rgb(40, 40, 43) : rgb(243, 243, 245));
    uint32_t fg = active ? (dark ? rgb(220, 220, 220) : rgb(40, 40, 44))
                         : (dark ? rgb(128, 128, 132) : rgb(138, 138, 144));
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

static rect window_draw(canvas scr, const font *f, rect r, const char *title, bool dark)
{
    return window_draw_ex(scr, f, r, title, dark, true);
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
    rect moved;     /* pixels the last frame's scroll moved (where they landed), w = 0: none */
    int moved_dy;
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
    if (rnd(r, 0, 2) == 0) {
        const char *w2 = word(r), *w1 = word(r);
        snprintf(buf, n, "%s_%s%s", w1, w2, ext[e]);
    } else
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
    case CMD_LS: {
        gen_filename(r, name, sizeof(name), &at);
        int mi = rnd(r, 0, 59), hh = rnd(r, 0, 23), day = rnd(r, 1, 28);
        int size = rnd(r, 0, 3) ? rnd(r, 40, 99999) : rnd(r, 100000, 9999999);
        int links = rnd(r, 1, 9);
        snprintf(b, sizeof(b), "%s %2d user user %8d Mar %2d %02d:%02d ",
                 at == A_BLUE ? "drwxr-xr-x" : at == A_CYAN ? "-rwxr-xr-x" : "-rw-r--r--", links,
                 size, day, hh, mi);
        tl_put(l, A_DEF, b);
        tl_put(l, at, name);
        break;
    }
    case CMD_MAKE:
        if (idx == last - 1) {
            tl_put(l, A_DEF, "  LD      ");
            tl_put(l, A_DEF, "build/libvd.so.1.4.0");
        } else if (rnd(r, 0, 11) == 0) {
            int col = rnd(r, 2, 40), ln = rnd(r, 10, 999);
            const char *w2 = word(r), *w1 = word(r);
            snprintf(b, sizeof(b), "lib/%s/%s.c:%d:%d: ", w1, w2, ln, col);
            tl_put(l, A_WHITE, b);
            tl_put(l, A_MAGENTA, "warning: ");
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), "unused variable '%s_%s' ", w1, w2);
            tl_put(l, A_DEF, b);
            tl_put(l, A_MAGENTA, "[-Wunused-variable]");
        } else {
            tl_put(l, A_DEF, "  CC      ");
            const char *w3 = word(r), *w2 = word(r), *w1 = word(r);
            snprintf(b, sizeof(b), "lib/%s/%s_%s.o", w1, w2, w3);
            tl_put(l, A_DEF, b);
        }
        break;
    case CMD_GREP: {
        const char *w2 = word(r), *w1 = word(r);
        snprintf(b, sizeof(b), "%s/%s_%s.c", rnd(r, 0, 1) ? "lib" : "codec", w1, w2);
        tl_put(l, A_MAGENTA, b);
        tl_put(l, A_CYAN, ":");
        snprintf(b, sizeof(b), "%d", rnd(r, 1, 2400));
        tl_put(l, A_GREEN, b);
        tl_put(l, A_CYAN, ":");
        w2 = word(r);
        w1 = word(r);
        const char *ty = rnd(r, 0, 1) ? "int" : "ret =";
        snprintf(b, sizeof(b), "%*s%s %s_%s(", rnd(r, 0, 3) * 4, "", ty, w1, w2);
        tl_put(l, A_DEF, b);
        tl_put(l, A_RED, "encode_tile");
        int arg = rnd(r, 0, 64);
        const char *w3 = word(r);
        w2 = word(r);
        w1 = word(r);
        snprintf(b, sizeof(b), "(%s, %s->%s, %d);", w1, w2, w3, arg);
        tl_put(l, A_DEF, b);
        break;
    }
    case CMD_DMESG: {
        int us = rnd(r, 0, 999999);
        snprintf(b, sizeof(b), "[%5d.%06d] ", 1200 + idx * 3 + rnd(r, 0, 2), us);
        tl_put(l, A_GREEN, b);
        unsigned x = (unsigned)splitmix64(r);
        const char *w3 = word(r), *w2 = word(r), *w1 = word(r);
        int dev = rnd(r, 0, 9);
        snprintf(b, sizeof(b), "%s%d: %s %s %s 0x%08x", rnd(r, 0, 1) ? "usb 1-" : "nvme", dev, w1,
                 w2, w3, x);
        tl_put(l, A_DEF, b);
        break;
    }
    case CMD_GITLOG:
        switch (idx % 9) {
        case 0: {
            unsigned c3 = (unsigned)splitmix64(r);
            unsigned long long c2 = splitmix64(r), c1 = splitmix64(r);
            snprintf(b, sizeof(b), "commit %016llx%016llx%08x", c1, c2, c3);
            tl_put(l, A_YELLOW, b);
            break;
        }
        case 1: tl_put(l, A_DEF, "Author: Dev Eloper <dev@example.org>"); break;
        case 2: {
            int ss = rnd(r, 0, 59), mm = rnd(r, 0, 59), hh = rnd(r, 8, 20), dd = rnd(r, 1, 28);
            snprintf(b, sizeof(b), "Date:   Tue Mar %d %02d:%02d:%02d 2024 +0100", dd, hh, mm, ss);
            tl_put(l, A_DEF, b);
            break;
        }
        case 4: {
            const char *w5 = word(r), *w4 = word(r), *w3 = word(r), *w2 = word(r),
                       *w1 = word(r);
            snprintf(b, sizeof(b), "    %s: %s the %s %s before %s", w1, w2, w3, w4, w5);
            tl_put(l, A_DEF, b);
            break;
        }
        case 6:
        case 7: {
            int add = rnd(r, 0, 30), del = rnd(r, 0, 12);
            const char *w2 = word(r), *w1 = word(r);
            snprintf(b, sizeof(b), " lib/%s/%s.c | %3d ", w1, w2, add + del);
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
        const char *w1, *w2, *w3;
        snprintf(b, sizeof(b), "%*s", ind, "");
        tl_put(l, A_DEF, b);
        switch (rnd(r, 0, 6)) {
        case 0:
            w3 = word(r);
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), "/* %s the %s %s */", w1, w2, w3);
            tl_put(l, A_DIM, b);
            break;
        case 1: {
            tl_put(l, A_BLUE, kw[rnd(r, 0, 9)]);
            int v = rnd(r, 0, 4096);
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), " %s_%s = %d;", w1, w2, v);
            tl_put(l, A_DEF, b);
            break;
        }
        case 2:
            tl_put(l, A_MAGENTA, "if");
            w3 = word(r);
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), " (%s->%s < %s) {", w1, w2, w3);
            tl_put(l, A_DEF, b);
            break;
        case 3:
            tl_put(l, A_MAGENTA, "return");
            w3 = word(r);
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), " %s_%s(%s);", w1, w2, w3);
            tl_put(l, A_DEF, b);
            break;
        case 4:
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), "%s(%s, ", w1, w2);
            tl_put(l, A_DEF, b);
            w2 = word(r);
            w1 = word(r);
            snprintf(b, sizeof(b), "\"%s %s\\n\"", w1, w2);
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
            const char *w2 = word(r), *w1 = word(r);
            snprintf(b, sizeof(b), "test_%s_%s ", w1, w2);
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
    t->moved.w = 0;
    if (t->scroll > 0 && t->scroll < t->rows && t->fully_visible) {
        int sh = t->scroll * GLYPH_H, hpx = (t->rows * GLYPH_H) - sh;
        t->moved = (rect){t->tx, t->ty, t->cols * GLYPH_W, hpx};
        t->moved_dy = sh;
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
        int frac = rnd(&r, 0, 9), whole = rnd(&r, 1, 999);
        snprintf(size, sizeof(size), dir ? "%d items" : "%d.%d kB", whole, frac);
        int mi = rnd(&r, 0, 59), hh = rnd(&r, 8, 19), dd = rnd(&r, 1, 28), mo = rnd(&r, 1, 3);
        snprintf(date, sizeof(date), "2024-0%d-%02d %02d:%02d", mo, dd, hh, mi);
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

static int terrain_render(uint32_t *tex, int w, int h, uint64_t seed)
{
    (void)w, (void)h; /* TEX_N square */
    return terrain_build(tex, seed);
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
    if (!v->tex || !v->noise ||
        kept_render(&kept_terrain, v->tex, TEX_N, TEX_N, seed, terrain_render) < 0) {
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
/* Windows: a user alt-tabbing between three applications at fixed positions: a code    */
/* editor (maximised), a word processor page and a terminal (nearly maximised).         */
/*
 * Frame 0 is the bare desktop.  At frame 1 + APP_SWITCH_EVERY * k, window k % 3 comes to
 * the front (the first round opens the editor, the document, the terminal; every later
 * one is a return).  In between, light typing into the front window (0 to 3 characters a
 * frame, about one on average, from the 4th frame after the switch to the 3rd before the
 * next) and a caret blinking every APP_BLINK frames, its phase restarted on focus.  The
 * window that leaves the front gets an inactive title bar and loses its caret (the
 * terminal's turns into a hollow block).  Typing only appends into empty space (a new
 * function below the code, the end of the last paragraph, the shell prompt), so nothing
 * else in a window moves.
 *
 * Each window is rendered once into its own image and only typing changes it; bringing
 * it to the front blits that image, so a window that comes back shows exactly what it
 * showed when it last left the front.  Since the stacking order repeats every round,
 * the pixels around a window at its return are those around it at its first showing.
 * Labels: wallpaper and taskbar static (ids 0 and 1); each open window text, with its
 * own id (2 editor, 3 document, 4 terminal) and z in stacking order.
 */

enum { APP_EDITOR, APP_DOC, APP_TERM, APP_N };

#define APP_SWITCH_EVERY 30 /* frames from one window coming to the front to the next */
#define APP_BLINK 15        /* caret blink half-period, frames */
#define EDIT_LINE_H 18
#define DOC_LINE_H 20

/* Syntax classes of the editor's dark theme. */
enum { H_TEXT, H_KW, H_CTRL, H_TYPE, H_FUNC, H_VAR, H_STR, H_NUM, H_COMMENT, H_PRE, H_N };

static const uint32_t hl_col[H_N] = {0xffd4d4d4, 0xff569cd6, 0xffc586c0, 0xff4ec9b0,
                                     0xffdcdcaa, 0xff9cdcfe, 0xffce9178, 0xffb5cea8,
                                     0xff6a9955, 0xffc586c0};
static const uint32_t EDIT_BG = 0xff1e1e1e;
static const uint32_t EDIT_LINENO = 0xff858585;

typedef struct typed_char {
    int16_t x, y; /* top-left of the glyph cell, window-local */
    uint8_t ch, attr;
    int16_t line; /* editor: line number to show when this char starts a line, else 0 */
} typed_char;

typedef struct app {
    int kind;
    rect r;        /* on screen */
    uint32_t *img; /* r.w x r.h: the window exactly as it looks on screen */
    const char *title;
    bool dark, open, focused;
    uint32_t bg, caret_col;
    int caret_w;          /* 2: I-beam (editor, document); GLYPH_W: block (terminal) */
    uint32_t pal[H_N][5]; /* typed text per attribute */
    typed_char *script;   /* n_script chars to type, then the caret position after them */
    int n_script, n_typed;
    int gutter_r;          /* editor: right edge of the line numbers */
    int code_x, code_y;    /* editor: cell (0, 0) of the text */
    int mm_x, mm_y, mm_w;  /* editor: minimap origin and width (0: none) */
    int focus_frame;
    int caret_state, caret_x, caret_y; /* drawn caret: 0 none, 1 solid, 2 hollow */
} app;

typedef struct desk {
    app app[APP_N];
    int stack[APP_N]; /* open windows, bottom to top */
    int n_stack;
    uint64_t rng;
    int front, front_returns; /* this frame's bench_frame fields; front is a label id */
} desk;

/* Same origin, clip narrowed to the local rectangle (x, y, w, h). */
static canvas cv_clipto(canvas c, int x, int y, int w, int h)
{
    canvas s = cv_sub(c, x, y, w, h);
    s.ox = c.ox;
    s.oy = c.oy;
    return s;
}

/* Twice-size text (each font pixel a 2x2 block), for headings. */
static int cv_text2x(canvas c, const font *f, int x, int y, const char *s, uint32_t fg, uint32_t bg)
{
    uint32_t pal[5];
    ramp(pal, fg, bg);
    for (; *s; s++, x += 2 * GLYPH_W) {
        unsigned ch = (unsigned char)*s;
        if (ch < 32 || ch > 126)
            ch = '?';
        for (int j = 0; j < GLYPH_H; j++)
            for (int i = 0; i < GLYPH_W; i++)
                cv_fill(c, x + 2 * i, y + 2 * j, 2, 2, pal[f->g[ch - 32][j][i]]);
    }
    return x;
}

/* Script builder: cells that do not fit the clip end the script. */
typedef struct script_b {
    typed_char *v;
    int n, cap;
    rect clip; /* window-local */
    bool full;
} script_b;

static void sb_add(script_b *b, int x, int y, int ch, int attr, int line)
{
    if (b->full || b->n >= b->cap || x < b->clip.x || y < b->clip.y ||
        x + GLYPH_W > b->clip.x + b->clip.w || y + GLYPH_H > b->clip.y + b->clip.h) {
        b->full = true;
        return;
    }
    b->v[b->n++] = (typed_char){(int16_t)x, (int16_t)y, (uint8_t)ch, (uint8_t)attr, (int16_t)line};
}

/* The last cell added only marks where the caret rests after the others were typed. */
static void sb_finish(script_b *b, app *a)
{
    if (b->n == 0) {
        free(b->v);
        b->v = NULL;
    }
    a->script = b->v;
    a->n_script = imax(0, b->n - 1);
}

static int sb_init(script_b *b, const char *const *text, size_t n, rect clip)
{
    size_t len = 2;
    for (size_t i = 0; i < n; i++)
        len += strlen(text[i]) + 1;
    memset(b, 0, sizeof(*b));
    b->v = malloc(len * sizeof(*b->v));
    b->cap = (int)len;
    b->clip = clip;
    return b->v ? 0 : -ENOMEM;
}

static bool is_idch(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool word_in(const char *s, int n, const char *const *list)
{
    for (; *list; list++)
        if ((int)strlen(*list) == n && !strncmp(s, *list, (size_t)n))
            return true;
    return false;
}

/* Colours one line of C like a dark editor theme; returns whether a block comment is
 * still open at its end. */
static bool c_highlight(const char *s, uint8_t *at, bool in_comment)
{
    static const char *const ctrl[] = {"if",   "else",   "for",     "while", "do",
                                       "return", "break", "continue", "switch", "case",
                                       "default", "goto", NULL};
    static const char *const kw[] = {"static", "const",  "struct", "typedef", "void",
                                     "int",    "unsigned", "char", "bool",    "enum",
                                     "union",  "long",   "short",  "sizeof",  "inline",
                                     "extern", "NULL",   "true",   "false",   NULL};
    static const char *const types[] = {"tile_cache", "cache_slot", NULL};
    int n = (int)strlen(s), i = 0, j = 0;
    while (s[j] == ' ')
        j++;
    bool pre = !in_comment && s[j] == '#';
    while (i < n) {
        char c = s[i];
        if (in_comment) {
            at[i] = H_COMMENT;
            if (c == '*' && s[i + 1] == '/') {
                at[i + 1] = H_COMMENT;
                i += 2;
                in_comment = false;
            } else {
                i++;
            }
        } else if (c == '/' && s[i + 1] == '*') {
            at[i] = at[i + 1] = H_COMMENT;
            i += 2;
            in_comment = true;
        } else if (c == '/' && s[i + 1] == '/') {
            for (; i < n; i++)
                at[i] = H_COMMENT;
        } else if (c == '"' || c == '\'' || (pre && c == '<')) {
            char close = c == '<' ? '>' : c;
            int e = i + 1;
            while (e < n && s[e] != close)
                e += s[e] == '\\' && e + 1 < n ? 2 : 1;
            e = imin(n, e + 1);
            for (; i < e; i++)
                at[i] = H_STR;
        } else if (c >= '0' && c <= '9') {
            while (i < n && is_idch(s[i]))
                at[i++] = H_NUM;
        } else if (is_idch(c)) {
            int e = i, len, cls;
            while (e < n && is_idch(s[e]))
                e++;
            len = e - i;
            bool upper = true;
            for (int k = i; k < e; k++)
                upper = upper && !(s[k] >= 'a' && s[k] <= 'z');
            int k = e;
            while (s[k] == ' ')
                k++;
            if (pre && i > 0 && s[i - 1] == '#')
                cls = H_PRE;
            else if (word_in(s + i, len, ctrl))
                cls = H_CTRL;
            else if (word_in(s + i, len, kw) || upper)
                cls = H_KW;
            else if ((len > 2 && s[e - 2] == '_' && s[e - 1] == 't') || word_in(s + i, len, types))
                cls = H_TYPE;
            else if (s[k] == '(')
                cls = H_FUNC;
            else
                cls = H_VAR;
            for (; i < e; i++)
                at[i] = (uint8_t)cls;
        } else {
            at[i++] = c == '#' ? H_PRE : H_TEXT;
        }
    }
    return in_comment;
}

static const char *const editor_src[] = {
    "/* Tile cache: recently sent 64x64 tiles, keyed by a hash of their pixels.",
    " * SPDX-License-Identifier: LGPL-2.1-or-later */",
    "#include \"tile_cache.h\"",
    "",
    "#include <errno.h>",
    "#include <stdint.h>",
    "#include <stdlib.h>",
    "#include <string.h>",
    "",
    "#define CACHE_MIN_SLOTS 256",
    "#define CACHE_MAX_LOAD 75 /* percent */",
    "",
    "typedef struct cache_slot {",
    "    uint64_t key;      /* hash of the tile's pixels, 0 when free */",
    "    uint32_t id;       /* the id the decoder knows the tile by */",
    "    uint32_t last_use; /* frame counter, for eviction */",
    "} cache_slot;",
    "",
    "struct tile_cache {",
    "    cache_slot *slot;",
    "    size_t cap, used;",
    "    uint32_t next_id, clock;",
    "};",
    "",
    "static size_t round_pow2(size_t n)",
    "{",
    "    size_t p = CACHE_MIN_SLOTS;",
    "    while (p < n)",
    "        p <<= 1;",
    "    return p;",
    "}",
    "",
    "tile_cache *tile_cache_new(size_t max_tiles)",
    "{",
    "    tile_cache *c = calloc(1, sizeof(*c));",
    "    if (!c)",
    "        return NULL;",
    "    c->cap = round_pow2(max_tiles * 100 / CACHE_MAX_LOAD);",
    "    c->slot = calloc(c->cap, sizeof(*c->slot));",
    "    if (!c->slot) {",
    "        free(c);",
    "        return NULL;",
    "    }",
    "    return c;",
    "}",
    "",
    "void tile_cache_free(tile_cache *c)",
    "{",
    "    if (!c)",
    "        return;",
    "    free(c->slot);",
    "    free(c);",
    "}",
    "",
    "/* Forgets the least recently used quarter when the table gets too full. */",
    "static void cache_evict(tile_cache *c)",
    "{",
    "    uint32_t cut = c->clock - (c->clock - c->slot[0].last_use) / 4;",
    "    for (size_t i = 0; i < c->cap; i++)",
    "        if (c->slot[i].key && c->slot[i].last_use < cut) {",
    "            c->slot[i].key = 0;",
    "            c->used--;",
    "        }",
    "}",
    "",
    "int tile_cache_insert(tile_cache *c, uint64_t key, uint32_t *id)",
    "{",
    "    if (c->used * 100 >= c->cap * CACHE_MAX_LOAD)",
    "        cache_evict(c);",
    "    size_t mask = c->cap - 1, i = key & mask;",
    "    while (c->slot[i].key && c->slot[i].key != key)",
    "        i = (i + 1) & mask;",
    "    if (!c->slot[i].key)",
    "        c->used++;",
    "    c->slot[i] = (cache_slot){key, c->next_id++, c->clock};",
    "    *id = c->slot[i].id;",
    "    return 0;",
    "}",
};
#define EDITOR_SRC_N ((int)(sizeof(editor_src) / sizeof(editor_src[0])))

static const char *const editor_typed[] = {
    "int tile_cache_find(tile_cache *c, uint64_t key, uint32_t *id)",
    "{",
    "    size_t mask = c->cap - 1, i = key & mask;",
    "    for (size_t n = 0; n < c->cap; n++, i = (i + 1) & mask) {",
    "        if (!c->slot[i].key)",
    "            return -ENOENT;",
    "        if (c->slot[i].key == key) {",
    "            c->slot[i].last_use = c->clock;",
    "            *id = c->slot[i].id;",
    "            return 0;",
    "        }",
    "    }",
    "    return -ENOENT;",
    "}",
};

static void draw_hl_line(canvas c, const font *f, int x, int y, const char *s, const uint8_t *at,
                         uint32_t pal[H_N][5])
{
    for (int i = 0; s[i]; i++)
        if (s[i] != ' ')
            cv_glyph(c, f, x + i * GLYPH_W, y, (unsigned char)s[i], pal[at[i]]);
}

/* Dark code editor: menu bar, activity bar, file tree, tabs, breadcrumbs, line numbers,
 * highlighted code, minimap, status bar.  Typing writes a new function below the code. */
static int editor_render(app *a, const font *f)
{
    canvas im = cv_make(a->img, a->r.w, a->r.h, a->r.w);
    rect cl = window_draw_ex(im, f, (rect){0, 0, a->r.w, a->r.h}, a->title, true, false);
    canvas in = cv_sub(im, cl.x, cl.y, cl.w, cl.h);
    int cw = cl.w, chh = cl.h;
    const uint32_t menu = 0xff2f2f33, side = 0xff252526, act = 0xff333333, tab_in = 0xff2d2d2d,
                   stat = 0xff007acc, white = 0xffffffff, grey = 0xffcccccc;
    cv_fill(in, 0, 0, cw, chh, EDIT_BG);

    static const char *const menus[] = {"File", "Edit", "Selection", "View", "Go",
                                        "Run", "Terminal", "Help"};
    const int mh = 24, sh = 22, sy = chh - sh;
    cv_fill(in, 0, 0, cw, mh, menu);
    for (int i = 0, x = 10; i < 8; i++)
        x = cv_text(in, f, x, 4, menus[i], grey, menu) + 18;

    cv_fill(in, 0, sy, cw, sh, stat);
    cv_text(in, f, 10, sy + 3, "main*   0 errors  0 warnings", white, stat);
    const char *rs = "Ln 78, Col 1   Spaces: 4   UTF-8   LF   C   Linux";
    cv_text(in, f, cw - 12 - text_w(rs), sy + 3, rs, white, stat);

    int ay = mh, ah = sy - mh;
    cv_fill(in, 0, ay, 48, ah, act);
    for (int i = 0; i < 5; i++) { /* explorer, search, source control, run, extensions */
        int y = ay + 12 + i * 48;
        uint32_t ic = i == 0 ? white : 0xff858585;
        if (i == 0)
            cv_fill(in, 0, y - 6, 2, 36, white);
        cv_frame(in, 14, y + 2, 16, 20, ic);
        cv_frame(in, 18, y - 1, 16, 20, ic);
        if (i == 1)
            cv_disc(in, 24, y + 10, 5, ic);
        if (i >= 2)
            cv_fill(in, 16, y + 8 + i, 14, 2, ic);
    }

    int sx = 48, sw = iclamp(cw / 7, 0, 260);
    cv_fill(in, sx, ay, sw, ah, side);
    canvas sb = cv_sub(in, sx, ay, sw, ah);
    cv_text(sb, f, 20, 10, "EXPLORER", 0xffbbbbbb, side);
    static const struct {
        int depth, dir;
        const char *name;
    } tree[] = {{0, 2, "LIBVD"},       {1, 1, ".github"},      {1, 1, "bench"},
                {1, 2, "codec"},       {2, 0, "tile_cache.c"}, {2, 0, "tile_cache.h"},
                {2, 0, "tile_codec.c"}, {2, 0, "tile_codec.h"}, {2, 0, "video.c"},
                {2, 0, "video.h"},     {1, 1, "docs"},         {1, 1, "examples"},
                {1, 1, "include"},     {1, 2, "lib"},          {2, 0, "buf.c"},
                {2, 0, "classify.c"},  {2, 0, "damage.c"},     {2, 0, "decoder.c"},
                {2, 0, "encoder.c"},   {2, 0, "wire.c"},       {1, 1, "tests"},
                {1, 1, "transport"},   {1, 0, "configure.ac"}, {1, 0, "Makefile.am"},
                {1, 0, "README.md"}};
    for (int i = 0; i < (int)(sizeof(tree) / sizeof(tree[0])); i++) {
        int y = 36 + i * 22, x = 8 + tree[i].depth * 12;
        uint32_t bg = i == 4 ? 0xff37373d : side;
        if (i == 4)
            cv_fill(sb, 0, y - 3, sw, 22, bg);
        if (tree[i].dir) {
            cv_text(sb, f, x, y, tree[i].dir == 2 ? "v" : ">", grey, bg);
        } else {
            size_t n = strlen(tree[i].name);
            char e = tree[i].name[n - 1];
            uint32_t ic = e == 'c' ? 0xff519aba : e == 'h' ? 0xffa074c4 : 0xffcbcb41;
            char s[2] = {e == 'c' ? 'C' : e == 'h' ? 'h' : '#', 0};
            cv_text(sb, f, x + 4, y, s, ic, bg);
        }
        cv_text(sb, f, x + 18, y, tree[i].name, i == 0 ? white : grey, bg);
    }

    int ex = sx + sw, ew = cw - ex;
    canvas eg = cv_sub(in, ex, ay, ew, ah);
    cv_fill(eg, 0, 0, ew, 35, side);
    static const char *const tabs[] = {"tile_cache.c", "encoder.c", "tile_cache.h", "damage.c"};
    for (int i = 0, x = 0; i < 4; i++) {
        int tw = text_w(tabs[i]) + 52;
        uint32_t bg = i == 0 ? EDIT_BG : tab_in;
        cv_fill(eg, x, 0, tw, 35, bg);
        cv_text(eg, f, x + 14, 10, tabs[i], i == 0 ? white : 0xff969696, bg);
        if (i == 0)
            cv_text(eg, f, x + tw - 22, 10, "x", grey, bg);
        x += tw + 1;
    }
    cv_text(eg, f, 16, 38, "codec > C tile_cache.c > tile_cache_insert", 0xffa9a9a9, EDIT_BG);

    const int cy0 = 61, mw = ew >= 700 ? 100 : 0, code_h = ah - cy0;
    const int gx = 8 + 5 * GLYPH_W, code_x = gx + 24;
    canvas code = cv_sub(eg, 0, cy0, ew - 14 - mw, code_h);
    canvas mm = cv_sub(eg, ew - 14 - mw, cy0, mw, code_h);
    cv_fill(eg, ew - 14 - mw, cy0, 1, code_h, 0xff2b2b2b);
    cv_fill(eg, ew - 14, cy0, 1, code_h, 0xff303030);
    uint32_t mmpal[H_N];
    for (int k = 0; k < H_N; k++) {
        ramp(a->pal[k], hl_col[k], EDIT_BG);
        mmpal[k] = mix(EDIT_BG, hl_col[k], 3, 5);
    }
    /* the view ends at the end of the file (the last row an empty line), with room below
     * for the function being typed */
    int vis = code_h / EDIT_LINE_H;
    int ncode = imin(EDITOR_SRC_N + 1, vis > 24 ? vis - 12 : imax(1, vis * 2 / 3));
    int first = EDITOR_SRC_N - (ncode - 1);
    bool comment = false;
    uint8_t at[256];
    char num[16];
    for (int i = 0; i < first; i++)
        comment = c_highlight(editor_src[i], at, comment);
    for (int row = 0; row < ncode; row++) {
        const char *s = row == ncode - 1 ? "" : editor_src[first + row];
        int y = row * EDIT_LINE_H + 1;
        comment = c_highlight(s, at, comment);
        draw_hl_line(code, f, code_x, y, s, at, a->pal);
        snprintf(num, sizeof(num), "%d", first + row + 1);
        cv_text(code, f, gx - text_w(num), y, num, EDIT_LINENO, EDIT_BG);
        for (int i = 0; s[i] && mw; i++)
            if (s[i] != ' ')
                cv_fill(mm, 6 + i, 4 + row * 2, 1, 2, mmpal[at[i]]);
    }

    /* window-local coordinates of the code cells, the gutter and the minimap */
    int ox = cl.x + ex, oy = cl.y + ay + cy0;
    a->code_x = ox + code_x;
    a->code_y = oy;
    a->gutter_r = ox + gx;
    a->mm_x = ox + ew - 14 - mw + 6;
    a->mm_y = oy + 4;
    a->mm_w = mw ? mw - 12 : 0;
    a->bg = EDIT_BG;
    a->caret_col = 0xffaeafad;
    a->caret_w = 2;

    script_b b;
    size_t nt = sizeof(editor_typed) / sizeof(editor_typed[0]);
    if (sb_init(&b, editor_typed, nt, (rect){ox, oy, ew - 14 - mw, code_h}) < 0)
        return -ENOMEM;
    for (size_t l = 0; l < nt && !b.full; l++) {
        const char *s = editor_typed[l];
        int row = ncode + (int)l, i = 0;
        c_highlight(s, at, false);
        while (s[i] == ' ') /* auto-indent */
            i++;
        for (int start = 1; s[i]; i++, start = 0)
            sb_add(&b, a->code_x + i * GLYPH_W, oy + row * EDIT_LINE_H + 1, (unsigned char)s[i],
                   at[i], start ? first + row + 1 : 0);
    }
    sb_finish(&b, a);
    return 0;
}

static const char *const doc_words[] = {
    "the",       "of",         "and",      "to",       "in",      "a",        "for",
    "is",        "on",         "that",     "with",     "as",      "by",       "this",
    "we",        "it",         "from",     "at",       "are",     "be",       "or",
    "an",        "our",        "was",      "which",    "more",    "than",     "each",
    "per",       "when",       "while",    "most",     "remote",  "desktop",  "codec",
    "frame",     "client",     "server",   "latency",  "bandwidth", "quality", "screen",
    "window",    "text",       "video",    "tile",     "cache",   "network",  "session",
    "user",      "users",      "release",  "quarter",  "results", "measured", "encoder",
    "decoder",   "bitrate",    "lossless", "updates",  "content", "pixels",   "team",
    "customers", "feedback",   "performance", "improved", "reduced", "average", "typical",
    "office",    "workload",   "benchmark", "median",  "second",  "target",   "goal",
    "plan",      "support",    "display",  "monitor",  "links",   "mobile",   "percent",
    "cost",      "time",       "first",    "next",     "new",     "small",    "large",
    "stable",    "faster",
};
#define DOC_NWORDS ((int)(sizeof(doc_words) / sizeof(doc_words[0])))

/* A paragraph of n sentences of plausible-looking prose. */
static void doc_paragraph(uint64_t *r, char *buf, size_t cap, int nsent)
{
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < nsent; k++) {
        int len = rnd(r, 7, 17), comma = rnd(r, 3, 12);
        for (int i = 0; i < len; i++) {
            const char *w = doc_words[rnd(r, 0, DOC_NWORDS - 1)];
            int m = snprintf(buf + n, cap - n, "%s%c%s%s", n ? " " : "", i ? w[0] : w[0] - 32,
                             w + 1, i == len - 1 ? "." : i == comma ? "," : "");
            if (m < 0 || (size_t)m >= cap - n)
                return;
            n += (size_t)m;
        }
    }
}

typedef struct flow {
    int x0, y0, cols, line, col;
} flow;

/* Lays out words with greedy wrapping; draws them, or with b adds them to the script. */
static void flow_text(flow *fl, canvas c, const font *f, const char *s, const uint32_t pal[5],
                      script_b *b)
{
    while (*s) {
        while (*s == ' ')
            s++;
        int n = 0;
        while (s[n] && s[n] != ' ')
            n++;
        if (!n)
            break;
        if (fl->col > 0) {
            if (fl->col + 1 + n > fl->cols) {
                fl->line++;
                fl->col = 0;
            } else {
                if (b)
                    sb_add(b, fl->x0 + fl->col * GLYPH_W, fl->y0 + fl->line * DOC_LINE_H, ' ', 0, 0);
                fl->col++;
            }
        }
        for (int i = 0; i < n; i++, fl->col++) {
            int x = fl->x0 + fl->col * GLYPH_W, y = fl->y0 + fl->line * DOC_LINE_H;
            if (b)
                sb_add(b, x, y, (unsigned char)s[i], 0, 0);
            else
                cv_glyph(c, f, x, y, (unsigned char)s[i], pal);
        }
        s += n;
    }
}

/* Word processor: ribbon, ruler, a page of report text on a grey canvas, status bar.
 * Typing continues the last paragraph. */
static int doc_render(app *a, const font *f)
{
    canvas im = cv_make(a->img, a->r.w, a->r.h, a->r.w);
    rect cl = window_draw_ex(im, f, (rect){0, 0, a->r.w, a->r.h}, a->title, false, false);
    canvas in = cv_sub(im, cl.x, cl.y, cl.w, cl.h);
    int cw = cl.w, chh = cl.h;
    const uint32_t blue = 0xff2b579a, rib = 0xfff3f2f1, line = 0xffd6d6d6, grey = 0xff605e5c,
                   white = 0xffffffff, ink = 0xff202020, canvas_bg = 0xffe6e6e6;
    cv_fill(in, 0, 0, cw, chh, canvas_bg);

    static const char *const tabs[] = {"File", "Home", "Insert", "Design", "Layout",
                                       "References", "Mailings", "Review", "View", "Help"};
    cv_fill(in, 0, 0, cw, 30, blue);
    for (int i = 0, x = 12; i < 10; i++) {
        int tw = text_w(tabs[i]) + 24;
        if (i == 1)
            cv_fill(in, x, 4, tw, 26, rib);
        cv_text(in, f, x + 12, 9, tabs[i], i == 1 ? blue : white, i == 1 ? rib : blue);
        x += tw + 4;
    }
    const int ty = 30, th = 92;
    cv_fill(in, 0, ty, cw, th, rib);
    cv_fill(in, 0, ty + th - 1, cw, 1, line);
    static const char *const groups[] = {"Clipboard", "Font", "Paragraph", "Styles", "Editing"};
    static const int gw[] = {120, 300, 250, 0, 110};
    int gx[6];
    gx[0] = 0;
    for (int i = 0; i < 5; i++)
        gx[i + 1] = gx[i] + (gw[i] ? gw[i] : imax(0, cw - 780 - 110));
    for (int i = 0; i < 5; i++) {
        int w = gx[i + 1] - gx[i];
        cv_text(in, f, gx[i] + (w - text_w(groups[i])) / 2, ty + th - 20, groups[i], grey, rib);
        cv_fill(in, gx[i + 1] - 1, ty + 6, 1, th - 12, line);
    }
    /* clipboard: a big paste button and cut/copy */
    cv_fill(in, 14, ty + 8, 30, 38, 0xffc19c5c);
    cv_fill(in, 20, ty + 16, 18, 26, white);
    cv_fill(in, 22, ty + 5, 14, 6, 0xff7a7a7a);
    cv_text(in, f, 10, ty + 50, "Paste", ink, rib);
    cv_text(in, f, 58, ty + 10, "Cut", ink, rib);
    cv_text(in, f, 58, ty + 32, "Copy", ink, rib);
    /* font: face and size boxes, style buttons, colour */
    int fx = gx[1] + 10;
    cv_fill(in, fx, ty + 8, 170, 24, white);
    cv_frame(in, fx, ty + 8, 170, 24, 0xffababab);
    cv_text(in, f, fx + 6, ty + 12, "Calibri (Body)", ink, white);
    cv_text(in, f, fx + 156, ty + 12, "v", grey, white);
    cv_fill(in, fx + 176, ty + 8, 48, 24, white);
    cv_frame(in, fx + 176, ty + 8, 48, 24, 0xffababab);
    cv_text(in, f, fx + 184, ty + 12, "11", ink, white);
    static const char bius[] = "BIUSxX";
    for (int i = 0; i < 6; i++) {
        char s2[2] = {bius[i], 0};
        cv_text(in, f, fx + 8 + i * 30, ty + 44, s2, ink, rib);
    }
    cv_text(in, f, fx + 196, ty + 42, "A", ink, rib);
    cv_fill(in, fx + 192, ty + 60, 16, 4, 0xffe02020);
    cv_text(in, f, fx + 226, ty + 42, "ab", ink, rib);
    cv_fill(in, fx + 224, ty + 60, 20, 4, 0xffffff00);
    /* paragraph: list icons, then left / centre / right / justified alignment */
    int px0 = gx[2] + 12;
    for (int i = 0; i < 8; i++) {
        int ix = px0 + (i % 4) * 32, iy = ty + 12 + (i / 4) * 30;
        for (int k = 0; k < 4; k++) {
            int lw, lx;
            if (i < 4) {
                lw = i == 0 ? 16 : 18;
                lx = ix + 2;
            } else {
                lw = i == 7 || !(k & 1) ? 20 : 12;
                lx = ix + (i == 5 ? (20 - lw) / 2 : i == 6 ? 20 - lw : 0);
            }
            cv_fill(in, lx, iy + k * 5, lw, 2, 0xff444444);
            if (i == 0)
                cv_fill(in, ix - 2, iy + k * 5, 2, 2, 0xff444444);
        }
    }
    /* styles gallery */
    static const char *const styles[] = {"Normal", "No Spacing", "Heading 1", "Heading 2",
                                         "Title", "Subtitle", "Emphasis", "Quote"};
    for (int i = 0, x = gx[3] + 8; i < 8 && x + 96 <= gx[4] - 8; i++, x += 100) {
        cv_fill(in, x, ty + 6, 96, 58, white);
        cv_frame(in, x, ty + 6, 96, 58, i == 0 ? blue : 0xffd0d0d0);
        cv_text(in, f, x + 8, ty + 16, "AaBbCcD", i >= 2 && i <= 4 ? blue : ink, white);
        cv_text(in, f, x + 48 - text_w(styles[i]) / 2, ty + 42, styles[i], grey, white);
    }
    if (gx[4] + 20 < cw) {
        cv_text(in, f, gx[4] + 16, ty + 10, "Find", ink, rib);
        cv_text(in, f, gx[4] + 16, ty + 30, "Replace", ink, rib);
        cv_text(in, f, gx[4] + 16, ty + 50, "Select", ink, rib);
    }

    /* status bar */
    const int sh = 24, sy = chh - sh;
    cv_fill(in, 0, sy, cw, sh, rib);
    cv_fill(in, 0, sy, cw, 1, line);
    cv_text(in, f, 12, sy + 5, "Page 2 of 5     1,842 words     English (United States)", grey,
            rib);
    cv_text(in, f, cw - 60, sy + 5, "100%", grey, rib);
    cv_fill(in, cw - 180, sy + 11, 100, 1, grey);
    cv_fill(in, cw - 132, sy + 6, 3, 11, grey);

    /* ruler and page */
    const int ry = ty + th, cy = ry + 22, pw = imin(816, cw - 48), ppx = (cw - pw) / 2;
    const int m = pw >= 600 ? 96 : pw / 8;
    cv_fill(in, ppx, ry + 3, pw, 16, white);
    cv_fill(in, ppx, ry + 3, m, 16, 0xffd0d0d0);
    cv_fill(in, ppx + pw - m, ry + 3, m, 16, 0xffd0d0d0);
    for (int x = 12; x < pw; x += 12) {
        bool inch = (x - m) % 96 == 0 && x > m;
        cv_fill(in, ppx + x, ry + (x % 48 ? 9 : 7), 1, x % 48 ? 3 : 6, grey);
        if (inch) {
            char s2[2] = {(char)('0' + (x - m) / 96 % 10), 0};
            cv_text(in, f, ppx + x - 4, ry + 3, s2, grey, white);
        }
    }
    int py = cy + 18;
    canvas pg = cv_clipto(in, 0, cy, cw, sy - cy);
    cv_fill(pg, ppx + 3, py + 3, pw, sy, 0xffc4c4c4);
    cv_fill(pg, ppx, py, pw, sy, white);

    uint32_t pink[5], ptitle[5], phead[5], psub[5];
    ramp(pink, ink, white);
    ramp(ptitle, 0xff1f3864, white);
    ramp(phead, 0xff2f5496, white);
    ramp(psub, 0xff595959, white);
    for (int k = 0; k < H_N; k++)
        memcpy(a->pal[k], pink, sizeof(pink));

    uint64_t r = 0x5eed0d0cu;
    int tx = ppx + m, cols = imax(8, (pw - 2 * m) / GLYPH_W), y = py + m;
    int limit = sy - 7 * DOC_LINE_H;
    cv_text2x(pg, f, tx, y, "Quarterly Engineering Report", 0xff1f3864, white);
    y += 44;
    cv_text(pg, f, tx, y, "Remote display codec: status of the third quarter", 0xff595959, white);
    y += 36;
    static const char *const heads[] = {"1. Summary", "2. Bandwidth and latency",
                                        "3. Customer feedback", "4. Next steps",
                                        "5. Risks", "6. Appendix"};
    char para[1200];
    flow fl = {tx, y, cols, 0, 0};
    for (int sec = 0; y < limit; sec++) {
        if (y + 28 + 3 * DOC_LINE_H > limit && sec > 0)
            break;
        cv_text(pg, f, tx, y, heads[sec % 6], 0xff2f5496, white);
        y += 28;
        for (int p = 0; p < 2 + sec % 2 && (p == 0 || y < limit); p++) {
            bool bullets = sec % 3 == 1 && p == 0;
            for (int k = 0; k < (bullets ? 3 : 1); k++) {
                doc_paragraph(&r, para, sizeof(para), bullets ? 1 : rnd(&r, 2, 4));
                fl = (flow){tx + (bullets ? 24 : 0), y, cols - (bullets ? 3 : 0), 0, 0};
                if (bullets)
                    cv_disc(pg, tx + 8, y + 8, 2, ink);
                flow_text(&fl, pg, f, para, pink, NULL);
                y += (fl.line + 1) * DOC_LINE_H + (bullets && k < 2 ? 4 : 10);
            }
        }
    }
    a->bg = white;
    a->caret_col = ink;
    a->caret_w = 2;

    /* typing continues the last paragraph (or bullet) drawn */
    static const char *const typed[] = {
        "The tile cache keeps every tile a client has seen in the last minute, keyed by a "
        "hash of its pixels, so a window that comes back to the front costs a few bytes per "
        "tile instead of a full repaint. Next quarter we will measure it on real desktops."};
    script_b b;
    if (sb_init(&b, typed, 1, (rect){cl.x, cl.y + cy, cw, sy - cy}) < 0)
        return -ENOMEM;
    fl.x0 += cl.x;
    fl.y0 += cl.y;
    flow_text(&fl, im, f, typed[0], pink, &b);
    sb_finish(&b, a);
    return 0;
}

/* Draws a terminal line built with tl_put. */
static void draw_tline(canvas c, const font *f, int x, int y, const tline *l)
{
    uint32_t pal[5];
    int last = -1;
    for (int i = 0; i < l->n; i++, x += GLYPH_W) {
        if (l->at[i] != last) {
            last = l->at[i];
            ramp(pal, term_fg[last], TERM_BG);
        }
        if (l->ch[i] != ' ')
            cv_glyph(c, f, x, y, (unsigned char)l->ch[i], pal);
    }
}

static void prompt_line(tline *l, const char *cmd)
{
    l->n = 0;
    tl_put(l, A_GREEN, "user@vdhost");
    tl_put(l, A_DEF, ":");
    tl_put(l, A_BLUE, "~/src/libvd");
    tl_put(l, A_DEF, "$ ");
    tl_put(l, A_DEF, cmd);
}

/* Terminal: the output of a few commands, then a prompt where a long command is typed. */
static int term_render(app *a, const font *f)
{
    canvas im = cv_make(a->img, a->r.w, a->r.h, a->r.w);
    rect cl = window_draw_ex(im, f, (rect){0, 0, a->r.w, a->r.h}, a->title, true, false);
    canvas in = cv_sub(im, cl.x, cl.y, cl.w, cl.h);
    cv_fill(in, 0, 0, cl.w, cl.h, TERM_BG);
    int cols = imax(1, (cl.w - 8) / GLYPH_W), rows = imax(1, (cl.h - 8) / GLYPH_H);
    int target = rows * 3 / 5;
    static const term_cmd hist[] = {
        {"make -j8", CMD_MAKE},
        {"./build/tests/run_all --verbose", CMD_TESTS},
        {"grep -rn \"encode_tile\" lib/ codec/", CMD_GREP},
        {"ls -la build/lib", CMD_LS},
        {"sudo dmesg | tail -40", CMD_DMESG},
    };
    uint64_t r = 0x5eed7e57u;
    tline l;
    int row = 0;
    for (int k = 0; row < target; k = (k + 1) % 5) {
        prompt_line(&l, hist[k].text);
        draw_tline(in, f, 4, 4 + row++ * GLYPH_H, &l);
        int n = imin(12, cmd_lines(&r, hist[k].kind));
        for (int i = 0; i < n && row < target; i++) {
            gen_line(&r, hist[k].kind, i, n, &l);
            draw_tline(in, f, 4, 4 + row++ * GLYPH_H, &l);
        }
    }
    prompt_line(&l, "");
    draw_tline(in, f, 4, 4 + row * GLYPH_H, &l);
    for (int k = 0; k < H_N; k++)
        ramp(a->pal[k], term_fg[A_DEF], TERM_BG);
    a->bg = TERM_BG;
    a->caret_col = TERM_CURSOR;
    a->caret_w = GLYPH_W;

    static const char *const typed[] = {
        "git commit -a -m \"bench: windows workload, alt-tab between an editor, a document "
        "and a terminal\" && ./bench/vdbench -q -w windows -n 300 --json > windows.json && "
        "python3 tools/plot.py windows.json"};
    script_b b;
    int ox = cl.x + 4, oy = cl.y + 4;
    if (sb_init(&b, typed, 1, (rect){ox, oy, cols * GLYPH_W, rows * GLYPH_H}) < 0)
        return -ENOMEM;
    int col = l.n;
    for (const char *s = typed[0]; *s && !b.full; s++, col++) {
        if (col >= cols) {
            col = 0;
            row++;
        }
        sb_add(&b, ox + col * GLYPH_W, oy + row * GLYPH_H, (unsigned char)*s, 0, 0);
    }
    if (col >= cols) {
        col = 0;
        row++;
    }
    sb_add(&b, ox + col * GLYPH_W, oy + row * GLYPH_H, ' ', 0, 0); /* caret after the last */
    sb_finish(&b, a);
    return 0;
}

static void desk_free(desk *d)
{
    for (int k = 0; k < APP_N; k++) {
        free(d->app[k].img);
        free(d->app[k].script);
    }
    free(d);
}

static canvas app_canvas(const app *a) { return cv_make(a->img, a->r.w, a->r.h, a->r.w); }

/* Copies a window-local rectangle of window k to the screen when k is in front. */
static void app_flush(const desk *d, int k, canvas scr, int x, int y, int w, int h)
{
    const app *a = &d->app[k];
    if (d->n_stack == 0 || d->stack[d->n_stack - 1] != k)
        return;
    int x0 = imax(0, x), y0 = imax(0, y), x1 = imin(a->r.w, x + w), y1 = imin(a->r.h, y + h);
    if (x1 <= x0 || y1 <= y0)
        return;
    cv_blit(scr, a->r.x + x0, a->r.y + y0, a->img + (ptrdiff_t)y0 * a->r.w + x0, a->r.w, x1 - x0,
            y1 - y0);
}

static void app_caret_erase(desk *d, int k, canvas scr)
{
    app *a = &d->app[k];
    if (!a->caret_state)
        return;
    cv_fill(app_canvas(a), a->caret_x, a->caret_y, a->caret_w, GLYPH_H, a->bg);
    app_flush(d, k, scr, a->caret_x, a->caret_y, a->caret_w, GLYPH_H);
    a->caret_state = 0;
}

/* Focused: solid caret, blinking with the phase restarted on focus.  Unfocused: none, or
 * a hollow block in the terminal. */
static void app_caret(desk *d, int k, canvas scr, int frame)
{
    app *a = &d->app[k];
    if (!a->script)
        return;
    int want = a->focused ? ((frame - a->focus_frame) / APP_BLINK % 2 == 0)
                          : (a->kind == APP_TERM ? 2 : 0);
    const typed_char *p = &a->script[a->n_typed];
    if (want == a->caret_state && (!want || (p->x == a->caret_x && p->y == a->caret_y)))
        return;
    app_caret_erase(d, k, scr);
    if (!want)
        return;
    canvas im = app_canvas(a);
    if (want == 1)
        cv_fill(im, p->x, p->y, a->caret_w, GLYPH_H, a->caret_col);
    else
        cv_frame(im, p->x, p->y, a->caret_w, GLYPH_H, a->caret_col);
    app_flush(d, k, scr, p->x, p->y, a->caret_w, GLYPH_H);
    a->caret_state = want;
    a->caret_x = p->x;
    a->caret_y = p->y;
}

static void app_type(desk *d, int k, canvas scr, const font *f)
{
    app *a = &d->app[k];
    if (a->n_typed >= a->n_script)
        return;
    const typed_char *t = &a->script[a->n_typed++];
    canvas im = app_canvas(a);
    cv_glyph(im, f, t->x, t->y, t->ch, a->pal[t->attr]);
    app_flush(d, k, scr, t->x, t->y, GLYPH_W, GLYPH_H);
    if (a->kind != APP_EDITOR)
        return;
    if (t->line > 0) { /* a new line: its number appears in the gutter */
        char num[16];
        snprintf(num, sizeof(num), "%d", t->line);
        int x = a->gutter_r - text_w(num);
        cv_text(im, f, x, t->y, num, EDIT_LINENO, EDIT_BG);
        app_flush(d, k, scr, x, t->y, text_w(num), GLYPH_H);
    }
    int col = (t->x - a->code_x) / GLYPH_W, row = (t->y - a->code_y) / EDIT_LINE_H;
    if (t->ch != ' ' && col < a->mm_w) { /* and in the minimap */
        cv_fill(im, a->mm_x + col, a->mm_y + row * 2, 1, 2, mix(EDIT_BG, hl_col[t->attr], 3, 5));
        app_flush(d, k, scr, a->mm_x + col, a->mm_y + row * 2, 1, 2);
    }
}

/* Brings window k to the front: the old front window loses focus (title bar, caret),
 * then k's image is blitted whole, on top of everything. */
static void desk_raise(desk *d, int k, canvas scr, const font *f, int frame)
{
    int top = d->n_stack ? d->stack[d->n_stack - 1] : -1;
    if (top == k)
        return;
    if (top >= 0) {
        app *o = &d->app[top];
        o->focused = false;
        app_caret(d, top, scr, frame);
        window_draw_ex(app_canvas(o), f, (rect){0, 0, o->r.w, o->r.h}, o->title, o->dark, false);
        app_flush(d, top, scr, 0, 0, o->r.w, TITLE_H);
    }
    app *a = &d->app[k];
    d->front = 2 + k; /* its label's id */
    d->front_returns = a->open;
    int j = 0;
    for (int i = 0; i < d->n_stack; i++)
        if (d->stack[i] != k)
            d->stack[j++] = d->stack[i];
    d->stack[j++] = k;
    d->n_stack = j;
    a->open = true;
    a->focused = true;
    a->focus_frame = frame;
    window_draw_ex(app_canvas(a), f, (rect){0, 0, a->r.w, a->r.h}, a->title, a->dark, true);
    cv_blit(scr, a->r.x, a->r.y, a->img, a->r.w, a->r.w, a->r.h);
    app_caret(d, k, scr, frame);
}

/* Frame 0 is the bare desktop.  From frame 1, every APP_SWITCH_EVERY frames the next
 * window comes to the front (A, B, C, A, ...; the first round opens them); in between,
 * light typing into the front window. */
static void desk_step(desk *d, canvas scr, const font *f, int frame)
{
    d->front = -1;
    d->front_returns = 0;
    if (frame < 1)
        return;
    int t = (frame - 1) % APP_SWITCH_EVERY;
    if (t == 0) {
        desk_raise(d, (frame - 1) / APP_SWITCH_EVERY % APP_N, scr, f, frame);
        return;
    }
    int k = d->stack[d->n_stack - 1];
    if (t >= 4 && t < APP_SWITCH_EVERY - 2) {
        int v = rnd(&d->rng, 0, 9), n = v < 3 ? 0 : v < 7 ? 1 : v < 9 ? 2 : 3;
        if (n > 0 && d->app[k].n_typed < d->app[k].n_script) {
            app_caret_erase(d, k, scr);
            while (n-- > 0)
                app_type(d, k, scr, f);
        }
    }
    app_caret(d, k, scr, frame);
}


/* ------------------------------------------------------------------------------------ */
/* Subtitles: burned into the video picture the way a media player draws them: white   */
/* 2x text with a hard 2 px black outline and no box, centred near the bottom of the    */
/* picture.  A new sentence every SUB_PERIOD frames, hidden for the first SUB_GAP of    */
/* them; its pixels are rendered once and stay exactly constant while it is shown.      */

#define SUB_PERIOD (2 * SYNTH_FPS) /* a new sentence every 2 s */
#define SUB_GAP 10                 /* frames without subtitle before each sentence */
#define SUB_MAXC 42                /* characters per line at most (a common style rule) */
#define SUB_LINES 2
#define SUB_OUTLINE 2 /* outline radius in pixels */
#define SUB_PITCH (2 * GLYPH_H + 4)
#define SUB_BW (SUB_MAXC * 2 * GLYPH_W + 2 * SUB_OUTLINE)
#define SUB_BH (2 * GLYPH_H + 2 * SUB_OUTLINE)

/* Narration for the landscape flyover, cycled in order. */
static const char *const sub_text[] = {
    "Below us, the river winds through the valley.",
    "Here, the land rises.",
    "Snow lingers on the high ridges well into June.",
    "From up here, the coastline looks endless.",
    "These forests are home to deer, foxes and owls.",
    "Wait... what is that?",
    "Farmers have worked these fields for centuries.",
    "Every spring, meltwater feeds a hundred streams.",
    "The old road followed the river to the sea.",
    "Look closely: the lake is almost perfectly still.",
    "By evening, the light turns the hills to gold.",
    "We will land before the storm arrives.",
};
#define SUB_NTEXT ((int)(sizeof(sub_text) / sizeof(sub_text[0])))

typedef struct subs {
    bool active;
    rect pic;   /* the video picture they are drawn over */
    int maxc;   /* characters per line that fit the picture, <= SUB_MAXC */
    int cur;    /* sentence rendered into img, -1 for none */
    int n_lines;
    uint32_t img[SUB_LINES][SUB_BH * SUB_BW]; /* outlined lines; 0 = transparent */
    uint32_t tmp[SUB_BH * SUB_BW];
    int iw[SUB_LINES];                        /* width (and stride) of img[i] */
    int lx[SUB_LINES], ly[SUB_LINES];         /* screen position of img[i] (0,0) */
    rect box[SUB_LINES];                      /* screen bounds of each line's pixels */
} subs;

static void subs_init(subs *u, rect pic)
{
    memset(u, 0, sizeof(*u));
    u->pic = pic;
    u->cur = -1;
    u->maxc = imin(SUB_MAXC, (pic.w - 4 * GLYPH_W) / (2 * GLYPH_W));
    /* two lines above the 8 % bottom margin, with room to spare */
    u->active = u->maxc >= 8 && pic.h * 92 / 100 >= SUB_LINES * SUB_PITCH + 8;
}

/* Copies at most n characters of s, cut after the last whole word when it is longer. */
static void sub_cut(char *dst, const char *s, int n)
{
    int len = (int)strlen(s);
    if (len > n) {
        int cut = n;
        while (cut > 0 && s[cut] != ' ')
            cut--;
        len = cut > 0 ? cut : n;
    }
    memcpy(dst, s, (size_t)len);
    dst[len] = '\0';
}

/* Breaks a sentence into one line when it fits, else into two lines of about equal length
 * (the break nearest the middle); what still does not fit is cut. */
static int sub_layout(const char *s, int maxc, char lines[SUB_LINES][SUB_MAXC + 1])
{
    int len = (int)strlen(s), best = -1;
    if (len <= maxc) {
        sub_cut(lines[0], s, maxc);
        return 1;
    }
    for (int i = 1; i < len - 1; i++)
        if (s[i] == ' ' && i <= maxc && len - i - 1 <= maxc &&
            (best < 0 || imax(i, len - i - 1) < imax(best, len - best - 1)))
            best = i;
    if (best < 0) { /* greedy: first line up to its last word that fits */
        sub_cut(lines[0], s, maxc);
        best = (int)strlen(lines[0]);
    } else {
        memcpy(lines[0], s, (size_t)best);
        lines[0][best] = '\0';
    }
    while (s[best] == ' ')
        best++;
    sub_cut(lines[1], s + best, maxc);
    return lines[1][0] ? 2 : 1;
}

/* Renders line i: the 2x glyphs (anti-aliased white on black, cv_text2x) where they have
 * ink, plus every pixel within SUB_OUTLINE of ink in black; the rest stays transparent. */
static void sub_render_line(subs *u, const font *f, int i, const char *text, int cx, int cy)
{
    const uint32_t white = rgb(255, 255, 255), black = rgb(0, 0, 0);
    const int o = SUB_OUTLINE;
    int n = (int)strlen(text), bw = n * 2 * GLYPH_W + 2 * o, bh = SUB_BH;
    memset(u->tmp, 0, sizeof(u->tmp));
    memset(u->img[i], 0, sizeof(u->img[i]));
    cv_text2x(cv_make(u->tmp, bw, bh, bw), f, o, o, text, white, black);
    int x0 = bw, y0 = bh, x1 = 0, y1 = 0;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            bool hit = false;
            for (int dy = -o; dy <= o && !hit; dy++)
                for (int dx = -o; dx <= o && !hit; dx++) {
                    int X = x + dx, Y = y + dy;
                    uint32_t t = X >= 0 && X < bw && Y >= 0 && Y < bh ? u->tmp[Y * bw + X] : 0;
                    hit = dx * dx + dy * dy <= o * o + 1 && t != 0 && t != black;
                }
            if (!hit)
                continue;
            uint32_t t = u->tmp[y * bw + x];
            u->img[i][y * bw + x] = t ? t : black;
            x0 = imin(x0, x);
            y0 = imin(y0, y);
            x1 = imax(x1, x + 1);
            y1 = imax(y1, y + 1);
        }
    u->iw[i] = bw;
    u->lx[i] = cx - o;
    u->ly[i] = cy - o;
    u->box[i] = x1 > x0 ? (rect){u->lx[i] + x0, u->ly[i] + y0, x1 - x0, y1 - y0} : (rect){0};
}

/* Lays out and renders sentence k: centred, the last line's cells ending 8 % of the
 * picture's height above its bottom edge. */
static void subs_render(subs *u, const font *f, int k)
{
    char lines[SUB_LINES][SUB_MAXC + 1];
    u->n_lines = sub_layout(sub_text[k % SUB_NTEXT], u->maxc, lines);
    int bottom = u->pic.y + u->pic.h - u->pic.h * 8 / 100;
    for (int i = 0; i < u->n_lines; i++) {
        int cw = text_w(lines[i]) * 2;
        int cy = bottom - 2 * GLYPH_H - (u->n_lines - 1 - i) * SUB_PITCH;
        sub_render_line(u, f, i, lines[i], u->pic.x + (u->pic.w - cw) / 2, cy);
    }
    u->cur = k;
}

/* Draws this frame's subtitle over the video picture (call after video_step); returns the
 * number of lines shown, whose bounds are u->box[0..n). */
static int subs_step(subs *u, canvas scr, const font *f, int frame)
{
    if (!u->active || frame % SUB_PERIOD < SUB_GAP)
        return 0;
    int k = frame / SUB_PERIOD;
    if (k != u->cur)
        subs_render(u, f, k);
    canvas pic = cv_clipto(scr, u->pic.x, u->pic.y, u->pic.w, u->pic.h);
    for (int i = 0; i < u->n_lines; i++)
        cv_blit_ex(pic, u->lx[i], u->ly[i], u->img[i], u->iw[i], u->iw[i], SUB_BH, true);
    return u->n_lines;
}

/* ------------------------------------------------------------------------------------ */
/* Workload                                                                               */

typedef struct synth {
    int kind, w, h, length, frame;
    uint32_t *fb, *wall, *out;
    bool clock_secs;
    term term;
    video vid;
    subs *subs; /* subtitles over vid, or NULL */
    r3d *r3d;
    mover mv;
    desk *desk;
    font font;
    int16_t sn[SIN_N];
    bench_region reg[12];
    size_t n_reg;
    int mv_reg; /* index of the dragged window's label, or -1 */
    int sub_reg; /* index of the first subtitle line's label, or -1 */
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
    free(s->subs);
    if (s->r3d)
        r3d_free(s->r3d);
    free(s->r3d);
    mover_free(&s->mv);
    if (s->desk)
        desk_free(s->desk);
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

/* Editor maximised, the document and the terminal nearly (reference layout on a
 * 1920 x 1040 desktop, scaled). */
static int desk_init(desk *d, const font *f, int w, int dh)
{
    static const char *const titles[APP_N] = {"tile_cache.c - libvd - Code",
                                              "Quarterly report.docx - Writer",
                                              "user@vdhost: ~/src/libvd"};
    rect r[APP_N] = {{0, 0, w, dh}, scale_rect((rect){136, 28, 1512, 992}, w, dh),
                     scale_rect((rect){300, 76, 1460, 900}, w, dh)};
    d->rng = 0x5eed0a17u;
    d->front = -1;
    for (int k = 0; k < APP_N; k++) {
        app *a = &d->app[k];
        a->kind = k;
        a->r = r[k];
        a->title = titles[k];
        a->dark = k != APP_DOC;
        a->img = malloc((size_t)a->r.w * a->r.h * sizeof(*a->img));
        if (!a->img)
            return -ENOMEM;
        int ret = k == APP_EDITOR ? editor_render(a, f)
                  : k == APP_DOC  ? doc_render(a, f)
                                  : term_render(a, f);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static void synth_step(synth *s, int frame)
{
    canvas scr = cv_make(s->fb, s->w, s->h, s->w);
    term_step(&s->term, scr, &s->font, frame);
    video_step(&s->vid, scr, &s->font, s->sn, frame);
    if (s->subs && s->sub_reg >= 0) {
        /* one text label per line shown, over the video's; none between sentences */
        int n = subs_step(s->subs, scr, &s->font, frame);
        s->n_reg = (size_t)s->sub_reg;
        for (int i = 0; i < n; i++)
            add_region(s, s->subs->box[i], BENCH_CLASS_TEXT, 3);
    }
    if (s->r3d)
        r3d_step(s->r3d, scr, &s->font, s->sn, frame);
    if (s->mv.active) {
        mover_step(&s->mv, scr, s->wall, frame, frame == 0);
        if (s->mv_reg >= 0) {
            s->n_reg = (size_t)s->mv_reg;
            add_region(s, (rect){s->mv.cx, s->mv.cy, s->mv.w, s->mv.h}, BENCH_CLASS_TEXT, 4);
        }
    }
    if (s->desk) {
        desk_step(s->desk, scr, &s->font, frame);
        /* windows are labelled in stacking order, each with its own id */
        s->n_reg = 2;
        for (int i = 0; i < s->desk->n_stack; i++) {
            const app *a = &s->desk->app[s->desk->stack[i]];
            int x0 = imax(0, a->r.x), y0 = imax(0, a->r.y);
            int x1 = imin(s->w, a->r.x + a->r.w), y1 = imin(s->h, a->r.y + a->r.h);
            if (x1 > x0 && y1 > y0)
                s->reg[s->n_reg++] = (bench_region){x0, y0, x1 - x0, y1 - y0, BENCH_CLASS_TEXT,
                                                    2 + i, 2 + s->desk->stack[i]};
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
    fr->front_window = s->desk ? s->desk->front : -1;
    fr->front_returns = s->desk ? s->desk->front_returns : 0;
    if (s->term.moved.w > 0) {
        fr->scroll_x = s->term.moved.x, fr->scroll_y = s->term.moved.y;
        fr->scroll_w = s->term.moved.w, fr->scroll_h = s->term.moved.h;
        fr->scroll_dy = s->term.moved_dy;
    }
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

    if ((ret = kept_render(&kept_wallpaper, s->fb, w, h, 0x5eed0001u, wallpaper_render)) < 0)
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
    /* nothing in the windows workload's taskbar ever changes: labelled static there */
    add_region(s, (rect){0, dh, w, tb}, s->kind == K_WINDOWS ? BENCH_CLASS_STATIC : BENCH_CLASS_TEXT,
               1);
    s->mv_reg = -1;
    s->sub_reg = -1;

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
    case K_VIDEO:
    case K_SUBTITLES: {
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
    case K_WINDOWS:
        s->desk = calloc(1, sizeof(*s->desk));
        if (!s->desk)
            return -ENOMEM;
        if ((ret = desk_init(s->desk, &s->font, w, dh)) < 0)
            return ret;
        break;
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

    /* subtitles play the very same video as the video workload */
    uint64_t seed = 0x5eed0100u + (uint64_t)(s->kind == K_SUBTITLES ? K_VIDEO : s->kind);
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
        if (s->kind == K_SUBTITLES && s->vid.active) {
            s->subs = malloc(sizeof(*s->subs));
            if (!s->subs)
                return -ENOMEM;
            subs_init(s->subs, s->vid.pic);
            s->sub_reg = (int)s->n_reg;
        }
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
