/* `vlmbench eval zeroshot --text-weights`: the classifier built by the engine's text tower.
 * A test vocabulary (no merges: every word is its characters, the last one with </w>), a
 * classes file, seeded text-tower weights from tests/torch/text_ref.py; the expected [C, T, D]
 * text features come from Python: an independent tokenisation of every prompt and
 * text_ref.py's forward on those ids. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/vlm_zstext_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(zeroshot_text, .init = make_dir, .fini = remove_dir);

/* Writes vocab.txt.gz, classes.json and ids.npy (the expected tokenisation, class-major). */
static const char *fixture_py =
    "import gzip, json, re, sys\n"
    "import numpy as np\n"
    "d = sys.argv[1]\n"
    "with gzip.open(d + '/vocab.txt.gz', 'wt', encoding='utf-8') as f:\n"
    "    f.write('#version: 0.2\\n')\n"
    "classes = ['cat', 'dog', 'sea lion']\n"
    "templates = ['a photo of a {c}.', 'a {c}', 'itap of my {c}!']\n"
    "json.dump({'classnames': classes, 'templates': templates,\n"
    "           'simple_templates': templates[:1]}, open(d + '/classes.json', 'w'))\n"
    "bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))\n"
    "order = bs + [b for b in range(256) if b not in bs]\n"
    "idx = {b: i for i, b in enumerate(order)}\n"
    "sot, eot, ctx = 512, 513, 16\n"
    "rows = []\n"
    "for c in classes:\n"
    "    for t in templates:\n"
    "        text = ' '.join(t.replace('{c}', c).split()).lower()\n"
    "        ids = [sot]\n"
    "        for w in re.findall(r'[a-z]+|[0-9]|[^\\sa-z0-9]+', text):\n"
    "            bb = w.encode('utf-8')\n"
    "            ids += [idx[b] for b in bb[:-1]] + [256 + idx[bb[-1]]]\n"
    "        ids = ids[:ctx - 1] + [eot] if len(ids) + 1 > ctx else ids + [eot]\n"
    "        rows.append(ids + [0] * (ctx - len(ids)))\n"
    "np.save(d + '/ids.npy', np.array(rows, dtype=np.int64))\n";

static void fixture(void) {
    char path[128], cmd[1024];
    snprintf(path, sizeof path, "%s/fixture.py", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(fixture_py, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, VLM_PYTHON " %s %s", path, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd,
             VLM_PYTHON " " VLM_SOURCE_DIR "/tests/torch/text_ref.py --model text-tiny --seed 9 "
                        "--weights %s/text.safetensors --input %s/unused.npy --output "
                        "%s/expected.npy --ids %s/ids.npy",
             dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(zeroshot_text, text_features_equal_the_reference_for_every_class_and_template) {
    fixture();
    char w[128], v[128], cl[128], out[128], exp[128];
    snprintf(w, sizeof w, "%s/text.safetensors", dir);
    snprintf(v, sizeof v, "%s/vocab.txt.gz", dir);
    snprintf(cl, sizeof cl, "%s/classes.json", dir);
    snprintf(out, sizeof out, "%s/text_features.npy", dir);
    snprintf(exp, sizeof exp, "%s/expected.npy", dir);
    vlm_run r = vlm_test_run((char *const[]){
        VLM_BIN, "eval", "zeroshot", "--model", "vit-tiny", "--text-weights", w, "--vocab", v,
        "--text-model", "text-tiny", "--classes", cl, "--save-text-features", out, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    vlm_npy a = {0}, b = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(out, &a, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(vlm_npy_read_f32(exp, &b, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(a.ndim, 3);
    cr_assert_eq(a.shape[0], 3);
    cr_assert_eq(a.shape[1], 3);
    cr_assert_eq(a.shape[2], 32);
    cr_assert_eq(a.count, b.count);
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < a.count; i++) {
        diff = fmax(diff, fabs((double)a.data[i] - b.data[i]));
        mag = fmax(mag, fabs((double)b.data[i]));
    }
    cr_expect(diff / mag <= 1e-4, "text features differ from the reference: %.3e", diff / mag);
    vlm_npy_free(&a);
    vlm_npy_free(&b);
}

Test(zeroshot_text, simple_templates_and_bad_inputs) {
    fixture();
    char w[128], v[128], cl[128], out[128], bad[128];
    snprintf(w, sizeof w, "%s/text.safetensors", dir);
    snprintf(v, sizeof v, "%s/vocab.txt.gz", dir);
    snprintf(cl, sizeof cl, "%s/classes.json", dir);
    snprintf(out, sizeof out, "%s/simple.npy", dir);
    vlm_run r = vlm_test_run((char *const[]){VLM_BIN, "eval", "zeroshot", "--model", "vit-tiny",
                                             "--text-weights", w, "--vocab", v, "--text-model",
                                             "text-tiny", "--classes", cl, "--templates", "simple",
                                             "--save-text-features", out, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    vlm_npy a = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(out, &a, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(a.shape[1], 1, "one simple template");
    vlm_npy_free(&a);
    /* the text tower must embed into the image tower's space */
    r = vlm_test_run((char *const[]){VLM_BIN, "eval", "zeroshot", "--model", "mci0",
                                     "--text-weights", w, "--vocab", v, "--text-model", "text-tiny",
                                     "--classes", cl, "--save-text-features", out, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "text-tiny embeds into 32 dimensions but the image tower into 512"),
              "%s", r.err);
    vlm_run_free(&r);
    /* mci0's default text tower is MobileCLIP-S0's: a checkpoint of another tower is refused
     * naming what is missing */
    r = vlm_test_run((char *const[]){VLM_BIN, "eval", "zeroshot", "--model", "mci0",
                                     "--text-weights", w, "--vocab", v, "--classes", cl,
                                     "--save-text-features", out, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "text.embedding_layer.weight") || strstr(r.err, "shape"), "%s", r.err);
    vlm_run_free(&r);
    /* a malformed classes file is named with its line and column */
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(bad, "w");
    fputs("{\"classnames\": [\"cat\",\n  oops]}", f);
    fclose(f);
    r = vlm_test_run((char *const[]){VLM_BIN, "eval", "zeroshot", "--model", "vit-tiny",
                                     "--text-weights", w, "--vocab", v, "--text-model", "text-tiny",
                                     "--classes", bad, "--save-text-features", out, NULL});
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "bad.json:2:"), "%s", r.err);
    vlm_run_free(&r);
}
