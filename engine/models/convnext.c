/*
 * ConvNeXt (spec 3.4): ConvNeXt-L as ConvLLaVA uses it, with its fifth stage.
 *
 * stem: conv 4x4 s4 (+bias) + channel LN; stages of blocks
 *   x += gamma * fc2(GELU(fc1(LN(dwconv7x7(x)))))
 * with a channel LN + conv 2x2 s2 down-sampler before stages 1..; ConvLLaVA appends a fifth
 * stage (down-sample 2x + 6 blocks of width 3072: stride 64) and, with select layer -2, drops
 * the last block of the last stage. The output is the last stage's feature map, without a
 * final norm (HF ConvNextModel hidden state).
 *
 * Activations are NHWC, so a channel LayerNorm is a row LayerNorm of the [H*W, C] view and
 * the block's pointwise convs are matmuls; gamma is folded into fc2, the residual sum fused.
 * Names: timm (stem.{0,1}, stages.{s}.downsample.{0,1}, stages.{s}.blocks.{j}.{conv_dw, norm,
 * mlp.fc1, mlp.fc2, gamma}) and HF ConvNextModel (embeddings.patch_embeddings,
 * embeddings.layernorm, encoder.stages.{s}.downsampling_layer.{0,1},
 * encoder.stages.{s}.layers.{j}.{dwconv, layernorm, pwconv1, pwconv2, layer_scale_parameter}),
 * under any prefix (ConvLLaVA: model.vision_tower.vision_tower.).
 */
#include "engine/models/models.h"

#include <stdio.h>
#include <string.h>

enum { CNX_MAXS = 5 };

typedef struct cnx_cfg {
    int nstages;
    int64_t depth[CNX_MAXS], width[CNX_MAXS];
    int drop_last; /* blocks of the last stage not run (ConvLLaVA select layer -2) */
} cnx_cfg;

/* ConvNeXt-L + ConvLLaVA's fifth stage (6 blocks of 3072; the last one dropped). */
static const cnx_cfg CONVNEXT_L = {5, {3, 3, 27, 3, 6}, {192, 384, 768, 1536, 3072}, 1};
static const cnx_cfg CONVNEXT_TINY = {3, {1, 2, 2}, {16, 32, 48}, 1};

static const float LN_EPS = 1e-6f;

#define NAME(...) mb_name(nm, sizeof nm, __VA_ARGS__)

static bool hf_map(const mb *b, const char *logical, char *out, size_t size) {
    int s, j, n = 0;
    if (!strncmp(logical, "stem.0.", 7)) {
        snprintf(out, size, "%sembeddings.patch_embeddings.%s", b->prefix, logical + 7);
    } else if (!strncmp(logical, "stem.1.", 7)) {
        snprintf(out, size, "%sembeddings.layernorm.%s", b->prefix, logical + 7);
    } else if (sscanf(logical, "stages.%d.downsample.%n", &s, &n) == 1 && n) {
        snprintf(out, size, "%sencoder.stages.%d.downsampling_layer.%s", b->prefix, s, logical + n);
    } else if (sscanf(logical, "stages.%d.blocks.%d.%n", &s, &j, &n) == 2 && n) {
        static const mb_rename part[] = {{"conv_dw.", "dwconv."},
                                         {"norm.", "layernorm."},
                                         {"mlp.fc1.", "pwconv1."},
                                         {"mlp.fc2.", "pwconv2."},
                                         {"gamma", "layer_scale_parameter"}};
        char head[320];
        snprintf(head, sizeof head, "%sencoder.stages.%d.layers.%d.", b->prefix, s, j);
        return mb_rename_with(part, sizeof part / sizeof *part, logical + n, false, head, out,
                              size);
    } else {
        return false;
    }
    return true;
}

static vlm_status cnx_detect(mb *b, const void *cfgp, vlm_error *err) {
    (void)cfgp;
    static const char *const suffixes[2] = {"embeddings.patch_embeddings.weight", "stem.0.weight"};
    int k = mb_find_prefix(b, suffixes, NULL, 2);
    if (k >= 0) {
        b->map = k == 0 ? hf_map : NULL;
        return VLM_OK;
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: no ConvNeXt found: expected timm names (e.g. 'stem.0.weight') or "
                         "HF names (e.g. 'embeddings.patch_embeddings.weight')",
                         b->ckpt_path);
}

/* Channel LayerNorm of a [1, C, H, W] nhwc tensor (row LN of its [H*W, C] view). */
static vg_tensor channel_ln(mb *b, const char *base, vg_tensor x, int64_t c) {
    char nm[256];
    float *w = mb_get(b, NAME("%s.weight", base), MB_INIT_NORM_W, true, 1, (int64_t[]){c});
    float *bias = mb_get(b, NAME("%s.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){c});
    vg_graph *g = b->g;
    const int64_t *xd = vg_dims(g, x);
    vg_tensor y = vg_new4(g, c, xd[2], xd[3]);
    vg_layernorm(g, vg_view2d(g, x), vg_view2d(g, y), w, bias, LN_EPS);
    return y;
}

static vg_tensor conv(mb *b, const char *base, vg_tensor x, int64_t cin, int64_t cout, int64_t k,
                      int64_t stride, int64_t pad, int64_t groups) {
    char nm[256];
    float *w = mb_get(b, NAME("%s.weight", base), MB_INIT_FANIN, true, 4,
                      (int64_t[]){cout, cin / groups, k, k});
    float *bias = mb_get(b, NAME("%s.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){cout});
    vg_conv_desc cd = {cout, k, stride, pad, groups, w, bias, VG_ACT_NONE, false};
    return vg_conv(b->g, x, VG_NONE, &cd);
}

static void cnx_block(mb *b, int s, int j, vg_tensor x, int64_t d) {
    char nm[256], base[96];
    vg_graph *g = b->g;
    snprintf(base, sizeof base, "stages.%d.blocks.%d", s, j);
    vg_tensor h = conv(b, NAME("%s.conv_dw", base), x, d, d, 7, 1, 3, d);
    vg_tensor hn = vg_layernorm(
        g, vg_view2d(g, h), VG_NONE,
        mb_get(b, NAME("%s.norm.weight", base), MB_INIT_NORM_W, true, 1, (int64_t[]){d}),
        mb_get(b, NAME("%s.norm.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){d}), LN_EPS);
    float *w1 =
        mb_get(b, NAME("%s.mlp.fc1.weight", base), MB_INIT_FANIN, true, 2, (int64_t[]){4 * d, d});
    float *b1 = mb_get(b, NAME("%s.mlp.fc1.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){4 * d});
    float *w2 =
        mb_get(b, NAME("%s.mlp.fc2.weight", base), MB_INIT_FANIN, true, 2, (int64_t[]){d, 4 * d});
    float *b2 = mb_get(b, NAME("%s.mlp.fc2.bias", base), MB_INIT_BIAS, true, 1, (int64_t[]){d});
    float *gamma = mb_get(b, NAME("%s.gamma", base), MB_INIT_SCALE, true, 1, (int64_t[]){d});
    if (w2 && b2 && gamma) /* layer scale folded into fc2 */
        for (int64_t o = 0; o < d; o++) {
            for (int64_t i = 0; i < 4 * d; i++)
                w2[o * 4 * d + i] *= gamma[o];
            b2[o] *= gamma[o];
        }
    vg_tensor m = vg_linear(g, hn, VG_NONE, 4 * d, w1, b1, VG_ACT_GELU, false);
    vg_linear(g, m, vg_view2d(g, x), d, w2, b2, VG_ACT_NONE, true);
    mb_tmp_reset(b);
}

static mb_outputs cnx_build(mb *b, const void *cfgp, const vlm_plan_params *p) {
    const cnx_cfg *c = cfgp;
    vg_graph *g = b->g;
    mb_outputs out = {VG_NONE, VG_NONE, VG_NONE};
    char nm[64];
    vg_set_stage(g, 0);
    vg_tensor x = mb_image_input(b, p->height, p->width, &out.input);
    x = conv(b, "stem.0", x, 3, c->width[0], 4, 4, 0, 1);
    x = channel_ln(b, "stem.1", x, c->width[0]);
    mb_tmp_reset(b);
    for (int s = 0; s < c->nstages; s++) {
        vg_set_stage(g, s + 1);
        int64_t d = c->width[s];
        if (s > 0) {
            x = channel_ln(b, NAME("stages.%d.downsample.0", s), x, c->width[s - 1]);
            x = conv(b, NAME("stages.%d.downsample.1", s), x, c->width[s - 1], d, 2, 2, 0, 1);
            mb_tmp_reset(b);
        }
        int64_t run = c->depth[s] - (s == c->nstages - 1 ? c->drop_last : 0);
        for (int j = 0; j < c->depth[s]; j++) {
            if (j < run) {
                cnx_block(b, s, j, x, d);
            } else { /* dropped by the VLM, still part of the checkpoint */
                b->params += 49 * d + d + 2 * d + 4 * d * d + 4 * d + 4 * d * d + d + d;
            }
        }
    }
    out.output = x;
    return out;
}

static vlm_status cnx_check(const model_def *d, const vlm_plan_params *p, vlm_error *err) {
    const cnx_cfg *c = d->cfg;
    int64_t stride = 4;
    for (int s = 1; s < c->nstages; s++)
        stride *= 2;
    if (p->height < stride || p->width < stride || p->height > 8192 || p->width > 8192)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "%s cannot take a %dx%d input: each side must be between %lld and "
                             "8192 pixels (it down-samples by %lld)",
                             d->info.name, p->height, p->width, (long long)stride,
                             (long long)stride);
    return VLM_OK;
}

static const char *cnx_stage_name(const void *cfgp, int stage) {
    static const char *names[] = {"stem", "stage0", "stage1", "stage2", "stage3", "stage4"};
    (void)cfgp;
    return stage >= 0 && stage <= 5 ? names[stage] : "stage";
}

#define CNX_NAMES                                                                                  \
    "timm (stem.*, stages.{s}.*) or HF ConvNextModel (embeddings.*, encoder.stages.{s}.*), "       \
    "any prefix (ConvLLaVA: model.vision_tower.vision_tower.)"

const model_def vlm_convnext_models[] = {
    {{"convnext-l", "vision",
      "ConvNeXt-L + ConvLLaVA's 5th stage (6x3072, last block dropped): ConvLLaVA's tower",
      "convnext", 768, 64, 64, "floor(H/64) x floor(W/64)", CNX_NAMES, 3072, 0},
     &CONVNEXT_L,
     cnx_detect,
     cnx_check,
     cnx_build,
     cnx_stage_name},
    {{"convnext-tiny", "vision", "3-stage ConvNeXt-shaped net for tests and smoke runs", "convnext",
      64, 16, 16, "floor(H/16) x floor(W/16)", CNX_NAMES, 48, 0},
     &CONVNEXT_TINY,
     cnx_detect,
     cnx_check,
     cnx_build,
     cnx_stage_name},
};
const int vlm_convnext_model_count = sizeof vlm_convnext_models / sizeof vlm_convnext_models[0];
