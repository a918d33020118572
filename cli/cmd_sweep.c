/* vlmbench sweep: the main job. Expands a grid (flags or a .suite file) into configs, times
 * each part of time-to-first-token, and appends one record per finished config. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cli/cli.h"
#include "plots/plots.h"
#include "results/results.h"
#include "suites/suites.h"

enum { DEFAULT_TEXT_TOKENS = 24, IMAGE_W = 1920, IMAGE_H = 1080 };

typedef struct config {
    const char *model;
    int res;
    vlm_dtype dtype;
    const char *llm; /* "none" for vision only */
    int index;       /* position in the whole grid (before sharding) */
} config;

/* Splits "a,b,c" into the suite's string list (owned copies). */
static int split_list(const char *text, char **out, int *n, const char *what) {
    *n = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == VLM_SUITE_MAX) {
            fprintf(stderr, "vlmbench sweep: too many %s (at most %d)\n", what, VLM_SUITE_MAX);
            free(copy);
            return -1;
        }
        out[(*n)++] = strdup(t);
    }
    free(copy);
    if (*n == 0) {
        fprintf(stderr, "vlmbench sweep: empty %s list\n", what);
        return -1;
    }
    return 0;
}

/* A cache of measurements keyed by a string, so a vision encoder timed once serves every
 * LLM of the same config. */
typedef struct cached {
    char key[160];
    vlm_measurement m;
    vlm_status status;
    char msg[1024];
} cached;

typedef struct cache {
    cached *items;
    int n, cap;
} cache;

static cached *cache_find(cache *c, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->items[i].key, key))
            return &c->items[i];
    return NULL;
}

static cached *cache_add(cache *c, const char *key) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        cached *t = realloc(c->items, (size_t)cap * sizeof *t);
        if (!t)
            return NULL;
        c->items = t;
        c->cap = cap;
    }
    cached *e = &c->items[c->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    return e;
}

static void cache_free(cache *c) {
    for (int i = 0; i < c->n; i++)
        vlm_measurement_free(&c->items[i].m);
    free(c->items);
}

/* Measures p once per key; errors are cached too. A config that does not fit in memory is
 * VLM_ERR_NOMEM (the caller records it as skipped). */
static cached *measure_cached(cache *c, const char *key, vlm_ctx *ctx, const vlm_plan_params *p,
                              const vlm_runner_params *rp) {
    cached *e = cache_find(c, key);
    if (e)
        return e;
    e = cache_add(c, key);
    if (!e)
        return NULL;
    vlm_error err = {0};
    e->status = vlm_measure(ctx, p, rp, &e->m, NULL, &err);
    snprintf(e->msg, sizeof e->msg, "%s", err.msg);
    return e;
}

/* Time the whole LLM only when it fits and one run is short; otherwise sample layers. */
static int sampled_layers(const vlm_plan_params *p, int threads) {
    vlm_plan_facts f;
    vlm_error err = {0};
    if (vlm_plan_facts_of(p, &f, &err) != VLM_OK || f.layers_total < 6)
        return 0;
    double predicted_s = 2.0 * (double)f.macs / (50e9 * (threads > 0 ? threads : 1));
    return predicted_s > 5.0 ? vlm_sampled_layers(f.layers_total) : 0;
}

/* Cuts a torn last line (what a writer killed mid-record leaves) off the results file, so the
 * next record starts on a line of its own: appended after the fragment, it would join it into
 * one malformed middle line that the reader rejects, and the file would no longer read.
 * whole_last: the reader found the last line, though newline-terminated, not valid JSON; cut
 * it too. A missing file is fine. Returns 0, or -1 with a message on stderr. */
static int cut_torn_tail(const char *path, bool whole_last) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    struct stat sb;
    char last = 0, buf[4096];
    if (fd < 0 || fstat(fd, &sb) != 0 ||
        (sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) != 1))
        goto fail;
    if (sb.st_size == 0 || (last == '\n' && !whole_last)) {
        close(fd);
        return 0;
    }
    /* the last line starts just after the newline before it, or at 0 */
    off_t pos = last == '\n' ? sb.st_size - 1 : sb.st_size, cut = -1;
    while (pos > 0 && cut < 0) {
        off_t at = pos > (off_t)sizeof buf ? pos - (off_t)sizeof buf : 0;
        if (pread(fd, buf, (size_t)(pos - at), at) != pos - at)
            goto fail;
        for (off_t i = pos - at - 1; i >= 0 && cut < 0; i--)
            if (buf[i] == '\n')
                cut = at + i + 1;
        pos = at;
    }
    if (cut < 0)
        cut = 0;
    if (ftruncate(fd, cut) != 0 || fsync(fd) != 0)
        goto fail;
    close(fd);
    fprintf(stderr, "vlmbench sweep: %s: removed the incomplete last line (%lld bytes) before "
                    "appending\n",
            path, (long long)(sb.st_size - cut));
    return 0;
fail:
    fprintf(stderr, "vlmbench sweep: error: %s: cannot check for or remove an incomplete last "
                    "line: %s\n",
            path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void default_out_path(char *buf, size_t size, const vlm_env *env) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char fp[256];
    snprintf(fp, sizeof fp, "%s|%s|%s|%d", env->cpu_model, env->onednn_version, env->onednn_isa,
             env->threads);
    uint64_t h = 1469598103934665603ull;
    for (const char *s = fp; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    snprintf(buf, size, "results/%04d%02d%02d-%02d%02d%02d-%08llx.jsonl", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned long long)(h & 0xffffffffu));
}

static void print_row(const char *model, int res, int tokens, const char *llm, double vision,
                      double pre, double proj, double prefill, bool prefill_est, double ttft,
                      double gmacs, bool noisy, const char *status) {
    char pj[32] = "-", pf[32] = "-", tt[32] = "-";
    if (proj >= 0)
        snprintf(pj, sizeof pj, "%.1f", proj);
    if (prefill >= 0)
        snprintf(pf, sizeof pf, "%s%.1f", prefill_est ? "~" : "", prefill);
    if (ttft >= 0)
        snprintf(tt, sizeof tt, "%.1f", ttft);
    if (status) {
        printf("%-10s %5d %6d  %-11s %s\n", model, res, tokens, llm, status);
    } else {
        printf("%-10s %5d %6d  %-11s %9.1f %8.1f %8s %10s %10s %8.2f %8.1f %s\n", model, res,
               tokens, llm, vision, pre, pj, pf, tt, gmacs, 2.0 * gmacs * 1e3 / vision,
               noisy ? "noisy" : "");
    }
    fflush(stdout);
}

int vlm_cmd_sweep(int argc, char **argv) {
    static const struct option opts[] = {
        {"res", required_argument, NULL, 'r'},     {"model", required_argument, NULL, 'm'},
        {"llm", required_argument, NULL, 'l'},     {"dtype", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'}, {"weights", required_argument, NULL, 'w'},
        {"suite", required_argument, NULL, 's'},   {"out", required_argument, NULL, 'o'},
        {"resume", no_argument, NULL, 'R'},        {"shard", required_argument, NULL, 'S'},
        {"text-tokens", required_argument, NULL, 'x'}, {"quiet", no_argument, NULL, 'q'},
        {"warmup", required_argument, NULL, 'W'},  {"min-reps", required_argument, NULL, 'n'},
        {"min-time", required_argument, NULL, 'T'}, {"max-time", required_argument, NULL, 'X'},
        {"plot", no_argument, NULL, 'P'},          {"plot-dir", required_argument, NULL, 'D'},
        {0}};
    const char *res_text = NULL, *models = NULL, *llms = NULL, *dtypes = NULL, *weights = NULL,
               *suite_path = NULL, *out_path = NULL, *plot_dir = NULL;
    int plot = 0;
    int threads = 0, resume = 0, quiet = 0, shard_k = 0, shard_n = 1, text_tokens = -1, c;
    vlm_runner_params rp = {.warmup = 1, .min_reps = 3, .min_time_s = 0.5, .max_time_s = 30,
                            .max_reps = 1000};
    int rp_set = 0;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'r': res_text = optarg; break;
        case 'm': models = optarg; break;
        case 'l': llms = optarg; break;
        case 'd': dtypes = optarg; break;
        case 't': bad = vlm_cli_parse_int("sweep", "--threads", optarg, 1, 1024, &threads); break;
        case 'w': weights = optarg; break;
        case 's': suite_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'R': resume = 1; break;
        case 'q': quiet = 1; break;
        case 'P': plot = 1; break;
        case 'D': plot = 1, plot_dir = optarg; break;
        case 'S':
            if (sscanf(optarg, "%d/%d", &shard_k, &shard_n) != 2 || shard_n < 1 || shard_k < 0 ||
                shard_k >= shard_n) {
                fprintf(stderr, "vlmbench sweep: --shard wants K/N with 0 <= K < N, got '%s'\n",
                        optarg);
                bad = 1;
            }
            break;
        case 'x': bad = vlm_cli_parse_int("sweep", "--text-tokens", optarg, 0, 100000, &text_tokens); break;
        case 'W': bad = vlm_cli_parse_int("sweep", "--warmup", optarg, 0, 1000, &rp.warmup), rp_set |= 1; break;
        case 'n': bad = vlm_cli_parse_int("sweep", "--min-reps", optarg, 1, 100000, &rp.min_reps), rp_set |= 2; break;
        case 'T': bad = vlm_cli_parse_double("sweep", "--min-time", optarg, 0, 86400, &rp.min_time_s), rp_set |= 4; break;
        case 'X': bad = vlm_cli_parse_double("sweep", "--max-time", optarg, 0, 86400, &rp.max_time_s), rp_set |= 8; break;
        default: return vlm_cli_bad_option("sweep", argv[optind - 1]);
        }
        if (bad)
            return VLM_EXIT_USAGE;
    }
    if (optind < argc)
        return vlm_cli_bad_option("sweep", argv[optind]);
    vlm_error err = {0};

    /* ---- the grid: a suite file, or the flags ---- */
    vlm_suite suite;
    memset(&suite, 0, sizeof suite);
    int code = VLM_EXIT_OK;
    if (suite_path) {
        if (res_text || models || llms || dtypes) {
            fputs("vlmbench sweep: --suite replaces --res, --model, --llm and --dtype\n", stderr);
            return VLM_EXIT_USAGE;
        }
        if (vlm_suite_load(suite_path, &suite, &err) != VLM_OK)
            return vlm_cli_fail("sweep", &err);
        /* directives the suite does not give take the sweep's defaults (without these, a
         * suite with no llm or dtype line expanded to no configs at all) */
        if (suite.nllms == 0 && (suite.llms[0] = strdup("qwen2-0.5b")))
            suite.nllms = 1;
        if (suite.ndtypes == 0)
            suite.dtypes[suite.ndtypes++] = VLM_F32;
    } else {
        snprintf(suite.name, sizeof suite.name, "%s", "");
        suite.ngrids = 1;
        if (vlm_res_list_parse(res_text ? res_text : "256..1152", 64, &suite.grids[0].res,
                               &err) != VLM_OK)
            return vlm_cli_fail("sweep", &err);
        if (split_list(models ? models : "fastvithd", suite.grids[0].models,
                       &suite.grids[0].nmodels, "models") ||
            split_list(llms ? llms : "qwen2-0.5b", suite.llms, &suite.nllms, "LLMs")) {
            vlm_suite_free(&suite);
            return VLM_EXIT_USAGE;
        }
        suite.ndtypes = 0;
        char *dl[VLM_SUITE_MAX];
        int nd = 0;
        if (split_list(dtypes ? dtypes : "f32", dl, &nd, "dtypes")) {
            vlm_suite_free(&suite);
            return VLM_EXIT_USAGE;
        }
        for (int i = 0; i < nd; i++) {
            if (suite.ndtypes < 2 && vlm_dtype_parse(dl[i], &suite.dtypes[suite.ndtypes], &err) ==
                                         VLM_OK)
                suite.ndtypes++;
            else if (err.status == VLM_OK)
                vlm_error_set(&err, VLM_ERR_INVALID, "too many dtypes");
            free(dl[i]);
        }
        if (err.status != VLM_OK) {
            vlm_suite_free(&suite);
            return vlm_cli_fail("sweep", &err);
        }
        suite.text_tokens = suite.warmup = suite.min_reps = -1;
        suite.min_time_s = suite.max_time_s = -1;
    }
    /* suite settings, overridden by flags */
    if (!threads && suite.threads > 0)
        threads = suite.threads;
    if (text_tokens < 0)
        text_tokens = suite.text_tokens >= 0 ? suite.text_tokens : DEFAULT_TEXT_TOKENS;
    if (!(rp_set & 1) && suite.warmup >= 0)
        rp.warmup = suite.warmup;
    if (!(rp_set & 2) && suite.min_reps > 0)
        rp.min_reps = suite.min_reps;
    if (!(rp_set & 4) && suite.min_time_s >= 0)
        rp.min_time_s = suite.min_time_s;
    if (!(rp_set & 8) && suite.max_time_s >= 0)
        rp.max_time_s = suite.max_time_s;
    if (rp.max_time_s < rp.min_time_s)
        rp.max_time_s = rp.min_time_s;

    /* validate models and LLMs, expand configs; sizes a model cannot take are reported */
    int total = 0, cap = 64;
    config *cfg = malloc((size_t)cap * sizeof *cfg);
    for (int gi = 0; gi < suite.ngrids && code == VLM_EXIT_OK; gi++) {
        vlm_suite_grid *gr = &suite.grids[gi];
        for (int mi = 0; mi < gr->nmodels && code == VLM_EXIT_OK; mi++) {
            const vlm_model_info *info = vlm_model_find(gr->models[mi]);
            if (!info || strcmp(info->kind, "vision")) {
                fprintf(stderr, "vlmbench sweep: '%s' is not a vision model (see `vlmbench "
                                "models`)\n",
                        gr->models[mi]);
                code = VLM_EXIT_USAGE;
                break;
            }
            for (int ri = 0; ri < gr->res.n; ri++) {
                int r = gr->res.v[ri];
                if (r < info->min_res) {
                    fprintf(stderr, "vlmbench sweep: skipping %s at %d px: below its minimum "
                                    "of %d px\n",
                            info->name, r, info->min_res);
                    continue;
                }
                for (int di = 0; di < suite.ndtypes; di++)
                    for (int li = 0; li < suite.nllms; li++) {
                        const char *l = suite.llms[li];
                        const vlm_model_info *lm = vlm_model_find(l);
                        if (strcmp(l, "none") && (!lm || strcmp(lm->kind, "llm"))) {
                            fprintf(stderr, "vlmbench sweep: '%s' is not an LLM (see `vlmbench "
                                            "models`; none = vision only)\n",
                                    l);
                            code = VLM_EXIT_USAGE;
                            goto expanded;
                        }
                        if (total == cap)
                            cfg = realloc(cfg, (size_t)(cap *= 2) * sizeof *cfg);
                        cfg[total] = (config){info->name, r, suite.dtypes[di], l, total};
                        total++;
                    }
            }
        }
    }
expanded:
    if (code != VLM_EXIT_OK || total == 0) {
        if (code == VLM_EXIT_OK) {
            fputs("vlmbench sweep: the grid is empty (every size was skipped)\n", stderr);
            code = VLM_EXIT_USAGE;
        }
        free(cfg);
        vlm_suite_free(&suite);
        return code;
    }

    vlm_ctx *ctx = NULL;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cp.threads = threads;
    if (vlm_ctx_create(&cp, &ctx, &err) != VLM_OK) {
        free(cfg);
        vlm_suite_free(&suite);
        return vlm_cli_fail("sweep", &err);
    }
    vlm_env env;
    vlm_env_collect(&env);
    char path[512];
    if (out_path) {
        snprintf(path, sizeof path, "%s", out_path);
    } else {
        default_out_path(path, sizeof path, &env);
        mkdir("results", 0755);
    }
    /* resume: configs already recorded for this machine and build */
    vlm_results done = {0};
    if (resume && access(path, F_OK) == 0) {
        if (vlm_results_read(path, &done, &err) != VLM_OK) {
            vlm_ctx_destroy(ctx);
            free(cfg);
            vlm_suite_free(&suite);
            return vlm_cli_fail("sweep", &err);
        }
        if (done.warning[0])
            fprintf(stderr, "vlmbench sweep: %s\n", done.warning);
    }
    if (cut_torn_tail(path, done.skipped > 0)) {
        vlm_results_free(&done);
        vlm_ctx_destroy(ctx);
        free(cfg);
        vlm_suite_free(&suite);
        return VLM_EXIT_USAGE;
    }

    /* the identities of the configs already recorded, computed once */
    char **done_keys = calloc((size_t)done.n + 1, sizeof *done_keys);
    for (int r = 0; done_keys && r < done.n; r++)
        done_keys[r] = vlm_results_config_key(done.records[r]);

    char run_id[40];
    snprintf(run_id, sizeof run_id, "%lx-%x", (unsigned long)time(NULL), (unsigned)getpid());
    cache vision = {0}, pre = {0}, proj = {0}, prefills = {0};
    int mine = 0, ran = 0, skipped = 0, noisy_parts = 0, parts = 0, resumed = 0;
    for (int i = 0; i < total; i++)
        mine += cfg[i].index % shard_n == shard_k;
    if (!quiet)
        fprintf(stderr, "vlmbench sweep: %d configs%s, %d threads, results in %s\n", mine,
                shard_n > 1 ? " in this shard" : "", vlm_ctx_threads(ctx), path);
    printf("%-10s %5s %6s  %-11s %9s %8s %8s %10s %10s %8s %8s\n", "model", "res", "tokens",
           "llm", "vision_ms", "prep_ms", "proj_ms", "prefill_ms", "ttft_ms", "GMACs",
           "GFLOP/s");
    double t_start = vlm_now_s();
    int k = 0;
    for (int i = 0; i < total && code == VLM_EXIT_OK; i++) {
        const config *cf = &cfg[i];
        if (cf->index % shard_n != shard_k)
            continue;
        k++;
        vlm_plan_params vp = vlm_plan_default_params();
        vp.model = cf->model;
        vp.height = vp.width = cf->res;
        vp.dtype = cf->dtype;
        vp.weights = weights;
        vlm_plan_facts vf;
        if (vlm_plan_facts_of(&vp, &vf, &err) != VLM_OK) {
            code = vlm_cli_fail("sweep", &err);
            break;
        }
        const vlm_model_info *lm = strcmp(cf->llm, "none") ? vlm_model_find(cf->llm) : NULL;
        int prefill_tokens = lm ? vf.tokens + text_tokens : 0;
        /* the record's identity, as vlm_results_config_key computes it */
        json_t *rec = json_pack("{s:s, s:s, s:s?, s:o, s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:o}",
                                "run_id", run_id, "time", "", "suite",
                                suite.name[0] ? suite.name : NULL, "suite_hash",
                                suite.name[0] ? json_string(suite.hash) : json_null(), "model",
                                cf->model, "res", cf->res, "dtype", vlm_dtype_name(cf->dtype),
                                "threads", vlm_ctx_threads(ctx), "llm", cf->llm,
                                "prefill_tokens", prefill_tokens, "weights",
                                weights ? weights : "synthetic:0", "env", vlm_env_to_json(&env));
        if (shard_n > 1)
            json_object_set_new(rec, "shard",
                                json_pack("{s:i, s:i, s:i}", "k", shard_k, "n", shard_n, "total",
                                          total));
        json_object_set_new(rec, "config_index", json_integer(cf->index));
        char *key = vlm_results_config_key(rec);
        bool have = false;
        for (int r = 0; key && done_keys && r < done.n && !have; r++)
            have = done_keys[r] && !strcmp(done_keys[r], key);
        free(key);
        if (have) {
            resumed++;
            json_decref(rec);
            continue;
        }
        if (!quiet && isatty(2)) {
            double el = vlm_now_s() - t_start;
            int finished = k - 1 - resumed;
            fprintf(stderr, "\r[%d/%d] %s @ %d, %s: elapsed %.0f s, ETA %s", k, mine, cf->model,
                    cf->res, cf->llm, el, "");
            if (finished > 0)
                fprintf(stderr, "%.0f s   ", el / finished * (mine - k + 1));
            fputc('\n', stderr);
        }
        double load0[3];
        if (getloadavg(load0, 3) != 3)
            load0[0] = -1;
        char key_buf[160];
        snprintf(key_buf, sizeof key_buf, "%s|%d|%d", cf->model, cf->res, cf->dtype);
        cached *v = measure_cached(&vision, key_buf, ctx, &vp, &rp);
        snprintf(key_buf, sizeof key_buf, "%d", cf->res);
        cached *pr = NULL;
        const char *skip = NULL;
        char skip_msg[1100];
        if (!v) {
            code = VLM_EXIT_INTERNAL;
            json_decref(rec);
            break;
        }
        if (v->status == VLM_ERR_NOMEM) {
            snprintf(skip_msg, sizeof skip_msg, "skipped: %s", v->msg);
            skip = skip_msg;
        } else if (v->status != VLM_OK) {
            fprintf(stderr, "vlmbench sweep: error: %s\n", v->msg);
            code = vlm_cli_exit_code(v->status);
            json_decref(rec);
            break;
        } else {
            pr = cache_find(&pre, key_buf);
            if (!pr) {
                pr = cache_add(&pre, key_buf);
                vlm_error e2 = {0};
                pr->status = vlm_measure_preprocess(cf->res, IMAGE_W, IMAGE_H, &rp, &pr->m, &e2);
                snprintf(pr->msg, sizeof pr->msg, "%s", e2.msg);
            }
            if (pr->status != VLM_OK) {
                fprintf(stderr, "vlmbench sweep: error: %s\n", pr->msg);
                code = vlm_cli_exit_code(pr->status);
                json_decref(rec);
                break;
            }
        }
        cached *pj = NULL, *pf = NULL;
        if (!skip && lm) {
            char proj_model[64];
            snprintf(proj_model, sizeof proj_model, "proj-%s", lm->name);
            vlm_plan_params pp = vlm_plan_default_params();
            pp.dtype = cf->dtype;
            if (vlm_model_find(proj_model)) {
                pp.model = proj_model;
                /* every feature row the encoder outputs, at its width (see cmd_bench.c) */
                pp.tokens = vf.out_rows;
                pp.in_features = vf.feature_dim;
                snprintf(key_buf, sizeof key_buf, "%s|%d|%d|%d", proj_model, vf.out_rows,
                         vf.feature_dim, cf->dtype);
                pj = measure_cached(&proj, key_buf, ctx, &pp, &rp);
            }
            vlm_plan_params lp = vlm_plan_default_params();
            lp.model = lm->name;
            lp.tokens = prefill_tokens;
            lp.dtype = cf->dtype;
            lp.layers = sampled_layers(&lp, vlm_ctx_threads(ctx));
            snprintf(key_buf, sizeof key_buf, "%s|%d|%d|%d", lm->name, prefill_tokens, cf->dtype,
                     lp.layers);
            pf = measure_cached(&prefills, key_buf, ctx, &lp, &rp);
            if (pf && pf->status == VLM_ERR_NOMEM && lp.layers == 0) {
                /* does not fit whole: estimate from sampled layers instead */
                vlm_plan_facts lf;
                vlm_error e3 = {0};
                lp.layers = vlm_plan_facts_of(&lp, &lf, &e3) == VLM_OK
                                ? vlm_sampled_layers(lf.layers_total)
                                : 4;
                snprintf(key_buf, sizeof key_buf, "%s|%d|%d|%d", lm->name, prefill_tokens,
                         cf->dtype, lp.layers);
                pf = measure_cached(&prefills, key_buf, ctx, &lp, &rp);
            }
            if (pj && pj->status == VLM_ERR_NOMEM) {
                snprintf(skip_msg, sizeof skip_msg, "skipped: %s", pj->msg);
                skip = skip_msg;
            } else if (pf && pf->status == VLM_ERR_NOMEM) {
                snprintf(skip_msg, sizeof skip_msg, "skipped: %s", pf->msg);
                skip = skip_msg;
            } else if ((pj && pj->status != VLM_OK) || !pf || pf->status != VLM_OK) {
                fprintf(stderr, "vlmbench sweep: error: %s\n",
                        pj && pj->status != VLM_OK ? pj->msg : pf ? pf->msg : "out of memory");
                code = VLM_EXIT_INTERNAL;
                json_decref(rec);
                break;
            }
        }
        double load1[3];
        if (getloadavg(load1, 3) != 3)
            load1[0] = -1;
        time_t now = time(NULL);
        struct tm tm;
        char iso[32];
        gmtime_r(&now, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(rec, "time", json_string(iso));
        json_object_set_new(rec, "tokens", json_integer(vf.tokens));
        json_object_set_new(rec, "params", json_integer(vf.params));
        json_object_set_new(rec, "macs", json_integer(vf.macs));
        json_object_set_new(rec, "source", json_string("measured"));
        json_object_set_new(rec, "metrics", json_object());
        json_object_set_new(rec, "loadavg_before", json_real(load0[0]));
        json_object_set_new(rec, "loadavg_after", json_real(load1[0]));
        double ttft = -1, vis = -1, prep = -1, projm = -1, pre_ms = -1;
        bool noisy = false;
        if (skip) {
            json_object_set_new(rec, "status", json_string(skip));
            skipped++;
        } else {
            vis = v->m.stats.median;
            prep = pr->m.stats.median;
            json_object_set_new(rec, "vision_ms", vlm_measurement_to_json(&v->m));
            json_object_set_new(rec, "preprocess_ms", vlm_measurement_to_json(&pr->m));
            noisy = v->m.stats.noisy || pr->m.stats.noisy;
            parts += 2;
            noisy_parts += v->m.stats.noisy + pr->m.stats.noisy;
            if (lm) {
                if (pj) {
                    projm = pj->m.stats.median;
                    json_object_set_new(rec, "projector_ms", vlm_measurement_to_json(&pj->m));
                    json_object_set_new(rec, "projector_macs", json_integer(pj->m.facts.macs));
                    noisy |= pj->m.stats.noisy;
                    parts++;
                    noisy_parts += pj->m.stats.noisy;
                }
                pre_ms = pf->m.stats.median;
                json_object_set_new(rec, "prefill_ms", vlm_measurement_to_json(&pf->m));
                json_object_set_new(rec, "prefill_macs", json_integer(pf->m.facts.macs));
                json_object_set_new(rec, "llm_params", json_integer(pf->m.facts.params));
                noisy |= pf->m.stats.noisy;
                parts++;
                noisy_parts += pf->m.stats.noisy;
                ttft = prep + vis + (projm > 0 ? projm : 0) + pre_ms;
                json_object_set_new(rec, "ttft_ms", json_real(ttft));
            }
            json_object_set_new(rec, "noisy", json_boolean(noisy));
            json_object_set_new(rec, "status", json_string("ok"));
        }
        if (vlm_results_append(path, rec, &err) != VLM_OK) {
            json_decref(rec);
            code = vlm_cli_fail("sweep", &err);
            break;
        }
        json_decref(rec);
        ran++;
        print_row(cf->model, cf->res, vf.tokens, cf->llm, vis, prep, projm, pre_ms,
                  pf && pf->m.estimated, ttft, vf.macs / 1e9, noisy, skip);
    }
    double wall = vlm_now_s() - t_start;
    if (!quiet)
        fprintf(stderr,
                "vlmbench sweep: %d configs measured, %d skipped, %d already in the file; "
                "%d of %d measurements noisy (95%% CI wider than %.0f%% of the median); "
                "%.1f s\n",
                ran - skipped, skipped, resumed, noisy_parts, parts, 100 * VLM_NOISY_CI, wall);
    /* --plot: the charts of the whole results file (issue 7) */
    if (plot && code == VLM_EXIT_OK &&
        vlm_plot_after_sweep(path, plot_dir, stderr, &err) != VLM_OK)
        code = vlm_cli_fail("sweep", &err);
    cache_free(&vision);
    cache_free(&pre);
    cache_free(&proj);
    cache_free(&prefills);
    for (int r = 0; done_keys && r < done.n; r++)
        free(done_keys[r]);
    free(done_keys);
    vlm_results_free(&done);
    vlm_ctx_destroy(ctx);
    free(cfg);
    vlm_suite_free(&suite);
    return code;
}
