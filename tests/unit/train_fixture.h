/* Training runs for unit tests (test_train_*.c): a tiny dataset folder 10_shapes of 8 coloured
 * squares and circles (32x32 PNGs written with stb_image_write, captions in .txt), a run config
 * for the built-in tiny model on it (32 px, batch 2, a few steps, 2 threads), and a run driven to
 * its end through the event channel, every event kept. Plus exact comparisons of checkpoints.
 * A watchdog (alarm) turns a hung run into a failure. */
#ifndef TESTS_TRAIN_FIXTURE_H
#define TESTS_TRAIN_FIXTURE_H
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* alarm */
#include <stb_image_write.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"
#include "trainer/run_config.h"
#include "trainer/run_events.h"
#include "trainer/run_thread.h"
#include "trainer/safetensors.h"
#include "trainer/train_run.h"

#define TF_THREADS 2
#define TF_IMAGES 8

/* The images of 10_shapes: shape, colour, background, caption (one has capitals, so that
 * ss_tag_frequency's lower-casing shows: "red square" is on two images). */
typedef struct tf_image {
    bool circle;
    uint8_t fg[3], bg[3];
    const char *caption;
} tf_image;

static const tf_image tf_images[TF_IMAGES] = {
    {false, {230, 30, 30}, {255, 255, 255}, "red square, white background"},
    {true, {230, 30, 30}, {0, 0, 0}, "red circle, black background"},
    {false, {30, 30, 230}, {255, 255, 255}, "blue square, white background"},
    {true, {30, 30, 230}, {0, 0, 0}, "blue circle, black background"},
    {false, {30, 200, 30}, {0, 0, 0}, "green square, black background"},
    {true, {30, 200, 30}, {255, 255, 255}, "green circle, white background"},
    {false, {230, 30, 30}, {0, 0, 0}, "Red Square, Black Background"},
    {true, {240, 220, 20}, {255, 255, 255}, "yellow circle, white background"},
};

/* root/10_shapes/000N.png + .txt (root: the dataset folder, made if missing); 0, or -1 (printed). */
static inline int tf_dataset_write(const char *root)
{
    if ((mkdir(root, 0755) < 0 && errno != EEXIST) || fixture_mkdir(root, "10_shapes") < 0)
        return -1;
    enum { S = 32 };
    uint8_t px[S * S * 3];
    for (int i = 0; i < TF_IMAGES; i++) {
        const tf_image *im = &tf_images[i];
        int c = 10 + i % 3, r = 7 + i % 4; /* a little variety in place and size */
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                bool in = im->circle ? (x - c) * (x - c) + (y - c - 2) * (y - c - 2) <= r * r
                                     : abs(x - c) <= r && abs(y - c - 2) <= r;
                memcpy(px + 3 * (y * S + x), in ? im->fg : im->bg, 3);
            }
        char rel[64];
        snprintf(rel, sizeof rel, "10_shapes/%04d.txt", i + 1);
        if (fixture_write(root, rel, im->caption) < 0)
            return -1;
        snprintf(rel, sizeof rel, "10_shapes/%04d.png", i + 1);
        char *path = fixture_path(root, rel);
        int ok = path && stbi_write_png(path, S, S, 3, px, S * 3);
        free(path);
        if (!ok) {
            fprintf(stderr, "    cannot write %s/%s\n", root, rel);
            return -1;
        }
    }
    return 0;
}

/* A config for the tiny model from scratch on data_dir, output in out_dir (absolute paths):
 * 32 px, no buckets, batch 2, `steps` steps, seed 7, learning rate 1e-3. */
static inline int tf_config(run_config *c, const char *data_dir, const char *out_dir, int steps)
{
    tg_error err = {{0}};
    if (run_config_init(c, &err) < 0) {
        fprintf(stderr, "    run_config_init: %s\n", err.msg);
        return -1;
    }
    int rc = run_config_string_set(&c->train_data_dir, data_dir) | run_config_string_set(&c->output_dir, out_dir) |
             run_config_string_set(&c->pretrained_model_name_or_path, "tiny") |
             run_config_string_set(&c->train_mode, "full") | run_config_string_set(&c->caption_extension, ".txt") |
             run_config_string_set(&c->resolution, "32");
    c->enable_bucket = false;
    c->train_batch_size = 2;
    c->max_train_steps = steps;
    c->has_seed = true;
    c->seed = 7;
    c->learning_rate = 1e-3;
    return rc < 0 ? -1 : 0;
}

/* What a run did. */
typedef struct tf_run_result {
    int start_rc, join_rc;     /* train_start's, run_thread_join's */
    tg_error start_err, join_err;
    char *run_dir;             /* malloc'd (NULL when not started) */
    run_event *ev;             /* every event popped, in order (owned) */
    size_t n, cap;
    const run_event *last;     /* FINISHED or FAILED, into ev; NULL if neither came */
    bool timed_out;
} tf_run_result;

static inline void tf_result_free(tf_run_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        run_event_clear(&r->ev[i]);
    free(r->ev);
    free(r->run_dir);
    memset(r, 0, sizeof *r);
}

/* Called for each event as it is popped (to send requests); NULL: none. */
typedef void (*tf_on_event)(run_thread *t, const run_event *ev, void *user);

/* Starts a run of c, pops every event until FINISHED or FAILED (or 120 s without one), joins it
 * and frees the thread. 0 when it started, -1 when train_start refused (r->start_err). */
static inline int tf_run(const run_config *c, tf_on_event cb, void *user, tf_run_result *r)
{
    memset(r, 0, sizeof *r);
    train_launch l = {.cfg = c, .base_dir = NULL, .snap = NULL, .backend = "cpu", .threads = TF_THREADS};
    run_thread *t = NULL;
    r->start_rc = train_start(&l, &t, &r->run_dir, &r->start_err);
    if (r->start_rc < 0)
        return -1;
    run_chan *ch = run_thread_chan(t);
    while (!r->last) {
        struct pollfd p = {run_chan_fd(ch), POLLIN, 0};
        int pr = poll(&p, 1, 120000);
        if (pr == 0) {
            r->timed_out = true;
            fprintf(stderr, "    the run sent nothing for 120 s\n");
            break;
        }
        run_event buf[32];
        size_t got;
        while ((got = run_chan_pop(ch, buf, 32)) > 0) {
            for (size_t i = 0; i < got; i++) {
                if (r->n == r->cap) {
                    r->cap = r->cap ? 2 * r->cap : 64;
                    r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
                    if (!r->ev)
                        abort();
                }
                r->ev[r->n++] = buf[i];
                if (cb)
                    cb(t, &buf[i], user);
            }
            if (got < 32)
                break;
        }
        for (size_t i = 0; i < r->n && !r->last; i++)
            if (r->ev[i].kind == RUN_EV_FINISHED || r->ev[i].kind == RUN_EV_FAILED)
                r->last = &r->ev[i];
    }
    if (r->timed_out)
        run_request_stop(t);
    r->join_rc = run_thread_join(t, &r->join_err);
    run_thread_free(t);
    /* r->ev may have moved while growing: find the last event again */
    r->last = NULL;
    for (size_t i = 0; i < r->n && !r->last; i++)
        if (r->ev[i].kind == RUN_EV_FINISHED || r->ev[i].kind == RUN_EV_FAILED)
            r->last = &r->ev[i];
    return 0;
}

/* Prints the run's LOG and FAILED lines (for a failure's context). */
static inline void tf_print_log(const tf_run_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const run_event *e = &r->ev[i];
        if (e->kind == RUN_EV_LOG)
            fprintf(stderr, "      log: %s\n", e->log.text);
        else if (e->kind == RUN_EV_FAILED)
            fprintf(stderr, "      FAILED: %s\n", e->failed.message);
    }
}

/* True (and checked) when the run started and finished with reason; prints the log otherwise. */
static inline bool tf_finished(const tf_run_result *r, run_finish_reason reason)
{
    bool ok = r->start_rc == 0 && r->last && r->last->kind == RUN_EV_FINISHED && r->last->finished.reason == reason &&
              r->join_rc == 0;
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "    the run did not finish as %s (start %d: %s; join %d: %s)\n",
                run_finish_reason_name(reason), r->start_rc, r->start_err.msg, r->join_rc, r->join_err.msg);
        tf_print_log(r);
    }
    return ok;
}

static inline size_t tf_count(const tf_run_result *r, run_event_kind k)
{
    size_t c = 0;
    for (size_t i = 0; i < r->n; i++)
        c += r->ev[i].kind == k;
    return c;
}

/* The first event of kind k, or NULL. */
static inline const run_event *tf_first(const tf_run_result *r, run_event_kind k)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->ev[i].kind == k)
            return &r->ev[i];
    return NULL;
}

/* Every tensor of the safetensors at got equals expected's: the same names, dtypes and shapes, and
 * the same values bit for bit (as F32 through st_read_f32). Mismatches are printed (unless quiet;
 * the first 10 tensors): the tensor, how many elements differ, the largest difference and where. Returns the number
 * of tensors that differ (-1: a file did not open). */
static inline int tf_tensors_compare(const char *got, const char *expected, bool quiet)
{
    tg_error err = {{0}};
    st_file *g = st_open(got, &err);
    if (!g) {
        fprintf(stderr, "    %s\n", err.msg);
        return -1;
    }
    st_file *e = st_open(expected, &err);
    if (!e) {
        fprintf(stderr, "    %s\n", err.msg);
        st_close(g);
        return -1;
    }
    int bad = 0;
    if (st_count(g) != st_count(e)) {
        fprintf(stderr, "    %s has %zu tensors, %s %zu\n", got, st_count(g), expected, st_count(e));
        bad++;
    }
    for (size_t i = 0; i < st_count(e); i++) {
        const st_tensor *te = st_at(e, i), *tg = st_find(g, te->name);
        if (!tg) {
            fprintf(stderr, "    MISSING %s in %s\n", te->name, got);
            bad++;
            continue;
        }
        bool shape = tg->ndim == te->ndim && tg->dtype == te->dtype && tg->numel == te->numel;
        for (int d = 0; shape && d < te->ndim; d++)
            shape = tg->shape[d] == te->shape[d];
        if (!shape) {
            fprintf(stderr, "    SHAPE/DTYPE %s differs\n", te->name);
            bad++;
            continue;
        }
        size_t n = te->numel;
        float *a = malloc(sizeof *a * (n ? n : 1)), *b = malloc(sizeof *b * (n ? n : 1));
        if (!a || !b || st_read_f32(tg, a, n, &err) < 0 || st_read_f32(te, b, n, &err) < 0) {
            fprintf(stderr, "    %s: unreadable: %s\n", te->name, err.msg);
            bad++;
        } else if (n && memcmp(a, b, n * sizeof *a) != 0 && (quiet || bad >= 10)) {
            bad++;
        } else if (n && memcmp(a, b, n * sizeof *a) != 0) {
            size_t diff = 0, at = 0;
            double dmax = -1, scale = 0;
            for (size_t k = 0; k < n; k++) {
                double d = fabs((double)a[k] - (double)b[k]);
                if (fabs((double)b[k]) > scale)
                    scale = fabs((double)b[k]);
                if (memcmp(&a[k], &b[k], sizeof *a)) {
                    diff++;
                    if (d > dmax || isnan(d))
                        dmax = d, at = k;
                }
            }
            fprintf(stderr, "    DIFFERS %s: %zu of %zu elements, max |d| %.3e at %zu (%.9g vs %.9g), "
                    "max |expected| %.3e\n", te->name, diff, n, dmax, at, a[at], b[at], scale);
            bad++;
        }
        free(a);
        free(b);
    }
    if (bad > 10 && !quiet)
        fprintf(stderr, "    ... %d tensors differ in all (only the first 10 shown)\n", bad);
    st_close(e);
    st_close(g);
    return bad;
}

/* Removes the fixture, or with TAGBENCH_TEST_KEEP set keeps it and says where (for a look). */
static inline void tf_cleanup(char *root)
{
    if (getenv("TAGBENCH_TEST_KEEP") && root) {
        fprintf(stderr, "    kept %s\n", root);
        free(root);
        return;
    }
    fixture_remove(root);
}

static inline int tf_tensors_identical(const char *got, const char *expected)
{
    return tf_tensors_compare(got, expected, false);
}

/* ---- the fixture of one test binary ---- */

static char *tf_root; /* data/10_shapes and the runs' folders */
static char *tf_data; /* tf_root/data: train_data_dir */

static inline char *tf_path(const char *rel)
{
    return fixture_path(tf_root, rel);
}

/* tf_config with the run folder tf_root/out_rel. */
static inline int tf_config_at(run_config *c, const char *out_rel, int steps)
{
    char *out = tf_path(out_rel);
    int rc = tf_config(c, tf_data, out, steps);
    free(out);
    return rc;
}

/* Makes the fixture; -1 when it cannot. A hung run fails the binary (alarm) instead of CI. */
static inline int tf_setup(void)
{
    alarm(300);
    tf_root = fixture_make();
    tf_data = tf_root ? tf_path("data") : NULL;
    if (tf_data && tf_dataset_write(tf_data) == 0)
        return 0;
    free(tf_data);
    fixture_remove(tf_root);
    return -1;
}

static inline void tf_teardown(void)
{
    free(tf_data);
    tf_cleanup(tf_root);
}

#endif
