/* vlmbench: benchmark and evaluation harness for efficient vision-language models. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"

const vlm_cli_command vlm_cli_commands[] = {
    {"models", "list the models the engine runs, with params, MACs and token formulas",
     "usage: vlmbench models [--json]\n"
     "\n"
     "Every model the engine runs: parameters (inference-form checkpoint, with and without the\n"
     "CLIP head), GMACs at its default input, the token formula, and the checkpoint names it\n"
     "loads. Computed from the model tables, without weights.\n"
     "\n"
     "  --json   a JSON array on stdout\n",
     vlm_cmd_models},
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
    {"bench", "time one model at one resolution",
     "usage: vlmbench bench [--model M] [--res R|HxW] [--weights FILE] [--threads N]\n"
     "                      [--dtype f32|bf16] [--seed S] [--profile] [--json]\n"
     "                      [--warmup N] [--min-reps N] [--min-time S] [--max-time S]\n"
     "                      [--tokens N] [--layers K] [--llm L [--text-tokens N]]\n"
     "\n"
     "Builds the model once at one input size (weights from a safetensors FILE, or seeded\n"
     "synthetic weights), runs warm-up passes, then times repeated forward passes until both\n"
     "--min-reps (10) and --min-time (2 s) are met or --max-time (60 s) is spent, and prints\n"
     "median, p10, p90, MAD and achieved GFLOP/s.\n"
     "\n"
     "  --model M     fastvithd (default), mci0, mci1, mci2, the baselines vit-b16,\n"
     "                vit-l14-336, siglip, siglip-anyres (--res = the image size it tiles),\n"
     "                convnext-l, or a projector / LLM (see `vlmbench models`)\n"
     "  --res R|HxW   input size in pixels (default: the model's published size)\n"
     "  --threads N   OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
     "  --dtype       f32 (default) or bf16 (needs avx512_bf16)\n"
     "  --profile     time each primitive alone; GFLOP/s per layer kind and per stage against\n"
     "                the machine's matmul peak\n"
     "  --json        one JSON object on stdout, with every sample and the environment\n"
     "  --tokens N    LLMs and projectors: sequence length (default: the model's)\n"
     "  --layers K    LLMs: time a 1-layer and a K-layer plan and extrapolate to all layers\n"
     "                (labelled estimated)\n"
     "  --llm L       with a vision model: time-to-first-token = preprocessing + vision +\n"
     "                projector + prefill of the visual and --text-tokens (24) tokens, each\n"
     "                part timed separately\n",
     vlm_cmd_bench},
    {"infer", "run one forward pass on a preprocessed .npy input and save the output",
     "usage: vlmbench infer --model M --weights FILE --input X.npy --output Y.npy\n"
     "                      [--pooled P.npy] [--dtype f32|bf16] [--threads N]\n"
     "\n"
     "Vision models: X.npy is a float NCHW image [1, 3, H, W] (or [3, H, W]), already\n"
     "preprocessed; Y.npy the output tokens [grid_h * grid_w, feature_dim] (row-major over h\n"
     "then w), what FastVLM feeds its projector; P.npy the pooled CLIP embedding.\n"
     "Projectors: X.npy is [N, in_dim] features; Y.npy [N, d_llm].\n"
     "Text towers (text-*): X.npy is the [77] token ids (as floats) of one prompt; Y.npy\n"
     "the [1, embed] text embedding (at the end-of-text token, not normalised).\n"
     "LLMs: X.npy is [N, d] input embeddings or [N] token ids (as floats); Y.npy the\n"
     "last-position logits [1, vocab] of the prefill.\n",
     vlm_cmd_infer},
    {"sweep", "the main job: latency, tokens, prefill and TTFT across resolutions",
     "usage: vlmbench sweep [--res GRID] [--model M,...] [--llm L,...|none] [--dtype f32,bf16]\n"
     "                      [--threads N] [--weights FILE] [--suite FILE] [--out FILE]\n"
     "                      [--resume] [--shard K/N] [--text-tokens N] [--quiet]\n"
     "                      [--warmup N] [--min-reps N] [--min-time S] [--max-time S]\n"
     "                      [--plot] [--plot-dir DIR]\n"
     "\n"
     "For every vision model x resolution x dtype x LLM: times preprocessing (JPEG decode,\n"
     "pad to square, bicubic resize, normalise), the vision encoder, the projector and the LLM\n"
     "prefill of the visual + text tokens; TTFT is their sum. Each finished config is appended\n"
     "to the results file as one JSON line (fsync'd: a killed sweep loses nothing) and printed\n"
     "as a table row; progress goes to stderr.\n"
     "\n"
     "  --res GRID      A..B (step 64), A..B:STEP or a list 256,512,1024 (default 256..1152)\n"
     "  --model M,...   vision models (default fastvithd)\n"
     "  --llm L,...     LLMs for the prefill (default qwen2-0.5b; none = vision only)\n"
     "  --suite FILE    a .suite file instead of the grid flags (see suites/README.md)\n"
     "  --out FILE      results file (default results/<date>-<machine>.jsonl)\n"
     "  --resume        skip configs already in --out for this machine and build\n"
     "  --shard K/N     run only the K-th (0-based) of N disjoint slices of the grid\n"
     "  --text-tokens N text tokens of the prompt added to the prefill (default 24)\n"
     "  --min-reps N, --min-time S, --max-time S, --warmup N: repetitions per measurement\n"
     "                  (defaults 3, 0.5 s, 30 s, 1: the default grid fits in ~5 minutes)\n"
     "  --plot          then draw the results file's charts (see `vlmbench plot`) into\n"
     "                  --plot-dir DIR (default: the results file without .jsonl, + -plots)\n",
     vlm_cmd_sweep},
    {"eval", "score a model on SEED-Bench, MMMU, zero-shot ImageNet or segmentation",
     "usage: vlmbench eval mmmu|seedbench|zeroshot|miou|depth ... (see vlmbench eval TASK --help)\n",
     vlm_cmd_eval},
    {"compare", "statistical regression gate between two results files",
     vlm_compare_usage, vlm_cmd_compare},
    {"results", "show or merge results files",
     "usage: vlmbench results show FILE [--format table|md|csv|json]\n"
     "       vlmbench results merge OUT IN... [--force]\n"
     "\n"
     "show: one row per record: model, res, dtype, threads, LLM, tokens, the vision, projector,\n"
     "prefill (\"~\" = layer-sampled estimate) and TTFT medians in ms, GMACs, the vision\n"
     "encoder's GFLOP/s, noisy (a part's confidence interval too wide) and status. A torn last\n"
     "line left by a killed sweep is ignored with a warning on stderr.\n"
     "  --format   table (default), md (a markdown table), csv (RFC 4180 quoting, full\n"
     "             precision, a prefill_estimated column), json (the records as a JSON array)\n"
     "\n"
     "merge: writes the records of IN... to OUT (via OUT.tmp and a rename). A config (model,\n"
     "res, dtype, threads, LLM, prefill tokens, weights, CPU, oneDNN version and ISA) found\n"
     "twice is an error and nothing is written. Shard files (\"shard\" + \"config_index\") are\n"
     "checked for configs no input has, reported as \"missing configs: ...\".\n"
     "  --force    overwrite an existing OUT\n",
     vlm_cmd_results},
    {"plot", "draw Pareto and trade-off charts from results files",
     "usage: vlmbench plot RESULTS.jsonl... [--out DIR] [--format png|svg|both] [--published]\n"
     "                     [--published-dir DIR]\n"
     "\n"
     "Draws the charts the records support with gnuplot, each as NAME.png/.svg plus NAME.dat\n"
     "(the numbers) and NAME.gp (`gnuplot NAME.gp` in that folder redraws it): TTFT vs\n"
     "resolution per LLM (stacked parts), visual tokens and vision latency (95% CI) vs\n"
     "resolution, accuracy vs TTFT / vision latency Pareto charts, and zero-shot ImageNet\n"
     "top-1 vs image-encoder latency. Records of different machine fingerprints (CPU, threads,\n"
     "dtype, oneDNN, build) are drawn in separate subfolders, never on one chart.\n"
     "\n"
     "  --out DIR         output folder (default: the first file without .jsonl, + -plots)\n"
     "  --format F        png, svg or both (default both)\n"
     "  --published       accuracy the records lack from the papers' published numbers\n"
     "                    (embedded results/published/*.csv), drawn as published; adds the\n"
     "                    MobileCLIP table to the zero-shot chart\n"
     "  --published-dir DIR  read the published CSV files from DIR instead\n"
     "gnuplot: found on PATH, or VLM_GNUPLOT=PROGRAM; when missing, the .dat and .gp files are\n"
     "still written, a note says so, and the exit code is 0.\n",
     vlm_cmd_plot},
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
        /* `eval TASK --help` is the task's own help, printed by the task. */
        int has_task = cmd->run == vlm_cmd_eval && argc > 2 && argv[2][0] != '-';
        if (!has_task && vlm_cli_wants_help(argc - 1, argv + 1)) {
            vlm_cli_usage(stdout, cmd);
            return VLM_EXIT_OK;
        }
        return cmd->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "vlmbench: unknown %s '%s'\n\n", arg[0] == '-' ? "option" : "command", arg);
    program_usage(stderr);
    return VLM_EXIT_USAGE;
}
