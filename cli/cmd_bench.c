#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

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

static const char *latency_key(const char *kind) {
    return !strcmp(kind, "llm") ? "prefill_ms"
           : !strcmp(kind, "projector") ? "projector_ms"
                                         : "vision_ms";
}

static void print_part(const char *name, const vlm_measurement *m, double total) {
    printf("  %-13s %10.2f ms %6.1f%%  (95%% CI %.2f-%.2f, n=%d)%s%s\n", name, m->stats.median,
           100 * m->stats.median / total, m->stats.ci_lo, m->stats.ci_hi, m->stats.n,
           m->estimated ? " ESTIMATED" : "", m->stats.noisy ? " NOISY" : "");
}

/* Time-to-first-token: preprocessing + vision + projector + prefill of visual + text tokens,
 * each timed separately (the prefill layer-sampled when a whole one would be slow). */
static int bench_ttft(vlm_plan_params *vp, const vlm_runner_params *rp, const vlm_ctx_params *cp,
                      const vlm_model_info *lm, int text_tokens, int json) {
    vlm_error err = {0};
    vlm_ctx *ctx = NULL;
    vlm_measurement pre = {0}, vis = {0}, proj = {0}, pf = {0};
    int code = VLM_EXIT_OK;
    if (vlm_ctx_create(cp, &ctx, &err) != VLM_OK)
        return vlm_cli_fail("bench", &err);
    char proj_model[64];
    snprintf(proj_model, sizeof proj_model, "proj-%s", lm->name);
    bool has_proj = vlm_model_find(proj_model) != NULL;
    if (!json)
        fprintf(stderr, "vlmbench bench: TTFT of %s @ %dx%d + %s: timing each part...\n",
                vp->model, vp->height, vp->width, lm->name);
    if (vlm_measure_preprocess(vp->height, 1920, 1080, rp, &pre, &err) != VLM_OK ||
        vlm_measure(ctx, vp, rp, &vis, NULL, &err) != VLM_OK)
        goto fail;
    vlm_plan_params pp = vlm_plan_default_params(), lp = vlm_plan_default_params();
    pp.model = proj_model;
    /* the projector maps every feature row the encoder outputs (AnyRes: all tiles' rows; the
     * newline tokens are added after it), at the encoder's feature width */
    pp.tokens = vis.facts.out_rows;
    pp.in_features = vis.facts.feature_dim;
    pp.dtype = vp->dtype;
    if (has_proj && vlm_measure(ctx, &pp, rp, &proj, NULL, &err) != VLM_OK)
        goto fail;
    lp.model = lm->name;
    lp.tokens = vis.facts.tokens + text_tokens;
    lp.dtype = vp->dtype;
    vlm_plan_facts lf;
    if (vlm_plan_facts_of(&lp, &lf, &err) != VLM_OK)
        goto fail;
    /* a whole prefill predicted over ~5 s at 50 GFLOP/s per thread is layer-sampled */
    if (2.0 * lf.macs / (50e9 * vlm_ctx_threads(ctx)) > 5.0 && lf.layers_total > 5)
        lp.layers = vlm_sampled_layers(lf.layers_total);
    vlm_status st = vlm_measure(ctx, &lp, rp, &pf, NULL, &err);
    if (st == VLM_ERR_NOMEM && lp.layers == 0) {
        lp.layers = vlm_sampled_layers(lf.layers_total);
        st = vlm_measure(ctx, &lp, rp, &pf, NULL, &err);
    }
    if (st != VLM_OK)
        goto fail;
    double total = pre.stats.median + vis.stats.median + proj.stats.median + pf.stats.median;
    if (json) {
        json_t *j = json_pack("{s:s, s:i, s:i, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:f}",
                              "model", vp->model, "height", vp->height, "width", vp->width,
                              "llm", lm->name, "dtype", vlm_dtype_name(vp->dtype), "threads",
                              vlm_ctx_threads(ctx), "visual_tokens", vis.facts.tokens,
                              "prefill_tokens", lp.tokens, "preprocess_ms", vlm_measurement_to_json(&pre),
                              "vision_ms", vlm_measurement_to_json(&vis), "projector_ms",
                              has_proj ? vlm_measurement_to_json(&proj) : json_null(), "prefill_ms",
                              vlm_measurement_to_json(&pf), "ttft_ms", total);
        vlm_env env;
        vlm_env_collect(&env);
        json_object_set_new(j, "env", vlm_env_to_json(&env));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(j);
    } else {
        printf("time to first token: %s @ %dx%d (%d visual tokens) + %s prefill of %d tokens "
               "(%d text), %s, %d thread(s)\n",
               vp->model, vp->height, vp->width, vis.facts.tokens, lm->name, lp.tokens,
               text_tokens, vlm_dtype_name(vp->dtype), vlm_ctx_threads(ctx));
        print_part("preprocess", &pre, total);
        print_part("vision", &vis, total);
        if (has_proj)
            print_part("projector", &proj, total);
        print_part("prefill", &pf, total);
        printf("  %-13s %10.2f ms%s\n", "TTFT", total,
               pf.estimated ? " (prefill estimated from sampled layers)" : "");
    }
    goto out;
fail:
    code = vlm_cli_fail("bench", &err);
out:
    vlm_measurement_free(&pre);
    vlm_measurement_free(&vis);
    vlm_measurement_free(&proj);
    vlm_measurement_free(&pf);
    vlm_ctx_destroy(ctx);
    return code;
}

int vlm_cmd_bench(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"res", required_argument, NULL, 'r'},
        {"weights", required_argument, NULL, 'w'}, {"threads", required_argument, NULL, 't'},
        {"dtype", required_argument, NULL, 'd'},   {"seed", required_argument, NULL, 's'},
        {"profile", no_argument, NULL, 'p'},       {"json", no_argument, NULL, 'j'},
        {"warmup", required_argument, NULL, 'W'},  {"min-reps", required_argument, NULL, 'n'},
        {"min-time", required_argument, NULL, 'T'}, {"max-time", required_argument, NULL, 'X'},
        {"tokens", required_argument, NULL, 'k'},  {"layers", required_argument, NULL, 'L'},
        {"llm", required_argument, NULL, 'g'},     {"text-tokens", required_argument, NULL, 'x'},
        {0}};
    vlm_plan_params pp = vlm_plan_default_params();
    vlm_runner_params rp = vlm_runner_default_params();
    vlm_ctx_params cp = vlm_ctx_default_params();
    const char *res = NULL, *dtype = "f32", *llm = NULL;
    int do_profile = 0, json = 0, c, seed = 0, text_tokens = 24;
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
        case 'k': bad = vlm_cli_parse_int("bench", "--tokens", optarg, 1, 131072, &pp.tokens); break;
        case 'L': bad = vlm_cli_parse_int("bench", "--layers", optarg, 0, 1000, &pp.layers); break;
        case 'g': llm = optarg; break;
        case 'x': bad = vlm_cli_parse_int("bench", "--text-tokens", optarg, 0, 100000, &text_tokens); break;
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
    bool vision = !strcmp(mi->kind, "vision");
    pp.height = pp.width = vision ? mi->default_res : 0;
    if (res && !vision) {
        fprintf(stderr, "vlmbench bench: %s is a%s model: give --tokens, not --res\n", mi->name,
                strcmp(mi->kind, "llm") ? " projector" : "n LLM");
        return VLM_EXIT_USAGE;
    }
    if ((pp.tokens || pp.layers) && vision) {
        fprintf(stderr, "vlmbench bench: --tokens and --layers apply to LLMs and projectors\n");
        return VLM_EXIT_USAGE;
    }
    if (res && vlm_cli_parse_res("bench", res, &pp.height, &pp.width))
        return VLM_EXIT_USAGE;
    if (vlm_dtype_parse(dtype, &pp.dtype, &err) != VLM_OK)
        return vlm_cli_fail("bench", &err);
    if (llm) {
        const vlm_model_info *lm = vlm_model_find(llm);
        if (!vision || !lm || strcmp(lm->kind, "llm")) {
            fprintf(stderr, "vlmbench bench: --llm wants an LLM (see `vlmbench models`) after a "
                            "vision --model\n");
            return VLM_EXIT_USAGE;
        }
        return bench_ttft(&pp, &rp, &cp, lm, text_tokens, json);
    }

    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    float *input = NULL;
    int code = VLM_EXIT_OK;
    json_t *prof = NULL;
    vlm_measurement m = {0};
    if (vlm_ctx_create(&cp, &ctx, &err) != VLM_OK)
        return vlm_cli_fail("bench", &err);
    char what[128];
    if (vision)
        snprintf(what, sizeof what, "%s @ %dx%d", pp.model, pp.height, pp.width);
    else
        snprintf(what, sizeof what, "%s on %d tokens", pp.model,
                 pp.tokens ? pp.tokens : mi->default_res);
    if (!json)
        fprintf(stderr, "vlmbench bench: %s, %s, %d thread(s): building and timing...\n", what,
                vlm_dtype_name(pp.dtype), vlm_ctx_threads(ctx));
    if (vlm_measure(ctx, &pp, &rp, &m, do_profile ? &plan : NULL, &err) != VLM_OK) {
        code = vlm_cli_fail("bench", &err);
        goto out;
    }
    const vlm_plan_facts *f = &m.facts;
    const vlm_stats *st = &m.stats;
    double gflops = 2.0 * f->macs / (st->median * 1e6);
    char weights_desc[600];
    if (pp.weights)
        snprintf(weights_desc, sizeof weights_desc, "%s", pp.weights);
    else
        snprintf(weights_desc, sizeof weights_desc, "synthetic:%d", seed);
    if (!json) {
        printf("%s, %s, %d thread(s), weights %s\n", what, vlm_dtype_name(pp.dtype),
               vlm_ctx_threads(ctx), weights_desc);
        if (vision)
            printf("  params %.2f M, %.2f GMACs, %d tokens (%dx%d) x %d, activations %.1f MiB, "
                   "weights %.1f MiB, plan built in %.0f ms\n",
                   f->params / 1e6, f->macs / 1e9, f->tokens, f->grid_h, f->grid_w,
                   f->feature_dim, f->activation_bytes / 1048576.0, f->weight_bytes / 1048576.0,
                   m.build_ms);
        else
            printf("  params %.2f M, %.2f GMACs, %d layers%s, output [%d, %d], plan built in "
                   "%.0f ms\n",
                   f->params / 1e6, f->macs / 1e9, f->layers_total,
                   m.estimated ? " (layer-sampled)" : "", f->out_rows, f->feature_dim,
                   m.build_ms);
        printf("  latency%s: median %.2f ms (95%% CI %.2f-%.2f, p10 %.2f, p90 %.2f, MAD %.2f, "
               "min %.2f), n=%d%s; %.1f GFLOP/s\n",
               m.estimated ? " (ESTIMATED)" : "", st->median, st->ci_lo, st->ci_hi, st->p10,
               st->p90, st->mad, st->min, st->n, st->noisy ? ", NOISY" : "", gflops);
        if (m.estimated)
            printf("  estimated from 1-layer and %d-layer plans: %.2f ms per layer x %d layers "
                   "+ embedding and head\n",
                   m.sampled_layers, m.per_layer_ms, f->layers_total);
    }
    if (do_profile && plan) {
        input = vlm_bench_input(&pp, f);
        prof = input ? profile(ctx, plan, &pp, input, !json, &err) : NULL;
        if (!prof) {
            if (!input)
                vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
            code = vlm_cli_fail("bench", &err);
            goto out;
        }
    } else if (do_profile && !json) {
        puts("  (no per-layer profile for a layer-sampled estimate: profile with --layers 0)");
    }
    if (json) {
        vlm_env env;
        vlm_env_collect(&env);
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:f}",
            "model", pp.model, "kind", mi->kind, "dtype", vlm_dtype_name(pp.dtype), "threads",
            vlm_ctx_threads(ctx), "weights", weights_desc, "params", (json_int_t)f->params,
            "macs", (json_int_t)f->macs, "tokens", f->tokens, "out_rows", f->out_rows,
            "feature_dim", f->feature_dim, "nodes", f->nodes, "activation_bytes",
            (json_int_t)f->activation_bytes, "weight_bytes", (json_int_t)f->weight_bytes,
            "build_ms", m.build_ms, "gflops", gflops);
        if (vision) {
            json_object_set_new(j, "height", json_integer(pp.height));
            json_object_set_new(j, "width", json_integer(pp.width));
        } else if (f->layers_total) {
            json_object_set_new(j, "layers", json_integer(f->layers_total));
            if (m.estimated) {
                json_object_set_new(j, "sampled_layers", json_integer(m.sampled_layers));
                json_object_set_new(j, "per_layer_ms", json_real(m.per_layer_ms));
            }
        }
        json_object_set_new(j, latency_key(mi->kind), vlm_measurement_to_json(&m));
        json_object_set_new(j, "env", vlm_env_to_json(&env));
        if (prof)
            json_object_set(j, "profile", prof);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(j);
    }
out:
    json_decref(prof);
    free(input);
    vlm_measurement_free(&m);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    return code;
}
