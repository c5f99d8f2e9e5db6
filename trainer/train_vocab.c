/* The tag vocabulary of a tiny model trained from scratch (private/train_job.h): every tag of a
 * snapshot's captions, counted once per caption occurrence, most frequent first. */
#include <stdlib.h>
#include <string.h>

#include "trainer/private/tok_map.h"
#include "trainer/private/train_job.h"

typedef struct tag_count_list {
    tok_map index;  /* tag -> its position below */
    char **tag;
    size_t *count;
    size_t n, cap;
} tag_count_list;

static int tag_note(tag_count_list *l, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    uint64_t at;
    if (!len)
        return 0;
    if (tok_map_get(&l->index, s, len, &at)) {
        l->count[at]++;
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **t = realloc(l->tag, cap * sizeof *t);
        size_t *c = t ? realloc(l->count, cap * sizeof *c) : NULL;
        if (t)
            l->tag = t;
        if (!c)
            return -1;
        l->count = c, l->cap = cap;
    }
    if (!(l->tag[l->n] = strndup(s, len)) || tok_map_put(&l->index, s, len, l->n, NULL) < 0)
        return -1;
    l->count[l->n++] = 1;
    return 0;
}

/* Tags split on commas and line ends (a caption's extra lines are wildcard alternatives). */
static int tags_split(tag_count_list *l, const char *text)
{
    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, ",\n");
        if (tag_note(l, p, len) < 0)
            return -1;
        p += len + (p[len] != 0);
    }
    return 0;
}

static int by_count(const void *a, const void *b, void *list)
{
    const tag_count_list *l = list;
    size_t i = *(const size_t *)a, k = *(const size_t *)b;
    if (l->count[i] != l->count[k])
        return l->count[i] < l->count[k] ? 1 : -1;
    return strcmp(l->tag[i], l->tag[k]);
}

char **train_vocab(const train_snapshot *s, const char *prefix, const char *suffix, size_t *n)
{
    tag_count_list l = {0};
    tok_map_init(&l.index);
    int rc = tags_split(&l, prefix) | tags_split(&l, suffix);
    for (size_t i = 0; rc == 0 && i < s->n_items; i++) {
        const train_snap_item *it = &s->items[i];
        rc = tags_split(&l, it->text ? it->text : s->folders[it->folder].class_tokens);
    }
    size_t *order = rc == 0 ? malloc((l.n ? l.n : 1) * sizeof *order) : NULL;
    char **out = order ? malloc((l.n ? l.n : 1) * sizeof *out) : NULL;
    if (out) {
        for (size_t i = 0; i < l.n; i++)
            order[i] = i;
        qsort_r(order, l.n, sizeof *order, by_count, &l);
        for (size_t i = 0; i < l.n; i++)
            out[i] = l.tag[order[i]];
        *n = l.n;
    } else {
        for (size_t i = 0; i < l.n; i++)
            free(l.tag[i]);
    }
    free(order);
    free(l.tag);
    free(l.count);
    tok_map_free(&l.index);
    return out;
}
