/* LLM prefill and the FastVLM projector against independent PyTorch implementations.
 *
 * Decoders: tests/torch/qwen2_ref.py (Debian's python3-torch) writes seeded HF-named weights
 * (one file or HF shards + model.safetensors.index.json), seeded token ids or input embeddings,
 * and the last-position logits computed in float64. The engine loads the checkpoint through the
 * public API and must agree to 1e-4 relative (max|a - b| / max|ref|, fp32) and pick the same
 * argmax token. Projector: a seeded mlp2x_gelu checkpoint and its float64 output written by a
 * short torch script below. Parameter counts and MACs are checked against the configs of
 * shared/spec/models.md sections 4.1, 6 and 6.1, computed here from the published dims. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "eval/eval.h"

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/vlm_llm_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(llm, .init = make_dir, .fini = remove_dir);

/* ---- the published configs (spec section 6), independent of the engine's tables --------- */

typedef struct cfg {
    const char *model;
    int64_t d, layers, heads, kv, hd, inter, vocab;
    bool qkv_bias, tie;
} cfg;

static const cfg QWEN2_05B = {"qwen2-0.5b", 896, 24, 14, 2, 64, 4864, 151936, true, true};
static const cfg QWEN2_15B = {"qwen2-1.5b", 1536, 28, 12, 2, 128, 8960, 151936, true, true};
static const cfg QWEN2_7B = {"qwen2-7b", 3584, 28, 28, 4, 128, 18944, 152064, true, false};
static const cfg VICUNA_7B = {"vicuna-7b", 4096, 32, 32, 32, 128, 11008, 32000, false, false};
/* tests/torch/qwen2_ref.py presets tiny-qwen2 and tiny-vicuna */
static const cfg QWEN2_TINY = {"qwen2-tiny", 64, 2, 4, 2, 16, 160, 1000, true, true};
static const cfg VICUNA_TINY = {"vicuna-tiny", 64, 2, 4, 4, 16, 172, 500, false, false};

static int64_t cfg_params(const cfg *c) {
    int64_t qkv = (c->heads + 2 * c->kv) * c->hd;
    int64_t layer = 2 * c->d + c->d * qkv + (c->qkv_bias ? qkv : 0) + c->heads * c->hd * c->d +
                    3 * c->d * c->inter;
    return c->vocab * c->d * (c->tie ? 1 : 2) + c->layers * layer + c->d;
}

/* Query-key pairs the engine scores per head: sequences of 256 tokens or more run in query
 * blocks of max(128, ceil(n / 16)) rows, each scoring the keys up to its last row (the rule in
 * engine/models/models.h); shorter ones score the full N x N. */
static int64_t causal_pairs(int64_t n) {
    if (n < 256)
        return n * n;
    int64_t rows = (n + 15) / 16 < 128 ? 128 : (n + 15) / 16, pairs = 0;
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t m = n - r0 < rows ? n - r0 : rows;
        pairs += m * (r0 + m);
    }
    return pairs;
}

/* Spec 6.1 as MACs = FLOPs / 2, with c * N^2 = the pairs scored (between the causal half, c =
 * 0.5, and the full matrix, c = 1). */
static int64_t cfg_macs(const cfg *c, int64_t n) {
    int64_t H = c->heads, KV = c->kv, hd = c->hd, d = c->d;
    return c->layers * (n * d * (H * hd + 2 * KV * hd) + n * H * hd * d + 3 * n * d * c->inter +
                        2 * causal_pairs(n) * H * hd) +
           d * c->vocab;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void shell(const char *cmd) {
    cr_assert_eq(system(cmd), 0, "failed: %s (see the logs in %s)", cmd, dir);
}

/* Writes a python script into the test folder and runs it with args. */
static void python(const char *script, const char *args) {
    char path[128], cmd[1024];
    snprintf(path, sizeof path, "%s/script.py", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, VLM_PYTHON " %s %s >> %s/py.log 2>&1", path, args, dir);
    shell(cmd);
}

/* The checkpoint path the reference writes: one file, or the shard index. */
static const char *weights_path(int shards) {
    static char path[128];
    snprintf(path, sizeof path,
             shards > 1 ? "%s/model.safetensors.index.json" : "%s/model.safetensors", dir);
    return path;
}

/* Runs the reference: weights, the input (ids [N] or embeddings [N, D]) as in.npy, and the
 * last-position logits as logits.npy. extra: more qwen2_ref.py flags (naming, tying). */
static void reference(const char *preset, int n, bool embeds, int shards, const char *extra) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/qwen2_ref.py --preset %s --tokens %d "
                        "--seed 5 --weights %s --shards %d %s %s/in.npy --logits %s/logits.npy "
                        "%s > %s/ref.log 2>&1",
             preset, n, weights_path(shards), shards, embeds ? "--embeds" : "--ids", dir, dir,
             extra, dir);
    shell(cmd);
}

static void read_npy(const char *name, vlm_npy *out) {
    char path[128];
    vlm_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(vlm_npy_read_f32(path, out, &err), VLM_OK, "%s", err.msg);
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        mag = fmax(mag, fabs((double)b[i]));
    }
    return diff / fmax(mag, 1e-30);
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static vlm_ctx *ctx_new(void) {
    vlm_ctx *ctx;
    vlm_error err = {0};
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK, "%s", err.msg);
    return ctx;
}

/* vlm_plan_create's status for params (the plan, if any, destroyed). */
static vlm_status create(const vlm_plan_params *p, vlm_error *err) {
    vlm_ctx *ctx = ctx_new();
    vlm_plan *plan = NULL;
    vlm_status st = vlm_plan_create(ctx, p, &plan, err);
    cr_assert(st == VLM_OK ? plan != NULL : plan == NULL, "plan and status disagree");
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    return st;
}

/* ---- prefill parity --------------------------------------------------------------------- */

static void check(const cfg *c, const char *preset, int n, bool embeds, int shards,
                  const char *extra) {
    reference(preset, n, embeds, shards, extra);
    vlm_npy in = {0}, ref = {0};
    read_npy("in.npy", &in);
    read_npy("logits.npy", &ref);
    cr_assert_eq(in.count, embeds ? n * c->d : n);
    cr_assert_eq(ref.count, c->vocab);

    vlm_ctx *ctx = ctx_new();
    vlm_plan_params p = vlm_plan_default_params();
    p.model = c->model;
    p.tokens = n;
    p.input_ids = !embeds;
    p.weights = weights_path(shards);
    vlm_plan *plan;
    vlm_error err = {0};
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    cr_assert_eq(f.out_rows, 1);
    cr_assert_eq(f.feature_dim, c->vocab);
    cr_assert_eq(f.tokens, n);
    cr_assert_eq(f.input_count, in.count);
    cr_assert_eq(f.layers_total, c->layers);
    cr_assert_eq(f.layers_built, c->layers);
    cr_assert_eq(f.params, cfg_params(c), "params %lld, expected %lld", (long long)f.params,
                 (long long)cfg_params(c));
    cr_assert_eq(f.macs, cfg_macs(c, n));

    float *logits = malloc((size_t)c->vocab * sizeof *logits);
    cr_assert_eq(vlm_plan_run(plan, in.data, logits, NULL, &err), VLM_OK, "%s", err.msg);
    double rel = max_rel(logits, ref.data, ref.count);
    int64_t top = argmax(ref.data, ref.count), got = argmax(logits, ref.count);
    cr_log_info("%s %s N=%d%s: logits max rel %.2e, argmax %lld (engine %lld)", c->model,
                embeds ? "embeddings" : "ids", n, shards > 1 ? " sharded" : "", rel, (long long)top,
                (long long)got);
    cr_expect(rel <= 1e-4, "%s logits differ from PyTorch: max rel %.3e", c->model, rel);
    cr_expect_eq(got, top, "%s: argmax token %lld, PyTorch %lld", c->model, (long long)got,
                 (long long)top);
    free(logits);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    vlm_npy_free(&in);
    vlm_npy_free(&ref);
}

Test(llm, qwen2_token_ids_7) {
    check(&QWEN2_TINY, "tiny-qwen2", 7, false, 1, "");
}
Test(llm, qwen2_input_embeddings_33) {
    check(&QWEN2_TINY, "tiny-qwen2", 33, true, 1, "");
}
Test(llm, vicuna_token_ids_20_from_three_shards) {
    check(&VICUNA_TINY, "tiny-vicuna", 20, false, 3, "");
}
Test(llm, vicuna_input_embeddings_9) {
    check(&VICUNA_TINY, "tiny-vicuna", 9, true, 1, "");
}
/* Long enough for the blocked causal attention: 128 + 128 + 44 query rows, and two equal
 * blocks. */
Test(llm, qwen2_token_ids_300_in_three_query_blocks) {
    check(&QWEN2_TINY, "tiny-qwen2", 300, false, 1, "");
}
Test(llm, vicuna_input_embeddings_256_in_two_query_blocks) {
    check(&VICUNA_TINY, "tiny-vicuna", 256, true, 1, "");
}
/* HF LLaVA's layout nests the whole LM: language_model.model.* and language_model.lm_head; an
 * untied head there must be used, not replaced by the embedding table. */
Test(llm, qwen2_untied_head_in_llava_layout) {
    cfg untied = QWEN2_TINY;
    untied.tie = false;
    check(&untied, "tiny-qwen2", 11, false, 1,
          "--tie 0 --prefix language_model.model. --lm-head language_model.lm_head.weight");
}

/* ---- which GEMM runs the linears ---------------------------------------------------------- */

/* Linears counted by implementation in a qwen2-tiny plan of n tokens (synthetic weights). */
static void linear_impls(int n, int *sgemm, int *other) {
    vlm_ctx *ctx = ctx_new();
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "qwen2-tiny";
    p.tokens = n;
    vlm_plan *plan;
    vlm_error err = {0};
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    float *in = calloc((size_t)f.input_count, sizeof *in);
    vlm_profile_entry *e = calloc((size_t)f.nodes, sizeof *e);
    cr_assert_eq(vlm_plan_profile(plan, in, e, &err), VLM_OK, "%s", err.msg);
    *sgemm = *other = 0;
    for (int i = 0; i < f.nodes; i++)
        if (!strcmp(e[i].kind, "linear"))
            ++*(strcmp(e[i].impl, "vlm:sgemm:avx2") ? other : sgemm);
    free(in);
    free(e);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
}

/* From 32 rows the linears run on engine/sgemm.c (what the 33-token parity test above
 * checks), fewer rows on oneDNN, and VLM_LINEAR_ONEDNN=1 switches it off. */
Test(llm, linears_of_32_rows_or_more_run_on_the_avx2_gemm) {
    int s, o;
    linear_impls(33, &s, &o);
    cr_expect_eq(s, 2 * 5, "33 rows: %d linears on sgemm, %d elsewhere", s, o); /* 5 per layer */
    cr_expect_eq(o, 1, "33 rows: the LM head (one row) stays with oneDNN");
    linear_impls(31, &s, &o);
    cr_expect_eq(s, 0);
    linear_impls(300, &s, &o);
    cr_expect_eq(s, 2 * 5, "300 rows: %d linears on sgemm, %d elsewhere", s, o);
    setenv("VLM_LINEAR_MATMUL", "1", 1);
    linear_impls(300, &s, &o);
    cr_expect_eq(s, 0);
    unsetenv("VLM_LINEAR_MATMUL");
    setenv("VLM_LINEAR_ONEDNN", "0", 1); /* "0" and "" mean off */
    linear_impls(33, &s, &o);
    cr_expect_eq(s, 2 * 5);
    setenv("VLM_LINEAR_ONEDNN", "", 1);
    linear_impls(33, &s, &o);
    cr_expect_eq(s, 2 * 5);
    setenv("VLM_LINEAR_ONEDNN", "1", 1);
    linear_impls(33, &s, &o);
    cr_expect_eq(s, 0);
    cr_expect_eq(o, 2 * 5 + 1);
    unsetenv("VLM_LINEAR_ONEDNN");
}

/* ---- layer sampling --------------------------------------------------------------------- */

Test(llm, layer_sampled_plan_reports_the_whole_model) {
    vlm_ctx *ctx = ctx_new();
    vlm_error err = {0};
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "qwen2-tiny";
    p.tokens = 12;
    p.input_ids = 1;
    vlm_plan *full, *one;
    cr_assert_eq(vlm_plan_create(ctx, &p, &full, &err), VLM_OK, "%s", err.msg);
    p.layers = 1;
    cr_assert_eq(vlm_plan_create(ctx, &p, &one, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts ff, f1, fd;
    vlm_plan_get_facts(full, &ff);
    vlm_plan_get_facts(one, &f1);
    cr_assert_eq(ff.layers_built, 2);
    cr_assert_eq(ff.layers_total, 2);
    cr_assert_eq(f1.layers_built, 1);
    cr_assert_eq(f1.layers_total, 2);
    cr_assert_eq(f1.params, ff.params);
    cr_assert_eq(f1.macs, ff.macs);
    cr_assert_eq(ff.params, cfg_params(&QWEN2_TINY));
    cr_assert_eq(ff.macs, cfg_macs(&QWEN2_TINY, 12));
    /* ... while really building one layer: fewer primitives and packed weights */
    cr_assert_lt(f1.nodes, ff.nodes);
    cr_assert_lt(f1.weight_bytes, ff.weight_bytes);
    /* each layer's float32 weights are freed once packed: two layers stage no more than one */
    cr_assert_gt(f1.staging_bytes, 0);
    cr_assert_eq(ff.staging_bytes, f1.staging_bytes, "staging: %zu bytes for 2 layers, %zu for 1",
                 ff.staging_bytes, f1.staging_bytes);
    /* the metadata-only facts agree */
    cr_assert_eq(vlm_plan_facts_of(&p, &fd, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(fd.layers_built, 1);
    cr_assert_eq(fd.params, ff.params);
    cr_assert_eq(fd.macs, ff.macs);
    /* and the sampled plan runs */
    float ids[12], logits[1000];
    for (int i = 0; i < 12; i++)
        ids[i] = (float)(i * 83 % 1000);
    cr_assert_eq(vlm_plan_run(one, ids, logits, NULL, &err), VLM_OK, "%s", err.msg);
    for (int i = 0; i < 1000; i++)
        cr_assert(isfinite(logits[i]));
    vlm_plan_destroy(one);
    vlm_plan_destroy(full);
    vlm_ctx_destroy(ctx);
}

/* ---- sharded checkpoints: clear errors naming the index, the shard and the tensor ------- */

static vlm_status load_tiny(const char *model, const char *weights, vlm_error *err) {
    vlm_plan_params p = vlm_plan_default_params();
    p.model = model;
    p.tokens = 4;
    p.input_ids = 1;
    p.weights = weights;
    return create(&p, err);
}

Test(llm, index_naming_a_missing_shard_file) {
    reference("tiny-vicuna", 4, false, 3, "");
    char shard[128];
    snprintf(shard, sizeof shard, "%s/model-00002-of-00003.safetensors", dir);
    cr_assert_eq(unlink(shard), 0);
    vlm_error err = {0};
    vlm_status st = load_tiny("vicuna-tiny", weights_path(3), &err);
    cr_assert(st == VLM_ERR_IO || st == VLM_ERR_FORMAT, "%s: %s", vlm_status_name(st), err.msg);
    cr_assert(strstr(err.msg, "model-00002-of-00003.safetensors"), "%s", err.msg);
    cr_assert(strstr(err.msg, weights_path(3)), "%s", err.msg);
}

Test(llm, malformed_index_json) {
    const char *index = weights_path(3);
    FILE *f = fopen(index, "w");
    cr_assert_not_null(f);
    fputs("{\"metadata\": {\"total_size\": 10}, \"weight_map\": {\"model.norm.weight\": ", f);
    fclose(f);
    vlm_error err = {0};
    cr_assert_eq(load_tiny("vicuna-tiny", index, &err), VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, index), "%s", err.msg);

    f = fopen(index, "w"); /* valid JSON without a weight_map */
    cr_assert_not_null(f);
    fputs("{\"metadata\": {\"total_size\": 10}}\n", f);
    fclose(f);
    cr_assert_eq(load_tiny("vicuna-tiny", index, &err), VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, index) && strstr(err.msg, "weight_map"), "%s", err.msg);
}

Test(llm, index_mapping_a_tensor_to_the_wrong_shard) {
    reference("tiny-vicuna", 4, false, 3, "");
    const char *index = weights_path(3);
    python("import json, sys\n"
           "idx = json.load(open(sys.argv[1]))\n"
           "m = idx['weight_map']\n"
           "assert m['model.layers.1.mlp.up_proj.weight'] != 'model-00001-of-00003.safetensors'\n"
           "m['model.layers.1.mlp.up_proj.weight'] = 'model-00001-of-00003.safetensors'\n"
           "json.dump(idx, open(sys.argv[1], 'w'), indent=2)\n",
           index);
    vlm_error err = {0};
    cr_assert_eq(load_tiny("vicuna-tiny", index, &err), VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, index), "%s", err.msg);
    cr_assert(strstr(err.msg, "'model.layers.1.mlp.up_proj.weight'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "model-00001-of-00003.safetensors"), "%s", err.msg);
}

/* Drops tensor argv[2] from the safetensors file argv[1] (rewritten in place), and from the
 * shard index argv[3] when given. */
static const char DROP_PY[] =
    "import json, struct, sys\n"
    "path, name = sys.argv[1], sys.argv[2]\n"
    "d = open(path, 'rb').read()\n"
    "n = struct.unpack('<Q', d[:8])[0]\n"
    "h = json.loads(d[8:8 + n]); data = d[8 + n:]\n"
    "out = {}; blobs = []; off = 0\n"
    "for k, v in h.items():\n"
    "    if k == '__metadata__':\n"
    "        out[k] = v\n"
    "        continue\n"
    "    if k == name:\n"
    "        continue\n"
    "    b = data[v['data_offsets'][0]:v['data_offsets'][1]]\n"
    "    out[k] = dict(dtype=v['dtype'], shape=v['shape'], data_offsets=[off, off + len(b)])\n"
    "    blobs.append(b); off += len(b)\n"
    "assert len(out) == len(h) - 1, name + ' is not in ' + path\n"
    "hb = json.dumps(out).encode(); hb += b' ' * (-len(hb) % 8)\n"
    "open(path, 'wb').write(struct.pack('<Q', len(hb)) + hb + b''.join(blobs))\n"
    "if len(sys.argv) > 3:\n"
    "    idx = json.load(open(sys.argv[3]))\n"
    "    del idx['weight_map'][name]\n"
    "    json.dump(idx, open(sys.argv[3], 'w'), indent=2)\n";

Test(llm, missing_tensor_names_the_tensor_and_expected_shape) {
    reference("tiny-qwen2", 4, false, 1, "");
    const char *file = weights_path(1);
    char args[256];
    snprintf(args, sizeof args, "%s model.layers.1.mlp.up_proj.weight", file);
    python(DROP_PY, args);
    vlm_error err = {0};
    cr_assert_eq(load_tiny("qwen2-tiny", file, &err), VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, file), "%s", err.msg);
    cr_assert(strstr(err.msg, "missing tensor 'model.layers.1.mlp.up_proj.weight'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "[160, 64]"), "%s", err.msg);
}

Test(llm, tensor_missing_from_every_shard) {
    reference("tiny-vicuna", 4, false, 3, "");
    const char *index = weights_path(3);
    char args[512];
    snprintf(args, sizeof args,
             "%s/model-00003-of-00003.safetensors "
             "model.layers.1.mlp.up_proj.weight %s",
             dir, index);
    python(DROP_PY, args);
    vlm_error err = {0};
    cr_assert_eq(load_tiny("vicuna-tiny", index, &err), VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, index), "%s", err.msg);
    cr_assert(strstr(err.msg, "missing tensor 'model.layers.1.mlp.up_proj.weight'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "[172, 64]"), "%s", err.msg);
}

/* ---- input validation ------------------------------------------------------------------- */

Test(llm, token_ids_outside_the_vocabulary_or_not_integers) {
    vlm_ctx *ctx = ctx_new();
    vlm_error err = {0};
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "qwen2-tiny";
    p.tokens = 4;
    p.input_ids = 1;
    vlm_plan *plan;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    float logits[1000];
    static const struct {
        float ids[4];
        const char *position;
    } bad[] = {
        {{1, 2, 1000, 3}, "position 2"},  /* == vocab */
        {{1, -1, 2, 3}, "position 1"},    /* negative */
        {{1, 2, 3, 2.5f}, "position 3"},  /* not an integer */
        {{NAN, 1, 2, 3}, "position 0"},   /* not a number */
        {{1, 2, 1e30f, 3}, "position 2"}, /* would overflow a cast */
        {{1, INFINITY, 2, 3}, "position 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vlm_error_clear(&err);
        cr_assert_eq(vlm_plan_run(plan, bad[i].ids, logits, NULL, &err), VLM_ERR_INVALID,
                     "case %zu: %s", i, err.msg);
        cr_assert(strstr(err.msg, bad[i].position), "case %zu: %s", i, err.msg);
    }
    /* the edges of the vocabulary are fine, and the plan still runs after refusals */
    const float good[4] = {0, 999, 5, 999};
    cr_assert_eq(vlm_plan_run(plan, good, logits, NULL, &err), VLM_OK, "%s", err.msg);
    for (int i = 0; i < 1000; i++)
        cr_assert(isfinite(logits[i]));
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
}

Test(llm, sequence_length_and_layer_count_are_checked) {
    vlm_error err = {0};
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "qwen2-tiny";
    p.tokens = 131073;
    cr_assert_eq(create(&p, &err), VLM_ERR_INVALID, "%s", err.msg);
    cr_assert(strstr(err.msg, "131073"), "%s", err.msg);

    p.tokens = 4;
    p.layers = 3;
    cr_assert_eq(create(&p, &err), VLM_ERR_INVALID, "%s", err.msg);
    cr_assert(strstr(err.msg, "qwen2-tiny") && strstr(err.msg, "3"), "%s", err.msg);
    p.layers = -1;
    cr_assert_eq(create(&p, &err), VLM_ERR_INVALID, "%s", err.msg);

    p.model = "proj-qwen2-0.5b"; /* a projector takes features */
    p.layers = 0;
    p.input_ids = 1;
    cr_assert_eq(create(&p, &err), VLM_ERR_INVALID, "%s", err.msg);

    /* tokens = 0 is the model's default sequence length (engine.h) */
    p.model = "qwen2-tiny";
    p.tokens = 0;
    vlm_plan_facts f;
    cr_assert_eq(vlm_plan_facts_of(&p, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(f.tokens, vlm_model_find("qwen2-tiny")->default_res);
    cr_assert_eq(f.input_count, f.tokens);
}

/* ---- memory check ----------------------------------------------------------------------- */

Test(llm, seven_billion_in_f32_is_refused_before_allocating) {
    /* the engine's weights alone are 4 bytes a parameter */
    double need = 4.0 * (double)cfg_params(&QWEN2_7B);
    double avail = (double)sysconf(_SC_AVPHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (avail > need)
        cr_skip_test("%.1f GiB free: qwen2-7b in f32 would fit", avail / 1073741824.0);
    vlm_ctx *ctx = ctx_new();
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "qwen2-7b";
    vlm_plan *plan = NULL;
    vlm_error err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vlm_status st = vlm_plan_create(ctx, &p, &plan, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    cr_log_info("refused in %.3f s: %s", s, err.msg);
    cr_assert_eq(st, VLM_ERR_NOMEM, "%s: %s", vlm_status_name(st), err.msg);
    cr_assert_null(plan);
    const char *gib = strstr(err.msg, "GiB");
    cr_assert(gib && strstr(gib + 3, "GiB"), "needed and available in GiB: %s", err.msg);
    cr_assert(strstr(err.msg, "bf16") || strstr(err.msg, "--layers"), "no suggestion: %s", err.msg);
    cr_assert_lt(s, 10.0, "the memory check took %.1f s", s);
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    cr_assert_lt(ru.ru_maxrss, 2L << 20, "peak RSS %ld KiB", ru.ru_maxrss); /* KiB: < 2 GiB */
    vlm_ctx_destroy(ctx);
}

/* ---- parameters and MACs without weights ------------------------------------------------ */

Test(llm, parameter_counts_of_the_real_models) {
    /* exact totals from qwen2_ref.py --params-only (spec section 6: 0.494, 1.544, 7.616,
     * 6.738 B) */
    static const struct {
        const cfg *c;
        int64_t params;
    } real[] = {
        {&QWEN2_05B, 494032768},
        {&QWEN2_15B, 1543714304},
        {&QWEN2_7B, 7615616512},
        {&VICUNA_7B, 6738415616},
    };
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        vlm_plan_facts f;
        vlm_error err = {0};
        cr_assert_eq(vlm_model_facts(real[i].c->model, 0, 0, &f, &err), VLM_OK, "%s", err.msg);
        cr_expect_eq(f.params, real[i].params, "%s: %lld params, expected %lld", real[i].c->model,
                     (long long)f.params, (long long)real[i].params);
        cr_expect_eq(cfg_params(real[i].c), real[i].params, "the test's formula, %s",
                     real[i].c->model);
        cr_expect_eq(f.layers_total, real[i].c->layers);
        cr_expect_eq(f.feature_dim, real[i].c->vocab);
        cr_expect_eq(f.out_rows, 1);
    }
    /* spec 4.1: mlp2x_gelu, in -> out (bias) -> GELU -> out -> out (bias) */
    static const struct {
        const char *model;
        int64_t in, out;
        double spec_m;
    } proj[] = {
        {"proj-qwen2-0.5b", 3072, 896, 3.56},
        {"proj-qwen2-1.5b", 3072, 1536, 7.08},
        {"proj-qwen2-7b", 3072, 3584, 23.86},
        {"proj-vicuna-7b", 1024, 4096, 20.98},
    };
    for (size_t i = 0; i < sizeof proj / sizeof *proj; i++) {
        vlm_plan_facts f;
        vlm_error err = {0};
        cr_assert_eq(vlm_model_facts(proj[i].model, 0, 0, &f, &err), VLM_OK, "%s", err.msg);
        int64_t want =
            proj[i].in * proj[i].out + proj[i].out + proj[i].out * proj[i].out + proj[i].out;
        cr_expect_eq(f.params, want, "%s: %lld params", proj[i].model, (long long)f.params);
        cr_expect(fabs((double)f.params / 1e6 - proj[i].spec_m) <= 0.005, "%s: %.3f M",
                  proj[i].model, (double)f.params / 1e6);
        cr_expect_eq(f.feature_dim, proj[i].out);
        cr_expect_eq(f.input_count, (int64_t)f.tokens * proj[i].in);
    }
}

Test(llm, macs_follow_the_spec_formula) {
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("qwen2-0.5b", 0, 0, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(f.tokens, 280);
    cr_assert_eq(f.macs, cfg_macs(&QWEN2_05B, 280),
                 "qwen2-0.5b at 280 tokens: %lld MACs, spec %lld", (long long)f.macs,
                 (long long)cfg_macs(&QWEN2_05B, 280));
    /* spec 6.1's worked numbers: 0.200 TFLOPs linear + 0.007 TFLOPs attention with c = 1 */
    double tf = 2.0 * (double)f.macs / 1e12;
    cr_assert(tf > 0.200 + 0.0035 - 0.001 && tf < 0.207 + 0.001, "%lld", (long long)f.macs);
    /* the other models, at other lengths and with ids or embeddings */
    static const struct {
        const cfg *c;
        int tokens, ids;
    } other[] = {
        {&QWEN2_15B, 280, 0}, {&QWEN2_7B, 616, 1}, {&VICUNA_7B, 616, 0}, {&QWEN2_05B, 7330, 1}};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        vlm_plan_params p = vlm_plan_default_params();
        p.model = other[i].c->model;
        p.tokens = other[i].tokens;
        p.input_ids = other[i].ids;
        cr_assert_eq(vlm_plan_facts_of(&p, &f, &err), VLM_OK, "%s", err.msg);
        cr_expect_eq(f.macs, cfg_macs(other[i].c, other[i].tokens),
                     "%s N=%d: %lld MACs, "
                     "spec %lld",
                     p.model, p.tokens, (long long)f.macs,
                     (long long)cfg_macs(other[i].c, other[i].tokens));
        cr_expect_eq(f.input_count, other[i].ids ? p.tokens : p.tokens * other[i].c->d);
    }
    /* the scored pairs lie between the causal half and the full matrix, and long sequences
     * come close to the half: 7330 tokens in 16 blocks score (16 + 1) / 32 of N^2 */
    for (int64_t n = 1; n <= 9000; n += 37) {
        int64_t pairs = causal_pairs(n);
        cr_assert(pairs >= n * (n + 1) / 2 && pairs <= n * n, "n %lld", (long long)n);
    }
    cr_expect(fabs((double)causal_pairs(7330) / (7330.0 * 7330.0) - 17.0 / 32.0) < 0.002);
}

/* ---- projector parity ------------------------------------------------------------------- */

/* Seeded mlp2x_gelu weights (FastVLM names) and features; the expected output in float64 from
 * the stored float32 values: Linear -> GELU (exact, erf) -> Linear. */
static const char PROJ_PY[] =
    "import json, struct, sys\n"
    "import numpy as np, torch\n"
    "d = sys.argv[1]\n"
    "g = torch.Generator().manual_seed(11)\n"
    "def uni(shape, a):\n"
    "    t = (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1) * a\n"
    "    return t.float().double()\n"
    "W = [('model.mm_projector.0.weight', uni((896, 3072), (3 / 3072) ** 0.5)),\n"
    "     ('model.mm_projector.0.bias', uni((896,), 0.1)),\n"
    "     ('model.mm_projector.2.weight', uni((896, 896), (3 / 896) ** 0.5)),\n"
    "     ('model.mm_projector.2.bias', uni((896,), 0.1))]\n"
    "x = torch.randn((5, 3072), generator=g, dtype=torch.float64).float().double()\n"
    "w0, b0, w2, b2 = (t for _, t in W)\n"
    "h = torch.nn.functional.gelu(x @ w0.t() + b0)\n"
    "y = h @ w2.t() + b2\n"
    "header = {}; blobs = []; off = 0\n"
    "for name, t in W:\n"
    "    raw = t.numpy().astype('<f4').tobytes()\n"
    "    header[name] = dict(dtype='F32', shape=list(t.shape), data_offsets=[off, off + "
    "len(raw)])\n"
    "    blobs.append(raw); off += len(raw)\n"
    "hb = json.dumps(header).encode(); hb += b' ' * (-len(hb) % 8)\n"
    "open(d + '/proj.safetensors', 'wb').write(struct.pack('<Q', len(hb)) + hb + b''.join(blobs))\n"
    "np.save(d + '/features.npy', x.numpy().astype(np.float32))\n"
    "np.save(d + '/out.npy', y.numpy().astype(np.float32))\n";

Test(llm, projector_matches_pytorch) {
    python(PROJ_PY, dir);
    vlm_npy x = {0}, ref = {0};
    read_npy("features.npy", &x);
    read_npy("out.npy", &ref);
    cr_assert_eq(ref.count, 5 * 896);
    char path[128];
    snprintf(path, sizeof path, "%s/proj.safetensors", dir);
    vlm_ctx *ctx = ctx_new();
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "proj-qwen2-0.5b";
    p.tokens = 5;
    p.weights = path;
    vlm_plan *plan;
    vlm_error err = {0};
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    cr_assert_eq(f.out_rows, 5);
    cr_assert_eq(f.feature_dim, 896);
    cr_assert_eq(f.input_count, x.count);
    float *out = malloc((size_t)ref.count * sizeof *out);
    cr_assert_eq(vlm_plan_run(plan, x.data, out, NULL, &err), VLM_OK, "%s", err.msg);
    double rel = max_rel(out, ref.data, ref.count);
    cr_log_info("proj-qwen2-0.5b N=5: max rel %.2e", rel);
    cr_expect(rel <= 1e-4, "projector differs from PyTorch: max rel %.3e", rel);
    free(out);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    vlm_npy_free(&x);
    vlm_npy_free(&ref);
}
