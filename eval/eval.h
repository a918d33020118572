/*
 * vlmbench eval: data readers and scorers. Now: .npy tensors (NumPy format 1.0/2.0/3.0 read,
 * 1.0 write), used by `vlmbench infer` and by tests; images (JPEG/PNG decode, PIL-exact resize,
 * crops, normalisation); later: archives, scorers.
 *
 *   vlm_npy a = {0};
 *   if (vlm_npy_read_f32("x.npy", &a, &err) == VLM_OK) { ... a.data[i] ...; vlm_npy_free(&a); }
 *
 *   vlm_image im = {0}, rs = {0}, cc = {0};      // MobileCLIP: shortest 256 bilinear, crop 256
 *   vlm_image_read("cat.jpg", &im, &err);
 *   vlm_image_resize_shortest(&im, 256, VLM_RESAMPLE_BILINEAR, &rs, &err);
 *   vlm_image_center_crop(&rs, 256, 256, VLM_CROP_TORCHVISION, &cc, &err);
 *   vlm_image_to_tensor(&cc, (float[3]){0, 0, 0}, (float[3]){1, 1, 1}, input); // [3,256,256]
 */
#ifndef VLM_EVAL_H
#define VLM_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VLM_NPY_MAX_DIMS 8

typedef struct vlm_npy {
    int ndim;
    int64_t shape[VLM_NPY_MAX_DIMS];
    int64_t count; /* product of shape (1 for a 0-d array) */
    float *data;   /* owned: count floats, C order */
} vlm_npy;

/* Reads a .npy file holding little-endian float32, float64 or float16 ('<f4', '<f8', '<f2')
 * in C order, converting to float32. Fortran order, other dtypes, truncated data and
 * malformed headers are VLM_ERR_FORMAT with a message naming the file and the problem. */
vlm_status vlm_npy_read_f32(const char *path, vlm_npy *out, vlm_error *err);

/* Writes a float32 C-order array as .npy format 1.0. The file is written to a temporary
 * name and renamed, so a failure never leaves a partial file at path. */
vlm_status vlm_npy_write_f32(const char *path, int ndim, const int64_t *shape,
                             const float *data, vlm_error *err);

/* Frees a's data and zeroes it. NULL is a no-op. */
void vlm_npy_free(vlm_npy *a);

/* ---- images ------------------------------------------------------------------------------
 * Pre-processing exactly as the reference Python pipelines do it with Pillow: decoding as
 * Image.open(f).convert("RGB"), resizing as Image.resize (Pillow's Resample.c: antialiased,
 * separable, fixed point), and the crop / pad / size rules of torchvision, Hugging Face
 * CLIPImageProcessor and LLaVA/FastVLM. Every function leaves *out empty ({0}) on failure;
 * src and out must be distinct. EXIF orientation is ignored, as Image.open ignores it. */

typedef struct vlm_image {
    int width, height; /* pixels */
    uint8_t *pixels;   /* owned: height rows of width RGB triplets, no padding */
} vlm_image;

typedef enum vlm_resample {
    VLM_RESAMPLE_BILINEAR, /* PIL Image.BILINEAR: triangle filter, support 1 */
    VLM_RESAMPLE_BICUBIC,  /* PIL Image.BICUBIC: cubic convolution a = -0.5, support 2 */
} vlm_resample;

/* Centre-crop offset rule for an odd margin d = size - crop (they differ when d = 4k + 3). */
typedef enum vlm_crop_rule {
    VLM_CROP_TORCHVISION, /* torchvision CenterCrop (open_clip, MobileCLIP): int(round(d / 2.0)),
                             Python's round half to even */
    VLM_CROP_HF,          /* transformers image_transforms.center_crop (CLIPImageProcessor,
                             LLaVA, FastVLM): d // 2 */
} vlm_crop_rule;

/* Images larger than this many pixels are refused (VLM_ERR_UNSUPPORTED), as Pillow refuses
 * them as decompression bombs (2 * Image.MAX_IMAGE_PIXELS). */
#define VLM_IMAGE_MAX_PIXELS 178956970

/* A width x height image of zeros (black). Sizes < 1 are VLM_ERR_INVALID. */
vlm_status vlm_image_create(int width, int height, vlm_image *out, vlm_error *err);

/* Decodes a JPEG or PNG held in memory (format from the magic bytes) to RGB8 as PIL's
 * Image.open(...).convert("RGB") does, pixel for pixel:
 *   JPEG: greyscale replicated; a 4-channel file is Adobe inverted CMYK (YCCK converted to CMYK
 *         by libjpeg), then PIL's cmyk2rgb; libjpeg's default islow IDCT and fancy upsampling.
 *   PNG:  palette expanded (an index past a short PLTE is PIL's grey (i, i, i)); alpha and tRNS
 *         dropped without compositing; 16-bit RGB(A) and grey+alpha reduced to the high byte,
 *         but 16-bit greyscale clipped to 255 (PIL's "I" -> "RGB": values >= 255 turn white).
 * name (borrowed) is the file or archive member named in error messages. Truncated or corrupt
 * data (bad marker, bad CRC, premature end) is VLM_ERR_FORMAT; libjpeg's warnings about
 * corrupt entropy data are ignored, as PIL ignores them. */
vlm_status vlm_image_decode(const void *data, size_t bytes, const char *name, vlm_image *out,
                            vlm_error *err);

/* Reads and decodes a JPEG or PNG file. A missing or unreadable file is VLM_ERR_IO, an empty
 * one VLM_ERR_FORMAT; otherwise as vlm_image_decode. */
vlm_status vlm_image_read(const char *path, vlm_image *out, vlm_error *err);

/* Encodes img as a baseline JPEG (libjpeg defaults: YCbCr 4:2:0, integer DCT) of quality
 * 1..100. *jpeg (owned, free() it) gets the bytes, *bytes their count. */
vlm_status vlm_image_encode_jpeg(const vlm_image *img, int quality, uint8_t **jpeg, size_t *bytes,
                                 vlm_error *err);

/* Resizes to width x height as PIL's Image.resize(size, filter) does, bit for bit: support
 * scaled by the downscale factor, per-pixel normalised weights in 22-bit fixed point,
 * horizontal pass then vertical, each rounded and clipped to uint8, a pass skipped when its
 * dimension is unchanged. */
vlm_status vlm_image_resize(const vlm_image *src, int width, int height, vlm_resample filter,
                            vlm_image *out, vlm_error *err);

/* The size "resize the shortest side to shortest, keep the aspect ratio" gives: the long side
 * becomes int(shortest * long / short), truncated. torchvision's Resize(int)
 * (_compute_resized_output_size) and transformers' get_resize_output_image_size
 * (CLIPImageProcessor size={"shortest_edge": S}) compute exactly this; a square stays square. */
void vlm_image_shortest_side_size(int width, int height, int shortest, int *out_width,
                                  int *out_height);

/* vlm_image_resize to vlm_image_shortest_side_size. */
vlm_status vlm_image_resize_shortest(const vlm_image *src, int shortest, vlm_resample filter,
                                     vlm_image *out, vlm_error *err);

/* The width x height centre of src, offsets by rule. A crop larger than src (which the Python
 * libraries would zero-pad) is VLM_ERR_INVALID. */
vlm_status vlm_image_center_crop(const vlm_image *src, int width, int height, vlm_crop_rule rule,
                                 vlm_image *out, vlm_error *err);

/* LLaVA / FastVLM expand2square: a square of side max(w, h) filled with background (RGB),
 * src pasted at ((side - w) // 2, (side - h) // 2); a square src is copied. */
vlm_status vlm_image_pad_square(const vlm_image *src, const uint8_t background[3], vlm_image *out,
                                vlm_error *err);

/* The background LLaVA and FastVLM pass to expand2square: tuple(int(x * 255) for x in
 * image_processor.image_mean), truncated (OpenAI CLIP mean -> (122, 116, 104); mean 0 -> black). */
void vlm_image_pad_colour_llava(const double mean[3], uint8_t background[3]);

/* Writes img as float32 CHW [3, height, width] into out (borrowed, 3 * height * width floats):
 * (pixel / 255 - mean[c]) / std[c], in float32 as torchvision ToTensor + Normalize compute it. */
void vlm_image_to_tensor(const vlm_image *img, const float mean[3], const float std[3], float *out);

/* Frees img's pixels and zeroes it. NULL is a no-op. */
void vlm_image_free(vlm_image *img);

/* ---- data sources: files, directories and archives (eval/data/source.c) ---------------
 * One way to read everything users bring: a plain file, a directory, or an archive (tar,
 * tar.gz, tar.bz2, tar.xz, tar.zst, zip; detected from the content by libarchive), streamed,
 * never extracted to disk.
 *
 *   vlm_source *src; vlm_source_entry e; int done = 0;
 *   if (vlm_source_open("val-000000.tar", &src, &err) != VLM_OK) return fail(&err);
 *   while (vlm_source_next(src, &e, &done, &err) == VLM_OK && !done) {
 *       uint8_t *bytes; size_t n;
 *       if (vlm_source_read(src, &bytes, &n, 64 << 20, &err) != VLM_OK) break;
 *       ... e.name, bytes[0..n) ...; free(bytes);
 *   }
 *   vlm_source_close(src);                          // err.status != VLM_OK: why it stopped */

typedef struct vlm_source vlm_source;

typedef struct vlm_source_entry {
    const char *name; /* path relative to the source root, '/'-separated ("n01440764/x.JPEG");
                       * for a plain file its base name. Valid until the next call. */
    int64_t size;     /* bytes, or -1 when the archive does not say */
} vlm_source_entry;

/* Opens path: a directory (regular files walked recursively, in byte-wise sorted path order),
 * an archive, or any other regular file (a source of one entry). Missing path: VLM_ERR_IO. */
vlm_status vlm_source_open(const char *path, vlm_source **out, vlm_error *err);

/* Moves to the next regular-file entry (directories, links and special files are skipped).
 * At the end: VLM_OK with *done = 1. A truncated or corrupt archive: VLM_ERR_FORMAT naming
 * the archive and the member. */
vlm_status vlm_source_next(vlm_source *s, vlm_source_entry *entry, int *done, vlm_error *err);

/* Reads the whole current entry into a malloc'd buffer with a terminating NUL byte (not
 * counted in *len). An entry larger than max_bytes is VLM_ERR_FORMAT ("too large"); a
 * truncated member VLM_ERR_FORMAT. Unread entries are skipped by vlm_source_next. */
vlm_status vlm_source_read(vlm_source *s, uint8_t **data, size_t *len, size_t max_bytes,
                           vlm_error *err);

/* The path given to vlm_source_open (for messages). */
const char *vlm_source_path(const vlm_source *s);

/* Closes s; NULL is a no-op. */
void vlm_source_close(vlm_source *s);

/* Reads one whole plain file (no archive handling) into a malloc'd NUL-terminated buffer. */
vlm_status vlm_read_file(const char *path, uint8_t **data, size_t *len, size_t max_bytes,
                         vlm_error *err);

/* (end of data sources) */

/* ---- MMMU and SEED-Bench scoring (eval/mmmu.c, eval/seedbench.c, eval/answer.c) ---------- */
/* (end of MMMU and SEED-Bench) */

/* ---- zero-shot classification, segmentation, dataset readers (eval/zeroshot.c, eval/seg.c,
 * eval/data/) ------------------------------------------------------------------------------ */
/* (end of zero-shot and segmentation) */

#ifdef __cplusplus
}
#endif

#endif /* VLM_EVAL_H */
