/* `tagbench model --model clip` (model_run.h): the text encoder on input_ids. Outputs
 * last_hidden_state (clip skip 1) and penultimate_ln (clip skip 2: the final layer norm of the
 * second-to-last hidden state), from one forward. The backward's loss is
 * sum(dy * last_hidden_state) + sum(dy_penultimate * penultimate_ln): the model's backward starts
 * from one output, so it runs once per term (the second after a clip skip 2 forward) and the
 * gradients add up (weights and adapters accumulate; grad_embeds is summed here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/clip_model.h"
#include "trainer/private/model_run.h"

typedef struct clip_inputs {
    int32_t *ids;
    int B, T;
    tensor *dy, *dy_pen;
} clip_inputs;

/* input_ids as int32, read from I64 or I32 (the file's data need not be aligned). */
static int ids_read(mr_ctx *c, const clip_config *cfg, clip_inputs *in, tg_error *err)
{
    const char *path = c->o->inputs;
    const st_tensor *t = st_find(c->inputs, "input_ids");
    if (!t)
        return error_set(err, "%s: no tensor 'input_ids' (the clip needs input_ids [B, T], I64)", path);
    if (t->dtype != ST_I64 && t->dtype != ST_I32)
        return error_set(err, "%s: tensor 'input_ids' is %s; token ids must be I64 (or I32)", path,
                         st_dtype_name(t->dtype));
    if (t->ndim != 2 || t->numel == 0)
        return error_set(err, "%s: tensor 'input_ids' has %d dimension(s) or no elements; the clip "
                         "needs [B, T]", path, t->ndim);
    if (t->shape[1] > cfg->max_position_embeddings || t->shape[0] > 1 << 20)
        return error_set(err, "%s: tensor 'input_ids' is [%lld, %lld]: more tokens per row than the "
                         "model's %d positions (max_position_embeddings)", path, (long long)t->shape[0],
                         (long long)t->shape[1], cfg->max_position_embeddings);
    in->B = (int)t->shape[0];
    in->T = (int)t->shape[1];
    if (!(in->ids = (int32_t *)mr_host(c, t->numel, err))) /* a float's room holds an int32 */
        return -1;
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        int64_t v;
        if (t->dtype == ST_I64) {
            memcpy(&v, p + 8 * i, 8);
        } else {
            int32_t v32;
            memcpy(&v32, p + 4 * i, 4);
            v = v32;
        }
        if (v < 0 || v >= cfg->vocab_size)
            return error_set(err, "%s: input_ids[%zu][%zu] = %lld is outside the vocabulary (0..%d)", path,
                             i / in->T, i % in->T, (long long)v, cfg->vocab_size - 1);
        in->ids[i] = (int32_t)v;
    }
    return 0;
}

static int inputs_read(mr_ctx *c, const clip_config *cfg, clip_inputs *in, tg_error *err)
{
    bool bw = c->o->backward;
    int L = cfg->num_hidden_layers;
    if (ids_read(c, cfg, in, err) < 0 ||
        mr_input(c, "dy", bw, 3, "[B, T, C] with --backward", false, &in->dy, err) < 0 ||
        (bw && mr_input(c, "dy_penultimate", false, 3, "[B, T, C]", false, &in->dy_pen, err) < 0))
        return -1;
    if (in->dy_pen && L < 2)
        return error_set(err, "%s: tensor 'dy_penultimate': the model has one layer, so no "
                         "penultimate_ln", c->o->inputs);
    const int64_t want[3] = {in->B, in->T, cfg->hidden_size};
    static const char *const what[3] = {"the batch of input_ids", "the tokens of input_ids",
                                        "hidden_size of the config"};
    for (int d = 0; d < 3; d++)
        if ((in->dy && mr_dim(c, "dy", in->dy, d, want[d], what[d], err) < 0) ||
            (in->dy_pen && mr_dim(c, "dy_penultimate", in->dy_pen, d, want[d], what[d], err) < 0))
            return -1;
    if (c->o->clip_skip > L)
        return error_set(err, "--clip-skip %d: the model has %d layers", c->o->clip_skip, L);
    return 0;
}

/* The built-in `tiny` leaves vocab_size to the caller: here the checkpoint's embedding says it. */
static int vocab_from_weights(mr_ctx *c, clip_config *cfg, tg_error *err)
{
    if (cfg->vocab_size > 0)
        return 0;
    char name[160];
    snprintf(name, sizeof name, "%sembeddings.token_embedding.weight", CLIP_KEY_PREFIX);
    const st_tensor *t = st_find(c->weights, name);
    if (!t || t->ndim != 2 || t->shape[0] < 1 || t->shape[0] > 1 << 24)
        return error_set(err, "%s: the config leaves vocab_size to the checkpoint, which has no 2-d "
                         "tensor '%s'", st_path(c->weights), name);
    cfg->vocab_size = (int)t->shape[0];
    return 0;
}

static int lora_setup(mr_ctx *c, clip *m, lora_set *ls, tg_error *err)
{
    int rank;
    if (mr_lora_rank(c, &rank, err) < 0)
        return -1;
    if (clip_lora_attach(m, ls, rank, 0) < 0)
        return error_set(err, "CLIP LoRA: cannot attach the adapters (out of memory)");
    if (lora_alloc(ls, &c->k, c->o->backward, 0, err) < 0 || lora_load(ls, &c->k, c->lora, err) < 0)
        return -1;
    return 0;
}

/* One output of the forward: the final layer norm at clip_skip. */
static int hidden_out(mr_ctx *c, clip *m, const clip_inputs *in, int clip_skip, const char *name,
                      tg_error *err)
{
    int64_t shape[3] = {in->B, in->T, m->cfg.hidden_size};
    tensor *y = mr_tensor(c, 3, shape, err);
    if (!y || clip_hidden_ln(m, &c->k, clip_skip, y, err) < 0)
        return -1;
    return mr_output(c, name, y, err);
}

static int clip_backward_all(mr_ctx *c, clip *m, const clip_inputs *in, tg_error *err)
{
    mr_phase(c, "backward");
    size_t n = tensor_numel(in->dy);
    float *g = mr_host(c, n, err);
    if (!g || clip_backward(m, &c->k, in->dy, err) < 0)
        return -1;
    k_download(&c->k, &m->acts.grad_embeds, g);
    if (in->dy_pen) {
        float *g2 = malloc(sizeof *g2 * n);
        if (!g2)
            return error_set(err, "out of memory");
        int rc = clip_forward(m, &c->k, in->ids, in->B, in->T, 2, true, err);
        if (rc == 0)
            rc = clip_backward(m, &c->k, in->dy_pen, err);
        if (rc == 0) {
            k_download(&c->k, &m->acts.grad_embeds, g2);
            for (size_t i = 0; i < n; i++)
                g[i] += g2[i];
        }
        free(g2);
        if (rc < 0)
            return -1;
    }
    return st_writer_add(c->w, "grad_embeds", ST_F32, 3, in->dy->shape, g, err);
}

static int clip_compute(mr_ctx *c, clip *m, const clip_inputs *in, lora_set *ls, tg_error *err)
{
    bool bw = c->o->backward;
    mr_phase(c, "forward");
    if (clip_forward(m, &c->k, in->ids, in->B, in->T, 1, bw, err) < 0 ||
        mr_output(c, "last_hidden_state", &m->acts.out, err) < 0 ||
        (m->cfg.num_hidden_layers >= 2 && hidden_out(c, m, in, 2, "penultimate_ln", err) < 0) ||
        (c->o->clip_skip > 0 && hidden_out(c, m, in, c->o->clip_skip, "hidden_ln", err) < 0))
        return -1;
    if (!bw)
        return 0;
    if (clip_backward_all(c, m, in, err) < 0)
        return -1;
    return mr_output_grads(c, ls ? &ls->ps : &m->ps, err);
}

int mr_run_clip(mr_ctx *c, tg_error *err)
{
    clip_config cfg;
    clip_inputs in = {0};
    if (clip_config_load(&cfg, c->o->config, err) < 0 || vocab_from_weights(c, &cfg, err) < 0 ||
        clip_config_check(&cfg, err) < 0 || inputs_read(c, &cfg, &in, err) < 0)
        return -1;
    bool with_lora = c->lora != NULL;
    clip m;
    memset(&m, 0, sizeof m);
    lora_set ls;
    lora_set_init(&ls);
    mr_phase(c, "loading weights");
    int rc = clip_build(&m, &c->k, &cfg, c->o->backward && !with_lora, err);
    if (rc == 0) {
        rc = mr_load_weights(c, &m.ps, CLIP_KEY_PREFIX, err);
        if (rc == 0 && with_lora)
            rc = lora_setup(c, &m, &ls, err);
        if (rc == 0) {
            if (m.ps.all_g.data)
                k_zero(&c->k, &m.ps.all_g);
            if (ls.ps.all_g.data)
                k_zero(&c->k, &ls.ps.all_g);
            rc = clip_compute(c, &m, &in, with_lora ? &ls : NULL, err);
        }
    }
    clip_free(&m, &c->k);
    lora_set_free(&ls, &c->k);
    return rc;
}
