/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "tile_cache.h"

#define NONE UINT32_MAX

typedef struct slot {
    vd_tile_key key;
    uint64_t stamp;      /* when it was stored (vd_tile_cache_set_stamp) */
    uint32_t prev, next; /* LRU list: head = most recent; forgotten slots wait at the tail */
    uint8_t used;        /* key is in the table */
} slot;

struct vd_tile_cache {
    slot *slots;
    uint32_t n_slots, n_used;
    uint32_t head, tail;
    /* Open addressing, linear probing, slot + 1 per entry (0 = empty); at most half full. */
    uint32_t *table;
    uint32_t mask;
    uint64_t stamp;
};

static uint32_t bucket(const vd_tile_cache *c, const vd_tile_key *k) { return (uint32_t)k->lo & c->mask; }

vd_tile_cache *vd_tile_cache_new(uint32_t slots)
{
    if (slots < 1 || slots > VD_TILE_CACHE_MAX_SLOTS)
        return NULL;
    vd_tile_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    uint32_t size = 2;
    while (size < 2 * slots)
        size *= 2;
    c->n_slots = slots;
    c->mask = size - 1;
    c->slots = calloc(slots, sizeof(*c->slots));
    c->table = calloc(size, sizeof(*c->table));
    if (!c->slots || !c->table) {
        vd_tile_cache_free(&c);
        return NULL;
    }
    vd_tile_cache_reset(c);
    return c;
}

void vd_tile_cache_free(vd_tile_cache **pc)
{
    if (!pc || !*pc)
        return;
    free((*pc)->slots);
    free((*pc)->table);
    free(*pc);
    *pc = NULL;
}

uint32_t vd_tile_cache_slots(const vd_tile_cache *c) { return c->n_slots; }

void vd_tile_cache_reset(vd_tile_cache *c)
{
    memset(c->slots, 0, c->n_slots * sizeof(*c->slots));
    memset(c->table, 0, ((size_t)c->mask + 1) * sizeof(*c->table));
    c->n_used = 0;
    c->head = c->tail = NONE;
}

static void lru_unlink(vd_tile_cache *c, uint32_t s)
{
    slot *e = &c->slots[s];
    if (e->prev != NONE)
        c->slots[e->prev].next = e->next;
    else
        c->head = e->next;
    if (e->next != NONE)
        c->slots[e->next].prev = e->prev;
    else
        c->tail = e->prev;
}

static void lru_push_front(vd_tile_cache *c, uint32_t s)
{
    slot *e = &c->slots[s];
    e->prev = NONE;
    e->next = c->head;
    if (c->head != NONE)
        c->slots[c->head].prev = s;
    c->head = s;
    if (c->tail == NONE)
        c->tail = s;
}

static int key_equal(const vd_tile_key *a, const vd_tile_key *b) { return a->lo == b->lo && a->hi == b->hi; }

int32_t vd_tile_cache_find(vd_tile_cache *c, const vd_tile_key *key)
{
    for (uint32_t i = bucket(c, key);; i = (i + 1) & c->mask) {
        uint32_t e = c->table[i];
        if (!e)
            return -1;
        if (key_equal(&c->slots[e - 1].key, key)) {
            lru_unlink(c, e - 1);
            lru_push_front(c, e - 1);
            return (int32_t)(e - 1);
        }
    }
}

/* Removes slot s's key from the table, shifting later entries of its probe chain back so
 * that lookups never stop at a hole. */
static void table_remove(vd_tile_cache *c, uint32_t s)
{
    uint32_t i = bucket(c, &c->slots[s].key);
    while (c->table[i] != s + 1)
        i = (i + 1) & c->mask;
    for (uint32_t j = (i + 1) & c->mask; c->table[j]; j = (j + 1) & c->mask) {
        uint32_t home = bucket(c, &c->slots[c->table[j] - 1].key);
        /* Entry j may fill the hole at i when its home is not in (i, j] (cyclically). */
        if (((j - home) & c->mask) >= ((j - i) & c->mask)) {
            c->table[i] = c->table[j];
            i = j;
        }
    }
    c->table[i] = 0;
}

uint32_t vd_tile_cache_insert(vd_tile_cache *c, const vd_tile_key *key)
{
    uint32_t s;
    if (c->n_used < c->n_slots) {
        s = c->n_used++;
    } else {
        s = c->tail;
        if (c->slots[s].used)
            table_remove(c, s);
        lru_unlink(c, s);
    }
    c->slots[s].key = *key;
    c->slots[s].stamp = c->stamp;
    c->slots[s].used = 1;
    lru_push_front(c, s);
    uint32_t i = bucket(c, key);
    while (c->table[i])
        i = (i + 1) & c->mask;
    c->table[i] = s + 1;
    return s;
}

void vd_tile_cache_set_stamp(vd_tile_cache *c, uint64_t stamp) { c->stamp = stamp; }

static void lru_push_back(vd_tile_cache *c, uint32_t s)
{
    slot *e = &c->slots[s];
    e->next = NONE;
    e->prev = c->tail;
    if (c->tail != NONE)
        c->slots[c->tail].next = s;
    c->tail = s;
    if (c->head == NONE)
        c->head = s;
}

uint32_t vd_tile_cache_forget_after(vd_tile_cache *c, uint64_t stamp)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < c->n_used; s++) {
        if (!c->slots[s].used || c->slots[s].stamp <= stamp)
            continue;
        table_remove(c, s);
        c->slots[s].used = 0;
        lru_unlink(c, s);
        lru_push_back(c, s); /* reused before any slot that still holds a tile */
        n++;
    }
    return n;
}
