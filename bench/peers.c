/* vdbench --peers: the peers that code each damaged tile on its own, and the registry.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Framing shared by the peers of this file: each rect's payload is preceded by its size as 2
 * bytes, little-endian (every payload of a 64 x 64 tile fits).  The rects themselves are not
 * sent: the decoder gets them, as each peer's protocol would carry them in its own headers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <lz4.h>
#include <lz4hc.h>
#if HAVE_ZSTD
#include <zstd.h>
#endif
#if HAVE_FREERDP
#include <freerdp/codec/planar.h>
#include <freerdp/primitives.h>
#endif

#include "peers.h"

#define TILE 64
#define TILE_BYTES (TILE * TILE * 4)
#define LEN_BYTES 2

/* Makes room for the length and max payload bytes of one rect; the payload goes at +2. */
static uint8_t *frame_reserve(vd_buf *out, size_t max)
{
    return vd_buf_reserve(out, LEN_BYTES + max);
}

/* Writes the length in front of the payload written at +2 and keeps both. */
static int frame_commit(vd_buf *out, size_t len)
{
    if (len > 0xffff)
        return VD_ERR(EOVERFLOW);
    out->data[out->size] = (uint8_t)len;
    out->data[out->size + 1] = (uint8_t)(len >> 8);
    out->size += LEN_BYTES + len;
    return 0;
}

/* Takes the next rect's payload off *p; 0 or VD_ERR(EINVAL) when the data is short. */
static int frame_next(const uint8_t **p, const uint8_t *end, const uint8_t **payload, size_t *len)
{
    if (end - *p < LEN_BYTES)
        return VD_ERR(EINVAL);
    *len = (size_t)(*p)[0] | (size_t)(*p)[1] << 8;
    *payload = *p + LEN_BYTES;
    if ((size_t)(end - *payload) < *len)
        return VD_ERR(EINVAL);
    *p = *payload + *len;
    return 0;
}

/* Packs the rows of rect r (BGRX) into dst, contiguous; returns the byte count. */
static size_t pack_rect(const uint8_t *bgrx, size_t stride, const vd_rect *r, uint8_t *dst)
{
    size_t row = (size_t)r->width * 4;
    for (int y = 0; y < r->height; y++)
        memcpy(dst + (size_t)y * row, bgrx + (size_t)(r->y + y) * stride + (size_t)r->x * 4, row);
    return row * (size_t)r->height;
}

static void unpack_rect(const uint8_t *src, const vd_rect *r, uint8_t *img, size_t stride)
{
    size_t row = (size_t)r->width * 4;
    for (int y = 0; y < r->height; y++)
        memcpy(img + (size_t)(r->y + y) * stride + (size_t)r->x * 4, src + (size_t)y * row, row);
}

/* ---- general-purpose compressors over the packed tile: lz4, lz4hc, zstd ---------------- */

enum { BLOCK_LZ4, BLOCK_LZ4HC, BLOCK_ZSTD1, BLOCK_ZSTD3 };

typedef struct block_state {
    int kind;
    void *hc; /* LZ4HC state, allocated once rather than by every LZ4_compress_HC call */
#if HAVE_ZSTD
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
#endif
    uint8_t tile[TILE_BYTES];
} block_state;

static void block_destroy(void *state)
{
    block_state *s = state;
    if (!s)
        return;
    free(s->hc);
#if HAVE_ZSTD
    ZSTD_freeCCtx(s->cctx);
    ZSTD_freeDCtx(s->dctx);
#endif
    free(s);
}

static void *block_create(int kind)
{
    block_state *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->kind = kind;
    int ok = 1;
    if (kind == BLOCK_LZ4HC)
        ok = (s->hc = malloc((size_t)LZ4_sizeofStateHC())) != NULL;
#if HAVE_ZSTD
    if (kind == BLOCK_ZSTD1 || kind == BLOCK_ZSTD3)
        ok = (s->cctx = ZSTD_createCCtx()) && (s->dctx = ZSTD_createDCtx());
#endif
    if (!ok) {
        block_destroy(s);
        return NULL;
    }
    return s;
}

static int block_encode(void *state, const uint8_t *bgrx, size_t stride, int width, int height,
                        const vd_rect *rects, size_t n_rects, vd_buf *out)
{
    block_state *s = state;
    (void)width, (void)height;
    for (size_t i = 0; i < n_rects; i++) {
        size_t n = pack_rect(bgrx, stride, &rects[i], s->tile), c = 0;
        size_t bound = (size_t)LZ4_compressBound(TILE_BYTES);
#if HAVE_ZSTD
        if (s->kind == BLOCK_ZSTD1 || s->kind == BLOCK_ZSTD3)
            bound = ZSTD_COMPRESSBOUND(TILE_BYTES);
#endif
        uint8_t *dst = frame_reserve(out, bound);
        if (!dst)
            return VD_ERR(ENOMEM);
        char *src = (char *)s->tile, *d = (char *)dst + LEN_BYTES;
        switch (s->kind) {
        case BLOCK_LZ4:
            c = (size_t)LZ4_compress_default(src, d, (int)n, (int)bound);
            break;
        case BLOCK_LZ4HC:
            c = (size_t)LZ4_compress_HC_extStateHC(s->hc, src, d, (int)n, (int)bound,
                                                   LZ4HC_CLEVEL_DEFAULT);
            break;
#if HAVE_ZSTD
        default:
            c = ZSTD_compressCCtx(s->cctx, d, bound, src, n, s->kind == BLOCK_ZSTD1 ? 1 : 3);
            if (ZSTD_isError(c))
                c = 0;
            break;
#endif
        }
        if (!c)
            return VD_ERR(EIO);
        int ret = frame_commit(out, c);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int block_decode(void *state, const uint8_t *data, size_t size, uint8_t *img, size_t stride,
                        int width, int height, const vd_rect *rects, size_t n_rects)
{
    block_state *s = state;
    const uint8_t *p = data, *end = data + size, *src;
    (void)width, (void)height;
    for (size_t i = 0; i < n_rects; i++) {
        size_t len, n = (size_t)rects[i].width * (size_t)rects[i].height * 4, d = 0;
        int ret = frame_next(&p, end, &src, &len);
        if (ret < 0)
            return ret;
        switch (s->kind) {
        case BLOCK_LZ4:
        case BLOCK_LZ4HC: {
            int r = LZ4_decompress_safe((const char *)src, (char *)s->tile, (int)len, TILE_BYTES);
            d = r < 0 ? 0 : (size_t)r;
            break;
        }
#if HAVE_ZSTD
        default:
            d = ZSTD_decompressDCtx(s->dctx, s->tile, TILE_BYTES, src, len);
            if (ZSTD_isError(d))
                d = 0;
            break;
#endif
        }
        if (d != n)
            return VD_ERR(EINVAL);
        unpack_rect(s->tile, &rects[i], img, stride);
    }
    return p == end ? 0 : VD_ERR(EINVAL);
}

/* A state that has coded one tile both ways, so that one-off set-up (zstd's workspaces) is
 * not timed. */
static void *block_new(int kind)
{
    static const uint8_t zero[TILE_BYTES];
    block_state *s = block_create(kind);
    uint8_t *img = malloc(TILE_BYTES);
    vd_buf out = {0};
    vd_rect r = {0, 0, TILE, TILE};
    if (!s || !img || block_encode(s, zero, TILE * 4, TILE, TILE, &r, 1, &out) < 0 ||
        block_decode(s, out.data, out.size, img, TILE * 4, TILE, TILE, &r, 1) < 0) {
        block_destroy(s);
        s = NULL;
    }
    free(img);
    vd_buf_free(&out);
    return s;
}

static void *lz4_create(int width, int height)
{
    (void)width, (void)height;
    return block_new(BLOCK_LZ4);
}

static void *lz4hc_create(int width, int height)
{
    (void)width, (void)height;
    return block_new(BLOCK_LZ4HC);
}

static const bench_peer peer_lz4 = {"lz4", lz4_create, block_destroy, block_encode, block_decode};
static const bench_peer peer_lz4hc = {"lz4hc", lz4hc_create, block_destroy, block_encode,
                                      block_decode};

#if HAVE_ZSTD
static void *zstd1_create(int width, int height)
{
    (void)width, (void)height;
    return block_new(BLOCK_ZSTD1);
}

static void *zstd3_create(int width, int height)
{
    (void)width, (void)height;
    return block_new(BLOCK_ZSTD3);
}

static const bench_peer peer_zstd1 = {"zstd-1", zstd1_create, block_destroy, block_encode,
                                      block_decode};
static const bench_peer peer_zstd3 = {"zstd-3", zstd3_create, block_destroy, block_encode,
                                      block_decode};
#endif

/* ---- png: libavcodec's encoder and decoder, RGB24 ------------------------------------- */

/* An encoder is opened for one size: one per tile size seen (64x64 and the frame's right and
 * bottom edges, so at most 4 for a frame size). */
#define PNG_SIZES 4

typedef struct png_state {
    struct {
        int width, height;
        AVCodecContext *ctx;
        AVFrame *frame;
    } enc[PNG_SIZES];
    int next_evict;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *out;
} png_state;

static void png_destroy(void *state)
{
    png_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < PNG_SIZES; i++) {
        avcodec_free_context(&s->enc[i].ctx);
        av_frame_free(&s->enc[i].frame);
    }
    avcodec_free_context(&s->dec);
    av_packet_free(&s->pkt);
    av_frame_free(&s->out);
    free(s);
}

/* The encoder for tiles of width x height, opened on first use. */
static int png_encoder(png_state *s, int width, int height, int *index)
{
    for (int i = 0; i < PNG_SIZES; i++)
        if (s->enc[i].ctx && s->enc[i].width == width && s->enc[i].height == height) {
            *index = i;
            return 0;
        }
    int i = s->next_evict;
    s->next_evict = (i + 1) % PNG_SIZES;
    avcodec_free_context(&s->enc[i].ctx);
    av_frame_free(&s->enc[i].frame);
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    AVCodecContext *ctx = avcodec_alloc_context3(codec);
    AVFrame *frame = av_frame_alloc();
    s->enc[i].ctx = ctx;
    s->enc[i].frame = frame;
    if (!ctx || !frame)
        return VD_ERR(ENOMEM);
    ctx->width = frame->width = width;
    ctx->height = frame->height = height;
    ctx->pix_fmt = AV_PIX_FMT_RGB24;
    frame->format = AV_PIX_FMT_RGB24;
    ctx->time_base = (AVRational){1, 30};
    /* per-row adaptive filters, as libpng chooses by default for truecolour (FFmpeg's own
     * default is no filter) */
    av_opt_set(ctx->priv_data, "pred", "mixed", 0);
    if (avcodec_open2(ctx, codec, NULL) < 0 || av_frame_get_buffer(frame, 0) < 0) {
        avcodec_free_context(&s->enc[i].ctx);
        return VD_ERR(EIO);
    }
    s->enc[i].width = width;
    s->enc[i].height = height;
    *index = i;
    return 0;
}

/* Opens the encoders of the frame's tile sizes now, rather than in the first timed frame. */
static void *png_create(int width, int height)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_PNG);
    png_state *s = calloc(1, sizeof(*s));
    int ws[2] = {VD_MIN(TILE, width), width % TILE}, hs[2] = {VD_MIN(TILE, height), height % TILE};
    int ok = s && codec && avcodec_find_encoder(AV_CODEC_ID_PNG) &&
             (s->dec = avcodec_alloc_context3(codec)) && avcodec_open2(s->dec, codec, NULL) >= 0 &&
             (s->pkt = av_packet_alloc()) && (s->out = av_frame_alloc());
    for (int i = 0, e; ok && i < 4; i++)
        if (ws[i / 2] && hs[i % 2])
            ok = png_encoder(s, ws[i / 2], hs[i % 2], &e) == 0;
    if (!ok) {
        png_destroy(s);
        return NULL;
    }
    return s;
}

static int png_encode(void *state, const uint8_t *bgrx, size_t stride, int width, int height,
                      const vd_rect *rects, size_t n_rects, vd_buf *out)
{
    png_state *s = state;
    (void)width, (void)height;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        int e, ret = png_encoder(s, r->width, r->height, &e);
        AVFrame *f = s->enc[e].frame;
        if (ret < 0 || (ret = av_frame_make_writable(f)) < 0)
            return ret < 0 ? ret : VD_ERR(ENOMEM);
        for (int y = 0; y < r->height; y++) {
            const uint8_t *p = bgrx + (size_t)(r->y + y) * stride + (size_t)r->x * 4;
            uint8_t *q = f->data[0] + (size_t)y * (size_t)f->linesize[0];
            for (int x = 0; x < r->width; x++, p += 4, q += 3) {
                q[0] = p[2];
                q[1] = p[1];
                q[2] = p[0];
            }
        }
        if (avcodec_send_frame(s->enc[e].ctx, f) < 0 || avcodec_receive_packet(s->enc[e].ctx, s->pkt) < 0)
            return VD_ERR(EIO);
        uint8_t *dst = frame_reserve(out, (size_t)s->pkt->size);
        if (dst)
            memcpy(dst + LEN_BYTES, s->pkt->data, (size_t)s->pkt->size);
        ret = dst ? frame_commit(out, (size_t)s->pkt->size) : VD_ERR(ENOMEM);
        av_packet_unref(s->pkt);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int png_decode(void *state, const uint8_t *data, size_t size, uint8_t *img, size_t stride,
                      int width, int height, const vd_rect *rects, size_t n_rects)
{
    png_state *s = state;
    const uint8_t *p = data, *end = data + size, *src;
    (void)width, (void)height;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        size_t len;
        int ret = frame_next(&p, end, &src, &len);
        if (ret < 0)
            return ret;
        /* Not reference counted: libavcodec copies it into a padded buffer of its own.  A key
         * frame: FFmpeg's PNG decoder adds any other to the previous picture (MPNG). */
        s->pkt->data = (uint8_t *)src;
        s->pkt->size = (int)len;
        s->pkt->flags = AV_PKT_FLAG_KEY;
        ret = avcodec_send_packet(s->dec, s->pkt);
        s->pkt->data = NULL;
        s->pkt->size = 0;
        if (ret < 0 || avcodec_receive_frame(s->dec, s->out) < 0)
            return VD_ERR(EINVAL);
        AVFrame *f = s->out;
        if (f->width != r->width || f->height != r->height || f->format != AV_PIX_FMT_RGB24) {
            av_frame_unref(f);
            return VD_ERR(EINVAL);
        }
        for (int y = 0; y < r->height; y++) {
            const uint8_t *q = f->data[0] + (size_t)y * (size_t)f->linesize[0];
            uint8_t *o = img + (size_t)(r->y + y) * stride + (size_t)r->x * 4;
            for (int x = 0; x < r->width; x++, o += 4, q += 3) {
                o[0] = q[2];
                o[1] = q[1];
                o[2] = q[0];
                o[3] = 0xff;
            }
        }
        av_frame_unref(f);
    }
    return p == end ? 0 : VD_ERR(EINVAL);
}

static const bench_peer peer_png = {"png", png_create, png_destroy, png_encode, png_decode};

/* ---- planar: FreeRDP's RDP 6.0 planar codec, lossless ---------------------------------- */

#if HAVE_FREERDP
/* RLE on; no colour loss (CLL 0: R, G, B planes, not YCoCg) and so no chroma subsampling; no
 * alpha plane, as FreeRDP's own server sends for opaque desktops (X bytes are not content). */
#define PLANAR_FLAGS (PLANAR_FORMAT_HEADER_RLE | PLANAR_FORMAT_HEADER_NA)

typedef struct planar_state {
    BITMAP_PLANAR_CONTEXT *enc, *dec;
} planar_state;

static void planar_destroy(void *state)
{
    planar_state *s = state;
    if (!s)
        return;
    freerdp_bitmap_planar_context_free(s->enc);
    freerdp_bitmap_planar_context_free(s->dec);
    free(s);
}

static void *planar_create(int width, int height)
{
    (void)width, (void)height;
    /* FreeRDP picks its pixel primitives on first use, benchmarking them (some 0.3 s): here,
     * not in the first timed decode. */
    primitives_get();
    planar_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->enc = freerdp_bitmap_planar_context_new(PLANAR_FLAGS, TILE, TILE)) ||
        !(s->dec = freerdp_bitmap_planar_context_new(PLANAR_FLAGS, TILE, TILE))) {
        planar_destroy(s);
        return NULL;
    }
    return s;
}

static int planar_encode(void *state, const uint8_t *bgrx, size_t stride, int width, int height,
                         const vd_rect *rects, size_t n_rects, vd_buf *out)
{
    planar_state *s = state;
    (void)width, (void)height;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        /* header byte, then RLE planes that FreeRDP keeps within 4 bytes per pixel, or raw
         * planes and a pad byte */
        UINT32 size = 0;
        uint8_t *dst = frame_reserve(out, 2 + (size_t)r->width * (size_t)r->height * 4);
        if (!dst)
            return VD_ERR(ENOMEM);
        if (!freerdp_bitmap_compress_planar(s->enc, bgrx + (size_t)r->y * stride + (size_t)r->x * 4,
                                            PIXEL_FORMAT_BGRX32, (UINT32)r->width,
                                            (UINT32)r->height, (UINT32)stride, dst + LEN_BYTES,
                                            &size))
            return VD_ERR(EIO);
        int ret = frame_commit(out, size);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int planar_decode(void *state, const uint8_t *data, size_t size, uint8_t *img,
                         size_t stride, int width, int height, const vd_rect *rects, size_t n_rects)
{
    planar_state *s = state;
    const uint8_t *p = data, *end = data + size, *src;
    (void)width, (void)height;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        size_t len;
        int ret = frame_next(&p, end, &src, &len);
        if (ret < 0)
            return ret;
        /* The stream is bottom-up (as RDP bitmaps are): vFlip.  The destination size is the
         * rect's own, so that FreeRDP writes straight into img at (x, y) rather than through
         * its tile-sized temporary buffer. */
        if (!planar_decompress(s->dec, src, (UINT32)len, (UINT32)r->width, (UINT32)r->height, img,
                               PIXEL_FORMAT_BGRX32, (UINT32)stride, (UINT32)r->x, (UINT32)r->y,
                               (UINT32)r->width, (UINT32)r->height, TRUE))
            return VD_ERR(EINVAL);
    }
    return p == end ? 0 : VD_ERR(EINVAL);
}

static const bench_peer peer_planar = {"planar", planar_create, planar_destroy, planar_encode,
                                       planar_decode};
#endif

/* ---- the registry ------------------------------------------------------------------------ */

static const bench_peer *const peers[] = {
    &peer_lz4,
    &peer_lz4hc,
#if HAVE_ZSTD
    &peer_zstd1,
    &peer_zstd3,
#endif
    &peer_png,
#if HAVE_FREERDP
    &peer_planar,
#endif
#if HAVE_LIBVNCSERVER
    &bench_peer_tight,
    &bench_peer_zrle,
#endif
};

size_t bench_peers_list(const bench_peer *const **out)
{
    *out = peers;
    return VD_ARRAY_SIZE(peers);
}
