/* The encoder's mirror of the client's tile cache: which tile content (an XXH3-128 hash) sits
 * in which client slot, least recently used first out.  The encoder names the slot in every
 * store and reference, so the client keeps no LRU state of its own and both sides stay equal
 * by construction (docs/protocol.md, section 6.11).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_TILE_CACHE_H
#define VD_TILE_CACHE_H

#include "../lib/internal.h"

/* Bytes one slot holds on the client: a 64 x 64 tile at 4 bytes per pixel. */
#define VD_TILE_SLOT_BYTES (64 * 64 * 4)
/* Slot numbers are 16 bits on the wire. */
#define VD_TILE_CACHE_MAX_SLOTS 65535u
/* 64 MiB, the default of both configs. */
#define VD_TILE_CACHE_DEFAULT_BYTES ((uint64_t)64 << 20)

typedef struct vd_tile_key {
    uint64_t lo, hi;
} vd_tile_key;

typedef struct vd_tile_cache vd_tile_cache;

/* slots: 1 .. VD_TILE_CACHE_MAX_SLOTS.  NULL when out of memory. */
VD_HIDDEN vd_tile_cache *vd_tile_cache_new(uint32_t slots);
VD_HIDDEN void vd_tile_cache_free(vd_tile_cache **cache);
VD_HIDDEN uint32_t vd_tile_cache_slots(const vd_tile_cache *cache);
/* Forgets every slot (the client's cache was reset). */
VD_HIDDEN void vd_tile_cache_reset(vd_tile_cache *cache);
/* The slot holding key, now the most recently used, or -1. */
VD_HIDDEN int32_t vd_tile_cache_find(vd_tile_cache *cache, const vd_tile_key *key);
/* Stamps the stores from now on (the encoder's frame number). */
VD_HIDDEN void vd_tile_cache_set_stamp(vd_tile_cache *cache, uint64_t stamp);
/* Forgets the slots stored with a stamp above stamp: after a resume the client may hold
 * either their old or their new content.  Returns how many. */
VD_HIDDEN uint32_t vd_tile_cache_forget_after(vd_tile_cache *cache, uint64_t stamp);
/* Puts key (not in the cache) in a free slot or the least recently used one; returns it. */
VD_HIDDEN uint32_t vd_tile_cache_insert(vd_tile_cache *cache, const vd_tile_key *key);

#endif
