#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "engine/engine.h"

/* Totals from shared/spec/models.md (1.3, 1.9, 2.1), in millions, to the 0.01 M they give. */
static void expect_params(const char *model, double total_m, double no_head_m) {
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts(model, 256, 256, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert(fabs(f.params / 1e6 - total_m) < 0.005, "%s params %.4f M, spec %.2f M", model,
              f.params / 1e6, total_m);
    if (no_head_m > 0)
        cr_assert(fabs(f.params_no_head / 1e6 - no_head_m) < 0.005, "%s no head %.4f M", model,
                  f.params_no_head / 1e6);
}

Test(models, fastvithd_params_match_spec) { expect_params("fastvithd", 125.07, 122.71); }
Test(models, mci0_params_match_spec) { expect_params("mci0", 11.36, 0); }
Test(models, mci1_params_match_spec) { expect_params("mci1", 21.46, 0); }
Test(models, mci2_params_match_spec) { expect_params("mci2", 35.70, 0); }

Test(models, fastvithd_macs_and_tokens_match_spec) {
    const int res[] = {256, 512, 768, 1024, 1536, 2048};
    const double gmacs[] = {14.8, 59.6, 135.2, 243.4, 566.8, 1055.6};
    for (int i = 0; i < 6; i++) {
        vlm_plan_facts f;
        vlm_error err = {0};
        cr_assert_eq(vlm_model_facts("fastvithd", res[i], res[i], &f, &err), VLM_OK, "%s",
                     err.msg);
        cr_assert(fabs(f.macs / 1e9 - gmacs[i]) < 0.05, "@%d: %.3f GMACs, spec %.1f", res[i],
                  f.macs / 1e9, gmacs[i]);
        cr_assert_eq(f.tokens, (res[i] / 64) * (res[i] / 64));
        cr_assert_eq(f.feature_dim, 3072);
    }
}

Test(models, mci_macs_match_spec) {
    const char *m[] = {"mci0", "mci1", "mci2"};
    const double gmacs[] = {2.38, 4.66, 7.83};
    for (int i = 0; i < 3; i++) {
        vlm_plan_facts f;
        vlm_error err = {0};
        cr_assert_eq(vlm_model_facts(m[i], 256, 256, &f, &err), VLM_OK, "%s", err.msg);
        cr_assert(fabs(f.macs / 1e9 - gmacs[i]) < 0.005, "%s %.4f GMACs, spec %.2f", m[i],
                  f.macs / 1e9, gmacs[i]);
        cr_assert_eq(f.tokens, 64);
    }
}

Test(models, tokens_follow_the_ceil_rule_on_odd_sizes) {
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("fastvithd", 200, 264, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(f.grid_h, 4); /* ceil(200/64) */
    cr_assert_eq(f.grid_w, 5); /* ceil(264/64) */
    cr_assert_eq(vlm_model_facts("mci0", 257, 300, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(f.grid_h, 9);
    cr_assert_eq(f.grid_w, 10);
}

Test(models, resolution_below_minimum_is_a_clear_error) {
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("fastvithd", 32, 256, &f, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "fastvithd") && strstr(err.msg, "32x256"), "%s", err.msg);
    cr_assert_eq(vlm_model_facts("nosuchmodel", 256, 256, &f, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "nosuchmodel"), "%s", err.msg);
}

Test(models, a_plan_that_cannot_fit_in_memory_is_refused_before_allocating) {
    /* FastViTHD at 16384 px needs ~38 GiB of activations: more than this machine has. */
    vlm_plan_facts f;
    vlm_error err = {0};
    cr_assert_eq(vlm_model_facts("fastvithd", 16384, 16384, &f, &err), VLM_OK, "%s", err.msg);
    cr_assert(f.activation_bytes > (size_t)32 << 30, "%zu", f.activation_bytes);
    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK);
    vlm_plan_params p = vlm_plan_default_params();
    p.height = p.width = 16384;
    vlm_plan *plan = NULL;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_ERR_NOMEM);
    cr_assert_null(plan);
    cr_assert(strstr(err.msg, "16384x16384") && strstr(err.msg, "available"), "%s", err.msg);
    vlm_ctx_destroy(ctx);
}

Test(models, synthetic_weights_are_deterministic_and_finite) {
    vlm_error err = {0};
    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK);
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "mci0";
    p.height = p.width = 128;
    p.seed = 42;
    float *in = malloc(3 * 128 * 128 * sizeof *in), out[2][16 * 1024];
    for (int i = 0; i < 3 * 128 * 128; i++)
        in[i] = (float)((i * 37) % 256) / 255.0f;
    for (int k = 0; k < 2; k++) {
        vlm_plan *plan;
        cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
        cr_assert_eq(vlm_plan_run(plan, in, out[k], NULL, &err), VLM_OK, "%s", err.msg);
        vlm_plan_destroy(plan);
    }
    double sq = 0;
    for (int i = 0; i < 16 * 1024; i++) {
        cr_assert(isfinite(out[0][i]));
        cr_assert_eq(out[0][i], out[1][i], "run-to-run difference at %d", i);
        sq += (double)out[0][i] * out[0][i];
    }
    cr_assert(sq > 0, "all-zero output");
    free(in);
    vlm_ctx_destroy(ctx);
}

Test(models, the_smallest_input_runs_and_gives_one_token) {
    /* a 1x1 grid: the SE and head mean over one pixel is a copy (oneDNN rejects the reduction) */
    vlm_error err = {0};
    vlm_ctx *ctx;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK);
    vlm_plan_params p = vlm_plan_default_params();
    p.model = "mci0";
    p.height = p.width = 32;
    p.pooled = 1;
    vlm_plan *plan;
    cr_assert_eq(vlm_plan_create(ctx, &p, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    cr_assert_eq(f.tokens, 1);
    float in[3 * 32 * 32], out[1024], pooled[512];
    for (int i = 0; i < 3 * 32 * 32; i++)
        in[i] = (float)(i % 7) / 7.0f;
    cr_assert_eq(vlm_plan_run(plan, in, out, pooled, &err), VLM_OK, "%s", err.msg);
    for (int i = 0; i < 512; i++)
        cr_assert(isfinite(pooled[i]));
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
}
