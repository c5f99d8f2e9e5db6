/* A persistent pool of worker threads for the CPU backend (created by cpu_init, one per context)
 * and a parallel-for over an index range. The split of a range depends only on its length, the
 * grain and the context's thread count, and each index is handled by exactly one call of fn, so an
 * op whose items are independent gives the same bits for any thread count. */
#ifndef KERNELS_CPU_CPU_THREADS_H
#define KERNELS_CPU_CPU_THREADS_H
#include <stdint.h>

#include "kernels/kernels.h"

typedef struct cpu_pool cpu_pool;

/* threads - 1 workers (the caller is the last one); NULL for threads <= 1 or out of memory, which
 * cpu_parallel_for treats as "run serially". */
cpu_pool *cpu_pool_create(int threads);
void cpu_pool_destroy(cpu_pool *p);

/* fn(arg, begin, end) over [0, n) in at most k->threads contiguous chunks of at least `grain`
 * items each. Blocks until every chunk is done. Serial when called from inside a chunk (no nested
 * parallelism) or when the range is small. fn must not start a threaded BLAS call: OpenBLAS has
 * its own threads. The one exception is small GEMMs (M*N*K <= 4*65536, which OpenBLAS runs on
 * the calling thread; attention's tiles stay under it, cpu_attention.c). */
typedef void (*cpu_range_fn)(void *arg, int64_t begin, int64_t end);
void cpu_parallel_for(kctx *k, int64_t n, int64_t grain, cpu_range_fn fn, void *arg);

#endif
