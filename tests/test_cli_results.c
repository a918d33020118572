/* cli/cmd_results.c: `vlmbench results show` and `vlmbench results merge`, run as a program. */
#include "results/results.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN(...) vlm_test_run((char *const[]){VLM_BIN, "results", __VA_ARGS__, NULL})

static char g_dir[] = "/tmp/vlm_test_cli_results_XXXXXX";

static void setup(void) {
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp failed");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void) {
    nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cli_results, .init = setup, .fini = teardown);

static char *tpath(const char *name) {
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

static void append(const char *path, json_t *rec) {
    vlm_error err = {0};
    cr_assert_eq(vlm_results_append(path, rec, &err), VLM_OK, "%s", err.msg);
    json_decref(rec);
}

static void append_raw(const char *path, const char *bytes) {
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, strlen(bytes), f), strlen(bytes));
    fclose(f);
}

static json_t *timing(double median, int noisy, int estimated) {
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:[f], s:b, s:b}", "median", median,
                     "p10", median, "p90", median, "mad", 0.0, "ci_lo", median, "ci_hi", median,
                     "n", 1, "samples", median, "noisy", noisy, "estimated", estimated);
}

static json_t *env(void) {
    return json_pack("{s:s, s:s, s:s}", "cpu", "Test CPU", "onednn", "2.7.3", "onednn_isa", "avx2");
}

/* A full record: FastViTHD at 1024 with a Qwen2 prefill; 2 * 243.35e9 MACs in 100 ms is
 * 4867 GFLOP/s. */
static json_t *full_record(void) {
    json_t *r =
        json_pack("{s:s, s:s, s:i, s:s, s:i, s:s, s:i, s:I, s:i}", "run_id", "t", "model",
                  "fastvithd", "res", 1024, "dtype", "f32", "threads", 2, "llm", "qwen2-0.5b",
                  "tokens", 256, "macs", (json_int_t)243350000000LL, "prefill_tokens", 280);
    json_object_set_new(r, "vision_ms", timing(100.0, 0, 0));
    json_object_set_new(r, "projector_ms", timing(1.25, 0, 0));
    json_object_set_new(r, "prefill_ms", timing(350.5, 1, 1));
    json_object_set_new(r, "ttft_ms", json_real(451.75));
    json_object_set_new(r, "status", json_string("ok"));
    json_object_set_new(r, "weights", json_string("synthetic:0"));
    json_object_set_new(r, "env", env());
    return r;
}

/* A vision-only record with nothing measured, and a status with a comma and quotes. */
static json_t *skipped_record(void) {
    json_t *r = json_pack("{s:s, s:i, s:s, s:i, s:s}", "model", "mci0", "res", 256, "dtype", "bf16",
                          "threads", 1, "status", "skipped: \"bf16\" needs avx512_bf16, not here");
    json_object_set_new(r, "env", env());
    return r;
}

static const char *write_small_file(void) {
    const char *p = tpath("small.jsonl");
    append(p, full_record());
    append(p, skipped_record());
    return p;
}

/* The line of out that contains needle (a copy, owned), or NULL. */
static char *line_with(const char *out, const char *needle) {
    const char *hit = strstr(out, needle);
    if (!hit)
        return NULL;
    const char *start = hit;
    while (start > out && start[-1] != '\n')
        start--;
    size_t n = strcspn(start, "\n");
    return strndup(start, n);
}

Test(cli_results, show_table) {
    const char *p = write_small_file();
    vlm_run r = RUN("show", (char *)p);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    char *head = line_with(r.out, "model");
    cr_assert_not_null(head, "%s", r.out);
    const char *titles[] = {"res",       "dtype",        "threads",    "llm",     "tokens",
                            "vision ms", "projector ms", "prefill ms", "ttft ms", "GMACs",
                            "GFLOP/s",   "noisy",        "status"};
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
        cr_assert(strstr(head, titles[i]), "missing %s in: %s", titles[i], head);
    char *full = line_with(r.out, "fastvithd");
    cr_assert_not_null(full, "%s", r.out);
    const char *cells[] = {"1024",    "f32",    "qwen2-0.5b", "256",    "100.00", "1.25",
                           "~350.50", "451.75", "243.35",     "4867.0", "yes",    "ok"};
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
        cr_assert(strstr(full, cells[i]), "missing %s in: %s", cells[i], full);
    char *skipped = line_with(r.out, "mci0");
    cr_assert_not_null(skipped, "%s", r.out);
    cr_assert(strstr(skipped, "skipped: \"bf16\" needs avx512_bf16, not here"), "%s", skipped);
    cr_assert(strstr(skipped, " - "), "missing fields print as '-': %s", skipped);
    cr_assert_str_empty(r.err);
    free(head);
    free(full);
    free(skipped);
    vlm_run_free(&r);
}

Test(cli_results, show_markdown) {
    const char *p = write_small_file();
    vlm_run r = RUN("show", (char *)p, "--format", "md");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(!strncmp(r.out, "| model | res | dtype |", 23), "%s", r.out);
    cr_assert(strstr(r.out, "\n|---|---:|---|"), "%s", r.out);
    cr_assert(strstr(r.out, "| fastvithd | 1024 | f32 | 2 | qwen2-0.5b | 256 | 100.00 | 1.25 | "
                            "~350.50 | 451.75 | 243.35 | 4867.0 | yes | ok |"),
              "%s", r.out);
    cr_assert(strstr(r.out, "| mci0 | 256 | bf16 | 1 | - | - | - |"), "%s", r.out);
    vlm_run_free(&r);
}

Test(cli_results, show_csv_quotes_per_rfc4180) {
    const char *p = write_small_file();
    vlm_run r = RUN("show", (char *)p, "--format", "csv");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    const char *want =
        "model,res,dtype,threads,llm,tokens,vision_ms,projector_ms,prefill_ms,prefill_estimated,"
        "ttft_ms,gmacs,gflops,noisy,status\n"
        "fastvithd,1024,f32,2,qwen2-0.5b,256,100,1.25,350.5,true,451.75,243.35,4867,yes,ok\n"
        "mci0,256,bf16,1,,,,,,,,,,,\"skipped: \"\"bf16\"\" needs avx512_bf16, not here\"\n";
    cr_assert_str_eq(r.out, want);
    vlm_run_free(&r);
}

Test(cli_results, show_json_prints_the_records) {
    const char *p = write_small_file();
    vlm_run r = RUN("show", (char *)p, "--format", "json");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    json_error_t jerr;
    json_t *arr = json_loads(r.out, 0, &jerr);
    cr_assert(json_is_array(arr), "(%s) %s", jerr.text, r.out);
    cr_assert_eq(json_array_size(arr), 2);
    json_t *want = full_record();
    json_object_set_new(want, "schema", json_integer(VLM_RESULTS_SCHEMA));
    cr_assert(json_equal(json_array_get(arr, 0), want));
    json_decref(want);
    json_decref(arr);
    vlm_run_free(&r);
}

Test(cli_results, show_torn_last_line_warns_and_prints_complete_rows) {
    const char *p = write_small_file();
    append_raw(p, "{\"schema\":1,\"model\":\"mci2\",\"res\":25");
    vlm_run r = RUN("show", (char *)p);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "warning") && strstr(r.err, ":3:"), "%s", r.err);
    cr_assert(strstr(r.out, "fastvithd") && strstr(r.out, "mci0"), "%s", r.out);
    cr_assert_null(strstr(r.out, "mci2"), "%s", r.out);
    vlm_run_free(&r);
}

Test(cli_results, show_errors) {
    vlm_run r = RUN("show", tpath("missing.jsonl"));
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "missing.jsonl"), "%s", r.err);
    vlm_run_free(&r);

    const char *p = write_small_file();
    r = RUN("show", (char *)p, "--format", "xml");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "'xml'"), "%s", r.err);
    vlm_run_free(&r);

    r = RUN("show");
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);

    r = RUN("frobnicate");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "frobnicate"), "%s", r.err);
    vlm_run_free(&r);

    const char *bad = tpath("bad.jsonl");
    append(bad, full_record());
    append_raw(bad, "not json\n");
    append(bad, skipped_record());
    r = RUN("show", (char *)bad);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, ":2:"), "%s", r.err);
    vlm_run_free(&r);
}

/* A shard record: config i of total, written by shard k of n. */
static json_t *shard_record(int i, int k, int n, int total) {
    json_t *r = json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:{s:i, s:i, s:i}}", "model", "fastvithd",
                          "res", 256 + 64 * i, "dtype", "f32", "threads", 1, "llm", "qwen2-0.5b",
                          "config_index", i, "shard", "k", k, "n", n, "total", total);
    json_object_set_new(r, "vision_ms", timing(10.0 + i, 0, 0));
    json_object_set_new(r, "status", json_string("ok"));
    json_object_set_new(r, "env", env());
    return r;
}

static vlm_results read_back(const char *path) {
    vlm_results res;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(path, &res, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(res.skipped, 0);
    return res;
}

Test(cli_results, merge_two_shards) {
    /* 6 configs in 2 shards (i % 2 == k); config 5 never finished */
    char *a = tpath("shard0.jsonl"), *b = tpath("shard1.jsonl"), *out = tpath("all.jsonl");
    for (int i = 0; i < 6; i += 2)
        append(a, shard_record(i, 0, 2, 6));
    for (int i = 1; i < 5; i += 2)
        append(b, shard_record(i, 1, 2, 6));
    vlm_run r = RUN("merge", out, a, b);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "missing configs: 5"), "%s", r.err);
    cr_assert_str_empty(r.out);
    vlm_run_free(&r);

    vlm_results m = read_back(out);
    cr_assert_eq(m.n, 5);
    int seen[6] = {0};
    for (int i = 0; i < m.n; i++)
        seen[json_integer_value(json_object_get(m.records[i], "config_index"))]++;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(seen[i], 1, "config %d", i);
    cr_assert_eq(json_integer_value(json_object_get(m.records[0], "schema")), VLM_RESULTS_SCHEMA);
    vlm_results_free(&m);
    cr_assert_eq(access(tpath("all.jsonl.tmp"), F_OK), -1, "the temporary file is gone");

    /* an existing OUT is kept unless --force */
    r = RUN("merge", out, a);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--force"), "%s", r.err);
    vlm_run_free(&r);
    m = read_back(out);
    cr_assert_eq(m.n, 5);
    vlm_results_free(&m);

    append(b, shard_record(5, 1, 2, 6));
    r = RUN("merge", "--force", out, a, b);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert_null(strstr(r.err, "missing configs"), "%s", r.err);
    vlm_run_free(&r);
    m = read_back(out);
    cr_assert_eq(m.n, 6);
    vlm_results_free(&m);
}

Test(cli_results, merge_refuses_duplicates_and_writes_nothing) {
    char *a = tpath("a.jsonl"), *b = tpath("b.jsonl"), *out = tpath("out.jsonl");
    append(a, shard_record(0, 0, 2, 4));
    append(a, shard_record(2, 0, 2, 4));
    append(b, shard_record(1, 1, 2, 4));
    append(b, shard_record(2, 1, 2, 4)); /* config 2 measured by both shards */
    vlm_run r = RUN("merge", out, a, b);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "duplicate") && strstr(r.err, "a.jsonl") && strstr(r.err, "b.jsonl"),
              "%s", r.err);
    cr_assert(strstr(r.err, "fastvithd|384|f32|1|qwen2-0.5b"), "the key: %s", r.err);
    cr_assert_eq(access(out, F_OK), -1, "nothing written");
    cr_assert_eq(access(tpath("out.jsonl.tmp"), F_OK), -1, "nothing written");
    vlm_run_free(&r);

    /* twice in one file */
    char *c = tpath("c.jsonl");
    append(c, shard_record(3, 0, 1, 4));
    append(c, shard_record(3, 0, 1, 4));
    r = RUN("merge", out, c);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "duplicate") && strstr(r.err, "c.jsonl"), "%s", r.err);
    cr_assert_eq(access(out, F_OK), -1, "nothing written");
    vlm_run_free(&r);
}

Test(cli_results, merge_usage_errors) {
    vlm_run r = RUN("merge", tpath("out.jsonl"));
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
    r = RUN("merge", tpath("out.jsonl"), tpath("missing.jsonl"));
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "missing.jsonl"), "%s", r.err);
    cr_assert_eq(access(tpath("out.jsonl"), F_OK), -1);
    vlm_run_free(&r);
}
