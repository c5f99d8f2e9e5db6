/* The six kohya LR schedulers against transformers' formulas (reference/trainers.md §4.5),
 * written again here, at the start, through warm-up, its end, the middle, the end and beyond, for
 * several (W, T) including T − W = 0; the warm-up resolution; the refusals. */
#include "trainer/lr_schedule.h"

#include <math.h>
#include <string.h>

#include "tests/unit/check.h"

/* ---- the formulas, written from transformers' optimization.py ---- */

static double warm(long s, long W)
{
    return (double)s / (double)(W > 1 ? W : 1);
}

static double ref_linear(long s, long W, long T)
{
    if (s < W)
        return warm(s, W);
    double v = (double)(T - s) / (double)(T - W > 1 ? T - W : 1);
    return v > 0 ? v : 0;
}

static double progress(long s, long W, long T)
{
    return (double)(s - W) / (double)(T - W > 1 ? T - W : 1);
}

static double ref_cosine(long s, long W, long T)
{
    if (s < W)
        return warm(s, W);
    double v = 0.5 * (1 + cos(M_PI * 0.5 * 2 * progress(s, W, T)));
    return v > 0 ? v : 0;
}

static double ref_restarts(long s, long W, long T, int cycles)
{
    if (s < W)
        return warm(s, W);
    double p = progress(s, W, T);
    if (p >= 1)
        return 0;
    double x = cycles * p;
    double v = 0.5 * (1 + cos(M_PI * (x - floor(x))));
    return v > 0 ? v : 0;
}

static double ref_poly(long s, long W, long T, double power, double lr0, double lr_end)
{
    if (s < W)
        return warm(s, W);
    if (s > T)
        return lr_end / lr0;
    double rem = 1 - (double)(s - W) / (double)(T - W);
    return ((lr0 - lr_end) * pow(rem, power) + lr_end) / lr0;
}

static lr_schedule make(lr_scheduler_kind kind, double warmup, long T)
{
    lr_schedule_opts o;
    lr_schedule_opts_default(&o);
    o.kind = kind;
    o.warmup = warmup;
    o.total_steps = T;
    lr_schedule s;
    tg_error err = {{0}};
    if (lr_schedule_init(&s, &o, &err) != 0) {
        fprintf(stderr, "  init: %s\n", err.msg);
        CHECK(!"init");
    }
    return s;
}

/* The steps worth looking at for (W, T): each of 0..3, W−1..W+1, the middle, T−1..T+2, 2T. */
static int probe_steps(long W, long T, long *out)
{
    long c[] = {0, 1, 2, 3, W - 1, W, W + 1, (W + T) / 2, T - 1, T, T + 1, T + 2, 2 * T};
    int n = 0;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        if (c[i] >= 0)
            out[n++] = c[i];
    return n;
}

static const long cases[][2] = {
    /* W, T */
    {0, 100}, {10, 100}, {1, 100}, {99, 100}, {0, 1}, {100, 100}, {5, 5}, {150, 100}, {7, 1000},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_constant(void)
{
    lr_schedule s = make(LR_CONSTANT, 0, 100);
    CHECK(lr_schedule_factor(&s, 0) == 1.0);
    CHECK(lr_schedule_factor(&s, 50) == 1.0);
    CHECK(lr_schedule_factor(&s, 1000) == 1.0);
    CHECK_NEAR(lr_schedule_lr(&s, 1e-4, 7), 1e-4, 0);
}

static void test_constant_with_warmup(void)
{
    for (size_t c = 0; c < N_CASES; c++) {
        long W = cases[c][0], T = cases[c][1], steps[16];
        lr_schedule s = make(LR_CONSTANT_WITH_WARMUP, (double)W, T);
        int n = probe_steps(W, T, steps);
        for (int i = 0; i < n; i++)
            CHECK_NEAR(lr_schedule_factor(&s, steps[i]), steps[i] < W ? warm(steps[i], W) : 1.0, 0);
    }
    lr_schedule s = make(LR_CONSTANT_WITH_WARMUP, 4, 100);
    CHECK(lr_schedule_factor(&s, 0) == 0.0); /* the first update has lr 0, as in kohya */
    CHECK(lr_schedule_factor(&s, 2) == 0.5);
    CHECK(lr_schedule_factor(&s, 4) == 1.0);
}

static void test_linear(void)
{
    for (size_t c = 0; c < N_CASES; c++) {
        long W = cases[c][0], T = cases[c][1], steps[16];
        lr_schedule s = make(LR_LINEAR, (double)W, T);
        int n = probe_steps(W, T, steps);
        for (int i = 0; i < n; i++)
            CHECK_NEAR(lr_schedule_factor(&s, steps[i]), ref_linear(steps[i], W, T), 1e-15);
    }
    lr_schedule s = make(LR_LINEAR, 10, 110);
    CHECK(lr_schedule_factor(&s, 10) == 1.0);
    CHECK(lr_schedule_factor(&s, 60) == 0.5);
    CHECK(lr_schedule_factor(&s, 110) == 0.0);
    CHECK(lr_schedule_factor(&s, 500) == 0.0);
    s = make(LR_LINEAR, 5, 5); /* T − W = 0: warm-up, then 0 from T on */
    CHECK(lr_schedule_factor(&s, 4) == 0.8);
    CHECK(lr_schedule_factor(&s, 5) == 0.0);
}

static void test_cosine(void)
{
    for (size_t c = 0; c < N_CASES; c++) {
        long W = cases[c][0], T = cases[c][1], steps[16];
        lr_schedule s = make(LR_COSINE, (double)W, T);
        int n = probe_steps(W, T, steps);
        for (int i = 0; i < n; i++)
            CHECK_NEAR(lr_schedule_factor(&s, steps[i]), ref_cosine(steps[i], W, T), 1e-15);
    }
    lr_schedule s = make(LR_COSINE, 10, 110);
    CHECK(lr_schedule_factor(&s, 10) == 1.0);
    CHECK_NEAR(lr_schedule_factor(&s, 60), 0.5, 1e-15);
    CHECK_NEAR(lr_schedule_factor(&s, 110), 0.0, 1e-15);
    /* transformers' formula is a periodic cosine: past T it climbs again (kohya never gets there) */
    CHECK_NEAR(lr_schedule_factor(&s, 210), 1.0, 1e-15);
}

static void test_cosine_with_restarts(void)
{
    for (int cycles = 0; cycles <= 4; cycles++) {
        for (size_t c = 0; c < N_CASES; c++) {
            long W = cases[c][0], T = cases[c][1], steps[16];
            lr_schedule_opts o;
            lr_schedule_opts_default(&o);
            o.kind = LR_COSINE_WITH_RESTARTS;
            o.warmup = (double)W;
            o.total_steps = T;
            o.num_cycles = cycles;
            lr_schedule s;
            tg_error err = {{0}};
            CHECK_INT(lr_schedule_init(&s, &o, &err), 0);
            int n = probe_steps(W, T, steps);
            for (int i = 0; i < n; i++)
                CHECK_NEAR(lr_schedule_factor(&s, steps[i]), ref_restarts(steps[i], W, T, cycles),
                           1e-15);
        }
    }
    /* 2 cycles over 100 steps: back to 1 at step 50, 0 from T on */
    lr_schedule_opts o;
    lr_schedule_opts_default(&o);
    o.kind = LR_COSINE_WITH_RESTARTS;
    o.total_steps = 100;
    o.num_cycles = 2;
    lr_schedule s;
    CHECK_INT(lr_schedule_init(&s, &o, NULL), 0);
    CHECK(lr_schedule_factor(&s, 0) == 1.0);
    CHECK_NEAR(lr_schedule_factor(&s, 25), 0.5, 1e-15);
    CHECK(lr_schedule_factor(&s, 50) == 1.0);
    CHECK(lr_schedule_factor(&s, 100) == 0.0);
    CHECK(lr_schedule_factor(&s, 150) == 0.0);
}

static void test_polynomial(void)
{
    const double powers[] = {1.0, 2.0, 0.5, 0.0};
    for (size_t p = 0; p < sizeof powers / sizeof powers[0]; p++) {
        for (size_t c = 0; c < N_CASES; c++) {
            long W = cases[c][0], T = cases[c][1], steps[16];
            if (W == T)
                continue; /* refused, see test_refusals */
            lr_schedule_opts o;
            lr_schedule_opts_default(&o);
            o.kind = LR_POLYNOMIAL;
            o.warmup = (double)W;
            o.total_steps = T;
            o.power = powers[p];
            o.lr_init = 2e-4;
            lr_schedule s;
            tg_error err = {{0}};
            CHECK_INT(lr_schedule_init(&s, &o, &err), 0);
            int n = probe_steps(W, T, steps);
            for (int i = 0; i < n; i++)
                CHECK_NEAR(lr_schedule_factor(&s, steps[i]),
                           ref_poly(steps[i], W, T, powers[p], 2e-4, 1e-7), 1e-15);
        }
    }
    /* power 1 is linear down to lr_end, then stays there */
    lr_schedule s = make(LR_POLYNOMIAL, 0, 100); /* lr_init 1e-4 */
    CHECK(lr_schedule_factor(&s, 0) == 1.0);
    CHECK_NEAR(lr_schedule_lr(&s, 1e-4, 50), 0.5 * (1e-4 - 1e-7) + 1e-7, 1e-19);
    CHECK_NEAR(lr_schedule_lr(&s, 1e-4, 100), 1e-7, 1e-20);
    CHECK_NEAR(lr_schedule_lr(&s, 1e-4, 1000), 1e-7, 1e-20);
}

static void test_warmup_resolution(void)
{
    long w = -1;
    tg_error err = {{0}};
    CHECK_INT(lr_warmup_resolve(0, 1000, &w, &err), 0);
    CHECK_INT(w, 0);
    CHECK_INT(lr_warmup_resolve(250, 1000, &w, &err), 0);
    CHECK_INT(w, 250);
    CHECK_INT(lr_warmup_resolve(1, 1000, &w, &err), 0); /* 1 is a step count, not 100 % */
    CHECK_INT(w, 1);
    CHECK_INT(lr_warmup_resolve(0.1, 1000, &w, &err), 0);
    CHECK_INT(w, 100);
    CHECK_INT(lr_warmup_resolve(0.05, 1610, &w, &err), 0); /* int(80.5) */
    CHECK_INT(w, 80);
    CHECK_INT(lr_warmup_resolve(0.05, 10, &w, &err), 0); /* int(0.5) */
    CHECK_INT(w, 0);
    CHECK_INT(lr_warmup_resolve(2.5, 1000, &w, &err), -1);
    CHECK(strstr(err.msg, "lr_warmup_steps") != NULL);
    CHECK_INT(lr_warmup_resolve(-1, 1000, &w, &err), -1);
    CHECK(strstr(err.msg, "lr_warmup_steps") != NULL);
    CHECK_INT(lr_warmup_resolve(NAN, 1000, &w, &err), -1);

    /* a fraction goes through the scheduler */
    lr_schedule s = make(LR_LINEAR, 0.1, 200);
    CHECK_INT(s.warmup, 20);
    CHECK_NEAR(lr_schedule_factor(&s, 10), 0.5, 0);
    /* constant with a fraction that truncates to 0 steps is fine in kohya too */
    s = make(LR_CONSTANT, 0.05, 10);
    CHECK_INT(s.warmup, 0);
}

static void test_names(void)
{
    static const char *const all[] = {"constant", "constant_with_warmup", "linear", "cosine",
                                      "cosine_with_restarts", "polynomial"};
    tg_error err = {{0}};
    for (int i = 0; i < 6; i++) {
        lr_scheduler_kind k;
        CHECK_INT(lr_scheduler_parse(all[i], &k, &err), 0);
        CHECK_STR(lr_scheduler_name(k), all[i]);
    }
    lr_scheduler_kind k;
    CHECK_INT(lr_scheduler_parse("Cosine", &k, &err), -1);
    CHECK(strstr(err.msg, "lr_scheduler") && strstr(err.msg, "\"Cosine\""));
    CHECK(strstr(err.msg, "constant, constant_with_warmup, linear, cosine, cosine_with_restarts, "
                          "polynomial") != NULL);
    CHECK_INT(lr_scheduler_parse("cosine_with_min_lr", &k, &err), -1);
    CHECK(strstr(err.msg, "not support") && strstr(err.msg, "polynomial"));
    CHECK_INT(lr_scheduler_parse("adafactor:1e-3", &k, &err), -1);
    CHECK(strstr(err.msg, "not support") != NULL);
    CHECK_INT(lr_scheduler_parse(NULL, &k, &err), -1);
}

static void test_refusals(void)
{
    lr_schedule_opts o;
    lr_schedule s;
    tg_error err = {{0}};

    /* kohya: "constant does not require `num_warmup_steps`. Set None or 0." */
    lr_schedule_opts_default(&o);
    o.warmup = 100;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "lr_warmup_steps") && strstr(err.msg, "constant_with_warmup"));
    o.warmup = 0.5;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);

    lr_schedule_opts_default(&o);
    o.kind = LR_POLYNOMIAL;
    o.lr_init = 1e-7;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "learning_rate") != NULL);

    lr_schedule_opts_default(&o);
    o.kind = LR_POLYNOMIAL;
    o.warmup = 100;
    o.total_steps = 100;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "lr_warmup_steps") != NULL);

    lr_schedule_opts_default(&o);
    o.kind = LR_POLYNOMIAL;
    o.power = -1;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "lr_scheduler_power") != NULL);

    lr_schedule_opts_default(&o);
    o.kind = LR_COSINE_WITH_RESTARTS;
    o.num_cycles = -1;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "lr_scheduler_num_cycles") != NULL);

    lr_schedule_opts_default(&o);
    o.kind = LR_LINEAR;
    o.total_steps = 0;
    CHECK_INT(lr_schedule_init(&s, &o, &err), -1);
    CHECK(strstr(err.msg, "max_train_steps") != NULL);
}

int main(void)
{
    RUN(test_constant);
    RUN(test_constant_with_warmup);
    RUN(test_linear);
    RUN(test_cosine);
    RUN(test_cosine_with_restarts);
    RUN(test_polynomial);
    RUN(test_warmup_resolution);
    RUN(test_names);
    RUN(test_refusals);
    return check_finish();
}
