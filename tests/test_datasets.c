/* eval/data readers: brace expansion, webdataset shards, ImageNet-val folders, typed tensors and
 * label-map PNGs. Fixtures are written by Python (tarfile, zipfile, PIL, NumPy); expected
 * records, labels and decoded pixels (PIL's convert("RGB")) come from Python too. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

VLM_TEST_TMPDIR_SUITE(datasets)

/* Python prelude: jpg(seed, w, h) / png(...) give encoded images; expect(lines) writes
 * expected.txt with one "key label width height fnv" line per sample, the fnv over PIL's
 * RGB bytes. */
static const char PRELUDE[] =
    "import sys, os, io, json, tarfile, zipfile, struct\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "d = sys.argv[1]\n"
    "def fnv(b):\n"
    "    h = 2166136261\n"
    "    for x in b: h = ((h ^ x) * 16777619) & 0xffffffff\n"
    "    return h\n"
    "def img(seed, w, h, fmt='JPEG', mode='RGB'):\n"
    "    r = np.random.default_rng(seed)\n"
    "    a = r.integers(0, 256, (h, w, 3), dtype=np.uint8)\n"
    "    b = io.BytesIO(); Image.fromarray(a).convert(mode).save(b, fmt); return b.getvalue()\n"
    "def rgb_line(key, label, data):\n"
    "    im = Image.open(io.BytesIO(data)).convert('RGB')\n"
    "    return f'{key} {label} {im.size[0]} {im.size[1]} {fnv(im.tobytes()):08x}'\n"
    "def write_tar(path, members, mode='w'):\n"
    "    with tarfile.open(path, mode) as t:\n"
    "        for name, data in members:\n"
    "            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))\n"
    "def expect(lines):\n"
    "    open(f'{d}/expected.txt', 'w').write(''.join(l + '\\n' for l in lines))\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PRELUDE, script);
}

static uint32_t fnv(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static char *slurp(const char *path) {
    uint8_t *data;
    size_t len;
    vlm_error err = {0};
    cr_assert_eq(vlm_read_file(path, &data, &len, 1 << 24, &err), VLM_OK, "%s", err.msg);
    return (char *)data;
}

/* Reads every sample of spec; returns the listing (owned) or NULL with *err. */
static char *read_all(const char *spec, const vlm_cls_params *params, vlm_cls_reader **keep,
                      vlm_error *err) {
    vlm_cls_reader *r;
    if (vlm_cls_reader_open(spec, params, &r, err) != VLM_OK)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(cap, 1);
    vlm_cls_sample s;
    int done = 0;
    vlm_status st;
    while ((st = vlm_cls_reader_next(r, &s, &done, err)) == VLM_OK && !done) {
        cr_assert_not_null(s.image.pixels);
        n += (size_t)snprintf(out + n, cap - n, "%s %lld %d %d %08x\n", s.key, (long long)s.label,
                              s.image.width, s.image.height,
                              fnv(s.image.pixels, (size_t)s.image.width * s.image.height * 3));
        vlm_image_free(&s.image);
    }
    if (keep)
        *keep = r;
    else
        vlm_cls_reader_close(r);
    if (st != VLM_OK) {
        free(out);
        return NULL;
    }
    return out;
}

Test(datasets, brace_expansion_like_braceexpand) {
    struct {
        const char *pattern;
        int n;
        const char *first, *last;
    } cases[] = {
        {"val-{000000..000049}.tar", 50, "val-000000.tar", "val-000049.tar"},
        {"a{1..3}b", 3, "a1b", "a3b"},
        {"s{09..11}", 3, "s09", "s11"},
        {"s{3..1}", 3, "s3", "s1"},
        {"{a,b}-{0..1}", 4, "a-0", "b-1"},
        {"plain.tar", 1, "plain.tar", "plain.tar"},
        {"x{abc}y", 1, "x{abc}y", "x{abc}y"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char **v;
        size_t n;
        vlm_error err = {0};
        cr_assert_eq(vlm_expand_braces(cases[i].pattern, &v, &n, &err), VLM_OK, "%s: %s",
                     cases[i].pattern, err.msg);
        cr_assert_eq(n, (size_t)cases[i].n, "%s: %zu paths", cases[i].pattern, n);
        cr_assert_str_eq(v[0], cases[i].first);
        cr_assert_str_eq(v[n - 1], cases[i].last);
        if (i == 4)
            cr_assert_str_eq(v[1], "a-1");
        vlm_strings_free(v, n);
    }
    char **v;
    size_t n;
    vlm_error err = {0};
    cr_assert_eq(vlm_expand_braces("a{1..3", &v, &n, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_expand_braces("a}1", &v, &n, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_expand_braces("{0..99999999}", &v, &n, &err), VLM_ERR_INVALID);
}

Test(datasets, webdataset_shards_every_sample_once_in_order) {
    /* 3 shards from a brace range; .cls and .json labels, jpg/png/upper-case JPG, a member
     * that is not part of a sample (.txt), keys with dots in the directory part. */
    python("lines = []\n"
           "k = 0\n"
           "for s in range(3):\n"
           "    mem = []\n"
           "    for j in range(4):\n"
           "        key = f'dir.v1/sample{k:05d}'\n"
           "        fmt, ext = (('PNG', 'png') if k % 3 == 1 else ('JPEG', 'JPG' if k == 5 else "
           "'jpg'))\n"
           "        data = img(k, 20 + k, 11 + (k * 7) % 13, fmt, 'L' if k == 4 else 'RGB')\n"
           "        label = (k * 37) % 1000\n"
           "        if k % 2: mem.append((key + '.json', json.dumps({'label': label}).encode()))\n"
           "        else: mem.append((key + '.cls', f' {label}\\n'.encode()))\n"
           "        mem.append((key + '.' + ext, data))\n"
           "        mem.append((key + '.txt', b'a caption'))\n"
           "        lines.append(rgb_line(f'{d}/val-{s:06d}.tar:{key}', label, data))\n"
           "        k += 1\n"
           "    write_tar(f'{d}/val-{s:06d}.tar', mem)\n"
           "expect(lines)\n");
    char spec[600];
    snprintf(spec, sizeof spec, "%s/val-{000000..000002}.tar", g_dir);
    vlm_error err = {0};
    vlm_cls_reader *r;
    char *got = read_all(spec, NULL, &r, &err);
    cr_assert_not_null(got, "%s", err.msg);
    char *want = slurp(tpath("expected.txt"));
    cr_assert_str_eq(got, want, "got:\n%s\nwant:\n%s", got, want);
    cr_assert_eq(vlm_cls_reader_skipped(r), 0);
    size_t started, total;
    vlm_cls_reader_shards(r, &started, &total);
    cr_assert(started == 3 && total == 3, "%zu of %zu shards", started, total);
    vlm_cls_reader_close(r);
    free(got);
    free(want);
}

Test(datasets, webdataset_tar_zst_zip_and_directory_give_the_same_samples) {
    python("mem, lines = [], []\n"
           "for k in range(5):\n"
           "    data = img(100 + k, 16, 9 + k)\n"
           "    mem += [(f'k{k}.cls', str(k).encode()), (f'k{k}.jpg', data)]\n"
           "    lines.append(f'{k} 16 {9 + k}')\n"
           "write_tar(f'{d}/s.tar', mem)\n"
           "b = open(f'{d}/s.tar', 'rb').read()\n"
           "# a zstd frame of raw blocks (magic, descriptor, window 2^17, 3-byte block headers)\n"
           "z = struct.pack('<I', 0xFD2FB528) + bytes([0, 7 << 3])\n"
           "bl = [b[i:i + 65536] for i in range(0, len(b), 65536)]\n"
           "for i, x in enumerate(bl):\n"
           "    z += ((len(x) << 3) | (i == len(bl) - 1)).to_bytes(3, 'little') + x\n"
           "open(f'{d}/s.tar.zst', 'wb').write(z)\n"
           "with zipfile.ZipFile(f'{d}/s.zip', 'w') as zf:\n"
           "    for n, x in mem: zf.writestr(n, x)\n"
           "os.makedirs(f'{d}/s_dir')\n"
           "for n, x in mem: open(f'{d}/s_dir/{n}', 'wb').write(x)\n"
           "expect(lines)\n");
    const char *names[] = {"s.tar", "s.tar.zst", "s.zip", "s_dir"};
    char *want = slurp(tpath("expected.txt"));
    for (int i = 0; i < 4; i++) {
        vlm_error err = {0};
        vlm_cls_params p = vlm_cls_default_params();
        p.layout = VLM_CLS_WDS;
        char *got = read_all(tpath(names[i]), &p, NULL, &err);
        cr_assert_not_null(got, "%s: %s", names[i], err.msg);
        /* compare label and size columns only (the keys name the shard) */
        char cols[4096] = "", *save = NULL;
        size_t n = 0;
        for (char *line = strtok_r(got, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char key[512];
            long long label;
            int w, h;
            cr_assert_eq(sscanf(line, "%511s %lld %d %d", key, &label, &w, &h), 4);
            n += (size_t)snprintf(cols + n, sizeof cols - n, "%lld %d %d\n", label, w, h);
        }
        cr_assert_str_eq(cols, want, "%s:\n%s", names[i], cols);
        free(got);
    }
    free(want);
}

Test(datasets, bad_samples_are_counted_skips_or_strict_errors) {
    python("mem, lines = [], []\n"
           "good = img(1, 8, 8)\n"
           "mem += [('a.cls', b'1'), ('a.jpg', good)]\n"
           "lines.append(rgb_line(f'{d}/bad.tar:a', 1, good))\n"
           "mem += [('b.jpg', img(2, 8, 8))]\n"                                /* no label */
           "mem += [('c.cls', b'2'), ('c.jpg', b'\\xff\\xd8\\xff garbage')]\n" /* bad JPEG */
           "mem += [('d.cls', b'two'), ('d.jpg', img(3, 8, 8))]\n"             /* bad label */
           "mem += [('e.cls', b'5')]\n"                                        /* no image */
           "mem += [('f.json', b'{\"cls\": 7}'), ('f.png', img(4, 5, 6, 'PNG'))]\n"
           "lines.append(rgb_line(f'{d}/bad.tar:f', 7, img(4, 5, 6, 'PNG')))\n"
           "write_tar(f'{d}/bad.tar', mem)\n"
           "expect(lines)\n");
    vlm_error err = {0};
    vlm_cls_reader *r;
    char *got = read_all(tpath("bad.tar"), NULL, &r, &err);
    cr_assert_not_null(got, "%s", err.msg);
    char *want = slurp(tpath("expected.txt"));
    cr_assert_str_eq(got, want);
    cr_assert_eq(vlm_cls_reader_skipped(r), 4);
    const char *w = vlm_cls_reader_warnings(r);
    cr_assert(strstr(w, "bad.tar: sample 'b': no .cls or .json label (skipped)"), "%s", w);
    cr_assert(strstr(w, "bad.tar: sample 'c': undecodable image: "), "%s", w);
    cr_assert(strstr(w, "bad.tar: sample 'd': unparsable label: d.cls"), "%s", w);
    cr_assert(strstr(w, "bad.tar: sample 'e': no .jpg/.jpeg/.png image"), "%s", w);
    vlm_cls_reader_close(r);
    free(got);
    free(want);

    /* decode = 0 hands out the encoded bytes: the corrupt JPEG is then not a bad sample. */
    vlm_cls_params p = vlm_cls_default_params();
    p.decode = 0;
    cr_assert_eq(vlm_cls_reader_open(tpath("bad.tar"), &p, &r, &err), VLM_OK, "%s", err.msg);
    vlm_cls_sample s;
    int done = 0, n = 0;
    while (vlm_cls_reader_next(r, &s, &done, &err) == VLM_OK && !done) {
        cr_assert_null(s.image.pixels);
        cr_assert_not_null(s.encoded);
        if (strstr(s.key, ":c"))
            cr_assert(s.encoded_bytes == 11 && !memcmp(s.encoded, "\xff\xd8\xff garbage", 11));
        free(s.encoded);
        n++;
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(vlm_cls_reader_skipped(r), 3);
    vlm_cls_reader_close(r);

    p = vlm_cls_default_params();
    p.strict = 1;
    got = read_all(tpath("bad.tar"), &p, NULL, &err);
    cr_assert_null(got);
    cr_assert_eq(err.status, VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "bad.tar") && strstr(err.msg, "'b'"), "%s", err.msg);
}

Test(datasets, truncated_shard_and_duplicate_member_are_errors) {
    python("mem = []\n"
           "for k in range(6): mem += [(f'k{k}.cls', b'0'), (f'k{k}.jpg', img(k, 64, 64))]\n"
           "write_tar(f'{d}/t.tar', mem)\n"
           "b = open(f'{d}/t.tar', 'rb').read()\n"
           "i = b.index(b'k3.jpg')\n"
           "open(f'{d}/cut.tar', 'wb').write(b[:i + 700])\n"
           "write_tar(f'{d}/dup.tar', [('a.cls', b'1'), ('a.jpg', img(1, 4, 4)),\n"
           "                           ('a.jpg', img(2, 4, 4))])\n");
    vlm_error err = {0};
    char *got = read_all(tpath("cut.tar"), NULL, NULL, &err);
    cr_assert_null(got);
    cr_assert_eq(err.status, VLM_ERR_FORMAT, "%s", err.msg);
    cr_assert(strstr(err.msg, "cut.tar") && strstr(err.msg, "k3.jpg"), "%s", err.msg);
    got = read_all(tpath("dup.tar"), NULL, NULL, &err);
    cr_assert_null(got);
    cr_assert(strstr(err.msg, "dup.tar") && strstr(err.msg, "duplicate"), "%s", err.msg);
    python("write_tar(f'{d}/webp.tar', [('a.cls', b'1'), ('a.webp', img(1, 4, 4, 'WEBP'))])\n");
    got = read_all(tpath("webp.tar"), NULL, NULL, &err);
    cr_assert_null(got);
    cr_assert_eq(err.status, VLM_ERR_UNSUPPORTED, "%s", err.msg);
    cr_assert(strstr(err.msg, "webp.tar") && strstr(err.msg, "WebP"), "%s", err.msg);
    got = read_all(tpath("nope-{0..1}.tar"), NULL, NULL, &err);
    cr_assert_null(got);
    cr_assert_eq(err.status, VLM_ERR_IO, "%s", err.msg);
}

Test(datasets, imagenet_folder_layout_directory_and_tar) {
    /* Class index = position of the synset folder in sorted order; a stray file at the root
     * (a CSV) is ignored; AUTO picks the folder layout. */
    python("syn = ['n03000134', 'n01440764', 'n02102040']\n"
           "lines, mem = [], []\n"
           "for s in sorted(syn):\n"
           "    for j in range(2):\n"
           "        name = f'{s}/ILSVRC2012_val_{j:08d}.JPEG'\n"
           "        data = img(hash(name) % 1000, 10 + j, 7)\n"
           "        os.makedirs(f'{d}/val/{s}', exist_ok=True)\n"
           "        open(f'{d}/val/{name}', 'wb').write(data)\n"
           "        mem.append(('val/' + name, data))\n"
           "        lines.append(rgb_line(name, sorted(syn).index(s), data))\n"
           "open(f'{d}/val/LOC_val_solution.csv', 'w').write('x')\n"
           "write_tar(f'{d}/val.tar', mem[::-1])\n" /* archive order differs from sorted */
           "expect(lines)\n"
           "open(f'{d}/expected_tar.txt', 'w').write(''.join('val/' + l + '\\n' for l in "
           "lines[::-1]))\n");
    vlm_error err = {0};
    vlm_cls_reader *r;
    char *got = read_all(tpath("val"), NULL, &r, &err);
    cr_assert_not_null(got, "%s", err.msg);
    char *want = slurp(tpath("expected.txt"));
    cr_assert_str_eq(got, want, "got:\n%s\nwant:\n%s", got, want);
    int nc;
    const char *const *names = vlm_cls_reader_classes(r, &nc);
    cr_assert_eq(nc, 3);
    cr_assert_str_eq(names[0], "n01440764");
    cr_assert_str_eq(names[2], "n03000134");
    vlm_cls_reader_close(r);
    free(got);
    free(want);

    got = read_all(tpath("val.tar"), NULL, NULL, &err);
    cr_assert_not_null(got, "%s", err.msg);
    want = slurp(tpath("expected_tar.txt"));
    cr_assert_str_eq(got, want, "got:\n%s\nwant:\n%s", got, want);
    free(got);
    free(want);
}

Test(datasets, arrays_npy_and_bin_every_dtype) {
    python("dts = ['bool', 'uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'uint64',\n"
           "       'int64', 'float16', 'float32', 'float64']\n"
           "for dt in dts:\n"
           "    a = (np.arange(24).reshape(2, 3, 4) * 3 - 7).astype(dt)\n"
           "    np.save(f'{d}/{dt}.npy', a)\n"
           "    a.tofile(f'{d}/{dt}_raw.bin')\n"
           "    json.dump({'shape': [2, 3, 4], 'dtype': dt, 'order': 'C', 'byteorder': 'little'},\n"
           "              open(f'{d}/{dt}_raw.json', 'w'))\n"
           "    open(f'{d}/{dt}.txt', 'w').write(' '.join(repr(float(x)) for x in a.ravel()))\n"
           "np.save(f'{d}/fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))\n"
           "np.save(f'{d}/big.npy', np.ones(3, '>i4'))\n"
           "np.ones(5, np.float32).tofile(f'{d}/short.bin')\n"
           "json.dump({'shape': [6], 'dtype': 'float32'}, open(f'{d}/short.json', 'w'))\n");
    const char *dts[] = {"bool",  "uint8",  "int8",  "uint16",  "int16",   "uint32",
                         "int32", "uint64", "int64", "float16", "float32", "float64"};
    for (int i = 0; i < 12; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.txt", dts[i]);
        char *txt = slurp(tpath(name));
        const char *forms[3] = {"%s.npy", "%s_raw.bin", "%s_raw"};
        for (int f = 0; f < 3; f++) {
            snprintf(name, sizeof name, forms[f], dts[i]);
            vlm_array a;
            vlm_error err = {0};
            cr_assert_eq(vlm_array_load(tpath(name), &a, &err), VLM_OK, "%s: %s", name, err.msg);
            cr_assert_str_eq(vlm_array_dtype_name(a.dtype), dts[i]);
            cr_assert_eq(a.ndim, 3);
            cr_assert_eq(a.count, 24);
            cr_assert_eq(a.shape[2], 4);
            char *p = txt;
            for (int64_t k = 0; k < a.count; k++) {
                double want = strtod(p, &p);
                cr_assert_eq(vlm_array_get_f64(&a, k), want, "%s[%lld]", name, (long long)k);
            }
            vlm_array_free(&a);
        }
        free(txt);
    }
    const char *bad[] = {"fortran.npy", "big.npy", "short.bin", "missing"};
    const char *why[] = {"Fortran", "dtype", "need", "neither"};
    for (int i = 0; i < 4; i++) {
        vlm_array a;
        vlm_error err = {0};
        cr_assert_neq(vlm_array_load(tpath(bad[i]), &a, &err), VLM_OK, "%s", bad[i]);
        cr_assert(strstr(err.msg, why[i]) && strstr(err.msg, bad[i]), "%s", err.msg);
        cr_assert_null(a.data);
    }
}

Test(datasets, label_map_pngs_hold_values_as_pil_gives_them) {
    /* mmseg reads annotations with np.array(Image.open(...)): the expected values are that. */
    python("r = np.random.default_rng(3)\n"
           "idx = r.integers(0, 256, (13, 11), dtype=np.uint8)\n"
           "Image.fromarray(idx).save(f'{d}/L.png')\n"
           "p = Image.fromarray(idx, 'P'); p.putpalette(list(r.integers(0, 256, 768))); "
           "p.save(f'{d}/P.png')\n"
           "p = Image.fromarray(idx % 16, 'P'); p.putpalette(list(range(48))); "
           "p.save(f'{d}/P4.png', bits=4)\n"
           "Image.fromarray(idx > 127).save(f'{d}/one.png')\n"
           "Image.fromarray((idx.astype(np.uint16) * 251)).save(f'{d}/I16.png')\n"
           "Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(f'{d}/rgb.png')\n"
           "for n in ('L', 'P', 'P4', 'one', 'I16'):\n"
           "    a = np.array(Image.open(f'{d}/{n}.png')).astype(np.int64)\n"
           "    open(f'{d}/{n}.txt', 'w').write(' '.join(map(str, a.ravel())))\n");
    const char *names[] = {"L", "P", "P4", "one", "I16"};
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.txt", names[i]);
        char *txt = slurp(tpath(name));
        snprintf(name, sizeof name, "%s.png", names[i]);
        vlm_label_map m;
        vlm_error err = {0};
        cr_assert_eq(vlm_label_map_read(tpath(name), &m, &err), VLM_OK, "%s: %s", name, err.msg);
        cr_assert_eq(m.width, 11);
        cr_assert_eq(m.height, 13);
        char *p = txt;
        for (int k = 0; k < 11 * 13; k++) {
            long want = strtol(p, &p, 10);
            cr_assert_eq(m.values[k], want, "%s[%d]: %d, PIL %ld", name, k, m.values[k], want);
        }
        vlm_label_map_free(&m);
        free(txt);
    }
    vlm_label_map m;
    vlm_error err = {0};
    cr_assert_eq(vlm_label_map_read(tpath("rgb.png"), &m, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "not a label map"), "%s", err.msg);
}

/* Every prefix and a set of single-byte mutations of a label PNG, a .npy file and a webdataset
 * shard: a clean error or a result, never a crash (run under the sanitizers too). */
Test(datasets, truncated_and_mutated_inputs_never_crash) {
    python("r = np.random.default_rng(9)\n"
           "Image.fromarray(r.integers(0, 4, (9, 7), dtype=np.uint8)).save(f'{d}/m.png')\n"
           "np.save(f'{d}/m.npy', r.integers(0, 9, (5, 6)).astype(np.int32))\n"
           "write_tar(f'{d}/m.tar', [('a.cls', b'1'), ('a.jpg', img(1, 9, 9)),\n"
           "                         ('b.cls', b'2'), ('b.png', img(2, 7, 5, 'PNG'))])\n");
    const char *files[] = {"m.png", "m.npy", "m.tar"};
    for (int f = 0; f < 3; f++) {
        uint8_t *orig;
        size_t len;
        vlm_error err = {0};
        cr_assert_eq(vlm_read_file(tpath(files[f]), &orig, &len, 1 << 24, &err), VLM_OK);
        char name[32];
        snprintf(name, sizeof name, "x_%s", files[f]);
        size_t step = len > 400 ? len / 200 : 1;
        for (size_t cut = 0; cut < 2 * len; cut += step) {
            /* first pass: prefixes; second pass: the whole file with one byte changed */
            size_t n = cut < len ? cut : len;
            uint8_t *buf = malloc(len + 1);
            memcpy(buf, orig, len);
            if (cut >= len)
                buf[cut - len] ^= (uint8_t)(0x5a + cut);
            FILE *o = fopen(tpath(name), "wb");
            fwrite(buf, 1, n, o);
            fclose(o);
            free(buf);
            if (f == 0) {
                vlm_label_map m;
                if (vlm_label_map_read(tpath(name), &m, &err) == VLM_OK)
                    vlm_label_map_free(&m);
            } else if (f == 1) {
                vlm_array a;
                if (vlm_array_load(tpath(name), &a, &err) == VLM_OK) {
                    for (int64_t i = 0; i < a.count; i++)
                        (void)vlm_array_get_i64(&a, i);
                    vlm_array_free(&a);
                }
            } else {
                vlm_cls_reader *r;
                if (vlm_cls_reader_open(tpath(name), NULL, &r, &err) == VLM_OK) {
                    vlm_cls_sample s;
                    int done = 0;
                    while (vlm_cls_reader_next(r, &s, &done, &err) == VLM_OK && !done)
                        vlm_image_free(&s.image);
                    vlm_cls_reader_close(r);
                }
            }
        }
        free(orig);
    }
}
