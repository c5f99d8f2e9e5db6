/* Atomic save. Phase 1 checks every edited caption against the disk and writes its new text to a
 * temporary file beside it; one syncfs makes all of them durable at once (a per-file fsync would
 * cost minutes on 100k captions); phase 2 renames them into place and syncs again. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "tagger/private/dataset_build.h"
#include "tagger/private/file_io.h"
#include "tagger/private/journal_write.h"
#include "tagger/save.h"

#define NEW_FILE_MODE ((mode_t)-1)

enum { STAGE_OK, STAGE_CONFLICT, STAGE_FAILED };

typedef struct pending {
    uint32_t item;
    char *path, *tmp;
    uint64_t hash;
    int status;  /* STAGE_* */
    char *why;   /* when not STAGE_OK */
    struct stat seen; /* the caption as checked, to notice a change before the rename */
} pending;

static int report(save_report *rep, size_t *counter, char *msg)
{
    (*counter)++;
    return messages_add(&rep->messages, &rep->n_messages, msg);
}

/* 0 if the caption on disk is still what we read; else 1 (conflict) or 2 (failure), with *why. */
static int disk_check(const ds_item *it, const char *path, mode_t *mode, struct stat *seen, char **why)
{
    struct stat st;
    if (!it->has_file) {
        *mode = NEW_FILE_MODE;
        if (lstat(path, &st) == 0)
            return *why = strdup("was created by another program since the dataset was opened"), 1;
        return 0;
    }
    char *text, reason[256];
    size_t len;
    if (file_read_stat(AT_FDCWD, path, CAPTION_MAX_BYTES, &text, &len, &st, reason, sizeof reason) < 0) {
        bool gone = errno == ENOENT;
        *why = gone ? str_printf("was deleted or moved since it was read (%s)", reason) : strdup(reason);
        return gone ? 1 : 2;
    }
    *mode = st.st_mode & 07777;
    *seen = st;
    bool changed = hash_bytes(text, len) != it->disk_hash;
    free(text);
    if (changed)
        return *why = strdup("was changed by another program since it was read"), 1;
    if (!(st.st_mode & S_IWUSR))
        return *why = strdup("is read-only"), 2;
    return 0;
}

int dataset_caption_check(const dataset *ds, size_t i, char *why, size_t wsize)
{
    char *path = dataset_path(ds, ds->items[i].caption), *reason = NULL;
    if (!path)
        return -1;
    mode_t mode;
    struct stat seen;
    int rc = disk_check(&ds->items[i], path, &mode, &seen, &reason);
    free(path);
    snprintf(why, wsize, "%s", reason ? reason : "");
    free(reason);
    return rc == 2 && !strstr(why, "read-only") ? -1 : rc == 1;
}

/* The umask, read without setting it: umask(2) can only be read by changing it, which would give
 * files created meanwhile by another thread (the trainer's checkpoints) the wrong mode. */
static mode_t process_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    unsigned mask = 022;
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "Umask: %o", &mask) == 1;
    if (f)
        fclose(f);
    return (mode_t)mask;
}

/* Creates the temporary file with the caption's own mode (a new caption: 0666, less the umask, like
 * any editor), so a chmod is needed only when the umask hides bits the caption had. */
static int temp_create(const char *path, char **tmp, mode_t mode, mode_t mask)
{
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    for (int attempt = 0; attempt < 100; attempt++) {
        *tmp = str_printf("%.*s.%s.tagbench-%ld-%u", (int)(slash - path + 1), path, slash + 1,
                          (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        int fd = *tmp ? open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) : -1;
        if (fd >= 0 && (mode & mask) && fchmod(fd, mode) < 0) {
            close(fd);
            unlink(*tmp);
            fd = -1;
        }
        if (fd >= 0 || !*tmp || errno != EEXIST)
            return fd;
        free(*tmp);
        *tmp = NULL;
    }
    return -1;
}

static char *temp_write(const char *path, const char *text, size_t len, mode_t mode, mode_t mask,
                        char **why)
{
    if (mode == NEW_FILE_MODE)
        mode = 0666 & ~mask;
    char *tmp = NULL;
    int fd = temp_create(path, &tmp, mode, mask);
    if (fd < 0) {
        *why = str_printf("cannot create a temporary file beside it: %s", strerror(errno));
        free(tmp);
        return NULL;
    }
    bool ok = file_write_all(fd, text, len) == 0;
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

/* Checks one caption against the disk and writes its temporary file. Runs on worker threads: it
 * only reads the dataset and writes its own pending entry. */
static void stage_one(const dataset *ds, pending *p, mode_t mask)
{
    const ds_item *it = &ds->items[p->item];
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
    char *text = dataset_caption_text(ds, p->item, &len);
    p->status = STAGE_FAILED;
    if (p->path && text) {
        mode_t mode = NEW_FILE_MODE;
        int st = disk_check(it, p->path, &mode, &p->seen, &p->why);
        if (st == 0 && (p->tmp = temp_write(p->path, text, len, mode, mask, &p->why))) {
            p->hash = hash_bytes(text, len);
            p->status = STAGE_OK;
        } else if (st == 1) {
            p->status = STAGE_CONFLICT;
        }
    }
    free(text);
}

typedef struct stage_job {
    const dataset *ds;
    pending *ps;
    size_t n, offset, stride;
    mode_t mask;
} stage_job;

static void *stage_worker(void *arg)
{
    stage_job *j = arg;
    for (size_t k = j->offset; k < j->n; k += j->stride)
        stage_one(j->ds, &j->ps[k], j->mask);
    return NULL;
}

/* Creating files is most of a save's time, mostly in the kernel: spread it over the cores. */
static void stage_all(const dataset *ds, pending *ps, size_t n)
{
    mode_t mask = process_umask();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (size_t)cpus;
    if (n < 64)
        threads = 1;
    pthread_t tid[8];
    stage_job jobs[8];
    bool started[8] = {false};
    for (size_t t = 0; t < threads; t++) {
        jobs[t] = (stage_job){ds, ps, n, t, threads, mask};
        started[t] = t > 0 && pthread_create(&tid[t], NULL, stage_worker, &jobs[t]) == 0;
    }
    stage_worker(&jobs[0]);
    for (size_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            stage_worker(&jobs[t]);
    }
}

/* Staging and the sync before the renames take a while on a big save: look once more, right
 * before replacing the file, whether someone else wrote it meanwhile. */
static bool changed_since(const pending *p)
{
    struct stat st;
    const struct stat *a = &p->seen;
    return stat(p->path, &st) < 0 || st.st_ino != a->st_ino || st.st_dev != a->st_dev ||
           st.st_size != a->st_size || st.st_mtim.tv_sec != a->st_mtim.tv_sec ||
           st.st_mtim.tv_nsec != a->st_mtim.tv_nsec || st.st_ctim.tv_sec != a->st_ctim.tv_sec ||
           st.st_ctim.tv_nsec != a->st_ctim.tv_nsec;
}

static int commit_one(dataset *ds, pending *p, save_report *rep)
{
    ds_item *it = &ds->items[p->item];
    if (p->status != STAGE_OK)
        return report(rep, p->status == STAGE_CONFLICT ? &rep->conflicts : &rep->failed,
                      str_printf("%s: %s", p->path ? p->path : ds->items[p->item].caption,
                                 p->why ? p->why : "out of memory"));
    if (it->has_file && changed_since(p)) {
        unlink(p->tmp);
        return report(rep, &rep->conflicts, str_printf("%s: was changed by another program while "
                                                       "saving; not overwritten", p->path));
    }
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
    pending *ps = calloc(ds->n_dirty + 1, sizeof *ps);
    if (!ps)
        return error_set(err, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < ds->n_items; i++)
        if (ds->items[i].dirty)
            ps[n++].item = (uint32_t)i;
    stage_all(ds, ps, n);
    if (n)
        sync_root(ds); /* every new text is on disk before any caption is replaced */
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        if (rc == 0)
            rc = commit_one(ds, &ps[k], rep);
        else if (ps[k].tmp)
            unlink(ps[k].tmp);
        free(ps[k].path);
        free(ps[k].tmp);
        free(ps[k].why);
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

bool save_temp_name(const char *name)
{
    const char *t = strstr(name, ".tagbench-");
    if (name[0] != '.' || !t)
        return false;
    char *end;
    long pid = strtol(t + 10, &end, 10);
    if (pid <= 0 || *end != '-' || !end[1])
        return false;
    strtoul(end + 1, &end, 10);
    return *end == '\0';
}

/* The process id in a temporary file's name (0 if none). */
static long temp_pid(const char *path)
{
    const char *base = strrchr(path, '/'), *t = strstr(base ? base : path, ".tagbench-");
    return t ? strtol(t + 10, NULL, 10) : 0;
}

long dataset_remove_stale_temps(dataset *ds, tg_error *err)
{
    long removed = 0;
    for (size_t i = 0; i < ds->n_notes; i++) {
        if (ds->notes[i].kind != NOTE_STALE_TEMP)
            continue;
        long pid = temp_pid(ds->notes[i].path);
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue; /* that save may still be running */
        char *path = dataset_path(ds, ds->notes[i].path);
        if (!path)
            return error_set(err, "out of memory");
        if (unlink(path) == 0)
            removed++;
        else if (errno != ENOENT)
            removed = error_set(err, "%s: cannot remove: %s", path, strerror(errno));
        free(path);
        if (removed < 0)
            return -1;
    }
    return removed;
}

void save_report_free(save_report *rep)
{
    for (size_t i = 0; i < rep->n_messages; i++)
        free(rep->messages[i]);
    free(rep->messages);
    memset(rep, 0, sizeof *rep);
}
