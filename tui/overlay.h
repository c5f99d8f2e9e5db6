/* A scrollable text window over the screen: the help (?), save reports, :messages. While one is
 * open, images are hidden (it covers them) and keys scroll it; Esc, q or ? close it. */
#ifndef TUI_OVERLAY_H
#define TUI_OVERLAY_H
#include "tui/app.h"

struct text_overlay {
    char title[96];
    char **lines;
    size_t n;
    size_t top;
};

/* Takes ownership of lines (malloc'd strings in a malloc'd array). */
void overlay_open(app *a, const char *title, char **lines, size_t n);
void overlay_close(app *a);
void overlay_key(app *a, int key);
void overlay_draw(app *a);

#endif
