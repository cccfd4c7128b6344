// Timing helpers shared by the benchmark programs: a monotonic clock and the
// process's CPU time in milliseconds, its peak resident memory, and the
// "median_ms=... min_ms=..." line their Python drivers parse.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// CPU time of all the process's threads.
static inline double bench_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static inline long bench_peak_rss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Sort times[1..reps] (times[0] is the warm-up) and print their median and
// minimum, without the newline, so a caller can add fields.
static inline void bench_print_times(double *times, int reps) {
    qsort(times + 1, (size_t)reps, sizeof(double), bench_cmp_double);
    printf("median_ms=%.3f min_ms=%.3f", times[1 + reps / 2], times[1]);
}
