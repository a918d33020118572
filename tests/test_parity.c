/* The engine against an independent PyTorch implementation (tests/torch/fastvit_ref.py, run
 * with Debian's python3-torch): seeded weights written as safetensors with the real checkpoint
 * names, a seeded input, and the expected output computed in float64. The engine loads the
 * file and must agree to 1e-4 relative (fp32). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "eval/eval.h"

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/vlm_parity_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(parity, .init = make_dir, .fini = remove_dir);

static void reference(const char *model, const char *scheme, const char *form, int h, int w,
                      const char *extra) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/fastvit_ref.py --model %s --scheme %s "
                        "--form %s --height %d --width %d --seed 7 --weights %s/w.safetensors "
                        "--input %s/in.npy --output %s/out.npy --pooled %s/pooled.npy %s "
                        "> %s/ref.log 2>&1",
             model, scheme, form, h, w, dir, dir, dir, dir, extra, dir);
    cr_assert_eq(system(cmd), 0, "reference failed: %s (see the log in %s)", cmd, dir);
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        mag = fmax(mag, fabs((double)b[i]));
    }
    return diff / fmax(mag, 1e-30);
}

static void check(const char *model, const char *scheme, const char *form, int h, int w) {
    reference(model, scheme, form, h, w, "");
    char path[256];
    vlm_error err = {0};
    vlm_npy in = {0}, out = {0}, pooled = {0};
    snprintf(path, sizeof path, "%s/in.npy", dir);
    cr_assert_eq(vlm_npy_read_f32(path, &in, &err), VLM_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/out.npy", dir);
    cr_assert_eq(vlm_npy_read_f32(path, &out, &err), VLM_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/pooled.npy", dir);
    cr_assert_eq(vlm_npy_read_f32(path, &pooled, &err), VLM_OK, "%s", err.msg);

    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK, "%s", err.msg);
    vlm_plan_params p = vlm_plan_default_params();
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    p.model = model;
    p.height = h;
    p.width = w;
    p.weights = path;
    p.pooled = 1;
    vlm_plan *plan;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    cr_assert_eq((int64_t)f.tokens * f.feature_dim, out.count, "output size");
    cr_assert_eq(f.embed_dim, pooled.count);
    float *tok = malloc((size_t)out.count * sizeof *tok), *emb = malloc((size_t)pooled.count * 4);
    cr_assert_eq(vlm_plan_run(plan, in.data, tok, emb, &err), VLM_OK, "%s", err.msg);
    double rt = max_rel(tok, out.data, out.count), rp = max_rel(emb, pooled.data, pooled.count);
    cr_log_info("%s %s %s %dx%d: tokens rel %.2e, pooled rel %.2e", model, scheme, form, h, w,
                rt, rp);
    cr_expect(rt <= 1e-4, "%s tokens differ from PyTorch: max rel %.3e", model, rt);
    cr_expect(rp <= 1e-4, "%s pooled embedding differs from PyTorch: max rel %.3e", model, rp);
    free(tok);
    free(emb);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    vlm_npy_free(&in);
    vlm_npy_free(&out);
    vlm_npy_free(&pooled);
}

Test(parity, fastvithd_fastvlm_names_256) { check("fastvithd", "fastvlm", "inference", 256, 256); }
Test(parity, fastvithd_fastvlm_names_non_square_not_multiple_of_64) {
    check("fastvithd", "fastvlm", "inference", 200, 264);
}
Test(parity, fastvithd_timm_training_form_folded_256x320) {
    check("fastvithd", "timm", "train", 256, 320);
}
Test(parity, mci0_timm_inference_256) { check("mci0", "timm", "inference", 256, 256); }
Test(parity, mci0_timm_training_form_folded_256) { check("mci0", "timm", "train", 256, 256); }
Test(parity, mci0_timm_non_square) { check("mci0", "timm", "inference", 224, 288); }

/* ---- bad checkpoints: each a clear error naming the file and the problem, never a crash -- */

static vlm_status load(const char *model, const char *file, vlm_error *err) {
    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, err), VLM_OK);
    vlm_plan_params p = vlm_plan_default_params();
    p.model = model;
    p.height = p.width = 256;
    p.weights = file;
    vlm_plan *plan = NULL;
    vlm_status st = vlm_plan_create(ctx, &p, &plan, err);
    cr_assert(st != VLM_OK || plan);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    return st;
}

/* Rewrites the reference checkpoint with python: drop one tensor or change one shape. */
static void edit(const char *action, const char *name) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " -c \"\nimport json, struct\n"
                        "d = open('%s/w.safetensors', 'rb').read()\n"
                        "n = struct.unpack('<Q', d[:8])[0]; h = json.loads(d[8:8 + n]); "
                        "data = d[8 + n:]\n"
                        "out = {}; blobs = []; off = 0\n"
                        "for k, v in h.items():\n"
                        "    if k == '__metadata__': continue\n"
                        "    b = data[v['data_offsets'][0]:v['data_offsets'][1]]\n"
                        "    if k == '%s' and '%s' == 'drop': continue\n"
                        "    if k == '%s' and '%s' == 'reshape': v['shape'] = [len(b) // 4]\n"
                        "    out[k] = dict(dtype=v['dtype'], shape=v['shape'], "
                        "data_offsets=[off, off + len(b)]); blobs.append(b); off += len(b)\n"
                        "hb = json.dumps(out).encode(); hb += b' ' * (-len(hb) %% 8)\n"
                        "open('%s/bad.safetensors', 'wb').write(struct.pack('<Q', len(hb)) + hb "
                        "+ b''.join(blobs))\n\"",
             dir, name, action, name, action, dir);
    cr_assert_eq(system(cmd), 0);
}

Test(parity, missing_tensor_names_the_tensor_and_expected_shape) {
    reference("mci0", "timm", "inference", 256, 256, "--skip-check");
    edit("drop", "stages.2.blocks.3.mlp.fc1.weight");
    char file[128];
    snprintf(file, sizeof file, "%s/bad.safetensors", dir);
    vlm_error err = {0};
    cr_assert_eq(load("mci0", file, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, file), "%s", err.msg);
    cr_assert(strstr(err.msg, "missing tensor 'stages.2.blocks.3.mlp.fc1.weight'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "[768, 256, 1, 1]"), "%s", err.msg);
}

Test(parity, wrong_shape_names_expected_and_found) {
    reference("mci0", "timm", "inference", 256, 256, "--skip-check");
    edit("reshape", "stages.3.blocks.1.token_mixer.proj.weight");
    char file[128];
    snprintf(file, sizeof file, "%s/bad.safetensors", dir);
    vlm_error err = {0};
    cr_assert_eq(load("mci0", file, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "'stages.3.blocks.1.token_mixer.proj.weight' has shape [262144] but "
                              "the model expects [512, 512]"),
              "%s", err.msg);
}

Test(parity, checkpoint_of_another_model_is_refused) {
    reference("mci0", "timm", "inference", 256, 256, "--skip-check");
    char file[128];
    snprintf(file, sizeof file, "%s/w.safetensors", dir);
    vlm_error err = {0};
    cr_assert_eq(load("fastvithd", file, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "stem.0.reparam_conv.weight") && strstr(err.msg, "[96, 3, 3, 3]"),
              "%s", err.msg);
}

Test(parity, truncated_checkpoint_is_a_format_error) {
    reference("mci0", "timm", "inference", 256, 256, "--skip-check");
    char file[128];
    snprintf(file, sizeof file, "%s/w.safetensors", dir);
    cr_assert_eq(truncate(file, 1000000), 0);
    vlm_error err = {0};
    cr_assert_eq(load("mci0", file, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, file), "%s", err.msg);
}

Test(parity, file_without_a_fastvit_is_refused) {
    char file[128];
    snprintf(file, sizeof file, "%s/other.safetensors", dir);
    FILE *f = fopen(file, "wb");
    const char hdr[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint64_t n = sizeof hdr - 1;
    fwrite(&n, 8, 1, f);
    fwrite(hdr, 1, n, f);
    fwrite("\0\0\0\0", 1, 4, f);
    fclose(f);
    vlm_error err = {0};
    cr_assert_eq(load("mci0", file, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "no FastViT image encoder found"), "%s", err.msg);
}
