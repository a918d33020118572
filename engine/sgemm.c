/*
 * AVX2 + FMA single-precision GEMM with pre-packed weights (see sgemm.h).
 *
 * Blocking, for one core's L1 (32 KiB) and L2 (512 KiB) on the machines we target:
 *   for each KC = 256 block of K
 *     for each block of at most 300 rows (the rows split evenly, in multiples of 6)
 *       pack x[rows, kc] into 6-row micro-panels (at most 300 KiB: it stays in L2)
 *       for each 16-column weight panel
 *         (the panel's KC x 16 sliver, 16 KiB, stays in L1)
 *         for each 6-row micro-panel: the 6 x 16 micro-kernel, 12 ymm accumulators
 * Threads split the panels or the rows (run_avx says when). The weights stream from memory
 * once per row block, about 1 GB/s per core at full speed.
 * The first K block adds the bias (and y with accumulate); the last one applies the
 * activation and the multiplier in registers before storing. Column tails go through a 6 x 16
 * scratch tile, so the micro-kernel has one shape.
 */
#include "engine/sgemm.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC_MAX 300 /* rows per block: 300 x KC floats = 300 KiB of packed x, in L2 */

/* Rows per block for m rows: as even as the 300-row limit allows, so no block is a sliver
 * (197 rows is one block of 198, 577 two of 294). */
static int64_t row_block(int64_t m) {
    int64_t blocks = (m + MC_MAX - 1) / MC_MAX, rows = (m + blocks - 1) / blocks;
    return (rows + MR - 1) / MR * MR;
}

/* Room for every row of x packed (threads that split the rows pack their own shares). */
size_t vlm_sgemm_work_bytes(int64_t m) {
    int64_t rows = m < 1 ? 1 : m;
    return (size_t)((rows + MR - 1) / MR * MR * KC) * sizeof(float);
}

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

/* One 6 x 16 tile over kc: c = post((first ? start : c) + a[6, kc] b[kc, 16]); start = y_old +
 * bias when accumulating, else bias; post (activation, multiplier) only with last. a is a
 * packed micro-panel (a[p * 6 + r]); c and mul rows at strides ldc and ldm. The products are
 * summed from zero and c is read after the K loop: the prefetches issued at entry have brought
 * its lines (and mul's) in by then, where a load at entry would wait on them. */
typedef struct tile {
    const float *a, *b, *bias, *mul;
    const float *pf; /* NULL, or the next panel's sliver: prefetch its rows [pf_lo, pf_hi) */
    float *c;
    int64_t ldc, ldm, kc, pf_lo, pf_hi;
    bool first, last, accumulate;
    vlm_sgemm_act act;
} tile;

AVX static void kernel(const tile *t) {
    float *c = t->c;
    int64_t ldc = t->ldc;
    bool read_c = !t->first || t->accumulate, mul = t->last && t->mul;
    for (int i = 0; i < MR; i++) { /* c's lines are read or written whole below */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
        if (mul) {
            _mm_prefetch((const char *)(t->mul + i * t->ldm), _MM_HINT_T0);
            _mm_prefetch((const char *)(t->mul + i * t->ldm + NR - 1), _MM_HINT_T0);
        }
    }
    if (t->pf)
        for (int64_t p = t->pf_lo; p < t->pf_hi; p++)
            _mm_prefetch((const char *)(t->pf + p * NR), _MM_HINT_T0);
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a = t->a, *b = t->b;
    int64_t kc = t->kc;
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b + p * NR), b1 = _mm256_load_ps(b + p * NR + 8), av;
        const float *ap = a + p * MR;
        av = _mm256_broadcast_ss(ap);
        c00 = _mm256_fmadd_ps(av, b0, c00), c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(ap + 1);
        c10 = _mm256_fmadd_ps(av, b0, c10), c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(ap + 2);
        c20 = _mm256_fmadd_ps(av, b0, c20), c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(ap + 3);
        c30 = _mm256_fmadd_ps(av, b0, c30), c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(ap + 4);
        c40 = _mm256_fmadd_ps(av, b0, c40), c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(ap + 5);
        c50 = _mm256_fmadd_ps(av, b0, c50), c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    if (t->first) {
        __m256 b0 = _mm256_load_ps(t->bias), b1 = _mm256_load_ps(t->bias + 8);
        c00 = _mm256_add_ps(c00, b0), c01 = _mm256_add_ps(c01, b1);
        c10 = _mm256_add_ps(c10, b0), c11 = _mm256_add_ps(c11, b1);
        c20 = _mm256_add_ps(c20, b0), c21 = _mm256_add_ps(c21, b1);
        c30 = _mm256_add_ps(c30, b0), c31 = _mm256_add_ps(c31, b1);
        c40 = _mm256_add_ps(c40, b0), c41 = _mm256_add_ps(c41, b1);
        c50 = _mm256_add_ps(c50, b0), c51 = _mm256_add_ps(c51, b1);
    }
    if (read_c) {
        c00 = _mm256_add_ps(c00, _mm256_loadu_ps(c)), c01 = _mm256_add_ps(c01, _mm256_loadu_ps(c + 8));
        c10 = _mm256_add_ps(c10, _mm256_loadu_ps(c + ldc)),
        c11 = _mm256_add_ps(c11, _mm256_loadu_ps(c + ldc + 8));
        c20 = _mm256_add_ps(c20, _mm256_loadu_ps(c + 2 * ldc)),
        c21 = _mm256_add_ps(c21, _mm256_loadu_ps(c + 2 * ldc + 8));
        c30 = _mm256_add_ps(c30, _mm256_loadu_ps(c + 3 * ldc)),
        c31 = _mm256_add_ps(c31, _mm256_loadu_ps(c + 3 * ldc + 8));
        c40 = _mm256_add_ps(c40, _mm256_loadu_ps(c + 4 * ldc)),
        c41 = _mm256_add_ps(c41, _mm256_loadu_ps(c + 4 * ldc + 8));
        c50 = _mm256_add_ps(c50, _mm256_loadu_ps(c + 5 * ldc)),
        c51 = _mm256_add_ps(c51, _mm256_loadu_ps(c + 5 * ldc + 8));
    }
    if (t->last && t->act != VLM_SGEMM_NONE) {
        c00 = v_act(c00, t->act), c01 = v_act(c01, t->act);
        c10 = v_act(c10, t->act), c11 = v_act(c11, t->act);
        c20 = v_act(c20, t->act), c21 = v_act(c21, t->act);
        c30 = v_act(c30, t->act), c31 = v_act(c31, t->act);
        c40 = v_act(c40, t->act), c41 = v_act(c41, t->act);
        c50 = v_act(c50, t->act), c51 = v_act(c51, t->act);
    }
    if (mul) {
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
 * The packed a always has 6 rows (the missing ones are zeros). */
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

/* Copies x[rows, kc] (row stride ldx) into a 6-row micro-panel, a[p][6], zero-filling the
 * rows past the last: the micro-kernel then reads one contiguous stream, whatever ldx is (a
 * row stride of 4 KiB would put all six rows in one L1 set). Full panels go 8 columns at a
 * time through an 8 x 8 register transpose (rows 6 and 7 zero); each column's store writes 8
 * floats, and the 2 beyond its 6 land in the next column's slots, which the next store
 * rewrites, so the vector loop stops while a next column remains. */
AVX static void pack_rows(float *dst, const float *x, int64_t ldx, int64_t rows, int64_t kc) {
    int64_t p = 0;
    if (rows == MR)
        for (; p + 8 < kc; p += 8) {
            __m256 z = _mm256_setzero_ps();
            __m256 r0 = _mm256_loadu_ps(x + p), r1 = _mm256_loadu_ps(x + ldx + p),
                   r2 = _mm256_loadu_ps(x + 2 * ldx + p), r3 = _mm256_loadu_ps(x + 3 * ldx + p),
                   r4 = _mm256_loadu_ps(x + 4 * ldx + p), r5 = _mm256_loadu_ps(x + 5 * ldx + p);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
            __m256 u4 = _mm256_shuffle_ps(t4, z, 0x44), u5 = _mm256_shuffle_ps(t4, z, 0xee);
            __m256 u6 = _mm256_shuffle_ps(t5, z, 0x44), u7 = _mm256_shuffle_ps(t5, z, 0xee);
            float *d = dst + p * MR;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + MR, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * MR, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * MR, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * MR, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * MR, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * MR, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * MR, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
    for (; p < kc; p++)
        for (int64_t r = 0; r < MR; r++)
            dst[p * MR + r] = r < rows ? x[r * ldx + p] : 0.0f;
}

/* Rows [i0, i0 + rows) against panels [jp0, jp1) over the K block at p0: a holds the rows'
 * micro-panels, packed. While a panel's tiles run, each prefetches its share of the next
 * panel's sliver (one 64-byte row of 16 weights per k), so the first tile of that panel does
 * not wait on memory: the weights of a model's layer were last read a forward pass ago. */
AVX static void block(const vlm_sgemm_w *w, const vlm_sgemm_args *a, const float *apack,
                      int64_t i0, int64_t rows, int64_t jp0, int64_t jp1, int64_t p0) {
    int64_t m = a->m, n = w->n, k = w->k, kc = k - p0 < KC ? k - p0 : KC;
    int64_t tiles = (rows + MR - 1) / MR;
    for (int64_t jp = jp0; jp < jp1; jp++) {
        int64_t j0 = jp * NR, cols = n - j0 < NR ? n - j0 : NR;
        tile t = {.b = w->data + (jp * k + p0) * NR,
                  .bias = w->bias + j0,
                  .pf = jp + 1 < jp1 ? w->data + ((jp + 1) * k + p0) * NR : NULL,
                  .ldc = a->ldy,
                  .ldm = a->ldm,
                  .kc = kc,
                  .first = p0 == 0,
                  .last = p0 + kc == k,
                  .accumulate = a->accumulate,
                  .act = a->act};
        for (int64_t r = 0; r < rows; r += MR) {
            int64_t i = i0 + r, h = m - i < MR ? m - i : MR, ti = r / MR;
            t.a = apack + r * kc;
            t.c = a->y + i * a->ldy + j0;
            t.mul = a->mul ? a->mul + i * a->ldm + j0 : NULL;
            t.pf_lo = ti * kc / tiles;
            t.pf_hi = (ti + 1) * kc / tiles;
            if (h == MR && cols == NR)
                kernel(&t);
            else
                kernel_edge(&t, h, cols);
        }
    }
}

/* Packs rows [i0, i0 + rows) of x's K block at p0 into dst, one micro-panel at a time. */
AVX static void pack_block(float *dst, const vlm_sgemm_args *a, int64_t k, int64_t i0,
                           int64_t rows, int64_t p0) {
    int64_t kc = k - p0 < KC ? k - p0 : KC;
    for (int64_t r = 0; r < rows; r += MR) {
        int64_t i = i0 + r;
        pack_rows(dst + r * kc, a->x + i * a->ldx + p0, a->ldx, a->m - i < MR ? a->m - i : MR, kc);
    }
}

/* Two ways to split the work between threads. With many weight panels (N >= 512 per thread)
 * the threads share each packed row block and split the panels: every thread streams only its
 * share of the weights. With fewer (the 128-wide K and V projections of Qwen2-0.5B), each
 * thread takes a contiguous share of the rows, packs them itself and runs every panel over them,
 * with no synchronisation until the end. */
AVX static void run_avx(const vlm_sgemm_w *w, const vlm_sgemm_args *a, float *work) {
    int64_t m = a->m, k = w->k, panels = w->panels, micro = (m + MR - 1) / MR;
    int threads = omp_get_max_threads();
    if (threads > 1 && panels >= 32 * threads) {
        int64_t mc = row_block(m);
#pragma omp parallel
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            int64_t jp0 = panels * t / nt, jp1 = panels * (t + 1) / nt;
            for (int64_t p0 = 0; p0 < k; p0 += KC)
                for (int64_t ic = 0; ic < m; ic += mc) {
                    int64_t rows = m - ic < mc ? m - ic : mc, kc = k - p0 < KC ? k - p0 : KC;
#pragma omp for schedule(static)
                    for (int64_t r = 0; r < rows; r += MR)
                        pack_block(work + r * kc, a, k, ic + r, MR, p0);
                    block(w, a, work, ic, rows, jp0, jp1, p0);
#pragma omp barrier
                }
        }
        return;
    }
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t r0 = micro * t / nt * MR, r1 = micro * (t + 1) / nt * MR;
        r1 = r1 < m ? r1 : m;
        if (r0 < r1) {
            int64_t mc = row_block(r1 - r0);
            for (int64_t p0 = 0; p0 < k; p0 += KC)
                for (int64_t ic = r0; ic < r1; ic += mc) {
                    int64_t rows = r1 - ic < mc ? r1 - ic : mc;
                    pack_block(work + ic * KC, a, k, ic, rows, p0);
                    block(w, a, work + ic * KC, ic, rows, 0, panels, p0);
                }
        }
    }
}

void vlm_sgemm_run(const vlm_sgemm_w *w, const vlm_sgemm_args *a) {
    run_avx(w, a, a->work);
}

#else

void vlm_sgemm_run(const vlm_sgemm_w *w, const vlm_sgemm_args *a) {
    (void)w;
    (void)a;
    abort(); /* vlm_sgemm_supported() is false: callers never get here */
}

#endif
