/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bad input, through the public API only.
 *
 * (a) The encoder refuses invalid frames with VD_ERR(EINVAL), emits nothing for them, and the
 *     next good frame still round-trips bit-exactly.
 * (b) A real multi-surface stream (frames split over several packets, a resize, a destroy) is
 *     corrupted one packet at a time in many ways.  For each corruption the decoder must
 *     return 0, VD_ERR(EBADMSG) or VD_ERR(ENOTSUP) and never crash; after an error it must
 *     show nothing of the broken frame (probed with no-change frames, which make it hand out
 *     what it shows: that must be the last good image, bit-exact); and once the encoder is
 *     asked for a refresh, the next frame of every surface must come out bit-exact.
 *
 * The corruptions aim at wire format v1 (docs/protocol.md), so its layout is restated below;
 * the test deliberately does not include the library's private lib/wire.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- wire format v1, as documented ------------------------------------------------------ */

#define HDR 8             /* u8 type, u8 flags, u16 reserved = 0, u32 LE body length */
#define MSG_HELLO 0x01    /* u32 magic "VWD1", u16 version = 1, u16 reserved */
#define MSG_CREATE 0x10   /* u32 id, u32 width, u32 height, u8 format, u8 tile log2, u16 0 */
#define MSG_RESIZE 0x11
#define MSG_DESTROY 0x12  /* u32 id */
#define MSG_TILE 0x20     /* u32 id, u16 tx, u16 ty, u8 encoding, u8 run length, u16 0, payload */
#define MSG_FRAME_END 0x21 /* u32 id, u32 0, u64 frame_seq, i64 pts_us */
#define TILE_HDR 12
#define ENC_RAW 0
#define ENC_LZ4 1
#define MAX_BODY (16u << 20)

static uint32_t rl32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wl32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void wl16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

typedef struct msg_pos {
    size_t at;     /* header offset in the packet */
    uint8_t type;
    uint32_t body; /* body length */
} msg_pos;

/* Splits a well-formed packet into its messages; returns the count (at most max). */
static size_t parse_msgs(const uint8_t *p, size_t n, msg_pos *out, size_t max)
{
    size_t count = 0;
    for (size_t at = 0; at + HDR <= n && count < max;) {
        uint32_t body = rl32(p + at + 4);
        CHECK(body <= n - at - HDR, "the encoder wrote a truncated message");
        out[count++] = (msg_pos){at, p[at], body};
        at += HDR + body;
    }
    return count;
}

/* ---- quiet logging ------------------------------------------------------------------------ */

static unsigned long log_errors;

static void count_log(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque, (void)msg;
    log_errors += level == VD_LOG_ERROR;
}

/* ---- the scenario ------------------------------------------------------------------------- */

#define SLOTS 3
static const uint32_t slot_ids[SLOTS] = {1, 2, 5};

enum step_kind { STEP_FRAME, STEP_DESTROY };

typedef struct step_def {
    enum step_kind kind;
    int slot;
    enum vd_pixel_format format; /* STEP_FRAME: a new geometry or format creates/resizes */
    int width, height;
    int damage_known; /* scribble with exact rects, else damage = NULL */
    const char *what;
} step_def;

static const step_def steps[] = {
    {STEP_FRAME, 0, VD_FORMAT_BGRX8888, 200, 100, 1, "create A 200x100 BGRX"},
    {STEP_FRAME, 1, VD_FORMAT_RGB565, 67, 33, 1, "create B 67x33 RGB565"},
    {STEP_FRAME, 0, VD_FORMAT_BGRX8888, 200, 100, 1, "update A (rects)"},
    {STEP_FRAME, 1, VD_FORMAT_RGB565, 67, 33, 0, "update B (unknown damage)"},
    {STEP_FRAME, 0, VD_FORMAT_RGBA8888, 130, 70, 1, "resize A to 130x70 RGBA"},
    {STEP_FRAME, 1, VD_FORMAT_RGB565, 67, 33, 1, "update B (rects)"},
    {STEP_FRAME, 0, VD_FORMAT_RGBA8888, 130, 70, 1, "update A (rects)"},
    {STEP_DESTROY, 1, 0, 0, 0, 0, "destroy B"},
    {STEP_FRAME, 2, VD_FORMAT_RGBX8888, 65, 65, 1, "create C 65x65 RGBX"},
    {STEP_FRAME, 0, VD_FORMAT_RGBA8888, 130, 70, 0, "update A (unknown damage)"},
    {STEP_FRAME, 2, VD_FORMAT_RGBX8888, 65, 65, 1, "update C (rects)"},
};
#define N_STEPS TU_ARRAY_SIZE(steps)

/* The encoder and sources of a scenario run. */
typedef struct session {
    vd_encoder *enc;
    tu_rng rng;
    tu_canvas canvas[SLOTS]; /* data NULL: the surface does not exist */
} session;

static void session_open(session *s)
{
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    /* Small packets, so frames span several packets and a broken packet can sit mid-frame. */
    cfg.max_packet_size = 4096;
    memset(s, 0, sizeof(*s));
    CHECK(vd_encoder_new(&cfg, &s->enc) == 0, "vd_encoder_new failed");
    s->rng = tu_rng_init(0xc0ffee);
}

static void session_close(session *s)
{
    vd_encoder_free(&s->enc);
    for (int i = 0; i < SLOTS; i++)
        tu_canvas_free(&s->canvas[i]);
}

/* Runs step k, appending its packets. */
static void session_step(session *s, size_t k, tu_packets *pl)
{
    const step_def *st = &steps[k];
    tu_canvas *c = &s->canvas[st->slot];
    uint32_t id = slot_ids[st->slot];
    if (st->kind == STEP_DESTROY) {
        CHECK(vd_encoder_destroy_surface(s->enc, id) == 0, "destroy failed");
        CHECK(tu_receive_packets(s->enc, pl) == 1, "a destroy is one packet");
        tu_canvas_free(c);
        return;
    }
    vd_rect damage[4];
    size_t n = 0;
    if (!c->data || c->format != st->format || c->width != st->width || c->height != st->height) {
        tu_canvas_free(c);
        *c = tu_canvas_new(st->format, st->width, st->height, 8);
        tu_fill_desktop(&s->rng, c);
    } else {
        n = tu_scribble(&s->rng, c, damage, TU_ARRAY_SIZE(damage));
    }
    vd_frame f = tu_frame(c, id, st->damage_known ? damage : NULL, st->damage_known ? n : 0);
    f.pts_us = (int64_t)k * 16667;
    CHECK(tu_encode_frame(s->enc, &f, pl) == 0, "step %zu (%s) failed to encode", k, st->what);
}

/* A frame of slot i that changes nothing (damage = {}): it only makes the decoder hand out
 * the image it shows. */
static void session_noop(session *s, int i, tu_packets *pl)
{
    vd_rect none;
    vd_frame f = tu_frame(&s->canvas[i], slot_ids[i], &none, 0);
    CHECK(tu_encode_frame(s->enc, &f, pl) == 0, "no-change frame failed");
}

/* The frame of slot i that follows vd_encoder_request_refresh(). */
static void session_resend(session *s, int i, tu_packets *pl)
{
    vd_frame f = tu_frame(&s->canvas[i], slot_ids[i], NULL, 0);
    CHECK(tu_encode_frame(s->enc, &f, pl) == 0, "refresh frame failed");
}

/* What the recorded stream looks like, and what may follow each step. */
typedef struct range {
    size_t first, count; /* packets of a tu_packets */
} range;

typedef struct recording {
    tu_packets stream;               /* every step's packets */
    range step[N_STEPS];
    tu_canvas after[N_STEPS][SLOTS]; /* sources after each step (data NULL: no surface) */
    /* Recorded after step k on a fresh replay of steps 0..k: */
    tu_packets cont[N_STEPS];
    range noop[N_STEPS][SLOTS];      /* count 0: the surface does not exist */
    range refresh[N_STEPS][SLOTS];
} recording;

static tu_canvas canvas_copy(const tu_canvas *c)
{
    tu_canvas d = {0};
    if (!c->data)
        return d;
    d = *c;
    d.data = tu_xmalloc((size_t)c->stride * (size_t)c->height);
    memcpy(d.data, c->data, (size_t)c->stride * (size_t)c->height);
    return d;
}

static void record(recording *rec)
{
    session s;
    session_open(&s);
    for (size_t k = 0; k < N_STEPS; k++) {
        rec->step[k].first = rec->stream.count;
        session_step(&s, k, &rec->stream);
        rec->step[k].count = rec->stream.count - rec->step[k].first;
        for (int i = 0; i < SLOTS; i++)
            rec->after[k][i] = canvas_copy(&s.canvas[i]);
    }
    session_close(&s);

    /* An encoder cannot be copied, so each continuation replays the scenario up to step k;
     * the replay must produce the same bytes, or the continuation would not fit. */
    for (size_t k = 0; k < N_STEPS; k++) {
        tu_packets replay = {0};
        session_open(&s);
        for (size_t j = 0; j <= k; j++)
            session_step(&s, j, &replay);
        size_t end = rec->step[k].first + rec->step[k].count;
        CHECK(replay.count == end && !memcmp(replay.data, rec->stream.data, replay.size),
              "the encoder is not deterministic: replay to step %zu differs", k);
        tu_packets *c = &rec->cont[k];
        for (int i = 0; i < SLOTS; i++) {
            if (!s.canvas[i].data)
                continue;
            rec->noop[k][i].first = c->count;
            session_noop(&s, i, c);
            rec->noop[k][i].count = c->count - rec->noop[k][i].first;
        }
        CHECK(vd_encoder_request_refresh(s.enc, VD_ALL_SURFACES) == 0, "request_refresh failed");
        for (int i = 0; i < SLOTS; i++) {
            if (!s.canvas[i].data)
                continue;
            rec->refresh[k][i].first = c->count;
            session_resend(&s, i, c);
            rec->refresh[k][i].count = c->count - rec->refresh[k][i].first;
        }
        tu_packets_free(&replay);
        session_close(&s);
    }
}

static void recording_free(recording *rec)
{
    tu_packets_free(&rec->stream);
    for (size_t k = 0; k < N_STEPS; k++) {
        tu_packets_free(&rec->cont[k]);
        for (int i = 0; i < SLOTS; i++)
            tu_canvas_free(&rec->after[k][i]);
    }
}

/* ---- decoding with expectations ----------------------------------------------------------- */

static int slot_of(uint32_t id)
{
    for (int i = 0; i < SLOTS; i++)
        if (slot_ids[i] == id)
            return i;
    return -1;
}

/* What one drain saw; problems are described in why (first one wins). */
typedef struct seen {
    unsigned other, images[SLOTS];
    char why[256];
} seen;

static void note(seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(seen *s, const char *fmt, ...)
{
    if (s->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof(s->why), fmt, ap);
    va_end(ap);
}

enum expect {
    EXPECT_ANY,      /* no check but the API contract */
    EXPECT_NOTHING,  /* no image at all */
    EXPECT_SAME,     /* unchanged images: want[] content, no flags, no damage */
    EXPECT_FULL,     /* resent surfaces: want[] content, the whole surface damaged */
};

/* Receives every image and checks each against want[slot] (or the source of a destroy). */
static void drain(vd_decoder *dec, enum expect ex, const tu_canvas *want, seen *s)
{
    vd_image img;
    int ret;
    while ((ret = vd_decoder_receive_image(dec, &img)) == 0) {
        int i = slot_of(img.surface_id);
        if (i < 0) {
            s->other++;
            note(s, "image of unknown surface %" PRIu32, img.surface_id);
            continue;
        }
        s->images[i]++;
        if (ex == EXPECT_ANY || (img.flags & VD_IMAGE_DESTROYED))
            continue;
        if (ex == EXPECT_NOTHING) {
            note(s, "an image of surface %" PRIu32 " came out of a broken frame", img.surface_id);
            continue;
        }
        if (!want[i].data) {
            note(s, "image of surface %" PRIu32 " which should not exist", img.surface_id);
            continue;
        }
        long d = tu_image_diff_canvas(&img, &want[i]);
        if (d >= 0)
            note(s, "surface %" PRIu32 " differs from its source at pixel (%ld,%ld) (image %dx%d "
                    "format %d, source %dx%d format %d)",
                 img.surface_id, d % want[i].width, d / want[i].width, img.width, img.height,
                 (int)img.format, want[i].width, want[i].height, (int)want[i].format);
        if (ex == EXPECT_SAME && (img.flags || img.n_damage))
            note(s, "surface %" PRIu32 " reported flags 0x%x and %zu damage rects for a frame "
                    "that changed nothing", img.surface_id, img.flags, img.n_damage);
        if (ex == EXPECT_FULL) {
            /* A refresh assumes nothing on the client, so all of it is new. */
            uint64_t area = 0;
            for (size_t r = 0; r < img.n_damage; r++)
                area += (uint64_t)img.damage[r].width * (uint64_t)img.damage[r].height;
            if (area != (uint64_t)img.width * (uint64_t)img.height)
                note(s, "a resent surface %" PRIu32 " has damage of %" PRIu64 " pixels, not all "
                        "%d", img.surface_id, area, img.width * img.height);
        }
    }
    if (ret != VD_ERR(EAGAIN))
        note(s, "receive_image returned %s", vd_strerror(ret));
}

static vd_decoder *decoder_new(void)
{
    vd_decoder *dec;
    CHECK(vd_decoder_new(NULL, &dec) == 0, "vd_decoder_new failed");
    return dec;
}

/* Sends packets [r.first, r.first + r.count) of pl; returns the first error (0 if none). */
static int send_range(vd_decoder *dec, const tu_packets *pl, range r, enum expect ex,
                      const tu_canvas *want, seen *s)
{
    int first_err = 0;
    for (size_t i = r.first; i < r.first + r.count; i++) {
        int ret = vd_decoder_send_packet(dec, tu_packet_data(pl, i), pl->info[i].size);
        if (ret < 0 && !first_err)
            first_err = ret;
        drain(dec, ex, want, s);
    }
    return first_err;
}

/* ---- (b) corruption cases ------------------------------------------------------------------ */

enum failure_kind {
    F_RETURN,  /* send_packet returned something else than 0, EBADMSG or ENOTSUP */
    F_PARTIAL, /* part of a broken frame was shown */
    F_PROBE,   /* after the error, the shown image is not the last good one */
    F_REFRESH, /* refresh right after the broken frame did not resync */
    F_REFRESH_AFTER_PROBE, /* refresh after the probe frames did not resync */
    F_KINDS
};

static const char *const failure_names[F_KINDS] = {
    "send_packet returned an undocumented code",
    "an image showed part of a broken frame",
    "after an error the decoder did not show the last good image",
    "a refresh sent right after the broken frame did not bring the decoder back in sync",
    "a refresh sent after a few more frames did not bring the decoder back in sync",
};

typedef struct stats {
    unsigned long cases, rejected, accepted, failures[F_KINDS];
    char examples[F_KINDS][4][400];
} stats;

/* The current corruption: packet p of step k replaced by bad[0..n). */
typedef struct corruption {
    const recording *rec;
    size_t k, p;
    const uint8_t *bad;
    size_t n;
    const char *mut;
    int joined; /* bad holds a whole valid frame before the error: its image may come out */
    stats *st;
} corruption;

static void fail(const corruption *c, enum failure_kind f, const char *why)
{
    unsigned long n = c->st->failures[f]++;
    if (n < 4)
        snprintf(c->st->examples[f][n], sizeof(c->st->examples[f][n]),
                 "step %zu (%s), packet %zu of %zu: %s: %s", c->k, steps[c->k].what, c->p,
                 c->rec->step[c->k].count, c->mut, why);
}

/* Feeds steps 0..k-1 and step k with packet p corrupted; returns that packet's result and
 * whether any packet of step k was rejected (*err). */
static int feed_broken(vd_decoder *dec, const corruption *c, int *err, seen *s)
{
    const recording *rec = c->rec;
    range prefix = {0, rec->step[c->k].first};
    CHECK(send_range(dec, &rec->stream, prefix, EXPECT_ANY, NULL, s) == 0,
          "the clean stream was rejected");
    const range *r = &rec->step[c->k];
    int ret_bad = 0;
    *err = 0;
    for (size_t i = 0; i < r->count; i++) {
        size_t pi = r->first + i;
        int ret = i == c->p ? vd_decoder_send_packet(dec, c->bad, c->n)
                            : vd_decoder_send_packet(dec, tu_packet_data(&rec->stream, pi),
                                                     rec->stream.info[pi].size);
        if (i == c->p)
            ret_bad = ret;
        if (ret != 0 && ret != VD_ERR(EBADMSG) && ret != VD_ERR(ENOTSUP)) {
            char why[128];
            snprintf(why, sizeof(why), "packet %zu returned %d (%s)", i, ret, vd_strerror(ret));
            fail(c, F_RETURN, why);
        }
        if (ret < 0)
            *err = 1;
        drain(dec, i >= c->p && ret_bad < 0 && !c->joined ? EXPECT_NOTHING : EXPECT_ANY, NULL,
              s);
    }
    return ret_bad;
}

/* The refresh: every surface the encoder has is resent and must come out bit-exact. */
static void check_refresh(vd_decoder *dec, const corruption *c, enum failure_kind f)
{
    const recording *rec = c->rec;
    for (int i = 0; i < SLOTS; i++) {
        if (!rec->refresh[c->k][i].count)
            continue;
        seen s = {0};
        int ret = send_range(dec, &rec->cont[c->k], rec->refresh[c->k][i], EXPECT_FULL,
                             rec->after[c->k], &s);
        if (ret < 0)
            note(&s, "refresh of surface %" PRIu32 " was rejected: %s", slot_ids[i],
                 vd_strerror(ret));
        else if (s.images[i] != 1)
            note(&s, "refresh of surface %" PRIu32 " gave %u images instead of 1", slot_ids[i],
                 s.images[i]);
        if (s.why[0]) {
            fail(c, f, s.why);
            return;
        }
    }
}

static void run_case(corruption *c)
{
    const recording *rec = c->rec;
    c->st->cases++;

    /* Flow 1: broken frame, then straight to the refresh. */
    vd_decoder *dec = decoder_new();
    seen s = {0};
    int err;
    int ret = feed_broken(dec, c, &err, &s);
    if (ret < 0 && s.why[0] && !c->joined)
        fail(c, F_PARTIAL, s.why);
    c->st->rejected += err != 0;
    c->st->accepted += err == 0;
    check_refresh(dec, c, F_REFRESH);
    vd_decoder_free(&dec);
    if (ret == 0 || c->joined)
        return; /* the corruption was valid input: nothing more can be asserted */

    /* Flow 2: broken frame, then no-change frames of every surface that was complete before
     * step k, twice: the first frame end may only end the resync (the decoder drops
     * messages up to the next frame end after an error).  Each image must be the last good
     * one. */
    dec = decoder_new();
    memset(&s, 0, sizeof(s));
    feed_broken(dec, c, &err, &s);
    const tu_canvas *good = c->k ? rec->after[c->k - 1] : NULL;
    seen probe = {0};
    for (int round = 0; round < 2 && good; round++) {
        memset(probe.images, 0, sizeof(probe.images));
        for (int i = 0; i < SLOTS; i++) {
            if (!good[i].data || !rec->noop[c->k][i].count)
                continue;
            ret = send_range(dec, &rec->cont[c->k], rec->noop[c->k][i], EXPECT_SAME, good,
                             &probe);
            if (ret < 0)
                note(&probe, "no-change frame of surface %" PRIu32 " was rejected: %s",
                     slot_ids[i], vd_strerror(ret));
        }
    }
    for (int i = 0; i < SLOTS && good; i++)
        if (good[i].data && rec->noop[c->k][i].count && probe.images[i] != 1)
            note(&probe, "a no-change frame of surface %" PRIu32 " gave %u images", slot_ids[i],
                 probe.images[i]);
    if (probe.why[0])
        fail(c, F_PROBE, probe.why);
    check_refresh(dec, c, F_REFRESH_AFTER_PROBE);
    vd_decoder_free(&dec);
}

/* Scratch space for building corrupted packets. */
typedef struct scratch {
    uint8_t *d;
    size_t cap;
} scratch;

static uint8_t *scratch_get(scratch *sc, size_t n)
{
    /* Never NULL, even for 0 bytes: send_packet(NULL) would mean "drain". */
    if (n >= sc->cap) {
        n++;
        sc->d = tu_xrealloc(sc->d, n);
        sc->cap = n;
    }
    return sc->d;
}

static void run_copy(corruption *c, scratch *sc, const uint8_t *src, size_t n, const char *mut)
{
    uint8_t *d = scratch_get(sc, n);
    memcpy(d, src, n);
    c->bad = d;
    c->n = n;
    c->mut = mut;
}

/* Every corruption of packet p of step k. */
static void corrupt_packet(const recording *rec, size_t k, size_t p, tu_rng *rng, stats *st,
                           scratch *sc)
{
    size_t pi = rec->step[k].first + p;
    const uint8_t *pkt = tu_packet_data(&rec->stream, pi);
    size_t n = rec->stream.info[pi].size;
    msg_pos msgs[64];
    size_t n_msgs = parse_msgs(pkt, n, msgs, TU_ARRAY_SIZE(msgs));
    corruption c = {.rec = rec, .k = k, .p = p, .st = st};
    char mut[96];

    /* Truncation: every length of a small packet; for big ones every length near the start
     * and near each message boundary, plus a random sample. */
    for (size_t len = 0; len < n; len++) {
        int near = len < 48;
        for (size_t m = 0; m < n_msgs && !near; m++)
            near = len + 3 >= msgs[m].at && len <= msgs[m].at + HDR + TILE_HDR + 3;
        if (n > 1024 && !near && tu_rng_below(rng, (uint32_t)(n / 1024)))
            continue;
        snprintf(mut, sizeof(mut), "truncated to %zu of %zu bytes", len, n);
        run_copy(&c, sc, pkt, len, mut);
        run_case(&c);
    }

    /* The packet twice in one call (joining packets is allowed): a frame's tiles twice. */
    uint8_t *twice = scratch_get(sc, 2 * n);
    memcpy(twice, pkt, n);
    memcpy(twice + n, pkt, n);
    c.bad = twice;
    c.n = 2 * n;
    c.mut = "packet sent twice in one call";
    c.joined = 1;
    run_case(&c);
    c.joined = 0;

    for (size_t m = 0; m < n_msgs; m++) {
        const msg_pos *mp = &msgs[m];
        uint8_t *d;
        /* Every bit of the header and of the fixed part of the body. */
        size_t fixed = HDR + (mp->type == MSG_TILE ? TILE_HDR : mp->body);
        for (size_t bit = 0; bit < fixed * 8; bit++) {
            snprintf(mut, sizeof(mut), "bit %zu of message %zu (type 0x%02x) flipped", bit, m,
                     mp->type);
            run_copy(&c, sc, pkt, n, mut);
            sc->d[mp->at + bit / 8] ^= (uint8_t)(1u << (bit % 8));
            run_case(&c);
        }
        /* Length fields. */
        static const int64_t deltas[] = {-1, 1, -8, 8, 4096};
        for (size_t i = 0; i < TU_ARRAY_SIZE(deltas) + 4; i++) {
            uint32_t len = i < TU_ARRAY_SIZE(deltas) ? (uint32_t)((int64_t)mp->body + deltas[i])
                         : i == TU_ARRAY_SIZE(deltas)     ? 0
                         : i == TU_ARRAY_SIZE(deltas) + 1 ? 0xffffffffu
                         : i == TU_ARRAY_SIZE(deltas) + 2 ? MAX_BODY + 1
                                                          : MAX_BODY;
            snprintf(mut, sizeof(mut), "length of message %zu (type 0x%02x) %u -> %u", m,
                     mp->type, mp->body, len);
            run_copy(&c, sc, pkt, n, mut);
            wl32(sc->d + mp->at + 4, len);
            run_case(&c);
        }
        /* An unknown type, plain (refused) and flagged optional (skipped). */
        for (int opt = 0; opt < 2; opt++) {
            snprintf(mut, sizeof(mut), "message %zu (type 0x%02x) turned into unknown 0x7e%s",
                     m, mp->type, opt ? " flagged optional" : "");
            run_copy(&c, sc, pkt, n, mut);
            sc->d[mp->at] = 0x7e;
            sc->d[mp->at + 1] = (uint8_t)opt;
            run_case(&c);
        }
        if (mp->type != MSG_TILE)
            continue;

        const uint8_t *body = pkt + mp->at + HDR;
        uint32_t payload = mp->body - TILE_HDR;
        size_t pay_at = mp->at + HDR + TILE_HDR;
        /* Coordinates out of range (the surfaces are at most 4 tiles wide and 2 high). */
        static const uint16_t coords[][2] = {{4, 0}, {0, 2}, {0xffff, 0}, {0, 0xffff}, {64, 64}};
        for (size_t i = 0; i < TU_ARRAY_SIZE(coords); i++) {
            snprintf(mut, sizeof(mut), "tile message %zu moved to tile (%u,%u)", m, coords[i][0],
                     coords[i][1]);
            run_copy(&c, sc, pkt, n, mut);
            wl16(sc->d + mp->at + HDR + 4, coords[i][0]);
            wl16(sc->d + mp->at + HDR + 6, coords[i][1]);
            run_case(&c);
        }
        /* Run lengths: 0, past the maximum of 8, one more than sent (past the payload). */
        static const uint8_t counts[] = {0, 9, 255};
        for (size_t i = 0; i <= TU_ARRAY_SIZE(counts); i++) {
            uint8_t count = i < TU_ARRAY_SIZE(counts) ? counts[i] : (uint8_t)(body[9] + 1);
            snprintf(mut, sizeof(mut), "tile message %zu run length %u -> %u", m, body[9], count);
            run_copy(&c, sc, pkt, n, mut);
            sc->d[mp->at + HDR + 9] = count;
            run_case(&c);
        }
        /* Encodings: unknown, RAW and LZ4 swapped, and the delta flag set or cleared (valid
         * framing, other pixels: the refresh must still restore the image). */
        static const uint8_t encodings[] = {ENC_RAW, ENC_LZ4, 2, 0xff, 0x80 | ENC_RAW, 0x80 | ENC_LZ4, 0x82};
        for (size_t i = 0; i < TU_ARRAY_SIZE(encodings); i++) {
            if (encodings[i] == body[8])
                continue;
            snprintf(mut, sizeof(mut), "tile message %zu encoding %u -> %u", m, body[8],
                     encodings[i]);
            run_copy(&c, sc, pkt, n, mut);
            sc->d[mp->at + HDR + 8] = encodings[i];
            run_case(&c);
        }
        /* Tile of an unknown surface. */
        snprintf(mut, sizeof(mut), "tile message %zu for unknown surface 77", m);
        run_copy(&c, sc, pkt, n, mut);
        wl32(sc->d + mp->at + HDR, 77);
        run_case(&c);
        /* Payload bit flips: raw pixels stay valid (0), LZ4 data mostly does not. */
        for (int i = 0; i < 48 && payload; i++) {
            size_t bit = tu_rng_below(rng, payload * 8);
            snprintf(mut, sizeof(mut), "bit %zu of tile %zu payload (encoding %u) flipped", bit,
                     m, body[8]);
            run_copy(&c, sc, pkt, n, mut);
            sc->d[pay_at + bit / 8] ^= (uint8_t)(1u << (bit % 8));
            run_case(&c);
        }
        if (body[8] != ENC_LZ4)
            continue;
        /* Wrong LZ4 data with consistent framing: garbage, zeros, cut short, extended. */
        for (int kind = 0; kind < 5; kind++) {
            size_t cut = kind == 2 ? 1 : kind == 3 ? (payload + 1) / 2 : 0;
            size_t grow = kind == 4 ? 7 : 0;
            size_t nn = n - cut + grow;
            d = scratch_get(sc, nn);
            memcpy(d, pkt, pay_at + payload - cut);
            memset(d + pay_at + payload - cut, 0x5a, grow);
            memcpy(d + pay_at + payload - cut + grow, pkt + pay_at + payload,
                   n - pay_at - payload);
            wl32(d + mp->at + 4, (uint32_t)(mp->body - cut + grow));
            if (kind == 0)
                for (size_t i = 0; i < payload; i++)
                    d[pay_at + i] = (uint8_t)tu_rng_u32(rng);
            if (kind == 1)
                memset(d + pay_at, 0, payload);
            static const char *const names[] = {"random bytes", "zeros", "1 byte short",
                                                "half", "7 bytes extra"};
            snprintf(mut, sizeof(mut), "LZ4 payload of tile %zu replaced: %s", m, names[kind]);
            c.bad = d;
            c.n = nn;
            c.mut = mut;
            run_case(&c);
        }
    }
}

static int corruption_tests(void)
{
    recording rec;
    memset(&rec, 0, sizeof(rec));
    record(&rec);

    /* The clean stream round-trips bit-exactly, step by step (the baseline for all below). */
    vd_decoder *dec = decoder_new();
    for (size_t k = 0; k < N_STEPS; k++) {
        seen s = {0};
        CHECK(send_range(dec, &rec.stream, rec.step[k], EXPECT_ANY, NULL, &s) == 0,
              "step %zu rejected", k);
        CHECK(!s.why[0], "step %zu: %s", k, s.why);
        int slot = steps[k].slot;
        if (steps[k].kind == STEP_FRAME) {
            /* Re-probe with a clean decoder is overkill; check via the next no-change frame. */
            seen p = {0};
            CHECK(send_range(dec, &rec.cont[k], rec.noop[k][slot], EXPECT_SAME, rec.after[k],
                             &p) == 0 && !p.why[0] && p.images[slot] == 1,
                  "step %zu: the decoded image is not the source: %s", k, p.why);
        }
    }
    vd_decoder_free(&dec);
    size_t total_packets = rec.stream.count;
    printf("  clean stream: %zu steps, %zu packets, %zu bytes; decodes bit-exactly\n",
           N_STEPS, total_packets, rec.stream.size);

    stats *st = calloc(1, sizeof(*st));
    CHECK(st, "out of memory");
    scratch sc = {0};
    tu_rng rng = tu_rng_init(0xbadc0de);
    /* VD_CORRUPT_STEP=k limits the run to one step, for debugging. */
    const char *only = getenv("VD_CORRUPT_STEP");
    for (size_t k = 0; k < N_STEPS; k++)
        for (size_t p = 0; p < rec.step[k].count && (!only || atoi(only) == (int)k); p++)
            corrupt_packet(&rec, k, p, &rng, st, &sc);
    free(sc.d);

    printf("  %lu corrupted streams: %lu rejected, %lu accepted as valid input\n", st->cases,
           st->rejected, st->accepted);
    int failed = 0;
    for (int f = 0; f < F_KINDS; f++) {
        if (!st->failures[f])
            continue;
        failed = 1;
        printf("FAIL: %s: %lu cases, e.g.\n", failure_names[f], st->failures[f]);
        for (unsigned long i = 0; i < st->failures[f] && i < 4; i++)
            printf("    %s\n", st->examples[f][i]);
    }
    free(st);
    recording_free(&rec);
    return failed;
}

/* ---- (a) encoder input validation ------------------------------------------------------------ */

/* Encodes f, decodes its packets on dec and checks the image against c. */
static void roundtrip(vd_encoder *enc, vd_decoder *dec, const vd_frame *f, const tu_canvas *c,
                      const char *what)
{
    tu_packets pl = {0};
    CHECK(tu_encode_frame(enc, f, &pl) == 0, "%s: a good frame was refused", what);
    int slot = slot_of(f->surface_id);
    CHECK(slot >= 0, "test bug: surface %" PRIu32 " has no slot", f->surface_id);
    tu_canvas want[SLOTS] = {{0}};
    want[slot] = *c;
    seen s = {0};
    CHECK(send_range(dec, &pl, (range){0, pl.count}, EXPECT_ANY, NULL, &s) == 0,
          "%s: the decoder refused the packets", what);
    tu_packets_free(&pl);
    /* Check the content through a no-change frame: the image data above is gone by now. */
    vd_rect none;
    vd_frame probe = *f;
    probe.damage = &none;
    probe.n_damage = 0;
    CHECK(tu_encode_frame(enc, &probe, &pl) == 0, "%s: no-change frame refused", what);
    CHECK(send_range(dec, &pl, (range){0, pl.count}, EXPECT_SAME, want, &s) == 0 && !s.why[0],
          "%s: %s", what, s.why[0] ? s.why : "decoder error");
    tu_packets_free(&pl);
}

static void encoder_validation(void)
{
    vd_encoder *enc;
    CHECK(vd_encoder_new(NULL, &enc) == 0, "vd_encoder_new failed");
    vd_decoder *dec = decoder_new();
    tu_rng rng = tu_rng_init(42);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 67, 33, 4);
    tu_fill_desktop(&rng, &c);
    vd_frame good = tu_frame(&c, slot_ids[0], NULL, 0);
    roundtrip(enc, dec, &good, &c, "first frame");

    size_t many = 65537;
    vd_rect *rects = calloc(many, sizeof(*rects));
    CHECK(rects, "out of memory");
    for (size_t i = 0; i < many; i++)
        rects[i] = (vd_rect){(int32_t)(i % 67), 0, 1, 1};

    struct bad {
        const char *what;
        vd_frame f;
    } bad[] = {
        {"format 0", good}, {"format 6", good}, {"format -1", good},
        {"width 0", good}, {"height 0", good}, {"width -1", good}, {"height -67", good},
        {"width 8193", good}, {"height 8193", good}, {"width INT32_MAX", good},
        {"stride = width * bpp - 1", good}, {"stride 0", good}, {"stride -268", good},
        {"data NULL", good}, {"65537 damage rects", good}, {"damage NULL with n_damage 1", good},
        {"surface id VD_ALL_SURFACES", good},
        {"RGB565 200 pixels wide with stride 272", good},
    };
    size_t i = 0;
    bad[i++].f.format = 0;
    bad[i++].f.format = 6;
    bad[i++].f.format = (enum vd_pixel_format)-1;
    bad[i++].f.width = 0;
    bad[i++].f.height = 0;
    bad[i++].f.width = -1;
    bad[i++].f.height = -67;
    bad[i++].f.width = 8193;
    bad[i++].f.height = 8193;
    bad[i++].f.width = INT32_MAX;
    bad[i++].f.stride = 67 * 4 - 1;
    bad[i++].f.stride = 0;
    bad[i++].f.stride = -268;
    bad[i++].f.data = NULL;
    bad[i].f.damage = rects;
    bad[i++].f.n_damage = many;
    bad[i].f.damage = NULL;
    bad[i++].f.n_damage = 1;
    bad[i++].f.surface_id = VD_ALL_SURFACES;
    bad[i].f.format = VD_FORMAT_RGB565;
    bad[i].f.width = 200; /* 200 * 2 > stride 272 */
    bad[i++].f.stride = 272;
    CHECK(i == TU_ARRAY_SIZE(bad), "test bug: %zu of %zu bad frames set up", i,
          TU_ARRAY_SIZE(bad));

    for (i = 0; i < TU_ARRAY_SIZE(bad); i++) {
        /* Both for the existing surface and for one that does not exist yet. */
        for (int fresh = 0; fresh < 2; fresh++) {
            vd_frame f = bad[i].f;
            if (fresh && f.surface_id != VD_ALL_SURFACES)
                f.surface_id = slot_ids[2];
            int ret = vd_encoder_send_frame(enc, &f);
            CHECK(ret == VD_ERR(EINVAL), "%s%s: send_frame returned %d (%s), want EINVAL",
                  bad[i].what, fresh ? " (new surface)" : "", ret, vd_strerror(ret));
            vd_packet pkt;
            ret = vd_encoder_receive_packet(enc, &pkt);
            CHECK(ret == VD_ERR(EAGAIN), "%s: a refused frame left a packet (%s)", bad[i].what,
                  vd_strerror(ret));
            if (fresh && f.surface_id != VD_ALL_SURFACES)
                CHECK(vd_encoder_request_refresh(enc, f.surface_id) == VD_ERR(ENOENT),
                      "%s: a refused frame created surface %" PRIu32, bad[i].what,
                      f.surface_id);
        }
        /* The next good frame, with exact damage, still round-trips. */
        vd_rect damage[4];
        size_t n = tu_scribble(&rng, &c, damage, TU_ARRAY_SIZE(damage));
        vd_frame f = tu_frame(&c, slot_ids[0], damage, n);
        roundtrip(enc, dec, &f, &c, bad[i].what);
        printf("  refused with EINVAL, then the next frame round-trips: %s\n", bad[i].what);
    }

    /* Hostile but valid damage: clipped, never out of bounds or overflowing. */
    static const vd_rect odd[] = {{INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX},
                                  {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX},
                                  {-10, -10, 20, 20}, {60, 30, -5, 10}, {0, 0, 0, 0},
                                  {-1000000, 5, INT32_MAX, 1}};
    for (i = 0; i < TU_ARRAY_SIZE(odd); i++) {
        tu_paint_rect(&rng, &c, (vd_rect){0, 0, c.width, c.height});
        /* Full damage as the last rect, so all changes are reported. */
        vd_rect damage[2] = {odd[i], {0, 0, c.width, c.height}};
        vd_frame f = tu_frame(&c, slot_ids[0], damage, 2);
        roundtrip(enc, dec, &f, &c, "odd damage");
    }
    printf("  damage rects at INT32 extremes, negative and empty are accepted and clipped\n");

    /* 65536 rects is the documented maximum and is accepted. */
    tu_paint_rect(&rng, &c, (vd_rect){10, 10, 20, 5});
    vd_frame f = tu_frame(&c, slot_ids[0], rects, 65536);
    for (size_t j = 0; j < 65536; j++)
        rects[j] = (vd_rect){(int32_t)(j % 67), (int32_t)(j / 67 % 33), 1, 1};
    roundtrip(enc, dec, &f, &c, "65536 damage rects");
    printf("  65536 damage rects (the maximum) are accepted\n");

    free(rects);
    tu_canvas_free(&c);
    vd_decoder_free(&dec);
    vd_encoder_free(&enc);
}

int main(void)
{
    vd_log_set_callback(count_log, NULL);
    printf("(a) the encoder refuses bad frames and keeps working\n");
    encoder_validation();
    printf("(b) corrupted packets: an error, no partial frame, recovery after a refresh\n");
    int failed = corruption_tests();
    printf("%s (the library logged %lu errors)\n", failed ? "FAILED" : "all passed", log_errors);
    return failed ? 1 : 0;
}
