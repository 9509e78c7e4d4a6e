/* Internals of the session shared with the tests and the fuzz harness.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_TRANSPORT_SESSION_INTERNAL_H
#define VD_TRANSPORT_SESSION_INTERNAL_H

#include <vd/session.h>

#include "handshake.h"

/* Record framing: u32 little-endian ciphertext length, then the ciphertext. */
#define VD_FRAME_LEN_BYTES 4
#define VD_PACKET_HDR_SIZE 32
#define VD_FRAGMENT_MAX (128u << 10)
#define VD_RECORD_MAX_PLAINTEXT (1 + VD_PACKET_HDR_SIZE + VD_FRAGMENT_MAX)
#define VD_RECORD_ABYTES 17 /* crypto_secretstream_xchacha20poly1305_ABYTES */
#define VD_RECORD_MAX_CIPHERTEXT (VD_RECORD_MAX_PLAINTEXT + VD_RECORD_ABYTES)
#define VD_STREAM_HEADER_BYTES 24

/* Record types (first plaintext byte). */
enum {
    VD_REC_ACCEPT = 0x01,
    VD_REC_REJECT = 0x02,
    VD_REC_GOODBYE = 0x03,
    VD_REC_PACKET = 0x10,
    VD_REC_ACK = 0x20,
    VD_REC_REFRESH = 0x21,
    VD_REC_LOSS = 0x22,
    VD_REC_PING = 0x23,
    VD_REC_PONG = 0x24,
    VD_REC_KEYFRAME = 0x25,
    VD_REC_KEY = 0x30,
    VD_REC_POINTER = 0x31,
    VD_REC_CURSOR_SHAPE = 0x40,
    VD_REC_CURSOR_POS = 0x41,
};

/* A PING id with this bit is the session's keepalive: its PONG reports no RTT. */
#define VD_PING_KEEPALIVE (UINT64_C(1) << 63)

enum {
    VD_FRAG_FIRST = 1u << 0,
    VD_FRAG_LAST = 1u << 1,
};

/* A session past the handshake, with the given channel keys (c2s, s2c), for the fuzz harness
 * and tests: it skips straight to the record layer.  The client's caps take their defaults. */
VD_HIDDEN int vd_session_new_keyed(enum vd_session_role role, int fd, const uint8_t c2s[32],
                                   const uint8_t s2c[32], vd_session **out);

#endif
