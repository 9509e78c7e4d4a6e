/* dma-buf frames on the CPU path (lib/dmabuf.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/dma-buf.h>
#endif

#include "dmabuf.h"
#include "log.h"

uint64_t vd_dmabuf_span(const vd_frame *f)
{
    return (uint64_t)f->stride * (uint64_t)(f->height - 1) +
           (uint64_t)f->width * (uint64_t)vd_format_bytes_per_pixel(f->format);
}

int vd_dmabuf_check(const vd_frame *f)
{
    const vd_dmabuf *d = f->dmabuf;
    struct stat st;
    if (d->fd < 0 || fstat(d->fd, &st) < 0) {
        vd_log(VD_LOG_WARNING, "refused frame for surface %u: dma-buf fd %d is not open",
               f->surface_id, (int)d->fd);
        return VD_ERR(EBADF);
    }
    if (d->modifier != 0) {
        vd_log(VD_LOG_WARNING, "refused frame for surface %u: dma-buf modifier 0x%llx is not "
               "DRM_FORMAT_MOD_LINEAR", f->surface_id, (unsigned long long)d->modifier);
        return VD_ERR(ENOTSUP);
    }
    uint64_t end = (uint64_t)d->offset + vd_dmabuf_span(f);
    if (st.st_size < 0 || end > (uint64_t)st.st_size) {
        vd_log(VD_LOG_WARNING, "refused frame for surface %u: dma-buf fd %d holds %lld bytes, "
               "the frame needs %llu from offset %u", f->surface_id, (int)d->fd,
               (long long)st.st_size, (unsigned long long)end, (unsigned)d->offset);
        return VD_ERR(EINVAL);
    }
    return 0;
}

/* DMA_BUF_IOCTL_SYNC; 0 when the fd is no dma-buf (a memfd), which needs none. */
static int buffer_sync(int fd, uint64_t flags)
{
#ifdef DMA_BUF_IOCTL_SYNC
    struct dma_buf_sync s = {.flags = flags};
    int ret;
    do
        ret = ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
    while (ret < 0 && (errno == EINTR || errno == EAGAIN));
    if (ret == 0)
        return 1;
    if (errno != ENOTTY)
        vd_log(VD_LOG_DEBUG, "DMA_BUF_IOCTL_SYNC on fd %d: errno %d", fd, errno);
#else
    (void)fd, (void)flags;
#endif
    return 0;
}

int vd_dmabuf_map(const vd_frame *f, vd_dmabuf_mapping *m, const uint8_t **data)
{
    const vd_dmabuf *d = f->dmabuf;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t skip = d->offset % page;
    *m = (vd_dmabuf_mapping){.fd = d->fd, .len = skip + (size_t)vd_dmabuf_span(f)};
    void *p = mmap(NULL, m->len, PROT_READ, MAP_SHARED, d->fd, (off_t)(d->offset - skip));
    if (p == MAP_FAILED) {
        int err = errno;
        vd_log(VD_LOG_WARNING, "refused frame for surface %u: mapping dma-buf fd %d failed "
               "(errno %d)", f->surface_id, (int)d->fd, err);
        *m = (vd_dmabuf_mapping){0};
        return VD_ERR(err);
    }
    m->addr = p;
#ifdef DMA_BUF_SYNC_START
    m->synced = buffer_sync(d->fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
#endif
    *data = (const uint8_t *)p + skip;
    return 0;
}

void vd_dmabuf_unmap(vd_dmabuf_mapping *m)
{
    if (!m->addr)
        return;
#ifdef DMA_BUF_SYNC_END
    if (m->synced)
        buffer_sync(m->fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
#endif
    munmap(m->addr, m->len);
    *m = (vd_dmabuf_mapping){0};
}
