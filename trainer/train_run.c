/* Launching a run (train_run.h): config checks, paths, the run folder, config.json, the thread. */
#include "trainer/train_run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trainer/file_atomic.h"
#include "trainer/private/train_job.h"

int train_body(run_ctx *ctx); /* train_loop.c */

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* base/p for a relative p (a relative base taken from the current folder), so that every path a
 * run records is absolute and means the same from any folder; a copy of p when p is absolute. */
static char *path_join(const char *base, const char *p)
{
    char cwd[4096];
    if (p[0] == '/')
        return strdup(p);
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    bool rel = !base || base[0] != '/';
    size_t n = strlen(cwd) + (base ? strlen(base) : 0) + strlen(p) + 3;
    char *out = malloc(n);
    if (out && !base)
        snprintf(out, n, "%s/%s", cwd, p);
    else if (out)
        snprintf(out, n, "%s%s%s/%s", rel ? cwd : "", rel ? "/" : "", base, p);
    return out;
}

/* Makes a relative path field absolute against base; names that are not paths (a built-in
 * model) stay as they are when keep_missing and no such file exists. */
static int field_resolve(char **field, const char *base, bool keep_missing)
{
    if (!*field || !**field)
        return 0;
    char *abs = path_join(base, *field);
    if (!abs)
        return -1;
    if (keep_missing && !path_exists(abs) && !strchr(*field, '/')) {
        free(abs);
        return 0;
    }
    free(*field);
    *field = abs;
    return 0;
}

static int paths_resolve(run_config *c, const char *base, tg_error *err)
{
    if (field_resolve(&c->train_data_dir, base, false) < 0 || field_resolve(&c->output_dir, base, false) < 0 ||
        field_resolve(&c->sample_prompts, base, false) < 0 || field_resolve(&c->resume, base, false) < 0 ||
        field_resolve(&c->pretrained_model_name_or_path, base, true) < 0)
        return error_set(err, "out of memory");
    struct stat st;
    if (stat(c->train_data_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return error_set(err, "train_data_dir: %s: not a folder", c->train_data_dir);
    if (c->sample_prompts && !path_exists(c->sample_prompts))
        return error_set(err, "sample_prompts: %s: no such file", c->sample_prompts);
    if (c->resume && !path_exists(c->resume))
        return error_set(err, "resume: %s: no such folder", c->resume);
    return 0;
}

static void stamp(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, "%Y%m%d-%H%M%S", &tm);
}

/* output_dir, or a new TRAIN_DATA_DIR/.tagbench/runs/STAMP[-N]. */
static char *run_dir_pick(const run_config *c)
{
    if (c->output_dir && *c->output_dir)
        return strdup(c->output_dir);
    char st[32], *out = NULL;
    stamp(st, sizeof st);
    size_t n = strlen(c->train_data_dir) + 64;
    for (int i = 0; i < 1000 && (out = malloc(n)); i++) {
        if (i == 0)
            snprintf(out, n, "%s/.tagbench/runs/%s", c->train_data_dir, st);
        else
            snprintf(out, n, "%s/.tagbench/runs/%s-%d", c->train_data_dir, st, i);
        if (!path_exists(out))
            break;
        free(out);
        out = NULL;
    }
    return out;
}

/* An earlier run's NAME.EXT in the folder becomes NAME-STAMP.EXT: nothing is lost. */
static int aside_move(const char *dir, const char *name, const char *ext, tg_error *err)
{
    char from[4200], to[4200], st[32];
    snprintf(from, sizeof from, "%s/%s%s", dir, name, ext);
    if (!path_exists(from))
        return 0;
    stamp(st, sizeof st);
    for (int i = 0; i < 1000; i++) {
        if (i == 0)
            snprintf(to, sizeof to, "%s/%s-%s%s", dir, name, st, ext);
        else
            snprintf(to, sizeof to, "%s/%s-%s-%d%s", dir, name, st, i, ext);
        if (path_exists(to))
            continue;
        if (rename(from, to) < 0)
            return error_set(err, "%s: cannot move it aside: %s", from, strerror(errno));
        return 0;
    }
    return error_set(err, "%s: cannot find a free name to move it aside", from);
}

static uint32_t seed_fresh(void)
{
    uint32_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
            s = 0;
        close(fd);
    }
    return s ? s : (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
}

/* config.json: the launch config with absolute paths and the seed drawn, loaded back as the
 * run's own copy (so the run uses exactly what the file says). */
static int config_write(train_job *j, const run_config *src, const char *base, tg_error *err)
{
    size_t len;
    char *text = run_config_text(src, &len), path[4200];
    if (!text)
        return error_set(err, "out of memory");
    snprintf(path, sizeof path, "%s/config.json", j->run_dir);
    int rc = file_write_atomic(path, text, len, err);
    free(text);
    if (rc == 0)
        rc = run_config_load(path, &j->cfg, err);
    if (rc == 0)
        rc = paths_resolve(&j->cfg, base, err);
    if (rc == 0 && !j->cfg.has_seed)
        j->cfg.has_seed = true, j->cfg.seed = seed_fresh();
    if (rc == 0)
        rc = run_config_save(path, &j->cfg, err);
    return rc;
}

/* The folder, the logs of an earlier run moved aside (unless resuming), config.json. */
static int folder_prepare(train_job *j, const train_launch *l, tg_error *err)
{
    if (dir_make_all(j->run_dir, err) < 0)
        return -1;
    if (!l->cfg->resume && aside_move(j->run_dir, "events", ".jsonl", err) < 0)
        return -1;
    if (aside_move(j->run_dir, "config", ".json", err) < 0)
        return -1;
    return config_write(j, l->cfg, l->base_dir, err);
}

/* The checkpoint a state folder NAME-state was saved with (NAME.safetensors beside it), named if
 * a resumed run fails before writing one; NULL when not resuming or it is not there. */
static char *resumed_checkpoint(const char *state)
{
    size_t n = state ? strlen(state) : 0;
    while (n > 1 && state[n - 1] == '/')
        n--;
    if (n < 7 || strncmp(state + n - 6, "-state", 6))
        return NULL;
    char *p = malloc(n + 16);
    if (p)
        snprintf(p, n + 16, "%.*s.safetensors", (int)(n - 6), state);
    if (p && !path_exists(p)) {
        free(p);
        p = NULL;
    }
    return p;
}

static void job_release(train_job *j)
{
    train_snapshot_free(j->snap);
    run_config_free(&j->cfg);
    free(j->run_dir);
    free(j->backend);
    free(j);
}

/* The launch config with its paths resolved, only to pick the folder before anything is written. */
static int launch_check(const train_launch *l, char **run_dir, tg_error *err)
{
    if (run_config_validate_run(l->cfg, err) < 0)
        return -1;
    run_config c;
    int rc = run_config_init(&c, err);
    if (rc == 0)
        rc = run_config_string_set(&c.train_data_dir, l->cfg->train_data_dir) < 0 ||
             run_config_string_set(&c.output_dir, l->cfg->output_dir) < 0 ||
             run_config_string_set(&c.sample_prompts, l->cfg->sample_prompts) < 0 ||
             run_config_string_set(&c.resume, l->cfg->resume) < 0 ||
             run_config_string_set(&c.pretrained_model_name_or_path, l->cfg->pretrained_model_name_or_path) < 0
                 ? error_set(err, "out of memory") : 0;
    if (rc == 0)
        rc = paths_resolve(&c, l->base_dir, err);
    const char *mode = l->cfg->train_mode;
    if (rc == 0 && !strcmp(c.pretrained_model_name_or_path, "tiny") && mode && strcmp(mode, "full"))
        rc = error_set(err, "train_mode: \"%s\" needs a base model file in pretrained_model_name_or_path "
                            "(a checkpoint of an earlier run); \"tiny\" is trained from scratch with "
                            "train_mode \"full\"", mode);
    if (rc == 0 && !(*run_dir = run_dir_pick(&c)))
        rc = error_set(err, "cannot pick a run folder (out of memory, or 1000 runs this second)");
    run_config_free(&c);
    return rc;
}

int train_start(const train_launch *l, run_thread **thread, char **run_dir, tg_error *err)
{
    *thread = NULL;
    *run_dir = NULL;
    train_job *j = calloc(1, sizeof *j);
    if (!j) {
        train_snapshot_free(l->snap);
        return error_set(err, "out of memory");
    }
    j->snap = l->snap;
    j->threads = l->threads;
    j->backend = strdup(l->backend ? l->backend : "cpu");
    int rc = j->backend ? run_config_init(&j->cfg, err) : error_set(err, "out of memory");
    if (rc == 0)
        rc = launch_check(l, &j->run_dir, err);
    if (rc == 0) {
        run_config_free(&j->cfg);
        rc = folder_prepare(j, l, err);
    }
    char *resumed = resumed_checkpoint(j->cfg.resume);
    run_thread_opts o = {.run_dir = j->run_dir, .user = j, .last_checkpoint = resumed};
    if (rc == 0 && !(*run_dir = strdup(j->run_dir)))
        rc = error_set(err, "out of memory");
    if (rc == 0 && run_thread_start(thread, train_body, &o, err) < 0) {
        rc = -1;
        free(*run_dir);
        *run_dir = NULL;
    }
    free(resumed);
    if (rc < 0)
        job_release(j);
    return rc;
}

void train_job_release(train_job *j)
{
    job_release(j);
}
