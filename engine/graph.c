#include "engine/graph.h"

#include "engine/sgemm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* oneDNN's C API declares dims parameters as dnnl_dims_t (int64_t[12]); passing shorter arrays
 * is correct (it reads ndims entries) but GCC 12 warns about the declared size. */
#pragma GCC diagnostic ignored "-Wstringop-overread"
#pragma GCC diagnostic ignored "-Warray-bounds"

#define MAX_ARGS 8
#define ALIGN 64

typedef struct tensor {
    int ndims;
    int64_t dims[DNNL_MAX_NDIMS];
    int64_t strides[DNNL_MAX_NDIMS];
    dnnl_data_type_t dt;
    int base;        /* index of the tensor owning the memory; itself for a base tensor */
    int64_t offset;  /* elements from the start of base's memory (views) */
    size_t bytes;    /* base tensors: bytes of the buffer */
    int first, last; /* base tensors: first and last node index that touches it */
    bool external;
    size_t arena_off;
    dnnl_memory_t mem;
    void *ptr;   /* data pointer (after finalize, or vg_bind for external tensors) */
    void *owned; /* vg_const data */
} tensor;

typedef struct arg {
    int id;
    int t;               /* tensor index, or -1 */
    dnnl_memory_t konst; /* owned constant (weights, bias), when t < 0 */
} arg;

typedef struct node {
    dnnl_primitive_t prim;
    int nargs;
    arg args[MAX_ARGS];
    vg_kind kind;
    int stage;
    int64_t macs;
    char *impl;
    dnnl_memory_desc_t scratch_md;
    dnnl_memory_t scratch_mem;
    vg_custom_fn fn; /* custom node: args[i].t are its tensors */
    void *ctx;
    void (*ctx_free)(void *);
} node;

struct vg_graph {
    dnnl_engine_t engine; /* borrowed; NULL = dry */
    dnnl_stream_t build_stream;
    dnnl_data_type_t dt;
    tensor *t;
    int nt, capt;
    node *n;
    int nn, capn;
    int stage;
    vlm_status status;
    char msg[1024];
    void *arena, *scratch;
    size_t arena_bytes, scratch_bytes, weight_bytes;
    bool finalized;
};

static const char *const kind_names[VG_KIND_COUNT] = {
    "conv3x3", "conv1x1", "dwconv", "groupconv", "linear", "attention", "norm", "eltwise",
    "reorder", "embed", "rope"};

const char *vg_kind_name(vg_kind kind) {
    return kind < VG_KIND_COUNT ? kind_names[kind] : "?";
}

void vg_fail(vg_graph *g, vlm_status st, const char *fmt, ...) {
    if (g->status != VLM_OK)
        return;
    g->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    va_end(ap);
}

#define DNNL_TRY(g, call, what)                                                                \
    do {                                                                                       \
        dnnl_status_t s_ = (call);                                                             \
        if (s_ != dnnl_success) {                                                              \
            vg_fail((g), s_ == dnnl_out_of_memory ? VLM_ERR_NOMEM : VLM_ERR_INTERNAL,          \
                    "oneDNN %s failed (%s) in %s at %s:%d", #call, dnnl_status2str_(s_), what, \
                    __FILE__, __LINE__);                                                       \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

static const char *dnnl_status2str_(dnnl_status_t s) {
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    }
    return "unknown";
}

vg_graph *vg_create(dnnl_engine_t engine, dnnl_data_type_t dt) {
    vg_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->engine = engine;
    g->dt = dt;
    if (engine && dnnl_stream_create(&g->build_stream, engine, dnnl_stream_default_flags) !=
                      dnnl_success) {
        free(g);
        return NULL;
    }
    return g;
}

void vg_destroy(vg_graph *g) {
    if (!g)
        return;
    for (int i = 0; i < g->nn; i++) {
        node *n = &g->n[i];
        dnnl_primitive_destroy(n->prim);
        for (int a = 0; a < n->nargs; a++)
            dnnl_memory_destroy(n->args[a].konst);
        dnnl_memory_destroy(n->scratch_mem);
        free(n->impl);
        if (n->ctx_free)
            n->ctx_free(n->ctx);
    }
    for (int i = 0; i < g->nt; i++) {
        dnnl_memory_destroy(g->t[i].mem);
        free(g->t[i].owned);
    }
    if (g->build_stream)
        dnnl_stream_destroy(g->build_stream);
    free(g->arena);
    free(g->scratch);
    free(g->t);
    free(g->n);
    free(g);
}

bool vg_is_dry(const vg_graph *g) { return g->engine == NULL; }
dnnl_data_type_t vg_dtype(const vg_graph *g) { return g->dt; }
void vg_set_stage(vg_graph *g, int stage) { g->stage = stage; }

vlm_status vg_status(const vg_graph *g, vlm_error *err) {
    if (g->status != VLM_OK)
        return vlm_error_set(err, g->status, "%s", g->msg);
    return VLM_OK;
}

static size_t dt_size(dnnl_data_type_t dt) {
    switch (dt) {
    case dnnl_bf16:
    case dnnl_f16: return 2;
    case dnnl_s8:
    case dnnl_u8: return 1;
    default: return 4;
    }
}

/* ---- tensors ---------------------------------------------------------------------------- */

static int add_tensor(vg_graph *g) {
    if (g->status != VLM_OK)
        return VG_NONE;
    if (g->nt == g->capt) {
        int cap = g->capt ? 2 * g->capt : 64;
        tensor *t = realloc(g->t, (size_t)cap * sizeof *t);
        if (!t) {
            vg_fail(g, VLM_ERR_NOMEM, "out of memory growing the graph");
            return VG_NONE;
        }
        g->t = t;
        g->capt = cap;
    }
    tensor *t = &g->t[g->nt];
    memset(t, 0, sizeof *t);
    t->first = t->last = -1;
    return g->nt++;
}

vg_tensor vg_new(vg_graph *g, int ndims, const int64_t *dims_in, dnnl_data_type_t dt) {
    /* dims may point into g->t (another tensor's dims), which add_tensor may move */
    int64_t dims[DNNL_MAX_NDIMS];
    if (ndims < 0 || ndims > DNNL_MAX_NDIMS) {
        vg_fail(g, VLM_ERR_INTERNAL, "tensor of %d dimensions", ndims);
        return VG_NONE;
    }
    memcpy(dims, dims_in, (size_t)ndims * sizeof *dims);
    int id = add_tensor(g);
    if (id == VG_NONE)
        return VG_NONE;
    tensor *t = &g->t[id];
    t->ndims = ndims;
    t->dt = dt ? dt : g->dt;
    t->base = id;
    memcpy(t->dims, dims, (size_t)ndims * sizeof *dims);
    if (ndims == 4) { /* NCHW logical, NHWC memory */
        int64_t c = dims[1], h = dims[2], w = dims[3];
        t->strides[0] = c * h * w;
        t->strides[1] = 1;
        t->strides[2] = w * c;
        t->strides[3] = c;
    } else {
        int64_t s = 1;
        for (int i = ndims - 1; i >= 0; i--) {
            t->strides[i] = s;
            s *= dims[i];
        }
    }
    int64_t count = 1;
    for (int i = 0; i < ndims; i++)
        count *= dims[i];
    t->bytes = (size_t)count * dt_size(t->dt);
    return id;
}

vg_tensor vg_new4(vg_graph *g, int64_t c, int64_t h, int64_t w) {
    return vg_new(g, 4, (int64_t[]){1, c, h, w}, 0);
}

vg_tensor vg_view(vg_graph *g, vg_tensor base, int ndims, const int64_t *dims_in,
                  const int64_t *strides_in, int64_t offset) {
    if (base == VG_NONE || g->status != VLM_OK)
        return VG_NONE;
    if (ndims < 1 || ndims > DNNL_MAX_NDIMS) {
        vg_fail(g, VLM_ERR_INTERNAL, "view of %d dimensions", ndims);
        return VG_NONE;
    }
    /* copied first: they may point into g->t, which add_tensor may move */
    int64_t dims[DNNL_MAX_NDIMS], strides[DNNL_MAX_NDIMS];
    memcpy(dims, dims_in, (size_t)ndims * sizeof *dims);
    memcpy(strides, strides_in, (size_t)ndims * sizeof *strides);
    int id = add_tensor(g);
    if (id == VG_NONE)
        return VG_NONE;
    tensor *t = &g->t[id], *b = &g->t[g->t[base].base];
    t->ndims = ndims;
    t->dt = b->dt;
    t->base = g->t[base].base;
    t->offset = g->t[base].offset + offset;
    t->external = b->external;
    memcpy(t->dims, dims, (size_t)ndims * sizeof *dims);
    memcpy(t->strides, strides, (size_t)ndims * sizeof *strides);
    return id;
}

vg_tensor vg_view2d(vg_graph *g, vg_tensor x) {
    if (x == VG_NONE || g->status != VLM_OK)
        return VG_NONE;
    const int64_t *d = g->t[x].dims;
    return vg_view(g, x, 2, (int64_t[]){d[2] * d[3], d[1]}, (int64_t[]){d[1], 1}, 0);
}

/* VG_NONE (after a sticky error) reads as a 0-d tensor with all dims 0, so builders can keep
 * going until they check the status once. */
static const int64_t no_dims[DNNL_MAX_NDIMS];

int vg_ndims(const vg_graph *g, vg_tensor t) { return t < 0 ? 0 : g->t[t].ndims; }
const int64_t *vg_dims(const vg_graph *g, vg_tensor t) { return t < 0 ? no_dims : g->t[t].dims; }

vg_tensor vg_const(vg_graph *g, int ndims, const int64_t *dims, const float *data) {
    vg_tensor t = vg_new(g, ndims, dims, dnnl_f32);
    if (t == VG_NONE)
        return VG_NONE;
    g->t[t].external = true;
    if (vg_is_dry(g))
        return t;
    g->t[t].owned = malloc(g->t[t].bytes ? g->t[t].bytes : 1);
    if (!g->t[t].owned) {
        vg_fail(g, VLM_ERR_NOMEM, "out of memory for a %zu-byte constant", g->t[t].bytes);
        return VG_NONE;
    }
    memcpy(g->t[t].owned, data, g->t[t].bytes);
    return t;
}

void vg_mark_external(vg_graph *g, vg_tensor t) {
    if (t != VG_NONE)
        g->t[g->t[t].base].external = true;
}

static bool same_layout(const vg_graph *g, vg_tensor a, vg_tensor b) {
    const tensor *x = &g->t[a], *y = &g->t[b];
    if (x->ndims != y->ndims || x->dt != y->dt)
        return false;
    for (int i = 0; i < x->ndims; i++)
        if (x->dims[i] != y->dims[i] || x->strides[i] != y->strides[i])
            return false;
    return true;
}

static dnnl_memory_desc_t tensor_md(const vg_graph *g, vg_tensor id) {
    const tensor *t = &g->t[id];
    dnnl_memory_desc_t md;
    dnnl_memory_desc_init_by_strides(&md, t->ndims, t->dims, t->dt, t->strides);
    return md;
}

/* ---- nodes ------------------------------------------------------------------------------ */

static node *add_node(vg_graph *g, vg_kind kind, int64_t macs) {
    if (g->nn == g->capn) {
        int cap = g->capn ? 2 * g->capn : 64;
        node *n = realloc(g->n, (size_t)cap * sizeof *n);
        if (!n) {
            vg_fail(g, VLM_ERR_NOMEM, "out of memory growing the graph");
            return NULL;
        }
        g->n = n;
        g->capn = cap;
    }
    node *n = &g->n[g->nn++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->stage = g->stage;
    n->macs = macs;
    return n;
}

static void node_arg(node *n, int id, vg_tensor t) {
    n->args[n->nargs++] = (arg){id, t, NULL};
}

static void node_const(node *n, int id, dnnl_memory_t m) {
    n->args[n->nargs++] = (arg){id, -1, m};
}

/* Post-ops in this order: residual sum, activation, then one binary op with src1 of bin_md
 * (when bin_md is non-NULL; its post-op index goes to *bin_index). */
/* The oneDNN eltwise algorithm of an activation and its alpha: linear's scale (1, identity),
 * relu's negative slope (0), swish's beta (1 for SiLU, 1.702 for QuickGELU). */
static dnnl_alg_kind_t act_alg(vg_act act, float *alpha) {
    *alpha = 0.f;
    switch (act) {
    case VG_ACT_GELU: return dnnl_eltwise_gelu_erf;
    case VG_ACT_GELU_TANH: return dnnl_eltwise_gelu_tanh;
    case VG_ACT_RELU: return dnnl_eltwise_relu;
    case VG_ACT_SIGMOID: return dnnl_eltwise_logistic;
    case VG_ACT_SILU: *alpha = 1.f; return dnnl_eltwise_swish;
    case VG_ACT_QUICKGELU: *alpha = 1.702f; return dnnl_eltwise_swish;
    case VG_ACT_NONE: break;
    }
    *alpha = 1.f;
    return dnnl_eltwise_linear;
}

static dnnl_primitive_attr_t make_attr_bin(vg_graph *g, vg_act act, bool accumulate, float scale,
                                           dnnl_alg_kind_t bin_alg,
                                           const dnnl_memory_desc_t *bin_md, int *bin_index) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success)
        goto fail;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (scale != 1.0f)
        dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    if (dnnl_post_ops_create(&po) != dnnl_success)
        goto fail;
    if (accumulate)
        dnnl_post_ops_append_sum(po, 1.0f);
    if (act != VG_ACT_NONE) {
        float alpha;
        dnnl_alg_kind_t alg = act_alg(act, &alpha);
        dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.f);
    }
    if (bin_md) {
        *bin_index = dnnl_post_ops_len(po);
        dnnl_post_ops_append_binary(po, bin_alg, bin_md);
    }
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return attr;
fail:
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    vg_fail(g, VLM_ERR_NOMEM, "out of memory creating primitive attributes");
    return NULL;
}

static dnnl_primitive_attr_t make_attr(vg_graph *g, vg_act act, bool accumulate, float scale) {
    return make_attr_bin(g, act, accumulate, scale, dnnl_binary_add, NULL, NULL);
}

/* Creates the primitive of pd for node n and records its implementation and scratchpad. */
static void finish_node(vg_graph *g, node *n, dnnl_primitive_desc_t pd, const char *what) {
    const char *impl = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    n->impl = strdup(impl ? impl : "");
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd) {
        n->scratch_md = *smd;
        size_t s = dnnl_memory_desc_get_size(smd);
        if (s > g->scratch_bytes)
            g->scratch_bytes = s;
    }
    dnnl_status_t st = dnnl_primitive_create(&n->prim, pd);
    if (st != dnnl_success)
        vg_fail(g, VLM_ERR_INTERNAL, "oneDNN could not create the %s primitive (%s)", what,
                dnnl_status2str_(st));
}

/* Creates n's primitive from an op descriptor (for ops whose weights, if any, need no packing
 * by the primitive's choice). attr is consumed; NULL means make_attr already failed. */
static void create_node(vg_graph *g, node *n, const_dnnl_op_desc_t desc,
                        dnnl_primitive_attr_t attr, const char *what) {
    dnnl_primitive_desc_t pd = NULL;
    if (!attr)
        return;
    DNNL_TRY(g, dnnl_primitive_desc_create(&pd, desc, attr, g->engine, NULL), what);
    finish_node(g, n, pd, what);
fail:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
}

/* Reorders host float32 data laid out as user_md into a new memory of packed_md. */
static dnnl_memory_t pack_const(vg_graph *g, const dnnl_memory_desc_t *user_md, const float *data,
                                const dnnl_memory_desc_t *packed_md, const char *what) {
    dnnl_memory_t user = NULL, packed = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    DNNL_TRY(g, dnnl_memory_create(&user, user_md, g->engine, (void *)data), what);
    DNNL_TRY(g, dnnl_memory_create(&packed, packed_md, g->engine, DNNL_MEMORY_ALLOCATE), what);
    DNNL_TRY(g, dnnl_reorder_primitive_desc_create(&rpd, user_md, g->engine, packed_md, g->engine,
                                                   NULL),
             what);
    DNNL_TRY(g, dnnl_primitive_create(&r, rpd), what);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, packed}};
    DNNL_TRY(g, dnnl_primitive_execute(r, g->build_stream, 2, args), what);
    DNNL_TRY(g, dnnl_stream_wait(g->build_stream), what);
    g->weight_bytes += dnnl_memory_desc_get_size(packed_md);
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    return packed;
fail:
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(user);
    dnnl_memory_destroy(packed);
    return NULL;
}

static dnnl_memory_t make_bias(vg_graph *g, const float *bias, int64_t n, int ndims,
                               const char *what) {
    dnnl_memory_desc_t md;
    int64_t dims[2] = {1, n};
    if (ndims == 1)
        dims[0] = n;
    dnnl_memory_desc_init_by_tag(&md, ndims, dims, dnnl_f32, ndims == 1 ? dnnl_a : dnnl_ab);
    return pack_const(g, &md, bias, &md, what);
}

vg_tensor vg_conv(vg_graph *g, vg_tensor src, vg_tensor dst, const vg_conv_desc *d) {
    if (g->status != VLM_OK || src == VG_NONE)
        return VG_NONE;
    if (d->stride < 1 || d->groups < 1 || d->k < 1 || d->pad < 0 || d->cout < 1) {
        vg_fail(g, VLM_ERR_INVALID, "convolution with kernel %lld, stride %lld, padding %lld, "
                "%lld groups, %lld outputs: impossible shape", (long long)d->k,
                (long long)d->stride, (long long)d->pad, (long long)d->groups, (long long)d->cout);
        return VG_NONE;
    }
    const int64_t *sd = g->t[src].dims;
    int64_t cin = sd[1], h = sd[2], w = sd[3];
    int64_t ho = (h + 2 * d->pad - d->k) / d->stride + 1;
    int64_t wo = (w + 2 * d->pad - d->k) / d->stride + 1;
    /* the kernel must fit the padded input: C's truncating division makes (2 - 3) / 2 + 1 = 1 */
    if (cin % d->groups || d->cout % d->groups || h + 2 * d->pad < d->k ||
        w + 2 * d->pad < d->k || ho < 1 || wo < 1) {
        vg_fail(g, VLM_ERR_INVALID,
                "convolution %lldx%lld stride %lld on a %lldx%lld input with %lld channels, "
                "%lld groups: impossible shape",
                (long long)d->k, (long long)d->k, (long long)d->stride, (long long)h,
                (long long)w, (long long)cin, (long long)d->groups);
        return VG_NONE;
    }
    int64_t mult = d->cout / d->groups;
    if (d->groups == cin && cin > 1 && mult > 1) {
        /* A grouped conv with one input channel per group and a channel multiplier (FastViT's
         * down-samplers and final conv) has no fast oneDNN kernel (x64:gemm:jit per group, ~1
         * GFLOP/s). Duplicate each input channel mult times with one reorder from a stride-0
         * view, then run a true depthwise conv: output channel o = g*mult + j reads channel g,
         * which is exactly PyTorch's weight layout [cout, 1, k, k]. */
        vg_tensor dup = vg_new4(g, cin * mult, h, w);
        vg_tensor from = vg_view(g, src, 5, (int64_t[]){1, cin, mult, h, w},
                                 (int64_t[]){cin * h * w, 1, 0, w * cin, cin}, 0);
        vg_tensor to = vg_view(g, dup, 5, (int64_t[]){1, cin, mult, h, w},
                               (int64_t[]){mult * cin * h * w, mult, 1, w * mult * cin, mult * cin},
                               0);
        vg_reorder(g, from, to);
        vg_conv_desc dw = *d;
        dw.groups = d->cout;
        return vg_conv(g, dup, dst, &dw);
    }
    if (dst == VG_NONE)
        dst = vg_new4(g, d->cout, ho, wo);
    if (dst == VG_NONE)
        return VG_NONE;
    const int64_t *dd = g->t[dst].dims;
    if (dd[1] != d->cout || dd[2] != ho || dd[3] != wo) {
        vg_fail(g, VLM_ERR_INTERNAL, "convolution destination has the wrong shape");
        return VG_NONE;
    }
    vg_kind kind = d->groups == 1 ? (d->k == 1 ? VG_KIND_CONV1X1 : VG_KIND_CONV)
                   : (d->groups == cin && d->groups == d->cout) ? VG_KIND_DWCONV
                                                                : VG_KIND_GROUPCONV;
    int64_t macs = ho * wo * d->cout * (cin / d->groups) * d->k * d->k;
    node *n = add_node(g, kind, macs);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, src);
    node_arg(n, DNNL_ARG_DST, dst);
    if (vg_is_dry(g))
        return dst;

    dnnl_memory_desc_t src_md = tensor_md(g, src), dst_md = tensor_md(g, dst), w_any, w_user,
                       b_md;
    int64_t grp = d->groups;
    if (grp == 1) {
        int64_t wd[4] = {d->cout, cin, d->k, d->k};
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, g->dt, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_oihw);
    } else {
        int64_t wd[5] = {grp, d->cout / grp, cin / grp, d->k, d->k};
        dnnl_memory_desc_init_by_tag(&w_any, 5, wd, g->dt, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&w_user, 5, wd, dnnl_f32, dnnl_goihw);
    }
    dnnl_memory_desc_init_by_tag(&b_md, 1, (int64_t[]){d->cout}, dnnl_f32, dnnl_a);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int64_t strides[2] = {d->stride, d->stride}, pad[2] = {d->pad, d->pad};
    DNNL_TRY(g,
             dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                dnnl_convolution_direct, &src_md, &w_any,
                                                d->bias ? &b_md : NULL, &dst_md, strides, pad, pad),
             "convolution");
    attr = make_attr(g, d->act, d->accumulate, 1.0f);
    if (!attr)
        goto fail;
    DNNL_TRY(g, dnnl_primitive_desc_create(&pd, &cd, attr, g->engine, NULL), "convolution");
    const dnnl_memory_desc_t *w_packed = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t wm = pack_const(g, &w_user, d->weight, w_packed, "convolution weights");
    if (!wm)
        goto fail;
    node_const(n, DNNL_ARG_WEIGHTS, wm);
    if (d->bias) {
        dnnl_memory_t bm = make_bias(g, d->bias, d->cout, 1, "convolution bias");
        if (!bm)
            goto fail;
        node_const(n, DNNL_ARG_BIAS, bm);
    }
    finish_node(g, n, pd, "convolution");
fail:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return g->status == VLM_OK ? dst : VG_NONE;
}

/* ---- linears of 32 rows or more: vlm_sgemm (engine/sgemm.c) ---------------------------- */

typedef struct sgemm_node {
    vlm_sgemm_w *w;
    vlm_sgemm_args a; /* x, y and mul come from the node's tensors at run time */
    bool has_mul;
    void *const *work; /* the graph's shared scratchpad (nodes run one at a time) */
} sgemm_node;

static void sgemm_node_run(void *c, void *const *ptrs) {
    const sgemm_node *s = c;
    vlm_sgemm_args a = s->a;
    a.work = *s->work;
    a.x = ptrs[0];
    a.y = ptrs[1];
    a.mul = s->has_mul ? ptrs[2] : NULL;
    vlm_sgemm_run(s->w, &a);
}

static void sgemm_node_free(void *c) {
    sgemm_node *s = c;
    if (s)
        vlm_sgemm_free(s->w);
    free(s);
}

/* An A/B switch from the environment: set, non-empty and not "0". */
static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0");
}

/* A 2-D f32 tensor with unit column stride: its row stride, else 0. */
static int64_t row_stride_f32(const vg_graph *g, vg_tensor t) {
    const tensor *x = &g->t[t];
    return x->ndims == 2 && x->dt == dnnl_f32 && x->strides[1] == 1 ? x->strides[0] : 0;
}

/* From 32 rows on, in f32 on AVX2 + FMA: our GEMM on weights packed once into its panel
 * layout. Per shape (bench/tools/linear_shapes.c: `vlm-linear-bench`, interleaved medians,
 * one thread) it is level with or ahead of both oneDNN 2.6 primitives on every linear of
 * ViT-B/16, ViT-L/14 and Qwen2-0.5B/1.5B: 56-74 GFLOP/s where the inner product runs
 * ViT-B/16's fc1 at 47 and the matmul runs Qwen2-1.5B's 280 x 8960 -> 1536 at 47. Fewer rows
 * are bound by weight bandwidth (the LM head's single row: 77 against 52 ms) and stay with the
 * inner product. n is the node linear_impl added with src and dst as its first two tensors.
 * False (nothing changed) when the shapes or the CPU do not qualify. For A/B runs,
 * VLM_LINEAR_ONEDNN=1 keeps oneDNN's inner product (below 256 rows) or matmul, and
 * VLM_LINEAR_MATMUL=1 its matmul. */
static bool linear_sgemm(vg_graph *g, node *n, vg_tensor src, vg_tensor dst, vg_tensor mul_by,
                         const float *weight, const float *bias, vg_act act, bool accumulate) {
    static const vlm_sgemm_act acts[] = {
        [VG_ACT_NONE] = VLM_SGEMM_NONE,           [VG_ACT_GELU] = VLM_SGEMM_GELU,
        [VG_ACT_RELU] = VLM_SGEMM_RELU,           [VG_ACT_SIGMOID] = VLM_SGEMM_SIGMOID,
        [VG_ACT_SILU] = VLM_SGEMM_SILU,           [VG_ACT_GELU_TANH] = VLM_SGEMM_GELU_TANH,
        [VG_ACT_QUICKGELU] = VLM_SGEMM_QUICKGELU};
    int64_t m = g->t[src].dims[0], k = g->t[src].dims[1], nout = g->t[dst].dims[1];
    int64_t ldx = row_stride_f32(g, src), ldy = row_stride_f32(g, dst);
    int64_t ldm = mul_by != VG_NONE ? row_stride_f32(g, mul_by) : 0;
    if (m < 32 || g->dt != dnnl_f32 || !ldx || !ldy || (mul_by != VG_NONE && !ldm) ||
        (mul_by != VG_NONE && (g->t[mul_by].dims[0] != m || g->t[mul_by].dims[1] != nout)) ||
        env_flag("VLM_LINEAR_ONEDNN") || env_flag("VLM_LINEAR_MATMUL") || !vlm_sgemm_supported())
        return false;
    sgemm_node *s = calloc(1, sizeof *s);
    if (!s || !(s->w = vlm_sgemm_pack(weight, bias, nout, k))) {
        free(s);
        vg_fail(g, VLM_ERR_NOMEM, "out of memory packing linear weights");
        return true;
    }
    s->a = (vlm_sgemm_args){
        .m = m, .ldx = ldx, .ldy = ldy, .ldm = ldm, .accumulate = accumulate, .act = acts[act]};
    s->has_mul = mul_by != VG_NONE;
    if (s->has_mul)
        node_arg(n, 2, mul_by);
    s->work = &g->scratch;
    if (vlm_sgemm_work_bytes(m) > g->scratch_bytes)
        g->scratch_bytes = vlm_sgemm_work_bytes(m);
    n->fn = sgemm_node_run;
    n->ctx = s;
    n->ctx_free = sgemm_node_free;
    n->impl = strdup("vlm:sgemm:avx2");
    g->weight_bytes += vlm_sgemm_bytes(s->w);
    return true;
}

static vg_tensor linear_impl(vg_graph *g, vg_tensor src, vg_tensor dst, int64_t nout,
                             const float *weight, const float *bias, vg_act act, bool accumulate,
                             vg_tensor mul_by) {
    if (g->status != VLM_OK || src == VG_NONE)
        return VG_NONE;
    if (g->t[src].ndims != 2) {
        vg_fail(g, VLM_ERR_INTERNAL, "linear expects a 2-D source");
        return VG_NONE;
    }
    int64_t m = g->t[src].dims[0], k = g->t[src].dims[1];
    if (dst == VG_NONE)
        dst = vg_new(g, 2, (int64_t[]){m, nout}, 0);
    if (dst == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, VG_KIND_MATMUL, m * k * nout);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, src);
    node_arg(n, DNNL_ARG_DST, dst);
    int bin_index = 0;
    dnnl_memory_desc_t mul_md;
    if (mul_by != VG_NONE)
        mul_md = tensor_md(g, mul_by);
    if (vg_is_dry(g)) {
        if (mul_by != VG_NONE)
            node_arg(n, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, mul_by);
        return dst;
    }
    if (linear_sgemm(g, n, src, dst, mul_by, weight, bias, act, accumulate))
        return g->status == VLM_OK ? dst : VG_NONE;
    dnnl_memory_desc_t src_md = tensor_md(g, src), dst_md = tensor_md(g, dst), w_any, w_user,
                       b_md;
    dnnl_memory_desc_init_by_tag(&w_any, 2, (int64_t[]){k, nout}, g->dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_user, 2, (int64_t[]){k, nout}, dnnl_f32, dnnl_ba);
    dnnl_memory_desc_init_by_tag(&b_md, 2, (int64_t[]){1, nout}, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    attr = make_attr_bin(g, act, accumulate, 1.0f, dnnl_binary_mul,
                         mul_by != VG_NONE ? &mul_md : NULL, &bin_index);
    if (!attr)
        goto fail;
    if (mul_by != VG_NONE)
        node_arg(n, DNNL_ARG_ATTR_MULTIPLE_POST_OP(bin_index) | DNNL_ARG_SRC_1, mul_by);
    /* Where linear_sgemm does not apply (fewer than 32 rows, bf16, no AVX2, or switched off):
     * below 256 rows an inner product, where oneDNN 2.6's AVX2 inner product beats its matmul
     * (M = 197, K = 768, N = 3072, 1 thread: 62 vs 22 GFLOP/s; ViT-B/16 784 -> 562-648 ms;
     * MCi0 92 -> 79 ms), while with more rows the matmul is ahead (ViT-L/14, 577 rows: 6.0 vs
     * 6.4 s; Qwen2-0.5B, 280 rows: 2.9 vs 3.2 s). Same post-ops; layouts it cannot take fall
     * back to the matmul.
     * VLM_LINEAR_MATMUL=1 forces the matmul (for A/B runs). */
    bool ip = false;
    if (m < 256 && !env_flag("VLM_LINEAR_MATMUL")) {
        dnnl_memory_desc_t wi_any, bi_md;
        dnnl_inner_product_desc_t id;
        dnnl_memory_desc_init_by_tag(&wi_any, 2, (int64_t[]){nout, k}, g->dt,
                                     dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&bi_md, 1, (int64_t[]){nout}, dnnl_f32, dnnl_a);
        ip = dnnl_inner_product_forward_desc_init(&id, dnnl_forward_inference, &src_md, &wi_any,
                                                  bias ? &bi_md : NULL, &dst_md) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&pd, &id, attr, g->engine, NULL) == dnnl_success;
        if (ip) {
            dnnl_memory_desc_init_by_tag(&w_user, 2, (int64_t[]){nout, k}, dnnl_f32, dnnl_ab);
            b_md = bi_md;
        } else {
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
        }
    }
    if (!ip) {
        DNNL_TRY(g, dnnl_matmul_desc_init(&md, &src_md, &w_any, bias ? &b_md : NULL, &dst_md),
                 "linear");
        DNNL_TRY(g, dnnl_primitive_desc_create(&pd, &md, attr, g->engine, NULL), "linear");
    }
    const dnnl_memory_desc_t *w_packed = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t wm = pack_const(g, &w_user, weight, w_packed, "linear weights");
    if (!wm)
        goto fail;
    node_const(n, DNNL_ARG_WEIGHTS, wm);
    if (bias) {
        dnnl_memory_t bm = make_bias(g, bias, nout, ip ? 1 : 2, "linear bias");
        if (!bm)
            goto fail;
        node_const(n, DNNL_ARG_BIAS, bm);
    }
    finish_node(g, n, pd, "linear");
fail:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return g->status == VLM_OK ? dst : VG_NONE;
}

vg_tensor vg_linear(vg_graph *g, vg_tensor src, vg_tensor dst, int64_t n, const float *weight,
                    const float *bias, vg_act act, bool accumulate) {
    return linear_impl(g, src, dst, n, weight, bias, act, accumulate, VG_NONE);
}

vg_tensor vg_linear_mul(vg_graph *g, vg_tensor src, vg_tensor dst, int64_t n, const float *weight,
                        const float *bias, vg_tensor mul_by) {
    if (mul_by == VG_NONE)
        return VG_NONE;
    return linear_impl(g, src, dst, n, weight, bias, VG_ACT_NONE, false, mul_by);
}

vg_tensor vg_matmul_add(vg_graph *g, vg_tensor a, vg_tensor b, vg_tensor dst, float scale,
                        vg_tensor add, vg_kind kind) {
    if (g->status != VLM_OK || a == VG_NONE || b == VG_NONE)
        return VG_NONE;
    const tensor *ta = &g->t[a], *tb = &g->t[b];
    int nd = ta->ndims;
    if ((nd != 3 && nd != 4) || tb->ndims != nd || tb->dims[nd - 2] != ta->dims[nd - 1]) {
        vg_fail(g, VLM_ERR_INTERNAL, "batched matmul shapes do not match");
        return VG_NONE;
    }
    int64_t m = ta->dims[nd - 2], k = ta->dims[nd - 1], nn = tb->dims[nd - 1], batch = 1;
    int64_t dd[4];
    for (int i = 0; i < nd - 2; i++) {
        if (tb->dims[i] != ta->dims[i] && tb->dims[i] != 1) {
            vg_fail(g, VLM_ERR_INTERNAL, "batched matmul batch dims do not broadcast");
            return VG_NONE;
        }
        dd[i] = ta->dims[i];
        batch *= ta->dims[i];
    }
    dd[nd - 2] = m;
    dd[nd - 1] = nn;
    if (dst == VG_NONE)
        dst = vg_new(g, nd, dd, 0);
    if (dst == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, kind, batch * m * k * nn);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, a);
    node_arg(n, DNNL_ARG_WEIGHTS, b);
    node_arg(n, DNNL_ARG_DST, dst);
    if (add != VG_NONE && (g->t[add].dims[g->t[add].ndims - 2] != m ||
                           g->t[add].dims[g->t[add].ndims - 1] != nn)) {
        vg_fail(g, VLM_ERR_INTERNAL, "matmul addend is not [M, N]");
        return VG_NONE;
    }
    if (vg_is_dry(g)) {
        if (add != VG_NONE)
            node_arg(n, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, add);
        return dst;
    }
    dnnl_memory_desc_t a_md = tensor_md(g, a), b_md = tensor_md(g, b), d_md = tensor_md(g, dst),
                       add_md;
    int64_t add_dims[4] = {1, 1, 1, 1}, add_strides[4] = {m * nn, m * nn, nn, 1};
    add_dims[nd - 2] = m;
    add_dims[nd - 1] = nn;
    if (nd == 3) {
        add_strides[0] = m * nn;
        add_strides[1] = nn;
        add_strides[2] = 1;
    }
    dnnl_memory_desc_init_by_strides(&add_md, nd, add_dims, dnnl_f32, add_strides);
    dnnl_matmul_desc_t md;
    int bin_index = 0;
    DNNL_TRY(g, dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &d_md), "batched matmul");
    dnnl_primitive_attr_t attr = make_attr_bin(g, VG_ACT_NONE, false, scale, dnnl_binary_add,
                                               add != VG_NONE ? &add_md : NULL, &bin_index);
    if (attr && add != VG_NONE) {
        /* the addend's memory object is viewed with broadcast dims of the dst's rank */
        vg_tensor v = vg_view(g, add, nd, add_dims, add_strides, 0);
        node_arg(n, DNNL_ARG_ATTR_MULTIPLE_POST_OP(bin_index) | DNNL_ARG_SRC_1, v);
    }
    create_node(g, n, &md, attr, "batched matmul");
fail:
    return g->status == VLM_OK ? dst : VG_NONE;
}

vg_tensor vg_matmul(vg_graph *g, vg_tensor a, vg_tensor b, vg_tensor dst, float scale,
                    vg_kind kind) {
    return vg_matmul_add(g, a, b, dst, scale, VG_NONE, kind);
}

void vg_custom(vg_graph *g, vg_kind kind, int64_t macs, vg_custom_fn fn, void *ctx,
               void (*ctx_free)(void *), int nt, const vg_tensor *tensors) {
    node *n = NULL;
    if (g->status == VLM_OK && nt <= MAX_ARGS)
        n = add_node(g, kind, macs);
    if (!n) {
        if (g->status == VLM_OK)
            vg_fail(g, VLM_ERR_INTERNAL, "custom node with too many tensors");
        if (ctx_free)
            ctx_free(ctx);
        return;
    }
    n->fn = fn;
    n->ctx = ctx;
    n->ctx_free = ctx_free;
    n->impl = strdup("c:openmp");
    for (int i = 0; i < nt; i++) {
        if (tensors[i] == VG_NONE) {
            vg_fail(g, VLM_ERR_INTERNAL, "custom node given a missing tensor");
            return;
        }
        node_arg(n, i, tensors[i]);
    }
}

/* oneDNN 2.6 eltwise and layer norm take one data_desc, writing dst in src's layout: when dst
 * is laid out differently (src a strided view), copy src into dst so the op runs in place;
 * returns the tensor the op should read. */
static vg_tensor in_dst_layout(vg_graph *g, vg_tensor src, vg_tensor dst) {
    if (same_layout(g, src, dst))
        return src;
    return vg_reorder(g, src, dst) == VG_NONE ? VG_NONE : dst;
}

vg_tensor vg_layernorm(vg_graph *g, vg_tensor src, vg_tensor dst, const float *gamma,
                       const float *beta, float eps) {
    if (g->status != VLM_OK || src == VG_NONE)
        return VG_NONE;
    int nd = g->t[src].ndims;
    int64_t c = g->t[src].dims[nd - 1];
    if (dst == VG_NONE)
        dst = vg_new(g, nd, g->t[src].dims, g->t[src].dt);
    if (dst == VG_NONE)
        return VG_NONE;
    src = in_dst_layout(g, src, dst);
    if (src == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, VG_KIND_NORM, 0);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, src);
    node_arg(n, DNNL_ARG_DST, dst);
    if (vg_is_dry(g))
        return dst;
    dnnl_memory_desc_t s_md = tensor_md(g, src), p_md;
    dnnl_memory_desc_init_by_tag(&p_md, 1, (int64_t[]){c}, dnnl_f32, dnnl_a);
    dnnl_layer_normalization_desc_t ld;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(g,
             dnnl_layer_normalization_forward_desc_init(&ld, dnnl_forward_inference, &s_md, NULL,
                                                        eps, dnnl_use_scale | dnnl_use_shift),
             "layer norm");
    attr = make_attr(g, VG_ACT_NONE, false, 1.0f);
    if (!attr)
        goto fail;
    DNNL_TRY(g, dnnl_primitive_desc_create(&pd, &ld, attr, g->engine, NULL), "layer norm");
    dnnl_memory_t gm = pack_const(g, &p_md, gamma, &p_md, "layer norm weight");
    if (!gm)
        goto fail;
    node_const(n, DNNL_ARG_SCALE, gm);
    dnnl_memory_t bm = pack_const(g, &p_md, beta, &p_md, "layer norm bias");
    if (!bm)
        goto fail;
    node_const(n, DNNL_ARG_SHIFT, bm);
    finish_node(g, n, pd, "layer norm");
fail:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return g->status == VLM_OK ? dst : VG_NONE;
}

vg_tensor vg_softmax(vg_graph *g, vg_tensor src, vg_tensor dst) {
    if (g->status != VLM_OK || src == VG_NONE)
        return VG_NONE;
    int nd = g->t[src].ndims;
    if (dst == VG_NONE)
        dst = vg_new(g, nd, g->t[src].dims, 0);
    if (dst == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, VG_KIND_ATTENTION, 0);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, src);
    node_arg(n, DNNL_ARG_DST, dst);
    if (vg_is_dry(g))
        return dst;
    dnnl_memory_desc_t s_md = tensor_md(g, src), d_md = tensor_md(g, dst);
    dnnl_softmax_v2_desc_t sd;
    DNNL_TRY(g,
             dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, dnnl_softmax_accurate,
                                               &s_md, &d_md, nd - 1),
             "softmax");
    create_node(g, n, &sd, make_attr(g, VG_ACT_NONE, false, 1.0f), "softmax");
fail:
    return g->status == VLM_OK ? dst : VG_NONE;
}

vg_tensor vg_mean_hw(vg_graph *g, vg_tensor src, dnnl_data_type_t dt) {
    if (g->status != VLM_OK || src == VG_NONE)
        return VG_NONE;
    int64_t c = g->t[src].dims[1];
    vg_tensor dst = vg_new(g, 4, (int64_t[]){1, c, 1, 1}, dt);
    if (dst == VG_NONE)
        return VG_NONE;
    if (g->t[src].dims[2] * g->t[src].dims[3] == 1) /* oneDNN rejects a reduction that keeps */
        return vg_reorder(g, src, dst);             /* the shape: the mean of one is a copy */
    node *n = add_node(g, VG_KIND_ELTWISE, 0);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, src);
    node_arg(n, DNNL_ARG_DST, dst);
    if (vg_is_dry(g))
        return dst;
    dnnl_memory_desc_t s_md = tensor_md(g, src), d_md = tensor_md(g, dst);
    dnnl_reduction_desc_t rd;
    DNNL_TRY(g, dnnl_reduction_desc_init(&rd, dnnl_reduction_mean, &s_md, &d_md, 0.f, 0.f),
             "mean pooling");
    create_node(g, n, &rd, make_attr(g, VG_ACT_NONE, false, 1.0f), "mean pooling");
fail:
    return g->status == VLM_OK ? dst : VG_NONE;
}

static vg_tensor binary_impl(vg_graph *g, dnnl_alg_kind_t alg, vg_tensor s0, vg_tensor s1,
                             vg_tensor dst, vg_act act) {
    if (g->status != VLM_OK || s0 == VG_NONE || s1 == VG_NONE)
        return VG_NONE;
    if (dst == VG_NONE)
        dst = vg_new(g, g->t[s0].ndims, g->t[s0].dims, 0);
    if (dst == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, VG_KIND_ELTWISE, 0);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC_0, s0);
    node_arg(n, DNNL_ARG_SRC_1, s1);
    node_arg(n, DNNL_ARG_DST, dst);
    if (vg_is_dry(g))
        return dst;
    dnnl_memory_desc_t a_md = tensor_md(g, s0), b_md = tensor_md(g, s1), d_md = tensor_md(g, dst);
    dnnl_binary_desc_t bd;
    DNNL_TRY(g, dnnl_binary_desc_init(&bd, alg, &a_md, &b_md, &d_md), "binary op");
    create_node(g, n, &bd, make_attr(g, act, false, 1.0f), "binary op");
fail:
    return g->status == VLM_OK ? dst : VG_NONE;
}

vg_tensor vg_mul(vg_graph *g, vg_tensor s0, vg_tensor s1, vg_tensor dst, vg_act act) {
    return binary_impl(g, dnnl_binary_mul, s0, s1, dst, act);
}

vg_tensor vg_add(vg_graph *g, vg_tensor s0, vg_tensor s1, vg_tensor dst) {
    return binary_impl(g, dnnl_binary_add, s0, s1, dst, VG_ACT_NONE);
}

vg_tensor vg_eltwise(vg_graph *g, vg_tensor src, vg_tensor dst, vg_act act) {
    if (g->status != VLM_OK || src == VG_NONE)
        return VG_NONE;
    if (dst == VG_NONE)
        dst = vg_new(g, g->t[src].ndims, g->t[src].dims, g->t[src].dt);
    if (dst == VG_NONE)
        return VG_NONE;
    src = in_dst_layout(g, src, dst);
    if (src == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, VG_KIND_ELTWISE, 0);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_SRC, src);
    node_arg(n, DNNL_ARG_DST, dst);
    if (vg_is_dry(g))
        return dst;
    float alpha;
    dnnl_alg_kind_t alg = act_alg(act, &alpha);
    dnnl_memory_desc_t s_md = tensor_md(g, src);
    dnnl_eltwise_desc_t ed;
    DNNL_TRY(g,
             dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &s_md, alpha, 0.f),
             "activation");
    create_node(g, n, &ed, make_attr(g, VG_ACT_NONE, false, 1.0f), "activation");
fail:
    return g->status == VLM_OK ? dst : VG_NONE;
}

vg_tensor vg_reorder(vg_graph *g, vg_tensor src, vg_tensor dst) {
    if (g->status != VLM_OK || src == VG_NONE || dst == VG_NONE)
        return VG_NONE;
    node *n = add_node(g, VG_KIND_REORDER, 0);
    if (!n)
        return VG_NONE;
    node_arg(n, DNNL_ARG_FROM, src);
    node_arg(n, DNNL_ARG_TO, dst);
    if (vg_is_dry(g))
        return dst;
    dnnl_memory_desc_t s_md = tensor_md(g, src), d_md = tensor_md(g, dst);
    dnnl_primitive_attr_t attr = make_attr(g, VG_ACT_NONE, false, 1.0f);
    dnnl_primitive_desc_t pd = NULL;
    if (!attr)
        goto fail;
    DNNL_TRY(g, dnnl_reorder_primitive_desc_create(&pd, &s_md, g->engine, &d_md, g->engine, attr),
             "reorder");
    finish_node(g, n, pd, "reorder");
fail:
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return g->status == VLM_OK ? dst : VG_NONE;
}

/* ---- finalize: lifetimes and arena ------------------------------------------------------ */

typedef struct placed {
    size_t off, end;
    int first, last;
} placed;

static int by_size_desc(const void *a, const void *b, void *ctx) {
    const tensor *t = ctx;
    size_t x = t[*(const int *)a].bytes, y = t[*(const int *)b].bytes;
    return (x < y) - (x > y);
}

static int by_off(const void *a, const void *b) {
    const placed *p = a, *q = b;
    return (p->off > q->off) - (p->off < q->off);
}

static size_t align_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

vlm_status vg_finalize(vg_graph *g, vlm_error *err) {
    if (g->status != VLM_OK)
        return vg_status(g, err);
    for (int i = 0; i < g->nn; i++)
        for (int a = 0; a < g->n[i].nargs; a++) {
            int t = g->n[i].args[a].t;
            if (t < 0)
                continue;
            tensor *b = &g->t[g->t[t].base];
            if (b->first < 0)
                b->first = i;
            b->last = i;
        }
    /* Greedy placement, largest first: each buffer goes to the lowest offset that does not
     * collide with an already placed buffer whose lifetime overlaps. */
    int *order = malloc((size_t)g->nt * sizeof *order);
    placed *live = malloc((size_t)(g->nt + 1) * sizeof *live);
    if (!order || !live) {
        free(order);
        free(live);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory planning activations");
    }
    int m = 0;
    for (int i = 0; i < g->nt; i++)
        if (g->t[i].base == i && !g->t[i].external && g->t[i].first >= 0)
            order[m++] = i;
    qsort_r(order, (size_t)m, sizeof *order, by_size_desc, g->t);
    placed *done = malloc((size_t)(m + 1) * sizeof *done);
    if (!done) {
        free(order);
        free(live);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory planning activations");
    }
    size_t total = 0;
    for (int i = 0; i < m; i++) {
        tensor *t = &g->t[order[i]];
        int nl = 0;
        for (int j = 0; j < i; j++)
            if (done[j].first <= t->last && t->first <= done[j].last)
                live[nl++] = done[j];
        qsort(live, (size_t)nl, sizeof *live, by_off);
        size_t off = 0, need = align_up(t->bytes);
        for (int j = 0; j < nl; j++) {
            if (off + need <= live[j].off)
                break;
            if (live[j].end > off)
                off = live[j].end;
        }
        t->arena_off = off;
        done[i] = (placed){off, off + need, t->first, t->last};
        if (off + need > total)
            total = off + need;
    }
    free(order);
    free(live);
    free(done);
    g->arena_bytes = total;
    if (vg_is_dry(g)) {
        g->finalized = true;
        return VLM_OK;
    }
    g->arena = aligned_alloc(ALIGN, total ? total : ALIGN);
    g->scratch = aligned_alloc(ALIGN, align_up(g->scratch_bytes ? g->scratch_bytes : ALIGN));
    if (!g->arena || !g->scratch)
        return vlm_error_set(err, VLM_ERR_NOMEM,
                             "out of memory: activations need %.1f MiB and scratchpad %.1f MiB",
                             total / 1048576.0, g->scratch_bytes / 1048576.0);
    /* Touch the arena once so page faults are not timed in the first runs. */
    memset(g->arena, 0, total);
    for (int i = 0; i < g->nt; i++) {
        tensor *t = &g->t[i];
        const tensor *b = &g->t[t->base];
        dnnl_memory_desc_t md = tensor_md(g, i);
        void *ptr = b->owned      ? (char *)b->owned + (size_t)t->offset * dt_size(t->dt)
                    : b->external ? NULL
                                  : (char *)g->arena + b->arena_off +
                                        (size_t)t->offset * dt_size(t->dt);
        t->ptr = ptr;
        if (dnnl_memory_create(&t->mem, &md, g->engine, ptr ? ptr : DNNL_MEMORY_NONE) !=
            dnnl_success)
            return vlm_error_set(err, VLM_ERR_INTERNAL, "oneDNN could not create a tensor");
    }
    for (int i = 0; i < g->nn; i++) {
        node *n = &g->n[i];
        if (dnnl_memory_desc_get_size(&n->scratch_md) == 0)
            continue;
        if (dnnl_memory_create(&n->scratch_mem, &n->scratch_md, g->engine, g->scratch) !=
            dnnl_success)
            return vlm_error_set(err, VLM_ERR_INTERNAL, "oneDNN could not create a scratchpad");
    }
    g->finalized = true;
    return VLM_OK;
}

void vg_bind(vg_graph *g, vg_tensor id, void *ptr) {
    for (int i = 0; i < g->nt; i++)
        if (g->t[i].base == g->t[id].base) {
            g->t[i].ptr = (char *)ptr + (size_t)g->t[i].offset * dt_size(g->t[i].dt);
            dnnl_memory_set_data_handle(g->t[i].mem, g->t[i].ptr);
        }
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

vlm_status vg_run(vg_graph *g, dnnl_stream_t stream, int64_t *times_ns, vlm_error *err) {
    if (!g->finalized || vg_is_dry(g))
        return vlm_error_set(err, VLM_ERR_INTERNAL, "graph run before it was finalized");
    for (int i = 0; i < g->nn; i++) {
        node *n = &g->n[i];
        if (n->fn) {
            void *ptrs[MAX_ARGS];
            for (int a = 0; a < n->nargs; a++)
                ptrs[a] = g->t[n->args[a].t].ptr;
            int64_t t0 = times_ns ? now_ns() : 0;
            n->fn(n->ctx, ptrs);
            if (times_ns)
                times_ns[i] = now_ns() - t0;
            continue;
        }
        dnnl_exec_arg_t args[MAX_ARGS + 1];
        int na = 0;
        for (int a = 0; a < n->nargs; a++)
            args[na++] = (dnnl_exec_arg_t){n->args[a].id, n->args[a].t >= 0
                                                              ? g->t[n->args[a].t].mem
                                                              : n->args[a].konst};
        if (n->scratch_mem)
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, n->scratch_mem};
        int64_t t0 = times_ns ? now_ns() : 0;
        dnnl_status_t st = dnnl_primitive_execute(n->prim, stream, na, args);
        if (st != dnnl_success)
            return vlm_error_set(err, VLM_ERR_INTERNAL, "oneDNN %s node %d failed to run (%s)",
                                 vg_kind_name(n->kind), i, dnnl_status2str_(st));
        if (times_ns) {
            dnnl_stream_wait(stream);
            times_ns[i] = now_ns() - t0;
        }
    }
    if (dnnl_stream_wait(stream) != dnnl_success)
        return vlm_error_set(err, VLM_ERR_INTERNAL, "oneDNN stream failed");
    return VLM_OK;
}

int vg_node_count(const vg_graph *g) { return g->nn; }

vg_node_info vg_node_get(const vg_graph *g, int i) {
    const node *n = &g->n[i];
    return (vg_node_info){n->kind, n->stage, n->macs, n->impl ? n->impl : ""};
}

size_t vg_arena_bytes(const vg_graph *g) { return g->arena_bytes; }
size_t vg_weight_bytes(const vg_graph *g) { return g->weight_bytes; }
size_t vg_scratch_bytes(const vg_graph *g) { return g->scratch_bytes; }

int64_t vg_total_macs(const vg_graph *g) {
    int64_t s = 0;
    for (int i = 0; i < g->nn; i++)
        s += g->n[i].macs;
    return s;
}
