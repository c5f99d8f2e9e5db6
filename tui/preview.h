/* Image previews for the full-screen app: the layer between the screens (which say "this file in
 * this box") and the terminal (which gets sixel or kitty bytes after ncurses' own output, or
 * half-block cells inside ncurses). reference/terminal.md §2 is the recipe.
 *
 * Frame protocol, all on the thread that owns ncurses:
 *     preview_frame_begin(pv);
 *     ... screens draw into stdscr, leave each image box blank, call preview_place() ...
 *     preview_frame_end(pv);       before doupdate(): wipes images that went away
 *     doupdate();
 *     preview_emit(pv, STDOUT_FILENO);   after doupdate(): writes new/invalidated images
 * An image that stays in the same box is not re-sent: ncurses leaves blank cells alone, so its
 * pixels stay. Call preview_invalidate() after KEY_RESIZE (after term_caps_update_cell), after a
 * full repaint (Ctrl-L, clearok), and whenever something wrote over a box behind our back.
 * Overlays (help, prompts) call preview_suspend(pv, true) while they are open and
 * preview_suspend(pv, false) when they close. For sixel/kitty, call idcok(stdscr, FALSE) once
 * (frame_begin does it too): ncurses' insert/delete-character shifting would drag pixels along. */
#ifndef TUI_PREVIEW_H
#define TUI_PREVIEW_H
#include <stdbool.h>
#include <stddef.h>

#include "tui/term_caps.h"

typedef struct preview preview;

/* Where the last preview_place() put its image. */
typedef struct preview_info {
    int y, x, rows, cols; /* the cells the image covers (centred in its box) */
    int px_w, px_h;       /* its size in pixels (blocks: cols x 2*rows) */
    bool ok;              /* false: the box shows an error message or nothing */
} preview_info;

/* caps must outlive pv: preview_invalidate() re-reads it (cell size after a resize). NULL on
 * out of memory. */
preview *preview_new(const term_caps *caps);
void preview_free(preview *pv);

void preview_frame_begin(preview *pv);
/* Image file `path` in the box (y, x, rows, cols) of stdscr this frame; the box is clamped to
 * the screen minus its last row (a sixel touching the last row scrolls the terminal). The
 * screen leaves the box's cells blank. GFX_BLOCKS draws the half blocks into stdscr now; sixel
 * and kitty only record (the bytes go out in preview_emit). A file that cannot be shown gets
 * its error message, made terminal-safe and clipped, in the box. Decodes on this thread unless
 * the result is cached or being prefetched. */
void preview_place(preview *pv, int y, int x, int rows, int cols, const char *path);
/* false when nothing was placed this frame. */
bool preview_last(const preview *pv, preview_info *info);
/* Before doupdate(): sixel placements of the previous frame that are gone or moved get their
 * rows repainted by ncurses (wredrawln), which wipes their pixels; images sharing those rows
 * are re-sent. kitty placements that are gone get a delete command queued for the emit. */
void preview_frame_end(preview *pv);
/* After doupdate(): writes to fd (write(2), EINTR/partial writes/EAGAIN handled) the queued
 * deletes and, for each placement that is new or invalidated, DECSC, CUP, the image, DECRC.
 * Nothing when nothing changed. Returns the bytes written. */
size_t preview_emit(preview *pv, int fd);
/* Every placement is re-sent on the next emit; cached results for another cell size or mode
 * are dropped. */
void preview_invalidate(preview *pv);
/* on: hide every image (wiped at the next doupdate) and send none until suspend(false), which
 * re-sends them all. */
void preview_suspend(preview *pv, bool on);
/* Decode + resize + encode `path` for a box of rows x cols in a worker thread, so that a later
 * preview_place() of it is instant. Never blocks; only the newest requests are kept. */
void preview_prefetch(preview *pv, const char *path, int rows, int cols);

#endif
