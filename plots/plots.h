/*
 * vlmbench plots: the Pareto frontier, the papers' published numbers, and gnuplot charts
 * drawn from results files.
 *
 *   int idx[4];
 *   int n = vlm_pareto_frontier(cost_ms, top1, 4, idx);   // idx[0..n) by ascending cost
 *
 *   vlm_plot_params p = vlm_plot_default_params();
 *   p.out_dir = "charts";
 *   p.published = 1;
 *   vlm_plot_report rep;
 *   const char *files[] = {"results/run.jsonl"};
 *   if (vlm_plot_files(files, 1, &p, &rep, &err) == VLM_OK && rep.gnuplot_missing)
 *       ... only the .dat and .gp files were written ...
 */
#ifndef VLM_PLOTS_H
#define VLM_PLOTS_H

#include "engine/engine.h"

#include <jansson.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Pareto frontier ======================================================================= */

/* The non-dominated points of n (cost, score) pairs, cost minimised and score maximised.
 * A point is on the frontier when no other point has cost <= and score >= with at least
 * one strict. Ties: of several points with the same cost only the best score can be on the
 * frontier, of several with the same score only the cheapest. Exact duplicates (same cost and
 * score): only the lowest index is kept. Points with a NaN cost or score are ignored;
 * infinities are ordinary values. One point: it is the frontier; n <= 0: returns 0 (cost,
 * score and out may then be NULL). Writes the frontier's indices to out (room for n) in
 * strictly ascending cost and strictly ascending score, and returns their count, or -1 when
 * out of memory. */
int vlm_pareto_frontier(const double *cost, const double *score, int n, int *out);

/* ==== published numbers (the CSV files of results/published) =============================  */

/* One CSV file of results/published/: a header row, then rows of the same width. Every file
 * has a "source" column citing paper, table and repository, non-empty in every row. Files with
 * "vision_model", "res", "llm", "metric" and "score" columns are long tables (one score per
 * row: fastvlm.csv, convllava.csv); a file with a column named after a metric (mobileclip.csv:
 * "imagenet_top1") is a wide table for that metric, whatever the LLM. */
typedef struct vlm_published_table {
    char name[64]; /* the file name without ".csv": "fastvlm", "mobileclip", "convllava" */
    int ncols, nrows;
    char **cols;  /* owned: ncols header names */
    char **cells; /* owned: nrows * ncols strings, row-major */
} vlm_published_table;

typedef struct vlm_published {
    vlm_published_table *tables; /* owned, sorted by name */
    int n;
} vlm_published;

/* Loads the published tables: dir NULL, the copies embedded into the binary at build time;
 * otherwise every *.csv in dir. CSV as RFC 4180 (quoted fields with "" escapes, commas and
 * newlines inside quotes). VLM_ERR_FORMAT "FILE:LINE: ..." for a ragged row, an unterminated
 * quote, a missing "source" column or an empty source; VLM_ERR_IO for an unreadable dir or file.
 * On error out is left empty. */
vlm_status vlm_published_load(const char *dir, vlm_published *out, vlm_error *err);
void vlm_published_free(vlm_published *p);

/* The cell of row in column col (borrowed), or NULL when the table has no such column. */
const char *vlm_published_cell(const vlm_published_table *t, int row, const char *col);

/* The published score of metric for vision_model at res (pixels, square) with llm ("none" or
 * NULL for a vision-only record): from long tables, a row with the same vision_model, res,
 * metric and llm; from wide tables, a row with the same vision_model and res (llm ignored).
 * The first matching row in table order wins (so MobileCLIP's own row comes before
 * MobileCLIP2's for mci0 and mci2). *source and *name (may be NULL) get the row's "source"
 * and "model" cells (borrowed). NAN when nothing matches or the cell is not a number. */
double vlm_published_score(const vlm_published *p, const char *vision_model, int res,
                           const char *llm, const char *metric, const char **source,
                           const char **name);

/* ==== charts ================================================================================ */

enum { VLM_PLOT_PNG = 1, VLM_PLOT_SVG = 2 };

typedef struct vlm_plot_params {
    const char *out_dir;       /* borrowed; created if missing (one level); NULL: "<first file
                                  without .jsonl>-plots" */
    int formats;               /* VLM_PLOT_PNG | VLM_PLOT_SVG (default both) */
    int published;             /* 1: use results/published for accuracy records lack, and draw the
                                  MobileCLIP table on the zero-shot chart */
    const char *published_dir; /* borrowed; NULL: the embedded tables */
    const char *gnuplot;       /* borrowed; program to run (a name searched in PATH, or a path);
                                  NULL: $VLM_GNUPLOT when set, else "gnuplot" */
    FILE *log; /* notes for the user (what was split, skipped, written); NULL: none */
} vlm_plot_params;

vlm_plot_params vlm_plot_default_params(void);

typedef struct vlm_plot_report {
    int charts;          /* charts written (each a .dat and a .gp) */
    int images;          /* image files gnuplot drew */
    int groups;          /* machine fingerprints found (one folder each when more than one) */
    int gnuplot_missing; /* 1: gnuplot could not be started; only .dat and .gp were written */
    char out_dir[1024];  /* the output folder used */
} vlm_plot_report;

/* Draws every chart the records support into params->out_dir, each as NAME.dat (the numbers,
 * commented), NAME.gp (from a template of plots/templates, embedded at build time) and the
 * images NAME.png / NAME.svg drawn by running `gnuplot NAME.gp` in out_dir, which redraws
 * them exactly:
 *   ttft_<llm>          TTFT vs resolution per encoder, stacked preprocess/vision/projector/
 *                       prefill medians (one chart per LLM)
 *   tokens              visual tokens vs resolution per encoder
 *   vision_latency      vision encoder median vs resolution, log-log, 95% CI error bars
 *   pareto_<metric>_ttft_<llm>, pareto_<metric>_vision
 *                       accuracy vs TTFT / vision latency, labels model@res, the frontier
 *   zeroshot_in1k       ImageNet zero-shot top-1 vs image-encoder latency (MobileCLIP style)
 * Records: timing records (no "kind", "status": "ok") and eval records ("kind": "eval",
 * "model", optional "res" and "llm", "metrics"); other records are skipped with a note.
 * A timing record's accuracy comes from its own "metrics", else from the eval record of the
 * same model (and res, and llm, when the eval record gives them; one with res beats one
 * without), else (params->published) from vlm_published_score; such points are drawn as
 * published. Records of several fingerprints (env.cpu, threads, dtype, env.onednn,
 * env.onednn_isa, env.commit + dirty) are never mixed: each fingerprint's charts go to a
 * subfolder of out_dir named after it, listed in params->log. The same config (model, res,
 * llm) twice in one fingerprint: the later record is used, with a note.
 * gnuplot missing: .dat and .gp are still written, report->gnuplot_missing is set, VLM_OK.
 * Errors: VLM_ERR_INVALID when no record can be drawn; VLM_ERR_IO when a file cannot be
 * written (files are written to a temporary name and renamed); VLM_ERR_INTERNAL when gnuplot
 * fails on a chart (its message is in err; that chart's images are removed). records are
 * borrowed. */
vlm_status vlm_plot_records(json_t *const *records, int n, const vlm_plot_params *params,
                            vlm_plot_report *report, vlm_error *err);

/* Reads each results file with vlm_results_read (a torn last line is skipped with a note in
 * params->log) and draws their records together with vlm_plot_records. */
vlm_status vlm_plot_files(const char *const *paths, int n, const vlm_plot_params *params,
                          vlm_plot_report *report, vlm_error *err);

/* `vlmbench sweep --plot`: the charts of the results file path (PNG and SVG, measured
 * accuracy only) into out_dir (NULL: "<path without .jsonl>-plots"), notes on log. gnuplot
 * missing is a note, not an error. */
vlm_status vlm_plot_after_sweep(const char *path, const char *out_dir, FILE *log, vlm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VLM_PLOTS_H */
