/*
 * vlmbench engine: a oneDNN-backed inference engine for vision encoders, projectors and LLM
 * prefill. This header is the whole public contract of libvlm_engine.
 *
 *   vlm_error err = {0};
 *   vlm_backend_info info;
 *   vlm_backend_info_get(&info);
 *   printf("oneDNN %d.%d.%d, ISA %s\n", info.major, info.minor, info.patch, info.isa);
 *
 * Conventions: every function that can fail returns a vlm_status and, when given a non-NULL
 * vlm_error, fills it with a message naming the file, the field and the problem. No function
 * here prints or exits. destroy(NULL) is always a no-op.
 */
#ifndef VLM_ENGINE_H
#define VLM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------------------------ */

typedef enum vlm_status {
    VLM_OK = 0,
    VLM_ERR_INVALID,     /* bad argument or impossible request (e.g. resolution too small) */
    VLM_ERR_IO,          /* open/read/write/mmap failed */
    VLM_ERR_FORMAT,      /* a file is malformed (corrupt checkpoint, bad JSON, truncated) */
    VLM_ERR_NOMEM,       /* allocation failed or a request exceeds available memory */
    VLM_ERR_UNSUPPORTED, /* valid request this machine or build cannot do (e.g. bf16 w/o ISA) */
    VLM_ERR_INTERNAL,    /* a bug or an unexpected backend failure */
} vlm_status;

typedef struct vlm_error {
    vlm_status status;
    char msg[1024];
} vlm_error;

/* Short lowercase name of a status ("malformed file"). Never NULL. */
const char *vlm_status_name(vlm_status status);

/* Sets err (if non-NULL) to status and a printf-formatted message; returns status. */
vlm_status vlm_error_set(vlm_error *err, vlm_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err (if non-NULL) to VLM_OK with an empty message. */
void vlm_error_clear(vlm_error *err);

/* Reads one whole regular file (no archive handling) into *data, malloc'd and NUL-terminated,
 * its length in *len. Files over max_bytes are VLM_ERR_FORMAT "too large"; a missing or
 * unreadable file, or one that is not a regular file, VLM_ERR_IO naming the path. */
vlm_status vlm_read_file(const char *path, uint8_t **data, size_t *len, size_t max_bytes,
                         vlm_error *err);

/* ---- backend facts ---------------------------------------------------------------------- */

typedef struct vlm_backend_info {
    int major, minor, patch;  /* oneDNN version as the loaded library reports it */
    char hash[48];            /* oneDNN commit hash ("N/A" in Debian's build) */
    const char *cpu_runtime;  /* "OpenMP", "TBB", "sequential", "threadpool" (static string) */
    const char *isa;          /* ISA oneDNN dispatches, e.g. "avx512_core_bf16" (static) */
    int max_threads;          /* threads the runtime will use (OpenMP max threads) */
} vlm_backend_info;

/* Fills info from the loaded oneDNN library. Cannot fail. */
void vlm_backend_info_get(vlm_backend_info *info);


/* ---- context ---------------------------------------------------------------------------- */

typedef enum vlm_dtype { VLM_F32 = 0, VLM_BF16 = 1 } vlm_dtype;

/* "f32" / "bf16"; parse returns VLM_ERR_INVALID for anything else. */
const char *vlm_dtype_name(vlm_dtype dtype);
vlm_status vlm_dtype_parse(const char *text, vlm_dtype *out, vlm_error *err);

typedef struct vlm_ctx vlm_ctx;

typedef struct vlm_ctx_params {
    int threads; /* OpenMP threads for every primitive; 0 = the runtime's default */
} vlm_ctx_params;

vlm_ctx_params vlm_ctx_default_params(void);

/* Creates the oneDNN CPU engine and stream and sets the thread count (before any primitive is
 * created, since oneDNN keys primitives by it). Also sets flush-to-zero and denormals-are-zero
 * in the MXCSR of every OpenMP thread: denormal operands cost a microcode assist each, and the
 * values they stand for (below 1.2e-38) do not change results. */
vlm_status vlm_ctx_create(const vlm_ctx_params *params, vlm_ctx **out, vlm_error *err);
void vlm_ctx_destroy(vlm_ctx *ctx);
int vlm_ctx_threads(const vlm_ctx *ctx);

/* True when this CPU runs bf16 convolutions and matmuls natively (avx512_core_bf16 or AMX). */
int vlm_cpu_has_bf16(void);

/* ---- models ----------------------------------------------------------------------------- */

typedef struct vlm_model_info {
    const char *name;          /* "fastvithd", "mci0", "qwen2-0.5b", "proj-qwen2-0.5b", ... */
    const char *kind;          /* "vision" (image in, tokens out), "projector" (features in,
                                  LLM embeddings out) or "llm" (prefill: embeddings or token ids
                                  in, last-position logits out) */
    const char *description;   /* one line */
    const char *family;        /* "fastvit" */
    int default_res;           /* vision: input size the model is published at (square);
                                  projector / llm: default sequence length */
    int min_res;               /* vision: smallest input side the engine accepts */
    int stride;                /* vision: total down-sampling; tokens = ceil(H/s) x ceil(W/s) */
    const char *token_formula; /* "ceil(H/64) x ceil(W/64)"; projector / llm: "N" */
    const char *checkpoints;   /* the checkpoint naming schemes it loads */
    int feature_dim;           /* channels of each output token (llm: vocabulary size) */
    int embed_dim;             /* vision: CLIP embedding size of the pooled output, 0 if none;
                                  projector / llm: input embedding width */
} vlm_model_info;

int vlm_model_count(void);
const vlm_model_info *vlm_model_at(int i);
const vlm_model_info *vlm_model_find(const char *name); /* NULL when unknown */

/* LLaVA-OneVision's AnyRes tiling ("anyres_max_9", 384-pixel SigLIP tiles, grid pinpoints
 * (1x1) to (6x6)) of an image of height x width pixels, as the reference code computes it:
 * the pinpoint that keeps the most pixels then wastes the least; the base image plus
 * tiles_w x tiles_h tiles through the encoder; the tiles' 27x27-per-tile feature grid with the
 * letterbox rows/columns removed, shrunk when it holds more than 9 tiles' worth; one newline
 * token per row. tokens = 729 + grid_h * (grid_w + 1). All zero for a non-positive size. */
typedef struct vlm_anyres {
    int tiles;            /* images through the encoder: 1 + tiles_w * tiles_h */
    int tiles_w, tiles_h; /* the chosen pinpoint / 384 */
    int grid_h, grid_w;   /* feature grid after unpadding and the max-9 shrink */
    int newline_tokens;   /* grid_h */
    int tokens;           /* visual tokens the LLM receives */
} vlm_anyres;
vlm_anyres vlm_anyres_layout(int height, int width);

/* ---- plans ------------------------------------------------------------------------------ */

typedef struct vlm_plan vlm_plan;

typedef struct vlm_plan_params {
    const char *model;   /* a vlm_model_info name */
    int height, width;   /* input size in pixels */
    vlm_dtype dtype;     /* weights and activations; accumulation is always f32 */
    const char *weights; /* safetensors path, or NULL for seeded synthetic weights */
    uint64_t seed;       /* synthetic weights' seed */
    int pooled;          /* vision: also compute the pooled + projected CLIP embedding */
    int tokens;          /* projector / llm: sequence length N (0 = the model's default) */
    int layers;          /* llm: build only this many of the identical decoder layers (layer-
                            sampled timing); 0 = all */
    int input_ids;       /* llm: the input is N token ids (as floats) instead of N embeddings */
    int dense;           /* vision: output one CLIP embedding per patch token, [tokens, embed]
                            (the CLIP head applied to every token, what zero-shot segmentation
                            scores), instead of the VLM features; CLIP towers only */
    int in_features;     /* projector: width of the vision features it maps (0 = the model's:
                            3072 for FastViTHD); e.g. 1024 for ViT-L/14, 1152 for SigLIP */
} vlm_plan_params;

vlm_plan_params vlm_plan_default_params(void);

/* Static facts of a model at one input size. */
typedef struct vlm_plan_facts {
    int64_t params;         /* parameters in the inference-form checkpoint, head included */
    int64_t params_no_head; /* without the CLIP projection head */
    int64_t macs;           /* multiply-accumulates of one forward pass (analytic) */
    int tokens, grid_h, grid_w; /* vision: output tokens = grid_h x grid_w;
                                   projector / llm: sequence length N (grid N x 1) */
    int feature_dim;        /* channels of each output row (llm: vocabulary size) */
    int out_rows;           /* rows of the output (vision/projector: tokens; llm: 1) */
    int64_t input_count;    /* floats of the input (image 3*H*W, N*in_dim, or N ids) */
    int layers_total, layers_built; /* llm: decoder layers of the model / in this plan */
    int embed_dim;          /* pooled embedding size (0 when not computed) */
    size_t activation_bytes; /* peak activation arena (0 in facts-only mode) */
    size_t weight_bytes;    /* packed weights (0 in facts-only mode) */
    size_t scratch_bytes;   /* shared oneDNN scratchpad (0 in facts-only mode) */
    size_t staging_bytes;   /* most float32 weights held at once while building, before
                               packing (0 in facts-only mode); freed when the build ends */
    int nodes;              /* primitives executed per run */
} vlm_plan_facts;

/* Computes the facts of a model at a size without weights or oneDNN (metadata only). */
vlm_status vlm_model_facts(const char *model, int height, int width, vlm_plan_facts *out,
                           vlm_error *err);
/* The same for full plan params (sequence length, layers, ...). */
vlm_status vlm_plan_facts_of(const vlm_plan_params *params, vlm_plan_facts *out, vlm_error *err);

/* Builds a plan: every primitive created once, weights read (and folded) and reordered once,
 * activations laid out in one arena. Errors: unknown model, size below the minimum, missing or
 * mis-shaped checkpoint tensor, bf16 on a CPU without bf16, out of memory. ctx is borrowed and
 * must outlive the plan. */
vlm_status vlm_plan_create(vlm_ctx *ctx, const vlm_plan_params *params, vlm_plan **out,
                           vlm_error *err);
void vlm_plan_destroy(vlm_plan *plan);
void vlm_plan_get_facts(const vlm_plan *plan, vlm_plan_facts *out);

/* One forward pass. input (facts.input_count floats): vision: NCHW [1, 3, height, width],
 * preprocessed; projector: [N, in_dim]; llm: [N, embed_dim] input embeddings, or N token ids
 * with params.input_ids (ids outside the vocabulary are VLM_ERR_INVALID). tokens (the output,
 * may be NULL): [out_rows, feature_dim] float32: vision tokens row-major over h then w,
 * projector embeddings, or llm last-position logits. pooled (may be NULL; vision with
 * params.pooled): [embed_dim]. Buffers are borrowed for the call. */
vlm_status vlm_plan_run(vlm_plan *plan, const float *input, float *tokens, float *pooled,
                        vlm_error *err);

/* Per-layer profile of one run: each primitive timed alone (stream wait after each). */
typedef struct vlm_profile_entry {
    const char *kind; /* layer kind: "conv3x3", "conv1x1", "dwconv", "groupconv", "linear",
                         "attention", "norm", "eltwise", "reorder" */
    int stage;        /* model stage (0 = stem, ...); see vlm_plan_stage_name */
    int64_t macs;
    double ms;
    const char *impl; /* oneDNN implementation */
} vlm_profile_entry;

/* Runs once with per-primitive timing. entries: room for facts.nodes entries. */
vlm_status vlm_plan_profile(vlm_plan *plan, const float *input, vlm_profile_entry *entries,
                            vlm_error *err);
const char *vlm_plan_stage_name(const vlm_plan *plan, int stage);

/* This machine's matmul throughput in GFLOP/s (best of reps runs of an n x n x n oneDNN matmul
 * with packed weights, in dtype, on ctx's threads): the practical peak profiles compare with. */
vlm_status vlm_measure_matmul_gflops(vlm_ctx *ctx, int n, vlm_dtype dtype, int reps,
                                     double *gflops, vlm_error *err);

/* ---- checkpoints: safetensors ----------------------------------------------------------- */

typedef enum vlm_st_dtype {
    VLM_ST_F32,
    VLM_ST_F16,
    VLM_ST_BF16,
    VLM_ST_F64,
    VLM_ST_I64, /* e.g. BatchNorm num_batches_tracked; never used as a weight */
    VLM_ST_I32,
    VLM_ST_U8,
    VLM_ST_BOOL,
} vlm_st_dtype;

#define VLM_MAX_DIMS 8

typedef struct vlm_tensor_view {
    const char *name;  /* borrowed from the checkpoint, valid until vlm_weights_close */
    vlm_st_dtype dtype;
    int ndim;
    int64_t shape[VLM_MAX_DIMS];
    int64_t count;     /* product of shape */
    const void *data;  /* borrowed: little-endian elements inside the mapping */
    size_t nbytes;
} vlm_tensor_view;

typedef struct vlm_weights vlm_weights;

/* Opens a .safetensors file read-only with mmap and validates all of it before returning:
 * 8-byte little-endian header length within the file, a JSON object header whose entries have
 * a known dtype, a shape of non-negative integers and data_offsets [begin, end] inside the
 * data area, byte size equal to product(shape) x element size (overflow-checked), and no two
 * tensors overlapping. "__metadata__" (string to string) is allowed. Any violation is
 * VLM_ERR_FORMAT with a message naming the file, the tensor and the problem. */
vlm_status vlm_weights_open(const char *path, vlm_weights **out, vlm_error *err);

/* Unmaps and frees. NULL is a no-op. */
void vlm_weights_close(vlm_weights *w);

/* The file the weights were opened from (borrowed). */
const char *vlm_weights_path(const vlm_weights *w);

/* Number of tensors, and the i-th in the header's order (0 <= i < count). */
int vlm_weights_count(const vlm_weights *w);
const vlm_tensor_view *vlm_weights_at(const vlm_weights *w, int i);

/* The tensor called name, or NULL. */
const vlm_tensor_view *vlm_weights_find(const vlm_weights *w, const char *name);

/* Looks up name and checks its shape: missing tensor or different shape is VLM_ERR_FORMAT
 * with a message naming the file, the tensor, the expected and the found shape. Then converts
 * the F32 / F16 / BF16 / F64 data to float32 into dst (count floats), and drops the tensor's
 * file pages from this process (they stay in the page cache; reading again faults them back).
 * Other dtypes: VLM_ERR_FORMAT. */
vlm_status vlm_weights_read_f32(const vlm_weights *w, const char *name, int ndim,
                                const int64_t *shape, float *dst, vlm_error *err);

/* Element size in bytes of a safetensors dtype, and its name as in the header ("F32"). */
size_t vlm_st_dtype_size(vlm_st_dtype dtype);
const char *vlm_st_dtype_name(vlm_st_dtype dtype);

/* Converts between float32 and bfloat16 (round to nearest even; NaN stays NaN). */
uint16_t vlm_f32_to_bf16(float x);
float vlm_bf16_to_f32(uint16_t x);
float vlm_f16_to_f32(uint16_t x);

#ifdef __cplusplus
}
#endif

#endif /* VLM_ENGINE_H */
