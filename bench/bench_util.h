/* Small things every benchmark needs: a monotonic clock, a comparison for qsort, what the machine
 * is (its CPU, its load) and rm -rf. Header-only because the Makefile builds each bench/bench_*.c
 * on its own, as a program of its own. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* CLOCK_MONOTONIC in seconds */
static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* qsort's comparison for doubles, ascending */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The CPU's "model name" from /proc/cpuinfo, or "unknown". */
static inline void bench_cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    if (f)
        fclose(f);
}

/* /proc/loadavg's line (1/5/15 min, running/total, last pid), or with first_only its first field
 * (the 1-minute load); "?" when it cannot be read. Cut to size - 1 characters. */
static inline void bench_loadavg(char *out, size_t size, bool first_only)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char buf[128] = "?";
    if (f && fgets(buf, sizeof buf, f))
        buf[strcspn(buf, "\n")] = '\0';
    if (f)
        fclose(f);
    if (first_only)
        buf[strcspn(buf, " ")] = '\0';
    snprintf(out, size, "%s", buf);
}

static inline int bench_unlink_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* rm -rf root: depth first, never following links out of the tree. 0, or -1 with errno set. */
static inline int bench_remove_tree(const char *root)
{
    return nftw(root, bench_unlink_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
