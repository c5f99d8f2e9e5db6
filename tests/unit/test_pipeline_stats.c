/* Dataset-wide caption statistics: hand-computed figures on small datasets, and the closed-form
 * expectations against many seeded draws of the real pipeline_process. */
#include "tagger/pipeline_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"
#define EPS 1e-9

/* a: four tags; b: two; c: an empty caption file; d: two tags that hold the separator "|||". */
static char *flat_make(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "sks, 1girl, smile, red hair\n");
    fixture_write(root, "b.png", PNG);
    fixture_write(root, "b.txt", "sks, dog\n");
    fixture_write(root, "c.png", PNG);
    fixture_write(root, "c.txt", "");
    fixture_write(root, "d.png", PNG);
    fixture_write(root, "d.txt", "sks ||| cat, tail ||| best quality\n");
    return root;
}

/* x has no caption file: its folder's class tokens stand in; y groups two tags with ";;;". */
static char *kohya_make(void)
{
    char *root = fixture_make();
    fixture_write(root, "5_sks dog/x.png", PNG);
    fixture_write(root, "5_sks dog/y.png", PNG);
    fixture_write(root, "5_sks dog/y.txt", "cat;;;ears, tail\n");
    return root;
}

static pipeline_opts opts_default(void)
{
    pipeline_opts o;
    pipeline_opts_default(&o);
    return o;
}

static bool stats_get(const dataset *ds, const pipeline_opts *o, pipeline_stats *st)
{
    tg_error err = {{0}};
    int rc = ds ? pipeline_stats_compute(ds, o, st, &err) : -1;
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    pipeline_stats_compute: %s\n", err.msg);
    return rc == 0;
}

static void check_kept(const pipeline_stats *st, size_t k, const char *tag, unsigned count)
{
    CHECK(k < st->n_kept);
    if (k >= st->n_kept)
        return;
    CHECK_STR(st->kept[k].tag, tag);
    CHECK_INT(st->kept[k].count, count);
}

/* keep_tokens 3 fixes all of b and d (fewer tags than that) and three of a's four. */
static void test_keep_tokens(void)
{
    char *root = flat_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts o = opts_default();
    o.keep_tokens = 3;
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.25;
    o.caption_dropout_rate = 0.1;
    pipeline_stats st;
    if (stats_get(ds, &o, &st)) {
        CHECK_INT(st.n_captions, 4);
        CHECK_INT(st.n_empty, 1);
        CHECK_INT(st.n_locked, 0);
        CHECK_INT(st.n_class_tokens, 0);
        CHECK_INT(st.n_fewer_than_keep, 2);
        CHECK_INT(st.n_all_fixed, 2);
        CHECK_INT(st.n_with_separator, 0);
        CHECK_INT(st.n_without_separator, 0);
        CHECK(st.tags_processed);
        CHECK_NEAR(st.tags_mean, 8.0 / 4, EPS);
        CHECK_NEAR(st.fixed_mean, 7.0 / 4, EPS);
        /* a: 3 + 0.75 * 1; b: 2; c: 0; d: 2 */
        CHECK_NEAR(st.expected_tags, 0.9 * (3.75 + 2 + 0 + 2) / 4, EPS);
        /* a: 27 bytes whole, 17 without "red hair": 0.75 * 27 + 0.25 * 17; b: 8; d: 34 */
        CHECK_NEAR(st.expected_chars, 0.9 * (24.5 + 8 + 0 + 34) / 4, EPS);
        CHECK_NEAR(st.dropout_epoch_share, 0, EPS);
        CHECK_INT(st.n_kept, 6);
        check_kept(&st, 0, "sks", 2);
        check_kept(&st, 1, "1girl", 1);
        check_kept(&st, 2, "dog", 1);
        check_kept(&st, 3, "sks ||| cat", 1);
        check_kept(&st, 4, "smile", 1);
        check_kept(&st, 5, "tail ||| best quality", 1);
        pipeline_stats_free(&st);
    }
    dataset_close(ds);
    fixture_remove(root);
}

/* With the separator set, d is split by it (head "sks", tail "best quality"); the others fall
 * back to keep_tokens 1. */
static void test_separator(void)
{
    char *root = flat_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts o = opts_default();
    o.keep_tokens = 1;
    o.keep_tokens_separator = "|||";
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.5;
    pipeline_stats st;
    if (stats_get(ds, &o, &st)) {
        CHECK_INT(st.n_with_separator, 1);
        CHECK_INT(st.n_without_separator, 3);
        CHECK_INT(st.n_fewer_than_keep, 0);
        CHECK_INT(st.n_all_fixed, 0);
        CHECK_NEAR(st.fixed_mean, 4.0 / 4, EPS);
        CHECK_NEAR(st.tags_mean, (4 + 2 + 0 + 4) / 4.0, EPS);
        CHECK_NEAR(st.expected_tags, (2.5 + 1.5 + 0 + 3) / 4, EPS);
        /* a: 3 + 0.5 * 18 + 2 * 1.5; b: 3 + 0.5 * 3 + 2 * 0.5; d: 15 + 0.5 * 7 + 2 * 2 */
        CHECK_NEAR(st.expected_chars, (15 + 5.5 + 0 + 22.5) / 4, EPS);
        CHECK_INT(st.n_kept, 2);
        check_kept(&st, 0, "sks", 3);
        check_kept(&st, 1, "best quality", 1);
        pipeline_stats_free(&st);
    }
    /* without keep_tokens the captions lacking the separator fix nothing */
    o.keep_tokens = 0;
    if (stats_get(ds, &o, &st)) {
        CHECK_INT(st.n_without_separator, 3);
        CHECK_NEAR(st.fixed_mean, 2.0 / 4, EPS);
        CHECK_INT(st.n_kept, 2);
        check_kept(&st, 0, "best quality", 1);
        check_kept(&st, 1, "sks", 1);
        pipeline_stats_free(&st);
    }
    dataset_close(ds);
    fixture_remove(root);
}

/* Shuffle, tag dropout and warm-up off: captions are used verbatim; the prefix still counts. */
static void test_verbatim(void)
{
    char *root = flat_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts o = opts_default();
    o.keep_tokens = 1;
    o.caption_prefix = "sks,";
    o.caption_dropout_rate = 0.5;
    o.caption_dropout_every_n_epochs = 4;
    pipeline_stats st;
    if (stats_get(ds, &o, &st)) {
        CHECK(!st.tags_processed);
        /* "sks, sks, 1girl, smile, red hair", "sks, sks, dog", "sks, ", "sks, sks ||| cat, ..." */
        CHECK_NEAR(st.tags_mean, (5 + 3 + 1 + 3) / 4.0, EPS);
        CHECK_NEAR(st.expected_tags, 0.5 * (5 + 3 + 1 + 3) / 4.0, EPS);
        CHECK_NEAR(st.expected_chars, 0.5 * (32 + 13 + 5 + 39) / 4.0, EPS);
        CHECK_NEAR(st.dropout_epoch_share, 0.25, EPS);
        CHECK_INT(st.n_empty, 1); /* the caption is empty, whatever the prefix adds */
        CHECK_INT(st.n_kept, 1);
        check_kept(&st, 0, "sks", 4); /* the prefix takes the kept slot everywhere */
        pipeline_stats_free(&st);
    }
    dataset_close(ds);
    fixture_remove(root);
}

/* Class tokens stand in for a missing caption; a ";;;" group is one tag, joined as "cat,ears". */
static void test_class_tokens_and_groups(void)
{
    char *root = kohya_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts o = opts_default();
    o.secondary_separator = ";;;";
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.2;
    pipeline_stats st;
    if (stats_get(ds, &o, &st)) {
        CHECK_INT(st.n_captions, 2);
        CHECK_INT(st.n_class_tokens, 1);
        CHECK_INT(st.n_empty, 0);
        CHECK_NEAR(st.tags_mean, 1.5, EPS);
        CHECK_NEAR(st.expected_tags, (0.8 + 1.6) / 2, EPS);
        /* x: 0.8 * 7; y: 0.64 * 14 + 0.16 * 8 + 0.16 * 4 */
        CHECK_NEAR(st.expected_chars, (5.6 + 10.88) / 2, EPS);
        CHECK_INT(st.n_kept, 0);
        CHECK_INT(st.n_wildcard, 0);
        pipeline_stats_free(&st);
    }
    /* with wildcards on, a caption holding a {choice} is counted as taken as written */
    o.enable_wildcard = true;
    CHECK(ds && ds_edit(ds, "5_sks dog/y.png", EDIT_ADD, "{red|blue} collar", NULL) == 0);
    if (ds && stats_get(ds, &o, &st)) {
        CHECK_INT(st.n_wildcard, 1);
        CHECK_NEAR(st.tags_mean, 2.0, EPS);
        pipeline_stats_free(&st);
    }
    dataset_close(ds);
    fixture_remove(root);
}

/* The figures follow edits that are not saved yet. */
static void test_edits_count(void)
{
    char *root = flat_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts o = opts_default();
    o.keep_tokens = 1;
    o.shuffle_caption = true;
    pipeline_stats st;
    CHECK(ds && ds_edit(ds, "b.png", EDIT_PREPEND, "solo", NULL) == 0);
    CHECK(ds && ds_edit(ds, "c.png", EDIT_ADD, "solo", NULL) == 0);
    if (ds && stats_get(ds, &o, &st)) {
        CHECK_INT(st.n_empty, 0);
        CHECK_NEAR(st.tags_mean, (4 + 3 + 1 + 2) / 4.0, EPS);
        CHECK_INT(st.n_kept, 3);
        check_kept(&st, 0, "solo", 2);
        check_kept(&st, 1, "sks", 1);
        check_kept(&st, 2, "sks ||| cat", 1);
        pipeline_stats_free(&st);
    }
    char *text = fixture_read(root, "b.txt", NULL);
    CHECK_STR(text, "sks, dog\n"); /* nothing was saved */
    free(text);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_invalid_opts(void)
{
    char *root = flat_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts o = opts_default();
    o.caption_tag_dropout_rate = 1.5;
    pipeline_stats st;
    tg_error err = {{0}};
    CHECK_INT(ds ? pipeline_stats_compute(ds, &o, &st, &err) : 0, -1);
    CHECK(strstr(err.msg, "caption_tag_dropout_rate") != NULL);
    CHECK_INT(st.n_kept, 0);
    CHECK(st.kept == NULL);
    pipeline_stats_free(&st);
    o = opts_default();
    o.keep_tokens = -1;
    CHECK_INT(ds ? pipeline_stats_compute(ds, &o, &st, &err) : 0, -1);
    CHECK(strstr(err.msg, "keep_tokens") != NULL);
    dataset_close(ds);
    fixture_remove(root);
}

/* ---- cross-check against the real pipeline ---- */

enum { DRAWS = 20000 };

/* The pipeline's input for item i, the way the trainer reads it: the first line of the caption
 * text the dataset would write, or the class tokens of an image without a caption file. */
static char *raw_caption(const dataset *ds, size_t i)
{
    const ds_item *it = &ds->items[i];
    const char *cls = ds->folders[it->folder].class_tokens;
    if (!it->has_file && it->n_tags == 0)
        return strdup(cls ? cls : "");
    size_t len;
    char *text = dataset_caption_text(ds, i, &len);
    char *line = text ? pipeline_read_caption(text, len, false) : NULL;
    free(text);
    return line;
}

/* Non-empty pieces of a processed caption between its ", " joints. */
static size_t tags_count(const char *s)
{
    size_t n = 0;
    for (;;) {
        const char *sep = strstr(s, ", ");
        size_t len = sep ? (size_t)(sep - s) : strlen(s);
        n += len > 0;
        if (!sep)
            return n;
        s = sep + 2;
    }
}

/* Means over all draws, and the variance of those means: each caption is drawn DRAWS times, so
 * the variance of the mean is the sum of the captions' own variances / (DRAWS * captions^2). */
typedef struct draws {
    double tags, chars, tags_var, chars_var;
} draws;

typedef struct moments {
    double sum, sum2;
} moments;

static void moments_add(moments *m, double x)
{
    m->sum += x;
    m->sum2 += x * x;
}

static double moments_var(const moments *m, double n)
{
    double mean = m->sum / n, var = m->sum2 / n - mean * mean;
    return var > 0 ? var * n / (n - 1) : 0;
}

static void draws_run(const dataset *ds, const pipeline_opts *o, uint64_t seed, draws *d)
{
    rng r;
    rng_seed(&r, seed);
    pipeline_when w = {.epoch = 1, .step = 1000000, .max_train_steps = 1000000};
    double n = (double)ds->n_items;
    for (size_t i = 0; i < ds->n_items; i++) {
        char *cap = raw_caption(ds, i);
        moments t = {0}, c = {0};
        CHECK(cap != NULL);
        for (int k = 0; cap && k < DRAWS; k++) {
            char *out = pipeline_process(cap, o, &w, &r, NULL);
            CHECK(out != NULL);
            if (!out)
                break;
            moments_add(&t, (double)tags_count(out));
            moments_add(&c, (double)strlen(out));
            free(out);
        }
        free(cap);
        d->tags += t.sum / DRAWS / n;
        d->chars += c.sum / DRAWS / n;
        d->tags_var += moments_var(&t, DRAWS) / DRAWS / (n * n);
        d->chars_var += moments_var(&c, DRAWS) / DRAWS / (n * n);
    }
}

/* Five standard errors: a correct closed form fails this once in a few million runs (and the
 * seeds are fixed, so the outcome is too). */
static double tolerance(double var)
{
    return 5 * sqrt(var) + 1e-9;
}

static void check_against_draws(const dataset *ds, const pipeline_opts *o, uint64_t seed)
{
    pipeline_stats st;
    draws d = {0};
    if (!stats_get(ds, o, &st))
        return;
    draws_run(ds, o, seed, &d);
    CHECK_INT(st.n_captions, ds->n_items);
    CHECK_NEAR(st.expected_chars, d.chars, tolerance(d.chars_var));
    /* the draws are counted between ", " joints: only right when no tag holds one */
    bool comma = !o->caption_separator || strcmp(o->caption_separator, ",") == 0;
    if (st.tags_processed && comma)
        CHECK_NEAR(st.expected_tags, d.tags, tolerance(d.tags_var));
    pipeline_stats_free(&st);
}

/* A mixed dataset: short and long captions, an empty one, class tokens, separators, groups. */
static char *mixed_make(void)
{
    char *root = fixture_make();
    fixture_write(root, "1_sks dog/a.png", PNG);
    fixture_write(root, "1_sks dog/a.txt", "sks, dog, grass, sky, cloud, tree, sun\n");
    fixture_write(root, "1_sks dog/b.png", PNG);
    fixture_write(root, "1_sks dog/c.png", PNG);
    fixture_write(root, "1_sks dog/c.txt", "\n");
    fixture_write(root, "1_sks dog/d.png", PNG);
    fixture_write(root, "1_sks dog/d.txt", "1girl, hatsune miku ||| stage, mic;;;stand, smile ||| best\n");
    fixture_write(root, "e.png", PNG);
    fixture_write(root, "e.txt", "solo;one, a;b;c, x\n");
    fixture_write(root, "f.png", PNG);
    fixture_write(root, "f.txt", "only\n");
    return root;
}

static void test_against_pipeline(void)
{
    char *root = mixed_make();
    dataset *ds = fixture_open(root, NULL);
    pipeline_opts sets[8];
    for (size_t k = 0; k < 8; k++)
        sets[k] = opts_default();
    sets[0].keep_tokens = 2, sets[0].shuffle_caption = true, sets[0].caption_tag_dropout_rate = 0.3;
    sets[1].keep_tokens_separator = "|||", sets[1].caption_tag_dropout_rate = 0.6,
    sets[1].secondary_separator = ";;;", sets[1].caption_dropout_rate = 0.2;
    sets[2].caption_prefix = "trigger |||", sets[2].caption_suffix = "||| end, of", sets[2].keep_tokens_separator = "|||",
    sets[2].shuffle_caption = true, sets[2].caption_tag_dropout_rate = 0.5;
    sets[3].caption_separator = ";", sets[3].keep_tokens = 1, sets[3].caption_tag_dropout_rate = 0.4;
    sets[4].caption_tag_dropout_rate = 1.0, sets[4].keep_tokens = 1, sets[4].caption_prefix = "p,";
    sets[5].secondary_separator = ";", sets[5].caption_dropout_rate = 0.3, sets[5].caption_prefix = "sks";
    sets[6].token_warmup_step = 10, sets[6].keep_tokens = 3, sets[6].caption_suffix = ", ,";
    sets[7].caption_tag_dropout_rate = 0.9, sets[7].caption_separator = "||", sets[7].shuffle_caption = true;
    for (size_t k = 0; ds && k < 8; k++) {
        check_against_draws(ds, &sets[k], 1000 + k);
        if (check_current_failed) {
            fprintf(stderr, "    (option set %zu)\n", k);
            break;
        }
    }
    dataset_close(ds);
    fixture_remove(root);
}

int main(void)
{
    RUN(test_keep_tokens);
    RUN(test_separator);
    RUN(test_verbatim);
    RUN(test_class_tokens_and_groups);
    RUN(test_edits_count);
    RUN(test_invalid_opts);
    RUN(test_against_pipeline);
    return check_finish();
}
