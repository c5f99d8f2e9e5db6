/* tagbench [open] DIR [options]: the full-screen workbench. */
#include <stdio.h>
#include <string.h>

#include "tui/app.h"
#include "tui/cli.h"
#include "tui/commands.h"
#include "tui/keymap.h"

static void open_help(void)
{
    printf("usage: tagbench [open] DIR [--tags-csv FILE] [--graphics auto|sixel|kitty|blocks|none]\n"
           "                [--config FILE] [--caption_extension EXT] [--no-mouse]\n\n"
           "The full-screen workbench: browse the images with previews, edit tags (with undo and a\n"
           "journal, so a dropped connection loses nothing), see tag occurrence, tune keep_tokens and\n"
           "caption dropout. Press ? inside for every key.\n\n"
           "  --tags-csv FILE     booru tag list (name,type,count,aliases) for tag completion\n"
           "  --graphics MODE     how previews are drawn; auto asks the terminal (default)\n"
           "  --config FILE       run config the Captions screen edits (default DIR/.tagbench/run.json)\n"
           "  --caption_extension EXT  caption files end with EXT (default .txt)\n"
           "  --no-mouse          leave the mouse to the terminal (text selection)\n"
           "Docs: docs/keys.md, docs/guide.md\n");
}

static int open_parse(int argc, char **argv, app_opts *o)
{
    bool bad = false;
    const char *g = NULL;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            open_help();
            return -1;
        } else if (cli_opt("open", &i, argc, argv, "--tags-csv", &o->tags_csv, &bad)) {
        } else if (cli_opt("open", &i, argc, argv, "--graphics", &g, &bad)) {
        } else if (cli_opt("open", &i, argc, argv, "--config", &o->config, &bad)) {
        } else if (cli_caption_ext("open", &i, argc, argv, &o->caption_ext, &bad)) {
        } else if (cli_flag(argv[i], "--no-mouse")) {
            o->mouse = false;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("open", "unknown option %s", argv[i]);
        } else if (o->dir) {
            return cli_usage_error("open", "one DIR only (got \"%s\" and \"%s\")", o->dir, argv[i]);
        } else {
            o->dir = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (!o->dir)
        return cli_usage_error("open", "missing DIR");
    gfx_mode m;
    o->gfx = -1;
    if (g && strcmp(g, "auto")) {
        if (gfx_mode_parse(g, &m) < 0)
            return cli_usage_error("open", "--graphics takes auto, sixel, kitty, blocks or none, not \"%s\"", g);
        o->gfx = (int)m;
    }
    return EXIT_OK;
}

int cmd_open(int argc, char **argv)
{
    app_opts o = {.mouse = true};
    int rc = open_parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    return app_run(&o);
}

int cmd_keys(int argc, char **argv)
{
    if (argc > 1) {
        if (cli_flag(argv[1], "--help") || cli_flag(argv[1], "-h")) {
            printf("usage: tagbench keys\nPrints every key of the workbench as Markdown.\n");
            return EXIT_OK;
        }
        return cli_usage_error("keys", "takes no arguments");
    }
    keymap_print_markdown(stdout);
    return EXIT_OK;
}
