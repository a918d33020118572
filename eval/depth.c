/* Depth estimation metrics (NYUv2): see eval.h, "depth estimation", for the rules. */
#include "eval/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Sums over valid pixels (one image, or the whole dataset). */
typedef struct depth_sums {
    int64_t n, n_log, d1, d2, d3;
    double sq, absrel, sqrel, log10, logsq, log_e, log_e2;
} depth_sums;

struct vlm_depth {
    vlm_depth_params p;
    int64_t n_images, n_empty, n_bad;
    depth_sums pooled;
    vlm_depth_values image_sum; /* sum of per-image values */
};

vlm_depth_params vlm_depth_default_params(void) {
    return (vlm_depth_params){.min_depth = 0, .max_depth = INFINITY};
}

vlm_status vlm_depth_create(const vlm_depth_params *params, vlm_depth **out, vlm_error *err) {
    *out = NULL;
    if (!(params->min_depth >= 0) || !(params->max_depth > params->min_depth))
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "depth range: need 0 <= min_depth < max_depth (got %g, %g)",
                             params->min_depth, params->max_depth);
    if (params->clamp_pred && !(params->min_depth > 0))
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "clamping predictions needs a positive min_depth (e.g. 1e-3)");
    vlm_depth *d = calloc(1, sizeof *d);
    if (!d)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    d->p = *params;
    *out = d;
    return VLM_OK;
}

void vlm_depth_destroy(vlm_depth *d) {
    free(d);
}

static vlm_depth_values values_of(const depth_sums *s) {
    if (s->n == 0)
        return (vlm_depth_values){NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    double n = (double)s->n, nl = (double)s->n_log;
    vlm_depth_values v = {
        .rmse = sqrt(s->sq / n),
        .abs_rel = s->absrel / n,
        .sq_rel = s->sqrel / n,
        .delta1 = s->d1 / n,
        .delta2 = s->d2 / n,
        .delta3 = s->d3 / n,
        .log10 = s->n_log ? s->log10 / nl : NAN,
        .rmse_log = s->n_log ? sqrt(s->logsq / nl) : NAN,
    };
    if (s->n_log) {
        double m = s->log_e / nl, var = s->log_e2 / nl - m * m;
        v.silog = 100 * sqrt(var > 0 ? var : 0);
    } else {
        v.silog = NAN;
    }
    return v;
}

static void add_sums(depth_sums *a, const depth_sums *b) {
    a->n += b->n;
    a->n_log += b->n_log;
    a->d1 += b->d1;
    a->d2 += b->d2;
    a->d3 += b->d3;
    a->sq += b->sq;
    a->absrel += b->absrel;
    a->sqrel += b->sqrel;
    a->log10 += b->log10;
    a->logsq += b->logsq;
    a->log_e += b->log_e;
    a->log_e2 += b->log_e2;
}

vlm_status vlm_depth_add(vlm_depth *d, const float *pred, const float *gt, int width, int height,
                         vlm_error *err) {
    int y0 = 0, y1 = height, x0 = 0, x1 = width;
    if (d->p.eigen_crop) {
        if (width != 640 || height != 480)
            return vlm_error_set(err, VLM_ERR_INVALID,
                                 "the Eigen crop needs 640x480 depth maps, not %dx%d", width,
                                 height);
        y0 = 45, y1 = 471, x0 = 41, x1 = 601;
    }
    const double lo = d->p.min_depth, hi = d->p.max_depth;
    const double t1 = 1.25, t2 = 1.25 * 1.25, t3 = 1.25 * 1.25 * 1.25;
    depth_sums s = {0};
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            size_t i = (size_t)y * width + x;
            double g = gt[i], p = pred[i];
            if (!isfinite(g) || !(g > lo) || !(g < hi))
                continue;
            if (d->p.clamp_pred) {
                if (isnan(p) || p < lo)
                    p = lo;
                else if (p > hi)
                    p = hi;
            }
            s.n++;
            if (!isfinite(p) || p <= 0) {
                d->n_bad++;
                if (isfinite(p)) {
                    double e = g - p;
                    s.sq += e * e;
                    s.absrel += fabs(e) / g;
                    s.sqrel += e * e / g;
                }
                continue;
            }
            double e = g - p, r = g > p ? g / p : p / g;
            s.sq += e * e;
            s.absrel += fabs(e) / g;
            s.sqrel += e * e / g;
            s.d1 += r < t1;
            s.d2 += r < t2;
            s.d3 += r < t3;
            double le = log(p) - log(g);
            s.n_log++;
            s.log10 += fabs(log10(g) - log10(p));
            s.logsq += le * le;
            s.log_e += le;
            s.log_e2 += le * le;
        }
    d->n_images++;
    if (s.n == 0) {
        d->n_empty++;
        return VLM_OK;
    }
    vlm_depth_values v = values_of(&s);
    vlm_depth_values *a = &d->image_sum;
    a->rmse += v.rmse;
    a->abs_rel += v.abs_rel;
    a->sq_rel += v.sq_rel;
    a->log10 += v.log10;
    a->rmse_log += v.rmse_log;
    a->silog += v.silog;
    a->delta1 += v.delta1;
    a->delta2 += v.delta2;
    a->delta3 += v.delta3;
    add_sums(&d->pooled, &s);
    return VLM_OK;
}

void vlm_depth_get_metrics(const vlm_depth *d, vlm_depth_metrics *out) {
    double k = (double)(d->n_images - d->n_empty);
    const vlm_depth_values *a = &d->image_sum;
    *out = (vlm_depth_metrics){
        .n_images = d->n_images,
        .n_images_empty = d->n_empty,
        .n_valid = d->pooled.n,
        .n_bad_pred = d->n_bad,
        .pooled = values_of(&d->pooled),
    };
    if (k > 0)
        out->mean_per_image = (vlm_depth_values){a->rmse / k,   a->abs_rel / k,  a->sq_rel / k,
                                                 a->log10 / k,  a->rmse_log / k, a->silog / k,
                                                 a->delta1 / k, a->delta2 / k,   a->delta3 / k};
    else
        out->mean_per_image = values_of(&(depth_sums){0});
}

static json_t *num(double x) {
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *values_json(const vlm_depth_values *v) {
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "rmse", num(v->rmse),
                     "abs_rel", num(v->abs_rel), "sq_rel", num(v->sq_rel), "log10", num(v->log10),
                     "rmse_log", num(v->rmse_log), "silog", num(v->silog), "delta1", num(v->delta1),
                     "delta2", num(v->delta2), "delta3", num(v->delta3));
}

json_t *vlm_depth_json(const vlm_depth *d) {
    vlm_depth_metrics m;
    vlm_depth_get_metrics(d, &m);
    json_t *params = json_pack("{s:f, s:o, s:b, s:b}", "min_depth", d->p.min_depth, "max_depth",
                               num(d->p.max_depth), "clamp_pred", d->p.clamp_pred, "eigen_crop",
                               d->p.eigen_crop);
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "benchmark", "depth", "n_images",
                     (json_int_t)m.n_images, "n_images_empty", (json_int_t)m.n_images_empty,
                     "n_valid", (json_int_t)m.n_valid, "n_bad_pred", (json_int_t)m.n_bad_pred,
                     "params", params, "mean_per_image", values_json(&m.mean_per_image), "pooled",
                     values_json(&m.pooled));
}

static int ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

vlm_status vlm_depth_map_read(const char *path, double png_scale, float **depth, int *width,
                              int *height, vlm_error *err) {
    *depth = NULL;
    *width = *height = 0;
    if (ends_with_ci(path, ".png")) {
        vlm_label_map m;
        vlm_status st = vlm_label_map_read(path, &m, err);
        if (st != VLM_OK)
            return st;
        if (m.bits != 16) {
            vlm_label_map_free(&m);
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: a depth PNG must be 16-bit greyscale (millimetres)", path);
        }
        size_t n = (size_t)m.width * m.height;
        float *v = malloc(n * sizeof *v);
        if (!v) {
            vlm_label_map_free(&m);
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++)
            v[i] = (float)(m.values[i] / png_scale);
        *depth = v;
        *width = m.width;
        *height = m.height;
        vlm_label_map_free(&m);
        return VLM_OK;
    }
    vlm_array a;
    vlm_status st = vlm_array_load(path, &a, err);
    if (st != VLM_OK)
        return st;
    int ok = a.ndim == 2 || (a.ndim == 3 && a.shape[0] == 1);
    int64_t h = ok ? a.shape[a.ndim - 2] : 0, w = ok ? a.shape[a.ndim - 1] : 0;
    if (!ok || h < 1 || w < 1 || h * w > VLM_IMAGE_MAX_PIXELS) {
        vlm_array_free(&a);
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: a depth map must be [H, W] or [1, H, W]",
                             path);
    }
    float *v = malloc((size_t)(h * w) * sizeof *v);
    if (!v) {
        vlm_array_free(&a);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < h * w; i++)
        v[i] = (float)vlm_array_get_f64(&a, i);
    vlm_array_free(&a);
    *depth = v;
    *width = (int)w;
    *height = (int)h;
    return VLM_OK;
}
