/* tagbench: the entry point. `tagbench CMD ...` runs a headless command; `tagbench DIR` opens the
 * full-screen workbench on a terminal, and prints the dataset's summary when not on one. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tui/commands.h"

#define TAGBENCH_VERSION "0.1.0"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"open", cmd_open, "the full-screen workbench (same as `tagbench DIR`)"},
    {"summary", cmd_summary, "what is in a dataset: images, folders, repeats, top tags, problems"},
    {"tags", cmd_tags, "tag occurrence, overall or per N_name folder (text or JSON)"},
    {"edit", cmd_edit, "batch edits: add, remove, rename, replace, reorder, normalise (--dry-run)"},
    {"check", cmd_check, "lint a dataset: missing/empty/odd captions, bad images, tag variants"},
    {"pipeline", cmd_pipeline, "what the trainer sees of a caption (keep_tokens, shuffle, dropout)"},
    {"keys", cmd_keys, "the workbench's keys as Markdown (docs/keys.md)"},
    {"recover", cmd_recover, "replay or discard edits journaled by a session that did not save"},
    {"model", cmd_model, "run a UNet, CLIP or VAE on tensors from a file (checks against a reference)"},
    {"train", cmd_train, "a training run from a config, headless: progress, --json events, Ctrl-C saves"},
    {"sample", cmd_sample, "images from a trained model (+ a LoRA) and kohya-syntax prompts"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tagbench [--help] [--version] COMMAND [ARGS]\n"
                 "       tagbench DIR [OPTIONS]  (the full-screen workbench; its summary when not\n"
                 "                                on a terminal)\n\n"
                 "tagbench prepares image datasets for LoRA training with kohya sd-scripts "
                 "conventions.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`tagbench COMMAND --help` describes a command. Exit status: 0 ok, 1 failure, "
                 "2 usage error.\nDocs: docs/commands.md, docs/captions.md, docs/pipeline.md\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("tagbench %s\n", TAGBENCH_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    struct stat st;
    if (argv[1][0] != '-' && stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode)) {
        if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
            return cmd_open(argc, argv);
        fprintf(stderr, "tagbench: not on a terminal, so the summary instead of the workbench\n");
        char *sub[] = {"summary", argv[1], NULL};
        return cmd_summary(2, sub);
    }
    fprintf(stderr, "tagbench: unknown command or folder \"%s\"\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
