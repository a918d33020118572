/* `vlmbench compare`: pairs the records of two results files and applies the regression gate
 * (README "vlmbench compare"; issue 8): deterministic facts must be equal, timing metrics
 * need an effect above the threshold AND a significant Mann-Whitney test, accuracy metrics a
 * drop above the threshold in points AND (with per-item correctness) a significant McNemar
 * test; different environments are refused unless allowed; noisy records are advisory. */
#include "results/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The timed parts of time-to-first-token, in record order; ttft_ms is their sum of medians. */
static const char *const k_parts[] = {"preprocess_ms", "vision_ms", "projector_ms", "prefill_ms"};
enum { N_PARTS = 4 };

/* Facts computed from the model tables, not measured: any difference means the model, its
 * input or its token count changed, and the timings are no longer comparable. */
static const char *const k_facts[] = {
    "params", "macs", "tokens", "prefill_tokens", "projector_macs", "prefill_macs", "llm_params"};

/* Environment fields that make timings incomparable (besides the thread count). */
static const char *const k_env[] = {"cpu", "onednn", "onednn_isa"};

vlm_compare_params vlm_compare_default_params(void) {
    /* 5%: below what a user notices, above the drift of a quiet machine; alpha 0.01: at most
     * one false alarm in a hundred clean comparisons per metric even before the threshold */
    return (vlm_compare_params){.threshold = 0.05,
                                .alpha = 0.01,
                                .acc_threshold = 1.0,
                                .bootstrap_reps = 2000,
                                .seed = 0x5eedc0ffee5eedull,
                                .base_name = "BASE",
                                .new_name = "NEW"};
}

const char *vlm_compare_verdict_name(vlm_compare_verdict v) {
    switch (v) {
    case VLM_COMPARE_REGRESSION: return "regression";
    case VLM_COMPARE_IMPROVEMENT: return "improvement";
    default: return "unchanged";
    }
}

vlm_status vlm_compare_timing_samples(const double *base, int n_base, const double *new_, int n_new,
                                      const vlm_compare_params *p, vlm_compare_timing *out,
                                      vlm_error *err) {
    *out = (vlm_compare_timing){0};
    vlm_status st = vlm_compare_mann_whitney(base, n_base, new_, n_new, &out->mwu, err);
    if (st)
        return st;
    out->base_median = vlm_compare_median(base, n_base);
    out->new_median = vlm_compare_median(new_, n_new);
    if (!(out->base_median > 0))
        return vlm_error_set(err, VLM_ERR_INVALID, "the base median is not positive (%g)",
                             out->base_median);
    out->ratio = out->new_median / out->base_median;
    st = vlm_compare_bootstrap_ratio(&base, &n_base, 1, &new_, &n_new, 1, p->bootstrap_reps,
                                     1 - p->alpha, p->seed, &out->ci_lo, &out->ci_hi, NULL, err);
    if (st)
        return st;
    int significant = out->mwu.p < p->alpha;
    if (significant && out->ratio > 1 + p->threshold)
        out->verdict = VLM_COMPARE_REGRESSION;
    else if (significant && out->ratio < 1 - p->threshold)
        out->verdict = VLM_COMPARE_IMPROVEMENT;
    return VLM_OK;
}

/* ---- records ---------------------------------------------------------------------------- */

typedef struct rec_info {
    json_t *rec; /* borrowed */
    char *match; /* pairing key: kind, model, res, dtype, llm, weights (owned) */
    char *full;  /* configuration identity: + threads, prefill tokens, env (owned) */
    char *label; /* for people: "mci0@256 f32 threads=2 llm=qwen2-tiny" (owned) */
    json_int_t threads, prefill_tokens; /* -1 when absent */
    int is_eval, partner;
    int superseded; /* an eval record repeated later in the same file: the later one counts */
} rec_info;

static int cmp_str(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return x && y ? strcmp(x, y) : (x != NULL) - (y != NULL);
}

static int is_eval_record(const json_t *rec) {
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    return kind && !strcmp(kind, "eval");
}

static json_int_t int_field(json_t *obj, const char *name) {
    json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        return (json_int_t)json_real_value(v);
    return -1;
}

/* A value as text for keys and messages: strings as they are, integral numbers as integers,
 * missing as "(none)". malloc'd. */
static char *value_text(const json_t *v) {
    char buf[64];
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
             fabs(json_real_value(v)) < 1e15)
        snprintf(buf, sizeof buf, "%.0f", json_real_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else if (!v || json_is_null(v))
        snprintf(buf, sizeof buf, "(none)");
    else
        return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    return strdup(buf);
}

/* weights: "synthetic:SEED" or a path; an object {path, sha256} is its content hash */
static json_t *weights_id(json_t *rec) {
    json_t *w = json_object_get(rec, "weights");
    if (json_is_object(w)) {
        json_t *sha = json_object_get(w, "sha256");
        return sha ? sha : json_object_get(w, "path");
    }
    return w;
}

static char *res_text(json_t *rec) {
    json_t *res = json_object_get(rec, "res");
    if (res && !json_is_null(res))
        return value_text(res);
    json_t *h = json_object_get(rec, "height"), *w = json_object_get(rec, "width");
    if (!h && !w)
        return strdup("");
    char *a = value_text(h), *b = value_text(w), *s = NULL;
    if (a && b && (s = malloc(strlen(a) + strlen(b) + 2)))
        sprintf(s, "%sx%s", a, b);
    free(a);
    free(b);
    return s;
}

/* Joins n malloc'd strings (freed here) with sep; NULL when any is NULL or out of memory. */
static char *join_owned(char **parts, int n, const char *sep) {
    size_t len = 1;
    int ok = 1;
    for (int i = 0; i < n; i++)
        if (parts[i])
            len += strlen(parts[i]) + strlen(sep);
        else
            ok = 0;
    char *s = ok ? malloc(len) : NULL;
    if (s) {
        s[0] = '\0';
        for (int i = 0; i < n; i++) {
            if (i)
                strcat(s, sep);
            strcat(s, parts[i]);
        }
    }
    for (int i = 0; i < n; i++)
        free(parts[i]);
    return s;
}

static int info_init(rec_info *ri, json_t *rec) {
    *ri = (rec_info){.rec = rec, .partner = -1};
    ri->is_eval = is_eval_record(rec);
    ri->threads = int_field(rec, "threads");
    if (ri->threads < 0)
        ri->threads = int_field(json_object_get(rec, "env"), "threads");
    ri->prefill_tokens = int_field(rec, "prefill_tokens");
    json_t *llm = json_object_get(rec, "llm"), *w = weights_id(rec);
    char *metric_names = NULL;
    if (ri->is_eval) {
        /* one eval record per benchmark: its metric names tell MMMU from SEED-Bench */
        json_t *names = json_array();
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(rec, "metrics"), name, v)
            json_array_append_new(names, json_string(name));
        char *parts[16];
        int k = 0;
        size_t i;
        json_array_foreach(names, i, v) if (k < 16) parts[k++] = strdup(json_string_value(v));
        qsort(parts, (size_t)k, sizeof *parts, cmp_str);
        metric_names = k ? join_owned(parts, k, ",") : strdup("");
        json_decref(names);
        char *m[4] = {strdup("eval"), value_text(json_object_get(rec, "model")), res_text(rec),
                      metric_names ? strdup(metric_names) : NULL};
        ri->match = join_owned(m, 4, "|");
        ri->full = ri->match ? strdup(ri->match) : NULL;
    } else {
        char *m[6] = {strdup("run"),
                      value_text(json_object_get(rec, "model")),
                      res_text(rec),
                      value_text(json_object_get(rec, "dtype")),
                      llm ? value_text(llm) : strdup("none"),
                      w ? value_text(w) : strdup("synthetic")};
        ri->match = join_owned(m, 6, "|");
        ri->full = vlm_results_config_key(rec);
    }
    /* label */
    char *model = value_text(json_object_get(rec, "model")), *res = res_text(rec);
    char *dtype = value_text(json_object_get(rec, "dtype"));
    char *llm_s = llm ? value_text(llm) : strdup("none");
    char *w_s = w ? value_text(w) : strdup("synthetic");
    size_t len = 64 + (metric_names ? strlen(metric_names) : 0) + (model ? strlen(model) : 0) +
                 (res ? strlen(res) : 0) + (dtype ? strlen(dtype) : 0) +
                 (llm_s ? strlen(llm_s) : 0) + (w_s ? strlen(w_s) : 0);
    ri->label = malloc(len);
    if (ri->label && model && res && dtype && llm_s && w_s) {
        int n = snprintf(ri->label, len, "%s%s%s%s", ri->is_eval ? "eval " : "", model,
                         res[0] ? "@" : "", res);
        if (ri->is_eval && metric_names && metric_names[0]) {
            snprintf(ri->label + n, len - (size_t)n, " (%s)", metric_names);
        } else if (!ri->is_eval) {
            n += snprintf(ri->label + n, len - (size_t)n, " %s", dtype);
            if (ri->threads >= 0)
                n += snprintf(ri->label + n, len - (size_t)n, " threads=%lld",
                              (long long)ri->threads);
            n += snprintf(ri->label + n, len - (size_t)n, " llm=%s", llm_s);
            if (strncmp(w_s, "synthetic", 9))
                snprintf(ri->label + n, len - (size_t)n, " weights=%s", w_s);
        }
    } else {
        free(ri->label);
        ri->label = NULL;
    }
    free(model);
    free(res);
    free(dtype);
    free(llm_s);
    free(w_s);
    free(metric_names);
    return ri->match && ri->full && ri->label ? 0 : -1;
}

static void infos_free(rec_info *v, int n) {
    if (!v)
        return;
    for (int i = 0; i < n; i++) {
        free(v[i].match);
        free(v[i].full);
        free(v[i].label);
    }
    free(v);
}

static vlm_status infos_build(const vlm_results *r, const char *name, rec_info **out,
                              vlm_error *err) {
    rec_info *v = calloc((size_t)(r->n > 0 ? r->n : 1), sizeof *v);
    if (!v)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", name);
    for (int i = 0; i < r->n; i++) {
        if (info_init(&v[i], r->records[i])) {
            infos_free(v, i + 1);
            return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", name);
        }
        for (int j = 0; j < i; j++) {
            if (v[j].superseded || strcmp(v[j].full, v[i].full) || strcmp(v[j].match, v[i].match))
                continue;
            if (v[i].is_eval) {
                /* evaluations are appended each time they run: the latest result stands */
                v[j].superseded = 1;
                continue;
            }
            {
                vlm_status st = vlm_error_set(
                    err, VLM_ERR_FORMAT,
                    "%s: the configuration %s appears twice (records %d and %d): compare needs "
                    "one record per configuration (`vlmbench results merge` refuses duplicates)",
                    name, v[i].label, j + 1, i + 1);
                infos_free(v, i + 1);
                return st;
            }
        }
    }
    *out = v;
    return VLM_OK;
}

/* Pairs records in three passes: the same configuration identity (threads, prefill tokens,
 * environment), then the same threads, then the same pairing key, so a thread-count or token
 * change still finds its partner and is reported, not listed as two unmatched records. */
static void pair_records(rec_info *b, int nb, rec_info *n, int nn) {
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < nb; i++) {
            if (b[i].partner >= 0 || b[i].superseded)
                continue;
            for (int j = 0; j < nn; j++) {
                if (n[j].partner >= 0 || n[j].superseded || strcmp(b[i].match, n[j].match))
                    continue;
                if (pass == 0 && strcmp(b[i].full, n[j].full))
                    continue;
                if (pass == 1 && b[i].threads != n[j].threads)
                    continue;
                b[i].partner = j;
                n[j].partner = i;
                break;
            }
        }
}

/* ---- report helpers --------------------------------------------------------------------- */

static json_t *jnum(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static int selected(const vlm_compare_params *p, const char *metric) {
    if (!p->metrics)
        return 1;
    for (int i = 0; i < p->n_metrics; i++)
        if (!strcmp(p->metrics[i], metric))
            return 1;
    return 0;
}

static const char *status_of(json_t *rec) {
    const char *s = json_string_value(json_object_get(rec, "status"));
    return s ? s : "ok";
}

/* A record is noisy when the runner flagged it or any of its timings (README: a part's
 * bootstrap interval of the median wider than 5% of it). */
static int record_noisy(json_t *rec) {
    if (json_is_true(json_object_get(rec, "noisy")))
        return 1;
    for (int k = 0; k < N_PARTS; k++)
        if (json_is_true(json_object_get(json_object_get(rec, k_parts[k]), "noisy")))
            return 1;
    return 0;
}

/* Accuracy metrics where lower is better (depth errors, losses); all others (accuracy,
 * mIoU, recall in percent) are higher-is-better. */
static int lower_is_better(const char *metric) {
    static const char *const marks[] = {"rmse", "abs_rel", "absrel", "sq_rel", "error", "loss"};
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        if (strstr(metric, marks[i]))
            return 1;
    return 0;
}

typedef struct summary {
    int pairs, compared, regressions, advisory, improvements, model_changes, accuracy_drops,
        not_compared;
} summary;

typedef struct env_diff {
    char *field, *base, *new_, *first; /* owned */
    int configs;
} env_diff;

typedef struct ctx {
    const vlm_compare_params *p;
    summary sum;
    env_diff *diffs;
    int n_diffs, cap_diffs;
    json_t *warnings;
} ctx;

static int note_env(ctx *c, const char *field, char *bv, char *nv, const char *label) {
    for (int i = 0; i < c->n_diffs; i++)
        if (!strcmp(c->diffs[i].field, field) && !strcmp(c->diffs[i].base, bv) &&
            !strcmp(c->diffs[i].new_, nv)) {
            c->diffs[i].configs++;
            free(bv);
            free(nv);
            return 0;
        }
    if (c->n_diffs == c->cap_diffs) {
        int ncap = c->cap_diffs ? 2 * c->cap_diffs : 8;
        env_diff *nd = realloc(c->diffs, (size_t)ncap * sizeof *nd);
        if (!nd) {
            free(bv);
            free(nv);
            return -1;
        }
        c->diffs = nd;
        c->cap_diffs = ncap;
    }
    c->diffs[c->n_diffs++] =
        (env_diff){strdup(field), bv, nv, strdup(label), 1}; /* strdup failure: checked below */
    env_diff *d = &c->diffs[c->n_diffs - 1];
    return d->field && d->first ? 0 : -1;
}

/* Environment fingerprint of a timing pair: cpu, oneDNN version and ISA, thread count. A field
 * present on one side only differs; absent on both is equal. */
static int compare_env(ctx *c, const rec_info *b, const rec_info *n) {
    json_t *be = json_object_get(b->rec, "env"), *ne = json_object_get(n->rec, "env");
    for (size_t i = 0; i < sizeof k_env / sizeof *k_env; i++) {
        char *bv = value_text(json_object_get(be, k_env[i]));
        char *nv = value_text(json_object_get(ne, k_env[i]));
        if (!bv || !nv) {
            free(bv);
            free(nv);
            return -1;
        }
        if (strcmp(bv, nv)) {
            if (note_env(c, k_env[i], bv, nv, b->label))
                return -1;
        } else {
            free(bv);
            free(nv);
        }
    }
    if (b->threads != n->threads) {
        char bt[32], nt[32];
        snprintf(bt, sizeof bt, "%lld", (long long)b->threads);
        snprintf(nt, sizeof nt, "%lld", (long long)n->threads);
        if (note_env(c, "threads", strdup(b->threads < 0 ? "(none)" : bt),
                     strdup(n->threads < 0 ? "(none)" : nt), b->label))
            return -1;
    }
    return 0;
}

/* Samples of a timing object as a malloc'd array (n = 0 and NULL when there are none). */
static vlm_status samples_of(json_t *t, const char *file, const char *label, const char *metric,
                             double **out, int *n, vlm_error *err) {
    *out = NULL;
    *n = 0;
    json_t *s = json_object_get(t, "samples");
    if (!s)
        return VLM_OK;
    if (!json_is_array(s))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: %s: %s.samples is not an array", file, label,
                             metric);
    size_t len = json_array_size(s);
    if (len == 0)
        return VLM_OK;
    double *v = malloc(len * sizeof *v);
    if (!v)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < len; i++) {
        json_t *x = json_array_get(s, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x)) || json_number_value(x) < 0) {
            free(v);
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: %s: %s.samples[%zu] is not a non-negative number", file,
                                 label, metric, i);
        }
        v[i] = json_number_value(x);
    }
    *out = v;
    *n = (int)len;
    return VLM_OK;
}

typedef struct part {
    double *bs, *ns; /* owned samples */
    int nb, nn;
    int present_b, present_n, est_b, est_n, tested;
    vlm_compare_timing t;
} part;

static json_t *metric_entry(const char *metric, const char *kind) {
    return json_pack("{s:s, s:s}", "metric", metric, "kind", kind);
}

static void set_verdict(json_t *m, vlm_compare_verdict v, int gating) {
    json_object_set_new(m, "verdict", json_string(vlm_compare_verdict_name(v)));
    json_object_set_new(m, "gating", json_boolean(gating));
}

/* Timing metrics of one pair, appended to metrics. */
static vlm_status compare_timings(ctx *c, const rec_info *b, const rec_info *n, int noisy,
                                  json_t *metrics, vlm_error *err) {
    const vlm_compare_params *p = c->p;
    part parts[N_PARTS] = {0};
    vlm_status st = VLM_OK;
    for (int k = 0; k < N_PARTS && !st; k++) {
        part *pt = &parts[k];
        json_t *bt = json_object_get(b->rec, k_parts[k]), *nt = json_object_get(n->rec, k_parts[k]);
        pt->present_b = json_is_object(bt);
        pt->present_n = json_is_object(nt);
        pt->est_b = json_is_true(json_object_get(bt, "estimated"));
        pt->est_n = json_is_true(json_object_get(nt, "estimated"));
        if (bt && !pt->present_b)
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: %s: %s is not a timing object",
                               p->base_name, b->label, k_parts[k]);
        else if (nt && !pt->present_n)
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: %s: %s is not a timing object",
                               p->new_name, n->label, k_parts[k]);
        if (!st && pt->present_b)
            st = samples_of(bt, p->base_name, b->label, k_parts[k], &pt->bs, &pt->nb, err);
        if (!st && pt->present_n)
            st = samples_of(nt, p->new_name, n->label, k_parts[k], &pt->ns, &pt->nn, err);
        if (!st && pt->nb > 0 && pt->nn > 0) {
            st = vlm_compare_timing_samples(pt->bs, pt->nb, pt->ns, pt->nn, p, &pt->t, err);
            if (st == VLM_ERR_INVALID) { /* e.g. all-zero base samples */
                char why[sizeof err->msg];
                snprintf(why, sizeof why, "%s", err ? err->msg : "invalid samples");
                st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: %s: %s: %s", p->base_name, b->label,
                                   k_parts[k], why);
            }
            pt->tested = !st;
        }
    }
    for (int k = 0; k < N_PARTS && !st; k++) {
        part *pt = &parts[k];
        if (!selected(p, k_parts[k]) || (!pt->present_b && !pt->present_n))
            continue;
        json_t *m = metric_entry(k_parts[k], "timing");
        json_array_append_new(metrics, m);
        vlm_compare_verdict v = VLM_COMPARE_UNCHANGED;
        const char *note = NULL;
        if (!pt->present_b || !pt->present_n) {
            note = pt->present_b ? "only in BASE" : "only in NEW";
        } else if (!pt->tested) {
            note = "no samples: not tested";
        } else {
            json_object_set_new(m, "base", jnum(pt->t.base_median));
            json_object_set_new(m, "new", jnum(pt->t.new_median));
            json_object_set_new(m, "ratio", jnum(pt->t.ratio));
            json_object_set_new(m, "ci_lo", jnum(pt->t.ci_lo));
            json_object_set_new(m, "ci_hi", jnum(pt->t.ci_hi));
            json_object_set_new(m, "p", jnum(pt->t.mwu.p));
            json_object_set_new(
                m, "test",
                json_string(pt->t.mwu.exact ? "mann-whitney exact" : "mann-whitney normal"));
            json_object_set_new(m, "n_base", json_integer(pt->nb));
            json_object_set_new(m, "n_new", json_integer(pt->nn));
            v = pt->t.verdict;
            if (pt->est_b != pt->est_n)
                note = "estimate vs measurement";
            else if (noisy)
                note = "noisy record";
            else if (pt->est_b)
                note = "layer-sampled estimates";
        }
        json_object_set_new(m, "estimated", json_boolean(pt->est_b || pt->est_n));
        int gating = v == VLM_COMPARE_REGRESSION && !noisy && pt->est_b == pt->est_n;
        set_verdict(m, v, gating);
        if (note)
            json_object_set_new(m, "note", json_string(note));
        c->sum.regressions += gating;
        c->sum.advisory += v == VLM_COMPARE_REGRESSION && !gating;
        c->sum.improvements += v == VLM_COMPARE_IMPROVEMENT;
    }
    /* ttft_ms is a plain number, the sum of the parts' medians: its ratio is that of the
     * recorded sums, its interval a bootstrap of the sum resampling every part. Significance
     * is conservative: the bootstrap's p AND the smallest Mann-Whitney p among parts moving in
     * the same direction must both be below alpha (a sum cannot have changed significantly
     * unless some part did; and the bootstrap of a median of 3 samples is overconfident). */
    json_t *bt = json_object_get(b->rec, "ttft_ms"), *nt = json_object_get(n->rec, "ttft_ms");
    if (!st && selected(p, "ttft_ms") && (bt || nt)) {
        json_t *m = metric_entry("ttft_ms", "timing");
        json_array_append_new(metrics, m);
        vlm_compare_verdict v = VLM_COMPARE_UNCHANGED;
        const char *note = NULL;
        int est_mismatch = 0, est = 0;
        for (int k = 0; k < N_PARTS; k++) {
            est_mismatch |=
                parts[k].present_b && parts[k].present_n && parts[k].est_b != parts[k].est_n;
            est |= parts[k].est_b || parts[k].est_n;
        }
        const double *bp[N_PARTS], *np[N_PARTS];
        int bn[N_PARTS], nn[N_PARTS], kb = 0, kn = 0;
        for (int k = 0; k < N_PARTS; k++) {
            if (parts[k].nb > 0)
                bp[kb] = parts[k].bs, bn[kb++] = parts[k].nb;
            if (parts[k].nn > 0)
                np[kn] = parts[k].ns, nn[kn++] = parts[k].nn;
        }
        if (!json_is_number(bt) || !json_is_number(nt)) {
            note = json_is_number(bt)   ? "only in BASE"
                   : json_is_number(nt) ? "only in NEW"
                                        : "not a number";
        } else if (!(json_number_value(bt) > 0) || !isfinite(json_number_value(nt))) {
            note = "not a positive number";
        } else {
            double base_v = json_number_value(bt), new_v = json_number_value(nt);
            double ratio = new_v / base_v, lo = NAN, hi = NAN, p_boot = 1, p_parts = 1;
            json_object_set_new(m, "base", jnum(base_v));
            json_object_set_new(m, "new", jnum(new_v));
            json_object_set_new(m, "ratio", jnum(ratio));
            if (kb > 0 && kn > 0) {
                st = vlm_compare_bootstrap_ratio(bp, bn, kb, np, nn, kn, p->bootstrap_reps,
                                                 1 - p->alpha, p->seed, &lo, &hi, &p_boot, err);
                if (st == VLM_ERR_INVALID) {
                    /* all-zero base parts: nothing to test; say so instead of failing */
                    st = VLM_OK;
                    p_boot = 1;
                }
            }
            for (int k = 0; k < N_PARTS; k++)
                if (parts[k].tested && (parts[k].t.ratio - 1) * (ratio - 1) > 0 &&
                    parts[k].t.mwu.p < p_parts)
                    p_parts = parts[k].t.mwu.p;
            double pv = fmax(p_boot, p_parts);
            json_object_set_new(m, "ci_lo", jnum(lo));
            json_object_set_new(m, "ci_hi", jnum(hi));
            json_object_set_new(m, "p", jnum(pv));
            json_object_set_new(m, "test", json_string("bootstrap of the sum + parts"));
            if (pv < p->alpha && ratio > 1 + p->threshold)
                v = VLM_COMPARE_REGRESSION;
            else if (pv < p->alpha && ratio < 1 - p->threshold)
                v = VLM_COMPARE_IMPROVEMENT;
            if (est_mismatch)
                note = "estimate vs measurement";
            else if (noisy)
                note = "noisy record";
            else if (est)
                note = "includes layer-sampled estimates";
        }
        json_object_set_new(m, "estimated", json_boolean(est));
        int gating = v == VLM_COMPARE_REGRESSION && !noisy && !est_mismatch;
        set_verdict(m, v, gating);
        if (note)
            json_object_set_new(m, "note", json_string(note));
        c->sum.regressions += gating;
        c->sum.advisory += v == VLM_COMPARE_REGRESSION && !gating;
        c->sum.improvements += v == VLM_COMPARE_IMPROVEMENT;
    }
    for (int k = 0; k < N_PARTS; k++) {
        free(parts[k].bs);
        free(parts[k].ns);
    }
    return st;
}

/* Per-item correctness as 0/1 (numbers or booleans); -1 when malformed or absent. */
static int item_value(json_t *v) {
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_number(v) && (json_number_value(v) == 0 || json_number_value(v) == 1))
        return json_number_value(v) == 1;
    return -1;
}

static void add_warning(ctx *c, const char *fmt, const char *a, const char *b) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b);
    json_array_append_new(c->warnings, json_string(msg));
}

/* Accuracy metrics ("metrics": {name: score}) of one pair. */
static void compare_accuracy(ctx *c, const rec_info *b, const rec_info *n, json_t *metrics) {
    const vlm_compare_params *p = c->p;
    json_t *bm = json_object_get(b->rec, "metrics"), *nm = json_object_get(n->rec, "metrics");
    json_t *bi = json_object_get(b->rec, "metric_items"),
           *ni = json_object_get(n->rec, "metric_items");
    const char *name;
    json_t *bv;
    /* names of both sides, base first, each once */
    json_t *names = json_array();
    json_object_foreach(bm, name, bv) json_array_append_new(names, json_string(name));
    json_object_foreach(nm, name, bv) if (!json_object_get(bm, name))
        json_array_append_new(names, json_string(name));
    size_t idx;
    json_t *jn;
    json_array_foreach(names, idx, jn) {
        name = json_string_value(jn);
        if (!selected(p, name))
            continue;
        bv = json_object_get(bm, name);
        json_t *nv = json_object_get(nm, name);
        if (json_is_null(bv)) /* not measured (e.g. top-5 with fewer than 5 classes) */
            bv = NULL;
        if (json_is_null(nv))
            nv = NULL;
        if (!bv && !nv)
            continue;
        if ((bv && !json_is_number(bv)) || (nv && !json_is_number(nv))) {
            add_warning(c, "%s: metric %s is not a number: not compared", b->label, name);
            continue;
        }
        json_t *m = metric_entry(name, "accuracy");
        json_array_append_new(metrics, m);
        if (!bv || !nv) {
            json_object_set_new(m, "note", json_string(bv ? "only in BASE" : "only in NEW"));
            set_verdict(m, VLM_COMPARE_UNCHANGED, 0);
            continue;
        }
        double base_v = json_number_value(bv), new_v = json_number_value(nv);
        int lower = lower_is_better(name);
        double drop = lower ? new_v - base_v : base_v - new_v; /* points lost */
        json_object_set_new(m, "base", jnum(base_v));
        json_object_set_new(m, "new", jnum(new_v));
        json_object_set_new(m, "delta", jnum(new_v - base_v));
        if (lower)
            json_object_set_new(m, "lower_is_better", json_true());
        /* paired test when both sides store per-item correctness for the same items */
        int significant = 1;
        const char *note = NULL;
        json_t *bit = json_object_get(bi, name), *nit = json_object_get(ni, name);
        if (bit || nit) {
            size_t len = json_array_size(bit);
            long disc_b = 0, disc_c = 0;
            int ok =
                json_is_array(bit) && json_is_array(nit) && len > 0 && len == json_array_size(nit);
            for (size_t i = 0; ok && i < len; i++) {
                int x = item_value(json_array_get(bit, i)), y = item_value(json_array_get(nit, i));
                if (x < 0 || y < 0)
                    ok = 0;
                disc_b += x == 1 && y == 0;
                disc_c += x == 0 && y == 1;
            }
            if (ok) {
                double pv = vlm_compare_mcnemar(disc_b, disc_c);
                significant = pv < p->alpha;
                json_object_set_new(m, "p", jnum(pv));
                json_object_set_new(m, "test", json_string("mcnemar exact"));
                json_object_set_new(m, "items", json_integer((json_int_t)len));
                json_object_set_new(m, "discordant",
                                    json_pack("{s:I, s:I}", "base_only", (json_int_t)disc_b,
                                              "new_only", (json_int_t)disc_c));
            } else {
                note = "metric_items missing on one side, of different lengths or not 0/1: "
                       "threshold only";
            }
        } else {
            json_object_set_new(m, "test", json_string("threshold"));
        }
        vlm_compare_verdict v = VLM_COMPARE_UNCHANGED;
        if (drop > p->acc_threshold && significant)
            v = VLM_COMPARE_REGRESSION;
        else if (-drop > p->acc_threshold && significant)
            v = VLM_COMPARE_IMPROVEMENT;
        set_verdict(m, v, v == VLM_COMPARE_REGRESSION);
        if (note)
            json_object_set_new(m, "note", json_string(note));
        c->sum.accuracy_drops += v == VLM_COMPARE_REGRESSION;
        c->sum.improvements += v == VLM_COMPARE_IMPROVEMENT;
    }
    json_decref(names);
}

/* Facts of one pair that differ, as [{field, base, new}]. */
static json_t *changed_facts(const rec_info *b, const rec_info *n) {
    json_t *out = json_array();
    for (size_t i = 0; i < sizeof k_facts / sizeof *k_facts; i++) {
        json_t *bv = json_object_get(b->rec, k_facts[i]), *nv = json_object_get(n->rec, k_facts[i]);
        if (!bv || !nv || json_is_null(bv) || json_is_null(nv))
            continue; /* older records may lack a fact: only facts on both sides count */
        int same = json_is_number(bv) && json_is_number(nv)
                       ? json_number_value(bv) == json_number_value(nv)
                       : json_equal(bv, nv);
        if (!same)
            json_array_append_new(
                out, json_pack("{s:s, s:O, s:O}", "field", k_facts[i], "base", bv, "new", nv));
    }
    return out;
}

static vlm_status compare_pair(ctx *c, const rec_info *b, const rec_info *n, json_t *configs,
                               vlm_error *err) {
    json_t *cfg = json_pack("{s:s, s:s}", "config", b->label, "key", b->match);
    json_array_append_new(configs, cfg);
    if (strcmp(n->label, b->label))
        json_object_set_new(cfg, "new_config", json_string(n->label));
    json_t *facts = changed_facts(b, n);
    json_object_set_new(cfg, "model_changed", facts);
    int changed = json_array_size(facts) > 0;
    c->sum.model_changes += changed;
    c->sum.pairs++;
    int noisy = record_noisy(b->rec) || record_noisy(n->rec);
    json_object_set_new(cfg, "noisy", json_boolean(noisy));
    const char *bs = status_of(b->rec), *ns = status_of(n->rec);
    json_t *metrics = json_array();
    json_object_set_new(cfg, "metrics", metrics);
    vlm_status st = VLM_OK;
    if (strcmp(bs, "ok") || strcmp(ns, "ok")) {
        char msg[600];
        snprintf(msg, sizeof msg, "not compared: %s%s%s%s%s", strcmp(bs, "ok") ? "BASE " : "",
                 strcmp(bs, "ok") ? bs : "", strcmp(bs, "ok") && strcmp(ns, "ok") ? "; " : "",
                 strcmp(ns, "ok") ? "NEW " : "", strcmp(ns, "ok") ? ns : "");
        json_object_set_new(cfg, "status", json_string(msg));
        c->sum.not_compared++;
    } else {
        json_object_set_new(cfg, "status", json_string("compared"));
        c->sum.compared++;
        if (!b->is_eval)
            st = compare_timings(c, b, n, noisy, metrics, err);
        if (!st)
            compare_accuracy(c, b, n, metrics);
    }
    int fails = changed;
    size_t i;
    json_t *m;
    json_array_foreach(metrics, i, m) fails |= json_is_true(json_object_get(m, "gating"));
    json_object_set_new(cfg, "failed", json_boolean(fails));
    return st;
}

vlm_status vlm_compare_results(const vlm_results *base, const vlm_results *new_,
                               const vlm_compare_params *p, json_t **report, vlm_error *err) {
    *report = NULL;
    if (!(p->threshold >= 0) || !(p->alpha > 0 && p->alpha <= 0.5) || !(p->acc_threshold >= 0) ||
        p->bootstrap_reps < 2 || !p->base_name || !p->new_name)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "compare: threshold >= 0, alpha in (0, 0.5], acc_threshold >= 0 "
                             "and >= 2 bootstrap replicates are required");
    rec_info *bi = NULL, *ni = NULL;
    vlm_status st = infos_build(base, p->base_name, &bi, err);
    if (!st)
        st = infos_build(new_, p->new_name, &ni, err);
    if (st) {
        infos_free(bi, base->n);
        return st;
    }
    pair_records(bi, base->n, ni, new_->n);
    /* the bootstrap p-value of ttft_ms cannot go below 2 / (reps + 1): enough replicates that
     * it can reach alpha (20 / alpha: at least 10 replicates in each tail of the interval) */
    vlm_compare_params q = *p;
    double need = ceil(20 / p->alpha);
    if (need > q.bootstrap_reps)
        q.bootstrap_reps = need < 1e6 ? (int)need : 1000000;
    p = &q;
    ctx c = {.p = p, .warnings = json_array()};
    json_t *configs = json_array();
    for (int i = 0; i < base->n && !st; i++) {
        if (bi[i].partner < 0)
            continue;
        const rec_info *b = &bi[i], *n = &ni[b->partner];
        if (!b->is_eval && compare_env(&c, b, n))
            st = vlm_error_set(err, VLM_ERR_NOMEM, "compare: out of memory");
        if (!st)
            st = compare_pair(&c, b, n, configs, err);
    }
    json_t *env = json_array();
    for (int i = 0; i < c.n_diffs; i++)
        json_array_append_new(env,
                              json_pack("{s:s, s:s, s:s, s:i, s:s}", "field", c.diffs[i].field,
                                        "base", c.diffs[i].base, "new", c.diffs[i].new_, "configs",
                                        c.diffs[i].configs, "first_config", c.diffs[i].first));
    if (!st && c.n_diffs > 0 && !p->allow_env_mismatch) {
        char msg[700] = "";
        size_t len = 0;
        for (int i = 0; i < c.n_diffs && len < sizeof msg - 1; i++)
            len +=
                (size_t)snprintf(msg + len, sizeof msg - len, "%s%s '%s' vs '%s' (%d config%s)",
                                 i ? "; " : "", c.diffs[i].field, c.diffs[i].base, c.diffs[i].new_,
                                 c.diffs[i].configs, c.diffs[i].configs == 1 ? "" : "s");
        st = vlm_error_set(err, VLM_ERR_INVALID,
                           "%s and %s were measured in different environments: %s; timings are "
                           "only comparable on the same CPU, oneDNN version and ISA and thread "
                           "count: rerun both on one machine, or pass --allow-env-mismatch to "
                           "compare anyway",
                           p->base_name, p->new_name, msg);
    }
    json_t *unb = json_array(), *unn = json_array();
    for (int s = 0; s < 2; s++) {
        const rec_info *v = s ? ni : bi;
        for (int i = 0; i < (s ? new_->n : base->n); i++) {
            if (v[i].superseded)
                add_warning(&c, "%s: %s: an earlier evaluation, superseded by a later record",
                            s ? p->new_name : p->base_name, v[i].label);
            else if (v[i].partner < 0)
                json_array_append_new(s ? unn : unb, json_string(v[i].label));
        }
    }
    for (int k = 0; p->metrics && k < p->n_metrics; k++) {
        int seen = 0;
        size_t i, j;
        json_t *cfg, *m;
        json_array_foreach(configs, i, cfg)
            json_array_foreach(json_object_get(cfg, "metrics"), j, m) seen |=
            !strcmp(json_string_value(json_object_get(m, "metric")), p->metrics[k]);
        if (!seen)
            add_warning(&c, "metric %s%s was found in no compared pair of records", p->metrics[k],
                        "");
    }
    summary *s = &c.sum;
    int failed = s->regressions + s->model_changes + s->accuracy_drops > 0;
    if (!st) {
        *report = json_pack(
            "{s:b, s:{s:f, s:f, s:f, s:i, s:b}, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
            "s:i}, s:o, s:o, s:{s:o, s:o}, s:o}",
            "failed", failed, "params", "threshold", p->threshold, "alpha", p->alpha,
            "acc_threshold", p->acc_threshold, "bootstrap_reps", p->bootstrap_reps,
            "allow_env_mismatch", p->allow_env_mismatch, "summary", "pairs", s->pairs, "compared",
            s->compared, "regressions", s->regressions, "advisory", s->advisory, "improvements",
            s->improvements, "model_changes", s->model_changes, "accuracy_drops", s->accuracy_drops,
            "not_compared", s->not_compared, "unmatched_base", (int)json_array_size(unb),
            "unmatched_new", (int)json_array_size(unn), "env_mismatch", env, "configs", configs,
            "unmatched", "base", unb, "new", unn, "warnings", c.warnings);
        if (!*report)
            st = vlm_error_set(err, VLM_ERR_NOMEM, "compare: out of memory");
    } else {
        json_decref(env);
        json_decref(configs);
        json_decref(unb);
        json_decref(unn);
        json_decref(c.warnings);
    }
    for (int i = 0; i < c.n_diffs; i++) {
        free(c.diffs[i].field);
        free(c.diffs[i].base);
        free(c.diffs[i].new_);
        free(c.diffs[i].first);
    }
    free(c.diffs);
    infos_free(bi, base->n);
    infos_free(ni, new_->n);
    return st;
}
