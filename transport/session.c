/* The session: handshake driver, record layer and event-loop API (include/vd/session.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "../codec/tile_cache.h"
#include "../lib/clock.h"
#include "../lib/log.h"
#include "session_internal.h"

typedef crypto_secretstream_xchacha20poly1305_state stream_state;

#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL
#define DEFAULT_MAX_QUEUED ((size_t)64 << 20)
#define DEFAULT_MAX_PACKET (8u << 20)
#define DEFAULT_HANDSHAKE_MS 10000
#define DEFAULT_CLOSE_MS 3000
#define MS 1000000u /* ns */
/* Room for one whole record and a generous read beyond it. */
#define IN_CAPACITY (VD_FRAME_LEN_BYTES + VD_RECORD_MAX_CIPHERTEXT + (64u << 10))

_Static_assert(VD_RECORD_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES, "ABYTES");
_Static_assert(VD_STREAM_HEADER_BYTES == crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "HEADERBYTES");

/* The resume fields came out of the public structs' reserved space; the layout (the ABI)
 * must stay: the fields start where reserved did and, with the rest of reserved, fill it. */
#define SAME_TAIL(type, prev, first, n)                                                       \
    (offsetof(type, first) == offsetof(type, prev) + sizeof(((type *)0)->prev) &&             \
     offsetof(type, reserved) + sizeof(((type *)0)->reserved) == offsetof(type, first) + (n))
_Static_assert(SAME_TAIL(vd_session_config, max_queued_bytes, resume_ticket, 64), "config");
_Static_assert(SAME_TAIL(vd_session_connected, caps, resume_ticket, 32), "connected");
#define NEXT(type, prev, field)                                                               \
    (offsetof(type, field) == offsetof(type, prev) + sizeof(((type *)0)->prev))
_Static_assert(NEXT(vd_session_config, resume, handshake_timeout_ms) &&
                   NEXT(vd_session_config, handshake_timeout_ms, close_timeout_ms) &&
                   NEXT(vd_session_config, close_timeout_ms, idle_timeout_ms) &&
                   NEXT(vd_session_config, idle_timeout_ms, reserved),
               "config timeouts");
/* A new event must fit the union as it was: vd_session_connected is its largest member. */
_Static_assert(sizeof(((vd_session_event *)0)->u) == sizeof(vd_session_connected) &&
                   sizeof(vd_session_keyframe) <= sizeof(vd_session_connected),
               "event union");
_Static_assert(sizeof(void *) != 8 ||
                   (sizeof(vd_session_config) == 256 &&
                    sizeof(vd_session_connected) == 128 && sizeof(vd_session_event) == 136),
               "sizes");

enum state {
    ST_CONNECTING, /* client: waiting for connect() to finish */
    ST_HS_A,       /* client: msg1 sent, waiting for msg2; server: waiting for msg1 */
    ST_HS_B,       /* server: msg2 sent, waiting for msg3 */
    ST_CHANNEL,    /* records flow (a client is connected once ACCEPT arrives) */
    ST_REJECTING,  /* server: REJECT queued; the session fails once it is written */
    ST_FAILED,
};

struct vd_session {
    enum vd_session_role role;
    enum state state;
    int fd;
    int error;          /* sticky, once failed */
    int pending_error;  /* ST_REJECTING: the error after the flush */
    int connected;      /* the handshake is done (client: ACCEPT received) */
    int connected_event; /* CONNECTED not yet returned by receive */
    int rx_ready, tx_ready;
    int closing;        /* our FINAL is queued: nothing more may be sent */
    int shut_wr;
    int rx_final;       /* the peer's FINAL arrived: VD_EOF */
    int rx_eof;         /* the socket reached end of file */

    vd_hs hs;
    vd_keypair identity;
    uint8_t server_key[VD_KEY_BYTES];
    int has_server_key;
    vd_session_verify_fn verify_server;
    vd_session_authorize_fn authorize;
    void *opaque;
    uint8_t token[VD_TOKEN_BYTES];
    int has_token;
    uint8_t (*auth_keys)[VD_KEY_BYTES];
    size_t n_auth_keys;
    vd_session_caps caps;     /* the client's (own or the peer's) */
    vd_session_connected info;
    uint8_t ticket[VD_TICKET_BYTES]; /* server: issued to this client; client: received */
    int has_ticket;
    /* Client: the resume request from the config; server: the client's, from msg3. */
    uint8_t resume_ticket[VD_TICKET_BYTES];
    vd_resume_state resume;
    int has_resume;
    size_t max_queued;

    uint8_t rx_key[VD_HS_KEYLEN]; /* until the peer's stream header arrives */
    stream_state tx, rx;

    uint8_t *out;
    size_t out_pos, out_len, out_cap;
    uint8_t *in;
    size_t in_pos, in_len;
    uint8_t *pt;      /* the last decrypted record */
    uint8_t *scratch; /* a record's plaintext before encryption */

    /* A packet being reassembled from fragments (client). */
    int pkt_active;
    uint8_t *pkt;
    size_t pkt_len, pkt_total, pkt_cap;
    uint32_t pkt_flags, pkt_surface;
    uint64_t pkt_seq;
    int64_t pkt_pts;

    /* Deadlines, in vd_now_ns() time: the handshake's (until connected) and the goodbye's
     * (while closing, close_ns after vd_session_close()).  idle_ns 0 is off, else the
     * keepalive counts from the last byte in. */
    uint64_t hs_deadline_ns, close_deadline_ns, close_ns, idle_ns;
    uint64_t last_rx_ns, last_ping_ns;
    uint64_t keepalive_id;

    uint64_t start_ns;
    vd_session_stats stats;
};

/* ---- helpers -------------------------------------------------------------------------------- */

static int fail(vd_session *s, int err)
{
    if (s->error)
        return s->error;
    s->error = err;
    s->state = ST_FAILED;
    sodium_memzero(&s->tx, sizeof(s->tx));
    sodium_memzero(&s->rx, sizeof(s->rx));
    sodium_memzero(s->rx_key, sizeof(s->rx_key));
    vd_hs_wipe(&s->hs);
    /* The peer sees the connection end without our FINAL. */
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
    vd_log(VD_LOG_INFO, "session failed: %s", strerror(-err));
    return err;
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return VD_ERR(errno);
    return 0;
}

static uint8_t *out_reserve(vd_session *s, size_t n)
{
    if (s->out_pos == s->out_len) {
        s->out_pos = s->out_len = 0;
    } else if (s->out_pos > 0 && s->out_cap - s->out_len < n) {
        memmove(s->out, s->out + s->out_pos, s->out_len - s->out_pos);
        s->out_len -= s->out_pos;
        s->out_pos = 0;
    }
    if (s->out_cap - s->out_len < n) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap - s->out_len < n)
            cap *= 2;
        uint8_t *p = realloc(s->out, cap);
        if (!p)
            return NULL;
        s->out = p;
        s->out_cap = cap;
    }
    return s->out + s->out_len;
}

/* Queues a handshake message or stream header as one frame. */
static int queue_frame(vd_session *s, const uint8_t *body, size_t len)
{
    uint8_t *o = out_reserve(s, VD_FRAME_LEN_BYTES + len);
    if (!o)
        return VD_ERR(ENOMEM);
    vd_wl32(o, (uint32_t)len);
    memcpy(o + VD_FRAME_LEN_BYTES, body, len);
    s->out_len += VD_FRAME_LEN_BYTES + len;
    return 0;
}

static size_t queued(const vd_session *s) { return s->out_len - s->out_pos; }

/* Encrypts type || body || data into one record.  The length prefix is the associated data,
 * so it is authenticated too. */
static int queue_record(vd_session *s, uint8_t type, const uint8_t *body, size_t body_len,
                        const uint8_t *data, size_t data_len, uint8_t tag)
{
    size_t mlen = 1 + body_len + data_len;
    size_t clen = mlen + VD_RECORD_ABYTES;
    if (queued(s) + VD_FRAME_LEN_BYTES + clen > s->max_queued)
        return VD_ERR(ENOBUFS);
    s->scratch[0] = type;
    if (body_len)
        memcpy(s->scratch + 1, body, body_len);
    if (data_len)
        memcpy(s->scratch + 1 + body_len, data, data_len);
    uint8_t *o = out_reserve(s, VD_FRAME_LEN_BYTES + clen);
    if (!o)
        return VD_ERR(ENOMEM);
    vd_wl32(o, (uint32_t)clen);
    crypto_secretstream_xchacha20poly1305_push(&s->tx, o + VD_FRAME_LEN_BYTES, NULL, s->scratch,
                                               mlen, o, VD_FRAME_LEN_BYTES, tag);
    s->out_len += VD_FRAME_LEN_BYTES + clen;
    s->stats.records_sent++;
    return 0;
}

static void start_tx(vd_session *s, const uint8_t key[VD_HS_KEYLEN], uint8_t header[24])
{
    crypto_secretstream_xchacha20poly1305_init_push(&s->tx, header, key);
    s->tx_ready = 1;
}

/* The next whole frame in the input, if any: 1 with *body and *len, 0 when more bytes are
 * needed, or VD_ERR(EBADMSG) for a length outside [min, max] (checked as soon as the
 * length field is in, so a huge length never makes us wait for or buffer its body). */
static int peek_frame(vd_session *s, size_t min, size_t max, const uint8_t **body, size_t *len)
{
    size_t have = s->in_len - s->in_pos;
    if (have < VD_FRAME_LEN_BYTES)
        return 0;
    size_t n = vd_rl32(s->in + s->in_pos);
    if (n < min || n > max)
        return VD_ERR(EBADMSG);
    if (have - VD_FRAME_LEN_BYTES < n)
        return 0;
    *body = s->in + s->in_pos + VD_FRAME_LEN_BYTES;
    *len = n;
    return 1;
}

static void consume_frame(vd_session *s, size_t len)
{
    s->in_pos += VD_FRAME_LEN_BYTES + len;
    if (s->in_pos == s->in_len)
        s->in_pos = s->in_len = 0;
}

/* ---- I/O ------------------------------------------------------------------------------------ */

static int flush_out(vd_session *s)
{
    while (s->out_pos < s->out_len) {
        ssize_t w = send(s->fd, s->out + s->out_pos, s->out_len - s->out_pos, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return fail(s, errno == EPIPE ? VD_ERR(ECONNRESET) : VD_ERR(errno));
        }
        s->out_pos += (size_t)w;
        s->stats.bytes_sent += (uint64_t)w;
    }
    if (s->out_pos < s->out_len)
        return 0;
    s->out_pos = s->out_len = 0;
    if (s->state == ST_REJECTING)
        return fail(s, s->pending_error);
    if (s->closing && !s->shut_wr) {
        shutdown(s->fd, SHUT_WR);
        s->shut_wr = 1;
    }
    return 0;
}

static int fill_in(vd_session *s)
{
    if (s->in_pos > 0) {
        memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
        s->in_len -= s->in_pos;
        s->in_pos = 0;
    }
    while (s->in_len < IN_CAPACITY && !s->rx_eof) {
        ssize_t r = recv(s->fd, s->in + s->in_len, IN_CAPACITY - s->in_len, 0);
        if (r > 0) {
            s->in_len += (size_t)r;
            s->stats.bytes_received += (uint64_t)r;
            s->last_rx_ns = vd_now_ns();
        } else if (r == 0) {
            s->rx_eof = 1;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            return fail(s, VD_ERR(errno));
        }
    }
    return 0;
}

/* ---- handshake ------------------------------------------------------------------------------ */

static int client_start(vd_session *s)
{
    uint8_t msg1[VD_HS_MSG1_SIZE];
    vd_hs_write_msg1(&s->hs, msg1, VD_TRANSPORT_VERSION_MIN, VD_TRANSPORT_VERSION_MAX);
    s->start_ns = vd_now_ns();
    s->state = ST_HS_A;
    int ret = queue_frame(s, msg1, sizeof(msg1));
    return ret < 0 ? fail(s, ret) : 0;
}

static int server_key_ok(vd_session *s, const uint8_t key[VD_KEY_BYTES])
{
    if (s->has_server_key)
        return sodium_memcmp(key, s->server_key, VD_KEY_BYTES) == 0;
    return s->verify_server && s->verify_server(s->opaque, key) == 1;
}

static int client_authorised(vd_session *s, const uint8_t key[VD_KEY_BYTES])
{
    for (size_t i = 0; i < s->n_auth_keys; i++)
        if (sodium_memcmp(key, s->auth_keys[i], VD_KEY_BYTES) == 0)
            return 1;
    return s->authorize && s->authorize(s->opaque, key) == 1;
}

/* Both sides, once the handshake's last message is written or read. */
static int start_channel(vd_session *s)
{
    uint8_t c2s[VD_HS_KEYLEN], s2c[VD_HS_KEYLEN], hash[VD_HS_HASHLEN], header[24];
    vd_hs_split(&s->hs, c2s, s2c, hash);
    int client = s->role == VD_SESSION_CLIENT;
    start_tx(s, client ? c2s : s2c, header);
    memcpy(s->rx_key, client ? s2c : c2s, VD_HS_KEYLEN);
    memcpy(s->info.peer_key, s->hs.rs, VD_KEY_BYTES);
    sodium_memzero(c2s, sizeof(c2s));
    sodium_memzero(s2c, sizeof(s2c));
    vd_hs_wipe(&s->hs);
    s->state = ST_CHANNEL;
    return queue_frame(s, header, sizeof(header));
}

static int server_read_msg1(vd_session *s, const uint8_t *body, size_t len)
{
    uint16_t lo, hi;
    int ret = vd_hs_read_msg1(&s->hs, body, len, &lo, &hi);
    if (ret < 0)
        return ret;
    s->start_ns = vd_now_ns();
    vd_hs_payload2 p2 = {.version = 0, .codecs = VD_SESSION_CODECS_KNOWN};
    uint16_t v = hi < VD_TRANSPORT_VERSION_MAX ? hi : VD_TRANSPORT_VERSION_MAX;
    if (v >= lo && v >= VD_TRANSPORT_VERSION_MIN)
        p2.version = v;
    uint8_t msg2[VD_HS_MSG2_SIZE];
    if ((ret = vd_hs_write_msg2(&s->hs, msg2, &p2)) < 0)
        return ret;
    if ((ret = queue_frame(s, msg2, sizeof(msg2))) < 0)
        return ret;
    if (!p2.version) {
        /* The client learns this from msg2; we end once it is written. */
        s->state = ST_REJECTING;
        s->pending_error = VD_ERR(ENOTSUP);
        return 0;
    }
    s->info.version = p2.version;
    s->state = ST_HS_B;
    return 0;
}

static int client_read_msg2(vd_session *s, const uint8_t *body, size_t len)
{
    vd_hs_payload2 p2;
    int ret = vd_hs_read_msg2(&s->hs, body, len, &p2);
    if (ret < 0)
        return ret;
    /* The server has proved it holds hs.rs.  Before anything that identifies us or derives
     * from the token goes out, that must be the key we trust. */
    if (!server_key_ok(s, s->hs.rs))
        return VD_ERR(EPERM);
    if (p2.version < VD_TRANSPORT_VERSION_MIN || p2.version > VD_TRANSPORT_VERSION_MAX)
        return VD_ERR(ENOTSUP);
    s->info.version = p2.version;
    /* The ticket goes out only here, encrypted to the server verified above. */
    vd_hs_payload3 p3 = {.caps = s->caps};
    if (s->has_resume) {
        p3.flags = VD_HS_F_RESUME;
        memcpy(p3.ticket, s->resume_ticket, VD_TICKET_BYTES);
        p3.resume = s->resume;
    }
    uint8_t msg3[VD_HS_MSG3_SIZE];
    ret = vd_hs_write_msg3(&s->hs, msg3, &p3, s->has_token ? s->token : NULL);
    sodium_memzero(&p3, sizeof(p3));
    if (ret < 0)
        return ret;
    if ((ret = queue_frame(s, msg3, sizeof(msg3))) < 0)
        return ret;
    s->info.caps = s->caps;
    return start_channel(s);
}

static int server_read_msg3(vd_session *s, const uint8_t *body, size_t len)
{
    vd_hs_payload3 p3;
    int ret = vd_hs_read_msg3(&s->hs, body, len, &p3);
    if (ret < 0)
        return ret;
    int ok = client_authorised(s, s->hs.rs);
    if (!ok && s->has_token && vd_hs_check_token(&s->hs, &p3, s->token)) {
        ok = 1;
        s->info.paired = 1;
    }
    s->caps = p3.caps;
    s->info.caps = p3.caps;
    if (p3.flags & VD_HS_F_RESUME) {
        memcpy(s->resume_ticket, p3.ticket, VD_TICKET_BYTES);
        s->resume = p3.resume;
        s->has_resume = 1;
    }
    sodium_memzero(p3.ticket, sizeof(p3.ticket));
    if ((ret = start_channel(s)) < 0)
        return ret;
    uint8_t body_out[32] = {0};
    if (!ok) {
        /* Authenticated refusal, so the client can tell it from an attack on the link. */
        vd_wl32(body_out, EACCES);
        if ((ret = queue_record(s, VD_REC_REJECT, body_out, 4, NULL, 0, TAG_FINAL)) < 0)
            return ret;
        s->state = ST_REJECTING;
        s->pending_error = VD_ERR(EACCES);
        return 0;
    }
    /* A fresh ticket per accepted session, so each can be used once. */
    randombytes_buf(s->ticket, VD_TICKET_BYTES);
    s->has_ticket = 1;
    vd_wl32(body_out, s->info.version);
    vd_wl32(body_out + 4, p3.caps.codecs & VD_SESSION_CODECS_KNOWN);
    memcpy(body_out + 16, s->ticket, VD_TICKET_BYTES);
    ret = queue_record(s, VD_REC_ACCEPT, body_out, sizeof(body_out), NULL, 0, TAG_MESSAGE);
    sodium_memzero(body_out, sizeof(body_out));
    if (ret < 0)
        return ret;
    if (s->has_resume) {
        s->info.resume_ticket = s->resume_ticket;
        s->info.resume = &s->resume;
    }
    s->connected = 1;
    s->connected_event = 1;
    s->stats.handshake_ns = vd_now_ns() - s->start_ns;
    return 0;
}

/* Runs the handshake messages that are buffered. */
static int advance_handshake(vd_session *s)
{
    while (s->state == ST_HS_A || s->state == ST_HS_B) {
        size_t want;
        if (s->role == VD_SESSION_SERVER)
            want = s->state == ST_HS_A ? VD_HS_MSG1_SIZE : VD_HS_MSG3_SIZE;
        else
            want = VD_HS_MSG2_SIZE;
        const uint8_t *body;
        size_t len;
        int ret = peek_frame(s, want, want, &body, &len);
        if (ret < 0)
            return fail(s, ret);
        if (ret == 0)
            return s->rx_eof ? fail(s, VD_ERR(ECONNRESET)) : 0;
        if (s->role == VD_SESSION_SERVER)
            ret = s->state == ST_HS_A ? server_read_msg1(s, body, len)
                                      : server_read_msg3(s, body, len);
        else
            ret = client_read_msg2(s, body, len);
        consume_frame(s, len);
        if (ret < 0)
            return fail(s, ret);
    }
    return 0;
}

/* ---- records -------------------------------------------------------------------------------- */

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Handles one packet fragment; returns 1 with a whole packet in ev, 0 for more, or an error. */
static int handle_fragment(vd_session *s, const uint8_t *b, size_t len, vd_session_event *ev)
{
    if (len < VD_PACKET_HDR_SIZE)
        return VD_ERR(EPROTO);
    unsigned frag = b[0];
    if ((frag & ~(unsigned)(VD_FRAG_FIRST | VD_FRAG_LAST)) || !all_zero(b + 1, 3))
        return VD_ERR(EPROTO);
    uint32_t flags = vd_rl32(b + 4), surface = vd_rl32(b + 8), total = vd_rl32(b + 12);
    uint64_t seq = vd_rl64(b + 16);
    int64_t pts = (int64_t)vd_rl64(b + 24);
    const uint8_t *data = b + VD_PACKET_HDR_SIZE;
    size_t n = len - VD_PACKET_HDR_SIZE;
    if (total > s->caps.max_packet_size)
        return VD_ERR(EPROTO);
    if (frag & VD_FRAG_FIRST) {
        if (s->pkt_active)
            return VD_ERR(EPROTO);
        if (n > total)
            return VD_ERR(EPROTO);
        if (frag & VD_FRAG_LAST) {
            if (n != total)
                return VD_ERR(EPROTO);
            /* Whole in one record: hand out the decrypted record itself. */
            ev->type = VD_SESSION_EVENT_PACKET;
            ev->u.packet = (vd_packet){.data = data, .size = n, .flags = flags,
                                       .surface_id = surface, .frame_seq = seq, .pts_us = pts};
            return 1;
        }
        if (s->pkt_cap < total) {
            uint8_t *p = realloc(s->pkt, total);
            if (!p)
                return VD_ERR(ENOMEM);
            s->pkt = p;
            s->pkt_cap = total;
        }
        s->pkt_active = 1;
        s->pkt_len = 0;
        s->pkt_total = total;
        s->pkt_flags = flags;
        s->pkt_surface = surface;
        s->pkt_seq = seq;
        s->pkt_pts = pts;
    } else if (!s->pkt_active || total != s->pkt_total || flags != s->pkt_flags ||
               surface != s->pkt_surface || seq != s->pkt_seq || pts != s->pkt_pts) {
        return VD_ERR(EPROTO);
    }
    if (n > s->pkt_total - s->pkt_len)
        return VD_ERR(EPROTO);
    if (n)
        memcpy(s->pkt + s->pkt_len, data, n);
    s->pkt_len += n;
    if (!(frag & VD_FRAG_LAST))
        return 0;
    if (s->pkt_len != s->pkt_total)
        return VD_ERR(EPROTO);
    s->pkt_active = 0;
    ev->type = VD_SESSION_EVENT_PACKET;
    ev->u.packet = (vd_packet){.data = s->pkt, .size = s->pkt_len, .flags = s->pkt_flags,
                               .surface_id = s->pkt_surface, .frame_seq = s->pkt_seq,
                               .pts_us = s->pkt_pts};
    return 1;
}

/* Parses one authentic record; returns 1 with an event, 0 for none, or an error.  Fixed-size
 * bodies must match exactly and reserved bytes must be zero. */
static int handle_record(vd_session *s, const uint8_t *m, size_t mlen, uint8_t tag,
                         vd_session_event *ev)
{
    if (mlen < 1)
        return VD_ERR(EPROTO);
    uint8_t type = m[0];
    const uint8_t *b = m + 1;
    size_t len = mlen - 1;
    int server = s->role == VD_SESSION_SERVER;
    int final = tag == TAG_FINAL;
    if (tag != TAG_MESSAGE && !final)
        return VD_ERR(EPROTO);
    if (final != (type == VD_REC_GOODBYE || type == VD_REC_REJECT))
        return VD_ERR(EPROTO);
    /* Before ACCEPT, a client takes only ACCEPT or REJECT. */
    if (!s->connected && type != VD_REC_ACCEPT && type != VD_REC_REJECT)
        return VD_ERR(EPROTO);
    memset(ev, 0, sizeof(*ev));
    switch (type) {
    case VD_REC_ACCEPT:
        if (server || s->connected || len != 32 || !all_zero(b + 8, 8))
            return VD_ERR(EPROTO);
        if (vd_rl32(b) != s->info.version)
            return VD_ERR(EPROTO);
        memcpy(s->ticket, b + 16, VD_TICKET_BYTES);
        s->has_ticket = 1;
        s->connected = 1;
        s->stats.handshake_ns = vd_now_ns() - s->start_ns;
        ev->type = VD_SESSION_EVENT_CONNECTED;
        ev->u.connected = s->info;
        return 1;
    case VD_REC_REJECT:
        if (server || s->connected || len != 4)
            return VD_ERR(EPROTO);
        return vd_rl32(b) == ENOTSUP ? VD_ERR(ENOTSUP) : VD_ERR(EACCES);
    case VD_REC_GOODBYE:
        if (len != 0)
            return VD_ERR(EPROTO);
        s->rx_final = 1;
        return VD_EOF;
    case VD_REC_PACKET:
        if (server)
            return VD_ERR(EPROTO);
        return handle_fragment(s, b, len, ev);
    case VD_REC_ACK:
        if (!server || len != 24 || !all_zero(b + 20, 4))
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_ACK;
        ev->u.ack.frame_seq = vd_rl64(b);
        ev->u.ack.surface_id = vd_rl32(b + 8);
        ev->u.ack.decode_us = vd_rl32(b + 12);
        ev->u.ack.queue_depth = vd_rl32(b + 16);
        return 1;
    case VD_REC_REFRESH:
        if (!server || len != 8 || (vd_rl32(b + 4) & ~(uint32_t)VD_REFRESH_KEYFRAME))
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_REFRESH;
        ev->u.refresh.surface_id = vd_rl32(b);
        ev->u.refresh.flags = vd_rl32(b + 4);
        return 1;
    case VD_REC_LOSS:
        if (!server || len != 24 || !all_zero(b + 20, 4) || vd_rl64(b) > vd_rl64(b + 8))
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_LOSS;
        ev->u.loss.first_seq = vd_rl64(b);
        ev->u.loss.last_seq = vd_rl64(b + 8);
        ev->u.loss.surface_id = vd_rl32(b + 16);
        return 1;
    case VD_REC_KEYFRAME:
        if (!server || len != 8 || !all_zero(b + 4, 4))
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_KEYFRAME;
        ev->u.keyframe.stream_id = vd_rl32(b);
        return 1;
    case VD_REC_PING: {
        if (len != 16)
            return VD_ERR(EPROTO);
        if (s->closing)
            return 0;
        int ret = queue_record(s, VD_REC_PONG, b, 16, NULL, 0, TAG_MESSAGE);
        /* A peer that pings faster than we can write is not worth failing over. */
        return ret == VD_ERR(ENOBUFS) ? 0 : ret;
    }
    case VD_REC_PONG: {
        if (len != 16)
            return VD_ERR(EPROTO);
        uint64_t sent = vd_rl64(b + 8), now = vd_now_ns();
        if (sent > now)
            return VD_ERR(EPROTO);
        /* Our keepalive: its bytes have done their job (last_rx_ns); the host did not ask. */
        if (vd_rl64(b) & VD_PING_KEEPALIVE)
            return 0;
        uint64_t us = (now - sent) / 1000;
        ev->type = VD_SESSION_EVENT_RTT;
        ev->u.rtt.rtt_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        return 1;
    }
    case VD_REC_KEY:
        if (!server || len != 16 || vd_rl32(b + 8) > 1)
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_KEY;
        ev->u.key.scancode = vd_rl32(b);
        ev->u.key.keysym = vd_rl32(b + 4);
        ev->u.key.pressed = vd_rl32(b + 8);
        ev->u.key.modifiers = vd_rl32(b + 12);
        return 1;
    case VD_REC_POINTER:
        if (!server || len != 24)
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_POINTER;
        ev->u.pointer.surface_id = vd_rl32(b);
        ev->u.pointer.x = (int32_t)vd_rl32(b + 4);
        ev->u.pointer.y = (int32_t)vd_rl32(b + 8);
        ev->u.pointer.buttons = vd_rl32(b + 12);
        ev->u.pointer.wheel_x = (int32_t)vd_rl32(b + 16);
        ev->u.pointer.wheel_y = (int32_t)vd_rl32(b + 20);
        return 1;
    case VD_REC_CURSOR_SHAPE: {
        if (server || len < 8)
            return VD_ERR(EPROTO);
        uint32_t w = vd_rl16(b), h = vd_rl16(b + 2), hx = vd_rl16(b + 4), hy = vd_rl16(b + 6);
        if (w < 1 || h < 1 || w > VD_CURSOR_MAX || h > VD_CURSOR_MAX || hx >= w || hy >= h ||
            len != 8 + (size_t)w * h * 4)
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_CURSOR_SHAPE;
        ev->u.cursor_shape = (vd_session_cursor_shape){
            .width = w, .height = h, .hot_x = hx, .hot_y = hy, .data = b + 8};
        return 1;
    }
    case VD_REC_CURSOR_POS:
        if (server || len != 16 || vd_rl32(b + 12) > 1)
            return VD_ERR(EPROTO);
        ev->type = VD_SESSION_EVENT_CURSOR_POS;
        ev->u.cursor_pos.surface_id = vd_rl32(b);
        ev->u.cursor_pos.x = (int32_t)vd_rl32(b + 4);
        ev->u.cursor_pos.y = (int32_t)vd_rl32(b + 8);
        ev->u.cursor_pos.visible = vd_rl32(b + 12);
        return 1;
    default:
        return VD_ERR(EPROTO);
    }
}

/* ---- public API ----------------------------------------------------------------------------- */

void vd_session_config_default(vd_session_config *cfg, enum vd_session_role role)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = role;
    /* libvd's decoder takes tiles and H.264 everywhere (AV1 needs libdav1d: opt in). */
    cfg->caps.codecs = VD_SESSION_CODEC_TILES | VD_SESSION_CODEC_H264;
    cfg->caps.max_width = VD_MAX_DIMENSION;
    cfg->caps.max_height = VD_MAX_DIMENSION;
    cfg->caps.max_packet_size = DEFAULT_MAX_PACKET;
    /* What a decoder with default settings grants, so default ends agree. */
    cfg->caps.cache_bytes = VD_TILE_CACHE_DEFAULT_BYTES;
    cfg->max_queued_bytes = DEFAULT_MAX_QUEUED;
}

static int session_alloc(enum vd_session_role role, int fd, vd_session **out)
{
    vd_session *s = calloc(1, sizeof(*s));
    if (!s)
        return VD_ERR(ENOMEM);
    s->role = role;
    s->fd = fd;
    s->max_queued = DEFAULT_MAX_QUEUED;
    s->caps.codecs = VD_SESSION_CODEC_TILES | VD_SESSION_CODEC_H264;
    s->caps.max_width = s->caps.max_height = VD_MAX_DIMENSION;
    s->caps.max_packet_size = DEFAULT_MAX_PACKET;
    s->last_rx_ns = vd_now_ns(); /* the idle timeout of a keyed session counts from here */
    s->hs_deadline_ns = s->last_rx_ns + (uint64_t)DEFAULT_HANDSHAKE_MS * MS;
    s->close_ns = (uint64_t)DEFAULT_CLOSE_MS * MS;
    s->in = malloc(IN_CAPACITY);
    s->pt = malloc(VD_RECORD_MAX_PLAINTEXT);
    s->scratch = malloc(VD_RECORD_MAX_PLAINTEXT);
    if (!s->in || !s->pt || !s->scratch) {
        s->fd = -1;
        vd_session_free(&s);
        return VD_ERR(ENOMEM);
    }
    int ret = set_nonblocking(fd);
    if (ret < 0) {
        s->fd = -1;
        vd_session_free(&s);
        return ret;
    }
    /* Small records (acks, input) must not wait for Nagle; harmless failure on Unix sockets. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *out = s;
    return 0;
}

int vd_session_new(const vd_session_config *cfg, int fd, vd_session **out)
{
    *out = NULL;
    int ret = vd_sodium_init();
    if (ret < 0 || !cfg || fd < 0 ||
        (cfg->role != VD_SESSION_SERVER && cfg->role != VD_SESSION_CLIENT) ||
        (cfg->role == VD_SESSION_CLIENT && !cfg->server_key && !cfg->verify_server) ||
        (cfg->n_authorized_keys && !cfg->authorized_keys) ||
        !cfg->resume_ticket != !cfg->resume ||
        (cfg->resume && (cfg->role != VD_SESSION_CLIENT ||
                         cfg->resume->n_surfaces > VD_MAX_SURFACES))) {
        if (fd >= 0)
            close(fd);
        return ret < 0 ? ret : VD_ERR(EINVAL);
    }
    uint8_t token[VD_TOKEN_BYTES];
    if (cfg->pairing_token && vd_token_parse(cfg->pairing_token, token) < 0) {
        close(fd);
        return VD_ERR(EINVAL);
    }
    vd_session_caps caps = cfg->caps;
    if (cfg->role == VD_SESSION_CLIENT) {
        if (!caps.max_width)
            caps.max_width = VD_MAX_DIMENSION;
        if (!caps.max_height)
            caps.max_height = VD_MAX_DIMENSION;
        if (!caps.max_packet_size)
            caps.max_packet_size = DEFAULT_MAX_PACKET;
        if (caps.max_width > VD_MAX_DIMENSION || caps.max_height > VD_MAX_DIMENSION ||
            caps.max_packet_size < (64u << 10) || caps.max_packet_size > (256u << 20)) {
            close(fd);
            return VD_ERR(EINVAL);
        }
    }
    vd_session *s;
    if ((ret = session_alloc(cfg->role, fd, &s)) < 0) {
        close(fd);
        return ret;
    }
    s->identity = cfg->identity;
    if (cfg->server_key) {
        memcpy(s->server_key, cfg->server_key, VD_KEY_BYTES);
        s->has_server_key = 1;
    }
    s->verify_server = cfg->verify_server;
    s->authorize = cfg->authorize;
    s->opaque = cfg->opaque;
    if (cfg->pairing_token) {
        memcpy(s->token, token, sizeof(token));
        s->has_token = 1;
        sodium_memzero(token, sizeof(token));
    }
    if (cfg->n_authorized_keys) {
        s->auth_keys = malloc(cfg->n_authorized_keys * VD_KEY_BYTES);
        if (!s->auth_keys) {
            vd_session_free(&s);
            return VD_ERR(ENOMEM);
        }
        memcpy(s->auth_keys, cfg->authorized_keys, cfg->n_authorized_keys * VD_KEY_BYTES);
        s->n_auth_keys = cfg->n_authorized_keys;
    }
    if (cfg->role == VD_SESSION_CLIENT)
        s->caps = caps;
    if (cfg->resume) {
        /* Only the fields on the wire, unused ids zero, as payload3 requires. */
        memcpy(s->resume_ticket, cfg->resume_ticket, VD_TICKET_BYTES);
        s->resume.frame_seq = cfg->resume->frame_seq;
        s->resume.n_surfaces = cfg->resume->n_surfaces;
        memcpy(s->resume.surface_ids, cfg->resume->surface_ids,
               cfg->resume->n_surfaces * sizeof(uint32_t));
        s->has_resume = 1;
    }
    if (cfg->max_queued_bytes)
        s->max_queued = cfg->max_queued_bytes;
    if (cfg->handshake_timeout_ms)
        s->hs_deadline_ns = vd_now_ns() + (uint64_t)cfg->handshake_timeout_ms * MS;
    if (cfg->close_timeout_ms)
        s->close_ns = (uint64_t)cfg->close_timeout_ms * MS;
    s->idle_ns = (uint64_t)cfg->idle_timeout_ms * MS;
    vd_hs_init(&s->hs, cfg->role, &cfg->identity);
    s->state = cfg->role == VD_SESSION_CLIENT ? ST_CONNECTING : ST_HS_A;
    *out = s;
    return 0;
}

int vd_session_new_keyed(enum vd_session_role role, int fd, const uint8_t c2s[32],
                         const uint8_t s2c[32], vd_session **out)
{
    *out = NULL;
    int ret = vd_sodium_init();
    if (ret < 0 || (ret = session_alloc(role, fd, out)) < 0) {
        close(fd);
        return ret;
    }
    vd_session *s = *out;
    uint8_t header[24];
    int client = role == VD_SESSION_CLIENT;
    start_tx(s, client ? c2s : s2c, header);
    memcpy(s->rx_key, client ? s2c : c2s, VD_HS_KEYLEN);
    s->info.version = VD_TRANSPORT_VERSION_MAX;
    s->state = ST_CHANNEL;
    s->connected = !client;
    s->start_ns = vd_now_ns();
    if ((ret = queue_frame(s, header, sizeof(header))) < 0)
        vd_session_free(out);
    return ret;
}

void vd_session_free(vd_session **ps)
{
    vd_session *s = ps ? *ps : NULL;
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->out);
    free(s->in);
    if (s->pt)
        sodium_memzero(s->pt, VD_RECORD_MAX_PLAINTEXT);
    free(s->pt);
    if (s->scratch)
        sodium_memzero(s->scratch, VD_RECORD_MAX_PLAINTEXT);
    free(s->scratch);
    free(s->pkt);
    free(s->auth_keys);
    sodium_memzero(s, sizeof(*s));
    free(s);
    *ps = NULL;
}

int vd_session_fd(const vd_session *s) { return s->fd; }

short vd_session_events(const vd_session *s)
{
    if (s->state == ST_FAILED)
        return 0;
    if (s->state == ST_CONNECTING)
        return POLLOUT;
    short ev = 0;
    if (s->out_pos < s->out_len)
        ev |= POLLOUT;
    if (s->state != ST_REJECTING && !s->rx_eof && !s->rx_final &&
        s->in_len - s->in_pos < IN_CAPACITY)
        ev |= POLLIN;
    return ev;
}

/* ---- timeouts ------------------------------------------------------------------------------- */

/* The goodbyes are not both done: the peer's is not in or ours not written. */
static int close_pending(const vd_session *s) { return s->closing && (!s->rx_final || queued(s)); }

/* The idle timeout watches a connected session that still expects bytes from the peer. */
static int idle_watch(const vd_session *s)
{
    return s->idle_ns && s->connected && s->state == ST_CHANNEL && !s->closing &&
           !s->rx_final && !s->rx_eof;
}

static uint64_t next_ping_ns(const vd_session *s)
{
    return VD_MAX(s->last_rx_ns, s->last_ping_ns) + s->idle_ns / 3;
}

/* The earliest moment dispatch has work without I/O, or UINT64_MAX. */
static uint64_t next_deadline(const vd_session *s)
{
    uint64_t t = UINT64_MAX;
    if (s->state == ST_FAILED)
        return t;
    if (!s->connected)
        t = s->hs_deadline_ns;
    if (close_pending(s))
        t = VD_MIN(t, s->close_deadline_ns);
    if (idle_watch(s))
        t = VD_MIN(t, VD_MIN(next_ping_ns(s), s->last_rx_ns + s->idle_ns));
    return t;
}

static int check_deadlines(vd_session *s)
{
    uint64_t now = vd_now_ns();
    if ((!s->connected && now >= s->hs_deadline_ns) ||
        (close_pending(s) && now >= s->close_deadline_ns) ||
        (idle_watch(s) && now >= s->last_rx_ns + s->idle_ns))
        return fail(s, VD_ERR(ETIMEDOUT));
    if (idle_watch(s) && now >= next_ping_ns(s)) {
        /* Any peer answers in its vd_session_receive(); the id's top bit keeps the answer
         * from being reported as an RTT the host did not ask for. */
        uint8_t b[16];
        vd_wl64(b, VD_PING_KEEPALIVE | s->keepalive_id++);
        vd_wl64(b + 8, now);
        int ret = queue_record(s, VD_REC_PING, b, sizeof(b), NULL, 0, TAG_MESSAGE);
        /* A full queue (ENOBUFS) only puts the ping off to the next interval. */
        if (ret < 0 && ret != VD_ERR(ENOBUFS))
            return fail(s, ret);
        s->last_ping_ns = now;
    }
    return 0;
}

int vd_session_timeout(const vd_session *s)
{
    uint64_t t = next_deadline(s), now = vd_now_ns();
    if (t == UINT64_MAX)
        return -1;
    if (t <= now)
        return 0;
    /* Rounded up: a poll that returns a little early would only spin. */
    uint64_t ms = (t - now + MS - 1) / MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int finish_connect(vd_session *s, short revents)
{
    if (!(revents & (POLLOUT | POLLERR | POLLHUP)) && revents)
        return 0;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err)
        return fail(s, VD_ERR(err));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(s->fd, (struct sockaddr *)&ss, &sl) < 0)
        return errno == ENOTCONN ? 0 : fail(s, VD_ERR(errno));
    return client_start(s);
}

int vd_session_dispatch(vd_session *s, short revents)
{
    int ret;
    if (s->error)
        return s->error;
    if (s->state == ST_CONNECTING) {
        if ((ret = finish_connect(s, revents)) < 0)
            return ret;
        if (s->state == ST_CONNECTING)
            return check_deadlines(s);
    }
    if ((ret = flush_out(s)) < 0)
        return ret;
    if (s->state != ST_REJECTING && !s->rx_final &&
        (!revents || (revents & (POLLIN | POLLHUP | POLLERR)))) {
        if ((ret = fill_in(s)) < 0)
            return ret;
    }
    if ((ret = advance_handshake(s)) < 0)
        return ret;
    /* After the I/O: bytes that just arrived count, and a ping goes out with the flush. */
    if ((ret = check_deadlines(s)) < 0)
        return ret;
    /* The handshake may have queued its answer; write it now rather than after a poll. */
    return flush_out(s);
}

int vd_session_receive(vd_session *s, vd_session_event *ev)
{
    if (s->error)
        return s->error;
    if (s->connected_event) {
        s->connected_event = 0;
        memset(ev, 0, sizeof(*ev));
        ev->type = VD_SESSION_EVENT_CONNECTED;
        ev->u.connected = s->info;
        return 0;
    }
    if (s->state != ST_CHANNEL)
        return VD_ERR(EAGAIN);
    for (;;) {
        if (s->rx_final)
            return VD_EOF;
        const uint8_t *body;
        size_t len;
        int ret;
        if (!s->rx_ready) {
            ret = peek_frame(s, VD_STREAM_HEADER_BYTES, VD_STREAM_HEADER_BYTES, &body, &len);
            if (ret > 0) {
                if (crypto_secretstream_xchacha20poly1305_init_pull(&s->rx, body, s->rx_key))
                    return fail(s, VD_ERR(EBADMSG));
                sodium_memzero(s->rx_key, sizeof(s->rx_key));
                s->rx_ready = 1;
                consume_frame(s, len);
                continue;
            }
        } else {
            ret = peek_frame(s, 1 + VD_RECORD_ABYTES, VD_RECORD_MAX_CIPHERTEXT, &body, &len);
        }
        if (ret < 0)
            return fail(s, ret);
        if (ret == 0)
            return s->rx_eof ? fail(s, VD_ERR(ECONNRESET)) : VD_ERR(EAGAIN);
        unsigned long long mlen;
        uint8_t tag;
        if (crypto_secretstream_xchacha20poly1305_pull(&s->rx, s->pt, &mlen, &tag, body, len,
                                                       body - VD_FRAME_LEN_BYTES,
                                                       VD_FRAME_LEN_BYTES) != 0)
            return fail(s, VD_ERR(EBADMSG));
        consume_frame(s, len);
        s->stats.records_received++;
        ret = handle_record(s, s->pt, (size_t)mlen, tag, ev);
        if (ret == VD_EOF)
            return VD_EOF;
        if (ret < 0)
            return fail(s, ret);
        if (ret > 0)
            return 0;
    }
}

int vd_session_close(vd_session *s)
{
    if (s->error)
        return s->error;
    if (s->closing)
        return 0;
    if (s->state != ST_CHANNEL || !s->tx_ready) {
        /* Nothing authenticated can be said yet: just end the connection. */
        return fail(s, VD_ERR(ECONNRESET));
    }
    /* The goodbye may exceed max_queued_bytes: it must always fit. */
    size_t saved = s->max_queued;
    s->max_queued = SIZE_MAX;
    int ret = queue_record(s, VD_REC_GOODBYE, NULL, 0, NULL, 0, TAG_FINAL);
    s->max_queued = saved;
    if (ret < 0)
        return fail(s, ret);
    s->closing = 1;
    s->close_deadline_ns = vd_now_ns() + s->close_ns;
    return 0;
}

size_t vd_session_queued_bytes(const vd_session *s) { return queued(s); }

static int can_send(vd_session *s)
{
    if (s->error)
        return s->error;
    if (s->state != ST_CHANNEL || !s->connected || s->closing)
        return s->closing ? VD_ERR(EPIPE) : VD_ERR(EAGAIN);
    return 0;
}

int vd_session_send_packet(vd_session *s, const vd_packet *pkt)
{
    int ret = can_send(s);
    if (ret < 0)
        return ret;
    if (s->role != VD_SESSION_SERVER || !pkt || (!pkt->data && pkt->size))
        return VD_ERR(EINVAL);
    if (pkt->size > s->caps.max_packet_size)
        return VD_ERR(EMSGSIZE);
    size_t n_frag = pkt->size ? (pkt->size + VD_FRAGMENT_MAX - 1) / VD_FRAGMENT_MAX : 1;
    size_t need = pkt->size + n_frag * (VD_FRAME_LEN_BYTES + VD_RECORD_ABYTES + 1 +
                                        VD_PACKET_HDR_SIZE);
    /* All or nothing: a half-queued packet could never be completed. */
    if (queued(s) + need > s->max_queued)
        return VD_ERR(ENOBUFS);
    uint8_t hdr[VD_PACKET_HDR_SIZE] = {0};
    vd_wl32(hdr + 4, pkt->flags);
    vd_wl32(hdr + 8, pkt->surface_id);
    vd_wl32(hdr + 12, (uint32_t)pkt->size);
    vd_wl64(hdr + 16, pkt->frame_seq);
    vd_wl64(hdr + 24, (uint64_t)pkt->pts_us);
    size_t off = 0;
    for (size_t i = 0; i < n_frag; i++) {
        size_t n = VD_MIN(pkt->size - off, (size_t)VD_FRAGMENT_MAX);
        hdr[0] = (uint8_t)((i == 0 ? VD_FRAG_FIRST : 0) | (i == n_frag - 1 ? VD_FRAG_LAST : 0));
        if ((ret = queue_record(s, VD_REC_PACKET, hdr, sizeof(hdr), pkt->data + off, n,
                                TAG_MESSAGE)) < 0)
            return fail(s, ret); /* only ENOMEM gets here, after the check above */
        off += n;
    }
    return 0;
}

int vd_session_send(vd_session *s, const vd_session_event *ev)
{
    int ret = can_send(s);
    if (ret < 0)
        return ret;
    if (!ev)
        return VD_ERR(EINVAL);
    int server = s->role == VD_SESSION_SERVER;
    uint8_t b[24] = {0};
    uint8_t type;
    size_t len;
    const uint8_t *data = NULL;
    size_t data_len = 0;
    switch (ev->type) {
    case VD_SESSION_EVENT_ACK:
        if (server)
            return VD_ERR(EINVAL);
        type = VD_REC_ACK, len = 24;
        vd_wl64(b, ev->u.ack.frame_seq);
        vd_wl32(b + 8, ev->u.ack.surface_id);
        vd_wl32(b + 12, ev->u.ack.decode_us);
        vd_wl32(b + 16, ev->u.ack.queue_depth);
        break;
    case VD_SESSION_EVENT_REFRESH:
        if (server || (ev->u.refresh.flags & ~(uint32_t)VD_REFRESH_KEYFRAME))
            return VD_ERR(EINVAL);
        type = VD_REC_REFRESH, len = 8;
        vd_wl32(b, ev->u.refresh.surface_id);
        vd_wl32(b + 4, ev->u.refresh.flags);
        break;
    case VD_SESSION_EVENT_LOSS:
        if (server || ev->u.loss.first_seq > ev->u.loss.last_seq)
            return VD_ERR(EINVAL);
        type = VD_REC_LOSS, len = 24;
        vd_wl64(b, ev->u.loss.first_seq);
        vd_wl64(b + 8, ev->u.loss.last_seq);
        vd_wl32(b + 16, ev->u.loss.surface_id);
        break;
    case VD_SESSION_EVENT_KEYFRAME:
        if (server)
            return VD_ERR(EINVAL);
        type = VD_REC_KEYFRAME, len = 8;
        vd_wl32(b, ev->u.keyframe.stream_id);
        break;
    case VD_SESSION_EVENT_KEY:
        if (server || ev->u.key.pressed > 1)
            return VD_ERR(EINVAL);
        type = VD_REC_KEY, len = 16;
        vd_wl32(b, ev->u.key.scancode);
        vd_wl32(b + 4, ev->u.key.keysym);
        vd_wl32(b + 8, ev->u.key.pressed);
        vd_wl32(b + 12, ev->u.key.modifiers);
        break;
    case VD_SESSION_EVENT_POINTER:
        if (server)
            return VD_ERR(EINVAL);
        type = VD_REC_POINTER, len = 24;
        vd_wl32(b, ev->u.pointer.surface_id);
        vd_wl32(b + 4, (uint32_t)ev->u.pointer.x);
        vd_wl32(b + 8, (uint32_t)ev->u.pointer.y);
        vd_wl32(b + 12, ev->u.pointer.buttons);
        vd_wl32(b + 16, (uint32_t)ev->u.pointer.wheel_x);
        vd_wl32(b + 20, (uint32_t)ev->u.pointer.wheel_y);
        break;
    case VD_SESSION_EVENT_CURSOR_SHAPE: {
        const vd_session_cursor_shape *c = &ev->u.cursor_shape;
        if (!server || c->width < 1 || c->height < 1 || c->width > VD_CURSOR_MAX ||
            c->height > VD_CURSOR_MAX || c->hot_x >= c->width || c->hot_y >= c->height ||
            !c->data)
            return VD_ERR(EINVAL);
        type = VD_REC_CURSOR_SHAPE, len = 8;
        vd_wl16(b, (uint16_t)c->width);
        vd_wl16(b + 2, (uint16_t)c->height);
        vd_wl16(b + 4, (uint16_t)c->hot_x);
        vd_wl16(b + 6, (uint16_t)c->hot_y);
        data = c->data;
        data_len = (size_t)c->width * c->height * 4;
        break;
    }
    case VD_SESSION_EVENT_CURSOR_POS:
        if (!server || ev->u.cursor_pos.visible > 1)
            return VD_ERR(EINVAL);
        type = VD_REC_CURSOR_POS, len = 16;
        vd_wl32(b, ev->u.cursor_pos.surface_id);
        vd_wl32(b + 4, (uint32_t)ev->u.cursor_pos.x);
        vd_wl32(b + 8, (uint32_t)ev->u.cursor_pos.y);
        vd_wl32(b + 12, ev->u.cursor_pos.visible);
        break;
    default:
        return VD_ERR(EINVAL);
    }
    return queue_record(s, type, b, len, data, data_len, TAG_MESSAGE);
}

int vd_session_ping(vd_session *s)
{
    int ret = can_send(s);
    if (ret < 0)
        return ret;
    uint8_t b[16];
    vd_wl64(b, s->stats.records_sent);
    vd_wl64(b + 8, vd_now_ns());
    return queue_record(s, VD_REC_PING, b, sizeof(b), NULL, 0, TAG_MESSAGE);
}

void vd_session_get_stats(const vd_session *s, vd_session_stats *stats) { *stats = s->stats; }

int vd_session_resume_ticket(const vd_session *s, uint8_t ticket[VD_TICKET_BYTES])
{
    if (!s->has_ticket)
        return s->error ? s->error : VD_ERR(EAGAIN);
    memcpy(ticket, s->ticket, VD_TICKET_BYTES);
    return 0;
}

int vd_session_ticket_equal(const uint8_t a[VD_TICKET_BYTES], const uint8_t b[VD_TICKET_BYTES])
{
    return sodium_memcmp(a, b, VD_TICKET_BYTES) == 0;
}

/* ---- sockets -------------------------------------------------------------------------------- */

/* Splits "HOST:PORT" / "[V6]:PORT" into host (NULL for empty) and port. */
static int split_host_port(const char *address, char *host, size_t hsize, const char **port)
{
    const char *colon;
    const char *h = address;
    size_t hl;
    if (*address == '[') {
        const char *close_br = strchr(address, ']');
        if (!close_br || close_br[1] != ':')
            return VD_ERR(EINVAL);
        h = address + 1;
        hl = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon)
            return VD_ERR(EINVAL);
        hl = (size_t)(colon - address);
    }
    if (hl >= hsize || !colon[1])
        return VD_ERR(EINVAL);
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = colon + 1;
    return 0;
}

static int unix_address(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (!*path || strlen(path) >= sizeof(sun->sun_path))
        return VD_ERR(EINVAL);
    strcpy(sun->sun_path, path);
    return 0;
}

/* Opens a socket for address, connected (listen == 0, possibly still in progress) or bound
 * and listening. */
static int open_socket(const char *address, int listening, int *out_fd)
{
    int ret;
    if (!address)
        return VD_ERR(EINVAL);
    if (!strncmp(address, "unix:", 5)) {
        struct sockaddr_un sun;
        if ((ret = unix_address(address + 5, &sun)) < 0)
            return ret;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return VD_ERR(errno);
        if (listening) {
            unlink(sun.sun_path);
            ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 && listen(fd, 16) == 0;
        } else {
            ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
        }
        if (!ret) {
            ret = VD_ERR(errno);
            close(fd);
            return ret;
        }
        *out_fd = fd;
        return 0;
    }
    char host[256];
    const char *port;
    if ((ret = split_host_port(address, host, sizeof(host), &port)) < 0)
        return ret;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = listening ? AI_PASSIVE : 0};
    struct addrinfo *res;
    int gai = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (gai)
        return gai == EAI_SYSTEM ? VD_ERR(errno) : VD_ERR(EHOSTUNREACH);
    ret = VD_ERR(EHOSTUNREACH);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
        if (fd < 0) {
            ret = VD_ERR(errno);
            continue;
        }
        int ok;
        if (listening) {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0;
        } else {
            ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS;
        }
        if (ok) {
            *out_fd = fd;
            ret = 0;
            break;
        }
        ret = VD_ERR(errno);
        close(fd);
    }
    freeaddrinfo(res);
    return ret;
}

int vd_session_connect(const vd_session_config *cfg, const char *address, vd_session **out)
{
    int fd;
    *out = NULL;
    if (!cfg || cfg->role != VD_SESSION_CLIENT)
        return VD_ERR(EINVAL);
    int ret = open_socket(address, 0, &fd);
    if (ret < 0)
        return ret;
    return vd_session_new(cfg, fd, out);
}

int vd_session_listen(const char *address, int *fd) { return open_socket(address, 1, fd); }

int vd_session_accept(const vd_session_config *cfg, int listen_fd, vd_session **out)
{
    *out = NULL;
    if (!cfg || cfg->role != VD_SESSION_SERVER)
        return VD_ERR(EINVAL);
    int fd;
    do
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == EWOULDBLOCK ? VD_ERR(EAGAIN) : VD_ERR(errno);
    return vd_session_new(cfg, fd, out);
}
