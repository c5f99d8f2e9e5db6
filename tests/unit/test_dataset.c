/* Opening a dataset folder: which files become items, how kohya `N_name` folders are read, what is
 * left out and said so in a note, the order items come in, and tag occurrence per folder. */
#include "tagger/dataset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"

/* The kohya tree most tests start from. */
static char *tree_make(void)
{
    char *root = fixture_make();
    fixture_write(root, "root.png", PNG);
    fixture_write(root, "root.txt", "at root\n");
    fixture_write(root, "10_red things/a.png", PNG);
    fixture_write(root, "10_red things/a.txt", "red, circle\n");
    fixture_write(root, "10_red things/sub/c.png", PNG);
    fixture_write(root, "3_x_y/b.jpg", PNG);
    fixture_write(root, "3_x_y/b.txt", "blue, square");
    return root;
}

static void test_open_kohya_tree(void)
{
    char *root = tree_make();
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 4);
        CHECK_STR(ds->caption_ext, ".txt");
        long red = ds_folder_at(ds, "10_red things"), xy = ds_folder_at(ds, "3_x_y");
        long sub = ds_folder_at(ds, "10_red things/sub"), top = ds_folder_at(ds, "");
        CHECK(red >= 0 && xy >= 0 && sub >= 0 && top >= 0);
        if (red >= 0 && xy >= 0 && sub >= 0 && top >= 0) {
            CHECK_INT(ds->folders[red].repeats, 10);
            CHECK_STR(ds->folders[red].class_tokens, "red things");
            CHECK_STR(ds->folders[red].name, "10_red things");
            CHECK_INT(ds->folders[xy].repeats, 3);
            CHECK_STR(ds->folders[xy].class_tokens, "x_y");
            CHECK_INT(ds->folders[sub].repeats, 0); /* only folders directly under the root */
            CHECK(ds->folders[sub].class_tokens == NULL);
            CHECK_STR(ds->folders[sub].name, "sub");
            CHECK_INT(ds->folders[top].repeats, 0);
            CHECK_STR(ds->folders[top].name, ".");
            CHECK_INT(ds->folders[red].n_items, 1);
            CHECK_INT(ds->folders[sub].n_items, 1);
        }
        char buf[256];
        long a = ds_find(ds, "10_red things/a.png"), b = ds_find(ds, "3_x_y/b.jpg");
        CHECK_STR(ds_tags(ds, a, buf, sizeof buf), "red, circle");
        CHECK_STR(ds_tags(ds, b, buf, sizeof buf), "blue, square");
        CHECK_STR(ds_tags(ds, ds_find(ds, "root.png"), buf, sizeof buf), "at root");
        if (a >= 0 && b >= 0) {
            CHECK_INT(ds->items[a].folder, red);
            CHECK_INT(ds->items[b].folder, xy);
            CHECK_STR(ds->items[a].caption, "10_red things/a.txt");
            CHECK(!ds->items[a].dirty && !ds->items[a].locked && ds->items[a].has_file);
        }
        CHECK_INT(ds->n_dirty, 0);
        CHECK_INT(ds->n_notes, 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_items_in_byte_order(void)
{
    char *root = tree_make();
    dataset *ds = fixture_open(root, NULL), *again = fixture_open(root, NULL);
    static const char *want[] = {"root.png", "10_red things/a.png", "10_red things/sub/c.png",
                                 "3_x_y/b.jpg"};
    if (ds && again && ds->n_items == 4 && again->n_items == 4) {
        for (size_t i = 0; i < 4; i++) {
            CHECK_STR(ds->items[i].image, want[i]);
            CHECK_STR(again->items[i].image, want[i]);
        }
    } else {
        CHECK(!"both opens give 4 items");
    }
    dataset_close(ds);
    dataset_close(again);
    fixture_remove(root);
}

static void test_image_without_caption(void)
{
    char *root = tree_make();
    dataset *ds = fixture_open(root, NULL);
    long c = ds ? ds_find(ds, "10_red things/sub/c.png") : -1;
    CHECK(c >= 0);
    if (c >= 0) {
        const ds_item *it = &ds->items[c];
        CHECK(!it->has_file);
        CHECK_INT(it->n_tags, 0);
        CHECK_STR(it->caption, "10_red things/sub/c.txt"); /* where a caption would go */
        CHECK(!it->locked);
        CHECK(!fixture_exists(root, "10_red things/sub/c.txt")); /* opening creates nothing */
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_root_level_image(void)
{
    char *root = tree_make();
    dataset *ds = fixture_open(root, NULL);
    long i = ds ? ds_find(ds, "root.png") : -1;
    CHECK(i >= 0);
    if (i >= 0) {
        CHECK_STR(ds->items[i].caption, "root.txt");
        CHECK_STR(ds->folders[ds->items[i].folder].rel, "");
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_orphan_caption_noted(void)
{
    char *root = tree_make();
    fixture_write(root, "10_red things/lonely.txt", "no image\n");
    fixture_write(root, "notes.md", "not a caption\n");
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 4);
        const ds_note *n = ds_note_find(ds, "10_red things/lonely.txt", NULL);
        CHECK(n != NULL);
        if (n)
            CHECK_INT(n->kind, NOTE_ORPHAN_CAPTION);
        CHECK(ds_note_find(ds, "notes.md", NULL) == NULL); /* other files are not captions */
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_hidden_entries_ignored(void)
{
    char *root = tree_make();
    fixture_write(root, ".hidden/h.png", PNG);
    fixture_write(root, ".hidden/h.txt", "secret\n");
    fixture_write(root, ".dot.png", PNG);
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 4);
        CHECK(ds_find(ds, ".hidden/h.png") < 0);
        CHECK(ds_find(ds, ".dot.png") < 0);
        CHECK(ds_folder_at(ds, ".hidden") < 0);
        CHECK_INT(ds_occ(ds, "secret"), 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_two_images_one_caption(void)
{
    char *root = fixture_make();
    fixture_write(root, "foo.png", PNG);
    fixture_write(root, "foo.jpg", PNG);
    fixture_write(root, "foo.txt", "shared\n");
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 1);
        long jpg = ds_find(ds, "foo.jpg"), png = ds_find(ds, "foo.png");
        CHECK(jpg >= 0 && png < 0); /* the first in byte order keeps the caption */
        char buf[64];
        CHECK_STR(ds_tags(ds, jpg, buf, sizeof buf), "shared");
        const ds_note *n = ds_note_find(ds, "foo.png", "caption");
        CHECK(n != NULL);
        if (n)
            CHECK_INT(n->kind, NOTE_SKIPPED);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void check_caption_ext(const char *ext)
{
    char *root = fixture_make();
    fixture_write(root, "pic.png", PNG);
    fixture_write(root, "pic.caption", "from caption\n");
    fixture_write(root, "pic.txt", "from txt\n");
    fixture_write(root, "orphan.caption", "x\n");
    dataset_opts opts = {.caption_ext = ext};
    dataset *ds = fixture_open(root, &opts);
    if (ds) {
        CHECK_STR(ds->caption_ext, ".caption");
        CHECK_INT(ds->n_items, 1);
        char buf[64];
        CHECK_STR(ds_tags(ds, ds_find(ds, "pic.png"), buf, sizeof buf), "from caption");
        if (ds->n_items)
            CHECK_STR(ds->items[0].caption, "pic.caption");
        CHECK(ds_note_find(ds, "orphan.caption", NULL) != NULL);
        CHECK(ds_note_find(ds, "pic.txt", NULL) == NULL);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_caption_extension_option(void)
{
    check_caption_ext(".caption");
    check_caption_ext("caption");
}

static void test_folders_without_repeats(void)
{
    char *root = fixture_make();
    static const char *names[] = {"0_bad", "x_name", "_lead", "-2_neg", "12x_mixed", "plain"};
    char rel[64];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(rel, sizeof rel, "%s/i.png", names[i]);
        fixture_write(root, rel, PNG);
    }
    dataset *ds = fixture_open(root, NULL);
    for (size_t i = 0; ds && i < sizeof names / sizeof names[0]; i++) {
        long f = ds_folder_at(ds, names[i]);
        CHECK(f >= 0);
        if (f < 0)
            continue;
        if (ds->folders[f].repeats != 0 || ds->folders[f].class_tokens)
            fprintf(stderr, "    folder %s read as kohya\n", names[i]);
        CHECK_INT(ds->folders[f].repeats, 0);
        CHECK(ds->folders[f].class_tokens == NULL);
        CHECK_INT(ds->folders[f].n_items, 1); /* its images are still in the dataset */
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_odd_file_names(void)
{
    char *root = fixture_make();
    fixture_write(root, "with space.png", PNG);
    fixture_write(root, "with space.txt", "spaced\n");
    fixture_write(root, "new\nline.png", PNG);
    fixture_write(root, "new\nline.txt", "newline\n");
    fixture_write(root, "esc\x1b[31m.png", PNG);
    fixture_write(root, "esc\x1b[31m.txt", "escape\n");
    fixture_write(root, "UPPER.PNG", PNG);
    fixture_write(root, "UPPER.txt", "upper\n");
    fixture_write(root, "many.dots.in.name.jpeg", PNG);
    fixture_write(root, "many.dots.in.name.txt", "dots\n");
    dataset *ds = fixture_open(root, NULL);
    char buf[64];
    if (ds) {
        CHECK_INT(ds->n_items, 5);
        CHECK_STR(ds_tags(ds, ds_find(ds, "with space.png"), buf, sizeof buf), "spaced");
        CHECK_STR(ds_tags(ds, ds_find(ds, "new\nline.png"), buf, sizeof buf), "newline");
        CHECK_STR(ds_tags(ds, ds_find(ds, "esc\x1b[31m.png"), buf, sizeof buf), "escape");
        CHECK_STR(ds_tags(ds, ds_find(ds, "UPPER.PNG"), buf, sizeof buf), "upper");
        CHECK_STR(ds_tags(ds, ds_find(ds, "many.dots.in.name.jpeg"), buf, sizeof buf), "dots");
        CHECK_INT(ds->n_notes, 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_symlink_loop(void)
{
    char *root = tree_make();
    char *link = fixture_path(root, "10_red things/loop");
    CHECK_INT(symlink(".", link), 0);
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 4); /* nothing seen twice */
        const ds_note *n = ds_note_find(ds, "10_red things/loop", "loop");
        CHECK(n != NULL);
        if (n)
            CHECK_INT(n->kind, NOTE_SKIPPED);
    }
    dataset_close(ds);
    free(link);
    fixture_remove(root);
}

static void test_symlinked_folder_followed(void)
{
    char *root = tree_make();
    char *outside = fixture_make(), *link = fixture_path(root, "linked");
    fixture_write(outside, "o.png", PNG);
    fixture_write(outside, "o.txt", "outside\n");
    CHECK_INT(symlink(outside, link), 0);
    dataset *ds = fixture_open(root, NULL);
    char buf[64];
    if (ds)
        CHECK_STR(ds_tags(ds, ds_find(ds, "linked/o.png"), buf, sizeof buf), "outside");
    dataset_close(ds);
    free(link);
    fixture_remove(outside);
    fixture_remove(root);
}

/* What a user who cannot read part of the dataset gets: the rest opens, with notes. */
static void check_unreadable(const char *root)
{
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 5); /* the folder's image is unknown, secret.png is in */
        const ds_note *n = ds_note_find(ds, "locked", NULL);
        CHECK(n != NULL);
        if (n)
            CHECK_INT(n->kind, NOTE_UNREADABLE);
        long s = ds_find(ds, "secret.png");
        CHECK(s >= 0);
        if (s >= 0) {
            CHECK(ds->items[s].locked);
            CHECK_INT(ds->items[s].n_tags, 0);
        }
        CHECK(ds_note_find(ds, "secret.txt", NULL) != NULL);
    }
    dataset_close(ds);
}

static void test_unreadable_folder_and_caption(void)
{
    char *root = tree_make();
    fixture_write(root, "locked/l.png", PNG);
    fixture_write(root, "locked/l.txt", "hidden\n");
    fixture_write(root, "secret.png", PNG);
    fixture_write(root, "secret.txt", "secret\n");
    fixture_chmod(root, "locked", 0);
    fixture_chmod(root, "secret.txt", 0);
    if (geteuid() != 0) {
        check_unreadable(root);
    } else {
        /* root reads anything: check as an unprivileged user in a child, or say it was skipped */
        chmod(root, 0755);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(100);
            check_unreadable(root);
            fflush(NULL);
            _exit(check_current_failed ? 1 : 0);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 100)
            fprintf(stderr, "    (running as root and cannot drop privileges: unreadable cases "
                            "not checked)\n");
        else
            CHECK_INT(WEXITSTATUS(status), 0);
    }
    fixture_remove(root);
}

static void test_directory_named_like_an_image(void)
{
    char *root = fixture_make();
    fixture_write(root, "z.png/inner.png", PNG);
    fixture_write(root, "z.png/inner.txt", "inner\n");
    fixture_write(root, "z.txt", "not for the folder\n");
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK(ds_find(ds, "z.png") < 0);
        char buf[64];
        CHECK_STR(ds_tags(ds, ds_find(ds, "z.png/inner.png"), buf, sizeof buf), "inner");
        CHECK_INT(ds->n_items, 1);
        CHECK(ds_note_find(ds, "z.txt", NULL) != NULL); /* a caption without an image */
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_caption_that_is_a_directory(void)
{
    char *root = fixture_make();
    fixture_write(root, "d.png", PNG);
    fixture_mkdir(root, "d.txt");
    dataset *ds = fixture_open(root, NULL);
    long d = ds ? ds_find(ds, "d.png") : -1;
    CHECK(d >= 0);
    if (d >= 0) {
        CHECK(ds->items[d].locked); /* nothing could be saved there: never edited */
        CHECK_INT(ds->items[d].n_tags, 0);
        const ds_note *n = ds_note_find(ds, "d.txt", NULL);
        CHECK(n != NULL);
        if (n)
            CHECK_INT(n->kind, NOTE_UNREADABLE);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_empty_dataset(void)
{
    char *root = fixture_make();
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds->n_items, 0);
        CHECK_INT(ds->n_notes, 0);
        CHECK_INT(ds->n_dirty, 0);
    }
    dataset_close(ds);
    CHECK(!fixture_exists(root, ".tagbench")); /* opening leaves no trace */
    fixture_remove(root);
}

static void test_nonexistent_root(void)
{
    tg_error err = {{0}};
    dataset *ds = dataset_open("/nonexistent/tagbench-test-dir", NULL, &err);
    CHECK(ds == NULL);
    CHECK(strstr(err.msg, "/nonexistent/tagbench-test-dir") != NULL);
    CHECK(strstr(err.msg, "No such file") != NULL);
    dataset_close(ds);
}

static void test_root_that_is_a_file(void)
{
    char *root = fixture_make();
    fixture_write(root, "file.png", PNG);
    char *path = fixture_path(root, "file.png");
    tg_error err = {{0}};
    dataset *ds = dataset_open(path, NULL, &err);
    CHECK(ds == NULL);
    CHECK(strstr(err.msg, path) != NULL);
    dataset_close(ds);
    free(path);
    fixture_remove(root);
}

static void test_root_with_trailing_slash(void)
{
    char *root = tree_make();
    char *slashed = fixture_path(root, "");
    dataset *ds = fixture_open(slashed, NULL);
    if (ds) {
        CHECK_STR(ds->root, root);
        CHECK_INT(ds->n_items, 4);
        char *p = dataset_path(ds, "3_x_y/b.txt"), *want = fixture_path(root, "3_x_y/b.txt");
        CHECK_STR(p, want);
        free(p);
        free(want);
    }
    dataset_close(ds);
    free(slashed);
    fixture_remove(root);
}

static void test_empty_caption_file(void)
{
    char *root = fixture_make();
    fixture_write(root, "e.png", PNG);
    fixture_write(root, "e.txt", "");
    dataset *ds = fixture_open(root, NULL);
    if (ds && ds->n_items == 1) {
        CHECK(ds->items[0].has_file);
        CHECK(!ds->items[0].locked);
        CHECK_INT(ds->items[0].n_tags, 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_unedited_caption_text_is_file_bytes(void)
{
    static const char *texts[] = {"\xef\xbb\xbf" "a, b\r\nsecond line\r\n", "a, b", "a, b\nrest"};
    char *root = fixture_make();
    fixture_write(root, "0.png", PNG);
    fixture_write(root, "1.png", PNG);
    fixture_write(root, "2.png", PNG);
    fixture_write(root, "0.txt", texts[0]);
    fixture_write(root, "1.txt", texts[1]);
    fixture_write(root, "2.txt", texts[2]);
    dataset *ds = fixture_open(root, NULL);
    for (size_t i = 0; ds && i < 3 && i < ds->n_items; i++) {
        size_t len = 0;
        char *text = dataset_caption_text(ds, i, &len);
        CHECK_STR(text, texts[i]);
        CHECK_INT(len, strlen(texts[i]));
        free(text);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_occurrence_overall_and_per_folder(void)
{
    char *root = fixture_make();
    fixture_write(root, "10_red things/a.png", PNG);
    fixture_write(root, "10_red things/a.txt", "red, circle, red\n");
    fixture_write(root, "10_red things/b.png", PNG);
    fixture_write(root, "10_red things/b.txt", "red, square\n");
    fixture_write(root, "3_x_y/c.png", PNG);
    fixture_write(root, "3_x_y/c.txt", "red, circle\n");
    fixture_write(root, "top.png", PNG);
    fixture_write(root, "top.txt", "Red, red_circle\n");
    dataset *ds = fixture_open(root, NULL);
    if (ds) {
        CHECK_INT(ds_occ(ds, "red"), 3); /* a.png repeats it: counted once */
        CHECK_INT(ds_occ(ds, "circle"), 2);
        CHECK_INT(ds_occ(ds, "square"), 1);
        CHECK_INT(ds_occ(ds, "Red"), 1); /* case and underscores as written */
        CHECK_INT(ds_occ(ds, "red_circle"), 1);
        CHECK_INT(ds_occ(ds, "never seen"), 0);
        CHECK_INT(ds_folder_occ(ds, "10_red things", "red"), 2);
        CHECK_INT(ds_folder_occ(ds, "10_red things", "circle"), 1);
        CHECK_INT(ds_folder_occ(ds, "10_red things", "square"), 1);
        CHECK_INT(ds_folder_occ(ds, "3_x_y", "red"), 1);
        CHECK_INT(ds_folder_occ(ds, "3_x_y", "circle"), 1);
        CHECK_INT(ds_folder_occ(ds, "3_x_y", "square"), 0);
        CHECK_INT(ds_folder_occ(ds, "", "Red"), 1);
        CHECK_INT(ds_folder_occ(ds, "", "red"), 0);
    }
    dataset_close(ds);
    fixture_remove(root);
}

static void test_non_utf8_caption_kept(void)
{
    char *root = fixture_make();
    fixture_write(root, "n.png", PNG);
    fixture_write(root, "n.txt", "caf\xe9, ok\n");
    dataset *ds = fixture_open(root, NULL);
    char buf[64];
    if (ds)
        CHECK_STR(ds_tags(ds, 0, buf, sizeof buf), "caf\xe9, ok");
    dataset_close(ds);
    fixture_remove(root);
}

int main(void)
{
    RUN(test_open_kohya_tree);
    RUN(test_items_in_byte_order);
    RUN(test_image_without_caption);
    RUN(test_root_level_image);
    RUN(test_orphan_caption_noted);
    RUN(test_hidden_entries_ignored);
    RUN(test_two_images_one_caption);
    RUN(test_caption_extension_option);
    RUN(test_folders_without_repeats);
    RUN(test_odd_file_names);
    RUN(test_symlink_loop);
    RUN(test_symlinked_folder_followed);
    RUN(test_unreadable_folder_and_caption);
    RUN(test_directory_named_like_an_image);
    RUN(test_caption_that_is_a_directory);
    RUN(test_empty_dataset);
    RUN(test_nonexistent_root);
    RUN(test_root_that_is_a_file);
    RUN(test_root_with_trailing_slash);
    RUN(test_empty_caption_file);
    RUN(test_unedited_caption_text_is_file_bytes);
    RUN(test_occurrence_overall_and_per_folder);
    RUN(test_non_utf8_caption_kept);
    return check_finish();
}
