#include "plots/plots.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    double cost, score;
    int index;
} point;

/* Ascending cost; equal cost: descending score; then ascending index (keeps the lowest index
 * of exact duplicates first). */
static int by_cost(const void *a, const void *b) {
    const point *p = a, *q = b;
    if (p->cost != q->cost)
        return p->cost < q->cost ? -1 : 1;
    if (p->score != q->score)
        return p->score > q->score ? -1 : 1;
    return (p->index > q->index) - (p->index < q->index);
}

int vlm_pareto_frontier(const double *cost, const double *score, int n, int *out) {
    if (n <= 0)
        return 0;
    point *pts = malloc((size_t)n * sizeof *pts);
    if (!pts)
        return -1;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(cost[i]) && !isnan(score[i]))
            pts[m++] = (point){cost[i], score[i], i};
    qsort(pts, (size_t)m, sizeof *pts, by_cost);
    /* Sweep by ascending cost: a point is on the frontier iff its score beats every score
     * seen at a lower (or equal) cost. Ties in cost: only the best score survives; exact
     * duplicates: only the first (lowest index). The first point is always on the frontier,
     * even with a score of -inf. */
    int k = 0;
    double best = -INFINITY;
    for (int i = 0; i < m; i++) {
        if (k == 0 || pts[i].score > best) {
            out[k++] = pts[i].index;
            best = pts[i].score;
        }
    }
    free(pts);
    return k;
}
