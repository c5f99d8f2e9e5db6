/* A screen of the workbench. Adding one (the trainer's Train, Run and Samples) means: a file
 * with a `const screen_def`, an entry in screens[] (screen.c), a screen_id, and its keys in the
 * key table (keymap.c). The app owns the layout: a screen draws between the header (row 0) and
 * the status line and key bar (the last two rows). */
#ifndef TUI_SCREEN_H
#define TUI_SCREEN_H
#include "tui/app.h"

typedef struct screen_def {
    const char *name;          /* in the header and the help */
    void *(*create)(app *a);   /* private state (NULL allowed) */
    void (*destroy)(void *st);
    void (*enter)(app *a);     /* when the screen becomes current (may be NULL) */
    void (*draw)(app *a, int top, int rows); /* rows top..top+rows-1 of stdscr are its own */
    void (*click)(app *a, int y, int x, int button); /* mouse (may be NULL) */
    void (*tick)(app *a);      /* the timer it asked for with app_wake_in (may be NULL) */
    const struct key_binding *keys; /* its key table, ended by an entry without fn */
} screen_def;

extern const screen_def screen_dataset, screen_tags, screen_captions, screen_train, screen_run,
    screen_samples;

const screen_def *screen_get(screen_id id);

#endif
