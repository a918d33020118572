/* `vlmbench compare BASE.jsonl NEW.jsonl`: the statistical regression gate for CI (README
 * "vlmbench compare"). Exit 0: no regression; 1: a regression, an accuracy drop or a model
 * change; 2: bad input or usage (including different environments without
 * --allow-env-mismatch). */
#include "cli/cli.h"
#include "results/results.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char vlm_compare_usage[] =
    "usage: vlmbench compare BASE.jsonl NEW.jsonl [--threshold 5%] [--alpha 0.01]\n"
    "                        [--acc-threshold 1.0] [--metric M,...] [--format table|md|json]\n"
    "                        [--allow-env-mismatch]\n"
    "\n"
    "Pairs the records of two results files by configuration (model, res, dtype, LLM,\n"
    "weights; eval records by model and res) and gates:\n"
    "  timing    (preprocess_ms, vision_ms, projector_ms, prefill_ms, ttft_ms): a regression\n"
    "            when the ratio of medians NEW/BASE exceeds 1 + threshold AND a two-sided\n"
    "            Mann-Whitney U test on the samples gives p < alpha (improvements likewise,\n"
    "            below 1 - threshold); with a seeded bootstrap (1 - alpha) interval\n"
    "  accuracy  (\"metrics\" of eval records): a drop of more than --acc-threshold points,\n"
    "            AND p < alpha of an exact McNemar test when both sides store per-item\n"
    "            correctness (\"metric_items\")\n"
    "  facts     params, MACs, tokens, prefill tokens must be identical (\"model changed\")\n"
    "Noisy records and estimates compared with measurements are reported but cannot fail the\n"
    "gate on timing. Records without a partner are listed.\n"
    "\n"
    "  --threshold T        timing effect: 5% (default) or a fraction 0.05\n"
    "  --alpha A            significance level (default 0.01)\n"
    "  --acc-threshold P    accuracy drop in points that fails (default 1.0)\n"
    "  --metric M,...       only these metrics (default: all timing and accuracy metrics)\n"
    "  --format F           table (default), md (for a pull request), json (for machines)\n"
    "  --allow-env-mismatch compare records from different CPUs, oneDNN versions or ISAs,\n"
    "                       or thread counts (refused by default) and say so in the report\n"
    "\n"
    "exit: 0 no regression, 1 regression / accuracy drop / model changed, 2 bad input\n";

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vlmbench compare: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", vlm_compare_usage);
    return VLM_EXIT_USAGE;
}

/* "5%" -> 0.05; "0.05" -> 0.05 (a bare number must be a fraction below 1, so that "5" is not
 * silently read as 500%). */
static int parse_threshold(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text)
        return -1;
    if (!strcmp(end, "%"))
        v /= 100;
    else if (*end || v >= 1)
        return -1;
    if (!(v >= 0 && v < 10))
        return -1;
    *out = v;
    return 0;
}

/* ---- rendering -------------------------------------------------------------------------- */

static double num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void fmt_value(char *buf, size_t n, double v) {
    if (!isfinite(v))
        snprintf(buf, n, "-");
    else if (fabs(v) >= 100)
        snprintf(buf, n, "%.1f", v);
    else if (fabs(v) >= 1)
        snprintf(buf, n, "%.2f", v);
    else
        snprintf(buf, n, "%.4f", v);
}

/* The cells of one metric row: base, new, change, interval, p, verdict. */
typedef struct row {
    char base[32], new_[32], change[32], interval[48], p[24], verdict[160];
} row;

static row make_row(json_t *m, int md) {
    row r;
    int acc = !strcmp(str(m, "kind"), "accuracy");
    fmt_value(r.base, sizeof r.base, num(m, "base"));
    fmt_value(r.new_, sizeof r.new_, num(m, "new"));
    if (acc && isfinite(num(m, "delta")))
        snprintf(r.change, sizeof r.change, "%+.2f pt", num(m, "delta"));
    else if (isfinite(num(m, "ratio")))
        snprintf(r.change, sizeof r.change, "%.3fx", num(m, "ratio"));
    else
        snprintf(r.change, sizeof r.change, "-");
    if (isfinite(num(m, "ci_lo")))
        snprintf(r.interval, sizeof r.interval, "[%.3f, %.3f]", num(m, "ci_lo"), num(m, "ci_hi"));
    else
        snprintf(r.interval, sizeof r.interval, "-");
    if (isfinite(num(m, "p")))
        snprintf(r.p, sizeof r.p, "%.2g", num(m, "p"));
    else
        snprintf(r.p, sizeof r.p, "-");
    const char *v = str(m, "verdict"), *note = str(m, "note");
    int gating = json_is_true(json_object_get(m, "gating"));
    if (!strcmp(v, "regression") && gating)
        snprintf(r.verdict, sizeof r.verdict, "%s%s%s%s",
                 acc ? (md ? "**accuracy drop**" : "ACCURACY DROP")
                     : (md ? "**regression**" : "REGRESSION"),
                 note[0] ? " (" : "", note, note[0] ? ")" : "");
    else if (!strcmp(v, "regression"))
        snprintf(r.verdict, sizeof r.verdict, "regression (advisory: %s)",
                 note[0] ? note : "cannot fail");
    else
        snprintf(r.verdict, sizeof r.verdict, "%s%s%s%s", v, note[0] ? " (" : "", note,
                 note[0] ? ")" : "");
    return r;
}

static void md_cell(const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            putchar('\\');
        putchar(*s);
    }
}

static void print_summary_line(json_t *report, int md) {
    json_t *s = json_object_get(report, "summary");
    int failed = json_is_true(json_object_get(report, "failed"));
    long long reg = (long long)json_integer_value(json_object_get(s, "regressions"));
    long long chg = (long long)json_integer_value(json_object_get(s, "model_changes"));
    long long acc = (long long)json_integer_value(json_object_get(s, "accuracy_drops"));
    long long adv = (long long)json_integer_value(json_object_get(s, "advisory"));
    long long imp = (long long)json_integer_value(json_object_get(s, "improvements"));
    printf("%s%s%s: %lld regression%s, %lld model change%s, %lld accuracy drop%s; %lld "
           "improvement%s, %lld advisory (noisy or estimated) regression%s; %lld pairs, %lld "
           "unmatched in BASE, %lld in NEW\n",
           md ? "**" : "", failed ? "FAIL" : "PASS", md ? "**" : "", reg, reg == 1 ? "" : "s", chg,
           chg == 1 ? "" : "s", acc, acc == 1 ? "" : "s", imp, imp == 1 ? "" : "s", adv,
           adv == 1 ? "" : "s", (long long)json_integer_value(json_object_get(s, "pairs")),
           (long long)json_integer_value(json_object_get(s, "unmatched_base")),
           (long long)json_integer_value(json_object_get(s, "unmatched_new")));
}

/* Model changes, environment differences, not-compared pairs, unmatched records, warnings. */
static void print_details(json_t *report, int md) {
    const char *bullet = md ? "- " : "  ";
    size_t i, j;
    json_t *cfg, *x;
    int header = 0;
    json_array_foreach(json_object_get(report, "configs"), i, cfg) {
        json_array_foreach(json_object_get(cfg, "model_changed"), j, x) {
            if (!header++)
                printf("\n%s\n", md ? "**Model changed** (facts differ; fails the gate):"
                                    : "MODEL CHANGED (facts differ; fails the gate):");
            char *bv = json_dumps(json_object_get(x, "base"), JSON_ENCODE_ANY);
            char *nv = json_dumps(json_object_get(x, "new"), JSON_ENCODE_ANY);
            printf("%s%s: %s %s -> %s\n", bullet, str(cfg, "config"), str(x, "field"),
                   bv ? bv : "?", nv ? nv : "?");
            free(bv);
            free(nv);
        }
    }
    json_t *env = json_object_get(report, "env_mismatch");
    if (json_array_size(env)) {
        printf("\nEnvironment differs (--allow-env-mismatch): timings were measured on different "
               "machines, builds or thread counts:\n");
        json_array_foreach(env, i, x) printf(
            "%s%s: '%s' vs '%s' (%lld configs, first %s)\n", bullet, str(x, "field"),
            str(x, "base"), str(x, "new"),
            (long long)json_integer_value(json_object_get(x, "configs")), str(x, "first_config"));
    }
    header = 0;
    json_array_foreach(json_object_get(report, "configs"), i, cfg) {
        if (!strcmp(str(cfg, "status"), "compared"))
            continue;
        if (!header++)
            printf("\nNot compared:\n");
        printf("%s%s: %s\n", bullet, str(cfg, "config"), str(cfg, "status"));
    }
    const char *sides[2] = {"base", "new"};
    const char *names[2] = {"Only in BASE (no partner in NEW):",
                            "Only in NEW (no partner in BASE):"};
    for (int s = 0; s < 2; s++) {
        json_t *list = json_object_get(json_object_get(report, "unmatched"), sides[s]);
        if (!json_array_size(list))
            continue;
        printf("\n%s\n", names[s]);
        json_array_foreach(list, i, x) printf("%s%s\n", bullet, json_string_value(x));
    }
    json_array_foreach(json_object_get(report, "warnings"), i, x)
        fprintf(stderr, "vlmbench compare: warning: %s\n", json_string_value(x));
}

static void print_table(json_t *report, const char *base_path, const char *new_path) {
    json_t *params = json_object_get(report, "params");
    double level = 100 * (1 - num(params, "alpha"));
    printf(
        "vlmbench compare: BASE %s vs NEW %s (threshold %g%%, alpha %g, accuracy %.1f points)\n\n",
        base_path, new_path, 100 * num(params, "threshold"), num(params, "alpha"),
        num(params, "acc_threshold"));
    int w = 6;
    size_t i, j;
    json_t *cfg, *m;
    json_array_foreach(json_object_get(report, "configs"), i, cfg) {
        int len = (int)strlen(str(cfg, "config"));
        if (len > w)
            w = len;
    }
    char ci_head[32];
    snprintf(ci_head, sizeof ci_head, "%g%% interval", level);
    printf("%-*s  %-16s %10s %10s %9s  %-16s %8s  %s\n", w, "config", "metric", "base", "new",
           "change", ci_head, "p", "verdict");
    json_array_foreach(json_object_get(report, "configs"), i, cfg) {
        json_array_foreach(json_object_get(cfg, "metrics"), j, m) {
            row r = make_row(m, 0);
            printf("%-*s  %-16s %10s %10s %9s  %-16s %8s  %s\n", w, str(cfg, "config"),
                   str(m, "metric"), r.base, r.new_, r.change, r.interval, r.p, r.verdict);
        }
    }
    print_details(report, 0);
    printf("\n");
    print_summary_line(report, 0);
}

static void print_md(json_t *report, const char *base_path, const char *new_path) {
    json_t *params = json_object_get(report, "params");
    printf("### vlmbench compare: ");
    print_summary_line(report, 1);
    printf("\nBASE `%s` vs NEW `%s`; a regression needs a change above %g%% (accuracy: %.1f "
           "points) and p < %g.\n\n",
           base_path, new_path, 100 * num(params, "threshold"), num(params, "acc_threshold"),
           num(params, "alpha"));
    printf("| config | metric | base | new | change | %g%% interval | p | verdict |\n",
           100 * (1 - num(params, "alpha")));
    printf("|---|---|---:|---:|---:|---|---:|---|\n");
    size_t i, j;
    json_t *cfg, *m;
    json_array_foreach(json_object_get(report, "configs"), i, cfg) {
        json_array_foreach(json_object_get(cfg, "metrics"), j, m) {
            row r = make_row(m, 1);
            printf("| ");
            md_cell(str(cfg, "config"));
            printf(" | %s | %s | %s | %s | %s | %s | ", str(m, "metric"), r.base, r.new_, r.change,
                   r.interval, r.p);
            md_cell(r.verdict);
            printf(" |\n");
        }
    }
    print_details(report, 1);
}

int vlm_cmd_compare(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *format = "table";
    char *metric_list = NULL;
    const char **metrics = NULL;
    int npaths = 0, code = VLM_EXIT_OK;
    vlm_compare_params p = vlm_compare_default_params();
    vlm_results base = {0}, new_ = {0};
    vlm_error err = {0};
    json_t *report = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--threshold") || !strcmp(a, "--alpha") ||
                    !strcmp(a, "--acc-threshold") || !strcmp(a, "--metric") ||
                    !strcmp(a, "--format");
        if (takes && !val) {
            code = bad_usage("%s needs a value", a);
            goto done;
        }
        if (!strcmp(a, "--threshold")) {
            if (parse_threshold(val, &p.threshold)) {
                code = bad_usage("--threshold wants a percentage like 5%% or a fraction like "
                                 "0.05, got '%s'",
                                 val);
                goto done;
            }
        } else if (!strcmp(a, "--alpha")) {
            if (vlm_cli_parse_double("compare", a, val, 1e-12, 0.5, &p.alpha)) {
                code = VLM_EXIT_USAGE;
                goto done;
            }
        } else if (!strcmp(a, "--acc-threshold")) {
            if (vlm_cli_parse_double("compare", a, val, 0, 100, &p.acc_threshold)) {
                code = VLM_EXIT_USAGE;
                goto done;
            }
        } else if (!strcmp(a, "--metric")) {
            free(metric_list);
            free(metrics);
            metric_list = strdup(val);
            metrics = calloc(strlen(val) / 2 + 2, sizeof *metrics);
            if (!metric_list || !metrics) {
                fputs("vlmbench compare: out of memory\n", stderr);
                code = VLM_EXIT_INTERNAL;
                goto done;
            }
            p.n_metrics = 0;
            for (char *save = NULL, *tok = strtok_r(metric_list, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
                metrics[p.n_metrics++] = tok;
            if (p.n_metrics == 0) {
                code = bad_usage("--metric wants a list of metric names, got '%s'", val);
                goto done;
            }
            p.metrics = metrics;
        } else if (!strcmp(a, "--format")) {
            if (strcmp(val, "table") && strcmp(val, "md") && strcmp(val, "json")) {
                code = bad_usage("--format wants table, md or json, got '%s'", val);
                goto done;
            }
            format = val;
        } else if (!strcmp(a, "--allow-env-mismatch")) {
            p.allow_env_mismatch = 1;
            continue;
        } else if (a[0] == '-' && a[1]) {
            code = bad_usage("unknown option '%s'", a);
            goto done;
        } else if (npaths < 2) {
            paths[npaths++] = a;
            continue;
        } else {
            code = bad_usage("unexpected argument '%s' (compare takes two files)", a);
            goto done;
        }
        i++; /* the option's value */
    }
    if (npaths != 2) {
        code = bad_usage("%s", "needs two results files: BASE.jsonl NEW.jsonl");
        goto done;
    }
    p.base_name = paths[0];
    p.new_name = paths[1];
    if (vlm_results_read(paths[0], &base, &err) || vlm_results_read(paths[1], &new_, &err) ||
        vlm_compare_results(&base, &new_, &p, &report, &err)) {
        code = vlm_cli_fail("compare", &err);
    } else {
        for (int s = 0; s < 2; s++) {
            const char *w = s ? new_.warning : base.warning;
            if (w[0])
                fprintf(stderr, "vlmbench compare: warning: %s\n", w);
        }
        if (!strcmp(format, "json")) {
            json_object_set_new(report, "base_file", json_string(paths[0]));
            json_object_set_new(report, "new_file", json_string(paths[1]));
            char *text = json_dumps(report, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
            if (text)
                puts(text);
            free(text);
            if (!text) {
                fputs("vlmbench compare: out of memory\n", stderr);
                code = VLM_EXIT_INTERNAL;
            }
            json_t *w;
            size_t i;
            json_array_foreach(json_object_get(report, "warnings"), i, w)
                fprintf(stderr, "vlmbench compare: warning: %s\n", json_string_value(w));
        } else if (!strcmp(format, "md")) {
            print_md(report, paths[0], paths[1]);
        } else {
            print_table(report, paths[0], paths[1]);
        }
        if (!code && json_is_true(json_object_get(report, "failed")))
            code = VLM_EXIT_REGRESSION;
        if (fflush(stdout) && !code) {
            fputs("vlmbench compare: cannot write the report\n", stderr);
            code = VLM_EXIT_INTERNAL;
        }
    }
done:
    json_decref(report);
    vlm_results_free(&base);
    vlm_results_free(&new_);
    free(metric_list);
    free(metrics);
    return code;
}
