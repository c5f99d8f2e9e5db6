/* Reading one caption file into an item: bytes -> hash (for change detection) -> tags (interned)
 * -> the layout facts an edited caption must keep (BOM, CRLF, final newline, extra lines). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "tagger/private/dataset_build.h"
#include "tagger/private/file_io.h"

static uint32_t *ids_of(dataset *ds, const caption *c, const char *text)
{
    uint32_t *ids = malloc(sizeof *ids * (c->n ? c->n : 1));
    for (size_t k = 0; ids && k < c->n; k++) {
        ids[k] = dict_intern(&ds->tags, text + c->tags[k].off, c->tags[k].len);
        if (ids[k] == DICT_NONE) {
            free(ids);
            return NULL;
        }
    }
    return ids;
}

uint32_t *tags_intern(dataset *ds, const char *text, size_t len, uint32_t *n)
{
    caption c;
    if (caption_split(text, len, &c) < 0)
        return NULL;
    uint32_t *ids = ids_of(ds, &c, text);
    *n = (uint32_t)c.n;
    caption_free(&c);
    return ids;
}

static int item_take_caption(dataset *ds, ds_item *it, const char *text, size_t len)
{
    caption c;
    if (caption_split(text, len, &c) < 0)
        return -1;
    uint32_t *ids = ids_of(ds, &c, text);
    int rc = ids ? 0 : -1;
    caption_layout l = caption_layout_of(&c, text, len);
    it->bom = l.bom;
    it->crlf = l.crlf;
    it->trailing_eol = l.trailing_eol;
    if (rc == 0 && l.rest_len) {
        it->rest = malloc(l.rest_len);
        if (it->rest) {
            memcpy(it->rest, l.rest, l.rest_len);
            it->rest_len = (uint32_t)l.rest_len;
        } else {
            rc = -1;
        }
    }
    if (rc == 0)
        rc = item_set_tags(ds, it, ids, (uint32_t)c.n);
    it->dirty = 0;
    free(ids);
    caption_free(&c);
    return rc;
}

/* One caption file's bytes, read by a worker thread. */
typedef struct raw_caption {
    char *text;
    size_t len;
    char reason[160]; /* when text is NULL */
} raw_caption;

typedef struct read_job {
    const dataset *ds;
    size_t first, count, stride, offset; /* items first + offset + k*stride, k < count */
    raw_caption *raw;                    /* indexed from `first` */
} read_job;

/* Reading is mostly system calls (open, fstat, read, close): spread over the cores, while parsing
 * and interning, which touch shared tables, stay on one thread. */
static void *read_worker(void *arg)
{
    read_job *j = arg;
    for (size_t k = j->offset; k < j->count; k += j->stride) {
        const ds_item *it = &j->ds->items[j->first + k];
        raw_caption *r = &j->raw[k];
        r->text = NULL;
        if (!it->has_file)
            continue;
        char *path = dataset_path(j->ds, it->caption);
        if (!path)
            snprintf(r->reason, sizeof r->reason, "out of memory");
        else if (file_read_at(AT_FDCWD, path, CAPTION_MAX_BYTES, &r->text, &r->len, r->reason,
                              sizeof r->reason) < 0)
            r->text = NULL;
        free(path);
    }
    return NULL;
}

static void read_chunk(const dataset *ds, size_t first, size_t count, raw_caption *raw, int threads)
{
    pthread_t tid[8];
    read_job jobs[8];
    int started = 0;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (read_job){ds, first, count, (size_t)threads, (size_t)t, raw};
        if (t > 0 && pthread_create(&tid[t], NULL, read_worker, &jobs[t]) == 0)
            started |= 1 << t;
    }
    read_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) {
        if (started & (1 << t))
            pthread_join(tid[t], NULL);
        else
            read_worker(&jobs[t]); /* no thread: do its share here */
    }
}

static int item_take_raw(dataset *ds, ds_item *it, raw_caption *r)
{
    if (!it->has_file)
        return 0;
    if (r->text && memchr(r->text, '\0', r->len)) { /* no tag holds NUL; the journal could not */
        snprintf(r->reason, sizeof r->reason, "holds NUL bytes (a UTF-16 file?); shown, never edited");
        free(r->text);
        r->text = NULL;
    }
    if (!r->text) {
        it->locked = 1;
        return dataset_add_note(ds, NOTE_UNREADABLE, it->caption, r->reason);
    }
    it->disk_hash = hash_bytes(r->text, r->len);
    int rc = item_take_caption(ds, it, r->text, r->len);
    free(r->text);
    r->text = NULL;
    return rc;
}

int dataset_read_captions(dataset *ds)
{
    enum { CHUNK = 4096 }; /* bounds the raw bytes held at once */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
    raw_caption *raw = malloc(sizeof *raw * CHUNK);
    if (!raw)
        return -1;
    int rc = 0;
    for (size_t first = 0; first < ds->n_items && rc == 0; first += CHUNK) {
        size_t count = ds->n_items - first < CHUNK ? ds->n_items - first : CHUNK;
        read_chunk(ds, first, count, raw, threads);
        for (size_t k = 0; k < count; k++) {
            if (rc == 0)
                rc = item_take_raw(ds, &ds->items[first + k], &raw[k]);
            free(raw[k].text);
        }
    }
    free(raw);
    return rc;
}

char *dataset_caption_read(const dataset *ds, size_t i, size_t *len, tg_error *err)
{
    const ds_item *it = &ds->items[i];
    *len = 0;
    char *text = NULL, reason[160];
    char *path = it->has_file ? dataset_path(ds, it->caption) : NULL;
    if (!it->has_file)
        text = calloc(1, 1);
    else if (path && file_read_at(AT_FDCWD, path, CAPTION_MAX_BYTES, &text, len, reason, sizeof reason) < 0)
        error_set(err, "%s: %s", path, reason);
    else if (!path)
        error_set(err, "out of memory");
    free(path);
    return text;
}
