/* cli/cmd_sweep.c: `vlmbench sweep` run as a program on tiny grids (MCi0 at 64-384 px, the
 * 2-layer qwen2-tiny, one repetition): the records, resume, a sweep killed with SIGKILL and
 * resumed, sharding and merging, bad input, and suite files. */
#include "results/results.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUN(...) vlm_test_run((char *const[]){VLM_BIN, __VA_ARGS__, NULL})

/* One repetition, no warm-up: each measurement runs once. */
#define FAST "--threads", "1", "--warmup", "0", "--min-reps", "1", "--min-time", "0", "--quiet"
/* 3 resolutions x {qwen2-tiny, none}: 6 configs, config i = (RES6[i / 2], LLMS[i % 2]) */
#define GRID6 "sweep", "--model", "mci0", "--res", "64,96,128", "--llm", "qwen2-tiny,none", FAST

static const int RES6[] = {64, 96, 128};
static const char *const LLMS[] = {"qwen2-tiny", "none"};

VLM_TEST_TMPDIR_SUITE(sweep)

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0)
        if ((n += got) + 1 == cap)
            buf = realloc(buf, cap *= 2);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int count_char(const char *s, char c) {
    int n = 0;
    for (; s && *s; s++)
        n += *s == c;
    return n;
}

/* Every line of path parsed as JSON (each must be an object); returns the count. */
static int read_lines(const char *path, json_t **recs, int max) {
    char *text = slurp(path);
    cr_assert_not_null(text, "%s: missing", path);
    int n = 0, newlines = count_char(text, '\n');
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert_lt(n, max, "%s: more than %d lines", path, max);
        json_error_t jerr;
        recs[n] = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        cr_assert(json_is_object(recs[n]), "%s:%d: not a JSON object: %s", path, n + 1,
                  jerr.text);
        n++;
    }
    cr_assert_eq(newlines, n, "%s: a blank line or a line without a newline", path);
    free(text);
    return n;
}

static void free_recs(json_t **recs, int n) {
    for (int i = 0; i < n; i++)
        json_decref(recs[i]);
}

static const char *str(json_t *rec, const char *key) {
    json_t *v = json_object_get(rec, key);
    cr_assert(json_is_string(v), "\"%s\" is not a string", key);
    return json_string_value(v);
}

static long long integer(json_t *rec, const char *key) {
    json_t *v = json_object_get(rec, key);
    cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* The median of a timing object, after checking the object's shape. */
static double timing(json_t *rec, const char *key) {
    json_t *t = json_object_get(rec, key);
    cr_assert(json_is_object(t), "\"%s\" missing", key);
    json_t *med = json_object_get(t, "median"), *samples = json_object_get(t, "samples");
    cr_assert(json_is_number(med), "%s.median", key);
    cr_assert(json_is_array(samples), "%s.samples", key);
    cr_assert_geq(json_array_size(samples), 1, "%s: no samples", key);
    cr_assert_eq((long long)json_array_size(samples), integer(t, "n"), "%s.n", key);
    for (size_t i = 0; i < json_array_size(samples); i++)
        cr_assert_gt(json_number_value(json_array_get(samples, i)), 0, "%s.samples[%zu]", key, i);
    double m = json_number_value(med);
    cr_assert_gt(m, 0, "%s.median", key);
    cr_assert(json_is_boolean(json_object_get(t, "noisy")), "%s.noisy", key);
    cr_assert(json_number_value(json_object_get(t, "ci_lo")) <= m &&
                  m <= json_number_value(json_object_get(t, "ci_hi")),
              "%s: the CI misses the median", key);
    return m;
}

/* ceil(res / 32)^2: MCi's visual tokens */
static int mci_tokens(int res) {
    return ((res + 31) / 32) * ((res + 31) / 32);
}

/* The grid position of (res, llm) in a res-major, LLM-minor grid, or -1. */
static int grid_index(const int *res, int nres, long long r, const char *llm) {
    for (int i = 0; i < nres; i++)
        for (int l = 0; l < 2; l++)
            if (res[i] == r && !strcmp(LLMS[l], llm))
                return 2 * i + l;
    return -1;
}

/* Checks the records of an "ok" mci0 sweep record by record. */
static void check_record(json_t *rec) {
    cr_assert_eq(integer(rec, "schema"), 1);
    cr_assert_str_eq(str(rec, "status"), "ok");
    cr_assert_str_eq(str(rec, "model"), "mci0");
    cr_assert_str_eq(str(rec, "dtype"), "f32");
    cr_assert_eq(integer(rec, "threads"), 1);
    cr_assert_str_eq(str(rec, "weights"), "synthetic:0");
    cr_assert_str_eq(str(rec, "source"), "measured");
    str(rec, "run_id");
    str(rec, "time");
    int res = (int)integer(rec, "res");
    const char *llm = str(rec, "llm");
    int tokens = (int)integer(rec, "tokens");
    cr_assert_eq(tokens, mci_tokens(res), "mci0 @ %d: %d tokens", res, tokens);
    bool has_llm = strcmp(llm, "none") != 0;
    cr_assert_eq(integer(rec, "prefill_tokens"), has_llm ? tokens + 24 : 0);
    cr_assert_gt(integer(rec, "params"), 0);
    cr_assert_gt(integer(rec, "macs"), 0);
    json_t *env = json_object_get(rec, "env");
    cr_assert(json_is_object(env), "no env object");
    cr_assert(json_is_string(json_object_get(env, "cpu")), "env.cpu");
    cr_assert(json_is_string(json_object_get(env, "onednn")), "env.onednn");
    cr_assert(json_is_boolean(json_object_get(rec, "noisy")), "noisy");

    double vision = timing(rec, "vision_ms"), pre = timing(rec, "preprocess_ms");
    cr_assert_null(json_object_get(rec, "projector_ms"), "qwen2-tiny has no projector");
    json_t *ttft = json_object_get(rec, "ttft_ms");
    if (has_llm) {
        double prefill = timing(rec, "prefill_ms");
        cr_assert(json_is_number(ttft), "no ttft_ms with an LLM");
        double want = pre + vision + prefill, got = json_number_value(ttft);
        cr_assert(fabs(got - want) <= 1e-9 * want, "ttft %.17g != %.17g + %.17g + %.17g", got,
                  pre, vision, prefill);
        cr_assert_gt(integer(rec, "prefill_macs"), 0);
        cr_assert_gt(integer(rec, "llm_params"), 0);
    } else {
        cr_assert_null(json_object_get(rec, "prefill_ms"), "a prefill without an LLM");
        if (ttft && !json_is_null(ttft))
            cr_assert(fabs(json_number_value(ttft) - (pre + vision)) <= 1e-9 * (pre + vision));
    }
}

Test(sweep, records_every_config_of_the_grid) {
    char *out = tpath("r.jsonl");
    vlm_run r = RUN(GRID6, "--out", out);
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);

    json_t *recs[16];
    int n = read_lines(out, recs, 16);
    cr_assert_eq(n, 6, "%d records", n);
    int seen[6] = {0};
    for (int i = 0; i < n; i++) {
        check_record(recs[i]);
        cr_assert(json_is_null(json_object_get(recs[i], "suite")), "suite without --suite");
        cr_assert(json_is_null(json_object_get(recs[i], "suite_hash")));
        cr_assert_null(json_object_get(recs[i], "shard"), "shard without --shard");
        int g = grid_index(RES6, 3, integer(recs[i], "res"), str(recs[i], "llm"));
        cr_assert_geq(g, 0);
        seen[g]++;
        cr_assert_eq(integer(recs[i], "config_index"), g, "record %d", i);
        cr_assert_eq(g, i, "record %d is config %d: not in grid order", i, g);
    }
    for (int g = 0; g < 6; g++)
        cr_assert_eq(seen[g], 1, "config %d recorded %d times", g, seen[g]);
    /* the encoder and preprocessing are measured once per size and serve both LLMs */
    for (int i = 0; i < n; i += 2) {
        json_t *a = json_object_get(recs[i], "vision_ms"),
               *b = json_object_get(recs[i + 1], "vision_ms");
        cr_assert(json_equal(json_object_get(a, "samples"), json_object_get(b, "samples")),
                  "vision re-measured for the second LLM at the same size");
    }

    /* stdout: a header, then one row per config */
    cr_assert_eq(count_char(r.out, '\n'), 7, "stdout: %s", r.out);
    cr_assert(strstr(r.out, "model") && strstr(r.out, "vision_ms") && strstr(r.out, "ttft_ms"),
              "no header: %s", r.out);
    char *line = strchr(r.out, '\n') + 1;
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(strncmp(line, "mci0", 4), 0, "row %d: %s", i, line);
        cr_assert(strstr(line, LLMS[i % 2]), "row %d: %s", i, line);
        line = strchr(line, '\n') + 1;
    }
    free_recs(recs, n);
    vlm_run_free(&r);
}

Test(sweep, resume_runs_nothing_already_recorded) {
    char *out = tpath("r.jsonl");
    vlm_run r = RUN(GRID6, "--out", out);
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    vlm_run_free(&r);
    char *before = slurp(out);

    r = RUN(GRID6, "--out", out, "--resume");
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    char *after = slurp(out);
    cr_assert_str_eq(after, before, "resume changed a complete file");
    cr_assert_eq(count_char(r.out, '\n'), 1, "rows for configs already recorded: %s", r.out);
    vlm_run_free(&r);

    /* keep the first 2 records: resume runs exactly the other 4 */
    char *third = before;
    for (int i = 0; i < 2; i++)
        third = strchr(third, '\n') + 1;
    FILE *f = fopen(out, "wb");
    fwrite(before, 1, (size_t)(third - before), f);
    fclose(f);
    r = RUN(GRID6, "--out", out, "--resume");
    cr_assert_eq(r.exit_code, 0, "stderr: %s", r.err);
    cr_assert_eq(count_char(r.out, '\n'), 5, "expected a header and 4 rows: %s", r.out);
    json_t *recs[16];
    int n = read_lines(out, recs, 16);
    cr_assert_eq(n, 6);
    int seen[6] = {0};
    for (int i = 0; i < n; i++)
        seen[grid_index(RES6, 3, integer(recs[i], "res"), str(recs[i], "llm"))]++;
    for (int g = 0; g < 6; g++)
        cr_assert_eq(seen[g], 1, "config %d recorded %d times", g, seen[g]);
    free_recs(recs, n);
    vlm_run_free(&r);
    free(before);
    free(after);
}

/* ---- a sweep killed with SIGKILL, then resumed ------------------------------------------ */

/* 6 sizes x 2 LLMs; --min-time 0.1 makes every new measurement take >= 0.1 s, so after the
 * first record the sweep has well over a second to go when it is killed. */
#define GRID12                                                                                 \
    "sweep", "--model", "mci0", "--res", "64..384", "--llm", "qwen2-tiny,none", "--threads",   \
        "1", "--warmup", "0", "--min-reps", "1", "--min-time", "0.1", "--quiet"
static const int RES12[] = {64, 128, 192, 256, 320, 384};

static int complete_lines(const char *path) {
    char *text = slurp(path);
    int n = count_char(text, '\n');
    free(text);
    return n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

Test(sweep, killed_sweep_resumes_without_loss_or_duplicates) {
    char *out = tpath("k.jsonl");
    char *const argv[] = {VLM_BIN, GRID12, "--out", out, NULL};
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    double t0 = now_s();
    int lines = 0;
    while ((lines = complete_lines(out)) < 1 && now_s() - t0 < 60) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert_geq(lines, 1, "no record after 60 s");
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "the sweep ended before it was killed (status %d)", status);
    lines = complete_lines(out);
    cr_assert(lines >= 1 && lines < 12, "%d records survived the kill", lines);

    /* a writer killed mid-record: a torn last line with no newline */
    FILE *f = fopen(out, "ab");
    fputs("{\"schema\":1,\"mod", f);
    fclose(f);
    vlm_run r = RUN("results", "show", out);
    cr_assert_eq(r.exit_code, 0, "show with a torn last line: %s", r.err);
    cr_assert(strstr(r.err, "incomplete last line"), "no warning: %s", r.err);
    cr_assert_eq(count_char(r.out, '\n'), 1 + lines, "%s", r.out);
    vlm_run_free(&r);

    r = vlm_test_run((char *const[]){VLM_BIN, GRID12, "--out", out, "--resume", NULL});
    cr_assert_eq(r.exit_code, 0, "resume: %s", r.err);
    cr_assert(strstr(r.err, "incomplete last line"), "resume did not warn: %s", r.err);
    cr_assert_eq(count_char(r.out, '\n'), 1 + 12 - lines, "resume re-ran configs: %s", r.out);
    vlm_run_free(&r);

    /* the store reads: every config exactly once, the torn fragment gone */
    vlm_results res;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(out, &res, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(res.skipped, 0, "%s", res.warning);
    cr_assert_eq(res.n, 12, "%d records", res.n);
    int seen[12] = {0};
    for (int i = 0; i < res.n; i++) {
        check_record(res.records[i]);
        int g = grid_index(RES12, 6, integer(res.records[i], "res"), str(res.records[i], "llm"));
        cr_assert_geq(g, 0);
        cr_assert_eq(integer(res.records[i], "config_index"), g);
        seen[g]++;
    }
    for (int g = 0; g < 12; g++)
        cr_assert_eq(seen[g], 1, "config %d recorded %d times", g, seen[g]);
    vlm_results_free(&res);
    char *text = slurp(out);
    cr_assert_null(strstr(text, "\"mod{"), "the torn fragment joined a record");
    free(text);

    r = RUN("results", "show", out);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_eq(count_char(r.out, '\n'), 13, "%s", r.out);
    cr_assert_null(strstr(r.err, "incomplete"), "%s", r.err);
    vlm_run_free(&r);
}

Test(sweep, resume_after_a_torn_newline_terminated_line) {
    /* a last line that ends in a newline but is not JSON is torn too; appending after it
     * would make it a malformed middle line */
    char *out = tpath("t.jsonl");
    vlm_run r = RUN("sweep", "--model", "mci0", "--res", "64,96", "--llm", "none", FAST, "--out",
                    out);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    char *text = slurp(out);
    FILE *f = fopen(out, "wb");
    fwrite(text, 1, (size_t)(strchr(text, '\n') + 1 - text), f); /* keep record 1 */
    fputs("{\"schema\":1,\"mod\n", f);
    fclose(f);
    free(text);
    r = RUN("sweep", "--model", "mci0", "--res", "64,96", "--llm", "none", FAST, "--out", out,
            "--resume");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    vlm_results res;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(out, &res, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(res.n, 2);
    cr_assert_eq(res.skipped, 0);
    vlm_results_free(&res);
}

/* ---- sharding --------------------------------------------------------------------------- */

Test(sweep, shards_partition_the_grid_and_merge) {
    const char *shards[] = {"0/3", "1/3", "2/3"};
    char *files[3];
    int owner[6];
    for (int g = 0; g < 6; g++)
        owner[g] = -1;
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.jsonl", k);
        files[k] = strdup(tpath(name));
        vlm_run r = RUN(GRID6, "--shard", (char *)shards[k], "--out", files[k]);
        cr_assert_eq(r.exit_code, 0, "shard %s: %s", shards[k], r.err);
        vlm_run_free(&r);
        json_t *recs[8];
        int n = read_lines(files[k], recs, 8);
        cr_assert_eq(n, 2, "shard %s: %d records", shards[k], n);
        for (int i = 0; i < n; i++) {
            check_record(recs[i]);
            json_t *sh = json_object_get(recs[i], "shard");
            cr_assert(json_is_object(sh), "no shard object");
            cr_assert_eq(integer(sh, "k"), k);
            cr_assert_eq(integer(sh, "n"), 3);
            cr_assert_eq(integer(sh, "total"), 6);
            long long idx = integer(recs[i], "config_index");
            cr_assert_eq(idx % 3, k, "config %lld in shard %d", idx, k);
            int g = grid_index(RES6, 3, integer(recs[i], "res"), str(recs[i], "llm"));
            cr_assert_eq(g, idx, "config_index %lld for grid position %d", idx, g);
            cr_assert_eq(owner[g], -1, "config %d in shards %d and %d", g, owner[g], k);
            owner[g] = k;
        }
        free_recs(recs, n);
    }
    for (int g = 0; g < 6; g++)
        cr_assert_neq(owner[g], -1, "config %d in no shard", g);

    char *merged = tpath("merged.jsonl");
    vlm_run r = RUN("results", "merge", merged, files[0], files[1], files[2]);
    cr_assert_eq(r.exit_code, 0, "merge: %s", r.err);
    cr_assert_null(strstr(r.err, "missing"), "%s", r.err);
    vlm_run_free(&r);
    vlm_results res;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(merged, &res, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(res.n, 6);
    vlm_results_free(&res);

    /* two shards only: merged, with the missing configs listed */
    r = RUN("results", "merge", tpath("part.jsonl"), files[0], files[1]);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "missing configs: 2, 5"), "%s", r.err);
    vlm_run_free(&r);

    r = RUN("results", "merge", tpath("dup.jsonl"), files[0], files[0]);
    cr_assert_eq(r.exit_code, 2, "merging a shard with itself: %s", r.err);
    cr_assert(strstr(r.err, "duplicate"), "%s", r.err);
    vlm_run_free(&r);
    for (int k = 0; k < 3; k++)
        free(files[k]);
}

/* ---- bad input -------------------------------------------------------------------------- */

Test(sweep, sizes_below_a_models_minimum_are_skipped_and_reported) {
    char *out = tpath("small.jsonl");
    vlm_run r = RUN("sweep", "--model", "fastvithd", "--res", "32", "--llm", "none", FAST,
                    "--out", out);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "skipping fastvithd at 32 px: below its minimum of 64 px"), "%s",
              r.err);
    cr_assert(strstr(r.err, "grid is empty"), "%s", r.err);
    cr_assert_neq(access(out, F_OK), 0, "a results file for an empty grid");
    vlm_run_free(&r);

    /* with a size that remains: that one is measured, the other reported */
    r = RUN("sweep", "--model", "fastvithd", "--res", "32,128", "--llm", "none", FAST, "--out",
            out);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "skipping fastvithd at 32 px"), "%s", r.err);
    json_t *recs[4];
    int n = read_lines(out, recs, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(integer(recs[0], "res"), 128);
    cr_assert_eq(integer(recs[0], "tokens"), 4, "fastvithd @ 128: ceil(128 / 64)^2 tokens");
    free_recs(recs, n);
    vlm_run_free(&r);
}

static void expect_usage_error(char *const argv[], const char *message) {
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 2, "%s %s %s: exit %d, stderr: %s", argv[1], argv[2], argv[3],
                 r.exit_code, r.err);
    cr_assert(strstr(r.err, message), "expected '%s' in: %s", message, r.err);
    cr_assert_neq(access(tpath("bad.jsonl"), F_OK), 0, "a results file after bad input");
    vlm_run_free(&r);
}

#define BAD(...) (char *const[]){VLM_BIN, "sweep", __VA_ARGS__, FAST, "--out", tpath("bad.jsonl"), NULL}

Test(sweep, bad_input_exits_2_with_a_message) {
    expect_usage_error(BAD("--model", "mci0", "--res", "1152..256", "--llm", "none"),
                       "1152..256");
    expect_usage_error(BAD("--model", "nosuch", "--res", "64", "--llm", "none"),
                       "'nosuch' is not a vision model");
    expect_usage_error(BAD("--model", "mci0", "--res", "64", "--llm", "mci0"),
                       "'mci0' is not an LLM");
    expect_usage_error(BAD("--model", "qwen2-tiny", "--res", "64", "--llm", "none"),
                       "'qwen2-tiny' is not a vision model");
    expect_usage_error(BAD("--model", "mci0", "--res", "64", "--llm", "none", "--shard", "3/3"),
                       "--shard");
    expect_usage_error(BAD("--model", "mci0", "--res", "64", "--llm", "none", "--shard", "-1/3"),
                       "--shard");
    expect_usage_error(BAD("--model", "mci0", "--res", "64", "--llm", "none", "--min-reps", "0"),
                       "--min-reps");
    char *missing = tpath("missing.suite");
    expect_usage_error(BAD("--suite", missing), missing);
}

/* ---- suites ----------------------------------------------------------------------------- */

static uint64_t fnv1a64(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

Test(sweep, suite_file_runs_and_is_recorded_with_its_hash) {
    const char suite[] = "# a tiny suite\n"
                         "name t\n"
                         "grid mci0 res 64\n"
                         "llm none\n"
                         "reps warmup 0 min 1 time 0\n";
    char *path = tpath("t.suite"), *out = tpath("suite.jsonl");
    FILE *f = fopen(path, "wb");
    fwrite(suite, 1, sizeof suite - 1, f);
    fclose(f);
    char want[17];
    snprintf(want, sizeof want, "%016" PRIx64, fnv1a64(suite, sizeof suite - 1));

    vlm_run r = RUN("sweep", "--suite", path, "--threads", "1", "--quiet", "--out", out);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    json_t *recs[4];
    int n = read_lines(out, recs, 4);
    cr_assert_eq(n, 1);
    check_record(recs[0]);
    cr_assert_str_eq(str(recs[0], "suite"), "t");
    cr_assert_str_eq(str(recs[0], "suite_hash"), want);
    cr_assert_eq(integer(recs[0], "res"), 64);
    cr_assert_str_eq(str(recs[0], "llm"), "none");
    cr_assert_eq(integer(json_object_get(recs[0], "vision_ms"), "n"), 1, "reps min 1 time 0");
    free_recs(recs, n);

    /* the suite is the grid: grid flags alongside it are refused */
    r = RUN("sweep", "--suite", path, "--res", "64", "--out", tpath("bad.jsonl"));
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--suite replaces"), "%s", r.err);
    vlm_run_free(&r);
}
