/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness for the session: the handshake parsers and the record parser.  The first
 * input byte picks the target (mode % 5):
 *   0  bytes from a would-be client to a server in its handshake (msg1, msg3, framing)
 *   1  bytes from a would-be server to a client that has sent msg1 (msg2, framing)
 *   2  records to a client past the handshake: the rest is a list of chunks
 *      [u8 kind][u16 le length][bytes]; kind % 3 == 0 encrypts the bytes as one record (they
 *      are the record's plaintext: type and body), 1 encrypts them with the final tag, 2 writes
 *      them raw (framing).  The harness holds the peer's half of the channel keys, so the
 *      parser behind authentication is reached.
 *   3  the same to a server
 *   4  the handshake payload parsers and the key and token text parsers, on the raw bytes
 * Any crash, sanitizer report, leak or broken invariant (abort) is a finding.  Built with
 * clang -fsanitize=fuzzer, and with session_standalone.c as a plain program for make check. */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "../../transport/session_internal.h"
#include "fuzz_session.h"

#define INVARIANT(cond)                                                                       \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_session.c:%d: invariant failed: %s\n", __LINE__, #cond);     \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

fuzz_session_stats fuzz_session_last;
static volatile uint64_t sink;

const uint8_t fuzz_session_c2s_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
const uint8_t fuzz_session_s2c_key[32] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

static void quiet_log(void *opaque, enum vd_log_level level, const char *msg)
{
    (void)opaque, (void)level, (void)msg;
}

static vd_keypair server_id, client_id;

static void init_once(void)
{
    static int done;
    if (done)
        return;
    vd_log_set_callback(quiet_log, NULL);
    INVARIANT(vd_session_init() == 0);
    /* Fixed identities: the same input does the same thing every run. */
    for (int i = 0; i < 32; i++) {
        server_id.secret_key[i] = (uint8_t)(i + 1);
        client_id.secret_key[i] = (uint8_t)(i + 101);
    }
    crypto_scalarmult_base(server_id.public_key, server_id.secret_key);
    crypto_scalarmult_base(client_id.public_key, client_id.secret_key);
    done = 1;
}

/* Receives every event and checks what the role may see. */
static void drain(vd_session *s, enum vd_session_role role, fuzz_session_stats *st)
{
    vd_session_event ev;
    int ret;
    while ((ret = vd_session_receive(s, &ev)) == 0) {
        st->events++;
        switch (ev.type) {
        case VD_SESSION_EVENT_CONNECTED: {
            INVARIANT(ev.u.connected.version == 1);
            /* A resume is reported whole or not at all, and only to a server. */
            const vd_resume_state *rs = ev.u.connected.resume;
            INVARIANT(!ev.u.connected.resume_ticket == !rs);
            INVARIANT(!rs || (role == VD_SESSION_SERVER && rs->n_surfaces <= VD_MAX_SURFACES));
            /* Connected means a ticket: the server issued it, the client got it in ACCEPT. */
            uint8_t ticket[VD_TICKET_BYTES];
            INVARIANT(vd_session_resume_ticket(s, ticket) == 0);
            break;
        }
        case VD_SESSION_EVENT_PACKET: {
            INVARIANT(role == VD_SESSION_CLIENT);
            INVARIANT(ev.u.packet.size <= (8u << 20));
            INVARIANT(ev.u.packet.size == 0 || ev.u.packet.data);
            uint64_t sum = 0;
            for (size_t i = 0; i < ev.u.packet.size; i++)
                sum += ev.u.packet.data[i];
            sink += sum;
            st->packets++;
            break;
        }
        case VD_SESSION_EVENT_CURSOR_SHAPE: {
            const vd_session_cursor_shape *c = &ev.u.cursor_shape;
            INVARIANT(role == VD_SESSION_CLIENT);
            INVARIANT(c->width >= 1 && c->width <= VD_CURSOR_MAX && c->height >= 1 &&
                      c->height <= VD_CURSOR_MAX && c->hot_x < c->width && c->hot_y < c->height);
            sink += c->data[(size_t)c->width * c->height * 4 - 1];
            break;
        }
        case VD_SESSION_EVENT_CURSOR_POS:
            INVARIANT(role == VD_SESSION_CLIENT);
            break;
        case VD_SESSION_EVENT_ACK:
        case VD_SESSION_EVENT_REFRESH:
        case VD_SESSION_EVENT_KEYFRAME:
        case VD_SESSION_EVENT_KEY:
        case VD_SESSION_EVENT_POINTER:
            INVARIANT(role == VD_SESSION_SERVER);
            break;
        case VD_SESSION_EVENT_LOSS:
            INVARIANT(role == VD_SESSION_SERVER);
            INVARIANT(ev.u.loss.first_seq <= ev.u.loss.last_seq);
            break;
        case VD_SESSION_EVENT_RTT:
            break;
        default:
            INVARIANT(0);
        }
    }
    if (ret != VD_ERR(EAGAIN)) {
        /* Failure and end are final. */
        vd_session_event ev2;
        INVARIANT(vd_session_receive(s, &ev2) == ret);
        if (ret != VD_EOF) {
            INVARIANT(vd_session_events(s) == 0);
            INVARIANT(vd_session_dispatch(s, POLLIN) == ret);
            st->failed = 1;
        }
    }
}

/* Writes bytes into the session's peer socket, dispatching as the socket fills. */
static void feed(vd_session *s, int peer, const uint8_t *data, size_t n,
                 enum vd_session_role role, fuzz_session_stats *st)
{
    size_t pos = 0;
    uint8_t junk[4096];
    /* A session may stop reading (it waits for its own output to drain, or for nothing more):
     * give up after a run of rounds without progress instead of spinning into the fuzzer's
     * time limit. */
    for (int stalled = 0; stalled < 64;) {
        size_t before = pos;
        if (pos < n) {
            ssize_t w = send(peer, data + pos, n - pos, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                pos += (size_t)w;
        }
        int ret = vd_session_dispatch(s, POLLIN | POLLOUT);
        drain(s, role, st);
        /* The session's own output (msg2, pongs) is not interesting here. */
        int got = 0;
        while (recv(peer, junk, sizeof(junk), MSG_DONTWAIT) > 0)
            got = 1;
        if (ret < 0 || st->failed || pos == n)
            break;
        stalled = pos != before || got ? 0 : stalled + 1;
    }
}

static void handshake_target(const uint8_t *data, size_t size, enum vd_session_role role,
                             fuzz_session_stats *st)
{
    int sv[2];
    INVARIANT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    vd_session_config cfg;
    vd_session_config_default(&cfg, role);
    if (role == VD_SESSION_SERVER) {
        cfg.identity = server_id;
        cfg.authorized_keys = (const uint8_t(*)[VD_KEY_BYTES])client_id.public_key;
        cfg.n_authorized_keys = 1;
    } else {
        cfg.identity = client_id;
        cfg.server_key = server_id.public_key;
    }
    vd_session *s;
    INVARIANT(vd_session_new(&cfg, sv[0], &s) == 0);
    /* A client first connects and sends msg1. */
    INVARIANT(vd_session_dispatch(s, POLLOUT) == 0);
    feed(s, sv[1], data, size, role, st);
    /* The end of the input is the end of the connection. */
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 4 && !st->failed; i++) {
        vd_session_dispatch(s, POLLIN);
        drain(s, role, st);
    }
    vd_session_free(&s);
    INVARIANT(!s);
    close(sv[1]);
}

static void records_target(const uint8_t *data, size_t size, enum vd_session_role role,
                           fuzz_session_stats *st)
{
    int sv[2];
    INVARIANT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    vd_session *s;
    INVARIANT(vd_session_new_keyed(role, sv[0], fuzz_session_c2s_key, fuzz_session_s2c_key, &s) ==
              0);
    /* We are the peer: we push with the key of our direction. */
    crypto_secretstream_xchacha20poly1305_state tx;
    uint8_t hdr[4 + VD_STREAM_HEADER_BYTES];
    vd_wl32(hdr, VD_STREAM_HEADER_BYTES);
    crypto_secretstream_xchacha20poly1305_init_push(
        &tx, hdr + 4, role == VD_SESSION_CLIENT ? fuzz_session_s2c_key : fuzz_session_c2s_key);
    feed(s, sv[1], hdr, sizeof(hdr), role, st);
    uint8_t *rec = malloc(4 + 65535 + VD_RECORD_ABYTES);
    INVARIANT(rec);
    size_t pos = 0;
    while (!st->failed && size - pos >= 3) {
        unsigned kind = data[pos] % 3;
        size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        const uint8_t *chunk = data + pos;
        pos += len;
        st->records++;
        if (kind == 2) {
            feed(s, sv[1], chunk, len, role, st);
            continue;
        }
        size_t clen = len + VD_RECORD_ABYTES;
        vd_wl32(rec, (uint32_t)clen);
        crypto_secretstream_xchacha20poly1305_push(
            &tx, rec + 4, NULL, chunk, len, rec, 4,
            kind == 1 ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                      : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
        feed(s, sv[1], rec, 4 + clen, role, st);
    }
    free(rec);
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 4 && !st->failed; i++) {
        vd_session_dispatch(s, POLLIN);
        drain(s, role, st);
    }
    vd_session_free(&s);
    close(sv[1]);
}

static void parsers_target(const uint8_t *data, size_t size)
{
    vd_hs_payload2 p2;
    vd_hs_payload3 p3;
    if (vd_hs_payload2_parse(data, size, &p2) == 0) {
        uint8_t back[VD_HS_PAYLOAD2_SIZE];
        vd_hs_payload2_write(back, &p2);
        INVARIANT(!memcmp(back, data, sizeof(back)));
    }
    if (vd_hs_payload3_parse(data, size, &p3) == 0) {
        uint8_t back[VD_HS_PAYLOAD3_SIZE];
        vd_hs_payload3_write(back, &p3);
        INVARIANT(!memcmp(back, data, sizeof(back)));
        INVARIANT(p3.caps.max_width <= VD_MAX_DIMENSION);
        INVARIANT(p3.resume.n_surfaces <= VD_MAX_SURFACES);
        INVARIANT((p3.flags & VD_HS_F_RESUME) || (p3.resume.n_surfaces == 0 &&
                                                   p3.resume.frame_seq == 0));
    }
    char *str = malloc(size + 1);
    INVARIANT(str);
    memcpy(str, data, size);
    str[size] = 0;
    uint8_t key[VD_KEY_BYTES], tok[VD_TOKEN_BYTES];
    if (vd_key_from_string(key, str) == 0) {
        char back[VD_KEY_STRING_SIZE];
        INVARIANT(vd_key_to_string(key, back, sizeof(back)) == 0);
        INVARIANT(strstr(str, back));
    }
    sink += (uint64_t)vd_token_parse(str, tok);
    free(str);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    fuzz_session_stats st = {0};
    if (size >= 1) {
        switch (data[0] % 5) {
        case 0:
            handshake_target(data + 1, size - 1, VD_SESSION_SERVER, &st);
            break;
        case 1:
            handshake_target(data + 1, size - 1, VD_SESSION_CLIENT, &st);
            break;
        case 2:
            records_target(data + 1, size - 1, VD_SESSION_CLIENT, &st);
            break;
        case 3:
            records_target(data + 1, size - 1, VD_SESSION_SERVER, &st);
            break;
        default:
            parsers_target(data + 1, size - 1);
            break;
        }
    }
    fuzz_session_last = st;
    return 0;
}
