/* tagbench model --model unet|clip|vae --config NAME|FILE.json --weights W.safetensors
 *   --inputs I.safetensors --out O.safetensors [--lora L.safetensors] [--backward] [--threads N]
 *   [--clip-skip N]: one model run on tensors read from a file, written to a file with names any
 *   reference implementation can produce too (trainer/model_run.h, docs/models.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trainer/model_run.h"
#include "tui/cli.h"
#include "tui/commands.h"

static void model_help(void)
{
    printf("usage: tagbench model --model unet|clip|vae --config NAME|FILE.json --weights W.safetensors\n"
           "                      --inputs I.safetensors --out O.safetensors [--lora L.safetensors]\n"
           "                      [--backward] [--threads N] [--clip-skip N]\n\n"
           "Runs one model on the CPU on tensors read from I and writes what it computed to O, so that\n"
           "an independent implementation (tests/ref/ldm_reference.py) can be compared tensor by tensor.\n"
           "  --model unet|clip|vae   the family\n"
           "  --config NAME|FILE      a built-in config (sd15, tiny) or a JSON file in the reference's\n"
           "                          key names (LDM unet_config / first_stage_config, HF CLIPTextConfig)\n"
           "  --weights W             single-file SD checkpoint keys (model.diffusion_model.*,\n"
           "                          cond_stage_model.transformer.text_model.*, first_stage_model.*),\n"
           "                          F32, F16 or BF16; the other models' tensors are ignored\n"
           "  --inputs I, --out O     safetensors files (O is written atomically, as F32)\n"
           "  --lora L                a kohya LoRA (unet, clip): adapters applied, base weights frozen\n"
           "  --backward              also the gradients of sum(dy * output) (unet, clip)\n"
           "  --threads N             worker threads (default: all cores)\n"
           "  --clip-skip N           clip: also write hidden_ln, the final layer norm of the hidden\n"
           "                          state clip skip N selects (1 = last_hidden_state)\n"
           "Tensors (B batch, T tokens):\n"
           "  unet  in:  x [B,C,H,W], timesteps [B], context [B,T,D], dy [B,C,H,W] (--backward)\n"
           "        out: eps; --backward: grad_x, grad_context, grad.<weight key> for every weight\n"
           "             (with --lora: grad.<kohya name>.lora_down.weight / .lora_up.weight)\n"
           "  clip  in:  input_ids [B,T] (I64), dy [B,T,C] (--backward: for last_hidden_state),\n"
           "             dy_penultimate [B,T,C] (optional: for penultimate_ln)\n"
           "        out: last_hidden_state, penultimate_ln (clip skip 2); --backward: grad_embeds\n"
           "             (w.r.t. token + position embeddings) and grad.<weight key> (or the LoRA's)\n"
           "  vae   in:  image [B,3,H,W] with noise [B,4,h,w], and/or latent [B,4,h,w]\n"
           "        out: moments, mean, logvar (clamped to [-30, 20]), std, z_sample = mean + std *\n"
           "             noise; decoded (the decoder on latent, unscaled)\n"
           "Exit status: 0 ok, 1 failure (a file, tensor or config refused: the message says which\n"
           "and why), 2 usage error. Docs: docs/models.md\n");
}

typedef struct model_args {
    model_run_opts o;
    const char *family;
} model_args;

static int int_arg(const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return cli_usage_error("model", "%s takes a number from %d to %d, not \"%s\"", opt, lo, hi, v);
    *out = (int)n;
    return EXIT_OK;
}

/* Returns EXIT_OK, EXIT_USAGE, or -1 after --help. */
static int model_parse(int argc, char **argv, model_args *a)
{
    bool bad = false;
    const char *threads = NULL, *skip = NULL;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            model_help();
            return -1;
        } else if (cli_opt("model", &i, argc, argv, "--model", &a->family, &bad) ||
                   cli_opt("model", &i, argc, argv, "--config", &a->o.config, &bad) ||
                   cli_opt("model", &i, argc, argv, "--weights", &a->o.weights, &bad) ||
                   cli_opt("model", &i, argc, argv, "--inputs", &a->o.inputs, &bad) ||
                   cli_opt("model", &i, argc, argv, "--out", &a->o.out, &bad) ||
                   cli_opt("model", &i, argc, argv, "--lora", &a->o.lora, &bad) ||
                   cli_opt("model", &i, argc, argv, "--threads", &threads, &bad) ||
                   cli_opt("model", &i, argc, argv, "--clip-skip", &skip, &bad)) {
        } else if (cli_flag(argv[i], "--backward")) {
            a->o.backward = true;
        } else {
            return cli_usage_error("model", "unknown %s %s", argv[i][0] == '-' ? "option" : "argument",
                                   argv[i]);
        }
    }
    if (bad)
        return EXIT_USAGE;
    static const char *const need[] = {"--model", "--config", "--weights", "--inputs", "--out"};
    const char *have[] = {a->family, a->o.config, a->o.weights, a->o.inputs, a->o.out};
    for (int k = 0; k < 5; k++)
        if (!have[k])
            return cli_usage_error("model", "missing %s", need[k]);
    if (model_family_parse(a->family, &a->o.family) < 0)
        return cli_usage_error("model", "--model takes unet, clip or vae, not \"%s\"", a->family);
    if (a->o.family == MODEL_VAE && (a->o.backward || a->o.lora))
        return cli_usage_error("model", "the vae runs forward only: no %s", a->o.lora ? "--lora" : "--backward");
    if (skip && a->o.family != MODEL_CLIP)
        return cli_usage_error("model", "--clip-skip is for --model clip");
    if ((threads && int_arg("--threads", threads, 1, 1024, &a->o.threads) != EXIT_OK) ||
        (skip && int_arg("--clip-skip", skip, 1, 1000, &a->o.clip_skip) != EXIT_OK))
        return EXIT_USAGE;
    return EXIT_OK;
}

typedef struct progress {
    struct timespec t0, phase_t0;
    bool tty, any;
} progress;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + 1e-9 * (double)(now.tv_nsec - t->tv_nsec);
}

/* One line per phase, with the previous phase's time (sd15 on a CPU takes seconds to minutes). */
static void progress_phase(void *ctx, const char *phase)
{
    progress *p = ctx;
    if (!p->tty)
        return;
    if (p->any)
        fprintf(stderr, " %.1f s\n", seconds_since(&p->phase_t0));
    fprintf(stderr, "tagbench model: %s...", phase);
    fflush(stderr);
    clock_gettime(CLOCK_MONOTONIC, &p->phase_t0);
    p->any = true;
}

static void progress_end(progress *p, bool ok)
{
    if (!p->tty || !p->any)
        return;
    if (ok)
        fprintf(stderr, " %.1f s (%.1f s in all)\n", seconds_since(&p->phase_t0), seconds_since(&p->t0));
    else
        fputc('\n', stderr);
}

int cmd_model(int argc, char **argv)
{
    model_args a;
    memset(&a, 0, sizeof a);
    int rc = model_parse(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    progress p = {.tty = isatty(STDERR_FILENO)};
    clock_gettime(CLOCK_MONOTONIC, &p.t0);
    a.o.progress = progress_phase;
    a.o.progress_ctx = &p;
    tg_error err = {{0}};
    rc = model_run(&a.o, &err);
    progress_end(&p, rc == 0);
    if (rc < 0) {
        cli_error("model", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}
