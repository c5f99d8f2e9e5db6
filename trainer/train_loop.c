/* The run thread's body (train_run.h): setup, then optimizer steps until max_train_steps, with
 * the requests (pause, stop, save now, sample now) answered between steps, STEP events, and
 * checkpoints and samples when they are due. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "trainer/private/train_job.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int64_t rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

typedef struct loop_clock {
    double step_time;      /* seconds spent in steps since the loop started (not saving/sampling) */
    long steps;
} loop_clock;

static void step_emit(run_ctx *ctx, const train_job *j, double loss, double lr, double gn, const loop_clock *c)
{
    double rate = c->step_time > 0 ? (double)c->steps * j->cfg.train_batch_size * j->accum / c->step_time : 0;
    run_event ev = {.kind = RUN_EV_STEP,
                    .step = {.step = j->step, .epoch = job_epoch_of(j, j->step), .loss = loss, .lr = lr,
                             .grad_norm = gn, .samples_per_s = rate, .mem_bytes = rss_bytes(),
                             .total_steps = j->total_steps, .total_epochs = j->total_epochs}};
    run_emit(ctx, &ev);
}

/* kohya: sample_every_n_epochs (at epoch ends) overrides sample_every_n_steps. */
static bool sample_due(const train_job *j, bool epoch_end)
{
    const run_config *c = &j->cfg;
    if (!j->prompts.count)
        return false;
    if (c->sample_every_n_epochs > 0)
        return epoch_end && job_epoch_of(j, j->step) % c->sample_every_n_epochs == 0;
    return c->sample_every_n_steps > 0 && j->step % c->sample_every_n_steps == 0;
}

/* Checkpoints and samples due after a step; the last step's are the final ones. */
static int after_step(run_ctx *ctx, train_job *j, bool *sampled, tg_error *err)
{
    const run_config *c = &j->cfg;
    bool last = j->step >= j->total_steps, epoch_end = j->step % j->steps_per_epoch == 0;
    int epoch = job_epoch_of(j, j->step);
    if (!last && c->save_every_n_steps > 0 && j->step % c->save_every_n_steps == 0 &&
        job_save(ctx, j, "step", epoch, false, err) < 0)
        return -1;
    if (!last && epoch_end && c->save_every_n_epochs > 0 && epoch % c->save_every_n_epochs == 0 &&
        job_save(ctx, j, "epoch", epoch, false, err) < 0)
        return -1;
    *sampled = sample_due(j, epoch_end);
    return *sampled ? job_samples(ctx, j, err) : 0;
}

/* Save now, sample now, stop: the checkpoint of a stop is a step checkpoint with its state, so
 * the run can be resumed from it. */
static int requests_answer(run_ctx *ctx, train_job *j, unsigned req, tg_error *err)
{
    int epoch = j->step ? job_epoch_of(j, j->step) : 1;
    if ((req & RUN_DO_SAVE) && j->step > 0) {
        if (req & RUN_DO_STOP)
            run_log(ctx, RUN_LOG_INFO, "stopping at step %ld: saving the weights and the state", j->step);
        if (job_save(ctx, j, "step", epoch, (req & RUN_DO_STOP) != 0, err) < 0)
            return -1;
    }
    if ((req & RUN_DO_SAMPLE) && !(req & RUN_DO_STOP))
        return job_samples(ctx, j, err);
    return 0;
}

static int loop_run(run_ctx *ctx, train_job *j, tg_error *err)
{
    loop_clock clk = {0};
    bool sampled = false;
    j->t0 = (double)time(NULL);
    run_log(ctx, RUN_LOG_INFO, "training from step %ld to %ld", j->step, j->total_steps);
    while (j->step < j->total_steps) {
        unsigned req = run_checkpoint_requests(ctx);
        if (req && requests_answer(ctx, j, req, err) < 0)
            return -1;
        if (req & RUN_DO_STOP)
            return 0;
        double loss = NAN, gn = 0, lr = 0, t = now_s();
        if (job_step(j, &loss, &gn, &lr, err) < 0)
            return -1;
        if (run_check_loss(ctx, j->step + 1, loss) < 0)
            return -1;
        j->step++;
        clk.step_time += now_s() - t;
        clk.steps++;
        step_emit(ctx, j, loss, lr, gn, &clk);
        if (after_step(ctx, j, &sampled, err) < 0)
            return -1;
    }
    if (job_save(ctx, j, "final", j->total_epochs, false, err) < 0)
        return -1;
    return sampled ? 0 : job_samples(ctx, j, err); /* kohya samples at the end of training too */
}

int train_body(run_ctx *ctx)
{
    train_job *j = run_ctx_user(ctx);
    tg_error *err = run_ctx_err(ctx);
    int rc = job_setup(ctx, j, err);
    if (rc == 0)
        rc = loop_run(ctx, j, err);
    job_free(j);
    train_job_release(j);
    return rc;
}
