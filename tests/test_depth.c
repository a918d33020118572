/* eval/depth.c and `vlmbench eval depth`: expected values from NumPy, written in the test after
 * the common NYUv2 evaluation code (compute_errors per image, then the mean over images; and
 * the same over all valid pixels pooled). */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

VLM_TEST_TMPDIR_SUITE(depth)

static const char PRELUDE[] =
    "import sys, os, json\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "rng = np.random.default_rng(5)\n"
    "os.makedirs(f'{d}/gt'); os.makedirs(f'{d}/pred')\n"
    "def errs(g, p):\n"
    "    t = np.maximum(g / p, p / g)\n"
    "    e = np.log(p) - np.log(g)\n"
    "    return dict(rmse=np.sqrt(((g - p) ** 2).mean()), abs_rel=np.mean(np.abs(g - p) / g),\n"
    "                sq_rel=np.mean((g - p) ** 2 / g),\n"
    "                log10=np.mean(np.abs(np.log10(g) - np.log10(p))),\n"
    "                rmse_log=np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2)),\n"
    "                silog=np.sqrt(np.mean(e ** 2) - np.mean(e) ** 2) * 100,\n"
    "                delta1=(t < 1.25).mean(), delta2=(t < 1.25 ** 2).mean(),\n"
    "                delta3=(t < 1.25 ** 3).mean())\n"
    "def reference(pairs, lo=0.0, hi=np.inf, clamp=False, crop=False):\n"
    "    per, G, P = [], [], []\n"
    "    for g, p in pairs:\n"
    "        g = g.astype(np.float64); p = p.astype(np.float64).copy()\n"
    "        if clamp:\n"
    "            p[p < lo] = lo; p[p > hi] = hi; p[np.isinf(p)] = hi; p[np.isnan(p)] = lo\n"
    "        m = (g > lo) & (g < hi)\n"
    "        if crop:\n"
    "            c = np.zeros_like(m); c[45:471, 41:601] = True; m &= c\n"
    "        if m.sum() == 0: continue\n"
    "        per.append(errs(g[m], p[m])); G.append(g[m]); P.append(p[m])\n"
    "    mean = {k: float(np.mean([x[k] for x in per])) for k in per[0]}\n"
    "    pooled = {k: float(v) for k, v in errs(np.concatenate(G), np.concatenate(P)).items()}\n"
    "    json.dump({'mean_per_image': mean, 'pooled': pooled, 'n_images_used': len(per),\n"
    "               'n_valid': int(sum(len(x) for x in G))}, open(f'{d}/expected.json', 'w'))\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PRELUDE, script);
}

static json_t *load_json(const char *path) {
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    cr_assert_not_null(j, "%s: %s", path, je.text);
    return j;
}

/* Runs the CLI with extra options and compares its JSON with expected.json. */
static void check_cli(const char *const *extra, int n_extra, int64_t n_images) {
    char *argv[32] = {VLM_BIN,
                      "eval",
                      "depth",
                      "--gt",
                      (char *)tpath("gt"),
                      "--pred",
                      (char *)tpath("pred"),
                      "--json",
                      (char *)tpath("out.json")};
    int argc = 9;
    for (int i = 0; i < n_extra; i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 0, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.out, "mean_per_image"), "table: %s", r.out);
    json_t *got = load_json(tpath("out.json")), *want = load_json(tpath("expected.json"));
    cr_assert_eq(json_integer_value(json_object_get(got, "n_images")), n_images);
    cr_assert_eq(json_integer_value(json_object_get(got, "n_valid")),
                 json_integer_value(json_object_get(want, "n_valid")));
    const char *groups[] = {"mean_per_image", "pooled"};
    for (int g = 0; g < 2; g++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(want, groups[g]), k, v) {
            json_t *gv = json_object_get(json_object_get(got, groups[g]), k);
            double w = json_number_value(v), x = json_number_value(gv);
            cr_assert(json_is_number(gv) && fabs(x - w) <= 1e-9 * fmax(1, fabs(w)),
                      "%s.%s: got %.17g, expected %.17g", groups[g], k, x, w);
        }
    }
    json_decref(got);
    json_decref(want);
    vlm_run_free(&r);
}

Test(depth, npy_maps_with_holes_match_numpy) {
    python("pairs = []\n"
           "for i, (h, w) in enumerate(((24, 32), (17, 9), (40, 40))):\n"
           "    g = rng.uniform(0.5, 9.0, (h, w)).astype(np.float32)\n"
           "    g[rng.random((h, w)) < 0.2] = 0\n" /* no measurement */
           "    p = (g * rng.uniform(0.7, 1.4, (h, w)) + 0.05).astype(np.float32)\n"
           "    np.save(f'{d}/gt/img{i}.npy', g); np.save(f'{d}/pred/img{i}.npy', p)\n"
           "    pairs.append((g, p))\n"
           "reference(pairs)\n");
    check_cli(NULL, 0, 3);
}

Test(depth, png16_millimetres_and_range_and_clamp) {
    python("pairs = []\n"
           "for i in range(2):\n"
           "    mm = rng.integers(0, 12000, (30, 20)).astype(np.uint16)\n"
           "    Image.fromarray(mm).save(f'{d}/gt/n{i}.png')\n"
           "    assert np.array(Image.open(f'{d}/gt/n{i}.png')).dtype.kind in 'iu'\n"
           "    g = (mm.astype(np.float64) / 1000).astype(np.float32)\n"
           "    p = (g * rng.uniform(0.5, 1.5, g.shape)).astype(np.float32)\n"
           "    p[0, :4] = [0, -1, np.inf, np.nan]; p[1, :2] = [50, 1e-6]\n"
           "    np.save(f'{d}/pred/n{i}.npy', p)\n"
           "    pairs.append((g, p))\n"
           "reference(pairs, lo=1e-3, hi=10, clamp=True)\n");
    const char *extra[] = {"--min-depth", "1e-3", "--max-depth", "10", "--clamp"};
    check_cli(extra, 5, 2);
}

Test(depth, eigen_crop_on_640x480) {
    python("g = rng.uniform(0.5, 9.0, (480, 640)).astype(np.float32)\n"
           "p = (g * rng.uniform(0.8, 1.25, g.shape)).astype(np.float32)\n"
           "p[:45] = 100; p[:, :41] = 100\n" /* outside the crop: must not count */
           "g.tofile(f'{d}/gt/a.bin'); p.tofile(f'{d}/pred/a.bin')\n"
           "for n in ('gt', 'pred'):\n"
           "    json.dump({'shape': [480, 640], 'dtype': 'float32', 'order': 'C',\n"
           "               'byteorder': 'little'}, open(f'{d}/{n}/a.json', 'w'))\n"
           "reference([(g, p)], crop=True)\n");
    const char *extra[] = {"--eigen-crop"};
    check_cli(extra, 1, 1);
}

Test(depth, nonpositive_predictions_and_empty_images) {
    vlm_depth_params p = vlm_depth_default_params();
    vlm_depth *d;
    vlm_error err = {0};
    cr_assert_eq(vlm_depth_create(&p, &d, &err), VLM_OK);
    const float gt[4] = {2, 4, 0, 1}, pred[4] = {2, -4, 3, 1.25f};
    cr_assert_eq(vlm_depth_add(d, pred, gt, 2, 2, &err), VLM_OK);
    const float gt0[2] = {0, 0}, pred0[2] = {1, 1};
    cr_assert_eq(vlm_depth_add(d, pred0, gt0, 2, 1, &err), VLM_OK);
    vlm_depth_metrics m;
    vlm_depth_get_metrics(d, &m);
    cr_assert_eq(m.n_images, 2);
    cr_assert_eq(m.n_images_empty, 1);
    cr_assert_eq(m.n_valid, 3);
    cr_assert_eq(m.n_bad_pred, 1);
    /* pixels (2,2), (4,-4), (1,1.25): squared errors 0, 64, 0.0625 */
    cr_assert_float_eq(m.mean_per_image.rmse, sqrt((64 + 0.0625) / 3), 1e-12);
    cr_assert_float_eq(m.mean_per_image.abs_rel, (0 + 2 + 0.25) / 3, 1e-12);
    cr_assert_float_eq(m.mean_per_image.delta1, 1.0 / 3, 1e-12); /* 1.25 is not < 1.25 */
    cr_assert_float_eq(m.mean_per_image.delta2, 2.0 / 3, 1e-12); /* -4 fails every delta */
    cr_assert_float_eq(m.mean_per_image.log10, fabs(log10(1.25)) / 2, 1e-12);
    vlm_depth_destroy(d);

    p.eigen_crop = 1;
    cr_assert_eq(vlm_depth_create(&p, &d, &err), VLM_OK);
    cr_assert_eq(vlm_depth_add(d, pred, gt, 2, 2, &err), VLM_ERR_INVALID);
    vlm_depth_destroy(d);
    p = vlm_depth_default_params();
    p.clamp_pred = 1;
    cr_assert_eq(vlm_depth_create(&p, &d, &err), VLM_ERR_INVALID);
}

Test(depth, bad_inputs_exit_2) {
    python("np.save(f'{d}/gt/a.npy', np.ones((4, 4), np.float32))\n"
           "np.save(f'{d}/pred/a.npy', np.ones((4, 5), np.float32))\n"
           "np.save(f'{d}/gt/b.npy', np.ones((4, 4), np.float32))\n");
    char *argv[] = {VLM_BIN,
                    "eval",
                    "depth",
                    "--gt",
                    (char *)tpath("gt"),
                    "--pred",
                    (char *)tpath("pred"),
                    "--json",
                    (char *)tpath("o.json"),
                    NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 2, "exit %d: %s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "same shape"), "%s", r.err);
    cr_assert(access(tpath("o.json"), F_OK) != 0);
    vlm_run_free(&r);
    char *noargs[] = {VLM_BIN, "eval", "depth", NULL};
    r = vlm_test_run(noargs);
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
    char *help[] = {VLM_BIN, "eval", "depth", "--help", NULL};
    r = vlm_test_run(help);
    cr_assert_eq(r.exit_code, 0);
    cr_assert(strstr(r.out, "usage: vlmbench eval depth"));
    vlm_run_free(&r);
}
