/* Finding, replaying and discarding a journal left by an earlier session. An entry is replayed
 * only onto the exact file it was made on (same hash); otherwise the journaled text is written to
 * CAPTION.tagbench-recovered beside the caption, so neither version is lost. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tagger/journal.h"
#include "tagger/private/dataset_build.h"
#include "tagger/private/edit_step.h"
#include "tagger/private/file_io.h"
#include "tagger/private/journal_write.h"

typedef struct entry {
    char *file, *text;
    bool has_base;
    uint64_t base;
} entry;

typedef struct entries {
    entry *e;
    size_t n;
    dict files; /* caption path -> index into e (last line wins) */
} entries;

static void entries_free(entries *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->e[i].file);
        free(es->e[i].text);
    }
    free(es->e);
    dict_free(&es->files);
}

static int entry_parse(entries *es, const char *line)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "file");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "base");
    int rc = 0;
    if (cJSON_IsString(f) && cJSON_IsString(t) && (cJSON_IsString(b) || cJSON_IsNull(b))) {
        uint32_t id = dict_intern(&es->files, f->valuestring, strlen(f->valuestring));
        if (id == es->n) {
            entry *e = realloc(es->e, sizeof *e * (es->n + 1));
            if (e)
                es->e = e;
            if (!e || !(e[es->n].file = strdup(f->valuestring))) {
                cJSON_Delete(o);
                return -1;
            }
            e[es->n++].text = NULL;
        }
        entry *e = &es->e[id];
        free(e->text);
        e->text = strdup(t->valuestring);
        e->has_base = cJSON_IsString(b);
        e->base = e->has_base ? strtoull(b->valuestring, NULL, 16) : 0;
        rc = e->text ? 0 : -1;
    } /* anything else is a line torn by a crash: the edit it held never completed */
    cJSON_Delete(o);
    return rc;
}

static int entries_load(const dataset *ds, const char *suffix, entries *es, tg_error *err)
{
    char *path = str_printf("%s/%s%s", ds->root, JOURNAL_FILE, suffix), *text = NULL, reason[256];
    size_t len;
    if (!path)
        return error_set(err, "out of memory");
    if (access(path, F_OK) != 0) {
        free(path);
        return 0;
    }
    int rc = 0;
    if (file_read_at(AT_FDCWD, path, JOURNAL_MAX_BYTES, &text, &len, reason, sizeof reason) < 0)
        rc = error_set(err, "%s: %s", path, reason);
    for (char *line = text, *nl; rc == 0 && line && *line; line = nl + 1) {
        if (!(nl = strchr(line, '\n')))
            break; /* no newline: torn last line */
        *nl = '\0';
        if (entry_parse(es, line) < 0)
            rc = error_set(err, "out of memory");
    }
    free(text);
    free(path);
    return rc;
}

/* ".replaying" holds a journal whose replay was interrupted; it comes before the live one. */
static int journal_load(const dataset *ds, entries *es, tg_error *err)
{
    memset(es, 0, sizeof *es);
    dict_init(&es->files);
    if (entries_load(ds, ".replaying", es, err) < 0 || entries_load(ds, "", es, err) < 0) {
        entries_free(es);
        return -1;
    }
    return 0;
}

long dataset_journal_pending(const dataset *ds, tg_error *err)
{
    if (ds->jr) /* the journal on disk is this session's own */
        return 0;
    entries es;
    if (journal_load(ds, &es, err) < 0)
        return -1;
    long n = (long)es.n;
    entries_free(&es);
    return n;
}

static int report_add(journal_report *rep, char *msg)
{
    return messages_add(&rep->messages, &rep->n_messages, msg);
}

/* Keeps a journaled text that cannot be replayed, beside where its caption is or was. */
static int keep_aside(const dataset *ds, const entry *e, journal_report *rep, const char *why,
                      bool dry_run)
{
    char *path = str_printf("%s/%s.tagbench-recovered", ds->root, e->file);
    if (dry_run) {
        char *msg = path ? str_printf("%s: %s; the edited text would go to %s", e->file, why, path) : NULL;
        free(path);
        return report_add(rep, msg);
    }
    /* O_EXCL: an earlier recovery's file is never overwritten (the next free number is taken);
     * it also refuses to follow a symlink planted at that name */
    int fd = -1;
    for (int k = 1; path && k < 1000; k++) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            break;
        free(path);
        path = str_printf("%s/%s.tagbench-recovered.%d", ds->root, e->file, k);
    }
    bool ok = fd >= 0 && file_write_all(fd, e->text, strlen(e->text)) == 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    char *msg = ok ? str_printf("%s: %s; the edited text is in %s", e->file, why, path)
                   : str_printf("%s: %s, and the edited text could not be kept (%s): \"%s\"",
                                e->file, why, strerror(errno), e->text);
    free(path);
    return report_add(rep, msg);
}


/* A journal names captions relative to the dataset. One that names an absolute path or climbs
 * out with ".." was not written by us (a hostile or broken file) and must not make us write
 * outside the dataset. */
static bool path_is_inside(const char *rel)
{
    if (!*rel || rel[0] == '/')
        return false;
    for (const char *p = rel; p; p = strchr(p, '/')) {
        p += *p == '/';
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return false;
    }
    return true;
}

typedef struct replay {
    uint32_t *items, **tags, *n_tags;
    size_t n;
} replay;

static int replay_collect(dataset *ds, entries *es, replay *rp, journal_report *rep, bool dry_run)
{
    dict paths; /* caption path -> id -> item index (the first item, should two share a path) */
    dict_init(&paths);
    uint32_t *item_of = malloc(sizeof *item_of * (ds->n_items + 1));
    for (size_t i = 0; item_of && i < ds->n_items; i++) {
        uint32_t before = paths.n;
        uint32_t id = dict_intern(&paths, ds->items[i].caption, strlen(ds->items[i].caption));
        if (id != DICT_NONE && id == before)
            item_of[id] = (uint32_t)i;
    }
    rp->items = malloc(sizeof *rp->items * (es->n + 1));
    rp->tags = calloc(es->n + 1, sizeof *rp->tags);
    rp->n_tags = malloc(sizeof *rp->n_tags * (es->n + 1));
    int rc = item_of && rp->items && rp->tags && rp->n_tags ? 0 : -1;
    for (size_t k = 0; k < es->n && rc == 0; k++) {
        const entry *e = &es->e[k];
        uint32_t id = dict_find(&paths, e->file, strlen(e->file));
        const ds_item *it = id != DICT_NONE ? &ds->items[item_of[id]] : NULL;
        uint32_t i = id != DICT_NONE ? item_of[id] : 0;
        if (!path_is_inside(e->file)) {
            rep->missing++;
            rc = report_add(rep, str_printf("%s: names a file outside the dataset; entry ignored",
                                            e->file));
        } else if (!it) {
            rep->missing++;
            rc = keep_aside(ds, e, rep, "its image is no longer in the dataset", dry_run);
        } else if (it->has_file && it->disk_hash == hash_bytes(e->text, strlen(e->text))) {
            continue; /* saved already: the process died between the save and its journal update */
        } else if (it->locked || e->has_base != (bool)it->has_file || e->base != it->disk_hash) {
            rep->conflicts++;
            rc = keep_aside(ds, e, rep, "the caption changed on disk after the edit was made", dry_run);
        } else {
            rp->items[rp->n] = i;
            rp->tags[rp->n] = tags_intern(ds, e->text, strlen(e->text), &rp->n_tags[rp->n]);
            rc = rp->tags[rp->n++] ? 0 : -1;
        }
    }
    dict_free(&paths);
    free(item_of);
    return rc;
}

static void replay_free(replay *rp)
{
    for (size_t k = 0; rp->tags && k < rp->n; k++)
        free(rp->tags[k]);
    free(rp->items);
    free(rp->tags);
    free(rp->n_tags);
}

int dataset_journal_replay(dataset *ds, journal_report *rep, bool dry_run, tg_error *err)
{
    memset(rep, 0, sizeof *rep);
    entries es;
    replay rp = {0};
    if (ds->jr)
        return error_set(err, "%s: this session is already journaling; replay comes first", ds->root);
    if (journal_load(ds, &es, err) < 0)
        return -1;
    char *live = str_printf("%s/%s", ds->root, JOURNAL_FILE);
    char *held = str_printf("%s/%s.replaying", ds->root, JOURNAL_FILE);
    int rc = live && held ? 0 : error_set(err, "out of memory");
    /* keep the old entries on disk until the replayed edits are journaled anew */
    if (rc == 0 && access(live, F_OK) == 0 && access(held, F_OK) == 0)
        rc = error_set(err, "%s and %s both exist; replay of an earlier recovery was interrupted: "
                       "move one of them away", live, held);
    if (rc == 0 && !dry_run && access(live, F_OK) == 0 && rename(live, held) < 0)
        rc = error_set(err, "%s: %s", live, strerror(errno));
    if (rc == 0 && replay_collect(ds, &es, &rp, rep, dry_run) < 0)
        rc = error_set(err, "cannot replay the journal: out of memory or disk");
    if (rc == 0 && !dry_run)
        rc = journal_open(ds, err);
    if (rc == 0 && !dry_run)
        rc = step_set_tags(ds, rp.items, rp.tags, rp.n_tags, rp.n, "recover", err);
    if (rc == 0) {
        rep->replayed = rp.n;
        if (!dry_run)
            unlink(held);
    }
    replay_free(&rp);
    entries_free(&es);
    free(live);
    free(held);
    return rc;
}

int dataset_journal_discard(dataset *ds, tg_error *err)
{
    const char *suffixes[] = {"", ".replaying"};
    for (int k = 0; k < 2; k++) {
        char *p = str_printf("%s/%s%s", ds->root, JOURNAL_FILE, suffixes[k]);
        if (!p)
            return error_set(err, "out of memory");
        int rc = unlink(p) < 0 && errno != ENOENT ? error_set(err, "%s: %s", p, strerror(errno)) : 0;
        free(p);
        if (rc < 0)
            return -1;
    }
    char *dir = str_printf("%s/%s", ds->root, JOURNAL_DIR);
    if (dir)
        rmdir(dir); /* only if empty: never removes anything else */
    free(dir);
    return 0;
}

void journal_report_free(journal_report *rep)
{
    for (size_t i = 0; i < rep->n_messages; i++)
        free(rep->messages[i]);
    free(rep->messages);
    memset(rep, 0, sizeof *rep);
}
