/* tagbench tags DIR: tag occurrence. */
#include <stdlib.h>
#include <string.h>

#include "tagger/edit.h"
#include "tagger/occurrence.h"
#include "tui/cli.h"
#include "tui/commands.h"

typedef struct tags_args {
    const char *dir, *ext;
    occ_sort sort;
    bool by_folder, json, kohya;
    long top;
} tags_args;

static void tags_help(void)
{
    printf("usage: tagbench tags DIR [--sort count|name] [--by-folder] [--kohya] [--top N] [--json]\n"
           "                         [--caption_extension EXT]\n\n"
           "Tag occurrence: for each tag, the number of images that carry it.\n"
           "  --sort count|name   by count, most frequent first (default), or by name\n"
           "  --by-folder         one table per folder (kohya N_name folders: per concept)\n"
           "  --kohya             with --by-folder: count exactly as sd-scripts' ss_tag_frequency\n"
           "                      (N_name folders only, lower-cased, every occurrence, class tokens\n"
           "                      for images without a caption)\n"
           "  --top N             only the N first rows (per folder)\n"
           "  --json              [{\"tag\": ..., \"count\": N}, ...]; with --by-folder\n"
           "                      {\"10_name\": {\"tag\": N}} (the shape of ss_tag_frequency)\n"
           "  --caption_extension EXT   caption files end with EXT (default .txt)\n");
}

static int tags_parse(int argc, char **argv, tags_args *a)
{
    memset(a, 0, sizeof *a);
    a->top = -1;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v = NULL;
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            tags_help();
            exit(EXIT_OK);
        } else if (cli_opt("tags", &i, argc, argv, "--sort", &v, &bad)) {
            if (!bad && strcmp(v, "count") && strcmp(v, "name"))
                return cli_usage_error("tags", "--sort takes count or name, not \"%s\"", v);
            a->sort = v && !strcmp(v, "name") ? OCC_BY_NAME : OCC_BY_COUNT;
        } else if (cli_opt("tags", &i, argc, argv, "--top", &v, &bad)) {
            char *end;
            a->top = v ? strtol(v, &end, 10) : 0;
            if (!bad && (!*v || *end || a->top < 0))
                return cli_usage_error("tags", "--top takes a count, not \"%s\"", v);
        } else if (cli_caption_ext("tags", &i, argc, argv, &a->ext, &bad)) {
        } else if (cli_flag(argv[i], "--by-folder")) {
            a->by_folder = true;
        } else if (cli_flag(argv[i], "--json")) {
            a->json = true;
        } else if (cli_flag(argv[i], "--kohya")) {
            a->kohya = true;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("tags", "unknown option %s", argv[i]);
        } else if (a->dir) {
            return cli_usage_error("tags", "one DIR only (got \"%s\" and \"%s\")", a->dir, argv[i]);
        } else {
            a->dir = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (!a->dir)
        return cli_usage_error("tags", "missing DIR");
    if (a->kohya && !a->by_folder)
        return cli_usage_error("tags", "--kohya goes with --by-folder");
    return EXIT_OK;
}

static void table_print(const dataset *ds, const occ_entry *e, size_t n, size_t images, long top)
{
    printf("%7s %6s  %s\n", "images", "share", "tag");
    for (size_t k = 0; k < n && (top < 0 || (long)k < top); k++) {
        printf("%7u %5.1f%%  ", e[k].count, images ? 100.0 * e[k].count / images : 0.0);
        cli_put(stdout, dataset_tag_text(ds, e[k].tag));
        putchar('\n');
    }
}

static int tags_json(const dataset *ds, const tags_args *a)
{
    cJSON *out;
    if (a->by_folder) {
        out = occurrence_by_folder(ds, a->kohya, a->sort);
        for (cJSON *f = out ? out->child : NULL; f && a->top >= 0; f = f->next)
            while (cJSON_GetArraySize(f) > a->top) /* tags are in --sort order */
                cJSON_DeleteItemFromArray(f, a->top);
    } else {
        size_t n;
        occ_entry *e = occurrence_list(ds, OCC_ALL_FOLDERS, a->sort, &n);
        out = e ? cJSON_CreateArray() : NULL;
        for (size_t k = 0; out && k < n && (a->top < 0 || (long)k < a->top); k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "tag", dataset_tag_text(ds, e[k].tag));
            cJSON_AddNumberToObject(o, "count", e[k].count);
            cJSON_AddItemToArray(out, o);
        }
        free(e);
    }
    char *s = out ? cJSON_Print(out) : NULL;
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(out);
    return s ? EXIT_OK : EXIT_FAIL;
}

static int tags_text(const dataset *ds, const tags_args *a)
{
    if (a->kohya) /* kohya's counts are per occurrence of lower-cased text: show them as JSON does */
        return tags_json(ds, a);
    bool first = true;
    for (uint32_t f = 0; f < (a->by_folder ? ds->n_folders : 1); f++) {
        const ds_folder *fd = &ds->folders[f];
        if (a->by_folder && !fd->n_items)
            continue;
        size_t n;
        occ_entry *e = occurrence_list(ds, a->by_folder ? f : OCC_ALL_FOLDERS, a->sort, &n);
        if (!e)
            return EXIT_FAIL;
        if (a->by_folder) {
            printf("%s", first ? "" : "\n");
            first = false;
            cli_put(stdout, *fd->rel ? fd->rel : ".");
            if (fd->repeats) {
                printf("  (%d repeats, class \"", fd->repeats);
                cli_put(stdout, fd->class_tokens);
                printf("\")");
            }
            printf("  %u images\n", fd->n_items);
        }
        table_print(ds, e, n, a->by_folder ? fd->n_items : ds->n_items, a->top);
        free(e);
    }
    return EXIT_OK;
}

int cmd_tags(int argc, char **argv)
{
    tags_args a;
    int rc = tags_parse(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    dataset *ds = cli_open("tags", a.dir, a.ext);
    if (!ds)
        return EXIT_FAIL;
    rc = a.json ? tags_json(ds, &a) : tags_text(ds, &a);
    dataset_close(ds);
    return rc;
}
