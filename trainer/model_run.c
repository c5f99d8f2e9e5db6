/* model_run (model_run.h): opening the files, reading named inputs with their shapes checked,
 * collecting outputs, and writing them; the families' runs are in model_run_{unet,clip,vae}.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/private/model_run.h"

static const char *const family_names[] = {"unet", "clip", "vae"};

int model_family_parse(const char *name, model_family *f)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, family_names[i])) {
            *f = (model_family)i;
            return 0;
        }
    return -1;
}

const char *model_family_name(model_family f)
{
    return (unsigned)f < 3 ? family_names[f] : "?";
}

void mr_phase(mr_ctx *c, const char *phase)
{
    if (c->o->progress)
        c->o->progress(c->o->progress_ctx, phase);
}

/* ---- memory that lives until the end of the run ---- */

float *mr_host(mr_ctx *c, size_t n, tg_error *err)
{
    if (c->n_keep == c->cap_keep) {
        size_t cap = c->cap_keep ? 2 * c->cap_keep : 16;
        void **p = realloc(c->keep, cap * sizeof *p);
        if (!p)
            return error_set(err, "out of memory"), NULL;
        c->keep = p;
        c->cap_keep = cap;
    }
    float *buf = calloc(n ? n : 1, sizeof *buf);
    if (!buf)
        return error_set(err, "out of memory (%zu MB for an output)", n * sizeof *buf >> 20), NULL;
    c->keep[c->n_keep++] = buf;
    return buf;
}

tensor *mr_tensor(mr_ctx *c, int ndim, const int64_t *shape, tg_error *err)
{
    if (c->n_tensors == c->cap_tensors) /* a fixed pool: callers hold pointers into it */
        return error_set(err, "internal: too many tensors"), NULL;
    tensor *t = &c->tensors[c->n_tensors];
    *t = k_tensor(&c->k, K_F32, ndim, shape);
    if (!t->data)
        return error_set(err, "out of memory: %s", c->k.msg), NULL;
    c->n_tensors++;
    return t;
}

/* ---- inputs ---- */

static bool dtype_is_float(st_dtype dt)
{
    return dt == ST_F32 || dt == ST_F16 || dt == ST_BF16 || dt == ST_F64;
}

static bool dtype_is_int(st_dtype dt)
{
    return dt == ST_I64 || dt == ST_I32 || dt == ST_I16 || dt == ST_I8 || dt == ST_U8 ||
           dt == ST_U16 || dt == ST_U32 || dt == ST_U64;
}

/* The input's tensor after the checks every input gets: present (or absent and optional: *t
 * NULL), a dtype that is a number of the right kind, ndim dimensions, no empty dimension. */
static int input_find(mr_ctx *c, const char *name, bool required, int ndim, const char *dims,
                      bool ints_ok, const st_tensor **out, tg_error *err)
{
    const char *path = c->o->inputs, *fam = model_family_name(c->o->family);
    const st_tensor *t = st_find(c->inputs, name);
    *out = NULL;
    if (!t) {
        if (required)
            return error_set(err, "%s: no tensor '%s' (the %s needs %s %s)", path, name, fam, name, dims);
        return 0;
    }
    if (!dtype_is_float(t->dtype) && !(ints_ok && dtype_is_int(t->dtype)))
        return error_set(err, "%s: tensor '%s' is %s; it must be a float tensor (F32, F16, BF16, F64)%s",
                         path, name, st_dtype_name(t->dtype), ints_ok ? " or integers" : "");
    char got[128];
    params_shape_text(got, sizeof got, t->ndim, t->shape);
    if (t->ndim != ndim)
        return error_set(err, "%s: tensor '%s' has shape %s; the %s needs %d dimensions %s", path, name,
                         got, fam, ndim, dims);
    if (t->numel == 0)
        return error_set(err, "%s: tensor '%s' has shape %s: no elements", path, name, got);
    *out = t;
    return 1;
}

int mr_input_host(mr_ctx *c, const char *name, bool required, int ndim, const char *dims,
                  bool ints_ok, int64_t *shape, float **data, tg_error *err)
{
    const st_tensor *t;
    int rc = input_find(c, name, required, ndim, dims, ints_ok, &t, err);
    *data = NULL;
    if (rc <= 0)
        return rc;
    memcpy(shape, t->shape, sizeof *shape * ndim);
    if (!(*data = mr_host(c, t->numel, err)) || st_read_f32(t, *data, t->numel, err) < 0)
        return -1;
    return 1;
}

int mr_input(mr_ctx *c, const char *name, bool required, int ndim, const char *dims, bool ints_ok,
             tensor **out, tg_error *err)
{
    const st_tensor *t;
    int rc = input_find(c, name, required, ndim, dims, ints_ok, &t, err);
    *out = NULL;
    if (rc <= 0)
        return rc;
    float *host = malloc(sizeof *host * t->numel);
    if (!host)
        return error_set(err, "%s: tensor '%s': out of memory", c->o->inputs, name);
    tensor *d = NULL;
    if (st_read_f32(t, host, t->numel, err) == 0 && (d = mr_tensor(c, ndim, t->shape, err)))
        k_upload(&c->k, d, host);
    free(host);
    if (!d)
        return -1;
    *out = d;
    return 1;
}

int mr_dim(mr_ctx *c, const char *name, const tensor *t, int d, int64_t want, const char *what,
           tg_error *err)
{
    if (t->shape[d] == want)
        return 0;
    char got[128];
    params_shape_text(got, sizeof got, t->ndim, t->shape);
    return error_set(err, "%s: tensor '%s' has shape %s: dimension %d is %lld, expected %lld (%s)",
                     c->o->inputs, name, got, d, (long long)t->shape[d], (long long)want, what);
}

/* ---- outputs ---- */

int mr_output(mr_ctx *c, const char *name, const tensor *t, tg_error *err)
{
    float *host = mr_host(c, tensor_numel(t), err);
    if (!host)
        return -1;
    k_download(&c->k, t, host);
    return st_writer_add(c->w, name, ST_F32, t->ndim, t->shape, host, err);
}

int mr_output_grads(mr_ctx *c, const params *ps, tg_error *err)
{
    float *host = mr_host(c, ps->numel, err);
    if (!host)
        return -1;
    k_download(&c->k, &ps->all_g, host);
    for (size_t i = 0; i < ps->n; i++) {
        const param *p = &ps->p[i];
        char name[512];
        snprintf(name, sizeof name, "grad.%s", p->name);
        if (st_writer_add(c->w, name, ST_F32, p->ndim, p->shape, host + p->offset, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- weights ---- */

static bool has_prefix(const st_file *f, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < st_count(f); i++)
        if (!strncmp(st_at(f, i)->name, prefix, n))
            return true;
    return false;
}

int mr_load_weights(mr_ctx *c, params *ps, const char *prefix, tg_error *err)
{
    const st_file *f = c->weights;
    if (!has_prefix(f, prefix))
        return error_set(err, "%s: no tensor named %s* (the %s's keys in a single-file SD checkpoint)",
                         st_path(f), prefix, model_family_name(c->o->family));
    for (size_t i = 0; i < ps->n; i++) {
        const st_tensor *t = st_find(f, ps->p[i].name);
        if (t && t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
            return error_set(err, "%s: tensor '%s' is %s; weights must be F32, F16 or BF16", st_path(f),
                             t->name, st_dtype_name(t->dtype));
    }
    if (params_load(ps, &c->k, f, err) < 0)
        return -1;
    /* The weights are copied now: their pages of the mapping need not stay resident (3.4 GB for
     * the sd15 UNet, which would otherwise count twice in the run's memory). */
    for (size_t i = 0; i < ps->n; i++)
        st_release(f, st_find(f, ps->p[i].name));
    return 0;
}

int mr_lora_rank(mr_ctx *c, int *rank, tg_error *err)
{
    return lora_file_rank(c->lora, rank, err);
}

/* ---- the run ---- */

static int files_open(mr_ctx *c, tg_error *err)
{
    const model_run_opts *o = c->o;
    if (o->family == MODEL_VAE && (o->backward || o->lora))
        return error_set(err, "the VAE runs forward only (no --backward, no --lora)");
    if (!(c->inputs = st_open(o->inputs, err)) || !(c->weights = st_open(o->weights, err)))
        return -1;
    if (o->lora && !(c->lora = st_open(o->lora, err)))
        return -1;
    return 0;
}

static int output_save(mr_ctx *c, tg_error *err)
{
    const model_run_opts *o = c->o;
    mr_phase(c, "writing");
    if (st_writer_meta(c->w, "producer", "tagbench model") < 0 ||
        st_writer_meta(c->w, "model", model_family_name(o->family)) < 0 ||
        st_writer_meta(c->w, "config", o->config) < 0 ||
        st_writer_meta(c->w, "backward", o->backward ? "true" : "false") < 0 ||
        (o->lora && st_writer_meta(c->w, "lora", o->lora) < 0))
        return error_set(err, "out of memory");
    return st_writer_save(c->w, o->out, err);
}

enum { MR_MAX_TENSORS = 64 };

int model_run(const model_run_opts *o, tg_error *err)
{
    static int (*const run[])(mr_ctx *, tg_error *) = {mr_run_unet, mr_run_clip, mr_run_vae};
    if ((unsigned)o->family > MODEL_VAE)
        return error_set(err, "unknown model family %d", (int)o->family);
    mr_ctx c = {.o = o};
    if (k_init(&c.k, "cpu", o->threads) < 0)
        return error_set(err, "CPU backend: %s", c.k.msg);
    int rc = -1;
    c.tensors = calloc(MR_MAX_TENSORS, sizeof *c.tensors);
    c.cap_tensors = c.tensors ? MR_MAX_TENSORS : 0;
    c.w = st_writer_new();
    if (!c.tensors || !c.w)
        error_set(err, "out of memory");
    else if (files_open(&c, err) == 0 && run[o->family](&c, err) == 0)
        rc = output_save(&c, err);
    st_writer_free(c.w);
    for (size_t i = 0; i < c.n_tensors; i++)
        k_tensor_free(&c.k, &c.tensors[i]);
    free(c.tensors);
    for (size_t i = 0; i < c.n_keep; i++)
        free(c.keep[i]);
    free(c.keep);
    st_close(c.lora);
    st_close(c.weights);
    st_close(c.inputs);
    k_free_ctx(&c.k);
    return rc;
}
