/* The workbench's view of a run (tui/run_watch.h): events folded into the figures, the loss
 * series, the log, samples and checkpoints; the speed and ETA from the events' times (a pause
 * restarts them); the log ring keeping the newest lines; a run folder replayed from its
 * events.jsonl (a torn line skipped, prompts from its config.json, sample paths found in the
 * folder); and a live run thread drained through the channel, paused and stopped, then joined. */
#include "tui/run_watch.h"

#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define T0 1718000000.0 /* 2024-06-10 06:13:20 UTC */

static run_event step_ev(double t, int64_t step, double loss)
{
    return (run_event){.kind = RUN_EV_STEP, .time = t, .step = {.step = step, .epoch = 1 + (int)(step / 10),
        .loss = loss, .lr = 1e-4, .grad_norm = 0.5, .samples_per_s = 8, .mem_bytes = 1 << 20,
        .total_steps = 100, .total_epochs = 10}};
}

static void fold_steps(run_watch *w, double t0, int64_t first, int64_t last, double dt)
{
    for (int64_t s = first; s <= last; s++) {
        run_event ev = step_ev(t0 + (double)(s - first) * dt, s, 1.0 / (double)s);
        run_watch_fold(w, &ev);
    }
}

static void test_steps_fold_into_figures_and_the_series(void)
{
    run_watch *w = run_watch_new("runs/a");
    CHECK(w != NULL);
    CHECK_INT(w->state, RUN_STATE_STARTING);
    CHECK_STR(run_watch_state_name(w), "starting");
    CHECK(run_watch_eta(w) < 0);
    uint64_t g = w->generation;
    fold_steps(w, T0, 1, 20, 0.5); /* 2 steps a second */
    CHECK(w->generation > g);
    CHECK_INT(w->state, RUN_STATE_RUNNING);
    CHECK_INT(w->step, 20);
    CHECK_INT(w->epoch, 3);
    CHECK_INT(w->total_steps, 100);
    CHECK_INT(w->total_epochs, 10);
    CHECK_NEAR(w->lr, 1e-4, 1e-12);
    CHECK_NEAR(w->samples_per_s, 8, 0);
    CHECK_INT(w->mem_bytes, 1 << 20);
    CHECK_INT(ls_points(w->loss), 20);
    int64_t step;
    double raw, sm;
    CHECK(ls_last(w->loss, &step, &raw, &sm));
    CHECK_INT(step, 20);
    CHECK_NEAR(raw, 1.0 / 20, 1e-12);
    CHECK_NEAR(w->steps_per_s, 2, 1e-9);
    CHECK_NEAR(run_watch_eta(w), 80 / 2.0, 1e-9);
    CHECK_NEAR(w->started_at, T0, 0);
    CHECK_NEAR(w->last_step_at, T0 + 19 * 0.5, 1e-9);
    char buf[64];
    run_watch_summary(w, buf, sizeof buf);
    CHECK_STR(buf, "run 20/100");
    CHECK_INT(w->n_log, 0); /* steps are figures, not log lines */
    run_watch_free(w);
}

static void test_log_lines_name_time_level_and_what_was_written(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    run_watch *w = run_watch_new("runs/a");
    run_event ev = {.kind = RUN_EV_LOG, .time = T0, .log = {RUN_LOG_INFO, "epoch 1 of 10"}};
    run_watch_fold(w, &ev);
    ev.log.level = RUN_LOG_WARN, ev.log.text = "disk nearly full";
    run_watch_fold(w, &ev);
    ev.log.level = RUN_LOG_ERROR, ev.log.text = "oops";
    run_watch_fold(w, &ev);
    run_event ck = {.kind = RUN_EV_CHECKPOINT_WRITTEN, .time = T0 + 1,
                    .checkpoint = {.step = 50, .epoch = 5, .path = "out/last-step00000050.safetensors"}};
    run_watch_fold(w, &ck);
    run_event sa = {.kind = RUN_EV_SAMPLE_WRITTEN, .time = T0 + 2,
                    .sample = {.step = 50, .path = "out/samples/s_000050_00.png", .prompt = 0}};
    run_watch_fold(w, &sa);
    CHECK_INT(w->n_log, 5);
    CHECK_STR(run_watch_log_line(w, 0), "06:13:20 epoch 1 of 10");
    CHECK_STR(run_watch_log_line(w, 1), "06:13:20 warn: disk nearly full");
    CHECK_STR(run_watch_log_line(w, 2), "06:13:20 error: oops");
    CHECK_STR(run_watch_log_line(w, 3),
              "06:13:21 checkpoint at step 50 (epoch 5): out/last-step00000050.safetensors");
    CHECK_STR(run_watch_log_line(w, 4), "06:13:22 sample at step 50: out/samples/s_000050_00.png (prompt 1)");
    ck.checkpoint.path = "runs/a/last.safetensors"; /* inside the run folder: named from it */
    run_watch_fold(w, &ck);
    CHECK_STR(run_watch_log_line(w, 5), "06:13:21 checkpoint at step 50 (epoch 5): last.safetensors");
    CHECK_INT(w->n_checkpoints, 2);
    CHECK_STR(w->checkpoints[0], "out/last-step00000050.safetensors");
    CHECK_STR(w->checkpoints[1], "runs/a/last.safetensors");
    CHECK_INT(w->n_samples, 1);
    CHECK_INT(w->samples[0].step, 50);
    CHECK_INT(w->samples[0].prompt, 0);
    CHECK_STR(w->samples[0].path, "out/samples/s_000050_00.png");
    run_watch_free(w);
}

static void test_the_log_keeps_the_newest_lines(void)
{
    run_watch *w = run_watch_new(NULL);
    char text[32];
    for (int i = 0; i < RUN_WATCH_LOG_LINES + 123; i++) {
        snprintf(text, sizeof text, "line %d", i);
        run_event ev = {.kind = RUN_EV_LOG, .time = T0, .log = {RUN_LOG_INFO, text}};
        run_watch_fold(w, &ev);
    }
    CHECK_INT(w->n_log, RUN_WATCH_LOG_LINES);
    CHECK(strstr(run_watch_log_line(w, 0), " line 123") != NULL);
    snprintf(text, sizeof text, " line %d", RUN_WATCH_LOG_LINES + 122);
    CHECK(strstr(run_watch_log_line(w, RUN_WATCH_LOG_LINES - 1), text) != NULL);
    CHECK_STR(run_watch_log_line(w, RUN_WATCH_LOG_LINES), ""); /* past the end */
    run_watch_free(w);
}

static void test_pause_restarts_the_speed_and_the_end_states(void)
{
    run_watch *w = run_watch_new(NULL);
    fold_steps(w, T0, 1, 10, 1);
    CHECK_NEAR(w->steps_per_s, 1, 1e-9);
    run_event p = {.kind = RUN_EV_PAUSED, .time = T0 + 10};
    run_watch_fold(w, &p);
    CHECK_INT(w->state, RUN_STATE_PAUSED);
    CHECK_STR(run_watch_state_name(w), "paused");
    CHECK(run_watch_eta(w) < 0);
    char buf[64];
    run_watch_summary(w, buf, sizeof buf);
    CHECK_STR(buf, "run paused");
    run_event r = {.kind = RUN_EV_RESUMED, .time = T0 + 1000};
    run_watch_fold(w, &r);
    CHECK_INT(w->state, RUN_STATE_RUNNING);
    /* after an hour's pause, 4 steps a second: the pause does not count as slowness */
    fold_steps(w, T0 + 1000, 11, 20, 0.25);
    CHECK_NEAR(w->steps_per_s, 4, 1e-9);
    CHECK_NEAR(run_watch_eta(w), 80 / 4.0, 1e-9);
    run_event f = {.kind = RUN_EV_FINISHED, .time = T0 + 1010, .finished = {RUN_FINISH_STOPPED}};
    run_watch_fold(w, &f);
    CHECK_INT(w->state, RUN_STATE_FINISHED);
    CHECK_INT(w->finish_reason, RUN_FINISH_STOPPED);
    CHECK_STR(run_watch_state_name(w), "stopped");
    CHECK(run_watch_eta(w) < 0);
    CHECK(strstr(run_watch_log_line(w, w->n_log - 1), "stopped") != NULL);

    run_watch *v = run_watch_new(NULL);
    run_event x = {.kind = RUN_EV_FAILED, .time = T0, .failed = {"loss is NaN at step 3; no checkpoint was written yet"}};
    run_watch_fold(v, &x);
    CHECK_INT(v->state, RUN_STATE_FAILED);
    CHECK_STR(v->fail_message, "loss is NaN at step 3; no checkpoint was written yet");
    CHECK(strstr(run_watch_log_line(v, 0), "error: failed: loss is NaN") != NULL);
    run_watch_summary(v, buf, sizeof buf);
    CHECK_STR(buf, "run failed");
    run_watch_free(v);
    run_watch_free(w);
}

static void test_a_run_folder_replays(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    char *root = fixture_make();
    CHECK(root != NULL);
    fixture_write(root, "prompts.txt", "red circle, large --w 64 --h 64 --s 8 --d 1\n# a comment\nblue square\n");
    fixture_write(root, ".tagbench/runs/20240610-061320/config.json",
                  "{\"sample_prompts\": \"prompts.txt\", \"max_train_steps\": 3}\n");
    fixture_write(root, ".tagbench/runs/20240610-061320/samples/s_000002_01.png", "png");
    fixture_write(root, ".tagbench/runs/20240610-061320/events.jsonl",
        "{\"event\":\"step\",\"time\":1718000000,\"step\":1,\"epoch\":1,\"loss\":0.5,\"lr\":0.001,"
        "\"grad_norm\":1,\"samples_per_s\":4,\"mem_bytes\":100,\"total_steps\":3,\"total_epochs\":1}\n"
        "{\"event\":\"step\",\"time\":1718000001,\"step\":2,\"epoch\":1,\"loss\":0.25,\"lr\":0.001,"
        "\"grad_norm\":1,\"samples_per_s\":4,\"mem_bytes\":100,\"total_steps\":3,\"total_epochs\":1}\n"
        "{\"event\":\"sample\",\"time\":1718000002,\"step\":2,\"path\":\"elsewhere/s_000002_01.png\",\"prompt\":1}\n"
        "{\"event\":\"step\",\"time\":1718000003,\"st"); /* torn by a crash */
    char *dir = fixture_path(root, ".tagbench/runs/20240610-061320");
    char *latest = run_watch_latest_dir(root);
    CHECK_STR(latest, dir);
    tg_error err;
    run_watch *w = run_watch_read(dir, root, &err);
    CHECK(w != NULL);
    if (w) {
        CHECK_INT(w->state, RUN_STATE_VIEWED);
        CHECK_INT(w->view_state, RUN_STATE_RUNNING);
        CHECK_STR(run_watch_state_name(w), "ended early");
        CHECK(w->thread == NULL);
        CHECK(!run_watch_active(w));
        CHECK_INT(run_watch_fd(w), -1);
        CHECK_INT(w->n_bad_lines, 1);
        CHECK_INT(w->step, 2);
        CHECK_INT(ls_points(w->loss), 2);
        CHECK_INT(w->n_prompts, 2);
        CHECK_STR(w->prompts[0], "red circle, large");
        CHECK_STR(w->prompts[1], "blue square");
        CHECK_INT(w->n_samples, 1);
        char *want = fixture_path(dir, "samples/s_000002_01.png");
        CHECK_STR(w->samples[0].path, want); /* found in the run folder */
        free(want);
        CHECK(strstr(run_watch_log_line(w, 0), "s_000002_01.png (prompt 2: blue square)") != NULL);
        CHECK(strstr(run_watch_log_line(w, w->n_log - 1), "do not parse") != NULL);
        char buf[32];
        run_watch_summary(w, buf, sizeof buf);
        CHECK_STR(buf, ""); /* a viewed folder is not a run of this session */
        run_watch_pause(w); /* requests without a thread are no-ops */
        run_watch_stop(w);
        CHECK(!w->stop_requested);
        CHECK(!run_watch_poll(w));
    }
    run_watch_free(w);
    char *none = fixture_path(root, "nowhere");
    CHECK(run_watch_read(none, root, &err) == NULL);
    CHECK(strstr(err.msg, "events.jsonl") != NULL);
    CHECK(run_watch_latest_dir(none) == NULL);
    free(none);
    free(latest);
    free(dir);
    fixture_remove(root);
}

/* ---- a live run: a body that steps until stopped ---- */

static int body(run_ctx *ctx)
{
    for (int64_t s = 1; s <= 1000000; s++) {
        unsigned todo = run_checkpoint_requests(ctx);
        if (todo & RUN_DO_SAVE) {
            run_event ck = {.kind = RUN_EV_CHECKPOINT_WRITTEN, .checkpoint = {s - 1, 1, "ck.safetensors"}};
            run_emit(ctx, &ck);
        }
        if (todo & RUN_DO_STOP)
            return 0;
        run_event ev = step_ev(0, s, 1.0 / (double)s);
        ev.step.total_steps = 1000000;
        run_emit(ctx, &ev);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Polls the watch's fd like the app loop until cond holds (or 10 s pass). */
#define POLL_UNTIL(w, cond) do { \
    for (int i_ = 0; i_ < 1000 && !(cond); i_++) { \
        struct pollfd p_ = {run_watch_fd(w), POLLIN, 0}; \
        if (p_.fd < 0) break; \
        poll(&p_, 1, 10); \
        run_watch_poll(w); \
    } } while (0)

static void test_a_live_run_is_drained_paused_stopped_and_joined(void)
{
    run_watch *w = run_watch_new(NULL);
    tg_error err;
    CHECK(run_thread_start(&w->thread, body, NULL, &err) == 0);
    CHECK(run_watch_active(w));
    CHECK(run_watch_fd(w) >= 0);
    POLL_UNTIL(w, w->step >= 20);
    CHECK(w->step >= 20);
    CHECK_INT(w->state, RUN_STATE_RUNNING);
    run_watch_pause(w);
    POLL_UNTIL(w, w->state == RUN_STATE_PAUSED);
    CHECK_INT(w->state, RUN_STATE_PAUSED);
    int64_t at = w->step;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    run_watch_poll(w);
    CHECK_INT(w->step, at); /* paused: no steps */
    run_watch_resume(w);
    POLL_UNTIL(w, w->step > at + 5);
    CHECK(w->step > at + 5);
    run_watch_stop(w);
    CHECK(w->stop_requested);
    POLL_UNTIL(w, !run_watch_active(w));
    CHECK(!run_watch_active(w)); /* joined after the last event */
    CHECK_INT(w->state, RUN_STATE_FINISHED);
    CHECK_INT(w->finish_reason, RUN_FINISH_STOPPED);
    CHECK_INT(w->n_checkpoints, 1); /* the stop saved */
    CHECK_INT(run_watch_fd(w), -1);
    CHECK_INT((int64_t)ls_points(w->loss) + (int64_t)w->steps_merged, w->step);
    run_watch_free(w);

    /* freeing a going run stops it (with its save) and joins it */
    run_watch *g = run_watch_new(NULL);
    CHECK(run_thread_start(&g->thread, body, NULL, &err) == 0);
    POLL_UNTIL(g, g->step >= 3);
    run_watch_free(g);
}

int main(void)
{
    RUN(test_steps_fold_into_figures_and_the_series);
    RUN(test_log_lines_name_time_level_and_what_was_written);
    RUN(test_the_log_keeps_the_newest_lines);
    RUN(test_pause_restarts_the_speed_and_the_end_states);
    RUN(test_a_run_folder_replays);
    RUN(test_a_live_run_is_drained_paused_stopped_and_joined);
    return check_finish();
}
