/* The SD VAE's module tree (vae.h): parameters named and shaped as in LDM's AutoencoderKL state
 * dict (ldm/modules/diffusionmodules/model.py), in its order: encoder, decoder, quant_conv,
 * post_quant_conv. The decoder's `up` list is built from the last level down and inserted at the
 * front, so `up.N` is resolution level N and `up.{levels-1}` runs first. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trainer/vae.h"

/* Adds parameters under one name prefix; the first failure sticks. */
typedef struct builder {
    params *ps;
    bool failed;
} builder;

static int add(builder *b, int ndim, const int64_t *shape, const char *name, const char *suffix)
{
    int i = params_add(b->ps, ndim, shape, "%s.%s", name, suffix);
    if (i < 0)
        b->failed = true;
    return i;
}

/* Conv2d(in, out, k): weight (out, in, k, k), bias (out). */
static vae_conv conv_add(builder *b, int out, int in, int ksize, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static vae_conv conv_add(builder *b, int out, int in, int ksize, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int64_t w[4] = {out, in, ksize, ksize}, bias[1] = {out};
    vae_conv c;
    c.w = add(b, 4, w, name, "weight");
    c.b = add(b, 1, bias, name, "bias");
    return c;
}

static vae_norm norm_add(builder *b, int ch, const char *name)
{
    int64_t shape[1] = {ch};
    vae_norm n;
    n.w = add(b, 1, shape, name, "weight");
    n.b = add(b, 1, shape, name, "bias");
    return n;
}

/* ResnetBlock(in_channels=cin, out_channels=cout, temb_channels=0): norm1, conv1, norm2, conv2 and
 * a 1x1 nin_shortcut when the channels change (conv_shortcut is False in LDM's VAE). */
static vae_resblock resblock_add(builder *b, int cin, int cout, const char *name)
{
    char sub[160];
    vae_resblock r = {.cin = cin, .cout = cout, .nin_shortcut = {-1, -1}};
    snprintf(sub, sizeof sub, "%s.norm1", name);
    r.norm1 = norm_add(b, cin, sub);
    r.conv1 = conv_add(b, cout, cin, 3, "%s.conv1", name);
    snprintf(sub, sizeof sub, "%s.norm2", name);
    r.norm2 = norm_add(b, cout, sub);
    r.conv2 = conv_add(b, cout, cout, 3, "%s.conv2", name);
    if (cin != cout)
        r.nin_shortcut = conv_add(b, cout, cin, 1, "%s.nin_shortcut", name);
    return r;
}

/* AttnBlock(c): norm, then q, k, v, proj_out as 1x1 convs. */
static vae_attn attn_add(builder *b, int c, const char *name)
{
    char sub[160];
    vae_attn a = {.c = c};
    snprintf(sub, sizeof sub, "%s.norm", name);
    a.norm = norm_add(b, c, sub);
    a.q = conv_add(b, c, c, 1, "%s.q", name);
    a.k = conv_add(b, c, c, 1, "%s.k", name);
    a.v = conv_add(b, c, c, 1, "%s.v", name);
    a.proj_out = conv_add(b, c, c, 1, "%s.proj_out", name);
    return a;
}

static bool attn_at(const vae_config *c, int res)
{
    for (int i = 0; i < c->n_attn_res; i++)
        if (c->attn_resolutions[i] == res)
            return true;
    return false;
}

/* mid.block_1, mid.attn_1, mid.block_2 on ch channels. */
static void mid_add(builder *b, vae_coder *m, int ch, const char *prefix)
{
    char name[160];
    snprintf(name, sizeof name, "%s.mid.block_1", prefix);
    m->mid_block_1 = resblock_add(b, ch, ch, name);
    snprintf(name, sizeof name, "%s.mid.attn_1", prefix);
    m->mid_attn_1 = attn_add(b, ch, name);
    snprintf(name, sizeof name, "%s.mid.block_2", prefix);
    m->mid_block_2 = resblock_add(b, ch, ch, name);
}

/* One level of blocks (with attention after each when has_attn), cin -> cout; returns cout. */
static int level_add(builder *b, vae_level *l, int n_blocks, int cin, int cout, bool has_attn,
                     const char *prefix)
{
    char name[160];
    l->n_blocks = n_blocks;
    l->has_attn = has_attn;
    l->resample = (vae_conv){-1, -1};
    for (int j = 0; j < n_blocks; j++) {
        snprintf(name, sizeof name, "%s.block.%d", prefix, j);
        l->block[j] = resblock_add(b, cin, cout, name);
        cin = cout;
        if (has_attn) {
            snprintf(name, sizeof name, "%s.attn.%d", prefix, j);
            l->attn[j] = attn_add(b, cout, name);
        }
    }
    return cout;
}

/* Encoder: conv_in, down.N (num_res_blocks blocks; downsample but on the last level), mid,
 * norm_out, conv_out to 2 * z_channels. */
static void encoder_add(builder *b, vae_coder *e, const vae_config *c)
{
    const char *p = VAE_PREFIX "encoder";
    char name[160];
    e->conv_in = conv_add(b, c->ch, c->in_channels, 3, "%s.conv_in", p);
    int res = c->resolution, ch = c->ch;
    for (int i = 0; i < c->n_levels; i++) {
        vae_level *l = &e->level[i];
        snprintf(name, sizeof name, "%s.down.%d", p, i);
        ch = level_add(b, l, c->num_res_blocks, ch, c->ch * c->ch_mult[i], attn_at(c, res), name);
        if (i != c->n_levels - 1) {
            l->resample = conv_add(b, ch, ch, 3, "%s.down.%d.downsample.conv", p, i);
            res /= 2;
        }
    }
    mid_add(b, e, ch, p);
    snprintf(name, sizeof name, "%s.norm_out", p);
    e->norm_out = norm_add(b, ch, name);
    e->conv_out = conv_add(b, 2 * c->z_channels, ch, 3, "%s.conv_out", p);
}

/* Decoder: conv_in from z_channels, mid, up.N (num_res_blocks + 1 blocks; upsample but on level 0),
 * norm_out, conv_out. State-dict order is up.0 first, while the channels flow from the last level
 * down, so each level's input width is worked out from its neighbour. */
static void decoder_add(builder *b, vae_coder *d, const vae_config *c)
{
    const char *p = VAE_PREFIX "decoder";
    char name[160];
    int n = c->n_levels, top = c->ch * c->ch_mult[n - 1];
    d->conv_in = conv_add(b, top, c->z_channels, 3, "%s.conv_in", p);
    mid_add(b, d, top, p);
    for (int i = 0; i < n; i++) {
        vae_level *l = &d->level[i];
        int cin = i == n - 1 ? top : c->ch * c->ch_mult[i + 1], cout = c->ch * c->ch_mult[i];
        int res = (c->resolution >> (n - 1)) << (n - 1 - i); /* LDM: res // 2**(n-1), doubled per level */
        snprintf(name, sizeof name, "%s.up.%d", p, i);
        level_add(b, l, c->num_res_blocks + 1, cin, cout, attn_at(c, res), name);
        if (i != 0)
            l->resample = conv_add(b, cout, cout, 3, "%s.up.%d.upsample.conv", p, i);
    }
    snprintf(name, sizeof name, "%s.norm_out", p);
    d->norm_out = norm_add(b, c->ch * c->ch_mult[0], name);
    d->conv_out = conv_add(b, c->out_ch, c->ch * c->ch_mult[0], 3, "%s.conv_out", p);
}

int vae_build(vae *m, kctx *k, const vae_config *c, tg_error *err)
{
    memset(m, 0, sizeof *m);
    params_init(&m->ps);
    if (vae_config_check(c, err))
        return -1;
    m->cfg = *c;
    builder b = {&m->ps, false};
    encoder_add(&b, &m->enc, c);
    decoder_add(&b, &m->dec, c);
    m->quant_conv = conv_add(&b, 2 * c->embed_dim, 2 * c->z_channels, 1, VAE_PREFIX "quant_conv");
    m->post_quant_conv = conv_add(&b, c->z_channels, c->embed_dim, 1, VAE_PREFIX "post_quant_conv");
    if (b.failed) {
        params_free(&m->ps, k);
        return error_set(err, "VAE parameters: out of memory");
    }
    if (params_alloc(&m->ps, k, false, err)) {
        params_free(&m->ps, k);
        return -1;
    }
    k_zero(k, &m->ps.all_w);
    return 0;
}

void vae_release(vae *m, kctx *k)
{
    for (int s = 0; s < VAE_SLOTS; s++)
        if (m->slot[s].data)
            k_tensor_free(k, &m->slot[s]);
    if (m->stats.data)
        k_tensor_free(k, &m->stats);
    memset(m->slot, 0, sizeof m->slot);
    memset(m->slot_floats, 0, sizeof m->slot_floats);
    memset(&m->stats, 0, sizeof m->stats);
    m->stats_floats = 0;
}

size_t vae_acts_bytes(const vae *m)
{
    size_t n = m->stats_floats;
    for (int s = 0; s < VAE_SLOTS; s++)
        n += m->slot_floats[s];
    return n * sizeof(float);
}

void vae_free(vae *m, kctx *k)
{
    vae_release(m, k);
    params_free(&m->ps, k);
    memset(m, 0, sizeof *m);
}
