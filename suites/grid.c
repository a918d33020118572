#include "suites/suites.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { RES_MAX = 16384 };

static int push(vlm_int_list *l, int *cap, int v) {
    if (l->n == *cap) {
        int ncap = *cap ? 2 * *cap : 16;
        int *nv = realloc(l->v, (size_t)ncap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        *cap = ncap;
    }
    l->v[l->n++] = v;
    return 0;
}

/* Parses a decimal integer in [1, max] at *s; advances *s only on success. */
static int parse_int(const char **s, long max, long *out) {
    if (**s < '0' || **s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(*s, &end, 10);
    if (errno || v <= 0 || v > max)
        return -1;
    *s = end;
    *out = v;
    return 0;
}

vlm_status vlm_res_list_parse(const char *text, int default_step, vlm_int_list *out,
                              vlm_error *err) {
    *out = (vlm_int_list){0};
    int cap = 0;
    if (!text || !*text)
        return vlm_error_set(err, VLM_ERR_INVALID, "empty resolution list ''");
    const char *s = text;
    for (;;) {
        const char *item = s;
        long a, b, step = 1; /* a single value: one step past b ends the loop */
        if (parse_int(&s, RES_MAX, &a))
            goto bad;
        b = a;
        if (!strncmp(s, "..", 2)) {
            step = default_step;
            s += 2;
            if (parse_int(&s, RES_MAX, &b))
                goto bad;
            if (b < a) {
                s = item;
                goto bad;
            }
            if (*s == ':') {
                s++;
                if (parse_int(&s, INT_MAX, &step))
                    goto bad;
            }
            if (step <= 0)
                goto bad;
        }
        for (long v = a; v <= b; v += step) {
            for (int i = 0; i < out->n; i++)
                if (out->v[i] == v) {
                    vlm_int_list_free(out);
                    return vlm_error_set(err, VLM_ERR_INVALID,
                                         "resolution %ld appears twice in '%s'", v, text);
                }
            if (push(out, &cap, (int)v)) {
                vlm_int_list_free(out);
                return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory parsing '%s'", text);
            }
        }
        if (*s == '\0')
            return VLM_OK;
        if (*s != ',')
            goto bad;
        s++;
    }
bad:
    vlm_int_list_free(out);
    return vlm_error_set(err, VLM_ERR_INVALID,
                         "bad resolution list '%s' near '%s': expected A..B, A..B:STEP or "
                         "A,B,C with positive integers up to %d and A <= B",
                         text, s, RES_MAX);
}

void vlm_int_list_free(vlm_int_list *l) {
    if (!l)
        return;
    free(l->v);
    *l = (vlm_int_list){0};
}
