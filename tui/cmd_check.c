/* tagbench check DIR: lint. Exit status 1 when an error-level finding exists (a problem that
 * stops or corrupts training), 0 when there are only warnings or notes. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tagger/lint.h"
#include "tui/cli.h"
#include "tui/commands.h"

static void check_help(void)
{
    printf("usage: tagbench check DIR [--json] [--decode] [--caption_extension EXT]\n\n"
           "Finds what would surprise you at training time: missing, orphan and empty captions,\n"
           "duplicate and empty tags, BOM, CRLF, non-UTF-8, several lines, mixed separators,\n"
           "tags that differ only in case or '_', unreadable, truncated or oversized images,\n"
           "folders kohya would not read.\n"
           "  --json      one JSON array of {severity, code, path, message}\n"
           "  --decode    decode every image fully (finds truncated data; slower than headers)\n"
           "Exit status: 0 no errors (warnings may exist), 1 errors found, 2 usage error.\n");
}

static void findings_text(const lint_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        const lint_finding *f = &rep->f[i];
        printf("%-7s %-16s ", lint_severity_name(f->severity), f->code);
        cli_put(stdout, f->path);
        fputs(": ", stdout);
        cli_put(stdout, f->message);
        putchar('\n');
    }
    printf("%zu error(s), %zu warning(s), %zu note(s)\n", rep->count[LINT_ERROR],
           rep->count[LINT_WARNING], rep->count[LINT_INFO]);
}

static int findings_json(const lint_report *rep)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < rep->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "severity", lint_severity_name(rep->f[i].severity));
        cJSON_AddStringToObject(o, "code", rep->f[i].code);
        cJSON_AddStringToObject(o, "path", rep->f[i].path);
        cJSON_AddStringToObject(o, "message", rep->f[i].message);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = arr ? cJSON_Print(arr) : NULL;
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(arr);
    return s ? 0 : -1;
}

int cmd_check(int argc, char **argv)
{
    const char *dir = NULL, *ext = NULL;
    bool json = false, bad = false;
    lint_opts o = {.progress = cli_progress, .progress_ctx = "checking images"};
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            check_help();
            return EXIT_OK;
        } else if (cli_caption_ext("check", &i, argc, argv, &ext, &bad)) {
        } else if (cli_flag(argv[i], "--json")) {
            json = true;
        } else if (cli_flag(argv[i], "--decode")) {
            o.decode = true;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("check", "unknown option %s", argv[i]);
        } else if (dir) {
            return cli_usage_error("check", "one DIR only");
        } else {
            dir = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (!dir)
        return cli_usage_error("check", "missing DIR");
    dataset *ds = cli_open("check", dir, ext);
    if (!ds)
        return EXIT_FAIL;
    lint_report rep;
    tg_error err;
    int rc = dataset_lint(ds, &o, &rep, &err);
    if (rc < 0)
        cli_error("check", err.msg);
    else if (json)
        rc = findings_json(&rep);
    else
        findings_text(&rep);
    int status = rc < 0 ? EXIT_FAIL : rep.count[LINT_ERROR] ? EXIT_FAIL : EXIT_OK;
    lint_report_free(&rep);
    dataset_close(ds);
    return status;
}
