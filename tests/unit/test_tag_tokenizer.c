/* The tiny model's tag tokenizer: vocabulary from a dataset's occurrence (count, then name), ids
 * of captions as the caption pipeline writes them, and the vocabulary file. */
#include "trainer/tag_tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"

/* red: 3 images, circle: 2, blue: 2, square: 1, Red: 1, big_dog: 1. */
static char *dataset_make(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "red, circle\n");
    fixture_write(root, "b.png", PNG);
    fixture_write(root, "b.txt", "blue,  red , circle, red");
    fixture_write(root, "5_things/c.png", PNG);
    fixture_write(root, "5_things/c.txt", "\xef\xbb\xbfsquare, blue, red\r\n");
    fixture_write(root, "5_things/d.png", PNG);
    fixture_write(root, "5_things/d.txt", "Red, big_dog");
    fixture_write(root, "e.png", PNG); /* no caption */
    return root;
}

static void check_ids(const int32_t *ids, const int32_t *want, int n)
{
    for (int i = 0; i < n; i++)
        CHECK_INT(ids[i], want[i]);
}

static void test_vocabulary_from_dataset(void)
{
    char *root = dataset_make();
    dataset *ds = fixture_open(root, NULL);
    tg_error err = {{0}};
    tag_tokenizer *t = ds ? tag_tokenizer_from_dataset(ds, 1, &err) : NULL;
    CHECK(t != NULL);
    if (t) {
        /* by count, then by name in byte order ("Red" < "big_dog" < "square") */
        CHECK_INT(tag_count(t), 6);
        CHECK_INT(tag_vocab_size(t), 10 + TAG_NEW_IDS);
        CHECK_STR(tag_token_text(t, 0), "<pad>");
        CHECK_STR(tag_token_text(t, 1), "<bos>");
        CHECK_STR(tag_token_text(t, 2), "<eos>");
        CHECK_STR(tag_token_text(t, 3), "<unk>");
        CHECK_STR(tag_token_text(t, 4), "red");
        CHECK_STR(tag_token_text(t, 5), "blue");
        CHECK_STR(tag_token_text(t, 6), "circle");
        CHECK_STR(tag_token_text(t, 7), "Red");
        CHECK_STR(tag_token_text(t, 8), "big_dog");
        CHECK_STR(tag_token_text(t, 9), "square");
        CHECK_STR(tag_token_text(t, 10), "<new00>");
        CHECK_STR(tag_token_text(t, 10 + TAG_NEW_IDS - 1), "<new77>");
        CHECK(tag_token_text(t, 10 + TAG_NEW_IDS) == NULL);
        CHECK(tag_token_text(t, -1) == NULL);
        CHECK_INT(tag_token_id(t, "circle", 6), 6);
        /* a tag outside the vocabulary: a new tag's id, stable, and two different ones differ
         * here (the hash spreads them over 64 ids) */
        int32_t a = tag_token_id(t, "circles", 7), b = tag_token_id(t, "big dog", 7);
        CHECK(a >= 10 && a < 10 + TAG_NEW_IDS);
        CHECK(b >= 10 && b < 10 + TAG_NEW_IDS); /* '_' and space are different tags */
        CHECK_INT(tag_token_id(t, "circles", 7), a);
        CHECK(a != b);
    }
    tag_tokenizer_free(t);
    /* min_count leaves out the rare ones */
    t = ds ? tag_tokenizer_from_dataset(ds, 2, &err) : NULL;
    CHECK(t != NULL);
    if (t) {
        CHECK_INT(tag_count(t), 3);
        CHECK_STR(tag_token_text(t, 6), "circle");
        CHECK(tag_token_id(t, "square", 6) >= 7);
    }
    tag_tokenizer_free(t);
    t = ds ? tag_tokenizer_from_dataset(ds, 100, &err) : NULL;
    CHECK(t != NULL);
    if (t)
        CHECK_INT(tag_vocab_size(t), 4 + TAG_NEW_IDS);
    tag_tokenizer_free(t);
    /* an edit changes the counts: "red" removed from two images, "circle" now leads */
    if (ds) {
        ds_edit(ds, "a.png", EDIT_REMOVE, "red", NULL);
        ds_edit(ds, "b.png", EDIT_REMOVE, "red", NULL);
        t = tag_tokenizer_from_dataset(ds, 2, &err);
        CHECK(t != NULL);
        if (t) {
            CHECK_INT(tag_count(t), 2);
            CHECK_STR(tag_token_text(t, 4), "blue");
            CHECK_STR(tag_token_text(t, 5), "circle");
        }
        tag_tokenizer_free(t);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_tokenize_captions(void)
{
    const char *tags[] = {"red", "blue", "circle", "big_dog", "long hair"};
    tg_error err = {{0}};
    tag_tokenizer *t = tag_tokenizer_from_tags(tags, 5, &err);
    CHECK(t != NULL);
    if (!t)
        return;
    int32_t ids[16];
    int n = -1;
    CHECK_INT(tag_tokenize(t, "red, circle, long hair", ids, 8, &n), 3);
    CHECK_INT(n, 5);
    check_ids(ids, (const int32_t[]){1, 4, 6, 8, 2, 0, 0, 0}, 8);
    /* stripping, empty tags, unknown ones, case as written, duplicates kept */
    CHECK_INT(tag_tokenize(t, "\xef\xbb\xbf  Red ,,blue,\tbig_dog\r\n, green, blue,", ids, 10, &n), 5);
    CHECK_INT(n, 7);
    int32_t red = tag_token_id(t, "Red", 3), green = tag_token_id(t, "green", 5);
    CHECK(red >= TAG_FIRST_ID + (int32_t)tag_count(t) && green >= TAG_FIRST_ID + (int32_t)tag_count(t));
    check_ids(ids, (const int32_t[]){1, red, 5, 7, green, 5, 2, 0, 0, 0}, 10);
    /* cut to max_len - 2, the count is still all of them */
    CHECK_INT(tag_tokenize(t, "red, blue, circle, big_dog, long hair", ids, 5, &n), 5);
    CHECK_INT(n, 5);
    check_ids(ids, (const int32_t[]){1, 4, 5, 6, 2}, 5);
    /* nothing at all */
    CHECK_INT(tag_tokenize(t, " , ,", ids, 4, &n), 0);
    CHECK_INT(n, 2);
    check_ids(ids, (const int32_t[]){1, 2, 0, 0}, 4);
    CHECK_INT(tag_tokenize(t, NULL, ids, 3, &n), 0);
    CHECK_INT(tag_tokenize(t, "red", ids, 2, NULL), 1);
    check_ids(ids, (const int32_t[]){1, 2}, 2);
    CHECK_INT(tag_tokenize(t, "red", ids, 1, &n), -1);
    tag_tokenizer_free(t);
}

static void test_bad_tag_lists(void)
{
    tg_error err = {{0}};
    const char *twice[] = {"red", "blue", "red"};
    CHECK(tag_tokenizer_from_tags(twice, 3, &err) == NULL);
    CHECK(strstr(err.msg, "tags[2]: \"red\" is listed twice (also tags[0])") != NULL);
    const char *comma[] = {"red", "a, b"};
    CHECK(tag_tokenizer_from_tags(comma, 2, &err) == NULL);
    CHECK(strstr(err.msg, "tags[1]: \"a, b\" contains a comma") != NULL);
    const char *space[] = {" red"};
    CHECK(tag_tokenizer_from_tags(space, 1, &err) == NULL);
    CHECK(strstr(err.msg, "begins or ends with whitespace") != NULL);
    const char *empty[] = {""};
    CHECK(tag_tokenizer_from_tags(empty, 1, &err) == NULL);
    CHECK(strstr(err.msg, "is empty") != NULL);
    tag_tokenizer *t = tag_tokenizer_from_tags(NULL, 0, &err);
    CHECK(t != NULL);
    if (t) {
        int32_t ids[4];
        CHECK_INT(tag_tokenize(t, "red, blue", ids, 4, NULL), 2);
        /* an empty vocabulary: every tag is new, its id right after the special ones */
        check_ids(ids, (const int32_t[]){1, tag_token_id(t, "red", 3), tag_token_id(t, "blue", 4), 2}, 4);
        CHECK(ids[1] >= TAG_FIRST_ID && ids[1] < TAG_FIRST_ID + TAG_NEW_IDS && ids[1] != ids[2]);
    }
    tag_tokenizer_free(t);
}

static void test_save_and_load(void)
{
    char *root = fixture_make();
    const char *tags[] = {"red", "blue \"sky\"", "caf\xc3\xa9", "back\\slash", "1girl"};
    tg_error err = {{0}};
    tag_tokenizer *t = tag_tokenizer_from_tags(tags, 5, &err);
    char *path = fixture_path(root, "vocab.json");
    CHECK(t && tag_tokenizer_save(t, path, &err) == 0);
    size_t len;
    char *text = fixture_read(root, "vocab.json", &len);
    CHECK(text && strstr(text, "\"version\":\t1") != NULL);
    CHECK(text && strstr(text, "\"blue \\\"sky\\\"\"") != NULL);
    free(text);
    CHECK_INT(fixture_count_named(root, ".tmp-"), 0);
    tag_tokenizer *u = tag_tokenizer_load(path, &err);
    CHECK(u != NULL);
    if (!u)
        fprintf(stderr, "    %s\n", err.msg);
    if (t && u) {
        CHECK_INT(tag_vocab_size(u), tag_vocab_size(t));
        for (int32_t id = 0; id < tag_vocab_size(t); id++)
            CHECK_STR(tag_token_text(u, id), tag_token_text(t, id));
        int32_t a[8], b[8];
        tag_tokenize(t, "1girl, caf\xc3\xa9, zebra", a, 8, NULL);
        tag_tokenize(u, "1girl, caf\xc3\xa9, zebra", b, 8, NULL);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK_INT(a[1], 8);
        CHECK_INT(a[2], 6);
        CHECK_INT(a[3], tag_token_id(t, "zebra", 5));
        CHECK(a[3] >= TAG_FIRST_ID + (int32_t)tag_count(t));
    }
    /* saving again replaces the file */
    const char *other[] = {"x"};
    tag_tokenizer *v = tag_tokenizer_from_tags(other, 1, &err);
    CHECK(v && tag_tokenizer_save(v, path, &err) == 0);
    tag_tokenizer *w = tag_tokenizer_load(path, &err);
    CHECK(w && tag_vocab_size(w) == 5 + TAG_NEW_IDS);
    tag_tokenizer_free(t);
    tag_tokenizer_free(u);
    tag_tokenizer_free(v);
    tag_tokenizer_free(w);
    free(path);
    fixture_remove(root);
}

static void load_fails(const char *root, const char *name, const char *content, const char *needle)
{
    tg_error err = {{0}};
    fixture_write(root, name, content);
    char *path = fixture_path(root, name);
    tag_tokenizer *t = tag_tokenizer_load(path, &err);
    CHECK(t == NULL);
    tag_tokenizer_free(t);
    CHECK(strstr(err.msg, needle) != NULL);
    if (!strstr(err.msg, needle))
        fprintf(stderr, "    message: %s\n", err.msg);
    free(path);
}

static void test_bad_files(void)
{
    char *root = fixture_make();
    load_fails(root, "json.json", "{\n \"version\": 1,\n \"tags\": [\"a\",]\n}\n", "json.json:3: not valid JSON");
    load_fails(root, "v2.json", "{\"version\": 2, \"tags\": []}", "v2.json: version: expected 1 (a newer");
    load_fails(root, "nov.json", "{\"tags\": []}", "nov.json: version: expected 1");
    load_fails(root, "arr.json", "[]", "arr.json: expected a JSON object");
    load_fails(root, "tags.json", "{\"version\": 1, \"tags\": {}}", "tags.json: tags: expected an array");
    load_fails(root, "num.json", "{\"version\": 1, \"tags\": [\"a\", 3]}", "num.json: tags[1]: expected a string");
    load_fails(root, "dup.json", "{\"version\": 1, \"tags\": [\"a\", \"b\", \"a\"]}",
               "dup.json: tags[2]: \"a\" is listed twice (also tags[0])");
    load_fails(root, "comma.json", "{\"version\": 1, \"tags\": [\"a,b\"]}", "comma.json: tags[0]: \"a,b\" contains a comma");
    tg_error err = {{0}};
    char *missing = fixture_path(root, "missing.json");
    CHECK(tag_tokenizer_load(missing, &err) == NULL);
    CHECK(strstr(err.msg, "missing.json: No such file") != NULL);
    free(missing);
    const char *tags[] = {"a"};
    tag_tokenizer *t = tag_tokenizer_from_tags(tags, 1, &err);
    char *nodir = fixture_path(root, "no/such/vocab.json");
    CHECK(t && tag_tokenizer_save(t, nodir, &err) == -1);
    CHECK(strstr(err.msg, "no/such/vocab.json: creating a temporary file beside it") != NULL);
    free(nodir);
    tag_tokenizer_free(t);
    fixture_remove(root);
}

/* A figure, never a failure: 100k captions of 25 tags. */
static void note_speed(void)
{
    enum { POOL = 5000, TAGS = 25, CAPTIONS = 100000 };
    char (*pool)[24] = malloc(sizeof *pool * POOL);
    const char **tags = malloc(sizeof *tags * POOL);
    for (int i = 0; i < POOL; i++) {
        snprintf(pool[i], sizeof pool[i], "tag number %d", i);
        tags[i] = pool[i];
    }
    tg_error err = {{0}};
    tag_tokenizer *t = tag_tokenizer_from_tags(tags, POOL - 500, &err); /* some unknown */
    char *captions = malloc((size_t)CAPTIONS * TAGS * 18);
    uint32_t seed = 7;
    size_t n = 0;
    for (int c = 0; c < CAPTIONS; c++) {
        for (int k = 0; k < TAGS; k++) {
            seed = seed * 1103515245 + 12345;
            n += (size_t)sprintf(captions + n, "%s%s", k ? ", " : "", pool[(seed >> 8) % POOL]);
        }
        captions[n++] = '\0';
    }
    int32_t ids[77];
    long unk = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t c = 0, off = 0; t && c < CAPTIONS; c++) {
        int got = tag_tokenize(t, captions + off, ids, 77, NULL);
        for (int i = 1; i <= got; i++)
            unk += ids[i] >= TAG_FIRST_ID + (int32_t)tag_count(t);
        off += strlen(captions + off) + 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("NOTE tag_tokenize: %d captions of %d tags (vocabulary %d, %.1f%% unknown) in %.3f s: %.2f us per "
           "caption\n", CAPTIONS, TAGS, POOL - 500, 100.0 * (double)unk / ((double)CAPTIONS * TAGS), s,
           s * 1e6 / CAPTIONS);
    tag_tokenizer_free(t);
    free(captions);
    free(tags);
    free(pool);
}

int main(void)
{
    RUN(test_vocabulary_from_dataset);
    RUN(test_tokenize_captions);
    RUN(test_bad_tag_lists);
    RUN(test_save_and_load);
    RUN(test_bad_files);
    RUN(note_speed);
    return check_finish();
}
