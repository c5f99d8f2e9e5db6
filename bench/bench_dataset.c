/* bench_dataset: the dataset targets, measured on a synthetic kohya-style dataset of
 * 100,000 captions (bench/synth.h) that this program writes into a temporary folder:
 *   open <= 1 s, full occurrence <= 50 ms, rename one tag everywhere + save <= 2 s, memory <= 200 MB.
 * It reports figures and never fails on time; it exits non-zero only when something breaks: an
 * API error, or a wrong result (occurrence that disagrees with what was generated, a rename that
 * did not reach every caption, a save or an undo that left a caption different from expected).
 *
 * Times are CLOCK_MONOTONIC, best and median of a few repetitions, with a warm page cache (the
 * files were just written; dropping the cache needs root). Checks that open a second copy of the
 * dataset run in a forked child so that they do not inflate the peak RSS we report. */
#include <cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "bench/synth.h"
#include "tagger/dataset.h"
#include "tagger/edit.h"
#include "tagger/journal.h"
#include "tagger/occurrence.h"
#include "tagger/save.h"

#define MAX_REPS 64

typedef struct opts {
    size_t images;
    int reps; /* 0: the defaults below */
    bool keep, json, generate_only;
} opts;

typedef struct samples {
    double v[MAX_REPS];
    int n;
} samples;

typedef enum unit { U_SECONDS, U_BYTES } unit;

typedef struct metric {
    const char *key, *label, *target;
    unit u;
    samples s;
} metric;

/* The journaled rename metrics mirror the plain ones, five apart (see rename_round). */
enum {
    M_GENERATE, M_CAPTION_BYTES, M_OPEN,
    M_OCC_ALL, M_OCC_FOLDERS, M_OCC_JSON_BUILD, M_OCC_JSON_PRINT, M_OCC_FULL, M_OCC_KOHYA,
    M_APPLY, M_SAVE, M_APPLY_SAVE, M_UNDO, M_UNDO_SAVE,
    M_J_APPLY, M_J_SAVE, M_J_APPLY_SAVE, M_J_UNDO, M_J_UNDO_SAVE,
    M_RSS_BEFORE, M_RSS_DATASET, M_RSS_PEAK_OPEN, M_RSS_PEAK_END,
    M_COUNT
};
_Static_assert(M_J_APPLY - M_APPLY == 5, "journaled metrics must mirror the plain ones");

static const metric metric_defs[M_COUNT] = {
    [M_GENERATE] = {"generate_s", "generate the dataset (setup)", "-", U_SECONDS},
    [M_CAPTION_BYTES] = {"caption_bytes", "caption data on disk", "-", U_BYTES},
    [M_OPEN] = {"open_s", "open: dataset_open", "<= 1 s", U_SECONDS},
    [M_OCC_ALL] = {"occ_all_s", "occurrence: all folders, by count", "<= 50 ms", U_SECONDS},
    [M_OCC_FOLDERS] = {"occ_folders_s", "occurrence: every folder, by count", "-", U_SECONDS},
    [M_OCC_JSON_BUILD] = {"occ_json_build_s", "occurrence: by-folder JSON, build", "-", U_SECONDS},
    [M_OCC_JSON_PRINT] = {"occ_json_print_s", "occurrence: by-folder JSON, print", "-", U_SECONDS},
    [M_OCC_FULL] = {"occ_full_s", "occurrence: all four above together", "<= 50 ms", U_SECONDS},
    [M_OCC_KOHYA] = {"occ_kohya_s", "occurrence: kohya ss_tag_frequency JSON", "-", U_SECONDS},
    [M_APPLY] = {"rename_apply_s", "rename everywhere: apply", "-", U_SECONDS},
    [M_SAVE] = {"rename_save_s", "rename everywhere: save", "-", U_SECONDS},
    [M_APPLY_SAVE] = {"rename_total_s", "rename everywhere: apply + save", "<= 2 s", U_SECONDS},
    [M_UNDO] = {"undo_s", "undo the rename: in memory", "-", U_SECONDS},
    [M_UNDO_SAVE] = {"undo_save_s", "undo the rename: save", "-", U_SECONDS},
    [M_J_APPLY] = {"j_rename_apply_s", "journaled rename: apply (+ journal)", "-", U_SECONDS},
    [M_J_SAVE] = {"j_rename_save_s", "journaled rename: save", "-", U_SECONDS},
    [M_J_APPLY_SAVE] = {"j_rename_total_s", "journaled rename: apply + save", "<= 2 s", U_SECONDS},
    [M_J_UNDO] = {"j_undo_s", "journaled undo: in memory (+ journal)", "-", U_SECONDS},
    [M_J_UNDO_SAVE] = {"j_undo_save_s", "journaled undo: save", "-", U_SECONDS},
    [M_RSS_BEFORE] = {"rss_before_open_bytes", "RSS before open (generator state)", "-", U_BYTES},
    [M_RSS_DATASET] = {"rss_dataset_bytes", "RSS held by the open dataset", "-", U_BYTES},
    [M_RSS_PEAK_OPEN] = {"peak_rss_open_bytes", "peak RSS after open", "<= 200 MB", U_BYTES},
    [M_RSS_PEAK_END] = {"peak_rss_end_bytes", "peak RSS at the end", "<= 200 MB", U_BYTES},
};

typedef struct bench {
    opts o;
    int open_reps, occ_reps, rename_reps;
    synth s;
    dataset *ds;
    uint32_t from;                  /* rank of the tag renamed everywhere */
    char to[SYNTH_NAME_MAX];        /* its new name */
    metric m[M_COUNT];
    int failures;                   /* wrong results; an API error stops the run instead */
} bench;

static void sample_add(bench *b, int m, double v)
{
    samples *s = &b->m[m].s;
    if (s->n < MAX_REPS)
        s->v[s->n++] = v;
}

/* Best (minimum) and median; the samples keep their run order (the JSON line shows it). */
static void samples_stats(const samples *s, double *best, double *median)
{
    samples t = *s;
    qsort(t.v, (size_t)t.n, sizeof t.v[0], bench_cmp_double);
    *best = t.n ? t.v[0] : 0;
    *median = !t.n ? 0 : t.n % 2 ? t.v[t.n / 2] : (t.v[t.n / 2 - 1] + t.v[t.n / 2]) / 2;
}

static void failf(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(bench *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_dataset: WRONG RESULT: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    b->failures++;
}

static int api_error(const char *what, const tg_error *err)
{
    fprintf(stderr, "bench_dataset: %s failed: %s\n", what, err ? err->msg : "out of memory");
    return -1;
}

/* ---- memory ---- */

static double rss_current(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = 0;
    if (f)
        fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double rss_peak(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss * 1024.0; /* Linux reports KiB */
}

/* ---- lookups and checks ---- */

/* Images carrying the tag of this text (0 if the dataset has no such tag). A linear scan: only
 * checks call it, never a timed section. */
static uint32_t tag_count(const dataset *ds, const char *text)
{
    for (uint32_t t = 0; t < ds->tags.n; t++)
        if (strcmp(dataset_tag_text(ds, t), text) == 0)
            return dataset_occurrence(ds, t);
    return 0;
}

static uint32_t ds_folder_index(const dataset *ds, size_t synth_folder)
{
    char name[SYNTH_NAME_MAX];
    synth_folder_name(synth_folder, name, sizeof name);
    for (uint32_t f = 0; f < ds->n_folders; f++)
        if (strcmp(ds->folders[f].rel, name) == 0)
            return f;
    return UINT32_MAX;
}

typedef struct named {
    const char *name;
    uint32_t count;
} named;

static int named_cmp(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Occurrence of one folder (or all) against the generator's own counts, tag by tag. */
static bool occurrence_matches(const bench *b, uint32_t folder, const uint32_t *counts)
{
    named *want = malloc(sizeof *want * SYNTH_VOCAB);
    size_t nw = 0, n = 0;
    occ_entry *got = occurrence_list(b->ds, folder, OCC_BY_NAME, &n);
    for (uint32_t r = 0; want && r < SYNTH_VOCAB; r++)
        if (counts[r])
            want[nw++] = (named){b->s.vocab[r], counts[r]};
    bool ok = want && got && n == nw;
    if (ok)
        qsort(want, nw, sizeof *want, named_cmp);
    for (size_t k = 0; ok && k < n; k++)
        ok = got[k].count == want[k].count && strcmp(dataset_tag_text(b->ds, got[k].tag), want[k].name) == 0;
    free(want);
    free(got);
    return ok;
}

/* What open must give: every image, no notes, and the generator's occurrence counts. */
static void check_open(bench *b)
{
    const dataset *ds = b->ds;
    if (ds->n_items != b->s.n_images || ds->n_notes != 0)
        failf(b, "open found %zu images and %zu notes; expected %zu and none", ds->n_items,
              ds->n_notes, b->s.n_images);
    if (!occurrence_matches(b, OCC_ALL_FOLDERS, b->s.count))
        failf(b, "occurrence over all folders differs from the generated counts");
    for (size_t f = 0; f < b->s.n_folders; f++) {
        uint32_t df = ds_folder_index(ds, f);
        if (df == UINT32_MAX || !occurrence_matches(b, df, b->s.folder_count + f * SYNTH_VOCAB))
            failf(b, "occurrence of folder %zu differs from the generated counts", f);
    }
}

static int read_small(const char *path, char *buf, size_t size, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, buf, size) : -1;
    if (fd >= 0)
        close(fd);
    *len = r > 0 ? (size_t)r : 0;
    return r < 0 ? -1 : 0;
}

/* Every caption file, byte for byte, against the text it should have now. Returns mismatches. */
static size_t captions_mismatched(const synth *s, uint32_t from, const char *to)
{
    char *want = malloc(SYNTH_TEXT_MAX), *got = malloc(SYNTH_TEXT_MAX), path[PATH_MAX];
    size_t bad = 0;
    for (size_t i = 0; want && got && i < s->n_images; i++) {
        synth_caption c;
        synth_caption_of(s, i, &c);
        size_t wl = synth_text(s, &c, from, to, want), gl;
        synth_file_path(s, i, ".txt", path, sizeof path);
        if (read_small(path, got, SYNTH_TEXT_MAX, &gl) == 0 && gl == wl && memcmp(got, want, wl) == 0)
            continue;
        if (bad++ < 3)
            fprintf(stderr, "bench_dataset: %s: not the expected text \"%.*s\"\n", path, (int)wl, want);
    }
    free(want);
    free(got);
    return want && got ? bad : s->n_images;
}

/* Child side of check_on_disk: the files as a fresh reader sees them. 0 when all is as expected. */
static int disk_state_ok(const bench *b, bool renamed)
{
    size_t bad = captions_mismatched(&b->s, renamed ? b->from : SYNTH_VOCAB, b->to);
    tg_error err;
    dataset *ds = dataset_open(b->s.root, NULL, &err);
    if (!ds)
        return api_error("re-open", &err);
    uint32_t n = b->s.count[b->from];
    uint32_t got_from = tag_count(ds, b->s.vocab[b->from]), got_to = tag_count(ds, b->to);
    bool ok = bad == 0 && ds->n_items == b->s.n_images && got_from == (renamed ? 0 : n) &&
              got_to == (renamed ? n : 0);
    if (!ok)
        fprintf(stderr, "bench_dataset: re-open: %zu captions differ; \"%s\" on %u, \"%s\" on %u "
                "images (expected %u and %u)\n", bad, b->s.vocab[b->from], got_from, b->to,
                got_to, renamed ? 0 : n, renamed ? n : 0);
    dataset_close(ds);
    return ok ? 0 : -1;
}

/* Child side of rename_apply's journal check: a second session finds every renamed caption
 * pending (what crash recovery relies on). */
static int journal_state_ok(const bench *b, bool unused)
{
    (void)unused;
    tg_error err;
    dataset *ds = dataset_open(b->s.root, NULL, &err);
    long pending = ds ? dataset_journal_pending(ds, &err) : -1;
    dataset_close(ds);
    if (pending != (long)b->s.count[b->from])
        fprintf(stderr, "bench_dataset: journal holds %ld pending captions, expected %u (%s)\n",
                pending, b->s.count[b->from], pending < 0 ? err.msg : "");
    return pending == (long)b->s.count[b->from] ? 0 : -1;
}

/* Runs a check in a forked child: its second copy of the dataset stays out of our peak RSS. */
static bool check_in_child(const bench *b, int (*check)(const bench *, bool), bool arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(check(b, arg) == 0 ? 0 : 1);
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---- the timed sections ---- */

static int bench_generate(bench *b)
{
    double t = bench_now();
    if (synth_generate(&b->s, b->o.images) < 0) {
        fprintf(stderr, "bench_dataset: cannot write the dataset under %s: %s\n",
                b->s.root ? b->s.root : "$TMPDIR", strerror(errno));
        return -1;
    }
    sample_add(b, M_GENERATE, bench_now() - t);
    sample_add(b, M_CAPTION_BYTES, (double)b->s.caption_bytes);
    return 0;
}

static int bench_open(bench *b)
{
    sample_add(b, M_RSS_BEFORE, rss_current());
    for (int r = 0; r < b->open_reps; r++) {
        dataset_close(b->ds); /* the last open stays for the sections that follow */
        tg_error err;
        double t = bench_now();
        b->ds = dataset_open(b->s.root, NULL, &err);
        double d = bench_now() - t;
        if (!b->ds)
            return api_error("dataset_open", &err);
        sample_add(b, M_OPEN, d);
    }
    sample_add(b, M_RSS_DATASET, rss_current() - b->m[M_RSS_BEFORE].s.v[0]);
    sample_add(b, M_RSS_PEAK_OPEN, rss_peak());
    check_open(b);
    return 0;
}

/* One round of every occurrence reader the tools use: the Tags screen's list, one list per
 * folder, and `tags --by-folder --json` (ours, without kohya's rules). Returns 0 or -1. */
static int occurrence_round(bench *b)
{
    double t0 = bench_now(), t[4];
    size_t n, total = 0;
    occ_entry *e = occurrence_list(b->ds, OCC_ALL_FOLDERS, OCC_BY_COUNT, &n);
    t[0] = bench_now() - t0;
    bool ok = e != NULL;
    free(e);
    t0 = bench_now();
    for (uint32_t f = 0; ok && f < b->ds->n_folders; f++) {
        occ_entry *fe = b->ds->folders[f].n_items ? occurrence_list(b->ds, f, OCC_BY_COUNT, &n) : NULL;
        ok = fe || !b->ds->folders[f].n_items;
        total += fe ? n : 0;
        free(fe);
    }
    t[1] = bench_now() - t0;
    t0 = bench_now();
    cJSON *j = occurrence_by_folder(b->ds, false, OCC_BY_COUNT);
    t[2] = bench_now() - t0;
    t0 = bench_now();
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    t[3] = bench_now() - t0;
    ok = ok && text && cJSON_GetArraySize(j) == (int)b->s.n_folders;
    free(text);
    cJSON_Delete(j);
    for (int k = 0; k < 4; k++)
        sample_add(b, M_OCC_ALL + k, t[k]);
    sample_add(b, M_OCC_FULL, t[0] + t[1] + t[2] + t[3]);
    return ok && total ? 0 : api_error("occurrence", NULL);
}

/* kohya's counts re-split every caption's text; timed once, as the trainer does it once a run. */
static int occurrence_kohya(bench *b)
{
    double t = bench_now();
    cJSON *j = occurrence_by_folder(b->ds, true, OCC_BY_COUNT);
    sample_add(b, M_OCC_KOHYA, bench_now() - t);
    char folder[SYNTH_NAME_MAX]; /* kohya keys by the folder's own name, "N_name" */
    synth_folder_name(0, folder, sizeof folder);
    cJSON *f = j ? cJSON_GetObjectItemCaseSensitive(j, folder) : NULL;
    cJSON *c = f ? cJSON_GetObjectItemCaseSensitive(f, b->s.vocab[0]) : NULL;
    if (!j)
        return api_error("occurrence_by_folder (kohya)", NULL);
    if (!cJSON_IsNumber(c) || c->valuedouble != b->s.folder_count[0])
        failf(b, "kohya ss_tag_frequency of \"%s\" in %s is not %u", b->s.vocab[0], folder,
              b->s.folder_count[0]);
    cJSON_Delete(j);
    return 0;
}

static int bench_occurrence(bench *b)
{
    for (int r = 0; r < b->occ_reps; r++)
        if (occurrence_round(b) < 0)
            return -1;
    return occurrence_kohya(b);
}

/* The tag closest to 30% of captions, among multi-word ones, renamed to its underscore form:
 * the booru spelling ("open mouth" -> "open_mouth"), the commonest rename people do. */
static void choose_rename(bench *b)
{
    double goal = 0.3 * (double)b->s.n_images, best = -1;
    for (uint32_t r = 0; r < SYNTH_VOCAB; r++) {
        double miss = b->s.count[r] > goal ? b->s.count[r] - goal : goal - b->s.count[r];
        if (strchr(b->s.vocab[r], ' ') && b->s.count[r] && (best < 0 || miss < best)) {
            best = miss;
            b->from = r;
        }
    }
    snprintf(b->to, sizeof b->to, "%s", b->s.vocab[b->from]);
    for (char *p = b->to; *p; p++)
        *p = *p == ' ' ? '_' : *p;
}

/* dataset_save, timed; every edited caption must be written. */
static int save_timed(bench *b, size_t want, double *secs)
{
    save_report rep;
    tg_error err;
    double t = bench_now();
    int rc = dataset_save(b->ds, &rep, &err);
    *secs = bench_now() - t;
    if (rc != 0 || rep.written != want)
        failf(b, "save wrote %zu of %zu captions (rc %d, %zu conflicts, %zu failed: %s)",
              rep.written, want, rc, rep.conflicts, rep.failed,
              rc < 0 ? err.msg : rep.n_messages ? rep.messages[0] : "");
    if (rc >= 0)
        save_report_free(&rep);
    return rc < 0 ? -1 : 0;
}

/* In memory, the whole dataset must show the tag under one name only. */
static void check_counts(bench *b, const char *when, bool renamed)
{
    uint32_t n = b->s.count[b->from];
    uint32_t a = tag_count(b->ds, b->s.vocab[b->from]), c = tag_count(b->ds, b->to);
    if (a != (renamed ? 0 : n) || c != (renamed ? n : 0))
        failf(b, "after %s: \"%s\" on %u images, \"%s\" on %u (expected %u and %u)", when,
              b->s.vocab[b->from], a, b->to, c, renamed ? 0 : n, renamed ? n : 0);
}

static int rename_apply(bench *b, int base, bool check)
{
    size_t nsel, want = b->s.count[b->from];
    uint32_t *sel = dataset_select_all(b->ds, &nsel);
    edit_op op;
    edit_result res;
    tg_error err;
    if (!sel || edit_op_init(&op, EDIT_RENAME, b->s.vocab[b->from], b->to, 0, &err) < 0) {
        free(sel);
        return api_error("rename setup", sel ? &err : NULL);
    }
    double t = bench_now();
    int rc = dataset_apply(b->ds, &op, 1, sel, nsel, "rename", &res, &err);
    double apply = bench_now() - t;
    edit_op_free(&op);
    free(sel);
    if (rc < 0)
        return api_error("dataset_apply", &err);
    if (res.changed != want)
        failf(b, "rename changed %zu captions, expected %zu", res.changed, want);
    check_counts(b, "rename", true);
    if (check && b->ds->jr && !check_in_child(b, journal_state_ok, false))
        failf(b, "the journal does not hold the rename");
    double save;
    if (save_timed(b, want, &save) < 0)
        return -1;
    sample_add(b, base + 0, apply);
    sample_add(b, base + 1, save);
    sample_add(b, base + 2, apply + save);
    return 0;
}

static int rename_undo(bench *b, int base)
{
    tg_error err;
    double t = bench_now();
    int rc = dataset_undo(b->ds, &err);
    double undo = bench_now() - t, save;
    if (rc != 1)
        return rc < 0 ? api_error("dataset_undo", &err) : (failf(b, "nothing to undo"), -1);
    check_counts(b, "undo", false);
    if (save_timed(b, b->s.count[b->from], &save) < 0)
        return -1;
    sample_add(b, base + 3, undo);
    sample_add(b, base + 4, save);
    return 0;
}

/* Rename everywhere + save, then undo + save (which puts every file back as generated, ready for
 * the next round). The first round checks the files on disk after each save. */
static int bench_rename(bench *b, bool journaled)
{
    tg_error err;
    if (journaled && dataset_journal_start(b->ds, &err) < 0)
        return api_error("dataset_journal_start", &err);
    int base = journaled ? M_J_APPLY : M_APPLY;
    for (int r = 0; r < b->rename_reps; r++) {
        if (rename_apply(b, base, r == 0) < 0)
            return -1;
        if (r == 0 && !check_in_child(b, disk_state_ok, true))
            failf(b, "after the rename was saved, the files are not as expected");
        if (rename_undo(b, base) < 0)
            return -1;
        if (r == 0 && !check_in_child(b, disk_state_ok, false))
            failf(b, "after the undo was saved, the files are not as generated");
    }
    return 0;
}

/* ---- report ---- */

static void fmt_value(unit u, double v, char *out, size_t size)
{
    if (u == U_BYTES)
        snprintf(out, size, "%.1f MB", v / 1e6);
    else if (v < 1e-3)
        snprintf(out, size, "%.0f us", v * 1e6);
    else if (v < 1)
        snprintf(out, size, "%.1f ms", v * 1e3);
    else
        snprintf(out, size, "%.3f s", v);
}

static void print_header(FILE *out, const bench *b)
{
    uint32_t n = b->s.count[b->from];
    fprintf(out, "tagbench dataset benchmark: %zu captions in %zu N_name folders, %d-%d tags each "
            "from %d (Zipf, s=1), %.1f%% CRLF\n", b->s.n_images, b->s.n_folders, SYNTH_MIN_TAGS,
            SYNTH_MAX_TAGS, SYNTH_VOCAB, 100.0 * (double)b->s.crlf_captions / (double)b->s.n_images);
    fprintf(out, "renamed everywhere: \"%s\" -> \"%s\", on %u captions (%.1f%%); %ld CPUs online; "
            "warm page cache\n", b->s.vocab[b->from], b->to, n, 100.0 * n / (double)b->s.n_images,
            sysconf(_SC_NPROCESSORS_ONLN));
    fprintf(out, "measured = best of n, CLOCK_MONOTONIC; MB = 10^6 bytes; targets are not pass/fail\n\n");
}

static void print_table(FILE *out, bench *b)
{
    print_header(out, b);
    fprintf(out, "%-42s %10s %10s %3s  %s\n", "metric", "measured", "median", "n", "target");
    for (int k = 0; k < M_COUNT; k++) {
        metric *m = &b->m[k];
        if (!m->s.n)
            continue;
        double best, median;
        char bs[32], ms[32] = "";
        samples_stats(&m->s, &best, &median);
        fmt_value(m->u, best, bs, sizeof bs);
        if (m->s.n > 1)
            fmt_value(m->u, median, ms, sizeof ms);
        fprintf(out, "%-42s %10s %10s %3d  %s\n", m->label, bs, ms, m->s.n, m->target);
    }
}

static void print_json(bench *b)
{
    cJSON *o = cJSON_CreateObject(), *ms = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bench", "dataset");
    cJSON_AddNumberToObject(o, "images", (double)b->s.n_images);
    cJSON_AddNumberToObject(o, "folders", (double)b->s.n_folders);
    cJSON_AddNumberToObject(o, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(o, "rename_from", b->s.vocab[b->from]);
    cJSON_AddNumberToObject(o, "rename_captions", b->s.count[b->from]);
    for (int k = 0; k < M_COUNT; k++) {
        double best, median;
        if (!b->m[k].s.n)
            continue;
        samples_stats(&b->m[k].s, &best, &median);
        cJSON *v = cJSON_AddObjectToObject(ms, b->m[k].key);
        cJSON_AddNumberToObject(v, "best", best);
        cJSON_AddNumberToObject(v, "median", median);
        cJSON_AddNumberToObject(v, "n", b->m[k].s.n);
        if (b->m[k].s.n > 1) /* in run order: later saves on ext4 can be slower than the first */
            cJSON_AddItemToObject(v, "runs", cJSON_CreateDoubleArray(b->m[k].s.v, b->m[k].s.n));
    }
    cJSON_AddItemToObject(o, "metrics", ms);
    cJSON_AddNumberToObject(o, "wrong_results", b->failures);
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        puts(s);
    free(s);
    cJSON_Delete(o);
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_dataset [--images N] [--reps N] [--keep] [--json] [--generate-only]\n"
            "  --images N       captions (and images) to generate (default 100000)\n"
            "  --reps N         repetitions of each timed step (default: open 5, occurrence 20,\n"
            "                   rename 3; N sets open and rename to N, occurrence to 4N)\n"
            "  --keep           leave the dataset in place (its path goes to stderr)\n"
            "  --json           one JSON line on stdout; the table goes to stderr\n"
            "  --generate-only  write the dataset, print its path on stdout, keep it, time nothing\n");
}

static int opts_parse(int argc, char **argv, opts *o)
{
    *o = (opts){.images = 100000};
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--images") && i + 1 < argc)
            o->images = strtoul(argv[++i], &end, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            o->reps = (int)strtol(argv[++i], &end, 10);
        else if (!strcmp(argv[i], "--keep"))
            o->keep = true;
        else if (!strcmp(argv[i], "--json"))
            o->json = true;
        else if (!strcmp(argv[i], "--generate-only"))
            o->generate_only = o->keep = true;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout), 1;
        else
            return usage(stderr), 2;
        if (end && (*end || o->images < 1 || o->images > 10000000 || o->reps < 0 || o->reps > MAX_REPS / 4))
            return fprintf(stderr, "bench_dataset: bad value \"%s\"\n", argv[i]), 2;
    }
    return 0;
}

static int run_all(bench *b)
{
    if (bench_open(b) < 0 || bench_occurrence(b) < 0)
        return -1;
    choose_rename(b);
    if (bench_rename(b, false) < 0 || bench_rename(b, true) < 0)
        return -1;
    sample_add(b, M_RSS_PEAK_END, rss_peak());
    return 0;
}

int main(int argc, char **argv)
{
    static bench b; /* large (sample arrays): keep it off the stack */
    int rc = opts_parse(argc, argv, &b.o);
    if (rc)
        return rc == 1 ? 0 : rc;
    memcpy(b.m, metric_defs, sizeof b.m);
    b.open_reps = b.o.reps ? b.o.reps : 5;
    b.occ_reps = b.o.reps ? 4 * b.o.reps : 20;
    b.rename_reps = b.o.reps ? b.o.reps : 3;
    rc = bench_generate(&b);
    if (rc == 0 && b.o.generate_only)
        printf("%s\n", b.s.root);
    else if (rc == 0)
        rc = run_all(&b);
    dataset_close(b.ds);
    if (!b.o.generate_only && b.m[M_OPEN].s.n) {
        print_table(b.o.json ? stderr : stdout, &b);
        if (b.o.json)
            print_json(&b);
    }
    if (b.s.root && b.o.keep)
        fprintf(stderr, "dataset kept at %s\n", b.s.root);
    else if (b.s.root && synth_remove(&b.s) < 0)
        fprintf(stderr, "bench_dataset: could not remove %s: %s\n", b.s.root, strerror(errno));
    synth_free(&b.s);
    if (b.failures)
        fprintf(stderr, "bench_dataset: %d wrong result(s)\n", b.failures);
    return rc < 0 || b.failures ? 1 : 0;
}
