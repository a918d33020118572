#include <immintrin.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
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
    /* Flush denormals to zero (FTZ) and read them as zero (DAZ) on every thread that runs
     * primitives. Deep residual stacks of real weights produce tiny activations, and x86 takes
     * a microcode assist on each denormal operand; values below 1.2e-38 change no result that
     * matters. libgomp keeps its worker threads, so the setting persists. */
#pragma omp parallel
    _mm_setcsr(_mm_getcsr() | 0x8040);
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

/* Every model family's table, in the order `vlmbench models` lists them. */
static const struct {
    const model_def *defs;
    const int *count;
} families[] = {
    {vlm_fastvit_models, &vlm_fastvit_model_count},
    {vlm_vit_models, &vlm_vit_model_count},
    {vlm_convnext_models, &vlm_convnext_model_count},
    {vlm_llm_models, &vlm_llm_model_count},
};

int vlm_model_count(void) {
    int n = 0;
    for (size_t f = 0; f < sizeof families / sizeof *families; f++)
        n += *families[f].count;
    return n;
}

static const model_def *def_at(int i) {
    for (size_t f = 0; f < sizeof families / sizeof *families && i >= 0; f++) {
        if (i < *families[f].count)
            return &families[f].defs[i];
        i -= *families[f].count;
    }
    return NULL;
}

const vlm_model_info *vlm_model_at(int i) {
    const model_def *d = def_at(i);
    return d ? &d->info : NULL;
}

static const model_def *find_def(const char *name) {
    for (int i = 0; i < vlm_model_count(); i++)
        if (name && !strcmp(def_at(i)->info.name, name))
            return def_at(i);
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
    int input_ids;  /* llm input is token ids: validated before each run */
    int64_t vocab;  /* ids must be below this */
};

vlm_plan_params vlm_plan_default_params(void) {
    return (vlm_plan_params){.model = "fastvithd", .height = 1024, .width = 1024,
                             .dtype = VLM_F32};
}

/* Builds the whole graph (dry when engine is NULL). */
/* ---- checkpoints: one safetensors file, or an HF shard index ---------------------------- */

typedef struct ckpt_set {
    vlm_weights **shards;
    int n;
} ckpt_set;

static void ckpt_close(ckpt_set *c) {
    for (int i = 0; i < c->n; i++)
        vlm_weights_close(c->shards[i]);
    free(c->shards);
    *c = (ckpt_set){0};
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Opens path: a .safetensors file, or a model.safetensors.index.json whose "weight_map" maps
 * tensor names to shard files (relative to the index). Every shard is opened and validated, and
 * every tensor the index names must be in the shard it names. */
static vlm_status ckpt_open(const char *path, ckpt_set *c, vlm_error *err) {
    *c = (ckpt_set){0};
    if (!ends_with(path, ".json")) {
        c->shards = calloc(1, sizeof *c->shards);
        if (!c->shards)
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        vlm_status st = vlm_weights_open(path, &c->shards[0], err);
        c->n = st == VLM_OK;
        if (st != VLM_OK)
            ckpt_close(c);
        return st;
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return vlm_error_set(err, je.line < 0 ? VLM_ERR_IO : VLM_ERR_FORMAT,
                             "%s: cannot read the shard index: %s (line %d)", path, je.text,
                             je.line);
    json_t *map = json_object_get(root, "weight_map");
    vlm_status st = VLM_OK;
    if (!json_is_object(map) || json_object_size(map) == 0) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: shard index has no \"weight_map\" object of tensor names to "
                           "shard files",
                           path);
        goto out;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    const char **names = calloc(json_object_size(map), sizeof *names);
    c->shards = calloc(json_object_size(map), sizeof *c->shards);
    if (!names || !c->shards) {
        free(names);
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(map, key, val) {
        const char *file = json_string_value(val);
        if (!file || strchr(file, '/')) {
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: weight_map entry '%s' must name a shard file in the same "
                               "folder",
                               path, key);
            break;
        }
        int k = 0;
        while (k < c->n && strcmp(names[k], file))
            k++;
        if (k == c->n) {
            char full[8192];
            snprintf(full, sizeof full, "%s%s", dir, file);
            st = vlm_weights_open(full, &c->shards[c->n], err);
            if (st != VLM_OK) {
                char inner[sizeof err->msg];
                snprintf(inner, sizeof inner, "%s", err->msg);
                vlm_error_set(err, st, "%s: shard '%s' of the index: %s", path, file, inner);
                break;
            }
            names[c->n++] = file;
        }
        if (!vlm_weights_find(c->shards[k], key)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: the index puts tensor '%s' in shard '%s', which does not "
                               "hold it",
                               path, key, file);
            break;
        }
    }
    free(names);
out:
    json_decref(root);
    if (st != VLM_OK)
        ckpt_close(c);
    return st;
}

static vlm_status build(const model_def *d, dnnl_engine_t engine, const vlm_plan_params *p,
                        const ckpt_set *ckpt, vlm_plan *plan, vlm_error *err) {
    dnnl_data_type_t dt = p->dtype == VLM_BF16 ? dnnl_bf16 : dnnl_f32;
    vg_graph *g = vg_create(engine, dt);
    if (!g)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory creating a graph");
    plan->g = g;
    mb b = {.g = g,
            .shards = ckpt ? ckpt->shards : NULL,
            .nshards = ckpt ? ckpt->n : 0,
            .ckpt_path = p->weights,
            .seed = p->seed,
            .facts_only = engine == NULL,
            .prefix = ""};
    if (ckpt) {
        vlm_status st = d->detect(&b, d->cfg, err);
        if (st != VLM_OK)
            return st;
    }
    mb_outputs o = d->build(&b, d->cfg, p);
    mb_tmp_reset(&b);
    free(b.tmp);
    vlm_plan_facts *f = &plan->facts;
    f->staging_bytes = b.tmp_peak;
    if (vg_status(g, err) != VLM_OK)
        return err->status;
    /* outputs: [rows, cols] and pooled [embed] as float32 in the caller's buffers */
    vg_set_stage(g, 0);
    const int64_t *od = vg_dims(g, o.output);
    vg_tensor out2 = o.output;
    if (vg_ndims(g, o.output) == 4) { /* vision tokens [1, C, h, w] read as [h*w, C] */
        f->grid_h = (int)od[2];
        f->grid_w = (int)od[3];
        f->tokens = f->out_rows = f->grid_h * f->grid_w;
        if (b.visual_tokens > 0)
            f->tokens = (int)b.visual_tokens;
        f->feature_dim = (int)od[1];
        out2 = vg_view2d(g, o.output);
    } else {
        f->out_rows = (int)od[0];
        f->feature_dim = (int)od[1];
        f->tokens = f->grid_h = p->tokens;
        f->grid_w = 1;
    }
    const int64_t *id = vg_dims(g, o.input);
    f->input_count = 1;
    for (int i = 0; i < vg_ndims(g, o.input); i++)
        f->input_count *= id[i];
    f->macs = vg_total_macs(g) + b.macs_unbuilt; /* before the output copies; llm: all layers */
    f->params = b.params;
    f->params_no_head = b.params - b.params_head;
    f->layers_total = b.layers_total;
    f->layers_built = b.layers_built;
    plan->tokens_out = vg_new(g, 2, (int64_t[]){f->out_rows, f->feature_dim}, dnnl_f32);
    vg_mark_external(g, plan->tokens_out);
    vg_reorder(g, out2, plan->tokens_out);
    plan->pooled_out = VG_NONE;
    if (o.pooled != VG_NONE) {
        f->embed_dim = (int)vg_dims(g, o.pooled)[1];
        plan->pooled_out = vg_new(g, 2, (int64_t[]){1, f->embed_dim}, dnnl_f32);
        vg_mark_external(g, plan->pooled_out);
        vg_reorder(g, o.pooled, plan->pooled_out);
    }
    plan->input = o.input;
    plan->input_ids = p->input_ids || b.vocab > 0;
    plan->vocab = b.vocab > 0 ? b.vocab : d->info.feature_dim;
    return vg_status(g, err);
}

/* The params with defaults filled in (sequence length). */
static vlm_plan_params normalised(const model_def *d, const vlm_plan_params *p) {
    vlm_plan_params q = *p;
    if (q.tokens == 0 && strcmp(d->info.kind, "vision"))
        q.tokens = d->info.default_res;
    return q;
}

static vlm_status facts_of(const model_def *d, const vlm_plan_params *p, vlm_plan_facts *out,
                           vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_status st = d->check(d, p, err);
    if (st != VLM_OK)
        return st;
    vlm_plan plan = {0};
    vlm_plan_params q = *p;
    bool vision = !strcmp(d->info.kind, "vision");
    if (vision)
        q.pooled = 1; /* count the head's parameters; MACs below exclude it */
    st = build(d, NULL, &q, NULL, &plan, err);
    if (st == VLM_OK) {
        *out = plan.facts;
        if (vision) /* the encoder's MACs: without the CLIP head's projection */
            out->macs -= (int64_t)out->feature_dim * out->embed_dim;
        out->nodes = vg_node_count(plan.g);
        vlm_error e2 = {0};
        if (vg_finalize(plan.g, &e2) == VLM_OK)
            out->activation_bytes = vg_arena_bytes(plan.g);
    }
    vg_destroy(plan.g);
    return st;
}

vlm_status vlm_model_facts(const char *model, int height, int width, vlm_plan_facts *out,
                           vlm_error *err) {
    memset(out, 0, sizeof *out);
    const model_def *d = find_def(model);
    if (!d)
        return vlm_error_set(err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                             model ? model : "");
    vlm_plan_params p = vlm_plan_default_params();
    p.model = model;
    p.height = height;
    p.width = width;
    p = normalised(d, &p);
    return facts_of(d, &p, out, err);
}

vlm_status vlm_plan_facts_of(const vlm_plan_params *params, vlm_plan_facts *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    const model_def *d = find_def(params->model);
    if (!d)
        return vlm_error_set(err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                             params->model ? params->model : "");
    vlm_plan_params p = normalised(d, params);
    return facts_of(d, &p, out, err);
}

/* MemAvailable (what the kernel can give without swapping, page cache included); MemFree
 * (sysconf) would refuse plans that fit whenever the page cache is large. */
static size_t available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                break;
        fclose(f);
        if (kb)
            return (size_t)kb * 1024;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)-1;
}

vlm_status vlm_plan_create(vlm_ctx *ctx, const vlm_plan_params *params, vlm_plan **out,
                           vlm_error *err) {
    *out = NULL;
    const model_def *d = find_def(params->model);
    if (!d)
        return vlm_error_set(err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                             params->model ? params->model : "");
    vlm_plan_params pn = normalised(d, params);
    const vlm_plan_params *p = &pn;
    if (p->dtype == VLM_BF16 && !vlm_cpu_has_bf16()) {
        vlm_backend_info bi;
        vlm_backend_info_get(&bi);
        return vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                             "bf16 needs a CPU with avx512_bf16 (or AMX) but oneDNN dispatches "
                             "%s on this one: use f32",
                             bi.isa);
    }
    /* Refuse before allocating when the plan cannot fit: packed weights in the plan's dtype,
     * activations, and the float32 embedding table an id-input LLM keeps for lookups. */
    vlm_plan_facts facts;
    vlm_status st = facts_of(d, p, &facts, err);
    if (st != VLM_OK)
        return st;
    size_t elem = p->dtype == VLM_BF16 ? 2 : 4;
    double built = facts.layers_total ? (double)facts.layers_built / facts.layers_total : 1.0;
    size_t act = facts.activation_bytes / 4 * elem;
    size_t weights = (size_t)((double)facts.params * built * (double)elem);
    size_t table = p->input_ids ? (size_t)d->info.feature_dim * (size_t)d->info.embed_dim * 4 : 0;
    size_t need = act + weights + table, avail = available_bytes();
    if (need > avail) {
        char where[64] = "";
        if (strcmp(d->info.kind, "vision"))
            snprintf(where, sizeof where, " with %d tokens", p->tokens);
        else
            snprintf(where, sizeof where, " at %dx%d", p->height, p->width);
        return vlm_error_set(err, VLM_ERR_NOMEM,
                             "%s%s in %s needs about %.1f GiB (weights %.1f GiB + activations "
                             "%.1f GiB%s) but %.1f GiB is available: %s",
                             p->model, where, vlm_dtype_name(p->dtype), need / 1073741824.0,
                             weights / 1073741824.0, act / 1073741824.0,
                             table ? " + embedding table" : "", avail / 1073741824.0,
                             p->dtype == VLM_F32 && vlm_cpu_has_bf16()
                                 ? "use --dtype bf16 (half the bytes), or time a few layers "
                                   "(--layers) and scale"
                             : strcmp(d->info.kind, "llm")
                                 ? "use a smaller input"
                                 : "time a few layers (--layers) and scale, or use bf16 on a "
                                   "CPU with avx512_bf16");
    }

    ckpt_set ckpt = {0};
    if (p->weights) {
        st = ckpt_open(p->weights, &ckpt, err);
        if (st != VLM_OK)
            return st;
    }
    vlm_plan *plan = calloc(1, sizeof *plan);
    if (!plan) {
        ckpt_close(&ckpt);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    plan->ctx = ctx;
    plan->def = d;
    st = build(d, ctx->engine, p, p->weights ? &ckpt : NULL, plan, err);
    ckpt_close(&ckpt); /* every weight is packed into primitives' memory by now */
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
    plan->sink = malloc(((size_t)plan->facts.out_rows * (size_t)plan->facts.feature_dim +
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
    if (plan->input_ids) { /* token ids as floats: integers inside the vocabulary */
        int64_t vocab = plan->vocab;
        for (int64_t i = 0; i < plan->facts.input_count; i++)
            if (!(input[i] >= 0 && input[i] < (float)vocab && input[i] == (float)(int64_t)input[i]))
                return vlm_error_set(err, VLM_ERR_INVALID,
                                     "token id %g at position %lld is not an integer in "
                                     "[0, %lld)",
                                     (double)input[i], (long long)i, (long long)vocab);
    }
    vg_bind(plan->g, plan->input, (void *)input);
    /* outputs are always written; callers that do not want them get the plan's sink */
    float *sink = plan->sink;
    vg_bind(plan->g, plan->tokens_out, tokens ? tokens : sink);
    if (plan->pooled_out != VG_NONE)
        vg_bind(plan->g, plan->pooled_out,
                pooled ? pooled
                       : sink + (size_t)plan->facts.out_rows * (size_t)plan->facts.feature_dim);
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
