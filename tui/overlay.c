/* The text overlay (overlay.h). */
#include "tui/overlay.h"

#include <curses.h>
#include <stdlib.h>

#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/preview.h"

void overlay_open(app *a, const char *title, char **lines, size_t n)
{
    overlay_close(a);
    text_overlay *o = calloc(1, sizeof *o);
    if (!o) {
        for (size_t i = 0; i < n; i++)
            free(lines[i]);
        free(lines);
        app_error(a, "out of memory");
        return;
    }
    snprintf(o->title, sizeof o->title, "%s", title);
    o->lines = lines;
    o->n = n;
    a->overlay = o;
    preview_suspend(a->pv, true);
    a->redraw = true;
}

void overlay_close(app *a)
{
    text_overlay *o = a->overlay;
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->lines[i]);
    free(o->lines);
    free(o);
    a->overlay = NULL;
    preview_suspend(a->pv, false);
    preview_invalidate(a->pv);
    a->redraw = true;
}

static int overlay_rows(void)
{
    return LINES - 6;
}

void overlay_key(app *a, int key)
{
    text_overlay *o = a->overlay;
    size_t page = (size_t)overlay_rows(), max = o->n > page ? o->n - page : 0;
    switch (key) {
    case KEY_FN(KEY_DOWN): case 'j': if (o->top < max) o->top++; break;
    case KEY_FN(KEY_UP): case 'k': if (o->top) o->top--; break;
    case KEY_FN(KEY_NPAGE): case ' ': o->top = o->top + page < max ? o->top + page : max; break;
    case KEY_FN(KEY_PPAGE): o->top = o->top > page ? o->top - page : 0; break;
    case KEY_FN(KEY_HOME): case 'g': o->top = 0; break;
    case KEY_FN(KEY_END): case 'G': o->top = max; break;
    case KEY_ESC: case 'q': case '?': case '\n': case KEY_FN(KEY_F(1)): overlay_close(a); return;
    default: break;
    }
    a->redraw = true;
}

void overlay_draw(app *a)
{
    text_overlay *o = a->overlay;
    int x = 0, w = COLS, y = 1, rows = overlay_rows(); /* full width: nothing shows through */
    for (int r = 0; r < rows + 3; r++)
        draw_fill(y + r, x, w, TH_NORMAL);
    attr_set(theme_attr(TH_TITLE), theme_pair(TH_TITLE), NULL);
    mvhline(y, x, ACS_HLINE, w);
    mvhline(y + rows + 2, x, ACS_HLINE, w);
    attr_set(A_NORMAL, 0, NULL);
    draw_textf(y, x + 2, w - 4, TH_TITLE, " %s ", o->title);
    for (int r = 0; r < rows && o->top + r < o->n; r++)
        draw_text(y + 1 + r, x + 1, w - 2, o->lines[o->top + r], TH_NORMAL);
    draw_textf(y + rows + 2, x + 2, w - 4, TH_DIM, " %zu-%zu of %zu  ↑↓ PgUp PgDn scroll, Esc closes ",
               o->n ? o->top + 1 : 0, o->top + rows < o->n ? o->top + rows : o->n, o->n);
}
