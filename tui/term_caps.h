/* What the terminal can show: which graphics protocol previews use, the cell size in pixels, and
 * whether we sit inside tmux. Found by asking the terminal before initscr() (reference/terminal.md
 * §3), with environment variables only as hints when nothing answers (they are rarely forwarded
 * over SSH, and inside tmux they describe tmux).
 *
 * How the mode is chosen, first match wins:
 *   kitty reply "OK" to the a=q query          -> GFX_KITTY (true colour, delete by id)
 *   DA1 carries parameter 4                     -> GFX_SIXEL (inside tmux: tmux >= 3.4 itself)
 *   inside tmux without native sixel: if allow-passthrough is on and tmux reports what the
 *     outer terminal does (client_termfeatures has "sixel", client_termname is a kitty) use that,
 *     wrapped in ESC Ptmux; ... ESC \; otherwise GFX_BLOCKS (tmux 3.3a wipes passthrough images
 *     on its next redraw, so we never guess)
 *   DA1 answered without 4                      -> GFX_BLOCKS
 *   no answer: TERM / TERM_PROGRAM / KITTY_WINDOW_ID / MLTERM hints, else GFX_BLOCKS, and
 *     GFX_NONE for TERM=dumb or an unset TERM. */
#ifndef TUI_TERM_CAPS_H
#define TUI_TERM_CAPS_H
#include <stdbool.h>
#include <stddef.h>

typedef enum gfx_mode { GFX_NONE, GFX_BLOCKS, GFX_SIXEL, GFX_KITTY } gfx_mode;

typedef struct term_caps {
    gfx_mode gfx;       /* what previews will use */
    int cell_w, cell_h; /* pixels per character cell (fallback 10x20) */
    bool in_tmux;       /* $TMUX set or XTVERSION says tmux */
    bool passthrough;   /* wrap graphics in ESC Ptmux; ... ESC \: tmux with allow-passthrough
                           on and no sixel of its own (also when gfx is blocks, so that a mode
                           forced by the user is wrapped); false when tmux draws sixel itself */
    bool truecolor;     /* COLORTERM=truecolor|24bit */
    int sixel_colors;   /* colour registers from XTSMGRAPHICS, 256 if unknown */
    char terminal[64];  /* XTVERSION name or $TERM, for the status line (sanitised ASCII) */
    char why[128];      /* one line: how gfx was chosen, e.g. "DA1 has 4 (sixel)" */
} term_caps;

/* What tmux says about itself and the terminal it runs in; term_probe asks `tmux show` and
 * `tmux display`. Strings may be empty (unknown). */
typedef struct tmux_facts {
    bool allow_passthrough; /* allow-passthrough is on or all */
    char features[256];     /* #{client_termfeatures}, e.g. "256,RGB,sixel,..." */
    char termname[64];      /* #{client_termname}: the outer terminal's TERM */
} tmux_facts;

/* "sixel|kitty|blocks|none" -> 0 and *m; "auto" -> -1 (meaning: probe); anything else -> -2. */
int gfx_mode_parse(const char *s, gfx_mode *m);
const char *gfx_mode_name(gfx_mode m);

/* Before initscr(): queries the terminal on tty_fd (raw mode, VMIN=0; XTVERSION, XTSMGRAPHICS,
 * CSI 16 t, kitty a=q, DA1 last as sentinel; polls until the DA1 reply or timeout_ms), restores
 * termios, fills caps. Inside tmux also asks tmux (popen, guarded by $TMUX). Does not query when
 * tty_fd is not a terminal or we are not its foreground process group (reading would stop us);
 * then only the environment decides. Keystrokes typed meanwhile are left out of the parse. */
void term_probe(int tty_fd, int timeout_ms, term_caps *caps);

/* Pure parser of a reply buffer (so it is unit-testable without a terminal). envp: "NAME=value"
 * strings ending with NULL, or NULL for the process environment. Replies may be interleaved
 * with keystrokes anywhere. Inside tmux without native sixel this picks GFX_BLOCKS; apply the
 * tmux facts afterwards with term_caps_apply_tmux. */
void term_caps_from_replies(const char *buf, size_t n, const char *const *envp_or_null,
                            term_caps *caps);

/* Inside tmux (caps->in_tmux) without native sixel: use the outer terminal's protocol through
 * passthrough when tmux allows it and says what that terminal can do. No-op outside tmux. */
void term_caps_apply_tmux(term_caps *caps, const tmux_facts *t);

/* Cell size from TIOCGWINSZ when plausible (pixels at least 2x cols and 4x rows); otherwise
 * what the probe found (CSI 16 t) stays. Call again after every resize (font zoom changes it). */
void term_caps_update_cell(int tty_fd, term_caps *caps);

#endif
