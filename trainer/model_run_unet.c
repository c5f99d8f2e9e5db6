/* `tagbench model --model unet` (model_run.h): eps = UNet(x, timesteps, context), and with a
 * backward the gradients of sum(dy * eps). With a LoRA the base is frozen (built without weight
 * gradients, freeze_base) and only the adapters' gradients are written, as in LoRA training. */
#include <string.h>

#include "trainer/private/model_run.h"
#include "trainer/unet.h"

typedef struct unet_inputs {
    tensor *x, *context, *dy;
    float *timesteps;
} unet_inputs;

static int inputs_read(mr_ctx *c, const unet_config *cfg, unet_inputs *in, tg_error *err)
{
    int64_t ts_shape[1];
    if (mr_input(c, "x", true, 4, "[B, C, H, W]", false, &in->x, err) < 0 ||
        mr_input_host(c, "timesteps", true, 1, "[B]", true, ts_shape, &in->timesteps, err) < 0 ||
        mr_input(c, "context", true, 3, "[B, T, D]", false, &in->context, err) < 0 ||
        mr_input(c, "dy", c->o->backward, 4, "[B, C, H, W] with --backward", false, &in->dy, err) < 0)
        return -1;
    const tensor *x = in->x;
    int64_t B = x->shape[0], H = x->shape[2], W = x->shape[3], f = 1 << (cfg->n_levels - 1);
    if (mr_dim(c, "x", x, 1, cfg->in_channels, "in_channels of the config", err) < 0 ||
        mr_dim(c, "context", in->context, 0, B, "the batch of x", err) < 0 ||
        mr_dim(c, "context", in->context, 2, cfg->context_dim, "context_dim of the config", err) < 0)
        return -1;
    if (ts_shape[0] != B)
        return error_set(err, "%s: tensor 'timesteps' has %lld elements; x's batch is %lld", c->o->inputs,
                         (long long)ts_shape[0], (long long)B);
    if (H % f || W % f)
        return error_set(err, "%s: tensor 'x' is %lld x %lld: H and W must be multiples of %lld (the "
                         "UNet halves them %d times)", c->o->inputs, (long long)H, (long long)W,
                         (long long)f, cfg->n_levels - 1);
    if (in->dy) {
        const int64_t want[4] = {B, cfg->out_channels, H, W};
        static const char *const what[4] = {"the batch of x", "out_channels of the config",
                                            "the height of x", "the width of x"};
        for (int d = 0; d < 4; d++)
            if (mr_dim(c, "dy", in->dy, d, want[d], what[d], err) < 0)
                return -1;
    }
    return 0;
}

/* Attaches the file's adapters (one rank for all, alphas from the file) and loads them. */
static int lora_setup(mr_ctx *c, unet *u, lora_set *ls, tg_error *err)
{
    int rank;
    if (mr_lora_rank(c, &rank, err) < 0)
        return -1;
    if (unet_lora_attach(u, ls, rank, 0) < 0)
        return error_set(err, "UNet LoRA: cannot attach the adapters (out of memory, or a module this "
                         "config cannot name)");
    if (lora_alloc(ls, &c->k, c->o->backward, 0, err) < 0 || lora_load(ls, &c->k, c->lora, err) < 0)
        return -1;
    return 0;
}

static int unet_compute(mr_ctx *c, unet *u, const unet_inputs *in, lora_set *ls, tg_error *err)
{
    const tensor *x = in->x;
    int64_t eshape[4] = {x->shape[0], u->cfg.out_channels, x->shape[2], x->shape[3]};
    tensor *eps = mr_tensor(c, 4, eshape, err);
    mr_phase(c, "forward");
    if (!eps || unet_forward(u, &c->k, eps, x, in->timesteps, in->context,
                             c->o->backward ? UNET_TRAIN : UNET_INFER, err) < 0 ||
        mr_output(c, "eps", eps, err) < 0)
        return -1;
    if (!c->o->backward)
        return 0;
    mr_phase(c, "backward");
    tensor *dx = mr_tensor(c, 4, x->shape, err);
    tensor *dctx = dx ? mr_tensor(c, 3, in->context->shape, err) : NULL;
    if (!dctx)
        return -1;
    k_zero(&c->k, dx); /* the backward accumulates */
    k_zero(&c->k, dctx);
    if (unet_backward(u, &c->k, in->dy, dx, dctx, err) < 0 || mr_output(c, "grad_x", dx, err) < 0 ||
        mr_output(c, "grad_context", dctx, err) < 0)
        return -1;
    return mr_output_grads(c, ls ? &ls->ps : &u->ps, err);
}

int mr_run_unet(mr_ctx *c, tg_error *err)
{
    unet_config cfg;
    unet_inputs in = {0};
    if (unet_config_load(&cfg, c->o->config, err) < 0 || inputs_read(c, &cfg, &in, err) < 0)
        return -1;
    bool with_lora = c->lora != NULL;
    unet u;
    memset(&u, 0, sizeof u);
    lora_set ls;
    lora_set_init(&ls);
    mr_phase(c, "loading weights");
    int rc = unet_build(&u, &c->k, &cfg, c->o->backward && !with_lora, err);
    if (rc == 0) {
        u.freeze_base = with_lora;
        rc = mr_load_weights(c, &u.ps, UNET_PREFIX, err);
        if (rc == 0 && with_lora)
            rc = lora_setup(c, &u, &ls, err);
        if (rc == 0) {
            if (u.ps.all_g.data)
                k_zero(&c->k, &u.ps.all_g);
            if (ls.ps.all_g.data)
                k_zero(&c->k, &ls.ps.all_g);
            rc = unet_compute(c, &u, &in, with_lora ? &ls : NULL, err);
        }
    }
    unet_free(&u, &c->k);
    lora_set_free(&ls, &c->k);
    return rc;
}
