/*
 * vlmbench engine: a oneDNN-backed inference engine for vision encoders, projectors and LLM
 * prefill. This header is the whole public contract of libvlm_engine.
 *
 *   vlm_error err = {0};
 *   vlm_backend_info info;
 *   vlm_backend_info_get(&info);
 *   printf("oneDNN %d.%d.%d, ISA %s\n", info.major, info.minor, info.patch, info.isa);
 *
 * Conventions: every function that can fail returns a vlm_status and, when given a non-NULL
 * vlm_error, fills it with a message naming the file, the field and the problem. No function
 * here prints or exits. destroy(NULL) is always a no-op.
 */
#ifndef VLM_ENGINE_H
#define VLM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------------------------ */

typedef enum vlm_status {
    VLM_OK = 0,
    VLM_ERR_INVALID,     /* bad argument or impossible request (e.g. resolution too small) */
    VLM_ERR_IO,          /* open/read/write/mmap failed */
    VLM_ERR_FORMAT,      /* a file is malformed (corrupt checkpoint, bad JSON, truncated) */
    VLM_ERR_NOMEM,       /* allocation failed or a request exceeds available memory */
    VLM_ERR_UNSUPPORTED, /* valid request this machine or build cannot do (e.g. bf16 w/o ISA) */
    VLM_ERR_INTERNAL,    /* a bug or an unexpected backend failure */
} vlm_status;

typedef struct vlm_error {
    vlm_status status;
    char msg[1024];
} vlm_error;

/* Short lowercase name of a status ("malformed file"). Never NULL. */
const char *vlm_status_name(vlm_status status);

/* Sets err (if non-NULL) to status and a printf-formatted message; returns status. */
vlm_status vlm_error_set(vlm_error *err, vlm_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err (if non-NULL) to VLM_OK with an empty message. */
void vlm_error_clear(vlm_error *err);

/* ---- backend facts ---------------------------------------------------------------------- */

typedef struct vlm_backend_info {
    int major, minor, patch;  /* oneDNN version as the loaded library reports it */
    char hash[48];            /* oneDNN commit hash ("N/A" in Debian's build) */
    const char *cpu_runtime;  /* "OpenMP", "TBB", "sequential", "threadpool" (static string) */
    const char *isa;          /* ISA oneDNN dispatches, e.g. "avx512_core_bf16" (static) */
    int max_threads;          /* threads the runtime will use (OpenMP max threads) */
} vlm_backend_info;

/* Fills info from the loaded oneDNN library. Cannot fail. */
void vlm_backend_info_get(vlm_backend_info *info);

#ifdef __cplusplus
}
#endif

#endif /* VLM_ENGINE_H */
