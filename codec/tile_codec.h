/* Lossless tile codec (docs/protocol.md, sections 6.4 and 6.11).  A TILE message carries a run
 * of up to 32 tiles of one tile row.  Each tile gets the cheapest of: solid colour; palette
 * (2 to 256 colours) with indices packed at 1, 2, 4 or 8 bits, or (up to 127 colours) as runs
 * of one index in raster order where those take fewer bytes (text, flat UI); predictive
 * planes (a reversible colour transform and median edge prediction) through LZ4 for gradients, or
 * bit-packed per block of 16 for photos (PACKED: kept out of the history below); raw pixels;
 * or a reference to a tile in the client's cache.  The bulk data of all tiles of a run
 * (palettes, indices, residuals, pixels) is one LZ4 block whose dictionary is the previous 64 KiB of bulk of the whole
 * session since the last codec reset: text repeats what was sent before (the same glyphs,
 * the same tile one keystroke ago), and that history is what gives zlib-based codecs such as
 * ZRLE their ratio; LZ4 gets it at LZ4's speed.  It needs every run decoded in order, which
 * the ordered transport gives; after bad input the client refuses tiles until the encoder's
 * next codec reset, which a refresh starts.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_TILE_CODEC_H
#define VD_TILE_CODEC_H

#include "../lib/internal.h"
#include "../lib/wire.h"
#include "tile_cache.h"

/* The LZ4 dictionary carried between runs (LZ4's window). */
#define VD_TILE_HISTORY (64 * 1024)

enum vd_tile_mode {
    VD_TILE_MODE_SOLID = 1,   /* colour (bpp bytes); no bulk */
    VD_TILE_MODE_PALETTE = 2, /* count - 1 (1 byte); bulk: count colours, packed index rows */
    VD_TILE_MODE_RAW = 3,     /* bulk: the pixels, rows packed */
    VD_TILE_MODE_PREDICT = 4, /* bulk: residual planes (4-byte formats only) */
    VD_TILE_MODE_CACHED = 5,  /* slot (2 bytes): the tile is the slot's content; no bulk */
    /* CACHED from the slot after the one the run named last (by CACHED, CACHED_NEXT or
     * STORE; a window that comes back was stored in raster order): 1 byte instead of 3. */
    VD_TILE_MODE_CACHED_NEXT = 6,
    /* Natural content (4-byte formats): the PREDICT planes with the pixel above as the
     * prediction (left on the first row), residuals zigzag-coded and bit-packed per block of
     * 16 at the block's width; in the header, so its noise stays out of the LZ4 history. */
    VD_TILE_MODE_PACKED = 7,
    VD_TILE_MODE_SOLID_REPEAT = 8, /* the colour of the run's last SOLID tile; no bulk */
    VD_TILE_MODE_PACKED_MED = 9,   /* PACKED with PREDICT's MED prediction */
    /* count - 1 (1 byte, 2 to 127 colours); bulk: count colours, then runs of one index in
     * raster order (across rows), a byte each or more for long ones; its size is known only
     * from its runs (docs/protocol.md, section 9). */
    VD_TILE_MODE_PALETTE_RLE = 10,
    VD_TILE_MODE_MASK = 0x0f,
    VD_TILE_MODE_STORE = 0x80, /* then a slot (2 bytes): keep the decoded tile there */
};

/* Per-frame counters of the encoder (added to). */
typedef struct vd_tile_counts {
    uint32_t solid, palette, raw, predict, packed, packed_med, cached, stored;
    uint32_t palette_rle; /* of palette */
} vd_tile_counts;

typedef struct vd_tile_encoder vd_tile_encoder;

VD_HIDDEN vd_tile_encoder *vd_tile_encoder_new(void);
VD_HIDDEN void vd_tile_encoder_free(vd_tile_encoder **te);
/* Starts a new history, as the decoder does at a codec reset. */
VD_HIDDEN void vd_tile_encoder_reset(vd_tile_encoder *te);

/* Worst-case payload of a w x h run at bpp bytes per pixel. */
VD_HIDDEN size_t vd_tile_max_payload(int w, int h, int bpp);

/* Codes the w x h run at src (stride bytes per row; w <= 64 * VD_TILE_RUN_MAX, h <= 64)
 * into dst, which has room for vd_tile_max_payload(w, h, bpp).  has_x: byte 3 of each pixel
 * is an X byte, sent as 0xff.  cache: the client's cache mirror, or NULL to use none.
 * Returns the payload size and sets *encoding. */
VD_HIDDEN size_t vd_tile_encode(vd_tile_encoder *te, vd_tile_cache *cache, const uint8_t *src,
                                size_t stride, int w, int h, int bpp, int has_x, uint8_t *dst,
                                uint8_t *encoding, vd_tile_counts *counts);

typedef struct vd_tile_decoder vd_tile_decoder;

/* max_slots: the most cache slots an encoder may ask for (0: no cache).  NULL on ENOMEM. */
VD_HIDDEN vd_tile_decoder *vd_tile_decoder_new(uint32_t max_slots);
VD_HIDDEN void vd_tile_decoder_free(vd_tile_decoder **td);
/* A codec reset: empty history, slots cache slots, all empty.  VD_ERR(EBADMSG) when slots
 * exceeds max_slots. */
VD_HIDDEN int vd_tile_decoder_reset(vd_tile_decoder *td, uint32_t slots);
/* A resume (the connection dropped): empty history, the cache kept as it is.
 * VD_ERR(EBADMSG) when slots is not the cache's size, or after bad input since the last
 * reset (the cache may then lack stores the encoder counts on). */
VD_HIDDEN int vd_tile_decoder_restart(vd_tile_decoder *td, uint32_t slots);
/* After bad input: history and cache no longer match the encoder's; tiles are refused until
 * the next reset. */
VD_HIDDEN void vd_tile_decoder_invalidate(vd_tile_decoder *td);
/* 1 when no bad input came since the last reset. */
VD_HIDDEN int vd_tile_decoder_ready(const vd_tile_decoder *td);

/* Decodes a w x h run into dst (rows of w * bpp bytes, packed).  Returns 0, or
 * VD_ERR(EBADMSG) for a malformed payload (truncated, overlong, a palette index beyond the
 * palette, runs past the tile's pixels, a slot out of range or never filled, no reset since
 * bad input); the caller then invalidates. */
VD_HIDDEN int vd_tile_decode(vd_tile_decoder *td, uint8_t encoding, const uint8_t *payload,
                             size_t size, int w, int h, int bpp, int has_x, uint8_t *dst);

/* One row of 4-bit palette indices (most significant nibble first) to tw pixels of 4 bytes;
 * returns the largest index, for the range check.  The C reference and the AVX2 kernel (the
 * decoder picks by CPU), for the test. */
VD_HIDDEN unsigned vd_unpack4_row_c(uint8_t *o, const uint8_t *in, int tw, const uint32_t *pal);
VD_HIDDEN unsigned vd_unpack4_row_avx2(uint8_t *o, const uint8_t *in, int tw, const uint32_t *pal);

#endif
