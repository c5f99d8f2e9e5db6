#include "tagger/caption.h"

#include <stdlib.h>
#include <string.h>

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

size_t utf8_seq_len(const char *str, size_t n)
{
    const unsigned char *p = (const unsigned char *)str;
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || len > n || (len == 2 && c < 0xc2))
        return 0; /* not a lead byte, cut short, or an overlong 2-byte form */
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
        return 0; /* overlong, or a surrogate */
    if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || c > 0xf4 || (c == 0xf4 && p[1] >= 0x90)))
        return 0; /* overlong, or past U+10FFFF */
    return len;
}

bool utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = utf8_seq_len(s + i, len - i)))
            return false;
    return true;
}

static bool has_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_space(s[i]) && s[i] != '\n')
            return true;
    return false;
}

static int push_span(caption *c, size_t *cap, uint32_t off, uint32_t len)
{
    if (c->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        caption_span *t = realloc(c->tags, sizeof *t * ncap);
        if (!t)
            return -1;
        c->tags = t;
        *cap = ncap;
    }
    c->tags[c->n++] = (caption_span){off, len};
    return 0;
}

/* Splits the first line [start, end) on commas, trims each piece, skips empty pieces. */
static int split_tags(caption *c, const char *text, size_t start, size_t end)
{
    size_t cap = 0, i = start;
    while (i <= end) {
        size_t j = i;
        while (j < end && text[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_space(text[a]))
            a++;
        while (b > a && is_space(text[b - 1]))
            b--;
        if (b > a) {
            if (push_span(c, &cap, (uint32_t)a, (uint32_t)(b - a)) < 0)
                return -1;
        } else if (j < end || i > start) {
            c->empty_tags = true; /* `a,,b`, `,a` or `a,` */
        }
        i = j + 1;
    }
    return 0;
}

static bool spans_canonical(const caption *c, const char *text, size_t start, size_t end)
{
    size_t pos = start;
    for (size_t k = 0; k < c->n; k++) {
        if (k && (end - pos < 2 || text[pos] != ',' || text[pos + 1] != ' '))
            return false;
        if (k)
            pos += 2;
        if (c->tags[k].off != pos)
            return false;
        pos += c->tags[k].len;
    }
    return pos == end;
}

static bool spans_duplicate(const caption *c, const char *text)
{
    /* captions are short: quadratic is cheaper than a hash set here */
    for (size_t a = 0; a < c->n; a++)
        for (size_t b = a + 1; b < c->n; b++)
            if (c->tags[a].len == c->tags[b].len &&
                memcmp(text + c->tags[a].off, text + c->tags[b].off, c->tags[a].len) == 0)
                return true;
    return false;
}

int caption_parse(const char *text, size_t len, caption *c)
{
    if (caption_split(text, len, c) < 0)
        return -1;
    size_t start = c->bom ? 3 : 0, end = c->rest_off;
    if (end > start && text[end - 1] == '\n')
        end--;
    if (c->crlf)
        end--;
    c->multiline = has_text(text + c->rest_off, len - c->rest_off);
    c->non_utf8 = !utf8_valid(text + start, len - start);
    c->canonical = spans_canonical(c, text, start, end);
    c->duplicates = spans_duplicate(c, text);
    return 0;
}

int caption_split(const char *text, size_t len, caption *c)
{
    memset(c, 0, sizeof *c);
    size_t start = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        c->bom = true;
        start = 3;
    }
    const char *nl = memchr(text + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - text) : len;
    c->rest_off = nl ? end + 1 : len;
    if (nl && end > start && text[end - 1] == '\r') {
        c->crlf = true;
        end--;
    }
    c->trailing_eol = len > 0 && text[len - 1] == '\n';
    if (split_tags(c, text, start, end) < 0) {
        caption_free(c);
        return -1;
    }
    return 0;
}

void caption_free(caption *c)
{
    free(c->tags);
    c->tags = NULL;
    c->n = 0;
}

caption_layout caption_layout_of(const caption *c, const char *text, size_t len)
{
    caption_layout l = {c->bom, c->crlf, c->trailing_eol, NULL, 0};
    if (c->rest_off < len) {
        l.rest = text + c->rest_off;
        l.rest_len = len - c->rest_off;
    }
    return l;
}

caption_layout caption_layout_new(void)
{
    return (caption_layout){false, false, true, NULL, 0};
}

char *caption_format(const char *const *tags, const uint32_t *lens, size_t n,
                     const caption_layout *l, size_t *out_len)
{
    size_t total = (l->bom ? 3 : 0) + 2 + l->rest_len + (n ? 2 * (n - 1) : 0) + 1;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    char *out = malloc(total), *p = out;
    if (!out)
        return NULL;
    if (l->bom) {
        memcpy(p, "\xef\xbb\xbf", 3);
        p += 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, tags[i], lens[i]);
        p += lens[i];
    }
    if (l->trailing_eol || l->rest_len) {
        if (l->crlf)
            *p++ = '\r';
        *p++ = '\n';
    }
    if (l->rest_len) {
        memcpy(p, l->rest, l->rest_len);
        p += l->rest_len;
    }
    *p = '\0';
    *out_len = (size_t)(p - out);
    return out;
}
