/* Reading a booru tag CSV (a1111-sd-webui-tagcomplete's danbooru.csv and its kin) into the
 * sorted tables a completion query searches. The file is read whole (danbooru.csv is a few MB),
 * rows are decoded into one pool, then the tables are built once: a query per key press must not
 * pay for anything a load can do. Nothing in the file is trusted: a name that could not be a
 * caption tag is skipped and counted, numbers are checked, and text quoted back in an error is
 * made printable. */
#include "tui/complete.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tagger/caption.h"

#define CSV_MAX_BYTES (512u << 20) /* offsets are 32-bit; danbooru.csv is under 10 MB */

enum { COL_NAME, COL_TYPE, COL_COUNT, COL_ALIASES, N_COLS };

typedef struct csv_row {
    uint32_t name, len; /* bytes [name, name + len) of the pool, NUL after */
    uint32_t count;
    int32_t type;
} csv_row;

typedef struct csv_alias {
    uint32_t text, len; /* in the pool, NUL after */
    uint32_t row;
} csv_alias;

typedef struct csv_reader {
    const char *path;
    size_t line;
    int col[N_COLS];    /* column index of each field we read; -1: absent */
    char *pool;         /* names and aliases, each NUL-terminated */
    size_t pool_len, pool_cap;
    csv_row *rows;
    size_t n_rows, cap_rows;
    csv_alias *aliases;
    size_t n_aliases, cap_aliases;
    char *scratch;      /* the decoded fields of one line */
    size_t scratch_cap;
    tag_csv *t;
    tg_error *err;
} csv_reader;

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

void tag_fold(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)src[i];
        dst[i] = b >= 'A' && b <= 'Z' ? (char)(b + 32) : b == '_' ? ' ' : b < 0x20 || b == 0x7f ? 1 : (char)b;
    }
}

/* ---- text checks ---- */

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s))
        (*s)++, (*n)--;
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* Why s[0..n) cannot be a caption tag, or NULL when it can. */
static const char *tag_unfit(const char *s, size_t n)
{
    if (!utf8_valid(s, n))
        return "invalid UTF-8";
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x20 || b == 0x7f || (b == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] < 0xa0))
            return "control character"; /* C0, DEL, C1 (U+0080..U+009F is C2 80..C2 9F) */
        if (b == ',')
            return "comma in the name"; /* it would be two tags in a caption */
    }
    return NULL;
}

/* s[0..n) as digits only, into *v; false when empty, not digits, or above max. */
static bool number_parse(const char *s, size_t n, uint32_t max, uint32_t *v)
{
    uint64_t x = 0;
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
        if (x > max)
            return false;
    }
    *v = (uint32_t)x;
    return true;
}

/* Up to 40 bytes of s for an error message, anything not printable ASCII shown as '?'. */
static const char *printable(const char *s, size_t n, char *buf, size_t size)
{
    size_t k = 0;
    for (; k < n && k + 4 < size && k < 40; k++)
        buf[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
    if (k < n)
        buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k] = '\0';
    return buf;
}

/* ---- fields ---- */

/* Decodes the field that starts at *p (the line ends at e) into dst, when dst is not NULL, and
 * its length into *n; leaves *p after the field's comma, or at e after the last field (*more
 * false). Returns NULL, or the reason the field is malformed. */
static const char *field_next(const char **p, const char *e, char *dst, size_t *n, bool *more)
{
    const char *q = *p;
    *n = 0;
    while (q < e && is_blank(*q))
        q++;
    if (q < e && *q == '"') {
        for (q++;;) {
            const char *quote = memchr(q, '"', (size_t)(e - q));
            if (!quote)
                return "unterminated quoted field";
            if (dst)
                memcpy(dst + *n, q, (size_t)(quote - q));
            *n += (size_t)(quote - q);
            q = quote + 1;
            if (q < e && *q == '"') { /* "" is one quote */
                if (dst)
                    dst[*n] = '"';
                (*n)++, q++;
                continue;
            }
            break;
        }
        while (q < e && is_blank(*q))
            q++;
        if (q < e && *q != ',')
            return "text after a closing quote";
    } else {
        const char *comma = memchr(*p, ',', (size_t)(e - *p));
        q = comma ? comma : e;
        if (dst)
            memcpy(dst, *p, (size_t)(q - *p));
        *n = (size_t)(q - *p);
    }
    *more = q < e;
    *p = q < e ? q + 1 : e;
    return NULL;
}

static int line_error(csv_reader *rd, const char *reason)
{
    return error_set(rd->err, "%s:%zu: %s", rd->path, rd->line, reason);
}

/* Splits the line [s, e) and leaves the decoded text of the fields we read in f[] (NULL when the
 * line has no such column). */
static int line_split(csv_reader *rd, const char *s, const char *e, const char *f[N_COLS],
                      size_t fn[N_COLS])
{
    if (!grow((void **)&rd->scratch, &rd->scratch_cap, (size_t)(e - s) + 1, 1))
        return error_set(rd->err, "%s: out of memory", rd->path);
    size_t used = 0;
    for (int k = 0; k < N_COLS; k++)
        f[k] = NULL, fn[k] = 0;
    bool more = true;
    for (int idx = 0; more; idx++) {
        int slot = -1;
        for (int k = 0; k < N_COLS; k++)
            if (rd->col[k] == idx)
                slot = k;
        char *dst = slot >= 0 ? rd->scratch + used : NULL;
        size_t n;
        const char *why = field_next(&s, e, dst, &n, &more);
        if (why)
            return line_error(rd, why);
        if (slot >= 0) {
            f[slot] = dst;
            fn[slot] = n;
            used += n; /* decoded text is never longer than the line, so scratch suffices */
        }
    }
    return 0;
}

/* ---- the header line ---- */

static bool field_is(const char *s, size_t n, const char *a, const char *b)
{
    return (strlen(a) == n && strncasecmp(s, a, n) == 0) ||
           (b && strlen(b) == n && strncasecmp(s, b, n) == 0);
}

/* A first line that names its columns (`name` or `tag` among them, no field a number) maps them;
 * true when the line was such a header. */
static bool header_read(csv_reader *rd, const char *s, const char *e)
{
    int col[N_COLS] = {-1, -1, -1, -1};
    bool more = true, numeric = false;
    if (!grow((void **)&rd->scratch, &rd->scratch_cap, (size_t)(e - s) + 1, 1))
        return false; /* the row reader will say so */
    for (int idx = 0; more; idx++) {
        const char *f = rd->scratch;
        size_t n;
        uint32_t v;
        if (field_next(&s, e, rd->scratch, &n, &more))
            return false; /* the row reader reports it */
        trim(&f, &n);
        numeric |= number_parse(f, n, UINT32_MAX, &v);
        if (field_is(f, n, "name", "tag") && col[COL_NAME] < 0)
            col[COL_NAME] = idx;
        else if (field_is(f, n, "type", "category"))
            col[COL_TYPE] = idx;
        else if (field_is(f, n, "count", "post_count"))
            col[COL_COUNT] = idx;
        else if (field_is(f, n, "aliases", "alias"))
            col[COL_ALIASES] = idx;
    }
    if (col[COL_NAME] < 0 || numeric)
        return false;
    memcpy(rd->col, col, sizeof col);
    return true;
}

/* ---- rows ---- */

static int64_t pool_add(csv_reader *rd, const char *s, size_t n)
{
    if (!grow((void **)&rd->pool, &rd->pool_cap, rd->pool_len + n + 1, 1))
        return -1;
    memcpy(rd->pool + rd->pool_len, s, n);
    rd->pool[rd->pool_len + n] = '\0';
    int64_t off = (int64_t)rd->pool_len;
    rd->pool_len += n + 1;
    return off;
}

static void row_skip(csv_reader *rd, const char *why)
{
    if (!rd->t->skipped++)
        snprintf(rd->t->first_skip, sizeof rd->t->first_skip, "line %zu: %s", rd->line, why);
}

/* Each alias of the list s[0..n) that could be a tag, for row. */
static int aliases_add(csv_reader *rd, const char *s, size_t n, uint32_t row)
{
    for (const char *e = s + n; s < e;) {
        const char *comma = memchr(s, ',', (size_t)(e - s));
        const char *a = s;
        size_t an = (size_t)((comma ? comma : e) - s);
        s = comma ? comma + 1 : e;
        trim(&a, &an);
        if (!an || tag_unfit(a, an))
            continue;
        int64_t off = pool_add(rd, a, an);
        if (off < 0 || !grow((void **)&rd->aliases, &rd->cap_aliases, rd->n_aliases + 1, sizeof *rd->aliases))
            return error_set(rd->err, "%s: out of memory", rd->path);
        rd->aliases[rd->n_aliases++] = (csv_alias){(uint32_t)off, (uint32_t)an, row};
    }
    return 0;
}

static int row_read(csv_reader *rd, const char *s, const char *e)
{
    const char *f[N_COLS];
    size_t fn[N_COLS];
    char shown[64], msg[160];
    if (line_split(rd, s, e, f, fn) < 0)
        return -1;
    for (int k = 0; k < N_COLS; k++)
        if (f[k])
            trim(&f[k], &fn[k]);
    if (!fn[COL_NAME])
        return line_error(rd, "empty tag name");
    uint32_t count = 0, type = UINT32_MAX;
    if (fn[COL_COUNT] && !number_parse(f[COL_COUNT], fn[COL_COUNT], UINT32_MAX, &count)) {
        snprintf(msg, sizeof msg, "count '%s' is not a number (0..4294967295)",
                 printable(f[COL_COUNT], fn[COL_COUNT], shown, sizeof shown));
        return line_error(rd, msg);
    }
    if (fn[COL_TYPE] && !number_parse(f[COL_TYPE], fn[COL_TYPE], INT32_MAX, &type)) {
        snprintf(msg, sizeof msg, "type '%s' is not a number",
                 printable(f[COL_TYPE], fn[COL_TYPE], shown, sizeof shown));
        return line_error(rd, msg);
    }
    rd->t->rows++;
    const char *why = tag_unfit(f[COL_NAME], fn[COL_NAME]);
    if (why) {
        row_skip(rd, why);
        return 0;
    }
    int64_t off = pool_add(rd, f[COL_NAME], fn[COL_NAME]);
    if (off < 0 || !grow((void **)&rd->rows, &rd->cap_rows, rd->n_rows + 1, sizeof *rd->rows))
        return error_set(rd->err, "%s: out of memory", rd->path);
    rd->rows[rd->n_rows] = (csv_row){(uint32_t)off, (uint32_t)fn[COL_NAME], count,
                                     type == UINT32_MAX ? -1 : (int32_t)type};
    return aliases_add(rd, f[COL_ALIASES], fn[COL_ALIASES], (uint32_t)rd->n_rows++);
}

static int lines_read(csv_reader *rd, const char *text, size_t len)
{
    const char *s = text, *end = text + len;
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        s += 3;
    for (bool first = true; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        rd->line++;
        if (e > s && e[-1] == '\r')
            e--;
        const char *t = s;
        while (t < e && is_blank(*t))
            t++;
        if (t < e) { /* blank lines (the end of a hand-edited file) are not rows */
            if (!(first && header_read(rd, s, e)) && row_read(rd, s, e) < 0)
                return -1;
            first = false;
        }
        s = nl ? nl + 1 : end;
    }
    return 0;
}

static char *file_slurp(const char *path, size_t *len, tg_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (size_t got = 1; got > 0; n += got) {
        if (n >= CSV_MAX_BYTES) {
            error_set(err, "%s: larger than %u MiB; not a tag list?", path, CSV_MAX_BYTES >> 20);
            goto fail;
        }
        if (!grow((void **)&buf, &cap, n + 65536, 1)) {
            error_set(err, "%s: out of memory", path);
            goto fail;
        }
        got = fread(buf + n, 1, cap - n, f);
    }
    if (ferror(f)) {
        error_set(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* ---- the tables ---- */

typedef struct row_key {
    const char *s; /* fold (dedup) or name (entry order) */
    uint32_t count, row;
} row_key;

static int cmp_fold_then_count(const void *pa, const void *pb)
{
    const row_key *a = pa, *b = pb;
    int c = strcmp(a->s, b->s);
    if (c)
        return c;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

static int cmp_count_then_name(const void *pa, const void *pb)
{
    const row_key *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->s, b->s);
}

static int cmp_key(const void *pa, const void *pb)
{
    const tag_csv_key *a = pa, *b = pb;
    int c = strcmp(a->fold, b->fold);
    return c ? c : (a->entry > b->entry) - (a->entry < b->entry);
}

/* Rows sorted by fold; canon[row] = the row that stands for its fold (the largest count). */
static row_key *rows_dedup(const csv_reader *rd, const char *pool, char *fold_buf, uint32_t *canon,
                           size_t *n_kept)
{
    row_key *k = malloc(sizeof *k * (rd->n_rows ? rd->n_rows : 1));
    if (!k)
        return NULL;
    size_t off = 0;
    for (size_t r = 0; r < rd->n_rows; r++) {
        tag_fold(fold_buf + off, pool + rd->rows[r].name, rd->rows[r].len);
        fold_buf[off + rd->rows[r].len] = '\0';
        k[r] = (row_key){fold_buf + off, rd->rows[r].count, (uint32_t)r};
        off += rd->rows[r].len + 1;
    }
    qsort(k, rd->n_rows, sizeof *k, cmp_fold_then_count);
    *n_kept = 0;
    for (size_t i = 0; i < rd->n_rows; i++) {
        bool first = i == 0 || strcmp(k[i].s, k[i - 1].s) != 0;
        canon[k[i].row] = first ? k[i].row : canon[k[i - 1].row];
        if (first)
            k[(*n_kept)++] = k[i];
    }
    return k;
}

static int words_build(tag_csv *t)
{
    size_t n = 0;
    for (uint32_t e = 0; e < t->n; e++)
        for (uint32_t i = 1; i < t->entries[e].len; i++)
            n += t->entries[e].fold[i - 1] == ' ' && t->entries[e].fold[i] != ' ';
    t->words = malloc(sizeof *t->words * (n ? n : 1));
    if (!t->words)
        return -1;
    for (uint32_t e = 0; e < t->n; e++)
        for (uint32_t i = 1; i < t->entries[e].len; i++)
            if (t->entries[e].fold[i - 1] == ' ' && t->entries[e].fold[i] != ' ')
                t->words[t->n_words++] = (tag_csv_key){t->entries[e].fold + i, NULL, e};
    qsort(t->words, t->n_words, sizeof *t->words, cmp_key);
    return 0;
}

static uint32_t pair_of(const char *s)
{
    return (uint32_t)(unsigned char)s[0] << 8 | (unsigned char)s[1];
}

/* The entries of each byte pair, in entry order (a counting sort: count, offsets, fill). seen[p]
 * is the entry p was last taken for, so that `hair hair` lists its entry once under "ai". */
static void pairs_walk(tag_csv *t, uint32_t *seen, uint32_t *slot)
{
    memset(seen, 0xff, sizeof *seen * 65536);
    for (uint32_t e = 0; e < t->n; e++)
        for (uint32_t i = 0; i + 1 < t->entries[e].len; i++) {
            uint32_t p = pair_of(t->entries[e].fold + i);
            if (seen[p] == e)
                continue;
            seen[p] = e;
            if (slot)
                t->pair_entries[slot[p]++] = e;
            else
                t->pair_start[p + 1]++;
        }
}

static int pairs_build(tag_csv *t)
{
    uint32_t *seen = malloc(sizeof *seen * 65536), *slot = malloc(sizeof *slot * 65536);
    t->pair_start = calloc(65537, sizeof *t->pair_start);
    if (seen && slot && t->pair_start) {
        pairs_walk(t, seen, NULL);
        for (uint32_t p = 0; p < 65536; p++)
            t->pair_start[p + 1] += t->pair_start[p];
        t->pair_entries = malloc(sizeof *t->pair_entries * (t->pair_start[65536] + 1));
        memcpy(slot, t->pair_start, sizeof *slot * 65536);
        if (t->pair_entries)
            pairs_walk(t, seen, slot);
    }
    free(seen);
    free(slot);
    return t->pair_entries ? 0 : -1;
}

static int aliases_build(csv_reader *rd, tag_csv *t, const uint32_t *canon, const uint32_t *entry_of)
{
    size_t bytes = 1;
    for (size_t a = 0; a < rd->n_aliases; a++)
        bytes += rd->aliases[a].len + 1;
    t->alias_folded = malloc(bytes);
    t->aliases = malloc(sizeof *t->aliases * (rd->n_aliases ? rd->n_aliases : 1));
    if (!t->alias_folded || !t->aliases)
        return -1;
    size_t off = 0;
    for (size_t a = 0; a < rd->n_aliases; a++) {
        const csv_alias *al = &rd->aliases[a];
        tag_fold(t->alias_folded + off, t->pool + al->text, al->len);
        t->alias_folded[off + al->len] = '\0';
        t->aliases[a] = (tag_csv_key){t->alias_folded + off, t->pool + al->text, entry_of[canon[al->row]]};
        off += al->len + 1;
    }
    t->n_aliases = (uint32_t)rd->n_aliases;
    qsort(t->aliases, t->n_aliases, sizeof *t->aliases, cmp_key);
    return 0;
}

/* Entries in count order, their folds in one buffer in that order, by_name in fold order. */
static int entries_build(csv_reader *rd, tag_csv *t, const row_key *by_fold, size_t n_kept,
                         uint32_t *entry_of)
{
    row_key *order = malloc(sizeof *order * (n_kept ? n_kept : 1));
    t->entries = malloc(sizeof *t->entries * (n_kept ? n_kept : 1));
    t->by_name = malloc(sizeof *t->by_name * (n_kept ? n_kept : 1));
    size_t bytes = 1;
    for (size_t i = 0; i < n_kept; i++)
        bytes += rd->rows[by_fold[i].row].len + 1;
    t->folded = malloc(bytes);
    if (!order || !t->entries || !t->by_name || !t->folded) {
        free(order);
        return -1;
    }
    for (size_t i = 0; i < n_kept; i++)
        order[i] = (row_key){t->pool + rd->rows[by_fold[i].row].name, by_fold[i].count, by_fold[i].row};
    qsort(order, n_kept, sizeof *order, cmp_count_then_name);
    size_t off = 0;
    for (size_t i = 0; i < n_kept; i++) {
        const csv_row *r = &rd->rows[order[i].row];
        tag_fold(t->folded + off, t->pool + r->name, r->len);
        t->folded[off + r->len] = '\0';
        t->entries[i] = (tag_csv_entry){t->pool + r->name, t->folded + off, r->len, r->count, r->type};
        entry_of[order[i].row] = (uint32_t)i;
        off += r->len + 1;
    }
    t->n = (uint32_t)n_kept;
    t->folded_len = off;
    for (size_t i = 0; i < n_kept; i++) {
        uint32_t e = entry_of[by_fold[i].row];
        t->by_name[i] = (tag_csv_key){t->entries[e].fold, NULL, e};
    }
    free(order);
    return 0;
}

static int tables_build(csv_reader *rd, tag_csv *t)
{
    size_t bytes = 1, n_kept = 0;
    for (size_t r = 0; r < rd->n_rows; r++)
        bytes += rd->rows[r].len + 1;
    t->pool = rd->pool; /* final now: pointers into it stay valid */
    rd->pool = NULL;
    char *fold_buf = malloc(bytes);
    uint32_t *canon = malloc(sizeof *canon * (rd->n_rows + 1));
    uint32_t *entry_of = malloc(sizeof *entry_of * (rd->n_rows + 1));
    row_key *by_fold = NULL;
    if (fold_buf && canon && entry_of)
        by_fold = rows_dedup(rd, t->pool, fold_buf, canon, &n_kept);
    int rc = by_fold && entries_build(rd, t, by_fold, n_kept, entry_of) == 0 &&
             words_build(t) == 0 && pairs_build(t) == 0 && aliases_build(rd, t, canon, entry_of) == 0
             ? 0 : -1;
    free(by_fold);
    free(fold_buf);
    free(canon);
    free(entry_of);
    return rc < 0 ? error_set(rd->err, "%s: out of memory", rd->path) : 0;
}

tag_csv *tag_csv_read(const char *path, tg_error *err)
{
    size_t len = 0;
    char *text = file_slurp(path, &len, err);
    tag_csv *t = text ? calloc(1, sizeof *t) : NULL;
    if (text && !t)
        error_set(err, "%s: out of memory", path);
    csv_reader rd = {.path = path, .col = {0, 1, 2, 3}, .t = t, .err = err};
    int rc = t ? lines_read(&rd, text, len) : -1;
    if (rc == 0)
        rc = tables_build(&rd, t);
    free(text);
    free(rd.pool);
    free(rd.rows);
    free(rd.aliases);
    free(rd.scratch);
    if (rc < 0) {
        tag_csv_free(t);
        return NULL;
    }
    return t;
}

void tag_csv_free(tag_csv *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->folded);
    free(t->by_name);
    free(t->words);
    free(t->aliases);
    free(t->alias_folded);
    free(t->pair_start);
    free(t->pair_entries);
    free(t->pool);
    free(t);
}

/* ---- lookups ---- */

size_t tag_csv_prefix(const tag_csv_key *keys, size_t n, const char *fold, size_t len, size_t *first)
{
    /* Comparing only the first len bytes is monotone over sorted keys, so the keys starting with
     * fold are the run between two binary searches. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strncmp(keys[mid].fold, fold, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = n;
    for (size_t l = lo; l < end;) {
        size_t mid = l + (end - l) / 2;
        if (strncmp(keys[mid].fold, fold, len) <= 0)
            l = mid + 1;
        else
            end = mid;
    }
    *first = lo;
    return end - lo;
}

uint32_t tag_csv_find(const tag_csv *t, const char *fold, size_t len)
{
    size_t first, n = tag_csv_prefix(t->by_name, t->n, fold, len, &first);
    /* the exact name, if present, sorts first among the names it is a prefix of */
    return n && t->by_name[first].fold[len] == '\0' ? t->by_name[first].entry : TAG_CSV_NONE;
}
