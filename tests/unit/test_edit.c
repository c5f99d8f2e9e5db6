/* Edit operations and their history: what each operation does to a caption's tags, on which
 * images (one, a selection, a filter result, all), how undo and redo restore tags, occurrence and
 * the dirty flag exactly, and which operations are refused before they run. */
#include "tagger/edit.h"

#include <stdlib.h>
#include <string.h>

#include "tagger/caption.h"
#include "tagger/filter.h"
#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"

/* A dataset of one image whose caption is text. */
static dataset *single_open(char **root, const char *text)
{
    *root = fixture_make();
    fixture_write(*root, "one.png", PNG);
    fixture_write(*root, "one.txt", text);
    return fixture_open(*root, NULL);
}

/* Four images over two kohya folders, and one whose caption cannot be read (it is a folder). */
static dataset *multi_open(char **root)
{
    *root = fixture_make();
    fixture_write(*root, "10_a/1.png", PNG);
    fixture_write(*root, "10_a/1.txt", "red, circle, big\n");
    fixture_write(*root, "10_a/2.png", PNG);
    fixture_write(*root, "10_a/2.txt", "blue, square\n");
    fixture_write(*root, "3_b/3.png", PNG);
    fixture_write(*root, "3_b/3.txt", "red, square, small\n");
    fixture_write(*root, "3_b/4.png", PNG);
    fixture_mkdir(*root, "3_b/4.txt");
    return fixture_open(*root, NULL);
}

/* Applies one operation to sel[0..n) (NULL: every item) as one step; returns dataset_apply's rc. */
static int apply_op(dataset *ds, edit_kind kind, const char *a, const char *b, int keep,
                    const uint32_t *sel, size_t n, edit_result *res)
{
    edit_op op;
    tg_error err = {{0}};
    int rc = edit_op_init(&op, kind, a, b, keep, &err);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        size_t n_all = 0;
        uint32_t *all = sel ? NULL : dataset_select_all(ds, &n_all);
        char label[128];
        snprintf(label, sizeof label, "%s %s", edit_kind_name(kind), a ? a : "");
        rc = dataset_apply(ds, &op, 1, sel ? sel : all, sel ? n : n_all, label, res, &err);
        CHECK_INT(rc, 0);
        if (rc)
            fprintf(stderr, "    dataset_apply: %s\n", err.msg);
        free(all);
    } else {
        fprintf(stderr, "    edit_op_init: %s\n", err.msg);
    }
    edit_op_free(&op);
    return rc;
}

/* Applies one operation to the first item and returns its tags joined (static buffer). */
static const char *edit_first(dataset *ds, edit_kind kind, const char *a, const char *b, int keep)
{
    static char buf[512];
    uint32_t sel = 0;
    if (!ds)
        return "(no dataset)";
    apply_op(ds, kind, a, b, keep, &sel, 1, NULL);
    return ds_tags(ds, 0, buf, sizeof buf);
}

/* Runs one operation on a fresh one-image dataset captioned text; the tags it leaves. */
#define CHECK_EDIT(text, kind, a, b, keep, want) do { char *root_; \
    dataset *ds_ = single_open(&root_, (text)); \
    CHECK_STR(edit_first(ds_, (kind), (a), (b), (keep)), (want)); \
    dataset_close(ds_); fixture_remove(root_); } while (0)

/* The refusal message of an operation that must not be accepted. */
static void check_refused(edit_kind kind, const char *a, const char *b, int keep, const char *needle)
{
    edit_op op;
    tg_error err = {{0}};
    CHECK_INT(edit_op_init(&op, kind, a, b, keep, &err), -1);
    if (!strstr(err.msg, needle)) {
        check_current_failed++;
        fprintf(stderr, "  FAIL %s \"%s\": message \"%s\" lacks \"%s\"\n", edit_kind_name(kind),
                a ? a : "(null)", err.msg, needle);
    }
    edit_op_free(&op); /* as the CLI does after a refusal */
}

static void test_add(void)
{
    CHECK_EDIT("a, b", EDIT_ADD, "c", NULL, 0, "a, b, c");
    CHECK_EDIT("a, b", EDIT_ADD, "  c\t", NULL, 0, "a, b, c");
    CHECK_EDIT("a, b", EDIT_ADD, "a", NULL, 0, "a, b");
    CHECK_EDIT("", EDIT_ADD, "first", NULL, 0, "first");
    CHECK_EDIT("a", EDIT_ADD, "A", NULL, 0, "a, A"); /* case is part of the tag */
}

static void test_prepend(void)
{
    CHECK_EDIT("a, b, c", EDIT_PREPEND, "x", NULL, 0, "x, a, b, c");
    CHECK_EDIT("a, b, c", EDIT_PREPEND, "c", NULL, 0, "c, a, b");
    CHECK_EDIT("a, c, b, c", EDIT_PREPEND, "c", NULL, 0, "c, a, b");
}

static void test_remove_exact_and_glob(void)
{
    CHECK_EDIT("a, b, c", EDIT_REMOVE, "b", NULL, 0, "a, c");
    CHECK_EDIT("b, a, b", EDIT_REMOVE, "b", NULL, 0, "a");
    CHECK_EDIT("red circle, red", EDIT_REMOVE, "red", NULL, 0, "red circle");
    CHECK_EDIT("blue eyes, black, red, ablue", EDIT_REMOVE, "bl*", NULL, 0, "red, ablue");
    CHECK_EDIT("a1, a2, b1", EDIT_REMOVE, "?1", NULL, 0, "a2");
    CHECK_EDIT("a, b", EDIT_REMOVE, "zzz", NULL, 0, "a, b");
}

static void test_rename(void)
{
    CHECK_EDIT("a, b", EDIT_RENAME, "a", "x", 0, "x, b");
    CHECK_EDIT("a, b", EDIT_RENAME, "q", "x", 0, "a, b");
    CHECK_EDIT("a, b", EDIT_RENAME, " a ", " x y ", 0, "x y, b");
}

static void test_rename_merges_into_present_target(void)
{
    CHECK_EDIT("b, a, c", EDIT_RENAME, "a", "b", 0, "b, c");
    CHECK_EDIT("a, c, b", EDIT_RENAME, "a", "b", 0, "b, c");
    CHECK_EDIT("a, c, a", EDIT_RENAME, "a", "b", 0, "b, c");
}

static void test_rename_across_dataset_moves_occurrence(void)
{
    char *root;
    dataset *ds = multi_open(&root);
    if (ds) {
        edit_result res;
        apply_op(ds, EDIT_RENAME, "red", "crimson", 0, NULL, 0, &res);
        CHECK_INT(res.changed, 2);
        CHECK_INT(res.locked, 1);
        CHECK_INT(ds_occ(ds, "red"), 0);
        CHECK_INT(ds_occ(ds, "crimson"), 2);
        CHECK_INT(ds_folder_occ(ds, "10_a", "crimson"), 1);
        CHECK_INT(ds_folder_occ(ds, "3_b", "crimson"), 1);
        CHECK_INT(ds_folder_occ(ds, "3_b", "red"), 0);
        apply_op(ds, EDIT_RENAME, "square", "crimson", 0, NULL, 0, &res); /* merge on 3.png */
        char buf[256];
        CHECK_STR(ds_tags(ds, ds_find(ds, "3_b/3.png"), buf, sizeof buf), "crimson, small");
        CHECK_STR(ds_tags(ds, ds_find(ds, "10_a/2.png"), buf, sizeof buf), "blue, crimson");
        CHECK_INT(ds_occ(ds, "crimson"), 3);
        CHECK_INT(ds_occ(ds, "square"), 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_replace_regex(void)
{
    CHECK_EDIT("long hair, blue eyes", EDIT_REPLACE, "^(.+) (hair|eyes)$", "\\2 \\1", 0,
               "hair long, eyes blue");
    CHECK_EDIT("a_b_c, d", EDIT_REPLACE, "_", " ", 0, "a b c, d");      /* every match */
    CHECK_EDIT("red, reddish, bred", EDIT_REPLACE, "^red$", "", 0, "reddish, bred");
    CHECK_EDIT("x, keep", EDIT_REPLACE, "x", "  ", 0, "keep");      /* blank after trim: removed */
    CHECK_EDIT("cat", EDIT_REPLACE, "a", "[\\0]", 0, "c[a]t");
    CHECK_EDIT("cat", EDIT_REPLACE, "(z)?a", "<\\1>", 0, "c<>t");  /* unmatched group: empty */
    CHECK_EDIT("abc", EDIT_REPLACE, "x*", "-", 0, "-a-b-c-");      /* empty matches, as sed */
}

/* Whatever an edit leaves in memory must be what the saved file gives back when read. */
static void check_saved_text_reads_back(const dataset *ds, long i)
{
    size_t len;
    char *text = dataset_caption_text(ds, (size_t)i, &len);
    caption c;
    CHECK(text && caption_parse(text, len, &c) == 0);
    if (!text)
        return;
    const ds_item *it = &ds->items[i];
    CHECK_INT(c.n, it->n_tags);
    for (uint32_t k = 0; k < c.n && k < it->n_tags; k++) {
        const char *tag = dataset_tag(ds, it, k);
        if (strlen(tag) != c.tags[k].len || memcmp(tag, text + c.tags[k].off, c.tags[k].len)) {
            check_current_failed++;
            fprintf(stderr, "  FAIL tag %u in memory \"%s\" is saved as \"%.*s\"\n", k, tag,
                    (int)c.tags[k].len, text + c.tags[k].off);
        }
    }
    caption_free(&c);
    free(text);
}

/* Replaces on a one-image dataset captioned text; what is in memory must be what a save writes. */
static void check_replace_reads_back(const char *text, const char *re, const char *rep)
{
    char *root;
    dataset *ds = single_open(&root, text);
    edit_op op;
    tg_error err = {{0}};
    if (edit_op_init(&op, EDIT_REPLACE, re, rep, 0, &err) == 0 && ds) {
        uint32_t sel = 0; /* refusing the edit at apply time would be fine too */
        if (dataset_apply(ds, &op, 1, &sel, 1, "replace", NULL, &err) == 0)
            check_saved_text_reads_back(ds, 0);
    }
    edit_op_free(&op);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_replace_cannot_make_a_tag_that_splits(void)
{
    check_replace_reads_back("hat (red), b\n", "^(.*) \\((.*)\\)$", "\\1, \\2");
    check_replace_reads_back("a, b\n", "b", "b\nc");
}

static void test_move_to_front(void)
{
    CHECK_EDIT("a, blue eyes, c, blue hair", EDIT_MOVE_FRONT, "blue*", NULL, 0,
               "blue eyes, blue hair, a, c");
    CHECK_EDIT("a, b, c", EDIT_MOVE_FRONT, "c", NULL, 0, "c, a, b");
    CHECK_EDIT("a, b, c", EDIT_MOVE_FRONT, "z*", NULL, 0, "a, b, c");
}

static void test_sort_by_name_with_keep(void)
{
    CHECK_EDIT("z, c, a, b", EDIT_SORT, "name", NULL, 0, "a, b, c, z");
    CHECK_EDIT("z, c, a, b", EDIT_SORT, "name", NULL, 1, "z, a, b, c");
    CHECK_EDIT("z, c, a, b", EDIT_SORT, "name", NULL, 2, "z, c, a, b");
    CHECK_EDIT("z, c, a, b", EDIT_SORT, "name", NULL, 10, "z, c, a, b");
    CHECK_EDIT("b, B, a, A", EDIT_SORT, "name", NULL, 0, "A, B, a, b"); /* byte order */
}

static void test_sort_by_count(void)
{
    char *root = fixture_make();
    fixture_write(root, "1.png", PNG);
    fixture_write(root, "1.txt", "rare, mid, common, also rare\n");
    fixture_write(root, "2.png", PNG);
    fixture_write(root, "2.txt", "common, mid\n");
    fixture_write(root, "3.png", PNG);
    fixture_write(root, "3.txt", "common\n");
    dataset *ds = fixture_open(root, NULL);
    char buf[256];
    if (ds) {
        uint32_t first = 0;
        apply_op(ds, EDIT_SORT, "count", NULL, 0, &first, 1, NULL);
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "common, mid, also rare, rare");
        apply_op(ds, EDIT_SORT, "count", NULL, 1, &first, 1, NULL); /* `common` stays first */
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "common, mid, also rare, rare");
        CHECK_INT(ds_occ(ds, "common"), 3);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_dedup(void)
{
    CHECK_EDIT("a, b, a, c, b", EDIT_DEDUP, NULL, NULL, 0, "a, b, c");
    CHECK_EDIT("a, A", EDIT_DEDUP, NULL, NULL, 0, "a, A");
}

static void test_underscores(void)
{
    CHECK_EDIT("long_hair, ^_^, o_o, a_b_c_d, ab_c", EDIT_UNDERSCORES, NULL, NULL, 0,
               "long hair, ^_^, o_o, a b c d, ab c");
}

static void test_underscores_counts_characters_not_bytes(void)
{
    /* three characters, five bytes: an emoticon, left alone like ^_^ */
    CHECK_EDIT("\xc2\xb0_\xc2\xb0, long_hair", EDIT_UNDERSCORES, NULL, NULL, 0,
               "\xc2\xb0_\xc2\xb0, long hair");
}

static void test_lowercase(void)
{
    CHECK_EDIT("Red, BLUE_Hair, mixed Case", EDIT_LOWERCASE, NULL, NULL, 0,
               "red, blue_hair, mixed case");
    CHECK_EDIT("\xc3\x84" "B", EDIT_LOWERCASE, NULL, NULL, 0, "\xc3\x84" "b"); /* ASCII only */
}

static void test_escape_parens(void)
{
    CHECK_EDIT("smile (happy), a(b, plain", EDIT_ESCAPE_PARENS, NULL, NULL, 0,
               "smile \\(happy\\), a\\(b, plain");
    CHECK_EDIT("\\(already\\), mixed \\(x)", EDIT_ESCAPE_PARENS, NULL, NULL, 0,
               "\\(already\\), mixed \\(x\\)");
}

static void test_set(void)
{
    CHECK_EDIT("a, b", EDIT_SET, "x,y ,, z", NULL, 0, "x, y, z");
    CHECK_EDIT("a, b", EDIT_SET, "", NULL, 0, "");
}

static void test_several_ops_are_one_step(void)
{
    char *root;
    dataset *ds = single_open(&root, "a, b, c\n");
    if (ds) {
        edit_op ops[2];
        tg_error err = {{0}};
        CHECK_INT(edit_op_init(&ops[0], EDIT_REMOVE, "b", NULL, 0, &err), 0);
        CHECK_INT(edit_op_init(&ops[1], EDIT_PREPEND, "x", NULL, 0, &err), 0);
        uint32_t sel = 0;
        CHECK_INT(dataset_apply(ds, ops, 2, &sel, 1, "two ops", NULL, &err), 0);
        char buf[64];
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "x, a, c");
        CHECK_STR(dataset_undo_label(ds), "two ops");
        CHECK_INT(dataset_undo(ds, &err), 1);
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "a, b, c");
        CHECK(dataset_undo_label(ds) == NULL);
        edit_op_free(&ops[0]);
        edit_op_free(&ops[1]);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_selection_only(void)
{
    char *root;
    dataset *ds = multi_open(&root);
    if (ds) {
        uint32_t sel[] = {(uint32_t)ds_find(ds, "10_a/2.png"), (uint32_t)ds_find(ds, "3_b/3.png")};
        edit_result res;
        apply_op(ds, EDIT_ADD, "chosen", NULL, 0, sel, 2, &res);
        CHECK_INT(res.changed, 2);
        CHECK_INT(ds_occ(ds, "chosen"), 2);
        char buf[256];
        CHECK_STR(ds_tags(ds, ds_find(ds, "10_a/1.png"), buf, sizeof buf), "red, circle, big");
        CHECK_STR(ds_tags(ds, ds_find(ds, "10_a/2.png"), buf, sizeof buf), "blue, square, chosen");
        CHECK_INT(ds->n_dirty, 2);
        CHECK(!ds->items[ds_find(ds, "10_a/1.png")].dirty);
        CHECK(ds->items[sel[0]].dirty && ds->items[sel[1]].dirty);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_filter_result(void)
{
    char *root;
    dataset *ds = multi_open(&root);
    tg_error err = {{0}};
    tag_filter *f = filter_parse("red & !small | blue", &err);
    CHECK(f != NULL);
    if (ds && f) {
        size_t n = 0;
        uint32_t *sel = dataset_select_filter(ds, f, &n);
        CHECK_INT(n, 2);
        if (n == 2) {
            CHECK_STR(ds->items[sel[0]].image, "10_a/1.png");
            CHECK_STR(ds->items[sel[1]].image, "10_a/2.png");
        }
        apply_op(ds, EDIT_ADD, "matched", NULL, 0, sel, n, NULL);
        CHECK_INT(ds_occ(ds, "matched"), 2);
        CHECK_INT(ds_folder_occ(ds, "10_a", "matched"), 2);
        CHECK_INT(ds_folder_occ(ds, "3_b", "matched"), 0);
        free(sel);
    }
    filter_free(f);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_all_items_and_locked_skipped(void)
{
    char *root;
    dataset *ds = multi_open(&root);
    if (ds) {
        long locked = ds_find(ds, "3_b/4.png");
        CHECK(locked >= 0 && ds->items[locked].locked);
        edit_result res;
        apply_op(ds, EDIT_ADD, "everywhere", NULL, 0, NULL, 0, &res);
        CHECK_INT(res.changed, 3);
        CHECK_INT(res.locked, 1);
        CHECK_INT(ds_occ(ds, "everywhere"), 3);
        CHECK_INT(ds->n_dirty, 3);
        if (locked >= 0) {
            CHECK_INT(ds->items[locked].n_tags, 0);
            CHECK(!ds->items[locked].dirty);
        }
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_unchanged_images_are_not_a_step(void)
{
    char *root;
    dataset *ds = multi_open(&root);
    if (ds) {
        edit_result res;
        apply_op(ds, EDIT_REMOVE, "not there", NULL, 0, NULL, 0, &res);
        CHECK_INT(res.changed, 0);
        CHECK(dataset_undo_label(ds) == NULL);
        CHECK_INT(ds->n_dirty, 0);
        tg_error err = {{0}};
        CHECK_INT(dataset_undo(ds, &err), 0);
        CHECK_INT(dataset_redo(ds, &err), 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

/* Tags of every item, joined, so two states of a dataset can be compared whole. */
static void snapshot(const dataset *ds, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ds->n_items && n < size; i++) {
        char buf[256];
        n += (size_t)snprintf(out + n, size - n, "%s|", ds_tags(ds, (long)i, buf, sizeof buf));
    }
}

static void test_undo_redo_restore_tags_occurrence_and_dirty(void)
{
    char *root;
    dataset *ds = multi_open(&root);
    if (ds) {
        tg_error err = {{0}};
        char before[1024], after[1024], now[1024];
        snapshot(ds, before, sizeof before);
        apply_op(ds, EDIT_REMOVE, "red", NULL, 0, NULL, 0, NULL);
        apply_op(ds, EDIT_ADD, "new", NULL, 0, NULL, 0, NULL);
        snapshot(ds, after, sizeof after);
        CHECK_INT(ds_occ(ds, "red"), 0);
        CHECK_INT(ds->n_dirty, 3);
        CHECK_STR(dataset_undo_label(ds), "add new");
        CHECK_INT(dataset_undo(ds, &err), 1);
        CHECK_INT(ds_occ(ds, "new"), 0);
        CHECK_STR(dataset_redo_label(ds), "add new");
        CHECK_INT(dataset_undo(ds, &err), 1);
        snapshot(ds, now, sizeof now);
        CHECK_STR(now, before);
        CHECK_INT(ds_occ(ds, "red"), 2);
        CHECK_INT(ds_folder_occ(ds, "10_a", "red"), 1);
        CHECK_INT(ds_folder_occ(ds, "3_b", "red"), 1);
        CHECK_INT(ds->n_dirty, 0);
        for (size_t i = 0; i < ds->n_items; i++)
            CHECK(!ds->items[i].dirty);
        CHECK_INT(dataset_undo(ds, &err), 0);
        CHECK_INT(dataset_redo(ds, &err), 1);
        CHECK_INT(dataset_redo(ds, &err), 1);
        CHECK_INT(dataset_redo(ds, &err), 0);
        snapshot(ds, now, sizeof now);
        CHECK_STR(now, after);
        CHECK_INT(ds_occ(ds, "red"), 0);
        CHECK_INT(ds_occ(ds, "new"), 3);
        CHECK_INT(ds->n_dirty, 3);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_undo_restores_duplicates_and_order(void)
{
    char *root;
    dataset *ds = single_open(&root, "red, circle, red, big\n");
    if (ds) {
        tg_error err = {{0}};
        char buf[128];
        edit_first(ds, EDIT_DEDUP, NULL, NULL, 0);
        edit_first(ds, EDIT_SORT, "name", NULL, 0);
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "big, circle, red");
        CHECK_INT(ds_occ(ds, "red"), 1);
        dataset_undo(ds, &err);
        dataset_undo(ds, &err);
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "red, circle, red, big");
        CHECK_INT(ds_occ(ds, "red"), 1);
        CHECK(!ds->items[0].dirty);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_edit_back_to_disk_state_is_not_dirty(void)
{
    char *root;
    dataset *ds = single_open(&root, "a, b\n");
    if (ds) {
        edit_first(ds, EDIT_ADD, "x", NULL, 0);
        CHECK(ds->items[0].dirty);
        CHECK_INT(ds->n_dirty, 1);
        edit_first(ds, EDIT_REMOVE, "x", NULL, 0);
        CHECK(!ds->items[0].dirty);
        CHECK_INT(ds->n_dirty, 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_new_edit_drops_redo(void)
{
    char *root;
    dataset *ds = single_open(&root, "a\n");
    if (ds) {
        tg_error err = {{0}};
        edit_first(ds, EDIT_ADD, "b", NULL, 0);
        CHECK_INT(dataset_undo(ds, &err), 1);
        CHECK_STR(dataset_redo_label(ds), "add b");
        edit_first(ds, EDIT_ADD, "c", NULL, 0);
        CHECK(dataset_redo_label(ds) == NULL);
        CHECK_INT(dataset_redo(ds, &err), 0);
        char buf[64];
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "a, c");
        CHECK_INT(ds_occ(ds, "b"), 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_op_init_refusals(void)
{
    check_refused(EDIT_REPLACE, "(unclosed", "x", 0, "bad regular expression");
    check_refused(EDIT_REPLACE, "a", NULL, 0, "replacement");
    check_refused(EDIT_ADD, "", NULL, 0, "empty");
    check_refused(EDIT_ADD, "  \t ", NULL, 0, "empty");
    check_refused(EDIT_ADD, NULL, NULL, 0, "missing");
    check_refused(EDIT_REMOVE, "", NULL, 0, "empty");
    check_refused(EDIT_ADD, "a,b", NULL, 0, "comma");
    check_refused(EDIT_PREPEND, "a, b", NULL, 0, "comma");
    check_refused(EDIT_RENAME, "a,b", "c", 0, "comma");
    check_refused(EDIT_RENAME, "a", "b,c", 0, "comma");
    check_refused(EDIT_RENAME, "a", "", 0, "non-empty");
    check_refused(EDIT_RENAME, "a", NULL, 0, "non-empty");
    check_refused(EDIT_SORT, "size", NULL, 0, "unknown order");
}

static void test_op_init_refuses_line_breaks_in_tags(void)
{
    /* a tag holding a line break would push the rest of the caption onto a line kohya ignores */
    check_refused(EDIT_ADD, "a\nb", NULL, 0, "line");
    check_refused(EDIT_RENAME, "a", "b\r\nc", 0, "line");
}

static void test_op_init_accepts(void)
{
    edit_op op;
    tg_error err = {{0}};
    CHECK_INT(edit_op_init(&op, EDIT_SORT, "name", NULL, -3, &err), 0);
    CHECK_INT(op.keep, 0);
    edit_op_free(&op);
    CHECK_INT(edit_op_init(&op, EDIT_REPLACE, "a,b", "", 0, &err), 0); /* a regex may hold commas */
    edit_op_free(&op);
    CHECK_INT(edit_op_init(&op, EDIT_DEDUP, NULL, NULL, 0, &err), 0);
    edit_op_free(&op);
    CHECK_STR(edit_kind_name(EDIT_MOVE_FRONT), "move-to-front");
}

int main(void)
{
    RUN(test_add);
    RUN(test_prepend);
    RUN(test_remove_exact_and_glob);
    RUN(test_rename);
    RUN(test_rename_merges_into_present_target);
    RUN(test_rename_across_dataset_moves_occurrence);
    RUN(test_replace_regex);
    RUN(test_replace_cannot_make_a_tag_that_splits);
    RUN(test_move_to_front);
    RUN(test_sort_by_name_with_keep);
    RUN(test_sort_by_count);
    RUN(test_dedup);
    RUN(test_underscores);
    RUN(test_underscores_counts_characters_not_bytes);
    RUN(test_lowercase);
    RUN(test_escape_parens);
    RUN(test_set);
    RUN(test_several_ops_are_one_step);
    RUN(test_selection_only);
    RUN(test_filter_result);
    RUN(test_all_items_and_locked_skipped);
    RUN(test_unchanged_images_are_not_a_step);
    RUN(test_undo_redo_restore_tags_occurrence_and_dirty);
    RUN(test_undo_restores_duplicates_and_order);
    RUN(test_edit_back_to_disk_state_is_not_dirty);
    RUN(test_new_edit_drops_redo);
    RUN(test_op_init_refusals);
    RUN(test_op_init_refuses_line_breaks_in_tags);
    RUN(test_op_init_accepts);
    return check_finish();
}
