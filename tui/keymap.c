/* Key dispatch, key names, the help overlay's text and the key bar, all from the key tables. */
#include "tui/keymap.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/actions.h"
#include "tui/draw.h"
#include "tui/screen.h"

const key_binding keymap_global[] = {
    {{'?', KEY_FN(KEY_F(1))}, action_help, "this help (Esc closes it)", "Help"},
    {{'1'}, action_screen_1, "Dataset screen: browse, preview, edit tags", NULL},
    {{'2'}, action_screen_2, "Tags screen: occurrence, rename/merge/delete everywhere", NULL},
    {{'3'}, action_screen_3, "Captions screen: keep_tokens, shuffle, dropout", NULL},
    {{'4'}, action_screen_4, "Train screen: the run's whole config; start training", NULL},
    {{'5'}, action_screen_5, "Run screen: loss plot, progress, pause/stop/save/sample", NULL},
    {{'6'}, action_screen_6, "Samples screen: prompt x step grid, compare two steps", NULL},
    {{'\t'}, action_next_screen, "next screen", NULL},
    {{KEY_FN(KEY_BTAB)}, action_prev_screen, "previous screen", NULL},
    {{'u'}, action_undo, "undo the last edit step", "Undo"},
    {{KEY_CTRL('r')}, action_redo, "redo", NULL},
    {{KEY_CTRL('s')}, action_save, "save edited captions (atomically)", "Save"},
    {{':'}, action_command, "command line (:help lists the commands)", "Cmd"},
    {{KEY_CTRL('l')}, action_repaint, "repaint the screen, images included", NULL},
    {{'q', KEY_FN(KEY_F(10))}, action_quit, "quit (asks when edits are unsaved)", "Quit"},
    {{0}, NULL, NULL, NULL},
};

static const key_binding *table_find(const key_binding *t, int key)
{
    for (; t && t->fn; t++)
        for (int k = 0; k < 4 && t->keys[k]; k++)
            if (t->keys[k] == key)
                return t;
    return NULL;
}

bool keymap_dispatch(app *a, int key)
{
    const key_binding *b = table_find(screen_get(a->screen)->keys, key);
    if (!b)
        b = table_find(keymap_global, key);
    if (!b)
        return false;
    b->fn(a);
    return true;
}

static const struct {
    int key;
    const char *name;
} fn_names[] = {
    {KEY_FN(KEY_UP), "↑"}, {KEY_FN(KEY_DOWN), "↓"}, {KEY_FN(KEY_LEFT), "←"},
    {KEY_FN(KEY_RIGHT), "→"}, {KEY_FN(KEY_PPAGE), "PgUp"}, {KEY_FN(KEY_NPAGE), "PgDn"},
    {KEY_FN(KEY_HOME), "Home"}, {KEY_FN(KEY_END), "End"}, {KEY_FN(KEY_DC), "Del"},
    {KEY_FN(KEY_IC), "Ins"}, {KEY_FN(KEY_BTAB), "S-Tab"}, {KEY_FN(KEY_ENTER), "Enter"},
    {KEY_FN(KEY_BACKSPACE), "BS"}, {KEY_FN(KEY_SR), "S-↑"}, {KEY_FN(KEY_SF), "S-↓"},
    {'\n', "Enter"}, {'\r', "Enter"}, {'\t', "Tab"}, {' ', "Space"}, {KEY_ESC, "Esc"}, {127, "BS"},
};

const char *keymap_key_name(int key, char *buf, int size)
{
    for (size_t i = 0; i < sizeof fn_names / sizeof fn_names[0]; i++)
        if (fn_names[i].key == key)
            return fn_names[i].name;
    if (key & 0x40000000) {
        int k = key & ~0x40000000;
        if (k >= KEY_F(1) && k <= KEY_F(24))
            snprintf(buf, size, "F%d", k - KEY_F(0));
        else
            snprintf(buf, size, "key%d", k);
    } else if (key < 32) {
        snprintf(buf, size, "Ctrl-%c", key + 'A' - 1);
    } else {
        wchar_t w[2] = {(wchar_t)key, 0};
        snprintf(buf, size, "%ls", w);
    }
    return buf;
}

/* "a/b/c" for a binding's keys */
static void binding_keys(const key_binding *b, char *out, int size)
{
    out[0] = 0;
    const char *prev = "";
    char nb[4][32];
    for (int k = 0; k < 4 && b->keys[k]; k++) {
        const char *n = keymap_key_name(b->keys[k], nb[k], sizeof nb[k]);
        if (!strcmp(n, prev)) /* \r, \n and KEY_ENTER are all "Enter" */
            continue;
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", k ? " " : "", n);
        prev = n;
    }
}

static int lines_add(char ***lines, size_t *n, const char *s)
{
    char **l = realloc(*lines, sizeof *l * (*n + 1));
    if (!l)
        return -1;
    *lines = l;
    if (!(l[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static void table_help(const key_binding *t, char ***lines, size_t *n)
{
    for (; t && t->fn; t++) {
        char keys[96], line[256];
        binding_keys(t, keys, sizeof keys);
        int pad = 16 - draw_width(keys); /* columns, not bytes: ↑ is three bytes wide in UTF-8 */
        snprintf(line, sizeof line, "  %s%*s %s", keys, pad > 0 ? pad : 0, "", t->help);
        lines_add(lines, n, line);
    }
}

char **keymap_help_lines(const app *a, size_t *n)
{
    char **lines = NULL;
    char title[96];
    *n = 0;
    snprintf(title, sizeof title, "%s screen", screen_get(a->screen)->name);
    lines_add(&lines, n, title);
    table_help(screen_get(a->screen)->keys, &lines, n);
    lines_add(&lines, n, "");
    lines_add(&lines, n, "Everywhere");
    table_help(keymap_global, &lines, n);
    lines_add(&lines, n, "");
    lines_add(&lines, n, "In a prompt: Enter accepts, Esc cancels, Tab completes, ↑/↓ pick a "
                         "suggestion, Ctrl-U clears, Ctrl-W deletes a word.");
    lines_add(&lines, n, "Edits are journaled as you make them (DIR/.tagbench/journal.jsonl): a "
                         "dropped connection loses nothing.");
    return lines;
}

/* One "key Word" item at x if it ends before column limit; returns where the next one goes. */
static int bar_item_before(int y, int x, int limit, const key_binding *b)
{
    char nb[32];
    const char *k = keymap_key_name(b->keys[0], nb, sizeof nb);
    if (x + draw_width(k) + (int)strlen(b->bar) + 1 > limit)
        return x;
    x += draw_text(y, x, -1, k, TH_KEY);
    x += draw_text(y, x, -1, " ", TH_BAR);
    x += draw_text(y, x, -1, b->bar, TH_BAR);
    return x + 2;
}

static int bar_item(int y, int x, const key_binding *b)
{
    return bar_item_before(y, x, COLS, b);
}

/* Help first and Quit at the right end are always shown (what a newcomer needs most); the
 * screen's keys, then the other global ones, fill the space between as far as it goes. */
void keymap_draw_bar(const app *a, int y)
{
    draw_fill(y, 0, COLS, TH_BAR);
    const key_binding *help = table_find(keymap_global, '?'), *quit = table_find(keymap_global, 'q');
    int x = bar_item(y, 0, help);
    char nb[32];
    int quit_w = draw_width(keymap_key_name(quit->keys[0], nb, sizeof nb)) + 1 + (int)strlen(quit->bar);
    int right = COLS - quit_w;
    bar_item(y, right, quit);
    for (int pass = 0; pass < 2; pass++) {
        const key_binding *b = pass ? keymap_global : screen_get(a->screen)->keys;
        for (; b && b->fn; b++)
            if (b->bar && b != help && b != quit)
                x = bar_item_before(y, x, right - 1, b);
    }
}

static void table_markdown(FILE *out, const key_binding *t)
{
    fprintf(out, "| keys | what it does |\n|---|---|\n");
    for (; t && t->fn; t++) {
        char keys[96];
        binding_keys(t, keys, sizeof keys);
        fprintf(out, "| `%s` | ", keys);
        for (const char *h = t->help; *h; h++)
            fprintf(out, *h == '|' ? "\\|" : "%c", *h); /* a | would end the table cell */
        fprintf(out, " |\n");
    }
}

void keymap_print_markdown(FILE *out)
{
    fprintf(out, "# Keys of the workbench\n\nGenerated by `tagbench keys` from the key tables that "
                 "dispatch the keys (the in-app help, `?`, shows the same text).\n");
    for (int s = 0; s < SCREEN_COUNT; s++) {
        fprintf(out, "\n## %s screen\n\n", screen_get(s)->name);
        table_markdown(out, screen_get(s)->keys);
    }
    fprintf(out, "\n## Everywhere\n\n");
    table_markdown(out, keymap_global);
    fprintf(out, "\n## In a prompt\n\nEnter accepts, Esc cancels, Tab completes (the highlighted "
                 "suggestion, else the first), ↑/↓ or Ctrl-N/Ctrl-P pick a suggestion, ←/→ Home "
                 "End move, Ctrl-U clears to the start, Ctrl-K to the end, Ctrl-W deletes a word.\n");
}
