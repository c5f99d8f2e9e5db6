/* The run configuration file: kohya's keys and defaults, validation messages that name the key,
 * unknown keys kept as written, atomic saves that never overwrite someone else's change. */
#include "trainer/run_config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define EPS 1e-12

/* Loads root/rel, counting a failure as a failed check. */
static bool load_ok(const char *root, const char *rel, run_config *c)
{
    char *path = fixture_path(root, rel);
    tg_error err = {{0}};
    int rc = run_config_load(path, c, &err);
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    run_config_load: %s\n", err.msg);
    free(path);
    return rc == 0;
}

static bool save_ok(const char *root, const char *rel, run_config *c)
{
    char *path = fixture_path(root, rel);
    tg_error err = {{0}};
    int rc = run_config_save(path, c, &err);
    CHECK_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "    run_config_save: %s\n", err.msg);
    free(path);
    return rc == 0;
}

static void test_missing_file_defaults(void)
{
    char *root = fixture_make();
    run_config c;
    if (load_ok(root, ".tagbench/run.json", &c)) {
        CHECK(c.train_data_dir == NULL);
        CHECK_STR(c.caption_extension, ".caption");
        CHECK(c.resolution == NULL);
        CHECK(!c.has_seed);
        CHECK_STR(c.keep_tokens_separator, "");
        CHECK_STR(c.caption_separator, ",");
        CHECK(c.secondary_separator == NULL && c.caption_prefix == NULL && c.caption_suffix == NULL);
        CHECK_INT(c.token_warmup_min, 1);
        CHECK_INT(run_config_unknown_count(&c), 0);
        pipeline_opts got, want;
        run_config_pipeline(&c, &got);
        pipeline_opts_default(&want);
        CHECK_INT(got.keep_tokens, want.keep_tokens);
        CHECK_STR(got.caption_separator, want.caption_separator);
        CHECK(got.shuffle_caption == want.shuffle_caption);
        CHECK_NEAR(got.caption_tag_dropout_rate, want.caption_tag_dropout_rate, EPS);
        CHECK_NEAR(got.caption_dropout_rate, want.caption_dropout_rate, EPS);
        CHECK_INT(got.caption_dropout_every_n_epochs, want.caption_dropout_every_n_epochs);
        CHECK(got.enable_wildcard == want.enable_wildcard);
        CHECK_INT(got.token_warmup_min, want.token_warmup_min);
        CHECK_NEAR(got.token_warmup_step, want.token_warmup_step, EPS);
        CHECK(!fixture_exists(root, ".tagbench")); /* loading creates nothing */
        run_config_free(&c);
    }
    fixture_remove(root);
}

/* Every known key with a value other than its default, and unknown keys in awkward forms. */
static const char FULL[] =
    "{\n"
    "  \"my_rate\": 1e-4,\n"
    "  \"train_data_dir\": \"/data/set\",\n"
    "  \"caption_extension\": \".txt\",\n"
    "  \"resolution\": \"512,768\",\n"
    "  \"seed\": 4294967295,\n"
    "  \"network_args\": {\"conv_dim\": \"4\",  \"x\":[1, 2.50, \"a\\\"]}\"]},\n"
    "  \"shuffle_caption\": true,\n"
    "  \"keep_tokens\": 2,\n"
    "  \"keep_tokens_separator\": \"|||\",\n"
    "  \"caption_separator\": \";\",\n"
    "  \"secondary_separator\": \";;;\",\n"
    "  \"caption_prefix\": \"sks,\",\n"
    "  \"caption_suffix\": \"masterpiece\",\n"
    "  \"caption_tag_dropout_rate\": 0.1,\n"
    "  \"caption_dropout_rate\": 0.05,\n"
    "  \"caption_dropout_every_n_epochs\": 3,\n"
    "  \"enable_wildcard\": true,\n"
    "  \"token_warmup_min\": 4,\n"
    "  \"token_warmup_step\": 0.25,\n"
    "  \"epoch\": 1.0,\n"
    "  \"note\": \"a \\u00e9 cat\\n\",\n"
    "  \"lr_scheduler_args\": [ ],\n"
    "  \"nothing\": null\n"
    "}\n";

static const char *const UNKNOWN_KEYS[] = {"my_rate", "network_args", "epoch",
                                           "note", "lr_scheduler_args", "nothing"};
static const char *const UNKNOWN_VALUES[] = {
    "1e-4", "{\"conv_dim\": \"4\",  \"x\":[1, 2.50, \"a\\\"]}\"]}", "1.0",
    "\"a \\u00e9 cat\\n\"", "[ ]", "null"};

static void check_full(const run_config *c)
{
    CHECK_STR(c->train_data_dir, "/data/set");
    CHECK_STR(c->caption_extension, ".txt");
    CHECK_STR(c->resolution, "512,768");
    CHECK(c->has_seed);
    CHECK(c->seed == 4294967295u);
    CHECK(c->shuffle_caption && c->enable_wildcard);
    CHECK_INT(c->keep_tokens, 2);
    CHECK_STR(c->keep_tokens_separator, "|||");
    CHECK_STR(c->caption_separator, ";");
    CHECK_STR(c->secondary_separator, ";;;");
    CHECK_STR(c->caption_prefix, "sks,");
    CHECK_STR(c->caption_suffix, "masterpiece");
    CHECK_NEAR(c->caption_tag_dropout_rate, 0.1, EPS);
    CHECK_NEAR(c->caption_dropout_rate, 0.05, EPS);
    CHECK_INT(c->caption_dropout_every_n_epochs, 3);
    CHECK_INT(c->token_warmup_min, 4);
    CHECK_NEAR(c->token_warmup_step, 0.25, EPS);
    CHECK_INT(run_config_unknown_count(c), 6);
    for (size_t i = 0; i < 6; i++) {
        const cJSON *u = cJSON_GetArrayItem(c->unknown, (int)i);
        CHECK_STR(run_config_unknown_key(c, i), UNKNOWN_KEYS[i]);
        CHECK(u && cJSON_IsRaw(u));
        CHECK_STR(u ? u->valuestring : NULL, UNKNOWN_VALUES[i]);
    }
    CHECK(run_config_unknown_key(c, 6) == NULL);
}

/* Where needle starts in s, or -1. */
static long offset_of(const char *s, const char *needle)
{
    const char *p = s && needle ? strstr(s, needle) : NULL;
    return p ? p - s : -1;
}

static void test_round_trip(void)
{
    char *root = fixture_make();
    fixture_write(root, ".tagbench/run.json", FULL);
    run_config c;
    if (load_ok(root, ".tagbench/run.json", &c)) {
        check_full(&c);
        CHECK(save_ok(root, ".tagbench/run.json", &c));
        run_config_free(&c);
    }
    char *saved = fixture_read(root, ".tagbench/run.json", NULL);
    for (size_t i = 0; saved && i < 6; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\"", UNKNOWN_KEYS[i]);
        CHECK(strstr(saved, UNKNOWN_VALUES[i]) != NULL); /* byte for byte */
        CHECK(offset_of(saved, "\"token_warmup_step\"") < offset_of(saved, key));
    }
    CHECK(offset_of(saved, "\"train_data_dir\"") < offset_of(saved, "\"keep_tokens\""));
    CHECK(offset_of(saved, "\"my_rate\"") < offset_of(saved, "\"nothing\""));
    CHECK(offset_of(saved, "\n\t\"train_data_dir\":") > 0); /* pretty-printed */
    if (load_ok(root, ".tagbench/run.json", &c)) {
        check_full(&c);
        CHECK(save_ok(root, ".tagbench/run.json", &c)); /* a second save changes nothing */
        run_config_free(&c);
    }
    char *again = fixture_read(root, ".tagbench/run.json", NULL);
    CHECK_STR(again, saved);
    free(again);
    free(saved);
    CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
    fixture_remove(root);
}

/* The kohya_ss GUI writes some numbers as strings, and "" for no seed. */
static void test_gui_spellings(void)
{
    char *root = fixture_make();
    fixture_write(root, "gui.json",
                  "\xEF\xBB\xBF{\"keep_tokens\": \"2\", \"caption_dropout_every_n_epochs\": 0.0,"
                  " \"seed\": \"\", \"caption_dropout_rate\": \"0.25\", \"resolution\": 512,"
                  " \"max_resolution\": \"512,512\", \"clip_skip\": \"1\"}");
    run_config c;
    if (load_ok(root, "gui.json", &c)) {
        CHECK_INT(c.keep_tokens, 2);
        CHECK_INT(c.caption_dropout_every_n_epochs, 0);
        CHECK(!c.has_seed);
        CHECK_NEAR(c.caption_dropout_rate, 0.25, EPS);
        CHECK_STR(c.resolution, "512");
        CHECK_INT(c.clip_skip, 1);
        CHECK_INT(run_config_unknown_count(&c), 1); /* kept, though read as resolution's alias */
        CHECK_STR(run_config_unknown_key(&c, 0), "max_resolution");
        CHECK_STR(c.unknown->child ? c.unknown->child->valuestring : NULL, "\"512,512\"");
        run_config_free(&c);
    }
    fixture_remove(root);
}

typedef struct bad_case {
    const char *json, *message; /* message: what follows "PATH: " */
} bad_case;

static const bad_case BAD[] = {
    {"{\"caption_dropout_rate\": 1.5}", "caption_dropout_rate: must be a number in [0, 1], got 1.5"},
    {"{\"caption_tag_dropout_rate\": -0.1}",
     "caption_tag_dropout_rate: must be a number in [0, 1], got -0.1"},
    {"{\"keep_tokens\": -1}", "keep_tokens: must be an integer >= 0, got -1"},
    {"{\"keep_tokens\": 1.5}", "keep_tokens: must be an integer >= 0, got 1.5"},
    {"{\"keep_tokens\": \"two\"}", "keep_tokens: must be an integer >= 0, got \"two\""},
    {"{\"keep_tokens\": null}", "keep_tokens: must be an integer >= 0, got null"},
    {"{\"caption_dropout_every_n_epochs\": \"nan\"}",
     "caption_dropout_every_n_epochs: must be an integer >= 0, got \"nan\""},
    {"{\"token_warmup_min\": 3000000000}",
     "token_warmup_min: must be an integer >= 0, got 3000000000"},
    {"{\"token_warmup_step\": -2}", "token_warmup_step: must be a number >= 0, got -2"},
    {"{\"shuffle_caption\": \"yes\"}", "shuffle_caption: must be true or false, got \"yes\""},
    {"{\"enable_wildcard\": 1}", "enable_wildcard: must be true or false, got 1"},
    {"{\"caption_separator\": \"\"}", "caption_separator: must be a non-empty string, got \"\""},
    {"{\"caption_separator\": null}", "caption_separator: must be a non-empty string, got null"},
    {"{\"caption_prefix\": 5}", "caption_prefix: must be a string or null, got 5"},
    {"{\"caption_extension\": \"a/b\"}",
     "caption_extension: must be a string without '/' such as \".txt\", got \"a/b\""},
    {"{\"resolution\": \"512x768\"}", "resolution: must be \"SIZE\" or \"WIDTH,HEIGHT\""},
    {"{\"resolution\": \"512,768,3\"}", "resolution: must be \"SIZE\" or \"WIDTH,HEIGHT\""},
    {"{\"resolution\": \"0\"}", "resolution: must be \"SIZE\" or \"WIDTH,HEIGHT\""},
    {"{\"seed\": -1}", "seed: must be an integer in [0, 4294967295] or null, got -1"},
    {"{\"seed\": 4294967296}", "seed: must be an integer in [0, 4294967295] or null, got 4294967296"},
    {"{\"keep_tokens\": 1, \"x\": 2, \"keep_tokens\": 2}", "key \"keep_tokens\" appears twice"},
    {"[1, 2]", "must hold a JSON object"},
    {"{\n  \"keep_tokens\": 1,\n  \"x\": ]\n}\n", "3:8: not valid JSON"},
    {"{\"a\": 1} trailing", "1:10: not valid JSON"},
    {"", "1:1: not valid JSON (the file is empty)"},
};

static void test_errors(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "run.json");
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        fixture_write(root, "run.json", BAD[i].json);
        run_config c;
        tg_error err = {{0}};
        char want[512];
        bool pos = BAD[i].message[0] >= '0' && BAD[i].message[0] <= '9';
        snprintf(want, sizeof want, "%s%s%s", path, pos ? ":" : ": ", BAD[i].message);
        CHECK_INT(run_config_load(path, &c, &err), -1);
        if (strncmp(err.msg, want, strlen(want)) != 0)
            fprintf(stderr, "  FAIL case %zu: \"%s\", expected \"%s...\"\n", i, err.msg, want),
                check_current_failed++;
        CHECK_INT(c.keep_tokens, 0); /* left with the defaults */
        CHECK_STR(c.caption_separator, ",");
        run_config_free(&c);
    }
    free(path);
    fixture_remove(root);
}

static void test_save_validates(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "run.json");
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(run_config_init(&c, &err), 0);
    c.caption_dropout_rate = 2;
    CHECK_INT(run_config_save(path, &c, &err), -1);
    CHECK(strstr(err.msg, "caption_dropout_rate: must be a number in [0, 1], got 2") != NULL);
    CHECK(!fixture_exists(root, "run.json"));
    c.caption_dropout_rate = 0;
    c.keep_tokens = -3;
    CHECK_INT(run_config_validate(&c, &err), -1);
    CHECK_STR(err.msg, "keep_tokens: must be an integer >= 0, got -3");
    c.keep_tokens = 0;
    CHECK_INT(run_config_string_set(&c.resolution, "640, 512"), 0);
    CHECK_INT(run_config_validate(&c, &err), 0);
    run_config_free(&c);
    free(path);
    fixture_remove(root);
}

static void test_pipeline_opts(void)
{
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(run_config_init(&c, &err), 0);
    char prefix[16] = "sks,", kts[8] = "|||";
    pipeline_opts o;
    pipeline_opts_default(&o);
    o.keep_tokens = 3;
    o.caption_prefix = prefix;
    o.keep_tokens_separator = kts;
    o.shuffle_caption = true;
    o.caption_tag_dropout_rate = 0.3;
    o.token_warmup_step = 0.5;
    CHECK_INT(run_config_pipeline_set(&c, &o, &err), 0);
    strcpy(prefix, "changed"); /* the config holds its own copies */
    strcpy(kts, "xx");
    pipeline_opts got;
    run_config_pipeline(&c, &got);
    CHECK_INT(got.keep_tokens, 3);
    CHECK_STR(got.caption_prefix, "sks,");
    CHECK_STR(got.keep_tokens_separator, "|||");
    CHECK(got.shuffle_caption);
    CHECK_NEAR(got.caption_tag_dropout_rate, 0.3, EPS);
    CHECK_NEAR(got.token_warmup_step, 0.5, EPS);
    CHECK(got.caption_suffix == NULL);
    o.caption_dropout_rate = 7; /* refused as a whole */
    o.keep_tokens = 9;
    CHECK_INT(run_config_pipeline_set(&c, &o, &err), -1);
    CHECK(strstr(err.msg, "caption_dropout_rate") != NULL);
    CHECK_INT(c.keep_tokens, 3);
    CHECK_STR(c.caption_prefix, "sks,");
    run_config_free(&c);
}

/* The folder is made, nothing but run.json is left in it, and saving twice works. */
static void test_save_atomic(void)
{
    char *root = fixture_make();
    char *path = run_config_default_path(root);
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(run_config_load(path, &c, &err), 0);
    c.keep_tokens = 1;
    CHECK_INT(run_config_save(path, &c, &err), 0);
    CHECK(fixture_exists(root, ".tagbench/run.json"));
    c.keep_tokens = 2;
    CHECK_INT(run_config_save(path, &c, &err), 0);
    run_config_free(&c);
    CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
    CHECK_INT(fixture_count_named(root, "run"), 1);
    struct stat st;
    CHECK(fixture_stat(root, ".tagbench/run.json", &st) == 0 && (st.st_mode & 0777) == 0644);
    if (run_config_load(path, &c, &err) == 0) {
        CHECK_INT(c.keep_tokens, 2);
        run_config_free(&c);
    }
    free(path);
    fixture_remove(root);
}

static void test_changed_on_disk(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "run.json");
    tg_error err = {{0}};
    run_config c, other;
    fixture_write(root, "run.json", "{\"keep_tokens\": 1}\n");
    CHECK(load_ok(root, "run.json", &c));
    fixture_write(root, "run.json", "{\"keep_tokens\": 5}\n"); /* same size: content decides */
    c.keep_tokens = 2;
    CHECK_INT(run_config_save(path, &c, &err), -1);
    CHECK(strstr(err.msg, "run.json: was changed on disk since it was loaded") != NULL);
    char *text = fixture_read(root, "run.json", NULL);
    CHECK_STR(text, "{\"keep_tokens\": 5}\n");
    free(text);
    run_config_free(&c);

    /* missing when loaded, created since */
    fixture_remove_path(path);
    CHECK(load_ok(root, "run.json", &c));
    fixture_write(root, "run.json", "{}");
    CHECK_INT(run_config_save(path, &c, &err), -1);
    CHECK(strstr(err.msg, "was created by another program") != NULL);
    run_config_free(&c);

    /* a config not loaded from this path never overwrites it */
    CHECK(load_ok(root, "elsewhere.json", &other));
    CHECK_INT(run_config_save(path, &other, &err), -1);
    CHECK(strstr(err.msg, "not loaded from it") != NULL);
    text = fixture_read(root, "run.json", NULL);
    CHECK_STR(text, "{}");
    free(text);
    run_config_free(&other);
    free(path);
    fixture_remove(root);
}

/* Loads and saves into a folder we may not write; 0 when refused with the right message. */
static int save_refused(const char *path)
{
    run_config c;
    tg_error err = {{0}};
    if (run_config_load(path, &c, &err) < 0) {
        fprintf(stderr, "    load: %s\n", err.msg);
        return 1;
    }
    c.keep_tokens = 4;
    int rc = run_config_save(path, &c, &err);
    run_config_free(&c);
    if (rc == 0 || !strstr(err.msg, "cannot create a temporary file in") ||
        !strstr(err.msg, "Permission denied")) {
        fprintf(stderr, "    save: %d \"%s\"\n", rc, err.msg);
        return 1;
    }
    return 0;
}

static void test_read_only_folder(void)
{
    char *root = fixture_make();
    const char *orig = "{\"keep_tokens\": 1, \"x\": [1]}\n";
    fixture_write(root, ".tagbench/run.json", orig);
    char *path = fixture_path(root, ".tagbench/run.json");
    fixture_chmod(root, ".tagbench", 0555);
    if (geteuid() != 0) {
        CHECK_INT(save_refused(path), 0);
    } else {
        /* root writes anywhere: try as an unprivileged user in a child */
        chmod(root, 0755);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(setgid(65534) != 0 || setuid(65534) != 0 ? 100 : save_refused(path));
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 100)
            printf("  SKIP read-only folder: running as root and cannot drop privileges\n");
        else
            CHECK_INT(WEXITSTATUS(status), 0);
    }
    char *text = fixture_read(root, ".tagbench/run.json", NULL);
    CHECK_STR(text, orig);
    free(text);
    CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
    free(path);
    fixture_remove(root);
}

/* Something other than a file where the config goes: refused before any temporary file. */
static void test_not_a_file(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "run.json");
    run_config c;
    tg_error err = {{0}};
    if (load_ok(root, "run.json", &c)) {
        fixture_mkdir(root, "run.json");
        CHECK_INT(run_config_save(path, &c, &err), -1);
        CHECK(strstr(err.msg, "run.json: not a regular file") != NULL);
        CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
        run_config_free(&c);
    }
    free(path);
    fixture_remove(root);
}

static void test_default_path(void)
{
    char *p = run_config_default_path("/data/set");
    CHECK_STR(p, "/data/set/.tagbench/run.json");
    free(p);
    p = run_config_default_path("/data/set//");
    CHECK_STR(p, "/data/set/.tagbench/run.json");
    free(p);
    p = run_config_default_path(".");
    CHECK_STR(p, "./.tagbench/run.json");
    free(p);
}

int main(void)
{
    RUN(test_missing_file_defaults);
    RUN(test_round_trip);
    RUN(test_gui_spellings);
    RUN(test_errors);
    RUN(test_save_validates);
    RUN(test_pipeline_opts);
    RUN(test_save_atomic);
    RUN(test_changed_on_disk);
    RUN(test_read_only_folder);
    RUN(test_not_a_file);
    RUN(test_default_path);
    return check_finish();
}
