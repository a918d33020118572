/*
 * vlmbench suites: declarative sweeps. Now: the resolution grid syntax shared by
 * `vlmbench sweep --res` and suite files; later: the .suite parser.
 *
 *   vlm_int_list res = {0};
 *   vlm_res_list_parse("256..1152", 64, &res, &err);   // 256, 320, ..., 1152
 *   vlm_int_list_free(&res);
 */
#ifndef VLM_SUITES_H
#define VLM_SUITES_H

#include "engine/engine.h"

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

#ifdef __cplusplus
}
#endif

#endif /* VLM_SUITES_H */
