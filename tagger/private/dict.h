/* Tag interning: every distinct tag text gets a small integer id, so captions are arrays of ids,
 * occurrence is an array indexed by id, and renaming a tag everywhere touches integers, not
 * strings. Ids are never reused; a tag that no image carries any more keeps its id. */
#ifndef TAGGER_PRIVATE_DICT_H
#define TAGGER_PRIVATE_DICT_H
#include <stddef.h>
#include <stdint.h>

#define DICT_NONE UINT32_MAX

typedef struct dict {
    char **strs;        /* id -> NUL-terminated text (in the arena) */
    uint32_t *lens;     /* id -> byte length */
    uint32_t n, cap;
    uint32_t *slots;    /* open addressing: id or DICT_NONE */
    uint64_t *hashes;   /* id -> hash, to grow without rehashing text */
    uint32_t nslots;
    char *arena;        /* current chunk; older chunks are chained through their first bytes */
    size_t arena_used, arena_cap;
} dict;

void dict_init(dict *d);
void dict_free(dict *d);
/* Id of the text, adding it if new; DICT_NONE on allocation failure. */
uint32_t dict_intern(dict *d, const char *s, size_t len);
/* Id of the text, or DICT_NONE if absent. */
uint32_t dict_find(const dict *d, const char *s, size_t len);
static inline const char *dict_str(const dict *d, uint32_t id) { return d->strs[id]; }
static inline uint32_t dict_len(const dict *d, uint32_t id) { return d->lens[id]; }

uint64_t hash_bytes(const void *p, size_t len);

#endif
