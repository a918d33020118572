/* suites/suite.c: the .suite parser. */
#include "suites/suites.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[] = "/tmp/vlm_test_suite_XXXXXX";

static void setup(void) {
    int fd = mkstemp(g_path);
    cr_assert(fd >= 0, "mkstemp failed");
    close(fd);
}

static void teardown(void) {
    unlink(g_path);
}

TestSuite(suite, .init = setup, .fini = teardown);

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* Loads text from the temporary file; must succeed. */
static void load_ok(const char *text, vlm_suite *s) {
    write_file(g_path, text);
    vlm_error err = {0};
    vlm_status st = vlm_suite_load(g_path, s, &err);
    cr_assert_eq(st, VLM_OK, "%s: %s\n---\n%s", vlm_status_name(st), err.msg, text);
}

/* Loading text must fail with VLM_ERR_FORMAT, a message "PATH:LINE: " containing want, and
 * the suite left empty. */
static void expect_bad(const char *text, int line, const char *want) {
    write_file(g_path, text);
    vlm_suite s;
    memset(&s, 0x5a, sizeof s);
    vlm_error err = {0};
    vlm_status st = vlm_suite_load(g_path, &s, &err);
    cr_assert_eq(st, VLM_ERR_FORMAT, "parsed (%s):\n%s", vlm_status_name(st), text);
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s:%d: ", g_path, line);
    cr_assert(!strncmp(err.msg, prefix, strlen(prefix)), "want prefix '%s' in: %s", prefix,
              err.msg);
    cr_assert(strstr(err.msg, want), "want '%s' in: %s", want, err.msg);
    cr_assert_eq(s.ngrids, 0);
    cr_assert_eq(s.nllms, 0);
    cr_assert_eq(s.ntasks, 0);
    cr_assert_eq(s.name[0], '\0');
    vlm_suite_free(&s); /* freeing an empty suite is fine */
}

Test(suite, parses_every_directive) {
    vlm_suite s;
    load_ok("# FastViTHD against the MobileCLIP encoders\n"
            "\n"
            "name encoders\n"
            "grid fastvithd res 256..1152          # 256, 320, ..., 1152\n"
            "\tgrid  mci0,mci1,mci2\tres 256,512\n"
            "llm qwen2-0.5b,none\n"
            "dtype f32,bf16\n"
            "threads 4\n"
            "text-tokens 24\n"
            "reps warmup 1 min 5 time 1.5 max 30\n"
            "task seedbench,mmmu\n",
            &s);
    cr_assert_str_eq(s.name, "encoders");
    cr_assert_eq(s.ngrids, 2);
    cr_assert_eq(s.grids[0].nmodels, 1);
    cr_assert_str_eq(s.grids[0].models[0], "fastvithd");
    cr_assert_eq(s.grids[0].res.n, 15);
    cr_assert_eq(s.grids[0].res.v[0], 256);
    cr_assert_eq(s.grids[0].res.v[1], 320);
    cr_assert_eq(s.grids[0].res.v[14], 1152);
    cr_assert_eq(s.grids[1].nmodels, 3);
    cr_assert_str_eq(s.grids[1].models[2], "mci2");
    cr_assert_eq(s.grids[1].res.n, 2);
    cr_assert_eq(s.grids[1].res.v[1], 512);
    cr_assert_eq(s.nllms, 2);
    cr_assert_str_eq(s.llms[0], "qwen2-0.5b");
    cr_assert_str_eq(s.llms[1], "none");
    cr_assert_eq(s.ndtypes, 2);
    cr_assert_eq(s.dtypes[0], VLM_F32);
    cr_assert_eq(s.dtypes[1], VLM_BF16);
    cr_assert_eq(s.threads, 4);
    cr_assert_eq(s.text_tokens, 24);
    cr_assert_eq(s.warmup, 1);
    cr_assert_eq(s.min_reps, 5);
    cr_assert_float_eq(s.min_time_s, 1.5, 1e-12);
    cr_assert_float_eq(s.max_time_s, 30, 1e-12);
    cr_assert_eq(s.ntasks, 2);
    cr_assert_str_eq(s.tasks[1], "mmmu");
    cr_assert_eq(strlen(s.hash), 16);
    cr_assert_eq(strspn(s.hash, "0123456789abcdef"), 16, "%s", s.hash);
    vlm_suite_free(&s);
    cr_assert_eq(s.ngrids, 0);
    vlm_suite_free(&s);
    vlm_suite_free(NULL);
}

Test(suite, unset_directives_are_marked_unset) {
    vlm_suite s;
    load_ok("name minimal\ngrid mci0 res 256..512:128", &s); /* no final newline */
    cr_assert_eq(s.grids[0].res.n, 3);
    cr_assert_eq(s.grids[0].res.v[2], 512);
    cr_assert_eq(s.nllms, 0);
    cr_assert_eq(s.ndtypes, 0);
    cr_assert_eq(s.threads, 0);
    cr_assert_eq(s.text_tokens, -1);
    cr_assert_eq(s.warmup, -1);
    cr_assert_eq(s.min_reps, -1);
    cr_assert(s.min_time_s < 0 && s.max_time_s < 0);
    cr_assert_eq(s.ntasks, 0);
    vlm_suite_free(&s);

    load_ok("name partial\r\ngrid mci0 res 256\r\nreps min 3\r\n", &s); /* CRLF too */
    cr_assert_eq(s.min_reps, 3);
    cr_assert_eq(s.warmup, -1);
    cr_assert(s.min_time_s < 0 && s.max_time_s < 0);
    vlm_suite_free(&s);
}

Test(suite, shipped_suites_parse) {
    vlm_suite s;
    vlm_error err = {0};
    cr_assert_eq(vlm_suite_load(VLM_SOURCE_DIR "/suites/fastvlm.suite", &s, &err), VLM_OK, "%s",
                 err.msg);
    cr_assert_str_eq(s.name, "fastvlm");
    cr_assert_eq(s.ngrids, 1);
    cr_assert_str_eq(s.grids[0].models[0], "fastvithd");
    cr_assert_eq(s.grids[0].res.n, 15);
    cr_assert_eq(s.nllms, 3);
    cr_assert_str_eq(s.llms[2], "qwen2-7b");
    cr_assert_eq(s.ndtypes, 1);
    cr_assert_eq(s.dtypes[0], VLM_F32);
    vlm_suite_free(&s);

    cr_assert_eq(vlm_suite_load(VLM_SOURCE_DIR "/suites/mobileclip.suite", &s, &err), VLM_OK, "%s",
                 err.msg);
    cr_assert_str_eq(s.name, "mobileclip");
    cr_assert_eq(s.grids[0].nmodels, 3);
    cr_assert_eq(s.grids[0].res.n, 1);
    cr_assert_eq(s.grids[0].res.v[0], 256);
    cr_assert_eq(s.nllms, 1);
    cr_assert_str_eq(s.llms[0], "none");
    vlm_suite_free(&s);

    cr_assert_eq(vlm_suite_load(VLM_SOURCE_DIR "/suites/fastvlm-baselines.suite", &s, &err),
                 VLM_OK, "%s", err.msg);
    cr_assert_eq(s.ngrids, 4);
    cr_assert_str_eq(s.grids[1].models[0], "vit-l14-336");
    cr_assert_str_eq(s.grids[3].models[0], "siglip-anyres");
    cr_assert_eq(s.grids[3].res.v[0], 1152);
    vlm_suite_free(&s);
}

Test(suite, every_malformed_line_is_reported_with_its_line_number) {
    const char *head = "# comment\nname x\n"; /* the bad line is line 3 */
    const struct {
        const char *line, *want;
    } cases[] = {
        {"frobnicate 3", "unknown directive 'frobnicate'"},
        {"name y", "duplicate 'name'"},
        {"grid", "missing value"},
        {"grid fastvithd", "missing 'res GRID'"},
        {"grid fastvithd 256", "expected 'res'"},
        {"grid fastvithd res", "missing value after 'res'"},
        {"grid fastvithd res 256..1152 extra", "unexpected 'extra'"},
        {"grid fastvithd res 1152..256", "bad resolution list '1152..256'"},
        {"grid fastvithd res 256,abc", "bad resolution list"},
        {"grid vit-huge res 256", "unknown model 'vit-huge'"},
        {"grid qwen2-0.5b res 256", "not a vision model (kind llm)"},
        {"grid mci0,,mci1 res 256", "empty item"},
        {"grid mci0,mci0 res 256", "'mci0' appears twice"},
        {"llm", "missing value"},
        {"llm qwen2-70b", "unknown LLM 'qwen2-70b'"},
        {"llm mci0", "not an LLM (kind vision)"},
        {"llm qwen2-0.5b qwen2-1.5b", "unexpected 'qwen2-1.5b'"},
        {"dtype f16", "unknown dtype 'f16'"},
        {"dtype f32,f32", "appears twice"},
        {"dtype f32,bf16,fp8", "unknown dtype 'fp8'"},
        {"threads", "missing value"},
        {"threads four", "bad number 'four'"},
        {"threads 0", "bad number '0'"},
        {"threads 4x", "bad number '4x'"},
        {"threads 99999999999999999999", "bad number"},
        {"threads 4 5", "unexpected '5'"},
        {"text-tokens -1", "bad number '-1'"},
        {"reps", "missing value"},
        {"reps min", "missing value after reps key 'min'"},
        {"reps min 0", "bad number '0'"},
        {"reps time abc", "bad number 'abc'"},
        {"reps time nan", "bad number 'nan'"},
        {"reps count 3", "unknown reps key 'count'"},
        {"reps min 3 min 4", "given twice"},
        {"reps time 10 max 5", "less than"},
        {"task", "missing value"},
        {"task a,", "empty item"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s\ngrid mci0 res 256\n", head, cases[i].line);
        expect_bad(text, 3, cases[i].want);
    }
}

Test(suite, grids_may_not_overlap) {
    vlm_suite s;
    load_ok("name x\ngrid fastvithd res 256..512\ngrid fastvithd res 576..1152\n"
            "grid mci0,fastvithd res 1216\n",
            &s);
    cr_assert_eq(s.ngrids, 3);
    vlm_suite_free(&s);
    expect_bad("name x\ngrid mci0,fastvithd res 256..512\n\ngrid fastvithd res 512,1024\n", 4,
               "fastvithd at 512 is already in the grid of line 2");
}

Test(suite, once_only_directives_refuse_a_second_line) {
    const char *dups[] = {"llm none",      "dtype f32",  "threads 2",
                          "text-tokens 4", "reps min 2", "task a"};
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "name x\n%s\ngrid mci0 res 256\n\n%s\n", dups[i], dups[i]);
        expect_bad(text, 5, "duplicate");
    }
}

Test(suite, a_missing_name_or_grid_is_reported_at_the_last_line) {
    expect_bad("grid mci0 res 256\n# end\n", 2, "no 'name NAME' line");
    expect_bad("name x\n\n\n", 3, "no 'grid");
    expect_bad("", 1, "no 'name NAME' line");
    expect_bad("name bad/name\ngrid mci0 res 256\n", 1, "only letters");
}

Test(suite, a_missing_file_is_an_io_error) {
    vlm_suite s;
    vlm_error err = {0};
    cr_assert_eq(vlm_suite_load("/nonexistent/x.suite", &s, &err), VLM_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/x.suite"), "%s", err.msg);
    cr_assert_eq(s.ngrids, 0);
}

Test(suite, hash_is_fnv1a_of_the_bytes_stable_and_content_sensitive) {
    const char *text = "name h\ngrid mci0 res 256\n";
    /* FNV-1a 64, computed here independently of the parser */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = text; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);

    vlm_suite a, b, c;
    load_ok(text, &a);
    load_ok(text, &b);
    cr_assert_str_eq(a.hash, want);
    cr_assert_str_eq(a.hash, b.hash);
    load_ok("name h\ngrid mci0 res 256\n# a comment changes the bytes\n", &c);
    cr_assert_str_neq(a.hash, c.hash);
    vlm_suite_free(&a);
    vlm_suite_free(&b);
    vlm_suite_free(&c);
}
