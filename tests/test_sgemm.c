/* engine/sgemm.c, the AVX2 GEMM under f32 linears of 32 rows or more, against a float64
 * reference: every edge of its 6 x 16 tiles and 256-deep K blocks, row strides wider than the
 * rows, each activation, the residual sum and the multiplier, on 1 and 2 threads. */
#include "engine/sgemm.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct ref_case {
    int64_t m, k, n;
    vlm_sgemm_act act;
    bool bias, accumulate, mul;
    int64_t pad; /* extra columns in every row stride */
} ref_case;

static double act_ref(double x, vlm_sgemm_act act) {
    switch (act) {
    case VLM_SGEMM_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case VLM_SGEMM_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case VLM_SGEMM_QUICKGELU: return x / (1.0 + exp(-1.702 * x));
    case VLM_SGEMM_SILU: return x / (1.0 + exp(-x));
    case VLM_SGEMM_RELU: return x > 0 ? x : 0;
    case VLM_SGEMM_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case VLM_SGEMM_NONE: break;
    }
    return x;
}

/* Runs the GEMM with a workspace of the size it asks for. */
static void run(const vlm_sgemm_w *w, vlm_sgemm_args a) {
    a.work = aligned_alloc(64, vlm_sgemm_work_bytes(a.m));
    cr_assert_not_null(a.work);
    vlm_sgemm_run(w, &a);
    free(a.work);
}

static float uniform(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Runs one case and returns max |engine - ref| / max |ref|. */
static double run_case(const ref_case *c) {
    unsigned seed = (unsigned)(c->m * 131 + c->k * 17 + c->n);
    int64_t ldx = c->k + c->pad, ldy = c->n + c->pad, ldm = c->n + 2 * c->pad;
    float *x = malloc((size_t)(c->m * ldx) * sizeof *x);
    float *w = malloc((size_t)(c->n * c->k) * sizeof *w);
    float *b = malloc((size_t)c->n * sizeof *b);
    float *y = malloc((size_t)(c->m * ldy) * sizeof *y);
    float *y0 = malloc((size_t)(c->m * ldy) * sizeof *y0);
    float *mul = malloc((size_t)(c->m * ldm) * sizeof *mul);
    cr_assert(x && w && b && y && y0 && mul);
    for (int64_t i = 0; i < c->m * ldx; i++)
        x[i] = uniform(&seed);
    for (int64_t i = 0; i < c->n * c->k; i++)
        w[i] = uniform(&seed) / sqrtf((float)c->k);
    for (int64_t i = 0; i < c->n; i++)
        b[i] = uniform(&seed);
    for (int64_t i = 0; i < c->m * ldy; i++)
        y[i] = y0[i] = uniform(&seed);
    for (int64_t i = 0; i < c->m * ldm; i++)
        mul[i] = uniform(&seed);

    vlm_sgemm_w *pw = vlm_sgemm_pack(w, c->bias ? b : NULL, c->n, c->k);
    cr_assert_not_null(pw);
    cr_assert_geq(vlm_sgemm_bytes(pw), (size_t)(c->n * c->k) * sizeof(float));
    vlm_sgemm_args a = {.x = x,
                        .y = y,
                        .mul = c->mul ? mul : NULL,
                        .m = c->m,
                        .ldx = ldx,
                        .ldy = ldy,
                        .ldm = ldm,
                        .accumulate = c->accumulate,
                        .act = c->act};
    run(pw, a);

    double diff = 0, mag = 0;
    for (int64_t i = 0; i < c->m; i++) {
        for (int64_t j = 0; j < c->n; j++) {
            double r = c->bias ? b[j] : 0.0;
            for (int64_t p = 0; p < c->k; p++)
                r += (double)x[i * ldx + p] * w[j * c->k + p];
            if (c->accumulate)
                r += y0[i * ldy + j];
            r = act_ref(r, c->act);
            if (c->mul)
                r *= mul[i * ldm + j];
            diff = fmax(diff, fabs(r - y[i * ldy + j]));
            mag = fmax(mag, fabs(r));
        }
        /* the padding between rows is never written */
        for (int64_t j = c->n; j < ldy; j++)
            cr_assert_eq(y[i * ldy + j], y0[i * ldy + j], "row %lld col %lld written", (long long)i,
                         (long long)j);
    }
    vlm_sgemm_free(pw);
    free(x), free(w), free(b), free(y), free(y0), free(mul);
    return diff / fmax(mag, 1e-30);
}

static void check(const ref_case *c) {
    double rel = run_case(c);
    cr_expect(rel <= 2e-6,
              "m %lld k %lld n %lld act %d bias %d acc %d mul %d pad %lld: max rel %.3e",
              (long long)c->m, (long long)c->k, (long long)c->n, (int)c->act, c->bias,
              c->accumulate, c->mul, (long long)c->pad, rel);
}

TestSuite(sgemm, .init = NULL);

Test(sgemm, tile_and_block_edges) {
    cr_assert(vlm_sgemm_supported(), "this suite needs AVX2 and FMA (the CI machines have them)");
    static const int64_t ms[] = {1, 5, 6, 7, 13, 197};
    static const int64_t ks[] = {1, 3, 255, 256, 257, 600};
    static const int64_t ns[] = {1, 15, 16, 17, 40};
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
            for (size_t c = 0; c < sizeof ns / sizeof *ns; c++)
                check(&(ref_case){ms[a], ks[b], ns[c], VLM_SGEMM_NONE, (a + b + c) % 2 == 0, false,
                                  false, (int64_t)((a * 3 + c) % 3)});
}

/* More rows than one 300-row block (two blocks of 200; two of 198 whose last has a 1-row
 * micro-panel; three of 204), with every post-op: the blocks meet without gaps or double
 * counting. */
Test(sgemm, several_row_blocks) {
    cr_assert(vlm_sgemm_supported());
    check(&(ref_case){400, 600, 1100, VLM_SGEMM_SILU, true, true, true, 3});
    check(&(ref_case){385, 257, 520, VLM_SGEMM_NONE, false, false, false, 0});
    check(&(ref_case){601, 300, 40, VLM_SGEMM_GELU, true, false, true, 1});
}

Test(sgemm, every_activation_with_sum_and_multiplier) {
    cr_assert(vlm_sgemm_supported());
    for (int act = VLM_SGEMM_NONE; act <= VLM_SGEMM_SIGMOID; act++)
        for (int v = 0; v < 4; v++)
            check(&(ref_case){13 + v, 300, 33, (vlm_sgemm_act)act, v != 1, v & 1, v >= 2, v});
}

/* Large pre-activations: the exp behind the sigmoids is clamped, not overflowed to NaN. */
Test(sgemm, activations_saturate_without_nan) {
    cr_assert(vlm_sgemm_supported());
    float x[6 * 2] = {200, 1, -200, 1, 90, 1, -90, 1, 0, 1, 3, 1};
    float w[16 * 2];
    for (int j = 0; j < 16; j++)
        w[2 * j] = 1.0f, w[2 * j + 1] = 0.0f;
    for (int act = VLM_SGEMM_NONE; act <= VLM_SGEMM_SIGMOID; act++) {
        vlm_sgemm_w *pw = vlm_sgemm_pack(w, NULL, 16, 2);
        float y[6 * 16];
        vlm_sgemm_args a = {.x = x, .y = y, .m = 6, .ldx = 2, .ldy = 16, .act = (vlm_sgemm_act)act};
        run(pw, a);
        for (int i = 0; i < 6; i++) {
            double ref = act_ref(x[2 * i], (vlm_sgemm_act)act);
            cr_expect(isfinite(y[i * 16]), "act %d x %g: %g", act, x[2 * i], y[i * 16]);
            cr_expect(fabs(y[i * 16] - ref) <= 1e-6 * fmax(1.0, fabs(ref)),
                      "act %d x %g: %g, expected %g", act, x[2 * i], y[i * 16], ref);
        }
        vlm_sgemm_free(pw);
    }
}

/* Two threads split the rows (200 outputs: 13 panels) or the weight panels (1040 outputs: 65
 * panels, in two row blocks of 175); either way the result is the one-thread result bit for
 * bit. */
Test(sgemm, two_threads_give_the_same_bits) {
    cr_assert(vlm_sgemm_supported());
    static const int64_t shapes[][3] = {{50, 520, 200}, {350, 300, 1040}};
    for (int c = 0; c < 2; c++) {
        int64_t m = shapes[c][0], k = shapes[c][1], n = shapes[c][2];
        float *x = malloc((size_t)(m * k) * sizeof *x), *w = malloc((size_t)(n * k) * sizeof *w);
        float *y1 = malloc((size_t)(m * n) * sizeof *y1);
        float *y2 = malloc((size_t)(m * n) * sizeof *y2);
        cr_assert(x && w && y1 && y2);
        unsigned s = 3;
        for (int64_t i = 0; i < m * k; i++)
            x[i] = uniform(&s);
        for (int64_t i = 0; i < n * k; i++)
            w[i] = uniform(&s);
        vlm_sgemm_w *pw = vlm_sgemm_pack(w, NULL, n, k);
        vlm_sgemm_args a = {.x = x, .y = y1, .m = m, .ldx = k, .ldy = n, .act = VLM_SGEMM_GELU};
        omp_set_num_threads(1);
        run(pw, a);
        a.y = y2;
        omp_set_num_threads(2);
        run(pw, a);
        for (int64_t i = 0; i < m * n; i++)
            cr_assert_eq(y1[i], y2[i], "%lld x %lld: element %lld", (long long)m, (long long)n,
                         (long long)i);
        vlm_sgemm_free(pw);
        free(x), free(w), free(y1), free(y2);
    }
}

Test(sgemm, empty_or_impossible_shapes_are_refused) {
    float w = 1.0f;
    cr_expect_null(vlm_sgemm_pack(&w, NULL, 0, 1));
    cr_expect_null(vlm_sgemm_pack(&w, NULL, 1, 0));
}
