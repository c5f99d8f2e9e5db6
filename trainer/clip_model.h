/* The CLIP text encoder family (Stable Diffusion 1.x's cond stage, reference/engines.md §4.1),
 * written llm.c's way: a config, parameters in one buffer named by single-file SD checkpoint keys
 * (`cond_stage_model.transformer.text_model.*`, for every config), activations allocated for an
 * input shape, a forward and a hand-written backward that walks the layers in exact reverse order.
 *
 * Shapes: B = batch, T = tokens (<= max_position_embeddings), C = hidden_size, H = heads,
 * F = intermediate_size, V = vocab_size, L = num_hidden_layers.
 *
 *   x[0]   = token_embedding[ids] + position_embedding[0..T)                  (B, T, C)
 *   layer l (pre-LN):  mid = x[l] + out_proj(attn_causal(q, k, v of LN1(x[l])))
 *                      x[l+1] = mid + fc2(act(fc1(LN2(mid))))                  act: quick-GELU
 *   output = final_layer_norm(x[L - clip_skip + 1])                           (B, T, C)
 * clip_skip 1 is `last_hidden_state`; clip_skip 2 is hidden_states[-2] (the output of layer 11 of
 * 12) through the final layer norm, as kohya, A1111, ComfyUI and stable-diffusion.cpp do it.
 * Attention is causal only: padding is not masked (CLIP's own behaviour, which SD 1.x relies on).
 * Positions are always 0..T-1: the I64 `embeddings.position_ids` buffer of real checkpoints is
 * not a parameter; loading ignores it (some merged checkpoints carry damaged float copies of it),
 * saving writes 0..max_position_embeddings-1 when asked.
 *
 * Two training modes, one code path: full (the model built with gradients, every weight's
 * gradient accumulated: the tiny model trained from scratch) and frozen base (built without
 * gradients, LoRA adapters attached with clip_lora_attach on q/k/v/out_proj, fc1, fc2 of every
 * layer: only the adapters' gradients). Both compute grad_embeds, the gradient with respect to
 * the token + position embedding sum. */
#ifndef TRAINER_CLIP_MODEL_H
#define TRAINER_CLIP_MODEL_H
#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "tagger/error.h"
#include "trainer/lora.h"
#include "trainer/params.h"
#include "trainer/safetensors.h"

/* ---- config (HF CLIPTextConfig key names) ---- */

typedef struct clip_config {
    int vocab_size;                /* 0 in the built-in `tiny`: the caller sets the tag vocabulary's */
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int max_position_embeddings;
    float layer_norm_eps;
    k_act hidden_act;              /* "quick_gelu" (K_QUICK_GELU) or "gelu" (K_GELU, exact erf) */
    int bos_token_id, eos_token_id, pad_token_id; /* -1: unset (the tokenizer decides); unused by
                                                     the encoder itself, kept for the caller */
} clip_config;

/* Built-in configs:
 *   "sd15": openai/clip-vit-large-patch14's text model: V 49408, C 768, F 3072, L 12, H 12, 77
 *           positions, eps 1e-5, quick_gelu, BOS 49406, EOS 49407, pad 49407 (SD 1.x pads with
 *           EOS; config.json's 0/2/1 are legacy placeholders). 123,060,480 parameters.
 *   "tiny": for the tiny model: C 64, F 256, L 2, H 4 (head dim 16), 16 positions (BOS + up to 14
 *           tags + EOS), eps 1e-5, quick_gelu, the tag tokenizer's ids (pad 0, BOS 1, EOS 2);
 *           vocab_size 0: set it to the tag tokenizer's tag_vocab_size() before clip_build.
 * 0, or -1 with err for an unknown name. */
int clip_config_builtin(clip_config *c, const char *name, tg_error *err);
/* Reads a CLIPTextConfig object from JSON text (a whole CLIPConfig with a "text_config" object is
 * read through that object). source names the text in messages (a file's path). Every key is
 * checked: a wrong type or an impossible value is refused naming the key and the reason; the
 * usual HF keys that do not change the text model (projection_dim, initializer_range, dropout,
 * model_type, torch_dtype, architectures, transformers_version, ...) are accepted and ignored;
 * any other key is refused. Keys left out take HF CLIPTextConfig's defaults (hidden 512,
 * intermediate 2048, 12 layers, 8 heads, 77 positions, vocab 49408, eps 1e-5, quick_gelu), token
 * ids excepted: those stay unset (-1). */
int clip_config_parse(clip_config *c, const char *json, const char *source, tg_error *err);
/* A built-in name, or else a JSON file's path. */
int clip_config_load(clip_config *c, const char *name_or_path, tg_error *err);
/* Everything clip_build needs: sizes >= 1, heads dividing hidden_size, eps > 0, token ids inside
 * the vocabulary. The message names the key. */
int clip_config_check(const clip_config *c, tg_error *err);

/* The config as CLIPTextConfig JSON text (what clip_config_parse reads back), malloc'd; NULL when
 * out of memory. */
char *clip_config_to_json(const clip_config *c);

/* ---- the model ---- */

enum { CLIP_LORA_Q, CLIP_LORA_K, CLIP_LORA_V, CLIP_LORA_OUT, CLIP_LORA_FC1, CLIP_LORA_FC2,
       CLIP_LORA_SLOTS };

typedef struct clip_layer {
    /* parameter indices */
    int ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
    int ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
    int lora[CLIP_LORA_SLOTS]; /* adapter module indices (CLIP_LORA_*), -1 without */
} clip_layer;

/* What one layer's forward saves for its backward (all (B, T, C) unless noted): 7 (B, T, C) and
 * 2 (B, T, F) tensors plus statistics, 3.6 MB per layer for sd15 at batch 1 x 77 tokens (43 MB
 * for all 12, on top of the 13 hidden states x[]). A forward-only pass keeps one set for all
 * layers (and no lse). */
typedef struct clip_layer_acts {
    tensor ln1, ln1_stats;          /* LN1(x[l]); stats (B*T, 2) */
    tensor q, k, v, att, lse;       /* projections, attention output, lse (B, H, T) */
    tensor mid;                     /* x[l] + out_proj(att) */
    tensor ln2, ln2_stats;          /* LN2(mid) */
    tensor fc1, act;                /* (B, T, F): fc1 output, its activation */
    tensor lora_h[CLIP_LORA_SLOTS]; /* each adapter's down(x), when attached */
} clip_layer_acts;

typedef struct clip_acts {
    int B, T;
    int n_x;                 /* L + 1 */
    bool keep;               /* one clip_layer_acts per layer (for a backward), else one shared */
    int lora_n;              /* adapters present when allocated (attaching more reallocates) */
    int32_t *ids, *pos_ids;  /* (B*T): the input's copy, and 0..T-1 per row */
    tensor pos;              /* (B, T, C): position embeddings, before the sum */
    tensor *x;               /* L + 1 of (B, T, C): x[0] = embeddings, x[l+1] = layer l's output */
    clip_layer_acts *layer;  /* L when keep, else 1 */
    tensor out, out_stats;   /* final LN of the chosen hidden state (B, T, C); stats (B*T, 2) */
    /* backward (allocated by the first backward for this shape) */
    tensor grad_embeds;      /* (B, T, C): the residual stream's gradient; at the end d x[0] */
    tensor d_ln, d_q, d_k, d_v, d_att; /* (B, T, C) */
    tensor d_act, d_fc1;     /* (B, T, F) */
} clip_acts;

typedef struct clip {
    clip_config cfg;
    params ps;               /* gradients present in full mode only */
    int tok_emb, pos_emb, lnf_w, lnf_b;
    clip_layer *layers;      /* L */
    lora_set *lora;          /* set by clip_lora_attach, or NULL */
    int64_t *position_ids;   /* 0..max_position_embeddings-1, for clip_write */
    clip_acts acts;
    int clip_skip;           /* of the last forward (0: none yet) */
    bool forward_kept;       /* the last forward saved what a backward needs */
} clip;

/* Declares the parameters (HF's order) and allocates them; gradients when with_grads (full
 * training). Weights are uninitialised: clip_load or clip_init_weights. */
int clip_build(clip *m, kctx *k, const clip_config *c, bool with_grads, tg_error *err);
void clip_free(clip *m, kctx *k);
/* HF CLIPTextModel's initialisation for training from scratch (initializer_factor 1): embeddings
 * N(0, 0.02); q/k/v_proj N(0, C^-0.5 (2L)^-0.5); out_proj N(0, C^-0.5); fc1 N(0, (2C)^-0.5); fc2
 * N(0, C^-0.5 (2L)^-0.5); biases 0; layer norms 1 and 0. The same seed, the same weights. */
int clip_init_weights(clip *m, kctx *k, uint64_t seed, tg_error *err);
/* Every parameter by name from f (shapes checked; other tensors, position_ids included, ignored). */
int clip_load(clip *m, kctx *k, const st_file *f, tg_error *err);
/* Adds every parameter to w as dt (F32/F16/BF16; copies held in *hold as params_write does), and
 * with position_ids the I64 `embeddings.position_ids` [1, max_position_embeddings] (borrowed from
 * m: keep m alive until st_writer_save returns). */
int clip_write(const clip *m, kctx *k, st_writer *w, st_dtype dt, bool position_ids, float **hold,
               tg_error *err);
/* Puts adapters on q_proj, k_proj, v_proj, out_proj, mlp.fc1, mlp.fc2 of every layer, named as
 * kohya names them (lora_te_text_model_encoder_layers_N_self_attn_q_proj, ...); call
 * lora_alloc(ls) before the next forward. m keeps ls (it must outlive m's forwards; attaching
 * another set replaces it). 0, or -1 (out of memory, or ls refused a module: m keeps none). */
int clip_lora_attach(clip *m, lora_set *ls, int rank, float alpha);

/* The forward for ids (B*T int32, row-major [B, T]); result in m->acts.out (B, T, C). clip_skip
 * in 1..L: only the first L - clip_skip + 1 layers run. for_backward keeps every layer's
 * activations (else they share one set of buffers: inference, cached text embeddings). An id out
 * of [0, V), T beyond max_position_embeddings or a bad clip_skip is refused with a message. */
int clip_forward(clip *m, kctx *k, const int32_t *ids, int B, int T, int clip_skip, bool for_backward,
                 tg_error *err);
/* y (B, T, C) = final layer norm of the hidden state clip_skip selects, from the last forward
 * (clip_skip >= that forward's): `last_hidden_state` and `penultimate_ln` from one forward. */
int clip_hidden_ln(clip *m, kctx *k, int clip_skip, tensor *y, tg_error *err);
/* From dout (B, T, C), the gradient of the last forward's output (run with for_backward):
 * accumulates (+=) into every weight gradient (full mode) and every adapter's gradients, and
 * writes (=) m->acts.grad_embeds. */
int clip_backward(clip *m, kctx *k, const tensor *dout, tg_error *err);
/* Releases the activations (after caching text embeddings, say); the next forward reallocates. */
void clip_acts_free(clip_acts *a, kctx *k);

/* "cond_stage_model.transformer.text_model." */
extern const char CLIP_KEY_PREFIX[];

#endif
