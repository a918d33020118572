#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int vlm_cmd_models(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'j')
            return vlm_cli_bad_option("models", argv[optind - 1]);
        json = 1;
    }
    if (optind < argc)
        return vlm_cli_bad_option("models", argv[optind]);
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-16s %-9s %10s %10s %9s  %-24s %s\n", "model", "kind", "params", "no-head",
               "GMACs", "tokens", "at the default input");
    for (int i = 0; i < vlm_model_count(); i++) {
        const vlm_model_info *m = vlm_model_at(i);
        vlm_plan_facts f;
        vlm_error err = {0};
        if (vlm_model_facts(m->name, m->default_res, m->default_res, &f, &err) != VLM_OK)
            return vlm_cli_fail("models", &err);
        if (json) {
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:s, s:i, s:i, "
                               "s:i, s:s}",
                               "name", m->name, "kind", m->kind, "description", m->description,
                               "family",
                               m->family, "params", (json_int_t)f.params, "params_no_head",
                               (json_int_t)f.params_no_head, "macs", (json_int_t)f.macs,
                               "default_res", m->default_res, "min_res", m->min_res, "stride",
                               m->stride, "token_formula", m->token_formula, "tokens", f.tokens,
                               "feature_dim", m->feature_dim, "embed_dim", m->embed_dim,
                               "checkpoints", m->checkpoints));
        } else {
            char in[96];
            if (!strcmp(m->kind, "vision"))
                snprintf(in, sizeof in, "%dx%d image -> %d tokens x %d", m->default_res,
                         m->default_res, f.tokens, f.feature_dim);
            else if (!strcmp(m->kind, "projector"))
                snprintf(in, sizeof in, "%d x %d features -> %d x %d", f.tokens, m->embed_dim,
                         f.tokens, f.feature_dim);
            else if (!strcmp(m->kind, "text"))
                snprintf(in, sizeof in, "%d token ids -> embedding of %d", f.tokens,
                         f.feature_dim);
            else
                snprintf(in, sizeof in, "prefill of %d tokens x %d -> %d logits", f.tokens,
                         m->embed_dim, f.feature_dim);
            printf("%-16s %-9s %9.2fM %9.2fM %9.2f  %-24s %s\n", m->name, m->kind,
                   f.params / 1e6, f.params_no_head / 1e6, f.macs / 1e9, m->token_formula, in);
        }
    }
    if (json) {
        json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(arr);
    } else {
        puts("\nparams: inference-form checkpoint parameters (vision: CLIP projection head "
             "included; no-head without it).\nGMACs: one forward pass at the default input "
             "(vision: head excluded; llm: prefill of N tokens\n  with the full N x N attention "
             "and the LM head on the last position, spec section 6.1).\ncheckpoints: "
             FASTVIT_CKPT_HELP "\n  LLMs load HF safetensors (one file or "
             "model.safetensors.index.json shards); projectors FastVLM's\n  "
             "model.mm_projector.{0,2}.");
    }
    return VLM_EXIT_OK;
}
