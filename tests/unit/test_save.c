/* Saving: only edited captions are written, in canonical form but keeping the file's own layout;
 * a caption that someone else changed, deleted or created meanwhile is never overwritten; a
 * read-only one is reported; nothing is left behind; modes are kept. */
#include "tagger/save.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tagger/edit.h"
#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"

static void edit_item(dataset *ds, const char *image_rel, edit_kind kind, const char *a, const char *b)
{
    CHECK_INT(ds_edit(ds, image_rel, kind, a, b), 0);
}

/* Saves; returns dataset_save's rc and leaves the report in rep (free it). */
static int save(dataset *ds, save_report *rep)
{
    tg_error err = {{0}};
    int rc = dataset_save(ds, rep, &err);
    if (rc < 0)
        fprintf(stderr, "    dataset_save: %s\n", err.msg);
    return rc;
}

static void check_file(const char *root, const char *rel, const char *want)
{
    size_t len = 0;
    char *got = fixture_read(root, rel, &len);
    CHECK_STR(got, want);
    if (got && len != strlen(want))
        CHECK_INT(len, strlen(want));
    free(got);
}

static void check_no_temp_files(const char *root)
{
    CHECK_INT(fixture_count_named(root, "tagbench-"), 0);
}

/* A message in rep naming file and containing reason. */
static bool report_says(const save_report *rep, const char *file, const char *reason)
{
    for (size_t k = 0; k < rep->n_messages; k++)
        if (strstr(rep->messages[k], file) && strstr(rep->messages[k], reason))
            return true;
    for (size_t k = 0; k < rep->n_messages; k++)
        fprintf(stderr, "    save said: %s\n", rep->messages[k]);
    return false;
}

/* Sets a file's mtime far in the past, so that any rewrite shows. */
static void age(const char *root, const char *rel)
{
    char *p = fixture_path(root, rel);
    struct timespec ts[2] = {{978307200, 0}, {978307200, 0}};
    CHECK_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
    free(p);
}

/* The file is byte for byte want, its inode and mtime as before (it was not rewritten). */
static void check_untouched(const char *root, const char *rel, const char *want, const struct stat *before)
{
    struct stat st;
    check_file(root, rel, want);
    CHECK_INT(fixture_stat(root, rel, &st), 0);
    CHECK_INT(st.st_ino, before->st_ino);
    CHECK_INT(st.st_mtim.tv_sec, before->st_mtim.tv_sec);
    CHECK_INT(st.st_mtim.tv_nsec, before->st_mtim.tv_nsec);
}

static const char *const odd_captions[] = {
    "a,b",                                  /* not canonical */
    "\xef\xbb\xbf" "x, y\r\nmore\r\n",      /* BOM, CRLF, a second line */
    "  spaced ,, out ,\n",                  /* empty tags */
    "",                                     /* empty */
    "caf\xe9, dup, dup",                    /* not UTF-8, duplicates */
};
#define N_ODD (sizeof odd_captions / sizeof odd_captions[0])

static void test_unedited_files_never_touched(void)
{
    char *root = fixture_make();
    char rel[32];
    for (size_t i = 0; i < N_ODD; i++) {
        snprintf(rel, sizeof rel, "%zu.png", i);
        fixture_write(root, rel, PNG);
        snprintf(rel, sizeof rel, "%zu.txt", i);
        fixture_write(root, rel, odd_captions[i]);
        age(root, rel);
    }
    fixture_write(root, "edited.png", PNG);
    fixture_write(root, "edited.txt", "e\n");
    struct stat before[N_ODD];
    for (size_t i = 0; i < N_ODD; i++) {
        snprintf(rel, sizeof rel, "%zu.txt", i);
        fixture_stat(root, rel, &before[i]);
    }
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "edited.png", EDIT_ADD, "f", NULL);
    edit_item(ds, "0.png", EDIT_ADD, "c", NULL); /* edited, then undone: nothing to save */
    tg_error err = {{0}};
    CHECK_INT(dataset_undo(ds, &err), 1);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 1);
    save_report_free(&rep);
    for (size_t i = 0; i < N_ODD; i++) {
        snprintf(rel, sizeof rel, "%zu.txt", i);
        check_untouched(root, rel, odd_captions[i], &before[i]);
    }
    check_file(root, "edited.txt", "e, f\n");
    check_no_temp_files(root);
    dataset_close(ds);
    fixture_remove(root);
}

/* Edits a caption written as before and checks the saved bytes are after. */
static void check_layout_kept(const char *before, const char *after)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", before);
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "a.png", EDIT_ADD, "c", NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 1);
    save_report_free(&rep);
    check_file(root, "a.txt", after);
    if (ds) {
        CHECK_INT(ds->n_dirty, 0);
        CHECK(!ds->items[0].dirty);
    }
    check_no_temp_files(root);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_edited_file_keeps_its_layout(void)
{
    check_layout_kept("a,b", "a, b, c");
    check_layout_kept("a, b\n", "a, b, c\n");
    check_layout_kept("a, b\r\n", "a, b, c\r\n");
    check_layout_kept("\xef\xbb\xbf" "a, b\n", "\xef\xbb\xbf" "a, b, c\n");
    check_layout_kept("\xef\xbb\xbf" " a ,b,\r\nsecond, line\r\nthird",
                      "\xef\xbb\xbf" "a, b, c\r\nsecond, line\r\nthird");
    check_layout_kept("a\nrest\n\n", "a, c\nrest\n\n");
    check_layout_kept("", "c");
    check_layout_kept("caf\xe9", "caf\xe9, c");
}

static void test_saved_file_reads_back_the_same(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "\xef\xbb\xbf" "x,y\r\nline two\r\n");
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "a.png", EDIT_PREPEND, "first", NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    save_report_free(&rep);
    dataset_close(ds);
    ds = fixture_open(root, NULL);
    char buf[128];
    if (ds) {
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "first, x, y");
        size_t len;
        char *text = dataset_caption_text(ds, 0, &len);
        CHECK_STR(text, "\xef\xbb\xbf" "first, x, y\r\nline two\r\n");
        free(text);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_new_caption_for_image_without_one(void)
{
    char *root = fixture_make();
    fixture_write(root, "sub/c.png", PNG);
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "sub/c.png", EDIT_ADD, "x", NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 1);
    save_report_free(&rep);
    check_file(root, "sub/c.txt", "x\n");
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    CHECK_INT(fixture_stat(root, "sub/c.txt", &st), 0);
    CHECK_INT(st.st_mode & 07777, 0666 & ~mask);
    edit_item(ds, "sub/c.png", EDIT_ADD, "y", NULL); /* the file now exists: a normal save */
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 1);
    save_report_free(&rep);
    check_file(root, "sub/c.txt", "x, y\n");
    check_no_temp_files(root);
    dataset_close(ds);
    fixture_remove(root);
}

/* Two captioned images a and b; both edited; then the test interferes with a.txt on disk. */
static dataset *two_edited_open(char **root)
{
    *root = fixture_make();
    fixture_write(*root, "a.png", PNG);
    fixture_write(*root, "a.txt", "a1\n");
    fixture_write(*root, "b.png", PNG);
    fixture_write(*root, "b.txt", "b1\n");
    dataset *ds = fixture_open(*root, NULL);
    edit_item(ds, "a.png", EDIT_ADD, "mine", NULL);
    edit_item(ds, "b.png", EDIT_ADD, "mine", NULL);
    return ds;
}

/* After a refused a.txt: b was still saved, a stays an unsaved edit. */
static void check_a_refused_b_saved(const char *root, dataset *ds)
{
    check_file(root, "b.txt", "b1, mine\n");
    if (ds) {
        CHECK(ds->items[ds_find(ds, "a.png")].dirty);
        CHECK(!ds->items[ds_find(ds, "b.png")].dirty);
        CHECK_INT(ds->n_dirty, 1);
        char buf[64];
        CHECK_STR(ds_tags(ds, ds_find(ds, "a.png"), buf, sizeof buf), "a1, mine");
    }
    check_no_temp_files(root);
}

static void test_conflict_changed_on_disk(void)
{
    char *root;
    dataset *ds = two_edited_open(&root);
    fixture_write(root, "a.txt", "someone else\n");
    save_report rep;
    CHECK_INT(save(ds, &rep), 1);
    CHECK_INT(rep.conflicts, 1);
    CHECK_INT(rep.failed, 0);
    CHECK_INT(rep.written, 1);
    CHECK(report_says(&rep, "a.txt", "changed"));
    save_report_free(&rep);
    check_file(root, "a.txt", "someone else\n");
    check_a_refused_b_saved(root, ds);
    CHECK_INT(save(ds, &rep), 1); /* still refused on the next save */
    CHECK_INT(rep.conflicts, 1);
    save_report_free(&rep);
    check_file(root, "a.txt", "someone else\n");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_conflict_deleted_on_disk(void)
{
    char *root;
    dataset *ds = two_edited_open(&root);
    char *p = fixture_path(root, "a.txt");
    unlink(p);
    free(p);
    save_report rep;
    CHECK_INT(save(ds, &rep), 1);
    CHECK_INT(rep.conflicts, 1);
    CHECK(report_says(&rep, "a.txt", "deleted"));
    save_report_free(&rep);
    CHECK(!fixture_exists(root, "a.txt"));
    check_a_refused_b_saved(root, ds);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_conflict_caption_created_meanwhile(void)
{
    char *root = fixture_make();
    fixture_write(root, "c.png", PNG);
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "c.png", EDIT_ADD, "mine", NULL);
    fixture_write(root, "c.txt", "theirs\n");
    save_report rep;
    CHECK_INT(save(ds, &rep), 1);
    CHECK_INT(rep.conflicts, 1);
    CHECK_INT(rep.written, 0);
    CHECK(report_says(&rep, "c.txt", "created"));
    save_report_free(&rep);
    check_file(root, "c.txt", "theirs\n");
    if (ds)
        CHECK(ds->items[0].dirty);
    check_no_temp_files(root);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_read_only_caption(void)
{
    char *root;
    dataset *ds = two_edited_open(&root);
    fixture_chmod(root, "a.txt", 0444);
    save_report rep;
    CHECK_INT(save(ds, &rep), 1);
    CHECK_INT(rep.failed, 1);
    CHECK_INT(rep.conflicts, 0);
    CHECK(report_says(&rep, "a.txt", "read-only"));
    save_report_free(&rep);
    check_file(root, "a.txt", "a1\n");
    struct stat st;
    CHECK_INT(fixture_stat(root, "a.txt", &st), 0);
    CHECK_INT(st.st_mode & 07777, 0444);
    check_a_refused_b_saved(root, ds);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_mode_preserved(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "a\n");
    fixture_write(root, "b.png", PNG);
    fixture_write(root, "b.txt", "b\n");
    fixture_chmod(root, "a.txt", 0640);
    fixture_chmod(root, "b.txt", 0600);
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "a.png", EDIT_ADD, "x", NULL);
    edit_item(ds, "b.png", EDIT_ADD, "x", NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 2);
    save_report_free(&rep);
    struct stat st;
    CHECK_INT(fixture_stat(root, "a.txt", &st), 0);
    CHECK_INT(st.st_mode & 07777, 0640);
    CHECK_INT(fixture_stat(root, "b.txt", &st), 0);
    CHECK_INT(st.st_mode & 07777, 0600);
    check_file(root, "a.txt", "a, x\n");
    check_no_temp_files(root);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_second_save_writes_nothing(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "a\n");
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "a.png", EDIT_ADD, "x", NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 1);
    save_report_free(&rep);
    age(root, "a.txt");
    struct stat before;
    fixture_stat(root, "a.txt", &before);
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 0);
    CHECK_INT(rep.n_messages, 0);
    save_report_free(&rep);
    check_untouched(root, "a.txt", "a, x\n", &before);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_undo_after_save_saves_the_old_tags(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "a,b\n");
    dataset *ds = fixture_open(root, NULL);
    edit_item(ds, "a.png", EDIT_REMOVE, "b", NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    save_report_free(&rep);
    check_file(root, "a.txt", "a\n");
    tg_error err = {{0}};
    CHECK_INT(dataset_undo(ds, &err), 1);
    if (ds) {
        CHECK(ds->items[0].dirty); /* the file now says `a`: the undone state is an edit */
        CHECK_INT(ds->n_dirty, 1);
    }
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written, 1);
    save_report_free(&rep);
    check_file(root, "a.txt", "a, b\n");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_save_with_nothing_edited(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "a\n");
    dataset *ds = fixture_open(root, NULL);
    save_report rep;
    CHECK_INT(save(ds, &rep), 0);
    CHECK_INT(rep.written + rep.conflicts + rep.failed, 0);
    save_report_free(&rep);
    CHECK_INT(fixture_count_named(root, "tagbench"), 0); /* not even a journal folder */
    dataset_close(ds);
    fixture_remove(root);
}

int main(void)
{
    RUN(test_unedited_files_never_touched);
    RUN(test_edited_file_keeps_its_layout);
    RUN(test_saved_file_reads_back_the_same);
    RUN(test_new_caption_for_image_without_one);
    RUN(test_conflict_changed_on_disk);
    RUN(test_conflict_deleted_on_disk);
    RUN(test_conflict_caption_created_meanwhile);
    RUN(test_read_only_caption);
    RUN(test_mode_preserved);
    RUN(test_second_save_writes_nothing);
    RUN(test_undo_after_save_saves_the_old_tags);
    RUN(test_save_with_nothing_edited);
    return check_finish();
}
