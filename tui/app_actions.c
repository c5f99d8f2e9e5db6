/* The global actions (actions.h): quit, save, undo/redo, help, screens, repaint. */
#include "tui/actions.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/journal.h"
#include "tagger/save.h"
#include "tui/ask.h"
#include "tui/cmdline.h"
#include "tui/keymap.h"
#include "tui/overlay.h"
#include "tui/preview.h"
#include "tui/prompt.h"
#include "tui/run_watch.h"

/* Save report messages go to an overlay: a conflict needs more than one status line. */
static void save_report_show(app *a, save_report *rep)
{
    char **lines = calloc(rep->n_messages + 2, sizeof *lines);
    if (!lines)
        return;
    size_t n = 0;
    for (size_t k = 0; k < rep->n_messages; k++)
        lines[n++] = strdup(rep->messages[k]);
    lines[n++] = strdup("");
    lines[n++] = strdup("These edits stay unsaved (and journaled). Reload the changed files "
                        "elsewhere or edit them here again, then Ctrl-S.");
    overlay_open(a, "Save: some captions were not written", lines, n);
}

void app_save(app *a)
{
    if (!a->ds->n_dirty) {
        app_say(a, "nothing to save");
        return;
    }
    save_report rep;
    tg_error err;
    int rc = dataset_save(a->ds, &rep, &err);
    if (rc < 0)
        app_error(a, "save: %s", err.msg);
    else if (rc > 0) {
        app_error(a, "saved %zu caption(s); %zu changed on disk by someone else and %zu failed: "
                  "not overwritten", rep.written, rep.conflicts, rep.failed);
        save_report_show(a, &rep);
    } else
        app_say(a, "saved %zu caption%s", rep.written, rep.written == 1 ? "" : "s");
    save_report_free(&rep);
    a->redraw = true;
}

void action_save(app *a)
{
    app_save(a);
}

static void quit_answer(app *a, int key)
{
    if (key == 's') {
        app_save(a);
        if (!a->ds->n_dirty)
            a->running = false;
    } else if (key == 'k') {
        a->running = false; /* the journal keeps the edits: the next start offers them back */
    } else if (key == 'd') {
        tg_error err;
        /* back to what is on disk: steps before the last save stay */
        while (a->ds->n_dirty && dataset_undo(a->ds, &err) > 0)
            ;
        if (a->ds->n_dirty)
            app_error(a, "could not undo every edit; not quitting");
        else if (dataset_journal_discard(a->ds, &err) < 0)
            app_error(a, "%s", err.msg);
        else
            a->running = false;
    }
}

static void quit_edits(app *a)
{
    if (!a->ds->n_dirty) {
        a->running = false;
        return;
    }
    ask_open(a, "skd", quit_answer,
             "%zu caption(s) have unsaved edits.  s save and quit · k keep them in the journal "
             "for next time and quit · d discard them and quit · Esc stay",
             a->ds->n_dirty);
}

static void quit_run_answer(app *a, int key)
{
    if (key != 'y')
        return; /* stay: the run goes on */
    run_watch_stop(a->run);
    quit_edits(a);
}

/* The run is asked about first: answering about the edits and then choosing to stay with the
 * run would leave the edits saved or discarded for nothing. */
void action_quit(app *a)
{
    if (run_watch_active(a->run) && !a->run->stop_requested)
        ask_open(a, "yn", quit_run_answer, "A run is going: stop it (saves a checkpoint) and quit? y/n");
    else
        quit_edits(a);
}

void action_help(app *a)
{
    size_t n;
    char **lines = keymap_help_lines(a, &n);
    if (lines)
        overlay_open(a, "Keys", lines, n);
}

static void undo_redo(app *a, bool redo)
{
    tg_error err;
    const char *label = redo ? dataset_redo_label(a->ds) : dataset_undo_label(a->ds);
    char what[256];
    snprintf(what, sizeof what, "%s", label ? label : "");
    int rc = redo ? dataset_redo(a->ds, &err) : dataset_undo(a->ds, &err);
    if (rc < 0)
        app_error(a, "%s: %s", redo ? "redo" : "undo", err.msg);
    else if (rc == 0)
        app_say(a, "nothing to %s", redo ? "redo" : "undo");
    else
        app_say(a, "%s: %s", redo ? "redone" : "undone", what);
    app_refresh_view(a);
}

void action_undo(app *a)
{
    undo_redo(a, false);
}

void action_redo(app *a)
{
    undo_redo(a, true);
}

void action_repaint(app *a)
{
    clearok(curscr, TRUE);
    preview_invalidate(a->pv);
    a->redraw = true;
}

void action_next_screen(app *a)
{
    app_show(a, (a->screen + 1) % SCREEN_COUNT);
}

void action_prev_screen(app *a)
{
    app_show(a, (a->screen + SCREEN_COUNT - 1) % SCREEN_COUNT);
}

void action_screen_1(app *a)
{
    app_show(a, SCREEN_DATASET);
}

void action_screen_2(app *a)
{
    app_show(a, SCREEN_TAGS);
}

void action_screen_3(app *a)
{
    app_show(a, SCREEN_CAPTIONS);
}

void action_screen_4(app *a)
{
    app_show(a, SCREEN_TRAIN);
}

void action_screen_5(app *a)
{
    app_show(a, SCREEN_RUN);
}

void action_screen_6(app *a)
{
    app_show(a, SCREEN_SAMPLES);
}

void action_command(app *a)
{
    prompt_open(a, ":", "", NULL, false, cmdline_run);
}
