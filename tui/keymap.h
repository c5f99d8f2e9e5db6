/* Key tables. Each binding carries its keys, its action and its one-line help, so the same table
 * dispatches a key press, fills the help overlay (?) and the key bar: what the help says is what
 * the keys do. The global table applies on every screen; each screen has its own (screen.h),
 * consulted first. */
#ifndef TUI_KEYMAP_H
#define TUI_KEYMAP_H
#include <stdbool.h>
#include <stdio.h>

#include "tui/app.h"

/* A key: a character (Unicode code point) or an ncurses function key marked with KEY_FN. */
#define KEY_FN(k) ((k) | 0x40000000)
#define KEY_CTRL(c) ((c) & 0x1f)
#define KEY_ESC 27

typedef struct key_binding {
    int keys[4];           /* up to 4 keys, 0-terminated when fewer */
    void (*fn)(app *a);
    const char *help;      /* for the help overlay */
    const char *bar;       /* a word for the key bar, or NULL */
} key_binding;

/* Runs the binding of key on the current screen (screen table first, then global); false if the
 * key is bound to nothing there. */
bool keymap_dispatch(app *a, int key);
/* "Ctrl-S", "↑", "F1", "a", ... */
const char *keymap_key_name(int key, char *buf, int size);
/* The help overlay's lines for the current screen: its keys, then the global ones. */
char **keymap_help_lines(const app *a, size_t *n);
/* Draws the key bar on row y for the current screen. */
void keymap_draw_bar(const app *a, int y);

/* Every table as Markdown (docs/keys.md is this output). */
void keymap_print_markdown(FILE *out);

extern const key_binding keymap_global[];

#endif
