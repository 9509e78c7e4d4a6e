/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Seed inputs for the decoder fuzzer: real encoder streams of small synthetic desktops, so
 * mutations start from valid framing, LZ4 data and message sequences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vd/vd.h>

#include "../testutil.h"
#include "seeds.h"

int fuzz_append_packet(uint8_t **buf, size_t *size, size_t *cap, const uint8_t *pkt,
                       size_t pkt_size)
{
    size_t need = *size + FUZZ_LEN_BYTES + pkt_size;
    if (need > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < need)
            c *= 2;
        uint8_t *p = realloc(*buf, c);
        if (!p)
            return -1;
        *buf = p;
        *cap = c;
    }
    uint8_t *p = *buf + *size;
    for (int i = 0; i < FUZZ_LEN_BYTES; i++)
        p[i] = (uint8_t)(pkt_size >> (8 * i));
    if (pkt_size)
        memcpy(p + FUZZ_LEN_BYTES, pkt, pkt_size);
    *size = need;
    return 0;
}

/* One step of a scripted session. */
enum op {
    OP_FRAME,
    OP_DESTROY,
    OP_REFRESH,
    OP_CUT,    /* the connection drops after the first packet of the next step */
    OP_LOSE,   /* the next step's packets are lost with the connection */
    OP_RESUME, /* the client comes back (an empty packet in the input) and the encoder resumes */
    OP_END
};
enum damage_mode {
    DMG_RECTS,   /* scribble and report exact rectangles */
    DMG_UNKNOWN, /* scribble, damage = NULL (full scan) */
    DMG_NONE,    /* no change, damage = {} with n_damage = 0 */
    DMG_SCROLL,  /* a region scrolls up by 7 rows (COPY messages), damage = NULL */
    DMG_REVERT,  /* back to the surface's first content (cache references), damage = NULL */
};

typedef struct step {
    enum op op;
    unsigned slot;              /* which of the script's surfaces (0..3) */
    enum vd_pixel_format format; /* OP_FRAME: a format/size different from the slot's resizes */
    int width, height;
    enum damage_mode damage;
} step;

typedef struct script {
    const char *name;
    size_t max_packet_size;  /* 0 = default */
    uint32_t ids[4];         /* surface id per slot */
    step steps[16];
} script;

#define F(slot, fmt, w, h, dmg) {OP_FRAME, slot, VD_FORMAT_##fmt, w, h, DMG_##dmg}
#define DESTROY(slot) {OP_DESTROY, slot, 0, 0, 0, 0}
#define REFRESH(slot) {OP_REFRESH, slot, 0, 0, 0, 0}
#define STEP(op) {op, 0, 0, 0, 0, 0}

static const script scripts[] = {
    {"bgrx-67x33-updates", 0, {1}, {
        F(0, BGRX8888, 67, 33, RECTS), F(0, BGRX8888, 67, 33, RECTS),
        F(0, BGRX8888, 67, 33, UNKNOWN), F(0, BGRX8888, 67, 33, NONE),
        F(0, BGRX8888, 67, 33, RECTS), {OP_END, 0, 0, 0, 0, 0}}},
    {"two-surfaces-resize-destroy", 0, {1, 42}, {
        F(0, RGB565, 67, 33, RECTS), F(1, RGBA8888, 96, 66, RECTS),
        F(0, RGB565, 67, 33, RECTS), F(1, RGBA8888, 96, 66, UNKNOWN),
        F(0, BGRA8888, 80, 40, RECTS), /* resize and format change */
        F(1, RGBA8888, 96, 66, RECTS), DESTROY(1),
        F(0, BGRA8888, 80, 40, RECTS), REFRESH(0), F(0, BGRA8888, 80, 40, NONE),
        {OP_END, 0, 0, 0, 0, 0}}},
    {"multi-packet-rgbx", 4096, {0x80000005u}, {
        F(0, RGBX8888, 150, 70, RECTS), F(0, RGBX8888, 150, 70, UNKNOWN),
        F(0, RGBX8888, 150, 70, RECTS), {OP_END, 0, 0, 0, 0, 0}}},
    {"tiny-and-edges", 0, {0, 7, 0xfffffffeu}, {
        F(0, BGRX8888, 1, 1, RECTS), F(1, RGB565, 65, 1, RECTS), F(2, RGBA8888, 64, 64, RECTS),
        F(0, BGRX8888, 1, 1, UNKNOWN), F(1, RGB565, 1, 65, RECTS), DESTROY(0),
        F(0, RGBX8888, 3, 2, RECTS), F(2, RGBA8888, 64, 64, NONE), {OP_END, 0, 0, 0, 0, 0}}},
    {"scroll-and-return", 0, {9}, {
        F(0, BGRX8888, 320, 256, RECTS), F(0, BGRX8888, 320, 256, SCROLL),
        F(0, BGRX8888, 320, 256, RECTS), F(0, BGRX8888, 320, 256, SCROLL),
        F(0, BGRX8888, 320, 256, REVERT), {OP_END, 0, 0, 0, 0, 0}}},
    {"resume-after-drop", 4096, {4, 5}, {
        F(0, BGRX8888, 200, 150, RECTS), F(1, RGB565, 90, 70, RECTS),
        F(0, BGRX8888, 200, 150, SCROLL), STEP(OP_CUT), F(0, BGRX8888, 200, 150, UNKNOWN),
        STEP(OP_LOSE), F(1, RGB565, 90, 70, RECTS), STEP(OP_LOSE), DESTROY(1),
        STEP(OP_RESUME), F(0, BGRX8888, 200, 150, RECTS), F(0, BGRX8888, 200, 150, REVERT),
        {OP_END, 0, 0, 0, 0, 0}}},
};

/* Scrolls the middle of the canvas up by 7 rows and paints the rows that enter. */
static void scroll_middle(tu_rng *rng, const tu_canvas *c)
{
    vd_rect r = {c->width / 8, c->height / 8, c->width * 3 / 4, c->height * 3 / 4};
    for (int y = r.y; y < r.y + r.height - 7; y++)
        memmove(c->data + (size_t)y * (size_t)c->stride + (size_t)r.x * (size_t)c->bpp,
                c->data + (size_t)(y + 7) * (size_t)c->stride + (size_t)r.x * (size_t)c->bpp,
                (size_t)r.width * (size_t)c->bpp);
    tu_paint_pattern(rng, c, (vd_rect){r.x, r.y + r.height - 7, r.width, 7}, TU_TEXT);
}

/* Runs one script through a real encoder; the input gets every packet in order. */
static int run_script(const script *sc, uint64_t seed, fuzz_input *in)
{
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    if (sc->max_packet_size)
        cfg.max_packet_size = sc->max_packet_size;
    vd_encoder *enc;
    int ret = vd_encoder_new(&cfg, &enc);
    if (ret < 0)
        return ret;
    /* The client, for the state a resume starts from. */
    vd_decoder *dec;
    if ((ret = vd_decoder_new(NULL, &dec)) < 0) {
        vd_encoder_free(&enc);
        return ret;
    }
    tu_rng rng = tu_rng_init(seed);
    tu_canvas canvas[4] = {{0}}, first[4] = {{0}};
    tu_packets pl = {0};
    vd_rect damage[8];
    size_t cap = 0, delivered = 0;
    size_t deliver = SIZE_MAX; /* of the next step's packets */
    for (const step *st = sc->steps; st->op != OP_END && ret >= 0; st++) {
        tu_canvas *c = &canvas[st->slot];
        uint32_t id = sc->ids[st->slot];
        switch (st->op) {
        case OP_FRAME: {
            int fresh = !c->data || c->format != st->format || c->width != st->width ||
                        c->height != st->height;
            size_t n = 0;
            if (fresh) {
                tu_canvas_free(c);
                /* Odd row padding on some surfaces: the stride must never leak into output. */
                *c = tu_canvas_new(st->format, st->width, st->height, (int)(id & 1) * 12);
                tu_fill_desktop(&rng, c);
                tu_canvas_free(&first[st->slot]);
                first[st->slot] = tu_canvas_new(st->format, st->width, st->height, (int)(id & 1) * 12);
                memcpy(first[st->slot].data, c->data, (size_t)c->stride * (size_t)c->height);
            } else if (st->damage == DMG_SCROLL) {
                scroll_middle(&rng, c);
            } else if (st->damage == DMG_REVERT) {
                memcpy(c->data, first[st->slot].data, (size_t)c->stride * (size_t)c->height);
            } else if (st->damage != DMG_NONE) {
                n = tu_scribble(&rng, c, damage, TU_ARRAY_SIZE(damage));
            }
            int no_damage_info = st->damage == DMG_UNKNOWN || st->damage == DMG_SCROLL ||
                                 st->damage == DMG_REVERT;
            vd_frame f = tu_frame(c, id, no_damage_info ? NULL : damage,
                                  st->damage == DMG_RECTS ? n : 0);
            f.pts_us = (int64_t)(st - sc->steps) * 16667;
            ret = tu_encode_frame(enc, &f, &pl);
            break;
        }
        case OP_DESTROY:
            ret = vd_encoder_destroy_surface(enc, id);
            tu_receive_packets(enc, &pl);
            tu_canvas_free(c);
            break;
        case OP_REFRESH:
            ret = vd_encoder_request_refresh(enc, id);
            break;
        case OP_CUT:
            deliver = 1;
            continue;
        case OP_LOSE:
            deliver = 0;
            continue;
        case OP_RESUME: {
            vd_resume_state state;
            ret = vd_decoder_get_resume_state(dec, &state);
            if (ret >= 0 && fuzz_append_packet(&in->data, &in->size, &cap, NULL, 0) < 0)
                ret = VD_ERR(ENOMEM);
            if (ret >= 0 && (ret = vd_encoder_resume(enc, &state)) >= 0)
                tu_receive_packets(enc, &pl);
            break;
        }
        default:
            break;
        }
        for (size_t i = 0; delivered < pl.count && ret >= 0; i++, delivered++) {
            if (i >= deliver)
                continue;
            const uint8_t *pkt = tu_packet_data(&pl, delivered);
            size_t size = pl.info[delivered].size;
            vd_image img;
            if (fuzz_append_packet(&in->data, &in->size, &cap, pkt, size) < 0)
                ret = VD_ERR(ENOMEM);
            else if (vd_decoder_send_packet(dec, pkt, size) < 0)
                ret = VD_ERR(EPROTO); /* the encoder's own stream must decode */
            while (vd_decoder_receive_image(dec, &img) == 0)
                ;
        }
        deliver = SIZE_MAX;
    }
    for (size_t i = 0; i < 4; i++) {
        tu_canvas_free(&canvas[i]);
        tu_canvas_free(&first[i]);
    }
    tu_packets_free(&pl);
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    if (ret < 0) {
        free(in->data);
        in->data = NULL;
        in->size = 0;
        return ret;
    }
    snprintf(in->name, sizeof(in->name), "%s", sc->name);
    return 0;
}

/* A video region: natural-looking moving content becomes an H.264 stream (STREAM_CREATE and
 * STREAM_FRAMEs with block masks, bounds and, around a still rectangle off the block grid,
 * cuts; a still lattice over it is patched and kept once it has stood for a second), then
 * stops and is refreshed losslessly.  Small, so that the fuzzer spends its time in the stream
 * parser and libavcodec's decoder. */
static int video_seed(fuzz_input *in)
{
    vd_encoder *enc;
    int ret = vd_encoder_new(NULL, &enc);
    if (ret < 0)
        return ret;
    tu_rng rng = tu_rng_init(77);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 256, 128, 0);
    memset(c.data, 0x40, (size_t)c.stride * 128); /* flat: the lossless frames stay small */
    tu_packets pl = {0};
    size_t cap = 0;
    uint32_t streamed = 0, patched = 0;
    for (int frame = 0; frame < 40 && ret >= 0; frame++) {
        for (int y = 0; y < 128 && frame < 36; y++)
            for (int x = 0; x < 192; x++) { /* 6 tiles: VD_CLS_MIN_REGION_TILES */
                if (x >= 37 && x < 77 && y >= 45 && y < 75)
                    continue;
                int g = (x + y + frame * 3) & 0xff, lattice = x >= 100 && x < 150 && y >= 90 &&
                                                             y < 106 && (x + y) % 5 == 0;
                tu_put_pixel(&c, x, y, lattice ? 0xffffff
                                               : (uint32_t)(g + (int)tu_rng_below(&rng, 5)) |
                                                     (uint32_t)(255 - g) << 16 | (uint32_t)(g / 2) << 8);
            }
        vd_frame f = tu_frame(&c, 3, NULL, 0);
        f.pts_us = frame * 33333;
        ret = tu_encode_frame(enc, &f, &pl);
        vd_encoder_stats st;
        vd_encoder_get_stats(enc, &st);
        streamed += st.tiles_streamed;
        patched += st.pixels_patched;
    }
    if (ret >= 0 && (!streamed || !patched)) /* the seed would not reach those parsers */
        ret = VD_ERR(EPROTO);
    for (size_t i = 0; i < pl.count && ret >= 0; i++)
        if (fuzz_append_packet(&in->data, &in->size, &cap, tu_packet_data(&pl, i),
                               pl.info[i].size) < 0)
            ret = VD_ERR(ENOMEM);
    tu_canvas_free(&c);
    tu_packets_free(&pl);
    vd_encoder_free(&enc);
    if (ret < 0) {
        free(in->data);
        *in = (fuzz_input){0};
        return ret;
    }
    snprintf(in->name, sizeof(in->name), "video-stream");
    return 0;
}

/* Hand-written stream: what the encoder never sends (an optional unknown message, packets
 * that join frames), and the only seed a decoder-only build has. */
static int handwritten(fuzz_input *in)
{
    static const uint8_t hello[] = {0x01, 0, 0, 0, 8, 0, 0, 0, 'V', 'W', 'D', '1', 1, 0, 0, 0};
    /* SURFACE_CREATE id 3, 2x2 RGB565, tile log2 6. */
    static const uint8_t create[] = {0x10, 0, 0, 0, 16, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0,
                                     2, 0, 0, 0, 5, 6, 0, 0};
    /* CODEC_RESET: 2 cache slots. */
    static const uint8_t reset[] = {0x22, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
    /* TILE (0,0), run of 1, bulk stored: a raw tile, 2x2 x 2 bytes. */
    static const uint8_t tile[] = {0x20, 0, 0, 0, 21, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
                                   0x03, 0x1f, 0x00, 0xe0, 0x07, 0x00, 0xf8, 0xff, 0xff};
    /* The same tile as a 2-colour palette (colours, then 1-bit index rows), then solid. */
    static const uint8_t palette_tile[] = {0x20, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
                                           0, 1, 0, 0, 0x02, 0x01, 0x1f, 0x00, 0xe0, 0x07,
                                           0x80, 0x40};
    static const uint8_t solid_tile[] = {0x20, 0, 0, 0, 15, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
                                         0, 1, 0, 0, 0x01, 0x34, 0x12};
    /* Unknown type 0x30 flagged optional: skipped. */
    static const uint8_t optional[] = {0x30, 1, 0, 0, 2, 0, 0, 0, 0xaa, 0xbb};
    /* FRAME_END surface 3, seq 1, pts 0. */
    static const uint8_t frame_end[] = {0x21, 0, 0, 0, 24, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
                                        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t destroy[] = {0x12, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0};
    uint8_t pkt[256];
    size_t n = 0, cap = 0;
#define PUT(m) (memcpy(pkt + n, m, sizeof(m)), n += sizeof(m))
    PUT(hello), PUT(reset), PUT(create), PUT(optional), PUT(tile), PUT(frame_end);
    int ret = fuzz_append_packet(&in->data, &in->size, &cap, pkt, n);
    n = 0;
    /* Two frames in one packet: only the latest image comes out. */
    PUT(palette_tile), PUT(frame_end), PUT(optional), PUT(solid_tile), PUT(frame_end);
    ret |= fuzz_append_packet(&in->data, &in->size, &cap, pkt, n);
    ret |= fuzz_append_packet(&in->data, &in->size, &cap, destroy, sizeof(destroy));
#undef PUT
    snprintf(in->name, sizeof(in->name), "handwritten");
    return ret < 0 ? VD_ERR(ENOMEM) : 0;
}

void fuzz_seeds_free(fuzz_seeds *seeds)
{
    for (size_t i = 0; i < seeds->count; i++)
        free(seeds->inputs[i].data);
    free(seeds->inputs);
    *seeds = (fuzz_seeds){0};
}

int fuzz_seeds_make(fuzz_seeds *seeds)
{
    size_t max = TU_ARRAY_SIZE(scripts) + 2;
    *seeds = (fuzz_seeds){0};
    seeds->inputs = calloc(max, sizeof(*seeds->inputs));
    if (!seeds->inputs)
        return VD_ERR(ENOMEM);
    int ret = handwritten(&seeds->inputs[seeds->count++]);
    for (size_t i = 0; i < TU_ARRAY_SIZE(scripts) && ret >= 0; i++) {
        ret = run_script(&scripts[i], 0x5eed0000u + i, &seeds->inputs[seeds->count]);
        if (ret == VD_ERR(ENOTSUP)) { /* decoder-only build */
            ret = 0;
            break;
        }
        seeds->count++;
    }
    if (ret >= 0 && seeds->count == max - 1) {
        ret = video_seed(&seeds->inputs[seeds->count]);
        seeds->count += ret >= 0;
    }
    if (ret < 0)
        fuzz_seeds_free(seeds);
    return ret;
}
