/* vlmbench eval seedbench: scores SEED-Bench-1 (spec/eval.md 2, 6). */
#include "cli/cli.h"
#include "eval/eval.h"
#include "results/results.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define CMD "eval seedbench"

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vlmbench " CMD ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", USAGE);
    return VLM_EXIT_USAGE;
}

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

int vlm_cmd_eval_seedbench(int argc, char **argv) {
    if (vlm_cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return VLM_EXIT_OK;
    }
    const char *questions = NULL, *pred = NULL, *mode_text = "likelihood", *json_path = NULL,
               *results = NULL, *model = NULL, *res_text = NULL;
    int per_item = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--questions") ? &questions
                            : !strcmp(a, "--pred")    ? &pred
                            : !strcmp(a, "--mode")    ? &mode_text
                            : !strcmp(a, "--json")    ? &json_path
                            : !strcmp(a, "--results") ? &results
                            : !strcmp(a, "--model")   ? &model
                            : !strcmp(a, "--res")     ? &res_text
                                                      : NULL;
        if (slot) {
            if (i + 1 >= argc)
                return usage_error("option %s needs a value", a);
            *slot = argv[++i];
        } else if (!strcmp(a, "--per-item")) {
            per_item = 1;
        } else {
            return usage_error("unknown option or argument '%s'", a);
        }
    }
    if (!pred || !questions)
        return usage_error("%s", "--questions PATH and --pred PATH are required");
    if (results && !model)
        return usage_error("%s", "--results needs --model NAME");
    if ((model || res_text) && !results)
        return usage_error("%s", "--model and --res only go with --results FILE");
    int res = 0;
    if (res_text && vlm_cli_parse_int(CMD, "--res", res_text, 1, 1 << 20, &res) != 0)
        return VLM_EXIT_USAGE;
    vlm_error err = {0};
    vlm_seed_mode mode;
    if (vlm_seed_mode_parse(mode_text, &mode, &err) != VLM_OK)
        return usage_error("%s", err.msg);

    vlm_seed_scorer *sc;
    if (vlm_seed_scorer_create(mode, &sc, &err) != VLM_OK)
        return vlm_cli_fail(CMD, &err);
    char *warnings = NULL;
    if (vlm_seed_load(sc, questions, pred, &warnings, &err) != VLM_OK) {
        vlm_seed_scorer_destroy(sc);
        return vlm_cli_fail(CMD, &err);
    }
    if (warnings) {
        for (char *line = strtok(warnings, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "vlmbench " CMD ": warning: %s\n", line);
        free(warnings);
    }
    json_t *score = vlm_seed_scorer_json(sc);
    json_t *items = vlm_seed_scorer_items(sc);
    vlm_seed_scorer_destroy(sc);
    int rc = VLM_EXIT_OK;
    if (!score || !items) {
        vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
        rc = vlm_cli_fail(CMD, &err);
        goto done;
    }
    if (results && !json_is_real(json_object_get(json_object_get(score, "image"), "acc"))) {
        vlm_error_set(&err, VLM_ERR_FORMAT,
                      "no image question was scored: nothing to record as seedbench_image");
        rc = vlm_cli_fail(CMD, &err);
        goto done;
    }
    if (json_path && vlm_json_write_file(score, json_path, &err) != VLM_OK) {
        rc = vlm_cli_fail(CMD, &err);
        goto done;
    }
    if (results) {
        const char *metric = "seedbench_image";
        double pct =
            100.0 * json_real_value(json_object_get(json_object_get(score, "image"), "acc"));
        char now[32];
        time_t t = time(NULL);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:{s:f}, s:{s:O}, s:O}", "kind", "eval",
                                "time", now, "model", model, "source", "measured", "metrics",
                                metric, pct, "metric_items", metric, items, "eval", score);
        if (rec && res_text)
            json_object_set_new(rec, "res", json_integer(res));
        vlm_status st = rec ? vlm_results_append(results, rec, &err)
                            : vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
        json_decref(rec);
        if (st != VLM_OK) {
            rc = vlm_cli_fail(CMD, &err);
            goto done;
        }
    }
    print_table(score);
    if (per_item)
        print_items(score);
done:
    json_decref(score);
    json_decref(items);
    return rc;
}
