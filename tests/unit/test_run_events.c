/* The run thread and its events: a flood of steps against a slow consumer (nothing lost but
 * merged steps, the producer never blocks, the wake pipe holds one byte), pause / resume / stop /
 * save-now / sample-now seen at step boundaries (a paused run does not advance nor use the CPU),
 * events.jsonl written and read back (a torn last line skipped), and a NaN loss ending the run
 * with the last good checkpoint named. A watchdog alarm turns a deadlock into a failure. */
#include "trainer/run_thread.h"

#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define FLOOD_STEPS 100000
#define FLOOD_LOG_EVERY 1000
#define FLOOD_CKPT_EVERY 25000
#define FLOOD_CAPACITY 256

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* Bytes waiting in the wake pipe. */
static int pipe_bytes(run_chan *ch)
{
    int n = -1;
    ioctl(run_chan_fd(ch), FIONREAD, &n);
    return n;
}

/* Events popped so far, owned here. */
typedef struct ev_list {
    run_event *ev;
    size_t n, cap;
} ev_list;

static void list_free(ev_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        run_event_clear(&l->ev[i]);
    free(l->ev);
    memset(l, 0, sizeof *l);
}

static void list_add(ev_list *l, const run_event *ev)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ev = realloc(l->ev, l->cap * sizeof *l->ev);
        if (!l->ev)
            abort();
    }
    l->ev[l->n++] = *ev;
}

/* Waits (poll, up to 10 s) until an event of kind `until` arrives, popping at most `batch` at a
 * time; every popped event goes to l. False on a timeout. `max_pipe` gets the most bytes ever
 * seen in the pipe. */
static bool pump(run_chan *ch, ev_list *l, run_event_kind until, size_t batch, int nap_us, int *max_pipe)
{
    run_event buf[64];
    if (batch > 64)
        batch = 64;
    for (;;) {
        struct pollfd p = {run_chan_fd(ch), POLLIN, 0};
        int r = poll(&p, 1, 10000);
        if (r == 0)
            return false;
        if (r < 0)
            continue;
        int b = pipe_bytes(ch);
        if (max_pipe && b > *max_pipe)
            *max_pipe = b;
        size_t n = run_chan_pop(ch, buf, batch);
        bool seen = false;
        for (size_t i = 0; i < n; i++) {
            seen |= buf[i].kind == until;
            list_add(l, &buf[i]);
        }
        if (seen)
            return true;
        if (nap_us)
            usleep(nap_us);
    }
}

static size_t count_kind(const ev_list *l, size_t from, run_event_kind k)
{
    size_t c = 0;
    for (size_t i = from; i < l->n; i++)
        c += l->ev[i].kind == k;
    return c;
}

/* ---- a flood of steps ---- */

typedef struct flood {
    atomic_bool done;
    double seconds;
} flood;

static int flood_body(run_ctx *ctx)
{
    flood *f = run_ctx_user(ctx);
    double t0 = mono_s();
    for (int64_t s = 1; s <= FLOOD_STEPS; s++) {
        run_event st = {.kind = RUN_EV_STEP,
                        .step = {.step = s, .epoch = 1 + (int)(s / 10000), .loss = 1.0 / (double)s,
                                 .lr = 1e-4, .grad_norm = 0.5, .samples_per_s = 1000, .mem_bytes = s}};
        if (run_emit(ctx, &st) < 0)
            return error_set(run_ctx_err(ctx), "push failed at step %lld", (long long)s);
        if (s % FLOOD_LOG_EVERY == 0)
            run_log(ctx, RUN_LOG_INFO, "log %lld", (long long)(s / FLOOD_LOG_EVERY - 1));
        if (s % FLOOD_CKPT_EVERY == 0) {
            char path[64];
            snprintf(path, sizeof path, "ckpt-%06lld.safetensors", (long long)s);
            run_emit(ctx, &(run_event){.kind = RUN_EV_CHECKPOINT_WRITTEN,
                                       .checkpoint = {.step = s, .epoch = 1, .path = path}});
        }
    }
    f->seconds = mono_s() - t0;
    atomic_store(&f->done, true);
    return 0;
}

/* wait_first: the consumer reads nothing until the producer is done (it must not block);
 * otherwise it reads slowly while the producer runs. */
static void flood_run(bool wait_first)
{
    flood f = {.seconds = 0};
    atomic_init(&f.done, false);
    run_thread_opts o = {.chan_capacity = FLOOD_CAPACITY, .user = &f};
    run_thread *t;
    tg_error err = {{0}};
    CHECK_INT(run_thread_start(&t, flood_body, &o, &err), 0);
    if (!t)
        return;
    run_chan *ch = run_thread_chan(t);
    int max_pipe = 0;
    if (wait_first) {
        double t0 = mono_s();
        while (!atomic_load(&f.done) && mono_s() - t0 < 30)
            sleep_ms(1);
        CHECK(atomic_load(&f.done)); /* the producer finished with nobody reading */
        sleep_ms(5);                 /* FINISHED is pushed right after */
        CHECK_INT(pipe_bytes(ch), 1);
    } else {
        sleep_ms(2);
    }
    ev_list l = {0};
    CHECK(pump(ch, &l, RUN_EV_FINISHED, 8, 20, &max_pipe));
    CHECK_INT(run_thread_join(t, &err), 0);
    CHECK(max_pipe <= 1);

    int64_t last_step = 0, steps = 0, skipped = 0;
    int next_log = 0, ckpts = 0;
    bool order_ok = true;
    for (size_t i = 0; i < l.n; i++) {
        const run_event *e = &l.ev[i];
        if (e->kind == RUN_EV_STEP) {
            order_ok &= e->step.step > last_step;
            /* a merged step carries the newest values: they match its own step number */
            order_ok &= e->step.mem_bytes == e->step.step && e->step.step - last_step == e->step.skipped + 1;
            last_step = e->step.step;
            steps++;
            skipped += e->step.skipped;
        } else if (e->kind == RUN_EV_LOG) {
            char want[32];
            snprintf(want, sizeof want, "log %d", next_log++);
            CHECK_STR(e->log.text, want);
            /* each log follows the step it was written after */
            order_ok &= last_step == (int64_t)next_log * FLOOD_LOG_EVERY;
        } else if (e->kind == RUN_EV_CHECKPOINT_WRITTEN) {
            ckpts++;
            CHECK_INT(e->checkpoint.step, (int64_t)ckpts * FLOOD_CKPT_EVERY);
        }
    }
    CHECK(order_ok);
    CHECK_INT(next_log, FLOOD_STEPS / FLOOD_LOG_EVERY);
    CHECK_INT(ckpts, FLOOD_STEPS / FLOOD_CKPT_EVERY);
    CHECK_INT(last_step, FLOOD_STEPS);
    CHECK_INT(steps + skipped, FLOOD_STEPS);
    CHECK(l.n > 0 && l.ev[l.n - 1].kind == RUN_EV_FINISHED);
    CHECK_INT(count_kind(&l, 0, RUN_EV_FINISHED), 1);
    if (l.n)
        CHECK_INT(l.ev[l.n - 1].finished.reason, RUN_FINISH_COMPLETED);

    run_chan_stats st;
    run_chan_get_stats(ch, &st);
    size_t important = FLOOD_STEPS / FLOOD_LOG_EVERY + FLOOD_STEPS / FLOOD_CKPT_EVERY + 1;
    CHECK(st.max_pending <= FLOOD_CAPACITY + 2 * important);
    CHECK_INT(st.pending, 0);
    CHECK_INT(pipe_bytes(ch), 0);
    if (wait_first)
        CHECK(st.steps_merged > 0);
    printf("NOTE run_events flood (%s): %d steps pushed in %.0f ms (%.0f ns each), consumer got %lld "
           "steps (%lld merged), at most %zu pending (capacity %d)\n",
           wait_first ? "consumer away" : "slow consumer", FLOOD_STEPS, f.seconds * 1e3,
           f.seconds * 1e9 / FLOOD_STEPS, (long long)steps, (long long)skipped, st.max_pending,
           FLOOD_CAPACITY);
    list_free(&l);
    run_thread_free(t);
}

static void test_flood_consumer_away(void) { flood_run(true); }
static void test_flood_slow_consumer(void) { flood_run(false); }

/* ---- pause, resume, stop, save now, sample now ---- */

typedef struct stepper {
    atomic_llong step;   /* steps done */
    atomic_bool started; /* tid is set */
    pthread_t tid;
    unsigned stop_todo;  /* what the stop came with */
    int saves, samples;
} stepper;

static int stepper_body(run_ctx *ctx)
{
    stepper *s = run_ctx_user(ctx);
    s->tid = pthread_self();
    atomic_store(&s->started, true);
    for (int64_t n = 1; n < 100000000; n++) {
        unsigned todo = run_checkpoint_requests(ctx);
        char path[64];
        if (todo & RUN_DO_SAVE) {
            snprintf(path, sizeof path, "save-%d.safetensors", s->saves++);
            run_emit(ctx, &(run_event){.kind = RUN_EV_CHECKPOINT_WRITTEN,
                                       .checkpoint = {.step = n - 1, .epoch = 1, .path = path}});
        }
        if (todo & RUN_DO_SAMPLE) {
            snprintf(path, sizeof path, "samples/%d.png", s->samples++);
            run_emit(ctx, &(run_event){.kind = RUN_EV_SAMPLE_WRITTEN,
                                       .sample = {.step = n - 1, .path = path, .prompt = 0}});
        }
        if (todo & RUN_DO_STOP) {
            s->stop_todo = todo;
            return 0;
        }
        volatile double x = 0; /* a little work per step */
        for (int i = 0; i < 2000; i++)
            x += i * 0.5;
        atomic_store(&s->step, n);
        run_emit(ctx, &(run_event){.kind = RUN_EV_STEP, .step = {.step = n, .epoch = 1, .loss = x}});
    }
    return 0;
}

static long long thread_cpu_ns(pthread_t tid)
{
    clockid_t cid;
    struct timespec ts;
    if (pthread_getcpuclockid(tid, &cid) != 0 || clock_gettime(cid, &ts) != 0)
        return -1;
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool wait_steps(stepper *s, long long n)
{
    double t0 = mono_s();
    while (atomic_load(&s->step) < n && mono_s() - t0 < 10)
        sleep_ms(1);
    return atomic_load(&s->step) >= n;
}

static void test_pause_resume_stop(void)
{
    stepper s = {.stop_todo = 0};
    atomic_init(&s.step, 0);
    atomic_init(&s.started, false);
    run_thread_opts o = {.user = &s};
    run_thread *t;
    tg_error err = {{0}};
    CHECK_INT(run_thread_start(&t, stepper_body, &o, &err), 0);
    if (!t)
        return;
    run_chan *ch = run_thread_chan(t);
    ev_list l = {0};
    CHECK(wait_steps(&s, 100) && atomic_load(&s.started));

    /* pause: the body stops at a step boundary and neither advances nor spins */
    run_request_pause(t);
    CHECK(pump(ch, &l, RUN_EV_PAUSED, 64, 0, NULL));
    long long p0 = atomic_load(&s.step), c0 = thread_cpu_ns(s.tid);
    run_request_save(t); /* asked during the pause: done after it */
    run_request_sample(t);
    size_t mark = l.n;
    sleep_ms(200);
    long long p1 = atomic_load(&s.step), c1 = thread_cpu_ns(s.tid);
    run_event buf[64];
    size_t n;
    while ((n = run_chan_pop(ch, buf, 64)) > 0)
        for (size_t i = 0; i < n; i++)
            list_add(&l, &buf[i]);
    CHECK_INT(p1, p0);
    CHECK_INT(l.n, mark); /* nothing published while paused */
    CHECK(c0 >= 0 && c1 >= 0 && c1 - c0 < 50000000LL);
    printf("NOTE run_events pause: the paused run thread used %.3f ms of CPU in 200 ms\n", (c1 - c0) / 1e6);

    /* resume: RESUMED, then the save and the sample asked during the pause, then steps */
    run_request_resume(t);
    CHECK(pump(ch, &l, RUN_EV_SAMPLE_WRITTEN, 64, 0, NULL));
    CHECK(wait_steps(&s, p0 + 100));
    size_t i_res = mark;
    while (i_res < l.n && l.ev[i_res].kind != RUN_EV_RESUMED)
        i_res++;
    CHECK(i_res + 2 < l.n && l.ev[i_res + 1].kind == RUN_EV_CHECKPOINT_WRITTEN &&
          l.ev[i_res + 2].kind == RUN_EV_SAMPLE_WRITTEN);
    CHECK_INT(count_kind(&l, 0, RUN_EV_CHECKPOINT_WRITTEN), 1);
    CHECK_INT(count_kind(&l, 0, RUN_EV_SAMPLE_WRITTEN), 1);

    /* save now while running: one checkpoint */
    run_request_save(t);
    CHECK(pump(ch, &l, RUN_EV_CHECKPOINT_WRITTEN, 64, 0, NULL));
    CHECK_INT(count_kind(&l, 0, RUN_EV_CHECKPOINT_WRITTEN), 2);

    /* stop while paused: the body saves and ends; no RESUMED */
    run_request_pause(t);
    CHECK(pump(ch, &l, RUN_EV_PAUSED, 64, 0, NULL));
    size_t mark2 = l.n;
    run_request_stop(t);
    CHECK(pump(ch, &l, RUN_EV_FINISHED, 64, 0, NULL));
    CHECK_INT(run_thread_join(t, &err), 0);
    CHECK_INT(s.stop_todo, RUN_DO_SAVE | RUN_DO_STOP);
    CHECK_INT(count_kind(&l, mark2, RUN_EV_RESUMED), 0);
    CHECK_INT(count_kind(&l, mark2, RUN_EV_CHECKPOINT_WRITTEN), 1);
    CHECK_INT(count_kind(&l, mark2, RUN_EV_STEP), 0);
    CHECK(l.n && l.ev[l.n - 1].kind == RUN_EV_FINISHED && l.ev[l.n - 1].finished.reason == RUN_FINISH_STOPPED);
    CHECK_INT(s.saves, 3);
    list_free(&l);
    run_thread_free(t);
}

/* run_thread_free on a paused run stops it (no hang); run_emit refuses the thread's events. */
static int paused_forever_body(run_ctx *ctx)
{
    CHECK_INT(run_emit(ctx, &(run_event){.kind = RUN_EV_FINISHED}), -1);
    CHECK_INT(run_emit(ctx, &(run_event){.kind = RUN_EV_FAILED}), -1);
    sigset_t set;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    CHECK(sigismember(&set, SIGINT) && sigismember(&set, SIGWINCH) && !sigismember(&set, SIGSEGV));
    while (!(run_checkpoint_requests(ctx) & RUN_DO_STOP))
        sleep_ms(1);
    return 0;
}

static void test_free_stops_paused_run(void)
{
    run_thread *t;
    tg_error err = {{0}};
    CHECK_INT(run_thread_start(&t, paused_forever_body, NULL, &err), 0);
    if (!t)
        return;
    run_request_pause(t);
    ev_list l = {0};
    CHECK(pump(run_thread_chan(t), &l, RUN_EV_PAUSED, 8, 0, NULL));
    run_thread_free(t); /* must not hang */
    list_free(&l);
}

/* ---- events.jsonl ---- */

static int roundtrip_body(run_ctx *ctx)
{
    run_emit(ctx, &(run_event){.kind = RUN_EV_STEP,
                               .step = {.step = (int64_t)1 << 53, .epoch = 3, .loss = 0.1234567890123456789,
                                        .lr = 1e-4, .grad_norm = NAN, .samples_per_s = 12.5,
                                        .mem_bytes = (int64_t)3 << 40}});
    run_log(ctx, RUN_LOG_WARN, "quotes \" and \\ and a\nnewline, é ✓");
    run_emit(ctx, &(run_event){.kind = RUN_EV_SAMPLE_WRITTEN,
                               .sample = {.step = 10, .path = "samples/000010_01.png", .prompt = 1}});
    run_emit(ctx, &(run_event){.kind = RUN_EV_CHECKPOINT_WRITTEN,
                               .checkpoint = {.step = 10, .epoch = 1, .path = "run-000010.safetensors"}});
    run_emit(ctx, &(run_event){.kind = RUN_EV_PAUSED});
    run_emit(ctx, &(run_event){.kind = RUN_EV_RESUMED});
    return 0;
}

static int collect(const run_event *ev, void *user)
{
    run_event c;
    if (run_event_copy(&c, ev) < 0)
        return -1;
    list_add(user, &c);
    return 0;
}

static void check_roundtrip(const ev_list *l)
{
    static const run_event_kind want[] = {RUN_EV_STEP, RUN_EV_LOG, RUN_EV_SAMPLE_WRITTEN,
                                          RUN_EV_CHECKPOINT_WRITTEN, RUN_EV_PAUSED, RUN_EV_RESUMED,
                                          RUN_EV_FINISHED};
    CHECK_INT(l->n, 7);
    if (l->n != 7)
        return;
    for (size_t i = 0; i < 7; i++) {
        CHECK_INT(l->ev[i].kind, want[i]);
        CHECK(l->ev[i].time > 1.6e9);
    }
    const run_event *e = l->ev;
    CHECK_INT(e[0].step.step, (int64_t)1 << 53);
    CHECK_INT(e[0].step.epoch, 3);
    CHECK(e[0].step.loss == 0.1234567890123456789);
    CHECK(e[0].step.lr == 1e-4);
    CHECK(isnan(e[0].step.grad_norm));
    CHECK(e[0].step.samples_per_s == 12.5);
    CHECK_INT(e[0].step.mem_bytes, (int64_t)3 << 40);
    CHECK_INT(e[1].log.level, RUN_LOG_WARN);
    CHECK_STR(e[1].log.text, "quotes \" and \\ and a\nnewline, é ✓");
    CHECK_INT(e[2].sample.step, 10);
    CHECK_INT(e[2].sample.prompt, 1);
    CHECK_STR(e[2].sample.path, "samples/000010_01.png");
    CHECK_INT(e[3].checkpoint.step, 10);
    CHECK_INT(e[3].checkpoint.epoch, 1);
    CHECK_STR(e[3].checkpoint.path, "run-000010.safetensors");
    CHECK_INT(e[6].finished.reason, RUN_FINISH_COMPLETED);
}

static void test_jsonl_roundtrip(void)
{
    char *root = fixture_make();
    char *dir = fixture_path(root, "run1");
    run_thread_opts o = {.run_dir = dir};
    run_thread *t;
    tg_error err = {{0}};
    CHECK_INT(run_thread_start(&t, roundtrip_body, &o, &err), 0);
    if (!t) {
        fprintf(stderr, "    %s\n", err.msg);
        goto out;
    }
    CHECK_INT(run_thread_join(t, &err), 0);
    run_thread_free(t);

    size_t len = 0;
    char *text = fixture_read(root, "run1/events.jsonl", &len);
    CHECK(text && len > 0 && text[len - 1] == '\n');
    size_t lines = 0;
    for (size_t i = 0; text && i < len; i++)
        lines += text[i] == '\n';
    CHECK_INT(lines, 7); /* one line per event: the newline in the log text is escaped */
    free(text);

    ev_list l = {0};
    size_t bad = 99;
    char *path = fixture_path(root, "run1/events.jsonl");
    CHECK_INT(run_events_read(path, collect, &l, &bad, &err), 0);
    CHECK_INT(bad, 0);
    check_roundtrip(&l);
    list_free(&l);

    /* a crash in the middle of a line, and a line from a later version: skipped and counted */
    FILE *f = fopen(path, "a");
    if (f) {
        fputs("{\"event\":\"teleport\",\"time\":1700000000}\n{\"event\":\"step\",\"time\":17", f);
        fclose(f);
    }
    CHECK_INT(run_events_read(path, collect, &l, &bad, &err), 0);
    CHECK_INT(bad, 2);
    check_roundtrip(&l);
    list_free(&l);

    /* a resumed run appends to the same log */
    run_events_writer w;
    CHECK_INT(run_events_open(&w, path, &err), 0);
    CHECK_INT(run_events_append(&w, &(run_event){.kind = RUN_EV_LOG, .time = 1.7e9,
                                                 .log = {RUN_LOG_INFO, "resumed"}}, &err), 0);
    run_events_close(&w);
    CHECK_INT(run_events_read(path, collect, &l, &bad, &err), 0);
    CHECK_INT(bad, 2); /* the writer ended the torn line before its own */
    CHECK_INT(l.n, 8);
    CHECK(l.n == 8 && l.ev[7].kind == RUN_EV_LOG && l.ev[7].time == 1.7e9);
    list_free(&l);

    char *missing = fixture_path(root, "nope/events.jsonl");
    CHECK_INT(run_events_read(missing, collect, &l, NULL, &err), -1);
    CHECK(strstr(err.msg, "nope/events.jsonl") != NULL);
    free(missing);
    free(path);
out:
    free(dir);
    fixture_remove(root);
}

static void test_json_rejects(void)
{
    static const char *const bad[] = {
        "[1]", "{\"event\":\"step\"}", "{\"event\":\"log\",\"time\":1,\"level\":\"loud\",\"text\":\"x\"}",
        "{\"event\":\"step\",\"time\":1,\"step\":1.5,\"epoch\":1,\"loss\":1,\"lr\":1,\"grad_norm\":1,"
        "\"samples_per_s\":1,\"mem_bytes\":1}",
        "{\"event\":\"sample\",\"time\":1,\"step\":1,\"prompt\":0}", "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_event ev;
        tg_error err = {{0}};
        CHECK_INT(run_event_from_json(bad[i], &ev, &err), -1);
        CHECK(err.msg[0] != '\0');
    }
}

/* ---- NaN, and a body's own error ---- */

typedef struct nan_case {
    int64_t bad_step;
    double bad_loss;
    int64_t ckpt_step; /* 0: no checkpoint */
    unsigned after;    /* what run_checkpoint_requests said after the failure */
    bool stop_flag;
} nan_case;

static int nan_body(run_ctx *ctx)
{
    nan_case *c = run_ctx_user(ctx);
    for (int64_t s = 1;; s++) {
        run_checkpoint_requests(ctx);
        double loss = s == c->bad_step ? c->bad_loss : 1.0 / (double)s;
        if (run_check_loss(ctx, s, loss) < 0) {
            c->after = run_checkpoint_requests(ctx);
            c->stop_flag = run_stop_requested(ctx);
            return -1;
        }
        run_emit(ctx, &(run_event){.kind = RUN_EV_STEP, .step = {.step = s, .epoch = 1, .loss = loss}});
        if (s == c->ckpt_step) {
            char path[64];
            snprintf(path, sizeof path, "out/run-%06lld.safetensors", (long long)s);
            run_emit(ctx, &(run_event){.kind = RUN_EV_CHECKPOINT_WRITTEN,
                                       .checkpoint = {.step = s, .epoch = 1, .path = path}});
        }
    }
}

static void nan_run(nan_case *c, const char *want)
{
    char *root = fixture_make();
    run_thread_opts o = {.run_dir = root, .user = c};
    run_thread *t;
    tg_error err = {{0}};
    CHECK_INT(run_thread_start(&t, nan_body, &o, &err), 0);
    if (!t) {
        fixture_remove(root);
        return;
    }
    ev_list l = {0};
    CHECK(pump(run_thread_chan(t), &l, RUN_EV_FAILED, 64, 0, NULL));
    CHECK_INT(run_thread_join(t, &err), -1);
    CHECK_STR(err.msg, want);
    CHECK_INT(c->after, RUN_DO_STOP);
    CHECK(c->stop_flag);
    sleep_ms(5);
    run_event extra[4];
    CHECK_INT(run_chan_pop(run_thread_chan(t), extra, 4), 0); /* FAILED is the last event */
    CHECK(l.n && l.ev[l.n - 1].kind == RUN_EV_FAILED);
    if (l.n)
        CHECK_STR(l.ev[l.n - 1].failed.message, want);
    CHECK_INT(count_kind(&l, 0, RUN_EV_FAILED), 1);
    CHECK_INT(count_kind(&l, 0, RUN_EV_FINISHED), 0);
    list_free(&l);
    run_thread_free(t);

    char *path = fixture_path(root, "events.jsonl");
    CHECK_INT(run_events_read(path, collect, &l, NULL, &err), 0);
    CHECK(l.n && l.ev[l.n - 1].kind == RUN_EV_FAILED);
    if (l.n)
        CHECK_STR(l.ev[l.n - 1].failed.message, want);
    list_free(&l);
    free(path);
    fixture_remove(root);
}

static void test_nan_loss(void)
{
    nan_case c = {.bad_step = 7, .bad_loss = NAN, .ckpt_step = 3};
    nan_run(&c, "loss is NaN at step 7; the last good checkpoint is out/run-000003.safetensors (kept)");
    nan_case d = {.bad_step = 1, .bad_loss = -INFINITY};
    nan_run(&d, "loss is infinite at step 1; no checkpoint was written yet");
}

static int failing_body(run_ctx *ctx)
{
    const char *msg = run_ctx_user(ctx);
    return msg ? error_set(run_ctx_err(ctx), "%s", msg) : -1;
}

static void test_body_error(void)
{
    const char *cases[][2] = {{"train_data_dir: the folder vanished", "train_data_dir: the folder vanished"},
                              {NULL, "the run failed without saying why"}};
    for (int i = 0; i < 2; i++) {
        run_thread_opts o = {.user = (void *)cases[i][0]};
        run_thread *t;
        tg_error err = {{0}};
        CHECK_INT(run_thread_start(&t, failing_body, &o, &err), 0);
        if (!t)
            continue;
        ev_list l = {0};
        CHECK(pump(run_thread_chan(t), &l, RUN_EV_FAILED, 8, 0, NULL));
        CHECK(l.n == 1 && l.ev[0].kind == RUN_EV_FAILED);
        if (l.n)
            CHECK_STR(l.ev[0].failed.message, cases[i][1]);
        CHECK_INT(run_thread_join(t, &err), -1);
        CHECK_STR(err.msg, cases[i][1]);
        list_free(&l);
        run_thread_free(t);
    }
}

int main(void)
{
    alarm(120); /* a deadlock fails the run instead of hanging it */
    RUN(test_flood_consumer_away);
    RUN(test_flood_slow_consumer);
    RUN(test_pause_resume_stop);
    RUN(test_free_stops_paused_run);
    RUN(test_jsonl_roundtrip);
    RUN(test_json_rejects);
    RUN(test_nan_loss);
    RUN(test_body_error);
    return check_finish();
}
