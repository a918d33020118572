/* vlmbench eval TASK: dispatches to the scorer of one benchmark. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} tasks[] = {
    {"mmmu", vlm_cmd_eval_mmmu},
    {"seedbench", vlm_cmd_eval_seedbench},
    {"zeroshot", vlm_cmd_eval_zeroshot},
    {"miou", vlm_cmd_eval_miou},
    {"depth", vlm_cmd_eval_depth},
};

int vlm_cmd_eval(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "vlmbench eval: missing TASK (mmmu, seedbench, zeroshot, miou or depth)\n");
        return VLM_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        if (!strcmp(argv[1], tasks[i].name))
            return tasks[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vlmbench eval: unknown task '%s' (mmmu, seedbench, zeroshot, miou or depth)\n",
            argv[1]);
    return VLM_EXIT_USAGE;
}
