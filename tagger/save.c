/* Atomic save. Phase 1 checks every edited caption against the disk and writes its new text to a
 * temporary file beside it; one syncfs makes all of them durable at once (a per-file fsync would
 * cost minutes on 100k captions); phase 2 renames them into place and syncs again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "tagger/private/dataset_build.h"
#include "tagger/private/file_io.h"
#include "tagger/private/journal_write.h"
#include "tagger/save.h"

#define NEW_FILE_MODE ((mode_t)-1)

typedef struct pending {
    uint32_t item;
    char *path, *tmp;
    uint64_t hash;
} pending;

static int report(save_report *rep, size_t *counter, char *msg)
{
    (*counter)++;
    return messages_add(&rep->messages, &rep->n_messages, msg);
}

/* 0 if the caption on disk is still what we read; else 1 (conflict) or 2 (failure), with *why. */
static int disk_check(const ds_item *it, const char *path, mode_t *mode, char **why)
{
    struct stat st;
    if (!it->has_file) {
        *mode = NEW_FILE_MODE;
        if (lstat(path, &st) == 0)
            return *why = str_dup("was created by another program since the dataset was opened"), 1;
        return 0;
    }
    if (stat(path, &st) < 0)
        return *why = str_printf("was deleted or moved since it was read (%s)", strerror(errno)), 1;
    *mode = st.st_mode & 07777;
    char *text, reason[256];
    size_t len;
    if (file_read_at(AT_FDCWD, path, CAPTION_MAX_BYTES, &text, &len, reason, sizeof reason) < 0)
        return *why = str_dup(reason), 2;
    bool changed = hash_bytes(text, len) != it->disk_hash;
    free(text);
    if (changed)
        return *why = str_dup("was changed by another program since it was read"), 1;
    if (!(st.st_mode & S_IWUSR))
        return *why = str_dup("is read-only"), 2;
    return 0;
}

static char *temp_write(const char *path, const char *text, size_t len, mode_t mode, char **why)
{
    const char *slash = strrchr(path, '/');
    char *tmp = str_printf("%.*s.%s.tagbench-XXXXXX", (int)(slash - path + 1), path, slash + 1);
    int fd = tmp ? mkostemp(tmp, O_CLOEXEC) : -1;
    if (fd < 0) {
        *why = str_printf("cannot create a temporary file beside it: %s", strerror(errno));
        free(tmp);
        return NULL;
    }
    if (mode == NEW_FILE_MODE) { /* a new caption: honour the umask like any editor */
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    bool ok = fchmod(fd, mode) == 0 && file_write_all(fd, text, len) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        *why = str_printf("cannot write it: %s; the file is unchanged", strerror(e));
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

static int stage_one(dataset *ds, uint32_t i, pending *p, save_report *rep)
{
    ds_item *it = &ds->items[i];
    memset(p, 0, sizeof *p);
    p->item = i;
    p->path = dataset_path(ds, it->caption);
    struct stat lst;
    if (p->path && lstat(p->path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        /* write where the link points, so the link (say into a shared tag store) survives */
        char *target = realpath(p->path, NULL);
        if (target) {
            free(p->path);
            p->path = target;
        }
    }
    size_t len;
    char *text = dataset_caption_text(ds, i, &len), *why = NULL;
    if (!p->path || !text) {
        free(text);
        return -1;
    }
    mode_t mode = NEW_FILE_MODE;
    int st = disk_check(it, p->path, &mode, &why);
    if (st == 0 && (p->tmp = temp_write(p->path, text, len, mode, &why)))
        p->hash = hash_bytes(text, len);
    free(text);
    if (p->tmp)
        return 0;
    int rc = report(rep, st == 1 ? &rep->conflicts : &rep->failed,
                    str_printf("%s: %s", p->path, why ? why : "out of memory"));
    free(why);
    return rc;
}

static int commit_one(dataset *ds, pending *p, save_report *rep)
{
    ds_item *it = &ds->items[p->item];
    int rc = it->has_file ? rename(p->tmp, p->path)
                          : renameat2(AT_FDCWD, p->tmp, AT_FDCWD, p->path, RENAME_NOREPLACE);
    if (rc < 0) {
        int e = errno;
        unlink(p->tmp);
        return report(rep, e == EEXIST ? &rep->conflicts : &rep->failed,
                      str_printf("%s: %s", p->path, e == EEXIST
                                 ? "was created by another program since the dataset was opened"
                                 : strerror(e)));
    }
    if (!it->has_file) {
        caption_layout l = caption_layout_new();
        it->has_file = 1;
        it->trailing_eol = l.trailing_eol;
    }
    it->disk_hash = p->hash;
    free(it->orig);
    it->orig = NULL;
    it->n_orig = 0;
    it->dirty = 0;
    ds->n_dirty--;
    rep->written++;
    return 0;
}

static void sync_root(const dataset *ds)
{
    int fd = open(ds->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

int dataset_save(dataset *ds, save_report *rep, tg_error *err)
{
    memset(rep, 0, sizeof *rep);
    pending *ps = malloc(sizeof *ps * (ds->n_dirty + 1));
    if (!ps)
        return error_set(err, "out of memory");
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < ds->n_items && rc == 0; i++) {
        if (!ds->items[i].dirty)
            continue;
        rc = stage_one(ds, (uint32_t)i, &ps[n], rep);
        if (ps[n].tmp)
            n++;
        else
            free(ps[n].path);
    }
    sync_root(ds);
    for (size_t k = 0; k < n; k++) {
        if (rc == 0)
            rc = commit_one(ds, &ps[k], rep);
        else
            unlink(ps[k].tmp);
        free(ps[k].path);
        free(ps[k].tmp);
    }
    free(ps);
    if (n)
        sync_root(ds);
    if (rc < 0)
        return error_set(err, "out of memory while saving; unsaved edits are still in the journal");
    if (journal_compact(ds, err) < 0)
        return -1;
    return rep->conflicts || rep->failed ? 1 : 0;
}

void save_report_free(save_report *rep)
{
    for (size_t i = 0; i < rep->n_messages; i++)
        free(rep->messages[i]);
    free(rep->messages);
    memset(rep, 0, sizeof *rep);
}
