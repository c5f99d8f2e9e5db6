/* The loaded CLIP tokenizer (private to trainer/clip_*.c): built by clip_tokenizer.c, used by
 * clip_bpe.c to split words. */
#ifndef TRAINER_PRIVATE_CLIP_BPE_H
#define TRAINER_PRIVATE_CLIP_BPE_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "trainer/private/tok_map.h"

struct clip_tokenizer {
    int32_t n_merges, vocab_size, bos, eos;
    int32_t byte_id[256];  /* id of the token for byte b; the same with "</w>" is byte_id[b] + 256 */
    /* merges: (left id << 32 | right id) -> (rank << 32 | merged id), open addressing */
    uint64_t *pair_key, *pair_val;
    uint32_t pair_mask;
    tok_map vocab;         /* token text -> id */
    uint32_t *id_entry;    /* id -> its entry in vocab; CLIP_NO_ENTRY when a later merge took its text */
    char *source;
    /* words already split: piece bytes -> (offset << 32 | count) into cache_ids */
    pthread_mutex_t lock;
    tok_map cache;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
};

#define CLIP_PAIR_EMPTY UINT64_MAX
#define CLIP_NO_ENTRY UINT32_MAX

/* (rank << 32 | merged id) of the pair, or CLIP_PAIR_EMPTY. */
static inline uint64_t clip_pair_find(const struct clip_tokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    for (uint32_t s = (uint32_t)(h >> 32) & t->pair_mask;; s = (s + 1) & t->pair_mask) {
        if (t->pair_key[s] == key)
            return t->pair_val[s];
        if (t->pair_key[s] == CLIP_PAIR_EMPTY)
            return CLIP_PAIR_EMPTY;
    }
}

#endif
