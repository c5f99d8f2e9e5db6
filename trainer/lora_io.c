/* LoRA files in kohya's layout (lora.h, docs/lora.md): per module `<name>.lora_down.weight`,
 * `<name>.lora_up.weight` and the 0-d `<name>.alpha`, all in one dtype, plus `ss_*` metadata. */
#include "trainer/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SUFFIX_DOWN = ".lora_down.weight";
static const char *const SUFFIX_UP = ".lora_up.weight";
static const char *const SUFFIX_ALPHA = ".alpha";

/* ---- saving ---- */

/* A float as Python's str() writes it (kohya stores str(args.network_alpha)): "1.0", "16.0",
 * "0.5", "1e-05": the shortest text that reads back as the same float. */
static void float_text(char *buf, size_t size, float v)
{
    if (v == floorf(v) && fabsf(v) < 1e16f) {
        snprintf(buf, size, "%.1f", (double)v);
        return;
    }
    const char *fmt = fabsf(v) >= 1e-4f ? "%.*f" : "%.*g";
    for (int p = 1; p <= 20; p++) {
        snprintf(buf, size, fmt, p, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

/* kohya's minimal metadata (what `--no_metadata` keeps), then the caller's pairs over it. */
static int meta_write(st_writer *w, const lora_set *ls, const char *const *meta, const char *path,
                      tg_error *err)
{
    char dim[32], alpha[48];
    snprintf(dim, sizeof dim, "%d", ls->m[0].rank);
    float_text(alpha, sizeof alpha, ls->m[0].alpha);
    const char *const base[] = {
        "ss_network_module", "networks.lora", "ss_network_dim", dim, "ss_network_alpha", alpha,
        "ss_base_model_version", "sd_v1", "ss_v2", "False", NULL,
    };
    for (int pass = 0; pass < 2; pass++) {
        const char *const *kv = pass ? meta : base;
        for (size_t i = 0; kv && kv[i]; i += 2) {
            if (!kv[i + 1])
                return error_set(err, "%s: metadata key '%s' has no value", path, kv[i]);
            if (st_writer_meta(w, kv[i], kv[i + 1]) < 0)
                return error_set(err, "%s: out of memory", path);
        }
    }
    return 0;
}

int lora_save(const lora_set *ls, kctx *k, const char *path, st_dtype dt, const char *const *meta,
              tg_error *err)
{
    if (!ls->n || !ls->ps.all_w.data)
        return error_set(err, "%s: no LoRA modules to save%s", path, ls->n ? " (not allocated)" : "");
    if (dt != ST_F32 && dt != ST_F16 && dt != ST_BF16)
        return error_set(err, "%s: LoRA weights are saved as F32, F16 or BF16, not %s", path,
                         st_dtype_name(dt));
    st_writer *w = st_writer_new();
    float *alphas = malloc(sizeof *alphas * ls->n), *hold = NULL;
    int rc = !w || !alphas ? error_set(err, "%s: out of memory", path) : 0;
    if (rc == 0) /* down and up: names and shapes are kohya's already */
        rc = params_write(&ls->ps, k, w, dt, &hold, err);
    for (size_t i = 0; i < ls->n && rc == 0; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s%s", ls->m[i].name, SUFFIX_ALPHA);
        alphas[i] = ls->m[i].alpha;
        rc = st_writer_add_f32_as(w, name, dt, 0, NULL, &alphas[i], err);
    }
    if (rc == 0)
        rc = meta_write(w, ls, meta, path, err);
    if (rc == 0)
        rc = st_writer_save(w, path, err);
    st_writer_free(w);
    free(alphas);
    free(hold);
    return rc;
}

/* ---- loading ---- */

int lora_file_rank(const st_file *f, int *rank, tg_error *err)
{
    static const char suffix[] = ".lora_down.weight";
    const size_t ns = sizeof suffix - 1;
    const st_tensor *first = NULL;
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        size_t n = strlen(t->name);
        if (n <= ns || strcmp(t->name + n - ns, suffix))
            continue;
        if (t->ndim < 2)
            return error_set(err, "%s: tensor '%s' has %d dimension(s); lora_down is [rank, in(, 1, 1)]",
                             st_path(f), t->name, t->ndim);
        if (!first)
            first = t;
        else if (t->shape[0] != first->shape[0])
            return error_set(err, "%s: modules of different ranks ('%s' %lld, '%s' %lld): only one rank "
                             "for all modules is supported", st_path(f), first->name,
                             (long long)first->shape[0], t->name, (long long)t->shape[0]);
    }
    if (!first)
        return error_set(err, "%s: no tensor named *%s: not a kohya LoRA file", st_path(f), suffix);
    if (first->shape[0] < 1 || first->shape[0] > 1 << 16)
        return error_set(err, "%s: '%s': rank %lld", st_path(f), first->name,
                         (long long)first->shape[0]);
    *rank = (int)first->shape[0];
    return 0;
}


static const st_tensor *find_key(const st_file *f, const char *name, const char *suffix)
{
    char key[512];
    if (snprintf(key, sizeof key, "%s%s", name, suffix) >= (int)sizeof key)
        return NULL;
    return st_find(f, key);
}

/* The single value of an `.alpha` tensor (0-d; [1] is accepted too). */
static int alpha_read(const st_tensor *t, float *alpha, tg_error *err)
{
    if (t->ndim > 1 || t->numel != 1)
        return error_set(err, "%s: tensor '%s' should hold one value (shape []), not %zu", t->file,
                         t->name, t->numel);
    if (st_read_f32(t, alpha, 1, err) < 0)
        return -1;
    if (!isfinite(*alpha))
        return error_set(err, "%s: tensor '%s' is %g", t->file, t->name, (double)*alpha);
    return 0;
}

/* The weight tensor of a module: present, with the parameter's shape. */
static const st_tensor *weight_check(const st_file *f, const param *p, tg_error *err)
{
    const st_tensor *t = st_find(f, p->name);
    if (!t) {
        error_set(err, "%s: no tensor '%s' (the LoRA has no such module, or another layout)",
                  st_path(f), p->name);
        return NULL;
    }
    bool same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++)
        same = t->shape[d] == p->shape[d];
    if (!same) {
        char want[96], got[96];
        params_shape_text(want, sizeof want, p->ndim, p->shape);
        params_shape_text(got, sizeof got, t->ndim, t->shape);
        error_set(err, "%s: tensor '%s' is %s, the module needs %s", st_path(f), p->name, got, want);
        return NULL;
    }
    return t;
}

/* Whether key is `<attached module>.{lora_down.weight,lora_up.weight,alpha}`. */
static bool key_known(const lora_set *ls, const char *key)
{
    const char *const suffixes[] = {SUFFIX_DOWN, SUFFIX_UP, SUFFIX_ALPHA};
    size_t len = strlen(key);
    for (size_t s = 0; s < 3; s++) {
        size_t sl = strlen(suffixes[s]);
        if (len <= sl || strcmp(key + len - sl, suffixes[s]))
            continue;
        for (size_t i = 0; i < ls->n; i++)
            if (strlen(ls->m[i].name) == len - sl && !strncmp(ls->m[i].name, key, len - sl))
                return true;
    }
    return false;
}

/* Every key of f belongs to an attached module and every module's tensors are there and fit; the
 * alphas are read into alphas[]. Nothing is changed yet. */
static int load_check(const lora_set *ls, const st_file *f, float *alphas, tg_error *err)
{
    size_t found = 0;
    for (size_t i = 0; i < ls->n; i++) {
        const lora_module *m = &ls->m[i];
        if (!weight_check(f, &ls->ps.p[m->down], err) || !weight_check(f, &ls->ps.p[m->up], err))
            return -1;
        const st_tensor *a = find_key(f, m->name, SUFFIX_ALPHA);
        alphas[i] = (float)m->rank; /* no alpha: scale 1, as A1111 and ComfyUI read it */
        if (a && alpha_read(a, &alphas[i], err) < 0)
            return -1;
        found += 2 + (a != NULL);
    }
    if (found == st_count(f))
        return 0;
    for (size_t i = 0; i < st_count(f); i++)
        if (!key_known(ls, st_at(f, i)->name))
            return error_set(err, "%s: unknown key '%s' (no such LoRA module attached)", st_path(f),
                             st_at(f, i)->name);
    return error_set(err, "%s: unexpected keys", st_path(f));
}

int lora_load(lora_set *ls, kctx *k, const st_file *f, tg_error *err)
{
    if (!ls->ps.all_w.data)
        return error_set(err, "%s: the LoRA modules are not allocated (lora_alloc)", st_path(f));
    size_t biggest = 1;
    for (size_t i = 0; i < ls->ps.n; i++)
        if (tensor_numel(&ls->ps.p[i].w) > biggest)
            biggest = tensor_numel(&ls->ps.p[i].w);
    float *alphas = malloc(sizeof *alphas * (ls->n ? ls->n : 1));
    float *host = malloc(sizeof *host * biggest);
    int rc = !alphas || !host ? error_set(err, "%s: out of memory", st_path(f)) : 0;
    if (rc == 0)
        rc = load_check(ls, f, alphas, err);
    for (size_t i = 0; i < ls->ps.n && rc == 0; i++) {
        param *p = &ls->ps.p[i];
        const st_tensor *t = st_find(f, p->name);
        rc = st_read_f32(t, host, t->numel, err);
        if (rc == 0)
            k_upload(k, &p->w, host);
    }
    for (size_t i = 0; i < ls->n && rc == 0; i++) {
        ls->m[i].alpha = alphas[i];
        ls->m[i].scale = alphas[i] / (float)ls->m[i].rank;
    }
    free(alphas);
    free(host);
    return rc;
}

int lora_file_module(const st_file *f, const char *name, int *rank, int *in, int *out,
                     bool *conv1x1, float *alpha, tg_error *err)
{
    const st_tensor *d = find_key(f, name, SUFFIX_DOWN), *u = find_key(f, name, SUFFIX_UP);
    if (!d)
        return 0;
    if (!u)
        return error_set(err, "%s: no tensor '%s%s' to go with '%s'", st_path(f), name, SUFFIX_UP,
                         d->name);
    /* down (r, in[, 1, 1]), up (out, r[, 1, 1]); a 3x3 LoCon down is not an adapter of ours */
    bool conv = d->ndim == 4;
    bool ok = (d->ndim == 2 || conv) && u->ndim == d->ndim && d->shape[0] == u->shape[1] &&
              d->shape[0] >= 1 && d->shape[1] >= 1 && u->shape[0] >= 1 && d->shape[0] <= INT32_MAX &&
              d->shape[1] <= INT32_MAX && u->shape[0] <= INT32_MAX &&
              (!conv || (d->shape[2] == 1 && d->shape[3] == 1 && u->shape[2] == 1 && u->shape[3] == 1));
    if (!ok) {
        char sd[96], su[96];
        params_shape_text(sd, sizeof sd, d->ndim, d->shape);
        params_shape_text(su, sizeof su, u->ndim, u->shape);
        return error_set(err, "%s: '%s' is %s and '%s' is %s: not a linear or 1x1 LoRA pair",
                         st_path(f), d->name, sd, u->name, su);
    }
    *rank = (int)d->shape[0];
    *in = (int)d->shape[1];
    *out = (int)u->shape[0];
    *conv1x1 = conv;
    *alpha = (float)*rank;
    const st_tensor *a = find_key(f, name, SUFFIX_ALPHA);
    if (a && alpha_read(a, alpha, err) < 0)
        return -1;
    return 1;
}
