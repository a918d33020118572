/* eval/answer.c: the Python semantics the scorers need (shared/spec/eval.md section 5),
 * checked against the spec's lists and against /usr/bin/python3 itself. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Runs python3 -c script; returns its stdout (owned). */
static char *python(const char *script) {
    vlm_run r = vlm_test_run((char *const[]){VLM_PYTHON, "-c", (char *)script, NULL});
    cr_assert_eq(r.exit_code, 0, "python failed: %s", r.err);
    free(r.err);
    return r.out;
}

/* ---- whitespace ---- */

Test(pysem, whitespace_spec_list) {
    static const uint32_t yes[] = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x1C,   0x1D,
                                   0x1E,   0x1F,   0x20,   0x85,   0xA0,   0x1680, 0x2000,
                                   0x2005, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    static const uint32_t no[] = {0x200B, 0xFEFF, 0x08, 0x0E, 0x180E, 0x200C, 'a', 0};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        cr_expect(vlm_py_isspace(yes[i]), "U+%04X is whitespace", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        cr_expect(!vlm_py_isspace(no[i]), "U+%04X is not whitespace", no[i]);
}

Test(pysem, whitespace_matches_cpython_everywhere) {
    char *out = python("import sys\n"
                       "print(' '.join(str(c) for c in range(0x110000) if chr(c).isspace()))");
    int n = 0;
    uint32_t py[64];
    for (char *t = strtok(out, " \n"); t; t = strtok(NULL, " \n"))
        py[n++] = (uint32_t)strtoul(t, NULL, 10);
    free(out);
    int k = 0;
    for (uint32_t c = 0; c < 0x110000; c++)
        if (vlm_py_isspace(c)) {
            cr_assert_lt(k, n, "U+%04X: whitespace in C but not in Python", c);
            cr_assert_eq(py[k], c, "whitespace sets differ at U+%04X", c);
            k++;
        }
    cr_assert_eq(k, n);
}

Test(pysem, strip_unicode_whitespace) {
    const char *s = "\xC2\xA0 x y\xE3\x80\x80\n"; /* NBSP, space, "x y", U+3000, LF */
    size_t len = strlen(s), off = vlm_py_strip(s, &len);
    cr_assert_eq(len, 3);
    cr_assert(!memcmp(s + off, "x y", 3));
    const char *z = "\xE2\x80\x8B"
                    "B"; /* U+200B is not stripped */
    len = strlen(z);
    cr_assert_eq(vlm_py_strip(z, &len), 0);
    cr_assert_eq(len, 4);
    const char *e = " \t ";
    len = strlen(e);
    vlm_py_strip(e, &len);
    cr_assert_eq(len, 0);
}

Test(pysem, strip_one_character_only) {
    const char *s = "..B,.";
    size_t len = strlen(s), off = vlm_py_strip_char(s, &len, ',');
    cr_assert_eq(off, 0);
    cr_assert_eq(len, 5); /* ',' is not at an edge */
    off = vlm_py_strip_char(s, &len, '.');
    cr_assert_eq(len, 2);
    cr_assert(!memcmp(s + off, "B,", 2));
}

Test(pysem, split_count_and_code_point_length) {
    cr_assert_eq(vlm_py_split_count(" a  b\xE3\x80\x80"
                                    "c\n",
                                    9),
                 3);
    cr_assert_eq(vlm_py_split_count("a\xE2\x80\x8B"
                                    "b",
                                    5),
                 1); /* U+200B joins */
    cr_assert_eq(vlm_py_split_count("", 0), 0);
    cr_assert_eq(vlm_py_len("\xC3\xA9", 2), 1);
    cr_assert_eq(vlm_py_len("a\xF0\x9F\x98\x80"
                            "b",
                            6),
                 3);
}

/* ---- lower() ---- */

static void expect_lower(const char *in, const char *want) {
    size_t n;
    char *got = vlm_py_lower(in, strlen(in), &n);
    cr_assert_not_null(got);
    cr_expect_str_eq(got, want, "lower(%s)", in);
    cr_expect_eq(n, strlen(want));
    free(got);
}

Test(pysem, lower_full_mappings) {
    expect_lower("\xC4\xB0", "i\xCC\x87");                /* İ -> i + U+0307 */
    expect_lower("\xCE\x91\xCE\xA3", "\xCE\xB1\xCF\x82"); /* ΑΣ -> ας (final sigma) */
    expect_lower("\xCE\xA3", "\xCF\x83");                 /* Σ alone -> σ */
    expect_lower("\xCE\x91\xCE\xA3\xCE\x91", "\xCE\xB1\xCF\x83\xCE\xB1"); /* medial */
    expect_lower("\xCE\x91\xCE\xA3 X", "\xCE\xB1\xCF\x82 x");
    expect_lower("\xC3\x85NGSTR\xC3\x96M", "\xC3\xA5ngstr\xC3\xB6m"); /* Ångström */
    expect_lower("\xEF\xBC\xA2", "\xEF\xBD\x82");                     /* full-width B */
    expect_lower("ABC xyz 123", "abc xyz 123");
}

/* Every code point on its own, against str.lower() of Debian's Python. */
Test(pysem, lower_matches_cpython_for_every_code_point) {
    char *out = python("import sys\n"
                       "for c in range(0x110000):\n"
                       "    if 0xD800 <= c < 0xE000: continue\n"
                       "    s = chr(c).lower()\n"
                       "    if s != chr(c): print(c, ' '.join(str(ord(x)) for x in s))\n");
    int checked = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line;
        uint32_t c = (uint32_t)strtoul(p, &p, 10);
        char want[32] = {0};
        size_t wn = 0;
        while (*p) {
            uint32_t d = (uint32_t)strtoul(p, &p, 10);
            /* encode d as UTF-8 */
            if (d < 0x80)
                want[wn++] = (char)d;
            else if (d < 0x800)
                want[wn++] = (char)(0xC0 | (d >> 6)), want[wn++] = (char)(0x80 | (d & 0x3F));
            else if (d < 0x10000)
                want[wn++] = (char)(0xE0 | (d >> 12)),
                want[wn++] = (char)(0x80 | ((d >> 6) & 0x3F)),
                want[wn++] = (char)(0x80 | (d & 0x3F));
            else
                want[wn++] = (char)(0xF0 | (d >> 18)),
                want[wn++] = (char)(0x80 | ((d >> 12) & 0x3F)),
                want[wn++] = (char)(0x80 | ((d >> 6) & 0x3F)),
                want[wn++] = (char)(0x80 | (d & 0x3F));
        }
        char in[8] = {0};
        size_t in_n;
        if (c < 0x80)
            in[0] = (char)c, in_n = 1;
        else if (c < 0x800)
            in[0] = (char)(0xC0 | (c >> 6)), in[1] = (char)(0x80 | (c & 0x3F)), in_n = 2;
        else if (c < 0x10000)
            in[0] = (char)(0xE0 | (c >> 12)), in[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
            in[2] = (char)(0x80 | (c & 0x3F)), in_n = 3;
        else
            in[0] = (char)(0xF0 | (c >> 18)), in[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
            in[2] = (char)(0x80 | ((c >> 6) & 0x3F)), in[3] = (char)(0x80 | (c & 0x3F)), in_n = 4;
        size_t gn;
        char *got = vlm_py_lower(in, in_n, &gn);
        cr_assert(gn == wn && !memcmp(got, want, wn), "lower(U+%04X) differs from Python", c);
        free(got);
        checked++;
    }
    free(out);
    cr_assert_gt(checked, 1400); /* Unicode 14 has 1433 changing code points */
}

/* ---- float() ---- */

static void expect_float(const char *s, double want) {
    double v = 0;
    cr_expect(vlm_py_float(s, strlen(s), &v), "float('%s') accepted", s);
    if (isnan(want))
        cr_expect(isnan(v), "float('%s') is nan", s);
    else
        cr_expect_eq(v, want, "float('%s') = %.17g, got %.17g", s, want, v);
}

static void expect_reject(const char *s) {
    double v;
    cr_expect(!vlm_py_float(s, strlen(s), &v), "float('%s') must raise", s);
}

Test(pysem, float_accepts) {
    expect_float("1_000", 1000);
    expect_float("\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x90", 120); /* full-width 120 */
    expect_float("\xD9\xA1\xD9\xA2\xD9\xA3", 123);             /* Arabic-Indic 123 */
    expect_float("5.", 5);
    expect_float(".5", 0.5);
    expect_float("  -1.5e-3\n", -1.5e-3);
    expect_float("\xC2\xA0"
                 "42\xE3\x80\x80",
                 42);
    expect_float("1E+05", 1e5);
    expect_float("1e1_0", 1e10);
    expect_float("1_0.2_5", 10.25);
    expect_float("inf", INFINITY);
    expect_float("-Infinity", -INFINITY);
    expect_float("+iNf", INFINITY);
    expect_float("nan", NAN);
    expect_float("-NaN", NAN);
    expect_float("1e999", INFINITY);
    expect_float("0.1", 0.1);
}

Test(pysem, float_rejects) {
    const char *bad[] = {"0x10",
                         ".",
                         "1__0",
                         "_1",
                         "1_",
                         "\xC2\xB2",
                         "\xE2\x80\x8B"
                         "1",
                         "1,2",
                         "5%",
                         "",
                         " ",
                         "e5",
                         "1e",
                         "1.5.2",
                         "in f",
                         "1 2",
                         "1._5",
                         "1_.5",
                         "--1",
                         "infinit",
                         "nan1",
                         "1e_5",
                         "+",
                         "\xEF\xBB\xBF"
                         "1",
                         "\xE2\x88\x92"
                         "1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_reject(bad[i]);
}

/* The same list through CPython: every accept/reject verdict and value agree. */
Test(pysem, float_agrees_with_cpython) {
    static const char *const cases[] = {"1_000",
                                        "1__0",
                                        "_1",
                                        "1_",
                                        ".",
                                        "5.",
                                        ".5",
                                        "1e5",
                                        "1e",
                                        "0x10",
                                        "inf",
                                        "-inf",
                                        "nan",
                                        "1,2",
                                        "12",
                                        "1.5.2",
                                        " 7 ",
                                        "1e1_0",
                                        "1_e5",
                                        "3.14159",
                                        "2.675",
                                        "1e-400",
                                        "-0",
                                        "+.5e-3",
                                        "9"
                                        "9999999999999999999999",
                                        "0.1e1_00"};
    /* A Python list literal of the cases (none holds a quote). */
    char prog[8192];
    size_t n = (size_t)snprintf(prog, sizeof prog, "for s in [");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        n += (size_t)snprintf(prog + n, sizeof prog - n, "%s'%s'", i ? "," : "", cases[i]);
    snprintf(prog + n, sizeof prog - n,
             "]:\n    try: print(float(s).hex())\n    except ValueError: print('reject')\n");
    char *out = python(prog), *save = NULL;
    char *line = strtok_r(out, "\n", &save);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0];
         i++, line = strtok_r(NULL, "\n", &save)) {
        cr_assert_not_null(line);
        double v;
        int ok = vlm_py_float(cases[i], strlen(cases[i]), &v);
        if (!strcmp(line, "reject")) {
            cr_expect(!ok, "float('%s'): Python rejects", cases[i]);
        } else {
            cr_expect(ok, "float('%s'): Python accepts", cases[i]);
            double want = strtod(line, NULL);
            cr_expect(ok && (v == want || (isnan(v) && isnan(want))) && signbit(v) == signbit(want),
                      "float('%s') = %s, got %a", cases[i], line, v);
        }
    }
    free(out);
}

/* ---- round(x, 2) ---- */

Test(pysem, round2_spec_ties) {
    cr_expect_eq(vlm_py_round2(0.125), 0.12);
    cr_expect_eq(vlm_py_round2(0.375), 0.38);
    cr_expect_eq(vlm_py_round2(2.675), 2.67);
    cr_expect_eq(vlm_py_round2(6.333), 6.33);
    cr_expect_eq(vlm_py_round2(0.9965), 1.0);
    cr_expect_eq(vlm_py_round2(-0.125), -0.12);
    cr_expect(signbit(vlm_py_round2(-0.001)), "round(-0.001, 2) is -0.0");
    cr_expect(isinf(vlm_py_round2(INFINITY)));
    cr_expect(isnan(vlm_py_round2(NAN)));
    cr_expect_eq(vlm_py_round2(1e300), 1e300);
}

Test(pysem, round2_agrees_with_cpython) {
    char *out = python("import random\nr = random.Random(5)\n"
                       "for i in range(2000):\n"
                       "    x = r.choice([r.uniform(-10, 10), r.randint(-99999, 99999) / 1000,"
                       " r.randint(0, 400) / 8 + 0.005, r.uniform(-1e6, 1e6)])\n"
                       "    print(x.hex(), round(x, 2).hex())\n");
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p;
        double x = strtod(line, &p), want = strtod(p, NULL);
        cr_assert_eq(vlm_py_round2(x), want, "round(%a, 2)", x);
        n++;
    }
    free(out);
    cr_assert_eq(n, 2000);
}

/* ---- random ---- */

Test(pysem, random_choice_seed42_spec_sequence) {
    vlm_py_random r;
    vlm_py_random_seed(&r, 42);
    const char *want = "AACBBBAADAAA";
    for (int i = 0; want[i]; i++)
        cr_assert_eq('A' + (int)vlm_py_random_below(&r, 4), want[i], "draw %d", i);
}

/* Raw outputs and choice() over lengths 1..30 for several seeds, drawn by CPython itself. */
Test(pysem, random_matches_cpython) {
    static const long long seeds[] = {0, 42, 1, -7, 4294967295LL, 4294967296LL, 1099511627781LL};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        char prog[512];
        snprintf(prog, sizeof prog,
                 "import random\nrandom.seed(%lld)\n"
                 "print(' '.join(str(random.getrandbits(32)) for _ in range(5)))\n"
                 "print(' '.join(str(random.choice(range(1 + i %% 30))) for i in range(700)))\n",
                 seeds[s]);
        char *out = python(prog), *p = out;
        vlm_py_random r;
        vlm_py_random_seed(&r, seeds[s]);
        for (int i = 0; i < 5; i++)
            cr_assert_eq(vlm_py_random_u32(&r), (uint32_t)strtoul(p, &p, 10), "seed %lld output %d",
                         seeds[s], i);
        for (int i = 0; i < 700; i++)
            cr_assert_eq(vlm_py_random_below(&r, (uint32_t)(1 + i % 30)),
                         (uint32_t)strtoul(p, &p, 10), "seed %lld choice %d", seeds[s], i);
        free(out);
    }
}

/* ---- regex ---- */

Test(pysem, regex_findall_unicode_digits_and_boundaries) {
    vlm_regex *re;
    vlm_error err = {0};
    cr_assert_eq(vlm_regex_compile("-?\\b\\d{1,3}(?:,\\d{3})+\\b", &re, &err), VLM_OK, "%s",
                 err.msg);
    const char *s = "2,000,000 and \xEF\xBC\x91,\xEF\xBC\x92\xEF\xBC\x93\xEF\xBC\x94 x1,000";
    vlm_regex_match *m;
    size_t n;
    cr_assert_eq(vlm_regex_findall(re, s, strlen(s), &m, &n, &err), VLM_OK);
    cr_assert_eq(n, 2); /* "x1,000": no \b between x and 1 */
    cr_assert_eq(m[0].start, 0);
    cr_assert_eq(m[0].end, 9);
    cr_assert_eq(m[1].start, 14);
    free(m);
    vlm_regex_free(re);
}

/* The number patterns stay linear in PCRE2 even where Python's backtracking is quadratic. */
Test(pysem, regex_megabyte_of_digits_is_fast) {
    vlm_regex *re;
    vlm_error err = {0};
    cr_assert_eq(vlm_regex_compile("-?(?:\\d+\\.\\d+|\\.\\d+|\\d+\\b)(?![eE][+-]?\\d+)(?![,\\d])",
                                   &re, &err),
                 VLM_OK);
    size_t len = 1 << 20;
    char *s = malloc(len + 1);
    memset(s, '1', len);
    s[len - 1] = ','; /* no match anywhere: Python would backtrack from every position */
    vlm_regex_match *m;
    size_t n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(vlm_regex_findall(re, s, len, &m, &n, &err), VLM_OK, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_eq(n, 0);
    cr_assert_lt(sec, 5.0, "took %.2f s", sec);
    free(s);
    vlm_regex_free(re);
}

/* A catastrophic pattern stops at the match limit with a clear error instead of hanging. */
Test(pysem, regex_catastrophic_backtracking_stops_at_the_limit) {
    vlm_regex *re;
    vlm_error err = {0};
    cr_assert_eq(vlm_regex_compile("(a+)+$", &re, &err), VLM_OK);
    char s[64];
    memset(s, 'a', 40);
    s[40] = 'b';
    vlm_regex_match *m;
    size_t n;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vlm_status st = vlm_regex_findall(re, s, 41, &m, &n, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_assert_eq(st, VLM_ERR_UNSUPPORTED, "status %d: %s", st, err.msg);
    cr_assert(strstr(err.msg, "match limit"), "%s", err.msg);
    cr_assert_lt(sec, 5.0, "took %.2f s", sec);
    cr_assert_null(m);
    vlm_regex_free(re);
}

Test(pysem, regex_invalid_utf8_is_a_format_error) {
    vlm_regex *re;
    vlm_error err = {0};
    cr_assert_eq(vlm_regex_compile("\\d+", &re, &err), VLM_OK);
    vlm_regex_match *m;
    size_t n;
    cr_assert_eq(vlm_regex_findall(re,
                                   "1\xFF"
                                   "2",
                                   3, &m, &n, &err),
                 VLM_ERR_FORMAT);
    vlm_regex_free(re);
}
