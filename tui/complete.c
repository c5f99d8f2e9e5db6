/* Tag completion (complete.h). A query runs on every key press, so it is a few lookups in tables
 * built beforehand, never a pass over every string of a 150,000-row CSV: the dataset's folded tags
 * are one buffer searched with memmem (ids in order, so a hit's id is found by walking forward);
 * the CSV is searched by binary search for prefixes, word prefixes and aliases, and for substrings
 * only when those left room in the list, through the entries that hold the typed text's rarest
 * byte pair. Those come in post-count order, so the walk stops as soon as nothing later could make
 * the list. The best `max` candidates are kept in a small sorted array. */
#include "tui/complete.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* Groups, best first (the ranking in complete.h), and tiers within the first two. */
enum { G_DATASET, G_CSV, G_DATASET_SUBSTRING, G_CSV_SUBSTRING };
enum { T_PREFIX, T_ALIAS, T_WORD, T_SUBSTRING = -1 };
enum { STYLE_SPACE = 1, STYLE_UNDERSCORE = 2 };

typedef struct cand {
    uint64_t key;   /* (group * 4 + tier) << 32 | (UINT32_MAX - count): smaller is better */
    uint32_t id;    /* dataset tag id, or CSV entry when csv */
    uint32_t alias; /* index in csv->aliases when matched through one; NONE otherwise */
    bool csv;
} cand;

struct completer {
    const dataset *ds;
    tag_csv *csv;
    /* per dataset tag id, computed once (an id's text never changes) */
    char *dfold;         /* folded tags, each followed by '\0', in id order */
    size_t dfold_len, dfold_cap;
    uint32_t *doff;      /* id -> offset of its fold in dfold; doff[n_known] = dfold_len */
    uint32_t *dcsv;      /* id -> CSV entry with the same fold, or NONE */
    uint32_t *dnext;     /* id -> next id with the same CSV entry, or NONE */
    uint8_t *dstyle;     /* id -> STYLE_* bits of a tag longer than 3 characters */
    uint32_t n_known;
    size_t cap_known;
    uint32_t *csv_first; /* CSV entry -> first dataset id with its fold, or NONE */
    /* per query */
    char *typed;
    size_t typed_len, typed_cap;
    char *xfold;         /* the excluded tags folded, each followed by '\0' */
    size_t xfold_cap;
    uint32_t *xlen;
    size_t x_n, x_cap;
    cand *list;
    size_t n_list, max, list_cap;
    char *out;           /* CSV suggestions written in the dataset's style */
    size_t out_cap;
};

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(*p, ncap * size);
    if (!q)
        return false;
    *p = q;
    *cap = ncap;
    return true;
}

static uint64_t key_of(int group, int tier, uint32_t count)
{
    return (uint64_t)(group * 4 + tier) << 32 | (UINT32_MAX - count);
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* ---- what is known per dataset tag id ---- */

static uint8_t style_bits(const char *s, size_t len)
{
    if (utf8_chars(s, len) <= 3)
        return 0; /* emoticons such as ^_^ say nothing about the dataset's style */
    return (memchr(s, ' ', len) ? STYLE_SPACE : 0) | (memchr(s, '_', len) ? STYLE_UNDERSCORE : 0);
}

static bool cache_reserve(completer *c, size_t n)
{
    if (n + 1 <= c->cap_known)
        return true;
    size_t cap = c->cap_known ? c->cap_known : 1024;
    while (cap < n + 1)
        cap *= 2;
    uint32_t *doff = realloc(c->doff, cap * sizeof *doff);
    if (doff)
        c->doff = doff;
    uint32_t *dcsv = doff ? realloc(c->dcsv, cap * sizeof *dcsv) : NULL;
    if (dcsv)
        c->dcsv = dcsv;
    uint32_t *dnext = dcsv ? realloc(c->dnext, cap * sizeof *dnext) : NULL;
    if (dnext)
        c->dnext = dnext;
    uint8_t *dstyle = dnext ? realloc(c->dstyle, cap) : NULL;
    if (!dstyle)
        return false; /* the arrays that did grow are merely larger than cap_known says */
    c->dstyle = dstyle;
    c->cap_known = cap;
    return true;
}

/* Takes in the ids the dataset gained since the last query (edits add tags). */
static int cache_refresh(completer *c)
{
    const dict *d = &c->ds->tags;
    if (d->n == c->n_known)
        return 0;
    if (!cache_reserve(c, d->n))
        return -1;
    for (uint32_t id = c->n_known; id < d->n; id++) {
        size_t len = dict_len(d, id);
        if (!grow((void **)&c->dfold, &c->dfold_cap, c->dfold_len + len + 1, 1))
            return -1;
        char *fold = c->dfold + c->dfold_len;
        tag_fold(fold, dict_str(d, id), len);
        fold[len] = '\0';
        c->dstyle[id] = style_bits(dict_str(d, id), len);
        c->dcsv[id] = c->csv ? tag_csv_find(c->csv, fold, len) : NONE;
        c->dnext[id] = NONE;
        if (c->dcsv[id] != NONE) {
            c->dnext[id] = c->csv_first[c->dcsv[id]];
            c->csv_first[c->dcsv[id]] = id;
        }
        c->dfold_len += len + 1;
        c->doff[id + 1] = (uint32_t)c->dfold_len;
        c->n_known = id + 1;
    }
    return 0;
}

/* ---- life ---- */

completer *completer_new(const dataset *ds, const char *csv_path, tg_error *err)
{
    completer *c = calloc(1, sizeof *c);
    if (!c) {
        error_set(err, "out of memory");
        return NULL;
    }
    c->ds = ds;
    if (csv_path && !(c->csv = tag_csv_read(csv_path, err))) {
        completer_free(c);
        return NULL;
    }
    if (c->csv) {
        c->csv_first = malloc(sizeof *c->csv_first * (c->csv->n ? c->csv->n : 1));
        if (c->csv_first)
            memset(c->csv_first, 0xff, sizeof *c->csv_first * c->csv->n); /* NONE */
    }
    bool ok = (!c->csv || c->csv_first) && cache_reserve(c, 0);
    if (ok)
        c->doff[0] = 0;
    if (!ok || cache_refresh(c) < 0) {
        error_set(err, "out of memory");
        completer_free(c);
        return NULL;
    }
    return c;
}

void completer_free(completer *c)
{
    if (!c)
        return;
    tag_csv_free(c->csv);
    free(c->dfold);
    free(c->doff);
    free(c->dcsv);
    free(c->dnext);
    free(c->dstyle);
    free(c->csv_first);
    free(c->typed);
    free(c->xfold);
    free(c->xlen);
    free(c->list);
    free(c->out);
    free(c);
}

/* ---- the query's inputs ---- */

/* Folds the typed text into c->typed; false when it holds a control character. */
static bool typed_set(completer *c, const char *typed)
{
    while (*typed == ' ' || *typed == '\t')
        typed++;
    size_t len = strlen(typed);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)typed[i] < 0x20 || typed[i] == 0x7f)
            return false;
    if (!grow((void **)&c->typed, &c->typed_cap, len + 1, 1))
        return false;
    tag_fold(c->typed, typed, len);
    c->typed[len] = '\0';
    c->typed_len = len;
    return true;
}

static bool exclude_set(completer *c, const char *const *exclude, size_t n)
{
    size_t bytes = 1;
    for (size_t i = 0; i < n; i++)
        bytes += exclude[i] ? strlen(exclude[i]) + 1 : 1;
    if (!grow((void **)&c->xfold, &c->xfold_cap, bytes, 1) ||
        !grow((void **)&c->xlen, &c->x_cap, n + 1, sizeof *c->xlen))
        return false;
    char *w = c->xfold;
    for (size_t i = 0; i < n; i++) {
        const char *s = exclude[i] ? exclude[i] : "";
        size_t len = strlen(s);
        while (len && (*s == ' ' || *s == '\t'))
            s++, len--;
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        tag_fold(w, s, len);
        w[len] = '\0';
        c->xlen[i] = (uint32_t)len;
        w += len + 1;
    }
    c->x_n = n;
    return true;
}

static const char *cand_fold(const completer *c, const cand *k, size_t *len)
{
    if (k->csv) {
        *len = c->csv->entries[k->id].len;
        return c->csv->entries[k->id].fold;
    }
    *len = c->doff[k->id + 1] - c->doff[k->id] - 1;
    return c->dfold + c->doff[k->id];
}

static bool cand_excluded(const completer *c, const cand *k)
{
    size_t len;
    const char *fold = cand_fold(c, k, &len), *x = c->xfold;
    for (size_t i = 0; i < c->x_n; x += c->xlen[i++] + 1)
        if (c->xlen[i] == len && memcmp(x, fold, len) == 0)
            return true;
    return false;
}

/* ---- the list of the best candidates ---- */

static bool cand_better(const completer *c, const cand *a, const cand *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    if (a->csv) /* same key, same group: both CSV entries, which are in (count, name) order */
        return a->id < b->id;
    return strcmp(dict_str(&c->ds->tags, a->id), dict_str(&c->ds->tags, b->id)) < 0;
}

/* True when the list is full and nothing with this key (or a worse one) can enter it. */
static bool hopeless(const completer *c, uint64_t key)
{
    return c->n_list == c->max && c->list[c->max - 1].key < key;
}

static void offer(completer *c, cand k)
{
    if (c->n_list == c->max && !cand_better(c, &k, &c->list[c->max - 1]))
        return;
    if (cand_excluded(c, &k))
        return;
    for (size_t i = 0; i < c->n_list; i++) {
        if (c->list[i].id != k.id || c->list[i].csv != k.csv)
            continue;
        if (!cand_better(c, &k, &c->list[i]))
            return; /* already there, matched at least as well */
        memmove(&c->list[i], &c->list[i + 1], (c->n_list - i - 1) * sizeof *c->list);
        c->n_list--;
        break;
    }
    size_t pos = c->n_list;
    while (pos > 0 && cand_better(c, &k, &c->list[pos - 1]))
        pos--;
    size_t kept = c->n_list < c->max ? c->n_list : c->max - 1;
    memmove(&c->list[pos + 1], &c->list[pos], (kept - pos) * sizeof *c->list);
    c->list[pos] = k;
    if (c->n_list < c->max)
        c->n_list++;
}

/* ---- matching ---- */

/* How t (found first at hit, inside s[0..len)) matches s: a prefix, a later word's prefix, or
 * only as a substring. Positions before hit cannot match: hit is the first occurrence. */
static int match_tier(const char *s, size_t len, const char *hit, const char *t, size_t tlen)
{
    if (hit == s)
        return T_PREFIX;
    const char *e = s + len;
    for (const char *q = hit;;) {
        if (q[-1] == ' ' && (size_t)(e - q) >= tlen && memcmp(q, t, tlen) == 0)
            return T_WORD;
        const char *sp = memchr(q, ' ', (size_t)(e - q));
        if (!sp)
            return T_SUBSTRING;
        q = sp + 1;
    }
}

static void dataset_common(completer *c)
{
    for (uint32_t id = 0; id < c->n_known; id++) {
        uint32_t n = dataset_occurrence(c->ds, id);
        if (n && !hopeless(c, key_of(G_DATASET, T_PREFIX, n)))
            offer(c, (cand){key_of(G_DATASET, T_PREFIX, n), id, NONE, false});
    }
}

static void dataset_search(completer *c)
{
    const char *buf = c->dfold, *end = buf + c->dfold_len;
    uint32_t id = 0;
    const char *hit;
    for (const char *p = buf; p < end && (hit = memmem(p, (size_t)(end - p), c->typed, c->typed_len));) {
        while (c->doff[id + 1] <= (uint32_t)(hit - buf))
            id++;
        const char *s = buf + c->doff[id];
        p = buf + c->doff[id + 1]; /* one look per tag */
        uint32_t n = dataset_occurrence(c->ds, id);
        if (!n || hopeless(c, key_of(G_DATASET, T_PREFIX, n)))
            continue;
        int tier = match_tier(s, c->doff[id + 1] - c->doff[id] - 1, hit, c->typed, c->typed_len);
        uint64_t key = tier == T_SUBSTRING ? key_of(G_DATASET_SUBSTRING, 0, n) : key_of(G_DATASET, tier, n);
        offer(c, (cand){key, id, NONE, false});
    }
}

/* CSV entry e matched. A tag the dataset carries under the same fold is offered as the dataset's
 * own (through an alias; a direct match found it in the dataset already), never in the CSV's
 * spelling. */
static void csv_entry_offer(completer *c, uint32_t e, int group, int tier, uint32_t alias)
{
    uint64_t key = key_of(group, tier, c->csv->entries[e].count);
    if (alias == NONE && hopeless(c, key))
        return;
    bool carried = false;
    for (uint32_t id = c->csv_first[e]; id != NONE; id = c->dnext[id]) {
        uint32_t n = dataset_occurrence(c->ds, id);
        carried |= n > 0;
        if (n && alias != NONE)
            offer(c, (cand){key_of(G_DATASET, T_ALIAS, n), id, alias, false});
    }
    if (!carried)
        offer(c, (cand){key, e, alias, true});
}

static void csv_keys_offer(completer *c, const tag_csv_key *keys, size_t n, int tier)
{
    size_t first, hits = tag_csv_prefix(keys, n, c->typed, c->typed_len, &first);
    for (size_t i = first; i < first + hits; i++)
        csv_entry_offer(c, keys[i].entry, G_CSV, tier, tier == T_ALIAS ? (uint32_t)i : NONE);
}

static uint32_t pair_of_typed(const completer *c, size_t i)
{
    return (uint32_t)(unsigned char)c->typed[i] << 8 | (unsigned char)c->typed[i + 1];
}

/* Entries are in post-count order: once entry e cannot make the list, no later one can. */
static bool csv_substring_offer(completer *c, uint32_t e, const char *hit)
{
    const tag_csv_entry *en = &c->csv->entries[e];
    if (hopeless(c, key_of(G_CSV_SUBSTRING, 0, en->count)))
        return false;
    if (hit && match_tier(en->fold, en->len, hit, c->typed, c->typed_len) == T_SUBSTRING)
        csv_entry_offer(c, e, G_CSV_SUBSTRING, 0, NONE); /* prefix and word hits came earlier */
    return true;
}

/* One typed character: one memchr-speed pass over the folds, in entry order. */
static void csv_substrings_1(completer *c)
{
    const tag_csv *t = c->csv;
    const char *end = t->folded + t->folded_len, *hit;
    uint32_t e = 0;
    for (const char *p = t->folded; p < end && (hit = memchr(p, c->typed[0], (size_t)(end - p)));) {
        while (t->entries[e].fold + t->entries[e].len < hit)
            e++;
        if (!csv_substring_offer(c, e, hit))
            break;
        p = t->entries[e].fold + t->entries[e].len + 1;
    }
}

/* More: only the entries that hold the typed text's rarest byte pair. */
static void csv_substrings(completer *c)
{
    const tag_csv *t = c->csv;
    uint32_t best = pair_of_typed(c, 0);
    for (size_t i = 1; i + 1 < c->typed_len; i++) {
        uint32_t p = pair_of_typed(c, i);
        if (t->pair_start[p + 1] - t->pair_start[p] < t->pair_start[best + 1] - t->pair_start[best])
            best = p;
    }
    for (uint32_t k = t->pair_start[best]; k < t->pair_start[best + 1]; k++) {
        const tag_csv_entry *en = &t->entries[t->pair_entries[k]];
        if (!csv_substring_offer(c, t->pair_entries[k], memmem(en->fold, en->len, c->typed, c->typed_len)))
            break;
    }
}

static void csv_search(completer *c)
{
    const tag_csv *t = c->csv;
    /* each stage only when something it could find would still make the list */
    if (!hopeless(c, key_of(G_CSV, T_PREFIX, UINT32_MAX)))
        csv_keys_offer(c, t->by_name, t->n, T_PREFIX);
    if (!hopeless(c, key_of(G_DATASET, T_ALIAS, UINT32_MAX)))
        csv_keys_offer(c, t->aliases, t->n_aliases, T_ALIAS);
    if (!hopeless(c, key_of(G_CSV, T_WORD, UINT32_MAX)))
        csv_keys_offer(c, t->words, t->n_words, T_WORD);
    if (t->n && !hopeless(c, key_of(G_CSV_SUBSTRING, 0, UINT32_MAX))) {
        if (c->typed_len == 1)
            csv_substrings_1(c);
        else
            csv_substrings(c);
    }
}

/* ---- the answer ---- */

tag_style completer_style(completer *c)
{
    size_t spaces = 0, underscores = 0;
    cache_refresh(c); /* out of memory: judge by the tags known so far */
    for (uint32_t id = 0; id < c->n_known; id++) {
        if (!c->dstyle[id] || !dataset_occurrence(c->ds, id))
            continue;
        spaces += (c->dstyle[id] & STYLE_SPACE) != 0;
        underscores += (c->dstyle[id] & STYLE_UNDERSCORE) != 0;
    }
    return underscores > spaces ? TAG_STYLE_UNDERSCORES : TAG_STYLE_SPACES;
}

/* name written in style into dst (NUL-terminated); short tags as they are. */
static void style_write(char *dst, const char *name, size_t len, tag_style style)
{
    memcpy(dst, name, len);
    dst[len] = '\0';
    if (utf8_chars(name, len) <= 3)
        return;
    char from = style == TAG_STYLE_SPACES ? '_' : ' ', to = style == TAG_STYLE_SPACES ? ' ' : '_';
    for (size_t i = 0; i < len; i++)
        if (dst[i] == from)
            dst[i] = to;
}

static void completion_csv_info(const completer *c, uint32_t e, completion *o)
{
    o->csv_count = e != NONE ? c->csv->entries[e].count : 0;
    o->csv_type = e != NONE ? c->csv->entries[e].type : -1;
}

static size_t list_emit(completer *c, completion *out)
{
    size_t bytes = 0;
    for (size_t i = 0; i < c->n_list; i++)
        bytes += c->list[i].csv ? c->csv->entries[c->list[i].id].len + 1 : 0;
    if (!grow((void **)&c->out, &c->out_cap, bytes + 1, 1))
        return 0;
    tag_style style = bytes ? completer_style(c) : TAG_STYLE_SPACES;
    char *w = c->out;
    for (size_t i = 0; i < c->n_list; i++) {
        const cand *k = &c->list[i];
        completion *o = &out[i];
        o->alias_of_typed = k->alias != NONE ? c->csv->aliases[k->alias].text : NULL;
        if (k->csv) {
            const tag_csv_entry *en = &c->csv->entries[k->id];
            style_write(w, en->name, en->len, style);
            o->text = w;
            o->count = 0;
            w += en->len + 1;
            completion_csv_info(c, k->id, o);
        } else {
            o->text = dict_str(&c->ds->tags, k->id);
            o->count = UINT32_MAX - (uint32_t)k->key;
            completion_csv_info(c, c->dcsv[k->id], o);
        }
    }
    return c->n_list;
}

size_t completer_query(completer *c, const char *typed, const char *const *exclude, size_t n_exclude,
                       completion *out, size_t max)
{
    c->n_list = 0;
    if (!out || !max || !typed || cache_refresh(c) < 0 || !typed_set(c, typed) ||
        !exclude_set(c, exclude, exclude ? n_exclude : 0) ||
        !grow((void **)&c->list, &c->list_cap, max, sizeof *c->list))
        return 0;
    c->max = max;
    if (!c->typed_len) {
        dataset_common(c);
    } else {
        dataset_search(c);
        if (c->csv)
            csv_search(c);
    }
    return list_emit(c, out);
}

completer_csv_info completer_csv(const completer *c)
{
    completer_csv_info info = {0};
    if (c && c->csv) {
        info.tags = c->csv->n;
        info.aliases = c->csv->n_aliases;
        info.rows = c->csv->rows;
        info.skipped = c->csv->skipped;
        info.first_skip = c->csv->skipped ? c->csv->first_skip : NULL;
    }
    return info;
}
