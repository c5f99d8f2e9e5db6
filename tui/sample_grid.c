/* The prompt x step table of a run's samples (sample_grid.h). */
#include "tui/sample_grid.h"

#include <stdlib.h>
#include <string.h>

static int step_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* The sorted distinct steps of the samples into g->steps. */
static int steps_collect(sample_grid *g, const run_watch *w)
{
    if (!(g->steps = malloc(sizeof *g->steps * w->n_samples)))
        return -1;
    for (size_t i = 0; i < w->n_samples; i++)
        g->steps[i] = w->samples[i].step;
    qsort(g->steps, w->n_samples, sizeof *g->steps, step_cmp);
    for (size_t i = 0; i < w->n_samples; i++)
        if (!g->n_steps || g->steps[g->n_steps - 1] != g->steps[i])
            g->steps[g->n_steps++] = g->steps[i];
    return 0;
}

int sample_grid_build(sample_grid *g, const run_watch *w)
{
    memset(g, 0, sizeof *g);
    if (!w || !w->n_samples)
        return 0;
    int rows = (int)w->n_prompts;
    for (size_t i = 0; i < w->n_samples; i++)
        if (w->samples[i].prompt >= rows)
            rows = w->samples[i].prompt + 1;
    if (steps_collect(g, w) < 0 || !rows ||
        !(g->cells = calloc((size_t)rows * g->n_steps, sizeof *g->cells))) {
        sample_grid_free(g);
        return -1;
    }
    g->n_prompts = rows;
    for (size_t i = 0; i < w->n_samples; i++) {
        const run_sample *s = &w->samples[i];
        if (s->prompt >= 0)
            g->cells[(size_t)s->prompt * g->n_steps + sample_grid_column(g, s->step)] = s->path;
    }
    return 0;
}

void sample_grid_free(sample_grid *g)
{
    free(g->steps);
    free(g->cells);
    memset(g, 0, sizeof *g);
}

const char *sample_grid_cell(const sample_grid *g, int p, size_t c)
{
    if (p < 0 || p >= g->n_prompts || c >= g->n_steps)
        return NULL;
    return g->cells[(size_t)p * g->n_steps + c];
}

size_t sample_grid_column(const sample_grid *g, int64_t step)
{
    size_t lo = 0, hi = g->n_steps; /* the first column with a step >= step */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->steps[mid] < step)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == g->n_steps)
        return g->n_steps - 1;
    if (lo > 0 && step - g->steps[lo - 1] < g->steps[lo] - step)
        return lo - 1;
    return lo;
}
