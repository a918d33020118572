/* results/read.c: reading a results file back, and the configuration key. */
#include "results/results.h"

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

VLM_TEST_TMPDIR_SUITE(results_read)

/* Appends raw bytes to path, as a killed or foreign writer would leave them. */
static void append_raw(const char *path, const char *bytes) {
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, strlen(bytes), f), strlen(bytes));
    fclose(f);
}

/* A record as a sweep writes it. */
static json_t *record(const char *model, int res, double median) {
    return json_pack("{s:s, s:i, s:s, s:i, s:s, s:i, s:{s:f, s:f, s:f, s:i, s:[f,f,f], s:b}, "
                     "s:s, s:{s:s, s:s, s:s, s:i}}",
                     "model", model, "res", res, "dtype", "f32", "threads", 1, "llm", "qwen2-0.5b",
                     "prefill_tokens", 280, "vision_ms", "median", median, "p10", median * 0.9,
                     "p90", median * 1.1, "n", 3, "samples", median, median * 0.9, median * 1.1,
                     "noisy", 0, "weights", "synthetic:0", "env", "cpu", "Test CPU", "onednn",
                     "2.7.3", "onednn_isa", "avx2", "cores", 2);
}

static void append(const char *path, json_t *rec) {
    vlm_error err = {0};
    cr_assert_eq(vlm_results_append(path, rec, &err), VLM_OK, "%s", err.msg);
    json_decref(rec);
}

Test(results_read, round_trip_with_append) {
    const char *p = tpath("r.jsonl");
    append(p, record("fastvithd", 256, 12.5));
    append(p, record("fastvithd", 320, 17.25));
    append(p, record("mci0", 256, 3.0));
    vlm_results r;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(p, &r, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(r.skipped, 0);
    cr_assert_str_empty(r.warning);
    for (int i = 0; i < 3; i++) {
        json_t *want = record(i == 2 ? "mci0" : "fastvithd", i == 1 ? 320 : 256,
                              i == 0   ? 12.5
                              : i == 1 ? 17.25
                                       : 3.0);
        json_object_set_new(want, "schema", json_integer(VLM_RESULTS_SCHEMA));
        cr_assert(json_equal(r.records[i], want), "record %d: %s", i,
                  json_dumps(r.records[i], JSON_COMPACT));
        json_decref(want);
    }
    /* file order, and schema first as the writer put it */
    const char *first = json_object_iter_key(json_object_iter(r.records[0]));
    cr_assert_str_eq(first, "schema");
    vlm_results_free(&r);
    cr_assert_null(r.records);
    cr_assert_eq(r.n, 0);
    vlm_results_free(&r);
    vlm_results_free(NULL);
}

Test(results_read, empty_file_has_no_records) {
    const char *p = tpath("empty.jsonl");
    append_raw(p, "");
    vlm_results r;
    cr_assert_eq(vlm_results_read(p, &r, NULL), VLM_OK);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.skipped, 0);
    vlm_results_free(&r);
}

Test(results_read, torn_last_line_without_newline_is_skipped_with_a_warning) {
    const char *p = tpath("torn.jsonl");
    append(p, record("fastvithd", 256, 12.5));
    append(p, record("fastvithd", 320, 17.25));
    append_raw(p, "{\"schema\":1,\"model\":\"fastvithd\",\"res\":384,\"vision_ms\":{\"med");
    vlm_results r;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(p, &r, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.skipped, 1);
    char want[600];
    snprintf(want, sizeof want, "%s:3:", p);
    cr_assert(strstr(r.warning, want), "want '%s' in: %s", want, r.warning);
    cr_assert_eq(json_integer_value(json_object_get(r.records[1], "res")), 320);
    vlm_results_free(&r);
}

Test(results_read, a_complete_record_without_its_newline_is_still_torn) {
    /* append writes record and newline in one write(2): no newline means the write was cut */
    const char *p = tpath("nonl.jsonl");
    append(p, record("mci0", 256, 3.0));
    append_raw(p, "{\"schema\":1,\"model\":\"mci1\"}");
    vlm_results r;
    cr_assert_eq(vlm_results_read(p, &r, NULL), VLM_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.skipped, 1);
    cr_assert(strstr(r.warning, ":2:"), "%s", r.warning);
    vlm_results_free(&r);
}

Test(results_read, unparsable_last_line_with_newline_is_skipped_too) {
    const char *p = tpath("garbled.jsonl");
    append(p, record("mci0", 256, 3.0));
    append_raw(p, "{\"schema\":1,\"mod\n");
    vlm_results r;
    cr_assert_eq(vlm_results_read(p, &r, NULL), VLM_OK);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.skipped, 1);
    cr_assert(strstr(r.warning, ":2:") && strstr(r.warning, "not valid JSON"), "%s", r.warning);
    vlm_results_free(&r);
}

Test(results_read, bad_middle_line_is_an_error_naming_file_and_line) {
    const char *p = tpath("bad.jsonl");
    append(p, record("mci0", 256, 3.0));
    append_raw(p, "{\"schema\":1,\"model\":oops}\n");
    append(p, record("mci1", 256, 4.0));
    vlm_results r = {.n = 42};
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(p, &r, &err), VLM_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s:2:", p);
    cr_assert(strstr(err.msg, want), "want '%s' in: %s", want, err.msg);
    cr_assert_eq(r.n, 0);
    cr_assert_null(r.records);
}

Test(results_read, non_object_or_schemaless_lines_are_errors) {
    const char *bad[] = {"[1,2,3]\n", "{\"model\":\"mci0\"}\n", "{\"schema\":\"1\"}\n",
                         "{\"schema\":1,\"a\":1,\"a\":2}\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.jsonl", i);
        const char *p = tpath(name);
        append_raw(p, bad[i]);
        append(p, record("mci0", 256, 3.0));
        vlm_results r;
        vlm_error err = {0};
        cr_assert_eq(vlm_results_read(p, &r, &err), VLM_ERR_FORMAT, "line: %s", bad[i]);
        cr_assert(strstr(err.msg, ":1:"), "%s", err.msg);
    }
}

Test(results_read, future_schema_is_refused) {
    const char *p = tpath("future.jsonl");
    append(p, record("mci0", 256, 3.0));
    char line[128];
    snprintf(line, sizeof line, "{\"schema\":%d,\"model\":\"mci0\"}\n", VLM_RESULTS_SCHEMA + 1);
    append_raw(p, line);
    vlm_results r;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(p, &r, &err), VLM_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, ":2:") && strstr(err.msg, "newer"), "%s", err.msg);
    cr_assert_eq(r.n, 0);
}

Test(results_read, unknown_fields_are_kept) {
    const char *p = tpath("unknown.jsonl");
    json_t *rec = record("mci0", 256, 3.0);
    json_object_set_new(rec, "from_the_future", json_pack("{s:[i,i]}", "x", 1, 2));
    append(p, rec);
    vlm_results r;
    cr_assert_eq(vlm_results_read(p, &r, NULL), VLM_OK);
    cr_assert_eq(r.n, 1);
    json_t *x = json_object_get(json_object_get(r.records[0], "from_the_future"), "x");
    cr_assert_eq(json_array_size(x), 2);
    cr_assert_eq(json_integer_value(json_array_get(x, 1)), 2);
    vlm_results_free(&r);
}

Test(results_read, missing_file_is_an_io_error) {
    vlm_results r;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(tpath("nope.jsonl"), &r, &err), VLM_ERR_IO);
    cr_assert(strstr(err.msg, "nope.jsonl"), "%s", err.msg);
}

/* ---- configuration key ------------------------------------------------------------------ */

static void expect_same_key(const json_t *a, const json_t *b) {
    char *ka = vlm_results_config_key(a), *kb = vlm_results_config_key(b);
    cr_assert(ka && kb);
    cr_assert_str_eq(ka, kb);
    free(ka);
    free(kb);
}

static void expect_different_key(const json_t *a, const json_t *b, const char *what) {
    char *ka = vlm_results_config_key(a), *kb = vlm_results_config_key(b);
    cr_assert(ka && kb);
    cr_assert_str_neq(ka, kb, "changing %s kept the key %s", what, ka);
    free(ka);
    free(kb);
}

Test(results_read, config_key_joins_the_config_fields) {
    json_t *r = record("fastvithd", 1024, 50);
    char *k = vlm_results_config_key(r);
    cr_assert_str_eq(k, "fastvithd|1024|f32|1|qwen2-0.5b|280|synthetic:0|Test CPU|2.7.3|avx2");
    free(k);
    json_decref(r);

    /* defaults: llm none, 0 prefill tokens, synthetic weights; HxW without res */
    r = json_pack("{s:s, s:i, s:i, s:s, s:i}", "model", "mci0", "height", 256, "width", 320,
                  "dtype", "bf16", "threads", 2);
    k = vlm_results_config_key(r);
    cr_assert_str_eq(k, "mci0|256x320|bf16|2|none|0|synthetic|||");
    free(k);
    json_decref(r);
}

Test(results_read, config_key_is_equal_for_equal_configs_and_ignores_measurements) {
    json_t *a = record("fastvithd", 512, 20), *b = record("fastvithd", 512, 99);
    json_object_set_new(b, "run_id", json_string("another run"));
    json_object_set_new(json_object_get(b, "env"), "cores", json_integer(64));
    expect_same_key(a, b);
    json_decref(a);
    json_decref(b);
}

Test(results_read, config_key_changes_with_every_config_field) {
    struct {
        const char *what;
        const char *json; /* the change, merged into the record (env fields into env) */
        int env;
    } changes[] = {
        {"model", "{\"model\":\"mci0\"}", 0},
        {"res", "{\"res\":513}", 0},
        {"dtype", "{\"dtype\":\"bf16\"}", 0},
        {"threads", "{\"threads\":2}", 0},
        {"llm", "{\"llm\":\"qwen2-1.5b\"}", 0},
        {"llm none", "{\"llm\":null}", 0},
        {"prefill_tokens", "{\"prefill_tokens\":281}", 0},
        {"weights seed", "{\"weights\":\"synthetic:1\"}", 0},
        {"weights file", "{\"weights\":{\"path\":\"a.safetensors\",\"sha256\":\"ab12\"}}", 0},
        {"cpu", "{\"cpu\":\"Other CPU\"}", 1},
        {"onednn", "{\"onednn\":\"3.0.0\"}", 1},
        {"onednn_isa", "{\"onednn_isa\":\"avx512_core\"}", 1},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        json_t *a = record("fastvithd", 512, 20), *b = record("fastvithd", 512, 20);
        json_t *change = json_loads(changes[i].json, 0, NULL);
        cr_assert_not_null(change, "%s", changes[i].json);
        json_object_update(changes[i].env ? json_object_get(b, "env") : b, change);
        json_decref(change);
        expect_different_key(a, b, changes[i].what);
        json_decref(a);
        json_decref(b);
    }
    /* a '|' inside a value cannot make two configs collide */
    json_t *a = json_pack("{s:s, s:s}", "model", "a|b", "dtype", "c");
    json_t *b = json_pack("{s:s, s:s}", "model", "a", "dtype", "b|c");
    expect_different_key(a, b, "where the '|' is");
    json_decref(a);
    json_decref(b);
}

/* A folder or a missing file given as the store: a clear error naming the path, no records. */
Test(results_read, folder_or_missing_file_is_a_clear_error) {
    vlm_results r;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(g_dir, &r, &err), VLM_ERR_IO);
    cr_expect(strstr(err.msg, g_dir) && strstr(err.msg, "not a regular file"), "%s", err.msg);
    cr_expect_eq(r.n, 0);
    cr_assert_eq(vlm_results_read(tpath("none.jsonl"), &r, &err), VLM_ERR_IO);
    cr_expect(strstr(err.msg, "none.jsonl") && strstr(err.msg, "cannot open"), "%s", err.msg);
}
