/* CLIP text encoder configs: the built-ins and HF CLIPTextConfig JSON (clip_model.h). */
#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/clip_model.h"
#include "trainer/config_file.h"

static const clip_config CLIP_SD15 = {
    .vocab_size = 49408, .hidden_size = 768, .intermediate_size = 3072, .num_hidden_layers = 12,
    .num_attention_heads = 12, .max_position_embeddings = 77, .layer_norm_eps = 1e-5f,
    .hidden_act = K_QUICK_GELU, .bos_token_id = 49406, .eos_token_id = 49407, .pad_token_id = 49407,
};

/* Small enough to train from scratch on two cores next to the tiny UNet (whose context_dim is
 * the hidden size, 64); 16 positions hold BOS, EOS and 14 tags. The token ids are the tag
 * tokenizer's (tag_tokenizer.h: pad 0, BOS 1, EOS 2); its vocabulary size is set by the caller. */
static const clip_config CLIP_TINY = {
    .vocab_size = 0, .hidden_size = 64, .intermediate_size = 256, .num_hidden_layers = 2,
    .num_attention_heads = 4, .max_position_embeddings = 16, .layer_norm_eps = 1e-5f,
    .hidden_act = K_QUICK_GELU, .bos_token_id = 1, .eos_token_id = 2, .pad_token_id = 0,
};

int clip_config_builtin(clip_config *c, const char *name, tg_error *err)
{
    if (!strcmp(name, "sd15"))
        *c = CLIP_SD15;
    else if (!strcmp(name, "tiny"))
        *c = CLIP_TINY;
    else
        return error_set(err, "no built-in CLIP text config named '%s' (sd15, tiny)", name);
    return 0;
}

/* ---- JSON ---- */

/* What HF's CLIPTextConfig() assumes for a key a file leaves out (the ViT-B/32 text model), except
 * the token ids: they do not change the encoder, and HF's defaults (49406, 49407, 1) only fit the
 * real vocabulary, so a missing id stays unset. */
static const clip_config CLIP_HF_DEFAULTS = {
    .vocab_size = 49408, .hidden_size = 512, .intermediate_size = 2048, .num_hidden_layers = 12,
    .num_attention_heads = 8, .max_position_embeddings = 77, .layer_norm_eps = 1e-5f,
    .hidden_act = K_QUICK_GELU, .bos_token_id = -1, .eos_token_id = -1, .pad_token_id = -1,
};

/* HF keys that do not change the text model: CLIPTextConfig's own extras and the generic
 * PretrainedConfig fields that older config.json files spell out in full. */
static const char *const IGNORED_KEYS[] = {
    "projection_dim", "initializer_range", "initializer_factor", "attention_dropout", "dropout",
    "model_type", "torch_dtype", "architectures", "transformers_version", "_name_or_path",
    "_commit_hash", "add_cross_attention", "bad_words_ids", "begin_suppress_tokens",
    "chunk_size_feed_forward", "cross_attention_hidden_size", "decoder_start_token_id",
    "diversity_penalty", "do_sample", "early_stopping", "encoder_no_repeat_ngram_size",
    "exponential_decay_length_penalty", "finetuning_task", "forced_bos_token_id",
    "forced_eos_token_id", "id2label", "is_decoder", "is_encoder_decoder", "label2id",
    "length_penalty", "max_length", "min_length", "no_repeat_ngram_size", "num_beam_groups",
    "num_beams", "num_return_sequences", "output_attentions", "output_hidden_states",
    "output_scores", "prefix", "problem_type", "pruned_heads", "remove_invalid_values",
    "repetition_penalty", "return_dict", "return_dict_in_generate", "sep_token_id",
    "suppress_tokens", "task_specific_params", "temperature", "tf_legacy_loss",
    "tie_encoder_decoder", "tie_word_embeddings", "tokenizer_class", "top_k", "top_p",
    "torchscript", "typical_p", "use_bfloat16", "hidden_dropout_prob", "gradient_checkpointing",
};

typedef enum key_kind { KEY_SIZE, KEY_TOKEN, KEY_EPS, KEY_ACT } key_kind;

typedef struct key_def {
    const char *name;
    key_kind kind;
    size_t off;
} key_def;

#define KEY(n, kind) {#n, kind, offsetof(clip_config, n)}
static const key_def KEYS[] = {
    KEY(vocab_size, KEY_SIZE), KEY(hidden_size, KEY_SIZE), KEY(intermediate_size, KEY_SIZE),
    KEY(num_hidden_layers, KEY_SIZE), KEY(num_attention_heads, KEY_SIZE),
    KEY(max_position_embeddings, KEY_SIZE), KEY(layer_norm_eps, KEY_EPS), KEY(hidden_act, KEY_ACT),
    KEY(bos_token_id, KEY_TOKEN), KEY(eos_token_id, KEY_TOKEN), KEY(pad_token_id, KEY_TOKEN),
};

static void value_text(const cJSON *v, char *buf, size_t size)
{
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, size, "%s", s ? s : "?");
    if (strlen(buf) == size - 1 && size > 4)
        memcpy(buf + size - 4, "...", 4);
    free(s);
}

/* An integer in [lo, INT_MAX] (null too for a token id: unset, -1). */
static int int_read(const cJSON *v, int lo, int *out, const char *source, const char *key, tg_error *err)
{
    if (lo < 0 && cJSON_IsNull(v)) {
        *out = -1;
        return 0;
    }
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x == floor(x) && x >= lo && x <= INT_MAX)) {
        char got[64];
        value_text(v, got, sizeof got);
        return error_set(err, "%s: %s must be an integer >= %d%s, got %s", source, key, lo < 0 ? 0 : lo,
                         lo < 0 ? " (or null)" : "", got);
    }
    *out = (int)x;
    return 0;
}

static int key_read(clip_config *c, const key_def *k, const cJSON *v, const char *source, tg_error *err)
{
    char got[64];
    void *field = (char *)c + k->off;
    switch (k->kind) {
    case KEY_SIZE:
        return int_read(v, 1, field, source, k->name, err);
    case KEY_TOKEN:
        return int_read(v, -1, field, source, k->name, err);
    case KEY_EPS:
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite((float)v->valuedouble)) {
            value_text(v, got, sizeof got);
            return error_set(err, "%s: %s must be a number > 0, got %s", source, k->name, got);
        }
        *(float *)field = (float)v->valuedouble;
        return 0;
    case KEY_ACT: {
        const char *s = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(s, "quick_gelu"))
            *(k_act *)field = K_QUICK_GELU;
        else if (!strcmp(s, "gelu"))
            *(k_act *)field = K_GELU;
        else {
            value_text(v, got, sizeof got);
            return error_set(err, "%s: hidden_act must be \"quick_gelu\" or \"gelu\", got %s", source, got);
        }
        return 0;
    }
    }
    return 0;
}

static bool key_ignored(const char *name)
{
    for (size_t i = 0; i < sizeof IGNORED_KEYS / sizeof *IGNORED_KEYS; i++)
        if (!strcmp(name, IGNORED_KEYS[i]))
            return true;
    return false;
}

static int member_read(clip_config *c, const cJSON *item, const char *source, tg_error *err)
{
    for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++)
        if (!strcmp(item->string, KEYS[i].name))
            return key_read(c, &KEYS[i], item, source, err);
    if (key_ignored(item->string))
        return 0;
    return error_set(err, "%s: unknown key '%s' (not a CLIPTextConfig key)", source, item->string);
}

int clip_config_parse(clip_config *c, const char *json, const char *source, tg_error *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, true);
    if (!root) {
        int line = 1;
        for (const char *p = json; end && p < end; p++)
            line += *p == '\n';
        return error_set(err, "%s:%d: not valid JSON%s", source, line, end && !*end ? " (it ends early)" : "");
    }
    int rc = 0;
    const cJSON *obj = root;
    if (!cJSON_IsObject(root))
        rc = error_set(err, "%s: expected a JSON object", source);
    else if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "text_config")))
        obj = cJSON_GetObjectItemCaseSensitive(root, "text_config"); /* a whole CLIPConfig */
    clip_config cfg = CLIP_HF_DEFAULTS;
    for (const cJSON *item = obj->child; item && rc == 0; item = item->next)
        rc = member_read(&cfg, item, source, err);
    cJSON_Delete(root);
    if (rc == 0 && (rc = clip_config_check(&cfg, err)) < 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        error_set(err, "%s: %s", source, msg);
    }
    if (rc == 0)
        *c = cfg;
    return rc;
}

int clip_config_load(clip_config *c, const char *name_or_path, tg_error *err)
{
    if (!config_is_file(name_or_path))
        return clip_config_builtin(c, name_or_path, err);
    char *text = config_file_read(name_or_path, "CLIP text config: sd15, tiny", err);
    if (!text)
        return -1;
    int rc = clip_config_parse(c, text, name_or_path, err);
    free(text);
    return rc;
}

int clip_config_check(const clip_config *c, tg_error *err)
{
    if (c->vocab_size < 1)
        return error_set(err, "vocab_size is %d: must be >= 1 (the tiny config takes it from the tag "
                         "tokenizer: set it before building)", c->vocab_size);
    struct { const char *name; int v; } sizes[] = {
        {"hidden_size", c->hidden_size}, {"intermediate_size", c->intermediate_size},
        {"num_hidden_layers", c->num_hidden_layers}, {"num_attention_heads", c->num_attention_heads},
        {"max_position_embeddings", c->max_position_embeddings},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].v < 1)
            return error_set(err, "%s is %d: must be >= 1", sizes[i].name, sizes[i].v);
    if (c->hidden_size % c->num_attention_heads)
        return error_set(err, "hidden_size %d is not divisible by num_attention_heads %d", c->hidden_size,
                         c->num_attention_heads);
    if (!(c->layer_norm_eps > 0) || isinf(c->layer_norm_eps))
        return error_set(err, "layer_norm_eps is %g: must be a finite number > 0", (double)c->layer_norm_eps);
    if (c->hidden_act != K_QUICK_GELU && c->hidden_act != K_GELU)
        return error_set(err, "hidden_act must be quick_gelu or gelu");
    struct { const char *name; int v; } ids[] = {
        {"bos_token_id", c->bos_token_id}, {"eos_token_id", c->eos_token_id},
        {"pad_token_id", c->pad_token_id},
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (ids[i].v < -1 || ids[i].v >= c->vocab_size)
            return error_set(err, "%s %d is outside the vocabulary (vocab_size %d)", ids[i].name, ids[i].v,
                             c->vocab_size);
    /* The activations of one layer are (B, T, F) floats; keep every size well inside int64 math
     * and BLAS's int dims. */
    if ((int64_t)c->vocab_size * c->hidden_size > INT_MAX ||
        (int64_t)c->intermediate_size * c->hidden_size > INT_MAX)
        return error_set(err, "vocab_size x hidden_size or intermediate_size x hidden_size is beyond "
                         "2^31 weights per tensor");
    return 0;
}

char *clip_config_to_json(const clip_config *c)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"vocab_size\":%d,\"hidden_size\":%d,\"intermediate_size\":%d,"
                     "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
                     "\"max_position_embeddings\":%d,\"layer_norm_eps\":%.9g,\"hidden_act\":\"%s\","
                     "\"bos_token_id\":%d,\"eos_token_id\":%d,\"pad_token_id\":%d}",
                     c->vocab_size, c->hidden_size, c->intermediate_size, c->num_hidden_layers,
                     c->num_attention_heads, c->max_position_embeddings, (double)c->layer_norm_eps,
                     c->hidden_act == K_GELU ? "gelu" : "quick_gelu", c->bos_token_id, c->eos_token_id,
                     c->pad_token_id);
    return n < (int)sizeof buf ? strdup(buf) : NULL;
}
