/*
 * vlmbench bench: measurement. The environment fingerprint every result carries (this file,
 * env.c); later: clock, statistics, runner, time-to-first-token, sweep.
 *
 *   vlm_env env;
 *   vlm_env_collect(&env);
 *   json_t *j = vlm_env_to_json(&env);   // owned by the caller: json_decref(j)
 */
#ifndef VLM_BENCH_H
#define VLM_BENCH_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- environment fingerprint ------------------------------------------------------------ */

typedef struct vlm_env {
    char cpu_model[128];      /* CPUID brand string, trimmed */
    int cores;                /* online logical CPUs */
    bool avx2, avx512f, avx512_bf16, avx512_vnni, amx; /* CPUID feature bits (amx: tile) */
    char onednn_version[32];  /* "2.6.3" as the loaded library reports it */
    char onednn_isa[32];      /* ISA oneDNN dispatches: "avx512_core_bf16" */
    char threading[16];       /* oneDNN CPU runtime: "OpenMP" */
    int threads;              /* threads the runtime will use now */
    char omp_num_threads[32]; /* OMP_NUM_THREADS as set, or "" when unset */
    char compiler[64];        /* compiler id and version vlmbench was built with */
    char build_type[32];      /* CMake build type */
    char version[32];         /* vlmbench version */
    char commit[48];          /* git commit vlmbench was built from, or "unknown" */
    bool dirty;               /* the build's work tree had uncommitted changes */
    double loadavg[3];        /* 1, 5, 15 minute load averages; -1 when unavailable */
} vlm_env;

/* Fills env with the facts of this machine, build and process. Cannot fail; fields that
 * cannot be read are left empty (strings) or -1 (numbers). */
void vlm_env_collect(vlm_env *env);

/* The fingerprint as a JSON object (new reference, owned by the caller), or NULL when out of
 * memory. Field names are those of the results schema's "env" object. */
json_t *vlm_env_to_json(const vlm_env *env);

/* The build's version line: "vlmbench 0.1.0 (commit abc123[-dirty], GNU 12.2.0, Release,
 * oneDNN 2.6.3)". Writes at most size bytes including the terminator. */
void vlm_version_string(char *buf, size_t size);

/* ---- statistics and the repetition runner ----------------------------------------------- */

typedef struct vlm_stats {
    int n;
    double median, p10, p90, mad, min, max, mean;
    double ci_lo, ci_hi; /* bootstrap 95% confidence interval of the median */
    bool noisy;          /* the interval is wider than VLM_NOISY_CI of the median */
} vlm_stats;

/* A run is noisy when its 95% CI of the median is wider than this fraction of the median. */
#define VLM_NOISY_CI 0.05

/* Order statistics of n samples (copied, not modified). Percentiles interpolate linearly
 * between order statistics (NumPy's default); MAD is the median absolute deviation from the
 * median, unscaled. The CI is a percentile bootstrap of the median: 2000 resamples drawn with
 * a fixed-seed generator (so the same samples always give the same interval), the 2.5th and
 * 97.5th percentiles of the resampled medians. n = 0 gives all zeros; n = 1 a zero-width CI. */
void vlm_stats_compute(const double *samples, int n, vlm_stats *out);

typedef struct vlm_runner_params {
    int warmup;         /* untimed runs first (primitive JIT, caches, page faults) */
    int min_reps;       /* at least this many timed runs ... */
    double min_time_s;  /* ... and at least this much timed time ... */
    double max_time_s;  /* ... but stop once this much time is spent (after min_reps) */
    int max_reps;       /* hard cap on timed runs */
} vlm_runner_params;

vlm_runner_params vlm_runner_default_params(void);

/* Calls fn(arg) warmup times, then times it with CLOCK_MONOTONIC until min_reps and min_time_s
 * are both met, max_time_s is exceeded, or max_reps is reached. Stores every sample (ms) in a
 * malloc'd array (*samples_ms, owned by the caller) and its count in *n. Stops at the first
 * error fn returns. */
vlm_status vlm_runner_run(const vlm_runner_params *p, vlm_status (*fn)(void *arg, vlm_error *err),
                          void *arg, double **samples_ms, int *n, vlm_error *err);

/* Monotonic time in seconds. */
double vlm_now_s(void);

/* ---- measuring a plan ------------------------------------------------------------------- */

typedef struct vlm_measurement {
    vlm_plan_facts facts;  /* of the whole model (also when layer-sampled) */
    double build_ms;       /* plan creation (all plans when sampled) */
    double *samples_ms;    /* owned: every timed sample (estimated ones when sampled) */
    int n;
    vlm_stats stats;
    bool estimated;        /* layer-sampled: samples are extrapolated to all layers */
    int sampled_layers;    /* K of a 1-layer and a K-layer plan, when estimated */
    double per_layer_ms;   /* median time of one decoder layer, when estimated */
} vlm_measurement;

/* A seeded input for a plan: an image in [0, 1), features / embeddings in [-1, 1), or token
 * ids in [0, vocab). malloc'd (facts->input_count floats); NULL when out of memory. */
float *vlm_bench_input(const vlm_plan_params *p, const vlm_plan_facts *facts);

/* Builds the plan for p and times it with the runner. LLMs with p->layers = K (2 <= K < L)
 * are layer-sampled: a 1-layer and a K-layer plan are built and timed one after the other,
 * and each K-layer sample t_K becomes t_1 + (L - 1) (t_K - t_1) / (K - 1), with t_1 the
 * 1-layer median. keep (may be NULL): receives the plan (not when sampled) for profiling;
 * the caller destroys it. */
vlm_status vlm_measure(vlm_ctx *ctx, const vlm_plan_params *p, const vlm_runner_params *rp,
                       vlm_measurement *out, vlm_plan **keep, vlm_error *err);
void vlm_measurement_free(vlm_measurement *m);

/* How many of L decoder layers a layer-sampled estimate builds: max(4, L / 3). Extrapolating
 * from 1 and K layers multiplies the noise of (t_K - t_1) by (L - 1) / (K - 1); with K = L / 3
 * the estimate stayed within 5% of the whole prefill on Qwen2-0.5B and 1.5B (README). */
int vlm_sampled_layers(int total_layers);

/* A measurement as the results schema's timing object: {median, p10, p90, mad, ci_lo, ci_hi,
 * min, max, n, noisy, estimated, [sampled_layers, per_layer_ms,] samples[]}. New reference. */
json_t *vlm_measurement_to_json(const vlm_measurement *m);

/* Times FastVLM-style preprocessing of one image: a seeded synthetic photo of image_w x
 * image_h pixels is JPEG-encoded once (untimed); each timed run decodes it, pads it to a
 * square (LLaVA expand2square, black), resizes to res x res (PIL bicubic) and converts to a
 * normalised NCHW float tensor. out->facts is zero; only the samples and stats are set. */
vlm_status vlm_measure_preprocess(int res, int image_w, int image_h,
                                  const vlm_runner_params *rp, vlm_measurement *out,
                                  vlm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VLM_BENCH_H */
