/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "buf.h"

void *vd_array_grow(void *array, size_t *capacity, size_t count, size_t elem_size)
{
    if (count < *capacity)
        return array;
    size_t cap = *capacity ? *capacity * 2 : 16;
    if (cap > SIZE_MAX / elem_size)
        return NULL;
    void *p = realloc(array, cap * elem_size);
    if (p)
        *capacity = cap;
    return p;
}

uint8_t *vd_buf_reserve(vd_buf *buf, size_t n)
{
    if (n > SIZE_MAX / 2 - buf->size)
        return NULL;
    if (buf->size + n > buf->capacity) {
        size_t cap = buf->capacity ? buf->capacity : 4096;
        while (cap < buf->size + n)
            cap *= 2;
        uint8_t *data = realloc(buf->data, cap);
        if (!data)
            return NULL;
        buf->data = data;
        buf->capacity = cap;
    }
    return buf->data + buf->size;
}

void vd_buf_free(vd_buf *buf)
{
    free(buf->data);
    *buf = (vd_buf){0};
}
