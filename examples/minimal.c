/* The smallest complete use of libvd: encode frames of a changing BGRX surface, pass the bytes to
 * a decoder and check that the viewer's image matches, bit for bit.  README.md walks through it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vd/vd.h>

#define WIDTH 640
#define HEIGHT 360

/* What a viewer would do with an image: here, compare it with what the host had. */
static int present(const vd_image *img, const uint8_t *expected)
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            for (int c = 0; c < 3; c++) /* the X byte carries nothing */
                if (img->data[(size_t)y * (size_t)img->stride + (size_t)x * 4 + (size_t)c] !=
                    expected[((size_t)y * WIDTH + (size_t)x) * 4 + (size_t)c])
                    return -1;
    printf("frame %llu: %zu damaged rectangle(s), bit-exact\n", (unsigned long long)img->frame_seq,
           img->n_damage);
    return 0;
}

int main(void)
{
    uint8_t *pixels = calloc((size_t)WIDTH * HEIGHT, 4);
    vd_encoder *enc = NULL;
    vd_decoder *dec = NULL;
    int ret = 1;
    if (!pixels || vd_encoder_new(NULL, &enc) < 0 || vd_decoder_new(NULL, &dec) < 0)
        goto out;

    for (int frame = 0; frame < 5; frame++) {
        /* The guest draws: a bar that grows by 100 pixels a frame. */
        vd_rect changed = {0, 100, 100 * (frame + 1), 20};
        for (int y = changed.y; y < changed.y + changed.height; y++)
            memset(pixels + ((size_t)y * WIDTH) * 4, 0x80 + frame, (size_t)changed.width * 4);

        vd_frame f = {
            .surface_id = 0,
            .format = VD_FORMAT_BGRX8888,
            .width = WIDTH,
            .height = HEIGHT,
            .stride = WIDTH * 4,
            .data = pixels,
            .damage = frame ? &changed : NULL, /* NULL: unknown, libvd scans for changes */
            .n_damage = frame ? 1 : 0,
        };
        int err = vd_encoder_send_frame(enc, &f);
        if (err < 0) {
            fprintf(stderr, "send_frame: %s\n", vd_strerror(err));
            goto out;
        }
        vd_packet pkt;
        while (vd_encoder_receive_packet(enc, &pkt) == 0) {
            /* pkt.data / pkt.size would cross the network here. */
            if ((err = vd_decoder_send_packet(dec, pkt.data, pkt.size)) < 0) {
                /* A real viewer asks the server to refresh; the stream goes on. */
                fprintf(stderr, "send_packet: %s\n", vd_strerror(err));
                vd_encoder_request_refresh(enc, VD_ALL_SURFACES);
            }
            vd_image img;
            while (vd_decoder_receive_image(dec, &img) == 0)
                if (present(&img, pixels) < 0) {
                    fprintf(stderr, "frame %d differs\n", frame);
                    goto out;
                }
        }
    }
    ret = 0;
out:
    vd_encoder_free(&enc);
    vd_decoder_free(&dec);
    free(pixels);
    return ret;
}
