// Progress for long runs: a redrawn bar on a terminal, plain log lines
// (about every 5 s and at the end) when stderr is not a terminal.
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct useg_progress {
    const char *label;
    int64_t total;      // items expected (0: unknown)
    int64_t done;
    double start_s;     // monotonic seconds at start
    double last_draw_s;
    bool tty;
} useg_progress;

void useg_progress_start(useg_progress *p, const char *label, int64_t total);
// Mark `n` more items done and redraw when due.
void useg_progress_advance(useg_progress *p, int64_t n);
// Final line with the item rate.
void useg_progress_finish(useg_progress *p);
// Monotonic clock in seconds.
double useg_now_s(void);
