/* libvd encoder: framebuffers in, wire bytes out.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The host (a hypervisor's display backend) owns the event loop and calls:
 *
 *     vd_encoder_send_frame(enc, &frame);            one surface's new contents
 *     while ((ret = vd_encoder_receive_packet(enc, &pkt)) == 0)
 *         transmit(pkt.data, pkt.size);              whole wire messages, in order
 *     ret is VD_ERR(EAGAIN): send the next frame
 *
 * The rules are FFmpeg's: VD_ERR(EAGAIN) from send_frame means "receive packets first",
 * VD_ERR(EAGAIN) from receive_packet means "send more input"; the two never both return
 * EAGAIN.  send_frame(enc, NULL) drains: afterwards receive_packet returns what is left and
 * then VD_EOF, and no further frame is accepted.
 *
 * Damage contract.  frame.damage lists the rectangles the host knows to have changed since
 * the previous frame of that surface; libvd compares only the 64x64 tiles those rectangles
 * touch against its copy of the previous frame and sends the tiles that really differ.
 * Rectangles are clipped to the surface.  A host that under-reports (changes pixels outside
 * its rectangles) leaves those pixels stale on the client until a later rectangle covers
 * them or vd_encoder_request_refresh() is called; nothing else breaks.  A host that does not
 * know its damage passes damage = NULL and libvd scans the whole surface, which costs about a
 * memcpy of the frame.  damage != NULL with n_damage = 0 means "nothing changed". */
#ifndef VD_ENCODER_H
#define VD_ENCODER_H

#include <vd/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vd_encoder vd_encoder;

/* Classifier tuning; vd_encoder_config_default() fills in the defaults documented with each
 * field (lib/classify_params.h holds them).  Times in milliseconds, rates in changes per
 * second, fractions in 1/256. */
typedef struct vd_classifier_config {
    /* A tile becomes video or 3D when it changed at least this often (per second, over the
     * last half second), and stays so until its rate falls below exit_rate (hysteresis).
     * Changes that go as copies (scrolls, moves) make no tile video or 3D.  Default 8 and 3. */
    uint32_t enter_rate, exit_rate;
    /* ... its changes must cover at least this fraction of its pixels (median of recent
     * changes).  Default 96 (37.5 %). */
    uint32_t min_changed_fraction;
    /* ... and look natural: at least this many distinct colours (of at most 64 counted)
     * and this fraction of smooth gradients among neighbouring pixels.  Default 24, 64. */
    uint32_t min_colours, min_smooth_fraction;
    /* Video against 3D, per region: the mean over its tiles of (share of changed pixels whose
     * change is noise-sized + share of smooth neighbour pairs) / 2.  Decoded video jitters
     * everywhere and is smooth everywhere; rendered frames change exactly and have flat
     * areas and hard edges.  At or above this it is video (unless rendered_regular says
     * otherwise).  Default 170. */
    uint32_t video_score;
    /* A region ends after this long without damage.  Default 1000 ms. */
    uint32_t region_idle_ms;
    /* Fast start: a natural-looking tile also becomes video or 3D on its second change in a
     * row (the two at most 100 ms apart) when both covered at least this fraction of its
     * pixels, and on its first change when that covered this fraction and repainted natural
     * content in place by the next picture of itself (most changed pixels moved by noise
     * only: a video or 3D view already playing, not the next photo of a slideshow), instead
     * of waiting for enter_rate.  0 turns it off.  Default 192 (75 %). */
    uint32_t fast_start_changed;
    /* Rendered against video (after video_score): a region whose tiles' smooth runs of
     * three neighbours across have, on average, at least this fraction with every channel's
     * second difference within 1 (the exact gradients of smooth shading, which video's grain
     * and coding noise break) is 3D: slowly turning shading changes by noise-sized steps and
     * is smooth, like video.  The average is over tiles with enough such runs (32 of those
     * sampled); without any the rule does not apply.  0 turns it off.  Default 176 (69 %). */
    uint32_t rendered_regular;
    /* Flat-shaded 3D (untextured models, gears, CAD views), which has neither the colours
     * nor the gradients of natural content: a tile of a few flat colours that changed at
     * least flat_changes times over the last flat_window_ms, and does not scroll, becomes
     * 3D.  flat_changes at most 32, 0 turns this off; flat_window_ms 1 to 60000 (any when
     * off).  Default 8 in 500 ms (16 fps). */
    uint32_t flat_changes, flat_window_ms;
    uint8_t reserved[16];
} vd_classifier_config;

/* Video codecs a client decodes (the transport's handshake tells the host). */
enum {
    VD_CODEC_H264 = 1u << 0,
    VD_CODEC_AV1 = 1u << 1,
};

/* Which GPU, if any, detects damage (Vulkan compute).  Its results are the CPU path's bit for
 * bit, so the choice changes speed only; a device that is missing, or fails at any time (even
 * lost mid-session), leaves the encoder on the CPU path with one log line. */
enum vd_gpu_choice {
    VD_GPU_AUTO = 0,  /* the best GPU: discrete, then integrated, then virtual; never a CPU
                       * implementation such as lavapipe, which is slower than the CPU path */
    VD_GPU_OFF = 1,
    VD_GPU_INDEX = 2, /* device gpu_index in the Vulkan loader's order, CPU ones included */
    VD_GPU_NAME = 3,  /* the best device whose name contains gpu_name */
};

typedef struct vd_encoder_config {
    /* Packets are cut at message boundaries once they reach this size (bytes), so a packet
     * can exceed it by one message: a run of up to 32 tiles, at most 524 404 bytes (see
     * docs/protocol.md, section 4.1; the first packet of a frame also holds its COPY messages).
     * Default 256 KiB, at least 4 KiB. */
    size_t max_packet_size;
    /* Surfaces (monitors) that may exist at once; default and maximum 64. */
    uint32_t max_surfaces;
    /* Mask of CPU features the kernels may use; ~0u (the default) = whatever the CPU has,
     * 0 = portable C only.  For tests and benchmarks. */
    uint32_t cpu_flags;
    vd_classifier_config classifier;
    /* Codecs the client decodes (VD_CODEC_*); video and 3D regions go out as video streams in
     * the first of them (H.264 first).  0 sends everything losslessly.  Default VD_CODEC_H264. */
    uint32_t video_codecs;
    /* Bits per second of a 1280 x 720 video stream.  A stream gets this times (its region's
     * area / 1280 x 720)^0.75, and at least 1/16 of it: 640 x 360 gets 35 %, 1920 x 1080
     * 184 %.  The region's area is that of its rectangle now (the coded picture may be larger:
     * it keeps room for the region to grow into); the rate follows when it changes by more
     * than an eighth.  Default 4000000. */
    uint32_t video_bitrate;
    /* Where streams are encoded.  Default VD_BACKEND_AUTO; the VD_VIDEO_BACKEND environment
     * variable ("vaapi", "nvenc", "software"; "nvdec" = software here) overrides it
     * (VD_BACKEND_NVDEC, a decoder, is refused). */
    enum vd_video_backend_choice video_backend;
    /* Bytes of the client's tile cache the encoder uses (whole 16 KiB slots, at most 65535;
     * the client must grant at least as much: vd_decoder_config.cache_size, or
     * vd_session_caps.cache_bytes through a session).  Default 64 MiB; 0 = no cache. */
    uint64_t cache_size;
    /* Flow control (vd_encoder_send_feedback()): a frame is held back while the transport
     * holds more than this many bytes not yet on the wire.  Default (0): a quarter second of
     * the link's rate where it is known (link_bitrate, or feedback's), else 1 MiB. */
    uint64_t max_queued_bytes;
    /* GPU offload; default VD_GPU_AUTO.  gpu_index is for VD_GPU_INDEX, gpu_name (read during
     * vd_encoder_new() only) for VD_GPU_NAME.  The VD_GPU environment variable overrides all
     * three: "off", "auto", an index, or a name substring. */
    enum vd_gpu_choice gpu;
    int32_t gpu_index;
    const char *gpu_name;
    /* Bits per second the link to the client carries, where the host knows it (a configured
     * budget or its own estimate; vd_encoder_send_feedback() can change it); 0 (the default):
     * unknown.  The encoder then keeps the video streams' targets together near three
     * quarters of it, the rest being for lossless tiles; while those keep coming at more than
     * 15 % of it (a log scrolling by), 90 % of it less their rate, but never under a quarter
     * of it.  Their rate is the least of each surface's last three half seconds of frame time
     * (the pts_us while they increase, else the time between the calls), not counting the
     * frames that send a whole surface.  When the regions' rates (video_bitrate) add up to
     * more, every stream's is scaled down by the same factor, and back up as regions end or
     * the lossless tiles ease.  The factor is taken when it moves by more than an eighth, so
     * the targets may sum to up to 8/7 of that part; a stream also waits as for
     * vd_encoder_send_feedback()'s changes (SVT-AV1's never changes). */
    uint32_t link_bitrate;
    uint8_t reserved[28];
} vd_encoder_config;

/* Fills cfg with the defaults. */
VD_API void vd_encoder_config_default(vd_encoder_config *cfg);

/* Creates an encoder; cfg NULL means defaults.  Returns 0, VD_ERR(EINVAL) for a bad
 * config, VD_ERR(ENOMEM), or VD_ERR(ENOTSUP) in a build without the encoder. */
VD_API VD_NODISCARD int vd_encoder_new(const vd_encoder_config *cfg, vd_encoder **out);

/* Frees the encoder and sets *enc to NULL; NULL and *enc == NULL are fine. */
VD_API void vd_encoder_free(vd_encoder **enc);

/* A host hint: what a rectangle shows.  Hints override detection for the tiles they cover. */
typedef struct vd_hint {
    vd_rect rect;         /* clipped to the surface */
    enum vd_content content;
} vd_hint;

/* How a QEMU or virtio-gpu style backend fills hints:
 *  - A scanout backed by a virgl or venus 3D context (virtio-gpu SET_SCANOUT of a resource
 *    created by a 3D context, QEMU's dpy_gl_scanout_*): surface_content = VD_CONTENT_3D.
 *  - A video overlay plane, or a window the guest agent reports as a player: a VD_CONTENT_VIDEO
 *    hint with its rectangle, every frame while it plays.
 *  - Areas known to be text (a console, a locked screen, subtitles or a chat overlay drawn
 *    over a video): VD_CONTENT_TEXT hints.  Their tiles go exactly, also inside a video or
 *    3D region's rectangle.
 *  - The cursor: with a separate cursor plane (virtio-gpu UPDATE_CURSOR / MOVE_CURSOR, QEMU's
 *    dpy_cursor_define / dpy_mouse_set) the host leaves it out of the frame.  A host that
 *    draws the cursor into the frame sets frame.cursor to where it drew it, so that cursor
 *    motion over video or 3D does not count as content change. */
#define VD_MAX_HINTS 256

/* Pixels in a dma-buf (Linux): a frame already in GPU memory, such as a scanout buffer or a
 * virtio-gpu resource, passed by reference (vd_frame.dmabuf).
 *  - The fd stays the host's: libvd never closes it.  It may dup() it to keep a GPU import
 *    of the buffer (below); such a duplicate pins the buffer until the surface goes, or until
 *    the buffer has not been seen for 120 frames of that surface that the GPU scanned.
 *  - libvd reads the buffer during vd_encoder_send_frame() only, like vd_frame.data: the host
 *    must have finished writing it (waited for its rendering's fence) before the call and may
 *    reuse it as soon as the call returns.
 *  - Layout: the frame's format, width, height and stride, starting offset bytes into the
 *    buffer; offset + stride * (height - 1) + width * bytes per pixel must not exceed the
 *    buffer's size (fstat()).  Only modifier DRM_FORMAT_MOD_LINEAR (0) is accepted; any
 *    other (tiled or compressed layouts, and DRM_FORMAT_MOD_INVALID, whose layout is
 *    unknown) is refused with VD_ERR(ENOTSUP): libvd does not import images with
 *    VK_EXT_image_drm_format_modifier.
 *  - The CPU path maps the buffer read-only for the call (bracketed by DMA_BUF_IOCTL_SYNC);
 *    with a GPU (enum vd_gpu_choice) that has VK_EXT_external_memory_dma_buf, damage
 *    detection imports it and reads it on the device instead of uploading the frame.  A
 *    failed import falls back to the upload (logged once).  The packets are the same on
 *    every path. */
typedef struct vd_dmabuf {
    int32_t fd;
    uint32_t offset;
    uint64_t modifier;
    uint8_t reserved[16];
} vd_dmabuf;

typedef struct vd_frame {
    uint32_t surface_id;          /* any value but VD_ALL_SURFACES; a new id creates a surface */
    enum vd_pixel_format format;
    int32_t width, height;        /* 1 .. VD_MAX_DIMENSION; a change resizes the surface */
    int32_t stride;               /* bytes between rows, >= width * bytes per pixel */
    const uint8_t *data;          /* read during send_frame only; libvd keeps its own copy.
                                   * NULL when dmabuf holds the pixels; a host with both
                                   * (its own mapping) may pass both, with the same pixels */
    const vd_rect *damage;        /* see the damage contract above; NULL = unknown */
    size_t n_damage;              /* at most 65536 */
    /* The host's capture time, carried to the decoder.  The classifier measures update rates
     * with it while it increases from frame to frame, and with its own clock otherwise. */
    int64_t pts_us;
    const vd_hint *hints;         /* at most VD_MAX_HINTS; later hints win where they overlap */
    size_t n_hints;
    enum vd_content surface_content; /* hint for the whole surface; VD_CONTENT_NONE = detect */
    vd_rect cursor;               /* a cursor drawn into this frame, or all zero */
    const vd_dmabuf *dmabuf;      /* NULL: none; read during send_frame only */
    uint8_t reserved[32 - sizeof(void *)]; /* the size stays that of reserved[32] */
} vd_frame;

/* Encodes one frame of one surface.  Returns 0; VD_ERR(EAGAIN) while packets are waiting to
 * be received; VD_ERR(EINVAL) for a bad format, size, stride, NULL data without a dma-buf,
 * a dma-buf too small for the frame, too many damage rectangles or hints, or an unknown
 * content value; VD_ERR(EBADF) for a dma-buf fd that is not open; VD_ERR(ENOTSUP) for a
 * modifier other than linear; mmap()'s error for a dma-buf that cannot be mapped (all of
 * these leave the encoder unchanged and working); VD_ERR(ENOSPC) when a new surface
 * would exceed max_surfaces; VD_EOF after draining.  frame NULL drains. */
VD_API VD_NODISCARD int vd_encoder_send_frame(vd_encoder *enc, const vd_frame *frame);

#define VD_MAX_BUFFERS 8

/* Registers [data, data + size) as ordinary host memory (not a mapping of device memory or
 * of a dma-buf) that frames' data will point into, and whose pages stay the same, at that
 * address, until vd_encoder_unregister_buffer() or vd_encoder_free(): a hypervisor's guest
 * framebuffer, a compositor's shared memory.  With GPU offload the device reads frames that
 * lie wholly inside it in place, its pages pinned once, instead of copying each frame to the
 * device through a staging buffer or pinning it per frame (either costs about a millisecond
 * of CPU time for a 1080p frame).  Because they are pinned, the pages behind the range must
 * not change while it is registered: no munmap() and mmap() again at the same address, no
 * MADV_DONTNEED or hole punching (balloon or free-page reporting on guest memory must
 * unregister first), or the device reads the old pages.  Writes to the memory are fine, but
 * not during vd_encoder_send_frame().  Without GPU offload, or where the device cannot import
 * it (a read-only mapping may not pin; an import that fails is logged once), frames inside it
 * are read as others are, and this still returns 0.  Returns VD_ERR(EINVAL) for a NULL
 * encoder or data, size 0, a range that wraps or overlaps a registered one, VD_ERR(ENOSPC)
 * beyond VD_MAX_BUFFERS. */
VD_API int vd_encoder_register_buffer(vd_encoder *enc, const void *data, size_t size);

/* Forgets the buffer registered at data; call it before unmapping or freeing that memory.
 * Returns 0, or VD_ERR(ENOENT) when no buffer was registered at data. */
VD_API int vd_encoder_unregister_buffer(vd_encoder *enc, const void *data);

enum {
    VD_PACKET_FRAME_END = 1u << 0, /* the last packet of a frame */
};

typedef struct vd_packet {
    const uint8_t *data; /* valid until the next call on this encoder */
    size_t size;
    uint32_t flags;      /* VD_PACKET_* */
    uint32_t surface_id;
    uint64_t frame_seq;  /* per-encoder frame counter, starting at 1 */
    int64_t pts_us;
    uint8_t reserved[32];
} vd_packet;

/* Takes the next packet.  Returns 0, VD_ERR(EAGAIN) when there is none (send a frame), or
 * VD_EOF once a drained encoder is empty. */
VD_API VD_NODISCARD int vd_encoder_receive_packet(vd_encoder *enc, vd_packet *pkt);

/* Removes a surface; the client is told in the next packets.  Returns 0,
 * VD_ERR(ENOENT) for an unknown id, or VD_ERR(EAGAIN) while packets are waiting. */
VD_API int vd_encoder_destroy_surface(vd_encoder *enc, uint32_t surface_id);

/* Every surface, for vd_encoder_request_refresh(). */
#define VD_ALL_SURFACES UINT32_MAX

/* Makes the next frame of a surface (or of all) send every tile, for example after the
 * client lost data or under-reported damage; the stream header (HELLO) is sent again too, in
 * case the client lost the first packet.  Returns 0 or VD_ERR(ENOENT). */
VD_API int vd_encoder_request_refresh(vd_encoder *enc, uint32_t surface_id);

/* The client's connection dropped and it came back with where its decoder stands (a
 * session's resume: vd_session_connected.resume, filled by vd_decoder_get_resume_state()).
 * Drops the packets not yet received (they were for the old connection) and queues, for the
 * new one, only what the client misses: the tiles that changed on it after its last frame,
 * from the encoder's copy of the latest content (receive them now; no new frame is needed),
 * re-creations of surfaces it lacks or that changed geometry, destroys of surfaces it still
 * shows, and a codec reset that keeps its tile cache (less the slots filled after its last
 * frame) and ends its video streams (they restart with a key frame).  A state the encoder
 * cannot build on (frame_seq 0, or a frame it never sent) resends every surface in full.
 * vd_encoder_get_stats() then describes the last surface's frame.  Returns 0,
 * VD_ERR(EINVAL) for more than VD_MAX_SURFACES surfaces, VD_ERR(ENOMEM) (nothing is queued
 * and the next frames resend their surfaces in full; calling again is fine), or VD_EOF after
 * draining. */
VD_API VD_NODISCARD int vd_encoder_resume(vd_encoder *enc, const vd_resume_state *state);

/* What the last send_frame did; times are CPU-side wall-clock nanoseconds. */
typedef struct vd_encoder_stats {
    uint32_t tiles_total;   /* tiles in the surface */
    uint32_t tiles_scanned; /* tiles compared against the previous frame */
    uint32_t tiles_damaged; /* tiles sent */
    uint64_t damaged_pixels;
    uint64_t bytes;         /* wire bytes produced for the frame */
    uint64_t scan_ns;       /* damage detection */
    uint64_t encode_ns;     /* everything after the scan: reference update and tile coding */
    uint64_t coding_ns;     /* the tile coding part of encode_ns (packing, LZ4, messages) */
    uint64_t classify_ns;   /* tile statistics, classification and region tracking */
    uint32_t tiles_video;   /* damaged tiles classified video */
    uint32_t tiles_3d;      /* damaged tiles classified 3D (the rest are text/UI) */
    uint32_t tiles_streamed; /* damaged tiles sent in video streams (lossy); one that a
                              * region's edge cuts counts in tiles_damaged too, for the rows
                              * beside the region that went exactly */
    uint32_t tiles_refreshed; /* tiles sent losslessly again over lossy ones (build-to-lossless) */
    uint32_t tiles_lossy;   /* tiles the client now shows lossy, all surfaces */
    uint64_t video_bytes;   /* of bytes: the video streams' frames, a preview's included (a
                             * whole surface's costly tiles sent lossy first as one picture,
                             * docs/protocol.md section 10.1; it counts in tiles_streamed,
                             * video_keys and video_pictures too, not in video_target or
                             * video_budget) */
    uint64_t video_ns;      /* of encode_ns: colour conversion and video coding */
    uint32_t tiles_cached;  /* of tiles_damaged: sent as references to the client's cache */
    uint32_t tiles_copied;  /* damaged tiles the client got by copying pixels it had (scrolls, moves) */
    uint32_t held_back;     /* 1: the link was behind, nothing was sent; a later frame carries
                             * this frame's changes (vd_encoder_send_feedback()) */
    uint32_t frames_unacked; /* frames sent and not acknowledged, after this one */
    uint32_t window;        /* frames that may be unacknowledged before frames are held back */
    uint32_t video_bitrate; /* a 1280 x 720 stream's target now: video_bitrate, lowered while
                             * frames are held back (vd_encoder_send_feedback()), before the
                             * link's share (link_bitrate) */
    uint32_t tiles_delta;   /* of tiles_damaged: sent as differences to the pixels the client had */
    uint32_t video_target;  /* the targets of all video streams now, bits per second */
    uint32_t video_keys;    /* of the streams' pictures, key frames */
    uint32_t video_budget;  /* bytes the streams' targets allowed this frame's pictures: each
                             * picture's target times the time since its stream's picture
                             * before, at most four frame intervals, so a stream with nothing
                             * to code (a paused video) is allowed nothing */
    uint32_t video_pictures;    /* pictures given to the streams' encoders */
    uint32_t video_pictures_hw; /* of those, to hardware ones (VAAPI, NVENC) */
    uint32_t pixels_patched; /* lossy pixels inside the streams' blocks sent exactly again
                              * within their frames: they stood still while the picture
                              * around them moved (a subtitle over a playing video) */
    uint8_t reserved[12];
} vd_encoder_stats;

/* What the host learns from its transport and the client, for flow control. */
enum {
    VD_FEEDBACK_ACK = 1u << 0,    /* acked_frame_seq is set */
    VD_FEEDBACK_RTT = 1u << 1,    /* rtt_us is set */
    VD_FEEDBACK_QUEUED = 1u << 2, /* queued_bytes is set */
    VD_FEEDBACK_LINK = 1u << 3,   /* link_bitrate is set */
};

typedef struct vd_encoder_feedback {
    uint32_t flags;           /* VD_FEEDBACK_*: which fields are news */
    uint32_t rtt_us;          /* a round-trip time sample (a session's VD_SESSION_EVENT_RTT) */
    uint64_t acked_frame_seq; /* the newest frame the client has shown (its ACK) */
    uint64_t queued_bytes;    /* bytes the transport holds, not yet written to the network
                               * (vd_session_queued_bytes()) */
    uint32_t link_bitrate;    /* the link's rate now: as vd_encoder_config.link_bitrate */
    uint8_t reserved[28];
} vd_encoder_feedback;

/* Flow control.  A host that passes feedback here (every ACK and RTT event, and the transport's
 * queue before each frame) can call vd_encoder_send_frame() at its own pace whatever the link
 * does: while the link or the client is behind, frames are held back (nothing is sent,
 * vd_encoder_stats.held_back is 1) and their changes go out with the first frame after it
 * caught up, so the client gets the latest content rather than a queue of stale frames.
 * Behind means: the transport holds more than max_queued_bytes, or, once ACKs arrive, more
 * frames are unacknowledged than a round trip's worth (the smallest delay seen from sending a
 * frame to its ACK, or an RTT sample, over the frame interval) plus two.  A frame that creates
 * or resizes a surface is never held back.  Without feedback nothing is ever held back.
 * Video streams follow: every 15 frames their bit rate drops by a quarter (down to an eighth
 * of vd_encoder_config.video_bitrate) if a frame was held back, and rises by a quarter after
 * 30 frames without (H.264 in software changes it on the fly; libaom, VAAPI and NVENC are
 * opened again at the new rate, a key frame, for a move of 12 % or more and at most once per
 * 2 s of pictures; SVT-AV1 keeps its first rate).  This is on top of the link's share
 * (vd_encoder_config.link_bitrate), which a link rate given here replaces from the next frame
 * on (0: not known any more).
 * Returns 0, or VD_ERR(EINVAL) for unknown flags or an ACK of a frame not sent. */
VD_API int vd_encoder_send_feedback(vd_encoder *enc, const vd_encoder_feedback *fb);

/* Copies the statistics of the most recent frame into *stats. */
VD_API void vd_encoder_get_stats(const vd_encoder *enc, vd_encoder_stats *stats);

/* A video or 3D region: connected tiles of that content, as a rectangle aligned to 16 pixels
 * (clipped to the surface) around what actually changes.  Its id stays the same while the
 * region lives, grows, shrinks or moves; it ends after region_idle_ms without damage. */
typedef struct vd_region {
    uint32_t id;            /* unique per encoder, never 0 */
    enum vd_content content;
    vd_rect rect;
    int64_t start_us;       /* frame time at which it was first seen */
    uint8_t reserved[16];
} vd_region;

/* Writes up to max regions of a surface as of its last frame into regions and returns how
 * many there are (which may exceed max), or VD_ERR(ENOENT) for an unknown surface. */
VD_API int vd_encoder_get_regions(const vd_encoder *enc, uint32_t surface_id, vd_region *regions,
                                  size_t max);

/* Build-to-lossless.  Tiles sent in a video stream are lossy on the client until they stop
 * changing: then, within VD_LOSSLESS_AFTER_MS and nearest the cursor first, they are sent
 * again losslessly (only tiles that were sent lossy).  A tile that a stream showed again
 * within a second of such a refresh (a still patch of a playing scene that comes and goes)
 * waits longer while a stream over it still shows pictures: 250 ms, less the frame interval,
 * so that it is exact within 300 ms of its last change; once none does, the usual wait.  This happens during send_frame, so a
 * host whose screen went still should keep sending frames (damage = an empty list is cheap)
 * every few tens of milliseconds while vd_encoder_stats.tiles_lossy is not 0. */
#define VD_LOSSLESS_AFTER_MS 100

/* Writes, for every tile of a surface, 1 where the client shows lossy pixels and 0 where it
 * shows them bit-exact; returns the tile count, VD_ERR(ENOENT) or VD_ERR(ENOSPC). */
VD_API int vd_encoder_get_lossy_tiles(const vd_encoder *enc, uint32_t surface_id, uint8_t *map,
                                      size_t size);

/* The client lost a video stream's state (its decoder reported an error): the next frame of
 * that stream is a key frame.  stream_id is the region id.  Returns 0 or VD_ERR(ENOENT). */
VD_API int vd_encoder_request_keyframe(vd_encoder *enc, uint32_t stream_id);

/* Writes the content class of every tile of a surface as of its last frame, raster order, one
 * byte per tile (enum vd_content; VD_CONTENT_NONE for tiles that were not damaged), and
 * returns the tile count, or VD_ERR(ENOENT), or VD_ERR(ENOSPC) when size is too small.  A
 * damaged tile is video or 3D when that region's stream carries its change: all of it (the
 * region's rectangle holds everything that changed in the tile), or most of its changed pixels
 * when the rectangle's top or bottom edge cuts the tile and the rest, rows above or below the
 * region, goes exactly; else text. */
VD_API int vd_encoder_get_tile_classes(const vd_encoder *enc, uint32_t surface_id,
                                       uint8_t *classes, size_t size);

#ifdef __cplusplus
}
#endif

#endif
