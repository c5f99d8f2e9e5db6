#include "tagger/private/dict.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (1u << 20)

uint64_t hash_bytes(const void *p, size_t len)
{
    /* FNV-1a, 64 bit: fast, good enough for tag text and for change detection of small files. */
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void dict_init(dict *d)
{
    memset(d, 0, sizeof *d);
}

void dict_free(dict *d)
{
    char *chunk = d->arena;
    while (chunk) {
        char *prev;
        memcpy(&prev, chunk, sizeof prev);
        free(chunk);
        chunk = prev;
    }
    free(d->strs);
    free(d->lens);
    free(d->slots);
    free(d->hashes);
    memset(d, 0, sizeof *d);
}

static char *arena_copy(dict *d, const char *s, size_t len)
{
    if (!d->arena || d->arena_used + len + 1 > d->arena_cap) {
        size_t cap = len + 1 + sizeof(char *) > ARENA_CHUNK ? len + 1 + sizeof(char *) : ARENA_CHUNK;
        char *chunk = malloc(cap);
        if (!chunk)
            return NULL;
        memcpy(chunk, &d->arena, sizeof d->arena); /* chain to the previous chunk */
        d->arena = chunk;
        d->arena_cap = cap;
        d->arena_used = sizeof(char *);
    }
    char *dst = d->arena + d->arena_used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    d->arena_used += len + 1;
    return dst;
}

static uint32_t slot_of(const dict *d, uint64_t h, const char *s, size_t len)
{
    uint32_t mask = d->nslots - 1, i = (uint32_t)h & mask;
    for (;;) {
        uint32_t id = d->slots[i];
        if (id == DICT_NONE)
            return i;
        if (d->hashes[id] == h && d->lens[id] == len && memcmp(d->strs[id], s, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static int dict_grow_slots(dict *d)
{
    uint32_t n = d->nslots ? d->nslots * 2 : 1024;
    uint32_t *slots = malloc(sizeof *slots * n);
    if (!slots)
        return -1;
    memset(slots, 0xff, sizeof *slots * n);
    free(d->slots);
    d->slots = slots;
    d->nslots = n;
    for (uint32_t id = 0; id < d->n; id++) {
        uint32_t i = (uint32_t)d->hashes[id] & (n - 1);
        while (slots[i] != DICT_NONE)
            i = (i + 1) & (n - 1);
        slots[i] = id;
    }
    return 0;
}

static int dict_grow_ids(dict *d)
{
    uint32_t cap = d->cap ? d->cap * 2 : 256;
    char **strs = realloc(d->strs, sizeof *strs * cap);
    if (!strs)
        return -1;
    d->strs = strs;
    uint32_t *lens = realloc(d->lens, sizeof *lens * cap);
    if (!lens)
        return -1;
    d->lens = lens;
    uint64_t *hashes = realloc(d->hashes, sizeof *hashes * cap);
    if (!hashes)
        return -1;
    d->hashes = hashes;
    d->cap = cap;
    return 0;
}

uint32_t dict_find(const dict *d, const char *s, size_t len)
{
    if (!d->nslots)
        return DICT_NONE;
    return d->slots[slot_of(d, hash_bytes(s, len), s, len)];
}

uint32_t dict_intern(dict *d, const char *s, size_t len)
{
    if ((uint64_t)(d->n + 1) * 2 > d->nslots && dict_grow_slots(d) < 0)
        return DICT_NONE;
    uint64_t h = hash_bytes(s, len);
    uint32_t slot = slot_of(d, h, s, len);
    if (d->slots[slot] != DICT_NONE)
        return d->slots[slot];
    if (d->n == d->cap && dict_grow_ids(d) < 0)
        return DICT_NONE;
    char *copy = arena_copy(d, s, len);
    if (!copy)
        return DICT_NONE;
    uint32_t id = d->n++;
    d->strs[id] = copy;
    d->lens[id] = (uint32_t)len;
    d->hashes[id] = h;
    d->slots[slot] = id;
    return id;
}
