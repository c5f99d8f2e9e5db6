/* Checkpoints of a run (private/train_job.h), named as kohya names them:
 *   final  NAME.safetensors           (NAME: output_name, else "last")
 *   epoch  NAME-EEEEEE.safetensors    (else "epoch")
 *   step   NAME-stepSSSSSSSS.safetensors (else "at")
 * A full run writes the whole model (its EMA weights, which is what samples use) with tagbench's
 * metadata; a LoRA run writes kohya's layout with the ss_* metadata A1111 and ComfyUI read
 * (reference/trainers.md §5.5). With save_state (or on a stop) the state folder NAME...-state
 * goes beside it. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trainer/private/train_job.h"

static st_dtype save_dtype(const run_config *c)
{
    const char *p = c->save_precision;
    return p && !strcmp(p, "fp16") ? ST_F16 : p && !strcmp(p, "bf16") ? ST_BF16 : ST_F32;
}

/* kohya's file stem for what was saved. */
static void stem_of(const train_job *j, const char *what, int epoch, char *buf, size_t n)
{
    const char *name = j->cfg.output_name;
    if (!strcmp(what, "final"))
        snprintf(buf, n, "%s", name ? name : "last");
    else if (!strcmp(what, "epoch"))
        snprintf(buf, n, "%s-%06d", name ? name : "epoch", epoch);
    else
        snprintf(buf, n, "%s-step%08ld", name ? name : "at", j->step);
}

void job_ema_swap_in(train_job *j)
{
    for (int i = 0; i < j->n_groups && j->full; i++) {
        opt_group *g = &j->groups[i];
        /* w <-> ema through the hold buffer, one group at a time */
        tensor hold = {.data = j->ema_hold.data, .dtype = g->w.dtype, .ndim = 1, .shape = {g->w.shape[0]}};
        k_axpby(&j->k, &hold, 1, &g->w, 0);
        k_axpby(&j->k, &g->w, 1, &g->ema, 0);
        k_axpby(&j->k, &g->ema, 1, &hold, 0);
    }
}

void job_ema_swap_out(train_job *j)
{
    job_ema_swap_in(j); /* a swap is its own inverse */
}

/* ---- kohya's metadata ---- */

/* {"10_name": {"tag": n, ...}}: raw captions split on ',', stripped, lower-cased, per image. */
static char *tag_frequency_json(const train_job *j)
{
    const train_snapshot *s = train_data_snapshot(j->td);
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; root && i < train_data_n_images(j->td); i++) {
        const char *folder = s->folders[s->items[train_data_image_item(j->td, i)].folder].name;
        cJSON *f = cJSON_GetObjectItemCaseSensitive(root, folder);
        if (!f)
            f = cJSON_AddObjectToObject(root, folder);
        const char *cap = train_data_image_caption(j->td, i);
        for (const char *p = cap; f && p && *p;) {
            size_t len = strcspn(p, ",");
            char tag[512];
            size_t a = 0, b = len;
            while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\n' || p[a] == '\r'))
                a++;
            while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\n' || p[b - 1] == '\r'))
                b--;
            if (b > a && b - a < sizeof tag) {
                for (size_t c = a; c < b; c++)
                    tag[c - a] = (char)(p[c] >= 'A' && p[c] <= 'Z' ? p[c] + 32 : p[c]);
                tag[b - a] = 0;
                cJSON *n = cJSON_GetObjectItemCaseSensitive(f, tag);
                if (n)
                    cJSON_SetNumberValue(n, n->valuedouble + 1);
                else
                    cJSON_AddNumberToObject(f, tag, 1);
            }
            p += len + (p[len] == ',');
        }
    }
    char *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

/* {"10_name": {"n_repeats": 10, "img_count": 288}} */
static char *dataset_dirs_json(const train_job *j)
{
    const train_snapshot *s = train_data_snapshot(j->td);
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; root && i < train_data_n_images(j->td); i++) {
        const train_snap_folder *fo = &s->folders[s->items[train_data_image_item(j->td, i)].folder];
        cJSON *f = cJSON_GetObjectItemCaseSensitive(root, fo->name);
        if (!f) {
            f = cJSON_AddObjectToObject(root, fo->name);
            cJSON_AddNumberToObject(f, "n_repeats", train_data_image_repeats(j->td, i));
            cJSON_AddNumberToObject(f, "img_count", 0);
        }
        cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "img_count");
        if (c)
            cJSON_SetNumberValue(c, c->valuedouble + 1);
    }
    char *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

/* Python's str() of a float: "0.0001", "1.0". */
static void py_float(char *buf, size_t n, double v)
{
    snprintf(buf, n, "%.17g", v);
    for (int p = 1; p <= 17; p++) { /* the shortest text that reads back as v */
        char t[64];
        snprintf(t, sizeof t, "%.*g", p, v);
        if (strtod(t, NULL) == v) {
            snprintf(buf, n, "%s", t);
            break;
        }
    }
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", n - strlen(buf) - 1);
}

enum { META_MAX = 64 };

typedef struct meta_list {
    const char *kv[2 * META_MAX + 1];
    char vals[META_MAX][64];
    int n;
} meta_list;

static void meta_put(meta_list *m, const char *key, const char *val)
{
    if (m->n >= META_MAX)
        return;
    m->kv[2 * m->n] = key;
    m->kv[2 * m->n + 1] = val;
    m->n++;
    m->kv[2 * m->n] = NULL;
}

static void meta_num(meta_list *m, const char *key, const char *fmt, double v)
{
    if (m->n >= META_MAX)
        return;
    char *buf = m->vals[m->n];
    if (!strcmp(fmt, "float"))
        py_float(buf, sizeof m->vals[0], v);
    else
        snprintf(buf, sizeof m->vals[0], "%lld", (long long)v);
    meta_put(m, key, buf);
}

static const char *py_bool(bool b)
{
    return b ? "True" : "False";
}

static void meta_lora(meta_list *m, const train_job *j, int epoch, char *started, char *finished, char *res)
{
    const run_config *c = &j->cfg;
    meta_put(m, "ss_output_name", c->output_name ? c->output_name : "last");
    meta_put(m, "ss_training_started_at", started);
    meta_put(m, "ss_training_finished_at", finished);
    meta_num(m, "ss_learning_rate", "float", c->learning_rate);
    meta_num(m, "ss_unet_lr", "float", run_config_unet_lr(c));
    meta_num(m, "ss_text_encoder_lr", "float", run_config_text_encoder_lr(c));
    meta_num(m, "ss_num_train_images", "int", (double)train_data_n_samples(j->td));
    meta_num(m, "ss_num_batches_per_epoch", "int", (double)j->batches_per_epoch);
    meta_num(m, "ss_num_epochs", "int", j->total_epochs);
    meta_num(m, "ss_epoch", "int", epoch);
    meta_num(m, "ss_steps", "int", (double)j->step);
    meta_num(m, "ss_max_train_steps", "int", (double)j->total_steps);
    meta_num(m, "ss_gradient_accumulation_steps", "int", j->accum);
    meta_num(m, "ss_lr_warmup_steps", "int", (double)j->lrs.warmup);
    meta_put(m, "ss_lr_scheduler", c->lr_scheduler);
    meta_num(m, "ss_network_dropout", "float", c->network_dropout);
    meta_put(m, "ss_mixed_precision", c->mixed_precision ? c->mixed_precision : "no");
    meta_num(m, "ss_clip_skip", "int", c->clip_skip);
    meta_num(m, "ss_seed", "int", (double)j->seed);
    meta_num(m, "ss_noise_offset", "float", c->noise_offset);
    meta_num(m, "ss_min_snr_gamma", "float", c->min_snr_gamma);
    meta_num(m, "ss_max_grad_norm", "float", c->max_grad_norm);
    meta_num(m, "ss_caption_dropout_rate", "float", c->caption_dropout_rate);
    meta_num(m, "ss_caption_dropout_every_n_epochs", "int", c->caption_dropout_every_n_epochs);
    meta_num(m, "ss_caption_tag_dropout_rate", "float", c->caption_tag_dropout_rate);
    meta_num(m, "ss_keep_tokens", "int", c->keep_tokens);
    meta_put(m, "ss_shuffle_caption", py_bool(c->shuffle_caption));
    meta_put(m, "ss_flip_aug", py_bool(c->flip_aug));
    meta_put(m, "ss_color_aug", py_bool(c->color_aug));
    meta_put(m, "ss_random_crop", py_bool(c->random_crop));
    meta_put(m, "ss_enable_bucket", py_bool(c->enable_bucket));
    meta_put(m, "ss_resolution", res);
    meta_num(m, "ss_batch_size_per_device", "int", c->train_batch_size);
    meta_num(m, "ss_total_batch_size", "int", c->train_batch_size);
    meta_put(m, "ss_base_model_version", j->m.v_prediction ? "sd_v1_v" : "sd_v1");
    meta_put(m, "ss_training_comment", c->training_comment ? c->training_comment : "None");
    meta_put(m, "ss_optimizer", "torch.optim.adamw.AdamW");
    const char *base = strrchr(c->pretrained_model_name_or_path, '/'); /* the name, not the path */
    meta_put(m, "ss_sd_model_name", base ? base + 1 : c->pretrained_model_name_or_path);
    meta_put(m, "modelspec.sai_model_spec", "1.0.1");
    meta_put(m, "modelspec.architecture", "stable-diffusion-v1/lora");
    meta_put(m, "modelspec.implementation", "diffusers");
    meta_put(m, "modelspec.title", c->output_name ? c->output_name : "last");
    meta_put(m, "modelspec.prediction_type", j->m.v_prediction ? "v" : "epsilon");
}

static int lora_write(train_job *j, const char *path, int epoch, tg_error *err)
{
    char started[32], finished[32], res[64];
    snprintf(started, sizeof started, "%.0f", j->t0);
    snprintf(finished, sizeof finished, "%lld", (long long)time(NULL));
    const train_bucket *b0 = train_data_bucket(j->td, 0);
    snprintf(res, sizeof res, "(%d, %d)", b0 ? b0->w : j->m.native, b0 ? b0->h : j->m.native);
    meta_list m = {.n = 0};
    meta_lora(&m, j, epoch, started, finished, res);
    char *freq = tag_frequency_json(j), *dirs = dataset_dirs_json(j);
    if (!freq || !dirs) {
        free(freq), free(dirs);
        return error_set(err, "%s: out of memory", path);
    }
    meta_put(&m, "ss_tag_frequency", freq);
    meta_put(&m, "ss_dataset_dirs", dirs);
    int rc = lora_save(j->m.lora, &j->k, path, save_dtype(&j->cfg), m.kv, err);
    free(freq), free(dirs);
    return rc;
}

static int model_write(train_job *j, const char *path, tg_error *err)
{
    char steps[32];
    snprintf(steps, sizeof steps, "%ld", j->step);
    const char *extra[] = {"tagbench.steps", steps, "tagbench.ema", j->full ? "0.999" : "none",
                           "ss_training_comment", j->cfg.training_comment, NULL};
    if (!j->cfg.training_comment)
        extra[4] = NULL;
    job_ema_swap_in(j);
    int rc = dmodel_save(&j->m, &j->k, path, save_dtype(&j->cfg), extra, err);
    job_ema_swap_out(j);
    return rc;
}

int job_save(run_ctx *ctx, train_job *j, const char *what, int epoch, bool always_state, tg_error *err)
{
    char stem[256], path[4400];
    stem_of(j, what, epoch, stem, sizeof stem);
    snprintf(path, sizeof path, "%s/%s.safetensors", j->run_dir, stem);
    int rc = j->full ? model_write(j, path, err) : lora_write(j, path, epoch, err);
    if (rc == 0 && (j->cfg.save_state || always_state)) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s-state", j->run_dir, stem);
        rc = job_state_save(j, dir, epoch, err);
    }
    if (rc < 0)
        return -1;
    run_event ev = {.kind = RUN_EV_CHECKPOINT_WRITTEN,
                    .checkpoint = {.step = j->step, .epoch = epoch, .path = path}};
    run_emit(ctx, &ev);
    return 0;
}
