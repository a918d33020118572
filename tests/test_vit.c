/* The baseline encoders (engine/models/vit.c, convnext.c) against the independent PyTorch
 * reference tests/torch/vit_ref.py: seeded weights under real checkpoint names, a seeded
 * input, expected features and pooled embeddings in float64; the engine must agree to 1e-4
 * relative. Also: position-table resizing (inputs off the native grid, up and down), AnyRes
 * tiles as one batch, the AnyRes token counts against the reference rules, and the spec's
 * parameter totals. */
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
    snprintf(dir, sizeof dir, "/tmp/vlm_vit_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(vit, .init = make_dir, .fini = remove_dir);

static double max_rel(const float *a, const float *b, int64_t n) {
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        mag = fmax(mag, fabs((double)b[i]));
    }
    return diff / fmax(mag, 1e-30);
}

/* Runs the reference (input h x w, `tiles` images) and the engine on an image of
 * plan_h x plan_w (the same as h x w except for AnyRes), and compares. */
static void check_mode(const char *model, const char *scheme, int h, int w, int tiles,
                       int plan_h, int plan_w, bool pooled, bool dense) {
    char cmd[1024], path[256];
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/vit_ref.py --model %s --scheme %s "
                        "--height %d --width %d --tiles %d --seed 11 --weights %s/w.safetensors "
                        "--input %s/in.npy --output %s/out.npy %s%s%s > %s/ref.log 2>&1",
             model, scheme, h, w, tiles, dir, dir, dir, dense ? "--dense " : "",
             pooled ? "--pooled " : "", pooled ? "p.npy" : "", dir);
    /* --pooled takes a path: put it in the temp dir */
    if (pooled) {
        char *at = strstr(cmd, "--pooled p.npy");
        char tail[512];
        snprintf(tail, sizeof tail, "%s", at + strlen("--pooled p.npy"));
        snprintf(at, sizeof cmd - (size_t)(at - cmd), "--pooled %s/pooled.npy%s", dir, tail);
    }
    cr_assert_eq(system(cmd), 0, "reference failed: %s", cmd);
    vlm_error err = {0};
    vlm_npy in = {0}, out = {0}, pe = {0};
    snprintf(path, sizeof path, "%s/in.npy", dir);
    cr_assert_eq(vlm_npy_read_f32(path, &in, &err), VLM_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/out.npy", dir);
    cr_assert_eq(vlm_npy_read_f32(path, &out, &err), VLM_OK, "%s", err.msg);
    if (pooled) {
        snprintf(path, sizeof path, "%s/pooled.npy", dir);
        cr_assert_eq(vlm_npy_read_f32(path, &pe, &err), VLM_OK, "%s", err.msg);
    }
    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK, "%s", err.msg);
    vlm_plan_params p = vlm_plan_default_params();
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    p.model = model;
    p.height = plan_h;
    p.width = plan_w;
    p.weights = path;
    p.pooled = pooled;
    p.dense = dense;
    vlm_plan *plan;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    cr_assert_eq(f.input_count, in.count, "input size %lld vs %lld", (long long)f.input_count,
                 (long long)in.count);
    cr_assert_eq((int64_t)f.out_rows * f.feature_dim, out.count, "output size");
    float *tok = malloc((size_t)out.count * sizeof *tok);
    float *emb = pooled ? malloc((size_t)pe.count * sizeof *emb) : NULL;
    cr_assert_eq(vlm_plan_run(plan, in.data, tok, emb, &err), VLM_OK, "%s", err.msg);
    double rt = max_rel(tok, out.data, out.count);
    cr_log_info("%s %s %dx%d x%d: features rel %.2e", model, scheme, h, w, tiles, rt);
    cr_expect(rt <= 1e-4, "%s features differ from PyTorch: max rel %.3e", model, rt);
    if (pooled) {
        cr_assert_eq(f.embed_dim, pe.count);
        double rp = max_rel(emb, pe.data, pe.count);
        cr_expect(rp <= 1e-4, "%s pooled embedding differs from PyTorch: max rel %.3e", model,
                  rp);
    }
    free(tok);
    free(emb);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    vlm_npy_free(&in);
    vlm_npy_free(&out);
    vlm_npy_free(&pe);
}

static void check(const char *model, const char *scheme, int h, int w, int tiles, int plan_h,
                  int plan_w, bool pooled) {
    check_mode(model, scheme, h, w, tiles, plan_h, plan_w, pooled, false);
}

/* Zero-shot segmentation's dense output: ln_post + proj on every patch token. */
Test(vit, clip_dense_patch_embeddings) {
    check_mode("vit-tiny", "openclip", 40, 48, 1, 40, 48, false, true);
}

/* MCi dense embeddings: the projection commutes with the mean, so their mean over positions is
 * the pooled embedding. */
Test(vit, mci_dense_embeddings_average_to_the_pooled_one) {
    vlm_error err = {0};
    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK, "%s", err.msg);
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "mci0";
    p.height = p.width = 128;
    p.pooled = 1;
    vlm_plan *pooled, *dense;
    cr_assert_eq(vlm_plan_create(ctx, &p, &pooled, &err), VLM_OK, "%s", err.msg);
    p.pooled = 0;
    p.dense = 1;
    cr_assert_eq(vlm_plan_create(ctx, &p, &dense, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(dense, &f);
    cr_assert_eq(f.feature_dim, 512);
    cr_assert_eq(f.out_rows, 16);
    float *in = malloc(3 * 128 * 128 * sizeof *in), *emb = malloc(512 * sizeof *emb);
    float *rows = malloc((size_t)f.out_rows * 512 * sizeof *rows);
    for (int i = 0; i < 3 * 128 * 128; i++)
        in[i] = (float)((i * 7919) % 1000) / 1000.0f;
    cr_assert_eq(vlm_plan_run(pooled, in, NULL, emb, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(vlm_plan_run(dense, in, rows, NULL, &err), VLM_OK, "%s", err.msg);
    double diff = 0, mag = 0;
    for (int j = 0; j < 512; j++) {
        double m = 0;
        for (int r = 0; r < f.out_rows; r++)
            m += rows[r * 512 + j];
        m /= f.out_rows;
        diff = fmax(diff, fabs(m - emb[j]));
        mag = fmax(mag, fabs((double)emb[j]));
    }
    cr_expect(diff / mag < 1e-5, "mean of dense rows vs pooled: %.3e", diff / mag);
    free(in);
    free(emb);
    free(rows);
    vlm_plan_destroy(pooled);
    vlm_plan_destroy(dense);
    vlm_ctx_destroy(ctx);
}

Test(vit, clip_openclip_names_native_grid_with_pooled) {
    check("vit-tiny", "openclip", 32, 32, 1, 32, 32, true);
}
Test(vit, clip_position_table_upsampled_non_square) {
    check("vit-tiny", "openclip", 48, 40, 1, 48, 40, true);
}
Test(vit, clip_position_table_downsampled_antialiased) {
    check("vit-tiny", "openclip", 16, 24, 1, 16, 24, true);
}
Test(vit, clip_hf_names_vlm_features) { check("vit-tiny", "hf", 40, 40, 1, 40, 40, false); }
Test(vit, siglip_hf_names_with_map_head) {
    check("siglip-tiny", "hf", 32, 32, 1, 32, 32, true);
}
Test(vit, siglip_position_table_resized) {
    check("siglip-tiny", "hf", 56, 48, 1, 56, 48, true);
}
/* A 64x64 image with 32-pixel tiles: the 2x2 pinpoint, so the base image + 4 tiles run as one
 * batch of 5 and each tile's features must equal the tile run alone. */
Test(vit, anyres_tiles_run_as_one_batch) {
    check("siglip-tiny-anyres", "hf", 32, 32, 5, 64, 64, false);
}
Test(vit, convnext_timm_names_with_dropped_last_block) {
    check("convnext-tiny", "timm", 64, 64, 1, 64, 64, false);
}
Test(vit, convnext_hf_names_non_square) {
    check("convnext-tiny", "hf", 80, 96, 1, 80, 96, false);
}

/* AnyRes token counts against the reference rules, re-implemented independently in Python
 * here from LLaVA-NeXT's select_best_resolution / unpad_image / anyres_max_9 code. */
Test(vit, anyres_token_counts_match_the_reference_rules) {
    static const int sizes[][2] = {{1152, 1152}, {384, 384}, {768, 768},  {480, 640},
                                   {1080, 1920}, {2000, 300}, {1, 1},    {4000, 3000},
                                   {2304, 2304}, {500, 1333}, {336, 336}, {1024, 768}};
    char script[4096], cmd[4600];
    int len = snprintf(script, sizeof script, "%s",
        "import math\n"
        "def best(w,h):\n"
        "  bf=None; me=0; mw=float('inf')\n"
        "  for i in range(1,7):\n"
        "    for j in range(1,7):\n"
        "      W,H=i*384,j*384\n"
        "      s=min(W/w,H/h); dw,dh=int(w*s),int(h*s)\n"
        "      e=min(dw*dh,w*h); wa=W*H-e\n"
        "      if e>me or (e==me and wa<mw): me,mw,bf=e,wa,(W,H)\n"
        "  return bf\n"
        "def toks(h,w):\n"
        "  W,H=best(w,h); th,tw=H//384,W//384\n"
        "  ch,cw=th*27,tw*27\n"
        "  if w/h>cw/ch:\n"
        "    nh=int(h*(cw/w)); p=(ch-nh)//2; ch=ch-2*p\n"
        "  else:\n"
        "    nw=int(w*(ch/h)); p=(cw-nw)//2; cw=cw-2*p\n"
        "  t=math.sqrt(ch*cw/(9*27*27))\n"
        "  if t>1.1: ch=int(ch//t); cw=int(cw//t)\n"
        "  return 1+th*tw, 729+ch*(cw+1)\n"
        "for h,w in [");
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        len += snprintf(script + len, sizeof script - (size_t)len, "(%d,%d),", sizes[i][0],
                         sizes[i][1]);
    snprintf(script + len, sizeof script - (size_t)len, "]:\n  print(*toks(h,w))\n");
    char sp[128];
    snprintf(sp, sizeof sp, "%s/anyres.py", dir);
    FILE *fp = fopen(sp, "w");
    cr_assert_not_null(fp);
    fputs(script, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, VLM_PYTHON " %s", sp);
    FILE *pp = popen(cmd, "r");
    cr_assert_not_null(pp);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        int tiles, tokens;
        cr_assert_eq(fscanf(pp, "%d %d", &tiles, &tokens), 2);
        vlm_anyres a = vlm_anyres_layout(sizes[i][0], sizes[i][1]);
        cr_expect_eq(a.tiles, tiles, "%dx%d: %d tiles, reference %d", sizes[i][0], sizes[i][1],
                     a.tiles, tiles);
        cr_expect_eq(a.tokens, tokens, "%dx%d: %d tokens, reference %d", sizes[i][0],
                     sizes[i][1], a.tokens, tokens);
    }
    cr_assert_eq(pclose(pp), 0);
    /* the headline case, derived by hand in the README: 3x3 tiles + base, 81 x (81 + 1) + 729 */
    vlm_anyres a = vlm_anyres_layout(1152, 1152);
    cr_assert_eq(a.tiles, 10);
    cr_assert_eq(a.tokens, 7371);
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("siglip-anyres", 1152, 1152, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(f.tokens, 7371);
    cr_assert_eq(f.out_rows, 10 * 729);
}

/* Spec totals (models.md section 3): ViT-B/16 86.2 M, ViT-L/14-336 304.3 M with projection,
 * SigLIP SO400M 428.2 M with the MAP head; GMACs of the VLM path 17.6, 183 (23 blocks) and
 * 321 (26 blocks). */
Test(vit, parameter_and_mac_totals_match_the_spec) {
    static const struct {
        const char *model;
        int res;
        double params_m, gmacs;
    } want[] = {{"vit-b16", 224, 86.2, 17.6},
                {"vit-l14-336", 336, 304.3, 183.0},
                {"siglip", 384, 428.2, 321.0}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        vlm_plan_facts f;
        vlm_error err = {0};
        cr_assert_eq(vlm_model_facts(want[i].model, want[i].res, want[i].res, &f, &err), VLM_OK,
                     "%s", err.msg);
        cr_expect(fabs(f.params / 1e6 - want[i].params_m) < 0.05, "%s: %.2f M params",
                  want[i].model, f.params / 1e6);
        cr_expect(fabs(f.macs / 1e9 - want[i].gmacs) / want[i].gmacs < 0.005, "%s: %.2f GMACs",
                  want[i].model, f.macs / 1e9);
    }
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("vit-l14-336", 336, 336, &f, &err), VLM_OK, "%s", err.msg);
    cr_expect_eq(f.tokens, 576); /* LLaVA-1.5: 24 x 24 patches, class token dropped */
    cr_assert_eq(vlm_model_facts("convnext-l", 768, 768, &f, &err), VLM_OK, "%s", err.msg);
    cr_expect_eq(f.tokens, 144); /* ConvLLaVA: stride 64 */
    cr_assert_eq(vlm_model_facts("convnext-l", 1024, 1024, &f, &err), VLM_OK, "%s", err.msg);
    cr_expect_eq(f.tokens, 256);
}

Test(vit, impossible_resolution_is_refused_with_the_range) {
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("vit-l14-336", 10, 336, &f, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "vit-l14-336 cannot take a 10x336 input"), "%s", err.msg);
}

/* A checkpoint of another model is refused naming the names looked for; a missing tensor is
 * named with its expected shape. */
Test(vit, checkpoint_of_another_model_or_missing_tensor_is_refused) {
    char cmd[1024], w[128];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/vit_ref.py --model convnext-tiny "
                        "--scheme timm --height 64 --width 64 --weights %s --input %s/in.npy "
                        "--output %s/out.npy > /dev/null",
             w, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    vlm_ctx *ctx;
    vlm_error err = {0};
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK, "%s", err.msg);
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "vit-tiny";
    p.height = p.width = 32;
    p.weights = w;
    vlm_plan *plan = NULL;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "no vision transformer found"), "%s", err.msg);
    cr_assert(strstr(err.msg, "w.safetensors"), "%s", err.msg);
    p.model = "text-tiny";
    p.height = p.width = 0;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "no text transformer found"), "%s", err.msg);
    /* the right model with a smaller config: the first mismatching tensor is named */
    p.model = "convnext-l";
    p.height = p.width = 128;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "stem.0.weight"), "%s", err.msg);
    vlm_ctx_destroy(ctx);
}
