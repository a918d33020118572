/* vlmbench eval depth: NYUv2-style depth metrics from predicted and ground-truth maps. */
#include "cli/cli.h"
#include "eval/eval.h"

#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char USAGE[] =
    "usage: vlmbench eval depth --gt DIR --pred DIR [--min-depth M] [--max-depth M] [--clamp]\n"
    "                           [--eigen-crop] [--png-scale S] [--json FILE] [--progress]\n"
    "\n"
    "Depth estimation metrics as the common NYUv2 evaluation code computes them: RMSE, abs-rel,\n"
    "sq-rel, log10, RMSE(log), SILog and delta < 1.25, 1.25^2, 1.25^3, per image over its valid\n"
    "pixels then averaged over images (mean_per_image, what papers print), and pooled over all\n"
    "valid pixels.\n"
    "\n"
    "Every ground-truth map in --gt (walked recursively, sorted) is paired with the prediction of\n"
    "the same relative stem in --pred. Maps: .npy or .bin + .json arrays [H, W] or [1, H, W] in\n"
    "metres, or 16-bit greyscale PNGs in millimetres (as the NYUv2 toolbox exports them), divided\n"
    "by --png-scale (default 1000). A ground-truth depth of 0 means no measurement.\n"
    "  --min-depth M, --max-depth M  valid = min < gt < max (defaults 0 and infinity; NYUv2\n"
    "                                papers: 1e-3 and 10)\n"
    "  --clamp         clamp predictions to [min, max] first (needs --min-depth > 0)\n"
    "  --eigen-crop    only rows 45..470, columns 41..600 of 640x480 maps (Eigen et al.)\n"
    "  --json FILE     write the score JSON to FILE ('-': stdout)\n"
    "  --progress      progress line on stderr (default when stderr is a terminal)\n";

static int is_map(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".npy") || !strcmp(dot, ".bin") || !strcmp(dot, ".png"));
}

/* pred_dir/STEM.npy, .bin or .png, STEM being rel without its extension. */
static vlm_status read_pred(const char *pred_dir, const char *rel, double png_scale, float **v,
                            int *w, int *h, vlm_error *err) {
    static const char *const exts[] = {".npy", ".bin", ".png"};
    size_t stem_len = (size_t)(strrchr(rel, '.') - rel);
    size_t n = strlen(pred_dir) + strlen(rel) + 8;
    char *path = malloc(n);
    if (!path)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 3; i++) {
        snprintf(path, n, "%s/%.*s%s", pred_dir, (int)stem_len, rel, exts[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            vlm_status s = vlm_depth_map_read(path, png_scale, v, w, h, err);
            free(path);
            return s;
        }
    }
    free(path);
    return vlm_error_set(err, VLM_ERR_IO, "%s: no prediction for %.*s (.npy, .bin or .png)",
                         pred_dir, (int)stem_len, rel);
}

int vlm_cmd_eval_depth(int argc, char **argv) {
    if (vlm_cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return VLM_EXIT_OK;
    }
    /* Every image allocates and frees a few map-sized buffers (1 MiB for 512 x 512 int32);
     * glibc would mmap and unmap each one, zero-filling fresh pages every time (more than half
     * the run time for 2,000 ADE20K-sized maps). Keep them in the heap instead. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    static const struct option opts[] = {
        {"gt", required_argument, NULL, 'g'},        {"pred", required_argument, NULL, 'p'},
        {"min-depth", required_argument, NULL, 'm'}, {"max-depth", required_argument, NULL, 'M'},
        {"clamp", no_argument, NULL, 'c'},           {"eigen-crop", no_argument, NULL, 'e'},
        {"png-scale", required_argument, NULL, 's'}, {"json", required_argument, NULL, 'j'},
        {"progress", no_argument, NULL, 'P'},        {0}};
    const char *gt = NULL, *pred = NULL, *json_path = NULL;
    vlm_depth_params p = vlm_depth_default_params();
    double png_scale = 1000;
    int progress = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'g': gt = optarg; break;
        case 'p': pred = optarg; break;
        case 'm':
            if (vlm_cli_parse_double("eval depth", "--min-depth", optarg, 0, 1e9, &p.min_depth))
                return VLM_EXIT_USAGE;
            break;
        case 'M':
            if (vlm_cli_parse_double("eval depth", "--max-depth", optarg, 0, 1e9, &p.max_depth))
                return VLM_EXIT_USAGE;
            break;
        case 'c': p.clamp_pred = 1; break;
        case 'e': p.eigen_crop = 1; break;
        case 's':
            if (vlm_cli_parse_double("eval depth", "--png-scale", optarg, 1e-9, 1e12, &png_scale))
                return VLM_EXIT_USAGE;
            break;
        case 'j': json_path = optarg; break;
        case 'P': progress = 1; break;
        default:
            fprintf(stderr, "vlmbench eval depth: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], USAGE);
            return VLM_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vlmbench eval depth: unexpected argument '%s'\n%s", argv[optind], USAGE);
        return VLM_EXIT_USAGE;
    }
    if (!gt || !pred) {
        fprintf(stderr, "vlmbench eval depth: --gt and --pred are required\n%s", USAGE);
        return VLM_EXIT_USAGE;
    }
    vlm_error err = {0};
    vlm_depth *d;
    if (vlm_depth_create(&p, &d, &err) != VLM_OK)
        return vlm_cli_fail("eval depth", &err);
    vlm_source *src;
    if (vlm_source_open(gt, &src, &err) != VLM_OK) {
        vlm_depth_destroy(d);
        return vlm_cli_fail("eval depth", &err);
    }
    vlm_progress prog;
    vlm_progress_init(&prog, "depth", "images", progress);
    vlm_source_entry e;
    int done = 0;
    int64_t n = 0;
    vlm_status st;
    while ((st = vlm_source_next(src, &e, &done, &err)) == VLM_OK && !done) {
        if (!is_map(e.name))
            continue;
        size_t pl = strlen(gt) + strlen(e.name) + 2;
        char *gpath = malloc(pl);
        if (!gpath) {
            st = vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
            break;
        }
        /* a plain file as --gt is its own single map */
        struct stat sb;
        if (stat(gt, &sb) == 0 && S_ISDIR(sb.st_mode))
            snprintf(gpath, pl, "%s/%s", gt, e.name);
        else
            snprintf(gpath, pl, "%s", gt);
        float *gv = NULL, *pv = NULL;
        int gw, gh, pw, ph;
        st = vlm_depth_map_read(gpath, png_scale, &gv, &gw, &gh, &err);
        if (st == VLM_OK)
            st = read_pred(pred, e.name, png_scale, &pv, &pw, &ph, &err);
        if (st == VLM_OK && (pw != gw || ph != gh))
            st = vlm_error_set(&err, VLM_ERR_FORMAT,
                               "%s: prediction is %dx%d, ground truth %dx%d (same shape needed)",
                               e.name, pw, ph, gw, gh);
        if (st == VLM_OK)
            st = vlm_depth_add(d, pv, gv, gw, gh, &err);
        free(gv);
        free(pv);
        free(gpath);
        if (st != VLM_OK)
            break;
        vlm_progress_update(&prog, ++n, -1);
    }
    vlm_source_close(src);
    vlm_progress_finish(&prog, n, -1);
    if (st == VLM_OK && n == 0)
        st = vlm_error_set(&err, VLM_ERR_FORMAT, "%s: no depth map (.npy, .bin or .png)", gt);
    if (st != VLM_OK) {
        vlm_depth_destroy(d);
        return vlm_cli_fail("eval depth", &err);
    }
    vlm_depth_metrics m;
    vlm_depth_get_metrics(d, &m);
    if (!json_path || strcmp(json_path, "-")) {
        printf("images: %lld (%lld without a valid pixel), valid pixels: %lld, bad predictions: "
               "%lld\n",
               (long long)m.n_images, (long long)m.n_images_empty, (long long)m.n_valid,
               (long long)m.n_bad_pred);
        printf("%-15s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "rmse", "abs_rel", "sq_rel",
               "log10", "rmse_log", "silog", "d1", "d2", "d3");
        const vlm_depth_values *rows[2] = {&m.mean_per_image, &m.pooled};
        const char *names[2] = {"mean_per_image", "pooled"};
        for (int r = 0; r < 2; r++) {
            const vlm_depth_values *v = rows[r];
            printf("%-15s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", names[r],
                   v->rmse, v->abs_rel, v->sq_rel, v->log10, v->rmse_log, v->silog, v->delta1,
                   v->delta2, v->delta3);
        }
    }
    if (json_path) {
        json_t *j = vlm_depth_json(d);
        st = j ? vlm_json_write_file(j, json_path, &err)
               : vlm_error_set(&err, VLM_ERR_NOMEM, "out of memory");
        json_decref(j);
    }
    vlm_depth_destroy(d);
    return st == VLM_OK ? VLM_EXIT_OK : vlm_cli_fail("eval depth", &err);
}
