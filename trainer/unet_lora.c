/* LoRA adapters on the UNet (unet.h): kohya's `networks.lora` targets for SD 1.x — every Linear and
 * 1x1 conv inside a SpatialTransformer — declared on the layers, named by lora_names.h. */
#include "trainer/lora_names.h"
#include "trainer/private/unet_layers.h"

#include <stdio.h>

static unet_layout layout_of(const unet_config *c)
{
    unet_layout lay = {.num_res_blocks = c->num_res_blocks, .n_levels = c->n_levels};
    for (int i = 0; i < c->n_attention_resolutions; i++)
        for (int level = 0; level < c->n_levels; level++)
            if (c->attention_resolutions[i] == 1 << level)
                lay.attn_levels |= 1u << level;
    return lay;
}

/* The adapter for module `<path>.<leaf>` taking in features and giving out; its index or -1. */
static int hook(lora_set *ls, const unet_layout *lay, const char *path, const char *leaf, int in,
                int out, bool conv1x1, int rank, float alpha)
{
    char ldm[160], name[LORA_NAME_MAX];
    snprintf(ldm, sizeof ldm, "%s.%s", path, leaf);
    if (lora_name_unet(ldm, lay, name, sizeof name))
        return -1;
    return lora_attach(ls, name, in, out, conv1x1, rank, alpha);
}

int unet_lora_attach(unet *u, lora_set *ls, int rank, float alpha)
{
    unet_layout lay = layout_of(&u->cfg);
    int ctx = u->cfg.context_dim;
    for (int i = 0; i < u->n_layers; i++) {
        unet_layer *L = &u->layers[i];
        if (L->kind != UNET_ST)
            continue;
        unet_st *s = &L->st;
        int C = L->cout;
        if ((s->lproj_in = hook(ls, &lay, L->path, "proj_in", C, C, true, rank, alpha)) < 0)
            return -1;
        for (int d = 0; d < s->depth; d++) {
            unet_tblock *t = &s->tb[d];
            char p[96];
            struct { int *m; const char *leaf; int in, out; } mods[10] = {
                {&t->attn1.lq, "attn1.to_q", C, C}, {&t->attn1.lk, "attn1.to_k", C, C},
                {&t->attn1.lv, "attn1.to_v", C, C}, {&t->attn1.lout, "attn1.to_out.0", C, C},
                {&t->attn2.lq, "attn2.to_q", C, C}, {&t->attn2.lk, "attn2.to_k", ctx, C},
                {&t->attn2.lv, "attn2.to_v", ctx, C}, {&t->attn2.lout, "attn2.to_out.0", C, C},
                {&t->lff0, "ff.net.0.proj", C, 8 * C}, {&t->lff2, "ff.net.2", 4 * C, C},
            };
            snprintf(p, sizeof p, "%s.transformer_blocks.%d", L->path, d);
            for (int j = 0; j < 10; j++)
                if ((*mods[j].m = hook(ls, &lay, p, mods[j].leaf, mods[j].in, mods[j].out, false, rank,
                                       alpha)) < 0)
                    return -1;
        }
        if ((s->lproj_out = hook(ls, &lay, L->path, "proj_out", C, C, true, rank, alpha)) < 0)
            return -1;
    }
    u->lora = ls;
    if (u->acts) /* the next forward re-plans, with room for the adapters' hidden tensors */
        u->acts->B = 0;
    return 0;
}
