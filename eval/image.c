#include "eval/eval.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
/* libjpeg's headers use FILE: they come after stdio.h */
#include <jerror.h>
#include <jpeglib.h>

/* Images are decoded, resized and cropped the way the reference pipelines do it with Pillow
 * (src/libImaging/Resample.c, Convert.c, Unpack.c, JpegImagePlugin.py, PngImagePlugin.py;
 * tested against Debian 12's Pillow 9.4), torchvision and transformers. This file is compiled
 * with -ffp-contract=off: the resampling weights must round exactly as Pillow's (no FMA). */

/* ---- create / free ------------------------------------------------------------------------ */

/* Allocates out's pixels (uninitialised unless zero). */
static vlm_status image_alloc(int width, int height, int zero, vlm_image *out, vlm_error *err) {
    *out = (vlm_image){0};
    if (width < 1 || height < 1)
        return vlm_error_set(err, VLM_ERR_INVALID, "image size %dx%d: must be at least 1x1", width,
                             height);
    size_t bytes = (size_t)width * (size_t)height * 3;
    uint8_t *p = zero ? calloc(bytes, 1) : malloc(bytes);
    if (!p)
        return vlm_error_set(err, VLM_ERR_NOMEM, "image %dx%d: cannot allocate %zu bytes", width,
                             height, bytes);
    *out = (vlm_image){.width = width, .height = height, .pixels = p};
    return VLM_OK;
}

vlm_status vlm_image_create(int width, int height, vlm_image *out, vlm_error *err) {
    return image_alloc(width, height, 1, out, err);
}

void vlm_image_free(vlm_image *img) {
    if (!img)
        return;
    free(img->pixels);
    *img = (vlm_image){0};
}

static vlm_status too_large(const char *name, unsigned long w, unsigned long h, vlm_error *err) {
    return vlm_error_set(err, VLM_ERR_UNSUPPORTED,
                         "%s: image %lux%lu exceeds %d pixels (refused as a decompression bomb, "
                         "as Pillow does)",
                         name, w, h, VLM_IMAGE_MAX_PIXELS);
}

/* ---- JPEG (libjpeg-turbo) ----------------------------------------------------------------- */

/* libjpeg reports fatal errors through error_exit, which must not return: it longjmps back to
 * the decode or encode job with the formatted message. */
typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr; /* first: libjpeg sees &mgr as cinfo->err */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_fail_exit(j_common_ptr cinfo) {
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->mgr.format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

/* Warnings (level -1) are ignored as PIL ignores them ("Corrupt JPEG data: ..."), except
 * running out of data: libjpeg would pad a truncated file with grey, PIL refuses it ("image
 * file is truncated", even when only the EOI marker is missing). */
static void jpeg_fail_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        jpeg_fail_exit(cinfo);
}

static void jpeg_fail_init(jpeg_fail *f) {
    jpeg_std_error(&f->mgr);
    f->mgr.error_exit = jpeg_fail_exit;
    f->mgr.emit_message = jpeg_fail_message;
    f->msg[0] = '\0';
}

/* Everything the decode touches lives here, outside the function that calls setjmp, so that
 * nothing is indeterminate after a longjmp and the caller can free what was allocated. */
typedef struct jpeg_decode_job {
    const uint8_t *data;
    size_t bytes;
    struct jpeg_decompress_struct cinfo;
    jpeg_fail fail;
    int created;    /* cinfo initialised */
    int oversize;   /* the header declared more than VLM_IMAGE_MAX_PIXELS */
    int nomem;      /* an allocation failed */
    uint8_t *row;   /* owned: one decoded scanline */
    vlm_image *out; /* pixels allocated here */
} jpeg_decode_job;

static inline uint8_t muldiv255(int a, int b) {
    int t = a * b + 128; /* PIL's MULDIV255: a * b / 255 rounded */
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* One decoded scanline of `components` channels to RGB, as PIL's convert("RGB") does. */
static void jpeg_row_to_rgb(const uint8_t *in, int components, int width, uint8_t *rgb) {
    for (int x = 0; x < width; x++, rgb += 3) {
        if (components == 1) {
            rgb[0] = rgb[1] = rgb[2] = in[x];
        } else if (components == 3) {
            memcpy(rgb, in + 3 * x, 3);
        } else {
            /* PIL reads every 4-channel JPEG as "CMYK;I" (Adobe's inverted CMYK: each sample
             * inverted), then cmyk2rgb: channel = nk - c * nk / 255 with nk = 255 - k. */
            const uint8_t *p = in + 4 * x;
            int k = 255 - p[3], nk = 255 - k;
            for (int c = 0; c < 3; c++)
                rgb[c] = (uint8_t)(nk - muldiv255(255 - p[c], nk));
        }
    }
}

static int jpeg_decode_run(jpeg_decode_job *j) {
    if (setjmp(j->fail.jump))
        return -1;
    struct jpeg_decompress_struct *ci = &j->cinfo;
    jpeg_create_decompress(ci);
    j->created = 1;
    jpeg_mem_src(ci, j->data, (unsigned long)j->bytes);
    jpeg_read_header(ci, TRUE);
    /* PIL's mode comes from the component count (1 L, 3 RGB, 4 CMYK); libjpeg guesses the
     * file's colour space (JFIF/Adobe markers) and converts to what PIL asks for. */
    switch (ci->num_components) {
    case 1: ci->out_color_space = JCS_GRAYSCALE; break;
    case 3: ci->out_color_space = JCS_RGB; break;
    case 4: ci->out_color_space = JCS_CMYK; break;
    default:
        snprintf(j->fail.msg, sizeof j->fail.msg, "cannot handle %d-component images",
                 ci->num_components);
        return -1;
    }
    if ((unsigned long long)ci->image_width * ci->image_height > VLM_IMAGE_MAX_PIXELS) {
        j->oversize = 1;
        return -1;
    }
    jpeg_start_decompress(ci);
    int w = (int)ci->output_width, h = (int)ci->output_height, n = ci->output_components;
    if (image_alloc(w, h, 0, j->out, NULL) != VLM_OK || !(j->row = malloc((size_t)w * (size_t)n))) {
        j->nomem = 1;
        return -1;
    }
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        JSAMPROW rows[1] = {j->row};
        jpeg_read_scanlines(ci, rows, 1);
        jpeg_row_to_rgb(j->row, n, w, j->out->pixels + (size_t)y * w * 3);
    }
    jpeg_finish_decompress(ci);
    return 0;
}

static vlm_status jpeg_decode(const uint8_t *data, size_t bytes, const char *name, vlm_image *out,
                              vlm_error *err) {
    jpeg_decode_job *j = calloc(1, sizeof *j);
    if (!j)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", name);
    j->data = data;
    j->bytes = bytes;
    j->out = out;
    jpeg_fail_init(&j->fail);
    j->cinfo.err = &j->fail.mgr;
    vlm_status st = VLM_OK;
    if (jpeg_decode_run(j) != 0) {
        vlm_image_free(out);
        if (j->oversize)
            st = too_large(name, j->cinfo.image_width, j->cinfo.image_height, err);
        else if (j->nomem)
            st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name,
                               j->cinfo.output_width, j->cinfo.output_height);
        else
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: bad JPEG: %s", name, j->fail.msg);
    }
    if (j->created)
        jpeg_destroy_decompress(&j->cinfo);
    free(j->row);
    free(j);
    return st;
}

typedef struct jpeg_encode_job {
    const vlm_image *img;
    int quality;
    struct jpeg_compress_struct cinfo;
    jpeg_fail fail;
    int created;
    unsigned char *buf; /* owned by the job until handed out; libjpeg may realloc it */
    unsigned long size;
} jpeg_encode_job;

static int jpeg_encode_run(jpeg_encode_job *j) {
    if (setjmp(j->fail.jump))
        return -1;
    struct jpeg_compress_struct *ci = &j->cinfo;
    jpeg_create_compress(ci);
    j->created = 1;
    jpeg_mem_dest(ci, &j->buf, &j->size);
    ci->image_width = (JDIMENSION)j->img->width;
    ci->image_height = (JDIMENSION)j->img->height;
    ci->input_components = 3;
    ci->in_color_space = JCS_RGB;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, j->quality, TRUE);
    jpeg_start_compress(ci, TRUE);
    while (ci->next_scanline < ci->image_height) {
        JSAMPROW rows[1] = {j->img->pixels + (size_t)ci->next_scanline * j->img->width * 3};
        jpeg_write_scanlines(ci, rows, 1);
    }
    jpeg_finish_compress(ci);
    return 0;
}

vlm_status vlm_image_encode_jpeg(const vlm_image *img, int quality, uint8_t **jpeg, size_t *bytes,
                                 vlm_error *err) {
    *jpeg = NULL;
    *bytes = 0;
    if (quality < 1 || quality > 100)
        return vlm_error_set(err, VLM_ERR_INVALID, "JPEG quality %d: must be 1..100", quality);
    if (!img->pixels || img->width < 1 || img->height < 1 || img->width > JPEG_MAX_DIMENSION ||
        img->height > JPEG_MAX_DIMENSION)
        return vlm_error_set(err, VLM_ERR_INVALID, "JPEG encode: image %dx%d (1..%d per side)",
                             img->width, img->height, (int)JPEG_MAX_DIMENSION);
    jpeg_encode_job *j = calloc(1, sizeof *j);
    if (!j)
        return vlm_error_set(err, VLM_ERR_NOMEM, "JPEG encode: out of memory");
    j->img = img;
    j->quality = quality;
    jpeg_fail_init(&j->fail);
    j->cinfo.err = &j->fail.mgr;
    vlm_status st = VLM_OK;
    if (jpeg_encode_run(j) == 0) {
        *jpeg = j->buf;
        *bytes = j->size;
        j->buf = NULL;
    } else {
        st = vlm_error_set(err, VLM_ERR_INTERNAL, "JPEG encode: %s", j->fail.msg);
    }
    if (j->created)
        jpeg_destroy_compress(&j->cinfo);
    free(j->buf);
    free(j);
    return st;
}

/* ---- PNG (libpng) -------------------------------------------------------------------------- */

typedef struct png_decode_job {
    const uint8_t *data;
    size_t bytes, pos;
    png_structp png;
    png_infop info;
    char msg[256];
    int oversize, nomem;
    png_uint_32 width, height;
    uint8_t palette[256][3]; /* index -> RGB, for palette images */
    uint8_t *raw;            /* owned: the decoded rows, libpng's layout */
    png_bytep *rows;         /* owned: row pointers into raw */
    vlm_image *out;          /* pixels allocated here */
} png_decode_job;

static void png_fail(png_structp png, png_const_charp msg) {
    png_decode_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n) {
    png_decode_job *j = png_get_io_ptr(png);
    if (n > j->bytes - j->pos)
        png_error(png, "truncated (unexpected end of data)");
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

static int png_decode_run(png_decode_job *j) {
    if (setjmp(png_jmpbuf(j->png)))
        return -1;
    png_structp png = j->png;
    png_set_read_fn(png, j, png_read_mem);
    /* CRC errors are fatal in every chunk: PIL refuses a bad checksum in any chunk before the
     * image data (it does not check IDAT's; libpng does and we keep that). */
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, j->info);
    int depth, type;
    png_get_IHDR(png, j->info, &j->width, &j->height, &depth, &type, NULL, NULL, NULL);
    if ((unsigned long long)j->width * j->height > VLM_IMAGE_MAX_PIXELS) {
        j->oversize = 1;
        return -1;
    }
    /* To 8-bit palette indices, gray, gray+alpha, RGB or RGBA; alpha (and tRNS) is ignored
     * below. PIL unpacks 16-bit samples to their high byte (RGB;16B, RGBA;16B, LA;16B) except
     * 16-bit greyscale, which it holds as 32-bit "I" and clips to 255 in convert. */
    int grey16 = type == PNG_COLOR_TYPE_GRAY && depth == 16;
    int indexed = type == PNG_COLOR_TYPE_PALETTE;
    if (indexed) {
        /* PIL's palette starts as the grey ramp (i, i, i) and PLTE overwrites its first
         * entries, so an index past a short PLTE is grey, not libpng's black. */
        png_colorp plte = NULL;
        int n = 0;
        png_get_PLTE(png, j->info, &plte, &n);
        for (int i = 0; i < 256; i++) {
            j->palette[i][0] = j->palette[i][1] = j->palette[i][2] = (uint8_t)i;
            if (i < n)
                memcpy(j->palette[i], (uint8_t[3]){plte[i].red, plte[i].green, plte[i].blue}, 3);
        }
        if (depth < 8)
            png_set_packing(png); /* one index per byte */
    }
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png); /* scales to 0..255, as PIL's L;2, L;4 and "1" */
    if (depth == 16 && !grey16)
        png_set_strip_16(png); /* drops the low byte */
    png_set_interlace_handling(png);
    png_read_update_info(png, j->info);

    size_t rowbytes = png_get_rowbytes(png, j->info);
    int channels = png_get_channels(png, j->info);
    int w = (int)j->width, h = (int)j->height;
    if (image_alloc(w, h, 0, j->out, NULL) != VLM_OK || !(j->raw = malloc(rowbytes * (size_t)h)) ||
        !(j->rows = malloc(sizeof *j->rows * h))) {
        j->nomem = 1;
        return -1;
    }
    for (int y = 0; y < h; y++)
        j->rows[y] = j->raw + rowbytes * (size_t)y;
    png_read_image(png, j->rows);

    for (int y = 0; y < h; y++) {
        const uint8_t *in = j->rows[y];
        uint8_t *rgb = j->out->pixels + (size_t)y * w * 3;
        for (int x = 0; x < w; x++, rgb += 3) {
            if (indexed) {
                memcpy(rgb, j->palette[in[x]], 3);
            } else if (grey16) {
                unsigned v = (unsigned)in[2 * x] << 8 | in[2 * x + 1];
                rgb[0] = rgb[1] = rgb[2] = (uint8_t)(v > 255 ? 255 : v);
            } else if (channels <= 2) {
                rgb[0] = rgb[1] = rgb[2] = in[channels * x];
            } else {
                memcpy(rgb, in + channels * x, 3);
            }
        }
    }
    return 0;
}

static vlm_status png_decode(const uint8_t *data, size_t bytes, const char *name, vlm_image *out,
                             vlm_error *err) {
    png_decode_job *j = calloc(1, sizeof *j);
    if (!j)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", name);
    j->data = data;
    j->bytes = bytes;
    j->out = out;
    vlm_status st = VLM_OK;
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_fail, png_quiet);
    j->info = j->png ? png_create_info_struct(j->png) : NULL;
    if (!j->info) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    } else if (png_decode_run(j) != 0) {
        vlm_image_free(out);
        if (j->oversize)
            st = too_large(name, j->width, j->height, err);
        else if (j->nomem)
            st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name,
                               (unsigned)j->width, (unsigned)j->height);
        else
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: bad PNG: %s", name, j->msg);
    }
    png_destroy_read_struct(&j->png, j->info ? &j->info : NULL, NULL);
    free(j->raw);
    free(j->rows);
    free(j);
    return st;
}

/* ---- decode by magic ---------------------------------------------------------------------- */

vlm_status vlm_image_decode(const void *data, size_t bytes, const char *name, vlm_image *out,
                            vlm_error *err) {
    static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *p = data;
    *out = (vlm_image){0};
    if (bytes == 0)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: empty file, not an image", name);
    if (bytes >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return jpeg_decode(p, bytes, name, out, err);
    if (bytes >= 8 && !memcmp(p, PNG_MAGIC, 8))
        return png_decode(p, bytes, name, out, err);
    char head[3 * 8] = "";
    for (size_t i = 0, at = 0; i < bytes && i < 8; i++)
        at += (size_t)snprintf(head + at, sizeof head - at, "%s%02x", i ? " " : "", p[i]);
    return vlm_error_set(err, VLM_ERR_FORMAT, "%s: not a JPEG or PNG image (starts with %s)", name,
                         head);
}

vlm_status vlm_image_read(const char *path, vlm_image *out, vlm_error *err) {
    *out = (vlm_image){0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return vlm_error_set(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vlm_status st = VLM_OK;
    uint8_t *buf = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = vlm_error_set(err, VLM_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    size_t n = (size_t)sb.st_size;
    if (!(buf = malloc(n ? n : 1))) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
        goto done;
    }
    if (fread(buf, 1, n, f) != n) {
        st = vlm_error_set(err, VLM_ERR_IO, "%s: read failed: %s", path,
                           ferror(f) ? strerror(errno) : "file shrank");
        goto done;
    }
    st = vlm_image_decode(buf, n, path, out, err);
done:
    free(buf);
    fclose(f);
    return st;
}

/* ---- resize: Pillow's Resample.c ---------------------------------------------------------- */

static double bilinear_filter(double x) {
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic convolution with a = -0.5, written term for term as Pillow evaluates it. */
static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static const struct {
    double (*fn)(double x);
    double support; /* radius in input pixels at scale 1 */
} FILTERS[] = {
    [VLM_RESAMPLE_BILINEAR] = {bilinear_filter, 1.0},
    [VLM_RESAMPLE_BICUBIC] = {bicubic_filter, 2.0},
};

/* 8 bits of result plus 2 bits of headroom for negative lobes and sums above 1. */
#define PRECISION_BITS (32 - 8 - 2)

/* The taps of one resampling pass: output pixel i reads count[i] inputs from first[i]. */
typedef struct taps {
    int ksize;      /* coefficients stored per output pixel */
    int *first;     /* [out] first input index */
    int *count;     /* [out] inputs used */
    int32_t *coeff; /* [out][ksize] weights in PRECISION_BITS fixed point, summing to ~1 */
} taps;

static void taps_free(taps *t) {
    free(t->first);
    free(t->count);
    free(t->coeff);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size). */
static vlm_status taps_make(int in_size, int out_size, vlm_resample filter, taps *t,
                            vlm_error *err) {
    *t = (taps){0};
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = FILTERS[filter].support * filterscale; /* antialias: widen to downscale */
    double ss = 1.0 / filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = malloc(sizeof *w * ksize);
    t->ksize = ksize;
    t->first = malloc(sizeof *t->first * out_size);
    t->count = malloc(sizeof *t->count * out_size);
    t->coeff = calloc((size_t)out_size * ksize, sizeof *t->coeff);
    if (!w || !t->first || !t->count || !t->coeff) {
        free(w);
        taps_free(t);
        return vlm_error_set(err, VLM_ERR_NOMEM, "resize %d -> %d: out of memory", in_size,
                             out_size);
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5); /* truncation toward zero, as in Pillow */
        if (lo < 0)
            lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size)
            hi = in_size;
        int n = hi - lo;
        double sum = 0.0;
        for (int x = 0; x < n; x++) {
            w[x] = FILTERS[filter].fn((x + lo - center + 0.5) * ss);
            sum += w[x];
        }
        int32_t *k = t->coeff + (size_t)i * ksize;
        for (int x = 0; x < n; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            v *= (1 << PRECISION_BITS);
            k[x] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5); /* round half away from zero */
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
    free(w);
    return VLM_OK;
}

/* Pillow's clip8: the accumulator (which started at 0.5 in fixed point) shifted and clamped. */
static inline uint8_t clip8(int32_t acc) {
    if (acc < 0)
        return 0;
    acc >>= PRECISION_BITS;
    return (uint8_t)(acc > 255 ? 255 : acc);
}

/* Horizontal pass over rows [y0, y0 + rows) of src (width sw) into dst (width t->count). */
static void resample_rows(const uint8_t *src, int sw, int y0, int rows, const taps *t, int dw,
                          uint8_t *dst) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(y0 + y) * sw * 3;
        uint8_t *out = dst + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            const int32_t *k = t->coeff + (size_t)x * t->ksize;
            const uint8_t *p = in + (size_t)t->first[x] * 3;
            int32_t a0 = 1 << (PRECISION_BITS - 1), a1 = a0, a2 = a0;
            for (int i = 0; i < t->count[x]; i++) {
                a0 += p[3 * i + 0] * k[i];
                a1 += p[3 * i + 1] * k[i];
                a2 += p[3 * i + 2] * k[i];
            }
            out[3 * x + 0] = clip8(a0);
            out[3 * x + 1] = clip8(a1);
            out[3 * x + 2] = clip8(a2);
        }
    }
}

/* Vertical pass: output row y mixes src rows t->first[y] - y0 ... of width w. acc is scratch
 * for one row (w * 3 values); summing tap by tap is exact in integers, as Pillow's order. */
static void resample_cols(const uint8_t *src, int w, int y0, const taps *t, int dh, int32_t *acc,
                          uint8_t *dst) {
    size_t n = (size_t)w * 3;
    for (int y = 0; y < dh; y++) {
        const int32_t *k = t->coeff + (size_t)y * t->ksize;
        for (size_t j = 0; j < n; j++)
            acc[j] = 1 << (PRECISION_BITS - 1);
        for (int i = 0; i < t->count[y]; i++) {
            const uint8_t *row = src + (size_t)(t->first[y] - y0 + i) * n;
            int32_t ki = k[i];
            for (size_t j = 0; j < n; j++)
                acc[j] += row[j] * ki;
        }
        uint8_t *out = dst + (size_t)y * n;
        for (size_t j = 0; j < n; j++)
            out[j] = clip8(acc[j]);
    }
}

static vlm_status image_copy(const vlm_image *src, vlm_image *out, vlm_error *err) {
    vlm_status st = image_alloc(src->width, src->height, 0, out, err);
    if (st == VLM_OK)
        memcpy(out->pixels, src->pixels, (size_t)src->width * src->height * 3);
    return st;
}

static vlm_status check_image(const vlm_image *img, const char *what, vlm_error *err) {
    if (!img || !img->pixels || img->width < 1 || img->height < 1)
        return vlm_error_set(err, VLM_ERR_INVALID, "%s: empty source image", what);
    return VLM_OK;
}

vlm_status vlm_image_resize(const vlm_image *src, int width, int height, vlm_resample filter,
                            vlm_image *out, vlm_error *err) {
    *out = (vlm_image){0};
    vlm_status st = check_image(src, "resize", err);
    if (st != VLM_OK)
        return st;
    if (filter != VLM_RESAMPLE_BILINEAR && filter != VLM_RESAMPLE_BICUBIC)
        return vlm_error_set(err, VLM_ERR_INVALID, "resize: unknown filter %d", (int)filter);
    if (width < 1 || height < 1 || (long long)width * height > VLM_IMAGE_MAX_PIXELS)
        return vlm_error_set(err, VLM_ERR_INVALID, "resize to %dx%d: size out of range", width,
                             height);
    int need_h = width != src->width, need_v = height != src->height;
    if (!need_h && !need_v)
        return image_copy(src, out, err);

    taps th = {0}, tv = {0};
    vlm_image tmp = {0};
    int32_t *acc = NULL;
    if ((st = taps_make(src->height, height, filter, &tv, err)) != VLM_OK)
        return st;
    /* Only the source rows the vertical pass reads go through the horizontal pass. */
    int y0 = need_v ? tv.first[0] : 0;
    int y1 = need_v ? tv.first[height - 1] + tv.count[height - 1] : src->height;
    const vlm_image *mid = src;
    if (need_h) {
        if ((st = taps_make(src->width, width, filter, &th, err)) != VLM_OK ||
            (st = image_alloc(width, y1 - y0, 0, &tmp, err)) != VLM_OK)
            goto done;
        resample_rows(src->pixels, src->width, y0, y1 - y0, &th, width, tmp.pixels);
        mid = &tmp;
    } else {
        y0 = 0; /* the vertical pass reads the source itself */
    }
    if (!need_v) {
        *out = tmp;
        tmp = (vlm_image){0};
        goto done;
    }
    if ((st = image_alloc(width, height, 0, out, err)) != VLM_OK)
        goto done;
    if (!(acc = malloc(sizeof *acc * (size_t)width * 3))) {
        vlm_image_free(out);
        st = vlm_error_set(err, VLM_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    resample_cols(mid->pixels, width, y0, &tv, height, acc, out->pixels);
done:
    free(acc);
    vlm_image_free(&tmp);
    taps_free(&th);
    taps_free(&tv);
    return st;
}

void vlm_image_shortest_side_size(int width, int height, int shortest, int *out_width,
                                  int *out_height) {
    int s = width <= height ? width : height, l = width <= height ? height : width;
    /* Python: int(requested_new_short * long / short); the int product is exact, the true
     * division correctly rounded as in C's double division, int() truncates. */
    int new_long = (int)((double)((long long)shortest * l) / (double)s);
    *out_width = width <= height ? shortest : new_long;
    *out_height = width <= height ? new_long : shortest;
}

vlm_status vlm_image_resize_shortest(const vlm_image *src, int shortest, vlm_resample filter,
                                     vlm_image *out, vlm_error *err) {
    *out = (vlm_image){0};
    vlm_status st = check_image(src, "resize", err);
    if (st != VLM_OK)
        return st;
    if (shortest < 1)
        return vlm_error_set(err, VLM_ERR_INVALID, "resize: shortest side %d must be >= 1",
                             shortest);
    int w, h;
    vlm_image_shortest_side_size(src->width, src->height, shortest, &w, &h);
    return vlm_image_resize(src, w, h, filter, out, err);
}

/* Offset of a crop in a margin of d >= 0 pixels. */
static int crop_offset(int d, vlm_crop_rule rule) {
    int k = d / 2;
    /* torchvision: int(round(d / 2.0)); Python rounds k + 0.5 to the even neighbour */
    if (rule == VLM_CROP_TORCHVISION && (d & 1) && (k & 1))
        k++;
    return k;
}

vlm_status vlm_image_center_crop(const vlm_image *src, int width, int height, vlm_crop_rule rule,
                                 vlm_image *out, vlm_error *err) {
    *out = (vlm_image){0};
    vlm_status st = check_image(src, "center crop", err);
    if (st != VLM_OK)
        return st;
    if (rule != VLM_CROP_TORCHVISION && rule != VLM_CROP_HF)
        return vlm_error_set(err, VLM_ERR_INVALID, "center crop: unknown rule %d", (int)rule);
    if (width < 1 || height < 1 || width > src->width || height > src->height)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "center crop %dx%d of a %dx%d image: the crop must fit inside", width,
                             height, src->width, src->height);
    if ((st = image_alloc(width, height, 0, out, err)) != VLM_OK)
        return st;
    int left = crop_offset(src->width - width, rule), top = crop_offset(src->height - height, rule);
    for (int y = 0; y < height; y++)
        memcpy(out->pixels + (size_t)y * width * 3,
               src->pixels + ((size_t)(top + y) * src->width + left) * 3, (size_t)width * 3);
    return VLM_OK;
}

vlm_status vlm_image_pad_square(const vlm_image *src, const uint8_t background[3], vlm_image *out,
                                vlm_error *err) {
    *out = (vlm_image){0};
    vlm_status st = check_image(src, "pad to square", err);
    if (st != VLM_OK)
        return st;
    int w = src->width, h = src->height, side = w > h ? w : h;
    if ((st = image_alloc(side, side, 0, out, err)) != VLM_OK)
        return st;
    size_t n = (size_t)side * side;
    for (size_t i = 0; i < n; i++)
        memcpy(out->pixels + 3 * i, background, 3);
    int left = (side - w) / 2, top = (side - h) / 2;
    for (int y = 0; y < h; y++)
        memcpy(out->pixels + ((size_t)(top + y) * side + left) * 3, src->pixels + (size_t)y * w * 3,
               (size_t)w * 3);
    return VLM_OK;
}

void vlm_image_pad_colour_llava(const double mean[3], uint8_t background[3]) {
    for (int c = 0; c < 3; c++) {
        double v = mean[c] * 255; /* Python int(): truncation toward zero */
        background[c] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)v);
    }
}

void vlm_image_to_tensor(const vlm_image *img, const float mean[3], const float std[3],
                         float *out) {
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            out[c * plane + i] = ((float)img->pixels[3 * i + c] / 255.0f - mean[c]) / std[c];
}
