#include "engine/engine.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    }
    return "unknown";
}

static const char *runtime_name(unsigned runtime) {
    switch (runtime) {
    case DNNL_RUNTIME_OMP: return "OpenMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_SEQ: return "sequential";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
    }
    return "unknown";
}

void vlm_backend_info_get(vlm_backend_info *info) {
    const dnnl_version_t *v = dnnl_version();
    info->major = v->major;
    info->minor = v->minor;
    info->patch = v->patch;
    snprintf(info->hash, sizeof info->hash, "%s", v->hash ? v->hash : "N/A");
    info->cpu_runtime = runtime_name(v->cpu_runtime);
    info->isa = isa_name(dnnl_get_effective_cpu_isa());
    info->max_threads = omp_get_max_threads();
}
