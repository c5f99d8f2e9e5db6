/* kohya's LoRA module names <-> checkpoint module paths (lora_names.h). Both directions go
 * through a "site": which diffusers block (down/mid/up, block b, place l) and what part of it
 * (attention, resnet, down- or upsampler) a module is in; the child path inside the part is
 * matched against the short lists of layers kohya can wrap. */
#include "trainer/lora_names.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define UNET_PREFIX "model.diffusion_model."
#define CLIP_PREFIX "cond_stage_model.transformer."

typedef enum part_kind { PART_ATTN, PART_RES, PART_DOWN, PART_UP } part_kind;
typedef enum block_kind { BLOCK_DOWN, BLOCK_MID, BLOCK_UP } block_kind;

typedef struct unet_site {
    block_kind block;
    int b, l;       /* diffusers block index and place in it (mid: resnet 0/1, attention 0) */
    part_kind part;
} unet_site;

/* SpatialTransformer children, identical in both trees ('#' = transformer depth index). */
static const char *const ATTN_CHILDREN[] = {
    "proj_in", "proj_out",
    "transformer_blocks.#.attn1.to_q", "transformer_blocks.#.attn1.to_k",
    "transformer_blocks.#.attn1.to_v", "transformer_blocks.#.attn1.to_out.0",
    "transformer_blocks.#.attn2.to_q", "transformer_blocks.#.attn2.to_k",
    "transformer_blocks.#.attn2.to_v", "transformer_blocks.#.attn2.to_out.0",
    "transformer_blocks.#.ff.net.0.proj", "transformer_blocks.#.ff.net.2",
};

/* ResBlock children: LDM's name, diffusers' name. */
static const char *const RES_CHILDREN[][2] = {
    {"in_layers.2", "conv1"},
    {"out_layers.3", "conv2"},
    {"emb_layers.1", "time_emb_proj"},
    {"skip_connection", "conv_shortcut"},
};

/* CLIP text encoder children ('#' = layer index), after `cond_stage_model.transformer.`. */
static const char *const CLIP_MODULES[] = {
    "text_model.encoder.layers.#.self_attn.q_proj", "text_model.encoder.layers.#.self_attn.k_proj",
    "text_model.encoder.layers.#.self_attn.v_proj", "text_model.encoder.layers.#.self_attn.out_proj",
    "text_model.encoder.layers.#.mlp.fc1",          "text_model.encoder.layers.#.mlp.fc2",
};

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* Matches pat against the start of s and returns what follows, or NULL: '#' is a decimal number
 * written canonically (no sign, no leading zero), stored into nums in order; '.' matches sep (a
 * kohya name has '_' where the path had '.'); any other character matches itself. */
static const char *match(const char *pat, const char *s, char sep, int *nums)
{
    int n = 0;
    for (; *pat; pat++) {
        if (*pat == '#') {
            if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
                return NULL;
            long v = 0;
            for (; isdigit((unsigned char)*s); s++)
                if ((v = v * 10 + (*s - '0')) > 1000000)
                    return NULL;
            nums[n++] = (int)v;
        } else if (*s++ != (*pat == '.' ? sep : *pat)) {
            return NULL;
        }
    }
    return s;
}

/* Matches all of s (nothing may follow). */
static bool match_all(const char *pat, const char *s, char sep, int *nums)
{
    const char *rest = match(pat, s, sep, nums);
    return rest && !*rest;
}

/* pat with its '#' replaced by nums, written into buf. */
static int render(char *buf, size_t size, const char *pat, const int *nums)
{
    size_t n = 0;
    int k = 0;
    for (; *pat; pat++) {
        int w = *pat == '#' ? snprintf(buf + n, size - n, "%d", nums[k++])
                            : snprintf(buf + n, size - n, "%c", *pat);
        if (w < 0 || (size_t)w >= size - n)
            return -1;
        n += (size_t)w;
    }
    return 0;
}

/* printf into out; -1 when it does not fit. */
static int put(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int put(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* kohya turns every '.' of the module path into '_'. */
static void dots_to_underscores(char *s)
{
    for (; *s; s++)
        if (*s == '.')
            *s = '_';
}

static const char *skip_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : s;
}

static bool layout_ok(const unet_layout *lay)
{
    return lay && lay->num_res_blocks >= 1 && lay->n_levels >= 1 && lay->n_levels <= 16;
}

static bool level_has_attn(const unet_layout *lay, int level)
{
    return (lay->attn_levels >> level) & 1u;
}

/* ---- sites ---- */

/* Whether a site exists in the layout. */
static bool site_valid(const unet_layout *lay, const unet_site *s)
{
    int R = lay->num_res_blocks, n = lay->n_levels;
    switch (s->block) {
    case BLOCK_DOWN:
        if (s->b < 0 || s->b >= n)
            return false;
        if (s->part == PART_DOWN)
            return s->l == R && s->b < n - 1;
        return s->l >= 0 && s->l < R && (s->part == PART_RES || (s->part == PART_ATTN && level_has_attn(lay, s->b)));
    case BLOCK_MID:
        return (s->part == PART_ATTN && s->l == 0) || (s->part == PART_RES && (s->l == 0 || s->l == 1));
    case BLOCK_UP: {
        int level = n - 1 - s->b;
        if (s->b < 0 || s->b >= n)
            return false;
        if (s->part == PART_UP)
            return s->l == R && level > 0;
        return s->l >= 0 && s->l <= R && (s->part == PART_RES || (s->part == PART_ATTN && level_has_attn(lay, level)));
    }
    }
    return false;
}

/* The LDM block path of a valid site: "input_blocks.4.1", "middle_block.1", "output_blocks.5.2". */
static int site_ldm(const unet_layout *lay, const unet_site *s, char *buf, size_t size)
{
    int R1 = lay->num_res_blocks + 1;
    switch (s->block) {
    case BLOCK_DOWN:
        return put(buf, size, "input_blocks.%d.%d", 1 + s->b * R1 + s->l, s->part == PART_ATTN);
    case BLOCK_MID:
        return put(buf, size, "middle_block.%d", s->part == PART_ATTN ? 1 : 2 * s->l);
    case BLOCK_UP: {
        /* the upsampler comes after the attention when the level has one */
        bool attn = level_has_attn(lay, lay->n_levels - 1 - s->b);
        int sub = s->part == PART_RES ? 0 : s->part == PART_ATTN ? 1 : attn ? 2 : 1;
        return put(buf, size, "output_blocks.%d.%d", s->b * R1 + s->l, sub);
    }
    }
    return -1;
}

/* The diffusers block path of a site: "down_blocks.1.attentions.0", "up_blocks.0.upsamplers.0". */
static int site_diffusers(const unet_site *s, char *buf, size_t size)
{
    static const char *const parts[] = {"attentions", "resnets", "downsamplers", "upsamplers"};
    if (s->block == BLOCK_MID)
        return put(buf, size, "mid_block.%s.%d", parts[s->part], s->l);
    int l = s->part == PART_DOWN || s->part == PART_UP ? 0 : s->l;
    return put(buf, size, "%s.%d.%s.%d", s->block == BLOCK_DOWN ? "down_blocks" : "up_blocks", s->b,
               parts[s->part], l);
}

/* The site of an LDM block (input_blocks.i.sub, middle_block.k, output_blocks.j.sub); false when
 * the layout has no such block. Output sub-block 1 is the attention at levels with attention and
 * the Upsample elsewhere; sub-block 2 exists only at levels with both. */
static bool site_of_input(const unet_layout *lay, int i, int sub, unet_site *s)
{
    int R = lay->num_res_blocks, R1 = R + 1;
    if (i < 1 || i >= lay->n_levels * R1)
        return false;
    *s = (unet_site){BLOCK_DOWN, (i - 1) / R1, (i - 1) % R1, PART_RES};
    if (s->l == R)
        s->part = PART_DOWN;
    else if (sub == 1)
        s->part = PART_ATTN;
    return (sub == 0 || sub == 1) && site_valid(lay, s) && (sub == 0) == (s->part != PART_ATTN);
}

static bool site_of_middle(const unet_layout *lay, int k, unet_site *s)
{
    *s = (unet_site){BLOCK_MID, 0, k == 2, k == 1 ? PART_ATTN : PART_RES};
    return k >= 0 && k <= 2 && site_valid(lay, s);
}

static bool site_of_output(const unet_layout *lay, int j, int sub, unet_site *s)
{
    int R1 = lay->num_res_blocks + 1;
    if (j < 0 || j >= lay->n_levels * R1)
        return false;
    *s = (unet_site){BLOCK_UP, j / R1, j % R1, PART_RES};
    bool attn = level_has_attn(lay, lay->n_levels - 1 - s->b);
    if (sub == 1)
        s->part = attn ? PART_ATTN : PART_UP;
    else if (sub == 2 && attn)
        s->part = PART_UP;
    else if (sub != 0)
        return false;
    return site_valid(lay, s);
}

/* ---- children ---- */

/* The diffusers child path of an LDM child in a part, into buf; -1 if kohya does not wrap it. */
static int child_to_diffusers(part_kind part, const char *child, char *buf, size_t size)
{
    int nums[2];
    switch (part) {
    case PART_ATTN:
        for (size_t i = 0; i < COUNT(ATTN_CHILDREN); i++)
            if (match_all(ATTN_CHILDREN[i], child, '.', nums))
                return put(buf, size, "%s", child);
        return -1;
    case PART_RES:
        for (size_t i = 0; i < COUNT(RES_CHILDREN); i++)
            if (!strcmp(child, RES_CHILDREN[i][0]))
                return put(buf, size, "%s", RES_CHILDREN[i][1]);
        return -1;
    case PART_DOWN:
        return strcmp(child, "op") ? -1 : put(buf, size, "conv");
    case PART_UP:
        return strcmp(child, "conv") ? -1 : put(buf, size, "conv");
    }
    return -1;
}

/* The LDM child path of a kohya child (underscores) in a part, into buf. */
static int child_to_ldm(part_kind part, const char *child, char *buf, size_t size)
{
    int nums[2];
    switch (part) {
    case PART_ATTN:
        for (size_t i = 0; i < COUNT(ATTN_CHILDREN); i++)
            if (match_all(ATTN_CHILDREN[i], child, '_', nums))
                return render(buf, size, ATTN_CHILDREN[i], nums);
        return -1;
    case PART_RES:
        for (size_t i = 0; i < COUNT(RES_CHILDREN); i++)
            if (!strcmp(child, RES_CHILDREN[i][1]))
                return put(buf, size, "%s", RES_CHILDREN[i][0]);
        return -1;
    case PART_DOWN:
        return strcmp(child, "conv") ? -1 : put(buf, size, "op");
    case PART_UP:
        return strcmp(child, "conv") ? -1 : put(buf, size, "conv");
    }
    return -1;
}

/* ---- the UNet ---- */

int lora_name_unet(const char *ldm_module, const unet_layout *lay, char *out, size_t size)
{
    if (!ldm_module || !layout_ok(lay) || !out)
        return -1;
    const char *s = skip_prefix(ldm_module, UNET_PREFIX), *child;
    int nums[2];
    unet_site site;
    bool found;
    if ((child = match("input_blocks.#.#.", s, '.', nums)))
        found = site_of_input(lay, nums[0], nums[1], &site);
    else if ((child = match("middle_block.#.", s, '.', nums)))
        found = site_of_middle(lay, nums[0], &site);
    else if ((child = match("output_blocks.#.#.", s, '.', nums)))
        found = site_of_output(lay, nums[0], nums[1], &site);
    else
        return -1;
    char block[64], dchild[LORA_NAME_MAX];
    if (!found || site_diffusers(&site, block, sizeof block) < 0 ||
        child_to_diffusers(site.part, child, dchild, sizeof dchild) < 0 ||
        put(out, size, "lora_unet_%s_%s", block, dchild) < 0)
        return -1;
    dots_to_underscores(out);
    return 0;
}

/* kohya's UNet part prefixes, in underscore form after "lora_unet_". */
static const struct {
    const char *pat;
    block_kind block;
    part_kind part;
} UNET_PARTS[] = {
    {"down_blocks.#.attentions.#.", BLOCK_DOWN, PART_ATTN},
    {"down_blocks.#.resnets.#.", BLOCK_DOWN, PART_RES},
    {"down_blocks.#.downsamplers.0.", BLOCK_DOWN, PART_DOWN},
    {"mid_block.attentions.#.", BLOCK_MID, PART_ATTN},
    {"mid_block.resnets.#.", BLOCK_MID, PART_RES},
    {"up_blocks.#.attentions.#.", BLOCK_UP, PART_ATTN},
    {"up_blocks.#.resnets.#.", BLOCK_UP, PART_RES},
    {"up_blocks.#.upsamplers.0.", BLOCK_UP, PART_UP},
};

static int unet_to_ldm(const char *s, const unet_layout *lay, char *out, size_t size)
{
    if (!layout_ok(lay))
        return -1;
    for (size_t i = 0; i < COUNT(UNET_PARTS); i++) {
        int nums[2] = {0, 0};
        const char *child = match(UNET_PARTS[i].pat, s, '_', nums);
        if (!child)
            continue;
        unet_site site = {UNET_PARTS[i].block, nums[0], nums[1], UNET_PARTS[i].part};
        if (site.block == BLOCK_MID)
            site = (unet_site){BLOCK_MID, 0, nums[0], site.part};
        if (site.part == PART_DOWN || site.part == PART_UP)
            site.l = lay->num_res_blocks; /* a level's last place */
        char block[64], lchild[LORA_NAME_MAX];
        if (!site_valid(lay, &site) || site_ldm(lay, &site, block, sizeof block) < 0 ||
            child_to_ldm(site.part, child, lchild, sizeof lchild) < 0)
            return -1;
        return put(out, size, UNET_PREFIX "%s.%s", block, lchild);
    }
    return -1;
}

/* ---- the text encoder ---- */

int lora_name_clip(const char *ldm_module, char *out, size_t size)
{
    if (!ldm_module || !out)
        return -1;
    const char *s = skip_prefix(ldm_module, CLIP_PREFIX);
    int nums[1];
    for (size_t i = 0; i < COUNT(CLIP_MODULES); i++)
        if (match_all(CLIP_MODULES[i], s, '.', nums)) {
            if (put(out, size, "lora_te_%s", s) < 0)
                return -1;
            dots_to_underscores(out);
            return 0;
        }
    return -1;
}

static int clip_to_ldm(const char *s, char *out, size_t size)
{
    int nums[1];
    char path[LORA_NAME_MAX];
    for (size_t i = 0; i < COUNT(CLIP_MODULES); i++)
        if (match_all(CLIP_MODULES[i], s, '_', nums))
            return render(path, sizeof path, CLIP_MODULES[i], nums) < 0
                       ? -1 : put(out, size, CLIP_PREFIX "%s", path);
    return -1;
}

int lora_name_to_ldm(const char *kohya, const unet_layout *lay, char *out, size_t size)
{
    if (!kohya || !out)
        return -1;
    if (!strncmp(kohya, "lora_unet_", 10))
        return unet_to_ldm(kohya + 10, lay, out, size);
    if (!strncmp(kohya, "lora_te_", 8))
        return clip_to_ldm(kohya + 8, out, size);
    return -1;
}
