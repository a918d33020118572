/* Semantic segmentation scoring exactly as mmsegmentation's IoUMetric (spec eval.md section 4),
 * with 64-bit area counts. */
#include "eval/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vlm_seg {
    vlm_seg_params p;
    uint8_t gt_lut[256]; /* raw GT byte -> preprocessed label (spec 4.2) */
    int64_t images;
    int64_t *intersect, *union_, *pred, *label; /* [C] each */
    double *per_class;                          /* [6][C]: IoU Acc Dice Fscore Precision Recall */
};

vlm_seg_params vlm_seg_default_params(int num_classes) {
    return (vlm_seg_params){.num_classes = num_classes, .ignore_index = 255};
}

void vlm_seg_cocostuff_label_map(int32_t map[256]) {
    /* mmseg's COCO-Stuff converter: raw ids 0..181 without the eleven unused ones, renumbered
     * consecutively; 255 and anything else unchanged (spec 4.1). */
    static const int unused[] = {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90};
    int next = 0;
    for (int v = 0; v < 256; v++)
        map[v] = -1;
    for (int v = 0; v <= 181; v++) {
        int skip = 0;
        for (size_t i = 0; i < sizeof unused / sizeof unused[0]; i++)
            skip |= unused[i] == v;
        if (!skip)
            map[v] = next++;
    }
}

vlm_status vlm_seg_create(const vlm_seg_params *params, vlm_seg **out, vlm_error *err) {
    *out = NULL;
    int c = params->num_classes;
    if (c < 1 || c > VLM_SEG_MAX_CLASSES)
        return vlm_error_set(err, VLM_ERR_INVALID, "num_classes %d outside 1..%d", c,
                             VLM_SEG_MAX_CLASSES);
    if (params->label_map_len < 0 || (params->label_map_len > 0 && !params->label_map))
        return vlm_error_set(err, VLM_ERR_INVALID, "label_map without entries");
    vlm_seg *sg = calloc(1, sizeof *sg);
    if (!sg)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    sg->p = *params;
    sg->p.label_map = NULL; /* borrowed only during create: folded into the LUT below */
    sg->intersect = calloc((size_t)c * 4, sizeof(int64_t));
    sg->per_class = calloc((size_t)c * 6, sizeof(double));
    if (!sg->intersect || !sg->per_class) {
        vlm_seg_destroy(sg);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    sg->union_ = sg->intersect + c;
    sg->pred = sg->intersect + 2 * c;
    sg->label = sg->intersect + 3 * c;
    /* Spec 4.2 on uint8 GT (mmseg loads annotations with .astype(np.uint8)): label_map looked up
     * by the original value, the new value stored as uint8; then reduce_zero_label. */
    for (int v = 0; v < 256; v++) {
        int x = v;
        if (v < params->label_map_len && params->label_map[v] >= 0)
            x = params->label_map[v] & 0xff;
        if (params->reduce_zero_label)
            x = (x == 0 || x == 255) ? 255 : x - 1;
        sg->gt_lut[v] = (uint8_t)x;
    }
    *out = sg;
    return VLM_OK;
}

void vlm_seg_destroy(vlm_seg *sg) {
    if (!sg)
        return;
    free(sg->intersect);
    free(sg->per_class);
    free(sg);
}

vlm_status vlm_seg_add(vlm_seg *sg, const int32_t *pred, const int32_t *gt, int64_t n,
                       vlm_error *err) {
    (void)err;
    const int c = sg->p.num_classes, ignore = sg->p.ignore_index;
    int64_t *I = sg->intersect, *P = sg->pred, *L = sg->label;
    /* Upstream: mask = gt != ignore; histc(pred[mask]), histc(gt[mask]), histc of the equal
     * pixels, over 0..C-1 (values outside fall out of every histogram). So a prediction on a
     * valid pixel whose GT is >= C still counts in P, as upstream. */
    for (int64_t i = 0; i < n; i++) {
        int g = sg->gt_lut[(uint32_t)gt[i] & 0xff];
        if (g == ignore)
            continue;
        int32_t p = pred[i];
        if ((uint32_t)p < (uint32_t)c)
            P[p]++;
        if (g < c) {
            L[g]++;
            I[g] += p == g;
        }
    }
    for (int k = 0; k < c; k++)
        sg->union_[k] = P[k] + L[k] - I[k];
    sg->images++;
    return VLM_OK;
}

vlm_seg_areas vlm_seg_get_areas(const vlm_seg *sg) {
    return (vlm_seg_areas){sg->intersect, sg->union_, sg->pred, sg->label};
}

int64_t vlm_seg_images(const vlm_seg *sg) {
    return sg->images;
}

int vlm_seg_num_classes(const vlm_seg *sg) {
    return sg->p.num_classes;
}

static double ratio(int64_t num, int64_t den) {
    return den ? (double)num / (double)den : NAN;
}

/* nanmean after the optional nan_to_num. */
static double mean_of(const vlm_seg *sg, const double *v) {
    double s = 0;
    int n = 0;
    for (int k = 0; k < sg->p.num_classes; k++)
        if (!isnan(v[k])) {
            s += v[k];
            n++;
        }
    return n ? s / n : NAN;
}

void vlm_seg_get_metrics(vlm_seg *sg, vlm_seg_metrics *out) {
    const int c = sg->p.num_classes;
    double *iou = sg->per_class, *acc = iou + c, *dice = iou + 2 * c, *fs = iou + 3 * c,
           *prec = iou + 4 * c, *rec = iou + 5 * c;
    int64_t si = 0, sl = 0;
    for (int k = 0; k < c; k++) {
        const int64_t I = sg->intersect[k], U = sg->union_[k], P = sg->pred[k], L = sg->label[k];
        si += I;
        sl += L;
        iou[k] = ratio(I, U);
        acc[k] = ratio(I, L);
        dice[k] = ratio(2 * I, P + L);
        prec[k] = ratio(I, P);
        rec[k] = acc[k];
        /* f_score with beta 1: (1 + 1) * Pr * Re / (Pr + Re); 0/0 (I == 0) is NaN. */
        fs[k] = 2 * prec[k] * rec[k] / (prec[k] + rec[k]);
    }
    double aacc = ratio(si, sl);
    if (sg->p.has_nan_to_num) {
        for (int k = 0; k < 6 * c; k++)
            if (isnan(iou[k]))
                iou[k] = sg->p.nan_to_num;
        if (isnan(aacc))
            aacc = sg->p.nan_to_num;
    }
    *out = (vlm_seg_metrics){
        .aacc = aacc,
        .miou = mean_of(sg, iou),
        .macc = mean_of(sg, acc),
        .mdice = mean_of(sg, dice),
        .mfscore = mean_of(sg, fs),
        .mprecision = mean_of(sg, prec),
        .mrecall = mean_of(sg, rec),
        .iou = iou,
        .acc = acc,
        .dice = dice,
        .fscore = fs,
        .precision = prec,
        .recall = rec,
    };
}

double vlm_seg_percent_rounded(double x) {
    if (isnan(x))
        return x;
    /* numpy round(v, 2) = rint(v * 100) / 100 on v = x * 100 (both products in double). */
    return rint(x * 100 * 100) / 100;
}

static json_t *num_or_null(double x) {
    return isnan(x) ? json_null() : json_real(x);
}

static json_t *double_array(const double *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, num_or_null(v[i]));
    return a;
}

static json_t *int_array(const int64_t *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

json_t *vlm_seg_json(vlm_seg *sg) {
    vlm_seg_metrics m;
    vlm_seg_get_metrics(sg, &m);
    const int c = sg->p.num_classes;
    const char *keys[] = {"aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall"};
    const double vals[] = {m.aacc, m.miou, m.macc, m.mdice, m.mfscore, m.mprecision, m.mrecall};
    json_t *summary = json_object(), *rounded = json_object();
    for (int i = 0; i < 7; i++) {
        json_object_set_new(summary, keys[i], num_or_null(vals[i]));
        json_object_set_new(rounded, keys[i], num_or_null(vlm_seg_percent_rounded(vals[i])));
    }
    json_t *per_class =
        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "IoU", double_array(m.iou, c), "Acc",
                  double_array(m.acc, c), "Dice", double_array(m.dice, c), "Fscore",
                  double_array(m.fscore, c), "Precision", double_array(m.precision, c), "Recall",
                  double_array(m.recall, c));
    json_t *areas = json_pack("{s:o, s:o, s:o, s:o}", "intersect", int_array(sg->intersect, c),
                              "union", int_array(sg->union_, c), "pred", int_array(sg->pred, c),
                              "label", int_array(sg->label, c));
    return json_pack("{s:s, s:i, s:I, s:o, s:o, s:o, s:o}", "benchmark", "miou", "num_classes", c,
                     "n_images", (json_int_t)sg->images, "summary", summary,
                     "summary_percent_rounded", rounded, "per_class", per_class, "areas", areas);
}

/* ---- the spec section 6 input directory --------------------------------------------------- */

static vlm_status read_map(const char *dir, const char *name, vlm_label_map *m, vlm_error *err) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *stem = malloc(n);
    if (!stem)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    snprintf(stem, n, "%s/%s", dir, name);
    size_t sl = strlen(stem);
    vlm_status st;
    if (sl > 4 && (!strcmp(stem + sl - 4, ".png") || !strcmp(stem + sl - 4, ".npy") ||
                   !strcmp(stem + sl - 4, ".bin"))) {
        st = vlm_label_map_read(stem, m, err);
    } else {
        /* name.npy, or name.bin + name.json (spec 6), or name.png */
        char *path = malloc(sl + 5);
        if (!path) {
            free(stem);
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        static const char *const exts[] = {".npy", ".bin", ".png"};
        st = VLM_ERR_IO;
        for (int i = 0; i < 3; i++) {
            snprintf(path, sl + 5, "%s%s", stem, exts[i]);
            FILE *f = fopen(path, "rb");
            if (f) {
                fclose(f);
                st = vlm_label_map_read(path, m, err);
                break;
            }
        }
        if (st == VLM_ERR_IO && !m->values)
            vlm_error_set(err, VLM_ERR_IO, "%s: no %s.npy, %s.bin or %s.png", dir, name, name,
                          name);
        free(path);
    }
    free(stem);
    return st;
}

vlm_status vlm_seg_score_dir(const char *dir, vlm_progress_fn progress, void *progress_ctx,
                             vlm_seg **out, vlm_error *err) {
    *out = NULL;
    size_t n = strlen(dir) + 16;
    char *cfg_path = malloc(n);
    if (!cfg_path)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    snprintf(cfg_path, n, "%s/config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(cfg_path, 0, &je);
    vlm_status st = VLM_OK;
    int32_t *lmap = NULL;
    vlm_seg *sg = NULL;
    if (!cfg) {
        FILE *f = fopen(cfg_path, "rb");
        st = vlm_error_set(err, f ? VLM_ERR_FORMAT : VLM_ERR_IO, "%s:%d:%d: %s", cfg_path, je.line,
                           je.column, je.text);
        if (f)
            fclose(f);
        goto done;
    }
    json_t *nc = json_object_get(cfg, "num_classes"), *ig = json_object_get(cfg, "ignore_index"),
           *rz = json_object_get(cfg, "reduce_zero_label"), *lm = json_object_get(cfg, "label_map"),
           *nn = json_object_get(cfg, "nan_to_num"), *images = json_object_get(cfg, "images");
    if (!json_is_integer(nc) || json_integer_value(nc) < 1 ||
        json_integer_value(nc) > VLM_SEG_MAX_CLASSES) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: \"num_classes\" must be an integer in 1..%d",
                           cfg_path, VLM_SEG_MAX_CLASSES);
        goto done;
    }
    vlm_seg_params p = vlm_seg_default_params((int)json_integer_value(nc));
    if (ig && !json_is_null(ig)) {
        if (!json_is_integer(ig)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: \"ignore_index\" must be an integer",
                               cfg_path);
            goto done;
        }
        p.ignore_index = (int)json_integer_value(ig);
    }
    if (rz && !json_is_null(rz)) {
        if (!json_is_boolean(rz)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: \"reduce_zero_label\" must be a boolean",
                               cfg_path);
            goto done;
        }
        p.reduce_zero_label = json_is_true(rz);
    }
    if (nn && !json_is_null(nn)) {
        if (!json_is_number(nn)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: \"nan_to_num\" must be a number or null",
                               cfg_path);
            goto done;
        }
        p.has_nan_to_num = 1;
        p.nan_to_num = json_number_value(nn);
    }
    if (lm && !json_is_null(lm)) {
        if (!json_is_object(lm)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: \"label_map\" must be an object {\"old\": new} or null",
                               cfg_path);
            goto done;
        }
        lmap = malloc(256 * sizeof *lmap);
        if (!lmap) {
            st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int v = 0; v < 256; v++)
            lmap[v] = -1;
        const char *k;
        json_t *v;
        json_object_foreach(lm, k, v) {
            char *end;
            long old = strtol(k, &end, 10);
            if (*end || end == k || !json_is_integer(v)) {
                st = vlm_error_set(err, VLM_ERR_FORMAT,
                                   "%s: label_map entry \"%s\": needs an integer key and value",
                                   cfg_path, k);
                goto done;
            }
            /* GT is uint8: an old value outside 0..255 never matches (as upstream). */
            if (old >= 0 && old < 256)
                lmap[old] = (int32_t)(json_integer_value(v) & 0xff);
        }
        p.label_map = lmap;
        p.label_map_len = 256;
    }
    if (!json_is_array(images)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: \"images\" must be a list", cfg_path);
        goto done;
    }
    if ((st = vlm_seg_create(&p, &sg, err)) != VLM_OK)
        goto done;
    size_t i;
    json_t *item;
    json_array_foreach(images, i, item) {
        const char *g = json_string_value(json_object_get(item, "gt"));
        const char *pr = json_string_value(json_object_get(item, "pred"));
        if (!g || !pr) {
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: images[%zu] needs string \"gt\" and \"pred\"", cfg_path, i);
            goto done;
        }
        vlm_label_map gm = {0}, pm = {0};
        if ((st = read_map(dir, g, &gm, err)) != VLM_OK)
            goto done;
        if ((st = read_map(dir, pr, &pm, err)) != VLM_OK) {
            vlm_label_map_free(&gm);
            goto done;
        }
        if (gm.width != pm.width || gm.height != pm.height)
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s: images[%zu]: prediction '%s' is %dx%d, ground truth '%s' "
                               "%dx%d (they must have the same shape)",
                               cfg_path, i, pr, pm.width, pm.height, g, gm.width, gm.height);
        else
            st = vlm_seg_add(sg, pm.values, gm.values, (int64_t)gm.width * gm.height, err);
        vlm_label_map_free(&gm);
        vlm_label_map_free(&pm);
        if (st != VLM_OK)
            goto done;
        if (progress)
            progress(progress_ctx, (int64_t)i + 1, (int64_t)json_array_size(images));
    }
done:
    json_decref(cfg);
    free(lmap);
    free(cfg_path);
    if (st != VLM_OK) {
        vlm_seg_destroy(sg);
        return st;
    }
    *out = sg;
    return VLM_OK;
}

/* ---- zero-shot dense prediction ----------------------------------------------------------- */

/* torch's area_pixel_compute_source_index for align_corners=False, then the two taps. */
static void bilinear_taps(int out_size, int in_size, int *i0, int *i1, double *w1, int n) {
    const double scale = (double)in_size / out_size;
    for (int o = 0; o < n; o++) {
        double src = (o + 0.5) * scale - 0.5;
        if (src < 0)
            src = 0;
        int a = (int)src;
        i0[o] = a;
        i1[o] = a + (a < in_size - 1);
        w1[o] = src - a;
    }
}

vlm_status vlm_seg_dense_predict(const float *features, int grid_h, int grid_w, int dim,
                                 const double *classifier, int num_classes, int height, int width,
                                 int32_t *pred, vlm_error *err) {
    if (grid_h < 1 || grid_w < 1 || dim < 1 || num_classes < 1 || height < 1 || width < 1)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "dense prediction: empty grid, image or "
                             "classifier");
    const int c = num_classes, np = grid_h * grid_w;
    double *logits = malloc((size_t)np * c * sizeof *logits); /* [np, C] */
    int *y0 = malloc((size_t)height * sizeof *y0), *y1 = malloc((size_t)height * sizeof *y1);
    int *x0 = malloc((size_t)width * sizeof *x0), *x1 = malloc((size_t)width * sizeof *x1);
    double *wy = malloc((size_t)height * sizeof *wy), *wx = malloc((size_t)width * sizeof *wx);
    vlm_status st = VLM_OK;
    if (!logits || !y0 || !y1 || !x0 || !x1 || !wy || !wx) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int p = 0; p < np; p++) {
        const float *f = features + (size_t)p * dim;
        double n2 = 0;
        for (int k = 0; k < dim; k++)
            n2 += (double)f[k] * f[k];
        if (!(n2 > 0) || !isfinite(n2)) {
            st = vlm_error_set(err, VLM_ERR_INVALID,
                               "dense prediction: patch (%d, %d) has a zero-norm or non-finite "
                               "feature",
                               p / grid_w, p % grid_w);
            goto done;
        }
        double inv = 1 / sqrt(n2);
        double *l = logits + (size_t)p * c;
        for (int j = 0; j < c; j++)
            l[j] = 0;
        for (int k = 0; k < dim; k++) {
            const double fk = f[k] * inv, *wk = classifier + (size_t)k * c;
            for (int j = 0; j < c; j++)
                l[j] += fk * wk[j];
        }
    }
    bilinear_taps(height, grid_h, y0, y1, wy, height);
    bilinear_taps(width, grid_w, x0, x1, wx, width);
    for (int y = 0; y < height; y++) {
        const double b = wy[y], a = 1 - b;
        for (int x = 0; x < width; x++) {
            const double d = wx[x], e = 1 - d;
            const double *l00 = logits + ((size_t)y0[y] * grid_w + x0[x]) * c,
                         *l01 = logits + ((size_t)y0[y] * grid_w + x1[x]) * c,
                         *l10 = logits + ((size_t)y1[y] * grid_w + x0[x]) * c,
                         *l11 = logits + ((size_t)y1[y] * grid_w + x1[x]) * c;
            int best = 0;
            double bv = -INFINITY;
            for (int j = 0; j < c; j++) {
                /* torch: h0lambda * (w0lambda * v00 + w1lambda * v01) + h1lambda * (...) */
                double v = a * (e * l00[j] + d * l01[j]) + b * (e * l10[j] + d * l11[j]);
                if (v > bv) {
                    bv = v;
                    best = j;
                }
            }
            pred[(size_t)y * width + x] = best;
        }
    }
done:
    free(logits);
    free(y0);
    free(y1);
    free(x0);
    free(x1);
    free(wy);
    free(wx);
    return st;
}
