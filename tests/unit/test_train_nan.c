/* Runs that fail (docs/training.md): a loss that goes non-finite stops the run before the update
 * with FAILED "loss is NaN at step N; the last good checkpoint is PATH (kept)" (or "infinite", or
 * "no checkpoint was written yet"), the checkpoint named still there and loadable, nothing written
 * after it, the same message as run_thread_join's error and as events.jsonl's last line; and
 * train_start refusing a config it can check at once (no dataset folder, no prompt file, no
 * steps) with a message naming the key, nothing started and no run folder made. */
#include "tests/unit/train_fixture.h"
#include "trainer/dmodel.h"

/* AdamW's first step at this rate throws every weight to ~1e30: the next forward overflows. */
static void diverging(run_config *c)
{
    c->learning_rate = 1e30;
    c->max_grad_norm = 0;
}

static int last_event(const run_event *ev, void *user)
{
    run_event *keep = user;
    run_event_clear(keep);
    return run_event_copy(keep, ev);
}

/* The FAILED message of a diverged run: "loss is NaN at step N; ..." or "... infinite ...";
 * returns N (0 when the message is not of that form). Also checks join and events.jsonl. */
static long failed_step(const tf_run_result *r, const char *out_rel)
{
    CHECK(r->start_rc == 0 && r->last && r->last->kind == RUN_EV_FAILED);
    CHECK_INT(r->join_rc, -1);
    if (!r->last || r->last->kind != RUN_EV_FAILED) {
        tf_print_log(r);
        return 0;
    }
    const char *msg = r->last->failed.message;
    CHECK_STR(r->join_err.msg, msg);
    long step = 0;
    const char *at = strstr(msg, " at step ");
    CHECK(!strncmp(msg, "loss is NaN at step ", 20) || !strncmp(msg, "loss is infinite at step ", 25));
    if (at)
        step = strtol(at + 9, NULL, 10);
    CHECK(step >= 2); /* step 1 starts from good weights */
    /* every STEP event is before it, none for the failed step */
    const run_event *s = NULL;
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].kind == RUN_EV_STEP)
            s = &r->ev[i];
    CHECK(s && s->step.step == step - 1 && isfinite(s->step.loss));

    char rel[256];
    snprintf(rel, sizeof rel, "%s/events.jsonl", out_rel);
    char *p = tf_path(rel);
    run_event ev = {0};
    tg_error err = {{0}};
    size_t bad = 99;
    CHECK_INT(run_events_read(p, last_event, &ev, &bad, &err), 0);
    CHECK_INT(bad, 0);
    CHECK(ev.kind == RUN_EV_FAILED && ev.failed.message && !strcmp(ev.failed.message, msg));
    run_event_clear(&ev);
    free(p);
    snprintf(rel, sizeof rel, "%s/last.safetensors", out_rel);
    CHECK(!fixture_exists(tf_root, rel));
    return step;
}

/* With a checkpoint every step, the message names the one before the failed step; it is kept
 * and loads. */
static void test_nan_names_last_checkpoint(void)
{
    run_config c;
    tf_run_result r;
    CHECK_INT(tf_config_at(&c, "N1", 6), 0);
    diverging(&c);
    c.save_every_n_steps = 1;
    tf_run(&c, NULL, NULL, &r);
    run_config_free(&c);
    long step = failed_step(&r, "N1");
    if (step >= 2) {
        char rel[256], want[512];
        snprintf(rel, sizeof rel, "N1/at-step%08ld.safetensors", step - 1);
        char *ck = tf_path(rel);
        snprintf(want, sizeof want, "; the last good checkpoint is %s (kept)", ck);
        const char *msg = r.last->failed.message;
        CHECK(strlen(msg) > strlen(want) && !strcmp(msg + strlen(msg) - strlen(want), want));
        if (!strstr(msg, want))
            fprintf(stderr, "    message: %s\n    wanted it to end in: %s\n", msg, want);
        CHECK_INT(tf_count(&r, RUN_EV_CHECKPOINT_WRITTEN), step - 1);
        snprintf(rel, sizeof rel, "N1/at-step%08ld.safetensors", step);
        CHECK(!fixture_exists(tf_root, rel));
        kctx k;
        CHECK_INT(k_init(&k, "cpu", TF_THREADS), 0);
        dmodel m;
        tg_error err = {{0}};
        int rc = dmodel_load(&m, &k, ck, false, &err);
        CHECK_INT(rc, 0);
        if (rc == 0)
            dmodel_free(&m, &k);
        else
            fprintf(stderr, "    dmodel_load(%s): %s\n", ck, err.msg);
        k_free_ctx(&k);
        free(ck);
    }
    tf_result_free(&r);
}

static void test_nan_without_checkpoint(void)
{
    run_config c;
    tf_run_result r;
    CHECK_INT(tf_config_at(&c, "N2", 6), 0);
    diverging(&c);
    tf_run(&c, NULL, NULL, &r);
    run_config_free(&c);
    long step = failed_step(&r, "N2");
    if (step >= 2) {
        const char *msg = r.last->failed.message;
        const char *want = "; no checkpoint was written yet";
        CHECK(strlen(msg) > strlen(want) && !strcmp(msg + strlen(msg) - strlen(want), want));
        CHECK_INT(tf_count(&r, RUN_EV_CHECKPOINT_WRITTEN), 0);
        char *dir = tf_path("N2");
        CHECK_INT(fixture_count_named(dir, ".safetensors"), 0);
        free(dir);
    }
    tf_result_free(&r);
}

/* ---- train_start's refusals ---- */

/* train_start refuses c with a message holding key; nothing started, no folder out_rel made. */
static void refused(const run_config *c, const char *key, const char *out_rel)
{
    tf_run_result r;
    int rc = tf_run(c, NULL, NULL, &r);
    CHECK_INT(rc, -1);
    CHECK(r.run_dir == NULL && r.n == 0);
    CHECK(strstr(r.start_err.msg, key) != NULL);
    if (rc == 0 || !strstr(r.start_err.msg, key))
        fprintf(stderr, "    train_start for %s: rc %d, \"%s\"\n", key, rc, r.start_err.msg);
    CHECK(!fixture_exists(tf_root, out_rel));
    tf_result_free(&r);
}

static void test_start_errors(void)
{
    run_config c;
    CHECK_INT(tf_config_at(&c, "S1", 2), 0);
    char *nope = tf_path("nope");
    run_config_string_set(&c.train_data_dir, nope);
    refused(&c, "train_data_dir", "S1");
    CHECK(strstr(c.train_data_dir, "nope") != NULL);
    free(nope);
    run_config_free(&c);

    CHECK_INT(tf_config_at(&c, "S2", 2), 0);
    char *prompts = tf_path("prompts.txt"); /* not written */
    run_config_string_set(&c.sample_prompts, prompts);
    refused(&c, "sample_prompts", "S2");
    free(prompts);
    run_config_free(&c);

    CHECK_INT(tf_config_at(&c, "S3", 2), 0);
    c.max_train_steps = 0;
    refused(&c, "max_train_steps", "S3");
    run_config_free(&c);

    CHECK_INT(tf_config_at(&c, "S4", 2), 0);
    char *state = tf_path("nostate");
    run_config_string_set(&c.resume, state);
    refused(&c, "resume", "S4");
    free(state);
    run_config_free(&c);
}

/* The built-in tiny model is trained from scratch: train_mode "lora" on it is refused naming
 * train_mode, before any step. (Refused by train_start, or, as the engine does now, by the run
 * thread at setup: FAILED, join -1, no checkpoint.) */
static void test_tiny_lora_refused(void)
{
    run_config c;
    tf_run_result r;
    CHECK_INT(tf_config_at(&c, "S5", 2), 0);
    run_config_string_set(&c.train_mode, "lora");
    int rc = tf_run(&c, NULL, NULL, &r);
    run_config_free(&c);
    if (rc < 0) {
        CHECK(strstr(r.start_err.msg, "train_mode") != NULL);
        CHECK(!fixture_exists(tf_root, "S5"));
    } else {
        CHECK(r.last && r.last->kind == RUN_EV_FAILED);
        CHECK_INT(r.join_rc, -1);
        CHECK(strstr(r.join_err.msg, "train_mode") != NULL);
        CHECK(strstr(r.join_err.msg, "tiny") != NULL);
        CHECK_INT(tf_count(&r, RUN_EV_STEP), 0);
        char *dir = tf_path("N2");
        CHECK_INT(fixture_count_named(dir, ".safetensors"), 0);
        free(dir);
    }
    tf_result_free(&r);
}

int main(void)
{
    if (tf_setup() < 0)
        return 1;
    RUN(test_start_errors);
    RUN(test_tiny_lora_refused);
    RUN(test_nan_without_checkpoint);
    RUN(test_nan_names_last_checkpoint);
    tf_teardown();
    return check_finish();
}
