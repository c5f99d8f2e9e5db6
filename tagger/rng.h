/* A small, explicit random-number state (xoshiro256**, seeded through splitmix64). Every random
 * choice in the caption pipeline and the trainer's data order draws from one of these, so that a
 * seed reproduces a draw exactly on every machine. */
#ifndef TAGGER_RNG_H
#define TAGGER_RNG_H
#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 53 random bits, like Python's random.random(). */
double rng_uniform(rng *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t rng_below(rng *r, uint64_t n);

#endif
