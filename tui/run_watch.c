/* The workbench's training run (run_watch.h): launching one on a snapshot of the dataset,
 * draining its event channel, passing on requests, and opening old run folders. The folding of
 * events is in run_watch_fold.c. */
#include "tui/run_watch.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/run_config.h"
#include "trainer/sample_prompt.h"
#include "trainer/train_run.h"
#include "tui/app.h"

/* The first engine is the CPU one; the workbench has no device option yet. */
#define RUN_BACKEND "cpu"
#define POP_BATCH 64

/* p itself when absolute (or base is NULL), else base/p; malloc'd. */
static char *path_from(const char *base, const char *p)
{
    char *out = NULL;
    if (p[0] == '/' || !base)
        return strdup(p);
    return asprintf(&out, "%s/%s", base, p) < 0 ? NULL : out;
}

static void prompts_free(run_watch *w)
{
    for (size_t i = 0; i < w->n_prompts; i++)
        free(w->prompts[i]);
    free(w->prompts);
    w->prompts = NULL;
    w->n_prompts = 0;
}

int run_watch_load_prompts(run_watch *w, const char *path, tg_error *err)
{
    sample_prompt_list l = {0};
    prompts_free(w);
    if (sample_prompts_load(path, &l, err) < 0)
        return -1;
    int rc = 0;
    if (l.count && !(w->prompts = calloc(l.count, sizeof *w->prompts)))
        rc = error_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < l.count; i++, w->n_prompts++)
        if (!(w->prompts[i] = strdup(l.items[i].prompt)))
            rc = error_set(err, "out of memory");
    sample_prompts_free(&l);
    if (rc < 0)
        prompts_free(w);
    w->generation++;
    return rc;
}

/* The prompts of the config's sample_prompts (relative to base); a file that does not load
 * becomes a warning in the log (the run reports its own error if it needs the file). */
static void prompts_from_config(run_watch *w, const run_config *cfg, const char *base)
{
    if (!cfg->sample_prompts || !*cfg->sample_prompts)
        return;
    tg_error err;
    char *path = path_from(base, cfg->sample_prompts);
    if (!path || run_watch_load_prompts(w, path, &err) < 0) {
        run_event ev = {.kind = RUN_EV_LOG, .log = {RUN_LOG_WARN, NULL}};
        char *text = NULL;
        if (asprintf(&text, "sample prompts: %s", path ? err.msg : "out of memory") >= 0) {
            ev.log.text = text;
            run_watch_fold(w, &ev);
        }
        free(text);
    }
    free(path);
}

/* ---- launching ---- */

/* The dataset folder, absolute: the run resolves the config's relative paths against it. */
static char *dataset_dir(app *a)
{
    char *dir = realpath(a->opts.dir, NULL);
    return dir ? dir : strdup(a->opts.dir);
}

/* train_start with the dataset folder as train_data_dir when the config names none. The config
 * is borrowed for the call and put back as it was, so the run.json on disk is not changed. */
static int launch(app *a, const char *dir, train_snapshot *snap, run_thread **t, char **run_dir,
                  tg_error *err)
{
    run_config *cfg = a->cfg;
    bool borrowed = !cfg->train_data_dir;
    if (borrowed && run_config_string_set(&cfg->train_data_dir, dir) < 0) {
        train_snapshot_free(snap);
        return error_set(err, "out of memory");
    }
    train_launch l = {.cfg = cfg, .base_dir = dir, .snap = snap, .backend = RUN_BACKEND, .threads = 0};
    int rc = train_start(&l, t, run_dir, err);
    if (borrowed)
        run_config_string_set(&cfg->train_data_dir, NULL);
    return rc;
}

int run_watch_start(app *a)
{
    if (run_watch_active(a->run)) {
        app_error(a, "a run is going: stop it first (x on the Run screen)");
        return -1;
    }
    tg_error err;
    char *dir = dataset_dir(a), *run_dir = NULL;
    train_snapshot *snap = dir ? train_snapshot_take(a->ds, &err) : NULL;
    run_thread *t = NULL;
    run_watch *w = NULL;
    if (!dir || !snap) {
        app_error(a, "run not started: %s", dir ? err.msg : "out of memory");
    } else if (launch(a, dir, snap, &t, &run_dir, &err) < 0) {
        app_error(a, "run not started: %s", err.msg);
    } else if (!(w = run_watch_new(run_dir))) {
        run_thread_free(t); /* stops it: nothing could show it */
        app_error(a, "run not started: out of memory");
    } else {
        w->thread = t;
        prompts_from_config(w, a->cfg, dir);
        run_watch_free(a->run); /* an ended or viewed one */
        a->run = w;
        app_say(a, "run started in %s%s", run_dir,
                a->ds->n_dirty ? " (it trains on the captions as shown, unsaved edits included)" : "");
    }
    free(dir);
    free(run_dir);
    return w ? 0 : -1;
}

/* ---- viewing a folder ---- */

static int fold_cb(const run_event *ev, void *user)
{
    run_watch_fold(user, ev);
    return 0;
}

run_watch *run_watch_read(const char *run_dir, const char *base_dir, tg_error *err)
{
    run_watch *w = run_watch_new(run_dir);
    char *events = path_from(run_dir, "events.jsonl"), *config = path_from(run_dir, "config.json");
    if (!w || !events || !config) {
        error_set(err, "out of memory");
        goto fail;
    }
    run_config cfg;
    tg_error cerr;
    if (run_config_load(config, &cfg, &cerr) == 0) /* before the events: sample lines name prompts */
        prompts_from_config(w, &cfg, base_dir);
    run_config_free(&cfg);
    if (run_events_read(events, fold_cb, w, &w->n_bad_lines, err) < 0)
        goto fail;
    if (w->n_bad_lines) { /* a line torn by a crash, or events of a later version */
        char text[96];
        snprintf(text, sizeof text, "%zu line(s) of events.jsonl do not parse: skipped", w->n_bad_lines);
        run_event ev = {.kind = RUN_EV_LOG, .time = w->last_event_at, .log = {RUN_LOG_WARN, text}};
        run_watch_fold(w, &ev);
    }
    w->view_state = w->state;
    w->state = RUN_STATE_VIEWED;
    free(events);
    free(config);
    return w;
fail:
    free(events);
    free(config);
    run_watch_free(w);
    return NULL;
}

int run_watch_view(app *a, const char *run_dir)
{
    if (run_watch_active(a->run)) {
        app_error(a, "a run is going: its screen shows it (stop it to open another folder)");
        return -1;
    }
    tg_error err;
    char *dir = dataset_dir(a), *abs = realpath(run_dir, NULL); /* events name files by full path */
    run_watch *w = dir ? run_watch_read(abs ? abs : run_dir, dir, &err) : NULL;
    free(abs);
    if (!w)
        app_error(a, "cannot open the run: %s", dir ? err.msg : "out of memory");
    free(dir);
    if (!w)
        return -1;
    run_watch_free(a->run);
    a->run = w;
    app_say(a, "viewing %s: %lld steps, %s", run_dir, (long long)w->step, run_watch_state_name(w));
    return 0;
}

char *run_watch_latest_dir(const char *dataset_dir)
{
    char *runs = path_from(dataset_dir, ".tagbench/runs"), *best = NULL, *out = NULL;
    DIR *d = runs ? opendir(runs) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat sb;
        char *p = NULL;
        if (e->d_name[0] == '.' || asprintf(&p, "%s/%s", runs, e->d_name) < 0)
            continue;
        /* names are YYYYmmdd-HHMMSS[-N]: the greatest is the newest */
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && (!best || strcmp(e->d_name, best) > 0)) {
            free(best);
            best = strdup(e->d_name);
        }
        free(p);
    }
    if (d)
        closedir(d);
    if (best && asprintf(&out, "%s/%s", runs, best) < 0)
        out = NULL;
    free(best);
    free(runs);
    return out;
}

/* ---- the going run ---- */

int run_watch_fd(const run_watch *w)
{
    return w && w->thread ? run_chan_fd(run_thread_chan(w->thread)) : -1;
}

/* After the last event the thread is about to return: join it now so nothing lingers. */
static void thread_end(run_watch *w)
{
    tg_error err;
    run_thread_join(w->thread, &err);
    run_thread_free(w->thread);
    w->thread = NULL;
}

bool run_watch_poll(run_watch *w)
{
    if (!w || !w->thread)
        return false;
    run_chan *ch = run_thread_chan(w->thread);
    run_event ev[POP_BATCH];
    size_t n, total = 0;
    do {
        n = run_chan_pop(ch, ev, POP_BATCH);
        for (size_t i = 0; i < n; i++) {
            run_watch_fold(w, &ev[i]);
            run_event_clear(&ev[i]);
        }
        total += n;
    } while (n == POP_BATCH);
    if (w->state == RUN_STATE_FINISHED || w->state == RUN_STATE_FAILED)
        thread_end(w);
    return total > 0;
}

bool run_watch_active(const run_watch *w)
{
    return w && w->thread;
}

void run_watch_pause(run_watch *w)
{
    if (run_watch_active(w))
        run_request_pause(w->thread);
}

void run_watch_resume(run_watch *w)
{
    if (run_watch_active(w))
        run_request_resume(w->thread);
}

void run_watch_stop(run_watch *w)
{
    if (!run_watch_active(w))
        return;
    run_request_stop(w->thread);
    w->stop_requested = true;
}

void run_watch_save_now(run_watch *w)
{
    if (run_watch_active(w))
        run_request_save(w->thread);
}

void run_watch_sample_now(run_watch *w)
{
    if (run_watch_active(w))
        run_request_sample(w->thread);
}

void run_watch_free(run_watch *w)
{
    if (!w)
        return;
    run_thread_free(w->thread); /* a going run is stopped: it saves before it ends */
    free(w->run_dir);
    free(w->fail_message);
    ls_free(w->loss);
    for (size_t i = 0; w->log && i < w->n_log; i++)
        free(w->log[(w->log_head + i) % RUN_WATCH_LOG_LINES]);
    free(w->log);
    for (size_t i = 0; i < w->n_samples; i++)
        free(w->samples[i].path);
    free(w->samples);
    prompts_free(w);
    for (size_t i = 0; i < w->n_checkpoints; i++)
        free(w->checkpoints[i]);
    free(w->checkpoints);
    free(w);
}
