/* Putting text on the screen. Text that came from files (tags, file names) goes through these
 * functions only: a control character, a C1 control or a byte that is not UTF-8 is shown as a
 * visible escape (\x1b, \n, \xff) in the escape colour, never sent to the terminal, so a caption
 * cannot move the cursor, set the title or emit anything. Widths are display columns (wide
 * characters count two) and every call is clipped to the width it is given. */
#ifndef TUI_DRAW_H
#define TUI_DRAW_H
#include <stddef.h>

#include "tui/theme.h"

/* Draws s at (y, x) in at most width columns; returns the columns used. With width < 0 the text
 * is not clipped (but still stops at the screen edge). */
int draw_text(int y, int x, int width, const char *s, theme_el el);
int draw_text_n(int y, int x, int width, const char *s, size_t n, theme_el el);
/* printf-style, for our own text (still sanitised: it may carry a file name). */
int draw_textf(int y, int x, int width, theme_el el, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Display columns s would take as draw_text shows it. */
int draw_width(const char *s);
int draw_width_n(const char *s, size_t n);
/* Right-aligned text ending at column x_end (exclusive). */
void draw_text_right(int y, int x_end, const char *s, theme_el el);
/* Blanks width columns at (y, x) in the element's colour. */
void draw_fill(int y, int x, int width, theme_el el);
/* Word-wraps s into lines of at most width columns, drawn from row y down, at most max_lines;
 * returns the number of lines it needs (which may exceed max_lines: nothing past is drawn). With
 * y < 0 it only counts. */
int draw_wrapped(int y, int x, int width, int max_lines, const char *s, theme_el el);
/* The byte offset in s where w display columns end (for cursor positions in prompts). */
size_t draw_bytes_for_width(const char *s, int w);

#endif
