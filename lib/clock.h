/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_CLOCK_H
#define VD_CLOCK_H

#include <time.h>

#include "internal.h"

static inline uint64_t vd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
