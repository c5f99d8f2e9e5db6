/* xoshiro256** (Blackman & Vigna), seeded through splitmix64 so that nearby seeds (0, 1, 2, ...)
 * still give unrelated streams and the all-zero state, from which xoshiro never leaves, cannot
 * occur. Only fixed-width integer arithmetic: the same seed gives the same numbers everywhere. */
#include "tagger/rng.h"

static uint64_t splitmix64_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_seed(rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64_next(&x);
    /* splitmix64 is a bijection of its counter, so four consecutive outputs are never all zero;
     * guard anyway, because an all-zero state would return zeros forever. */
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;
}

uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rng *r)
{
    /* The top 53 bits are the best ones of xoshiro256**; 53 bits fill a double's mantissa, so
     * every value k / 2^53 is equally likely, as with Python's random.random(). */
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t rng_below(rng *r, uint64_t n)
{
    if (n <= 1) {
        /* Still consume a draw, as Python's random.choice does for a one-item list (e.g. the
         * wildcard `{a}`): adding a one-option group then shifts later draws in both. */
        rng_next(r);
        return 0;
    }
    /* Reject the lowest 2^64 mod n values so that every residue has the same number of
     * pre-images; the rejection happens with probability < n / 2^64. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = rng_next(r);
        if (x >= threshold)
            return x % n;
    }
}
