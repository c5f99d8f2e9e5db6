/* Tag filter expressions: a recursive-descent parser into a small tree, and its evaluation.
 * Grammar (tightest last):
 *   or    := and ('|' and)*
 *   and   := unary (('&' | ',') unary)*
 *   unary := '!' unary | '(' or ')' | term
 * `&` and `|` nodes hold all their operands in one list, so a long chain `a & b & c & …` is one
 * node, not a deep tree; only parentheses and `!` nest, and they are capped so that neither
 * parsing nor matching can exhaust the stack. Columns in messages count characters (UTF-8 code
 * points) from 1, the way a user counts them under the expression. */
#include "tagger/filter.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_MAX_DEPTH 200

typedef enum node_kind { NODE_ALL, NODE_TAG, NODE_GLOB, NODE_SUB, NODE_NOT, NODE_AND, NODE_OR } node_kind;

typedef struct node {
    node_kind kind;
    char *text;        /* NODE_TAG, NODE_GLOB, NODE_SUB: trimmed, NUL-terminated */
    size_t text_len;
    struct node **kids; /* NODE_NOT: one; NODE_AND, NODE_OR: n */
    size_t n, cap;
} node;

struct tag_filter {
    node *root;
};

typedef struct parser {
    const char *s;
    size_t pos;
    int depth;
    tg_error *err;
} parser;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_operator(char c)
{
    return c == '&' || c == '|' || c == ',' || c == '!' || c == '(' || c == ')' || c == '"';
}

static void node_free(node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static int column_of(const parser *p, size_t pos)
{
    int col = 1;
    for (size_t i = 0; i < pos; i++)
        col += ((unsigned char)p->s[i] & 0xC0) != 0x80;
    return col;
}

/* The token at pos as a message shows it: one character (all its UTF-8 bytes) or "the end". */
static void token_describe(const parser *p, size_t pos, char *out, size_t cap)
{
    if (!p->s[pos]) {
        snprintf(out, cap, "the end");
        return;
    }
    size_t len = 1;
    while (len < 4 && ((unsigned char)p->s[pos + len] & 0xC0) == 0x80)
        len++;
    snprintf(out, cap, "'%.*s'", (int)len, p->s + pos);
}

static char peek(parser *p)
{
    while (is_space(p->s[p->pos]))
        p->pos++;
    return p->s[p->pos];
}

static node *node_new(parser *p, node_kind kind)
{
    node *n = calloc(1, sizeof *n);
    if (!n)
        error_set(p->err, "out of memory");
    if (n)
        n->kind = kind;
    return n;
}

static int node_adopt(parser *p, node *parent, node *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 2;
        node **kids = realloc(parent->kids, cap * sizeof *kids);
        if (!kids) {
            node_free(kid);
            return error_set(p->err, "out of memory");
        }
        parent->kids = kids;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

/* Trims [start, end) and stores it as the node's text. */
static node *term_node(parser *p, node_kind kind, const char *start, const char *end)
{
    while (start < end && is_space(*start))
        start++;
    while (end > start && is_space(end[-1]))
        end--;
    node *n = node_new(p, kind);
    if (!n)
        return NULL;
    n->text = strndup(start, (size_t)(end - start));
    n->text_len = (size_t)(end - start);
    if (!n->text) {
        free(n);
        error_set(p->err, "out of memory");
        return NULL;
    }
    return n;
}

/* A "quoted tag" with \" and \\ escapes; the quote at p->pos opens it. */
static node *parse_quoted(parser *p, node_kind kind)
{
    size_t open = p->pos++;
    char *buf = malloc(strlen(p->s + p->pos) + 1), *o = buf;
    if (!buf) {
        error_set(p->err, "out of memory");
        return NULL;
    }
    for (;;) {
        char c = p->s[p->pos];
        if (!c || (c == '\\' && !p->s[p->pos + 1])) {
            error_set(p->err, "column %d: unterminated quote (no closing '\"')", column_of(p, open));
            break;
        }
        if (c == '"') {
            p->pos++;
            node *n = term_node(p, kind, buf, o);
            free(buf);
            if (n && n->text_len == 0 && kind == NODE_TAG) {
                node_free(n);
                error_set(p->err, "column %d: empty quoted tag", column_of(p, open));
                return NULL;
            }
            return n;
        }
        if (c == '\\' && p->s[p->pos + 1] != '"' && p->s[p->pos + 1] != '\\') {
            char tok[8];
            token_describe(p, p->pos + 1, tok, sizeof tok);
            error_set(p->err, "column %d: unknown escape '\\' before %s in a quoted tag (only \\\" "
                      "and \\\\ are escapes)", column_of(p, p->pos), tok);
            break;
        }
        if (c == '\\')
            p->pos++;
        *o++ = p->s[p->pos++];
    }
    free(buf);
    return NULL;
}

static node *error_expected_tag(parser *p, const char *after)
{
    char tok[8], ctx[16] = "";
    token_describe(p, p->pos, tok, sizeof tok);
    if (after)
        snprintf(ctx, sizeof ctx, " after '%s'", after);
    if (p->s[p->pos])
        error_set(p->err, "column %d: expected a tag%s, found %s", column_of(p, p->pos), ctx, tok);
    else
        error_set(p->err, "column %d: expected a tag%s", column_of(p, p->pos), ctx);
    return NULL;
}

/* A bare term runs to the next operator character; it is a glob when it holds * ? or [. */
static node *parse_bare(parser *p, const char *after)
{
    size_t start = p->pos;
    while (p->s[p->pos] && !is_operator(p->s[p->pos]))
        p->pos++;
    if (p->pos == start)
        return error_expected_tag(p, after);
    const char *b = p->s + start, *e = p->s + p->pos;
    int glob = memchr(b, '*', e - b) || memchr(b, '?', e - b) || memchr(b, '[', e - b);
    return term_node(p, glob ? NODE_GLOB : NODE_TAG, b, e);
}

/* ~text or ~"text": any tag containing the text. */
static node *parse_substring(parser *p)
{
    p->pos++;
    node *n = peek(p) == '"' ? parse_quoted(p, NODE_SUB) : parse_bare(p, "~");
    if (n)
        n->kind = NODE_SUB; /* literal even when it holds glob characters */
    if (n && n->text_len == 0) {
        node_free(n);
        error_set(p->err, "column %d: expected text after '~'", column_of(p, p->pos));
        return NULL;
    }
    return n;
}

static node *parse_or(parser *p, const char *after);

static node *parse_group(parser *p)
{
    size_t open = p->pos++;
    node *n = parse_or(p, "(");
    if (!n)
        return NULL;
    if (peek(p) == ')') {
        p->pos++;
        return n;
    }
    node_free(n);
    if (!p->s[p->pos]) {
        error_set(p->err, "column %d: unbalanced parentheses: the '(' at column %d is never closed",
                  column_of(p, p->pos), column_of(p, open));
    } else {
        char tok[8];
        token_describe(p, p->pos, tok, sizeof tok);
        error_set(p->err, "column %d: expected '&', ',', '|' or ')', found %s",
                  column_of(p, p->pos), tok);
    }
    return NULL;
}

static node *parse_unary(parser *p, const char *after);

static node *parse_not(parser *p)
{
    p->pos++;
    node *kid = parse_unary(p, "!");
    if (!kid)
        return NULL;
    node *n = node_new(p, NODE_NOT);
    if (!n) {
        node_free(kid);
        return NULL;
    }
    if (node_adopt(p, n, kid)) { /* it has freed kid */
        node_free(n);
        return NULL;
    }
    return n;
}

static node *parse_unary(parser *p, const char *after)
{
    char c = peek(p);
    if (c == '!' || c == '(') {
        if (++p->depth > FILTER_MAX_DEPTH) {
            error_set(p->err, "column %d: nested deeper than %d levels", column_of(p, p->pos),
                      FILTER_MAX_DEPTH);
            return NULL;
        }
        node *n = c == '(' ? parse_group(p) : parse_not(p);
        p->depth--;
        return n;
    }
    if (c == '"')
        return parse_quoted(p, NODE_TAG);
    if (c == '~')
        return parse_substring(p);
    return parse_bare(p, after);
}

/* One level of a left-to-right list of operands joined by operators: `and` or `or`. */
static node *parse_list(parser *p, node_kind kind, const char *after)
{
    node *first = kind == NODE_OR ? parse_list(p, NODE_AND, after) : parse_unary(p, after);
    if (!first)
        return NULL;
    node *list = NULL;
    for (;;) {
        char c = peek(p);
        if (!(kind == NODE_OR ? c == '|' : c == '&' || c == ','))
            return list ? list : first;
        char op[2] = {c, 0};
        p->pos++;
        if (!list) {
            list = node_new(p, kind);
            if (!list || node_adopt(p, list, first)) {
                if (!list)
                    node_free(first);
                node_free(list);
                return NULL;
            }
        }
        node *next = kind == NODE_OR ? parse_list(p, NODE_AND, op) : parse_unary(p, op);
        if (!next || node_adopt(p, list, next)) {
            node_free(list);
            return NULL;
        }
    }
}

static node *parse_or(parser *p, const char *after)
{
    return parse_list(p, NODE_OR, after);
}

tag_filter *filter_parse(const char *expr, tg_error *err)
{
    parser p = {expr, 0, 0, err};
    tag_filter *f = calloc(1, sizeof *f);
    if (!f) {
        error_set(err, "out of memory");
        return NULL;
    }
    if (!peek(&p)) { /* empty: everything matches */
        f->root = node_new(&p, NODE_ALL);
    } else {
        f->root = parse_or(&p, NULL);
        if (f->root && peek(&p)) {
            char tok[8];
            token_describe(&p, p.pos, tok, sizeof tok);
            if (expr[p.pos] == ')')
                error_set(err, "column %d: unbalanced parentheses: this ')' has no '('",
                          column_of(&p, p.pos));
            else
                error_set(err, "column %d: expected '&', ',', '|' or the end, found %s",
                          column_of(&p, p.pos), tok);
            node_free(f->root);
            f->root = NULL;
        }
    }
    if (!f->root) {
        free(f);
        return NULL;
    }
    return f;
}

void filter_free(tag_filter *f)
{
    if (!f)
        return;
    node_free(f->root);
    free(f);
}

/* A tag as compared: without its surrounding whitespace. */
static const char *tag_trim(const char *tag, size_t *len)
{
    while (is_space(*tag))
        tag++;
    size_t n = strlen(tag);
    while (n > 0 && is_space(tag[n - 1]))
        n--;
    *len = n;
    return tag;
}

static bool glob_match(const char *pattern, const char *tag, size_t len)
{
    if (tag[len] == '\0')
        return fnmatch(pattern, tag, 0) == 0;
    char small[256];
    char *copy = len < sizeof small ? small : malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, tag, len);
    copy[len] = '\0';
    bool hit = fnmatch(pattern, copy, 0) == 0;
    if (copy != small)
        free(copy);
    return hit;
}

static bool term_match(const node *n, const char *tag)
{
    size_t len;
    tag = tag_trim(tag, &len);
    switch (n->kind) {
    case NODE_TAG: return len == n->text_len && !memcmp(tag, n->text, len);
    case NODE_SUB: return memmem(tag, len, n->text, n->text_len) != NULL;
    case NODE_GLOB: return glob_match(n->text, tag, len);
    default: return false;
    }
}

static bool node_match(const node *n, const char *const *tags, size_t count)
{
    switch (n->kind) {
    case NODE_ALL: return true;
    case NODE_NOT: return !node_match(n->kids[0], tags, count);
    case NODE_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!node_match(n->kids[i], tags, count))
                return false;
        return true;
    case NODE_OR:
        for (size_t i = 0; i < n->n; i++)
            if (node_match(n->kids[i], tags, count))
                return true;
        return false;
    default:
        for (size_t i = 0; i < count; i++)
            if (tags[i] && term_match(n, tags[i]))
                return true;
        return false;
    }
}

bool filter_match(const tag_filter *f, const char *const *tags, size_t n)
{
    return f && node_match(f->root, tags, n);
}

void filter_quote(const char *tag, char *out, size_t size)
{
    if (size < 3) {
        if (size)
            *out = 0;
        return;
    }
    char *w = out, *end = out + size - 2; /* room for the closing quote and the NUL */
    *w++ = '"';
    for (const char *r = tag; *r && w < end - 1; r++) {
        if (*r == '"' || *r == '\\')
            *w++ = '\\';
        *w++ = *r;
    }
    *w++ = '"';
    *w = 0;
}
