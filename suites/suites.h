/*
 * vlmbench suites: declarative sweeps. The resolution grid syntax shared by
 * `vlmbench sweep --res` and suite files, and the .suite parser (format in suites/README.md).
 *
 *   vlm_int_list res = {0};
 *   vlm_res_list_parse("256..1152", 64, &res, &err);   // 256, 320, ..., 1152
 *   vlm_int_list_free(&res);
 *
 *   vlm_suite s;
 *   if (vlm_suite_load("suites/fastvlm.suite", &s, &err) == VLM_OK)
 *       ... s.grids[0].models[0], s.grids[0].res.v[i], s.llms[j] ...
 *   vlm_suite_free(&s);
 */
#ifndef VLM_SUITES_H
#define VLM_SUITES_H

#include "engine/engine.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vlm_int_list {
    int *v; /* owned */
    int n;
} vlm_int_list;

/* Parses a resolution grid: "A..B" (step default_step), "A..B:STEP", a comma list
 * "256,512,1024", or a single value. Ranges include A and include B only when B - A is a
 * multiple of STEP. Values must be positive integers <= 16384, ranges ascending, steps > 0;
 * anything else (empty items, trailing junk, overflow, duplicates) is VLM_ERR_INVALID with a
 * message quoting the text. */
vlm_status vlm_res_list_parse(const char *text, int default_step, vlm_int_list *out,
                              vlm_error *err);

/* Frees l's values and zeroes it. NULL is a no-op. */
void vlm_int_list_free(vlm_int_list *l);

/* ---- suites: a named, declarative sweep ------------------------------------------------- */

#define VLM_SUITE_MAX 32

/* One grid line: these vision models at these resolutions. */
typedef struct vlm_suite_grid {
    char *models[VLM_SUITE_MAX]; /* owned */
    int nmodels;
    vlm_int_list res;
} vlm_suite_grid;

typedef struct vlm_suite {
    char name[64];
    vlm_suite_grid grids[VLM_SUITE_MAX];
    int ngrids;
    char *llms[VLM_SUITE_MAX]; /* owned; "none" = vision only */
    int nllms;
    vlm_dtype dtypes[2];
    int ndtypes;
    int threads;        /* 0 = not set */
    int text_tokens;    /* -1 = not set */
    int warmup, min_reps; /* -1 = not set */
    double min_time_s, max_time_s; /* < 0 = not set */
    char *tasks[VLM_SUITE_MAX]; /* owned; evaluation tasks (later) */
    int ntasks;
    char hash[17];      /* FNV-1a 64 of the file's bytes, 16 hex digits */
} vlm_suite;

/* Parses a .suite file (format in suites/README.md). Every problem is VLM_ERR_FORMAT with
 * "FILE:LINE: ..." naming the line; unknown models and LLMs are errors (checked against the
 * engine's registry). On error out is left empty. */
vlm_status vlm_suite_load(const char *path, vlm_suite *out, vlm_error *err);
void vlm_suite_free(vlm_suite *s);

#ifdef __cplusplus
}
#endif

#endif /* VLM_SUITES_H */
