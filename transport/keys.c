/* Key pairs, key files, key lists and pairing tokens.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "handshake.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define KEY_B64_LEN 43   /* 32 bytes */
#define TOKEN_B64_LEN 22 /* 16 bytes */

static const char key_prefix[] = "vd-key-1 ";
static const char secret_prefix[] = "vd-secret-key-1 ";
static const char token_prefix[] = "vdpair-";

int vd_session_init(void) { return vd_sodium_init(); }

int vd_keypair_generate(vd_keypair *kp)
{
    int ret = vd_sodium_init();
    if (ret < 0)
        return ret;
    randombytes_buf(kp->secret_key, VD_KEY_BYTES);
    crypto_scalarmult_base(kp->public_key, kp->secret_key);
    return 0;
}

/* Decodes exactly len base64url characters into n bytes. */
static int b64_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    size_t got;
    const char *end;
    if (sodium_base642bin(out, n, s, len, NULL, &got, &end, B64) != 0 || got != n ||
        end != s + len)
        return VD_ERR(EBADMSG);
    return 0;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int b64_len_at(const char *s)
{
    int n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_')
        n++;
    return n;
}

int vd_key_to_string(const uint8_t key[VD_KEY_BYTES], char *str, size_t size)
{
    if (vd_sodium_init() < 0)
        return VD_ERR(EIO);
    if (size < VD_KEY_STRING_SIZE)
        return VD_ERR(ENOSPC);
    memcpy(str, key_prefix, sizeof(key_prefix) - 1);
    sodium_bin2base64(str + sizeof(key_prefix) - 1, KEY_B64_LEN + 1, key, VD_KEY_BYTES, B64);
    return 0;
}

/* Parses "vd-key-1 B64" at s; *end is set past it. */
static int parse_key(const char *s, uint8_t key[VD_KEY_BYTES], const char **end)
{
    s = skip_blanks(s);
    if (strncmp(s, key_prefix, sizeof(key_prefix) - 1))
        return VD_ERR(EBADMSG);
    s += sizeof(key_prefix) - 1;
    if (b64_len_at(s) != KEY_B64_LEN || b64_decode(s, KEY_B64_LEN, key, VD_KEY_BYTES) < 0)
        return VD_ERR(EBADMSG);
    *end = s + KEY_B64_LEN;
    return 0;
}

int vd_key_from_string(uint8_t key[VD_KEY_BYTES], const char *str)
{
    const char *end;
    if (vd_sodium_init() < 0)
        return VD_ERR(EIO);
    if (parse_key(str, key, &end) < 0)
        return VD_ERR(EBADMSG);
    end = skip_blanks(end);
    if (*end == '\n')
        end++;
    return *end ? VD_ERR(EBADMSG) : 0;
}

int vd_keypair_save(const vd_keypair *kp, const char *path)
{
    char line[sizeof(secret_prefix) + 2 * (KEY_B64_LEN + 1) + 2];
    int ret = vd_sodium_init();
    if (ret < 0)
        return ret;
    size_t n = sizeof(secret_prefix) - 1;
    memcpy(line, secret_prefix, n);
    sodium_bin2base64(line + n, KEY_B64_LEN + 1, kp->secret_key, VD_KEY_BYTES, B64);
    n += KEY_B64_LEN;
    line[n++] = ' ';
    sodium_bin2base64(line + n, KEY_B64_LEN + 1, kp->public_key, VD_KEY_BYTES, B64);
    n += KEY_B64_LEN;
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(line, sizeof(line));
        return VD_ERR(errno);
    }
    ret = 0;
    if (write(fd, line, n) != (ssize_t)n)
        ret = VD_ERR(errno ? errno : EIO);
    if (close(fd) < 0 && !ret)
        ret = VD_ERR(errno);
    sodium_memzero(line, sizeof(line));
    if (ret < 0)
        unlink(path);
    return ret;
}

int vd_keypair_load(vd_keypair *kp, const char *path)
{
    char buf[256];
    int ret = vd_sodium_init();
    if (ret < 0)
        return ret;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return VD_ERR(errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ret = VD_ERR(errno);
        close(fd);
        return ret;
    }
    /* As ssh does: a secret others can read is not a secret. */
    if (st.st_mode & 077) {
        close(fd);
        return VD_ERR(EPERM);
    }
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got < 0)
        return VD_ERR(errno);
    buf[got] = 0;
    vd_keypair k;
    const char *s = buf;
    ret = VD_ERR(EBADMSG);
    if (!strncmp(s, secret_prefix, sizeof(secret_prefix) - 1)) {
        s += sizeof(secret_prefix) - 1;
        uint8_t check[VD_KEY_BYTES];
        if (b64_len_at(s) == KEY_B64_LEN &&
            b64_decode(s, KEY_B64_LEN, k.secret_key, VD_KEY_BYTES) == 0 &&
            s[KEY_B64_LEN] == ' ' && b64_len_at(s + KEY_B64_LEN + 1) == KEY_B64_LEN &&
            b64_decode(s + KEY_B64_LEN + 1, KEY_B64_LEN, k.public_key, VD_KEY_BYTES) == 0) {
            crypto_scalarmult_base(check, k.secret_key);
            const char *rest = skip_blanks(s + 2 * KEY_B64_LEN + 1);
            if (sodium_memcmp(check, k.public_key, VD_KEY_BYTES) == 0 &&
                (*rest == 0 || (*rest == '\n' && rest[1] == 0))) {
                *kp = k;
                ret = 0;
            }
        }
    }
    sodium_memzero(&k, sizeof(k));
    sodium_memzero(buf, sizeof(buf));
    return ret;
}

int vd_keys_load(const char *path, uint8_t (*keys)[VD_KEY_BYTES], size_t max)
{
    if (vd_sodium_init() < 0)
        return VD_ERR(EIO);
    FILE *f = fopen(path, "re");
    if (!f)
        return VD_ERR(errno);
    char line[1024];
    size_t count = 0;
    int ret = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            ret = VD_ERR(EBADMSG); /* a line this long is not a key line */
            break;
        }
        const char *s = skip_blanks(line);
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == 0)
            continue;
        uint8_t key[VD_KEY_BYTES];
        const char *end;
        if (parse_key(s, key, &end) < 0 ||
            !(*end == 0 || *end == '\n' || *end == ' ' || *end == '\t' || *end == '\r')) {
            ret = VD_ERR(EBADMSG);
            break;
        }
        if (count < max)
            memcpy(keys[count], key, VD_KEY_BYTES);
        if (count < (size_t)INT32_MAX)
            count++;
    }
    if (!ret && ferror(f))
        ret = VD_ERR(EIO);
    fclose(f);
    return ret < 0 ? ret : (int)count;
}

int vd_pairing_token_generate(char *str, size_t size)
{
    uint8_t token[VD_TOKEN_BYTES];
    if (vd_sodium_init() < 0)
        return VD_ERR(EIO);
    if (size < VD_TOKEN_STRING_SIZE)
        return VD_ERR(ENOSPC);
    randombytes_buf(token, sizeof(token));
    memcpy(str, token_prefix, sizeof(token_prefix) - 1);
    sodium_bin2base64(str + sizeof(token_prefix) - 1, TOKEN_B64_LEN + 1, token, sizeof(token), B64);
    sodium_memzero(token, sizeof(token));
    return 0;
}

int vd_token_parse(const char *str, uint8_t token[VD_TOKEN_BYTES])
{
    str = skip_blanks(str);
    if (strncmp(str, token_prefix, sizeof(token_prefix) - 1))
        return VD_ERR(EBADMSG);
    str += sizeof(token_prefix) - 1;
    if (b64_len_at(str) != TOKEN_B64_LEN || b64_decode(str, TOKEN_B64_LEN, token, VD_TOKEN_BYTES) < 0)
        return VD_ERR(EBADMSG);
    str = skip_blanks(str + TOKEN_B64_LEN);
    return *str == 0 || (*str == '\n' && str[1] == 0) ? 0 : VD_ERR(EBADMSG);
}
