/* plots/: `vlmbench plot` and `sweep --plot` run as programs on results files built here, the
 * .dat files checked against the records, the real gnuplot's images checked (PNG signature,
 * SVG parsed as XML by Python), fingerprints never mixed, gnuplot missing; the published
 * tables (results/published). */
#include "plots/plots.h"
#include "results/results.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

VLM_TEST_TMPDIR_SUITE(plot)

/* dir/name in one of a few rotating buffers; dir may be an earlier result. */
static const char *pj(const char *dir, const char *name) {
    static char bufs[16][4096];
    static int next;
    char tmp[4096];
    int len = snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    cr_assert(len > 0 && len < (int)sizeof tmp);
    char *b = bufs[next++ % 16];
    memcpy(b, tmp, strlen(tmp) + 1);
    return b;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* ---- fixtures ---- */

typedef struct fixture_fp {
    const char *cpu, *commit;
    int threads;
} fixture_fp;

static const fixture_fp FP_A = {"Test CPU A", "aaaa1111", 2}, FP_B = {"Test CPU B", "bbbb2222", 4};

static json_t *timing(double median, double lo, double hi, int noisy, int estimated) {
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:[f,f,f], s:b, s:b}", "median", median,
                     "p10", lo, "p90", hi, "mad", 0.1, "ci_lo", lo, "ci_hi", hi, "n", 3, "samples",
                     lo, median, hi, "noisy", noisy, "estimated", estimated);
}

/* Deterministic fixture numbers of one config: vision grows with res^2, differs per model. */
static double vis_ms(const char *model, int res) {
    double k = !strcmp(model, "mci0") ? 1.0 : !strcmp(model, "mci1") ? 1.7 : 2.9;
    return k * 10.0 * (res / 256.0) * (res / 256.0) + 0.125;
}

static json_t *record(const fixture_fp *fp, const char *model, int res, const char *llm) {
    int tokens = (res / 32) * (res / 32);
    json_t *r = json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:I, s:i, s:s}", "model", model, "res",
                          res, "dtype", "f32", "threads", fp->threads, "llm", llm, "tokens", tokens,
                          "macs", (json_int_t)(2000000000LL * res / 256), "prefill_tokens",
                          strcmp(llm, "none") ? tokens + 24 : 0, "weights", "synthetic:0");
    double v = vis_ms(model, res), pre = 3.5 + res / 1000.0;
    json_object_set_new(r, "vision_ms", timing(v, v * 0.97, v * 1.04, res == 320, 0));
    json_object_set_new(r, "preprocess_ms", timing(pre, pre - 0.1, pre + 0.1, 0, 0));
    if (strcmp(llm, "none")) {
        double proj = 0.01 * tokens, pf = 0.05 * (tokens + 24) + (llm[6] == '1' ? 20 : 0);
        json_object_set_new(r, "projector_ms", timing(proj, proj, proj, 0, 0));
        json_object_set_new(r, "prefill_ms", timing(pf, pf, pf, 0, res == 512));
        json_object_set_new(r, "ttft_ms", json_real(pre + v + proj + pf));
    }
    json_object_set_new(r, "metrics", json_object());
    json_object_set_new(r, "status", json_string("ok"));
    json_object_set_new(r, "source", json_string("measured"));
    json_object_set_new(r, "env",
                        json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "cpu", fp->cpu, "onednn",
                                  "2.6.3", "onednn_isa", "avx2", "commit", fp->commit, "dirty", 0,
                                  "threads", fp->threads));
    return r;
}

static void append(const char *path, json_t *rec) {
    vlm_error err = {0};
    cr_assert_eq(vlm_results_append(path, rec, &err), VLM_OK, "%s", err.msg);
    json_decref(rec);
}

static const char *const MODELS[] = {"mci0", "mci1"};
static const int RES[] = {256, 320, 512};

/* mci0 and mci1 at 256, 320, 512 with qwen2-tiny, on one machine. */
static const char *write_grid(const char *name, const fixture_fp *fp, const char *llm) {
    const char *p = tpath(name);
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 3; i++)
            append(p, record(fp, MODELS[m], RES[i], llm));
    return p;
}

static vlm_run run_plot(const char *out, const char *fmt, const char *file, const char *extra) {
    char *argv[12] = {VLM_BIN, "plot", (char *)file, "--out", (char *)out, "--format", (char *)fmt};
    int k = 7;
    if (extra)
        argv[k++] = (char *)extra;
    argv[k] = NULL;
    return vlm_test_run(argv);
}

/* ---- a gnuplot data file: rows of whitespace-separated tokens ("..." one token), blocks
 * separated by two blank lines ---- */

typedef struct dat_row {
    int block;
    int n;
    char tok[20][96];
} dat_row;

static int read_dat(const char *path, dat_row *rows, int cap) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    char line[4096];
    int n = 0, block = 0, blanks = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n') {
            if (++blanks == 2)
                block++;
            continue;
        }
        blanks = 0;
        if (line[0] == '#')
            continue;
        cr_assert(n < cap);
        dat_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->block = block;
        for (char *s = line; *s && *s != '\n';) {
            while (*s == ' ')
                s++;
            if (!*s || *s == '\n')
                break;
            char *o = r->tok[r->n];
            if (*s == '"') {
                s++;
                while (*s && *s != '"')
                    *o++ = *s++;
                if (*s == '"')
                    s++;
            } else {
                while (*s && *s != ' ' && *s != '\n')
                    *o++ = *s++;
            }
            *o = '\0';
            r->n++;
        }
    }
    fclose(f);
    return n;
}

static double num(const dat_row *r, int col) {
    return strtod(r->tok[col - 1], NULL);
}

#define NEAR(a, b) (fabs((a) - (b)) <= 1e-6 * fmax(1.0, fabs(b)))

/* ---- tests ---- */

Test(plot, dat_files_match_the_records) {
    const char *res = write_grid("grid.jsonl", &FP_A, "qwen2-tiny");
    const char *out = tpath("out");
    vlm_run r = run_plot(out, "png", res, NULL);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    dat_row rows[64];

    /* TTFT: one block per encoder (sorted by name), one row per res: the stacked parts */
    int n = read_dat(pj(out, "ttft_qwen2-tiny.dat"), rows, 64);
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++) {
        const dat_row *d = &rows[i];
        const char *model = MODELS[d->block];
        int res_px = (int)num(d, 1);
        cr_assert_eq(res_px, RES[i % 3]);
        int tokens = (res_px / 32) * (res_px / 32);
        double v = vis_ms(model, res_px), pre = 3.5 + res_px / 1000.0, proj = 0.01 * tokens,
               pf = 0.05 * (tokens + 24);
        cr_assert(NEAR(num(d, 4), pre) && NEAR(num(d, 5), v) && NEAR(num(d, 6), proj) &&
                      NEAR(num(d, 7), pf),
                  "row %d: %s %s %s %s", i, d->tok[3], d->tok[4], d->tok[5], d->tok[6]);
        cr_assert(NEAR(num(d, 8), pre + v + proj + pf), "ttft %s", d->tok[7]);
        cr_assert(NEAR(num(d, 12), pre + v + proj + pf) && NEAR(num(d, 10), pre + v));
        cr_assert_eq((int)num(d, 13), tokens);
        cr_assert_eq((int)num(d, 15), res_px == 512, "prefill estimated flag");
        /* bars of the two encoders side by side around the resolution */
        cr_assert(d->block == 0 ? num(d, 2) < res_px : num(d, 2) > res_px);
    }

    /* vision latency: median and the CI bounds, noisy flag */
    n = read_dat(pj(out, "vision_latency.dat"), rows, 64);
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++) {
        const dat_row *d = &rows[i];
        double v = vis_ms(MODELS[d->block], (int)num(d, 1));
        cr_assert(NEAR(num(d, 2), v) && NEAR(num(d, 3), v * 0.97) && NEAR(num(d, 4), v * 1.04),
                  "row %d", i);
        cr_assert_eq((int)num(d, 8), (int)num(d, 1) == 320);
    }

    /* tokens */
    n = read_dat(pj(out, "tokens.dat"), rows, 64);
    cr_assert_eq(n, 6);
    for (int i = 0; i < n; i++)
        cr_assert_eq((int)num(&rows[i], 2),
                     ((int)num(&rows[i], 1) / 32) * ((int)num(&rows[i], 1) / 32));

    /* the subtitle names the fingerprint */
    FILE *f = fopen(pj(out, "ttft_qwen2-tiny.gp"), "r");
    char gp[16384];
    size_t len = fread(gp, 1, sizeof gp - 1, f);
    gp[len] = '\0';
    fclose(f);
    cr_assert(strstr(gp, "Test CPU A  |  2 threads  |  f32  |  oneDNN 2.6.3 (avx2)  |  vlmbench "
                         "aaaa1111"),
              "%s", gp);
    cr_assert(strstr(gp, "'ttft_qwen2-tiny.dat'"), "the .gp reads its .dat by relative name");
    cr_assert(!strstr(gp, g_dir), "no absolute path in the .gp");
    /* no accuracy anywhere: no Pareto or zero-shot chart, and no temporary left */
    cr_assert(!exists(pj(out, "zeroshot_in1k.dat")));
    cr_assert(!exists(pj(out, "ttft_qwen2-tiny.dat.tmp")));
    cr_assert(!exists(pj(out, "ttft_qwen2-tiny.svg")), "--format png only");
    vlm_run_free(&r);
}

Test(plot, real_gnuplot_draws_valid_png_and_svg_and_the_gp_redraws_them) {
    if (access("/usr/bin/gnuplot", X_OK) != 0)
        cr_skip_test("gnuplot is not installed");
    const char *res = write_grid("grid.jsonl", &FP_A, "qwen2-tiny");
    json_t *ev = json_pack("{s:s, s:s, s:i, s:{s:f}}", "kind", "eval", "model", "mci0", "res", 256,
                           "metrics", "imagenet_top1", 66.5);
    append(res, ev);
    append(res, json_pack("{s:s, s:s, s:s, s:{s:f}}", "kind", "eval", "model", "mci1", "llm",
                          "qwen2-tiny", "metrics", "mmmu_val", 31.0));
    const char *out = tpath("out");
    vlm_run r = run_plot(out, "both", res, "--published");
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    const char *charts[] = {"ttft_qwen2-tiny",        "tokens",
                            "vision_latency",         "pareto_mmmu_val_ttft_qwen2-tiny",
                            "pareto_mmmu_val_vision", "zeroshot_in1k"};
    char py[8192] = "import sys, xml.etree.ElementTree as E\n"
                    "for p in sys.argv[1:]:\n"
                    "    root = E.parse(p).getroot()\n"
                    "    assert root.tag.endswith('svg'), p\n";
    (void)py;
    char *pyargv[16] = {VLM_PYTHON, "-c", py};
    int k = 3;
    static char svgs[6][512];
    for (int i = 0; i < 6; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s.png", charts[i]);
        const char *png = pj(out, name);
        FILE *f = fopen(png, "rb");
        cr_assert_not_null(f, "%s missing; stderr: %s", png, r.err);
        unsigned char sig[8];
        cr_assert_eq(fread(sig, 1, 8, f), 8u);
        fclose(f);
        cr_assert(!memcmp(sig, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", png);
        cr_assert_gt(file_size(png), 1000);
        snprintf(svgs[i], sizeof svgs[i], "%s/%s.svg", out, charts[i]);
        cr_assert_gt(file_size(svgs[i]), 0, "%s", svgs[i]);
        pyargv[k++] = svgs[i];
    }
    pyargv[k] = NULL;
    vlm_run x = vlm_test_run(pyargv);
    cr_assert_eq(x.exit_code, 0, "an SVG does not parse as XML: %s", x.err);
    vlm_run_free(&x);

    /* `gnuplot NAME.gp` in the folder redraws the same files, byte for byte */
    for (int i = 0; i < 6; i++) {
        char cmd[2048], a[512], b[512];
        snprintf(a, sizeof a, "%s/%s.png", out, charts[i]);
        snprintf(b, sizeof b, "%s/%s.first.png", out, charts[i]);
        cr_assert_eq(rename(a, b), 0);
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && gnuplot %s.gp 2>/dev/null && cmp -s %s.png %s.first.png", out,
                 charts[i], charts[i], charts[i]);
        vlm_run c = vlm_test_run((char *const[]){"/bin/sh", "-c", cmd, NULL});
        cr_assert_eq(c.exit_code, 0, "%s.gp did not redraw %s.png identically", charts[i],
                     charts[i]);
        vlm_run_free(&c);
    }
    vlm_run_free(&r);
}

Test(plot, pareto_points_frontier_and_published_accuracy) {
    const char *res = tpath("p.jsonl");
    /* fastvithd@1024 with qwen2-0.5b has FastVLM-0.5B's published MMMU (33.9); the others
     * measured accuracy from eval records */
    fixture_fp fp = FP_A;
    append(res, record(&fp, "fastvithd", 1024, "qwen2-0.5b"));
    append(res, record(&fp, "mci0", 256, "qwen2-0.5b"));
    append(res, record(&fp, "mci0", 512, "qwen2-0.5b"));
    append(res, record(&fp, "mci2", 256, "qwen2-0.5b"));
    const double acc[3] = {20.0, 25.0, 19.0}; /* mci0@256, mci0@512, mci2@256 */
    append(res, json_pack("{s:s, s:s, s:i, s:{s:f}}", "kind", "eval", "model", "mci0", "res", 256,
                          "metrics", "mmmu_val", acc[0]));
    append(res, json_pack("{s:s, s:s, s:i, s:{s:f}}", "kind", "eval", "model", "mci0", "res", 512,
                          "metrics", "mmmu_val", acc[1]));
    /* a less specific eval record (no res) loses to the one with res */
    append(res, json_pack("{s:s, s:s, s:{s:f}}", "kind", "eval", "model", "mci2", "metrics",
                          "mmmu_val", acc[2]));
    const char *out = tpath("out");
    vlm_run r = run_plot(out, "svg", res, "--published");
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    dat_row rows[32];
    int n = read_dat(pj(out, "pareto_mmmu_val_ttft_qwen2-0.5b.dat"), rows, 32);
    int pts = 0, front = 0;
    for (int i = 0; i < n; i++) {
        const dat_row *d = &rows[i];
        if (d->block == 1) {
            front++;
            continue;
        }
        pts++;
        const char *model = d->tok[5];
        int res_px = (int)num(d, 7);
        char label[64];
        snprintf(label, sizeof label, "%s@%d", model, res_px);
        cr_assert_str_eq(d->tok[2], label);
        double want_acc = !strcmp(model, "fastvithd") ? 33.9
                          : !strcmp(model, "mci2")    ? acc[2]
                          : res_px == 256             ? acc[0]
                                                      : acc[1];
        cr_assert(NEAR(num(d, 2), want_acc), "%s accuracy %s", label, d->tok[1]);
        cr_assert_eq((int)num(d, 4), !strcmp(model, "fastvithd"), "%s published flag", label);
        /* TTFT as recorded */
        int tokens = (res_px / 32) * (res_px / 32);
        double ttft =
            3.5 + res_px / 1000.0 + vis_ms(model, res_px) + 0.01 * tokens + 0.05 * (tokens + 24);
        cr_assert(NEAR(num(d, 1), ttft), "%s ttft", label);
        /* frontier flag by the definition: nobody as fast and as accurate, one strictly */
        int dominated = 0;
        for (int j = 0; j < n; j++) {
            const dat_row *e = &rows[j];
            if (e == d || e->block != 0)
                continue;
            if (num(e, 1) <= num(d, 1) && num(e, 2) >= num(d, 2) &&
                (num(e, 1) < num(d, 1) || num(e, 2) > num(d, 2)))
                dominated = 1;
        }
        cr_assert_eq((int)num(d, 5), !dominated, "%s frontier flag", label);
    }
    cr_assert_eq(pts, 4);
    /* mci2@256 (19) is slower than mci0@256 (20) and less accurate: off; the rest on */
    cr_assert_eq(front, 3);
    /* the published point's citation is in the .dat */
    FILE *f = fopen(pj(out, "pareto_mmmu_val_ttft_qwen2-0.5b.dat"), "r");
    char buf[16384];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    buf[len] = '\0';
    fclose(f);
    cr_assert(strstr(buf, "# published accuracy of fastvithd@1024 (FastVLM-0.5B): FastVLM"), "%s",
              buf);
    /* without --published: no accuracy for fastvithd, so it is not on the chart */
    vlm_run r2 = run_plot(tpath("out2"), "svg", res, NULL);
    cr_assert_eq(r2.exit_code, 0, "%s", r2.err);
    n = read_dat(pj(tpath("out2"), "pareto_mmmu_val_ttft_qwen2-0.5b.dat"), rows, 32);
    pts = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].block == 0) {
            pts++;
            cr_assert_str_neq(rows[i].tok[5], "fastvithd");
        }
    cr_assert_eq(pts, 3);
    vlm_run_free(&r);
    vlm_run_free(&r2);
}

Test(plot, several_fingerprints_are_split_never_mixed) {
    const char *res = write_grid("mixed.jsonl", &FP_A, "qwen2-tiny");
    for (int i = 0; i < 3; i++)
        append(res, record(&FP_B, "mci0", RES[i], "qwen2-tiny"));
    const char *out = tpath("out");
    vlm_run r = run_plot(out, "png", res, NULL);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "2 machine fingerprints"), "%s", r.err);
    cr_assert(!exists(pj(out, "vision_latency.dat")), "nothing drawn mixed");
    /* two subfolders, each with only its own machine's records */
    int found = 0;
    for (int g = 0; g < 2; g++) {
        const fixture_fp *fp = g ? &FP_B : &FP_A;
        /* the folder is listed on stderr */
        const char *line = strstr(r.err, fp->cpu);
        cr_assert_not_null(line, "%s", r.err);
        const char *start = line;
        while (start > r.err && start[-1] != '\n')
            start--;
        while (*start == ' ')
            start++;
        char dir[1024];
        snprintf(dir, sizeof dir, "%.*s", (int)(strchr(start, ':') - start), start);
        cr_assert(!strncmp(dir, out, strlen(out)), "%s", dir);
        dat_row rows[64];
        char path[1200];
        snprintf(path, sizeof path, "%s/vision_latency.dat", dir);
        int n = read_dat(path, rows, 64);
        cr_assert_eq(n, g ? 3 : 6, "%s: %d rows", path, n);
        snprintf(path, sizeof path, "%s/ttft_qwen2-tiny.gp", dir);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        char gp[16384];
        size_t len = fread(gp, 1, sizeof gp - 1, f);
        gp[len] = '\0';
        fclose(f);
        cr_assert(strstr(gp, fp->cpu) && !strstr(gp, (g ? &FP_A : &FP_B)->cpu),
                  "the subtitle names only its machine");
        snprintf(path, sizeof path, "%s/ttft_qwen2-tiny.png", dir);
        found += exists(path);
    }
    cr_assert_eq(found, 2);
    vlm_run_free(&r);
}

Test(plot, gnuplot_missing_still_writes_dat_and_gp) {
    const char *res = write_grid("grid.jsonl", &FP_A, "none");
    const char *out = tpath("out");
    setenv("VLM_GNUPLOT", "/nonexistent/gnuplot", 1);
    vlm_run r = run_plot(out, "both", res, NULL);
    unsetenv("VLM_GNUPLOT");
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "gnuplot not found"), "%s", r.err);
    cr_assert(strstr(r.out, "gnuplot not found"), "%s", r.out);
    cr_assert(exists(pj(out, "vision_latency.dat")));
    cr_assert(exists(pj(out, "vision_latency.gp")));
    cr_assert(exists(pj(out, "tokens.gp")));
    cr_assert(!exists(pj(out, "vision_latency.png")));
    cr_assert(!exists(pj(out, "ttft_none.dat")), "vision only: no TTFT chart");
    vlm_run_free(&r);

    /* the same with a PATH that has no gnuplot */
    const char *path = getenv("PATH");
    char *saved = strdup(path ? path : "/usr/bin:/bin");
    setenv("PATH", "/nonexistent-bin", 1);
    r = run_plot(tpath("out2"), "png", res, NULL);
    setenv("PATH", saved, 1);
    free(saved);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "gnuplot not found"), "%s", r.err);
    cr_assert(exists(pj(tpath("out2"), "tokens.dat")));

    /* the .gp written without gnuplot draws the chart later */
    if (access("/usr/bin/gnuplot", X_OK) == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot vision_latency.gp", out);
        vlm_run c = vlm_test_run((char *const[]){"/bin/sh", "-c", cmd, NULL});
        cr_assert_eq(c.exit_code, 0, "%s", c.err);
        cr_assert_gt(file_size(pj(out, "vision_latency.png")), 0);
        cr_assert_gt(file_size(pj(out, "vision_latency.svg")), 0);
        vlm_run_free(&c);
    }
    vlm_run_free(&r);
}

Test(plot, gnuplot_failure_is_an_internal_error_without_partial_images) {
    const char *res = write_grid("grid.jsonl", &FP_A, "none");
    const char *out = tpath("out");
    setenv("VLM_GNUPLOT", "/bin/false", 1);
    vlm_run r = run_plot(out, "png", res, NULL);
    unsetenv("VLM_GNUPLOT");
    cr_assert_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "gnuplot failed"), "%s", r.err);
    cr_assert(!exists(pj(out, "tokens.png")));
    vlm_run_free(&r);
}

Test(plot, bad_usage_and_input) {
    const char *res = write_grid("grid.jsonl", &FP_A, "none");
    vlm_run r = vlm_test_run((char *const[]){VLM_BIN, "plot", (char *)res, "--bogus", NULL});
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    vlm_run_free(&r);
    r = vlm_test_run((char *const[]){VLM_BIN, "plot", NULL});
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
    r = run_plot(tpath("o"), "jpg", res, NULL);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--format"), "%s", r.err);
    vlm_run_free(&r);
    r = run_plot(tpath("o"), "png", tpath("missing.jsonl"), NULL);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "missing.jsonl"), "%s", r.err);
    vlm_run_free(&r);
    /* only skipped configs: nothing to draw */
    const char *sk = tpath("skipped.jsonl");
    append(sk, json_pack("{s:s, s:i, s:s, s:s}", "model", "mci0", "res", 256, "llm", "none",
                         "status", "skipped: does not fit"));
    r = run_plot(tpath("o2"), "png", sk, NULL);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "no timing record"), "%s", r.err);
    vlm_run_free(&r);
    r = vlm_test_run((char *const[]){VLM_BIN, "plot", "--help", NULL});
    cr_assert_eq(r.exit_code, 0);
    cr_assert(strstr(r.out, "--published") && strstr(r.out, "VLM_GNUPLOT"), "%s", r.out);
    vlm_run_free(&r);
}

Test(plot, sweep_plot_draws_at_the_end) {
    /* the smallest real sweep: MCi0 at 64 px, vision only, one repetition */
    const char *res = tpath("sweep.jsonl"), *dir = tpath("charts");
    vlm_run r = vlm_test_run((char *const[]){
        VLM_BIN, "sweep",     "--model", "mci0",       "--res",      "64",         "--llm",
        "none",  "--warmup",  "0",       "--min-reps", "1",          "--min-time", "0",
        "--out", (char *)res, "--quiet", "--plot",     "--plot-dir", (char *)dir,  NULL});
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_assert(exists(pj(dir, "vision_latency.dat")), "%s", r.err);
    cr_assert(exists(pj(dir, "tokens.gp")), "%s", r.err);
    if (access("/usr/bin/gnuplot", X_OK) == 0)
        cr_assert_gt(file_size(pj(dir, "vision_latency.png")), 0);
    vlm_run_free(&r);
}

/* ---- published numbers ---- */

Test(plot, published_tables_load_and_cite_every_row) {
    vlm_published p;
    vlm_error err = {0};
    cr_assert_eq(vlm_published_load(NULL, &p, &err), VLM_OK, "%s", err.msg);
    const char *want[] = {"convllava", "fastvlm", "mobileclip"};
    cr_assert_eq(p.n, 3);
    for (int t = 0; t < p.n; t++) {
        cr_assert_str_eq(p.tables[t].name, want[t]);
        cr_assert_gt(p.tables[t].nrows, 0);
        for (int i = 0; i < p.tables[t].nrows; i++) {
            const char *src = vlm_published_cell(&p.tables[t], i, "source");
            cr_assert(src && strlen(src) > 20, "%s row %d: source '%s'", want[t], i,
                      src ? src : "(none)");
        }
    }
    /* numbers of shared/spec/published.md */
    const char *src = NULL, *name = NULL;
    cr_assert_float_eq(
        vlm_published_score(&p, "fastvithd", 1024, "qwen2-0.5b", "mmmu_val", &src, &name), 33.9,
        1e-9);
    cr_assert_str_eq(name, "FastVLM-0.5B");
    cr_assert(strstr(src, "FastVLM-0.5B README"), "%s", src);
    cr_assert_float_eq(
        vlm_published_score(&p, "fastvithd", 1024, "qwen2-7b", "seedbench_image", NULL, NULL), 75.4,
        1e-9);
    cr_assert(
        isnan(vlm_published_score(&p, "fastvithd", 768, "qwen2-0.5b", "mmmu_val", NULL, NULL)),
        "published at 1024 only");
    cr_assert(isnan(vlm_published_score(&p, "fastvithd", 1024, "none", "mmmu_val", NULL, NULL)));
    /* MobileCLIP's own row wins over MobileCLIP2's for the same encoder */
    cr_assert_float_eq(
        vlm_published_score(&p, "mci0", 256, "qwen2-0.5b", "imagenet_top1", NULL, &name), 67.8,
        1e-9);
    cr_assert_str_eq(name, "MobileCLIP-S0");
    cr_assert_float_eq(vlm_published_score(&p, "mci2", 256, NULL, "imagenet_top1", NULL, NULL),
                       74.4, 1e-9);
    cr_assert_float_eq(
        vlm_published_score(&p, "convnext-l", 768, "vicuna-7b", "textvqa", NULL, NULL),
        59.1, 1e-9);

    /* the embedded copies are the files of results/published */
    vlm_published disk;
    cr_assert_eq(vlm_published_load(VLM_SOURCE_DIR "/results/published", &disk, &err), VLM_OK, "%s",
                 err.msg);
    cr_assert_eq(disk.n, p.n);
    for (int t = 0; t < p.n; t++) {
        cr_assert_eq(disk.tables[t].nrows, p.tables[t].nrows);
        cr_assert_eq(disk.tables[t].ncols, p.tables[t].ncols);
        for (long c = 0; c < (long)p.tables[t].nrows * p.tables[t].ncols; c++)
            cr_assert_str_eq(disk.tables[t].cells[c], p.tables[t].cells[c]);
    }
    vlm_published_free(&disk);
    vlm_published_free(&p);

    /* independently (Python's csv module): every row of every file has a non-empty source */
    const char *py = "import csv, glob, sys\n"
                     "files = glob.glob(sys.argv[1] + '/*.csv')\n"
                     "assert len(files) == 3, files\n"
                     "for f in files:\n"
                     "    rows = list(csv.DictReader(open(f, newline='')))\n"
                     "    assert rows, f\n"
                     "    for i, r in enumerate(rows):\n"
                     "        assert None not in r and None not in r.values(), (f, i)\n"
                     "        assert r['source'].strip(), (f, i)\n";
    vlm_run r = vlm_test_run(
        (char *const[]){VLM_PYTHON, "-c", (char *)py, VLM_SOURCE_DIR "/results/published", NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(plot, published_csv_errors_name_file_and_line) {
    struct {
        const char *text, *want;
    } cases[] = {
        {"model,score\nA,1\n", "no \"source\" column"},
        {"model,score,source\nA,1,\"paper, table 1\"\nB,2,\n", "bad.csv:3: empty source"},
        {"model,score,source\nA,1\n", "bad.csv:2: 2 fields, the header has 3"},
        {"model,score,source\nA,1,\"unterminated\n", "bad.csv:2: unterminated quoted field"},
        {"", "empty file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/pub%zu", g_dir, i);
        mkdir(dir, 0755);
        write_file(pj(dir, "bad.csv"), cases[i].text);
        vlm_published p;
        vlm_error err = {0};
        cr_assert_eq(vlm_published_load(dir, &p, &err), VLM_ERR_FORMAT, "case %zu", i);
        cr_assert(strstr(err.msg, cases[i].want), "case %zu: %s", i, err.msg);
        cr_assert_eq(p.n, 0);
        cr_assert_null(p.tables);
    }
    /* quoted fields: commas, doubled quotes, newlines, CRLF */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/good", g_dir);
    mkdir(dir, 0755);
    write_file(pj(dir, "t.csv"), "model,note,source\r\nA,\"x, \"\"y\"\"\nz\",\"s\"\r\n\r\n");
    vlm_published p;
    vlm_error err = {0};
    cr_assert_eq(vlm_published_load(dir, &p, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(p.n, 1);
    cr_assert_eq(p.tables[0].nrows, 1);
    cr_assert_str_eq(vlm_published_cell(&p.tables[0], 0, "note"), "x, \"y\"\nz");
    cr_assert_null(vlm_published_cell(&p.tables[0], 0, "nope"));
    vlm_published_free(&p);
    cr_assert_eq(vlm_published_load(tpath("no-such-dir"), &p, &err), VLM_ERR_IO);
}

Test(plot, duplicate_configs_use_the_later_record) {
    const char *res = write_grid("grid.jsonl", &FP_A, "none");
    json_t *again = record(&FP_A, "mci0", 256, "none");
    json_object_set_new(again, "vision_ms", timing(99.0, 98.0, 100.0, 0, 0));
    append(res, again);
    const char *out = tpath("out");
    vlm_run r = run_plot(out, "png", res, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "more than once"), "%s", r.err);
    dat_row rows[16];
    int n = read_dat(pj(out, "vision_latency.dat"), rows, 16);
    cr_assert_eq(n, 6);
    cr_assert_eq((int)num(&rows[0], 1), 256);
    cr_assert(NEAR(num(&rows[0], 2), 99.0), "%s", rows[0].tok[1]);
    vlm_run_free(&r);
}
