/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decoder fuzz harness's input format, and seed inputs made by the real encoder.
 *
 * Input format: a sequence of packets, each a 4-byte little-endian length followed by that
 * many bytes of wire data.  A length larger than what is left takes the rest of the input,
 * and a final fragment of fewer than 4 bytes is ignored, so every byte string is a valid
 * input and truncation keeps the packets before the cut.  An empty packet stands for a dropped
 * connection: the harness asks the decoder for its resume state there. */
#ifndef VD_FUZZ_SEEDS_H
#define VD_FUZZ_SEEDS_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_LEN_BYTES 4

/* The libFuzzer entry point (tests/fuzz/fuzz_decoder.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the last LLVMFuzzerTestOneInput call saw, so standalone.c can check that the seeds
 * are valid streams. */
typedef struct fuzz_stats {
    size_t packets, errors, images;
} fuzz_stats;
extern fuzz_stats fuzz_last_stats;

/* Splits an input: returns 1 and the next packet, advancing *pos, or 0 at the end. */
static inline int fuzz_next_packet(const uint8_t *data, size_t size, size_t *pos,
                                   const uint8_t **pkt, size_t *pkt_size)
{
    if (size - *pos < FUZZ_LEN_BYTES)
        return 0;
    const uint8_t *p = data + *pos;
    size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    size_t left = size - *pos - FUZZ_LEN_BYTES;
    if (len > left)
        len = left;
    *pkt = p + FUZZ_LEN_BYTES;
    *pkt_size = len;
    *pos += FUZZ_LEN_BYTES + len;
    return 1;
}

typedef struct fuzz_input {
    char name[48];
    uint8_t *data;
    size_t size;
} fuzz_input;

typedef struct fuzz_seeds {
    fuzz_input *inputs;
    size_t count;
} fuzz_seeds;

/* Builds the seed inputs; deterministic (same bytes on every run and machine).  With a
 * decoder-only build (no encoder) it returns hand-written streams instead.  Returns 0 or a
 * negative error. */
int fuzz_seeds_make(fuzz_seeds *seeds);
void fuzz_seeds_free(fuzz_seeds *seeds);

/* Appends one packet in the input format to a growable buffer (*buf of *size, *cap bytes).
 * Returns 0 or -1 on allocation failure. */
int fuzz_append_packet(uint8_t **buf, size_t *size, size_t *cap, const uint8_t *pkt,
                       size_t pkt_size);

#endif
