/* kohya's LoRA module names (reference/trainers.md §5.1, §5.3) for our checkpoint-named modules.
 *
 * Our parameters carry the single-file checkpoint keys (LDM's module tree:
 * `model.diffusion_model.input_blocks.1.1.proj_in`), while kohya names a module after the
 * DIFFUSERS module tree (`down_blocks.0.attentions.0.proj_in`), prefixed `lora_unet` / `lora_te`,
 * every `.` turned into `_`: `lora_unet_down_blocks_0_attentions_0_proj_in`. The two trees differ
 * only in block numbering and in the names of ResBlock/Downsample children:
 *  - input_blocks.i (i >= 1) is in down block b = (i-1) / (R+1), place l = (i-1) % (R+1) (R =
 *    num_res_blocks): .0 is resnets.l, .1 attentions.l; place l == R is the level's Downsample
 *    (`.0.op` -> downsamplers.0.conv), absent at the deepest level;
 *  - middle_block.0/.1/.2 -> mid_block.resnets.0 / attentions.0 / resnets.1;
 *  - output_blocks.j is in up block b = j / (R+1), place l = j % (R+1): .0 resnets.l, .1
 *    attentions.l at levels with attention; the Upsample (`.1.conv` or `.2.conv`, after the
 *    attention if any) of the place l == R -> upsamplers.0.conv, absent at the shallowest level.
 *    Diffusers' up blocks count from the deepest level: up block b is level n_levels-1-b, so for
 *    SD 1.x up_blocks.0 (8x8 latent) has no attentions and up_blocks.1-3 have three each;
 *  - SpatialTransformer children keep their names (proj_in, transformer_blocks.0.attn1.to_q,
 *    ..., to_out.0, ff.net.0.proj, ff.net.2, proj_out); ResBlock children are renamed
 *    in_layers.2 -> conv1, out_layers.3 -> conv2, emb_layers.1 -> time_emb_proj,
 *    skip_connection -> conv_shortcut.
 * (diffusers scripts/convert_original_stable_diffusion_to_diffusers.py, kohya's
 * library/model_util.py conversion tables, leejet/stable-diffusion.cpp's name conversion agree.)
 *
 * Only modules kohya's `networks.lora` can wrap have names: the Linear and 1x1 conv layers of
 * SpatialTransformers (12 per transformer block, 192 for SD 1.x), and with conv_dim (LoCon) the
 * convs and time_emb_proj of ResBlocks and the Downsample/Upsample convs; for the text encoder the
 * q/k/v/out projections and fc1/fc2 of each layer (72 for CLIP ViT-L). Norms, embeddings, conv_in,
 * time_embed and out have none. */
#ifndef TRAINER_LORA_NAMES_H
#define TRAINER_LORA_NAMES_H
#include <stddef.h>

/* What the names depend on in a UNet config (kept here, not in the UNet's header, so that names
 * can be made without building a model). */
typedef struct unet_layout {
    int num_res_blocks;   /* ResBlocks per level on the way down (R; R + 1 on the way up) */
    int n_levels;         /* len(channel_mult) */
    unsigned attn_levels; /* bit l set: level l (0 = full resolution) has SpatialTransformers,
                           * i.e. 2^l is in attention_resolutions */
} unet_layout;

/* SD 1.x: num_res_blocks 2, channel_mult [1,2,4,4], attention_resolutions [4,2,1]. */
#define UNET_LAYOUT_SD15 ((unet_layout){.num_res_blocks = 2, .n_levels = 4, .attn_levels = 0x7})

#define LORA_NAME_MAX 128 /* longer than any name these functions make for SD-sized configs */

/* The kohya name of a UNet module given by its checkpoint path without `.weight`, with or without
 * the `model.diffusion_model.` prefix: "input_blocks.1.1.proj_in" ->
 * "lora_unet_down_blocks_0_attentions_0_proj_in". 0, or -1 (out untouched or truncated) when the
 * path is not a module kohya's LoRA can wrap in this layout, or out is too small. */
int lora_name_unet(const char *ldm_module, const unet_layout *lay, char *out, size_t size);

/* The same for the text encoder, path with or without `cond_stage_model.transformer.`:
 * "text_model.encoder.layers.3.mlp.fc1" -> "lora_te_text_model_encoder_layers_3_mlp_fc1". */
int lora_name_clip(const char *ldm_module, char *out, size_t size);

/* The inverse: a kohya module name (lora_unet_* or lora_te_*, no `.lora_down.weight` suffix) to
 * the full checkpoint path of the module ("model.diffusion_model.input_blocks.1.1.proj_in",
 * "cond_stage_model.transformer.text_model.encoder.layers.3.mlp.fc1"). lay is needed for UNet
 * names only. 0, or -1 when the name is not one that lora_name_unet/clip make for this layout. */
int lora_name_to_ldm(const char *kohya, const unet_layout *lay, char *out, size_t size);

#endif
