/*
 * vlmbench results: the versioned, append-only results store (JSON Lines): the record
 * writer, the reader and the configuration key; later: `vlmbench compare`.
 *
 *   json_t *rec = json_pack("{s:s, s:i}", "model", "fastvithd", "res", 1024);
 *   vlm_results_append("results.jsonl", rec, &err);
 *
 *   vlm_results r;
 *   if (vlm_results_read("results.jsonl", &r, &err) == VLM_OK)
 *       ... r.records[i] (r.warning when a torn last line was skipped) ...
 *   vlm_results_free(&r);
 */
#ifndef VLM_RESULTS_H
#define VLM_RESULTS_H

#include <jansson.h>

#include "engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the results record schema written by this build. */
#define VLM_RESULTS_SCHEMA 1

/* Appends record as one compact JSON line to path (created if missing), with a "schema"
 * field set to VLM_RESULTS_SCHEMA first, then fflush + fsync so a killed process loses at
 * most the record being written. The line is written with a single write(2) on an O_APPEND
 * descriptor, so concurrent writers never interleave within a line. record is borrowed. */
vlm_status vlm_results_append(const char *path, const json_t *record, vlm_error *err);

typedef struct vlm_results {
    json_t **records; /* owned references, in file order */
    int n;
    int skipped;      /* lines ignored: a torn last line (no newline, or not JSON) */
    char warning[512]; /* what was ignored, for the user ("" when nothing) */
} vlm_results;

/* Reads a results file. Each line must be one JSON object; a last line that is incomplete (no
 * trailing newline, or not valid JSON: what a killed writer leaves) is ignored, counted in
 * skipped and described in warning. Any other malformed line is VLM_ERR_FORMAT "FILE:LINE:
 * ..." (including a record without an integer "schema" >= 1); a record whose "schema" is newer
 * than VLM_RESULTS_SCHEMA is VLM_ERR_UNSUPPORTED. Blank lines are skipped. Unknown fields are
 * kept. A missing file is VLM_ERR_IO. On error out is left empty. */
vlm_status vlm_results_read(const char *path, vlm_results *out, vlm_error *err);
void vlm_results_free(vlm_results *r);

/* The configuration identity of a record, for resume, merge and compare: model, res (or
 * height x width), dtype, threads, llm, prefill tokens, weights, and the env fingerprint's
 * cpu, onednn and onednn_isa, joined with '|' ('|' and '\' inside values escaped with '\').
 * Defaults for absent fields: llm "none", prefill tokens 0, weights "synthetic"; a weights
 * object {path, sha256} counts by its sha256. malloc'd string; NULL when out of memory. */
char *vlm_results_config_key(const json_t *record);

/* ==== compare: the statistical regression gate (`vlmbench compare`) ======================== *
 *
 *   vlm_compare_params p = vlm_compare_default_params();   // 5%, alpha 0.01, 1.0 point
 *   json_t *report;
 *   if (vlm_compare_results(&base, &new_, &p, &report, &err) == VLM_OK) {
 *       ... json_is_true(json_object_get(report, "failed")) -> exit 1 ...
 *       json_decref(report);
 *   }
 *
 * Statistics (two-sided, level alpha): timing metrics are a Mann-Whitney U test on the raw
 * samples plus the ratio of medians new/base with a seeded percentile-bootstrap interval; a
 * regression needs ratio > 1 + threshold AND p < alpha, an improvement ratio < 1 - threshold
 * AND p < alpha. Accuracy: a drop of more than acc_threshold points, AND, when both sides store
 * per-item correctness, an exact McNemar test p < alpha. */

/* Largest sample size (each side) for which the Mann-Whitney null distribution is computed
 * exactly; above it, or with ties, the normal approximation is used. */
#define VLM_COMPARE_MWU_EXACT_MAX 50

typedef struct vlm_compare_mwu {
    double u;  /* U of y: pairs (x_i, y_j) with y_j > x_i, plus 1/2 per tie; 0..nx*ny */
    double z;  /* normal score with continuity correction (0 when exact) */
    double p;  /* two-sided p-value, in [0, 1] */
    int exact; /* 1: exact null distribution (no ties, nx and ny <= ..._EXACT_MAX) */
    int ties;  /* 1 when the pooled sample has tied values (tie-corrected variance used) */
} vlm_compare_mwu;

/* Two-sided Mann-Whitney U test of x (nx >= 1) against y (ny >= 1). Exact: p = 2 min(P(U <=
 * u), P(U >= u)) under the exact permutation distribution (computed by the recurrence
 * f(m,n,u) = f(m-1,n,u-n) + f(m,n-1,u)), capped at 1. Otherwise: z = (|U - nx ny/2| - 1/2) /
 * sigma with sigma^2 = nx ny/12 ((N+1) - sum(t^3-t)/(N(N-1))), N = nx+ny, t = tie group sizes,
 * p = erfc(z / sqrt 2) (1 when sigma is 0). VLM_ERR_INVALID for empty or non-finite input,
 * VLM_ERR_NOMEM. */
vlm_status vlm_compare_mann_whitney(const double *x, int nx, const double *y, int ny,
                                    vlm_compare_mwu *out, vlm_error *err);

/* Median (mean of the two middle values for even n); n >= 1; samples unchanged. NAN when n < 1
 * or out of memory. */
double vlm_compare_median(const double *samples, int n);

/* Percentile bootstrap of the ratio of sums of medians, sum_k median(new_k) / sum_k
 * median(base_k), over n_base parts of the base side and n_new of the new side (1..64 each) (one
 * part: the ratio of medians). Each replicate resamples every part with replacement: with a
 * splitmix64 stream seeded by seed, for base parts then new parts in order, n indices each
 * into the part's ascending-sorted samples (index = (r * n) >> 64 of a 64-bit draw r).
 * lo / hi are the (1-level)/2 and (1+level)/2 quantiles of the reps replicate ratios (linear
 * interpolation between order statistics, numpy's default); p_one (may be NULL) is the
 * two-sided bootstrap p-value of ratio == 1: min(1, 2 (min(#{r <= 1}, #{r >= 1}) + 1) /
 * (reps + 1)). Every part needs n >= 1 finite samples; the base sum must be > 0. */
vlm_status vlm_compare_bootstrap_ratio(const double *const *base, const int *base_n, int n_base,
                                       const double *const *new_, const int *new_n, int n_new,
                                       int reps, double level, uint64_t seed, double *lo,
                                       double *hi, double *p_one, vlm_error *err);

/* Exact two-sided McNemar test: b and c are the discordant pair counts (base right / new
 * wrong, base wrong / new right); p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2);
 * 1 when b + c == 0. */
double vlm_compare_mcnemar(long b, long c);

typedef enum vlm_compare_verdict {
    VLM_COMPARE_UNCHANGED = 0,
    VLM_COMPARE_REGRESSION,
    VLM_COMPARE_IMPROVEMENT,
} vlm_compare_verdict;

/* "unchanged", "regression", "improvement". */
const char *vlm_compare_verdict_name(vlm_compare_verdict v);

typedef struct vlm_compare_params {
    double threshold;           /* relative timing effect: 0.05 = ratio above 1.05 / below 0.95 */
    double alpha;               /* significance level of every test (two-sided), in (0, 0.5] */
    double acc_threshold;       /* accuracy drop (points) that fails the gate */
    int allow_env_mismatch;     /* 0: a different cpu/oneDNN/ISA/threads is VLM_ERR_INVALID */
    const char *const *metrics; /* metrics to compare (borrowed); NULL: all (timing+accuracy) */
    int n_metrics;
    int bootstrap_reps;    /* replicates (2000; raised to 20 / alpha if fewer) */
    uint64_t seed;         /* bootstrap seed (fixed: reports are reproducible) */
    const char *base_name; /* names used in messages (borrowed): "BASE" / "NEW" by default */
    const char *new_name;
} vlm_compare_params;

vlm_compare_params vlm_compare_default_params(void);

/* One timing metric from raw samples: medians, ratio new/base, bootstrap interval at level
 * 1 - alpha, the Mann-Whitney p and the verdict by the rule above. */
typedef struct vlm_compare_timing {
    double base_median, new_median, ratio, ci_lo, ci_hi;
    vlm_compare_mwu mwu;
    vlm_compare_verdict verdict;
} vlm_compare_timing;

vlm_status vlm_compare_timing_samples(const double *base, int n_base, const double *new_, int n_new,
                                      const vlm_compare_params *p, vlm_compare_timing *out,
                                      vlm_error *err);

/* Compares two results files' records (borrowed) and builds the report (owned by the caller,
 * json_decref). Records are paired by model, res (or HxW), dtype, LLM and weights (eval
 * records: "kind", model, res and the set of metric names, i.e. the benchmark; of repeated
 * eval records the last in the file stands, with a warning), preferring partners with the same
 * threads and prefill tokens; unpaired records are listed under "unmatched". Per pair:
 * deterministic facts (params, macs, tokens, prefill_tokens, projector_macs, prefill_macs,
 * llm_params) must be equal ("model changed"); timing metrics (preprocess_ms, vision_ms,
 * projector_ms, prefill_ms, ttft_ms) and accuracy metrics ("metrics" + "metric_items") are compared
 * as described above; a noisy record (either side) and an estimate compared with a measurement are
 * advisory (cannot fail). Report: {"failed", "params", "summary", "env_mismatch", "configs",
 * "unmatched", "warnings"}; see /README "vlmbench compare". Errors: VLM_ERR_INVALID when the
 * environments differ and !allow_env_mismatch (the message lists the differences), VLM_ERR_FORMAT
 * when a file holds the same timing configuration twice or a matched field has the wrong type,
 * naming the file and the config; VLM_ERR_NOMEM. */
vlm_status vlm_compare_results(const vlm_results *base, const vlm_results *new_,
                               const vlm_compare_params *p, json_t **report, vlm_error *err);

/* ==== end of compare ==================================================================== */

#ifdef __cplusplus
}
#endif

#endif /* VLM_RESULTS_H */
