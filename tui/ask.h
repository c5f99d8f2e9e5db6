/* A question on the status line answered by one key, e.g. quitting with unsaved edits or
 * replaying a journal. While it waits, every other key is ignored. */
#ifndef TUI_ASK_H
#define TUI_ASK_H
#include "tui/app.h"

struct ask {
    char question[512];
    char keys[16];                 /* accepted answers; Esc always cancels */
    void (*answer)(app *a, int key); /* key is one of keys, or KEY_ESC */
};

void ask_open(app *a, const char *keys, void (*answer)(app *a, int key), const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ask_key(app *a, int key);
void ask_draw(app *a, int y);

#endif
