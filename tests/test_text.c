/* The text towers (engine/models/vit.c, text_*) against tests/torch/text_ref.py: causal
 * (OpenAI CLIP, QuickGELU) and bidirectional (MobileCLIP-S1/S2, GELU) towers, with open_clip
 * and ml-mobileclip checkpoint names, through `vlmbench infer`; 1e-4 relative. Plus the
 * spec's parameter totals and bad token ids. */
#include "engine/engine.h"
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/vlm_text_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(text, .init = make_dir, .fini = remove_dir);

static void check(const char *model, const char *scheme) {
    char cmd[1024], w[128], in[128], out[128], got[128];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(in, sizeof in, "%s/ids.npy", dir);
    snprintf(out, sizeof out, "%s/expected.npy", dir);
    snprintf(got, sizeof got, "%s/got.npy", dir);
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/text_ref.py --model %s --scheme %s "
                        "--seed 5 --weights %s --input %s --output %s",
             model, scheme, w, in, out);
    cr_assert_eq(system(cmd), 0, "reference failed: %s", cmd);
    vlm_run r = vlm_test_run((char *const[]){VLM_BIN, "infer", "--model", (char *)model,
                                             "--weights", w, "--input", in, "--output", got, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    vlm_npy a = {0}, b = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(out, &a, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(vlm_npy_read_f32(got, &b, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(a.count, b.count);
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < a.count; i++) {
        diff = fmax(diff, fabs((double)a.data[i] - b.data[i]));
        mag = fmax(mag, fabs((double)a.data[i]));
    }
    cr_log_info("%s %s: rel %.2e", model, scheme, diff / mag);
    cr_expect(diff / mag <= 1e-4, "%s (%s names) differs from PyTorch: %.3e", model, scheme,
              diff / mag);
    vlm_npy_free(&a);
    vlm_npy_free(&b);
}

Test(text, causal_quickgelu_openclip_names) {
    check("text-tiny", "openclip");
}
Test(text, causal_quickgelu_mobileclip_names) {
    check("text-tiny", "apple");
}
Test(text, bidirectional_gelu_openclip_names) {
    check("text-tiny-bidir", "openclip");
}
Test(text, bidirectional_gelu_mobileclip_names) {
    check("text-tiny-bidir", "apple");
}
/* MobileCLIP-S0's "mct" tower: RepMixerBlocks in training form (BatchNorm branches, layer
 * scales) around transformer layers, folded at load */
Test(text, mobileclip_s0_repmixer_tower_training_form) {
    check("text-tiny-mct", "apple");
}

/* spec 5.1 / 5.2: 63.4 M for the 512-wide towers, 123.6 M for the 768-wide ones (MobileCLIP's
 * README truncates: the count is 123,650,304) */
Test(text, parameter_totals_match_the_spec) {
    static const struct {
        const char *model;
        double m;
    } want[] = {{"text-mobileclip-s0", 42.4}, {"text-clip-b16", 63.4},
                {"text-mobileclip-s1", 63.4}, {"text-mobileclip-b", 63.4},
                {"text-mobileclip-l", 123.6}, {"text-clip-l14", 123.6}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        vlm_plan_facts f;
        vlm_error err = {0};
        cr_assert_eq(vlm_model_facts(want[i].model, 0, 0, &f, &err), VLM_OK, "%s", err.msg);
        cr_expect(fabs(f.params / 1e6 - want[i].m) < 0.06, "%s: %.2f M", want[i].model,
                  f.params / 1e6);
        cr_expect_eq(f.tokens, 77);
    }
}

Test(text, ids_outside_the_vocabulary_or_of_the_wrong_length_are_refused) {
    char w[128], in[128], got[128], cmd[512];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(in, sizeof in, "%s/ids.npy", dir);
    snprintf(got, sizeof got, "%s/got.npy", dir);
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/text_ref.py --model text-tiny --weights "
                        "%s --input %s --output %s",
             w, in, got);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    unlink(got);
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " -c \"import numpy as np; np.save('%s', np.array([599.0, 600.0] + "
                        "[0.0] * 14, dtype=np.float32))\"",
             in);
    cr_assert_eq(system(cmd), 0);
    vlm_run r = vlm_test_run((char *const[]){VLM_BIN, "infer", "--model", "text-tiny", "--weights",
                                             w, "--input", in, "--output", got, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "token id 600 at position 1 is not an integer in [0, 600)"), "%s",
              r.err);
    vlm_run_free(&r);
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " -c \"import numpy as np; np.save('%s', np.zeros(15, np.float32))\"", in);
    cr_assert_eq(system(cmd), 0);
    r = vlm_test_run((char *const[]){VLM_BIN, "infer", "--model", "text-tiny", "--weights", w,
                                     "--input", in, "--output", got, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "input must be [16] token ids"), "%s", r.err);
    cr_assert(access(got, F_OK) != 0, "no output file on error");
    vlm_run_free(&r);
}
