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

/* Opens path: a directory (regular files walked recursively, in byte-wise sorted path order,
 * symbolic links followed, a link back to an ancestor skipped), an archive (members in archive
 * order; a leading "./" of member names dropped), or any other regular file (a source of one
 * entry named by its base name; a single compressed file such as "vocab.txt.gz" gives one
 * entry "vocab.txt" with the decompressed bytes). Missing path: VLM_ERR_IO. */
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

/* (vlm_read_file, one whole plain file, is in engine/engine.h) */

/* (end of data sources) */

/* ---- MMMU and SEED-Bench scoring (eval/mmmu.c, eval/seedbench.c, eval/answer.c) ----------
 * Scores model answers exactly as the official code does (shared/spec/eval.md sections 1, 2,
 * 5, 6), with the popular harnesses' rules as named modes.
 *
 *   vlm_mmmu_scorer *sc;
 *   vlm_mmmu_scorer_create(VLM_MMMU_OFFICIAL, &sc, &err);
 *   vlm_mmmu_load(sc, "answer_dict_val.json", "preds.jsonl", &err);   // or items one by one
 *   json_t *score = vlm_mmmu_scorer_json(sc);                        // spec section 6
 *   vlm_mmmu_scorer_destroy(sc);
 *
 * Python semantics (spec section 5) used by the scorers, exposed for tests: strings are
 * valid UTF-8 given as (pointer, byte length); positions and lengths are in bytes unless the
 * name says code points. */

struct json_t; /* jansson's json_t */

/* Python str.isspace() of one code point (spec 5: U+0009-000D, U+001C-001F, U+0020, U+0085,
 * U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000). */
int vlm_py_isspace(uint32_t cp);

/* str.strip(): *len becomes the stripped length; returns the byte offset of its start. */
size_t vlm_py_strip(const char *s, size_t *len);

/* str.strip(c) for one ASCII character c. */
size_t vlm_py_strip_char(const char *s, size_t *len, char c);

/* len(s.split()): the number of whitespace-separated words. */
size_t vlm_py_split_count(const char *s, size_t len);

/* len(s) in code points. */
size_t vlm_py_len(const char *s, size_t len);

/* s.lower(): full Unicode lower-casing (U+0130 -> "i\u0307", final sigma). malloc'd,
 * NUL-terminated (*out_len bytes before the NUL); NULL when out of memory. */
char *vlm_py_lower(const char *s, size_t len, size_t *out_len);

/* float(s): 1 and *out when Python accepts s (Unicode whitespace around, Unicode decimal
 * digits, '_' between digits, inf/infinity/nan in any case), 0 when it raises ValueError. */
int vlm_py_float(const char *s, size_t len, double *out);

/* round(x, 2): correctly rounded, ties to even on the exact binary value. */
double vlm_py_round2(double x);

/* CPython's random.Random: MT19937 with init_by_array seeding. */
typedef struct vlm_py_random {
    uint32_t mt[624];
    int index;
} vlm_py_random;

/* random.seed(seed) for an integer seed (|seed| split into 32-bit words). */
void vlm_py_random_seed(vlm_py_random *r, int64_t seed);

/* One genrand_uint32 output. */
uint32_t vlm_py_random_u32(vlm_py_random *r);

/* random._randbelow(n) (1 <= n < 2^32): getrandbits(n.bit_length()) until < n. So
 * random.choice(seq) is seq[vlm_py_random_below(r, len(seq))]. */
uint32_t vlm_py_random_below(vlm_py_random *r, uint32_t n);

/* A PCRE2 pattern compiled with Python str-pattern semantics (UTF, UCP: \d = Nd, \w Unicode),
 * JIT-compiled, matched under a match limit so a hostile subject cannot hang the scorer. */
typedef struct vlm_regex vlm_regex;

vlm_status vlm_regex_compile(const char *pattern, vlm_regex **out, vlm_error *err);
void vlm_regex_free(vlm_regex *re);

typedef struct vlm_regex_match {
    size_t start, end; /* byte offsets of one match */
} vlm_regex_match;

/* re.findall(pattern, s) without groups: the non-overlapping matches, left to right.
 * *matches is malloc'd (free it; NULL when none). A subject that exhausts the match limit is
 * VLM_ERR_UNSUPPORTED ("regex match limit"), invalid UTF-8 VLM_ERR_FORMAT. */
vlm_status vlm_regex_findall(const vlm_regex *re, const char *s, size_t len,
                             vlm_regex_match **matches, size_t *n, vlm_error *err);

/* Calls fn once per JSON document found at path: a plain file, a directory or an archive
 * (through vlm_source; a regular file starting with '{' or '[' is read as it is). A file
 * holding one JSON value gives one call (line 1 if it is one line, else 0); a JSON Lines file
 * one call per non-blank line (line numbers from 1). name is the path, or "PATH:MEMBER".
 * fn returns VLM_OK to go on; value is borrowed for the call. Malformed JSON is
 * VLM_ERR_FORMAT "NAME:LINE:COLUMN: reason". Members larger than 1 GiB are refused. */
typedef vlm_status (*vlm_json_doc_fn)(void *ctx, const char *name, int line,
                                      struct json_t *value, vlm_error *err);
vlm_status vlm_json_source_each(const char *path, vlm_json_doc_fn fn, void *ctx,
                                vlm_error *err);

/* Calls fn once per element of the JSON array list, each of which must be an object, with
 * where = "WHERE: item I" (label "item") or "WHERE: LABEL[I]" (any other label) for messages;
 * a non-object is VLM_ERR_FORMAT "...: not an object". Stops at the first error. */
typedef vlm_status (*vlm_json_obj_fn)(void *ctx, const char *where, struct json_t *obj,
                                      vlm_error *err);
vlm_status vlm_json_each_object(struct json_t *list, const char *where, const char *label,
                                vlm_json_obj_fn fn, void *ctx, vlm_error *err);

/* -- MMMU (spec section 1) -- */

typedef enum vlm_mmmu_mode {
    VLM_MMMU_OFFICIAL,           /* MMMU main_parse_and_eval: parse, random fallback seed 42 */
    VLM_MMMU_OFFICIAL_EVAL_ONLY, /* main_eval_only: MC prediction compared verbatim */
    VLM_MMMU_LMMS_V03,           /* lmms-eval <= 2025-06-22: "X "/"X." letters, seed 0, HF gold */
    VLM_MMMU_LMMS_HEAD,          /* lmms-eval HEAD: as v03, open answers judged per character */
} vlm_mmmu_mode;

/* "official", "official_eval_only", "lmms_v03", "lmms_head"; parse: VLM_ERR_INVALID. */
const char *vlm_mmmu_mode_name(vlm_mmmu_mode mode);
vlm_status vlm_mmmu_mode_parse(const char *text, vlm_mmmu_mode *out, vlm_error *err);

/* One answer choice: letter ("A") and option text (NULL when unknown). Borrowed. */
typedef struct vlm_mmmu_choice {
    const char *letter;
    const char *text;
} vlm_mmmu_choice;

/* Multiple-choice extraction (spec 1.3, 1.7): the index into choices of the parsed letter, or
 * -1 when nothing was found (the caller then draws the random fallback). */
int vlm_mmmu_parse_choice(const char *response, size_t len, const vlm_mmmu_choice *choices,
                          int n_choices, vlm_mmmu_mode mode);

/* One normalised open-answer candidate (spec 1.4.2): a number (rounded to 2 decimals) or a
 * string. */
typedef struct vlm_mmmu_cand {
    int is_number;
    double number;
    char *str; /* owned, NUL-terminated (is_number == 0) */
    size_t len;
} vlm_mmmu_cand;

typedef struct vlm_mmmu_cands {
    vlm_mmmu_cand *v; /* owned */
    int n;
} vlm_mmmu_cands;

/* normalize_str(s) appended to out (spec 1.4.2). */
vlm_status vlm_mmmu_normalize(const char *s, size_t len, vlm_mmmu_cands *out, vlm_error *err);

/* parse_open_response (spec 1.4): the de-duplicated candidates, in first-seen order.
 * VLM_ERR_UNSUPPORTED when the number patterns hit the regex match limit. */
vlm_status vlm_mmmu_parse_open(const char *response, size_t len, vlm_mmmu_cands *out,
                               vlm_error *err);

/* eval_open (spec 1.5): gold is n_gold strings (a list gold gives several). */
int vlm_mmmu_judge_open(const vlm_mmmu_cands *pred, const char *const *gold, int n_gold);

void vlm_mmmu_cands_free(vlm_mmmu_cands *c);

/* One item to score. Borrowed strings. */
typedef struct vlm_mmmu_item {
    const char *id;                /* "validation_Art_Theory_12" */
    int multiple_choice;           /* 1: "multiple-choice"; 0: open */
    const vlm_mmmu_choice *choices; /* multiple choice: letters and option texts, in order */
    int n_choices;
    const char *const *gold; /* official gold: one string, or the elements of a list */
    int n_gold;
    const char *gold_hf; /* gold as the HF dataset stores it (lmms modes); NULL: from gold */
    const char *response; /* raw model output (eval-only MC: the submitted letter) */
    size_t response_len;
} vlm_mmmu_item;

typedef struct vlm_mmmu_scorer vlm_mmmu_scorer;

vlm_status vlm_mmmu_scorer_create(vlm_mmmu_mode mode, vlm_mmmu_scorer **out, vlm_error *err);
void vlm_mmmu_scorer_destroy(vlm_mmmu_scorer *sc);

/* Scores one item in processing order (the random fallback stream advances here). An id
 * whose subject is not one of the 30 is VLM_ERR_FORMAT. */
vlm_status vlm_mmmu_score_item(vlm_mmmu_scorer *sc, const vlm_mmmu_item *item, vlm_error *err);

/* Reads predictions (and questions, NULL when the predictions carry gold answers) in any
 * format of spec 1.1: canonical JSONL (file order), parse-and-evaluate <Subject>/output.json
 * lists (a directory or an archive; scored in byte-wise path order, the official subject
 * order), an evaluate-only {id: prediction} object, lmms-eval --log_samples JSONL; questions
 * as the official answer dict or HF records (JSON list or JSONL; their gold wins). Scores
 * every prediction; counts questions without one, unknown ids (skipped) and duplicates (all
 * scored). Warnings (duplicates, unknown ids, regex limits) go to *warnings if non-NULL
 * (malloc'd, one per line, NULL when none). Errors name the file, line and field. */
vlm_status vlm_mmmu_load(vlm_mmmu_scorer *sc, const char *questions, const char *pred,
                         char **warnings, vlm_error *err);

/* The score JSON of spec section 6 (new reference), plus "overall_no_random" (the same
 * predictions with every random fallback counted wrong), "n_unknown", "n_duplicate" and
 * "n_skipped" (regex limit). NULL when out of memory. */
struct json_t *vlm_mmmu_scorer_json(const vlm_mmmu_scorer *sc);

/* Per-item correctness (0/1) in byte-wise id order, as a new JSON array. */
struct json_t *vlm_mmmu_scorer_items(const vlm_mmmu_scorer *sc);

/* -- SEED-Bench (spec section 2) -- */

typedef enum vlm_seed_mode {
    VLM_SEED_LIKELIHOOD, /* official: smallest per-option loss */
    VLM_SEED_LMMS_EVAL,  /* first code point of the stripped output, case-insensitive */
    VLM_SEED_VLMEVALKIT, /* VLMEvalKit exact matching, no LLM judge */
} vlm_seed_mode;

const char *vlm_seed_mode_name(vlm_seed_mode mode);
vlm_status vlm_seed_mode_parse(const char *text, vlm_seed_mode *out, vlm_error *err);

/* Name of dimension 1..12 ("Scene Understanding"); NULL outside. */
const char *vlm_seed_dimension_name(int dim);

/* Likelihood prediction: index of the smallest loss, ties to the lowest index, NaN last. */
int vlm_seed_pick_loss(const double *losses, int n);

/* lmms-eval judgement of output against answer (1 correct, 0 wrong). */
int vlm_seed_judge_lmms(const char *output, size_t len, const char *answer);

/* VLMEvalKit prediction: 'A'..'D' or 'Z'. options: the 4 option texts. */
char vlm_seed_match_vlmevalkit(const char *output, size_t len, const char *const options[4]);

typedef struct vlm_seed_scorer vlm_seed_scorer;

vlm_status vlm_seed_scorer_create(vlm_seed_mode mode, vlm_seed_scorer **out, vlm_error *err);
void vlm_seed_scorer_destroy(vlm_seed_scorer *sc);

/* Reads the official question file and predictions (canonical JSONL with "response",
 * "losses" or "prediction"; lmms-eval --log_samples JSONL) and scores them. Questions
 * without a prediction are counted (n_missing); unknown ids and repeated ids are skipped and
 * counted (the first prediction of an id is scored). */
vlm_status vlm_seed_load(vlm_seed_scorer *sc, const char *questions, const char *pred,
                         char **warnings, vlm_error *err);

/* The score JSON of spec section 6 plus "n_missing", "n_unknown", "n_duplicate" and
 * "macro_image" (labelled macro average over the image dimensions with items). */
struct json_t *vlm_seed_scorer_json(const vlm_seed_scorer *sc);

/* Per-item correctness of image questions in byte-wise question_id order (JSON array). */
struct json_t *vlm_seed_scorer_items(const vlm_seed_scorer *sc);

/* (end of MMMU and SEED-Bench) */

/* ---- zero-shot classification, segmentation, dataset readers (eval/zeroshot.c, eval/seg.c,
 * eval/data/) ------------------------------------------------------------------------------ */

/* Zero-shot classification (eval/zeroshot.c), scored exactly as open_clip / CLIP_benchmark do
 * (spec eval.md section 3), in double precision:
 *
 *   double *w = malloc(D * C * sizeof *w);              // [D, C]
 *   vlm_zeroshot_classifier(text, C, T, D, w, &err);    // text: [C, T, D] raw text features
 *   vlm_zeroshot *z;
 *   vlm_zeroshot_create(w, D, C, &z, &err);
 *   for each image: vlm_zeroshot_add(z, feature, label, &err);   // feature: [D] raw
 *   vlm_zeroshot_summary s; vlm_zeroshot_get_summary(z, &s);      // s.top1, s.top5, ...
 *   vlm_zeroshot_write_json(z, "scores.json", &err);               // spec section 6
 *   vlm_zeroshot_destroy(z);
 *
 * Ties: classes are ranked by logit, descending, and equal logits by the lower class index
 * first (numpy/torch argmax behaviour; spec 3.3). So of two identical classifier columns
 * (ImageNet's duplicated "missile" and "sunglasses") the lower index is predicted, and at the
 * top-5 boundary a tied lower index is kept. */

/* Spec 3.2: w_c = normalise(mean_t normalise(text[c, t, :])), written to classifier as the
 * [dim, num_classes] row-major matrix (D rows x C columns, as the spec 6 JSON prints it).
 * text_features: [num_classes, templates, dim] raw text-tower outputs, class-major. A zero-
 * norm or non-finite template embedding, or a zero-norm mean, is VLM_ERR_INVALID naming the
 * class and template (spec 3.5: undefined upstream, rejected here). */
vlm_status vlm_zeroshot_classifier(const float *text_features, int num_classes, int templates,
                                   int dim, double *classifier, vlm_error *err);

typedef struct vlm_zeroshot vlm_zeroshot;

/* A scorer for one classifier ([dim, num_classes], copied). num_classes >= 1, dim >= 1. */
vlm_status vlm_zeroshot_create(const double *classifier, int dim, int num_classes,
                               vlm_zeroshot **out, vlm_error *err);

/* Scores one image: feature ([dim] raw image-tower output, borrowed) is L2-normalised, logits =
 * 100 * feature . W, ranked with the tie rule above. A label outside [0, num_classes) or a
 * zero-norm / non-finite feature is VLM_ERR_INVALID and the item is not counted. */
vlm_status vlm_zeroshot_add(vlm_zeroshot *z, const float *feature, int64_t label, vlm_error *err);

typedef struct vlm_zeroshot_summary {
    int64_t n;                     /* images scored */
    int num_classes, dim;
    int64_t top1_correct, top5_correct; /* top5_correct: -1 when num_classes < 5 */
    double top1, top5;             /* fractions of n; top5 NaN when num_classes < 5 (spec 3.3:
                                      undefined, JSON null); both NaN when n == 0 */
    double mean_per_class_recall;  /* mean over classes present in the labels of the top-1
                                      recall (sklearn balanced accuracy); NaN when n == 0 */
} vlm_zeroshot_summary;

void vlm_zeroshot_get_summary(const vlm_zeroshot *z, vlm_zeroshot_summary *out);

/* The k = min(5, num_classes) best classes of item i (0 <= i < n) into top (ranked, tie rule
 * above); returns k. */
int vlm_zeroshot_item_topk(const vlm_zeroshot *z, int64_t i, int32_t top[5]);

/* 1 when item i's label is its top-1 prediction, else 0. */
int vlm_zeroshot_item_top1_correct(const vlm_zeroshot *z, int64_t i);

/* Writes the spec section 6 JSON {"benchmark": "zeroshot", "n", "num_classes", "top1", "top5",
 * "mean_per_class_recall", "per_item_top5", "classifier"} (NaN as null) to path through a
 * temporary file and rename; path "-" writes to stdout. */
vlm_status vlm_zeroshot_write_json(const vlm_zeroshot *z, const char *path, vlm_error *err);

void vlm_zeroshot_destroy(vlm_zeroshot *z);

/* Scores the spec 3.4 canonical input in dir: text_features [C, T, D], image_features [N, D],
 * labels [N] (integers), each as .npy or .bin + .json (vlm_array_load). Shape mismatches, non-integer labels and the rejections above are
 * VLM_ERR_FORMAT / VLM_ERR_INVALID naming the file. *out is owned (vlm_zeroshot_destroy). */
vlm_status vlm_zeroshot_score_dir(const char *dir, vlm_zeroshot **out, vlm_error *err);

/* ---- CLIP BPE tokenizer (eval/bpe.c): OpenAI CLIP's simple_tokenizer / open_clip's
 * tokenize(), reading the standard bpe_simple_vocab_16e6.txt.gz (gzip or plain text):
 *
 *   vlm_bpe *bpe;
 *   vlm_bpe_load("bpe_simple_vocab_16e6.txt.gz", &bpe, &err);
 *   int32_t ids[77];
 *   vlm_bpe_tokenize(bpe, "a photo of a cat", 77, ids, &err); // 49406 320 1125 539 320 2368
 *   vlm_bpe_destroy(bpe);                                     //   49407 0 0 ...
 *
 * Text cleaning: ftfy.fix_text is NOT applied (documented difference: it only changes mojibake
 * and unusual characters); html.unescape is applied twice as upstream but knows only numeric
 * references and &amp; &lt; &gt; &quot; &apos; &nbsp; (other named references stay as text);
 * then runs of Python whitespace become one space, the text is stripped and lower-cased with
 * Python's full Unicode str.lower() (locale C.UTF-8 mappings plus U+0130 and final sigma). */

typedef struct vlm_bpe vlm_bpe;

/* Loads a merges file: line 0 is a header, lines 1..48894 are merges "a b" ranked by line
 * order (further lines ignored, as upstream slices merges[1:49152-256-2+1]). Vocabulary: the
 * 256 byte symbols, the same with "</w>", one entry per merge, then <|startoftext|> and
 * <|endoftext|> (49406 and 49407 for the standard file). Missing file VLM_ERR_IO; not gzip or
 * text, invalid UTF-8 or a merge line without exactly two symbols VLM_ERR_FORMAT. */
vlm_status vlm_bpe_load(const char *path, vlm_bpe **out, vlm_error *err);

void vlm_bpe_destroy(vlm_bpe *bpe);

int vlm_bpe_vocab_size(const vlm_bpe *bpe);
int vlm_bpe_sot(const vlm_bpe *bpe); /* id of <|startoftext|> */
int vlm_bpe_eot(const vlm_bpe *bpe); /* id of <|endoftext|> */

/* Encodes UTF-8 text without the sot/eot tokens (simple_tokenizer.encode). *ids is owned
 * (free()), *count its length. Invalid UTF-8 is VLM_ERR_INVALID. */
vlm_status vlm_bpe_encode(const vlm_bpe *bpe, const char *text, int32_t **ids, int *count,
                          vlm_error *err);

/* open_clip tokenize(): [sot] + encode(text) + [eot], cut to context_length with the last kept
 * token replaced by eot, zero-padded; out gets context_length ids (>= 2). */
vlm_status vlm_bpe_tokenize(const vlm_bpe *bpe, const char *text, int context_length,
                            int32_t *out, vlm_error *err);

/* ---- dataset readers (eval/data/): tensors, shard lists, classification samples, label maps,
 * segmentation layouts. Rules: shared/spec/eval.md sections 3.4, 4 and 6. */

/* -- typed tensors: .npy (any version, C order, little endian or byte-sized) or the spec 3.4
 *    raw .bin + .json header (eval/data/array.c) -- */

typedef enum vlm_array_dtype {
    VLM_ARRAY_BOOL, VLM_ARRAY_U8, VLM_ARRAY_I8, VLM_ARRAY_U16, VLM_ARRAY_I16, VLM_ARRAY_U32,
    VLM_ARRAY_I32, VLM_ARRAY_U64, VLM_ARRAY_I64, VLM_ARRAY_F16, VLM_ARRAY_F32, VLM_ARRAY_F64,
} vlm_array_dtype;

typedef struct vlm_array {
    vlm_array_dtype dtype;
    int ndim;
    int64_t shape[VLM_NPY_MAX_DIMS];
    int64_t count;  /* product of shape */
    size_t elem_bytes;
    void *data;     /* owned: count elements, C order, native (little-endian) byte order */
} vlm_array;

/* Loads path as stored: "x.npy", "x.bin" (header "x.json" next to it), or a stem "x" (x.npy
 * when it exists, else x.bin + x.json). Fortran order, big-endian or unknown dtypes, a data
 * size that disagrees with the shape: VLM_ERR_FORMAT naming the file. */
vlm_status vlm_array_load(const char *path, vlm_array *out, vlm_error *err);

/* Element i as double / as int64 (floats truncated toward zero; callers check integrality). */
double vlm_array_get_f64(const vlm_array *a, int64_t i);
int64_t vlm_array_get_i64(const vlm_array *a, int64_t i);

/* "uint8", "int64", "float32", ... (the .json header's names). */
const char *vlm_array_dtype_name(vlm_array_dtype dtype);

void vlm_array_free(vlm_array *a);

/* -- shard lists (eval/data/braces.c) -- */

/* Expands brace patterns as webdataset's braceexpand does: "{A..B}" integer ranges (either
 * direction; zero padding kept when a bound has a leading zero: "{000000..000049}"), "{a,b}"
 * lists, several braces give their product, left to right. A pattern without braces is one
 * path. Unbalanced braces or a range of more than 10^7 items: VLM_ERR_INVALID. *paths is
 * owned (vlm_strings_free). */
vlm_status vlm_expand_braces(const char *pattern, char ***paths, size_t *n, vlm_error *err);
void vlm_strings_free(char **v, size_t n);

/* -- classification samples: webdataset shards or an ImageNet-val folder layout
 *    (eval/data/classify.c) --
 *
 *   vlm_cls_reader *r; vlm_cls_sample smp; int done;
 *   vlm_cls_params p = vlm_cls_default_params();
 *   vlm_cls_reader_open("val-{000000..000049}.tar", &p, &r, &err);
 *   while (vlm_cls_reader_next(r, &smp, &done, &err) == VLM_OK && !done) {
 *       ... smp.image, smp.label ...; vlm_image_free(&smp.image);
 *   }
 *   vlm_cls_reader_close(r);
 *
 * Webdataset: the members of each shard (in archive order) are grouped into samples by key =
 * the path up to the first dot of the base name ("a/b.c.jpg" -> key "a/b", suffix "c.jpg");
 * consecutive members with one key form one sample. A sample uses key.jpg, .jpeg or .png
 * (first present in that order; suffixes compared case-insensitively) and its label from
 * key.cls (an integer, surrounding whitespace allowed) or else key.json (an integer, or an
 * object with an integer "label" or "cls"). Other members are ignored.
 * ImageNet-val folder layout: a directory or archive whose image files sit in one folder per
 * class ("n01440764/ILSVRC2012_val_00000293.JPEG"); the class index is the folder's position
 * among all class folders sorted byte-wise (the WNID order for ImageNet); samples come in
 * byte-wise path order (directories) or archive order.
 * Bad-sample policy: a sample without an image or a label, with an unparsable label, or whose
 * image does not decode is skipped and counted (vlm_cls_reader_skipped), its reason kept for
 * the first VLM_CLS_MAX_WARNINGS (vlm_cls_reader_warnings); with params.strict it is
 * VLM_ERR_FORMAT instead. A truncated or corrupt archive and a duplicated member in one sample
 * are always VLM_ERR_FORMAT naming the shard and the member. A sample whose only image is
 * .webp is VLM_ERR_UNSUPPORTED (no WebP decoder; skipping would drop whole datasets). */

#define VLM_CLS_MAX_WARNINGS 5

typedef enum vlm_cls_layout {
    VLM_CLS_AUTO,    /* folder when every file sits below a directory and no .cls/.json label
                        member exists in the first source; webdataset otherwise */
    VLM_CLS_WDS,     /* webdataset shards */
    VLM_CLS_FOLDER,  /* ImageNet-val class folders (one path: a directory or an archive) */
} vlm_cls_layout;

typedef struct vlm_cls_params {
    vlm_cls_layout layout;
    int strict;              /* 1: a bad sample is an error instead of a counted skip */
    int decode;              /* 1 (default): decode the image; 0: hand out the encoded bytes */
    size_t max_member_bytes; /* members larger than this are refused (default 256 MiB) */
} vlm_cls_params;

vlm_cls_params vlm_cls_default_params(void);

typedef struct vlm_cls_sample {
    const char *key;     /* borrowed until the next call: "shard.tar:key" for webdataset,
                            the relative path for folders */
    int64_t label;
    vlm_image image;     /* decode = 1: owned by the caller (vlm_image_free) */
    uint8_t *encoded;    /* decode = 0: owned by the caller (free) */
    size_t encoded_bytes;
} vlm_cls_sample;

typedef struct vlm_cls_reader vlm_cls_reader;

/* spec: a path or a brace pattern (vlm_expand_braces) of shards read one after the other. */
vlm_status vlm_cls_reader_open(const char *spec, const vlm_cls_params *params,
                               vlm_cls_reader **out, vlm_error *err);
vlm_status vlm_cls_reader_next(vlm_cls_reader *r, vlm_cls_sample *sample, int *done,
                               vlm_error *err);
int64_t vlm_cls_reader_skipped(const vlm_cls_reader *r);
/* Shards opened so far (the current one included) and in total, for an ETA estimate (the
 * number of samples is unknown until the last shard is read). */
void vlm_cls_reader_shards(const vlm_cls_reader *r, size_t *started, size_t *total);
/* The first skip reasons, one per line ("" when none). Borrowed. */
const char *vlm_cls_reader_warnings(const vlm_cls_reader *r);
/* Folder layout: the class folder names in index order and their count; NULL / 0 otherwise. */
const char *const *vlm_cls_reader_classes(const vlm_cls_reader *r, int *count);
void vlm_cls_reader_close(vlm_cls_reader *r);

/* -- label maps (eval/data/labelmap.c) --
 * Annotation PNGs as mmseg loads them (mmcv imfrombytes flag "unchanged", backend pillow):
 * the stored values, not colours. 8-bit greyscale gives the grey values, palette PNGs their
 * indices (VOC), 16-bit greyscale the 16-bit values (NYUv2 depth in millimetres); 1/2/4-bit
 * greyscale and palette the raw values. RGB/RGBA and grey+alpha are VLM_ERR_FORMAT
 * ("not a label map"). Also .npy / .bin + .json integer arrays of shape [H, W] (or
 * [1, H, W]). */
typedef struct vlm_label_map {
    int width, height;
    int bits;          /* 8 or 16 for PNGs; 32 for arrays */
    int32_t *values;   /* owned: height * width, row-major */
} vlm_label_map;

vlm_status vlm_label_map_decode_png(const void *data, size_t bytes, const char *name,
                                    vlm_label_map *out, vlm_error *err);
/* A .png, .npy, .bin (+ .json) file, by extension. */
vlm_status vlm_label_map_read(const char *path, vlm_label_map *out, vlm_error *err);
void vlm_label_map_free(vlm_label_map *m);

/* -- segmentation dataset layouts (eval/data/segdata.c) -- */

typedef enum vlm_seg_layout {
    VLM_SEG_ADE20K,    /* images/validation/X.jpg + annotations/validation/X.png */
    VLM_SEG_VOC,       /* JPEGImages/X.jpg + SegmentationClass/X.png; with
                          ImageSets/Segmentation/val.txt the listed stems in its order */
    VLM_SEG_COCOSTUFF, /* images/val2017/X.jpg + annotations/val2017/X_labelTrainIds.png
                          (converted), or when there is none X.png (raw ids, raw_ids = 1) */
} vlm_seg_layout;

/* "ade20k", "voc", "cocostuff"; parse: VLM_ERR_INVALID. */
const char *vlm_seg_layout_name(vlm_seg_layout layout);
vlm_status vlm_seg_layout_parse(const char *text, vlm_seg_layout *out, vlm_error *err);

typedef struct vlm_seg_pair {
    char *stem;       /* owned */
    char *image;      /* owned path; NULL when the image is missing (scoring needs none) */
    char *annotation; /* owned path */
    int raw_ids;      /* COCO-Stuff raw ids: convert with vlm_seg_cocostuff_label_map */
} vlm_seg_pair;

/* Lists the (image, annotation) pairs of a dataset directory root, paired by stem, sorted by
 * stem (VOC with val.txt: in its order; a listed stem without annotation is VLM_ERR_FORMAT).
 * No annotation at all: VLM_ERR_FORMAT naming the folder looked in. */
vlm_status vlm_seg_dataset_list(const char *root, vlm_seg_layout layout, vlm_seg_pair **pairs,
                                size_t *n, vlm_error *err);
void vlm_seg_pairs_free(vlm_seg_pair *pairs, size_t n);

/* Calls fn once per ground-truth annotation of a dataset: root is a directory (the pairs of
 * vlm_seg_dataset_list, in that order) or an archive of the dataset (ADEChallengeData2016.zip,
 * VOCtrainval_11-May-2012.tar, ...), streamed in archive order: members ".../ANN_DIR/STEM.png"
 * of the layout (VOC: restricted to ImageSets/Segmentation/val.txt when the archive has it;
 * a listed stem without annotation is VLM_ERR_FORMAT). Archives are read twice (names first).
 * gt is borrowed for the call; raw_ids as in vlm_seg_pair. *count: annotations handed out. */
typedef vlm_status (*vlm_seg_annotation_fn)(void *ctx, const char *stem, const vlm_label_map *gt,
                                            int raw_ids, vlm_error *err);
vlm_status vlm_seg_dataset_each(const char *root, vlm_seg_layout layout, vlm_seg_annotation_fn fn,
                                void *ctx, int64_t *count, vlm_error *err);

/* ---- semantic segmentation scoring (eval/seg.c; spec section 4) --------------------------
 *
 *   vlm_seg_params p = vlm_seg_default_params(150);   // ignore 255
 *   p.reduce_zero_label = 1;                          // ADE20K
 *   vlm_seg *sg; vlm_seg_create(&p, &sg, &err);
 *   for each image: vlm_seg_add_u8 / vlm_seg_add_i32(sg, pred, gt, w * h, &err);
 *   vlm_seg_metrics m; vlm_seg_get_metrics(sg, &m);   // m.miou ...
 *   vlm_seg_destroy(sg); */

#define VLM_SEG_MAX_CLASSES 4096

typedef struct vlm_seg_params {
    int num_classes;       /* C, 1..VLM_SEG_MAX_CLASSES */
    int ignore_index;      /* GT value dropped (after the preprocessing below); default 255 */
    int reduce_zero_label; /* spec 4.2 step 2 on GT values: 0 -> 255, 255 -> 255, v -> v - 1 */
    const int32_t *label_map; /* optional spec 4.2 step 1: label_map[old] = new, for old in
                                 0..label_map_len-1 (-1 = no entry: value kept). Borrowed. */
    int label_map_len;
    int has_nan_to_num;
    double nan_to_num;     /* spec 4.4: replaces NaN per class (and aAcc) before averaging */
} vlm_seg_params;

vlm_seg_params vlm_seg_default_params(int num_classes);

typedef struct vlm_seg vlm_seg;

vlm_status vlm_seg_create(const vlm_seg_params *params, vlm_seg **out, vlm_error *err);
void vlm_seg_destroy(vlm_seg *sg);

/* Adds one image (spec 4.3): pred and gt hold n pixels each (same shape checked by the
 * caller). GT values are raw (before label_map / reduce_zero_label). Predictions outside
 * 0..C-1 count as misses. */
vlm_status vlm_seg_add(vlm_seg *sg, const int32_t *pred, const int32_t *gt, int64_t n,
                       vlm_error *err);

/* Per-class sums over the images added so far (C entries each; borrowed). */
typedef struct vlm_seg_areas {
    const int64_t *intersect, *union_, *pred, *label;
} vlm_seg_areas;
vlm_seg_areas vlm_seg_get_areas(const vlm_seg *sg);
int64_t vlm_seg_images(const vlm_seg *sg);
int vlm_seg_num_classes(const vlm_seg *sg);

/* Dataset metrics (spec 4.4), fractions, NaN per the spec's rules. per_class arrays (owned by
 * sg, valid until the next add) have C entries. */
typedef struct vlm_seg_metrics {
    double aacc, miou, macc, mdice, mfscore, mprecision, mrecall;
    const double *iou, *acc, *dice, *fscore, *precision, *recall;
} vlm_seg_metrics;
void vlm_seg_get_metrics(vlm_seg *sg, vlm_seg_metrics *out);

/* numpy's round(x * 100, 2) as mmseg 1.x prints (rint of x * 100 * 100, / 100). NaN stays. */
double vlm_seg_percent_rounded(double x);

/* The spec section 6 segmentation JSON (NaN as null), plus "n_images". NULL on OOM. */
struct json_t *vlm_seg_json(vlm_seg *sg);

/* Zero-shot dense prediction as SAM-CLIP evaluates open-vocabulary segmentation: each patch
 * feature (features: [grid_h, grid_w, dim] row-major, raw encoder outputs) is L2-normalised and
 * scored against the classifier ([dim, num_classes] row-major, vlm_zeroshot_classifier's
 * layout): logits = feature . W. The [num_classes, grid_h, grid_w] logits are resized to
 * height x width bilinearly exactly as torch F.interpolate(mode="bilinear",
 * align_corners=False) samples (computed in double), and pred ([height, width], borrowed) gets
 * the per-pixel argmax, ties to the lower class index. A zero-norm or non-finite feature is
 * VLM_ERR_INVALID naming the patch. */
vlm_status vlm_seg_dense_predict(const float *features, int grid_h, int grid_w, int dim,
                                 const double *classifier, int num_classes, int height,
                                 int width, int32_t *pred, vlm_error *err);

/* mmseg's COCO-Stuff raw-id converter as a label map (spec 4.1): map[raw] = train id, -1 for
 * the eleven unused ids and values past 181 (kept as they are). */
void vlm_seg_cocostuff_label_map(int32_t map[256]);

/* Progress of a long scoring run: done of total items (total -1 when unknown). */
typedef void (*vlm_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Scores a spec section 6 input directory: config.json {"num_classes", "ignore_index",
 * "reduce_zero_label", "label_map", "nan_to_num", "images": [{"gt", "pred"}]} and the maps
 * (name as given when it ends in .png/.npy/.bin, else name.npy, name.bin + name.json or
 * name.png). progress may be NULL. *out is owned (vlm_seg_destroy). */
vlm_status vlm_seg_score_dir(const char *dir, vlm_progress_fn progress, void *progress_ctx,
                             vlm_seg **out, vlm_error *err);

/* The progress line of long runs (eval/data/progress.c): "LABEL: 120/2000 images, 41.3 images/s,
 * ETA 0:45" on stderr, redrawn in place (at most 4 times a second) when stderr is a terminal;
 * when force is set and stderr is not a terminal, one line every 10 s. Off otherwise. */
typedef struct vlm_progress {
    const char *label, *unit; /* borrowed */
    int enabled, tty, drawn;
    double t0, last;
} vlm_progress;

void vlm_progress_init(vlm_progress *p, const char *label, const char *unit, int force);
void vlm_progress_update(vlm_progress *p, int64_t done, int64_t total); /* total -1: unknown */
void vlm_progress_callback(void *ctx, int64_t done, int64_t total);     /* ctx: vlm_progress* */
/* Draws the final state and ends the line (on a terminal only if a line was drawn). */
void vlm_progress_finish(vlm_progress *p, int64_t done, int64_t total);

/* Warning lines collected while reading inputs: the first VLM_WARNINGS_KEPT are kept, the rest
 * counted; vlm_warnings_take returns the text (malloc'd, NULL when there was none) with a
 * "... and N more warnings" line, and resets w. A zero-initialised vlm_warnings is empty. */
#define VLM_WARNINGS_KEPT 20
typedef struct vlm_warnings {
    char *text;
    size_t len;
    int count;
} vlm_warnings;
void vlm_warnf(vlm_warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *vlm_warnings_take(vlm_warnings *w);
void vlm_warnings_free(vlm_warnings *w);

/* Writes value as indented JSON (doubles round-trip) to path through a temporary file and
 * rename, so a failure leaves no partial file; "-" writes to stdout. */
vlm_status vlm_json_write_file(const struct json_t *value, const char *path, vlm_error *err);

/* ---- depth estimation (eval/depth.c): NYUv2 metrics as the common evaluation code computes
 * them (BTS / AdaBins / ZoeDepth compute_errors):
 *   valid = finite gt, gt > min_depth and gt < max_depth (defaults 0 and +inf; NYUv2 papers use
 *           1e-3 and 10), inside the Eigen crop rows 45..470, columns 41..600 when eigen_crop
 *           (480 x 640 maps only); with clamp_pred, predictions are first clamped to
 *           [min_depth, max_depth] (NaN -> min_depth, +inf -> max_depth) as that code does.
 *   per image over its valid pixels: rmse = sqrt(mean (g - p)^2), abs_rel = mean |g - p| / g,
 *           sq_rel = mean (g - p)^2 / g, delta_k = fraction with max(g / p, p / g) < 1.25^k,
 *           log10 = mean |log10 g - log10 p|, rmse_log = sqrt(mean (ln g - ln p)^2),
 *           silog = 100 sqrt(mean e^2 - (mean e)^2), e = ln p - ln g.
 * Reported two ways: mean_per_image (the mean of the per-image values, what those codes
 * print; images without a valid pixel are left out and counted) and pooled (every valid pixel
 * of the dataset weighted equally). A prediction <= 0 or non-finite (without clamp_pred)
 * fails every delta, counts in rmse / abs_rel / sq_rel when finite, and is left out of the
 * log metrics; such pixels are counted in n_bad_pred. */

typedef struct vlm_depth_params {
    double min_depth, max_depth; /* metres */
    int clamp_pred;
    int eigen_crop;
} vlm_depth_params;

vlm_depth_params vlm_depth_default_params(void);

typedef struct vlm_depth_values {
    double rmse, abs_rel, sq_rel, log10, rmse_log, silog, delta1, delta2, delta3;
} vlm_depth_values;

typedef struct vlm_depth_metrics {
    int64_t n_images, n_images_empty, n_valid, n_bad_pred;
    vlm_depth_values mean_per_image, pooled; /* NaN when nothing was valid */
} vlm_depth_metrics;

typedef struct vlm_depth vlm_depth;

vlm_status vlm_depth_create(const vlm_depth_params *params, vlm_depth **out, vlm_error *err);
/* pred and gt: width x height depths each, row-major, same units. */
vlm_status vlm_depth_add(vlm_depth *d, const float *pred, const float *gt, int width, int height,
                         vlm_error *err);
void vlm_depth_get_metrics(const vlm_depth *d, vlm_depth_metrics *out);
/* {"benchmark": "depth", "n_images", "n_images_empty", "n_valid", "n_bad_pred", "params",
 * "mean_per_image": {...}, "pooled": {...}} with NaN as null. */
struct json_t *vlm_depth_json(const vlm_depth *d);
void vlm_depth_destroy(vlm_depth *d);

/* Reads a depth map: .npy / .bin float or integer arrays as stored, in metres ([H, W] or
 * [1, H, W]); a 16-bit greyscale PNG in millimetres (NYUv2 toolbox export) divided by
 * png_scale (default 1000); 0 = no depth. */
vlm_status vlm_depth_map_read(const char *path, double png_scale, float **depth, int *width,
                              int *height, vlm_error *err);

/* (end of zero-shot and segmentation) */

#ifdef __cplusplus
}
#endif

#endif /* VLM_EVAL_H */
