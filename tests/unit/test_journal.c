/* The edit journal: a session killed with unsaved edits loses nothing. A child process opens the
 * dataset, starts the journal, edits and dies without saving or closing (_exit); the parent opens
 * the same folder as the next session would, and replays, discards or saves. */
#include "tagger/journal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tagger/edit.h"
#include "tagger/save.h"
#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define PNG "\x89PNG not really"
#define JOURNAL ".tagbench/journal.jsonl"

static void journal_start_ok(dataset *ds)
{
    tg_error err = {{0}};
    int rc = ds ? dataset_journal_start(ds, &err) : -1;
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "    dataset_journal_start: %s\n", err.msg);
}

/* a.png "a1", b.png "b1", c.png without a caption. */
static char *folder_make(void)
{
    char *root = fixture_make();
    fixture_write(root, "a.png", PNG);
    fixture_write(root, "a.txt", "a1\n");
    fixture_write(root, "b.png", PNG);
    fixture_write(root, "b.txt", "b1\n");
    fixture_write(root, "c.png", PNG);
    return root;
}

/* What the killed session does before it dies. */
typedef int (*session_fn)(dataset *ds);

static int edits_ab(dataset *ds)
{
    return ds_edit(ds, "a.png", EDIT_ADD, "mine", NULL) | ds_edit(ds, "b.png", EDIT_REMOVE, "b1", NULL);
}

static int edits_abc(dataset *ds)
{
    return edits_ab(ds) | ds_edit(ds, "c.png", EDIT_ADD, "new", NULL);
}

static int edit_then_undo(dataset *ds)
{
    tg_error err = {{0}};
    int rc = ds_edit(ds, "a.png", EDIT_ADD, "mine", NULL);
    return rc < 0 || dataset_undo(ds, &err) != 1 ? -1 : 0;
}

/* A session in a child process: open, start the journal, run fn, die without saving or closing. */
static void session_killed(const char *root, session_fn fn)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        tg_error err = {{0}};
        dataset *ds = dataset_open(root, NULL, &err);
        int ok = ds && dataset_journal_start(ds, &err) == 0 && fn(ds) == 0;
        if (!ok)
            fprintf(stderr, "    killed session failed: %s\n", err.msg);
        fflush(NULL);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int journal_lines(const char *root)
{
    char *text = fixture_read(root, JOURNAL, NULL);
    int n = 0;
    for (char *p = text; p && *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

static long pending(const dataset *ds)
{
    tg_error err = {{0}};
    return ds ? dataset_journal_pending(ds, &err) : -1;
}

static int replay(dataset *ds, journal_report *rep)
{
    tg_error err = {{0}};
    memset(rep, 0, sizeof *rep);
    int rc = ds ? dataset_journal_replay(ds, rep, false, &err) : -1;
    if (rc < 0)
        fprintf(stderr, "    dataset_journal_replay: %s\n", err.msg);
    return rc;
}

static int save(dataset *ds, save_report *rep)
{
    tg_error err = {{0}};
    memset(rep, 0, sizeof *rep);
    int rc = ds ? dataset_save(ds, rep, &err) : -1;
    if (rc < 0)
        fprintf(stderr, "    dataset_save: %s\n", err.msg);
    for (size_t k = 0; rc < 0 && k < rep->n_messages; k++)
        fprintf(stderr, "    save said: %s\n", rep->messages[k]);
    return rc;
}

static const char *tags_of(const dataset *ds, const char *image_rel)
{
    static char buf[256];
    return ds ? ds_tags(ds, ds_find(ds, image_rel), buf, sizeof buf) : "(no dataset)";
}

static void check_file(const char *root, const char *rel, const char *want)
{
    char *got = fixture_read(root, rel, NULL);
    CHECK_STR(got, want);
    free(got);
}

static void test_edits_are_journaled_as_they_happen(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    journal_start_ok(ds);
    CHECK(fixture_exists(root, JOURNAL));
    CHECK_INT(ds_edit(ds, "a.png", EDIT_ADD, "x", NULL), 0);
    CHECK_INT(journal_lines(root), 1);
    char *text = fixture_read(root, JOURNAL, NULL);
    CHECK(text && strstr(text, "\"a.txt\"") && strstr(text, "a1, x"));
    free(text);
    CHECK_INT(ds_edit(ds, "b.png", EDIT_ADD, "y", NULL), 0);
    CHECK_INT(journal_lines(root), 2);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_journal_not_started_writes_nothing(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    CHECK_INT(ds_edit(ds, "a.png", EDIT_ADD, "x", NULL), 0);
    CHECK(!fixture_exists(root, ".tagbench"));
    dataset_close(ds);
    fixture_remove(root);
}

static void test_start_and_close_leaves_no_trace(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    journal_start_ok(ds);
    dataset_close(ds);
    CHECK(!fixture_exists(root, ".tagbench"));
    fixture_remove(root);
}

static void test_killed_session_is_pending(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    CHECK(fixture_exists(root, JOURNAL));
    check_file(root, "a.txt", "a1\n"); /* never saved */
    dataset *ds = fixture_open(root, NULL);
    CHECK_INT(pending(ds), 2);
    if (ds) {
        CHECK_INT(ds->n_dirty, 0); /* opening alone replays nothing */
        tg_error err = {{0}};
        CHECK_INT(dataset_journal_start(ds, &err), -1);
        CHECK(strstr(err.msg, "unsaved edits") != NULL);
        CHECK(strstr(err.msg, root) != NULL);
    }
    dataset_close(ds);
    CHECK(fixture_exists(root, JOURNAL)); /* a refused start must not eat the journal */
    fixture_remove(root);
}

static void test_replay_restores_edits_and_save_writes_them(void)
{
    char *root = folder_make();
    session_killed(root, edits_abc);
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.replayed, 3);
    CHECK_INT(rep.conflicts + rep.missing, 0);
    journal_report_free(&rep);
    if (ds) {
        CHECK_STR(tags_of(ds, "a.png"), "a1, mine");
        CHECK_STR(tags_of(ds, "b.png"), "");
        CHECK_STR(tags_of(ds, "c.png"), "new");
        CHECK_INT(ds->n_dirty, 3);
        CHECK_INT(ds_occ(ds, "a1"), 1);
        CHECK_INT(ds_occ(ds, "b1"), 0);
        CHECK_INT(ds_occ(ds, "mine"), 1);
        CHECK_STR(dataset_undo_label(ds), "recover");
    }
    check_file(root, "a.txt", "a1\n"); /* replay edits memory, not files */
    save_report srep;
    CHECK_INT(save(ds, &srep), 0);
    CHECK_INT(srep.written, 3);
    save_report_free(&srep);
    check_file(root, "a.txt", "a1, mine\n");
    check_file(root, "b.txt", "\n");
    check_file(root, "c.txt", "new\n");
    dataset_close(ds);
    CHECK(!fixture_exists(root, ".tagbench"));
    fixture_remove(root);
}

static void test_replayed_edits_survive_a_second_kill(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* the next session replays, then dies too */
        tg_error err = {{0}};
        journal_report rep;
        dataset *ds = dataset_open(root, NULL, &err);
        _exit(ds && dataset_journal_replay(ds, &rep, false, &err) == 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    dataset *ds = fixture_open(root, NULL);
    CHECK_INT(pending(ds), 2);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.replayed, 2);
    journal_report_free(&rep);
    CHECK_STR(tags_of(ds, "a.png"), "a1, mine");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_replay_conflict_keeps_both_versions(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    fixture_write(root, "a.txt", "changed by someone\n");
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.conflicts, 1);
    CHECK_INT(rep.replayed, 1);
    CHECK(rep.n_messages == 1 && strstr(rep.messages[0], "a.txt") &&
          strstr(rep.messages[0], "tagbench-recovered"));
    journal_report_free(&rep);
    check_file(root, "a.txt.tagbench-recovered", "a1, mine\n");
    check_file(root, "a.txt", "changed by someone\n");
    if (ds) {
        CHECK_STR(tags_of(ds, "a.png"), "changed by someone");
        CHECK(!ds->items[ds_find(ds, "a.png")].dirty);
        CHECK_STR(tags_of(ds, "b.png"), "");
        CHECK_INT(ds->n_dirty, 1);
    }
    save_report srep;
    CHECK_INT(save(ds, &srep), 0);
    save_report_free(&srep);
    check_file(root, "a.txt", "changed by someone\n");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_replay_caption_created_meanwhile(void)
{
    char *root = folder_make();
    session_killed(root, edits_abc);
    fixture_write(root, "c.txt", "theirs\n");
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.conflicts, 1);
    CHECK_INT(rep.replayed, 2);
    journal_report_free(&rep);
    check_file(root, "c.txt.tagbench-recovered", "new\n");
    CHECK_STR(tags_of(ds, "c.png"), "theirs");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_replay_image_gone(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    char *img = fixture_path(root, "b.png");
    unlink(img);
    free(img);
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.missing, 1);
    CHECK_INT(rep.replayed, 1);
    journal_report_free(&rep);
    check_file(root, "b.txt.tagbench-recovered", "\n");
    check_file(root, "b.txt", "b1\n");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_discard(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    dataset *ds = fixture_open(root, NULL);
    tg_error err = {{0}};
    CHECK_INT(ds ? dataset_journal_discard(ds, &err) : -1, 0);
    CHECK(!fixture_exists(root, JOURNAL));
    CHECK_INT(pending(ds), 0);
    CHECK_INT(ds ? ds->n_dirty : 1, 0);
    journal_start_ok(ds);
    dataset_close(ds);
    check_file(root, "a.txt", "a1\n");
    check_file(root, "b.txt", "b1\n");
    CHECK(!fixture_exists(root, ".tagbench"));
    ds = fixture_open(root, NULL);
    CHECK_INT(pending(ds), 0);
    CHECK_STR(tags_of(ds, "a.png"), "a1");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_full_save_removes_the_journal(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    journal_start_ok(ds);
    CHECK_INT(ds_edit(ds, "a.png", EDIT_ADD, "x", NULL), 0);
    save_report srep;
    CHECK_INT(save(ds, &srep), 0);
    save_report_free(&srep);
    dataset *other = fixture_open(root, NULL); /* another session sees nothing unsaved */
    CHECK_INT(pending(other), 0);
    dataset_close(other);
    CHECK(!fixture_exists(root, JOURNAL));
    CHECK(!fixture_exists(root, ".tagbench"));
    CHECK_INT(ds_edit(ds, "b.png", EDIT_ADD, "y", NULL), 0); /* journaling goes on */
    CHECK_INT(journal_lines(root), 1);
    CHECK_INT(save(ds, &srep), 0);
    save_report_free(&srep);
    dataset_close(ds);
    CHECK(!fixture_exists(root, ".tagbench"));
    fixture_remove(root);
}

static void test_partial_save_keeps_unsaved_entries(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    journal_start_ok(ds);
    CHECK_INT(ds_edit(ds, "a.png", EDIT_ADD, "x", NULL), 0);
    CHECK_INT(ds_edit(ds, "b.png", EDIT_ADD, "y", NULL), 0);
    fixture_write(root, "a.txt", "someone else\n");
    save_report srep;
    CHECK_INT(save(ds, &srep), 1);
    save_report_free(&srep);
    dataset *other = fixture_open(root, NULL);
    CHECK_INT(pending(other), 1); /* a's edit, not b's (saved) */
    dataset_close(other);
    dataset_close(ds);
    CHECK(fixture_exists(root, JOURNAL));
    fixture_remove(root);
}

static void test_edit_before_journal_start_kept_after_partial_save(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    CHECK_INT(ds_edit(ds, "a.png", EDIT_ADD, "x", NULL), 0);
    journal_start_ok(ds);
    fixture_write(root, "a.txt", "someone else\n");
    save_report srep;
    CHECK_INT(save(ds, &srep), 1); /* "stays an unsaved edit (and in the journal)" */
    save_report_free(&srep);
    dataset *other = fixture_open(root, NULL);
    CHECK_INT(pending(other), 1);
    dataset_close(other);
    dataset_close(ds);
    fixture_remove(root);
}

static void test_torn_last_line_ignored(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    char *path = fixture_path(root, JOURNAL);
    FILE *f = fopen(path, "ab");
    CHECK(f != NULL);
    if (f) {
        fputs("{\"file\":\"c.txt\",\"base\":null,\"te", f);
        fclose(f);
    }
    free(path);
    dataset *ds = fixture_open(root, NULL);
    CHECK_INT(pending(ds), 2);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.replayed, 2);
    CHECK_INT(rep.conflicts + rep.missing, 0);
    journal_report_free(&rep);
    CHECK_STR(tags_of(ds, "a.png"), "a1, mine");
    CHECK_STR(tags_of(ds, "c.png"), "");
    CHECK(!fixture_exists(root, "c.txt"));
    dataset_close(ds);
    fixture_remove(root);
}

/* The session's write of a line was cut short (disk full), then editing went on. */
static int torn_write_then_edit(dataset *ds)
{
    char *path = fixture_path(ds->root, JOURNAL);
    FILE *f = fopen(path, "ab");
    free(path);
    if (!f)
        return -1;
    fputs("{\"file\":\"a.txt\",\"base\":\"00", f);
    fclose(f);
    return ds_edit(ds, "b.png", EDIT_ADD, "after", NULL);
}

static void test_torn_line_does_not_swallow_the_next_entry(void)
{
    char *root = folder_make();
    session_killed(root, torn_write_then_edit);
    dataset *ds = fixture_open(root, NULL);
    CHECK_INT(pending(ds), 1);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    journal_report_free(&rep);
    CHECK_STR(tags_of(ds, "b.png"), "b1, after");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_undone_edit_replays_to_nothing(void)
{
    char *root = folder_make();
    session_killed(root, edit_then_undo);
    CHECK_INT(journal_lines(root), 2);
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.conflicts + rep.missing, 0);
    journal_report_free(&rep);
    CHECK_STR(tags_of(ds, "a.png"), "a1");
    if (ds)
        CHECK_INT(ds->n_dirty, 0);
    save_report srep;
    CHECK_INT(save(ds, &srep), 0);
    CHECK_INT(srep.written, 0);
    save_report_free(&srep);
    dataset_close(ds);
    check_file(root, "a.txt", "a1\n");
    CHECK(!fixture_exists(root, ".tagbench"));
    fixture_remove(root);
}

static void test_replay_then_undo_gives_disk_state(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    journal_report_free(&rep);
    tg_error err = {{0}};
    CHECK_INT(ds ? dataset_undo(ds, &err) : -1, 1);
    CHECK_STR(tags_of(ds, "a.png"), "a1");
    CHECK_STR(tags_of(ds, "b.png"), "b1");
    if (ds)
        CHECK_INT(ds->n_dirty, 0);
    dataset_close(ds);
    fixture_remove(root);
}

static int edits_odd_names(dataset *ds)
{
    return ds_edit(ds, "new\nline.png", EDIT_ADD, "nl", NULL) |
           ds_edit(ds, "esc\x1b[2J.png", EDIT_ADD, "esc", NULL) |
           ds_edit(ds, "caf\xe9.png", EDIT_ADD, "caf\xe9 \"quoted\" \\", NULL);
}

static void test_replay_odd_file_names_and_text(void)
{
    char *root = fixture_make();
    fixture_write(root, "new\nline.png", PNG);
    fixture_write(root, "new\nline.txt", "a\n");
    fixture_write(root, "esc\x1b[2J.png", PNG);
    fixture_write(root, "esc\x1b[2J.txt", "\xef\xbb\xbf" "b\r\nrest\x01\r\n");
    fixture_write(root, "caf\xe9.png", PNG); /* a name that is not UTF-8 */
    session_killed(root, edits_odd_names);
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    CHECK_INT(rep.replayed, 3);
    CHECK_INT(rep.conflicts + rep.missing, 0);
    journal_report_free(&rep);
    save_report srep;
    CHECK_INT(save(ds, &srep), 0);
    save_report_free(&srep);
    check_file(root, "new\nline.txt", "a, nl\n");
    check_file(root, "esc\x1b[2J.txt", "\xef\xbb\xbf" "b, esc\r\nrest\x01\r\n");
    check_file(root, "caf\xe9.txt", "caf\xe9 \"quoted\" \\\n");
    dataset_close(ds);
    fixture_remove(root);
}

static void test_pending_ignores_own_journal(void)
{
    char *root = folder_make();
    dataset *ds = fixture_open(root, NULL);
    journal_start_ok(ds);
    CHECK_INT(ds_edit(ds, "a.png", EDIT_ADD, "x", NULL), 0);
    CHECK_INT(pending(ds), 0); /* "left by an earlier session": this one's own edits are not */
    dataset_close(ds);
    fixture_remove(root);
}

static void test_second_replay_keeps_journaling(void)
{
    char *root = folder_make();
    session_killed(root, edits_ab);
    dataset *ds = fixture_open(root, NULL);
    journal_report rep;
    CHECK_INT(replay(ds, &rep), 0);
    journal_report_free(&rep);
    if (pending(ds) > 0) { /* a caller that trusts pending would replay again */
        CHECK_INT(replay(ds, &rep), 0);
        journal_report_free(&rep);
    }
    CHECK_INT(ds_edit(ds, "c.png", EDIT_ADD, "later", NULL), 0);
    CHECK(fixture_exists(root, JOURNAL));
    char *text = fixture_read(root, JOURNAL, NULL); /* what a crash now would leave */
    CHECK(text && strstr(text, "later") && strstr(text, "a1, mine"));
    free(text);
    dataset_close(ds);
    fixture_remove(root);
}

int main(void)
{
    RUN(test_edits_are_journaled_as_they_happen);
    RUN(test_journal_not_started_writes_nothing);
    RUN(test_start_and_close_leaves_no_trace);
    RUN(test_killed_session_is_pending);
    RUN(test_replay_restores_edits_and_save_writes_them);
    RUN(test_replayed_edits_survive_a_second_kill);
    RUN(test_replay_conflict_keeps_both_versions);
    RUN(test_replay_caption_created_meanwhile);
    RUN(test_replay_image_gone);
    RUN(test_discard);
    RUN(test_full_save_removes_the_journal);
    RUN(test_partial_save_keeps_unsaved_entries);
    RUN(test_edit_before_journal_start_kept_after_partial_save);
    RUN(test_torn_last_line_ignored);
    RUN(test_torn_line_does_not_swallow_the_next_entry);
    RUN(test_undone_edit_replays_to_nothing);
    RUN(test_replay_then_undo_gives_disk_state);
    RUN(test_replay_odd_file_names_and_text);
    RUN(test_pending_ignores_own_journal);
    RUN(test_second_replay_keeps_journaling);
    return check_finish();
}
