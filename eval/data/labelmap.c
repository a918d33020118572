/* Label maps: annotation PNGs decoded to their stored values (not colours), as mmseg loads them
 * with mmcv.imfrombytes(flag="unchanged", backend="pillow"), i.e. np.array(PIL image):
 *   palette ("P", VOC):       the indices;
 *   8-bit grey ("L", ADE20K): the grey values;
 *   2/4-bit grey:             PIL scales them to 0..255 ("L;2", "L;4"), so do we;
 *   1-bit grey ("1"):         0 / 1 (NumPy bool);
 *   16-bit grey ("I;16"):     the 16-bit values (NYUv2 depth in millimetres).
 * Colour PNGs are not label maps (mmseg would get an H x W x 3 array) and are refused.
 * eval/image.c converts everything to RGB, which is right for images and wrong here. */
#include "eval/eval.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct label_job {
    const uint8_t *data;
    size_t bytes, pos;
    const char *name;
    char msg[256];
    png_structp png;
    png_infop info;
    uint8_t *raw;
    png_bytep *rows;
} label_job;

static void on_error(png_structp png, png_const_charp msg) {
    label_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png, (void)msg;
}

static void read_mem(png_structp png, png_bytep dst, size_t n) {
    label_job *j = png_get_io_ptr(png);
    if (n > j->bytes - j->pos)
        png_error(png, "truncated (unexpected end of data)");
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

/* Returns 0 on success, 1 on a libpng error (j->msg), 2 on a colour PNG, 3 when too large,
 * 4 out of memory. */
static int run(label_job *j, vlm_label_map *out) {
    if (setjmp(png_jmpbuf(j->png)))
        return 1;
    png_structp png = j->png;
    png_set_read_fn(png, j, read_mem);
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, j->info);
    png_uint_32 w, h;
    int depth, type;
    png_get_IHDR(png, j->info, &w, &h, &depth, &type, NULL, NULL, NULL);
    if (type != PNG_COLOR_TYPE_GRAY && type != PNG_COLOR_TYPE_PALETTE)
        return 2;
    if ((uint64_t)w * h > VLM_IMAGE_MAX_PIXELS)
        return 3;
    if (depth < 8)
        png_set_packing(png); /* one value per byte, unscaled */
    png_set_interlace_handling(png);
    png_read_update_info(png, j->info);
    size_t rowbytes = png_get_rowbytes(png, j->info);
    j->raw = malloc(rowbytes * h);
    j->rows = malloc(h * sizeof *j->rows);
    out->values = malloc((size_t)w * h * sizeof *out->values);
    if (!j->raw || !j->rows || !out->values)
        return 4;
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = j->raw + y * rowbytes;
    png_read_image(png, j->rows);
    out->width = (int)w;
    out->height = (int)h;
    out->bits = depth == 16 ? 16 : 8;
    if (depth == 16) {
        for (png_uint_32 y = 0; y < h; y++) {
            const uint8_t *r = j->rows[y]; /* PNG samples are big-endian */
            for (png_uint_32 x = 0; x < w; x++)
                out->values[(size_t)y * w + x] = r[2 * x] << 8 | r[2 * x + 1];
        }
    } else {
        /* PIL: 2- and 4-bit grey are scaled to 8 bits (v * 255 / (2^depth - 1)); 1-bit grey
         * is mode "1", 0 / 1 in NumPy; palettes keep their indices. */
        int scale = 1;
        if (type == PNG_COLOR_TYPE_GRAY && (depth == 2 || depth == 4))
            scale = 255 / ((1 << depth) - 1);
        for (png_uint_32 y = 0; y < h; y++)
            for (png_uint_32 x = 0; x < w; x++)
                out->values[(size_t)y * w + x] = j->rows[y][x] * scale;
    }
    return 0;
}

vlm_status vlm_label_map_decode_png(const void *data, size_t bytes, const char *name,
                                    vlm_label_map *out, vlm_error *err) {
    *out = (vlm_label_map){0};
    if (bytes < 8 || png_sig_cmp(data, 0, 8))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: not a PNG file", name);
    label_job *j = calloc(1, sizeof *j);
    if (!j)
        return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", name);
    j->data = data;
    j->bytes = bytes;
    j->name = name;
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, on_error, on_warning);
    j->info = j->png ? png_create_info_struct(j->png) : NULL;
    vlm_status st = VLM_OK;
    int rc = j->info ? run(j, out) : 4;
    switch (rc) {
    case 0: break;
    case 1: st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: corrupt PNG: %s", name, j->msg); break;
    case 2:
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: not a label map (a colour PNG; annotations are greyscale or "
                           "palette PNGs holding class indices)",
                           name);
        break;
    case 3: st = vlm_error_set(err, VLM_ERR_UNSUPPORTED, "%s: image too large", name); break;
    default: st = vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", name); break;
    }
    if (j->png)
        png_destroy_read_struct(&j->png, j->info ? &j->info : NULL, NULL);
    free(j->raw);
    free(j->rows);
    free(j);
    if (st != VLM_OK)
        vlm_label_map_free(out);
    return st;
}

void vlm_label_map_free(vlm_label_map *m) {
    if (!m)
        return;
    free(m->values);
    *m = (vlm_label_map){0};
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

vlm_status vlm_label_map_read(const char *path, vlm_label_map *out, vlm_error *err) {
    *out = (vlm_label_map){0};
    if (has_suffix(path, ".npy") || has_suffix(path, ".bin")) {
        vlm_array a;
        vlm_status st = vlm_array_load(path, &a, err);
        if (st != VLM_OK)
            return st;
        int ok = (a.ndim == 2) || (a.ndim == 3 && a.shape[0] == 1);
        int64_t h = a.shape[a.ndim - 2], w = a.shape[a.ndim - 1];
        if (!ok || h < 1 || w < 1 || h * w > VLM_IMAGE_MAX_PIXELS) {
            vlm_array_free(&a);
            return vlm_error_set(err, VLM_ERR_FORMAT, "%s: a label map must be [H, W] or [1, H, W]",
                                 path);
        }
        if (a.dtype == VLM_ARRAY_F16 || a.dtype == VLM_ARRAY_F32 || a.dtype == VLM_ARRAY_F64) {
            vlm_array_free(&a);
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: a label map needs an integer dtype, not %s", path,
                                 vlm_array_dtype_name(a.dtype));
        }
        out->values = malloc((size_t)(h * w) * sizeof *out->values);
        if (!out->values) {
            vlm_array_free(&a);
            return vlm_error_set(err, VLM_ERR_NOMEM, "%s: out of memory", path);
        }
        if (a.dtype == VLM_ARRAY_U8) { /* the common cases without a per-element switch */
            const uint8_t *src = a.data;
            for (int64_t i = 0; i < h * w; i++)
                out->values[i] = src[i];
        } else if (a.dtype == VLM_ARRAY_I32) {
            memcpy(out->values, a.data, (size_t)(h * w) * sizeof *out->values);
        } else {
            for (int64_t i = 0; i < h * w; i++) {
                int64_t v = vlm_array_get_i64(&a, i);
                /* Values beyond int32 would wrap; clamp them to an out-of-range class. */
                out->values[i] = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
            }
        }
        out->width = (int)w;
        out->height = (int)h;
        out->bits = 32;
        vlm_array_free(&a);
        return VLM_OK;
    }
    uint8_t *buf;
    size_t len;
    vlm_status st = vlm_read_file(path, &buf, &len, (size_t)1 << 31, err);
    if (st != VLM_OK)
        return st;
    st = vlm_label_map_decode_png(buf, len, path, out, err);
    free(buf);
    return st;
}
