#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double useg_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void useg_progress_start(useg_progress *p, const char *label, int64_t total) {
    *p = (useg_progress){.label = label, .total = total, .start_s = useg_now_s(), .tty = isatty(2) == 1};
    p->last_draw_s = p->start_s;
}

static void draw(const useg_progress *p, bool final) {
    double elapsed = useg_now_s() - p->start_s;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    if (p->tty) {
        enum { WIDTH = 30 };
        int filled = p->total > 0 ? (int)(WIDTH * p->done / p->total) : 0;
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %lld/%lld  %.2f/s  %.0fs%s", p->label, bar, (long long)p->done,
                (long long)p->total, rate, elapsed, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %lld/%lld done, %.2f/s, %.0fs elapsed\n", p->label, (long long)p->done,
                (long long)p->total, rate, elapsed);
    }
    fflush(stderr);
}

void useg_progress_advance(useg_progress *p, int64_t n) {
    p->done += n;
    double now = useg_now_s();
    if (now - p->last_draw_s >= (p->tty ? 0.1 : 5.0)) {
        p->last_draw_s = now;
        draw(p, false);
    }
}

void useg_progress_finish(useg_progress *p) { draw(p, true); }
