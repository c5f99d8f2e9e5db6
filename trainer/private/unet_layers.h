/* The UNet's layers and activations (private to trainer/unet_*.c).
 *
 * LDM's UNetModel is a list of TimestepEmbedSequential blocks (input_blocks, middle_block,
 * output_blocks) and `out`. Here that tree is flattened into one list of layers in forward order;
 * a layer is one module of a block (conv, ResBlock, SpatialTransformer, Downsample, Upsample) and
 * knows its checkpoint path ("input_blocks.1.1"). The last layer of every input block pushes its
 * output as a skip connection; the first layer of every output block pops one and concatenates it
 * after its input (`cat([h, hs.pop()], dim=1)`). The forward and the backward are then a loop over
 * this list, one way and back.
 *
 * What the forward keeps for the backward (UNET_TRAIN), per layer:
 *  - ResBlock: GN1 output and stats, conv1 output + emb (h3), GN2 output and stats (the SiLU
 *    outputs are recomputed in the backward, one conv input each);
 *  - SpatialTransformer: GN output and stats; per transformer block its residual stream before
 *    each sub-block (t0, t1, t2), the three LayerNorm outputs and stats, q, k, v, attention output
 *    and log-sum-exp of both attentions, the GEGLU input (its output is recomputed); the stream
 *    back in NCHW (proj_out's input); each adapter's down(x);
 *  - Upsample: the upsampled map (the conv's input); out: the GN output and stats;
 *  - every layer's output (the next layer's input), the concatenations, x and context, and the
 *    time embedding's intermediates.
 * In UNET_INFER all of these go to a few buffers shared by every layer (slots), except the skip
 * connections, which must live until they are popped. */
#ifndef TRAINER_PRIVATE_UNET_LAYERS_H
#define TRAINER_PRIVATE_UNET_LAYERS_H
#include <stdio.h>

#include "trainer/unet.h"

typedef enum unet_kind { UNET_CONV_IN, UNET_RES, UNET_ST, UNET_DOWN, UNET_UP, UNET_OUT } unet_kind;

typedef struct unet_res {
    int in_norm_w, in_norm_b, in_conv_w, in_conv_b, emb_w, emb_b;
    int out_norm_w, out_norm_b, out_conv_w, out_conv_b;
    int skip_w, skip_b; /* -1: identity (channels unchanged) */
} unet_res;

typedef struct unet_attn {
    int q, k, v, out_w, out_b;  /* params */
    int lq, lk, lv, lout;       /* LoRA modules, -1 without */
} unet_attn;

/* Saved per transformer block. */
typedef struct unet_tblock_acts {
    tensor t0, t1, t2, t3;          /* residual stream (B, T, C) before attn1, attn2, ff, after */
    tensor l1, l2, l3, s1, s2, s3;  /* LayerNorm outputs and stats */
    tensor q1, k1, v1, o1, lse1;    /* self-attention */
    tensor q2, k2, v2, o2, lse2;    /* cross-attention (k2, v2: (B, Tc, C)) */
    tensor g;                       /* ff.net.0.proj output (B, T, 8C) */
    tensor lh[10];                  /* adapters' down(x): attn1 q k v out, attn2 q k v out, ff0, ff2 */
} unet_tblock_acts;

typedef struct unet_tblock {
    int norm1_w, norm1_b, norm2_w, norm2_b, norm3_w, norm3_b;
    unet_attn attn1, attn2;
    int ff0_w, ff0_b, ff2_w, ff2_b;
    int lff0, lff2;
    unet_tblock_acts a;
} unet_tblock;

typedef struct unet_st {
    int heads, dim_head, depth;
    int norm_w, norm_b, proj_in_w, proj_in_b, proj_out_w, proj_out_b;
    int lproj_in, lproj_out;
    unet_tblock *tb;
} unet_st;

typedef struct unet_layer {
    unet_kind kind;
    char path[40];          /* "input_blocks.4.0", "middle_block.1", "out" */
    int cin, cout;          /* channels in (after a concatenation) and out */
    int cprev;              /* channels of the previous layer's output (= cin unless pop >= 0) */
    int div;                /* downsampling factor of the input (1, 2, 4, ...) */
    int push, pop;          /* skip index pushed after / popped before this layer, or -1 */
    unet_res res;           /* UNET_RES */
    unet_st st;             /* UNET_ST */
    int conv_w, conv_b;     /* UNET_CONV_IN, UNET_DOWN (.op), UNET_UP (.conv), UNET_OUT (out.2) */
    int norm_w, norm_b;     /* UNET_OUT (out.0) */
    /* activations */
    tensor y;               /* output */
    tensor cat;             /* input when pop >= 0: [previous output, skip] */
    tensor h1, s1, h3, h4, s2;  /* ResBlock (h1, s1 also: ST's GN, out's GN) */
    tensor up;              /* Upsample: the nearest-2x map */
    tensor yt;              /* ST: the stream back in NCHW (proj_out's input) */
    tensor lh_in, lh_out;   /* ST: adapters' down(x) of proj_in / proj_out */
} unet_layer;

/* Buffers shared between layers (INFER: everything; TRAIN: temporaries of forward and backward). */
enum {
    SLOT_Y0, SLOT_Y1, SLOT_CAT,
    SLOT_H1, SLOT_S1, SLOT_A, SLOT_H3, SLOT_E, SLOT_H4, SLOT_S2, SLOT_SKIP,
    SLOT_P, SLOT_T, SLOT_L, SLOT_LS, SLOT_Q, SLOT_K, SLOT_V, SLOT_O, SLOT_G, SLOT_F, SLOT_TMP,
    SLOT_YT, SLOT_LH, SLOT_UP,
    /* backward only */
    SLOT_DG0, SLOT_DG1, SLOT_DCAT, SLOT_DA, SLOT_DH, SLOT_DH3, SLOT_DE,
    SLOT_DT, SLOT_DL, SLOT_DQ, SLOT_DK, SLOT_DV, SLOT_DO, SLOT_DG, SLOT_DF, SLOT_DN,
    SLOT_COUNT
};

typedef struct unet_acts {
    int B, H, W, T;
    unet_pass pass;
    bool lora;              /* sized with adapters' buffers */
    bool ready;             /* a UNET_TRAIN forward filled them: the backward may run */
    tensor mem;             /* one allocation for everything below */
    size_t bytes;
    tensor slot[SLOT_COUNT];   /* a shared buffer's base and capacity (1-D) */
    tensor x, context;      /* TRAIN: copies of the inputs (the backward needs them) */
    tensor temb, e1, e1s, emb, emb_s; /* time embedding: sinusoid, Linear, SiLU, Linear, SiLU */
    tensor *dskip;          /* TRAIN: gradient of each skip connection */
    tensor demb_s, demb, de1s, de1;
} unet_acts;

/* ---- unet_acts.c ---- */
/* Sizes (or resizes) u->acts for the input shape and pass; 0 or -1 with err. */
int unet_acts_prepare(unet *u, kctx *k, int B, int H, int W, int T, unet_pass pass, tg_error *err);
void unet_acts_free(unet *u, kctx *k);
/* A view of slot s with the given shape (trailing 0s = fewer dims). */
tensor unet_slot(unet *u, int s, int64_t a, int64_t b, int64_t c, int64_t d);

/* ---- unet_forward.c ---- */
/* The output of the layer that pushed skip connection j. */
const tensor *unet_skip(const unet *u, int j);
/* Shapes of the inputs (eps may be NULL); 0 or -1 with err. */
int unet_inputs_check(const unet *u, const tensor *x, const tensor *context, const tensor *eps, tg_error *err);

/* ---- unet_resblock.c ---- */
int unet_res_forward(unet *u, kctx *k, unet_layer *L, const tensor *x);
int unet_res_backward(unet *u, kctx *k, unet_layer *L, const tensor *x, tensor *dx, const tensor *dy);

/* ---- unet_transformer.c ---- */
int unet_st_forward(unet *u, kctx *k, unet_layer *L, const tensor *x, const tensor *context);
int unet_st_backward(unet *u, kctx *k, unet_layer *L, const tensor *x, const tensor *context,
                     tensor *dx, const tensor *dy, tensor *dcontext);

/* ---- helpers shared by the layer files ---- */
/* Layer code returns -1 as soon as an op fails; the op's reason is in k->msg. */
#define UNET_TRY(expr) do { if ((expr) < 0) return -1; } while (0)
/* A LoRA hook, when the layer carries an adapter. */
#define UNET_LORA_FWD(u, k, m, y, x, h) \
    do { if ((m) >= 0) UNET_TRY(lora_forward((k), (u)->lora, (m), (y), (x), (h))); } while (0)
#define UNET_LORA_BWD(u, k, m, dx, dy, x, h) \
    do { if ((m) >= 0) UNET_TRY(lora_backward((k), (u)->lora, (m), (dx), (dy), (x), (h))); } while (0)

static inline tensor *unet_w(unet *u, int i) { return i >= 0 ? params_w(&u->ps, i) : NULL; }
/* A base weight's gradient, or NULL when frozen or built without gradients. */
static inline tensor *unet_g(unet *u, int i)
{
    return i >= 0 && !u->freeze_base ? params_g(&u->ps, i) : NULL;
}
/* Zeroes a gradient buffer before a backward adds into it; a slot view without memory (which only
 * a sizing bug could give) is refused rather than written. */
static inline int unet_zero(kctx *k, tensor *t)
{
    if (!t->data) {
        snprintf(k->msg, sizeof k->msg, "unet: an activation slot is too small for this layer");
        return -1;
    }
    k_zero(k, t);
    return 0;
}
/* Whether any base weight gradient is wanted. */
static inline bool unet_wants_wgrad(const unet *u) { return !u->freeze_base && u->ps.all_g.data; }

#endif
