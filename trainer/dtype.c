/* Float format conversions by bit manipulation, so that results do not depend on the compiler's
 * or the CPU's support for half types. */
#include "trainer/dtype.h"

#include <string.h>

static uint32_t bits_of(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static float float_of(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint16_t f16_from_f32(float f)
{
    uint32_t x = bits_of(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) { /* NaN: keep the top of the payload; never let it become an infinity */
        uint32_t payload = (ax >> 13) & 0x3ff;
        return sign | 0x7c00 | (uint16_t)(payload ? payload : 0x200);
    }
    if (ax >= 0x477ff000) /* >= 65520, halfway between 65504 and 65536: ties to even, infinity */
        return sign | 0x7c00;
    if (ax >= 0x38800000) { /* >= 2^-14: a normal f16. Rebias 127 -> 15, round off 13 bits */
        ax += 0x0fff + ((ax >> 13) & 1);
        return sign | (uint16_t)((ax - 0x38000000) >> 13);
    }
    if (ax < 0x33000000) /* < 2^-25 (half the smallest subnormal, 2^-24; the tie goes to 0 too) */
        return sign;
    /* A subnormal f16 counts units of 2^-24: the value is m * 2^(e - 126) units. */
    uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
        r++; /* may reach 0x400, the smallest normal: the bits carry into the exponent */
    return sign | (uint16_t)r;
}

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f)
        return float_of(sign | 0x7f800000 | (m << 13));
    if (e)
        return float_of(sign | ((e + 112) << 23) | (m << 13));
    /* zero or subnormal: m * 2^-24, exact in f32 */
    return float_of(sign | bits_of((float)m * 0x1p-24f));
}

uint16_t bf16_from_f32(float f)
{
    uint32_t x = bits_of(f);
    if ((x & 0x7fffffff) > 0x7f800000) {
        uint16_t h = (uint16_t)(x >> 16);
        return (h & 0x7f) ? h : h | 0x40;
    }
    /* Round off 16 bits, ties to even; a carry into the exponent is right, up to infinity. */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

float bf16_to_f32(uint16_t h)
{
    return float_of((uint32_t)h << 16);
}

float f8e4m3_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80) << 24, e = (b >> 3) & 0xf, m = b & 7;
    if (e == 0xf && m == 7)
        return float_of(sign | 0x7fc00000);
    if (e)
        return float_of(sign | ((e + 120) << 23) | (m << 20));
    return float_of(sign | bits_of((float)m * 0x1p-9f));
}

float f8e5m2_to_f32(uint8_t b)
{
    return f16_to_f32((uint16_t)(b << 8));
}

void f16_from_f32_n(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_from_f32(src[i]);
}

void bf16_from_f32_n(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = bf16_from_f32(src[i]);
}

void f16_to_f32_n(float *dst, const void *src, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = f16_to_f32(h);
    }
}

void bf16_to_f32_n(float *dst, const void *src, size_t n)
{
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
    }
}
