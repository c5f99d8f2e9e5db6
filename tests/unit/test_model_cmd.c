/* `tagbench model` end to end: the real binary runs (fork/exec) on every fixture of
 * tests/fixtures/model/ (written by the independent PyTorch reference, tests/ref/README.md) and
 * every tensor it writes is compared with the fixture's expected.safetensors; then the same
 * fixtures through one merged single-file checkpoint, forward-only and decode-only runs,
 * --clip-skip, and the refusals (usage errors exit 2; a missing/misshapen/mistyped input tensor,
 * a config error or unusable weights exit 1 with a message naming the file, the tensor or key and
 * the reason, and write nothing).
 *
 * Tolerances (per tensor, max|got - expected| <= 1e-5 + rtol * max|expected|, expected computed in
 * float64): rtol 1e-4 for forward outputs, 1e-3 for gradients. The reference itself run in
 * float32 lands at <= 3e-6 on the forward outputs and <= 6.4e-5 on the gradients (README
 * "Tolerance"); this implementation measures 3e-6 and 6.6e-5 (NOTE lines). The convention breaks
 * the reference's --sensitivity tries move some tensor by 2e-2 or more. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"
#include "tests/unit/st_compare.h"

static char BIN[PATH_MAX];     /* the tagbench binary under test */
static const char *FIX;        /* tests/fixtures/model */
static char *TMP;              /* a temporary folder */
static char OUTPUT[16384];     /* the last run's stdout + stderr */
static char NEVER[PATH_MAX];   /* the --out of runs that must fail */
static char VARIANT[PATH_MAX]; /* inputs_variant's file */

/* ---- running the binary ---- */

/* $TAGBENCH, else the tagbench of the build this test belongs to (build/X/tests/unit/test_* ->
 * build/X/tagbench). */
static int find_binary(void)
{
    const char *env = getenv("TAGBENCH");
    if (env && *env) {
        snprintf(BIN, sizeof BIN, "%s", env);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
            return -1;
        self[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(self, '/');
            if (!slash)
                return -1;
            *slash = '\0';
        }
        if (strlen(self) + sizeof "/tagbench" > sizeof BIN)
            return -1;
        memcpy(BIN, self, strlen(self));
        memcpy(BIN + strlen(self), "/tagbench", sizeof "/tagbench");
    }
    return access(BIN, X_OK);
}

/* Runs BIN with args (NULL-terminated, without argv[0]); stdout and stderr into OUTPUT. Returns
 * the exit status, or -1 when it did not exit normally (a crash). */
static int run_bin(const char *const *args)
{
    char *argv[64];
    int n = 0;
    argv[n++] = BIN;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        close(fd[1]);
        execv(BIN, argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    for (ssize_t got; (got = read(fd[0], OUTPUT + len, sizeof OUTPUT - 1 - len)) > 0;)
        len += (size_t)got;
    char sink[4096];
    while (read(fd[0], sink, sizeof sink) > 0) /* beyond what we keep */
        ;
    close(fd[0]);
    OUTPUT[len] = '\0';
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    if (strstr(OUTPUT, "Sanitizer") || strstr(OUTPUT, "runtime error:")) { /* under make SAN=1 */
        CHECK(!"the sanitizers found something");
        fprintf(stderr, "%s\n", OUTPUT);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *fix_path(const char *fixture, const char *file)
{
    static char buf[16][PATH_MAX]; /* a ring, as tmp_path's */
    static int next;
    char *p = buf[next++ % 16];
    snprintf(p, PATH_MAX, "%s/%s/%s", FIX, fixture, file);
    return p;
}

static char *tmp_path(const char *file)
{
    static char buf[16][PATH_MAX]; /* a ring: copy a path that must outlive 16 more calls */
    static int next;
    char *p = buf[next++ % 16];
    snprintf(p, PATH_MAX, "%s/%s", TMP, file);
    return p;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- comparing ---- */

static double rtol_of(const char *name, void *ctx)
{
    (void)ctx;
    return strncmp(name, "grad", 4) == 0 ? 1e-3 : 1e-4;
}

/* Compares out with expected, every tensor; a NOTE with the worst error when all match. */
static void expect_match(const char *label, const char *out, const char *expected)
{
    st_cmp_result r;
    int bad = st_compare_files(out, expected, rtol_of, NULL, 1e-5, &r);
    CHECK_INT(bad, 0);
    if (bad)
        fprintf(stderr, "    (%s: %d of %d tensors differ)\n", label, r.mismatches, r.compared);
    else
        printf("NOTE model %-10s %3d tensors match; worst max|d|/max|exp| %.1e (%s)\n", label, r.compared,
               r.worst, r.worst_name);
}

/* The model family a fixture is for (its name's prefix). */
static const char *family_of(const char *fixture)
{
    return !strncmp(fixture, "unet", 4) ? "unet" : !strncmp(fixture, "clip", 4) ? "clip" : "vae";
}

/* Runs the fixture (with --backward except for the vae; weights from `weights` or the fixture's
 * own) and compares the whole output with expected.safetensors. */
static void fixture_check(const char *fixture, const char *weights)
{
    const char *fam = family_of(fixture), *out = tmp_path("out.safetensors");
    bool vae = !strcmp(fam, "vae");
    char lora[PATH_MAX];
    snprintf(lora, sizeof lora, "%s", fix_path(fixture, "lora.safetensors"));
    bool with_lora = file_exists(lora);
    const char *args[20] = {"model", "--model", fam, "--config", fix_path(fixture, "config.json"),
                            "--weights", weights ? weights : fix_path(fixture, "weights.safetensors"),
                            "--inputs", fix_path(fixture, "inputs.safetensors"), "--out", out,
                            "--threads", "2"};
    int n = 13;
    if (!vae)
        args[n++] = "--backward";
    if (with_lora) {
        args[n++] = "--lora";
        args[n++] = lora;
    }
    args[n] = NULL;
    unlink(out);
    int rc = run_bin(args);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "    %s: %s\n", fixture, OUTPUT);
        return;
    }
    expect_match(fixture, out, fix_path(fixture, "expected.safetensors"));
}

static void test_unet(void) { fixture_check("unet", NULL); }
static void test_unet_lora(void) { fixture_check("unet_lora", NULL); }
static void test_clip(void) { fixture_check("clip", NULL); }
static void test_clip_lora(void) { fixture_check("clip_lora", NULL); }   /* BF16 weights */
static void test_vae(void) { fixture_check("vae", NULL); }
static void test_vae_attn(void) { fixture_check("vae_attn", NULL); }     /* F16 weights, clamp hit */

/* ---- writing test files ---- */

/* Copies every tensor of src into w (data borrowed from the open file src, which the caller keeps
 * open until the save), except drop (NULL: none). */
static void copy_tensors(st_writer *w, const st_file *src, const char *drop)
{
    tg_error err;
    for (size_t i = 0; i < st_count(src); i++) {
        const st_tensor *t = st_at(src, i);
        if (drop && !strcmp(t->name, drop))
            continue;
        CHECK(st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, &err) == 0);
    }
}

/* The unet, clip and vae fixtures' weights in one file: a single-file SD checkpoint. */
static const char *merged_checkpoint(void)
{
    const char *path = tmp_path("merged.safetensors");
    if (file_exists(path))
        return path;
    tg_error err;
    st_file *f[3] = {st_open(fix_path("unet", "weights.safetensors"), &err),
                     st_open(fix_path("clip", "weights.safetensors"), &err),
                     st_open(fix_path("vae", "weights.safetensors"), &err)};
    st_writer *w = st_writer_new();
    for (int i = 0; i < 3; i++) {
        CHECK(f[i] != NULL);
        if (f[i])
            copy_tensors(w, f[i], NULL);
    }
    CHECK(st_writer_save(w, path, &err) == 0);
    st_writer_free(w);
    for (int i = 0; i < 3; i++)
        st_close(f[i]);
    return path;
}

static void test_single_file_checkpoint(void)
{
    const char *ck = merged_checkpoint();
    fixture_check("unet", ck);
    fixture_check("clip", ck);
    fixture_check("vae", ck);
}

/* The fixture's inputs without `drop`, plus (when name) one tensor of floats or int64s. */
static const char *inputs_variant(const char *fixture, const char *drop, const char *name, st_dtype dt,
                                  int ndim, const int64_t *shape)
{
    static float data[4096];
    for (int i = 0; i < 4096; i++)
        data[i] = (float)((i * 37) % 11) / 11.0f;
    const char *path = VARIANT;
    tg_error err;
    st_file *src = st_open(fix_path(fixture, "inputs.safetensors"), &err);
    CHECK(src != NULL);
    if (!src)
        return path;
    st_writer *w = st_writer_new();
    copy_tensors(w, src, drop);
    if (name)
        CHECK(st_writer_add(w, name, dt, ndim, shape, data, &err) == 0);
    CHECK(st_writer_save(w, path, &err) == 0);
    st_writer_free(w);
    st_close(src);
    return path;
}

/* ---- forward-only runs and options ---- */

/* Runs family on a fixture with extra args (NULL-terminated list), output to out; the status. */
static int run_fixture(const char *fixture, const char *weights, const char *inputs, const char *out,
                       const char *const *extra)
{
    const char *args[32] = {"model", "--model", family_of(fixture), "--config",
                            fix_path(fixture, "config.json"), "--weights",
                            weights ? weights : fix_path(fixture, "weights.safetensors"), "--inputs",
                            inputs ? inputs : fix_path(fixture, "inputs.safetensors"), "--out", out};
    int n = 11;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return run_bin(args);
}

/* Without --backward: exactly the forward outputs, equal to the expected ones. */
static void test_forward_only(void)
{
    const char *out = tmp_path("fwd.safetensors");
    const char *want[] = {"last_hidden_state", "penultimate_ln", NULL};
    CHECK_INT(run_fixture("clip", NULL, NULL, out, (const char *[]){"--clip-skip", "2", NULL}), 0);
    tg_error err;
    st_file *g = st_open(out, &err), *e = st_open(fix_path("clip", "expected.safetensors"), &err);
    CHECK(g && e);
    if (g && e) {
        CHECK_INT(st_count(g), 3);
        st_cmp_result r = {0};
        for (int i = 0; want[i]; i++) {
            CHECK(st_find(g, want[i]) && st_cmp_tensor(st_find(g, want[i]), st_find(e, want[i]), 1e-4,
                                                       1e-5, &r));
        }
        /* --clip-skip 2 is penultimate_ln, bit for bit */
        const st_tensor *h = st_find(g, "hidden_ln"), *p = st_find(g, "penultimate_ln");
        CHECK(h && p && h->nbytes == p->nbytes && !memcmp(h->data, p->data, h->nbytes));
    }
    st_close(g);
    st_close(e);
}

/* The VAE with only a latent (decode) and with only image + noise (encode). */
static void test_vae_halves(void)
{
    const char *out = tmp_path("half.safetensors");
    CHECK_INT(run_fixture("vae", NULL, inputs_variant("vae", "image", NULL, 0, 0, NULL), out, NULL), 0);
    tg_error err;
    st_file *g = st_open(out, &err);
    CHECK(g && st_count(g) == 1 && st_find(g, "decoded"));
    st_close(g);
    CHECK_INT(run_fixture("vae", NULL, inputs_variant("vae", "latent", NULL, 0, 0, NULL), out, NULL), 0);
    g = st_open(out, &err);
    CHECK(g && st_count(g) == 5 && !st_find(g, "decoded") && st_find(g, "z_sample"));
    st_close(g);
}

/* ---- refusals ---- */

/* The last run exited rc, its output names every needle, and out was not written. */
static void expect_refused(int got_rc, int want_rc, const char *out, const char *const *needles)
{
    CHECK_INT(got_rc, want_rc);
    for (int i = 0; needles[i]; i++)
        if (!strstr(OUTPUT, needles[i])) {
            CHECK(!"message lacks a needle");
            fprintf(stderr, "    message lacks [%s]: %s\n", needles[i], OUTPUT);
        }
    if (out && file_exists(out)) {
        CHECK(!"output written by a refused run");
        fprintf(stderr, "    %s written; the run said: %s\n", out, OUTPUT);
        unlink(out);
    }
}

#define NEEDLES(...) ((const char *[]){__VA_ARGS__, NULL})

static void test_usage_errors(void)
{
    const char *out = NEVER;
    CHECK_INT(run_bin((const char *[]){"model", "--help", NULL}), 0);
    CHECK(strstr(OUTPUT, "usage: tagbench model") && strstr(OUTPUT, "grad_embeds"));
    expect_refused(run_bin((const char *[]){"model", "--model", "unet", NULL}), 2, NULL,
                   NEEDLES("missing --config"));
    expect_refused(run_fixture("unet", NULL, NULL, out, NEEDLES("--clip-skip", "2")), 2, out,
                   NEEDLES("--clip-skip is for --model clip"));
    expect_refused(run_fixture("vae", NULL, NULL, out, NEEDLES("--backward")), 2, out,
                   NEEDLES("forward only"));
    expect_refused(run_fixture("clip", NULL, NULL, out, NEEDLES("--threads", "0")), 2, out,
                   NEEDLES("--threads takes a number"));
    expect_refused(run_fixture("clip", NULL, NULL, out, NEEDLES("--frobnicate")), 2, out,
                   NEEDLES("unknown option --frobnicate"));
    const char *bad_family[] = {"model", "--model", "gan", "--config", "x", "--weights", "w",
                                "--inputs", "i", "--out", out, NULL};
    expect_refused(run_bin(bad_family), 2, out, NEEDLES("--model takes unet, clip or vae"));
}

static void test_input_errors(void)
{
    const char *out = NEVER, *in;
    /* a missing input, named with the file and what the model needs */
    in = inputs_variant("unet", "context", NULL, 0, 0, NULL);
    expect_refused(run_fixture("unet", NULL, in, out, NULL), 1, out,
                   NEEDLES(in, "no tensor 'context'", "[B, T, D]"));
    in = inputs_variant("unet", "dy", NULL, 0, 0, NULL);
    expect_refused(run_fixture("unet", NULL, in, out, NEEDLES("--backward")), 1, out,
                   NEEDLES("no tensor 'dy'"));
    /* a wrong shape: context_dim 12 in the config */
    in = inputs_variant("unet", "context", "context", ST_F32, 3, (int64_t[]){2, 5, 7});
    expect_refused(run_fixture("unet", NULL, in, out, NULL), 1, out,
                   NEEDLES("'context'", "[2, 5, 7]", "expected 12 (context_dim of the config)"));
    in = inputs_variant("unet", "x", "x", ST_F32, 3, (int64_t[]){2, 4, 8});
    expect_refused(run_fixture("unet", NULL, in, out, NULL), 1, out, NEEDLES("'x'", "4 dimensions"));
    in = inputs_variant("unet", "x", "x", ST_F32, 4, (int64_t[]){2, 4, 6, 6});
    expect_refused(run_fixture("unet", NULL, in, out, NULL), 1, out, NEEDLES("multiples of 4"));
    in = inputs_variant("unet", "timesteps", "timesteps", ST_F32, 1, (int64_t[]){3});
    expect_refused(run_fixture("unet", NULL, in, out, NULL), 1, out, NEEDLES("'timesteps' has 3"));
    /* a wrong dtype: token ids as floats; a float input as integers */
    in = inputs_variant("clip", "input_ids", "input_ids", ST_F32, 2, (int64_t[]){2, 16});
    expect_refused(run_fixture("clip", NULL, in, out, NULL), 1, out,
                   NEEDLES("'input_ids' is F32", "I64"));
    in = inputs_variant("vae", "image", "image", ST_I32, 4, (int64_t[]){2, 3, 16, 16});
    expect_refused(run_fixture("vae", NULL, in, out, NULL), 1, out, NEEDLES("'image' is I32"));
    /* token ids outside the vocabulary (50), and more tokens than positions (16) */
    in = inputs_variant("clip", "input_ids", "input_ids", ST_I64, 2, (int64_t[]){1, 2});
    expect_refused(run_fixture("clip", NULL, in, out, NULL), 1, out, NEEDLES("outside the vocabulary"));
    in = inputs_variant("clip", "input_ids", "input_ids", ST_I64, 2, (int64_t[]){1, 17});
    expect_refused(run_fixture("clip", NULL, in, out, NULL), 1, out, NEEDLES("max_position_embeddings"));
    /* no such file */
    expect_refused(run_fixture("vae", NULL, tmp_path("nope.safetensors"), out, NULL), 1, out,
                   NEEDLES("nope.safetensors"));
}

static void test_config_and_weight_errors(void)
{
    const char *out = NEVER;
    tg_error err;
    /* a config the model refuses: the key is named */
    CHECK(fixture_write(TMP, "bad.json", "{\"in_channels\": 4, \"out_channels\": 4, \"model_channels\": 4,"
                        " \"channel_mult\": [1, 2, 2], \"num_res_blocks\": 1, \"attention_resolutions\": [2],"
                        " \"num_heads\": 2, \"context_dim\": 12, \"norm_num_groups\": 3}") == 0);
    const char *args[] = {"model", "--model", "unet", "--config", tmp_path("bad.json"), "--weights",
                          fix_path("unet", "weights.safetensors"), "--inputs",
                          fix_path("unet", "inputs.safetensors"), "--out", out, NULL};
    expect_refused(run_bin(args), 1, out, NEEDLES("norm_num_groups"));
    /* an unknown built-in name */
    args[4] = "sd99";
    expect_refused(run_bin(args), 1, out, NEEDLES("sd99"));
    /* another model's weights, and a checkpoint lacking one tensor */
    expect_refused(run_fixture("unet", fix_path("vae", "weights.safetensors"), NULL, out, NULL), 1, out,
                   NEEDLES("no tensor named model.diffusion_model.*"));
    st_file *src = st_open(fix_path("unet", "weights.safetensors"), &err);
    CHECK(src != NULL);
    if (!src)
        return;
    const char *lacking = tmp_path("lacking.safetensors");
    st_writer *w = st_writer_new();
    copy_tensors(w, src, "model.diffusion_model.out.2.bias");
    CHECK(st_writer_save(w, lacking, &err) == 0);
    st_writer_free(w);
    expect_refused(run_fixture("unet", lacking, NULL, out, NULL), 1, out,
                   NEEDLES(lacking, "no tensor 'model.diffusion_model.out.2.bias'"));
    /* a weight stored as integers */
    w = st_writer_new();
    copy_tensors(w, src, "model.diffusion_model.out.2.bias");
    static const int32_t ints[4] = {1, 2, 3, 4};
    CHECK(st_writer_add(w, "model.diffusion_model.out.2.bias", ST_I32, 1, (int64_t[]){4}, ints, &err) == 0);
    CHECK(st_writer_save(w, lacking, &err) == 0);
    st_writer_free(w);
    st_close(src);
    expect_refused(run_fixture("unet", lacking, NULL, out, NULL), 1, out,
                   NEEDLES("'model.diffusion_model.out.2.bias' is I32", "F32, F16 or BF16"));
    /* a LoRA file of the other model */
    expect_refused(run_fixture("clip", NULL, NULL, out, NEEDLES("--lora", fix_path("unet_lora", "lora.safetensors"))),
                   1, out, NEEDLES("lora_te_text_model_encoder_layers_0"));
}

/* A failed run leaves an existing output as it was; a good run replaces it whole (no temp files). */
static void test_output_atomic(void)
{
    const char *out = tmp_path("keep.safetensors");
    CHECK(fixture_write(TMP, "keep.safetensors", "old") == 0);
    expect_refused(run_fixture("vae", NULL, tmp_path("nope.safetensors"), out, NULL), 1, NULL,
                   NEEDLES("nope"));
    size_t len;
    char *old = fixture_read(TMP, "keep.safetensors", &len);
    CHECK(old && len == 3 && !memcmp(old, "old", 3));
    free(old);
    CHECK_INT(run_fixture("vae", NULL, NULL, out, NULL), 0);
    tg_error err;
    st_file *g = st_open(out, &err);
    CHECK(g && st_count(g) == 6 && st_meta(g, "producer") && !strcmp(st_meta(g, "producer"), "tagbench model"));
    st_close(g);
    CHECK_INT(fixture_count_named(TMP, ".tmp"), 0);
}

int main(void)
{
    const char *root = getenv("ROOT");
    static char fix[PATH_MAX];
    snprintf(fix, sizeof fix, "%s/tests/fixtures/model", root && *root ? root : ".");
    FIX = fix;
    if (find_binary() < 0) {
        fprintf(stderr, "FAIL: no tagbench binary at %s (build it first, or set TAGBENCH)\n", BIN);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    TMP = fixture_make();
    if (!TMP)
        return 1;
    snprintf(NEVER, sizeof NEVER, "%s/never.safetensors", TMP);
    snprintf(VARIANT, sizeof VARIANT, "%s/inputs_variant.safetensors", TMP);
    RUN(test_unet);
    RUN(test_unet_lora);
    RUN(test_clip);
    RUN(test_clip_lora);
    RUN(test_vae);
    RUN(test_vae_attn);
    RUN(test_single_file_checkpoint);
    RUN(test_forward_only);
    RUN(test_vae_halves);
    RUN(test_usage_errors);
    RUN(test_input_errors);
    RUN(test_config_and_weight_errors);
    RUN(test_output_atomic);
    fixture_remove(TMP);
    return check_finish();
}
