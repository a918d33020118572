/* Python semantics for the answer scorers (shared/spec/eval.md section 5): Unicode whitespace,
 * full lower-casing, float(), round(x, 2), CPython's MT19937 random; PCRE2 regexes with
 * Python's str-pattern classes; JSON documents from files, directories and archives. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "eval/eval.h"

#include <fcntl.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wctype.h>

/* ---- UTF-8 (input is valid UTF-8: jansson rejects anything else) ---- */

/* Decodes the code point at s[*i] and advances *i. Invalid bytes decode as themselves. */
static uint32_t utf8_next(const char *s, size_t len, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[*i];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (*i + (size_t)extra >= len)
        extra = 0;
    if (extra == 0) {
        (*i)++;
        return c;
    }
    c &= 0x3Fu >> extra;
    for (int k = 1; k <= extra; k++)
        c = (c << 6) | (u[*i + (size_t)k] & 0x3Fu);
    *i += (size_t)extra + 1;
    return c;
}

/* Start of the code point that ends just before s[i] (i > 0). */
static size_t utf8_prev(const char *s, size_t i) {
    const unsigned char *u = (const unsigned char *)s;
    do
        i--;
    while (i > 0 && (u[i] & 0xC0) == 0x80);
    return i;
}

static size_t utf8_put(char *o, uint32_t c) {
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ---- strings ---- */

int vlm_py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t vlm_py_strip(const char *s, size_t *len) {
    size_t a = 0, b = *len;
    while (a < b) {
        size_t j = a;
        if (!vlm_py_isspace(utf8_next(s, b, &j)))
            break;
        a = j;
    }
    while (b > a) {
        size_t p = utf8_prev(s, b), j = p;
        if (!vlm_py_isspace(utf8_next(s, b, &j)))
            break;
        b = p;
    }
    *len = b - a;
    return a;
}

size_t vlm_py_strip_char(const char *s, size_t *len, char c) {
    size_t a = 0, b = *len;
    while (a < b && s[a] == c)
        a++;
    while (b > a && s[b - 1] == c)
        b--;
    *len = b - a;
    return a;
}

size_t vlm_py_split_count(const char *s, size_t len) {
    size_t n = 0, i = 0;
    int in_word = 0;
    while (i < len) {
        int sp = vlm_py_isspace(utf8_next(s, len, &i));
        if (!sp && !in_word)
            n++;
        in_word = !sp;
    }
    return n;
}

size_t vlm_py_len(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* glibc's C.UTF-8 towlower is Unicode's simple lower-case mapping, of the same Unicode
 * version as Debian's Python (checked over every code point in tests/test_pysem.c); the one
 * unconditional full mapping (U+0130) and final sigma are added here. */
static locale_t g_utf8_locale;
static pthread_once_t g_locale_once = PTHREAD_ONCE_INIT;

static void locale_init(void) {
    g_utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static uint32_t simple_lower(uint32_t c) {
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (!g_utf8_locale)
        return c;
    return (uint32_t)towlower_l((wint_t)c, g_utf8_locale);
}

static int is_cased(uint32_t c) {
    if (c < 0x80)
        return (c | 32) >= 'a' && (c | 32) <= 'z';
    return g_utf8_locale &&
           (iswupper_l((wint_t)c, g_utf8_locale) || iswlower_l((wint_t)c, g_utf8_locale) ||
            towlower_l((wint_t)c, g_utf8_locale) != (wint_t)c ||
            towupper_l((wint_t)c, g_utf8_locale) != (wint_t)c);
}

/* Case_Ignorable (approximation: the apostrophes, dots and colons of Word_Break MidLetter /
 * MidNumLet, combining marks, modifier letters, format characters). Only consulted around a
 * capital sigma. */
static int is_case_ignorable(uint32_t c) {
    return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xA8 || c == 0xAD ||
           c == 0xAF || c == 0xB4 || c == 0xB7 || c == 0xB8 || (c >= 0x2B0 && c <= 0x36F) ||
           c == 0x374 || c == 0x375 || c == 0x37A || c == 0x384 || c == 0x385 || c == 0x387 ||
           (c >= 0x483 && c <= 0x489) || (c >= 0x200B && c <= 0x200F) || c == 0x2018 ||
           c == 0x2019 || c == 0x2024 || c == 0x2027 || (c >= 0x202A && c <= 0x202E) ||
           (c >= 0x2060 && c <= 0x2064) || c == 0xFE13 || c == 0xFE52 || c == 0xFE55 ||
           c == 0xFEFF || c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
}

/* Python's handle_capital_sigma: final form when a cased letter precedes (skipping
 * case-ignorables) and none follows. */
static int final_sigma(const char *s, size_t len, size_t at, size_t after) {
    size_t i = at;
    int before = 0;
    while (i > 0) {
        i = utf8_prev(s, i);
        size_t j = i;
        uint32_t c = utf8_next(s, len, &j);
        if (is_case_ignorable(c))
            continue;
        before = is_cased(c);
        break;
    }
    if (!before)
        return 0;
    i = after;
    while (i < len) {
        uint32_t c = utf8_next(s, len, &i);
        if (is_case_ignorable(c))
            continue;
        return !is_cased(c);
    }
    return 1;
}

char *vlm_py_lower(const char *s, size_t len, size_t *out_len) {
    pthread_once(&g_locale_once, locale_init);
    /* Lower-casing at most grows U+0130 (2 bytes) to 3 bytes. */
    char *o = malloc(len + len / 2 + 1);
    if (!o)
        return NULL;
    size_t n = 0, i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            char ch = s[i++];
            o[n++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
            continue;
        }
        size_t at = i;
        uint32_t c = utf8_next(s, len, &i);
        if (c == 0x130) {
            o[n++] = 'i';
            n += utf8_put(o + n, 0x307);
        } else if (c == 0x3A3) {
            n += utf8_put(o + n, final_sigma(s, len, at, i) ? 0x3C2 : 0x3C3);
        } else {
            n += utf8_put(o + n, simple_lower(c));
        }
    }
    o[n] = '\0';
    if (out_len)
        *out_len = n;
    return o;
}

/* ---- float() ---- */

/* Code points of the digit zero of every Unicode Nd run (each run is 0..9 in order);
 * Unicode 14.0, the version of Debian 12's Python 3.11 and PCRE2 10.42. */
static const uint32_t ND_ZEROS[] = {
    0x30,    0x660,   0x6F0,   0x7C0,   0x966,   0x9E6,   0xA66,   0xAE6,   0xB66,   0xBE6,
    0xC66,   0xCE6,   0xD66,   0xDE6,   0xE50,   0xED0,   0xF20,   0x1040,  0x1090,  0x17E0,
    0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,  0x1C40,  0x1C50,  0xA620,
    0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,  0xFF10,  0x104A0, 0x10D30, 0x11066,
    0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
    0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2,
    0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
};

/* The decimal value of a Unicode Nd code point, or -1. */
static int decimal_value(uint32_t c) {
    if (c < 0x80)
        return c >= '0' && c <= '9' ? (int)(c - '0') : -1;
    size_t lo = 0, hi = sizeof ND_ZEROS / sizeof ND_ZEROS[0];
    while (lo < hi) { /* last zero <= c */
        size_t mid = (lo + hi) / 2;
        if (ND_ZEROS[mid] <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || c - ND_ZEROS[lo - 1] > 9)
        return -1;
    return (int)(c - ND_ZEROS[lo - 1]);
}

/* Digits with single '_' between two digits; copies the digits to *o. Returns the number of
 * digits read, 0 when none, -1 on a misplaced '_'. */
static int scan_digits(const uint32_t *cp, size_t n, size_t *i, char **o) {
    int count = 0;
    while (*i < n) {
        int d = decimal_value(cp[*i]);
        if (d >= 0) {
            *(*o)++ = (char)('0' + d);
            count++;
            (*i)++;
        } else if (cp[*i] == '_' && count > 0 && *i + 1 < n && decimal_value(cp[*i + 1]) >= 0) {
            (*i)++;
        } else {
            break;
        }
    }
    if (*i < n && cp[*i] == '_')
        return -1;
    return count;
}

static int ascii_ieq(const uint32_t *cp, size_t n, const char *word) {
    size_t k = strlen(word);
    if (n != k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (cp[i] >= 0x80 || (char)(cp[i] | 32) != word[i])
            return 0;
    return 1;
}

int vlm_py_float(const char *s, size_t len, double *out) {
    size_t off = vlm_py_strip(s, &len);
    s += off;
    if (len == 0)
        return 0;
    uint32_t *cp = malloc(len * sizeof *cp);
    char *buf = malloc(len + 8);
    if (!cp || !buf) {
        free(cp);
        free(buf);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;)
        cp[n++] = utf8_next(s, len, &i);
    size_t i = 0;
    char *o = buf;
    int ok = 0, neg = 0;
    if (cp[i] == '+' || cp[i] == '-') {
        neg = cp[i] == '-';
        *o++ = (char)cp[i++];
    }
    if (ascii_ieq(cp + i, n - i, "inf") || ascii_ieq(cp + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        ok = 1;
    } else if (ascii_ieq(cp + i, n - i, "nan")) {
        *out = neg ? -NAN : NAN;
        ok = 1;
    } else {
        int whole = scan_digits(cp, n, &i, &o), frac = 0;
        if (whole >= 0 && i < n && cp[i] == '.') {
            *o++ = '.';
            i++;
            frac = scan_digits(cp, n, &i, &o);
        }
        ok = whole >= 0 && frac >= 0 && whole + frac > 0;
        if (ok && i < n && (cp[i] == 'e' || cp[i] == 'E')) {
            *o++ = 'e';
            i++;
            if (i < n && (cp[i] == '+' || cp[i] == '-'))
                *o++ = (char)cp[i++];
            ok = scan_digits(cp, n, &i, &o) > 0;
        }
        ok = ok && i == n;
        if (ok) {
            *o = '\0';
            *out = strtod(buf, NULL); /* correctly rounded; overflow gives +-inf as in Python */
        }
    }
    free(cp);
    free(buf);
    return ok;
}

double vlm_py_round2(double x) {
    if (!isfinite(x))
        return x;
    char buf[400]; /* %.2f of DBL_MAX is 312 characters */
    snprintf(buf, sizeof buf, "%.2f", x);
    return strtod(buf, NULL);
}

/* ---- random: MT19937 as CPython's _randommodule.c ---- */

static void mt_init_genrand(vlm_py_random *r, uint32_t s) {
    r->mt[0] = s;
    for (int i = 1; i < 624; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->index = 624;
}

static void mt_init_by_array(vlm_py_random *r, const uint32_t *key, int key_length) {
    mt_init_genrand(r, 19650218u);
    uint32_t *mt = r->mt;
    int i = 1, j = 0;
    for (int k = 624 > key_length ? 624 : key_length; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= 624) {
            mt[0] = mt[623];
            i = 1;
        }
        if (j >= key_length)
            j = 0;
    }
    for (int k = 623; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= 624) {
            mt[0] = mt[623];
            i = 1;
        }
    }
    mt[0] = 0x80000000u;
}

void vlm_py_random_seed(vlm_py_random *r, int64_t seed) {
    uint64_t a = seed < 0 ? (uint64_t)0 - (uint64_t)seed : (uint64_t)seed;
    uint32_t key[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
    mt_init_by_array(r, key, key[1] ? 2 : 1);
}

uint32_t vlm_py_random_u32(vlm_py_random *r) {
    uint32_t *mt = r->mt, y;
    if (r->index >= 624) {
        int k;
        for (k = 0; k < 624 - 397; k++) {
            y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
            mt[k] = mt[k + 397] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        for (; k < 623; k++) {
            y = (mt[k] & 0x80000000u) | (mt[k + 1] & 0x7fffffffu);
            mt[k] = mt[k + (397 - 624)] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        y = (mt[623] & 0x80000000u) | (mt[0] & 0x7fffffffu);
        mt[623] = mt[396] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        r->index = 0;
    }
    y = mt[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t vlm_py_random_below(vlm_py_random *r, uint32_t n) {
    int k = 0;
    while (k < 32 && (n >> k))
        k++;
    /* getrandbits(k) for k <= 32 is the top k bits of one output. */
    for (;;) {
        uint32_t v = vlm_py_random_u32(r) >> (32 - k);
        if (v < n)
            return v;
    }
}

/* ---- regex ---- */

/* Budget of one pcre2_match call: linear patterns on a megabyte need far less; a subject
 * that drives a pattern quadratic (a megabyte of digits) stops here instead of hanging. */
#define REGEX_MATCH_LIMIT 5000000u
#define REGEX_DEPTH_LIMIT 100000u

struct vlm_regex {
    pcre2_code *code;
    char pattern[256];
};

vlm_status vlm_regex_compile(const char *pattern, vlm_regex **out, vlm_error *err) {
    *out = NULL;
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return vlm_error_set(err, VLM_ERR_INTERNAL, "regex '%s' at %zu: %s", pattern, (size_t)at,
                             (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if no JIT */
    vlm_regex *r = calloc(1, sizeof *r);
    if (!r) {
        pcre2_code_free(re);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    r->code = re;
    snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
    *out = r;
    return VLM_OK;
}

void vlm_regex_free(vlm_regex *re) {
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}

vlm_status vlm_regex_findall(const vlm_regex *re, const char *s, size_t len,
                             vlm_regex_match **matches, size_t *n, vlm_error *err) {
    *matches = NULL;
    *n = 0;
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!mctx || !md) {
        pcre2_match_context_free(mctx);
        pcre2_match_data_free(md);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    pcre2_set_match_limit(mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, REGEX_DEPTH_LIMIT);
    vlm_status st = VLM_OK;
    size_t cap = 0, off = 0;
    uint32_t opts = 0; /* the first call checks the UTF-8, later ones skip it */
    while (off <= len) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, off, opts, md, mctx);
        opts = PCRE2_NO_UTF_CHECK;
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            int limit = rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
                        rc == PCRE2_ERROR_JIT_STACKLIMIT;
            if (limit)
                st = vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                                   "regex match limit reached (%s) on a %zu-byte text",
                                   (const char *)msg, len);
            else
                st = vlm_error_set(err, VLM_ERR_FORMAT, "regex: %s", (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            vlm_regex_match *m = realloc(*matches, cap * sizeof *m);
            if (!m) {
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
                break;
            }
            *matches = m;
        }
        (*matches)[(*n)++] = (vlm_regex_match){ov[0], ov[1]};
        if (ov[1] > ov[0]) {
            off = ov[1];
        } else { /* an empty match: Python moves on by one code point */
            if (ov[1] >= len)
                break;
            off = ov[1];
            utf8_next(s, len, &off);
        }
    }
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    if (st != VLM_OK) {
        free(*matches);
        *matches = NULL;
        *n = 0;
    }
    return st;
}

/* ---- JSON documents from a source ---- */

#define JSON_MAX_BYTES ((size_t)1 << 30)

static vlm_status json_error(vlm_error *err, const char *name, int line, const json_error_t *je) {
    return vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d:%d: malformed JSON: %s", name,
                         line ? line : je->line, je->column, je->text);
}

/* One buffer: a single JSON value, or JSON Lines. */
static vlm_status json_buffer_each(const char *name, const char *data, size_t len,
                                   vlm_json_doc_fn fn, void *ctx, vlm_error *err) {
    json_error_t je;
    /* JSON_DISABLE_EOF_CHECK stops after the first value: if only whitespace follows it,
     * the buffer is one document; otherwise it is JSON Lines. */
    json_t *v = json_loadb(data, len, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
    if (v) {
        size_t p = je.position;
        while (p < len && (data[p] == ' ' || data[p] == '\t' || data[p] == '\n' || data[p] == '\r'))
            p++;
        if (p == len) {
            /* A document on one line is named by line 1 (a one-record JSON Lines file). */
            const char *nl = memchr(data, '\n', je.position);
            vlm_status st = fn(ctx, name, nl ? 0 : 1, v, err);
            json_decref(v);
            return st;
        }
        json_decref(v);
    } else {
        /* The first value is malformed. JSON Lines if the first line is a value of its own
         * or breaks before its end; else one broken multi-line document. */
        const char *nl = memchr(data, '\n', len);
        if (!nl)
            return json_error(err, name, 0, &je);
        json_error_t je1;
        size_t n1 = (size_t)(nl - data);
        json_t *first = json_loadb(data, n1, JSON_ALLOW_NUL, &je1);
        json_decref(first);
        if (!first && (size_t)je1.position >= n1)
            return json_error(err, name, 0, &je);
    }
    int line = 0;
    for (size_t a = 0; a < len;) {
        const char *nl = memchr(data + a, '\n', len - a);
        size_t b = nl ? (size_t)(nl - data) : len;
        line++;
        size_t k = a;
        while (k < b && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r'))
            k++;
        if (k < b) {
            json_t *lv = json_loadb(data + a, b - a, JSON_ALLOW_NUL, &je);
            if (!lv)
                return json_error(err, name, line, &je);
            vlm_status st = fn(ctx, name, line, lv, err);
            json_decref(lv);
            if (st != VLM_OK)
                return st;
        }
        a = b + 1;
    }
    return VLM_OK;
}

vlm_status vlm_json_source_each(const char *path, vlm_json_doc_fn fn, void *ctx, vlm_error *err) {
    /* A regular file whose content starts like JSON is read as it is: libarchive would also
     * accept some text formats (mtree) as archives. Anything else goes through vlm_source. */
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        int fd = open(path, O_RDONLY);
        char head[64];
        ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
        if (fd >= 0)
            close(fd);
        ssize_t i = 0;
        while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
            i++;
        if (n == 0)
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: empty file", path);
        if (i < n && (head[i] == '{' || head[i] == '[')) {
            uint8_t *data;
            size_t len;
            vlm_status st = vlm_read_file(path, &data, &len, JSON_MAX_BYTES, err);
            if (st != VLM_OK)
                return st;
            st = json_buffer_each(path, (const char *)data, len, fn, ctx, err);
            free(data);
            return st;
        }
    }
    int regular = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    vlm_source *src;
    vlm_status st = vlm_source_open(path, &src, err);
    if (st != VLM_OK)
        return st;
    for (;;) {
        vlm_source_entry e;
        int done = 0;
        st = vlm_source_next(src, &e, &done, err);
        if (st != VLM_OK || done)
            break;
        uint8_t *data;
        size_t len;
        char name[1024];
        if (regular && !strcmp(e.name, base)) /* a plain file: a source of itself */
            snprintf(name, sizeof name, "%s", path);
        else
            snprintf(name, sizeof name, "%s:%s", path, e.name);
        st = vlm_source_read(src, &data, &len, JSON_MAX_BYTES, err);
        if (st != VLM_OK)
            break;
        st = json_buffer_each(name, (const char *)data, len, fn, ctx, err);
        free(data);
        if (st != VLM_OK)
            break;
    }
    vlm_source_close(src);
    return st;
}

vlm_status vlm_json_each_object(json_t *list, const char *where, const char *label,
                                vlm_json_obj_fn fn, void *ctx, vlm_error *err) {
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        char w[1200];
        if (!strcmp(label, "item"))
            snprintf(w, sizeof w, "%s: item %zu", where, i);
        else
            snprintf(w, sizeof w, "%s: %s[%zu]", where, label, i);
        if (!json_is_object(e))
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: not an object", w);
        vlm_status st = fn(ctx, w, e, err);
        if (st != VLM_OK)
            return st;
    }
    return VLM_OK;
}
