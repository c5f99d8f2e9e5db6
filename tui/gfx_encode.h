/* Turning an RGB image into what a terminal draws: a sixel stream, kitty graphics commands, or
 * half-block cells for ncurses. Pure functions of their inputs (no terminal, no ncurses), so
 * they run in worker threads and are tested byte by byte. */
#ifndef TUI_GFX_ENCODE_H
#define TUI_GFX_ENCODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tagger/error.h"
#include "tagger/image.h"
#include "tui/term_caps.h"

/* Growable bytes. A zeroed gfx_buf is empty and valid. */
typedef struct gfx_buf {
    char *data;
    size_t len, cap;
} gfx_buf;

/* Appends n bytes; -1 on out of memory (the buffer keeps what it had). */
int gfx_buf_put(gfx_buf *b, const void *p, size_t n);
int gfx_buf_puts(gfx_buf *b, const char *s);
/* Appends p with every ESC doubled: the body of a tmux passthrough sequence. */
int gfx_buf_put_doubled(gfx_buf *b, const void *p, size_t n);
void gfx_buf_free(gfx_buf *b);

/* tmux passthrough framing: "ESC P tmux ;" before, "ESC \" after a doubled body. */
#define GFX_TMUX_OPEN "\033Ptmux;"
#define GFX_TMUX_CLOSE "\033\\"

/* Sixel through libsixel's low-level API, ncolors registers (clamped to 2..256). An image with
 * at most ncolors distinct colours gets exactly those colours (no dithering); others are
 * quantised by libsixel (median cut, Floyd-Steinberg). img is never modified. With tmux_wrap
 * the stream is wrapped for tmux passthrough. Appends to out; -1 with err set on failure. */
int gfx_sixel_encode(const image *img, int ncolors, bool tmux_wrap, gfx_buf *out, tg_error *err);

/* kitty graphics protocol: transmit and display (a=T) raw RGB (f=24) of s=w x v=h pixels as
 * image id, q=2 (no replies), C=1 (cursor stays), base64 payload in chunks of at most 4096
 * bytes (m=1 on all but the last). With tmux_wrap each chunk is wrapped on its own (tmux drops
 * any single sequence over its input buffer). Appends to out. */
int gfx_kitty_encode(const image *img, uint32_t id, bool tmux_wrap, gfx_buf *out, tg_error *err);
/* Deletes image id and frees its data in the terminal (a=d,d=I). Appends to out. */
void gfx_kitty_delete(uint32_t id, bool tmux_wrap, gfx_buf *out);

/* Half blocks: img must be cols x (2*rows) pixels; cell (r, c) = cells[r*cols + c] is U+2580
 * with fg = pixel (c, 2r) and bg = pixel (c, 2r+1), as xterm-256 indices (16..255) or, when
 * truecolor, 0xRRGGBB. */
typedef struct gfx_cell {
    uint32_t fg, bg;
} gfx_cell;
void gfx_blocks_render(const image *img, bool truecolor, gfx_cell *cells);
/* Nearest of the 6x6x6 cube (16..231) and the grey ramp (232..255) by squared distance; never
 * 0..15, whose colours the user's theme redefines. */
uint8_t gfx_rgb_to_256(uint8_t r, uint8_t g, uint8_t b);

/* The largest image (pw x ph pixels, aspect kept, upscaled if smaller) of an iw x ih source
 * that fits a box of cols x rows cells in caps->gfx mode, and the cells it covers:
 *   sixel:  ph rounded DOWN to a multiple of 6 (a band is 6 px; rounding up spills into the row
 *           below), pw shrunk to keep the aspect;
 *   kitty:  screen pixels;
 *   blocks: pw = used_cols, ph = 2*used_rows (one cell = 1x2 image pixels), aspect judged in
 *           screen pixels so it holds for non-square cells;
 *   none, or an empty box/source: all zero. */
void gfx_fit(int iw, int ih, int cols, int rows, const term_caps *caps, int *pw, int *ph,
             int *used_cols, int *used_rows);

#endif
