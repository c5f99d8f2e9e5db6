/* Dataset-wide caption statistics (pipeline_stats.h). One pass over the items: each caption's
 * expected figures are added up in closed form, so no random draw is needed. Most captions are
 * read straight from their tag ids (pipeline_stats_ids.c); the others take the text path here:
 * rebuilt from their tag ids into one reused buffer and split as pipeline_process splits them,
 * fixed tags interned into a private dict to count them. */
#include "tagger/pipeline_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/private/dict.h"
#include "tagger/private/pipeline_stats_path.h"
#include "tagger/private/py_space.h"

/* ---- the text path ---- */

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
        py_strip_span(&tag, &tn);
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
        py_strip_span(&text, &n);
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
static void verbatim_add(stats_run *r, const char *text, size_t n, caption_fig *f)
{
    tally t = {0};
    f->verbatim_chars = (double)replaced_len(r, text, n);
    const char *s = text;
    py_strip_span(&s, &n);
    tags_split(r, s, n, false, 0, &t);
    f->verbatim_tags = (double)t.flex_ne;
}

/* The closed forms of pipeline_stats.h, before caption dropout. */
static void processed_add(const stats_run *r, const tally *t, double *tags, double *chars)
{
    double p = r->o->caption_tag_dropout_rate, keep = 1.0 - p;
    double units = (double)t->fixed + keep * (double)t->flex;
    double none_left = t->fixed ? 0.0
                       : t->flex < POW_CACHED ? r->pow_p[t->flex] : pow(p, (double)t->flex);
    *tags = (double)t->fixed_ne + keep * (double)t->flex_ne;
    *chars = (double)t->fixed_len + keep * (double)t->flex_len + 2.0 * (units - 1.0 + none_left);
}

void stats_caption_count(stats_run *r, pipeline_stats *st, const caption_fig *f)
{
    const pipeline_opts *o = r->o;
    const tally *t = &f->t;
    st->n_captions++;
    st->n_empty += f->raw_len == 0;
    if (is_set(o->keep_tokens_separator))
        *(f->pinned ? &st->n_with_separator : &st->n_without_separator) += 1;
    if (f->raw_len && !f->pinned && t->fixed + t->flex < (size_t)o->keep_tokens)
        st->n_fewer_than_keep++;
    st->n_all_fixed += f->raw_len && t->flex_ne == 0;
    r->fixed_raw += (double)t->fixed_ne;
    double tags = f->verbatim_tags, chars = f->verbatim_chars;
    if (st->tags_processed) {
        processed_add(r, t, &tags, &chars);
        r->tags_raw += (double)(t->fixed_ne + t->flex_ne);
    } else {
        r->tags_raw += tags;
    }
    r->tags += tags;
    r->chars += chars;
}

static void caption_add(stats_run *r, pipeline_stats *st, const dataset *ds, const ds_item *it)
{
    bool cls, multiline;
    caption_fig f = {0};
    size_t n = caption_build(r, ds, it, &cls, &f.raw_len, &multiline);
    if (r->oom)
        return;
    r->caption++;
    r->sec_here = r->sec && strstr(r->buf, r->sec); /* the buffer ends at n; strstr is faster */
    st->n_class_tokens += cls;
    if (r->o->enable_wildcard && (multiline || strpbrk(r->buf, "{}")))
        st->n_wildcard++;
    f.pinned = caption_split(r, r->buf, n, &f.t);
    if (!st->tags_processed)
        verbatim_add(r, r->buf, n, &f);
    stats_caption_count(r, st, &f);
}

static uint64_t text_key(const char *s)
{
    uint64_t key = 0;
    for (int k = 0; k < 8 && s[k]; k++)
        key |= (uint64_t)(unsigned char)s[k] << (56 - 8 * k);
    return key;
}

/* By count (descending), then by text in strcmp's byte order (the key agrees with it). */
static int kept_cmp(const void *a, const void *b)
{
    const kept_src *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* The fixed tags of both paths, sorted, then copied out: the sort moves small records, and
 * only the list handed out holds copies of the text. */
static kept_src *kept_gather(const stats_run *r, const dataset *ds, size_t *n)
{
    kept_src *src = malloc((r->kept.n + stats_ids_kept(r, ds, NULL) + 1) * sizeof *src);
    if (!src)
        return NULL;
    *n = 0;
    for (uint32_t id = 0; id < r->kept.n; id++)
        if (r->count[id]) /* 0: moved over to the id path's count (stats_ids_end) */
            src[(*n)++] = (kept_src){r->count[id], 0, dict_str(&r->kept, id)};
    *n += stats_ids_kept(r, ds, src + *n);
    for (size_t k = 0; k < *n; k++)
        src[k].key = text_key(src[k].s);
    qsort(src, *n, sizeof *src, kept_cmp);
    return src;
}

static int kept_list(const stats_run *r, const dataset *ds, pipeline_stats *st)
{
    size_t n;
    kept_src *src = kept_gather(r, ds, &n);
    st->kept = src ? calloc(n ? n : 1, sizeof *st->kept) : NULL;
    int rc = st->kept ? 0 : -1;
    for (size_t k = 0; k < n && rc == 0; k++) {
        pipeline_kept_tag *t = &st->kept[st->n_kept++];
        t->count = src[k].count;
        if (!(t->tag = strdup(src[k].s)))
            rc = -1;
    }
    free(src);
    return rc;
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

static void run_init(stats_run *r, const pipeline_opts *o)
{
    *r = (stats_run){.o = o, .sep = is_set(o->caption_separator) ? o->caption_separator : ","};
    r->seplen = strlen(r->sep);
    r->sec = is_set(o->secondary_separator) ? o->secondary_separator : NULL;
    r->seclen = r->sec ? strlen(r->sec) : 0;
    r->prefix_len = o->caption_prefix ? strlen(o->caption_prefix) : 0;
    r->suffix_len = o->caption_suffix ? strlen(o->caption_suffix) : 0;
    for (int m = 0; m < POW_CACHED; m++)
        r->pow_p[m] = pow(o->caption_tag_dropout_rate, (double)m);
    dict_init(&r->kept);
}

static void run_free(stats_run *r)
{
    stats_ids_free(r);
    free(r->buf);
    free(r->count);
    free(r->last);
    dict_free(&r->kept);
}

/* Each caption by its ids where that is exact, as text where not (pipeline_stats_path.h). */
static void run_items(stats_run *r, pipeline_stats *st, const dataset *ds)
{
    r->oom = stats_ids_begin(r, ds) < 0;
    for (size_t i = 0; i < ds->n_items && !r->oom; i++) {
        const ds_item *it = &ds->items[i];
        if (it->locked)
            st->n_locked++;
        else if (!stats_ids_caption(r, st, it))
            caption_add(r, st, ds, it);
    }
    if (!r->oom)
        stats_ids_end(r, ds);
}

int pipeline_stats_compute(const dataset *ds, const pipeline_opts *o, pipeline_stats *st,
                           tg_error *err)
{
    memset(st, 0, sizeof *st);
    if (pipeline_opts_validate(o, err) < 0)
        return -1;
    stats_run r;
    run_init(&r, o);
    st->tags_processed = o->shuffle_caption || o->caption_tag_dropout_rate > 0 ||
                         o->token_warmup_step > 0;
    run_items(&r, st, ds);
    means_set(&r, st);
    int rc = r.oom || kept_list(&r, ds, st) < 0 ? -1 : 0;
    run_free(&r);
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
