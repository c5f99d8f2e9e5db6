/* save_state and resume (private/train_job.h). A state folder holds what continuing the run
 * exactly needs, everything else being a function of (seed, step):
 *   train_state.json   {"current_epoch": E, "current_step": S} (kohya's file and keys)
 *   state.safetensors  per optimizer group G ("unet", "text_encoder"): G.weights, G.adam_m,
 *                      G.adam_v and, in full training, G.ema, as flat F32 tensors
 *   tags.json          the tiny model's vocabulary (full training from scratch)
 * The folder is written beside its final name and renamed into place, so a crash leaves either
 * the old state or the new one. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/file_atomic.h"
#include "trainer/private/train_job.h"
#include "trainer/safetensors.h"

static const char *const PARTS[] = {"weights", "adam_m", "adam_v", "ema"};

static tensor *part_of(opt_group *g, int p)
{
    tensor *t[] = {&g->w, &g->m, &g->v, &g->ema};
    return t[p];
}

static int tensors_write(train_job *j, const char *path, tg_error *err)
{
    st_writer *w = st_writer_new();
    float *hold[2 * 4] = {0};
    int rc = w ? 0 : error_set(err, "%s: out of memory", path), h = 0;
    for (int i = 0; rc == 0 && i < j->n_groups; i++)
        for (int p = 0; rc == 0 && p < 4; p++) {
            tensor *t = part_of(&j->groups[i], p);
            if (!t->data)
                continue;
            char name[64];
            snprintf(name, sizeof name, "%s.%s", j->groups[i].name, PARTS[p]);
            int64_t n = (int64_t)tensor_numel(t);
            if (!(hold[h] = malloc(sizeof(float) * (size_t)n)))
                rc = error_set(err, "%s: out of memory", path);
            else {
                k_download(&j->k, t, hold[h]);
                rc = st_writer_add_f32_as(w, name, ST_F32, 1, &n, hold[h++], err);
            }
        }
    if (rc == 0)
        rc = st_writer_save(w, path, err);
    st_writer_free(w);
    for (int i = 0; i < h; i++)
        free(hold[i]);
    return rc;
}

static int json_write(const char *path, int epoch, long step, tg_error *err)
{
    char text[128];
    int n = snprintf(text, sizeof text, "{\"current_epoch\": %d, \"current_step\": %ld}\n", epoch, step);
    return file_write_atomic(path, text, (size_t)n, err);
}

/* Removes a state folder's files and the folder (only the names a state holds). */
static void state_remove(const char *dir)
{
    const char *files[] = {"train_state.json", "state.safetensors", "tags.json"};
    char p[4400];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int state_fill(train_job *j, const char *tmp, int epoch, tg_error *err)
{
    char p[4500];
    snprintf(p, sizeof p, "%s/state.safetensors", tmp);
    if (tensors_write(j, p, err) < 0)
        return -1;
    snprintf(p, sizeof p, "%s/train_state.json", tmp);
    if (json_write(p, epoch, j->step, err) < 0)
        return -1;
    snprintf(p, sizeof p, "%s/tags.json", tmp);
    return j->full ? tag_tokenizer_save(j->m.tags, p, err) : 0;
}

int job_state_save(train_job *j, const char *dir, int epoch, tg_error *err)
{
    char tmp[4400], old[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", dir, (long)getpid());
    snprintf(old, sizeof old, "%s.old-%ld", dir, (long)getpid());
    state_remove(tmp);
    if (mkdir(tmp, 0755) < 0)
        return error_set(err, "%s: cannot make the folder: %s", tmp, strerror(errno));
    int rc = state_fill(j, tmp, epoch, err);
    struct stat st;
    bool had = rc == 0 && stat(dir, &st) == 0;
    if (had && rename(dir, old) < 0)
        rc = error_set(err, "%s: cannot replace it: %s", dir, strerror(errno));
    if (rc == 0 && rename(tmp, dir) < 0)
        rc = error_set(err, "%s: cannot rename the new state into place: %s", dir, strerror(errno));
    if (rc < 0)
        state_remove(tmp);
    else if (had)
        state_remove(old);
    return rc;
}

/* ---- resume ---- */

static int step_read(const char *dir, long *step, tg_error *err)
{
    char p[4400], buf[4096];
    snprintf(p, sizeof p, "%s/train_state.json", dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return error_set(err, "resume: %s: %s", p, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *o = cJSON_Parse(buf);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "current_step");
    int rc = cJSON_IsNumber(s) && s->valuedouble >= 0 ? 0
             : error_set(err, "resume: %s: no current_step (a number) in it", p);
    if (rc == 0)
        *step = (long)s->valuedouble;
    cJSON_Delete(o);
    return rc;
}

static int part_load(train_job *j, const st_file *f, opt_group *g, int p, float *host, tg_error *err)
{
    tensor *t = part_of(g, p);
    if (!t->data)
        return 0;
    char name[64];
    snprintf(name, sizeof name, "%s.%s", g->name, PARTS[p]);
    const st_tensor *s = st_find(f, name);
    if (!s)
        return error_set(err, "resume: %s: no tensor %s (a state of another kind of run?)", st_path(f), name);
    if (s->numel != tensor_numel(t))
        return error_set(err, "resume: %s: %s has %zu values, this run's has %zu (another model or "
                         "network_dim?)", st_path(f), name, s->numel, tensor_numel(t));
    if (st_read_f32(s, host, s->numel, err) < 0)
        return -1;
    k_upload(&j->k, t, host);
    return 0;
}

int job_state_load(train_job *j, const char *dir, tg_error *err)
{
    long step = 0;
    if (step_read(dir, &step, err) < 0)
        return -1;
    if (step >= j->total_steps)
        return error_set(err, "resume: %s is at step %ld, and this run ends at %ld: raise max_train_steps",
                         dir, step, j->total_steps);
    char p[4400];
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    st_file *f = st_open(p, err);
    if (!f)
        return -1;
    size_t most = 0;
    for (int i = 0; i < j->n_groups; i++)
        most = tensor_numel(&j->groups[i].w) > most ? tensor_numel(&j->groups[i].w) : most;
    float *host = malloc(sizeof *host * (most ? most : 1));
    int rc = host ? 0 : error_set(err, "out of memory");
    for (int i = 0; rc == 0 && i < j->n_groups; i++)
        for (int q = 0; rc == 0 && q < 4; q++)
            rc = part_load(j, f, &j->groups[i], q, host, err);
    free(host);
    st_close(f);
    if (rc == 0)
        j->step = step;
    return rc;
}

char **job_state_tags(const char *dir, size_t *n, tg_error *err)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/tags.json", dir);
    err->msg[0] = 0;
    if (access(p, F_OK) < 0)
        return NULL;
    tag_tokenizer *t = tag_tokenizer_load(p, err);
    if (!t)
        return NULL;
    *n = tag_count(t);
    char **out = calloc(*n ? *n : 1, sizeof *out);
    for (size_t i = 0; out && i < *n; i++)
        if (!(out[i] = strdup(tag_token_text(t, TAG_FIRST_ID + (int32_t)i)))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            out = NULL;
        }
    if (!out)
        error_set(err, "out of memory");
    tag_tokenizer_free(t);
    return out;
}
