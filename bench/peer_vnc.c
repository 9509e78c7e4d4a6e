/* vdbench peers "tight" and "zrle": libvncserver's own encoders and libvncclient's own
 * decoders.  Each peer holds one server-side client record and one viewer for the whole run, so
 * their zlib streams (4 for Tight, 1 for ZRLE) span every frame, as over one VNC connection.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* memfd_create */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rfb/rfb.h>
#include <rfb/rfbclient.h>

#include "peers.h"

/* Tight needs libjpeg in libvncserver even with JPEG off (the encoder is built only with it). */
#if defined(LIBVNCSERVER_HAVE_LIBZ) && defined(LIBVNCSERVER_HAVE_LIBJPEG)
#define VNC_HAVE_TIGHT 1
#else
#define VNC_HAVE_TIGHT 0
#endif

typedef struct vnc_peer {
    int tight;
    int width, height; /* at most, as created */
    rfbScreenInfoPtr screen;
    rfbClientPtr cl; /* the server's record of the viewer; cl->sock is a memfd */
    rfbClient *viewer; /* libvncclient; viewer->sock is a memfd */
    int broken; /* a failed frame leaves the zlib streams of both ends out of step */
} vnc_peer;

static void vnc_quiet(const char *format, ...)
{
    (void)format;
}

/* BGRX bytes in memory (B at byte 0) as a 32-bit true-colour pixel in host order: the viewer
 * asks for it, the server serves it, so neither end translates. */
static rfbPixelFormat vnc_bgrx_format(void)
{
    const uint16_t one = 1;
    const int le = *(const uint8_t *)&one;
    rfbPixelFormat f = {0};
    f.bitsPerPixel = 32;
    f.depth = 24;
    f.bigEndian = !le;
    f.trueColour = 1;
    f.redMax = f.greenMax = f.blueMax = 255;
    f.redShift = le ? 16 : 8;
    f.greenShift = le ? 8 : 16;
    f.blueShift = le ? 0 : 24;
    return f;
}

static void vnc_destroy(void *state)
{
    vnc_peer *p = state;
    if (!p)
        return;
    if (p->screen)
        rfbScreenCleanup(p->screen); /* frees p->cl and closes its memfd; not the frame */
    if (p->viewer) {
        free(p->viewer->frameBuffer);
        rfbClientCleanup(p->viewer); /* closes viewer->sock */
    }
    free(p);
}

static void *vnc_create(int width, int height, int tight)
{
    /* RFB rectangles are 16-bit. */
    if (width <= 0 || height <= 0 || width > 0xffff || height > 0xffff ||
        (tight && !VNC_HAVE_TIGHT))
        return NULL;
    rfbLog = rfbErr = vnc_quiet;
    rfbClientLog = rfbClientErr = vnc_quiet;

    vnc_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->tight = tight;
    p->width = width;
    p->height = height;
    const rfbPixelFormat fmt = vnc_bgrx_format();

    /* Server: a screen without listening sockets; frameBuffer is pointed at each frame. */
    int argc = 0;
    p->screen = rfbGetScreen(&argc, NULL, width, height, 8, 3, 4);
    if (!p->screen)
        goto fail;
    p->screen->serverFormat = fmt;

    /* rfbNewClient wants a socket (it peeks for a WebSockets handshake, waiting 100 ms, and
     * writes its ProtocolVersion); the handshake itself is skipped and the record set up as
     * SetPixelFormat and SetEncodings would.  The socket is then replaced by a memfd, so an
     * update of any size is written without a reader draining it. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        goto fail;
    p->cl = rfbNewClient(p->screen, sv[0]);
    close(sv[1]);
    if (!p->cl)
        goto fail;
    int fd = memfd_create("vdbench-vnc-server", MFD_CLOEXEC);
    if (fd < 0)
        goto fail;
    int ok = dup2(fd, p->cl->sock) >= 0;
    close(fd);
    if (!ok)
        goto fail;
    p->cl->state = RFB_NORMAL;
    p->cl->format = fmt; /* = serverFormat, so translateFn stays rfbTranslateNone */
    if (tight) {
#if VNC_HAVE_TIGHT
        p->cl->preferredEncoding = rfbEncodingTight;
        /* libvncclient and other Tight viewers ask for LastRect, which lets the encoder split
         * solid areas out of a tile into rects of their own. */
        p->cl->enableLastRectEncoding = TRUE;
        /* No QualityLevel pseudo-encoding: JPEG off, lossless subencodings only. */
        p->cl->tightQualityLevel = -1;
        p->cl->turboQualityLevel = -1;
        /* The server's default when the viewer sends no CompressLevel.  With JPEG off the
         * TurboVNC-derived encoder runs every level above 1 as its level 1 (zlib level 1);
         * 0.9.14 does so even for 9, which later versions run stronger (zlib 5 to 7). */
        p->cl->tightCompressLevel = TIGHT_DEFAULT_COMPRESSION;
#endif
    } else {
        p->cl->preferredEncoding = rfbEncodingZRLE; /* not ZYWRLE: lossless */
    }

    /* Viewer: the state InitialiseRFBConnection and SetFormatAndEncodings would leave. */
    p->viewer = rfbGetClient(8, 3, 4);
    if (!p->viewer)
        goto fail;
    rfbClient *c = p->viewer;
    c->format = fmt;
    c->si.format = fmt;
    c->si.framebufferWidth = (uint16_t)width;
    c->si.framebufferHeight = (uint16_t)height;
    c->width = width;
    c->height = height;
    c->updateRect.x = c->updateRect.y = 0;
    c->updateRect.w = width;
    c->updateRect.h = height;
    c->frameBuffer = malloc((size_t)width * (size_t)height * 4);
    if (!c->frameBuffer)
        goto fail;
    /* libvncclient only read()s and write()s its socket: a memfd holding one update at a time
     * needs no second thread to feed it. */
    c->sock = memfd_create("vdbench-vnc-viewer", MFD_CLOEXEC);
    if (c->sock < 0)
        goto fail;
    return p;

fail:
    vnc_destroy(p);
    return NULL;
}

static void *tight_create(int width, int height) { return vnc_create(width, height, 1); }
static void *zrle_create(int width, int height) { return vnc_create(width, height, 0); }

static int vnc_check_rects(const vnc_peer *p, int width, int height, size_t stride,
                           const vd_rect *rects, size_t n_rects)
{
    if (width <= 0 || height <= 0 || width > p->width || height > p->height ||
        stride < (size_t)width * 4 || stride > INT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        if (r->x < 0 || r->y < 0 || r->width <= 0 || r->height <= 0 || r->x > width - r->width ||
            r->y > height - r->height)
            return -EINVAL;
    }
    return 0;
}

static int vnc_encode(void *state, const uint8_t *bgrx, size_t stride, int width, int height,
                      const vd_rect *rects, size_t n_rects, vd_buf *out)
{
    vnc_peer *p = state;
    if (p->broken)
        return -EIO;
    int err = vnc_check_rects(p, width, height, stride, rects, n_rects);
    if (err)
        return err;
    if (n_rects == 0)
        return 0; /* a server sends no update */
    if (!p->tight && n_rects > 0xffff)
        return -E2BIG; /* nRects of one FramebufferUpdate */

    const int fd = p->cl->sock;
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -EIO;
    /* The encoders only read the frame, at any stride. */
    p->screen->frameBuffer = (char *)bgrx;
    p->screen->paddedWidthInBytes = (int)stride;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        rfbBool ok;
#if VNC_HAVE_TIGHT
        if (p->tight)
            ok = rfbSendRectEncodingTight(p->cl, r->x, r->y, r->width, r->height);
        else
#endif
            ok = rfbSendRectEncodingZRLE(p->cl, r->x, r->y, r->width, r->height);
        if (!ok)
            goto fail;
    }
    /* Tight's rect count is unknown ahead (solid areas split off), so the server ends the
     * update with a LastRect marker, as it does for real. */
    if (p->tight && !rfbSendLastRectMarker(p->cl))
        goto fail;
    if (!rfbSendUpdateBuf(p->cl))
        goto fail;

    const off_t n = lseek(fd, 0, SEEK_CUR);
    if (n < 0)
        goto fail;
    uint8_t *dst = vd_buf_reserve(out, (size_t)n);
    if (!dst)
        return -ENOMEM;
    for (off_t done = 0; done < n;) {
        ssize_t got = pread(fd, dst + done, (size_t)(n - done), done);
        if (got <= 0)
            goto fail;
        done += got;
    }
    out->size += (size_t)n;
    return 0;

fail:
    p->broken = 1;
    return -EIO;
}

static int vnc_write_at(int fd, const uint8_t *data, size_t size, off_t off)
{
    while (size) {
        ssize_t n = pwrite(fd, data, size, off);
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
        off += n;
    }
    return 0;
}

static int vnc_decode(void *state, const uint8_t *data, size_t size, uint8_t *img, size_t stride,
                      int width, int height, const vd_rect *rects, size_t n_rects)
{
    vnc_peer *p = state;
    rfbClient *c = p->viewer;
    if (p->broken)
        return -EIO;
    int err = vnc_check_rects(p, width, height, stride, rects, n_rects);
    if (err)
        return err;
    if (n_rects == 0)
        return size ? -EINVAL : 0;

    /* The FramebufferUpdate header is the transport's, not counted: nRects, or 0xffff when a
     * LastRect marker ends the rects. */
    const unsigned count = p->tight ? 0xffffu : (unsigned)n_rects;
    const uint8_t head[4] = {rfbFramebufferUpdate, 0, (uint8_t)(count >> 8), (uint8_t)count};
    const int fd = c->sock;
    if (ftruncate(fd, 0) != 0 || vnc_write_at(fd, head, sizeof(head), 0) != 0 ||
        vnc_write_at(fd, data, size, (off_t)sizeof(head)) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return -EIO;
    if (!HandleRFBServerMessage(c))
        goto fail;
    /* Every byte read, none left over: else the two ends disagree on where the update ends.
     * (The viewer may append its next FramebufferUpdateRequest, hence >=.) */
    if (c->buffered || lseek(fd, 0, SEEK_CUR) < (off_t)(sizeof(head) + size))
        goto fail;

    const size_t fb_stride = (size_t)c->width * 4;
    for (size_t i = 0; i < n_rects; i++) {
        const vd_rect *r = &rects[i];
        for (int y = r->y; y < r->y + r->height; y++)
            memcpy(img + (size_t)y * stride + (size_t)r->x * 4,
                   c->frameBuffer + (size_t)y * fb_stride + (size_t)r->x * 4, (size_t)r->width * 4);
    }
    return 0;

fail:
    p->broken = 1;
    return -EPROTO;
}

const bench_peer bench_peer_tight = {
    .name = "tight",
    .create = tight_create,
    .destroy = vnc_destroy,
    .encode = vnc_encode,
    .decode = vnc_decode,
};

const bench_peer bench_peer_zrle = {
    .name = "zrle",
    .create = zrle_create,
    .destroy = vnc_destroy,
    .encode = vnc_encode,
    .decode = vnc_decode,
};
