/* Line editing with UTF-8 cursor movement and tag suggestions (prompt.h). */
#include "tui/prompt.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/caption.h"
#include "tui/draw.h"
#include "tui/keymap.h"

static void cands_update(app *a)
{
    prompt *p = a->prompt;
    p->n_cands = 0;
    p->sel = -1;
    if (!p->complete || !a->comp)
        return;
    const char *excl[256];
    size_t n_excl = 0;
    long cur = app_current_item(a);
    if (p->exclude_current && cur >= 0) {
        const ds_item *it = &a->ds->items[cur];
        for (uint32_t k = 0; k < it->n_tags && n_excl < 256; k++)
            excl[n_excl++] = dataset_tag(a->ds, it, k);
    }
    p->n_cands = completer_query(a->comp, p->buf, excl, n_excl, p->cands, PROMPT_CANDS);
}

void prompt_open(app *a, const char *label, const char *initial, const char *arg, bool complete,
                 void (*submit)(app *a, const char *text, const char *arg))
{
    prompt_close(a);
    prompt *p = calloc(1, sizeof *p);
    if (!p) {
        app_error(a, "out of memory");
        return;
    }
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->buf, sizeof p->buf, "%s", initial ? initial : "");
    snprintf(p->arg, sizeof p->arg, "%s", arg ? arg : "");
    p->len = p->cur = strlen(p->buf);
    p->submit = submit;
    p->complete = complete;
    a->prompt = p;
    cands_update(a);
    curs_set(1);
    a->redraw = true;
}

void prompt_close(app *a)
{
    free(a->prompt);
    a->prompt = NULL;
    curs_set(0);
    a->redraw = true;
}

static size_t char_before(const prompt *p, size_t i)
{
    while (i > 0 && ((unsigned char)p->buf[--i] & 0xc0) == 0x80)
        ;
    return i;
}

static size_t char_after(const prompt *p, size_t i)
{
    size_t n = i < p->len ? utf8_seq_len(p->buf + i, p->len - i) : 0;
    return i + (n ? n : (i < p->len));
}

static void text_delete(prompt *p, size_t from, size_t to)
{
    memmove(p->buf + from, p->buf + to, p->len - to + 1);
    p->len -= to - from;
    p->cur = from;
}

static void text_insert(prompt *p, const char *s, size_t n)
{
    if (p->len + n >= PROMPT_MAX)
        return;
    memmove(p->buf + p->cur + n, p->buf + p->cur, p->len - p->cur + 1);
    memcpy(p->buf + p->cur, s, n);
    p->len += n;
    p->cur += n;
}

static void text_set(prompt *p, const char *s)
{
    snprintf(p->buf, sizeof p->buf, "%s", s);
    p->len = p->cur = strlen(p->buf);
}

static size_t utf8_encode(long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static void prompt_submit(app *a)
{
    prompt *p = a->prompt;
    if (p->sel >= 0 && (size_t)p->sel < p->n_cands)
        text_set(p, p->cands[p->sel].text);
    prompt copy = *p;
    prompt_close(a);
    copy.submit(a, copy.buf, copy.arg);
}

/* Tab: take the chosen suggestion (the first when none is chosen) into the text. */
static void prompt_complete(prompt *p)
{
    if (!p->n_cands)
        return;
    int k = p->sel >= 0 ? p->sel : 0;
    text_set(p, p->cands[k].text);
}

static void cand_move(prompt *p, int d)
{
    if (!p->n_cands)
        return;
    int n = (int)p->n_cands;
    p->sel = p->sel < 0 ? (d > 0 ? 0 : n - 1) : (p->sel + d + n) % n;
}

static bool prompt_edit_key(prompt *p, int key)
{
    switch (key) {
    case KEY_FN(KEY_LEFT): p->cur = char_before(p, p->cur); return false;
    case KEY_FN(KEY_RIGHT): p->cur = char_after(p, p->cur); return false;
    case KEY_FN(KEY_HOME): case KEY_CTRL('a'): p->cur = 0; return false;
    case KEY_FN(KEY_END): case KEY_CTRL('e'): p->cur = p->len; return false;
    case KEY_FN(KEY_BACKSPACE): case 127: case KEY_CTRL('h'):
        if (p->cur)
            text_delete(p, char_before(p, p->cur), p->cur);
        return true;
    case KEY_FN(KEY_DC): case KEY_CTRL('d'):
        if (p->cur < p->len)
            text_delete(p, p->cur, char_after(p, p->cur));
        return true;
    case KEY_CTRL('u'): text_delete(p, 0, p->cur); return true;
    case KEY_CTRL('k'): p->buf[p->cur] = 0; p->len = p->cur; return true;
    case KEY_CTRL('w'): {
        size_t i = p->cur;
        while (i > 0 && p->buf[i - 1] == ' ')
            i--;
        while (i > 0 && p->buf[i - 1] != ' ')
            i--;
        text_delete(p, i, p->cur);
        return true;
    }
    default:
        if (key >= 32 && key != 127 && !(key & 0x40000000) && key < 0x110000) {
            char u[4];
            text_insert(p, u, utf8_encode(key, u));
            return true;
        }
        return false;
    }
}

void prompt_key(app *a, int key)
{
    prompt *p = a->prompt;
    a->redraw = true;
    if (key == KEY_ESC) {
        prompt_close(a);
    } else if (key == '\n' || key == '\r' || key == KEY_FN(KEY_ENTER)) {
        prompt_submit(a);
    } else if (key == '\t') {
        prompt_complete(p);
        cands_update(a);
    } else if (key == KEY_FN(KEY_DOWN) || key == KEY_CTRL('n')) {
        cand_move(p, 1);
    } else if (key == KEY_FN(KEY_UP) || key == KEY_CTRL('p')) {
        cand_move(p, -1);
    } else if (prompt_edit_key(p, key)) {
        cands_update(a);
    }
}

/* The suggestions in a box just above the prompt, best first at the top, so that ↓ moves down. */
static void cands_draw(app *a, int y)
{
    prompt *p = a->prompt;
    int x = draw_width(p->label) + 2, w = COLS - x < 60 ? COLS - x : 60;
    int n = (int)p->n_cands < y - 1 ? (int)p->n_cands : y - 1;
    for (int k = 0; k < n; k++) {
        const completion *c = &p->cands[k];
        int row = y - n + k;
        theme_el el = k == p->sel ? TH_TAB_ON : TH_TAB;
        draw_fill(row, x, w, el);
        draw_text(row, x + 1, w - 12, c->text, el);
        char num[32];
        if (c->count)
            snprintf(num, sizeof num, "%u", c->count);
        else
            snprintf(num, sizeof num, "csv %u", c->csv_count);
        draw_text_right(row, x + w - 1, num, el);
    }
}

void prompt_draw(app *a, int y)
{
    prompt *p = a->prompt;
    draw_fill(y, 0, COLS, TH_NORMAL);
    int x = draw_text(y, 0, COLS / 2, p->label, TH_TITLE);
    x += draw_text(y, x, 2, ": ", TH_TITLE);
    int avail = COLS - x - 1;
    /* scroll the text so the cursor stays visible */
    size_t start = 0;
    while (draw_width_n(p->buf + start, p->cur - start) > avail - 1)
        start = char_after(p, start);
    draw_text(y, x, avail, p->buf + start, TH_NORMAL);
    cands_draw(a, y);
    move(y, x + draw_width_n(p->buf + start, p->cur - start));
}
