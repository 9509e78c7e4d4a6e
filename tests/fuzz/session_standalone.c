/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives the session fuzz harness without libFuzzer, for `make check` with any compiler: the
 * given files first (crash reproducers), then every seed, then deterministic mutations of the
 * seeds for at most N iterations or S seconds.  A crash while running a mutation writes the
 * input to ./fuzz-session-crash.bin, to replay with this program or the libFuzzer binary.
 *
 *   fuzz_session_standalone [-n N] [-t SECONDS] [--write-seeds DIR] [FILE...]
 *     -n N                   mutations (default 200000)
 *     -t SECONDS             time limit for the mutations (default VD_FUZZ_SECONDS, else 8)
 *     --write-seeds DIR      write the seeds as files (a libFuzzer corpus) and exit */
#define _GNU_SOURCE

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vd/session.h>

#include "../../transport/handshake.h"
#include "../testutil.h"
#include "fuzz_session.h"

#define CRASH_FILE "fuzz-session-crash.bin"
#define MAX_SEEDS 32
#define MIN_SZ(a, b) ((a) < (b) ? (a) : (b))

typedef struct bytes {
    uint8_t *d;
    size_t n;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    b->d = tu_xrealloc(b->d, b->n + n);
    if (n)
        memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put8(bytes *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static void put16(bytes *b, unsigned v)
{
    put8(b, v & 0xff);
    put8(b, (v >> 8) & 0xff);
}

static void put32(bytes *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

static void put64(bytes *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* One chunk of the record targets: kind, length, then the plaintext built in body. */
static void chunk(bytes *b, unsigned kind, const bytes *body)
{
    put8(b, kind);
    put16(b, (unsigned)body->n);
    put(b, body->d, body->n);
}

static void put_ticket(bytes *b)
{
    for (int i = 0; i < VD_TICKET_BYTES; i++)
        put8(b, (unsigned)(0xa0 + i));
}

typedef struct seed {
    char name[32];
    bytes b;
} seed;

static seed seeds[MAX_SEEDS];
static size_t n_seeds;

static bytes *new_seed(const char *name, unsigned mode)
{
    CHECK(n_seeds < MAX_SEEDS, "too many seeds");
    seed *s = &seeds[n_seeds++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    put8(&s->b, mode);
    return &s->b;
}

#define BODY(...)                                                                             \
    do {                                                                                      \
        bytes body_ = {0};                                                                    \
        bytes *r = &body_;                                                                    \
        __VA_ARGS__;                                                                          \
        chunk(b, kind_, r);                                                                   \
        free(body_.d);                                                                        \
    } while (0)

static void make_seeds(void)
{
    bytes *b;
    unsigned kind_ = 0;

    /* Mode 0: a real client's msg1, then a msg3-sized frame. */
    {
        vd_keypair c, srv;
        CHECK(vd_keypair_generate(&c) == 0 && vd_keypair_generate(&srv) == 0, "keys");
        vd_session_config cfg;
        vd_session_config_default(&cfg, VD_SESSION_CLIENT);
        cfg.identity = c;
        cfg.server_key = srv.public_key;
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
        vd_session *s;
        CHECK(vd_session_new(&cfg, sv[0], &s) == 0, "client");
        CHECK(vd_session_dispatch(s, POLLOUT) == 0, "dispatch");
        uint8_t msg1[64];
        ssize_t n = recv(sv[1], msg1, sizeof(msg1), MSG_DONTWAIT);
        CHECK(n == 52, "msg1 is %zd bytes", n);
        vd_session_free(&s);
        close(sv[1]);
        b = new_seed("server-handshake", 0);
        put(b, msg1, 52);
        put32(b, VD_HS_MSG3_SIZE);
        for (int i = 0; i < VD_HS_MSG3_SIZE; i++)
            put8(b, (unsigned)(i * 37));
        b = new_seed("server-msg1-only", 0);
        put(b, msg1, 52);
    }
    /* Mode 1: a msg2-sized frame. */
    b = new_seed("client-handshake", 1);
    put32(b, VD_HS_MSG2_SIZE);
    for (int i = 0; i < VD_HS_MSG2_SIZE; i++)
        put8(b, (unsigned)(i * 11 + 5));

    /* Mode 2: everything a client receives. */
    b = new_seed("client-records", 2);
    BODY(put8(r, 0x01); put32(r, 1); put32(r, 1); put64(r, 0); put_ticket(r));
    BODY(put8(r, 0x10); put8(r, 3); put8(r, 0); put16(r, 0); put32(r, 1); put32(r, 1);
         put32(r, 20); put64(r, 1); put64(r, 0); for (int i = 0; i < 20; i++) put8(r, (unsigned)i));
    BODY(put8(r, 0x10); put8(r, 1); put8(r, 0); put16(r, 0); put32(r, 1); put32(r, 2);
         put32(r, 25); put64(r, 2); put64(r, 16667); for (int i = 0; i < 10; i++) put8(r, 7));
    BODY(put8(r, 0x10); put8(r, 2); put8(r, 0); put16(r, 0); put32(r, 1); put32(r, 2);
         put32(r, 25); put64(r, 2); put64(r, 16667); for (int i = 0; i < 15; i++) put8(r, 9));
    BODY(put8(r, 0x40); put16(r, 2); put16(r, 2); put16(r, 0); put16(r, 1);
         for (int i = 0; i < 16; i++) put8(r, 0xff));
    BODY(put8(r, 0x41); put32(r, 1); put32(r, 5); put32(r, 6); put32(r, 1));
    BODY(put8(r, 0x23); put64(r, 1); put64(r, 2));
    BODY(put8(r, 0x24); put64(r, 1); put64(r, 0));
    kind_ = 1;
    BODY(put8(r, 0x03));
    kind_ = 0;
    b = new_seed("client-raw-framing", 2);
    BODY(put8(r, 0x01); put32(r, 1); put32(r, 1); put64(r, 0); put_ticket(r));
    kind_ = 2;
    BODY(put32(r, 0x7fffffff));
    kind_ = 0;
    b = new_seed("client-reject", 2);
    kind_ = 1;
    BODY(put8(r, 0x02); put32(r, 13));
    kind_ = 0;

    /* Mode 3: everything a server receives. */
    b = new_seed("server-records", 3);
    BODY(put8(r, 0x20); put64(r, 1); put32(r, 1); put32(r, 100); put32(r, 2); put32(r, 0));
    BODY(put8(r, 0x21); put32(r, 0xffffffffu); put32(r, 1));
    BODY(put8(r, 0x22); put64(r, 3); put64(r, 4); put32(r, 1); put32(r, 0));
    BODY(put8(r, 0x25); put32(r, 7); put32(r, 0));
    BODY(put8(r, 0x30); put32(r, 30); put32(r, 0x61); put32(r, 1); put32(r, 0));
    BODY(put8(r, 0x31); put32(r, 1); put32(r, 10); put32(r, 20); put32(r, 1); put32(r, 0);
         put32(r, (uint32_t)-120));
    BODY(put8(r, 0x23); put64(r, 1); put64(r, 2));
    BODY(put8(r, 0x24); put64(r, 1); put64(r, 0));
    BODY(put8(r, 0x24); put64(r, 1ull << 63); put64(r, 0)); /* a keepalive's answer: no event */
    kind_ = 1;
    BODY(put8(r, 0x03));
    kind_ = 0;

    /* Mode 4: payloads and strings. */
    b = new_seed("payload3", 4);
    put32(b, 1), put32(b, 1920), put32(b, 1080), put32(b, 8u << 20), put64(b, 0);
    put32(b, 0), put32(b, 0);
    for (int i = 0; i < 64 + VD_HS_RESUME_SIZE; i++)
        put8(b, 0);
    /* With the resume block: ticket, frame_seq, 3 surfaces, reserved, 64 ids. */
    b = new_seed("payload3-resume", 4);
    put32(b, 1), put32(b, 1920), put32(b, 1080), put32(b, 8u << 20), put64(b, 1u << 20);
    put32(b, VD_HS_F_RESUME), put32(b, 0);
    for (int i = 0; i < 64; i++)
        put8(b, 0);
    put_ticket(b);
    put64(b, 1234), put32(b, 3), put32(b, 0);
    put32(b, 1), put32(b, 2), put32(b, 0xfffffffeu);
    for (int i = 3; i < VD_MAX_SURFACES; i++)
        put32(b, 0);
    b = new_seed("payload2", 4);
    put32(b, 1), put32(b, 1);
    for (int i = 0; i < 24; i++)
        put8(b, 0);
    {
        vd_keypair k;
        char str[VD_KEY_STRING_SIZE], tok[VD_TOKEN_STRING_SIZE];
        CHECK(vd_keypair_generate(&k) == 0 && vd_key_to_string(k.public_key, str, sizeof(str)) == 0,
              "key");
        b = new_seed("key-string", 4);
        put(b, str, strlen(str));
        CHECK(vd_pairing_token_generate(tok, sizeof(tok)) == 0, "token");
        b = new_seed("token-string", 4);
        put(b, tok, strlen(tok));
    }
}

/* ---- crash reporting ------------------------------------------------------------------------ */

static const uint8_t *volatile current_data;
static volatile size_t current_size;

static void save_current(void)
{
    if (!current_data)
        return;
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
        static const char msg[] = "fuzz_session_standalone: crashed; input saved to " CRASH_FILE "\n";
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

extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void run_one(const uint8_t *data, size_t size)
{
    current_data = data;
    current_size = size;
    LLVMFuzzerTestOneInput(data, size);
    current_data = NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- mutations ------------------------------------------------------------------------------ */

static void mutate(tu_rng *r, bytes *b)
{
    if (b->n < 2)
        return;
    size_t at = 1 + tu_rng_below(r, (uint32_t)(b->n - 1)); /* the mode byte stays */
    switch (tu_rng_below(r, 6)) {
    case 0:
        b->d[at] ^= (uint8_t)(1u << tu_rng_below(r, 8));
        break;
    case 1:
        b->d[at] = (uint8_t)tu_rng_u32(r);
        break;
    case 2: { /* insert up to 16 random bytes */
        size_t n = 1 + tu_rng_below(r, 16);
        b->d = tu_xrealloc(b->d, b->n + n);
        memmove(b->d + at + n, b->d + at, b->n - at);
        for (size_t i = 0; i < n; i++)
            b->d[at + i] = (uint8_t)tu_rng_u32(r);
        b->n += n;
        break;
    }
    case 3: { /* erase */
        size_t n = 1 + tu_rng_below(r, (uint32_t)MIN_SZ(16, b->n - at));
        memmove(b->d + at, b->d + at + n, b->n - at - n);
        b->n -= n;
        break;
    }
    case 4: { /* duplicate a range (replays a chunk) */
        size_t n = 1 + tu_rng_below(r, (uint32_t)MIN_SZ(64, b->n - at));
        b->d = tu_xrealloc(b->d, b->n + n);
        memmove(b->d + at + n, b->d + at, b->n - at);
        b->n += n;
        break;
    }
    default: /* truncate */
        b->n = at;
        break;
    }
}

int main(int argc, char **argv)
{
    unsigned long iterations = 200000;
    double seconds = getenv("VD_FUZZ_SECONDS") ? atof(getenv("VD_FUZZ_SECONDS")) : 8.0;
    const char *seed_dir = NULL;
    int first_path = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            iterations = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--write-seeds") && i + 1 < argc) {
            seed_dir = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [-n N] [-t SECONDS] [--write-seeds DIR] [FILE...]\n",
                    argv[0]);
            return 2;
        } else {
            first_path = i;
            break;
        }
    }
    make_seeds();
    if (seed_dir) {
        mkdir(seed_dir, 0755);
        for (size_t i = 0; i < n_seeds; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", seed_dir, seeds[i].name);
            FILE *f = fopen(path, "wb");
            CHECK(f && fwrite(seeds[i].b.d, 1, seeds[i].b.n, f) == seeds[i].b.n, "write %s", path);
            fclose(f);
        }
        printf("%zu seeds written to %s\n", n_seeds, seed_dir);
        return 0;
    }
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(save_current);

    for (int i = first_path; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        CHECK(f, "open %s", argv[i]);
        bytes b = {0};
        uint8_t buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
            put(&b, buf, n);
        fclose(f);
        run_one(b.d, b.n);
        printf("%s: ok\n", argv[i]);
        free(b.d);
    }

    for (size_t i = 0; i < n_seeds; i++) {
        run_one(seeds[i].b.d, seeds[i].b.n);
        const fuzz_session_stats *s = &fuzz_session_last;
        printf("seed %-20s %5zu bytes: %zu records, %zu events, %zu packets%s\n", seeds[i].name,
               seeds[i].b.n, s->records, s->events, s->packets, s->failed ? ", failed" : "");
    }
    /* The record seeds must get through authentication to the parser. */
    run_one(seeds[3].b.d, seeds[3].b.n);
    CHECK(fuzz_session_last.packets == 2 && fuzz_session_last.events >= 6 &&
              !fuzz_session_last.failed,
          "client-records seed does not reach the parser");
    /* The server's: ack, refresh, loss, keyframe, key, pointer, one rtt; then the goodbye. */
    for (size_t i = 0; i < n_seeds; i++) {
        if (strcmp(seeds[i].name, "server-records"))
            continue;
        run_one(seeds[i].b.d, seeds[i].b.n);
        CHECK(fuzz_session_last.events == 7 && !fuzz_session_last.failed,
              "server-records seed: %zu events%s", fuzz_session_last.events,
              fuzz_session_last.failed ? ", failed" : "");
    }
    /* The payload3 seeds must be valid, so that mutations start inside the format. */
    for (size_t i = 0; i < n_seeds; i++) {
        if (strncmp(seeds[i].name, "payload3", 8))
            continue;
        vd_hs_payload3 p3;
        int resume = !strcmp(seeds[i].name, "payload3-resume");
        CHECK(vd_hs_payload3_parse(seeds[i].b.d + 1, seeds[i].b.n - 1, &p3) == 0 &&
                  !!(p3.flags & VD_HS_F_RESUME) == resume &&
                  p3.resume.n_surfaces == (resume ? 3u : 0u) &&
                  p3.resume.frame_seq == (resume ? 1234u : 0u) &&
                  p3.ticket[15] == (resume ? 0xaf : 0),
              "seed %s does not parse", seeds[i].name);
    }

    double t0 = now_s();
    unsigned long it;
    bytes b = {0};
    size_t failed = 0, events = 0;
    for (it = 0; it < iterations && now_s() - t0 < seconds; it++) {
        tu_rng r = tu_rng_init(0x5e55u ^ ((uint64_t)it * 0x9e3779b97f4a7c15u));
        const seed *s = &seeds[tu_rng_below(&r, (uint32_t)n_seeds)];
        b.n = 0;
        put(&b, s->b.d, s->b.n);
        int n = 1 + (int)tu_rng_below(&r, 4);
        for (int m = 0; m < n; m++)
            mutate(&r, &b);
        run_one(b.d, b.n);
        failed += (size_t)fuzz_session_last.failed;
        events += fuzz_session_last.events;
    }
    printf("mutations: %lu inputs ok in %.1f s (%zu sessions failed cleanly, %zu events)\n", it,
           now_s() - t0, failed, events);
    free(b.d);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].b.d);
    return 0;
}
