/* `vlmbench eval miou --model`: zero-shot segmentation with the engine's dense CLIP
 * embeddings, end to end on a generated ADE20K-layout folder. The dense embeddings themselves
 * are checked in test_vit (against PyTorch, and mean = pooled for MCi) and the upsampling +
 * argmax in test_seg (against torch); here the classifier has two identical classes, so the
 * prediction is known without the features (ties go to the lower index) and the metrics follow
 * from the ground truth alone. Plus the usage errors. */
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/vlm_segzs_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024];
    /* 3 images with annotations: values 0 (ignored after reduce_zero_label) and 1, 2 */
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " -c \"import numpy as np, os\nfrom PIL import Image\n"
                        "r = '%s/ade/ADEChallengeData2016'\n"
                        "os.makedirs(r + '/images/validation'); "
                        "os.makedirs(r + '/annotations/validation')\n"
                        "g = np.random.default_rng(3)\n"
                        "for i in range(3):\n"
                        "    Image.fromarray(g.integers(0, 256, (45 + i, 61, 3), np.uint8))"
                        ".save(r + '/images/validation/x%%d.jpg' %% i)\n"
                        "    Image.fromarray(g.integers(0, 3, (45 + i, 61), np.uint8))"
                        ".save(r + '/annotations/validation/x%%d.png' %% i)\n"
                        "np.save('%s/one.npy', np.ones((1, 512), np.float32))\n"
                        "np.save('%s/two.npy', np.ones((2, 512), np.float32))\n"
                        "np.save('%s/gt.npy', np.concatenate([np.asarray(Image.open(r + "
                        "'/annotations/validation/x%%d.png' %% i)).ravel() for i in "
                        "range(3)]))\"",
             dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(seg_zeroshot, .init = make_dir, .fini = remove_dir);

static double json_number(const char *json, const char *key) {
    const char *p = strstr(json, key);
    cr_assert_not_null(p, "%s not in %s", key, json);
    return strtod(p + strlen(key) + 2, NULL);
}

Test(seg_zeroshot, identical_classes_predict_the_lowest_index_everywhere) {
    char root[128], cls[128];
    snprintf(root, sizeof root, "%s/ade", dir);
    snprintf(cls, sizeof cls, "%s/two.npy", dir);
    vlm_run r = vlm_test_run((char *const[]){VLM_BIN, "eval", "miou", "--dataset", "ade20k", "--gt",
                                             root, "--model", "mci0", "--res", "64", "--classifier",
                                             cls, "--num-classes", "2", "--json", "-", NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    /* every pixel predicted class 0 (GT value 1 after reduce_zero_label); GT value 2 -> class
     * 1, never predicted. Expected aAcc = share of GT 1 among GT 1 and 2 (0 is ignored). */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " -c \"import numpy as np; g = np.load('%s/gt.npy'); "
                        "print((g == 1).sum() / (g > 0).sum())\"",
             dir);
    FILE *p = popen(cmd, "r");
    double want = -1;
    cr_assert_eq(fscanf(p, "%lf", &want), 1);
    pclose(p);
    double aacc = json_number(r.out, "\"aAcc\"");
    cr_expect(aacc > want - 1e-9 && aacc < want + 1e-9, "aAcc %.9f, expected %.9f\n%s", aacc, want,
              r.out);
    cr_assert(strstr(r.out, "\"n_images\": 3"), "%s", r.out);
    vlm_run_free(&r);
}

Test(seg_zeroshot, class_count_mismatch_and_usage_errors) {
    char root[128], cls[128];
    snprintf(root, sizeof root, "%s/ade", dir);
    snprintf(cls, sizeof cls, "%s/one.npy", dir);
    vlm_run r =
        vlm_test_run((char *const[]){VLM_BIN, "eval", "miou", "--dataset", "ade20k", "--gt", root,
                                     "--model", "mci0", "--res", "64", "--classifier", cls, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "the classifier has 1 classes but the dataset is scored with 150"),
              "%s", r.err);
    vlm_run_free(&r);
    r = vlm_test_run((char *const[]){VLM_BIN, "eval", "miou", "--dataset", "ade20k", "--gt", root,
                                     "--model", "mci0", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "either --classifier or --text-weights"), "%s", r.err);
    vlm_run_free(&r);
    r = vlm_test_run((char *const[]){VLM_BIN, "eval", "miou", "--dataset", "ade20k", "--gt", root,
                                     "--model", "fastvithd", "--classifier", cls, "--num-classes",
                                     "1", NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "not a CLIP image tower"), "%s", r.err);
    vlm_run_free(&r);
}
