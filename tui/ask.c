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

/* A question may need more than the status row on a narrow terminal: it grows upwards, because
 * every answer must be readable before a key is pressed. */
void ask_draw(app *a, int y)
{
    int n = draw_wrapped(-1, 1, COLS - 2, 0, a->ask->question, TH_CURSOR);
    if (n > y)
        n = y;
    for (int r = 0; r < n; r++)
        draw_fill(y - n + 1 + r, 0, COLS, TH_CURSOR);
    draw_wrapped(y - n + 1, 1, COLS - 2, n, a->ask->question, TH_CURSOR);
}
