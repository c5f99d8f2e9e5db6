/* Tag completion: the order suggestions come in, aliases, the dataset's style for CSV tags, the
 * exclude list, case- and underscore-blind matching, suggestions following edits, and how tag CSVs
 * are read (errors with file:line, skipped rows, BOM, CRLF, quotes, header lines). The last test
 * times queries on a dataset of 20,000 tags and a CSV of 150,000 rows and prints a NOTE. */
#include "tui/complete.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tagger/edit.h"
#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"

static const char *small_csv =
    "hair_ornament,0,500,\n"
    "hair_ribbon,0,400,\"ribbon_hair\"\n"
    "long_hair,0,9000,\"longhair,long_hairs\"\n"
    "short_hair,0,8000,\n"
    "hairband,0,300,\n"
    "chair,0,100,\n"
    "armchair,0,50,\n"
    "hat,0,7000,\n"
    "o_o,3,20,\n"
    "red ribbon,0,60,\n"
    "hatsune_miku,4,90000,\"miku\"\n";

/* A dataset from `captions` (one caption per image, NULL-terminated), and a completer over it and
 * the CSV text (NULL: none). */
static dataset *world_open(char **root, const char *const *captions, const char *csv, completer **c)
{
    *root = fixture_make();
    char name[64];
    for (size_t i = 0; captions[i]; i++) {
        snprintf(name, sizeof name, "%03zu.png", i);
        fixture_write(*root, name, PNG);
        snprintf(name, sizeof name, "%03zu.txt", i);
        fixture_write(*root, name, captions[i]);
    }
    if (csv)
        fixture_write(*root, "tags.csv", csv);
    dataset *ds = fixture_open(*root, NULL);
    char *csv_path = csv ? fixture_path(*root, "tags.csv") : NULL;
    tg_error err = {{0}};
    *c = ds ? completer_new(ds, csv_path, &err) : NULL;
    if (ds && !*c)
        fprintf(stderr, "    completer_new: %s\n", err.msg);
    CHECK(*c != NULL);
    free(csv_path);
    return ds;
}

static void world_close(char *root, dataset *ds, completer *c)
{
    completer_free(c);
    dataset_close(ds);
    fixture_remove(root);
}

/* The suggestions for typed joined by " | " (for CHECK_STR). */
static const char *suggest(completer *c, const char *typed, const char *const *x, size_t nx, char *buf,
                           size_t size)
{
    completion out[16];
    size_t n = c ? completer_query(c, typed, x, nx, out, 16) : 0, used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " | " : "", out[i].text);
    return buf;
}

/* The completion for typed whose text is text, or NULL. */
static const completion *find(completer *c, const char *typed, const char *text, completion *out, size_t max)
{
    size_t n = completer_query(c, typed, NULL, 0, out, max);
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].text, text) == 0)
            return &out[i];
    return NULL;
}

static const char *const three[] = {"long hair, smile, hat", "long hair, smile",
                                    "long hair, chair, hair ornament", NULL};

static void test_ranking(void)
{
    char *root, buf[1024];
    completer *c;
    dataset *ds = world_open(&root, three, small_csv, &c);
    /* dataset prefix, dataset word; CSV prefix by posts, CSV word (long_hair is the dataset's
     * "long hair", hair_ornament its "hair ornament"); dataset substring; CSV substring */
    CHECK_STR(suggest(c, "hair", NULL, 0, buf, sizeof buf),
              "hair ornament | long hair | hair ribbon | hairband | short hair | chair | armchair");
    completion out[16];
    const completion *k = c ? find(c, "hair", "long hair", out, 16) : NULL;
    CHECK(k != NULL);
    if (k) {
        CHECK_INT(k->count, 3);
        CHECK_INT(k->csv_count, 9000);
        CHECK_INT(k->csv_type, 0);
        CHECK(k->alias_of_typed == NULL);
    }
    k = c ? find(c, "hair", "hairband", out, 16) : NULL;
    CHECK(k && k->count == 0 && k->csv_count == 300);
    k = c ? find(c, "mi", "hatsune miku", out, 16) : NULL; /* via its alias "miku" */
    CHECK(k && k->csv_type == 4 && k->csv_count == 90000);
    /* more images first among dataset tags, and the list stops at max */
    completion two[2];
    CHECK_INT(c ? completer_query(c, "h", NULL, 0, two, 2) : 0, 2);
    CHECK_STR(two[0].text, "hair ornament"); /* equal counts: by name */
    CHECK_STR(two[1].text, "hat");
    /* nothing typed: the dataset's most common tags */
    CHECK_STR(suggest(c, "", NULL, 0, buf, sizeof buf), "long hair | smile | chair | hair ornament | hat");
    CHECK_STR(suggest(c, "  ", NULL, 0, buf, sizeof buf), "long hair | smile | chair | hair ornament | hat");
    world_close(root, ds, c);
}

static void test_alias(void)
{
    char *root, buf[1024];
    completer *c;
    dataset *ds = world_open(&root, three, small_csv, &c);
    completion out[16];
    size_t n = c ? completer_query(c, "longh", NULL, 0, out, 16) : 0;
    CHECK_INT(n, 1); /* the alias leads to the dataset's own spelling, once */
    if (n) {
        CHECK_STR(out[0].text, "long hair");
        CHECK_STR(out[0].alias_of_typed, "longhair");
        CHECK_INT(out[0].count, 3);
    }
    n = c ? completer_query(c, "ribbon_h", NULL, 0, out, 16) : 0;
    CHECK_INT(n, 1);
    if (n) {
        CHECK_STR(out[0].text, "hair ribbon");
        CHECK_STR(out[0].alias_of_typed, "ribbon_hair");
        CHECK_INT(out[0].count, 0);
        CHECK_INT(out[0].csv_count, 400);
    }
    /* a direct prefix match beats the same tag's alias */
    CHECK_STR(suggest(c, "long", NULL, 0, buf, sizeof buf), "long hair");
    n = c ? completer_query(c, "long", NULL, 0, out, 16) : 0;
    CHECK(n == 1 && out[0].alias_of_typed == NULL);
    world_close(root, ds, c);
}

static void test_style(void)
{
    char *root, buf[1024];
    completer *c;
    /* underscores: two multi-word tags against one; ^_^ and the 3-letter x_y do not count */
    static const char *const under[] = {"long_hair, blue_eyes, ^_^", "red eyes, x_y", NULL};
    dataset *ds = world_open(&root, under, small_csv, &c);
    CHECK_INT(c ? completer_style(c) : -1, TAG_STYLE_UNDERSCORES);
    CHECK_STR(suggest(c, "hair r", NULL, 0, buf, sizeof buf), "hair_ribbon");
    CHECK_STR(suggest(c, "red r", NULL, 0, buf, sizeof buf), "red_ribbon");
    CHECK_STR(suggest(c, "o o", NULL, 0, buf, sizeof buf), "o_o");
    CHECK_STR(suggest(c, "long", NULL, 0, buf, sizeof buf), "long_hair");
    world_close(root, ds, c);

    static const char *const spaced[] = {"long hair, blue_eyes", "red eyes, ^_^", NULL};
    ds = world_open(&root, spaced, small_csv, &c);
    CHECK_INT(c ? completer_style(c) : -1, TAG_STYLE_SPACES);
    CHECK_STR(suggest(c, "hair r", NULL, 0, buf, sizeof buf), "hair ribbon");
    CHECK_STR(suggest(c, "red r", NULL, 0, buf, sizeof buf), "red ribbon");
    CHECK_STR(suggest(c, "o_o", NULL, 0, buf, sizeof buf), "o_o");
    /* the dataset's own spelling, never the CSV's second one */
    CHECK_STR(suggest(c, "blue", NULL, 0, buf, sizeof buf), "blue_eyes");
    world_close(root, ds, c);

    static const char *const plain[] = {"solo, smile", NULL}; /* no multi-word tag: spaces */
    ds = world_open(&root, plain, small_csv, &c);
    CHECK_INT(c ? completer_style(c) : -1, TAG_STYLE_SPACES);
    CHECK_STR(suggest(c, "short", NULL, 0, buf, sizeof buf), "short hair");
    world_close(root, ds, c);
}

static void test_exclude_and_folding(void)
{
    char *root, buf[1024];
    completer *c;
    dataset *ds = world_open(&root, three, small_csv, &c);
    static const char *const x[] = {" Long_Hair", "hair ribbon", NULL};
    CHECK_STR(suggest(c, "hair", x, 3, buf, sizeof buf),
              "hair ornament | hairband | short hair | chair | armchair");
    CHECK_STR(suggest(c, "", x, 3, buf, sizeof buf), "smile | chair | hair ornament | hat");
    CHECK_STR(suggest(c, "LONG_H", NULL, 0, buf, sizeof buf), "long hair");
    CHECK_STR(suggest(c, "Hair Rib", NULL, 0, buf, sizeof buf), "hair ribbon");
    CHECK_STR(suggest(c, "HAIR_O", NULL, 0, buf, sizeof buf), "hair ornament");
    CHECK_STR(suggest(c, "hair\x1b[2J", NULL, 0, buf, sizeof buf), ""); /* control characters */
    CHECK_STR(suggest(c, "zzz", NULL, 0, buf, sizeof buf), "");
    /* one character found only inside CSV tags: by post count */
    CHECK_STR(suggest(c, "b", NULL, 0, buf, sizeof buf), "hair ribbon | hairband | red ribbon");
    completion out[4];
    CHECK_INT(c ? completer_query(c, "ha", NULL, 0, out, 0) : 1, 0);
    CHECK_INT(c ? completer_query(c, NULL, NULL, 0, out, 4) : 1, 0);
    world_close(root, ds, c);

    /* an empty CSV and an empty dataset are fine */
    static const char *const none[] = {"", NULL};
    ds = world_open(&root, none, "", &c);
    CHECK_STR(suggest(c, "ha", NULL, 0, buf, sizeof buf), "");
    CHECK_STR(suggest(c, "h", NULL, 0, buf, sizeof buf), "");
    CHECK_STR(suggest(c, "", NULL, 0, buf, sizeof buf), "");
    CHECK_INT(completer_csv(c).tags, 0);
    world_close(root, ds, c);
}

static void test_follows_edits(void)
{
    char *root, buf[1024];
    completer *c;
    dataset *ds = world_open(&root, three, NULL, &c); /* no CSV */
    CHECK_STR(suggest(c, "ha", NULL, 0, buf, sizeof buf), "hair ornament | hat | long hair | chair");
    ds_edit(ds, "000.png", EDIT_REMOVE, "hat", NULL);
    CHECK_INT(ds_occ(ds, "hat"), 0);
    CHECK_STR(suggest(c, "ha", NULL, 0, buf, sizeof buf), "hair ornament | long hair | chair");
    ds_edit(ds, "001.png", EDIT_ADD, "hatband", NULL);
    ds_edit(ds, "002.png", EDIT_RENAME, "chair", "armchair");
    CHECK_STR(suggest(c, "ha", NULL, 0, buf, sizeof buf), "hair ornament | hatband | long hair | armchair");
    tg_error err = {{0}};
    CHECK_INT(dataset_undo(ds, &err), 1);
    CHECK_STR(suggest(c, "ha", NULL, 0, buf, sizeof buf), "hair ornament | hatband | long hair | chair");
    world_close(root, ds, c);

    /* with a CSV, a removed tag comes back as the CSV's (count 0), in the dataset's style */
    ds = world_open(&root, three, small_csv, &c);
    ds_edit(ds, "000.png", EDIT_REMOVE, "hat", NULL);
    completion out[16];
    const completion *k = c ? find(c, "hat", "hat", out, 16) : NULL;
    CHECK(k && k->count == 0 && k->csv_count == 7000);
    ds_edit(ds, "000.png", EDIT_ADD, "hatsune miku", NULL);
    k = c ? find(c, "hats", "hatsune miku", out, 16) : NULL;
    CHECK(k && k->count == 1 && k->csv_count == 90000);
    CHECK_STR(suggest(c, "hats", NULL, 0, buf, sizeof buf), "hatsune miku");
    world_close(root, ds, c);
}

/* ---- reading CSVs ---- */

/* tag_csv_read on text written to a file; the error message into err. */
static tag_csv *csv_from(const char *text, size_t len, char *root_out[1], tg_error *err)
{
    *root_out = fixture_make();
    fixture_write_bytes(*root_out, "t.csv", text, len);
    char *path = fixture_path(*root_out, "t.csv");
    tag_csv *t = tag_csv_read(path, err);
    free(path);
    return t;
}

/* The error reading text, after the path: ":3: empty tag name". */
static const char *csv_error(const char *text, char *buf, size_t size)
{
    char *root;
    tg_error err = {{0}};
    tag_csv *t = csv_from(text, strlen(text), &root, &err);
    CHECK(t == NULL);
    tag_csv_free(t);
    const char *at = strstr(err.msg, "t.csv");
    snprintf(buf, size, "%s", at ? at + 5 : err.msg);
    fixture_remove(root);
    return buf;
}

static void test_csv_errors(void)
{
    char buf[1024];
#define NOT_A_COUNT " is not a number (0..4294967295)"
    CHECK_STR(csv_error("a,0,1,\nb,0,12x,\n", buf, sizeof buf), ":2: count '12x'" NOT_A_COUNT);
    CHECK_STR(csv_error("a,0,99999999999,\n", buf, sizeof buf), ":1: count '99999999999'" NOT_A_COUNT);
    CHECK_STR(csv_error("a,general,1,\n", buf, sizeof buf), ":1: type 'general' is not a number");
    CHECK_STR(csv_error("a,0,1\n\n,0,1\n", buf, sizeof buf), ":3: empty tag name");
    CHECK_STR(csv_error("a,0,1,\"x,y\n", buf, sizeof buf), ":1: unterminated quoted field");
    CHECK_STR(csv_error("\"a\"b,0,1\n", buf, sizeof buf), ":1: text after a closing quote");
    CHECK_STR(csv_error("a,0,\x1b[31m\n", buf, sizeof buf), ":1: count '?[31m'" NOT_A_COUNT);
    tg_error err = {{0}};
    CHECK(tag_csv_read("/nonexistent/tags.csv", &err) == NULL);
    CHECK(strstr(err.msg, "/nonexistent/tags.csv: ") != NULL);
    /* the completer passes the error on */
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "bad.csv", "x,0,1\ny,0,no\n");
    dataset *ds = fixture_open(root, NULL);
    char *path = fixture_path(root, "bad.csv");
    completer *c = ds ? completer_new(ds, path, &err) : NULL;
    CHECK(c == NULL);
    CHECK(strstr(err.msg, "bad.csv:2: count 'no'") != NULL);
    completer_free(c);
    free(path);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_csv_format(void)
{
    static const char text[] =
        "\xef\xbb\xbf" "foo_bar,0,10,\"a,b\"\r\n"
        "\"quoted \"\"x\"\", too\",1,5,\r\n"   /* a comma in the name: skipped */
        "\"say \"\"hi\"\"\",1,5,\r\n"
        "\r\n"
        "plain, 3 ,7,, extra,\"more,cols\"\r\n"
        "nocount\r\n"
        "Foo Bar,0,20,\"c\"\r\n"              /* the same tag as foo_bar: one entry, count 20 */
        "last,5,1,\" d , ,bad\x01\"";          /* no final newline; a bad alias is dropped */
    char *root;
    tg_error err = {{0}};
    tag_csv *t = csv_from(text, sizeof text - 1, &root, &err);
    CHECK(t != NULL);
    if (!t)
        fprintf(stderr, "    %s\n", err.msg);
    if (t) {
        CHECK_INT(t->n, 5);
        CHECK_INT(t->rows, 7);
        CHECK_INT(t->skipped, 1);
        CHECK_STR(t->first_skip, "line 2: comma in the name");
        uint32_t e = tag_csv_find(t, "foo bar", 7);
        CHECK(e != TAG_CSV_NONE);
        if (e != TAG_CSV_NONE) {
            CHECK_STR(t->entries[e].name, "Foo Bar");
            CHECK_INT(t->entries[e].count, 20);
            CHECK_INT(e, 0); /* most posts first */
        }
        e = tag_csv_find(t, "say \"hi\"", 8);
        CHECK(e != TAG_CSV_NONE && t->entries[e].type == 1 && t->entries[e].count == 5);
        e = tag_csv_find(t, "plain", 5);
        CHECK(e != TAG_CSV_NONE && t->entries[e].type == 3 && t->entries[e].count == 7);
        e = tag_csv_find(t, "nocount", 7);
        CHECK(e != TAG_CSV_NONE && t->entries[e].type == -1 && t->entries[e].count == 0);
        CHECK(tag_csv_find(t, "foo", 3) == TAG_CSV_NONE);
        CHECK_INT(t->n_aliases, 4); /* a, b, c (all foo bar's) and d */
        size_t first, n = tag_csv_prefix(t->aliases, t->n_aliases, "d", 1, &first);
        CHECK_INT(n, 1);
        if (n) {
            CHECK_STR(t->aliases[first].text, "d");
            CHECK_STR(t->entries[t->aliases[first].entry].name, "last");
        }
        n = tag_csv_prefix(t->aliases, t->n_aliases, "a", 1, &first);
        CHECK(n == 1 && strcmp(t->entries[t->aliases[first].entry].name, "Foo Bar") == 0);
    }
    tag_csv_free(t);
    fixture_remove(root);
}

static void test_csv_skipped_rows(void)
{
    static const char text[] = "good,0,1,\n"
                               "\xff\xfe,0,1,\n"       /* invalid UTF-8 */
                               "bad\x1b" "b,0,1,\n"     /* ESC */
                               "\"a,b\",0,1,\n"         /* a comma */
                               "c\xc2\x85,0,1,\n"       /* C1 control NEL */
                               "fine,0,2,\n";
    char *root;
    tg_error err = {{0}};
    tag_csv *t = csv_from(text, sizeof text - 1, &root, &err);
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->n, 2);
        CHECK_INT(t->rows, 6);
        CHECK_INT(t->skipped, 4);
        CHECK_STR(t->first_skip, "line 2: invalid UTF-8");
    }
    tag_csv_free(t);
    fixture_remove(root);
    /* and the completer shows it */
    root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write_bytes(root, "tags.csv", text, sizeof text - 1);
    dataset *ds = fixture_open(root, NULL);
    char *path = fixture_path(root, "tags.csv");
    completer *c = ds ? completer_new(ds, path, &err) : NULL;
    completer_csv_info info = completer_csv(c);
    CHECK_INT(info.tags, 2);
    CHECK_INT(info.rows, 6);
    CHECK_INT(info.skipped, 4);
    CHECK_STR(info.first_skip, "line 2: invalid UTF-8");
    completer_free(c);
    free(path);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_csv_header(void)
{
    /* WD tagger's selected_tags.csv names its columns */
    static const char text[] = "tag_id,name,category,count\n9999,blue_sky,0,77\n1,1girl,0,5\n";
    char *root;
    tg_error err = {{0}};
    tag_csv *t = csv_from(text, sizeof text - 1, &root, &err);
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(t->n, 2);
        CHECK_STR(t->entries[0].name, "blue_sky");
        CHECK_INT(t->entries[0].count, 77);
        CHECK_INT(t->entries[0].type, 0);
    }
    tag_csv_free(t);
    fixture_remove(root);
    /* a first row that is data stays data */
    t = csv_from("name,0,3,\n", 10, &root, &err);
    CHECK(t && t->n == 1 && strcmp(t->entries[0].name, "name") == 0);
    tag_csv_free(t);
    fixture_remove(root);
}

/* ---- speed ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* A tag-like name of 1-3 words of 2-4 syllables. */
static int name_make(uint64_t *s, char *buf, size_t size, char sep)
{
    static const char *syl[] = {"ka", "ri", "to", "ne", "ha", "ir", "lo", "ng", "sh", "or", "bl", "ue",
                                "ey", "es", "mi", "ku", "sa", "ta", "in", "g", "er", "on", "ch", "ai",
                                "be", "ll", "ow", "st", "ar", "re", "d", "um"};
    int n = 0, words = 1 + (int)(rng_next(s) % 3);
    for (int w = 0; w < words; w++) {
        if (w)
            n += snprintf(buf + n, size - (size_t)n, "%c", sep);
        for (int k = 2 + (int)(rng_next(s) % 3); k > 0; k--)
            n += snprintf(buf + n, size - (size_t)n, "%s", syl[rng_next(s) % 32]);
    }
    return n;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void big_world_write(const char *root)
{
    uint64_t s = 88172645463325252ULL;
    char name[64], *buf = malloc(1 << 24);
    if (!buf)
        return;
    /* 200 images x 100 tags: about 20,000 distinct tags, written with spaces */
    for (int img = 0; img < 200; img++) {
        size_t n = 0;
        for (int k = 0; k < 100; k++) {
            n += (size_t)snprintf(buf + n, 64, "%s", k ? ", " : "");
            n += (size_t)name_make(&s, buf + n, 64, ' ');
        }
        snprintf(name, sizeof name, "img/%03d.png", img);
        fixture_write(root, name, PNG);
        snprintf(name, sizeof name, "img/%03d.txt", img);
        fixture_write_bytes(root, name, buf, n);
    }
    /* 170,000 rows (about 150,000 distinct tags), a third with two aliases, counts falling off
     * like a booru's */
    size_t n = 0;
    for (int r = 0; r < 170000; r++) {
        n += (size_t)name_make(&s, buf + n, 64, '_');
        n += (size_t)snprintf(buf + n, 64, ",%d,%u,", (int)(rng_next(&s) % 6), (unsigned)(5000000 / (r + 1)));
        if (r % 3 == 0) {
            buf[n++] = '"';
            n += (size_t)name_make(&s, buf + n, 64, '_');
            buf[n++] = ',';
            n += (size_t)name_make(&s, buf + n, 64, '_');
            buf[n++] = '"';
        }
        buf[n++] = '\n';
    }
    fixture_write_bytes(root, "danbooru.csv", buf, n);
    free(buf);
}

static void test_speed_note(void)
{
    char *root = fixture_make();
    big_world_write(root);
    char *img = fixture_path(root, "img"), *csv = fixture_path(root, "danbooru.csv");
    dataset *ds = fixture_open(img, NULL);
    tg_error err = {{0}};
    double t0 = now_ms();
    completer *c = ds ? completer_new(ds, csv, &err) : NULL;
    double load = now_ms() - t0;
    CHECK(c != NULL);
    static const char *typed[] = {"a", "k", "ha", "ir", "ng", "kari", "lo ng", "ue_e", "ing", "chai",
                                  "xq", "zzzz", "ri to", "shorbl", "tone ha", "g", "mikusata"};
    const char *exclude[100];
    for (int k = 0; ds && k < 100 && k < (int)ds->items[0].n_tags; k++)
        exclude[k] = dataset_tag(ds, &ds->items[0], (uint32_t)k);
    double worst = 0, total = 0;
    const char *worst_typed = "";
    int queries = 0;
    completion out[20];
    for (int rep = 0; c && rep < 5; rep++) {
        for (size_t q = 0; q < sizeof typed / sizeof *typed; q++) {
            double q0 = now_ms();
            size_t n = completer_query(c, typed[q], exclude, 100, out, 20);
            double ms = now_ms() - q0;
            if (rep == 0 && getenv("COMPLETE_VERBOSE"))
                printf("  '%s': %zu, %.3f ms\n", typed[q], n, ms);
            total += ms, queries++;
            if (ms > worst)
                worst = ms, worst_typed = typed[q];
        }
    }
    if (c)
        printf("NOTE complete: %u dataset tags, %u CSV tags (%u aliases): load %.0f ms, "
               "query mean %.3f ms, worst %.3f ms ('%s'), max 20\n",
               ds->tags.n, (unsigned)completer_csv(c).tags,
               (unsigned)completer_csv(c).aliases, load, total / queries, worst, worst_typed);
    completer_free(c);
    dataset_close(ds);
    free(img);
    free(csv);
    fixture_remove(root);
}

int main(void)
{
    RUN(test_ranking);
    RUN(test_alias);
    RUN(test_style);
    RUN(test_exclude_and_folding);
    RUN(test_follows_edits);
    RUN(test_csv_errors);
    RUN(test_csv_format);
    RUN(test_csv_skipped_rows);
    RUN(test_csv_header);
    RUN(test_speed_note);
    return check_finish();
}
