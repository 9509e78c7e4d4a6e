/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the decoder: the input is a list of packets (format in seeds.h), fed
 * in order with every image drained after each packet.  Any crash, sanitizer report, leak or
 * broken invariant (abort) is a finding.  Built two ways: with clang -fsanitize=fuzzer, and
 * with standalone.c as a plain program for `make check`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <vd/vd.h>

#include "seeds.h"

/* Small limits keep the fuzzer on parsing logic instead of huge allocations, and make the
 * surface-count limit reachable. */
#define FUZZ_MAX_SURFACES 8
#define FUZZ_MAX_PIXELS (1024 * 1024)

/* Surfaces the viewer knows, to check the NEW_SURFACE / RESIZED / DESTROYED flags. */
typedef struct known_surface {
    uint32_t id;
    enum vd_pixel_format format;
    int32_t width, height;
} known_surface;

typedef struct viewer {
    known_surface s[64];
    unsigned n;
} viewer;

fuzz_stats fuzz_last_stats;

/* Reads are summed into this so the compiler keeps them and ASan/MSan see every byte. */
static volatile uint64_t sink;

#define INVARIANT(cond)                                                                       \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_decoder.c:%d: invariant failed: %s\n", __LINE__, #cond);     \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

static void quiet_log(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque, (void)level, (void)msg;
}

static known_surface *viewer_find(viewer *v, uint32_t id)
{
    for (unsigned i = 0; i < v->n; i++)
        if (v->s[i].id == id)
            return &v->s[i];
    return NULL;
}

static void check_image(viewer *v, const vd_image *img)
{
    known_surface *k = viewer_find(v, img->surface_id);
    if (img->flags & VD_IMAGE_DESTROYED) {
        INVARIANT(img->flags == VD_IMAGE_DESTROYED);
        INVARIANT(!img->data && !img->n_damage);
        /* A surface created and destroyed before its first image may be reported without
         * ever having been announced; that is harmless, so only forget known ones. */
        if (k)
            *k = v->s[--v->n];
        return;
    }
    int bpp = vd_format_bytes_per_pixel(img->format);
    INVARIANT(bpp > 0);
    INVARIANT(img->data);
    INVARIANT(img->width >= 1 && img->width <= VD_MAX_DIMENSION);
    INVARIANT(img->height >= 1 && img->height <= VD_MAX_DIMENSION);
    INVARIANT((uint64_t)img->width * (uint64_t)img->height <= FUZZ_MAX_PIXELS);
    INVARIANT(img->stride >= img->width * bpp);
    INVARIANT(!(img->flags & ~(uint32_t)(VD_IMAGE_NEW_SURFACE | VD_IMAGE_RESIZED)));

    if (img->flags & VD_IMAGE_NEW_SURFACE) {
        INVARIANT(!k);
        INVARIANT(v->n < 64);
        k = &v->s[v->n++];
        k->id = img->surface_id;
    } else {
        INVARIANT(k);
        /* Geometry may change only with RESIZED. */
        if (!(img->flags & VD_IMAGE_RESIZED))
            INVARIANT(k->format == img->format && k->width == img->width &&
                      k->height == img->height);
    }
    k->format = img->format;
    k->width = img->width;
    k->height = img->height;

    uint64_t area = 0;
    INVARIANT(img->n_damage == 0 || img->damage);
    for (size_t i = 0; i < img->n_damage; i++) {
        const vd_rect *r = &img->damage[i];
        INVARIANT(r->x >= 0 && r->y >= 0 && r->width > 0 && r->height > 0);
        INVARIANT(r->x <= img->width - r->width && r->y <= img->height - r->height);
        area += (uint64_t)r->width * (uint64_t)r->height;
    }
    /* A new or resized surface is entirely new content. */
    if (img->flags & (VD_IMAGE_NEW_SURFACE | VD_IMAGE_RESIZED))
        INVARIANT(area >= (uint64_t)img->width * (uint64_t)img->height);

    uint64_t sum = 0;
    size_t row_bytes = (size_t)img->width * (size_t)bpp;
    for (int32_t y = 0; y < img->height; y++) {
        const uint8_t *row = img->data + (size_t)y * (size_t)img->stride;
        for (size_t x = 0; x < row_bytes; x++)
            sum += row[x];
    }
    sink += sum;
}

/* Receives every waiting image; returns how many. */
static unsigned drain(vd_decoder *dec, viewer *v, int eof_expected)
{
    vd_image img;
    unsigned n = 0;
    int ret;
    while ((ret = vd_decoder_receive_image(dec, &img)) == 0) {
        check_image(v, &img);
        n++;
    }
    INVARIANT(ret == (eof_expected ? VD_EOF : VD_ERR(EAGAIN)));
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;
    if (!initialised) {
        /* Every bad packet logs an error; thousands of lines per second help nobody. */
        vd_log_set_callback(quiet_log, NULL);
        initialised = 1;
    }

    vd_decoder_config cfg;
    vd_decoder_config_default(&cfg);
    cfg.max_surfaces = FUZZ_MAX_SURFACES;
    cfg.max_surface_pixels = FUZZ_MAX_PIXELS;
    vd_decoder *dec;
    if (vd_decoder_new(&cfg, &dec) < 0)
        abort();
    viewer v = {.n = 0};
    fuzz_stats stats = {0};

    size_t pos = 0, pkt_size;
    const uint8_t *pkt;
    while (fuzz_next_packet(data, size, &pos, &pkt, &pkt_size)) {
        if (!pkt_size) { /* the connection dropped: where does the decoder stand? */
            vd_resume_state st;
            INVARIANT(vd_decoder_get_resume_state(dec, &st) == 0);
            stats.images += drain(dec, &v, 0); /* broken surfaces go */
            INVARIANT(st.n_surfaces <= FUZZ_MAX_SURFACES && st.n_surfaces == v.n);
            for (uint32_t i = 0; i < st.n_surfaces; i++)
                INVARIANT(viewer_find(&v, st.surface_ids[i]));
            continue;
        }
        int ret = vd_decoder_send_packet(dec, pkt, pkt_size);
        /* Everything was drained, so EAGAIN or EOF would break the API contract. */
        INVARIANT(ret == 0 || ret == VD_ERR(EBADMSG) || ret == VD_ERR(ENOTSUP) ||
                  ret == VD_ERR(ENOMEM));
        stats.packets++;
        stats.errors += ret < 0;
        stats.images += drain(dec, &v, 0);
        INVARIANT(v.n <= FUZZ_MAX_SURFACES);
    }

    /* Draining hands out nothing new (all was received) and then only EOF. */
    INVARIANT(vd_decoder_send_packet(dec, NULL, 0) == 0);
    INVARIANT(drain(dec, &v, 1) == 0);
    INVARIANT(vd_decoder_send_packet(dec, data, size) == VD_EOF);
    vd_decoder_free(&dec);
    INVARIANT(!dec);
    fuzz_last_stats = stats;
    return 0;
}
