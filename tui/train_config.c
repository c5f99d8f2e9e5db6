/* The app's run config as a whole (train_config.h). */
#include "tui/train_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/run_config.h"
#include "tui/captions_config.h"

/* The Dataset screen's bucket line follows resolution. */
static void buckets_refresh(app *a)
{
    int w, h;
    captions_config_resolution(a, &w, &h);
    if (w == a->buckets.opts.width && h == a->buckets.opts.height)
        return;
    bucket_list nb = {0};
    tg_error err;
    if (captions_config_buckets(a, &nb, &err) == 0) {
        bucket_list_free(&a->buckets);
        a->buckets = nb;
    }
}

int train_config_changed(app *a, tg_error *err)
{
    buckets_refresh(a);
    return captions_config_save(a, err);
}

/* ---- load ---- */

static bool same_file(const char *p, const char *q)
{
    char rp[PATH_MAX], rq[PATH_MAX];
    if (realpath(p, rp) && realpath(q, rq))
        return strcmp(rp, rq) == 0;
    return strcmp(p, q) == 0;
}

/* The workbench trains the dataset it has open, whatever folder the loaded file names. */
static int dataset_keys_keep(app *a, run_config *c)
{
    char abs[PATH_MAX];
    const char *dir = realpath(a->opts.dir, abs) ? abs : a->opts.dir;
    if (run_config_string_set(&c->train_data_dir, dir) < 0 ||
        run_config_string_set(&c->caption_extension, a->ds->caption_ext) < 0)
        return -1;
    return 0;
}

/* Moves what the loaded file was (path, bytes) from one config to the other. */
static void disk_state_swap(run_config *x, run_config *y)
{
    char *path = x->loaded_path, *text = x->disk_text;
    size_t len = x->disk_len;
    x->loaded_path = y->loaded_path;
    x->disk_text = y->disk_text;
    x->disk_len = y->disk_len;
    y->loaded_path = path;
    y->disk_text = text;
    y->disk_len = len;
}

int train_config_load(app *a, const char *path, bool *saved, tg_error *err)
{
    run_config c;
    *saved = false;
    if (run_config_load(path, &c, err) < 0) {
        run_config_free(&c);
        return -1;
    }
    bool own = same_file(path, a->config_path);
    if (!own && dataset_keys_keep(a, &c) < 0) {
        run_config_free(&c);
        return error_set(err, "out of memory");
    }
    /* The app's file is still the one saved to: its conflict check needs what it was. */
    if (!own)
        disk_state_swap(&c, a->cfg);
    run_config_free(a->cfg);
    *a->cfg = c;
    buckets_refresh(a);
    if (own)
        return *saved = true, 0;
    *saved = captions_config_save(a, err) == 0;
    return 0;
}

/* "  key   why", the key padded so the reasons line up. */
static char *line_make(const char *key, const char *why)
{
    char *s = NULL;
    return asprintf(&s, "  %-34s %s", key, why) < 0 ? NULL : s;
}

char **train_config_ignored_lines(const run_config *c, size_t *n)
{
    size_t total = run_config_unknown_count(c), ign = run_config_ignored_count(c), k = 0;
    char **lines = total ? calloc(total + 2, sizeof *lines) : NULL;
    *n = 0;
    if (!lines)
        return NULL;
    if (asprintf(&lines[k], "%zu key%s tagbench knows and ignores, %zu unknown; all are kept and "
                 "saved as they were", ign, ign == 1 ? "" : "s", total - ign) >= 0)
        k++;
    if ((lines[k] = strdup("")))
        k++;
    for (int pass = 0; pass < 2; pass++) /* the ignored ones, then the unknown ones */
        for (size_t i = 0; i < total; i++) {
            const char *key = run_config_unknown_key(c, i), *why = run_config_key_ignored(key);
            if ((pass == 0) == (why != NULL) &&
                (lines[k] = line_make(key, why ? why : "(unknown: kept as written)")))
                k++;
        }
    *n = k;
    return lines;
}

/* ---- save as ---- */

static char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *more = realloc(buf, 2 * cap + 1);
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

int train_config_save_as(app *a, const char *path, bool overwrite, tg_error *err)
{
    if (same_file(path, a->config_path))
        return error_set(err, "%s: is the config this screen saves on every change", path);
    /* run_config_save replaces only the file a config was loaded from, as it was: for this one
     * save, the config counts as loaded from path (as it is now, when the user said overwrite),
     * then goes back to being the app's file's. */
    run_config other = {0};
    if (overwrite) {
        other.disk_text = file_read(path, &other.disk_len);
        if (!other.disk_text && errno != ENOENT)
            return error_set(err, "%s: %s", path, strerror(errno));
        if (!(other.loaded_path = strdup(path))) {
            free(other.disk_text);
            return error_set(err, "out of memory");
        }
    }
    disk_state_swap(a->cfg, &other);
    int rc = run_config_save(path, a->cfg, err);
    disk_state_swap(a->cfg, &other);
    free(other.loaded_path);
    free(other.disk_text);
    return rc;
}

/* ---- the plan ---- */

void train_config_plan(const app *a, train_plan *p)
{
    const run_config *c = a->cfg;
    memset(p, 0, sizeof *p);
    p->images = a->ds->n_items;
    for (size_t f = 0; f < a->ds->n_folders; f++) {
        const ds_folder *fo = &a->ds->folders[f];
        if (fo->repeats > 0) {
            p->trained += fo->n_items;
            p->per_epoch += (size_t)fo->n_items * (size_t)fo->repeats;
        }
    }
    long batch = c->train_batch_size > 0 ? c->train_batch_size : 1;
    long accum = c->gradient_accumulation_steps > 0 ? c->gradient_accumulation_steps : 1;
    long batches = ((long)p->per_epoch + batch - 1) / batch;
    p->steps_per_epoch = (batches + accum - 1) / accum;
    if (c->max_train_epochs > 0)
        p->total_steps = p->steps_per_epoch * c->max_train_epochs;
    else
        p->total_steps = c->max_train_steps;
    p->epochs = p->steps_per_epoch ? (double)p->total_steps / p->steps_per_epoch : 0;
}
