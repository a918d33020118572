#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/eval.h"

int vlm_cmd_infer(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"weights", required_argument, NULL, 'w'},
        {"input", required_argument, NULL, 'i'},   {"output", required_argument, NULL, 'o'},
        {"pooled", required_argument, NULL, 'p'},  {"dtype", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'}, {0}};
    vlm_plan_params pp = vlm_plan_default_params();
    vlm_ctx_params cp = vlm_ctx_default_params();
    const char *input = NULL, *output = NULL, *pooled = NULL, *dtype = "f32";
    vlm_error err = {0};
    int c;
    pp.model = NULL;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': pp.model = optarg; break;
        case 'w': pp.weights = optarg; break;
        case 'i': input = optarg; break;
        case 'o': output = optarg; break;
        case 'p': pooled = optarg; break;
        case 'd': dtype = optarg; break;
        case 't':
            if (vlm_cli_parse_int("infer", "--threads", optarg, 1, 1024, &cp.threads))
                return VLM_EXIT_USAGE;
            break;
        default: return vlm_cli_bad_option("infer", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return vlm_cli_bad_option("infer", argv[optind]);
    if (!pp.model || !pp.weights || !input || (!output && !pooled)) {
        fputs("vlmbench infer: --model, --weights, --input and --output (or --pooled) are "
              "required\n",
              stderr);
        return VLM_EXIT_USAGE;
    }
    if (vlm_dtype_parse(dtype, &pp.dtype, &err) != VLM_OK)
        return vlm_cli_fail("infer", &err);
    vlm_npy x = {0};
    if (vlm_npy_read_f32(input, &x, &err) != VLM_OK)
        return vlm_cli_fail("infer", &err);
    const vlm_model_info *mi = vlm_model_find(pp.model);
    if (!mi) {
        vlm_npy_free(&x);
        vlm_error_set(&err, VLM_ERR_INVALID, "unknown model '%s' (see `vlmbench models`)",
                      pp.model);
        return vlm_cli_fail("infer", &err);
    }
    int nd = x.ndim;
    bool ok;
    if (!strcmp(mi->kind, "vision")) {
        ok = (nd == 4 && x.shape[0] == 1 && x.shape[1] == 3) || (nd == 3 && x.shape[0] == 3);
        pp.height = ok ? (int)x.shape[nd - 2] : 0;
        pp.width = ok ? (int)x.shape[nd - 1] : 0;
    } else if (!strcmp(mi->kind, "text")) { /* exactly the context length of token ids */
        ok = nd == 1 && x.shape[0] == mi->default_res;
        pp.tokens = mi->default_res;
    } else if (!strcmp(mi->kind, "llm") && nd == 1) { /* token ids */
        ok = x.shape[0] > 0 && x.shape[0] <= 131072;
        pp.input_ids = 1;
        pp.tokens = (int)x.shape[0];
    } else { /* [N, width] features or input embeddings */
        ok = nd == 2 && x.shape[1] == mi->embed_dim && x.shape[0] > 0 && x.shape[0] <= 131072;
        pp.tokens = ok ? (int)x.shape[0] : 0;
    }
    if (!ok) {
        vlm_npy_free(&x);
        if (!strcmp(mi->kind, "vision"))
            vlm_error_set(&err, VLM_ERR_INVALID,
                          "%s: input must be a preprocessed image of shape [1, 3, H, W] or "
                          "[3, H, W] (NCHW float)",
                          input);
        else if (!strcmp(mi->kind, "text"))
            vlm_error_set(&err, VLM_ERR_INVALID,
                          "%s: input must be [%d] token ids (as floats, the tokenizer's "
                          "zero-padded context)",
                          input, mi->default_res);
        else
            vlm_error_set(&err, VLM_ERR_INVALID,
                          "%s: input must be [N, %d] %s%s", input, mi->embed_dim,
                          strcmp(mi->kind, "llm") ? "features" : "input embeddings",
                          strcmp(mi->kind, "llm") ? "" : " or [N] token ids");
        return vlm_cli_fail("infer", &err);
    }
    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    float *tokens = NULL, *emb = NULL;
    int code = VLM_EXIT_OK;
    if (vlm_ctx_create(&cp, &ctx, &err) != VLM_OK ||
        vlm_plan_create(ctx, &pp, &plan, &err) != VLM_OK) {
        code = vlm_cli_fail("infer", &err);
        goto out;
    }
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    tokens = malloc((size_t)f.out_rows * (size_t)f.feature_dim * sizeof *tokens);
    emb = malloc((size_t)(f.embed_dim > 0 ? f.embed_dim : 1) * sizeof *emb);
    if (!tokens || !emb) {
        vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory for the outputs");
        code = vlm_cli_fail("infer", &err);
        goto out;
    }
    if (vlm_plan_run(plan, x.data, tokens, pooled ? emb : NULL, &err) != VLM_OK ||
        (output && vlm_npy_write_f32(output, 2, (int64_t[]){f.out_rows, f.feature_dim}, tokens,
                                     &err) != VLM_OK) ||
        (pooled && vlm_npy_write_f32(pooled, 1, (int64_t[]){f.embed_dim}, emb, &err) != VLM_OK)) {
        code = vlm_cli_fail("infer", &err);
        goto out;
    }
    fprintf(stderr, "vlmbench infer: %s -> [%d, %d]%s\n", pp.model, f.out_rows, f.feature_dim,
            pooled ? " + pooled embedding" : "");
out:
    free(tokens);
    free(emb);
    vlm_npy_free(&x);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    return code;
}
