/* The app's run config (captions_config.h). */
#include "tui/captions_config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/run_config.h"

int captions_config_open(app *a, tg_error *err)
{
    a->config_path = a->opts.config ? strdup(a->opts.config) : run_config_default_path(a->opts.dir);
    a->cfg = calloc(1, sizeof *a->cfg);
    if (!a->config_path || !a->cfg)
        return error_set(err, "out of memory");
    if (run_config_load(a->config_path, a->cfg, err) < 0)
        return -1;
    return 0;
}

void captions_config_close(app *a)
{
    if (a->cfg)
        run_config_free(a->cfg);
    free(a->cfg);
    free(a->config_path);
}

void captions_config_get(app *a, pipeline_opts *o)
{
    run_config_pipeline(a->cfg, o);
}

/* A config written for the first time says which dataset and caption files it is about, so the
 * trainer reads the same captions the user edited here (kohya's default extension is .caption). */
static int config_describe(app *a)
{
    if (a->cfg->disk_text)
        return 0;
    char abs[PATH_MAX];
    const char *dir = realpath(a->opts.dir, abs) ? abs : a->opts.dir;
    if (!a->cfg->train_data_dir && run_config_string_set(&a->cfg->train_data_dir, dir) < 0)
        return -1;
    return run_config_string_set(&a->cfg->caption_extension, a->ds->caption_ext);
}

int captions_config_put(app *a, const pipeline_opts *o, tg_error *err)
{
    if (run_config_pipeline_set(a->cfg, o, err) < 0)
        return -1;
    return captions_config_save(a, err);
}

int captions_config_save(app *a, tg_error *err)
{
    if (config_describe(a) < 0)
        return error_set(err, "out of memory");
    return run_config_save(a->config_path, a->cfg, err);
}

const char *captions_config_path(const app *a)
{
    return a->config_path;
}

int captions_config_buckets(const app *a, bucket_list *out, tg_error *err)
{
    int w, h;
    captions_config_resolution(a, &w, &h);
    bucket_opts bo;
    bucket_opts_default(&bo, w);
    bo.height = h;
    const run_config *c = a->cfg;
    if (c && c->enable_bucket) { /* the run's own bucket settings */
        bo.min_bucket_reso = c->min_bucket_reso;
        bo.max_bucket_reso = c->max_bucket_reso;
        bo.bucket_reso_steps = c->bucket_reso_steps;
        bo.bucket_no_upscale = c->bucket_no_upscale;
    } else { /* no buckets: every image is resized and cropped to the resolution, one size */
        bo.min_bucket_reso = w < h ? w : h;
        bo.max_bucket_reso = w < h ? h : w;
        bo.bucket_reso_steps = 8;
    }
    return bucket_list_make(out, &bo, err);
}

void captions_config_resolution(const app *a, int *w, int *h)
{
    *w = *h = 512;
    const char *r = a->cfg ? a->cfg->resolution : NULL;
    int x, y;
    if (!r)
        return;
    int n = sscanf(r, "%d,%d", &x, &y);
    if (n >= 1 && x >= 8 && x <= 8192) /* the tiny model trains at 32 */
        *w = *h = x;
    if (n == 2 && y >= 8 && y <= 8192)
        *h = y;
}
