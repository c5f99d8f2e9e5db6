/* The caption pipeline, step for step as kohya sd-scripts' BaseDataset.process_caption
 * (reference/trainers.md §1.3) and read_caption (§1.1). Strings are bytes; "whitespace" is what
 * Python's str.strip() removes (ASCII and the Unicode spaces, decoded from UTF-8), because kohya
 * strips Python str objects.
 *
 * Random draws, in this order (kohya's order, so that the same options consume the stream the
 * same way; our numbers differ from Python's, the distributions do not):
 *   1. caption dropout: one rng_uniform, only when caption_dropout_rate > 0; a dropped caption
 *      returns "" and draws nothing more;
 *   2. wildcards (enable_wildcard): one rng_below(number of lines) when the caption has a "\n",
 *      then one rng_below(alternatives) per {a|b} group, left to right;
 *   3. shuffle (shuffle_caption): Python's random.shuffle order, i = n-1 down to 1,
 *      j = rng_below(i + 1), swap flex[i] and flex[j];
 *   4. tag dropout: one rng_uniform per flex tag left after the shuffle, in output order, only
 *      when caption_tag_dropout_rate > 0.
 * Token warm-up draws nothing. Every stage takes ownership of the malloc'd text it is given and
 * returns the next text, or NULL (having freed its input) when memory runs out. */
#include "tagger/pipeline.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/private/py_space.h"

/* ---- a growable byte buffer: errors are sticky, checked once at the end ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sbuf_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sbuf_addc(sbuf *b, char c)
{
    sbuf_add(b, &c, 1);
}

/* The NUL-terminated text ("" when nothing was added), or NULL after an allocation failure. */
static char *sbuf_finish(sbuf *b)
{
    if (!b->oom && !b->p)
        sbuf_add(b, "", 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

/* ---- token lists: slices of the caption text ---- */

typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct span_list {
    span *v;
    size_t n, cap;
} span_list;

static int spans_push(span_list *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        span *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (span){p, n};
    return 0;
}

/* [t.strip() for t in s.split(sep)], leaving out empty tokens when drop_empty (kohya does in
 * the keep_tokens_separator branch, not in the keep_tokens one). */
static int split_tags(const char *s, size_t n, const char *sep, bool drop_empty, span_list *out)
{
    size_t seplen = strlen(sep);
    for (;;) {
        const char *hit = memmem(s, n, sep, seplen);
        size_t len = hit ? (size_t)(hit - s) : n;
        const char *t = s;
        size_t tn = len;
        py_strip_span(&t, &tn);
        if ((tn || !drop_empty) && spans_push(out, t, tn) < 0)
            return -1;
        if (!hit)
            return 0;
        s += len + seplen;
        n -= len + seplen;
    }
}

/* ---- option helpers ---- */

static const char *separator_of(const pipeline_opts *o)
{
    /* "" would make kohya's str.split raise; validation refuses it, this keeps a caller that
     * skipped validation away from an endless loop. */
    return o->caption_separator && *o->caption_separator ? o->caption_separator : ",";
}

static bool is_set(const char *s)
{
    return s && *s;
}

/* ---- stage 1: prefix and suffix, joined with a single space ---- */

static char *affixes_join(const char *caption, const pipeline_opts *o)
{
    sbuf b = {0};
    if (is_set(o->caption_prefix)) {
        sbuf_add(&b, o->caption_prefix, strlen(o->caption_prefix));
        sbuf_addc(&b, ' ');
    }
    sbuf_add(&b, caption, strlen(caption));
    if (is_set(o->caption_suffix)) {
        sbuf_addc(&b, ' ');
        sbuf_add(&b, o->caption_suffix, strlen(o->caption_suffix));
    }
    return sbuf_finish(&b);
}

/* ---- stage 2: whole-caption dropout ---- */

static bool dropout_decide(const pipeline_opts *o, const pipeline_when *w, rng *r)
{
    /* The draw comes first and only when the rate is on, as in kohya's short-circuit `and`. */
    bool drop = o->caption_dropout_rate > 0 && rng_uniform(r) < o->caption_dropout_rate;
    int every = o->caption_dropout_every_n_epochs;
    return drop || (every > 0 && w->epoch % every == 0);
}

/* ---- stage 3: one line, wildcards ---- */

static char *first_line_keep(char *text)
{
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    return text;
}

/* random.choice(text.split("\n")), done in place. */
static void line_choose(char *text, rng *r)
{
    size_t lines = 1;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    if (lines == 1)
        return;
    size_t k = (size_t)rng_below(r, lines);
    char *start = text;
    while (k--)
        start = strchr(start, '\n') + 1;
    size_t len = strcspn(start, "\n");
    memmove(text, start, len);
    text[len] = '\0';
}

/* Escaped braces become codes no byte can take, as kohya swaps `{{`/`}}` for characters that
 * are not in the caption: the group pattern then cannot see them, and they turn back into
 * single braces on output. */
enum { CODE_OPEN = 256, CODE_CLOSE = 257 };

static uint16_t *braces_escape(const char *text, size_t *ncodes)
{
    size_t len = strlen(text), n = 0;
    uint16_t *codes = malloc((len ? len : 1) * sizeof *codes);
    if (!codes)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '{' && text[i + 1] == '{')
            codes[n++] = CODE_OPEN, i++;
        else if (text[i] == '}' && text[i + 1] == '}')
            codes[n++] = CODE_CLOSE, i++;
        else
            codes[n++] = (unsigned char)text[i];
    }
    *ncodes = n;
    return codes;
}

static void code_emit(sbuf *b, uint16_t c)
{
    sbuf_addc(b, c == CODE_OPEN ? '{' : c == CODE_CLOSE ? '}' : (char)c);
}

/* random.choice(group.split("|")) for the codes between a group's braces. */
static void group_choose(const uint16_t *g, size_t n, rng *r, sbuf *out)
{
    size_t alts = 1;
    for (size_t i = 0; i < n; i++)
        alts += g[i] == '|';
    size_t k = (size_t)rng_below(r, alts), i = 0;
    for (; k; i++)
        k -= g[i] == '|';
    for (; i < n && g[i] != '|'; i++)
        code_emit(out, g[i]);
}

/* re.sub(r"\{([^}]+)\}", choice, text): a `{` opens a group when a `}` follows it with at least
 * one character in between; otherwise it is literal and the search moves on by one. */
static void groups_substitute(const uint16_t *c, size_t n, rng *r, sbuf *out)
{
    size_t close = 0; /* the first `}` after i, or n: it only moves forward as i does */
    for (size_t i = 0; i < n;) {
        if (c[i] == '{') {
            if (close <= i)
                for (close = i + 1; close < n && c[close] != '}';)
                    close++;
            if (close < n && close > i + 1) {
                group_choose(c + i + 1, close - i - 1, r, out);
                i = close + 1;
                continue;
            }
        }
        code_emit(out, c[i++]);
    }
}

static char *wildcards_apply(char *text, rng *r)
{
    if (strchr(text, '\n'))
        line_choose(text, r);
    size_t n;
    uint16_t *codes = braces_escape(text, &n);
    free(text);
    if (!codes)
        return NULL;
    sbuf out = {0};
    groups_substitute(codes, n, r, &out);
    free(codes);
    return sbuf_finish(&out);
}

/* ---- stage 4: tags (fixed / flex / fixed suffix) ---- */

/* The three parts lie one after the other in all.v: fixed, then flex, then the fixed suffix. */
typedef struct tag_parts {
    span_list all;
    size_t nfixed, nflex, nsuffix;
} tag_parts;


/* `fixed ||| flex ||| suffix`: split at the separator's first occurrence, then at its next one
 * if any (a third one stays inside the suffix text); empty tags are left out. */
static int parts_split_pinned(const char *text, const char *kts, const char *sep, tag_parts *t)
{
    size_t klen = strlen(kts);
    const char *flex = strstr(text, kts) + klen;
    const char *suffix = strstr(flex, kts);
    const char *flex_end = suffix ? suffix : flex + strlen(flex);
    if (split_tags(text, (size_t)(flex - klen - text), sep, true, &t->all) < 0)
        return -1;
    t->nfixed = t->all.n;
    if (split_tags(flex, (size_t)(flex_end - flex), sep, true, &t->all) < 0)
        return -1;
    t->nflex = t->all.n - t->nfixed;
    if (suffix && split_tags(suffix + klen, strlen(suffix + klen), sep, true, &t->all) < 0)
        return -1;
    t->nsuffix = t->all.n - t->nfixed - t->nflex;
    return 0;
}

static int parts_split(const char *text, const pipeline_opts *o, tag_parts *t)
{
    const char *sep = separator_of(o);
    const char *kts = o->keep_tokens_separator;
    if (is_set(kts) && strstr(text, kts))
        return parts_split_pinned(text, kts, sep, t);
    const char *s = text;
    size_t n = strlen(text);
    py_strip_span(&s, &n);
    if (split_tags(s, n, sep, false, &t->all) < 0)
        return -1;
    size_t keep = o->keep_tokens > 0 ? (size_t)o->keep_tokens : 0;
    t->nfixed = keep < t->all.n ? keep : t->all.n;
    t->nflex = t->all.n - t->nfixed;
    t->nsuffix = 0;
    return 0;
}

/* Shrinks flex to its first m tags, closing the gap before the suffix. */
static void parts_flex_keep(tag_parts *t, size_t m)
{
    if (m >= t->nflex)
        return; /* also keeps a list that was never allocated away from memmove */
    span *flex = t->all.v + t->nfixed;
    memmove(flex + m, flex + t->nflex, t->nsuffix * sizeof *flex);
    t->nflex = m;
    t->all.n = t->nfixed + m + t->nsuffix;
}

/* Where Python's seq[:stop] ends for a sequence of len items (negative stops count from the end). */
static size_t py_slice_stop(long long stop, size_t len)
{
    if (stop < 0)
        stop += (long long)len;
    if (stop < 0)
        return 0;
    return (unsigned long long)stop < len ? (size_t)stop : len;
}

/* kohya converts a fraction once to floor(fraction * max_train_steps) and keeps the result;
 * recomputing it gives the same value as long as max_train_steps does not change. */
static double warmup_target(const pipeline_opts *o, const pipeline_when *w)
{
    double ws = o->token_warmup_step;
    return ws < 1 ? floor(ws * (double)w->max_train_steps) : ws;
}

/* kohya tests token_warmup_step > 0 after its first call has replaced a fraction by
 * floor(fraction * max_train_steps); we test the replaced value on every call. The two differ only
 * on kohya's very first call when the fraction floors to 0 (warm-up off): that one call splits and
 * re-joins the tags, every later one leaves the caption verbatim, as we always do. */
static bool tags_wanted(const pipeline_opts *o, const pipeline_when *w)
{
    return o->shuffle_caption || warmup_target(o, w) > 0 || o->caption_tag_dropout_rate > 0;
}

static void warmup_truncate(tag_parts *t, const pipeline_opts *o, const pipeline_when *w)
{
    double ws = warmup_target(o, w);
    if (ws == 0 || !((double)w->step < ws))
        return;
    int min = o->token_warmup_min;
    double per_step = ((double)t->nflex - (double)min) / ws;
    long long stop = (long long)floor((double)w->step * per_step) + min;
    parts_flex_keep(t, py_slice_stop(stop, t->nflex));
}

static void flex_shuffle(tag_parts *t, rng *r)
{
    if (t->nflex < 2)
        return; /* draws nothing, as random.shuffle of 0 or 1 items */
    span *flex = t->all.v + t->nfixed;
    for (size_t i = t->nflex; i-- > 1;) {
        size_t j = (size_t)rng_below(r, i + 1);
        span tmp = flex[i];
        flex[i] = flex[j];
        flex[j] = tmp;
    }
}

static void flex_dropout(tag_parts *t, double rate, rng *r)
{
    if (rate <= 0 || t->nflex == 0)
        return;
    span *flex = t->all.v + t->nfixed;
    size_t m = 0;
    for (size_t i = 0; i < t->nflex; i++)
        if (rng_uniform(r) >= rate)
            flex[m++] = flex[i];
    parts_flex_keep(t, m);
}

/* Always ", " as in the Feb-2026 sd-scripts (upstream later joins with caption_separator + " ",
 * the same text for the default ","). */
static char *parts_join(const tag_parts *t)
{
    sbuf b = {0};
    for (size_t i = 0; i < t->all.n; i++) {
        if (i)
            sbuf_add(&b, ", ", 2);
        sbuf_add(&b, t->all.v[i].p, t->all.v[i].n);
    }
    return sbuf_finish(&b);
}

static char *tags_apply(char *text, const pipeline_opts *o, const pipeline_when *w, rng *r,
                        size_t *kept)
{
    tag_parts t = {0};
    char *out = NULL;
    if (parts_split(text, o, &t) == 0) {
        if (o->token_warmup_step != 0)
            warmup_truncate(&t, o, w);
        if (o->shuffle_caption)
            flex_shuffle(&t, r);
        flex_dropout(&t, o->caption_tag_dropout_rate, r);
        out = parts_join(&t);
        *kept = t.nfixed;
    }
    free(t.all.v);
    free(text);
    return out;
}

/* ---- stage 5: secondary separator ---- */

/* text.replace(secondary_separator, caption_separator), non-overlapping, left to right. */
static char *secondary_replace(char *text, const pipeline_opts *o)
{
    const char *from = o->secondary_separator;
    if (!is_set(from) || !strstr(text, from))
        return text;
    const char *to = separator_of(o);
    size_t flen = strlen(from);
    sbuf b = {0};
    const char *s = text, *hit;
    while ((hit = strstr(s, from)) != NULL) {
        sbuf_add(&b, s, (size_t)(hit - s));
        sbuf_add(&b, to, strlen(to));
        s = hit + flen;
    }
    sbuf_add(&b, s, strlen(s));
    free(text);
    return sbuf_finish(&b);
}

/* ---- public ---- */

char *pipeline_process(const char *caption, const pipeline_opts *o, const pipeline_when *when,
                       rng *r, size_t *kept)
{
    static const pipeline_when start = {.epoch = 1, .step = 0, .max_train_steps = 0};
    const pipeline_when *w = when ? when : &start;
    size_t nkept = 0;
    if (kept)
        *kept = 0;
    char *text = affixes_join(caption ? caption : "", o);
    if (!text)
        return NULL;
    if (dropout_decide(o, w, r)) {
        text[0] = '\0'; /* nothing else runs: prefix, suffix and fixed tags go too */
        return text;
    }
    text = o->enable_wildcard ? wildcards_apply(text, r) : first_line_keep(text);
    if (text && tags_wanted(o, w))
        text = tags_apply(text, o, w, r, &nkept);
    if (text)
        text = secondary_replace(text, o);
    if (kept && text)
        *kept = nkept;
    return text;
}

/* Where the line starting at i ends: Python's text mode ends lines at "\n", "\r\n" and "\r". */
static size_t line_end(const char *s, size_t len, size_t i, size_t *next)
{
    size_t e = i;
    while (e < len && s[e] != '\n' && s[e] != '\r')
        e++;
    *next = e < len ? e + 1 + (s[e] == '\r' && e + 1 < len && s[e + 1] == '\n') : len;
    return e;
}

char *pipeline_read_caption(const char *file_text, size_t len, bool enable_wildcard)
{
    sbuf b = {0};
    size_t i = 0, next;
    while (i < len) {
        size_t e = line_end(file_text, len, i, &next);
        const char *line = file_text + i;
        size_t n = e - i;
        py_strip_span(&line, &n);
        if (!enable_wildcard) {
            sbuf_add(&b, line, n); /* lines[0].strip(), even when it is blank */
            break;
        }
        if (n) { /* blank lines are left out, the rest joined by "\n" */
            if (b.n)
                sbuf_addc(&b, '\n');
            sbuf_add(&b, line, n);
        }
        i = next;
    }
    return sbuf_finish(&b);
}

void pipeline_opts_default(pipeline_opts *o)
{
    *o = (pipeline_opts){
        .keep_tokens = 0,
        .keep_tokens_separator = NULL,
        .caption_separator = ",",
        .secondary_separator = NULL,
        .shuffle_caption = false,
        .caption_tag_dropout_rate = 0.0,
        .caption_dropout_rate = 0.0,
        .caption_dropout_every_n_epochs = 0,
        .caption_prefix = NULL,
        .caption_suffix = NULL,
        .enable_wildcard = false,
        .token_warmup_min = 1,
        .token_warmup_step = 0.0,
    };
}

static bool rate_valid(double x)
{
    return x >= 0.0 && x <= 1.0; /* false for NaN too */
}

int pipeline_opts_validate(const pipeline_opts *o, tg_error *err)
{
    if (o->keep_tokens < 0)
        return error_set(err, "keep_tokens must be >= 0, got %d", o->keep_tokens);
    if (o->caption_separator && !*o->caption_separator)
        return error_set(err, "caption_separator must not be empty");
    if (!rate_valid(o->caption_tag_dropout_rate))
        return error_set(err, "caption_tag_dropout_rate must be in [0, 1], got %g",
                         o->caption_tag_dropout_rate);
    if (!rate_valid(o->caption_dropout_rate))
        return error_set(err, "caption_dropout_rate must be in [0, 1], got %g",
                         o->caption_dropout_rate);
    if (o->caption_dropout_every_n_epochs < 0)
        return error_set(err, "caption_dropout_every_n_epochs must be >= 0, got %d",
                         o->caption_dropout_every_n_epochs);
    if (o->token_warmup_min < 0)
        return error_set(err, "token_warmup_min must be >= 0, got %d", o->token_warmup_min);
    if (!(o->token_warmup_step >= 0.0) || isinf(o->token_warmup_step))
        return error_set(err, "token_warmup_step must be a finite number >= 0, got %g",
                         o->token_warmup_step);
    return 0;
}
