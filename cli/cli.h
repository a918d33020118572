/* Private to the vlmbench program: the subcommand table and shared helpers of cli/. */
#ifndef VLM_CLI_H
#define VLM_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "engine/engine.h"
#include "eval/eval.h"

/* Exit codes (DESIGN.md): 0 success, 1 regression found by compare, 2 bad input or usage,
 * 3 internal error. */
enum { VLM_EXIT_OK = 0, VLM_EXIT_REGRESSION = 1, VLM_EXIT_USAGE = 2, VLM_EXIT_INTERNAL = 3 };

typedef struct vlm_cli_command {
    const char *name;
    const char *summary; /* one line, shown in the program's --help */
    const char *usage;   /* full help text of the subcommand, shown by `vlmbench CMD --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns exit code */
} vlm_cli_command;

/* Maps an engine status to the process exit code. */
int vlm_cli_exit_code(vlm_status status);

/* Prints "vlmbench CMD: error: MSG" on stderr and returns the exit code for status. */
int vlm_cli_fail(const char *cmd, const vlm_error *err);

/* Prints the subcommand's usage on stream. */
void vlm_cli_usage(FILE *stream, const vlm_cli_command *cmd);

/* True when argv holds -h or --help before any "--". */
int vlm_cli_wants_help(int argc, char **argv);

/* Prints "vlmbench CMD: unknown option 'OPT'" and the usage on stderr; returns 2. */
int vlm_cli_bad_option(const char *cmd, const char *opt);

/* Parses a positive int / double option value; prints an error naming the option on failure. */
int vlm_cli_parse_int(const char *cmd, const char *opt, const char *text, int lo, int hi,
                      int *out);
int vlm_cli_parse_double(const char *cmd, const char *opt, const char *text, double lo,
                         double hi, double *out);

#define FASTVIT_CKPT_HELP                                                                      \
    "FastViT models load safetensors with timm names (fastvit_mci*, inference or training "    \
    "form,\n  optionally under visual.trunk.) or FastVLM names "                                \
    "(model.vision_tower.vision_tower.model.*)."

/* Parses --res: "R" (square) or "HxW". Prints an error and returns -1 when malformed. */
int vlm_cli_parse_res(const char *cmd, const char *text, int *h, int *w);

/* An answer scorer subcommand (eval mmmu, eval seedbench), run by vlm_cli_eval_answers:
 * options --questions --pred --mode --json --per-item --results --model --res. */
typedef struct vlm_cli_answer_cmd {
    const char *cmd, *usage, *default_mode;
    bool questions_required;
    vlm_status (*check_mode)(const char *mode, vlm_error *err);
    /* score JSON and per-item 0/1 list (both owned by the caller), warnings (malloc'd) */
    vlm_status (*score)(const char *mode, const char *questions, const char *pred,
                        char **warnings, json_t **score, json_t **items, vlm_error *err);
    /* the record's metric name and percent, or NULL with err when there is none */
    const char *(*metric)(const json_t *score, double *pct, vlm_error *err);
    void (*print_table)(const json_t *score);
    void (*print_items)(const json_t *score);
} vlm_cli_answer_cmd;
int vlm_cli_eval_answers(const vlm_cli_answer_cmd *c, int argc, char **argv);

int vlm_cmd_env(int argc, char **argv);
int vlm_cmd_models(int argc, char **argv);
int vlm_cmd_bench(int argc, char **argv);
int vlm_cmd_infer(int argc, char **argv);
int vlm_cmd_sweep(int argc, char **argv);
int vlm_cmd_results(int argc, char **argv);
int vlm_cmd_not_built(int argc, char **argv);
int vlm_cmd_eval(int argc, char **argv);           /* cmd_eval.c: dispatches on TASK */
int vlm_cmd_eval_mmmu(int argc, char **argv);      /* cmd_eval_mmmu.c */
int vlm_cmd_eval_seedbench(int argc, char **argv); /* cmd_eval_seedbench.c */
int vlm_cmd_eval_zeroshot(int argc, char **argv);  /* cmd_eval_zeroshot.c */
int vlm_cmd_eval_miou(int argc, char **argv);      /* cmd_eval_miou.c */
int vlm_cmd_eval_depth(int argc, char **argv);     /* cmd_eval_depth.c */
int vlm_cmd_compare(int argc, char **argv);        /* cmd_compare.c */
extern const char vlm_compare_usage[];             /* its --help, defined beside it */
int vlm_cmd_plot(int argc, char **argv);           /* cmd_plot.c */

/* ---- shared by the CLIP-style evaluations (cli/clip.c) ---- */

/* An image tower's zero-shot preprocessing: MobileCLIP (mci*: bilinear, no mean/std) or OpenAI
 * CLIP (vit*: bicubic, CLIP mean/std). -1 for other models. */
typedef struct vlm_cli_prep {
    vlm_resample filter;
    float mean[3], std[3];
} vlm_cli_prep;
int vlm_cli_prep_for(const char *model, vlm_cli_prep *p);

typedef struct vlm_cli_classifier_opts {
    const char *image_model;          /* picks the default text tower */
    const char *classifier;           /* .npy [C, D] or [C, T, D]; or NULL and: */
    const char *text_weights, *vocab; /* the text tower's checkpoint, the BPE vocabulary */
    const char *text_model, *classes, *templates, *save_text; /* optional */
    int threads, show_progress;
} vlm_cli_classifier_opts;

/* The zero-shot classifier [dim, C] (spec 3.2), from the file or the text tower. */
vlm_status vlm_cli_classifier(const vlm_cli_classifier_opts *o, int dim, double **w,
                              int *num_classes, vlm_error *err);

extern const vlm_cli_command vlm_cli_commands[];
extern const int vlm_cli_command_count;

#endif /* VLM_CLI_H */
