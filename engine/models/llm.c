/*
 * LLM prefill (shared/spec/models.md section 6): Qwen2-0.5B/1.5B/7B and Vicuna-7B v1.5
 * (Llama-2 shape), and FastVLM's mlp2x_gelu projector (section 4.1). HF safetensors names.
 *
 * Decoder layer, N tokens, residual stream x [N, d]:
 *   h = RMSNorm(x); qkv = h @ [Wq; Wk; Wv]^T + b   (one matmul, [N, (H + 2 KV) hd])
 *   RoPE on the q and k heads in place ("rotate_half": dims [0, hd/2) pair with [hd/2, hd))
 *   S[kv, g] = Q[kv, g] K[kv]^T / sqrt(hd) + causal mask   (GQA: G = H / KV query heads share
 *   one KV head, expressed as a 4-D matmul broadcasting K and V over g)
 *   O = softmax(S) V;  x += O Wo^T
 *   h = RMSNorm(x);  x += (silu(h Wg^T) * (h Wu^T)) Wd^T   (silu and * fused as post-ops)
 * Final RMSNorm and the LM head on the last position only (TTFT needs one token).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/models.h"

typedef struct llm_cfg {
    int64_t d, layers, heads, kv, hd, inter, vocab;
    double theta;
    float eps;
    bool qkv_bias, tie;
} llm_cfg;

static const llm_cfg QWEN2_05B = {896, 24, 14, 2, 64, 4864, 151936, 1e6, 1e-6f, true, true};
static const llm_cfg QWEN2_15B = {1536, 28, 12, 2, 128, 8960, 151936, 1e6, 1e-6f, true, true};
static const llm_cfg QWEN2_7B = {3584, 28, 28, 4, 128, 18944, 152064, 1e6, 1e-6f, true, false};
static const llm_cfg VICUNA_7B = {4096, 32, 32, 32, 128, 11008, 32000, 1e4, 1e-5f, false, false};
/* Small configs with the real structure (GQA ratio, biases, RoPE), for tests and smoke runs. */
static const llm_cfg QWEN2_TINY = {64, 2, 4, 2, 16, 160, 1000, 1e6, 1e-6f, true, true};
static const llm_cfg VICUNA_TINY = {64, 2, 4, 4, 16, 172, 500, 1e4, 1e-5f, false, false};

/* ---- custom kernels (what oneDNN 2.6 lacks) ---------------------------------------------- */

static inline float load(const void *p, size_t i, dnnl_data_type_t dt) {
    return dt == dnnl_bf16 ? vlm_bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void store(void *p, size_t i, float v, dnnl_data_type_t dt) {
    if (dt == dnnl_bf16)
        ((uint16_t *)p)[i] = vlm_f32_to_bf16(v);
    else
        ((float *)p)[i] = v;
}

typedef struct rms_ctx {
    int64_t rows, cols;
    float eps;
    dnnl_data_type_t dt;
    float w[]; /* [cols] */
} rms_ctx;

/* y = x * rsqrt(mean(x^2) + eps) * w, per row (accumulated in double). */
static void rms_run(void *c, void *const *ptrs) {
    const rms_ctx *r = c;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < r->rows; i++) {
        size_t base = (size_t)(i * r->cols);
        double ss = 0.0;
        for (int64_t j = 0; j < r->cols; j++) {
            float v = load(ptrs[0], base + (size_t)j, r->dt);
            ss += (double)v * v;
        }
        float inv = (float)(1.0 / sqrt(ss / (double)r->cols + r->eps));
        for (int64_t j = 0; j < r->cols; j++)
            store(ptrs[1], base + (size_t)j, load(ptrs[0], base + (size_t)j, r->dt) * inv * r->w[j],
                  r->dt);
    }
}

static vg_tensor rmsnorm(mb *b, const char *name, vg_tensor x, float eps) {
    vg_graph *g = b->g;
    int64_t rows = vg_dims(g, x)[0], cols = vg_dims(g, x)[1];
    float *w = mb_get(b, name, MB_INIT_NORM_W, true, 1, (int64_t[]){cols});
    vg_tensor y = vg_new(g, 2, (int64_t[]){rows, cols}, 0);
    if (vg_is_dry(g) || !w) {
        vg_custom(g, VG_KIND_NORM, 0, rms_run, NULL, NULL, 2, (vg_tensor[]){x, y});
        return y;
    }
    rms_ctx *r = malloc(sizeof *r + (size_t)cols * sizeof(float));
    if (!r) {
        vg_fail(g, VLM_ERR_NOMEM, "out of memory");
        return VG_NONE;
    }
    *r = (rms_ctx){rows, cols, eps, vg_dtype(g)};
    memcpy(r->w, w, (size_t)cols * sizeof(float));
    vg_custom(g, VG_KIND_NORM, 0, rms_run, r, free, 2, (vg_tensor[]){x, y});
    return y;
}

typedef struct rope_tab {
    int64_t n, half;
    float *cos, *sin; /* [n, half] */
} rope_tab;

typedef struct rope_ctx {
    int64_t n, nq, nk, hd, row; /* tokens, q heads, k heads, head dim, row stride */
    dnnl_data_type_t dt;
    const rope_tab *tab; /* shared by every layer; owned by the first */
    rope_tab *own;
} rope_ctx;

static void rope_tab_free(rope_tab *t) {
    if (t) {
        free(t->cos);
        free(t->sin);
        free(t);
    }
}

static void rope_free(void *c) {
    rope_ctx *r = c;
    if (r)
        rope_tab_free(r->own);
    free(r);
}

/* HF rotate_half: for i < hd/2, (x_i, x_{i+hd/2}) rotate by angle pos * theta^(-2i/hd). The q
 * heads start at column 0 and the k heads right after them, in one [n, row] buffer. */
static void rope_run(void *c, void *const *ptrs) {
    const rope_ctx *r = c;
    int64_t half = r->hd / 2, heads = r->nq + r->nk;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < r->n; t++) {
        const float *cs = r->tab->cos + t * half, *sn = r->tab->sin + t * half;
        for (int64_t h = 0; h < heads; h++) {
            size_t base = (size_t)(t * r->row + h * r->hd);
            for (int64_t i = 0; i < half; i++) {
                float a = load(ptrs[0], base + (size_t)i, r->dt);
                float b2 = load(ptrs[0], base + (size_t)(i + half), r->dt);
                store(ptrs[0], base + (size_t)i, a * cs[i] - b2 * sn[i], r->dt);
                store(ptrs[0], base + (size_t)(i + half), b2 * cs[i] + a * sn[i], r->dt);
            }
        }
    }
}

/* Causal attention skips most of the masked half: the queries run in blocks of
 * llm_attn_block_rows(n) rows, and block [r0, r1) scores keys [0, r1) only. A single block
 * (short sequences, where small matmuls would cost more than the masked work saved) is the
 * full N x N product. With b blocks the score work is (b + 1) / 2b of N x N: 0.53 at b = 16. */
int64_t llm_attn_block_rows(int64_t n) {
    const char *env = getenv("VLM_ATTN_ROWS"); /* A/B runs: rows per block, 0 = one block */
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        return v > 0 && v < n ? v : n;
    }
    int64_t rows = (n + LLM_ATTN_MAX_BLOCKS - 1) / LLM_ATTN_MAX_BLOCKS;
    if (rows < LLM_ATTN_MIN_ROWS)
        rows = LLM_ATTN_MIN_ROWS;
    return n < 2 * LLM_ATTN_MIN_ROWS ? n : rows;
}

typedef struct mask_ctx {
    int64_t heads, m, len, r0; /* scores [heads, m, len] of query rows r0..r0+m-1 */
} mask_ctx;

/* -inf above the diagonal: query r0 + i sees keys 0..r0 + i. */
static void mask_run(void *c, void *const *ptrs) {
    const mask_ctx *k = c;
    float *s = ptrs[0];
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < k->heads; h++)
        for (int64_t i = 0; i < k->m; i++) {
            float *r = s + (h * k->m + i) * k->len;
            for (int64_t j = k->r0 + i + 1; j < k->len; j++)
                r[j] = -INFINITY;
        }
}

typedef struct gather_ctx {
    int64_t n, d, vocab;
    dnnl_data_type_t dt;
    float table[]; /* [vocab, d] */
} gather_ctx;

/* x[t] = table[ids[t]]; ids were validated by vlm_plan_run. */
static void gather_run(void *c, void *const *ptrs) {
    const gather_ctx *r = c;
    const float *ids = ptrs[0];
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < r->n; t++) {
        const float *row = r->table + (int64_t)ids[t] * r->d;
        for (int64_t j = 0; j < r->d; j++)
            store(ptrs[1], (size_t)(t * r->d + j), row[j], r->dt);
    }
}

/* ---- naming: HF Qwen2 / Llama; HF-converted FastVLM nests the decoder ------------------- */

static bool lm_map(const mb *b, const char *logical, char *out, size_t size) {
    if (!strncmp(logical, "model.", 6))
        snprintf(out, size, "%s%s", b->prefix, logical + 6);
    else /* the head: the language_model.model.* layout has language_model.lm_head.weight */
        snprintf(out, size, "%s%s",
                 strcmp(b->prefix, "language_model.model.") ? "" : "language_model.", logical);
    return true;
}

static vlm_status llm_detect(mb *b, const void *cfg, vlm_error *err) {
    (void)cfg;
    static const char *prefixes[] = {"model.", "model.language_model.", "language_model.model.",
                                     ""};
    char name[256];
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        snprintf(name, sizeof name, "%slayers.0.input_layernorm.weight", prefixes[i]);
        if (mb_find(b, name, NULL)) {
            b->prefix = prefixes[i];
            b->map = lm_map;
            return VLM_OK;
        }
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: no decoder found: expected HF names such as "
                         "'model.layers.0.input_layernorm.weight'",
                         b->ckpt_path);
}

static vlm_status proj_detect(mb *b, const void *cfg, vlm_error *err) {
    (void)cfg;
    if (mb_find(b, "model.mm_projector.0.weight", NULL)) {
        b->prefix = "";
        return VLM_OK;
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: no projector found: expected 'model.mm_projector.0.weight' "
                         "(FastVLM / LLaVA names)",
                         b->ckpt_path);
}

static vlm_status seq_check(const model_def *d, const vlm_plan_params *p, vlm_error *err) {
    if (p->tokens < 1 || p->tokens > 131072)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "%s: sequence length %d is out of range (1..131072)", d->info.name,
                             p->tokens);
    if (p->input_ids && strcmp(d->info.kind, "llm"))
        return vlm_error_set(err, VLM_ERR_INVALID, "%s takes features, not token ids",
                             d->info.name);
    const llm_cfg *c = d->cfg;
    if (!strcmp(d->info.kind, "llm") && (p->layers < 0 || p->layers > c->layers))
        return vlm_error_set(err, VLM_ERR_INVALID, "%s has %lld layers; cannot build %d",
                             d->info.name, (long long)c->layers, p->layers);
    return VLM_OK;
}

/* ---- decoder ---------------------------------------------------------------------------- */

#define NAME(...) mb_name(nm, sizeof nm, __VA_ARGS__)

static vg_tensor decoder_layer(mb *b, const llm_cfg *c, int l, vg_tensor x, rope_ctx *rope_proto) {
    vg_graph *g = b->g;
    char nm[256];
    int64_t n = vg_dims(g, x)[0], d = c->d, hd = c->hd, H = c->heads, KV = c->kv, G = H / KV;
    int64_t row = (H + 2 * KV) * hd;
    /* weights: q, k, v stacked into one [row, d] matrix (and bias) */
    int64_t qs[2] = {H * hd, d}, ks[2] = {KV * hd, d};
    float *wq = mb_get(b, NAME("model.layers.%d.self_attn.q_proj.weight", l), MB_INIT_FANIN, true,
                       2, qs);
    float *wk = mb_get(b, NAME("model.layers.%d.self_attn.k_proj.weight", l), MB_INIT_FANIN, true,
                       2, ks);
    float *wv = mb_get(b, NAME("model.layers.%d.self_attn.v_proj.weight", l), MB_INIT_FANIN, true,
                       2, ks);
    float *wqkv = NULL, *bqkv = NULL;
    if (wq && wk && wv && (wqkv = mb_alloc(b, row * d))) {
        memcpy(wqkv, wq, (size_t)(H * hd * d) * sizeof *wqkv);
        memcpy(wqkv + H * hd * d, wk, (size_t)(KV * hd * d) * sizeof *wqkv);
        memcpy(wqkv + (H + KV) * hd * d, wv, (size_t)(KV * hd * d) * sizeof *wqkv);
    }
    if (c->qkv_bias) {
        float *bq = mb_get(b, NAME("model.layers.%d.self_attn.q_proj.bias", l), MB_INIT_BIAS, true,
                           1, (int64_t[]){H * hd});
        float *bk = mb_get(b, NAME("model.layers.%d.self_attn.k_proj.bias", l), MB_INIT_BIAS, true,
                           1, (int64_t[]){KV * hd});
        float *bv = mb_get(b, NAME("model.layers.%d.self_attn.v_proj.bias", l), MB_INIT_BIAS, true,
                           1, (int64_t[]){KV * hd});
        if (bq && bk && bv && (bqkv = mb_alloc(b, row))) {
            memcpy(bqkv, bq, (size_t)(H * hd) * sizeof *bqkv);
            memcpy(bqkv + H * hd, bk, (size_t)(KV * hd) * sizeof *bqkv);
            memcpy(bqkv + (H + KV) * hd, bv, (size_t)(KV * hd) * sizeof *bqkv);
        }
    }
    float *wo = mb_get(b, NAME("model.layers.%d.self_attn.o_proj.weight", l), MB_INIT_FANIN, true,
                       2, (int64_t[]){d, H * hd});
    float *wg = mb_get(b, NAME("model.layers.%d.mlp.gate_proj.weight", l), MB_INIT_FANIN, true, 2,
                       (int64_t[]){c->inter, d});
    float *wu = mb_get(b, NAME("model.layers.%d.mlp.up_proj.weight", l), MB_INIT_FANIN, true, 2,
                       (int64_t[]){c->inter, d});
    float *wd = mb_get(b, NAME("model.layers.%d.mlp.down_proj.weight", l), MB_INIT_FANIN, true, 2,
                       (int64_t[]){d, c->inter});

    vg_tensor h = rmsnorm(b, NAME("model.layers.%d.input_layernorm.weight", l), x, c->eps);
    vg_tensor qkv = vg_linear(g, h, VG_NONE, row, wqkv, bqkv, VG_ACT_NONE, false);
    rope_ctx *rc = malloc(sizeof *rc);
    if (!rc) {
        vg_fail(g, VLM_ERR_NOMEM, "out of memory");
        return VG_NONE;
    }
    *rc = *rope_proto;
    rope_proto->own = NULL; /* the first layer's node owns the table */
    vg_custom(g, VG_KIND_ROPE, 0, rope_run, rc, rope_free, 1, (vg_tensor[]){qkv});
    /* GQA as 4-D matmuls over query row blocks: block [r0, r1) attends to keys [0, r1) */
    vg_tensor o = vg_new(g, 2, (int64_t[]){n, H * hd}, 0);
    int64_t rows = llm_attn_block_rows(n);
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t m = n - r0 < rows ? n - r0 : rows, len = r0 + m;
        vg_tensor q = vg_view(g, qkv, 4, (int64_t[]){KV, G, m, hd},
                              (int64_t[]){G * hd, hd, row, 1}, r0 * row);
        vg_tensor kt = vg_view(g, qkv, 4, (int64_t[]){KV, 1, hd, len},
                               (int64_t[]){hd, hd, 1, row}, H * hd);
        vg_tensor v = vg_view(g, qkv, 4, (int64_t[]){KV, 1, len, hd},
                              (int64_t[]){hd, hd, row, 1}, (H + KV) * hd);
        vg_tensor s = vg_new(g, 4, (int64_t[]){KV, G, m, len}, dnnl_f32);
        /* 4-D tensors are NHWC by default: give s a plain row-major layout */
        int64_t plain[4] = {G * m * len, m * len, len, 1};
        vg_tensor sp = vg_view(g, s, 4, (int64_t[]){KV, G, m, len}, plain, 0);
        vg_matmul(g, q, kt, sp, 1.0f / sqrtf((float)hd), VG_KIND_ATTENTION);
        /* the mask as a custom pass over the block's upper triangle: as a matmul post-op it
         * sends oneDNN 2.6 to ref:any (0.1 GFLOP/s) */
        mask_ctx *mc = malloc(sizeof *mc);
        if (!mc) {
            vg_fail(g, VLM_ERR_NOMEM, "out of memory");
            return VG_NONE;
        }
        *mc = (mask_ctx){KV * G, m, len, r0};
        vg_custom(g, VG_KIND_ATTENTION, 0, mask_run, mc, free, 1, (vg_tensor[]){sp});
        vg_tensor p = sp;
        if (vg_dtype(g) != dnnl_f32) {
            vg_tensor pb = vg_new(g, 4, (int64_t[]){KV, G, m, len}, 0);
            p = vg_view(g, pb, 4, (int64_t[]){KV, G, m, len}, plain, 0);
        }
        vg_softmax(g, sp, p);
        vg_tensor o4 = vg_view(g, o, 4, (int64_t[]){KV, G, m, hd},
                               (int64_t[]){G * hd, hd, H * hd, 1}, r0 * H * hd);
        vg_matmul(g, p, v, o4, 1.0f, VG_KIND_ATTENTION);
    }
    vg_linear(g, o, x, d, wo, NULL, VG_ACT_NONE, true);
    vg_tensor h2 = rmsnorm(b, NAME("model.layers.%d.post_attention_layernorm.weight", l), x, c->eps);
    vg_tensor gate = vg_linear(g, h2, VG_NONE, c->inter, wg, NULL, VG_ACT_SILU, false);
    vg_tensor up = vg_linear_mul(g, h2, VG_NONE, c->inter, wu, NULL, gate);
    vg_linear(g, up, x, d, wd, NULL, VG_ACT_NONE, true);
    mb_tmp_reset(b);
    return x;
}

static mb_outputs llm_build(mb *b, const void *cfgp, const vlm_plan_params *p) {
    const llm_cfg *c = cfgp;
    vg_graph *g = b->g;
    int64_t n = p->tokens, d = c->d, k = p->layers > 0 ? p->layers : c->layers;
    mb_outputs out = {VG_NONE, VG_NONE, VG_NONE};
    b->layers_total = (int)c->layers;
    b->layers_built = (int)k;
    vg_set_stage(g, 0);
    bool tied = mb_has_ckpt(b) ? !mb_has(b, "lm_head.weight") : c->tie;
    vg_tensor x;
    int64_t es[2] = {c->vocab, d};
    if (p->input_ids) {
        out.input = vg_new(g, 1, (int64_t[]){n}, dnnl_f32);
        vg_mark_external(g, out.input);
        x = vg_new(g, 2, (int64_t[]){n, d}, 0);
        float *emb = mb_get(b, "model.embed_tokens.weight", MB_INIT_FANIN, true, 2, es);
        gather_ctx *gc = NULL;
        if (emb && (gc = malloc(sizeof *gc + (size_t)(c->vocab * d) * sizeof(float)))) {
            *gc = (gather_ctx){n, d, c->vocab, vg_dtype(g)};
            memcpy(gc->table, emb, (size_t)(c->vocab * d) * sizeof(float));
        } else if (emb) {
            vg_fail(g, VLM_ERR_NOMEM, "out of memory for the embedding table");
        }
        vg_custom(g, VG_KIND_EMBED, 0, gather_run, gc, free, 2, (vg_tensor[]){out.input, x});
        mb_tmp_reset(b);
    } else {
        /* input embeddings (from the projector): the table is still a parameter (when tied,
         * the LM head below reads it) */
        b->params += c->vocab * d;
        out.input = vg_new(g, 2, (int64_t[]){n, d}, dnnl_f32);
        vg_mark_external(g, out.input);
        x = vg_reorder(g, out.input, vg_new(g, 2, (int64_t[]){n, d}, 0));
    }
    /* RoPE tables for positions 0..n-1 */
    rope_ctx proto = {n, c->heads, c->kv, c->hd, (c->heads + 2 * c->kv) * c->hd, vg_dtype(g),
                      NULL, NULL};
    if (!vg_is_dry(g)) {
        rope_tab *t = calloc(1, sizeof *t);
        int64_t half = c->hd / 2;
        if (t) {
            t->cos = malloc((size_t)(n * half) * sizeof(float));
            t->sin = malloc((size_t)(n * half) * sizeof(float));
        }
        if (!t || !t->cos || !t->sin) {
            rope_tab_free(t);
            vg_fail(g, VLM_ERR_NOMEM, "out of memory for the RoPE tables");
            return out;
        }
        t->n = n;
        t->half = half;
        for (int64_t pos = 0; pos < n; pos++)
            for (int64_t i = 0; i < half; i++) {
                double ang = (double)pos * pow(c->theta, -2.0 * (double)i / (double)c->hd);
                t->cos[pos * half + i] = (float)cos(ang);
                t->sin[pos * half + i] = (float)sin(ang);
            }
        proto.tab = proto.own = t;
    }
    int64_t p0 = 0, m0 = 0;
    for (int l = 0; l < k; l++) {
        vg_set_stage(g, l + 1);
        if (l == 0) {
            p0 = b->params;
            m0 = vg_total_macs(g);
        }
        x = decoder_layer(b, c, l, x, &proto);
        if (l == 0) { /* layer sampling: count the layers not built from the first one */
            b->params += (c->layers - k) * (b->params - p0);
            b->macs_unbuilt = (c->layers - k) * (vg_total_macs(g) - m0);
        }
    }
    rope_tab_free(proto.own); /* still ours only if no layer node took it (an error) */
    vg_set_stage(g, (int)k + 1);
    vg_tensor last = vg_view(g, x, 2, (int64_t[]){1, d}, (int64_t[]){d, 1}, (n - 1) * d);
    vg_tensor fn = rmsnorm(b, "model.norm.weight", last, c->eps);
    float *wlm = tied ? mb_get(b, "model.embed_tokens.weight", MB_INIT_FANIN, false, 2, es)
                      : mb_get(b, "lm_head.weight", MB_INIT_FANIN, true, 2, es);
    out.output = vg_linear(g, fn, VG_NONE, c->vocab, wlm, NULL, VG_ACT_NONE, false);
    mb_tmp_reset(b);
    return out;
}

static const char *llm_stage_name(const void *cfgp, int stage) {
    static char names[16][24];
    const llm_cfg *c = cfgp;
    if (stage == 0)
        return "embed";
    if (stage > 0 && stage <= c->layers) {
        char *s = names[stage % 16];
        snprintf(s, sizeof names[0], "layer%d", stage - 1);
        return s;
    }
    return "head";
}

/* ---- projector (mlp2x_gelu) --------------------------------------------------------------- */

typedef struct proj_cfg {
    int64_t in, out;
} proj_cfg;

static const proj_cfg PROJ_05B = {3072, 896}, PROJ_15B = {3072, 1536}, PROJ_7B = {3072, 3584},
                      PROJ_V7B = {1024, 4096};

static mb_outputs proj_build(mb *b, const void *cfgp, const vlm_plan_params *p) {
    const proj_cfg *cfg = cfgp;
    proj_cfg cc = {p->in_features > 0 ? p->in_features : cfg->in, cfg->out};
    const proj_cfg *c = &cc;
    vg_graph *g = b->g;
    int64_t n = p->tokens;
    mb_outputs out = {VG_NONE, VG_NONE, VG_NONE};
    vg_set_stage(g, 0);
    float *w0 = mb_get(b, "model.mm_projector.0.weight", MB_INIT_FANIN, true, 2,
                       (int64_t[]){c->out, c->in});
    float *b0 = mb_get(b, "model.mm_projector.0.bias", MB_INIT_BIAS, true, 1, (int64_t[]){c->out});
    float *w2 = mb_get(b, "model.mm_projector.2.weight", MB_INIT_FANIN, true, 2,
                       (int64_t[]){c->out, c->out});
    float *b2 = mb_get(b, "model.mm_projector.2.bias", MB_INIT_BIAS, true, 1, (int64_t[]){c->out});
    out.input = vg_new(g, 2, (int64_t[]){n, c->in}, dnnl_f32);
    vg_mark_external(g, out.input);
    vg_tensor x = vg_reorder(g, out.input, vg_new(g, 2, (int64_t[]){n, c->in}, 0));
    vg_tensor h = vg_linear(g, x, VG_NONE, c->out, w0, b0, VG_ACT_GELU, false);
    out.output = vg_linear(g, h, VG_NONE, c->out, w2, b2, VG_ACT_NONE, false);
    mb_tmp_reset(b);
    return out;
}

static const char *proj_stage_name(const void *cfgp, int stage) {
    (void)cfgp;
    (void)stage;
    return "projector";
}

#define HF_LLM "HF safetensors (model.embed_tokens, model.layers.{i}.*, model.norm, lm_head), " \
               "single file or sharded (model.safetensors.index.json); FastVLM checkpoints too"
#define PROJ_NAMES "FastVLM / LLaVA: model.mm_projector.{0,2}.{weight,bias}"

const model_def vlm_llm_models[] = {
    {{"qwen2-0.5b", "llm", "Qwen2-0.5B prefill (FastVLM-0.5B's LLM)", "qwen2", 280, 1, 1, "N",
      HF_LLM, 151936, 896},
     &QWEN2_05B, llm_detect, seq_check, llm_build, llm_stage_name},
    {{"qwen2-1.5b", "llm", "Qwen2-1.5B prefill (FastVLM-1.5B's LLM)", "qwen2", 280, 1, 1, "N",
      HF_LLM, 151936, 1536},
     &QWEN2_15B, llm_detect, seq_check, llm_build, llm_stage_name},
    {{"qwen2-7b", "llm", "Qwen2-7B prefill (FastVLM-7B's LLM)", "qwen2", 280, 1, 1, "N", HF_LLM,
      152064, 3584},
     &QWEN2_7B, llm_detect, seq_check, llm_build, llm_stage_name},
    {{"vicuna-7b", "llm", "Vicuna-7B v1.5 prefill (LLaVA-1.5's LLM, Llama-2 shape)", "llama",
      616, 1, 1, "N", HF_LLM, 32000, 4096},
     &VICUNA_7B, llm_detect, seq_check, llm_build, llm_stage_name},
    {{"qwen2-tiny", "llm", "2-layer Qwen2-shaped decoder for tests and smoke runs", "qwen2", 24,
      1, 1, "N", HF_LLM, 1000, 64},
     &QWEN2_TINY, llm_detect, seq_check, llm_build, llm_stage_name},
    {{"vicuna-tiny", "llm", "2-layer Llama-shaped decoder for tests and smoke runs", "llama", 24,
      1, 1, "N", HF_LLM, 500, 64},
     &VICUNA_TINY, llm_detect, seq_check, llm_build, llm_stage_name},
    {{"proj-qwen2-0.5b", "projector", "FastVLM mlp2x_gelu projector, 3072 -> 896", "projector",
      256, 1, 1, "N", PROJ_NAMES, 896, 3072},
     &PROJ_05B, proj_detect, seq_check, proj_build, proj_stage_name},
    {{"proj-qwen2-1.5b", "projector", "FastVLM mlp2x_gelu projector, 3072 -> 1536", "projector",
      256, 1, 1, "N", PROJ_NAMES, 1536, 3072},
     &PROJ_15B, proj_detect, seq_check, proj_build, proj_stage_name},
    {{"proj-qwen2-7b", "projector", "FastVLM mlp2x_gelu projector, 3072 -> 3584", "projector",
      256, 1, 1, "N", PROJ_NAMES, 3584, 3072},
     &PROJ_7B, proj_detect, seq_check, proj_build, proj_stage_name},
    {{"proj-vicuna-7b", "projector", "LLaVA-1.5 mlp2x_gelu projector, 1024 -> 4096", "projector",
      576, 1, 1, "N", PROJ_NAMES, 4096, 1024},
     &PROJ_V7B, proj_detect, seq_check, proj_build, proj_stage_name},
};
const int vlm_llm_model_count = sizeof vlm_llm_models / sizeof vlm_llm_models[0];
