/* dma-buf frames on the CPU path (vd_frame.dmabuf, include/vd/encoder.h): the descriptor's
 * checks and a read-only mapping for the duration of one vd_encoder_send_frame().
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_DMABUF_H
#define VD_DMABUF_H

#include <vd/encoder.h>

#include "internal.h"

typedef struct vd_dmabuf_mapping {
    void *addr; /* NULL: nothing mapped */
    size_t len;
    int fd;
    int synced; /* a DMA_BUF_IOCTL_SYNC start is to be ended */
} vd_dmabuf_mapping;

/* Bytes of the buffer the frame's rows span from its offset: stride * (height - 1) + a row. */
VD_HIDDEN uint64_t vd_dmabuf_span(const vd_frame *f);

/* Checks f->dmabuf (not NULL) against f's geometry, which is valid otherwise.  Returns 0,
 * VD_ERR(EBADF), VD_ERR(ENOTSUP) or VD_ERR(EINVAL) as vd_encoder_send_frame() documents;
 * logs why. */
VD_HIDDEN int vd_dmabuf_check(const vd_frame *f);

/* Maps a checked f->dmabuf read-only and starts a read access; *data gets its first row.
 * Returns 0 or mmap()'s error (logged). */
VD_HIDDEN int vd_dmabuf_map(const vd_frame *f, vd_dmabuf_mapping *m, const uint8_t **data);

/* Ends the access and unmaps; a zeroed map is fine. */
VD_HIDDEN void vd_dmabuf_unmap(vd_dmabuf_mapping *m);

#endif
