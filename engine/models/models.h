/*
 * Private to engine/: how a model file builds its graph.
 *
 * A model file describes the network as a table (its config) and walks it, asking the
 * builder (mb) for each checkpoint tensor by its logical name (timm naming). The builder maps
 * the name to the checkpoint's scheme, checks the shape, converts to float32, or synthesises
 * seeded values when no checkpoint is given, and counts parameters. In facts-only mode it
 * returns NULL data and only counts. Tensors returned are valid until mb_tmp_reset().
 */
#ifndef VLM_ENGINE_MODELS_H
#define VLM_ENGINE_MODELS_H

#include <stdbool.h>

#include "engine/engine.h"
#include "engine/graph.h"

/* How synthetic values are drawn for a tensor (documented in README "Synthetic weights"). */
typedef enum mb_init {
    MB_INIT_FANIN,    /* U(-a, a), a = sqrt(3 / fan_in): unit-variance outputs; fan_in =
                         count / shape[0] */
    MB_INIT_BIAS,     /* U(-0.02, 0.02) */
    MB_INIT_NORM_W,   /* U(0.8, 1.2): norm and BN weights */
    MB_INIT_STAT_MEAN, /* U(-0.05, 0.05): BN running_mean (not a parameter) */
    MB_INIT_STAT_VAR, /* U(0.8, 1.2): BN running_var (not a parameter) */
    MB_INIT_SCALE,    /* U(0.05, 0.15): layer scales */
    MB_INIT_DW_IDENT, /* identity kernel + U(-0.05, 0.05): re-parameterised residual dw convs */
} mb_init;

typedef struct mb mb;

/* Maps a logical (timm) tensor name to the checkpoint's name; returns false when the scheme
 * has no such tensor. */
typedef bool (*mb_name_map)(const mb *b, const char *logical, char *out, size_t size);

struct mb {
    vg_graph *g;              /* borrowed */
    vlm_weights *const *shards; /* borrowed checkpoint files; nshards == 0 = synthetic */
    int nshards;
    const char *ckpt_path;    /* borrowed: the file the user named (a shard index or one file) */
    uint64_t seed;
    bool facts_only;
    const char *prefix;       /* detected checkpoint prefix */
    char prefix_buf[256];     /* storage for a prefix found by mb_find_prefix */
    mb_name_map map;          /* NULL = prefix + logical */
    const void *map_ctx;      /* borrowed, for map */
    int64_t params;           /* parameters seen (inference form), head included */
    int64_t params_head;
    bool in_head;             /* count into params_head too */
    int layers_total, layers_built; /* llm: decoder layers of the model / built */
    int64_t macs_unbuilt;     /* llm: MACs of the layers not built (layer sampling) */
    int64_t vocab;            /* text encoders: the input is token ids below this (validated
                                 before each run); 0 otherwise */
    int64_t visual_tokens;    /* vision: tokens the VLM feeds its LLM when they differ from the
                                 output rows (AnyRes adds newline tokens); 0 = the rows */
    float **tmp;
    int ntmp, captmp;
    size_t tmp_bytes, tmp_peak; /* float32 staging held now / at most (facts.staging_bytes) */
};

/* True when weights come from a checkpoint (not synthetic). */
bool mb_has_ckpt(const mb *b);
/* The tensor called exactly name in any shard (and the shard), or NULL. */
const vlm_tensor_view *mb_find(const mb *b, const char *name, const vlm_weights **shard);
/* Detects a checkpoint's naming scheme and prefix: the first tensor (shard order, file order)
 * whose name is one of suffixes[k] or ends in "." + suffixes[k], and, when probes[k] is not
 * NULL, for which PREFIX + probes[k] exists too. Sets b->prefix (in b->prefix_buf) and returns
 * k; -1 when no tensor fits. */
int mb_find_prefix(mb *b, const char *const *suffixes, const char *const *probes, int n);

/* A name-mapping table entry: logical name (or name prefix) -> checkpoint name (or prefix). */
typedef struct mb_rename {
    const char *from, *to;
} mb_rename;

/* Maps text through table: the first entry whose `from` equals text (exact) or begins it (not
 * exact) gives out = head + to + the rest of text. false when no entry matches. */
bool mb_rename_with(const mb_rename *table, size_t n, const char *text, bool exact,
                    const char *head, char *out, size_t size);

/* True when the checkpoint holds the logical tensor (always false for synthetic weights). */
bool mb_has(mb *b, const char *logical);

/* The tensor as float32 [shape], or NULL on error (recorded in the graph) or in facts-only
 * mode. count_param: add its size to the parameter count. */
float *mb_get(mb *b, const char *logical, mb_init init, bool count_param, int ndim,
              const int64_t *shape);

/* Like mb_get, but accepts any of the listed shapes that hold the same elements (e.g. a layer
 * scale stored as [d] or [d, 1, 1]); the first shape is the one reported as expected. */
float *mb_get_flat(mb *b, const char *logical, mb_init init, int64_t count, int nshapes,
                   const int ndims[], const int64_t *const shapes[]);

/* Scratch float buffer of n elements, zeroed, freed by mb_tmp_reset. NULL on OOM (recorded). */
float *mb_alloc(mb *b, int64_t n);
void mb_tmp_reset(mb *b);

/* printf into a name buffer. */
const char *mb_name(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- folding (spec section 0) ---- */
/* w[cout, cin_g, k, k] *= g/sqrt(var+eps) per output channel; bias = beta - mean*g/sqrt(var+eps)
 * (+ old bias * scale when has_bias). */
void mb_fold_bn(float *w, float *bias, int64_t cout, int64_t per_out, const float *gamma,
                const float *beta, const float *mean, const float *var, float eps, bool has_bias);
/* dst[cout, cin_g, K, K] += src[cout, cin_g, k, k] centred (zero-padded). */
void mb_add_centered(float *dst, int64_t K, const float *src, int64_t k, int64_t cout,
                     int64_t cin_g);
/* Adds an identity kernel: for output o, 1 at the centre tap of input channel o mod cin_g. */
void mb_add_identity(float *dst, int64_t K, int64_t cout, int64_t cin_g, float value);

/* ---- model registry ---- */

typedef struct mb_outputs {
    vg_tensor input;  /* the external input the caller binds (float32) */
    vg_tensor output; /* [1, C, h, w] (read as [h*w, C]) or 2-D [rows, cols] */
    vg_tensor pooled; /* [1, embed] or VG_NONE */
} mb_outputs;

typedef struct model_def {
    vlm_model_info info;
    const void *cfg;
    /* Prepares b for the checkpoint (prefix, naming scheme); VLM_ERR_FORMAT when the file holds
     * no tensor of this model. Called only with a checkpoint. */
    vlm_status (*detect)(mb *b, const void *cfg, vlm_error *err);
    /* Checks the plan's sizes (resolution, tokens) before anything is built. */
    vlm_status (*check)(const struct model_def *d, const vlm_plan_params *p, vlm_error *err);
    /* Builds the network, creating its external float32 input. */
    mb_outputs (*build)(mb *b, const void *cfg, const vlm_plan_params *p);
    const char *(*stage_name)(const void *cfg, int stage);
} model_def;

/* An NCHW float32 image input [1, 3, h, w] (external), reordered into NHWC of the graph's
 * dtype; returns the NHWC tensor and sets *external. */
vg_tensor mb_image_input(mb *b, int64_t h, int64_t w, vg_tensor *external);

extern const model_def vlm_fastvit_models[];
extern const int vlm_fastvit_model_count;
extern const model_def vlm_vit_models[];
extern const int vlm_vit_model_count;
extern const model_def vlm_convnext_models[];
extern const int vlm_convnext_model_count;
/* Causal attention in query row blocks (llm.c): sequences of at least 2 * LLM_ATTN_MIN_ROWS
 * tokens run in blocks of max(LLM_ATTN_MIN_ROWS, ceil(n / LLM_ATTN_MAX_BLOCKS)) rows, and a
 * block scores only the keys up to its last row. Returns the rows per block (n: one block). */
#define LLM_ATTN_MIN_ROWS 128
#define LLM_ATTN_MAX_BLOCKS 16
int64_t llm_attn_block_rows(int64_t n);

extern const model_def vlm_llm_models[];
extern const int vlm_llm_model_count;

#endif /* VLM_ENGINE_MODELS_H */
