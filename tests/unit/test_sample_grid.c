/* The Samples screen's table: steps sorted and distinct whatever the order samples come in, a
 * later image of the same prompt and step replacing the earlier one, rows for every prompt (also
 * one the prompt list does not have), holes where a prompt has no image at a step, and the
 * nearest column of a step. */
#include "tui/sample_grid.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

static void sample(run_watch *w, int64_t step, int prompt, const char *path)
{
    run_event ev = {.kind = RUN_EV_SAMPLE_WRITTEN, .time = 1};
    ev.sample.step = step;
    ev.sample.prompt = prompt;
    ev.sample.path = (char *)path;
    run_watch_fold(w, &ev);
}

static void test_empty(void)
{
    sample_grid g;
    CHECK(sample_grid_build(&g, NULL) == 0);
    CHECK_INT(g.n_steps, 0);
    CHECK(sample_grid_cell(&g, 0, 0) == NULL);
    run_watch *w = run_watch_new(NULL);
    CHECK(sample_grid_build(&g, w) == 0);
    CHECK_INT(g.n_steps, 0);
    sample_grid_free(&g);
    run_watch_free(w);
}

static void test_prompt_by_step(void)
{
    run_watch *w = run_watch_new(NULL);
    sample(w, 200, 0, "/s/200_0.png");
    sample(w, 100, 1, "/s/100_1.png");
    sample(w, 100, 0, "/s/100_0.png");
    sample(w, 300, 2, "/s/300_2.png"); /* a prompt past the others */
    sample(w, 200, 0, "/s/200_0b.png"); /* sample-now at a sampled step: the newer image */
    sample_grid g;
    CHECK(sample_grid_build(&g, w) == 0);
    CHECK_INT(g.n_steps, 3);
    CHECK_INT(g.steps[0], 100);
    CHECK_INT(g.steps[1], 200);
    CHECK_INT(g.steps[2], 300);
    CHECK_INT(g.n_prompts, 3);
    CHECK_STR(sample_grid_cell(&g, 0, 0), "/s/100_0.png");
    CHECK_STR(sample_grid_cell(&g, 1, 0), "/s/100_1.png");
    CHECK_STR(sample_grid_cell(&g, 0, 1), "/s/200_0b.png");
    CHECK(sample_grid_cell(&g, 1, 1) == NULL);
    CHECK_STR(sample_grid_cell(&g, 2, 2), "/s/300_2.png");
    CHECK(sample_grid_cell(&g, 3, 0) == NULL);
    CHECK(sample_grid_cell(&g, 0, 3) == NULL);
    CHECK(sample_grid_cell(&g, -1, 0) == NULL);
    CHECK_INT(sample_grid_column(&g, 100), 0);
    CHECK_INT(sample_grid_column(&g, 0), 0);
    CHECK_INT(sample_grid_column(&g, 140), 0);
    CHECK_INT(sample_grid_column(&g, 160), 1);
    CHECK_INT(sample_grid_column(&g, 300), 2);
    CHECK_INT(sample_grid_column(&g, 99999), 2);
    sample_grid_free(&g);
    run_watch_free(w);
}

/* A long run: thousands of samples, every step once per prompt. */
static void test_many_steps(void)
{
    run_watch *w = run_watch_new(NULL);
    char path[64];
    for (int s = 1; s <= 2000; s++)
        for (int p = 0; p < 4; p++) {
            snprintf(path, sizeof path, "/s/%d_%d.png", s, p);
            sample(w, s * 10, p, path);
        }
    sample_grid g;
    CHECK(sample_grid_build(&g, w) == 0);
    CHECK_INT(g.n_steps, 2000);
    CHECK_INT(g.n_prompts, 4);
    CHECK_STR(sample_grid_cell(&g, 3, 1999), "/s/2000_3.png");
    CHECK_INT(sample_grid_column(&g, 12344), 1233);
    sample_grid_free(&g);
    run_watch_free(w);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_prompt_by_step);
    RUN(test_many_steps);
    return check_finish();
}
