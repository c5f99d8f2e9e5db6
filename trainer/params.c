/* Model weights in one allocation (params.h). */
#include "trainer/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void params_init(params *ps)
{
    memset(ps, 0, sizeof *ps);
}

void params_free(params *ps, kctx *k)
{
    for (size_t i = 0; i < ps->n; i++)
        free(ps->p[i].name);
    free(ps->p);
    if (ps->all_w.data)
        k_tensor_free(k, &ps->all_w);
    if (ps->all_g.data)
        k_tensor_free(k, &ps->all_g);
    memset(ps, 0, sizeof *ps);
}

int params_add(params *ps, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (ps->all_w.data || ndim < 1 || ndim > K_MAX_DIMS)
        return -1;
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0)
            return -1;
        numel *= (size_t)shape[d];
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        param *p = realloc(ps->p, sizeof *p * cap);
        if (!p)
            return -1;
        ps->p = p;
        ps->cap = cap;
    }
    param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    int len = vasprintf(&p->name, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    p->ndim = ndim;
    memcpy(p->shape, shape, sizeof *shape * ndim);
    p->offset = ps->numel;
    ps->numel += numel;
    return (int)ps->n++;
}

static tensor view_at(const tensor *all, const param *p)
{
    tensor t = {0};
    t.data = (float *)all->data + p->offset;
    t.dtype = all->dtype;
    t.ndim = p->ndim;
    memcpy(t.shape, p->shape, sizeof p->shape);
    return t;
}

int params_alloc(params *ps, kctx *k, bool with_grads, tg_error *err)
{
    int64_t n = (int64_t)(ps->numel ? ps->numel : 1);
    ps->all_w = k_tensor(k, K_F32, 1, &n);
    if (!ps->all_w.data)
        return error_set(err, "weights (%zu floats): %s", ps->numel, k->msg);
    if (with_grads) {
        ps->all_g = k_tensor(k, K_F32, 1, &n);
        if (!ps->all_g.data)
            return error_set(err, "gradients (%zu floats): %s", ps->numel, k->msg);
        k_zero(k, &ps->all_g);
    }
    for (size_t i = 0; i < ps->n; i++) {
        ps->p[i].w = view_at(&ps->all_w, &ps->p[i]);
        if (with_grads)
            ps->p[i].g = view_at(&ps->all_g, &ps->p[i]);
    }
    return 0;
}

long params_find(const params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name))
            return (long)i;
    return -1;
}

void params_shape_text(char *buf, size_t size, int ndim, const int64_t *shape)
{
    int n = snprintf(buf, size, "[");
    for (int d = 0; d < ndim && n < (int)size; d++)
        n += snprintf(buf + n, size - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < (int)size)
        snprintf(buf + n, size - n, "]");
}

static bool shape_same(const param *p, const st_tensor *t)
{
    if (p->ndim != t->ndim)
        return false;
    for (int d = 0; d < p->ndim; d++)
        if (p->shape[d] != t->shape[d])
            return false;
    return true;
}

static int param_load(param *p, kctx *k, const st_file *f, float *host, tg_error *err)
{
    const st_tensor *t = st_find(f, p->name);
    if (!t)
        return error_set(err, "%s: no tensor '%s'", st_path(f), p->name);
    if (!shape_same(p, t)) {
        char want[96], got[96];
        params_shape_text(want, sizeof want, p->ndim, p->shape);
        params_shape_text(got, sizeof got, t->ndim, t->shape);
        return error_set(err, "%s: tensor '%s' is %s, the model needs %s", st_path(f), p->name, got, want);
    }
    if (st_read_f32(t, host, t->numel, err) < 0)
        return -1;
    k_upload(k, &p->w, host);
    st_release(f, t); /* its pages are copied: don't let a 4 GB mapping stay resident as well */
    return 0;
}

int params_load(params *ps, kctx *k, const st_file *f, tg_error *err)
{
    size_t biggest = 1;
    for (size_t i = 0; i < ps->n; i++)
        if (tensor_numel(&ps->p[i].w) > biggest)
            biggest = tensor_numel(&ps->p[i].w);
    float *host = malloc(sizeof *host * biggest); /* one staging buffer, not a copy of the file */
    if (!host)
        return error_set(err, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < ps->n && rc == 0; i++)
        rc = param_load(&ps->p[i], k, f, host, err);
    free(host);
    return rc;
}

int params_write(const params *ps, kctx *k, st_writer *w, st_dtype dt, float **hold, tg_error *err)
{
    *hold = malloc(sizeof **hold * (ps->numel ? ps->numel : 1));
    if (!*hold)
        return error_set(err, "out of memory");
    k_download(k, &ps->all_w, *hold);
    for (size_t i = 0; i < ps->n; i++) {
        const param *p = &ps->p[i];
        if (st_writer_add_f32_as(w, p->name, dt, p->ndim, p->shape, *hold + p->offset, err) < 0)
            return -1;
    }
    return 0;
}
