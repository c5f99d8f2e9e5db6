/* Saving a diffusion model as one self-describing safetensors file (dmodel.h). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "trainer/dmodel.h"
#include "trainer/safetensors.h"

/* The vocabulary in id order as a JSON list; malloc'd. */
static char *tags_json(const tag_tokenizer *t)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < tag_count(t); i++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(tag_token_text(t, TAG_FIRST_ID + (int32_t)i)))) {
            cJSON_Delete(arr);
            return NULL;
        }
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

static int meta_add(st_writer *w, const dmodel *m, const char *const *extra)
{
    cJSON *uj = unet_config_to_json(&m->unet.cfg);
    char *u = uj ? cJSON_PrintUnformatted(uj) : NULL, *c = clip_config_to_json(&m->te.cfg), *tags = tags_json(m->tags);
    char r[16], nat[16];
    snprintf(r, sizeof r, "%d", m->unshuffle);
    snprintf(nat, sizeof nat, "%d", m->native);
    const char *const kv[] = {"tagbench.model", DMODEL_KIND_PIXELS, "tagbench.unet_config", u,
                              "tagbench.clip_config", c, "tagbench.tags", tags, "tagbench.unshuffle", r,
                              "tagbench.resolution", nat, "tagbench.prediction",
                              m->v_prediction ? "v" : "epsilon", NULL};
    int rc = u && c && tags ? 0 : -1;
    for (size_t i = 0; rc == 0 && kv[i]; i += 2)
        rc = st_writer_meta(w, kv[i], kv[i + 1]);
    for (size_t i = 0; rc == 0 && extra && extra[i] && extra[i + 1]; i += 2)
        rc = st_writer_meta(w, extra[i], extra[i + 1]);
    cJSON_Delete(uj);
    free(u), free(c), free(tags);
    return rc;
}

int dmodel_save(const dmodel *m, kctx *k, const char *path, st_dtype dt, const char *const *extra,
                tg_error *err)
{
    st_writer *w = st_writer_new();
    float *hold_u = NULL, *hold_c = NULL;
    int rc = w ? 0 : error_set(err, "%s: out of memory", path);
    if (rc == 0)
        rc = params_write(&m->unet.ps, k, w, dt, &hold_u, err);
    if (rc == 0)
        rc = clip_write(&m->te, k, w, dt, true, &hold_c, err);
    if (rc == 0 && meta_add(w, m, extra) < 0)
        rc = error_set(err, "%s: out of memory", path);
    if (rc == 0)
        rc = st_writer_save(w, path, err);
    st_writer_free(w);
    free(hold_u), free(hold_c);
    return rc;
}
