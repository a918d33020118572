/* The .suite parser: one directive per line (format in suites/README.md). */
#include "suites/suites.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TOKENS = 16 };

/* The state of one parse: where we are, for "FILE:LINE: ..." messages. */
typedef struct parser {
    const char *path;
    int line;
    vlm_suite *s;
    vlm_error *err;
    unsigned seen; /* bit per directive already given (all but grid appear at most once) */
    int grid_line[VLM_SUITE_MAX]; /* the line of each grid, for overlap messages */
} parser;

static vlm_status fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static vlm_status fail(parser *p, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vlm_error_set(p->err, VLM_ERR_FORMAT, "%s:%d: %s", p->path, p->line, msg);
}

static vlm_status oom(parser *p) {
    return vlm_error_set(p->err, VLM_ERR_NOMEM, "%s:%d: out of memory", p->path, p->line);
}

/* Splits a comma list in place into items (NUL-terminated pointers into text). Empty items
 * and more than VLM_SUITE_MAX items are errors naming what; duplicates too. */
static vlm_status split_list(parser *p, const char *what, char *text, char **items, int *n) {
    *n = 0;
    for (char *item = text;;) {
        char *comma = strchr(item, ',');
        if (comma)
            *comma = '\0';
        if (!*item)
            return fail(p, "empty item in the %s list", what);
        if (*n == VLM_SUITE_MAX)
            return fail(p, "more than %d items in the %s list", VLM_SUITE_MAX, what);
        for (int i = 0; i < *n; i++)
            if (!strcmp(items[i], item))
                return fail(p, "%s '%s' appears twice", what, item);
        items[(*n)++] = item;
        if (!comma)
            return VLM_OK;
        item = comma + 1;
    }
}

static vlm_status copy_names(parser *p, char **items, int n, char **dst, int *ndst) {
    for (int i = 0; i < n; i++) {
        if (!(dst[i] = strdup(items[i])))
            return oom(p);
        *ndst = i + 1;
    }
    return VLM_OK;
}

/* A whole-token decimal integer in [lo, hi]. */
static vlm_status parse_int(parser *p, const char *what, const char *text, long lo, long hi,
                            int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return fail(p, "bad number '%s' for %s: expected an integer from %ld to %ld", text, what,
                    lo, hi);
    *out = (int)v;
    return VLM_OK;
}

/* A whole-token decimal number of seconds in [lo, hi]. */
static vlm_status parse_seconds(parser *p, const char *what, const char *text, double lo, double hi,
                                double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi)
        return fail(p, "bad number '%s' for %s: expected seconds from %g to %g", text, what, lo,
                    hi);
    *out = v;
    return VLM_OK;
}

/* Each directive handler gets the tokens after the directive's name. */

static vlm_status do_name(parser *p, char **tok, int n) {
    if (n == 0)
        return fail(p, "missing value: name NAME");
    if (n > 1)
        return fail(p, "unexpected '%s': a name is one word", tok[1]);
    const char *name = tok[0];
    if (strlen(name) >= sizeof p->s->name)
        return fail(p, "name '%s' is longer than %zu characters", name, sizeof p->s->name - 1);
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return fail(p, "name '%s' may use only letters, digits, '-', '_' and '.'", name);
    strcpy(p->s->name, name);
    return VLM_OK;
}

static vlm_status do_grid(parser *p, char **tok, int n) {
    if (n == 0)
        return fail(p, "missing value: grid MODEL[,MODEL...] res GRID");
    if (n == 1)
        return fail(p, "missing 'res GRID' after the models");
    if (strcmp(tok[1], "res"))
        return fail(p, "expected 'res' after the models, got '%s'", tok[1]);
    if (n == 2)
        return fail(p, "missing value after 'res': a resolution grid like 256..1152");
    if (n > 3)
        return fail(p, "unexpected '%s' after the resolution grid", tok[3]);
    vlm_suite *s = p->s;
    if (s->ngrids == VLM_SUITE_MAX)
        return fail(p, "more than %d grid lines", VLM_SUITE_MAX);
    char *items[VLM_SUITE_MAX];
    int nitems;
    vlm_status st = split_list(p, "model", tok[0], items, &nitems);
    if (st)
        return st;
    for (int i = 0; i < nitems; i++) {
        const vlm_model_info *m = vlm_model_find(items[i]);
        if (!m)
            return fail(p, "unknown model '%s' (see `vlmbench models`)", items[i]);
        if (strcmp(m->kind, "vision"))
            return fail(p, "model '%s' is not a vision model (kind %s)", items[i], m->kind);
    }
    vlm_suite_grid *g = &s->grids[s->ngrids++];
    if ((st = copy_names(p, items, nitems, g->models, &g->nmodels)))
        return st;
    vlm_error rerr = {0};
    if (vlm_res_list_parse(tok[2], 64, &g->res, &rerr))
        return rerr.status == VLM_ERR_NOMEM ? oom(p) : fail(p, "%s", rerr.msg);
    p->grid_line[s->ngrids - 1] = p->line;
    /* the same model at the same size twice would be the same config twice */
    for (int o = 0; o < s->ngrids - 1; o++)
        for (int m = 0; m < g->nmodels; m++)
            for (int om = 0; om < s->grids[o].nmodels; om++) {
                if (strcmp(g->models[m], s->grids[o].models[om]))
                    continue;
                for (int r = 0; r < g->res.n; r++)
                    for (int orr = 0; orr < s->grids[o].res.n; orr++)
                        if (g->res.v[r] == s->grids[o].res.v[orr])
                            return fail(p, "%s at %d is already in the grid of line %d",
                                        g->models[m], g->res.v[r], p->grid_line[o]);
            }
    return VLM_OK;
}

static vlm_status do_llm(parser *p, char **tok, int n) {
    if (n == 0)
        return fail(p, "missing value: llm NAME[,NAME...] or none");
    if (n > 1)
        return fail(p, "unexpected '%s': llm takes one comma list", tok[1]);
    char *items[VLM_SUITE_MAX];
    int nitems;
    vlm_status st = split_list(p, "llm", tok[0], items, &nitems);
    if (st)
        return st;
    for (int i = 0; i < nitems; i++) {
        if (!strcmp(items[i], "none"))
            continue;
        const vlm_model_info *m = vlm_model_find(items[i]);
        if (!m)
            return fail(p, "unknown LLM '%s' (see `vlmbench models`)", items[i]);
        if (strcmp(m->kind, "llm"))
            return fail(p, "model '%s' is not an LLM (kind %s)", items[i], m->kind);
    }
    return copy_names(p, items, nitems, p->s->llms, &p->s->nllms);
}

static vlm_status do_dtype(parser *p, char **tok, int n) {
    if (n == 0)
        return fail(p, "missing value: dtype f32[,bf16]");
    if (n > 1)
        return fail(p, "unexpected '%s': dtype takes one comma list", tok[1]);
    char *items[VLM_SUITE_MAX];
    int nitems;
    vlm_status st = split_list(p, "dtype", tok[0], items, &nitems);
    if (st)
        return st;
    for (int i = 0; i < nitems; i++) {
        vlm_dtype d;
        if (vlm_dtype_parse(items[i], &d, NULL))
            return fail(p, "unknown dtype '%s': expected f32 or bf16", items[i]);
        /* two dtypes exist and split_list refused duplicates: a third item is unknown */
        p->s->dtypes[p->s->ndtypes++] = d;
    }
    return VLM_OK;
}

static vlm_status do_one_int(parser *p, const char *what, char **tok, int n, long lo, long hi,
                             int *out) {
    if (n != 1)
        return n ? fail(p, "unexpected '%s' after %s %s", tok[1], what, tok[0])
                 : fail(p, "missing value: %s N", what);
    return parse_int(p, what, tok[0], lo, hi, out);
}

static vlm_status do_threads(parser *p, char **tok, int n) {
    return do_one_int(p, "threads", tok, n, 1, 4096, &p->s->threads);
}

static vlm_status do_text_tokens(parser *p, char **tok, int n) {
    return do_one_int(p, "text-tokens", tok, n, 0, 1 << 20, &p->s->text_tokens);
}

static vlm_status do_reps(parser *p, char **tok, int n) {
    if (n == 0)
        return fail(p, "missing value: reps [warmup W] [min R] [time S] [max S]");
    vlm_suite *s = p->s;
    unsigned given = 0;
    for (int i = 0; i < n; i += 2) {
        static const char *const keys[] = {"warmup", "min", "time", "max"};
        int k = 0;
        while (k < 4 && strcmp(tok[i], keys[k]))
            k++;
        if (k == 4)
            return fail(p, "unknown reps key '%s': expected warmup, min, time or max", tok[i]);
        if (given & (1u << k))
            return fail(p, "reps key '%s' given twice", tok[i]);
        given |= 1u << k;
        if (i + 1 == n)
            return fail(p, "missing value after reps key '%s'", tok[i]);
        const char *v = tok[i + 1];
        vlm_status st = k == 0   ? parse_int(p, "reps warmup", v, 0, 1000000, &s->warmup)
                        : k == 1 ? parse_int(p, "reps min", v, 1, 100000000, &s->min_reps)
                        : k == 2 ? parse_seconds(p, "reps time", v, 0, 86400, &s->min_time_s)
                                 : parse_seconds(p, "reps max", v, 0, 86400, &s->max_time_s);
        if (st)
            return st;
        if (k == 3 && s->max_time_s == 0)
            return fail(p, "reps max must be more than 0 s");
    }
    if (s->min_time_s >= 0 && s->max_time_s >= 0 && s->max_time_s < s->min_time_s)
        return fail(p, "reps max %g s is less than reps time %g s", s->max_time_s, s->min_time_s);
    return VLM_OK;
}

static vlm_status do_task(parser *p, char **tok, int n) {
    if (n == 0)
        return fail(p, "missing value: task NAME[,NAME...]");
    if (n > 1)
        return fail(p, "unexpected '%s': task takes one comma list", tok[1]);
    char *items[VLM_SUITE_MAX];
    int nitems;
    vlm_status st = split_list(p, "task", tok[0], items, &nitems);
    return st ? st : copy_names(p, items, nitems, p->s->tasks, &p->s->ntasks);
}

static const struct directive {
    const char *name;
    vlm_status (*parse)(parser *p, char **tok, int n);
    int repeatable;
} DIRECTIVES[] = {
    {"name", do_name, 0},   {"grid", do_grid, 1},       {"llm", do_llm, 0},
    {"dtype", do_dtype, 0}, {"threads", do_threads, 0}, {"text-tokens", do_text_tokens, 0},
    {"reps", do_reps, 0},   {"task", do_task, 0},
};
enum { NDIRECTIVES = sizeof DIRECTIVES / sizeof DIRECTIVES[0] };

/* Parses one line (NUL-terminated, modified in place). */
static vlm_status parse_line(parser *p, char *line) {
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *tok[MAX_TOKENS];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\v\f", &save); t;
         t = strtok_r(NULL, " \t\r\v\f", &save)) {
        if (n == MAX_TOKENS)
            return fail(p, "too many words on one line (at most %d)", MAX_TOKENS);
        tok[n++] = t;
    }
    if (n == 0)
        return VLM_OK;
    for (int d = 0; d < (int)NDIRECTIVES; d++) {
        if (strcmp(tok[0], DIRECTIVES[d].name))
            continue;
        if (!DIRECTIVES[d].repeatable && (p->seen & (1u << d)))
            return fail(p, "duplicate '%s' directive (it may appear only once)", tok[0]);
        p->seen |= 1u << d;
        return DIRECTIVES[d].parse(p, tok + 1, n - 1);
    }
    return fail(p,
                "unknown directive '%s' (expected name, grid, llm, dtype, threads, "
                "text-tokens, reps or task)",
                tok[0]);
}

/* FNV-1a 64 of the bytes. */
static uint64_t fnv1a64(const unsigned char *b, size_t n) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

vlm_status vlm_suite_load(const char *path, vlm_suite *out, vlm_error *err) {
    *out = (vlm_suite){
        .text_tokens = -1, .warmup = -1, .min_reps = -1, .min_time_s = -1, .max_time_s = -1};
    uint8_t *data = NULL;
    size_t len = 0;
    vlm_status st = vlm_read_file(path, &data, &len, (size_t)16 << 20, err); /* 16 MiB */
    char *text = (char *)data;
    if (st) {
        *out = (vlm_suite){0};
        return st;
    }
    snprintf(out->hash, sizeof out->hash, "%016" PRIx64, fnv1a64((const unsigned char *)text, len));

    /* the last line's number, for problems of the whole file */
    int last_line = len && text[len - 1] != '\n';
    for (size_t i = 0; i < len; i++)
        last_line += text[i] == '\n';
    if (last_line == 0)
        last_line = 1;

    parser p = {.path = path, .s = out, .err = err};
    char *line = text;
    for (p.line = 1; line && !st; p.line++) {
        char *nl = memchr(line, '\n', len - (size_t)(line - text));
        if (nl)
            *nl = '\0';
        if (strlen(line) != (size_t)((nl ? nl : text + len) - line))
            st = fail(&p, "NUL byte in a text file");
        else
            st = parse_line(&p, line);
        line = nl ? nl + 1 : NULL;
    }
    if (!st && !out->name[0])
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: no 'name NAME' line in the suite", path,
                           last_line);
    if (!st && out->ngrids == 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s:%d: no 'grid MODEL[,MODEL...] res GRID' line in the suite", path,
                           last_line);
    free(text);
    if (st)
        vlm_suite_free(out);
    return st;
}

void vlm_suite_free(vlm_suite *s) {
    if (!s)
        return;
    for (int g = 0; g < s->ngrids; g++) {
        for (int i = 0; i < s->grids[g].nmodels; i++)
            free(s->grids[g].models[i]);
        vlm_int_list_free(&s->grids[g].res);
    }
    for (int i = 0; i < s->nllms; i++)
        free(s->llms[i]);
    for (int i = 0; i < s->ntasks; i++)
        free(s->tasks[i]);
    *s = (vlm_suite){0};
}
