/* The operations themselves: each turns one caption's tag ids into new ones. Text-changing
 * operations memoise per tag id, so renaming across 100k captions transforms each distinct tag
 * once. */
#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/caption.h"
#include "tagger/private/edit_ops.h"

const char *edit_kind_name(edit_kind kind)
{
    static const char *names[] = {"add", "prepend", "remove", "rename", "replace", "move-to-front",
                                  "sort", "dedup", "underscores", "lowercase", "escape-parens", "set"};
    return kind <= EDIT_SET ? names[kind] : "?";
}

static bool is_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* The whitespace caption_parse trims around tags. */
static bool is_trim_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim_dup(const char *s)
{
    while (is_trim_space(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_trim_space(s[n - 1]))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int init_tags(edit_op *op, const char *a, const char *b, tg_error *err)
{
    const char *name = edit_kind_name(op->kind);
    bool needs_a = op->kind <= EDIT_SORT || op->kind == EDIT_SET;
    if (needs_a && !a)
        return error_set(err, "%s: missing argument", name);
    if (a && !(op->a = op->kind == EDIT_REPLACE || op->kind == EDIT_SET ? strdup(a) : trim_dup(a)))
        return error_set(err, "out of memory");
    if (b && !(op->b = op->kind == EDIT_REPLACE ? strdup(b) : trim_dup(b)))
        return error_set(err, "out of memory");
    if (op->a && !*op->a && op->kind != EDIT_SET)
        return error_set(err, "%s: the tag is empty", name);
    if (op->a && op->kind != EDIT_SET && op->kind != EDIT_REPLACE && strchr(op->a, ','))
        return error_set(err, "%s: \"%s\" contains a comma, which would split it into two tags",
                         name, op->a);
    if (op->kind == EDIT_RENAME && (!op->b || !*op->b || strchr(op->b, ',')))
        return error_set(err, "rename: the new name must be a non-empty tag without commas");
    /* a line break would move the rest of the caption to a line kohya never reads */
    if ((op->a && op->kind != EDIT_SET && strpbrk(op->a, "\r\n")) || (op->b && strpbrk(op->b, "\r\n")))
        return error_set(err, "%s: a tag cannot contain a line break", name);
    return 0;
}

static int init_regex(edit_op *op, tg_error *err)
{
    if (!op->b)
        return error_set(err, "replace: missing replacement");
    regex_t *re = malloc(sizeof *re);
    if (!re)
        return error_set(err, "out of memory");
    int rc = regcomp(re, op->a, REG_EXTENDED);
    if (rc != 0) {
        char msg[256];
        regerror(rc, re, msg, sizeof msg);
        free(re);
        return error_set(err, "replace: bad regular expression \"%s\": %s", op->a, msg);
    }
    op->re = re;
    return 0;
}

int edit_op_init(edit_op *op, edit_kind kind, const char *a, const char *b, int keep, tg_error *err)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->keep = keep < 0 ? 0 : keep;
    int rc = init_tags(op, a, b, err);
    if (rc == 0 && kind == EDIT_SORT && strcmp(op->a, "name") != 0 && strcmp(op->a, "count") != 0)
        rc = error_set(err, "sort: unknown order \"%s\" (use name or count)", op->a);
    if (rc == 0 && kind == EDIT_REPLACE)
        rc = init_regex(op, err);
    if (rc < 0)
        edit_op_free(op);
    return rc;
}

void edit_op_free(edit_op *op)
{
    if (op->re) {
        regfree(op->re);
        free(op->re);
    }
    free(op->a);
    free(op->b);
    memset(op, 0, sizeof *op);
}

/* ---- text transforms, one tag at a time ---- */

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

static char *text_underscores(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (d && utf8_chars(s, n) > 3)
        for (char *p = d; *p; p++)
            if (*p == '_')
                *p = ' ';
    return d;
}

static char *text_lowercase(const char *s, size_t n)
{
    char *d = strndup(s, n);
    for (char *p = d; d && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static char *text_escape_parens(const char *s, size_t n)
{
    char *d = malloc(2 * n + 1), *p = d;
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        bool escaped = i > 0 && s[i - 1] == '\\';
        if ((s[i] == '(' || s[i] == ')') && !escaped)
            *p++ = '\\';
        *p++ = s[i];
    }
    *p = '\0';
    return d;
}

static int buf_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *b = realloc(*buf, c);
        if (!b)
            return -1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Appends the replacement with \0..\9 expanded from the match groups. */
static int expand_replacement(char **buf, size_t *len, size_t *cap, const char *rep,
                              const char *subject, const regmatch_t *m)
{
    for (const char *r = rep; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '9') {
            const regmatch_t *g = &m[r[1] - '0'];
            if (g->rm_so >= 0 && buf_append(buf, len, cap, subject + g->rm_so,
                                            (size_t)(g->rm_eo - g->rm_so)) < 0)
                return -1;
            r++;
        } else if (buf_append(buf, len, cap, r, 1) < 0) {
            return -1;
        }
    }
    return 0;
}

static char *text_replace(const edit_op *op, const char *s)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    regmatch_t m[10];
    const char *p = s;
    int flags = 0;
    if (buf_append(&out, &len, &cap, "", 0) < 0)
        return NULL;
    while (regexec(op->re, p, 10, m, flags) == 0) {
        if (buf_append(&out, &len, &cap, p, (size_t)m[0].rm_so) < 0 ||
            expand_replacement(&out, &len, &cap, op->b, p, m) < 0)
            goto fail;
        if (m[0].rm_eo == m[0].rm_so) { /* empty match: copy one byte to make progress */
            if (!p[m[0].rm_eo])
                break;
            if (buf_append(&out, &len, &cap, p + m[0].rm_eo, 1) < 0)
                goto fail;
            p += 1;
        }
        p += m[0].rm_eo;
        flags = REG_NOTBOL;
    }
    if (buf_append(&out, &len, &cap, p, strlen(p)) < 0)
        goto fail;
    return out;
fail:
    free(out);
    return NULL;
}

/* Pushes the tags of a transformed text: a replacement that produced commas yields several tags
 * (so `hat (red)` -> `hat, red` splits as the saved file would), empty pieces none. Returns the
 * number pushed, or -1 on OOM. */
static int push_pieces(op_ctx *cx, const char *t, tagbuf *out, uint32_t *single)
{
    int pushed = 0;
    for (const char *p = t;; p++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *piece = strndup(p, len), *tt = piece ? trim_dup(piece) : NULL;
        free(piece);
        if (!tt)
            return -1;
        uint32_t nid = *tt ? dict_intern(&cx->ds->tags, tt, strlen(tt)) : DICT_NONE;
        bool empty = !*tt;
        free(tt);
        if (!empty && (nid == DICT_NONE || tagbuf_push(out, nid) < 0))
            return -1;
        if (!empty && pushed++ == 0)
            *single = nid;
        if (!end)
            return pushed;
        p = end;
    }
}

static char *text_of(const op_ctx *cx, uint32_t id)
{
    const char *s = dict_str(&cx->ds->tags, id);
    size_t n = dict_len(&cx->ds->tags, id);
    switch (cx->op->kind) {
    case EDIT_UNDERSCORES: return text_underscores(s, n);
    case EDIT_LOWERCASE: return text_lowercase(s, n);
    case EDIT_ESCAPE_PARENS: return text_escape_parens(s, n);
    default: return text_replace(cx->op, s);
    }
}

/* Pushes what tag id becomes under a text-changing op; memoised when it is one tag or none. */
static int map_tag(op_ctx *cx, uint32_t id, tagbuf *out)
{
    uint32_t m = id < cx->n_memo ? cx->memo[id] : MEMO_UNSET;
    if (m == MEMO_REMOVED)
        return 0;
    if (m != MEMO_UNSET && m != MEMO_SPLIT)
        return tagbuf_push(out, m);
    char *t = text_of(cx, id);
    uint32_t single = DICT_NONE;
    int pushed = t ? push_pieces(cx, t, out, &single) : -1;
    free(t);
    if (pushed >= 0 && id < cx->n_memo)
        cx->memo[id] = pushed == 0 ? MEMO_REMOVED : pushed == 1 ? single : MEMO_SPLIT;
    return pushed < 0 ? -1 : 0;
}

static bool tag_matches(op_ctx *cx, uint32_t id, const char *pattern)
{
    if (id < cx->n_memo && cx->memo[id] != MEMO_UNSET)
        return cx->memo[id] == 1;
    const char *s = dict_str(&cx->ds->tags, id);
    bool m = cx->literal || !is_glob(pattern) ? strcmp(pattern, s) == 0 : fnmatch(pattern, s, 0) == 0;
    if (id < cx->n_memo)
        cx->memo[id] = m;
    return m;
}

/* ---- per-caption operations ---- */

static bool contains(const uint32_t *t, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (t[i] == id)
            return true;
    return false;
}

static int op_add(op_ctx *cx, tagbuf *b, bool front)
{
    uint32_t id = cx->id_a;
    if (!front) {
        if (contains(b->t, b->n, id))
            return 0;
        return tagbuf_push(b, id);
    }
    uint32_t w = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->t[i] != id)
            b->t[w++] = b->t[i];
    b->n = w;
    if (tagbuf_push(b, id) < 0)
        return -1;
    memmove(b->t + 1, b->t, sizeof *b->t * (b->n - 1));
    b->t[0] = id;
    return 0;
}

static int op_remove(op_ctx *cx, tagbuf *b)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (!tag_matches(cx, b->t[i], cx->op->a))
            b->t[w++] = b->t[i];
    b->n = w;
    return 0;
}

static int op_rename(op_ctx *cx, tagbuf *b)
{
    uint32_t from = cx->id_a, to = cx->id_b, w = 0;
    if (from == DICT_NONE || !contains(b->t, b->n, from))
        return 0;
    bool placed = false;
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t t = b->t[i] == from ? to : b->t[i];
        if (t == to) { /* merging: the first of the old and new tag keeps its place */
            if (placed)
                continue;
            placed = true;
        }
        b->t[w++] = t;
    }
    b->n = w;
    return 0;
}

static int op_map(op_ctx *cx, tagbuf *b)
{
    tagbuf out = {0};
    for (uint32_t i = 0; i < b->n; i++)
        if (map_tag(cx, b->t[i], &out) < 0) {
            free(out.t);
            return -1;
        }
    free(b->t);
    *b = out;
    return 0;
}

static int op_move_front(op_ctx *cx, tagbuf *b)
{
    uint32_t *tmp = malloc(sizeof *tmp * (b->n + 1)), w = 0;
    if (!tmp)
        return -1;
    for (uint32_t i = 0; i < b->n; i++)
        if (tag_matches(cx, b->t[i], cx->op->a))
            tmp[w++] = b->t[i];
    for (uint32_t i = 0; i < b->n; i++)
        if (!tag_matches(cx, b->t[i], cx->op->a))
            tmp[w++] = b->t[i];
    memcpy(b->t, tmp, sizeof *tmp * b->n);
    free(tmp);
    return 0;
}

static const dataset *sort_ds;
static bool sort_by_count;

static int sort_cmp(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    if (sort_by_count) {
        uint32_t ca = dataset_occurrence(sort_ds, a), cb = dataset_occurrence(sort_ds, b);
        if (ca != cb)
            return ca > cb ? -1 : 1;
    }
    int c = strcmp(dict_str(&sort_ds->tags, a), dict_str(&sort_ds->tags, b));
    return c ? c : (a > b) - (a < b);
}

static int op_sort(op_ctx *cx, tagbuf *b)
{
    uint32_t keep = (uint32_t)cx->op->keep;
    if (b->n <= keep + 1)
        return 0;
    /* qsort has no context argument in C11; edits run on one thread at a time */
    sort_ds = cx->ds;
    sort_by_count = strcmp(cx->op->a, "count") == 0;
    qsort(b->t + keep, b->n - keep, sizeof *b->t, sort_cmp);
    return 0;
}

static int op_dedup(tagbuf *b)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (!contains(b->t, w, b->t[i]))
            b->t[w++] = b->t[i];
    b->n = w;
    return 0;
}

static int op_set(op_ctx *cx, tagbuf *b)
{
    b->n = 0;
    for (uint32_t i = 0; i < cx->n_set; i++)
        if (tagbuf_push(b, cx->set[i]) < 0)
            return -1;
    return 0;
}

int op_run(op_ctx *cx, tagbuf *b)
{
    switch (cx->op->kind) {
    case EDIT_ADD: return op_add(cx, b, false);
    case EDIT_PREPEND: return op_add(cx, b, true);
    case EDIT_REMOVE: return op_remove(cx, b);
    case EDIT_RENAME: return op_rename(cx, b);
    case EDIT_MOVE_FRONT: return op_move_front(cx, b);
    case EDIT_SORT: return op_sort(cx, b);
    case EDIT_DEDUP: return op_dedup(b);
    case EDIT_SET: return op_set(cx, b);
    case EDIT_REPLACE:
    case EDIT_UNDERSCORES:
    case EDIT_LOWERCASE:
    case EDIT_ESCAPE_PARENS: return op_map(cx, b);
    }
    return 0;
}

int tagbuf_push(tagbuf *b, uint32_t id)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 32;
        uint32_t *t = realloc(b->t, sizeof *t * cap);
        if (!t)
            return -1;
        b->t = t;
        b->cap = cap;
    }
    b->t[b->n++] = id;
    return 0;
}
