#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

float *vlm_bench_input(const vlm_plan_params *p, const vlm_plan_facts *f) {
    size_t n = (size_t)f->input_count;
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x)
        return NULL;
    const vlm_model_info *mi = vlm_model_find(p->model);
    bool vision = mi && !strcmp(mi->kind, "vision");
    bool text = mi && !strcmp(mi->kind, "text");
    uint64_t s = 0x9e3779b97f4a7c15ull ^ p->seed;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
        if (text) /* a prompt: start, ids below the specials, end at the last position */
            x[i] = i == 0 ? 49406.0f : i + 1 == n ? 49407.0f : (float)(int64_t)(u * 49000);
        else if (p->input_ids)
            x[i] = (float)(int64_t)(u * mi->feature_dim);
        else
            x[i] = vision ? (float)u : (float)(2.0 * u - 1.0);
    }
    return x;
}

typedef struct timed {
    vlm_plan *plan;
    const float *input;
} timed;

static vlm_status run_once(void *arg, vlm_error *err) {
    timed *t = arg;
    return vlm_plan_run(t->plan, t->input, NULL, NULL, err);
}

/* Builds p's plan and times it; keeps the plan in *plan_out. */
static vlm_status time_plan(vlm_ctx *ctx, const vlm_plan_params *p, const vlm_runner_params *rp,
                            vlm_plan **plan_out, double *build_ms, double **samples, int *n,
                            vlm_error *err) {
    double t0 = vlm_now_s();
    vlm_status st = vlm_plan_create(ctx, p, plan_out, err);
    if (st != VLM_OK)
        return st;
    *build_ms += (vlm_now_s() - t0) * 1e3;
    vlm_plan_facts f;
    vlm_plan_get_facts(*plan_out, &f);
    float *input = vlm_bench_input(p, &f);
    if (!input)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory for the input");
    timed t = {*plan_out, input};
    st = vlm_runner_run(rp, run_once, &t, samples, n, err);
    free(input);
    return st;
}

vlm_status vlm_measure(vlm_ctx *ctx, const vlm_plan_params *p, const vlm_runner_params *rp,
                       vlm_measurement *out, vlm_plan **keep, vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (keep)
        *keep = NULL;
    vlm_status st = vlm_plan_facts_of(p, &out->facts, err);
    if (st != VLM_OK)
        return st;
    int L = out->facts.layers_total, K = p->layers;
    vlm_plan *plan = NULL;
    if (L == 0 || K == 0 || K >= L) {
        st = time_plan(ctx, p, rp, &plan, &out->build_ms, &out->samples_ms, &out->n, err);
        if (st == VLM_OK) {
            vlm_plan_get_facts(plan, &out->facts);
            vlm_stats_compute(out->samples_ms, out->n, &out->stats);
        }
        if (st == VLM_OK && keep)
            *keep = plan;
        else
            vlm_plan_destroy(plan);
        return st;
    }
    if (K < 2)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "layer sampling needs at least 2 layers (a 1-layer and a K-layer "
                             "plan are extrapolated to all %d)",
                             L);
    /* layer-sampled: t(L) = t(1) + (L - 1) * (t(K) - t(1)) / (K - 1) */
    vlm_plan_params one = *p;
    one.layers = 1;
    double *s1 = NULL, *sk = NULL;
    int n1 = 0, nk = 0;
    st = time_plan(ctx, &one, rp, &plan, &out->build_ms, &s1, &n1, err);
    vlm_plan_destroy(plan); /* free its memory before the larger plan */
    plan = NULL;
    if (st == VLM_OK)
        st = time_plan(ctx, p, rp, &plan, &out->build_ms, &sk, &nk, err);
    vlm_plan_destroy(plan);
    if (st == VLM_OK) {
        vlm_stats a, b;
        vlm_stats_compute(s1, n1, &a);
        vlm_stats_compute(sk, nk, &b);
        double scale = (double)(L - 1) / (K - 1);
        for (int i = 0; i < nk; i++)
            sk[i] = a.median + scale * (sk[i] - a.median);
        out->samples_ms = sk;
        out->n = nk;
        sk = NULL;
        out->estimated = true;
        out->sampled_layers = K;
        out->per_layer_ms = (b.median - a.median) / (K - 1);
        vlm_stats_compute(out->samples_ms, out->n, &out->stats);
    }
    free(s1);
    free(sk);
    return st;
}

void vlm_measurement_free(vlm_measurement *m) {
    if (!m)
        return;
    free(m->samples_ms);
    memset(m, 0, sizeof *m);
}

json_t *vlm_measurement_to_json(const vlm_measurement *m) {
    json_t *samp = json_array();
    for (int i = 0; i < m->n; i++)
        json_array_append_new(samp, json_real(m->samples_ms[i]));
    const vlm_stats *st = &m->stats;
    json_t *j = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:b, s:b}", "median",
                          st->median, "p10", st->p10, "p90", st->p90, "mad", st->mad, "ci_lo",
                          st->ci_lo, "ci_hi", st->ci_hi, "min", st->min, "max", st->max, "n",
                          st->n, "noisy", st->noisy, "estimated", m->estimated);
    if (!j) {
        json_decref(samp);
        return NULL;
    }
    if (m->estimated) {
        json_object_set_new(j, "sampled_layers", json_integer(m->sampled_layers));
        json_object_set_new(j, "per_layer_ms", json_real(m->per_layer_ms));
    }
    json_object_set_new(j, "samples", samp);
    return j;
}

int vlm_sampled_layers(int total_layers) {
    int k = total_layers / 3;
    return k < 4 ? 4 : k;
}
