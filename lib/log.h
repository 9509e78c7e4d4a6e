/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_LOG_H
#define VD_LOG_H

#include <vd/common.h>

#include "internal.h"

VD_HIDDEN void vd_log(enum vd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
