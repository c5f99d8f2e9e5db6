/* The run configuration's training keys (issue 5): defaults suited to LoRA work, every key's
 * type and range refusals naming the key, the checks between keys, optimizer_args, a round trip
 * in sections, and a kohya_ss GUI config with its list of ignored keys. */
#include "trainer/run_config.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define EPS 1e-12

/* Loads text from a file; 0 or -1 with err set. */
static int load_text(const char *text, run_config *c, tg_error *err)
{
    char *root = fixture_make();
    fixture_write(root, "run.json", text);
    char *path = fixture_path(root, "run.json");
    int rc = run_config_load(path, c, err);
    if (rc < 0) { /* the message without "PATH: " */
        size_t n = strlen(path);
        if (strncmp(err->msg, path, n) == 0 && strncmp(err->msg + n, ": ", 2) == 0)
            memmove(err->msg, err->msg + n + 2, strlen(err->msg + n + 2) + 1);
    }
    free(path);
    fixture_remove(root);
    return rc;
}

static void test_defaults(void)
{
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(run_config_init(&c, &err), 0);
    CHECK(c.pretrained_model_name_or_path == NULL);
    CHECK_STR(c.train_mode, "lora");
    CHECK(c.enable_bucket && !c.bucket_no_upscale);
    CHECK_INT(c.min_bucket_reso, 256);
    CHECK_INT(c.max_bucket_reso, 1024);
    CHECK_INT(c.bucket_reso_steps, 64);
    CHECK(!c.flip_aug && !c.color_aug && !c.random_crop);
    CHECK_INT(c.network_dim, 8);
    CHECK_NEAR(c.network_alpha, 1, EPS);
    CHECK_NEAR(c.network_dropout, 0, EPS);
    CHECK(!c.network_train_unet_only);
    CHECK_STR(c.optimizer_type, "AdamW");
    CHECK_NEAR(c.learning_rate, 1e-4, EPS);
    CHECK_NEAR(c.unet_lr, 0, EPS);
    CHECK_NEAR(run_config_unet_lr(&c), 1e-4, EPS);
    CHECK_NEAR(run_config_text_encoder_lr(&c), 1e-4, EPS);
    CHECK_NEAR(c.weight_decay, 0.01, EPS);
    CHECK_NEAR(c.adam_beta1, 0.9, EPS);
    CHECK_NEAR(c.adam_beta2, 0.999, EPS);
    CHECK_NEAR(c.adam_epsilon, 1e-8, 1e-20);
    CHECK_STR(c.lr_scheduler, "constant");
    CHECK_NEAR(c.lr_warmup_steps, 0, EPS);
    CHECK_INT(c.lr_scheduler_num_cycles, 1);
    CHECK_NEAR(c.lr_scheduler_power, 1, EPS);
    CHECK_INT(c.max_train_steps, 1600);
    CHECK_INT(c.max_train_epochs, 0);
    CHECK_INT(c.train_batch_size, 1);
    CHECK_INT(c.gradient_accumulation_steps, 1);
    CHECK_NEAR(c.max_grad_norm, 1, EPS);
    CHECK_NEAR(c.noise_offset, 0, EPS);
    CHECK_NEAR(c.min_snr_gamma, 0, EPS);
    CHECK(!c.v_parameterization && !c.save_state);
    CHECK(c.output_dir == NULL && c.output_name == NULL && c.save_precision == NULL);
    CHECK(c.resume == NULL && c.sample_prompts == NULL && c.training_comment == NULL);
    CHECK_INT(c.save_every_n_epochs + c.save_every_n_steps, 0);
    CHECK_INT(c.sample_every_n_epochs + c.sample_every_n_steps, 0);
    CHECK_STR(c.sample_sampler, "ddim");
    CHECK_INT(c.clip_skip, 1);
    CHECK_STR(c.mixed_precision, "no");
    CHECK_INT(run_config_validate(&c, &err), 0);
    CHECK_INT(run_config_validate_run(&c, &err), -1);
    CHECK(strstr(err.msg, "pretrained_model_name_or_path: not set") == err.msg);
    char args[160];
    run_config_optimizer_args(&c, args, sizeof args);
    CHECK_STR(args, "weight_decay=0.01 betas=0.9,0.999 eps=1e-08");
    char *text = run_config_ignored_text(&c);
    CHECK_STR(text, "");
    free(text);
    run_config_free(&c);
}

typedef struct bad_case {
    const char *json, *message; /* the message's start, after "PATH: " */
} bad_case;

/* Each key's type and range; the message names the key. */
static const bad_case BAD[] = {
    {"{\"pretrained_model_name_or_path\": 3}",
     "pretrained_model_name_or_path: must be a string or null, got 3"},
    {"{\"train_data_dir\": true}", "train_data_dir: must be a string or null, got true"},
    {"{\"enable_bucket\": \"true\"}", "enable_bucket: must be true or false, got \"true\""},
    {"{\"min_bucket_reso\": 0}", "min_bucket_reso: must be an integer in [1, 100000], got 0"},
    {"{\"max_bucket_reso\": 1e9}", "max_bucket_reso: must be an integer in [1, 100000]"},
    {"{\"bucket_reso_steps\": 6.5}", "bucket_reso_steps: must be an integer in [1, 4096], got 6.5"},
    {"{\"bucket_no_upscale\": 0}", "bucket_no_upscale: must be true or false, got 0"},
    {"{\"flip_aug\": null}", "flip_aug: must be true or false, got null"},
    {"{\"color_aug\": \"no\"}", "color_aug: must be true or false"},
    {"{\"random_crop\": []}", "random_crop: must be true or false, got []"},
    {"{\"train_mode\": \"dreambooth\"}",
     "train_mode: must be one of \"lora\", \"full\", got \"dreambooth\""},
    {"{\"network_dim\": 0}", "network_dim: must be an integer in [1, 4096], got 0"},
    {"{\"network_alpha\": 0}", "network_alpha: must be a number > 0, got 0"},
    {"{\"network_alpha\": \"-1\"}", "network_alpha: must be a number > 0, got \"-1\""},
    {"{\"network_dropout\": 1}", "network_dropout: must be a number in [0, 1), got 1"},
    {"{\"network_train_unet_only\": 1}", "network_train_unet_only: must be true or false"},
    {"{\"optimizer_type\": \"Lion\"}",
     "optimizer_type: \"Lion\" is not supported yet (tagbench has \"AdamW\", \"AdamW8bit\")"},
    {"{\"optimizer_type\": \"Prodigy\"}", "optimizer_type: \"Prodigy\" is not supported yet"},
    {"{\"optimizer_type\": 1}", "optimizer_type: must be one of \"AdamW\", \"AdamW8bit\", got 1"},
    {"{\"learning_rate\": 0}", "learning_rate: must be a number > 0, got 0"},
    {"{\"learning_rate\": \"fast\"}", "learning_rate: must be a number > 0, got \"fast\""},
    {"{\"unet_lr\": -1e-4}", "unet_lr: must be a number >= 0, got -0.0001"},
    {"{\"text_encoder_lr\": \"inf\"}", "text_encoder_lr: must be a number >= 0, got \"inf\""},
    {"{\"weight_decay\": -0.1}", "weight_decay: must be a number >= 0, got -0.1"},
    {"{\"adam_beta1\": 1}", "adam_beta1: must be a number in [0, 1), got 1"},
    {"{\"adam_beta2\": -0.5}", "adam_beta2: must be a number in [0, 1), got -0.5"},
    {"{\"adam_epsilon\": 0}", "adam_epsilon: must be a number in (0, 1], got 0"},
    {"{\"optimizer_args\": 5}", "optimizer_args: must be a string such as"},
    {"{\"optimizer_args\": \"momentum=0.9\"}", "optimizer_args: \"momentum\" is not supported yet"},
    {"{\"optimizer_args\": \"betas=0.9\"}", "optimizer_args: betas: \"0.9\" is not two numbers"},
    {"{\"optimizer_args\": \"weight_decay\"}", "optimizer_args: \"weight_decay\" is not name=value"},
    {"{\"optimizer_args\": \"betas=0.9,1.5\"}",
     "optimizer_args: adam_beta2: must be a number in [0, 1), got 1.5"},
    {"{\"optimizer_args\": \"weight_decay=0.1\", \"weight_decay\": 0.2}",
     "weight_decay: set twice: 0.1 by optimizer_args and 0.2 by weight_decay"},
    {"{\"lr_scheduler\": \"cosine_with_min_lr\"}",
     "lr_scheduler: \"cosine_with_min_lr\" is not supported yet (tagbench has \"constant\", "
     "\"constant_with_warmup\", \"linear\", \"cosine\", \"cosine_with_restarts\", \"polynomial\")"},
    {"{\"lr_scheduler\": \"Cosine\"}", "lr_scheduler: must be one of \"constant\""},
    {"{\"lr_warmup_steps\": 1.5}", "lr_warmup_steps: must be an integer >= 0 (steps) or a "
                                   "fraction in [0, 1) of the training steps, got 1.5"},
    {"{\"lr_warmup_steps\": -1}", "lr_warmup_steps: must be an integer >= 0 (steps)"},
    {"{\"lr_scheduler_num_cycles\": 0}", "lr_scheduler_num_cycles: must be an integer >= 1, got 0"},
    {"{\"lr_scheduler_power\": 0}", "lr_scheduler_power: must be a number > 0, got 0"},
    {"{\"max_train_steps\": -5}", "max_train_steps: must be an integer >= 0, got -5"},
    {"{\"max_train_epochs\": 2.5}", "max_train_epochs: must be an integer >= 0, got 2.5"},
    {"{\"train_batch_size\": 0}", "train_batch_size: must be an integer in [1, 65536], got 0"},
    {"{\"train_batch_size\": \"\"}", "train_batch_size: must be an integer in [1, 65536], got \"\""},
    {"{\"gradient_accumulation_steps\": 0}",
     "gradient_accumulation_steps: must be an integer in [1, 65536], got 0"},
    {"{\"max_grad_norm\": -1}", "max_grad_norm: must be a number >= 0, got -1"},
    {"{\"noise_offset\": 2}", "noise_offset: must be a number in [0, 1], got 2"},
    {"{\"min_snr_gamma\": -5}", "min_snr_gamma: must be a number >= 0, got -5"},
    {"{\"v_parameterization\": \"True\"}", "v_parameterization: must be true or false"},
    {"{\"output_dir\": {}}", "output_dir: must be a string or null, got {}"},
    {"{\"output_name\": 1}", "output_name: must be a string or null, got 1"},
    {"{\"save_every_n_epochs\": -1}", "save_every_n_epochs: must be an integer >= 0, got -1"},
    {"{\"save_every_n_steps\": 0.5}", "save_every_n_steps: must be an integer >= 0, got 0.5"},
    {"{\"save_precision\": \"fp32\"}",
     "save_precision: must be one of \"float\", \"fp16\", \"bf16\" or null, got \"fp32\""},
    {"{\"save_state\": \"yes\"}", "save_state: must be true or false"},
    {"{\"resume\": false}", "resume: must be a string or null, got false"},
    {"{\"sample_every_n_steps\": -2}", "sample_every_n_steps: must be an integer >= 0, got -2"},
    {"{\"sample_every_n_epochs\": \"x\"}", "sample_every_n_epochs: must be an integer >= 0"},
    {"{\"sample_prompts\": 7}", "sample_prompts: must be a string or null, got 7"},
    {"{\"sample_sampler\": \"heun\"}", "sample_sampler: \"heun\" is not supported yet (tagbench "
                                       "has \"ddim\", \"euler\", \"euler_a\""},
    {"{\"sample_sampler\": \"magic\"}", "sample_sampler: must be one of \"ddim\""},
    {"{\"clip_skip\": 0}", "clip_skip: must be an integer in [1, 12], got 0"},
    {"{\"clip_skip\": 13}", "clip_skip: must be an integer in [1, 12], got 13"},
    {"{\"mixed_precision\": \"fp8\"}",
     "mixed_precision: must be one of \"no\", \"fp16\", \"bf16\", got \"fp8\""},
    {"{\"training_comment\": [1]}", "training_comment: must be a string or null, got [1]"},
    /* known to kohya, ignored here, but a value that would change what is trained is refused */
    {"{\"v2\": true}", "v2: true is not supported (SD 2.x models are not supported)"},
    {"{\"LoRA_type\": \"LyCORIS/LoHa\"}", "LoRA_type: \"LyCORIS/LoHa\" is not supported"},
    {"{\"optimizer\": \"Lion8bit\"}", "optimizer: \"Lion8bit\" is not supported yet"},
    {"{\"epoch\": -1}", "epoch: must be an integer >= 0, got -1"},
    {"{\"lr_scheduler\": \"cosine\", \"lr_warmup\": 150}",
     "lr_warmup: must be a percentage in [0, 100)"},
};

/* The checks between keys. */
static const bad_case CROSS[] = {
    {"{\"min_bucket_reso\": 512, \"max_bucket_reso\": 256}",
     "min_bucket_reso: 512 is above max_bucket_reso (256)"},
    {"{\"resolution\": \"500\"}",
     "resolution: \"500\" is not a multiple of bucket_reso_steps (64), which enable_bucket needs"},
    {"{\"resolution\": \"64\"}", "min_bucket_reso: 256 is above the resolution's smaller side (64)"},
    {"{\"resolution\": \"512,2048\"}",
     "max_bucket_reso: 1024 is below the resolution's larger side (2048)"},
    {"{\"max_train_steps\": 0}", "max_train_steps: is 0 and so is max_train_epochs"},
    {"{\"max_train_steps\": \"\", \"lr_warmup_steps\": 10}",
     "lr_warmup_steps: must be 0 with lr_scheduler \"constant\""},
    {"{\"lr_scheduler\": \"linear\", \"max_train_steps\": 100, \"lr_warmup_steps\": 100}",
     "lr_warmup_steps: 100 is not below max_train_steps (100)"},
};

static void check_refusals(const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        run_config c;
        tg_error err = {{0}};
        int rc = load_text(cases[i].json, &c, &err);
        CHECK_INT(rc, -1);
        if (rc == 0 || strncmp(err.msg, cases[i].message, strlen(cases[i].message)) != 0)
            fprintf(stderr, "  FAIL %s: \"%s\", expected \"%s...\"\n", cases[i].json, err.msg,
                    cases[i].message), check_current_failed++;
        CHECK_INT(c.network_dim, 8); /* left with the defaults */
        run_config_free(&c);
    }
}

static void test_refusals(void)
{
    check_refusals(BAD, sizeof BAD / sizeof BAD[0]);
}

static void test_cross_keys(void)
{
    check_refusals(CROSS, sizeof CROSS / sizeof CROSS[0]);
    /* and what they let through */
    static const char *const OK[] = {
        "{\"resolution\": \"64\", \"min_bucket_reso\": 64}",
        "{\"resolution\": \"500\", \"enable_bucket\": false}",
        "{\"resolution\": \"512,2048\", \"bucket_no_upscale\": true}",
        "{\"max_train_steps\": 0, \"max_train_epochs\": 3}",
        "{\"lr_scheduler\": \"cosine\", \"lr_warmup_steps\": 0.1}",
        "{\"lr_scheduler\": \"cosine\", \"lr_warmup_steps\": \"10%\"}",
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        run_config c;
        tg_error err = {{0}};
        if (load_text(OK[i], &c, &err) < 0)
            fprintf(stderr, "  FAIL %s: %s\n", OK[i], err.msg), check_current_failed++;
        else
            run_config_free(&c);
    }
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(run_config_init(&c, &err), 0);
    c.network_alpha = 0; /* validate sees what the form sets */
    CHECK_INT(run_config_validate(&c, &err), -1);
    CHECK_STR(err.msg, "network_alpha: must be a number > 0, got 0");
    c.network_alpha = 4;
    c.max_bucket_reso = 128;
    CHECK_INT(run_config_validate(&c, &err), -1);
    CHECK_STR(err.msg, "min_bucket_reso: 256 is above max_bucket_reso (128)");
    run_config_free(&c);
}

static void test_optimizer_args(void)
{
    static const char *const FORMS[] = {
        "{\"optimizer_args\": \"weight_decay=0.1 betas=0.8,0.99\"}",
        "{\"optimizer_args\": \"betas=(0.8, 0.99) weight_decay=0.1\"}",
        "{\"optimizer_args\": [\"weight_decay=0.1\", \"betas=[0.8, 0.99]\"]}",
        "{\"weight_decay\": \"0.1\", \"adam_beta1\": 0.8, \"adam_beta2\": 0.99}",
        "{\"optimizer_args\": \"weight_decay=0.1 betas=0.8,0.99\", \"weight_decay\": 0.1}",
    };
    for (size_t i = 0; i < sizeof FORMS / sizeof FORMS[0]; i++) {
        run_config c;
        tg_error err = {{0}};
        if (load_text(FORMS[i], &c, &err) < 0) {
            fprintf(stderr, "  FAIL %s: %s\n", FORMS[i], err.msg), check_current_failed++;
            continue;
        }
        CHECK_NEAR(c.weight_decay, 0.1, EPS);
        CHECK_NEAR(c.adam_beta1, 0.8, EPS);
        CHECK_NEAR(c.adam_beta2, 0.99, EPS);
        CHECK_NEAR(c.adam_epsilon, 1e-8, 1e-20);
        char args[160];
        run_config_optimizer_args(&c, args, sizeof args);
        CHECK_STR(args, "weight_decay=0.1 betas=0.8,0.99 eps=1e-08");
        run_config_free(&c);
    }
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(load_text("{\"optimizer_args\": \"\", \"optimizer_type\": \"adamw\"}", &c, &err), 0);
    CHECK_STR(c.optimizer_type, "AdamW"); /* sd-scripts compares without case */
    CHECK_NEAR(c.weight_decay, 0.01, EPS);
    run_config_free(&c);
}

/* Every training key away from its default, saved, loaded back, saved again. */
static void test_round_trip(void)
{
    char *root = fixture_make();
    char *path = fixture_path(root, "run.json");
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(run_config_load(path, &c, &err), 0);
    run_config_string_set(&c.pretrained_model_name_or_path, "/models/base.safetensors");
    run_config_string_set(&c.train_data_dir, "/data/set");
    run_config_string_set(&c.resolution, "512,768");
    run_config_string_set(&c.train_mode, "full");
    run_config_string_set(&c.optimizer_type, "AdamW");
    run_config_string_set(&c.lr_scheduler, "cosine_with_restarts");
    run_config_string_set(&c.output_dir, "/runs/a");
    run_config_string_set(&c.output_name, "mychar");
    run_config_string_set(&c.save_precision, "bf16");
    run_config_string_set(&c.resume, "/runs/a/mychar-state");
    run_config_string_set(&c.sample_prompts, "/runs/prompts.txt");
    run_config_string_set(&c.sample_sampler, "euler_a");
    run_config_string_set(&c.mixed_precision, "bf16");
    run_config_string_set(&c.training_comment, "trigger: mychar");
    c.enable_bucket = false, c.bucket_no_upscale = true;
    c.min_bucket_reso = 320, c.max_bucket_reso = 960, c.bucket_reso_steps = 32;
    c.flip_aug = c.color_aug = c.random_crop = true;
    c.network_dim = 32, c.network_alpha = 16, c.network_dropout = 0.1;
    c.network_train_unet_only = true;
    c.learning_rate = 5e-4, c.unet_lr = 3e-4, c.text_encoder_lr = 5e-5;
    c.weight_decay = 0.05, c.adam_beta1 = 0.85, c.adam_beta2 = 0.995, c.adam_epsilon = 1e-6;
    c.lr_warmup_steps = 0.05, c.lr_scheduler_num_cycles = 3, c.lr_scheduler_power = 2;
    c.max_train_steps = 3000, c.max_train_epochs = 10, c.train_batch_size = 4;
    c.gradient_accumulation_steps = 2, c.max_grad_norm = 0;
    c.noise_offset = 0.05, c.min_snr_gamma = 5, c.v_parameterization = true;
    c.save_every_n_epochs = 2, c.save_every_n_steps = 500, c.save_state = true;
    c.sample_every_n_steps = 100, c.sample_every_n_epochs = 1;
    c.has_seed = true, c.seed = 42, c.clip_skip = 2;
    CHECK_INT(run_config_save(path, &c, &err), 0);
    if (err.msg[0])
        fprintf(stderr, "    %s\n", err.msg);
    run_config_free(&c);
    char *saved = fixture_read(root, "run.json", NULL);
    run_config d;
    CHECK_INT(run_config_load(path, &d, &err), 0);
    CHECK_STR(d.pretrained_model_name_or_path, "/models/base.safetensors");
    CHECK_STR(d.train_mode, "full");
    CHECK_STR(d.lr_scheduler, "cosine_with_restarts");
    CHECK_STR(d.save_precision, "bf16");
    CHECK_STR(d.sample_sampler, "euler_a");
    CHECK_STR(d.training_comment, "trigger: mychar");
    CHECK(!d.enable_bucket && d.bucket_no_upscale && d.flip_aug && d.color_aug && d.random_crop);
    CHECK_INT(d.min_bucket_reso + d.max_bucket_reso + d.bucket_reso_steps, 320 + 960 + 32);
    CHECK_INT(d.network_dim, 32);
    CHECK_NEAR(d.network_alpha, 16, EPS);
    CHECK_NEAR(d.network_dropout, 0.1, EPS);
    CHECK(d.network_train_unet_only && d.v_parameterization && d.save_state);
    CHECK_NEAR(d.learning_rate, 5e-4, EPS);
    CHECK_NEAR(run_config_unet_lr(&d), 3e-4, EPS);
    CHECK_NEAR(run_config_text_encoder_lr(&d), 5e-5, EPS);
    CHECK_NEAR(d.weight_decay, 0.05, EPS);
    CHECK_NEAR(d.adam_beta1, 0.85, EPS);
    CHECK_NEAR(d.adam_beta2, 0.995, EPS);
    CHECK_NEAR(d.adam_epsilon, 1e-6, 1e-18);
    CHECK_NEAR(d.lr_warmup_steps, 0.05, EPS);
    CHECK_INT(d.lr_scheduler_num_cycles, 3);
    CHECK_NEAR(d.lr_scheduler_power, 2, EPS);
    CHECK_INT(d.max_train_steps, 3000);
    CHECK_INT(d.max_train_epochs, 10);
    CHECK_INT(d.train_batch_size * d.gradient_accumulation_steps, 8);
    CHECK_NEAR(d.max_grad_norm, 0, EPS);
    CHECK_NEAR(d.noise_offset, 0.05, EPS);
    CHECK_NEAR(d.min_snr_gamma, 5, EPS);
    CHECK_INT(d.save_every_n_epochs + d.save_every_n_steps, 502);
    CHECK_INT(d.sample_every_n_steps + d.sample_every_n_epochs, 101);
    CHECK(d.has_seed && d.seed == 42);
    CHECK_INT(d.clip_skip, 2);
    CHECK_STR(d.mixed_precision, "bf16");
    CHECK_INT(run_config_unknown_count(&d), 0);
    CHECK_INT(run_config_save(path, &d, &err), 0);
    run_config_free(&d);
    char *again = fixture_read(root, "run.json", NULL);
    CHECK_STR(again, saved);
    /* sections in order: dataset, captions, network, optimizer, schedule, steps, diffusion,
     * saving, sampling, misc; optimizer_args in kohya's form, no plain keys */
    static const char *const ORDER[] = {
        "\"train_data_dir\"", "\"random_crop\"", "\"shuffle_caption\"", "\"token_warmup_step\"",
        "\"pretrained_model_name_or_path\"", "\"network_train_unet_only\"", "\"optimizer_type\"",
        "\"optimizer_args\":\t\"weight_decay=0.05 betas=0.85,0.995 eps=1e-06\"",
        "\"lr_scheduler\"", "\"lr_scheduler_power\"", "\"max_train_steps\"", "\"max_grad_norm\"",
        "\"noise_offset\"", "\"v_parameterization\"", "\"output_dir\"", "\"resume\"",
        "\"sample_every_n_steps\"", "\"sample_sampler\"", "\"seed\"", "\"training_comment\"",
    };
    const char *at = saved;
    for (size_t i = 0; saved && i < sizeof ORDER / sizeof ORDER[0]; i++) {
        const char *p = strstr(at, ORDER[i]);
        if (!p)
            fprintf(stderr, "  FAIL %s not after its predecessor\n", ORDER[i]),
                check_current_failed++;
        else
            at = p;
    }
    CHECK(saved && !strstr(saved, "\"weight_decay\"") && !strstr(saved, "\"adam_beta1\""));
    free(again);
    free(saved);
    free(path);
    fixture_remove(root);
}

/* Representative of what the kohya_ss GUI (LoRA tab) saves: written from knowledge of its
 * saved configs, not copied from one. Numbers as strings, "" for unset, GUI-only keys. */
static const char GUI[] =
    "{\n"
    "  \"LoRA_type\": \"Standard\",\n"
    "  \"LyCORIS_preset\": \"full\",\n"
    "  \"adaptive_noise_scale\": 0,\n"
    "  \"additional_parameters\": \"\",\n"
    "  \"block_alphas\": \"\",\n"
    "  \"block_dims\": \"\",\n"
    "  \"bucket_no_upscale\": true,\n"
    "  \"bucket_reso_steps\": 64,\n"
    "  \"cache_latents\": true,\n"
    "  \"cache_latents_to_disk\": false,\n"
    "  \"caption_dropout_every_n_epochs\": 0.0,\n"
    "  \"caption_dropout_rate\": 0,\n"
    "  \"caption_extension\": \".txt\",\n"
    "  \"clip_skip\": \"1\",\n"
    "  \"color_aug\": false,\n"
    "  \"conv_alpha\": 1,\n"
    "  \"conv_dim\": 1,\n"
    "  \"enable_bucket\": true,\n"
    "  \"epoch\": 10,\n"
    "  \"flip_aug\": false,\n"
    "  \"full_fp16\": false,\n"
    "  \"gradient_accumulation_steps\": 1,\n"
    "  \"gradient_checkpointing\": false,\n"
    "  \"keep_tokens\": \"1\",\n"
    "  \"learning_rate\": 0.0001,\n"
    "  \"logging_dir\": \"/home/me/lora/log\",\n"
    "  \"lr_scheduler\": \"cosine\",\n"
    "  \"lr_scheduler_num_cycles\": \"\",\n"
    "  \"lr_scheduler_power\": \"\",\n"
    "  \"lr_warmup\": 10,\n"
    "  \"max_bucket_reso\": 2048,\n"
    "  \"max_data_loader_n_workers\": \"0\",\n"
    "  \"max_grad_norm\": 1,\n"
    "  \"max_resolution\": \"512,512\",\n"
    "  \"max_timestep\": 1000,\n"
    "  \"max_token_length\": \"75\",\n"
    "  \"max_train_epochs\": \"\",\n"
    "  \"max_train_steps\": \"\",\n"
    "  \"mem_eff_attn\": false,\n"
    "  \"min_bucket_reso\": 256,\n"
    "  \"min_snr_gamma\": 5,\n"
    "  \"min_timestep\": 0,\n"
    "  \"mixed_precision\": \"fp16\",\n"
    "  \"model_list\": \"custom\",\n"
    "  \"multires_noise_discount\": 0.3,\n"
    "  \"multires_noise_iterations\": 0,\n"
    "  \"network_alpha\": 16,\n"
    "  \"network_dim\": 32,\n"
    "  \"network_dropout\": 0,\n"
    "  \"noise_offset\": 0.05,\n"
    "  \"noise_offset_type\": \"Original\",\n"
    "  \"optimizer\": \"AdamW\",\n"
    "  \"optimizer_args\": \"weight_decay=0.1 betas=0.9,0.99\",\n"
    "  \"output_dir\": \"/home/me/lora/model\",\n"
    "  \"output_name\": \"mychar\",\n"
    "  \"persistent_data_loader_workers\": false,\n"
    "  \"pretrained_model_name_or_path\": \"runwayml/stable-diffusion-v1-5\",\n"
    "  \"prior_loss_weight\": 1.0,\n"
    "  \"random_crop\": false,\n"
    "  \"reg_data_dir\": \"\",\n"
    "  \"resume\": \"\",\n"
    "  \"sample_every_n_epochs\": 1,\n"
    "  \"sample_every_n_steps\": 0,\n"
    "  \"sample_prompts\": \"mychar, 1girl --n lowres --w 512 --h 512 --s 28 --l 7 --d 1\",\n"
    "  \"sample_sampler\": \"euler_a\",\n"
    "  \"save_every_n_epochs\": 1,\n"
    "  \"save_every_n_steps\": 0,\n"
    "  \"save_model_as\": \"safetensors\",\n"
    "  \"save_precision\": \"fp16\",\n"
    "  \"save_state\": false,\n"
    "  \"scale_v_pred_loss_like_noise_pred\": false,\n"
    "  \"sdxl\": false,\n"
    "  \"seed\": \"1234\",\n"
    "  \"shuffle_caption\": true,\n"
    "  \"text_encoder_lr\": 5e-05,\n"
    "  \"train_batch_size\": 2,\n"
    "  \"train_data_dir\": \"/home/me/lora/img\",\n"
    "  \"training_comment\": \"trigger: mychar\",\n"
    "  \"unet_lr\": 0.0001,\n"
    "  \"v2\": false,\n"
    "  \"v_parameterization\": false,\n"
    "  \"v_pred_like_loss\": 0,\n"
    "  \"vae\": \"\",\n"
    "  \"wandb_api_key\": \"\",\n"
    "  \"weighted_captions\": false,\n"
    "  \"xformers\": \"xformers\",\n"
    "  \"zz_later_key\": 1\n"
    "}\n";

static void test_gui_config(void)
{
    run_config c;
    tg_error err = {{0}};
    if (load_text(GUI, &c, &err) < 0) {
        fprintf(stderr, "  FAIL gui config: %s\n", err.msg);
        check_current_failed++;
        return;
    }
    CHECK_STR(c.resolution, "512,512");      /* from max_resolution */
    CHECK_INT(c.max_train_epochs, 10);       /* from epoch */
    CHECK_INT(c.max_train_steps, 1600);      /* "" is the default */
    CHECK_NEAR(c.lr_warmup_steps, 0.1, EPS); /* lr_warmup: 10 (%) */
    CHECK_STR(c.optimizer_type, "AdamW");    /* from optimizer */
    CHECK_NEAR(c.weight_decay, 0.1, EPS);
    CHECK_NEAR(c.adam_beta2, 0.99, EPS);
    CHECK_INT(c.lr_scheduler_num_cycles, 1);
    CHECK_NEAR(c.lr_scheduler_power, 1, EPS);
    CHECK_INT(c.keep_tokens, 1);
    CHECK_INT(c.clip_skip, 1);
    CHECK(c.has_seed && c.seed == 1234);
    CHECK_INT(c.network_dim, 32);
    CHECK_NEAR(c.network_alpha, 16, EPS);
    CHECK_NEAR(run_config_unet_lr(&c), 1e-4, EPS);
    CHECK_NEAR(run_config_text_encoder_lr(&c), 5e-5, EPS);
    CHECK_STR(c.mixed_precision, "fp16");
    CHECK_STR(c.save_precision, "fp16");
    CHECK_STR(c.sample_sampler, "euler_a");
    CHECK_STR(c.resume, "");
    CHECK_STR(c.output_name, "mychar");
    CHECK(c.bucket_no_upscale && c.shuffle_caption);
    CHECK_NEAR(c.min_snr_gamma, 5, EPS);
    CHECK_NEAR(c.noise_offset, 0.05, EPS);
    /* kept: 38 known-and-ignored (4 of them read through as aliases) and 1 unknown */
    size_t kept = run_config_unknown_count(&c), ignored = run_config_ignored_count(&c);
    CHECK_INT(kept, 39);
    CHECK_INT(ignored, 38);
    CHECK_STR(run_config_key_ignored("cache_latents"),
              "latents are cached always where a VAE is used");
    CHECK_STR(run_config_key_ignored("epoch"), "read as max_train_epochs when that is unset");
    CHECK(run_config_key_ignored("zz_later_key") == NULL);
    CHECK(run_config_key_ignored("learning_rate") == NULL); /* read, not ignored */
    char *text = run_config_ignored_text(&c);
    CHECK(text && strncmp(text, "38 keys ignored: LoRA_type (only kohya's standard LoRA", 54) == 0);
    CHECK(text && strstr(text, ", cache_latents (latents are cached always where a VAE is "
                               "used), cache_latents_to_disk (") != NULL);
    CHECK(text && strstr(text, ", xformers (no such backend: tagbench has its own attention "
                               "kernels); 1 unknown key kept as written: zz_later_key") != NULL);
    if (text)
        printf("  %s\n", text);
    free(text);
    run_config_free(&c);
}

/* The Captions screen's accessors still read and set the caption keys alone. */
/* The kohya_ss GUI's default optimizer is trained as AdamW (8-bit state only saves memory). */
static void test_adamw8bit_accepted(void)
{
    run_config c;
    tg_error err;
    CHECK_INT(load_text("{\"optimizer\": \"AdamW8bit\"}", &c, &err), 0);
    CHECK_STR(c.optimizer_type, "AdamW8bit");
    run_config_free(&c);
    CHECK_INT(load_text("{\"optimizer_type\": \"adamw8bit\"}", &c, &err), 0);
    run_config_free(&c);
}

static void test_pipeline_accessors(void)
{
    run_config c;
    tg_error err = {{0}};
    CHECK_INT(load_text("{\"keep_tokens\": 2, \"network_dim\": 16, \"xformers\": true}", &c, &err),
              0);
    pipeline_opts o;
    run_config_pipeline(&c, &o);
    CHECK_INT(o.keep_tokens, 2);
    o.keep_tokens = 3;
    o.shuffle_caption = true;
    CHECK_INT(run_config_pipeline_set(&c, &o, &err), 0);
    CHECK_INT(c.keep_tokens, 3);
    CHECK(c.shuffle_caption);
    CHECK_INT(c.network_dim, 16);
    CHECK_INT(run_config_unknown_count(&c), 1);
    run_config_free(&c);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_refusals);
    RUN(test_cross_keys);
    RUN(test_optimizer_args);
    RUN(test_round_trip);
    RUN(test_gui_config);
    RUN(test_adamw8bit_accepted);
    RUN(test_pipeline_accessors);
    return check_finish();
}
