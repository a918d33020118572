/* Zero-shot classification scoring (spec eval.md section 3): the classifier of 3.2, the
 * logits / top-k / mean per-class recall of 3.3, the canonical inputs of 3.4 and the edge
 * cases of 3.5. Everything is computed in double: the reference tools agree with a float64
 * computation to ~1e-7 (3.3, "Precision"). */
#include "eval/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vlm_zeroshot {
    int dim, num_classes, k; /* k = min(5, num_classes) */
    double *w;               /* owned: [dim, num_classes] */
    double *logits;          /* owned scratch: [num_classes] */
    int64_t n, cap;
    int32_t *topk;        /* owned: [cap, k] */
    int32_t *labels;      /* owned: [cap] */
    int64_t *class_count; /* owned: [num_classes] images per label */
    int64_t *class_hit;   /* owned: [num_classes] of those predicted top-1 correctly */
    int64_t top1_correct, top5_correct;
};

/* Normalises x (n values) into out in double; returns the norm (0 or non-finite: caller
 * rejects). */
static double normalise_f32(const float *x, int n, double *out) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    double norm = sqrt(s);
    if (norm > 0 && isfinite(norm))
        for (int i = 0; i < n; i++)
            out[i] = (double)x[i] / norm;
    return norm;
}

vlm_status vlm_zeroshot_classifier(const float *text_features, int num_classes, int templates,
                                   int dim, double *classifier, vlm_error *err) {
    if (num_classes < 1 || templates < 1 || dim < 1)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "zero-shot classifier: %d classes x %d templates x %d dims (each "
                             "must be >= 1)",
                             num_classes, templates, dim);
    double *e = malloc((size_t)dim * sizeof *e), *mean = malloc((size_t)dim * sizeof *mean);
    if (!e || !mean) {
        free(e);
        free(mean);
        return vlm_error_set(err, VLM_ERR_NOMEM, "zero-shot classifier: out of memory");
    }
    vlm_status st = VLM_OK;
    for (int c = 0; c < num_classes && st == VLM_OK; c++) {
        memset(mean, 0, (size_t)dim * sizeof *mean);
        for (int t = 0; t < templates; t++) {
            const float *x = text_features + ((size_t)c * (size_t)templates + (size_t)t) * dim;
            double norm = normalise_f32(x, dim, e);
            if (!(norm > 0) || !isfinite(norm)) {
                st = vlm_error_set(err, VLM_ERR_INVALID,
                                   "zero-shot classifier: text embedding of class %d template "
                                   "%d has %s norm (undefined, spec 3.5)",
                                   c, t, norm == 0 ? "zero" : "a non-finite");
                break;
            }
            for (int d = 0; d < dim; d++)
                mean[d] += e[d];
        }
        if (st != VLM_OK)
            break;
        /* The mean's 1/T cancels in the renormalisation but is kept to follow the rule
         * literally (mean, then normalise), so rounding matches a numpy transcription. */
        double s = 0;
        for (int d = 0; d < dim; d++) {
            mean[d] /= templates;
            s += mean[d] * mean[d];
        }
        double norm = sqrt(s);
        if (!(norm > 0)) {
            st = vlm_error_set(err, VLM_ERR_INVALID,
                               "zero-shot classifier: class %d: the template embeddings cancel "
                               "out (zero-norm mean)",
                               c);
            break;
        }
        for (int d = 0; d < dim; d++)
            classifier[(size_t)d * num_classes + c] = mean[d] / norm;
    }
    free(e);
    free(mean);
    return st;
}

vlm_status vlm_zeroshot_create(const double *classifier, int dim, int num_classes,
                               vlm_zeroshot **out, vlm_error *err) {
    *out = NULL;
    if (dim < 1 || num_classes < 1)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "zero-shot: classifier of %d dims x %d classes (each must be >= 1)",
                             dim, num_classes);
    for (size_t i = 0; i < (size_t)dim * num_classes; i++)
        if (!isfinite(classifier[i]))
            return vlm_error_set(err, VLM_ERR_INVALID,
                                 "zero-shot: classifier has a non-finite value at row %zu, "
                                 "class %zu",
                                 i / num_classes, i % num_classes);
    vlm_zeroshot *z = calloc(1, sizeof *z);
    if (!z)
        return vlm_error_set(err, VLM_ERR_NOMEM, "zero-shot: out of memory");
    z->dim = dim;
    z->num_classes = num_classes;
    z->k = num_classes < 5 ? num_classes : 5;
    z->w = malloc((size_t)dim * num_classes * sizeof *z->w);
    z->logits = malloc((size_t)num_classes * sizeof *z->logits);
    z->class_count = calloc((size_t)num_classes, sizeof *z->class_count);
    z->class_hit = calloc((size_t)num_classes, sizeof *z->class_hit);
    if (!z->w || !z->logits || !z->class_count || !z->class_hit) {
        vlm_zeroshot_destroy(z);
        return vlm_error_set(err, VLM_ERR_NOMEM, "zero-shot: out of memory");
    }
    memcpy(z->w, classifier, (size_t)dim * num_classes * sizeof *z->w);
    *out = z;
    return VLM_OK;
}

/* True when class a ranks before class b: higher logit, or equal logit and lower index. */
static int ranks_before(const double *logits, int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

vlm_status vlm_zeroshot_add(vlm_zeroshot *z, const float *feature, int64_t label, vlm_error *err) {
    if (label < 0 || label >= z->num_classes)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "zero-shot: image %lld has label %lld outside [0, %d)",
                             (long long)z->n, (long long)label, z->num_classes);
    double s = 0;
    for (int d = 0; d < z->dim; d++)
        s += (double)feature[d] * (double)feature[d];
    double norm = sqrt(s);
    if (!(norm > 0) || !isfinite(norm))
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "zero-shot: image %lld: feature has %s norm (undefined, spec 3.5)",
                             (long long)z->n, norm == 0 ? "zero" : "a non-finite");
    if (z->n == z->cap) {
        int64_t cap = z->cap ? z->cap * 2 : 1024;
        int32_t *t = realloc(z->topk, (size_t)cap * (size_t)z->k * sizeof *t);
        if (t)
            z->topk = t;
        int32_t *l = realloc(z->labels, (size_t)cap * sizeof *l);
        if (l)
            z->labels = l;
        if (!t || !l)
            return vlm_error_set(err, VLM_ERR_NOMEM, "zero-shot: out of memory");
        z->cap = cap;
    }
    double *lg = z->logits;
    for (int c = 0; c < z->num_classes; c++)
        lg[c] = 0;
    for (int d = 0; d < z->dim; d++) {
        double f = (double)feature[d] / norm;
        const double *row = z->w + (size_t)d * z->num_classes;
        for (int c = 0; c < z->num_classes; c++)
            lg[c] += f * row[c];
    }
    for (int c = 0; c < z->num_classes; c++)
        lg[c] *= 100.0; /* spec 3.3: a fixed 100, not the learned logit_scale */
    /* Partial insertion sort of the k best: ranks_before is a strict total order. */
    int32_t *top = z->topk + (size_t)z->n * z->k;
    int have = 0;
    for (int c = 0; c < z->num_classes; c++) {
        if (have == z->k && !ranks_before(lg, c, top[have - 1]))
            continue;
        int pos = have < z->k ? have++ : have - 1;
        while (pos > 0 && ranks_before(lg, c, top[pos - 1])) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos] = c;
    }
    int lab = (int)label;
    z->labels[z->n] = lab;
    z->class_count[lab]++;
    if (top[0] == lab) {
        z->top1_correct++;
        z->class_hit[lab]++;
    }
    if (z->k == 5)
        for (int j = 0; j < 5; j++)
            if (top[j] == lab) {
                z->top5_correct++;
                break;
            }
    z->n++;
    return VLM_OK;
}

void vlm_zeroshot_get_summary(const vlm_zeroshot *z, vlm_zeroshot_summary *out) {
    *out = (vlm_zeroshot_summary){0};
    out->n = z->n;
    out->num_classes = z->num_classes;
    out->dim = z->dim;
    out->top1_correct = z->top1_correct;
    out->top5_correct = z->k == 5 ? z->top5_correct : -1;
    out->top1 = z->n ? (double)z->top1_correct / (double)z->n : NAN;
    out->top5 = z->n && z->k == 5 ? (double)z->top5_correct / (double)z->n : NAN;
    double sum = 0;
    int present = 0;
    for (int c = 0; c < z->num_classes; c++)
        if (z->class_count[c]) { /* spec 3.5: classes absent from the labels are skipped */
            sum += (double)z->class_hit[c] / (double)z->class_count[c];
            present++;
        }
    out->mean_per_class_recall = present ? sum / present : NAN;
}

int vlm_zeroshot_item_topk(const vlm_zeroshot *z, int64_t i, int32_t top[5]) {
    memcpy(top, z->topk + (size_t)i * z->k, (size_t)z->k * sizeof *top);
    return z->k;
}

int vlm_zeroshot_item_top1_correct(const vlm_zeroshot *z, int64_t i) {
    return z->topk[(size_t)i * z->k] == z->labels[i];
}

static json_t *real_or_null(double x) {
    return isfinite(x) ? json_real(x) : json_null();
}

vlm_status vlm_zeroshot_write_json(const vlm_zeroshot *z, const char *path, vlm_error *err) {
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    json_t *root = json_object(), *items = json_array(), *cls = json_array();
    json_object_set_new(root, "benchmark", json_string("zeroshot"));
    json_object_set_new(root, "n", json_integer(s.n));
    json_object_set_new(root, "num_classes", json_integer(s.num_classes));
    json_object_set_new(root, "top1", real_or_null(s.top1));
    json_object_set_new(root, "top5", real_or_null(s.top5));
    json_object_set_new(root, "mean_per_class_recall", real_or_null(s.mean_per_class_recall));
    for (int64_t i = 0; i < z->n; i++) {
        json_t *row = json_array();
        for (int j = 0; j < z->k; j++)
            json_array_append_new(row, json_integer(z->topk[(size_t)i * z->k + j]));
        json_array_append_new(items, row);
    }
    json_object_set_new(root, "per_item_top5", items);
    for (int d = 0; d < z->dim; d++) {
        json_t *row = json_array();
        for (int c = 0; c < z->num_classes; c++)
            json_array_append_new(row, json_real(z->w[(size_t)d * z->num_classes + c]));
        json_array_append_new(cls, row);
    }
    json_object_set_new(root, "classifier", cls);
    vlm_status st = vlm_json_write_file(root, path, err);
    json_decref(root);
    return st;
}

void vlm_zeroshot_destroy(vlm_zeroshot *z) {
    if (!z)
        return;
    free(z->w);
    free(z->logits);
    free(z->topk);
    free(z->labels);
    free(z->class_count);
    free(z->class_hit);
    free(z);
}

/* ---- spec 3.4 canonical inputs ---------------------------------------------------------- */

/* dir/stem as .npy or .bin + .json (vlm_array_load), converted to double. */
static vlm_status load(const char *dir, const char *stem, vlm_array *a, double **data,
                       vlm_error *err) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, stem) >= (int)sizeof path)
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: path too long", dir);
    vlm_status st = vlm_array_load(path, a, err);
    if (st != VLM_OK)
        return st;
    *data = malloc((size_t)(a->count ? a->count : 1) * sizeof **data);
    if (!*data)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < a->count; i++)
        (*data)[i] = vlm_array_get_f64(a, i);
    return VLM_OK;
}

vlm_status vlm_zeroshot_score_dir(const char *dir, vlm_zeroshot **out, vlm_error *err) {
    *out = NULL;
    vlm_array ta = {0}, ia = {0}, la = {0};
    double *text = NULL, *img = NULL, *lab = NULL, *w = NULL;
    float *buf = NULL;
    vlm_status st;
    if ((st = load(dir, "text_features", &ta, &text, err)) != VLM_OK ||
        (st = load(dir, "image_features", &ia, &img, err)) != VLM_OK ||
        (st = load(dir, "labels", &la, &lab, err)) != VLM_OK)
        goto out;
    int nt = ta.ndim, ni = ia.ndim, nl = la.ndim;
    const int64_t *st_ = ta.shape, *si = ia.shape, *sl = la.shape;
    if (nt != 3 || st_[0] < 1 || st_[1] < 1 || st_[2] < 1 || st_[0] > (1 << 24) ||
        st_[2] > (1 << 20)) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s/text_features: want shape [C, T, D] (classes, templates, dims) "
                           "with each >= 1",
                           dir);
        goto out;
    }
    int C = (int)st_[0], T = (int)st_[1], D = (int)st_[2];
    if (ni != 2 || si[1] != D) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s/image_features: want shape [N, %d] (D of text_features)", dir, D);
        goto out;
    }
    if (nl != 1 || sl[0] != si[0]) {
        st =
            vlm_error_set(err, VLM_ERR_FORMAT, "%s/labels: want shape [%lld] (N of image_features)",
                          dir, (long long)si[0]);
        goto out;
    }
    int64_t N = si[0];
    /* The towers' outputs are float32 (spec 3.4); float64 inputs are rounded to it. */
    size_t tc = (size_t)C * T * D, ic = (size_t)N * D;
    buf = malloc((tc > ic ? tc : ic) * sizeof *buf + sizeof *buf);
    w = malloc((size_t)D * C * sizeof *w);
    if (!buf || !w) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
    }
    for (size_t i = 0; i < tc; i++)
        buf[i] = (float)text[i];
    if ((st = vlm_zeroshot_classifier(buf, C, T, D, w, err)) != VLM_OK ||
        (st = vlm_zeroshot_create(w, D, C, out, err)) != VLM_OK)
        goto out;
    for (size_t i = 0; i < ic; i++)
        buf[i] = (float)img[i];
    for (int64_t i = 0; i < N; i++) {
        if (lab[i] != floor(lab[i]) || !(lab[i] >= 0 && lab[i] < C)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT,
                               "%s/labels: item %lld is %g, not a class index in [0, %d)", dir,
                               (long long)i, lab[i], C);
            break;
        }
        if ((st = vlm_zeroshot_add(*out, buf + (size_t)i * D, (int64_t)lab[i], err)) != VLM_OK)
            break;
    }
    if (st != VLM_OK) {
        vlm_zeroshot_destroy(*out);
        *out = NULL;
    }
out:
    vlm_array_free(&ta);
    vlm_array_free(&ia);
    vlm_array_free(&la);
    free(text);
    free(img);
    free(lab);
    free(w);
    free(buf);
    return st;
}
