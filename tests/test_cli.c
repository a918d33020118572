#include <criterion/criterion.h>
#include <jansson.h>

#include "engine/engine.h"
#include "tests/testutil.h"

#define RUN(...) vlm_test_run((char *const[]){VLM_BIN, __VA_ARGS__, NULL})

Test(cli, version_shows_version_commit_compiler_and_onednn) {
    vlm_run r = RUN("--version");
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "vlmbench 0."), "%s", r.out);
    cr_assert(strstr(r.out, "commit "), "%s", r.out);
    cr_assert(strstr(r.out, "oneDNN 2."), "%s", r.out);
    cr_assert(strstr(r.out, "GNU"), "%s", r.out);
    vlm_run_free(&r);
}

Test(cli, version_commit_matches_git_head) {
    /* The build embeds the commit; compare with git when the source tree is a checkout. */
    FILE *p = popen("git -C " VLM_SOURCE_DIR " rev-parse --short=12 HEAD 2>/dev/null", "r");
    char head[64] = "";
    if (p) {
        if (!fgets(head, sizeof head, p))
            head[0] = '\0';
        pclose(p);
    }
    head[strcspn(head, "\n")] = '\0';
    if (!head[0])
        cr_skip_test("source tree is not a git checkout with commits");
    vlm_run r = RUN("--version");
    cr_assert(strstr(r.out, head), "expected commit %s in: %s", head, r.out);
    vlm_run_free(&r);
}

Test(cli, no_arguments_prints_usage_and_exits_2) {
    vlm_run r = vlm_test_run((char *const[]){VLM_BIN, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "usage: vlmbench"), "%s", r.err);
    vlm_run_free(&r);
}

Test(cli, unknown_subcommand_prints_usage_on_stderr_and_exits_2) {
    vlm_run r = RUN("frobnicate");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "unknown command 'frobnicate'"), "%s", r.err);
    cr_assert(strstr(r.err, "usage: vlmbench"), "%s", r.err);
    cr_assert_str_empty(r.out);
    vlm_run_free(&r);
}

Test(cli, unknown_option_exits_2) {
    vlm_run r = RUN("--frobnicate");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "unknown option '--frobnicate'"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("env", "--bogus");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--bogus"), "%s", r.err);
    cr_assert(strstr(r.err, "usage: vlmbench env"), "%s", r.err);
    vlm_run_free(&r);
}

Test(cli, help_lists_every_subcommand) {
    vlm_run r = RUN("--help");
    cr_assert_eq(r.exit_code, 0);
    const char *cmds[] = {"models", "env", "bench", "sweep", "eval", "compare", "plot"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        cr_assert(strstr(r.out, cmds[i]), "missing %s in: %s", cmds[i], r.out);
    vlm_run_free(&r);
}

Test(cli, every_subcommand_has_help) {
    const char *cmds[] = {"models", "env",  "bench", "infer", "sweep",
                          "results", "eval", "compare", "plot"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        vlm_run r = vlm_test_run((char *const[]){VLM_BIN, (char *)cmds[i], "--help", NULL});
        cr_assert_eq(r.exit_code, 0, "%s --help", cmds[i]);
        char want[64];
        snprintf(want, sizeof want, "usage: vlmbench %s", cmds[i]);
        cr_assert(strstr(r.out, want), "%s --help printed: %s", cmds[i], r.out);
        vlm_run_free(&r);
    }
}

Test(cli, env_json_has_every_fingerprint_field) {
    vlm_run r = RUN("env", "--json");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_error_t jerr;
    json_t *j = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(j, "invalid JSON (%s): %s", jerr.text, r.out);
    const char *strings[] = {"cpu", "onednn", "onednn_isa", "threading", "compiler",
                             "build_type", "version", "commit"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        cr_assert(json_is_string(json_object_get(j, strings[i])), "field %s", strings[i]);
    cr_assert(json_integer_value(json_object_get(j, "cores")) >= 1);
    cr_assert(json_integer_value(json_object_get(j, "threads")) >= 1);
    cr_assert(json_is_boolean(json_object_get(j, "dirty")));
    cr_assert_eq(json_array_size(json_object_get(j, "loadavg")), 3);
    json_t *isa = json_object_get(j, "isa");
    const char *flags[] = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        cr_assert(json_is_boolean(json_object_get(isa, flags[i])), "isa.%s", flags[i]);
    cr_assert(json_object_get(j, "omp_num_threads"), "omp_num_threads present (null if unset)");
    cr_assert_str_eq(json_string_value(json_object_get(j, "threading")), "OpenMP");
    json_decref(j);
    vlm_run_free(&r);
}

Test(cli, env_reports_omp_num_threads) {
    setenv("OMP_NUM_THREADS", "1", 1);
    vlm_run r = RUN("env", "--json");
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_integer_value(json_object_get(j, "threads")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "omp_num_threads")), "1");
    json_decref(j);
    vlm_run_free(&r);
}

Test(cli, env_text_output) {
    vlm_run r = RUN("env");
    cr_assert_eq(r.exit_code, 0);
    cr_assert(strstr(r.out, "oneDNN"), "%s", r.out);
    cr_assert(strstr(r.out, "cores"), "%s", r.out);
    vlm_run_free(&r);
}

Test(cli, eval_without_a_known_task_is_usage_error) {
    vlm_run r = RUN("eval");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "missing TASK"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("eval", "nosuchtask");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "unknown task 'nosuchtask'"), "%s", r.err);
    vlm_run_free(&r);
}

Test(cli, models_json_lists_the_fastvit_family_with_spec_facts) {
    vlm_run r = RUN("models", "--json");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert(json_is_array(j), "%s", r.out);
    const char *names[] = {"fastvithd", "mci0", "mci1", "mci2"};
    for (size_t i = 0; i < 4; i++) {
        json_t *m = NULL;
        for (size_t k = 0; k < json_array_size(j); k++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(j, k), "name")),
                        names[i]))
                m = json_array_get(j, k);
        cr_assert_not_null(m, "%s missing", names[i]);
        cr_assert(json_integer_value(json_object_get(m, "params")) > 0);
        cr_assert(json_is_string(json_object_get(m, "token_formula")));
        cr_assert(json_is_string(json_object_get(m, "checkpoints")));
    }
    json_decref(j);
    vlm_run_free(&r);
}

Test(cli, bench_json_reports_samples_statistics_and_env) {
    vlm_run r = RUN("bench", "--model", "mci0", "--res", "128", "--threads", "1", "--warmup", "1",
                    "--min-reps", "3", "--min-time", "0", "--json");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert_not_null(j, "%s", r.out);
    json_t *lat = json_object_get(j, "vision_ms");
    cr_assert_eq(json_integer_value(json_object_get(lat, "n")), 3);
    cr_assert_eq(json_array_size(json_object_get(lat, "samples")), 3);
    double med = json_real_value(json_object_get(lat, "median"));
    cr_assert(med > 0 && med >= json_real_value(json_object_get(lat, "min")));
    cr_assert_eq(json_integer_value(json_object_get(j, "tokens")), 16);
    cr_assert_eq(json_integer_value(json_object_get(j, "threads")), 1);
    cr_assert(json_is_object(json_object_get(j, "env")));
    json_decref(j);
    vlm_run_free(&r);
}

Test(cli, bench_profile_prints_kinds_stages_and_peak) {
    vlm_run r = RUN("bench", "--model", "mci0", "--res", "64", "--threads", "1", "--min-reps",
                    "1", "--min-time", "0", "--profile");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "layer kind") && strstr(r.out, "conv1x1") && strstr(r.out, "stage2"),
              "%s", r.out);
    cr_assert(strstr(r.out, "% of the matmul peak"), "%s", r.out);
    vlm_run_free(&r);
}

Test(cli, bench_rejects_impossible_resolution_and_unknown_model) {
    vlm_run r = RUN("bench", "--model", "fastvithd", "--res", "32");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "32x32") && strstr(r.err, "between 64"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("bench", "--model", "vit-huge");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "unknown model 'vit-huge'"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("bench", "--res", "12x");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--res"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("bench", "--threads", "0");
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
}

Test(cli, bf16_is_a_clear_error_without_the_isa) {
    vlm_run r = RUN("bench", "--model", "mci0", "--res", "64", "--dtype", "bf16", "--min-reps",
                    "1", "--min-time", "0");
    if (vlm_cpu_has_bf16()) {
        cr_assert_eq(r.exit_code, 0, "%s", r.err);
    } else {
        cr_assert_eq(r.exit_code, 2);
        cr_assert(strstr(r.err, "bf16 needs a CPU with avx512_bf16"), "%s", r.err);
    }
    vlm_run_free(&r);
    r = RUN("bench", "--dtype", "f16");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "unknown data type 'f16'"), "%s", r.err);
    vlm_run_free(&r);
}

Test(cli, infer_reports_missing_files_and_bad_inputs) {
    vlm_run r = RUN("infer", "--model", "mci0", "--weights", "/nonexistent.safetensors", "--input",
                    "/nonexistent.npy", "--output", "/tmp/x.npy");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "/nonexistent.npy"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("infer", "--model", "mci0");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "required"), "%s", r.err);
    vlm_run_free(&r);
}
