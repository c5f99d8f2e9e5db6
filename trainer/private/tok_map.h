/* A hash map from byte strings to 64-bit values, shared by the tokenizers (private to trainer/):
 * the CLIP vocabulary (token text -> id), its BPE cache (piece -> ids) and the tag vocabulary.
 * Keys are copied into the map. Not thread-safe: callers lock where they share one. */
#ifndef TRAINER_PRIVATE_TOK_MAP_H
#define TRAINER_PRIVATE_TOK_MAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tok_map_entry {
    uint64_t hash, value;
    size_t key;   /* offset of the key in the arena */
    uint32_t len;
} tok_map_entry;

typedef struct tok_map {
    tok_map_entry *e;
    uint32_t n, cap;
    uint32_t *slots;  /* entry index + 1; 0 = empty */
    uint32_t mask;    /* number of slots - 1 */
    char *arena;
    size_t used, arena_cap;
} tok_map;

static inline void tok_map_init(tok_map *m) { *m = (tok_map){0}; }
void tok_map_free(tok_map *m);
/* Forgets every key, keeping the memory. */
void tok_map_clear(tok_map *m);
/* Sets key -> value (replacing an existing value); *entry (may be NULL) receives the key's entry
 * index, which stays the same when its value is replaced. 0, or -1 when out of memory. */
int tok_map_put(tok_map *m, const char *key, size_t len, uint64_t value, uint32_t *entry);
/* The value of key in *value; false when absent. */
bool tok_map_get(const tok_map *m, const char *key, size_t len, uint64_t *value);
/* Key of entry i (0 <= i < m->n, in insertion order), NUL-terminated. */
static inline const char *tok_map_key(const tok_map *m, uint32_t i) { return m->arena + m->e[i].key; }

uint64_t tok_hash(const void *p, size_t len);

#endif
