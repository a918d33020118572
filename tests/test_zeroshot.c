/* eval/zeroshot.c and `vlmbench eval zeroshot`: the classifier of spec eval.md 3.2, the scoring
 * of 3.3, the canonical inputs of 3.4 and the edge cases of 3.5. Expected numbers come from
 * NumPy (float64) written by the test, or from hand-built cases; the end-to-end test runs the
 * synthetic-weight mci0 tower through the engine on inputs Pillow preprocessed, so the
 * expected accuracy is derived without the pipeline under test. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

VLM_TEST_TMPDIR_SUITE(zeroshot)

static const char PY_PRELUDE[] =
    "import sys, json, io, tarfile\n"
    "import numpy as np\n"
    "d = sys.argv[1]\n"
    "def normalise(x):\n"
    "    return x / np.linalg.norm(x, axis=-1, keepdims=True)\n"
    "def classifier(text):\n"
    "    t = normalise(text.astype(np.float64))\n"
    "    return normalise(t.mean(axis=1)).T            # [D, C]\n"
    "def score(W, feats, labels):\n"
    "    logits = 100 * normalise(feats.astype(np.float64)) @ W\n"
    "    order = np.argsort(-logits, axis=1, kind='stable')   # ties: lower index first\n"
    "    C = W.shape[1]\n"
    "    top1 = float(np.mean(order[:, 0] == labels))\n"
    "    top5 = float(np.mean([l in o[:5] for o, l in zip(order, labels)])) if C >= 5 "
    "else None\n"
    "    rec = [np.mean(order[labels == c, 0] == c) for c in range(C) if (labels == c).any()]\n"
    "    return {'top1': top1, 'top5': top5, 'mpcr': float(np.mean(rec)),\n"
    "            'top': order[:, :min(5, C)].tolist(), 'W': W.tolist()}\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PY_PRELUDE, script);
}

static json_t *load_json(const char *name) {
    json_error_t je;
    json_t *j = json_load_file(vlm_test_path(g_dir, name), 0, &je);
    cr_assert_not_null(j, "%s: %s", name, je.text);
    return j;
}

static double num(json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    return json_is_null(v) ? NAN : json_number_value(v);
}

static void assert_close(double got, double want, const char *what) {
    if (isnan(want))
        cr_assert(isnan(got), "%s: %g, want null/NaN", what, got);
    else
        cr_assert(fabs(got - want) <= 1e-9, "%s: %.12f, want %.12f", what, got, want);
}

/* Compares a scorer (and the spec 6 JSON it writes) with NumPy's expected.json. */
static void check_against(vlm_zeroshot *z, const char *expected) {
    json_t *e = load_json(expected);
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    assert_close(s.top1, num(e, "top1"), "top1");
    assert_close(s.top5, num(e, "top5"), "top5");
    assert_close(s.mean_per_class_recall, num(e, "mpcr"), "mean_per_class_recall");
    json_t *top = json_object_get(e, "top");
    cr_assert_eq((size_t)s.n, json_array_size(top));
    for (int64_t i = 0; i < s.n; i++) {
        int32_t t[5];
        int k = vlm_zeroshot_item_topk(z, i, t);
        json_t *row = json_array_get(top, (size_t)i);
        cr_assert_eq((size_t)k, json_array_size(row));
        for (int j = 0; j < k; j++)
            cr_assert_eq(t[j], json_integer_value(json_array_get(row, (size_t)j)),
                         "item %lld rank %d: class %d, want %lld", (long long)i, j, t[j],
                         (long long)json_integer_value(json_array_get(row, (size_t)j)));
    }
    /* the JSON */
    const char *out = vlm_test_path(g_dir, "scores.json");
    vlm_error err = {0};
    cr_assert_eq(vlm_zeroshot_write_json(z, out, &err), VLM_OK, "%s", err.msg);
    json_t *j = load_json("scores.json");
    cr_assert_str_eq(json_string_value(json_object_get(j, "benchmark")), "zeroshot");
    cr_assert_eq(json_integer_value(json_object_get(j, "n")), s.n);
    cr_assert_eq(json_integer_value(json_object_get(j, "num_classes")), s.num_classes);
    assert_close(num(j, "top1"), num(e, "top1"), "JSON top1");
    assert_close(num(j, "top5"), num(e, "top5"), "JSON top5");
    assert_close(num(j, "mean_per_class_recall"), num(e, "mpcr"), "JSON mean_per_class_recall");
    cr_assert(json_equal(json_object_get(j, "per_item_top5"), top), "per_item_top5 differs");
    json_t *W = json_object_get(e, "W"), *Wj = json_object_get(j, "classifier");
    cr_assert_eq(json_array_size(Wj), json_array_size(W));
    for (size_t d = 0; d < json_array_size(W); d++)
        for (size_t c = 0; c < json_array_size(json_array_get(W, d)); c++)
            cr_assert(fabs(json_number_value(json_array_get(json_array_get(Wj, d), c)) -
                           json_number_value(json_array_get(json_array_get(W, d), c))) < 1e-12,
                      "classifier[%zu][%zu]", d, c);
    json_decref(j);
    json_decref(e);
}

/* Random features with templates of very different norms (spec 3.5: normalise each template
 * before the mean), class 6 never a label (excluded from the recall), written as .npy and as
 * .bin + .json. */
static const char *RANDOM_CASE =
    "rng = np.random.default_rng(7)\n"
    "C, T, D, N = 7, 3, 16, 60\n"
    "text = rng.normal(size=(C, T, D)).astype(np.float32)\n"
    "text *= np.array([1.0, 30.0, 0.02], dtype=np.float32)[None, :, None]\n"
    "feats = rng.normal(size=(N, D)).astype(np.float32) * 5\n"
    "labels = rng.integers(0, 6, size=N).astype(np.int64)\n"
    "W = classifier(text)\n"
    "# make the problem non-trivial: half the images point at their class\n"
    "feats[::2] += 3 * W.T[labels[::2]].astype(np.float32) * np.linalg.norm(feats[::2], axis=1, "
    "keepdims=True)\n"
    "import os\n"
    "for sub in ('npy', 'bin'):\n"
    "    os.makedirs(f'{d}/{sub}', exist_ok=True)\n"
    "for name, a in (('text_features', text), ('image_features', feats), ('labels', labels)):\n"
    "    np.save(f'{d}/npy/{name}.npy', a)\n"
    "    a.tofile(f'{d}/bin/{name}.bin')\n"
    "    json.dump({'shape': list(a.shape), 'dtype': str(a.dtype), 'order': 'C',\n"
    "               'byteorder': 'little'}, open(f'{d}/bin/{name}.json', 'w'))\n"
    "json.dump(score(W, feats, labels), open(f'{d}/expected.json', 'w'))\n";

Test(zeroshot, canonical_npy_matches_numpy) {
    python(RANDOM_CASE);
    vlm_error err = {0};
    vlm_zeroshot *z = NULL;
    cr_assert_eq(vlm_zeroshot_score_dir(vlm_test_path(g_dir, "npy"), &z, &err), VLM_OK, "%s",
                 err.msg);
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    cr_assert(s.n == 60 && s.num_classes == 7 && s.dim == 16);
    cr_assert(s.top1 > 0.3 && s.top1 < 1, "top1 %g: the case should be non-trivial", s.top1);
    check_against(z, "expected.json");
    vlm_zeroshot_destroy(z);
}

Test(zeroshot, canonical_bin_json_matches_numpy) {
    python(RANDOM_CASE);
    vlm_error err = {0};
    vlm_zeroshot *z = NULL;
    cr_assert_eq(vlm_zeroshot_score_dir(vlm_test_path(g_dir, "bin"), &z, &err), VLM_OK, "%s",
                 err.msg);
    check_against(z, "expected.json");
    vlm_zeroshot_destroy(z);
}

Test(zeroshot, cli_features_json) {
    python(RANDOM_CASE);
    const char *out = vlm_test_path(g_dir, "cli.json");
    char *argv[] = {
        VLM_BIN,  "eval",      "zeroshot", "--features", (char *)vlm_test_path(g_dir, "npy"),
        "--json", (char *)out, NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "zeroshot: n 60  classes 7"), "%s", r.out);
    json_t *j = load_json("cli.json"), *e = load_json("expected.json");
    assert_close(num(j, "top1"), num(e, "top1"), "top1");
    assert_close(num(j, "top5"), num(e, "top5"), "top5");
    assert_close(num(j, "mean_per_class_recall"), num(e, "mpcr"), "mpcr");
    cr_assert(json_equal(json_object_get(j, "per_item_top5"), json_object_get(e, "top")));
    json_decref(j);
    json_decref(e);
    vlm_run_free(&r);
}

/* Hand-built: one-hot classes, class 3 a duplicate of class 2 (ImageNet's "missile" and
 * "sunglasses"): equal logits rank the lower index first, also at the top-5 boundary. */
Test(zeroshot, ties_lower_index_wins) {
    enum { C = 7, D = 7 };
    float text[C * D] = {0};
    for (int c = 0; c < C; c++)
        text[c * D + (c == 3 ? 2 : c)] = 1.0f;
    double w[D * C];
    vlm_error err = {0};
    cr_assert_eq(vlm_zeroshot_classifier(text, C, 1, D, w, &err), VLM_OK, "%s", err.msg);
    vlm_zeroshot *z;
    cr_assert_eq(vlm_zeroshot_create(w, D, C, &z, &err), VLM_OK);
    float f[D] = {0, 0, 2.5f, 0, 0, 0, 0}; /* logits: classes 2 and 3 100, the rest 0 */
    cr_assert_eq(vlm_zeroshot_add(z, f, 3, &err), VLM_OK);
    cr_assert_eq(vlm_zeroshot_add(z, f, 2, &err), VLM_OK);
    cr_assert_eq(vlm_zeroshot_add(z, f, 4, &err), VLM_OK); /* 5th of the tied zeros: kept */
    cr_assert_eq(vlm_zeroshot_add(z, f, 6, &err), VLM_OK); /* 7th: out of the top 5 */
    int32_t t[5];
    cr_assert_eq(vlm_zeroshot_item_topk(z, 0, t), 5);
    int32_t want[5] = {2, 3, 0, 1, 4};
    for (int j = 0; j < 5; j++)
        cr_assert_eq(t[j], want[j], "rank %d: %d, want %d", j, t[j], want[j]);
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    cr_assert_eq(s.top1_correct, 1);
    cr_assert_eq(s.top5_correct, 3);
    cr_assert_float_eq(s.top1, 0.25, 1e-15);
    cr_assert_float_eq(s.top5, 0.75, 1e-15);
    /* classes 2, 3, 4, 6 present; only class 2 ever right: recall 1, 0, 0, 0 */
    cr_assert_float_eq(s.mean_per_class_recall, 0.25, 1e-15);
    cr_assert_eq(vlm_zeroshot_item_top1_correct(z, 0), 0);
    cr_assert_eq(vlm_zeroshot_item_top1_correct(z, 1), 1);
    vlm_zeroshot_destroy(z);
}

Test(zeroshot, fewer_than_five_classes) {
    python("rng = np.random.default_rng(3)\n"
           "C, T, D, N = 3, 2, 5, 20\n"
           "text = rng.normal(size=(C, T, D)).astype(np.float32)\n"
           "feats = rng.normal(size=(N, D)).astype(np.float32)\n"
           "labels = rng.integers(0, C, size=N).astype(np.int64)\n"
           "for name, a in (('text_features', text), ('image_features', feats), ('labels', "
           "labels)):\n"
           "    np.save(f'{d}/{name}.npy', a)\n"
           "json.dump(score(classifier(text), feats, labels), open(f'{d}/expected.json', 'w'))\n");
    vlm_error err = {0};
    vlm_zeroshot *z = NULL;
    cr_assert_eq(vlm_zeroshot_score_dir(g_dir, &z, &err), VLM_OK, "%s", err.msg);
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    cr_assert(isnan(s.top5) && s.top5_correct == -1, "top5 must be undefined with 3 classes");
    check_against(z, "expected.json"); /* JSON top5 null, per-item lists of 3 */
    json_t *j = load_json("scores.json");
    cr_assert(json_is_null(json_object_get(j, "top5")));
    json_decref(j);
    vlm_zeroshot_destroy(z);
}

Test(zeroshot, rejects_undefined_inputs) {
    vlm_error err = {0};
    double w[4 * 2];
    float text[2 * 2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, /* class 0 */ 0, 0, 1, 0, 0, 0, 0, 0};
    cr_assert_eq(vlm_zeroshot_classifier(text, 2, 2, 4, w, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "class 1 template 1") && strstr(err.msg, "zero"), "%s", err.msg);
    float cancel[2 * 2 * 2] = {1, 0, -1, 0, 0, 1, 0, 1};
    cr_assert_eq(vlm_zeroshot_classifier(cancel, 2, 2, 2, w, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "class 0"), "%s", err.msg);
    float ok[2 * 1 * 2] = {1, 0, 0, 1};
    cr_assert_eq(vlm_zeroshot_classifier(ok, 2, 1, 2, w, &err), VLM_OK);
    vlm_zeroshot *z;
    cr_assert_eq(vlm_zeroshot_create(w, 2, 2, &z, &err), VLM_OK);
    float zero[2] = {0, 0}, nan2[2] = {NAN, 1}, f[2] = {1, 2};
    cr_assert_eq(vlm_zeroshot_add(z, zero, 0, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_zeroshot_add(z, nan2, 0, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_zeroshot_add(z, f, 2, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_zeroshot_add(z, f, -1, &err), VLM_ERR_INVALID);
    vlm_zeroshot_summary s;
    vlm_zeroshot_get_summary(z, &s);
    cr_assert_eq(s.n, 0);
    cr_assert(isnan(s.top1) && isnan(s.mean_per_class_recall));
    vlm_zeroshot_destroy(z);
    vlm_zeroshot_destroy(NULL);
}

Test(zeroshot, canonical_input_errors) {
    python("np.save(f'{d}/text_features.npy', np.ones((3, 1, 4), np.float32))\n"
           "np.save(f'{d}/image_features.npy', np.ones((2, 5), np.float32))\n"
           "np.save(f'{d}/labels.npy', np.zeros(2, np.int64))\n");
    vlm_error err = {0};
    vlm_zeroshot *z = NULL;
    cr_assert_eq(vlm_zeroshot_score_dir(g_dir, &z, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "image_features"), "%s", err.msg);
    python("np.save(f'{d}/image_features.npy', np.ones((2, 4), np.float32))\n"
           "np.save(f'{d}/labels.npy', np.array([0, 3]))\n");
    cr_assert_eq(vlm_zeroshot_score_dir(g_dir, &z, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "labels") && strstr(err.msg, "item 1"), "%s", err.msg);
    python("import os\n"
           "os.remove(f'{d}/labels.npy')\n"
           "np.array([0, 1], np.int64).tofile(f'{d}/labels.bin')\n"
           "json.dump({'shape': [3], 'dtype': 'int64'}, open(f'{d}/labels.json', 'w'))\n");
    cr_assert_eq(vlm_zeroshot_score_dir(g_dir, &z, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "labels.bin") && strstr(err.msg, "need 24"), "%s", err.msg);
    python("import os\n"
           "os.remove(f'{d}/labels.bin')\n");
    cr_assert_eq(vlm_zeroshot_score_dir(g_dir, &z, &err), VLM_ERR_IO);
    cr_assert(strstr(err.msg, "labels"), "%s", err.msg);
    cr_assert_null(z);
    char *argv[] = {VLM_BIN, "eval", "zeroshot", "--features", g_dir, NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "labels"), "%s", r.err);
    vlm_run_free(&r);
}

Test(zeroshot, cli_usage) {
    char *help[] = {VLM_BIN, "eval", "zeroshot", "--help", NULL};
    vlm_run r = vlm_test_run(help);
    cr_assert_eq(r.exit_code, 0);
    cr_assert(strstr(r.out, "--features DIR") && strstr(r.out, "--classifier"));
    vlm_run_free(&r);
    char *bad[] = {VLM_BIN, "eval", "zeroshot", "--bogus", NULL};
    r = vlm_test_run(bad);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--bogus"), "%s", r.err);
    vlm_run_free(&r);
    char *none[] = {VLM_BIN, "eval", "zeroshot", NULL};
    r = vlm_test_run(none);
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
    char *text[] = {VLM_BIN, "eval",           "zeroshot",      "--model", "mci1",     "--data",
                    "x.tar", "--text-weights", "t.safetensors", "--vocab", "v.txt.gz", NULL};
    r = vlm_test_run(text); /* a missing vocabulary file is named */
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "v.txt.gz"), "%s", r.err);
    vlm_run_free(&r);
    char *badmodel[] = {VLM_BIN,  "eval",  "zeroshot",     "--model", "qwen2-0.5b",
                        "--data", "x.tar", "--classifier", "c.npy",   NULL};
    r = vlm_test_run(badmodel);
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "qwen2-0.5b"), "%s", r.err);
    vlm_run_free(&r);
}

/* ---- end to end with the synthetic-weight mci0 tower ------------------------------------
 * Python writes 14 PNG images of odd sizes into two webdataset shards (key.png + key.cls;
 * shard 1 uses key.json labels) and the same images preprocessed by Pillow as MobileCLIP does
 * (shortest side 64 bilinear, centre crop, /255). The test runs the engine on those inputs
 * (the same seeded synthetic weights the CLI uses), NumPy builds a [C, T, D] classifier from
 * prototypes (features of some images plus noise) and computes the expected numbers, and the
 * CLI must reproduce them from the shards. */

#define E2E_RES 64

static const char *E2E_DATA =
    "from PIL import Image\n"
    "rng = np.random.default_rng(11)\n"
    "N, R = 14, 64\n"
    "sizes = [(64, 64), (97, 71), (70, 130), (65, 64), (120, 90), (81, 81), (64, 100)]\n"
    "labels = rng.permutation(np.arange(N) % 6)\n"
    "assert len(set(labels.tolist())) == 6  # folder indices = labels only if all are present\n"
    "import os\n"
    "tars = [tarfile.open(f'{d}/shard-{k}.tar', 'w') for k in range(2)]\n"
    "def add(t, name, data):\n"
    "    info = tarfile.TarInfo(name); info.size = len(data)\n"
    "    t.addfile(info, io.BytesIO(data))\n"
    "for i in range(N):\n"
    "    w, h = sizes[i % len(sizes)]\n"
    "    y, x = np.mgrid[0:h, 0:w]\n"
    "    base = rng.integers(0, 256, size=3)\n"
    "    a = np.stack([(x * (i + 1) * 3 + base[0]) % 256, (y * (i + 2) * 5 + base[1]) % 256,\n"
    "                  ((x + y) * (7 + i) + base[2]) % 256], -1).astype(np.uint8)\n"
    "    im = Image.fromarray(a)\n"
    "    buf = io.BytesIO(); im.save(buf, 'PNG')\n"
    "    t = tars[0 if i < 8 else 1]\n"
    "    key = f'sample{i:04d}'\n"
    "    add(t, key + '.png', buf.getvalue())\n"
    "    os.makedirs(f'{d}/folders/c{labels[i]}', exist_ok=True)\n"
    "    im.save(f'{d}/folders/c{labels[i]}/{key}.png')\n"
    "    if i < 8:\n"
    "        add(t, key + '.cls', f'{labels[i]}\\n'.encode())\n"
    "    else:\n"
    "        add(t, key + '.json', json.dumps({'label': int(labels[i])}).encode())\n"
    "    s = R / min(w, h)\n"
    "    nw, nh = (R, int(R * h / w)) if w <= h else (int(R * w / h), R)\n"
    "    r = im.resize((nw, nh), Image.BILINEAR)\n"
    "    left, top = int(round((nw - R) / 2.0)), int(round((nh - R) / 2.0))\n"
    "    c = np.asarray(r.crop((left, top, left + R, top + R)), dtype=np.float32) / 255\n"
    "    np.save(f'{d}/in{i}.npy', c.transpose(2, 0, 1)[None].copy())\n"
    "for t in tars:\n"
    "    t.close()\n"
    "np.save(f'{d}/labels.npy', labels)\n";

static const char *E2E_EXPECTED =
    "feats = np.load(f'{d}/feats.npy')\n"
    "labels = np.load(f'{d}/labels.npy')\n"
    "rng = np.random.default_rng(5)\n"
    "C, T = 6, 2\n"
    "f = normalise(feats.astype(np.float64))\n"
    "centre = f.mean(axis=0)\n"
    "# prototypes: the mean direction of each class's images, with the shared component\n"
    "# removed (synthetic features are strongly correlated), plus noise per template\n"
    "proto = np.stack([(f[labels == c].mean(axis=0) if (labels == c).any() else f[c]) - centre\n"
    "                  for c in range(C)])\n"
    "scale = np.linalg.norm(proto, axis=1, keepdims=True)\n"
    "text = proto[:, None, :] + 0.8 * scale[:, None, :] * rng.normal(size=(C, T, f.shape[1])) / "
    "np.sqrt(f.shape[1])\n"
    "text = (text + 0.05 * centre).astype(np.float32)\n"
    "np.save(f'{d}/classifier.npy', text)\n"
    "json.dump(score(classifier(text), feats, labels), open(f'{d}/expected.json', 'w'))\n";

Test(zeroshot, end_to_end_synthetic_mci0) {
    python(E2E_DATA);
    enum { N = 14 };
    vlm_error err = {0};
    vlm_ctx *ctx = NULL;
    vlm_plan *plan = NULL;
    vlm_ctx_params cp = vlm_ctx_default_params();
    vlm_plan_params pp = vlm_plan_default_params();
    pp.model = "mci0";
    pp.height = pp.width = E2E_RES;
    pp.pooled = 1;
    cr_assert_eq(vlm_ctx_create(&cp, &ctx, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(vlm_plan_create(ctx, &pp, &plan, &err), VLM_OK, "%s", err.msg);
    vlm_plan_facts f;
    vlm_plan_get_facts(plan, &f);
    int D = f.embed_dim;
    float *feats = malloc((size_t)N * D * sizeof *feats);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "in%d.npy", i);
        vlm_npy x = {0};
        cr_assert_eq(vlm_npy_read_f32(vlm_test_path(g_dir, name), &x, &err), VLM_OK, "%s", err.msg);
        cr_assert_eq(x.count, f.input_count);
        cr_assert_eq(vlm_plan_run(plan, x.data, NULL, feats + (size_t)i * D, &err), VLM_OK, "%s",
                     err.msg);
        vlm_npy_free(&x);
    }
    vlm_plan_destroy(plan);
    vlm_ctx_destroy(ctx);
    cr_assert_eq(
        vlm_npy_write_f32(vlm_test_path(g_dir, "feats.npy"), 2, (int64_t[]){N, D}, feats, &err),
        VLM_OK);
    free(feats);
    python(E2E_EXPECTED);

    const char *out = vlm_test_path(g_dir, "e2e.json"), *res = vlm_test_path(g_dir, "r.jsonl");
    char shards[600];
    snprintf(shards, sizeof shards, "%s/shard-{0..1}.tar", g_dir);
    char *argv[] = {VLM_BIN,
                    "eval",
                    "zeroshot",
                    "--model",
                    "mci0",
                    "--res",
                    "64",
                    "--data",
                    shards,
                    "--classifier",
                    (char *)vlm_test_path(g_dir, "classifier.npy"),
                    "--batch",
                    "4",
                    "--json",
                    (char *)out,
                    "--results",
                    (char *)res,
                    "--progress",
                    NULL};
    vlm_run r = vlm_test_run(argv);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "14 images in") && strstr(r.err, "images/s"), "%s", r.err);
    json_t *j = load_json("e2e.json"), *e = load_json("expected.json");
    cr_assert_eq(json_integer_value(json_object_get(j, "n")), N);
    assert_close(num(j, "top1"), num(e, "top1"), "top1");
    assert_close(num(j, "top5"), num(e, "top5"), "top5");
    assert_close(num(j, "mean_per_class_recall"), num(e, "mpcr"), "mean_per_class_recall");
    cr_assert(json_equal(json_object_get(j, "per_item_top5"), json_object_get(e, "top")),
              "per-item top-5 differs");
    double top1 = num(e, "top1");
    fprintf(stderr, "end to end: top1 %.4f top5 %.4f\n", top1, num(e, "top5"));
    cr_assert(top1 > 0 && top1 < 1, "top1 %g: the case should be non-trivial", top1);
    /* the results record */
    json_error_t je;
    json_t *rec = json_load_file(res, 0, &je);
    cr_assert_not_null(rec, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "kind")), "eval");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "model")), "mci0");
    cr_assert_eq(json_integer_value(json_object_get(rec, "res")), 64);
    cr_assert(json_is_string(json_object_get(rec, "time")));
    json_t *ev = json_object_get(rec, "eval");
    cr_assert_eq(json_integer_value(json_object_get(ev, "n")), N);
    assert_close(num(ev, "mean_per_class_recall"), num(e, "mpcr"), "record recall");
    json_t *m = json_object_get(rec, "metrics");
    assert_close(json_number_value(json_object_get(m, "imagenet_top1")), 100 * top1, "pct");
    json_t *items = json_object_get(json_object_get(rec, "metric_items"), "imagenet_top1");
    cr_assert_eq(json_array_size(items), N);
    json_t *top = json_object_get(e, "top");
    int correct = 0;
    for (int i = 0; i < N; i++)
        correct += (int)json_integer_value(json_array_get(items, (size_t)i));
    cr_assert_float_eq(correct / (double)N, top1, 1e-12);
    (void)top;
    json_decref(rec);
    json_decref(j);
    json_decref(e);
    vlm_run_free(&r);

    /* the same images as an ImageNet-val folder layout (class = sorted folder index):
     * the order differs, the accuracies do not */
    char *fold[] = {VLM_BIN,
                    "eval",
                    "zeroshot",
                    "--model",
                    "mci0",
                    "--res",
                    "64",
                    "--data",
                    (char *)vlm_test_path(g_dir, "folders"),
                    "--classifier",
                    (char *)vlm_test_path(g_dir, "classifier.npy"),
                    "--json",
                    (char *)vlm_test_path(g_dir, "fold.json"),
                    NULL};
    r = vlm_test_run(fold);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    j = load_json("fold.json");
    e = load_json("expected.json");
    cr_assert_eq(json_integer_value(json_object_get(j, "n")), N);
    assert_close(num(j, "top1"), num(e, "top1"), "folders top1");
    assert_close(num(j, "top5"), num(e, "top5"), "folders top5");
    assert_close(num(j, "mean_per_class_recall"), num(e, "mpcr"), "folders recall");
    json_decref(j);
    json_decref(e);
    vlm_run_free(&r);

    /* --limit: the first 5 images only */
    char *lim[] = {VLM_BIN,
                   "eval",
                   "zeroshot",
                   "--model",
                   "mci0",
                   "--res",
                   "64",
                   "--data",
                   shards,
                   "--classifier",
                   (char *)vlm_test_path(g_dir, "classifier.npy"),
                   "--limit",
                   "5",
                   NULL};
    r = vlm_test_run(lim);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "zeroshot: n 5 "), "%s", r.out);
    vlm_run_free(&r);
}

/* The reader's policy (eval.h): a sample without a label or with a bad image is skipped and
 * counted, reported on stderr; nothing usable, or a missing shard, is an error. */
Test(zeroshot, pipeline_bad_data) {
    python("from PIL import Image\n"
           "def add(t, name, data):\n"
           "    info = tarfile.TarInfo(name); info.size = len(data)\n"
           "    t.addfile(info, io.BytesIO(data))\n"
           "buf = io.BytesIO(); Image.new('RGB', (40, 40), (9, 99, 199)).save(buf, 'PNG')\n"
           "with tarfile.open(f'{d}/nolabel.tar', 'w') as t:\n"
           "    add(t, 'a.png', buf.getvalue()); add(t, 'a.cls', b'0')\n"
           "    add(t, 'b.png', buf.getvalue())\n"
           "with tarfile.open(f'{d}/badimg.tar', 'w') as t:\n"
           "    add(t, 'a.png', buf.getvalue()[:60]); add(t, 'a.cls', b'0')\n"
           "np.save(f'{d}/cls.npy', np.eye(3, 512, dtype=np.float32))\n");
    const char *cls = vlm_test_path(g_dir, "cls.npy");
    const struct {
        const char *data;
        int exit_code;
        const char *out, *err;
    } cases[] = {
        {"nolabel.tar", 0, "zeroshot: n 1 ", "skipped 1 bad sample"},
        {"badimg.tar", 2, "", "no usable samples"},
        {"missing-{0..1}.tar", 2, "", "missing-0.tar"},
    };
    for (int k = 0; k < 3; k++) {
        char *argv[] = {VLM_BIN,        "eval",      "zeroshot",
                        "--model",      "mci0",      "--res",
                        "32",           "--data",    (char *)vlm_test_path(g_dir, cases[k].data),
                        "--classifier", (char *)cls, NULL};
        vlm_run r = vlm_test_run(argv);
        cr_assert_eq(r.exit_code, cases[k].exit_code, "%s: exit %d: %s", cases[k].data, r.exit_code,
                     r.err);
        cr_assert(strstr(r.out, cases[k].out), "%s: %s", cases[k].data, r.out);
        cr_assert(strstr(r.err, cases[k].err), "%s: %s", cases[k].data, r.err);
        vlm_run_free(&r);
    }
}

/* The OpenAI CLIP preprocessing branch (vit-*: bicubic, CLIP mean/std) on the small test ViT:
 * the image runs and is scored against a classifier of the tower's width; a classifier of
 * another width is refused naming the file. */
Test(zeroshot, vit_tower_runs) {
    python("from PIL import Image\n"
           "def add(t, name, data):\n"
           "    info = tarfile.TarInfo(name); info.size = len(data)\n"
           "    t.addfile(info, io.BytesIO(data))\n"
           "buf = io.BytesIO(); Image.new('RGB', (45, 37), (200, 30, 60)).save(buf, 'JPEG')\n"
           "with tarfile.open(f'{d}/one.tar', 'w') as t:\n"
           "    add(t, 'x.jpg', buf.getvalue()); add(t, 'x.cls', b' 1 ')\n"
           "np.save(f'{d}/c32.npy', np.random.default_rng(0).normal(size=(2, 32)).astype('f4'))\n"
           "np.save(f'{d}/c16.npy', np.ones((2, 16), np.float32))\n");
    const char *shard = vlm_test_path(g_dir, "one.tar");
    char *ok[] = {VLM_BIN,       "eval",         "zeroshot",
                  "--model",     "vit-tiny",     "--data",
                  (char *)shard, "--classifier", (char *)vlm_test_path(g_dir, "c32.npy"),
                  NULL};
    vlm_run r = vlm_test_run(ok);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "zeroshot: n 1  classes 2") && strstr(r.out, "top5 null"), "%s", r.out);
    vlm_run_free(&r);
    char *bad[] = {VLM_BIN,       "eval",         "zeroshot",
                   "--model",     "vit-tiny",     "--data",
                   (char *)shard, "--classifier", (char *)vlm_test_path(g_dir, "c16.npy"),
                   NULL};
    r = vlm_test_run(bad);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "c16.npy") && strstr(r.err, "[C, 32]"), "%s", r.err);
    vlm_run_free(&r);
}
