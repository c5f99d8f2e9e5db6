/* The event loop: poll() on the terminal and the training run's event channel with a timer, keys
 * dispatched through the key tables, and one frame drawn per batch of events. Frames follow the
 * recipe of reference/terminal.md §2.2: ncurses draws everything with image boxes left blank,
 * doupdate(), then the image layer writes its bytes. */
#include "tui/app_loop.h"

#include <curses.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "tui/ask.h"
#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/overlay.h"
#include "tui/preview.h"
#include "tui/prompt.h"
#include "tui/run_watch.h"
#include "tui/screen.h"

#define MIN_COLS 80
#define MIN_ROWS 24
#define TICK_MS 1000
/* How often a going run's events are taken and drawn: the run thread competes for the CPU, so
 * the screens that show it follow at ~4 frames a second, the others (the header's progress) at
 * one. Events wait in the channel meanwhile (it holds 1024 before steps merge). */
#define RUN_SHOWN_MS 250
#define RUN_HIDDEN_MS 1000

static void header_draw(app *a)
{
    draw_fill(0, 0, COLS, TH_HEADER);
    int x = draw_text(0, 0, -1, " tagbench ", TH_HEADER);
    for (int s = 0; s < SCREEN_COUNT; s++)
        x += draw_textf(0, x, -1, s == (int)a->screen ? TH_TAB_ON : TH_TAB, " %d %s ", s + 1,
                        screen_get(s)->name);
    char right[256], run[64], both[sizeof run + sizeof right + 8];
    snprintf(right, sizeof right, "%zu images · %zu unsaved · %s ", a->ds->n_items, a->ds->n_dirty,
             gfx_mode_name(a->caps.gfx));
    run_watch_summary(a->run, run, sizeof run);
    snprintf(both, sizeof both, "%s · %s", run, right);
    /* the run's progress only where it does not cover the screen tabs */
    draw_text_right(0, COLS, *run && x + 1 + draw_width(both) <= COLS ? both : right, TH_HEADER);
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

/* Milliseconds poll() may sleep: until the screen's timer or the run's next look, at most a
 * tick. */
static int poll_timeout(const app *a, long long run_at)
{
    long long due = a->wake_at;
    if (run_at && (!due || run_at < due))
        due = run_at;
    if (!due)
        return TICK_MS;
    long long left = due - app_now_ms();
    return left < 0 ? 0 : left < TICK_MS ? (int)left : TICK_MS;
}

/* The status line learns how a run ended even on another screen. */
static void run_announce(app *a, run_state before)
{
    run_watch *w = a->run;
    if (w->state == before)
        return;
    if (w->state == RUN_STATE_FINISHED)
        app_say(a, "run %s at step %lld: %s", run_watch_state_name(w), (long long)w->step,
                w->run_dir ? w->run_dir : "");
    else if (w->state == RUN_STATE_FAILED)
        app_error(a, "run failed: %s (5 shows the Run screen)", w->fail_message ? w->fail_message : "");
}

/* Takes the run's pending events when its next look is due (*run_at, 0 = at once) and draws
 * them; then the next look waits, so a fast run costs a few frames a second. */
static void run_take(app *a, long long *run_at)
{
    if (!run_watch_active(a->run)) {
        *run_at = 0;
        return;
    }
    long long now = app_now_ms();
    if (*run_at && now < *run_at)
        return;
    *run_at = 0;
    run_state before = a->run->state;
    if (!run_watch_poll(a->run))
        return; /* nothing came: look again as soon as the channel wakes us */
    a->redraw = true;
    run_announce(a, before);
    bool shown = a->screen == SCREEN_RUN || a->screen == SCREEN_SAMPLES;
    *run_at = now + (shown ? RUN_SHOWN_MS : RUN_HIDDEN_MS);
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

static volatile sig_atomic_t hangup;

static void on_hangup(int sig)
{
    (void)sig;
    hangup = 1;
}

/* A dropped SSH connection (SIGHUP) or a kill (SIGTERM) would end the process where it stands,
 * and a training run in it without a checkpoint. Caught, they end the loop instead (poll returns
 * EINTR: no SA_RESTART), and app_close stops the run, which saves first (this replaces
 * ncurses' own SIGTERM handler, which would only restore the terminal and exit). */
static void hangup_catch(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_hangup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void app_loop(app *a)
{
    hangup_catch();
    a->running = true;
    a->redraw = true;
    long long run_at = 0; /* when the run's events are taken next; 0: when they come */
    while (a->running) {
        if (a->redraw)
            app_draw(a);
        /* The run's channel is left out of the set until its next look is due. */
        int run_fd = run_at && app_now_ms() < run_at ? -1 : run_watch_fd(a->run);
        struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {run_fd, POLLIN, 0}};
        int timeout = poll_timeout(a, run_watch_active(a->run) ? run_at : 0);
        int r = poll(pfd, 2, timeout);
        if ((r < 0 && errno != EINTR) || hangup) /* a->running stays true: nobody to ask */
            break;
        if (r == 0 && timeout == TICK_MS && app_tick(a)) /* a quiet second: look at the disk */
            a->redraw = true;
        timer_run(a);
        if (r < 0) /* SIGWINCH: ncurses queues a KEY_RESIZE for get_wch */
            a->redraw = true;
        run_take(a, &run_at);
        keys_read(a);
        if (pfd[0].revents & (POLLHUP | POLLERR)) /* the terminal went away (SSH dropped) */
            break;
    }
}
