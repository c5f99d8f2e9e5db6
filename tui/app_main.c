/* Starting and ending the workbench: open the dataset, probe the terminal, bring back a journal
 * left by a session that died, run the loop, put the terminal back. */
#include <curses.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tagger/journal.h"
#include "tui/app.h"
#include "tui/app_loop.h"
#include "tui/ask.h"
#include "tui/captions_config.h"
#include "tui/cli.h"
#include "tui/complete.h"
#include "tui/overlay.h"
#include "tui/preview.h"
#include "tui/run_watch.h"
#include "tui/screen.h"
#include "tui/theme.h"

/* ncurses and our text widths need a UTF-8 locale; most SSH sessions have one, a bare container
 * may not, and C.UTF-8 is always there on glibc. */
static int locale_utf8(void)
{
    setlocale(LC_ALL, "");
    if (!strcmp(nl_langinfo(CODESET), "UTF-8"))
        return 0;
    if (setlocale(LC_CTYPE, "C.UTF-8") && !strcmp(nl_langinfo(CODESET), "UTF-8"))
        return 0;
    return -1;
}

static void journal_answer(app *a, int key)
{
    tg_error err;
    if (key == 'r') {
        journal_report rep;
        if (dataset_journal_replay(a->ds, &rep, false, &err) < 0) {
            app_error(a, "recover: %s", err.msg);
            return;
        }
        long same = a->journal_pending - (long)(rep.replayed + rep.conflicts + rep.missing);
        char also[96] = "";
        if (same > 0) /* edited, then edited back: the journal has them, the files already agree */
            snprintf(also, sizeof also, "; %ld already as on disk", same);
        if (rep.conflicts || rep.missing)
            app_error(a, "recovered %zu caption(s)%s; %zu changed on disk meanwhile and %zu whose "
                      "image is gone were written to *.tagbench-recovered files", rep.replayed, also,
                      rep.conflicts, rep.missing);
        else
            app_say(a, "recovered the unsaved edits of %zu caption(s)%s (u undoes, Ctrl-S saves)",
                    rep.replayed, also);
        journal_report_free(&rep);
        app_refresh_view(a);
    } else if (key == 'd') {
        if (dataset_journal_discard(a->ds, &err) < 0 || dataset_journal_start(a->ds, &err) < 0)
            app_error(a, "%s", err.msg);
        else
            app_say(a, "discarded the edits of the earlier session");
    } else {
        a->running = false;
    }
}

/* Journaling on, or a question when an earlier session left edits behind. */
static int journal_begin(app *a)
{
    tg_error err;
    long pending = dataset_journal_pending(a->ds, &err);
    if (pending < 0) {
        fprintf(stderr, "tagbench: %s\n", err.msg);
        return -1;
    }
    a->journal_pending = pending;
    if (pending > 0) {
        ask_open(a, "rdq", journal_answer,
                 "An earlier session left unsaved edits of %ld caption(s).  r recover them · "
                 "d discard them · q quit", pending);
        return 0;
    }
    if (dataset_journal_start(a->ds, &err) < 0) {
        fprintf(stderr, "tagbench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int app_open(app *a, const app_opts *o)
{
    tg_error err;
    a->opts = *o;
    a->disk_item = -1;
    if (!(a->ds = cli_open("open", o->dir, o->caption_ext)))
        return -1;
    if (!(a->comp = completer_new(a->ds, o->tags_csv, &err))) {
        fprintf(stderr, "tagbench: %s\n", err.msg);
        return -1;
    }
    if (captions_config_open(a, &err) < 0) {
        fprintf(stderr, "tagbench: %s\n(fix or remove it, or pass --config OTHER.json)\n", err.msg);
        return -1;
    }
    /* A bucket setting the run would refuse only costs the info line its bucket: the Train
     * screen says what is wrong, and the dataset still opens. */
    if (captions_config_buckets(a, &a->buckets, &err) < 0)
        memset(&a->buckets, 0, sizeof a->buckets);
    if (!(a->marked = calloc(a->ds->n_items ? a->ds->n_items : 1, 1))) {
        fprintf(stderr, "tagbench: out of memory\n");
        return -1;
    }
    for (int s = 0; s < SCREEN_COUNT; s++)
        if (screen_get(s)->create && !(a->screen_state[s] = screen_get(s)->create(a)))
            return -1;
    return app_set_filter(a, NULL);
}

void app_close(app *a)
{
    run_watch_free(a->run); /* a going run saves a checkpoint before it ends */
    a->run = NULL;
    for (int s = 0; s < SCREEN_COUNT; s++)
        if (screen_get(s)->destroy)
            screen_get(s)->destroy(a->screen_state[s]);
    free(a->view);
    free(a->filter_text);
    free(a->marked);
    free(a->prompt);
    free(a->ask);
    if (a->overlay) {
        for (size_t i = 0; i < a->overlay->n; i++)
            free(a->overlay->lines[i]);
        free(a->overlay->lines);
        free(a->overlay);
    }
    bucket_list_free(&a->buckets);
    completer_free(a->comp);
    captions_config_close(a);
    preview_free(a->pv);
    if (a->ds)
        dataset_close(a->ds);
}

static void run_quit_answer(app *a, int key)
{
    if (key != 'y')
        return; /* stay: the run goes on */
    run_watch_stop(a->run);
    a->running = false;
}

/* The run lives in this process: quitting ends it. So a quit while it goes is a question (true:
 * the loop must go on to hear the answer). Not when the terminal went away (a->running still
 * true): then the run is stopped and saved without asking. */
static bool run_quit_refused(app *a)
{
    if (a->running || !run_watch_active(a->run) || a->run->stop_requested)
        return false;
    ask_open(a, "yn", run_quit_answer, "A run is going: stop it (saves a checkpoint) and quit? y/n");
    return true;
}

static void terminal_start(app *a)
{
    if (a->opts.gfx < 0)
        term_probe(STDIN_FILENO, 1500, &a->caps);
    else {
        term_probe(-1, 0, &a->caps); /* environment only */
        a->caps.gfx = (gfx_mode)a->opts.gfx;
    }
    term_caps_update_cell(STDIN_FILENO, &a->caps);
    initscr();
    raw(); /* Ctrl-S and Ctrl-C reach us as keys instead of XOFF and SIGINT */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    idcok(stdscr, FALSE); /* no insert/delete-character on rows that carry pixels */
    theme_init();
    if (a->opts.mouse)
        mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
}

int app_run(const app_opts *o)
{
    if (locale_utf8() < 0) {
        fprintf(stderr, "tagbench: the full-screen app needs a UTF-8 locale (e.g. LANG=C.UTF-8)\n");
        return 1;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "tagbench: the full-screen app needs a terminal; for text output use "
                        "`tagbench summary %s`\n", o->dir);
        return 2;
    }
    app a = {0};
    if (app_open(&a, o) < 0) {
        app_close(&a);
        return 1;
    }
    if (journal_begin(&a) < 0) {
        app_close(&a);
        return 1;
    }
    terminal_start(&a);
    if (!(a.pv = preview_new(&a.caps))) {
        endwin();
        fprintf(stderr, "tagbench: out of memory\n");
        app_close(&a);
        return 1;
    }
    do
        app_loop(&a);
    while (run_quit_refused(&a));
    endwin();
    if (run_watch_active(a.run))
        fprintf(stderr, "tagbench: stopping the run: saving a checkpoint in %s ...\n",
                a.run->run_dir ? a.run->run_dir : "its folder");
    size_t unsaved = a.ds->n_dirty;
    if (unsaved)
        fprintf(stderr, "tagbench: %zu caption(s) with unsaved edits are kept in %s/.tagbench/"
                "journal.jsonl; the next `tagbench %s` offers them back\n", unsaved, o->dir, o->dir);
    app_close(&a);
    return 0;
}
