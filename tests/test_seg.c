/* eval/seg.c and `vlmbench eval miou`: expected values come from an independent NumPy
 * re-implementation of mmsegmentation's IoUMetric (LoadAnnotations' label_map and
 * reduce_zero_label, intersect_and_union's histograms, total_area_to_metrics), run in the test. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

VLM_TEST_TMPDIR_SUITE(seg)

/* Python prelude: save(name, array, fmt) writes a canonical map; reference(...) scores maps
 * the way mmseg does and writes expected.json (NaN as null). */
static const char PRELUDE[] =
    "import sys, os, json, warnings\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "warnings.simplefilter('ignore')\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(12345)\n"
    "def save(dirname, name, a, fmt='npy'):\n"
    "    os.makedirs(dirname, exist_ok=True)\n"
    "    if fmt == 'npy': np.save(f'{dirname}/{name}.npy', a)\n"
    "    elif fmt == 'bin':\n"
    "        "
    "np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tofile(f'{dirname}/{name}.bin')\n"
    "        json.dump({'shape': list(a.shape), 'dtype': str(a.dtype), 'order': 'C',\n"
    "                   'byteorder': 'little'}, open(f'{dirname}/{name}.json', 'w'))\n"
    "    else: Image.fromarray(a).save(f'{dirname}/{name}.png')\n"
    "def load_gt(gt, label_map, reduce):\n"
    "    gt = gt.astype(np.uint8)\n"
    "    if label_map:\n"
    "        cp = gt.copy()\n"
    "        for o, n in label_map.items(): gt[cp == int(o)] = n\n"
    "    if reduce:\n"
    "        gt[gt == 0] = 255; gt = gt - 1; gt[gt == 254] = 255\n"
    "    return gt\n"
    "def reference(pairs, C, ignore=255, reduce=False, label_map=None, nan_to_num=None):\n"
    "    I = np.zeros(C, np.int64); P = I.copy(); L = I.copy()\n"
    "    hist = lambda x: np.bincount(x[(x >= 0) & (x < C)], minlength=C)[:C]\n"
    "    for pred, gt in pairs:\n"
    "        gt = load_gt(gt, label_map, reduce)\n"
    "        m = gt != ignore\n"
    "        p = pred[m].astype(np.int64); g = gt[m].astype(np.int64)\n"
    "        I += hist(p[p == g]); P += hist(p); L += hist(g)\n"
    "    U = P + L - I\n"
    "    with np.errstate(all='ignore'):\n"
    "        iou = I / U; acc = I / L; dice = 2 * I / (P + L); prec = I / P; rec = I / L\n"
    "        fs = 2 * prec * rec / (prec + rec)\n"
    "        aacc = I.sum() / L.sum() if L.sum() else np.nan\n"
    "    per = dict(IoU=iou, Acc=acc, Dice=dice, Fscore=fs, Precision=prec, Recall=rec)\n"
    "    if nan_to_num is not None:\n"
    "        per = {k: np.nan_to_num(v, nan=nan_to_num) for k, v in per.items()}\n"
    "        aacc = np.nan_to_num(aacc, nan=nan_to_num)\n"
    "    nm = lambda v: float(np.nanmean(v)) if np.any(~np.isnan(v)) else None\n"
    "    fl = lambda x: None if x is None or np.isnan(x) else float(x)\n"
    "    summ = {'aAcc': fl(aacc), 'mIoU': nm(per['IoU']), 'mAcc': nm(per['Acc']),\n"
    "            'mDice': nm(per['Dice']), 'mFscore': nm(per['Fscore']),\n"
    "            'mPrecision': nm(per['Precision']), 'mRecall': nm(per['Recall'])}\n"
    "    rnd = {k: (None if v is None else float(np.round(v * 100, 2))) for k, v in summ.items()}\n"
    "    out = {'num_classes': C, 'summary': summ, 'summary_percent_rounded': rnd,\n"
    "           'per_class': {k: [fl(x) for x in v] for k, v in per.items()},\n"
    "           'areas': {'intersect': I.tolist(), 'union': U.tolist(), 'pred': P.tolist(),\n"
    "                     'label': L.tolist()}}\n"
    "    json.dump(out, open(f'{d}/expected.json', 'w'))\n"
    "def spec_dir(name, pairs, C, fmt_gt='npy', fmt_pred='npy', **kw):\n"
    "    root = f'{d}/{name}'\n"
    "    cfg = {'num_classes': C, 'ignore_index': kw.get('ignore', 255),\n"
    "           'reduce_zero_label': kw.get('reduce', False), 'label_map': kw.get('label_map'),\n"
    "           'nan_to_num': kw.get('nan_to_num'), 'images': []}\n"
    "    for i, (p, g) in enumerate(pairs):\n"
    "        save(root, f'gt{i}', g, fmt_gt); save(root, f'pred{i}', p, fmt_pred)\n"
    "        cfg['images'].append({'gt': f'gt{i}', 'pred': f'pred{i}'})\n"
    "    os.makedirs(root, exist_ok=True)\n"
    "    json.dump(cfg, open(f'{root}/config.json', 'w'))\n"
    "    reference(pairs, C, **kw)\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PRELUDE, script);
}

static void check_number(const char *what, json_t *got, json_t *want) {
    if (json_is_null(want)) {
        cr_assert(json_is_null(got), "%s: expected null (NaN), got %g", what,
                  json_number_value(got));
        return;
    }
    cr_assert(json_is_number(got), "%s: expected %.17g, got a non-number", what,
              json_number_value(want));
    double g = json_number_value(got), w = json_number_value(want);
    cr_assert(fabs(g - w) <= 1e-12 * fmax(1, fabs(w)), "%s: got %.17g, expected %.17g", what, g, w);
}

/* Compares every field of want with got. */
static void check_json(json_t *got, json_t *want) {
    cr_assert_str_eq(json_string_value(json_object_get(got, "benchmark")), "miou");
    cr_assert_eq(json_integer_value(json_object_get(got, "num_classes")),
                 json_integer_value(json_object_get(want, "num_classes")));
    const char *groups[] = {"summary", "summary_percent_rounded"};
    for (int g = 0; g < 2; g++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(want, groups[g]), k, v) {
            char what[64];
            snprintf(what, sizeof what, "%s.%s", groups[g], k);
            check_number(what, json_object_get(json_object_get(got, groups[g]), k), v);
        }
    }
    const char *k;
    json_t *arr;
    json_object_foreach(json_object_get(want, "per_class"), k, arr) {
        json_t *ga = json_object_get(json_object_get(got, "per_class"), k);
        cr_assert_eq(json_array_size(ga), json_array_size(arr), "per_class.%s size", k);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char what[64];
            snprintf(what, sizeof what, "per_class.%s[%zu]", k, i);
            check_number(what, json_array_get(ga, i), json_array_get(arr, i));
        }
    }
    json_object_foreach(json_object_get(want, "areas"), k, arr) {
        json_t *ga = json_object_get(json_object_get(got, "areas"), k);
        cr_assert_eq(json_array_size(ga), json_array_size(arr), "areas.%s size", k);
        for (size_t i = 0; i < json_array_size(arr); i++)
            cr_assert_eq(json_integer_value(json_array_get(ga, i)),
                         json_integer_value(json_array_get(arr, i)), "areas.%s[%zu]", k, i);
    }
}

static json_t *load_json(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    cr_assert_not_null(j, "%s: %s", path, je.text);
    return j;
}

/* Scores dir through the library and through the CLI and checks both against expected.json. */
static void check_dir(const char *name) {
    json_t *want = load_json(tpath("expected.json"));
    vlm_seg *sg;
    vlm_error err = {0};
    cr_assert_eq(vlm_seg_score_dir(tpath(name), NULL, NULL, &sg, &err), VLM_OK, "%s", err.msg);
    json_t *got = vlm_seg_json(sg);
    check_json(got, want);
    json_decref(got);
    vlm_seg_destroy(sg);

    char *argv[] = {
        VLM_BIN, "eval", "miou", (char *)tpath(name), "--json", (char *)tpath("out.json"), NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.out, "mIoU"), "no summary in the table:\n%s", r.out);
    got = load_json(tpath("out.json"));
    check_json(got, want);
    json_decref(got);
    vlm_run_free(&r);
    json_decref(want);
}

Test(seg, absent_and_extra_classes_ignore_and_out_of_range_values) {
    /* C = 6: class 5 is in neither GT nor prediction (NaN, excluded), class 4 is only
     * predicted (IoU 0, Acc NaN), GT 255 is ignored whatever is predicted there, GT 7 (>= C,
     * not 255) adds to nothing, predictions 255 / -1 / 6 are misses; int32 predictions. */
    python("pairs = []\n"
           "for h, w in ((17, 23), (31, 9), (5, 40)):\n"
           "    g = rng.integers(0, 4, (h, w)).astype(np.uint8)\n"
           "    g[rng.random((h, w)) < 0.1] = 255\n"
           "    g[rng.random((h, w)) < 0.05] = 7\n"
           "    p = np.where(rng.random((h, w)) < 0.6, g, rng.integers(0, 5, (h, w)))\n"
           "    p = p.astype(np.int32)\n"
           "    p[p == 255] = 3\n"
           "    p[rng.random((h, w)) < 0.03] = -1\n"
           "    p[rng.random((h, w)) < 0.03] = 6\n"
           "    p[rng.random((h, w)) < 0.03] = 255\n"
           "    pairs.append((p, g))\n"
           "spec_dir('basic', pairs, 6)\n"
           "e = json.load(open(f'{d}/expected.json'))\n"
           "assert e['per_class']['IoU'][5] is None and e['per_class']['IoU'][4] == 0.0\n"
           "assert e['per_class']['Acc'][4] is None\n");
    check_dir("basic");
}

Test(seg, reduce_zero_label_ade20k_style_bin_maps) {
    /* Raw 0 becomes ignore, 255 stays ignore, 1..C -> 0..C-1, 254 -> 253 (>= C: nothing). */
    python("pairs = []\n"
           "for h, w in ((20, 30), (11, 13)):\n"
           "    g = rng.integers(0, 6, (h, w)).astype(np.uint8)\n"
           "    g[0, :5] = 255; g[1, :5] = 254\n"
           "    p = np.where(rng.random((h, w)) < 0.5, g.astype(np.int64) - 1,\n"
           "                 rng.integers(0, 5, (h, w))).astype(np.uint8)\n"
           "    pairs.append((p, g))\n"
           "spec_dir('rz', pairs, 5, fmt_gt='bin', fmt_pred='bin', reduce=True)\n");
    check_dir("rz");
}

Test(seg, label_map_uses_original_values_then_reduce) {
    /* A swap {1: 2, 2: 1} is only right when every pixel is looked up by its original value. */
    python("pairs = []\n"
           "for h, w in ((16, 16), (9, 21)):\n"
           "    g = rng.integers(0, 5, (h, w)).astype(np.uint8)\n"
           "    p = rng.integers(0, 4, (h, w)).astype(np.uint8)\n"
           "    pairs.append((p, g))\n"
           "spec_dir('lm', pairs, 4, reduce=True, label_map={'1': 2, '2': 1, '4': 0})\n");
    check_dir("lm");
}

Test(seg, all_ignored_image_contributes_nothing) {
    python("g0 = np.full((8, 8), 255, np.uint8)\n"
           "p0 = rng.integers(0, 3, (8, 8)).astype(np.uint8)\n"
           "r7 = np.random.default_rng(7)\n"
           "g1 = r7.integers(0, 3, (7, 5)).astype(np.uint8)\n"
           "p1 = r7.integers(0, 3, (7, 5)).astype(np.uint8)\n"
           "spec_dir('ign', [(p0, g0), (p1, g1)], 3, fmt_gt='png', fmt_pred='png')\n");
    check_dir("ign");
    /* The same without the all-255 image gives the same areas. */
    json_t *with = load_json(tpath("expected.json"));
    python("r7 = np.random.default_rng(7)\n"
           "g1 = r7.integers(0, 3, (7, 5)).astype(np.uint8)\n"
           "p1 = r7.integers(0, 3, (7, 5)).astype(np.uint8)\n"
           "spec_dir('ign1', [(p1, g1)], 3)\n");
    json_t *without = load_json(tpath("expected.json"));
    cr_assert(json_equal(json_object_get(with, "areas"), json_object_get(without, "areas")));
    json_decref(with);
    json_decref(without);
}

Test(seg, no_valid_pixel_gives_all_null) {
    python("g = np.full((4, 6), 255, np.uint8)\n"
           "spec_dir('none', [(np.zeros((4, 6), np.uint8), g)], 3)\n"
           "e = json.load(open(f'{d}/expected.json'))\n"
           "assert all(v is None for v in e['summary'].values())\n");
    check_dir("none");
}

Test(seg, nan_to_num_replaces_before_averaging) {
    python("g = rng.integers(0, 3, (10, 10)).astype(np.uint8)\n"
           "p = rng.integers(0, 4, (10, 10)).astype(np.uint8)\n"
           "spec_dir('n2n', [(p, g)], 5, nan_to_num=0.0)\n");
    check_dir("n2n");
}

Test(seg, zero_intersection_fscore_nan_iou_zero) {
    vlm_seg_params p = vlm_seg_default_params(2);
    vlm_seg *sg;
    vlm_error err = {0};
    cr_assert_eq(vlm_seg_create(&p, &sg, &err), VLM_OK);
    const int32_t pred[4] = {1, 1, 0, 0}, gt[4] = {0, 0, 1, 1};
    cr_assert_eq(vlm_seg_add(sg, pred, gt, 4, &err), VLM_OK);
    vlm_seg_metrics m;
    vlm_seg_get_metrics(sg, &m);
    cr_assert_eq(m.iou[0], 0.0);
    cr_assert(isnan(m.fscore[0]) && isnan(m.fscore[1]));
    cr_assert(isnan(m.mfscore));
    cr_assert_eq(m.aacc, 0.0);
    cr_assert_eq(m.mdice, 0.0);
    vlm_seg_destroy(sg);
}

Test(seg, percent_rounding_is_numpy_round) {
    python("vals = [0.58885, 0.125, 0.0012345, 0.99995, 1/3, 0.5889499999, 0.07125]\n"
           "json.dump([[v, float(np.round(v * 100, 2))] for v in vals],\n"
           "          open(f'{d}/round.json', 'w'))\n");
    json_t *a = load_json(tpath("round.json"));
    for (size_t i = 0; i < json_array_size(a); i++) {
        double v = json_real_value(json_array_get(json_array_get(a, i), 0));
        double w = json_real_value(json_array_get(json_array_get(a, i), 1));
        cr_assert_eq(vlm_seg_percent_rounded(v), w, "%.17g: got %.17g, numpy %.17g", v,
                     vlm_seg_percent_rounded(v), w);
    }
    json_decref(a);
}

Test(seg, cocostuff_label_map_is_the_converter_table) {
    int32_t map[256];
    vlm_seg_cocostuff_label_map(map);
    cr_assert_eq(map[0], 0);
    cr_assert_eq(map[10], 10);
    cr_assert_eq(map[11], -1);
    cr_assert_eq(map[12], 11);
    cr_assert_eq(map[181], 170);
    cr_assert_eq(map[182], -1);
    cr_assert_eq(map[255], -1);
}

Test(seg, palette_png_annotations_are_indices) {
    /* VOC stores annotations as palette PNGs: the indices are the labels, not the colours. */
    python("g = rng.integers(0, 4, (12, 15)).astype(np.uint8); g[3:5, 3:9] = 255\n"
           "p = rng.integers(0, 4, (12, 15)).astype(np.uint8)\n"
           "root = f'{d}/pal'; os.makedirs(root)\n"
           "im = Image.fromarray(g, 'P')\n"
           "im.putpalette(list(rng.integers(0, 256, 768)))\n"
           "im.save(f'{root}/gt0.png')\n"
           "Image.fromarray(p).save(f'{root}/pred0.png')\n"
           "assert (np.array(Image.open(f'{root}/gt0.png')) == g).all()\n"
           "json.dump({'num_classes': 4, 'ignore_index': 255, 'reduce_zero_label': False,\n"
           "           'label_map': None, 'nan_to_num': None,\n"
           "           'images': [{'gt': 'gt0.png', 'pred': 'pred0'}]},\n"
           "          open(f'{root}/config.json', 'w'))\n"
           "reference([(p, g)], 4)\n");
    check_dir("pal");
}

Test(seg, dataset_layouts_ade20k_and_voc) {
    python(
        "ade = f'{d}/ADEChallengeData2016'\n"
        "pairs = []\n"
        "for i in range(3):\n"
        "    g = rng.integers(0, 6, (9 + i, 14)).astype(np.uint8)\n"
        "    p = rng.integers(0, 5, (9 + i, 14)).astype(np.uint8)\n"
        "    stem = f'ADE_val_{i:08d}'\n"
        "    save(f'{ade}/annotations/validation', stem, g, 'png')\n"
        "    save(f'{ade}/images/validation', stem, np.zeros((9 + i, 14, 3), np.uint8), 'png')\n"
        "    save(f'{d}/ade_pred', stem, p + 1, 'png')\n" /* submission format: +1 */
        "    pairs.append((p, g))\n"
        "reference(pairs, 5, reduce=True)\n"
        "os.rename(f'{d}/expected.json', f'{d}/expected_ade.json')\n"
        "voc = f'{d}/VOCdevkit/VOC2012'\n"
        "pairs = []\n"
        "for i in range(4):\n"
        "    g = rng.integers(0, 3, (6, 7)).astype(np.uint8); g[0, 0] = 255\n"
        "    p = rng.integers(0, 3, (6, 7)).astype(np.uint8)\n"
        "    im = Image.fromarray(g, 'P'); im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] * 85)\n"
        "    os.makedirs(f'{voc}/SegmentationClass', exist_ok=True)\n"
        "    im.save(f'{voc}/SegmentationClass/2007_{i:06d}.png')\n"
        "    save(f'{d}/voc_pred', f'2007_{i:06d}', p, 'npy')\n"
        "    if i in (2, 0): pairs.append((p, g))\n" /* val.txt lists 2 then 0 */
        "os.makedirs(f'{voc}/ImageSets/Segmentation')\n"
        "open(f'{voc}/ImageSets/Segmentation/val.txt', 'w').write('2007_000002\\n2007_000000\\n')\n"
        "reference(pairs, 3)\n");
    char *argv[] = {VLM_BIN,
                    "eval",
                    "miou",
                    "--dataset",
                    "ade20k",
                    "--gt",
                    (char *)tpath(""),
                    "--pred",
                    (char *)tpath("ade_pred"),
                    "--num-classes",
                    "5",
                    "--pred-offset",
                    "1",
                    "--json",
                    (char *)tpath("ade.json"),
                    NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    json_t *got = load_json(tpath("ade.json")), *want = load_json(tpath("expected_ade.json"));
    check_json(got, want);
    cr_assert_eq(json_integer_value(json_object_get(got, "n_images")), 3);
    json_decref(got);
    json_decref(want);
    vlm_run_free(&r);

    char *argv2[] = {VLM_BIN,
                     "eval",
                     "miou",
                     "--dataset",
                     "voc",
                     "--gt",
                     (char *)tpath("VOCdevkit"),
                     "--pred",
                     (char *)tpath("voc_pred"),
                     "--num-classes",
                     "3",
                     "--json",
                     (char *)tpath("voc.json"),
                     NULL};
    r = vlm_test_run(argv2);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    got = load_json(tpath("voc.json"));
    want = load_json(tpath("expected.json"));
    check_json(got, want);
    cr_assert_eq(json_integer_value(json_object_get(got, "n_images")), 2);
    json_decref(got);
    json_decref(want);
    vlm_run_free(&r);

    /* The same datasets streamed from their archives (a zip and a tar.gz, with extra members
     * that are not annotations). */
    python("import shutil, zipfile, tarfile\n"
           "with zipfile.ZipFile(f'{d}/ade.zip', 'w') as z:\n"
           "    for root, _, files in os.walk(f'{d}/ADEChallengeData2016'):\n"
           "        for f in sorted(files):\n"
           "            z.write(os.path.join(root, f), os.path.relpath(os.path.join(root, f), d))\n"
           "with tarfile.open(f'{d}/voc.tar.gz', 'w:gz') as t:\n"
           "    t.add(f'{d}/VOCdevkit', 'VOCdevkit')\n");
    const char *archives[] = {"ade.zip", "voc.tar.gz"};
    const char *datasets[] = {"ade20k", "voc"};
    const char *preds[] = {"ade_pred", "voc_pred"};
    const char *expected[] = {"expected_ade.json", "expected.json"};
    const char *offsets[] = {"1", "0"};
    const char *classes[] = {"5", "3"};
    for (int i = 0; i < 2; i++) {
        char *av[] = {VLM_BIN,
                      "eval",
                      "miou",
                      "--dataset",
                      (char *)datasets[i],
                      "--gt",
                      (char *)tpath(archives[i]),
                      "--pred",
                      (char *)tpath(preds[i]),
                      "--num-classes",
                      (char *)classes[i],
                      "--pred-offset",
                      (char *)offsets[i],
                      "--json",
                      (char *)tpath("arch.json"),
                      NULL};
        r = vlm_test_run(av);
        cr_assert_eq(r.exit_code, 0, "%s: exit %d: %s", archives[i], r.exit_code, r.err);
        got = load_json(tpath("arch.json"));
        want = load_json(tpath(expected[i]));
        check_json(got, want);
        cr_assert_eq(json_integer_value(json_object_get(got, "n_images")), i == 0 ? 3 : 2);
        json_decref(got);
        json_decref(want);
        vlm_run_free(&r);
    }

    vlm_seg_pair *pairs;
    size_t n;
    vlm_error err = {0};
    cr_assert_eq(vlm_seg_dataset_list(tpath(""), VLM_SEG_ADE20K, &pairs, &n, &err), VLM_OK, "%s",
                 err.msg);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(pairs[1].stem, "ADE_val_00000001");
    cr_assert_not_null(pairs[1].image);
    vlm_seg_pairs_free(pairs, n);
}

Test(seg, bad_inputs_exit_2_without_output) {
    python("save(f'{d}/shape', 'gt0', np.zeros((4, 5), np.uint8))\n"
           "save(f'{d}/shape', 'pred0', np.zeros((5, 4), np.uint8))\n"
           "json.dump({'num_classes': 3, 'images': [{'gt': 'gt0', 'pred': 'pred0'}]},\n"
           "          open(f'{d}/shape/config.json', 'w'))\n"
           "os.makedirs(f'{d}/badcfg'); open(f'{d}/badcfg/config.json', 'w').write('{\"num_')\n"
           "os.makedirs(f'{d}/nomap')\n"
           "json.dump({'num_classes': 3, 'images': [{'gt': 'x', 'pred': 'y'}]},\n"
           "          open(f'{d}/nomap/config.json', 'w'))\n"
           "save(f'{d}/rgb', 'gt0', np.zeros((4, 4, 3), np.uint8), 'png')\n"
           "save(f'{d}/rgb', 'pred0', np.zeros((4, 4), np.uint8), 'png')\n"
           "json.dump({'num_classes': 3, 'images': [{'gt': 'gt0', 'pred': 'pred0'}]},\n"
           "          open(f'{d}/rgb/config.json', 'w'))\n");
    const char *dirs[] = {"shape", "badcfg", "nomap", "rgb", "missing"};
    const char *needles[] = {"same shape", "config.json", "no x.npy", "not a label map", "missing"};
    for (int i = 0; i < 5; i++) {
        char *argv[] = {
            VLM_BIN, "eval", "miou", (char *)tpath(dirs[i]), "--json", (char *)tpath("bad.json"),
            NULL};
        vlm_run r = vlm_test_run(argv);
        cr_assert_eq(r.exit_code, 2, "%s: exit %d: %s", dirs[i], r.exit_code, r.err);
        cr_assert(strstr(r.err, needles[i]), "%s: message: %s", dirs[i], r.err);
        cr_assert(access(tpath("bad.json"), F_OK) != 0, "partial output left");
        vlm_run_free(&r);
    }
    char *help[] = {VLM_BIN, "eval", "miou", "--help", NULL};
    vlm_run r = vlm_test_run(help);
    cr_assert_eq(r.exit_code, 0);
    cr_assert(strstr(r.out, "usage: vlmbench eval miou"), "%s", r.out);
    vlm_run_free(&r);
    char *bad[] = {VLM_BIN, "eval", "miou", "--frobnicate", NULL};
    r = vlm_test_run(bad);
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
}

Test(seg, cocostuff_raw_ids_are_converted) {
    /* Raw ids 0..181 (eleven unused) renumbered to 0..170, 255 kept (spec 4.1); the table is
     * rebuilt here from the spec's list. */
    python("unused = {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}\n"
           "table = {r: i for i, r in enumerate(x for x in range(182) if x not in unused)}\n"
           "root = f'{d}/coco/annotations/val2017'\n"
           "pairs = []\n"
           "for i in range(2):\n"
           "    raw = rng.choice([0, 5, 11, 12, 90, 91, 181, 255], (10, 12)).astype(np.uint8)\n"
           "    save(root, f'0000000{i}', raw, 'png')\n"
           "    conv = np.vectorize(lambda v: table.get(int(v), int(v)))(raw).astype(np.uint8)\n"
           "    p = rng.choice([0, 5, 11, 80, 170], (10, 12)).astype(np.uint8)\n"
           "    save(f'{d}/coco_pred', f'0000000{i}', p, 'png')\n"
           "    pairs.append((p, conv))\n"
           "reference(pairs, 171)\n");
    char *argv[] = {VLM_BIN,
                    "eval",
                    "miou",
                    "--dataset",
                    "cocostuff",
                    "--gt",
                    (char *)tpath("coco"),
                    "--pred",
                    (char *)tpath("coco_pred"),
                    "--json",
                    (char *)tpath("coco.json"),
                    NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    json_t *got = load_json(tpath("coco.json")), *want = load_json(tpath("expected.json"));
    check_json(got, want);
    json_decref(got);
    json_decref(want);
    vlm_run_free(&r);
}

/* Zero-shot dense prediction against torch: normalised patch features . classifier, logits
 * resized by F.interpolate(bilinear, align_corners=False) in float64, argmax. */
Test(seg, dense_predict_matches_torch_interpolate_argmax) {
    python("import torch\n"
           "import torch.nn.functional as F\n"
           "cases = [(7, 5, 61, 37), (20, 30, 9, 13), (8, 8, 8, 8), (1, 1, 3, 4), (3, 4, 48, 64)]\n"
           "for i, (gh, gw, H, W) in enumerate(cases):\n"
           "    D, C = 16, 6\n"
           "    f = rng.standard_normal((gh, gw, D)).astype(np.float32)\n"
           "    w = rng.standard_normal((D, C))\n"
           "    np.save(f'{d}/feat{i}.npy', f); np.save(f'{d}/cls{i}.npy', w)\n"
           "    t = torch.from_numpy(f).double()\n"
           "    t = t / t.norm(dim=-1, keepdim=True)\n"
           "    lg = (t @ torch.from_numpy(w)).permute(2, 0, 1)[None]\n"
           "    up = F.interpolate(lg, size=(H, W), mode='bilinear', align_corners=False)[0]\n"
           "    top = up.topk(2, dim=0).values\n"
           "    np.save(f'{d}/want{i}.npy', up.argmax(0).numpy().astype(np.int32))\n"
           "    np.save(f'{d}/gap{i}.npy', (top[0] - top[1]).numpy())\n"
           "    open(f'{d}/case{i}.txt', 'w').write(f'{gh} {gw} {H} {W} {D} {C}')\n");
    for (int i = 0; i < 5; i++) {
        char name[64];
        int gh, gw, h, w, dim, c;
        snprintf(name, sizeof name, "case%d.txt", i);
        FILE *f = fopen(tpath(name), "r");
        cr_assert_eq(fscanf(f, "%d %d %d %d %d %d", &gh, &gw, &h, &w, &dim, &c), 6);
        fclose(f);
        vlm_array feat, cls, want, gap;
        vlm_error err = {0};
        snprintf(name, sizeof name, "feat%d.npy", i);
        cr_assert_eq(vlm_array_load(tpath(name), &feat, &err), VLM_OK, "%s", err.msg);
        snprintf(name, sizeof name, "cls%d.npy", i);
        cr_assert_eq(vlm_array_load(tpath(name), &cls, &err), VLM_OK, "%s", err.msg);
        snprintf(name, sizeof name, "want%d.npy", i);
        cr_assert_eq(vlm_array_load(tpath(name), &want, &err), VLM_OK, "%s", err.msg);
        snprintf(name, sizeof name, "gap%d.npy", i);
        cr_assert_eq(vlm_array_load(tpath(name), &gap, &err), VLM_OK, "%s", err.msg);
        int32_t *pred = malloc((size_t)h * w * sizeof *pred);
        cr_assert_eq(vlm_seg_dense_predict(feat.data, gh, gw, dim, cls.data, c, h, w, pred, &err),
                     VLM_OK, "%s", err.msg);
        int differ = 0;
        for (int k = 0; k < h * w; k++)
            if (pred[k] != ((int32_t *)want.data)[k] && ((double *)gap.data)[k] > 1e-9)
                differ++;
        cr_assert_eq(differ, 0, "case %d: %d pixels differ from torch", i, differ);
        free(pred);
        vlm_array_free(&feat);
        vlm_array_free(&cls);
        vlm_array_free(&want);
        vlm_array_free(&gap);
    }
    float zero[4] = {0};
    double w[4] = {1, 0, 0, 1};
    int32_t out[4];
    vlm_error err = {0};
    cr_assert_eq(vlm_seg_dense_predict(zero, 1, 1, 2, w, 2, 2, 2, out, &err), VLM_ERR_INVALID);
}
