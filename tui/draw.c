/* Sanitised, width-aware text drawing on stdscr (see draw.h). Decodes UTF-8 itself rather than
 * trusting the locale, so an invalid byte becomes a visible \xNN instead of whatever the C
 * library would make of it. */
#include "tui/draw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "tagger/caption.h"

/* One displayable unit of s: a character (cp >= 0, cols its width) or an escape text. */
typedef struct glyph {
    long cp;         /* code point, or -1 for an escape */
    char esc[8];     /* "\x1b", "\n" ... when cp < 0 */
    int cols;
    size_t bytes;    /* bytes of s consumed */
} glyph;

static void glyph_escape(glyph *g, unsigned char b, size_t bytes)
{
    g->cp = -1;
    g->bytes = bytes;
    switch (b) {
    case '\n': snprintf(g->esc, sizeof g->esc, "\\n"); break;
    case '\t': snprintf(g->esc, sizeof g->esc, "\\t"); break;
    case '\r': snprintf(g->esc, sizeof g->esc, "\\r"); break;
    default: snprintf(g->esc, sizeof g->esc, "\\x%02x", b); break;
    }
    g->cols = (int)strlen(g->esc);
}

static long utf8_decode(const unsigned char *s, size_t len)
{
    if (len == 1)
        return s[0];
    long cp = s[0] & (0x7f >> len);
    for (size_t k = 1; k < len; k++)
        cp = (cp << 6) | (s[k] & 0x3f);
    return cp;
}

/* Invisible format characters: zero-width spaces and joiners would make two different tags look
 * the same, and bidirectional overrides would reorder what is shown around them. */
static bool invisible(long cp)
{
    return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff || cp == 0x061c || cp == 0x00ad;
}

static void glyph_next(const char *s, size_t n, glyph *g)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = utf8_seq_len(s, n);
    if (len == 0) {
        glyph_escape(g, u[0], 1);
        return;
    }
    long cp = utf8_decode(u, len);
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
        glyph_escape(g, cp < 0x80 ? u[0] : (unsigned char)cp, len);
        return;
    }
    int w = wcwidth((wchar_t)cp);
    if (w < 0 || invisible(cp)) { /* unassigned, or a format character nobody would see */
        g->cp = -1;
        g->bytes = len;
        snprintf(g->esc, sizeof g->esc, "\\u%04lx", cp & 0xffff);
        g->cols = (int)strlen(g->esc);
        return;
    }
    g->cp = cp;
    g->cols = w;
    g->bytes = len;
}

static void glyph_put(const glyph *g, theme_el el)
{
    if (g->cp < 0) {
        attr_t a = theme_attr(TH_ESCAPE);
        short p = theme_pair(TH_ESCAPE);
        attr_set(a, p, NULL);
        addstr(g->esc);
        attr_set(theme_attr(el), theme_pair(el), NULL);
        return;
    }
    wchar_t wc[2] = {(wchar_t)g->cp, 0};
    cchar_t cc;
    int pair = theme_pair(el);
    setcchar(&cc, wc, theme_attr(el), 0, &pair);
    add_wch(&cc);
}

int draw_text_n(int y, int x, int width, const char *s, size_t n, theme_el el)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS)
        return 0;
    if (width < 0 || width > COLS - x)
        width = COLS - x;
    move(y, x);
    attr_set(theme_attr(el), theme_pair(el), NULL);
    int used = 0;
    glyph g;
    for (size_t i = 0; i < n && s[i];) {
        glyph_next(s + i, n - i, &g);
        if (used + g.cols > width)
            break;
        glyph_put(&g, el);
        used += g.cols;
        i += g.bytes;
    }
    attr_set(A_NORMAL, 0, NULL);
    return used;
}

int draw_text(int y, int x, int width, const char *s, theme_el el)
{
    return draw_text_n(y, x, width, s, (size_t)-1, el);
}

int draw_textf(int y, int x, int width, theme_el el, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return draw_text(y, x, width, buf, el);
}

int draw_width_n(const char *s, size_t n)
{
    int w = 0;
    glyph g;
    for (size_t i = 0; i < n && s[i]; i += g.bytes) {
        glyph_next(s + i, n - i, &g);
        w += g.cols;
    }
    return w;
}

int draw_width(const char *s)
{
    return draw_width_n(s, (size_t)-1);
}

size_t draw_bytes_for_width(const char *s, int w)
{
    size_t i = 0;
    glyph g;
    while (s[i]) {
        glyph_next(s + i, (size_t)-1, &g);
        if (g.cols > w)
            break;
        w -= g.cols;
        i += g.bytes;
    }
    return i;
}

void draw_text_right(int y, int x_end, const char *s, theme_el el)
{
    int w = draw_width(s);
    int x = x_end - w;
    if (x < 0)
        x = 0;
    draw_text(y, x, x_end - x, s, el);
}

void draw_fill(int y, int x, int width, theme_el el)
{
    if (y < 0 || y >= LINES || x < 0 || x >= COLS)
        return;
    if (width > COLS - x)
        width = COLS - x;
    attr_set(theme_attr(el), theme_pair(el), NULL);
    mvhline(y, x, ' ', width);
    attr_set(A_NORMAL, 0, NULL);
}

/* Bytes of the longest prefix of s that fits width columns and ends at a space or the end. */
static size_t line_take(const char *s, int width)
{
    size_t fit = draw_bytes_for_width(s, width);
    if (!s[fit] || fit == 0)
        return fit ? fit : strlen(s) ? draw_bytes_for_width(s, 1) : 0;
    size_t cut = fit;
    while (cut > 0 && s[cut] != ' ')
        cut--;
    return cut ? cut : fit; /* a word longer than the line is cut where it must be */
}

int draw_wrapped(int y, int x, int width, int max_lines, const char *s, theme_el el)
{
    int lines = 0;
    if (width < 1)
        return 0;
    while (*s) {
        size_t n = line_take(s, width);
        if (y >= 0 && lines < max_lines)
            draw_text_n(y + lines, x, width, s, n, el);
        lines++;
        s += n;
        while (*s == ' ')
            s++;
    }
    return lines;
}
