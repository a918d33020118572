#include <string.h>

#include "cli/cli.h"

int vlm_cli_exit_code(vlm_status status) {
    switch (status) {
    case VLM_OK: return VLM_EXIT_OK;
    case VLM_ERR_INTERNAL: return VLM_EXIT_INTERNAL;
    default: return VLM_EXIT_USAGE;
    }
}

int vlm_cli_fail(const char *cmd, const vlm_error *err) {
    fprintf(stderr, "vlmbench %s: error: %s\n", cmd, err->msg[0] ? err->msg : "failed");
    return vlm_cli_exit_code(err->status == VLM_OK ? VLM_ERR_INTERNAL : err->status);
}

void vlm_cli_usage(FILE *stream, const vlm_cli_command *cmd) {
    fputs(cmd->usage, stream);
}

int vlm_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

int vlm_cmd_not_built(int argc, char **argv) {
    (void)argc;
    fprintf(stderr,
            "vlmbench %s: not built yet: this subcommand is planned but not implemented in "
            "this version\n",
            argv[0]);
    return VLM_EXIT_USAGE;
}
