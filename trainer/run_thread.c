/* The run thread: the body runs there; requests come from the consumer's thread.
 * Requests are bits in an atomic word, changed under a mutex (which also guards the pause's
 * condition variable) and read without it at each step boundary when nothing is pending. */
#include "trainer/run_thread.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
    REQ_PAUSE = 1u << 0,
    REQ_STOP = 1u << 1,   /* asked by the consumer */
    REQ_SAVE = 1u << 2,
    REQ_SAMPLE = 1u << 3,
    REQ_FAILED = 1u << 4, /* set by run_check_loss: stop without saving */
};

struct run_ctx {
    run_chan *chan;
    run_events_writer log; /* fd -1: no events.jsonl */
    bool log_warned;       /* a write failure was reported */
    void *user;
    tg_error err;
    char *last_checkpoint;
    bool stop_seen;        /* run_checkpoint_requests returned RUN_DO_STOP for a request */
    bool stop_save_given;  /* ... and RUN_DO_SAVE with it */
    bool ended;            /* FAILED was published by run_check_loss */
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* requests changed */
    atomic_uint req;
};

struct run_thread {
    run_ctx ctx;
    run_body_fn body;
    pthread_t tid;
    bool joined;
    int rc;
};

void *run_ctx_user(run_ctx *ctx)
{
    return ctx->user;
}

tg_error *run_ctx_err(run_ctx *ctx)
{
    return &ctx->err;
}

run_chan *run_thread_chan(run_thread *t)
{
    return t->ctx.chan;
}

/* ---- publishing ---- */

/* To the file (warning once on failure), then the channel. */
static int publish(run_ctx *ctx, const run_event *ev)
{
    run_event stamped = *ev;
    if (stamped.time == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        stamped.time = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    }
    tg_error err;
    if (ctx->log.fd >= 0 && run_events_append(&ctx->log, &stamped, &err) < 0 && !ctx->log_warned) {
        ctx->log_warned = true;
        char text[sizeof err.msg + 64];
        snprintf(text, sizeof text, "%s; the run goes on but its event log is incomplete", err.msg);
        run_event w = {.kind = RUN_EV_LOG, .log = {RUN_LOG_WARN, text}};
        run_chan_push(ctx->chan, &w, NULL);
    }
    return run_chan_push(ctx->chan, &stamped, NULL);
}

int run_emit(run_ctx *ctx, const run_event *ev)
{
    if (ev->kind == RUN_EV_FINISHED || ev->kind == RUN_EV_FAILED || (unsigned)ev->kind >= RUN_EV_KIND_COUNT)
        return -1;
    if (ev->kind == RUN_EV_CHECKPOINT_WRITTEN && ev->checkpoint.path) {
        char *p = strdup(ev->checkpoint.path);
        if (p) {
            free(ctx->last_checkpoint);
            ctx->last_checkpoint = p;
        }
    }
    return publish(ctx, ev);
}

int run_log(run_ctx *ctx, run_log_level level, const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    run_event ev = {.kind = RUN_EV_LOG, .log = {level, text}};
    int rc = publish(ctx, &ev);
    free(text);
    return rc;
}

int run_check_loss(run_ctx *ctx, int64_t step, double loss)
{
    if (isfinite(loss))
        return 0;
    char where[64];
    snprintf(where, sizeof where, "at step %lld", (long long)step);
    if (ctx->last_checkpoint)
        error_set(&ctx->err, "loss is %s %s; the last good checkpoint is %s (kept)",
                  isnan(loss) ? "NaN" : "infinite", where, ctx->last_checkpoint);
    else
        error_set(&ctx->err, "loss is %s %s; no checkpoint was written yet",
                  isnan(loss) ? "NaN" : "infinite", where);
    pthread_mutex_lock(&ctx->lock);
    atomic_fetch_or(&ctx->req, REQ_FAILED);
    pthread_mutex_unlock(&ctx->lock);
    if (!ctx->ended) {
        ctx->ended = true;
        run_event ev = {.kind = RUN_EV_FAILED, .failed = {ctx->err.msg}};
        publish(ctx, &ev);
    }
    return -1;
}

/* ---- requests ---- */

static void request(run_thread *t, unsigned set, unsigned clear)
{
    run_ctx *ctx = &t->ctx;
    pthread_mutex_lock(&ctx->lock);
    atomic_fetch_and(&ctx->req, ~clear);
    atomic_fetch_or(&ctx->req, set);
    pthread_cond_broadcast(&ctx->wake);
    pthread_mutex_unlock(&ctx->lock);
}

void run_request_pause(run_thread *t) { request(t, REQ_PAUSE, 0); }
void run_request_resume(run_thread *t) { request(t, 0, REQ_PAUSE); }
void run_request_stop(run_thread *t) { request(t, REQ_STOP, 0); }
void run_request_save(run_thread *t) { request(t, REQ_SAVE, 0); }
void run_request_sample(run_thread *t) { request(t, REQ_SAMPLE, 0); }

bool run_stop_requested(run_ctx *ctx)
{
    return atomic_load(&ctx->req) & (REQ_STOP | REQ_FAILED);
}

unsigned run_checkpoint_requests(run_ctx *ctx)
{
    unsigned req = atomic_load(&ctx->req);
    if (!req)
        return 0;
    if ((req & REQ_PAUSE) && !(req & (REQ_STOP | REQ_FAILED))) {
        publish(ctx, &(run_event){.kind = RUN_EV_PAUSED});
        pthread_mutex_lock(&ctx->lock);
        while ((atomic_load(&ctx->req) & (REQ_PAUSE | REQ_STOP | REQ_FAILED)) == REQ_PAUSE)
            pthread_cond_wait(&ctx->wake, &ctx->lock);
        req = atomic_load(&ctx->req);
        pthread_mutex_unlock(&ctx->lock);
        if (!(req & (REQ_STOP | REQ_FAILED)))
            publish(ctx, &(run_event){.kind = RUN_EV_RESUMED});
    }
    pthread_mutex_lock(&ctx->lock);
    req = atomic_fetch_and(&ctx->req, ~(unsigned)(REQ_SAVE | REQ_SAMPLE));
    pthread_mutex_unlock(&ctx->lock);
    unsigned todo = 0;
    if (req & REQ_FAILED)
        return RUN_DO_STOP;
    if (req & REQ_SAVE)
        todo |= RUN_DO_SAVE;
    if (req & REQ_SAMPLE)
        todo |= RUN_DO_SAMPLE;
    if (req & REQ_STOP) {
        todo |= RUN_DO_STOP;
        ctx->stop_seen = true;
        if (!ctx->stop_save_given)
            todo |= RUN_DO_SAVE;
        ctx->stop_save_given = true;
    }
    return todo;
}

/* ---- the thread ---- */

static void *run_main(void *arg)
{
    run_thread *t = arg;
    run_ctx *ctx = &t->ctx;
    int rc = t->body(ctx) < 0 ? -1 : 0;
    if (!ctx->ended) {
        ctx->ended = true;
        if (rc < 0) {
            if (!ctx->err.msg[0])
                error_set(&ctx->err, "the run failed without saying why");
            publish(ctx, &(run_event){.kind = RUN_EV_FAILED, .failed = {ctx->err.msg}});
        } else {
            run_finish_reason why = ctx->stop_seen ? RUN_FINISH_STOPPED : RUN_FINISH_COMPLETED;
            publish(ctx, &(run_event){.kind = RUN_EV_FINISHED, .finished = {why}});
        }
    }
    run_events_close(&ctx->log);
    t->rc = rc;
    return NULL;
}

static void ctx_free(run_ctx *ctx)
{
    run_events_close(&ctx->log);
    run_chan_free(ctx->chan);
    free(ctx->last_checkpoint);
    pthread_cond_destroy(&ctx->wake);
    pthread_mutex_destroy(&ctx->lock);
}

/* Opens RUN_DIR/events.jsonl, making the folder if missing. */
static int log_open(run_ctx *ctx, const char *run_dir, tg_error *err)
{
    if (mkdir(run_dir, 0755) < 0 && errno != EEXIST)
        return error_set(err, "%s: cannot create the run folder: %s", run_dir, strerror(errno));
    size_t n = strlen(run_dir) + sizeof "/events.jsonl";
    char *path = malloc(n);
    if (!path)
        return error_set(err, "out of memory");
    snprintf(path, n, "%s/events.jsonl", run_dir);
    int rc = run_events_open(&ctx->log, path, err);
    free(path);
    return rc;
}

int run_thread_start(run_thread **out, run_body_fn body, const run_thread_opts *opts, tg_error *err)
{
    *out = NULL;
    run_thread_opts none = {0};
    if (!opts)
        opts = &none;
    run_thread *t = calloc(1, sizeof *t);
    if (!t)
        return error_set(err, "out of memory");
    run_ctx *ctx = &t->ctx;
    t->body = body;
    ctx->log.fd = -1;
    ctx->user = opts->user;
    atomic_init(&ctx->req, 0);
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->wake, NULL);
    bool ok = (ctx->chan = run_chan_new(opts->chan_capacity, err)) != NULL;
    if (ok && opts->last_checkpoint && !(ctx->last_checkpoint = strdup(opts->last_checkpoint)))
        ok = error_set(err, "out of memory") == 0;
    if (ok && opts->run_dir)
        ok = log_open(ctx, opts->run_dir, err) == 0;
    if (ok) {
        /* The thread inherits this mask: asynchronous signals go to the caller's threads. */
        sigset_t all, old;
        sigfillset(&all);
        int sync[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
        for (size_t i = 0; i < sizeof sync / sizeof *sync; i++)
            sigdelset(&all, sync[i]);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int e = pthread_create(&t->tid, NULL, run_main, t);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e)
            ok = error_set(err, "cannot start the run's thread: %s", strerror(e)) == 0;
    }
    if (!ok) {
        ctx_free(ctx);
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int run_thread_join(run_thread *t, tg_error *err)
{
    if (!t->joined) {
        pthread_join(t->tid, NULL);
        t->joined = true;
    }
    if (t->rc < 0)
        error_set(err, "%s", t->ctx.err.msg);
    return t->rc;
}

void run_thread_free(run_thread *t)
{
    if (!t)
        return;
    if (!t->joined) {
        run_request_stop(t);
        run_thread_join(t, NULL);
    }
    ctx_free(&t->ctx);
    free(t);
}
