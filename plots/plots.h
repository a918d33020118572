/*
 * vlmbench plots: charts. Now: the Pareto frontier; later: gnuplot chart writers.
 *
 *   int idx[4];
 *   int n = vlm_pareto_frontier(cost_ms, top1, 4, idx);   // idx[0..n) by ascending cost
 */
#ifndef VLM_PLOTS_H
#define VLM_PLOTS_H

#ifdef __cplusplus
extern "C" {
#endif

/* The non-dominated points of n (cost, score) pairs, cost minimised and score maximised.
 * A point is on the frontier when no other point has cost <= and score >= with at least
 * one strict. Exact duplicates: only the lowest index is kept. Points with a NaN cost or
 * score are ignored. Writes the frontier's indices to out (room for n) in ascending cost
 * (so ascending score) and returns their count, or -1 when out of memory. */
int vlm_pareto_frontier(const double *cost, const double *score, int n, int *out);

#ifdef __cplusplus
}
#endif

#endif /* VLM_PLOTS_H */
