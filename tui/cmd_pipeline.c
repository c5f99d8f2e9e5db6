/* `tagbench pipeline`: what training steps would see of a caption, as K draws of the caption
 * pipeline. The rng is seeded once with --seed and the K draws are consecutive draws from that
 * one stream (draw 2 continues where draw 1 stopped), as successive steps in training would be;
 * so a seed and a set of options always print the same K lines. */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/dataset.h"
#include "tagger/error.h"
#include "tagger/pipeline.h"
#include "tagger/rng.h"
#include "tui/caption_flags.h"
#include "tui/cli.h"
#include "tui/commands.h"

#define PROG "tagbench pipeline"

enum { DRAWS_MAX = 10000000 };

typedef struct pipeline_args {
    const char *caption; /* --caption TEXT, read as the contents of a caption file */
    const char *dir;     /* the positional DIR */
    const char *ext;     /* --caption_extension in DIR mode */
    uint64_t seed;
    long draws;
    pipeline_when when;
    bool json, help;
    pipeline_opts opts;
} pipeline_args;

typedef enum arg_kind { ARG_TEXT, ARG_SEED, ARG_INT, ARG_LONG, ARG_SWITCH } arg_kind;

typedef struct cmd_flag {
    const char *name;
    arg_kind kind;
    size_t offset; /* in pipeline_args */
    long min, max; /* for ARG_INT and ARG_LONG */
    const char *value;
    const char *help;
} cmd_flag;

#define ARG(f) offsetof(pipeline_args, f)

static const cmd_flag cmd_flags[] = {
    {"caption", ARG_TEXT, ARG(caption), 0, 0, "TEXT",
     "the caption, as the text of a caption file (or give a dataset DIR)"},
    {"caption_extension", ARG_TEXT, ARG(ext), 0, 0, "EXT",
     "with DIR: caption files end with EXT (default .txt)"},
    {"seed", ARG_SEED, ARG(seed), 0, 0, "N", "seed of the random state (default 0)"},
    {"draws", ARG_LONG, ARG(draws), 0, DRAWS_MAX, "K", "number of draws to print, one per line (default 5)"},
    {"epoch", ARG_INT, ARG(when.epoch), 1, INT_MAX, "E",
     "1-based epoch of the draws, for caption_dropout_every_n_epochs (default 1)"},
    {"step", ARG_LONG, ARG(when.step), 0, LONG_MAX, "S",
     "0-based training step of the draws, for token warm-up (default 0)"},
    {"max_train_steps", ARG_LONG, ARG(when.max_train_steps), 0, LONG_MAX, "M",
     "length of the run, for a fractional token_warmup_step (default 0)"},
    {"json", ARG_SWITCH, ARG(json), 0, 0, "",
     "one JSON object per draw: {\"draw\": i, \"caption\": \"...\", \"kept\": n}"},
    {"help", ARG_SWITCH, ARG(help), 0, 0, "", "show this help"},
};

enum { N_CMD_FLAGS = sizeof cmd_flags / sizeof cmd_flags[0] };

static int label_len(const cmd_flag *f)
{
    return (int)(2 + strlen(f->name) + (*f->value ? 1 + strlen(f->value) : 0));
}

static void usage_print(FILE *out)
{
    fputs("usage: " PROG " (--caption TEXT | DIR) [caption options] [--seed N] [--draws K]\n"
          "                         [--epoch E] [--step S] [--max_train_steps M] [--json]\n"
          "\n"
          "Prints K draws of kohya's caption pipeline (process_caption) for TEXT, one per line:\n"
          "what K training steps could see. With a dataset DIR, K draws for every image, each line\n"
          "starting with the caption file and a tab (images without a caption draw from their\n"
          "folder's class tokens, as kohya does). The random state is seeded once with --seed and\n"
          "the draws follow one another in it, so the same seed and options print the same lines.\n"
          "\n",
          out);
    int width = 0;
    for (size_t k = 0; k < N_CMD_FLAGS; k++)
        if (label_len(&cmd_flags[k]) > width)
            width = label_len(&cmd_flags[k]);
    for (size_t k = 0; k < N_CMD_FLAGS; k++) {
        const cmd_flag *f = &cmd_flags[k];
        fprintf(out, "  --%s%s%s%*s  %s\n", f->name, *f->value ? " " : "", f->value,
                width - label_len(f), "", f->help);
    }
    fputs("\ncaption options (kohya sd-scripts names; --opt=VALUE and --opt-name work too):\n", out);
    caption_flags_help(out);
    fputs("\nexample:\n"
          "  " PROG " --caption '1girl, smile, red hair, outdoors' --keep_tokens 1 \\\n"
          "      --shuffle_caption --caption_tag_dropout_rate 0.2 --seed 7 --draws 3\n",
          out);
}

static const cmd_flag *cmd_flag_find(const char *arg, const char **inline_value)
{
    if (strcmp(arg, "-h") == 0) {
        *inline_value = NULL;
        return &cmd_flags[N_CMD_FLAGS - 1];
    }
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t k = 0; k < N_CMD_FLAGS; k++) {
        if (cli_name_matches(cmd_flags[k].name, name, n)) {
            *inline_value = eq ? eq + 1 : NULL;
            return &cmd_flags[k];
        }
    }
    return NULL;
}

/* Signs are refused up front: strtoull would quietly wrap "-1" to 2^64 - 1. */
static int number_store(const cmd_flag *f, const char *s, void *field, tg_error *err)
{
    char *end = NULL;
    errno = 0;
    bool ok = *s && !isspace((unsigned char)*s) && *s != '-' && *s != '+';
    if (f->kind == ARG_SEED) {
        uint64_t v = ok ? strtoull(s, &end, 10) : 0;
        if (!end || *end || errno)
            return error_set(err, "--%s needs a whole number >= 0, got \"%s\"", f->name, s);
        *(uint64_t *)field = v;
        return 0;
    }
    long v = ok ? strtol(s, &end, 10) : 0;
    if (!end || *end || errno || v < f->min || v > f->max)
        return error_set(err, "--%s needs a whole number in [%ld, %ld], got \"%s\"", f->name,
                         f->min, f->max, s);
    if (f->kind == ARG_INT)
        *(int *)field = (int)v;
    else
        *(long *)field = v;
    return 0;
}

/* Like caption_flags_parse, for this command's own options. */
static int cmd_flag_parse(int *i, int argc, char **argv, pipeline_args *a, tg_error *err)
{
    const char *value = NULL;
    const cmd_flag *f = cmd_flag_find(argv[*i], &value);
    if (!f)
        return 0;
    void *field = (char *)a + f->offset;
    if (f->kind == ARG_SWITCH) {
        if (value)
            return error_set(err, "--%s takes no value, got \"%s\"", f->name, value);
        *(bool *)field = true;
        *i += 1;
        return 1;
    }
    int used = 1;
    if (!value) {
        if (*i + 1 >= argc)
            return error_set(err, "--%s needs a value (%s)", f->name, f->value);
        value = argv[*i + 1];
        used = 2;
    }
    if (f->kind == ARG_TEXT)
        *(const char **)field = value;
    else if (number_store(f, value, field, err) < 0)
        return -1;
    *i += used;
    return 1;
}

/* One argument at *i: an option of either kind, or the positional DIR. */
static int arg_take(int *i, int argc, char **argv, pipeline_args *a, tg_error *err)
{
    int rc = caption_flags_parse(i, argc, argv, &a->opts, err);
    if (rc == 0)
        rc = cmd_flag_parse(i, argc, argv, a, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    const char *arg = argv[*i];
    if (arg[0] == '-' && arg[1])
        return error_set(err, "unknown option %s", arg);
    if (a->dir)
        return error_set(err, "one DIR at most, got \"%s\" and \"%s\"", a->dir, arg);
    a->dir = arg;
    *i += 1;
    return 0;
}

static int args_parse(int argc, char **argv, pipeline_args *a, tg_error *err)
{
    *a = (pipeline_args){.draws = 5, .when = {.epoch = 1, .step = 0, .max_train_steps = 0}};
    pipeline_opts_default(&a->opts);
    for (int i = 1; i < argc;)
        if (arg_take(&i, argc, argv, a, err) < 0)
            return -1;
    if (a->help)
        return 0;
    if (!a->caption && !a->dir)
        return error_set(err, "give --caption TEXT");
    if (a->caption && a->dir)
        return error_set(err, "give either --caption TEXT or DIR, not both");
    return pipeline_opts_validate(&a->opts, err);
}

/* file: the caption file in DIR mode (printed first, tab-separated), NULL for --caption. Text from
 * files is made terminal-safe; JSON escapes it anyway. */
static void draw_print(FILE *out, const pipeline_args *a, const char *file, long index,
                       const char *text, size_t kept)
{
    if (!a->json) {
        if (file) {
            cli_put(out, file);
            fputc('\t', out);
            cli_put(out, text);
        } else {
            fputs(text, out);
        }
        fputc('\n', out);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (file)
        cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "draw", (double)index);
    cJSON_AddStringToObject(o, "caption", text);
    cJSON_AddNumberToObject(o, "kept", (double)kept);
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    if (line)
        fprintf(out, "%s\n", line);
    free(line);
    cJSON_Delete(o);
}

/* K consecutive draws of one caption file's text from the shared stream r. */
static int caption_draws(const pipeline_args *a, const char *file, const char *raw, size_t len, rng *r)
{
    char *caption = pipeline_read_caption(raw, len, a->opts.enable_wildcard);
    if (!caption) {
        fprintf(stderr, PROG ": out of memory\n");
        return EXIT_FAIL;
    }
    int status = EXIT_OK;
    for (long k = 0; k < a->draws && status == EXIT_OK; k++) {
        size_t kept = 0;
        char *text = pipeline_process(caption, &a->opts, &a->when, r, &kept);
        if (!text) {
            fprintf(stderr, PROG ": out of memory\n");
            status = EXIT_FAIL;
            break;
        }
        draw_print(stdout, a, file, k, text, kept);
        free(text);
    }
    free(caption);
    return status;
}

/* The bytes of a caption file, as the trainer would read them; for an image without a caption,
 * its folder's class tokens (what kohya trains it with). */
static char *item_raw_caption(const dataset *ds, size_t i, size_t *len, tg_error *err)
{
    const ds_item *it = &ds->items[i];
    if (it->has_file)
        return dataset_caption_read(ds, i, len, err);
    const char *cls = ds->folders[it->folder].class_tokens;
    *len = cls ? strlen(cls) : 0;
    return strdup(cls ? cls : "");
}

static int dataset_draws(const pipeline_args *a, rng *r)
{
    dataset *ds = cli_open("pipeline", a->dir, a->ext);
    if (!ds)
        return EXIT_FAIL;
    int status = EXIT_OK;
    bool unreadable = false;
    for (size_t i = 0; i < ds->n_items && status == EXIT_OK; i++) {
        const ds_item *it = &ds->items[i];
        size_t len;
        tg_error err = {{0}};
        char *raw = it->locked ? NULL : item_raw_caption(ds, i, &len, &err);
        if (raw) {
            status = caption_draws(a, it->has_file ? it->caption : it->image, raw, len, r);
        } else {
            cli_error("pipeline", *err.msg ? err.msg : "out of memory");
            unreadable = true; /* go on with the others; the exit status says it */
        }
        free(raw);
    }
    if (unreadable && status == EXIT_OK)
        status = EXIT_FAIL;
    dataset_close(ds);
    return status;
}

static int draws_print(const pipeline_args *a)
{
    rng r;
    rng_seed(&r, a->seed);
    int status = a->dir ? dataset_draws(a, &r)
                        : caption_draws(a, NULL, a->caption, strlen(a->caption), &r);
    if (fflush(stdout) != 0 && status == EXIT_OK) {
        fprintf(stderr, PROG ": writing the output: %s\n", strerror(errno));
        status = EXIT_FAIL;
    }
    return status;
}

int cmd_pipeline(int argc, char **argv)
{
    pipeline_args a;
    tg_error err = {{0}};
    if (args_parse(argc, argv, &a, &err) < 0)
        return cli_usage_error("pipeline", "%s", err.msg);
    if (a.help) {
        usage_print(stdout);
        return EXIT_OK;
    }
    return draws_print(&a);
}
