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
    if (ds->jr)
        return 0;
    char *dir = str_printf("%s/%s", ds->root, JOURNAL_DIR), *path = journal_path(ds, "");
    int rc = 0;
    if (!dir || !path)
        rc = error_set(err, "out of memory");
    else if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        rc = error_set(err, "%s: cannot create the journal folder: %s", dir, strerror(errno));
    int fd = rc ? -1 : open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (rc == 0 && fd < 0)
        rc = error_set(err, "%s: cannot open the journal: %s", path, strerror(errno));
    if (rc == 0 && !(ds->jr = malloc(sizeof *ds->jr))) {
        close(fd);
        rc = error_set(err, "out of memory");
    }
    if (rc == 0) {
        *ds->jr = (journal){fd, path, dir};
        return 0;
    }
    free(dir);
    free(path);
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
    return journal_open(ds, err);
}

/* An empty journal means nothing is unsaved: remove it (and our folder, if we left nothing else
 * there) so that a dataset we only read or fully saved is left as we found it. */
void journal_close(journal *jr)
{
    if (!jr)
        return;
    struct stat st;
    if (fstat(jr->fd, &st) == 0 && st.st_size == 0 && unlink(jr->path) == 0)
        rmdir(jr->dir);
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

static int write_entries(const dataset *ds, int fd, const uint32_t *items, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char *line = entry_line(ds, items[k]);
        int rc = line && file_write_all(fd, line, strlen(line)) == 0 && file_write_all(fd, "\n", 1) == 0;
        free(line);
        if (!rc)
            return -1;
    }
    return 0;
}

int journal_record(dataset *ds, const uint32_t *items, size_t n, tg_error *err)
{
    if (write_entries(ds, ds->jr->fd, items, n) < 0 || fdatasync(ds->jr->fd) < 0)
        return error_set(err, "%s/%s: cannot write the journal: %s; the edit is in memory but "
                         "would not survive a crash", ds->root, JOURNAL_FILE, strerror(errno));
    return 0;
}

int journal_compact(dataset *ds, tg_error *err)
{
    if (!ds->jr)
        return 0;
    char *path = journal_path(ds, ""), *tmp = journal_path(ds, ".tmp");
    int rc = 0;
    if (!path || !tmp) {
        rc = error_set(err, "out of memory");
    } else if (ds->n_dirty == 0) {
        if (ftruncate(ds->jr->fd, 0) < 0 || fsync(ds->jr->fd) < 0)
            rc = error_set(err, "%s: cannot empty the journal: %s", path, strerror(errno));
    } else {
        size_t n = 0;
        uint32_t *items = malloc(sizeof *items * ds->n_dirty);
        for (size_t i = 0; items && i < ds->n_items; i++)
            if (ds->items[i].dirty)
                items[n++] = (uint32_t)i;
        int fd = items ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        if (fd < 0 || write_entries(ds, fd, items, n) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)
            rc = error_set(err, "%s: cannot rewrite the journal: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(items);
        if (rc == 0) { /* our descriptor points at the replaced file: reopen */
            journal_close(ds->jr);
            ds->jr = NULL;
            rc = journal_open(ds, err);
        }
    }
    free(path);
    free(tmp);
    return rc;
}
