/* The charts of `vlmbench plot`: records grouped by machine fingerprint, their numbers
 * written as .dat files, and .gp files from plots/templates (issue 7). */
#include "plots/chart.h"
#include "plots/plots.h"
#include "results/results.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

vlm_plot_params vlm_plot_default_params(void) {
    return (vlm_plot_params){.formats = VLM_PLOT_PNG | VLM_PLOT_SVG};
}

/* ---- records ------------------------------------------------------------------------------ */

typedef struct part {
    double median, ci_lo, ci_hi, p10, p90;
    int n, noisy, estimated, present;
} part;

/* One measured config (a timing record with "status": "ok"). */
typedef struct row {
    const json_t *rec; /* borrowed */
    const char *model, *llm, *dtype;
    int res, tokens, prefill_tokens, threads;
    part pre, vis, proj, prefill;
    double ttft, gmacs; /* NAN when absent */
    int group;
    int dropped; /* 1: a later record of the same config replaces it */
} row;

/* An accuracy record: {"kind": "eval", "model", "res"?, "llm"?, "metrics": {...}}. */
typedef struct eval_rec {
    const char *model, *llm; /* llm NULL: any */
    int res;                 /* 0: any */
    const json_t *metrics;
} eval_rec;

typedef struct group {
    char key[1024];
    char subtitle[512];
    char dir[VLM_CHART_PATH];
    int nrows;
} group;

typedef struct state {
    const vlm_plot_params *p;
    row *rows;
    int nrows;
    eval_rec *evals;
    int nevals;
    group *groups;
    int ngroups;
    vlm_published pub;
    vlm_plot_report *rep;
    const char *gnuplot;
} state;

static const char *str_or(const json_t *obj, const char *key, const char *dflt) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

static double num_or(const json_t *obj, const char *key, double dflt) {
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static part read_part(const json_t *rec, const char *key) {
    part p = {0};
    const json_t *o = json_object_get(rec, key);
    if (!json_is_object(o) || !json_is_number(json_object_get(o, "median")))
        return p;
    p.present = 1;
    p.median = num_or(o, "median", NAN);
    p.ci_lo = num_or(o, "ci_lo", p.median);
    p.ci_hi = num_or(o, "ci_hi", p.median);
    p.p10 = num_or(o, "p10", p.median);
    p.p90 = num_or(o, "p90", p.median);
    p.n = (int)num_or(o, "n", 0);
    p.noisy = json_is_true(json_object_get(o, "noisy"));
    p.estimated = json_is_true(json_object_get(o, "estimated"));
    return p;
}

/* The fingerprint every chart's numbers share: machine, threads, dtype, oneDNN, build. */
static void fingerprint(const json_t *rec, char *key, size_t ksize, char *sub, size_t ssize) {
    const json_t *env = json_object_get(rec, "env");
    const char *cpu = str_or(env, "cpu", "unknown CPU"), *dnn = str_or(env, "onednn", "?"),
               *isa = str_or(env, "onednn_isa", "?"), *commit = str_or(env, "commit", "?"),
               *dtype = str_or(rec, "dtype", "f32");
    int threads = (int)num_or(rec, "threads", num_or(env, "threads", 0));
    int dirty = json_is_true(json_object_get(env, "dirty"));
    char th[32] = "?";
    if (threads > 0)
        snprintf(th, sizeof th, "%d", threads);
    snprintf(key, ksize, "%s|%s|%s|%s|%s|%s%s", cpu, th, dtype, dnn, isa, commit,
             dirty ? "-dirty" : "");
    snprintf(sub, ssize, "%s  |  %s threads  |  %s  |  oneDNN %s (%s)  |  vlmbench %s%s", cpu, th,
             dtype, dnn, isa, commit, dirty ? "-dirty" : "");
}

/* A file-name-safe lowercase stem: [a-z0-9._-], others become '-'. */
static void slug(char *out, size_t size, const char *in) {
    size_t k = 0;
    for (const char *s = in; *s && k + 1 < size; s++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                 ch == '-';
        if (!ok)
            ch = '-';
        if (ch == '-' && k > 0 && out[k - 1] == '-')
            continue;
        out[k++] = ch;
    }
    while (k > 0 && out[k - 1] == '-')
        k--;
    out[k] = '\0';
}

static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Splits records into rows and eval records; notes what is skipped. */
static vlm_status classify(state *st, json_t *const *records, int n, vlm_error *err) {
    st->rows = calloc((size_t)(n > 0 ? n : 1), sizeof *st->rows);
    st->evals = calloc((size_t)(n > 0 ? n : 1), sizeof *st->evals);
    if (!st->rows || !st->evals)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    int not_ok = 0, other = 0;
    for (int i = 0; i < n; i++) {
        const json_t *r = records[i];
        const char *kind = str_or(r, "kind", NULL);
        if (kind && !strcmp(kind, "eval")) {
            const json_t *m = json_object_get(r, "metrics");
            const char *model = str_or(r, "model", NULL);
            if (!model || !json_is_object(m)) {
                other++;
                continue;
            }
            st->evals[st->nevals++] =
                (eval_rec){model, str_or(r, "llm", NULL), (int)num_or(r, "res", 0), m};
            continue;
        }
        const char *status = str_or(r, "status", "ok");
        const char *model = str_or(r, "model", NULL);
        int res = (int)num_or(r, "res", 0);
        if (kind || !model || res <= 0 || !strcmp(str_or(r, "source", "measured"), "published")) {
            other++;
            continue;
        }
        if (strcmp(status, "ok")) {
            not_ok++;
            continue;
        }
        row *w = &st->rows[st->nrows];
        w->rec = r;
        w->model = model;
        w->llm = str_or(r, "llm", "none");
        w->dtype = str_or(r, "dtype", "f32");
        w->res = res;
        w->tokens = (int)num_or(r, "tokens", -1);
        w->prefill_tokens = (int)num_or(r, "prefill_tokens", 0);
        w->pre = read_part(r, "preprocess_ms");
        w->vis = read_part(r, "vision_ms");
        w->proj = read_part(r, "projector_ms");
        w->prefill = read_part(r, "prefill_ms");
        w->ttft = num_or(r, "ttft_ms", NAN);
        double macs = num_or(r, "macs", NAN);
        w->gmacs = macs / 1e9;
        if (!w->vis.present) {
            other++;
            continue;
        }
        st->nrows++;
    }
    if (st->p->log && not_ok)
        fprintf(st->p->log,
                "vlmbench plot: %d record%s not drawn: status is not \"ok\" "
                "(skipped configs)\n",
                not_ok, not_ok == 1 ? "" : "s");
    if (st->p->log && other)
        fprintf(st->p->log,
                "vlmbench plot: %d record%s not drawn: neither a timing record with "
                "vision_ms nor an eval record\n",
                other, other == 1 ? "" : "s");
    return VLM_OK;
}

/* Assigns each row its fingerprint group and each group its folder. */
static vlm_status make_groups(state *st, const char *out_dir, vlm_error *err) {
    st->groups = calloc((size_t)(st->nrows > 0 ? st->nrows : 1), sizeof *st->groups);
    if (!st->groups)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < st->nrows; i++) {
        char key[1024], sub[512];
        fingerprint(st->rows[i].rec, key, sizeof key, sub, sizeof sub);
        int g = 0;
        while (g < st->ngroups && strcmp(st->groups[g].key, key))
            g++;
        if (g == st->ngroups) {
            snprintf(st->groups[g].key, sizeof st->groups[g].key, "%s", key);
            snprintf(st->groups[g].subtitle, sizeof st->groups[g].subtitle, "%s", sub);
            st->ngroups++;
        }
        st->rows[i].group = g;
        st->groups[g].nrows++;
    }
    for (int g = 0; g < st->ngroups; g++) {
        group *gr = &st->groups[g];
        if (st->ngroups == 1) {
            snprintf(gr->dir, sizeof gr->dir, "%s", out_dir);
            continue;
        }
        /* several fingerprints: never one chart for numbers of different machines or builds */
        char s[128];
        slug(s, 64, gr->key);
        snprintf(gr->dir, sizeof gr->dir, "%s/%s-%08x", out_dir, s, (unsigned)fnv1a(gr->key));
        if (mkdir(gr->dir, 0755) != 0 && errno != EEXIST)
            return vlm_error_set(err, VLM_ERR_IO, "%s: cannot create: %s", gr->dir,
                                 strerror(errno));
    }
    if (st->ngroups > 1 && st->p->log) {
        fprintf(st->p->log,
                "vlmbench plot: the records come from %d machine fingerprints (CPU, threads, "
                "dtype, oneDNN, build); they are never drawn on one chart, each has its own "
                "folder:\n",
                st->ngroups);
        for (int g = 0; g < st->ngroups; g++)
            fprintf(st->p->log, "  %s: %d record%s of %s\n", st->groups[g].dir, st->groups[g].nrows,
                    st->groups[g].nrows == 1 ? "" : "s", st->groups[g].subtitle);
    }
    /* the same config twice in a fingerprint: the later record wins */
    int dups = 0;
    for (int i = 0; i < st->nrows; i++)
        for (int j = i + 1; j < st->nrows && !st->rows[i].dropped; j++) {
            const row *a = &st->rows[i], *b = &st->rows[j];
            if (a->group == b->group && a->res == b->res && !strcmp(a->model, b->model) &&
                !strcmp(a->llm, b->llm)) {
                st->rows[i].dropped = 1;
                dups++;
            }
        }
    if (dups && st->p->log)
        fprintf(st->p->log,
                "vlmbench plot: %d config%s recorded more than once for one fingerprint: the "
                "later record is drawn\n",
                dups, dups == 1 ? "" : "s");
    return VLM_OK;
}

/* ---- accuracy ------------------------------------------------------------------------------ */

typedef struct score {
    double value; /* NAN: none */
    int published;
    const char *source, *name; /* published: the row's citation and paper name (borrowed) */
} score;

static score accuracy(const state *st, const row *r, const char *metric) {
    score s = {NAN, 0, NULL, NULL};
    const json_t *own = json_object_get(json_object_get(r->rec, "metrics"), metric);
    if (json_is_number(own)) {
        s.value = json_number_value(own);
        return s;
    }
    /* eval records: the most specific match (res and llm given) wins; later ones on ties */
    int best = -1;
    for (int i = 0; i < st->nevals; i++) {
        const eval_rec *e = &st->evals[i];
        if (strcmp(e->model, r->model) || (e->res > 0 && e->res != r->res) ||
            (e->llm && strcmp(e->llm, r->llm)))
            continue;
        const json_t *v = json_object_get(e->metrics, metric);
        int spec = 2 * (e->res > 0) + (e->llm != NULL);
        if (json_is_number(v) && spec >= best) {
            best = spec;
            s.value = json_number_value(v);
        }
    }
    if (best >= 0 || !st->p->published)
        return s;
    s.value = vlm_published_score(&st->pub, r->model, r->res, r->llm, metric, &s.source, &s.name);
    s.published = !isnan(s.value);
    return s;
}

/* Published accuracy is used for these metrics only (the ones the charts are about), so a
 * published table does not add a chart per benchmark of the model card. */
static const char *const headline_metrics[] = {"imagenet_top1", "mmmu_val", "seedbench_image"};

static const char *metric_label(const char *m) {
    if (!strcmp(m, "imagenet_top1"))
        return "ImageNet-1k zero-shot top-1";
    if (!strcmp(m, "mmmu_val"))
        return "MMMU (val) accuracy";
    if (!strcmp(m, "seedbench_image"))
        return "SEED-Bench (image) accuracy";
    return m;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The metric names any record (or, with published, the headline list) offers, sorted. */
static int collect_metrics(const state *st, const char **out, int cap) {
    int n = 0;
    const json_t *sets[2];
    for (int i = 0; i < st->nrows + st->nevals; i++) {
        sets[0] = i < st->nrows ? json_object_get(st->rows[i].rec, "metrics")
                                : st->evals[i - st->nrows].metrics;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)sets[0], k, v) {
            if (!json_is_number(v))
                continue;
            int have = 0;
            for (int j = 0; j < n && !have; j++)
                have = !strcmp(out[j], k);
            if (!have && n < cap)
                out[n++] = k;
        }
    }
    for (int h = 0; st->p->published && h < 3; h++) {
        int have = 0;
        for (int j = 0; j < n && !have; j++)
            have = !strcmp(out[j], headline_metrics[h]);
        if (!have && n < cap)
            out[n++] = headline_metrics[h];
    }
    qsort(out, (size_t)n, sizeof *out, cmp_str);
    return n;
}

/* ---- chart helpers ------------------------------------------------------------------------- */

static int by_res(const void *a, const void *b) {
    const row *p = *(const row *const *)a, *q = *(const row *const *)b;
    return (p->res > q->res) - (p->res < q->res);
}

/* The rows of group g (not replaced by a later record) that pass keep, sorted by model then
 * resolution; the distinct models, sorted by name, in models. */
typedef int (*row_filter)(const row *r, const void *arg);

typedef struct selection {
    const row **rows; /* borrowed rows, grouped by model, ascending res within a model */
    int n;
    const char *models[64];
    int start[65]; /* rows of models[m]: [start[m], start[m+1]) */
    int nmodels;
    int res[256]; /* distinct resolutions, ascending */
    int nres;
} selection;

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static vlm_status select_rows(const state *st, int g, row_filter keep, const void *arg,
                              int dedupe_model_res, selection *s, vlm_error *err) {
    memset(s, 0, sizeof *s);
    s->rows = calloc((size_t)(st->nrows > 0 ? st->nrows : 1), sizeof *s->rows);
    if (!s->rows)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (r->group != g || r->dropped || (keep && !keep(r, arg)))
            continue;
        int m = 0;
        while (m < s->nmodels && strcmp(s->models[m], r->model))
            m++;
        if (m == s->nmodels && s->nmodels < 64)
            s->models[s->nmodels++] = r->model;
        if (m == 64)
            continue;
        s->rows[s->n++] = r;
    }
    qsort(s->models, (size_t)s->nmodels, sizeof *s->models, cmp_str);
    /* bucket by model, each by ascending res; dedupe_model_res keeps the last row of a
     * (model, res) (the vision encoder's numbers are the same in every LLM's record) */
    const row **sorted = calloc((size_t)(s->n > 0 ? s->n : 1), sizeof *sorted);
    if (!sorted)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int m = 0; m < s->nmodels; m++) {
        s->start[m] = k;
        int first = k;
        for (int i = 0; i < s->n; i++)
            if (!strcmp(s->rows[i]->model, s->models[m])) {
                int dup = -1;
                for (int j = first; dedupe_model_res && j < k && dup < 0; j++)
                    if (sorted[j]->res == s->rows[i]->res)
                        dup = j;
                if (dup >= 0)
                    sorted[dup] = s->rows[i];
                else
                    sorted[k++] = s->rows[i];
            }
        qsort(sorted + first, (size_t)(k - first), sizeof *sorted, by_res);
    }
    s->start[s->nmodels] = k;
    free(s->rows);
    s->rows = sorted;
    s->n = k;
    for (int i = 0; i < s->n; i++) {
        int have = 0;
        for (int j = 0; j < s->nres && !have; j++)
            have = s->res[j] == s->rows[i]->res;
        if (!have && s->nres < 256)
            s->res[s->nres++] = s->rows[i]->res;
    }
    qsort(s->res, (size_t)s->nres, sizeof *s->res, cmp_int);
    return VLM_OK;
}

static void selection_free(selection *s) {
    free(s->rows);
    s->rows = NULL;
}

/* Common placeholders of the resolution charts: encoders, x tics and range. */
static void set_res_axis(vlm_chart *c, const selection *s, int logx, double *gap_out) {
    char names[2048] = "", tics[2048] = "";
    for (int m = 0; m < s->nmodels; m++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? " " : "",
                 s->models[m]);
    vlm_chart_set_string(c, "ENCODERS", names);
    for (int i = 0; i < s->nres; i++)
        snprintf(tics + strlen(tics), sizeof tics - strlen(tics), "%s%d", i ? ", " : "", s->res[i]);
    vlm_chart_set(c, "XTICS", "%s", tics);
    vlm_chart_set(c, "XTIC_ROTATE", "%s", s->nres > 16 ? "rotate by -45" : "");
    double gap = s->res[0] * 0.5;
    for (int i = 1; i < s->nres; i++)
        if (s->res[i] - s->res[i - 1] < gap)
            gap = s->res[i] - s->res[i - 1];
    if (gap_out)
        *gap_out = gap;
    if (logx) {
        vlm_chart_set(c, "XMIN", "%g", s->res[0] / 1.15);
        vlm_chart_set(c, "XMAX", "%g", s->res[s->nres - 1] * 1.15);
    } else {
        vlm_chart_set(c, "XMIN", "%g", s->res[0] - 0.6 * gap);
        vlm_chart_set(c, "XMAX", "%g", s->res[s->nres - 1] + 0.6 * gap);
    }
}

static void dat_header(FILE *f, const char *what, const group *gr) {
    fprintf(f, "# %s\n# written by vlmbench plot; machine fingerprint: %s\n", what, gr->subtitle);
}

/* A gnuplot data-file string: double-quoted, with no quotes or newlines inside. */
static void dat_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++)
        fputc(*s == '"' ? '\'' : *s == '\n' || *s == '\r' ? ' ' : *s, f);
    fputc('"', f);
}

/* Finishes a chart: .dat committed, .gp written, gnuplot run (unless missing). */
static vlm_status finish(state *st, vlm_chart *c, const char *tmpl, vlm_error *err) {
    vlm_status s = vlm_chart_dat_commit(c, err);
    if (s == VLM_OK)
        s = vlm_chart_write_gp(c, tmpl, st->p->formats, err);
    if (s != VLM_OK)
        return s;
    st->rep->charts++;
    if (st->p->log)
        fprintf(st->p->log, "vlmbench plot: %s/%s.gp, %s.dat\n", c->dir, c->name, c->name);
    if (st->rep->gnuplot_missing)
        return VLM_OK;
    int missing = 0;
    s = vlm_chart_run_gnuplot(c, st->gnuplot, st->p->formats, &missing, &st->rep->images, err);
    if (s == VLM_OK && missing)
        st->rep->gnuplot_missing = 1;
    return s;
}

static void chart_init(vlm_chart *c, const group *gr, const char *name, const char *title) {
    memset(c, 0, sizeof *c);
    c->dir = gr->dir;
    slug(c->name, sizeof c->name, name);
    vlm_chart_set_string(c, "TITLE", title);
    vlm_chart_set_string(c, "SUBTITLE", gr->subtitle);
}

/* ---- the charts ---------------------------------------------------------------------------- */

static int has_llm_ttft(const row *r, const void *llm) {
    return !strcmp(r->llm, (const char *)llm) && !isnan(r->ttft);
}

static vlm_status chart_ttft(state *st, int g, const char *llm, vlm_error *err) {
    const group *gr = &st->groups[g];
    selection s;
    vlm_status rc = select_rows(st, g, has_llm_ttft, llm, 0, &s, err);
    if (rc != VLM_OK || s.n == 0) {
        selection_free(&s);
        return rc;
    }
    char name[160], title[256];
    snprintf(name, sizeof name, "ttft_%s", llm);
    snprintf(title, sizeof title, "Time to first token vs resolution, LLM %s", llm);
    vlm_chart c;
    chart_init(&c, gr, name, title);
    double gap;
    set_res_axis(&c, &s, 0, &gap);
    double width = 0.8 * gap / s.nmodels;
    int has_proj = 0, has_est = 0;
    FILE *f = vlm_chart_dat_open(&c, err);
    if (!f) {
        rc = err->status;
        goto out;
    }
    dat_header(f, title, gr);
    fprintf(f, "# res bar_x bar_width preprocess_ms vision_ms projector_ms prefill_ms ttft_ms "
               "top_preprocess top_vision top_projector top_prefill tokens prefill_tokens "
               "prefill_estimated\n");
    for (int m = 0; m < s.nmodels; m++) {
        if (m)
            fputs("\n\n", f);
        fprintf(f, "# encoder %s\n", s.models[m]);
        for (int i = s.start[m]; i < s.start[m + 1]; i++) {
            const row *r = s.rows[i];
            double x = r->res + (m - (s.nmodels - 1) / 2.0) * width;
            double pre = r->pre.present ? r->pre.median : 0, vis = r->vis.median,
                   proj = r->proj.present ? r->proj.median : 0,
                   pf = r->prefill.present ? r->prefill.median : 0;
            has_proj |= r->proj.present;
            has_est |= r->prefill.estimated;
            fprintf(f, "%d %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g %d %d %d\n",
                    r->res, x, width, pre, vis, proj, pf, r->ttft, pre, pre + vis, pre + vis + proj,
                    pre + vis + proj + pf, r->tokens, r->prefill_tokens, r->prefill.estimated);
        }
    }
    vlm_chart_set(&c, "HAS_PROJECTOR", "%d", has_proj);
    vlm_chart_set(&c, "HAS_ESTIMATED", "%d", has_est);
    rc = finish(st, &c, "ttft", err);
out:
    vlm_chart_free(&c);
    selection_free(&s);
    return rc;
}

/* tokens (tokens_chart 1) or vision latency (0) against resolution, per encoder */
static vlm_status chart_per_res(state *st, int g, int tokens_chart, vlm_error *err) {
    const group *gr = &st->groups[g];
    selection s;
    vlm_status rc = select_rows(st, g, NULL, NULL, 1, &s, err);
    if (rc != VLM_OK || s.n == 0) {
        selection_free(&s);
        return rc;
    }
    const char *title =
        tokens_chart ? "Visual tokens vs resolution" : "Vision encoder latency vs resolution";
    vlm_chart c;
    chart_init(&c, gr, tokens_chart ? "tokens" : "vision_latency", title);
    set_res_axis(&c, &s, !tokens_chart, NULL);
    int noisy = 0;
    FILE *f = vlm_chart_dat_open(&c, err);
    if (!f) {
        rc = err->status;
        goto out;
    }
    dat_header(f, title, gr);
    fputs(tokens_chart ? "# res tokens\n"
                       : "# res median_ms ci_lo_ms ci_hi_ms p10_ms p90_ms samples noisy gmacs\n",
          f);
    for (int m = 0; m < s.nmodels; m++) {
        if (m)
            fputs("\n\n", f);
        fprintf(f, "# encoder %s\n", s.models[m]);
        for (int i = s.start[m]; i < s.start[m + 1]; i++) {
            const row *r = s.rows[i];
            if (tokens_chart) {
                fprintf(f, "%d %d\n", r->res, r->tokens);
                continue;
            }
            const part *v = &r->vis;
            noisy |= v->noisy;
            fprintf(f, "%d %.9g %.9g %.9g %.9g %.9g %d %d %.9g\n", r->res, v->median, v->ci_lo,
                    v->ci_hi, v->p10, v->p90, v->n, v->noisy, r->gmacs);
        }
    }
    vlm_chart_set(&c, "HAS_NOISY", "%d", noisy);
    rc = finish(st, &c, tokens_chart ? "tokens" : "vision", err);
out:
    vlm_chart_free(&c);
    selection_free(&s);
    return rc;
}

typedef struct point {
    double cost, acc;
    const row *r;
    score sc;
    int frontier;
} point;

/* Writes the points (index 0) and their frontier (index 1); sets HAS_FRONTIER, LOGX. */
static vlm_status write_points(FILE *f, vlm_chart *c, point *pts, int n, int label_llm,
                               vlm_error *err) {
    double *cost = malloc((size_t)(n > 0 ? n : 1) * sizeof *cost);
    double *acc = malloc((size_t)(n > 0 ? n : 1) * sizeof *acc);
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (!cost || !acc || !idx) {
        free(cost), free(acc), free(idx);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        cost[i] = pts[i].cost;
        acc[i] = pts[i].acc;
        lo = fmin(lo, cost[i]);
        hi = fmax(hi, cost[i]);
    }
    int k = vlm_pareto_frontier(cost, acc, n, idx);
    if (k < 0) {
        free(cost), free(acc), free(idx);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < k; i++)
        pts[idx[i]].frontier = 1;
    fputs("# cost accuracy label published on_frontier model res llm\n", f);
    for (int i = 0; i < n; i++) {
        const point *p = &pts[i];
        char label[256];
        if (label_llm && strcmp(p->r->llm, "none"))
            snprintf(label, sizeof label, "%s@%d/%s", p->r->model, p->r->res, p->r->llm);
        else
            snprintf(label, sizeof label, "%s@%d", p->r->model, p->r->res);
        fprintf(f, "%.9g %.9g ", p->cost, p->acc);
        dat_string(f, label);
        fprintf(f, " %d %d %s %d %s\n", p->sc.published, p->frontier, p->r->model, p->r->res,
                p->r->llm);
    }
    if (n == 0)
        fputs("NaN NaN \"\" 0 0 none 0 none\n", f);
    for (int i = 0; i < n; i++)
        if (pts[i].sc.published)
            fprintf(f, "# published accuracy of %s@%d (%s): %s\n", pts[i].r->model, pts[i].r->res,
                    pts[i].sc.name ? pts[i].sc.name : "?",
                    pts[i].sc.source ? pts[i].sc.source : "?");
    fputs("\n\n# the Pareto frontier, by ascending cost: cost accuracy\n", f);
    for (int i = 0; i < k; i++)
        fprintf(f, "%.9g %.9g\n", cost[idx[i]], acc[idx[i]]);
    if (k == 0)
        fputs("NaN NaN\n", f);
    vlm_chart_set(c, "HAS_FRONTIER", "%d", k > 0);
    vlm_chart_set(c, "LOGX", "%d", n > 0 && lo > 0 && hi / lo > 20);
    free(cost), free(acc), free(idx);
    return VLM_OK;
}

/* accuracy of metric against TTFT (llm given) or vision latency (llm NULL) */
static vlm_status chart_pareto(state *st, int g, const char *metric, const char *llm,
                               vlm_error *err) {
    const group *gr = &st->groups[g];
    point *pts = calloc((size_t)(st->nrows > 0 ? st->nrows : 1), sizeof *pts);
    if (!pts)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    int n = 0, npub = 0, multi_llm = 0;
    const char *first_llm = NULL;
    for (int i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (r->group != g || r->dropped)
            continue;
        if (llm && (strcmp(r->llm, llm) || isnan(r->ttft)))
            continue;
        score sc = accuracy(st, r, metric);
        if (isnan(sc.value))
            continue;
        pts[n] = (point){llm ? r->ttft : r->vis.median, sc.value, r, sc, 0};
        npub += sc.published;
        if (!first_llm)
            first_llm = r->llm;
        else if (strcmp(first_llm, r->llm))
            multi_llm = 1;
        n++;
    }
    vlm_status rc = VLM_OK;
    if (n == 0) {
        free(pts);
        return VLM_OK;
    }
    char name[256], title[384], ylabel[256];
    if (llm)
        snprintf(name, sizeof name, "pareto_%s_ttft_%s", metric, llm);
    else
        snprintf(name, sizeof name, "pareto_%s_vision", metric);
    snprintf(title, sizeof title, "%s vs %s", metric_label(metric),
             llm ? "time to first token" : "vision encoder latency");
    if (llm)
        snprintf(title + strlen(title), sizeof title - strlen(title), ", LLM %s", llm);
    vlm_chart c;
    chart_init(&c, gr, name, title);
    snprintf(ylabel, sizeof ylabel, "%s (%%)", metric_label(metric));
    vlm_chart_set_string(&c, "YLABEL", ylabel);
    vlm_chart_set_string(&c, "XLABEL",
                         llm ? "time to first token (ms, median sum of parts)"
                             : "vision encoder latency (ms, median)");
    vlm_chart_set(&c, "HAS_MEASURED", "%d", n - npub > 0);
    vlm_chart_set(&c, "HAS_PUBLISHED", "%d", npub > 0);
    vlm_chart_set_string(&c, "MEASURED_TITLE", "measured latency, measured accuracy");
    vlm_chart_set_string(&c, "PUBLISHED_TITLE",
                         "measured latency, published accuracy (source in the .dat)");
    FILE *f = vlm_chart_dat_open(&c, err);
    if (!f)
        rc = err->status;
    else {
        dat_header(f, title, gr);
        rc = write_points(f, &c, pts, n, !llm && multi_llm, err);
        if (rc == VLM_OK)
            rc = finish(st, &c, "pareto", err);
    }
    vlm_chart_free(&c);
    free(pts);
    return rc;
}

/* MobileCLIP style: ImageNet zero-shot top-1 vs image-encoder latency */
static vlm_status chart_zeroshot(state *st, int g, vlm_error *err) {
    const group *gr = &st->groups[g];
    selection s;
    vlm_status rc = select_rows(st, g, NULL, NULL, 0, &s, err);
    if (rc != VLM_OK) {
        selection_free(&s);
        return rc;
    }
    /* one point per (model, res): the vision latency is the same for every LLM; a record
     * with its own top-1 beats the others */
    point *pts = calloc((size_t)(s.n > 0 ? s.n : 1), sizeof *pts);
    int n = 0, npub = 0;
    for (int i = 0; pts && i < s.n; i++) {
        const row *r = s.rows[i];
        score sc = accuracy(st, r, "imagenet_top1");
        if (isnan(sc.value))
            continue;
        int j = 0;
        while (j < n && !(pts[j].r->res == r->res && !strcmp(pts[j].r->model, r->model)))
            j++;
        if (j < n && !(pts[j].sc.published && !sc.published))
            continue;
        if (j == n)
            n++;
        pts[j] = (point){r->vis.median, sc.value, r, sc, 0};
    }
    for (int i = 0; i < n; i++)
        npub += pts[i].sc.published;
    const vlm_published_table *table = NULL;
    for (int t = 0; st->p->published && t < st->pub.n; t++)
        if (!strcmp(st->pub.tables[t].name, "mobileclip"))
            table = &st->pub.tables[t];
    if (!pts || (n == 0 && !table)) {
        free(pts);
        selection_free(&s);
        return pts ? VLM_OK : vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    const char *title = "ImageNet-1k zero-shot top-1 vs image-encoder latency";
    vlm_chart c;
    chart_init(&c, gr, "zeroshot_in1k", title);
    vlm_chart_set(&c, "HAS_MEASURED", "%d", n - npub > 0);
    vlm_chart_set(&c, "HAS_MEASURED_PUB", "%d", npub > 0);
    vlm_chart_set(&c, "HAS_TABLE", "%d", table != NULL);
    vlm_chart_set(&c, "PUB_ON_X2", "%d", table != NULL && n > 0);
    vlm_chart_set(&c, "PUB_AXES", "%s", table && n > 0 ? "x2y1" : "x1y1");
    char device[128] = "the paper's device";
    if (table && table->nrows > 0 && vlm_published_cell(table, 0, "device"))
        snprintf(device, sizeof device, "%s", vlm_published_cell(table, 0, "device"));
    char x2[256], tt[256];
    snprintf(x2, sizeof x2, "published image-encoder latency on %s (ms, MobileCLIP README)",
             device);
    snprintf(tt, sizeof tt, "published (MobileCLIP README): latency on %s, top-1", device);
    vlm_chart_set_string(&c, "X2LABEL", x2);
    vlm_chart_set_string(&c, "XLABEL",
                         n ? "image-encoder latency on this machine (ms, median)" : x2);
    vlm_chart_set_string(&c, "TABLE_TITLE", tt);
    FILE *f = vlm_chart_dat_open(&c, err);
    if (!f) {
        rc = err->status;
        goto out;
    }
    dat_header(f, title, gr);
    rc = write_points(f, &c, pts, n, 0, err);
    if (rc != VLM_OK)
        goto out;
    if (n == 0) /* the published table alone: 1.5 to 58 ms reads better on a log axis */
        vlm_chart_set(&c, "LOGX", "1");
    fputs("\n\n# published: latency_img_ms imagenet_top1 name (device and source per row "
          "below)\n",
          f);
    int rows = 0;
    for (int i = 0; table && i < table->nrows; i++) {
        const char *lat = vlm_published_cell(table, i, "latency_img_ms"),
                   *top = vlm_published_cell(table, i, "imagenet_top1"),
                   *nm = vlm_published_cell(table, i, "model");
        if (!lat || !top || !*lat || !*top)
            continue;
        fprintf(f, "%s %s ", lat, top);
        dat_string(f, nm ? nm : "?");
        fputc('\n', f);
        rows++;
    }
    if (!rows)
        fputs("NaN NaN \"\"\n", f);
    for (int i = 0; table && i < table->nrows; i++)
        fprintf(f, "# %s: %s, %s\n", vlm_published_cell(table, i, "model"),
                vlm_published_cell(table, i, "device") ? vlm_published_cell(table, i, "device")
                                                       : "",
                vlm_published_cell(table, i, "source"));
    rc = finish(st, &c, "zeroshot", err);
out:
    vlm_chart_free(&c);
    free(pts);
    selection_free(&s);
    return rc;
}

static vlm_status draw_group(state *st, int g, vlm_error *err) {
    vlm_status rc = VLM_OK;
    /* LLMs of this group, sorted */
    const char *llms[64];
    int nl = 0;
    for (int i = 0; i < st->nrows; i++) {
        const row *r = &st->rows[i];
        if (r->group != g || r->dropped || !strcmp(r->llm, "none") || isnan(r->ttft))
            continue;
        int have = 0;
        for (int j = 0; j < nl && !have; j++)
            have = !strcmp(llms[j], r->llm);
        if (!have && nl < 64)
            llms[nl++] = r->llm;
    }
    qsort(llms, (size_t)nl, sizeof *llms, cmp_str);
    for (int l = 0; l < nl && rc == VLM_OK; l++)
        rc = chart_ttft(st, g, llms[l], err);
    if (rc == VLM_OK)
        rc = chart_per_res(st, g, 1, err);
    if (rc == VLM_OK)
        rc = chart_per_res(st, g, 0, err);
    const char *metrics[64];
    int nm = collect_metrics(st, metrics, 64);
    for (int m = 0; m < nm && rc == VLM_OK; m++) {
        if (!strcmp(metrics[m], "imagenet_top1"))
            continue; /* the zero-shot chart below */
        for (int l = 0; l < nl && rc == VLM_OK; l++)
            rc = chart_pareto(st, g, metrics[m], llms[l], err);
        if (rc == VLM_OK)
            rc = chart_pareto(st, g, metrics[m], NULL, err);
    }
    if (rc == VLM_OK)
        rc = chart_zeroshot(st, g, err);
    return rc;
}

vlm_status vlm_plot_records(json_t *const *records, int n, const vlm_plot_params *params,
                            vlm_plot_report *report, vlm_error *err) {
    vlm_plot_report dummy;
    if (!report)
        report = &dummy;
    memset(report, 0, sizeof *report);
    if (!params->out_dir)
        return vlm_error_set(err, VLM_ERR_INVALID, "no output folder given");
    if (!(params->formats & (VLM_PLOT_PNG | VLM_PLOT_SVG)))
        return vlm_error_set(err, VLM_ERR_INVALID, "no image format (png, svg) chosen");
    snprintf(report->out_dir, sizeof report->out_dir, "%s", params->out_dir);
    state st = {.p = params, .rep = report};
    st.gnuplot = params->gnuplot;
    if (!st.gnuplot)
        st.gnuplot = getenv("VLM_GNUPLOT");
    if (!st.gnuplot || !*st.gnuplot)
        st.gnuplot = "gnuplot";
    vlm_status rc = classify(&st, records, n, err);
    if (rc == VLM_OK && st.nrows == 0)
        rc = vlm_error_set(err, VLM_ERR_INVALID,
                           "no timing record to draw (%d record%s read; charts need records "
                           "with \"status\": \"ok\" and vision_ms, as `vlmbench sweep` writes)",
                           n, n == 1 ? "" : "s");
    if (rc == VLM_OK && params->published)
        rc = vlm_published_load(params->published_dir, &st.pub, err);
    if (rc == VLM_OK && mkdir(params->out_dir, 0755) != 0 && errno != EEXIST)
        rc = vlm_error_set(err, VLM_ERR_IO, "%s: cannot create the output folder: %s",
                           params->out_dir, strerror(errno));
    if (rc == VLM_OK)
        rc = make_groups(&st, params->out_dir, err);
    report->groups = st.ngroups;
    for (int g = 0; g < st.ngroups && rc == VLM_OK; g++)
        rc = draw_group(&st, g, err);
    if (rc == VLM_OK && report->gnuplot_missing && params->log)
        fprintf(params->log,
                "vlmbench plot: gnuplot not found ('%s'; install gnuplot-nox, or set "
                "VLM_GNUPLOT to its path): wrote %d charts as .dat and .gp files only; draw "
                "them with `gnuplot NAME.gp` in their folder\n",
                st.gnuplot, report->charts);
    free(st.rows);
    free(st.evals);
    free(st.groups);
    vlm_published_free(&st.pub);
    return rc;
}

vlm_status vlm_plot_files(const char *const *paths, int n, const vlm_plot_params *params,
                          vlm_plot_report *report, vlm_error *err) {
    vlm_results *files = calloc((size_t)(n > 0 ? n : 1), sizeof *files);
    if (!files)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    vlm_status rc = VLM_OK;
    int total = 0, loaded = 0;
    for (int i = 0; i < n && rc == VLM_OK; i++) {
        rc = vlm_results_read(paths[i], &files[i], err);
        if (rc != VLM_OK)
            break;
        loaded++;
        total += files[i].n;
        if (files[i].warning[0] && params->log)
            fprintf(params->log, "vlmbench plot: %s\n", files[i].warning);
    }
    json_t **all = rc == VLM_OK ? malloc((size_t)(total > 0 ? total : 1) * sizeof *all) : NULL;
    if (rc == VLM_OK && !all)
        rc = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    if (rc == VLM_OK) {
        int k = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < files[i].n; j++)
                all[k++] = files[i].records[j];
        vlm_plot_params p = *params;
        char dflt[VLM_CHART_PATH];
        if (!p.out_dir && n > 0) {
            size_t len = strlen(paths[0]);
            if (len > 6 && !strcmp(paths[0] + len - 6, ".jsonl"))
                len -= 6;
            snprintf(dflt, sizeof dflt, "%.*s-plots", (int)len, paths[0]);
            p.out_dir = dflt;
        }
        rc = vlm_plot_records(all, total, &p, report, err);
    }
    free(all);
    for (int i = 0; i < loaded; i++)
        vlm_results_free(&files[i]);
    free(files);
    return rc;
}

vlm_status vlm_plot_after_sweep(const char *path, const char *out_dir, FILE *log, vlm_error *err) {
    vlm_plot_params p = vlm_plot_default_params();
    p.out_dir = out_dir;
    p.log = log;
    vlm_plot_report rep;
    vlm_status rc = vlm_plot_files(&path, 1, &p, &rep, err);
    if (rc == VLM_OK && log)
        fprintf(log, "vlmbench plot: %d charts, %d images\n", rep.charts, rep.images);
    return rc;
}
