/* The Run screen: the training run launched from the workbench (or a run folder opened to look
 * at). The loss plot on the left (tui/plot.h: raw loss as a dim band, TensorBoard's smoothed line
 * in bold), the run's figures on the right, the event log below; keys pause, resume, stop, save
 * and sample. It only reads app->run (tui/run_watch.h), which the app loop keeps up to date and
 * redraws at most a few times a second, so watching costs the run little. */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui/ask.h"
#include "tui/captions_config.h"
#include "tui/draw.h"
#include "tui/keymap.h"
#include "tui/plot.h"
#include "tui/prompt.h"
#include "tui/run_watch.h"
#include "tui/screen.h"

#define STATS_W 34
#define LABEL_W 12

/* The smoothing weights + and - step through: TensorBoard's slider, at the values that differ
 * visibly (the memory of the EMA is about 1/(1-w) points). */
static const double weights[] = {0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999};
enum { N_WEIGHTS = sizeof weights / sizeof weights[0], WEIGHT_DEFAULT = 2 };

typedef struct run_screen {
    size_t log_back;  /* lines scrolled back from the newest; 0 follows the log */
    int log_page;     /* lines the log showed last time (PgUp/PgDn) */
    int weight;       /* index into weights[] */
    bool linear;      /* linear y even when log10 would do */
} run_screen;

static run_screen *st(app *a)
{
    return a->screen_state[SCREEN_RUN];
}

static void *run_create(app *a)
{
    (void)a;
    run_screen *s = calloc(1, sizeof *s);
    if (s) {
        s->weight = WEIGHT_DEFAULT;
        s->log_page = 5;
    }
    return s;
}

static void run_destroy(void *p)
{
    free(p);
}

/* ---- figures as text ---- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static const char *duration(double s, char *buf, size_t n)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh %02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm %02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
    return buf;
}

static const char *bytes(int64_t b, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---- drawing ---- */

static void empty_draw(app *a, int top)
{
    draw_text(top + 1, 2, COLS - 4, "No training run yet.", TH_TITLE);
    draw_text(top + 3, 2, COLS - 4, "To start one, press Enter on the Train screen (4) or T here.",
              TH_NORMAL);
    draw_text(top + 4, 2, COLS - 4, "It trains with the run config:", TH_DIM);
    draw_text(top + 5, 4, COLS - 6, captions_config_path(a), TH_NORMAL);
    draw_text(top + 6, 2, COLS - 4, "on the captions as they are when it starts (unsaved edits "
              "included; later edits do not reach it).", TH_DIM);
    draw_text(top + 8, 2, COLS - 4, "o opens an earlier run's folder (its events.jsonl) to look at "
              "its loss and log.", TH_DIM);
}

static theme_el state_el(const run_watch *w)
{
    run_state s = w->state == RUN_STATE_VIEWED ? w->view_state : w->state;
    return s == RUN_STATE_FAILED ? TH_ERROR : s == RUN_STATE_PAUSED ? TH_MARKED
         : s == RUN_STATE_FINISHED ? TH_OK : TH_TITLE;
}

/* path right-aligned in room columns; when too long, its end (the run's own folder says the
 * most) after an ellipsis. */
static void tail_draw(int y, int room, const char *path)
{
    const char *p = path;
    bool cut = false;
    while (*p && draw_width(p) > room - (cut ? 1 : 0)) {
        p++;
        while ((*p & 0xc0) == 0x80) /* a UTF-8 continuation byte */
            p++;
        cut = true;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s", cut ? "…" : "", p);
    draw_text_right(y, COLS, buf, TH_DIM);
}

/* Row 0: what the run is doing and where it writes; a failure's reason on row 1 (returns the
 * rows used). */
static int title_draw(const run_watch *w, int y)
{
    int x = draw_text(y, 0, -1, w->state == RUN_STATE_VIEWED ? "Viewing a run · " : "Run · ", TH_TITLE);
    x += draw_text(y, x, -1, run_watch_state_name(w), state_el(w));
    if (w->total_steps)
        x += draw_textf(y, x, COLS - x, TH_NORMAL, " · step %lld/%lld · epoch %d/%d",
                        (long long)w->step, (long long)w->total_steps, w->epoch, w->total_epochs);
    if (w->run_dir && COLS - x > 12)
        tail_draw(y, COLS - x - 2, w->run_dir);
    bool failed = (w->state == RUN_STATE_FAILED || w->view_state == RUN_STATE_FAILED) && w->fail_message;
    if (failed)
        draw_textf(y + 1, 0, COLS, TH_ERROR, "failed: %s", w->fail_message);
    return failed ? 2 : 1;
}

/* A column of "label  value" rows that stops at its last row. */
typedef struct stat_col {
    int y, x, end;
} stat_col;

static void stat_add(stat_col *c, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void stat_add(stat_col *c, const char *label, const char *fmt, ...)
{
    if (c->y >= c->end)
        return;
    char v[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    draw_text(c->y, c->x, LABEL_W, label, TH_DIM);
    draw_text(c->y++, c->x + LABEL_W, STATS_W - LABEL_W, v, TH_NORMAL);
}

/* The newest file of a kind, indented under its count. */
static void stat_file(stat_col *c, const char *path)
{
    if (c->y < c->end)
        draw_text(c->y++, c->x + 2, STATS_W - 2, base_name(path), TH_DIM);
}

static void progress_row(const run_watch *w, stat_col *c)
{
    if (c->y >= c->end)
        return;
    int bar = STATS_W - LABEL_W - 6;
    double f = w->total_steps > 0 ? (double)w->step / (double)w->total_steps : 0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    int full = (int)(f * bar + 0.5);
    char buf[256] = "";
    size_t n = 0;
    for (int i = 0; i < bar && n + 4 < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", i < full ? "█" : "░");
    draw_text(c->y, c->x, LABEL_W, "progress", TH_DIM);
    int used = draw_text(c->y, c->x + LABEL_W, bar, buf, TH_OK);
    draw_textf(c->y++, c->x + LABEL_W + used, 6, TH_NORMAL, " %3.0f%%", 100 * f);
}

/* The right column: the newest step's figures, speed and time, what was written. */
static void stats_draw(const run_watch *w, int y, int x, int rows)
{
    stat_col c = {y, x, y + rows};
    char t[48];
    bool live = run_watch_active(w);
    bool stepped = w->step > 0;
    progress_row(w, &c);
    stat_add(&c, "step", "%lld / %lld", (long long)w->step, (long long)w->total_steps);
    stat_add(&c, "epoch", "%d / %d", w->epoch, w->total_epochs);
    stat_add(&c, "lr", stepped ? "%.3g" : "-", w->lr);
    stat_add(&c, "grad norm", stepped ? "%.3g" : "-", w->grad_norm);
    stat_add(&c, "speed", stepped ? "%.3g samples/s" : "-", w->samples_per_s);
    stat_add(&c, "", w->steps_per_s > 0 ? "%.3g it/s (steps)" : "", w->steps_per_s);
    double eta = run_watch_eta(w);
    stat_add(&c, "ETA", "%s", eta >= 0 ? duration(eta, t, sizeof t)
             : w->state == RUN_STATE_PAUSED ? "(paused)" : "-");
    double until = live ? now_s() : w->last_event_at;
    stat_add(&c, "elapsed", "%s", w->started_at ? duration(until - w->started_at, t, sizeof t) : "-");
    stat_add(&c, "memory", "%s", w->mem_bytes ? bytes(w->mem_bytes, t, sizeof t) : "-");
    stat_add(&c, "checkpoints", "%zu", w->n_checkpoints);
    if (w->n_checkpoints)
        stat_file(&c, w->checkpoints[w->n_checkpoints - 1]);
    stat_add(&c, "samples", "%zu (screen 6)", w->n_samples);
    if (w->n_samples)
        stat_file(&c, w->samples[w->n_samples - 1].path);
    if (w->steps_merged) /* the screen fell behind; events.jsonl still has every step */
        stat_add(&c, "", "%llu steps merged in the plot", (unsigned long long)w->steps_merged);
}

static theme_el log_el(const char *line)
{
    const char *text = strchr(line, ' ');
    text = text ? text + 1 : line;
    return !strncmp(text, "error: ", 7) ? TH_ERROR : !strncmp(text, "warn: ", 6) ? TH_MARKED
         : !strncmp(text, "checkpoint ", 11) || !strncmp(text, "sample ", 7) ? TH_OK : TH_NORMAL;
}

/* The event log, newest at the bottom; scrolled back it stays put while lines arrive. */
static void log_draw(app *a, int y, int rows)
{
    run_watch *w = a->run;
    run_screen *s = st(a);
    int page = rows - 1;
    s->log_page = page > 1 ? page : 1;
    size_t max_back = w->n_log > (size_t)page ? w->n_log - (size_t)page : 0;
    if (s->log_back > max_back)
        s->log_back = max_back;
    draw_fill(y, 0, COLS, TH_NORMAL);
    int x = draw_textf(y, 0, COLS, TH_TITLE, "Event log (%zu lines)", w->n_log);
    if (s->log_back)
        draw_textf(y, x, COLS - x, TH_DIM, " · %zu back · End follows the newest", s->log_back);
    size_t shown = w->n_log < (size_t)page ? w->n_log : (size_t)page;
    size_t first = w->n_log - shown - s->log_back;
    for (size_t i = 0; i < shown; i++) {
        const char *line = run_watch_log_line(w, first + i);
        draw_text(y + 1 + (int)i, 0, COLS, line, log_el(line));
    }
}

static void run_draw(app *a, int top, int rows)
{
    run_watch *w = a->run;
    run_screen *s = st(a);
    if (!w) {
        empty_draw(a, top);
        return;
    }
    if (run_watch_active(w) && !a->wake_at) /* the elapsed time moves while no event comes */
        app_wake_in(a, 1000);
    if (ls_weight(w->loss) != weights[s->weight]) /* a new run starts at the default weight */
        ls_set_weight(w->loss, weights[s->weight]);
    int used = title_draw(w, top);
    int log_rows = rows / 3 < 5 ? 5 : rows / 3;
    int body = rows - used - log_rows;
    int pw = COLS - STATS_W - 1;
    plot_opts po = {.title = "loss", .linear = s->linear};
    plot_draw(w->loss, top + used, 0, body, pw, &po, NULL);
    stats_draw(w, top + used, pw + 1, body);
    log_draw(a, top + used + body, log_rows);
}

/* ---- keys ---- */

/* The run the request is for, or NULL with the reason on the status line. */
static run_watch *going(app *a)
{
    if (run_watch_active(a->run))
        return a->run;
    app_error(a, a->run && a->run->state == RUN_STATE_VIEWED
              ? "this is an earlier run's folder, not a going run (T starts one)"
              : "no run is going (T starts one)");
    return NULL;
}

static void act_pause(app *a)
{
    run_watch *w = going(a);
    if (!w)
        return;
    if (w->state == RUN_STATE_PAUSED) {
        run_watch_resume(w);
        app_say(a, "resuming");
    } else {
        run_watch_pause(w);
        app_say(a, "pausing at the end of this step (p or r resumes)");
    }
}

static void act_resume(app *a)
{
    run_watch *w = going(a);
    if (!w)
        return;
    if (w->state != RUN_STATE_PAUSED) {
        app_say(a, "the run is not paused");
        return;
    }
    run_watch_resume(w);
    app_say(a, "resuming");
}

static void stop_answer(app *a, int key)
{
    if (key != 'y' || !run_watch_active(a->run))
        return;
    run_watch_stop(a->run);
    app_say(a, "stopping: the run saves a checkpoint at the end of this step, then ends");
}

static void act_stop(app *a)
{
    if (going(a))
        ask_open(a, "yn", stop_answer, "Stop the run? It saves a checkpoint first.  y stop · n go on");
}

static void act_save(app *a)
{
    run_watch *w = going(a);
    if (!w)
        return;
    run_watch_save_now(w);
    app_say(a, "a checkpoint is saved at the end of this step");
}

static void act_sample(app *a)
{
    run_watch *w = going(a);
    if (!w)
        return;
    run_watch_sample_now(w);
    if (w->n_prompts)
        app_say(a, "samples of %zu prompt(s) are written at the end of this step", w->n_prompts);
    else
        app_say(a, "sample asked (the run config names no sample_prompts file)");
}

static void act_start(app *a)
{
    run_watch_start(a);
    st(a)->log_back = 0;
}

static void open_submit(app *a, const char *text, const char *arg)
{
    (void)arg;
    if (*text && run_watch_view(a, text) == 0)
        st(a)->log_back = 0;
}

static void act_open(app *a)
{
    if (run_watch_active(a->run)) {
        app_error(a, "a run is going: stop it before opening another run's folder");
        return;
    }
    char *latest = run_watch_latest_dir(a->opts.dir);
    prompt_open(a, "run folder to view", latest ? latest : "", NULL, false, open_submit);
    free(latest);
}

static void smooth(app *a, int d)
{
    run_screen *s = st(a);
    int i = s->weight + d;
    s->weight = i < 0 ? 0 : i >= N_WEIGHTS ? N_WEIGHTS - 1 : i;
    if (a->run)
        ls_set_weight(a->run->loss, weights[s->weight]);
    app_say(a, "loss smoothing %g (TensorBoard's weight; + more, - less)", weights[s->weight]);
}

static void act_smooth_more(app *a) { smooth(a, 1); }
static void act_smooth_less(app *a) { smooth(a, -1); }

static void act_linear(app *a)
{
    st(a)->linear = !st(a)->linear;
    app_say(a, st(a)->linear ? "linear y axis" : "log10 y axis (when every loss is > 0)");
}

static void log_scroll(app *a, long d)
{
    run_screen *s = st(a);
    long b = (long)s->log_back + d;
    s->log_back = b < 0 ? 0 : (size_t)b; /* clamped to the log's length when drawn */
}

static void act_log_back(app *a) { log_scroll(a, 1); }
static void act_log_fwd(app *a) { log_scroll(a, -1); }
static void act_log_page_back(app *a) { log_scroll(a, st(a)->log_page); }
static void act_log_page_fwd(app *a) { log_scroll(a, -st(a)->log_page); }
static void act_log_oldest(app *a) { st(a)->log_back = RUN_WATCH_LOG_LINES; }
static void act_log_newest(app *a) { st(a)->log_back = 0; }

static const key_binding run_keys[] = {
    {{'p'}, act_pause, "pause the run at the end of this step; on a paused run, resume", "Pause"},
    {{'r'}, act_resume, "resume a paused run", NULL},
    {{'x'}, act_stop, "stop the run: it saves a checkpoint, then ends (asks first)", "Stop"},
    {{'s'}, act_save, "save a checkpoint now (the run goes on)", "Save ckpt"},
    {{'S', 'm'}, act_sample, "write the sample images now (sample_prompts)", "Sample"},
    {{'T'}, act_start, "start a run with the run config (when none is going)", "Start"},
    {{'o'}, act_open, "open an earlier run's folder to look at (its events.jsonl)", NULL},
    {{'+', '='}, act_smooth_more, "smooth the loss line more (TensorBoard's weight)", "Smooth"},
    {{'-'}, act_smooth_less, "smooth the loss line less", NULL},
    {{'l'}, act_linear, "y axis: log10 or linear", "Lin/log"},
    {{KEY_FN(KEY_UP), 'k'}, act_log_back, "scroll the event log back", NULL},
    {{KEY_FN(KEY_DOWN), 'j'}, act_log_fwd, "scroll the event log forward", NULL},
    {{KEY_FN(KEY_PPAGE)}, act_log_page_back, "event log: a page back", NULL},
    {{KEY_FN(KEY_NPAGE)}, act_log_page_fwd, "event log: a page forward", NULL},
    {{KEY_FN(KEY_HOME)}, act_log_oldest, "event log: the oldest line kept", NULL},
    {{KEY_FN(KEY_END)}, act_log_newest, "event log: follow the newest line", NULL},
    {{0}, NULL, NULL, NULL},
};

const screen_def screen_run = {
    .name = "Run",
    .create = run_create,
    .destroy = run_destroy,
    .draw = run_draw,
    .keys = run_keys,
};
