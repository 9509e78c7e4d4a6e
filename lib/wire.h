/* Wire format version 1 (docs/protocol.md): message framing, writers and checked readers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_WIRE_H
#define VD_WIRE_H

#include "buf.h"
#include "internal.h"

#define VD_WIRE_VERSION 1
#define VD_WIRE_MAGIC 0x31445756u /* "VWD1" little-endian */
#define VD_WIRE_HEADER_SIZE 8
/* No message body is larger; the decoder refuses bigger lengths before reading them. */
#define VD_WIRE_MAX_BODY (16u << 20)
#define VD_TILE_LOG2 6
#define VD_TILE_SIZE (1 << VD_TILE_LOG2)
/* A TILE message carries a run of up to this many horizontally adjacent tiles of one tile row
 * as one rectangle (a whole 1080p tile row fits).  LZ4 restarts its match search and skip
 * acceleration per block: on noisy content 32-tile runs code about 1.4x faster than 8-tile
 * runs and 2x faster than single tiles (vdbench, video workload), and runs find the repeats
 * between neighbouring tiles of text (02-editor: a third fewer bytes than single tiles). */
#define VD_TILE_RUN_MAX 32

enum vd_msg_type {
    VD_MSG_HELLO = 0x01,
    VD_MSG_SURFACE_CREATE = 0x10,
    VD_MSG_SURFACE_RESIZE = 0x11,
    VD_MSG_SURFACE_DESTROY = 0x12,
    VD_MSG_TILE = 0x20,
    VD_MSG_FRAME_END = 0x21,
    VD_MSG_CODEC_RESET = 0x22,
    VD_MSG_COPY = 0x23,
    /* Reserved for later issues; a v1 decoder refuses them unless flagged optional. */
    VD_MSG_CURSOR_SHAPE = 0x30,
    VD_MSG_CURSOR_POS = 0x31,
    VD_MSG_STREAM_CREATE = 0x40,
    VD_MSG_STREAM_DESTROY = 0x41,
    VD_MSG_STREAM_FRAME = 0x42,
    VD_MSG_KEY_REQUEST = 0x43,
};

enum {
    /* A decoder that does not know the type skips the message instead of failing. */
    VD_MSG_FLAG_OPTIONAL = 1u << 0,
    VD_MSG_FLAGS_KNOWN = VD_MSG_FLAG_OPTIONAL,
};

/* How a TILE message's bulk data follows its tile headers (codec/tile_codec.h). */
enum vd_tile_encoding {
    VD_TILE_BULK_RAW = 0,
    VD_TILE_BULK_LZ4 = 1,
    /* Flag: the run's pixels are differences, added byte by byte to what the client shows
     * there (docs/protocol.md, section 6.4). */
    VD_TILE_BULK_DELTA = 0x80,
};

#define VD_HELLO_BODY 8
#define VD_SURFACE_BODY 16
#define VD_SURFACE_DESTROY_BODY 4
#define VD_TILE_HEADER 12
#define VD_FRAME_END_BODY 24
#define VD_STREAM_CREATE_BODY 28
#define VD_STREAM_DESTROY_BODY 4
#define VD_STREAM_FRAME_HEADER 12
#define VD_STREAM_FRAME_MAX_CUTS 4
#define VD_KEY_REQUEST_BODY 4
#define VD_CODEC_RESET_BODY 8
/* CODEC_RESET flag: a resume after a dropped connection.  The cache keeps its tiles (the
 * encoder has forgotten the slots it filled after the client's last frame) and every video
 * stream ends; the tile history restarts as in any reset. */
#define VD_CODEC_RESET_RESUME 1u
#define VD_COPY_BODY 28

enum {
    VD_STREAM_FRAME_KEY = 1u << 0, /* an IDR / key frame: decoding can start here */
    /* Some partial blocks leave rectangles out: a cut mask and the cuts follow the bounds. */
    VD_STREAM_FRAME_CUTS = 1u << 1,
    /* The masks, bounds and cuts are one LZ4 block: a u32 size, then that many bytes. */
    VD_STREAM_FRAME_PACKED = 1u << 2,
    /* A keep section follows: blocks whose pixels kept from before (not shown) change. */
    VD_STREAM_FRAME_KEEP = 1u << 3,
    /* The stream's kept pixels are forgotten before this frame's keep section applies. */
    VD_STREAM_FRAME_KEEP_RESET = 1u << 4,
    /* A patch section follows the keep section: exact pixels this frame shows. */
    VD_STREAM_FRAME_PATCH = 1u << 5,
};
/* Blocks a STREAM_FRAME may patch. */
#define VD_STREAM_FRAME_MAX_PATCHED 256

/* A box of a STREAM_FRAME's block (its part, or a cut): pixels [x0, x1) x [y0, y1) of the
 * block, packed in a u16 as on the wire, x0 | y0 << 4 | (x1 - 1) << 8 | (y1 - 1) << 12. */
typedef struct vd_box {
    int x0, y0, x1, y1;
} vd_box;

static inline vd_box vd_box_unpack(unsigned v)
{
    return (vd_box){(int)(v & 15), (int)(v >> 4 & 15), (int)(v >> 8 & 15) + 1, (int)(v >> 12) + 1};
}

static inline uint16_t vd_box_pack(int x0, int y0, int x1, int y1)
{
    return (uint16_t)(x0 | y0 << 4 | (x1 - 1) << 8 | (y1 - 1) << 12);
}

/* Columns [x0, x1) of a block's row, a bit per column. */
static inline unsigned vd_box_cols(int x0, int x1)
{
    return (1u << x1) - (1u << x0);
}

/* A video or 3D region's stream: its rectangle (16-aligned, inside the surface) is coded with
 * a video codec; each frame says which 16 x 16 blocks of the rectangle to show. */
typedef struct vd_msg_stream {
    uint32_t id, surface_id;
    uint8_t codec;   /* enum vd_video_codec */
    uint8_t content; /* enum vd_content */
    uint32_t x, y, width, height;
} vd_msg_stream;

/* Body after the header: the block mask (ceil(blocks / 8) bytes, bit b of byte b / 8, raster
 * order); a partial mask of the same size (set only where the mask is) marking blocks of which
 * only a part changed; 2 bytes per partial block in the same order giving that part (byte 0:
 * x0 | y0 << 4, byte 1: (x1 - 1) | (y1 - 1) << 4, pixels within the block); with
 * VD_STREAM_FRAME_CUTS, a bit per partial block (ceil(partial blocks / 8) bytes, in the same
 * order) set for those that leave rectangles out, and per such block a count (1 to
 * VD_STREAM_FRAME_MAX_CUTS) and as many rectangles within its part not to show, 2 bytes each
 * as the part; with VD_STREAM_FRAME_KEEP, a block bitmap as the mask of the blocks whose kept
 * pixels are given, and for each of them in raster order 16 u16 rows (bit c of row r: pixel
 * (c, r) of the block is kept: not shown by this frame or later ones until the block is given
 * again, or VD_STREAM_FRAME_KEEP_RESET); with VD_STREAM_FRAME_PATCH, a block bitmap of at most
 * VD_STREAM_FRAME_MAX_PATCHED blocks, and for each 16 u16 rows as the keep rows and then the
 * exact value of each pixel they set, in raster order (bytes per pixel of the surface): shown
 * instead of the picture's; then the coded picture.  With VD_STREAM_FRAME_PACKED all of that
 * but the picture is one LZ4 block after its u32 size.
 * Only that part of a block is shown, so exact pixels beside moving content inside a block (a
 * window frame next to a video's edge, a HUD's corner) stay exact; whole blocks cost no bytes.
 * Kept pixels are the same for exact pixels of any shape (a subtitle's glyphs over a playing
 * video), told once rather than every frame. */
typedef struct vd_msg_stream_frame {
    uint32_t stream_id;
    uint8_t flags;            /* VD_STREAM_FRAME_* */
    uint32_t mask_size;
    const uint8_t *side;      /* writing: the body between the header and the picture */
    uint32_t side_size;
    const uint8_t *data;      /* reading: the body after the header; writing: the picture */
    uint32_t size;
} vd_msg_stream_frame;

typedef struct vd_msg {
    uint8_t type, flags;
    const uint8_t *body;
    uint32_t size;
} vd_msg;

typedef struct vd_msg_surface {
    uint32_t id, width, height;
    uint8_t format;
} vd_msg_surface;

typedef struct vd_msg_tile {
    uint32_t surface_id;
    uint16_t tx, ty;
    uint8_t encoding;
    uint8_t count; /* tiles in the run, 1 .. VD_TILE_RUN_MAX */
    uint8_t top, bottom; /* rows of the tile row above and below the run's band */
    const uint8_t *data;
    uint32_t size;
} vd_msg_tile;

typedef struct vd_msg_frame_end {
    uint32_t surface_id;
    uint64_t frame_seq;
    int64_t pts_us;
} vd_msg_frame_end;

/* Surface pixels to move before anything else of the frame: src of the committed image to
 * dst (both inside the surface), as if through a temporary copy. */
typedef struct vd_msg_copy {
    uint32_t surface_id;
    uint32_t src_x, src_y, dst_x, dst_y, width, height;
} vd_msg_copy;

/* Reads the message at *pos; returns 1 and advances *pos, 0 at end, VD_ERR(EBADMSG) when the
 * framing is broken (truncated header or body, oversized length, reserved bits set). */
VD_HIDDEN int vd_wire_next(const uint8_t **pos, const uint8_t *end, vd_msg *msg);

/* Typed body readers: 0 or VD_ERR(EBADMSG) (wrong size, reserved fields not zero) or,
 * for hello, VD_ERR(ENOTSUP) for another version. */
VD_HIDDEN int vd_wire_read_hello(const vd_msg *msg);
VD_HIDDEN int vd_wire_read_surface(const vd_msg *msg, vd_msg_surface *out);
VD_HIDDEN int vd_wire_read_surface_destroy(const vd_msg *msg, uint32_t *id);
VD_HIDDEN int vd_wire_read_tile(const vd_msg *msg, vd_msg_tile *out);
VD_HIDDEN int vd_wire_read_frame_end(const vd_msg *msg, vd_msg_frame_end *out);
VD_HIDDEN int vd_wire_read_stream_create(const vd_msg *msg, vd_msg_stream *out);
VD_HIDDEN int vd_wire_read_stream_frame(const vd_msg *msg, vd_msg_stream_frame *out);
/* The largest side (what precedes the coded picture) that a STREAM_FRAME of a picture with
 * `blocks` 16 x 16 blocks (mask_size bytes a mask) and bpp bytes per pixel can carry: the
 * shown, partial and cut masks, bounds, cut counts and cuts, and the keep and patch sections. */
VD_HIDDEN size_t vd_wire_stream_side_max(uint32_t mask_size, size_t blocks, int bpp);
/* Checks what a STREAM_FRAME that was read shows of a width x height stream picture (bpp bytes
 * per pixel) and finds its coded picture; scratch holds what was packed.  With rows, writes 16
 * u16 per block of the picture (raster order), bit c of rows[16 * b + r] = show pixel (c, r)
 * of block b (before kept pixels are taken out and patched ones added); 0 for blocks not
 * shown.  *keep and *patch are its keep and patch sections (in the message or in scratch), NULL
 * without them.  Returns 0, VD_ERR(ENOMEM), or VD_ERR(EBADMSG) for a wrong mask size, a part,
 * kept or patched pixels outside their block, too many patched blocks, a broken LZ4 block or
 * data too short or too long. */
VD_HIDDEN int vd_wire_stream_frame_shown(const vd_msg_stream_frame *sf, int width, int height,
                                         int bpp, uint16_t *rows, vd_buf *scratch,
                                         const uint8_t **keep, const uint8_t **patch,
                                         const uint8_t **picture, uint32_t *size);
/* Writes the kept pixels of the blocks that a checked keep section gives into keep_rows (16
 * u16 per block of the width x height picture); the other blocks' rows stay. */
VD_HIDDEN void vd_wire_stream_frame_keep(const uint8_t *keep, int width, int height,
                                         uint16_t *keep_rows);
/* Writes the pixels of a checked patch section into the picture (bpp bytes per pixel, stride
 * bytes per row) and adds them to rows, as vd_wire_stream_frame_shown() writes them. */
VD_HIDDEN void vd_wire_stream_frame_patch(const uint8_t *patch, int width, int height, int bpp,
                                          uint16_t *rows, uint8_t *picture, size_t stride);
/* CODEC_RESET: the cache slots the encoder will use, and VD_CODEC_RESET_* flags. */
VD_HIDDEN int vd_wire_read_codec_reset(const vd_msg *msg, uint32_t *slots, uint32_t *flags);
VD_HIDDEN int vd_wire_read_copy(const vd_msg *msg, vd_msg_copy *out);
/* STREAM_DESTROY and KEY_REQUEST: a stream id alone. */
VD_HIDDEN int vd_wire_read_stream_id(const vd_msg *msg, uint32_t *id);

/* Writers append one whole message; they return 0 or VD_ERR(ENOMEM). */
VD_HIDDEN int vd_wire_put_hello(vd_buf *buf);
VD_HIDDEN int vd_wire_put_surface(vd_buf *buf, uint8_t type, const vd_msg_surface *s);
VD_HIDDEN int vd_wire_put_surface_destroy(vd_buf *buf, uint32_t id);
VD_HIDDEN int vd_wire_put_frame_end(vd_buf *buf, const vd_msg_frame_end *fe);
VD_HIDDEN int vd_wire_put_stream_create(vd_buf *buf, const vd_msg_stream *s);
VD_HIDDEN int vd_wire_put_stream_id(vd_buf *buf, uint8_t type, uint32_t id);
VD_HIDDEN int vd_wire_put_stream_frame(vd_buf *buf, const vd_msg_stream_frame *sf);
VD_HIDDEN int vd_wire_put_codec_reset(vd_buf *buf, uint32_t slots, uint32_t flags);
VD_HIDDEN int vd_wire_put_copy(vd_buf *buf, const vd_msg_copy *c);

/* A tile message is written in two steps because its payload size is known only after
 * coding: begin reserves header room plus max_payload bytes and returns where the payload
 * goes (NULL on ENOMEM); end commits payload_size bytes of it. */
VD_HIDDEN uint8_t *vd_wire_begin_tile(vd_buf *buf, uint32_t surface_id, uint16_t tx, uint16_t ty,
                                      uint8_t count, uint8_t top, uint8_t bottom, size_t max_payload);
VD_HIDDEN void vd_wire_end_tile(vd_buf *buf, uint8_t encoding, size_t payload_size);

#endif
