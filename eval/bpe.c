/* The CLIP BPE tokenizer: OpenAI CLIP's simple_tokenizer.py as open_clip's tokenize() uses it
 * (spec models.md 5.1: vocab 49408, context 77, SOT 49406, EOT 49407, zero padding). The
 * algorithm was checked against the upstream Python (read only); this is an independent C
 * implementation:
 *   vocabulary  = 256 byte symbols (bytes_to_unicode order), the same + "</w>", the joined
 *                 merges, <|startoftext|>, <|endoftext|>; a string maps to its LAST index (a
 *                 Python dict built from the list);
 *   encode      = clean, lower, regex pre-tokenise, bytes -> symbols, BPE each word with the
 *                 lowest-ranked adjacent pair merged everywhere (left to right) until none.
 * Symbols are interned as vocabulary ids, so a pair is two ints and a merge a table lookup. */
#include <archive.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include "eval/eval.h"

#include <pcre2.h>

enum {
    MAX_MERGES = 49152 - 256 - 2, /* upstream: merges[1:49152-256-2+1] */
    MAX_TEXT_BYTES = 1 << 20,     /* longer texts are refused (a caption is < 1 KiB) */
    MAX_WORD_BYTES = 1 << 14,     /* the merge loop is quadratic in a word's length */
    MAX_FILE_BYTES = 64 << 20,
};

typedef struct str_entry {
    const char *s; /* borrowed from the vocabulary arena */
    int len, id;
} str_entry;

typedef struct pair_entry {
    uint64_t key; /* (a << 32 | b) + 1; 0 = empty slot */
    int rank, merged;
} pair_entry;

struct vlm_bpe {
    char **vocab; /* owned: [vocab_size] NUL-terminated UTF-8 strings */
    int vocab_size;
    str_entry *strs; /* open addressing, capacity str_cap (a power of 2) */
    size_t str_cap;
    pair_entry *pairs;
    size_t pair_cap;
    int byte_sym[256], byte_sym_w[256]; /* ids of the byte's symbol, and with "</w>" */
    int sot, eot;
    pcre2_code *re;
    locale_t utf8; /* C.UTF-8 for towlower_l */
};

static uint64_t hash_bytes(const char *s, int len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Id of a string, or -1. */
static int str_find(const vlm_bpe *b, const char *s, int len) {
    for (size_t i = hash_bytes(s, len) & (b->str_cap - 1);; i = (i + 1) & (b->str_cap - 1)) {
        const str_entry *e = &b->strs[i];
        if (!e->s)
            return -1;
        if (e->len == len && !memcmp(e->s, s, (size_t)len))
            return e->id;
    }
}

/* Sets the string's id (a later index overwrites: dict(zip(vocab, range(...)))). */
static void str_put(vlm_bpe *b, const char *s, int id) {
    int len = (int)strlen(s);
    size_t i = hash_bytes(s, len) & (b->str_cap - 1);
    for (; b->strs[i].s; i = (i + 1) & (b->str_cap - 1))
        if (b->strs[i].len == len && !memcmp(b->strs[i].s, s, (size_t)len))
            break;
    b->strs[i] = (str_entry){s, len, id};
}

static const pair_entry *pair_find(const vlm_bpe *b, int x, int y) {
    uint64_t key = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
    for (size_t i = hash_u64(key) & (b->pair_cap - 1);; i = (i + 1) & (b->pair_cap - 1)) {
        if (b->pairs[i].key == key)
            return &b->pairs[i];
        if (!b->pairs[i].key)
            return NULL;
    }
}

static void pair_put(vlm_bpe *b, int x, int y, int rank, int merged) {
    uint64_t key = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
    size_t i = hash_u64(key) & (b->pair_cap - 1);
    while (b->pairs[i].key && b->pairs[i].key != key)
        i = (i + 1) & (b->pair_cap - 1);
    b->pairs[i] = (pair_entry){key, rank, merged}; /* a repeated pair keeps its last rank */
}

/* ---- UTF-8 and Python string semantics ------------------------------------------------ */

/* Decodes one code point of valid UTF-8 (no overlongs, surrogates or > U+10FFFF); returns its
 * length, or 0 when invalid. */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (c >= 0xf5 || !len || (size_t)len > n)
        return 0;
    uint32_t v = c & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static int utf8_encode(uint32_t c, char *out) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Python str.isspace() (spec eval.md section 5), what re's \s and str.split() use. */
static int py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* A growing code point buffer. */
typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = c;
    return 0;
}

/* html.unescape's numeric reference rules (Python's html module): 0x80..0x9f are read as
 * Windows-1252, 0 and surrogates and > U+10FFFF become U+FFFD, other control characters and
 * noncharacters are dropped (returns 0 = nothing). */
static uint32_t html_charref(uint64_t num, int *drop) {
    static const uint16_t cp1252[32] = {
        0x20ac, 0x81,   0x201a, 0x192,  0x201e, 0x2026, 0x2020, 0x2021, 0x2c6,  0x2030, 0x160,
        0x2039, 0x152,  0x8d,   0x17d,  0x8f,   0x90,   0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
        0x2013, 0x2014, 0x2dc,  0x2122, 0x161,  0x203a, 0x153,  0x9d,   0x17e,  0x178};
    *drop = 0;
    if (num == 0)
        return 0xfffd;
    if (num == 0x0d)
        return 0x0d;
    if (num >= 0x80 && num <= 0x9f)
        return cp1252[num - 0x80];
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff)
        return 0xfffd;
    if ((num >= 0x1 && num <= 0x8) || (num >= 0xe && num <= 0x1f) || (num >= 0x7f && num <= 0x9f) ||
        (num >= 0xfdd0 && num <= 0xfdef) || num == 0xb || (num & 0xfffe) == 0xfffe) {
        *drop = 1;
        return 0;
    }
    return (uint32_t)num;
}

/* One pass of html.unescape restricted to numeric references and the named references amp,
 * lt, gt, quot, nbsp (with or without ';', also as a prefix of a longer name, as Python's
 * html5 table allows them) and &apos; (';' required). */
static int html_unescape(const cpbuf *in, cpbuf *out) {
    static const struct {
        const char *name;
        uint32_t cp;
        int needs_semicolon;
    } named[] = {{"amp", '&', 0},   {"lt", '<', 0},    {"gt", '>', 0},  {"quot", '"', 0},
                 {"nbsp", 0xa0, 0}, {"apos", '\'', 1}, {"AMP", '&', 0}, {"LT", '<', 0},
                 {"GT", '>', 0},    {"QUOT", '"', 0}};
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        uint32_t c = in->v[i];
        if (c != '&') {
            if (cp_push(out, c))
                return -1;
            i++;
            continue;
        }
        size_t j = i + 1;
        if (j < in->n && in->v[j] == '#') { /* &#123;? or &#x7b;? */
            int hex = j + 1 < in->n && (in->v[j + 1] == 'x' || in->v[j + 1] == 'X');
            size_t k = j + 1 + (size_t)hex, start = k;
            uint64_t num = 0;
            while (k < in->n) {
                uint32_t d = in->v[k];
                int v = d >= '0' && d <= '9'          ? (int)(d - '0')
                        : hex && d >= 'a' && d <= 'f' ? (int)(d - 'a' + 10)
                        : hex && d >= 'A' && d <= 'F' ? (int)(d - 'A' + 10)
                                                      : -1;
                if (v < 0)
                    break;
                if (num <= 0x110000) /* saturate: anything larger is U+FFFD anyway */
                    num = num * (hex ? 16 : 10) + (uint64_t)v;
                k++;
            }
            if (k > start) {
                if (k < in->n && in->v[k] == ';')
                    k++;
                int drop;
                uint32_t r = html_charref(num, &drop);
                if (!drop && cp_push(out, r))
                    return -1;
                i = k;
                continue;
            }
        } else {
            /* Python matches [^\t\n\f <&#;]{1,32};? then tries the name, then its prefixes. */
            size_t k = j;
            while (k < in->n && k - j < 32 && in->v[k] != '\t' && in->v[k] != '\n' &&
                   in->v[k] != '\f' && in->v[k] != ' ' && in->v[k] != '<' && in->v[k] != '&' &&
                   in->v[k] != '#' && in->v[k] != ';')
                k++;
            size_t L = k - j;
            int semi = k < in->n && in->v[k] == ';';
            int hit = -1;
            size_t hit_len = 0;
            for (size_t e = 0; L > 0 && e < sizeof named / sizeof named[0]; e++) {
                size_t l = strlen(named[e].name), m = 0;
                while (m < l && m < L && in->v[j + m] == (unsigned char)named[e].name[m])
                    m++;
                if (m != l)
                    continue;
                if (l == L && (semi || !named[e].needs_semicolon)) { /* the whole name */
                    hit = (int)e;
                    hit_len = l;
                    break;
                }
                /* else the longest prefix of >= 2 characters that needs no ';' */
                if (l < L && l >= 2 && !named[e].needs_semicolon && l > hit_len) {
                    hit = (int)e;
                    hit_len = l;
                }
            }
            if (hit >= 0) {
                if (cp_push(out, named[hit].cp))
                    return -1;
                i = j + hit_len + (hit_len == L && semi ? 1 : 0);
                continue;
            }
        }
        if (cp_push(out, '&'))
            return -1;
        i++;
    }
    return 0;
}

/* Python's cased / case-ignorable, approximated (letters with a case mapping; apostrophes,
 * periods, colons, middle dot and combining marks) for the final-sigma rule. */
static int is_cased(uint32_t c, locale_t l) {
    return iswupper_l((wint_t)c, l) || iswlower_l((wint_t)c, l);
}
static int is_case_ignorable(uint32_t c) {
    return c == '\'' || c == '.' || c == ':' || c == 0xb7 || c == 0x2019 ||
           (c >= 0x300 && c <= 0x36f);
}

/* Python str.lower(): towlower in C.UTF-8 equals CPython's mapping for every code point except
 * U+0130 (full lower-casing: "i" + U+0307) and the context-dependent final sigma. */
static int py_lower(const cpbuf *in, cpbuf *out, locale_t l) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->v[i], r;
        if (c == 0x130) {
            if (cp_push(out, 'i') || cp_push(out, 0x307))
                return -1;
            continue;
        }
        if (c == 0x3a3) {
            size_t p = i;
            while (p > 0 && is_case_ignorable(in->v[p - 1]))
                p--;
            size_t q = i + 1;
            while (q < in->n && is_case_ignorable(in->v[q]))
                q++;
            int final = p > 0 && is_cased(in->v[p - 1], l) && !(q < in->n && is_cased(in->v[q], l));
            r = final ? 0x3c2 : 0x3c3;
        } else {
            r = (uint32_t)towlower_l((wint_t)c, l);
        }
        if (cp_push(out, r))
            return -1;
    }
    return 0;
}

/* ---- loading --------------------------------------------------------------------------- */

/* Reads path through libarchive's raw format: gzip (or any filter libarchive knows) or plain. */
static vlm_status read_maybe_gzip(const char *path, char **data, size_t *len, vlm_error *err) {
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    struct archive *a = archive_read_new();
    if (!a)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    vlm_status st = VLM_OK;
    struct archive_entry *e;
    size_t cap = 1 << 20, n = 0;
    char *buf = NULL;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: cannot read: %s", path,
                           archive_error_string(a) ? archive_error_string(a) : "unknown format");
        goto out;
    }
    buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
            goto out;
        }
        la_ssize_t r = archive_read_data(a, buf + n, cap - n);
        if (r < 0) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: corrupt or truncated: %s", path,
                               archive_error_string(a) ? archive_error_string(a) : "read error");
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                st = vlm_error_set(err, VLM_ERR_FORMAT,
                                   "%s: larger than %d MiB: not a BPE "
                                   "merges file",
                                   path, MAX_FILE_BYTES >> 20);
                goto out;
            }
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    archive_read_free(a);
    return st;
}

static vlm_status add_vocab(vlm_bpe *b, int *cap, const char *s, size_t len, vlm_error *err) {
    if (b->vocab_size == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        char **v = realloc(b->vocab, (size_t)*cap * sizeof *v);
        if (!v)
            return vlm_error_set(err, VLM_ERR_NOMEM, "BPE vocabulary: out of memory");
        b->vocab = v;
    }
    char *c = malloc(len + 1);
    if (!c)
        return vlm_error_set(err, VLM_ERR_NOMEM, "BPE vocabulary: out of memory");
    memcpy(c, s, len);
    c[len] = 0;
    b->vocab[b->vocab_size++] = c;
    return VLM_OK;
}

/* bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order; the vocabulary lists the symbols in that printable-first order. */
static void byte_order(int order[256], uint32_t sym[256]) {
    int n = 0, extra = 0;
    for (int c = 0; c < 256; c++)
        if ((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff)) {
            order[n++] = c;
            sym[c] = (uint32_t)c;
        }
    for (int c = 0; c < 256; c++)
        if (!((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff))) {
            order[n++] = c;
            sym[c] = 256u + (uint32_t)extra++;
        }
}

vlm_status vlm_bpe_load(const char *path, vlm_bpe **out, vlm_error *err) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    vlm_status st = read_maybe_gzip(path, &text, &len, err);
    if (st != VLM_OK)
        return st;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = utf8_decode((const unsigned char *)text + i, len - i, &cp);
        if (!l) {
            free(text);
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", path, i);
        }
        i += (size_t)l;
    }
    vlm_bpe *b = calloc(1, sizeof *b);
    if (!b) {
        free(text);
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    }
    int cap = 0;
    int order[256];
    uint32_t sym[256];
    byte_order(order, sym);
    for (int w = 0; w < 2 && st == VLM_OK; w++)
        for (int i = 0; i < 256 && st == VLM_OK; i++) {
            char s[16];
            int l = utf8_encode(sym[order[i]], s);
            if (w) {
                memcpy(s + l, "</w>", 4);
                l += 4;
            }
            st = add_vocab(b, &cap, s, (size_t)l, err);
        }
    /* Merge lines: split on '\n' (Python str.split('\n')), skip the header, at most
     * MAX_MERGES; each line's whitespace-separated parts, joined, is one vocabulary entry. */
    int nmerges = 0;
    int *merge_a = malloc(MAX_MERGES * sizeof *merge_a), *merge_len = NULL;
    merge_len = malloc(MAX_MERGES * sizeof *merge_len);
    if (!merge_a || !merge_len)
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    char *line = text, *nl = memchr(text, '\n', len);
    int lineno = 0;
    while (st == VLM_OK && nl && nmerges < MAX_MERGES) {
        line = nl + 1;
        lineno++;
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        nl = end;
        if (!end)
            end = text + len;
        /* split() on Python whitespace */
        const char *parts[3];
        int plen[3], np = 0;
        for (char *p = line; p < end;) {
            uint32_t cp;
            int l = utf8_decode((unsigned char *)p, (size_t)(end - p), &cp);
            if (py_space(cp)) {
                p += l;
                continue;
            }
            char *q = p;
            while (q < end) {
                int m = utf8_decode((unsigned char *)q, (size_t)(end - q), &cp);
                if (py_space(cp))
                    break;
                q += m;
            }
            if (np < 3) {
                parts[np] = p;
                plen[np] = (int)(q - p);
            }
            np++;
            p = q;
        }
        if (np != 2 && !(np == 0 && !nl)) { /* a final newline leaves one empty last line */
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: line %d: a merge must be two symbols separated by a space, "
                               "found %d",
                               path, lineno + 1, np);
            break;
        }
        if (np == 0)
            break;
        char joined[2 * MAX_WORD_BYTES];
        if (plen[0] + plen[1] >= (int)sizeof joined) {
            st =
                vlm_error_set(err, VLM_ERR_FORMAT, "%s: line %d: merge too long", path, lineno + 1);
            break;
        }
        memcpy(joined, parts[0], (size_t)plen[0]);
        memcpy(joined + plen[0], parts[1], (size_t)plen[1]);
        merge_a[nmerges] = b->vocab_size;
        merge_len[nmerges] = plen[0];
        st = add_vocab(b, &cap, joined, (size_t)(plen[0] + plen[1]), err);
        nmerges++;
    }
    if (st == VLM_OK)
        st = add_vocab(b, &cap, "<|startoftext|>", 15, err);
    if (st == VLM_OK)
        st = add_vocab(b, &cap, "<|endoftext|>", 13, err);
    if (st == VLM_OK) {
        b->str_cap = 1;
        while (b->str_cap < (size_t)b->vocab_size * 2)
            b->str_cap *= 2;
        b->pair_cap = 1;
        while (b->pair_cap < (size_t)(nmerges + 1) * 2)
            b->pair_cap *= 2;
        b->strs = calloc(b->str_cap, sizeof *b->strs);
        b->pairs = calloc(b->pair_cap, sizeof *b->pairs);
        if (!b->strs || !b->pairs)
            st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == VLM_OK) {
        for (int i = 0; i < b->vocab_size; i++)
            str_put(b, b->vocab[i], i);
        /* Pairs after the whole vocabulary is known: a merge's part may be the joined string
         * of a later merge. A pair with a part that is no vocabulary string never occurs. */
        for (int m = 0; m < nmerges; m++) {
            const char *s = b->vocab[merge_a[m]];
            int l = (int)strlen(s);
            int x = str_find(b, s, merge_len[m]),
                y = str_find(b, s + merge_len[m], l - merge_len[m]);
            if (x >= 0 && y >= 0)
                pair_put(b, x, y, m, str_find(b, s, l));
        }
        for (int c = 0; c < 256; c++) {
            char s[16];
            int l = utf8_encode(sym[c], s);
            b->byte_sym[c] = str_find(b, s, l);
            memcpy(s + l, "</w>", 4);
            b->byte_sym_w[c] = str_find(b, s, l + 4);
        }
        b->sot = str_find(b, "<|startoftext|>", 15);
        b->eot = str_find(b, "<|endoftext|>", 13);
        b->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        if (!b->utf8)
            st = vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                               "BPE tokenizer: the C.UTF-8 locale is not available (needed for "
                               "Unicode lower-casing)");
    }
    if (st == VLM_OK) {
        int code;
        PCRE2_SIZE off;
        b->re = pcre2_compile(
            (PCRE2_SPTR) "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|"
                         "[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &off, NULL);
        if (!b->re)
            st =
                vlm_error_set(err, VLM_ERR_INTERNAL, "BPE tokenizer: regex compile error %d", code);
    }
    free(merge_a);
    free(merge_len);
    free(text);
    if (st != VLM_OK) {
        vlm_bpe_destroy(b);
        return st;
    }
    *out = b;
    return VLM_OK;
}

void vlm_bpe_destroy(vlm_bpe *b) {
    if (!b)
        return;
    for (int i = 0; i < b->vocab_size; i++)
        free(b->vocab[i]);
    free(b->vocab);
    free(b->strs);
    free(b->pairs);
    if (b->re)
        pcre2_code_free(b->re);
    if (b->utf8)
        freelocale(b->utf8);
    free(b);
}

int vlm_bpe_vocab_size(const vlm_bpe *b) {
    return b->vocab_size;
}
int vlm_bpe_sot(const vlm_bpe *b) {
    return b->sot;
}
int vlm_bpe_eot(const vlm_bpe *b) {
    return b->eot;
}

/* ---- encoding -------------------------------------------------------------------------- */

typedef struct ibuf {
    int32_t *v;
    int n, cap;
} ibuf;

static int ib_push(ibuf *b, int32_t x) {
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        int32_t *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = x;
    return 0;
}

/* BPE of one pre-token (bytes s[0..len)): word = its byte symbols, the last with "</w>";
 * repeatedly merge every occurrence (left to right, non-overlapping) of the adjacent pair with
 * the lowest rank, until no pair has a rank or one symbol is left. */
static int bpe_word(const vlm_bpe *b, const unsigned char *s, int len, int32_t *word, ibuf *out) {
    int n = len;
    for (int i = 0; i < len; i++)
        word[i] = i + 1 < len ? b->byte_sym[s[i]] : b->byte_sym_w[s[i]];
    while (n > 1) {
        int best = -1, bi = -1;
        for (int i = 0; i + 1 < n; i++) {
            const pair_entry *p = pair_find(b, word[i], word[i + 1]);
            if (p && (best < 0 || p->rank < best)) {
                best = p->rank;
                bi = i;
            }
        }
        if (best < 0)
            break;
        int first = word[bi], second = word[bi + 1];
        int merged = pair_find(b, first, second)->merged, m = 0;
        for (int i = 0; i < n;) {
            if (i + 1 < n && word[i] == first && word[i + 1] == second) {
                word[m++] = merged;
                i += 2;
            } else {
                word[m++] = word[i++];
            }
        }
        n = m;
    }
    for (int i = 0; i < n; i++)
        if (ib_push(out, word[i]))
            return -1;
    return 0;
}

/* Encodes, stopping once out holds at least limit ids (limit < 0: no limit). */
static vlm_status encode(const vlm_bpe *b, const char *text, int limit, ibuf *out, vlm_error *err) {
    size_t len = strlen(text);
    if (len > MAX_TEXT_BYTES)
        return vlm_error_set(err, VLM_ERR_INVALID, "BPE tokenizer: text longer than %d bytes",
                             MAX_TEXT_BYTES);
    cpbuf a = {0}, c = {0};
    vlm_status st = VLM_OK;
    char *clean = NULL;
    int32_t *word = NULL;
    pcre2_match_data *md = NULL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = utf8_decode((const unsigned char *)text + i, len - i, &cp);
        if (!l) {
            st = vlm_error_set(err, VLM_ERR_INVALID, "BPE tokenizer: invalid UTF-8 at byte %zu", i);
            goto out;
        }
        if (cp_push(&a, cp))
            goto nomem;
        i += (size_t)l;
    }
    /* basic_clean: (no ftfy) html.unescape twice; whitespace_clean; lower() */
    if (html_unescape(&a, &c) || html_unescape(&c, &a))
        goto nomem;
    c.n = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (py_space(a.v[i])) {
            while (i + 1 < a.n && py_space(a.v[i + 1]))
                i++;
            if (c.n > 0 && i + 1 < a.n && cp_push(&c, ' '))
                goto nomem;
        } else if (cp_push(&c, a.v[i])) {
            goto nomem;
        }
    }
    if (py_lower(&c, &a, b->utf8))
        goto nomem;
    clean = malloc(a.n * 4 + 1);
    word = malloc(MAX_WORD_BYTES * sizeof *word);
    md = pcre2_match_data_create_from_pattern(b->re, NULL);
    if (!clean || !word || !md)
        goto nomem;
    size_t cl = 0;
    for (size_t i = 0; i < a.n; i++)
        cl += (size_t)utf8_encode(a.v[i], clean + cl);
    clean[cl] = 0;
    for (size_t pos = 0; pos < cl && (limit < 0 || out->n < limit);) {
        int rc = pcre2_match(b->re, (PCRE2_SPTR)clean, cl, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            st = vlm_error_set(err, VLM_ERR_INTERNAL, "BPE tokenizer: regex match error %d", rc);
            goto out;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        const unsigned char *tok = (const unsigned char *)clean + ov[0];
        int tl = (int)(ov[1] - ov[0]);
        pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        if (tl == 0)
            continue;
        if (tl > MAX_WORD_BYTES) {
            st = vlm_error_set(err, VLM_ERR_INVALID, "BPE tokenizer: a word of more than %d bytes",
                               MAX_WORD_BYTES);
            goto out;
        }
        /* upstream's cache maps the special tokens to themselves: one id each, no "</w>" */
        if (tl == 15 && !memcmp(tok, "<|startoftext|>", 15)) {
            if (ib_push(out, b->sot))
                goto nomem;
        } else if (tl == 13 && !memcmp(tok, "<|endoftext|>", 13)) {
            if (ib_push(out, b->eot))
                goto nomem;
        } else if (bpe_word(b, tok, tl, word, out)) {
            goto nomem;
        }
    }
    goto out;
nomem:
    st = vlm_error_set(err, VLM_ERR_NOMEM, "BPE tokenizer: out of memory");
out:
    free(a.v);
    free(c.v);
    free(clean);
    free(word);
    pcre2_match_data_free(md);
    return st;
}

vlm_status vlm_bpe_encode(const vlm_bpe *b, const char *text, int32_t **ids, int *count,
                          vlm_error *err) {
    ibuf out = {0};
    *ids = NULL;
    *count = 0;
    vlm_status st = encode(b, text, -1, &out, err);
    if (st != VLM_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v ? out.v : calloc(1, sizeof **ids);
    *count = out.n;
    return *ids ? VLM_OK : vlm_error_set(err, VLM_ERR_NOMEM, "BPE tokenizer: out of memory");
}

vlm_status vlm_bpe_tokenize(const vlm_bpe *b, const char *text, int context_length, int32_t *out,
                            vlm_error *err) {
    if (context_length < 2)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "BPE tokenizer: context length %d (at least 2: sot and eot)",
                             context_length);
    ibuf ids = {0};
    /* Only the first context_length - 2 ids can be kept; encoding stops soon after. */
    vlm_status st = encode(b, text, context_length, &ids, err);
    if (st != VLM_OK) {
        free(ids.v);
        return st;
    }
    memset(out, 0, (size_t)context_length * sizeof *out);
    out[0] = b->sot;
    int n = ids.n < context_length - 2 ? ids.n : context_length - 2;
    if (n > 0)
        memcpy(out + 1, ids.v, (size_t)n * sizeof *out);
    /* open_clip: tokens[:context_length] with the last replaced by eot; same as cutting the
     * body to context_length - 2 and appending eot. */
    out[1 + n] = b->eot;
    free(ids.v);
    return VLM_OK;
}
