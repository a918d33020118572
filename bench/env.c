#include "bench/bench.h"

#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vlm_build_info.h"

static void copy_str(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

static void cpu_brand(char *out, size_t size) {
    unsigned regs[12];
    unsigned max_ext = __get_cpuid_max(0x80000000u, NULL);
    if (max_ext < 0x80000004u) {
        copy_str(out, size, "unknown");
        return;
    }
    for (unsigned i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
                    &regs[4 * i + 3]);
    char brand[49];
    memcpy(brand, regs, 48);
    brand[48] = '\0';
    const char *s = brand;
    while (*s == ' ')
        s++;
    copy_str(out, size, s);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

static void cpu_features(vlm_env *env) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    env->avx2 = b & (1u << 5);
    env->avx512f = b & (1u << 16);
    env->avx512_vnni = c & (1u << 11);
    env->amx = d & (1u << 24); /* AMX-TILE */
    __cpuid_count(7, 1, a, b, c, d);
    env->avx512_bf16 = a & (1u << 5);
}

void vlm_env_collect(vlm_env *env) {
    memset(env, 0, sizeof *env);
    cpu_brand(env->cpu_model, sizeof env->cpu_model);
    cpu_features(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    env->cores = n > 0 ? (int)n : -1;

    vlm_backend_info info;
    vlm_backend_info_get(&info);
    snprintf(env->onednn_version, sizeof env->onednn_version, "%d.%d.%d", info.major,
             info.minor, info.patch);
    copy_str(env->onednn_isa, sizeof env->onednn_isa, info.isa);
    copy_str(env->threading, sizeof env->threading, info.cpu_runtime);
    env->threads = info.max_threads;
    copy_str(env->omp_num_threads, sizeof env->omp_num_threads, getenv("OMP_NUM_THREADS"));

    copy_str(env->compiler, sizeof env->compiler, VLM_COMPILER);
    copy_str(env->build_type, sizeof env->build_type, VLM_BUILD_TYPE);
    copy_str(env->version, sizeof env->version, VLM_VERSION);
    copy_str(env->commit, sizeof env->commit, VLM_GIT_COMMIT);
    env->dirty = VLM_GIT_DIRTY;

    if (getloadavg(env->loadavg, 3) != 3)
        env->loadavg[0] = env->loadavg[1] = env->loadavg[2] = -1.0;
}

json_t *vlm_env_to_json(const vlm_env *env) {
    json_t *isa = json_pack("{s:b, s:b, s:b, s:b, s:b}", "avx2", env->avx2, "avx512f",
                            env->avx512f, "avx512_bf16", env->avx512_bf16, "avx512_vnni",
                            env->avx512_vnni, "amx", env->amx);
    json_t *load = json_pack("[f, f, f]", env->loadavg[0], env->loadavg[1], env->loadavg[2]);
    if (!isa || !load) {
        json_decref(isa);
        json_decref(load);
        return NULL;
    }
    /* "o" steals the references to isa and load. */
    return json_pack("{s:s, s:i, s:o, s:s, s:s, s:s, s:i, s:s?, s:s, s:s, s:s, s:s, s:b, s:o}",
                     "cpu", env->cpu_model, "cores", env->cores, "isa", isa, "onednn",
                     env->onednn_version, "onednn_isa", env->onednn_isa, "threading",
                     env->threading, "threads", env->threads, "omp_num_threads",
                     env->omp_num_threads[0] ? env->omp_num_threads : NULL, "compiler",
                     env->compiler, "build_type", env->build_type, "version", env->version,
                     "commit", env->commit, "dirty", env->dirty, "loadavg", load);
}

void vlm_version_string(char *buf, size_t size) {
    vlm_backend_info info;
    vlm_backend_info_get(&info);
    snprintf(buf, size, "vlmbench %s (commit %s%s, %s, %s, oneDNN %d.%d.%d)", VLM_VERSION,
             VLM_GIT_COMMIT, VLM_GIT_DIRTY ? "-dirty" : "", VLM_COMPILER, VLM_BUILD_TYPE,
             info.major, info.minor, info.patch);
}
