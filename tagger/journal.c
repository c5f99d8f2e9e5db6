/* The journal file: one JSON object per line, {"file": caption path, "base": hash of the file the
 * edit was made on (null: no file yet), "text": the caption's full new text}. The last line for a
 * file wins on replay. Lines are appended and synced per step; a line torn by a crash is the last
 * one and is ignored. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/journal.h"
#include "tagger/private/dataset_build.h"
#include "tagger/private/edit_step.h"
#include "tagger/private/file_io.h"
#include "tagger/private/journal_write.h"

struct journal {
    int fd;
    char *path, *dir;
};

static char *journal_path(const dataset *ds, const char *suffix)
{
    return str_printf("%s/%s%s", ds->root, JOURNAL_FILE, suffix);
}

int journal_open(dataset *ds, tg_error *err)
{
    if (ds->jr && ds->jr->fd >= 0)
        return 0;
    if (!ds->jr) {
        if (!(ds->jr = calloc(1, sizeof *ds->jr)))
            return error_set(err, "out of memory");
        ds->jr->fd = -1;
        ds->jr->dir = str_printf("%s/%s", ds->root, JOURNAL_DIR);
        ds->jr->path = journal_path(ds, "");
        if (!ds->jr->dir || !ds->jr->path)
            return error_set(err, "out of memory");
    }
    if (mkdir(ds->jr->dir, 0755) < 0 && errno != EEXIST)
        return error_set(err, "%s: cannot create the journal folder: %s", ds->jr->dir, strerror(errno));
    ds->jr->fd = open(ds->jr->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ds->jr->fd < 0)
        return error_set(err, "%s: cannot open the journal: %s", ds->jr->path, strerror(errno));
    return 0;
}

static size_t dirty_items(const dataset *ds, uint32_t *items)
{
    size_t n = 0;
    for (size_t i = 0; i < ds->n_items; i++)
        if (ds->items[i].dirty)
            items[n++] = (uint32_t)i;
    return n;
}

/* Edits made before journaling started are journaled now, so they are as safe as later ones. */
static int journal_dirty(dataset *ds, tg_error *err)
{
    if (!ds->n_dirty)
        return 0;
    uint32_t *items = malloc(sizeof *items * ds->n_dirty);
    if (!items)
        return error_set(err, "out of memory");
    int rc = journal_record(ds, items, dirty_items(ds, items), err);
    free(items);
    return rc;
}

int dataset_journal_start(dataset *ds, tg_error *err)
{
    if (ds->jr)
        return 0;
    long pending = dataset_journal_pending(ds, err);
    if (pending < 0)
        return -1;
    if (pending > 0)
        return error_set(err, "%s: %ld caption(s) have unsaved edits from an earlier session in "
                         "%s/%s; replay them (tagbench recover %s) or discard them first",
                         ds->root, pending, ds->root, JOURNAL_FILE, ds->root);
    if (journal_open(ds, err) < 0)
        return -1;
    return journal_dirty(ds, err);
}

/* Removes the journal file and our folder (if we left nothing else there). */
static void journal_remove(journal *jr)
{
    if (jr->fd >= 0)
        close(jr->fd);
    jr->fd = -1;
    unlink(jr->path);
    rmdir(jr->dir);
}

/* An empty journal means nothing is unsaved: remove it, so that a dataset we only read or fully
 * saved is left as we found it. Only if the file at the path is still ours. */
void journal_close(journal *jr)
{
    if (!jr)
        return;
    struct stat fst, pst;
    if (jr->fd >= 0 && fstat(jr->fd, &fst) == 0 && fst.st_size == 0 && stat(jr->path, &pst) == 0 &&
        pst.st_ino == fst.st_ino && pst.st_dev == fst.st_dev)
        journal_remove(jr);
    if (jr->fd >= 0)
        close(jr->fd);
    free(jr->path);
    free(jr->dir);
    free(jr);
}

static char *entry_line(const dataset *ds, uint32_t i)
{
    const ds_item *it = &ds->items[i];
    size_t len;
    char *text = dataset_caption_text(ds, i, &len), base[17], *line = NULL;
    cJSON *o = cJSON_CreateObject();
    snprintf(base, sizeof base, "%016" PRIx64, it->disk_hash);
    if (text && o && cJSON_AddStringToObject(o, "file", it->caption) &&
        (it->has_file ? cJSON_AddStringToObject(o, "base", base) : cJSON_AddNullToObject(o, "base")) &&
        cJSON_AddStringToObject(o, "text", text))
        line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(text);
    return line;
}

/* All entries of a step in one buffer and one write: a bulk edit of 30k captions would otherwise
 * cost 60k system calls. */
static int write_entries(const dataset *ds, int fd, const uint32_t *items, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        char *line = entry_line(ds, items[k]);
        size_t ll = line ? strlen(line) : 0;
        if (line && len + ll + 1 > cap) {
            cap = (len + ll + 1) * 2;
            char *b = realloc(buf, cap);
            if (b)
                buf = b;
            else
                cap = 0;
        }
        if (!line || !cap) {
            rc = -1;
        } else {
            memcpy(buf + len, line, ll);
            buf[len + ll] = '\n';
            len += ll + 1;
        }
        free(line);
    }
    if (rc == 0 && len)
        rc = file_write_all(fd, buf, len);
    free(buf);
    return rc;
}

/* Every step appends whole captions, so a long session of bulk edits grows the journal without
 * end; past a size, rewrite it with just the current state of the unsaved captions. */
static int journal_bound(dataset *ds, tg_error *err)
{
    struct stat st;
    if (fstat(ds->jr->fd, &st) == 0 && st.st_size > JOURNAL_COMPACT_BYTES)
        return journal_compact(ds, err);
    return 0;
}

int journal_record(dataset *ds, const uint32_t *items, size_t n, tg_error *err)
{
    if (!ds->jr)
        return 0;
    if (journal_open(ds, err) < 0) /* removed by a full save: journaling goes on */
        return -1;
    int fd = ds->jr->fd;
    off_t end = lseek(fd, 0, SEEK_END);
    char last = '\n';
    /* a line torn earlier (a crash, a full disk) must not swallow this entry: end it first */
    bool torn = end > 0 && pread(fd, &last, 1, end - 1) == 1 && last != '\n';
    if ((!torn || file_write_all(fd, "\n", 1) == 0) && write_entries(ds, fd, items, n) == 0 &&
        fdatasync(fd) == 0)
        return journal_bound(ds, err);
    int e = errno;
    /* cut a torn line off, or the next entry would be glued to it and lost on replay */
    if (end >= 0 && ftruncate(fd, end) == 0)
        fdatasync(fd);
    return error_set(err, "%s: cannot write the journal: %s; the edit is in memory but would not "
                     "survive a crash", ds->jr->path, strerror(e));
}

int journal_compact(dataset *ds, tg_error *err)
{
    if (!ds->jr)
        return 0;
    if (ds->n_dirty == 0) {
        journal_remove(ds->jr);
        return 0;
    }
    char *tmp = journal_path(ds, ".tmp");
    uint32_t *items = malloc(sizeof *items * ds->n_dirty);
    int fd = tmp && items ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    size_t n = items ? dirty_items(ds, items) : 0;
    int rc = 0;
    if (fd < 0 || write_entries(ds, fd, items, n) < 0 || fsync(fd) < 0 || rename(tmp, ds->jr->path) < 0) {
        rc = error_set(err, "%s: cannot rewrite the journal: %s", ds->jr->path, strerror(errno));
        if (tmp)
            unlink(tmp);
    }
    if (fd >= 0)
        close(fd);
    free(items);
    free(tmp);
    if (rc == 0) { /* our descriptor points at the replaced file */
        close(ds->jr->fd);
        ds->jr->fd = -1;
        rc = journal_open(ds, err);
    }
    return rc;
}
