/*
 * The FastViT family as MobileCLIP and FastVLM use it: FastViTHD (= MCi3, FastVLM's vision
 * encoder) and MCi0/1/2 (MobileCLIP-S0/S1/S2 image towers). Layer by layer per
 * shared/spec/models.md sections 0-2; the network runs in inference (re-parameterised) form,
 * and training-form checkpoints are folded at load time.
 *
 * Logical tensor names are timm's (fastvit_mci*); the FastVLM (LLaVA) checkpoint names are
 * Apple's, mapped by apple_map() below.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/models/models.h"

#define MAXS 5

typedef struct fv_cfg {
    int nstages;
    int depth[MAXS], width[MAXS];
    int mlp_ratio;
    const char *mixers; /* per stage: 'R' RepMixer, 'A' attention */
    bool cpe[MAXS];     /* RepCPE before the stage */
    bool se_down[MAXS]; /* SE in the stage's down-sampler */
    bool attn_ln;       /* attention norm: channel LayerNorm (true) or BatchNorm (false) */
    int embed_dim;      /* CLIP projection size */
} fv_cfg;

static const fv_cfg FASTVITHD = {5, {2, 12, 24, 4, 2}, {96, 192, 384, 768, 1536}, 4, "RRRAA",
                                 {0, 0, 0, 1, 1}, {0}, true, 768};
static const fv_cfg MCI0 = {4, {2, 6, 10, 2}, {64, 128, 256, 512}, 3, "RRRA",
                            {0, 0, 0, 1}, {0, 0, 1, 1}, false, 512};
static const fv_cfg MCI1 = {4, {4, 12, 20, 4}, {64, 128, 256, 512}, 3, "RRRA",
                            {0, 0, 0, 1}, {0, 0, 1, 1}, false, 512};
static const fv_cfg MCI2 = {4, {4, 12, 24, 4}, {80, 160, 320, 640}, 3, "RRRA",
                            {0, 0, 0, 1}, {0, 0, 1, 1}, false, 512};

enum { HEAD_DIM = 32 };
static const float BN_EPS = 1e-5f, LN_EPS = 1e-5f;

#define NAME(...) mb_name(nm, sizeof nm, __VA_ARGS__)

/* ---- Apple / FastVLM naming ------------------------------------------------------------- */

/* Apple's flat `network` list: per stage, [down-sampler], [RepCPE], blocks. */
static int network_index(const fv_cfg *c, int stage, char part) {
    int k = 0;
    for (int s = 0; s < c->nstages; s++) {
        if (s > 0) {
            if (s == stage && part == 'd')
                return k;
            k++;
        }
        if (c->cpe[s]) {
            if (s == stage && part == 'c')
                return k;
            k++;
        }
        if (s == stage && part == 'b')
            return k;
        k++;
    }
    return -1;
}

static void replace(char *s, size_t size, const char *from, const char *to) {
    char *p = strstr(s, from);
    if (!p)
        return;
    char tail[512];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    snprintf(p, size - (size_t)(p - s), "%s%s", to, tail);
}

static bool apple_map(const mb *b, const char *logical, char *out, size_t size) {
    const fv_cfg *c = b->map_ctx;
    char rest[512] = "";
    int s, j, i, n = 0;
    if (sscanf(logical, "stem.%d.%n", &i, &n) == 1 && n) {
        snprintf(out, size, "%spatch_embed.%d.%s", b->prefix, i, logical + n);
    } else if (sscanf(logical, "stages.%d.downsample.%n", &s, &n) == 1 && n) {
        snprintf(rest, sizeof rest, "%s", logical + n);
        replace(rest, sizeof rest, "proj.0.reparam_conv", "proj.0.lkb_reparam");
        snprintf(out, size, "%snetwork.%d.%s", b->prefix, network_index(c, s, 'd'), rest);
    } else if (sscanf(logical, "stages.%d.pos_emb.%n", &s, &n) == 1 && n) {
        snprintf(out, size, "%snetwork.%d.%s", b->prefix, network_index(c, s, 'c'), logical + n);
    } else if (sscanf(logical, "stages.%d.blocks.%d.%n", &s, &j, &n) == 2 && n) {
        snprintf(rest, sizeof rest, "%s", logical + n);
        replace(rest, sizeof rest, "mlp.", "convffn.");
        replace(rest, sizeof rest, ".gamma", "");
        snprintf(out, size, "%snetwork.%d.%d.%s", b->prefix, network_index(c, s, 'b'), j, rest);
    } else if (!strncmp(logical, "final_conv.", 11)) {
        snprintf(out, size, "%sconv_exp.%s", b->prefix, logical + 11);
    } else {
        snprintf(out, size, "%s%s", b->prefix, logical);
    }
    replace(out, size, ".se.fc1.", ".se.reduce.");
    replace(out, size, ".se.fc2.", ".se.expand.");
    return true;
}

static vlm_status fv_detect(mb *b, const void *cfg, vlm_error *err) {
    static const char *timm_prefixes[] = {"", "visual.trunk.", "module.visual.trunk.",
                                          "model.vision_tower.timm_model.", "image_encoder.",
                                          "trunk."};
    static const char *apple_prefixes[] = {"model.vision_tower.vision_tower.model.",
                                           "image_encoder.model.", ""};
    static const char *probes[] = {"stem.0.reparam_conv.weight", "stem.0.conv_kxk.0.conv.weight"};
    char name[256];
    for (size_t p = 0; p < sizeof timm_prefixes / sizeof *timm_prefixes; p++)
        for (size_t q = 0; q < 2; q++) {
            snprintf(name, sizeof name, "%s%s", timm_prefixes[p], probes[q]);
            if (mb_find(b, name, NULL)) {
                b->prefix = timm_prefixes[p];
                b->map = NULL;
                return VLM_OK;
            }
        }
    for (size_t p = 0; p < sizeof apple_prefixes / sizeof *apple_prefixes; p++) {
        snprintf(name, sizeof name, "%spatch_embed.0.reparam_conv.weight", apple_prefixes[p]);
        if (mb_find(b, name, NULL)) {
            b->prefix = apple_prefixes[p];
            b->map = apple_map;
            b->map_ctx = cfg;
            return VLM_OK;
        }
    }
    return vlm_error_set(err, VLM_ERR_FORMAT,
                         "%s: no FastViT image encoder found: expected timm names "
                         "(e.g. 'stem.0.reparam_conv.weight', optionally under 'visual.trunk.') "
                         "or FastVLM names ('model.vision_tower.vision_tower.model.patch_embed."
                         "0.reparam_conv.weight')",
                         b->ckpt_path);
}

/* ---- module weights (inference form, or folded from training form) ---------------------- */

typedef struct bn {
    float *w, *b, *mean, *var;
} bn;

/* A BatchNorm's four tensors; the affine pair counts as parameters when count is set. */
static bn get_bn(mb *b, const char *path, int64_t c, bool count) {
    char nm[512];
    int64_t s[1] = {c};
    bn r;
    r.w = mb_get(b, NAME("%s.weight", path), MB_INIT_NORM_W, count, 1, s);
    r.b = mb_get(b, NAME("%s.bias", path), MB_INIT_BIAS, count, 1, s);
    r.mean = mb_get(b, NAME("%s.running_mean", path), MB_INIT_STAT_MEAN, false, 1, s);
    r.var = mb_get(b, NAME("%s.running_var", path), MB_INIT_STAT_VAR, false, 1, s);
    return r;
}

static bool bn_ok(const bn *r) { return r->w && r->b && r->mean && r->var; }

/* conv (no bias) + BN of a training-form branch, folded, added into W/B (kernel K). */
static void add_conv_bn(mb *b, const char *conv, const char *bnp, float *W, float *B, int64_t K,
                        int64_t cout, int64_t cg, int64_t k) {
    char nm[512];
    float *w = mb_get(b, NAME("%s.weight", conv), MB_INIT_FANIN, false, 4,
                      (int64_t[]){cout, cg, k, k});
    bn r = get_bn(b, bnp, cout, false);
    float *bias = mb_alloc(b, cout);
    if (!w || !bn_ok(&r) || !bias)
        return;
    mb_fold_bn(w, bias, cout, cg * k * k, r.w, r.b, r.mean, r.var, BN_EPS, false);
    mb_add_centered(W, K, w, k, cout, cg);
    for (int64_t o = 0; o < cout; o++)
        B[o] += bias[o];
}

/* identity BN branch folded into W/B: a kxk identity kernel through BN. */
static void add_identity_bn(mb *b, const char *bnp, float *W, float *B, int64_t K, int64_t cout,
                            int64_t cg, float sign) {
    bn r = get_bn(b, bnp, cout, false);
    float *id = mb_alloc(b, cout * cg * K * K), *bias = mb_alloc(b, cout);
    if (!bn_ok(&r) || !id || !bias)
        return;
    mb_add_identity(id, K, cout, cg, 1.0f);
    mb_fold_bn(id, bias, cout, cg * K * K, r.w, r.b, r.mean, r.var, BN_EPS, false);
    for (int64_t i = 0; i < cout * cg * K * K; i++)
        W[i] += sign * id[i];
    for (int64_t o = 0; o < cout; o++)
        B[o] += sign * bias[o];
}

/* A MobileOne block's training-form branches folded into W/B (spec 0.1); false if it has none. */
static bool fold_mobileone(mb *b, const char *path, float *W, float *B, int64_t cout, int64_t cg,
                           int64_t k) {
    char nm[512], nm2[512];
    bool any = false;
    for (int i = 0; mb_has(b, NAME("%s.conv_kxk.%d.conv.weight", path, i)); i++, any = true)
        add_conv_bn(b, NAME("%s.conv_kxk.%d.conv", path, i),
                    mb_name(nm2, sizeof nm2, "%s.conv_kxk.%d.bn", path, i), W, B, k, cout, cg, k);
    if (mb_has(b, NAME("%s.conv_scale.conv.weight", path))) {
        add_conv_bn(b, NAME("%s.conv_scale.conv", path),
                    mb_name(nm2, sizeof nm2, "%s.conv_scale.bn", path), W, B, k, cout, cg, 1);
        any = true;
    }
    if (mb_has(b, NAME("%s.identity.running_var", path))) {
        add_identity_bn(b, mb_name(nm2, sizeof nm2, "%s.identity", path), W, B, k, cout, cg, 1.0f);
        any = true;
    }
    return any;
}

typedef struct convw {
    float *w, *b;
} convw;

/* Weights of a re-parameterisable conv at path: `path.reparam_conv.{weight,bias}` when present
 * (inference form, or synthetic), else folded from the training-form branches. */
static convw reparam_conv(mb *b, const char *path, int64_t cin, int64_t cout, int64_t k,
                          int64_t groups, mb_init init, char kind) {
    char nm[512];
    int64_t cg = cin / groups;
    int64_t ws[4] = {cout, cg, k, k}, bs[1] = {cout};
    convw r = {NULL, NULL};
    if (!mb_has_ckpt(b) || mb_has(b, NAME("%s.reparam_conv.weight", path))) {
        r.w = mb_get(b, NAME("%s.reparam_conv.weight", path), init, true, 4, ws);
        r.b = mb_get(b, NAME("%s.reparam_conv.bias", path), MB_INIT_BIAS, true, 1, bs);
        return r;
    }
    b->params += cout * cg * k * k + cout; /* counted in inference form */
    r.w = mb_alloc(b, cout * cg * k * k);
    r.b = mb_alloc(b, cout);
    if (!r.w || !r.b)
        return r;
    bool found = false;
    if (kind == 'm') { /* MobileOne */
        found = fold_mobileone(b, path, r.w, r.b, cout, cg, k);
    } else if (kind == 'l') { /* ReparamLargeKernelConv: 7x7 + 3x3 branches (spec 0.2) */
        char a[512], c[512];
        if (mb_has(b, NAME("%s.large_conv.conv.weight", path))) {
            add_conv_bn(b, NAME("%s.large_conv.conv", path),
                        mb_name(a, sizeof a, "%s.large_conv.bn", path), r.w, r.b, k, cout, cg, k);
            if (mb_has(b, mb_name(c, sizeof c, "%s.small_conv.conv.weight", path)))
                add_conv_bn(b, NAME("%s.small_conv.conv", path),
                            mb_name(a, sizeof a, "%s.small_conv.bn", path), r.w, r.b, k, cout, cg,
                            3);
            found = true;
        }
    } else if (kind == 'r') { /* RepMixer (spec 0.5): Id + gamma * (mixer - norm) */
        float *mix = mb_alloc(b, cout * cg * k * k), *mixb = mb_alloc(b, cout);
        char p[512];
        if (mix && mixb &&
            fold_mobileone(b, mb_name(p, sizeof p, "%s.mixer", path), mix, mixb, cout, cg, k)) {
            add_identity_bn(b, mb_name(p, sizeof p, "%s.norm.identity", path), mix, mixb, k, cout,
                            cg, -1.0f);
            float *gamma = mb_get_flat(b, NAME("%s.layer_scale.gamma", path), MB_INIT_SCALE, cout,
                                       2, (const int[]){3, 1},
                                       (const int64_t *const[]){(int64_t[]){cout, 1, 1}, bs});
            b->params -= cout; /* folded away: not an inference-form parameter */
            if (gamma) {
                for (int64_t o = 0; o < cout; o++) {
                    for (int64_t i = 0; i < cg * k * k; i++)
                        r.w[o * cg * k * k + i] = gamma[o] * mix[o * cg * k * k + i];
                    r.b[o] = gamma[o] * mixb[o];
                }
                mb_add_identity(r.w, k, cout, cg, 1.0f);
            }
            found = true;
        }
    } else if (kind == 'c') { /* RepCPE (spec 0.8): Id + pos_enc */
        if (mb_has(b, NAME("%s.pos_enc.weight", path))) {
            float *w = mb_get(b, NAME("%s.pos_enc.weight", path), MB_INIT_FANIN, false, 4, ws);
            float *bias = mb_get(b, NAME("%s.pos_enc.bias", path), MB_INIT_BIAS, false, 1, bs);
            if (w && bias) {
                memcpy(r.w, w, (size_t)(cout * cg * k * k) * sizeof *w);
                memcpy(r.b, bias, (size_t)cout * sizeof *bias);
                mb_add_identity(r.w, k, cout, cg, 1.0f);
            }
            found = true;
        }
    }
    if (!found && vg_status(b->g, NULL) == VLM_OK)
        vg_fail(b->g, VLM_ERR_FORMAT,
                "%s: missing tensor '%s%s.reparam_conv.weight' (expected shape [%lld, %lld, %lld, "
                "%lld]) and no training-form branches for it",
                b->ckpt_path, b->prefix, path, (long long)cout, (long long)cg,
                (long long)k, (long long)k);
    return r;
}

/* ---- blocks ----------------------------------------------------------------------------- */

static vg_tensor conv(mb *b, vg_tensor x, convw w, int64_t cout, int64_t k, int64_t stride,
                      int64_t groups, vg_act act) {
    vg_conv_desc d = {cout, k, stride, k / 2, groups, w.w, w.b, act, false};
    return vg_conv(b->g, x, VG_NONE, &d);
}

/* Squeeze-excite (spec 0.10): x * sigmoid(fc2(relu(fc1(mean_hw x)))), then act. */
static vg_tensor squeeze_excite(mb *b, const char *path, vg_tensor x, int64_t c, int64_t rd,
                                vg_act act) {
    char nm[512];
    vg_graph *g = b->g;
    float *w1 = mb_get(b, NAME("%s.se.fc1.weight", path), MB_INIT_FANIN, true, 4,
                       (int64_t[]){rd, c, 1, 1});
    float *b1 = mb_get(b, NAME("%s.se.fc1.bias", path), MB_INIT_BIAS, true, 1, (int64_t[]){rd});
    float *w2 = mb_get(b, NAME("%s.se.fc2.weight", path), MB_INIT_FANIN, true, 4,
                       (int64_t[]){c, rd, 1, 1});
    float *b2 = mb_get(b, NAME("%s.se.fc2.bias", path), MB_INIT_BIAS, true, 1, (int64_t[]){c});
    vg_tensor m = vg_mean_hw(g, x, 0);
    vg_tensor m2 = vg_view(g, m, 2, (int64_t[]){1, c}, (int64_t[]){c, 1}, 0);
    vg_tensor r = vg_linear(g, m2, VG_NONE, rd, w1, b1, VG_ACT_RELU, false);
    vg_tensor e = vg_linear(g, r, VG_NONE, c, w2, b2, VG_ACT_SIGMOID, false);
    vg_tensor e4 = vg_view(g, e, 4, (int64_t[]){1, c, 1, 1}, (int64_t[]){c, 1, c, c}, 0);
    return vg_mul(g, x, e4, VG_NONE, act);
}

/* ConvFFN (spec 0.6) with its layer scale, accumulated into x: x += ls * FFN(x). */
static void conv_ffn(mb *b, const char *blk, vg_tensor x, int64_t d, int64_t hid,
                     const char *ls_name) {
    char nm[512];
    int64_t ds[1] = {d};
    float *dw = mb_get(b, NAME("%s.mlp.conv.conv.weight", blk), MB_INIT_FANIN, true, 4,
                       (int64_t[]){d, 1, 7, 7});
    bn r = get_bn(b, NAME("%s.mlp.conv.bn", blk), d, true);
    float *dwb = mb_alloc(b, d);
    if (dw && bn_ok(&r) && dwb)
        mb_fold_bn(dw, dwb, d, 49, r.w, r.b, r.mean, r.var, BN_EPS, false);
    float *w1 = mb_get(b, NAME("%s.mlp.fc1.weight", blk), MB_INIT_FANIN, true, 4,
                       (int64_t[]){hid, d, 1, 1});
    float *b1 = mb_get(b, NAME("%s.mlp.fc1.bias", blk), MB_INIT_BIAS, true, 1, (int64_t[]){hid});
    float *w2 = mb_get(b, NAME("%s.mlp.fc2.weight", blk), MB_INIT_FANIN, true, 4,
                       (int64_t[]){d, hid, 1, 1});
    float *b2 = mb_get(b, NAME("%s.mlp.fc2.bias", blk), MB_INIT_BIAS, true, 1, ds);
    float *ls = mb_get_flat(b, NAME("%s.%s", blk, ls_name), MB_INIT_SCALE, d, 2,
                            (const int[]){3, 1},
                            (const int64_t *const[]){(int64_t[]){d, 1, 1}, ds});
    if (w2 && b2 && ls) /* fold the layer scale into fc2 */
        for (int64_t o = 0; o < d; o++) {
            for (int64_t i = 0; i < hid; i++)
                w2[o * hid + i] *= ls[o];
            b2[o] *= ls[o];
        }
    vg_conv_desc c1 = {d, 7, 1, 3, d, dw, dwb, VG_ACT_NONE, false};
    vg_tensor u = vg_conv(b->g, x, VG_NONE, &c1);
    vg_conv_desc c2 = {hid, 1, 1, 0, 1, w1, b1, VG_ACT_GELU, false};
    vg_tensor h = vg_conv(b->g, u, VG_NONE, &c2);
    vg_conv_desc c3 = {d, 1, 1, 0, 1, w2, b2, VG_ACT_NONE, true};
    vg_conv(b->g, h, x, &c3);
}

static vg_tensor repmixer_block(mb *b, const char *blk, vg_tensor x, int64_t d, int64_t hid) {
    char nm[512];
    convw m = reparam_conv(b, NAME("%s.token_mixer", blk), d, d, 3, d, MB_INIT_DW_IDENT, 'r');
    vg_tensor t = conv(b, x, m, d, 3, 1, d, VG_ACT_NONE);
    conv_ffn(b, blk, t, d, hid, "layer_scale.gamma");
    mb_tmp_reset(b);
    return t;
}

/* Attention block (spec 0.9): x += ls1 * proj(MHSA(norm x)); x += ls2 * ConvFFN(x). */
static vg_tensor attention_block(mb *b, const fv_cfg *c, const char *blk, vg_tensor x, int64_t d,
                                 int64_t hid) {
    char nm[512];
    vg_graph *g = b->g;
    int64_t ds[1] = {d}, heads = d / HEAD_DIM;
    if (vg_status(g, NULL) != VLM_OK)
        return VG_NONE;
    const int64_t *xd = vg_dims(g, x);
    int64_t n = xd[2] * xd[3];
    vg_tensor x2 = vg_view2d(g, x), q_in;
    float *wqkv = mb_get(b, NAME("%s.token_mixer.qkv.weight", blk), MB_INIT_FANIN, true, 2,
                         (int64_t[]){3 * d, d});
    float *bqkv = NULL;
    if (c->attn_ln) {
        float *lw = mb_get(b, NAME("%s.norm.weight", blk), MB_INIT_NORM_W, true, 1, ds);
        float *lb = mb_get(b, NAME("%s.norm.bias", blk), MB_INIT_BIAS, true, 1, ds);
        q_in = vg_layernorm(g, x2, VG_NONE, lw, lb, LN_EPS);
    } else { /* BatchNorm folded into qkv: W' = W diag(s), b' = W t */
        bn r = get_bn(b, NAME("%s.norm", blk), d, true);
        bqkv = mb_alloc(b, 3 * d);
        if (wqkv && bn_ok(&r) && bqkv)
            for (int64_t o = 0; o < 3 * d; o++) {
                double acc = 0.0;
                for (int64_t i = 0; i < d; i++) {
                    double s = r.w[i] / sqrt((double)r.var[i] + BN_EPS);
                    double t = r.b[i] - r.mean[i] * s;
                    acc += wqkv[o * d + i] * t;
                    wqkv[o * d + i] = (float)(wqkv[o * d + i] * s);
                }
                bqkv[o] = (float)acc;
            }
        q_in = x2;
    }
    float *wp = mb_get(b, NAME("%s.token_mixer.proj.weight", blk), MB_INIT_FANIN, true, 2,
                       (int64_t[]){d, d});
    float *bp = mb_get(b, NAME("%s.token_mixer.proj.bias", blk), MB_INIT_BIAS, true, 1, ds);
    float *ls1 = mb_get_flat(b, NAME("%s.layer_scale_1.gamma", blk), MB_INIT_SCALE, d, 2,
                             (const int[]){3, 1},
                             (const int64_t *const[]){(int64_t[]){d, 1, 1}, ds});
    if (wp && bp && ls1)
        for (int64_t o = 0; o < d; o++) {
            for (int64_t i = 0; i < d; i++)
                wp[o * d + i] *= ls1[o];
            bp[o] *= ls1[o];
        }
    vg_tensor qkv = vg_linear(g, q_in, VG_NONE, 3 * d, wqkv, bqkv, VG_ACT_NONE, false);
    /* q, k^T, v as strided views of qkv [n, 3d] (rows q | k | v, heads of 32) */
    vg_tensor q = vg_view(g, qkv, 3, (int64_t[]){heads, n, HEAD_DIM},
                          (int64_t[]){HEAD_DIM, 3 * d, 1}, 0);
    vg_tensor kt = vg_view(g, qkv, 3, (int64_t[]){heads, HEAD_DIM, n},
                           (int64_t[]){HEAD_DIM, 1, 3 * d}, d);
    vg_tensor v = vg_view(g, qkv, 3, (int64_t[]){heads, n, HEAD_DIM},
                          (int64_t[]){HEAD_DIM, 3 * d, 1}, 2 * d);
    vg_tensor s = vg_new(g, 3, (int64_t[]){heads, n, n}, dnnl_f32);
    vg_matmul(g, q, kt, s, 1.0f / sqrtf((float)HEAD_DIM), VG_KIND_ATTENTION);
    vg_tensor p = vg_softmax(g, s, vg_dtype(g) == dnnl_f32 ? s : VG_NONE);
    vg_tensor o = vg_new(g, 2, (int64_t[]){n, d}, 0);
    vg_tensor o3 =
        vg_view(g, o, 3, (int64_t[]){heads, n, HEAD_DIM}, (int64_t[]){HEAD_DIM, d, 1}, 0);
    vg_matmul(g, p, v, o3, 1.0f, VG_KIND_ATTENTION);
    vg_linear(g, o, x2, d, wp, bp, VG_ACT_NONE, true);
    conv_ffn(b, blk, x, d, hid, "layer_scale_2.gamma");
    mb_tmp_reset(b);
    return x;
}

/* ---- the network ------------------------------------------------------------------------ */

static mb_outputs fv_build(mb *b, const void *cfgp, const vlm_plan_params *p) {
    const fv_cfg *c = cfgp;
    vg_graph *g = b->g;
    char nm[512], blk[256];
    int64_t c0 = c->width[0];
    mb_outputs out = {VG_NONE, VG_NONE, VG_NONE};
    vg_tensor x = mb_image_input(b, p->height, p->width, &out.input);
    /* stem (spec 0.4): 3x3 s2, dw 3x3 s2, 1x1; each GELU */
    vg_set_stage(g, 0);
    x = conv(b, x, reparam_conv(b, "stem.0", 3, c0, 3, 1, MB_INIT_FANIN, 'm'), c0, 3, 2, 1,
             VG_ACT_GELU);
    x = conv(b, x, reparam_conv(b, "stem.1", c0, c0, 3, c0, MB_INIT_FANIN, 'm'), c0, 3, 2, c0,
             VG_ACT_GELU);
    x = conv(b, x, reparam_conv(b, "stem.2", c0, c0, 1, 1, MB_INIT_FANIN, 'm'), c0, 1, 1, 1,
             VG_ACT_GELU);
    mb_tmp_reset(b);
    for (int s = 0; s < c->nstages; s++) {
        int64_t d = c->width[s], hid = (int64_t)d * c->mlp_ratio;
        vg_set_stage(g, s + 1);
        if (s > 0) { /* PatchEmbed (spec 0.2, 0.3) */
            int64_t din = c->width[s - 1];
            const char *p0 = mb_name(blk, sizeof blk, "stages.%d.downsample.proj.0", s);
            convw lk = reparam_conv(b, p0, din, d, 7, din, MB_INIT_FANIN, 'l');
            x = conv(b, x, lk, d, 7, 2, din, c->se_down[s] ? VG_ACT_NONE : VG_ACT_GELU);
            if (c->se_down[s])
                x = squeeze_excite(b, p0, x, d, d / 4, VG_ACT_GELU);
            convw pw = reparam_conv(b, NAME("stages.%d.downsample.proj.1", s), d, d, 1, 1,
                                    MB_INIT_FANIN, 'm');
            x = conv(b, x, pw, d, 1, 1, 1, VG_ACT_GELU);
            mb_tmp_reset(b);
        }
        if (c->cpe[s]) {
            convw pe = reparam_conv(b, NAME("stages.%d.pos_emb", s), d, d, 7, d, MB_INIT_DW_IDENT,
                                    'c');
            x = conv(b, x, pe, d, 7, 1, d, VG_ACT_NONE);
            mb_tmp_reset(b);
        }
        for (int j = 0; j < c->depth[s]; j++) {
            mb_name(blk, sizeof blk, "stages.%d.blocks.%d", s, j);
            x = c->mixers[s] == 'A' ? attention_block(b, c, blk, x, d, hid)
                                    : repmixer_block(b, blk, x, d, hid);
        }
    }
    /* final conv (spec 0.10): grouped 3x3 C -> 2C, SE, GELU */
    int64_t cl = c->width[c->nstages - 1], cf = 2 * cl;
    vg_set_stage(g, c->nstages + 1);
    convw fw = reparam_conv(b, "final_conv", cl, cf, 3, cl, MB_INIT_FANIN, 'm');
    x = conv(b, x, fw, cf, 3, 1, cl, VG_ACT_NONE);
    x = squeeze_excite(b, "final_conv", x, cf, cf / 16, VG_ACT_GELU);
    mb_tmp_reset(b);
    out.output = x;
    if (!p->pooled && !p->dense)
        return out;
    /* CLIP head (spec 0.11): mean over H, W, then @ P [2C, embed], no bias */
    int64_t e = c->embed_dim;
    b->in_head = true;
    float *wt; /* as a Linear weight [embed, 2C] = P^T */
    if (b->map == apple_map) {
        float *p = mb_get(b, "head.proj", MB_INIT_FANIN, true, 2, (int64_t[]){cf, e});
        wt = mb_alloc(b, e * cf);
        if (p && wt)
            for (int64_t i = 0; i < cf; i++)
                for (int64_t j = 0; j < e; j++)
                    wt[j * cf + i] = p[i * e + j];
    } else {
        wt = mb_get(b, "head.fc.weight", MB_INIT_FANIN, true, 2, (int64_t[]){e, cf});
        /* timm stores the projection as head.fc with a zero bias; apply it if present */
    }
    float *hb = mb_has(b, "head.fc.bias")
                    ? mb_get(b, "head.fc.bias", MB_INIT_BIAS, false, 1, (int64_t[]){e})
                    : NULL;
    b->in_head = false;
    if (p->dense) { /* the projection on every position (it commutes with the mean) */
        const int64_t *xd = vg_dims(g, x);
        int64_t h = xd[2], w = xd[3];
        vg_tensor e2 = vg_linear(g, vg_view2d(g, x), VG_NONE, e, wt, hb, VG_ACT_NONE, false);
        out.output = vg_view(g, e2, 4, (int64_t[]){1, e, h, w}, (int64_t[]){h * w * e, 1, w * e, e},
                             0);
        mb_tmp_reset(b);
        return out;
    }
    vg_tensor m = vg_mean_hw(g, x, 0);
    vg_tensor m2 = vg_view(g, m, 2, (int64_t[]){1, cf}, (int64_t[]){cf, 1}, 0);
    out.pooled = vg_linear(g, m2, VG_NONE, e, wt, hb, VG_ACT_NONE, false);
    mb_tmp_reset(b);
    return out;
}

static const char *fv_stage_name(const void *cfgp, int stage) {
    static const char *names[] = {"stem", "stage0", "stage1", "stage2", "stage3", "stage4", "final"};
    const fv_cfg *c = cfgp;
    if (stage == c->nstages + 1)
        return "final_conv";
    return stage >= 0 && stage < 7 ? names[stage] : "?";
}

#define FASTVIT_CKPT "timm (fastvit_mci*, inference or training form; prefixes visual.trunk., " \
                     "module.visual.trunk., model.vision_tower.timm_model.) or FastVLM/LLaVA "  \
                     "(model.vision_tower.vision_tower.model.*, inference form)"

static vlm_status fv_check(const model_def *d, const vlm_plan_params *p, vlm_error *err) {
    const int max_res = 16384;
    if (p->height < d->info.min_res || p->width < d->info.min_res || p->height > max_res ||
        p->width > max_res)
        return vlm_error_set(err, VLM_ERR_INVALID,
                             "%s cannot take a %dx%d input: each side must be between %d and %d "
                             "pixels (it down-samples by %d)",
                             d->info.name, p->height, p->width, d->info.min_res, max_res,
                             d->info.stride);
    return VLM_OK;
}

const model_def vlm_fastvit_models[] = {
    {{"fastvithd", "vision", "FastViTHD (MobileCLIP-L / MCi3), FastVLM's vision encoder", "fastvit", 1024,
      64, 64, "ceil(H/64) x ceil(W/64)", FASTVIT_CKPT, 3072, 768},
     &FASTVITHD, fv_detect, fv_check, fv_build, fv_stage_name},
    {{"mci0", "vision", "MobileCLIP-S0 image encoder (MCi0)", "fastvit", 256, 32, 32,
      "ceil(H/32) x ceil(W/32)", FASTVIT_CKPT, 1024, 512},
     &MCI0, fv_detect, fv_check, fv_build, fv_stage_name},
    {{"mci1", "vision", "MobileCLIP-S1 image encoder (MCi1)", "fastvit", 256, 32, 32,
      "ceil(H/32) x ceil(W/32)", FASTVIT_CKPT, 1024, 512},
     &MCI1, fv_detect, fv_check, fv_build, fv_stage_name},
    {{"mci2", "vision", "MobileCLIP-S2 image encoder (MCi2)", "fastvit", 256, 32, 32,
      "ceil(H/32) x ceil(W/32)", FASTVIT_CKPT, 1280, 512},
     &MCI2, fv_detect, fv_check, fv_build, fv_stage_name},
};
const int vlm_fastvit_model_count = sizeof vlm_fastvit_models / sizeof vlm_fastvit_models[0];
