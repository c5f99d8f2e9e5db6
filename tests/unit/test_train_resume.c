/* Resuming a run (docs/training.md, "save_state and resume"): on the CPU backend, N steps straight
 * and k steps, a state, then a resumed run to N give the same weights bit for bit, for a full run
 * of the tiny model (weights, AdamW moments, EMA) and for a LoRA run on its checkpoint. Also what a
 * state folder holds, that saving along the way does not change the weights, and that the
 * resumed run's losses are the straight run's. Then the requests of a long run: save now (a
 * checkpoint, and the run goes on), sample now (a PNG in RUN_DIR/samples), stop (FINISHED
 * "stopped" with a step checkpoint and its state), and resuming the stopped run from the next
 * step in the same folder; and resuming from a state past the end or from no state failing. */
#include <cJSON.h>

#include "tagger/image.h"

#include "tests/unit/train_fixture.h"

/* The loss of the STEP event of step s, NaN when none. */
static double loss_at(const tf_run_result *r, long s)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].kind == RUN_EV_STEP && r->ev[i].step.step == s)
            return r->ev[i].step.loss;
    return NAN;
}

/* The losses of steps from..to of got equal want's exactly. */
static void losses_same(const tf_run_result *got, const tf_run_result *want, long from, long to)
{
    for (long s = from; s <= to; s++) {
        double a = loss_at(got, s), b = loss_at(want, s);
        CHECK(!isnan(a) && memcmp(&a, &b, sizeof a) == 0);
        if (isnan(a) || memcmp(&a, &b, sizeof a) != 0)
            fprintf(stderr, "    step %ld: loss %.17g, straight run %.17g\n", s, a, b);
    }
}

/* A state folder: train_state.json at step, state.safetensors with the groups' parts (ema only in
 * full training), tags.json only in full training. */
static void state_check(const char *dir_rel, long step, bool full)
{
    char rel[512];
    snprintf(rel, sizeof rel, "%s/train_state.json", dir_rel);
    char *text = fixture_read(tf_root, rel, NULL);
    CHECK(text != NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "current_step");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "current_epoch");
    CHECK(cJSON_IsNumber(s) && s->valuedouble == (double)step);
    CHECK(cJSON_IsNumber(e) && e->valuedouble == 1); /* 40 steps per epoch */
    cJSON_Delete(o);
    free(text);

    snprintf(rel, sizeof rel, "%s/tags.json", dir_rel);
    CHECK(fixture_exists(tf_root, rel) == full);
    snprintf(rel, sizeof rel, "%s/state.safetensors", dir_rel);
    char *p = tf_path(rel);
    tg_error err = {{0}};
    st_file *f = st_open(p, &err);
    CHECK(f != NULL);
    if (!f)
        fprintf(stderr, "    %s\n", err.msg);
    const char *groups[] = {"unet", "text_encoder"}, *parts[] = {"weights", "adam_m", "adam_v", "ema"};
    for (int g = 0; f && g < 2; g++) {
        const st_tensor *w = NULL;
        for (int q = 0; q < 4; q++) {
            char name[64];
            snprintf(name, sizeof name, "%s.%s", groups[g], parts[q]);
            const st_tensor *t = st_find(f, name);
            if (q == 3 && !full) {
                CHECK(t == NULL);
                continue;
            }
            CHECK(t != NULL);
            if (!t) {
                fprintf(stderr, "    %s: no %s\n", p, name);
                continue;
            }
            CHECK_INT(t->dtype, ST_F32);
            CHECK_INT(t->ndim, 1);
            if (!w)
                w = t;
            CHECK_INT(t->numel, w->numel);
        }
        if (w && full)
            CHECK(w->numel > 10000); /* the whole network, not adapters */
        if (w && !full)
            CHECK(w->numel < 100000);
    }
    if (f)
        CHECK_INT(st_count(f), full ? 8 : 6);
    st_close(f);
    free(p);
}

/* A: 4 steps straight. B: 4 steps with a state at step 2 (saving must not change anything).
 * C: resumed from B's state at 2 to 4. A's, B's and C's final checkpoints are identical. */
static void test_full_resume_is_exact(void)
{
    run_config c;
    tf_run_result a = {0}, b = {0}, r = {0};
    CHECK_INT(tf_config_at(&c, "A", 4), 0);
    tf_run(&c, NULL, NULL, &a);
    bool ok = tf_finished(&a, RUN_FINISH_COMPLETED);
    CHECK_INT(tf_count(&a, RUN_EV_STEP), 4);
    CHECK(!fixture_exists(tf_root, "A/at-step00000002-state"));
    run_config_free(&c);

    CHECK_INT(tf_config_at(&c, "B", 4), 0);
    c.save_every_n_steps = 2;
    c.save_state = true;
    tf_run(&c, NULL, NULL, &b);
    ok &= tf_finished(&b, RUN_FINISH_COMPLETED);
    CHECK(fixture_exists(tf_root, "B/at-step00000002.safetensors"));
    state_check("B/at-step00000002-state", 2, true);
    state_check("B/last-state", 4, true);
    run_config_free(&c);

    CHECK_INT(tf_config_at(&c, "C", 4), 0);
    char *state = tf_path("B/at-step00000002-state");
    run_config_string_set(&c.resume, state);
    tf_run(&c, NULL, NULL, &r);
    ok &= tf_finished(&r, RUN_FINISH_COMPLETED);
    const run_event *first = tf_first(&r, RUN_EV_STEP);
    CHECK(first && first->step.step == 3);
    CHECK_INT(tf_count(&r, RUN_EV_STEP), 2);
    run_config_free(&c);
    free(state);

    if (ok) {
        char *pa = tf_path("A/last.safetensors"), *pb = tf_path("B/last.safetensors"),
             *pc = tf_path("C/last.safetensors");
        CHECK_INT(tf_tensors_identical(pb, pa), 0); /* saving a state changed nothing */
        CHECK_INT(tf_tensors_identical(pc, pa), 0); /* the requirement: resumed == straight */
        free(pa), free(pb), free(pc);
        losses_same(&b, &a, 1, 4);
        losses_same(&r, &a, 3, 4);
    }
    tf_result_free(&a), tf_result_free(&b), tf_result_free(&r);
}

static void lora_config(run_config *c, const char *out_rel, int steps)
{
    CHECK_INT(tf_config_at(c, out_rel, steps), 0);
    char *base = tf_path("A/last.safetensors");
    run_config_string_set(&c->pretrained_model_name_or_path, base);
    run_config_string_set(&c->train_mode, "lora");
    c->network_dim = 4;
    c->network_alpha = 2;
    free(base);
}

/* The same for a LoRA run on A's checkpoint (UNet and text encoder adapters): AL 4 steps
 * straight; BL 2 steps with save_state (the final checkpoint's state, last-state); CL resumed from
 * it to 4. */
static void test_lora_resume_is_exact(void)
{
    if (!fixture_exists(tf_root, "A/last.safetensors")) {
        CHECK(!"no base checkpoint: test_full_resume_is_exact failed");
        return;
    }
    run_config c;
    tf_run_result a = {0}, b = {0}, r = {0};
    lora_config(&c, "AL", 4);
    tf_run(&c, NULL, NULL, &a);
    bool ok = tf_finished(&a, RUN_FINISH_COMPLETED);
    run_config_free(&c);

    lora_config(&c, "BL", 2);
    c.save_state = true;
    tf_run(&c, NULL, NULL, &b);
    ok &= tf_finished(&b, RUN_FINISH_COMPLETED);
    state_check("BL/last-state", 2, false);
    run_config_free(&c);

    lora_config(&c, "CL", 4);
    char *state = tf_path("BL/last-state");
    run_config_string_set(&c.resume, state);
    tf_run(&c, NULL, NULL, &r);
    ok &= tf_finished(&r, RUN_FINISH_COMPLETED);
    const run_event *first = tf_first(&r, RUN_EV_STEP);
    CHECK(first && first->step.step == 3);
    run_config_free(&c);
    free(state);

    if (ok) {
        char *pa = tf_path("AL/last.safetensors"), *pb = tf_path("BL/last.safetensors"),
             *pc = tf_path("CL/last.safetensors");
        CHECK_INT(tf_tensors_identical(pc, pa), 0);
        CHECK(tf_tensors_compare(pb, pa, true) > 0); /* 2 steps are not 4: the comparison can fail */
        free(pa), free(pb), free(pc);
        losses_same(&b, &a, 1, 2);
        losses_same(&r, &a, 3, 4);
    }
    tf_result_free(&a), tf_result_free(&b), tf_result_free(&r);
}

/* ---- requests: save now, sample now, stop, and resuming a stopped run ---- */

typedef struct asker {
    bool asked, stopped, runaway;
    long save_step, sample_step, stop_step; /* from the events; 0: none yet */
} asker;

/* After the first step: save now and sample now; once both were written and a step followed
 * them (the run goes on): stop. */
static void ask(run_thread *t, const run_event *ev, void *user)
{
    asker *a = user;
    if (ev->kind == RUN_EV_CHECKPOINT_WRITTEN && !a->save_step)
        a->save_step = ev->checkpoint.step;
    if (ev->kind == RUN_EV_SAMPLE_WRITTEN && !a->sample_step)
        a->sample_step = ev->sample.step;
    if (ev->kind != RUN_EV_STEP)
        return;
    if (!a->asked) {
        a->asked = true;
        run_request_save(t);
        run_request_sample(t);
    } else if (!a->stopped && a->save_step && a->sample_step && ev->step.step > a->sample_step &&
               ev->step.step > a->save_step) {
        a->stopped = true;
        a->stop_step = ev->step.step;
        run_request_stop(t);
    } else if (!a->stopped && ev->step.step > 40) { /* the requests were lost: do not run 1000 steps */
        a->stopped = a->runaway = true;
        run_request_stop(t);
    }
}

static void test_requests_and_resume_after_stop(void)
{
    CHECK_INT(fixture_write(tf_root, "prompts.txt", "red square, white background --w 32 --h 32 --s 2 --d 1\n"), 0);
    run_config c;
    tf_run_result r = {0};
    asker a = {0};
    CHECK_INT(tf_config_at(&c, "R", 1000), 0);
    char *prompts = tf_path("prompts.txt");
    run_config_string_set(&c.sample_prompts, prompts);
    free(prompts);
    tf_run(&c, ask, &a, &r);
    bool ok = tf_finished(&r, RUN_FINISH_STOPPED);
    CHECK(!a.runaway);
    /* both are answered at the next step boundary (or the sample at the one after, when the run
     * looked between the two requests) */
    CHECK(a.save_step >= 1 && (a.sample_step == a.save_step || a.sample_step == a.save_step + 1));
    /* the save-now checkpoint: no state (save_state is off) */
    char rel[256];
    snprintf(rel, sizeof rel, "R/at-step%08ld.safetensors", a.save_step);
    CHECK(fixture_exists(tf_root, rel));
    snprintf(rel, sizeof rel, "R/at-step%08ld-state", a.save_step);
    CHECK(!fixture_exists(tf_root, rel));
    /* the sample */
    const run_event *sw = tf_first(&r, RUN_EV_SAMPLE_WRITTEN);
    CHECK(sw && sw->sample.prompt == 0 && strstr(sw->sample.path, "/R/samples/sample_"));
    CHECK_INT(tf_count(&r, RUN_EV_SAMPLE_WRITTEN), 1);
    if (sw) {
        char want[64];
        snprintf(want, sizeof want, "sample_%06ld_00_", a.sample_step);
        CHECK(strstr(sw->sample.path, want) != NULL);
        CHECK(strlen(sw->sample.path) > 6 && !strcmp(sw->sample.path + strlen(sw->sample.path) - 6, "_1.png"));
        image img = {0};
        tg_error err = {{0}};
        CHECK_INT(image_load(sw->sample.path, &img, &err), 0);
        CHECK(img.w == 64 && img.h == 64); /* kohya's rule: --w/--h at least 64 (sample_prompt.h) */
        image_free(&img);
    }
    /* the stop's checkpoint, with its state, at the last step taken */
    long stop_at = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.ev[i].kind == RUN_EV_CHECKPOINT_WRITTEN)
            stop_at = r.ev[i].checkpoint.step;
    CHECK_INT(tf_count(&r, RUN_EV_CHECKPOINT_WRITTEN), 2);
    CHECK(stop_at >= a.stop_step && stop_at > a.save_step);
    const run_event *last_step = NULL;
    for (size_t i = 0; i < r.n; i++)
        if (r.ev[i].kind == RUN_EV_STEP)
            last_step = &r.ev[i];
    CHECK(last_step && last_step->step.step == stop_at);
    snprintf(rel, sizeof rel, "R/at-step%08ld.safetensors", stop_at);
    CHECK(fixture_exists(tf_root, rel));
    snprintf(rel, sizeof rel, "R/at-step%08ld-state", stop_at);
    if (stop_at)
        state_check(rel, stop_at, true);
    CHECK(!fixture_exists(tf_root, "R/last.safetensors"));
    run_config_free(&c);
    tf_result_free(&r);
    if (!ok || !stop_at)
        return;

    /* resumed in the same folder: it goes on from the next step and appends to events.jsonl */
    CHECK_INT(tf_config_at(&c, "R", (int)stop_at + 2), 0);
    char *state = tf_path(rel);
    run_config_string_set(&c.resume, state);
    free(state);
    tf_run(&c, NULL, NULL, &r);
    tf_finished(&r, RUN_FINISH_COMPLETED);
    const run_event *first = tf_first(&r, RUN_EV_STEP);
    CHECK(first && first->step.step == stop_at + 1);
    CHECK_INT(tf_count(&r, RUN_EV_STEP), 2);
    CHECK(fixture_exists(tf_root, "R/last.safetensors"));
    run_config_free(&c);
    tf_result_free(&r);
    char *log = fixture_read(tf_root, "R/events.jsonl", NULL);
    int finished = 0;
    for (const char *p = log; p && (p = strstr(p, "\"event\":\"finished\"")); p++)
        finished++;
    CHECK_INT(finished, 2); /* the stopped run's and the resumed one's */
    free(log);
}

/* Resuming past the end, or from a folder that is not a state, fails naming the folder. */
static void test_resume_errors(void)
{
    run_config c;
    tf_run_result r = {0};
    CHECK_INT(tf_config_at(&c, "D", 2), 0);
    char *state = tf_path("B/at-step00000002-state");
    run_config_string_set(&c.resume, state);
    tf_run(&c, NULL, NULL, &r);
    CHECK(r.start_rc == 0 && r.last && r.last->kind == RUN_EV_FAILED);
    CHECK_INT(r.join_rc, -1);
    CHECK(strstr(r.join_err.msg, "max_train_steps") != NULL);
    CHECK(strstr(r.join_err.msg, "at-step00000002-state") != NULL);
    tf_result_free(&r);
    run_config_free(&c);
    free(state);

    CHECK_INT(tf_config_at(&c, "E", 3), 0);
    fixture_mkdir(tf_root, "notastate");
    state = tf_path("notastate");
    run_config_string_set(&c.resume, state);
    tf_run(&c, NULL, NULL, &r);
    CHECK(r.start_rc == 0 && r.last && r.last->kind == RUN_EV_FAILED);
    CHECK_INT(r.join_rc, -1);
    CHECK(strstr(r.join_err.msg, "train_state.json") != NULL);
    CHECK(!fixture_exists(tf_root, "E/last.safetensors"));
    tf_result_free(&r);
    run_config_free(&c);
    free(state);
}

int main(void)
{
    if (tf_setup() < 0)
        return 1;
    RUN(test_full_resume_is_exact);
    RUN(test_lora_resume_is_exact);
    RUN(test_requests_and_resume_after_stop);
    RUN(test_resume_errors);
    tf_teardown();
    return check_finish();
}
