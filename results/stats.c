/* The statistics of `vlmbench compare`: Mann-Whitney U (exact and normal), the percentile
 * bootstrap of a ratio of (sums of) medians, and the exact McNemar test. */
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *sorted_copy(const double *v, int n) {
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s)
        return NULL;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return s;
}

static int all_finite(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

double vlm_compare_median(const double *samples, int n) {
    if (n < 1)
        return NAN;
    double *s = sorted_copy(samples, n);
    if (!s)
        return NAN;
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

/* ---- Mann-Whitney U ------------------------------------------------------------------- */

/* P(U <= u) and P(U >= u) under the exact null distribution for sizes m, n (no ties). The
 * frequencies f(i, j, .) of U for i x-values and j y-values follow from where the largest
 * pooled value lies: in x it beats all j y-values (f(i-1, j, u-j)), in y it beats none
 * (f(i, j-1, u)). Rows i-1 and i are kept: O(m n) polynomials of degree <= m n, O(m^2 n^2 / 4)
 * additions. Counts are doubles: exact up to 2^53, relative 1e-16 beyond (C(100, 50) ~ 1e29).
 */
static int mwu_exact_tails(int m, int n, double u, double *le, double *ge) {
    size_t deg = (size_t)m * (size_t)n + 1;
    double *prev = calloc((size_t)(n + 1) * deg, sizeof *prev);
    double *cur = calloc((size_t)(n + 1) * deg, sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return -1;
    }
    for (int j = 0; j <= n; j++)
        prev[(size_t)j * deg] = 1; /* i = 0: U = 0 whatever j */
    for (int i = 1; i <= m; i++) {
        memset(cur, 0, (size_t)(n + 1) * deg * sizeof *cur);
        cur[0] = 1; /* j = 0 */
        for (int j = 1; j <= n; j++) {
            double *f = cur + (size_t)j * deg;
            const double *left = cur + (size_t)(j - 1) * deg; /* f(i, j-1) */
            const double *up = prev + (size_t)j * deg;        /* f(i-1, j) */
            int top = i * j;
            for (int k = 0; k <= top; k++) {
                double a = k <= i * (j - 1) ? left[k] : 0;
                double b = k >= j && k - j <= (i - 1) * j ? up[k - j] : 0;
                f[k] = a + b;
            }
        }
        double *t = prev;
        prev = cur;
        cur = t;
    }
    const double *f = prev + (size_t)n * deg;
    double total = 0, below = 0, above = 0;
    for (size_t k = 0; k < deg; k++) {
        total += f[k];
        if ((double)k <= u + 1e-9)
            below += f[k];
        if ((double)k >= u - 1e-9)
            above += f[k];
    }
    free(prev);
    free(cur);
    *le = below / total;
    *ge = above / total;
    return 0;
}

vlm_status vlm_compare_mann_whitney(const double *x, int nx, const double *y, int ny,
                                    vlm_compare_mwu *out, vlm_error *err) {
    *out = (vlm_compare_mwu){0};
    if (nx < 1 || ny < 1)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "Mann-Whitney U needs samples on both sides "
                             "(got %d and %d)",
                             nx, ny);
    if (!all_finite(x, nx) || !all_finite(y, ny))
        return vlm_error_set(err, VLM_ERR_INVALID, "Mann-Whitney U: a sample is not finite");
    int N = nx + ny;
    /* pooled values tagged with their side, sorted; ranks averaged over tie groups */
    struct tagged {
        double v;
        int side;
    } *all = malloc((size_t)N * sizeof *all);
    if (!all)
        return vlm_error_set(err, VLM_ERR_NOMEM, "Mann-Whitney U: out of memory");
    for (int i = 0; i < nx; i++)
        all[i] = (struct tagged){x[i], 0};
    for (int j = 0; j < ny; j++)
        all[nx + j] = (struct tagged){y[j], 1};
    qsort(all, (size_t)N, sizeof *all, cmp_double); /* v is the first member */
    double rank_sum_y = 0, tie_term = 0;
    for (int i = 0; i < N;) {
        int k = i;
        while (k < N && all[k].v == all[i].v)
            k++;
        double t = k - i, avg_rank = 0.5 * (i + 1 + k); /* ranks i+1 .. k */
        for (int q = i; q < k; q++)
            if (all[q].side)
                rank_sum_y += avg_rank;
        if (t > 1) {
            tie_term += t * t * t - t;
            out->ties = 1;
        }
        i = k;
    }
    free(all);
    out->u = rank_sum_y - 0.5 * ny * (ny + 1.0);
    if (!out->ties && nx <= VLM_COMPARE_MWU_EXACT_MAX && ny <= VLM_COMPARE_MWU_EXACT_MAX) {
        double le, ge;
        if (mwu_exact_tails(nx, ny, out->u, &le, &ge))
            return vlm_error_set(err, VLM_ERR_NOMEM, "Mann-Whitney U: out of memory");
        out->exact = 1;
        out->p = fmin(1.0, 2 * fmin(le, ge));
        return VLM_OK;
    }
    double mu = 0.5 * nx * ny;
    double var = nx * (double)ny / 12.0 * ((N + 1.0) - tie_term / ((double)N * (N - 1.0)));
    if (!(var > 0)) { /* every value tied: no evidence of any shift */
        out->p = 1;
        return VLM_OK;
    }
    out->z = fmax(0.0, fabs(out->u - mu) - 0.5) / sqrt(var);
    out->p = fmin(1.0, erfc(out->z / sqrt(2.0)));
    return VLM_OK;
}

/* ---- bootstrap -------------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Median of one resample of sorted s[0..n): n draws counted per index (counts zeroed here),
 * then the order statistics read off the cumulative counts: O(n), no sort. */
static double resample_median(const double *s, int n, int *counts, uint64_t *state) {
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int i = 0; i < n; i++)
        counts[(unsigned __int128)splitmix64(state) * (unsigned)n >> 64]++;
    /* 0-based ranks of the middle: n/2 for odd n, n/2-1 and n/2 for even n */
    int r_hi = n / 2, r_lo = n % 2 ? n / 2 : n / 2 - 1;
    double lo = NAN, hi = NAN;
    int cum = 0;
    for (int k = 0; k < n; k++) {
        cum += counts[k];
        if (isnan(lo) && cum > r_lo)
            lo = s[k];
        if (cum > r_hi) {
            hi = s[k];
            break;
        }
    }
    return 0.5 * (lo + hi);
}

/* numpy's default percentile: linear interpolation at q (N-1) in sorted v. */
static double quantile_linear(const double *v, int n, double q) {
    double h = q * (n - 1);
    int i = (int)floor(h);
    if (i >= n - 1)
        return v[n - 1];
    if (i < 0)
        return v[0];
    return v[i] + (h - i) * (v[i + 1] - v[i]);
}

vlm_status vlm_compare_bootstrap_ratio(const double *const *base, const int *base_n, int n_base,
                                       const double *const *new_, const int *new_n, int n_new,
                                       int reps, double level, uint64_t seed, double *lo,
                                       double *hi, double *p_one, vlm_error *err) {
    if (n_base < 1 || n_new < 1 || n_base > 64 || n_new > 64 || reps < 2 ||
        !(level > 0 && level < 1))
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "bootstrap: needs 1 to 64 parts on each side, >= 2 replicates and a "
                             "level in (0, 1)");
    int parts = n_base + n_new, maxn = 1;
    for (int k = 0; k < parts; k++) {
        int n = k < n_base ? base_n[k] : new_n[k - n_base];
        const double *v = k < n_base ? base[k] : new_[k - n_base];
        if (n < 1 || !all_finite(v, n))
            return vlm_error_set(err, VLM_ERR_INVALID,
                                 "bootstrap: a part has no samples or a non-finite sample");
        if (n > maxn)
            maxn = n;
    }
    vlm_status st = VLM_OK;
    double **sorted = calloc((size_t)parts, sizeof *sorted);
    double *ratios = malloc((size_t)reps * sizeof *ratios);
    int *counts = malloc((size_t)maxn * sizeof *counts);
    if (!sorted || !ratios || !counts) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "bootstrap: out of memory");
        goto done;
    }
    double base_sum = 0;
    for (int k = 0; k < parts; k++) {
        int n = k < n_base ? base_n[k] : new_n[k - n_base];
        sorted[k] = sorted_copy(k < n_base ? base[k] : new_[k - n_base], n);
        if (!sorted[k]) {
            st = vlm_error_set(err, VLM_ERR_NOMEM, "bootstrap: out of memory");
            goto done;
        }
        if (k < n_base)
            base_sum += vlm_compare_median(sorted[k], n);
    }
    if (!(base_sum > 0)) {
        st = vlm_error_set(err, VLM_ERR_INVALID, "bootstrap: the base median is not positive");
        goto done;
    }
    uint64_t state = seed;
    int le = 0, ge = 0;
    for (int r = 0; r < reps; r++) {
        double sb = 0, sn = 0;
        for (int k = 0; k < parts; k++) {
            int n = k < n_base ? base_n[k] : new_n[k - n_base];
            double m = resample_median(sorted[k], n, counts, &state);
            if (k < n_base)
                sb += m;
            else
                sn += m;
        }
        /* a resampled base sum of 0 (all-zero samples) would divide by zero: treat as no
         * change, the only ratio such data supports */
        ratios[r] = sb > 0 ? sn / sb : 1.0;
        le += ratios[r] <= 1.0;
        ge += ratios[r] >= 1.0;
    }
    qsort(ratios, (size_t)reps, sizeof *ratios, cmp_double);
    *lo = quantile_linear(ratios, reps, 0.5 * (1 - level));
    *hi = quantile_linear(ratios, reps, 0.5 * (1 + level));
    if (p_one)
        *p_one = fmin(1.0, 2.0 * ((le < ge ? le : ge) + 1) / (reps + 1.0));
done:
    if (sorted)
        for (int k = 0; k < parts; k++)
            free(sorted[k]);
    free(sorted);
    free(ratios);
    free(counts);
    return st;
}

/* ---- McNemar ---------------------------------------------------------------------------- */

double vlm_compare_mcnemar(long b, long c) {
    if (b < 0 || c < 0)
        return NAN;
    long n = b + c, k = b < c ? b : c;
    if (n == 0)
        return 1.0;
    /* log P(X <= k) by log-sum-exp over log C(n, i) - n log 2: 0.5^n underflows for the tens of
     * thousands of items of ImageNet */
    double lmax = -INFINITY;
    double *terms = malloc((size_t)(k + 1) * sizeof *terms);
    if (!terms)
        return NAN;
    for (long i = 0; i <= k; i++) {
        terms[i] = lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * log(2.0);
        if (terms[i] > lmax)
            lmax = terms[i];
    }
    double s = 0;
    for (long i = 0; i <= k; i++)
        s += exp(terms[i] - lmax);
    free(terms);
    return fmin(1.0, 2 * exp(lmax + log(s)));
}
