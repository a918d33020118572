/* Private to plots/: one chart's files (NAME.dat, NAME.gp from a template, the images) and
 * gnuplot. See plots/gnuplot.c. */
#ifndef VLM_PLOTS_CHART_H
#define VLM_PLOTS_CHART_H

#include "plots/plots.h"

#include <stdio.h>

enum { VLM_CHART_MAX_VARS = 48, VLM_CHART_PATH = 4096, VLM_CHART_W = 1280, VLM_CHART_H = 800 };

typedef struct vlm_chart {
    const char *dir;                      /* borrowed: the folder of the chart's files */
    char name[128];                       /* file stem: NAME.dat, NAME.gp, NAME.png, NAME.svg */
    FILE *dat;                            /* open NAME.dat.tmp between dat_open and dat_commit */
    const char *keys[VLM_CHART_MAX_VARS]; /* placeholder names (borrowed literals) */
    char *vals[VLM_CHART_MAX_VARS];       /* owned values, inserted verbatim */
    int nvars;
} vlm_chart;

/* Sets placeholder @key@ (key: a string literal) to a printf-formatted value. */
void vlm_chart_set(vlm_chart *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets @key@ to text as a single-quoted gnuplot string. */
void vlm_chart_set_string(vlm_chart *c, const char *key, const char *text);
/* Frees the values; removes NAME.dat.tmp when still open. */
void vlm_chart_free(vlm_chart *c);

/* NAME.dat.tmp for writing (also in c->dat); NULL with err set on failure. */
FILE *vlm_chart_dat_open(vlm_chart *c, vlm_error *err);
/* Closes it and renames it to NAME.dat. */
vlm_status vlm_chart_dat_commit(vlm_chart *c, vlm_error *err);

/* Writes NAME.gp from plots/templates/TEMPLATE.gp (embedded), drawing the given formats.
 * Sets @OUTPUT@, @OUTPUT_MORE@, @IMAGES@, @CHART@, @TEMPLATE@ and @DATA@ itself. */
vlm_status vlm_chart_write_gp(vlm_chart *c, const char *template_name, int formats, vlm_error *err);

/* Runs `GNUPLOT NAME.gp` in c->dir. gnuplot cannot be started: *missing = 1, VLM_OK.
 * Failure (non-zero exit, an image not drawn): VLM_ERR_INTERNAL with gnuplot's message, and
 * the chart's images removed. Adds the images drawn
 * to *images. */
vlm_status vlm_chart_run_gnuplot(const vlm_chart *c, const char *gnuplot, int formats, int *missing,
                                 int *images, vlm_error *err);

#endif /* VLM_PLOTS_CHART_H */
