/* Content classification: the SIMD statistics kernel against the C reference, then the
 * classifier through the encoder's API (detection, region tracking and ending, hints,
 * clipping, bad input).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/classify.h"
#include "lib/classify_params.h"
#include "tests/testutil.h"

/* ---- kernel against reference ---- */

static void fill_tile(tu_rng *r, uint8_t *p, size_t stride, int w, int h, int kind)
{
    uint32_t base = tu_rng_u32(r);
    /* kind 4: a gradient of steps up to a little past VD_CLS_SMOOTH_MAX with a little noise,
     * so that second differences fall on both sides of the regular test's limit */
    int step[3];
    for (int k = 0; k < 3; k++)
        step[k] = (int)tu_rng_below(r, 2 * VD_CLS_SMOOTH_MAX + 5) - VD_CLS_SMOOTH_MAX - 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t v = 0;
            switch (kind) {
            case 0: v = base; break;
            case 1: v = base + (uint32_t)(x * 0x010203 + y * 0x020101); break;
            case 2: v = tu_rng_below(r, 6) ? base : 0x202020u * tu_rng_below(r, 8); break;
            case 4:
                for (int k = 0; k < 3; k++)
                    v |= (uint32_t)(uint8_t)((int)(base >> (8 * k)) + step[k] * x +
                                             (int)tu_rng_below(r, 3)) << (8 * k);
                break;
            default: v = tu_rng_u32(r); break;
            }
            memcpy(p + (size_t)y * stride + (size_t)x * 4, &v, 4);
        }
}

static void test_kernel(void)
{
    static const struct {
        const char *name;
        unsigned cpu;
        vd_tile_stats_fn fn;
    } kernels[] = {{"sse2", VD_CPU_SSE2, vd_tile_stats_sse2}, {"avx2", VD_CPU_AVX2, vd_tile_stats_avx2}};
    tu_rng r = tu_rng_init(3);
    enum { STRIDE = 64 * 4 + 12 };
    uint8_t *cur = tu_xmalloc(STRIDE * 64), *prev = tu_xmalloc(STRIDE * 64);
    for (int iter = 0; iter < 20000; iter++) {
        int w = 1 + (int)tu_rng_below(&r, 64), h = 1 + (int)tu_rng_below(&r, 64);
        int bpp = tu_rng_below(&r, 5) ? 4 : 2;
        fill_tile(&r, cur, STRIDE, 64, 64, (int)tu_rng_below(&r, 5));
        memcpy(prev, cur, STRIDE * 64);
        int changes = (int)tu_rng_below(&r, 5);
        for (int k = 0; k < changes; k++) {
            /* A patch of the previous frame differs: a little (noise) or a lot. */
            int x0 = (int)tu_rng_below(&r, 64), y0 = (int)tu_rng_below(&r, 64);
            int x1 = x0 + (int)tu_rng_below(&r, 64 - (uint32_t)x0) + 1;
            int y1 = y0 + (int)tu_rng_below(&r, 64 - (uint32_t)y0) + 1;
            int small = (int)tu_rng_below(&r, 2);
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    for (int b = 0; b < 4; b++)
                        prev[(size_t)y * STRIDE + (size_t)x * 4 + (size_t)b] +=
                            (uint8_t)(small ? tu_rng_below(&r, 13) : tu_rng_u32(&r));
        }
        vd_rect skip = {(int32_t)tu_rng_below(&r, 80) - 8, (int32_t)tu_rng_below(&r, 80) - 8,
                        (int32_t)tu_rng_below(&r, 40), (int32_t)tu_rng_below(&r, 40)};
        /* Copies that end at the tile's last byte: a kernel that reads past a row's end
         * trips the sanitizers. */
        size_t size = (size_t)(h - 1) * STRIDE + (size_t)(w * bpp);
        uint8_t *ec = tu_xmalloc(size), *ep = tu_xmalloc(size);
        memcpy(ec, cur, size);
        memcpy(ep, prev, size);
        vd_tile_stats a;
        vd_tile_stats_c(ec, STRIDE, ep, STRIDE, w, h, bpp, &skip, &a);
        for (size_t k = 0; k < sizeof(kernels) / sizeof(kernels[0]); k++) {
            if (!(vd_cpu_flags() & kernels[k].cpu))
                continue;
            vd_tile_stats b;
            kernels[k].fn(ec, STRIDE, ep, STRIDE, w, h, bpp, &skip, &b);
            CHECK(a.pixels == b.pixels && a.changed == b.changed && a.noise == b.noise &&
                      a.pairs == b.pairs && a.smooth == b.smooth && a.colours == b.colours &&
                      a.blocks == b.blocks && a.triples == b.triples && a.regular == b.regular,
                  "iteration %d (%dx%d, bpp %d): c changed %u noise %u pairs %u smooth %u "
                  "colours %u blocks %x triples %u regular %u; %s %u %u %u %u %u %x %u %u",
                  iter, w, h, bpp, a.changed, a.noise, a.pairs, a.smooth, a.colours, a.blocks,
                  a.triples, a.regular, kernels[k].name, b.changed, b.noise, b.pairs, b.smooth,
                  b.colours, b.blocks, b.triples, b.regular);
        }
        CHECK(a.changed <= a.pixels && a.noise <= a.changed && a.smooth <= a.pairs &&
                  a.colours <= 64 && a.regular <= a.triples && a.triples <= a.pairs,
              "statistics out of range");
        free(ec);
        free(ep);
    }
    free(cur);
    free(prev);
    printf("classify: SSE2 and AVX2 statistics match the C reference (CPU flags %#x)\n", vd_cpu_flags());
}

/* ---- classifier through the encoder ---- */

enum { W = 640, H = 480 };
static const vd_rect area = {136, 120, 256, 192}; /* the moving content, not tile-aligned */

/* "video": a drifting gradient with sensor noise; "3d": exact shading that jumps each frame;
 * over the rectangle q. */
static void paint_in(tu_canvas *c, tu_rng *r, int frame, enum vd_content what, vd_rect q)
{
    for (int y = q.y; y < q.y + q.height; y++)
        for (int x = q.x; x < q.x + q.width; x++) {
            uint32_t v;
            if (what == VD_CONTENT_VIDEO) {
                int g = (x + y + frame * 3) & 0xff;
                v = (uint32_t)((g + (int)tu_rng_below(r, 5)) & 0xff) |
                    (uint32_t)(((g / 2 + (int)tu_rng_below(r, 5)) & 0xff) << 8) |
                    (uint32_t)(((255 - g + (int)tu_rng_below(r, 5)) & 0xff) << 16);
            } else {
                /* Zooming as well as moving: a pure translation would (rightly) go out as
                 * copies, and real rendering never repeats pixels that exactly. */
                int g = ((x * 2 + y) * (64 + frame) / 64 + frame * 40) & 0xff;
                v = (uint32_t)g | (uint32_t)((g / 3) << 8) | (uint32_t)((255 - g) << 16);
            }
            memcpy(c->data + (size_t)y * (size_t)c->stride + (size_t)x * 4, &v, 4);
        }
}

/* The same over the moving content's area. */
static void paint(tu_canvas *c, tu_rng *r, int frame, enum vd_content what)
{
    paint_in(c, r, frame, what, area);
}

/* A W x H frame of desktop-like pixels. */
static tu_canvas desktop(tu_rng *r)
{
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, W, H, 0);
    tu_fill_desktop(r, &c);
    return c;
}

static vd_encoder *new_encoder(void)
{
    vd_encoder *enc;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    return enc;
}

/* An encoder with the two rendered-content rules set (0 turns each off). */
static vd_encoder *new_encoder_with_rules(uint32_t rendered_regular, uint32_t flat_changes)
{
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.classifier.rendered_regular = rendered_regular;
    cfg.classifier.flat_changes = flat_changes;
    vd_encoder *enc;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "encoder_new");
    return enc;
}

static void send(vd_encoder *enc, const vd_frame *f)
{
    tu_packets pl = {0};
    int ret = tu_encode_frame(enc, f, &pl);
    CHECK(ret == 0, "send_frame: %s", vd_strerror(ret));
    tu_packets_free(&pl);
}

static int regions(vd_encoder *enc, vd_region *out)
{
    int n = vd_encoder_get_regions(enc, 1, out, 8);
    CHECK(n >= 0 && n <= 8, "get_regions: %d", n);
    return n;
}

/* Detection on the first change, a tight 16-aligned rectangle from then on (the partly
 * covered edge tiles included), a stable id, the end after idling. */
static void test_detect(enum vd_content what)
{
    tu_rng r = tu_rng_init(11);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    vd_region reg[8];
    uint32_t id = 0;
    int detected_at = -1;
    /* The tile the rectangle's right edge cuts (a quarter of it): the region's while it
     * changes only inside the rectangle (the stream carries it); text while a cursor drawn
     * into the frame moves over its outside (frames 40-41), and in the last frame, in which a
     * pixel of it outside changes too (it goes losslessly). */
    int cut_tile = (area.y / 64 + 1) * 10 + (area.x + area.width) / 64;
    uint8_t classes[100], under[8 * 8 * 4];
    vd_rect cursor = {0, 0, 0, 0};
    for (int frame = 0; frame < 45; frame++) {
        paint(&c, &r, frame, what);
        for (int y = 0; y < cursor.height; y++) /* what the cursor covered comes back */
            memcpy(c.data + (size_t)(cursor.y + y) * (size_t)c.stride + (size_t)cursor.x * 4,
                   under + y * 32, 32);
        cursor = frame == 40 || frame == 41
                     ? (vd_rect){cut_tile % 10 * 64 + 40 + 8 * (frame - 40), area.y + 30, 8, 8}
                     : (vd_rect){0, 0, 0, 0}; /* gone from frame 42 on */
        for (int y = 0; y < cursor.height; y++) {
            uint8_t *row = c.data + (size_t)(cursor.y + y) * (size_t)c.stride + (size_t)cursor.x * 4;
            memcpy(under + y * 32, row, 32);
            memset(row, 0xee, 32);
        }
        if (frame == 44)
            memset(c.data + (size_t)(area.y + 40) * (size_t)c.stride + (size_t)(cut_tile % 10 * 64 + 56) * 4,
                   0x5a, 3);
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        f.cursor = cursor;
        send(enc, &f);
        if (frame >= 40 && frame != 42) { /* and the encoder did as the class says */
            uint8_t lossy[100];
            int region_s = frame == 43;
            CHECK(vd_encoder_get_tile_classes(enc, 1, classes, sizeof(classes)) == 80 &&
                      vd_encoder_get_lossy_tiles(enc, 1, lossy, sizeof(lossy)) == 80,
                  "classes");
            CHECK(classes[cut_tile] == (region_s ? what : VD_CONTENT_TEXT) && lossy[cut_tile] == region_s,
                  "frame %d: cut tile class %d, lossy %d", frame, classes[cut_tile], lossy[cut_tile]);
        }
        int n = regions(enc, reg);
        if (detected_at < 0 && n == 1) {
            detected_at = frame;
            id = reg[0].id;
        }
        if (detected_at < 0)
            continue;
        CHECK(n == 1 && reg[0].id == id, "frame %d: %d regions, id %u (was %u)", frame, n,
              n ? reg[0].id : 0, id);
        CHECK(reg[0].content == what, "frame %d: content %d, want %d", frame, reg[0].content, what);
        const vd_rect *q = &reg[0].rect;
        CHECK(q->x % 16 == 0 && q->y % 16 == 0 && q->width % 16 == 0 && q->height % 16 == 0,
              "rect %d,%d %dx%d not 16-aligned", q->x, q->y, q->width, q->height);
        CHECK(q->x <= area.x && q->y <= area.y && q->x + q->width >= area.x + area.width &&
                  q->y + q->height >= area.y + area.height && q->x > area.x - 16 &&
                  q->y > area.y - 16 && q->x + q->width < area.x + area.width + 16 &&
                  q->y + q->height < area.y + area.height + 16,
              "rect %d,%d %dx%d is not the 16-aligned hull of the content", q->x, q->y,
              q->width, q->height);
    }
    /* On screen from the first frame: the video's first change repaints it in place by noise
     * and a drift; the 3D shading here jumps by far more than noise each frame, so it takes
     * the second change (fast start). */
    CHECK(detected_at == (what == VD_CONTENT_VIDEO ? 1 : 2), "detected at frame %d", detected_at);
    int nt = vd_encoder_get_tile_classes(enc, 1, classes, sizeof(classes));
    CHECK(nt == 80, "%d tiles", nt);
    CHECK(classes[(area.y / 64 + 1) * 10 + area.x / 64 + 1] == what, "inner tile class");
    CHECK(vd_encoder_get_tile_classes(enc, 1, classes, 10) == VD_ERR(ENOSPC), "ENOSPC");
    CHECK(vd_encoder_get_tile_classes(enc, 2, classes, 100) == VD_ERR(ENOENT), "ENOENT");
    CHECK(vd_encoder_get_regions(enc, 2, reg, 8) == VD_ERR(ENOENT), "ENOENT");

    /* The content stops: the region lives on for region_idle_ms, then ends. */
    int ended_at = -1;
    for (int frame = 45; frame < 120 && ended_at < 0; frame++) {
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        if (regions(enc, reg) == 0)
            ended_at = frame;
    }
    int64_t idle_ms = (int64_t)(ended_at - 45) * 33333 / 1000;
    CHECK(ended_at > 0 && idle_ms >= 900 && idle_ms <= 1100, "ended after %lld ms idle",
          (long long)idle_ms);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* The frame at which a video painted from frame 1 every `every` frames becomes a region,
 * -1 if not within 20 frames.  touch_up: frame 1 repaints, frame 2 changes a few pixels of
 * every tile, then nothing changes. */
static int detection_frame(uint32_t fast_start_changed, int every, int touch_up)
{
    tu_rng r = tu_rng_init(17);
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.classifier.fast_start_changed = fast_start_changed;
    vd_encoder *enc;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "encoder_new");
    tu_canvas c = desktop(&r);
    vd_region reg[8];
    int found = -1;
    for (int frame = 0; frame < 20 && found < 0; frame++) {
        if (touch_up && frame == 2) {
            for (int y = area.y; y < area.y + area.height; y += 16)
                for (int x = area.x; x < area.x + area.width; x += 16)
                    c.data[(size_t)y * (size_t)c.stride + (size_t)x * 4] ^= 0x80;
        } else if (frame && frame % every == 0 && (!touch_up || frame == 1)) {
            paint(&c, &r, frame, VD_CONTENT_VIDEO);
        }
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        if (regions(enc, reg) > 0)
            found = frame;
    }
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
    return found;
}

/* Fast start: a video that replaces the desktop is found on its second frame; without fast
 * start, once the enter rate is reached.  Two repaints 200 ms apart are not a start (the
 * second moves the picture by far more than noise: another picture), nor is a repaint
 * touched up at once. */
static void test_fast_start(void)
{
    int fast = detection_frame(VD_CLS_FAST_START_CHANGED, 1, 0);
    int slow = detection_frame(0, 1, 0);
    CHECK(fast == 2, "fast start: found at frame %d, want 2", fast);
    CHECK(slow == 4, "without fast start: found at frame %d, want 4", slow);
    int apart = detection_frame(VD_CLS_FAST_START_CHANGED, 6, 0);
    CHECK(apart == -1, "repaints 200 ms apart: found at frame %d", apart);
    int touched = detection_frame(VD_CLS_FAST_START_CHANGED, 1, 1);
    CHECK(touched == -1, "a repaint touched up: found at frame %d", touched);
    printf("classify: fast start finds a video at frame %d (without it: %d)\n", fast, slow);
}

/* An object that moves out of a 3D view's busy area, into 16 x 16 blocks that have not
 * changed before, is 3D from its first frame there: the region's rectangle takes in the
 * blocks it reaches beside the region.  Beside a video, whose picture does not grow, the
 * same object is not the video's (a player's controls, a tooltip): the region's rectangle
 * stays off it (the tile is the video's still, for the picture's rows that it holds). */
static void test_sweep(enum vd_content what)
{
    tu_rng r = tu_rng_init(23);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    uint8_t classes[100];
    int right = 0, frames = 0;
    for (int frame = 0; frame < 26; frame++) { /* the ball stays above the view */
        paint(&c, &r, frame, what);
        if (frame >= 10) { /* a shaded ball rolling right just above the view's top edge */
            int x0 = area.x + 16 * (frame - 10), y0 = area.y - 24;
            for (int y = y0; y < y0 + 16; y++)
                for (int x = x0; x < x0 + 16; x++) {
                    uint32_t g = (uint32_t)(128 + (x - x0) * 4 + (y - y0) * 3 + frame);
                    uint32_t v = (g & 0xff) | ((g / 2 & 0xff) << 8) | (0x30u << 16);
                    memcpy(c.data + (size_t)y * (size_t)c.stride + (size_t)x * 4, &v, 4);
                }
        }
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        if (frame < 12)
            continue;
        frames++;
        if (what == VD_CONTENT_3D) {
            CHECK(vd_encoder_get_tile_classes(enc, 1, classes, sizeof(classes)) == 80, "classes");
            right += classes[(area.y - 24) / 64 * 10 + (area.x + 16 * (frame - 10)) / 64] == what;
            continue;
        }
        vd_region reg[8];
        int n = regions(enc, reg), off = 1;
        for (int k = 0; k < n; k++)
            off &= reg[k].rect.y >= area.y - 8;
        right += n > 0 && off;
    }
    CHECK(right == frames, "the ball was right (%s) in %d of %d frames",
          what == VD_CONTENT_3D ? "its tile 3D" : "outside the video region", right, frames);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* A shaded ball rises out of a 3D view into the still sky above it (one colour per row, which
 * does not look natural as a whole tile): each tile it reaches is 3D from its first frame
 * there, as the blocks it changed look rendered. */
static void test_rise_into_sky(void)
{
    tu_rng r = tu_rng_init(31);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    const vd_rect sky = {area.x, area.y - 96, area.width, 96};
    for (int y = sky.y; y < sky.y + sky.height; y++)
        for (int x = sky.x; x < sky.x + sky.width; x++)
            tu_put_pixel(&c, x, y, (uint32_t)(90 + (y - sky.y) / 2) * 0x010100u + 0xc0u);
    uint8_t classes[100];
    int right = 0, frames = 0;
    for (int frame = 0; frame < 22; frame++) {
        paint(&c, &r, frame, VD_CONTENT_3D);
        int top = area.y - 8 * (frame - 10); /* the ball's top row, 8 px higher each frame */
        if (frame > 10) /* the sky where it was */
            for (int y = VD_MAX(top + 8, sky.y); y < VD_MIN(top + 32, area.y); y++)
                for (int x = 200; x < 224; x++)
                    tu_put_pixel(&c, x, y, (uint32_t)(90 + (y - sky.y) / 2) * 0x010100u + 0xc0u);
        if (frame >= 10)
            for (int y = VD_MAX(top, sky.y); y < top + 24; y++)
                for (int x = 200; x < 224; x++) {
                    uint32_t g = (uint32_t)(96 + (x - 200) * 5 + (y - top) * 3);
                    tu_put_pixel(&c, x, y, (g & 0xff) | (g / 2 & 0xff) << 8 | 0x40u << 16);
                }
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        if (frame < 11 || top < sky.y)
            continue;
        CHECK(vd_encoder_get_tile_classes(enc, 1, classes, sizeof(classes)) == 80, "classes");
        right += classes[top / 64 * 10 + 200 / 64] == VD_CONTENT_3D;
        frames++;
    }
    CHECK(frames >= 10 && right == frames, "the rising ball's tile was 3D in %d of %d frames",
          right, frames);
    printf("classify: an object rising out of a 3D view into a still sky is 3D at once\n");
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* Glyphs: strokes of dark greys (anti-aliased edges) on a light line that is flat (kind 0),
 * a gradient across (1) or down (2). */
static void paint_glyphs(tu_canvas *c, tu_rng *r, vd_rect rect, int kind)
{
    for (int y = rect.y; y < rect.y + rect.height; y++)
        for (int x = rect.x; x < rect.x + rect.width; x++) {
            uint32_t g = kind == 0 ? 224 : kind == 1 ? 150 + (uint32_t)(x - rect.x) % 64
                                                     : 150 + 3 * (uint32_t)(y - rect.y);
            if (tu_rng_below(r, 5) == 0)
                g = tu_rng_below(r, 96);
            tu_put_pixel(c, x, y, g * 0x010101u);
        }
}

/* A picture that opens once beside a 3D view (shaded, so its blocks look rendered), and text
 * typed further out in the same rows: the region takes at most a block's width of the
 * picture, never the text (a chat panel beside a game, an image loading beside a WebGL
 * canvas). */
static void test_picture_beside_3d(void)
{
    tu_rng r = tu_rng_init(41);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    const int right = area.x + area.width; /* 392 */
    const vd_rect picture = {right + 8, area.y - 8, 128, 32};
    int wrong = 0;
    for (int frame = 0; frame < 50; frame++) {
        paint(&c, &r, frame, VD_CONTENT_3D);
        if (frame == 15)
            tu_paint_pattern(&r, &c, picture, TU_GRADIENT);
        vd_rect text = {right + 40, 260, 16 * (frame - 19), 12};
        if (frame >= 20)
            paint_glyphs(&c, &r, (vd_rect){text.x + text.width - 16, text.y, 16, 12}, 0);
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        vd_region reg[8];
        int n = regions(enc, reg);
        for (int k = 0; k < n; k++)
            wrong += frame >= 20 && reg[k].rect.x + reg[k].rect.width > text.x;
        wrong += frame >= 20 && !n;
    }
    CHECK(!wrong, "text typed beside a picture beside a 3D view was in its region %d times", wrong);
    printf("classify: a picture opening beside a 3D view does not carry its region over text\n");
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* A shaded patch painted once just above a 3D view joins it; after the region's rectangle let
 * go of it (3 to 6 s: RECT_HOLD_3D_MS), a glyph typed into the same block does not: whether a
 * block looks rendered is judged afresh every frame. */
static void test_block_judged_afresh(void)
{
    tu_rng r = tu_rng_init(43);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    const vd_rect block = {208, 96, 16, 16}; /* the block row above the view's rectangle (112) */
    int joined = 0, wrong = 0, released = 0;
    for (int frame = 0; frame < 240; frame++) {
        paint(&c, &r, frame, VD_CONTENT_3D);
        if (frame == 10)
            tu_paint_pattern(&r, &c, block, TU_GRADIENT);
        if (frame == 230) /* a glyph typed into it */
            paint_glyphs(&c, &r, block, 0);
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        vd_region reg[8];
        int n = regions(enc, reg), top = n ? reg[0].rect.y : -1;
        joined |= frame == 10 && top <= block.y;
        released |= frame == 229 && top > block.y;
        wrong += frame >= 230 && top <= block.y;
    }
    CHECK(joined && released && !wrong,
          "patch joined %d, released %d; a glyph in its block joined %d times", joined, released,
          wrong);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* Text typed just above a 3D view, two 8 px glyphs a frame, while the view changes every frame:
 * no region takes in its rows, so it goes exactly (in the tile that the view's edge cuts, as
 * the rows beside the stream's part).  Rendered pixels reaching new blocks there would join. */
static void test_typing_beside_3d(int kind)
{
    tu_rng r = tu_rng_init(29);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    const int y0 = area.y - 20, rows = 12; /* 100..111: the tile row the view's edge cuts */
    int wrong = 0;
    for (int frame = 0; frame < 40; frame++) {
        paint(&c, &r, frame, VD_CONTENT_3D);
        if (frame >= 10)
            paint_glyphs(&c, &r, (vd_rect){area.x + 16 * (frame - 10) % area.width, y0, 16, rows},
                         kind);
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        if (frame < 10)
            continue;
        vd_region reg[8];
        int n = regions(enc, reg), over = 0;
        for (int k = 0; k < n; k++)
            over |= reg[k].rect.y < y0 + rows;
        wrong += !n || over;
    }
    CHECK(!wrong, "typed text (line %d) beside a 3D view was the view's in %d of 30 frames", kind,
          wrong);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* A video whose middle stops changing (a dark, still part of the picture) splits into two
 * components of changing tiles; while the region holds its rectangle over both, they stay one
 * region (one stream), not a second region over the same pixels. */
static void test_split_stays_one(void)
{
    tu_rng r = tu_rng_init(29);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    vd_region reg[8];
    uint32_t id = 0;
    for (int frame = 0; frame < 46; frame++) {
        paint_in(&c, &r, frame, VD_CONTENT_VIDEO, (vd_rect){64, 64, 192, 256});
        paint_in(&c, &r, frame, VD_CONTENT_VIDEO, (vd_rect){384, 64, 192, 256});
        if (frame < 20) /* then the middle holds still */
            paint_in(&c, &r, frame, VD_CONTENT_VIDEO, (vd_rect){256, 64, 128, 256});
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        int n = regions(enc, reg);
        if (frame == 10) {
            CHECK(n == 1, "frame 10: %d regions", n);
            id = reg[0].id;
        }
        if (frame > 20) /* its middle tiles stay active 500 ms, then it splits (frame 36 on) */
            CHECK(n == 1 && reg[0].id == id, "frame %d: %d regions (first id %u, was %u)", frame,
                  n, n ? reg[0].id : 0, id);
    }
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* A player's pillarbox: the video's region takes in the black bars beside the picture (they
 * belong to the player's window), not the desktop beyond them. */
static void test_bars(void)
{
    tu_rng r = tu_rng_init(23);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    const vd_rect window = {area.x - 40, area.y, area.width + 80, area.height};
    for (int y = window.y; y < window.y + window.height; y++)
        memset(c.data + (size_t)y * (size_t)c.stride + (size_t)window.x * 4, 0, (size_t)window.width * 4);
    vd_region reg[8];
    int n = 0;
    for (int frame = 0; frame < 10; frame++) {
        paint(&c, &r, frame, VD_CONTENT_VIDEO);
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        n = regions(enc, reg);
    }
    CHECK(n == 1, "%d regions", n);
    const vd_rect *q = &reg[0].rect;
    /* The bars reach 40 px out; the 16-aligned steps stop where a strip touches the desktop. */
    CHECK(q->x <= window.x + 15 && q->x >= window.x - 15 &&
              q->x + q->width >= window.x + window.width - 15 &&
              q->x + q->width <= window.x + window.width + 15,
          "rect %d,%d %dx%d does not take in the bars of %d..%d", q->x, q->y, q->width, q->height,
          window.x, window.x + window.width);
    CHECK(q->y > area.y - 16 && q->y + q->height < area.y + area.height + 16,
          "rect %d,%d %dx%d grew over the desktop", q->x, q->y, q->width, q->height);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
    printf("classify: a video takes in its player's bars (%d..%d for %d..%d)\n", q->x,
           q->x + q->width, window.x, window.x + window.width);
}

/* Flat-shaded 3D (four flat colours, zooming, redrawn every frame) becomes a 3D region
 * within 0.3 s (VD_CLS_FLAT_CHANGES frames at 30 fps), though it looks nothing like natural
 * content. */
static void test_flat_3d(int rule_off)
{
    static const uint32_t palette[4] = {0x000000, 0x2020d0, 0x20c020, 0xd02020};
    tu_rng r = tu_rng_init(29);
    vd_encoder *enc = new_encoder_with_rules(VD_CLS_RENDERED_REGULAR,
                                             rule_off ? 0 : VD_CLS_FLAT_CHANGES);
    tu_canvas c = desktop(&r);
    vd_region reg[8];
    int found = -1;
    for (int frame = 0; frame < 30 && found < 0; frame++) {
        for (int y = area.y; y < area.y + area.height; y++)
            for (int x = area.x; x < area.x + area.width; x++) {
                uint32_t v = palette[(((x * 2 + y) * (64 + frame) / 64 + frame * 40) >> 5) & 3];
                memcpy(c.data + (size_t)y * (size_t)c.stride + (size_t)x * 4, &v, 4);
            }
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        if (regions(enc, reg) == 1 && reg[0].content == VD_CONTENT_3D)
            found = frame;
    }
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
    if (rule_off) {
        CHECK(found < 0, "flat-shaded 3D found at frame %d with flat_changes 0", found);
        return;
    }
    CHECK(found > 0 && found * 33333 <= 300000, "flat-shaded 3D found at frame %d", found);
    printf("classify: flat-shaded 3D found at frame %d (never with flat_changes 0)\n", found);
}

/* Smooth shading that turns slowly changes by noise-sized steps and is smooth, as a video
 * is: its exact gradients make it 3D.  The same with a video's grain stays video. */
static void test_slow_shading(int grain, int rule_off)
{
    tu_rng r = tu_rng_init(31);
    vd_encoder *enc = new_encoder_with_rules(rule_off ? 0 : VD_CLS_RENDERED_REGULAR,
                                             VD_CLS_FLAT_CHANGES);
    tu_canvas c = desktop(&r);
    vd_region reg[8];
    enum vd_content want = grain || rule_off ? VD_CONTENT_VIDEO : VD_CONTENT_3D;
    int found = -1, wrong = 0;
    for (int frame = 0; frame < 20; frame++) {
        for (int y = area.y; y < area.y + area.height; y++)
            for (int x = area.x; x < area.x + area.width; x++) {
                uint32_t v = 0;
                for (int k = 0; k < 3; k++) {
                    /* each channel a plane that tilts by under 2 levels a frame */
                    int g = (x * (150 + 40 * k + frame) + y * (120 - 30 * k - frame)) / 256 +
                            40 * k + (grain ? (int)tu_rng_below(&r, 5) : 0);
                    v |= (uint32_t)(g & 0xff) << (8 * k);
                }
                memcpy(c.data + (size_t)y * (size_t)c.stride + (size_t)x * 4, &v, 4);
            }
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        int n = regions(enc, reg);
        for (int i = 0; i < n; i++) {
            wrong += reg[i].content != want;
            if (reg[i].content == want && found < 0)
                found = frame;
        }
    }
    CHECK(found >= 0 && found * 33333 <= 500000 && !wrong,
          "slowly turning shading%s%s: %s from frame %d, %d frames called the other class",
          grain ? " with grain" : "", rule_off ? " (rendered_regular 0)" : "",
          want == VD_CONTENT_VIDEO ? "video" : "3D", found, wrong);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* The class a classifier gives a 512 x 512 surface whose every tile reports video-like
 * statistics (noise-sized changes, smooth pairs, many colours) with the given triples, all
 * irregular, for 30 frames; -1 for no region. */
static int class_of_statistics(uint32_t triples)
{
    vd_tile_grid g;
    vd_tile_grid_init(&g, 512, 512, VD_FORMAT_BGRX8888);
    vd_classifier_config cfg;
    vd_classifier_config_default(&cfg);
    uint32_t next_id = 1;
    vd_classifier *c = vd_classifier_new(&g, &cfg, &next_id);
    CHECK(c, "classifier_new");
    size_t n = (size_t)g.cols * (size_t)g.rows;
    uint8_t *state = tu_xmalloc(n);
    vd_tile_stats *st = tu_xmalloc(n * sizeof(*st));
    tu_canvas canvas = tu_canvas_new(VD_FORMAT_BGRX8888, 512, 512, 0);
    vd_frame f = tu_frame(&canvas, 1, NULL, 0);
    vd_region reg[8];
    size_t regions = 0;
    for (int frame = 0; frame < 30; frame++) {
        memset(state, VD_TILE_DIRTY, n);
        for (size_t i = 0; i < n; i++)
            st[i] = (vd_tile_stats){.pixels = 4096, .changed = 4096, .noise = 4096,
                                    .pairs = 1008, .smooth = 900, .colours = 64,
                                    .blocks = 0xffff, .triples = triples};
        f.pts_us = frame * 33333;
        CHECK(vd_classifier_update(c, f.pts_us, state, st, NULL, &f) == 0, "update");
        regions = vd_classifier_regions(c, reg, 8);
    }
    int content = regions ? (int)reg[0].content : -1;
    tu_canvas_free(&canvas);
    free(state);
    free(st);
    vd_classifier_free(&c);
    return content;
}

/* The exact-gradient rule needs tiles with enough smooth triples to judge: a region without
 * any is left to the video score. */
static void test_ungraded_region(void)
{
    int graded = class_of_statistics(VD_CLS_MIN_TRIPLES);
    int ungraded = class_of_statistics(VD_CLS_MIN_TRIPLES - 1);
    CHECK(graded == VD_CONTENT_VIDEO && ungraded == VD_CONTENT_VIDEO,
          "video-like statistics with irregular triples: %d, with too few triples: %d", graded,
          ungraded);
}

/* Text that changes fast (typing, a scrolling log) never becomes a region. */
static void test_text_stays_text(void)
{
    tu_rng r = tu_rng_init(5);
    vd_encoder *enc = new_encoder();
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, W, H, 0);
    memset(c.data, 0xff, (size_t)c.stride * H);
    vd_region reg[8];
    for (int frame = 0; frame < 60; frame++) {
        /* A "scroll": every row of a text block moves up, glyph-like dark strokes. */
        for (int y = 100; y < 400; y++)
            for (int x = 100; x < 500; x++) {
                int on = ((x / 3 + (y + frame * 16) / 2) % 7 == 0) && ((y + frame * 16) % 16 < 12);
                uint32_t v = on ? 0x101010u : 0xffffffu;
                memcpy(c.data + (size_t)y * (size_t)c.stride + (size_t)x * 4, &v, 4);
            }
        (void)r;
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        CHECK(regions(enc, reg) == 0, "frame %d: text became a %d region", frame,
              regions(enc, reg) ? reg[0].content : 0);
    }
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* A photo on a page, a textured gradient: rows r.y.. show the page's rows page_y.. */
static void paint_photo(tu_canvas *c, vd_rect r, int page_y)
{
    for (int y = r.y; y < r.y + r.height; y++)
        for (int x = r.x; x < r.x + r.width; x++) {
            uint32_t py = (uint32_t)(y - r.y + page_y), h = (uint32_t)x * 2654435761u ^ py * 40503u;
            uint32_t g = (uint32_t)(x / 3 + py / 2) & 0xff, n = (h >> 13) % 7;
            uint32_t v = (g + n) % 256 | ((g / 2 + n) % 256) << 8 | ((255 - g + n) % 256) << 16;
            memcpy(c->data + (size_t)y * (size_t)c->stride + (size_t)x * 4, &v, 4);
        }
}

/* A photo scrolled fast: the rows it brings in repaint most of the tiles below the copied
 * band with natural content, in place of natural content, but beside a copy; no region. */
static void test_scrolled_photo_stays_text(void)
{
    vd_encoder *enc = new_encoder();
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, W, H, 0);
    memset(c.data, 0xff, (size_t)c.stride * H);
    vd_region reg[8];
    uint8_t classes[100];
    for (int frame = 0; frame < 12; frame++) {
        paint_photo(&c, (vd_rect){0, 0, W, 384}, 48 * frame);
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
        CHECK(regions(enc, reg) == 0, "frame %d: the scrolled photo became a %d region", frame,
              reg[0].content);
        CHECK(vd_encoder_get_tile_classes(enc, 1, classes, sizeof(classes)) == 80, "classes");
        for (int i = 0; i < 80; i++)
            CHECK(classes[i] != VD_CONTENT_VIDEO && classes[i] != VD_CONTENT_3D,
                  "frame %d: tile %d class %d", frame, i, classes[i]);
    }
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* A photo on screen from the first frame, repainted in place once: by the next picture of
 * itself (every pixel moves by noise, as in a video that was already playing) it is a region
 * at once; by another photo (a slideshow, most pixels change far more) it is not. */
static void test_repaint_in_place(int next_picture)
{
    vd_encoder *enc = new_encoder();
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, W, H, 0);
    memset(c.data, 0xff, (size_t)c.stride * H);
    paint_photo(&c, (vd_rect){0, 0, 320, 192}, 0);
    vd_region reg[8];
    tu_rng r = tu_rng_init(31);
    for (int frame = 0; frame < 31; frame++) {
        if (frame == 30 && !next_picture)
            paint_photo(&c, (vd_rect){0, 0, 320, 192}, 777);
        for (int y = 0; frame == 30 && next_picture && y < 192; y++) /* sensor noise */
            for (int x = 0; x < 320 * 4; x++) {
                uint8_t *p = c.data + (size_t)y * (size_t)c.stride + (size_t)x;
                *p = (uint8_t)VD_MIN(VD_MAX(*p + (int)tu_rng_below(&r, 7) - 3, 0), 255);
            }
        vd_frame f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        send(enc, &f);
    }
    int n = regions(enc, reg);
    CHECK(n == next_picture, "%s: %d regions after the repaint",
          next_picture ? "the next picture" : "another photo", n);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
}

/* Hints override detection at once; rectangles are clipped and aligned outwards. */
static void test_hints(void)
{
    tu_rng r = tu_rng_init(9);
    vd_encoder *enc = new_encoder();
    tu_canvas c = desktop(&r);
    vd_region reg[8];

    vd_frame f = tu_frame(&c, 1, NULL, 0);
    f.surface_content = VD_CONTENT_3D; /* a virgl scanout */
    send(enc, &f);
    CHECK(regions(enc, reg) == 1 && reg[0].content == VD_CONTENT_3D && reg[0].rect.x == 0 &&
              reg[0].rect.y == 0 && reg[0].rect.width == W && reg[0].rect.height == H,
          "surface hint");

    vd_hint hints[3] = {{{-20, 470, 70, 100}, VD_CONTENT_VIDEO}, /* clipped at the corner */
                        {{1000, 10, 50, 50}, VD_CONTENT_VIDEO},  /* outside: ignored */
                        {{301, 205, 90, 33}, VD_CONTENT_VIDEO}};
    f = tu_frame(&c, 1, NULL, 0);
    f.pts_us = 1000;
    f.hints = hints;
    f.n_hints = 3;
    send(enc, &f);
    int n = regions(enc, reg);
    CHECK(n == 2, "%d regions from 3 hints", n);
    for (int i = 0; i < n; i++) {
        const vd_rect *q = &reg[i].rect;
        CHECK(reg[i].content == VD_CONTENT_VIDEO, "hinted content");
        int corner = q->x == 0 && q->y == 464 && q->width == 64 && q->height == 16;
        int middle = q->x == 288 && q->y == 192 && q->width == 112 && q->height == 48;
        CHECK(corner || middle, "hinted rect %d,%d %dx%d", q->x, q->y, q->width, q->height);
    }

    /* A text hint over moving natural content keeps it text. */
    vd_hint text = {area, VD_CONTENT_TEXT};
    for (int frame = 0; frame < 30; frame++) {
        paint(&c, &r, frame, VD_CONTENT_VIDEO);
        f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = 2000000 + frame * 33333;
        f.hints = &text;
        f.n_hints = 1;
        send(enc, &f);
        CHECK(regions(enc, reg) == 0, "frame %d: a text hint was overridden", frame);
    }

    /* A text hint over part of a video (a chat overlay, subtitles the host knows of): those
     * tiles stay text and exact while the rest is video, also inside the region's rectangle. */
    vd_encoder *over = new_encoder();
    vd_hint overlay = {{192, 192, 64, 64}, VD_CONTENT_TEXT};
    int streamed = 0;
    for (int frame = 0; frame < 20; frame++) {
        paint(&c, &r, frame, VD_CONTENT_VIDEO);
        f = tu_frame(&c, 1, NULL, 0);
        f.pts_us = frame * 33333;
        f.hints = &overlay;
        f.n_hints = 1;
        send(over, &f);
        uint8_t classes[80], lossy[80];
        CHECK(vd_encoder_get_tile_classes(over, 1, classes, sizeof(classes)) == 80 &&
                  vd_encoder_get_lossy_tiles(over, 1, lossy, sizeof(lossy)) == 80, "maps");
        CHECK(classes[3 * 10 + 3] == VD_CONTENT_TEXT && !lossy[3 * 10 + 3],
              "frame %d: the text-hinted tile is class %d, lossy %d", frame, classes[33],
              lossy[33]);
        streamed += regions(over, reg) == 1 && classes[3 * 10 + 4] == VD_CONTENT_VIDEO;
    }
    CHECK(streamed >= 15, "the video beside the text hint was video in %d of 20 frames", streamed);
    vd_encoder_free(&over);

    /* Absurd or invalid hints are refused, and the encoder goes on. */
    vd_hint many[VD_MAX_HINTS + 1];
    for (size_t i = 0; i < TU_ARRAY_SIZE(many); i++)
        many[i] = (vd_hint){{0, 0, 1, 1}, VD_CONTENT_VIDEO};
    f = tu_frame(&c, 1, NULL, 0);
    f.hints = many;
    f.n_hints = VD_MAX_HINTS + 1;
    CHECK(vd_encoder_send_frame(enc, &f) == VD_ERR(EINVAL), "too many hints");
    f.n_hints = 1;
    f.hints = NULL;
    CHECK(vd_encoder_send_frame(enc, &f) == VD_ERR(EINVAL), "NULL hints");
    f.hints = many;
    many[0].content = (enum vd_content)9;
    CHECK(vd_encoder_send_frame(enc, &f) == VD_ERR(EINVAL), "bad hint content");
    f.n_hints = 0;
    f.surface_content = (enum vd_content)-1;
    CHECK(vd_encoder_send_frame(enc, &f) == VD_ERR(EINVAL), "bad surface content");
    f.surface_content = VD_CONTENT_NONE;
    f.hints = many;
    f.n_hints = VD_MAX_HINTS;
    many[0].content = VD_CONTENT_VIDEO;
    send(enc, &f);

    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.classifier.exit_rate = cfg.classifier.enter_rate + 1;
    vd_encoder *bad = NULL;
    CHECK(vd_encoder_new(&cfg, &bad) == VD_ERR(EINVAL) && !bad, "exit rate above enter rate");
    /* The fields keep the places of the releases before them (they came from reserved). */
    _Static_assert(offsetof(vd_classifier_config, region_idle_ms) == 24 &&
                       offsetof(vd_classifier_config, fast_start_changed) == 28 &&
                       offsetof(vd_classifier_config, rendered_regular) == 32 &&
                       offsetof(vd_classifier_config, flat_window_ms) == 40 &&
                       sizeof(vd_classifier_config) == 60,
                   "vd_classifier_config's layout changed");
    vd_encoder_config_default(&cfg);
    cfg.classifier.flat_changes = 0;
    cfg.classifier.flat_window_ms = 0;
    CHECK(vd_encoder_new(&cfg, &bad) == 0 && bad, "flat rule off with window 0");
    vd_encoder_free(&bad);
    vd_encoder_config_default(&cfg);
    cfg.classifier.rendered_regular = 257;
    CHECK(vd_encoder_new(&cfg, &bad) == VD_ERR(EINVAL) && !bad, "rendered_regular 257");
    vd_encoder_config_default(&cfg);
    cfg.classifier.flat_changes = VD_CLS_HISTORY + 1;
    CHECK(vd_encoder_new(&cfg, &bad) == VD_ERR(EINVAL) && !bad, "more flat changes than kept");
    vd_encoder_config_default(&cfg);
    cfg.classifier.flat_window_ms = 0;
    CHECK(vd_encoder_new(&cfg, &bad) == VD_ERR(EINVAL) && !bad, "flat window 0");

    tu_canvas_free(&c);
    vd_encoder_free(&enc);
    printf("classify: hints override, clip and align; bad hints are refused\n");
}

int main(void)
{
    test_kernel();
    test_detect(VD_CONTENT_VIDEO);
    printf("classify: video detected, tracked and ended\n");
    test_detect(VD_CONTENT_3D);
    printf("classify: 3D detected, tracked and ended\n");
    test_fast_start();
    test_sweep(VD_CONTENT_3D);
    test_sweep(VD_CONTENT_VIDEO);
    test_rise_into_sky();
    test_picture_beside_3d();
    test_block_judged_afresh();
    for (int kind = 0; kind < 3; kind++)
        test_typing_beside_3d(kind);
    printf("classify: text typed beside a 3D view, on a flat or graded line, stays outside its "
           "region\n");
    printf("classify: an object leaving a 3D view's busy area stays 3D; beside a video, outside "
           "its region\n");
    test_bars();
    test_split_stays_one();
    printf("classify: a video whose middle stops changing stays one region\n");
    test_flat_3d(1);
    test_flat_3d(0);
    test_slow_shading(0, 0);
    test_slow_shading(1, 0);
    test_slow_shading(0, 1);
    test_ungraded_region();
    printf("classify: slowly turning smooth shading is 3D, with a video's grain (or the rule "
           "off) video\n");
    test_text_stays_text();
    printf("classify: fast-changing text stays text\n");
    test_scrolled_photo_stays_text();
    printf("classify: a scrolled photo stays text\n");
    test_repaint_in_place(1);
    test_repaint_in_place(0);
    printf("classify: a picture repainted by its next frame is a region at once, by another "
           "photo not\n");
    test_hints();
    printf("classify: ok\n");
    return 0;
}
