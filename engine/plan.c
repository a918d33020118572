#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/graph.h"
#include "engine/models/models.h"

struct vlm_ctx {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int threads;
};

const char *vlm_dtype_name(vlm_dtype dtype) { return dtype == VLM_BF16 ? "bf16" : "f32"; }

vlm_status vlm_dtype_parse(const char *text, vlm_dtype *out, vlm_error *err) {
    if (text && !strcmp(text, "f32")) {
        *out = VLM_F32;
        return VLM_OK;
    }
    if (text && !strcmp(text, "bf16")) {
        *out = VLM_BF16;
        return VLM_OK;
    }
    return vlm_error_set(err, VLM_ERR_INVALID, "unknown data type '%s' (expected f32 or bf16)",
                         text ? text : "");
}

int vlm_cpu_has_bf16(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}

vlm_ctx_params vlm_ctx_default_params(void) { return (vlm_ctx_params){0}; }

vlm_status vlm_ctx_create(const vlm_ctx_params *params, vlm_ctx **out, vlm_error *err) {
    *out = NULL;
    if (params->threads < 0 || params->threads > 1024)
        return vlm_error_set(err, VLM_ERR_INVALID, "thread count %d is out of range (1..1024)",
                             params->threads);
    vlm_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    if (params->threads > 0)
        omp_set_num_threads(params->threads);
    c->threads = omp_get_max_threads();
    if (dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success) {
        vlm_ctx_destroy(c);
        return vlm_error_set(err, VLM_ERR_INTERNAL, "oneDNN could not create a CPU engine");
    }
    *out = c;
    return VLM_OK;
}

void vlm_ctx_destroy(vlm_ctx *c) {
    if (!c)
        return;
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    if (c->engine)
        dnnl_engine_destroy(c->engine);
    free(c);
}

int vlm_ctx_threads(const vlm_ctx *c) { return c->threads; }

/* ---- registry --------------------------------------------------------------------------- */

int vlm_model_count(void) { return vlm_fastvit_model_count; }

const vlm_model_info *vlm_model_at(int i) {
    return i >= 0 && i < vlm_fastvit_model_count ? &vlm_fastvit_models[i].info : NULL;
}

static const model_def *find_def(const char *name) {
    for (int i = 0; i < vlm_fastvit_model_count; i++)
        if (name && !strcmp(vlm_fastvit_models[i].info.name, name))
            return &vlm_fastvit_models[i];
    return NULL;
}

const vlm_model_info *vlm_model_find(const char *name) {
    const model_def *d = find_def(name);
    return d ? &d->info : NULL;
}

/* ---- plans ------------------------------------------------------------------------------ */

struct vlm_plan {
    vlm_ctx *ctx; /* borrowed */
    const model_def *def;
    vg_graph *g;
    vg_tensor input, tokens_out, pooled_out;
    vlm_plan_facts facts;
    int64_t *times; /* owned: per-node times of the last profile */
    float *sink;    /* owned: where outputs go when the caller does not want them */
};

vlm_plan_params vlm_plan_default_params(void) {
    return (vlm_plan_params){"fastvithd", 1024, 1024, VLM_F32, NULL, 0, 0};
}

static vlm_status check_size(const model_def *d, int h, int w, vlm_error *err) {
    const int max_res = 16384;
    if (h < d->info.min_res || w < d->info.min_res || h > max_res || w > max_res)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "%s cannot take a %dx%d input: each side must be between %d and %d "
                             "pixels (it down-samples by %d)",
                             d->info.name, h, w, d->info.min_res, max_res, d->info.stride);
    return VLM_OK;
}

/* Builds the whole graph (dry when engine is NULL). */
static vlm_status build(const model_def *d, dnnl_engine_t engine, const vlm_plan_params *p,
                        const vlm_weights *ckpt, vlm_plan *plan, vlm_error *err) {
    dnnl_data_type_t dt = p->dtype == VLM_BF16 ? dnnl_bf16 : dnnl_f32;
    vg_graph *g = vg_create(engine, dt);
    if (!g)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory creating a graph");
    plan->g = g;
    mb b = {.g = g, .ckpt = ckpt, .seed = p->seed, .facts_only = engine == NULL, .prefix = ""};
    if (ckpt) {
        vlm_status st = d->detect(&b, d->cfg, err);
        if (st != VLM_OK)
            return st;
    }
    /* input: NCHW float32 from the caller, reordered once into NHWC of the plan's dtype */
    int64_t dims[4] = {1, 3, p->height, p->width};
    vg_tensor in = vg_new(g, 4, dims, dnnl_f32);
    vg_tensor in_nchw = vg_view(g, in, 4, dims,
                                (int64_t[]){3LL * p->height * p->width,
                                            (int64_t)p->height * p->width, p->width, 1},
                                0);
    vg_mark_external(g, in);
    vg_tensor x = vg_reorder(g, in_nchw, vg_new(g, 4, dims, 0));
    mb_outputs o = d->build(&b, d->cfg, x, p->pooled);
    mb_tmp_reset(&b);
    free(b.tmp);
    /* outputs: tokens [h*w, C] and pooled [embed] as float32 in the caller's buffers */
    vg_set_stage(g, 0);
    vg_tensor t2 = vg_view2d(g, o.tokens);
    vlm_plan_facts *f = &plan->facts;
    if (vg_status(g, err) != VLM_OK)
        return err->status;
    const int64_t *td = vg_dims(g, o.tokens);
    f->grid_h = (int)td[2];
    f->grid_w = (int)td[3];
    f->tokens = f->grid_h * f->grid_w;
    f->feature_dim = (int)td[1];
    f->macs = vg_total_macs(g); /* encoder (and head when pooled), before output copies */
    f->params = b.params;
    f->params_no_head = b.params - b.params_head;
    plan->tokens_out = vg_new(g, 2, (int64_t[]){f->tokens, f->feature_dim}, dnnl_f32);
    vg_mark_external(g, plan->tokens_out);
    vg_reorder(g, t2, plan->tokens_out);
    plan->pooled_out = VG_NONE;
    if (o.pooled != VG_NONE) {
        f->embed_dim = (int)vg_dims(g, o.pooled)[1];
        plan->pooled_out = vg_new(g, 2, (int64_t[]){1, f->embed_dim}, dnnl_f32);
        vg_mark_external(g, plan->pooled_out);
        vg_reorder(g, o.pooled, plan->pooled_out);
    }
    plan->input = in;
    return vg_status(g, err);
}

vlm_status vlm_model_facts(const char *model, int height, int width, vlm_plan_facts *out,
                           vlm_error *err) {
    memset(out, 0, sizeof *out);
    const model_def *d = find_def(model);
    if (!d)
        return vlm_error_set(err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                             model ? model : "");
    vlm_status st = check_size(d, height, width, err);
    if (st != VLM_OK)
        return st;
    vlm_plan plan = {0};
    vlm_plan_params p = vlm_plan_default_params();
    p.model = model;
    p.height = height;
    p.width = width;
    p.pooled = 1; /* count the head's parameters; MACs below exclude it */
    st = build(d, NULL, &p, NULL, &plan, err);
    if (st == VLM_OK) {
        *out = plan.facts;
        /* the encoder's MACs: without the CLIP head's projection */
        out->macs -= (int64_t)out->feature_dim * out->embed_dim;
        out->nodes = vg_node_count(plan.g);
        vlm_error e2 = {0};
        if (vg_finalize(plan.g, &e2) == VLM_OK)
            out->activation_bytes = vg_arena_bytes(plan.g);
    }
    vg_destroy(plan.g);
    return st;
}

static size_t available_bytes(void) {
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)-1;
}

vlm_status vlm_plan_create(vlm_ctx *ctx, const vlm_plan_params *p, vlm_plan **out,
                           vlm_error *err) {
    *out = NULL;
    const model_def *d = find_def(p->model);
    if (!d)
        return vlm_error_set(err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                             p->model ? p->model : "");
    vlm_status st = check_size(d, p->height, p->width, err);
    if (st != VLM_OK)
        return st;
    if (p->dtype == VLM_BF16 && !vlm_cpu_has_bf16()) {
        vlm_backend_info bi;
        vlm_backend_info_get(&bi);
        return vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                             "bf16 needs a CPU with avx512_bf16 (or AMX) but oneDNN dispatches "
                             "%s on this one: use f32",
                             bi.isa);
    }
    /* Refuse before allocating when the activations alone cannot fit. */
    vlm_plan_facts facts;
    st = vlm_model_facts(p->model, p->height, p->width, &facts, err);
    if (st != VLM_OK)
        return st;
    size_t elem = p->dtype == VLM_BF16 ? 2 : 4;
    size_t need = facts.activation_bytes / 4 * elem + (size_t)facts.params * elem * 2;
    size_t avail = available_bytes();
    if (need > avail)
        return vlm_error_set(err, VLM_ERR_NOMEM,
                             "%s at %dx%d needs about %.1f GiB (activations %.1f GiB + weights) "
                             "but %.1f GiB is available: use a smaller resolution or bf16",
                             p->model, p->height, p->width, need / 1073741824.0,
                             facts.activation_bytes / 4 * elem / 1073741824.0,
                             avail / 1073741824.0);

    vlm_weights *ckpt = NULL;
    if (p->weights) {
        st = vlm_weights_open(p->weights, &ckpt, err);
        if (st != VLM_OK)
            return st;
    }
    vlm_plan *plan = calloc(1, sizeof *plan);
    if (!plan) {
        vlm_weights_close(ckpt);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    plan->ctx = ctx;
    plan->def = d;
    st = build(d, ctx->engine, p, ckpt, plan, err);
    vlm_weights_close(ckpt); /* every weight is packed into primitives' memory by now */
    if (st == VLM_OK)
        st = vg_finalize(plan->g, err);
    if (st != VLM_OK) {
        vlm_plan_destroy(plan);
        return st;
    }
    plan->facts.macs = facts.macs;
    plan->facts.activation_bytes = vg_arena_bytes(plan->g);
    plan->facts.weight_bytes = vg_weight_bytes(plan->g);
    plan->facts.scratch_bytes = vg_scratch_bytes(plan->g);
    plan->facts.nodes = vg_node_count(plan->g);
    plan->times = calloc((size_t)plan->facts.nodes, sizeof *plan->times);
    plan->sink = malloc(((size_t)plan->facts.tokens * (size_t)plan->facts.feature_dim +
                         (size_t)plan->facts.embed_dim) *
                        sizeof *plan->sink);
    if (!plan->times || !plan->sink) {
        vlm_plan_destroy(plan);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    *out = plan;
    return VLM_OK;
}

void vlm_plan_destroy(vlm_plan *plan) {
    if (!plan)
        return;
    vg_destroy(plan->g);
    free(plan->times);
    free(plan->sink);
    free(plan);
}

void vlm_plan_get_facts(const vlm_plan *plan, vlm_plan_facts *out) { *out = plan->facts; }

static vlm_status run(vlm_plan *plan, const float *input, float *tokens, float *pooled,
                      int64_t *times, vlm_error *err) {
    if (!input)
        return vlm_error_set(err, VLM_ERR_INVALID, "no input given");
    if (pooled && plan->pooled_out == VG_NONE)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "the pooled embedding was not planned (set params.pooled)");
    vg_bind(plan->g, plan->input, (void *)input);
    /* outputs are always written; callers that do not want them get the plan's sink */
    float *sink = plan->sink;
    vg_bind(plan->g, plan->tokens_out, tokens ? tokens : sink);
    if (plan->pooled_out != VG_NONE)
        vg_bind(plan->g, plan->pooled_out,
                pooled ? pooled
                       : sink + (size_t)plan->facts.tokens * (size_t)plan->facts.feature_dim);
    return vg_run(plan->g, plan->ctx->stream, times, err);
}

vlm_status vlm_plan_run(vlm_plan *plan, const float *input, float *tokens, float *pooled,
                        vlm_error *err) {
    return run(plan, input, tokens, pooled, NULL, err);
}

vlm_status vlm_plan_profile(vlm_plan *plan, const float *input, vlm_profile_entry *entries,
                            vlm_error *err) {
    vlm_status st = run(plan, input, NULL, NULL, plan->times, err);
    if (st != VLM_OK)
        return st;
    for (int i = 0; i < plan->facts.nodes; i++) {
        vg_node_info n = vg_node_get(plan->g, i);
        entries[i] = (vlm_profile_entry){vg_kind_name(n.kind), n.stage, n.macs,
                                         plan->times[i] / 1e6, n.impl};
    }
    return VLM_OK;
}

const char *vlm_plan_stage_name(const vlm_plan *plan, int stage) {
    return plan->def->stage_name(plan->def->cfg, stage);
}

vlm_status vlm_measure_matmul_gflops(vlm_ctx *ctx, int n, vlm_dtype dtype, int reps,
                                     double *gflops, vlm_error *err) {
    *gflops = 0;
    if (n < 16 || n > 8192 || reps < 1)
        return vlm_error_set(err, VLM_ERR_INVALID, "matmul size %d or reps %d out of range", n,
                             reps);
    if (dtype == VLM_BF16 && !vlm_cpu_has_bf16())
        return vlm_error_set(err, VLM_ERR_UNSUPPORTED, "bf16 needs a CPU with avx512_bf16");
    float *w = malloc((size_t)n * n * sizeof *w);
    vg_graph *g = vg_create(ctx->engine, dtype == VLM_BF16 ? dnnl_bf16 : dnnl_f32);
    if (!w || !g) {
        free(w);
        vg_destroy(g);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        w[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    vg_tensor a = vg_new(g, 2, (int64_t[]){n, n}, 0);
    vg_linear(g, a, VG_NONE, n, w, NULL, VG_ACT_NONE, false);
    free(w);
    vlm_status st = vg_finalize(g, err);
    double best = 1e30;
    for (int r = 0; st == VLM_OK && r < reps + 1; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = vg_run(g, ctx->stream, NULL, err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (r > 0 && s < best) /* the first run is a warm-up */
            best = s;
    }
    vg_destroy(g);
    if (st == VLM_OK)
        *gflops = 2.0 * n * (double)n * n / best / 1e9;
    return st;
}
