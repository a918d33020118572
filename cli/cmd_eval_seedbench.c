/* vlmbench eval seedbench: scores SEED-Bench-1 (spec/eval.md 2, 6). */
#include "cli/cli.h"
#include "eval/eval.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: vlmbench eval seedbench --questions PATH --pred PATH [--mode M] [--json FILE]\n"
    "                               [--per-item] [--results FILE --model NAME [--res R]]\n"
    "\n"
    "Scores SEED-Bench-1 (9 image and 3 video dimensions) by the official likelihood ranking\n"
    "or by the lmms-eval / VLMEvalKit rules for generated answers.\n"
    "\n"
    "  --questions PATH  the official SEED-Bench.json ({\"questions\": [...]}), or question\n"
    "                    records as JSON Lines\n"
    "  --pred PATH       JSON Lines predictions: {question_id, losses: [lA, lB, lC, lD]}\n"
    "                    (likelihood; a loss may be \"nan\", \"inf\", \"-inf\"),\n"
    "                    {question_id, response} (generative), {question_id, prediction}\n"
    "                    (a final letter, the official results.json), or lmms-eval\n"
    "                    --log_samples JSONL; a file, directory or tar/zip archive\n"
    "  --mode M          likelihood (default, official): smallest loss, ties to the lowest\n"
    "                      letter, NaN last\n"
    "                    lmms_eval: the first character of the stripped output,\n"
    "                      case-insensitive\n"
    "                    vlmevalkit: VLMEvalKit exact matching (no LLM judge)\n"
    "  --json FILE       write the score JSON (per dimension, per item) to FILE\n"
    "  --per-item        print one line per item: question_id, dimension, correct, prediction\n"
    "  --results FILE    append a results record {kind: eval, model, res, metrics:\n"
    "                    {seedbench_image: percent}, metric_items: {seedbench_image: [0/1 per\n"
    "                    image item, question_id order]}, eval}\n"
    "  --model NAME      model name of the results record (required with --results)\n"
    "  --res R           resolution of the results record (pixels)\n"
    "\n"
    "Accuracy is correct / scored questions; image, video and all pool their questions\n"
    "(micro average); questions without a prediction are counted, not scored.\n";

static void print_stat(const char *name, const json_t *x) {
    const json_t *acc = json_object_get(x, "acc");
    printf("%-30s %6lld %8lld ", name, (long long)json_integer_value(json_object_get(x, "num")),
           (long long)json_integer_value(json_object_get(x, "correct")));
    if (json_is_real(acc))
        printf("%7.2f\n", 100.0 * json_real_value(acc));
    else
        printf("%7s\n", "-");
}

static void print_table(const json_t *s) {
    printf("SEED-Bench, mode %s\n\n", json_string_value(json_object_get(s, "mode")));
    printf("%-30s %6s %8s %7s\n", "dimension", "num", "correct", "acc %");
    const char *key;
    json_t *d;
    json_object_foreach(json_object_get(s, "dimensions"), key, d) {
        char name[64];
        snprintf(name, sizeof name, "%2s %s", key, json_string_value(json_object_get(d, "name")));
        print_stat(name, d);
    }
    print_stat("image", json_object_get(s, "image"));
    print_stat("video", json_object_get(s, "video"));
    print_stat("all", json_object_get(s, "all"));
    const json_t *macro = json_object_get(s, "macro_image");
    if (json_is_real(macro))
        printf("%-30s %24.2f  (not an official number)\n", "image, macro over dimensions",
               100.0 * json_real_value(macro));
    printf("\nmissing predictions: %lld, unknown ids: %lld, duplicate ids: %lld\n",
           (long long)json_integer_value(json_object_get(s, "n_missing")),
           (long long)json_integer_value(json_object_get(s, "n_unknown")),
           (long long)json_integer_value(json_object_get(s, "n_duplicate")));
}

static void print_items(const json_t *s) {
    const char *id;
    json_t *it;
    json_object_foreach(json_object_get(s, "per_item"), id, it) {
        printf("%s\t%lld\t%s\t%s\n", id,
               (long long)json_integer_value(json_object_get(it, "dimension")),
               json_is_true(json_object_get(it, "correct")) ? "1" : "0",
               json_string_value(json_object_get(it, "pred")));
    }
}

/* The image accuracy, the official SEED-Bench-1 number. */
static const char *metric(const json_t *s, double *pct, vlm_error *err) {
    const json_t *acc = json_object_get(json_object_get(s, "image"), "acc");
    if (!json_is_real(acc)) {
        vlm_error_set(err, VLM_ERR_FORMAT,
                      "no image question was scored: nothing to record as seedbench_image");
        return NULL;
    }
    *pct = 100.0 * json_real_value(acc);
    return "seedbench_image";
}

static vlm_status check_mode(const char *text, vlm_error *err) {
    vlm_seed_mode mode;
    return vlm_seed_mode_parse(text, &mode, err);
}

static vlm_status score(const char *text, const char *questions, const char *pred,
                        char **warnings, json_t **score, json_t **items, vlm_error *err) {
    vlm_seed_mode mode;
    vlm_seed_scorer *sc;
    vlm_status st = vlm_seed_mode_parse(text, &mode, err);
    if (st == VLM_OK)
        st = vlm_seed_scorer_create(mode, &sc, err);
    if (st != VLM_OK)
        return st;
    st = vlm_seed_load(sc, questions, pred, warnings, err);
    if (st == VLM_OK) {
        *score = vlm_seed_scorer_json(sc);
        *items = vlm_seed_scorer_items(sc);
    }
    vlm_seed_scorer_destroy(sc);
    return st;
}

int vlm_cmd_eval_seedbench(int argc, char **argv) {
    static const vlm_cli_answer_cmd cmd = {.cmd = "eval seedbench",
                                           .usage = USAGE,
                                           .default_mode = "likelihood",
                                           .questions_required = true,
                                           .check_mode = check_mode,
                                           .score = score,
                                           .metric = metric,
                                           .print_table = print_table,
                                           .print_items = print_items};
    return vlm_cli_eval_answers(&cmd, argc, argv);
}
