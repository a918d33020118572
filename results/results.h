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

#ifdef __cplusplus
}
#endif

#endif /* VLM_RESULTS_H */
