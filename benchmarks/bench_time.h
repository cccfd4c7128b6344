// Timing helpers shared by the benchmark programs: the monotonic clock and
// the process's or the calling thread's CPU time in milliseconds, the peak
// resident memory, the median of a set of times, and the
// "median_ms=... min_ms=..." line their Python drivers parse.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_clock_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// Wall time.
static inline double bench_now_ms(void) { return bench_clock_ms(CLOCK_MONOTONIC); }

// CPU time of all the process's threads.
static inline double bench_cpu_ms(void) { return bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

// CPU time of the calling thread (for single-threaded code on a shared machine).
static inline double bench_thread_cpu_ms(void) { return bench_clock_ms(CLOCK_THREAD_CPUTIME_ID); }

// ru_maxrss: the process's peak resident memory so far.
static inline long bench_peak_rss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Sort t[0..n) in place and return its median (t[n / 2]); t[0] is then the
// minimum. Callers that print both take the median first.
static inline double bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    return t[n / 2];
}

// Back-to-back calls per timed sample so that it lasts at least min_ms, from
// the time of one call, first_ms.
static inline int bench_reps(double first_ms, double min_ms) {
    return first_ms > min_ms ? 1 : (int)(min_ms / (first_ms > 1e-3 ? first_ms : 1e-3)) + 1;
}

// The median and minimum of times[1..reps] (times[0] is the warm-up), without
// the newline, so a caller can add fields.
static inline void bench_print_times(double *times, int reps) {
    const double median = bench_median(times + 1, reps);
    printf("median_ms=%.3f min_ms=%.3f", median, times[1]);
}
