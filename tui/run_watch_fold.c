/* Folding a run's events into what the Run and Samples screens show (run_watch.h): the newest
 * figures, the loss series, the event log, samples and checkpoints, and the speed. Everything is
 * derived from the events alone (their times included), so replaying a run folder's
 * events.jsonl gives the same picture as watching the run live. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tui/run_watch.h"

run_watch *run_watch_new(const char *run_dir)
{
    run_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->loss = ls_new(0, RUN_WATCH_SMOOTHING);
    w->log = calloc(RUN_WATCH_LOG_LINES, sizeof *w->log);
    w->run_dir = run_dir ? strdup(run_dir) : NULL;
    if (!w->loss || !w->log || (run_dir && !w->run_dir)) {
        run_watch_free(w);
        return NULL;
    }
    w->state = RUN_STATE_STARTING;
    return w;
}

const char *run_watch_log_line(const run_watch *w, size_t i)
{
    return i < w->n_log ? w->log[(w->log_head + i) % RUN_WATCH_LOG_LINES] : "";
}

/* Appends "HH:MM:SS text" (the event's local time), dropping the oldest line when full. */
static void log_add(run_watch *w, double t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_add(run_watch *w, double t, const char *fmt, ...)
{
    char stamp[16] = "--:--:--";
    time_t secs = (time_t)t;
    struct tm tm;
    if (t > 0 && localtime_r(&secs, &tm))
        strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    char *text = NULL, *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int ok = vasprintf(&text, fmt, ap) >= 0;
    va_end(ap);
    if (!ok || asprintf(&line, "%s %s", stamp, text) < 0)
        line = NULL;
    free(ok ? text : NULL);
    if (!line)
        return; /* out of memory: the log loses a line, the run is not disturbed */
    size_t slot = (w->log_head + w->n_log) % RUN_WATCH_LOG_LINES;
    if (w->n_log == RUN_WATCH_LOG_LINES) {
        free(w->log[w->log_head]);
        w->log_head = (w->log_head + 1) % RUN_WATCH_LOG_LINES;
    } else {
        w->n_log++;
    }
    w->log[slot] = line;
}

/* The speed over the newest steps. A pause restarts the window, so time spent paused (or loading
 * the model) does not count as slowness. */
static void rate_add(run_watch *w, double t, int64_t step)
{
    int n = RUN_WATCH_RATE_N;
    int slot = (w->rate_head + w->rate_n) % n;
    if (w->rate_n == n)
        w->rate_head = (w->rate_head + 1) % n;
    else
        w->rate_n++;
    w->rate_t[slot] = t;
    w->rate_step[slot] = step;
    double dt = t - w->rate_t[w->rate_head];
    int64_t ds = step - w->rate_step[w->rate_head];
    if (w->rate_n >= 2 && dt > 0 && ds > 0)
        w->steps_per_s = ds / dt;
}

static void rate_reset(run_watch *w)
{
    w->rate_n = w->rate_head = 0;
}

static void fold_step(run_watch *w, const run_event *ev)
{
    w->step = ev->step.step;
    w->epoch = ev->step.epoch;
    w->lr = ev->step.lr;
    w->grad_norm = ev->step.grad_norm;
    w->samples_per_s = ev->step.samples_per_s;
    w->mem_bytes = ev->step.mem_bytes;
    w->total_steps = ev->step.total_steps;
    w->total_epochs = ev->step.total_epochs;
    w->last_step_at = ev->time;
    w->steps_merged += ev->step.skipped;
    ls_append(w->loss, ev->step.step, ev->step.loss);
    rate_add(w, ev->time, ev->step.step);
    if (w->state == RUN_STATE_STARTING)
        w->state = RUN_STATE_RUNNING;
}

/* For the log: a path inside the run folder without the folder (which the screen shows once),
 * so that the part that differs fits on the line. */
static const char *short_path(const run_watch *w, const char *path)
{
    size_t n = w->run_dir ? strlen(w->run_dir) : 0;
    if (n && !strncmp(path, w->run_dir, n) && path[n] == '/' && path[n + 1])
        return path + n + 1;
    return path;
}

/* A relative sample path the run wrote is relative to its working directory, which is ours for
 * a live run but not for a folder opened later: then the run folder is the better guess. */
static char *sample_path(const run_watch *w, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *alt = NULL;
    if (path[0] != '/' && w->run_dir && access(path, F_OK) != 0 &&
        asprintf(&alt, "%s/samples/%s", w->run_dir, base) >= 0) {
        if (access(alt, F_OK) == 0)
            return alt;
        free(alt);
    }
    return strdup(path);
}

static void fold_sample(run_watch *w, const run_event *ev)
{
    if (w->n_samples == w->cap_samples) {
        size_t cap = w->cap_samples ? 2 * w->cap_samples : 16;
        run_sample *s = realloc(w->samples, cap * sizeof *s);
        if (!s)
            return;
        w->samples = s;
        w->cap_samples = cap;
    }
    char *path = sample_path(w, ev->sample.path ? ev->sample.path : "");
    if (!path)
        return;
    w->samples[w->n_samples++] = (run_sample){ev->sample.step, ev->sample.prompt, path};
    int p = ev->sample.prompt;
    /* the file first: the prompt's text may run off the line */
    if (p >= 0 && (size_t)p < w->n_prompts)
        log_add(w, ev->time, "sample at step %lld: %s (prompt %d: %s)", (long long)ev->sample.step,
                short_path(w, path), p + 1, w->prompts[p]);
    else
        log_add(w, ev->time, "sample at step %lld: %s (prompt %d)", (long long)ev->sample.step,
                short_path(w, path), p + 1);
}

static void fold_checkpoint(run_watch *w, const run_event *ev)
{
    const char *path = ev->checkpoint.path ? ev->checkpoint.path : "";
    char **c = realloc(w->checkpoints, (w->n_checkpoints + 1) * sizeof *c);
    if (c) {
        w->checkpoints = c;
        if ((c[w->n_checkpoints] = strdup(path)))
            w->n_checkpoints++;
    }
    log_add(w, ev->time, "checkpoint at step %lld (epoch %d): %s", (long long)ev->checkpoint.step,
            ev->checkpoint.epoch, short_path(w, path));
}

static void fold_end(run_watch *w, const run_event *ev)
{
    if (ev->kind == RUN_EV_FINISHED) {
        w->state = RUN_STATE_FINISHED;
        w->finish_reason = ev->finished.reason;
        log_add(w, ev->time, "%s at step %lld", ev->finished.reason == RUN_FINISH_STOPPED
                ? "stopped (on request, after saving)" : "finished", (long long)w->step);
    } else {
        w->state = RUN_STATE_FAILED;
        free(w->fail_message);
        w->fail_message = strdup(ev->failed.message ? ev->failed.message : "the run failed");
        log_add(w, ev->time, "error: failed: %s", ev->failed.message ? ev->failed.message : "");
    }
}

void run_watch_fold(run_watch *w, const run_event *ev)
{
    if (!w->started_at)
        w->started_at = ev->time;
    w->last_event_at = ev->time;
    w->generation++;
    switch (ev->kind) {
    case RUN_EV_STEP:
        fold_step(w, ev);
        break;
    case RUN_EV_LOG:
        log_add(w, ev->time, "%s%s", ev->log.level == RUN_LOG_ERROR ? "error: "
                : ev->log.level == RUN_LOG_WARN ? "warn: " : "", ev->log.text ? ev->log.text : "");
        break;
    case RUN_EV_SAMPLE_WRITTEN:
        fold_sample(w, ev);
        break;
    case RUN_EV_CHECKPOINT_WRITTEN:
        fold_checkpoint(w, ev);
        break;
    case RUN_EV_PAUSED:
        w->state = RUN_STATE_PAUSED;
        rate_reset(w);
        log_add(w, ev->time, "paused at step %lld", (long long)w->step);
        break;
    case RUN_EV_RESUMED:
        w->state = w->step ? RUN_STATE_RUNNING : RUN_STATE_STARTING;
        rate_reset(w);
        log_add(w, ev->time, "resumed");
        break;
    case RUN_EV_FINISHED:
    case RUN_EV_FAILED:
        fold_end(w, ev);
        break;
    default:
        break;
    }
}

double run_watch_eta(const run_watch *w)
{
    if (w->state != RUN_STATE_RUNNING || w->steps_per_s <= 0 || w->total_steps <= w->step)
        return -1;
    return (w->total_steps - w->step) / w->steps_per_s;
}

static const char *state_name(run_state s, run_finish_reason why)
{
    switch (s) {
    case RUN_STATE_STARTING: return "starting";
    case RUN_STATE_RUNNING: return "running";
    case RUN_STATE_PAUSED: return "paused";
    case RUN_STATE_FINISHED: return why == RUN_FINISH_STOPPED ? "stopped" : "finished";
    case RUN_STATE_FAILED: return "failed";
    default: return "viewed";
    }
}

const char *run_watch_state_name(const run_watch *w)
{
    if (w->state != RUN_STATE_VIEWED)
        return state_name(w->state, w->finish_reason);
    if (w->view_state == RUN_STATE_FINISHED || w->view_state == RUN_STATE_FAILED)
        return state_name(w->view_state, w->finish_reason);
    return "ended early"; /* no finish in the log: a crash, a kill, or still running elsewhere */
}

void run_watch_summary(const run_watch *w, char *buf, size_t size)
{
    if (!w || w->state == RUN_STATE_VIEWED)
        snprintf(buf, size, "%s", "");
    else if (w->state == RUN_STATE_RUNNING && w->total_steps > 0)
        snprintf(buf, size, "run %lld/%lld", (long long)w->step, (long long)w->total_steps);
    else
        snprintf(buf, size, "run %s", run_watch_state_name(w));
}
