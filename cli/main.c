/* vlmbench: benchmark and evaluation harness for efficient vision-language models. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

const vlm_cli_command vlm_cli_commands[] = {
    {"models", "list the models the engine runs, with params, MACs and token formulas",
     "usage: vlmbench models [--json]\n", vlm_cmd_not_built},
    {"env", "print the environment fingerprint every result carries",
     "usage: vlmbench env [--json]\n"
     "\n"
     "Prints the machine, build and runtime facts recorded with every result: CPU model,\n"
     "cores, ISA flags (avx2, avx512f, avx512_bf16, avx512_vnni, amx), the oneDNN version and\n"
     "the ISA it dispatches, threading runtime and thread count (OMP_NUM_THREADS), compiler,\n"
     "build type, vlmbench version and commit, load average.\n"
     "\n"
     "  --json   one JSON object on stdout (the results schema's \"env\" object)\n",
     vlm_cmd_env},
    {"bench", "time one model at one resolution", "usage: vlmbench bench --model M --res R\n",
     vlm_cmd_not_built},
    {"sweep", "the main job: latency, tokens, prefill and TTFT across resolutions",
     "usage: vlmbench sweep [--res 256..1152] [--model M,...] [--llm L,...]\n",
     vlm_cmd_not_built},
    {"eval", "score a model on SEED-Bench, MMMU, zero-shot ImageNet or segmentation",
     "usage: vlmbench eval TASK ...\n", vlm_cmd_not_built},
    {"compare", "statistical regression gate between two results files",
     "usage: vlmbench compare BASE.jsonl NEW.jsonl\n", vlm_cmd_not_built},
    {"plot", "draw Pareto and trade-off charts from results files",
     "usage: vlmbench plot RESULTS.jsonl... [--out DIR]\n", vlm_cmd_not_built},
};
const int vlm_cli_command_count = (int)(sizeof vlm_cli_commands / sizeof vlm_cli_commands[0]);

static void program_usage(FILE *stream) {
    fputs("usage: vlmbench [--help] [--version] COMMAND [ARGS]\n"
          "\n"
          "Benchmark and evaluation harness for efficient vision-language models.\n"
          "\n"
          "commands:\n",
          stream);
    for (int i = 0; i < vlm_cli_command_count; i++)
        fprintf(stream, "  %-9s %s\n", vlm_cli_commands[i].name, vlm_cli_commands[i].summary);
    fputs("\n`vlmbench COMMAND --help` describes one command.\n"
          "exit codes: 0 ok, 1 regression found (compare), 2 bad input or usage, 3 internal "
          "error\n",
          stream);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        program_usage(stderr);
        return VLM_EXIT_USAGE;
    }
    const char *arg = argv[1];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help")) {
        program_usage(stdout);
        return VLM_EXIT_OK;
    }
    if (!strcmp(arg, "--version") || !strcmp(arg, "-V")) {
        char line[256];
        vlm_version_string(line, sizeof line);
        puts(line);
        return VLM_EXIT_OK;
    }
    for (int i = 0; i < vlm_cli_command_count; i++) {
        const vlm_cli_command *cmd = &vlm_cli_commands[i];
        if (strcmp(arg, cmd->name))
            continue;
        if (vlm_cli_wants_help(argc - 1, argv + 1)) {
            vlm_cli_usage(stdout, cmd);
            return VLM_EXIT_OK;
        }
        return cmd->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "vlmbench: unknown %s '%s'\n\n", arg[0] == '-' ? "option" : "command", arg);
    program_usage(stderr);
    return VLM_EXIT_USAGE;
}
