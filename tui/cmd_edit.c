/* tagbench edit DIR [--filter EXPR] OPERATION... [--dry-run]: the edit engine, in batch. All
 * operations run in the order given, as one step, on the images the filter selects; the result is
 * journaled and saved atomically, or with --dry-run shown as a unified diff and not written. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tagger/edit.h"
#include "tagger/journal.h"
#include "tagger/save.h"
#include "tui/cli.h"
#include "tui/commands.h"
#include "tui/edit_diff.h"
#include "tui/edit_spec.h"

typedef struct edit_args {
    const char *dir, *ext, *filter;
    edit_op *ops;
    size_t n_ops;
    bool dry_run, quiet;
} edit_args;

static void edit_help(void)
{
    printf("usage: tagbench edit DIR [--filter EXPR] OPERATION... [--dry-run] [--quiet]\n\n"
           "Operations run in the order given, as one step, on every image the filter selects\n"
           "(all images without --filter). TAG and PATTERN are one tag; a PATTERN may be a glob\n"
           "(* ? [..]) unless some image has a tag spelled exactly like it.\n"
           "  --add TAG               append TAG where it is missing\n"
           "  --prepend TAG           put TAG first (a trigger word), moving it if present\n"
           "  --remove PATTERN        remove matching tags\n"
           "  --rename OLD NEW        rename a tag; where NEW is already there, the two merge\n"
           "  --replace REGEX TEXT    in every tag, replace each match of a POSIX extended REGEX\n"
           "                          by TEXT (\\1..\\9 insert groups); a tag left empty is removed\n"
           "  --move-to-front PATTERN matching tags go first, in their order\n"
           "  --sort name|count       reorder tags by name or by dataset frequency\n"
           "  --keep N                with --sort: leave the first N tags in place\n"
           "  --dedup                 remove repeated tags, keeping the first\n"
           "  --underscores           '_' -> ' ' (tags of 3 characters or fewer, like ^_^, kept)\n"
           "  --lowercase             lower-case ASCII letters\n"
           "  --escape-parens         ( ) -> \\( \\) for weighted-caption syntax\n"
           "Options:\n"
           "  --filter EXPR           select images: tags with & | ! ( ) , \"quoted\", glob*, ~substring\n"
           "  --dry-run               print a unified diff of what would change; write nothing\n"
           "  --quiet                 no summary line\n"
           "  --caption_extension EXT caption files end with EXT (default .txt)\n"
           "Captions are written atomically; a caption changed by another program since it was read\n"
           "is never overwritten (exit status 1, and the edit is kept in DIR/.tagbench/journal.jsonl\n"
           "for `tagbench recover`).\n");
}

/* Returns 1 if argv[*i] was an operation (added to a->ops), 0 if not, -1 on a usage error. */
static int op_take(int *i, int argc, char **argv, edit_args *a)
{
    if (strncmp(argv[*i], "--", 2) != 0)
        return 0;
    const edit_spec *sp = edit_spec_find(argv[*i] + 2);
    if (sp) {
        if (*i + sp->nargs >= argc)
            return cli_usage_error("edit", "%s needs %d argument%s", argv[*i], sp->nargs,
                                   sp->nargs > 1 ? "s" : ""), -1;
        const char *x = sp->nargs > 0 ? argv[*i + 1] : NULL, *y = sp->nargs > 1 ? argv[*i + 2] : NULL;
        /* `--add --dry-run` is a forgotten argument, not the tag "--dry-run" */
        if ((x && !strncmp(x, "--", 2)) || (y && !strncmp(y, "--", 2)))
            return cli_usage_error("edit", "%s needs %d argument%s before the next option", argv[*i],
                                   sp->nargs, sp->nargs > 1 ? "s" : ""), -1;
        *i += sp->nargs;
        edit_op *ops = realloc(a->ops, sizeof *ops * (a->n_ops + 1));
        if (!ops)
            return -1;
        a->ops = ops;
        tg_error err;
        if (edit_op_init(&ops[a->n_ops], sp->kind, x, y, 0, &err) < 0) {
            edit_op_free(&ops[a->n_ops]);
            return cli_usage_error("edit", "%s", err.msg), -1;
        }
        a->n_ops++;
        return 1;
    }
    return 0;
}

static int keep_take(const char *v, edit_args *a)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 100000)
        return cli_usage_error("edit", "--keep takes a count, not \"%s\"", v);
    if (!a->n_ops || a->ops[a->n_ops - 1].kind != EDIT_SORT)
        return cli_usage_error("edit", "--keep goes right after --sort");
    a->ops[a->n_ops - 1].keep = (int)n;
    return EXIT_OK;
}

static int edit_parse(int argc, char **argv, edit_args *a)
{
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v = NULL;
        int op = op_take(&i, argc, argv, a);
        if (op < 0)
            return EXIT_USAGE;
        if (op > 0)
            continue;
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            edit_help();
            return -1;
        } else if (cli_opt("edit", &i, argc, argv, "--filter", &a->filter, &bad)) {
        } else if (cli_opt("edit", &i, argc, argv, "--keep", &v, &bad)) {
            if (!bad && keep_take(v, a) != EXIT_OK)
                return EXIT_USAGE;
        } else if (cli_caption_ext("edit", &i, argc, argv, &a->ext, &bad)) {
        } else if (cli_flag(argv[i], "--dry-run")) {
            a->dry_run = true;
        } else if (cli_flag(argv[i], "--quiet")) {
            a->quiet = true;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("edit", "unknown option %s", argv[i]);
        } else if (a->dir) {
            return cli_usage_error("edit", "one DIR only (got \"%s\" and \"%s\")", a->dir, argv[i]);
        } else {
            a->dir = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (!a->dir)
        return cli_usage_error("edit", "missing DIR");
    if (!a->n_ops)
        return cli_usage_error("edit", "no operation given (e.g. --add TAG)");
    return EXIT_OK;
}

static uint32_t *edit_select(const dataset *ds, const char *expr, size_t *n)
{
    if (!expr)
        return dataset_select_all(ds, n);
    tg_error err;
    tag_filter *f = filter_parse(expr, &err);
    if (!f) {
        cli_usage_error("edit", "--filter: %s", err.msg);
        return NULL;
    }
    uint32_t *sel = dataset_select_filter(ds, f, n);
    filter_free(f);
    return sel;
}

static int edit_save(dataset *ds, const char *dir, size_t *written)
{
    save_report rep;
    tg_error err;
    bool notice = ds->n_dirty >= 1000 && isatty(STDERR_FILENO); /* a big save takes seconds */
    if (notice)
        fprintf(stderr, "saving %zu captions...", ds->n_dirty);
    int rc = dataset_save(ds, &rep, &err);
    if (notice)
        fputs("\r\033[K", stderr);
    for (size_t k = 0; k < rep.n_messages; k++) {
        cli_error("edit", rep.messages[k]);
    }
    if (rc < 0) {
        cli_error("edit", err.msg);
    } else if (rc > 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%zu caption(s) not saved; their edits are kept in "
                 "%s/.tagbench/journal.jsonl (tagbench recover %s)", rep.conflicts + rep.failed, dir, dir);
        cli_error("edit", msg);
    }
    *written = rep.written;
    save_report_free(&rep);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

static int edit_run(dataset *ds, const edit_args *a)
{
    tg_error err;
    size_t nsel;
    uint32_t *sel = edit_select(ds, a->filter, &nsel);
    if (!sel)
        return EXIT_USAGE;
    int rc = a->dry_run ? 0 : dataset_journal_start(ds, &err);
    edit_result res;
    if (rc == 0)
        rc = dataset_apply(ds, a->ops, a->n_ops, sel, nsel, "edit", &res, &err);
    free(sel);
    if (rc < 0) {
        cli_error("edit", err.msg);
        return EXIT_FAIL;
    }
    size_t written = 0;
    if (a->dry_run)
        rc = edit_diff_print(ds, stdout) < 0 ? EXIT_FAIL : EXIT_OK;
    else
        rc = edit_save(ds, a->dir, &written);
    if (a->quiet)
        return rc;
    if (a->dry_run)
        fprintf(stderr, "%zu of %zu selected image(s) would change (dry run, nothing written)",
                res.changed, nsel);
    else
        printf("%zu of %zu selected image(s) changed, %zu caption(s) saved", res.changed, nsel, written);
    fprintf(a->dry_run ? stderr : stdout, "%s\n",
            res.locked ? "; some skipped: unreadable caption" : "");
    return rc;
}

int cmd_edit(int argc, char **argv)
{
    edit_args a = {0};
    int rc = edit_parse(argc, argv, &a);
    if (rc == EXIT_OK) {
        dataset *ds = cli_open("edit", a.dir, a.ext);
        rc = ds ? edit_run(ds, &a) : EXIT_FAIL;
        dataset_close(ds);
    }
    for (size_t k = 0; k < a.n_ops; k++)
        edit_op_free(&a.ops[k]);
    free(a.ops);
    return rc < 0 ? EXIT_OK : rc;
}
