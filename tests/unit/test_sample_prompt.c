/* kohya sample prompt lines and .txt files: every option and its default, case-insensitive names,
 * kohya's rounding and clamping, the options accepted and ignored, errors naming the option (and
 * the file and line for files), comments, blank lines, CRLF, BOM, and .toml/.json refused. */
#include "trainer/sample_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

static void test_full_line(void)
{
    sample_prompt p;
    tg_error err = {{0}};
    CHECK_INT(sample_prompt_parse("a red circle --n blurry --w 512 --h 768 --s 28 --l 7 --d 42 --ss "
                                  "Euler_A", &p, &err), 0);
    CHECK_STR(p.prompt, "a red circle");
    CHECK_STR(p.negative, "blurry");
    CHECK_INT(p.width, 512);
    CHECK_INT(p.height, 768);
    CHECK_INT(p.steps, 28);
    CHECK_NEAR(p.cfg_scale, 7.0, 0);
    CHECK_INT(p.seed, 42);
    CHECK_STR(p.sampler, "euler_a");
    CHECK_INT(p.ignored, 0);
    CHECK_INT(p.line, 0);
    sample_prompt_free(&p);

    /* trainers.md's example, with commas in both prompts. */
    CHECK_INT(sample_prompt_parse("masterpiece, 1girl, mychar --n lowres, bad anatomy --w 512 --h 768 "
                                  "--s 28 --l 7 --d 1234", &p, &err), 0);
    CHECK_STR(p.prompt, "masterpiece, 1girl, mychar");
    CHECK_STR(p.negative, "lowres, bad anatomy");
    CHECK_INT(p.seed, 1234);
    sample_prompt_free(&p);
}

static void test_defaults(void)
{
    sample_prompt p;
    tg_error err = {{0}};
    CHECK_INT(sample_prompt_parse("  blue square, white background  ", &p, &err), 0);
    CHECK_STR(p.prompt, "blue square, white background");
    CHECK_STR(p.negative, "");
    CHECK_INT(p.width, 512);
    CHECK_INT(p.height, 512);
    CHECK_INT(p.steps, 30);
    CHECK_NEAR(p.cfg_scale, 7.5, 0);
    CHECK_INT(p.seed, -1);
    CHECK(p.sampler == NULL);
    sample_prompt_free(&p);

    /* Options only: an empty prompt. */
    CHECK_INT(sample_prompt_parse("--w 256", &p, &err), 0);
    CHECK_STR(p.prompt, "");
    CHECK_INT(p.width, 256);
    sample_prompt_free(&p);
    CHECK_INT(sample_prompt_parse("", &p, &err), 0);
    CHECK_STR(p.prompt, "");
    sample_prompt_free(&p);
}

static void test_kohya_rounding_and_clamping(void)
{
    sample_prompt p;
    tg_error err = {{0}};
    /* Sides: down to /8, at least 64. Steps: 1..1000. Case-insensitive names, later wins. */
    CHECK_INT(sample_prompt_parse("x --W 515 --H 10 --S 0 --L .5 --D 0 --s 5000 --n a --N b", &p, &err),
              0);
    CHECK_INT(p.width, 512);
    CHECK_INT(p.height, 64);
    CHECK_INT(p.steps, 1000);
    CHECK_NEAR(p.cfg_scale, 0.5, 0);
    CHECK_INT(p.seed, 0);
    CHECK_STR(p.negative, "b");
    sample_prompt_free(&p);
    CHECK_INT(sample_prompt_parse("x --s 0 --w 64 --h 16384 --d 9223372036854775807 --l 12.", &p, &err), 0);
    CHECK_INT(p.steps, 1);
    CHECK_INT(p.width, 64);
    CHECK_INT(p.height, 16384);
    CHECK(p.seed == INT64_MAX);
    CHECK_NEAR(p.cfg_scale, 12, 0);
    sample_prompt_free(&p);
    /* "--" inside a word and a single '-' are part of the prompt; spaces around values go. */
    CHECK_INT(sample_prompt_parse("half-circle, a--b --n   x - y  --w   128  ", &p, &err), 0);
    CHECK_STR(p.prompt, "half-circle, a--b");
    CHECK_STR(p.negative, "x - y");
    CHECK_INT(p.width, 128);
    sample_prompt_free(&p);
}

static void test_ignored_options(void)
{
    sample_prompt p;
    tg_error err = {{0}};
    CHECK_INT(sample_prompt_parse("x --g 3.5 --fs 3 --CN img.png --ctr 0.2 --rcfg 1 --f 9", &p, &err), 0);
    CHECK_INT(p.ignored, SP_IGNORED_G | SP_IGNORED_FS | SP_IGNORED_CN | SP_IGNORED_CTR |
                             SP_IGNORED_RCFG | SP_IGNORED_F);
    char buf[64];
    CHECK_STR(sample_prompt_ignored_names(p.ignored, buf, sizeof buf), "g, cn, ctr, rcfg, fs, f");
    CHECK_STR(sample_prompt_ignored_names(0, buf, sizeof buf), "");
    CHECK_STR(p.prompt, "x");
    sample_prompt_free(&p);
}

static void expect_error(const char *line, const char *want)
{
    sample_prompt p;
    tg_error err = {{0}};
    int rc = sample_prompt_parse(line, &p, &err);
    CHECK_INT(rc, -1);
    if (!strstr(err.msg, want)) {
        check_current_failed++;
        fprintf(stderr, "  FAIL %s: message \"%s\" lacks \"%s\"\n", line, err.msg, want);
    }
    sample_prompt_free(&p);
}

static void test_errors_name_the_option(void)
{
    expect_error("x --w abc", "--w: expected a whole number, got \"abc\"");
    expect_error("x --h -5", "--h: expected a whole number, got \"-5\"");
    expect_error("x --w 512px", "--w: expected a whole number, got \"512px\"");
    expect_error("x --w 99999", "--w: \"99999\" is too large (at most 16384)");
    expect_error("x --s many", "--s: expected a whole number");
    expect_error("x --d 99999999999999999999", "--d: \"99999999999999999999\" is too large");
    expect_error("x --l seven", "--l: expected a number like 7.5, got \"seven\"");
    expect_error("x --l 1.2.3", "--l: expected a number like 7.5");
    expect_error("x --l .", "--l: expected a number like 7.5");
    expect_error("x --n", "--n needs a value");
    expect_error("x --w", "--w needs a value");
    expect_error("x --g", "--g needs a value");
    expect_error("x --ss", "--ss needs a value");
    expect_error("x --ss dpmpp_2m", "--ss: unknown sampler \"dpmpp_2m\"");
    expect_error("x --seed 4", "unknown option --seed");
    expect_error("x --averyveryverylongoptionname 4", "unknown option --averyveryverylongopt...");
    expect_error("x --", "\"--\" without an option name");
    expect_error("x -- --w 5", "\"--\" without an option name");
}

static void test_samplers(void)
{
    CHECK(sample_sampler_known("ddim"));
    CHECK(sample_sampler_known("DPMSolver++"));
    CHECK(sample_sampler_known("k_dpm_2_a"));
    CHECK(!sample_sampler_known("dpm++2m"));
    CHECK(!sample_sampler_known(""));
}

static void test_file_text(void)
{
    const char text[] = "\xef\xbb\xbf# sample prompts\r\n"
                        "red circle, white background --d 1\r\n"
                        "\r\n"
                        "   \t\n"
                        "  # an indented comment\n"
                        "blue square --n red --w 256 --h 256\n"
                        "green triangle"; /* no final newline */
    sample_prompt_list l;
    tg_error err = {{0}};
    CHECK_INT(sample_prompts_parse(text, sizeof text - 1, "prompts.txt", &l, &err), 0);
    CHECK_INT(l.count, 3);
    if (l.count == 3) {
        CHECK_STR(l.items[0].prompt, "red circle, white background");
        CHECK_INT(l.items[0].seed, 1);
        CHECK_INT(l.items[0].line, 2);
        CHECK_STR(l.items[1].prompt, "blue square");
        CHECK_STR(l.items[1].negative, "red");
        CHECK_INT(l.items[1].width, 256);
        CHECK_INT(l.items[1].line, 6);
        CHECK_STR(l.items[2].prompt, "green triangle");
        CHECK_INT(l.items[2].line, 7);
    }
    sample_prompts_free(&l);
    CHECK_INT(l.count, 0);

    /* Empty file: no prompts, no error. */
    CHECK_INT(sample_prompts_parse("", 0, "e.txt", &l, &err), 0);
    CHECK_INT(l.count, 0);
    sample_prompts_free(&l);

    /* Errors: file, line, option; nothing kept. */
    const char bad[] = "ok\n# c\n\nsecond --w 256\nthird --l x\n";
    CHECK_INT(sample_prompts_parse(bad, sizeof bad - 1, "p.txt", &l, &err), -1);
    CHECK_STR(err.msg, "p.txt:5: --l: expected a number like 7.5, got \"x\"");
    CHECK_INT(l.count, 0);
    CHECK(l.items == NULL);
    const char nul[] = "ok\nbad\0line\n";
    CHECK_INT(sample_prompts_parse(nul, sizeof nul - 1, "n.txt", &l, &err), -1);
    CHECK(strstr(err.msg, "n.txt:2: a NUL byte") == err.msg);
}

static void test_file_load(void)
{
    char *root = fixture_make();
    CHECK(root != NULL);
    if (!root)
        return;
    fixture_write(root, "prompts.txt", "a --s 12\n\nb --ss DDIM\n");
    fixture_write(root, "bad.txt", "a\nb --x 1\n");
    fixture_write(root, "prompts.toml", "[prompt]\n");
    fixture_write(root, "prompts.JSON", "[]\n");
    char *p = fixture_path(root, "prompts.txt");
    sample_prompt_list l;
    tg_error err = {{0}};
    CHECK_INT(sample_prompts_load(p, &l, &err), 0);
    CHECK_INT(l.count, 2);
    if (l.count == 2) {
        CHECK_INT(l.items[0].steps, 12);
        CHECK_STR(l.items[1].sampler, "ddim");
        CHECK_INT(l.items[1].line, 3);
    }
    sample_prompts_free(&l);
    free(p);

    p = fixture_path(root, "bad.txt");
    CHECK_INT(sample_prompts_load(p, &l, &err), -1);
    CHECK(strstr(err.msg, "bad.txt:2: unknown option --x") != NULL);
    free(p);

    const char *refused[] = {"prompts.toml", "prompts.JSON"};
    for (int i = 0; i < 2; i++) {
        p = fixture_path(root, refused[i]);
        CHECK_INT(sample_prompts_load(p, &l, &err), -1);
        CHECK(strstr(err.msg, "not supported yet") != NULL);
        free(p);
    }
    p = fixture_path(root, "missing.txt");
    CHECK_INT(sample_prompts_load(p, &l, &err), -1);
    CHECK(strstr(err.msg, "missing.txt: No such file") != NULL);
    free(p);
    CHECK_INT(sample_prompts_load(root, &l, &err), -1);
    CHECK(strstr(err.msg, "is a folder") != NULL);
    fixture_remove(root);
}

int main(void)
{
    RUN(test_full_line);
    RUN(test_defaults);
    RUN(test_kohya_rounding_and_clamping);
    RUN(test_ignored_options);
    RUN(test_errors_name_the_option);
    RUN(test_samplers);
    RUN(test_file_text);
    RUN(test_file_load);
    return check_finish();
}
