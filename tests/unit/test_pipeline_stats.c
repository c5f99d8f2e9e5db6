/* Dataset-wide caption statistics: hand-computed figures on small datasets, and the closed-form
 * expectations against many seeded draws of the real pipeline_process. */
#include "tagger/pipeline_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/private/pipeline_stats_path.h"
#include "tagger/rng.h"
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

/* ---- the id path against the text path ---- */

/* Tags as they may come out of caption files: mostly plain ones, and odd ones that hold a
 * separator, a wildcard brace, or Unicode whitespace at an end (the dataset trims only ASCII
 * blanks). */
static const char *const PLAIN[] = {
    "sks", "1girl", "red hair", "a", "smile", "best quality", "dog", "y", "tab\tinside",
    "\xef\xbb\xbf" "bom", "em\xe2\x80\x83" "space",
};
static const char *const ODD[] = {
    "x|||y", "|||", "a;;;b", ";;;", "a;b", "semi;", "x||y", "|", "{red|blue}", "brace}", "{open",
    "sp ace", "x ||| y", "\xe3\x80\x80" "ideographic", "nbsp\xc2\xa0", "\xc2\xa0",
    "\xe2\x80\x83" "lead", "\xc2\x85" "nel", "\xe3\x80\x80",
};

static const char *pick(rng *r, const char *const *list, size_t n)
{
    return list[rng_below(r, n)];
}

static const char *tag_random(rng *r)
{
    if (rng_below(r, 6))
        return pick(r, PLAIN, sizeof PLAIN / sizeof PLAIN[0]);
    return pick(r, ODD, sizeof ODD / sizeof ODD[0]);
}

/* A caption file's text: up to 8 tags (repeats allowed) with untidy joints, now and then a
 * BOM, CRLF or a second line. */
static void caption_random(rng *r, char *buf, size_t size)
{
    static const char *const joints[] = {", ", ",", " , ", ",, ", " ,"};
    size_t n = 0, tags = rng_below(r, 9);
    buf[0] = '\0';
    if (rng_below(r, 10) == 0)
        n += (size_t)snprintf(buf + n, size - n, "\xef\xbb\xbf");
    for (size_t k = 0; k < tags && n < size; k++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", k ? pick(r, joints, 5) : "",
                              tag_random(r));
    if (n < size)
        snprintf(buf + n, size - n, "%s", rng_below(r, 8) == 0 ? "\r\nsecond, line\n" : "\n");
}

/* One item: a caption file (mostly), an empty one, none (class tokens stand in), or a caption
 * path that is a folder (the item is locked). */
static void item_random(rng *r, const char *root, size_t i)
{
    static const char *const folders[] = {"", "2_sks dog/", "3_x|||y, z/", "1_\xe3\x80\x80" "cls/"};
    char img[96], cap[96], text[512];
    const char *folder = pick(r, folders, 4);
    snprintf(img, sizeof img, "%s%zu.png", folder, i);
    snprintf(cap, sizeof cap, "%s%zu.txt", folder, i);
    fixture_write(root, img, PNG);
    unsigned kind = (unsigned)rng_below(r, 20);
    if (kind == 0)
        fixture_mkdir(root, cap);
    else if (kind <= 2)
        fixture_write(root, cap, kind == 1 ? "" : " \n");
    else if (kind > 4) {
        caption_random(r, text, sizeof text);
        fixture_write(root, cap, text);
    }
}

/* Edits add tags that no file would give: Unicode space at an end survives the edit's trim. */
static void edits_random(rng *r, dataset *ds)
{
    static const char *const added[] = {"\xe3\x80\x80" "edit", "edit\xc2\xa0", "plain edit",
                                        "sks", "e|||f", "{g}"};
    for (size_t k = 0; k < 3 && ds->n_items; k++) {
        const ds_item *it = &ds->items[rng_below(r, ds->n_items)];
        if (!it->locked)
            CHECK(ds_edit(ds, it->image, rng_below(r, 2) ? EDIT_ADD : EDIT_PREPEND,
                          pick(r, added, 6), NULL) == 0);
    }
}

/* Options drawn so that about a third of the sets allow the id path (separator ",", no prefix or
 * suffix, separators free of ',' and ' ') and the rest try every way of ruling it out. */
static pipeline_opts opts_random(rng *r)
{
    static const char *const kts[] = {NULL, "", "|||", "||", "|", ";;;", " ||| ", ",", "y"};
    static const char *const seps[] = {";", "||", ", ", " ", "|||"};
    static const char *const secs[] = {";;;", ";", "|", " ", ",x", "||"};
    static const char *const pre[] = {"", "sks", "sks,", "p |||", "\xe3\x80\x80"};
    static const char *const suf[] = {"", "end", ", s", "||| tail", "{w}"};
    static const double rates[] = {0, 0, 0.25, 0.5, 1};
    pipeline_opts o = opts_default();
    o.keep_tokens = (int)rng_below(r, 5);
    o.keep_tokens_separator = pick(r, kts, 9);
    o.caption_separator = rng_below(r, 6) ? (rng_below(r, 2) ? "," : NULL) : pick(r, seps, 5);
    o.secondary_separator = rng_below(r, 2) ? NULL : pick(r, secs, 6);
    o.shuffle_caption = rng_below(r, 2);
    o.caption_tag_dropout_rate = rates[rng_below(r, 5)];
    o.caption_dropout_rate = rng_below(r, 3) ? 0 : 0.3;
    o.caption_dropout_every_n_epochs = rng_below(r, 3) ? 0 : 3;
    o.caption_prefix = rng_below(r, 6) ? NULL : pick(r, pre, 5);
    o.caption_suffix = rng_below(r, 6) ? NULL : pick(r, suf, 5);
    o.enable_wildcard = rng_below(r, 2);
    o.token_warmup_step = rng_below(r, 4) ? 0 : 5;
    return o;
}

/* Every figure equal, the doubles bit for bit (both paths add them up in item order). */
static bool stats_same(const pipeline_stats *a, const pipeline_stats *b)
{
    bool same = a->n_captions == b->n_captions && a->n_locked == b->n_locked &&
                a->n_empty == b->n_empty && a->n_class_tokens == b->n_class_tokens &&
                a->n_fewer_than_keep == b->n_fewer_than_keep && a->n_all_fixed == b->n_all_fixed &&
                a->n_with_separator == b->n_with_separator &&
                a->n_without_separator == b->n_without_separator && a->n_wildcard == b->n_wildcard &&
                a->tags_processed == b->tags_processed && a->n_kept == b->n_kept &&
                memcmp(&a->tags_mean, &b->tags_mean, sizeof(double)) == 0 &&
                memcmp(&a->fixed_mean, &b->fixed_mean, sizeof(double)) == 0 &&
                memcmp(&a->expected_tags, &b->expected_tags, sizeof(double)) == 0 &&
                memcmp(&a->expected_chars, &b->expected_chars, sizeof(double)) == 0 &&
                memcmp(&a->dropout_epoch_share, &b->dropout_epoch_share, sizeof(double)) == 0;
    for (size_t k = 0; same && k < a->n_kept; k++)
        same = a->kept[k].count == b->kept[k].count && strcmp(a->kept[k].tag, b->kept[k].tag) == 0;
    return same;
}

/* Both paths on one dataset and option set; false (with the case on stderr) when they differ. */
static bool paths_agree(const dataset *ds, const pipeline_opts *o, size_t *taken)
{
    pipeline_stats fast, text;
    pipeline_stats_ids_test(true, taken);
    bool ok_fast = stats_get(ds, o, &fast);
    pipeline_stats_ids_test(false, NULL);
    bool ok_text = stats_get(ds, o, &text);
    pipeline_stats_ids_test(true, NULL);
    bool same = ok_fast && ok_text && stats_same(&fast, &text);
    if (ok_fast && ok_text && !same)
        fprintf(stderr, "    paths differ: keep_tokens %d kts \"%s\" sep \"%s\" sec \"%s\" prefix \"%s\" "
                "suffix \"%s\" wildcard %d processed %d; kept %zu vs %zu, chars %.17g vs %.17g\n",
                o->keep_tokens, o->keep_tokens_separator ? o->keep_tokens_separator : "(null)",
                o->caption_separator ? o->caption_separator : "(null)",
                o->secondary_separator ? o->secondary_separator : "(null)",
                o->caption_prefix ? o->caption_prefix : "(null)",
                o->caption_suffix ? o->caption_suffix : "(null)", o->enable_wildcard,
                fast.tags_processed, fast.n_kept, text.n_kept, fast.expected_chars,
                text.expected_chars);
    if (ok_fast)
        pipeline_stats_free(&fast);
    if (ok_text)
        pipeline_stats_free(&text);
    return same;
}

enum { ID_DATASETS = 40, ID_ITEMS = 16, ID_OPTION_SETS = 40 };

/* Random datasets and option sets: reading captions by their ids must change nothing. */
static void test_ids_match_text(void)
{
    rng r;
    rng_seed(&r, 20261124);
    size_t taken = 0, captions = 0;
    for (size_t d = 0; d < ID_DATASETS && !check_current_failed; d++) {
        char *root = fixture_make();
        for (size_t i = 0; root && i < ID_ITEMS; i++)
            item_random(&r, root, i);
        dataset *ds = root ? fixture_open(root, NULL) : NULL;
        if (ds)
            edits_random(&r, ds);
        for (size_t k = 0; ds && k < ID_OPTION_SETS; k++) {
            pipeline_opts o = opts_random(&r);
            CHECK(paths_agree(ds, &o, &taken));
            captions += ds->n_items;
            if (check_current_failed) {
                fprintf(stderr, "    (dataset %zu, option set %zu)\n", d, k);
                break;
            }
        }
        dataset_close(ds);
        fixture_remove(root);
    }
    /* both paths really ran: a good share of the captions by id, the rest as text */
    CHECK(taken > captions / 10);
    CHECK(taken < captions / 2);
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
    RUN(test_ids_match_text);
    return check_finish();
}
