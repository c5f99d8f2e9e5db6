/* Minimal unit-test harness. A test is a function; it passes when none of its checks failed.
 * Each test binary ends with "N passed, N failed" (tests/run.sh adds the lines up). */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_tests_passed, check_tests_failed, check_current_failed;
static const char *check_current_name;

#define CHECK(cond) do { if (!(cond)) { check_current_failed++; \
    fprintf(stderr, "  FAIL %s:%d in %s: %s\n", __FILE__, __LINE__, check_current_name, #cond); } } while (0)

#define CHECK_INT(a, b) do { long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
    if (check_a_ != check_b_) { check_current_failed++; \
    fprintf(stderr, "  FAIL %s:%d in %s: %s == %lld, expected %lld\n", __FILE__, __LINE__, \
            check_current_name, #a, check_a_, check_b_); } } while (0)

#define CHECK_STR(a, b) do { const char *check_a_ = (a), *check_b_ = (b); \
    if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) { check_current_failed++; \
    fprintf(stderr, "  FAIL %s:%d in %s: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
            check_current_name, #a, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); } } while (0)

#define CHECK_NEAR(a, b, tol) do { double check_a_ = (a), check_b_ = (b); \
    if (!(check_a_ - check_b_ <= (tol) && check_b_ - check_a_ <= (tol))) { check_current_failed++; \
    fprintf(stderr, "  FAIL %s:%d in %s: %s == %g, expected %g\n", __FILE__, __LINE__, \
            check_current_name, #a, check_a_, check_b_); } } while (0)

#define RUN(test) do { check_current_name = #test; check_current_failed = 0; test(); \
    if (check_current_failed) { check_tests_failed++; fprintf(stderr, "not ok %s\n", #test); } \
    else { check_tests_passed++; } } while (0)

static inline int check_finish(void)
{
    printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}
#endif
