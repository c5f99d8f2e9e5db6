/* The one-line editor on the status row: tag names (with completion), filter expressions, the
 * command line, renames. While open it takes every key; Enter calls `submit` with the text,
 * Esc closes it without. */
#ifndef TUI_PROMPT_H
#define TUI_PROMPT_H
#include <stdbool.h>

#include "tui/app.h"
#include "tui/complete.h"

#define PROMPT_MAX 1024
#define PROMPT_CANDS 8

struct prompt {
    char label[96];
    char buf[PROMPT_MAX];
    size_t len, cur;            /* bytes; cur is on a character boundary */
    char arg[PROMPT_MAX];       /* what the action needs besides the text (e.g. the old tag) */
    void (*submit)(app *a, const char *text, const char *arg);
    bool complete;              /* suggest tags as the user types */
    bool exclude_current;       /* leave out tags the current image has (adding) */
    completion cands[PROMPT_CANDS];
    size_t n_cands;
    int sel;                    /* chosen suggestion, -1 = none */
};

void prompt_open(app *a, const char *label, const char *initial, const char *arg, bool complete,
                 void (*submit)(app *a, const char *text, const char *arg));
void prompt_close(app *a);
/* Handles one key; always consumes it. */
void prompt_key(app *a, int key);
/* Draws the prompt on row y and, above it, the suggestions. Leaves the cursor in the text. */
void prompt_draw(app *a, int y);

#endif
