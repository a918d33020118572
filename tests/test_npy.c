/* eval/npy.c: .npy read and write. Golden files and golden float32 values come from NumPy
 * (Debian's, run as VLM_PYTHON), never from the code under test. */
#include <criterion/criterion.h>

#include "tests/testutil.h"
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/eval.h"

/* ---- fixture: one temporary directory per test ------------------------------------------ */

VLM_TEST_TMPDIR_SUITE(npy)

/* Runs a Python script with NumPy; sys.argv[1] is the test directory. */
static const char PY_PRELUDE[] =
    "import sys, warnings\n"
    "import numpy as np\n"
    "warnings.simplefilter('ignore')\n"
    "np.seterr(all='ignore')\n"
    "d = sys.argv[1]\n"
    "def save(name, a, version=None):\n"
    "    if version is None:\n"
    "        np.save(f'{d}/{name}.npy', a)\n"
    "    else:\n"
    "        with open(f'{d}/{name}.npy', 'wb') as f:\n"
    "            np.lib.format.write_array(f, a, version=version)\n"
    "    np.ascontiguousarray(a).astype('<f4').tofile(f'{d}/{name}.f32')\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PY_PRELUDE, script);
}

/* Reads a whole file; *len gets its size. Owned result. */
static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* Checks a's values bit for bit against NumPy's float32 conversion in NAME.f32; NaNs need only
 * agree in being NaN and in sign (a half signalling NaN may be quietened by either side). */
static void expect_golden(const vlm_npy *a, const char *name) {
    char f32[128];
    snprintf(f32, sizeof f32, "%s.f32", name);
    size_t len;
    unsigned char *gold = slurp(tpath(f32), &len);
    cr_assert_eq(len, (size_t)a->count * 4, "%s: %zu golden bytes for %lld values", name, len,
                 (long long)a->count);
    for (int64_t i = 0; i < a->count; i++) {
        float want;
        memcpy(&want, gold + 4 * i, 4);
        float got = a->data[i];
        if (isnan(want)) {
            cr_assert(isnan(got), "%s[%lld]: got %a, want nan", name, (long long)i, got);
            cr_assert_eq(signbit(got) != 0, signbit(want) != 0, "%s[%lld]: nan sign", name,
                         (long long)i);
        } else {
            cr_assert_eq(bits_of(got), bits_of(want),
                         "%s[%lld]: got %a (0x%08x), want %a (0x%08x)", name, (long long)i, got,
                         bits_of(got), want, bits_of(want));
        }
    }
    free(gold);
}

static void expect_shape(const vlm_npy *a, int ndim, const int64_t *shape) {
    cr_assert_eq(a->ndim, ndim);
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        cr_assert_eq(a->shape[i], shape[i], "dim %d: %lld != %lld", i, (long long)a->shape[i],
                     (long long)shape[i]);
        count *= shape[i];
    }
    cr_assert_eq(a->count, count);
}

/* Reads NAME.npy, checks it loads, its shape and its values against NAME.f32. */
static void expect_loads(const char *name, int ndim, const int64_t *shape) {
    char npy[128];
    snprintf(npy, sizeof npy, "%s.npy", name);
    vlm_npy a = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(tpath(npy), &a, &err), VLM_OK, "%s: %s", name, err.msg);
    expect_shape(&a, ndim, shape);
    cr_assert(a.count == 0 || a.data != NULL);
    expect_golden(&a, name);
    vlm_npy_free(&a);
    cr_assert_null(a.data);
    cr_assert_eq(a.count, 0);
}

/* Reading NAME must fail with status, a message naming the file and containing want (if set),
 * and out left empty. */
static void expect_read_error(const char *path, vlm_status status, const char *want) {
    vlm_npy a = {.ndim = 3, .count = 7};
    vlm_error err = {0};
    vlm_status st = vlm_npy_read_f32(path, &a, &err);
    cr_assert_eq(st, status, "%s: got %s (%s), want %s", path, vlm_status_name(st), err.msg,
                 vlm_status_name(status));
    cr_assert_eq(err.status, status);
    cr_assert_not_null(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    if (want)
        cr_assert_not_null(strstr(err.msg, want), "message lacks '%s': %s", want, err.msg);
    cr_assert_null(a.data);
    cr_assert_eq(a.ndim, 0);
    cr_assert_eq(a.count, 0);
}

/* Writes a hand-made .npy file: magic, version major.0, header length (u16 for 1, u32 else),
 * dict padded with spaces and '\n' to a multiple of 64, then data_bytes bytes of 0x3f. */
static void write_crafted(const char *path, int major, const char *dict, size_t data_bytes) {
    size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t hlen = dlen + 1, total = pre + hlen;
    hlen += (64 - total % 64) % 64;
    size_t n = pre + hlen + data_bytes;
    unsigned char *buf = malloc(n);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(buf + pre, ' ', hlen);
    memcpy(buf + pre, dict, dlen);
    buf[pre + hlen - 1] = '\n';
    memset(buf + pre + hlen, 0x3f, data_bytes);
    spit(path, buf, n);
    free(buf);
}

/* ---- reading NumPy's files --------------------------------------------------------------- */

Test(npy, float32_1d_with_specials) {
    python("rng = np.random.default_rng(1)\n"
           "a = rng.standard_normal(1000).astype('<f4')\n"
           "a[:9] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45,\n"
           "         np.finfo(np.float32).max, np.finfo(np.float32).tiny]\n"
           "save('f4', a)\n");
    expect_loads("f4", 1, (int64_t[]){1000});
}

Test(npy, float64_3d_rounds_like_numpy) {
    /* overflow to inf, underflow to 0 and float32 subnormals, round-half-to-even ties */
    python("v = [0.0, -0.0, 1.0, -2.5, np.pi, 0.1, 1/3, 1e300, -1e300, 1e-300, -1e-300,\n"
           "     2.0**-149, 2.0**-150, 3 * 2.0**-150, 2.0**-126 * 0.75, 1 + 2.0**-24,\n"
           "     1 + 3 * 2.0**-24, float(np.finfo(np.float32).max), 3.4028235677973366e38,\n"
           "     3.402823669e38, np.nan, -np.nan, np.inf, -np.inf]\n"
           "rng = np.random.default_rng(2)\n"
           "v += list(rng.standard_normal(30 - len(v)) * 1e3)\n"
           "save('f8', np.array(v, dtype='<f8').reshape(2, 3, 5))\n");
    expect_loads("f8", 3, (int64_t[]){2, 3, 5});
}

Test(npy, float16_every_bit_pattern) {
    /* all 65536 halves: zeros, subnormals, normals, infinities, NaNs of both signs */
    python("save('f2', np.arange(65536, dtype='<u2').view('<f2').reshape(256, 256))\n");
    expect_loads("f2", 2, (int64_t[]){256, 256});

    /* and a few values checked by hand, the element index being the half's bit pattern */
    vlm_npy a = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(tpath("f2.npy"), &a, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(a.data[0x0000], 0.0f);
    cr_assert(!signbit(a.data[0x0000]));
    cr_assert_eq(a.data[0x8000], 0.0f);
    cr_assert(signbit(a.data[0x8000]), "negative zero lost its sign");
    cr_assert_eq(a.data[0x0001], 0x1p-24f);        /* smallest subnormal */
    cr_assert_eq(a.data[0x8001], -0x1p-24f);
    cr_assert_eq(a.data[0x0200], 0x1p-15f);        /* a subnormal power of two */
    cr_assert_eq(a.data[0x03ff], 1023 * 0x1p-24f); /* largest subnormal */
    cr_assert_eq(a.data[0x0400], 0x1p-14f);        /* smallest normal */
    cr_assert_eq(a.data[0x3c00], 1.0f);
    cr_assert_eq(a.data[0x3555], 0x1.554p-2f);     /* 0.333251953125 */
    cr_assert_eq(a.data[0xc000], -2.0f);
    cr_assert_eq(a.data[0x7bff], 65504.0f);        /* largest finite */
    cr_assert(isinf(a.data[0x7c00]) && a.data[0x7c00] > 0);
    cr_assert(isinf(a.data[0xfc00]) && a.data[0xfc00] < 0);
    cr_assert(isnan(a.data[0x7e00]) && isnan(a.data[0x7c01]) && isnan(a.data[0xfe00]));
    vlm_npy_free(&a);
}

Test(npy, zero_dimensional) {
    python("save('s4', np.array(-1.25, dtype='<f4'))\n"
           "save('s2', np.array(0.333, dtype='<f2'))\n"
           "save('s8', np.array(1e-3, dtype='<f8'))\n");
    expect_loads("s4", 0, NULL);
    expect_loads("s2", 0, NULL);
    expect_loads("s8", 0, NULL);
    vlm_npy a = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(tpath("s4.npy"), &a, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(a.count, 1);
    cr_assert_eq(a.data[0], -1.25f);
    vlm_npy_free(&a);
}

Test(npy, empty_arrays) {
    python("save('e3', np.zeros((3, 0, 2), dtype='<f4'))\n"
           "save('e1', np.zeros((0,), dtype='<f8'))\n"
           "save('e2', np.zeros((0, 5), dtype='<f2'))\n");
    expect_loads("e3", 3, (int64_t[]){3, 0, 2});
    expect_loads("e1", 1, (int64_t[]){0});
    expect_loads("e2", 2, (int64_t[]){0, 5});
}

Test(npy, format_versions_2_and_3) {
    python("rng = np.random.default_rng(3)\n"
           "save('v2f4', rng.standard_normal((4, 5)).astype('<f4'), version=(2, 0))\n"
           "save('v2f2', rng.standard_normal((3, 7)).astype('<f2'), version=(2, 0))\n"
           "save('v2f8', rng.standard_normal((2, 2, 2)), version=(2, 0))\n"
           "save('v3f4', rng.standard_normal(9).astype('<f4'), version=(3, 0))\n"
           "save('v2s', np.array(2.5, dtype='<f4'), version=(2, 0))\n");
    expect_loads("v2f4", 2, (int64_t[]){4, 5});
    expect_loads("v2f2", 2, (int64_t[]){3, 7});
    expect_loads("v2f8", 3, (int64_t[]){2, 2, 2});
    expect_loads("v3f4", 1, (int64_t[]){9});
    expect_loads("v2s", 0, NULL);
}

Test(npy, eight_dims_is_the_limit) {
    python("save('d8', np.arange(16, dtype='<f4').reshape(1, 2, 1, 2, 1, 2, 1, 2))\n"
           "save('d9', np.arange(16, dtype='<f4').reshape(1, 2, 1, 2, 1, 2, 1, 2, 1))\n");
    expect_loads("d8", 8, (int64_t[]){1, 2, 1, 2, 1, 2, 1, 2});
    expect_read_error(tpath("d9.npy"), VLM_ERR_FORMAT, "shape");
}

Test(npy, large_dims_and_non_contiguous_source) {
    /* NumPy writes a C-order copy of a transposed (non-contiguous) view */
    python("a = np.arange(3 * 70000, dtype='<f4').reshape(3, 70000) * 0.25\n"
           "save('big', a)\n"
           "b = np.arange(24, dtype='<f8').reshape(2, 3, 4).transpose(1, 0, 2)\n"
           "save('tr', b)\n");
    expect_loads("big", 2, (int64_t[]){3, 70000});
    expect_loads("tr", 3, (int64_t[]){3, 2, 4});
}

/* ---- bad inputs: the right status, a message naming the file, never a crash -------------- */

Test(npy, missing_file_is_io) {
    expect_read_error(tpath("nope.npy"), VLM_ERR_IO, NULL);
}

Test(npy, bad_magic_and_short_files) {
    const char junk[] = "PK\x03\x04 this is a zip archive, not a numpy file at all .......";
    spit(tpath("zip.npy"), junk, sizeof junk - 1);
    expect_read_error(tpath("zip.npy"), VLM_ERR_FORMAT, "magic");
    spit(tpath("empty.npy"), "", 0);
    expect_read_error(tpath("empty.npy"), VLM_ERR_FORMAT, NULL);
    spit(tpath("three.npy"), "\x93NU", 3);
    expect_read_error(tpath("three.npy"), VLM_ERR_FORMAT, NULL);
    spit(tpath("magic.npy"), "\x93NUMPY", 6);
    expect_read_error(tpath("magic.npy"), VLM_ERR_FORMAT, "truncated");
    spit(tpath("lower.npy"), "\x93numpy\x01\x00\x10\x00{}              \n", 26);
    expect_read_error(tpath("lower.npy"), VLM_ERR_FORMAT, "magic");
}

/* Copies the first keep bytes of NumPy's file src to dst. */
static void truncate_copy(const char *src, const char *dst, size_t keep) {
    size_t len;
    unsigned char *buf = slurp(tpath(src), &len);
    cr_assert(keep < len);
    spit(tpath(dst), buf, keep);
    free(buf);
}

Test(npy, truncated_header) {
    python("save('ok', np.arange(10, dtype='<f4'))\n"
           "save('ok2', np.arange(10, dtype='<f4'), version=(2, 0))\n");
    truncate_copy("ok.npy", "t9.npy", 9);   /* inside the header length */
    truncate_copy("ok.npy", "t30.npy", 30); /* inside the dict */
    truncate_copy("ok.npy", "t127.npy", 127);
    truncate_copy("ok2.npy", "t2_11.npy", 11);
    truncate_copy("ok2.npy", "t2_40.npy", 40);
    expect_read_error(tpath("t9.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("t30.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("t127.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("t2_11.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("t2_40.npy"), VLM_ERR_FORMAT, "truncated");
}

Test(npy, truncated_data) {
    python("save('f4', np.arange(10, dtype='<f4'))\n"
           "save('f2', np.arange(10, dtype='<f2'))\n"
           "save('f8', np.arange(10, dtype='<f8'), version=(2, 0))\n");
    /* NumPy's 1.0 headers are 128 bytes here: check, then cut the data */
    size_t len;
    free(slurp(tpath("f4.npy"), &len));
    cr_assert_eq(len, 128 + 40);
    truncate_copy("f4.npy", "f4_1.npy", len - 1);
    truncate_copy("f4.npy", "f4_0.npy", 128);
    truncate_copy("f2.npy", "f2_1.npy", 128 + 19);
    free(slurp(tpath("f8.npy"), &len));
    truncate_copy("f8.npy", "f8_4.npy", len - 4);
    expect_read_error(tpath("f4_1.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("f4_0.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("f2_1.npy"), VLM_ERR_FORMAT, "truncated");
    expect_read_error(tpath("f8_4.npy"), VLM_ERR_FORMAT, "truncated");
}

Test(npy, fortran_order_is_rejected) {
    python("np.save(f'{d}/fo.npy', np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3)))\n"
           "np.save(f'{d}/fo2.npy', np.arange(24, dtype='<f8').reshape(2, 3, 4).T)\n");
    expect_read_error(tpath("fo.npy"), VLM_ERR_FORMAT, "Fortran");
    expect_read_error(tpath("fo2.npy"), VLM_ERR_FORMAT, "Fortran");
}

Test(npy, other_dtypes_are_rejected) {
    python("for t in ['<i4', '>f4', '>f8', '>f2', '<i8', '|u1', '|b1', '<c8', '<u2']:\n"
           "    np.save(f'{d}/{t[1:]}_{\"be\" if t[0] == \">\" else \"le\"}.npy',\n"
           "            np.arange(6).astype(t))\n");
    expect_read_error(tpath("i4_le.npy"), VLM_ERR_FORMAT, "<i4");
    expect_read_error(tpath("f4_be.npy"), VLM_ERR_FORMAT, ">f4");
    expect_read_error(tpath("f8_be.npy"), VLM_ERR_FORMAT, ">f8");
    expect_read_error(tpath("f2_be.npy"), VLM_ERR_FORMAT, ">f2");
    expect_read_error(tpath("i8_le.npy"), VLM_ERR_FORMAT, "<i8");
    expect_read_error(tpath("u1_le.npy"), VLM_ERR_FORMAT, "|u1");
    expect_read_error(tpath("b1_le.npy"), VLM_ERR_FORMAT, "|b1");
    expect_read_error(tpath("c8_le.npy"), VLM_ERR_FORMAT, "<c8");
    expect_read_error(tpath("u2_le.npy"), VLM_ERR_FORMAT, "<u2");
}

Test(npy, absurd_shapes_never_allocate) {
    /* 4 TB claimed by a 16-byte payload: a format error, not an allocation attempt */
    write_crafted(tpath("huge.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", 16);
    expect_read_error(tpath("huge.npy"), VLM_ERR_FORMAT, "truncated");
    write_crafted(tpath("huge2.npy"), 2,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100), }",
                  64);
    expect_read_error(tpath("huge2.npy"), VLM_ERR_FORMAT, "truncated");
    /* element count overflows int64 */
    write_crafted(tpath("ovf.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (4611686018427387904, 4611686018427387904), }",
                  16);
    expect_read_error(tpath("ovf.npy"), VLM_ERR_FORMAT, "shape");
    write_crafted(tpath("ovf2.npy"), 1,
                  "{'descr': '<f2', 'fortran_order': False, "
                  "'shape': (3037000500, 3037000500, 2), }",
                  16);
    expect_read_error(tpath("ovf2.npy"), VLM_ERR_FORMAT, "shape");
    write_crafted(tpath("range.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (99999999999999999999999999,), }",
                  16);
    expect_read_error(tpath("range.npy"), VLM_ERR_FORMAT, "shape");
    /* a zero dimension makes the rest harmless: no data needed */
    write_crafted(tpath("zero.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1000000000000), }", 0);
    vlm_npy a = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_read_f32(tpath("zero.npy"), &a, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(a.count, 0);
    cr_assert_eq(a.ndim, 2);
    vlm_npy_free(&a);
}

Test(npy, malformed_headers) {
    struct {
        const char *name, *dict;
        int major;
    } bad[] = {
        {"neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 1},
        {"alpha.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 'x'), }", 1},
        {"nocomma.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }", 1},
        {"unclosed.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, ", 1},
        {"list.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", 1},
        {"noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", 1},
        {"nodescr.npy", "{'fortran_order': False, 'shape': (3,), }", 1},
        {"noorder.npy", "{'descr': '<f4', 'shape': (3,), }", 1},
        {"order.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", 1},
        {"struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 1},
        {"version9.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 9},
        {"version0.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 0},
        {"emptydict.npy", "", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_crafted(tpath(bad[i].name), bad[i].major, bad[i].dict, 64);
        expect_read_error(tpath(bad[i].name), VLM_ERR_FORMAT, NULL);
    }
    /* a 2.0 header length of 4 GB */
    unsigned char hdr[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0xff, '{'};
    spit(tpath("hlen.npy"), hdr, sizeof hdr);
    expect_read_error(tpath("hlen.npy"), VLM_ERR_FORMAT, NULL);
}

Test(npy, free_null_is_a_no_op) {
    vlm_npy_free(NULL);
    vlm_npy a = {0};
    vlm_npy_free(&a);
    vlm_npy_free(&a);
}

/* ---- writing: NumPy must load what we write ---------------------------------------------- */

static void write_both(const char *name, int ndim, const int64_t *shape, const float *data,
                       int64_t count) {
    char npy[128], raw[128];
    snprintf(npy, sizeof npy, "%s.npy", name);
    snprintf(raw, sizeof raw, "%s.raw", name);
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_write_f32(tpath(npy), ndim, shape, data, &err), VLM_OK, "%s", err.msg);
    spit(tpath(raw), data, (size_t)count * 4);
}

Test(npy, written_files_load_in_numpy) {
    float s0[] = {7.5f};
    float s1[] = {NAN, INFINITY, -INFINITY, -0.0f, 0x1p-149f, 1.0f / 3, -65504.0f, 3e38f};
    float s3[24], s8[16], big[3 * 1000];
    for (int i = 0; i < 24; i++)
        s3[i] = 0.5f * (float)i - 3.0f;
    for (int i = 0; i < 16; i++)
        s8[i] = (float)(i * i) / 7.0f;
    uint32_t x = 12345; /* xorshift32: arbitrary bit patterns, NaN payloads included */
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        memcpy(&big[i], &x, 4);
    }
    write_both("w0", 0, NULL, s0, 1);
    write_both("w1", 1, (int64_t[]){8}, s1, 8);
    write_both("w3", 3, (int64_t[]){2, 3, 4}, s3, 24);
    write_both("we", 2, (int64_t[]){0, 3}, s3, 0);
    write_both("w8", 8, (int64_t[]){1, 2, 1, 2, 1, 2, 1, 2}, s8, 16);
    write_both("wbig", 2, (int64_t[]){1000, 3}, big, 3000);
    python("shapes = {'w0': (), 'w1': (8,), 'w3': (2, 3, 4), 'we': (0, 3),\n"
           "          'w8': (1, 2, 1, 2, 1, 2, 1, 2), 'wbig': (1000, 3)}\n"
           "for name, shape in shapes.items():\n"
           "    path = f'{d}/{name}.npy'\n"
           "    with open(path, 'rb') as f:\n"
           "        assert np.lib.format.read_magic(f) == (1, 0), name\n"
           "        hshape, fortran, dtype = np.lib.format.read_array_header_1_0(f)\n"
           "        assert f.tell() % 64 == 0, (name, f.tell())\n"
           "    assert hshape == shape and not fortran and dtype == np.dtype('<f4'), name\n"
           "    a = np.load(path, allow_pickle=False)\n"
           "    assert a.shape == shape and a.dtype == np.dtype('<f4'), (name, a.shape)\n"
           "    want = np.fromfile(f'{d}/{name}.raw', dtype='<u4').reshape(shape)\n"
           "    assert np.array_equal(a.view('<u4'), want), name\n");
}

Test(npy, write_read_round_trip_is_bit_exact) {
    float v[60];
    uint32_t x = 777;
    for (int i = 0; i < 60; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        memcpy(&v[i], &x, 4);
    }
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_write_f32(tpath("rt.npy"), 3, (int64_t[]){3, 4, 5}, v, &err), VLM_OK,
                 "%s", err.msg);
    vlm_npy a = {0};
    cr_assert_eq(vlm_npy_read_f32(tpath("rt.npy"), &a, &err), VLM_OK, "%s", err.msg);
    expect_shape(&a, 3, (int64_t[]){3, 4, 5});
    cr_assert_eq(memcmp(a.data, v, sizeof v), 0);
    vlm_npy_free(&a);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

Test(npy, write_replaces_and_leaves_no_temporary) {
    float a[] = {1, 2, 3}, b[] = {4, 5};
    vlm_error err = {0};
    cr_assert_eq(vlm_npy_write_f32(tpath("x.npy"), 1, (int64_t[]){3}, a, &err), VLM_OK);
    cr_assert_eq(vlm_npy_write_f32(tpath("x.npy"), 1, (int64_t[]){2}, b, &err), VLM_OK);
    cr_assert_eq(count_entries(g_dir), 1);
    vlm_npy r = {0};
    cr_assert_eq(vlm_npy_read_f32(tpath("x.npy"), &r, &err), VLM_OK, "%s", err.msg);
    expect_shape(&r, 1, (int64_t[]){2});
    cr_assert(r.data[0] == 4 && r.data[1] == 5);
    vlm_npy_free(&r);
}

Test(npy, write_errors) {
    float v[] = {1, 2, 3, 4};
    vlm_error err = {0};
    /* a directory that does not exist */
    const char *p = tpath("no/such/dir/x.npy");
    cr_assert_eq(vlm_npy_write_f32(p, 1, (int64_t[]){4}, v, &err), VLM_ERR_IO);
    cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
    cr_assert_eq(count_entries(g_dir), 0);
    /* the target is a directory: it stays one, and no temporary is left beside it */
    cr_assert_eq(mkdir(tpath("d.npy"), 0755), 0);
    cr_assert_eq(vlm_npy_write_f32(tpath("d.npy"), 1, (int64_t[]){4}, v, &err), VLM_ERR_IO);
    cr_assert_not_null(strstr(err.msg, tpath("d.npy")), "%s", err.msg);
    struct stat sb;
    cr_assert(stat(tpath("d.npy"), &sb) == 0 && S_ISDIR(sb.st_mode));
    cr_assert_eq(count_entries(g_dir), 1);
    cr_assert_eq(count_entries(tpath("d.npy")), 0);
    /* bad dimensions are the caller's error */
    cr_assert_eq(vlm_npy_write_f32(tpath("x.npy"), 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 4}, v,
                                   &err),
                 VLM_ERR_INVALID);
    cr_assert_not_null(strstr(err.msg, tpath("x.npy")), "%s", err.msg);
    cr_assert_eq(vlm_npy_write_f32(tpath("x.npy"), -1, NULL, v, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_npy_write_f32(tpath("x.npy"), 2, (int64_t[]){2, -2}, v, &err),
                 VLM_ERR_INVALID);
    cr_assert_eq(count_entries(g_dir), 1);
    /* a NULL error is allowed */
    cr_assert_eq(vlm_npy_write_f32(tpath("x.npy"), -1, NULL, v, NULL), VLM_ERR_INVALID);
}
