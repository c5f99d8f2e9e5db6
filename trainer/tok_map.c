#include "trainer/private/tok_map.h"

#include <stdlib.h>
#include <string.h>

/* Eight bytes at a time, then a final avalanche (the splitmix64 finaliser). */
uint64_t tok_hash(const void *p, size_t len)
{
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    for (; len >= 8; s += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    if (len)
        memcpy(&w, s, len);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

void tok_map_free(tok_map *m)
{
    free(m->e);
    free(m->slots);
    free(m->arena);
    tok_map_init(m);
}

void tok_map_clear(tok_map *m)
{
    m->n = 0;
    m->used = 0;
    if (m->slots)
        memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
}

static uint32_t *slot_of(const tok_map *m, uint64_t hash, const char *key, size_t len)
{
    for (uint32_t s = (uint32_t)hash & m->mask;; s = (s + 1) & m->mask) {
        uint32_t k = m->slots[s];
        if (!k)
            return &m->slots[s];
        const tok_map_entry *e = &m->e[k - 1];
        if (e->hash == hash && e->len == len && memcmp(m->arena + e->key, key, len) == 0)
            return &m->slots[s];
    }
}

static int grow_slots(tok_map *m)
{
    uint32_t n = m->slots ? (m->mask + 1) * 2 : 64;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    free(m->slots);
    m->slots = slots;
    m->mask = n - 1;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t s = (uint32_t)m->e[i].hash & m->mask;
        while (slots[s])
            s = (s + 1) & m->mask;
        slots[s] = i + 1;
    }
    return 0;
}

int tok_map_put(tok_map *m, const char *key, size_t len, uint64_t value, uint32_t *entry)
{
    if (len > UINT32_MAX || m->n >= UINT32_MAX / 2 - 1)
        return -1;
    if (!m->slots || (uint64_t)(m->n + 1) * 4 > (uint64_t)(m->mask + 1) * 3)
        if (grow_slots(m) < 0)
            return -1;
    uint64_t h = tok_hash(key, len);
    uint32_t *slot = slot_of(m, h, key, len);
    if (*slot) {
        m->e[*slot - 1].value = value;
        if (entry)
            *entry = *slot - 1;
        return 0;
    }
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 64;
        tok_map_entry *e = realloc(m->e, cap * sizeof *e);
        if (!e)
            return -1;
        m->e = e;
        m->cap = cap;
    }
    if (m->used + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 1024;
        while (cap < m->used + len + 1)
            cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a)
            return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->used, key, len);
    m->arena[m->used + len] = '\0';
    m->e[m->n] = (tok_map_entry){h, value, m->used, (uint32_t)len};
    m->used += len + 1;
    if (entry)
        *entry = m->n;
    *slot = ++m->n;
    return 0;
}

bool tok_map_get(const tok_map *m, const char *key, size_t len, uint64_t *value)
{
    if (!m->n)
        return false;
    uint32_t *slot = slot_of(m, tok_hash(key, len), key, len);
    if (!*slot)
        return false;
    *value = m->e[*slot - 1].value;
    return true;
}
