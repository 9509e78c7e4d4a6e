/* A growable byte buffer for building wire output.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_BUF_H
#define VD_BUF_H

#include <stdlib.h>

#include "internal.h"

typedef struct vd_buf {
    uint8_t *data;
    size_t size, capacity;
} vd_buf;

/* Makes room in a malloc'd array for at least one element past count, doubling (from 16)
 * when full.  Returns the array, possibly moved, or NULL when out of memory (the old array
 * and *capacity are then unchanged). */
VD_HIDDEN void *vd_array_grow(void *array, size_t *capacity, size_t count, size_t elem_size);

/* Makes room for n more bytes; returns a pointer to them or NULL on allocation failure. */
VD_HIDDEN uint8_t *vd_buf_reserve(vd_buf *buf, size_t n);
VD_HIDDEN void vd_buf_free(vd_buf *buf);

#endif
