#include <errno.h>
#include <stdlib.h>
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

int vlm_cli_bad_option(const char *cmd, const char *opt) {
    fprintf(stderr, "vlmbench %s: unknown option or argument '%s'\n\n", cmd, opt);
    for (int i = 0; i < vlm_cli_command_count; i++)
        if (!strcmp(vlm_cli_commands[i].name, cmd))
            vlm_cli_usage(stderr, &vlm_cli_commands[i]);
    return VLM_EXIT_USAGE;
}

int vlm_cli_parse_int(const char *cmd, const char *opt, const char *text, int lo, int hi,
                      int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "vlmbench %s: %s wants an integer from %d to %d, got '%s'\n", cmd, opt,
                lo, hi, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int vlm_cli_parse_double(const char *cmd, const char *opt, const char *text, double lo,
                         double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "vlmbench %s: %s wants a number from %g to %g, got '%s'\n", cmd, opt, lo,
                hi, text);
        return -1;
    }
    *out = v;
    return 0;
}
