/* One optimizer step (private/train_job.h), kohya's train_network.py loop body:
 *   for each of gradient_accumulation_steps micro-batches: the batch (pipeline, augmentation),
 *   x0 in model space, timesteps uniform in [0, 1000), noise (+ noise_offset), x_t, the ε or v
 *   target, the min-SNR weights, text encoder, UNet, MSE (scaled by 1/accumulation), backward;
 *   then the gradient norm, clipping to max_grad_norm, AdamW with the scheduler's lr per group,
 *   and the EMA of the weights (full training).
 * Every random draw is a function of (seed, step, micro-batch): a run resumed at step s draws
 * exactly what the straight run drew there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/rng.h"
#include "trainer/private/train_job.h"

/* The tensors of one micro-batch. */
typedef struct micro {
    int n, c, h, w;     /* batch, model-space channels and size */
    tensor xt, pred, target, dpred, dctx;
    float *x0, *noise, *host, *weights, *tf, *off;
    int *t;
} micro;

static void micro_free(train_job *j, micro *mb)
{
    tensor *ts[] = {&mb->xt, &mb->pred, &mb->target, &mb->dpred, &mb->dctx};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        k_tensor_free(&j->k, ts[i]);
    free(mb->x0), free(mb->noise), free(mb->host), free(mb->weights), free(mb->tf), free(mb->off), free(mb->t);
}

static int micro_alloc(train_job *j, micro *mb, const train_batch *b, tg_error *err)
{
    memset(mb, 0, sizeof *mb);
    mb->n = b->n;
    if (dmodel_space(&j->m, b->h, b->w, &mb->c, &mb->h, &mb->w, err) < 0)
        return -1;
    size_t per = (size_t)mb->c * mb->h * mb->w, all = per * (size_t)mb->n;
    kctx *k = &j->k;
    mb->xt = k_tensor4(k, mb->n, mb->c, mb->h, mb->w);
    mb->pred = k_tensor4(k, mb->n, mb->c, mb->h, mb->w);
    mb->target = k_tensor4(k, mb->n, mb->c, mb->h, mb->w);
    mb->dpred = k_tensor4(k, mb->n, mb->c, mb->h, mb->w);
    if (j->te_trained)
        mb->dctx = k_tensor4(k, mb->n, j->m.max_length, j->m.te.cfg.hidden_size, 0);
    mb->x0 = malloc(all * sizeof *mb->x0);
    mb->noise = malloc(all * sizeof *mb->noise);
    mb->host = malloc(all * sizeof *mb->host);
    mb->weights = malloc((size_t)mb->n * sizeof *mb->weights);
    mb->tf = malloc((size_t)mb->n * sizeof *mb->tf);
    mb->off = malloc((size_t)mb->n * mb->c * sizeof *mb->off);
    mb->t = malloc((size_t)mb->n * sizeof *mb->t);
    if (!mb->xt.data || !mb->pred.data || !mb->target.data || !mb->dpred.data ||
        (j->te_trained && !mb->dctx.data) || !mb->x0 || !mb->noise || !mb->host || !mb->weights || !mb->tf ||
        !mb->off || !mb->t)
        return error_set(err, "out of memory for a batch of %d", mb->n);
    return 0;
}

/* A stream for one purpose of one micro-batch. */
static uint64_t draw_seed(const train_job *j, long step, int micro_i, uint64_t purpose)
{
    uint64_t x = j->seed * 0x9E3779B97F4A7C15ULL ^ (uint64_t)step * 0xBF58476D1CE4E5B9ULL ^
                 (uint64_t)micro_i * 0x94D049BB133111EBULL ^ purpose;
    return x ^ x >> 29;
}

/* x_t and the target on the host, from x0 and fresh noise. */
static int noise_prepare(train_job *j, micro *mb, long step, int mi)
{
    const noise_schedule *s = &j->m.sched;
    rng r;
    rng_seed(&r, draw_seed(j, step, mi, 1));
    noise_timesteps_sample(&r, 0, s->T, mb->n, mb->t);
    k_rng kr = {draw_seed(j, step, mi, 2), 0};
    if (k_randn(&j->k, &mb->dpred, &kr, 0, 1) < 0) /* dpred is free until the loss: noise lands there */
        return -1;
    k_download(&j->k, &mb->dpred, mb->noise);
    int64_t hw = (int64_t)mb->h * mb->w, per = (int64_t)mb->c * hw;
    noise_offset_draw(&r, j->cfg.noise_offset, false, mb->n, mb->c, mb->off);
    if (j->cfg.noise_offset > 0)
        noise_offset_apply(mb->noise, mb->off, mb->n, mb->c, hw);
    noise_add(s, mb->t, mb->n, per, mb->x0, mb->noise, mb->host);
    k_upload(&j->k, &mb->xt, mb->host);
    if (j->m.v_prediction)
        noise_v_target(s, mb->t, mb->n, per, mb->x0, mb->noise, mb->host);
    k_upload(&j->k, &mb->target, j->m.v_prediction ? mb->host : mb->noise);
    noise_min_snr_weights(s, mb->t, mb->n, j->cfg.min_snr_gamma, j->m.v_prediction, mb->weights);
    for (int i = 0; i < mb->n; i++)
        mb->tf[i] = (float)mb->t[i];
    return 0;
}

/* Forward, loss and backward of one micro-batch; the gradients accumulate. */
static int micro_run(train_job *j, micro *mb, const train_batch *b, float scale, float *loss, tg_error *err)
{
    kctx *k = &j->k;
    dmodel *m = &j->m;
    if (clip_forward(&m->te, k, b->ids, mb->n, m->max_length, j->cfg.clip_skip, j->te_trained, err) < 0 ||
        unet_forward(&m->unet, k, &mb->pred, &mb->xt, mb->tf, &m->te.acts.out, UNET_TRAIN, err) < 0)
        return -1;
    k_zero(k, &mb->dpred);
    if (k_mse_forward(k, loss, &mb->pred, &mb->target, mb->weights) < 0 ||
        k_mse_backward(k, &mb->dpred, &mb->pred, &mb->target, mb->weights, scale) < 0)
        return error_set(err, "loss: %s", k->msg);
    if (j->te_trained)
        k_zero(k, &mb->dctx);
    if (unet_backward(&m->unet, k, &mb->dpred, NULL, j->te_trained ? &mb->dctx : NULL, err) < 0)
        return -1;
    return j->te_trained ? clip_backward(&m->te, k, &mb->dctx, err) : 0;
}

static int micro_step(train_job *j, long step, int mi, size_t index, int epoch, float scale, float *loss,
                      tg_error *err)
{
    if (train_data_batch_load(j->td, epoch, index, step - 1, &j->batch, err) < 0)
        return -1;
    micro mb;
    int rc = micro_alloc(j, &mb, &j->batch, err);
    if (rc == 0) {
        dmodel_encode(&j->m, j->batch.pixels, mb.n, j->batch.h, j->batch.w, mb.x0);
        rc = noise_prepare(j, &mb, step, mi) < 0 ? error_set(err, "noise: %s", j->k.msg) : 0;
    }
    if (rc == 0)
        rc = micro_run(j, &mb, &j->batch, scale, loss, err);
    micro_free(j, &mb);
    return rc;
}

static void grads_zero(train_job *j)
{
    for (int i = 0; i < j->n_groups; i++)
        k_zero(&j->k, &j->groups[i].g);
}

/* torch's clip_grad_norm_: the total norm, and gradients scaled by max / (norm + 1e-6) when above. */
static double grads_clip(train_job *j)
{
    double ss = 0;
    for (int i = 0; i < j->n_groups; i++)
        ss += k_sum_squares(&j->k, &j->groups[i].g);
    double norm = sqrt(ss), max = j->cfg.max_grad_norm;
    if (max > 0 && norm > max) {
        float coef = (float)(max / (norm + 1e-6));
        for (int i = 0; i < j->n_groups; i++)
            k_axpby(&j->k, &j->groups[i].g, 0, &j->groups[i].g, coef);
    }
    return norm;
}

/* The update of optimizer step s (from 1): lr from the scheduler after s - 1 updates. */
static int update(train_job *j, long s, double *lr_out, tg_error *err)
{
    double f = lr_schedule_factor(&j->lrs, s - 1);
    const run_config *c = &j->cfg;
    for (int i = 0; i < j->n_groups; i++) {
        opt_group *g = &j->groups[i];
        double lr = g->base_lr * f;
        if (i == 0)
            *lr_out = lr;
        if (k_adamw(&j->k, &g->w, &g->g, &g->m, &g->v, (int)s, (float)lr, (float)c->adam_beta1,
                    (float)c->adam_beta2, (float)c->adam_epsilon, (float)c->weight_decay) < 0)
            return error_set(err, "AdamW: %s", j->k.msg);
        if (g->ema.data) { /* diffusers' EMA warm-up: the decay grows from 0.1 toward 0.999 */
            double d = fmin(0.999, (1.0 + (double)s) / (10.0 + (double)s));
            k_axpby(&j->k, &g->ema, (float)(1 - d), &g->w, (float)d);
        }
    }
    return 0;
}

int job_step(train_job *j, double *loss, double *grad_norm, double *lr, tg_error *err)
{
    long s = j->step + 1;
    int epoch = job_epoch_of(j, s);
    size_t first = (size_t)((s - 1) % j->steps_per_epoch) * (size_t)j->accum;
    size_t last = first + (size_t)j->accum;
    if (last > j->batches_per_epoch)
        last = j->batches_per_epoch;
    float scale = 1.0f / (float)(last - first);
    double sum = 0;
    grads_zero(j);
    for (size_t i = first; i < last; i++) {
        float l;
        if (micro_step(j, s, (int)(i - first), i, epoch, scale, &l, err) < 0)
            return -1;
        sum += l;
    }
    *loss = sum / (double)(last - first);
    if (!isfinite(*loss))
        return 0; /* the caller stops the run before any update */
    *grad_norm = grads_clip(j);
    return update(j, s, lr, err);
}
