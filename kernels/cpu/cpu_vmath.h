/* Four-wide float math on GCC/Clang vector types (SSE2 at the project's flags), shared by the CPU
 * kernels: loads/stores, a lane select and Cephes' expf. Private to kernels/cpu/. */
#ifndef CPU_VMATH_H
#define CPU_VMATH_H

#include <stdint.h>
#include <string.h>

/* ---- exp, four at a time ----
 * One exp per score against 2 D flops of GEMM: with libm's scalar expf (~3.5 ns) the softmax took
 * most of the time. This is Cephes' expf (Cody-Waite reduction by ln 2, degree-5 polynomial, about
 * 1 ulp) on GCC/Clang vector types, which compile to SSE2 at the project's flags. */
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));
typedef uint32_t u32x4 __attribute__((vector_size(16)));
#define SPLAT(c) ((f32x4){(c), (c), (c), (c)})

static inline f32x4 load4(const float *p)
{
    f32x4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, f32x4 v)
{
    memcpy(p, &v, sizeof v);
}

/* mask ? a : b, lane by lane (mask lanes all ones or all zeros). */
static inline f32x4 select4(i32x4 mask, f32x4 a, f32x4 b)
{
    return (f32x4)(((i32x4)a & mask) | ((i32x4)b & ~mask));
}

/* Cephes' constants as whole vectors: GCC rebuilds a {c, c, c, c} literal lane by lane on every
 * use, a const vector is one load. */
static const f32x4 EXP_LO = {-87.f, -87.f, -87.f, -87.f}, EXP_HI = {88.f, 88.f, 88.f, 88.f};
static const f32x4 LOG2E = {1.44269504f, 1.44269504f, 1.44269504f, 1.44269504f};
static const f32x4 ROUND = {12582912.f, 12582912.f, 12582912.f, 12582912.f}; /* 1.5 * 2^23 */
static const f32x4 LN2_HI = {0.693359375f, 0.693359375f, 0.693359375f, 0.693359375f};
static const f32x4 LN2_LO = {2.12194440e-4f, 2.12194440e-4f, 2.12194440e-4f, 2.12194440e-4f};
static const f32x4 EXP_P[6] = {
    {1.9875691500e-4f, 1.9875691500e-4f, 1.9875691500e-4f, 1.9875691500e-4f},
    {1.3981999507e-3f, 1.3981999507e-3f, 1.3981999507e-3f, 1.3981999507e-3f},
    {8.3334519073e-3f, 8.3334519073e-3f, 8.3334519073e-3f, 8.3334519073e-3f},
    {4.1665795894e-2f, 4.1665795894e-2f, 4.1665795894e-2f, 4.1665795894e-2f},
    {1.6666665459e-1f, 1.6666665459e-1f, 1.6666665459e-1f, 1.6666665459e-1f},
    {5.0000001201e-1f, 5.0000001201e-1f, 5.0000001201e-1f, 5.0000001201e-1f},
};
static const f32x4 ONE = {1.f, 1.f, 1.f, 1.f};
static const i32x4 BIAS = {127, 127, 127, 127};

/* e^x for x <= 88: exactly 0 below -87 (masked scores are -inf), NaN stays NaN. */
static inline __attribute__((always_inline)) f32x4 exp4(f32x4 x)
{
    i32x4 ok = x >= EXP_LO, big = x > EXP_HI;
    f32x4 xc = select4(big, EXP_HI, select4(ok, x, EXP_LO));
    f32x4 n = (xc * LOG2E + ROUND) - ROUND; /* round(x / ln 2) */
    f32x4 r = xc - n * LN2_HI + n * LN2_LO;
    f32x4 p = EXP_P[0];
    for (int i = 1; i < 6; i++)
        p = p * r + EXP_P[i];
    p = p * r * r + r + ONE;
    u32x4 e = (u32x4)(__builtin_convertvector(n, i32x4) + BIAS) << 23; /* 2^n */
    f32x4 y = p * (f32x4)e;
    return (f32x4)(((i32x4)y & ok) | ((i32x4)x & (x != x)));
}


/* e^(x + xl) for a small correction xl (|xl| << 1 ulp of x), added after the reduction: lets an
 * argument carry more bits than one float (erfc's -z^2). */
static inline __attribute__((always_inline)) f32x4 exp4x(f32x4 x, f32x4 xl)
{
    i32x4 ok = x >= EXP_LO, big = x > EXP_HI;
    f32x4 xc = select4(big, EXP_HI, select4(ok, x, EXP_LO));
    f32x4 n = (xc * LOG2E + ROUND) - ROUND;
    f32x4 r = xc - n * LN2_HI + n * LN2_LO + xl;
    f32x4 p = EXP_P[0];
    for (int i = 1; i < 6; i++)
        p = p * r + EXP_P[i];
    p = p * r * r + r + ONE;
    u32x4 e = (u32x4)(__builtin_convertvector(n, i32x4) + BIAS) << 23;
    f32x4 y = p * (f32x4)e;
    return (f32x4)(((i32x4)y & ok) | ((i32x4)x & (x != x)));
}

/* 1 / (1 + e^-x): exp4 clamps its argument to [-87, 88], so the tails are 1 and ~6e-39. */
static inline __attribute__((always_inline)) f32x4 sigmoid4(f32x4 x)
{
    return ONE / (ONE + exp4(-x));
}

/* Phi(x) = (1 + erf(x / sqrt 2)) / 2, the normal CDF, from erfc(z) for z = |x| / sqrt 2 >= 0 by
 * the Chebyshev fit of Numerical Recipes (erfcc: t = 1 / (1 + z/2),
 * erfc = t exp(-z^2 + P(t)), fractional error < 1.2e-7 for every z), so Phi keeps its relative
 * accuracy in the left tail: 0.5 erfc for x < 0, 1 - 0.5 erfc above. One exp, no erff. The sweep in
 * tests/unit/test_kernels_pointwise.c bounds the error against erf in double. */
static const f32x4 ERFC_P[10] = {
    {0.17087277f, 0.17087277f, 0.17087277f, 0.17087277f},
    {-0.82215223f, -0.82215223f, -0.82215223f, -0.82215223f},
    {1.48851587f, 1.48851587f, 1.48851587f, 1.48851587f},
    {-1.13520398f, -1.13520398f, -1.13520398f, -1.13520398f},
    {0.27886807f, 0.27886807f, 0.27886807f, 0.27886807f},
    {-0.18628806f, -0.18628806f, -0.18628806f, -0.18628806f},
    {0.09678418f, 0.09678418f, 0.09678418f, 0.09678418f},
    {0.37409196f, 0.37409196f, 0.37409196f, 0.37409196f},
    {1.00002368f, 1.00002368f, 1.00002368f, 1.00002368f},
    {-1.26551223f, -1.26551223f, -1.26551223f, -1.26551223f},
};
static const f32x4 HALF = {0.5f, 0.5f, 0.5f, 0.5f};
static const f32x4 VSQRT1_2 = {0.70710678f, 0.70710678f, 0.70710678f, 0.70710678f};
static const f32x4 VINV_SQRT_2PI = {0.39894228f, 0.39894228f, 0.39894228f, 0.39894228f};

static inline __attribute__((always_inline)) f32x4 phi4(f32x4 x)
{
    f32x4 z = (f32x4)((i32x4)x & (i32x4){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}) * VSQRT1_2;
    f32x4 t = ONE / (ONE + HALF * z);
    f32x4 p = ERFC_P[0];
    for (int i = 1; i < 10; i++)
        p = p * t + ERFC_P[i];
    /* -z^2 + p in two floats, z^2 = x^2 / 2 taken from x (z itself is rounded): xh (x to 12 bits)
     * squares exactly, x^2 = xh^2 + (x - xh)(x + xh), and the sum with p is split by two-sum
     * (xh^2 / 2 >= |p| wherever the rounding matters). */
    f32x4 xh = (f32x4)((i32x4)x & (i32x4){-4096, -4096, -4096, -4096});
    f32x4 a = -HALF * (xh * xh), s = a + p;
    f32x4 lo = ((a - s) + p) - HALF * ((x - xh) * (x + xh));
    f32x4 h = HALF * t * exp4x(s, lo); /* erfc(z) / 2 */
    return select4(x < SPLAT(0.f), h, ONE - h);
}

/* x Phi(x), the exact GELU. */
static inline __attribute__((always_inline)) f32x4 gelu4(f32x4 x)
{
    return x * phi4(x);
}

/* d gelu / dx = Phi(x) + x phi(x), phi the normal density. */
static inline __attribute__((always_inline)) f32x4 gelu_grad4(f32x4 x)
{
    return phi4(x) + x * VINV_SQRT_2PI * exp4(-HALF * x * x);
}

#endif
