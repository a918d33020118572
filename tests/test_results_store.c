/* results/store.c: the append-only JSON Lines results store. */
#include <criterion/criterion.h>

#include "tests/testutil.h"
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/results.h"

/* ---- fixture: one temporary directory per test ------------------------------------------ */

VLM_TEST_TMPDIR_SUITE(results_store)

/* The whole file as a string (owned), or NULL when it does not exist. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Splits text into lines; each must end with '\n'. Returns the count; lines are pointers into
 * text (whose '\n's become NULs). */
static int split_lines(char *text, char **lines, int max) {
    int n = 0;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "last line has no newline: '%s'", p);
        cr_assert(n < max);
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

/* Parses a line as JSON: it must be exactly one object and nothing else. */
static json_t *parse_line(const char *line) {
    json_error_t jerr;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(j, "not JSON (%s): %s", jerr.text, line);
    cr_assert(json_is_object(j), "not an object: %s", line);
    return j;
}

static void append_ok(const char *path, json_t *rec) {
    vlm_error err = {0};
    cr_assert_eq(vlm_results_append(path, rec, &err), VLM_OK, "%s", err.msg);
}

Test(results_store, one_record_is_one_compact_line_with_schema_first) {
    json_t *rec = json_pack("{s:s, s:i, s:f, s:b, s:n, s:[i,i], s:{s:s}}", "model",
                            "fastvithd", "res_px", 1024, "latency_ms", 12.5, "ok", 1, "note",
                            "tokens", 16, 256, "env", "cpu", "x86");
    append_ok(tpath("r.jsonl"), rec);
    char *text = slurp(tpath("r.jsonl"));
    cr_assert_not_null(text);
    char want[128];
    snprintf(want, sizeof want, "{\"schema\":%d,", VLM_RESULTS_SCHEMA);
    cr_assert_eq(strncmp(text, want, strlen(want)), 0, "does not start with %s: %s", want,
                 text);
    cr_assert_str_eq(text, "{\"schema\":1,\"model\":\"fastvithd\",\"res_px\":1024,"
                           "\"latency_ms\":12.5,\"ok\":true,\"note\":null,\"tokens\":[16,256],"
                           "\"env\":{\"cpu\":\"x86\"}}\n");
    char *lines[4];
    cr_assert_eq(split_lines(text, lines, 4), 1);
    json_t *j = parse_line(lines[0]);
    cr_assert_eq(json_integer_value(json_object_get(j, "schema")), VLM_RESULTS_SCHEMA);
    cr_assert(json_equal(json_object_get(j, "env"), json_object_get(rec, "env")));
    json_decref(j);
    free(text);
    /* the record is borrowed: unchanged and still ours */
    cr_assert_null(json_object_get(rec, "schema"));
    cr_assert_eq(rec->refcount, 1);
    json_decref(rec);
}

Test(results_store, field_order_is_preserved) {
    /* keys in an order that neither sorting nor hashing would produce */
    const char *keys[] = {"zeta", "alpha", "mid", "b", "a", "yy", "c0", "omega", "k", "e"};
    int nk = sizeof keys / sizeof keys[0];
    json_t *rec = json_object();
    for (int i = 0; i < nk; i++)
        json_object_set_new(rec, keys[i], json_integer(i));
    append_ok(tpath("r.jsonl"), rec);
    json_decref(rec);
    char *text = slurp(tpath("r.jsonl"));
    /* textually: "schema" then each key, in order */
    const char *p = strstr(text, "\"schema\"");
    cr_assert_eq(p, text + 1);
    for (int i = 0; i < nk; i++) {
        char q[32];
        snprintf(q, sizeof q, "\"%s\":%d", keys[i], i);
        const char *at = strstr(text, q);
        cr_assert_not_null(at, "%s missing: %s", q, text);
        cr_assert(at > p, "%s out of order: %s", q, text);
        p = at;
    }
    free(text);
}

Test(results_store, existing_schema_is_overwritten_in_first_place) {
    json_t *rec = json_pack("{s:s, s:i, s:i}", "model", "vit-b16", "schema", 99, "res_px", 224);
    append_ok(tpath("r.jsonl"), rec);
    json_t *first = json_pack("{s:i, s:s}", "schema", 99, "model", "siglip");
    append_ok(tpath("r.jsonl"), first);
    json_t *str = json_pack("{s:s}", "schema", "v2");
    append_ok(tpath("r.jsonl"), str);
    char *text = slurp(tpath("r.jsonl"));
    cr_assert_str_eq(text, "{\"schema\":1,\"model\":\"vit-b16\",\"res_px\":224}\n"
                           "{\"schema\":1,\"model\":\"siglip\"}\n"
                           "{\"schema\":1}\n");
    free(text);
    /* the caller's record keeps its own value */
    cr_assert_eq(json_integer_value(json_object_get(rec, "schema")), 99);
    json_decref(rec);
    json_decref(first);
    json_decref(str);
}

Test(results_store, appends_accumulate_lines) {
    const char *path = tpath("r.jsonl");
    for (int i = 0; i < 50; i++) {
        json_t *rec = json_pack("{s:i, s:s}", "i", i, "text", "line\nbreak \"quoted\" \xc3\xa9");
        append_ok(path, rec);
        json_decref(rec);
    }
    char *text = slurp(path);
    char *lines[64];
    cr_assert_eq(split_lines(text, lines, 64), 50);
    for (int i = 0; i < 50; i++) {
        json_t *j = parse_line(lines[i]);
        cr_assert_eq(json_object_size(j), 3);
        cr_assert_eq(json_integer_value(json_object_get(j, "schema")), VLM_RESULTS_SCHEMA);
        cr_assert_eq(json_integer_value(json_object_get(j, "i")), i);
        cr_assert_str_eq(json_string_value(json_object_get(j, "text")),
                         "line\nbreak \"quoted\" \xc3\xa9");
        json_decref(j);
    }
    free(text);
}

Test(results_store, appends_after_existing_content) {
    const char *path = tpath("r.jsonl");
    FILE *f = fopen(path, "w");
    fputs("{\"schema\":1,\"old\":true}\n", f);
    fclose(f);
    json_t *rec = json_pack("{s:b}", "new", 1);
    append_ok(path, rec);
    json_decref(rec);
    char *text = slurp(path);
    cr_assert_str_eq(text, "{\"schema\":1,\"old\":true}\n{\"schema\":1,\"new\":true}\n");
    free(text);
}

Test(results_store, empty_object_is_a_valid_record) {
    json_t *rec = json_object();
    append_ok(tpath("r.jsonl"), rec);
    json_decref(rec);
    char *text = slurp(tpath("r.jsonl"));
    cr_assert_str_eq(text, "{\"schema\":1}\n");
    free(text);
}

Test(results_store, non_object_records_are_rejected) {
    json_t *bad[] = {json_array(), json_string("x"), json_integer(3), json_null(), json_true(),
                     NULL};
    const char *path = tpath("r.jsonl");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vlm_error err = {0};
        cr_assert_eq(vlm_results_append(path, bad[i], &err), VLM_ERR_INVALID, "record %zu", i);
        cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
        cr_assert_eq(access(path, F_OK), -1, "a file was created for a rejected record");
        json_decref(bad[i]);
    }
    cr_assert_eq(vlm_results_append(path, NULL, NULL), VLM_ERR_INVALID);
}

Test(results_store, unwritable_paths_are_io_errors) {
    json_t *rec = json_pack("{s:s}", "model", "convnext");
    vlm_error err = {0};
    /* a directory */
    cr_assert_eq(mkdir(tpath("dir.jsonl"), 0755), 0);
    cr_assert_eq(vlm_results_append(tpath("dir.jsonl"), rec, &err), VLM_ERR_IO);
    cr_assert_eq(err.status, VLM_ERR_IO);
    cr_assert_not_null(strstr(err.msg, tpath("dir.jsonl")), "%s", err.msg);
    struct stat sb;
    cr_assert(stat(tpath("dir.jsonl"), &sb) == 0 && S_ISDIR(sb.st_mode));
    /* a file in a directory that does not exist */
    const char *p = tpath("missing/dir/r.jsonl");
    cr_assert_eq(vlm_results_append(p, rec, &err), VLM_ERR_IO);
    cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
    cr_assert_eq(access(p, F_OK), -1);
    cr_assert_eq(access(tpath("missing"), F_OK), -1);
    /* nothing else appeared */
    cr_assert_eq(rmdir(tpath("dir.jsonl")), 0);
    cr_assert_eq(rmdir(g_dir), 0, "the test directory is not empty");
    cr_assert_eq(mkdir(g_dir, 0700), 0);
    json_decref(rec);
}

/* Appends rec to path with the file size limited to limit_bytes (so write(2) fails or is
 * short) and returns the status; the limit is lifted again before returning. */
static vlm_status append_with_size_limit(const char *path, const json_t *rec, rlim_t limit_bytes,
                                         vlm_error *err) {
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit_bytes;
    signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of being killed */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    vlm_status st = vlm_results_append(path, rec, err);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    return st;
}

Test(results_store, failed_write_leaves_no_partial_line) {
    const char *path = tpath("r.jsonl");
    const char *before = "{\"schema\":1,\"model\":\"mci0\"}\n";
    FILE *f = fopen(path, "w");
    fputs(before, f);
    fclose(f);
    json_t *rec = json_pack("{s:s, s:i}", "model", "a-model-name-longer-than-the-limit", "res",
                            1024);
    vlm_error err = {0};
    /* no room at all: write(2) fails with EFBIG */
    cr_assert_eq(append_with_size_limit(path, rec, strlen(before), &err), VLM_ERR_IO);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    char *text = slurp(path);
    cr_assert_str_eq(text, before);
    free(text);
    /* room for 7 bytes: write(2) is short, and the partial line must be taken back */
    cr_assert_eq(append_with_size_limit(path, rec, strlen(before) + 7, &err), VLM_ERR_IO);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    text = slurp(path);
    cr_assert_str_eq(text, before);
    free(text);
    /* and the store still works afterwards */
    append_ok(path, rec);
    text = slurp(path);
    cr_assert_eq(strncmp(text, before, strlen(before)), 0);
    char *lines[4];
    cr_assert_eq(split_lines(text, lines, 4), 2);
    json_decref(parse_line(lines[1]));
    free(text);
    json_decref(rec);
}

Test(results_store, lines_are_valid_json_for_python) {
    /* an independent parser: Python's json, with object order kept */
    const char *path = tpath("r.jsonl");
    for (int i = 0; i < 3; i++) {
        json_t *rec = json_pack("{s:s, s:f, s:[f,f], s:s}", "model", "mobileclip-s2",
                                "ttft_ms", 1.0 / (i + 3), "lat", 0.1, 1e-9, "u", "\xe2\x82\xac\t");
        append_ok(path, rec);
        json_decref(rec);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import json, sys\n"
             "lines = open(sys.argv[1], encoding='utf-8').read().split('\\n')\n"
             "assert lines[-1] == '' and len(lines) == 4, lines\n"
             "for i, l in enumerate(lines[:-1]):\n"
             "    pairs = json.loads(l, object_pairs_hook=list)\n"
             "    assert [k for k, v in pairs] == ['schema', 'model', 'ttft_ms', 'lat', 'u'], l\n"
             "    d = dict(pairs)\n"
             "    assert d['schema'] == %d and d['ttft_ms'] == 1.0 / (i + 3), l\n"
             "    assert d['lat'] == [0.1, 1e-9] and d['u'] == '\\u20ac\\t', l\n"
             "\" '%s'",
             VLM_PYTHON, VLM_RESULTS_SCHEMA, path);
    int status = system(cmd);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "python rejected %s", path);
}
