#include "tui/train_progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "tui/cli.h"
#include "tui/loss_series.h"

/* The smoothing of the "ema" figure: TensorBoard's debiased EMA (loss_series.h), with a weight
 * that follows about the last 10 steps, which is what a glance at one line can use. */
#define EMA_WEIGHT 0.9
#define BAR_INTERVAL 0.1   /* seconds between redraws of the progress line */
#define LINE_STEPS 10      /* the default cadence of step lines in a log ... */
#define LINE_INTERVAL 2.0  /* ... but at most one line each this many seconds */

struct train_progress {
    train_view view;
    int64_t log_every;
    FILE *out;
    loss_series *loss;
    bool have_step;
    run_event last;         /* the newest STEP event (no strings) */
    double rate_t0;         /* event time and step of the first STEP seen, for it/s */
    int64_t rate_step0;
    char *checkpoint;       /* the newest checkpoint's path */
    double started;         /* monotonic seconds at new */
    double drawn_at;        /* when the progress line was last drawn; 0: never */
    bool shown, dirty;      /* the progress line is on screen / differs from what is */
    bool ended;             /* the result is being printed: no more progress line */
    int64_t line_step;      /* the step of the last step line (TRAIN_VIEW_LINES) */
    double line_at;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

train_progress *train_progress_new(train_view view, int64_t log_every, FILE *out)
{
    train_progress *p = calloc(1, sizeof *p);
    if (!p || !(p->loss = ls_new(4, EMA_WEIGHT))) {
        free(p);
        return NULL;
    }
    p->view = view;
    p->log_every = log_every;
    p->out = out;
    p->started = now_s();
    p->dirty = view == TRAIN_VIEW_BAR; /* "starting" until the first step */
    return p;
}

/* "M:SS", or "H:MM:SS" from an hour on. */
static void duration_format(char *buf, size_t size, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

/* Steps per second since the first step seen (the first step's own time includes loading the
 * model, so it is left out); 0 while unknown. */
static double step_rate(const train_progress *p)
{
    double dt = p->last.time - p->rate_t0;
    int64_t ds = p->last.step.step - p->rate_step0;
    return ds > 0 && dt > 0 ? (double)ds / dt : 0;
}

/* The figures of the newest step: "120/1600 (7%) epoch 2/10 loss ...", or for the progress line,
 * where the bar shows the share and 80 columns must do, "120/1600 ep 2/10 loss ...". */
static void step_text(const train_progress *p, bool compact, char *buf, size_t size)
{
    const run_event *e = &p->last;
    int64_t total = e->step.total_steps;
    int n = snprintf(buf, size, "%lld", (long long)e->step.step);
    if (total > 0)
        n += snprintf(buf + n, size - n, compact ? "/%lld" : "/%lld (%d%%)", (long long)total,
                      (int)(100 * e->step.step / total));
    n += snprintf(buf + n, size - n, compact ? " ep %d" : " epoch %d", e->step.epoch);
    if (e->step.total_epochs > 0)
        n += snprintf(buf + n, size - n, "/%d", e->step.total_epochs);
    int64_t s;
    double raw, smooth;
    if (ls_last(p->loss, &s, &raw, &smooth))
        n += snprintf(buf + n, size - n, " loss %.4f ema %.4f", raw, smooth);
    n += snprintf(buf + n, size - n, compact ? " lr %.1e" : " lr %.2e", e->step.lr);
    double rate = step_rate(p);
    if (rate > 0) {
        n += snprintf(buf + n, size - n, rate < 1 ? " %.1f s/it" : " %.2f it/s", rate < 1 ? 1 / rate : rate);
        if (total > e->step.step) {
            char eta[32];
            duration_format(eta, sizeof eta, (double)(total - e->step.step) / rate);
            n += snprintf(buf + n, size - n, " ETA %s", eta);
        }
    }
    double mib = (double)e->step.mem_bytes / (1 << 20);
    if (mib >= 1024)
        snprintf(buf + n, size - n, " mem %.1f GiB", mib / 1024);
    else if (mib > 0)
        snprintf(buf + n, size - n, " mem %.0f MiB", mib);
}

static int term_columns(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* "[#####.....]  7% " sized to what the figures leave of the line (none when that is too little). */
static void bar_text(const train_progress *p, char *buf, size_t size, int room)
{
    int64_t total = p->last.step.total_steps, step = p->last.step.step;
    int width = room > 38 ? 30 : room - 8;
    buf[0] = '\0';
    if (!p->have_step || total <= 0 || width < 6 || (size_t)width + 10 > size)
        return;
    if (step > total)
        step = total;
    int full = (int)(width * step / total);
    buf[0] = '[';
    for (int k = 0; k < width; k++)
        buf[1 + k] = k < full ? '#' : '.';
    snprintf(buf + 1 + width, size - 1 - width, "] %3d%% ", (int)(100 * step / total));
}

/* Redraws the line in place: the cursor goes back to column 0 and the line is cut to the width
 * (a wrapped line could not be redrawn with \r). Only our own ASCII reaches this line. */
static void bar_draw(train_progress *p)
{
    char stats[512], bar[64], line[640];
    if (p->have_step) {
        step_text(p, true, stats, sizeof stats);
    } else {
        char t[32];
        duration_format(t, sizeof t, now_s() - p->started);
        snprintf(stats, sizeof stats, "starting (loading the model and the data) %s", t);
    }
    int cols = term_columns(p->out);
    bar_text(p, bar, sizeof bar, cols - 1 - (int)strlen(stats));
    if (p->have_step && !bar[0]) /* no room for the bar: the share as a number at least */
        step_text(p, false, stats, sizeof stats);
    snprintf(line, sizeof line, "%s%s", bar, stats);
    if ((int)strlen(line) > cols - 1)
        line[cols > 1 ? cols - 1 : 0] = '\0';
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->shown = true;
    p->dirty = false;
    p->drawn_at = now_s();
}

/* Takes the progress line off the screen so that a line can be printed in its place. */
static void bar_clear(train_progress *p)
{
    if (p->shown)
        fputs("\r\033[K", p->out);
    p->shown = false;
}

/* One whole line of text (terminal-safe), above the progress line, which is then redrawn. */
static void line_print(train_progress *p, const char *text)
{
    bar_clear(p);
    cli_put(p->out, text);
    fputc('\n', p->out);
    if (p->view == TRAIN_VIEW_BAR && !p->ended)
        bar_draw(p);
    else
        fflush(p->out);
}

static void line_printf(train_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_printf(train_progress *p, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        line_print(p, text);
        free(text);
    }
}

static void step_line(train_progress *p)
{
    char stats[512];
    step_text(p, false, stats, sizeof stats);
    line_printf(p, "step %s", stats);
    p->line_step = p->last.step.step;
    p->line_at = now_s();
}

static bool step_line_due(const train_progress *p)
{
    int64_t step = p->last.step.step;
    if (p->log_every > 0)
        return step / p->log_every > p->line_step / p->log_every;
    return p->line_step == 0 ||
           (step - p->line_step >= LINE_STEPS && now_s() - p->line_at >= LINE_INTERVAL);
}

static void step_fold(train_progress *p, const run_event *ev)
{
    if (!p->have_step) {
        p->rate_t0 = ev->time;
        p->rate_step0 = ev->step.step;
    }
    p->have_step = true;
    p->last = *ev;
    ls_append(p->loss, ev->step.step, ev->step.loss);
    if (p->view == TRAIN_VIEW_BAR)
        p->dirty = true;
    else if (p->view == TRAIN_VIEW_LINES && step_line_due(p))
        step_line(p);
}

static void log_print(train_progress *p, const run_event *ev)
{
    if (ev->log.level == RUN_LOG_INFO && p->view == TRAIN_VIEW_QUIET)
        return;
    static const char *const prefix[] = {"", "warning: ", "error: "};
    line_printf(p, "%s%s", prefix[ev->log.level <= RUN_LOG_ERROR ? ev->log.level : 0],
                ev->log.text ? ev->log.text : "");
}

void train_progress_event(train_progress *p, const run_event *ev)
{
    if (ev->kind == RUN_EV_CHECKPOINT_WRITTEN && ev->checkpoint.path) {
        free(p->checkpoint);
        p->checkpoint = strdup(ev->checkpoint.path);
    }
    if (ev->kind == RUN_EV_STEP) {
        step_fold(p, ev);
        return;
    }
    if (p->view == TRAIN_VIEW_NONE)
        return;
    if (ev->kind == RUN_EV_LOG) {
        log_print(p, ev);
        return;
    }
    if (p->view == TRAIN_VIEW_QUIET)
        return;
    if (ev->kind == RUN_EV_CHECKPOINT_WRITTEN)
        line_printf(p, "checkpoint at step %lld (epoch %d): %s", (long long)ev->checkpoint.step,
                    ev->checkpoint.epoch, ev->checkpoint.path ? ev->checkpoint.path : "");
    else if (ev->kind == RUN_EV_SAMPLE_WRITTEN)
        line_printf(p, "sample at step %lld, prompt %d: %s", (long long)ev->sample.step,
                    ev->sample.prompt, ev->sample.path ? ev->sample.path : "");
    else if (ev->kind == RUN_EV_PAUSED || ev->kind == RUN_EV_RESUMED)
        line_printf(p, "%s", run_event_kind_name(ev->kind));
}

void train_progress_note(train_progress *p, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        line_printf(p, "tagbench train: %s", text);
        free(text);
    }
}

/* "step 6/6 in 0:03, loss 0.0812 (ema 0.0850)" */
static void result_figures(const train_progress *p, char *buf, size_t size)
{
    char t[32];
    duration_format(t, sizeof t, now_s() - p->started);
    int64_t s;
    double raw, smooth;
    if (!p->have_step || !ls_last(p->loss, &s, &raw, &smooth)) {
        snprintf(buf, size, "step 0 in %s", t);
        return;
    }
    int n = snprintf(buf, size, "step %lld", (long long)p->last.step.step);
    if (p->last.step.total_steps > 0)
        n += snprintf(buf + n, size - n, "/%lld", (long long)p->last.step.total_steps);
    snprintf(buf + n, size - n, " in %s, loss %.4f (ema %.4f)", t, raw, smooth);
}

void train_progress_result(train_progress *p, const run_event *last, const char *run_dir)
{
    /* The run's last figures stay on screen (or end the log) even when they fell between two
     * redraws or two step lines. */
    if (p->view == TRAIN_VIEW_BAR && p->have_step) {
        bar_draw(p);
        fputc('\n', p->out);
        p->shown = false;
    } else if (p->view == TRAIN_VIEW_LINES && p->have_step && p->line_step != p->last.step.step) {
        step_line(p);
    }
    p->ended = true;
    char fig[256];
    result_figures(p, fig, sizeof fig);
    const char *ckpt = p->checkpoint ? "; last checkpoint " : "; no checkpoint written";
    const char *path = p->checkpoint ? p->checkpoint : "";
    if (!last)
        train_progress_note(p, "the run ended without a result (%s); run folder %s", fig, run_dir);
    else if (last->kind == RUN_EV_FAILED)
        train_progress_note(p, "failed: %s; run folder %s",
                            last->failed.message ? last->failed.message : "(no message)", run_dir);
    else if (last->finished.reason == RUN_FINISH_STOPPED)
        train_progress_note(p, "stopped at %s%s%s; run folder %s", fig, ckpt, path, run_dir);
    else
        train_progress_note(p, "completed: %s%s%s; run folder %s", fig, ckpt, path, run_dir);
}

int train_progress_timeout_ms(const train_progress *p)
{
    if (p->view != TRAIN_VIEW_BAR)
        return -1;
    if (!p->dirty)
        return p->have_step ? -1 : 1000; /* the "starting" line counts seconds */
    double wait = p->drawn_at + BAR_INTERVAL - now_s();
    return wait > 0 ? (int)(wait * 1000) + 1 : 0;
}

void train_progress_tick(train_progress *p)
{
    if (p->view != TRAIN_VIEW_BAR)
        return;
    double since = now_s() - p->drawn_at;
    if ((p->dirty && since >= BAR_INTERVAL) || (!p->have_step && since >= 1))
        bar_draw(p);
}

void train_progress_free(train_progress *p)
{
    if (!p)
        return;
    bar_clear(p);
    fflush(p->out);
    ls_free(p->loss);
    free(p->checkpoint);
    free(p);
}
