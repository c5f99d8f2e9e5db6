/* SD VAE encode and decode (vae.h), and the posterior of the moments. Each call first walks the
 * model as a plan (trainer/private/vae_run.h) to size the activation slots, grows them if needed,
 * then walks it for real. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/private/vae_run.h"

/* ---- the run ---- */

int vae_run_fail(vae_run *r)
{
    return error_set(r->err, "VAE: %s", r->k->msg);
}

int vae_slot_free(int a, int b, int c)
{
    for (int s = 0; s < VAE_SLOTS; s++)
        if (s != a && s != b && s != c)
            return s;
    return -1; /* unreachable with VAE_SLOTS = 4 and three taken */
}

int vae_view(vae_run *r, int s, size_t offset, int ndim, const int64_t *shape, tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    memset(t, 0, sizeof *t);
    t->dtype = K_F32;
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof *shape * ndim);
    if (r->plan) {
        if (offset + n > r->need[s])
            r->need[s] = offset + n;
        return 0;
    }
    if (offset + n > r->m->slot_floats[s]) /* the plan and the walk disagree */
        return error_set(r->err, "VAE: internal error: slot %d holds %zu floats, a layer needs %zu", s,
                         r->m->slot_floats[s], offset + n);
    t->data = (float *)r->m->slot[s].data + offset;
    return 0;
}

int vae_view4(vae_run *r, int s, int64_t C, int64_t H, int64_t W, tensor *t)
{
    int64_t shape[4] = {r->B, C, H, W};
    return vae_view(r, s, 0, 4, shape, t);
}

tensor *vae_w(vae_run *r, int i)
{
    return params_w(&r->m->ps, i);
}

/* Grows each slot to what the plan needs of it, and the norm statistics to (B, groups, 2). */
static int slots_ensure(vae *m, kctx *k, const vae_run *plan, tg_error *err)
{
    for (int s = 0; s < VAE_SLOTS; s++) {
        if (plan->need[s] <= m->slot_floats[s])
            continue;
        if (m->slot[s].data)
            k_tensor_free(k, &m->slot[s]);
        int64_t n = (int64_t)plan->need[s];
        m->slot[s] = k_tensor(k, K_F32, 1, &n);
        m->slot_floats[s] = m->slot[s].data ? plan->need[s] : 0;
        if (!m->slot[s].data)
            return error_set(err, "VAE activations (%zu MiB): %s", plan->need[s] * 4 >> 20, k->msg);
    }
    size_t stats = (size_t)plan->B * (size_t)m->cfg.norm_num_groups * 2;
    if (stats > m->stats_floats) {
        if (m->stats.data)
            k_tensor_free(k, &m->stats);
        int64_t n = (int64_t)stats;
        m->stats = k_tensor(k, K_F32, 1, &n);
        m->stats_floats = m->stats.data ? stats : 0;
        if (!m->stats.data)
            return error_set(err, "VAE norm statistics: %s", k->msg);
    }
    return 0;
}

/* ---- encoder and decoder ---- */

/* silu(norm_out(x)) then conv_out into another slot. */
static int coder_out(vae_run *r, const vae_coder *c, int64_t cout, vae_fm *x)
{
    int s1 = vae_slot_free(x->slot, -1, -1), s2 = vae_slot_free(x->slot, s1, -1);
    tensor in, h, out;
    if (vae_view4(r, x->slot, x->C, x->H, x->W, &in) || vae_view4(r, s1, x->C, x->H, x->W, &h) ||
        vae_view4(r, s2, cout, x->H, x->W, &out) || vae_norm_silu(r, &c->norm_out, &h, &in))
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, &out, &h, vae_w(r, c->conv_out.w), vae_w(r, c->conv_out.b), 1, 1));
    *x = (vae_fm){s2, cout, x->H, x->W};
    return 0;
}

static int mid_forward(vae_run *r, const vae_coder *c, vae_fm *x)
{
    return vae_resblock_forward(r, &c->mid_block_1, x) || vae_attn_forward(r, &c->mid_attn_1, x) ||
                   vae_resblock_forward(r, &c->mid_block_2, x)
               ? -1
               : 0;
}

static int level_forward(vae_run *r, const vae_level *l, vae_fm *x)
{
    for (int j = 0; j < l->n_blocks; j++)
        if (vae_resblock_forward(r, &l->block[j], x) || (l->has_attn && vae_attn_forward(r, &l->attn[j], x)))
            return -1;
    return 0;
}

/* image (B, in_channels, H, W) -> moments (B, 2 * embed_dim, h, w). */
static int encoder_forward(vae_run *r, tensor *moments, const tensor *image)
{
    const vae_config *cfg = &r->m->cfg;
    const vae_coder *e = &r->m->enc;
    vae_fm x = {0, cfg->ch, image->shape[2], image->shape[3]};
    tensor h;
    if (vae_view4(r, 0, x.C, x.H, x.W, &h))
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, &h, image, vae_w(r, e->conv_in.w), vae_w(r, e->conv_in.b), 1, 1));
    for (int i = 0; i < cfg->n_levels; i++) {
        if (level_forward(r, &e->level[i], &x))
            return -1;
        if (i != cfg->n_levels - 1 && vae_downsample_forward(r, &e->level[i].resample, &x))
            return -1;
    }
    if (mid_forward(r, e, &x) || coder_out(r, e, 2 * cfg->z_channels, &x) ||
        vae_view4(r, x.slot, x.C, x.H, x.W, &h))
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, moments, &h, vae_w(r, r->m->quant_conv.w),
                               vae_w(r, r->m->quant_conv.b), 1, 0));
    return 0;
}

/* latent (B, embed_dim, h, w) -> image (B, out_ch, h * 2^(levels-1), ...). */
static int decoder_forward(vae_run *r, tensor *image, const tensor *latent)
{
    const vae_config *cfg = &r->m->cfg;
    const vae_coder *d = &r->m->dec;
    int64_t H = latent->shape[2], W = latent->shape[3];
    vae_fm x = {1, cfg->ch * cfg->ch_mult[cfg->n_levels - 1], H, W};
    tensor z, h;
    if (vae_view4(r, 0, cfg->z_channels, H, W, &z) || vae_view4(r, 1, x.C, H, W, &h))
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, &z, latent, vae_w(r, r->m->post_quant_conv.w),
                               vae_w(r, r->m->post_quant_conv.b), 1, 0));
    VAE_OP(r, k_conv2d_forward(r->k, &h, &z, vae_w(r, d->conv_in.w), vae_w(r, d->conv_in.b), 1, 1));
    if (mid_forward(r, d, &x))
        return -1;
    for (int i = cfg->n_levels - 1; i >= 0; i--) {
        if (level_forward(r, &d->level[i], &x))
            return -1;
        if (i != 0 && vae_upsample_forward(r, &d->level[i].resample, &x))
            return -1;
    }
    int s1 = vae_slot_free(x.slot, -1, -1);
    if (vae_view4(r, x.slot, x.C, x.H, x.W, &h) || vae_view4(r, s1, x.C, x.H, x.W, &z) ||
        vae_norm_silu(r, &d->norm_out, &z, &h))
        return -1;
    VAE_OP(r, k_conv2d_forward(r->k, image, &z, vae_w(r, d->conv_out.w), vae_w(r, d->conv_out.b), 1, 1));
    return 0;
}

typedef int (*walk_fn)(vae_run *r, tensor *out, const tensor *in);

/* Plans, sizes the slots, then runs. */
static int run(vae *m, kctx *k, walk_fn walk, tensor *out, const tensor *in, tg_error *err)
{
    vae_run r = {.m = m, .k = k, .err = err, .B = in->shape[0], .plan = true};
    if (walk(&r, out, in) || slots_ensure(m, k, &r, err))
        return -1;
    r.plan = false;
    return walk(&r, out, in);
}

static int shape_is(const tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return t->ndim == 4 && t->shape[0] == a && t->shape[1] == b && t->shape[2] == c && t->shape[3] == d;
}

int vae_encode(vae *m, kctx *k, tensor *moments, const tensor *image, tg_error *err)
{
    const vae_config *c = &m->cfg;
    int64_t h, w;
    if (image->ndim != 4 || image->shape[1] != c->in_channels)
        return error_set(err, "VAE encode: the image must be (B, %d, H, W)", c->in_channels);
    if (vae_latent_size(c, image->shape[2], image->shape[3], &h, &w, err))
        return -1;
    if (!shape_is(moments, image->shape[0], 2 * c->embed_dim, h, w))
        return error_set(err, "VAE encode: moments must be (%lld, %d, %lld, %lld)",
                         (long long)image->shape[0], 2 * c->embed_dim, (long long)h, (long long)w);
    return run(m, k, encoder_forward, moments, image, err);
}

int vae_decode(vae *m, kctx *k, tensor *image, const tensor *latent, tg_error *err)
{
    const vae_config *c = &m->cfg;
    if (latent->ndim != 4 || latent->shape[1] != c->embed_dim)
        return error_set(err, "VAE decode: the latent must be (B, %d, h, w)", c->embed_dim);
    int64_t f = (int64_t)1 << (c->n_levels - 1), H = latent->shape[2] * f, W = latent->shape[3] * f;
    if (!shape_is(image, latent->shape[0], c->out_ch, H, W))
        return error_set(err, "VAE decode: the image must be (%lld, %d, %lld, %lld)",
                         (long long)latent->shape[0], c->out_ch, (long long)H, (long long)W);
    return run(m, k, decoder_forward, image, latent, err);
}

/* ---- posterior ---- */

static int same_half(const tensor *t, const tensor *moments)
{
    return !t || shape_is(t, moments->shape[0], moments->shape[1] / 2, moments->shape[2], moments->shape[3]);
}

/* LDM's DiagonalGaussianDistribution, on the host: the moments are a few KB per image, and
 * clamp/exp are not kernel ops. */
int vae_posterior(kctx *k, const tensor *moments, const tensor *noise, tensor *mean, tensor *logvar,
                  tensor *std, tensor *z, tg_error *err)
{
    if (moments->ndim != 4 || moments->shape[1] % 2)
        return error_set(err, "VAE posterior: moments must be (B, 2E, h, w)");
    if (!same_half(noise, moments) || !same_half(mean, moments) || !same_half(logvar, moments) ||
        !same_half(std, moments) || !same_half(z, moments))
        return error_set(err, "VAE posterior: noise, mean, logvar, std and z must be (B, E, h, w) with "
                         "moments (B, 2E, h, w)");
    if (z && !noise)
        return error_set(err, "VAE posterior: z needs noise");
    size_t n = tensor_numel(moments), half = n / 2, per = half / (size_t)moments->shape[0];
    float *buf = malloc(sizeof *buf * (n + 4 * half));
    if (!buf)
        return error_set(err, "VAE posterior: out of memory");
    float *mo = buf, *mu = buf + n, *lv = mu + half, *sd = lv + half, *zz = sd + half;
    k_download(k, moments, mo);
    if (noise)
        k_download(k, noise, zz);
    for (size_t i = 0; i < half; i++) { /* item b: channels [0, E) are the mean, [E, 2E) the logvar */
        size_t b = i / per, j = i % per;
        mu[i] = mo[2 * b * per + j];
        float l = mo[(2 * b + 1) * per + j];
        lv[i] = l < VAE_LOGVAR_MIN ? VAE_LOGVAR_MIN : l > VAE_LOGVAR_MAX ? VAE_LOGVAR_MAX : l;
        sd[i] = expf(0.5f * lv[i]);
        if (z)
            zz[i] = mu[i] + sd[i] * zz[i];
    }
    if (mean)
        k_upload(k, mean, mu);
    if (logvar)
        k_upload(k, logvar, lv);
    if (std)
        k_upload(k, std, sd);
    if (z)
        k_upload(k, z, zz);
    free(buf);
    return 0;
}
