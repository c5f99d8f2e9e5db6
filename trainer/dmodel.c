/* Building and loading a diffusion model (dmodel.h): the tiny built-in, or a tagbench checkpoint. */
#include "trainer/dmodel.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/safetensors.h"
#include "trainer/train_data.h"

enum { TINY_UNSHUFFLE = 2, TINY_NATIVE = 32 };

static int schedule_init(dmodel *m, tg_error *err)
{
    noise_schedule_opts o;
    noise_schedule_opts_default(&o);
    return noise_schedule_init(&m->sched, &o, err);
}

/* Both networks built (weights not yet filled) from their configs over the vocabulary. */
static int networks_build(dmodel *m, kctx *k, unet_config *uc, clip_config *cc, bool with_grads,
                          tg_error *err)
{
    cc->vocab_size = tag_vocab_size(m->tags);
    if (uc->context_dim != cc->hidden_size)
        return error_set(err, "the UNet's context_dim %d differs from the text encoder's width %d",
                         uc->context_dim, cc->hidden_size);
    m->max_length = cc->max_position_embeddings;
    if (unet_build(&m->unet, k, uc, with_grads, err) < 0 || clip_build(&m->te, k, cc, with_grads, err) < 0)
        return -1;
    return schedule_init(m, err);
}

int dmodel_build_tiny(dmodel *m, kctx *k, const char *const *tags, size_t n, bool with_grads,
                      uint64_t seed, tg_error *err)
{
    memset(m, 0, sizeof *m);
    m->unshuffle = TINY_UNSHUFFLE;
    m->native = TINY_NATIVE;
    unet_config uc;
    clip_config cc;
    if (unet_config_builtin(&uc, "tiny", err) < 0 || clip_config_builtin(&cc, "tiny", err) < 0)
        return -1;
    uc.in_channels = uc.out_channels = 3 * m->unshuffle * m->unshuffle;
    if (!(m->tags = tag_tokenizer_from_tags(tags, n, err)))
        return -1;
    if (networks_build(m, k, &uc, &cc, with_grads, err) < 0 || unet_init(&m->unet, k, seed, err) < 0 ||
        clip_init_weights(&m->te, k, seed ^ 0x5eedc11bULL, err) < 0) {
        dmodel_free(m, k);
        return -1;
    }
    return 0;
}

/* The tag list of a checkpoint's tagbench.tags. */
static tag_tokenizer *tags_from_meta(const char *path, const char *json, tg_error *err)
{
    cJSON *arr = json ? cJSON_Parse(json) : NULL;
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    const char **tags = calloc(n ? n : 1, sizeof *tags);
    tag_tokenizer *t = NULL;
    if (!cJSON_IsArray(arr) || !tags)
        error_set(err, "%s: tagbench.tags is missing or not a JSON list", path);
    else {
        size_t i = 0;
        for (cJSON *it = arr->child; it && cJSON_IsString(it); it = it->next)
            tags[i++] = it->valuestring;
        if (i != n)
            error_set(err, "%s: tagbench.tags holds something that is not a string", path);
        else
            t = tag_tokenizer_from_tags(tags, n, err);
    }
    free(tags);
    cJSON_Delete(arr);
    return t;
}

static int configs_from_meta(const st_file *f, const char *path, unet_config *uc, clip_config *cc,
                             tg_error *err)
{
    const char *u = st_meta(f, "tagbench.unet_config"), *c = st_meta(f, "tagbench.clip_config");
    cJSON *uj = u ? cJSON_Parse(u) : NULL;
    int rc = uj ? unet_config_from_json(uc, uj, err) : error_set(err, "tagbench.unet_config is missing or not JSON");
    cJSON_Delete(uj);
    if (rc == 0)
        rc = c ? clip_config_parse(cc, c, "tagbench.clip_config", err)
               : error_set(err, "tagbench.clip_config is missing");
    if (rc < 0) {
        tg_error inner = *err;
        return error_set(err, "%s: %s", path, inner.msg);
    }
    return 0;
}

static int header_read(dmodel *m, const st_file *f, const char *path, tg_error *err)
{
    const char *kind = st_meta(f, "tagbench.model");
    if (!kind)
        return error_set(err, "%s: not a tagbench model (no tagbench.model metadata); Stable Diffusion "
                              "checkpoints cannot be trained or sampled by this version yet", path);
    if (strcmp(kind, DMODEL_KIND_PIXELS))
        return error_set(err, "%s: tagbench.model \"%s\" is not one this version reads (%s)", path, kind,
                         DMODEL_KIND_PIXELS);
    const char *r = st_meta(f, "tagbench.unshuffle"), *pred = st_meta(f, "tagbench.prediction");
    m->unshuffle = r ? atoi(r) : 0;
    if (m->unshuffle < 1 || m->unshuffle > 8)
        return error_set(err, "%s: tagbench.unshuffle must be 1..8", path);
    m->v_prediction = pred && !strcmp(pred, "v");
    const char *nat = st_meta(f, "tagbench.resolution");
    m->native = nat ? atoi(nat) : TINY_NATIVE;
    return (m->tags = tags_from_meta(path, st_meta(f, "tagbench.tags"), err)) ? 0 : -1;
}

int dmodel_load(dmodel *m, kctx *k, const char *path, bool with_grads, tg_error *err)
{
    memset(m, 0, sizeof *m);
    st_file *f = st_open(path, err);
    if (!f)
        return -1;
    unet_config uc;
    clip_config cc;
    int rc = header_read(m, f, path, err);
    if (rc == 0)
        rc = configs_from_meta(f, path, &uc, &cc, err);
    if (rc == 0 && uc.in_channels != 3 * m->unshuffle * m->unshuffle)
        rc = error_set(err, "%s: the UNet takes %d channels, pixels unshuffled by %d are %d", path,
                       uc.in_channels, m->unshuffle, 3 * m->unshuffle * m->unshuffle);
    if (rc == 0)
        rc = networks_build(m, k, &uc, &cc, with_grads, err);
    if (rc == 0)
        rc = params_load(&m->unet.ps, k, f, err) < 0 || clip_load(&m->te, k, f, err) < 0 ? -1 : 0;
    st_close(f);
    if (rc < 0)
        dmodel_free(m, k);
    return rc;
}

void dmodel_free(dmodel *m, kctx *k)
{
    if (m->lora) {
        lora_set_free(m->lora, k);
        free(m->lora);
    }
    unet_free(&m->unet, k);
    clip_free(&m->te, k);
    tag_tokenizer_free(m->tags);
    noise_schedule_free(&m->sched);
    memset(m, 0, sizeof *m);
}

void dmodel_tokenize(const dmodel *m, const char *caption, int32_t *ids)
{
    tag_tokenize(m->tags, caption ? caption : "", ids, m->max_length, NULL);
}

int dmodel_space(const dmodel *m, int h, int w, int *c, int *mh, int *mw, tg_error *err)
{
    int mult = m->unshuffle << (m->unet.cfg.n_levels - 1);
    if (h < mult || w < mult || h % mult || w % mult)
        return error_set(err, "%dx%d: this model needs sides that are multiples of %d", w, h, mult);
    *c = m->unet.cfg.in_channels;
    *mh = h / m->unshuffle;
    *mw = w / m->unshuffle;
    return 0;
}

void dmodel_encode(const dmodel *m, const float *pixels, int B, int h, int w, float *x0)
{
    train_data_space_to_depth(pixels, B, 3, h, w, m->unshuffle, x0);
}

void dmodel_decode(const dmodel *m, const float *x0, int B, int h, int w, float *pixels)
{
    train_data_depth_to_space(x0, B, 3, h / m->unshuffle, w / m->unshuffle, m->unshuffle, pixels);
}
