/* One-key questions (ask.h). */
#include "tui/ask.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/draw.h"
#include "tui/keymap.h"

void ask_open(app *a, const char *keys, void (*answer)(app *a, int key), const char *fmt, ...)
{
    free(a->ask);
    a->ask = calloc(1, sizeof *a->ask);
    if (!a->ask) {
        app_error(a, "out of memory");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->ask->question, sizeof a->ask->question, fmt, ap);
    va_end(ap);
    snprintf(a->ask->keys, sizeof a->ask->keys, "%s", keys);
    a->ask->answer = answer;
    a->redraw = true;
}

void ask_key(app *a, int key)
{
    ask *q = a->ask;
    if (key != KEY_ESC && (key <= 0 || key > 127 || !strchr(q->keys, key)))
        return;
    void (*answer)(app *, int) = q->answer;
    free(q);
    a->ask = NULL;
    a->redraw = true;
    answer(a, key);
}

void ask_draw(app *a, int y)
{
    draw_fill(y, 0, COLS, TH_CURSOR);
    draw_text(y, 1, COLS - 2, a->ask->question, TH_CURSOR);
}
