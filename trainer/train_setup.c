/* Setting a run up on its own thread (private/train_job.h): the compute context, the data, the
 * model (built, loaded, with adapters), the step counts, the optimizer, a resumed state, the
 * sample prompts. Each part reports a LOG line, so a slow start is never silent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/dataset.h"
#include "trainer/file_atomic.h"
#include "trainer/private/run_config_keys.h"
#include "trainer/private/train_job.h"

/* ---- data ---- */

static int job_tokenize(void *ctx, const char *caption, int32_t *ids, int max_len)
{
    const train_job *j = ctx;
    int n_real = 0;
    return tag_tokenize(j->m.tags, caption, ids, max_len, &n_real) < 0 ? -1 : n_real;
}

static int snapshot_read(train_job *j, tg_error *err)
{
    if (j->snap)
        return 0;
    dataset_opts o = {.caption_ext = j->cfg.caption_extension};
    dataset *ds = dataset_open(j->cfg.train_data_dir, &o, err);
    if (!ds)
        return -1;
    j->snap = train_snapshot_take(ds, err);
    dataset_close(ds);
    return j->snap ? 0 : -1;
}

static void data_opts(const train_job *j, int native, train_data_opts *o)
{
    const run_config *c = &j->cfg;
    train_data_opts_default(o);
    o->width = o->height = native;
    if (c->resolution)
        config_resolution_parse(c->resolution, &o->width, &o->height);
    o->enable_bucket = c->enable_bucket;
    o->min_bucket_reso = c->min_bucket_reso;
    o->max_bucket_reso = c->max_bucket_reso;
    o->bucket_reso_steps = c->bucket_reso_steps;
    o->bucket_no_upscale = c->bucket_no_upscale;
    o->batch_size = c->train_batch_size;
    o->seed = j->seed;
    o->flip_aug = c->flip_aug, o->color_aug = c->color_aug, o->random_crop = c->random_crop;
    run_config_pipeline(c, &o->pipeline);
    o->max_train_steps = c->max_train_steps;
    o->tokenize = job_tokenize;
    o->tokenize_ctx = (void *)j;
}

static int data_open(run_ctx *ctx, train_job *j, tg_error *err)
{
    train_data_opts o;
    data_opts(j, j->m.native, &o);
    o.max_length = j->m.max_length;
    train_snapshot *snap = j->snap;
    j->snap = NULL;
    if (!(j->td = train_data_open(snap, &o, err)))
        return -1;
    size_t skipped = train_data_n_skipped(j->td);
    for (size_t i = 0; i < skipped && i < 5; i++)
        run_log(ctx, RUN_LOG_WARN, "left out: %s", train_data_skipped(j->td, i)->reason);
    if (skipped > 5)
        run_log(ctx, RUN_LOG_WARN, "left out: %zu more images", skipped - 5);
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- the model ---- */

static int model_from_scratch(run_ctx *ctx, train_job *j, tg_error *err)
{
    size_t n = 0;
    char **tags = j->cfg.resume ? job_state_tags(j->cfg.resume, &n, err) : NULL;
    if (j->cfg.resume && !tags && err->msg[0])
        return -1;
    if (!tags && !(tags = train_vocab(j->snap, j->cfg.caption_prefix, j->cfg.caption_suffix, &n)))
        return error_set(err, "out of memory");
    int rc = dmodel_build_tiny(&j->m, &j->k, (const char *const *)tags, n, true, j->seed, err);
    strv_free(tags, n);
    if (rc < 0)
        return -1;
    j->m.v_prediction = j->cfg.v_parameterization;
    char path[4200];
    snprintf(path, sizeof path, "%s/tags.json", j->run_dir);
    run_log(ctx, RUN_LOG_INFO, "model tiny from scratch: %zu parameters, %zu tags in its vocabulary",
            params_count(&j->m.unet.ps) + params_count(&j->m.te.ps), tag_count(j->m.tags));
    return tag_tokenizer_save(j->m.tags, path, err);
}

static int model_setup(run_ctx *ctx, train_job *j, tg_error *err)
{
    const char *name = j->cfg.pretrained_model_name_or_path;
    j->full = !j->cfg.train_mode || !strcmp(j->cfg.train_mode, "full");
    bool builtin = !strcmp(name, "tiny");
    if (builtin && !j->full)
        return error_set(err, "train_mode \"lora\" needs a base model file in pretrained_model_name_or_path "
                              "(a checkpoint of an earlier run); \"tiny\" is trained from scratch with "
                              "train_mode \"full\"");
    if (!builtin && !strchr(name, '/'))
        return error_set(err, "pretrained_model_name_or_path: \"%s\" is neither a built-in model (tiny) "
                              "nor a file", name);
    if (builtin)
        return model_from_scratch(ctx, j, err);
    run_log(ctx, RUN_LOG_INFO, "loading %s", name);
    if (dmodel_load(&j->m, &j->k, name, j->full, err) < 0)
        return -1;
    /* The file knows what its model predicts; training it for the other target would undo it. */
    if (j->m.v_prediction != j->cfg.v_parameterization)
        run_log(ctx, RUN_LOG_WARN, "v_parameterization is %s but %s predicts %s: training for %s, as the "
                "model does", j->cfg.v_parameterization ? "on" : "off", name, j->m.v_prediction ? "v" : "ε",
                j->m.v_prediction ? "v" : "ε");
    if (j->full)
        return 0;
    if (j->cfg.network_dropout > 0)
        run_log(ctx, RUN_LOG_WARN, "network_dropout %g is not applied by this version: training without it",
                j->cfg.network_dropout);
    if (dmodel_lora_new(&j->m, &j->k, j->cfg.network_dim, (float)j->cfg.network_alpha,
                        j->cfg.network_train_unet_only, true, j->seed, err) < 0)
        return -1;
    run_log(ctx, RUN_LOG_INFO, "LoRA rank %d, alpha %g on %zu modules (%zu parameters)%s", j->cfg.network_dim,
            j->cfg.network_alpha, j->m.lora->n, params_count(&j->m.lora->ps),
            j->cfg.network_train_unet_only ? ", UNet only" : "");
    return 0;
}

/* ---- the optimizer ---- */

static tensor flat_view(const tensor *all, size_t off, size_t n)
{
    tensor t = {.data = (float *)all->data + off, .dtype = all->dtype, .ndim = 1, .shape = {(int64_t)n}};
    return t;
}

static int group_add(train_job *j, const char *name, const params *ps, size_t off, size_t n, double lr,
                     tg_error *err)
{
    if (!n)
        return 0;
    opt_group *g = &j->groups[j->n_groups++];
    g->name = name;
    g->w = flat_view(&ps->all_w, off, n);
    g->g = flat_view(&ps->all_g, off, n);
    g->base_lr = lr;
    g->m = k_tensor4(&j->k, (int64_t)n, 0, 0, 0);
    g->v = k_tensor4(&j->k, (int64_t)n, 0, 0, 0);
    if (j->full)
        g->ema = k_tensor4(&j->k, (int64_t)n, 0, 0, 0);
    if (!g->m.data || !g->v.data || (j->full && !g->ema.data))
        return error_set(err, "out of memory for the optimizer's state (%zu weights)", n);
    k_zero(&j->k, &g->m), k_zero(&j->k, &g->v);
    if (j->full)
        k_axpby(&j->k, &g->ema, 1, &g->w, 0);
    return 0;
}

static int optimizer_setup(train_job *j, tg_error *err)
{
    double ulr = run_config_unet_lr(&j->cfg), tlr = run_config_text_encoder_lr(&j->cfg);
    if (j->full) {
        /* network_train_unet_only keeps the text encoder as it is, as kohya's fine_tune.py does
         * without --train_text_encoder. From scratch that is a frozen random encoder, whose
         * features still tell every tag apart: the demo learns the colours with it, where a
         * jointly trained encoder first collapses the rarer tags together. */
        j->te_trained = !j->cfg.network_train_unet_only;
        if (group_add(j, "unet", &j->m.unet.ps, 0, params_count(&j->m.unet.ps), ulr, err) < 0 ||
            (j->te_trained &&
             group_add(j, "text_encoder", &j->m.te.ps, 0, params_count(&j->m.te.ps), tlr, err) < 0))
            return -1;
    } else {
        lora_set *ls = j->m.lora;
        size_t split = (size_t)j->m.lora_te_first < ls->n ? ls->ps.p[ls->m[j->m.lora_te_first].down].offset
                                                           : ls->ps.numel;
        j->te_trained = split < ls->ps.numel;
        if (group_add(j, "unet", &ls->ps, 0, split, ulr, err) < 0 ||
            group_add(j, "text_encoder", &ls->ps, split, ls->ps.numel - split, tlr, err) < 0)
            return -1;
    }
    size_t most = 0;
    for (int i = 0; i < j->n_groups; i++)
        most = tensor_numel(&j->groups[i].w) > most ? tensor_numel(&j->groups[i].w) : most;
    if (j->full && !(j->ema_hold = k_tensor4(&j->k, (int64_t)most, 0, 0, 0)).data)
        return error_set(err, "out of memory for the EMA");
    return 0;
}

/* ---- steps and schedule ---- */

static int steps_setup(run_ctx *ctx, train_job *j, tg_error *err)
{
    j->accum = j->cfg.gradient_accumulation_steps;
    j->batches_per_epoch = train_data_batches_per_epoch(j->td);
    j->steps_per_epoch = train_data_steps_per_epoch(j->td, j->accum);
    j->total_steps = j->cfg.max_train_epochs > 0 ? (long)j->cfg.max_train_epochs * j->steps_per_epoch
                                                 : j->cfg.max_train_steps;
    j->total_epochs = (int)((j->total_steps + j->steps_per_epoch - 1) / j->steps_per_epoch);
    lr_schedule_opts o;
    lr_schedule_opts_default(&o);
    if (lr_scheduler_parse(j->cfg.lr_scheduler, &o.kind, err) < 0)
        return -1;
    o.warmup = j->cfg.lr_warmup_steps;
    o.total_steps = j->total_steps;
    o.num_cycles = j->cfg.lr_scheduler_num_cycles;
    o.power = j->cfg.lr_scheduler_power;
    o.lr_init = j->cfg.learning_rate;
    if (lr_schedule_init(&j->lrs, &o, err) < 0)
        return -1;
    run_log(ctx, RUN_LOG_INFO, "%zu images, %zu samples and %zu batches of %d per epoch: %ld steps per "
            "epoch, %ld steps in %d epochs", train_data_n_images(j->td), train_data_n_samples(j->td),
            j->batches_per_epoch, j->cfg.train_batch_size, j->steps_per_epoch, j->total_steps, j->total_epochs);
    return 0;
}

static int prompts_setup(train_job *j, tg_error *err)
{
    if (sampler_from_name(j->cfg.sample_sampler ? j->cfg.sample_sampler : "ddim", &j->sampler, err) < 0)
        return error_set(err, "sample_sampler: %s", err->msg);
    if (!j->cfg.sample_prompts)
        return 0;
    return sample_prompts_load(j->cfg.sample_prompts, &j->prompts, err);
}

int job_setup(run_ctx *ctx, train_job *j, tg_error *err)
{
    j->seed = j->cfg.seed;
    if (k_init(&j->k, j->backend, j->threads) < 0)
        return error_set(err, "compute backend \"%s\": %s", j->backend, j->k.msg);
    j->k_ready = true;
    run_log(ctx, RUN_LOG_INFO, "reading the dataset %s", j->cfg.train_data_dir);
    if (prompts_setup(j, err) < 0 || snapshot_read(j, err) < 0 || model_setup(ctx, j, err) < 0 ||
        data_open(ctx, j, err) < 0 ||
        steps_setup(ctx, j, err) < 0 || optimizer_setup(j, err) < 0)
        return -1;
    if (j->cfg.resume) {
        if (job_state_load(j, j->cfg.resume, err) < 0)
            return -1;
        run_log(ctx, RUN_LOG_INFO, "resumed from %s at step %ld", j->cfg.resume, j->step);
    }
    return 0;
}

void job_free(train_job *j)
{
    if (!j->k_ready)
        return;
    for (int i = 0; i < j->n_groups; i++) {
        k_tensor_free(&j->k, &j->groups[i].m), k_tensor_free(&j->k, &j->groups[i].v);
        k_tensor_free(&j->k, &j->groups[i].ema);
    }
    k_tensor_free(&j->k, &j->ema_hold);
    train_batch_free(&j->batch);
    train_data_free(j->td);
    j->td = NULL;
    sample_prompts_free(&j->prompts);
    dmodel_free(&j->m, &j->k);
    k_free_ctx(&j->k);
    j->k_ready = false;
}
