/* plots/pareto.c: the Pareto frontier (cost minimised, score maximised), checked against the
 * definition applied by brute force. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "plots/plots.h"

/* The header's definition, literally: i is on the frontier when neither of its values is NaN,
 * no other point has cost <= and score >= with at least one strict, and no exact duplicate has
 * a lower index. O(n^2). */
static int on_frontier(const double *cost, const double *score, int n, int i) {
    if (isnan(cost[i]) || isnan(score[i]))
        return 0;
    for (int j = 0; j < n; j++) {
        if (j == i || isnan(cost[j]) || isnan(score[j]))
            continue;
        int weakly = cost[j] <= cost[i] && score[j] >= score[i];
        int strictly = cost[j] < cost[i] || score[j] > score[i];
        if (weakly && strictly)
            return 0;
        if (cost[j] == cost[i] && score[j] == score[i] && j < i)
            return 0;
    }
    return 1;
}

/* Checks vlm_pareto_frontier against on_frontier: the same set, each index once, in strictly
 * ascending cost and strictly ascending score. */
static void check_frontier(const double *cost, const double *score, int n, const char *what) {
    int *out = malloc((size_t)(n > 0 ? n : 1) * sizeof *out);
    char *seen = calloc((size_t)(n > 0 ? n : 1), 1);
    int k = vlm_pareto_frontier(cost, score, n, out);
    cr_assert(k >= 0 && k <= n, "%s: returned %d for n=%d", what, k, n);
    for (int t = 0; t < k; t++) {
        int i = out[t];
        cr_assert(i >= 0 && i < n, "%s: index %d out of range", what, i);
        cr_assert(!seen[i], "%s: index %d twice", what, i);
        seen[i] = 1;
        cr_assert(on_frontier(cost, score, n, i), "%s: %d (%g, %g) is dominated", what, i,
                  cost[i], score[i]);
        if (t > 0) {
            int h = out[t - 1];
            cr_assert(cost[h] < cost[i] && score[h] < score[i],
                      "%s: not ascending at %d: (%g, %g) then (%g, %g)", what, t, cost[h],
                      score[h], cost[i], score[i]);
        }
    }
    for (int i = 0; i < n; i++)
        cr_assert(seen[i] || !on_frontier(cost, score, n, i), "%s: %d (%g, %g) is missing",
                  what, i, cost[i], score[i]);
    free(out);
    free(seen);
}

/* Checks the exact output for a hand case. */
static void expect_frontier(const double *cost, const double *score, int n, const int *want,
                            int nwant) {
    int out[64];
    cr_assert(n <= 64);
    int k = vlm_pareto_frontier(cost, score, n, out);
    cr_assert_eq(k, nwant, "%d points on the frontier, want %d", k, nwant);
    for (int i = 0; i < k; i++)
        cr_assert_eq(out[i], want[i], "out[%d] = %d, want %d", i, out[i], want[i]);
    check_frontier(cost, score, n, "hand case");
}

/* splitmix64: a seeded generator that does not depend on the C library */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *s) {
    return (double)(next_u64(s) >> 11) * 0x1p-53;
}

Test(pareto, n_zero) {
    int out[1] = {-7};
    cr_assert_eq(vlm_pareto_frontier(NULL, NULL, 0, out), 0);
    cr_assert_eq(vlm_pareto_frontier(NULL, NULL, 0, NULL), 0);
    cr_assert_eq(out[0], -7);
}

Test(pareto, single_point) {
    expect_frontier((double[]){3}, (double[]){0.5}, 1, (int[]){0}, 1);
}

Test(pareto, textbook_case) {
    /*   index:   0    1    2    3    4    5
     *   cost:   10   20   15   30   25    5
     *   score:  .6   .7   .5   .9   .7   .4   -> 5, 0, 1, 3  (2 and 4 dominated) */
    double cost[] = {10, 20, 15, 30, 25, 5}, score[] = {.6, .7, .5, .9, .7, .4};
    expect_frontier(cost, score, 6, (int[]){5, 0, 1, 3}, 4);
}

Test(pareto, equal_cost_different_score) {
    /* same cost: only the best score survives, wherever it sits */
    double cost[] = {5, 5, 5, 7}, score[] = {0.2, 0.9, 0.5, 0.95};
    expect_frontier(cost, score, 4, (int[]){1, 3}, 2);
    /* same score: only the cheapest */
    double c2[] = {9, 4, 6}, s2[] = {0.5, 0.5, 0.5};
    expect_frontier(c2, s2, 3, (int[]){1}, 1);
}

Test(pareto, duplicates_keep_the_lowest_index) {
    double cost[] = {4, 2, 2, 4, 2}, score[] = {0.8, 0.3, 0.3, 0.8, 0.3};
    expect_frontier(cost, score, 5, (int[]){1, 0}, 2);
    /* all the same point */
    double c2[] = {1, 1, 1, 1}, s2[] = {2, 2, 2, 2};
    expect_frontier(c2, s2, 4, (int[]){0}, 1);
    /* the duplicate with the lowest index comes last in the input */
    double c3[] = {3, 3, 1, 3}, s3[] = {1, 1, 0, 1};
    expect_frontier(c3, s3, 4, (int[]){2, 0}, 2);
}

Test(pareto, nans_are_ignored) {
    /* a NaN point would otherwise dominate (cost 0, score 1) or be cheapest */
    double cost[] = {NAN, 1, 0, 2, 3}, score[] = {1, 0.5, NAN, 0.6, NAN};
    expect_frontier(cost, score, 5, (int[]){1, 3}, 2);
    double c2[] = {NAN, NAN}, s2[] = {1, NAN};
    expect_frontier(c2, s2, 2, NULL, 0);
    double c3[] = {1, -NAN}, s3[] = {-NAN, 1};
    expect_frontier(c3, s3, 2, NULL, 0);
}

Test(pareto, infinities_are_ordinary_values) {
    /* a score of -inf is still on the frontier when nothing beats it */
    expect_frontier((double[]){1}, (double[]){-INFINITY}, 1, (int[]){0}, 1);
    double cost[] = {INFINITY, 1, -INFINITY, 2}, score[] = {INFINITY, -INFINITY, -INFINITY, 0};
    expect_frontier(cost, score, 4, (int[]){2, 3, 0}, 3);
    double c2[] = {-INFINITY, -INFINITY}, s2[] = {-INFINITY, -INFINITY};
    expect_frontier(c2, s2, 2, (int[]){0}, 1);
}

Test(pareto, points_on_a_line) {
    /* rising line: every point is on the frontier, reported by ascending cost */
    double cost[9], score[9];
    int order[9] = {4, 0, 8, 2, 6, 1, 7, 3, 5}, want[9];
    for (int i = 0; i < 9; i++) {
        cost[order[i]] = 10.0 + 2.5 * i;
        score[order[i]] = 0.1 + 0.05 * i;
        want[i] = order[i];
    }
    expect_frontier(cost, score, 9, want, 9);
    /* falling line: only the cheapest point */
    for (int i = 0; i < 9; i++)
        score[order[i]] = 0.9 - 0.05 * i;
    expect_frontier(cost, score, 9, (int[]){4}, 1);
    /* vertical line (one cost): only the top */
    for (int i = 0; i < 9; i++)
        cost[i] = 3, score[i] = i == 6 ? 1.0 : 0.1 * i;
    expect_frontier(cost, score, 9, (int[]){6}, 1);
}

Test(pareto, negative_zero_equals_zero) {
    double cost[] = {0.0, -0.0, 1}, score[] = {-0.0, 0.0, 0.5};
    expect_frontier(cost, score, 3, (int[]){0, 2}, 2);
}

Test(pareto, random_sets_match_brute_force) {
    uint64_t seed = 20240601;
    for (int trial = 0; trial < 600; trial++) {
        int n = (int)(next_u64(&seed) % 300);
        int mode = trial % 4;
        double *cost = malloc((size_t)(n ? n : 1) * sizeof *cost);
        double *score = malloc((size_t)(n ? n : 1) * sizeof *score);
        for (int i = 0; i < n; i++) {
            if (mode == 0) { /* continuous: few ties */
                cost[i] = next_unit(&seed) * 100;
                score[i] = next_unit(&seed);
            } else if (mode == 1) { /* a coarse grid: many ties and duplicates */
                cost[i] = (double)(next_u64(&seed) % 6);
                score[i] = (double)(next_u64(&seed) % 5) / 4;
            } else if (mode == 2) { /* anti-correlated, so long frontiers, with ties */
                double c = (double)(next_u64(&seed) % 40);
                cost[i] = c;
                score[i] = c / 40 - (double)(next_u64(&seed) % 4) * 0.05;
            } else { /* grid with NaNs and infinities sprinkled in */
                uint64_t r = next_u64(&seed);
                cost[i] = (double)(r % 8);
                score[i] = (double)((r >> 8) % 8);
                if ((r >> 16) % 13 == 0)
                    cost[i] = NAN;
                if ((r >> 20) % 17 == 0)
                    score[i] = NAN;
                if ((r >> 24) % 19 == 0)
                    cost[i] = (r >> 30) & 1 ? INFINITY : -INFINITY;
                if ((r >> 32) % 23 == 0)
                    score[i] = (r >> 40) & 1 ? INFINITY : -INFINITY;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "trial %d (mode %d, n %d)", trial, mode, n);
        check_frontier(cost, score, n, what);
        free(cost);
        free(score);
    }
}
