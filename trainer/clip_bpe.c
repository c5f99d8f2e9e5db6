/* Tokenizing with a loaded CLIP vocabulary (clip_tokenizer.h): clean and split the text
 * (clip_text.c), then byte-level BPE on each piece, with a cache of pieces already split. */
#include "trainer/clip_tokenizer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/private/clip_bpe.h"
#include "trainer/private/clip_text.h"

#define NO_RANK UINT32_MAX
#define CACHE_MAX_IDS (1u << 22)   /* ids kept in the cache before it starts over */
#define CACHE_MAX_PIECE 256        /* longer pieces are not cached */

/* Scratch of one encode call. */
typedef struct bpe_work {
    int32_t *sym, *tmp;
    uint32_t *rank, *rank_tmp;
    int32_t *merged, *merged_tmp;
    int32_t *from;   /* new position -> old position of an unmerged symbol, -1 for a merged one */
    size_t cap;
} bpe_work;

static int work_reserve(bpe_work *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 32;
    while (cap < n)
        cap *= 2;
    int32_t **i32[] = {&w->sym, &w->tmp, &w->merged, &w->merged_tmp, &w->from};
    for (size_t k = 0; k < sizeof i32 / sizeof i32[0]; k++) {
        int32_t *p = realloc(*i32[k], cap * sizeof *p);
        if (!p)
            return -1;
        *i32[k] = p;
    }
    uint32_t **u32[] = {&w->rank, &w->rank_tmp};
    for (size_t k = 0; k < 2; k++) {
        uint32_t *p = realloc(*u32[k], cap * sizeof *p);
        if (!p)
            return -1;
        *u32[k] = p;
    }
    w->cap = cap;
    return 0;
}

static void work_free(bpe_work *w)
{
    free(w->sym);
    free(w->tmp);
    free(w->rank);
    free(w->rank_tmp);
    free(w->merged);
    free(w->merged_tmp);
    free(w->from);
}

static void pair_rank(const clip_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *merged)
{
    uint64_t v = clip_pair_find(t, a, b);
    *rank = v == CLIP_PAIR_EMPTY ? NO_RANK : (uint32_t)(v >> 32);
    *merged = (int32_t)(uint32_t)v;
}

/* simple_tokenizer's bpe(): the word's bytes as byte tokens (the last one with "</w>"); then, while
 * some adjacent pair is a merge, every occurrence of the lowest-ranked one, left to right, becomes
 * one token. Leaves the ids in w->sym and returns their number (-1: out of memory). Pair ranks are
 * kept between rounds and looked up again only next to a merge. */
static long bpe_word(const clip_tokenizer *t, const unsigned char *s, size_t n, bpe_work *w)
{
    if (work_reserve(w, n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        w->sym[i] = t->byte_id[s[i]];
    w->sym[n - 1] += 256;
    size_t m = n;
    for (size_t i = 0; i + 1 < m; i++)
        pair_rank(t, w->sym[i], w->sym[i + 1], &w->rank[i], &w->merged[i]);
    while (m > 1) {
        uint32_t best = NO_RANK;
        for (size_t i = 0; i + 1 < m; i++)
            if (w->rank[i] < best)
                best = w->rank[i];
        if (best == NO_RANK)
            break;
        /* every occurrence of the pair ranked `best` (the same two ids wherever it occurs) */
        size_t k = 0;
        for (size_t i = 0; i < m;) {
            if (i + 1 < m && w->rank[i] == best) {
                w->tmp[k] = w->merged[i];
                w->from[k++] = -1;
                i += 2;
            } else {
                w->tmp[k] = w->sym[i];
                w->from[k++] = (int32_t)i;
                i++;
            }
        }
        for (size_t i = 0; i + 1 < k; i++) {
            if (w->from[i] >= 0 && w->from[i + 1] == w->from[i] + 1) {
                w->rank_tmp[i] = w->rank[w->from[i]];
                w->merged_tmp[i] = w->merged[w->from[i]];
            } else {
                pair_rank(t, w->tmp[i], w->tmp[i + 1], &w->rank_tmp[i], &w->merged_tmp[i]);
            }
        }
        int32_t *ts = w->sym;
        w->sym = w->tmp;
        w->tmp = ts;
        uint32_t *tr = w->rank;
        w->rank = w->rank_tmp;
        w->rank_tmp = tr;
        int32_t *tm = w->merged;
        w->merged = w->merged_tmp;
        w->merged_tmp = tm;
        m = k;
    }
    return (long)m;
}

/* ---- the cache ---- */

static bool cache_get(clip_tokenizer *t, const char *s, size_t len, int32_t *ids, size_t cap, size_t *n)
{
    uint64_t v;
    pthread_mutex_lock(&t->lock);
    bool hit = tok_map_get(&t->cache, s, len, &v);
    if (hit) {
        *n = (size_t)(uint32_t)v;
        size_t off = (size_t)(v >> 32);
        size_t k = *n < cap ? *n : cap;
        if (k)
            memcpy(ids, t->cache_ids + off, k * sizeof *ids);
    }
    pthread_mutex_unlock(&t->lock);
    return hit;
}

/* Best effort: a cache that cannot grow just does not remember. */
static void cache_put(clip_tokenizer *t, const char *s, size_t len, const int32_t *ids, size_t n)
{
    pthread_mutex_lock(&t->lock);
    if (t->cache_n + n > CACHE_MAX_IDS) {
        tok_map_clear(&t->cache);
        t->cache_n = 0;
    }
    if (t->cache_n + n > t->cache_cap) {
        size_t cap = t->cache_cap ? t->cache_cap : 4096;
        while (cap < t->cache_n + n)
            cap *= 2;
        int32_t *p = realloc(t->cache_ids, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&t->lock);
            return;
        }
        t->cache_ids = p;
        t->cache_cap = cap;
    }
    if (tok_map_put(&t->cache, s, len, (uint64_t)t->cache_n << 32 | n, NULL) == 0) {
        memcpy(t->cache_ids + t->cache_n, ids, n * sizeof *ids);
        t->cache_n += n;
    }
    pthread_mutex_unlock(&t->lock);
}

/* ---- encoding ---- */

typedef struct encode_ctx {
    clip_tokenizer *t;
    int32_t *ids;
    size_t cap, total;
    bpe_work work;
} encode_ctx;

static void out_push(encode_ctx *c, int32_t id)
{
    if (c->total < c->cap)
        c->ids[c->total] = id;
    c->total++;
}

static int on_piece(void *ctx, clip_piece_kind kind, const char *s, size_t len)
{
    encode_ctx *c = ctx;
    clip_tokenizer *t = c->t;
    if (kind != CLIP_PIECE_TEXT) {
        out_push(c, kind == CLIP_PIECE_BOS ? t->bos : t->eos);
        return 0;
    }
    if (len == 1) {
        out_push(c, t->byte_id[(unsigned char)s[0]] + 256);
        return 0;
    }
    size_t room = c->total < c->cap ? c->cap - c->total : 0, n;
    if (len <= CACHE_MAX_PIECE && cache_get(t, s, len, room ? c->ids + c->total : NULL, room, &n)) {
        c->total += n;
        return 0;
    }
    long m = bpe_word(t, (const unsigned char *)s, len, &c->work);
    if (m < 0)
        return -1;
    if (len <= CACHE_MAX_PIECE)
        cache_put(t, s, len, c->work.sym, (size_t)m);
    for (long i = 0; i < m; i++)
        out_push(c, c->work.sym[i]);
    return 0;
}

long clip_encode(const clip_tokenizer *tok, const char *text, int32_t *ids, size_t cap)
{
    /* the tokenizer is const to callers; its cache (under its lock) is the only thing that changes */
    encode_ctx c = {.t = (clip_tokenizer *)tok, .ids = ids, .cap = ids ? cap : 0};
    clip_cps clean = {0};
    char *scratch = NULL;
    size_t scratch_cap = 0;
    int rc = clip_text_clean(text ? text : "", &clean);
    if (rc == 0)
        rc = clip_text_split(&clean, on_piece, &c, &scratch, &scratch_cap);
    free(clean.v);
    free(scratch);
    work_free(&c.work);
    return rc ? -1 : (long)c.total;
}

int clip_tokenize(const clip_tokenizer *t, const char *text, int32_t *ids, int max_len, int pad_id,
                  int *n_real)
{
    if (max_len < 2)
        return -1;
    long total = clip_encode(t, text, ids + 1, (size_t)max_len - 2);
    if (total < 0)
        return -1;
    int kept = total < max_len - 2 ? (int)total : max_len - 2;
    ids[0] = t->bos;
    ids[kept + 1] = t->eos;
    for (int i = kept + 2; i < max_len; i++)
        ids[i] = pad_id;
    if (n_real)
        *n_real = kept + 2;
    return total > INT32_MAX ? INT32_MAX : (int)total;
}
