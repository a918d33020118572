/* results/compare.c, results/stats.c and `vlmbench compare`: the statistics against values
 * computed independently (Python's standard library and numpy, or by hand), a simulation of
 * the gate's power and false-alarm rate, and the command end to end on generated files. */
#include "results/results.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

VLM_TEST_TMPDIR_SUITE(compare)

/* Runs a Python script with VLM_PYTHON and reads up to max numbers it prints; returns the
 * count. */
static int python_numbers(const char *script, double *out, int max) {
    const char *path = tpath("script.py");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(script, f);
    fclose(f);
    vlm_run r = vlm_test_run((char *const[]){VLM_PYTHON, (char *)path, NULL});
    cr_assert_eq(r.exit_code, 0, "python failed: %s", r.err);
    int n = 0;
    char *s = r.out, *end;
    while (n < max) {
        double v = strtod(s, &end);
        if (end == s)
            break;
        out[n++] = v;
        s = end;
    }
    vlm_run_free(&r);
    return n;
}

/* Appends "name = [v, ...]\n" to a Python script buffer. */
static void py_list(char *buf, size_t cap, const char *name, const double *v, int n) {
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, cap - len, "%s = [", name);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%.17g", i ? ", " : "", v[i]);
    snprintf(buf + len, cap - len, "]\n");
}

/* ---- a seeded generator for samples (independent of the one under test) ------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static double uniform01(rng *r) {
    /* xorshift64* */
    r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
    return ((r->s * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static double normal01(rng *r) {
    double u = uniform01(r), v = uniform01(r);
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* A benchmark-like sample: log-normal around median with spread cv, and 1 in 10 runs slowed by
 * up to 30% (a scheduler hiccup), the right-skewed shape timing samples have. */
static double timing_sample(rng *r, double median, double cv) {
    double t = median * exp(cv * normal01(r));
    if (uniform01(r) < 0.1)
        t *= 1 + 0.3 * uniform01(r);
    return t;
}

/* ---- Mann-Whitney U --------------------------------------------------------------------- */

Test(compare, mwu_hand_computed_cases) {
    vlm_compare_mwu m;
    vlm_error err = {0};
    /* complete separation of 3 and 3: U = 9 is 1 of C(6,3) = 20 splits; two-sided 2/20 */
    double x[] = {1, 2, 3}, y[] = {4, 5, 6};
    cr_assert_eq(vlm_compare_mann_whitney(x, 3, y, 3, &m, &err), VLM_OK, "%s", err.msg);
    cr_assert(m.exact && !m.ties);
    cr_assert_float_eq(m.u, 9, 1e-12);
    cr_assert_float_eq(m.p, 0.1, 1e-12);
    /* ties: pooled 1 2 2 | 2 3 3 -> ranks 1, 3, 3, 3, 5.5, 5.5; R_y = 14, U_y = 8, mu = 4.5;
     * ties (3 and 2): var = 9/12 (7 - (24 + 6) / 30) = 4.5; z = (3.5 - 0.5) / sqrt(4.5)
     * = sqrt(2); p = erfc(1) = 0.157299207 */
    double tx[] = {1, 2, 2}, ty[] = {2, 3, 3};
    cr_assert_eq(vlm_compare_mann_whitney(tx, 3, ty, 3, &m, &err), VLM_OK);
    cr_assert(!m.exact && m.ties);
    cr_assert_float_eq(m.u, 8, 1e-12);
    cr_assert_float_eq(m.z, sqrt(2.0), 1e-12);
    cr_assert_float_eq(m.p, 0.15729920705028513, 1e-12);
    /* all values equal: no evidence of a shift */
    double c[] = {5, 5, 5, 5};
    cr_assert_eq(vlm_compare_mann_whitney(c, 4, c, 4, &m, &err), VLM_OK);
    cr_assert_float_eq(m.p, 1, 0);
    /* one sample each: p = 1 exactly */
    cr_assert_eq(vlm_compare_mann_whitney(x, 1, y, 1, &m, &err), VLM_OK);
    cr_assert_float_eq(m.p, 1, 1e-12);
    /* bad input is an error, not a crash */
    cr_assert_eq(vlm_compare_mann_whitney(x, 0, y, 3, &m, &err), VLM_ERR_INVALID);
    double bad[] = {1, NAN};
    cr_assert_eq(vlm_compare_mann_whitney(bad, 2, y, 3, &m, &err), VLM_ERR_INVALID);
}

/* Exact p-values against a brute-force enumeration of every split in Python. */
Test(compare, mwu_exact_matches_enumeration) {
    rng r = {42};
    const int sizes[][2] = {{2, 5}, {4, 4}, {5, 7}, {8, 8}, {6, 11}};
    const double shifts[] = {0.0, 0.5, 1.0, 1.5, 3.0};
    char script[65536];
    double got[32];
    int k = 0;
    snprintf(script, sizeof script,
             "import itertools\n"
             "def p_exact(x, y):\n"
             "    pooled = x + y; m = len(x); n = len(y)\n"
             "    def u_of(ys, xs): return sum(1 for a in xs for b in ys if b > a)\n"
             "    u = u_of(y, x)\n"
             "    le = ge = tot = 0\n"
             "    for idx in itertools.combinations(range(m + n), m):\n"
             "        s = set(idx)\n"
             "        xs = [pooled[i] for i in idx]\n"
             "        ys = [pooled[i] for i in range(m + n) if i not in s]\n"
             "        v = u_of(ys, xs); tot += 1; le += v <= u; ge += v >= u\n"
             "    return u, min(1.0, 2 * min(le, ge) / tot)\n");
    for (int c = 0; c < 5; c++) {
        int m = sizes[c][0], n = sizes[c][1];
        double x[16], y[16];
        for (int i = 0; i < m; i++)
            x[i] = 10 + normal01(&r);
        for (int j = 0; j < n; j++)
            y[j] = 10 + shifts[c] + normal01(&r);
        vlm_compare_mwu res;
        cr_assert_eq(vlm_compare_mann_whitney(x, m, y, n, &res, NULL), VLM_OK);
        cr_assert(res.exact);
        got[k++] = res.u;
        got[k++] = res.p;
        char nx[16], ny[16];
        snprintf(nx, sizeof nx, "x%d", c);
        snprintf(ny, sizeof ny, "y%d", c);
        py_list(script, sizeof script, nx, x, m);
        py_list(script, sizeof script, ny, y, n);
        size_t len = strlen(script);
        snprintf(script + len, sizeof script - len, "print(*p_exact(x%d, y%d))\n", c, c);
    }
    double want[32];
    cr_assert_eq(python_numbers(script, want, 32), k);
    for (int i = 0; i < k; i++)
        cr_assert_float_eq(got[i], want[i], 1e-12 * fmax(1, want[i]), "value %d: %.17g vs %.17g", i,
                           got[i], want[i]);
}

/* The normal approximation (ties, or more than 50 samples) against the textbook formula
 * written independently in Python: average ranks, tie-corrected variance, continuity
 * correction, p = erfc(z / sqrt 2). */
Test(compare, mwu_normal_with_ties_matches_python) {
    rng r = {7};
    char script[200000] = "import math\n"
                          "def p_norm(x, y):\n"
                          "    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])\n"
                          "    N = len(pooled); ranks = [0.0] * N; i = 0; ties = 0.0\n"
                          "    while i < N:\n"
                          "        j = i\n"
                          "        while j < N and pooled[j][0] == pooled[i][0]: j += 1\n"
                          "        for q in range(i, j): ranks[q] = (i + 1 + j) / 2\n"
                          "        t = j - i; ties += t ** 3 - t; i = j\n"
                          "    m, n = len(x), len(y)\n"
                          "    ry = sum(ranks[q] for q in range(N) if pooled[q][1] == 1)\n"
                          "    u = ry - n * (n + 1) / 2\n"
                          "    var = m * n / 12 * ((N + 1) - ties / (N * (N - 1)))\n"
                          "    z = max(0.0, abs(u - m * n / 2) - 0.5) / math.sqrt(var)\n"
                          "    return u, z, min(1.0, math.erfc(z / math.sqrt(2)))\n";
    const int sizes[][2] = {{12, 15}, {30, 30}, {60, 80}, {200, 150}};
    double got[16];
    int k = 0;
    for (int c = 0; c < 4; c++) {
        int m = sizes[c][0], n = sizes[c][1];
        double *x = malloc((size_t)m * sizeof *x), *y = malloc((size_t)n * sizeof *y);
        /* timings quantised to 0.1 ms (a coarse clock) give many ties, except the last case */
        double q = c < 3 ? 10.0 : 1e9;
        for (int i = 0; i < m; i++)
            x[i] = round(timing_sample(&r, 20, 0.03) * q) / q;
        for (int j = 0; j < n; j++)
            y[j] = round(timing_sample(&r, 20.3, 0.03) * q) / q;
        vlm_compare_mwu res;
        cr_assert_eq(vlm_compare_mann_whitney(x, m, y, n, &res, NULL), VLM_OK);
        cr_assert(!res.exact);
        cr_assert_eq(res.ties, c < 3);
        got[k++] = res.u;
        got[k++] = res.z;
        got[k++] = res.p;
        char nx[16], ny[16];
        snprintf(nx, sizeof nx, "x%d", c);
        snprintf(ny, sizeof ny, "y%d", c);
        py_list(script, sizeof script, nx, x, m);
        py_list(script, sizeof script, ny, y, n);
        size_t len = strlen(script);
        snprintf(script + len, sizeof script - len, "print(*p_norm(x%d, y%d))\n", c, c);
        free(x);
        free(y);
    }
    double want[16];
    cr_assert_eq(python_numbers(script, want, 16), k);
    for (int i = 0; i < k; i++)
        cr_assert_float_eq(got[i], want[i], 1e-9 * fmax(1, fabs(want[i])),
                           "value %d: %.17g vs %.17g", i, got[i], want[i]);
}

/* ---- bootstrap ------------------------------------------------------------------------- */

/* The same seeded resampling written in Python with numpy (splitmix64 draws, indices into the
 * sorted part, np.median, np.percentile's linear interpolation) reproduces the interval and
 * the p-value exactly: one part per side (odd and even sizes), then a TTFT-like sum of
 * several parts of different sizes. */
Test(compare, bootstrap_matches_numpy) {
    rng r = {99};
    double a[7], b[10], c[4], d[25], e[3], f[6];
    for (int i = 0; i < 7; i++)
        a[i] = timing_sample(&r, 40, 0.05);
    for (int i = 0; i < 10; i++)
        b[i] = timing_sample(&r, 44, 0.05);
    for (int i = 0; i < 4; i++)
        c[i] = timing_sample(&r, 5, 0.05);
    for (int i = 0; i < 25; i++)
        d[i] = timing_sample(&r, 1.2, 0.1);
    for (int i = 0; i < 3; i++)
        e[i] = timing_sample(&r, 4.7, 0.05);
    for (int i = 0; i < 6; i++)
        f[i] = timing_sample(&r, 1.1, 0.1);
    const uint64_t seed = 12345;
    const int reps = 500;
    double lo1, hi1, p1, lo2, hi2, p2;
    const double *b1[] = {a}, *n1[] = {b};
    int bn1[] = {7}, nn1[] = {10};
    cr_assert_eq(vlm_compare_bootstrap_ratio(b1, bn1, 1, n1, nn1, 1, reps, 0.99, seed, &lo1, &hi1,
                                             &p1, NULL),
                 VLM_OK);
    const double *b2[] = {a, c, d}, *n2[] = {b, e, f};
    int bn2[] = {7, 4, 25}, nn2[] = {10, 3, 6};
    cr_assert_eq(vlm_compare_bootstrap_ratio(b2, bn2, 3, n2, nn2, 3, reps, 0.95, seed, &lo2, &hi2,
                                             &p2, NULL),
                 VLM_OK);
    char script[32768] =
        "import numpy as np\n"
        "M = (1 << 64) - 1\n"
        "class SM:\n"
        "    def __init__(self, s): self.s = s\n"
        "    def next(self):\n"
        "        self.s = (self.s + 0x9E3779B97F4A7C15) & M; z = self.s\n"
        "        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M\n"
        "        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M\n"
        "        return z ^ (z >> 31)\n"
        "def boot(base, new, reps, level, seed):\n"
        "    g = SM(seed); base = [sorted(p) for p in base]; new = [sorted(p) for p in new]\n"
        "    rs = []\n"
        "    for _ in range(reps):\n"
        "        s = []\n"
        "        for part in base + new:\n"
        "            n = len(part)\n"
        "            idx = [(g.next() * n) >> 64 for _ in range(n)]\n"
        "            s.append(np.median(np.array(part)[idx]))\n"
        "        rs.append(sum(s[len(base):]) / sum(s[:len(base)]))\n"
        "    rs = np.array(rs)\n"
        "    lo, hi = np.percentile(rs, [50 * (1 - level), 50 * (1 + level)])\n"
        "    k = min((rs <= 1).sum(), (rs >= 1).sum())\n"
        "    return lo, hi, min(1.0, 2 * (k + 1) / (reps + 1))\n";
    py_list(script, sizeof script, "a", a, 7);
    py_list(script, sizeof script, "b", b, 10);
    py_list(script, sizeof script, "c", c, 4);
    py_list(script, sizeof script, "d", d, 25);
    py_list(script, sizeof script, "e", e, 3);
    py_list(script, sizeof script, "f", f, 6);
    strcat(script, "print(*boot([a], [b], 500, 0.99, 12345))\n"
                   "print(*boot([a, c, d], [b, e, f], 500, 0.95, 12345))\n");
    double want[6];
    cr_assert_eq(python_numbers(script, want, 6), 6);
    double got[6] = {lo1, hi1, p1, lo2, hi2, p2};
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(got[i], want[i], 1e-12, "value %d: %.17g vs %.17g", i, got[i], want[i]);
    /* the interval holds the ratio of the medians */
    cr_assert(lo1 < vlm_compare_median(b, 10) / vlm_compare_median(a, 7) &&
              hi1 > vlm_compare_median(b, 10) / vlm_compare_median(a, 7));
}

Test(compare, bootstrap_constant_and_deterministic) {
    double x[] = {10, 10, 10, 10}, y[] = {12, 12, 12};
    const double *b[] = {x}, *n[] = {y};
    int bn[] = {4}, nn[] = {3};
    double lo, hi, p;
    cr_assert_eq(vlm_compare_bootstrap_ratio(b, bn, 1, n, nn, 1, 100, 0.95, 1, &lo, &hi, &p, NULL),
                 VLM_OK);
    cr_assert_float_eq(lo, 1.2, 1e-15);
    cr_assert_float_eq(hi, 1.2, 1e-15);
    cr_assert_float_eq(p, 2.0 / 101, 1e-15); /* no replicate at or below 1 */
    /* same seed, same interval; bad input is an error */
    double w[] = {1, 2, 3, 4, 5, 6, 7}, v[] = {2, 3, 4, 5, 6, 7, 8};
    const double *bw[] = {w}, *nv[] = {v};
    int n7[] = {7};
    double l1, h1, l2, h2;
    vlm_compare_bootstrap_ratio(bw, n7, 1, nv, n7, 1, 300, 0.9, 77, &l1, &h1, NULL, NULL);
    vlm_compare_bootstrap_ratio(bw, n7, 1, nv, n7, 1, 300, 0.9, 77, &l2, &h2, NULL, NULL);
    cr_assert(l1 == l2 && h1 == h2);
    int zero[] = {0};
    cr_assert_eq(
        vlm_compare_bootstrap_ratio(bw, zero, 1, nv, n7, 1, 300, 0.9, 7, &l1, &h1, NULL, NULL),
        VLM_ERR_INVALID);
    cr_assert_float_eq(vlm_compare_median(w, 7), 4, 0);
    cr_assert_float_eq(vlm_compare_median(w, 6), 3.5, 0);
}

/* ---- McNemar ---------------------------------------------------------------------------- */

Test(compare, mcnemar_exact) {
    /* by hand: b = 0, c = 5: 2 * (1/2)^5 = 0.0625; b = 1, c = 9: 2 * 11/1024 */
    cr_assert_float_eq(vlm_compare_mcnemar(0, 5), 0.0625, 1e-14);
    cr_assert_float_eq(vlm_compare_mcnemar(9, 1), 22.0 / 1024, 1e-14);
    cr_assert_float_eq(vlm_compare_mcnemar(0, 0), 1, 0);
    cr_assert_float_eq(vlm_compare_mcnemar(7, 7), 1, 0);
    /* large counts (0.5^n underflows) against exact rational arithmetic in Python */
    double want[3];
    cr_assert_eq(python_numbers("from fractions import Fraction\n"
                                "def p(b, c):\n"
                                "    n = b + c; k = min(b, c); term = 1; tail = 0\n"
                                "    for i in range(k + 1):\n"
                                "        tail += term; term = term * (n - i) // (i + 1)\n"
                                "    return min(1.0, float(Fraction(2 * tail, 2 ** n)))\n"
                                "print(p(10000, 10400), p(480, 560), p(3000, 2990))\n",
                                want, 3),
                 3);
    cr_assert_float_eq(vlm_compare_mcnemar(10000, 10400), want[0], 1e-9 * want[0]);
    cr_assert_float_eq(vlm_compare_mcnemar(480, 560), want[1], 1e-9 * want[1]);
    cr_assert_float_eq(vlm_compare_mcnemar(3000, 2990), want[2], 1e-9);
}

/* ---- simulation: power and false alarms ------------------------------------------------- */

/* 20 samples per side of benchmark-like timings (5% log-normal spread plus 1-in-10 hiccups of
 * up to 30%): a 10% slowdown must be flagged in at least 95% of trials; without a shift the
 * gate's false-alarm rate must stay at or below alpha, and the Mann-Whitney test alone must
 * reject at most alpha of the time (plus the Monte Carlo error of the estimate). Fixed seed:
 * the same trials every run. */
Test(compare, simulation_power_and_false_alarms) {
    vlm_compare_params p = vlm_compare_default_params();
    p.bootstrap_reps = 200; /* the interval does not enter the verdict; keep the test fast */
    rng r = {2026};
    enum { N = 20, POWER_TRIALS = 400, NULL_TRIALS = 2000 };
    double x[N], y[N];
    int detected = 0, wrong_way = 0;
    for (int t = 0; t < POWER_TRIALS; t++) {
        for (int i = 0; i < N; i++) {
            x[i] = timing_sample(&r, 100, 0.05);
            y[i] = timing_sample(&r, 110, 0.05);
        }
        vlm_compare_timing res;
        cr_assert_eq(vlm_compare_timing_samples(x, N, y, N, &p, &res, NULL), VLM_OK);
        detected += res.verdict == VLM_COMPARE_REGRESSION;
        wrong_way += res.verdict == VLM_COMPARE_IMPROVEMENT;
    }
    int gate_alarms = 0, test_rejects = 0;
    for (int t = 0; t < NULL_TRIALS; t++) {
        for (int i = 0; i < N; i++) {
            x[i] = timing_sample(&r, 100, 0.05);
            y[i] = timing_sample(&r, 100, 0.05);
        }
        vlm_compare_timing res;
        cr_assert_eq(vlm_compare_timing_samples(x, N, y, N, &p, &res, NULL), VLM_OK);
        gate_alarms += res.verdict != VLM_COMPARE_UNCHANGED;
        test_rejects += res.mwu.p < p.alpha;
    }
    double power = (double)detected / POWER_TRIALS, fa = (double)gate_alarms / NULL_TRIALS;
    double size = (double)test_rejects / NULL_TRIALS;
    fprintf(stderr,
            "compare simulation: 10%% shift detected in %.1f%% of %d trials; no shift: gate "
            "false alarms %.2f%%, Mann-Whitney rejections %.2f%% of %d (alpha %g)\n",
            100 * power, POWER_TRIALS, 100 * fa, 100 * size, NULL_TRIALS, p.alpha);
    cr_assert_geq(power, 0.95, "power %.3f", power);
    cr_assert_eq(wrong_way, 0);
    cr_assert_leq(fa, p.alpha, "false alarms %.4f", fa);
    cr_assert_leq(size, p.alpha + 3 * sqrt(p.alpha * (1 - p.alpha) / NULL_TRIALS), "size %.4f",
                  size);
}

/* Significance without effect, and effect without significance, are both "unchanged". */
Test(compare, threshold_and_significance_both_needed) {
    vlm_compare_params p = vlm_compare_default_params();
    rng r = {5};
    double x[200], y[200];
    for (int i = 0; i < 200; i++) {
        x[i] = 100 * exp(0.005 * normal01(&r));
        y[i] = 103 * exp(0.005 * normal01(&r));
    }
    vlm_compare_timing res;
    cr_assert_eq(vlm_compare_timing_samples(x, 200, y, 200, &p, &res, NULL), VLM_OK);
    cr_assert_lt(res.mwu.p, 1e-10);
    cr_assert_eq(res.verdict, VLM_COMPARE_UNCHANGED, "3%% is below the 5%% threshold");
    p.threshold = 0.02;
    cr_assert_eq(vlm_compare_timing_samples(x, 200, y, 200, &p, &res, NULL), VLM_OK);
    cr_assert_eq(res.verdict, VLM_COMPARE_REGRESSION);
    cr_assert(res.ci_lo > 1.02 && res.ci_hi < 1.04, "[%g, %g]", res.ci_lo, res.ci_hi);
    /* 20% slower, but 3 samples a side cannot reach p < 0.01 (smallest exact p is 0.1) */
    p = vlm_compare_default_params();
    double a[] = {100, 101, 102}, b[] = {120, 121, 122};
    cr_assert_eq(vlm_compare_timing_samples(a, 3, b, 3, &p, &res, NULL), VLM_OK);
    cr_assert_float_eq(res.mwu.p, 0.1, 1e-12);
    cr_assert_eq(res.verdict, VLM_COMPARE_UNCHANGED);
    /* a 15% improvement with enough samples */
    for (int i = 0; i < 20; i++)
        y[i] = 85 * exp(0.01 * normal01(&r));
    cr_assert_eq(vlm_compare_timing_samples(x, 20, y, 20, &p, &res, NULL), VLM_OK);
    cr_assert_eq(res.verdict, VLM_COMPARE_IMPROVEMENT);
}

/* ---- end to end on generated results files --------------------------------------------- */

typedef struct rec_opts {
    const char *model, *llm, *cpu, *status;
    int res, threads, tokens, noisy, estimated;
    double vision_scale, prefill_scale; /* multiply the medians */
    uint64_t seed;
} rec_opts;

static rec_opts defaults(const char *model, int res, uint64_t seed) {
    return (rec_opts){.model = model,
                      .llm = "qwen2-tiny",
                      .cpu = "Test CPU",
                      .status = "ok",
                      .res = res,
                      .threads = 2,
                      .tokens = res * res / 1024,
                      .vision_scale = 1,
                      .prefill_scale = 1,
                      .seed = seed};
}

static json_t *timing_obj(rng *r, double median, int n, int noisy, int estimated) {
    json_t *s = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(s, json_real(timing_sample(r, median, 0.02)));
    return json_pack("{s:f, s:i, s:b, s:b, s:o}", "median", median, "n", n, "noisy", noisy,
                     "estimated", estimated, "samples", s);
}

static json_t *make_record(const rec_opts *o) {
    rng r = {o->seed};
    json_t *rec = json_pack(
        "{s:s, s:i, s:s, s:i, s:s, s:i, s:i, s:I, s:I, s:s, s:s, s:{s:s, s:s, s:s, s:i}}", "model",
        o->model, "res", o->res, "dtype", "f32", "threads", o->threads, "llm", o->llm, "tokens",
        o->tokens, "prefill_tokens", o->tokens + 24, "params", (json_int_t)11356992, "macs",
        (json_int_t)2384625664LL * o->res / 256, "weights", "synthetic:0", "status", o->status,
        "env", "cpu", o->cpu, "onednn", "2.6.3", "onednn_isa", "avx2", "threads", o->threads);
    if (!strcmp(o->status, "ok")) {
        double vis = 40.0 * o->res / 256 * o->vision_scale, pre = 2.0 * o->prefill_scale;
        json_object_set_new(rec, "preprocess_ms", timing_obj(&r, 30, 20, 0, 0));
        json_object_set_new(rec, "vision_ms", timing_obj(&r, vis, 20, o->noisy, 0));
        json_object_set_new(rec, "prefill_ms", timing_obj(&r, pre, 20, 0, o->estimated));
        json_object_set_new(rec, "ttft_ms", json_real(30 + vis + pre));
        json_object_set_new(rec, "noisy", json_boolean(o->noisy));
    }
    return rec;
}

static void write_file(const char *name, const rec_opts *opts, int n) {
    unlink(tpath(name));
    for (int i = 0; i < n; i++) {
        json_t *rec = make_record(&opts[i]);
        vlm_error err = {0};
        cr_assert_eq(vlm_results_append(tpath(name), rec, &err), VLM_OK, "%s", err.msg);
        json_decref(rec);
    }
}

#define COMPARE(...) vlm_test_run((char *const[]){VLM_BIN, "compare", __VA_ARGS__, NULL})

/* base.jsonl: mci0 at 256 and 512; new files vary one thing each. */
static void write_base(void) {
    rec_opts b[] = {defaults("mci0", 256, 1), defaults("mci0", 512, 2)};
    write_file("base.jsonl", b, 2);
}

Test(compare, e2e_identical_and_unchanged_pass) {
    write_base();
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("base.jsonl"));
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "PASS"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "vision_ms"));
    cr_assert_not_null(strstr(r.out, "ttft_ms"));
    vlm_run_free(&r);
    /* a fresh measurement of the same build: other draws, same distribution */
    rec_opts n[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12)};
    write_file("new.jsonl", n, 2);
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"));
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert_null(strstr(r.out, "REGRESSION"), "%s", r.out);
    vlm_run_free(&r);
}

Test(compare, e2e_slower_config_fails_and_is_named) {
    write_base();
    rec_opts n[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12)};
    n[1].vision_scale = 1.15;
    write_file("new.jsonl", n, 2);
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"));
    cr_assert_eq(r.exit_code, 1, "%s%s", r.out, r.err);
    char *line = strstr(r.out, "mci0@512 f32 threads=2 llm=qwen2-tiny  vision_ms");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_not_null(strstr(line, "REGRESSION"), "%s", r.out);
    for (const char *l = r.out; (l = strstr(l, "\nmci0@256")); l++) {
        const char *eol = strchr(l + 1, '\n');
        const char *hit = strstr(l, "REGRESSION");
        cr_assert(!hit || (eol && hit > eol), "only the slower config regresses: %s", r.out);
    }
    cr_assert_not_null(strstr(r.out, "FAIL: 2 regressions"), "vision and ttft: %s", r.out);
    vlm_run_free(&r);
    /* markdown for a pull request, JSON for machines */
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"), "--format", "md");
    cr_assert_eq(r.exit_code, 1);
    cr_assert_not_null(strstr(r.out, "### vlmbench compare: **FAIL**"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "| config | metric |"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "| mci0@512 f32 threads=2 llm=qwen2-tiny | vision_ms |"));
    cr_assert_not_null(strstr(r.out, "**regression**"));
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"), "--format", "json");
    cr_assert_eq(r.exit_code, 1);
    json_error_t jerr;
    json_t *rep = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(rep, "%s: %s", jerr.text, r.out);
    cr_assert(json_is_true(json_object_get(rep, "failed")));
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(rep, "summary"), "regressions")), 2);
    json_t *cfg = json_array_get(json_object_get(rep, "configs"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "config")),
                     "mci0@512 f32 threads=2 llm=qwen2-tiny");
    json_t *vis = json_array_get(json_object_get(cfg, "metrics"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(vis, "metric")), "vision_ms");
    cr_assert_str_eq(json_string_value(json_object_get(vis, "verdict")), "regression");
    double ratio = json_number_value(json_object_get(vis, "ratio"));
    cr_assert(ratio > 1.1 && ratio < 1.2, "%g", ratio);
    cr_assert_lt(json_number_value(json_object_get(vis, "p")), 0.01);
    json_decref(rep);
    vlm_run_free(&r);
    /* --metric restricts the gate: prefill only sees no regression */
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"), "--metric",
                "prefill_ms,preprocess_ms");
    cr_assert_eq(r.exit_code, 0, "%s", r.out);
    cr_assert_null(strstr(r.out, "vision_ms"));
    vlm_run_free(&r);
    /* a threshold above the effect passes */
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"), "--threshold", "25%");
    cr_assert_eq(r.exit_code, 0, "%s", r.out);
    vlm_run_free(&r);
}

Test(compare, e2e_noisy_or_estimated_cannot_fail_on_timing) {
    write_base();
    rec_opts n[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12)};
    n[1].vision_scale = 1.15;
    n[1].noisy = 1;
    n[0].prefill_scale = 1.3;
    n[0].estimated = 1; /* a layer-sampled estimate against a measurement */
    write_file("new.jsonl", n, 2);
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"));
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "regression (advisory: noisy record)"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "regression (advisory: estimate vs measurement)"), "%s",
                       r.out);
    cr_assert_not_null(strstr(r.out, "PASS"), "%s", r.out);
    vlm_run_free(&r);
}

Test(compare, e2e_changed_token_count_fails) {
    write_base();
    rec_opts n[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12)};
    n[0].tokens = 80;
    write_file("new.jsonl", n, 2);
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"));
    cr_assert_eq(r.exit_code, 1, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "MODEL CHANGED"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "mci0@256 f32 threads=2 llm=qwen2-tiny: tokens 64 -> 80"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "prefill_tokens 88 -> 104"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "FAIL"), "%s", r.out);
    vlm_run_free(&r);
}

Test(compare, e2e_environment_mismatch_refused) {
    write_base();
    rec_opts n[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12)};
    n[0].cpu = n[1].cpu = "Other CPU";
    write_file("new.jsonl", n, 2);
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"));
    cr_assert_eq(r.exit_code, 2, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "different environments: cpu 'Test CPU' vs 'Other CPU' (2 "
                                     "configs)"),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "--allow-env-mismatch"));
    cr_assert_eq(r.out[0], '\0', "no report when refused: %s", r.out);
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"), "--allow-env-mismatch");
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "Environment differs"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "cpu: 'Test CPU' vs 'Other CPU'"), "%s", r.out);
    vlm_run_free(&r);
    /* a different thread count is refused too, and still paired (not two unmatched records) */
    rec_opts t[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12)};
    t[0].threads = t[1].threads = 1;
    write_file("threads.jsonl", t, 2);
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("threads.jsonl"));
    cr_assert_eq(r.exit_code, 2, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "threads '2' vs '1'"), "%s", r.err);
    vlm_run_free(&r);
}

Test(compare, e2e_unmatched_and_skipped_are_listed) {
    write_base();
    rec_opts n[] = {defaults("mci0", 256, 11), defaults("mci0", 512, 12),
                    defaults("mci1", 256, 13)};
    n[1].status = "skipped: needs 30 GiB, 24 GiB available";
    write_file("new.jsonl", n, 3);
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("new.jsonl"));
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "Only in NEW (no partner in BASE):\n  mci1@256 f32"), "%s",
                       r.out);
    cr_assert_not_null(strstr(r.out, "Not compared:\n  mci0@512 f32 threads=2 llm=qwen2-tiny: "
                                     "not compared: NEW skipped: needs 30 GiB"),
                       "%s", r.out);
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("new.jsonl"), (char *)tpath("base.jsonl"), "--format", "json");
    json_t *rep = json_loads(r.out, 0, NULL);
    cr_assert_not_null(rep, "%s", r.out);
    json_t *unb = json_object_get(json_object_get(rep, "unmatched"), "base");
    cr_assert_eq(json_array_size(unb), 1);
    cr_assert_str_eq(json_string_value(json_array_get(unb, 0)),
                     "mci1@256 f32 threads=2 llm=qwen2-tiny");
    json_decref(rep);
    vlm_run_free(&r);
}

Test(compare, e2e_bad_input_exits_2) {
    write_base();
    const char *bad = tpath("corrupt.jsonl");
    FILE *f = fopen(bad, "w");
    fputs("{\"schema\": 1, \"model\": \"mci0\"}\nnot json at all\n{\"schema\": 1}\n", f);
    fclose(f);
    vlm_run r = COMPARE((char *)tpath("base.jsonl"), (char *)bad);
    cr_assert_eq(r.exit_code, 2, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "corrupt.jsonl:2: not valid JSON"), "%s", r.err);
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("base.jsonl"), (char *)tpath("missing.jsonl"));
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
    /* samples that are not numbers */
    f = fopen(bad, "w");
    fputs("{\"schema\": 1, \"model\": \"mci0\", \"res\": 256, \"dtype\": \"f32\", \"threads\": 2,"
          " \"llm\": \"qwen2-tiny\", \"weights\": \"synthetic:0\", \"env\": {\"cpu\": \"Test "
          "CPU\", \"onednn\": \"2.6.3\", \"onednn_isa\": \"avx2\", \"threads\": 2}, "
          "\"vision_ms\": {\"samples\": [1, \"x\"]}}\n",
          f);
    fclose(f);
    r = COMPARE((char *)tpath("base.jsonl"), (char *)bad);
    cr_assert_eq(r.exit_code, 2, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "vision_ms.samples[1]"), "%s", r.err);
    vlm_run_free(&r);
    /* the same configuration twice in one file is ambiguous */
    rec_opts d[] = {defaults("mci0", 256, 1), defaults("mci0", 256, 2)};
    write_file("dup.jsonl", d, 2);
    r = COMPARE((char *)tpath("dup.jsonl"), (char *)tpath("base.jsonl"));
    cr_assert_eq(r.exit_code, 2, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "appears twice"), "%s", r.err);
    vlm_run_free(&r);
    /* usage errors */
    const char *b = tpath("base.jsonl");
    vlm_run u[] = {COMPARE((char *)b),
                   COMPARE((char *)b, (char *)b, "--bogus"),
                   COMPARE((char *)b, (char *)b, "--threshold", "5"),
                   COMPARE((char *)b, (char *)b, "--alpha", "2"),
                   COMPARE((char *)b, (char *)b, "--format", "xml"),
                   COMPARE((char *)b, (char *)b, (char *)b),
                   COMPARE((char *)b, (char *)b, "--metric")};
    for (size_t i = 0; i < sizeof u / sizeof *u; i++) {
        cr_assert_eq(u[i].exit_code, 2, "case %zu: %s", i, u[i].err);
        cr_assert_neq(u[i].err[0], '\0', "case %zu says why", i);
        vlm_run_free(&u[i]);
    }
    r = COMPARE("--help");
    cr_assert_eq(r.exit_code, 0);
    cr_assert_not_null(strstr(r.out, "usage: vlmbench compare"));
    vlm_run_free(&r);
}

/* ---- accuracy --------------------------------------------------------------------------- */

/* An eval record: metrics in percent and, optionally, per-item correctness (1 = correct). */
static void write_eval(const char *name, double score, const int *items, int n) {
    json_t *rec = json_pack("{s:s, s:s, s:i, s:{s:f, s:f}}", "kind", "eval", "model", "fastvithd",
                            "res", 1024, "metrics", "mmmu_val", score, "seedbench_image", 70.0);
    if (items) {
        json_t *a = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(a, json_integer(items[i]));
        json_object_set_new(rec, "metric_items", json_pack("{s:o}", "mmmu_val", a));
    }
    unlink(tpath(name));
    vlm_error err = {0};
    cr_assert_eq(vlm_results_append(tpath(name), rec, &err), VLM_OK, "%s", err.msg);
    json_decref(rec);
}

Test(compare, e2e_accuracy_drop) {
    write_eval("acc_base.jsonl", 40.0, NULL, 0);
    write_eval("acc_small.jsonl", 39.5, NULL, 0);
    write_eval("acc_big.jsonl", 38.0, NULL, 0);
    vlm_run r = COMPARE((char *)tpath("acc_base.jsonl"), (char *)tpath("acc_small.jsonl"));
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("acc_base.jsonl"), (char *)tpath("acc_big.jsonl"));
    cr_assert_eq(r.exit_code, 1, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "eval fastvithd@1024"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "-2.00 pt"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "ACCURACY DROP"), "%s", r.out);
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("acc_base.jsonl"), (char *)tpath("acc_big.jsonl"), "--acc-threshold",
                "2.5");
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    vlm_run_free(&r);
}

/* With per-item correctness on both sides the drop must also be significant (McNemar). */
Test(compare, e2e_accuracy_paired_test) {
    enum { N = 1000 };
    static int base[N], small_flip[N], many_flip[N];
    for (int i = 0; i < N; i++)
        base[i] = small_flip[i] = many_flip[i] = i % 5 < 2; /* 40% correct */
    /* 20 items lost, 0 gained: 38%; McNemar p = 2 / 2^20 */
    for (int i = 0, k = 0; i < N && k < 20; i++)
        if (base[i])
            small_flip[i] = 0, k++;
    /* the same 2-point drop as 60 lost and 40 gained: p = 0.058, not significant */
    for (int i = 0, lost = 0, won = 0; i < N; i++) {
        if (base[i] && lost < 60)
            many_flip[i] = 0, lost++;
        else if (!base[i] && won < 40)
            many_flip[i] = 1, won++;
    }
    write_eval("p_base.jsonl", 40.0, base, N);
    write_eval("p_sig.jsonl", 38.0, small_flip, N);
    write_eval("p_nonsig.jsonl", 38.0, many_flip, N);
    vlm_run r =
        COMPARE((char *)tpath("p_base.jsonl"), (char *)tpath("p_sig.jsonl"), "--format", "json");
    cr_assert_eq(r.exit_code, 1, "%s%s", r.out, r.err);
    json_t *rep = json_loads(r.out, 0, NULL);
    json_t *m = json_array_get(
        json_object_get(json_array_get(json_object_get(rep, "configs"), 0), "metrics"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(m, "metric")), "mmmu_val");
    cr_assert_str_eq(json_string_value(json_object_get(m, "test")), "mcnemar exact");
    cr_assert_float_eq(json_number_value(json_object_get(m, "p")), 2.0 / (1 << 20), 1e-15);
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(rep, "summary"), "accuracy_drops")), 1);
    json_decref(rep);
    vlm_run_free(&r);
    r = COMPARE((char *)tpath("p_base.jsonl"), (char *)tpath("p_nonsig.jsonl"));
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "mmmu_val"), "%s", r.out);
    vlm_run_free(&r);
}

/* An eval results file holds one record per benchmark, and evaluations are appended each time
 * they run: MMMU and SEED-Bench records of one model are separate configs, the latest record
 * of a benchmark stands, and a metric that was not measured (null) is skipped. */
Test(compare, e2e_eval_files_with_several_benchmarks) {
    const char *b = tpath("evals_base.jsonl"), *n = tpath("evals_new.jsonl");
    unlink(b);
    unlink(n);
    const char *lines[] = {
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"metrics\":{\"mmmu_val\":40.0}}\n",
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"metrics\":{\"seedbench_image\":60.0}}\n",
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"res\":256,\"metrics\":"
        "{\"imagenet_top1\":50.0,\"imagenet_top5\":null}}\n",
        /* NEW: MMMU ran twice; the first run dropped 5 points, the rerun is level */
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"metrics\":{\"mmmu_val\":35.0}}\n",
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"metrics\":{\"seedbench_image\":57.0}}\n",
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"metrics\":{\"mmmu_val\":40.5}}\n",
        "{\"schema\":1,\"kind\":\"eval\",\"model\":\"m\",\"res\":256,\"metrics\":"
        "{\"imagenet_top1\":50.2,\"imagenet_top5\":null}}\n"};
    FILE *f = fopen(b, "w");
    for (int i = 0; i < 3; i++)
        fputs(lines[i], f);
    fclose(f);
    f = fopen(n, "w");
    for (int i = 3; i < 7; i++)
        fputs(lines[i], f);
    fclose(f);
    vlm_run r = COMPARE((char *)b, (char *)n, "--format", "json");
    cr_assert_eq(r.exit_code, 1, "%s%s", r.out, r.err);
    json_t *rep = json_loads(r.out, 0, NULL);
    cr_assert_not_null(rep, "%s", r.out);
    json_t *s = json_object_get(rep, "summary");
    cr_assert_eq(json_integer_value(json_object_get(s, "pairs")), 3);
    cr_assert_eq(json_integer_value(json_object_get(s, "accuracy_drops")), 1, "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(s, "unmatched_new")), 0);
    json_t *cfg = json_array_get(json_object_get(rep, "configs"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "config")), "eval m (seedbench_image)");
    cr_assert(json_is_true(json_object_get(cfg, "failed")));
    cfg = json_array_get(json_object_get(rep, "configs"), 0);
    cr_assert_float_eq(json_number_value(json_object_get(
                           json_array_get(json_object_get(cfg, "metrics"), 0), "new")),
                       40.5, 1e-12, "the later MMMU record stands");
    cfg = json_array_get(json_object_get(rep, "configs"), 2);
    cr_assert_eq(json_array_size(json_object_get(cfg, "metrics")), 1, "top-5 null is skipped");
    cr_assert_not_null(strstr(r.err, "superseded"), "%s", r.err);
    json_decref(rep);
    vlm_run_free(&r);
}
