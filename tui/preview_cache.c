/* Preview results cached by everything they depend on, least recently used first out when over
 * the byte budget, and one worker thread that builds requested results ahead of time.
 * Concurrency rules: one mutex guards the list, the queue and the worker's current job; builds
 * run outside it; entries never change after they are built and are freed only when neither the
 * list nor a placement holds them. The main thread waits for the worker only when the worker is
 * building the very entry the main thread needs. */
#include "tui/preview_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX 16
#define ENTRIES_MAX 4096

struct pv_cache {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a job finished, or the queue got work / quit was set */
    pv_entry *head, *tail;  /* head = most recently used */
    size_t bytes, count, limit;
    pv_spec queue[QUEUE_MAX]; /* newest last; the worker takes the newest first */
    int queued;
    pv_spec busy; /* the worker's job; busy.path NULL when idle */
    bool started, quit;
    pthread_t worker;
};

/* ---- specs ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

void pv_spec_hash(pv_spec *s)
{
    int ints[] = {s->rows, s->cols, s->cell_w, s->cell_h, (int)s->mode, s->colors, s->wrap,
                  s->truecolor};
    uint64_t h = fnv(14695981039346656037ull, s->path, strlen(s->path));
    h = fnv(h, &s->mtime_ns, sizeof s->mtime_ns);
    h = fnv(h, &s->size, sizeof s->size);
    s->hash = fnv(h, ints, sizeof ints);
}

bool pv_spec_equal(const pv_spec *a, const pv_spec *b)
{
    return a->hash == b->hash && a->mtime_ns == b->mtime_ns && a->size == b->size &&
           a->rows == b->rows && a->cols == b->cols && a->cell_w == b->cell_w &&
           a->cell_h == b->cell_h && a->mode == b->mode && a->colors == b->colors &&
           a->wrap == b->wrap && a->truecolor == b->truecolor && strcmp(a->path, b->path) == 0;
}

int pv_spec_copy(pv_spec *dst, const pv_spec *src)
{
    *dst = *src;
    dst->path = strdup(src->path);
    return dst->path ? 0 : -1;
}

void pv_spec_free(pv_spec *s)
{
    free(s->path);
    s->path = NULL;
}

/* ---- building one result ---- */

static pv_entry *entry_error(pv_entry *e, const char *msg)
{
    e->error = strdup(msg);
    if (!e->error) {
        pv_entry_free(e);
        return NULL;
    }
    e->bytes += strlen(msg);
    return e;
}

static pv_entry *entry_encode(pv_entry *e, image *scaled)
{
    tg_error err = {{0}};
    const pv_spec *s = &e->key;
    if (s->mode == GFX_SIXEL) {
        int rc = gfx_sixel_encode(scaled, s->colors, s->wrap, &e->sixel, &err);
        image_free(scaled);
        if (rc < 0)
            return entry_error(e, err.msg);
        e->bytes += e->sixel.cap;
    } else if (s->mode == GFX_BLOCKS) {
        e->cells = malloc(sizeof *e->cells * (size_t)e->used_cols * (size_t)e->used_rows);
        if (e->cells)
            gfx_blocks_render(scaled, s->truecolor, e->cells);
        image_free(scaled);
        if (!e->cells)
            return entry_error(e, "out of memory");
        e->bytes += sizeof *e->cells * (size_t)e->used_cols * (size_t)e->used_rows;
    } else {
        e->img = *scaled;
        e->bytes += (size_t)scaled->w * (size_t)scaled->h * 3;
    }
    return e;
}

pv_entry *pv_entry_build(const pv_spec *s)
{
    pv_entry *e = calloc(1, sizeof *e);
    if (!e || pv_spec_copy(&e->key, s) < 0) {
        free(e);
        return NULL;
    }
    e->bytes = sizeof *e + strlen(s->path);
    tg_error err = {{0}};
    image src = {0}, scaled = {0};
    if (image_load(s->path, &src, &err) < 0)
        return entry_error(e, err.msg);
    term_caps caps = {.gfx = s->mode, .cell_w = s->cell_w, .cell_h = s->cell_h};
    gfx_fit(src.w, src.h, s->cols, s->rows, &caps, &e->pw, &e->ph, &e->used_cols,
            &e->used_rows);
    int rc = e->pw > 0 ? image_resize(&src, e->pw, e->ph, &scaled, &err) : -1;
    image_free(&src);
    if (rc < 0)
        return entry_error(e, e->pw > 0 ? err.msg : "no room for a preview");
    return entry_encode(e, &scaled);
}

void pv_entry_free(pv_entry *e)
{
    if (!e)
        return;
    pv_spec_free(&e->key);
    image_free(&e->img);
    gfx_buf_free(&e->sixel);
    free(e->cells);
    free(e->error);
    free(e);
}

/* ---- the list (lock held) ---- */

static void list_unlink(pv_cache *c, pv_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(pv_cache *c, pv_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
}

static pv_entry *list_find(pv_cache *c, const pv_spec *s)
{
    for (pv_entry *e = c->head; e; e = e->next)
        if (pv_spec_equal(&e->key, s))
            return e;
    return NULL;
}

static void list_remove(pv_cache *c, pv_entry *e)
{
    list_unlink(c, e);
    e->cached = false;
    c->bytes -= e->bytes;
    c->count--;
    if (e->refs == 0)
        pv_entry_free(e);
}

/* Oldest unreferenced entries out until within budget; an entry on screen stays. */
static void list_evict(pv_cache *c)
{
    for (pv_entry *e = c->tail; e && (c->bytes > c->limit || c->count > ENTRIES_MAX);) {
        pv_entry *older = e->prev;
        if (e->refs == 0)
            list_remove(c, e);
        e = older;
    }
}

static void list_insert(pv_cache *c, pv_entry *e)
{
    e->cached = true;
    list_push_front(c, e);
    c->bytes += e->bytes;
    c->count++;
    list_evict(c);
}

/* ---- the worker ---- */

static void *worker_main(void *arg)
{
    pv_cache *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->quit && c->queued == 0)
            pthread_cond_wait(&c->changed, &c->lock);
        if (c->quit)
            break;
        c->busy = c->queue[--c->queued];
        if (list_find(c, &c->busy)) {
            pv_spec_free(&c->busy);
            continue;
        }
        pthread_mutex_unlock(&c->lock);
        pv_entry *e = pv_entry_build(&c->busy);
        pthread_mutex_lock(&c->lock);
        if (e)
            list_insert(c, e);
        pv_spec_free(&c->busy);
        pthread_cond_broadcast(&c->changed);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Index of s in the queue, or -1 (lock held). */
static int queue_find(pv_cache *c, const pv_spec *s)
{
    for (int i = 0; i < c->queued; i++)
        if (pv_spec_equal(&c->queue[i], s))
            return i;
    return -1;
}

static void queue_take(pv_cache *c, int i, pv_spec *out)
{
    *out = c->queue[i];
    memmove(&c->queue[i], &c->queue[i + 1], sizeof c->queue[0] * (size_t)(c->queued - i - 1));
    c->queued--;
}

void pv_cache_prefetch(pv_cache *c, const pv_spec *s)
{
    pthread_mutex_lock(&c->lock);
    if (!c->started)
        c->started = pthread_create(&c->worker, NULL, worker_main, c) == 0;
    pv_spec job = {0};
    int i = queue_find(c, s);
    if (i >= 0) {
        queue_take(c, i, &job); /* requeued as the newest */
    } else if (list_find(c, s) || (c->busy.path && pv_spec_equal(&c->busy, s)) ||
               pv_spec_copy(&job, s) < 0) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (c->queued == QUEUE_MAX) { /* the oldest request is the least likely to matter now */
        pv_spec old;
        queue_take(c, 0, &old);
        pv_spec_free(&old);
    }
    c->queue[c->queued++] = job;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* ---- the cache ---- */

pv_cache *pv_cache_new(size_t limit_bytes)
{
    pv_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    c->limit = limit_bytes;
    return c;
}

void pv_cache_free(pv_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->quit = true;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    if (c->started)
        pthread_join(c->worker, NULL);
    for (int i = 0; i < c->queued; i++)
        pv_spec_free(&c->queue[i]);
    while (c->head)
        list_remove(c, c->head);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

pv_entry *pv_cache_get(pv_cache *c, const pv_spec *s)
{
    pthread_mutex_lock(&c->lock);
    while (c->busy.path && pv_spec_equal(&c->busy, s))
        pthread_cond_wait(&c->changed, &c->lock);
    pv_entry *e = list_find(c, s);
    int i = e ? -1 : queue_find(c, s);
    if (i >= 0) { /* we build it now; the worker need not */
        pv_spec job;
        queue_take(c, i, &job);
        pv_spec_free(&job);
    }
    if (e) {
        list_unlink(c, e);
        list_push_front(c, e);
        e->refs++;
        pthread_mutex_unlock(&c->lock);
        return e;
    }
    pthread_mutex_unlock(&c->lock);
    e = pv_entry_build(s);
    if (!e)
        return NULL;
    pthread_mutex_lock(&c->lock);
    e->refs++;
    list_insert(c, e);
    pthread_mutex_unlock(&c->lock);
    return e;
}

void pv_entry_release(pv_cache *c, pv_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    if (--e->refs == 0 && !e->cached)
        pv_entry_free(e);
    else if (e->refs == 0)
        list_evict(c);
    pthread_mutex_unlock(&c->lock);
}

void pv_cache_drop_other(pv_cache *c, int cell_w, int cell_h, gfx_mode mode)
{
    pthread_mutex_lock(&c->lock);
    for (pv_entry *e = c->head; e;) {
        pv_entry *next = e->next;
        if (e->key.cell_w != cell_w || e->key.cell_h != cell_h || e->key.mode != mode)
            list_remove(c, e);
        e = next;
    }
    pthread_mutex_unlock(&c->lock);
}

size_t pv_cache_bytes(pv_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}
