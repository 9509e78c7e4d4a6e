/* The lossless tile codec, its cache mirror, the COPY message and what a STREAM_FRAME shows:
 * every mode round trips bit-exactly and is chosen where it should be, the history and cache
 * survive many runs, and every kind of bad payload is refused.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include <lz4.h>

#include "../codec/tile_cache.h"
#include "../codec/tile_codec.h"
#include "../lib/damage_dsp.h"
#include "../lib/wire.h"
#include "testutil.h"

#define W (64 * VD_TILE_RUN_MAX)
#define SLOTS 64

enum content { FLAT, TWO, FEW, MANY, GRADIENT, SMOOTH_NOISE, DIAGONAL, NOISE, RUNS, CONTENT_COUNT };

static void fill(uint8_t *img, size_t stride, int w, int h, int bpp, enum content c, tu_rng *r)
{
    uint32_t pal[300];
    for (int i = 0; i < 300; i++)
        pal[i] = tu_rng_u32(r);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t v;
            switch (c) {
            case FLAT: v = pal[0]; break;
            case TWO: v = pal[(x * 7 + y * 3) % 11 < 4]; break;
            case FEW: v = pal[tu_rng_below(r, 3 + (uint32_t)(y % 14))]; break;
            case MANY: v = pal[tu_rng_below(r, 300)]; break;
            case GRADIENT: v = (uint32_t)(x * 4) | (uint32_t)(y * 4) << 8 | (uint32_t)(x + y) << 16; break;
            case DIAGONAL: /* edges across the grid: MED predicts them, "above" does not */
                v = (uint32_t)(((x + y) / 7 % 2) * 90 + tu_rng_below(r, 3) + x) * 0x010101u;
                break;
            case SMOOTH_NOISE: /* a photo: a ramp with a little noise */
                v = (uint32_t)(x * 3 + tu_rng_below(r, 6)) | (uint32_t)(y * 2 + tu_rng_below(r, 6)) << 8 |
                    (uint32_t)(x + y + tu_rng_below(r, 6)) << 16;
                break;
            case RUNS: /* flat areas and strokes of a few colours: runs across rows */
                v = pal[(x / 5 + y / 3) % 4 == 0 ? 1 + (x * 3 + y) % 6 : 0];
                break;
            default: v = tu_rng_u32(r); break;
            }
            uint8_t *p = img + (size_t)y * stride + (size_t)x * (size_t)bpp;
            if (bpp == 4)
                memcpy(p, &v, 4);
            else
                p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
        }
}

static void check_equal(const uint8_t *img, size_t stride, const uint8_t *out, int w, int h,
                        int bpp, int has_x, const char *what)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * bpp; x++) {
            uint8_t a = img[(size_t)y * stride + (size_t)x], b = out[(size_t)y * (size_t)w * (size_t)bpp + (size_t)x];
            if (has_x && x % 4 == 3)
                a = 0xff;
            CHECK(a == b, "%s: byte %d of row %d: %02x, decoded %02x", what, x, y, a, b);
        }
}

/* Random runs of every content, size and format, through one encoder and decoder pair. */
static void test_roundtrip(void)
{
    static const struct { int bpp, has_x; } formats[] = {{4, 1}, {4, 0}, {2, 0}};
    size_t stride = (size_t)W * 4 + 12;
    uint8_t *img = malloc(stride * 64), *out = malloc((size_t)W * 64 * 4);
    uint8_t *payload = malloc(vd_tile_max_payload(W, 64, 4));
    CHECK(img && out && payload, "out of memory");
    for (size_t f = 0; f < TU_ARRAY_SIZE(formats); f++) {
        int bpp = formats[f].bpp, has_x = formats[f].has_x;
        vd_tile_encoder *te = vd_tile_encoder_new();
        vd_tile_decoder *td = vd_tile_decoder_new(SLOTS);
        vd_tile_cache *cache = vd_tile_cache_new(SLOTS);
        CHECK(te && td && cache, "out of memory");
        CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");
        tu_rng r = tu_rng_init(0x7113 + f);
        vd_tile_counts counts = {0};
        for (int it = 0; it < 1500; it++) {
            int w = tu_rng_below(&r, 2) ? 64 * (1 + (int)tu_rng_below(&r, VD_TILE_RUN_MAX))
                                       : 1 + (int)tu_rng_below(&r, W);
            int h = tu_rng_below(&r, 3) ? 64 : 1 + (int)tu_rng_below(&r, 64);
            enum content c = (enum content)tu_rng_below(&r, CONTENT_COUNT);
            /* Every fourth run repeats content seen before: cache hits. */
            tu_rng content_rng = tu_rng_init(it % 4 == 3 ? (uint64_t)(it - 3) : (uint64_t)it * 977);
            fill(img, stride, w, h, bpp, c, &content_rng);
            uint8_t encoding;
            size_t n = vd_tile_encode(te, cache, img, stride, w, h, bpp, has_x, payload, &encoding, &counts);
            CHECK(n <= vd_tile_max_payload(w, h, bpp), "payload %zu over its bound", n);
            int ret = vd_tile_decode(td, encoding, payload, n, w, h, bpp, has_x, out);
            CHECK(ret == 0, "run %d (%dx%d, content %d, bpp %d): %s", it, w, h, c, bpp, vd_strerror(ret));
            check_equal(img, stride, out, w, h, bpp, has_x, "roundtrip");
        }
        CHECK(counts.solid && counts.palette && counts.palette_rle && counts.palette_rle < counts.palette &&
                  counts.cached && counts.stored,
              "bpp %d: modes solid %u palette %u (RLE %u) cached %u stored %u", bpp, counts.solid,
              counts.palette, counts.palette_rle, counts.cached, counts.stored);
        /* Noise: raw where bit packing cannot win (2 bytes per pixel, or a real alpha). */
        CHECK(bpp == 4 || counts.raw, "no raw tile at bpp 2");
        CHECK(bpp == 2 || (counts.predict && counts.packed > counts.packed_med && counts.packed_med),
              "bpp 4: predict %u packed %u (MED %u)", counts.predict, counts.packed, counts.packed_med);
        vd_tile_encoder_free(&te);
        vd_tile_decoder_free(&td);
        vd_tile_cache_free(&cache);
    }
    free(img);
    free(out);
    free(payload);
}

/* One 64 x 64 tile of the given content: the mode the encoder picks. */
static void test_mode_choice(void)
{
    static const struct { enum content c; uint8_t mode; } cases[] = {
        {FLAT, VD_TILE_MODE_SOLID}, {TWO, VD_TILE_MODE_PALETTE}, {FEW, VD_TILE_MODE_PALETTE},
        {RUNS, VD_TILE_MODE_PALETTE_RLE},
        {GRADIENT, VD_TILE_MODE_PREDICT}, {SMOOTH_NOISE, VD_TILE_MODE_PACKED},
        {NOISE, VD_TILE_MODE_PACKED}};
    uint8_t img[64 * 64 * 4], payload[70000];
    for (size_t i = 0; i < TU_ARRAY_SIZE(cases); i++) {
        vd_tile_encoder *te = vd_tile_encoder_new();
        CHECK(te, "out of memory");
        tu_rng r = tu_rng_init(i);
        fill(img, 256, 64, 64, 4, cases[i].c, &r);
        uint8_t encoding;
        vd_tile_counts counts = {0};
        vd_tile_encode(te, NULL, img, 256, 64, 64, 4, 1, payload, &encoding, &counts);
        CHECK(payload[0] == cases[i].mode, "content %d coded as mode %u, not %u", cases[i].c,
              payload[0], cases[i].mode);
        vd_tile_encoder_free(&te);
    }
}

static int decode_bytes(vd_tile_decoder *td, uint8_t encoding, const uint8_t *p, size_t n, int w,
                        int h, uint8_t *out)
{
    return vd_tile_decode(td, encoding, p, n, w, h, 4, 1, out);
}

static void test_bad_payloads(void)
{
    uint8_t img[64 * 64 * 4], out[64 * 64 * 4], payload[70000], bad[70000];
    vd_tile_encoder *te = vd_tile_encoder_new();
    vd_tile_decoder *td = vd_tile_decoder_new(SLOTS);
    CHECK(te && td, "out of memory");

    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, (const uint8_t[]){1, 0, 0, 0, 0}, 5, 64, 64, out) ==
              VD_ERR(EBADMSG), "a tile before any codec reset");
    CHECK(vd_tile_decoder_reset(td, SLOTS + 1) == VD_ERR(EBADMSG), "more slots than granted");
    CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");

    /* Every truncation and an extra byte of each content's payload. */
    for (int c = 0; c < CONTENT_COUNT; c++) {
        tu_rng r = tu_rng_init(100 + (uint64_t)c);
        fill(img, 256, 64, 64, 4, (enum content)c, &r);
        uint8_t encoding;
        vd_tile_counts counts = {0};
        vd_tile_encoder_reset(te);
        size_t n = vd_tile_encode(te, NULL, img, 256, 64, 64, 4, 1, payload, &encoding, &counts);
        for (size_t cut = 0; cut < n; cut += 1 + cut / 16) {
            CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");
            CHECK(decode_bytes(td, encoding, payload, cut, 64, 64, out) == VD_ERR(EBADMSG),
                  "content %d cut to %zu of %zu bytes accepted", c, cut, n);
        }
        memcpy(bad, payload, n);
        bad[n] = 0;
        CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");
        CHECK(decode_bytes(td, encoding, bad, n + 1, 64, 64, out) == VD_ERR(EBADMSG),
              "content %d with a byte too many accepted", c);
        CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");
        CHECK(decode_bytes(td, encoding, payload, n, 64, 64, out) == 0, "content %d intact", c);
    }

    CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");
    /* 3 colours at 2 bits: index 3 is beyond the palette. */
    uint8_t three[2 + 12 + 16 * 64] = {VD_TILE_MODE_PALETTE, 2};
    memset(three + 14, 0x55, 16 * 64);
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, three, sizeof(three), 64, 64, out) == 0, "3 colours");
    three[14 + 100] = 0xc0;
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, three, sizeof(three), 64, 64, out) == VD_ERR(EBADMSG),
          "an index beyond the palette accepted");
    /* 200 colours at 8 bits: index 200. */
    static uint8_t many[2 + 800 + 4096] = {VD_TILE_MODE_PALETTE, 199};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, many, sizeof(many), 64, 64, out) == 0, "200 colours");
    many[2 + 800 + 4095] = 200;
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, many, sizeof(many), 64, 64, out) == VD_ERR(EBADMSG),
          "index 200 of 200 colours accepted");

    /* Cache slots: never filled, out of range, filled then referenced, wrong size. */
    uint8_t ref[3] = {VD_TILE_MODE_CACHED, 5, 0};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref, 3, 64, 64, out) == VD_ERR(EBADMSG),
          "a slot never filled accepted");
    uint8_t store[8] = {VD_TILE_MODE_SOLID | VD_TILE_MODE_STORE, 1, 2, 3, 4, 5, 0};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, store, 7, 64, 64, out) == 0, "store in slot 5");
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref, 3, 64, 64, out) == 0, "slot 5 filled");
    CHECK(out[4 * 4095] == 1 && out[4 * 4095 + 2] == 3, "slot 5 content");
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref, 3, 64, 32, out) == VD_ERR(EBADMSG),
          "a 64x64 slot for a 64x32 tile accepted");
    store[5] = SLOTS;
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, store, 7, 64, 64, out) == VD_ERR(EBADMSG),
          "a store beyond the slots accepted");
    uint8_t repeat_first[1] = {VD_TILE_MODE_SOLID_REPEAT};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, repeat_first, 1, 64, 64, out) == VD_ERR(EBADMSG),
          "SOLID_REPEAT with no SOLID before it accepted");
    uint8_t solid_twice[6] = {VD_TILE_MODE_SOLID, 7, 8, 9, 0xff, VD_TILE_MODE_SOLID_REPEAT};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, solid_twice, 6, 128, 32, out) == 0 && /* fits out[] */
              out[4 * 127] == 7 && out[4 * 127 + 2] == 9, "SOLID then SOLID_REPEAT");
    uint8_t next_first[1] = {VD_TILE_MODE_CACHED_NEXT};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, next_first, 1, 64, 64, out) == VD_ERR(EBADMSG),
          "CACHED_NEXT with no slot before it accepted");
    uint8_t ref_then_next[4] = {VD_TILE_MODE_CACHED, 4, 0, VD_TILE_MODE_CACHED_NEXT};
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref_then_next + 3, 1, 64, 64, out) == VD_ERR(EBADMSG),
          "CACHED_NEXT alone accepted");
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref_then_next, 4, 128, 64, out) == VD_ERR(EBADMSG),
          "slot 4, never filled, then 5 accepted");
    /* PACKED: a block width of 9 bits, and data cut short. */
    static uint8_t packed[1 + 3 * (128 + 2 * 256)] = {VD_TILE_MODE_PACKED};
    for (int pl = 0; pl < 3; pl++)
        memset(packed + 1 + pl * (128 + 512), 0x11, 128); /* every block 1 bit wide */
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, packed, sizeof(packed), 64, 64, out) == 0, "packed");
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, packed, sizeof(packed) - 1, 64, 64, out) == VD_ERR(EBADMSG),
          "packed data cut short accepted");
    packed[1 + 5] = 0x91;
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, packed, sizeof(packed), 64, 64, out) == VD_ERR(EBADMSG),
          "a 9-bit block accepted");
    for (uint8_t m = 11; m <= 15; m++) {
        uint8_t unknown[5] = {m, 0, 0, 0, 0};
        CHECK(decode_bytes(td, VD_TILE_BULK_RAW, unknown, 5, 64, 64, out) == VD_ERR(EBADMSG), "mode %u", m);
    }
    CHECK(decode_bytes(td, 7, store, 7, 64, 64, out) == VD_ERR(EBADMSG), "bulk encoding 7");

    /* After bad input the history is gone: refused until the next reset. */
    vd_tile_decoder_invalidate(td);
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref, 3, 64, 64, out) == VD_ERR(EBADMSG),
          "a tile after invalidation accepted");
    CHECK(vd_tile_decoder_reset(td, SLOTS) == 0, "reset");
    CHECK(decode_bytes(td, VD_TILE_BULK_RAW, ref, 3, 64, 64, out) == VD_ERR(EBADMSG),
          "a slot from before the reset accepted");
    vd_tile_encoder_free(&te);
    vd_tile_decoder_free(&td);
}

/* PALETTE_RLE's index bits: the fewest for the colours. */
static int rle_index_bits(int colours)
{
    int ib = 1;
    while ((1 << ib) < colours)
        ib++;
    return ib;
}

/* PALETTE_RLE's runs as docs/protocol.md (section 9) defines them, written apart from the
 * encoder's; returns the bytes. */
static size_t rle_runs(uint8_t *out, const uint8_t *idx, size_t n, int colours)
{
    int ib = rle_index_bits(colours);
    size_t s = (size_t)1 << (7 - ib), o = 0;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && idx[j] == idx[i]; j++)
            ;
        size_t len = j - i;
        if (len <= s) {
            out[o++] = (uint8_t)(idx[i] | (len - 1) << ib);
            continue;
        }
        size_t e = len - s - 1;
        out[o++] = (uint8_t)(0x80 | idx[i] | (e % s) << ib);
        if (e / s < 128) {
            out[o++] = (uint8_t)(e / s);
        } else {
            out[o++] = (uint8_t)(0x80 | (e / s - 128) % 128);
            out[o++] = (uint8_t)((e / s - 128) / 128);
        }
    }
    return o;
}

/* PALETTE_RLE payloads built by hand, stored bulk: every run length form at every colour
 * count decodes at 4 and 2 bytes per pixel; cuts, extra bytes, runs too long or too short,
 * indices beyond the palette and colour counts out of range are refused, also when another
 * tile of the run follows. */
static void test_palette_rle(void)
{
    static const int colour_counts[] = {2, 3, 4, 5, 16, 17, 33, 64, 65, 100, 127};
    static uint8_t payload[2 + 127 * 4 + 4 * 4096 + 64], bad[sizeof(payload)];
    static uint8_t idx[64 * 64 + 1], out[64 * 64 * 4], want[64 * 64 * 4];
    vd_tile_decoder *td = vd_tile_decoder_new(SLOTS);
    CHECK(td && vd_tile_decoder_reset(td, SLOTS) == 0, "decoder");
    tu_rng r = tu_rng_init(10);
    for (size_t c = 0; c < TU_ARRAY_SIZE(colour_counts); c++)
        for (int bpp = 4; bpp >= 2; bpp -= 2)
            for (int shape = 0; shape < 3; shape++) {
                int colours = colour_counts[c], ib = rle_index_bits(colours);
                int tw = shape == 2 ? 17 : 64, th = shape == 1 ? 64 : 5 + (int)c;
                size_t n = (size_t)tw * (size_t)th, s = (size_t)1 << (7 - ib); /* the longest short run */
                if (shape == 1 && colours > 2) { /* one run of 4096: 3 bytes from 5 colours on */
                    memset(idx, colours - 1, n);
                } else { /* runs at the limits of each form (equal neighbours are allowed) */
                    const size_t lens[] = {1, 2, s, s + 1, 128 * s, 128 * s + 1, 129 * s, 129 * s + 1, 7, 300};
                    for (size_t i = 0, len; i < n; i += len) {
                        len = lens[tu_rng_below(&r, TU_ARRAY_SIZE(lens))];
                        len = len < n - i ? len : n - i;
                        memset(idx + i, (int)tu_rng_below(&r, (uint32_t)colours), len);
                    }
                }
                uint8_t *p = payload;
                *p++ = VD_TILE_MODE_PALETTE_RLE;
                *p++ = (uint8_t)(colours - 1);
                uint8_t pal[127 * 4];
                for (int k = 0; k < colours * bpp; k++)
                    pal[k] = (uint8_t)tu_rng_u32(&r);
                memcpy(p, pal, (size_t)(colours * bpp));
                p += colours * bpp;
                p += rle_runs(p, idx, n, colours);
                size_t size = (size_t)(p - payload);
                for (size_t k = 0; k < n; k++)
                    memcpy(want + k * (size_t)bpp, pal + idx[k] * bpp, (size_t)bpp);
                int ret = vd_tile_decode(td, VD_TILE_BULK_RAW, payload, size, tw, th, bpp, 0, out);
                CHECK(ret == 0 && !memcmp(out, want, n * (size_t)bpp),
                      "%d colours, %dx%d at bpp %d: %s", colours, tw, th, bpp, vd_strerror(ret));
                for (size_t cut = 0; cut < size; cut += 1 + (cut > 600) * cut / 64)
                    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, payload, cut, tw, th, bpp, 0, out) ==
                              VD_ERR(EBADMSG), "%d colours cut to %zu of %zu bytes accepted", colours, cut, size);
                memcpy(bad, payload, size);
                bad[size] = 0;
                CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, bad, size + 1, tw, th, bpp, 0, out) == VD_ERR(EBADMSG),
                      "%d colours with a byte too many accepted", colours);
                /* A pixel more (the last run longer) or less. */
                for (int d = -1; d <= 1; d += 2) {
                    idx[n] = idx[n - 1];
                    size_t runs = rle_runs(bad + 2 + colours * bpp, idx, d > 0 ? n + 1 : n - 1, colours);
                    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, bad, 2 + (size_t)(colours * bpp) + runs, tw, th,
                                         bpp, 0, out) == VD_ERR(EBADMSG),
                          "%d colours: %zu pixels accepted", colours, n + (size_t)d);
                }
                /* An index past the palette, where the index bits allow one. */
                if (colours & (colours - 1)) {
                    memcpy(bad, payload, size);
                    size_t at = 2 + (size_t)(colours * bpp);
                    bad[at] = (uint8_t)((bad[at] & ~((1u << ib) - 1)) | (unsigned)colours);
                    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, bad, size, tw, th, bpp, 0, out) == VD_ERR(EBADMSG),
                          "%d colours: index %d accepted", colours, colours);
                }
            }

    /* Colour counts out of range: 1 and 128. */
    uint8_t one[8] = {VD_TILE_MODE_PALETTE_RLE, 0, 1, 2, 3, 4, 0xff, 0x3f};
    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, one, 8, 64, 64, 4, 0, out) == VD_ERR(EBADMSG), "1 colour");
    static uint8_t wide[2 + 128 * 4 + 64] = {VD_TILE_MODE_PALETTE_RLE, 127}; /* 64 pixels of index 0 */
    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, wide, sizeof(wide), 64, 1, 4, 0, out) == VD_ERR(EBADMSG),
          "128 colours");
    wide[1] = 126;
    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, wide, sizeof(wide) - 4, 64, 1, 4, 0, out) == 0, "127 colours");

    /* Two tiles: 64 pixels of index 1 in one run, then a RAW tile 1 x 1 (4 bytes), stored and
     * through LZ4; then the RAW tile's byte short, and one byte too many. */
    uint8_t two[3 + 8 + 1 + 4] = {VD_TILE_MODE_PALETTE_RLE, 1, VD_TILE_MODE_RAW, 1, 2, 3, 4, 5, 6, 7, 8,
                                  1 | 63 << 1, 9, 9, 9, 9};
    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, two, sizeof(two), 65, 1, 4, 0, out) == 0 &&
              !memcmp(out + 4 * 63, (const uint8_t[]){5, 6, 7, 8, 9, 9, 9, 9}, 8), "PALETTE_RLE, RAW");
    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, two, sizeof(two) - 1, 65, 1, 4, 0, out) == VD_ERR(EBADMSG),
          "a RAW tile cut short after PALETTE_RLE accepted");
    uint8_t lz[64];
    int lz_size = LZ4_compress_default((const char *)two + 3, (char *)lz + 3, (int)sizeof(two) - 3, 61);
    memcpy(lz, two, 3);
    CHECK(lz_size > 0 && vd_tile_decode(td, VD_TILE_BULK_LZ4, lz, 3 + (size_t)lz_size, 65, 1, 4, 0, out) == 0 &&
              !memcmp(out + 4 * 63, (const uint8_t[]){5, 6, 7, 8, 9, 9, 9, 9}, 8), "PALETTE_RLE, RAW through LZ4");
    uint8_t extra[sizeof(two) + 1];
    memcpy(extra, two, sizeof(two));
    extra[sizeof(two)] = 9;
    lz_size = LZ4_compress_default((const char *)extra + 3, (char *)lz + 3, (int)sizeof(extra) - 3, 61);
    CHECK(lz_size > 0 && vd_tile_decode(td, VD_TILE_BULK_LZ4, lz, 3 + (size_t)lz_size, 65, 1, 4, 0, out) ==
                             VD_ERR(EBADMSG), "a byte too many through LZ4 accepted");
    CHECK(vd_tile_decode(td, VD_TILE_BULK_RAW, extra, sizeof(extra), 65, 1, 4, 0, out) == VD_ERR(EBADMSG),
          "a byte too many after PALETTE_RLE, RAW accepted");
    vd_tile_decoder_free(&td);
}

/* The mirror against a plain model: LRU order, eviction, the table's deletions, and slots
 * forgotten by stamp (a resume), which are reused first, the last forgotten first. */
static void test_cache_lru(void)
{
    enum { N = 37, NONE = -1 };
    vd_tile_cache *c = vd_tile_cache_new(N);
    CHECK(c, "out of memory");
    int64_t model_key[N];
    int64_t model_age[N];
    uint64_t model_stamp[N];
    int used = 0;
    int64_t clock = 0, forgotten_clock = 0;
    uint64_t stamp = 0;
    tu_rng r = tu_rng_init(42);
    for (int it = 0; it < 20000; it++) {
        if (it % 50 == 0)
            vd_tile_cache_set_stamp(c, ++stamp);
        if (it % 700 == 699) {
            uint64_t after = stamp - tu_rng_below(&r, 4);
            uint32_t expect = 0;
            for (int i = 0; i < used; i++) /* in slot order, each to the LRU's end */
                if (model_key[i] != NONE && model_stamp[i] > after) {
                    model_key[i] = NONE;
                    model_age[i] = --forgotten_clock;
                    expect++;
                }
            uint32_t n = vd_tile_cache_forget_after(c, after);
            CHECK(n == expect, "iteration %d: forgot %u slots, model %u", it, n, expect);
        }
        /* Few distinct keys with clustered low bits: long probe chains, many evictions. */
        int64_t k = (int64_t)tu_rng_below(&r, 90) * 1024;
        vd_tile_key key = {(uint64_t)k, ~(uint64_t)k};
        int32_t slot = vd_tile_cache_find(c, &key);
        int m = -1;
        for (int i = 0; i < used; i++)
            if (model_key[i] == k)
                m = i;
        CHECK((slot >= 0) == (m >= 0), "iteration %d: key %lld found %d, model %d", it,
              (long long)k, slot, m);
        if (slot >= 0) {
            CHECK(slot == m, "slot %d, model %d", slot, m);
            model_age[m] = ++clock;
            continue;
        }
        uint32_t s = vd_tile_cache_insert(c, &key);
        int expect = used;
        if (used == N) {
            expect = 0;
            for (int i = 1; i < N; i++)
                if (model_age[i] < model_age[expect])
                    expect = i;
        } else {
            used++;
        }
        CHECK((int)s == expect, "iteration %d: inserted in slot %u, the LRU is %d", it, s, expect);
        model_key[s] = k;
        model_age[s] = ++clock;
        model_stamp[s] = stamp;
    }
    CHECK(forgotten_clock < -10, "the test forgot only %lld slots", (long long)-forgotten_clock);
    vd_tile_cache_reset(c);
    vd_tile_key key = {0, ~(uint64_t)0};
    CHECK(vd_tile_cache_find(c, &key) < 0, "a key after reset");
    vd_tile_cache_free(&c);
}

/* COPY through the decoder: applied at the frame end from the image before the frame, and
 * refused outside the surface with the image kept. */
static void test_copy_message(void)
{
    vd_decoder *dec;
    CHECK(vd_decoder_new(NULL, &dec) == 0, "decoder");
    vd_buf b = {0};
    vd_msg_surface surf = {1, 128, 128, VD_FORMAT_BGRX8888};
    /* Two solid runs: the top tile row white, the rest black. */
    CHECK(vd_wire_put_hello(&b) == 0 && vd_wire_put_codec_reset(&b, 0, 0) == 0 &&
              vd_wire_put_surface(&b, VD_MSG_SURFACE_CREATE, &surf) == 0, "writing");
    for (int ty = 0; ty < 2; ty++) {
        uint8_t *p = vd_wire_begin_tile(&b, 1, 0, (uint16_t)ty, 2, 0, 0, 16);
        CHECK(p, "writing");
        uint8_t v = ty ? 0 : 0xff;
        const uint8_t run[10] = {VD_TILE_MODE_SOLID, v, v, v, 0xff, VD_TILE_MODE_SOLID, v, v, v, 0xff};
        memcpy(p, run, sizeof(run));
        vd_wire_end_tile(&b, VD_TILE_BULK_RAW, sizeof(run));
    }
    vd_msg_frame_end fe = {1, 1, 0};
    CHECK(vd_wire_put_frame_end(&b, &fe) == 0, "writing");
    CHECK(vd_decoder_send_packet(dec, b.data, b.size) == 0, "first frame");
    vd_image img;
    CHECK(vd_decoder_receive_image(dec, &img) == 0, "first image");

    /* Scroll up by 10 rows and, in the same frame, copy the old top-left 8x8 (white) to the
     * bottom right: both read the image before the frame. */
    b.size = 0;
    vd_msg_copy scroll = {1, 0, 10, 0, 0, 128, 118}, corner = {1, 0, 0, 120, 120, 8, 8};
    fe.frame_seq = 2;
    CHECK(vd_wire_put_copy(&b, &scroll) == 0 && vd_wire_put_copy(&b, &corner) == 0 &&
              vd_wire_put_frame_end(&b, &fe) == 0, "writing");
    CHECK(vd_decoder_send_packet(dec, b.data, b.size) == 0, "copy frame");
    CHECK(vd_decoder_receive_image(dec, &img) == 0, "copy image");
    CHECK(img.data[(size_t)53 * img.stride] == 0xff && img.data[(size_t)54 * img.stride] == 0,
          "scrolled edge at row 54");
    CHECK(img.data[(size_t)125 * img.stride + 125 * 4] == 0xff, "corner copied from before the scroll");

    uint8_t *before = malloc((size_t)img.stride * 128);
    CHECK(before, "out of memory");
    memcpy(before, img.data, (size_t)img.stride * 128);
    static const vd_msg_copy bad[] = {
        {1, 0, 0, 0, 0, 0, 1}, {1, 100, 0, 0, 0, 29, 1}, {1, 0, 0, 0, 120, 1, 9},
        {1, 0xffffffffu, 0, 0, 0, 2, 2}, {2, 0, 0, 0, 0, 1, 1}};
    for (size_t i = 0; i < TU_ARRAY_SIZE(bad); i++) {
        b.size = 0;
        CHECK(vd_wire_put_copy(&b, &scroll) == 0 && vd_wire_put_copy(&b, &bad[i]) == 0 &&
                  vd_wire_put_frame_end(&b, &fe) == 0, "writing");
        CHECK(vd_decoder_send_packet(dec, b.data, b.size) == VD_ERR(EBADMSG), "bad copy %zu accepted", i);
        CHECK(vd_decoder_receive_image(dec, &img) == VD_ERR(EAGAIN), "an image after bad copy %zu", i);
    }
    /* A TILE band: rows 10 .. 43 of tile row 0 painted 0x40, the rest kept; then a band
     * with no rows left. */
    b.size = 0;
    CHECK(vd_wire_put_codec_reset(&b, 0, 0) == 0, "writing"); /* the refused copies invalidated */
    uint8_t *band = vd_wire_begin_tile(&b, 1, 0, 0, 1, 10, 20, 16);
    CHECK(band, "writing");
    const uint8_t grey[5] = {VD_TILE_MODE_SOLID, 0x40, 0x40, 0x40, 0xff};
    memcpy(band, grey, sizeof(grey));
    vd_wire_end_tile(&b, VD_TILE_BULK_RAW, sizeof(grey));
    fe.frame_seq = 3;
    CHECK(vd_wire_put_frame_end(&b, &fe) == 0, "writing");
    CHECK(vd_decoder_send_packet(dec, b.data, b.size) == 0, "band frame");
    CHECK(vd_decoder_receive_image(dec, &img) == 0, "band image");
    CHECK(img.data[(size_t)9 * img.stride] == before[(size_t)9 * img.stride] &&
              img.data[(size_t)10 * img.stride] == 0x40 && img.data[(size_t)43 * img.stride] == 0x40 &&
              img.data[(size_t)44 * img.stride] == before[(size_t)44 * img.stride],
          "band rows");
    memcpy(before, img.data, (size_t)img.stride * 128);
    b.size = 0;
    band = vd_wire_begin_tile(&b, 1, 0, 1, 1, 32, 32, 16);
    memcpy(band, grey, sizeof(grey));
    vd_wire_end_tile(&b, VD_TILE_BULK_RAW, sizeof(grey));
    CHECK(vd_wire_put_frame_end(&b, &fe) == 0, "writing");
    CHECK(vd_decoder_send_packet(dec, b.data, b.size) == VD_ERR(EBADMSG), "an empty band accepted");
    /* A copy on a surface whose geometry changes in the same frame. */
    b.size = 0;
    CHECK(vd_wire_put_surface(&b, VD_MSG_SURFACE_RESIZE, &surf) == 0 && vd_wire_put_copy(&b, &scroll) == 0 &&
              vd_wire_put_frame_end(&b, &fe) == 0, "writing");
    CHECK(vd_decoder_send_packet(dec, b.data, b.size) == VD_ERR(EBADMSG), "copy after resize accepted");
    CHECK(memcmp(before, img.data, (size_t)img.stride * 128) == 0, "image changed by refused copies");
    free(before);
    vd_buf_free(&b);
    vd_decoder_free(&dec);
}

/* The SIMD palette kernel against its C reference: every width, random colours and nibbles. */
static void test_unpack4(void)
{
    if (!(vd_cpu_flags() & VD_CPU_AVX2)) {
        printf("tile codec: no AVX2 here, the 4-bit unpack kernel is not compared\n");
        return;
    }
    tu_rng r = tu_rng_init(4);
    uint8_t in[32 + 8], want[64 * 4 + 16], got[64 * 4 + 16];
    uint32_t pal[16];
    for (int it = 0; it < 20000; it++) {
        int tw = 1 + (int)tu_rng_below(&r, 64);
        for (int i = 0; i < 16; i++)
            pal[i] = tu_rng_u32(&r);
        unsigned limit = 1 + tu_rng_below(&r, 16); /* nibbles below it: the largest varies */
        for (size_t i = 0; i < sizeof(in); i++)
            in[i] = (uint8_t)(tu_rng_below(&r, limit) << 4 | tu_rng_below(&r, limit));
        memset(want, 0xa5, sizeof(want));
        memset(got, 0xa5, sizeof(got));
        unsigned top_want = vd_unpack4_row_c(want, in, tw, pal);
        unsigned top_got = vd_unpack4_row_avx2(got, in, tw, pal);
        CHECK(!memcmp(want, got, sizeof(want)) && top_want == top_got,
              "4-bit unpack of %d pixels differs from the C reference (largest index %u, %u)", tw,
              top_got, top_want);
    }
}

/* What a STREAM_FRAME shows of each block (bounds less cuts) for a 32 x 24 picture (2 x 2
 * blocks, the bottom ones 8 rows high), as it is and packed, and every malformed variant
 * refused. */
static void test_stream_frame_shown(void)
{
    /* Blocks 0, 1 and 3 set; 0 and 3 partial; block 0 cut twice, block 3 not. */
    uint8_t body[] = {0x0b,                      /* mask: blocks 0, 1 and 3 */
                      0x09,                      /* partial: blocks 0 and 3 */
                      0x21, 0xfd,                /* block 0: x 1..13, y 2..15 */
                      0x00, 0x7f,                /* block 3: x 0..15, y 0..7 */
                      0x01,                      /* cut: the first partial block */
                      2, 0x21, 0x33, 0xcd, 0xfd, /* cuts 1..3 x 2..3 and 13 x 12..15 */
                      0xaa, 0xbb};               /* the coded picture */
    enum { SIDE = 12 };
    vd_msg_stream_frame sf = {.flags = VD_STREAM_FRAME_CUTS, .mask_size = 1, .data = body,
                              .size = sizeof(body)};
    vd_buf scratch = {0};
    uint16_t rows[64];
    const uint8_t *pic, *keep, *patch;
    uint32_t pic_size;
    for (int packed = 0; packed < 2; packed++) {
        uint8_t wire[64];
        if (packed) { /* the same side as one LZ4 block */
            int n = LZ4_compress_default((const char *)body, (char *)wire + 4, SIDE, 60);
            CHECK(n > 0, "LZ4");
            vd_wl32(wire, (uint32_t)n);
            memcpy(wire + 4 + n, body + SIDE, 2);
            sf = (vd_msg_stream_frame){.flags = VD_STREAM_FRAME_CUTS | VD_STREAM_FRAME_PACKED,
                                       .mask_size = 1, .data = wire, .size = 4 + (uint32_t)n + 2};
        }
        memset(rows, 0x55, sizeof(rows));
        CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) == 0 &&
                  pic_size == 2 && pic[0] == 0xaa && pic[1] == 0xbb,
              "a frame with cuts (packed %d)", packed);
        for (int r = 0; r < 16; r++) {
            unsigned want0 =
                r < 2 ? 0 : 0x3ffe & ~(r <= 3 ? 0x000eu : 0) & ~(r >= 12 ? 0x2000u : 0);
            CHECK(rows[r] == want0 && rows[16 + r] == 0xffff && rows[32 + r] == 0 &&
                      rows[48 + r] == (r < 8 ? 0xffff : 0),
                  "row %d: %04x %04x %04x %04x", r, rows[r], rows[16 + r], rows[32 + r],
                  rows[48 + r]);
        }
        if (packed) {
            /* A broken block, and a block that holds more than the side. */
            sf.size = 4 + vd_rl32(wire) - 1;
            CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) ==
                      VD_ERR(EBADMSG), "a truncated LZ4 block accepted");
            uint8_t longer[SIDE + 1];
            memcpy(longer, body, SIDE);
            longer[SIDE] = 0;
            int n = LZ4_compress_default((const char *)longer, (char *)wire + 4, SIDE + 1, 60);
            vd_wl32(wire, (uint32_t)n);
            sf.size = 4 + (uint32_t)n;
            CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) ==
                      VD_ERR(EBADMSG), "a packed side with a byte too many accepted");
        }
    }
    sf = (vd_msg_stream_frame){.flags = VD_STREAM_FRAME_CUTS, .mask_size = 1, .data = body,
                               .size = sizeof(body)};
    CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, NULL, &scratch, &keep, &patch, &pic, &pic_size) == 0 &&
              pic == body + SIDE, "checking without rows");
    /* Without the flag the cut bytes are the picture. */
    sf.flags = 0;
    CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) == 0 &&
              pic == body + 6, "no cuts");
    sf.flags = VD_STREAM_FRAME_CUTS;
    struct {
        int at;
        uint8_t value;
        const char *what;
    } bad[] = {
        {7, 0, "no cuts"},
        {7, VD_STREAM_FRAME_MAX_CUTS + 1, "too many cuts"},
        {8, 0x20, "a cut left of the bounds"},
        {8, 0x11, "a cut above the bounds"},
        {9, 0x3e, "a cut right of the bounds"},
        {11, 0xfe, "a cut of the second right of the bounds"},
        {10, 0xce, "a cut of no width"},
        {1, 0x0d, "partial where the mask is not set"},
        {2, 0x2e, "bounds of no width"},
        {5, 0x8f, "bounds below a short block"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t copy[sizeof(body)];
        memcpy(copy, body, sizeof(body));
        copy[bad[i].at] = bad[i].value;
        sf.data = copy;
        CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) ==
                  VD_ERR(EBADMSG), "%s accepted", bad[i].what);
    }
    /* Truncated anywhere before the picture; a mask of the wrong size. */
    sf.data = body;
    for (uint32_t n = 0; n < SIDE; n++) {
        sf.size = n;
        CHECK(vd_wire_stream_frame_shown(&sf, 32, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) ==
                  VD_ERR(EBADMSG), "truncated to %u bytes accepted", n);
    }
    sf.size = sizeof(body);
    CHECK(vd_wire_stream_frame_shown(&sf, 80, 24, 4, rows, &scratch, &keep, &patch, &pic, &pic_size) ==
              VD_ERR(EBADMSG), "a mask for another picture size accepted");
    vd_buf_free(&scratch);
}

/* A STREAM_FRAME's keep and patch sections for a 24 x 24 picture (2 x 2 blocks, the right
 * ones 8 wide, the bottom ones 8 high): what they give, and every malformed variant refused. */
static void test_stream_frame_keep_patch(void)
{
    enum { KEEP_AT = 2, PATCH_AT = KEEP_AT + 1 + 64, PIC_AT = PATCH_AT + 1 + 32 + 8 };
    uint8_t body[PIC_AT + 2] = {
        0x01, /* mask: block 0 */
        0x00, /* partial: none */
        0x09, /* keep: blocks 0 and 3 */
    };
    for (int r = 0; r < 16; r++) {
        vd_wl16(body + KEEP_AT + 1 + 2 * r, (uint16_t)(r == 3 ? 0x00f0 : 0));
        vd_wl16(body + KEEP_AT + 33 + 2 * r, (uint16_t)(r < 8 ? 0x0081 : 0));
    }
    body[PATCH_AT] = 0x01; /* patch: block 0, pixels (1, 0) and (2, 5) */
    vd_wl16(body + PATCH_AT + 1, 0x0002);
    vd_wl16(body + PATCH_AT + 1 + 10, 0x0004);
    memcpy(body + PATCH_AT + 33, "\x11\x12\x13\x14\x21\x22\x23\x24", 8);
    body[PIC_AT] = 0xaa;
    body[PIC_AT + 1] = 0xbb;
    vd_msg_stream_frame sf = {.flags = VD_STREAM_FRAME_KEEP | VD_STREAM_FRAME_PATCH,
                              .mask_size = 1, .data = body, .size = sizeof(body)};
    vd_buf scratch = {0};
    uint16_t rows[64], keep_rows[64];
    uint8_t picture[24 * 96] = {0};
    const uint8_t *pic, *keep, *patch;
    uint32_t pic_size;
    CHECK(vd_wire_stream_frame_shown(&sf, 24, 24, 4, rows, &scratch, &keep, &patch, &pic,
                                     &pic_size) == 0 &&
              keep == body + KEEP_AT && patch == body + PATCH_AT && pic == body + PIC_AT &&
              pic_size == 2,
          "a frame with keep and patch sections");
    memset(keep_rows, 0x33, sizeof(keep_rows));
    vd_wire_stream_frame_keep(keep, 24, 24, keep_rows);
    for (int r = 0; r < 16; r++)
        CHECK(keep_rows[r] == (r == 3 ? 0x00f0 : 0) && keep_rows[16 + r] == 0x3333 &&
                  keep_rows[32 + r] == 0x3333 && keep_rows[48 + r] == (r < 8 ? 0x0081 : 0),
              "keep row %d", r);
    memset(rows, 0, sizeof(rows));
    vd_wire_stream_frame_patch(patch, 24, 24, 4, rows, picture, 96);
    CHECK(rows[0] == 0x0002 && rows[5] == 0x0004 && !memcmp(picture + 4, "\x11\x12\x13\x14", 4) &&
              !memcmp(picture + 5 * 96 + 8, "\x21\x22\x23\x24", 4) && picture[0] == 0 &&
              picture[12] == 0,
          "patched pixels");
    /* Without the flags those bytes are the picture. */
    sf.flags = VD_STREAM_FRAME_KEEP;
    CHECK(vd_wire_stream_frame_shown(&sf, 24, 24, 4, rows, &scratch, &keep, &patch, &pic,
                                     &pic_size) == 0 &&
              !patch && pic == body + PATCH_AT,
          "keep without patch");
    sf.flags = VD_STREAM_FRAME_KEEP | VD_STREAM_FRAME_PATCH;
    struct {
        int at;
        uint16_t value;
        const char *what;
    } bad[] = {
        {KEEP_AT + 33 + 2 * 8, 0x0001, "a kept pixel below a short block"},
        {KEEP_AT + 33, 0x0100, "a kept pixel right of a narrow block"},
        {PATCH_AT + 1 + 2 * 15, 0x0001, "more patched pixels than values"},
        {PATCH_AT, 0x0200, "a patched pixel right of a narrow block"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t copy[sizeof(body)];
        memcpy(copy, body, sizeof(body));
        if (bad[i].at == PATCH_AT) { /* block 1 instead of 0 */
            copy[PATCH_AT] = 0x02;
            vd_wl16(copy + PATCH_AT + 1, bad[i].value);
        } else {
            vd_wl16(copy + bad[i].at, bad[i].value);
        }
        sf.data = copy;
        int ret = vd_wire_stream_frame_shown(&sf, 24, 24, 4, rows, &scratch, &keep, &patch, &pic,
                                             &pic_size);
        /* A patch section that reads on into the picture may still fit: then the picture
         * is what is left, and shorter. */
        CHECK(ret == VD_ERR(EBADMSG) || (ret == 0 && pic_size < 2), "%s accepted", bad[i].what);
    }
    sf.data = body;
    for (uint32_t n = 0; n < PIC_AT; n++) {
        sf.size = n;
        CHECK(vd_wire_stream_frame_shown(&sf, 24, 24, 4, rows, &scratch, &keep, &patch, &pic,
                                         &pic_size) == VD_ERR(EBADMSG),
              "truncated to %u bytes accepted", n);
    }
    /* VD_STREAM_FRAME_MAX_PATCHED patched blocks, and one more: of a 320 x 256 picture's
     * 20 x 16 blocks, the first n patched by one pixel each, packed as the encoder sends it. */
    enum { BW = 20, BH = 16, BLOCKS = BW * BH, MS = BLOCKS / 8 };
    for (int n = VD_STREAM_FRAME_MAX_PATCHED; n <= VD_STREAM_FRAME_MAX_PATCHED + 1; n++) {
        size_t side = 3 * MS + (size_t)n * (32 + 4), big_size = 4 + LZ4_compressBound((int)side) + 1;
        uint8_t *raw = calloc(1, side), *big = calloc(1, big_size);
        CHECK(raw && big, "malloc");
        memset(raw, 0xff, MS); /* mask: all */
        for (int b = 0; b < n; b++) {
            raw[2 * MS + b / 8] |= (uint8_t)(1u << (b % 8));
            vd_wl16(raw + 3 * MS + (size_t)b * 36, 1);
        }
        int packed = LZ4_compress_default((const char *)raw, (char *)big + 4, (int)side,
                                          (int)big_size - 5);
        CHECK(packed > 0, "LZ4");
        vd_wl32(big, (uint32_t)packed);
        big[4 + packed] = 0xaa; /* the picture */
        sf = (vd_msg_stream_frame){.flags = VD_STREAM_FRAME_PATCH | VD_STREAM_FRAME_PACKED,
                                   .mask_size = MS, .data = big, .size = 4 + (uint32_t)packed + 1};
        int ret = vd_wire_stream_frame_shown(&sf, 16 * BW, 16 * BH, 4, NULL, &scratch, &keep,
                                             &patch, &pic, &pic_size);
        CHECK(n == VD_STREAM_FRAME_MAX_PATCHED ? ret == 0 && pic_size == 1 && *pic == 0xaa
                                               : ret == VD_ERR(EBADMSG),
              "%d patched blocks: %d", n, ret);
        free(raw);
        free(big);
    }
    vd_buf_free(&scratch);
}

int main(void)
{
    test_unpack4();
    test_stream_frame_keep_patch();
    test_roundtrip();
    test_mode_choice();
    test_bad_payloads();
    test_palette_rle();
    test_cache_lru();
    test_copy_message();
    test_stream_frame_shown();
    printf("tile codec: all checks passed\n");
    return 0;
}
