/* The SD VAE (trainer/vae.h): the sd15 key set and count against a list generated here from LDM's
 * module tree, config refusals, a micro model's encode and decode against a naive reference in
 * double written here from LDM's model.py (own loops: convolution with asymmetric padding, group
 * norm, softmax attention, nearest upsampling), the Downsample pad on a hand-checked input, the
 * posterior, determinism and a save/load round trip. */
#include "trainer/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/gradcheck.h"
#include "trainer/private/vae_run.h"

static kctx K;

/* ---- the expected key list, from LDM's Encoder/Decoder/AutoencoderKL __init__ ---- */

typedef struct key_list {
    char name[512][160];
    int64_t shape[512][4];
    int ndim[512];
    int n;
    long long numel;
} key_list;

static void key_add(key_list *l, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int i = l->n++;
    snprintf(l->name[i], 160, "%s", name);
    int64_t s[4] = {a, b, c, d};
    long long n = 1;
    for (int k = 0; k < ndim; k++)
        n *= s[k];
    memcpy(l->shape[i], s, sizeof s);
    l->ndim[i] = ndim;
    l->numel += n;
}

static void kconv(key_list *l, const char *base, int o, int i, int ks)
{
    char n[160];
    snprintf(n, sizeof n, "%s.weight", base);
    key_add(l, n, 4, o, i, ks, ks);
    snprintf(n, sizeof n, "%s.bias", base);
    key_add(l, n, 1, o, 0, 0, 0);
}

static void knorm(key_list *l, const char *base, int c)
{
    char n[160];
    snprintf(n, sizeof n, "%s.weight", base);
    key_add(l, n, 1, c, 0, 0, 0);
    snprintf(n, sizeof n, "%s.bias", base);
    key_add(l, n, 1, c, 0, 0, 0);
}

static void kres(key_list *l, const char *base, int ci, int co)
{
    char n[160];
    snprintf(n, sizeof n, "%s.norm1", base), knorm(l, n, ci);
    snprintf(n, sizeof n, "%s.conv1", base), kconv(l, n, co, ci, 3);
    snprintf(n, sizeof n, "%s.norm2", base), knorm(l, n, co);
    snprintf(n, sizeof n, "%s.conv2", base), kconv(l, n, co, co, 3);
    if (ci != co)
        snprintf(n, sizeof n, "%s.nin_shortcut", base), kconv(l, n, co, ci, 1);
}

static void kattn(key_list *l, const char *base, int c)
{
    static const char *const P[] = {"q", "k", "v", "proj_out"};
    char n[160];
    snprintf(n, sizeof n, "%s.norm", base), knorm(l, n, c);
    for (int i = 0; i < 4; i++)
        snprintf(n, sizeof n, "%s.%s", base, P[i]), kconv(l, n, c, c, 1);
}

static bool in_list(const int *v, int n, int x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static void keys_expected(key_list *l, const vae_config *c)
{
    char n[160];
    const char *E = "first_stage_model.encoder", *D = "first_stage_model.decoder";
    int L = c->n_levels, in_mult[VAE_MAX_LEVELS + 1] = {1}, res = c->resolution, bi = 0;
    memcpy(in_mult + 1, c->ch_mult, sizeof(int) * L);
    l->n = 0, l->numel = 0;
    snprintf(n, sizeof n, "%s.conv_in", E), kconv(l, n, c->ch, c->in_channels, 3);
    for (int i = 0; i < L; i++) {
        bi = c->ch * in_mult[i];
        int bo = c->ch * c->ch_mult[i];
        for (int j = 0; j < c->num_res_blocks; j++) {
            snprintf(n, sizeof n, "%s.down.%d.block.%d", E, i, j), kres(l, n, bi, bo);
            bi = bo;
            if (in_list(c->attn_resolutions, c->n_attn_res, res))
                snprintf(n, sizeof n, "%s.down.%d.attn.%d", E, i, j), kattn(l, n, bi);
        }
        if (i != L - 1)
            snprintf(n, sizeof n, "%s.down.%d.downsample.conv", E, i), kconv(l, n, bi, bi, 3), res /= 2;
    }
    snprintf(n, sizeof n, "%s.mid.block_1", E), kres(l, n, bi, bi);
    snprintf(n, sizeof n, "%s.mid.attn_1", E), kattn(l, n, bi);
    snprintf(n, sizeof n, "%s.mid.block_2", E), kres(l, n, bi, bi);
    snprintf(n, sizeof n, "%s.norm_out", E), knorm(l, n, bi);
    snprintf(n, sizeof n, "%s.conv_out", E), kconv(l, n, 2 * c->z_channels, bi, 3);
    bi = c->ch * c->ch_mult[L - 1];
    res = c->resolution / (1 << (L - 1));
    snprintf(n, sizeof n, "%s.conv_in", D), kconv(l, n, bi, c->z_channels, 3);
    snprintf(n, sizeof n, "%s.mid.block_1", D), kres(l, n, bi, bi);
    snprintf(n, sizeof n, "%s.mid.attn_1", D), kattn(l, n, bi);
    snprintf(n, sizeof n, "%s.mid.block_2", D), kres(l, n, bi, bi);
    for (int i = L - 1; i >= 0; i--) {
        int bo = c->ch * c->ch_mult[i];
        for (int j = 0; j < c->num_res_blocks + 1; j++) {
            snprintf(n, sizeof n, "%s.up.%d.block.%d", D, i, j), kres(l, n, bi, bo);
            bi = bo;
            if (in_list(c->attn_resolutions, c->n_attn_res, res))
                snprintf(n, sizeof n, "%s.up.%d.attn.%d", D, i, j), kattn(l, n, bi);
        }
        if (i != 0)
            snprintf(n, sizeof n, "%s.up.%d.upsample.conv", D, i), kconv(l, n, bi, bi, 3), res *= 2;
    }
    snprintf(n, sizeof n, "%s.norm_out", D), knorm(l, n, bi);
    snprintf(n, sizeof n, "%s.conv_out", D), kconv(l, n, c->out_ch, bi, 3);
    kconv(l, "first_stage_model.quant_conv", 2 * c->embed_dim, 2 * c->z_channels, 1);
    kconv(l, "first_stage_model.post_quant_conv", c->z_channels, c->embed_dim, 1);
}

/* Every expected key is a parameter of the same shape, and nothing else is. */
static bool keys_match(const vae *m, const key_list *l)
{
    bool ok = (long)m->ps.n == l->n && (long long)params_count(&m->ps) == l->numel;
    for (int i = 0; i < l->n; i++) {
        long p = params_find(&m->ps, l->name[i]);
        bool same = p >= 0 && m->ps.p[p].ndim == l->ndim[i] &&
                    !memcmp(m->ps.p[p].shape, l->shape[i], sizeof(int64_t) * l->ndim[i]);
        if (!same)
            fprintf(stderr, "  key %s: %s\n", l->name[i], p < 0 ? "missing" : "wrong shape");
        ok = ok && same;
    }
    return ok;
}

static void test_sd15_keys(void)
{
    static key_list l;
    vae_config c;
    tg_error err = {{0}};
    vae m;
    CHECK(vae_config_builtin(&c, "sd15", &err) == 0);
    keys_expected(&l, &c);
    CHECK_INT(l.n, 248);
    CHECK_INT(l.numel, 83653863);
    CHECK(vae_build(&m, &K, &c, &err) == 0);
    CHECK_INT(params_count(&m.ps), 83653863);
    CHECK(keys_match(&m, &l));
    CHECK(params_find(&m.ps, "first_stage_model.decoder.up.3.block.0.conv1.weight") >= 0);
    CHECK(params_find(&m.ps, "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight") >= 0);
    CHECK(params_find(&m.ps, "first_stage_model.decoder.up.0.upsample.conv.weight") < 0);
    vae_free(&m, &K);
    CHECK(vae_config_builtin(&c, "tiny", &err) == 0);
    keys_expected(&l, &c);
    CHECK(vae_build(&m, &K, &c, &err) == 0);
    CHECK_INT(params_count(&m.ps), 658375);
    CHECK(keys_match(&m, &l));
    vae_free(&m, &K);
}

/* ---- configs ---- */

static int parse(vae_config *c, const char *text, tg_error *err)
{
    cJSON *j = cJSON_Parse(text);
    int rc = j ? vae_config_from_json(c, j, err) : -2;
    cJSON_Delete(j);
    return rc;
}

#define DD_SD15 "\"double_z\": true, \"z_channels\": 4, \"resolution\": 256, \"in_channels\": 3, " \
                "\"out_ch\": 3, \"ch\": 128, \"ch_mult\": [1, 2, 4, 4], \"num_res_blocks\": 2, " \
                "\"attn_resolutions\": [], \"dropout\": 0.0"

static void test_config_json(void)
{
    vae_config a, b;
    tg_error err = {{0}};
    CHECK(vae_config_builtin(&b, "sd15", &err) == 0);
    const char *yaml = "{\"target\": \"ldm.models.autoencoder.AutoencoderKL\", \"params\": {\"embed_dim\": 4, "
                       "\"monitor\": \"val/rec_loss\", \"ddconfig\": {" DD_SD15 "}, "
                       "\"lossconfig\": {\"target\": \"torch.nn.Identity\"}}}";
    CHECK(parse(&a, yaml, &err) == 0);
    cJSON *ja = vae_config_to_json(&a), *jb = vae_config_to_json(&b);
    char *sa = cJSON_PrintUnformatted(ja), *sb = cJSON_PrintUnformatted(jb);
    CHECK_STR(sa, sb);
    vae_config c; /* the to_json output reads back */
    CHECK(vae_config_from_json(&c, jb, &err) == 0);
    cJSON *jc = vae_config_to_json(&c);
    char *sc = cJSON_PrintUnformatted(jc);
    CHECK_STR(sc, sb);
    free(sa), free(sb), free(sc);
    cJSON_Delete(ja), cJSON_Delete(jb), cJSON_Delete(jc);
    CHECK(parse(&a, "{\"embed_dim\": 4, \"ddconfig\": {" DD_SD15 ", \"resamp_with_conv\": true, "
                    "\"attn_type\": \"vanilla\", \"tanh_out\": false}}", &err) == 0);
    CHECK_INT(a.norm_num_groups, 32);
    CHECK(parse(&a, "{\"embed_dim\": 4, \"ddconfig\": {\"z_channels\": 4, \"resolution\": 256, "
                    "\"in_channels\": 3, \"out_ch\": 3, \"ch\": 128, \"num_res_blocks\": 2, "
                    "\"attn_resolutions\": []}}", &err) == 0);
    CHECK_INT(a.n_levels, 4); /* LDM's default ch_mult (1, 2, 4, 8) */
    CHECK_INT(a.ch_mult[3], 8);
    CHECK(vae_config_builtin(&a, "sd21", &err) < 0 && strstr(err.msg, "sd15, tiny"));
}

static void test_config_refusals(void)
{
    static const struct { const char *dd, *top, *want; } CASES[] = {
        {", \"ch\": 80", NULL, "ddconfig.norm_num_groups: 32 groups do not divide ch = 80"},
        {", \"norm_num_groups\": 24", NULL, "ddconfig.norm_num_groups: 24 groups do not divide ch = 128"},
        {", \"double_z\": false", NULL, "ddconfig.double_z: must be true"},
        {", \"ch\": \"128\"", NULL, "ddconfig.ch: must be an integer"},
        {", \"ch\": 1.5", NULL, "ddconfig.ch: must be an integer"},
        {", \"z_channels\": 0", NULL, "ddconfig.z_channels: must be >= 1"},
        {", \"ch_mult\": []", NULL, "ddconfig.ch_mult: needs 1 to 8 levels"},
        {", \"ch_mult\": [1, 0]", NULL, "ddconfig.ch_mult[1]: must be >= 1"},
        {", \"ch_mult\": [1, \"2\"]", NULL, "ddconfig.ch_mult[1]: must be an integer"},
        {", \"num_res_blocks\": 0", NULL, "ddconfig.num_res_blocks: must be 1 to 8"},
        {", \"attn_resolutions\": 32", NULL, "ddconfig.attn_resolutions: must be a list"},
        {", \"dropout\": 1.0", NULL, "ddconfig.dropout: must be in [0, 1)"},
        {", \"tanh_out\": true", NULL, "ddconfig.tanh_out: only false"},
        {", \"attn_type\": \"linear\"", NULL, "ddconfig.attn_type: only \"vanilla\""},
        {", \"use_checkpoint\": true", NULL, "ddconfig.use_checkpoint: unknown key"},
        {"", ", \"embed_dim\": 0", "embed_dim: must be >= 1"},
        {"", ", \"scale_factor\": 0.18215", "scale_factor: unknown key"},
    };
    char text[1024];
    tg_error err = {{0}};
    vae_config c;
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        /* later duplicates win in a cJSON object walk: the case's value overrides the base */
        snprintf(text, sizeof text, "{\"embed_dim\": 4%s, \"ddconfig\": {" DD_SD15 "%s}}",
                 CASES[i].top ? CASES[i].top : "", CASES[i].dd);
        err.msg[0] = '\0';
        int rc = parse(&c, text, &err);
        if (rc != -1 || !strstr(err.msg, CASES[i].want))
            fprintf(stderr, "  case %zu: rc %d, \"%s\", expected \"%s\"\n", i, rc, err.msg, CASES[i].want);
        CHECK(rc == -1 && strstr(err.msg, CASES[i].want));
    }
    CHECK(parse(&c, "{\"embed_dim\": 4}", &err) == -1 && strstr(err.msg, "ddconfig: missing"));
    CHECK(parse(&c, "{\"embed_dim\": 4, \"ddconfig\": {\"ch\": 128, \"out_ch\": 3, \"num_res_blocks\": 2, "
                    "\"attn_resolutions\": [], \"in_channels\": 3, \"resolution\": 256}}", &err) == -1 &&
          strstr(err.msg, "ddconfig.z_channels: missing"));
    CHECK(parse(&c, "{\"target\": \"ldm.models.autoencoder.VQModel\", \"params\": {}}", &err) == -1 &&
          strstr(err.msg, "target: must name"));
    CHECK(parse(&c, "[1]", &err) == -1);
    CHECK(vae_config_load(&c, "/nonexistent/vae.json", &err) == -1 && strstr(err.msg, "/nonexistent/vae.json"));
    int64_t h, w;
    CHECK(vae_config_builtin(&c, "sd15", &err) == 0);
    CHECK(vae_latent_size(&c, 512, 768, &h, &w, &err) == 0 && h == 64 && w == 96);
    CHECK(vae_latent_size(&c, 9, 17, &h, &w, &err) == 0 && h == 1 && w == 2);
    CHECK(vae_latent_size(&c, 7, 64, &h, &w, &err) == -1 && strstr(err.msg, "too small"));
}

/* ---- the naive reference, in double ---- */

typedef struct fm {
    int B, C, H, W;
    double *d;
} fm;

static fm fm_new(int B, int C, int H, int W)
{
    fm f = {B, C, H, W, calloc((size_t)B * C * H * W, sizeof(double))};
    return f;
}

#define AT(f, b, c, y, x) (f).d[(((size_t)(b) * (f).C + (c)) * (f).H + (y)) * (f).W + (x)]

static vae *REF_M;
static float *REF_W; /* the host copy of every weight */

static const float *wref(const char *base, const char *suffix, const param **p)
{
    char n[200];
    snprintf(n, sizeof n, "%s.%s", base, suffix);
    long i = params_find(&REF_M->ps, n);
    if (i < 0) {
        fprintf(stderr, "  reference: no weight %s\n", n);
        exit(1);
    }
    if (p)
        *p = &REF_M->ps.p[i];
    return REF_W + REF_M->ps.p[i].offset;
}

/* Conv2d with separate top/left/bottom/right zero padding (F.pad semantics), then stride. */
static fm conv_ref(fm x, const char *base, int stride, int pt, int pl, int pb, int pr)
{
    const param *p;
    const float *w = wref(base, "weight", &p), *bias = wref(base, "bias", NULL);
    int O = (int)p->shape[0], ks = (int)p->shape[2];
    fm y = fm_new(x.B, O, (x.H + pt + pb - ks) / stride + 1, (x.W + pl + pr - ks) / stride + 1);
    for (int b = 0; b < x.B; b++)
        for (int o = 0; o < O; o++)
            for (int oy = 0; oy < y.H; oy++)
                for (int ox = 0; ox < y.W; ox++) {
                    double s = bias[o];
                    for (int c = 0; c < x.C; c++)
                        for (int i = 0; i < ks; i++)
                            for (int j = 0; j < ks; j++) {
                                int iy = oy * stride + i - pt, ix = ox * stride + j - pl;
                                if (iy >= 0 && iy < x.H && ix >= 0 && ix < x.W)
                                    s += w[((o * x.C + c) * ks + i) * ks + j] * AT(x, b, c, iy, ix);
                            }
                    AT(y, b, o, oy, ox) = s;
                }
    return y;
}

static fm conv_same(fm x, const char *base)
{
    const param *p;
    wref(base, "weight", &p);
    int pad = (int)p->shape[2] / 2;
    return conv_ref(x, base, 1, pad, pad, pad, pad);
}

static fm gn_ref(fm x, const char *base, int groups, bool silu)
{
    const float *g = wref(base, "weight", NULL), *be = wref(base, "bias", NULL);
    fm y = fm_new(x.B, x.C, x.H, x.W);
    int cg = x.C / groups, S = x.H * x.W;
    for (int b = 0; b < x.B; b++)
        for (int gi = 0; gi < groups; gi++) {
            double m = 0, v = 0, *s = &AT(x, b, gi * cg, 0, 0);
            for (int i = 0; i < cg * S; i++)
                m += s[i];
            m /= cg * S;
            for (int i = 0; i < cg * S; i++)
                v += (s[i] - m) * (s[i] - m);
            double r = 1 / sqrt(v / (cg * S) + 1e-6);
            for (int i = 0; i < cg * S; i++) {
                int c = gi * cg + i / S;
                double t = (s[i] - m) * r * g[c] + be[c];
                (&AT(y, b, gi * cg, 0, 0))[i] = silu ? t / (1 + exp(-t)) : t;
            }
        }
    return y;
}

static void fm_add_free(fm *acc, fm x) /* acc += x; frees x */
{
    for (size_t i = 0; i < (size_t)x.B * x.C * x.H * x.W; i++)
        acc->d[i] += x.d[i];
    free(x.d);
}

static int GROUPS;

static fm res_ref(fm x, const char *base)
{
    char n[200];
    snprintf(n, sizeof n, "%s.norm1", base);
    fm h = gn_ref(x, n, GROUPS, true), t;
    snprintf(n, sizeof n, "%s.conv1", base);
    t = conv_same(h, n), free(h.d);
    snprintf(n, sizeof n, "%s.norm2", base);
    h = gn_ref(t, n, GROUPS, true), free(t.d);
    snprintf(n, sizeof n, "%s.conv2", base);
    t = conv_same(h, n), free(h.d);
    snprintf(n, sizeof n, "%s.nin_shortcut.weight", base);
    if (params_find(&REF_M->ps, n) >= 0) {
        snprintf(n, sizeof n, "%s.nin_shortcut", base);
        fm_add_free(&t, conv_same(x, n));
        free(x.d);
    } else {
        fm_add_free(&t, (fm){x.B, x.C, x.H, x.W, x.d});
    }
    return t; /* x is consumed */
}

/* AttnBlock: w_ = softmax(q^T k * C^-0.5) over keys, h = v w_^T, proj_out, + x. */
static fm attn_ref(fm x, const char *base)
{
    char n[200];
    snprintf(n, sizeof n, "%s.norm", base);
    fm h = gn_ref(x, n, GROUPS, false), q, k, v;
    snprintf(n, sizeof n, "%s.q", base), q = conv_same(h, n);
    snprintf(n, sizeof n, "%s.k", base), k = conv_same(h, n);
    snprintf(n, sizeof n, "%s.v", base), v = conv_same(h, n);
    int T = x.H * x.W, C = x.C;
    double *p = malloc(sizeof *p * T);
    for (int b = 0; b < x.B; b++)
        for (int i = 0; i < T; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < T; j++) {
                double s = 0;
                for (int c = 0; c < C; c++)
                    s += AT(q, b, c, 0, i) * AT(k, b, c, 0, j);
                p[j] = s * pow(C, -0.5);
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j < T; j++)
                sum += p[j] = exp(p[j] - mx);
            for (int c = 0; c < C; c++) {
                double o = 0;
                for (int j = 0; j < T; j++)
                    o += AT(v, b, c, 0, j) * p[j] / sum;
                AT(h, b, c, 0, i) = o;
            }
        }
    free(p), free(q.d), free(k.d), free(v.d);
    snprintf(n, sizeof n, "%s.proj_out", base);
    fm out = conv_same(h, n);
    free(h.d);
    fm_add_free(&out, x);
    return out;
}

static fm upsample_ref(fm x)
{
    fm y = fm_new(x.B, x.C, 2 * x.H, 2 * x.W);
    for (int b = 0; b < x.B; b++)
        for (int c = 0; c < x.C; c++)
            for (int i = 0; i < y.H; i++)
                for (int j = 0; j < y.W; j++)
                    AT(y, b, c, i, j) = AT(x, b, c, i / 2, j / 2);
    free(x.d);
    return y;
}

static fm swap(fm old, fm new_) { free(old.d); return new_; }

/* LDM Encoder.forward + quant_conv; attention placement from the config resolution. */
static fm encoder_ref(fm x, const vae_config *c)
{
    char n[200];
    const char *E = "first_stage_model.encoder";
    int res = c->resolution;
    x = conv_same(x, "first_stage_model.encoder.conv_in"); /* the caller keeps the input */
    for (int i = 0; i < c->n_levels; i++) {
        for (int j = 0; j < c->num_res_blocks; j++) {
            snprintf(n, sizeof n, "%s.down.%d.block.%d", E, i, j), x = res_ref(x, n);
            if (in_list(c->attn_resolutions, c->n_attn_res, res))
                snprintf(n, sizeof n, "%s.down.%d.attn.%d", E, i, j), x = attn_ref(x, n);
        }
        if (i != c->n_levels - 1) {
            snprintf(n, sizeof n, "%s.down.%d.downsample.conv", E, i);
            x = swap(x, conv_ref(x, n, 2, 0, 0, 1, 1)); /* F.pad (0, 1, 0, 1) */
            res /= 2;
        }
    }
    x = res_ref(x, "first_stage_model.encoder.mid.block_1");
    x = attn_ref(x, "first_stage_model.encoder.mid.attn_1");
    x = res_ref(x, "first_stage_model.encoder.mid.block_2");
    x = swap(x, gn_ref(x, "first_stage_model.encoder.norm_out", GROUPS, true));
    x = swap(x, conv_same(x, "first_stage_model.encoder.conv_out"));
    return swap(x, conv_same(x, "first_stage_model.quant_conv"));
}

static fm decoder_ref(fm z, const vae_config *c)
{
    char n[200];
    const char *D = "first_stage_model.decoder";
    int res = c->resolution / (1 << (c->n_levels - 1));
    fm x = conv_same(z, "first_stage_model.post_quant_conv");
    x = swap(x, conv_same(x, "first_stage_model.decoder.conv_in"));
    x = res_ref(x, "first_stage_model.decoder.mid.block_1");
    x = attn_ref(x, "first_stage_model.decoder.mid.attn_1");
    x = res_ref(x, "first_stage_model.decoder.mid.block_2");
    for (int i = c->n_levels - 1; i >= 0; i--) {
        for (int j = 0; j < c->num_res_blocks + 1; j++) {
            snprintf(n, sizeof n, "%s.up.%d.block.%d", D, i, j), x = res_ref(x, n);
            if (in_list(c->attn_resolutions, c->n_attn_res, res))
                snprintf(n, sizeof n, "%s.up.%d.attn.%d", D, i, j), x = attn_ref(x, n);
        }
        if (i != 0) {
            snprintf(n, sizeof n, "%s.up.%d.upsample.conv", D, i);
            x = upsample_ref(x);
            x = swap(x, conv_same(x, n));
            res *= 2;
        }
    }
    x = swap(x, gn_ref(x, "first_stage_model.decoder.norm_out", GROUPS, true));
    return swap(x, conv_same(x, "first_stage_model.decoder.conv_out"));
}

/* ---- the model against the reference ---- */

/* ch_mult [1, 2, 2]: a width change (nin_shortcut) and a level without one, two Downsamples and
 * Upsamples; attention at config resolutions 8 and 2 (encoder down.0 and down.2, decoder up.0 and
 * up.2, whose indices the decoder reverses); embed_dim != z_channels; groups of 4. */
static const char *MICRO =
    "{\"embed_dim\": 3, \"ddconfig\": {\"double_z\": true, \"z_channels\": 2, \"resolution\": 8, "
    "\"in_channels\": 3, \"out_ch\": 2, \"ch\": 8, \"ch_mult\": [1, 2, 2], \"num_res_blocks\": 1, "
    "\"attn_resolutions\": [8, 2], \"dropout\": 0.0, \"norm_num_groups\": 4}}";

/* Weights in PyTorch's default ranges (U(+-1/sqrt(fan_in))), norms around 1 and 0, so that the
 * activations stay O(1) through every layer. */
static void weights_fill(vae *m, uint64_t seed)
{
    float *h = malloc(sizeof *h * params_count(&m->ps));
    for (size_t i = 0; i < m->ps.n; i++) {
        param *p = &m->ps.p[i];
        size_t n = tensor_numel(&p->w), fan = p->ndim == 4 ? (size_t)(p->shape[1] * p->shape[2] * p->shape[3]) : 0;
        bool norm = strstr(p->name, "norm") != NULL, weight = strstr(p->name, ".weight") != NULL;
        float r = fan ? 1.0f / sqrtf((float)fan) : 0.5f;
        if (norm && weight)
            gc_fill(h + p->offset, n, &seed, 0.5f, 1.5f);
        else if (!fan && !norm) /* a conv bias: the weight's fan-in is not at hand; small */
            gc_fill(h + p->offset, n, &seed, -0.2f, 0.2f);
        else
            gc_fill(h + p->offset, n, &seed, -r, r);
    }
    k_upload(&K, &m->ps.all_w, h);
    free(h);
}

static bool close_to(const char *what, const float *got, const fm *want, double tol)
{
    size_t n = (size_t)want->B * want->C * want->H * want->W;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want->d[i]) / (1 + fabs(want->d[i]));
        if (!(e <= tol)) {
            fprintf(stderr, "  %s: element %zu is %.8g, expected %.8g\n", what, i, got[i], want->d[i]);
            return false;
        }
        worst = e > worst ? e : worst;
    }
    printf("  %s: %zu values, worst relative error %.2g\n", what, n, worst);
    return true;
}

static tensor tens(int64_t a, int64_t b, int64_t c, int64_t d, const float *host)
{
    tensor t = k_tensor4(&K, a, b, c, d);
    if (host)
        k_upload(&K, &t, host);
    return t;
}

static float *fill_new(size_t n, uint64_t *seed, float lo, float hi)
{
    float *h = malloc(sizeof *h * n);
    gc_fill(h, n, seed, lo, hi);
    return h;
}

static fm fm_of(const float *h, int B, int C, int H, int W)
{
    fm f = fm_new(B, C, H, W);
    for (size_t i = 0; i < (size_t)B * C * H * W; i++)
        f.d[i] = h[i];
    return f;
}

static void test_micro_forward(void)
{
    vae_config c;
    tg_error err = {{0}};
    vae m;
    CHECK(parse(&c, MICRO, &err) == 0);
    CHECK(vae_build(&m, &K, &c, &err) == 0);
    weights_fill(&m, 7);
    REF_M = &m, GROUPS = c.norm_num_groups;
    REF_W = malloc(sizeof(float) * params_count(&m.ps));
    k_download(&K, &m.ps.all_w, REF_W);
    uint64_t seed = 11;
    /* encode an odd, non-square 7x10 image: 7x10 -> 3x5 -> 1x2 */
    float *img = fill_new(2 * 3 * 7 * 10, &seed, -1, 1), *mo = malloc(sizeof(float) * 2 * 6 * 1 * 2);
    tensor ti = tens(2, 3, 7, 10, img), tm = tens(2, 6, 1, 2, NULL);
    CHECK(vae_encode(&m, &K, &tm, &ti, &err) == 0);
    k_download(&K, &tm, mo);
    fm x = fm_of(img, 2, 3, 7, 10), want = encoder_ref(x, &c);
    CHECK(want.H == 1 && want.W == 2);
    CHECK(close_to("moments", mo, &want, 2e-5));
    free(want.d), free(x.d);
    /* decode a 2x3 latent -> 8x12 */
    float *lat = fill_new(2 * 3 * 2 * 3, &seed, -2, 2), *out = malloc(sizeof(float) * 2 * 2 * 8 * 12);
    tensor tl = tens(2, 3, 2, 3, lat), to = tens(2, 2, 8, 12, NULL);
    CHECK(vae_decode(&m, &K, &to, &tl, &err) == 0);
    k_download(&K, &to, out);
    x = fm_of(lat, 2, 3, 2, 3), want = decoder_ref(x, &c);
    CHECK(close_to("decoded", out, &want, 2e-5));
    free(want.d), free(x.d);
    /* shapes the model refuses */
    tensor bad = tens(2, 6, 2, 2, NULL);
    CHECK(vae_encode(&m, &K, &bad, &ti, &err) == -1 && strstr(err.msg, "moments must be (2, 6, 1, 2)"));
    CHECK(vae_decode(&m, &K, &bad, &tl, &err) == -1 && strstr(err.msg, "image must be (2, 2, 8, 12)"));
    k_tensor_free(&K, &bad);
    tensor tiny_img = tens(1, 3, 3, 9, NULL), tiny_mo = tens(1, 6, 0, 0, NULL);
    CHECK(vae_encode(&m, &K, &tiny_mo, &tiny_img, &err) == -1 && strstr(err.msg, "too small"));
    k_tensor_free(&K, &tiny_img), k_tensor_free(&K, &tiny_mo);
    k_tensor_free(&K, &ti), k_tensor_free(&K, &tm), k_tensor_free(&K, &tl), k_tensor_free(&K, &to);
    free(img), free(mo), free(lat), free(out), free(REF_W);
    vae_free(&m, &K);
}

/* Downsample on one channel, weights picking a single tap: tap (2, 2) reads x[2o+2][2p+2], which
 * on the last output row or column is the zero pad that F.pad(x, (0, 1, 0, 1)) adds (a symmetric
 * pad of 1 would read x[2o+1] there, and shift every output); tap (0, 0) reads x[2o][2p]. Odd
 * sizes floor: 5 -> 2, 4 -> 2. The other slots hold stale values that must not leak into the pad. */
static void test_downsample_pad(void)
{
    vae_config c;
    tg_error err = {{0}};
    vae m;
    CHECK(parse(&c, "{\"embed_dim\": 1, \"ddconfig\": {\"z_channels\": 1, \"resolution\": 4, "
                    "\"in_channels\": 1, \"out_ch\": 1, \"ch\": 1, \"ch_mult\": [1, 1], "
                    "\"num_res_blocks\": 1, \"attn_resolutions\": [], \"norm_num_groups\": 1}}", &err) == 0);
    CHECK(vae_build(&m, &K, &c, &err) == 0);
    const vae_conv *conv = &m.enc.level[0].resample;
    static const int SHAPES[2][2] = {{5, 4}, {4, 5}};
    static const float WANT[2][2][4] = { /* [shape][tap][o * 2 + p] */
        {{1, 3, 9, 11}, {11, 0, 19, 0}},  /* 5x4: x[r][c] = 4r + c + 1; column 4 is the pad */
        {{1, 3, 11, 13}, {13, 15, 0, 0}}, /* 4x5: x[r][c] = 5r + c + 1; row 4 is the pad */
    };
    float xh[20], stale[64], y[4];
    for (int i = 0; i < 64; i++)
        stale[i] = 99;
    for (int i = 0; i < 20; i++)
        xh[i] = (float)(i + 1);
    for (int sh = 0; sh < 2; sh++)
        for (int tap = 0; tap < 2; tap++) {
            float w[9] = {0}, b = 0.5f;
            w[tap ? 8 : 0] = 1;
            k_upload(&K, params_w(&m.ps, conv->w), w);
            k_upload(&K, params_w(&m.ps, conv->b), &b);
            for (int s = 0; s < VAE_SLOTS; s++) {
                m.slot[s] = tens(64, 0, 0, 0, stale);
                m.slot_floats[s] = 64;
            }
            m.stats = tens(2, 0, 0, 0, NULL), m.stats_floats = 2;
            vae_run r = {.m = &m, .k = &K, .err = &err, .B = 1};
            vae_fm x = {0, 1, SHAPES[sh][0], SHAPES[sh][1]};
            tensor in, out;
            CHECK(vae_view4(&r, 0, 1, x.H, x.W, &in) == 0);
            k_upload(&K, &in, xh);
            CHECK(vae_downsample_forward(&r, conv, &x) == 0);
            CHECK(x.H == 2 && x.W == 2);
            CHECK(vae_view4(&r, x.slot, 1, 2, 2, &out) == 0);
            k_download(&K, &out, y);
            for (int i = 0; i < 4; i++)
                CHECK_NEAR(y[i], WANT[sh][tap][i] + 0.5f, 0);
            vae_release(&m, &K);
        }
    vae_free(&m, &K);
}

static void test_posterior(void)
{
    float mo[2 * 4] = {1, 2, -1, 0, /* item 0: mean (1, 2), logvar (-1, 0) */
                       3, 4, -40, 25}; /* item 1: logvar clamped to -30 and 20 */
    float noise[4] = {0.5f, -1, 2, 1}, mean[4], lv[4], sd[4], z[4];
    tensor tm = tens(2, 4, 1, 1, mo), tn = tens(2, 2, 1, 1, noise), a = tens(2, 2, 1, 1, NULL),
           b = tens(2, 2, 1, 1, NULL), s = tens(2, 2, 1, 1, NULL), tz = tens(2, 2, 1, 1, NULL);
    tg_error err = {{0}};
    CHECK(vae_posterior(&K, &tm, &tn, &a, &b, &s, &tz, &err) == 0);
    k_download(&K, &a, mean), k_download(&K, &b, lv), k_download(&K, &s, sd), k_download(&K, &tz, z);
    float wl[4] = {-1, 0, -30, 20};
    float wm[4] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(mean[i], wm[i], 0);
        CHECK_NEAR(lv[i], wl[i], 0);
        CHECK_NEAR(sd[i], exp(0.5 * wl[i]), 1e-6 * exp(0.5 * wl[i]));
        CHECK_NEAR(z[i], wm[i] + exp(0.5 * wl[i]) * noise[i], 1e-6 * (1 + fabs(z[i])));
    }
    CHECK(vae_posterior(&K, &tm, NULL, &a, NULL, NULL, &tz, &err) == -1 && strstr(err.msg, "needs noise"));
    CHECK(vae_posterior(&K, &tm, NULL, &tm, NULL, NULL, NULL, &err) == -1);
    k_tensor_free(&K, &tm), k_tensor_free(&K, &tn), k_tensor_free(&K, &a), k_tensor_free(&K, &b);
    k_tensor_free(&K, &s), k_tensor_free(&K, &tz);
}

/* The same input gives the same bits, whatever ran before in the reused buffers (a decode of
 * another shape between two encodes); batch items do not mix (B = 2 equals two B = 1 runs to the
 * GEMMs' rounding); and weights saved and loaded by name give the same bits. */
static void test_determinism_and_load(void)
{
    vae_config c;
    tg_error err = {{0}};
    vae m, m2;
    CHECK(parse(&c, MICRO, &err) == 0);
    CHECK(vae_build(&m, &K, &c, &err) == 0 && vae_build(&m2, &K, &c, &err) == 0);
    weights_fill(&m, 3);
    uint64_t seed = 5;
    size_t n_img = 2 * 3 * 16 * 12, n_mo = 2 * 6 * 4 * 3;
    float *img = fill_new(n_img, &seed, -1, 1), *lat = fill_new(6 * 6 * 6, &seed, -1, 1);
    float *m1 = malloc(sizeof(float) * n_mo), *m2h = malloc(sizeof(float) * n_mo), *one = malloc(sizeof(float) * n_mo / 2);
    tensor ti = tens(2, 3, 16, 12, img), tm = tens(2, 6, 4, 3, NULL), tl = tens(1, 3, 6, 6, lat),
           to = tens(1, 2, 24, 24, NULL), ti1 = tens(1, 3, 16, 12, img + n_img / 2), tm1 = tens(1, 6, 4, 3, NULL);
    CHECK(vae_encode(&m, &K, &tm, &ti, &err) == 0);
    k_download(&K, &tm, m1);
    CHECK(vae_decode(&m, &K, &to, &tl, &err) == 0);
    CHECK(vae_encode(&m, &K, &tm, &ti, &err) == 0);
    k_download(&K, &tm, m2h);
    CHECK(memcmp(m1, m2h, sizeof(float) * n_mo) == 0);
    CHECK(vae_acts_bytes(&m) > 0);
    CHECK(vae_encode(&m, &K, &tm1, &ti1, &err) == 0); /* item 1 alone */
    k_download(&K, &tm1, one);
    for (size_t i = 0; i < n_mo / 2; i++)
        CHECK_NEAR(one[i], m1[n_mo / 2 + i], 1e-5 * (1 + fabs(m1[n_mo / 2 + i])));
    char path[] = "/tmp/tagbench-vae-XXXXXX";
    int fd = mkstemp(path);
    st_writer *w = st_writer_new();
    float *hold = NULL;
    CHECK(fd >= 0 && params_write(&m.ps, &K, w, ST_F32, &hold, &err) == 0 && st_writer_save(w, path, &err) == 0);
    st_writer_free(w), free(hold), close(fd);
    st_file *f = st_open(path, &err);
    CHECK(f && params_load(&m2.ps, &K, f, &err) == 0);
    st_close(f), unlink(path);
    vae_release(&m, &K);
    CHECK_INT(vae_acts_bytes(&m), 0);
    CHECK(vae_encode(&m2, &K, &tm, &ti, &err) == 0);
    k_download(&K, &tm, m2h);
    CHECK(memcmp(m1, m2h, sizeof(float) * n_mo) == 0);
    k_tensor_free(&K, &ti), k_tensor_free(&K, &tm), k_tensor_free(&K, &tl), k_tensor_free(&K, &to);
    k_tensor_free(&K, &ti1), k_tensor_free(&K, &tm1);
    free(img), free(lat), free(m1), free(m2h), free(one);
    vae_free(&m, &K), vae_free(&m2, &K);
}

int main(void)
{
    if (k_init(&K, "cpu", 2) < 0) {
        fprintf(stderr, "k_init: %s\n", K.msg);
        return 1;
    }
    RUN(test_sd15_keys);
    RUN(test_config_json);
    RUN(test_config_refusals);
    RUN(test_micro_forward);
    RUN(test_downsample_pad);
    RUN(test_posterior);
    RUN(test_determinism_and_load);
    k_free_ctx(&K);
    return check_finish();
}
