/* The transport handshake (Noise XX, see handshake.h and docs/protocol.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "handshake.h"

/* The sizes docs/protocol.md gives. */
_Static_assert(VD_HS_RESUME_SIZE == 288 && VD_HS_PAYLOAD3_SIZE == 384 && VD_HS_MSG3_SIZE == 448,
               "payload3 size");

#include <sodium.h>

/* Not the standard Noise name: the KDF below uses keyed BLAKE2b where Noise uses HMAC, so the
 * protocol must not claim interoperability with Noise_XX_25519_ChaChaPoly_BLAKE2b. */
static const char protocol_name[] = "libvd-transport-1 XX 25519 ChaChaPoly BLAKE2b";
static const char token_label[] = "libvd pairing token 1";
static const uint8_t msg1_magic[4] = {'V', 'D', 'H', '1'};

int vd_sodium_init(void)
{
    /* sodium_init() is thread-safe and returns 1 when already done. */
    return sodium_init() < 0 ? VD_ERR(EIO) : 0;
}

/* ---- Noise symmetric state ------------------------------------------------------------------ */

static void mix_hash(vd_hs_symmetric *sym, const uint8_t *data, size_t len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, VD_HS_HASHLEN);
    crypto_generichash_update(&st, sym->h, VD_HS_HASHLEN);
    crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, sym->h, VD_HS_HASHLEN);
}

/* HKDF's extract-and-expand with keyed BLAKE2b as the PRF (a PRF by design, so HMAC's
 * nesting is not needed): temp = PRF(ck, ikm), out1 = PRF(temp, 1), out2 = PRF(temp, out1||2). */
static void hkdf2(const uint8_t ck[VD_HS_HASHLEN], const uint8_t *ikm, size_t ikm_len,
                  uint8_t out1[VD_HS_HASHLEN], uint8_t out2[VD_HS_HASHLEN])
{
    uint8_t temp[VD_HS_HASHLEN], buf[VD_HS_HASHLEN + 1];
    static const uint8_t empty[1];
    crypto_generichash(temp, sizeof(temp), ikm_len ? ikm : empty, ikm_len, ck, VD_HS_HASHLEN);
    buf[0] = 1;
    crypto_generichash(out1, VD_HS_HASHLEN, buf, 1, temp, sizeof(temp));
    memcpy(buf, out1, VD_HS_HASHLEN);
    buf[VD_HS_HASHLEN] = 2;
    crypto_generichash(out2, VD_HS_HASHLEN, buf, sizeof(buf), temp, sizeof(temp));
    sodium_memzero(temp, sizeof(temp));
    sodium_memzero(buf, sizeof(buf));
}

static void mix_key(vd_hs_symmetric *sym, const uint8_t *ikm, size_t len)
{
    uint8_t out2[VD_HS_HASHLEN];
    hkdf2(sym->ck, ikm, len, sym->ck, out2);
    memcpy(sym->k, out2, VD_HS_KEYLEN);
    sym->n = 0;
    sym->has_k = 1;
    sodium_memzero(out2, sizeof(out2));
}

static void nonce_of(uint64_t n, uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES])
{
    memset(nonce, 0, 4);
    vd_wl64(nonce + 4, n);
}

/* Every call here happens after a mix_key, so a key is always set. */
static void encrypt_and_hash(vd_hs_symmetric *sym, const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    nonce_of(sym->n++, nonce);
    unsigned long long clen;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, sym->h, VD_HS_HASHLEN, NULL,
                                              nonce, sym->k);
    mix_hash(sym, out, (size_t)clen);
}

static int decrypt_and_hash(vd_hs_symmetric *sym, const uint8_t *ct, size_t len, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    unsigned long long plen;
    if (len < VD_HS_TAGLEN)
        return VD_ERR(EBADMSG);
    nonce_of(sym->n++, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, ct, len, sym->h,
                                                  VD_HS_HASHLEN, nonce, sym->k) != 0)
        return VD_ERR(EBADMSG);
    mix_hash(sym, ct, len);
    return 0;
}

/* MixKey(DH(sk, pk)); a small-order remote key (all-zero result) is an error. */
static int mix_dh(vd_hs_symmetric *sym, const uint8_t sk[VD_KEY_BYTES], const uint8_t pk[VD_KEY_BYTES])
{
    uint8_t shared[crypto_scalarmult_BYTES];
    if (crypto_scalarmult(shared, sk, pk) != 0) {
        sodium_memzero(shared, sizeof(shared));
        return VD_ERR(EBADMSG);
    }
    mix_key(sym, shared, sizeof(shared));
    sodium_memzero(shared, sizeof(shared));
    return 0;
}

static void new_ephemeral(vd_keypair *e)
{
    randombytes_buf(e->secret_key, VD_KEY_BYTES);
    crypto_scalarmult_base(e->public_key, e->secret_key);
}

/* ---- handshake ------------------------------------------------------------------------------ */

void vd_hs_init(vd_hs *hs, enum vd_session_role role, const vd_keypair *identity)
{
    memset(hs, 0, sizeof(*hs));
    hs->role = role;
    hs->s = *identity;
    crypto_generichash(hs->sym.h, VD_HS_HASHLEN, (const uint8_t *)protocol_name,
                       sizeof(protocol_name) - 1, NULL, 0);
    memcpy(hs->sym.ck, hs->sym.h, VD_HS_HASHLEN);
}

void vd_hs_wipe(vd_hs *hs) { sodium_memzero(hs, sizeof(*hs)); }

int vd_hs_write_msg1(vd_hs *hs, uint8_t out[VD_HS_MSG1_SIZE], uint16_t min_version,
                     uint16_t max_version)
{
    new_ephemeral(&hs->e);
    memset(out, 0, VD_HS_MSG1_SIZE);
    memcpy(out, msg1_magic, 4);
    vd_wl16(out + 4, min_version);
    vd_wl16(out + 6, max_version);
    memcpy(out + 16, hs->e.public_key, VD_KEY_BYTES);
    mix_hash(&hs->sym, out, VD_HS_MSG1_SIZE);
    return 0;
}

int vd_hs_read_msg1(vd_hs *hs, const uint8_t *in, size_t len, uint16_t *min_version,
                    uint16_t *max_version)
{
    if (len != VD_HS_MSG1_SIZE || memcmp(in, msg1_magic, 4))
        return VD_ERR(EBADMSG);
    for (int i = 8; i < 16; i++)
        if (in[i])
            return VD_ERR(EBADMSG);
    *min_version = vd_rl16(in + 4);
    *max_version = vd_rl16(in + 6);
    if (*min_version > *max_version)
        return VD_ERR(EBADMSG);
    memcpy(hs->re, in + 16, VD_KEY_BYTES);
    mix_hash(&hs->sym, in, VD_HS_MSG1_SIZE);
    return 0;
}

int vd_hs_write_msg2(vd_hs *hs, uint8_t out[VD_HS_MSG2_SIZE], const vd_hs_payload2 *p)
{
    uint8_t pl[VD_HS_PAYLOAD2_SIZE];
    int ret;
    new_ephemeral(&hs->e);
    memcpy(out, hs->e.public_key, VD_KEY_BYTES);
    mix_hash(&hs->sym, out, VD_KEY_BYTES);
    if ((ret = mix_dh(&hs->sym, hs->e.secret_key, hs->re)) < 0) /* ee */
        return ret;
    encrypt_and_hash(&hs->sym, hs->s.public_key, VD_KEY_BYTES, out + 32);
    if ((ret = mix_dh(&hs->sym, hs->s.secret_key, hs->re)) < 0) /* es */
        return ret;
    vd_hs_payload2_write(pl, p);
    encrypt_and_hash(&hs->sym, pl, sizeof(pl), out + 32 + 32 + VD_HS_TAGLEN);
    return 0;
}

int vd_hs_read_msg2(vd_hs *hs, const uint8_t *in, size_t len, vd_hs_payload2 *p)
{
    uint8_t pl[VD_HS_PAYLOAD2_SIZE];
    int ret;
    if (len != VD_HS_MSG2_SIZE)
        return VD_ERR(EBADMSG);
    memcpy(hs->re, in, VD_KEY_BYTES);
    mix_hash(&hs->sym, in, VD_KEY_BYTES);
    if ((ret = mix_dh(&hs->sym, hs->e.secret_key, hs->re)) < 0) /* ee */
        return ret;
    if ((ret = decrypt_and_hash(&hs->sym, in + 32, 32 + VD_HS_TAGLEN, hs->rs)) < 0)
        return ret;
    if ((ret = mix_dh(&hs->sym, hs->e.secret_key, hs->rs)) < 0) /* es */
        return ret;
    if ((ret = decrypt_and_hash(&hs->sym, in + 32 + 32 + VD_HS_TAGLEN,
                                VD_HS_PAYLOAD2_SIZE + VD_HS_TAGLEN, pl)) < 0)
        return ret;
    return vd_hs_payload2_parse(pl, sizeof(pl), p);
}

static void token_mac(const uint8_t h[VD_HS_HASHLEN], const uint8_t *token, uint8_t mac[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, token, VD_TOKEN_BYTES, 32);
    crypto_generichash_update(&st, (const uint8_t *)token_label, sizeof(token_label) - 1);
    crypto_generichash_update(&st, h, VD_HS_HASHLEN);
    crypto_generichash_final(&st, mac, 32);
}

int vd_hs_write_msg3(vd_hs *hs, uint8_t out[VD_HS_MSG3_SIZE], const vd_hs_payload3 *p,
                     const uint8_t *token)
{
    uint8_t pl[VD_HS_PAYLOAD3_SIZE];
    int ret;
    encrypt_and_hash(&hs->sym, hs->s.public_key, VD_KEY_BYTES, out);
    if ((ret = mix_dh(&hs->sym, hs->s.secret_key, hs->re)) < 0) /* se */
        return ret;
    memcpy(hs->h_auth, hs->sym.h, VD_HS_HASHLEN);
    vd_hs_payload3 q = *p;
    q.flags &= ~(uint32_t)VD_HS_F_TOKEN;
    memset(q.token_mac, 0, sizeof(q.token_mac));
    if (token) {
        q.flags |= VD_HS_F_TOKEN;
        token_mac(hs->h_auth, token, q.token_mac);
    }
    vd_hs_payload3_write(pl, &q);
    encrypt_and_hash(&hs->sym, pl, sizeof(pl), out + 32 + VD_HS_TAGLEN);
    sodium_memzero(pl, sizeof(pl));
    sodium_memzero(&q, sizeof(q));
    return 0;
}

int vd_hs_read_msg3(vd_hs *hs, const uint8_t *in, size_t len, vd_hs_payload3 *p)
{
    uint8_t pl[VD_HS_PAYLOAD3_SIZE];
    int ret;
    if (len != VD_HS_MSG3_SIZE)
        return VD_ERR(EBADMSG);
    if ((ret = decrypt_and_hash(&hs->sym, in, 32 + VD_HS_TAGLEN, hs->rs)) < 0)
        return ret;
    if ((ret = mix_dh(&hs->sym, hs->e.secret_key, hs->rs)) < 0) /* se */
        return ret;
    memcpy(hs->h_auth, hs->sym.h, VD_HS_HASHLEN);
    if ((ret = decrypt_and_hash(&hs->sym, in + 32 + VD_HS_TAGLEN,
                                VD_HS_PAYLOAD3_SIZE + VD_HS_TAGLEN, pl)) < 0)
        return ret;
    ret = vd_hs_payload3_parse(pl, sizeof(pl), p);
    sodium_memzero(pl, sizeof(pl));
    return ret;
}

int vd_hs_check_token(const vd_hs *hs, const vd_hs_payload3 *p, const uint8_t *token)
{
    uint8_t mac[32];
    if (!token || !(p->flags & VD_HS_F_TOKEN))
        return 0;
    token_mac(hs->h_auth, token, mac);
    int ok = crypto_verify_32(mac, p->token_mac) == 0;
    sodium_memzero(mac, sizeof(mac));
    return ok;
}

void vd_hs_split(vd_hs *hs, uint8_t c2s[VD_HS_KEYLEN], uint8_t s2c[VD_HS_KEYLEN],
                 uint8_t hash[VD_HS_HASHLEN])
{
    uint8_t k1[VD_HS_HASHLEN], k2[VD_HS_HASHLEN];
    hkdf2(hs->sym.ck, NULL, 0, k1, k2);
    memcpy(c2s, k1, VD_HS_KEYLEN);
    memcpy(s2c, k2, VD_HS_KEYLEN);
    memcpy(hash, hs->sym.h, VD_HS_HASHLEN);
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
}

/* ---- payloads ------------------------------------------------------------------------------- */

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

void vd_hs_payload2_write(uint8_t out[VD_HS_PAYLOAD2_SIZE], const vd_hs_payload2 *p)
{
    memset(out, 0, VD_HS_PAYLOAD2_SIZE);
    vd_wl32(out, p->version);
    vd_wl32(out + 4, p->codecs);
}

int vd_hs_payload2_parse(const uint8_t *in, size_t len, vd_hs_payload2 *p)
{
    if (len != VD_HS_PAYLOAD2_SIZE || !all_zero(in + 8, VD_HS_PAYLOAD2_SIZE - 8))
        return VD_ERR(EBADMSG);
    p->version = vd_rl32(in);
    p->codecs = vd_rl32(in + 4);
    return 0;
}

/* Layout: codecs, max_width, max_height, max_packet_size (u32 each), cache_bytes (u64),
 * flags, reserved (u32), token_mac[32], reserved[32], then the resume block at 96: ticket[16],
 * frame_seq (u64), n_surfaces, reserved (u32), surface_ids[64] (u32; zero past n_surfaces). */
void vd_hs_payload3_write(uint8_t out[VD_HS_PAYLOAD3_SIZE], const vd_hs_payload3 *p)
{
    memset(out, 0, VD_HS_PAYLOAD3_SIZE);
    vd_wl32(out, p->caps.codecs);
    vd_wl32(out + 4, p->caps.max_width);
    vd_wl32(out + 8, p->caps.max_height);
    vd_wl32(out + 12, p->caps.max_packet_size);
    vd_wl64(out + 16, p->caps.cache_bytes);
    vd_wl32(out + 24, p->flags);
    memcpy(out + 32, p->token_mac, 32);
    uint8_t *r = out + 96;
    memcpy(r, p->ticket, VD_TICKET_BYTES);
    vd_wl64(r + 16, p->resume.frame_seq);
    vd_wl32(r + 24, p->resume.n_surfaces);
    /* Bounded by the array even for a bad n_surfaces, which parse then refuses. */
    uint32_t n = VD_MIN(p->resume.n_surfaces, (uint32_t)VD_MAX_SURFACES);
    for (uint32_t i = 0; i < n; i++)
        vd_wl32(r + 32 + 4 * i, p->resume.surface_ids[i]);
}

int vd_hs_payload3_parse(const uint8_t *in, size_t len, vd_hs_payload3 *p)
{
    if (len != VD_HS_PAYLOAD3_SIZE || !all_zero(in + 28, 4) || !all_zero(in + 64, 32))
        return VD_ERR(EBADMSG);
    memset(p, 0, sizeof(*p));
    p->caps.codecs = vd_rl32(in);
    p->caps.max_width = vd_rl32(in + 4);
    p->caps.max_height = vd_rl32(in + 8);
    p->caps.max_packet_size = vd_rl32(in + 12);
    p->caps.cache_bytes = vd_rl64(in + 16);
    p->flags = vd_rl32(in + 24);
    memcpy(p->token_mac, in + 32, 32);
    if (p->flags & ~(uint32_t)(VD_HS_F_TOKEN | VD_HS_F_RESUME))
        return VD_ERR(EBADMSG);
    if (!(p->flags & VD_HS_F_TOKEN) && !all_zero(p->token_mac, 32))
        return VD_ERR(EBADMSG);
    if (p->caps.max_width > VD_MAX_DIMENSION || p->caps.max_height > VD_MAX_DIMENSION)
        return VD_ERR(EBADMSG);
    if (p->caps.max_packet_size < (64u << 10) || p->caps.max_packet_size > (256u << 20))
        return VD_ERR(EBADMSG);
    const uint8_t *r = in + 96;
    if (!(p->flags & VD_HS_F_RESUME))
        return all_zero(r, VD_HS_RESUME_SIZE) ? 0 : VD_ERR(EBADMSG);
    uint32_t n = vd_rl32(r + 24);
    /* One encoding per state: unused ids and the reserved word are zero. */
    if (n > VD_MAX_SURFACES || !all_zero(r + 28, 4) ||
        !all_zero(r + 32 + 4 * (size_t)n, 4 * (VD_MAX_SURFACES - (size_t)n)))
        return VD_ERR(EBADMSG);
    memcpy(p->ticket, r, VD_TICKET_BYTES);
    p->resume.frame_seq = vd_rl64(r + 16);
    p->resume.n_surfaces = n;
    for (uint32_t i = 0; i < n; i++)
        p->resume.surface_ids[i] = vd_rl32(r + 32 + 4 * i);
    return 0;
}
