/*
 * vlmbench results: the versioned, append-only results store (JSON Lines). Now: the record
 * writer; later: reader and `vlmbench compare`.
 *
 *   json_t *rec = json_pack("{s:s, s:i}", "model", "fastvithd", "res", 1024);
 *   vlm_results_append("results.jsonl", rec, &err);
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

#ifdef __cplusplus
}
#endif

#endif /* VLM_RESULTS_H */
