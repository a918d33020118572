/*
 * A single-precision GEMM for linears with pre-packed weights (AVX2 + FMA):
 *
 *   y[M, N] = post(x[M, K] W^T + b),   W given as a PyTorch Linear weight [N, K]
 *   post: + y_old (accumulate), then an activation, then * mul[M, N]
 *
 * (the order of oneDNN's sum -> eltwise -> binary post-ops, which vg_linear uses elsewhere).
 * W is packed once into panels of 16 output columns, K-major, so the 6 x 16 micro-kernel reads
 * it as one stream; x is packed per call, a block of rows by 256 columns at a time, into the
 * caller's workspace (the block stays in L2 while every panel passes over it). Written for the
 * linears of ViT-B/16-class encoders (M = 197) and LLM prefills of a few hundred tokens, where
 * oneDNN 2.6 on AVX2 runs its generic jit sgemm.
 */
#ifndef VLM_ENGINE_SGEMM_H
#define VLM_ENGINE_SGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vlm_sgemm_act {
    VLM_SGEMM_NONE,
    VLM_SGEMM_GELU,      /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    VLM_SGEMM_GELU_TANH, /* 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) */
    VLM_SGEMM_QUICKGELU, /* x sigmoid(1.702 x) */
    VLM_SGEMM_SILU,      /* x sigmoid(x) */
    VLM_SGEMM_RELU,
    VLM_SGEMM_SIGMOID
} vlm_sgemm_act;

typedef struct vlm_sgemm_w vlm_sgemm_w;

/* True when the CPU runs the kernel (AVX2 and FMA). */
bool vlm_sgemm_supported(void);

/* Packs W [n, k] (row-major) and bias [n] (may be NULL). NULL when out of memory. */
vlm_sgemm_w *vlm_sgemm_pack(const float *w, const float *bias, int64_t n, int64_t k);
void vlm_sgemm_free(vlm_sgemm_w *w);
size_t vlm_sgemm_bytes(const vlm_sgemm_w *w);

typedef struct vlm_sgemm_args {
    const float *x;   /* [m, k], row stride ldx */
    float *y;         /* [m, n], row stride ldy */
    const float *mul; /* NULL or [m, n], row stride ldm */
    float *work;      /* vlm_sgemm_work_bytes(m) bytes, 64-byte aligned; one call at a time */
    int64_t m, ldx, ldy, ldm;
    bool accumulate;
    vlm_sgemm_act act;
} vlm_sgemm_args;

/* The workspace a call on m rows needs (packed rows of x). */
size_t vlm_sgemm_work_bytes(int64_t m);

/* Runs on the calling OpenMP team size (omp_get_max_threads()). */
void vlm_sgemm_run(const vlm_sgemm_w *w, const vlm_sgemm_args *a);

#endif /* VLM_ENGINE_SGEMM_H */
