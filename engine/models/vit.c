/*
 * Vision transformers (spec section 3): OpenAI CLIP ViT-B/16 and ViT-L/14-336 (LLaVA-1.5's
 * tower), SigLIP SO400M/14-384 (LLaVA-OneVision's tower), and SigLIP with LLaVA-OneVision's
 * AnyRes tiling, where one plan runs every 384x384 tile of an image as one batch.
 *
 * Layout: tokens are a row-major [T * n, D] matrix (T tiles of n tokens). The patch embedding
 * (a k x k stride-k "valid" convolution) is an im2col reorder of the NCHW input into
 * [T * gh * gw, 3 * k * k] followed by one matmul, which handles any number of tiles. Every
 * block is pre-LN: x += out(MHA(LN1 x)); x += fc2(act(fc1(LN2 x))), residual sums fused as
 * post-ops. Attention is batched over tiles and heads with strided views of the fused qkv.
 *
 * Names: logical names are open_clip's (`conv1.weight`, `transformer.resblocks.{i}.attn.
 * in_proj_weight`, ...); HF CLIPVisionModel / SiglipVisionModel names (separate q/k/v,
 * `encoder.layers.{i}`) map onto them, under any prefix (e.g. LLaVA's
 * `model.vision_tower.vision_tower.vision_model.`).
 */
#include "engine/models/models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SCHEME_OPENCLIP, SCHEME_HF } vit_scheme;

typedef struct vit_cfg {
    int64_t patch, width, layers, heads, mlp;
    int64_t native;  /* resolution of the checkpoint's position table */
    bool cls;        /* class token (CLIP) */
    bool patch_bias; /* SigLIP's patch conv has a bias */
    bool ln_pre;     /* CLIP's LayerNorm before the blocks */
    vg_act act;      /* QuickGELU (OpenAI CLIP), tanh GELU (SigLIP) */
    float eps;       /* LayerNorm epsilon */
    int64_t select;  /* blocks whose output the VLM takes (LLaVA: select layer -2 / last-1) */
    int64_t embed;   /* pooled embedding size */
    char head;       /* 'p': ln_post(cls) @ proj (CLIP); 'm': post-LN + MAP head (SigLIP) */
    bool anyres;     /* input is an image split into AnyRes tiles of `native` pixels */
    vit_scheme synthetic_scheme;
    bool causal;        /* text towers: causal attention mask */
    int64_t vocab;      /* text towers: token vocabulary (native = context length) */
    const char *layout; /* text towers: per block 'T' transformer or 'R' RepMixerBlock
                           (MobileCLIP-S0); NULL = all transformer */
} vit_cfg;

/* OpenAI CLIP ViT-B/16 (spec 3.2): VLM output = the last block's patch tokens. */
static const vit_cfg VIT_B16 = {16,    768,
                                12,    12,
                                3072,  224,
                                true,  false,
                                true,  VG_ACT_QUICKGELU,
                                1e-5f, 12,
                                512,   'p',
                                false, SCHEME_OPENCLIP,
                                false, 0,
                                NULL};
/* OpenAI CLIP ViT-L/14 @ 336 (spec 3.1): LLaVA-1.5 takes block 23 of 24, without the cls. */
static const vit_cfg VIT_L14_336 = {14,    1024,
                                    24,    16,
                                    4096,  336,
                                    true,  false,
                                    true,  VG_ACT_QUICKGELU,
                                    1e-5f, 23,
                                    768,   'p',
                                    false, SCHEME_OPENCLIP,
                                    false, 0,
                                    NULL};
/* SigLIP SO400M/14 @ 384 (spec 3.3): LLaVA-OneVision drops the last block and the head. */
static const vit_cfg SIGLIP = {
    14,    1152, 27,   16,  4304,  384,       false, true, false, VG_ACT_GELU_TANH,
    1e-6f, 26,   1152, 'm', false, SCHEME_HF, false, 0,    NULL};
static const vit_cfg SIGLIP_ANYRES = {
    14,    1152, 27,   16,  4304, 384,       false, true, false, VG_ACT_GELU_TANH,
    1e-6f, 26,   1152, 'm', true, SCHEME_HF, false, 0,    NULL};
/* Small configs for tests: every block kind of the real ones, at test speed. */
static const vit_cfg VIT_TINY = {8,     64,
                                 3,     4,
                                 256,   32,
                                 true,  false,
                                 true,  VG_ACT_QUICKGELU,
                                 1e-5f, 2,
                                 32,    'p',
                                 false, SCHEME_OPENCLIP,
                                 false, 0,
                                 NULL};
static const vit_cfg SIGLIP_TINY = {
    8,     48, 3,  3,   136,   32,        false, true, false, VG_ACT_GELU_TANH,
    1e-6f, 2,  48, 'm', false, SCHEME_HF, false, 0,    NULL};
static const vit_cfg SIGLIP_TINY_ANYRES = {
    8,     48, 3,  3,   136,  32,        false, true, false, VG_ACT_GELU_TANH,
    1e-6f, 2,  48, 'm', true, SCHEME_HF, false, 0,    NULL};

#define NAME(...) mb_name(nm, sizeof nm, __VA_ARGS__)

/* ---- AnyRes (LLaVA-OneVision "anyres_max_9", grid pinpoints (1x1)..(6x6) of 384) ---------- */

/* select_best_resolution: the pinpoint (width, height) that keeps the most of the image's
 * pixels when it is scaled to fit, then wastes the least; pinpoints in the reference's order
 * (i = width multiple outer, j = height multiple inner), first wins ties. */
static void anyres_best(int w, int h, int tile, int *bw, int *bh) {
    int64_t best_eff = 0, best_waste = INT64_MAX;
    *bw = *bh = tile;
    for (int i = 1; i <= 6; i++)
        for (int j = 1; j <= 6; j++) {
            int pw = i * tile, ph = j * tile;
            double scale = fmin((double)pw / w, (double)ph / h);
            int64_t dw = (int64_t)(w * scale), dh = (int64_t)(h * scale);
            int64_t eff = dw * dh < (int64_t)w * h ? dw * dh : (int64_t)w * h;
            int64_t waste = (int64_t)pw * ph - eff;
            if (eff > best_eff || (eff == best_eff && waste < best_waste)) {
                best_eff = eff;
                best_waste = waste;
                *bw = pw;
                *bh = ph;
            }
        }
}

/* The layout for tiles of `tile` pixels giving side x side features each (384 and 27 for
 * LLaVA-OneVision; the test model uses smaller ones). */
static vlm_anyres anyres_layout(int height, int width, int tile, int side) {
    const int TILE = tile, SIDE = side, MAX_PATCHES = 9;
    vlm_anyres a = {0};
    if (height < 1 || width < 1)
        return a;
    int bw, bh;
    anyres_best(width, height, TILE, &bw, &bh);
    a.tiles_w = bw / TILE;
    a.tiles_h = bh / TILE;
    a.tiles = 1 + a.tiles_w * a.tiles_h; /* the base image (resized to 384) first */
    /* unpad_image: drop the feature rows/columns that only cover the letterbox padding */
    int cur_h = a.tiles_h * SIDE, cur_w = a.tiles_w * SIDE;
    double orig_ar = (double)width / height, cur_ar = (double)cur_w / cur_h;
    if (orig_ar > cur_ar) {
        double s = (double)cur_w / width;
        int new_h = (int)(height * s);
        int pad = (cur_h - new_h) / 2;
        cur_h -= 2 * pad;
    } else {
        double s = (double)cur_h / height;
        int new_w = (int)(width * s);
        int pad = (cur_w - new_w) / 2;
        cur_w -= 2 * pad;
    }
    /* anyres_max_9: more than 9 tiles' worth of features is bilinearly shrunk */
    double times = sqrt((double)cur_h * cur_w / (MAX_PATCHES * SIDE * SIDE));
    if (times > 1.1) {
        cur_h = (int)floor(cur_h / times);
        cur_w = (int)floor(cur_w / times);
    }
    a.grid_h = cur_h;
    a.grid_w = cur_w;
    a.newline_tokens = cur_h;
    a.tokens = SIDE * SIDE + cur_h * (cur_w + 1); /* base + grid + one newline per row */
    return a;
}

vlm_anyres vlm_anyres_layout(int height, int width) {
    return anyres_layout(height, width, 384, 27);
}

/* ---- checkpoint names ------------------------------------------------------------------- */

/* HF names of an open_clip logical name (q/k/v are fetched separately, see get_qkv). */
static bool hf_map(const mb *b, const char *logical, char *out, size_t size) {
    static const mb_rename whole[] = {
        {"conv1.weight", "embeddings.patch_embedding.weight"},
        {"conv1.bias", "embeddings.patch_embedding.bias"},
        {"class_embedding", "embeddings.class_embedding"},
        {"positional_embedding", "embeddings.position_embedding.weight"},
        {"ln_pre.weight", "pre_layrnorm.weight"},
        {"ln_pre.bias", "pre_layrnorm.bias"},
        {"ln_post.weight", "post_layernorm.weight"},
        {"ln_post.bias", "post_layernorm.bias"},
        {"head.probe", "head.probe"},
    };
    static const mb_rename part[] = {
        {"ln_1.", "layer_norm1."},
        {"ln_2.", "layer_norm2."},
        {"attn.out_proj.", "self_attn.out_proj."},
        {"attn.q_proj.", "self_attn.q_proj."},
        {"attn.k_proj.", "self_attn.k_proj."},
        {"attn.v_proj.", "self_attn.v_proj."},
        {"mlp.c_fc.", "mlp.fc1."},
        {"mlp.c_proj.", "mlp.fc2."},
    };
    if (mb_rename_with(whole, sizeof whole / sizeof *whole, logical, true, b->prefix, out, size))
        return true;
    int i, n = 0;
    if (sscanf(logical, "transformer.resblocks.%d.%n", &i, &n) == 1 && n) {
        char head[320];
        snprintf(head, sizeof head, "%sencoder.layers.%d.", b->prefix, i);
        return mb_rename_with(part, sizeof part / sizeof *part, logical + n, false, head, out,
                              size);
    }
    /* SigLIP's MAP head keeps nn.MultiheadAttention names: head.attention.in_proj_weight,
     * head.layernorm, head.mlp.fc1 */
    if (!strncmp(logical, "head.", 5)) {
        snprintf(out, size, "%s%s", b->prefix, logical);
        return true;
    }
    return false;
}

static vlm_status vit_detect(mb *b, const void *cfgp, vlm_error *err) {
    (void)cfgp;
    /* open_clip's visual tower: "visual.conv1.weight"; the position table must sit beside the
     * patch conv, which skips other towers' convs */
    static const char *const suffixes[2] = {"embeddings.patch_embedding.weight", "conv1.weight"};
    static const char *const probes[2] = {"embeddings.position_embedding.weight",
                                          "positional_embedding"};
    int k = mb_find_prefix(b, suffixes, probes, 2);
    if (k >= 0) {
        b->map = k == 0 ? hf_map : NULL;
        return VLM_OK;
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: no vision transformer found: expected open_clip names (e.g. "
                         "'visual.conv1.weight', 'visual.positional_embedding') or HF names "
                         "(e.g. 'vision_model.embeddings.patch_embedding.weight')",
                         b->ckpt_path);
}

/* ---- position table resizing ------------------------------------------------------------ */

/* PyTorch's F.interpolate(mode='bicubic', antialias=True, align_corners=False) along one axis
 * (the rule of open_clip resize_pos_embed and timm resample_abs_pos_embed): Keys cubic with
 * a = -0.5, support 2 widened by the scale when shrinking, weights normalised per output. */
static double aa_cubic(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* dst[out_n][stride_elems] from src[in_n][...]: resample n_in -> n_out along an axis whose
 * elements are `inner` floats apart, for `outer` independent lines. */
static void resample_axis(const float *src, float *dst, int64_t n_in, int64_t n_out, int64_t outer,
                          int64_t inner) {
    double scale = (double)n_in / n_out, sup_scale = scale > 1.0 ? scale : 1.0;
    double support = 2.0 * sup_scale;
    double w[64];
    for (int64_t i = 0; i < n_out; i++) {
        double center = scale * (i + 0.5);
        int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > n_in)
            hi = n_in;
        if (hi - lo > 64)
            hi = lo + 64;
        double total = 0.0;
        for (int64_t j = lo; j < hi; j++)
            total += w[j - lo] = aa_cubic((j - center + 0.5) / sup_scale);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t c = 0; c < inner; c++) {
                double acc = 0.0;
                for (int64_t j = lo; j < hi; j++)
                    acc += w[j - lo] * src[(o * n_in + j) * inner + c];
                dst[(o * n_out + i) * inner + c] = (float)(total != 0.0 ? acc / total : 0.0);
            }
    }
}

/* The grid part of a position table [g0*g0, d] resized to [gh*gw, d] (width, then height). */
static void resize_pos(mb *b, const float *src, int64_t g0, int64_t gh, int64_t gw, int64_t d,
                       float *dst) {
    float *tmp = mb_alloc(b, g0 * gw * d);
    if (!tmp || !src || !dst)
        return;
    resample_axis(src, tmp, g0, gw, g0, d);     /* rows of g0: resample columns */
    resample_axis(tmp, dst, g0, gh, 1, gw * d); /* then rows */
}

/* ---- building blocks ---------------------------------------------------------------------- */

static float *ln_param(mb *b, const char *name, bool weight, int64_t d) {
    return mb_get(b, name, weight ? MB_INIT_NORM_W : MB_INIT_BIAS, true, 1, (int64_t[]){d});
}

static vg_tensor layernorm(mb *b, const char *base, vg_tensor x, int64_t d, float eps) {
    char nm[256];
    float *w = ln_param(b, NAME("%s.weight", base), true, d);
    float *bias = ln_param(b, NAME("%s.bias", base), false, d);
    return vg_layernorm(b->g, x, VG_NONE, w, bias, eps);
}

/* The fused [3d, d] qkv weight and [3d] bias of block i (HF stores q, k, v separately). */
static void get_qkv(mb *b, int64_t i, int64_t d, float **w, float **bias) {
    char nm[256];
    if (b->map != hf_map) {
        *w = mb_get(b, NAME("transformer.resblocks.%lld.attn.in_proj_weight", (long long)i),
                    MB_INIT_FANIN, true, 2, (int64_t[]){3 * d, d});
        *bias = mb_get(b, NAME("transformer.resblocks.%lld.attn.in_proj_bias", (long long)i),
                       MB_INIT_BIAS, true, 1, (int64_t[]){3 * d});
        return;
    }
    *w = mb_alloc(b, 3 * d * d);
    *bias = mb_alloc(b, 3 * d);
    static const char *qkv[3] = {"q", "k", "v"};
    for (int k = 0; k < 3; k++) {
        float *pw =
            mb_get(b, NAME("transformer.resblocks.%lld.attn.%s_proj.weight", (long long)i, qkv[k]),
                   MB_INIT_FANIN, true, 2, (int64_t[]){d, d});
        float *pb =
            mb_get(b, NAME("transformer.resblocks.%lld.attn.%s_proj.bias", (long long)i, qkv[k]),
                   MB_INIT_BIAS, true, 1, (int64_t[]){d});
        if (pw && pb && *w && *bias) {
            memcpy(*w + k * d * d, pw, (size_t)(d * d) * sizeof(float));
            memcpy(*bias + k * d, pb, (size_t)d * sizeof(float));
        }
    }
}

/* Multi-head attention over T independent sequences of n tokens: q from qsrc [T*nq, ...]
 * rows with row stride qs, k and v from kv rows with stride kvs (k at koff, v at voff); the
 * heads' outputs are written into o [T*nq, d]. */
static void attention(vg_graph *g, vg_tensor q_base, int64_t qs, int64_t qoff, int64_t nq,
                      vg_tensor kv, int64_t kvs, int64_t koff, int64_t voff, int64_t n, int64_t T,
                      int64_t heads, int64_t hd, vg_tensor mask, vg_tensor o) {
    int64_t d = heads * hd;
    vg_tensor q =
        vg_view(g, q_base, 4, (int64_t[]){T, heads, nq, hd}, (int64_t[]){nq * qs, hd, qs, 1}, qoff);
    vg_tensor kt =
        vg_view(g, kv, 4, (int64_t[]){T, heads, hd, n}, (int64_t[]){n * kvs, hd, 1, kvs}, koff);
    vg_tensor v =
        vg_view(g, kv, 4, (int64_t[]){T, heads, n, hd}, (int64_t[]){n * kvs, hd, kvs, 1}, voff);
    {
        /* Contiguous per-head operands: oneDNN's batched matmul on the strided views of qkv
         * runs at ~34 GFLOP/s on ViT-L/14 (1 thread, AVX2), on packed copies at ~45; the
         * three copies cost 7% of what they save (`vlmbench bench --profile`). */
        vg_tensor qc = vg_new(g, 3, (int64_t[]){T * heads, nq, hd}, 0);
        vg_tensor kc = vg_new(g, 3, (int64_t[]){T * heads, hd, n}, 0);
        vg_tensor vc = vg_new(g, 3, (int64_t[]){T * heads, n, hd}, 0);
        vg_reorder(g, q,
                   vg_view(g, qc, 4, (int64_t[]){T, heads, nq, hd},
                           (int64_t[]){heads * nq * hd, nq * hd, hd, 1}, 0));
        vg_reorder(g, kt,
                   vg_view(g, kc, 4, (int64_t[]){T, heads, hd, n},
                           (int64_t[]){heads * hd * n, hd * n, n, 1}, 0));
        vg_reorder(g, v,
                   vg_view(g, vc, 4, (int64_t[]){T, heads, n, hd},
                           (int64_t[]){heads * n * hd, n * hd, hd, 1}, 0));
        q = vg_view(g, qc, 4, (int64_t[]){T, heads, nq, hd},
                    (int64_t[]){heads * nq * hd, nq * hd, hd, 1}, 0);
        kt = vg_view(g, kc, 4, (int64_t[]){T, heads, hd, n},
                     (int64_t[]){heads * hd * n, hd * n, n, 1}, 0);
        v = vg_view(g, vc, 4, (int64_t[]){T, heads, n, hd},
                    (int64_t[]){heads * n * hd, n * hd, hd, 1}, 0);
    }
    vg_tensor s = vg_new(g, 4, (int64_t[]){T, heads, nq, n}, dnnl_f32);
    /* a 4-D vg_new is nhwc; scores want plain row-major: view them so */
    vg_tensor s4 = vg_view(g, s, 4, (int64_t[]){T, heads, nq, n},
                           (int64_t[]){heads * nq * n, nq * n, n, 1}, 0);
    vg_matmul_add(g, q, kt, s4, 1.0f / sqrtf((float)hd), mask, VG_KIND_ATTENTION);
    vg_tensor p = vg_softmax(g, s4, vg_dtype(g) == dnnl_f32 ? s4 : VG_NONE);
    vg_tensor o4 =
        vg_view(g, o, 4, (int64_t[]){T, heads, nq, hd}, (int64_t[]){nq * d, hd, d, 1}, 0);
    vg_matmul(g, p, v, o4, 1.0f, VG_KIND_ATTENTION);
}

/* One pre-LN transformer block on x [T*n, d], in place; mask: VG_NONE or an additive [n, n]
 * float32 mask (causal text towers). */
static void block(mb *b, const vit_cfg *c, int64_t i, vg_tensor x, int64_t T, int64_t n,
                  vg_tensor mask) {
    char nm[256], base[128];
    vg_graph *g = b->g;
    int64_t d = c->width, hd = d / c->heads;
    snprintf(base, sizeof base, "transformer.resblocks.%lld", (long long)i);
    vg_tensor h = layernorm(b, NAME("%s.ln_1", base), x, d, c->eps);
    float *wqkv, *bqkv;
    get_qkv(b, i, d, &wqkv, &bqkv);
    vg_tensor qkv = vg_linear(g, h, VG_NONE, 3 * d, wqkv, bqkv, VG_ACT_NONE, false);
    vg_tensor o = vg_new(g, 2, (int64_t[]){T * n, d}, 0);
    attention(g, qkv, 3 * d, 0, n, qkv, 3 * d, d, 2 * d, n, T, c->heads, hd, mask, o);
    float *wo =
        mb_get(b, NAME("%s.attn.out_proj.weight", base), MB_INIT_FANIN, true, 2, (int64_t[]){d, d});
    float *bo =
        mb_get(b, NAME("%s.attn.out_proj.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){d});
    vg_linear(g, o, x, d, wo, bo, VG_ACT_NONE, true);
    vg_tensor h2 = layernorm(b, NAME("%s.ln_2", base), x, d, c->eps);
    float *w1 =
        mb_get(b, NAME("%s.mlp.c_fc.weight", base), MB_INIT_FANIN, true, 2, (int64_t[]){c->mlp, d});
    float *b1 =
        mb_get(b, NAME("%s.mlp.c_fc.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){c->mlp});
    float *w2 = mb_get(b, NAME("%s.mlp.c_proj.weight", base), MB_INIT_FANIN, true, 2,
                       (int64_t[]){d, c->mlp});
    float *b2 = mb_get(b, NAME("%s.mlp.c_proj.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){d});
    vg_tensor m = vg_linear(g, h2, VG_NONE, c->mlp, w1, b1, c->act, false);
    vg_linear(g, m, x, d, w2, b2, VG_ACT_NONE, true);
    mb_tmp_reset(b);
}

/* Parameters of one block and of the head, for the parts a plan does not build. */
static int64_t block_params(const vit_cfg *c) {
    int64_t d = c->width;
    return 4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * c->mlp + c->mlp + d;
}
static int64_t head_params(const vit_cfg *c) {
    int64_t d = c->width;
    if (c->head == 'p')
        return 2 * d + d * c->embed; /* ln_post + proj */
    /* post-LN + MAP head: probe, in_proj, out_proj, LN, MLP */
    return 2 * d + d + 3 * d * d + 3 * d + d * d + d + 2 * d + 2 * d * c->mlp + c->mlp + d;
}

/* SigLIP's multi-head attention pooling head on x [n, d] (already post-LN'd): one learned
 * probe attends over the tokens; then y += fc2(gelu(fc1(LN y))). Returns [1, d]. */
static vg_tensor map_head(mb *b, const vit_cfg *c, vg_tensor x, int64_t n) {
    vg_graph *g = b->g;
    int64_t d = c->width, hd = d / c->heads;
    float *probe = mb_get(b, "head.probe", MB_INIT_BIAS, true, 3, (int64_t[]){1, 1, d});
    float *win =
        mb_get(b, "head.attention.in_proj_weight", MB_INIT_FANIN, true, 2, (int64_t[]){3 * d, d});
    float *bin =
        mb_get(b, "head.attention.in_proj_bias", MB_INIT_BIAS, true, 1, (int64_t[]){3 * d});
    float *wo =
        mb_get(b, "head.attention.out_proj.weight", MB_INIT_FANIN, true, 2, (int64_t[]){d, d});
    float *bo = mb_get(b, "head.attention.out_proj.bias", MB_INIT_BIAS, true, 1, (int64_t[]){d});
    /* the probe's query is a constant: compute it now */
    float *q = mb_alloc(b, d);
    if (probe && win && bin && q)
        for (int64_t o = 0; o < d; o++) {
            double acc = bin[o];
            for (int64_t i = 0; i < d; i++)
                acc += (double)win[o * d + i] * probe[i];
            q[o] = (float)acc;
        }
    vg_tensor qc = vg_const(g, 2, (int64_t[]){1, d}, q);
    vg_tensor qt = vg_reorder(g, qc, vg_new(g, 2, (int64_t[]){1, d}, 0));
    vg_tensor kv = vg_linear(g, x, VG_NONE, 2 * d, win ? win + d * d : NULL, bin ? bin + d : NULL,
                             VG_ACT_NONE, false);
    vg_tensor o = vg_new(g, 2, (int64_t[]){1, d}, 0);
    attention(g, qt, d, 0, 1, kv, 2 * d, 0, d, n, 1, c->heads, hd, VG_NONE, o);
    vg_tensor y = vg_linear(g, o, VG_NONE, d, wo, bo, VG_ACT_NONE, false);
    vg_tensor h = layernorm(b, "head.layernorm", y, d, c->eps);
    float *w1 = mb_get(b, "head.mlp.fc1.weight", MB_INIT_FANIN, true, 2, (int64_t[]){c->mlp, d});
    float *b1 = mb_get(b, "head.mlp.fc1.bias", MB_INIT_BIAS, true, 1, (int64_t[]){c->mlp});
    float *w2 = mb_get(b, "head.mlp.fc2.weight", MB_INIT_FANIN, true, 2, (int64_t[]){d, c->mlp});
    float *b2 = mb_get(b, "head.mlp.fc2.bias", MB_INIT_BIAS, true, 1, (int64_t[]){d});
    vg_tensor m = vg_linear(g, h, VG_NONE, c->mlp, w1, b1, c->act, false);
    vg_linear(g, m, y, d, w2, b2, VG_ACT_NONE, true);
    return y;
}

/* ---- the model ---------------------------------------------------------------------------- */

static mb_outputs vit_build(mb *b, const void *cfgp, const vlm_plan_params *p) {
    const vit_cfg *c = cfgp;
    vg_graph *g = b->g;
    mb_outputs out = {VG_NONE, VG_NONE, VG_NONE};
    if (!mb_has_ckpt(b) && c->synthetic_scheme == SCHEME_HF) {
        b->map = hf_map;
        b->prefix = "";
    }
    int64_t d = c->width, k = c->patch, T = 1, H = p->height, W = p->width;
    if (c->anyres) { /* every tile (base image first) is a native x native image */
        vlm_anyres a =
            anyres_layout(p->height, p->width, (int)c->native, (int)(c->native / c->patch));
        T = a.tiles;
        H = W = c->native;
        b->visual_tokens = a.tokens;
    }
    int64_t gh = H / k, gw = W / k, np = gh * gw, n = np + (c->cls ? 1 : 0), g0 = c->native / k;
    vg_set_stage(g, 0);
    /* input: T NCHW float images; im2col view [T, gh, gw, 3, k, k] -> [T*np, 3*k*k] */
    out.input = vg_new(g, 1, (int64_t[]){T * 3 * H * W}, dnnl_f32);
    vg_mark_external(g, out.input);
    vg_tensor cols = vg_new(g, 6, (int64_t[]){T, gh, gw, 3, k, k}, 0);
    vg_reorder(g,
               vg_view(g, out.input, 6, (int64_t[]){T, gh, gw, 3, k, k},
                       (int64_t[]){3 * H * W, k * W, k, H * W, W, 1}, 0),
               cols);
    vg_tensor cols2 =
        vg_view(g, cols, 2, (int64_t[]){T * np, 3 * k * k}, (int64_t[]){3 * k * k, 1}, 0);
    float *wpe = mb_get(b, "conv1.weight", MB_INIT_FANIN, true, 4, (int64_t[]){d, 3, k, k});
    float *bpe =
        c->patch_bias ? mb_get(b, "conv1.bias", MB_INIT_BIAS, true, 1, (int64_t[]){d}) : NULL;
    vg_tensor patches = vg_linear(g, cols2, VG_NONE, d, wpe, bpe, VG_ACT_NONE, false);
    /* position table, resized from the checkpoint's grid when the input differs */
    float *pos = mb_get(b, "positional_embedding", MB_INIT_BIAS, true, 2,
                        (int64_t[]){g0 * g0 + (c->cls ? 1 : 0), d});
    const float *grid = pos ? pos + (c->cls ? d : 0) : NULL;
    float *rs = NULL;
    if (gh != g0 || gw != g0) {
        rs = mb_alloc(b, np * d);
        resize_pos(b, grid, g0, gh, gw, d, rs);
        grid = rs;
    }
    vg_tensor pos_grid = vg_const(g, 3, (int64_t[]){1, np, d}, grid);
    vg_tensor x = vg_new(g, 2, (int64_t[]){T * n, d}, 0);
    vg_tensor x3 =
        vg_view(g, x, 3, (int64_t[]){T, np, d}, (int64_t[]){n * d, d, 1}, c->cls ? d : 0);
    vg_add(g, vg_view(g, patches, 3, (int64_t[]){T, np, d}, (int64_t[]){np * d, d, 1}, 0), pos_grid,
           x3);
    if (c->cls) { /* row 0: class embedding + its position */
        float *ce = mb_get(b, "class_embedding", MB_INIT_BIAS, true, 1, (int64_t[]){d});
        float *row = mb_alloc(b, d);
        if (ce && pos && row)
            for (int64_t i = 0; i < d; i++)
                row[i] = ce[i] + pos[i];
        vg_reorder(g, vg_const(g, 2, (int64_t[]){1, d}, row),
                   vg_view(g, x, 2, (int64_t[]){1, d}, (int64_t[]){d, 1}, 0));
    }
    if (c->ln_pre)
        x = layernorm(b, "ln_pre", x, d, c->eps);
    mb_tmp_reset(b);
    /* blocks: the VLM's selected layer, or all of them and the head for the pooled output.
     * Facts (no engine) describe the VLM path; the unbuilt blocks and head still count as
     * parameters. */
    bool pooled = p->pooled && !b->facts_only;
    if (p->dense && (c->head != 'p' || c->anyres)) {
        vg_fail(g, VLM_ERR_INVALID, "dense patch embeddings need a CLIP tower (ln_post + proj)");
        return out;
    }
    int64_t nblocks = pooled || p->dense ? c->layers : c->select;
    if (pooled && c->anyres) {
        vg_fail(g, VLM_ERR_INVALID, "the AnyRes-tiled SigLIP has no pooled output (use siglip)");
        return out;
    }
    for (int64_t i = 0; i < nblocks; i++) {
        vg_set_stage(g, (int)i + 1);
        block(b, c, i, x, T, n, VG_NONE);
        if (i == c->select - 1) { /* the VLM's features: patch tokens of this block */
            out.output = vg_view(g, x, 4, (int64_t[]){1, d, T * gh, gw},
                                 (int64_t[]){T * n * d, 1, gw * d, d}, c->cls ? d : 0);
            if (nblocks > c->select) /* later blocks update x in place: copy them out */
                out.output = vg_reorder(g, out.output, vg_new4(g, d, T * gh, gw));
        }
    }
    b->params += (c->layers - nblocks) * block_params(c);
    vg_set_stage(g, (int)c->layers + 1);
    if (p->dense) { /* the CLIP head on every patch token: ln_post, then @ proj */
        vg_tensor h = layernorm(b, "ln_post", x, d, c->eps);
        float *proj = mb_get(b, "proj", MB_INIT_FANIN, true, 2, (int64_t[]){d, c->embed});
        float *wt = mb_alloc(b, d * c->embed);
        if (proj && wt)
            for (int64_t i = 0; i < d; i++)
                for (int64_t j = 0; j < c->embed; j++)
                    wt[j * d + i] = proj[i * c->embed + j];
        vg_tensor e = vg_linear(g, h, VG_NONE, c->embed, wt, NULL, VG_ACT_NONE, false);
        out.output =
            vg_view(g, e, 4, (int64_t[]){1, c->embed, gh, gw},
                    (int64_t[]){n * c->embed, 1, gw * c->embed, c->embed}, c->cls ? c->embed : 0);
        mb_tmp_reset(b);
        return out;
    }
    if (!pooled) {
        b->params += head_params(c);
        b->params_head += c->head == 'p' ? d * c->embed : head_params(c) - 2 * d;
        return out;
    }
    if (c->head == 'p') {
        vg_tensor cls = vg_view(g, x, 2, (int64_t[]){1, d}, (int64_t[]){d, 1}, 0);
        vg_tensor h = layernorm(b, "ln_post", cls, d, c->eps);
        b->in_head = true;
        float *proj = mb_get(b, "proj", MB_INIT_FANIN, true, 2, (int64_t[]){d, c->embed});
        float *wt = mb_alloc(b, d * c->embed); /* as a Linear weight [embed, d] */
        if (proj && wt)
            for (int64_t i = 0; i < d; i++)
                for (int64_t j = 0; j < c->embed; j++)
                    wt[j * d + i] = proj[i * c->embed + j];
        out.pooled = vg_linear(g, h, VG_NONE, c->embed, wt, NULL, VG_ACT_NONE, false);
    } else {
        vg_tensor h = layernorm(b, "ln_post", x, d, c->eps);
        b->in_head = true;
        out.pooled = map_head(b, c, h, n);
    }
    b->in_head = false;
    mb_tmp_reset(b);
    return out;
}

static vlm_status vit_check(const model_def *d, const vlm_plan_params *p, vlm_error *err) {
    const vit_cfg *c = d->cfg;
    const int max_res = c->anyres ? 16384 : 4096;
    if (p->height < d->info.min_res || p->width < d->info.min_res || p->height > max_res ||
        p->width > max_res)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "%s cannot take a %dx%d input: each side must be between %d and %d "
                             "pixels",
                             d->info.name, p->height, p->width, d->info.min_res, max_res);
    return VLM_OK;
}

static const char *vit_stage_name(const void *cfgp, int stage) {
    static char names[64][24];
    const vit_cfg *c = cfgp;
    if (stage == 0)
        return "embed";
    if (stage > 0 && stage <= c->layers) {
        char *s = names[stage % 64];
        snprintf(s, sizeof names[0], "block%d", stage - 1);
        return s;
    }
    return "head";
}

/* ---- text towers (spec 5.1, 5.2): OpenAI CLIP and MobileCLIP text transformers ---------- */

/* CLIP BPE: vocabulary 49408, context 77. OpenAI CLIP text: causal, QuickGELU. MobileCLIP
 * "base" text (S1/S2): bidirectional with no padding mask, exact GELU; MobileCLIP-B: causal;
 * MobileCLIP-S3/L: width 768. */
static const vit_cfg TEXT_CLIP_B16 = {0,     512,
                                      12,    8,
                                      2048,  77,
                                      false, false,
                                      false, VG_ACT_QUICKGELU,
                                      1e-5f, 12,
                                      512,   't',
                                      false, SCHEME_OPENCLIP,
                                      true,  49408,
                                      NULL};
static const vit_cfg TEXT_CLIP_L14 = {0,     768,
                                      12,    12,
                                      3072,  77,
                                      false, false,
                                      false, VG_ACT_QUICKGELU,
                                      1e-5f, 12,
                                      768,   't',
                                      false, SCHEME_OPENCLIP,
                                      true,  49408,
                                      NULL};
static const vit_cfg TEXT_MC_S1 = {0,     512,         12,    8,  2048, 77,  false, false,
                                   false, VG_ACT_GELU, 1e-5f, 12, 512,  't', false, SCHEME_OPENCLIP,
                                   false, 49408,       NULL};
static const vit_cfg TEXT_MC_B = {0,     512,         12,    8,  2048, 77,  false, false,
                                  false, VG_ACT_GELU, 1e-5f, 12, 512,  't', false, SCHEME_OPENCLIP,
                                  true,  49408,       NULL};
static const vit_cfg TEXT_MC_L = {0,     768,         12,    12, 3072, 77,  false, false,
                                  false, VG_ACT_GELU, 1e-5f, 12, 768,  't', false, SCHEME_OPENCLIP,
                                  false, 49408,       NULL};
/* MobileCLIP-S0 "mct": RepMixerBlock, 4 transformer layers, RepMixerBlock (Apple names; the
 * released checkpoint is in training form, folded at load). */
static const vit_cfg TEXT_MC_S0 = {
    0,     512,         6,       8, 2048, 77,  false, false,
    false, VG_ACT_GELU, 1e-5f,   6, 512,  't', false, SCHEME_OPENCLIP,
    false, 49408,       "RTTTTR"};
static const vit_cfg TEXT_TINY_MCT = {
    0,     32,          4,     4, 128, 16,  false, false,
    false, VG_ACT_GELU, 1e-5f, 4, 32,  't', false, SCHEME_OPENCLIP,
    false, 600,         "RTTR"};
static const vit_cfg TEXT_TINY = {0,     32,
                                  2,     4,
                                  128,   16,
                                  false, false,
                                  false, VG_ACT_QUICKGELU,
                                  1e-5f, 2,
                                  32,    't',
                                  false, SCHEME_OPENCLIP,
                                  true,  600,
                                  NULL};
static const vit_cfg TEXT_TINY_BIDIR = {
    0,     32,          2,     4, 128, 16,  false, false,
    false, VG_ACT_GELU, 1e-5f, 2, 32,  't', false, SCHEME_OPENCLIP,
    false, 600,         NULL};

/* Apple MobileCLIP (ml-mobileclip) text names of the open_clip logical ones. */
static bool apple_text_map(const mb *b, const char *logical, char *out, size_t size) {
    static const mb_rename whole[] = {
        {"token_embedding.weight", "embedding_layer.weight"},
        {"positional_embedding", "positional_embedding.pos_embed.pos_embed"},
        {"ln_final.weight", "final_layer_norm.weight"},
        {"ln_final.bias", "final_layer_norm.bias"},
        {"text_projection", "projection_layer"}};
    static const mb_rename part[] = {{"ln_1.", "pre_norm_mha.0."},
                                     {"attn.in_proj_weight", "pre_norm_mha.1.qkv_proj.weight"},
                                     {"attn.in_proj_bias", "pre_norm_mha.1.qkv_proj.bias"},
                                     {"attn.out_proj.", "pre_norm_mha.1.out_proj."},
                                     {"ln_2.", "pre_norm_ffn.0."},
                                     {"mlp.c_fc.", "pre_norm_ffn.1."},
                                     {"mlp.c_proj.", "pre_norm_ffn.4."}};
    if (mb_rename_with(whole, sizeof whole / sizeof *whole, logical, true, b->prefix, out, size))
        return true;
    int i, n = 0;
    char head[320];
    if (sscanf(logical, "transformer.resblocks.%d.rep.%n", &i, &n) == 1 && n) {
        snprintf(out, size, "%stransformer.%d.%s", b->prefix, i, logical + n);
        return true;
    }
    if (sscanf(logical, "transformer.resblocks.%d.%n", &i, &n) == 1 && n) {
        snprintf(head, sizeof head, "%stransformer.%d.", b->prefix, i);
        return mb_rename_with(part, sizeof part / sizeof *part, logical + n, false, head, out,
                              size);
    }
    return false;
}

static vlm_status text_detect(mb *b, const void *cfgp, vlm_error *err) {
    (void)cfgp;
    static const char *const suffixes[2] = {"token_embedding.weight", "embedding_layer.weight"};
    int k = mb_find_prefix(b, suffixes, NULL, 2);
    if (k >= 0) {
        b->map = k == 0 ? NULL : apple_text_map;
        return VLM_OK;
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: no text transformer found: expected open_clip names (e.g. "
                         "'token_embedding.weight', optionally under 'text.') or MobileCLIP "
                         "names ('text_encoder.embedding_layer.weight')",
                         b->ckpt_path);
}

typedef struct embed_ctx {
    int64_t n, d;
    float *table, *pos; /* owned copies: [vocab, d], [n, d] */
} embed_ctx;

static void embed_ctx_free(void *p) {
    embed_ctx *e = p;
    if (e) {
        free(e->table);
        free(e->pos);
        free(e);
    }
}

/* x[t] = table[ids[t]] + pos[t] (float32; ids validated by vlm_plan_run) */
static void embed_run(void *c, void *const *ptrs) {
    const embed_ctx *e = c;
    const float *ids = ptrs[0];
    float *x = ptrs[1];
    for (int64_t t = 0; t < e->n; t++) {
        const float *row = e->table + (int64_t)ids[t] * e->d;
        for (int64_t j = 0; j < e->d; j++)
            x[t * e->d + j] = row[j] + e->pos[t * e->d + j];
    }
}

typedef struct pick_ctx {
    int64_t n, e;
} pick_ctx;

/* out = rows[argmax(ids)]: the end-of-text token (the largest id; the first if repeated) */
static void pick_run(void *c, void *const *ptrs) {
    const pick_ctx *p = c;
    const float *ids = ptrs[0], *rows = ptrs[1];
    float *out = ptrs[2];
    int64_t best = 0;
    for (int64_t t = 1; t < p->n; t++)
        if (ids[t] > ids[best])
            best = t;
    memcpy(out, rows + best * p->e, (size_t)p->e * sizeof(float));
}

/* A BatchNorm's per-channel scale and shift (s = g / sqrt(v + eps), t = b - m s) into s, t;
 * the affine pair counts as parameters, the running stats do not. false on error. */
static bool text_bn(mb *b, const char *base, int64_t d, double *s, double *t) {
    char nm[256];
    const int64_t ds[1] = {d};
    float *g = mb_get(b, NAME("%s.weight", base), MB_INIT_NORM_W, true, 1, ds);
    float *bb = mb_get(b, NAME("%s.bias", base), MB_INIT_BIAS, true, 1, ds);
    float *m = mb_get(b, NAME("%s.running_mean", base), MB_INIT_STAT_MEAN, false, 1, ds);
    float *v = mb_get(b, NAME("%s.running_var", base), MB_INIT_STAT_VAR, false, 1, ds);
    if (!g || !bb || !m || !v || !s)
        return false;
    for (int64_t c = 0; c < d; c++) {
        s[c] = g[c] / sqrt((double)v[c] + 1e-5);
        t[c] = bb[c] - m[c] * s[c];
    }
    return true;
}

/* A 1-D depthwise conv over the sequence (kernel 11, zero padding 5) on tokens [n, d] viewed
 * as NHWC [1, d, n, 1]: the taps go in the centre column of a square 11x11 kernel, whose other
 * columns only ever meet the width padding. k1[c * 11 + j], bias[c]. */
static vg_tensor seq_dwconv(vg_graph *g, vg_tensor x4, int64_t d, const double *k1,
                            const double *bias, float *w11, float *b1) {
    if (w11 && b1 && k1)
        for (int64_t c = 0; c < d; c++) {
            memset(w11 + c * 121, 0, 121 * sizeof *w11);
            for (int j = 0; j < 11; j++)
                w11[c * 121 + j * 11 + 5] = (float)k1[c * 11 + j];
            b1[c] = (float)bias[c];
        }
    vg_conv_desc cd = {d, 11, 1, 5, d, w11, b1, VG_ACT_NONE, false};
    return vg_conv(g, x4, VG_NONE, &cd);
}

/* MobileCLIP-S0's text RepMixerBlock (training form, folded; /work spec 5.1):
 *   x = x + ls1 * (BN1(x) + BN2(dw(x)) - BN0(x))        -> one dw conv K', bias b'
 *   x = x + ls2 * fc2(GELU(fc1(BN3(dw3(x)))))           -> BN3 into dw3, ls2 into fc2
 * Returns the new token tensor [n, d] (a view). */
static vg_tensor rep_block(mb *b, const vit_cfg *c, int64_t i, vg_tensor x, int64_t n) {
    char nm[256], base[96];
    vg_graph *g = b->g;
    int64_t d = c->width, h = 4 * d;
    snprintf(base, sizeof base, "transformer.resblocks.%lld.rep", (long long)i);
    double *s0 = NULL, *t0 = NULL;
    float *tmp = mb_alloc(b, 8 * d + 2 * 11 * d);
    double *buf = tmp ? calloc((size_t)(8 * d + 2 * 11 * d), sizeof *buf) : NULL;
    if (!vg_is_dry(g) && !buf)
        vg_fail(g, VLM_ERR_NOMEM, "out of memory folding a text RepMixer");
    if (buf) {
        s0 = buf;
        t0 = buf + d;
    }
    double *s1 = buf ? buf + 2 * d : NULL, *t1 = buf ? buf + 3 * d : NULL;
    double *s2 = buf ? buf + 4 * d : NULL, *t2 = buf ? buf + 5 * d : NULL;
    double *s3 = buf ? buf + 6 * d : NULL, *t3 = buf ? buf + 7 * d : NULL;
    double *k1 = buf ? buf + 8 * d : NULL, *k3 = buf ? buf + 8 * d + 11 * d : NULL;
    bool ok = text_bn(b, NAME("%s.token_mixer.norm.rbr_skip", base), d, s0, t0);
    ok &= text_bn(b, NAME("%s.token_mixer.mixer.rbr_skip", base), d, s1, t1);
    float *K = mb_get(b, NAME("%s.token_mixer.mixer.rbr_conv.0.conv.weight", base), MB_INIT_FANIN,
                      true, 4, (int64_t[]){d, 1, 1, 11});
    ok &= text_bn(b, NAME("%s.token_mixer.mixer.rbr_conv.0.bn", base), d, s2, t2);
    float *l1 = mb_get_flat(b, NAME("%s.token_mixer.layer_scale", base), MB_INIT_SCALE, d, 2,
                            (const int[]){3, 1},
                            (const int64_t *const[]){(int64_t[]){d, 1, 1}, (int64_t[]){d}});
    float *Kf = mb_get(b, NAME("%s.convffn.conv.conv.weight", base), MB_INIT_FANIN, true, 4,
                       (int64_t[]){d, 1, 1, 11});
    ok &= text_bn(b, NAME("%s.convffn.conv.bn", base), d, s3, t3);
    float *w1 = mb_get(b, NAME("%s.convffn.fc1.weight", base), MB_INIT_FANIN, true, 4,
                       (int64_t[]){h, d, 1, 1});
    float *b1 = mb_get(b, NAME("%s.convffn.fc1.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){h});
    float *w2 = mb_get(b, NAME("%s.convffn.fc2.weight", base), MB_INIT_FANIN, true, 4,
                       (int64_t[]){d, h, 1, 1});
    float *b2 = mb_get(b, NAME("%s.convffn.fc2.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){d});
    float *l2 =
        mb_get_flat(b, NAME("%s.layer_scale", base), MB_INIT_SCALE, d, 2, (const int[]){3, 1},
                    (const int64_t *const[]){(int64_t[]){d, 1, 1}, (int64_t[]){d}});
    double *bm = NULL, *bf = NULL;
    if (ok && K && l1 && Kf && w2 && b2 && l2 && buf) {
        bm = calloc((size_t)d, sizeof *bm);
        bf = calloc((size_t)d, sizeof *bf);
        if (bm && bf)
            for (int64_t ch = 0; ch < d; ch++) {
                for (int j = 0; j < 11; j++) {
                    k1[ch * 11 + j] = l1[ch] * s2[ch] * K[ch * 11 + j] +
                                      (j == 5 ? 1.0 + l1[ch] * (s1[ch] - s0[ch]) : 0.0);
                    k3[ch * 11 + j] = s3[ch] * Kf[ch * 11 + j];
                }
                bm[ch] = l1[ch] * (t1[ch] + t2[ch] - t0[ch]);
                bf[ch] = t3[ch];
                for (int64_t k = 0; k < h; k++)
                    w2[ch * h + k] *= l2[ch];
                b2[ch] *= l2[ch];
            }
        else
            vg_fail(g, VLM_ERR_NOMEM, "out of memory folding a text RepMixer");
    }
    float *w11a = mb_alloc(b, d * 121), *b11a = mb_alloc(b, d);
    float *w11b = mb_alloc(b, d * 121), *b11b = mb_alloc(b, d);
    vg_tensor x4 = vg_view(g, x, 4, (int64_t[]){1, d, n, 1}, (int64_t[]){n * d, 1, d, d}, 0);
    vg_tensor y = seq_dwconv(g, x4, d, bm ? k1 : NULL, bm, w11a, b11a);
    vg_tensor f = seq_dwconv(g, y, d, bf ? k3 : NULL, bf, w11b, b11b);
    vg_tensor m = vg_linear(g, vg_view2d(g, f), VG_NONE, h, w1, b1, c->act, false);
    vg_tensor y2 = vg_view2d(g, y);
    vg_linear(g, m, y2, d, w2, b2, VG_ACT_NONE, true);
    free(bm);
    free(bf);
    free(buf);
    (void)tmp;
    mb_tmp_reset(b);
    return y2;
}

static mb_outputs text_build(mb *b, const void *cfgp, const vlm_plan_params *p) {
    const vit_cfg *c = cfgp;
    vg_graph *g = b->g;
    mb_outputs out = {VG_NONE, VG_NONE, VG_NONE};
    int64_t n = p->tokens, d = c->width, e = c->embed;
    b->vocab = c->vocab;
    vg_set_stage(g, 0);
    out.input = vg_new(g, 1, (int64_t[]){n}, dnnl_f32);
    vg_mark_external(g, out.input);
    float *table =
        mb_get(b, "token_embedding.weight", MB_INIT_FANIN, true, 2, (int64_t[]){c->vocab, d});
    float *pos = mb_get_flat(
        b, "positional_embedding", MB_INIT_BIAS, c->native * d, 2, (const int[]){2, 4},
        (const int64_t *const[]){(int64_t[]){c->native, d}, (int64_t[]){1, 1, c->native, d}});
    vg_tensor x0 = vg_new(g, 2, (int64_t[]){n, d}, dnnl_f32);
    embed_ctx *ec = NULL;
    if (!vg_is_dry(g) && table && pos) {
        ec = calloc(1, sizeof *ec);
        if (ec) {
            ec->n = n;
            ec->d = d;
            ec->table = malloc((size_t)(c->vocab * d) * sizeof(float));
            ec->pos = malloc((size_t)(n * d) * sizeof(float));
        }
        if (!ec || !ec->table || !ec->pos) {
            embed_ctx_free(ec);
            vg_fail(g, VLM_ERR_NOMEM, "out of memory for the token embedding table");
            return out;
        }
        memcpy(ec->table, table, (size_t)(c->vocab * d) * sizeof(float));
        memcpy(ec->pos, pos, (size_t)(n * d) * sizeof(float));
    }
    vg_custom(g, VG_KIND_EMBED, 0, embed_run, ec, embed_ctx_free, 2, (vg_tensor[]){out.input, x0});
    vg_tensor x = vg_reorder(g, x0, vg_new(g, 2, (int64_t[]){n, d}, 0));
    mb_tmp_reset(b);
    vg_tensor mask = VG_NONE;
    if (c->causal) {
        float *m = vg_is_dry(g) ? NULL : malloc((size_t)(n * n) * sizeof *m);
        if (m)
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++)
                    m[i * n + j] = j <= i ? 0.0f : -INFINITY;
        else if (!vg_is_dry(g))
            vg_fail(g, VLM_ERR_NOMEM, "out of memory for the causal mask");
        mask = vg_const(g, 2, (int64_t[]){n, n}, m);
        free(m);
    }
    for (int64_t i = 0; i < c->layers; i++) {
        vg_set_stage(g, (int)i + 1);
        if (c->layout && c->layout[i] == 'R')
            x = rep_block(b, c, i, x, n);
        else
            block(b, c, i, x, 1, n, mask);
    }
    vg_set_stage(g, (int)c->layers + 1);
    vg_tensor h = layernorm(b, "ln_final", x, d, c->eps);
    float *proj = mb_get(b, "text_projection", MB_INIT_FANIN, true, 2, (int64_t[]){d, e});
    float *wt = mb_alloc(b, d * e); /* as a Linear weight [e, d] */
    if (proj && wt)
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < e; j++)
                wt[j * d + i] = proj[i * e + j];
    /* every position is projected (77 x d x e MACs, < 0.5% of the tower): the row to keep
     * depends on the ids, known only at run time */
    vg_tensor rows =
        vg_linear(g, h, vg_new(g, 2, (int64_t[]){n, e}, dnnl_f32), e, wt, NULL, VG_ACT_NONE, false);
    out.output = vg_new(g, 2, (int64_t[]){1, e}, dnnl_f32);
    pick_ctx *pc = vg_is_dry(g) ? NULL : malloc(sizeof *pc);
    if (pc) {
        pc->n = n;
        pc->e = e;
    } else if (!vg_is_dry(g)) {
        vg_fail(g, VLM_ERR_NOMEM, "out of memory");
    }
    vg_custom(g, VG_KIND_EMBED, 0, pick_run, pc, free, 3,
              (vg_tensor[]){out.input, rows, out.output});
    mb_tmp_reset(b);
    return out;
}

static vlm_status text_check(const model_def *d, const vlm_plan_params *p, vlm_error *err) {
    const vit_cfg *c = d->cfg;
    if (p->tokens != c->native)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "%s takes exactly %lld token ids (its context length), not %d",
                             d->info.name, (long long)c->native, p->tokens);
    return VLM_OK;
}

#define TEXT_NAMES                                                                                 \
    "open_clip (token_embedding, positional_embedding, transformer.resblocks.{i}.*, "              \
    "ln_final, text_projection; optionally under text.) or ml-mobileclip "                         \
    "(text_encoder.embedding_layer, text_encoder.transformer.{i}.pre_norm_*)"

#define CLIP_NAMES                                                                                 \
    "open_clip (visual.conv1, visual.transformer.resblocks.{i}.*, visual.proj) or HF "             \
    "CLIPVisionModel (vision_model.embeddings.*, vision_model.encoder.layers.{i}.*), any prefix"
#define SIGLIP_NAMES                                                                               \
    "HF SiglipVisionModel (vision_model.embeddings.*, vision_model.encoder.layers.{i}.*, "         \
    "vision_model.head.*), any prefix (LLaVA-OneVision: model.vision_tower.vision_tower.)"

/* The callbacks every vision transformer / text tower entry shares. */
#define VIT_FNS  vit_detect, vit_check, vit_build, vit_stage_name
#define TEXT_FNS text_detect, text_check, text_build, vit_stage_name

const model_def vlm_vit_models[] = {
    {{"vit-b16", "vision", "OpenAI CLIP ViT-B/16 image tower (QuickGELU)", "vit", 224, 16, 16,
      "floor(H/16) x floor(W/16)", CLIP_NAMES, 768, 512},
     &VIT_B16,
     VIT_FNS},
    {{"vit-l14-336", "vision",
      "OpenAI CLIP ViT-L/14 @ 336, LLaVA-1.5's vision tower (block 23 of 24)", "vit", 336, 14, 14,
      "floor(H/14) x floor(W/14)", CLIP_NAMES, 1024, 768},
     &VIT_L14_336,
     VIT_FNS},
    {{"siglip", "vision",
      "SigLIP SO400M/14 @ 384, LLaVA-OneVision's tower (26 of 27 blocks) on one image", "vit", 384,
      14, 14, "floor(H/14) x floor(W/14)", SIGLIP_NAMES, 1152, 1152},
     &SIGLIP,
     VIT_FNS},
    {{"siglip-anyres", "vision",
      "SigLIP SO400M/14 over LLaVA-OneVision AnyRes tiles (anyres_max_9): base + grid tiles", "vit",
      1152, 1, 14, "AnyRes: 729 + h x (w + 1) (see README)", SIGLIP_NAMES, 1152, 1152},
     &SIGLIP_ANYRES,
     VIT_FNS},
    {{"vit-tiny", "vision", "3-block CLIP-shaped ViT for tests and smoke runs", "vit", 32, 8, 8,
      "floor(H/8) x floor(W/8)", CLIP_NAMES, 64, 32},
     &VIT_TINY,
     VIT_FNS},
    {{"siglip-tiny", "vision", "3-block SigLIP-shaped ViT for tests and smoke runs", "vit", 32, 8,
      8, "floor(H/8) x floor(W/8)", SIGLIP_NAMES, 48, 48},
     &SIGLIP_TINY,
     VIT_FNS},
    {{"siglip-tiny-anyres", "vision", "siglip-tiny over AnyRes tiles of 32 pixels, for tests",
      "vit", 64, 1, 8, "AnyRes: 16 + h x (w + 1)", SIGLIP_NAMES, 48, 48},
     &SIGLIP_TINY_ANYRES,
     VIT_FNS},
    {{"text-clip-b16", "text", "OpenAI CLIP ViT-B/16 text tower (causal, QuickGELU)", "clip-text",
      77, 1, 1, "77 token ids -> 1 embedding", TEXT_NAMES, 512, 512},
     &TEXT_CLIP_B16,
     TEXT_FNS},
    {{"text-clip-l14", "text", "OpenAI CLIP ViT-L/14 text tower (causal, QuickGELU)", "clip-text",
      77, 1, 1, "77 token ids -> 1 embedding", TEXT_NAMES, 768, 768},
     &TEXT_CLIP_L14,
     TEXT_FNS},
    {{"text-mobileclip-s1", "text",
      "MobileCLIP-S1/S2 text tower (\"base\", bidirectional, no padding mask)", "clip-text", 77, 1,
      1, "77 token ids -> 1 embedding", TEXT_NAMES, 512, 512},
     &TEXT_MC_S1,
     TEXT_FNS},
    {{"text-mobileclip-b", "text", "MobileCLIP-B text tower (causal)", "clip-text", 77, 1, 1,
      "77 token ids -> 1 embedding", TEXT_NAMES, 512, 512},
     &TEXT_MC_B,
     TEXT_FNS},
    {{"text-mobileclip-l", "text", "MobileCLIP-S3/L text tower (width 768, bidirectional)",
      "clip-text", 77, 1, 1, "77 token ids -> 1 embedding", TEXT_NAMES, 768, 768},
     &TEXT_MC_L,
     TEXT_FNS},
    {{"text-mobileclip-s0", "text",
      "MobileCLIP-S0 text tower (\"mct\": RepMixer, 4 transformer layers, RepMixer)", "clip-text",
      77, 1, 1, "77 token ids -> 1 embedding", TEXT_NAMES, 512, 512},
     &TEXT_MC_S0,
     TEXT_FNS},
    {{"text-tiny-mct", "text", "MobileCLIP-S0-shaped text tower for tests", "clip-text", 16, 1, 1,
      "16 token ids -> 1 embedding", TEXT_NAMES, 32, 32},
     &TEXT_TINY_MCT,
     TEXT_FNS},
    {{"text-tiny", "text", "2-block causal CLIP-shaped text tower for tests", "clip-text", 16, 1, 1,
      "16 token ids -> 1 embedding", TEXT_NAMES, 32, 32},
     &TEXT_TINY,
     TEXT_FNS},
    {{"text-tiny-bidir", "text", "2-block bidirectional MobileCLIP-shaped text tower for tests",
      "clip-text", 16, 1, 1, "16 token ids -> 1 embedding", TEXT_NAMES, 32, 32},
     &TEXT_TINY_BIDIR,
     TEXT_FNS},
};
const int vlm_vit_model_count = sizeof vlm_vit_models / sizeof vlm_vit_models[0];
