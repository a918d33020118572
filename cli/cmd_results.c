/* vlmbench results: show a results file as a table, and merge shard files. */
#include "cli/cli.h"
#include "results/results.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char CMD[] = "results";

/* Prints "vlmbench results: MSG" and the usage on stderr; returns 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("vlmbench results: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    for (int i = 0; i < vlm_cli_command_count; i++)
        if (!strcmp(vlm_cli_commands[i].name, CMD))
            vlm_cli_usage(stderr, &vlm_cli_commands[i]);
    return VLM_EXIT_USAGE;
}

/* Reads path, printing the torn-line warning; returns 0 or the exit code. */
static int read_results(const char *path, vlm_results *r) {
    vlm_error err = {0};
    if (vlm_results_read(path, r, &err))
        return vlm_cli_fail(CMD, &err);
    if (r->skipped)
        fprintf(stderr, "vlmbench results: warning: %s\n", r->warning);
    return 0;
}

/* ---- show ------------------------------------------------------------------------------- */

typedef enum format { FMT_TABLE, FMT_MD, FMT_CSV, FMT_JSON } format;

enum { NCOLS = 14 };

static const struct column {
    const char *title; /* table and markdown */
    const char *csv;   /* csv header */
    bool numeric;      /* right-aligned */
} COLS[NCOLS] = {
    {"model", "model", false},
    {"res", "res", true},
    {"dtype", "dtype", false},
    {"threads", "threads", true},
    {"llm", "llm", false},
    {"tokens", "tokens", true},
    {"vision ms", "vision_ms", true},
    {"projector ms", "projector_ms", true},
    {"prefill ms", "prefill_ms", true},
    {"ttft ms", "ttft_ms", true},
    {"GMACs", "gmacs", true},
    {"GFLOP/s", "gflops", true},
    {"noisy", "noisy", false},
    {"status", "status", false},
};

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A formatted, malloc'd string; aborts on out-of-memory (a few bytes per cell). */
static char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("vlmbench results: out of memory\n", stderr);
        exit(VLM_EXIT_INTERNAL);
    }
    return s;
}

static bool number(const json_t *v, double *out) {
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* A string or integer field as text, or NULL. */
static char *scalar(const json_t *v) {
    if (json_is_string(v))
        return xprintf("%s", json_string_value(v));
    if (json_is_integer(v))
        return xprintf("%lld", (long long)json_integer_value(v));
    return NULL;
}

/* The median of a timing object {median, ..., estimated}, as text (NULL when absent). CSV
 * keeps full precision and no "~": the estimate shows in prefill_estimated. */
static char *timing(const json_t *t, bool csv, bool mark_estimate) {
    double median;
    if (!number(json_object_get((json_t *)t, "median"), &median))
        return NULL;
    bool est = mark_estimate && json_is_true(json_object_get((json_t *)t, "estimated"));
    return csv ? xprintf("%.6g", median) : xprintf("%s%.2f", est ? "~" : "", median);
}

/* The cells of one record (owned strings, NULL for a missing field). */
static void row_cells(json_t *rec, bool csv, char *cells[NCOLS]) {
    json_t *vision = json_object_get(rec, "vision_ms");
    json_t *projector = json_object_get(rec, "projector_ms");
    json_t *prefill = json_object_get(rec, "prefill_ms");
    double ttft, macs, vision_med;
    bool have_macs = number(json_object_get(rec, "macs"), &macs);

    cells[0] = scalar(json_object_get(rec, "model"));
    cells[1] = scalar(json_object_get(rec, "res"));
    json_t *h = json_object_get(rec, "height"), *w = json_object_get(rec, "width");
    if (!cells[1] && json_is_integer(h) && json_is_integer(w))
        cells[1] = xprintf("%lldx%lld", (long long)json_integer_value(h),
                           (long long)json_integer_value(w));
    cells[2] = scalar(json_object_get(rec, "dtype"));
    cells[3] = scalar(json_object_get(rec, "threads"));
    cells[4] = scalar(json_object_get(rec, "llm"));
    cells[5] = scalar(json_object_get(rec, "tokens"));
    cells[6] = timing(vision, csv, false);
    cells[7] = timing(projector, csv, false);
    cells[8] = timing(prefill, csv, true);
    cells[9] = number(json_object_get(rec, "ttft_ms"), &ttft)
                   ? (csv ? xprintf("%.6g", ttft) : xprintf("%.2f", ttft))
                   : NULL;
    cells[10] =
        have_macs ? (csv ? xprintf("%.6g", macs / 1e9) : xprintf("%.2f", macs / 1e9)) : NULL;
    /* 2 FLOPs per MAC; ms -> s and FLOP -> GFLOP: 2 * macs / (ms * 1e-3) / 1e9 */
    cells[11] =
        have_macs && number(json_object_get(vision, "median"), &vision_med) && vision_med > 0
            ? (csv ? xprintf("%.6g", 2 * macs / vision_med / 1e6)
                   : xprintf("%.1f", 2 * macs / vision_med / 1e6))
            : NULL;
    json_t *parts[] = {vision, projector, prefill};
    int known = 0, noisy = 0;
    for (int i = 0; i < 3; i++) {
        json_t *n = json_object_get(parts[i], "noisy");
        known += json_is_boolean(n);
        noisy += json_is_true(n);
    }
    cells[12] = known ? xprintf("%s", noisy ? "yes" : "no") : NULL;
    cells[13] = scalar(json_object_get(rec, "status"));
}

/* Writes s as one CSV field (RFC 4180: quoted when it holds a comma, quote or line break). */
static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* Writes s as a markdown table cell: '|' escaped, line breaks as spaces. */
static void md_cell(const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", stdout);
        else if (*s == '\n' || *s == '\r')
            putchar(' ');
        else
            putchar(*s);
    }
}

static void show_csv(const vlm_results *r) {
    for (int c = 0; c < NCOLS; c++) {
        fputs(COLS[c].csv, stdout);
        fputs(c == 8 ? ",prefill_estimated," : c + 1 < NCOLS ? "," : "\n", stdout);
    }
    for (int i = 0; i < r->n; i++) {
        char *cells[NCOLS];
        row_cells(r->records[i], true, cells);
        for (int c = 0; c < NCOLS; c++) {
            csv_field(cells[c] ? cells[c] : "");
            if (c == 8) {
                json_t *est =
                    json_object_get(json_object_get(r->records[i], "prefill_ms"), "estimated");
                printf(",%s", json_is_boolean(est) ? (json_is_true(est) ? "true" : "false") : "");
            }
            fputs(c + 1 < NCOLS ? "," : "\n", stdout);
            free(cells[c]);
        }
    }
}

static void show_md(const vlm_results *r) {
    for (int c = 0; c < NCOLS; c++)
        printf("| %s ", COLS[c].title);
    puts("|");
    for (int c = 0; c < NCOLS; c++)
        fputs(COLS[c].numeric ? "|---:" : "|---", stdout);
    puts("|");
    for (int i = 0; i < r->n; i++) {
        char *cells[NCOLS];
        row_cells(r->records[i], false, cells);
        for (int c = 0; c < NCOLS; c++) {
            fputs("| ", stdout);
            md_cell(cells[c] ? cells[c] : "-");
            putchar(' ');
            free(cells[c]);
        }
        puts("|");
    }
}

static int show_table(const vlm_results *r) {
    char **cells = calloc((size_t)r->n * NCOLS + 1, sizeof *cells);
    if (!cells) {
        fputs("vlmbench results: out of memory\n", stderr);
        return VLM_EXIT_INTERNAL;
    }
    int width[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(COLS[c].title);
    for (int i = 0; i < r->n; i++) {
        row_cells(r->records[i], false, cells + (size_t)i * NCOLS);
        for (int c = 0; c < NCOLS; c++) {
            const char *s = cells[(size_t)i * NCOLS + c];
            int len = (int)strlen(s ? s : "-");
            if (len > width[c])
                width[c] = len;
        }
    }
    for (int row = -1; row < r->n; row++) {
        for (int c = 0; c < NCOLS; c++) {
            const char *s = row < 0 ? COLS[c].title : cells[(size_t)row * NCOLS + c];
            if (!s)
                s = "-";
            if (c + 1 == NCOLS) /* last column: no trailing padding */
                printf("%s\n", s);
            else
                printf(COLS[c].numeric ? "%*s  " : "%-*s  ", width[c], s);
        }
    }
    for (size_t i = 0; i < (size_t)r->n * NCOLS; i++)
        free(cells[i]);
    free(cells);
    return VLM_EXIT_OK;
}

static int cmd_show(int argc, char **argv) {
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
    format fmt = FMT_TABLE;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'f')
            return c == '?' && optopt == 'f' ? usage_error("--format wants table, md, csv or json")
                                             : vlm_cli_bad_option(CMD, argv[optind - 1]);
        static const char *const names[] = {"table", "md", "csv", "json"};
        int k = 0;
        while (k < 4 && strcmp(optarg, names[k]))
            k++;
        if (k == 4)
            return usage_error("unknown --format '%s': expected table, md, csv or json", optarg);
        fmt = (format)k;
    }
    if (optind == argc)
        return usage_error("show: missing the results FILE");
    if (optind + 1 < argc)
        return vlm_cli_bad_option(CMD, argv[optind + 1]);

    vlm_results r;
    int rc = read_results(argv[optind], &r);
    if (rc)
        return rc;
    switch (fmt) {
    case FMT_TABLE: rc = show_table(&r); break;
    case FMT_MD: show_md(&r); break;
    case FMT_CSV: show_csv(&r); break;
    case FMT_JSON: {
        json_t *arr = json_array();
        for (int i = 0; arr && i < r.n; i++)
            if (json_array_append(arr, r.records[i]))
                json_decref(arr), arr = NULL;
        if (!arr || json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
            fputs("vlmbench results: out of memory\n", stderr);
            rc = VLM_EXIT_INTERNAL;
        } else {
            putchar('\n');
        }
        json_decref(arr);
        break;
    }
    }
    vlm_results_free(&r);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "vlmbench results: cannot write the output: %s\n", strerror(errno));
        return VLM_EXIT_INTERNAL;
    }
    return rc;
}

/* ---- merge ------------------------------------------------------------------------------ */

typedef struct keyed {
    char *key; /* owned config key */
    int file;  /* index of the input */
    int rec;   /* index of the record in its input */
} keyed;

static int keyed_cmp(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->file != y->file ? (x->file > y->file) - (x->file < y->file)
                              : (x->rec > y->rec) - (x->rec < y->rec);
}

/* Reports on stderr the config indices 0..T-1 that no record's "config_index" covers, when
 * the records carry "shard": {"k", "n", "total": T}. */
static void report_missing(vlm_results *in, int nin, char **names) {
    long long total = -1;
    const char *total_file = NULL;
    unsigned char *seen = NULL;
    for (int f = 0; f < nin; f++) {
        for (int i = 0; i < in[f].n; i++) {
            json_t *rec = in[f].records[i];
            json_t *t = json_object_get(json_object_get(rec, "shard"), "total");
            json_t *idx = json_object_get(rec, "config_index");
            if (!json_is_integer(t) || !json_is_integer(idx))
                continue;
            long long tv = json_integer_value(t), iv = json_integer_value(idx);
            if (total < 0) {
                if (tv <= 0 || tv > (1 << 24)) {
                    fprintf(stderr,
                            "vlmbench results: warning: %s: shard total %lld is not a "
                            "config count; not checking for missing configs\n",
                            names[f], tv);
                    return;
                }
                total = tv;
                total_file = names[f];
                seen = calloc((size_t)total, 1);
                if (!seen)
                    return;
            } else if (tv != total) {
                fprintf(stderr,
                        "vlmbench results: warning: the shards disagree on the config "
                        "count (%lld in %s, %lld in %s): not the same sweep? not "
                        "checking for missing configs\n",
                        total, total_file, tv, names[f]);
                free(seen);
                return;
            }
            if (iv < 0 || iv >= total)
                fprintf(stderr,
                        "vlmbench results: warning: %s: config_index %lld outside "
                        "0..%lld\n",
                        names[f], iv, total - 1);
            else
                seen[iv] = 1;
        }
    }
    if (!seen)
        return;
    long long missing = 0;
    for (long long i = 0; i < total; i++)
        missing += !seen[i];
    if (missing) {
        fputs("vlmbench results: missing configs: ", stderr);
        const char *sep = "";
        for (long long i = 0; i < total; i++)
            if (!seen[i]) {
                fprintf(stderr, "%s%lld", sep, i);
                sep = ", ";
            }
        fprintf(stderr, " (%lld of the %lld configs of the sweep)\n", missing, total);
    }
    free(seen);
}

/* Writes every record of in[] to out atomically (out.tmp, fsync, rename). */
static int write_merged(const char *out, vlm_results *in, int nin) {
    char *tmp = xprintf("%s.tmp", out);
    int rc = VLM_EXIT_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "vlmbench results: error: %s: cannot create: %s\n", tmp, strerror(errno));
        free(tmp);
        return VLM_EXIT_USAGE;
    }
    for (int k = 0; k < nin && !rc; k++)
        for (int i = 0; i < in[k].n && !rc; i++)
            if (json_dumpf(in[k].records[i], f, JSON_COMPACT | JSON_PRESERVE_ORDER) ||
                fputc('\n', f) == EOF)
                rc = VLM_EXIT_USAGE;
    if (!rc && (fflush(f) || fsync(fileno(f))))
        rc = VLM_EXIT_USAGE;
    int saved = errno;
    if (fclose(f) && !rc)
        rc = VLM_EXIT_USAGE, saved = errno;
    if (!rc && rename(tmp, out))
        rc = VLM_EXIT_USAGE, saved = errno;
    if (rc) {
        fprintf(stderr, "vlmbench results: error: %s: cannot write: %s\n", tmp, strerror(saved));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static int cmd_merge(int argc, char **argv) {
    static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {0}};
    bool force = false;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'f')
            return vlm_cli_bad_option(CMD, argv[optind - 1]);
        force = true;
    }
    if (argc - optind < 2)
        return usage_error("merge: wants OUT and at least one input file");
    const char *out = argv[optind];
    char **names = argv + optind + 1;
    int nin = argc - optind - 1;
    struct stat sb;
    if (!force && stat(out, &sb) == 0) {
        fprintf(stderr, "vlmbench results: error: %s exists; --force overwrites it\n", out);
        return VLM_EXIT_USAGE;
    }

    vlm_results *in = calloc((size_t)nin, sizeof *in);
    if (!in)
        return VLM_EXIT_INTERNAL;
    int rc = VLM_EXIT_OK, total = 0;
    for (int f = 0; f < nin && !rc; f++) {
        rc = read_results(names[f], &in[f]);
        total += rc ? 0 : in[f].n;
    }
    keyed *keys = rc ? NULL : calloc((size_t)total + 1, sizeof *keys);
    if (!rc && !keys)
        rc = VLM_EXIT_INTERNAL;
    int nkeys = 0;
    for (int f = 0; f < nin && !rc; f++)
        for (int i = 0; i < in[f].n && !rc; i++) {
            char *k = vlm_results_config_key(in[f].records[i]);
            if (!k)
                rc = VLM_EXIT_INTERNAL;
            else
                keys[nkeys++] = (keyed){k, f, i};
        }
    if (!rc) {
        qsort(keys, (size_t)nkeys, sizeof *keys, keyed_cmp);
        for (int i = 1; i < nkeys; i++) {
            if (strcmp(keys[i - 1].key, keys[i].key))
                continue;
            const keyed *a = &keys[i - 1], *b = &keys[i];
            if (a->file == b->file)
                fprintf(stderr,
                        "vlmbench results: error: duplicate config in %s (records %d and %d): "
                        "%s\n",
                        names[a->file], a->rec + 1, b->rec + 1, a->key);
            else
                fprintf(stderr,
                        "vlmbench results: error: duplicate config in %s (record %d) and %s "
                        "(record %d): %s\n",
                        names[a->file], a->rec + 1, names[b->file], b->rec + 1, a->key);
            rc = VLM_EXIT_USAGE;
            break;
        }
    }
    if (!rc) {
        report_missing(in, nin, names);
        rc = write_merged(out, in, nin);
    }
    if (!rc)
        fprintf(stderr, "vlmbench results: merged %d records from %d files into %s\n", total, nin,
                out);
    for (int i = 0; i < nkeys; i++)
        free(keys[i].key);
    free(keys);
    for (int f = 0; f < nin; f++)
        vlm_results_free(&in[f]);
    free(in);
    return rc;
}

int vlm_cmd_results(int argc, char **argv) {
    if (argc < 2)
        return usage_error("missing the subcommand: show or merge");
    if (!strcmp(argv[1], "show"))
        return cmd_show(argc - 1, argv + 1);
    if (!strcmp(argv[1], "merge"))
        return cmd_merge(argc - 1, argv + 1);
    return usage_error("unknown subcommand '%s': expected show or merge", argv[1]);
}
