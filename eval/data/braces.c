/* Shard lists: brace expansion as webdataset's braceexpand does it ("val-{000000..000049}.tar"). */
#include "eval/eval.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATHS 10000000

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int push(strvec *s, char *str) {
    if (!str)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            free(str);
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return 0;
}

void vlm_strings_free(char **v, size_t n) {
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char *concat3(const char *a, size_t na, const char *b, size_t nb, const char *c) {
    size_t nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

/* Parses "A..B" (optional sign, decimal digits) in [p, end); 1 on success. */
static int parse_range(const char *p, const char *end, long long *a, long long *b, int *width) {
    const char *dots = NULL;
    for (const char *q = p; q + 1 < end; q++)
        if (q[0] == '.' && q[1] == '.') {
            dots = q;
            break;
        }
    if (!dots)
        return 0;
    const char *parts[2][2] = {{p, dots}, {dots + 2, end}};
    long long v[2];
    int w = 0, pad = 0;
    for (int i = 0; i < 2; i++) {
        const char *s = parts[i][0], *e = parts[i][1];
        if (s < e && (*s == '-' || *s == '+'))
            s++;
        if (s == e || e - s > 18)
            return 0;
        for (const char *q = s; q < e; q++)
            if (!isdigit((unsigned char)*q))
                return 0;
        if (e - s > 1 && *s == '0')
            pad = 1;
        if ((int)(parts[i][1] - parts[i][0]) > w)
            w = (int)(parts[i][1] - parts[i][0]);
        v[i] = strtoll(parts[i][0], NULL, 10);
    }
    *a = v[0];
    *b = v[1];
    *width = pad ? w : 0;
    return 1;
}

/* Expands the first brace group of pattern into out, recursing on the rest. */
static vlm_status expand(const char *pattern, strvec *out, vlm_error *err) {
    const char *open = strchr(pattern, '{');
    const char *close_ = strchr(pattern, '}');
    if (!open) {
        if (close_)
            return vlm_error_set(err, VLM_ERR_INVALID, "'%s': unbalanced '}'", pattern);
        if (push(out, strdup(pattern)))
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory expanding braces");
        return VLM_OK;
    }
    /* The matching close brace (nested groups are not supported: braceexpand's are rare in
     * shard names). */
    const char *close = strchr(open + 1, '}');
    const char *nested = strchr(open + 1, '{');
    if (!close || (nested && nested < close) || (close_ && close_ < open))
        return vlm_error_set(err, VLM_ERR_INVALID, "'%s': unbalanced or nested braces", pattern);
    size_t pre = (size_t)(open - pattern);
    const char *rest = close + 1;
    long long a, b;
    int width;
    if (parse_range(open + 1, close, &a, &b, &width)) {
        long long count = (a <= b ? b - a : a - b) + 1;
        if (count > MAX_PATHS || (long long)out->n + count > MAX_PATHS)
            return vlm_error_set(err, VLM_ERR_INVALID, "'%s': range of more than %d items", pattern,
                                 MAX_PATHS);
        for (long long i = 0; i < count; i++) {
            long long v = a <= b ? a + i : a - i;
            char num[32];
            int k = v < 0 ? snprintf(num, sizeof num, "-%0*lld", width > 0 ? width - 1 : 0, -v)
                          : snprintf(num, sizeof num, "%0*lld", width, v);
            char *s = concat3(pattern, pre, num, (size_t)k, rest);
            if (!s)
                return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory expanding braces");
            vlm_status st = expand(s, out, err);
            free(s);
            if (st != VLM_OK)
                return st;
        }
        return VLM_OK;
    }
    /* A comma list; a group without comma or range stays literal, as in braceexpand. */
    if (!memchr(open + 1, ',', (size_t)(close - open - 1))) {
        char *lit = concat3(pattern, (size_t)(close - pattern + 1), "", 0, "");
        if (!lit)
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory expanding braces");
        strvec tail = {0};
        vlm_status st = expand(rest, &tail, err);
        for (size_t i = 0; st == VLM_OK && i < tail.n; i++)
            if (push(out, concat3(lit, strlen(lit), tail.v[i], strlen(tail.v[i]), "")))
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory expanding braces");
        vlm_strings_free(tail.v, tail.n);
        free(lit);
        return st;
    }
    const char *item = open + 1;
    for (;;) {
        const char *comma = memchr(item, ',', (size_t)(close - item));
        const char *end = comma ? comma : close;
        char *s = concat3(pattern, pre, item, (size_t)(end - item), rest);
        if (!s)
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory expanding braces");
        vlm_status st = expand(s, out, err);
        free(s);
        if (st != VLM_OK)
            return st;
        if (!comma)
            return VLM_OK;
        item = comma + 1;
    }
}

vlm_status vlm_expand_braces(const char *pattern, char ***paths, size_t *n, vlm_error *err) {
    *paths = NULL;
    *n = 0;
    strvec out = {0};
    vlm_status st = expand(pattern, &out, err);
    if (st != VLM_OK) {
        vlm_strings_free(out.v, out.n);
        return st;
    }
    *paths = out.v;
    *n = out.n;
    return VLM_OK;
}
