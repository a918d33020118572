/*
 * Every op of the execution graph (engine/graph.h) against the plain-C reference ops
 * (engine/ref/ref.h) on small seeded shapes in float32; then the arena, dry mode and the sticky
 * error. References are computed in PyTorch layout (NCHW, OIHW) and transposed to the graph's
 * NHWC memory at the edges.
 */
#include "engine/graph.h"
#include "engine/ref/ref.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* max |got - want| / max(1, max |want|). The float32 kernels sum at most 49 products of values
 * in [-1, 1] per output (7x7 depthwise; dense conv 45, linear 24, attention 32 and 35), against
 * references accumulated in double: the worst case seen is 2.3e-7, so 1e-5 holds for any summation
 * order. */
#define TOL 1e-5

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static void setup(void) {
    cr_assert_eq(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    cr_assert_eq(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), dnnl_success);
}

static void teardown(void) {
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
}

TestSuite(ops, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t rng;

static void rng_seed(uint64_t seed) {
    rng = seed * 0x9E3779B97F4A7C15ULL + 1;
}

/* uniform in [-1, 1), xorshift64 */
static float rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

/* n values uniform in [-scale, scale) (owned by the caller) */
static float *rand_buf(size_t n, float scale) {
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = scale * rnd();
    return x;
}

static float *alloc_buf(size_t n) {
    float *x = calloc(n, sizeof *x);
    cr_assert_not_null(x);
    return x;
}

/* x[c, h, w] -> new [h, w, c] */
static float *to_nhwc(const float *x, int c, int h, int w) {
    float *y = alloc_buf((size_t)c * h * w);
    for (int ci = 0; ci < c; ci++)
        for (int p = 0; p < h * w; p++)
            y[(size_t)p * c + ci] = x[(size_t)ci * h * w + p];
    return y;
}

/* x[h, w, c] -> new [c, h, w] */
static float *to_nchw(const float *x, int c, int h, int w) {
    float *y = alloc_buf((size_t)c * h * w);
    for (int ci = 0; ci < c; ci++)
        for (int p = 0; p < h * w; p++)
            y[(size_t)ci * h * w + p] = x[(size_t)p * c + ci];
    return y;
}

static float act_ref(float x, vg_act act) {
    switch (act) {
    case VG_ACT_GELU: return ref_gelu(x);
    case VG_ACT_RELU: return x > 0.f ? x : 0.f;
    case VG_ACT_SIGMOID: return ref_sigmoid(x);
    case VG_ACT_SILU: return x * ref_sigmoid(x);
    case VG_ACT_QUICKGELU: return x * ref_sigmoid(1.702f * x);
    case VG_ACT_GELU_TANH:
        return (float)(0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))));
    case VG_ACT_NONE: break;
    }
    return x;
}

static const char *act_name(vg_act act) {
    static const char *names[] = {"none", "gelu", "relu", "sigmoid", "silu", "gelu_tanh",
                                  "quickgelu"};
    return names[act];
}

static void expect_close(const float *got, const float *want, size_t n, double tol,
                         const char *what) {
    double diff = 0.0, mag = 1.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(got[i]), "%s: element %zu is %g", what, i, (double)got[i]);
        double d = fabs((double)got[i] - want[i]);
        if (d > diff) {
            diff = d;
            worst = i;
        }
        mag = fmax(mag, fabs((double)want[i]));
    }
    cr_assert(diff / mag <= tol,
              "%s: max |diff| %.3g at %zu (got %.7g, want %.7g), relative %.3g > %g", what, diff,
              worst, (double)got[worst], (double)want[worst], diff / mag, tol);
}

static vg_graph *graph_new(void) {
    vg_graph *g = vg_create(eng, dnnl_f32);
    cr_assert_not_null(g);
    return g;
}

static void finalize(vg_graph *g) {
    vlm_error err = {0};
    cr_assert_eq(vg_finalize(g, &err), VLM_OK, "vg_finalize: %s", err.msg);
}

static void run(vg_graph *g) {
    vlm_error err = {0};
    cr_assert_eq(vg_run(g, strm, NULL, &err), VLM_OK, "vg_run: %s", err.msg);
}

static void expect_dims(const vg_graph *g, vg_tensor t, int ndims, const int64_t *dims) {
    cr_assert_neq(t, VG_NONE);
    cr_assert_eq(vg_ndims(g, t), ndims);
    for (int i = 0; i < ndims; i++)
        cr_assert_eq(vg_dims(g, t)[i], dims[i], "dim %d: %lld, want %lld", i,
                     (long long)vg_dims(g, t)[i], (long long)dims[i]);
}

static int64_t graph_macs(const vg_graph *g) {
    return vg_total_macs(g);
}

/* ---- convolution ------------------------------------------------------------------------ */

typedef struct conv_case {
    int cin, h, w, cout, k, stride, pad, groups;
    bool bias;
    vg_act act;
    bool accumulate; /* into a random residual */
    vg_kind kind;    /* kind of the (last) conv node */
} conv_case;

/* ho, wo as PyTorch computes them */
static int conv_out(int n, int k, int stride, int pad) {
    return (n + 2 * pad - k) / stride + 1;
}

static void check_conv(conv_case c, uint64_t seed) {
    char what[200];
    snprintf(what, sizeof what,
             "conv %dx%d s%d p%d g%d %d->%d on %dx%d, bias %d, act %s, accumulate %d", c.k, c.k,
             c.stride, c.pad, c.groups, c.cin, c.cout, c.h, c.w, c.bias, act_name(c.act),
             c.accumulate);
    rng_seed(seed);
    int ho = conv_out(c.h, c.k, c.stride, c.pad), wo = conv_out(c.w, c.k, c.stride, c.pad);
    size_t nx = (size_t)c.cin * c.h * c.w, ny = (size_t)c.cout * ho * wo;
    size_t nw = (size_t)c.cout * (c.cin / c.groups) * c.k * c.k;
    float *x = rand_buf(nx, 1.f), *wt = rand_buf(nw, 1.f);
    float *bias = c.bias ? rand_buf((size_t)c.cout, 1.f) : NULL;
    float *res = c.accumulate ? rand_buf(ny, 1.f) : NULL;

    float *want = alloc_buf(ny);
    ref_conv2d(x, c.cin, c.h, c.w, wt, bias, c.cout, c.k, c.stride, c.pad, c.groups, want);
    /* oneDNN post-op order: sum, then eltwise: act(conv + bias + dst) */
    for (size_t i = 0; i < ny; i++)
        want[i] = act_ref(res ? want[i] + res[i] : want[i], c.act);

    vg_graph *g = graph_new();
    vg_tensor tx = vg_new4(g, c.cin, c.h, c.w);
    vg_tensor ty = c.accumulate ? vg_new4(g, c.cout, ho, wo) : VG_NONE;
    vg_conv_desc d = {c.cout, c.k, c.stride, c.pad, c.groups, wt, bias, c.act, c.accumulate};
    vg_tensor out = vg_conv(g, tx, ty, &d);
    if (c.accumulate)
        cr_assert_eq(out, ty, "%s: dst not returned", what);
    vg_mark_external(g, tx);
    vg_mark_external(g, out);
    finalize(g);
    expect_dims(g, out, 4, (int64_t[]){1, c.cout, ho, wo});
    int nn = vg_node_count(g);
    cr_assert_eq(vg_node_get(g, nn - 1).kind, c.kind, "%s: kind %s", what,
                 vg_kind_name(vg_node_get(g, nn - 1).kind));
    cr_assert_eq(graph_macs(g), (int64_t)ny * (c.cin / c.groups) * c.k * c.k, "%s: MACs", what);
    /* weights were packed at build time: the caller's arrays are no longer read */
    for (size_t i = 0; i < nw; i++)
        wt[i] = NAN;
    for (int i = 0; bias && i < c.cout; i++)
        bias[i] = NAN;

    float *xh = to_nhwc(x, c.cin, c.h, c.w);
    float *yh = res ? to_nhwc(res, c.cout, ho, wo) : alloc_buf(ny);
    vg_bind(g, tx, xh);
    vg_bind(g, out, yh);
    run(g);
    float *got = to_nchw(yh, c.cout, ho, wo);
    expect_close(got, want, ny, TOL, what);

    vg_destroy(g);
    free(x), free(wt), free(bias), free(res), free(want), free(xh), free(yh), free(got);
}

Test(ops, conv3x3_stride1_odd_sizes) {
    check_conv((conv_case){5, 7, 9, 6, 3, 1, 1, 1, true, VG_ACT_NONE, false, VG_KIND_CONV}, 1);
    check_conv((conv_case){5, 7, 9, 6, 3, 1, 1, 1, false, VG_ACT_NONE, false, VG_KIND_CONV}, 2);
}

Test(ops, conv3x3_stride2_odd_sizes) {
    check_conv((conv_case){5, 7, 9, 6, 3, 2, 1, 1, true, VG_ACT_NONE, false, VG_KIND_CONV}, 3);
    check_conv((conv_case){5, 7, 9, 6, 3, 2, 1, 1, false, VG_ACT_NONE, false, VG_KIND_CONV}, 4);
    check_conv((conv_case){5, 9, 7, 3, 3, 2, 0, 1, true, VG_ACT_NONE, false, VG_KIND_CONV}, 5);
}

Test(ops, conv1x1) {
    check_conv((conv_case){5, 7, 9, 7, 1, 1, 0, 1, true, VG_ACT_NONE, false, VG_KIND_CONV1X1}, 6);
    check_conv((conv_case){5, 7, 9, 7, 1, 1, 0, 1, false, VG_ACT_NONE, false, VG_KIND_CONV1X1}, 7);
}

Test(ops, depthwise3x3_stride1_and_2) {
    check_conv((conv_case){5, 7, 9, 5, 3, 1, 1, 5, true, VG_ACT_NONE, false, VG_KIND_DWCONV}, 8);
    check_conv((conv_case){5, 7, 9, 5, 3, 2, 1, 5, false, VG_ACT_NONE, false, VG_KIND_DWCONV}, 9);
    check_conv((conv_case){16, 7, 9, 16, 3, 2, 1, 16, true, VG_ACT_NONE, false, VG_KIND_DWCONV},
               10);
}

Test(ops, depthwise7x7_stride1_and_2) {
    check_conv((conv_case){5, 7, 9, 5, 7, 1, 3, 5, true, VG_ACT_NONE, false, VG_KIND_DWCONV}, 11);
    check_conv((conv_case){5, 7, 9, 5, 7, 2, 3, 5, false, VG_ACT_NONE, false, VG_KIND_DWCONV}, 12);
    check_conv((conv_case){5, 11, 13, 5, 7, 2, 3, 5, true, VG_ACT_NONE, false, VG_KIND_DWCONV}, 13);
}

/* groups = cin, cout = mult * cin: graph.c duplicates channels with a reorder from a stride-0
 * view, then runs a depthwise conv. Two nodes, the MACs of the grouped conv. */
Test(ops, grouped_conv_with_channel_multiplier) {
    check_conv((conv_case){5, 7, 9, 10, 3, 2, 1, 5, true, VG_ACT_NONE, false, VG_KIND_DWCONV}, 14);
    check_conv((conv_case){5, 7, 9, 10, 3, 1, 1, 5, false, VG_ACT_GELU, false, VG_KIND_DWCONV}, 15);
    check_conv((conv_case){5, 7, 9, 10, 7, 2, 3, 5, true, VG_ACT_NONE, false, VG_KIND_DWCONV}, 16);
    check_conv((conv_case){4, 7, 9, 12, 3, 2, 1, 4, true, VG_ACT_NONE, false, VG_KIND_DWCONV}, 17);
    check_conv((conv_case){5, 7, 9, 10, 3, 1, 1, 5, true, VG_ACT_NONE, true, VG_KIND_DWCONV}, 18);

    vg_graph *g = graph_new();
    float *wt = rand_buf(10 * 9, 1.f);
    vg_conv_desc d = {10, 3, 2, 1, 5, wt, NULL, VG_ACT_NONE, false};
    vg_conv(g, vg_new4(g, 5, 7, 9), VG_NONE, &d);
    cr_assert_eq(vg_node_count(g), 2);
    cr_assert_eq(vg_node_get(g, 0).kind, VG_KIND_REORDER);
    cr_assert_eq(vg_node_get(g, 0).macs, 0);
    cr_assert_eq(vg_node_get(g, 1).kind, VG_KIND_DWCONV);
    vg_destroy(g);
    free(wt);
}

Test(ops, grouped_conv_several_channels_per_group) {
    check_conv((conv_case){4, 7, 9, 6, 3, 1, 1, 2, true, VG_ACT_NONE, false, VG_KIND_GROUPCONV},
               19);
    check_conv((conv_case){6, 7, 9, 6, 3, 2, 1, 3, false, VG_ACT_NONE, false, VG_KIND_GROUPCONV},
               20);
}

Test(ops, conv_activation_post_ops) {
    const vg_act acts[] = {VG_ACT_GELU,      VG_ACT_RELU,     VG_ACT_SIGMOID,
                           VG_ACT_SILU,      VG_ACT_GELU_TANH, VG_ACT_QUICKGELU};
    for (int i = 0; i < (int)(sizeof acts / sizeof *acts); i++) {
        check_conv((conv_case){5, 7, 9, 6, 3, 1, 1, 1, true, acts[i], false, VG_KIND_CONV},
                   300 + 3 * (uint64_t)i);
        check_conv((conv_case){5, 7, 9, 7, 1, 1, 0, 1, false, acts[i], false, VG_KIND_CONV1X1},
                   301 + 3 * (uint64_t)i);
        check_conv((conv_case){5, 7, 9, 5, 3, 2, 1, 5, true, acts[i], false, VG_KIND_DWCONV},
                   302 + 3 * (uint64_t)i);
    }
}

Test(ops, conv_accumulate_into_existing_tensor) {
    check_conv((conv_case){5, 7, 9, 5, 1, 1, 0, 1, true, VG_ACT_NONE, true, VG_KIND_CONV1X1}, 40);
    check_conv((conv_case){5, 7, 9, 6, 3, 1, 1, 1, false, VG_ACT_NONE, true, VG_KIND_CONV}, 41);
    check_conv((conv_case){5, 7, 9, 5, 7, 1, 3, 5, true, VG_ACT_NONE, true, VG_KIND_DWCONV}, 42);
    check_conv((conv_case){5, 7, 9, 6, 3, 2, 1, 1, true, VG_ACT_NONE, true, VG_KIND_CONV}, 43);
    check_conv((conv_case){5, 7, 9, 6, 3, 1, 1, 1, true, VG_ACT_RELU, true, VG_KIND_CONV}, 44);
}

/* ---- linear ----------------------------------------------------------------------------- */

/* [1, C, H, W] NHWC viewed as tokens [H*W, C] @ W^T + b -> [H*W, N], into a new 2-D tensor or
 * accumulated into the token view of a [1, N, H, W] tensor. */
static void check_linear(bool with_bias, vg_act act, bool accumulate, uint64_t seed) {
    char what[120];
    snprintf(what, sizeof what, "linear bias %d act %s accumulate %d", with_bias, act_name(act),
             accumulate);
    rng_seed(seed);
    const int c = 24, h = 5, w = 7, n = 40, m = h * w;
    float *x = rand_buf((size_t)m * c, 1.f), *wt = rand_buf((size_t)n * c, 1.f);
    float *bias = with_bias ? rand_buf((size_t)n, 1.f) : NULL;
    float *res = rand_buf((size_t)m * n, 1.f);
    float *want = alloc_buf((size_t)m * n);
    ref_linear(x, m, c, wt, bias, n, want); /* x is the NHWC buffer, i.e. the token matrix */
    for (size_t i = 0; i < (size_t)m * n; i++)
        want[i] = act_ref(accumulate ? want[i] + res[i] : want[i], act);

    vg_graph *g = graph_new();
    vg_tensor x4 = vg_new4(g, c, h, w);
    vg_tensor y4 = accumulate ? vg_new4(g, n, h, w) : VG_NONE;
    vg_tensor dst = accumulate ? vg_view2d(g, y4) : VG_NONE;
    vg_tensor y = vg_linear(g, vg_view2d(g, x4), dst, n, wt, bias, act, accumulate);
    vg_mark_external(g, x4);
    vg_mark_external(g, y);
    finalize(g);
    expect_dims(g, y, 2, (int64_t[]){m, n});
    cr_assert_eq(graph_macs(g), (int64_t)m * c * n);
    cr_assert_eq(vg_node_get(g, 0).kind, VG_KIND_MATMUL);
    for (size_t i = 0; i < (size_t)n * c; i++)
        wt[i] = NAN;
    float *out = alloc_buf((size_t)m * n);
    if (accumulate)
        memcpy(out, res, (size_t)m * n * sizeof *out);
    vg_bind(g, x4, x);
    vg_bind(g, y, out); /* binds y4 through its view */
    run(g);
    expect_close(out, want, (size_t)m * n, TOL, what);
    vg_destroy(g);
    free(x), free(wt), free(bias), free(res), free(want), free(out);
}

Test(ops, linear_on_token_view) {
    check_linear(false, VG_ACT_NONE, false, 50);
    check_linear(true, VG_ACT_NONE, false, 51);
}

Test(ops, linear_activation_post_ops) {
    check_linear(true, VG_ACT_GELU, false, 52);
    check_linear(true, VG_ACT_RELU, false, 53);
    check_linear(false, VG_ACT_SIGMOID, false, 54);
}

Test(ops, linear_accumulate_into_token_view) {
    check_linear(true, VG_ACT_NONE, true, 55);
    check_linear(false, VG_ACT_NONE, true, 56);
    check_linear(true, VG_ACT_GELU, true, 57);
}

/* ---- attention: batched matmuls on strided views ---------------------------------------- */

#define HEAD_DIM 32

typedef struct attn_ref {
    float *q, *kt, *v; /* [heads, n, 32], [heads, 32, n], [heads, n, 32] */
} attn_ref;

/* Splits qkv [n, 3d] (q | k | v, heads of 32) the way fastvit.c's views read it. */
static attn_ref split_qkv(const float *qkv, int n, int d) {
    int heads = d / HEAD_DIM;
    attn_ref r = {alloc_buf((size_t)n * d), alloc_buf((size_t)n * d), alloc_buf((size_t)n * d)};
    for (int hh = 0; hh < heads; hh++)
        for (int i = 0; i < n; i++)
            for (int e = 0; e < HEAD_DIM; e++) {
                const float *row = qkv + (size_t)i * 3 * d + hh * HEAD_DIM + e;
                r.q[((size_t)hh * n + i) * HEAD_DIM + e] = row[0];
                r.kt[((size_t)hh * HEAD_DIM + e) * n + i] = row[d];
                r.v[((size_t)hh * n + i) * HEAD_DIM + e] = row[2 * d];
            }
    return r;
}

static void attn_ref_free(attn_ref *r) {
    free(r->q);
    free(r->kt);
    free(r->v);
}

typedef struct attn_views {
    vg_tensor qkv, q, kt, v;
} attn_views;

static attn_views qkv_views(vg_graph *g, int64_t n, int64_t d) {
    int64_t heads = d / HEAD_DIM;
    attn_views a;
    a.qkv = vg_new(g, 2, (int64_t[]){n, 3 * d}, 0);
    a.q = vg_view(g, a.qkv, 3, (int64_t[]){heads, n, HEAD_DIM}, (int64_t[]){HEAD_DIM, 3 * d, 1}, 0);
    a.kt =
        vg_view(g, a.qkv, 3, (int64_t[]){heads, HEAD_DIM, n}, (int64_t[]){HEAD_DIM, 1, 3 * d}, d);
    a.v = vg_view(g, a.qkv, 3, (int64_t[]){heads, n, HEAD_DIM}, (int64_t[]){HEAD_DIM, 3 * d, 1},
                  2 * d);
    return a;
}

Test(ops, matmul_scores_from_strided_q_and_kt_views) {
    rng_seed(60);
    const int n = 35, d = 64, heads = d / HEAD_DIM;
    const float scale = 1.0f / sqrtf((float)HEAD_DIM);
    float *qkv = rand_buf((size_t)n * 3 * d, 1.f);
    attn_ref r = split_qkv(qkv, n, d);
    float *want = alloc_buf((size_t)heads * n * n);
    ref_matmul(r.q, r.kt, heads, n, HEAD_DIM, n, scale, want);

    vg_graph *g = graph_new();
    attn_views a = qkv_views(g, n, d);
    vg_tensor s = vg_matmul(g, a.q, a.kt, VG_NONE, scale, VG_KIND_ATTENTION);
    vg_mark_external(g, a.qkv);
    vg_mark_external(g, s);
    finalize(g);
    expect_dims(g, s, 3, (int64_t[]){heads, n, n});
    cr_assert_eq(graph_macs(g), (int64_t)heads * n * HEAD_DIM * n);
    cr_assert_eq(vg_node_get(g, 0).kind, VG_KIND_ATTENTION);
    float *got = alloc_buf((size_t)heads * n * n);
    vg_bind(g, a.qkv, qkv);
    vg_bind(g, s, got);
    run(g);
    expect_close(got, want, (size_t)heads * n * n, TOL, "q @ k^T * scale");
    vg_destroy(g);
    attn_ref_free(&r);
    free(qkv), free(want), free(got);
}

/* fastvit.c attention_block: s = scale q k^T, softmax in place, o = p v written through a
 * strided [heads, n, 32] view of o [n, d]. */
Test(ops, attention_chain_writes_heads_through_strided_view) {
    rng_seed(61);
    const int n = 35, d = 96, heads = d / HEAD_DIM;
    const float scale = 1.0f / sqrtf((float)HEAD_DIM);
    float *qkv = rand_buf((size_t)n * 3 * d, 1.f);
    attn_ref r = split_qkv(qkv, n, d);
    float *s = alloc_buf((size_t)heads * n * n), *oh = alloc_buf((size_t)n * d);
    ref_matmul(r.q, r.kt, heads, n, HEAD_DIM, n, scale, s);
    ref_softmax(s, heads * n, n, s);
    ref_matmul(s, r.v, heads, n, n, HEAD_DIM, 1.0f, oh);
    float *want = alloc_buf((size_t)n * d);
    for (int hh = 0; hh < heads; hh++)
        for (int i = 0; i < n; i++)
            for (int e = 0; e < HEAD_DIM; e++)
                want[(size_t)i * d + hh * HEAD_DIM + e] = oh[((size_t)hh * n + i) * HEAD_DIM + e];

    vg_graph *g = graph_new();
    attn_views a = qkv_views(g, n, d);
    vg_tensor ts = vg_new(g, 3, (int64_t[]){heads, n, n}, dnnl_f32);
    vg_matmul(g, a.q, a.kt, ts, scale, VG_KIND_ATTENTION);
    vg_tensor p = vg_softmax(g, ts, ts);
    cr_assert_eq(p, ts);
    vg_tensor o = vg_new(g, 2, (int64_t[]){n, d}, 0);
    vg_tensor o3 =
        vg_view(g, o, 3, (int64_t[]){heads, n, HEAD_DIM}, (int64_t[]){HEAD_DIM, d, 1}, 0);
    cr_assert_eq(vg_matmul(g, p, a.v, o3, 1.0f, VG_KIND_ATTENTION), o3);
    vg_mark_external(g, a.qkv);
    vg_mark_external(g, o);
    finalize(g);
    cr_assert_eq(graph_macs(g), 2 * (int64_t)heads * n * HEAD_DIM * n);
    float *got = alloc_buf((size_t)n * d);
    vg_bind(g, a.qkv, qkv);
    vg_bind(g, o, got);
    run(g);
    expect_close(got, want, (size_t)n * d, TOL, "softmax(q k^T * scale) v");
    /* a second run gives the same result (no state carried over in the arena) */
    memset(got, 0, (size_t)n * d * sizeof *got);
    run(g);
    expect_close(got, want, (size_t)n * d, TOL, "second run");
    vg_destroy(g);
    attn_ref_free(&r);
    free(qkv), free(s), free(oh), free(want), free(got);
}

/* ---- normalization, softmax, reductions, elementwise ------------------------------------ */

Test(ops, layernorm_over_last_dim_of_token_view) {
    rng_seed(70);
    const int c = 48, h = 3, w = 5, m = h * w;
    const float eps = 1e-6f;
    float *x = rand_buf((size_t)m * c, 2.f), *gamma = rand_buf((size_t)c, 1.f);
    float *beta = rand_buf((size_t)c, 1.f);
    for (size_t i = 0; i < (size_t)m * c; i++)
        x[i] += 0.75f; /* a non-zero mean */
    float *want = alloc_buf((size_t)m * c);
    ref_layernorm(x, m, c, gamma, beta, eps, want);

    vg_graph *g = graph_new();
    vg_tensor x4 = vg_new4(g, c, h, w);
    vg_tensor y = vg_layernorm(g, vg_view2d(g, x4), VG_NONE, gamma, beta, eps);
    vg_mark_external(g, x4);
    vg_mark_external(g, y);
    finalize(g);
    expect_dims(g, y, 2, (int64_t[]){m, c});
    cr_assert_eq(vg_node_get(g, 0).kind, VG_KIND_NORM);
    for (int i = 0; i < c; i++)
        gamma[i] = beta[i] = NAN;
    float *got = alloc_buf((size_t)m * c);
    vg_bind(g, x4, x);
    vg_bind(g, y, got);
    run(g);
    expect_close(got, want, (size_t)m * c, TOL, "layernorm");
    vg_destroy(g);
    free(x), free(gamma), free(beta), free(want), free(got);
}

Test(ops, softmax_in_place) {
    rng_seed(71);
    const int b = 2, rows = 7, c = 13;
    const size_t count = (size_t)b * rows * c;
    float *x = rand_buf(count, 4.f), *want = alloc_buf(count);
    ref_softmax(x, b * rows, c, want);

    vg_graph *g = graph_new();
    vg_tensor t = vg_new(g, 3, (int64_t[]){b, rows, c}, 0);
    cr_assert_eq(vg_softmax(g, t, t), t);
    vg_mark_external(g, t);
    finalize(g);
    vg_bind(g, t, x);
    run(g);
    expect_close(x, want, count, TOL, "softmax in place");
    vg_destroy(g);
    free(x), free(want);
}

Test(ops, softmax_out_of_place) {
    rng_seed(72);
    const int rows = 9, c = 33;
    const size_t count = (size_t)rows * c;
    float *x = rand_buf(count, 4.f), *want = alloc_buf(count), *got = alloc_buf(count);
    float *x0 = malloc(count * sizeof *x0);
    memcpy(x0, x, count * sizeof *x0);
    ref_softmax(x, rows, c, want);

    vg_graph *g = graph_new();
    vg_tensor src = vg_new(g, 2, (int64_t[]){rows, c}, 0);
    vg_tensor dst = vg_softmax(g, src, VG_NONE);
    cr_assert_neq(dst, src);
    vg_mark_external(g, src);
    vg_mark_external(g, dst);
    finalize(g);
    expect_dims(g, dst, 2, (int64_t[]){rows, c});
    vg_bind(g, src, x);
    vg_bind(g, dst, got);
    run(g);
    expect_close(got, want, count, TOL, "softmax out of place");
    cr_assert(memcmp(x, x0, count * sizeof *x) == 0, "softmax out of place changed its source");
    vg_destroy(g);
    free(x), free(x0), free(want), free(got);
}

Test(ops, mean_over_h_and_w) {
    rng_seed(73);
    const int c = 6, h = 5, w = 7;
    float *x = rand_buf((size_t)c * h * w, 1.f), *want = alloc_buf((size_t)c);
    ref_mean_hw(x, c, h, w, want);

    vg_graph *g = graph_new();
    vg_tensor x4 = vg_new4(g, c, h, w);
    vg_tensor m = vg_mean_hw(g, x4, 0);
    vg_mark_external(g, x4);
    vg_mark_external(g, m);
    finalize(g);
    expect_dims(g, m, 4, (int64_t[]){1, c, 1, 1});
    float *xh = to_nhwc(x, c, h, w), *got = alloc_buf((size_t)c);
    vg_bind(g, x4, xh);
    vg_bind(g, m, got);
    run(g);
    expect_close(got, want, (size_t)c, TOL, "mean over H, W");
    vg_destroy(g);
    free(x), free(want), free(xh), free(got);
}

/* dst = act(x[1,C,H,W] * s[1,C,1,1]) */
static void check_mul(vg_act act, uint64_t seed) {
    char what[64];
    snprintf(what, sizeof what, "mul broadcast [1,C,1,1], act %s", act_name(act));
    rng_seed(seed);
    const int c = 6, h = 5, w = 7, hw = h * w;
    float *x = rand_buf((size_t)c * hw, 2.f), *s = rand_buf((size_t)c, 1.5f);
    float *want = alloc_buf((size_t)c * hw);
    for (int ci = 0; ci < c; ci++)
        for (int p = 0; p < hw; p++)
            want[(size_t)ci * hw + p] = act_ref(x[(size_t)ci * hw + p] * s[ci], act);

    vg_graph *g = graph_new();
    vg_tensor x4 = vg_new4(g, c, h, w), s4 = vg_new4(g, c, 1, 1);
    vg_tensor y = vg_mul(g, x4, s4, VG_NONE, act);
    vg_mark_external(g, x4);
    vg_mark_external(g, s4);
    vg_mark_external(g, y);
    finalize(g);
    expect_dims(g, y, 4, (int64_t[]){1, c, h, w});
    float *xh = to_nhwc(x, c, h, w), *yh = alloc_buf((size_t)c * hw);
    vg_bind(g, x4, xh);
    vg_bind(g, s4, s);
    vg_bind(g, y, yh);
    run(g);
    float *got = to_nchw(yh, c, h, w);
    expect_close(got, want, (size_t)c * hw, TOL, what);
    vg_destroy(g);
    free(x), free(s), free(want), free(xh), free(yh), free(got);
}

Test(ops, mul_broadcast_channels) {
    check_mul(VG_ACT_NONE, 74);
    check_mul(VG_ACT_GELU, 75);
    check_mul(VG_ACT_SIGMOID, 76);
}

/* dst = act(src), on a 4-D tensor and on a 2-D one */
static void check_eltwise(vg_act act, uint64_t seed) {
    char what[64];
    rng_seed(seed);
    const int c = 6, h = 5, w = 7;
    const size_t count = (size_t)c * h * w;
    float *x = rand_buf(count, 3.f), *want = alloc_buf(count);
    for (size_t i = 0; i < count; i++)
        want[i] = act_ref(x[i], act);
    const int64_t d4[4] = {1, c, h, w}, d2[2] = {h * w, c};
    for (int nd = 2; nd <= 4; nd += 2) {
        snprintf(what, sizeof what, "eltwise %s, %d-D", act_name(act), nd);
        vg_graph *g = graph_new();
        vg_tensor src = vg_new(g, nd, nd == 4 ? d4 : d2, 0);
        vg_tensor dst = vg_eltwise(g, src, VG_NONE, act);
        vg_mark_external(g, src);
        vg_mark_external(g, dst);
        finalize(g);
        expect_dims(g, dst, nd, nd == 4 ? d4 : d2);
        float *got = alloc_buf(count); /* elementwise: layout does not matter */
        vg_bind(g, src, x);
        vg_bind(g, dst, got);
        run(g);
        expect_close(got, want, count, TOL, what);
        vg_destroy(g);
        free(got);
    }
    free(x), free(want);
}

Test(ops, eltwise_each_activation) {
    check_eltwise(VG_ACT_NONE, 80);
    check_eltwise(VG_ACT_GELU, 81);
    check_eltwise(VG_ACT_RELU, 82);
    check_eltwise(VG_ACT_SIGMOID, 83);
}

/* plan.c's input path: NCHW float32 from the caller, reordered into NHWC through a strided
 * view; and its output path: the NHWC tensor's token view copied into a [H*W, C] matrix. */
Test(ops, reorder_nchw_view_to_nhwc_and_tokens) {
    rng_seed(90);
    const int c = 3, h = 7, w = 9;
    const size_t count = (size_t)c * h * w;
    float *x = rand_buf(count, 1.f), *want = to_nhwc(x, c, h, w);
    const int64_t dims[4] = {1, c, h, w};

    vg_graph *g = graph_new();
    vg_tensor in = vg_new(g, 4, dims, dnnl_f32);
    vg_tensor in_nchw =
        vg_view(g, in, 4, dims, (int64_t[]){(int64_t)c * h * w, (int64_t)h * w, w, 1}, 0);
    vg_tensor nhwc = vg_reorder(g, in_nchw, vg_new(g, 4, dims, 0));
    vg_tensor tokens = vg_new(g, 2, (int64_t[]){h * w, c}, dnnl_f32);
    vg_reorder(g, vg_view2d(g, nhwc), tokens);
    vg_mark_external(g, in);
    vg_mark_external(g, nhwc);
    vg_mark_external(g, tokens);
    finalize(g);
    cr_assert_eq(vg_node_get(g, 0).kind, VG_KIND_REORDER);
    float *got = alloc_buf(count), *got_tokens = alloc_buf(count);
    vg_bind(g, in, x);
    vg_bind(g, nhwc, got);
    vg_bind(g, tokens, got_tokens);
    run(g);
    expect_close(got, want, count, 0.0, "reorder NCHW -> NHWC");
    expect_close(got_tokens, want, count, 0.0, "reorder token view -> [H*W, C]");
    vg_destroy(g);
    free(x), free(want), free(got), free(got_tokens);
}

/* fastvit.c squeeze_excite: mean over H, W viewed [1, C], two linears (ReLU, sigmoid), the
 * result viewed [1, C, 1, 1] (strides {C, 1, C, C}) and broadcast-multiplied with GELU. */
Test(ops, squeeze_excite_chain_through_views) {
    rng_seed(91);
    const int c = 16, rd = 4, h = 5, w = 7, hw = h * w;
    float *x = rand_buf((size_t)c * hw, 2.f);
    float *w1 = rand_buf((size_t)rd * c, 1.f), *b1 = rand_buf((size_t)rd, 1.f);
    float *w2 = rand_buf((size_t)c * rd, 1.f), *b2 = rand_buf((size_t)c, 1.f);
    float m[16], r[4], e[16];
    ref_mean_hw(x, c, h, w, m);
    ref_linear(m, 1, c, w1, b1, rd, r);
    for (int i = 0; i < rd; i++)
        r[i] = act_ref(r[i], VG_ACT_RELU);
    ref_linear(r, 1, rd, w2, b2, c, e);
    for (int i = 0; i < c; i++)
        e[i] = ref_sigmoid(e[i]);
    float *want = alloc_buf((size_t)c * hw);
    for (int ci = 0; ci < c; ci++)
        for (int p = 0; p < hw; p++)
            want[(size_t)ci * hw + p] = ref_gelu(x[(size_t)ci * hw + p] * e[ci]);

    vg_graph *g = graph_new();
    vg_tensor x4 = vg_new4(g, c, h, w);
    vg_tensor tm = vg_mean_hw(g, x4, 0);
    vg_tensor m2 = vg_view(g, tm, 2, (int64_t[]){1, c}, (int64_t[]){c, 1}, 0);
    vg_tensor tr = vg_linear(g, m2, VG_NONE, rd, w1, b1, VG_ACT_RELU, false);
    vg_tensor te = vg_linear(g, tr, VG_NONE, c, w2, b2, VG_ACT_SIGMOID, false);
    vg_tensor e4 = vg_view(g, te, 4, (int64_t[]){1, c, 1, 1}, (int64_t[]){c, 1, c, c}, 0);
    vg_tensor y = vg_mul(g, x4, e4, VG_NONE, VG_ACT_GELU);
    vg_mark_external(g, x4);
    vg_mark_external(g, y);
    finalize(g);
    cr_assert_eq(graph_macs(g), (int64_t)c * rd + (int64_t)rd * c);
    float *xh = to_nhwc(x, c, h, w), *yh = alloc_buf((size_t)c * hw);
    vg_bind(g, x4, xh);
    vg_bind(g, y, yh);
    run(g);
    float *got = to_nchw(yh, c, h, w);
    expect_close(got, want, (size_t)c * hw, TOL, "squeeze-excite");
    vg_destroy(g);
    free(x), free(w1), free(b1), free(w2), free(b2), free(want), free(xh), free(yh), free(got);
}

/* ---- arena ------------------------------------------------------------------------------ */

/* a = conv1x1(x); b = gelu(a); c = dw3x3(b); d = sigmoid(c); a += conv1x1(d); y = a.
 * Lifetimes (node indices): a [0, 5], b [1, 2], c [2, 3], d [3, 4]: at most three of the four
 * equal-size intermediates are live at once, so the arena holds three, not four. */
Test(ops, arena_reuses_memory_of_dead_tensors) {
    rng_seed(100);
    const int c = 8, h = 6, w = 6, hw = h * w;
    const size_t count = (size_t)c * hw, bytes = count * sizeof(float);
    float *x = rand_buf(count, 1.f);
    float *w0 = rand_buf((size_t)c * c, 1.f), *b0 = rand_buf((size_t)c, 1.f);
    float *w1 = rand_buf((size_t)c * 9, 1.f), *w2 = rand_buf((size_t)c * c, 1.f);
    float *ra = alloc_buf(count), *rb = alloc_buf(count), *rc = alloc_buf(count);
    ref_conv2d(x, c, h, w, w0, b0, c, 1, 1, 0, 1, ra);
    for (size_t i = 0; i < count; i++)
        rb[i] = ref_gelu(ra[i]);
    ref_conv2d(rb, c, h, w, w1, NULL, c, 3, 1, 1, c, rc);
    for (size_t i = 0; i < count; i++)
        rc[i] = ref_sigmoid(rc[i]);
    ref_conv2d(rc, c, h, w, w2, NULL, c, 1, 1, 0, 1, rb);
    for (size_t i = 0; i < count; i++)
        ra[i] += rb[i];

    vg_graph *g = graph_new();
    vg_tensor tx = vg_new4(g, c, h, w);
    vg_tensor ta = vg_conv(
        g, tx, VG_NONE,
        &(vg_conv_desc){
            .cout = c, .k = 1, .stride = 1, .pad = 0, .groups = 1, .weight = w0, .bias = b0});
    vg_tensor tb = vg_eltwise(g, ta, VG_NONE, VG_ACT_GELU);
    vg_tensor tc = vg_conv(
        g, tb, VG_NONE,
        &(vg_conv_desc){.cout = c, .k = 3, .stride = 1, .pad = 1, .groups = c, .weight = w1});
    vg_tensor td = vg_eltwise(g, tc, VG_NONE, VG_ACT_SIGMOID);
    vg_conv(g, td, ta,
            &(vg_conv_desc){.cout = c,
                            .k = 1,
                            .stride = 1,
                            .pad = 0,
                            .groups = 1,
                            .weight = w2,
                            .accumulate = true});
    vg_tensor ty = vg_reorder(g, ta, vg_new4(g, c, h, w));
    vg_mark_external(g, tx);
    vg_mark_external(g, ty);
    finalize(g);
    cr_assert_eq(vg_node_count(g), 6);
    size_t arena = vg_arena_bytes(g);
    cr_assert(arena < 4 * bytes, "arena %zu bytes, the four intermediates take %zu", arena,
              4 * bytes);
    cr_assert(arena >= 3 * bytes && arena <= 3 * bytes + 3 * 64,
              "arena %zu bytes, three live %zu-byte tensors need %zu", arena, bytes, 3 * bytes);
    float *xh = to_nhwc(x, c, h, w), *yh = alloc_buf(count);
    vg_bind(g, tx, xh);
    vg_bind(g, ty, yh);
    run(g);
    float *got = to_nchw(yh, c, h, w);
    expect_close(got, ra, count, TOL, "chain through a reused arena");
    vg_destroy(g);
    free(x), free(w0), free(b0), free(w1), free(w2), free(ra), free(rb), free(rc), free(xh);
    free(yh), free(got);
}

/* ---- dry mode --------------------------------------------------------------------------- */

Test(ops, dry_mode_gives_shapes_and_macs) {
    vg_graph *g = vg_create(NULL, dnnl_f32);
    cr_assert_not_null(g);
    cr_assert(vg_is_dry(g));
    vg_tensor x = vg_new4(g, 5, 7, 9);
    /* dense 3x3 s2 p1: 7x9 -> 4x5 */
    vg_tensor a = vg_conv(g, x, VG_NONE,
                          &(vg_conv_desc){.cout = 6, .k = 3, .stride = 2, .pad = 1, .groups = 1});
    expect_dims(g, a, 4, (int64_t[]){1, 6, 4, 5});
    int64_t macs = 4 * 5 * 6 * 5 * 9;
    /* depthwise 7x7 s2 p3: 4x5 -> 2x3 */
    vg_tensor b = vg_conv(g, a, VG_NONE,
                          &(vg_conv_desc){.cout = 6, .k = 7, .stride = 2, .pad = 3, .groups = 6});
    expect_dims(g, b, 4, (int64_t[]){1, 6, 2, 3});
    macs += 2 * 3 * 6 * 1 * 49;
    /* grouped, channel multiplier 2: 6 -> 12, 3x3 s1 p1 */
    vg_tensor c = vg_conv(g, b, VG_NONE,
                          &(vg_conv_desc){.cout = 12, .k = 3, .stride = 1, .pad = 1, .groups = 6});
    expect_dims(g, c, 4, (int64_t[]){1, 12, 2, 3});
    macs += 2 * 3 * 12 * 1 * 9;
    /* 1x1 accumulate */
    vg_conv(g, c, vg_new4(g, 12, 2, 3),
            &(vg_conv_desc){
                .cout = 12, .k = 1, .stride = 1, .pad = 0, .groups = 1, .accumulate = true});
    macs += 2 * 3 * 12 * 12;
    /* linear on the token view [6, 12] -> [6, 20] */
    vg_tensor l = vg_linear(g, vg_view2d(g, c), VG_NONE, 20, NULL, NULL, VG_ACT_GELU, false);
    expect_dims(g, l, 2, (int64_t[]){6, 20});
    macs += 6 * 12 * 20;
    /* batched matmul [2, 6, 10] @ [2, 10, 3] */
    vg_tensor l3 = vg_view(g, l, 3, (int64_t[]){2, 6, 10}, (int64_t[]){10, 20, 1}, 0);
    vg_tensor bm = vg_new(g, 3, (int64_t[]){2, 10, 3}, 0);
    vg_tensor mm = vg_matmul(g, l3, bm, VG_NONE, 0.5f, VG_KIND_ATTENTION);
    expect_dims(g, mm, 3, (int64_t[]){2, 6, 3});
    macs += 2 * 6 * 10 * 3;
    /* no MACs counted for normalization, softmax, reduction and elementwise */
    vg_softmax(g, mm, mm);
    vg_tensor ln = vg_layernorm(g, l, VG_NONE, NULL, NULL, 1e-6f);
    expect_dims(g, ln, 2, (int64_t[]){6, 20});
    vg_tensor m = vg_mean_hw(g, c, 0);
    expect_dims(g, m, 4, (int64_t[]){1, 12, 1, 1});
    vg_tensor y = vg_mul(g, c, m, VG_NONE, VG_ACT_GELU);
    expect_dims(g, y, 4, (int64_t[]){1, 12, 2, 3});
    vg_eltwise(g, y, VG_NONE, VG_ACT_RELU);
    vg_mark_external(g, x);

    cr_assert_eq(vg_total_macs(g), macs, "MACs %lld, formula %lld", (long long)vg_total_macs(g),
                 (long long)macs);
    vlm_error err = {0};
    cr_assert_eq(vg_finalize(g, &err), VLM_OK, "%s", err.msg);
    cr_assert_gt(vg_arena_bytes(g), 0);
    cr_assert_eq(vg_weight_bytes(g), 0);
    cr_assert_eq(vg_scratch_bytes(g), 0);
    for (int i = 0; i < vg_node_count(g); i++)
        cr_assert_str_eq(vg_node_get(g, i).impl, "");
    cr_assert_neq(vg_run(g, NULL, NULL, &err), VLM_OK, "a dry graph cannot run");
    vg_destroy(g);
}

/* ---- sticky error ----------------------------------------------------------------------- */

static void expect_impossible_conv(vg_graph *g, int cin, int h, int w, vg_conv_desc d) {
    vg_tensor x = vg_new4(g, cin, h, w);
    vg_mark_external(g, x);
    cr_assert_eq(vg_conv(g, x, VG_NONE, &d), VG_NONE);
    /* later ops are no-ops */
    cr_assert_eq(vg_eltwise(g, x, VG_NONE, VG_ACT_GELU), VG_NONE);
    cr_assert_eq(vg_new4(g, 3, 3, 3), VG_NONE);
    cr_assert_eq(vg_node_count(g), 0);
    vlm_error err = {0};
    cr_assert_eq(vg_status(g, &err), VLM_ERR_INVALID);
    cr_assert_eq(vg_finalize(g, &err), VLM_ERR_INVALID);
    cr_assert_eq(err.status, VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "impossible shape"), "message: %s", err.msg);
    /* the first error wins */
    vg_fail(g, VLM_ERR_INTERNAL, "a later failure");
    cr_assert_eq(vg_finalize(g, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "impossible shape"), "message: %s", err.msg);
}

Test(ops, conv_kernel_larger_than_input_is_a_sticky_error) {
    float wt[4 * 4 * 9] = {0};
    for (int dry = 0; dry < 2; dry++) {
        vg_graph *g = dry ? vg_create(NULL, dnnl_f32) : graph_new();
        expect_impossible_conv(
            g, 4, 2, 2,
            (vg_conv_desc){.cout = 4, .k = 3, .stride = 1, .pad = 0, .groups = 1, .weight = wt});
        vg_destroy(g);
    }
}

/* (2 - 3) / 2 + 1 is 1 with C's truncating division; PyTorch's floor gives 0, an error. */
Test(ops, conv_kernel_larger_than_input_stride2_is_a_sticky_error) {
    float wt[4 * 4 * 9] = {0};
    for (int dry = 0; dry < 2; dry++) {
        vg_graph *g = dry ? vg_create(NULL, dnnl_f32) : graph_new();
        expect_impossible_conv(
            g, 4, 2, 2,
            (vg_conv_desc){.cout = 4, .k = 3, .stride = 2, .pad = 0, .groups = 1, .weight = wt});
        vg_destroy(g);
    }
}

Test(ops, conv_groups_not_dividing_channels_is_a_sticky_error) {
    float wt[6 * 3 * 9] = {0};
    vg_graph *g = graph_new();
    expect_impossible_conv(
        g, 5, 7, 9,
        (vg_conv_desc){.cout = 6, .k = 3, .stride = 1, .pad = 1, .groups = 2, .weight = wt});
    vg_destroy(g);
}

/* Ops on a non-dense view (columns c..2c-1 of a [n, 2c] tensor) into a new dense tensor. */
Test(ops, eltwise_and_layernorm_read_strided_column_views) {
    rng_seed(110);
    const int n = 9, c = 24;
    const size_t count = (size_t)n * c;
    float *x = rand_buf(2 * count, 2.f), *gamma = rand_buf((size_t)c, 1.f);
    float *beta = rand_buf((size_t)c, 1.f);
    float *cols = alloc_buf(count), *want_e = alloc_buf(count), *want_l = alloc_buf(count);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < c; j++)
            cols[(size_t)i * c + j] = x[(size_t)i * 2 * c + c + j];
    for (size_t i = 0; i < count; i++)
        want_e[i] = ref_gelu(cols[i]);
    ref_layernorm(cols, n, c, gamma, beta, 1e-6f, want_l);

    vg_graph *g = graph_new();
    vg_tensor base = vg_new(g, 2, (int64_t[]){n, 2 * c}, 0);
    vg_tensor v = vg_view(g, base, 2, (int64_t[]){n, c}, (int64_t[]){2 * c, 1}, c);
    vg_tensor e = vg_eltwise(g, v, VG_NONE, VG_ACT_GELU);
    vg_tensor l = vg_layernorm(g, v, VG_NONE, gamma, beta, 1e-6f);
    vg_mark_external(g, base);
    vg_mark_external(g, e);
    vg_mark_external(g, l);
    finalize(g);
    /* twice the size, so that a write with the source's strides stays in bounds and shows */
    float *got_e = alloc_buf(2 * count), *got_l = alloc_buf(2 * count);
    vg_bind(g, base, x);
    vg_bind(g, e, got_e);
    vg_bind(g, l, got_l);
    run(g);
    expect_close(got_e, want_e, count, TOL, "gelu of a strided view");
    expect_close(got_l, want_l, count, TOL, "layernorm of a strided view");
    for (size_t i = count; i < 2 * count; i++)
        cr_assert(got_e[i] == 0.f && got_l[i] == 0.f, "write past the dense output at %zu", i);
    vg_destroy(g);
    free(x), free(gamma), free(beta), free(cols), free(want_e), free(want_l), free(got_e);
    free(got_l);
}
