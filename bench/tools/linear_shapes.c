/*
 * vlm-linear-bench: times one f32 linear per implementation on the shapes the models run.
 *
 *   vlm-linear-bench [--threads T] [--reps R] [--cold] [--model NAME | --shape M,K,N[,act]]...
 *
 * For each shape it builds a one-node graph three ways (vg_linear's default, oneDNN's inner
 * product, oneDNN's matmul: the A/B switches vg_linear reads) and prints the median time
 * and GFLOP/s of each, interleaving the implementations round by round so drift hits them
 * alike. act is none, gelu, quickgelu, silu or mul (a SwiGLU multiplier). With --cold each
 * implementation holds enough copies of the layer (each packed on its own, 96 MiB in all) that
 * every timed run finds its weights out of cache, as in a model, where each layer's weights
 * were last read a whole forward pass ago; without it they stay in L2/L3 between runs. This is the evidence
 * behind vg_linear's choice of implementation per shape.
 */
#include "engine/graph.h"

#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    int64_t m, k, n;
    vg_act act;
    bool mul;
    const char *what;
} shape;

/* Per model: the linears of one block at the token count its VLM use runs. */
static const struct {
    const char *model;
    shape s[6];
} MODELS[] = {
    {"vit-b16",
     {{197, 768, 2304, VG_ACT_NONE, false, "qkv"},
      {197, 768, 768, VG_ACT_NONE, false, "proj"},
      {197, 768, 3072, VG_ACT_QUICKGELU, false, "fc1"},
      {197, 3072, 768, VG_ACT_NONE, false, "fc2"}}},
    {"vit-l14",
     {{577, 1024, 3072, VG_ACT_NONE, false, "qkv"},
      {577, 1024, 1024, VG_ACT_NONE, false, "proj"},
      {577, 1024, 4096, VG_ACT_QUICKGELU, false, "fc1"},
      {577, 4096, 1024, VG_ACT_NONE, false, "fc2"}}},
    {"qwen2-0.5b",
     {{280, 896, 896, VG_ACT_NONE, false, "q/o"},
      {280, 896, 128, VG_ACT_NONE, false, "k/v"},
      {280, 896, 4864, VG_ACT_SILU, false, "gate"},
      {280, 896, 4864, VG_ACT_NONE, true, "up*"},
      {280, 4864, 896, VG_ACT_NONE, false, "down"}}},
    {"qwen2-1.5b",
     {{280, 1536, 1536, VG_ACT_NONE, false, "q/o"},
      {280, 1536, 256, VG_ACT_NONE, false, "k/v"},
      {280, 1536, 8960, VG_ACT_SILU, false, "gate"},
      {280, 1536, 8960, VG_ACT_NONE, true, "up*"},
      {280, 8960, 1536, VG_ACT_NONE, false, "down"}}},
};

static const struct {
    const char *name, *env;
} IMPLS[] = {
    {"default", NULL}, /* vg_linear's own choice: the AVX2 GEMM from 32 rows */
    {"inner-product", "VLM_LINEAR_ONEDNN"},
    {"matmul", "VLM_LINEAR_MATMUL"},
};
enum { N_IMPLS = sizeof IMPLS / sizeof IMPLS[0], MAX_REPS = 64, MAX_COPIES = 32 };

typedef struct built {
    vg_graph *g[MAX_COPIES];
    char impl[64];
} built;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Builds the linear with only impl's switch set; NULL (message printed) on failure. */
static vg_graph *build(dnnl_engine_t eng, const shape *s, int impl, const float *w,
                       const float *b, float *x, float *y, float *mul, char *name, size_t cap) {
    for (int i = 0; i < N_IMPLS; i++)
        if (IMPLS[i].env)
            unsetenv(IMPLS[i].env);
    if (IMPLS[impl].env)
        setenv(IMPLS[impl].env, "1", 1);
    vg_graph *g = vg_create(eng, dnnl_f32);
    vg_tensor tx = vg_new(g, 2, (int64_t[]){s->m, s->k}, 0);
    vg_tensor ty = vg_new(g, 2, (int64_t[]){s->m, s->n}, 0);
    vg_tensor tm = s->mul ? vg_new(g, 2, (int64_t[]){s->m, s->n}, 0) : VG_NONE;
    vg_mark_external(g, tx);
    vg_mark_external(g, ty);
    if (s->mul) {
        vg_mark_external(g, tm);
        vg_linear_mul(g, tx, ty, s->n, w, b, tm);
    } else {
        vg_linear(g, tx, ty, s->n, w, b, s->act, false);
    }
    vlm_error err = {0};
    if (vg_finalize(g, &err) != VLM_OK) {
        fprintf(stderr, "vlm-linear-bench: %s: %s\n", IMPLS[impl].name, err.msg);
        vg_destroy(g);
        return NULL;
    }
    vg_bind(g, tx, x);
    vg_bind(g, ty, y);
    if (s->mul)
        vg_bind(g, tm, mul);
    snprintf(name, cap, "%s", vg_node_get(g, vg_node_count(g) - 1).impl);
    return g;
}

static int run_shape(dnnl_engine_t eng, dnnl_stream_t strm, const shape *s, int reps, bool cold) {
    size_t nx = (size_t)(s->m * s->k), nw = (size_t)(s->n * s->k), ny = (size_t)(s->m * s->n);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(s->n * sizeof *b);
    float *y = malloc(ny * sizeof *y), *mul = malloc(ny * sizeof *mul);
    int rc = 1;
    built impl[N_IMPLS] = {0};
    if (!x || !w || !b || !y || !mul) {
        fprintf(stderr, "vlm-linear-bench: out of memory\n");
        goto done;
    }
    unsigned seed = 1;
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 128.0f - 1.0f;
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)((seed = seed * 1103515245u + 12345u) >> 16 & 0xff) / 4096.0f - 0.03f;
    for (int64_t i = 0; i < s->n; i++)
        b[i] = 0.01f * (float)(i % 7);
    for (size_t i = 0; i < ny; i++)
        mul[i] = 1.0f;
    int copies = 1;
    if (cold) {
        double bytes = 4.0 * (double)nw, want = 96.0 * 1048576.0;
        copies = bytes >= want ? 1 : (int)(want / bytes) + 1;
        copies = copies > MAX_COPIES ? MAX_COPIES : copies;
    }
    for (int i = 0; i < N_IMPLS; i++)
        for (int c = 0; c < copies; c++)
            if (!(impl[i].g[c] =
                      build(eng, s, i, w, b, x, y, mul, impl[i].impl, sizeof impl[i].impl)))
                goto done;
    double t[N_IMPLS][MAX_REPS];
    vlm_error err = {0};
    for (int r = -2; r < reps; r++) /* two warm-up rounds */
        for (int i = 0; i < N_IMPLS; i++) {
            double t0 = now_ms();
            if (vg_run(impl[i].g[(r + 2) % copies], strm, NULL, &err) != VLM_OK) {
                fprintf(stderr, "vlm-linear-bench: %s: %s\n", IMPLS[i].name, err.msg);
                goto done;
            }
            if (r >= 0)
                t[i][r] = now_ms() - t0;
        }
    double gflop = 2e-9 * (double)s->m * (double)s->k * (double)s->n;
    printf("%-6s M=%-5lld K=%-5lld N=%-5lld", s->what, (long long)s->m, (long long)s->k,
           (long long)s->n);
    for (int i = 0; i < N_IMPLS; i++) {
        qsort(t[i], (size_t)reps, sizeof t[i][0], cmp_double);
        double med = t[i][reps / 2];
        printf("  %s %8.2f ms %5.1f GF/s", impl[i].impl, med, gflop / (med * 1e-3));
    }
    printf("\n");
    rc = 0;
done:
    for (int i = 0; i < N_IMPLS; i++)
        for (int c = 0; c < MAX_COPIES; c++)
            vg_destroy(impl[i].g[c]);
    free(x), free(w), free(b), free(y), free(mul);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: vlm-linear-bench [--threads T] [--reps R] [--cold] [--model NAME | --shape "
                    "M,K,N[,none|gelu|quickgelu|silu|mul]]...\nmodels:");
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++)
        fprintf(stderr, " %s", MODELS[i].model);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv) {
    shape todo[64];
    int n = 0, reps = 9, threads = 0;
    bool cold = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--threads") && v) {
            threads = atoi(v), i++;
        } else if (!strcmp(argv[i], "--cold")) {
            cold = true;
        } else if (!strcmp(argv[i], "--reps") && v) {
            reps = atoi(v), i++;
        } else if (!strcmp(argv[i], "--model") && v) {
            size_t j = 0;
            while (j < sizeof MODELS / sizeof MODELS[0] && strcmp(MODELS[j].model, v))
                j++;
            if (j == sizeof MODELS / sizeof MODELS[0]) {
                fprintf(stderr, "vlm-linear-bench: unknown model '%s'\n", v);
                return usage();
            }
            for (int s = 0; s < 6 && MODELS[j].s[s].m && n < 64; s++)
                todo[n++] = MODELS[j].s[s];
            i++;
        } else if (!strcmp(argv[i], "--shape") && v && n < 64) {
            long long m, k, nn;
            char act[16] = "none";
            if (sscanf(v, "%lld,%lld,%lld,%15s", &m, &k, &nn, act) < 3 || m < 1 || k < 1 ||
                nn < 1) {
                fprintf(stderr, "vlm-linear-bench: bad --shape '%s'\n", v);
                return usage();
            }
            shape s = {m, k, nn, VG_ACT_NONE, !strcmp(act, "mul"), "shape"};
            if (!strcmp(act, "gelu"))
                s.act = VG_ACT_GELU;
            else if (!strcmp(act, "quickgelu"))
                s.act = VG_ACT_QUICKGELU;
            else if (!strcmp(act, "silu"))
                s.act = VG_ACT_SILU;
            else if (strcmp(act, "none") && !s.mul) {
                fprintf(stderr, "vlm-linear-bench: unknown activation '%s'\n", act);
                return usage();
            }
            todo[n++] = s;
            i++;
        } else {
            return usage();
        }
    }
    if (reps < 1 || reps > MAX_REPS || threads < 0) {
        fprintf(stderr, "vlm-linear-bench: --reps is 1..%d, --threads at least 1\n", MAX_REPS);
        return 2;
    }
    if (!n)
        for (size_t j = 0; j < sizeof MODELS / sizeof MODELS[0]; j++)
            for (int s = 0; s < 6 && MODELS[j].s[s].m; s++)
                todo[n++] = MODELS[j].s[s];
    if (threads)
        omp_set_num_threads(threads);
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&strm, eng, dnnl_stream_default_flags) != dnnl_success) {
        fprintf(stderr, "vlm-linear-bench: cannot create the oneDNN CPU engine\n");
        return 1;
    }
    printf("threads %d, median of %d interleaved runs, weights %s\n", omp_get_max_threads(), reps,
           cold ? "out of cache (--cold)" : "cached from the previous run");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        rc = run_shape(eng, strm, &todo[i], reps, cold);
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return rc;
}
