/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives the decoder fuzz harness without libFuzzer, for `make check` with any compiler:
 * the given files first (crash reproducers, or corpus directories), then every seed, then N
 * deterministic mutations of the seeds.  A crash or abort while running a mutation writes
 * that input to ./fuzz-standalone-crash.bin so it can be replayed with this program or with
 * the libFuzzer binary.
 *
 *   fuzz_decoder_standalone [-n N] [--write-seeds DIR] [FILE|DIR...]
 *     -n N, --iterations N   mutations to run (default VD_FUZZ_ITERATIONS, else 120000)
 *     --write-seeds DIR      write the seeds as files (a libFuzzer corpus) and exit
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../testutil.h"
#include "seeds.h"

#define DEFAULT_ITERATIONS 120000
#define CRASH_FILE "fuzz-standalone-crash.bin"
#define MAX_PACKETS 4096

/* ---- a growable byte buffer ---------------------------------------------------------------- */

typedef struct bytes {
    uint8_t *d;
    size_t n, cap;
} bytes;

static void bytes_reserve(bytes *b, size_t n)
{
    if (n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < n)
        cap *= 2;
    b->d = tu_xrealloc(b->d, cap);
    b->cap = cap;
}

static void bytes_insert(bytes *b, size_t at, const uint8_t *src, size_t n)
{
    bytes_reserve(b, b->n + n);
    memmove(b->d + at + n, b->d + at, b->n - at);
    if (src)
        memcpy(b->d + at, src, n);
    b->n += n;
}

static void bytes_erase(bytes *b, size_t at, size_t n)
{
    memmove(b->d + at, b->d + at + n, b->n - at - n);
    b->n -= n;
}

/* ---- crash reporting ------------------------------------------------------------------------ */

/* The input being run, for the crash handlers (which may only use async-signal-safe calls). */
static const uint8_t *volatile current_data;
static volatile size_t current_size;

static void save_current(void)
{
    if (!current_data)
        return;
    static const char msg[] = "fuzz_decoder_standalone: crashed; input saved to " CRASH_FILE "\n";
    int fd = open(CRASH_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        while (off < current_size) {
            ssize_t w = write(fd, current_data + off, current_size - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(fd);
        ssize_t ignored = write(2, msg, sizeof(msg) - 1);
        (void)ignored;
    }
    current_data = NULL;
}

static void on_signal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sanitizers end the process with _exit, not a signal; they call this hook first. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void run_one(const uint8_t *data, size_t size, int save_on_crash)
{
    current_data = save_on_crash ? data : NULL;
    current_size = size;
    LLVMFuzzerTestOneInput(data, size);
    current_data = NULL;
}

/* ---- mutations ------------------------------------------------------------------------------ */

typedef struct packet_pos {
    size_t at;  /* offset of the length prefix */
    size_t len; /* payload bytes (after clamping, as the harness reads it) */
} packet_pos;

static size_t split_packets(const bytes *b, packet_pos *pp)
{
    size_t pos = 0, n = 0, len;
    const uint8_t *pkt;
    while (n < MAX_PACKETS && fuzz_next_packet(b->d, b->n, &pos, &pkt, &len))
        pp[n++] = (packet_pos){(size_t)(pkt - b->d) - FUZZ_LEN_BYTES, len};
    return n;
}

static void set_packet_len(bytes *b, size_t at, size_t len)
{
    for (int i = 0; i < FUZZ_LEN_BYTES; i++)
        b->d[at + (size_t)i] = (uint8_t)(len >> (8 * i));
}

static uint32_t rl32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wl32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Picks a wire message in a random packet: its header offset in b and its body size, from the
 * message framing as the encoder wrote it.  Returns 0 when there is none. */
static int pick_message(tu_rng *r, bytes *b, const packet_pos *pp, size_t np, size_t *msg,
                        uint32_t *body, size_t *packet)
{
    if (!np)
        return 0;
    size_t k = tu_rng_below(r, (uint32_t)np);
    size_t start = pp[k].at + FUZZ_LEN_BYTES, end = start + pp[k].len;
    size_t offsets[256], n = 0;
    for (size_t p = start; p + 8 <= end && n < TU_ARRAY_SIZE(offsets);) {
        uint32_t size = rl32(b->d + p + 4);
        if (size > end - p - 8)
            break;
        offsets[n++] = p;
        p += 8 + (size_t)size;
    }
    if (!n)
        return 0;
    *msg = offsets[tu_rng_below(r, (uint32_t)n)];
    *body = rl32(b->d + *msg + 4);
    *packet = k;
    return 1;
}

static uint32_t interesting32(tu_rng *r, uint32_t old)
{
    static const uint32_t values[] = {0, 1, 2, 63, 64, 65, 127, 128, 1023, 1024, 1025, 8191,
                                      8192, 8193, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
                                      0x80000000u, 0xfffffffeu, 0xffffffffu};
    switch (tu_rng_below(r, 3)) {
    case 0:
        return values[tu_rng_below(r, TU_ARRAY_SIZE(values))];
    case 1:
        return old + (uint32_t)tu_rng_below(r, 33) - 16;
    default:
        return old ^ (1u << tu_rng_below(r, 32));
    }
}

/* Changes a field of a message that the encoder wrote: what a corrupting channel or a
 * hostile peer would aim at. */
static void mutate_field(tu_rng *r, bytes *b, size_t msg, uint32_t body)
{
    uint8_t *h = b->d + msg, *p = h + 8;
    switch (tu_rng_below(r, 6)) {
    case 0: /* message type */
        h[0] = (uint8_t)(tu_rng_below(r, 2) ? tu_rng_u32(r) : 0x10 + tu_rng_below(r, 0x40));
        return;
    case 1: /* flags and reserved header bytes */
        h[1 + tu_rng_below(r, 3)] ^= (uint8_t)(1u << tu_rng_below(r, 8));
        return;
    case 2: /* the wire length */
        wl32(h + 4, interesting32(r, body));
        return;
    default: /* a 32-bit field of the body */
        if (body >= 4) {
            size_t off = 4 * tu_rng_below(r, body / 4);
            wl32(p + off, interesting32(r, rl32(p + off)));
        }
        return;
    }
}

static void mutate(tu_rng *r, bytes *b, const fuzz_seeds *seeds)
{
    static packet_pos pp[MAX_PACKETS];
    size_t np = split_packets(b, pp);
    uint8_t tmp[64];
    size_t msg, packet;
    uint32_t body;
    switch (tu_rng_below(r, 14)) {
    case 0: /* bit flip anywhere */
        if (b->n)
            b->d[tu_rng_below(r, (uint32_t)b->n)] ^= (uint8_t)(1u << tu_rng_below(r, 8));
        break;
    case 1: { /* byte set to a random or boundary value */
        static const uint8_t special[] = {0, 1, 0x7f, 0x80, 0xff};
        if (b->n)
            b->d[tu_rng_below(r, (uint32_t)b->n)] =
                tu_rng_below(r, 2) ? (uint8_t)tu_rng_u32(r)
                                   : special[tu_rng_below(r, TU_ARRAY_SIZE(special))];
        break;
    }
    case 2: /* truncate the input */
        b->n = tu_rng_below(r, (uint32_t)b->n + 1);
        break;
    case 3: { /* insert random bytes */
        size_t n = 1 + tu_rng_below(r, 16);
        for (size_t i = 0; i < n; i++)
            tmp[i] = (uint8_t)tu_rng_u32(r);
        bytes_insert(b, tu_rng_below(r, (uint32_t)b->n + 1), tmp, n);
        break;
    }
    case 4: { /* remove bytes */
        size_t at = tu_rng_below(r, (uint32_t)b->n + 1);
        size_t n = 1 + tu_rng_below(r, 16);
        if (n > b->n - at)
            n = b->n - at;
        bytes_erase(b, at, n);
        break;
    }
    case 5: /* duplicate a packet */
        if (np) {
            packet_pos p = pp[tu_rng_below(r, (uint32_t)np)];
            size_t n = FUZZ_LEN_BYTES + p.len;
            uint8_t *copy = tu_xmalloc(n); /* b->d moves under the insertion */
            memcpy(copy, b->d + p.at, n);
            bytes_insert(b, pp[tu_rng_below(r, (uint32_t)np)].at, copy, n);
            free(copy);
        }
        break;
    case 6: /* drop a packet */
        if (np) {
            packet_pos p = pp[tu_rng_below(r, (uint32_t)np)];
            bytes_erase(b, p.at, FUZZ_LEN_BYTES + p.len);
        }
        break;
    case 7: /* move a packet to the end (reordering) */
        if (np > 1) {
            packet_pos p = pp[tu_rng_below(r, (uint32_t)np - 1)];
            size_t n = FUZZ_LEN_BYTES + p.len;
            uint8_t *copy = tu_xmalloc(n);
            memcpy(copy, b->d + p.at, n);
            bytes_erase(b, p.at, n);
            bytes_insert(b, b->n, copy, n);
            free(copy);
        }
        break;
    case 8: /* truncate one packet, keeping the following ones intact */
        if (np) {
            packet_pos p = pp[tu_rng_below(r, (uint32_t)np)];
            size_t keep = tu_rng_below(r, (uint32_t)p.len + 1);
            bytes_erase(b, p.at + FUZZ_LEN_BYTES + keep, p.len - keep);
            set_packet_len(b, p.at, keep);
        }
        break;
    case 9: /* change a packet's length prefix */
        if (np) {
            packet_pos p = pp[tu_rng_below(r, (uint32_t)np)];
            set_packet_len(b, p.at, interesting32(r, (uint32_t)p.len));
        }
        break;
    case 10: case 11: /* corrupt a field of a wire message */
        if (pick_message(r, b, pp, np, &msg, &body, &packet))
            mutate_field(r, b, msg, body);
        break;
    case 12: /* shorten a message body with consistent framing (tile payloads, mostly) */
        if (pick_message(r, b, pp, np, &msg, &body, &packet) && body) {
            uint32_t cut = 1 + tu_rng_below(r, body < 64 ? body : 64);
            bytes_erase(b, msg + 8 + body - cut, cut);
            wl32(b->d + msg + 4, body - cut);
            set_packet_len(b, pp[packet].at, pp[packet].len - cut);
        }
        break;
    default: /* splice: append the packets of another seed from some point on */
        if (seeds->count) {
            const fuzz_input *o = &seeds->inputs[tu_rng_below(r, (uint32_t)seeds->count)];
            size_t from = tu_rng_below(r, (uint32_t)o->size + 1);
            bytes_insert(b, b->n, o->data + from, o->size - from);
        }
        break;
    }
}

/* ---- files ---------------------------------------------------------------------------------- */

static int read_file(const char *path, bytes *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    b->n = 0;
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        bytes_insert(b, b->n, chunk, n);
    int err = ferror(f);
    fclose(f);
    return err ? -1 : 0;
}

/* Runs a file, or every regular file in a directory (a libFuzzer corpus). */
static size_t run_path(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
    bytes b = {0};
    size_t n = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        CHECK(d, "%s: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            char full[4096];
            snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
                CHECK(read_file(full, &b) == 0, "%s: %s", full, strerror(errno));
                run_one(b.d, b.n, 0);
                n++;
            }
        }
        closedir(d);
    } else {
        CHECK(read_file(path, &b) == 0, "%s: %s", path, strerror(errno));
        printf("running %s (%zu bytes)\n", path, b.n);
        fflush(stdout);
        run_one(b.d, b.n, 0);
        n++;
    }
    free(b.d);
    return n;
}

static void write_seeds(const char *dir, const fuzz_seeds *seeds)
{
    if (mkdir(dir, 0755) < 0)
        CHECK(errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
    for (size_t i = 0; i < seeds->count; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/seed-%02zu-%s", dir, i, seeds->inputs[i].name);
        FILE *f = fopen(path, "wb");
        CHECK(f, "%s: %s", path, strerror(errno));
        CHECK(fwrite(seeds->inputs[i].data, 1, seeds->inputs[i].size, f) ==
                      seeds->inputs[i].size && fclose(f) == 0,
              "writing %s failed", path);
        printf("wrote %s (%zu bytes)\n", path, seeds->inputs[i].size);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned long parse_count(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    CHECK(!errno && end != s && !*end, "not a count: '%s'", s);
    return v;
}

int main(int argc, char **argv)
{
    unsigned long iterations = DEFAULT_ITERATIONS;
    const char *env = getenv("VD_FUZZ_ITERATIONS");
    if (env && *env)
        iterations = parse_count(env);
    const char *seed_dir = NULL;
    int first_path = argc;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--iterations")) && i + 1 < argc) {
            iterations = parse_count(argv[++i]);
        } else if (!strcmp(argv[i], "--write-seeds") && i + 1 < argc) {
            seed_dir = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: %s [-n N] [--write-seeds DIR] [FILE|DIR...]\n", argv[0]);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "unknown option %s (try --help)\n", argv[i]);
            return 2;
        } else {
            first_path = i;
            break;
        }
    }

    fuzz_seeds seeds;
    int ret = fuzz_seeds_make(&seeds);
    CHECK(ret == 0, "making the seeds failed: %s", vd_strerror(ret));
    if (seed_dir) {
        write_seeds(seed_dir, &seeds);
        fuzz_seeds_free(&seeds);
        return 0;
    }

    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(save_current);

    for (int i = first_path; i < argc; i++)
        printf("%s: %zu input(s) ok\n", argv[i], run_path(argv[i]));

    double t0 = now_s();
    size_t seed_bytes = 0;
    for (size_t i = 0; i < seeds.count; i++) {
        run_one(seeds.inputs[i].data, seeds.inputs[i].size, 1);
        seed_bytes += seeds.inputs[i].size;
        const fuzz_stats *s = &fuzz_last_stats;
        printf("seed %-28s %6zu bytes, %3zu packets, %3zu images\n", seeds.inputs[i].name,
               seeds.inputs[i].size, s->packets, s->images);
        /* A seed the decoder rejects would start the fuzzer from garbage. */
        CHECK(s->errors == 0 && s->images > 0 && s->packets > 0,
              "seed %s is not a clean stream: %zu of %zu packets rejected", seeds.inputs[i].name,
              s->errors, s->packets);
    }
    printf("seeds: %zu inputs (%zu bytes) decoded cleanly\n", seeds.count, seed_bytes);

    /* Each iteration is a pure function of its index, so any one can be regenerated. */
    bytes b = {0};
    fuzz_stats total = {0};
    for (unsigned long it = 0; it < iterations; it++) {
        tu_rng r = tu_rng_init(0xf022u ^ ((uint64_t)it * 0x9e3779b97f4a7c15u));
        const fuzz_input *in = &seeds.inputs[tu_rng_below(&r, (uint32_t)seeds.count)];
        b.n = 0;
        bytes_insert(&b, 0, in->data, in->size);
        int n = 1 + (int)tu_rng_below(&r, 4);
        for (int m = 0; m < n; m++)
            mutate(&r, &b, &seeds);
        run_one(b.d, b.n, 1);
        total.packets += fuzz_last_stats.packets;
        total.errors += fuzz_last_stats.errors;
        total.images += fuzz_last_stats.images;
        if ((it + 1) % 50000 == 0) {
            printf("  %lu mutations, %.1f s\n", it + 1, now_s() - t0);
            fflush(stdout);
        }
    }
    printf("mutations: %lu inputs ok in %.1f s (%zu packets, %zu rejected, %zu images)\n",
           iterations, now_s() - t0, total.packets, total.errors, total.images);
    free(b.d);
    fuzz_seeds_free(&seeds);
    return 0;
}
