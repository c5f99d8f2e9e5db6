/* tagbench sample MODEL [--lora FILE] [--lora-weight X] (--prompt LINE | --prompts FILE)...
 *   [--sampler NAME] [--out PATH] [--grid FILE.png] [--scale N] [--threads N]: images from a
 * checkpoint (+ a kohya LoRA) and prompts in kohya's syntax, from the shell (docs/commands.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/dmodel_sample.h"
#include "trainer/file_atomic.h"
#include "trainer/sample_prompt.h"
#include "tui/cli.h"
#include "tui/commands.h"

static void sample_help(void)
{
    printf("usage: tagbench sample MODEL (--prompt LINE | --prompts FILE)... [--lora FILE]\n"
           "                       [--lora-weight X] [--sampler NAME] [--out PATH] [--grid FILE.png]\n"
           "                       [--scale N] [--threads N]\n\n"
           "Generates images with a model a run saved (NAME.safetensors of a full run), optionally with\n"
           "a kohya LoRA on top, on the CPU.\n"
           "  --prompt LINE     one prompt in kohya's sample syntax, e.g.\n"
           "                    \"red circle, large, white background --n blurry --w 32 --h 32 --s 20\n"
           "                    --l 4 --d 7\" (--n negative, --w/--h size, --s steps, --l CFG scale,\n"
           "                    --d seed, --ss sampler); may be given several times\n"
           "  --prompts FILE    every prompt of a kohya .txt prompt file (# comments, blank lines)\n"
           "  --lora FILE       a kohya LoRA file trained on this model; --lora-weight X its strength\n"
           "                    (default 1)\n"
           "  --sampler NAME    ddim (default), euler, euler_a, dpmsolver++ / dpmpp_2m; --ss wins\n"
           "  --out PATH        a .png for one prompt, else a folder (made if missing) that gets\n"
           "                    sample_PP_SEED.png per prompt; default: sample.png or samples/\n"
           "  --grid FILE.png   also every image side by side in one row, scaled by --scale\n"
           "  --scale N         grid scale, nearest neighbour (default: to about 128 pixels a side)\n"
           "  --threads N       worker threads (default: all cores)\n"
           "A prompt without --w/--h samples at the model's resolution; without --d, seed 0 + its\n"
           "index. Exit status: 0 ok, 1 failure (the message names the file and why), 2 usage.\n");
}

typedef struct sample_args {
    const char *model, *lora, *sampler, *out, *grid;
    float lora_weight;
    int scale, threads;
    sample_prompt_list prompts;
} sample_args;

static int prompts_add(sample_args *a, const sample_prompt_list *more)
{
    sample_prompt *items = realloc(a->prompts.items, (a->prompts.count + more->count) * sizeof *items);
    if (!items)
        return -1;
    memcpy(items + a->prompts.count, more->items, more->count * sizeof *items);
    a->prompts.items = items;
    a->prompts.count += more->count;
    free(more->items);
    return 0;
}

static int prompt_arg(sample_args *a, const char *line, bool file)
{
    sample_prompt_list one = {0};
    tg_error err = {{0}};
    if (file ? sample_prompts_load(line, &one, &err) < 0 : sample_prompts_parse(line, strlen(line), "--prompt", &one, &err) < 0) {
        cli_error("sample", err.msg);
        return EXIT_FAIL;
    }
    if (prompts_add(a, &one) < 0) {
        sample_prompts_free(&one);
        cli_error("sample", "out of memory");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int num_arg(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double n = strtod(v, &end);
    if (!*v || *end || !(n >= lo && n <= hi))
        return cli_usage_error("sample", "%s takes a number from %g to %g, not \"%s\"", opt, lo, hi, v);
    *out = n;
    return EXIT_OK;
}

/* Returns EXIT_OK, EXIT_USAGE or EXIT_FAIL, or -1 after --help. */
static int sample_parse(int argc, char **argv, sample_args *a)
{
    bool bad = false;
    const char *v = NULL;
    double x;
    int rc = EXIT_OK;
    for (int i = 1; i < argc && !bad && rc == EXIT_OK; i++) {
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            sample_help();
            return -1;
        } else if (cli_opt("sample", &i, argc, argv, "--prompt", &v, &bad) && !bad) {
            rc = prompt_arg(a, v, false);
        } else if (cli_opt("sample", &i, argc, argv, "--prompts", &v, &bad) && !bad) {
            rc = prompt_arg(a, v, true);
        } else if (cli_opt("sample", &i, argc, argv, "--lora-weight", &v, &bad) && !bad) {
            if ((rc = num_arg("--lora-weight", v, -10, 10, &x)) == EXIT_OK)
                a->lora_weight = (float)x;
        } else if (cli_opt("sample", &i, argc, argv, "--scale", &v, &bad) && !bad) {
            if ((rc = num_arg("--scale", v, 1, 64, &x)) == EXIT_OK)
                a->scale = (int)x;
        } else if (cli_opt("sample", &i, argc, argv, "--threads", &v, &bad) && !bad) {
            if ((rc = num_arg("--threads", v, 1, 1024, &x)) == EXIT_OK)
                a->threads = (int)x;
        } else if (cli_opt("sample", &i, argc, argv, "--lora", &a->lora, &bad) ||
                   cli_opt("sample", &i, argc, argv, "--sampler", &a->sampler, &bad) ||
                   cli_opt("sample", &i, argc, argv, "--out", &a->out, &bad) ||
                   cli_opt("sample", &i, argc, argv, "--grid", &a->grid, &bad)) {
        } else if (argv[i][0] == '-') {
            return cli_usage_error("sample", "unknown option %s (see --help)", argv[i]);
        } else if (a->model) {
            return cli_usage_error("sample", "one model only (%s, then %s)", a->model, argv[i]);
        } else {
            a->model = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (rc != EXIT_OK)
        return rc;
    if (!a->model)
        return cli_usage_error("sample", "which model? (tagbench sample MODEL --prompt ...)");
    if (!a->prompts.count)
        return cli_usage_error("sample", "no prompt: give --prompt LINE or --prompts FILE");
    return EXIT_OK;
}

static bool ends_with_png(const char *p)
{
    size_t n = strlen(p);
    return n > 4 && !strcasecmp(p + n - 4, ".png");
}

/* Every image in one row, each scaled by s (nearest neighbour), 4-pixel gaps. */
static int grid_write(const char *path, const image *imgs, size_t n, int s, tg_error *err)
{
    int w = 0, h = 0, gap = 4;
    for (size_t i = 0; i < n; i++) {
        w += imgs[i].w * s + (i ? gap : 0);
        h = imgs[i].h * s > h ? imgs[i].h * s : h;
    }
    image g = {.w = w, .h = h, .px = calloc((size_t)w * h, 3)};
    if (!g.px)
        return error_set(err, "%s: out of memory", path);
    for (size_t i = 0, x0 = 0; i < n; x0 += (size_t)imgs[i].w * s + gap, i++)
        for (int y = 0; y < imgs[i].h * s; y++)
            for (int x = 0; x < imgs[i].w * s; x++)
                memcpy(g.px + ((size_t)y * w + x0 + x) * 3, imgs[i].px + ((size_t)(y / s) * imgs[i].w + x / s) * 3, 3);
    int rc = png_write(path, &g, err);
    free(g.px);
    return rc;
}

static int image_path(const sample_args *a, size_t i, uint64_t seed, char *buf, size_t n, tg_error *err)
{
    const char *out = a->out ? a->out : a->prompts.count == 1 ? "sample.png" : "samples";
    if (a->prompts.count == 1 && ends_with_png(out)) {
        snprintf(buf, n, "%s", out);
        return 0;
    }
    if (dir_make_all(out, err) < 0)
        return -1;
    snprintf(buf, n, "%s/sample_%02zu_%llu.png", out, i, (unsigned long long)seed);
    return 0;
}

static int sample_all(dmodel *m, kctx *k, const sample_args *a, image *imgs, tg_error *err)
{
    for (size_t i = 0; i < a->prompts.count; i++) {
        const sample_prompt *p = &a->prompts.items[i];
        bool sized = p->width != SP_DEFAULT_SIDE || p->height != SP_DEFAULT_SIDE;
        dmodel_sample_opts o = {.prompt = p->prompt, .negative = p->negative, .steps = p->steps,
                                .cfg_scale = p->cfg_scale, .width = sized ? p->width : m->native,
                                .height = sized ? p->height : m->native,
                                .seed = p->seed >= 0 ? (uint64_t)p->seed : (uint64_t)i};
        const char *sname = p->sampler ? p->sampler : a->sampler ? a->sampler : "ddim";
        char path[4200];
        if (sampler_from_name(sname, &o.sampler, err) < 0 || dmodel_sample(m, k, &o, &imgs[i], err) < 0 ||
            image_path(a, i, o.seed, path, sizeof path, err) < 0 || png_write(path, &imgs[i], err) < 0)
            return -1;
        printf("%s\n", path);
    }
    return 0;
}

static int sample_run(const sample_args *a, tg_error *err)
{
    kctx k;
    if (k_init(&k, "cpu", a->threads) < 0)
        return error_set(err, "%s", k.msg);
    dmodel m;
    image *imgs = calloc(a->prompts.count, sizeof *imgs);
    int rc = imgs ? dmodel_load(&m, &k, a->model, false, err) : error_set(err, "out of memory");
    if (rc == 0) {
        if (a->lora)
            rc = dmodel_lora_load(&m, &k, a->lora, a->lora_weight, err);
        if (rc == 0)
            rc = sample_all(&m, &k, a, imgs, err);
        int side = imgs[0].w > imgs[0].h ? imgs[0].w : imgs[0].h;
        int s = a->scale ? a->scale : side > 0 && side < 128 ? (128 + side - 1) / side : 1;
        if (rc == 0 && a->grid && grid_write(a->grid, imgs, a->prompts.count, s, err) == 0)
            printf("%s\n", a->grid);
        else if (rc == 0 && a->grid)
            rc = -1;
        dmodel_free(&m, &k);
    }
    for (size_t i = 0; imgs && i < a->prompts.count; i++)
        image_free(&imgs[i]);
    free(imgs);
    k_free_ctx(&k);
    return rc;
}

int cmd_sample(int argc, char **argv)
{
    sample_args a = {.lora_weight = 1};
    int rc = sample_parse(argc, argv, &a);
    if (rc == EXIT_OK) {
        tg_error err = {{0}};
        if (sample_run(&a, &err) < 0) {
            cli_error("sample", err.msg);
            rc = EXIT_FAIL;
        }
    }
    sample_prompts_free(&a.prompts);
    return rc < 0 ? EXIT_OK : rc;
}
