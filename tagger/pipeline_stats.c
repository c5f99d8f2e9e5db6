/* Dataset-wide caption statistics (pipeline_stats.h). One pass over the items: each caption is
 * rebuilt from its tag ids into one reused buffer, split as pipeline_process splits it, and its
 * expected figures are added up in closed form, so no random draw is needed and 100k captions
 * cost tens of milliseconds. Fixed tags are interned into a private dict to count them. */
#include "tagger/pipeline_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/private/dict.h"

/* ---- Python's str.strip() whitespace on UTF-8, as pipeline.c strips tags ---- */

/* Length of the whitespace character starting at s (n bytes available), or 0. */
static size_t space_at(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (n < 3)
        return 0;
    if ((s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) ||
        (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0x80 && s[2] <= 0x8a) ||
        (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) ||
        (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) ||
        (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80))
        return 3;
    return 0;
}

/* A byte that is neither whitespace nor part of a multi-byte character: the test that settles
 * most ends of most tags without decoding anything. */
static bool plain_byte(char c)
{
    return (unsigned char)c > 0x20 && (unsigned char)c < 0x80;
}

/* Length of the whitespace character that starts s[0..n) (n > 0), or 0. */
static size_t space_first(const char *s, size_t n)
{
    return s[0] == ' ' ? 1 : plain_byte(s[0]) ? 0 : space_at(s, n);
}

/* Length of the whitespace character that ends s[0..n) (n > 0), or 0. */
static size_t space_last(const char *s, size_t n)
{
    if (s[n - 1] == ' ')
        return 1;
    if (plain_byte(s[n - 1]))
        return 0;
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_at(s + n - k, k) == k)
            return k;
    return 0;
}

static void strip_span(const char **s, size_t *n)
{
    size_t k;
    while (*n && (k = space_first(*s, *n)) > 0) {
        *s += k;
        *n -= k;
    }
    while (*n && (k = space_last(*s, *n)) > 0)
        *n -= k;
}

/* ---- the pass ---- */

/* One caption split into fixed (prefix and suffix parts together) and flex tags. */
typedef struct tally {
    size_t fixed, flex;       /* tags, empty ones included (they still take a ", ") */
    size_t fixed_ne, flex_ne; /* non-empty tags */
    size_t fixed_len, flex_len;
} tally;

typedef struct stats_run {
    const pipeline_opts *o;
    const char *sep, *sec; /* caption_separator; secondary_separator or NULL */
    size_t seplen, seclen;
    bool sec_here;         /* the caption being looked at holds sec: only then count it per tag */
    size_t prefix_len, suffix_len;
    char *buf;             /* the caption being looked at */
    size_t cap;
    dict kept;             /* fixed tag text -> id */
    uint32_t *count, *last; /* per kept id: captions, and the last caption (+1) that counted */
    uint32_t ncap;
    uint32_t caption;      /* number of the caption being looked at, from 1 */
    bool oom;
    double tags, chars, tags_raw, fixed_raw;
} stats_run;

static bool is_set(const char *s)
{
    return s && *s;
}

static void buf_add(stats_run *r, size_t *n, const char *s, size_t len)
{
    if (r->oom)
        return;
    if (*n + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < *n + len + 1)
            cap *= 2;
        char *p = realloc(r->buf, cap);
        if (!p) {
            r->oom = true;
            return;
        }
        r->buf = p;
        r->cap = cap;
    }
    memcpy(r->buf + *n, s, len);
    *n += len;
    r->buf[*n] = '\0';
}

/* Non-overlapping occurrences of the secondary separator, as str.replace finds them. */
static size_t secondary_count(const stats_run *r, const char *s, size_t n)
{
    size_t k = 0;
    if (!r->sec_here)
        return 0;
    for (const char *hit; (hit = memmem(s, n, r->sec, r->seclen)) != NULL; k++) {
        n -= (size_t)(hit - s) + r->seclen;
        s = hit + r->seclen;
    }
    return k;
}

/* Length of s[0..n) once every secondary separator has become caption_separator. */
static size_t replaced_len(const stats_run *r, const char *s, size_t n)
{
    size_t k = secondary_count(r, s, n);
    return n + k * r->seplen - k * r->seclen;
}

/* Counts a fixed tag for this caption, once however often the caption fixes it. */
static void kept_count(stats_run *r, const char *s, size_t n)
{
    uint32_t id = r->oom ? DICT_NONE : dict_intern(&r->kept, s, n);
    if (id == DICT_NONE) {
        r->oom = true;
        return;
    }
    if (id >= r->ncap) {
        uint32_t cap = r->ncap ? r->ncap * 2 : 64;
        uint32_t *c = realloc(r->count, cap * sizeof *c);
        if (c)
            r->count = c;
        uint32_t *l = c ? realloc(r->last, cap * sizeof *l) : NULL;
        if (!l) {
            r->oom = true;
            return;
        }
        r->last = l;
        memset(r->count + r->ncap, 0, (cap - r->ncap) * sizeof *c);
        memset(r->last + r->ncap, 0, (cap - r->ncap) * sizeof *l);
        r->ncap = cap;
    }
    if (r->last[id] != r->caption) {
        r->last[id] = r->caption;
        r->count[id]++;
    }
}

/* The next caption_separator in s[0..n), or NULL. memchr for the usual one-byte separator:
 * memmem's set-up per call was a third of the whole pass. */
static const char *sep_find(const stats_run *r, const char *s, size_t n)
{
    return r->seplen == 1 ? memchr(s, r->sep[0], n) : memmem(s, n, r->sep, r->seplen);
}

/* [t.strip() for t in s.split(sep)] into t, empty tags left out when drop_empty; the first
 * `fixed` tags are fixed (SIZE_MAX: all). */
static void tags_split(stats_run *r, const char *s, size_t n, bool drop_empty, size_t fixed,
                       tally *t)
{
    for (size_t placed = 0;;) {
        const char *hit = sep_find(r, s, n);
        size_t len = hit ? (size_t)(hit - s) : n;
        const char *tag = s;
        size_t tn = len;
        strip_span(&tag, &tn);
        if (tn || !drop_empty) {
            bool is_fixed = placed++ < fixed;
            size_t tl = replaced_len(r, tag, tn);
            *(is_fixed ? &t->fixed : &t->flex) += 1;
            *(is_fixed ? &t->fixed_ne : &t->flex_ne) += tn > 0;
            *(is_fixed ? &t->fixed_len : &t->flex_len) += tl;
            if (is_fixed && tn)
                kept_count(r, tag, tn);
        }
        if (!hit)
            return;
        s += len + r->seplen;
        n -= len + r->seplen;
    }
}

/* The pipeline's split (docs/pipeline.md, step 4.1). Returns whether the separator split it. */
static bool caption_split(stats_run *r, const char *text, size_t n, tally *t)
{
    const char *kts = r->o->keep_tokens_separator;
    const char *first = is_set(kts) ? strstr(text, kts) : NULL;
    if (!first) {
        strip_span(&text, &n);
        tags_split(r, text, n, false, (size_t)r->o->keep_tokens, t);
        return false;
    }
    size_t klen = strlen(kts);
    const char *flex = first + klen, *end = text + n;
    const char *second = strstr(flex, kts);
    tags_split(r, text, (size_t)(first - text), true, SIZE_MAX, t);
    tags_split(r, flex, (size_t)((second ? second : end) - flex), true, 0, t);
    if (second)
        tags_split(r, second + klen, (size_t)(end - second - klen), true, SIZE_MAX, t);
    return true;
}

/* The caption the trainer reads for item i, prefix and suffix joined, cut at its first line
 * break (*multiline says whether there was one), into r->buf; returns its length. *raw_len gets
 * the length of the caption alone. */
static size_t caption_build(stats_run *r, const dataset *ds, const ds_item *it, bool *cls,
                            size_t *raw_len, bool *multiline)
{
    const pipeline_opts *o = r->o;
    size_t n = 0, start;
    buf_add(r, &n, "", 0); /* a caption with no text still needs its "" */
    if (r->prefix_len) {
        buf_add(r, &n, o->caption_prefix, r->prefix_len);
        buf_add(r, &n, " ", 1);
    }
    start = n;
    const char *class_tokens = ds->folders[it->folder].class_tokens;
    *cls = !it->has_file && it->n_tags == 0 && is_set(class_tokens);
    if (*cls)
        buf_add(r, &n, class_tokens, strlen(class_tokens));
    for (uint32_t k = 0; k < it->n_tags; k++) {
        if (k)
            buf_add(r, &n, ", ", 2);
        buf_add(r, &n, dataset_tag(ds, it, k), dict_len(&ds->tags, it->tags[k]));
    }
    *raw_len = n - start;
    if (r->suffix_len) {
        buf_add(r, &n, " ", 1);
        buf_add(r, &n, o->caption_suffix, r->suffix_len);
    }
    if (r->oom)
        return 0;
    char *nl = memchr(r->buf, '\n', n);
    *multiline = nl != NULL;
    if (nl)
        *nl = '\0'; /* the separator search must not see the other lines either */
    return nl ? (size_t)(nl - r->buf) : n;
}

/* A verbatim caption: its own tags and its own bytes (the secondary separator still applies). */
static void verbatim_add(stats_run *r, const char *text, size_t n, double *tags, double *chars)
{
    tally t = {0};
    *chars = (double)replaced_len(r, text, n);
    const char *s = text;
    strip_span(&s, &n);
    tags_split(r, s, n, false, 0, &t);
    *tags = (double)t.flex_ne;
}

/* The closed forms of pipeline_stats.h, before caption dropout. */
static void processed_add(const stats_run *r, const tally *t, double *tags, double *chars)
{
    double p = r->o->caption_tag_dropout_rate, keep = 1.0 - p;
    double units = (double)t->fixed + keep * (double)t->flex;
    double none_left = t->fixed == 0 ? pow(p, (double)t->flex) : 0.0;
    *tags = (double)t->fixed_ne + keep * (double)t->flex_ne;
    *chars = (double)t->fixed_len + keep * (double)t->flex_len + 2.0 * (units - 1.0 + none_left);
}

static void caption_add(stats_run *r, pipeline_stats *st, const dataset *ds, const ds_item *it)
{
    const pipeline_opts *o = r->o;
    bool cls, multiline;
    size_t raw_len, n = caption_build(r, ds, it, &cls, &raw_len, &multiline);
    if (r->oom)
        return;
    r->caption++;
    r->sec_here = r->sec && strstr(r->buf, r->sec); /* the buffer ends at n; strstr is faster */
    st->n_captions++;
    st->n_class_tokens += cls;
    st->n_empty += raw_len == 0;
    if (o->enable_wildcard && (multiline || strpbrk(r->buf, "{}")))
        st->n_wildcard++;
    tally t = {0};
    bool pinned = caption_split(r, r->buf, n, &t);
    if (is_set(o->keep_tokens_separator))
        *(pinned ? &st->n_with_separator : &st->n_without_separator) += 1;
    if (raw_len && !pinned && t.fixed + t.flex < (size_t)o->keep_tokens)
        st->n_fewer_than_keep++;
    st->n_all_fixed += raw_len && t.flex_ne == 0;
    r->fixed_raw += (double)t.fixed_ne;
    double tags, chars;
    if (st->tags_processed) {
        processed_add(r, &t, &tags, &chars);
        r->tags_raw += (double)(t.fixed_ne + t.flex_ne);
    } else {
        verbatim_add(r, r->buf, n, &tags, &chars);
        r->tags_raw += tags;
    }
    r->tags += tags;
    r->chars += chars;
}

static int kept_cmp(const void *a, const void *b)
{
    const pipeline_kept_tag *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->tag, y->tag);
}

static int kept_list(stats_run *r, pipeline_stats *st)
{
    st->kept = calloc(r->kept.n ? r->kept.n : 1, sizeof *st->kept);
    if (!st->kept)
        return -1;
    for (uint32_t id = 0; id < r->kept.n; id++) {
        pipeline_kept_tag *k = &st->kept[st->n_kept++];
        k->count = r->count[id];
        if (!(k->tag = strdup(dict_str(&r->kept, id))))
            return -1;
    }
    qsort(st->kept, st->n_kept, sizeof *st->kept, kept_cmp);
    return 0;
}

static void means_set(const stats_run *r, pipeline_stats *st)
{
    double n = st->n_captions ? (double)st->n_captions : 1.0;
    double q = r->o->caption_dropout_rate;
    st->tags_mean = r->tags_raw / n;
    st->fixed_mean = r->fixed_raw / n;
    st->expected_tags = (1.0 - q) * r->tags / n;
    st->expected_chars = (1.0 - q) * r->chars / n;
    int every = r->o->caption_dropout_every_n_epochs;
    st->dropout_epoch_share = every > 0 ? 1.0 / every : 0.0;
}

int pipeline_stats_compute(const dataset *ds, const pipeline_opts *o, pipeline_stats *st,
                           tg_error *err)
{
    memset(st, 0, sizeof *st);
    if (pipeline_opts_validate(o, err) < 0)
        return -1;
    stats_run r = {.o = o, .sep = is_set(o->caption_separator) ? o->caption_separator : ","};
    r.seplen = strlen(r.sep);
    r.sec = is_set(o->secondary_separator) ? o->secondary_separator : NULL;
    r.seclen = r.sec ? strlen(r.sec) : 0;
    r.prefix_len = o->caption_prefix ? strlen(o->caption_prefix) : 0;
    r.suffix_len = o->caption_suffix ? strlen(o->caption_suffix) : 0;
    dict_init(&r.kept);
    st->tags_processed = o->shuffle_caption || o->caption_tag_dropout_rate > 0 ||
                         o->token_warmup_step > 0;
    for (size_t i = 0; i < ds->n_items && !r.oom; i++) {
        if (ds->items[i].locked)
            st->n_locked++;
        else
            caption_add(&r, st, ds, &ds->items[i]);
    }
    means_set(&r, st);
    int rc = r.oom || kept_list(&r, st) < 0 ? -1 : 0;
    free(r.buf);
    free(r.count);
    free(r.last);
    dict_free(&r.kept);
    if (rc < 0) {
        pipeline_stats_free(st);
        return error_set(err, "out of memory computing the caption statistics of %s", ds->root);
    }
    return 0;
}

void pipeline_stats_free(pipeline_stats *st)
{
    for (size_t i = 0; i < st->n_kept; i++)
        free(st->kept[i].tag);
    free(st->kept);
    memset(st, 0, sizeof *st);
}
