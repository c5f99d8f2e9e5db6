/* The Train screen's form over the run config: every key of the config is in it, typed values
 * parse or are refused naming the key (the config unchanged), +/- steps each kind as the screen
 * promises (1-2-5 for rates, doubling for the rank, tidy decimals, cycling choices, the seed from
 * random), checks between keys refuse too, and a default comes back. */
#include "tui/train_form.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

static run_config cfg;

static void fresh(void)
{
    tg_error err;
    run_config_free(&cfg);
    CHECK(run_config_init(&cfg, &err) == 0);
}

static int field(const char *key)
{
    for (int f = 0; f < n_train_fields; f++)
        if (!strcmp(train_fields[f].key, key))
            return f;
    fprintf(stderr, "  no field %s\n", key);
    return 0;
}

static const char *value(const char *key)
{
    static char buf[256];
    train_field_value(&cfg, field(key), buf, sizeof buf);
    return buf;
}

static int set(const char *key, const char *text, tg_error *err)
{
    return train_field_set(&cfg, field(key), text, err);
}

static int step(const char *key, int dir)
{
    tg_error err;
    return train_field_step(&cfg, field(key), dir, &err);
}

/* Every key the config saves is a field (optimizer_args through its four parts), each with a
 * section and a hint. */
static void test_every_key_is_in_the_form(void)
{
    fresh();
    size_t len;
    char *text = run_config_text(&cfg, &len);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL);
    int n = 0;
    for (cJSON *k = root ? root->child : NULL; k; k = k->next, n++) {
        bool found = !strcmp(k->string, "optimizer_args");
        for (int f = 0; f < n_train_fields && !found; f++)
            found = !strcmp(train_fields[f].key, k->string);
        if (!found)
            fprintf(stderr, "  %s is not in the form\n", k->string);
        CHECK(found);
    }
    CHECK_INT(n + 3, n_train_fields); /* optimizer_args is four fields */
    for (int f = 0; f < n_train_fields; f++) {
        CHECK(train_fields[f].section && *train_fields[f].section);
        CHECK(*train_field_hint(f));
    }
    cJSON_Delete(root);
    free(text);
}

static void test_typed_numbers(void)
{
    tg_error err;
    fresh();
    CHECK(set("learning_rate", "3e-4", &err) == 0);
    CHECK_STR(value("learning_rate"), "0.0003");
    CHECK(set("learning_rate", "-1", &err) < 0);
    CHECK(strncmp(err.msg, "learning_rate: ", 15) == 0);
    CHECK_STR(value("learning_rate"), "0.0003");
    CHECK(set("network_dim", "abc", &err) < 0);
    CHECK_STR(err.msg, "network_dim: \"abc\" is not a whole number");
    CHECK(set("network_dim", "2.5", &err) < 0);
    CHECK(set("network_dim", "99999999999", &err) < 0);
    CHECK(strncmp(err.msg, "network_dim: ", 13) == 0);
    CHECK(set("network_dim", "32", &err) == 0);
    CHECK_INT(cfg.network_dim, 32);
    CHECK(set("caption_dropout_rate", "1.5", &err) < 0);
    CHECK(strstr(err.msg, "caption_dropout_rate") == err.msg);
    CHECK(cfg.caption_dropout_rate == 0);
}

static void test_checks_between_keys(void)
{
    tg_error err;
    fresh();
    CHECK(set("min_bucket_reso", "2000", &err) < 0);
    CHECK(strstr(err.msg, "min_bucket_reso: 2000 is above max_bucket_reso") == err.msg);
    CHECK_INT(cfg.min_bucket_reso, 256);
    CHECK(set("lr_warmup_steps", "10", &err) < 0); /* not with "constant" */
    CHECK(strstr(err.msg, "lr_warmup_steps: ") == err.msg);
    CHECK(cfg.lr_warmup_steps == 0);
    CHECK(set("max_train_steps", "0", &err) < 0); /* and max_train_epochs 0 */
    CHECK_INT(cfg.max_train_steps, 1600);
}

static void test_steps(void)
{
    fresh();
    CHECK(step("learning_rate", 1) == 0);
    CHECK_STR(value("learning_rate"), "0.0002");
    step("learning_rate", 1);
    CHECK_STR(value("learning_rate"), "0.0005");
    step("learning_rate", 1);
    CHECK_STR(value("learning_rate"), "0.001");
    step("learning_rate", -1);
    step("learning_rate", -1);
    step("learning_rate", -1);
    step("learning_rate", -1);
    CHECK_STR(value("learning_rate"), "5e-05");
    step("network_dim", 1);
    CHECK_INT(cfg.network_dim, 16);
    for (int i = 0; i < 4; i++)
        step("network_dim", -1);
    CHECK_INT(cfg.network_dim, 1);
    CHECK(step("network_dim", -1) < 0); /* 0 is refused */
    CHECK_INT(cfg.network_dim, 1);
    for (int i = 0; i < 3; i++)
        step("caption_tag_dropout_rate", 1);
    CHECK(cfg.caption_tag_dropout_rate == 0.15); /* not 0.15000000000000002 */
    CHECK(step("keep_tokens", -1) < 0);
    step("max_train_steps", 1);
    CHECK_INT(cfg.max_train_steps, 1700);
    step("flip_aug", 1);
    CHECK(cfg.flip_aug);
    step("flip_aug", -1);
    CHECK(!cfg.flip_aug);
    step("adam_epsilon", 1);
    CHECK(cfg.adam_epsilon == 1e-7);
    tg_error err;
    CHECK(train_field_step(&cfg, field("output_name"), 1, &err) < 0);
    CHECK(strstr(err.msg, "output_name") == err.msg);
}

static void test_choices(void)
{
    tg_error err;
    fresh();
    step("lr_scheduler", 1);
    CHECK_STR(cfg.lr_scheduler, "constant_with_warmup");
    step("lr_scheduler", -1);
    step("lr_scheduler", -1); /* wraps */
    CHECK_STR(cfg.lr_scheduler, "polynomial");
    CHECK(set("lr_scheduler", "Cosine", &err) == 0);
    CHECK_STR(cfg.lr_scheduler, "cosine");
    CHECK(set("lr_scheduler", "adafactor", &err) < 0);
    CHECK(strstr(err.msg, "lr_scheduler: ") == err.msg);
    CHECK_STR(cfg.lr_scheduler, "cosine");
    const char *list[16];
    int n = train_field_choices(field("save_precision"), list, 16);
    CHECK_INT(n, 4);
    CHECK(list[0] == NULL);
    CHECK_STR(value("save_precision"), "(unset)");
    CHECK_INT(train_field_choice_index(&cfg, field("save_precision")), 0);
    step("save_precision", 1);
    CHECK_STR(cfg.save_precision, "float");
    CHECK(train_field_choose(&cfg, field("save_precision"), NULL, &err) == 0);
    CHECK(cfg.save_precision == NULL);
    CHECK(train_field_choose(&cfg, field("mixed_precision"), NULL, &err) < 0);
    CHECK_STR(cfg.mixed_precision, "no");
}

static void test_text_seed_and_warmup(void)
{
    tg_error err;
    fresh();
    CHECK(set("sample_prompts", "prompts.txt", &err) == 0);
    CHECK_STR(cfg.sample_prompts, "prompts.txt");
    CHECK(set("sample_prompts", "", &err) == 0);
    CHECK(cfg.sample_prompts == NULL);
    CHECK_STR(value("sample_prompts"), "(unset)");
    CHECK(set("caption_separator", "", &err) < 0);
    CHECK_STR(cfg.caption_separator, ",");
    CHECK_STR(value("seed"), "(random)");
    CHECK(set("seed", "42", &err) == 0);
    CHECK(cfg.has_seed && cfg.seed == 42);
    CHECK(set("seed", "-1", &err) < 0);
    CHECK(set("seed", "", &err) == 0);
    CHECK(!cfg.has_seed);
    step("seed", 1);
    CHECK(cfg.has_seed && cfg.seed == 0);
    step("seed", -1);
    CHECK(!cfg.has_seed);
    CHECK(set("lr_scheduler", "cosine", &err) == 0);
    CHECK(set("lr_warmup_steps", "10%", &err) == 0);
    CHECK(cfg.lr_warmup_steps == 0.1);
    CHECK_STR(value("lr_warmup_steps"), "0.1 (10% of the steps)");
    CHECK(set("enable_bucket", "no", &err) == 0);
    CHECK(!cfg.enable_bucket);
    CHECK(set("enable_bucket", "maybe", &err) < 0);
    CHECK_STR(err.msg, "enable_bucket: true or false, not \"maybe\"");
}

static void test_reset_to_default(void)
{
    tg_error err;
    run_config d;
    fresh();
    CHECK(run_config_init(&d, &err) == 0);
    CHECK(set("network_dim", "64", &err) == 0);
    CHECK(set("output_name", "mine", &err) == 0);
    CHECK(train_field_reset(&cfg, field("network_dim"), &d, &err) == 0);
    CHECK(train_field_reset(&cfg, field("output_name"), &d, &err) == 0);
    CHECK_INT(cfg.network_dim, 8);
    CHECK(cfg.output_name == NULL);
    run_config_free(&d);
}

int main(void)
{
    RUN(test_every_key_is_in_the_form);
    RUN(test_typed_numbers);
    RUN(test_checks_between_keys);
    RUN(test_steps);
    RUN(test_choices);
    RUN(test_text_seed_and_warmup);
    RUN(test_reset_to_default);
    run_config_free(&cfg);
    return check_finish();
}
