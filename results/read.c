/* The results reader and the configuration key of a record. */
#include "results/results.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(vlm_results *r, int *cap, json_t *rec) {
    if (r->n == *cap) {
        int ncap = *cap ? 2 * *cap : 64;
        json_t **nv = realloc(r->records, (size_t)ncap * sizeof *nv);
        if (!nv)
            return -1;
        r->records = nv;
        *cap = ncap;
    }
    r->records[r->n++] = rec;
    return 0;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

vlm_status vlm_results_read(const char *path, vlm_results *out, vlm_error *err) {
    *out = (vlm_results){0};
    uint8_t *data = NULL;
    size_t len = 0;
    /* a results store of years of CI runs stays far below 1 GiB */
    vlm_status st = vlm_read_file(path, &data, &len, (size_t)1 << 30, err);
    char *text = (char *)data;
    if (st)
        return st;
    int cap = 0, lineno = 0;
    for (size_t pos = 0; pos < len && !st;) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        if (blank(line, n))
            continue;
        if (!nl) {
            /* a writer killed mid-record: append writes the newline with the record */
            out->skipped++;
            snprintf(out->warning, sizeof out->warning,
                     "%s:%d: ignored an incomplete last line (no trailing newline: a writer "
                     "killed mid-record?)",
                     path, lineno);
            break;
        }
        json_error_t jerr;
        json_t *rec = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!rec && pos >= len) {
            out->skipped++;
            snprintf(out->warning, sizeof out->warning,
                     "%s:%d: ignored an incomplete last line (not valid JSON: %s)", path, lineno,
                     jerr.text);
            break;
        }
        if (!rec) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: not valid JSON: %s (column %d)", path,
                               lineno, jerr.text, jerr.column);
            break;
        }
        json_t *schema = json_object_get(rec, "schema");
        if (!json_is_object(rec))
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: a record must be a JSON object", path,
                               lineno);
        else if (!json_is_integer(schema) || json_integer_value(schema) < 1)
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s:%d: the record has no \"schema\" version (a positive integer)",
                               path, lineno);
        else if (json_integer_value(schema) > VLM_RESULTS_SCHEMA)
            st = vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                               "%s:%d: record schema %lld is newer than this build's %d: update "
                               "vlmbench to read it",
                               path, lineno, (long long)json_integer_value(schema),
                               VLM_RESULTS_SCHEMA);
        else if (push(out, &cap, rec))
            st = vlm_error_set(err, VLM_ERR_NOMEM, "%s:%d: out of memory", path, lineno);
        if (st)
            json_decref(rec);
    }
    free(text);
    if (st)
        vlm_results_free(out);
    return st;
}

void vlm_results_free(vlm_results *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n; i++)
        json_decref(r->records[i]);
    free(r->records);
    *r = (vlm_results){0};
}

/* ---- configuration key ------------------------------------------------------------------ */

typedef struct strbuf {
    char *s;
    size_t n, cap;
    int oom;
} strbuf;

static void put(strbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 128;
        while (b->n + n + 1 > ncap)
            ncap *= 2;
        char *ns = realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

/* A string value with '\' and '|' escaped, so fields cannot run into each other. */
static void put_escaped(strbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '|')
            put(b, "\\", 1);
        put(b, s, 1);
    }
}

/* One field of the key: strings as they are, numbers in decimal (integral reals as integers),
 * booleans as true/false, anything else (missing, null, objects) as fallback. */
static void put_value(strbuf *b, const json_t *v, const char *fallback) {
    char num[64];
    if (json_is_string(v)) {
        put_escaped(b, json_string_value(v));
        return;
    }
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 1e15)
            snprintf(num, sizeof num, "%.0f", d);
        else
            snprintf(num, sizeof num, "%.17g", d);
    } else if (json_is_boolean(v)) {
        snprintf(num, sizeof num, "%s", json_is_true(v) ? "true" : "false");
    } else {
        put_escaped(b, fallback);
        return;
    }
    put(b, num, strlen(num));
}

char *vlm_results_config_key(const json_t *record) {
    strbuf b = {0};
    json_t *rec = (json_t *)record; /* jansson's getters take non-const */
    put_value(&b, json_object_get(rec, "model"), "");
    put(&b, "|", 1);
    json_t *res = json_object_get(rec, "res");
    if (res && !json_is_null(res)) {
        put_value(&b, res, "");
    } else {
        put_value(&b, json_object_get(rec, "height"), "");
        put(&b, "x", 1);
        put_value(&b, json_object_get(rec, "width"), "");
    }
    put(&b, "|", 1);
    put_value(&b, json_object_get(rec, "dtype"), "");
    put(&b, "|", 1);
    put_value(&b, json_object_get(rec, "threads"), "");
    put(&b, "|", 1);
    put_value(&b, json_object_get(rec, "llm"), "none");
    put(&b, "|", 1);
    put_value(&b, json_object_get(rec, "prefill_tokens"), "0");
    put(&b, "|", 1);
    /* weights: "synthetic:SEED" or a path as a string; {path, sha256}: the content's hash */
    json_t *w = json_object_get(rec, "weights");
    if (json_is_object(w)) {
        json_t *sha = json_object_get(w, "sha256");
        put_value(&b, sha ? sha : json_object_get(w, "path"), "synthetic");
    } else {
        put_value(&b, w, "synthetic");
    }
    json_t *env = json_object_get(rec, "env");
    const char *env_fields[] = {"cpu", "onednn", "onednn_isa"};
    for (int i = 0; i < 3; i++) {
        put(&b, "|", 1);
        put_value(&b, json_object_get(env, env_fields[i]), "");
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
