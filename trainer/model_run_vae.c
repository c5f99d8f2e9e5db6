/* `tagbench model --model vae` (model_run.h): the encoder on `image` with the posterior
 * (moments, mean, logvar clamped to [-30, 20], std, z_sample = mean + std * noise), and the
 * decoder on `latent` (unscaled: no 0.18215), either or both. Forward only. */
#include <stdio.h>
#include <string.h>

#include "trainer/private/model_run.h"
#include "trainer/vae.h"

typedef struct vae_inputs {
    tensor *image, *noise, *latent;
} vae_inputs;

static int inputs_read(mr_ctx *c, const vae_config *cfg, vae_inputs *in, tg_error *err)
{
    const char *path = c->o->inputs;
    if (mr_input(c, "image", false, 4, "[B, C, H, W]", false, &in->image, err) < 0 ||
        mr_input(c, "latent", false, 4, "[B, E, h, w]", false, &in->latent, err) < 0)
        return -1;
    if (!in->image && !in->latent)
        return error_set(err, "%s: no tensor 'image' or 'latent' (the vae needs image [B, C, H, W] with "
                         "noise [B, E, h, w], and/or latent [B, E, h, w])", path);
    if (in->latent && mr_dim(c, "latent", in->latent, 1, cfg->embed_dim, "embed_dim of the config", err) < 0)
        return -1;
    if (!in->image)
        return 0;
    const tensor *im = in->image;
    int64_t h, w;
    tg_error e;
    if (mr_dim(c, "image", im, 1, cfg->in_channels, "in_channels of the config", err) < 0)
        return -1;
    if (vae_latent_size(cfg, im->shape[2], im->shape[3], &h, &w, &e) < 0)
        return error_set(err, "%s: tensor 'image': %.900s", path, e.msg);
    if (mr_input(c, "noise", true, 4, "[B, E, h, w] with image", false, &in->noise, err) < 0)
        return -1;
    const int64_t want[4] = {im->shape[0], cfg->embed_dim, h, w};
    static const char *const what[4] = {"the batch of image", "embed_dim of the config",
                                        "the latent height of image", "the latent width of image"};
    for (int d = 0; d < 4; d++)
        if (mr_dim(c, "noise", in->noise, d, want[d], what[d], err) < 0)
            return -1;
    return 0;
}

static int encode(mr_ctx *c, vae *m, const vae_inputs *in, tg_error *err)
{
    const tensor *n = in->noise;
    int64_t mshape[4] = {n->shape[0], 2 * n->shape[1], n->shape[2], n->shape[3]};
    tensor *moments = mr_tensor(c, 4, mshape, err), *out[4] = {NULL};
    for (int i = 0; i < 4 && moments; i++)
        if (!(out[i] = mr_tensor(c, 4, n->shape, err)))
            return -1;
    if (!moments)
        return -1;
    mr_phase(c, "encoding");
    if (vae_encode(m, &c->k, moments, in->image, err) < 0 ||
        vae_posterior(&c->k, moments, n, out[0], out[1], out[2], out[3], err) < 0)
        return -1;
    static const char *const names[4] = {"mean", "logvar", "std", "z_sample"};
    if (mr_output(c, "moments", moments, err) < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        if (mr_output(c, names[i], out[i], err) < 0)
            return -1;
    return 0;
}

static int decode(mr_ctx *c, vae *m, const tensor *latent, tg_error *err)
{
    int64_t f = (int64_t)1 << (m->cfg.n_levels - 1);
    int64_t shape[4] = {latent->shape[0], m->cfg.out_ch, latent->shape[2] * f, latent->shape[3] * f};
    tensor *image = mr_tensor(c, 4, shape, err);
    mr_phase(c, "decoding");
    if (!image || vae_decode(m, &c->k, image, latent, err) < 0)
        return -1;
    return mr_output(c, "decoded", image, err);
}

int mr_run_vae(mr_ctx *c, tg_error *err)
{
    vae_config cfg;
    vae_inputs in = {0};
    if (vae_config_load(&cfg, c->o->config, err) < 0 || inputs_read(c, &cfg, &in, err) < 0)
        return -1;
    vae m;
    memset(&m, 0, sizeof m);
    mr_phase(c, "loading weights");
    int rc = vae_build(&m, &c->k, &cfg, err);
    if (rc == 0)
        rc = mr_load_weights(c, &m.ps, VAE_PREFIX, err);
    if (rc == 0 && in.image)
        rc = encode(c, &m, &in, err);
    if (rc == 0 && in.latent)
        rc = decode(c, &m, in.latent, err);
    vae_free(&m, &c->k);
    return rc;
}
