/* The papers' published numbers: the CSV files of results/published, embedded at build time or read
 * from a folder. */
#include "plots/embedded.h"
#include "plots/plots.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A growing array of owned strings. */
typedef struct strvec {
    char **v;
    int n, cap;
} strvec;

static int strvec_push(strvec *s, char *str) {
    if (!str)
        return -1;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **t = realloc(s->v, (size_t)cap * sizeof *t);
        if (!t) {
            free(str);
            return -1;
        }
        s->v = t;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return 0;
}

static void strvec_free(strvec *s) {
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void table_free(vlm_published_table *t) {
    for (int i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    for (long i = 0; i < (long)t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cols);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* Parses one RFC 4180 CSV text (LF or CRLF line ends; quoted fields may hold commas, quotes as
 * "" and newlines) into t. file names the source in messages. */
static vlm_status parse_csv(const char *file, const char *text, size_t len, vlm_published_table *t,
                            vlm_error *err) {
    strvec cells = {0}, row = {0};
    int line = 1, row_line = 1, ncols = -1, src = -1;
    size_t i = 0;
    char *field = malloc(len + 1);
    vlm_status st = VLM_OK;
    if (!field)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", file);
    while (i < len && st == VLM_OK) {
        /* one record: fields until an unquoted newline or the end */
        row_line = line;
        for (;;) {
            size_t k = 0;
            if (i < len && text[i] == '"') {
                i++;
                for (;;) {
                    if (i >= len) {
                        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: unterminated quoted field",
                                           file, row_line);
                        break;
                    }
                    if (text[i] == '"') {
                        if (i + 1 < len && text[i + 1] == '"') {
                            field[k++] = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    line += text[i] == '\n';
                    field[k++] = text[i++];
                }
                if (st == VLM_OK && i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
                    st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: text after a closing quote",
                                       file, line);
            } else {
                while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"') {
                        st = vlm_error_set(err, VLM_ERR_FORMAT,
                                           "%s:%d: a quote inside an unquoted field", file, line);
                        break;
                    }
                    field[k++] = text[i++];
                }
            }
            if (st != VLM_OK)
                break;
            field[k] = '\0';
            if (strvec_push(&row, strdup(field))) {
                st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", file);
                break;
            }
            if (i < len && text[i] == ',') {
                i++;
                continue;
            }
            if (i < len && text[i] == '\r')
                i++;
            if (i < len && text[i] == '\n') {
                i++;
                line++;
            }
            break;
        }
        if (st != VLM_OK)
            break;
        /* a blank line (one empty field) is skipped */
        if (row.n == 1 && row.v[0][0] == '\0') {
            strvec_free(&row);
            continue;
        }
        if (ncols < 0) {
            ncols = row.n;
            t->cols = row.v;
            t->ncols = row.n;
            memset(&row, 0, sizeof row);
            /* every published number names where it was read */
            for (int c = 0; c < ncols; c++)
                if (!strcmp(t->cols[c], "source"))
                    src = c;
            if (src < 0)
                st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no \"source\" column", file);
            continue;
        }
        if (row.n != ncols) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: %d fields, the header has %d", file,
                               row_line, row.n, ncols);
            break;
        }
        for (int c = 0; c < row.n && st == VLM_OK; c++) {
            if (strvec_push(&cells, row.v[c]))
                st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", file);
            row.v[c] = NULL;
        }
        strvec_free(&row);
        t->nrows++;
        if (st == VLM_OK && !cells.v[(long)(t->nrows - 1) * ncols + src][0])
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d: empty source", file, row_line);
    }
    free(field);
    strvec_free(&row);
    if (st == VLM_OK && ncols < 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: empty file (no header)", file);
    if (st != VLM_OK) {
        strvec_free(&cells);
        for (int c = 0; c < t->ncols; c++)
            free(t->cols[c]);
        free(t->cols);
        memset(t, 0, sizeof *t);
    } else {
        t->cells = cells.v;
    }
    return st;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const vlm_published_table *)a)->name, ((const vlm_published_table *)b)->name);
}

/* Adds one parsed file to out. */
static vlm_status add_table(vlm_published *out, const char *path, const char *name,
                            const char *text, size_t len, vlm_error *err) {
    vlm_published_table *t = realloc(out->tables, (size_t)(out->n + 1) * sizeof *t);
    if (!t)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    out->tables = t;
    t = &out->tables[out->n];
    memset(t, 0, sizeof *t);
    size_t nl = strlen(name);
    if (nl > 4 && !strcmp(name + nl - 4, ".csv"))
        nl -= 4;
    snprintf(t->name, sizeof t->name, "%.*s", (int)nl, name);
    vlm_status st = parse_csv(path, text, len, t, err);
    if (st == VLM_OK)
        out->n++;
    return st;
}

static vlm_status load_dir(const char *dir, vlm_published *out, vlm_error *err) {
    DIR *d = opendir(dir);
    if (!d)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open the published-numbers folder", dir);
    vlm_status st = VLM_OK;
    struct dirent *e;
    while (st == VLM_OK && (e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl <= 4 || strcmp(e->d_name + nl - 4, ".csv"))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *buf = NULL;
        size_t len = 0;
        st = vlm_read_file(path, &buf, &len, (size_t)64 << 20, err);
        if (st == VLM_OK)
            st = add_table(out, path, e->d_name, (const char *)buf, len, err);
        free(buf);
    }
    closedir(d);
    return st;
}

vlm_status vlm_published_load(const char *dir, vlm_published *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_status st = VLM_OK;
    if (dir) {
        st = load_dir(dir, out, err);
    } else {
        for (int i = 0; i < vlm_published_files_count && st == VLM_OK; i++) {
            char path[128];
            snprintf(path, sizeof path, "results/published/%s (embedded)",
                     vlm_published_files[i].name);
            st = add_table(out, path, vlm_published_files[i].name, vlm_published_files[i].data,
                           (size_t)vlm_published_files[i].size, err);
        }
    }
    if (st != VLM_OK) {
        vlm_published_free(out);
        return st;
    }
    if (out->n > 1)
        qsort(out->tables, (size_t)out->n, sizeof *out->tables, by_name);
    return VLM_OK;
}

void vlm_published_free(vlm_published *p) {
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        table_free(&p->tables[i]);
    free(p->tables);
    memset(p, 0, sizeof *p);
}

static int column(const vlm_published_table *t, const char *col) {
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], col))
            return c;
    return -1;
}

const char *vlm_published_cell(const vlm_published_table *t, int row, const char *col) {
    int c = column(t, col);
    if (c < 0 || row < 0 || row >= t->nrows)
        return NULL;
    return t->cells[(long)row * t->ncols + c];
}

static double number(const char *s) {
    if (!s || !*s)
        return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

double vlm_published_score(const vlm_published *p, const char *vision_model, int res,
                           const char *llm, const char *metric, const char **source,
                           const char **name) {
    if (!llm)
        llm = "none";
    for (int ti = 0; p && ti < p->n; ti++) {
        const vlm_published_table *t = &p->tables[ti];
        int cm = column(t, "vision_model"), cr = column(t, "res");
        if (cm < 0 || cr < 0)
            continue;
        int cmetric = column(t, "metric"), cscore = column(t, "score"), cllm = column(t, "llm");
        int wide = column(t, metric);
        int is_long = cmetric >= 0 && cscore >= 0 && cllm >= 0;
        if (!is_long && wide < 0)
            continue;
        for (int r = 0; r < t->nrows; r++) {
            const char *const *row = (const char *const *)&t->cells[(long)r * t->ncols];
            if (strcmp(row[cm], vision_model) || number(row[cr]) != res)
                continue;
            double v;
            if (is_long) {
                if (strcmp(row[cmetric], metric) || strcmp(row[cllm], llm))
                    continue;
                v = number(row[cscore]);
            } else {
                v = number(row[wide]);
            }
            if (isnan(v))
                continue;
            if (source)
                *source = vlm_published_cell(t, r, "source");
            if (name)
                *name = vlm_published_cell(t, r, "model");
            return v;
        }
    }
    return NAN;
}
