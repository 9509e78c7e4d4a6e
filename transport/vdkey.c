/* vdkey: makes and shows libvd transport keys and pairing tokens.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   vdkey generate FILE   new key pair in FILE (mode 0600, never overwritten); prints the
 *                         public key, for the peer's known-hosts or authorised-clients file
 *   vdkey show FILE       prints the public key of a key pair file
 *   vdkey token           prints a new one-time pairing token
 *   vdkey check FILE      checks a key-list file; prints how many keys it holds */
#include <stdio.h>
#include <string.h>

#include <vd/session.h>

static int usage(FILE *f)
{
    fputs("usage: vdkey generate FILE | show FILE | token | check FILE\n", f);
    return f == stdout ? 0 : 2;
}

static int print_public(const vd_keypair *kp)
{
    char s[VD_KEY_STRING_SIZE];
    if (vd_key_to_string(kp->public_key, s, sizeof(s)) < 0)
        return 1;
    printf("%s\n", s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return usage(stdout);
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    vd_keypair kp;
    int ret;
    if (!strcmp(cmd, "generate") && argc == 3) {
        if ((ret = vd_keypair_generate(&kp)) < 0 || (ret = vd_keypair_save(&kp, argv[2])) < 0) {
            fprintf(stderr, "vdkey: %s: %s\n", argv[2], strerror(-ret));
            return 1;
        }
        return print_public(&kp);
    }
    if (!strcmp(cmd, "show") && argc == 3) {
        if ((ret = vd_keypair_load(&kp, argv[2])) < 0) {
            fprintf(stderr, "vdkey: %s: %s\n", argv[2],
                    ret == VD_ERR(EPERM) ? "readable by others (chmod 600 it)"
                    : ret == VD_ERR(EBADMSG) ? "not a valid key file"
                                               : strerror(-ret));
            return 1;
        }
        return print_public(&kp);
    }
    if (!strcmp(cmd, "token") && argc == 2) {
        char tok[VD_TOKEN_STRING_SIZE];
        if (vd_pairing_token_generate(tok, sizeof(tok)) < 0)
            return 1;
        printf("%s\n", tok);
        return 0;
    }
    if (!strcmp(cmd, "check") && argc == 3) {
        if ((ret = vd_keys_load(argv[2], NULL, 0)) < 0) {
            fprintf(stderr, "vdkey: %s: %s\n", argv[2],
                    ret == VD_ERR(EBADMSG) ? "malformed line" : strerror(-ret));
            return 1;
        }
        printf("%d key(s)\n", ret);
        return 0;
    }
    return usage(stderr);
}
