/* What the CLIP-style evaluations share: each image tower's zero-shot preprocessing, and the
 * classifier (from a file, or built by the engine's text tower from class names and
 * templates). Used by `eval zeroshot` and `eval miou`'s zero-shot segmentation. */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- preprocessing per model (spec models.md 2.2; OpenAI CLIP for ViT towers) ---------- */

int vlm_cli_prep_for(const char *model, vlm_cli_prep *p) {
    if (!strncmp(model, "mci", 3)) { /* MobileCLIP: bilinear, no normalisation */
        *p = (vlm_cli_prep){VLM_RESAMPLE_BILINEAR, {0, 0, 0}, {1, 1, 1}};
        return 0;
    }
    if (!strncmp(model, "vit", 3)) { /* OpenAI CLIP: bicubic, CLIP mean / std */
        *p = (vlm_cli_prep){VLM_RESAMPLE_BICUBIC,
                            {0.48145466f, 0.4578275f, 0.40821073f},
                            {0.26862954f, 0.26130258f, 0.27577711f}};
        return 0;
    }
    return -1;
}

/* Loads the classifier file: [C, D] (one embedding per class) or [C, T, D]. */
static vlm_status load_classifier(const char *path, int dim, double **w, int *num_classes,
                                  vlm_error *err) {
    vlm_npy a = {0};
    vlm_status st = vlm_npy_read_f32(path, &a, err);
    if (st != VLM_OK)
        return st;
    int T = a.ndim == 3 ? (int)a.shape[1] : 1;
    if ((a.ndim != 2 && a.ndim != 3) || a.shape[0] < 1 || T < 1 || a.shape[0] > (1 << 24) ||
        a.shape[a.ndim - 1] != dim) {
        vlm_npy_free(&a);
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: classifier must be [C, %d] or [C, T, %d] (the model's "
                             "embedding size)",
                             path, dim, dim);
    }
    *num_classes = (int)a.shape[0];
    *w = malloc((size_t)dim * (size_t)*num_classes * sizeof **w);
    if (!*w)
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
    else if ((st = vlm_zeroshot_classifier(a.data, *num_classes, T, dim, *w, err)) != VLM_OK) {
        free(*w);
        *w = NULL;
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        vlm_error_set(err, st, "%s: %s", path, msg);
    }
    vlm_npy_free(&a);
    return st;
}

/* ---- the classifier from the engine's text tower ---------------------------------------- */

/* The text tower paired with an image tower. */
static const char *default_text_model(const char *image_model) {
    if (!strcmp(image_model, "mci0"))
        return "text-mobileclip-s0";
    if (!strcmp(image_model, "mci1") || !strcmp(image_model, "mci2"))
        return "text-mobileclip-s1";
    if (!strcmp(image_model, "vit-b16"))
        return "text-clip-b16";
    if (!strcmp(image_model, "vit-l14-336"))
        return "text-clip-l14";
    return NULL;
}

/* "a photo of a {c}." with {c} replaced by name, into a malloc'd string. */
static char *fill_template(const char *tmpl, const char *name) {
    size_t n = strlen(tmpl) + 1, k = strlen(name);
    for (const char *p = strstr(tmpl, "{c}"); p; p = strstr(p + 3, "{c}"))
        n += k;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{c}", 3)) {
            memcpy(o, name, k);
            o += k;
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Runs the text tower over every class x template prompt of the classes file (JSON with
 * "classnames" and "templates" or, with --templates simple, "simple_templates": the schema of
 * open_clip's zero_shot_metadata as eval/imagenet_zeroshot_openai.json holds it) and returns
 * the raw text features [C, T, D]. */
static vlm_status text_features(const vlm_cli_classifier_opts *o, const char *text_model, int dim,
                                float **feat, int *num_classes, int *num_templates,
                                vlm_error *err) {
    json_error_t je;
    json_t *root = json_load_file(o->classes, 0, &je);
    if (!root)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s:%d:%d: %s", o->classes, je.line, je.column,
                             je.text);
    const char *tkey =
        o->templates && !strcmp(o->templates, "simple") ? "simple_templates" : "templates";
    json_t *names = json_object_get(root, "classnames"), *tmpls = json_object_get(root, tkey);
    vlm_status st = VLM_OK;
    vlm_bpe *bpe = NULL;
    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    float *ids = NULL;
    int32_t *ids32 = NULL;
    *feat = NULL;
    size_t C = json_array_size(names), T = json_array_size(tmpls);
    if (!json_is_array(names) || !json_is_array(tmpls) || C == 0 || T == 0) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: expected non-empty arrays \"classnames\" and \"%s\"", o->classes,
                           tkey);
        goto out;
    }
    for (size_t i = 0; i < C + T; i++) {
        json_t *v = i < C ? json_array_get(names, i) : json_array_get(tmpls, i - C);
        if (!json_is_string(v)) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: %s[%zu] is not a string", o->classes,
                               i < C ? "classnames" : tkey, i < C ? i : i - C);
            goto out;
        }
    }
    const vlm_model_info *ti = vlm_model_find(text_model);
    if (!ti || strcmp(ti->kind, "text")) {
        st = vlm_error_set(err, VLM_ERR_INVALID,
                           "--text-model %s is not a text tower (see "
                           "`vlmbench models`)",
                           text_model);
        goto out;
    }
    if (ti->feature_dim != dim) {
        st = vlm_error_set(err, VLM_ERR_INVALID,
                           "%s embeds into %d dimensions but the image tower into %d", text_model,
                           ti->feature_dim, dim);
        goto out;
    }
    int ctx_len = ti->default_res;
    if ((st = vlm_bpe_load(o->vocab, &bpe, err)) != VLM_OK)
        goto out;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cp.threads = o->threads;
    vlm_plan_params pp = vlm_plan_default_params();
    pp.model = text_model;
    pp.weights = o->text_weights;
    pp.tokens = ctx_len;
    if ((st = vlm_ctx_create(&cp, &ctx, err)) != VLM_OK ||
        (st = vlm_plan_create(ctx, &pp, &plan, err)) != VLM_OK)
        goto out;
    *feat = malloc(C * T * (size_t)dim * sizeof **feat);
    ids = malloc((size_t)ctx_len * sizeof *ids);
    ids32 = malloc((size_t)ctx_len * sizeof *ids32);
    if (!*feat || !ids || !ids32) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory for %zu x %zu text features", C, T);
        goto out;
    }
    vlm_progress bar;
    vlm_progress_init(&bar, "zeroshot text", "prompts", o->show_progress);
    for (size_t c = 0; c < C && st == VLM_OK; c++)
        for (size_t t = 0; t < T && st == VLM_OK; t++) {
            char *text = fill_template(json_string_value(json_array_get(tmpls, t)),
                                       json_string_value(json_array_get(names, c)));
            if (!text) {
                st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
                break;
            }
            st = vlm_bpe_tokenize(bpe, text, ctx_len, ids32, err);
            free(text);
            for (int i = 0; st == VLM_OK && i < ctx_len; i++)
                ids[i] = (float)ids32[i];
            if (st == VLM_OK)
                st = vlm_plan_run(plan, ids, *feat + (c * T + t) * (size_t)dim, NULL, err);
            vlm_progress_update(&bar, (int64_t)(c * T + t + 1), (int64_t)(C * T));
        }
    vlm_progress_finish(&bar, (int64_t)(C * T), (int64_t)(C * T));
    *num_classes = (int)C;
    *num_templates = (int)T;
out:
    if (st != VLM_OK) {
        free(*feat);
        *feat = NULL;
    }
    free(ids);
    free(ids32);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    vlm_bpe_destroy(bpe);
    json_decref(root);
    return st;
}

/* The classifier [D, C]: from --classifier FILE, or built by the text tower (and saved as the
 * raw [C, T, D] features with --save-text-features). */
vlm_status vlm_cli_classifier(const vlm_cli_classifier_opts *o, int dim, double **w,
                              int *num_classes, vlm_error *err) {
    if (o->classifier)
        return load_classifier(o->classifier, dim, w, num_classes, err);
    const char *tm = o->text_model ? o->text_model : default_text_model(o->image_model);
    if (!tm)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "no text tower is known for %s: give --text-model (e.g. "
                             "text-mobileclip-s1, text-clip-b16; see `vlmbench models`)",
                             o->image_model);
    float *feat = NULL;
    int C = 0, T = 0;
    vlm_status st = text_features(o, tm, dim, &feat, &C, &T, err);
    if (st != VLM_OK)
        return st;
    if (o->save_text)
        st = vlm_npy_write_f32(o->save_text, 3, (int64_t[]){C, T, dim}, feat, err);
    *w = st == VLM_OK ? malloc((size_t)dim * (size_t)C * sizeof **w) : NULL;
    if (st == VLM_OK && !*w)
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory for the classifier");
    if (st == VLM_OK)
        st = vlm_zeroshot_classifier(feat, C, T, dim, *w, err);
    if (st != VLM_OK) {
        free(*w);
        *w = NULL;
    }
    *num_classes = C;
    free(feat);
    return st;
}
