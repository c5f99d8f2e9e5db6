/* The caption pipeline against kohya's process_caption (reference/trainers.md §1.3): what a
 * training step sees of a caption, for every option, and the order the options apply in. */
#include "tagger/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

enum { SEEDS = 300, MAX_TAGS = 64 };

static pipeline_opts opts_default(void)
{
    pipeline_opts o;
    pipeline_opts_default(&o);
    return o;
}

/* One draw at epoch `epoch`, step `step`, from a stream seeded with `seed`. */
static char *draw_at(const char *caption, const pipeline_opts *o, uint64_t seed, int epoch,
                     long step, long max_steps, size_t *kept)
{
    rng r;
    rng_seed(&r, seed);
    pipeline_when w = {.epoch = epoch, .step = step, .max_train_steps = max_steps};
    return pipeline_process(caption, o, &w, &r, kept);
}

static char *draw(const char *caption, const pipeline_opts *o, uint64_t seed, size_t *kept)
{
    return draw_at(caption, o, seed, 1, 0, 0, kept);
}

/* Splits a result on ", " (the re-join separator) into tags[]; returns the count. The string
 * is cut in place. */
static size_t tags_of(char *s, char **tags)
{
    size_t n = 0;
    if (!*s)
        return 0;
    for (;;) {
        tags[n++] = s;
        char *sep = strstr(s, ", ");
        if (!sep || n == MAX_TAGS)
            return n;
        *sep = '\0';
        s = sep + 2;
    }
}

static bool tag_in(const char *tag, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tag, set[i]) == 0)
            return true;
    return false;
}

/* Every tag of got[] is one of want[] and none repeats. */
static bool tags_distinct_subset(char **got, size_t n, const char *const *want, size_t nwant)
{
    for (size_t i = 0; i < n; i++) {
        if (!tag_in(got[i], want, nwant))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(got[i], got[j]) == 0)
                return false;
    }
    return true;
}

/* ---- verbatim: nothing splits the caption unless shuffle, tag dropout or warm-up is on ---- */

static void test_verbatim_without_shuffle_dropout_warmup(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens = 2; /* no effect on its own */
    size_t kept = 99;
    char *s = draw("  a ,b,,  c  ", &o, 1, &kept);
    CHECK_STR(s, "  a ,b,,  c  ");
    CHECK_INT(kept, 0);
    free(s);
}

static void test_no_draws_when_nothing_is_random(void)
{
    pipeline_opts o = opts_default();
    o.shuffle_caption = true; /* one flex tag: shuffling it draws nothing */
    o.keep_tokens = 1;
    rng r, before;
    rng_seed(&r, 5);
    before = r;
    pipeline_when w = {1, 0, 0};
    char *s = pipeline_process("a, b", &o, &w, &r, NULL);
    CHECK_STR(s, "a, b");
    CHECK(memcmp(&r, &before, sizeof r) == 0);
    free(s);
}

/* ---- keep_tokens ---- */

static void test_keep_tokens_never_shuffled_or_dropped(void)
{
    static const char *const flex[] = {"c", "d", "e", "f", "g"};
    pipeline_opts o = opts_default();
    o.keep_tokens = 2;
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.4;
    int bad = 0, second_varies = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        size_t kept;
        char *s = draw("a, b, c, d, e, f, g", &o, seed, &kept), *t[MAX_TAGS];
        size_t n = tags_of(s, t);
        bad += kept != 2 || n < 2 || strcmp(t[0], "a") || strcmp(t[1], "b") ||
               !tags_distinct_subset(t + 2, n - 2, flex, 5);
        second_varies += n > 2 && strcmp(t[2], "c") != 0;
        free(s);
    }
    CHECK_INT(bad, 0);
    CHECK(second_varies > SEEDS / 2); /* the flex part really is shuffled */
}

static void test_keep_tokens_beyond_the_caption(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens = 5;
    o.shuffle_caption = true;
    size_t kept;
    char *s = draw("a, b, c", &o, 3, &kept);
    CHECK_STR(s, "a, b, c");
    CHECK_INT(kept, 3);
    free(s);
}

/* ---- keep_tokens_separator: kohya's documented example ---- */

#define MIKU "1girl, hatsune miku, vocaloid ||| stage, microphone, white shirt, smile ||| " \
             "best quality, rating: general"

static bool miku_shape(char *s, size_t *nflex, bool *has_smile)
{
    static const char *const flex[] = {"stage", "microphone", "white shirt", "smile"};
    char *t[MAX_TAGS];
    size_t n = tags_of(s, t);
    if (n < 5 || strcmp(t[0], "1girl") || strcmp(t[1], "hatsune miku") || strcmp(t[2], "vocaloid") ||
        strcmp(t[n - 2], "best quality") || strcmp(t[n - 1], "rating: general"))
        return false;
    *nflex = n - 5;
    *has_smile = tag_in("smile", (const char *const *)t + 3, n - 5);
    return tags_distinct_subset(t + 3, n - 5, flex, 4);
}

static void test_separator_example_shuffles_only_the_middle(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens_separator = "|||";
    o.shuffle_caption = true;
    int bad = 0, orders_differ = 0;
    char *first = draw(MIKU, &o, 0, NULL);
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        size_t kept, nflex;
        bool smile;
        char *s = draw(MIKU, &o, seed, &kept);
        orders_differ += strcmp(s, first) != 0;
        bad += !miku_shape(s, &nflex, &smile) || nflex != 4 || kept != 3;
        free(s);
    }
    free(first);
    CHECK_INT(bad, 0);
    CHECK(orders_differ > SEEDS / 2);
}

static void test_separator_example_with_tag_dropout(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens_separator = "|||";
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.2;
    int bad = 0, smile_dropped_alone = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        size_t nflex;
        bool smile;
        char *s = draw(MIKU, &o, seed, NULL);
        bad += !miku_shape(s, &nflex, &smile);
        smile_dropped_alone += nflex == 3 && !smile; /* the draw shown in kohya's docs */
        free(s);
    }
    CHECK_INT(bad, 0);
    CHECK(smile_dropped_alone > 0);
}

/* Empty tags are left out on this path (they are kept on the keep_tokens path), and a third
 * separator stays inside the suffix text. */
static void test_separator_parts_details(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens_separator = "|||";
    o.shuffle_caption = true;
    char *s = draw("a,, ||| b ||| c ||| d", &o, 1, NULL);
    CHECK_STR(s, "a, b, c ||| d");
    free(s);
}

/* ---- prefix and suffix ---- */

static void test_prefix_counts_towards_keep_tokens(void)
{
    pipeline_opts o = opts_default();
    o.caption_prefix = "sks,";
    o.keep_tokens = 1;
    o.shuffle_caption = true;
    int bad = 0, dog_moved = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        char *s = draw("dog, grass, sky", &o, seed, NULL), *t[MAX_TAGS];
        size_t n = tags_of(s, t);
        bad += n != 4 || strcmp(t[0], "sks") != 0; /* the prefix took the kept slot ... */
        dog_moved += n == 4 && strcmp(t[1], "dog") != 0; /* ... so the first real tag moves */
        free(s);
    }
    CHECK_INT(bad, 0);
    CHECK(dog_moved > 0);
}

static void test_prefix_joins_with_a_single_space(void)
{
    pipeline_opts o = opts_default();
    o.caption_prefix = "sks";
    o.caption_suffix = "style";
    char *s = draw("dog, grass", &o, 1, NULL);
    CHECK_STR(s, "sks dog, grass style"); /* no comma: the prefix fuses with the first tag */
    free(s);
}

static void test_prefix_pinned_with_separator(void)
{
    pipeline_opts o = opts_default();
    o.caption_prefix = "trigger |||";
    o.caption_suffix = "||| masterpiece";
    o.keep_tokens_separator = "|||";
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.3;
    int bad = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        size_t kept;
        char *s = draw("a, b, c", &o, seed, &kept);
        size_t len = strlen(s);
        bad += kept != 1 || strncmp(s, "trigger, ", 9) != 0 || len < 11 ||
               strcmp(s + len - 11, "masterpiece") != 0;
        free(s);
    }
    CHECK_INT(bad, 0);
}

/* ---- whole-caption dropout ---- */

static void test_caption_dropout_rate_one_empties_everything(void)
{
    pipeline_opts o = opts_default();
    o.caption_dropout_rate = 1.0;
    o.caption_prefix = "sks";
    o.keep_tokens = 1;
    o.shuffle_caption = true;
    for (uint64_t seed = 0; seed < 20; seed++) {
        size_t kept = 7;
        char *s = draw("a, b", &o, seed, &kept);
        CHECK_STR(s, "");
        CHECK_INT(kept, 0);
        free(s);
    }
}

static void test_dropout_every_n_epochs(void)
{
    pipeline_opts o = opts_default();
    o.caption_dropout_every_n_epochs = 3;
    for (int epoch = 1; epoch <= 10; epoch++) {
        char *s = draw_at("a, b", &o, 1, epoch, 0, 0, NULL);
        if (epoch % 3 == 0)
            CHECK_STR(s, "");
        else
            CHECK_STR(s, "a, b");
        free(s);
    }
}

/* The dropout draw is the first one, and happens only when the rate is on: a caption that
 * survives it is shuffled by the rest of the stream. */
static void test_dropout_draw_comes_first(void)
{
    pipeline_opts with = opts_default(), without;
    with.shuffle_caption = true;
    with.caption_dropout_rate = 0.5;
    without = with;
    without.caption_dropout_rate = 0;
    int compared = 0, bad = 0;
    for (uint64_t seed = 0; seed < 50; seed++) {
        rng r;
        rng_seed(&r, seed);
        if (rng_uniform(&r) < 0.5)
            continue; /* this seed drops the caption */
        pipeline_when w = {1, 0, 0};
        char *a = pipeline_process("a, b, c, d, e", &without, &w, &r, NULL);
        char *b = draw("a, b, c, d, e", &with, seed, NULL);
        bad += strcmp(a, b) != 0;
        compared++;
        free(a);
        free(b);
    }
    CHECK(compared > 10);
    CHECK_INT(bad, 0);
}

/* ---- tag dropout ---- */

static void test_tag_dropout_rate_half_drops_about_half(void)
{
    pipeline_opts o = opts_default();
    o.caption_tag_dropout_rate = 0.5;
    o.keep_tokens = 1;
    const char *caption = "k, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15, "
                          "t16, t17, t18, t19, t20";
    long kept_tags = 0, draws = 500;
    rng r;
    rng_seed(&r, 11);
    pipeline_when w = {1, 0, 0};
    for (long d = 0; d < draws; d++) {
        char *s = pipeline_process(caption, &o, &w, &r, NULL), *t[MAX_TAGS];
        kept_tags += (long)tags_of(s, t) - 1; /* minus the fixed one */
        CHECK(strncmp(s, "k", 1) == 0);
        free(s);
    }
    /* 10000 Bernoulli(0.5) trials: sd of the fraction is 0.005 */
    CHECK_NEAR((double)kept_tags / (double)(draws * 20), 0.5, 0.025);
}

static void test_tag_dropout_rate_one_leaves_fixed_tags(void)
{
    pipeline_opts o = opts_default();
    o.caption_tag_dropout_rate = 1.0;
    o.keep_tokens = 2;
    size_t kept;
    char *s = draw("a, b, c, d", &o, 4, &kept);
    CHECK_STR(s, "a, b");
    CHECK_INT(kept, 2);
    free(s);
}

/* ---- secondary separator ---- */

static void test_secondary_separator_keeps_a_group_together(void)
{
    static const char *const units[] = {"a,b", "c", "d"};
    pipeline_opts o = opts_default();
    o.secondary_separator = ";;;";
    o.shuffle_caption = true;
    int bad = 0, group_moved = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        char *s = draw("a;;;b, c, d", &o, seed, NULL), *t[MAX_TAGS];
        size_t n = tags_of(s, t);
        bad += n != 3 || !tags_distinct_subset(t, n, units, 3);
        group_moved += n == 3 && strcmp(t[0], "a,b") != 0;
        free(s);
    }
    CHECK_INT(bad, 0);
    CHECK(group_moved > 0);
}

static void test_secondary_separator_applies_to_verbatim_captions(void)
{
    pipeline_opts o = opts_default();
    o.secondary_separator = ";;;";
    o.caption_separator = ";";
    char *s = draw("a;;;b;;;c, d", &o, 1, NULL);
    CHECK_STR(s, "a;b;c, d"); /* replaced by caption_separator, no space added */
    free(s);
}

/* ---- wildcards ---- */

static void test_wildcard_choices(void)
{
    pipeline_opts o = opts_default();
    o.enable_wildcard = true;
    int red = 0, blue = 0, other = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        char *s = draw("{red|blue} hair, 1girl", &o, seed, NULL);
        if (strcmp(s, "red hair, 1girl") == 0)
            red++;
        else if (strcmp(s, "blue hair, 1girl") == 0)
            blue++;
        else
            other++;
        free(s);
    }
    CHECK_INT(other, 0);
    CHECK(red > 60 && blue > 60); /* uniform: about 100 each */
}

static void check_wildcard_fixed(const char *caption, const char *want)
{
    pipeline_opts o = opts_default();
    o.enable_wildcard = true;
    char *s = draw(caption, &o, 9, NULL);
    CHECK_STR(s, want);
    free(s);
}

static void test_wildcard_escapes_and_non_groups(void)
{
    check_wildcard_fixed("{{braces}}", "{braces}");
    check_wildcard_fixed("{{a|b}}", "{a|b}");   /* escaped: not a group */
    check_wildcard_fixed("{solo}", "solo");      /* one alternative */
    check_wildcard_fixed("{}, {open, close}", "{}, open, close"); /* `{}` is not a group */
    check_wildcard_fixed("{open", "{open");
    check_wildcard_fixed("shut}", "shut}");
    check_wildcard_fixed("a {{{x}", "a {x");     /* an escape, then the group {x} */
    check_wildcard_fixed("{|}", "");            /* two empty alternatives */
}

static void test_wildcard_group_with_escaped_brace_inside(void)
{
    pipeline_opts o = opts_default();
    o.enable_wildcard = true;
    int seen_a = 0, seen_b = 0, other = 0;
    for (uint64_t seed = 0; seed < 100; seed++) {
        char *s = draw("{x{{y}}|z}", &o, seed, NULL);
        if (strcmp(s, "x{y}") == 0)
            seen_a++;
        else if (strcmp(s, "z") == 0)
            seen_b++;
        else
            other++;
        free(s);
    }
    CHECK_INT(other, 0);
    CHECK(seen_a > 0 && seen_b > 0);
}

static void test_wildcard_multiline_picks_one_line(void)
{
    pipeline_opts o = opts_default();
    o.enable_wildcard = true;
    int seen[3] = {0}, other = 0;
    static const char *const lines[] = {"one, a", "two, b", "three, c"};
    for (uint64_t seed = 0; seed < 150; seed++) {
        char *s = draw("one, a\ntwo, b\nthree, c", &o, seed, NULL);
        int k = 0;
        while (k < 3 && strcmp(s, lines[k]) != 0)
            k++;
        if (k < 3)
            seen[k]++;
        else
            other++;
        free(s);
    }
    CHECK_INT(other, 0);
    CHECK(seen[0] > 20 && seen[1] > 20 && seen[2] > 20);
}

static void test_without_wildcard_first_line_only(void)
{
    pipeline_opts o = opts_default();
    char *s = draw("{a|b}, first\nsecond", &o, 1, NULL);
    CHECK_STR(s, "{a|b}, first");
    free(s);
}

/* kohya adds the prefix before choosing a line: only the first line carries it. */
static void test_wildcard_prefix_only_on_first_line(void)
{
    pipeline_opts o = opts_default();
    o.enable_wildcard = true;
    o.caption_prefix = "pre";
    int with = 0, without = 0;
    for (uint64_t seed = 0; seed < 100; seed++) {
        char *s = draw("a\nb", &o, seed, NULL);
        with += strcmp(s, "pre a") == 0;
        without += strcmp(s, "b") == 0;
        free(s);
    }
    CHECK_INT(with + without, 100);
    CHECK(with > 0 && without > 0);
}

/* ---- token warm-up ---- */

#define ELEVEN "k, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10"

static size_t warmup_count(const pipeline_opts *o, long step, long max_steps)
{
    char *s = draw_at(ELEVEN, o, 1, 1, step, max_steps, NULL), *t[MAX_TAGS];
    size_t n = tags_of(s, t);
    bool in_order = true; /* truncation keeps the first tags, in file order (no shuffle here) */
    for (size_t i = 1; i < n; i++) {
        char want[24];
        snprintf(want, sizeof want, "t%zu", i);
        in_order &= strcmp(t[i], want) == 0;
    }
    CHECK(n >= 1 && strcmp(t[0], "k") == 0 && in_order);
    free(s);
    return n - 1;
}

/* flex has 10 tags; len = floor(step * (10 - min) / warmup_step) + min while step < warmup_step */
static void test_token_warmup_lengths(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens = 1;
    o.token_warmup_step = 10;
    o.token_warmup_min = 1;
    CHECK_INT(warmup_count(&o, 0, 0), 1);
    CHECK_INT(warmup_count(&o, 1, 0), 1);  /* floor(0.9) + 1 */
    CHECK_INT(warmup_count(&o, 5, 0), 5);  /* floor(4.5) + 1 */
    CHECK_INT(warmup_count(&o, 9, 0), 9);  /* floor(8.1) + 1 */
    CHECK_INT(warmup_count(&o, 10, 0), 10); /* done */
    o.token_warmup_step = 3.5;
    o.token_warmup_min = 2;
    CHECK_INT(warmup_count(&o, 0, 0), 2);
    CHECK_INT(warmup_count(&o, 2, 0), 6);  /* floor(2 * 8 / 3.5 = 4.57) + 2 */
    CHECK_INT(warmup_count(&o, 3, 0), 8);  /* floor(6.86) + 2 */
    CHECK_INT(warmup_count(&o, 4, 0), 10);
}

/* Below 1, token_warmup_step is a fraction of max_train_steps, floored. */
static void test_token_warmup_fraction(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens = 1;
    o.token_warmup_step = 0.5; /* of 20 steps: 10 */
    CHECK_INT(warmup_count(&o, 0, 20), 1);
    CHECK_INT(warmup_count(&o, 5, 20), 5);
    CHECK_INT(warmup_count(&o, 10, 20), 10);
    o.token_warmup_step = 0.25; /* of 20 steps: 5 */
    CHECK_INT(warmup_count(&o, 2, 20), 4); /* floor(2 * 9 / 5 = 3.6) + 1 */
    CHECK_INT(warmup_count(&o, 5, 20), 10);
}

/* A fraction that floors to 0 turns warm-up off: the caption stays verbatim. */
static void test_token_warmup_fraction_flooring_to_zero_is_off(void)
{
    pipeline_opts o = opts_default();
    o.token_warmup_step = 0.01; /* of 20 steps: 0 */
    char *s = draw_at("a ,b", &o, 1, 1, 0, 20, NULL);
    CHECK_STR(s, "a ,b");
    free(s);
}

/* The slice is Python's: a stop past the end keeps all, a negative one counts from the end. */
static void test_token_warmup_slice_semantics(void)
{
    pipeline_opts o = opts_default();
    o.token_warmup_step = 10;
    o.token_warmup_min = 5; /* more than the 2 tags there are */
    char *s = draw_at("a, b", &o, 1, 1, 5, 0, NULL);
    CHECK_STR(s, "a, b");
    free(s);
    o.token_warmup_min = -2; /* refused by validation; the slice still behaves as Python's */
    s = draw_at("a, b, c, d, e", &o, 1, 1, 0, 0, NULL);
    CHECK_STR(s, "a, b, c"); /* flex[:-2] */
    free(s);
    s = draw_at("a, b, c, d, e", &o, 1, 1, 1, 0, NULL);
    CHECK_STR(s, "a, b, c"); /* floor(1 * 7 / 10) - 2 = -2 */
    free(s);
    s = draw_at("a, b, c, d, e", &o, 1, 1, 2, 0, NULL);
    CHECK_STR(s, "a, b, c, d"); /* floor(1.4) - 2 = -1 */
    free(s);
}

/* ---- seeds ---- */

static void test_same_seed_same_draws(void)
{
    pipeline_opts o = opts_default();
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.3;
    o.enable_wildcard = true;
    const char *caption = "{a|b|c}, d, e, f, g, h, i";
    rng r1, r2, r3;
    rng_seed(&r1, 42);
    rng_seed(&r2, 42);
    rng_seed(&r3, 43);
    pipeline_when w = {1, 0, 0};
    int differ_same = 0, differ_other = 0;
    for (int d = 0; d < 20; d++) {
        char *a = pipeline_process(caption, &o, &w, &r1, NULL);
        char *b = pipeline_process(caption, &o, &w, &r2, NULL);
        char *c = pipeline_process(caption, &o, &w, &r3, NULL);
        differ_same += strcmp(a, b) != 0;
        differ_other += strcmp(a, c) != 0;
        free(a);
        free(b);
        free(c);
    }
    CHECK_INT(differ_same, 0);
    CHECK(differ_other > 10);
}

/* ---- edge cases ---- */

static void test_empty_caption(void)
{
    pipeline_opts o = opts_default();
    char *s = draw("", &o, 1, NULL);
    CHECK_STR(s, "");
    free(s);
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.5;
    s = draw("", &o, 1, NULL);
    CHECK_STR(s, ""); /* one empty tag, joined alone */
    free(s);
    s = draw(NULL, &o, 1, NULL);
    CHECK_STR(s, "");
    free(s);
    o.caption_tag_dropout_rate = 0;
    o.caption_prefix = "p";
    s = draw("", &o, 1, NULL);
    CHECK_STR(s, "p"); /* "p " split and stripped */
    free(s);
}

/* On the keep_tokens path empty tags survive (kohya strips them but does not remove them). */
static void test_empty_tags_are_kept_on_keep_tokens_path(void)
{
    static const char *const want[] = {"a", "", "b"};
    pipeline_opts o = opts_default();
    o.shuffle_caption = true;
    int bad = 0;
    for (uint64_t seed = 0; seed < 50; seed++) {
        char *s = draw("a,,b", &o, seed, NULL), *t[MAX_TAGS];
        size_t n = tags_of(s, t);
        bad += n != 3 || !tags_distinct_subset(t, n, want, 3);
        free(s);
    }
    CHECK_INT(bad, 0);
}

static void test_tags_are_stripped_like_python(void)
{
    pipeline_opts o = opts_default();
    o.keep_tokens = 9;
    o.shuffle_caption = true;
    /* ideographic space U+3000, no-break space U+00A0, tab, vertical tab */
    char *s = draw("\xe3\x80\x80" "a\xc2\xa0, \tb\v,c ", &o, 1, NULL);
    CHECK_STR(s, "a, b, c");
    free(s);
}

/* The re-join is ", " whatever caption_separator is (sd-scripts, Feb 2026). */
static void test_rejoin_is_comma_space(void)
{
    pipeline_opts o = opts_default();
    o.caption_separator = ";";
    o.keep_tokens = 3;
    o.shuffle_caption = true;
    char *s = draw("a; b;c", &o, 1, NULL);
    CHECK_STR(s, "a, b, c");
    free(s);
}

/* ---- read_caption ---- */

static void check_read(const char *text, bool wildcard, const char *want)
{
    char *s = pipeline_read_caption(text, strlen(text), wildcard);
    CHECK_STR(s, want);
    free(s);
}

static void test_read_caption(void)
{
    check_read("  a, b  \r\nsecond\r\n", false, "a, b");
    check_read("a, b", false, "a, b");
    check_read("", false, "");
    check_read("\nnot the first line", false, ""); /* lines[0].strip() */
    check_read("a\rb", false, "a");                /* a lone CR ends a line in Python */
    check_read("\xef\xbb\xbf" "a, b\n", false, "\xef\xbb\xbf" "a, b"); /* BOM kept */
    check_read("\xe3\x80\x80" "a\xc2\xa0\n", false, "a");
    check_read("a\r\n\r\n  b  \n \t\nc", true, "a\nb\nc");
    check_read("\n\n", true, "");
}

static void test_read_caption_length_bounds_the_text(void)
{
    char *s = pipeline_read_caption("abc, def", 3, false);
    CHECK_STR(s, "abc");
    free(s);
}

/* ---- options ---- */

static void check_invalid(const pipeline_opts *o, const char *want)
{
    tg_error err = {{0}};
    CHECK_INT(pipeline_opts_validate(o, &err), -1);
    CHECK_STR(err.msg, want);
}

static void test_opts_validate(void)
{
    pipeline_opts o = opts_default();
    tg_error err = {{0}};
    CHECK_INT(pipeline_opts_validate(&o, &err), 0);
    CHECK_INT(o.token_warmup_min, 1);
    CHECK_STR(o.caption_separator, ",");

    o.caption_tag_dropout_rate = 1.5;
    check_invalid(&o, "caption_tag_dropout_rate must be in [0, 1], got 1.5");
    o = opts_default();
    o.caption_dropout_rate = -0.1;
    check_invalid(&o, "caption_dropout_rate must be in [0, 1], got -0.1");
    o = opts_default();
    o.keep_tokens = -1;
    check_invalid(&o, "keep_tokens must be >= 0, got -1");
    o = opts_default();
    o.caption_dropout_every_n_epochs = -2;
    check_invalid(&o, "caption_dropout_every_n_epochs must be >= 0, got -2");
    o = opts_default();
    o.caption_separator = "";
    check_invalid(&o, "caption_separator must not be empty");
    o = opts_default();
    o.token_warmup_step = -1;
    check_invalid(&o, "token_warmup_step must be a finite number >= 0, got -1");
    o = opts_default();
    o.token_warmup_min = -1;
    check_invalid(&o, "token_warmup_min must be >= 0, got -1");
}

int main(void)
{
    RUN(test_verbatim_without_shuffle_dropout_warmup);
    RUN(test_no_draws_when_nothing_is_random);
    RUN(test_keep_tokens_never_shuffled_or_dropped);
    RUN(test_keep_tokens_beyond_the_caption);
    RUN(test_separator_example_shuffles_only_the_middle);
    RUN(test_separator_example_with_tag_dropout);
    RUN(test_separator_parts_details);
    RUN(test_prefix_counts_towards_keep_tokens);
    RUN(test_prefix_joins_with_a_single_space);
    RUN(test_prefix_pinned_with_separator);
    RUN(test_caption_dropout_rate_one_empties_everything);
    RUN(test_dropout_every_n_epochs);
    RUN(test_dropout_draw_comes_first);
    RUN(test_tag_dropout_rate_half_drops_about_half);
    RUN(test_tag_dropout_rate_one_leaves_fixed_tags);
    RUN(test_secondary_separator_keeps_a_group_together);
    RUN(test_secondary_separator_applies_to_verbatim_captions);
    RUN(test_wildcard_choices);
    RUN(test_wildcard_escapes_and_non_groups);
    RUN(test_wildcard_group_with_escaped_brace_inside);
    RUN(test_wildcard_multiline_picks_one_line);
    RUN(test_without_wildcard_first_line_only);
    RUN(test_wildcard_prefix_only_on_first_line);
    RUN(test_token_warmup_lengths);
    RUN(test_token_warmup_fraction);
    RUN(test_token_warmup_fraction_flooring_to_zero_is_off);
    RUN(test_token_warmup_slice_semantics);
    RUN(test_same_seed_same_draws);
    RUN(test_empty_caption);
    RUN(test_empty_tags_are_kept_on_keep_tokens_path);
    RUN(test_tags_are_stripped_like_python);
    RUN(test_rejoin_is_comma_space);
    RUN(test_read_caption);
    RUN(test_read_caption_length_bounds_the_text);
    RUN(test_opts_validate);
    return check_finish();
}
