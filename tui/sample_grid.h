/* The Samples screen's table: a run's sample images arranged as prompt (rows) x step (columns),
 * built from the run_sample list of a run_watch (in the order written; a later image of the same
 * prompt and step replaces an earlier one, as a sample-now at a sampled step does). */
#ifndef TUI_SAMPLE_GRID_H
#define TUI_SAMPLE_GRID_H
#include <stddef.h>
#include <stdint.h>

#include "tui/run_watch.h"

typedef struct sample_grid {
    int64_t *steps;     /* the distinct steps, ascending: the columns */
    size_t n_steps;
    int n_prompts;      /* rows: the run's prompts, or as many as the samples name */
    const char **cells; /* n_prompts x n_steps paths, NULL where there is no image; borrowed
                         * from the watch: valid until it changes */
} sample_grid;

/* Builds g from w (NULL: an empty grid). -1 when out of memory (g is then empty). */
int sample_grid_build(sample_grid *g, const run_watch *w);
void sample_grid_free(sample_grid *g);
/* The image of prompt p at column c, or NULL. */
const char *sample_grid_cell(const sample_grid *g, int p, size_t c);
/* The column of step, or the nearest one (the grid must not be empty). */
size_t sample_grid_column(const sample_grid *g, int64_t step);

#endif
