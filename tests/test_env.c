#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

/* /proc/cpuinfo is an independent source for the CPUID bits vlm_env reads directly. */
static int cpuinfo_has_flag(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return -1;
    char line[8192];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5))
            continue;
        for (char *tok = strtok(strchr(line, ':') + 1, " \n"); tok; tok = strtok(NULL, " \n"))
            if (!strcmp(tok, flag))
                found = 1;
        break;
    }
    fclose(f);
    return found;
}

Test(env, isa_flags_agree_with_proc_cpuinfo) {
    vlm_env env;
    vlm_env_collect(&env);
    if (cpuinfo_has_flag("fpu") != 1)
        cr_skip_test("/proc/cpuinfo has no flags line");
    cr_assert_eq(env.avx2, cpuinfo_has_flag("avx2"));
    cr_assert_eq(env.avx512f, cpuinfo_has_flag("avx512f"));
    cr_assert_eq(env.avx512_bf16, cpuinfo_has_flag("avx512_bf16"));
    cr_assert_eq(env.avx512_vnni, cpuinfo_has_flag("avx512_vnni"));
    cr_assert_eq(env.amx, cpuinfo_has_flag("amx_tile"));
}

Test(env, cores_model_and_versions) {
    vlm_env env;
    vlm_env_collect(&env);
    cr_assert_eq(env.cores, (int)sysconf(_SC_NPROCESSORS_ONLN));
    cr_assert(strlen(env.cpu_model) > 0);
    cr_assert_eq(strncmp(env.onednn_version, "2.", 2), 0, "%s", env.onednn_version);
    cr_assert(strlen(env.commit) > 0);
    cr_assert(env.loadavg[0] >= 0.0);
}

Test(env, onednn_isa_matches_cpu_features) {
    vlm_env env;
    vlm_env_collect(&env);
    /* oneDNN cannot dispatch an ISA the CPU lacks */
    if (!env.avx512_bf16)
        cr_assert_null(strstr(env.onednn_isa, "bf16"), "%s", env.onednn_isa);
    if (!env.avx512f)
        cr_assert_null(strstr(env.onednn_isa, "avx512"), "%s", env.onednn_isa);
}

Test(env, json_round_trip) {
    vlm_env env;
    vlm_env_collect(&env);
    json_t *j = vlm_env_to_json(&env);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "cpu")), env.cpu_model);
    cr_assert_eq(json_integer_value(json_object_get(j, "threads")), env.threads);
    cr_assert_eq(json_is_true(json_object_get(j, "dirty")), env.dirty);
    json_decref(j);
}
