/* Encoder -> bytes -> decoder through the public API: every format, odd sizes and strides,
 * host damage and full scans, several surfaces, resize, destroy, refresh, packet splitting,
 * the send/receive rules and the damage reported to the viewer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testutil.h"

static const enum vd_pixel_format formats[] = {VD_FORMAT_BGRX8888, VD_FORMAT_BGRA8888,
                                               VD_FORMAT_RGBX8888, VD_FORMAT_RGBA8888,
                                               VD_FORMAT_RGB565};

/* Feeds every packet and returns the one image they complete (checked to be exactly one). */
static vd_image decode_packets(vd_decoder *dec, const tu_packets *pl, size_t first)
{
    vd_image img = {0};
    int images = 0;
    for (size_t i = first; i < pl->count; i++) {
        int ret = vd_decoder_send_packet(dec, tu_packet_data(pl, i), pl->info[i].size);
        CHECK(ret == 0, "send_packet %zu: %s", i, vd_strerror(ret));
        while ((ret = vd_decoder_receive_image(dec, &img)) == 0) {
            images++;
            CHECK(i == pl->count - 1, "an image came out before the frame's last packet");
        }
        CHECK(ret == VD_ERR(EAGAIN), "receive_image: %s", vd_strerror(ret));
    }
    CHECK(images == 1, "%d images for one frame", images);
    return img;
}

/* Every pixel that differs between before and after must lie in a damage rectangle, and the
 * rectangles must lie inside the surface. */
static void check_damage_covers(const vd_image *img, const tu_canvas *before, const tu_canvas *after)
{
    for (size_t i = 0; i < img->n_damage; i++) {
        const vd_rect *r = &img->damage[i];
        CHECK(r->x >= 0 && r->y >= 0 && r->width > 0 && r->height > 0 &&
                  r->x + r->width <= img->width && r->y + r->height <= img->height,
              "damage rect %d,%d %dx%d outside %dx%d", r->x, r->y, r->width, r->height, img->width,
              img->height);
    }
    int bpp = after->bpp;
    for (int y = 0; y < after->height; y++)
        for (int x = 0; x < after->width; x++) {
            const uint8_t *a = before->data + (size_t)y * (size_t)before->stride + (size_t)x * (size_t)bpp;
            const uint8_t *b = after->data + (size_t)y * (size_t)after->stride + (size_t)x * (size_t)bpp;
            int changed = 0;
            for (int k = 0; k < bpp; k++)
                changed |= tu_byte_counts(after->format, k) && a[k] != b[k];
            if (!changed)
                continue;
            int covered = 0;
            for (size_t i = 0; i < img->n_damage && !covered; i++) {
                const vd_rect *r = &img->damage[i];
                covered = x >= r->x && x < r->x + r->width && y >= r->y && y < r->y + r->height;
            }
            CHECK(covered, "changed pixel %d,%d is not in the reported damage", x, y);
        }
}

static void copy_canvas(tu_canvas *dst, const tu_canvas *src)
{
    memcpy(dst->data, src->data, (size_t)src->stride * (size_t)src->height);
}

/* Many frames of one surface, alternating exact host damage and full scans. */
/* Moves the content of r by dy rows (up when dy > 0) and paints the rows that enter, as a
 * scrolling window does; damage is r. */
static size_t scroll_region(tu_rng *rng, const tu_canvas *c, vd_rect r, int dy, vd_rect *damage)
{
    size_t row = (size_t)r.width * (size_t)c->bpp;
    for (int k = 0; k < r.height - abs(dy); k++) {
        int y = dy > 0 ? r.y + k : r.y + r.height - 1 - k;
        memmove(c->data + (size_t)y * (size_t)c->stride + (size_t)r.x * (size_t)c->bpp,
                c->data + (size_t)(y + dy) * (size_t)c->stride + (size_t)r.x * (size_t)c->bpp, row);
    }
    vd_rect entered = {r.x, dy > 0 ? r.y + r.height - dy : r.y, r.width, dy > 0 ? dy : -dy};
    tu_paint_pattern(rng, c, entered, TU_TEXT);
    *damage = r;
    return 1;
}

static void test_sequence(enum vd_pixel_format format, int width, int height, int pad,
                          size_t max_packet, uint64_t seed)
{
    tu_rng rng = tu_rng_init(seed);
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.max_packet_size = max_packet;
    vd_encoder *enc;
    vd_decoder *dec;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "encoder_new");
    CHECK(vd_decoder_new(NULL, &dec) == 0, "decoder_new");
    tu_canvas c = tu_canvas_new(format, width, height, pad);
    tu_canvas before = tu_canvas_new(format, width, height, pad);
    tu_fill_desktop(&rng, &c);
    tu_packets pl = {0};
    uint64_t copied = 0;

    for (int frame = 0; frame < 12; frame++) {
        vd_rect damage[8];
        size_t n_damage = 0;
        copy_canvas(&before, &c);
        if (frame > 0 && frame % 3 == 2 && width >= 200 && height >= 200)
            n_damage = scroll_region(&rng, &c, (vd_rect){width / 8, height / 7, width * 3 / 4, height * 5 / 7},
                                     frame % 2 ? -(frame + 5) : frame + 5, damage);
        else if (frame > 0)
            n_damage = tu_scribble(&rng, &c, damage, TU_ARRAY_SIZE(damage));
        int use_damage = frame % 2;
        vd_frame f = tu_frame(&c, 7, use_damage ? damage : NULL, use_damage ? n_damage : 0);
        f.pts_us = frame * 33333;
        size_t first = pl.count;
        int ret = tu_encode_frame(enc, &f, &pl);
        CHECK(ret == 0, "format %d %dx%d frame %d: %s", format, width, height, frame, vd_strerror(ret));
        for (size_t i = first; i + 1 < pl.count; i++)
            CHECK(!(pl.info[i].flags & VD_PACKET_FRAME_END), "FRAME_END before the last packet");
        vd_image img = decode_packets(dec, &pl, first);
        long bad = tu_image_diff_canvas(&img, &c);
        CHECK(bad < 0, "format %d %dx%d stride %d frame %d: first differing pixel %ld", format, width,
              height, c.stride, frame, bad);
        CHECK(img.surface_id == 7 && img.pts_us == f.pts_us, "image metadata");
        CHECK(frame > 0 || img.flags == VD_IMAGE_NEW_SURFACE, "first image flags %u", img.flags);
        if (frame > 0)
            check_damage_covers(&img, &before, &c);
        vd_encoder_stats st;
        vd_encoder_get_stats(enc, &st);
        copied += st.tiles_copied;
    }
    /* Scrolled regions of a few tiles must go out (at least partly) as copies. */
    CHECK(width < 400 || height < 400 || copied > 0, "format %d %dx%d: no tile copied", format, width, height);
    tu_packets_free(&pl);
    tu_canvas_free(&c);
    tu_canvas_free(&before);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    CHECK(!enc && !dec, "free must clear the handle");
}

static void test_formats_and_sizes(void)
{
    static const struct {
        int w, h, pad;
    } sizes[] = {{1, 1, 0}, {63, 65, 3}, {64, 64, 0}, {67, 33, 1}, {300, 200, 60},
                 {VD_MAX_DIMENSION, 9, 0}, {5, VD_MAX_DIMENSION, 2}};
    uint64_t seed = 1;
    for (size_t f = 0; f < TU_ARRAY_SIZE(formats); f++)
        for (size_t s = 0; s < TU_ARRAY_SIZE(sizes); s++)
            test_sequence(formats[f], sizes[s].w, sizes[s].h, sizes[s].pad, 256 * 1024, seed++);
    /* Small packets: a frame spans many packets and only the last completes it. */
    test_sequence(VD_FORMAT_BGRX8888, 700, 500, 0, 4096, 99);
    printf("roundtrip: formats and sizes bit-exact\n");
}

/* Small changes over natural content (a window's edge over a photo) go as differences to
 * what the client shows (delta runs), bit-exact, with and without an X byte; the first frame,
 * which the client has nothing for, never does.  (RGB565 runs too: its quantised gradient is
 * not smooth enough to take differences.) */
static void test_delta(void)
{
    for (size_t fi = 0; fi < TU_ARRAY_SIZE(formats); fi++) {
        tu_rng rng = tu_rng_init(40 + fi);
        vd_encoder *enc;
        vd_decoder *dec;
        CHECK(vd_encoder_new(NULL, &enc) == 0 && vd_decoder_new(NULL, &dec) == 0, "new");
        tu_canvas c = tu_canvas_new(formats[fi], 320, 192, 8);
        tu_paint_pattern(&rng, &c, (vd_rect){0, 0, 320, 192}, TU_GRADIENT);
        tu_packets pl = {0};
        uint32_t delta = 0;
        for (int frame = 0; frame < 8; frame++) {
            if (frame > 0) /* a few small rectangles; each tile keeps most of its pixels */
                for (int k = 0; k < 3; k++)
                    tu_paint_pattern(&rng, &c,
                                     (vd_rect){(int)tu_rng_below(&rng, 300), (int)tu_rng_below(&rng, 172),
                                               4 + (int)tu_rng_below(&rng, 16), 4 + (int)tu_rng_below(&rng, 16)},
                                     k ? TU_FLAT : TU_NOISE);
            vd_frame f = tu_frame(&c, 1, NULL, 0);
            f.pts_us = frame * 33333;
            size_t first = pl.count;
            CHECK(tu_encode_frame(enc, &f, &pl) == 0, "encode");
            vd_image img = decode_packets(dec, &pl, first);
            long bad = tu_image_diff_canvas(&img, &c);
            CHECK(bad < 0, "format %d frame %d: first differing pixel %ld", formats[fi], frame, bad);
            vd_encoder_stats st;
            vd_encoder_get_stats(enc, &st);
            CHECK(frame > 0 || st.tiles_delta == 0, "delta run in the first frame");
            delta += st.tiles_delta;
        }
        CHECK(delta > 0 || formats[fi] == VD_FORMAT_RGB565, "format %d: no tile went as differences",
              formats[fi]);
        tu_packets_free(&pl);
        tu_canvas_free(&c);
        vd_encoder_free(&enc);
        vd_decoder_free(&dec);
    }
    printf("roundtrip: small changes over natural content go as differences, bit-exact\n");
}

/* A client error drops the frames of every surface until the refresh it asks for, here of
 * the broken surface only: the other surface's tiles it missed must not go as differences to
 * what it never got (they go whole once they change, and are exact from then on). */
static void test_delta_after_error(void)
{
    tu_rng rng = tu_rng_init(5);
    vd_encoder *enc;
    vd_decoder *dec;
    CHECK(vd_encoder_new(NULL, &enc) == 0 && vd_decoder_new(NULL, &dec) == 0, "new");
    tu_canvas c[2] = {tu_canvas_new(VD_FORMAT_BGRX8888, 256, 128, 0),
                      tu_canvas_new(VD_FORMAT_BGRX8888, 256, 128, 0)};
    tu_packets pl = {0};
    int64_t pts = 0;
    for (int frame = 0; frame < 6; frame++) {
        for (uint32_t id = 1; id <= 2; id++) {
            tu_canvas *cv = &c[id - 1];
            if (frame == 0)
                tu_paint_pattern(&rng, cv, (vd_rect){0, 0, 256, 128}, TU_GRADIENT);
            else /* a small change in tile (1, 0) over the gradient: a delta run, in time */
                tu_paint_pattern(&rng, cv, (vd_rect){70 + 6 * frame, 10 + 4 * frame, 6, 6}, TU_FLAT);
            if (frame == 3 && id == 1)
                CHECK(vd_encoder_request_refresh(enc, 1) == 0, "refresh");
            vd_frame f = tu_frame(cv, id, NULL, 0);
            f.pts_us = pts += 16667;
            size_t first = pl.count;
            CHECK(tu_encode_frame(enc, &f, &pl) == 0, "encode");
            if (frame == 2) { /* bad input: then both surfaces' frames are refused */
                static const uint8_t junk[16] = {0xff, 0xff, 0xff, 0xff, 0x20};
                int ret = id == 1 ? vd_decoder_send_packet(dec, junk, sizeof(junk)) : -1;
                CHECK(ret < 0, "junk accepted");
                for (size_t i = first; i < pl.count; i++)
                    ret = vd_decoder_send_packet(dec, tu_packet_data(&pl, i), pl.info[i].size);
                vd_image img;
                CHECK(vd_decoder_receive_image(dec, &img) == VD_ERR(EAGAIN), "a refused frame shown");
                continue;
            }
            vd_image img = decode_packets(dec, &pl, first);
            long bad = tu_image_diff_canvas(&img, cv);
            CHECK(bad < 0, "surface %u frame %d: pixel %ld differs", id, frame, bad);
        }
    }
    tu_packets_free(&pl);
    tu_canvas_free(&c[0]);
    tu_canvas_free(&c[1]);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    printf("roundtrip: after a client error, no differences to tiles it may have missed\n");
}

/* Several surfaces at once, a resize with a format change, a destroy and an id reused. */
static void test_surfaces(void)
{
    tu_rng rng = tu_rng_init(42);
    vd_encoder *enc;
    vd_decoder *dec;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    CHECK(vd_decoder_new(NULL, &dec) == 0, "decoder_new");
    tu_canvas a = tu_canvas_new(VD_FORMAT_BGRX8888, 320, 200, 0);
    tu_canvas b = tu_canvas_new(VD_FORMAT_RGB565, 130, 70, 4);
    tu_fill_desktop(&rng, &a);
    tu_fill_desktop(&rng, &b);
    tu_packets pl = {0};
    for (int round = 0; round < 4; round++) {
        vd_rect d[4];
        tu_scribble(&rng, &a, d, 4);
        tu_scribble(&rng, &b, d, 4);
        vd_frame fa = tu_frame(&a, 1, NULL, 0), fb = tu_frame(&b, 2, NULL, 0);
        size_t first = pl.count;
        CHECK(tu_encode_frame(enc, &fa, &pl) == 0, "surface 1");
        vd_image img = decode_packets(dec, &pl, first);
        CHECK(img.surface_id == 1 && tu_image_diff_canvas(&img, &a) < 0, "surface 1 round %d", round);
        first = pl.count;
        CHECK(tu_encode_frame(enc, &fb, &pl) == 0, "surface 2");
        img = decode_packets(dec, &pl, first);
        CHECK(img.surface_id == 2 && tu_image_diff_canvas(&img, &b) < 0, "surface 2 round %d", round);
    }

    /* Resize surface 1 with a format change. */
    tu_canvas_free(&a);
    a = tu_canvas_new(VD_FORMAT_RGBA8888, 257, 129, 0);
    tu_fill_desktop(&rng, &a);
    vd_frame fa = tu_frame(&a, 1, NULL, 0);
    size_t first = pl.count;
    CHECK(tu_encode_frame(enc, &fa, &pl) == 0, "resize");
    vd_image img = decode_packets(dec, &pl, first);
    CHECK(img.flags == VD_IMAGE_RESIZED && tu_image_diff_canvas(&img, &a) < 0, "resized image");
    CHECK(img.n_damage >= 1, "a resize damages the whole surface");

    /* Destroy surface 2: the viewer hears of it; the id can come back as a new surface. */
    CHECK(vd_encoder_destroy_surface(enc, 99) == VD_ERR(ENOENT), "destroy unknown");
    CHECK(vd_encoder_destroy_surface(enc, 2) == 0, "destroy");
    first = pl.count;
    tu_receive_packets(enc, &pl);
    for (size_t i = first; i < pl.count; i++)
        CHECK(vd_decoder_send_packet(dec, tu_packet_data(&pl, i), pl.info[i].size) == 0, "destroy pkt");
    CHECK(vd_decoder_receive_image(dec, &img) == 0 && img.flags == VD_IMAGE_DESTROYED &&
              img.surface_id == 2 && !img.data,
          "destroy event");
    CHECK(vd_decoder_receive_image(dec, &img) == VD_ERR(EAGAIN), "nothing else");
    vd_frame fb = tu_frame(&b, 2, NULL, 0);
    first = pl.count;
    CHECK(tu_encode_frame(enc, &fb, &pl) == 0, "reuse id");
    img = decode_packets(dec, &pl, first);
    CHECK(img.flags == VD_IMAGE_NEW_SURFACE && tu_image_diff_canvas(&img, &b) < 0, "reused id");

    tu_packets_free(&pl);
    tu_canvas_free(&a);
    tu_canvas_free(&b);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    printf("roundtrip: several surfaces, resize, destroy\n");
}

/* The send/receive rules, empty damage, refresh, under-reported damage and draining. */
static void test_rules(void)
{
    tu_rng rng = tu_rng_init(7);
    vd_encoder *enc;
    vd_decoder *dec;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    CHECK(vd_decoder_new(NULL, &dec) == 0, "decoder_new");
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRA8888, 200, 150, 0);
    tu_fill_desktop(&rng, &c);
    vd_frame f = tu_frame(&c, 3, NULL, 0);
    vd_packet pkt;
    vd_image img;

    CHECK(vd_encoder_receive_packet(enc, &pkt) == VD_ERR(EAGAIN), "nothing to receive yet");
    CHECK(vd_encoder_send_frame(enc, &f) == 0, "send");
    CHECK(vd_encoder_send_frame(enc, &f) == VD_ERR(EAGAIN), "send before receive must be EAGAIN");
    CHECK(vd_encoder_receive_packet(enc, &pkt) == 0, "receive");
    CHECK(vd_decoder_send_packet(dec, pkt.data, pkt.size) == 0, "decode");
    CHECK(vd_decoder_send_packet(dec, pkt.data, pkt.size) == VD_ERR(EAGAIN),
          "send_packet with an image waiting must be EAGAIN");
    CHECK(vd_decoder_receive_image(dec, &img) == 0 && tu_image_diff_canvas(&img, &c) < 0, "first");
    CHECK(vd_encoder_receive_packet(enc, &pkt) == VD_ERR(EAGAIN), "drained");

    /* Nothing changed: the frame is just a FRAME_END and the image has no damage. */
    tu_packets pl = {0};
    vd_rect none;
    f = tu_frame(&c, 3, &none, 0);
    CHECK(tu_encode_frame(enc, &f, &pl) == 0, "empty damage");
    vd_encoder_stats st;
    vd_encoder_get_stats(enc, &st);
    CHECK(st.tiles_damaged == 0 && st.tiles_scanned == 0, "empty damage scanned %u tiles", st.tiles_scanned);
    img = decode_packets(dec, &pl, 0);
    CHECK(img.n_damage == 0 && tu_image_diff_canvas(&img, &c) < 0, "unchanged image");

    /* Under-reported damage: the change outside the rectangles is not sent (the contract)... */
    vd_rect d[2];
    tu_canvas before = tu_canvas_new(c.format, c.width, c.height, 0);
    copy_canvas(&before, &c);
    tu_paint_rect(&rng, &c, (vd_rect){150, 100, 40, 40});
    vd_rect elsewhere = {0, 0, 10, 10};
    f = tu_frame(&c, 3, &elsewhere, 1);
    size_t first = pl.count;
    CHECK(tu_encode_frame(enc, &f, &pl) == 0, "under-reported");
    img = decode_packets(dec, &pl, first);
    CHECK(tu_image_diff_canvas(&img, &before) < 0, "pixels outside the host's damage must not be sent");
    /* ...until a refresh, which resends every tile. */
    CHECK(vd_encoder_request_refresh(enc, 12345) == VD_ERR(ENOENT), "refresh unknown");
    CHECK(vd_encoder_request_refresh(enc, 3) == 0, "refresh");
    f = tu_frame(&c, 3, d, 0);
    first = pl.count;
    CHECK(tu_encode_frame(enc, &f, &pl) == 0, "refresh frame");
    vd_encoder_get_stats(enc, &st);
    CHECK(st.tiles_damaged == st.tiles_total, "refresh sent %u of %u tiles", st.tiles_damaged, st.tiles_total);
    img = decode_packets(dec, &pl, first);
    CHECK(tu_image_diff_canvas(&img, &c) < 0 && img.flags == 0, "refreshed image, flags %u", img.flags);

    /* Draining. */
    CHECK(vd_encoder_send_frame(enc, NULL) == 0, "drain encoder");
    CHECK(vd_encoder_receive_packet(enc, &pkt) == VD_EOF, "EOF after drain");
    CHECK(vd_encoder_send_frame(enc, &f) == VD_EOF, "no frames after drain");
    CHECK(vd_decoder_send_packet(dec, NULL, 0) == 0, "drain decoder");
    CHECK(vd_decoder_receive_image(dec, &img) == VD_EOF, "decoder EOF");

    tu_packets_free(&pl);
    tu_canvas_free(&c);
    tu_canvas_free(&before);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    vd_encoder_free(&enc); /* NULL is fine */
    printf("roundtrip: send/receive rules, refresh, damage contract, drain\n");
}

/* Flow control: frames held back while the transport is full or the client has not
 * acknowledged a window's worth, and their changes sent with the next frame that goes. */
static void test_flow(void)
{
    tu_rng rng = tu_rng_init(23);
    vd_encoder *enc;
    vd_decoder *dec;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    CHECK(vd_decoder_new(NULL, &dec) == 0, "decoder_new");
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 640, 480, 0);
    tu_fill_desktop(&rng, &c);
    tu_packets pl = {0};
    vd_encoder_stats st;
    vd_rect d[8];
    vd_frame f = tu_frame(&c, 1, NULL, 0);
    CHECK(tu_encode_frame(enc, &f, &pl) == 0, "first frame");
    decode_packets(dec, &pl, 0);

    vd_encoder_feedback fb = {.flags = VD_FEEDBACK_QUEUED, .queued_bytes = 5u << 20};
    CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "queued");
    vd_encoder_feedback bad = {.flags = 1u << 7};
    CHECK(vd_encoder_send_feedback(enc, &bad) == VD_ERR(EINVAL), "unknown flag");
    bad = (vd_encoder_feedback){.flags = VD_FEEDBACK_ACK, .acked_frame_seq = 99};
    CHECK(vd_encoder_send_feedback(enc, &bad) == VD_ERR(EINVAL), "ack of a frame not sent");
    /* A full transport: frames with exact damage are held back, their damage kept. */
    for (int k = 0; k < 3; k++) {
        size_t n = tu_scribble(&rng, &c, d, 4);
        f = tu_frame(&c, 1, d, n);
        CHECK(vd_encoder_send_frame(enc, &f) == 0, "held frame");
        vd_packet pkt;
        CHECK(vd_encoder_receive_packet(enc, &pkt) == VD_ERR(EAGAIN), "a held frame sent a packet");
        vd_encoder_get_stats(enc, &st);
        CHECK(st.held_back == 1 && st.bytes == 0, "not held back");
    }
    /* It drained: the next frame, with only its own damage, carries all of it. */
    fb.queued_bytes = 0;
    CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "queued");
    size_t n = tu_scribble(&rng, &c, d, 2);
    f = tu_frame(&c, 1, d, n);
    tu_packets_free(&pl);
    CHECK(tu_encode_frame(enc, &f, &pl) == 0, "frame after the backlog");
    vd_encoder_get_stats(enc, &st);
    CHECK(!st.held_back, "still held");
    vd_image img = decode_packets(dec, &pl, 0);
    CHECK(tu_image_diff_canvas(&img, &c) < 0, "the held frames' changes were lost");

    /* A known link rate bounds the queue in time: 300 KB is 0.6 s at 4 Mbit/s (a frame is
     * held), 0.24 s at 10 Mbit/s and well under 1 MiB with the rate unknown (it goes). */
    static const struct {
        uint32_t link;
        uint32_t held;
    } links[] = {{4000000, 1}, {10000000, 0}, {0, 0}};
    for (size_t k = 0; k < sizeof(links) / sizeof(links[0]); k++) {
        fb = (vd_encoder_feedback){.flags = VD_FEEDBACK_QUEUED | VD_FEEDBACK_LINK,
                                   .queued_bytes = 300000, .link_bitrate = links[k].link};
        CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "queued, link");
        n = tu_scribble(&rng, &c, d, 2);
        f = tu_frame(&c, 1, d, n);
        tu_packets_free(&pl);
        CHECK(vd_encoder_send_frame(enc, &f) == 0, "frame");
        tu_receive_packets(enc, &pl);
        vd_encoder_get_stats(enc, &st);
        CHECK(st.held_back == links[k].held, "300 KB queued on a %u bit/s link: held %u",
              links[k].link, st.held_back);
        if (!st.held_back)
            img = decode_packets(dec, &pl, 0);
    }
    fb = (vd_encoder_feedback){.flags = VD_FEEDBACK_QUEUED, .queued_bytes = 0};
    CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "queued");

    /* ACKs: once they arrive, at most a window of frames goes unacknowledged. */
    fb = (vd_encoder_feedback){.flags = VD_FEEDBACK_ACK, .acked_frame_seq = img.frame_seq};
    CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "ack");
    int sent = 0, held = 0;
    for (int k = 0; k < 12; k++) {
        n = tu_scribble(&rng, &c, d, 3);
        f = tu_frame(&c, 1, d, n);
        tu_packets_free(&pl);
        CHECK(vd_encoder_send_frame(enc, &f) == 0, "frame");
        tu_receive_packets(enc, &pl);
        vd_encoder_get_stats(enc, &st);
        CHECK(st.window >= 2 && (st.held_back ? st.frames_unacked >= st.window
                                              : st.frames_unacked <= st.window),
              "held %u with %u frames unacked, window %u", st.held_back, st.frames_unacked, st.window);
        if (st.held_back) {
            held++;
            CHECK(pl.count == 0, "a held frame sent packets");
        } else {
            sent++;
            img = decode_packets(dec, &pl, 0); /* decoded, but not acknowledged */
        }
    }
    CHECK(sent >= 2 && held >= 1, "no ACKs for 12 frames: %d sent, %d held", sent, held);
    /* The client catches up: the next frame goes, with everything held meanwhile. */
    fb.acked_frame_seq = img.frame_seq;
    CHECK(vd_encoder_send_feedback(enc, &fb) == 0, "ack");
    f = tu_frame(&c, 1, d, 0);
    tu_packets_free(&pl);
    CHECK(tu_encode_frame(enc, &f, &pl) == 0, "frame after the ack");
    img = decode_packets(dec, &pl, 0);
    CHECK(tu_image_diff_canvas(&img, &c) < 0, "changes held for the ACK were lost");

    tu_packets_free(&pl);
    tu_canvas_free(&c);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    printf("roundtrip: flow control holds frames back and sends their changes later\n");
}

static int log_lines;
static void count_log(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque;
    CHECK(level <= VD_LOG_WARNING && msg && *msg, "log line");
    log_lines++;
}

static void test_misc(void)
{
    CHECK(vd_version() == VD_VERSION, "runtime version %x vs header %x", vd_version(), VD_VERSION);
    CHECK(!strcmp(vd_version_string(), VD_VERSION_STRING), "version string");
    CHECK(!strcmp(vd_strerror(VD_ERR(EINVAL)), "Invalid argument"), "strerror EINVAL");
    CHECK(strlen(vd_strerror(VD_EOF)) > 0 && strlen(vd_strerror(-123456)) > 0, "strerror");
    CHECK(vd_format_bytes_per_pixel(VD_FORMAT_RGB565) == 2 &&
              vd_format_bytes_per_pixel((enum vd_pixel_format)77) == 0,
          "bytes per pixel");

    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.max_packet_size = 10;
    vd_encoder *enc = (vd_encoder *)&cfg;
    CHECK(vd_encoder_new(&cfg, &enc) == VD_ERR(EINVAL) && !enc, "bad config refused");

    /* A refused frame logs through the callback. */
    vd_log_set_callback(count_log, NULL);
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    uint8_t px[4] = {0};
    vd_frame bad = {.surface_id = 1, .format = VD_FORMAT_BGRX8888, .width = 1, .height = 1, .stride = 2, .data = px};
    CHECK(vd_encoder_send_frame(enc, &bad) == VD_ERR(EINVAL), "bad stride");
    CHECK(log_lines == 1, "%d log lines", log_lines);
    vd_log_set_level(VD_LOG_ERROR);
    CHECK(vd_encoder_send_frame(enc, &bad) == VD_ERR(EINVAL), "bad stride");
    CHECK(log_lines == 1, "warning below the level was logged");
    vd_log_set_level(VD_LOG_WARNING);
    vd_log_set_callback(NULL, NULL);
    vd_encoder_free(&enc);
    printf("roundtrip: version, errors, config, logging\n");
}

int main(void)
{
    test_misc();
    test_formats_and_sizes();
    test_delta();
    test_delta_after_error();
    test_surfaces();
    test_rules();
    test_flow();
    printf("roundtrip: ok\n");
    return 0;
}
