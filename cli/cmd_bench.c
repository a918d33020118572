#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

typedef struct bench_run {
    vlm_plan *plan;
    const float *input;
} bench_run;

static vlm_status run_once(void *arg, vlm_error *err) {
    bench_run *r = arg;
    return vlm_plan_run(r->plan, r->input, NULL, NULL, err);
}

typedef struct agg {
    const char *name;
    double ms;
    int64_t macs;
} agg;

static void add_agg(agg *a, int *n, const char *name, double ms, int64_t macs) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(a[i].name, name)) {
            a[i].ms += ms;
            a[i].macs += macs;
            return;
        }
    a[(*n)++] = (agg){name, ms, macs};
}

static json_t *agg_table(const agg *a, int n, double total_ms, double peak, bool print,
                         const char *title) {
    json_t *arr = json_array();
    if (print)
        printf("\n  %-12s %10s %7s %9s %9s %8s\n", title, "ms", "time%", "GMACs", "GFLOP/s",
               "%peak");
    for (int i = 0; i < n; i++) {
        double gf = a[i].ms > 0 ? 2.0 * a[i].macs / (a[i].ms * 1e6) : 0;
        if (print)
            printf("  %-12s %10.2f %6.1f%% %9.3f %9.1f %7.1f%%\n", a[i].name, a[i].ms,
                   100 * a[i].ms / total_ms, a[i].macs / 1e9, gf, peak > 0 ? 100 * gf / peak : 0);
        json_array_append_new(arr, json_pack("{s:s, s:f, s:I, s:f, s:f}", "name", a[i].name, "ms",
                                             a[i].ms, "macs", (json_int_t)a[i].macs, "gflops", gf,
                                             "peak_fraction", peak > 0 ? gf / peak : 0.0));
    }
    return arr;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-layer profile: each primitive timed alone, median of 3 runs per primitive; aggregated by
 * layer kind and by stage, against the measured matmul peak. */
static json_t *profile(vlm_ctx *ctx, vlm_plan *plan, const vlm_plan_params *pp,
                       const float *input, bool print, vlm_error *err) {
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    enum { RUNS = 3 };
    vlm_profile_entry *e[RUNS];
    double peak = 0;
    json_t *out = NULL;
    for (int r = 0; r < RUNS; r++)
        e[r] = calloc((size_t)f.nodes, sizeof **e);
    for (int r = 0; r < RUNS; r++)
        if (!e[r] || vlm_plan_profile(plan, input, e[r], err) != VLM_OK)
            goto done;
    if (vlm_measure_matmul_gflops(ctx, 1024, pp->dtype, 5, &peak, err) != VLM_OK)
        goto done;
    agg kinds[16], stages[16];
    int nk = 0, ns = 0;
    double total = 0;
    for (int i = 0; i < f.nodes; i++) {
        double t[RUNS];
        for (int r = 0; r < RUNS; r++)
            t[r] = e[r][i].ms;
        qsort(t, RUNS, sizeof *t, cmp_d);
        total += t[RUNS / 2];
        add_agg(kinds, &nk, e[0][i].kind, t[RUNS / 2], e[0][i].macs);
        add_agg(stages, &ns, vlm_plan_stage_name(plan, e[0][i].stage), t[RUNS / 2],
                e[0][i].macs);
    }
    if (print)
        printf("\nprofile (each primitive timed alone, median of %d runs; sum %.2f ms)\n"
               "peak: %.1f GFLOP/s (%s 1024^3 oneDNN matmul, packed weights, %d threads)\n",
               RUNS, total, peak, vlm_dtype_name(pp->dtype), vlm_ctx_threads(ctx));
    json_t *bk = agg_table(kinds, nk, total, peak, print, "layer kind");
    json_t *bs = agg_table(stages, ns, total, peak, print, "stage");
    double gf = 2.0 * f.macs / (total * 1e6);
    if (print)
        printf("\n  whole model: %.1f GFLOP/s = %.1f%% of the matmul peak\n", gf, 100 * gf / peak);
    out = json_pack("{s:f, s:f, s:f, s:o, s:o}", "peak_gflops", peak, "sum_ms", total,
                    "gflops", gf, "by_kind", bk, "by_stage", bs);
done:
    for (int r = 0; r < RUNS; r++)
        free(e[r]);
    return out;
}

int vlm_cli_parse_res(const char *cmd, const char *text, int *h, int *w) {
    char x;
    if (sscanf(text, "%dx%d%c", h, w, &x) == 2 && *h > 0 && *w > 0)
        return 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (end != text && !*end && v > 0 && v <= 65536) {
        *h = *w = (int)v;
        return 0;
    }
    fprintf(stderr, "vlmbench %s: --res wants R or HxW in pixels, got '%s'\n", cmd, text);
    return -1;
}

int vlm_cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"res", required_argument, NULL, 'r'},
        {"weights", required_argument, NULL, 'w'}, {"threads", required_argument, NULL, 't'},
        {"dtype", required_argument, NULL, 'd'},   {"seed", required_argument, NULL, 's'},
        {"profile", no_argument, NULL, 'p'},       {"json", no_argument, NULL, 'j'},
        {"warmup", required_argument, NULL, 'W'},  {"min-reps", required_argument, NULL, 'n'},
        {"min-time", required_argument, NULL, 'T'}, {"max-time", required_argument, NULL, 'X'},
        {0}};
    vlm_plan_params pp = vlm_plan_default_params();
    vlm_runner_params rp = vlm_runner_default_params();
    vlm_ctx_params cp = vlm_ctx_default_params();
    const char *res = NULL, *dtype = "f32";
    int do_profile = 0, json = 0, c, seed = 0;
    vlm_error err = {0};
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': pp.model = optarg; break;
        case 'r': res = optarg; break;
        case 'w': pp.weights = optarg; break;
        case 't': bad = vlm_cli_parse_int("bench", "--threads", optarg, 1, 1024, &cp.threads); break;
        case 'd': dtype = optarg; break;
        case 's': bad = vlm_cli_parse_int("bench", "--seed", optarg, 0, 2147483647, &seed); break;
        case 'p': do_profile = 1; break;
        case 'j': json = 1; break;
        case 'W': bad = vlm_cli_parse_int("bench", "--warmup", optarg, 0, 1000, &rp.warmup); break;
        case 'n': bad = vlm_cli_parse_int("bench", "--min-reps", optarg, 1, 100000, &rp.min_reps); break;
        case 'T': bad = vlm_cli_parse_double("bench", "--min-time", optarg, 0, 86400, &rp.min_time_s); break;
        case 'X': bad = vlm_cli_parse_double("bench", "--max-time", optarg, 0, 86400, &rp.max_time_s); break;
        default: return vlm_cli_bad_option("bench", argv[optind - 1]);
        }
        if (bad)
            return VLM_EXIT_USAGE;
    }
    if (optind < argc)
        return vlm_cli_bad_option("bench", argv[optind]);
    if (rp.max_time_s < rp.min_time_s)
        rp.max_time_s = rp.min_time_s;
    pp.seed = (uint64_t)seed;
    const vlm_model_info *mi = vlm_model_find(pp.model);
    if (!mi) {
        vlm_error_set(&err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                      pp.model);
        return vlm_cli_fail("bench", &err);
    }
    pp.height = pp.width = mi->default_res;
    if (res && vlm_cli_parse_res("bench", res, &pp.height, &pp.width))
        return VLM_EXIT_USAGE;
    if (vlm_dtype_parse(dtype, &pp.dtype, &err) != VLM_OK)
        return vlm_cli_fail("bench", &err);

    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    float *input = NULL;
    double *samples = NULL;
    int n = 0, code = VLM_EXIT_OK;
    json_t *prof = NULL;
    if (vlm_ctx_create(&cp, &ctx, &err) != VLM_OK)
        return vlm_cli_fail("bench", &err);
    double t0 = vlm_now_s();
    if (vlm_plan_create(ctx, &pp, &plan, &err) != VLM_OK) {
        code = vlm_cli_fail("bench", &err);
        goto out;
    }
    double build_ms = (vlm_now_s() - t0) * 1e3;
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    size_t npx = 3 * (size_t)pp.height * (size_t)pp.width;
    input = malloc(npx * sizeof *input);
    if (!input) {
        vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory for a %dx%d input", pp.height,
                      pp.width);
        code = vlm_cli_fail("bench", &err);
        goto out;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull ^ pp.seed; /* a seeded image in [0, 1) */
    for (size_t i = 0; i < npx; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        input[i] = (float)(s >> 40) / 16777216.0f;
    }
    bench_run br = {plan, input};
    if (!json)
        fprintf(stderr, "vlmbench bench: %s %dx%d %s, %d thread(s): timing...\n", pp.model,
                pp.height, pp.width, vlm_dtype_name(pp.dtype), vlm_ctx_threads(ctx));
    if (vlm_runner_run(&rp, run_once, &br, &samples, &n, &err) != VLM_OK) {
        code = vlm_cli_fail("bench", &err);
        goto out;
    }
    vlm_stats st;
    vlm_stats_compute(samples, n, &st);
    double gflops = 2.0 * f.macs / (st.median * 1e6);
    char weights_desc[600];
    if (pp.weights)
        snprintf(weights_desc, sizeof weights_desc, "%s", pp.weights);
    else
        snprintf(weights_desc, sizeof weights_desc, "synthetic:%d", seed);
    if (!json) {
        printf("%s @ %dx%d, %s, %d thread(s), weights %s\n", pp.model, pp.height, pp.width,
               vlm_dtype_name(pp.dtype), vlm_ctx_threads(ctx), weights_desc);
        printf("  params %.2f M, %.2f GMACs, %d tokens (%dx%d) x %d, activations %.1f MiB, "
               "weights %.1f MiB, plan built in %.0f ms\n",
               f.params / 1e6, f.macs / 1e9, f.tokens, f.grid_h, f.grid_w, f.feature_dim,
               f.activation_bytes / 1048576.0, f.weight_bytes / 1048576.0, build_ms);
        printf("  latency: median %.2f ms (p10 %.2f, p90 %.2f, MAD %.2f, min %.2f), n=%d; "
               "%.1f GFLOP/s\n",
               st.median, st.p10, st.p90, st.mad, st.min, n, gflops);
    }
    if (do_profile) {
        prof = profile(ctx, plan, &pp, input, !json, &err);
        if (!prof) {
            code = vlm_cli_fail("bench", &err);
            goto out;
        }
    }
    if (json) {
        vlm_env env;
        vlm_env_collect(&env);
        json_t *samp = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(samp, json_real(samples[i]));
        json_t *lat = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:o}", "median", st.median,
                                "p10", st.p10, "p90", st.p90, "mad", st.mad, "min", st.min, "max",
                                st.max, "n", n, "samples", samp);
        json_t *j = json_pack(
            "{s:s, s:i, s:i, s:s, s:i, s:s, s:I, s:I, s:i, s:i, s:i, s:I, s:I, s:f, s:o, s:f, "
            "s:o}",
            "model", pp.model, "height", pp.height, "width", pp.width, "dtype",
            vlm_dtype_name(pp.dtype), "threads", vlm_ctx_threads(ctx), "weights", weights_desc,
            "params", (json_int_t)f.params, "macs", (json_int_t)f.macs, "tokens", f.tokens,
            "feature_dim", f.feature_dim, "nodes", f.nodes, "activation_bytes",
            (json_int_t)f.activation_bytes, "weight_bytes", (json_int_t)f.weight_bytes,
            "build_ms", build_ms, "vision_ms", lat, "gflops", gflops, "env",
            vlm_env_to_json(&env));
        if (prof)
            json_object_set(j, "profile", prof);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(j);
    }
out:
    json_decref(prof);
    free(samples);
    free(input);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    return code;
}
