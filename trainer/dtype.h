/* Conversions between f32 and the narrower float formats tensors are stored in. To f32 is exact;
 * from f32 rounds to nearest, ties to even, as GPUs and numpy do. Infinities and signed zeros
 * are kept, subnormals are rounded like any other value, values beyond the format's range become
 * infinities, and a NaN stays a NaN of the same sign with as much of its payload as fits (so
 * every f16 and bf16 value, NaNs included, survives a trip through f32 bit for bit). */
#ifndef TRAINER_DTYPE_H
#define TRAINER_DTYPE_H
#include <stddef.h>
#include <stdint.h>

/* IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits; max 65504. */
uint16_t f16_from_f32(float f);
float f16_to_f32(uint16_t h);

/* bfloat16: the top half of an f32 (8 exponent, 7 mantissa bits); f32's range. */
uint16_t bf16_from_f32(float f);
float bf16_to_f32(uint16_t h);

/* 8-bit floats (read only): E4M3FN (bias 7, no infinities, S.1111.111 is NaN, max 448) and
 * E5M2 (bias 15, the top byte of an f16). */
float f8e4m3_to_f32(uint8_t b);
float f8e5m2_to_f32(uint8_t b);

/* n values at a time; src of the *_to_f32 functions need not be aligned (it is read with
 * memcpy), as tensor data mapped from a file may not be. */
void f16_from_f32_n(uint16_t *dst, const float *src, size_t n);
void bf16_from_f32_n(uint16_t *dst, const float *src, size_t n);
void f16_to_f32_n(float *dst, const void *src, size_t n);
void bf16_to_f32_n(float *dst, const void *src, size_t n);

#endif
