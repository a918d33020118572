/* bench/runner.c: vlm_stats_compute against NumPy (Debian's /usr/bin/python3, run at test
 * time: np.median, np.percentile with its default linear interpolation, MAD = median(|x -
 * median|)), the bootstrap confidence interval of the median, and vlm_runner_run's min-reps /
 * min-time / max-time / max-reps semantics with a workload that sleeps. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"

/* ---- NumPy reference -------------------------------------------------------------------- */

typedef struct ref {
    double median, p10, p90, mad, mean, min, max;
} ref;

/* The statistics of x[0..n) as NumPy computes them; the samples go through a file written
 * with %.17g, so NumPy sees exactly these doubles. */
static ref numpy_ref(const double *x, int n) {
    char in[] = "/tmp/vlm_test_stats_XXXXXX";
    int fd = mkstemp(in);
    cr_assert_geq(fd, 0, "mkstemp failed");
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%.17g\n", x[i]);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " -c 'import sys, numpy as np\n"
                        "x = np.loadtxt(sys.argv[1], dtype=np.float64, ndmin=1)\n"
                        "m = np.median(x)\n"
                        "v = [m, np.percentile(x, 10), np.percentile(x, 90),\n"
                        "     np.median(np.abs(x - m)), np.mean(x), np.min(x), np.max(x)]\n"
                        "print(\" \".join(repr(float(t)) for t in v))' %s",
             in);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", VLM_PYTHON);
    ref r;
    int got = fscanf(p, "%lf %lf %lf %lf %lf %lf %lf", &r.median, &r.p10, &r.p90, &r.mad,
                     &r.mean, &r.min, &r.max);
    int rc = pclose(p);
    unlink(in);
    cr_assert_eq(got, 7, "NumPy reference failed (exit %d): %s", rc, cmd);
    cr_assert_eq(rc, 0);
    return r;
}

static void close_to(double got, double want, const char *what) {
    cr_assert(fabs(got - want) <= 1e-12 * fmax(1.0, fabs(want)), "%s: got %.17g, NumPy %.17g",
              what, got, want);
}

/* Checks every order statistic of x against NumPy, and that x is left as it was. */
static vlm_stats check_against_numpy(const double *x, int n) {
    double *copy = malloc((size_t)n * sizeof *copy);
    memcpy(copy, x, (size_t)n * sizeof *copy);
    vlm_stats s;
    vlm_stats_compute(x, n, &s);
    cr_assert_eq(memcmp(copy, x, (size_t)n * sizeof *copy), 0, "the input was modified");
    free(copy);
    ref r = numpy_ref(x, n);
    cr_assert_eq(s.n, n);
    close_to(s.median, r.median, "median");
    close_to(s.p10, r.p10, "p10");
    close_to(s.p90, r.p90, "p90");
    close_to(s.mad, r.mad, "mad");
    close_to(s.mean, r.mean, "mean");
    cr_assert_eq(s.min, r.min);
    cr_assert_eq(s.max, r.max);
    cr_assert(s.ci_lo <= s.median && s.median <= s.ci_hi, "CI [%g, %g] misses the median %g",
              s.ci_lo, s.ci_hi, s.median);
    return s;
}

/* splitmix64: a seeded generator for test samples. */
static uint64_t mix(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state) { /* in (0, 1) */
    return ((double)(mix(state) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *state) { /* Box-Muller */
    double u = uniform(state), v = uniform(state);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* ---- order statistics ------------------------------------------------------------------- */

Test(stats, odd_count_matches_numpy) {
    const double x[] = {3.2, 1.5, 9.75, 4.0, 2.25, 8.5, 6.125};
    vlm_stats s = check_against_numpy(x, 7);
    cr_assert_eq(s.median, 4.0); /* the middle order statistic itself */
}

Test(stats, even_count_matches_numpy) {
    const double x[] = {10.0, 2.0, 7.5, 3.25, 11.0, 5.5, 1.0, 4.75};
    vlm_stats s = check_against_numpy(x, 8);
    cr_assert_eq(s.median, (4.75 + 5.5) / 2); /* the mean of the two middle ones */
    const double two[] = {3.0, 1.0};
    check_against_numpy(two, 2);
}

Test(stats, duplicates_match_numpy) {
    const double x[] = {5, 5, 5, 1, 9, 5, 2, 5, 5, 7};
    vlm_stats s = check_against_numpy(x, 10);
    cr_assert_eq(s.median, 5.0);
    cr_assert_eq(s.mad, 0.0); /* more than half the samples sit on the median */
    const double y[] = {2, 2, 8, 8, 8, 2, 2, 8};
    check_against_numpy(y, 8);
}

Test(stats, seeded_random_samples_match_numpy) {
    uint64_t st = 42;
    for (int n = 3; n <= 101; n += 49) {
        double *x = malloc((size_t)n * sizeof *x);
        for (int i = 0; i < n; i++)
            x[i] = 10.0 + 10.0 * uniform(&st);
        check_against_numpy(x, n);
        free(x);
    }
}

Test(stats, one_sample_has_a_zero_width_interval_and_is_not_noisy) {
    const double x[] = {42.5};
    vlm_stats s = check_against_numpy(x, 1);
    cr_assert_eq(s.median, 42.5);
    cr_assert_eq(s.p10, 42.5);
    cr_assert_eq(s.p90, 42.5);
    cr_assert_eq(s.mad, 0.0);
    cr_assert_eq(s.ci_lo, 42.5);
    cr_assert_eq(s.ci_hi, 42.5);
    cr_assert_not(s.noisy);
}

Test(stats, unsorted_input_is_not_modified) {
    double x[] = {9, 1, 8, 2, 7, 3, 6, 4, 5};
    const double orig[] = {9, 1, 8, 2, 7, 3, 6, 4, 5};
    vlm_stats s;
    vlm_stats_compute(x, 9, &s);
    cr_assert_eq(memcmp(x, orig, sizeof x), 0);
    cr_assert_eq(s.median, 5.0);
    cr_assert_eq(s.min, 1.0);
    cr_assert_eq(s.max, 9.0);
}

Test(stats, no_samples_give_all_zeros) {
    vlm_stats s;
    memset(&s, 0x5a, sizeof s);
    vlm_stats_compute(NULL, 0, &s);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(s.median, 0.0);
    cr_assert_eq(s.ci_lo, 0.0);
    cr_assert_eq(s.ci_hi, 0.0);
    cr_assert_not(s.noisy);
}

/* ---- bootstrap CI of the median --------------------------------------------------------- */

Test(stats, bootstrap_is_deterministic) {
    uint64_t st = 7;
    double x[50], y[50];
    for (int i = 0; i < 50; i++)
        x[i] = y[i] = 20.0 + 5.0 * normal(&st);
    vlm_stats a, b, c;
    vlm_stats_compute(x, 50, &a);
    vlm_stats_compute(x, 50, &b);
    vlm_stats_compute(y, 50, &c); /* the same values in another buffer */
    cr_assert_eq(a.ci_lo, b.ci_lo);
    cr_assert_eq(a.ci_hi, b.ci_hi);
    cr_assert_eq(a.ci_lo, c.ci_lo);
    cr_assert_eq(a.ci_hi, c.ci_hi);
    cr_assert_lt(a.ci_lo, a.ci_hi, "50 spread samples cannot give a point interval");
}

Test(stats, bootstrap_interval_contains_the_median) {
    uint64_t st = 99;
    const int sizes[] = {2, 3, 5, 10, 31, 64, 200};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k];
        double x[200];
        for (int i = 0; i < n; i++) /* skewed, like latencies: a floor and a long tail */
            x[i] = 5.0 + (k % 2 ? -log(uniform(&st)) : 3.0 * uniform(&st));
        vlm_stats s;
        vlm_stats_compute(x, n, &s);
        cr_assert(s.ci_lo <= s.median && s.median <= s.ci_hi, "n=%d: [%g, %g] misses %g", n,
                  s.ci_lo, s.ci_hi, s.median);
        cr_assert(s.ci_lo >= s.min && s.ci_hi <= s.max, "n=%d: the interval leaves the data", n);
        cr_assert_eq(s.noisy, s.ci_hi - s.ci_lo > VLM_NOISY_CI * s.median, "n=%d", n);
    }
}

Test(stats, identical_samples_give_a_zero_width_interval) {
    double x[20];
    for (int i = 0; i < 20; i++)
        x[i] = 7.25;
    vlm_stats s;
    vlm_stats_compute(x, 20, &s);
    cr_assert_eq(s.median, 7.25);
    cr_assert_eq(s.mad, 0.0);
    cr_assert_eq(s.ci_lo, 7.25);
    cr_assert_eq(s.ci_hi, 7.25);
    cr_assert_not(s.noisy);
}

Test(stats, tight_normal_samples_give_a_narrow_interval) {
    /* 200 samples, mean 100, sd 1: the median's standard error is about
     * 1.2533 * 1 / sqrt(200) = 0.089, so the 95% interval is about 0.35 wide. */
    uint64_t st = 2024;
    double x[200];
    for (int i = 0; i < 200; i++)
        x[i] = 100.0 + 1.0 * normal(&st);
    vlm_stats s = check_against_numpy(x, 200);
    double width = s.ci_hi - s.ci_lo;
    cr_assert_gt(width, 0.1, "width %g: too narrow for sd 1 and n 200", width);
    cr_assert_lt(width, 1.0, "width %g: too wide for sd 1 and n 200", width);
    cr_assert_lt(width, VLM_NOISY_CI * s.median);
    cr_assert_not(s.noisy);
    cr_assert(fabs(s.median - 100.0) < 0.5, "median %g", s.median);
}

Test(stats, samples_spread_30_percent_are_noisy) {
    double x[10];
    for (int i = 0; i < 10; i++) /* 70 .. 130, shuffled */
        x[(i * 3) % 10] = 100.0 * (0.7 + 0.6 * i / 9.0);
    vlm_stats s = check_against_numpy(x, 10);
    cr_assert_gt(s.ci_hi - s.ci_lo, VLM_NOISY_CI * s.median, "[%g, %g] around %g", s.ci_lo,
                 s.ci_hi, s.median);
    cr_assert(s.noisy);
}

/* ---- the repetition runner -------------------------------------------------------------- */

typedef struct workload {
    int calls;
    int warmup_calls;  /* the first calls sleep warm_ms instead */
    int fail_at;       /* the call (1-based) that returns an error; 0: never */
    double sleep_ms, warm_ms;
} workload;

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1e3), (long)(fmod(ms, 1e3) * 1e6)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static vlm_status work(void *arg, vlm_error *err) {
    workload *w = arg;
    w->calls++;
    if (w->fail_at && w->calls == w->fail_at)
        return vlm_error_set(err, VLM_ERR_IO, "call %d failed", w->calls);
    sleep_ms(w->calls <= w->warmup_calls ? w->warm_ms : w->sleep_ms);
    return VLM_OK;
}

static vlm_runner_params params(int warmup, int min_reps, double min_time, double max_time) {
    return (vlm_runner_params){.warmup = warmup, .min_reps = min_reps, .min_time_s = min_time,
                               .max_time_s = max_time, .max_reps = 1000};
}

Test(runner, min_reps_alone_gives_exactly_that_many_samples) {
    workload w = {.sleep_ms = 2};
    vlm_runner_params p = params(0, 5, 0, 60);
    double *s = NULL;
    int n = -1;
    vlm_error err = {0};
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(n, 5);
    cr_assert_eq(w.calls, 5);
    for (int i = 0; i < n; i++)
        cr_assert_geq(s[i], 1.999, "sample %d: %g ms for a 2 ms sleep", i, s[i]);
    free(s);
}

Test(runner, min_time_keeps_repeating_until_the_time_is_spent) {
    /* 2 ms runs until 50 ms are spent: about 25 samples. Each run takes at least 2 ms, so the
     * 50 ms are reached after at most 25 runs; slow sleeps on a loaded machine give fewer. */
    workload w = {.sleep_ms = 2};
    vlm_runner_params p = params(0, 1, 0.05, 60);
    double *s = NULL, sum = 0;
    int n = -1;
    vlm_error err = {0};
    double t0 = vlm_now_s();
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    double wall = vlm_now_s() - t0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    cr_assert_leq(n, 25, "%d samples of >= 2 ms cannot take under 50 ms", n);
    cr_assert_geq(sum, 49.0, "the samples add up to %g ms, under min-time", sum);
    /* it stopped as soon as the time was spent: without the last sample it was not (this
     * holds however slow a loaded machine makes the sleeps, unlike a lower bound on n) */
    cr_assert_lt(sum - s[n - 1], 50.0, "ran on after min-time: %g ms before the last sample",
                 sum - s[n - 1]);
    cr_assert_geq(wall, 0.05);
    free(s);
}

Test(runner, min_reps_and_min_time_must_both_be_met) {
    workload w = {.sleep_ms = 2};
    vlm_runner_params p = params(0, 12, 0.005, 60); /* the reps take longer than the time */
    double *s = NULL;
    int n = -1;
    vlm_error err = {0};
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(n, 12);
    free(s);
}

Test(runner, max_time_stops_before_min_reps_keeping_a_sample) {
    workload w = {.sleep_ms = 2};
    vlm_runner_params p = params(0, 100, 0, 0.02); /* 100 reps would take 200 ms */
    double *s = NULL;
    int n = -1;
    vlm_error err = {0};
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_geq(n, 1);
    cr_assert_leq(n, 10, "%d samples of >= 2 ms: past the 20 ms budget", n);
    cr_assert_eq(w.calls, n);
    free(s);

    /* a zero budget still keeps one sample */
    w = (workload){.sleep_ms = 2};
    p = params(0, 5, 0, 0);
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    cr_assert_not_null(s);
    free(s);
}

Test(runner, max_reps_caps_the_samples) {
    workload w = {.sleep_ms = 1};
    vlm_runner_params p = params(0, 1, 10.0, 20.0);
    p.max_reps = 3;
    double *s = NULL;
    int n = -1;
    vlm_error err = {0};
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(w.calls, 3);
    free(s);
}

Test(runner, warmup_calls_are_made_but_not_timed) {
    /* warm-up calls sleep 30 ms, timed ones 2 ms: no sample may be a warm-up */
    workload w = {.sleep_ms = 2, .warm_ms = 30, .warmup_calls = 3};
    vlm_runner_params p = params(3, 4, 0, 60);
    double *s = NULL;
    int n = -1;
    vlm_error err = {0};
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(w.calls, 7, "3 warm-up + 4 timed calls, got %d", w.calls);
    cr_assert_eq(n, 4);
    for (int i = 0; i < n; i++)
        cr_assert_lt(s[i], 30.0, "sample %d (%g ms) timed a warm-up call", i, s[i]);
    free(s);
}

Test(runner, an_error_stops_the_run_and_is_returned) {
    workload w = {.sleep_ms = 1, .fail_at = 3}; /* the 2nd timed call, after 1 warm-up */
    vlm_runner_params p = params(1, 10, 0, 60);
    double *s = (double *)&w;
    int n = -1;
    vlm_error err = {0};
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_ERR_IO);
    cr_assert_eq(err.status, VLM_ERR_IO);
    cr_assert(strstr(err.msg, "call 3 failed"), "%s", err.msg);
    cr_assert_eq(w.calls, 3, "the run went on after the error: %d calls", w.calls);
    cr_assert_null(s);
    cr_assert_eq(n, 0);

    /* in the warm-up too */
    w = (workload){.sleep_ms = 1, .fail_at = 1};
    p = params(2, 10, 0, 60);
    vlm_error_clear(&err);
    cr_assert_eq(vlm_runner_run(&p, work, &w, &s, &n, &err), VLM_ERR_IO);
    cr_assert_eq(w.calls, 1);
    cr_assert_null(s);
    cr_assert_eq(n, 0);
}

Test(runner, invalid_params_are_rejected_before_any_call) {
    vlm_runner_params bad[] = {
        params(0, 0, 0, 60),    /* min_reps < 1 */
        params(-1, 1, 0, 60),   /* warmup < 0 */
        params(0, 1, -1, 60),   /* min_time < 0 */
        params(0, 1, 2, 1),     /* max_time < min_time */
        params(0, 5, 0, 60),    /* max_reps < min_reps (set below) */
    };
    bad[4].max_reps = 4;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        workload w = {.sleep_ms = 1};
        double *s = NULL;
        int n = -1;
        vlm_error err = {0};
        cr_assert_eq(vlm_runner_run(&bad[i], work, &w, &s, &n, &err), VLM_ERR_INVALID,
                     "case %zu", i);
        cr_assert_eq(w.calls, 0, "case %zu: the workload ran", i);
        cr_assert_null(s);
        cr_assert_eq(n, 0);
        cr_assert(err.msg[0], "case %zu: no message", i);
    }
}

Test(runner, default_params_are_valid) {
    vlm_runner_params p = vlm_runner_default_params();
    cr_assert_eq(p.warmup, 2);
    cr_assert_eq(p.min_reps, 10);
    cr_assert_eq(p.min_time_s, 2.0);
    cr_assert_eq(p.max_time_s, 60.0);
    cr_assert_geq(p.max_reps, p.min_reps);
}
