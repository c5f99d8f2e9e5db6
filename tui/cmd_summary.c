/* tagbench summary DIR (and plain `tagbench DIR`): what is in a dataset, at a glance. */
#include <stdlib.h>
#include <string.h>

#include "tagger/bucket.h"
#include "tagger/journal.h"
#include "tagger/lint.h"
#include "tagger/occurrence.h"
#include "tui/cli.h"
#include "tui/commands.h"

static void summary_help(void)
{
    printf("usage: tagbench summary DIR [--top N] [--resolution N] [--caption_extension EXT]\n\n"
           "Images, captions, folders (kohya N_name repeats and class tokens), image sizes, the\n"
           "kohya buckets they fall in at --resolution (default 512), the most frequent tags and\n"
           "the counts of `tagbench check`. `tagbench DIR` does the same.\n");
}

static void folders_print(const dataset *ds)
{
    printf("\n%-28s %8s %8s  %s\n", "folder", "images", "repeats", "class tokens");
    for (size_t f = 0; f < ds->n_folders; f++) {
        const ds_folder *fd = &ds->folders[f];
        if (!fd->n_items)
            continue;
        char name[29];
        snprintf(name, sizeof name, "%s", *fd->rel ? fd->rel : ".");
        cli_put(stdout, name);
        printf("%*s %8u ", (int)(28 - strlen(name)), "", fd->n_items);
        if (fd->repeats) {
            printf("%8d  ", fd->repeats);
            cli_put(stdout, fd->class_tokens);
            printf("  (%llu steps/epoch at batch 1)", (unsigned long long)fd->n_items * fd->repeats);
        } else {
            printf("%8s  (not an N_name folder)", "-");
        }
        putchar('\n');
    }
}

/* Image sizes, most common first (headers only). */
typedef struct size_count {
    int w, h;
    size_t n;
} size_count;

static int size_cmp(const void *a, const void *b)
{
    const size_count *x = a, *y = b;
    return x->w != y->w ? (x->w > y->w) - (x->w < y->w) : (x->h > y->h) - (x->h < y->h);
}

static int count_cmp(const void *a, const void *b)
{
    const size_count *x = a, *y = b;
    return x->n != y->n ? (x->n < y->n) - (x->n > y->n) : size_cmp(a, b);
}

static void sizes_print(dataset *ds)
{
    size_count *sc = calloc(ds->n_items + 1, sizeof *sc);
    size_t n = 0, bad = 0, distinct = 0;
    for (size_t i = 0; sc && i < ds->n_items; i++) {
        if (dataset_probe(ds, i, NULL) < 0)
            bad++;
        else
            sc[n++] = (size_count){ds->items[i].w, ds->items[i].h, 1};
    }
    if (sc) /* sort by size, merge equal sizes, then order by how common they are */
        qsort(sc, n, sizeof *sc, size_cmp);
    for (size_t k = 0; k < n; k++) {
        if (distinct && size_cmp(&sc[distinct - 1], &sc[k]) == 0)
            sc[distinct - 1].n++;
        else
            sc[distinct++] = sc[k];
    }
    if (sc)
        qsort(sc, distinct, sizeof *sc, count_cmp);
    printf("\nimage sizes:");
    for (size_t k = 0; k < distinct && k < 8; k++)
        printf(" %dx%d (%zu)", sc[k].w, sc[k].h, sc[k].n);
    printf("%s", distinct > 8 ? " ..." : "");
    if (bad)
        printf(" unreadable (%zu)", bad);
    putchar('\n');
    free(sc);
}

/* Where kohya's bucketing (enable_bucket, default sizes) would put the images, counted with
 * repeats as ss_bucket_info counts them. */
static void buckets_print(dataset *ds, int resolution)
{
    bucket_opts o;
    bucket_opts_default(&o, resolution);
    bucket_list bl;
    tg_error err;
    if (bucket_list_make(&bl, &o, &err) < 0) {
        cli_error("summary", err.msg);
        return;
    }
    size_t *count = calloc(bl.n + 1, sizeof *count), upscaled = 0;
    for (size_t i = 0; count && i < ds->n_items; i++) {
        const ds_item *it = &ds->items[i];
        if (it->w <= 0)
            continue;
        bucket_fit fit = bucket_select(&bl, it->w, it->h);
        for (size_t b = 0; b < bl.n; b++)
            if (bl.resos[b].w == fit.bucket.w && bl.resos[b].h == fit.bucket.h)
                count[b] += ds->folders[it->folder].repeats ? (size_t)ds->folders[it->folder].repeats : 1;
        upscaled += fit.resized.w > it->w;
    }
    printf("kohya buckets at %d (enable_bucket, 256..1024, step 64; counts with repeats):", resolution);
    for (size_t b = 0; count && b < bl.n; b++)
        if (count[b])
            printf(" %dx%d (%zu)", bl.resos[b].w, bl.resos[b].h, count[b]);
    putchar('\n');
    if (upscaled)
        printf("%zu image(s) smaller than their bucket are upscaled\n", upscaled);
    free(count);
    bucket_list_free(&bl);
}

static void top_tags_print(const dataset *ds, long top)
{
    size_t n;
    occ_entry *e = occurrence_list(ds, OCC_ALL_FOLDERS, OCC_BY_COUNT, &n);
    printf("\n%zu distinct tags; most frequent:\n", n);
    for (size_t k = 0; e && k < n && (long)k < top; k++) {
        printf("%7u  ", e[k].count);
        cli_put(stdout, dataset_tag_text(ds, e[k].tag));
        putchar('\n');
    }
    free(e);
}

static void health_print(dataset *ds, const char *dir)
{
    lint_report rep;
    tg_error err;
    if (dataset_lint(ds, NULL, &rep, &err) == 0)
        printf("\ncheck: %zu error(s), %zu warning(s), %zu note(s)%s\n", rep.count[LINT_ERROR],
               rep.count[LINT_WARNING], rep.count[LINT_INFO], rep.n ? "  (tagbench check DIR)" : "");
    lint_report_free(&rep);
    long pending = dataset_journal_pending(ds, &err);
    if (pending > 0) {
        printf("unsaved edits of %ld caption(s) from an earlier session: tagbench recover ", pending);
        cli_put(stdout, dir);
        putchar('\n');
    }
}

int cmd_summary(int argc, char **argv)
{
    const char *dir = NULL, *ext = NULL, *v = NULL;
    long top = 10, resolution = 512;
    bool bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_flag(argv[i], "--help") || cli_flag(argv[i], "-h")) {
            summary_help();
            return EXIT_OK;
        } else if (cli_caption_ext("summary", &i, argc, argv, &ext, &bad)) {
        } else if (cli_opt("summary", &i, argc, argv, "--top", &v, &bad)) {
            char *end = NULL;
            top = v ? strtol(v, &end, 10) : top;
            if (!bad && (!*v || *end || top < 0))
                return cli_usage_error("summary", "--top takes a count, not \"%s\"", v);
        } else if (cli_opt("summary", &i, argc, argv, "--resolution", &v, &bad)) {
            char *end = NULL;
            resolution = v ? strtol(v, &end, 10) : resolution;
            if (!bad && (!*v || *end || resolution < 64 || resolution > 8192))
                return cli_usage_error("summary", "--resolution takes 64..8192, not \"%s\"", v);
        } else if (argv[i][0] == '-') {
            return cli_usage_error("summary", "unknown option %s", argv[i]);
        } else if (dir) {
            return cli_usage_error("summary", "one DIR only (got \"%s\" and \"%s\")", dir, argv[i]);
        } else {
            dir = argv[i];
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (!dir)
        return cli_usage_error("summary", "missing DIR");
    dataset *ds = cli_open("summary", dir, ext);
    if (!ds)
        return EXIT_FAIL;
    size_t captioned = 0;
    for (size_t i = 0; i < ds->n_items; i++)
        captioned += ds->items[i].has_file;
    cli_put(stdout, dir);
    printf(": %zu images, %zu with a %s caption\n", ds->n_items, captioned, ds->caption_ext);
    folders_print(ds);
    sizes_print(ds);
    buckets_print(ds, (int)resolution);
    top_tags_print(ds, top);
    health_print(ds, dir);
    dataset_close(ds);
    return EXIT_OK;
}
