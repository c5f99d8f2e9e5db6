/* The id path of pipeline_stats_compute (pipeline_stats_path.h): a caption's figures from its tag
 * ids alone, where that gives exactly what the text path would. Rebuilding 100k captions as text
 * and splitting them again was most of the pass; here a caption costs a few array reads per tag.
 *
 * Why it is exact. A caption is its tags joined by ", ", and the text path splits it on
 * caption_separator and strips each piece. With the separator ",", no prefix or suffix, and
 * every tag "plain" (below), the pieces are the tags themselves, in order, none empty; no
 * keep_tokens_separator, secondary separator, line break or wildcard brace is anywhere in the
 * text (a separator free of ',' and ' ' cannot straddle a ", " joint, so it would have to lie
 * inside a tag); so the caption is split by keep_tokens, its first keep_tokens tags are fixed,
 * and each tag counts its own length. Anything else (another separator, a prefix or suffix, an
 * empty caption, class tokens, an odd tag) goes to the text path, caption by caption. */
#include <stdlib.h>
#include <string.h>

#include "tagger/private/pipeline_stats_path.h"
#include "tagger/private/py_space.h"

static bool ids_on = true;
static size_t *ids_taken;

void pipeline_stats_ids_test(bool on, size_t *taken)
{
    ids_on = on;
    ids_taken = taken;
}

/* A separator the text path looks for in the whole caption: one with ',' or ' ' could match
 * across a joint, which no single tag shows. */
static bool sep_joint_free(const char *s)
{
    return !s || !*s || !strpbrk(s, ", ");
}

static bool options_allow(const stats_run *r)
{
    return ids_on && !r->prefix_len && !r->suffix_len && strcmp(r->sep, ",") == 0 &&
           sep_joint_free(r->o->keep_tokens_separator) && sep_joint_free(r->sec);
}

static bool holds(const char *s, size_t n, const char *needle)
{
    return needle && *needle && memmem(s, n, needle, strlen(needle)) != NULL;
}

/* A tag that the joined caption gives back unchanged as one piece, that the text path would
 * count as it is: not empty, no ',' (the separator), no line break (the caption ends at the
 * first) or NUL (the text path's strstr would stop there), no wildcard brace when wildcards are
 * on, neither separator inside, and nothing Python's strip would take off its ends (the
 * dataset trims only ASCII blanks, so a tag may well start with U+3000). */
static bool tag_plain(const stats_run *r, const char *s, size_t n)
{
    const pipeline_opts *o = r->o;
    if (!n || memchr(s, ',', n) || memchr(s, '\n', n) || memchr(s, '\0', n))
        return false;
    if (o->enable_wildcard && (memchr(s, '{', n) || memchr(s, '}', n)))
        return false;
    if (holds(s, n, o->keep_tokens_separator) || holds(s, n, r->sec))
        return false;
    const char *t = s;
    size_t tn = n;
    py_strip_span(&t, &tn);
    return tn == n;
}

int stats_ids_begin(stats_run *r, const dataset *ds)
{
    if (!options_allow(r))
        return 0;
    uint32_t n = dataset_n_tags(ds);
    r->plain_len = malloc((n ? n : 1) * sizeof *r->plain_len);
    if (!r->plain_len)
        return -1;
    for (uint32_t id = 0; id < n; id++) {
        const char *s = dict_str(&ds->tags, id);
        uint32_t len = dict_len(&ds->tags, id);
        r->plain_len[id] = len <= UINT16_MAX && tag_plain(r, s, len) ? (uint16_t)len : 0;
    }
    if (r->o->keep_tokens == 0)
        return 0; /* nothing is ever fixed on this path: no counts to keep */
    r->id_count = calloc(n ? n : 1, sizeof *r->id_count);
    r->id_last = calloc(n ? n : 1, sizeof *r->id_last);
    return r->id_count && r->id_last ? 0 : -1;
}

/* Counts a fixed tag for this caption, once however often the caption fixes it. */
static void id_kept(stats_run *r, uint32_t id)
{
    if (r->id_last[id] != r->caption) {
        r->id_last[id] = r->caption;
        r->id_count[id]++;
    }
}

bool stats_ids_caption(stats_run *r, pipeline_stats *st, const ds_item *it)
{
    if (!r->plain_len || it->n_tags == 0)
        return false; /* an empty caption may be class tokens, and is one empty tag otherwise */
    size_t total = 0;
    for (uint32_t k = 0; k < it->n_tags; k++) {
        uint32_t len = r->plain_len[it->tags[k]];
        if (!len)
            return false;
        total += len;
    }
    r->caption++;
    r->ids_taken++;
    size_t n = it->n_tags, keep = (size_t)r->o->keep_tokens < n ? (size_t)r->o->keep_tokens : n;
    caption_fig f = {.raw_len = total + 2 * (n - 1)};
    for (size_t k = 0; k < keep; k++) {
        f.t.fixed_len += r->plain_len[it->tags[k]];
        id_kept(r, it->tags[k]);
    }
    f.t.fixed = f.t.fixed_ne = keep;
    f.t.flex = f.t.flex_ne = n - keep;
    f.t.flex_len = total - f.t.fixed_len;
    f.verbatim_tags = (double)n;
    f.verbatim_chars = (double)f.raw_len;
    stats_caption_count(r, st, &f);
    return true;
}

void stats_ids_end(stats_run *r, const dataset *ds)
{
    if (ids_taken)
        *ids_taken += r->ids_taken;
    for (uint32_t k = 0; r->id_count && k < r->kept.n; k++) {
        uint32_t id = dict_find(&ds->tags, dict_str(&r->kept, k), dict_len(&r->kept, k));
        if (id != DICT_NONE && r->count[k]) {
            r->id_count[id] += r->count[k];
            r->count[k] = 0;
        }
    }
}

size_t stats_ids_kept(const stats_run *r, const dataset *ds, kept_src *out)
{
    size_t n = 0;
    for (uint32_t id = 0; r->id_count && id < dataset_n_tags(ds); id++) {
        if (!r->id_count[id])
            continue;
        if (out)
            out[n] = (kept_src){r->id_count[id], 0, dict_str(&ds->tags, id)};
        n++;
    }
    return n;
}

void stats_ids_free(stats_run *r)
{
    free(r->plain_len);
    free(r->id_count);
    free(r->id_last);
    r->plain_len = NULL;
    r->id_count = r->id_last = NULL;
}
