/* The byte buffer every encoder appends to; graphics streams are written with one write loop. */
#include "tui/gfx_encode.h"

#include <stdlib.h>
#include <string.h>

static int buf_reserve(gfx_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int gfx_buf_put(gfx_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int gfx_buf_puts(gfx_buf *b, const char *s)
{
    return gfx_buf_put(b, s, strlen(s));
}

int gfx_buf_put_doubled(gfx_buf *b, const void *p, size_t n)
{
    const char *s = p;
    size_t escs = 0;
    for (size_t i = 0; i < n; i++)
        escs += s[i] == '\033';
    if (buf_reserve(b, n + escs) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\033')
            b->data[b->len++] = '\033';
        b->data[b->len++] = s[i];
    }
    return 0;
}

void gfx_buf_free(gfx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
