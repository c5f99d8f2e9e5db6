/* The event loop: poll() on the terminal (and, later, the trainer's channel) with a timer, keys
 * dispatched through the key tables, and one frame drawn per batch of events. Frames follow the
 * recipe of reference/terminal.md §2.2: ncurses draws everything with image boxes left blank,
 * doupdate(), then the image layer writes its bytes. */
#include "tui/app_loop.h"

#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "tui/ask.h"
#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/overlay.h"
#include "tui/preview.h"
#include "tui/prompt.h"
#include "tui/screen.h"

#define MIN_COLS 80
#define MIN_ROWS 24
#define TICK_MS 1000

static void header_draw(app *a)
{
    draw_fill(0, 0, COLS, TH_HEADER);
    int x = draw_text(0, 0, -1, " tagbench ", TH_HEADER);
    for (int s = 0; s < SCREEN_COUNT; s++)
        x += draw_textf(0, x, -1, s == (int)a->screen ? TH_TAB_ON : TH_TAB, " %d %s ", s + 1,
                        screen_get(s)->name);
    char right[256];
    snprintf(right, sizeof right, "%zu images · %zu unsaved · %s ", a->ds->n_items, a->ds->n_dirty,
             gfx_mode_name(a->caps.gfx));
    draw_text_right(0, COLS, right, TH_HEADER);
}

static void status_draw(app *a, int y)
{
    if (a->ask)
        ask_draw(a, y);
    else if (a->prompt)
        prompt_draw(a, y);
    else
        draw_text(y, 0, COLS, a->msg, a->msg_error ? TH_ERROR : TH_NORMAL);
}

static void too_small_draw(void)
{
    draw_textf(LINES / 2, 0, COLS, TH_ERROR, "tagbench needs %dx%d; this terminal is %dx%d.", MIN_COLS,
               MIN_ROWS, COLS, LINES);
    draw_text(LINES / 2 + 1, 0, COLS, "Enlarge it, or press q to quit.", TH_NORMAL);
}

void app_draw(app *a)
{
    preview_frame_begin(a->pv);
    erase();
    a->too_small = COLS < MIN_COLS || LINES < MIN_ROWS;
    if (a->too_small) {
        too_small_draw();
    } else {
        header_draw(a);
        screen_get(a->screen)->draw(a, 1, LINES - 3);
        keymap_draw_bar(a, LINES - 1);
        if (a->overlay)
            overlay_draw(a);
        status_draw(a, LINES - 2);
    }
    preview_frame_end(a->pv);
    wnoutrefresh(stdscr);
    doupdate();
    preview_emit(a->pv, STDOUT_FILENO);
    a->redraw = false;
}

static void resize(app *a)
{
    term_caps_update_cell(STDIN_FILENO, &a->caps);
    preview_invalidate(a->pv);
    a->redraw = true;
}

static void mouse(app *a)
{
    MEVENT ev;
    if (getmouse(&ev) != OK || a->too_small || a->prompt || a->ask || a->overlay)
        return;
    int button = ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED) ? 1
               : ev.bstate & BUTTON4_PRESSED ? 4
               : ev.bstate & BUTTON5_PRESSED ? 5 : 0;
    if (!button)
        return;
    if (ev.y == 0 && button == 1) { /* the header: " N Name " tabs after " tagbench " */
        int x = 10;
        for (int s = 0; s < SCREEN_COUNT; s++) {
            int w = 4 + draw_width(screen_get(s)->name);
            if (ev.x >= x && ev.x < x + w)
                app_show(a, s);
            x += w;
        }
        return;
    }
    const screen_def *sd = screen_get(a->screen);
    if (sd->click)
        sd->click(a, ev.y, ev.x, button);
    a->redraw = true;
}

void app_key(app *a, int key)
{
    a->redraw = true;
    if (key == KEY_FN(KEY_RESIZE)) {
        resize(a);
    } else if (key == KEY_FN(KEY_MOUSE)) {
        mouse(a);
    } else if (a->ask) {
        ask_key(a, key);
    } else if (a->prompt) {
        prompt_key(a, key);
    } else if (a->overlay) {
        overlay_key(a, key);
    } else if (a->too_small) {
        if (key == 'q' || key == KEY_CTRL('c'))
            keymap_dispatch(a, 'q');
    } else if (key == KEY_CTRL('c')) {
        keymap_dispatch(a, 'q');
    } else if (!keymap_dispatch(a, key)) {
        char nb[32];
        app_say(a, "%s: not a key on this screen (? lists the keys)", keymap_key_name(key, nb, sizeof nb));
    }
}

/* Reads every key that is waiting. */
static void keys_read(app *a)
{
    wint_t ch;
    int r;
    while ((r = get_wch(&ch)) != ERR)
        app_key(a, r == KEY_CODE_YES ? KEY_FN((int)ch) : (int)ch);
}

/* Milliseconds poll() may sleep: until the screen's timer, at most a tick. */
static int poll_timeout(const app *a)
{
    if (!a->wake_at)
        return TICK_MS;
    long long left = a->wake_at - app_now_ms();
    return left < 0 ? 0 : left < TICK_MS ? (int)left : TICK_MS;
}

static void timer_run(app *a)
{
    if (!a->wake_at || app_now_ms() < a->wake_at)
        return;
    a->wake_at = 0;
    const screen_def *sd = screen_get(a->screen);
    if (sd->tick)
        sd->tick(a);
    a->redraw = true;
}

void app_loop(app *a)
{
    a->running = true;
    a->redraw = true;
    while (a->running) {
        if (a->redraw)
            app_draw(a);
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int timeout = poll_timeout(a);
        int r = poll(&pfd, 1, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r == 0 && timeout == TICK_MS && app_tick(a)) /* a quiet second: look at the disk */
            a->redraw = true;
        timer_run(a);
        if (r < 0) /* SIGWINCH: ncurses queues a KEY_RESIZE for get_wch */
            a->redraw = true;
        keys_read(a);
        if (pfd.revents & (POLLHUP | POLLERR)) /* the terminal went away (SSH dropped) */
            break;
    }
}
