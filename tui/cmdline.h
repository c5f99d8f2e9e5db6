/* The `:` command line: rarely used actions by name, and every batch edit operation of
 * `tagbench edit` (`:rename "long hair" "long_hair"`), applied to the marked images, or to every
 * image of the current view when none is marked. `:help` lists the commands. */
#ifndef TUI_CMDLINE_H
#define TUI_CMDLINE_H
#include "tui/app.h"

/* Splits like a shell: words separated by blanks, "double" or 'single' quotes group, \ escapes
 * the next character outside single quotes. Returns the number of words (at most max) or -1 on an
 * unterminated quote; words point into buf (a modified copy of the line). */
int cmdline_split(char *buf, char **words, int max);

/* Runs one command line (the prompt's submit function). */
void cmdline_run(app *a, const char *line, const char *unused);

#endif
