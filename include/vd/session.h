/* libvd session: the authenticated, encrypted transport between a host and a viewer.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A session is one connection (TCP or Unix socket) in the server role (the host, which runs
 * the encoder) or the client role (the viewer, which runs the decoder).  It starts with a
 * mutual-authenticated handshake with forward secrecy and then carries every message
 * encrypted and authenticated; there is no plaintext mode.  docs/protocol.md ("Transport")
 * specifies the bytes and the security argument.
 *
 * The host owns the event loop.  A session never blocks and never starts a thread:
 *
 *     struct pollfd p = {vd_session_fd(s), vd_session_events(s), 0};
 *     poll(&p, 1, vd_session_timeout(s));             or sooner for the host's own timers
 *     ret = vd_session_dispatch(s, p.revents);       reads, writes, handshake, timeouts
 *     while ((ret = vd_session_receive(s, &ev)) == 0)
 *         handle(&ev);                                 VD_SESSION_EVENT_*
 *     ret is VD_ERR(EAGAIN): poll again; VD_EOF: the peer closed; other: the session failed
 *
 * The session has no timers of its own: vd_session_timeout() says when it needs a dispatch
 * without socket activity, for the handshake, goodbye and idle timeouts of
 * vd_session_config and the keepalive pings.
 *
 * Sending (vd_session_send_packet(), vd_session_send()) only encrypts into the session's
 * queue; vd_session_events() then asks for POLLOUT until the queue is written.
 *
 * Errors.  Once a session fails, every call returns the same error and vd_session_events()
 * returns 0; free it.  The errors are:
 *   VD_ERR(EBADMSG)    a message failed authentication (a flipped bit, a replayed, reordered
 *                      or forged message) or was malformed (length field out of range).
 *                      Nothing of that message is delivered.
 *   VD_ERR(EPERM)      client: the server's long-term key is not the pinned one.  The client
 *                      stops before sending its own key or any other secret.
 *   VD_ERR(EACCES)     the client is not authorised (unknown key and no valid pairing token).
 *   VD_ERR(ENOTSUP)    no common protocol version.
 *   VD_ERR(EPROTO)     the peer broke the protocol (an authentic message out of place).
 *   VD_ERR(ECONNRESET) the connection ended without the peer's authenticated goodbye
 *                      (possible truncation).
 *   VD_ERR(ENOBUFS)    the send queue would exceed vd_session_config.max_queued_bytes.
 *   VD_ERR(EMSGSIZE)   a packet larger than the client accepts (its max_packet_size).
 *   VD_ERR(ETIMEDOUT)  the handshake did not finish in handshake_timeout_ms, the peer did
 *                      not answer our goodbye in close_timeout_ms (after vd_session_close():
 *                      treat it as the end), or nothing arrived for idle_timeout_ms.
 *   other              from the socket: connect() and friends.
 * VD_EOF means the peer said goodbye with vd_session_close(): a clean end. */
#ifndef VD_SESSION_H
#define VD_SESSION_H

#include <vd/common.h>
#include <vd/encoder.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- keys ---------------------------------------------------------------------------------- */

/* Long-term identities are X25519 key pairs. */
#define VD_KEY_BYTES 32

typedef struct vd_keypair {
    uint8_t public_key[VD_KEY_BYTES];
    uint8_t secret_key[VD_KEY_BYTES];
} vd_keypair;

/* Initialises libsodium once; thread-safe and idempotent.  Every other function here calls it
 * itself; call it first only to learn early that the system's RNG is unusable.  Returns 0 or
 * VD_ERR(EIO). */
VD_API int vd_session_init(void);

/* Makes a new random key pair.  Returns 0 or VD_ERR(EIO). */
VD_API int vd_keypair_generate(vd_keypair *kp);

/* Writes a key pair to a new file readable only by its owner (mode 0600), in the key-file
 * format (one line: "vd-secret-key-1 SECRET PUBLIC", base64url).  Returns 0, VD_ERR(EEXIST)
 * when the file exists, or another negative errno from the system. */
VD_API int vd_keypair_save(const vd_keypair *kp, const char *path);

/* Reads a key pair written by vd_keypair_save().  Returns 0, VD_ERR(EBADMSG) for a malformed
 * file or a public key that does not match the secret, VD_ERR(EPERM) when the file can be
 * read by group or others, or a negative errno from the system. */
VD_API int vd_keypair_load(vd_keypair *kp, const char *path);

/* The text form of a public key: "vd-key-1 " and 43 base64url characters; needs size >= 53
 * (VD_KEY_STRING_SIZE).  Returns 0 or VD_ERR(ENOSPC). */
#define VD_KEY_STRING_SIZE 53
VD_API int vd_key_to_string(const uint8_t key[VD_KEY_BYTES], char *str, size_t size);

/* Parses the text form of a public key; leading and trailing blanks are ignored.  Returns 0
 * or VD_ERR(EBADMSG). */
VD_API int vd_key_from_string(uint8_t key[VD_KEY_BYTES], const char *str);

/* Reads a key-list file (a known-hosts or authorised-clients file): one public key per line
 * in its text form, optionally followed by a blank and a comment; empty lines and lines
 * starting with '#' are skipped.  Stores up to max keys and returns how many the file holds
 * (which may exceed max), or VD_ERR(EBADMSG) naming no line (a malformed line is an error,
 * not skipped, so a typo never silently removes a key), or a negative errno. */
VD_API int vd_keys_load(const char *path, uint8_t (*keys)[VD_KEY_BYTES], size_t max);

/* A one-time pairing token: 128 random bits, text form "vdpair-" and 22 base64url
 * characters (VD_TOKEN_STRING_SIZE with the NUL).  The server operator makes one, passes it
 * to the server's config and tells the user, out of band, who passes it to the client's
 * config; a client that proves it knows the token is authorised and its key is reported
 * (VD_SESSION_EVENT_CONNECTED with paired = 1) so that the host can add it to its list.
 * Returns 0, VD_ERR(ENOSPC) or VD_ERR(EIO). */
#define VD_TOKEN_STRING_SIZE 30
VD_API int vd_pairing_token_generate(char *str, size_t size);

/* ---- sessions ------------------------------------------------------------------------------ */

typedef struct vd_session vd_session;

enum vd_session_role {
    VD_SESSION_SERVER = 1, /* the host: sends packets and cursor, receives feedback and input */
    VD_SESSION_CLIENT = 2, /* the viewer */
};

/* Codecs a client can decode (vd_session_caps.codecs).  A server sets
 * vd_encoder_config.video_codecs from the video bits (VD_CODEC_H264, VD_CODEC_AV1). */
enum {
    VD_SESSION_CODEC_TILES = 1u << 0, /* the lossless tile stream of wire format v1 */
    VD_SESSION_CODEC_H264 = 1u << 1,  /* video streams in H.264 */
    VD_SESSION_CODEC_AV1 = 1u << 2,   /* video streams in AV1 */
    VD_SESSION_CODECS_KNOWN = VD_SESSION_CODEC_TILES | VD_SESSION_CODEC_H264 | VD_SESSION_CODEC_AV1,
};

/* What a client can take; sent encrypted in the handshake, after the server is verified. */
typedef struct vd_session_caps {
    uint32_t codecs;          /* VD_SESSION_CODEC_* */
    uint32_t max_width;       /* largest surface it shows, pixels; 0 = VD_MAX_DIMENSION */
    uint32_t max_height;
    uint32_t max_packet_size; /* largest vd_packet it reassembles, bytes; 0 = 8 MiB;
                               * 64 KiB .. 256 MiB */
    uint64_t cache_bytes;     /* tile cache the client's decoder grants (its
                               * vd_decoder_config.cache_size); a server sets
                               * vd_encoder_config.cache_size to at most this; 0 = none;
                               * vd_session_config_default() puts the decoder's default */
    uint8_t reserved[32];
} vd_session_caps;

/* Decides whether a client key is authorised; returns 1 to accept, 0 to refuse.  Called
 * during vd_session_dispatch(), after the client has proved it holds the key. */
typedef int (*vd_session_authorize_fn)(void *opaque, const uint8_t client_key[VD_KEY_BYTES]);

/* Decides whether a server key is acceptable when the client pins none (trust on first use,
 * or a lookup in a known-hosts file keyed by address); returns 1 to accept. */
typedef int (*vd_session_verify_fn)(void *opaque, const uint8_t server_key[VD_KEY_BYTES]);

typedef struct vd_session_config {
    enum vd_session_role role;
    vd_keypair identity;             /* this side's long-term key pair; required */

    /* Client: the pinned server key, or NULL to ask verify_server (one of them is required). */
    const uint8_t *server_key;
    vd_session_verify_fn verify_server;
    /* Client: a pairing token to present (text form), or NULL.  Server: the token that
     * authorises one new client, or NULL.  Only a client that has verified the server sends
     * anything derived from it. */
    const char *pairing_token;

    /* Server: authorised client keys (copied at vd_session_new), and/or a callback asked
     * for keys not in the list.  A client in neither, without the token, is refused. */
    const uint8_t (*authorized_keys)[VD_KEY_BYTES];
    size_t n_authorized_keys;
    vd_session_authorize_fn authorize;
    void *opaque;                    /* passed to the callbacks */

    vd_session_caps caps;            /* client: what it takes (zero = defaults); server: unused */

    /* Bytes the send queue may hold before sends fail with VD_ERR(ENOBUFS); default
     * (0) 64 MiB.  Hosts should stop encoding well before (see vd_session_queued_bytes). */
    size_t max_queued_bytes;

    /* Client, to resume after a dropped connection (both or neither; copied at
     * vd_session_new): the ticket of the session it resumes (vd_session_resume_ticket()) and
     * where its decoder stands (vd_decoder_get_resume_state()).  Server: NULL. */
    const uint8_t *resume_ticket;
    const vd_resume_state *resume;

    /* Timeouts, checked in vd_session_dispatch() (see vd_session_timeout()); each ends the
     * session with VD_ERR(ETIMEDOUT).  From vd_session_new() until connected; 0 = 10000. */
    uint32_t handshake_timeout_ms;
    /* After vd_session_close(): until the peer's goodbye is in and ours is written; 0 = 3000. */
    uint32_t close_timeout_ms;
    /* Connected and not closing: the session sends a PING after every idle_timeout_ms / 3
     * without a byte from the peer (its answer is not reported as VD_SESSION_EVENT_RTT) and
     * fails after idle_timeout_ms without one.  Catches a connection that died without a reset
     * (a peer that vanished with its network).  Needs a peer that answers pings, which every
     * session does in vd_session_receive(); a ping waits behind what is queued, so keep it
     * well above the time the queue takes to drain.  0 (default) = off. */
    uint32_t idle_timeout_ms;
    uint8_t reserved[64 - 2 * sizeof(void *) - 3 * sizeof(uint32_t)];
} vd_session_config;

/* Fills cfg with zeros and the defaults for role. */
VD_API void vd_session_config_default(vd_session_config *cfg, enum vd_session_role role);

/* Makes a session over a connected stream socket (TCP or Unix; it may still be connecting,
 * non-blocking).  The session owns fd from then on, even on failure, makes it non-blocking
 * and closes it in vd_session_free().  Returns 0, VD_ERR(EINVAL) for a bad config or fd
 * (resume_ticket without resume or the reverse, either on a server, or resume->n_surfaces
 * above VD_MAX_SURFACES), VD_ERR(ENOMEM), or VD_ERR(EIO) when libsodium cannot start. */
VD_API VD_NODISCARD int vd_session_new(const vd_session_config *cfg, int fd, vd_session **out);

/* Connects a client: address is "HOST:PORT" (numeric or resolved, blocking, by getaddrinfo;
 * IPv6 as "[ADDR]:PORT") or "unix:PATH".  The connect is non-blocking and completes inside
 * vd_session_dispatch().  Returns what vd_session_new() does, or a negative errno. */
VD_API VD_NODISCARD int vd_session_connect(const vd_session_config *cfg, const char *address,
                                           vd_session **out);

/* Opens a listening socket for the server (same address forms; an existing Unix socket file
 * is replaced) and stores its fd, non-blocking, in *fd.  Returns 0 or a negative errno. */
VD_API VD_NODISCARD int vd_session_listen(const char *address, int *fd);

/* Accepts one connection from a listening socket and makes a server session for it.
 * Returns 0, VD_ERR(EAGAIN) when none is waiting, or what vd_session_new() does. */
VD_API VD_NODISCARD int vd_session_accept(const vd_session_config *cfg, int listen_fd,
                                          vd_session **out);

/* Frees the session, closes its fd and wipes its keys; sets *s to NULL; NULL is fine.  It
 * does not wait for queued bytes: call vd_session_close() and dispatch until
 * vd_session_events() says nothing is left to write, first, for a clean end. */
VD_API void vd_session_free(vd_session **s);

/* The socket to poll. */
VD_API int vd_session_fd(const vd_session *s);

/* What to poll for: POLLIN and/or POLLOUT (from <poll.h>), or 0 once the session has failed
 * or finished closing. */
VD_API short vd_session_events(const vd_session *s);

/* Does the I/O that revents (poll's result for the fd; 0 means "try anyway") allows,
 * advances the handshake, checks the timeouts and sends keepalive pings.  Returns 0, or the
 * session's error once it has failed (see the list above).  Records are decrypted in
 * vd_session_receive(), not here: call it after every dispatch until it returns
 * VD_ERR(EAGAIN), or the session stops asking for POLLIN once its input buffer (one record
 * and one read) is full. */
VD_API int vd_session_dispatch(vd_session *s, short revents);

/* Milliseconds until the session needs vd_session_dispatch() even without socket activity
 * (a timeout to check or a keepalive ping to send), rounded up, 0 when that is now; or -1
 * when it has no deadline.  Pass it to poll(), or the smaller of it and the host's own. */
VD_API int vd_session_timeout(const vd_session *s);

/* Says goodbye: queues an authenticated end-of-stream after what is queued, after which
 * nothing more is sent.  The peer's vd_session_receive() returns VD_EOF once it has read
 * everything; until then (and until ours is written) close_timeout_ms runs, after which the
 * session fails with VD_ERR(ETIMEDOUT): a peer that never answers.  Returns 0 or the
 * session's error. */
VD_API int vd_session_close(vd_session *s);

/* Bytes queued for sending, encrypted, not yet written to the socket.  This is the
 * back-pressure signal for the encoder: while it is above what the link drains in a frame
 * interval or two, the host should not encode new frames but accumulate their damage (the
 * union of the rectangles) and encode one frame later, so that the client gets the latest
 * content rather than a queue of stale frames. */
VD_API size_t vd_session_queued_bytes(const vd_session *s);

/* ---- messages ------------------------------------------------------------------------------ */

enum vd_session_event_type {
    VD_SESSION_EVENT_CONNECTED = 1, /* the handshake is done; .u.connected */
    VD_SESSION_EVENT_PACKET,        /* client: an encoder packet, whole; .u.packet */
    VD_SESSION_EVENT_ACK,           /* server: the client showed a frame; .u.ack */
    VD_SESSION_EVENT_REFRESH,       /* server: resend a surface; .u.refresh */
    VD_SESSION_EVENT_LOSS,          /* server: frames the client could not decode; .u.loss */
    VD_SESSION_EVENT_RTT,           /* the answer to vd_session_ping(); .u.rtt */
    VD_SESSION_EVENT_KEY,           /* server: keyboard input; .u.key */
    VD_SESSION_EVENT_POINTER,       /* server: pointer input; .u.pointer */
    VD_SESSION_EVENT_CURSOR_SHAPE,  /* client: a new cursor image; .u.cursor_shape */
    VD_SESSION_EVENT_CURSOR_POS,    /* client: the cursor moved; .u.cursor_pos */
    VD_SESSION_EVENT_KEYFRAME,      /* server: a video stream needs a key frame; .u.keyframe */
};

typedef struct vd_session_connected {
    uint8_t peer_key[VD_KEY_BYTES]; /* the peer's long-term public key, authenticated */
    uint32_t version;               /* the negotiated transport version */
    uint32_t paired;                /* server: 1 when the client was authorised by the token */
    vd_session_caps caps;           /* the client's capabilities (both roles) */
    /* Server: both set when the client asks to resume (see vd_session_resume_ticket()),
     * pointing into the session, valid until vd_session_free(); else NULL.  Client: NULL. */
    const uint8_t *resume_ticket;
    const vd_resume_state *resume;
    uint8_t reserved[32 - 2 * sizeof(void *)];
} vd_session_connected;

/* A frame acknowledgement: the client has decoded and shown frame_seq. */
typedef struct vd_session_ack {
    uint64_t frame_seq;
    uint32_t surface_id;
    uint32_t decode_us;   /* time the decoder took for the frame */
    uint32_t queue_depth; /* packets received but not yet decoded */
    uint8_t reserved[12];
} vd_session_ack;

enum {
    /* Key frames of all the surface's video streams, not a tile refresh (older viewers;
     * VD_SESSION_EVENT_KEYFRAME names the stream). */
    VD_REFRESH_KEYFRAME = 1u << 0,
};

/* The client's decoder lost a video stream's state (vd_decoder_get_key_requests()); the
 * host passes stream_id to vd_encoder_request_keyframe() (VD_ERR(ENOENT): it has ended). */
typedef struct vd_session_keyframe {
    uint32_t stream_id;
    uint8_t reserved[12];
} vd_session_keyframe;

typedef struct vd_session_refresh {
    uint32_t surface_id; /* or VD_ALL_SURFACES */
    uint32_t flags;      /* VD_REFRESH_* */
    uint8_t reserved[8];
} vd_session_refresh;

/* The client lost frames first_seq .. last_seq of a surface (a decode error). */
typedef struct vd_session_loss {
    uint64_t first_seq, last_seq;
    uint32_t surface_id;
    uint8_t reserved[12];
} vd_session_loss;

typedef struct vd_session_rtt {
    uint32_t rtt_us;
    uint8_t reserved[12];
} vd_session_rtt;

typedef struct vd_session_key {
    uint32_t scancode; /* evdev (Linux input) key code, 0 when unknown */
    uint32_t keysym;   /* X11 keysym, 0 when unknown */
    uint32_t pressed;  /* 1 down, 0 up */
    uint32_t modifiers;
    uint8_t reserved[8];
} vd_session_key;

enum {
    VD_BUTTON_LEFT = 1u << 0,
    VD_BUTTON_MIDDLE = 1u << 1,
    VD_BUTTON_RIGHT = 1u << 2,
};

typedef struct vd_session_pointer {
    uint32_t surface_id;
    int32_t x, y;              /* absolute position on the surface, pixels */
    uint32_t buttons;          /* VD_BUTTON_* held now */
    int32_t wheel_x, wheel_y;  /* wheel steps since the last event (120 = one notch) */
    uint8_t reserved[8];
} vd_session_pointer;

/* Largest cursor image. */
#define VD_CURSOR_MAX 128

typedef struct vd_session_cursor_shape {
    uint32_t width, height; /* 1 .. VD_CURSOR_MAX */
    uint32_t hot_x, hot_y;  /* inside the image */
    const uint8_t *data;    /* BGRA8888, straight alpha, rows of width * 4 bytes */
    uint8_t reserved[16];
} vd_session_cursor_shape;

typedef struct vd_session_cursor_pos {
    uint32_t surface_id;
    int32_t x, y;
    uint32_t visible;
    uint8_t reserved[8];
} vd_session_cursor_pos;

typedef struct vd_session_event {
    enum vd_session_event_type type;
    union {
        vd_session_connected connected;
        vd_packet packet; /* data valid until the next call on the session */
        vd_session_ack ack;
        vd_session_refresh refresh;
        vd_session_loss loss;
        vd_session_rtt rtt;
        vd_session_key key;
        vd_session_pointer pointer;
        vd_session_cursor_shape cursor_shape; /* data valid until the next call */
        vd_session_cursor_pos cursor_pos;
        vd_session_keyframe keyframe;
    } u;
} vd_session_event;

/* Takes the next received message.  Returns 0, VD_ERR(EAGAIN) when none is complete (poll
 * and dispatch), VD_EOF after the peer's goodbye, or the session's error.  Messages are
 * authenticated before anything is returned.  A ping from the peer is answered here. */
VD_API VD_NODISCARD int vd_session_receive(vd_session *s, vd_session_event *ev);

/* Server: queues an encoder packet (any size up to the client's max_packet_size; it is
 * split into records and put back together whole).  Returns 0, VD_ERR(EAGAIN) before the
 * handshake is done, VD_ERR(EMSGSIZE), VD_ERR(ENOBUFS), VD_ERR(EINVAL) for a client, or the
 * session's error. */
VD_API VD_NODISCARD int vd_session_send_packet(vd_session *s, const vd_packet *pkt);

/* Queues one message: ACK, REFRESH, LOSS, KEYFRAME, KEY, POINTER (client) or CURSOR_SHAPE,
 * CURSOR_POS (server).  Returns 0, VD_ERR(EINVAL) for a type the role does not send or bad
 * fields, VD_ERR(EAGAIN) before the handshake is done, VD_ERR(ENOBUFS), or the error. */
VD_API VD_NODISCARD int vd_session_send(vd_session *s, const vd_session_event *ev);

/* Sends a ping (either role); the peer answers at once and a VD_SESSION_EVENT_RTT follows
 * (one per call: the session's own keepalive pings report none).  Returns what
 * vd_session_send() does. */
VD_API VD_NODISCARD int vd_session_ping(vd_session *s);

/* ---- resumption ---------------------------------------------------------------------------- */

/* A resume ticket: 128 random bits the server issues to each client it accepts (in ACCEPT,
 * encrypted).  A client whose connection drops reconnects with a new session whose config
 * carries the ticket and its decoder's vd_resume_state; they travel encrypted in the
 * handshake, and the server reports both in VD_SESSION_EVENT_CONNECTED.  The host then finds
 * the encoder it kept for that client by ticket (vd_session_ticket_equal()) and passes the
 * state to vd_encoder_resume(), which sends only what changed.
 *
 * A resume runs the full mutual-authenticated handshake (so forward secrecy holds), and the
 * ticket alone proves nothing: the host must check that the resuming client's peer_key is
 * the key of the client it issued the ticket to, and should accept each ticket once (the
 * new session issues a new ticket). */
#define VD_TICKET_BYTES 16

/* Server: the ticket issued to this client; client: the ticket received.  Returns 0 once
 * connected, and still after the session failed (a client fetches it after its connection
 * dropped); VD_ERR(EAGAIN) before the handshake is done, or the session's error when it
 * failed before. */
VD_API int vd_session_resume_ticket(const vd_session *s, uint8_t ticket[VD_TICKET_BYTES]);

/* 1 when the tickets are equal, else 0; constant time. */
VD_API int vd_session_ticket_equal(const uint8_t a[VD_TICKET_BYTES],
                                   const uint8_t b[VD_TICKET_BYTES]);

/* Counters, for benchmarks and tests. */
typedef struct vd_session_stats {
    uint64_t bytes_sent, bytes_received;       /* on the socket */
    uint64_t records_sent, records_received;
    uint64_t handshake_ns;                     /* from the first message to connected */
    uint8_t reserved[32];
} vd_session_stats;

VD_API void vd_session_get_stats(const vd_session *s, vd_session_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
