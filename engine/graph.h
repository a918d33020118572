/*
 * Private to engine/ (and its tests): the execution graph a plan is made of.
 *
 * A graph is a list of nodes, each one oneDNN primitive created once at build time, reading
 * and writing tensors. Tensors live in one arena, laid out after the graph is complete from
 * their lifetimes (first to last node that touches them), so buffers are reused. Weights are
 * given as float32 host arrays in PyTorch layout and reordered once into the layout the
 * primitive prefers (format_tag_any), converted to the graph's data type.
 *
 * Errors are sticky: an op that fails records the first error in the graph and returns
 * VG_NONE; later ops are no-ops, and vg_finalize() reports it. Builders therefore check once.
 *
 * Dry mode (no engine): shapes, MACs and parameter counts only, nothing allocated or created.
 *
 * Activation layout: 4-D tensors are logical NCHW in NHWC memory (tag nhwc), so a [1,C,H,W]
 * tensor is also the row-major [H*W, C] token matrix (vg_view2d) with no reorder.
 */
#ifndef VLM_ENGINE_GRAPH_H
#define VLM_ENGINE_GRAPH_H

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>

#include "engine/engine.h"

typedef int vg_tensor;
#define VG_NONE (-1)

/* GELU: exact (erf); GELU_TANH: the tanh approximation (SigLIP); QUICKGELU: x * sigmoid(1.702 x)
 * (OpenAI CLIP). */
typedef enum vg_act {
    VG_ACT_NONE,
    VG_ACT_GELU,
    VG_ACT_RELU,
    VG_ACT_SIGMOID,
    VG_ACT_SILU,
    VG_ACT_GELU_TANH,
    VG_ACT_QUICKGELU
} vg_act;

/* Layer kinds, for profiles. */
typedef enum vg_kind {
    VG_KIND_CONV,
    VG_KIND_CONV1X1,
    VG_KIND_DWCONV,
    VG_KIND_GROUPCONV,
    VG_KIND_MATMUL,
    VG_KIND_ATTENTION, /* QK^T, softmax, AV */
    VG_KIND_NORM,
    VG_KIND_ELTWISE, /* binary, eltwise, reduction */
    VG_KIND_REORDER,
    VG_KIND_EMBED, /* embedding lookup */
    VG_KIND_ROPE,  /* rotary position embedding */
    VG_KIND_COUNT
} vg_kind;

const char *vg_kind_name(vg_kind kind);

typedef struct vg_graph vg_graph;

typedef struct vg_node_info {
    vg_kind kind;
    int stage;    /* model-defined stage index, for profiles */
    int64_t macs; /* multiply-accumulates this node performs */
    const char *impl; /* oneDNN implementation name (borrowed), "" in dry mode */
} vg_node_info;

/* engine NULL = dry mode. dt: activation and weight data type (f32 or bf16). */
vg_graph *vg_create(dnnl_engine_t engine, dnnl_data_type_t dt);
void vg_destroy(vg_graph *g);

bool vg_is_dry(const vg_graph *g);
vlm_status vg_status(const vg_graph *g, vlm_error *err); /* the sticky error, if any */
void vg_fail(vg_graph *g, vlm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vg_set_stage(vg_graph *g, int stage);
dnnl_data_type_t vg_dtype(const vg_graph *g);

/* ---- tensors ---- */
/* A new activation: 4-D dims are NCHW in nhwc memory; 1-3-D are row-major. dt 0 = graph dt. */
vg_tensor vg_new(vg_graph *g, int ndims, const int64_t *dims, dnnl_data_type_t dt);
vg_tensor vg_new4(vg_graph *g, int64_t c, int64_t h, int64_t w); /* [1,c,h,w] graph dt */
/* A view of base's memory with other dims and strides (in elements) starting offset elements
 * in; it keeps base alive while used. */
vg_tensor vg_view(vg_graph *g, vg_tensor base, int ndims, const int64_t *dims,
                  const int64_t *strides, int64_t offset);
/* [1,C,H,W] nhwc viewed as [H*W, C]. */
vg_tensor vg_view2d(vg_graph *g, vg_tensor t);
int vg_ndims(const vg_graph *g, vg_tensor t);
const int64_t *vg_dims(const vg_graph *g, vg_tensor t);
/* A constant float32 tensor (row-major), copied now and shared by every node that reads it;
 * never in the arena. */
vg_tensor vg_const(vg_graph *g, int ndims, const int64_t *dims, const float *data);
/* Marks t as bound by the caller at run time (input or output); never in the arena. */
void vg_mark_external(vg_graph *g, vg_tensor t);

/* ---- ops: each appends one node; dst VG_NONE = a new tensor; returns dst ---- */

typedef struct vg_conv_desc {
    int64_t cout, k, stride, pad, groups;
    const float *weight; /* [cout, cin/groups, k, k] PyTorch OIHW; NULL in dry mode */
    const float *bias;   /* [cout] or NULL */
    vg_act act;
    bool accumulate;     /* dst += conv(src) (residual sum post-op); dst must be given */
} vg_conv_desc;
vg_tensor vg_conv(vg_graph *g, vg_tensor src, vg_tensor dst, const vg_conv_desc *d);

/* dst[M,N] (+)= act(src[M,K] @ W^T + bias), W given as PyTorch Linear weight [N, K].
 * src may be any 2-D tensor or view. */
vg_tensor vg_linear(vg_graph *g, vg_tensor src, vg_tensor dst, int64_t n, const float *weight,
                    const float *bias, vg_act act, bool accumulate);

/* Like vg_linear, then dst *= mul_by (a tensor of dst's shape; binary post-op). */
vg_tensor vg_linear_mul(vg_graph *g, vg_tensor src, vg_tensor dst, int64_t n, const float *weight,
                        const float *bias, vg_tensor mul_by);

/* Batched dst[B..,M,N] = scale * a[B..,M,K] @ b[B..,K,N], all activations (views allowed,
 * 3-D or 4-D; b's batch dims may be 1 to broadcast). add (VG_NONE for none): a float32 [M, N]
 * tensor (e.g. a vg_const causal mask of -inf above the diagonal) added after scaling. */
vg_tensor vg_matmul(vg_graph *g, vg_tensor a, vg_tensor b, vg_tensor dst, float scale,
                    vg_kind kind);
vg_tensor vg_matmul_add(vg_graph *g, vg_tensor a, vg_tensor b, vg_tensor dst, float scale,
                        vg_tensor add, vg_kind kind);

/* A node that runs C code: fn(ctx, ptrs) with ptrs[i] the data pointer of tensors[i] (in the
 * tensor's dtype and strides; views resolved). ctx is owned by the graph and released with
 * ctx_free (may be NULL). For what oneDNN lacks: RMSNorm, RoPE, embedding lookup. */
typedef void (*vg_custom_fn)(void *ctx, void *const *ptrs);
void vg_custom(vg_graph *g, vg_kind kind, int64_t macs, vg_custom_fn fn, void *ctx,
               void (*ctx_free)(void *), int n, const vg_tensor *tensors);

/* LayerNorm over the last dimension (of a 2-D tensor or view). */
vg_tensor vg_layernorm(vg_graph *g, vg_tensor src, vg_tensor dst, const float *gamma,
                       const float *beta, float eps);
/* Softmax over the last dimension; dst may be src (in place) or a tensor of another dt. */
vg_tensor vg_softmax(vg_graph *g, vg_tensor src, vg_tensor dst);
/* Mean over H and W of [1,C,H,W] into [1,C,1,1] (dt 0 = graph dt). */
vg_tensor vg_mean_hw(vg_graph *g, vg_tensor src, dnnl_data_type_t dt);
/* dst = act(src0 * src1) with src1 broadcast (e.g. [1,C,1,1] over [1,C,H,W]). */
vg_tensor vg_mul(vg_graph *g, vg_tensor src0, vg_tensor src1, vg_tensor dst, vg_act act);
/* dst = src0 + src1 with src1 broadcast; dst may be src0 (in place). */
vg_tensor vg_add(vg_graph *g, vg_tensor src0, vg_tensor src1, vg_tensor dst);
/* dst = act(src) */
vg_tensor vg_eltwise(vg_graph *g, vg_tensor src, vg_tensor dst, vg_act act);
/* dst = src with dst's layout/dtype. */
vg_tensor vg_reorder(vg_graph *g, vg_tensor src, vg_tensor dst);

/* ---- finalize and run ---- */
/* Lays out the arena and creates memory objects. Reports the sticky error. */
vlm_status vg_finalize(vg_graph *g, vlm_error *err);
/* Sets an external tensor's buffer for the next runs. */
void vg_bind(vg_graph *g, vg_tensor t, void *ptr);
/* Runs every node in order and waits. times_ns (node count entries) optional: per-node wall
 * time, with a stream wait after each node. */
vlm_status vg_run(vg_graph *g, dnnl_stream_t stream, int64_t *times_ns, vlm_error *err);

int vg_node_count(const vg_graph *g);
vg_node_info vg_node_get(const vg_graph *g, int i);
size_t vg_arena_bytes(const vg_graph *g);   /* activations, after finalize */
size_t vg_weight_bytes(const vg_graph *g);  /* packed weights held by primitives' inputs */
size_t vg_scratch_bytes(const vg_graph *g); /* shared oneDNN scratchpad */
int64_t vg_total_macs(const vg_graph *g);

#endif /* VLM_ENGINE_GRAPH_H */
