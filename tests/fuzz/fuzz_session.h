/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The session fuzz harness (fuzz_session.c) as seen by its standalone driver. */
#ifndef VD_FUZZ_SESSION_H
#define VD_FUZZ_SESSION_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the last input did, so the driver can check that the seeds reach the parsers. */
typedef struct fuzz_session_stats {
    size_t events, packets, records;
    int failed;
} fuzz_session_stats;
extern fuzz_session_stats fuzz_session_last;

/* The channel keys of the record targets (modes 2 and 3). */
extern const uint8_t fuzz_session_c2s_key[32];
extern const uint8_t fuzz_session_s2c_key[32];

#endif
