/* Contexts and tensors: the backend-independent half (sizes, shapes, checks); memory itself comes
 * from the backend's table. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kernels/private/backend.h"
#include "kernels/private/k_check.h"

int k_fail(kctx *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->msg, sizeof k->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int cores_online(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

int k_init(kctx *k, const char *backend, int threads)
{
    memset(k, 0, sizeof *k);
    if (!backend || !strcmp(backend, "auto") || !strcmp(backend, "cpu"))
        k->be = &k_backend_cpu; /* "auto" falls back to the CPU: this build has no CUDA backend */
    else if (!strcmp(backend, "cuda"))
        return k_fail(k, "backend \"cuda\" is not available: this build has no CUDA backend "
                      "(build with nvcc and cuDNN present, or use \"cpu\")");
    else
        return k_fail(k, "unknown backend \"%s\" (expected cpu, cuda or auto)", backend);
    k->threads = threads > 0 ? threads : cores_online();
    if (k->be->init(k) != 0) {
        if (!k->msg[0])
            k_fail(k, "backend %s failed to start", k->be->name);
        k->be = NULL;
        return -1;
    }
    return 0;
}

void k_free_ctx(kctx *k)
{
    if (k->be)
        k->be->fini(k);
    k->be = NULL;
}

/* ---- tensors ---- */

static size_t dtype_size(k_dtype dt)
{
    return dt == K_F32 ? 4 : 2;
}

size_t tensor_numel(const tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

/* numel of a shape, or 0 when a dim is < 1 or the byte size overflows. */
static size_t shape_numel(int ndim, const int64_t *shape, size_t elem)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || (uint64_t)shape[i] > SIZE_MAX / elem / n)
            return 0;
        n *= (size_t)shape[i];
    }
    return n;
}

tensor k_tensor(kctx *k, k_dtype dt, int ndim, const int64_t *shape)
{
    tensor t = {.dtype = dt, .ndim = ndim};
    if (ndim < 1 || ndim > K_MAX_DIMS) {
        k_fail(k, "tensor: %d dims (1 to %d supported)", ndim, K_MAX_DIMS);
        return t;
    }
    memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    char s[K_SHAPE_STR];
    size_t n = shape_numel(ndim, shape, dtype_size(dt));
    if (!n) {
        k_fail(k, "tensor: shape %s has a dim < 1 or is too large", k_shape_str(&t, s));
        return t;
    }
    t.data = k->be->alloc(k, n * dtype_size(dt));
    if (!t.data)
        k_fail(k, "tensor: out of memory for shape %s (%zu bytes)", k_shape_str(&t, s),
               n * dtype_size(dt));
    return t;
}

tensor k_tensor4(kctx *k, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t shape[4] = {a, b, c, d};
    int ndim = 4;
    while (ndim > 1 && shape[ndim - 1] == 0)
        ndim--;
    return k_tensor(k, K_F32, ndim, shape);
}

void k_tensor_free(kctx *k, tensor *t)
{
    if (t->data)
        k->be->release(k, t->data);
    t->data = NULL;
}

void k_zero(kctx *k, tensor *t)
{
    k->be->zero(k, t);
}

void k_upload(kctx *k, tensor *t, const float *host)
{
    k->be->upload(k, t, host);
}

void k_download(kctx *k, const tensor *t, float *host)
{
    k->be->download(k, t, host);
}

tensor tensor_view(const tensor *t, int ndim, const int64_t *shape)
{
    tensor v = {.dtype = t->dtype, .ndim = ndim};
    if (ndim < 1 || ndim > K_MAX_DIMS)
        return v; /* data NULL: the next op refuses it */
    memcpy(v.shape, shape, (size_t)ndim * sizeof *shape);
    if (shape_numel(ndim, shape, 1) == tensor_numel(t))
        v.data = t->data;
    return v;
}

/* ---- checks ---- */

const char *k_shape_str(const tensor *t, char *buf)
{
    int n = snprintf(buf, K_SHAPE_STR, "(");
    for (int i = 0; i < t->ndim && i < K_MAX_DIMS && n < K_SHAPE_STR; i++)
        n += snprintf(buf + n, K_SHAPE_STR - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < K_SHAPE_STR)
        snprintf(buf + n, K_SHAPE_STR - n, ")");
    return buf;
}

bool k_same_shape(const tensor *a, const tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

int k_check_f32(kctx *k, const char *op, const char *name, const tensor *t)
{
    if (!t)
        return k_fail(k, "%s: %s is missing", op, name);
    if (!t->data)
        return k_fail(k, "%s: %s has no data (failed allocation or bad view)", op, name);
    if (t->ndim < 1 || t->ndim > K_MAX_DIMS)
        return k_fail(k, "%s: %s has %d dims", op, name, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 1)
            return k_fail(k, "%s: %s has dim %d of size %lld", op, name, i, (long long)t->shape[i]);
    if (t->dtype != K_F32)
        return k_fail(k, "%s: %s is not f32 (the %s backend computes in f32 only)", op, name,
                      k->be ? k->be->name : "?");
    return 0;
}

int k_check_ndim(kctx *k, const char *op, const char *name, const tensor *t, int ndim)
{
    if (k_check_f32(k, op, name, t))
        return -1;
    char s[K_SHAPE_STR];
    if (t->ndim != ndim)
        return k_fail(k, "%s: %s must have %d dims, got %s", op, name, ndim, k_shape_str(t, s));
    return 0;
}

int k_check_same(kctx *k, const char *op, const char *aname, const tensor *a, const char *bname,
                 const tensor *b)
{
    if (k_check_f32(k, op, bname, b))
        return -1;
    char sa[K_SHAPE_STR], sb[K_SHAPE_STR];
    if (!k_same_shape(a, b))
        return k_fail(k, "%s: %s is %s, %s is %s (must match)", op, bname, k_shape_str(b, sb), aname,
                      k_shape_str(a, sa));
    return 0;
}

int k_check_numel(kctx *k, const char *op, const char *name, const tensor *t, const char *refname,
                  const tensor *ref)
{
    if (k_check_f32(k, op, name, t))
        return -1;
    char sa[K_SHAPE_STR], sb[K_SHAPE_STR];
    if (tensor_numel(t) != tensor_numel(ref))
        return k_fail(k, "%s: %s is %s, %s is %s (element counts must match)", op, name,
                      k_shape_str(t, sa), refname, k_shape_str(ref, sb));
    return 0;
}
