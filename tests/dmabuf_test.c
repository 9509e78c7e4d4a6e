/* dma-buf input (vd_frame.dmabuf): a frame passed as a buffer fd gives the same packets as
 * the same pixels passed as data (a memfd stands in for the dma-buf, so this runs
 * everywhere), and bad descriptors are refused and leave the encoder working.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* memfd_create */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* The field took space from reserved[32]: the struct keeps its size. */
_Static_assert(sizeof(void *) != 8 || sizeof(vd_frame) == 128, "vd_frame changed size");

#define DRM_FORMAT_MOD_INVALID 0x00ffffffffffffffull

static int warnings;

static void log_cb(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque;
    if (level <= VD_LOG_WARNING)
        warnings++;
    fprintf(stderr, "  [log %d] %s\n", (int)level, msg);
}

/* A buffer the host renders into: its fd and a CPU mapping. */
typedef struct host_buf {
    int fd;
    uint8_t *map;    /* the memory */
    size_t size;     /* of the memory */
    uint32_t base;   /* where the memory starts in the fd: 0, lavapipe's opaque fds 4096 */
    size_t fd_size;  /* fstat()'s */
} host_buf;

typedef struct out_bytes {
    uint8_t *data;
    size_t size, cap;
} out_bytes;

/* Sends a frame and takes its packets, concatenated. */
static int encode(vd_encoder *enc, const vd_frame *f, out_bytes *o)
{
    o->size = 0;
    int ret = vd_encoder_send_frame(enc, f);
    vd_packet pkt;
    while (vd_encoder_receive_packet(enc, &pkt) == 0) {
        if (o->size + pkt.size > o->cap) {
            o->cap = 2 * (o->size + pkt.size);
            o->data = tu_xrealloc(o->data, o->cap);
        }
        memcpy(o->data + o->size, pkt.data, pkt.size);
        o->size += pkt.size;
    }
    return ret;
}

static void same_bytes(const out_bytes *a, const out_bytes *b, const char *what, int frame)
{
    CHECK(a->size == b->size && (!a->size || !memcmp(a->data, b->data, a->size)),
          "%s, frame %d: %zu bytes, the data encoder %zu", what, frame, a->size, b->size);
}

static vd_encoder *encoder(const vd_encoder_config *base, int gpu)
{
    vd_encoder_config cfg = *base;
    cfg.video_codecs = 0;
    if (!gpu)
        cfg.gpu = VD_GPU_OFF;
    vd_encoder *enc;
    CHECK(vd_encoder_new(&cfg, &enc) == 0, "vd_encoder_new");
    return enc;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d, "/proc/self/fd");
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* The frame of canvas c as it lies in buffer b at offset with stride: data NULL. */
static vd_frame dmabuf_frame(const tu_canvas *c, const host_buf *b, vd_dmabuf *d, uint32_t offset,
                             int stride, const vd_rect *damage, size_t n_damage)
{
    vd_copy_rows(b->map + offset, (size_t)stride, c->data, (size_t)c->stride,
                 (size_t)c->width * (size_t)c->bpp, (size_t)c->height);
    *d = (vd_dmabuf){.fd = b->fd, .offset = b->base + offset};
    vd_frame f = tu_frame(c, 1, damage, n_damage);
    f.stride = stride;
    f.data = NULL;
    f.dmabuf = d;
    return f;
}

/* Random changes with exact, unknown or empty damage. */
static void change(tu_rng *r, const tu_canvas *c, vd_rect *damage, const vd_rect **dmg,
                   size_t *n)
{
    *n = 0;
    *dmg = damage;
    switch (tu_rng_below(r, 4)) {
    case 0:
        break; /* nothing changed */
    case 1:
        tu_scribble(r, c, damage, 8);
        *dmg = NULL;
        break;
    default:
        *n = tu_scribble(r, c, damage, 8);
        break;
    }
}

/* frames frames into ref (data) and each of encs (the pixels written into bufs in turn,
 * passed as a dma-buf; with_data: data too, every other frame); all must give the same
 * bytes.  check(frame, i) runs after each frame of encoder i. */
static void run(vd_encoder *ref, vd_encoder *const *encs, int n_encs, const host_buf *bufs,
                int n_bufs, enum vd_pixel_format fmt, int w, int h, int pad, uint32_t offset,
                int frames, uint64_t seed, int with_data, const char *what,
                void (*check)(vd_encoder *enc, int frame))
{
    tu_rng r = tu_rng_init(seed);
    tu_canvas c = tu_canvas_new(fmt, w, h, 0);
    tu_fill_desktop(&r, &c);
    int stride = c.stride + pad;
    out_bytes a = {0}, b = {0};
    for (int frame = 0; frame < frames; frame++) {
        vd_rect damage[8];
        const vd_rect *dmg = NULL;
        size_t n_damage = 0;
        if (frame)
            change(&r, &c, damage, &dmg, &n_damage);
        vd_frame rf = tu_frame(&c, 1, dmg, n_damage);
        CHECK(encode(ref, &rf, &a) == 0, "%s, frame %d: the data encoder", what, frame);
        for (int i = 0; i < n_encs; i++) {
            vd_dmabuf d;
            vd_frame f = dmabuf_frame(&c, &bufs[frame % n_bufs], &d, offset, stride, dmg, n_damage);
            if (with_data && i == n_encs - 1 && frame % 2)
                f.data = bufs[frame % n_bufs].map + offset;
            int ret = encode(encs[i], &f, &b);
            CHECK(ret == 0, "%s, frame %d, encoder %d: %s", what, frame, i, vd_strerror(ret));
            same_bytes(&b, &a, what, frame);
            if (check)
                check(encs[i], frame);
        }
    }
    free(a.data);
    free(b.data);
    tu_canvas_free(&c);
}

/* Bad descriptors are refused, the encoder unchanged: its next frame matches ref's. */
static void bad_descriptors(vd_encoder *enc, vd_encoder *ref, const host_buf *b, const char *what)
{
    tu_rng r = tu_rng_init(7);
    tu_canvas c = tu_canvas_new(VD_FORMAT_BGRX8888, 150, 90, 0);
    tu_fill_desktop(&r, &c);
    out_bytes x = {0}, y = {0};
    vd_dmabuf d;
    vd_frame good = dmabuf_frame(&c, b, &d, 0, c.stride, NULL, 0);
    CHECK(encode(enc, &good, &x) == 0 && encode(ref, &good, &y) == 0, "%s: a good frame", what);
    same_bytes(&x, &y, what, 0);
    tu_scribble(&r, &c, (vd_rect[8]){{0}}, 8);
    good = dmabuf_frame(&c, b, &d, 0, c.stride, NULL, 0);
    int closed = dup(b->fd);
    close(closed);
    struct {
        const char *name;
        vd_dmabuf d;
        int stride, err;
        int no_dmabuf;
    } cases[] = {
        {"negative fd", {.fd = -1}, c.stride, EBADF, 0},
        {"closed fd", {.fd = closed}, c.stride, EBADF, 0},
        {"offset past the end",
         {.fd = b->fd, .offset = (uint32_t)(b->fd_size - (size_t)c.stride * 89)}, c.stride, EINVAL, 0},
        {"stride past the end", {.fd = b->fd}, (int)(b->fd_size / 89) + 1, EINVAL, 0},
        {"stride too small", {.fd = b->fd}, c.stride - 1, EINVAL, 0},
        {"tiled modifier", {.fd = b->fd, .modifier = 0x0100000000000001ull}, c.stride, ENOTSUP, 0},
        {"DRM_FORMAT_MOD_INVALID", {.fd = b->fd, .modifier = DRM_FORMAT_MOD_INVALID}, c.stride,
         ENOTSUP, 0},
        {"neither data nor dma-buf", {.fd = b->fd}, c.stride, EINVAL, 1},
    };
    for (size_t i = 0; i < TU_ARRAY_SIZE(cases); i++) {
        vd_frame f = good;
        f.dmabuf = cases[i].no_dmabuf ? NULL : &cases[i].d;
        f.stride = cases[i].stride;
        warnings = 0;
        int ret = encode(enc, &f, &x);
        CHECK(ret == VD_ERR(cases[i].err), "%s: %s gave %s, expected %s", what, cases[i].name,
              vd_strerror(ret), vd_strerror(VD_ERR(cases[i].err)));
        CHECK(warnings == 1 && x.size == 0, "%s: %s: %d warnings, %zu bytes", what, cases[i].name,
              warnings, x.size);
    }
    CHECK(encode(enc, &good, &x) == 0 && encode(ref, &good, &y) == 0, "%s: after", what);
    same_bytes(&x, &y, what, 1);
    free(x.data);
    free(y.data);
    tu_canvas_free(&c);
}

/* ---- the CPU path: memfds ---------------------------------------------------------------- */

static host_buf memfd_buf(size_t size)
{
    host_buf b = {.size = size, .fd_size = size};
    b.fd = memfd_create("vd-frame", MFD_CLOEXEC);
    CHECK(b.fd >= 0 && ftruncate(b.fd, (off_t)size) == 0, "memfd_create: %s", strerror(errno));
    b.map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b.fd, 0);
    CHECK(b.map != MAP_FAILED, "mmap");
    return b;
}

static void test_cpu(const vd_encoder_config *cfg)
{
    host_buf bufs[3];
    for (int i = 0; i < 3; i++)
        bufs[i] = memfd_buf(1 << 20);
    int fds = open_fds();
    static const struct {
        enum vd_pixel_format fmt;
        int w, h, pad;
        uint32_t offset;
    } sc[] = {
        {VD_FORMAT_BGRX8888, 333, 201, 0, 0},
        {VD_FORMAT_RGBA8888, 130, 70, 12, 4096 + 64},
        {VD_FORMAT_RGB565, 257, 99, 2, 6},
    };
    for (size_t i = 0; i < TU_ARRAY_SIZE(sc); i++) {
        vd_encoder *ref = encoder(cfg, 0), *encs[2] = {encoder(cfg, 0), encoder(cfg, 0)};
        char what[64];
        snprintf(what, sizeof(what), "memfd scenario %zu", i);
        run(ref, encs, 2, bufs, 3, sc[i].fmt, sc[i].w, sc[i].h, sc[i].pad, sc[i].offset, 30,
            10 + i, 1, what, NULL);
        vd_encoder_free(&encs[0]);
        vd_encoder_free(&encs[1]);
        vd_encoder_free(&ref);
    }
    vd_encoder *enc = encoder(cfg, 0), *ref = encoder(cfg, 0);
    bad_descriptors(enc, ref, &bufs[0], "memfd");
    vd_encoder_free(&enc);
    vd_encoder_free(&ref);
    CHECK(open_fds() == fds, "%d fds open, %d before", open_fds(), fds);
    for (int i = 0; i < 3; i++) {
        CHECK(fcntl(bufs[i].fd, F_GETFD) >= 0, "libvd closed the host's fd");
        munmap(bufs[i].map, bufs[i].size);
        close(bufs[i].fd);
    }
    printf("dmabuf_test: memfd frames (3 formats, strides and offsets, with and without data) "
           "give the data path's bytes; 8 bad descriptors refused\n");
}

int main(void)
{
    vd_log_set_callback(log_cb, NULL);
    vd_encoder_config cfg;
    vd_encoder_config_default(&cfg);
    test_cpu(&cfg);
    printf("dmabuf_test: ok\n");
    return 0;
}
