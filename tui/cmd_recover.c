/* tagbench recover DIR: edits journaled by a session that ended without saving (a crash, a killed
 * SSH session) are replayed and saved, or discarded on request. */
#include <stdio.h>
#include <string.h>

#include "tagger/journal.h"
#include "tagger/save.h"
#include "tui/cli.h"
#include "tui/commands.h"

static void recover_help(void)
{
    printf("usage: tagbench recover DIR [--dry-run | --discard] [--caption_extension EXT]\n\n"
           "Replays the edits in DIR/.tagbench/journal.jsonl onto the captions they were made on,\n"
           "and saves them. A caption changed on disk since the edit keeps its disk version; the\n"
           "edited text goes to CAPTION.tagbench-recovered beside it, so nothing is lost.\n"
           "Temporary files an interrupted save left beside the captions are removed.\n"
           "  --dry-run   say what would be recovered; change nothing\n"
           "  --discard   delete the journal: its edits are lost\n");
}

static void messages_print(char **m, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        cli_error("recover", m[k]);
    }
}

static int recover_run(dataset *ds, bool dry_run)
{
    tg_error err;
    journal_report jr;
    if (dataset_journal_replay(ds, &jr, dry_run, &err) < 0) {
        cli_error("recover", err.msg);
        return EXIT_FAIL;
    }
    messages_print(jr.messages, jr.n_messages);
    printf("%zu caption(s) %s, %zu %s aside (changed on disk or image gone)\n", jr.replayed,
           dry_run ? "would be recovered" : "recovered", jr.conflicts + jr.missing,
           dry_run ? "would be kept" : "kept");
    journal_report_free(&jr);
    if (dry_run)
        return EXIT_OK;
    save_report sr;
    int rc = dataset_save(ds, &sr, &err);
    messages_print(sr.messages, sr.n_messages);
    if (rc < 0)
        cli_error("recover", err.msg);
    else
        printf("%zu caption(s) saved\n", sr.written);
    save_report_free(&sr);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/* Temporary files of interrupted saves: never a caption, always safe to delete once their process
 * is gone (the edits they held are in the journal). */
static int temps_remove(dataset *ds)
{
    tg_error err;
    long n = dataset_remove_stale_temps(ds, &err);
    if (n < 0)
        cli_error("recover", err.msg);
    else if (n > 0)
        printf("removed %ld temporary file(s) of an interrupted save\n", n);
    return n < 0 ? -1 : 0;
}

int cmd_recover(int argc, char **argv)
{
    const char *dir = NULL, *ext = NULL;
    bool discard = false, dry_run = false, bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            recover_help();
            return EXIT_OK;
        } else if (cli_caption_ext("recover", &i, argc, argv, &ext, &bad)) {
        } else if (cli_flag(argv[i], "--discard")) {
            discard = true;
        } else if (cli_flag(argv[i], "--dry-run")) {
            dry_run = true;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("recover", "unknown option %s", argv[i]);
        } else if (dir) {
            return cli_usage_error("recover", "one DIR only");
        } else {
            dir = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (!dir)
        return cli_usage_error("recover", "missing DIR");
    if (discard && dry_run)
        return cli_usage_error("recover", "--discard and --dry-run exclude each other");
    dataset *ds = cli_open("recover", dir, ext);
    if (!ds)
        return EXIT_FAIL;
    tg_error err;
    if (!dry_run && temps_remove(ds) < 0) {
        dataset_close(ds);
        return EXIT_FAIL;
    }
    long pending = dataset_journal_pending(ds, &err);
    int rc = EXIT_OK;
    if (pending < 0) {
        cli_error("recover", err.msg);
        rc = EXIT_FAIL;
    } else if (pending == 0) {
        /* a session killed while starting its journal leaves an empty one: nothing in it to lose */
        if (!dry_run && dataset_journal_discard(ds, &err) < 0)
            cli_error("recover", err.msg);
        fputs("nothing to recover in ", stdout);
        cli_put(stdout, dir);
        putchar('\n');
    } else if (discard) {
        rc = dataset_journal_discard(ds, &err) < 0 ? EXIT_FAIL : EXIT_OK;
        if (rc)
            cli_error("recover", err.msg);
        else
            printf("discarded the unsaved edits of %ld caption(s)\n", pending);
    } else {
        rc = recover_run(ds, dry_run);
    }
    dataset_close(ds);
    return rc;
}
