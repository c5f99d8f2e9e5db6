/* Sample images during a run (private/train_job.h): every prompt of sample_prompts at the current
 * step, with the EMA weights in full training, written to RUN_DIR/samples/ with kohya's name
 * NAME_SSSSSS_PP_YYYYmmddHHMMSS_SEED.png. Differences from kohya, for comparing steps:
 *   - a prompt without --d uses seed + its index (kohya draws a new random seed each time, so two
 *     steps' samples of the same prompt would start from different noise);
 *   - a prompt without --w/--h samples at the run's resolution (kohya: 512 x 512). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "trainer/dmodel_sample.h"
#include "trainer/file_atomic.h"
#include "trainer/private/run_config_keys.h"
#include "trainer/private/train_job.h"

/* Stops a sample early when the run is asked to stop. */
static int sample_progress(void *ctx, int step, int steps)
{
    (void)step, (void)steps;
    return run_stop_requested(ctx) ? 1 : 0;
}

static void size_of(const train_job *j, const sample_prompt *p, int *w, int *h)
{
    int rw = j->m.native, rh = j->m.native;
    if (j->cfg.resolution)
        config_resolution_parse(j->cfg.resolution, &rw, &rh);
    *w = p->width == SP_DEFAULT_SIDE && p->height == SP_DEFAULT_SIDE ? rw : p->width;
    *h = p->width == SP_DEFAULT_SIDE && p->height == SP_DEFAULT_SIDE ? rh : p->height;
}

static int sample_one(run_ctx *ctx, train_job *j, int i, const char *dir, tg_error *err)
{
    const sample_prompt *p = &j->prompts.items[i];
    dmodel_sample_opts o = {.prompt = p->prompt, .negative = p->negative, .steps = p->steps,
                            .cfg_scale = p->cfg_scale, .sampler = j->sampler,
                            .seed = p->seed >= 0 ? (uint64_t)p->seed : j->seed + (uint64_t)i,
                            .progress = sample_progress, .progress_ctx = ctx};
    size_of(j, p, &o.width, &o.height);
    if (p->sampler && sampler_from_name(p->sampler, &o.sampler, err) < 0)
        return error_set(err, "sample prompt %d: --ss %s", i + 1, p->sampler);
    image img;
    if (dmodel_sample(&j->m, &j->k, &o, &img, err) < 0)
        return -1;
    char path[4400], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%Y%m%d%H%M%S", localtime_r(&now, &tm));
    snprintf(path, sizeof path, "%s/%s_%06ld_%02d_%s_%llu.png", dir,
             j->cfg.output_name ? j->cfg.output_name : "sample", j->step, i, ts, (unsigned long long)o.seed);
    int rc = png_write(path, &img, err);
    image_free(&img);
    if (rc == 0) {
        run_event ev = {.kind = RUN_EV_SAMPLE_WRITTEN, .sample = {.step = j->step, .path = path, .prompt = i}};
        run_emit(ctx, &ev);
    }
    return rc;
}

int job_samples(run_ctx *ctx, train_job *j, tg_error *err)
{
    if (!j->prompts.count)
        return 0;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/samples", j->run_dir);
    if (dir_make_all(dir, err) < 0)
        return -1;
    job_ema_swap_in(j);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < j->prompts.count && !run_stop_requested(ctx); i++)
        rc = sample_one(ctx, j, (int)i, dir, err);
    job_ema_swap_out(j);
    if (rc < 0 && run_stop_requested(ctx))
        return 0; /* a stop cut the sample short: not a failure */
    return rc;
}
