/* vlmbench eval mmmu: scores MMMU predictions as the official code does (spec/eval.md 1, 6). */
#include "cli/cli.h"
#include "eval/eval.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: vlmbench eval mmmu [--questions PATH] --pred PATH [--mode M] [--json FILE]\n"
    "                          [--per-item] [--results FILE --model NAME [--res R]]\n"
    "\n"
    "Scores MMMU answers exactly as the official MMMU code does (or as lmms-eval does, by\n"
    "mode): multiple-choice letters and open answers are extracted from the raw responses,\n"
    "failed multiple-choice extractions draw the official seeded random choice.\n"
    "\n"
    "  --pred PATH       predictions: the canonical JSON Lines ({id, question_type, options,\n"
    "                    answer, response} per line; enough on its own), the official\n"
    "                    parse-and-evaluate folders (<Subject>/output.json, a directory or a\n"
    "                    tar/tar.gz/tar.zst/zip archive), an evaluate-only {id: prediction}\n"
    "                    object, or lmms-eval --log_samples JSONL\n"
    "  --questions PATH  gold answers: the official answer_dict_val.json or HF dataset records\n"
    "                    (JSON list or JSON Lines; options as a Python list string); then\n"
    "                    questions without a prediction are counted (n_missing)\n"
    "  --mode M          official (default): main_parse_and_eval, random.seed(42)\n"
    "                    official_eval_only: main_eval_only, the MC letter compared verbatim\n"
    "                    lmms_v03: lmms-eval up to 2025-06-22 (\"X \" and \"X.\" letters,\n"
    "                      seed 0, HF gold string)\n"
    "                    lmms_head: lmms-eval from 2025-06-23 (as lmms_v03; open answers are\n"
    "                      judged per character, so they are scored wrong)\n"
    "  --json FILE       write the score JSON (per subject, discipline, item) to FILE\n"
    "  --per-item        print one line per item: id, correct, random fallback, parsed answer\n"
    "  --results FILE    append a results record {kind: eval, model, res, metrics: {mmmu_val:\n"
    "                    percent}, metric_items: {mmmu_val: [0/1 per item, id order]}, eval}\n"
    "  --model NAME      model name of the results record (required with --results)\n"
    "  --res R           resolution of the results record (pixels)\n"
    "\n"
    "Accuracy is correct / scored predictions (missing predictions are not counted, as in\n"
    "the official code); disciplines and overall are instance-weighted.\n";

static void print_table(const json_t *s) {
    const json_t *ov = json_object_get(s, "overall"), *nr = json_object_get(s, "overall_no_random");
    printf("MMMU, mode %s\n\n", json_string_value(json_object_get(s, "mode")));
    printf("%-40s %6s %8s %7s\n", "discipline / subject", "num", "correct", "acc");
    const json_t *disc = json_object_get(s, "disciplines"), *subj = json_object_get(s, "subjects");
    const char *dname;
    json_t *d;
    /* Subjects listed under their discipline, in the spec's reporting order. */
    static const char *const ORDER[6][8] = {
        {"Art", "Art_Theory", "Design", "Music"},
        {"Accounting", "Economics", "Finance", "Manage", "Marketing"},
        {"Biology", "Chemistry", "Geography", "Math", "Physics"},
        {"Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
         "Pharmacy", "Public_Health"},
        {"History", "Literature", "Sociology", "Psychology"},
        {"Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
         "Energy_and_Power", "Materials", "Mechanical_Engineering"},
    };
    int di = 0;
    json_object_foreach((json_t *)disc, dname, d) {
        printf("%-40s %6lld %8lld %7.3f\n", dname,
               (long long)json_integer_value(json_object_get(d, "num")),
               (long long)json_integer_value(json_object_get(d, "correct")),
               json_real_value(json_object_get(d, "acc")));
        for (int k = 0; di < 6 && k < 8 && ORDER[di][k]; k++) {
            const json_t *x = json_object_get(subj, ORDER[di][k]);
            if (x)
                printf("  %-38s %6lld %8lld %7.3f\n", ORDER[di][k],
                       (long long)json_integer_value(json_object_get(x, "num")),
                       (long long)json_integer_value(json_object_get(x, "correct")),
                       json_real_value(json_object_get(x, "acc")));
        }
        di++;
    }
    printf("%-40s %6lld %8lld %7.3f\n", "Overall",
           (long long)json_integer_value(json_object_get(ov, "num")),
           (long long)json_integer_value(json_object_get(ov, "correct")),
           json_real_value(json_object_get(ov, "acc")));
    printf("%-40s %6lld %8lld %7.3f\n", "Overall without random fallback",
           (long long)json_integer_value(json_object_get(nr, "num")),
           (long long)json_integer_value(json_object_get(nr, "correct")),
           json_real_value(json_object_get(nr, "acc")));
    printf("\nrandom fallback: %lld",
           (long long)json_integer_value(json_object_get(s, "n_random_fallback")));
    if (json_object_get(s, "n_missing"))
        printf(", missing predictions: %lld",
               (long long)json_integer_value(json_object_get(s, "n_missing")));
    printf(", unknown ids: %lld, duplicate ids: %lld, skipped: %lld\n",
           (long long)json_integer_value(json_object_get(s, "n_unknown")),
           (long long)json_integer_value(json_object_get(s, "n_duplicate")),
           (long long)json_integer_value(json_object_get(s, "n_skipped")));
}

static void print_items(const json_t *s) {
    const char *id;
    json_t *it;
    json_object_foreach(json_object_get(s, "per_item"), id, it) {
        char *parsed = json_dumps(json_object_get(it, "parsed"), JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%s\t%s\t%s\t%s\n", id, json_is_true(json_object_get(it, "correct")) ? "1" : "0",
               json_is_true(json_object_get(it, "random_fallback")) ? "random" : "-",
               parsed ? parsed : "?");
        free(parsed);
    }
}

/* "mmmu_val" for validation ids (the usual case), "mmmu_dev" / "mmmu_test" when every id
 * has that split; the percent is the overall accuracy. */
static const char *metric(const json_t *s, double *pct, vlm_error *err) {
    (void)err;
    const char *id;
    json_t *it;
    int dev = 0, test = 0, other = 0;
    json_object_foreach(json_object_get(s, "per_item"), id, it) {
        if (!strncmp(id, "dev_", 4))
            dev++;
        else if (!strncmp(id, "test_", 5))
            test++;
        else
            other++;
    }
    *pct = 100.0 * json_real_value(json_object_get(json_object_get(s, "overall"), "acc"));
    return other || (!dev && !test) ? "mmmu_val"
           : !test                  ? "mmmu_dev"
           : !dev                   ? "mmmu_test"
                                    : "mmmu_val";
}

static vlm_status check_mode(const char *text, vlm_error *err) {
    vlm_mmmu_mode mode;
    return vlm_mmmu_mode_parse(text, &mode, err);
}

static vlm_status score(const char *text, const char *questions, const char *pred,
                        char **warnings, json_t **score, json_t **items, vlm_error *err) {
    vlm_mmmu_mode mode;
    vlm_mmmu_scorer *sc;
    vlm_status st = vlm_mmmu_mode_parse(text, &mode, err);
    if (st == VLM_OK)
        st = vlm_mmmu_scorer_create(mode, &sc, err);
    if (st != VLM_OK)
        return st;
    st = vlm_mmmu_load(sc, questions, pred, warnings, err);
    if (st == VLM_OK) {
        *score = vlm_mmmu_scorer_json(sc);
        *items = vlm_mmmu_scorer_items(sc);
    }
    vlm_mmmu_scorer_destroy(sc);
    return st;
}

int vlm_cmd_eval_mmmu(int argc, char **argv) {
    static const vlm_cli_answer_cmd cmd = {.cmd = "eval mmmu",
                                           .usage = USAGE,
                                           .default_mode = "official",
                                           .questions_required = false,
                                           .check_mode = check_mode,
                                           .score = score,
                                           .metric = metric,
                                           .print_table = print_table,
                                           .print_items = print_items};
    return vlm_cli_eval_answers(&cmd, argc, argv);
}
