/* The transport handshake: a Noise XX pattern over X25519, ChaCha20-Poly1305 and BLAKE2b, all
 * from libsodium.  Pure functions over byte buffers (no I/O), so that the fuzz harness and the
 * tests can drive them directly.  docs/protocol.md ("Transport") is the specification.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_TRANSPORT_HANDSHAKE_H
#define VD_TRANSPORT_HANDSHAKE_H

#include <vd/session.h>

#include "../lib/internal.h"

#define VD_HS_HASHLEN 64
#define VD_HS_KEYLEN 32
#define VD_HS_TAGLEN 16
#define VD_TOKEN_BYTES 16

/* Transport protocol versions this build speaks. */
#define VD_TRANSPORT_VERSION_MIN 1
#define VD_TRANSPORT_VERSION_MAX 1

/* Payload and message sizes (bodies, without the 4-byte frame length). */
#define VD_HS_PAYLOAD2_SIZE 32
#define VD_HS_RESUME_SIZE (VD_TICKET_BYTES + 16 + 4 * VD_MAX_SURFACES) /* 288, in payload3 */
#define VD_HS_PAYLOAD3_SIZE (96 + VD_HS_RESUME_SIZE)
#define VD_HS_MSG1_SIZE 48
#define VD_HS_MSG2_SIZE (32 + 32 + VD_HS_TAGLEN + VD_HS_PAYLOAD2_SIZE + VD_HS_TAGLEN)
#define VD_HS_MSG3_SIZE (32 + VD_HS_TAGLEN + VD_HS_PAYLOAD3_SIZE + VD_HS_TAGLEN)

/* Noise's symmetric state. */
typedef struct vd_hs_symmetric {
    uint8_t ck[VD_HS_HASHLEN]; /* chaining key */
    uint8_t h[VD_HS_HASHLEN];  /* transcript hash */
    uint8_t k[VD_HS_KEYLEN];
    uint64_t n;
    int has_k;
} vd_hs_symmetric;

typedef struct vd_hs {
    enum vd_session_role role;
    vd_hs_symmetric sym;
    vd_keypair s;               /* own static */
    vd_keypair e;               /* own ephemeral */
    uint8_t re[VD_KEY_BYTES];   /* remote ephemeral */
    uint8_t rs[VD_KEY_BYTES];   /* remote static, once known */
    uint8_t h_auth[VD_HS_HASHLEN]; /* transcript hash the pairing proof is bound to */
} vd_hs;

/* Server parameters, sent encrypted in message 2. */
typedef struct vd_hs_payload2 {
    uint32_t version;        /* chosen transport version; 0 = no common version */
    uint32_t codecs;         /* VD_SESSION_CODEC_* the server can send */
} vd_hs_payload2;

/* Client parameters, sent encrypted in message 3. */
typedef struct vd_hs_payload3 {
    vd_session_caps caps;
    uint32_t flags;                 /* VD_HS_F_* */
    uint8_t token_mac[32];
    uint8_t ticket[VD_TICKET_BYTES]; /* VD_HS_F_RESUME: the ticket the client resumes */
    vd_resume_state resume;          /* VD_HS_F_RESUME: its decoder's state (reserved unused) */
} vd_hs_payload3;

enum {
    VD_HS_F_TOKEN = 1u << 0,  /* token_mac proves knowledge of the pairing token */
    VD_HS_F_RESUME = 1u << 1, /* the resume block (ticket and state) is present */
};

VD_HIDDEN void vd_hs_init(vd_hs *hs, enum vd_session_role role, const vd_keypair *identity);
VD_HIDDEN void vd_hs_wipe(vd_hs *hs);

/* Client -> server: e, and the version range (plaintext, but bound into the transcript). */
VD_HIDDEN int vd_hs_write_msg1(vd_hs *hs, uint8_t out[VD_HS_MSG1_SIZE], uint16_t min_version,
                               uint16_t max_version);
VD_HIDDEN int vd_hs_read_msg1(vd_hs *hs, const uint8_t *in, size_t len, uint16_t *min_version,
                              uint16_t *max_version);

/* Server -> client: e, ee, s, es, payload2. */
VD_HIDDEN int vd_hs_write_msg2(vd_hs *hs, uint8_t out[VD_HS_MSG2_SIZE], const vd_hs_payload2 *p);
/* Authenticates the server's static key (hs->rs), which the caller then checks against its
 * pin before sending anything else. */
VD_HIDDEN int vd_hs_read_msg2(vd_hs *hs, const uint8_t *in, size_t len, vd_hs_payload2 *p);

/* Client -> server: s, se, payload3 (with the pairing proof when token is not NULL). */
VD_HIDDEN int vd_hs_write_msg3(vd_hs *hs, uint8_t out[VD_HS_MSG3_SIZE], const vd_hs_payload3 *p,
                               const uint8_t *token);
VD_HIDDEN int vd_hs_read_msg3(vd_hs *hs, const uint8_t *in, size_t len, vd_hs_payload3 *p);
/* Server: 1 when p proves knowledge of token (constant time), else 0. */
VD_HIDDEN int vd_hs_check_token(const vd_hs *hs, const vd_hs_payload3 *p, const uint8_t *token);

/* The two directions' channel keys and the handshake hash (a channel binding). */
VD_HIDDEN void vd_hs_split(vd_hs *hs, uint8_t c2s[VD_HS_KEYLEN], uint8_t s2c[VD_HS_KEYLEN],
                           uint8_t hash[VD_HS_HASHLEN]);

/* Payload codecs; parse returns 0 or VD_ERR(EBADMSG) (reserved bytes must be zero). */
VD_HIDDEN void vd_hs_payload2_write(uint8_t out[VD_HS_PAYLOAD2_SIZE], const vd_hs_payload2 *p);
VD_HIDDEN int vd_hs_payload2_parse(const uint8_t *in, size_t len, vd_hs_payload2 *p);
VD_HIDDEN void vd_hs_payload3_write(uint8_t out[VD_HS_PAYLOAD3_SIZE], const vd_hs_payload3 *p);
VD_HIDDEN int vd_hs_payload3_parse(const uint8_t *in, size_t len, vd_hs_payload3 *p);

/* Text tokens ("vdpair-..."): 0 or VD_ERR(EBADMSG). */
VD_HIDDEN int vd_token_parse(const char *str, uint8_t token[VD_TOKEN_BYTES]);

/* sodium_init() once, thread-safe (libsodium's own init is). */
VD_HIDDEN int vd_sodium_init(void);

#endif
