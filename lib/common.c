/* Version, errors and logging.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include <vd/common.h>

#include "log.h"

unsigned vd_version(void) { return VD_VERSION; }

const char *vd_version_string(void) { return VD_VERSION_STRING; }

/* Every errno the library returns, once: the list generates vd_strerror's table. */
#define VD_ERRNO_LIST(X)                                                  \
    X(EINVAL, "Invalid argument")                                         \
    X(ENOMEM, "Out of memory")                                            \
    X(EAGAIN, "Resource temporarily unavailable: receive or send first")  \
    X(EBADMSG, "Malformed or corrupt data")                               \
    X(ENOTSUP, "Not supported")                                           \
    X(ENOENT, "No such surface or file")                                  \
    X(ENOSPC, "Limit reached")                                            \
    X(EIO, "Input/output error")                                          \
    X(ERANGE, "Value out of range")                                       \
    X(ENOSYS, "Not implemented in this build")                           \
    X(EPERM, "The server's key is not the one pinned")                    \
    X(EACCES, "Client not authorised")                                    \
    X(EPROTO, "Protocol violation by the peer")                           \
    X(ECONNRESET, "Connection closed without a goodbye")                  \
    X(ENOBUFS, "Send queue full")                                         \
    X(EMSGSIZE, "Message too large")                                      \
    X(EEXIST, "File exists")                                              \
    X(ETIMEDOUT, "Timed out")                                             \
    X(ECONNREFUSED, "Connection refused")                                 \
    X(EPIPE, "Connection broken")

const char *vd_strerror(int err)
{
    if (err == VD_EOF)
        return "End of stream";
    if (err == 0)
        return "Success";
    switch (-err) {
#define VD_ERRNO_CASE(code, text) \
    case code:                    \
        return text;
        VD_ERRNO_LIST(VD_ERRNO_CASE)
#undef VD_ERRNO_CASE
    default:
        return "Unknown error";
    }
}

int vd_format_bytes_per_pixel(enum vd_pixel_format format)
{
    switch (format) {
    case VD_FORMAT_BGRX8888:
    case VD_FORMAT_BGRA8888:
    case VD_FORMAT_RGBX8888:
    case VD_FORMAT_RGBA8888:
        return 4;
    case VD_FORMAT_RGB565:
        return 2;
    }
    return 0;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static vd_log_fn log_fn;
static void *log_opaque;
static atomic_int log_level = VD_LOG_WARNING;

void vd_log_set_callback(vd_log_fn fn, void *opaque)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_opaque = opaque;
    pthread_mutex_unlock(&log_lock);
}

void vd_log_set_level(enum vd_log_level level) { atomic_store(&log_level, (int)level); }

void vd_log(enum vd_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    if (log_fn) {
        log_fn(log_opaque, level, msg);
    } else {
        static const char *const names[] = {"error", "warning", "info", "debug"};
        fprintf(stderr, "libvd %s: %s\n", names[level & 3], msg);
    }
    pthread_mutex_unlock(&log_lock);
}
