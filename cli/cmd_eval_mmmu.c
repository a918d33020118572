/* vlmbench eval mmmu: scores MMMU predictions as the official code does (spec/eval.md 1, 6). */
#include "cli/cli.h"
#include "eval/eval.h"
#include "results/results.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define CMD "eval mmmu"

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vlmbench " CMD ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", USAGE);
    return VLM_EXIT_USAGE;
}

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
 * has that split. */
static const char *metric_name(const json_t *s) {
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
    return other || (!dev && !test) ? "mmmu_val"
           : !test                  ? "mmmu_dev"
           : !dev                   ? "mmmu_test"
                                    : "mmmu_val";
}

int vlm_cmd_eval_mmmu(int argc, char **argv) {
    if (vlm_cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return VLM_EXIT_OK;
    }
    const char *questions = NULL, *pred = NULL, *mode_text = "official", *json_path = NULL,
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
    if (!pred)
        return usage_error("%s", "--pred PATH is required");
    if (results && !model)
        return usage_error("%s", "--results needs --model NAME");
    if ((model || res_text) && !results)
        return usage_error("%s", "--model and --res only go with --results FILE");
    int res = 0;
    if (res_text && vlm_cli_parse_int(CMD, "--res", res_text, 1, 1 << 20, &res) != 0)
        return VLM_EXIT_USAGE;
    vlm_error err = {0};
    vlm_mmmu_mode mode;
    if (vlm_mmmu_mode_parse(mode_text, &mode, &err) != VLM_OK)
        return usage_error("%s", err.msg);

    vlm_mmmu_scorer *sc;
    if (vlm_mmmu_scorer_create(mode, &sc, &err) != VLM_OK)
        return vlm_cli_fail(CMD, &err);
    char *warnings = NULL;
    if (vlm_mmmu_load(sc, questions, pred, &warnings, &err) != VLM_OK) {
        vlm_mmmu_scorer_destroy(sc);
        return vlm_cli_fail(CMD, &err);
    }
    if (warnings) {
        for (char *line = strtok(warnings, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "vlmbench " CMD ": warning: %s\n", line);
        free(warnings);
    }
    json_t *score = vlm_mmmu_scorer_json(sc);
    json_t *items = vlm_mmmu_scorer_items(sc);
    vlm_mmmu_scorer_destroy(sc);
    int rc = VLM_EXIT_OK;
    if (!score || !items) {
        vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
        rc = vlm_cli_fail(CMD, &err);
        goto done;
    }
    if (json_path && vlm_json_write_file(score, json_path, &err) != VLM_OK) {
        rc = vlm_cli_fail(CMD, &err);
        goto done;
    }
    if (results) {
        const char *metric = metric_name(score);
        double pct =
            100.0 * json_real_value(json_object_get(json_object_get(score, "overall"), "acc"));
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
