/* The default theme. Pairs 1..TH_COUNT-1 are ours; image panes allocate their own with alloc_pair
 * above them, so the two never collide. */
#include "tui/theme.h"

typedef struct theme_def {
    short fg, bg;   /* -1 = the terminal's default */
    attr_t attr;    /* with colours */
    attr_t mono;    /* without colours */
} theme_def;

static const theme_def defs[TH_COUNT] = {
    [TH_NORMAL] = {-1, -1, A_NORMAL, A_NORMAL},
    [TH_HEADER] = {COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE},
    [TH_TAB] = {COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE},
    [TH_TAB_ON] = {COLOR_WHITE, COLOR_BLUE, A_BOLD, A_BOLD},
    [TH_CURSOR] = {COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE},
    [TH_CURSOR_OFF] = {-1, -1, A_REVERSE, A_UNDERLINE},
    [TH_MARKED] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
    [TH_EDITED] = {COLOR_MAGENTA, -1, A_BOLD, A_BOLD},
    [TH_DIM] = {-1, -1, A_DIM, A_DIM},
    [TH_KEY] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
    [TH_BAR] = {-1, -1, A_NORMAL, A_NORMAL},
    [TH_ERROR] = {COLOR_RED, -1, A_BOLD, A_BOLD | A_REVERSE},
    [TH_OK] = {COLOR_GREEN, -1, A_NORMAL, A_NORMAL},
    [TH_KEPT] = {COLOR_GREEN, -1, A_BOLD, A_BOLD | A_UNDERLINE},
    [TH_ESCAPE] = {COLOR_RED, -1, A_NORMAL, A_REVERSE},
    [TH_TITLE] = {-1, -1, A_BOLD, A_BOLD},
};

static bool colours;

void theme_init(void)
{
    colours = has_colors() && start_color() == OK;
    if (!colours)
        return;
    use_default_colors();
    for (int el = 1; el < TH_COUNT; el++)
        init_pair((short)el, defs[el].fg, defs[el].bg);
}

attr_t theme_attr(theme_el el)
{
    return colours ? defs[el].attr : defs[el].mono;
}

short theme_pair(theme_el el)
{
    return colours ? (short)el : 0;
}

void theme_use(theme_el el)
{
    attr_set(theme_attr(el), theme_pair(el), NULL);
}
