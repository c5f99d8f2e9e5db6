/* kohya and kohya_ss GUI keys that tagbench knows but does not read (run_config.h): each with the
 * reason, so that loading a GUI config can say "N keys ignored: cache_latents (latents are cached
 * always), ..."; the GUI's own names for keys tagbench reads (epoch, optimizer, max_resolution,
 * lr_warmup); and the summary line. Such keys are kept in run_config.unknown like unknown ones,
 * and written back as they were. */
#include "trainer/run_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/private/run_config_keys.h"

const config_alias config_aliases[] = {
    {"epoch", "max_train_epochs", 1},
    {"optimizer", "optimizer_type", 1},
    {"max_resolution", "resolution", 1},
    {"lr_warmup", "lr_warmup_steps", 0.01},
};
const size_t config_n_aliases = sizeof config_aliases / sizeof config_aliases[0];

typedef struct ignored_key {
    const char *name, *why;
    const char *accept; /* NULL: any value; "": only an "off" value; else that value too */
} ignored_key;

#define ANY NULL
#define OFF ""

/* Sorted by name. The values of the entries with OFF (or a value) would change what is trained,
 * so another value is refused rather than ignored. */
static const ignored_key IGNORED[] = {
    {"LoRA_type", "only kohya's standard LoRA (networks.lora) is implemented", "Standard"},
    {"LyCORIS_preset", "LyCORIS is not implemented", ANY},
    {"adaptive_noise_scale", "not implemented yet", OFF},
    {"additional_parameters", "extra command-line arguments for sd-scripts", OFF},
    {"async_upload", "no Hugging Face upload", ANY},
    {"block_alphas", "per-block alphas are not implemented", ANY},
    {"block_dims", "per-block ranks are not implemented", ANY},
    {"block_lr_zero_threshold", "per-block learning rates are not implemented", ANY},
    {"bucket_reso_steps_multiple", "a GUI helper", ANY},
    {"bypass_mode", "LyCORIS is not implemented", ANY},
    {"cache_latents", "latents are cached always where a VAE is used", ANY},
    {"cache_latents_to_disk", "latents are cached in memory", ANY},
    {"caption_extention", "kohya's old misspelling; caption_extension is read", ANY},
    {"color_aug_strength", "not a kohya option", ANY},
    {"constrain", "LyCORIS is not implemented", ANY},
    {"conv_alpha", "conv LoRA is not implemented yet", ANY},
    {"conv_block_alphas", "conv LoRA is not implemented yet", ANY},
    {"conv_block_dims", "conv LoRA is not implemented yet", ANY},
    {"conv_dim", "conv LoRA is not implemented yet", ANY},
    {"dataset_config", "datasets are folders (train_data_dir)", OFF},
    {"debiased_estimation_loss", "not implemented yet", OFF},
    {"decompose_both", "LyCORIS is not implemented", ANY},
    {"dim_from_weights", "network_weights is not supported", OFF},
    {"dora_wd", "DoRA is not implemented", OFF},
    {"down_lr_weight", "per-block learning rates are not implemented", ANY},
    {"dynamo_backend", "no torch", ANY},
    {"extra_accelerate_launch_args", "no accelerate", ANY},
    {"factor", "LyCORIS is not implemented", ANY},
    {"flux1_checkbox", "FLUX models are not supported", OFF},
    {"fp8_base", "fp8 weights are not implemented", OFF},
    {"full_bf16", "tagbench keeps trained weights in fp32", ANY},
    {"full_fp16", "tagbench keeps trained weights in fp32", ANY},
    {"gpu_ids", "one device (--device)", ANY},
    {"gradient_checkpointing", "no gradient checkpointing yet: activations are kept", ANY},
    {"huber_c", "loss_type is l2", ANY},
    {"huber_schedule", "loss_type is l2", ANY},
    {"huggingface_path_in_repo", "no Hugging Face upload", ANY},
    {"huggingface_repo_id", "no Hugging Face upload", ANY},
    {"huggingface_repo_type", "no Hugging Face upload", ANY},
    {"huggingface_repo_visibility", "no Hugging Face upload", ANY},
    {"huggingface_token", "no Hugging Face upload", ANY},
    {"ip_noise_gamma", "not implemented yet", OFF},
    {"ip_noise_gamma_random_strength", "not implemented yet", ANY},
    {"log_tracker_config", "the run logs to events.jsonl", ANY},
    {"log_tracker_name", "the run logs to events.jsonl", ANY},
    {"log_with", "the run logs to events.jsonl", ANY},
    {"logging_dir", "the run logs to events.jsonl in its folder", ANY},
    {"loss_type", "loss_type is l2", "l2"},
    {"lowram", "no such setting", ANY},
    {"main_process_port", "no accelerate", ANY},
    {"masked_loss", "alpha masks are not implemented", OFF},
    {"max_data_loader_n_workers", "the data loader's threads are tagbench's", ANY},
    {"max_timestep", "timesteps are drawn from [0, 1000)", ANY},
    {"max_token_length", "prompts are cut at 75 tokens", ANY},
    {"mem_eff_attn", "no such backend: tagbench has its own attention kernels", ANY},
    {"metadata_author", "not written yet", ANY},
    {"metadata_description", "not written yet", ANY},
    {"metadata_license", "not written yet", ANY},
    {"metadata_tags", "not written yet", ANY},
    {"metadata_title", "not written yet", ANY},
    {"mid_lr_weight", "per-block learning rates are not implemented", ANY},
    {"min_timestep", "timesteps are drawn from [0, 1000)", ANY},
    {"model_list", "a GUI list of model presets", ANY},
    {"module_dropout", "not implemented yet", OFF},
    {"multi_gpu", "one device (--device)", OFF},
    {"multires_noise_discount", "multires noise is not implemented", ANY},
    {"multires_noise_iterations", "multires noise is not implemented", OFF},
    {"network_weights", "starting from LoRA weights is not supported yet", OFF},
    {"no_token_padding", "prompts are padded", ANY},
    {"noise_offset_random_strength", "not implemented yet", OFF},
    {"noise_offset_type", "noise_offset is the original kind", "Original"},
    {"num_cpu_threads_per_process", "no accelerate", ANY},
    {"num_machines", "one machine", ANY},
    {"num_processes", "one process", ANY},
    {"output_name_prefix", "not a kohya option", ANY},
    {"persistent_data_loader_workers", "the data loader's threads are tagbench's", ANY},
    {"prior_loss_weight", "regularisation images are not implemented", ANY},
    {"rank_dropout", "not implemented yet", OFF},
    {"rank_dropout_scale", "not implemented yet", ANY},
    {"reg_data_dir", "regularisation images are not implemented", OFF},
    {"rescaled", "LyCORIS is not implemented", ANY},
    {"resume_from_huggingface", "no Hugging Face upload", ANY},
    {"sample_at_first", "not implemented yet", ANY},
    {"save_as_bool", "a GUI setting", ANY},
    {"save_every_n_steps_state", "save_state saves with every checkpoint", ANY},
    {"save_last_n_epochs", "checkpoints are not removed", ANY},
    {"save_last_n_epochs_state", "states are not removed", ANY},
    {"save_last_n_steps", "checkpoints are not removed", ANY},
    {"save_last_n_steps_state", "states are not removed", ANY},
    {"save_model_as", "LoRA and models are saved as safetensors", ANY},
    {"save_state_on_train_end", "save_state covers the end of the run", ANY},
    {"save_state_to_huggingface", "no Hugging Face upload", ANY},
    {"scale_v_pred_loss_like_noise_pred", "not implemented yet", OFF},
    {"scale_weight_norms", "not implemented yet", OFF},
    {"sdxl", "SDXL models are not supported", OFF},
    {"sdxl_cache_text_encoder_outputs", "SDXL models are not supported", ANY},
    {"sdxl_no_half_vae", "SDXL models are not supported", ANY},
    {"skip_cache_check", "latents are cached in memory", ANY},
    {"stop_text_encoder_training", "not implemented yet", OFF},
    {"text_encoder_lr_scale", "not a kohya option", ANY},
    {"train_norm", "LyCORIS is not implemented", ANY},
    {"train_on_input", "LyCORIS is not implemented", ANY},
    {"unit", "LyCORIS is not implemented", ANY},
    {"up_lr_weight", "per-block learning rates are not implemented", ANY},
    {"use_cp", "LyCORIS is not implemented", ANY},
    {"use_scalar", "LyCORIS is not implemented", ANY},
    {"use_tucker", "LyCORIS is not implemented", ANY},
    {"use_wandb", "no wandb", ANY},
    {"v2", "SD 2.x models are not supported", OFF},
    {"v_pred_like_loss", "not implemented yet", OFF},
    {"vae", "the VAE is the checkpoint's own", OFF},
    {"vae_batch_size", "latents are cached by tagbench's own batches", ANY},
    {"wandb_api_key", "no wandb", ANY},
    {"wandb_run_name", "no wandb", ANY},
    {"weighted_captions", "(tag:1.3) weights are not implemented", OFF},
    {"xformers", "no such backend: tagbench has its own attention kernels", ANY},
};

static int ignored_cmp(const void *key, const void *entry)
{
    return strcmp(key, ((const ignored_key *)entry)->name);
}

int config_ignored_find(const char *name, const char **why, const char **accept)
{
    const ignored_key *k = bsearch(name, IGNORED, sizeof IGNORED / sizeof IGNORED[0],
                                   sizeof IGNORED[0], ignored_cmp);
    if (!k)
        return 0;
    *why = k->why;
    *accept = k->accept;
    return 1;
}

static const char *alias_reason(const char *name)
{
    static const char *const why[] = {
        "read as max_train_epochs when that is unset",
        "read as optimizer_type when that is unset",
        "read as resolution when that is unset",
        "a percentage, read as lr_warmup_steps when that is 0",
    };
    for (size_t i = 0; i < config_n_aliases; i++)
        if (strcmp(config_aliases[i].gui, name) == 0)
            return why[i];
    return NULL;
}

const char *run_config_key_ignored(const char *key)
{
    const char *why, *accept;
    if (!key || config_key_find(key))
        return NULL;
    if (config_ignored_find(key, &why, &accept))
        return why;
    return alias_reason(key);
}

size_t run_config_ignored_count(const run_config *c)
{
    size_t n = 0;
    for (size_t i = 0; i < run_config_unknown_count(c); i++)
        n += run_config_key_ignored(run_config_unknown_key(c, i)) != NULL;
    return n;
}

/* Appends to *buf (grown as needed); false when out of memory. */
static bool append(char **buf, size_t *len, size_t *cap, const char *fmt, const char *a,
                   const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    if (*len + (size_t)n + 1 > *cap) {
        size_t want = (*len + (size_t)n + 1) * 2;
        char *p = realloc(*buf, want);
        if (!p)
            return false;
        *buf = p;
        *cap = want;
    }
    snprintf(*buf + *len, *cap - *len, fmt, a, b);
    *len += (size_t)n;
    return true;
}

char *run_config_ignored_text(const run_config *c)
{
    size_t total = run_config_unknown_count(c), n_ign = run_config_ignored_count(c);
    size_t n_unk = total - n_ign, len = 0, cap = 64;
    char *buf = calloc(cap, 1), num[32];
    bool ok = buf != NULL;
    if (ok && n_ign) {
        snprintf(num, sizeof num, "%zu", n_ign);
        ok = append(&buf, &len, &cap, "%s key%s ignored:", num, n_ign == 1 ? "" : "s");
    }
    for (size_t i = 0, j = 0; ok && i < total; i++) {
        const char *key = run_config_unknown_key(c, i), *why = run_config_key_ignored(key);
        if (why)
            ok = append(&buf, &len, &cap, j++ ? ", %s (%s)" : " %s (%s)", key, why);
    }
    if (ok && n_unk) {
        snprintf(num, sizeof num, "%zu", n_unk);
        ok = append(&buf, &len, &cap, "%s%s", len ? "; " : "", num) &&
             append(&buf, &len, &cap, " unknown key%s kept as written:%s", n_unk == 1 ? "" : "s",
                    "");
    }
    for (size_t i = 0, j = 0; ok && i < total; i++) {
        const char *key = run_config_unknown_key(c, i);
        if (!run_config_key_ignored(key))
            ok = append(&buf, &len, &cap, j++ ? ", %s%s" : " %s%s", key, "");
    }
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}
