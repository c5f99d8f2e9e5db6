/* The rng: the published reference streams (so a seed means the same numbers on every machine
 * and in every later version), and the properties the pipeline relies on. */
#include "tagger/rng.h"

#include <stdint.h>

#include "tests/unit/check.h"

/* splitmix64 from 0 gives e220a8397b1dcdaf, 6e789e6aa1b965f4, ... (Vigna's reference code). */
static void test_seed_uses_splitmix64(void)
{
    rng r;
    rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafULL);
    CHECK(r.s[1] == 0x6e789e6aa1b965f4ULL);
    CHECK(r.s[2] == 0x06c45d188009454fULL);
    CHECK(r.s[3] == 0xf88bb8a8724c81ecULL);
}

/* xoshiro256** from the state {1, 2, 3, 4}: the reference implementation's first outputs. */
static void test_next_matches_xoshiro256starstar(void)
{
    rng r = {{1, 2, 3, 4}};
    CHECK(rng_next(&r) == 11520ULL);
    CHECK(rng_next(&r) == 0ULL);
    CHECK(rng_next(&r) == 1509978240ULL);
    CHECK(rng_next(&r) == 1215971899390074240ULL);
    CHECK(rng_next(&r) == 1216172134540287360ULL);
}

static void test_same_seed_same_stream(void)
{
    rng a, b;
    rng_seed(&a, 12345);
    rng_seed(&b, 12345);
    int same = 0;
    for (int i = 0; i < 1000; i++)
        same += rng_next(&a) == rng_next(&b);
    CHECK_INT(same, 1000);
}

static void test_nearby_seeds_differ(void)
{
    /* seeds 0, 1, 2 ... are what users type; their streams must not overlap at the start */
    uint64_t first[16];
    for (int s = 0; s < 16; s++) {
        rng r;
        rng_seed(&r, (uint64_t)s);
        first[s] = rng_next(&r);
    }
    int equal = 0;
    for (int i = 0; i < 16; i++)
        for (int j = i + 1; j < 16; j++)
            equal += first[i] == first[j];
    CHECK_INT(equal, 0);
}

static void test_uniform_uses_top_53_bits(void)
{
    rng a, b;
    rng_seed(&a, 7);
    rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) {
        double u = rng_uniform(&a);
        CHECK(u == (double)(rng_next(&b) >> 11) / 9007199254740992.0);
        CHECK(u >= 0.0 && u < 1.0);
    }
}

static void test_uniform_mean_and_spread(void)
{
    rng r;
    rng_seed(&r, 1);
    int n = 200000, below_tenth = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        sum += u;
        below_tenth += u < 0.1;
    }
    CHECK_NEAR(sum / n, 0.5, 0.005);                 /* sd of the mean is 0.00065 */
    CHECK_NEAR((double)below_tenth / n, 0.1, 0.004); /* sd 0.00067 */
}

static void test_below_stays_in_range_and_is_even(void)
{
    rng r;
    rng_seed(&r, 2);
    long counts[10] = {0};
    int out_of_range = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = rng_below(&r, 10);
        if (v >= 10)
            out_of_range++;
        else
            counts[v]++;
    }
    CHECK_INT(out_of_range, 0);
    for (int k = 0; k < 10; k++)
        CHECK_NEAR((double)counts[k], 10000.0, 500.0); /* sd is 95 */
}

/* With n = 3 * 2^62, plain `x % n` would give [0, 2^62) half of the time instead of a third. */
static void test_below_has_no_modulo_bias(void)
{
    rng r;
    rng_seed(&r, 3);
    uint64_t n = 3ULL << 62, low = 0;
    int trials = 30000;
    for (int i = 0; i < trials; i++) {
        uint64_t v = rng_below(&r, n);
        CHECK(v < n);
        low += v < (1ULL << 62);
    }
    CHECK_NEAR((double)low / trials, 1.0 / 3.0, 0.015); /* sd 0.0027; biased would be 0.5 */
}

/* A one-way choice still costs a draw, as Python's random.choice([x]) does. */
static void test_below_one_consumes_a_draw(void)
{
    rng a, b;
    rng_seed(&a, 4);
    rng_seed(&b, 4);
    CHECK_INT(rng_below(&a, 1), 0);
    rng_next(&b);
    CHECK(rng_next(&a) == rng_next(&b));
}

int main(void)
{
    RUN(test_seed_uses_splitmix64);
    RUN(test_next_matches_xoshiro256starstar);
    RUN(test_same_seed_same_stream);
    RUN(test_nearby_seeds_differ);
    RUN(test_uniform_uses_top_53_bits);
    RUN(test_uniform_mean_and_spread);
    RUN(test_below_stays_in_range_and_is_even);
    RUN(test_below_has_no_modulo_bias);
    RUN(test_below_one_consumes_a_draw);
    return check_finish();
}
