/* Dataset folders for unit tests: a fresh mkdtemp folder, files written into it (parents made as
 * needed), files read back, and the whole tree removed at the end (even folders a test made
 * unreadable). Plus a few lookups into an open dataset by file name and tag text. */
#ifndef TESTS_FIXTURE_H
#define TESTS_FIXTURE_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/check.h"
#include "tagger/dataset.h"
#include "tagger/edit.h"

/* root + "/" + rel, malloc'd. */
static inline char *fixture_path(const char *root, const char *rel)
{
    size_t n = strlen(root) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", root, rel);
    return p;
}

/* A new empty folder under $TMPDIR (or /tmp); malloc'd path, NULL on failure. */
static inline char *fixture_make(void)
{
    const char *tmp = getenv("TMPDIR");
    char *root = fixture_path(tmp && *tmp ? tmp : "/tmp", "tagbench-test-XXXXXX");
    if (root && !mkdtemp(root)) {
        perror("mkdtemp");
        free(root);
        return NULL;
    }
    return root;
}

/* mkdir -p root/rel. */
static inline int fixture_mkdir(const char *root, const char *rel)
{
    char *p = fixture_path(root, rel);
    if (!p)
        return -1;
    for (char *s = p + strlen(root) + 1; ; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            perror(p);
            free(p);
            return -1;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return 0;
}

/* Writes root/rel with exactly bytes[0..len), making its folders. */
static inline int fixture_write_bytes(const char *root, const char *rel, const char *bytes, size_t len)
{
    const char *slash = strrchr(rel, '/');
    if (slash) {
        char *dir = strndup(rel, (size_t)(slash - rel));
        int rc = dir ? fixture_mkdir(root, dir) : -1;
        free(dir);
        if (rc < 0)
            return -1;
    }
    char *p = fixture_path(root, rel);
    FILE *f = p ? fopen(p, "wb") : NULL;
    int rc = f && fwrite(bytes, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    if (rc < 0)
        perror(p ? p : rel);
    free(p);
    return rc;
}

static inline int fixture_write(const char *root, const char *rel, const char *text)
{
    return fixture_write_bytes(root, rel, text, strlen(text));
}

/* The bytes of root/rel, malloc'd and NUL-terminated, length in *len; NULL if it cannot be read. */
static inline char *fixture_read(const char *root, const char *rel, size_t *len)
{
    char *p = fixture_path(root, rel);
    FILE *f = p ? fopen(p, "rb") : NULL;
    free(p);
    if (!f)
        return NULL;
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static inline bool fixture_exists(const char *root, const char *rel)
{
    char *p = fixture_path(root, rel);
    struct stat st;
    bool ok = p && lstat(p, &st) == 0;
    free(p);
    return ok;
}

static inline int fixture_stat(const char *root, const char *rel, struct stat *st)
{
    char *p = fixture_path(root, rel);
    int rc = p ? stat(p, st) : -1;
    free(p);
    return rc;
}

static inline int fixture_chmod(const char *root, const char *rel, mode_t mode)
{
    char *p = fixture_path(root, rel);
    int rc = p ? chmod(p, mode) : -1;
    free(p);
    return rc;
}

/* Number of entries anywhere under dir whose name contains needle (symlinks not followed). */
static inline int fixture_count_named(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        count += strstr(e->d_name, needle) != NULL;
        char *sub = fixture_path(dir, e->d_name);
        struct stat st;
        if (sub && lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            count += fixture_count_named(sub, needle);
        free(sub);
    }
    closedir(d);
    return count;
}

/* rm -rf path, making unreadable folders readable first. */
static inline void fixture_remove_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0700);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *sub = fixture_path(path, e->d_name);
        if (sub)
            fixture_remove_path(sub);
        free(sub);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/* Removes the fixture tree and frees its path. */
static inline void fixture_remove(char *root)
{
    if (root)
        fixture_remove_path(root);
    free(root);
}

/* ---- lookups into an open dataset ---- */

/* Index of the item whose image is rel, or -1. */
static inline long ds_find(const dataset *ds, const char *image_rel)
{
    for (size_t i = 0; i < ds->n_items; i++)
        if (strcmp(ds->items[i].image, image_rel) == 0)
            return (long)i;
    return -1;
}

/* The item's current tags joined by ", " into buf (for CHECK_STR); "(none)" for a missing item. */
static inline const char *ds_tags(const dataset *ds, long i, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    if (i < 0 || (size_t)i >= ds->n_items)
        return "(none)";
    const ds_item *it = &ds->items[i];
    for (uint32_t k = 0; k < it->n_tags; k++)
        n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", k ? ", " : "",
                              dataset_tag(ds, it, k));
    return buf;
}

/* Images carrying tag (0 for a tag the dataset never saw). */
static inline uint32_t ds_occ(const dataset *ds, const char *tag)
{
    uint32_t id = dict_find(&ds->tags, tag, strlen(tag));
    return id == DICT_NONE ? 0 : dataset_occurrence(ds, id);
}

/* Index of the folder whose path relative to the root is rel, or -1. */
static inline long ds_folder_at(const dataset *ds, const char *rel)
{
    for (size_t f = 0; f < ds->n_folders; f++)
        if (strcmp(ds->folders[f].rel, rel) == 0)
            return (long)f;
    return -1;
}

static inline uint32_t ds_folder_occ(const dataset *ds, const char *folder_rel, const char *tag)
{
    uint32_t id = dict_find(&ds->tags, tag, strlen(tag));
    long f = ds_folder_at(ds, folder_rel);
    return id == DICT_NONE || f < 0 ? 0 : dataset_folder_occurrence(ds, (uint32_t)f, id);
}

/* A note about path (of any kind) whose reason contains needle (NULL: any reason), or NULL. */
static inline const ds_note *ds_note_find(const dataset *ds, const char *path, const char *needle)
{
    for (size_t k = 0; k < ds->n_notes; k++)
        if (strcmp(ds->notes[k].path, path) == 0 && (!needle || strstr(ds->notes[k].reason, needle)))
            return &ds->notes[k];
    return NULL;
}

/* Applies one operation (a, b as edit_op_init takes them) to the item whose image is image_rel,
 * as one undoable step labelled "edit"; 0, or -1 with the reason printed. */
static inline int ds_edit(dataset *ds, const char *image_rel, edit_kind kind, const char *a,
                          const char *b)
{
    long i = ds ? ds_find(ds, image_rel) : -1;
    if (i < 0) {
        fprintf(stderr, "    no item %s\n", image_rel);
        return -1;
    }
    edit_op op;
    tg_error err = {{0}};
    uint32_t sel = (uint32_t)i;
    int rc = edit_op_init(&op, kind, a, b, 0, &err);
    if (rc == 0)
        rc = dataset_apply(ds, &op, 1, &sel, 1, "edit", NULL, &err);
    if (rc < 0)
        fprintf(stderr, "    editing %s: %s\n", image_rel, err.msg);
    edit_op_free(&op);
    return rc;
}

/* Opens a dataset, counting a failure as a failed check (with the reason on stderr). */
static inline dataset *fixture_open(const char *root, const dataset_opts *opts)
{
    tg_error err = {{0}};
    dataset *ds = dataset_open(root, opts, &err);
    CHECK(ds != NULL);
    if (!ds)
        fprintf(stderr, "    dataset_open(%s): %s\n", root, err.msg);
    return ds;
}

#endif
