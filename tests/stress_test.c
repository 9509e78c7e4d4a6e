/* Random sessions against one invariant: after every frame the client shows, its image equals
 * the source on every tile the encoder does not report lossy.  Two surfaces of one random
 * format take small changes over natural content (delta runs), moved blocks (copies), a
 * changing natural area (video streams, build-to-lossless), resizes with format changes, a
 * cursor, host damage rectangles or full scans, refresh requests, flow control holding frames
 * back, and dropped connections resumed after half a frame.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testutil.h"

#define RUNS 12
#define STEPS 150
#define MAX_DAMAGE 64

static const enum vd_pixel_format formats[] = {VD_FORMAT_BGRX8888, VD_FORMAT_BGRA8888,
                                               VD_FORMAT_RGBX8888, VD_FORMAT_RGBA8888,
                                               VD_FORMAT_RGB565};

typedef struct surface {
    tu_canvas c;
    vd_rect video;
} surface;

/* The host's damage for the frame; all of it (NULL) once it overflows or is not used. */
typedef struct damage {
    vd_rect r[MAX_DAMAGE];
    size_t n;
    int all;
} damage;

static void damage_add(damage *d, vd_rect q)
{
    if (d->n < MAX_DAMAGE)
        d->r[d->n++] = q;
    else
        d->all = 1;
}

/* First pixel (y * width + x) of a non-lossy tile that differs from the source, or -1. */
static long first_wrong(vd_encoder *enc, uint32_t id, const vd_image *img, const tu_canvas *c)
{
    uint8_t lossy[128 * 128];
    int n = vd_encoder_get_lossy_tiles(enc, id, lossy, sizeof(lossy));
    CHECK(n > 0, "get_lossy_tiles: %d", n);
    if (img->width != c->width || img->height != c->height || img->format != c->format)
        return 0;
    int cols = (c->width + 63) / 64;
    size_t colour = tu_byte_counts(c->format, 3) ? (size_t)c->bpp : 3; /* X bytes aside */
    for (int y = 0; y < c->height; y++)
        for (int x = 0; x < c->width; x++) {
            const uint8_t *a = img->data + (size_t)y * (size_t)img->stride + (size_t)x * (size_t)c->bpp;
            const uint8_t *b = c->data + (size_t)y * (size_t)c->stride + (size_t)x * (size_t)c->bpp;
            if (!lossy[(y / 64) * cols + x / 64] && memcmp(a, b, colour))
                return (long)y * c->width + x;
        }
    return -1;
}

static void small_changes(tu_rng *r, tu_canvas *c, damage *d)
{
    for (int i = 1 + (int)tu_rng_below(r, 4); i > 0; i--) {
        vd_rect q = {(int)tu_rng_below(r, (uint32_t)c->width), (int)tu_rng_below(r, (uint32_t)c->height),
                     2 + (int)tu_rng_below(r, 20), 2 + (int)tu_rng_below(r, 20)};
        tu_paint_pattern(r, c, q, (enum tu_pattern)tu_rng_below(r, 4));
        damage_add(d, q);
    }
}

/* A block moved down and right by a few pixels, as a dragged window. */
static void move_block(tu_rng *r, tu_canvas *c, damage *d)
{
    int w = 100 + (int)tu_rng_below(r, 100), h = 60 + (int)tu_rng_below(r, 80);
    if (w > c->width - 20 || h > c->height - 20)
        return;
    int x = (int)tu_rng_below(r, (uint32_t)(c->width - w - 10));
    int y = (int)tu_rng_below(r, (uint32_t)(c->height - h - 10));
    int dx = (int)tu_rng_below(r, 9), dy = (int)tu_rng_below(r, 9);
    damage_add(d, (vd_rect){x, y, w + dx, h + dy});
    for (int k = h - 1; k >= 0; k--)
        memmove(c->data + (size_t)(y + dy + k) * (size_t)c->stride + (size_t)(x + dx) * (size_t)c->bpp,
                c->data + (size_t)(y + k) * (size_t)c->stride + (size_t)x * (size_t)c->bpp,
                (size_t)w * (size_t)c->bpp);
}

/* A noisy moving gradient: natural content that becomes a video region. */
static void paint_video(tu_rng *r, tu_canvas *c, vd_rect q, int frame, damage *d)
{
    for (int y = q.y; y < q.y + q.height && y < c->height; y++)
        for (int x = q.x; x < q.x + q.width && x < c->width; x++) {
            int g = (x + y + frame * 3) & 0xff;
            uint32_t v = (uint32_t)((g + (int)tu_rng_below(r, 5)) & 0xff) |
                         (uint32_t)((g / 2 + (int)tu_rng_below(r, 5)) & 0xff) << 8 |
                         (uint32_t)((255 - g + (int)tu_rng_below(r, 5)) & 0xff) << 16 | 0xff000000u;
            tu_put_pixel(c, x, y, v);
        }
    damage_add(d, q);
}

/* Feeds packets [first, last) and keeps each surface's newest image; returns the first error. */
static int feed(vd_decoder *dec, const tu_packets *pl, size_t first, size_t last, vd_image *imgs,
                int *got)
{
    int err = 0;
    for (size_t i = first; i < last; i++) {
        int ret = vd_decoder_send_packet(dec, tu_packet_data(pl, i), pl->info[i].size);
        if (ret < 0 && !err)
            err = ret;
        vd_image im;
        while (vd_decoder_receive_image(dec, &im) == 0)
            if (im.surface_id >= 1 && im.surface_id <= 2 && !(im.flags & VD_IMAGE_DESTROYED)) {
                imgs[im.surface_id] = im;
                got[im.surface_id] = 1;
            }
    }
    return err;
}

static void set_queued(vd_encoder *enc, uint64_t bytes)
{
    vd_encoder_feedback fb = {.flags = VD_FEEDBACK_QUEUED, .queued_bytes = bytes};
    CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "feedback");
}

static void run(uint64_t seed, int use_damage, long *checks, long *delta_tiles)
{
    tu_rng r = tu_rng_init(seed);
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.max_packet_size = 4096; /* frames span packets, so a drop can cut one */
    vd_encoder *enc;
    vd_decoder *dec;
    CHECK(vd_encoder_new(&cfg, &enc) == 0 && vd_decoder_new(NULL, &dec) == 0, "new");
    surface sf[3];
    enum vd_pixel_format format = formats[tu_rng_below(&r, TU_ARRAY_SIZE(formats))];
    for (int s = 1; s <= 2; s++) {
        sf[s].c = tu_canvas_new(format, 320 + 64 * (int)tu_rng_below(&r, 4) + 17 * (int)tu_rng_below(&r, 2),
                                256 + 9 * (int)tu_rng_below(&r, 2), 8);
        tu_paint_pattern(&r, &sf[s].c, (vd_rect){0, 0, sf[s].c.width, sf[s].c.height}, TU_GRADIENT);
        sf[s].video = (vd_rect){40 + (int)tu_rng_below(&r, 40), 30 + (int)tu_rng_below(&r, 40), 150, 120};
    }
    tu_packets pl = {0};
    int64_t pts = 0;
    int holding = 0, pending[3] = {0};
    vd_image imgs[3];
    for (int step = 0; step < STEPS; step++) {
        int s = tu_rng_below(&r, 5) ? 1 : 2;
        tu_canvas *c = &sf[s].c;
        damage d = {.all = !use_damage};
        uint32_t op = tu_rng_below(&r, 100);
        if (op < 40) {
            small_changes(&r, c, &d);
        } else if (op < 55) {
            move_block(&r, c, &d);
        } else if (op < 58) { /* a resize, maybe to another format */
            enum vd_pixel_format nf = tu_rng_below(&r, 2) ? formats[tu_rng_below(&r, TU_ARRAY_SIZE(formats))] : c->format;
            int w = c->width + 32 * (int)tu_rng_below(&r, 3) - 32;
            tu_canvas n = tu_canvas_new(nf, w > 128 ? w : 200, c->height, 8);
            tu_paint_pattern(&r, &n, (vd_rect){0, 0, n.width, n.height}, TU_GRADIENT);
            tu_canvas_free(c);
            *c = n;
            d.all = 1;
        }
        if (step % 60 < 45)
            paint_video(&r, c, sf[s].video, step, &d);
        vd_frame f = tu_frame(c, (uint32_t)s, d.all ? NULL : d.r, d.all ? 0 : d.n);
        f.pts_us = pts += 33333;
        if (!tu_rng_below(&r, 6))
            f.cursor = (vd_rect){(int)tu_rng_below(&r, 200), (int)tu_rng_below(&r, 200), 16, 16};
        uint32_t ctl = tu_rng_below(&r, 100);
        int ret;
        if (ctl < 3) { /* ENOENT: that surface has not had a frame yet */
            ret = vd_encoder_request_refresh(enc, tu_rng_below(&r, 2) ? VD_ALL_SURFACES : (uint32_t)s);
            CHECK(ret == 0 || ret == VD_ERR(ENOENT), "refresh: %s", vd_strerror(ret));
        }
        if (ctl >= 3 && ctl < 8 && !holding) { /* the link falls behind for a few frames */
            set_queued(enc, (uint64_t)1 << 40);
            holding = 1 + (int)tu_rng_below(&r, 4);
        }
        if (holding && --holding == 0)
            set_queued(enc, 0);
        int drop = ctl >= 8 && ctl < 12;
        size_t first = pl.count;
        /* Not tu_encode_frame(): a frame held back sends nothing. */
        ret = vd_encoder_send_frame(enc, &f);
        CHECK(ret == 0, "seed %llu step %d: encode: %s", (unsigned long long)seed, step, vd_strerror(ret));
        tu_receive_packets(enc, &pl);
        vd_encoder_stats st;
        vd_encoder_get_stats(enc, &st);
        *delta_tiles += st.tiles_delta;
        int got[3] = {0};
        if (!drop) {
            int err = feed(dec, &pl, first, pl.count, imgs, got);
            CHECK(err == 0, "seed %llu step %d: decode: %s", (unsigned long long)seed, step, vd_strerror(err));
        } else { /* the connection drops half way through the frame; the client resumes */
            (void)feed(dec, &pl, first, first + (pl.count - first) / 2, imgs, got);
            vd_resume_state rs;
            CHECK(vd_decoder_get_resume_state(dec, &rs) == 0, "resume state");
            vd_image im;
            while (vd_decoder_receive_image(dec, &im) == 0)
                ;
            if (holding) {
                set_queued(enc, 0);
                holding = 0;
            }
            CHECK(vd_encoder_resume(enc, &rs) == 0, "resume");
            tu_packets_clear(&pl);
            tu_receive_packets(enc, &pl);
            memset(got, 0, sizeof(got));
            int err = feed(dec, &pl, 0, pl.count, imgs, got);
            CHECK(err == 0, "seed %llu step %d: resume: %s", (unsigned long long)seed, step, vd_strerror(err));
        }
        /* A surface whose frames are held back shows an older image until one goes out. */
        if (st.held_back)
            pending[s] = 1;
        else if (!drop)
            pending[s] = 0;
        for (int k = 1; k <= 2; k++) {
            if (!got[k] || (drop && pending[k]))
                continue;
            long bad = first_wrong(enc, (uint32_t)k, &imgs[k], &sf[k].c);
            CHECK(bad < 0, "seed %llu step %d surface %d (format %d, op %u, ctl %u): pixel %ld wrong",
                  (unsigned long long)seed, step, k, sf[k].c.format, op, ctl, bad);
            (*checks)++;
        }
        if (pl.count > 64)
            tu_packets_clear(&pl);
    }
    tu_packets_free(&pl);
    for (int s = 1; s <= 2; s++)
        tu_canvas_free(&sf[s].c);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
}

int main(void)
{
    long checks = 0, delta_tiles = 0;
    for (int i = 0; i < RUNS; i++)
        run(8000 + (uint64_t)i, i % 3 != 2, &checks, &delta_tiles);
    CHECK(delta_tiles > 0, "no delta runs");
    printf("stress: %d random sessions, %ld images exact outside lossy tiles, %ld delta tiles\n",
           RUNS, checks, delta_tiles);
    return 0;
}
