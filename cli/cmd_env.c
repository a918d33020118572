#include <getopt.h>
#include <stdio.h>

#include "bench/bench.h"
#include "cli/cli.h"

int vlm_cmd_env(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else {
            return vlm_cli_bad_option("env", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return vlm_cli_bad_option("env", argv[optind]);
    }
    vlm_env env;
    vlm_env_collect(&env);
    if (json) {
        json_t *j = vlm_env_to_json(&env);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            json_decref(j);
            fputs("vlmbench env: error: could not write JSON\n", stderr);
            return VLM_EXIT_INTERNAL;
        }
        json_decref(j);
        putchar('\n');
        return VLM_EXIT_OK;
    }
    printf("cpu          %s\n", env.cpu_model);
    printf("cores        %d\n", env.cores);
    printf("isa flags    avx2=%d avx512f=%d avx512_bf16=%d avx512_vnni=%d amx=%d\n", env.avx2,
           env.avx512f, env.avx512_bf16, env.avx512_vnni, env.amx);
    printf("oneDNN       %s, dispatching %s\n", env.onednn_version, env.onednn_isa);
    printf("threading    %s, %d threads (OMP_NUM_THREADS=%s)\n", env.threading, env.threads,
           env.omp_num_threads[0] ? env.omp_num_threads : "unset");
    printf("build        vlmbench %s, commit %s%s, %s, %s\n", env.version, env.commit,
           env.dirty ? " (dirty)" : "", env.compiler, env.build_type);
    printf("load average %.2f %.2f %.2f\n", env.loadavg[0], env.loadavg[1], env.loadavg[2]);
    return VLM_EXIT_OK;
}
