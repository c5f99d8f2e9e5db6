/* One image from a prompt (dmodel_sample.h). */
#include "trainer/dmodel_sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h> /* the implementation lives in libstb */

#include "trainer/file_atomic.h"

/* With guidance the sampler asks for the unconditional branch, then the prompt's, at the same x
 * and t: both go through the UNet as one batch of 2 on the first call (a batch of two costs far
 * less than two of one on small models), and the second call is answered from `cond_eps`. */
typedef struct sample_ctx {
    dmodel *m;
    kctx *k;
    int B;                 /* 2 with guidance, else 1 (the prompt only) */
    size_t n;              /* floats of one image in model space */
    tensor x, eps, ctx;    /* (B, ...): item 0 unconditional, item 1 the prompt (B 2) */
    float t[2];
    float *cond_eps;       /* the prompt's ε from the batched call */
    double cond_t;         /* its t; < 0: none pending */
} sample_ctx;

/* The text encoder's output for a caption, into item `slot` of ctx (B, T, C). */
static int text_encode(dmodel *m, kctx *k, const char *text, tensor *ctx, int slot, tg_error *err)
{
    int T = m->max_length;
    int32_t *ids = malloc(sizeof *ids * (size_t)T);
    if (!ids)
        return error_set(err, "out of memory");
    dmodel_tokenize(m, text, ids);
    int rc = clip_forward(&m->te, k, ids, 1, T, 1, false, err);
    free(ids);
    if (rc < 0)
        return -1;
    size_t per = (size_t)T * m->te.cfg.hidden_size;
    float *host = malloc(sizeof *host * tensor_numel(ctx));
    if (!host)
        return error_set(err, "out of memory");
    if (slot)
        k_download(k, ctx, host);
    k_download(k, &m->te.acts.out, host + per * (size_t)slot);
    k_upload(k, ctx, host);
    free(host);
    return 0;
}

static int eps_call(void *p, const float *x, double t, int cond, float *eps_out, tg_error *err)
{
    sample_ctx *c = p;
    if (cond && c->B == 2 && c->cond_t == t) {
        memcpy(eps_out, c->cond_eps, c->n * sizeof *eps_out);
        c->cond_t = -1;
        return 0;
    }
    for (int b = 0; b < c->B; b++) { /* both items see x; the host copy is the cheap part */
        memcpy(c->cond_eps + (size_t)b * c->n, x, c->n * sizeof *x);
        c->t[b] = (float)t;
    }
    k_upload(c->k, &c->x, c->cond_eps);
    if (unet_forward(&c->m->unet, c->k, &c->eps, &c->x, c->t, &c->ctx, UNET_INFER, err) < 0)
        return -1;
    k_download(c->k, &c->eps, c->cond_eps);
    memcpy(eps_out, c->cond_eps + (size_t)(c->B == 2 && cond) * c->n, c->n * sizeof *eps_out);
    if (c->B == 2) { /* the prompt's half stays for the next call */
        memmove(c->cond_eps, c->cond_eps + c->n, c->n * sizeof *eps_out);
        c->cond_t = t;
    }
    return 0;
}

static uint8_t to_u8(float v)
{
    float s = (v * 0.5f + 0.5f) * 255.0f;
    return s <= 0 ? 0 : s >= 255 ? 255 : (uint8_t)lrintf(s);
}

/* Pixels [3,h,w] in [-1,1] to RGB8. */
static int pixels_to_image(const float *chw, int w, int h, image *out, tg_error *err)
{
    out->w = w, out->h = h;
    out->px = malloc((size_t)w * h * 3);
    if (!out->px)
        return error_set(err, "out of memory");
    size_t hw = (size_t)w * h;
    for (size_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++)
            out->px[i * 3 + c] = to_u8(chw[c * hw + i]);
    return 0;
}

static int sample_run(sample_ctx *c, const dmodel_sample_opts *o, int mc, int mh, int mw, image *out,
                      tg_error *err)
{
    dmodel *m = c->m;
    size_t n = (size_t)mc * mh * mw;
    float *x = malloc(sizeof *x * n), *px = malloc(sizeof *px * n);
    if (!x || !px) {
        free(x), free(px);
        return error_set(err, "out of memory");
    }
    sampler_opts so = {
        .kind = o->sampler, .steps = o->steps, .cfg_scale = o->cfg_scale, .seed = o->seed,
        .v_prediction = m->v_prediction, .clip_sample = o->sampler == SAMPLER_DDIM,
        .alphas_cumprod = m->sched.alphas_cumprod, .T = m->sched.T, .eps_fn = eps_call, .eps_ctx = c,
        .progress = o->progress, .progress_ctx = o->progress_ctx,
    };
    int rc = sampler_run(&so, x, n, err);
    if (rc == 0) {
        dmodel_decode(m, x, 1, o->height, o->width, px);
        rc = pixels_to_image(px, o->width, o->height, out, err);
    }
    free(x), free(px);
    return rc;
}

int dmodel_sample(dmodel *m, kctx *k, const dmodel_sample_opts *o, image *out, tg_error *err)
{
    memset(out, 0, sizeof *out);
    int mc, mh, mw;
    if (dmodel_space(m, o->height, o->width, &mc, &mh, &mw, err) < 0)
        return -1;
    sample_ctx c = {.m = m, .k = k, .B = o->cfg_scale == 1.0 ? 1 : 2, .cond_t = -1};
    c.n = (size_t)mc * mh * mw;
    c.ctx = k_tensor4(k, c.B, m->max_length, m->te.cfg.hidden_size, 0);
    c.x = k_tensor4(k, c.B, mc, mh, mw);
    c.eps = k_tensor4(k, c.B, mc, mh, mw);
    c.cond_eps = malloc(sizeof *c.cond_eps * c.n * (size_t)c.B);
    int rc = c.ctx.data && c.x.data && c.eps.data && c.cond_eps ? 0 : error_set(err, "out of memory");
    if (rc == 0 && c.B == 2)
        rc = text_encode(m, k, o->negative ? o->negative : "", &c.ctx, 0, err);
    if (rc == 0)
        rc = text_encode(m, k, o->prompt ? o->prompt : "", &c.ctx, c.B - 1, err);
    if (rc == 0)
        rc = sample_run(&c, o, mc, mh, mw, out, err);
    k_tensor_free(k, &c.x), k_tensor_free(k, &c.eps), k_tensor_free(k, &c.ctx);
    free(c.cond_eps);
    return rc;
}

/* The encoded PNG, gathered in memory so the file is written in one atomic step. */
typedef struct png_buf {
    char *p;
    size_t n, cap;
    int bad;
} png_buf;

static void png_append(void *ctx, void *data, int size)
{
    png_buf *b = ctx;
    if (b->bad || size <= 0)
        return;
    if (b->n + (size_t)size > b->cap) {
        size_t cap = (b->n + (size_t)size) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->bad = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

int png_write(const char *path, const image *img, tg_error *err)
{
    png_buf buf = {0};
    int ok = stbi_write_png_to_func(png_append, &buf, img->w, img->h, 3, img->px, img->w * 3);
    int rc = ok && !buf.bad ? file_write_atomic(path, buf.p, buf.n, err)
                            : error_set(err, "%s: cannot encode the PNG (out of memory)", path);
    free(buf.p);
    return rc;
}
