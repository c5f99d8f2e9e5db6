/* Captions differ in a few lines at most, so each file gets one hunk: the lines between the
 * common leading and trailing lines, with up to three lines of context. */
#include "tui/edit_diff.h"

#include <stdlib.h>
#include <string.h>

#include "tui/cli.h"

typedef struct lines {
    const char **p;
    size_t *len; /* without the newline */
    size_t n;
    bool final_nl;
} lines;

static int lines_split(const char *s, size_t len, lines *l)
{
    size_t cap = 8;
    l->n = 0;
    l->p = malloc(sizeof *l->p * cap);
    l->len = malloc(sizeof *l->len * cap);
    l->final_nl = len > 0 && s[len - 1] == '\n';
    for (size_t i = 0; l->p && l->len && i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        if (l->n == cap) {
            cap *= 2;
            const char **p = realloc(l->p, sizeof *p * cap);
            size_t *ln = p ? realloc(l->len, sizeof *ln * cap) : NULL;
            if (p)
                l->p = p;
            if (!ln)
                return -1;
            l->len = ln;
        }
        l->p[l->n] = s + i;
        l->len[l->n++] = end - i;
        i = end + 1;
    }
    return l->p && l->len ? 0 : -1;
}

static bool line_eq(const lines *a, size_t i, const lines *b, size_t j)
{
    return a->len[i] == b->len[j] && memcmp(a->p[i], b->p[j], a->len[i]) == 0;
}

static void line_print(FILE *out, char mark, const lines *l, size_t i)
{
    fputc(mark, out);
    cli_put_n(out, l->p[i], l->len[i]);
    fputc('\n', out);
    if (i + 1 == l->n && !l->final_nl)
        fputs("\\ No newline at end of file\n", out);
}

static void hunk_print(FILE *out, const lines *a, const lines *b)
{
    size_t pre = 0, suf = 0;
    while (pre < a->n && pre < b->n && line_eq(a, pre, b, pre) &&
           (pre + 1 < a->n || a->final_nl == b->final_nl))
        pre++;
    while (suf < a->n - pre && suf < b->n - pre && line_eq(a, a->n - 1 - suf, b, b->n - 1 - suf) &&
           (suf > 0 || a->final_nl == b->final_nl))
        suf++;
    size_t ctx0 = pre > 3 ? pre - 3 : 0, ctx1 = suf > 3 ? 3 : suf;
    size_t na = a->n - pre - suf + (pre - ctx0) + ctx1, nb = b->n - pre - suf + (pre - ctx0) + ctx1;
    fprintf(out, "@@ -%zu,%zu +%zu,%zu @@\n", na ? ctx0 + 1 : ctx0, na, nb ? ctx0 + 1 : ctx0, nb);
    for (size_t i = ctx0; i < pre; i++)
        line_print(out, ' ', a, i);
    for (size_t i = pre; i < a->n - suf; i++)
        line_print(out, '-', a, i);
    for (size_t j = pre; j < b->n - suf; j++)
        line_print(out, '+', b, j);
    for (size_t i = a->n - suf; i < a->n - suf + ctx1; i++)
        line_print(out, ' ', a, i);
}

static int item_diff(const dataset *ds, size_t i, FILE *out)
{
    const ds_item *it = &ds->items[i];
    size_t olen, nlen;
    tg_error err;
    char *old = dataset_caption_read(ds, i, &olen, &err), *new = dataset_caption_text(ds, i, &nlen);
    if (!old)
        cli_error("edit", err.msg);
    lines a = {0}, b = {0};
    int rc = old && new && lines_split(old, olen, &a) == 0 && lines_split(new, nlen, &b) == 0 ? 0 : -1;
    if (rc == 0) {
        fputs(it->has_file ? "--- a/" : "--- /dev/null\n", out);
        if (it->has_file) {
            cli_put(out, it->caption);
            fputc('\n', out);
        }
        fputs("+++ b/", out);
        cli_put(out, it->caption);
        fputc('\n', out);
        hunk_print(out, &a, &b);
    }
    free(a.p);
    free(a.len);
    free(b.p);
    free(b.len);
    free(old);
    free(new);
    return rc;
}

long edit_diff_print(const dataset *ds, FILE *out)
{
    long n = 0;
    for (size_t i = 0; i < ds->n_items; i++) {
        if (!ds->items[i].dirty)
            continue;
        if (item_diff(ds, i, out) < 0)
            return -1;
        n++;
    }
    return n;
}
