#include <criterion/criterion.h>
#include <jansson.h>

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
    const char *cmds[] = {"models", "env", "bench", "sweep", "eval", "compare", "plot"};
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

Test(cli, unbuilt_subcommands_say_so_and_exit_2) {
    const char *cmds[] = {"sweep", "eval", "compare", "plot"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        vlm_run r = vlm_test_run((char *const[]){VLM_BIN, (char *)cmds[i], NULL});
        cr_assert_eq(r.exit_code, 2, "%s", cmds[i]);
        cr_assert(strstr(r.err, "not built yet"), "%s: %s", cmds[i], r.err);
        vlm_run_free(&r);
    }
}
