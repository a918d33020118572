/* safetensors reader. Golden checkpoints and expected values come from Debian's PyTorch
 * (/usr/bin/python3, torch 1.13, which has no safetensors package): the small Python writer
 * below lays out the format from its specification, and torch does every dtype conversion.
 * The files are generated once per run (PRE_ALL hook) into a temporary directory whose path
 * reaches the test processes through the environment; bad files are written by the tests. */
#include "engine/engine.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOLDEN_ENV "VLM_TEST_SAFETENSORS_DIR"

/* argv[1]: output directory. Writes NAME.safetensors, NAME.expect.json (header order: name,
 * dtype, shape, data_offsets, f32_at = float index into NAME.f32 or -1), NAME.data (the data
 * area) and NAME.f32 (torch's float32 conversion of every float tensor), the conversion
 * tables, and finally "done". */
static const char GOLDEN_PY[] =
    "import json, random, struct, sys\n"
    "import numpy as np, torch\n"
    "out = sys.argv[1]\n"
    "CODES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',\n"
    "         torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8',\n"
    "         torch.bool: 'BOOL'}\n"
    "def raw(t):\n"
    "    t = t.contiguous()\n"
    "    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()\n"
    "def write(name, tensors, metadata=None, pad=True):\n"
    "    hdr, expect, blobs, f32, off = {}, [], [], [], 0\n"
    "    if metadata is not None: hdr['__metadata__'] = metadata\n"
    "    for key, t in tensors:\n"
    "        b = raw(t)\n"
    "        e = hdr[key] = {'dtype': CODES[t.dtype], 'shape': list(t.shape),\n"
    "                        'data_offsets': [off, off + len(b)]}\n"
    "        expect.append(dict(e, name=key, f32_at=-1))\n"
    "        if t.is_floating_point():\n"
    "            expect[-1]['f32_at'] = sum(x.numel() for x in f32)\n"
    "            f32.append(t.to(torch.float32).reshape(-1))\n"
    "        blobs.append(b); off += len(b)\n"
    "    h = json.dumps(hdr).encode()\n"
    "    if pad: h += b' ' * (-len(h) % 8)\n"
    "    data = b''.join(blobs)\n"
    "    open(f'{out}/{name}.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + data)\n"
    "    open(f'{out}/{name}.data', 'wb').write(data)\n"
    "    open(f'{out}/{name}.f32', 'wb').write(raw(torch.cat(f32)) if f32 else b'')\n"
    "    json.dump(expect, open(f'{out}/{name}.expect.json', 'w'))\n"
    "torch.manual_seed(0)\n"
    "inf, nan = float('inf'), float('nan')\n"
    "T = torch.tensor\n"
    "write('all_dtypes', [\n"
    "    ('zeta.f32', torch.randn(3, 4)),\n"
    "    ('f32.special', T([0.0, -0.0, 1.0, -1.0, 3.4028234663852886e38, inf, -inf, nan,\n"
    "                       1e-45, 1.1754943508222875e-38])),\n"
    "    ('f16.rand', torch.randn(2, 3, 4).half()),\n"
    "    ('f16.special', T([65504.0, -65504.0, 2**-24, -2**-24, 1023 * 2**-24, 2**-14, inf,\n"
    "                       -inf, nan, -0.0, 0.1], dtype=torch.float16)),\n"
    "    ('bf16.rand', torch.randn(5, 7).bfloat16()),\n"
    "    ('bf16.special', T([3.3895313892515355e38, 1e-40, -1e-40, inf, -inf, nan, -0.0,\n"
    "                        1 / 3], dtype=torch.bfloat16)),\n"
    "    ('alpha.f64', torch.randn(4, dtype=torch.float64)),\n"
    "    ('f64.special', T([1 / 3, 1e300, -1e300, 1e-310, nan, 2.0**-149, 1 + 2**-24,\n"
    "                       1 + 3 * 2**-24, -0.0], dtype=torch.float64)),\n"
    "    ('bn.num_batches_tracked', T([0, -1, 2**62, -2**63, 2**63 - 1], dtype=torch.int64)),\n"
    "    ('i32', T([[7, -7], [2**31 - 1, -2**31]], dtype=torch.int32)),\n"
    "    ('u8', torch.arange(0, 256, 17, dtype=torch.uint8)),\n"
    "    ('mask', T([True, False, True])),\n"
    "    ('scalar', T(2.5)),\n"
    "    ('empty', torch.zeros(0)),\n"
    "    ('empty.f16', torch.zeros(3, 0, 2, dtype=torch.float16)),\n"
    "], metadata={'format': 'pt', 'source': 'vlmbench test'})\n"
    "write('misaligned', [('u8', T([1, 2, 3], dtype=torch.uint8)),\n"
    "    ('f32', torch.randn(5)), ('f16', torch.randn(3).half()),\n"
    "    ('f64', torch.randn(2, dtype=torch.float64)), ('u8b', T([9, 8], dtype=torch.uint8)),\n"
    "    ('bf16', torch.randn(3).bfloat16()), ('i64', T([-5], dtype=torch.int64))])\n"
    "order = list(range(1000)); random.Random(0).shuffle(order)\n"
    "write('many', [(f'blocks.{i}.weight', torch.full((i % 5 + 1,), float(i))) for i in order],\n"
    "      pad=False)\n"
    "write('metadata_only', [], metadata={'format': 'pt'})\n"
    "write('empty_header', [])\n"
    "bits = np.arange(65536, dtype=np.uint16).view(np.int16)\n"
    "for dt, name in ((torch.float16, 'f16_all'), (torch.bfloat16, 'bf16_all')):\n"
    "    open(f'{out}/{name}.f32', 'wb').write(raw(torch.from_numpy(bits).view(dt).float()))\n"
    "special = [0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7F7FFFFF, 0x7F7F7FFF,\n"
    "           0x7F7F8000, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,\n"
    "           0x7F800001, 0x00000001, 0x00008000, 0x00018000, 0x80000000, 0x00000000]\n"
    "rnd = np.random.default_rng(0).integers(0, 2**32, 100000, dtype=np.uint32)\n"
    "f32 = np.concatenate([np.array(special, dtype=np.uint32), rnd])\n"
    "open(f'{out}/f32_to_bf16.in', 'wb').write(f32.tobytes())\n"
    "bf = torch.from_numpy(f32.view(np.int32)).view(torch.float32).to(torch.bfloat16)\n"
    "open(f'{out}/f32_to_bf16.out', 'wb').write(raw(bf))\n"
    "open(f'{out}/done', 'w').write('ok')\n";

/* ---- golden files ------------------------------------------------------------------------ */

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    static char dir[] = "/tmp/vlm_test_safetensors_XXXXXX";
    if (!mkdtemp(dir))
        return; /* golden_path() fails every test that needs the files */
    setenv(GOLDEN_ENV, dir, 1);
    char *argv[] = {VLM_PYTHON, "-c", (char *)GOLDEN_PY, dir, NULL};
    vlm_run r = vlm_test_run(argv);
    char err_path[256];
    snprintf(err_path, sizeof err_path, "%s/python.err", dir);
    FILE *f = fopen(err_path, "w");
    if (f) {
        fprintf(f, "exit %d\n%s", r.exit_code, r.err);
        fclose(f);
    }
    vlm_run_free(&r);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    const char *dir = getenv(GOLDEN_ENV);
    if (dir && !strncmp(dir, "/tmp/vlm_test_safetensors_", 26)) {
        char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
        vlm_run r = vlm_test_run(argv);
        vlm_run_free(&r);
    }
}

static char *slurp_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

/* dir/name inside the golden directory (which also holds the tests' own bad files). The
 * returned path is static: one live path per test at a time is enough. */
static const char *work_path(const char *name) {
    static char path[512];
    const char *dir = getenv(GOLDEN_ENV);
    cr_assert_not_null(dir, "PRE_ALL hook did not create a directory");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Path of a golden file; fails the test with Python's stderr when generation failed. */
static const char *golden_path(const char *name) {
    struct stat sb;
    if (stat(work_path("done"), &sb) != 0) {
        char *log = slurp_file(work_path("python.err"), NULL);
        cr_assert_fail("golden files were not generated by %s: %s", VLM_PYTHON,
                       log ? log : "(no log)");
    }
    return work_path(name);
}

static void *golden_bytes(const char *name, size_t *len) {
    char *buf = slurp_file(golden_path(name), len);
    cr_assert_not_null(buf, "cannot read golden file %s", name);
    return buf;
}

static vlm_weights *open_ok(const char *path) {
    vlm_weights *w = NULL;
    vlm_error err = {0};
    vlm_status st = vlm_weights_open(path, &w, &err);
    cr_assert_eq(st, VLM_OK, "%s", err.msg);
    cr_assert_not_null(w);
    return w;
}

/* Writes a file: 8-byte little-endian hlen, the header text, then data_bytes bytes 0..255. */
static const char *write_with_len(const char *name, uint64_t hlen, const char *header,
                                  size_t data_bytes) {
    const char *path = work_path(name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_bytes; i++)
        fputc((int)(i & 0xff), f);
    fclose(f);
    return path;
}

static const char *write_st(const char *name, const char *header, size_t data_bytes) {
    return write_with_len(name, strlen(header), header, data_bytes);
}

/* Asserts that opening path fails with status and a message naming the file and every
 * needle (NULL-terminated). */
static void expect_open_fails(const char *path, vlm_status status, ...) {
    vlm_weights *w = (vlm_weights *)&w; /* must be reset to NULL */
    vlm_error err = {0};
    vlm_status st = vlm_weights_open(path, &w, &err);
    cr_assert_eq(st, status, "status %s, want %s: %s", vlm_status_name(st), vlm_status_name(status),
                 err.msg);
    cr_assert_eq(err.status, status);
    cr_assert_null(w);
    cr_assert_not_null(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    va_list ap;
    va_start(ap, status);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        cr_assert_not_null(strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
    va_end(ap);
}

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* ---- valid files ------------------------------------------------------------------------- */

/* Every tensor in header order: dtype, shape, count, nbytes and the raw bytes match what torch
 * wrote; every float tensor converts to exactly torch's float32 values. */
static void check_against_expect(const char *name) {
    char file[128];
    snprintf(file, sizeof file, "%s.safetensors", name);
    vlm_weights *w = open_ok(golden_path(file));
    snprintf(file, sizeof file, "%s.expect.json", name);
    json_error_t jerr;
    json_t *expect = json_load_file(golden_path(file), 0, &jerr);
    cr_assert_not_null(expect, "%s", jerr.text);
    snprintf(file, sizeof file, "%s.data", name);
    unsigned char *data = golden_bytes(file, NULL);
    snprintf(file, sizeof file, "%s.f32", name);
    size_t f32_bytes;
    unsigned char *f32 = golden_bytes(file, &f32_bytes);

    cr_assert_eq(vlm_weights_count(w), (int)json_array_size(expect));
    size_t i;
    json_t *e;
    json_array_foreach(expect, i, e) {
        const vlm_tensor_view *t = vlm_weights_at(w, (int)i);
        const char *tname = json_string_value(json_object_get(e, "name"));
        cr_assert_str_eq(t->name, tname, "header order differs at %zu", i);
        cr_assert_eq(vlm_weights_find(w, tname), t);
        cr_assert_str_eq(vlm_st_dtype_name(t->dtype),
                         json_string_value(json_object_get(e, "dtype")));
        json_t *shape = json_object_get(e, "shape");
        cr_assert_eq(t->ndim, (int)json_array_size(shape), "%s", tname);
        int64_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            cr_assert_eq(t->shape[d], json_integer_value(json_array_get(shape, (size_t)d)));
            count *= t->shape[d];
        }
        cr_assert_eq(t->count, count, "%s", tname);
        json_t *off = json_object_get(e, "data_offsets");
        int64_t begin = json_integer_value(json_array_get(off, 0));
        int64_t end = json_integer_value(json_array_get(off, 1));
        cr_assert_eq(t->nbytes, (size_t)(end - begin), "%s", tname);
        cr_assert_eq(t->nbytes, (size_t)count * vlm_st_dtype_size(t->dtype), "%s", tname);
        cr_assert_eq(memcmp(t->data, data + begin, t->nbytes), 0, "%s: bytes differ", tname);

        json_int_t at = json_integer_value(json_object_get(e, "f32_at"));
        float *got = malloc(((size_t)count + 1) * sizeof *got);
        vlm_error err = {0};
        vlm_status st = vlm_weights_read_f32(w, tname, t->ndim, t->shape, got, &err);
        if (at < 0) {
            cr_assert_eq(st, VLM_ERR_FORMAT, "%s is %s", tname, vlm_st_dtype_name(t->dtype));
        } else {
            cr_assert_eq(st, VLM_OK, "%s", err.msg);
            cr_assert_leq(((size_t)at + (size_t)count) * 4, f32_bytes);
            for (int64_t k = 0; k < count; k++) {
                float want;
                memcpy(&want, f32 + ((size_t)at + (size_t)k) * 4, 4);
                if (isnan(want))
                    cr_assert(isnan(got[k]), "%s[%lld]: %a is not NaN", tname, (long long)k,
                              (double)got[k]);
                else
                    cr_assert_eq(f32_bits(got[k]), f32_bits(want), "%s[%lld]: %a, torch %a", tname,
                                 (long long)k, (double)got[k], (double)want);
            }
        }
        free(got);
    }
    json_decref(expect);
    free(data);
    free(f32);
    vlm_weights_close(w);
}

Test(safetensors, all_dtypes_match_torch_exactly) {
    check_against_expect("all_dtypes");
}

Test(safetensors, misaligned_data_offsets) {
    check_against_expect("misaligned");
    vlm_weights *w = open_ok(golden_path("misaligned.safetensors"));
    int odd = 0;
    for (int i = 0; i < vlm_weights_count(w); i++) {
        const vlm_tensor_view *t = vlm_weights_at(w, i);
        size_t align = vlm_st_dtype_size(t->dtype);
        odd += align > 1 && (uintptr_t)t->data % align != 0;
    }
    /* the header is padded to 8 bytes, so the odd offsets alone misalign the data */
    cr_assert_eq(odd, 5, "the fixture should misalign the f32/f16/f64/bf16/i64 tensors");
    vlm_weights_close(w);
}

Test(safetensors, header_order_is_kept_and_names_are_found) {
    vlm_weights *w = open_ok(golden_path("all_dtypes.safetensors"));
    cr_assert_str_eq(vlm_weights_path(w), golden_path("all_dtypes.safetensors"));
    cr_assert_eq(vlm_weights_count(w), 15); /* __metadata__ is not a tensor */
    cr_assert_str_eq(vlm_weights_at(w, 0)->name, "zeta.f32");
    cr_assert_str_eq(vlm_weights_at(w, 6)->name, "alpha.f64");
    cr_assert_str_eq(vlm_weights_at(w, 14)->name, "empty.f16");
    cr_assert_null(vlm_weights_at(w, 15));
    cr_assert_null(vlm_weights_at(w, -1));
    cr_assert_null(vlm_weights_find(w, "__metadata__"));
    cr_assert_null(vlm_weights_find(w, "zeta"));
    cr_assert_null(vlm_weights_find(w, ""));
    cr_assert_null(vlm_weights_find(w, "zeta.f32x"));
    vlm_weights_close(w);
}

Test(safetensors, lookup_of_every_tensor_among_1000) {
    vlm_weights *w = open_ok(golden_path("many.safetensors"));
    cr_assert_eq(vlm_weights_count(w), 1000);
    /* the header is shuffled: position 0 is not blocks.0 */
    cr_assert_str_neq(vlm_weights_at(w, 0)->name, "blocks.0.weight");
    for (int i = 0; i < 1000; i++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.weight", i);
        const vlm_tensor_view *t = vlm_weights_find(w, name);
        cr_assert_not_null(t, "%s", name);
        cr_assert_str_eq(t->name, name);
        cr_assert_eq(t->ndim, 1);
        cr_assert_eq(t->shape[0], i % 5 + 1);
        float v[5];
        vlm_error err = {0};
        cr_assert_eq(vlm_weights_read_f32(w, name, 1, t->shape, v, &err), VLM_OK, "%s", err.msg);
        for (int k = 0; k < i % 5 + 1; k++)
            cr_assert_eq(v[k], (float)i, "%s[%d] = %g", name, k, (double)v[k]);
    }
    check_against_expect("many");
    vlm_weights_close(w);
}

Test(safetensors, zero_size_and_scalar) {
    vlm_weights *w = open_ok(golden_path("all_dtypes.safetensors"));
    const vlm_tensor_view *s = vlm_weights_find(w, "scalar");
    cr_assert_eq(s->ndim, 0);
    cr_assert_eq(s->count, 1);
    cr_assert_eq(s->nbytes, 4);
    float x = 0;
    vlm_error err = {0};
    cr_assert_eq(vlm_weights_read_f32(w, "scalar", 0, NULL, &x, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(x, 2.5f);

    const vlm_tensor_view *e = vlm_weights_find(w, "empty");
    cr_assert_eq(e->ndim, 1);
    cr_assert_eq(e->shape[0], 0);
    cr_assert_eq(e->count, 0);
    cr_assert_eq(e->nbytes, 0);
    cr_assert_eq(vlm_weights_read_f32(w, "empty", 1, (int64_t[]){0}, NULL, &err), VLM_OK, "%s",
                 err.msg);
    const vlm_tensor_view *e3 = vlm_weights_find(w, "empty.f16");
    cr_assert_eq(e3->ndim, 3);
    cr_assert_eq(e3->count, 0);
    vlm_weights_close(w);
}

Test(safetensors, metadata) {
    vlm_weights *w = open_ok(golden_path("metadata_only.safetensors"));
    cr_assert_eq(vlm_weights_count(w), 0);
    cr_assert_null(vlm_weights_find(w, "format"));
    cr_assert_null(vlm_weights_at(w, 0));
    vlm_weights_close(w);
    w = open_ok(golden_path("empty_header.safetensors")); /* "{}" plus padding */
    cr_assert_eq(vlm_weights_count(w), 0);
    vlm_weights_close(w);

    expect_open_fails(write_st("meta_number.st", "{\"__metadata__\": {\"epoch\": 3}}", 0),
                      VLM_ERR_FORMAT, "__metadata__", "'epoch'", "integer", NULL);
    expect_open_fails(write_st("meta_array.st", "{\"__metadata__\": [\"a\"]}", 0), VLM_ERR_FORMAT,
                      "__metadata__", "an array", NULL);
}

/* ---- scalar conversions ------------------------------------------------------------------ */

static void check_table(const char *name, float (*convert)(uint16_t)) {
    size_t len;
    unsigned char *want = golden_bytes(name, &len);
    cr_assert_eq(len, 65536 * 4);
    for (uint32_t h = 0; h < 65536; h++) {
        float w, got = convert((uint16_t)h);
        memcpy(&w, want + 4 * h, 4);
        if (isnan(w))
            cr_assert(isnan(got), "%s 0x%04x: %a is not NaN", name, h, (double)got);
        else
            cr_assert_eq(f32_bits(got), f32_bits(w), "%s 0x%04x: %a, torch %a", name, h,
                         (double)got, (double)w);
    }
    free(want);
}

Test(safetensors, f16_to_f32_all_65536_patterns_match_torch) {
    check_table("f16_all.f32", vlm_f16_to_f32);
}

Test(safetensors, bf16_to_f32_all_65536_patterns_match_torch) {
    check_table("bf16_all.f32", vlm_bf16_to_f32);
}

Test(safetensors, f32_to_bf16_rounds_like_torch) {
    size_t in_len, out_len;
    unsigned char *in = golden_bytes("f32_to_bf16.in", &in_len);
    unsigned char *out = golden_bytes("f32_to_bf16.out", &out_len);
    cr_assert_eq(in_len, 2 * out_len);
    size_t nan_cases = 0;
    for (size_t i = 0; i < out_len / 2; i++) {
        uint32_t bits;
        uint16_t want;
        memcpy(&bits, in + 4 * i, 4);
        memcpy(&want, out + 2 * i, 2);
        float x;
        memcpy(&x, &bits, 4);
        uint16_t got = vlm_f32_to_bf16(x);
        if (isnan(x)) { /* torch's scalar and vector paths pick different NaN patterns */
            cr_assert(isnan(vlm_bf16_to_f32(got)), "0x%08x -> 0x%04x is not NaN", bits, got);
            cr_assert(isnan(vlm_bf16_to_f32(want)));
            nan_cases++;
        } else {
            cr_assert_eq(got, want, "0x%08x (%a): 0x%04x, torch 0x%04x", bits, (double)x, got,
                         want);
        }
    }
    cr_assert_geq(nan_cases, 4);
    free(in);
    free(out);
}

Test(safetensors, f32_to_bf16_ties_to_even_nan_inf_max) {
    const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3F808000, 0x3F80}, /* tie, even below: down */
        {0x3F818000, 0x3F82}, /* tie, odd below: up */
        {0x3F808001, 0x3F81}, /* above the tie: up */
        {0x3F807FFF, 0x3F80}, /* below the tie: down */
        {0x7F7FFFFF, 0x7F80}, /* FLT_MAX rounds to +inf */
        {0x7F7F7FFF, 0x7F7F}, /* largest value that stays finite */
        {0xFF7FFFFF, 0xFF80}, /* -FLT_MAX -> -inf */
        {0x7F800000, 0x7F80}, /* +inf */
        {0xFF800000, 0xFF80}, /* -inf */
        {0x80000000, 0x8000}, /* -0 */
        {0x00008000, 0x0000}, /* subnormal tie to even zero */
        {0x00018000, 0x0002}, /* subnormal tie to even up */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x;
        memcpy(&x, &cases[i].in, 4);
        cr_assert_eq(vlm_f32_to_bf16(x), cases[i].out, "0x%08x", cases[i].in);
    }
    /* a NaN whose payload sits only in the low 16 bits must not become inf */
    const uint32_t nans[] = {0x7F800001, 0xFF800001, 0x7FC00000, 0xFFFFFFFF};
    for (size_t i = 0; i < 4; i++) {
        float x;
        memcpy(&x, &nans[i], 4);
        cr_assert(isnan(vlm_bf16_to_f32(vlm_f32_to_bf16(x))), "0x%08x", nans[i]);
    }
}

Test(safetensors, dtype_sizes_and_names) {
    const char *names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL"};
    const size_t sizes[] = {4, 2, 2, 8, 8, 4, 1, 1};
    const vlm_st_dtype dts[] = {VLM_ST_F32, VLM_ST_F16, VLM_ST_BF16, VLM_ST_F64,
                                VLM_ST_I64, VLM_ST_I32, VLM_ST_U8,   VLM_ST_BOOL};
    for (int i = 0; i < 8; i++) {
        cr_assert_str_eq(vlm_st_dtype_name(dts[i]), names[i]);
        cr_assert_eq(vlm_st_dtype_size(dts[i]), sizes[i]);
    }
}

/* ---- read_f32 errors --------------------------------------------------------------------- */

/* This process's resident set in KiB (VmRSS). */
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    cr_assert_geq(kib, 0);
    return kib;
}

/* A model build reads each tensor once into its own buffer; the file's pages must not stay
 * resident beside it (they did: a float32 model was held twice during the build). A second
 * read of the same tensor (a tied embedding) still gets the same values. */
Test(safetensors, a_tensor_read_leaves_no_file_pages_resident) {
    enum { N = 8 << 20 }; /* 32 MiB of float32 */
    char header[128];
    int len = snprintf(header, sizeof header,
                       "{\"big\": {\"dtype\": \"F32\", \"shape\": [%d], \"data_offsets\": [0, %d]}}",
                       N, 4 * N);
    while (len % 8)
        header[len++] = ' ';
    header[len] = 0;
    vlm_weights *w = open_ok(write_st("big.st", header, (size_t)4 * N));
    float *a = malloc((size_t)N * sizeof *a), *b = malloc((size_t)N * sizeof *b);
    cr_assert(a && b);
    memset(a, 0, (size_t)N * sizeof *a);
    memset(b, 0, (size_t)N * sizeof *b);
    vlm_error err = {0};
    long before = rss_kib();
    cr_assert_eq(vlm_weights_read_f32(w, "big", 1, (int64_t[]){N}, a, &err), VLM_OK, "%s", err.msg);
    long grown = rss_kib() - before;
    cr_expect_lt(grown, 4096, "reading 32 MiB left %ld KiB more resident", grown);
    cr_assert_eq(vlm_weights_read_f32(w, "big", 1, (int64_t[]){N}, b, &err), VLM_OK, "%s", err.msg);
    cr_expect_eq(memcmp(a, b, (size_t)N * sizeof *a), 0, "the second read differs");
    unsigned char first[8], last[4];
    memcpy(first, a, 8);
    memcpy(last, a + N - 1, 4);
    for (int i = 0; i < 8; i++) /* the data bytes are 0, 1, ..., 255, 0, ... */
        cr_expect_eq(first[i], i);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(last[i], (4 * N - 4 + i) & 0xff);
    free(a);
    free(b);
    vlm_weights_close(w);
}

Test(safetensors, read_f32_missing_tensor) {
    const char *path = golden_path("all_dtypes.safetensors");
    vlm_weights *w = open_ok(path);
    float dst[6];
    vlm_error err = {0};
    cr_assert_eq(vlm_weights_read_f32(w, "head.weight", 2, (int64_t[]){2, 3}, dst, &err),
                 VLM_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s: missing tensor 'head.weight' (expected shape [2, 3])", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(err.status, VLM_ERR_FORMAT);
    vlm_weights_close(w);
}

Test(safetensors, read_f32_wrong_shape) {
    const char *path = golden_path("all_dtypes.safetensors");
    vlm_weights *w = open_ok(path);
    float dst[12];
    vlm_error err = {0};
    char want[600];
    cr_assert_eq(vlm_weights_read_f32(w, "zeta.f32", 2, (int64_t[]){4, 3}, dst, &err),
                 VLM_ERR_FORMAT);
    snprintf(want, sizeof want,
             "%s: tensor 'zeta.f32' has shape [3, 4] but the model expects [4, 3]", path);
    cr_assert_str_eq(err.msg, want);
    /* same count, different rank */
    cr_assert_eq(vlm_weights_read_f32(w, "zeta.f32", 1, (int64_t[]){12}, dst, &err),
                 VLM_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: tensor 'zeta.f32' has shape [3, 4] but the model expects [12]",
             path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(vlm_weights_read_f32(w, "scalar", 1, (int64_t[]){1}, dst, &err), VLM_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "has shape [] but the model expects [1]"), "%s", err.msg);
    vlm_weights_close(w);
}

Test(safetensors, read_f32_of_integer_tensor) {
    const char *path = golden_path("all_dtypes.safetensors");
    vlm_weights *w = open_ok(path);
    int64_t dst64[5];
    vlm_error err = {0};
    cr_assert_eq(
        vlm_weights_read_f32(w, "bn.num_batches_tracked", 1, (int64_t[]){5}, (float *)dst64, &err),
        VLM_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "'bn.num_batches_tracked' is I64"), "%s", err.msg);
    /* the raw view still works */
    const vlm_tensor_view *t = vlm_weights_find(w, "bn.num_batches_tracked");
    memcpy(dst64, t->data, sizeof dst64);
    cr_assert_eq(dst64[2], INT64_C(1) << 62);
    cr_assert_eq(dst64[3], INT64_MIN);
    float b[3];
    cr_assert_eq(vlm_weights_read_f32(w, "mask", 1, (int64_t[]){3}, b, &err), VLM_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "'mask' is BOOL"), "%s", err.msg);
    vlm_weights_close(w);
}

/* ---- bad files --------------------------------------------------------------------------- */

Test(safetensors, missing_file_directory_and_empty_file) {
    expect_open_fails(work_path("does_not_exist.safetensors"), VLM_ERR_IO,
                      "No such file or directory", NULL);
    const char *dir = getenv(GOLDEN_ENV);
    expect_open_fails(dir, VLM_ERR_IO, "Is a directory", NULL);
    expect_open_fails(write_st("empty.st", "", 0) /* 8 zero bytes: length 0 */, VLM_ERR_FORMAT,
                      "header length is 0", NULL);
    const char *empty = work_path("really_empty.st");
    fclose(fopen(empty, "wb"));
    expect_open_fails(empty, VLM_ERR_FORMAT, "file is 0 bytes", NULL);
    const char *short5 = work_path("short.st");
    FILE *f = fopen(short5, "wb");
    fwrite("\x02\0\0\0\0", 1, 5, f);
    fclose(f);
    expect_open_fails(short5, VLM_ERR_FORMAT, "file is 5 bytes", "8-byte header length", NULL);
}

Test(safetensors, truncated_data_area) {
    size_t len;
    char *bytes = golden_bytes("all_dtypes.safetensors", &len);
    const char *path = work_path("truncated.st");
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, len - 3, f);
    fclose(f);
    free(bytes);
    /* the last tensor with bytes is 'scalar' (the two empty ones end at the same offset) */
    expect_open_fails(path, VLM_ERR_FORMAT, "tensor 'scalar'", "end beyond the data area",
                      "truncated", NULL);
}

Test(safetensors, header_length_beyond_file) {
    expect_open_fails(write_with_len("hlen_past.st", 4096, "{}", 16), VLM_ERR_FORMAT,
                      "header length 4096 runs past the end of the file (18 bytes", NULL);
    expect_open_fails(write_with_len("hlen_max.st", UINT64_MAX, "{}", 0), VLM_ERR_FORMAT,
                      "header length 18446744073709551615 runs past the end", NULL);
}

Test(safetensors, header_length_zero) {
    expect_open_fails(write_with_len("hlen_zero.st", 0, "{}", 8), VLM_ERR_FORMAT,
                      "header length is 0", NULL);
}

Test(safetensors, header_length_over_100_megabytes) {
    /* a sparse file, so the header length fits inside it and only the limit is wrong */
    const char *path = write_with_len("hlen_huge.st", 100000001, "{}", 0);
    cr_assert_eq(truncate(path, 8 + 100000001 + 8), 0);
    expect_open_fails(path, VLM_ERR_FORMAT, "header length 100000001 exceeds the limit", NULL);
}

Test(safetensors, header_not_json) {
    expect_open_fails(write_st("not_json.st", "{\"a\": ", 0), VLM_ERR_FORMAT,
                      "header is not valid JSON", NULL);
    expect_open_fails(write_st("garbage.st", "{} x", 0), VLM_ERR_FORMAT, "header is not valid JSON",
                      "end of file expected", NULL);
    expect_open_fails(write_st("dup.st",
                               "{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": "
                               "[0, 1]}, \"a\": {\"dtype\": \"U8\", \"shape\": [1], "
                               "\"data_offsets\": [1, 2]}}",
                               2),
                      VLM_ERR_FORMAT, "header is not valid JSON", "duplicate", NULL);
    expect_open_fails(write_st("string.st", "\"weights\"", 0), VLM_ERR_FORMAT,
                      "header is not valid JSON", NULL);
    /* the header length cuts the JSON short although the file goes on */
    expect_open_fails(write_with_len("cut.st", 3, "{\"a\": 1}", 0), VLM_ERR_FORMAT,
                      "header is not valid JSON", NULL);
}

Test(safetensors, header_is_json_array) {
    expect_open_fails(write_st("array.st", "[{\"dtype\": \"F32\"}]", 0), VLM_ERR_FORMAT,
                      "header is an array, expected a JSON object", NULL);
}

Test(safetensors, unknown_dtype) {
    expect_open_fails(write_st("f8.st",
                               "{\"w\": {\"dtype\": \"F8\", \"shape\": [2], "
                               "\"data_offsets\": [0, 2]}}",
                               2),
                      VLM_ERR_FORMAT, "tensor 'w'", "unknown dtype 'F8'", NULL);
    expect_open_fails(write_st("dtype_num.st",
                               "{\"w\": {\"dtype\": 4, \"shape\": [1], "
                               "\"data_offsets\": [0, 4]}}",
                               4),
                      VLM_ERR_FORMAT, "tensor 'w'", "dtype is an integer", NULL);
}

Test(safetensors, negative_dim) {
    expect_open_fails(write_st("neg.st",
                               "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -3], "
                               "\"data_offsets\": [0, 24]}}",
                               24),
                      VLM_ERR_FORMAT, "tensor 'w'", "shape[1] is -3", NULL);
}

Test(safetensors, non_integer_and_too_many_dims) {
    expect_open_fails(write_st("real_dim.st",
                               "{\"w\": {\"dtype\": \"F32\", \"shape\": [2.0], "
                               "\"data_offsets\": [0, 8]}}",
                               8),
                      VLM_ERR_FORMAT, "tensor 'w'", "shape[0] is a real number", NULL);
    expect_open_fails(write_st("nine_dims.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], "
                               "\"data_offsets\": [0, 1]}}",
                               1),
                      VLM_ERR_FORMAT, "tensor 'w'", "shape has 9 dims, more than the 8", NULL);
    expect_open_fails(write_st("shape_str.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": \"[1]\", "
                               "\"data_offsets\": [0, 1]}}",
                               1),
                      VLM_ERR_FORMAT, "tensor 'w'", "shape is a string", NULL);
}

Test(safetensors, entry_fields) {
    expect_open_fails(write_st("no_offsets.st", "{\"w\": {\"dtype\": \"U8\", \"shape\": [1]}}", 1),
                      VLM_ERR_FORMAT, "tensor 'w'", "missing field 'data_offsets'", NULL);
    expect_open_fails(write_st("extra_field.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [1], "
                               "\"data_offset\": [0, 1]}}",
                               1),
                      VLM_ERR_FORMAT, "tensor 'w'", "unknown field 'data_offset'", NULL);
    expect_open_fails(write_st("entry_num.st", "{\"w\": 3}", 0), VLM_ERR_FORMAT, "tensor 'w'",
                      "entry is an integer", NULL);
    expect_open_fails(write_st("offsets_real.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [1], "
                               "\"data_offsets\": [0, 1.0]}}",
                               1),
                      VLM_ERR_FORMAT, "tensor 'w'", "data_offsets[1] is a real number", NULL);
    expect_open_fails(write_st("offsets_three.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [1], "
                               "\"data_offsets\": [0, 1, 2]}}",
                               2),
                      VLM_ERR_FORMAT, "tensor 'w'", "[begin, end]", NULL);
    expect_open_fails(write_st("offsets_neg.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [0], "
                               "\"data_offsets\": [-1, -1]}}",
                               2),
                      VLM_ERR_FORMAT, "tensor 'w'", "data_offsets[0] is -1", NULL);
}

Test(safetensors, offsets_out_of_range) {
    expect_open_fails(write_st("oob.st",
                               "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], "
                               "\"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", "
                               "\"shape\": [2], \"data_offsets\": [8, 16]}}",
                               12),
                      VLM_ERR_FORMAT, "tensor 'b'",
                      "data_offsets [8, 16] end beyond the data area of 12 bytes", NULL);
}

Test(safetensors, offsets_overlapping) {
    expect_open_fails(write_st("overlap.st",
                               "{\"b\": {\"dtype\": \"F32\", \"shape\": [2], "
                               "\"data_offsets\": [4, 12]}, \"a\": {\"dtype\": \"F32\", "
                               "\"shape\": [2], \"data_offsets\": [0, 8]}}",
                               12),
                      VLM_ERR_FORMAT,
                      "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap",
                      NULL);
    /* the same range twice */
    expect_open_fails(write_st("overlap_same.st",
                               "{\"a\": {\"dtype\": \"U8\", \"shape\": [4], "
                               "\"data_offsets\": [0, 4]}, \"b\": {\"dtype\": \"I32\", "
                               "\"shape\": [], \"data_offsets\": [0, 4]}}",
                               4),
                      VLM_ERR_FORMAT, "overlap", NULL);
    /* a small tensor inside a big one that started earlier */
    expect_open_fails(write_st("overlap_inside.st",
                               "{\"big\": {\"dtype\": \"U8\", \"shape\": [16], "
                               "\"data_offsets\": [0, 16]}, \"c\": {\"dtype\": \"U8\", "
                               "\"shape\": [2], \"data_offsets\": [16, 18]}, \"in\": "
                               "{\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [5, 6]}}",
                               18),
                      VLM_ERR_FORMAT, "'big'", "'in'", "overlap", NULL);
    /* empty tensors occupy no bytes, wherever they point */
    const char *ok = write_st("empty_inside.st",
                              "{\"big\": {\"dtype\": \"U8\", \"shape\": [16], "
                              "\"data_offsets\": [0, 16]}, \"e\": {\"dtype\": \"F32\", "
                              "\"shape\": [0, 3], \"data_offsets\": [4, 4]}}",
                              16);
    vlm_weights_close(open_ok(ok));
}

Test(safetensors, begin_after_end) {
    expect_open_fails(write_st("reversed.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [4], "
                               "\"data_offsets\": [8, 4]}}",
                               8),
                      VLM_ERR_FORMAT, "tensor 'w'", "data_offsets [8, 4] begin after end", NULL);
}

Test(safetensors, size_mismatch) {
    const char *path = write_st("mismatch.st",
                                "{\"stem.0.weight\": {\"dtype\": \"F32\", \"shape\": [3, 3], "
                                "\"data_offsets\": [0, 100]}}",
                                100);
    vlm_weights *w = NULL;
    vlm_error err = {0};
    cr_assert_eq(vlm_weights_open(path, &w, &err), VLM_ERR_FORMAT);
    char want[700];
    snprintf(want, sizeof want,
             "%s: tensor 'stem.0.weight': data_offsets [0, 100] hold 100 bytes but shape [3, 3] "
             "of F32 needs 36",
             path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_null(w);
}

Test(safetensors, shape_product_overflows_int64) {
    expect_open_fails(write_st("overflow.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [4294967296, "
                               "4294967296], \"data_offsets\": [0, 0]}}",
                               0),
                      VLM_ERR_FORMAT, "tensor 'w'", "shape [4294967296, 4294967296]",
                      "more elements than fit", NULL);
    /* the count fits but the bytes do not */
    expect_open_fails(write_st("overflow_bytes.st",
                               "{\"w\": {\"dtype\": \"F64\", \"shape\": [2305843009213693952], "
                               "\"data_offsets\": [0, 0]}}",
                               0),
                      VLM_ERR_FORMAT, "tensor 'w'", "of F64 needs more bytes", NULL);
    /* beyond json_int_t: rejected by the JSON parser */
    expect_open_fails(write_st("overflow_json.st",
                               "{\"w\": {\"dtype\": \"U8\", \"shape\": [99999999999999999999], "
                               "\"data_offsets\": [0, 0]}}",
                               0),
                      VLM_ERR_FORMAT, "header is not valid JSON", NULL);
    /* a zero dim makes the tensor empty however large the others are */
    vlm_weights *w = open_ok(write_st("overflow_zero.st",
                                      "{\"w\": {\"dtype\": \"U8\", \"shape\": [4294967296, "
                                      "4294967296, 0], \"data_offsets\": [0, 0]}}",
                                      0));
    cr_assert_eq(vlm_weights_find(w, "w")->count, 0);
    vlm_weights_close(w);
}

Test(safetensors, null_handling) {
    vlm_weights_close(NULL);
    /* err may be NULL: only the status comes back */
    vlm_weights *w = NULL;
    cr_assert_eq(vlm_weights_open(work_path("nope.st"), &w, NULL), VLM_ERR_IO);
    cr_assert_null(w);
    vlm_error err = {0};
    cr_assert_eq(vlm_weights_open(NULL, &w, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_weights_open("x", NULL, &err), VLM_ERR_INVALID);
    cr_assert_null(vlm_weights_find(NULL, "x"));
}
