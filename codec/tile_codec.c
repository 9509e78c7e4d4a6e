/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include <lz4.h>

#include <vd/common.h>

#include "tile_codec.h"

struct vd_tile_encoder {
    /* A stream state reused for every tile: LZ4_resetStream_fast costs far less than the
     * full 16 KiB state initialisation that LZ4_compress_default does per call. */
    LZ4_stream_t *lz4;
    uint8_t packed[VD_TILE_RUN_MAX_BYTES];
};

vd_tile_encoder *vd_tile_encoder_new(void)
{
    vd_tile_encoder *te = calloc(1, sizeof(*te));
    if (!te)
        return NULL;
    te->lz4 = LZ4_createStream();
    if (!te->lz4) {
        free(te);
        return NULL;
    }
    return te;
}

void vd_tile_encoder_free(vd_tile_encoder **pte)
{
    if (!pte || !*pte)
        return;
    LZ4_freeStream((*pte)->lz4);
    free(*pte);
    *pte = NULL;
}

size_t vd_tile_max_payload(size_t packed_bytes)
{
    return (size_t)LZ4_compressBound((int)packed_bytes);
}

static void pack_tile(uint8_t *dst, const uint8_t *src, size_t stride, size_t row_bytes, int h,
                      int set_x)
{
    if (!set_x) {
        for (int y = 0; y < h; y++, src += stride, dst += row_bytes)
            memcpy(dst, src, row_bytes);
        return;
    }
    /* One pass that copies and sets the X bytes, two pixels per 64-bit word (four per pair,
     * which compilers turn into one vector OR); the fill is built from bytes so it is right
     * on either endianness.  row_bytes is a multiple of 4 here. */
    static const uint8_t x_only[8] = {0, 0, 0, 0xff, 0, 0, 0, 0xff};
    uint64_t fill;
    memcpy(&fill, x_only, 8);
    for (int y = 0; y < h; y++, src += stride, dst += row_bytes) {
        size_t i = 0;
        for (; i + 16 <= row_bytes; i += 16) {
            uint64_t a, b;
            memcpy(&a, src + i, 8);
            memcpy(&b, src + i + 8, 8);
            a |= fill;
            b |= fill;
            memcpy(dst + i, &a, 8);
            memcpy(dst + i + 8, &b, 8);
        }
        for (; i < row_bytes; i += 4) {
            uint32_t px;
            memcpy(&px, src + i, 4);
            px |= (uint32_t)fill;
            memcpy(dst + i, &px, 4);
        }
    }
}

size_t vd_tile_encode(vd_tile_encoder *te, const uint8_t *src, size_t stride, int w, int h,
                      int bpp, int set_x, uint8_t *dst, uint8_t *encoding)
{
    size_t row_bytes = (size_t)w * (size_t)bpp;
    size_t packed_bytes = row_bytes * (size_t)h;
    pack_tile(te->packed, src, stride, row_bytes, h, set_x);
    LZ4_resetStream_fast(te->lz4);
    int n = LZ4_compress_fast_continue(te->lz4, (const char *)te->packed, (char *)dst,
                                       (int)packed_bytes, (int)vd_tile_max_payload(packed_bytes), 1);
    if (n > 0 && (size_t)n < packed_bytes) {
        *encoding = VD_TILE_LZ4;
        return (size_t)n;
    }
    memcpy(dst, te->packed, packed_bytes);
    *encoding = VD_TILE_RAW;
    return packed_bytes;
}

int vd_tile_decode(uint8_t encoding, const uint8_t *payload, size_t size, uint8_t *dst,
                   size_t packed_bytes)
{
    switch (encoding) {
    case VD_TILE_RAW:
        if (size != packed_bytes)
            return VD_ERR(EBADMSG);
        memcpy(dst, payload, size);
        return 0;
    case VD_TILE_LZ4: {
        if (size == 0 || size > (size_t)LZ4_compressBound((int)packed_bytes))
            return VD_ERR(EBADMSG);
        int n = LZ4_decompress_safe((const char *)payload, (char *)dst, (int)size,
                                    (int)packed_bytes);
        return n == (int)packed_bytes ? 0 : VD_ERR(EBADMSG);
    }
    default:
        return VD_ERR(EBADMSG);
    }
}
