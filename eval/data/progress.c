/* A progress line on stderr for long scoring runs: items/s and ETA, redrawn at most 4 times a
 * second with '\r' when stderr is a terminal, or one line every 10 s otherwise (--progress into
 * a log file). */
#include "eval/eval.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void vlm_progress_init(vlm_progress *p, const char *label, const char *unit, int force) {
    p->tty = isatty(2);
    p->enabled = force || p->tty;
    p->label = label;
    p->unit = unit;
    p->t0 = now_s();
    p->last = p->t0; /* the first line after one interval: short runs stay quiet */
    p->drawn = 0;
}

static void draw(vlm_progress *p, int64_t done, int64_t total, double t) {
    double el = t - p->t0, rate = el > 0 ? done / el : 0;
    char eta[32] = "";
    if (total > 0 && rate > 0 && done < total) {
        long s = (long)((total - done) / rate + 0.5);
        snprintf(eta, sizeof eta, ", ETA %ld:%02ld", s / 60, s % 60);
    }
    char of[32] = "";
    if (total >= 0)
        snprintf(of, sizeof of, "/%lld", (long long)total);
    fprintf(stderr, "%s%s: %lld%s %s, %.1f %s/s%s%s", p->tty ? "\r" : "", p->label, (long long)done,
            of, p->unit, rate, p->unit, eta, p->tty ? "\033[K" : "\n");
    fflush(stderr);
    p->drawn = 1;
}

void vlm_progress_update(vlm_progress *p, int64_t done, int64_t total) {
    if (!p->enabled)
        return;
    double t = now_s();
    if (t - p->last < (p->tty ? 0.25 : 10.0))
        return;
    p->last = t;
    draw(p, done, total, t);
}

void vlm_progress_callback(void *ctx, int64_t done, int64_t total) {
    vlm_progress_update(ctx, done, total);
}

void vlm_progress_finish(vlm_progress *p, int64_t done, int64_t total) {
    /* a terminal line is completed only if one was started; a log always gets the summary */
    if (!p->enabled || (p->tty && !p->drawn))
        return;
    draw(p, done, total, now_s());
    if (p->tty)
        fputc('\n', stderr);
}
