/* Resuming after a dropped connection: the decoder says where it stands, the encoder sends
 * only what changed since, and the client's image ends bit-exact.  Codec level here (packets
 * cut and lost by hand); transport_test drops a real TCP connection.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testutil.h"

#define MAX_IDS 8

/* The viewer: a decoder and the last image of each surface (ids below MAX_IDS). */
typedef struct client {
    vd_decoder *dec;
    tu_canvas img[MAX_IDS];
    int has[MAX_IDS];
    int tiles_updated[MAX_IDS]; /* tiles inside the damage of the images since reset_counts */
    int destroyed[MAX_IDS];
} client;

static void client_take_images(client *cl)
{
    vd_image img;
    int ret;
    while ((ret = vd_decoder_receive_image(cl->dec, &img)) == 0) {
        CHECK(img.surface_id < MAX_IDS, "surface id %u", img.surface_id);
        uint32_t id = img.surface_id;
        if (img.flags & VD_IMAGE_DESTROYED) {
            if (cl->has[id])
                tu_canvas_free(&cl->img[id]);
            cl->has[id] = 0;
            cl->destroyed[id]++;
            continue;
        }
        if (!cl->has[id] || cl->img[id].width != img.width || cl->img[id].height != img.height ||
            cl->img[id].format != img.format) {
            if (cl->has[id])
                tu_canvas_free(&cl->img[id]);
            cl->img[id] = tu_canvas_new(img.format, img.width, img.height, 0);
            cl->has[id] = 1;
        }
        for (int y = 0; y < img.height; y++)
            memcpy(cl->img[id].data + (size_t)y * (size_t)cl->img[id].stride,
                   img.data + (size_t)y * (size_t)img.stride, (size_t)img.width * (size_t)cl->img[id].bpp);
        for (size_t i = 0; i < img.n_damage; i++)
            cl->tiles_updated[id] += ((img.damage[i].width + 63) / 64) * ((img.damage[i].height + 63) / 64);
    }
    CHECK(ret == VD_ERR(EAGAIN), "receive_image: %s", vd_strerror(ret));
}

static void client_feed(client *cl, const uint8_t *data, size_t size)
{
    int ret = vd_decoder_send_packet(cl->dec, data, size);
    CHECK(ret == 0, "send_packet: %s", vd_strerror(ret));
    client_take_images(cl);
}

static void client_exact(const client *cl, uint32_t id, const tu_canvas *c, const char *what)
{
    CHECK(cl->has[id], "%s: the client has no surface %u", what, id);
    long bad = tu_canvas_diff(&cl->img[id], c);
    CHECK(bad < 0, "%s: surface %u differs at pixel %ld", what, id, bad);
}

static void client_free(client *cl)
{
    for (int i = 0; i < MAX_IDS; i++)
        if (cl->has[i])
            tu_canvas_free(&cl->img[i]);
    vd_decoder_free(&cl->dec);
}

/* Encodes a frame and returns its packets in pl (cleared first). */
static void encode(vd_encoder *enc, const tu_canvas *c, uint32_t id, const vd_rect *damage,
                   size_t n_damage, int64_t pts, tu_packets *pl)
{
    tu_packets_free(pl);
    vd_frame f = tu_frame(c, id, damage, n_damage);
    f.pts_us = pts;
    int ret = tu_encode_frame(enc, &f, pl);
    CHECK(ret == 0, "encode surface %u: %s", id, vd_strerror(ret));
}

static void deliver(client *cl, const tu_packets *pl, size_t count)
{
    for (size_t i = 0; i < count && i < pl->count; i++)
        client_feed(cl, tu_packet_data(pl, i), pl->info[i].size);
}

/* Changes random rectangles of c (new content: no tile comes back to what it was). */
static size_t change(tu_rng *rng, const tu_canvas *c, vd_rect *damage, size_t n)
{
    return tu_scribble(rng, c, damage, n);
}

enum {
    CUT_MID_FRAME = 1,      /* the drop cuts a frame after its first packet */
    LOSE_SURFACES = 2,      /* a destroy and a create are lost too */
    BREAK_DECODER = 4,      /* bad input reached the client before the drop */
};

static void test_resume(int flags, uint64_t seed)
{
    tu_rng rng = tu_rng_init(seed);
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    cfg.max_packet_size = 4096; /* frames span packets, so a drop can cut one */
    vd_encoder *enc;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "encoder_new");
    client cl = {0};
    CHECK(vd_decoder_new(NULL, &cl.dec) == 0, "decoder_new");
    tu_canvas a = tu_canvas_new(VD_FORMAT_BGRX8888, 1600, 900, 12);
    tu_canvas b = tu_canvas_new(VD_FORMAT_RGB565, 300, 200, 0);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRA8888, 200, 130, 0);
    tu_canvas at_drop = tu_canvas_new(a.format, a.width, a.height, 0);
    tu_fill_desktop(&rng, &a);
    tu_fill_desktop(&rng, &b);
    tu_fill_desktop(&rng, &c);
    tu_packets pl = {0};
    int64_t pts = 0;
    vd_rect d[8];

    /* A session: changes and scrolls, every packet delivered. */
    for (int frame = 0; frame < 8; frame++) {
        size_t n = frame ? change(&rng, &a, d, 6) : 0;
        encode(enc, &a, 1, frame ? d : NULL, n, pts += 33333, &pl);
        deliver(&cl, &pl, pl.count);
        n = frame ? change(&rng, &b, d, 3) : 0;
        encode(enc, &b, 2, frame ? d : NULL, n, pts, &pl);
        deliver(&cl, &pl, pl.count);
    }
    client_exact(&cl, 1, &a, "before the drop");
    client_exact(&cl, 2, &b, "before the drop");

    if (flags & BREAK_DECODER) {
        /* A truncated packet (a transport that lost data, a bug): the decoder drops that frame,
         * and nobody asks for a refresh before the connection goes. */
        change(&rng, &a, d, 4);
        encode(enc, &a, 1, NULL, 0, pts += 33333, &pl);
        int ret = vd_decoder_send_packet(cl.dec, tu_packet_data(&pl, 0), pl.info[0].size / 2);
        CHECK(ret == VD_ERR(EBADMSG), "a truncated packet: %s", vd_strerror(ret));
        client_take_images(&cl);
    }

    /* The drop: maybe half a frame arrives, then nothing of the next frames. */
    change(&rng, &a, d, 6);
    tu_paint_pattern(&rng, &a, (vd_rect){100, 100, 300, 200}, TU_TEXT);
    encode(enc, &a, 1, NULL, 0, pts += 33333, &pl);
    if (flags & CUT_MID_FRAME) {
        CHECK(pl.count >= 2, "the cut frame has %zu packets", pl.count);
        deliver(&cl, &pl, pl.count / 2);
    }
    for (int frame = 0; frame < 4; frame++) {
        size_t n = change(&rng, &a, d, 6);
        encode(enc, &a, 1, d, n, pts += 33333, &pl);
        if (!(flags & LOSE_SURFACES) || frame < 2) {
            n = change(&rng, &b, d, 3);
            encode(enc, &b, 2, d, n, pts, &pl);
        }
    }
    if (flags & LOSE_SURFACES) {
        CHECK(vd_encoder_destroy_surface(enc, 2) == 0, "destroy");
        tu_receive_packets(enc, &pl);
        encode(enc, &c, 3, NULL, 0, pts, &pl);
    }

    /* The client reconnects and says where it stands. */
    vd_resume_state state;
    CHECK(vd_decoder_get_resume_state(cl.dec, &state) == 0, "resume state");
    client_take_images(&cl);
    if (flags & BREAK_DECODER) {
        CHECK(state.frame_seq == 0 && cl.destroyed[1] == 1 && cl.destroyed[2] == 1,
              "after bad input: frame %llu, destroyed %d %d", (unsigned long long)state.frame_seq,
              cl.destroyed[1], cl.destroyed[2]);
    } else {
        CHECK(state.frame_seq == 16, "the client completed frame %llu, not 16",
              (unsigned long long)state.frame_seq);
        CHECK(state.n_surfaces == 2, "%u surfaces", state.n_surfaces);
        memcpy(at_drop.data, cl.img[1].data, (size_t)at_drop.stride * (size_t)at_drop.height);
    }
    memset(cl.tiles_updated, 0, sizeof(cl.tiles_updated));

    tu_packets_free(&pl);
    CHECK(vd_encoder_resume(enc, &state) == 0, "resume");
    tu_receive_packets(enc, &pl);
    size_t resume_bytes = 0; /* of surface 1 */
    for (size_t i = 0; i < pl.count; i++)
        resume_bytes += pl.info[i].surface_id == 1 ? pl.info[i].size : 0;
    deliver(&cl, &pl, pl.count);
    client_exact(&cl, 1, &a, "after the resume");
    if (flags & LOSE_SURFACES) {
        CHECK(!cl.has[2] && cl.destroyed[2] == 1, "the lost destroy is made up for");
        client_exact(&cl, 3, &c, "the lost create");
    } else {
        client_exact(&cl, 2, &b, "after the resume");
    }

    if (!(flags & BREAK_DECODER)) {
        /* Only the changed tiles went again, and they cost what coding just them costs. */
        int changed = tu_tiles_differing(&at_drop, &a);
        CHECK(cl.tiles_updated[1] == changed, "surface 1: %d tiles resent, %d changed",
              cl.tiles_updated[1], changed);
        size_t best = tu_resend_bytes(&at_drop, &a);
        size_t full = tu_resend_bytes(&c, &a); /* another image entirely: the whole surface */
        printf("resume (flags %d): %zu bytes for %d changed tiles of surface 1; sending them "
               "again whole: %zu; a full refresh: about %zu\n",
               flags, resume_bytes, changed, best, full);
        if (!(flags & LOSE_SURFACES))
            CHECK(resume_bytes <= best + best / 10 + 2048,
                  "resume sent %zu bytes, sending those tiles again whole costs %zu", resume_bytes, best);
        CHECK(resume_bytes < full / 2, "resume %zu bytes against a full refresh of %zu", resume_bytes, full);
    }

    /* The session goes on from there: history and cache agree on both sides. */
    for (int frame = 0; frame < 6; frame++) {
        size_t n = change(&rng, &a, d, 6);
        encode(enc, &a, 1, d, n, pts += 33333, &pl);
        deliver(&cl, &pl, pl.count);
        client_exact(&cl, 1, &a, "after the resume, going on");
    }
    /* Content seen before the drop comes back from the cache. */
    for (int y = 0; y < a.height; y++)
        memcpy(a.data + (size_t)y * (size_t)a.stride, at_drop.data + (size_t)y * (size_t)at_drop.stride,
               (size_t)a.width * (size_t)a.bpp);
    encode(enc, &a, 1, NULL, 0, pts += 33333, &pl);
    vd_encoder_stats st;
    vd_encoder_get_stats(enc, &st);
    /* Those tiles were last sent before the drop: only a cache that survived the resume
     * has them (unless the decoder broke: then everything started afresh). */
    CHECK((flags & BREAK_DECODER) || st.tiles_cached > 0, "%u of %u tiles of old content from the cache",
          st.tiles_cached, st.tiles_damaged);
    deliver(&cl, &pl, pl.count);
    client_exact(&cl, 1, &a, "old content again");

    tu_packets_free(&pl);
    client_free(&cl);
    vd_encoder_free(&enc);
    tu_canvas_free(&a);
    tu_canvas_free(&b);
    tu_canvas_free(&c);
    tu_canvas_free(&at_drop);
}

/* A state from elsewhere (a frame this encoder never sent) or none: everything again. */
static void test_resume_from_nothing(void)
{
    tu_rng rng = tu_rng_init(99);
    vd_encoder *enc;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    tu_canvas a = tu_canvas_new(VD_FORMAT_BGRX8888, 333, 222, 0);
    tu_fill_desktop(&rng, &a);
    tu_packets pl = {0};
    encode(enc, &a, 5, NULL, 0, 1, &pl);
    for (int k = 0; k < 3; k++) {
        client cl = {0};
        CHECK(vd_decoder_new(NULL, &cl.dec) == 0, "decoder_new");
        vd_resume_state state = {0};
        if (k == 1)
            state.frame_seq = 1000; /* never sent */
        if (k == 2) {               /* a client that shows surfaces this encoder does not have */
            state.n_surfaces = 1;
            state.surface_ids[0] = 6;
        }
        tu_packets_free(&pl);
        CHECK(vd_encoder_resume(enc, &state) == 0, "resume %d", k);
        tu_receive_packets(enc, &pl);
        if (k == 2) { /* the decoder must know surface 6 to accept its destroy */
            vd_encoder *other;
            CHECK(vd_encoder_new(NULL, &other) == 0, "encoder_new");
            tu_packets op = {0};
            encode(other, &a, 6, NULL, 0, 1, &op);
            deliver(&cl, &op, op.count);
            tu_packets_free(&op);
            vd_encoder_free(&other);
        }
        deliver(&cl, &pl, pl.count);
        client_exact(&cl, 5, &a, "resume from nothing");
        CHECK(k != 2 || (!cl.has[6] && cl.destroyed[6] == 1), "surface 6 must go");
        client_free(&cl);
    }
    vd_resume_state bad = {.n_surfaces = VD_MAX_SURFACES + 1};
    CHECK(vd_encoder_resume(enc, &bad) == VD_ERR(EINVAL), "too many surfaces");
    tu_packets_free(&pl);
    tu_canvas_free(&a);
    vd_encoder_free(&enc);
}

/* A video region streams when the connection drops: its stream restarts with a key frame and
 * build-to-lossless still makes the image exact. */
static void test_resume_video(void)
{
    tu_rng rng = tu_rng_init(5);
    vd_encoder *enc;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "encoder_new");
    client cl = {0};
    CHECK(vd_decoder_new(NULL, &cl.dec) == 0, "decoder_new");
    tu_canvas a = tu_canvas_new(VD_FORMAT_BGRX8888, 640, 480, 0);
    tu_fill_desktop(&rng, &a);
    tu_packets pl = {0};
    vd_rect video = {128, 128, 256, 192};
    vd_hint hint = {video, VD_CONTENT_VIDEO};
    int64_t pts = 0;
    for (int frame = 0; frame < 24; frame++) {
        if (frame < 20)
            tu_paint_pattern(&rng, &a, video, TU_GRADIENT);
        vd_frame f = tu_frame(&a, 1, &video, 1);
        f.hints = frame < 20 ? &hint : NULL;
        f.n_hints = frame < 20;
        f.pts_us = pts += 33333;
        tu_packets_free(&pl);
        CHECK(tu_encode_frame(enc, &f, &pl) == 0, "video frame %d", frame);
        if (frame < 12)
            deliver(&cl, &pl, pl.count);
        vd_encoder_stats st;
        vd_encoder_get_stats(enc, &st);
        CHECK(frame < 3 || frame >= 20 || st.tiles_streamed > 0, "frame %d is not streamed", frame);
    }
    vd_resume_state state;
    CHECK(vd_decoder_get_resume_state(cl.dec, &state) == 0 && state.frame_seq == 12, "state %llu",
          (unsigned long long)state.frame_seq);
    tu_packets_free(&pl);
    CHECK(vd_encoder_resume(enc, &state) == 0, "resume");
    vd_encoder_stats st;
    vd_encoder_get_stats(enc, &st);
    CHECK(st.tiles_streamed > 0, "the missed video tiles go through a new stream");
    tu_receive_packets(enc, &pl);
    deliver(&cl, &pl, pl.count);
    CHECK(vd_decoder_get_key_requests(cl.dec, (uint32_t[4]){0}, 4) == 0, "no stream broke");
    /* Still frames until every lossy tile was sent again. */
    uint8_t lossy[128];
    int n;
    for (int frame = 0; frame < 40; frame++) {
        vd_rect none;
        vd_frame f = tu_frame(&a, 1, &none, 0);
        f.pts_us = pts += 33333;
        tu_packets_free(&pl);
        CHECK(tu_encode_frame(enc, &f, &pl) == 0, "still frame");
        deliver(&cl, &pl, pl.count);
        n = vd_encoder_get_lossy_tiles(enc, 1, lossy, sizeof(lossy));
        CHECK(n > 0, "lossy map");
        int any = 0;
        for (int i = 0; i < n; i++)
            any |= lossy[i];
        if (!any)
            break;
    }
    client_exact(&cl, 1, &a, "video resumed, then built to lossless");
    tu_packets_free(&pl);
    client_free(&cl);
    tu_canvas_free(&a);
    vd_encoder_free(&enc);
}

int main(void)
{
    test_resume(0, 1);
    test_resume(CUT_MID_FRAME, 2);
    test_resume(CUT_MID_FRAME | LOSE_SURFACES, 3);
    test_resume(BREAK_DECODER | CUT_MID_FRAME, 4);
    printf("resume: drops between frames and inside one, lost surfaces, a broken decoder\n");
    test_resume_from_nothing();
    printf("resume: from nothing, from another encoder's state\n");
    test_resume_video();
    printf("resume: a video stream restarts, then builds to lossless\n");
    return 0;
}
