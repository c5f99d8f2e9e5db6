/* The headless workbench of bench_tui and bench_train_run: ncurses on newterm("xterm-256color")
 * writing into an in-memory file (memfd), so that every byte it writes is counted and writing is a
 * memcpy, reading a pipe nobody writes to; and the terminal's capabilities filled by hand instead
 * of probed. Header-only for the reason bench_util.h gives; apart from it because of <curses.h>'s
 * macros. */
#ifndef BENCH_TERM_H
#define BENCH_TERM_H
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tui/term_caps.h"
#include "tui/theme.h"

/* ncurses and the app's text widths need a UTF-8 locale (as app_main.c): the environment's, or
 * C.UTF-8. 0, or -1 when neither is UTF-8. */
static inline int bench_locale_utf8(void)
{
    setlocale(LC_ALL, "");
    if (!strcmp(nl_langinfo(CODESET), "UTF-8"))
        return 0;
    if (setlocale(LC_CTYPE, "C.UTF-8") && !strcmp(nl_langinfo(CODESET), "UTF-8"))
        return 0;
    return -1;
}

/* ncurses with its output on out_fd (a memfd) and its input a new pipe nobody writes to, the
 * screen cols x rows (COLUMNS and LINES), set up as app_main.c's terminal_start minus the probe.
 * *scr is the new screen, current, as soon as newterm made it (bench_term_end ends it). 0, or -1:
 * errno set, or a line on stderr (prefixed "who: ") when ncurses made the screen another size. */
static inline int bench_term_start(SCREEN **scr, int out_fd, int cols, int rows, const char *who)
{
    int in[2];
    if (pipe(in) < 0)
        return -1;
    char c[16], r[16];
    snprintf(c, sizeof c, "%d", cols);
    snprintf(r, sizeof r, "%d", rows);
    setenv("COLUMNS", c, 1);
    setenv("LINES", r, 1);
    FILE *out = fdopen(out_fd, "w"), *inf = fdopen(in[0], "r");
    if (!out || !inf)
        return -1;
    *scr = newterm("xterm-256color", out, inf);
    if (!*scr)
        return -1;
    set_term(*scr);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    idcok(stdscr, FALSE);
    theme_init();
    mouseinterval(0);
    if (COLS != cols || LINES != rows) {
        fprintf(stderr, "%s: ncurses made the screen %dx%d, not %dx%d\n", who, COLS, LINES, cols, rows);
        return -1;
    }
    return 0;
}

static inline void bench_term_end(SCREEN **scr)
{
    if (*scr) {
        endwin();
        delscreen(*scr);
        *scr = NULL;
    }
}

/* What the probe would have found: an xterm-256color with cells of cell_w x cell_h pixels, 256
 * sixel colours, graphics mode m. */
static inline void bench_caps_fill(term_caps *c, gfx_mode m, int cell_w, int cell_h, const char *who)
{
    memset(c, 0, sizeof *c);
    c->gfx = m;
    c->cell_w = cell_w;
    c->cell_h = cell_h;
    c->sixel_colors = 256;
    snprintf(c->terminal, sizeof c->terminal, "xterm-256color");
    snprintf(c->why, sizeof c->why, "%s: %s", who, gfx_mode_name(m));
}

#endif
