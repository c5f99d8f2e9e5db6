/* bench_train_run: issue 5's "Speed" figures. Steps per second of the demo run
 * (datasets/shapes/train.json: the tiny model from scratch at 32x32), and the share of
 * that speed the workbench's screen costs while it shows the run. Figures only: it never fails on
 * time; it exits non-zero only when a run cannot start, fails, or does not take its steps.
 *
 *   build/release/bench/bench_train_run [--rounds R] [--steps N] [--warmup W] [--threads T]
 *       [--config FILE] [--no-app-loop] [--keep]
 *
 * Every run is the demo config with: max_train_steps N (default 60), output_dir a folder of its
 * own under a new mkdtemp folder, sample_prompts unset and sample_every_n_steps/epochs and
 * save_every_n_steps/epochs 0, so that only training steps are timed (the final checkpoint is
 * still written, after the last step: outside the timed window), seed 42 when the config sets
 * none, lr_warmup_steps N / 2 when the config's (50) is not below N (the learning rate does not
 * change the work of a step). Three variants:
 *
 *   headless  train_start (trainer/train_run.h) with base_dir the config's folder, `threads` T
 *             (default 0: every core, as the workbench), the main thread blocked in poll() on the
 *             run's channel and popping every event as it comes (what `tagbench train` does,
 *             minus printing).
 *   watched   the workbench, headless as in bench_tui (ncurses on newterm("xterm-256color") with
 *             its output in a memfd, 160x48, graphics none): app_open on a copy of the demo
 *             dataset whose .tagbench/run.json is the same config, journal started,
 *             app_show(SCREEN_RUN), run_watch_start (every core, as the workbench always runs),
 *             then the app loop's run handling replicated: poll() on run_watch_fd with the
 *             loop's cadence (the channel is left out of the set for RUN_SHOWN_MS = 250 ms after
 *             each take on the Run screen), the screen's 1 s timer, app_tick on quiet seconds,
 *             run_watch_poll, and app_draw whenever something changed. app_loop.c keeps those
 *             steps static, so they are copied here (run_take, poll_timeout, timer_run,
 *             run_announce, with its constants), minus the keyboard. Each app_draw is timed.
 *   app_loop  the same app and run, driven by app_loop() itself: fd 0 is a pipe nobody writes
 *             to, and a helper thread, which reads the run folder's events.jsonl every 100 ms,
 *             closes the pipe's other end once the run's last event is there; app_loop then
 *             sees POLLHUP ("the terminal went away") and returns. Draws cannot be timed inside
 *             app_loop, so this variant reports the main thread's CPU time instead; it checks
 *             that the replica behaves as the real loop. --no-app-loop leaves it out.
 *
 * Rates come from the STEP events' times in the run's events.jsonl (stamped when each step is
 * pushed, full precision): after W warm-up steps (default 5), the median of the per-step
 * intervals and the overall rate (N - W) / (t_N - t_W); samples/s = steps/s x batch x
 * gradient accumulation. R rounds (default 3) of one run per variant, the first variant rotating
 * every round so that a busy neighbour hits all of them; medians, min and max over the rounds.
 * The workbench's cost = 1 - (watched rate / headless rate). Also per run: the process's CPU time
 * (getrusage) over its wall time (the cores the run got), the main thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) over the loop, the frames drawn, their time (CLOCK_MONOTONIC), and
 * their sum as a share of the loop's wall time and of the timed step window. The header gives the
 * CPU, nproc and /proc/loadavg at the start, at every run and at the end: on a shared machine a
 * neighbour moves every figure. */
#include <cblas.h>
#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_term.h"
#include "bench/bench_util.h"
#include "tagger/journal.h"
#include "trainer/run_config.h"
#include "trainer/run_events.h"
#include "trainer/run_thread.h"
#include "trainer/train_run.h"
#include "tui/app.h"
#include "tui/app_loop.h"
#include "tui/preview.h"
#include "tui/run_watch.h"
#include "tui/screen.h"
#include "tui/theme.h"

#define SCREEN_COLS 160
#define SCREEN_ROWS 48
/* app_loop.c's constants (static there): the replica's cadence */
#define TICK_MS 1000
#define RUN_SHOWN_MS 250
#define RUN_HIDDEN_MS 1000
#define DEFAULT_SEED 42

typedef enum variant { V_HEADLESS, V_WATCHED, V_APP_LOOP, N_VARIANTS } variant;
static const char *const variant_name[N_VARIANTS] = {"headless", "watched", "app_loop"};

typedef struct opts {
    int rounds, steps, warmup, threads;
    const char *config;
    bool app_loop, keep;
} opts;

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

/* One run's figures. */
typedef struct result {
    variant v;
    int round;
    char load[32];           /* 1-minute load average at its start */
    double *t;               /* STEP event times (realtime s), index step - 1 */
    int64_t n_steps;         /* STEP events read */
    int batch;               /* samples per step: train_batch_size x accumulation */
    double rate_med, rate_all, run_sps, loss;
    double wall;             /* start call .. run joined */
    double loop_wall;        /* the loop (watched variants), from after the start call */
    double cpu_proc;         /* process CPU seconds over wall */
    double cpu_main;         /* main thread CPU seconds over loop_wall */
    dvec draws;              /* app_draw durations (s) */
    double draw_in_window;   /* draw time inside [t_W, t_N] */
    dvec draw_rt;            /* realtime start, end pairs of each draw */
    size_t txt_bytes, img_bytes;
} result;

typedef struct bench {
    opts o;
    char *tmp;                /* mkdtemp root */
    char *ds_dir;             /* the dataset copy */
    char *base_dir;           /* the config's folder */
    int txt_fd, img_fd, saved_stdout;
    SCREEN *scr;
    int nproc;
    result *res;
    int n_res;
    dvec intervals[N_VARIANTS]; /* every run's per-step intervals after warm-up, pooled */
    char load_start[96], load_end[96];
    int failures;
} bench;

/* ---- small things ---- */

static double real_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double thread_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double proc_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static void dvec_add(dvec *d, double x)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        double *nv = realloc(d->v, cap * sizeof *nv);
        if (!nv)
            return;
        d->v = nv;
        d->cap = cap;
    }
    d->v[d->n++] = x;
}

/* median, min, max of n values (not changed); NAN when n is 0 */
static void stats3(const double *v, size_t n, double *med, double *lo, double *hi)
{
    *med = *lo = *hi = NAN;
    double *t = n ? malloc(n * sizeof *t) : NULL;
    if (!t)
        return;
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, bench_cmp_double);
    *med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    *lo = t[0];
    *hi = t[n - 1];
    free(t);
}

static double median(const double *v, size_t n)
{
    double m, lo, hi;
    stats3(v, n, &m, &lo, &hi);
    return m;
}

/* the q-quantile (nearest rank) of n values; NAN when n is 0 */
static double percentile(const double *v, size_t n, double q)
{
    double *t = n ? malloc(n * sizeof *t) : NULL, x = NAN;
    if (!t)
        return x;
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, bench_cmp_double);
    size_t k = (size_t)ceil(q * (double)n);
    x = t[k ? k - 1 : 0];
    free(t);
    return x;
}

static double sum(const dvec *d)
{
    double s = 0;
    for (size_t i = 0; i < d->n; i++)
        s += d->v[i];
    return s;
}

static void failf(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_train_run: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    b->failures++;
}

/* ---- files ---- */

static int copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char buf[1 << 16];
    if (in < 0 || (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        goto done;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0)
            goto done;
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0)
                goto done;
            off += w;
        }
    }
    rc = 0;
done:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) < 0)
        rc = -1;
    return rc;
}

/* Copies the regular files of src (one level) into dst, made here. */
static int copy_dir(const char *src, const char *dst)
{
    if (mkdir(dst, 0755) < 0 && errno != EEXIST)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    char s[PATH_MAX], t[PATH_MAX];
    while (rc == 0 && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || snprintf(s, sizeof s, "%s/%s", src, e->d_name) >= (int)sizeof s ||
            snprintf(t, sizeof t, "%s/%s", dst, e->d_name) >= (int)sizeof t || stat(s, &st) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        rc = copy_file(s, t);
    }
    closedir(d);
    return rc;
}

/* The demo dataset's image folders (N_name) and its prompt file, copied into b->ds_dir. */
static int dataset_copy(bench *b)
{
    if (asprintf(&b->ds_dir, "%s/shapes", b->tmp) < 0 || mkdir(b->ds_dir, 0755) < 0)
        return -1;
    DIR *d = opendir(b->base_dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0, folders = 0;
    char s[PATH_MAX], t[PATH_MAX];
    while (rc == 0 && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || snprintf(s, sizeof s, "%s/%s", b->base_dir, e->d_name) >= (int)sizeof s ||
            snprintf(t, sizeof t, "%s/%s", b->ds_dir, e->d_name) >= (int)sizeof t || stat(s, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && e->d_name[0] >= '0' && e->d_name[0] <= '9' && strchr(e->d_name, '_')) {
            rc = copy_dir(s, t);
            folders++;
        } else if (S_ISREG(st.st_mode) && strstr(e->d_name, ".txt")) {
            rc = copy_file(s, t);
        }
    }
    closedir(d);
    return rc < 0 || !folders ? -1 : 0;
}

/* ---- the config of every run ---- */

/* The demo config with this bench's overrides (see the top of the file). */
static int config_for_run(const bench *b, run_config *c, const char *output_dir, tg_error *err)
{
    if (run_config_load(b->o.config, c, err) < 0)
        return -1;
    c->max_train_steps = b->o.steps;
    c->max_train_epochs = 0;
    if (c->lr_warmup_steps >= b->o.steps) /* validation wants it below max_train_steps */
        c->lr_warmup_steps = (double)(b->o.steps / 2);
    c->sample_every_n_steps = c->sample_every_n_epochs = 0;
    c->save_every_n_steps = c->save_every_n_epochs = 0;
    if (!c->has_seed) {
        c->has_seed = true;
        c->seed = DEFAULT_SEED;
    }
    if (run_config_string_set(&c->sample_prompts, NULL) < 0 ||
        run_config_string_set(&c->output_dir, output_dir) < 0)
        return error_set(err, "out of memory");
    return 0;
}

/* ---- what a run's events.jsonl says ---- */

typedef struct collect {
    result *r;
    int64_t cap;
    bool finished, completed, failed;
    char fail[256];
} collect;

static int collect_cb(const run_event *ev, void *user)
{
    collect *c = user;
    if (ev->kind == RUN_EV_STEP && ev->step.step >= 1 && ev->step.step <= c->cap) {
        c->r->t[ev->step.step - 1] = ev->time;
        if (ev->step.step > c->r->n_steps)
            c->r->n_steps = ev->step.step;
        c->r->run_sps = ev->step.samples_per_s;
        c->r->loss = ev->step.loss;
    } else if (ev->kind == RUN_EV_FINISHED) {
        c->finished = true;
        c->completed = ev->finished.reason == RUN_FINISH_COMPLETED;
    } else if (ev->kind == RUN_EV_FAILED) {
        c->failed = true;
        snprintf(c->fail, sizeof c->fail, "%s", ev->failed.message ? ev->failed.message : "");
    }
    return 0;
}

/* Reads the run's STEP times and derives the rates; checks the run ended well. */
static int result_from_events(bench *b, result *r, const char *run_dir, int batch)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/events.jsonl", run_dir);
    int N = b->o.steps, W = b->o.warmup;
    r->t = calloc((size_t)N, sizeof *r->t);
    r->batch = batch;
    collect c = {.r = r, .cap = N};
    tg_error err;
    size_t bad = 0;
    if (!r->t || run_events_read(path, collect_cb, &c, &bad, &err) < 0) {
        failf(b, "%s: %s", path, r->t ? err.msg : "out of memory");
        return -1;
    }
    if (c.failed || !c.finished || !c.completed || r->n_steps != N || !isfinite(r->loss)) {
        failf(b, "%s run, round %d: %s (%lld of %d steps, loss %g)", variant_name[r->v], r->round + 1,
              c.failed ? c.fail : !c.finished ? "no finish event" : !c.completed ? "stopped" : "steps missing",
              (long long)r->n_steps, N, r->loss);
        return -1;
    }
    for (int i = 0; i < N; i++)
        if (r->t[i] <= 0) {
            failf(b, "%s: no STEP event for step %d", path, i + 1);
            return -1;
        }
    dvec iv = {0};
    for (int i = W; i < N; i++) {
        dvec_add(&iv, r->t[i] - r->t[i - 1]);
        dvec_add(&b->intervals[r->v], r->t[i] - r->t[i - 1]);
    }
    r->rate_med = 1 / median(iv.v, iv.n);
    r->rate_all = (N - W) / (r->t[N - 1] - r->t[W - 1]);
    free(iv.v);
    /* the draws inside the timed window [t_W, t_N] */
    double w0 = r->t[W - 1], w1 = r->t[N - 1];
    for (size_t i = 0; i + 1 < r->draw_rt.n; i += 2) {
        double a = fmax(r->draw_rt.v[i], w0), z = fmin(r->draw_rt.v[i + 1], w1);
        if (z > a)
            r->draw_in_window += z - a;
    }
    return 0;
}

static int run_dir_for(const bench *b, const result *r, char *out, size_t size)
{
    return snprintf(out, size, "%s/runs/%s-r%d", b->tmp, variant_name[r->v], r->round + 1) >= (int)size ? -1 : 0;
}

/* ---- headless ---- */

static int run_headless(bench *b, result *r)
{
    char out_dir[PATH_MAX];
    run_config cfg;
    tg_error err = {{0}};
    run_dir_for(b, r, out_dir, sizeof out_dir);
    if (config_for_run(b, &cfg, out_dir, &err) < 0) {
        failf(b, "%s: %s", b->o.config, err.msg);
        run_config_free(&cfg);
        return -1;
    }
    int batch = cfg.train_batch_size * (cfg.gradient_accumulation_steps > 0 ? cfg.gradient_accumulation_steps : 1);
    train_launch l = {.cfg = &cfg, .base_dir = b->base_dir, .snap = NULL, .backend = "cpu", .threads = b->o.threads};
    run_thread *t = NULL;
    char *run_dir = NULL;
    double c0 = proc_cpu_s(), t0 = bench_now();
    int rc = train_start(&l, &t, &run_dir, &err);
    run_config_free(&cfg);
    if (rc < 0) {
        failf(b, "train_start: %s", err.msg);
        return -1;
    }
    run_chan *ch = run_thread_chan(t);
    double l0 = bench_now(), m0 = thread_cpu_s();
    for (bool end = false; !end;) {
        struct pollfd p = {run_chan_fd(ch), POLLIN, 0};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR)
            break;
        run_event ev[64];
        size_t n;
        do {
            n = run_chan_pop(ch, ev, 64);
            for (size_t k = 0; k < n; k++) {
                end |= ev[k].kind == RUN_EV_FINISHED || ev[k].kind == RUN_EV_FAILED;
                run_event_clear(&ev[k]);
            }
        } while (n == 64);
    }
    r->cpu_main = thread_cpu_s() - m0;
    r->loop_wall = bench_now() - l0;
    if (run_thread_join(t, &err) < 0)
        failf(b, "headless run: %s", err.msg);
    run_thread_free(t);
    r->wall = bench_now() - t0;
    r->cpu_proc = proc_cpu_s() - c0;
    rc = result_from_events(b, r, run_dir, batch);
    free(run_dir);
    return rc;
}

/* ---- the headless terminal (as bench_tui) ---- */

static int terminal_start(bench *b)
{
    b->txt_fd = memfd_create("bench-train-run-ncurses", MFD_CLOEXEC);
    b->img_fd = memfd_create("bench-train-run-images", MFD_CLOEXEC);
    if (b->txt_fd < 0 || b->img_fd < 0)
        return -1;
    return bench_term_start(&b->scr, b->txt_fd, SCREEN_COLS, SCREEN_ROWS, "bench_train_run");
}

static size_t fd_bytes(int fd)
{
    off_t pos = lseek(fd, 0, SEEK_CUR);
    return pos > 0 ? (size_t)pos : 0;
}

static void fd_reset(int fd)
{
    if (ftruncate(fd, 0) == 0)
        lseek(fd, 0, SEEK_SET);
}

/* ---- the app loop's run handling, replicated (app_loop.c keeps it static) ---- */

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
        return;
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

static void draw_timed(app *a, result *r)
{
    double rt0 = real_s(), t0 = bench_now();
    app_draw(a);
    double t1 = bench_now(), rt1 = real_s();
    dvec_add(&r->draws, t1 - t0);
    dvec_add(&r->draw_rt, rt0);
    dvec_add(&r->draw_rt, rt1);
}

/* app_loop without the keyboard, every app_draw timed; until the run has ended and its last
 * event is folded (then one last frame, as the real loop draws). */
static void loop_replica(app *a, result *r)
{
    long long run_at = 0;
    a->redraw = true;
    while (run_watch_active(a->run)) {
        if (a->redraw)
            draw_timed(a, r);
        int run_fd = run_at && app_now_ms() < run_at ? -1 : run_watch_fd(a->run);
        struct pollfd pfd = {run_fd, POLLIN, 0};
        int timeout = poll_timeout(a, run_watch_active(a->run) ? run_at : 0);
        int rc = poll(&pfd, 1, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc == 0 && timeout == TICK_MS && app_tick(a))
            a->redraw = true;
        timer_run(a);
        if (rc < 0)
            a->redraw = true;
        run_take(a, &run_at);
    }
    if (a->redraw)
        draw_timed(a, r);
}

/* ---- app_loop itself ---- */

typedef struct watcher {
    char path[PATH_MAX];  /* events.jsonl */
    int wfd;              /* the write end of fd 0's pipe: closed at the run's end */
    atomic_bool quit;     /* the bench gives up waiting */
} watcher;

/* Reads the new lines of events.jsonl every 100 ms; at FINISHED or FAILED closes wfd. */
static void *watcher_main(void *p)
{
    watcher *w = p;
    off_t off = 0;
    char *line = NULL;
    size_t cap = 0;
    bool end = false;
    while (!end && !atomic_load(&w->quit)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        FILE *f = fopen(w->path, "r");
        if (!f || fseeko(f, off, SEEK_SET) < 0) {
            if (f)
                fclose(f);
            continue;
        }
        ssize_t n;
        while (!end && (n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n') {
            off += n;
            run_event ev;
            tg_error err;
            if (run_event_from_json(line, &ev, &err) == 0) {
                end = ev.kind == RUN_EV_FINISHED || ev.kind == RUN_EV_FAILED;
                run_event_clear(&ev);
            }
        }
        fclose(f);
    }
    free(line);
    close(w->wfd);
    return NULL;
}

/* ---- the workbench variants ---- */

static int app_start(bench *b, app *a)
{
    memset(a, 0, sizeof *a);
    app_opts o = {.dir = b->ds_dir, .gfx = GFX_NONE, .mouse = false};
    if (app_open(a, &o) < 0) {
        failf(b, "app_open(%s) failed", b->ds_dir);
        return -1;
    }
    tg_error err;
    long pending = dataset_journal_pending(a->ds, &err);
    if (pending != 0 || dataset_journal_start(a->ds, &err) < 0) {
        failf(b, "journal: %s", pending > 0 ? "an earlier journal is pending" : err.msg);
        return -1;
    }
    bench_caps_fill(&a->caps, GFX_NONE, 10, 20, "bench_train_run");
    if (!(a->pv = preview_new(&a->caps))) {
        failf(b, "out of memory");
        return -1;
    }
    a->running = true;
    return 0;
}

/* Writes the run's config as the copy's .tagbench/run.json (the one the app reads). */
static int run_json_write(bench *b, const result *r, int *batch)
{
    char out_dir[PATH_MAX], path[PATH_MAX];
    run_dir_for(b, r, out_dir, sizeof out_dir);
    snprintf(path, sizeof path, "%s/.tagbench/run.json", b->ds_dir);
    unlink(path); /* run_config_save refuses to replace a file the config was not loaded from */
    run_config cfg;
    tg_error err = {{0}};
    int rc = config_for_run(b, &cfg, out_dir, &err);
    if (rc == 0)
        rc = run_config_save(path, &cfg, &err);
    if (rc < 0)
        failf(b, "%s: %s", path, err.msg);
    *batch = cfg.train_batch_size * (cfg.gradient_accumulation_steps > 0 ? cfg.gradient_accumulation_steps : 1);
    run_config_free(&cfg);
    return rc;
}

static int run_watched(bench *b, result *r)
{
    int batch = 0;
    app a = {0};
    if (run_json_write(b, r, &batch) < 0 || app_start(b, &a) < 0) {
        app_close(&a);
        return -1;
    }
    app_show(&a, SCREEN_RUN);
    clearok(curscr, TRUE);
    fd_reset(b->txt_fd);
    fd_reset(b->img_fd);
    fflush(stdout);
    b->saved_stdout = dup(STDOUT_FILENO); /* the image layer writes to fd 1 */
    if (b->saved_stdout < 0 || dup2(b->img_fd, STDOUT_FILENO) < 0) {
        failf(b, "cannot redirect fd 1: %s", strerror(errno));
        app_close(&a);
        return -1;
    }
    int stdin_save = -1, pfd[2] = {-1, -1};
    watcher w = {.wfd = -1};
    pthread_t wt;
    bool wt_started = false;
    double c0 = proc_cpu_s(), t0 = bench_now();
    int rc = run_watch_start(&a);
    char *run_dir = rc == 0 && a.run->run_dir ? strdup(a.run->run_dir) : NULL;
    if (rc < 0 || !run_dir) {
        failf(b, "run_watch_start: %s", a.msg);
        rc = -1;
        goto done;
    }
    if (r->v == V_APP_LOOP) {
        snprintf(w.path, sizeof w.path, "%s/events.jsonl", run_dir);
        stdin_save = dup(STDIN_FILENO);
        if (pipe(pfd) < 0 || (pfd[0] != STDIN_FILENO && dup2(pfd[0], STDIN_FILENO) < 0)) {
            failf(b, "cannot replace fd 0: %s", strerror(errno));
            run_watch_stop(a.run);
            rc = -1;
            goto done;
        }
        if (pfd[0] != STDIN_FILENO)
            close(pfd[0]);
        w.wfd = pfd[1];
        if (pthread_create(&wt, NULL, watcher_main, &w) != 0) {
            failf(b, "pthread_create failed");
            close(pfd[1]);
            run_watch_stop(a.run);
            rc = -1;
            goto done;
        }
        wt_started = true;
    }
    double l0 = bench_now(), m0 = thread_cpu_s();
    if (r->v == V_WATCHED) {
        loop_replica(&a, r);
    } else {
        app_loop(&a);
        /* app_loop returned at POLLHUP; its last look may not have taken the run's end */
        while (run_watch_active(a.run)) {
            struct pollfd p = {run_watch_fd(a.run), POLLIN, 0};
            poll(&p, 1, 100);
            run_watch_poll(a.run);
        }
    }
    r->cpu_main = thread_cpu_s() - m0;
    r->loop_wall = bench_now() - l0;
    r->wall = bench_now() - t0;
    r->cpu_proc = proc_cpu_s() - c0;
    if (a.run->state != RUN_STATE_FINISHED)
        failf(b, "%s run, round %d: the app shows the run %s", variant_name[r->v], r->round + 1,
              run_watch_state_name(a.run));
done:
    if (wt_started) {
        atomic_store(&w.quit, true);
        pthread_join(wt, NULL);
    }
    if (stdin_save >= 0) {
        dup2(stdin_save, STDIN_FILENO);
        close(stdin_save);
    }
    r->txt_bytes = fd_bytes(b->txt_fd);
    r->img_bytes = fd_bytes(b->img_fd);
    fflush(stdout);
    dup2(b->saved_stdout, STDOUT_FILENO);
    close(b->saved_stdout);
    b->saved_stdout = -1;
    app_close(&a);
    if (rc == 0)
        rc = result_from_events(b, r, run_dir, batch);
    free(run_dir);
    return rc;
}

/* ---- report ---- */

static void print_run(const bench *b, const result *r)
{
    printf("  %d  %-9s %8.3f %8.3f %8.1f %7.1f %7.2f %7.2f", r->round + 1, variant_name[r->v], r->rate_med,
           r->rate_all, r->rate_all * r->batch, r->wall, r->cpu_proc / r->wall,
           r->loop_wall > 0 ? 100 * r->cpu_main / r->loop_wall : NAN);
    if (r->draws.n) {
        double med, lo, hi;
        stats3(r->draws.v, r->draws.n, &med, &lo, &hi);
        double window = r->t[b->o.steps - 1] - r->t[b->o.warmup - 1];
        printf("  %5zu %7.2f %7.2f %6.2f %6.2f", r->draws.n, med * 1e3, hi * 1e3,
               100 * sum(&r->draws) / r->loop_wall, 100 * r->draw_in_window / window);
    } else {
        printf("  %5s %7s %7s %6s %6s", "-", "-", "-", "-", "-");
    }
    if (r->v != V_HEADLESS)
        printf(" %7.1f", (double)r->txt_bytes / 1e3);
    else
        printf(" %7s", "-");
    printf("  %s\n", r->load);
    fflush(stdout);
}

static void print_run_header(void)
{
    printf("  round, variant, steps/s (1 / median interval, and overall), samples/s (overall), wall s (start to "
           "joined), cores the process used (CPU s / wall s), main thread CPU %% of the loop; frames drawn, ms per "
           "draw (median, max), draws %% of the loop and of the timed window (the "
           "replica only: app_loop's draws cannot be timed from outside), kB of ncurses output in all; 1-minute "
           "load at the start\n");
    printf("  r  %-9s %8s %8s %8s %7s %7s %7s  %5s %7s %7s %6s %6s %7s  %s\n", "variant", "med", "overall",
           "smpl/s", "wall", "cores", "main%", "frms", "draw", "max", "loop%", "win%", "out kB", "load");
}

static void summary(bench *b)
{
    int R = b->o.rounds, nv = b->o.app_loop ? N_VARIANTS : 2;
    double rate_med[N_VARIANTS], rate_all[N_VARIANTS];
    printf("\nsummary over %d rounds (median, min-max of the per-run figures; steps/s over steps %d..%d):\n", R,
           b->o.warmup + 1, b->o.steps);
    printf("  %-9s %22s %22s %9s %29s %10s %12s\n", "variant", "steps/s, median intvl", "steps/s, overall",
           "samples/s", "pooled intervals ms, p10", "cores used", "run's smpl/s");
    for (int v = 0; v < nv; v++) {
        dvec med = {0}, all = {0}, cores = {0}, own = {0};
        for (int i = 0; i < b->n_res; i++)
            if (b->res[i].v == (variant)v && b->res[i].t && b->res[i].n_steps == b->o.steps) {
                dvec_add(&med, b->res[i].rate_med);
                dvec_add(&all, b->res[i].rate_all);
                dvec_add(&cores, b->res[i].cpu_proc / b->res[i].wall);
                dvec_add(&own, b->res[i].run_sps);
            }
        double m1, l1, h1, m2, l2, h2, m3, l3, h3;
        stats3(med.v, med.n, &m1, &l1, &h1);
        stats3(all.v, all.n, &m2, &l2, &h2);
        stats3(b->intervals[v].v, b->intervals[v].n, &m3, &l3, &h3);
        rate_med[v] = m1;
        rate_all[v] = m2;
        int batch = b->n_res ? b->res[0].batch : 0;
        printf("  %-9s %7.3f (%6.3f-%6.3f) %7.3f (%6.3f-%6.3f) %9.1f %6.1f (%6.1f-%6.1f) %6.1f %10.2f %12.1f\n",
               variant_name[v], m1, l1, h1, m2, l2, h2, m2 * batch, m3 * 1e3, l3 * 1e3, h3 * 1e3,
               1e3 * percentile(b->intervals[v].v, b->intervals[v].n, 0.10), median(cores.v, cores.n),
               median(own.v, own.n));
        free(med.v), free(all.v), free(cores.v), free(own.v);
    }
    printf("\nthe workbench's cost to the run (1 - watched / headless):\n");
    for (int v = 1; v < nv; v++) {
        dvec paired = {0};
        for (int r = 0; r < R; r++) {
            const result *h = NULL, *w = NULL;
            for (int i = 0; i < b->n_res; i++) {
                if (b->res[i].round != r || b->res[i].n_steps != b->o.steps)
                    continue;
                if (b->res[i].v == V_HEADLESS)
                    h = &b->res[i];
                else if (b->res[i].v == (variant)v)
                    w = &b->res[i];
            }
            if (h && w)
                dvec_add(&paired, w->rate_all / h->rate_all);
        }
        double pm, pl, ph;
        stats3(paired.v, paired.n, &pm, &pl, &ph);
        printf("  %-9s ratio of median rates: median interval %.3f (cost %+.1f%%), overall %.3f (cost %+.1f%%); "
               "per round, overall: median %.3f (%.3f-%.3f)\n", variant_name[v], rate_med[v] / rate_med[V_HEADLESS],
               100 * (1 - rate_med[v] / rate_med[V_HEADLESS]), rate_all[v] / rate_all[V_HEADLESS],
               100 * (1 - rate_all[v] / rate_all[V_HEADLESS]), pm, pl, ph);
        free(paired.v);
    }
    dvec all_draws = {0}, share_loop = {0}, share_win = {0}, fps = {0};
    dvec main_share[N_VARIANTS] = {{0}};
    for (int i = 0; i < b->n_res; i++) {
        const result *r = &b->res[i];
        if (r->loop_wall > 0)
            dvec_add(&main_share[r->v], 100 * r->cpu_main / r->loop_wall);
        if (!r->draws.n || r->n_steps != b->o.steps)
            continue;
        for (size_t k = 0; k < r->draws.n; k++)
            dvec_add(&all_draws, r->draws.v[k]);
        dvec_add(&share_loop, 100 * sum(&r->draws) / r->loop_wall);
        dvec_add(&share_win, 100 * r->draw_in_window / (r->t[b->o.steps - 1] - r->t[b->o.warmup - 1]));
        dvec_add(&fps, r->draws.n / r->loop_wall);
    }
    if (all_draws.n) {
        double m, l, h, sm, sl, sh, wm, wl, wh;
        stats3(all_draws.v, all_draws.n, &m, &l, &h);
        stats3(share_loop.v, share_loop.n, &sm, &sl, &sh);
        stats3(share_win.v, share_win.n, &wm, &wl, &wh);
        printf("\ndrawing (watched, app_draw on the Run screen, %dx%d): %zu frames, %.2f ms median (%.2f-%.2f), "
               "%.1f frames/s; time in app_draw: %.2f%% of the loop's wall time (%.2f-%.2f), %.2f%% of the timed "
               "window (%.2f-%.2f)\n", SCREEN_COLS, SCREEN_ROWS, all_draws.n, m * 1e3, l * 1e3, h * 1e3,
               median(fps.v, fps.n), sm, sl, sh, wm, wl, wh);
    }
    for (int v = 0; v < nv; v++)
        if (main_share[v].n)
            printf("main thread CPU time, %% of the loop's wall time (%s), %s: median %.2f%%\n",
                   v == V_HEADLESS ? "poll, popping events" : "poll, event folding, drawing", variant_name[v],
                   median(main_share[v].v, main_share[v].n));
    free(all_draws.v), free(share_loop.v), free(share_win.v), free(fps.v);
    for (int v = 0; v < N_VARIANTS; v++)
        free(main_share[v].v);
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_train_run [--rounds R] [--steps N] [--warmup W] [--threads T] [--config FILE] "
               "[--no-app-loop] [--keep]\n"
               "  --rounds R     rounds of one run per variant (default 3)\n"
               "  --steps N      max_train_steps of every run (default 60)\n"
               "  --warmup W     first steps left out of the rates (default 5)\n"
               "  --threads T    the headless run's compute threads (default 0: every core, as the workbench)\n"
               "  --config FILE  the run config (default datasets/shapes/train.json; its folder is the dataset)\n"
               "  --no-app-loop  leave out the variant driven by app_loop() itself\n"
               "  --keep         keep the temporary folder (runs, dataset copy)\n");
}

static int opts_parse(int argc, char **argv, opts *o)
{
    *o = (opts){.rounds = 3, .steps = 60, .warmup = 5, .threads = 0, .config = "datasets/shapes/train.json",
                .app_loop = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = i + 1 < argc;
        if (!strcmp(a, "--rounds") && val)
            o->rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--steps") && val)
            o->steps = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && val)
            o->warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && val)
            o->threads = atoi(argv[++i]);
        else if (!strcmp(a, "--config") && val)
            o->config = argv[++i];
        else if (!strcmp(a, "--no-app-loop"))
            o->app_loop = false;
        else if (!strcmp(a, "--keep"))
            o->keep = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return usage(stdout), 1;
        else
            return usage(stderr), 2;
    }
    if (o->rounds < 1 || o->rounds > 100 || o->warmup < 1 || o->steps < o->warmup + 2 || o->steps > 100000 ||
        o->threads < 0) {
        fprintf(stderr, "bench_train_run: --rounds 1..100, --warmup >= 1, --steps >= warmup + 2, --threads >= 0\n");
        return 2;
    }
    return 0;
}

static void print_header(const bench *b)
{
    char cpu[256];
    bench_cpu_model(cpu, sizeof cpu);
    printf("tagbench demo-run benchmark (bench_train_run)\n");
    printf("machine: nproc %d, CPU \"%s\", %.1f GiB RAM; OpenBLAS %s (core %s)\n", b->nproc, cpu,
           (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30), openblas_get_config(),
           openblas_get_corename());
    printf("load average (1/5/15 min, running/total, last pid) at start: %s\n", b->load_start);
    printf("config %s with max_train_steps %d, sample_prompts unset, sample_every_n_* 0, save_every_n_* 0 "
           "(only training is timed; the final checkpoint follows the last step), lr_warmup_steps below N, "
           "output_dir per run under %s\n", b->o.config, b->o.steps, b->tmp);
    run_config c;
    tg_error err;
    if (config_for_run(b, &c, "/", &err) == 0)
        printf("that is: model %s (train_mode %s%s), resolution %s, train_batch_size %d x "
               "gradient_accumulation_steps %d, %s prediction, lr_scheduler %s, learning_rate %g, lr_warmup_steps "
               "%g, seed %u\n", c.pretrained_model_name_or_path ? c.pretrained_model_name_or_path : "?",
               c.train_mode ? c.train_mode : "?", c.network_train_unet_only ? ", UNet only" : ", UNet + text encoder",
               c.resolution ? c.resolution : "?", c.train_batch_size,
               c.gradient_accumulation_steps, c.v_parameterization ? "v" : "epsilon",
               c.lr_scheduler ? c.lr_scheduler : "?", c.learning_rate, c.lr_warmup_steps, c.seed);
    run_config_free(&c);
    printf("backend cpu; headless threads %d%s; the workbench always runs on every core (%d)\n", b->o.threads,
           b->o.threads ? "" : " (every core)", b->nproc);
    printf("watched/app_loop: ncurses %dx%d (xterm-256color into a memfd), graphics none, Run screen; watched = "
           "app_loop.c's run handling replicated with each app_draw timed, app_loop = app_loop() itself\n",
           SCREEN_COLS, SCREEN_ROWS);
    printf("%d rounds, the first variant rotating; rates from the STEP events' times in events.jsonl after %d "
           "warm-up steps\n\n", b->o.rounds, b->o.warmup);
    if (b->o.threads && b->o.threads != b->nproc)
        printf("NOTE: --threads %d differs from the workbench's %d threads: the ratios compare different "
               "thread counts\n\n", b->o.threads, b->nproc);
}

int main(int argc, char **argv)
{
    static bench b;
    b.saved_stdout = -1;
    int rc = opts_parse(argc, argv, &b.o);
    if (rc)
        return rc == 1 ? 0 : rc;
    for (int fd = 0; fd < 3; fd++) /* fds 0-2 open, so that no file of ours lands on them */
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) < 0)
            return 1;
    b.nproc = (int)sysconf(_SC_NPROCESSORS_ONLN);
    bench_loadavg(b.load_start, sizeof b.load_start, false);
    const char *tmpdir = getenv("TMPDIR");
    char *cfg_copy = strdup(b.o.config), *slash = cfg_copy ? strrchr(cfg_copy, '/') : NULL;
    if (!cfg_copy)
        return 1;
    if (slash) {
        *slash = '\0';
        b.base_dir = cfg_copy;
    } else {
        free(cfg_copy);
        b.base_dir = strdup(".");
    }
    if (asprintf(&b.tmp, "%s/tagbench-bench-train-run-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") < 0 ||
        !mkdtemp(b.tmp)) {
        fprintf(stderr, "bench_train_run: cannot make a temporary folder: %s\n", strerror(errno));
        return 1;
    }
    char runs[PATH_MAX];
    snprintf(runs, sizeof runs, "%s/runs", b.tmp);
    if (mkdir(runs, 0755) < 0 || dataset_copy(&b) < 0) {
        fprintf(stderr, "bench_train_run: cannot copy the dataset of %s into %s: %s\n", b.o.config, b.tmp,
                strerror(errno));
        rc = 1;
        goto out;
    }
    if (bench_locale_utf8() < 0 || terminal_start(&b) < 0) {
        fprintf(stderr, "bench_train_run: no UTF-8 locale or no headless terminal: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }
    print_header(&b);
    print_run_header();
    int nv = b.o.app_loop ? N_VARIANTS : 2;
    b.res = calloc((size_t)(b.o.rounds * nv), sizeof *b.res);
    if (!b.res) {
        rc = 1;
        goto out;
    }
    for (int r = 0; r < b.o.rounds; r++)
        for (int i = 0; i < nv; i++) {
            result *res = &b.res[b.n_res++];
            res->v = (variant)((r + i) % nv);
            res->round = r;
            bench_loadavg(res->load, sizeof res->load, true);
            fprintf(stderr, "round %d/%d: %s run of %d steps\n", r + 1, b.o.rounds, variant_name[res->v], b.o.steps);
            int k = res->v == V_HEADLESS ? run_headless(&b, res) : run_watched(&b, res);
            if (k == 0)
                print_run(&b, res);
            else
                printf("  %d  %-9s failed (see stderr)\n", r + 1, variant_name[res->v]);
        }
    summary(&b);
    bench_loadavg(b.load_end, sizeof b.load_end, false);
    printf("\nload average at end: %s\n", b.load_end);
out:
    bench_term_end(&b.scr);
    if (b.o.keep)
        fprintf(stderr, "kept %s\n", b.tmp);
    else if (bench_remove_tree(b.tmp) < 0)
        fprintf(stderr, "bench_train_run: could not remove %s: %s\n", b.tmp, strerror(errno));
    for (int i = 0; i < b.n_res; i++)
        free(b.res[i].t), free(b.res[i].draws.v), free(b.res[i].draw_rt.v);
    for (int v = 0; v < N_VARIANTS; v++)
        free(b.intervals[v].v);
    free(b.res), free(b.tmp), free(b.ds_dir), free(b.base_dir);
    if (b.failures)
        fprintf(stderr, "bench_train_run: %d failure(s)\n", b.failures);
    return rc || b.failures ? 1 : 0;
}
