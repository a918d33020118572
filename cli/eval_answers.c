/* The command flow shared by the answer scorers (eval mmmu, eval seedbench): options, scoring,
 * the score JSON, the results record, the table. */
#include "cli/cli.h"
#include "results/results.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage_error(const vlm_cli_answer_cmd *c, const char *fmt, const char *arg) {
    fprintf(stderr, "vlmbench %s: ", c->cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", c->usage);
    return VLM_EXIT_USAGE;
}

/* Appends {kind: eval, time, model, source: measured, metrics: {metric: pct}, metric_items:
 * {metric: items}, eval: score[, res]} to the results store. */
static vlm_status append_record(const char *results, const char *model, const char *res_text,
                                int res, const char *metric, double pct, json_t *items,
                                json_t *score, vlm_error *err) {
    char now[32];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:{s:f}, s:{s:O}, s:O}", "kind", "eval", "time",
                            now, "model", model, "source", "measured", "metrics", metric, pct,
                            "metric_items", metric, items, "eval", score);
    if (rec && res_text)
        json_object_set_new(rec, "res", json_integer(res));
    vlm_status st = rec ? vlm_results_append(results, rec, err)
                        : vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    json_decref(rec);
    return st;
}

int vlm_cli_eval_answers(const vlm_cli_answer_cmd *c, int argc, char **argv) {
    if (vlm_cli_wants_help(argc, argv)) {
        fputs(c->usage, stdout);
        return VLM_EXIT_OK;
    }
    const char *questions = NULL, *pred = NULL, *mode = c->default_mode, *json_path = NULL,
               *results = NULL, *model = NULL, *res_text = NULL;
    int per_item = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = !strcmp(a, "--questions") ? &questions
                            : !strcmp(a, "--pred")    ? &pred
                            : !strcmp(a, "--mode")    ? &mode
                            : !strcmp(a, "--json")    ? &json_path
                            : !strcmp(a, "--results") ? &results
                            : !strcmp(a, "--model")   ? &model
                            : !strcmp(a, "--res")     ? &res_text
                                                      : NULL;
        if (slot) {
            if (i + 1 >= argc)
                return usage_error(c, "option %s needs a value", a);
            *slot = argv[++i];
        } else if (!strcmp(a, "--per-item")) {
            per_item = 1;
        } else {
            return usage_error(c, "unknown option or argument '%s'", a);
        }
    }
    if (!pred || (c->questions_required && !questions))
        return usage_error(c, "%s",
                           c->questions_required ? "--questions PATH and --pred PATH are required"
                                                 : "--pred PATH is required");
    if (results && !model)
        return usage_error(c, "%s", "--results needs --model NAME");
    if ((model || res_text) && !results)
        return usage_error(c, "%s", "--model and --res only go with --results FILE");
    int res = 0;
    if (res_text && vlm_cli_parse_int(c->cmd, "--res", res_text, 1, 1 << 20, &res) != 0)
        return VLM_EXIT_USAGE;
    vlm_error err = {0};
    if (c->check_mode(mode, &err) != VLM_OK)
        return usage_error(c, "%s", err.msg);

    char *warnings = NULL;
    json_t *score = NULL, *items = NULL;
    if (c->score(mode, questions, pred, &warnings, &score, &items, &err) != VLM_OK)
        return vlm_cli_fail(c->cmd, &err);
    if (warnings) {
        for (char *line = strtok(warnings, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "vlmbench %s: warning: %s\n", c->cmd, line);
        free(warnings);
    }
    int rc = VLM_EXIT_OK;
    double pct = 0;
    const char *metric = NULL;
    /* everything that can fail happens before anything is written */
    if (!score || !items)
        vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
    else if (results)
        metric = c->metric(score, &pct, &err);
    if (!score || !items || (results && !metric) ||
        (json_path && vlm_json_write_file(score, json_path, &err) != VLM_OK) ||
        (results && append_record(results, model, res_text, res, metric, pct, items, score,
                                  &err) != VLM_OK)) {
        rc = vlm_cli_fail(c->cmd, &err);
    } else {
        c->print_table(score);
        if (per_item)
            c->print_items(score);
    }
    json_decref(score);
    json_decref(items);
    return rc;
}
