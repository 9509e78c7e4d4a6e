/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _DEFAULT_SOURCE /* madvise */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <lz4.h>
#include <xxhash.h>

#include <vd/common.h>

#include "../lib/damage_dsp.h"
#include "tile_codec.h"

#if defined(__x86_64__) || defined(__i386__)
#define VD_X86 1
#include <immintrin.h>
#else
#define VD_X86 0
#endif

#define TILE_PIXELS (64 * 64)
/* Bulk of one run at most: every tile raw at 4 bytes per pixel. */
#define RUN_BULK_MAX (VD_TILE_RUN_MAX * TILE_PIXELS * 4)
/* History, then room for one run's bulk; full, the last 64 KiB move to the front. */
#define RING_BYTES (VD_TILE_HISTORY + 2 * RUN_BULK_MAX)
/* A tile's header at most (PACKED data aside): mode, palette count or slot, store slot. */
#define TILE_HEADER_MAX (1 + 2 + 2)
#define PACK_BLOCK 16
/* A PACKED tile's block widths, at most: 4 planes of 256 blocks, a nibble each. */
#define PACKED_WIDTHS_MAX (4 * (TILE_PIXELS / PACK_BLOCK) / 2)
#define RLE_COLOURS_MAX 127 /* PALETTE_RLE: bit 7 of a run's first byte flags a long run */
#define RLE_SLACK 32        /* the decoder's stores past a tile's last pixel, at most */
#define PALETTE_TABLE 1024 /* open addressing for up to 256 colours: at most a quarter full */
#define X_BITS 0xff000000u
#define CHUNK_BYTES ((size_t)2 << 20)
#define SLOTS_PER_CHUNK (CHUNK_BYTES / VD_TILE_SLOT_BYTES)

struct vd_tile_encoder {
    LZ4_stream_t *lz4;
    uint8_t *ring;
    size_t ring_pos;
    uint32_t stamp; /* palette table entries of older tiles carry older stamps */
    struct {
        uint32_t colour, stamp, index;
    } table[PALETTE_TABLE];
    uint32_t px[TILE_PIXELS];
    uint8_t idx[TILE_PIXELS];
    uint32_t palette[256];
    /* build_palette(): the runs of equal pixels in raster order */
    uint8_t run_index[TILE_PIXELS];
    uint16_t run_len[TILE_PIXELS];
    int runs;
    uint8_t plane[4][TILE_PIXELS];
    uint8_t packed[PACKED_WIDTHS_MAX + 4 * TILE_PIXELS], packed_med[PACKED_WIDTHS_MAX + 4 * TILE_PIXELS];
    size_t packed_size;
    int packed_is_med;
    uint8_t trial[256 * 4 + TILE_PIXELS], trial_out[LZ4_COMPRESSBOUND(256 * 4 + TILE_PIXELS)];
    LZ4_stream_t lz4_state; /* for the palette's trial */
};

struct vd_tile_decoder {
    uint8_t *ring;
    size_t ring_pos;
    int ready; /* reset since the last bad input */
    uint32_t max_slots, n_slots;
    /* Slots live in chunks of SLOTS_PER_CHUNK, allocated when first filled: one 2 MiB huge
     * page where the system gives one, instead of a page fault every 4 KiB of a growing
     * cache (which cost about as much as decoding the tile). */
    uint8_t **chunk;
    uint32_t n_chunks;  /* chunks with memory, the first n_chunks */
    uint32_t *slot_shape; /* tile_shape() of the slot's tile; 0: empty */
    unsigned (*unpack4)(uint8_t *o, const uint8_t *in, int tw, const uint32_t *pal);
};

/* A cached tile's size and bytes per pixel, which a reference must match. */
static uint32_t tile_shape(int tw, int th, int bpp) { return (uint32_t)bpp | (uint32_t)tw << 8 | (uint32_t)th << 16; }


static void store_px(uint8_t *p, uint32_t v, int bpp)
{
    if (bpp == 4)
        vd_wl32(p, v);
    else
        vd_wl16(p, (uint16_t)v);
}

/* The history ring, its pages faulted in now: else they fault in as the history first grows,
 * a page or two inside each run's coding until the ring has filled once (a few microseconds
 * each; with PALETTE_RLE's smaller bulk that went on through vdbench's 200 frames of
 * 01-office). */
static uint8_t *ring_new(void)
{
    uint8_t *ring = malloc(RING_BYTES);
    for (size_t i = 0; ring && i < RING_BYTES; i += 4096)
        ((volatile uint8_t *)ring)[i] = 0; /* a memset of 0 could become calloc, which skips it */
    return ring;
}

vd_tile_encoder *vd_tile_encoder_new(void)
{
    vd_tile_encoder *te = calloc(1, sizeof(*te));
    if (!te)
        return NULL;
    te->lz4 = LZ4_createStream();
    te->ring = ring_new();
    if (!te->lz4 || !te->ring) {
        vd_tile_encoder_free(&te);
        return NULL;
    }
    return te;
}

void vd_tile_encoder_free(vd_tile_encoder **pte)
{
    if (!pte || !*pte)
        return;
    LZ4_freeStream((*pte)->lz4);
    free((*pte)->ring);
    free(*pte);
    *pte = NULL;
}

void vd_tile_encoder_reset(vd_tile_encoder *te)
{
    LZ4_resetStream_fast(te->lz4);
    te->ring_pos = 0;
}

size_t vd_tile_max_payload(int w, int h, int bpp)
{
    int count = (w + 63) / 64;
    /* PACKED data replaces bulk and is smaller than the raw pixels it stands for. */
    return (size_t)count * (TILE_HEADER_MAX + PACKED_WIDTHS_MAX) + (size_t)w * (size_t)h * (size_t)bpp +
           (size_t)LZ4_compressBound(w * h * bpp);
}

/* The tile's pixels as little-endian values, X bytes set. */
static void load_tile(vd_tile_encoder *te, const uint8_t *src, size_t stride, int tw, int th,
                      int bpp, int has_x)
{
    uint32_t x_bits = has_x ? X_BITS : 0, *d = te->px;
    for (int y = 0; y < th; y++, src += stride, d += tw) {
        if (bpp == 4)
            for (int x = 0; x < tw; x++)
                d[x] = vd_rl32(src + 4 * x) | x_bits;
        else
            for (int x = 0; x < tw; x++)
                d[x] = vd_rl16(src + 2 * x);
    }
}

/* The highest set bit of x > 0: 0 for 1, 12 for 4096. */
static inline unsigned top_bit(unsigned x) { return 31u - (unsigned)__builtin_clz(x); }

/* Colours in order of first appearance (so the same content gets the same indices, which
 * keeps it matchable in the history), the index of every pixel; 257 when there are more.
 * Records the runs for PALETTE_RLE: they are the changes this loop sees anyway. */
static int build_palette(vd_tile_encoder *te, int n)
{
    uint32_t stamp = ++te->stamp;
    if (stamp == 0) {
        memset(te->table, 0, sizeof(te->table));
        stamp = te->stamp = 1;
    }
    const uint32_t *px = te->px;
    uint32_t prev = ~px[0], prev_index = 0;
    int count = 0, start = 0, runs = 0;
    for (int i = 0; i < n; i++) {
        uint32_t c = px[i];
        if (c != prev) {
            if (i) {
                te->run_index[runs] = (uint8_t)prev_index;
                te->run_len[runs++] = (uint16_t)(i - start);
            }
            start = i;
            uint32_t h = (c * 0x9e3779b1u) >> 22;
            for (;; h = (h + 1) & (PALETTE_TABLE - 1)) {
                if (te->table[h].stamp != stamp) {
                    if (count == 256)
                        return 257;
                    te->table[h].stamp = stamp;
                    te->table[h].colour = c;
                    te->table[h].index = (uint32_t)count;
                    te->palette[count++] = c;
                    break;
                }
                if (te->table[h].colour == c)
                    break;
            }
            prev = c;
            prev_index = te->table[h].index;
        }
        te->idx[i] = (uint8_t)prev_index;
    }
    te->run_index[runs] = (uint8_t)prev_index;
    te->run_len[runs++] = (uint16_t)(n - start);
    te->runs = runs;
    return count;
}

/* PALETTE_RLE: index bits ib (enough for the colours), the rest of the 7 for short runs. */
static int rle_index_bits(int colours) { return (int)top_bit((unsigned)(colours - 1)) + 1; }

/* PALETTE_RLE's runs (docs/protocol.md, section 9): a byte of the index in its low ib bits
 * and, for runs of up to 2^(7 - ib) pixels, the length - 1 above it; bit 7 flags a longer run,
 * the rest of its length in 1 or 2 more bytes. */
static uint8_t *put_runs(const vd_tile_encoder *te, uint8_t *out, int ib)
{
    unsigned lb = 7u - (unsigned)ib;
    size_t short_max = (size_t)1 << lb;
    for (int r = 0; r < te->runs; r++) {
        size_t len = te->run_len[r];
        unsigned v = te->run_index[r];
        if (len <= short_max) {
            *out++ = (uint8_t)(v | (len - 1) << ib);
            continue;
        }
        size_t e = len - short_max - 1, q = e >> lb;
        *out++ = (uint8_t)(0x80 | v | (e & (short_max - 1)) << ib);
        if (q < 128) {
            *out++ = (uint8_t)q;
        } else {
            q -= 128;
            *out++ = (uint8_t)(0x80 | (q & 0x7f));
            *out++ = (uint8_t)(q >> 7);
        }
    }
    return out;
}

static int index_bits(int colours) { return colours <= 2 ? 1 : colours <= 4 ? 2 : colours <= 16 ? 4 : 8; }

static size_t packed_row_bytes(int tw, int bits) { return ((size_t)tw * (size_t)bits + 7) / 8; }

/* Index rows, most significant bits first, each row padded to whole bytes. */
static uint8_t *pack_indices(uint8_t *out, const uint8_t *idx, int tw, int th, int bits)
{
    if (bits == 8) {
        memcpy(out, idx, (size_t)tw * (size_t)th);
        return out + (size_t)tw * (size_t)th;
    }
    int per = 8 / bits;
    for (int y = 0; y < th; y++, idx += tw) {
        for (int x = 0; x < tw; x += per) {
            unsigned v = 0;
            for (int k = 0; k < per; k++)
                v = v << bits | (x + k < tw ? idx[x + k] : 0u);
            *out++ = (uint8_t)v;
        }
    }
    return out;
}

/* LOCO-I's median edge detector: left, above, above-left. */
static inline int med_predict(int a, int b, int c)
{
    /* The same as "c >= max(a, b) ? min : c <= min ? max : a + b - c", without branches. */
    int hi = a > b ? a : b, lo = a < b ? a : b, g = a + b - c;
    return g < lo ? lo : g > hi ? hi : g;
}

static inline int predict_at(const uint8_t *p, int x, int y, int tw)
{
    if (y == 0)
        return x ? p[-1] : 0;
    if (x == 0)
        return p[-tw];
    return med_predict(p[-1], p[-tw], p[-tw - 1]);
}

/* Planes of the reversible transform: byte 0 - byte 1, byte 1, byte 2 - byte 1 (green is
 * byte 1 in every 4-byte format, and it carries most of the luma), then alpha when it is
 * real.
 * Separate pointers, and out of line, for GCC 12: given te, IVOPTs (-O1, or -O2 once inlined)
 * derived px[i]'s address from the planes' induction variable as a TARGET_MEM_REF with a
 * literal 0 base, which the late pure-const and modref passes take for a NULL dereference
 * ("NULL memory access; terminating BB"): they skip the stores after it, find the function
 * const, and DCE deletes its calls, leaving the planes zero.  IVOPTs does not mix addresses
 * of different base pointers.  Not UB here: GCC 11, clang and GCC 12 -fno-ivopts are fine. */
__attribute__((noinline)) static void transform_planes(const uint32_t *restrict px,
                                                       uint8_t (*restrict plane)[TILE_PIXELS], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = px[i];
        uint8_t g = (uint8_t)(c >> 8);
        plane[0][i] = (uint8_t)((uint8_t)c - g);
        plane[1][i] = g;
        plane[2][i] = (uint8_t)((uint8_t)(c >> 16) - g);
        plane[3][i] = (uint8_t)(c >> 24);
    }
}

/* One plane's residuals against predict_at(): its edges apart, so that the inside
 * vectorises. */
static void med_residuals(const uint8_t *v, int tw, int th, uint8_t *out)
{
    for (int x = 0; x < tw; x++)
        out[x] = (uint8_t)(v[x] - (x ? v[x - 1] : 0));
    for (int y = 1; y < th; y++) {
        const uint8_t *row = v + (size_t)y * (size_t)tw, *up = row - tw;
        uint8_t *o = out + (size_t)y * (size_t)tw;
        o[0] = (uint8_t)(row[0] - up[0]);
        for (int x = 1; x < tw; x++)
            o[x] = (uint8_t)(row[x] - med_predict(row[x - 1], up[x], up[x - 1]));
    }
}

static size_t predict_planes(vd_tile_encoder *te, int tw, int th, int planes, uint8_t *out)
{
    size_t n = (size_t)tw * (size_t)th, zeros = 0;
    transform_planes(te->px, te->plane, n);
    for (int p = 0; p < planes; p++) {
        med_residuals(te->plane[p], tw, th, out);
        for (size_t i = 0; i < n; i++)
            zeros += out[i] == 0;
        out += n;
    }
    return zeros;
}

/* What raw LZ4 finds cheaply: pixels that repeat their left or upper neighbour. */
static size_t raw_repeats(const uint32_t *px, int tw, int th)
{
    size_t n = 0;
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            size_t i = (size_t)y * (size_t)tw + (size_t)x;
            n += (x && px[i] == px[i - 1]) || (y && px[i] == px[i - (size_t)tw]);
        }
    return n;
}

static inline uint8_t zigzag(uint8_t r) { return (uint8_t)(r << 1 ^ (uint8_t)((int8_t)r >> 7)); }
static inline uint8_t unzigzag(uint8_t z) { return (uint8_t)(z >> 1 ^ (uint8_t)-(z & 1)); }

/* 16 values of w bits, least significant first, into exactly 2 * w bytes. */
static inline void pack_block(const uint8_t *zb, unsigned w, uint8_t *d)
{
    uint64_t lo = 0, hi = 0;
    for (unsigned k = 0; k < PACK_BLOCK; k++) {
        unsigned bit = k * w;
        if (bit < 64) {
            lo |= (uint64_t)zb[k] << bit;
            if (bit + w > 64)
                hi |= (uint64_t)zb[k] >> (64 - bit);
        } else {
            hi |= (uint64_t)zb[k] << (bit - 64);
        }
    }
    uint8_t buf[16];
    vd_wl64(buf, lo);
    vd_wl64(buf + 8, hi);
    memcpy(d, buf, 2 * w);
}

/* PACKED: per plane, the block widths (a nibble per block of 16 residuals, low nibble
 * first), then each block's residuals at that width, least significant bits first (exactly
 * 2 * width bytes a block).  Needs predict_planes() to have filled te->plane.  Returns the
 * size written to te->packed. */
static size_t pack_planes(vd_tile_encoder *te, int tw, int th, int planes, int med,
                          const uint8_t *prior, uint8_t *packed)
{
    size_t n = (size_t)tw * (size_t)th, blocks = (n + PACK_BLOCK - 1) / PACK_BLOCK;
    uint8_t *out = packed;
    uint8_t z[TILE_PIXELS + PACK_BLOCK];
    for (int p = 0; p < planes; p++) {
        const uint8_t *v = te->plane[p];
        if (prior) { /* predict_planes() did the work */
            memcpy(z, prior + (size_t)p * n, n);
        } else if (med) {
            med_residuals(v, tw, th, z);
        } else { /* separate loops, so that the rows below the first vectorise */
            for (int x = 0; x < tw; x++)
                z[x] = (uint8_t)(v[x] - (x ? v[x - 1] : 0));
            for (size_t i = (size_t)tw; i < n; i++)
                z[i] = (uint8_t)(v[i] - v[i - (size_t)tw]);
        }
        for (size_t i = 0; i < n; i++)
            z[i] = zigzag(z[i]);
        memset(z + n, 0, PACK_BLOCK);
        uint8_t *widths = out, *d = out + (blocks + 1) / 2;
        memset(widths, 0, (blocks + 1) / 2);
        for (size_t b = 0; b < blocks; b++) {
            const uint8_t *zb = z + b * PACK_BLOCK;
            unsigned m = 0;
            for (int k = 0; k < PACK_BLOCK; k++)
                m |= zb[k];
            unsigned w = 0;
            while (m >> w)
                w++;
            widths[b / 2] |= (uint8_t)(w << (4 * (b % 2)));
            if (w == 8)
                memcpy(d, zb, PACK_BLOCK);
            else if (w)
                pack_block(zb, w, d);
            d += 2 * w;
        }
        out = d;
    }
    return (size_t)(out - packed);
}

static uint8_t *put_colour(uint8_t *p, uint32_t c, int bpp)
{
    store_px(p, c, bpp);
    return p + bpp;
}

/* PACKED with the prediction from above, and with MED: the smaller in te->packed.  MED
 * gains a few per cent on photos but decodes sample by sample, so it must earn that. */
static void pack_best(vd_tile_encoder *te, int tw, int th, int planes, size_t rival,
                      const uint8_t *prior, size_t up)
{
    if (up == SIZE_MAX) /* else te->packed holds it already */
        up = pack_planes(te, tw, th, planes, 0, NULL, te->packed);
    te->packed_is_med = 0;
    te->packed_size = up;
    if (up >= rival + rival / 4) /* MED would not close the gap */
        return;
    size_t med = pack_planes(te, tw, th, planes, 1, prior, te->packed_med);
    te->packed_is_med = med + med / 32 < up;
    te->packed_size = te->packed_is_med ? med : up;
}

static void put_packed(vd_tile_encoder *te, uint8_t *mode, uint8_t **hp, vd_tile_counts *counts)
{
    *mode = te->packed_is_med ? VD_TILE_MODE_PACKED_MED : VD_TILE_MODE_PACKED;
    memcpy(*hp, te->packed_is_med ? te->packed_med : te->packed, te->packed_size);
    *hp += te->packed_size;
    counts->packed++;
    counts->packed_med += te->packed_is_med;
}

/* A tile of more than 256 colours: MED-predicted planes through LZ4 when most residuals are
 * zero (gradients: LZ4 turns their zero runs into almost nothing), else the bit-packed planes
 * when they beat the raw pixels' estimate (natural images and noise: LZ4 finds little in
 * them, bit packing halves them or better).  Returns 0 to send the tile raw. */
static int choose_natural(vd_tile_encoder *te, int tw, int th, int planes, uint8_t *mode,
                          uint8_t **hp, uint8_t **bp, vd_tile_counts *counts)
{
    size_t n = (size_t)tw * (size_t)th, samples = n * (size_t)planes;
    size_t zeros = predict_planes(te, tw, th, planes, *bp);
    if (zeros * 4 >= samples * 3) {
        *mode = VD_TILE_MODE_PREDICT;
        *bp += samples;
        counts->predict++;
        return 1;
    }
    size_t raw = (n - raw_repeats(te->px, tw, th)) * 4;
    pack_best(te, tw, th, planes, raw, *bp, SIZE_MAX);
    if (te->packed_size >= raw)
        return 0;
    put_packed(te, mode, hp, counts);
    return 1;
}

/* Smooth natural content of 17 to 256 colours (a wallpaper's gradient): byte indices without
 * repeats cost LZ4 about a byte each, prediction much less.  Leaves the packed tile in
 * te->packed or te->packed_med (pack_best()). */
static int packed_beats_palette(vd_tile_encoder *te, int tw, int th, int planes, int colours)
{
    size_t n = (size_t)tw * (size_t)th, repeats = 0;
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            size_t i = (size_t)y * (size_t)tw + (size_t)x;
            repeats += (x && te->idx[i] == te->idx[i - 1]) || (y && te->idx[i] == te->idx[i - (size_t)tw]);
        }
    /* Most pixels repeating a neighbour: text or flat UI, where the palette wins anyway. */
    if (repeats * 2 >= n)
        return 0;
    /* Sharp edges (dense text) pack badly: a rough estimate of the palette's cost (LZ4 keeps
     * about the indices that do not repeat) settles those without the trial below. */
    transform_planes(te->px, te->plane, n);
    size_t up = pack_planes(te, tw, th, planes, 0, NULL, te->packed);
    if (up >= 2 * ((size_t)colours * 4 + (n - repeats)))
        return 0;
    /* The palette's real cost: its bulk through LZ4 on its own (the history only helps). */
    uint8_t *b = te->trial;
    for (int c = 0; c < colours; c++)
        b = put_colour(b, te->palette[c], 4);
    b = pack_indices(b, te->idx, tw, th, index_bits(colours));
    int lz = LZ4_compress_fast_extState(&te->lz4_state, (const char *)te->trial, (char *)te->trial_out,
                                        (int)(b - te->trial), (int)sizeof(te->trial_out), 1);
    if (lz <= 0)
        return 0;
    pack_best(te, tw, th, planes, (size_t)lz, NULL, up);
    return te->packed_size < (size_t)lz;
}

/* PALETTE_RLE where its runs take fewer bytes than the packed index rows (so its bulk stays
 * below the palette's, and the raw pixels').  LZ4 shrinks both, but choosing by an LZ4 trial
 * of each instead gained nothing on vdbench's text workloads. */
static int rle_beats_packed(const vd_tile_encoder *te, int tw, int th, int colours)
{
    size_t packed = packed_row_bytes(tw, index_bits(colours)) * (size_t)th;
    unsigned short_max = 1u << (7 - rle_index_bits(colours)), rle = (unsigned)te->runs;
    for (int r = 0; r < te->runs; r++) /* put_runs()'s bytes, exactly */
        rle += (te->run_len[r] > short_max) + (te->run_len[r] > 129 * short_max);
    return rle < packed;
}

size_t vd_tile_encode(vd_tile_encoder *te, vd_tile_cache *cache, const uint8_t *src, size_t stride,
                      int w, int h, int bpp, int has_x, uint8_t *dst, uint8_t *encoding,
                      vd_tile_counts *counts)
{
    int count = (w + 63) / 64, planes = has_x ? 3 : 4;
    if (te->ring_pos + (size_t)w * (size_t)h * (size_t)bpp > RING_BYTES)
        te->ring_pos = (size_t)LZ4_saveDict(te->lz4, (char *)te->ring, VD_TILE_HISTORY);
    uint8_t *hp = dst, *bulk = te->ring + te->ring_pos, *bp = bulk;
    int32_t last_slot = -2;   /* the slot the run named last, if any */
    int64_t last_solid = -1;  /* the run's last SOLID colour, if any */
    for (int i = 0; i < count; i++) {
        int tw = VD_MIN(64, w - 64 * i), th = h, n = tw * th;
        load_tile(te, src + (size_t)i * 64 * (size_t)bpp, stride, tw, th, bpp, has_x);
        /* Tiles at the surface's right and bottom edges too: a 1080-line screen's last tile
         * row (a taskbar) is all such tiles. */
        int cacheable = cache != NULL;
        vd_tile_key key;
        if (cacheable) {
            XXH128_hash_t hash = XXH3_128bits_withSeed(te->px, (size_t)n * 4, tile_shape(tw, th, bpp));
            key = (vd_tile_key){hash.low64, hash.high64};
            int32_t slot = vd_tile_cache_find(cache, &key);
            if (slot >= 0) {
                if (slot == last_slot + 1) {
                    *hp++ = VD_TILE_MODE_CACHED_NEXT;
                } else {
                    *hp++ = VD_TILE_MODE_CACHED;
                    vd_wl16(hp, (uint16_t)slot);
                    hp += 2;
                }
                last_slot = slot;
                counts->cached++;
                continue;
            }
        }
        uint8_t *mode = hp++;
        int colours = build_palette(te, n);
        if (colours == 1) { /* never cached: as cheap as a slot reference */
            if (last_solid == (int64_t)te->palette[0]) {
                *mode = VD_TILE_MODE_SOLID_REPEAT;
            } else {
                *mode = VD_TILE_MODE_SOLID;
                hp = put_colour(hp, te->palette[0], bpp);
                last_solid = te->palette[0];
            }
            counts->solid++;
            continue;
        }
        /* A palette costs more than the pixels in a sliver of a tile (many colours, few
         * pixels): the bulk never exceeds the raw size, which bounds the buffers. */
        int palette = colours <= 256 && (size_t)colours * (size_t)bpp +
                                                packed_row_bytes(tw, index_bits(colours)) * (size_t)th <=
                                            (size_t)n * (size_t)bpp;
        int packed = palette && colours > 4 && bpp == 4 &&
                     packed_beats_palette(te, tw, th, planes, colours);
        if (palette && !packed) {
            int rle = colours <= RLE_COLOURS_MAX && rle_beats_packed(te, tw, th, colours);
            *mode = rle ? VD_TILE_MODE_PALETTE_RLE : VD_TILE_MODE_PALETTE;
            *hp++ = (uint8_t)(colours - 1);
            for (int c = 0; c < colours; c++)
                bp = put_colour(bp, te->palette[c], bpp);
            if (rle)
                bp = put_runs(te, bp, rle_index_bits(colours));
            else
                bp = pack_indices(bp, te->idx, tw, th, index_bits(colours));
            counts->palette++;
            counts->palette_rle += (uint32_t)rle;
        } else if (packed) { /* a photo's few colours */
            put_packed(te, mode, &hp, counts);
        } else if (bpp == 4 && choose_natural(te, tw, th, planes, mode, &hp, &bp, counts)) {
        } else {
            *mode = VD_TILE_MODE_RAW;
            for (int k = 0; k < n; k++)
                bp = put_colour(bp, te->px[k], bpp);
            counts->raw++;
        }
        if (cacheable) {
            *mode |= VD_TILE_MODE_STORE;
            last_slot = (int32_t)vd_tile_cache_insert(cache, &key);
            vd_wl16(hp, (uint16_t)last_slot);
            hp += 2;
            counts->stored++;
        }
    }
    size_t bulk_size = (size_t)(bp - bulk);
    te->ring_pos += bulk_size;
    if (bulk_size) {
        int c = LZ4_compress_fast_continue(te->lz4, (const char *)bulk, (char *)hp, (int)bulk_size,
                                           LZ4_compressBound((int)bulk_size), 1);
        if (c > 0 && (size_t)c < bulk_size) {
            *encoding = VD_TILE_BULK_LZ4;
            return (size_t)(hp - dst) + (size_t)c;
        }
        /* Stored as is; the history holds it all the same, on both sides. */
        memcpy(hp, bulk, bulk_size);
    }
    *encoding = VD_TILE_BULK_RAW;
    return (size_t)(hp - dst) + bulk_size;
}

vd_tile_decoder *vd_tile_decoder_new(uint32_t max_slots)
{
    if (max_slots > VD_TILE_CACHE_MAX_SLOTS)
        return NULL;
    vd_tile_decoder *td = calloc(1, sizeof(*td));
    if (!td)
        return NULL;
    td->max_slots = max_slots;
    /* The profile's top decoding cost on text: 4-bit palette rows. */
    td->unpack4 = vd_cpu_flags() & VD_CPU_AVX2 ? vd_unpack4_row_avx2 : vd_unpack4_row_c;
    td->ring = ring_new();
    td->chunk = calloc(max_slots / SLOTS_PER_CHUNK + 1, sizeof(*td->chunk));
    td->slot_shape = calloc(max_slots ? max_slots : 1, sizeof(*td->slot_shape));
    if (!td->ring || !td->chunk || !td->slot_shape) {
        vd_tile_decoder_free(&td);
        return NULL;
    }
    return td;
}

void vd_tile_decoder_free(vd_tile_decoder **ptd)
{
    if (!ptd || !*ptd)
        return;
    vd_tile_decoder *td = *ptd;
    for (uint32_t i = 0; i < td->n_chunks; i++)
        free(td->chunk[i]);
    free(td->chunk);
    free(td->slot_shape);
    free(td->ring);
    free(td);
    *ptd = NULL;
}

static uint8_t *slot_pixels(const vd_tile_decoder *td, uint32_t slot)
{
    return td->chunk[slot / SLOTS_PER_CHUNK] + (slot % SLOTS_PER_CHUNK) * VD_TILE_SLOT_BYTES;
}

static uint8_t *chunk_alloc(void)
{
    void *p = aligned_alloc(CHUNK_BYTES, CHUNK_BYTES);
    if (!p)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, CHUNK_BYTES, MADV_HUGEPAGE); /* a hint: without it, ordinary pages */
#endif
    return p;
}

int vd_tile_decoder_reset(vd_tile_decoder *td, uint32_t slots)
{
    if (slots > td->max_slots) {
        td->ready = 0;
        return VD_ERR(EBADMSG);
    }
    /* Memory beyond the new size goes back: the cache stays within what was negotiated. */
    while ((size_t)td->n_chunks * SLOTS_PER_CHUNK >= (size_t)slots + SLOTS_PER_CHUNK)
        free(td->chunk[--td->n_chunks]);
    memset(td->slot_shape, 0, (td->max_slots ? td->max_slots : 1) * sizeof(*td->slot_shape));
    td->n_slots = slots;
    td->ring_pos = 0;
    td->ready = 1;
    return 0;
}

int vd_tile_decoder_restart(vd_tile_decoder *td, uint32_t slots)
{
    if (!td->ready || slots != td->n_slots) {
        td->ready = 0;
        return VD_ERR(EBADMSG);
    }
    td->ring_pos = 0;
    return 0;
}

void vd_tile_decoder_invalidate(vd_tile_decoder *td) { td->ready = 0; }

int vd_tile_decoder_ready(const vd_tile_decoder *td) { return td->ready; }

typedef struct tile_plan {
    uint8_t mode;
    int colours;
    const uint8_t *palette; /* SOLID: its colour on the wire; PACKED: its data */
    uint32_t slot;          /* CACHED: source; STORE: destination */
    size_t bulk;
} tile_plan;

static int slot_filled(const vd_tile_decoder *td, uint32_t slot, uint32_t shape)
{
    return slot < td->n_slots && td->slot_shape[slot] == shape;
}

/* A tile earlier in the run fills the slot (it is decoded, and stored, first). */
static int stored_before(const tile_plan *plan, int i, uint32_t slot)
{
    for (int k = 0; k < i; k++)
        if ((plan[k].mode & VD_TILE_MODE_STORE) && plan[k].slot == slot)
            return 1;
    return 0;
}

/* One row of indices at a constant width, colours as stored bytes (so plain copies keep the
 * byte order on any host); returns the indices or-ed, for the range check. */
static inline unsigned unpack_row(uint8_t *o, const uint8_t *in, int tw, int bits, int bpp,
                                  const uint32_t *pal)
{
    unsigned seen = 0;
    int per = 8 / bits, x = 0;
    unsigned mask = (1u << bits) - 1;
    for (; x + per <= tw; in++)
        for (int k = per - 1; k >= 0; k--, x++) {
            unsigned i = (unsigned)*in >> (k * bits) & mask;
            seen |= i;
            memcpy(o + (size_t)x * (size_t)bpp, &pal[i], (size_t)bpp);
        }
    for (int k = per - 1; x < tw; k--, x++) {
        unsigned i = (unsigned)*in >> (k * bits) & mask;
        seen |= i;
        memcpy(o + (size_t)x * (size_t)bpp, &pal[i], (size_t)bpp);
    }
    return seen;
}

unsigned vd_unpack4_row_c(uint8_t *o, const uint8_t *in, int tw, const uint32_t *pal)
{
    unpack_row(o, in, tw, 4, 4, pal);
    unsigned top = 0;
    for (int x = 0; x < tw; x++) {
        unsigned i = (unsigned)in[x / 2] >> (x % 2 ? 0 : 4) & 15;
        top = i > top ? i : top;
    }
    return top;
}

#if VD_X86
/* 16 pixels a step: the nibbles become bytes in pixel order, and four byte shuffles look up
 * the colours' four bytes (the palette as four 16-byte tables), which interleave to pixels. */
__attribute__((target("avx2"))) unsigned vd_unpack4_row_avx2(uint8_t *o, const uint8_t *in, int tw,
                                                             const uint32_t *pal)
{
    __m128i top = _mm_setzero_si128();
    uint8_t table[4][16];
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 4; k++)
            table[k][i] = ((const uint8_t *)&pal[i])[k];
    const __m128i t0 = _mm_loadu_si128((const __m128i *)(const void *)table[0]);
    const __m128i t1 = _mm_loadu_si128((const __m128i *)(const void *)table[1]);
    const __m128i t2 = _mm_loadu_si128((const __m128i *)(const void *)table[2]);
    const __m128i t3 = _mm_loadu_si128((const __m128i *)(const void *)table[3]);
    const __m128i nibble = _mm_set1_epi8(0x0f);
    int x = 0;
    for (; x + 16 <= tw; x += 16, in += 8, o += 64) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)in);
        __m128i idx = _mm_unpacklo_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), nibble), _mm_and_si128(b, nibble));
        top = _mm_max_epu8(top, idx);
        __m128i c0 = _mm_shuffle_epi8(t0, idx), c1 = _mm_shuffle_epi8(t1, idx);
        __m128i c2 = _mm_shuffle_epi8(t2, idx), c3 = _mm_shuffle_epi8(t3, idx);
        __m128i lo01 = _mm_unpacklo_epi8(c0, c1), hi01 = _mm_unpackhi_epi8(c0, c1);
        __m128i lo23 = _mm_unpacklo_epi8(c2, c3), hi23 = _mm_unpackhi_epi8(c2, c3);
        _mm_storeu_si128((__m128i *)(void *)o, _mm_unpacklo_epi16(lo01, lo23));
        _mm_storeu_si128((__m128i *)(void *)(o + 16), _mm_unpackhi_epi16(lo01, lo23));
        _mm_storeu_si128((__m128i *)(void *)(o + 32), _mm_unpacklo_epi16(hi01, hi23));
        _mm_storeu_si128((__m128i *)(void *)(o + 48), _mm_unpackhi_epi16(hi01, hi23));
    }
    top = _mm_max_epu8(top, _mm_srli_si128(top, 8));
    top = _mm_max_epu8(top, _mm_srli_si128(top, 4));
    top = _mm_max_epu8(top, _mm_srli_si128(top, 2));
    top = _mm_max_epu8(top, _mm_srli_si128(top, 1));
    unsigned m = (unsigned)_mm_cvtsi128_si32(top) & 0xff;
    if (x < tw) {
        unsigned rest = vd_unpack4_row_c(o, in, tw - x, pal);
        m = rest > m ? rest : m;
    }
    return m;
}
#else
unsigned vd_unpack4_row_avx2(uint8_t *o, const uint8_t *in, int tw, const uint32_t *pal)
{
    return vd_unpack4_row_c(o, in, tw, pal);
}
#endif

/* bulk: the colours, then the packed index rows. */
static int decode_palette(const vd_tile_decoder *td, const tile_plan *t, const uint8_t *bulk,
                          int tw, int th, int bpp, uint8_t *dst, size_t stride)
{
    uint32_t pal[256] = {0};
    for (int c = 0; c < t->colours; c++)
        memcpy(&pal[c], bulk + (size_t)c * (size_t)bpp, (size_t)bpp);
    bulk += (size_t)t->colours * (size_t)bpp;
    int bits = index_bits(t->colours);
    size_t row_bytes = packed_row_bytes(tw, bits);
    unsigned bad = 0, limit = (unsigned)t->colours;
    for (int y = 0; y < th; y++, bulk += row_bytes, dst += stride) {
        if (bits == 8) {
            for (int x = 0; x < tw; x++)
                bad |= bulk[x] >= limit;
        } else if (bits == 4 && bpp == 4) { /* the kernel reports the largest index */
            bad |= td->unpack4(dst, bulk, tw, pal) >= limit;
            if (tw % 2) /* the padding code, checked as an index like the others */
                bad |= (unsigned)(bulk[tw / 2] & 15) >= limit;
            continue;
        } else if (limit < (1u << bits)) { /* 3, 5 .. 15 colours: some codes are unused */
            for (size_t b = 0; b < row_bytes; b++)
                for (int k = 0; k < 8; k += bits)
                    bad |= ((unsigned)bulk[b] >> k & ((1u << bits) - 1)) >= limit;
        }
        /* Constant arguments let the compiler specialise each case. */
        if (bpp == 4) {
            switch (bits) {
            case 1: unpack_row(dst, bulk, tw, 1, 4, pal); break;
            case 2: unpack_row(dst, bulk, tw, 2, 4, pal); break;
            default: unpack_row(dst, bulk, tw, 8, 4, pal); break;
            }
        } else {
            unpack_row(dst, bulk, tw, bits, bpp, pal);
        }
    }
    /* An out-of-range index read a pal[] entry left zero: refused, never shown. */
    return bad ? VD_ERR(EBADMSG) : 0;
}

/* bulk: the colours, then the runs (put_runs()), up to end.  The tile's pixels go to tile,
 * rows packed, which has RLE_SLACK bytes beyond them: every run is whole 16-byte stores of
 * its colour, the excess overwritten by the next run or left in the slack, and runs cross
 * rows without a check.  Returns the bytes read, or -1 for runs past the tile's pixels or
 * past end, or an index beyond the palette. */
static inline ptrdiff_t decode_rle(int colours, const uint8_t *bulk, const uint8_t *end, size_t n,
                                   int bpp, uint8_t *tile)
{
    size_t pal_bytes = (size_t)colours * (size_t)bpp;
    if ((size_t)(end - bulk) < pal_bytes)
        return -1;
    uint8_t pat[RLE_COLOURS_MAX][16];
    for (int c = 0; c < colours; c++)
        for (int k = 0; k < 16; k += bpp)
            memcpy(&pat[c][k], bulk + (size_t)c * (size_t)bpp, (size_t)bpp);
    const uint8_t *p = bulk + pal_bytes;
    unsigned bad = 0, limit = (unsigned)colours, ib = (unsigned)rle_index_bits(colours);
    unsigned lb = 7 - ib, imask = (1u << ib) - 1, smask = (1u << lb) - 1;
    size_t per = 16 / (size_t)bpp, left = n;
    uint8_t *o = tile;
    while (left) {
        unsigned b;
        size_t len;
        if (end - p >= 3) { /* no bounds checks, and the common long form without a branch */
            b = p[0];
            size_t q = p[1], is_long = b >> 7;
            len = (b >> ib & smask) + 1 + (((q << lb) + smask + 1) & ((size_t)0 - is_long));
            p += 1 + is_long;
            if (is_long & q >> 7) /* q counted as 128 + its low bits: the third byte */
                len += (size_t)*p++ << (7 + lb);
        } else { /* the bulk's last 2 bytes: no room for a 3-byte run */
            if (p == end)
                return -1;
            b = *p++;
            len = (b >> ib & smask) + 1;
            if (b & 0x80) {
                if (p == end || *p & 0x80)
                    return -1;
                len += ((size_t)*p++ << lb) + smask + 1;
            }
        }
        unsigned i = b & imask;
        bad |= i >= limit;
        i = i < limit ? i : 0; /* refused at the end; until then, a colour there is */
        if (len > left)
            return -1;
        left -= len;
        memcpy(o, pat[i], 16);
        memcpy(o + 16, pat[i], 16);
        for (size_t k = 2 * per; k < len; k += per)
            memcpy(o + k * (size_t)bpp, pat[i], 16);
        o += len * (size_t)bpp;
    }
    return bad ? -1 : p - bulk;
}

static ptrdiff_t decode_palette_rle(int colours, const uint8_t *bulk, const uint8_t *end, size_t n,
                                    int bpp, uint8_t *tile)
{
    /* Constant sizes let the compiler specialise the pixel stores. */
    if (bpp == 4)
        return decode_rle(colours, bulk, end, n, 4, tile);
    return decode_rle(colours, bulk, end, n, 2, tile);
}

/* 16 values of w bits, least significant first, from exactly 2 * w bytes. */
static inline void unpack_block(const uint8_t *d, unsigned w, uint8_t *zb)
{
    uint8_t buf[16] = {0};
    memcpy(buf, d, 2 * w);
    uint64_t lo, hi;
    memcpy(&lo, buf, 8);
    memcpy(&hi, buf + 8, 8);
    lo = vd_rl64(buf), hi = vd_rl64(buf + 8);
    uint8_t mask = (uint8_t)((1u << w) - 1);
    for (unsigned k = 0; k < PACK_BLOCK; k++) {
        unsigned bit = k * w;
        uint64_t x = bit < 64 ? lo >> bit | (bit && bit + w > 64 ? hi << (64 - bit) : 0) : hi >> (bit - 64);
        zb[k] = (uint8_t)x & mask;
    }
}

/* A plane from its residuals against predict_at(), sample after sample. */
static void undo_med(uint8_t *v, const uint8_t *r, int tw, int th)
{
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            size_t i = (size_t)y * (size_t)tw + (size_t)x;
            v[i] = (uint8_t)(r[i] + predict_at(v + i, x, y, tw));
        }
}

/* Undoes transform_planes(): planes of tw x th values, one after another, to pixels. */
static void planes_to_pixels(const uint8_t *plane, int tw, int th, int planes, uint8_t *dst,
                             size_t stride)
{
    size_t n = (size_t)tw * (size_t)th;
    for (int y = 0; y < th; y++)
        for (int x = 0; x < tw; x++) {
            size_t i = (size_t)y * (size_t)tw + (size_t)x;
            uint8_t g = plane[n + i];
            uint8_t *o = dst + (size_t)y * stride + 4 * (size_t)x;
            o[0] = (uint8_t)(plane[i] + g);
            o[1] = g;
            o[2] = (uint8_t)(plane[2 * n + i] + g);
            o[3] = planes == 4 ? plane[3 * n + i] : 0xff;
        }
}

/* Unpacks and undoes the up/left prediction plane by plane, then the colour transform. */
static void decode_packed(const uint8_t *src, int tw, int th, int planes, int med,
                          uint8_t *scratch, uint8_t *dst, size_t stride)
{
    size_t n = (size_t)tw * (size_t)th, blocks = (n + PACK_BLOCK - 1) / PACK_BLOCK;
    for (int p = 0; p < planes; p++) {
        uint8_t *v = scratch + (size_t)p * n;
        const uint8_t *widths = src, *d = src + (blocks + 1) / 2;
        uint8_t z[TILE_PIXELS + PACK_BLOCK];
        for (size_t b = 0; b < blocks; b++) {
            unsigned w = widths[b / 2] >> (4 * (b % 2)) & 15;
            uint8_t *zb = z + b * PACK_BLOCK;
            switch (w) { /* constant widths: the shifts and masks unroll */
            case 0: memset(zb, 0, PACK_BLOCK); break;
            case 1: unpack_block(d, 1, zb); break;
            case 2: unpack_block(d, 2, zb); break;
            case 3: unpack_block(d, 3, zb); break;
            case 4: unpack_block(d, 4, zb); break;
            case 5: unpack_block(d, 5, zb); break;
            case 6: unpack_block(d, 6, zb); break;
            case 7: unpack_block(d, 7, zb); break;
            default: memcpy(zb, d, PACK_BLOCK); break;
            }
            d += 2 * w;
        }
        src = d;
        if (med) {
            for (size_t i = 0; i < n; i++)
                z[i] = unzigzag(z[i]);
            undo_med(v, z, tw, th);
            continue;
        }
        for (int x = 0; x < tw; x++)
            v[x] = (uint8_t)(unzigzag(z[x]) + (x ? v[x - 1] : 0));
        for (size_t i = (size_t)tw; i < n; i++)
            v[i] = (uint8_t)(unzigzag(z[i]) + v[i - (size_t)tw]);
    }
    planes_to_pixels(scratch, tw, th, planes, dst, stride);
}

static void decode_predict(const uint8_t *bulk, int tw, int th, int planes, uint8_t *scratch,
                           uint8_t *dst, size_t stride)
{
    size_t n = (size_t)tw * (size_t)th;
    for (int p = 0; p < planes; p++)
        undo_med(scratch + (size_t)p * n, bulk + (size_t)p * n, tw, th);
    planes_to_pixels(scratch, tw, th, planes, dst, stride);
}

int vd_tile_decode(vd_tile_decoder *td, uint8_t encoding, const uint8_t *payload, size_t size,
                   int w, int h, int bpp, int has_x, uint8_t *dst)
{
    if (!td->ready || w < 1 || h < 1 || h > 64 || w > 64 * VD_TILE_RUN_MAX)
        return VD_ERR(EBADMSG);
    int count = (w + 63) / 64, planes = has_x ? 3 : 4;
    tile_plan plan[VD_TILE_RUN_MAX];
    const uint8_t *p = payload, *end = payload + size;
    size_t bulk_size = 0; /* exact, or at most with PALETTE_RLE tiles */
    int rle_tiles = 0;
    int64_t last_slot = -2;
    const uint8_t *last_solid = NULL;
    for (int i = 0; i < count; i++) {
        tile_plan *t = &plan[i];
        int tw = VD_MIN(64, w - 64 * i);
        size_t n = (size_t)tw * (size_t)h;
        if (p == end)
            return VD_ERR(EBADMSG);
        t->mode = *p++;
        t->bulk = 0;
        switch (t->mode & VD_TILE_MODE_MASK) {
        case VD_TILE_MODE_SOLID:
            t->colours = 1;
            t->palette = last_solid = p;
            break;
        case VD_TILE_MODE_SOLID_REPEAT:
            if (!last_solid)
                return VD_ERR(EBADMSG);
            t->colours = 1;
            t->palette = last_solid;
            break;
        case VD_TILE_MODE_PALETTE:
            if (p == end)
                return VD_ERR(EBADMSG);
            t->colours = *p++ + 1;
            if (t->colours < 2)
                return VD_ERR(EBADMSG);
            t->bulk = (size_t)t->colours * (size_t)bpp +
                      packed_row_bytes(tw, index_bits(t->colours)) * (size_t)h;
            break;
        case VD_TILE_MODE_PALETTE_RLE:
            if (p == end)
                return VD_ERR(EBADMSG);
            t->colours = *p++ + 1;
            if (t->colours < 2 || t->colours > RLE_COLOURS_MAX)
                return VD_ERR(EBADMSG);
            /* At most: its size is known once its runs are read. */
            t->bulk = (size_t)t->colours * (size_t)bpp + n;
            rle_tiles = 1;
            break;
        case VD_TILE_MODE_RAW:
            t->colours = 0;
            t->bulk = n * (size_t)bpp;
            break;
        case VD_TILE_MODE_PREDICT:
            if (bpp != 4)
                return VD_ERR(EBADMSG);
            t->colours = 0;
            t->bulk = n * (size_t)planes;
            break;
        case VD_TILE_MODE_PACKED:
        case VD_TILE_MODE_PACKED_MED: {
            if (bpp != 4)
                return VD_ERR(EBADMSG);
            t->colours = 0;
            t->palette = p;
            size_t blocks = (n + PACK_BLOCK - 1) / PACK_BLOCK;
            for (int pl = 0; pl < planes; pl++) {
                size_t data = 0;
                if ((size_t)(end - p) < (blocks + 1) / 2)
                    return VD_ERR(EBADMSG);
                for (size_t b = 0; b < blocks; b++) {
                    unsigned width = p[b / 2] >> (4 * (b % 2)) & 15;
                    if (width > 8)
                        return VD_ERR(EBADMSG);
                    data += 2 * width;
                }
                if (blocks % 2 && p[blocks / 2] >> 4)
                    return VD_ERR(EBADMSG);
                p += (blocks + 1) / 2;
                if ((size_t)(end - p) < data)
                    return VD_ERR(EBADMSG);
                p += data;
            }
            break;
        }
        case VD_TILE_MODE_CACHED:
        case VD_TILE_MODE_CACHED_NEXT:
            if (t->mode == VD_TILE_MODE_CACHED_NEXT) {
                if (last_slot < 0 || last_slot + 1 > 0xffff)
                    return VD_ERR(EBADMSG);
                t->slot = (uint32_t)(last_slot + 1);
            } else {
                if (t->mode != VD_TILE_MODE_CACHED || (size_t)(end - p) < 2)
                    return VD_ERR(EBADMSG);
                t->slot = vd_rl16(p);
                p += 2;
            }
            /* Earlier tiles of a run are 64 wide: a store among them fits only such a tile. */
            if (!slot_filled(td, t->slot, tile_shape(tw, h, bpp)) &&
                !(tw == 64 && stored_before(plan, i, t->slot)))
                return VD_ERR(EBADMSG);
            last_slot = t->slot;
            continue;
        default:
            return VD_ERR(EBADMSG);
        }
        if (t->mode & ~(VD_TILE_MODE_MASK | VD_TILE_MODE_STORE))
            return VD_ERR(EBADMSG);
        if ((t->mode & VD_TILE_MODE_MASK) == VD_TILE_MODE_SOLID) {
            if ((size_t)(end - p) < (size_t)bpp)
                return VD_ERR(EBADMSG);
            p += bpp;
        }
        if (t->mode & VD_TILE_MODE_STORE) {
            if ((size_t)(end - p) < 2)
                return VD_ERR(EBADMSG);
            t->slot = vd_rl16(p);
            p += 2;
            if (t->slot >= td->n_slots)
                return VD_ERR(EBADMSG);
            last_slot = t->slot;
        }
        bulk_size += t->bulk;
    }

    if (td->ring_pos + bulk_size > RING_BYTES) {
        size_t keep = VD_MIN(td->ring_pos, (size_t)VD_TILE_HISTORY);
        memmove(td->ring, td->ring + td->ring_pos - keep, keep);
        td->ring_pos = keep;
    }
    uint8_t *bulk = td->ring + td->ring_pos;
    size_t coded = (size_t)(end - p);
    if (encoding == VD_TILE_BULK_RAW) {
        if (rle_tiles ? coded > bulk_size : coded != bulk_size)
            return VD_ERR(EBADMSG);
        memcpy(bulk, p, coded);
    } else if (encoding == VD_TILE_BULK_LZ4) {
        if (!bulk_size || !coded || coded > (size_t)LZ4_compressBound((int)bulk_size))
            return VD_ERR(EBADMSG);
        size_t dict = VD_MIN(td->ring_pos, (size_t)VD_TILE_HISTORY);
        int got = LZ4_decompress_safe_usingDict((const char *)p, (char *)bulk, (int)coded,
                                                (int)bulk_size, (const char *)bulk - dict, (int)dict);
        if (got < 0 || (rle_tiles ? (size_t)got > bulk_size : (size_t)got != bulk_size))
            return VD_ERR(EBADMSG);
        coded = (size_t)got;
    } else {
        return VD_ERR(EBADMSG);
    }
    /* The bulk as decoded; PALETTE_RLE tiles must use it up exactly (checked below). */
    const uint8_t *bulk_end = bulk + coded;
    td->ring_pos += coded;

    size_t stride = (size_t)w * (size_t)bpp;
    uint8_t scratch[4 * TILE_PIXELS + RLE_SLACK];
    for (int i = 0; i < count; i++) {
        const tile_plan *t = &plan[i];
        int tw = VD_MIN(64, w - 64 * i);
        uint8_t *out = dst + (size_t)i * 64 * (size_t)bpp;
        size_t row = (size_t)tw * (size_t)bpp, used = t->bulk;
        if (rle_tiles && (t->mode & VD_TILE_MODE_MASK) != VD_TILE_MODE_PALETTE_RLE &&
            used > (size_t)(bulk_end - bulk))
            return VD_ERR(EBADMSG); /* the PALETTE_RLE tiles before took less than their most */
        switch (t->mode & VD_TILE_MODE_MASK) {
        case VD_TILE_MODE_SOLID:
        case VD_TILE_MODE_SOLID_REPEAT: {
            uint32_t c = vd_rl_px(t->palette, bpp);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < tw; x++)
                    store_px(out + (size_t)y * stride + (size_t)x * (size_t)bpp, c, bpp);
            break;
        }
        case VD_TILE_MODE_PALETTE:
            if (decode_palette(td, t, bulk, tw, h, bpp, out, stride) < 0)
                return VD_ERR(EBADMSG);
            break;
        case VD_TILE_MODE_PALETTE_RLE: {
            ptrdiff_t got = decode_palette_rle(t->colours, bulk, bulk_end, (size_t)tw * (size_t)h, bpp,
                                               scratch);
            if (got < 0)
                return VD_ERR(EBADMSG);
            used = (size_t)got;
            vd_copy_rows(out, stride, scratch, row, row, (size_t)h);
            break;
        }
        case VD_TILE_MODE_RAW:
            vd_copy_rows(out, stride, bulk, row, row, (size_t)h);
            break;
        case VD_TILE_MODE_PREDICT:
            decode_predict(bulk, tw, h, planes, scratch, out, stride);
            break;
        case VD_TILE_MODE_PACKED:
        case VD_TILE_MODE_PACKED_MED:
            decode_packed(t->palette, tw, h, planes, (t->mode & VD_TILE_MODE_MASK) == VD_TILE_MODE_PACKED_MED,
                          scratch, out, stride);
            break;
        case VD_TILE_MODE_CACHED:
        case VD_TILE_MODE_CACHED_NEXT:
            vd_copy_rows(out, stride, slot_pixels(td, t->slot), row, row, (size_t)h);
            break;
        }
        bulk += used;
        if (t->mode & VD_TILE_MODE_STORE) {
            while ((size_t)td->n_chunks * SLOTS_PER_CHUNK <= t->slot) {
                if (!(td->chunk[td->n_chunks] = chunk_alloc()))
                    return VD_ERR(ENOMEM);
                td->n_chunks++;
            }
            vd_copy_rows(slot_pixels(td, t->slot), row, out, stride, row, (size_t)h);
            td->slot_shape[t->slot] = tile_shape(tw, h, bpp);
        }
    }
    return bulk == bulk_end ? 0 : VD_ERR(EBADMSG);
}
