/* The event loop and frame drawing of the workbench. */
#ifndef TUI_APP_LOOP_H
#define TUI_APP_LOOP_H
#include "tui/app.h"

/* Runs until a->running turns false (or the terminal goes away). */
void app_loop(app *a);
/* Handles one key (a character or KEY_FN(ncurses key)); tests and the loop call it. */
void app_key(app *a, int key);
/* Draws one frame: ncurses text, then the images. */
void app_draw(app *a);

#endif
