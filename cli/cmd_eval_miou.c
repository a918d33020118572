/* vlmbench eval miou: semantic segmentation scoring (spec eval.md sections 4 and 6). */
#include "cli/cli.h"
#include "eval/eval.h"

#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char USAGE[] =
    "usage: vlmbench eval miou DIR [--json FILE] [--progress]\n"
    "       vlmbench eval miou --dataset ade20k|voc|cocostuff --gt ROOT --pred DIR\n"
    "                          [--num-classes C] [--ignore-index N] [--reduce-zero-label 0|1]\n"
    "                          [--pred-offset K] [--json FILE] [--progress]\n"
    "       vlmbench eval miou --dataset ade20k|voc|cocostuff --gt ROOT --model M\n"
    "                          [--weights CKPT] [--res N] [--threads N] [--limit N]\n"
    "                          (--classifier FILE | --text-weights CKPT --vocab FILE\n"
    "                           --classes FILE [--text-model T] [--templates openai|simple])\n"
    "\n"
    "Scores predicted label maps against ground truth as mmsegmentation's IoUMetric does:\n"
    "areas summed over the dataset in 64-bit integers, then aAcc, mIoU, mAcc, mDice, mFscore,\n"
    "mPrecision and mRecall (NaN classes left out of the means, printed as null / nan).\n"
    "\n"
    "DIR holds config.json {\"num_classes\", \"ignore_index\", \"reduce_zero_label\",\n"
    "\"label_map\", \"nan_to_num\", \"images\": [{\"gt\": NAME, \"pred\": NAME}]} and the maps as\n"
    "NAME.npy, NAME.bin + NAME.json (GT uint8, predictions uint8 or int32) or NAME.png.\n"
    "\n"
    "--dataset reads the ground truth of a dataset folder, or streams it from the dataset's\n"
    "archive (.zip, .tar, .tar.gz, .tar.zst, ...):\n"
    "  ade20k     annotations/validation/*.png, 150 classes, reduce_zero_label\n"
    "  voc        SegmentationClass/*.png (only the stems of ImageSets/Segmentation/val.txt\n"
    "             when present), 21 classes\n"
    "  cocostuff  annotations/val2017/*_labelTrainIds.png, or raw-id *.png converted as mmseg's\n"
    "             converter does, 171 classes\n"
    "and for each annotation STEM the prediction PRED/STEM.png (or .npy / .bin). Annotation PNGs\n"
    "are read as stored values (palette indices, grey values), never as colours.\n"
    "  --pred-offset K   subtract K from every prediction (ADE20K submission files: 1)\n"
    "  --json FILE       write the score JSON (spec section 6) to FILE ('-': stdout, no table)\n"
    "  --progress        progress line on stderr (default when stderr is a terminal)\n"
    "\n"
    "\n"
    "Zero-shot segmentation (SAM-CLIP's open-vocabulary protocol), instead of --pred: every\n"
    "image of the dataset folder (ROOT must be a directory here) is resized to N x N (--res,\n"
    "default the model's) with the tower's zero-shot preprocessing, the engine computes one\n"
    "CLIP embedding per patch (the CLIP head on every token: mci0-2, vit-b16, vit-l14-336),\n"
    "each is scored against the class embeddings (--classifier [C, D] or [C, T, D], or built\n"
    "by the text tower from --classes: JSON with \"classnames\" in the dataset's class order\n"
    "and \"templates\"), the [C, h, w] logits are resized bilinearly to the annotation's size\n"
    "and the argmax per pixel is the prediction.\n"
    "\n"
    "Prints a per-class table and the summary (percentages rounded as mmseg 1.x prints them).\n";

/* ---- zero-shot segmentation: predictions from the engine --------------------------------- */

typedef struct zs_opts {
    const char *model, *weights;
    int res, limit;
    vlm_cli_classifier_opts cls;
} zs_opts;

static vlm_status zeroshot_dataset(const char *root, vlm_seg_layout layout, const vlm_seg_params *p,
                                   const zs_opts *o, vlm_progress *prog, vlm_seg **out,
                                   vlm_error *err) {
    vlm_cli_prep pre;
    const vlm_model_info *mi = vlm_model_find(o->model);
    if (!mi || strcmp(mi->kind, "vision") || mi->embed_dim <= 0 || vlm_cli_prep_for(o->model, &pre))
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "--model %s: not a CLIP image tower with a zero-shot preprocessing "
                             "(mci0, mci1, mci2, vit-b16, vit-l14-336)",
                             o->model);
    double *w = NULL;
    int C = 0;
    vlm_status st = vlm_cli_classifier(&o->cls, mi->embed_dim, &w, &C, err);
    if (st != VLM_OK)
        return st;
    vlm_seg_pair *pairs = NULL;
    size_t n = 0;
    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    float *input = NULL, *feat = NULL;
    int32_t *pred = NULL, coco[256];
    vlm_seg_params sp = *p;
    vlm_seg *sg = NULL;
    if (C != p->num_classes) {
        st = vlm_error_set(err, VLM_ERR_INVALID,
                           "the classifier has %d classes but the dataset is scored with %d "
                           "(--num-classes, or a classes file in the dataset's class order)",
                           C, p->num_classes);
        goto out;
    }
    if ((st = vlm_seg_dataset_list(root, layout, &pairs, &n, err)) != VLM_OK)
        goto out;
    int res = o->res ? o->res : mi->default_res;
    vlm_ctx_params cp = vlm_ctx_default_params();
    cp.threads = o->cls.threads;
    vlm_plan_params pp = vlm_plan_default_params();
    pp.model = o->model;
    pp.weights = o->weights;
    pp.height = pp.width = res;
    pp.dense = 1;
    if ((st = vlm_ctx_create(&cp, &ctx, err)) != VLM_OK ||
        (st = vlm_plan_create(ctx, &pp, &plan, err)) != VLM_OK)
        goto out;
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    input = malloc((size_t)f.input_count * sizeof *input);
    feat = malloc((size_t)f.out_rows * (size_t)f.feature_dim * sizeof *feat);
    if (!input || !feat) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && (!o->limit || (int)i < o->limit); i++) {
        if (!pairs[i].image) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no image for annotation %s", root,
                               pairs[i].annotation);
            goto out;
        }
        if (!sg) {
            if (pairs[i].raw_ids && !sp.label_map) {
                vlm_seg_cocostuff_label_map(coco);
                sp.label_map = coco;
                sp.label_map_len = 256;
            }
            if ((st = vlm_seg_create(&sp, &sg, err)) != VLM_OK)
                goto out;
        }
        vlm_image im = {0}, rs = {0};
        vlm_label_map gt = {0};
        st = vlm_image_read(pairs[i].image, &im, err);
        if (st == VLM_OK)
            st = vlm_image_resize(&im, res, res, pre.filter, &rs, err);
        if (st == VLM_OK)
            vlm_image_to_tensor(&rs, pre.mean, pre.std, input);
        vlm_image_free(&im);
        vlm_image_free(&rs);
        if (st == VLM_OK)
            st = vlm_label_map_read(pairs[i].annotation, &gt, err);
        if (st == VLM_OK)
            st = vlm_plan_run(plan, input, feat, NULL, err);
        if (st == VLM_OK) {
            free(pred);
            pred = malloc((size_t)gt.width * gt.height * sizeof *pred);
            st = pred ? vlm_seg_dense_predict(feat, f.grid_h, f.grid_w, f.feature_dim, w, C,
                                              gt.height, gt.width, pred, err)
                      : vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        if (st == VLM_OK)
            st = vlm_seg_add(sg, pred, gt.values, (int64_t)gt.width * gt.height, err);
        vlm_label_map_free(&gt);
        if (st != VLM_OK)
            goto out;
        vlm_progress_update(prog, (int64_t)i + 1,
                            o->limit && o->limit < (int)n ? o->limit : (int64_t)n);
    }
    if (!sg)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no annotation to score", root);
out:
    if (st != VLM_OK) {
        vlm_seg_destroy(sg);
        sg = NULL;
    }
    *out = sg;
    free(w);
    free(input);
    free(feat);
    free(pred);
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    vlm_seg_pairs_free(pairs, n);
    return st;
}

static void print_table(vlm_seg *sg, FILE *out) {
    vlm_seg_metrics m;
    vlm_seg_get_metrics(sg, &m);
    vlm_seg_areas a = vlm_seg_get_areas(sg);
    const int c = vlm_seg_num_classes(sg);
    fprintf(out, "%5s %8s %8s %8s %8s %9s %8s %12s %12s\n", "class", "IoU", "Acc", "Dice", "Fscore",
            "Precision", "Recall", "label_px", "pred_px");
    for (int k = 0; k < c; k++) {
        const double v[6] = {m.iou[k],    m.acc[k],       m.dice[k],
                             m.fscore[k], m.precision[k], m.recall[k]};
        fprintf(out, "%5d", k);
        for (int i = 0; i < 6; i++) {
            double r = vlm_seg_percent_rounded(v[i]);
            if (isnan(r))
                fprintf(out, i == 4 ? " %9s" : " %8s", "nan");
            else
                fprintf(out, i == 4 ? " %9.2f" : " %8.2f", r);
        }
        fprintf(out, " %12lld %12lld\n", (long long)a.label[k], (long long)a.pred[k]);
    }
    const char *keys[] = {"aAcc", "mIoU", "mAcc", "mDice", "mFscore", "mPrecision", "mRecall"};
    const double vals[] = {m.aacc, m.miou, m.macc, m.mdice, m.mfscore, m.mprecision, m.mrecall};
    fprintf(out, "images: %lld\n", (long long)vlm_seg_images(sg));
    for (int i = 0; i < 7; i++) {
        double r = vlm_seg_percent_rounded(vals[i]);
        if (isnan(r))
            fprintf(out, "%s%s: nan", i ? ", " : "", keys[i]);
        else
            fprintf(out, "%s%s: %.2f", i ? ", " : "", keys[i], r);
    }
    fputc('\n', out);
}

/* The prediction for stem in dir: STEM.png, STEM.npy or STEM.bin. */
static vlm_status read_pred(const char *dir, const char *stem, vlm_label_map *m, vlm_error *err) {
    static const char *const exts[] = {".png", ".npy", ".bin"};
    size_t n = strlen(dir) + strlen(stem) + 8;
    char *path = malloc(n);
    if (!path)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 3; i++) {
        snprintf(path, n, "%s/%s%s", dir, stem, exts[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            vlm_status s = vlm_label_map_read(path, m, err);
            free(path);
            return s;
        }
    }
    free(path);
    return vlm_error_set(err, VLM_ERR_IO, "%s: no prediction %s.png, .npy or .bin", dir, stem);
}

typedef struct dataset_run {
    vlm_seg_params params;
    const char *pred_dir;
    int pred_offset;
    vlm_progress *prog;
    int64_t done;
    vlm_seg *sg; /* created at the first annotation (raw COCO-Stuff ids decide the label map) */
    int32_t coco[256];
} dataset_run;

static vlm_status score_one(void *ctx, const char *stem, const vlm_label_map *g, int raw_ids,
                            vlm_error *err) {
    dataset_run *run = ctx;
    vlm_status st;
    if (!run->sg) {
        /* COCO-Stuff annotations with raw ids go through mmseg's converter (spec 4.1). */
        if (raw_ids && !run->params.label_map) {
            vlm_seg_cocostuff_label_map(run->coco);
            run->params.label_map = run->coco;
            run->params.label_map_len = 256;
        }
        if ((st = vlm_seg_create(&run->params, &run->sg, err)) != VLM_OK)
            return st;
    }
    vlm_label_map pr = {0};
    if ((st = read_pred(run->pred_dir, stem, &pr, err)) != VLM_OK)
        return st;
    if (pr.width != g->width || pr.height != g->height) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: prediction is %dx%d, ground truth is %dx%d (same shape needed)",
                           stem, pr.width, pr.height, g->width, g->height);
    } else {
        size_t np = (size_t)pr.width * pr.height;
        for (size_t k = 0; run->pred_offset && k < np; k++)
            pr.values[k] -= run->pred_offset;
        st = vlm_seg_add(run->sg, pr.values, g->values, (int64_t)np, err);
    }
    vlm_label_map_free(&pr);
    vlm_progress_update(run->prog, ++run->done, -1);
    return st;
}

static vlm_status score_dataset(const char *gt_root, vlm_seg_layout layout, const char *pred_dir,
                                const vlm_seg_params *p, int pred_offset, vlm_progress *prog,
                                vlm_seg **out, vlm_error *err) {
    dataset_run run = {
        .params = *p, .pred_dir = pred_dir, .pred_offset = pred_offset, .prog = prog};
    int64_t count;
    vlm_status st = vlm_seg_dataset_each(gt_root, layout, score_one, &run, &count, err);
    if (st == VLM_OK && !run.sg)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no annotation to score", gt_root);
    if (st != VLM_OK) {
        vlm_seg_destroy(run.sg);
        return st;
    }
    (void)count;
    *out = run.sg;
    return VLM_OK;
}

int vlm_cmd_eval_miou(int argc, char **argv) {
    if (vlm_cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return VLM_EXIT_OK;
    }
    /* Every image allocates and frees a few map-sized buffers (1 MiB for 512 x 512 int32);
     * glibc would mmap and unmap each one, zero-filling fresh pages every time (more than half
     * the run time for 2,000 ADE20K-sized maps). Keep them in the heap instead. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    static const struct option opts[] = {{"json", required_argument, NULL, 'j'},
                                         {"progress", no_argument, NULL, 'P'},
                                         {"dataset", required_argument, NULL, 'd'},
                                         {"gt", required_argument, NULL, 'g'},
                                         {"pred", required_argument, NULL, 'p'},
                                         {"num-classes", required_argument, NULL, 'c'},
                                         {"ignore-index", required_argument, NULL, 'i'},
                                         {"reduce-zero-label", required_argument, NULL, 'r'},
                                         {"pred-offset", required_argument, NULL, 'o'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"weights", required_argument, NULL, 'w'},
                                         {"res", required_argument, NULL, 'R'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"classifier", required_argument, NULL, 'C'},
                                         {"text-weights", required_argument, NULL, 'T'},
                                         {"vocab", required_argument, NULL, 'V'},
                                         {"text-model", required_argument, NULL, 'M'},
                                         {"classes", required_argument, NULL, 'L'},
                                         {"templates", required_argument, NULL, 'E'},
                                         {0}};
    zs_opts zo = {0};
    const char *json_path = NULL, *dataset = NULL, *gt = NULL, *pred = NULL;
    int progress = 0, num_classes = 0, ignore = -1, reduce = -1, offset = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json_path = optarg; break;
        case 'P': progress = 1; break;
        case 'd': dataset = optarg; break;
        case 'g': gt = optarg; break;
        case 'p': pred = optarg; break;
        case 'c':
            if (vlm_cli_parse_int("eval miou", "--num-classes", optarg, 1, VLM_SEG_MAX_CLASSES,
                                  &num_classes))
                return VLM_EXIT_USAGE;
            break;
        case 'i':
            if (vlm_cli_parse_int("eval miou", "--ignore-index", optarg, 0, 65535, &ignore))
                return VLM_EXIT_USAGE;
            break;
        case 'r':
            if (vlm_cli_parse_int("eval miou", "--reduce-zero-label", optarg, 0, 1, &reduce))
                return VLM_EXIT_USAGE;
            break;
        case 'o':
            if (vlm_cli_parse_int("eval miou", "--pred-offset", optarg, -65535, 65535, &offset))
                return VLM_EXIT_USAGE;
            break;
        case 'm': zo.model = optarg; break;
        case 'w': zo.weights = optarg; break;
        case 'C': zo.cls.classifier = optarg; break;
        case 'T': zo.cls.text_weights = optarg; break;
        case 'V': zo.cls.vocab = optarg; break;
        case 'M': zo.cls.text_model = optarg; break;
        case 'L': zo.cls.classes = optarg; break;
        case 'E': zo.cls.templates = optarg; break;
        case 'R':
            if (vlm_cli_parse_int("eval miou", "--res", optarg, 16, 4096, &zo.res))
                return VLM_EXIT_USAGE;
            break;
        case 't':
            if (vlm_cli_parse_int("eval miou", "--threads", optarg, 1, 1024, &zo.cls.threads))
                return VLM_EXIT_USAGE;
            break;
        case 'l':
            if (vlm_cli_parse_int("eval miou", "--limit", optarg, 1, 1 << 30, &zo.limit))
                return VLM_EXIT_USAGE;
            break;
        default:
            fprintf(stderr, "vlmbench eval miou: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], USAGE);
            return VLM_EXIT_USAGE;
        }
    }
    const char *dir = NULL;
    if (optind < argc)
        dir = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "vlmbench eval miou: unexpected argument '%s'\n%s", argv[optind], USAGE);
        return VLM_EXIT_USAGE;
    }
    bool zs = zo.model != NULL;
    bool zs_opt = zo.weights || zo.res || zo.limit || zo.cls.threads || zo.cls.classifier ||
                  zo.cls.text_weights || zo.cls.vocab || zo.cls.text_model || zo.cls.classes ||
                  zo.cls.templates;
    if (zs && (!dataset || pred || offset ||
               !!zo.cls.classifier == !!(zo.cls.text_weights || zo.cls.vocab) ||
               (zo.cls.text_weights && (!zo.cls.vocab || !zo.cls.classes)))) {
        fprintf(stderr,
                "vlmbench eval miou: zero-shot segmentation takes --dataset, --gt, --model and "
                "either --classifier or --text-weights with --vocab and --classes (no "
                "--pred)\n%s",
                USAGE);
        return VLM_EXIT_USAGE;
    }
    if (!zs && zs_opt) {
        fprintf(stderr,
                "vlmbench eval miou: --weights, --res, --classifier, --text-weights "
                "... go with --model (zero-shot segmentation)\n%s",
                USAGE);
        return VLM_EXIT_USAGE;
    }
    if (!!dir == !!dataset || (dataset && (!gt || (!pred && !zs))) ||
        (dir && (gt || pred || num_classes || ignore >= 0 || reduce >= 0 || offset))) {
        fprintf(stderr,
                "vlmbench eval miou: give either DIR, or --dataset with --gt and --pred "
                "(dataset options only with --dataset)\n%s",
                USAGE);
        return VLM_EXIT_USAGE;
    }
    vlm_error err = {0};
    vlm_progress prog;
    vlm_progress_init(&prog, "miou", "images", progress);
    vlm_seg *sg = NULL;
    vlm_status st;
    if (dir) {
        st = vlm_seg_score_dir(dir, vlm_progress_callback, &prog, &sg, &err);
    } else {
        vlm_seg_layout layout;
        if ((st = vlm_seg_layout_parse(dataset, &layout, &err)) != VLM_OK)
            return vlm_cli_fail("eval miou", &err);
        int def_c = layout == VLM_SEG_ADE20K ? 150 : layout == VLM_SEG_VOC ? 21 : 171;
        vlm_seg_params p = vlm_seg_default_params(num_classes ? num_classes : def_c);
        p.reduce_zero_label = reduce >= 0 ? reduce : layout == VLM_SEG_ADE20K;
        if (ignore >= 0)
            p.ignore_index = ignore;
        if (zs) {
            zo.cls.image_model = zo.model;
            zo.cls.show_progress = progress;
            st = zeroshot_dataset(gt, layout, &p, &zo, &prog, &sg, &err);
        } else {
            st = score_dataset(gt, layout, pred, &p, offset, &prog, &sg, &err);
        }
    }
    vlm_progress_finish(&prog, sg ? vlm_seg_images(sg) : 0, sg ? vlm_seg_images(sg) : -1);
    if (st != VLM_OK)
        return vlm_cli_fail("eval miou", &err);
    if (!json_path || strcmp(json_path, "-"))
        print_table(sg, stdout);
    if (json_path) {
        json_t *j = vlm_seg_json(sg);
        if (!j) {
            vlm_seg_destroy(sg);
            vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
            return vlm_cli_fail("eval miou", &err);
        }
        st = vlm_json_write_file(j, json_path, &err);
        json_decref(j);
    }
    vlm_seg_destroy(sg);
    return st == VLM_OK ? VLM_EXIT_OK : vlm_cli_fail("eval miou", &err);
}
