/* The worker pool: workers sleep on a condition variable until the caller publishes a job (a new
 * generation), run their chunk, and the last one to finish wakes the caller. Everything shared is
 * read and written under one mutex, which keeps the pool simple and TSan-clean; a job costs two
 * wake-ups, negligible next to the ops it splits. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_threads.h"

struct cpu_pool {
    int threads; /* including the caller */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;
    int pending; /* workers still running the current job */
    bool quit;
    /* the current job */
    cpu_range_fn fn;
    void *arg;
    int64_t n;
    int chunks;
};

typedef struct worker_arg {
    cpu_pool *pool;
    int index; /* 1 .. threads-1; the caller runs chunk 0 */
} worker_arg;

/* Set in pool threads and in a caller while it runs its chunk: a nested parallel-for runs serially. */
static _Thread_local bool in_parallel;

static void chunk_run(cpu_range_fn fn, void *arg, int64_t n, int chunks, int c)
{
    if (c >= chunks)
        return;
    int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end)
        fn(arg, begin, end);
}

static void *worker_main(void *p)
{
    worker_arg *w = p;
    cpu_pool *pool = w->pool;
    uint64_t seen = 0;
    in_parallel = true;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->generation == seen && !pool->quit)
            pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->quit)
            break;
        seen = pool->generation;
        cpu_range_fn fn = pool->fn;
        void *arg = pool->arg;
        int64_t n = pool->n;
        int chunks = pool->chunks;
        pthread_mutex_unlock(&pool->mu);
        chunk_run(fn, arg, n, chunks, w->index);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    free(w);
    return NULL;
}

cpu_pool *cpu_pool_create(int threads)
{
    if (threads <= 1)
        return NULL;
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->tid = calloc((size_t)threads, sizeof *p->tid))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = 1;
    for (int i = 1; i < threads; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w)
            break;
        *w = (worker_arg){p, i};
        if (pthread_create(&p->tid[i], NULL, worker_main, w) != 0) {
            free(w);
            break;
        }
        p->threads++; /* fewer workers than asked still works: chunks follow p->threads */
    }
    return p;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}

void cpu_parallel_for(kctx *k, int64_t n, int64_t grain, cpu_range_fn fn, void *arg)
{
    if (n <= 0)
        return;
    cpu_pool *p = k->impl;
    if (grain < 1)
        grain = 1;
    int64_t chunks = (n + grain - 1) / grain;
    if (!p || in_parallel || chunks <= 1) {
        fn(arg, 0, n);
        return;
    }
    if (chunks > p->threads)
        chunks = p->threads;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunks = (int)chunks;
    p->pending = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    in_parallel = true;
    chunk_run(fn, arg, n, (int)chunks, 0);
    in_parallel = false;

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
