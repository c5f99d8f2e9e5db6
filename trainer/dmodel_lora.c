/* LoRA adapters on a diffusion model (dmodel.h): new ones to train, or a kohya file to sample with. */
#include <stdlib.h>
#include <string.h>

#include "trainer/dmodel.h"
#include "trainer/safetensors.h"

/* Declares the adapters (UNet first, then the text encoder's, so each network's weights are one
 * contiguous range of the set's buffer: the optimizer gives each its own learning rate). */
static int adapters_attach(dmodel *m, int rank, float alpha, bool with_te, tg_error *err)
{
    lora_set *ls = calloc(1, sizeof *ls);
    if (!ls)
        return error_set(err, "LoRA: out of memory");
    lora_set_init(ls);
    m->lora = ls;
    if (unet_lora_attach(&m->unet, ls, rank, alpha) < 0)
        return error_set(err, "LoRA: cannot attach the UNet's adapters (out of memory)");
    m->lora_te_first = (int)ls->n;
    if (with_te && clip_lora_attach(&m->te, ls, rank, alpha) < 0)
        return error_set(err, "LoRA: cannot attach the text encoder's adapters (out of memory)");
    m->unet.freeze_base = true;
    return 0;
}

int dmodel_lora_new(dmodel *m, kctx *k, int rank, float alpha, bool unet_only, bool with_grads,
                    uint64_t seed, tg_error *err)
{
    if (adapters_attach(m, rank, alpha, !unet_only, err) < 0)
        return -1;
    return lora_alloc(m->lora, k, with_grads, seed, err);
}

static bool file_has_te(const st_file *f)
{
    for (size_t i = 0; i < st_count(f); i++)
        if (!strncmp(st_at(f, i)->name, "lora_te_", 8))
            return true;
    return false;
}

int dmodel_lora_load(dmodel *m, kctx *k, const char *path, float mult, tg_error *err)
{
    if (m->lora)
        return error_set(err, "%s: the model already carries a LoRA", path);
    st_file *f = st_open(path, err);
    if (!f)
        return -1;
    int rank, rc = lora_file_rank(f, &rank, err);
    if (rc == 0)
        rc = adapters_attach(m, rank, 0, file_has_te(f), err);
    if (rc == 0)
        rc = lora_alloc(m->lora, k, false, 0, err) < 0 || lora_load(m->lora, k, f, err) < 0 ? -1 : 0;
    st_close(f);
    if (rc == 0)
        m->lora->multiplier = mult;
    return rc;
}
