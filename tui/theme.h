/* Colours by meaning, not by number (htop's colour-scheme idea): every screen asks for an element,
 * and the theme maps it to the 16 ANSI colours on the terminal's own background, so the app
 * follows the user's palette. 256-colour and truecolour are used only inside image panes. */
#ifndef TUI_THEME_H
#define TUI_THEME_H
#include <curses.h>

typedef enum theme_el {
    TH_NORMAL,
    TH_HEADER,     /* top line */
    TH_TAB,        /* a screen name in the header */
    TH_TAB_ON,     /* the current screen */
    TH_CURSOR,     /* the highlighted row of the focused list */
    TH_CURSOR_OFF, /* the highlighted row of a list without focus */
    TH_MARKED,     /* an image in the multi-selection */
    TH_EDITED,     /* the unsaved-edit marker */
    TH_DIM,        /* secondary text: counts, hints */
    TH_KEY,        /* a key name in the key bar and help */
    TH_BAR,        /* the key bar */
    TH_ERROR,
    TH_OK,
    TH_KEPT,       /* tags kept fixed by keep_tokens */
    TH_ESCAPE,     /* a control character shown as a visible escape */
    TH_TITLE,      /* pane titles */
    TH_COUNT
} theme_el;

/* Defines the colour pairs (call after start_color); without colours everything is attributes. */
void theme_init(void);
/* Attributes and pair of an element, for wattr_set / setcchar. */
attr_t theme_attr(theme_el el);
short theme_pair(theme_el el);
/* Sets stdscr's current rendition to the element. */
void theme_use(theme_el el);

#endif
