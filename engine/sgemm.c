/*
 * AVX2 + FMA single-precision GEMM with pre-packed weights (see sgemm.h).
 *
 * Blocking, for one core's L1 (32 KiB) and L2 (512 KiB) on the machines we target:
 *   for each block of 32 weight panels (512 columns: that y block stays in L3 over K)
 *     for each KC = 256 block of K
 *       for each MC = 192 block of rows (x[rows, kc] is 192 KiB: in L2)
 *         for each 16-column weight panel (threads split the panels)
 *           (the panel's KC x 16 sliver, 16 KiB, stays in L1)
 *           for each 6-row block of x: the 6 x 16 micro-kernel, 12 ymm accumulators
 * The first K block starts from the bias (or from y with accumulate); the last one applies the
 * activation and the multiplier in registers before storing. Row and column tails go through
 * a 6 x 16 scratch tile, so the micro-kernel has one shape.
 */
#include "engine/sgemm.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 192        /* rows of x per block: 192 x KC floats = 192 KiB, in L2 */
#define NC_PANELS 32  /* weight panels per block: the y block (M x 512) stays in L3 */

struct vlm_sgemm_w {
    int64_t n, k, panels;
    float *bias; /* [panels * NR], zero padded */
    float *data; /* [panels][k][NR], zero padded */
};

bool vlm_sgemm_supported(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

vlm_sgemm_w *vlm_sgemm_pack(const float *w, const float *bias, int64_t n, int64_t k) {
    vlm_sgemm_w *p = calloc(1, sizeof *p);
    if (!p || n < 1 || k < 1) {
        free(p);
        return NULL;
    }
    p->n = n;
    p->k = k;
    p->panels = (n + NR - 1) / NR;
    size_t bytes = (size_t)(p->panels * k * NR) * sizeof(float);
    p->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    p->bias = aligned_alloc(64, (size_t)(p->panels * NR) * sizeof(float) + 64);
    if (!p->data || !p->bias) {
        vlm_sgemm_free(p);
        return NULL;
    }
    memset(p->bias, 0, (size_t)(p->panels * NR) * sizeof(float));
    if (bias)
        memcpy(p->bias, bias, (size_t)n * sizeof(float));
    for (int64_t j0 = 0; j0 < p->panels; j0++) {
        float *dst = p->data + j0 * k * NR;
        for (int64_t kk = 0; kk < k; kk++)
            for (int64_t j = 0; j < NR; j++) {
                int64_t col = j0 * NR + j;
                dst[kk * NR + j] = col < n ? w[col * k + kk] : 0.0f;
            }
    }
    return p;
}

void vlm_sgemm_free(vlm_sgemm_w *w) {
    if (!w)
        return;
    free(w->data);
    free(w->bias);
    free(w);
}

size_t vlm_sgemm_bytes(const vlm_sgemm_w *w) {
    return w ? (size_t)(w->panels * (w->k + 1) * NR) * sizeof(float) : 0;
}

#if defined(__x86_64__) || defined(__i386__)

#define AVX __attribute__((target("avx2,fma")))

/* exp(x), x clamped to [-87.3, 88.0] so 2^n stays a normal float: 2^n p(r), r = x - n ln 2,
 * with Cephes expf's degree-6 polynomial (max rel error ~2e-7). */
AVX static inline __m256 v_exp(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX static inline __m256 v_sigmoid(__m256 x) {
    __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, v_exp(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/* erf(x), Abramowitz & Stegun 7.1.26 with the odd symmetry: max abs error 1.5e-7. */
AVX static inline __m256 v_erf(__m256 x) {
    __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0f));
    __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 e = v_exp(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a)));
    __m256 y = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(y, sign);
}

AVX static inline __m256 v_act(__m256 x, vlm_sgemm_act act) {
    switch (act) {
    case VLM_SGEMM_GELU:
        return _mm256_mul_ps(
            _mm256_mul_ps(_mm256_set1_ps(0.5f), x),
            _mm256_add_ps(_mm256_set1_ps(1.0f),
                          v_erf(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)))));
    case VLM_SGEMM_GELU_TANH: { /* 0.5 (1 + tanh u) = sigmoid(2 u) */
        __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 u = _mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x);
        return _mm256_mul_ps(x, v_sigmoid(_mm256_mul_ps(u, _mm256_set1_ps(1.5957691216057308f))));
    }
    case VLM_SGEMM_QUICKGELU:
        return _mm256_mul_ps(x, v_sigmoid(_mm256_mul_ps(x, _mm256_set1_ps(1.702f))));
    case VLM_SGEMM_SILU: return _mm256_mul_ps(x, v_sigmoid(x));
    case VLM_SGEMM_RELU: return _mm256_max_ps(x, _mm256_setzero_ps());
    case VLM_SGEMM_SIGMOID: return v_sigmoid(x);
    case VLM_SGEMM_NONE: break;
    }
    return x;
}

/* One 6 x 16 tile over kc: c = (first ? start : c) + a[6, kc] b[kc, 16]; start = y_old + bias
 * when accumulating, else bias. With last, post-ops before the store. Rows of a and c at
 * strides lda and ldc; m rows of c (<= 6) are read and written (a's missing rows repeat). */
typedef struct tile {
    const float *a, *b, *bias, *mul;
    float *c;
    int64_t lda, ldc, ldm, kc;
    bool first, last, accumulate;
    vlm_sgemm_act act;
} tile;

AVX static void kernel(const tile *t) {
    const float *a0 = t->a, *a1 = a0 + t->lda, *a2 = a1 + t->lda, *a3 = a2 + t->lda,
                *a4 = a3 + t->lda, *a5 = a4 + t->lda;
    float *c = t->c;
    int64_t ldc = t->ldc;
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (t->first && !t->accumulate) {
        c00 = c10 = c20 = c30 = c40 = c50 = _mm256_load_ps(t->bias);
        c01 = c11 = c21 = c31 = c41 = c51 = _mm256_load_ps(t->bias + 8);
    } else {
        c00 = _mm256_loadu_ps(c), c01 = _mm256_loadu_ps(c + 8);
        c10 = _mm256_loadu_ps(c + ldc), c11 = _mm256_loadu_ps(c + ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc), c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc), c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc), c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc), c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
        if (t->first) { /* accumulate: y_old + bias */
            __m256 b0 = _mm256_load_ps(t->bias), b1 = _mm256_load_ps(t->bias + 8);
            c00 = _mm256_add_ps(c00, b0), c01 = _mm256_add_ps(c01, b1);
            c10 = _mm256_add_ps(c10, b0), c11 = _mm256_add_ps(c11, b1);
            c20 = _mm256_add_ps(c20, b0), c21 = _mm256_add_ps(c21, b1);
            c30 = _mm256_add_ps(c30, b0), c31 = _mm256_add_ps(c31, b1);
            c40 = _mm256_add_ps(c40, b0), c41 = _mm256_add_ps(c41, b1);
            c50 = _mm256_add_ps(c50, b0), c51 = _mm256_add_ps(c51, b1);
        }
    }
    const float *b = t->b;
    int64_t kc = t->kc;
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b + p * NR), b1 = _mm256_load_ps(b + p * NR + 8), av;
        av = _mm256_broadcast_ss(a0 + p);
        c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + p);
        c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + p);
        c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + p);
        c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + p);
        c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + p);
        c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    if (t->last && t->act != VLM_SGEMM_NONE) {
        c00 = v_act(c00, t->act), c01 = v_act(c01, t->act);
        c10 = v_act(c10, t->act), c11 = v_act(c11, t->act);
        c20 = v_act(c20, t->act), c21 = v_act(c21, t->act);
        c30 = v_act(c30, t->act), c31 = v_act(c31, t->act);
        c40 = v_act(c40, t->act), c41 = v_act(c41, t->act);
        c50 = v_act(c50, t->act), c51 = v_act(c51, t->act);
    }
    if (t->last && t->mul) {
        const float *m = t->mul;
        int64_t l = t->ldm;
        c00 = _mm256_mul_ps(c00, _mm256_loadu_ps(m)),
        c01 = _mm256_mul_ps(c01, _mm256_loadu_ps(m + 8));
        m += l;
        c10 = _mm256_mul_ps(c10, _mm256_loadu_ps(m)),
        c11 = _mm256_mul_ps(c11, _mm256_loadu_ps(m + 8));
        m += l;
        c20 = _mm256_mul_ps(c20, _mm256_loadu_ps(m)),
        c21 = _mm256_mul_ps(c21, _mm256_loadu_ps(m + 8));
        m += l;
        c30 = _mm256_mul_ps(c30, _mm256_loadu_ps(m)),
        c31 = _mm256_mul_ps(c31, _mm256_loadu_ps(m + 8));
        m += l;
        c40 = _mm256_mul_ps(c40, _mm256_loadu_ps(m)),
        c41 = _mm256_mul_ps(c41, _mm256_loadu_ps(m + 8));
        m += l;
        c50 = _mm256_mul_ps(c50, _mm256_loadu_ps(m)),
        c51 = _mm256_mul_ps(c51, _mm256_loadu_ps(m + 8));
    }
    _mm256_storeu_ps(c, c00), _mm256_storeu_ps(c + 8, c01);
    _mm256_storeu_ps(c + ldc, c10), _mm256_storeu_ps(c + ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20), _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30), _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40), _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50), _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* A tile with fewer than 6 rows or 16 columns: through a scratch 6 x 16 tile for c (and mul).
 * t->a has 6 readable rows (run_avx gives the row tail a padded copy). */
AVX static void kernel_edge(const tile *t, int64_t rows, int64_t cols) {
    float cbuf[MR * NR] __attribute__((aligned(32))), mbuf[MR * NR] __attribute__((aligned(32)));
    tile e = *t;
    bool read_c = !(t->first && !t->accumulate);
    for (int64_t i = 0; i < MR; i++)
        for (int64_t j = 0; j < NR; j++) {
            cbuf[i * NR + j] = read_c && i < rows && j < cols ? t->c[i * t->ldc + j] : 0.0f;
            if (t->last && t->mul)
                mbuf[i * NR + j] = i < rows && j < cols ? t->mul[i * t->ldm + j] : 0.0f;
        }
    e.c = cbuf;
    e.ldc = NR;
    e.mul = t->last && t->mul ? mbuf : NULL;
    e.ldm = NR;
    kernel(&e);
    for (int64_t i = 0; i < rows; i++)
        memcpy(t->c + i * t->ldc, cbuf + i * NR, (size_t)cols * sizeof(float));
}

AVX static void run_avx(const vlm_sgemm_w *w, const vlm_sgemm_args *a) {
    int64_t m = a->m, n = w->n, k = w->k, panels = w->panels, tail0 = m / MR * MR;
    /* the last m % 6 rows of each K block, padded to 6 with copies of the last row (whose
     * results are discarded), so the micro-kernel always reads 6 rows */
    float tail[MR * KC] __attribute__((aligned(32)));
    for (int64_t jc = 0; jc < panels; jc += NC_PANELS) {
        int64_t jend = jc + NC_PANELS < panels ? jc + NC_PANELS : panels;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            bool first = p0 == 0, last = p0 + kc == k;
            for (int64_t i = 0; tail0 < m && i < MR; i++) {
                int64_t r = tail0 + i < m ? tail0 + i : m - 1;
                memcpy(tail + i * KC, a->x + r * a->ldx + p0, (size_t)kc * sizeof(float));
            }
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t iend = ic + MC < m ? ic + MC : m;
#pragma omp parallel for schedule(static)
                for (int64_t jp = jc; jp < jend; jp++) {
                    int64_t j0 = jp * NR, cols = n - j0 < NR ? n - j0 : NR;
                    tile t = {.b = w->data + (jp * k + p0) * NR,
                              .bias = w->bias + j0,
                              .ldc = a->ldy,
                              .ldm = a->ldm,
                              .kc = kc,
                              .first = first,
                              .last = last,
                              .accumulate = a->accumulate,
                              .act = a->act};
                    for (int64_t i0 = ic; i0 < iend; i0 += MR) {
                        int64_t rows = m - i0 < MR ? m - i0 : MR;
                        t.a = rows == MR ? a->x + i0 * a->ldx + p0 : tail;
                        t.lda = rows == MR ? a->ldx : KC;
                        t.c = a->y + i0 * a->ldy + j0;
                        t.mul = a->mul ? a->mul + i0 * a->ldm + j0 : NULL;
                        if (rows == MR && cols == NR)
                            kernel(&t);
                        else
                            kernel_edge(&t, rows, cols);
                    }
                }
            }
        }
    }
}

void vlm_sgemm_run(const vlm_sgemm_w *w, const vlm_sgemm_args *a) {
    run_avx(w, a);
}

#else

void vlm_sgemm_run(const vlm_sgemm_w *w, const vlm_sgemm_args *a) {
    (void)w;
    (void)a;
    abort(); /* vlm_sgemm_supported() is false: callers never get here */
}

#endif
