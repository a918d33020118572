#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

double vlm_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics of sorted s (NumPy "linear"). */
static double quantile(const double *s, int n, double q) {
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

void vlm_stats_compute(const double *samples, int n, vlm_stats *out) {
    memset(out, 0, sizeof *out);
    if (n <= 0)
        return;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return;
    memcpy(s, samples, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    out->n = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = quantile(s, n, 0.5);
    out->p10 = quantile(s, n, 0.1);
    out->p90 = quantile(s, n, 0.9);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        sum += s[i];
        s[i] = fabs(s[i] - out->median);
    }
    out->mean = sum / n;
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    out->mad = quantile(s, n, 0.5);
    /* percentile bootstrap of the median, fixed seed (xorshift64*) */
    enum { RESAMPLES = 2000 };
    double *meds = malloc(RESAMPLES * sizeof *meds), *r = s; /* reuse s for resamples */
    out->ci_lo = out->ci_hi = out->median;
    if (meds && n > 1) {
        uint64_t x = 0x853c49e6748fea9bull;
        for (int b = 0; b < RESAMPLES; b++) {
            for (int i = 0; i < n; i++) {
                x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
                r[i] = samples[(x * 0x2545f4914f6cdd1dull >> 33) % (uint64_t)n];
            }
            qsort(r, (size_t)n, sizeof *r, cmp_double);
            meds[b] = quantile(r, n, 0.5);
        }
        qsort(meds, RESAMPLES, sizeof *meds, cmp_double);
        out->ci_lo = quantile(meds, RESAMPLES, 0.025);
        out->ci_hi = quantile(meds, RESAMPLES, 0.975);
    }
    out->noisy = out->median > 0 && (out->ci_hi - out->ci_lo) > VLM_NOISY_CI * out->median;
    free(meds);
    free(s);
}

vlm_runner_params vlm_runner_default_params(void) {
    /* 2 warm-up runs cover JIT, first-touch and cache effects; 10 samples give a usable median
     * and p10/p90; 2 s bounds noise from a scheduler quantum; 60 s caps a slow config. */
    return (vlm_runner_params){.warmup = 2, .min_reps = 10, .min_time_s = 2.0,
                               .max_time_s = 60.0, .max_reps = 1000};
}

vlm_status vlm_runner_run(const vlm_runner_params *p, vlm_status (*fn)(void *, vlm_error *),
                          void *arg, double **samples_ms, int *n, vlm_error *err) {
    *samples_ms = NULL;
    *n = 0;
    if (p->min_reps < 1 || p->max_reps < p->min_reps || p->min_time_s < 0 ||
        p->max_time_s < p->min_time_s || p->warmup < 0)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "bad repetition settings: need 1 <= min-reps <= max-reps and "
                             "0 <= min-time <= max-time");
    for (int i = 0; i < p->warmup; i++) {
        vlm_status st = fn(arg, err);
        if (st != VLM_OK)
            return st;
    }
    int cap = p->min_reps > 16 ? p->min_reps : 16;
    double *s = malloc((size_t)cap * sizeof *s);
    if (!s)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    double start = vlm_now_s(), spent = 0;
    int k = 0;
    /* Stop when both minimums are met, or when the time budget is spent (max_time_s wins over
     * min_reps, so one slow config cannot stall a sweep), always keeping at least one sample. */
    while (k < p->max_reps) {
        if (k >= p->min_reps && spent >= p->min_time_s)
            break;
        if (k >= 1 && spent >= p->max_time_s)
            break;
        if (k == cap) {
            double *t = realloc(s, (size_t)(cap *= 2) * sizeof *s);
            if (!t) {
                free(s);
                return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
            }
            s = t;
        }
        double t0 = vlm_now_s();
        vlm_status st = fn(arg, err);
        double t1 = vlm_now_s();
        if (st != VLM_OK) {
            free(s);
            return st;
        }
        s[k++] = (t1 - t0) * 1e3;
        spent = t1 - start;
    }
    *samples_ms = s;
    *n = k;
    return VLM_OK;
}
