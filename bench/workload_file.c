/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File workload: decodes any FFmpeg-readable video to BGRX and attaches the ground-truth
 * labels of the JSON sidecar beside it (NAME.ext -> NAME.json). */
#include "workload_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#define SIDECAR_MAX_BYTES (16u << 20)
#define JSON_MAX_DEPTH 64
#define MAX_REGIONS 100000
#define COORD_LIMIT 1e8 /* keeps x + w and friends far from int overflow */

/* ------------------------------------------------------------------------------------
 * Sidecar JSON: a strict recursive-descent parser that only materialises the keys we use
 * and skips everything else.  It works on (pointer, end) so embedded NULs are harmless. */

typedef struct file_region {
    bench_region r;
    double t_start, t_end;
} file_region;

typedef struct sidecar {
    int width, height, frame_count; /* 0 when absent */
    double fps;                     /* 0 when absent */
    bool has_regions;
    file_region *regions;
    size_t n_regions, cap_regions;
    size_t n_parsed; /* regions[] entries read, known class or not: the next label id */
} sidecar;

typedef struct json_parser {
    const char *base, *p, *end;
    int depth;
    const char *err; /* first error; static string */
    size_t err_off;
} json_parser;

static int js_fail(json_parser *jp, const char *msg)
{
    if (!jp->err) {
        jp->err = msg;
        jp->err_off = (size_t)(jp->p - jp->base);
    }
    return -1;
}

static void js_ws(json_parser *jp)
{
    while (jp->p < jp->end &&
           (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static int js_hex4(json_parser *jp, unsigned *out)
{
    if (jp->end - jp->p < 4)
        return js_fail(jp, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *jp->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return js_fail(jp, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

/* Parses a string at jp->p.  Only ASCII matters for the keys and class names we match,
 * so \u escapes above 0x7f (and U+0000) become 0x80, which matches nothing.  out may be
 * NULL (skip); *len is the full decoded length even when out was too small, so callers
 * can tell a truncated "textXYZ" from "text". */
static int js_string(json_parser *jp, char *out, size_t cap, size_t *len)
{
    if (jp->p >= jp->end || *jp->p != '"')
        return js_fail(jp, "expected a string");
    jp->p++;
    size_t n = 0;
    for (;;) {
        if (jp->p >= jp->end)
            return js_fail(jp, "unterminated string");
        unsigned char c = (unsigned char)*jp->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return js_fail(jp, "control character in string");
        if (c == '\\') {
            if (jp->p >= jp->end)
                return js_fail(jp, "unterminated string");
            char e = *jp->p++;
            unsigned u = 0; /* set by js_hex4(); GCC at -O1 cannot see that */
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                if (js_hex4(jp, &u) < 0)
                    return -1;
                c = (u > 0 && u < 0x80) ? (unsigned char)u : 0x80;
                break;
            default:
                return js_fail(jp, "bad escape in string");
            }
        }
        if (out && n + 1 < cap)
            out[n] = (char)c;
        n++;
    }
    if (out && cap)
        out[n < cap ? n : cap - 1] = '\0';
    if (len)
        *len = n;
    return 0;
}

/* Exact powers of ten: up to 1e22 a double holds them without rounding. */
static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Own number conversion instead of strtod(): strtod follows LC_NUMERIC, which a caller's
 * setlocale() could switch to a decimal comma.  Values like 10.033 (mantissa < 2^53,
 * |exponent| <= 22) come out correctly rounded; others within a few ulp. */
static int js_number(json_parser *jp, double *out)
{
    const char *p = jp->p, *end = jp->end;
    bool neg = false;
    uint64_t mant = 0;
    int digits = 0;  /* significant digits kept in mant */
    long exp10 = 0;

    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return js_fail(jp, "bad number");
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant)
                    digits++;
            } else {
                exp10++;
            }
        }
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return js_fail(jp, "bad number: no digit after '.'");
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant)
                    digits++;
                exp10--;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return js_fail(jp, "bad number: no digit in exponent");
        long e = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (e < 100000) /* saturate: the result is 0 or inf long before */
                e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
    }

    double v = (double)mant;
    if (mant == 0) {
        v = 0.0;
    } else if (exp10 >= 0) {
        for (; exp10 > 22 && !isinf(v); exp10 -= 22)
            v *= 1e22;
        if (!isinf(v))
            v *= pow10_exact[exp10 > 22 ? 22 : exp10];
    } else {
        for (; exp10 < -22 && v != 0.0; exp10 += 22)
            v /= 1e22;
        if (v != 0.0)
            v /= pow10_exact[exp10 < -22 ? 22 : -exp10];
    }
    *out = neg ? -v : v;
    jp->p = p;
    return 0;
}

static int js_literal(json_parser *jp, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0)
        return js_fail(jp, "unexpected character");
    jp->p += n;
    return 0;
}

static int js_enter(json_parser *jp)
{
    if (++jp->depth > JSON_MAX_DEPTH)
        return js_fail(jp, "nesting too deep");
    jp->p++; /* the '{' or '[' */
    return 0;
}

/* Steps to the next member of an object or array: 0 after the closing bracket (consumed),
 * 1 when a member follows (positioned at it, past any ','), -1 on a syntax error. */
static int js_next_member(json_parser *jp, bool *first, char close)
{
    js_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        jp->depth--;
        return 0;
    }
    if (!*first) {
        if (jp->p >= jp->end || *jp->p != ',')
            return js_fail(jp, close == '}' ? "expected ',' or '}' in object"
                                            : "expected ',' or ']' in array");
        jp->p++;
        js_ws(jp);
    }
    *first = false;
    if (jp->p >= jp->end)
        return js_fail(jp, close == '}' ? "truncated object" : "truncated array");
    if (*jp->p == close)
        return js_fail(jp, close == '}' ? "trailing ',' in object" : "trailing ',' in array");
    return 1;
}

/* Object walk: call js_obj_key until it returns 0 ('}' consumed) or -1.  On 1 the key is
 * in key/klen and the ':' has been consumed; the caller must then consume the value. */
static int js_obj_key(json_parser *jp, bool *first, char *key, size_t cap, size_t *klen)
{
    int ret = js_next_member(jp, first, '}');
    if (ret <= 0)
        return ret;
    if (js_string(jp, key, cap, klen) < 0)
        return -1;
    js_ws(jp);
    if (jp->p >= jp->end || *jp->p != ':')
        return js_fail(jp, "expected ':' after object key");
    jp->p++;
    js_ws(jp);
    return 1;
}

/* Array walk: returns 1 when a value follows (positioned at it), 0 after ']', -1. */
static int js_arr_next(json_parser *jp, bool *first)
{
    return js_next_member(jp, first, ']');
}

static int js_skip(json_parser *jp)
{
    js_ws(jp);
    if (jp->p >= jp->end)
        return js_fail(jp, "expected a value");
    bool first = true;
    int r;
    switch (*jp->p) {
    case '{':
        if (js_enter(jp) < 0)
            return -1;
        while ((r = js_obj_key(jp, &first, NULL, 0, NULL)) > 0)
            if (js_skip(jp) < 0)
                return -1;
        return r;
    case '[':
        if (js_enter(jp) < 0)
            return -1;
        while ((r = js_arr_next(jp, &first)) > 0)
            if (js_skip(jp) < 0)
                return -1;
        return r;
    case '"':
        return js_string(jp, NULL, 0, NULL);
    case 't':
        return js_literal(jp, "true");
    case 'f':
        return js_literal(jp, "false");
    case 'n':
        return js_literal(jp, "null");
    default: {
        double v;
        return js_number(jp, &v);
    }
    }
}

static bool key_is(const char *key, size_t klen, const char *want)
{
    return klen == strlen(want) && memcmp(key, want, klen) == 0;
}

static int js_num_in(json_parser *jp, double lo, double hi, double *out, const char *what)
{
    double v;
    if (jp->p >= jp->end || !(*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9')))
        return js_fail(jp, what);
    if (js_number(jp, &v) < 0)
        return -1;
    if (!(v >= lo && v <= hi)) /* also rejects NaN */
        return js_fail(jp, what);
    *out = v;
    return 0;
}

static int js_int_in(json_parser *jp, double lo, double hi, int *out, const char *what)
{
    double v;
    if (js_num_in(jp, lo, hi, &v, what) < 0)
        return -1;
    *out = (int)floor(v + 0.5);
    return 0;
}

static bool class_from_string(const char *s, size_t len, enum bench_class *cls)
{
    static const struct { const char *name; enum bench_class cls; } map[] = {
        {"text", BENCH_CLASS_TEXT}, {"video", BENCH_CLASS_VIDEO},
        {"3d", BENCH_CLASS_3D},     {"static", BENCH_CLASS_STATIC},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (key_is(s, len, map[i].name)) {
            *cls = map[i].cls;
            return true;
        }
    return false;
}

static int parse_region(json_parser *jp, sidecar *sc)
{
    enum { HAVE_X = 1, HAVE_Y = 2, HAVE_W = 4, HAVE_H = 8, HAVE_CLASS = 16, HAVE_ALL = 31 };
    file_region fr = {.t_start = 0.0, .t_end = INFINITY};
    bool known_class = false;
    unsigned have = 0;
    char key[16], cls[16];
    size_t klen, clen;
    bool first = true;
    int r;

    if (jp->p >= jp->end || *jp->p != '{')
        return js_fail(jp, "regions[]: expected an object");
    if (js_enter(jp) < 0)
        return -1;
    while ((r = js_obj_key(jp, &first, key, sizeof(key), &klen)) > 0) {
        const char *bad = "region: x, y, w, h and z must be numbers within +-1e8";
        if (key_is(key, klen, "x")) {
            r = js_int_in(jp, -COORD_LIMIT, COORD_LIMIT, &fr.r.x, bad);
            have |= HAVE_X;
        } else if (key_is(key, klen, "y")) {
            r = js_int_in(jp, -COORD_LIMIT, COORD_LIMIT, &fr.r.y, bad);
            have |= HAVE_Y;
        } else if (key_is(key, klen, "w")) {
            r = js_int_in(jp, -COORD_LIMIT, COORD_LIMIT, &fr.r.w, bad);
            have |= HAVE_W;
        } else if (key_is(key, klen, "h")) {
            r = js_int_in(jp, -COORD_LIMIT, COORD_LIMIT, &fr.r.h, bad);
            have |= HAVE_H;
        } else if (key_is(key, klen, "z")) {
            r = js_int_in(jp, -COORD_LIMIT, COORD_LIMIT, &fr.r.z, bad);
        } else if (key_is(key, klen, "t_start")) {
            r = js_num_in(jp, -1e12, 1e12, &fr.t_start, "region: t_start must be a number");
        } else if (key_is(key, klen, "t_end")) {
            r = js_num_in(jp, -1e12, 1e12, &fr.t_end, "region: t_end must be a number");
        } else if (key_is(key, klen, "class")) {
            r = js_string(jp, cls, sizeof(cls), &clen);
            known_class = r == 0 && clen < sizeof(cls) && class_from_string(cls, clen, &fr.r.cls);
            have |= HAVE_CLASS;
        } else {
            r = js_skip(jp);
        }
        if (r < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    if (have != HAVE_ALL)
        return js_fail(jp, "region: missing one of x, y, w, h, class");
    /* the id is the index in the sidecar's regions array, dropped entries included */
    fr.r.id = sc->n_parsed < INT_MAX ? (int)sc->n_parsed : INT_MAX;
    sc->n_parsed++;
    if (!known_class) /* a class this version does not know: unscored, so drop it */
        return 0;
    if (sc->n_regions == sc->cap_regions) {
        if (sc->n_regions >= MAX_REGIONS)
            return js_fail(jp, "too many regions");
        size_t cap = sc->cap_regions ? sc->cap_regions * 2 : 16;
        file_region *n = realloc(sc->regions, cap * sizeof(*n));
        if (!n)
            return js_fail(jp, "out of memory");
        sc->regions = n;
        sc->cap_regions = cap;
    }
    sc->regions[sc->n_regions++] = fr;
    return 0;
}

static int parse_sidecar(json_parser *jp, sidecar *sc)
{
    char key[32];
    size_t klen;
    bool first = true;
    int r;

    if (jp->end - jp->p >= 3 && memcmp(jp->p, "\xEF\xBB\xBF", 3) == 0)
        jp->p += 3; /* tolerate a UTF-8 BOM from Windows editors */
    js_ws(jp);
    if (jp->p >= jp->end || *jp->p != '{')
        return js_fail(jp, "top level must be an object");
    if (js_enter(jp) < 0)
        return -1;
    while ((r = js_obj_key(jp, &first, key, sizeof(key), &klen)) > 0) {
        if (key_is(key, klen, "width")) {
            r = js_int_in(jp, 0, COORD_LIMIT, &sc->width, "width must be a number >= 0");
        } else if (key_is(key, klen, "height")) {
            r = js_int_in(jp, 0, COORD_LIMIT, &sc->height, "height must be a number >= 0");
        } else if (key_is(key, klen, "frame_count")) {
            r = js_int_in(jp, 0, INT_MAX / 2, &sc->frame_count,
                          "frame_count must be a number >= 0");
        } else if (key_is(key, klen, "fps")) {
            r = js_num_in(jp, 1e-3, 1e6, &sc->fps, "fps must be a number in (0, 1e6]");
        } else if (key_is(key, klen, "regions")) {
            if (jp->p >= jp->end || *jp->p != '[')
                return js_fail(jp, "regions must be an array");
            sc->has_regions = true;
            sc->n_regions = 0; /* a repeated key replaces the earlier one */
            sc->n_parsed = 0;
            bool afirst = true;
            if (js_enter(jp) < 0)
                return -1;
            while ((r = js_arr_next(jp, &afirst)) > 0)
                if (parse_region(jp, sc) < 0)
                    return -1;
        } else {
            r = js_skip(jp);
        }
        if (r < 0)
            return -1;
    }
    if (r < 0)
        return -1;
    js_ws(jp);
    if (jp->p != jp->end)
        return js_fail(jp, "trailing data after the top-level object");
    return 0;
}

/* Reads PATH's sidecar.  Returns 0 with sc->has_regions false when there is none. */
static int sidecar_load(const char *json_path, sidecar *sc)
{
    FILE *f = fopen(json_path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        int err = errno ? -errno : -EIO;
        fprintf(stderr, "vdbench: %s: %s\n", json_path, strerror(-err));
        return err;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    int ret = buf ? 0 : -ENOMEM;
    while (!ret) {
        if (len == cap) {
            if (cap > SIDECAR_MAX_BYTES) {
                fprintf(stderr, "vdbench: %s: sidecar larger than %u MiB\n", json_path,
                        SIDECAR_MAX_BYTES >> 20);
                ret = -EFBIG;
                break;
            }
            char *n = realloc(buf, cap * 2);
            if (!n) {
                ret = -ENOMEM;
                break;
            }
            buf = n;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "vdbench: %s: read error\n", json_path);
                ret = -EIO;
            }
            break;
        }
    }
    fclose(f);
    if (!ret && len > SIDECAR_MAX_BYTES) {
        fprintf(stderr, "vdbench: %s: sidecar larger than %u MiB\n", json_path,
                SIDECAR_MAX_BYTES >> 20);
        ret = -EFBIG;
    }
    if (!ret) {
        json_parser jp = {.base = buf, .p = buf, .end = buf + len};
        if (parse_sidecar(&jp, sc) < 0) {
            fprintf(stderr, "vdbench: %s: invalid sidecar JSON at byte %zu: %s\n", json_path,
                    jp.err_off, jp.err);
            ret = -EINVAL;
        }
    }
    free(buf);
    return ret;
}

/* ------------------------------------------------------------------------------------
 * Decoding */

typedef struct file_priv {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frm;
    int stream;
    bool flushing, done;
    int err; /* sticky: a failed stream keeps failing instead of resuming mid-way */

    struct SwsContext *sws;
    /* what sws was set up for; colorspace details are not part of sws_getCachedContext */
    int sws_w, sws_h, sws_fmt, sws_spc, sws_range;
    bool force_x; /* the source has alpha that would leak into the X byte */

    uint8_t *bgrx;
    size_t stride;
    int buf_w, buf_h;

    int index, max_frames;
    double fps, eps;

    sidecar sc;
    bench_region *active; /* per-frame view, capacity sc.n_regions + 1 */
} file_priv;

/* AVERROR(e) is -e on POSIX; FFmpeg's own tags are large negative FourCCs. */
static int map_averror(int err)
{
    if (err == AVERROR_STREAM_NOT_FOUND)
        return -EINVAL;
    if (err == AVERROR_DECODER_NOT_FOUND || err == AVERROR_DEMUXER_NOT_FOUND ||
        err == AVERROR_PROTOCOL_NOT_FOUND)
        return -ENOTSUP;
    if (err < 0 && err > -4096)
        return err;
    return -EIO;
}

static void file_close(bench_workload *wl)
{
    file_priv *p = wl->priv;
    if (!p)
        return;
    sws_freeContext(p->sws);
    av_freep(&p->bgrx);
    av_frame_free(&p->frm);
    av_packet_free(&p->pkt);
    avcodec_free_context(&p->dec);
    avformat_close_input(&p->fmt);
    free(p->sc.regions);
    free(p->active);
    free(p);
    wl->priv = NULL;
}

/* Pulls the next decoded frame into p->frm: 1, 0 at the end, or a negative errno. */
static int decode_next(file_priv *p)
{
    for (;;) {
        int ret = avcodec_receive_frame(p->dec, p->frm);
        if (ret == 0)
            return 1;
        if (ret == AVERROR_EOF)
            return 0;
        if (ret != AVERROR(EAGAIN))
            return map_averror(ret);
        if (p->flushing)
            return -EIO; /* a drained decoder must not ask for input */

        ret = av_read_frame(p->fmt, p->pkt);
        if (ret == AVERROR_EOF) {
            p->flushing = true; /* a NULL packet makes the decoder emit its delayed frames */
            ret = avcodec_send_packet(p->dec, NULL);
            if (ret < 0 && ret != AVERROR_EOF)
                return map_averror(ret);
            continue;
        }
        if (ret < 0)
            return map_averror(ret);
        if (p->pkt->stream_index == p->stream)
            ret = avcodec_send_packet(p->dec, p->pkt);
        av_packet_unref(p->pkt);
        /* receive_frame said EAGAIN, so send_packet cannot: any error is real */
        if (ret < 0)
            return map_averror(ret);
    }
}

static enum AVPixelFormat unjpeg(enum AVPixelFormat f, int *range)
{
    /* The yuvj formats are deprecated aliases for full-range YUV; swscale warns about
     * them, so convert to the plain format and pass the range explicitly. */
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *range = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *range = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *range = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *range = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *range = 1; return AV_PIX_FMT_YUV411P;
    default: return f;
    }
}

/* (Re)creates the scaler and output buffer when the frame geometry or format changes. */
static int setup_convert(file_priv *p, const AVFrame *f)
{
    int range = f->color_range == AVCOL_RANGE_JPEG;
    enum AVPixelFormat src = unjpeg((enum AVPixelFormat)f->format, &range);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src);
    if (!d)
        return -EINVAL;
    bool rgb = d->flags & AV_PIX_FMT_FLAG_RGB;
    int spc = f->colorspace;
    if (!rgb && spc != AVCOL_SPC_BT709 && spc != AVCOL_SPC_BT470BG &&
        spc != AVCOL_SPC_SMPTE170M && spc != AVCOL_SPC_SMPTE240M &&
        spc != AVCOL_SPC_FCC && spc != AVCOL_SPC_BT2020_NCL)
        spc = f->height >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M; /* the usual guess */

    if (p->sws && p->sws_w == f->width && p->sws_h == f->height && p->sws_fmt == (int)src &&
        p->sws_spc == spc && p->sws_range == range)
        return 0;

    sws_freeContext(p->sws);
    /* Destination BGRA rather than BGR0: only BGRA (BGR32 on little endian) takes
     * swscale's unscaled planarRgbToRgbWrapper path for gbrp (lossless x264rgb), a pure
     * byte shuffle that writes alpha as 0xff.  bgr0 would go through the generic scaler.
     * Sources without alpha get alpha 0xff everywhere; sources with alpha are fixed up.
     * SWS_POINT makes the vertical/horizontal filters single-tap for same-size RGB; for YUV
     * we want proper chroma upsampling with full-resolution chroma interpolation. */
    int flags = rgb ? SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP
                    : SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP;
    p->sws = sws_getContext(f->width, f->height, src, f->width, f->height, AV_PIX_FMT_BGRA,
                            flags, NULL, NULL, NULL);
    if (!p->sws) {
        fprintf(stderr, "vdbench: cannot convert %s %dx%d to BGRA\n", d->name, f->width,
                f->height);
        return -ENOTSUP;
    }
    if (!rgb)
        sws_setColorspaceDetails(p->sws, sws_getCoefficients(spc), range,
                                 sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    p->sws_w = f->width;
    p->sws_h = f->height;
    p->sws_fmt = src;
    p->sws_spc = spc;
    p->sws_range = range;
    p->force_x = d->flags & (AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_PAL);

    if (p->buf_w != f->width || p->buf_h != f->height) {
        av_freep(&p->bgrx);
        /* 64-byte aligned rows keep swscale's SIMD paths on aligned stores */
        size_t stride = ((size_t)f->width * 4 + 63) & ~(size_t)63;
        p->bgrx = av_malloc(stride * (size_t)f->height);
        if (!p->bgrx)
            return -ENOMEM;
        p->stride = stride;
        p->buf_w = f->width;
        p->buf_h = f->height;
    }
    return 0;
}

/* Labels whose window holds t = index / fps, clipped to the frame, in file order. */
static size_t active_regions(file_priv *p, int w, int h)
{
    double t = p->index / p->fps + p->eps;
    size_t n = 0;
    for (size_t i = 0; i < p->sc.n_regions; i++) {
        const file_region *fr = &p->sc.regions[i];
        if (!(t >= fr->t_start && t < fr->t_end))
            continue;
        int x0 = fr->r.x > 0 ? fr->r.x : 0, y0 = fr->r.y > 0 ? fr->r.y : 0;
        int x1 = fr->r.x + fr->r.w, y1 = fr->r.y + fr->r.h;
        x1 = x1 < w ? x1 : w;
        y1 = y1 < h ? y1 : h;
        if (x1 <= x0 || y1 <= y0)
            continue;
        bench_region r = fr->r;
        r.x = x0;
        r.y = y0;
        r.w = x1 - x0;
        r.h = y1 - y0;
        p->active[n++] = r;
    }
    return n;
}

static int file_next(bench_workload *wl, bench_frame *frame)
{
    file_priv *p = wl->priv;
    if (p->err)
        return p->err;
    if (p->done || (p->max_frames > 0 && p->index >= p->max_frames))
        return 0;
    int ret = decode_next(p);
    if (ret <= 0) {
        p->done = true;
        p->err = ret;
        return ret;
    }
    AVFrame *f = p->frm;
    ret = setup_convert(p, f);
    if (ret < 0) {
        av_frame_unref(f);
        p->err = ret;
        return ret;
    }
    uint8_t *dst[4] = {p->bgrx};
    int dst_stride[4] = {(int)p->stride};
    ret = sws_scale(p->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                    dst_stride);
    av_frame_unref(f);
    if (ret != p->buf_h)
        return p->err = ret < 0 ? map_averror(ret) : -EIO;
    if (p->force_x)
        for (int y = 0; y < p->buf_h; y++) {
            uint8_t *row = p->bgrx + (size_t)y * p->stride;
            for (int x = 0; x < p->buf_w; x++)
                row[4 * x + 3] = 0xff;
        }

    *frame = (bench_frame){
        .data = p->bgrx,
        .stride = p->stride,
        .width = p->buf_w,
        .height = p->buf_h,
        .index = p->index,
        .pts_us = (int64_t)(p->index * 1e6 / p->fps + 0.5),
        .front_window = -1,
    };
    if (p->sc.has_regions) {
        frame->regions = p->active;
        frame->n_regions = active_regions(p, p->buf_w, p->buf_h);
    }
    p->index++;
    return 1;
}

static const bench_workload_ops file_ops = {file_next, file_close};

/* NAME.ext -> NAME.json; an extension-less NAME gets .json appended. */
static char *sidecar_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    size_t stem = (dot && (!slash || dot > slash + 1)) ? (size_t)(dot - path) : strlen(path);
    char *s = malloc(stem + sizeof(".json"));
    if (s) {
        memcpy(s, path, stem);
        memcpy(s + stem, ".json", sizeof(".json"));
    }
    return s;
}

static void set_name(bench_workload *wl, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = (dot && dot != base) ? (size_t)(dot - base) : strlen(base);
    if (n >= sizeof(wl->name))
        n = sizeof(wl->name) - 1;
    memcpy(wl->name, base, n);
    wl->name[n] = '\0';
}

static double q2d_ok(AVRational r)
{
    return (r.num > 0 && r.den > 0) ? av_q2d(r) : 0.0;
}

int bench_file_open(bench_workload *wl, const char *path, int max_frames)
{
    file_priv *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    wl->priv = p;
    p->max_frames = max_frames > 0 ? max_frames : 0;
    int ret;

    char *json = sidecar_path(path);
    if (!json) {
        ret = -ENOMEM;
        goto fail;
    }
    ret = sidecar_load(json, &p->sc);
    free(json);
    if (ret < 0)
        goto fail;

    /* Plain paths go through the file protocol explicitly, so a name with a colon is
     * not mistaken for a URL scheme; real URLs still work. */
    const char *url = path;
    char *file_url = NULL;
    if (!strstr(path, "://")) {
        size_t n = strlen(path);
        file_url = malloc(n + sizeof("file:"));
        if (!file_url) {
            ret = -ENOMEM;
            goto fail;
        }
        memcpy(file_url, "file:", 5);
        memcpy(file_url + 5, path, n + 1);
        url = file_url;
    }
    ret = avformat_open_input(&p->fmt, url, NULL, NULL);
    free(file_url);
    if (ret < 0) {
        fprintf(stderr, "vdbench: %s: %s\n", path, av_err2str(ret));
        ret = map_averror(ret);
        goto fail;
    }
    ret = avformat_find_stream_info(p->fmt, NULL);
    if (ret < 0) {
        fprintf(stderr, "vdbench: %s: %s\n", path, av_err2str(ret));
        ret = map_averror(ret);
        goto fail;
    }
    const AVCodec *codec = NULL;
    ret = av_find_best_stream(p->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (ret < 0) {
        fprintf(stderr, "vdbench: %s: no decodable video stream (%s)\n", path,
                av_err2str(ret));
        ret = map_averror(ret);
        goto fail;
    }
    p->stream = ret;
    for (unsigned i = 0; i < p->fmt->nb_streams; i++)
        if ((int)i != p->stream)
            p->fmt->streams[i]->discard = AVDISCARD_ALL; /* don't demux audio etc. */
    AVStream *st = p->fmt->streams[p->stream];

    p->dec = avcodec_alloc_context3(codec);
    p->pkt = av_packet_alloc();
    p->frm = av_frame_alloc();
    if (!p->dec || !p->pkt || !p->frm) {
        ret = -ENOMEM;
        goto fail;
    }
    ret = avcodec_parameters_to_context(p->dec, st->codecpar);
    if (ret < 0) {
        ret = map_averror(ret);
        goto fail;
    }
    p->dec->pkt_timebase = st->time_base;
    /* Two frame threads: 1.3-1.5x faster than one on the lossless 1080p corpus (2-core
     * machine), while leaving the other cores to the codec under test. */
    p->dec->thread_count = 2;
    p->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(p->dec, codec, NULL);
    if (ret < 0) {
        fprintf(stderr, "vdbench: %s: cannot open %s decoder: %s\n", path, codec->name,
                av_err2str(ret));
        ret = map_averror(ret);
        goto fail;
    }

    double stream_fps = q2d_ok(st->avg_frame_rate);
    if (stream_fps <= 0)
        stream_fps = q2d_ok(st->r_frame_rate);
    /* The sidecar's fps is the time base its labels were written against. */
    if (p->sc.fps > 0) {
        p->fps = p->sc.fps;
        if (stream_fps > 0 && fabs(stream_fps - p->sc.fps) > 1e-3 * p->sc.fps)
            fprintf(stderr, "vdbench: %s: warning: sidecar fps %g differs from stream %g; "
                    "using the sidecar's\n", path, p->sc.fps, stream_fps);
    } else if (stream_fps > 0 && stream_fps <= 1e6) {
        p->fps = stream_fps;
    } else {
        p->fps = 30.0;
        fprintf(stderr, "vdbench: %s: warning: unknown frame rate, assuming 30 fps\n", path);
    }
    /* Label times are rounded (ms in the corpus); judge each frame a little after its
     * nominal time so a rounded t_start/t_end cannot flip the frame on the boundary. */
    p->eps = fmin(1e-3, 0.25 / p->fps);

    int w = st->codecpar->width, h = st->codecpar->height;
    if ((p->sc.width && p->sc.width != w) || (p->sc.height && p->sc.height != h))
        fprintf(stderr, "vdbench: %s: warning: sidecar is %dx%d but the video is %dx%d; "
                "labels are clipped to the frame, not scaled\n", path, p->sc.width,
                p->sc.height, w, h);

    p->active = malloc((p->sc.n_regions + 1) * sizeof(*p->active));
    if (!p->active) {
        ret = -ENOMEM;
        goto fail;
    }

    int length = p->sc.frame_count > 0 ? p->sc.frame_count
                 : st->nb_frames > 0 && st->nb_frames <= INT_MAX ? (int)st->nb_frames
                                                                  : -1;
    if (length >= 0 && p->max_frames > 0 && length > p->max_frames)
        length = p->max_frames;

    wl->ops = &file_ops;
    wl->fps = p->fps;
    wl->length = length;
    set_name(wl, path);
    return 0;

fail:
    file_close(wl);
    return ret;
}
