/* vlmbench eval zeroshot: zero-shot classification (spec eval.md section 3), scored from the
 * canonical precomputed features (3.4) or end to end: images from webdataset shards through
 * the model's preprocessing and the engine's image tower, scored against a classifier file. */
#include "cli/cli.h"
#include "eval/eval.h"
#include "results/results.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *CMD = "eval zeroshot";

static void usage(FILE *f) {
    fputs(
        "usage: vlmbench eval zeroshot --features DIR [--json FILE]\n"
        "       vlmbench eval zeroshot --model MODEL [--weights CKPT] --data SHARDS\n"
        "                              (--classifier FILE | --text-weights CKPT --vocab FILE)\n"
        "                              [--res N] [--batch N] [--threads N]\n"
        "                              [--limit N] [--json FILE] [--results FILE] [--progress]\n"
        "\n"
        "Zero-shot classification scored as open_clip / CLIP_benchmark do (spec eval.md 3):\n"
        "logits = 100 x normalised image feature . classifier; top-1, top-5 (null with fewer\n"
        "than 5 classes), mean per-class recall. Equal logits rank the lower class index first.\n"
        "Prints a summary line; --json FILE (\"-\" = stdout) writes the spec section 6 JSON.\n"
        "\n"
        "  --features DIR      score precomputed features: DIR holds text_features [C, T, D],\n"
        "                      image_features [N, D] and labels [N] as .npy or .bin + .json\n"
        "  --model MODEL       image tower with a CLIP embedding: mci0, mci1, mci2 (MobileCLIP:\n"
        "                      bilinear, no mean/std), vit-b16, vit-l14-336 (OpenAI CLIP:\n"
        "                      bicubic, CLIP mean/std)\n"
        "  --weights CKPT      safetensors checkpoint (default: seeded synthetic weights, for\n"
        "                      testing only: the accuracy is then meaningless)\n"
        "  --data SHARDS       webdataset shards (key.jpg|jpeg|png + key.cls|json) given as a\n"
        "                      path with brace ranges/lists (val-{000000..000049}.tar), or an\n"
        "                      ImageNet-val folder layout (class folders, a directory or an\n"
        "                      archive; class = folder's index in sorted order). Samples with no\n"
        "                      label or an undecodable image are skipped and counted\n"
        "  --classifier FILE   .npy class text embeddings [C, D] (one per class) or raw template\n"
        "                      features [C, T, D]; rows are normalised, template means taken and\n"
        "                      renormalised (spec 3.2)\n"
        "  --text-weights CKPT --vocab FILE [--text-model M] [--classes FILE]\n"
        "                      [--templates openai|simple] [--save-text-features OUT.npy]\n"
        "                      build the classifier with the engine's text tower: every class\n"
        "                      name in every template, tokenised with the CLIP BPE vocabulary\n"
        "                      FILE (bpe_simple_vocab_16e6.txt.gz), embedded by the text tower\n"
        "                      M (default: text-mobileclip-s0 for mci0, -s1 for mci1/mci2,\n"
        "                      text-clip-b16 / -l14 for the ViTs), from CKPT.\n"
        "                      --classes: JSON with \"classnames\" and \"templates\" /\n"
        "                      \"simple_templates\" (default: ImageNet-1k, open_clip's, shipped\n"
        "                      as eval/imagenet_zeroshot_openai.json); openai = the 80\n"
        "                      templates (80,000 prompts), simple = 7. --save-text-features\n"
        "                      keeps the [C, T, D] features for --classifier next time (alone,\n"
        "                      without --data, it only builds them)\n"
        "  --res N             input side in pixels (default: the model's, 256 for mci*)\n"
        "  --batch N           images resized in parallel per step (default 16)\n"
        "  --threads N         OpenMP threads (default: the runtime's)\n"
        "  --limit N           stop after N images\n"
        "  --results FILE      append an eval record (metrics imagenet_top1/top5 in percent)\n"
        "  --progress          progress (images/s, ETA) also when stderr is not a terminal\n"
        "                      (one line every 10 s); on a terminal it is always shown\n",
        f);
}

/* Resize the shortest side to res, centre crop res x res (torchvision rule), normalise. */
static vlm_status preprocess(const vlm_image *im, const char *name, const vlm_cli_prep *p,
                             int res,
                             float *out, vlm_error *err) {
    vlm_image rs = {0}, cc = {0};
    vlm_status st = vlm_image_resize_shortest(im, res, p->filter, &rs, err);
    if (st == VLM_OK)
        st = vlm_image_center_crop(&rs, res, res, VLM_CROP_TORCHVISION, &cc, err);
    if (st == VLM_OK)
        vlm_image_to_tensor(&cc, p->mean, p->std, out);
    else if (err->msg[0]) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        vlm_error_set(err, st, "%s: %s", name, msg);
    }
    vlm_image_free(&rs);
    vlm_image_free(&cc);
    return st;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- the subcommand ------------------------------------------------------------------- */

static void print_summary(const vlm_zeroshot *z) {
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    printf("zeroshot: n %lld  classes %d  top1 %.6f  top5 ", (long long)s.n, s.num_classes, s.top1);
    if (isnan(s.top5))
        printf("null");
    else
        printf("%.6f", s.top5);
    printf("  mean_per_class_recall %.6f\n", s.mean_per_class_recall);
}

static int score_features(const char *dir, const char *json) {
    vlm_error err = {0};
    vlm_zeroshot *z = NULL;
    if (vlm_zeroshot_score_dir(dir, &z, &err) != VLM_OK)
        return vlm_cli_fail(CMD, &err);
    int code = VLM_EXIT_OK;
    if (json && vlm_zeroshot_write_json(z, json, &err) != VLM_OK)
        code = vlm_cli_fail(CMD, &err);
    else if (!json || strcmp(json, "-"))
        print_summary(z);
    vlm_zeroshot_destroy(z);
    return code;
}

typedef struct opts {
    const char *model, *weights, *data, *classifier, *json, *results, *text_weights, *vocab;
    const char *text_model, *classes, *templates, *save_text;
    int res, batch, threads, limit, show_progress;
} opts;

/* A batch of samples from the reader: keys copied (the reader's are borrowed). */
typedef struct item {
    vlm_image image;
    int64_t label;
    char key[512];
} item;

static int run_pipeline(const opts *o) {
    vlm_error err = {0};
    const vlm_model_info *mi = vlm_model_find(o->model);
    vlm_cli_prep pp;
    if (!mi || strcmp(mi->kind, "vision") || mi->embed_dim <= 0 || vlm_cli_prep_for(o->model, &pp)) {
        fprintf(stderr,
                "vlmbench %s: --model %s: not an image tower with a CLIP embedding and a "
                "known zero-shot preprocessing (mci0, mci1, mci2, vit-b16, vit-l14-336)\n",
                CMD, o->model);
        return VLM_EXIT_USAGE;
    }
    int res = o->res ? o->res : mi->default_res;
    double *w = NULL;
    int C = 0;
    vlm_cli_classifier_opts co = {o->model,     o->classifier, o->text_weights, o->vocab,
                                  o->text_model, o->classes,    o->templates,    o->save_text,
                                  o->threads,    o->show_progress};
    if (vlm_cli_classifier(&co, mi->embed_dim, &w, &C, &err) != VLM_OK)
        return vlm_cli_fail(CMD, &err);
    if (!o->data) { /* --save-text-features alone: the classifier is the product */
        free(w);
        fprintf(stderr, "vlmbench %s: wrote the [C, T, %d] text features to %s\n", CMD,
                mi->embed_dim, o->save_text);
        return VLM_EXIT_OK;
    }
    vlm_cls_reader *rd = NULL;
    vlm_zeroshot *z = NULL;
    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    item *batch = NULL;
    float *inputs = NULL, *emb = NULL;
    vlm_status *sts = NULL;
    vlm_error *errs = NULL;
    int code = VLM_EXIT_OK, B = o->batch;
    vlm_cls_params rp = vlm_cls_default_params();
    vlm_progress bar;
    vlm_progress_init(&bar, "zeroshot", "images", o->show_progress);
    if (vlm_zeroshot_create(w, mi->embed_dim, C, &z, &err) != VLM_OK ||
        vlm_cls_reader_open(o->data, &rp, &rd, &err) != VLM_OK)
        goto fail;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cp.threads = o->threads;
    vlm_plan_params pp2 = vlm_plan_default_params();
    pp2.model = o->model;
    pp2.weights = o->weights;
    pp2.height = pp2.width = res;
    pp2.pooled = 1;
    if (!o->weights)
        fprintf(stderr,
                "vlmbench %s: no --weights: seeded synthetic weights (the accuracy is "
                "meaningless)\n",
                CMD);
    if (vlm_ctx_create(&cp, &ctx, &err) != VLM_OK ||
        vlm_plan_create(ctx, &pp2, &plan, &err) != VLM_OK)
        goto fail;
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    batch = calloc((size_t)B, sizeof *batch);
    inputs = malloc((size_t)B * (size_t)f.input_count * sizeof *inputs);
    emb = malloc((size_t)f.embed_dim * sizeof *emb);
    sts = calloc((size_t)B, sizeof *sts);
    errs = calloc((size_t)B, sizeof *errs);
    if (!batch || !inputs || !emb || !sts || !errs) {
        vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory for a batch of %d images", B);
        goto fail;
    }
    double t0 = now_s();
    int64_t n = 0, total = o->limit ? o->limit : -1;
    int done = 0;
    while (!done && (!o->limit || n < o->limit)) {
        int nb = 0;
        while (nb < B && (!o->limit || n + nb < o->limit)) {
            vlm_cls_sample smp = {0};
            if (vlm_cls_reader_next(rd, &smp, &done, &err) != VLM_OK)
                goto fail;
            if (done)
                break;
            batch[nb].image = smp.image;
            batch[nb].label = smp.label;
            snprintf(batch[nb].key, sizeof batch[nb].key, "%s", smp.key);
            nb++;
        }
        /* Resizing is independent per image: one OpenMP thread each; the engine then runs the
         * images one by one on all threads (its plans take one image). */
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < nb; i++)
            sts[i] = preprocess(&batch[i].image, batch[i].key, &pp, res,
                                inputs + (size_t)i * f.input_count, &errs[i]);
        for (int i = 0; i < nb; i++) {
            vlm_image_free(&batch[i].image);
            if (sts[i] != VLM_OK) {
                err = errs[i];
                goto fail;
            }
            if (vlm_plan_run(plan, inputs + (size_t)i * f.input_count, NULL, emb, &err) != VLM_OK ||
                vlm_zeroshot_add(z, emb, batch[i].label, &err) != VLM_OK) {
                char msg[sizeof err.msg];
                snprintf(msg, sizeof msg, "%s", err.msg);
                vlm_error_set(&err, err.status, "%s: %s", batch[i].key, msg);
                goto fail;
            }
        }
        n += nb;
        vlm_progress_update(&bar, n, total);
    }
    double elapsed = now_s() - t0;
    vlm_progress_finish(&bar, n, total);
    int64_t skipped = vlm_cls_reader_skipped(rd);
    if (skipped)
        fprintf(stderr, "vlmbench %s: skipped %lld bad sample%s (not scored):\n%s", CMD,
                (long long)skipped, skipped == 1 ? "" : "s", vlm_cls_reader_warnings(rd));
    if (n == 0) {
        vlm_error_set(&err, VLM_ERR_FORMAT, "%s: no usable samples", o->data);
        goto fail;
    }
    fprintf(stderr, "vlmbench %s: %lld images in %.2f s (%.1f images/s)\n", CMD, (long long)n,
            elapsed, (double)n / elapsed);
    if (o->json && vlm_zeroshot_write_json(z, o->json, &err) != VLM_OK)
        goto fail;
    if (!o->json || strcmp(o->json, "-"))
        print_summary(z);
    if (o->results) {
        vlm_zeroshot_summary s;
        vlm_zeroshot_get_summary(z, &s);
        json_t *rec = json_object(), *metrics = json_object(), *items = json_array();
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        json_object_set_new(rec, "kind", json_string("eval"));
        json_object_set_new(rec, "time", json_string(now));
        json_object_set_new(rec, "model", json_string(o->model));
        json_object_set_new(rec, "res", json_integer(res));
        json_object_set_new(rec, "source", json_string("measured"));
        json_object_set_new(metrics, "imagenet_top1", json_real(100.0 * s.top1));
        json_object_set_new(metrics, "imagenet_top5",
                            isnan(s.top5) ? json_null() : json_real(100.0 * s.top5));
        json_object_set_new(rec, "metrics", metrics);
        for (int64_t i = 0; i < s.n; i++)
            json_array_append_new(items, json_integer(vlm_zeroshot_item_top1_correct(z, i)));
        json_t *mitems = json_object();
        json_object_set_new(mitems, "imagenet_top1", items);
        json_object_set_new(rec, "metric_items", mitems);
        /* the spec 6 summary fields (not the per-item lists and the classifier: a results
         * line stays small) */
        json_t *ev = json_object();
        json_object_set_new(ev, "benchmark", json_string("zeroshot"));
        json_object_set_new(ev, "n", json_integer(s.n));
        json_object_set_new(ev, "num_classes", json_integer(s.num_classes));
        json_object_set_new(ev, "top1", json_real(s.top1));
        json_object_set_new(ev, "top5", isnan(s.top5) ? json_null() : json_real(s.top5));
        json_object_set_new(ev, "mean_per_class_recall", json_real(s.mean_per_class_recall));
        json_object_set_new(ev, "data", json_string(o->data));
        json_object_set_new(rec, "eval", ev);
        vlm_status rs = vlm_results_append(o->results, rec, &err);
        json_decref(rec);
        if (rs != VLM_OK)
            goto fail;
    }
    goto out;
fail:
    code = vlm_cli_fail(CMD, &err);
out:
    if (batch)
        for (int i = 0; i < B; i++)
            vlm_image_free(&batch[i].image);
    free(batch);
    free(inputs);
    free(emb);
    free(sts);
    free(errs);
    free(w);
    vlm_cls_reader_close(rd);
    vlm_zeroshot_destroy(z);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    return code;
}

int vlm_cmd_eval_zeroshot(int argc, char **argv) {
    if (vlm_cli_wants_help(argc, argv)) {
        usage(stdout);
        return VLM_EXIT_OK;
    }
    static const struct option lopts[] = {{"features", required_argument, NULL, 'f'},
                                          {"json", required_argument, NULL, 'j'},
                                          {"model", required_argument, NULL, 'm'},
                                          {"weights", required_argument, NULL, 'w'},
                                          {"data", required_argument, NULL, 'd'},
                                          {"classifier", required_argument, NULL, 'c'},
                                          {"res", required_argument, NULL, 'r'},
                                          {"batch", required_argument, NULL, 'b'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"limit", required_argument, NULL, 'l'},
                                          {"results", required_argument, NULL, 'R'},
                                          {"progress", no_argument, NULL, 'p'},
                                          {"text-weights", required_argument, NULL, 'T'},
                                          {"vocab", required_argument, NULL, 'V'},
                                          {"text-model", required_argument, NULL, 'M'},
                                          {"classes", required_argument, NULL, 'C'},
                                          {"templates", required_argument, NULL, 'P'},
                                          {"save-text-features", required_argument, NULL, 'S'},
                                          {0}};
    opts o = {.batch = 16};
    const char *features = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'f': features = optarg; break;
        case 'j': o.json = optarg; break;
        case 'm': o.model = optarg; break;
        case 'w': o.weights = optarg; break;
        case 'd': o.data = optarg; break;
        case 'c': o.classifier = optarg; break;
        case 'R': o.results = optarg; break;
        case 'p': o.show_progress = 1; break;
        case 'T': o.text_weights = optarg; break;
        case 'V': o.vocab = optarg; break;
        case 'M': o.text_model = optarg; break;
        case 'C': o.classes = optarg; break;
        case 'S': o.save_text = optarg; break;
        case 'P':
            o.templates = optarg;
            if (strcmp(optarg, "openai") && strcmp(optarg, "simple")) {
                fprintf(stderr, "vlmbench %s: --templates is openai or simple, not '%s'\n", CMD,
                        optarg);
                return VLM_EXIT_USAGE;
            }
            break;
        case 'r': bad = vlm_cli_parse_int(CMD, "--res", optarg, 32, 4096, &o.res); break;
        case 'b': bad = vlm_cli_parse_int(CMD, "--batch", optarg, 1, 1024, &o.batch); break;
        case 't': bad = vlm_cli_parse_int(CMD, "--threads", optarg, 1, 1024, &o.threads); break;
        case 'l': bad = vlm_cli_parse_int(CMD, "--limit", optarg, 1, 1 << 30, &o.limit); break;
        default:
            fprintf(stderr, "vlmbench %s: unknown option or argument '%s'\n\n", CMD,
                    argv[optind - 1]);
            usage(stderr);
            return VLM_EXIT_USAGE;
        }
        if (bad)
            return VLM_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "vlmbench %s: unexpected argument '%s'\n\n", CMD, argv[optind]);
        usage(stderr);
        return VLM_EXIT_USAGE;
    }
    if (features) {
        if (o.model || o.weights || o.data || o.classifier || o.text_weights || o.vocab ||
            o.results || o.res || o.limit || o.threads) {
            fprintf(stderr,
                    "vlmbench %s: --features scores precomputed features; it takes "
                    "only --json\n",
                    CMD);
            return VLM_EXIT_USAGE;
        }
        return score_features(features, o.json);
    }
    if (o.text_weights || o.vocab) {
        if (!o.text_weights || !o.vocab) {
            fprintf(stderr, "vlmbench %s: --text-weights and --vocab go together\n", CMD);
            return VLM_EXIT_USAGE;
        }
        if (o.classifier) {
            fprintf(stderr, "vlmbench %s: give --classifier or --text-weights, not both\n", CMD);
            return VLM_EXIT_USAGE;
        }
        if (!o.model) {
            fprintf(stderr, "vlmbench %s: --text-weights needs --model (the image tower)\n",
                    CMD);
            return VLM_EXIT_USAGE;
        }
        if (!o.data && !o.save_text) {
            fprintf(stderr, "vlmbench %s: give --data, or --save-text-features FILE to only "
                            "build the classifier\n", CMD);
            return VLM_EXIT_USAGE;
        }
        if (!o.classes)
            o.classes = VLM_ZEROSHOT_CLASSES;
        return run_pipeline(&o);
    }
    if (o.text_model || o.classes || o.templates || o.save_text) {
        fprintf(stderr, "vlmbench %s: --text-model, --classes, --templates and "
                        "--save-text-features go with --text-weights\n", CMD);
        return VLM_EXIT_USAGE;
    }
    if (!o.model || !o.data || !o.classifier) {
        fprintf(stderr,
                "vlmbench %s: give --features DIR, or --model, --data and "
                "--classifier (see --help)\n",
                CMD);
        return VLM_EXIT_USAGE;
    }
    return run_pipeline(&o);
}
