/* eval/image.c: decoding, PIL-exact resizing, crops, padding and normalisation. Golden values
 * come from Debian's Pillow and NumPy (VLM_PYTHON) and from Python transcriptions of the
 * torchvision / transformers / LLaVA rules, never from the code under test. Each comparison
 * prints its maximum difference to stderr. */
#include "eval/eval.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
/* libjpeg (after stdio.h), only to write the YCCK / Adobe CMYK / RGB JPEGs PIL cannot write */
#include <jpeglib.h>

#include "tests/testutil.h"

VLM_TEST_TMPDIR_SUITE(image)

/* A growing string for the Python scripts and their case tables. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Runs a Python script with NumPy and Pillow; d is the test directory. make(kind, w, h) gives
 * the seeded test images: 'noise' (uniform), 'gradient' (smooth ramps) and 'edges' (0/255
 * blocks, the worst case for bicubic overshoot and clipping). */
static const char PY_PRELUDE[] =
    "import sys, struct, warnings, zlib\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "warnings.simplefilter('ignore')\n"
    "d = sys.argv[1]\n"
    "F = {'BILINEAR': Image.BILINEAR, 'BICUBIC': Image.BICUBIC}\n"
    "def make(kind, w, h):\n"
    "    rng = np.random.default_rng([w, h, len(kind)])\n"
    "    y, x = np.mgrid[0:h, 0:w]\n"
    "    if kind == 'noise':\n"
    "        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)\n"
    "    if kind == 'gradient':\n"
    "        c = [x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (3 * x + 5 * y) % 256]\n"
    "    else:\n"
    "        c = [(x // 3 + y // 5) % 2 * 255, (x // 7) % 2 * 255, (x + y) % 2 * 255]\n"
    "    return np.stack(c, -1).astype(np.uint8)\n"
    "def put(name, a):\n"
    "    open(f'{d}/{name}', 'wb').write(np.ascontiguousarray(a).tobytes())\n"
    "def pil_rgb(path):\n"
    "    return np.asarray(Image.open(path).convert('RGB'))\n";

static void python(const char *script) {
    vlm_test_python(g_dir, PY_PRELUDE, script);
}

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

/* A text file NAME of the test directory, NUL-terminated. Owned. */
static char *read_text(const char *name) {
    size_t len;
    char *s = (char *)slurp(tpath(name), &len);
    s = realloc(s, len + 1);
    s[len] = '\0';
    return s;
}

static void spit(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* Raw RGB8 file NAME (from put()) as a w x h image. */
static vlm_image load_raw(const char *name, int w, int h) {
    size_t len;
    unsigned char *raw = slurp(tpath(name), &len);
    cr_assert_eq(len, (size_t)w * h * 3, "%s: %zu bytes for %dx%d", name, len, w, h);
    vlm_image im;
    cr_assert_eq(vlm_image_create(w, h, &im, NULL), VLM_OK);
    memcpy(im.pixels, raw, len);
    free(raw);
    return im;
}

/* Compares img with the raw golden NAME; returns the largest per-sample difference. */
static int max_diff_vs(const vlm_image *img, const char *name, int w, int h, size_t *ndiff) {
    cr_assert_eq(img->width, w, "%s: width %d, want %d", name, img->width, w);
    cr_assert_eq(img->height, h, "%s: height %d, want %d", name, img->height, h);
    size_t len;
    unsigned char *gold = slurp(tpath(name), &len);
    cr_assert_eq(len, (size_t)w * h * 3, "%s: golden has %zu bytes", name, len);
    int worst = 0;
    *ndiff = 0;
    for (size_t i = 0; i < len; i++) {
        int dlt = abs((int)img->pixels[i] - (int)gold[i]);
        *ndiff += dlt != 0;
        worst = dlt > worst ? dlt : worst;
    }
    free(gold);
    return worst;
}

/* Reads a "name w h" manifest written by Python; returns the number of lines. */
static int read_manifest(const char *file, char names[][64], int (*wh)[2], int max) {
    FILE *f = fopen(tpath(file), "r");
    cr_assert_not_null(f, "no manifest %s", file);
    int n = 0;
    while (n < max && fscanf(f, "%63s %d %d", names[n], &wh[n][0], &wh[n][1]) == 3)
        n++;
    fclose(f);
    return n;
}

static const char *filter_name(vlm_resample f) {
    return f == VLM_RESAMPLE_BICUBIC ? "BICUBIC" : "BILINEAR";
}

/* ---- resize vs Image.resize ------------------------------------------------------------- */

typedef struct resize_case {
    const char *kind;
    int w, h, ow, oh;
    vlm_resample filter;
} resize_case;

static const resize_case RESIZE_CASES[] = {
    {"noise", 37, 53, 256, 256, VLM_RESAMPLE_BICUBIC},     /* up ~5-7x */
    {"noise", 37, 53, 19, 27, VLM_RESAMPLE_BICUBIC},       /* down ~2x */
    {"noise", 37, 53, 111, 17, VLM_RESAMPLE_BILINEAR},     /* up in x, down in y */
    {"gradient", 37, 53, 74, 159, VLM_RESAMPLE_BILINEAR},  /* exact 2x, 3x */
    {"edges", 37, 53, 1, 1, VLM_RESAMPLE_BICUBIC},         /* everything into one pixel */
    {"noise", 37, 53, 37, 53, VLM_RESAMPLE_BICUBIC},       /* unchanged: a copy */
    {"noise", 333, 251, 224, 224, VLM_RESAMPLE_BICUBIC},   /* CLIP-style square */
    {"gradient", 333, 251, 100, 75, VLM_RESAMPLE_BICUBIC}, /* down 3.3x */
    {"edges", 333, 251, 333, 100, VLM_RESAMPLE_BICUBIC},   /* vertical pass only */
    {"edges", 333, 251, 50, 251, VLM_RESAMPLE_BILINEAR},   /* horizontal pass only */
    {"noise", 333, 251, 1024, 1024, VLM_RESAMPLE_BICUBIC}, /* FastVLM-size upscale */
    {"edges", 333, 251, 1000, 97, VLM_RESAMPLE_BICUBIC},
    {"gradient", 640, 479, 256, 191, VLM_RESAMPLE_BICUBIC},
    {"noise", 640, 479, 336, 336, VLM_RESAMPLE_BICUBIC},
    {"edges", 640, 479, 64, 48, VLM_RESAMPLE_BILINEAR}, /* down 10x: wide antialias support */
    {"noise", 640, 479, 1152, 862, VLM_RESAMPLE_BILINEAR},
    {"noise", 640, 479, 7, 5, VLM_RESAMPLE_BICUBIC}, /* down ~95x */
    {"edges", 640, 479, 341, 256, VLM_RESAMPLE_BICUBIC},
    {"noise", 1, 7, 5, 5, VLM_RESAMPLE_BICUBIC},
    {"noise", 1, 7, 1, 3, VLM_RESAMPLE_BILINEAR},
    {"gradient", 1, 7, 3, 1, VLM_RESAMPLE_BICUBIC},
    {"noise", 7, 1, 2, 9, VLM_RESAMPLE_BICUBIC},
};
#define N_RESIZE (sizeof RESIZE_CASES / sizeof RESIZE_CASES[0])

Test(image, resize_matches_pil_bicubic_and_bilinear) {
    sbuf py = {0};
    sb_printf(&py, "CASES = [\n");
    for (size_t i = 0; i < N_RESIZE; i++) {
        const resize_case *c = &RESIZE_CASES[i];
        sb_printf(&py, "    ('%s', %d, %d, %d, %d, '%s'),\n", c->kind, c->w, c->h, c->ow, c->oh,
                  filter_name(c->filter));
    }
    sb_printf(&py,
              "]\n"
              "for i, (kind, w, h, ow, oh, f) in enumerate(CASES):\n"
              "    a = make(kind, w, h)\n"
              "    put(f'in_{i}.rgb', a)\n"
              "    put(f'out_{i}.rgb', np.asarray(Image.fromarray(a).resize((ow, oh), F[f])))\n");
    python(py.s);
    free(py.s);

    int worst_all = 0;
    for (size_t i = 0; i < N_RESIZE; i++) {
        const resize_case *c = &RESIZE_CASES[i];
        char in[32], out[32];
        snprintf(in, sizeof in, "in_%zu.rgb", i);
        snprintf(out, sizeof out, "out_%zu.rgb", i);
        vlm_image src = load_raw(in, c->w, c->h), dst = {0};
        vlm_error err = {0};
        cr_assert_eq(vlm_image_resize(&src, c->ow, c->oh, c->filter, &dst, &err), VLM_OK, "%s",
                     err.msg);
        size_t ndiff;
        int worst = max_diff_vs(&dst, out, c->ow, c->oh, &ndiff);
        fprintf(stderr, "resize %-8s %4dx%-4d -> %4dx%-4d %-8s: max diff %d (%zu of %d samples)\n",
                c->kind, c->w, c->h, c->ow, c->oh, filter_name(c->filter), worst, ndiff,
                c->ow * c->oh * 3);
        cr_expect_leq(worst, 1, "resize case %zu: max diff %d levels", i, worst);
        worst_all = worst > worst_all ? worst : worst_all;
        vlm_image_free(&src);
        vlm_image_free(&dst);
    }
    fprintf(stderr, "resize: max diff over all cases %d\n", worst_all);
}

Test(image, resize_rejects_bad_requests) {
    vlm_image src, out = {.width = 9};
    vlm_error err = {0};
    cr_assert_eq(vlm_image_create(5, 4, &src, NULL), VLM_OK);
    cr_assert_eq(vlm_image_resize(&src, 0, 4, VLM_RESAMPLE_BICUBIC, &out, &err), VLM_ERR_INVALID);
    cr_assert_null(out.pixels);
    cr_assert_eq(out.width, 0);
    cr_assert_eq(vlm_image_resize(&src, 4, 4, (vlm_resample)7, &out, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_image_resize_shortest(&src, 0, VLM_RESAMPLE_BICUBIC, &out, &err),
                 VLM_ERR_INVALID);
    vlm_image empty = {0};
    cr_assert_eq(vlm_image_resize(&empty, 4, 4, VLM_RESAMPLE_BICUBIC, &out, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_image_create(0, 3, &out, &err), VLM_ERR_INVALID);
    vlm_image_free(&src);
    vlm_image_free(NULL);
}

/* ---- decode vs Image.open(...).convert("RGB") ------------------------------------------- */

/* Decodes every file of the manifest and compares with PIL's pixels (exp_NAME.rgb). */
static int decode_all_vs_pil(const char *manifest, const char *ext, int min_cases) {
    char names[64][64];
    int wh[64][2];
    int n = read_manifest(manifest, names, wh, 64), worst_all = 0;
    cr_assert_geq(n, min_cases, "%s: %d cases", manifest, n);
    for (int i = 0; i < n; i++) {
        char file[96], exp[96];
        snprintf(file, sizeof file, "%.63s.%.8s", names[i], ext);
        snprintf(exp, sizeof exp, "exp_%.63s.rgb", names[i]);
        vlm_image im = {0};
        vlm_error err = {0};
        cr_assert_eq(vlm_image_read(tpath(file), &im, &err), VLM_OK, "%s: %s", file, err.msg);
        size_t ndiff;
        int worst = max_diff_vs(&im, exp, wh[i][0], wh[i][1], &ndiff);
        fprintf(stderr, "decode %-22s %4dx%-4d: max diff vs PIL %d (%zu samples differ)\n", file,
                wh[i][0], wh[i][1], worst, ndiff);
        cr_expect_eq(worst, 0, "%s: max diff %d", file, worst);
        worst_all = worst > worst_all ? worst : worst_all;
        vlm_image_free(&im);
    }
    return worst_all;
}

Test(image, jpeg_decode_equals_pil) {
    /* Same libjpeg62-turbo, same defaults (islow IDCT, fancy upsampling) as PIL: exact. */
    python(
        "JPEGS = [\n"
        "    ('q90', 'noise', 37, 53, 'RGB', dict(quality=90)),\n"
        "    ('q95_444', 'gradient', 333, 251, 'RGB', dict(quality=95, subsampling=0)),\n"
        "    ('q80_422', 'noise', 640, 479, 'RGB', dict(quality=80, subsampling=1)),\n"
        "    ('progressive', 'gradient', 333, 251, 'RGB', dict(quality=85, progressive=True)),\n"
        "    ('optimized', 'edges', 640, 479, 'RGB', dict(quality=70, optimize=True)),\n"
        "    ('grey', 'gradient', 37, 53, 'L', dict(quality=90)),\n"
        "    ('grey_noise', 'noise', 333, 251, 'L', dict(quality=60)),\n"
        "    ('cmyk', 'noise', 41, 29, 'CMYK', dict(quality=90)),\n"
        "    ('cmyk_grad', 'gradient', 333, 251, 'CMYK', dict(quality=75)),\n"
        "    ('tiny', 'noise', 1, 7, 'RGB', dict(quality=90)),\n"
        "    ('wide', 'edges', 7, 1, 'RGB', dict(quality=50)),\n"
        "]\n"
        "m = open(f'{d}/jpegs.txt', 'w')\n"
        "for name, kind, w, h, mode, kw in JPEGS:\n"
        "    a = make(kind, w, h)\n"
        "    if mode == 'CMYK':\n"
        "        im = Image.fromarray(np.concatenate([a, make('gradient', w, h)[..., :1]], -1),\n"
        "                             'CMYK')\n"
        "    else:\n"
        "        im = Image.fromarray(a).convert(mode)\n"
        "    im.save(f'{d}/{name}.jpg', **kw)\n"
        "    put(f'exp_{name}.rgb', pil_rgb(f'{d}/{name}.jpg'))\n"
        "    print(name, w, h, file=m)\n");
    int worst = decode_all_vs_pil("jpegs.txt", "jpg", 11);
    fprintf(stderr, "jpeg decode: max diff vs PIL %d\n", worst);
}

/* Writes a JPEG with libjpeg directly: CMYK samples stored as YCCK or as Adobe CMYK, or RGB
 * samples stored without the YCbCr transform (Adobe transform 0). */
static void write_libjpeg(const char *path, int w, int h, J_COLOR_SPACE in, J_COLOR_SPACE store) {
    int comps = in == JCS_CMYK ? 4 : 3;
    unsigned char *px = malloc((size_t)w * h * comps);
    for (int i = 0; i < w * h * comps; i++)
        px[i] = (unsigned char)((i * 2654435761u) >> 24 ^ (i / comps % w) * 5);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = in;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, store);
    jpeg_set_quality(&ci, 85, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = px + (size_t)ci.next_scanline * w * comps;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    free(px);
}

Test(image, jpeg_ycck_adobe_cmyk_and_rgb_colourspaces_equal_pil) {
    write_libjpeg(tpath("ycck.jpg"), 45, 31, JCS_CMYK, JCS_YCCK);
    write_libjpeg(tpath("adobe_cmyk.jpg"), 33, 19, JCS_CMYK, JCS_CMYK);
    write_libjpeg(tpath("rgb_no_ycc.jpg"), 29, 41, JCS_RGB, JCS_RGB);
    python("m = open(f'{d}/jpegs.txt', 'w')\n"
           "for name in ['ycck', 'adobe_cmyk', 'rgb_no_ycc']:\n"
           "    im = Image.open(f'{d}/{name}.jpg')\n"
           "    assert im.mode == ('RGB' if name == 'rgb_no_ycc' else 'CMYK'), im.mode\n"
           "    put(f'exp_{name}.rgb', pil_rgb(f'{d}/{name}.jpg'))\n"
           "    print(name, *im.size, file=m)\n");
    decode_all_vs_pil("jpegs.txt", "jpg", 3);
}

Test(image, jpeg_encode_round_trips_through_pil) {
    vlm_image im;
    cr_assert_eq(vlm_image_create(97, 61, &im, NULL), VLM_OK);
    for (int y = 0; y < im.height; y++)
        for (int x = 0; x < im.width; x++) {
            uint8_t *p = im.pixels + ((size_t)y * im.width + x) * 3;
            p[0] = (uint8_t)(x * 255 / 96);
            p[1] = (uint8_t)(y * 255 / 60);
            p[2] = (uint8_t)(128 + 100 * sin(x * 0.2) * cos(y * 0.15));
        }
    uint8_t *jpg = NULL;
    size_t n = 0;
    vlm_error err = {0};
    cr_assert_eq(vlm_image_encode_jpeg(&im, 92, &jpg, &n, &err), VLM_OK, "%s", err.msg);
    cr_assert_gt(n, 100);
    spit(tpath("enc.jpg"), jpg, n);
    python("im = Image.open(f'{d}/enc.jpg')\n"
           "assert im.format == 'JPEG' and im.mode == 'RGB' and im.size == (97, 61), im\n"
           "put('exp_enc.rgb', pil_rgb(f'{d}/enc.jpg'))\n");
    vlm_image back = {0};
    cr_assert_eq(vlm_image_decode(jpg, n, "enc.jpg", &back, &err), VLM_OK, "%s", err.msg);
    size_t ndiff;
    int worst = max_diff_vs(&back, "exp_enc.rgb", 97, 61, &ndiff);
    cr_assert_eq(worst, 0, "our decode of our JPEG differs from PIL's by %d", worst);
    double sad = 0;
    for (size_t i = 0; i < (size_t)97 * 61 * 3; i++)
        sad += fabs((double)back.pixels[i] - im.pixels[i]);
    fprintf(stderr, "jpeg encode q92: mean |error| %.2f levels, PIL decode diff %d\n",
            sad / (97 * 61 * 3), worst);
    cr_assert_lt(sad / (97 * 61 * 3), 3.0);
    free(jpg);
    cr_assert_eq(vlm_image_encode_jpeg(&im, 0, &jpg, &n, &err), VLM_ERR_INVALID);
    cr_assert_eq(vlm_image_encode_jpeg(&im, 101, &jpg, &n, &err), VLM_ERR_INVALID);
    cr_assert_null(jpg);
    vlm_image_free(&im);
    vlm_image_free(&back);
}

/* A PNG writer for what PIL cannot write (16-bit RGB(A)/LA, 1/2/4-bit, tRNS, Adam7). */
static const char *PY_PNG_WRITER =
    "def chunk(t, data):\n"
    "    return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data))\n"
    "def pack_rows(a, depth):\n"
    "    rows = []\n"
    "    for r in a:\n"
    "        if depth >= 8:\n"
    "            rows.append(r.astype('>u2' if depth == 16 else 'u1').tobytes())\n"
    "            continue\n"
    "        s = r.reshape(-1).astype(np.uint16)\n"
    "        per = 8 // depth\n"
    "        s = np.concatenate([s, np.zeros(-len(s) % per, np.uint16)]).reshape(-1, per)\n"
    "        v = np.zeros(len(s), np.uint16)\n"
    "        for i in range(per):\n"
    "            v = (v << depth) | s[:, i]\n"
    "        rows.append(v.astype(np.uint8).tobytes())\n"
    "    return rows\n"
    "ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),\n"
    "         (0, 1, 1, 2)]\n"
    "def write_png(name, a, depth, ctype, plte=None, trns=None, interlace=False):\n"
    "    a = a if a.ndim == 3 else a[..., None]\n"
    "    h, w = a.shape[:2]\n"
    "    raw = b''\n"
    "    for xs, ys, dx, dy in (ADAM7 if interlace else [(0, 0, 1, 1)]):\n"
    "        sub = a[ys::dy, xs::dx]\n"
    "        if sub.size:\n"
    "            raw += b''.join(b'\\0' + r for r in pack_rows(sub, depth))\n"
    "    out = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth,\n"
    "                                            ctype, 0, 0, int(interlace)))\n"
    "    if plte is not None:\n"
    "        out += chunk(b'PLTE', bytes(plte))\n"
    "    if trns is not None:\n"
    "        out += chunk(b'tRNS', trns)\n"
    "    out += chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')\n"
    "    open(f'{d}/{name}.png', 'wb').write(out)\n";

Test(image, png_decode_equals_pil) {
    sbuf py = {0};
    sb_printf(&py, "%s", PY_PNG_WRITER);
    sb_printf(
        &py,
        "rng = np.random.default_rng(7)\n"
        "rgb = make('noise', 37, 53)\n"
        "grad = make('gradient', 37, 53)\n"
        "alpha = rng.integers(0, 256, (53, 37, 1), dtype=np.uint8); alpha[:10] = 0\n"
        "pal = rng.integers(0, 256, 768, dtype=np.uint8)\n"
        "idx = rng.integers(0, 256, (53, 37), dtype=np.uint8)\n"
        "Image.fromarray(rgb).save(f'{d}/rgb.png')\n"
        "Image.fromarray(make('gradient', 333, 251)).save(f'{d}/rgb_big.png')\n"
        "Image.fromarray(np.concatenate([rgb, alpha], -1), 'RGBA').save(f'{d}/rgba.png')\n"
        "Image.fromarray(np.concatenate([grad[..., :1], alpha], -1), 'LA').save(f'{d}/la.png')\n"
        "Image.fromarray(grad[..., 1]).save(f'{d}/grey.png')\n"
        "p = Image.fromarray(idx, 'P'); p.putpalette(pal.tobytes()); p.save(f'{d}/pal.png')\n"
        "p.save(f'{d}/pal_trns.png', transparency=bytes(range(0, 256)))\n"
        "Image.fromarray(rgb[..., 0] > 127).save(f'{d}/bit1.png')\n"
        "g16 = np.concatenate([np.arange(0, 600), rng.integers(0, 65536, 37 * 53 - 600)])\n"
        "Image.fromarray(g16.reshape(53, 37).astype(np.uint16)).save(f'{d}/grey16.png')\n"
        "w16 = rng.integers(0, 65536, (53, 37, 4))\n"
        "write_png('rgb16', w16[..., :3], 16, 2)\n"
        "write_png('rgba16', w16, 16, 6)\n"
        "write_png('la16', w16[..., :2], 16, 4)\n"
        "write_png('grey2', idx % 4, 2, 0)\n"
        "write_png('grey4', idx % 16, 4, 0)\n"
        "write_png('pal1', idx % 2, 1, 3, plte=pal[:6])\n"
        "write_png('pal4', idx % 16, 4, 3, plte=pal[:48], trns=bytes(range(0, 160, 10)))\n"
        "write_png('pal_short', idx, 8, 3, plte=pal[:18])\n"
        "write_png('adam7_pal2', (idx % 4)[:11, :13], 2, 3, plte=pal[:9], interlace=True)\n"
        "write_png('rgb_trns', rgb, 8, 2, trns=struct.pack('>HHH', *rgb[0, 0]))\n"
        "write_png('grey_trns', grad[..., 0], 8, 0, trns=struct.pack('>H', grad[0, 0, 0]))\n"
        "write_png('adam7_rgb', make('noise', 13, 11), 8, 2, interlace=True)\n"
        "write_png('adam7_grey4', (idx % 16)[:11, :13], 4, 0, interlace=True)\n"
        "write_png('adam7_rgba16', w16[:9, :7], 16, 6, interlace=True)\n"
        "write_png('adam7_1x7', make('noise', 1, 7), 8, 2, interlace=True)\n"
        "m = open(f'{d}/pngs.txt', 'w')\n"
        "import glob, os\n"
        "for path in sorted(glob.glob(f'{d}/*.png')):\n"
        "    name = os.path.basename(path)[:-4]\n"
        "    im = Image.open(path)\n"
        "    put(f'exp_{name}.rgb', pil_rgb(path))\n"
        "    print(name, *im.size, file=m)\n"
        "print('PIL modes:', {os.path.basename(p)[:-4]: Image.open(p).mode\n"
        "                     for p in sorted(glob.glob(f'{d}/*.png'))}, file=sys.stderr)\n");
    python(py.s);
    free(py.s);
    int worst = decode_all_vs_pil("pngs.txt", "png", 24);
    fprintf(stderr, "png decode: max diff vs PIL %d\n", worst);
}

Test(image, png_grey16_is_clipped_like_pil) {
    /* PIL holds 16-bit greyscale as "I" and convert("RGB") clips: 300 -> 255, not 300 >> 8. */
    python("Image.fromarray(np.array([[0, 7, 254, 255, 256, 300, 65535]], np.uint16))"
           ".save(f'{d}/g.png')\n");
    vlm_image im = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_image_read(tpath("g.png"), &im, &err), VLM_OK, "%s", err.msg);
    const uint8_t want[7] = {0, 7, 254, 255, 255, 255, 255};
    for (int x = 0; x < 7; x++)
        cr_assert_eq(im.pixels[3 * x + 1], want[x], "x %d: %d", x, im.pixels[3 * x + 1]);
    vlm_image_free(&im);
}

/* ---- bad inputs ------------------------------------------------------------------------- */

static void expect_decode_error(const char *name, vlm_status status, const char *want) {
    const char *path = tpath(name);
    vlm_image im = {.width = 3, .height = 4};
    vlm_error err = {0};
    vlm_status st = vlm_image_read(path, &im, &err);
    fprintf(stderr, "bad input %-20s -> %s: %s\n", name, vlm_status_name(st), err.msg);
    cr_assert_eq(st, status, "%s: got %s (%s), want %s", name, vlm_status_name(st), err.msg,
                 vlm_status_name(status));
    cr_assert_eq(err.status, status);
    cr_assert_not_null(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    if (want)
        cr_assert_not_null(strstr(err.msg, want), "message lacks '%s': %s", want, err.msg);
    cr_assert_null(im.pixels);
    cr_assert_eq(im.width, 0);
    cr_assert_eq(im.height, 0);
}

Test(image, bad_inputs_are_clear_errors) {
    python("import io\n"
           "b = io.BytesIO(); Image.fromarray(make('noise', 37, 53)).save(b, 'JPEG', quality=90)\n"
           "j = b.getvalue()\n"
           "b = io.BytesIO(); Image.fromarray(make('noise', 37, 53)).save(b, 'PNG')\n"
           "p = bytearray(b.getvalue())\n"
           "rng = np.random.default_rng(3)\n"
           "files = {\n"
           "    'trunc_half.jpg': j[:len(j) // 2],\n"
           "    'trunc_header.jpg': j[:100],\n"
           "    'no_eoi.jpg': j[:-2],\n"
           "    'jpeg_garbage.jpg': b'\\xff\\xd8\\xff' + rng.bytes(500),\n"
           "    'garbage.bin': rng.bytes(1000),\n"
           "    'empty.jpg': b'',\n"
           "    'trunc_half.png': bytes(p[:len(p) // 2]),\n"
           "    'sig_only.png': bytes(p[:8]),\n"
           "}\n"
           "q = bytearray(p); q[29] ^= 1; files['bad_ihdr_crc.png'] = bytes(q)\n"
           "i = p.find(b'IDAT'); n = struct.unpack('>I', p[i - 4:i])[0]\n"
           "q = bytearray(p); q[i + 4 + n] ^= 1; files['bad_idat_crc.png'] = bytes(q)\n"
           "q = bytearray(p); q[i + 40] ^= 0x55; files['bad_idat_data.png'] = bytes(q)\n"
           "v = open(f'{d}/pil.txt', 'w')\n"
           "for name, data in files.items():\n"
           "    open(f'{d}/{name}', 'wb').write(data)\n"
           "    try:\n"
           "        Image.open(f'{d}/{name}').convert('RGB'); r = 'decodes'\n"
           "    except Exception as e:\n"
           "        r = 'refuses: ' + type(e).__name__ + ': ' + str(e)\n"
           "    print(name, 'PIL', r, file=v)\n");
    expect_decode_error("trunc_half.jpg", VLM_ERR_FORMAT, "Premature end");
    expect_decode_error("trunc_header.jpg", VLM_ERR_FORMAT, NULL);
    expect_decode_error("no_eoi.jpg", VLM_ERR_FORMAT, "Premature end");
    expect_decode_error("jpeg_garbage.jpg", VLM_ERR_FORMAT, "bad JPEG");
    expect_decode_error("garbage.bin", VLM_ERR_FORMAT, "not a JPEG or PNG");
    expect_decode_error("empty.jpg", VLM_ERR_FORMAT, "empty");
    expect_decode_error("trunc_half.png", VLM_ERR_FORMAT, "truncated");
    expect_decode_error("sig_only.png", VLM_ERR_FORMAT, "truncated");
    expect_decode_error("bad_ihdr_crc.png", VLM_ERR_FORMAT, "CRC");
    expect_decode_error("bad_idat_crc.png", VLM_ERR_FORMAT, "CRC");
    expect_decode_error("bad_idat_data.png", VLM_ERR_FORMAT, "IDAT");
    expect_decode_error("missing.jpg", VLM_ERR_IO, "No such file");
    if (mkdir(tpath("a_dir.png"), 0700) == 0)
        expect_decode_error("a_dir.png", VLM_ERR_IO, NULL);

    /* PIL refuses all of these too, except the IDAT CRC, which it never checks. */
    char *pil = read_text("pil.txt");
    fprintf(stderr, "%s", pil);
    for (char *line = strtok(pil, "\n"); line; line = strtok(NULL, "\n"))
        if (!strstr(line, "bad_idat_crc"))
            cr_expect(strstr(line, "PIL refuses"), "PIL accepts what we refuse: %s", line);
    free(pil);

    /* From memory, the message names what the caller calls the data. */
    vlm_image im = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_image_decode("GIF89a......", 12, "shard-3.tar:img/77.gif", &im, &err),
                 VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "shard-3.tar:img/77.gif") && strstr(err.msg, "47 49 46 38"), "%s",
              err.msg);
}

/* PNG CRC-32 (zlib's polynomial), to re-seal chunks after mutating them. */
static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Decoding must succeed or be refused cleanly; returns 1 when it decoded. */
static int expect_ok_or_refused(const uint8_t *data, size_t n, const char *what, size_t i) {
    vlm_image im = {0};
    vlm_error err = {0};
    vlm_status st = vlm_image_decode(data, n, "fuzz", &im, &err);
    cr_assert(st == VLM_OK || st == VLM_ERR_FORMAT || st == VLM_ERR_UNSUPPORTED, "%s %zu: %s (%s)",
              what, i, vlm_status_name(st), err.msg);
    if (st == VLM_OK)
        cr_assert(im.pixels && im.width > 0 && im.height > 0);
    else
        cr_assert(!im.pixels && strstr(err.msg, "fuzz"), "%s", err.msg);
    vlm_image_free(&im);
    return st == VLM_OK;
}

Test(image, truncated_and_mutated_files_never_crash) {
    python(
        "Image.fromarray(make('noise', 37, 53)).save(f'{d}/s.jpg', quality=90)\n"
        "Image.fromarray(make('gradient', 37, 53)).save(f'{d}/s.png')\n"
        "p = open(f'{d}/s.png', 'rb').read()\n"
        "i = p.rfind(b'IDAT') - 4\n"
        "open(f'{d}/idat_end.txt', 'w').write(str(i + 12 + struct.unpack('>I', p[i:i+4])[0]))\n");
    size_t nj, np_;
    uint8_t *jpg = slurp(tpath("s.jpg"), &nj), *png = slurp(tpath("s.png"), &np_);
    char *text = read_text("idat_end.txt");
    size_t idat_end = strtoul(text, NULL, 10);
    free(text);
    vlm_image full = {0};
    cr_assert_eq(vlm_image_decode(png, np_, "s.png", &full, NULL), VLM_OK);

    /* Every proper prefix of a JPEG is refused (PIL: "image file is truncated"). A PNG is
     * refused until its image data is complete; the trailing IEND is not needed (nor by PIL). */
    for (size_t n = 0; n < nj; n++) {
        vlm_image im = {0};
        vlm_error err = {0};
        cr_assert_eq(vlm_image_decode(jpg, n, "prefix", &im, &err), VLM_ERR_FORMAT,
                     "JPEG prefix of %zu/%zu bytes: %s", n, nj, err.msg);
    }
    for (size_t n = 0; n < np_; n++) {
        vlm_image im = {0};
        vlm_error err = {0};
        vlm_status st = vlm_image_decode(png, n, "prefix", &im, &err);
        if (n < idat_end) {
            cr_assert_eq(st, VLM_ERR_FORMAT, "PNG prefix %zu/%zu: %s", n, np_, err.msg);
        } else {
            cr_assert_eq(st, VLM_OK, "PNG prefix %zu/%zu: %s", n, np_, err.msg);
            cr_assert_eq(memcmp(im.pixels, full.pixels, (size_t)37 * 53 * 3), 0);
        }
        vlm_image_free(&im);
    }

    /* Random byte mutations; in the PNG, the chunk's CRC is re-sealed so that libpng's deeper
     * checks (IHDR fields, zlib, filters, palette) see the damage. */
    enum { N_MUTATIONS = 3000 };
    int decoded[2] = {0, 0};
    uint64_t seed = 42;
    uint8_t *buf = malloc(nj > np_ ? nj : np_);
    for (size_t i = 0; i < N_MUTATIONS; i++) {
        memcpy(buf, jpg, nj);
        int k = 1 + (int)(splitmix(&seed) % 4);
        for (int m = 0; m < k; m++)
            buf[splitmix(&seed) % nj] = (uint8_t)splitmix(&seed);
        decoded[0] += expect_ok_or_refused(buf, nj, "jpeg mutation", i);

        memcpy(buf, png, np_);
        size_t at = 8, target = splitmix(&seed) % 4; /* mutate chunk number target */
        for (size_t c = 0; at + 12 <= np_; c++) {
            size_t len = (size_t)buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3];
            if (at + 12 + len > np_)
                break;
            if (c == target && len > 0) {
                for (int m = 0; m < k; m++)
                    buf[at + 8 + splitmix(&seed) % len] = (uint8_t)splitmix(&seed);
                uint32_t crc = crc32_png(buf + at + 4, len + 4);
                for (int b = 0; b < 4; b++)
                    buf[at + 8 + len + b] = (uint8_t)(crc >> (24 - 8 * b));
                break;
            }
            at += 12 + len;
        }
        decoded[1] += expect_ok_or_refused(buf, np_, "png mutation", i);
    }
    fprintf(stderr, "mutations: %d/%d JPEGs and %d/%d PNGs decoded, the rest refused cleanly\n",
            decoded[0], N_MUTATIONS, decoded[1], N_MUTATIONS);
    free(buf);
    free(jpg);
    free(png);
    vlm_image_free(&full);
}

/* ---- geometry: shortest side, crops, pad to square ------------------------------------- */

Test(image, shortest_side_size_matches_torchvision_and_hf) {
    static const int SIDES[] = {1,   2,   3,   7,   37,   53,   224,  251,  255,  256,  333,
                                479, 480, 500, 640, 1000, 1023, 1080, 1920, 3024, 4032, 6000};
    static const int TARGETS[] = {1, 224, 256, 336, 384, 1024};
    enum { NS = sizeof SIDES / sizeof SIDES[0], NT = sizeof TARGETS / sizeof TARGETS[0] };
    sbuf py = {0};
    sb_printf(&py, "SIDES = [");
    for (int i = 0; i < NS; i++)
        sb_printf(&py, "%d, ", SIDES[i]);
    sb_printf(&py, "]\nTARGETS = [");
    for (int i = 0; i < NT; i++)
        sb_printf(&py, "%d, ", TARGETS[i]);
    /* torchvision _compute_resized_output_size == transformers get_resize_output_image_size */
    sb_printf(&py, "]\n"
                   "def resized(h, w, size):\n"
                   "    short, long = (w, h) if w <= h else (h, w)\n"
                   "    new_short, new_long = size, int(size * long / short)\n"
                   "    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)\n"
                   "    return new_w, new_h\n"
                   "with open(f'{d}/sizes.txt', 'w') as f:\n"
                   "    for w in SIDES:\n"
                   "        for h in SIDES:\n"
                   "            for s in TARGETS:\n"
                   "                print(*resized(h, w, s), file=f)\n");
    python(py.s);
    free(py.s);
    FILE *f = fopen(tpath("sizes.txt"), "r");
    cr_assert_not_null(f);
    int checked = 0;
    for (int i = 0; i < NS; i++)
        for (int j = 0; j < NS; j++)
            for (int t = 0; t < NT; t++) {
                int ww, wh, gw, gh;
                cr_assert_eq(fscanf(f, "%d %d", &ww, &wh), 2);
                vlm_image_shortest_side_size(SIDES[i], SIDES[j], TARGETS[t], &gw, &gh);
                cr_assert(gw == ww && gh == wh, "%dx%d shortest %d: got %dx%d, want %dx%d",
                          SIDES[i], SIDES[j], TARGETS[t], gw, gh, ww, wh);
                checked++;
            }
    fclose(f);
    fprintf(stderr, "shortest side: %d sizes equal Python's\n", checked);
}

typedef struct crop_case {
    int w, h, cw, ch;
} crop_case;

/* Margins d with d % 4 == 3 are where the rules disagree (d = 3, 7, 27, 83). */
static const crop_case CROP_CASES[] = {
    {40, 59, 37, 52}, {333, 251, 224, 224}, {339, 256, 256, 256}, {256, 339, 256, 256},
    {5, 5, 5, 5},     {7, 1, 4, 1},         {1, 7, 1, 1},         {37, 53, 1, 2},
};
#define N_CROP (sizeof CROP_CASES / sizeof CROP_CASES[0])

Test(image, center_crop_matches_torchvision_and_hf_rules) {
    sbuf py = {0};
    sb_printf(&py, "CASES = [");
    for (size_t i = 0; i < N_CROP; i++)
        sb_printf(&py, "(%d, %d, %d, %d), ", CROP_CASES[i].w, CROP_CASES[i].h, CROP_CASES[i].cw,
                  CROP_CASES[i].ch);
    sb_printf(&py, "]\n"
                   "for i, (w, h, cw, ch) in enumerate(CASES):\n"
                   "    a = make('noise', w, h)\n"
                   "    put(f'in_{i}.rgb', a)\n"
                   "    # torchvision.transforms.functional.center_crop\n"
                   "    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))\n"
                   "    put(f'tv_{i}.rgb', a[top:top + ch, left:left + cw])\n"
                   "    # transformers.image_transforms.center_crop\n"
                   "    top, left = (h - ch) // 2, (w - cw) // 2\n"
                   "    put(f'hf_{i}.rgb', a[top:top + ch, left:left + cw])\n");
    python(py.s);
    free(py.s);
    for (size_t i = 0; i < N_CROP; i++) {
        const crop_case *c = &CROP_CASES[i];
        char in[32], tv[32], hf[32];
        snprintf(in, sizeof in, "in_%zu.rgb", i);
        snprintf(tv, sizeof tv, "tv_%zu.rgb", i);
        snprintf(hf, sizeof hf, "hf_%zu.rgb", i);
        vlm_image src = load_raw(in, c->w, c->h), a = {0}, b = {0};
        vlm_error err = {0};
        cr_assert_eq(vlm_image_center_crop(&src, c->cw, c->ch, VLM_CROP_TORCHVISION, &a, &err),
                     VLM_OK, "%s", err.msg);
        cr_assert_eq(vlm_image_center_crop(&src, c->cw, c->ch, VLM_CROP_HF, &b, &err), VLM_OK, "%s",
                     err.msg);
        size_t nd;
        cr_assert_eq(max_diff_vs(&a, tv, c->cw, c->ch, &nd), 0, "torchvision crop case %zu", i);
        cr_assert_eq(max_diff_vs(&b, hf, c->cw, c->ch, &nd), 0, "hf crop case %zu", i);
        vlm_image_free(&src);
        vlm_image_free(&a);
        vlm_image_free(&b);
    }
    vlm_image src, out = {0};
    vlm_error err = {0};
    cr_assert_eq(vlm_image_create(10, 8, &src, NULL), VLM_OK);
    cr_assert_eq(vlm_image_center_crop(&src, 11, 8, VLM_CROP_HF, &out, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "11x8") && strstr(err.msg, "10x8"), "%s", err.msg);
    cr_assert_null(out.pixels);
    vlm_image_free(&src);
}

Test(image, pad_square_matches_llava_expand2square) {
    static const int SIZES[][2] = {{37, 53}, {333, 251}, {1, 7}, {7, 7}, {8, 3}, {2, 9}};
    enum { N = sizeof SIZES / sizeof SIZES[0] };
    const double openai_mean[3] = {0.48145466, 0.4578275, 0.40821073};
    uint8_t bg[2][3] = {{0, 0, 0}};
    vlm_image_pad_colour_llava(openai_mean, bg[1]);
    cr_assert(bg[1][0] == 122 && bg[1][1] == 116 && bg[1][2] == 104, "%d %d %d", bg[1][0], bg[1][1],
              bg[1][2]);
    sbuf py = {0};
    sb_printf(&py, "SIZES = [");
    for (int i = 0; i < N; i++)
        sb_printf(&py, "(%d, %d), ", SIZES[i][0], SIZES[i][1]);
    sb_printf(&py,
              "]\n"
              "def expand2square(pil_img, background_color):  # LLaVA / FastVLM mm_utils\n"
              "    width, height = pil_img.size\n"
              "    if width == height:\n"
              "        return pil_img\n"
              "    elif width > height:\n"
              "        result = Image.new(pil_img.mode, (width, width), background_color)\n"
              "        result.paste(pil_img, (0, (width - height) // 2))\n"
              "        return result\n"
              "    else:\n"
              "        result = Image.new(pil_img.mode, (height, height), background_color)\n"
              "        result.paste(pil_img, ((height - width) // 2, 0))\n"
              "        return result\n"
              "mean = (0.48145466, 0.4578275, 0.40821073)\n"
              "assert tuple(int(x * 255) for x in mean) == (122, 116, 104)\n"
              "for i, (w, h) in enumerate(SIZES):\n"
              "    a = make('gradient', w, h)\n"
              "    put(f'in_{i}.rgb', a)\n"
              "    for b, colour in enumerate([(0, 0, 0), tuple(int(x * 255) for x in mean)]):\n"
              "        put(f'sq_{i}_{b}.rgb', np.asarray(expand2square(Image.fromarray(a), "
              "colour)))\n");
    python(py.s);
    free(py.s);
    for (int i = 0; i < N; i++) {
        char in[32], sq[32];
        snprintf(in, sizeof in, "in_%d.rgb", i);
        vlm_image src = load_raw(in, SIZES[i][0], SIZES[i][1]);
        int side = SIZES[i][0] > SIZES[i][1] ? SIZES[i][0] : SIZES[i][1];
        for (int b = 0; b < 2; b++) {
            vlm_image out = {0};
            vlm_error err = {0};
            cr_assert_eq(vlm_image_pad_square(&src, bg[b], &out, &err), VLM_OK, "%s", err.msg);
            snprintf(sq, sizeof sq, "sq_%d_%d.rgb", i, b);
            size_t nd;
            cr_assert_eq(max_diff_vs(&out, sq, side, side, &nd), 0, "pad %dx%d bg %d", SIZES[i][0],
                         SIZES[i][1], b);
            vlm_image_free(&out);
        }
        vlm_image_free(&src);
    }
}

/* ---- the whole chains against PIL + NumPy ----------------------------------------------- */

typedef struct chain_case {
    const char *pipeline; /* what it reproduces */
    const char *kind;
    int w, h;
    int pad;      /* expand2square with the LLaVA background from mean first */
    int shortest; /* resize shortest side, then centre crop shortest x shortest */
    vlm_resample filter;
    vlm_crop_rule crop;
    float mean[3], std[3];
} chain_case;

#define OPENAI_MEAN                                                                                \
    { 0.48145466f, 0.4578275f, 0.40821073f }
#define OPENAI_STD                                                                                 \
    { 0.26862954f, 0.26130258f, 0.27577711f }

static const chain_case CHAINS[] = {
    {"openai_clip_tv", "noise", 333, 251, 0, 256, VLM_RESAMPLE_BICUBIC, VLM_CROP_TORCHVISION,
     OPENAI_MEAN, OPENAI_STD},
    {"openai_clip_tv", "gradient", 251, 333, 0, 256, VLM_RESAMPLE_BICUBIC, VLM_CROP_TORCHVISION,
     OPENAI_MEAN, OPENAI_STD},
    {"openai_clip_tv", "edges", 640, 479, 0, 256, VLM_RESAMPLE_BICUBIC, VLM_CROP_TORCHVISION,
     OPENAI_MEAN, OPENAI_STD},
    {"openai_clip_tv", "noise", 37, 53, 0, 256, VLM_RESAMPLE_BICUBIC, VLM_CROP_TORCHVISION,
     OPENAI_MEAN, OPENAI_STD},
    {"mobileclip",
     "noise",
     640,
     479,
     0,
     256,
     VLM_RESAMPLE_BILINEAR,
     VLM_CROP_TORCHVISION,
     {0, 0, 0},
     {1, 1, 1}},
    {"fastvlm",
     "noise",
     333,
     251,
     1,
     1024,
     VLM_RESAMPLE_BICUBIC,
     VLM_CROP_HF,
     {0, 0, 0},
     {1, 1, 1}},
    {"llava15_clip336", "gradient", 251, 333, 1, 336, VLM_RESAMPLE_BICUBIC, VLM_CROP_HF,
     OPENAI_MEAN, OPENAI_STD},
    {"hf_clip_no_pad", "edges", 339, 250, 0, 224, VLM_RESAMPLE_BICUBIC, VLM_CROP_HF, OPENAI_MEAN,
     OPENAI_STD},
};
#define N_CHAINS (sizeof CHAINS / sizeof CHAINS[0])

Test(image, full_chains_match_pil_and_numpy) {
    sbuf py = {0};
    sb_printf(&py, "CASES = [\n");
    for (size_t i = 0; i < N_CHAINS; i++) {
        const chain_case *c = &CHAINS[i];
        sb_printf(&py,
                  "    ('%s', %d, %d, %d, %d, '%s', '%s', (%.9g, %.9g, %.9g), "
                  "(%.9g, %.9g, %.9g)),\n",
                  c->kind, c->w, c->h, c->pad, c->shortest, filter_name(c->filter),
                  c->crop == VLM_CROP_HF ? "hf" : "tv", c->mean[0], c->mean[1], c->mean[2],
                  c->std[0], c->std[1], c->std[2]);
    }
    sb_printf(&py, "]\n"
                   "def expand2square(im, bg):\n"
                   "    w, h = im.size\n"
                   "    if w == h:\n"
                   "        return im\n"
                   "    r = Image.new(im.mode, (max(w, h), max(w, h)), bg)\n"
                   "    r.paste(im, ((max(w, h) - w) // 2, (max(w, h) - h) // 2))\n"
                   "    return r\n"
                   "for i, (kind, w, h, pad, s, f, crop, mean, std) in enumerate(CASES):\n"
                   "    a = make(kind, w, h)\n"
                   "    put(f'in_{i}.rgb', a)\n"
                   "    im = Image.fromarray(a)\n"
                   "    if pad:\n"
                   "        im = expand2square(im, tuple(int(x * 255) for x in mean))\n"
                   "    w, h = im.size\n"
                   "    short, long = (w, h) if w <= h else (h, w)\n"
                   "    nl = int(s * long / short)\n"
                   "    im = im.resize((s, nl) if w <= h else (nl, s), F[f])\n"
                   "    w, h = im.size\n"
                   "    if crop == 'tv':\n"
                   "        top, left = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))\n"
                   "    else:\n"
                   "        top, left = (h - s) // 2, (w - s) // 2\n"
                   "    a = np.asarray(im)[top:top + s, left:left + s]\n"
                   "    m, sd = np.array(mean, np.float32), np.array(std, np.float32)\n"
                   "    if crop == 'tv':  # torchvision ToTensor + Normalize, float32\n"
                   "        t = (a.astype(np.float32) / np.float32(255) - m) / sd\n"
                   "    else:  # transformers rescale (float64 * 1/255 -> float32) + normalize\n"
                   "        t = ((a.astype(np.float64) * (1 / 255)).astype(np.float32) - m) / sd\n"
                   "    put(f'chain_{i}.f32', t.transpose(2, 0, 1).astype('<f4'))\n");
    python(py.s);
    free(py.s);

    for (size_t i = 0; i < N_CHAINS; i++) {
        const chain_case *c = &CHAINS[i];
        char in[32], gold[32];
        snprintf(in, sizeof in, "in_%zu.rgb", i);
        snprintf(gold, sizeof gold, "chain_%zu.f32", i);
        vlm_image src = load_raw(in, c->w, c->h), sq = {0}, rs = {0}, cc = {0};
        vlm_error err = {0};
        const vlm_image *cur = &src;
        if (c->pad) {
            uint8_t bg[3];
            vlm_image_pad_colour_llava((double[3]){c->mean[0], c->mean[1], c->mean[2]}, bg);
            cr_assert_eq(vlm_image_pad_square(cur, bg, &sq, &err), VLM_OK, "%s", err.msg);
            cur = &sq;
        }
        cr_assert_eq(vlm_image_resize_shortest(cur, c->shortest, c->filter, &rs, &err), VLM_OK,
                     "%s", err.msg);
        cr_assert_eq(vlm_image_center_crop(&rs, c->shortest, c->shortest, c->crop, &cc, &err),
                     VLM_OK, "%s", err.msg);
        size_t n = (size_t)3 * c->shortest * c->shortest, len;
        float *t = malloc(n * sizeof *t);
        vlm_image_to_tensor(&cc, c->mean, c->std, t);
        float *want = (float *)slurp(tpath(gold), &len);
        cr_assert_eq(len, n * sizeof(float), "%s: %zu bytes", gold, len);
        double worst = 0, worst_levels = 0;
        size_t plane = n / 3;
        for (size_t j = 0; j < n; j++) {
            double dlt = fabs((double)t[j] - want[j]);
            worst = dlt > worst ? dlt : worst;
            double levels = dlt * c->std[j / plane] * 255;
            worst_levels = levels > worst_levels ? levels : worst_levels;
        }
        fprintf(stderr, "chain %-16s %-8s %4dx%-4d -> [3,%d,%d]: max |diff| %.3g (%.3g levels)\n",
                c->pipeline, c->kind, c->w, c->h, c->shortest, c->shortest, worst, worst_levels);
        cr_expect_leq(worst_levels, 1.0, "chain %zu: %.3g levels", i, worst_levels);
        free(t);
        free(want);
        vlm_image_free(&src);
        vlm_image_free(&sq);
        vlm_image_free(&rs);
        vlm_image_free(&cc);
    }
}

Test(image, to_tensor_is_chw_normalised) {
    vlm_image im;
    cr_assert_eq(vlm_image_create(2, 1, &im, NULL), VLM_OK);
    const uint8_t px[6] = {0, 51, 255, 255, 102, 0};
    memcpy(im.pixels, px, 6);
    float t[6];
    vlm_image_to_tensor(&im, (float[3]){0.5f, 0, 0}, (float[3]){0.5f, 1, 2}, t);
    const float want[6] = {-1.0f, 1.0f, 0.2f, 0.4f, 0.5f, 0.0f};
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(t[i], want[i], 1e-6f, "t[%d] = %g, want %g", i, t[i], want[i]);
    vlm_image_free(&im);
}

Test(image, corrupt_jpegs_decode_like_pil) {
    /* Damaged entropy data is decoded, not refused, by PIL (libjpeg warnings are ignored): the
     * same damaged files must give PIL's pixels here. */
    python("import io\n"
           "b = io.BytesIO(); Image.fromarray(make('noise', 64, 48)).save(b, 'JPEG', quality=85)\n"
           "j = b.getvalue()\n"
           "sos = j.find(b'\\xff\\xda')\n"
           "rng = np.random.default_rng(11)\n"
           "m = open(f'{d}/jpegs.txt', 'w')\n"
           "v = open(f'{d}/refused.txt', 'w')\n"
           "for i in range(300):\n"
           "    q = bytearray(j)\n"
           "    lo = sos + 20 if i % 3 else 2\n"
           "    for _ in range(int(rng.integers(1, 4))):\n"
           "        q[int(rng.integers(lo, len(j) - 2))] = int(rng.integers(0, 256))\n"
           "    name = f'm{i:03d}'\n"
           "    open(f'{d}/{name}.jpg', 'wb').write(q)\n"
           "    try:\n"
           "        a = pil_rgb(f'{d}/{name}.jpg')\n"
           "    except Exception as e:\n"
           "        print(name, type(e).__name__, e, file=v)\n"
           "        continue\n"
           "    put(f'exp_{name}.rgb', a)\n"
           "    print(name, a.shape[1], a.shape[0], file=m)\n");
    char names[300][64];
    int wh[300][2];
    int n = read_manifest("jpegs.txt", names, wh, 300), worst = 0, same = 0;
    for (int i = 0; i < n; i++) {
        char file[96], exp[96];
        snprintf(file, sizeof file, "%.63s.jpg", names[i]);
        snprintf(exp, sizeof exp, "exp_%.63s.rgb", names[i]);
        vlm_image im = {0};
        vlm_error err = {0};
        vlm_status st = vlm_image_read(tpath(file), &im, &err);
        cr_expect_eq(st, VLM_OK, "%s: PIL decodes it, we refuse: %s", file, err.msg);
        if (st != VLM_OK)
            continue;
        size_t nd;
        int dlt = max_diff_vs(&im, exp, wh[i][0], wh[i][1], &nd);
        cr_expect_eq(dlt, 0, "%s: max diff %d vs PIL", file, dlt);
        worst = dlt > worst ? dlt : worst;
        same += dlt == 0;
        vlm_image_free(&im);
    }
    char *refused = read_text("refused.txt");
    int n_refused = 0, we_refuse_too = 0;
    for (char *line = strtok(refused, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64], file[96];
        cr_assert_eq(sscanf(line, "%63s", name), 1);
        snprintf(file, sizeof file, "%s.jpg", name);
        vlm_image im = {0};
        vlm_error err = {0};
        vlm_status st = vlm_image_read(tpath(file), &im, &err);
        cr_expect_neq(st, VLM_OK, "%s: PIL refuses it (%s), we decode it", file, line);
        cr_expect(st == VLM_OK || st == VLM_ERR_FORMAT, "%s: %s", file, err.msg);
        fprintf(stderr, "  PIL: %s\n  we:  %s\n", line, err.msg);
        n_refused++;
        we_refuse_too += st != VLM_OK;
        vlm_image_free(&im);
    }
    free(refused);
    fprintf(stderr,
            "corrupt JPEGs: PIL decodes %d, ours identical on %d (max diff %d); PIL refuses %d, "
            "we refuse %d of those\n",
            n, same, worst, n_refused, we_refuse_too);
}
