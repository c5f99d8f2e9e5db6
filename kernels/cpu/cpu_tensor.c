/* CPU memory: 64-byte aligned host buffers (one cache line, the widest AVX-512 load), the worker
 * pool, and f32 <-> f16/bf16 conversion so that half-precision weights can be stored compactly even
 * though every CPU op computes in f32. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_threads.h"

int cpu_init(kctx *k)
{
    k->impl = cpu_pool_create(k->threads);
    /* GEMMs run outside the pool (cpu_parallel_for never calls BLAS), on OpenBLAS's own threads.
     * The setting is process-wide: the last context started wins. */
    openblas_set_num_threads(k->threads);
    return 0;
}

void cpu_fini(kctx *k)
{
    cpu_pool_destroy(k->impl);
    k->impl = NULL;
    free(k->scratch);
    k->scratch = NULL;
    k->scratch_size = 0;
}

void *cpu_alloc(kctx *k, size_t bytes)
{
    (void)k;
    size_t rounded = (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple of the alignment */
    if (rounded < bytes)
        return NULL;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void cpu_release(kctx *k, void *p)
{
    (void)k;
    free(p);
}

void *cpu_scratch(kctx *k, size_t bytes)
{
    if (bytes <= k->scratch_size)
        return k->scratch;
    free(k->scratch);
    k->scratch_size = 0;
    k->scratch = cpu_alloc(k, bytes);
    if (k->scratch)
        k->scratch_size = bytes;
    return k->scratch;
}

static size_t tensor_bytes(const tensor *t)
{
    return tensor_numel(t) * (t->dtype == K_F32 ? 4 : 2);
}

void cpu_zero(kctx *k, tensor *t)
{
    (void)k;
    memset(t->data, 0, tensor_bytes(t));
}

/* ---- half precision: round to nearest even, NaN kept NaN ---- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static float bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

static uint16_t f32_to_f16(float f)
{
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a > 0x7f800000)
        return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000) { /* below the smallest normal half: a subnormal, rounded by the FPU */
        float m = bits_f32(a) * 16777216.0f; /* scaled by 2^24, one half ulp is 1 */
        return (uint16_t)(sign | (uint32_t)__builtin_roundevenf(m));
    }
    uint32_t h = ((a - 0x38000000) >> 13), rest = a & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0)
        return bits_f32(sign) + (sign ? -1.0f : 1.0f) * (float)m * (1.0f / 16777216.0f);
    if (e == 31)
        return bits_f32(sign | 0x7f800000 | (m << 13));
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

void cpu_upload(kctx *k, tensor *t, const float *host)
{
    (void)k;
    size_t n = tensor_numel(t);
    uint16_t *h = t->data;
    if (t->dtype == K_F32)
        memcpy(t->data, host, n * 4);
    else if (t->dtype == K_BF16)
        for (size_t i = 0; i < n; i++)
            h[i] = f32_to_bf16(host[i]);
    else
        for (size_t i = 0; i < n; i++)
            h[i] = f32_to_f16(host[i]);
}

void cpu_download(kctx *k, const tensor *t, float *host)
{
    (void)k;
    size_t n = tensor_numel(t);
    const uint16_t *h = t->data;
    if (t->dtype == K_F32)
        memcpy(host, t->data, n * 4);
    else if (t->dtype == K_BF16)
        for (size_t i = 0; i < n; i++)
            host[i] = bf16_to_f32(h[i]);
    else
        for (size_t i = 0; i < n; i++)
            host[i] = f16_to_f32(h[i]);
}
