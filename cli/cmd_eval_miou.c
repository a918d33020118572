/* Placeholder until this subcommand lands: says so and exits 2. */
#include "cli/cli.h"

int vlm_cmd_eval_miou(int argc, char **argv) { return vlm_cmd_not_built(argc, argv); }
