/* Checks every SIMD damage kernel this CPU can run against the C reference on random rows;
 * vdbench times them (its "kernels" section).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/damage_dsp.h"

#define MAX_ROW_BYTES (8192 * 4)
#define MAX_MISALIGN 64
/* Bytes after the state array that no kernel may touch. */
#define GUARD 16
#define GUARD_BYTE 0xa5
#define MAX_FAILURES 20

typedef struct kernel {
    const char *name;
    vd_diff_row_fn fn;
    unsigned flag; /* 0 = always available */
} kernel;

static const kernel kernels[] = {
    {"c", vd_diff_row_c, 0},
    {"sse2", vd_diff_row_sse2, VD_CPU_SSE2},
    {"avx2", vd_diff_row_avx2, VD_CPU_AVX2},
};

static const uint32_t test_masks[] = {0x00ffffffu, 0xffffffffu, 0x0000ffffu};

static uint64_t rng_state;
static unsigned n_failures;

/* splitmix64: tiny, fixed-seed, good enough to spread test cases. */
static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint32_t rnd(void) { return (uint32_t)(rnd64() >> 32); }

static uint8_t mask_byte(uint32_t mask, size_t pos) { return (uint8_t)(mask >> (8 * (pos & 3))); }

/* Byte-at-a-time transcription of the header's contract, so the C kernel is checked too. */
static void diff_row_ref(const uint8_t *cur, const uint8_t *prev, size_t row_bytes,
                         size_t tile_bytes, uint32_t mask, uint8_t *state, size_t n_tiles)
{
    for (size_t t = 0; t < n_tiles; t++) {
        if (state[t])
            continue;
        size_t end = VD_MIN((t + 1) * tile_bytes, row_bytes);
        for (size_t i = t * tile_bytes; i < end; i++)
            if ((cur[i] ^ prev[i]) & mask_byte(mask, i)) {
                state[t] = 1;
                break;
            }
    }
}

static void *xalloc(size_t size)
{
    void *p = NULL;
    /* Exact sizes (no rounding) so AddressSanitizer flags any read past the row. */
    if (posix_memalign(&p, 64, size ? size : 1)) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

typedef struct test_case {
    const uint8_t *cur, *prev;
    size_t row_bytes, tile_bytes, n_tiles;
    uint32_t mask;
    unsigned cur_off, prev_off;
    const uint8_t *init; /* n_tiles + GUARD bytes */
    const char *what;
    uint64_t iter;
} test_case;

static void report(const test_case *tc, const char *name, const uint8_t *want, const uint8_t *got)
{
    if (++n_failures > MAX_FAILURES)
        return;
    printf("FAIL %s [%s, iter %" PRIu64 "]: row_bytes %zu tile_bytes %zu mask 0x%08" PRIx32
           " cur_off %u prev_off %u n_tiles %zu\n",
           name, tc->what, tc->iter, tc->row_bytes, tc->tile_bytes, tc->mask, tc->cur_off,
           tc->prev_off, tc->n_tiles);
    for (size_t t = 0; t < tc->n_tiles + GUARD; t++) {
        if (want[t] == got[t])
            continue;
        if (t >= tc->n_tiles) {
            printf("  wrote guard byte %zu past the state array: 0x%02x\n", t - tc->n_tiles,
                   got[t]);
            continue;
        }
        printf("  tile %zu: initial %u, expected %u, got %u; differing bytes (row offset/"
               "mask byte):",
               t, tc->init[t], want[t], got[t]);
        size_t end = VD_MIN((t + 1) * tc->tile_bytes, tc->row_bytes);
        unsigned shown = 0;
        for (size_t i = t * tc->tile_bytes; i < end && shown < 8; i++)
            if (tc->cur[i] != tc->prev[i]) {
                printf(" %zu/%02x", i, mask_byte(tc->mask, i));
                shown++;
            }
        printf(shown ? "\n" : " none\n");
    }
}

/* Runs the reference and every available kernel on one case; returns nonzero on mismatch. */
static int check_case(const test_case *tc, unsigned flags, uint8_t *want, uint8_t *got)
{
    int bad = 0;
    size_t n = tc->n_tiles + GUARD;
    memcpy(want, tc->init, n);
    diff_row_ref(tc->cur, tc->prev, tc->row_bytes, tc->tile_bytes, tc->mask, want, tc->n_tiles);
    for (size_t k = 0; k < VD_ARRAY_SIZE(kernels); k++) {
        if (kernels[k].flag && !(flags & kernels[k].flag))
            continue;
        memcpy(got, tc->init, n);
        kernels[k].fn(tc->cur, tc->prev, tc->row_bytes, tc->tile_bytes, tc->mask, got,
                      tc->n_tiles);
        if (memcmp(want, got, n)) {
            report(tc, kernels[k].name, want, got);
            bad = 1;
        }
    }
    return bad;
}

/* Returns a row offset whose mask byte is zero, near pos, or SIZE_MAX if the mask has none. */
static size_t masked_out_pos(uint32_t mask, size_t pos, size_t row_bytes)
{
    for (size_t d = 0; d < 4; d++) {
        size_t p = (pos & ~(size_t)3) + d;
        if (p < row_bytes && !mask_byte(mask, p))
            return p;
    }
    return SIZE_MAX;
}

static void random_cases(uint64_t iters, unsigned flags)
{
    uint8_t *cur_buf = NULL, *prev_buf = NULL;
    uint8_t *init = xalloc(MAX_ROW_BYTES / 4 + GUARD);
    uint8_t *want = xalloc(MAX_ROW_BYTES / 4 + GUARD);
    uint8_t *got = xalloc(MAX_ROW_BYTES / 4 + GUARD);
    uint64_t masked_only = 0, it;

    for (it = 0; it < iters && n_failures <= MAX_FAILURES; it++) {
        test_case tc = {.iter = it, .what = "random"};
        uint32_t r = rnd() % 16;
        /* Bias towards tiny and short rows, where the tail paths live. */
        tc.row_bytes = 1 + (r < 3 ? rnd() % 64 : r < 6 ? rnd() % 1024 : rnd() % MAX_ROW_BYTES);
        r = rnd() % 16;
        tc.tile_bytes = r < 7 ? 128 : r < 14 ? 256 : 4 * (1 + rnd() % 80);
        r = rnd() % 16;
        tc.mask = r < 15 ? test_masks[r % VD_ARRAY_SIZE(test_masks)] : rnd();
        tc.cur_off = rnd() % MAX_MISALIGN;
        tc.prev_off = rnd() % MAX_MISALIGN;
        tc.n_tiles = (tc.row_bytes + tc.tile_bytes - 1) / tc.tile_bytes;

        cur_buf = xalloc(tc.cur_off + tc.row_bytes);
        prev_buf = xalloc(tc.prev_off + tc.row_bytes);
        uint8_t *cur = cur_buf + tc.cur_off, *prev = prev_buf + tc.prev_off;
        for (size_t i = 0; i < tc.row_bytes; i++)
            cur[i] = (uint8_t)rnd();
        memcpy(prev, cur, tc.row_bytes);

        uint32_t skip_rate = rnd() % 4; /* 0..3 in 8 tiles pre-marked */
        for (size_t t = 0; t < tc.n_tiles; t++)
            init[t] = rnd() % 8 < skip_rate ? (rnd() % 4 ? 2 : 1 + rnd() % 255) : 0;
        memset(init + tc.n_tiles, GUARD_BYTE, GUARD);

        r = rnd() % 16;
        int only_masked = r == 0;
        unsigned n_diffs = r == 1 ? 0 : r == 2 ? (unsigned)(tc.row_bytes / 8) : 1 + rnd() % 6;
        for (unsigned d = 0; d < n_diffs; d++) {
            size_t t = rnd() % tc.n_tiles;
            size_t start = t * tc.tile_bytes;
            size_t end = VD_MIN(start + tc.tile_bytes, tc.row_bytes);
            size_t pos;
            unsigned kind = only_masked ? 3 : rnd() % 4;
            if (kind == 0)
                pos = start;
            else if (kind == 1)
                pos = end - 1;
            else
                pos = start + rnd() % (end - start);
            if (kind == 3 && (pos = masked_out_pos(tc.mask, pos, end)) == SIZE_MAX)
                continue;
            prev[pos] ^= (uint8_t)(1 + rnd() % 255);
        }
        /* Masked-out differences alone must leave every tile as it was. */
        if (only_masked && tc.mask == 0x00ffffffu) {
            masked_only++;
            uint8_t tmp[MAX_ROW_BYTES / 4 + GUARD];
            memcpy(tmp, init, tc.n_tiles + GUARD);
            diff_row_ref(cur, prev, tc.row_bytes, tc.tile_bytes, tc.mask, tmp, tc.n_tiles);
            if (memcmp(tmp, init, tc.n_tiles + GUARD)) {
                printf("FAIL ref marked a tile for masked-out bytes (iter %" PRIu64 ")\n", it);
                n_failures++;
            }
        }

        tc.cur = cur;
        tc.prev = prev;
        tc.init = init;
        check_case(&tc, flags, want, got);
        free(cur_buf);
        free(prev_buf);
    }
    printf("random: %" PRIu64 " cases (%" PRIu64 " with only masked-out differences)\n", it,
           masked_only);
    free(init);
    free(want);
    free(got);
}

/* Every short row length with a single difference at every position: covers each tail split
 * of every kernel exhaustively. */
static void exhaustive_short_rows(unsigned flags)
{
    uint8_t init[64 + GUARD], want[64 + GUARD], got[64 + GUARD];
    uint64_t cases = 0;
    for (size_t row_bytes = 1; row_bytes <= 520 && n_failures <= MAX_FAILURES; row_bytes++) {
        unsigned off = (unsigned)(row_bytes % MAX_MISALIGN);
        uint8_t *cur_buf = xalloc(row_bytes + off), *prev_buf = xalloc(row_bytes + 1);
        uint8_t *cur = cur_buf + off, *prev = prev_buf + 1;
        for (size_t i = 0; i < row_bytes; i++)
            cur[i] = (uint8_t)rnd();
        for (size_t tb = 128; tb <= 256; tb += 128) {
            for (size_t m = 0; m < VD_ARRAY_SIZE(test_masks); m++) {
                test_case tc = {.cur = cur, .prev = prev, .row_bytes = row_bytes,
                                .tile_bytes = tb, .mask = test_masks[m], .cur_off = off,
                                .prev_off = 1, .init = init, .what = "exhaustive"};
                tc.n_tiles = (row_bytes + tb - 1) / tb;
                memset(init, 0, tc.n_tiles);
                memset(init + tc.n_tiles, GUARD_BYTE, GUARD);
                for (size_t pos = 0; pos <= row_bytes; pos++) {
                    memcpy(prev, cur, row_bytes);
                    if (pos < row_bytes) /* pos == row_bytes: identical rows */
                        prev[pos] ^= 0xff;
                    tc.iter = pos;
                    check_case(&tc, flags, want, got);
                    cases++;
                }
            }
        }
        free(cur_buf);
        free(prev_buf);
    }
    printf("exhaustive: %" PRIu64 " cases\n", cases);
}

int main(int argc, char **argv)
{
    /* Fixed default so a run is reproducible; vary it with --seed. */
    uint64_t seed = 20240611;
    uint64_t iters = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            iters = strtoull(argv[++i], NULL, 0);
        } else {
            fprintf(stderr, "usage: %s [--seed N] [--iters N]\n", argv[0]);
            return 2;
        }
    }
    rng_state = seed;

    unsigned flags = vd_cpu_flags();
    printf("checkasm: seed %" PRIu64 ", cpu flags:%s%s\n", seed,
           flags & VD_CPU_SSE2 ? " sse2" : "", flags & VD_CPU_AVX2 ? " avx2" : "");

    /* The dispatcher must honour the mask it is given. */
    vd_damage_dsp dsp;
    vd_damage_dsp_init(&dsp, 0);
    if (dsp.diff_row != vd_diff_row_c) {
        printf("FAIL vd_damage_dsp_init(0) did not pick the C kernel\n");
        n_failures++;
    }
    for (size_t k = 1; k < VD_ARRAY_SIZE(kernels); k++) {
        vd_damage_dsp_init(&dsp, kernels[k].flag);
        vd_diff_row_fn want = flags & kernels[k].flag ? kernels[k].fn : vd_diff_row_c;
        if (dsp.diff_row != want) {
            printf("FAIL vd_damage_dsp_init(%s) picked the wrong kernel\n", kernels[k].name);
            n_failures++;
        }
    }

    exhaustive_short_rows(flags);
    random_cases(iters, flags);
    if (n_failures)
        printf("%u failure(s)%s; rerun with --seed %" PRIu64 "\n", n_failures,
               n_failures > MAX_FAILURES ? " (stopped early)" : "", seed);
    else
        printf("all kernels match\n");

    return n_failures != 0;
}
