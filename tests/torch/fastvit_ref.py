#!/usr/bin/python3
"""Independent PyTorch reference of the FastViT family image towers used by vlmbench:

    fastvithd  FastViTHD (= MCi3, FastVLM vision tower, MobileCLIP-S3/L image tower)
    mci0/1/2   MobileCLIP-S0/S1/S2 image towers

Written from the layer description in /work/shared/spec/models.md sections 0-2 and checked
by reading the public Apple (ml-fastvlm / ml-mobileclip) and timm FastViT sources. No code
is copied from them; only the architecture and the tensor names are reproduced.

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 tests/torch/fastvit_ref.py ...

The model is built in TRAINING form (MobileOne branches with BN, RepMixer with mixer/norm and
a layer scale, RepCPE with its residual, ReparamLargeKernelConv with large + small branch)
and `reparameterize()` folds it into INFERENCE form (one conv with bias per re-param unit).
ConvFFN keeps its BN unfolded and the block layer scales stay, as in the released checkpoints.

Outputs:
  --weights  safetensors checkpoint with the real tensor names of the chosen scheme / form
  --input    the seeded input image, float32 NCHW [1,3,H,W] in [0,1] (numpy .npy)
  --output   final_conv feature map as tokens x dim, float32 [h*w, 2C] (row-major h then w)
  --pooled   CLIP embedding (mean over h,w then @ proj), float32 [embed]
The expected outputs are computed (float64 by default) from exactly the weight values that
are stored in the checkpoint (i.e. after rounding them to the storage dtype).

Naming schemes (--scheme):
  timm        timm `fastvit_mci*` names: stem.{0,1,2}, stages.{i}.downsample.proj.{0,1},
              stages.{i}.pos_emb, stages.{i}.blocks.{j}, final_conv, head.fc (= proj^T, bias 0);
              train form: conv_kxk.0.{conv,bn} / conv_scale / identity / large_conv /
              small_conv / pos_enc / token_mixer.{norm,mixer} / *.layer_scale*.gamma [d,1,1]
  fastvlm     Apple names, prefix `model.vision_tower.vision_tower.model.`: patch_embed.{0,1,2},
              flat network.{k} (fastvithd k=0..10, mci k=0..7), conv_exp (se.reduce/expand),
              head.proj [2C, embed]; inference: reparam_conv / lkb_reparam; train: rbr_conv /
              rbr_scale / rbr_skip / lkb_origin / small_conv / pe; layer_scale* [d,1,1]
  mobileclip  the same Apple names with the MobileCLIP .pt prefix `image_encoder.model.`
Both name sets (both forms) were checked by loading the written files with strict name/shape
matching into the real timm FastVit / Apple FastViT classes and comparing their outputs.
"""

import argparse
import copy
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------
# configurations
# --------------------------------------------------------------------------------------

# se_down[i]: the down-sampler INTO stage i carries an SE block.
# cpe[i]: a RepCPE sits in front of stage i's blocks.
CONFIGS = {
    "fastvithd": dict(
        depths=(2, 12, 24, 4, 2), widths=(96, 192, 384, 768, 1536), mlp_ratio=4.0,
        mixers=("R", "R", "R", "A", "A"), cpe=(False, False, False, True, True),
        se_down=(False, False, False, False, False), stem_scale=False, attn_norm="ln",
        embed=768, params_m=125.07, params_nohead_m=122.71),
    "mci0": dict(
        depths=(2, 6, 10, 2), widths=(64, 128, 256, 512), mlp_ratio=3.0,
        mixers=("R", "R", "R", "A"), cpe=(False, False, False, True),
        se_down=(False, False, True, True), stem_scale=True, attn_norm="bn",
        embed=512, params_m=11.36, params_nohead_m=None),
    "mci1": dict(
        depths=(4, 12, 20, 4), widths=(64, 128, 256, 512), mlp_ratio=3.0,
        mixers=("R", "R", "R", "A"), cpe=(False, False, False, True),
        se_down=(False, False, True, True), stem_scale=True, attn_norm="bn",
        embed=512, params_m=21.46, params_nohead_m=None),
    "mci2": dict(
        depths=(4, 12, 24, 4), widths=(80, 160, 320, 640), mlp_ratio=3.0,
        mixers=("R", "R", "R", "A"), cpe=(False, False, False, True),
        se_down=(False, False, True, True), stem_scale=True, attn_norm="bn",
        embed=512, params_m=35.70, params_nohead_m=None),
}

BN_EPS = 1e-5
LN_EPS = 1e-5
HEAD_DIM = 32

# weight-init gains of the residual branches (keep the residual stream O(1) over 24+ blocks)
GAIN_FC2 = 0.35
GAIN_MIXER = 0.25

# checkpoint name prefixes per scheme
PREFIX = {
    "timm": "",
    "fastvlm": "model.vision_tower.vision_tower.model.",
    "mobileclip": "image_encoder.model.",
}


# --------------------------------------------------------------------------------------
# folding helpers
# --------------------------------------------------------------------------------------

def fold_bn(kernel, bn):
    """Conv kernel followed by eval-mode BN -> (kernel', bias')."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


def identity_kernel(channels, groups, k, like):
    """Kernel of a kxk grouped conv (channels -> channels) that is the identity map."""
    per_group = channels // groups
    w = torch.zeros(channels, per_group, k, k, dtype=like.dtype, device=like.device)
    for o in range(channels):
        w[o, o % per_group, k // 2, k // 2] = 1.0
    return w


# Debian's torch links the generic reference BLAS (~3 GFLOP/s); in float32 the 1x1 convs and
# linears are routed through oneDNN (mkldnn), which torch 1.13 skips for single-threaded 1x1
# convs, for a ~10x speed-up. Turned off for ONNX export.
FAST_F32 = True


def conv_fwd(conv, x):
    if (FAST_F32 and x.dtype == torch.float32 and conv.groups == 1
            and conv.kernel_size == (1, 1) and torch.backends.mkldnn.is_available()):
        return torch.mkldnn_convolution(x.contiguous(), conv.weight, conv.bias, conv.padding,
                                        conv.stride, conv.dilation, 1)
    return conv(x)


def linear_fwd(lin, t):
    """Linear over [B, N, C] tokens."""
    if FAST_F32 and t.dtype == torch.float32 and torch.backends.mkldnn.is_available():
        B, N, C = t.shape
        x = t.transpose(1, 2).reshape(B, C, N, 1).contiguous()
        w = lin.weight.reshape(lin.out_features, C, 1, 1)
        y = torch.mkldnn_convolution(x, w, lin.bias, [0, 0], [1, 1], [1, 1], 1)
        return y.reshape(B, lin.out_features, N).transpose(1, 2)
    return lin(t)


def make_divisible(v, divisor):
    """Channel rounding of timm's SqueezeExcite (round_limit 0)."""
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


# --------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------

class ConvBN(nn.Module):
    """conv (no bias, padding k//2) followed by BatchNorm2d."""

    def __init__(self, cin, cout, k, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x):
        return self.bn(conv_fwd(self.conv, x))

    def fused(self):
        return fold_bn(self.conv.weight, self.bn)


class SqueezeExcite(nn.Module):
    """mean over H,W -> 1x1 conv (+bias) -> ReLU -> 1x1 conv (+bias) -> sigmoid -> scale."""

    def __init__(self, channels, reduced):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class MobileOne(nn.Module):
    """MobileOne block: sum of conv+BN branches, 1x1 scale branch, identity BN; then SE, GELU."""

    def __init__(self, cin, cout, k, stride=1, groups=1, use_se=False, use_act=True,
                 scale_branch=True, n_branches=1):
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.groups = cin, cout, k, stride, groups
        self.use_act = use_act
        self.reparam_conv = None
        self.conv_kxk = (nn.ModuleList([ConvBN(cin, cout, k, stride, groups)
                                        for _ in range(n_branches)])
                         if n_branches > 0 else None)
        self.conv_scale = (ConvBN(cin, cout, 1, stride, groups)
                           if (k > 1 and scale_branch) else None)
        self.identity = (nn.BatchNorm2d(cin, eps=BN_EPS)
                         if (cin == cout and stride == 1) else None)
        # final-conv SE: reduction 1/16 (Apple int(c*0.0625), timm rd_divisor=1)
        self.se = SqueezeExcite(cout, int(cout * 0.0625)) if use_se else None

    @property
    def is_folded(self):
        return self.reparam_conv is not None

    def forward(self, x):
        if self.reparam_conv is not None:
            y = conv_fwd(self.reparam_conv, x)
        else:
            y = 0
            if self.conv_kxk is not None:
                for br in self.conv_kxk:
                    y = y + br(x)
            if self.conv_scale is not None:
                y = y + self.conv_scale(x)
            if self.identity is not None:
                y = y + self.identity(x)
        if self.se is not None:
            y = self.se(y)
        return F.gelu(y) if self.use_act else y

    def folded_kernel_bias(self):
        ref = next(self.parameters())
        k = self.k
        w = torch.zeros(self.cout, self.cin // self.groups, k, k, dtype=ref.dtype)
        b = torch.zeros(self.cout, dtype=ref.dtype)
        if self.conv_kxk is not None:
            for br in self.conv_kxk:
                wk, bk = br.fused()
                w, b = w + wk, b + bk
        if self.conv_scale is not None:
            ws, bs = self.conv_scale.fused()
            p = k // 2
            w, b = w + F.pad(ws, [p, p, p, p]), b + bs
        if self.identity is not None:
            wi, bi = fold_bn(identity_kernel(self.cin, self.groups, k, ref), self.identity)
            w, b = w + wi, b + bi
        return w, b

    def reparameterize(self):
        if self.reparam_conv is not None:
            return
        w, b = self.folded_kernel_bias()
        conv = nn.Conv2d(self.cin, self.cout, self.k, self.stride, self.k // 2,
                         groups=self.groups, bias=True).to(w.dtype)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(b)
        self.conv_kxk = None
        self.conv_scale = None
        self.identity = None
        self.reparam_conv = conv


class LargeKernelConv(nn.Module):
    """ReparamLargeKernelConv: 7x7 s2 grouped conv+BN plus 3x3 conv+BN, then [SE], GELU."""

    def __init__(self, cin, cout, k=7, stride=2, small_k=3, use_se=False):
        super().__init__()
        self.cin, self.cout, self.k, self.stride, self.small_k = cin, cout, k, stride, small_k
        self.groups = cin
        self.reparam_conv = None
        self.large_conv = ConvBN(cin, cout, k, stride, cin)
        self.small_conv = ConvBN(cin, cout, small_k, stride, cin)
        # down-sampler SE: timm SqueezeExcite(rd_ratio=0.25, rd_divisor=8)
        self.se = SqueezeExcite(cout, make_divisible(cout * 0.25, 8)) if use_se else None

    def forward(self, x):
        if self.reparam_conv is not None:
            y = conv_fwd(self.reparam_conv, x)
        else:
            y = self.large_conv(x) + self.small_conv(x)
        if self.se is not None:
            y = self.se(y)
        return F.gelu(y)

    def reparameterize(self):
        if self.reparam_conv is not None:
            return
        w, b = self.large_conv.fused()
        ws, bs = self.small_conv.fused()
        p = (self.k - self.small_k) // 2
        w, b = w + F.pad(ws, [p, p, p, p]), b + bs
        conv = nn.Conv2d(self.cin, self.cout, self.k, self.stride, self.k // 2,
                         groups=self.groups, bias=True).to(w.dtype)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(b)
        self.large_conv = None
        self.small_conv = None
        self.reparam_conv = conv


class PatchEmbed(nn.Module):
    def __init__(self, cin, cout, use_se):
        super().__init__()
        self.proj = nn.Sequential(
            LargeKernelConv(cin, cout, 7, 2, 3, use_se=use_se),
            MobileOne(cout, cout, 1, 1, 1, use_se=False, use_act=True),
        )

    def forward(self, x):
        return self.proj(x)


class RepMixer(nn.Module):
    """x + gamma * (mixer(x) - norm(x)); folds to one depthwise 3x3 conv with bias."""

    def __init__(self, dim, k=3):
        super().__init__()
        self.dim, self.k = dim, k
        self.reparam_conv = None
        self.norm = MobileOne(dim, dim, k, 1, dim, use_act=False, scale_branch=False,
                              n_branches=0)
        self.mixer = MobileOne(dim, dim, k, 1, dim, use_act=False)
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x):
        if self.reparam_conv is not None:
            return self.reparam_conv(x)
        return x + self.layer_scale * (self.mixer(x) - self.norm(x))

    def reparameterize(self):
        if self.reparam_conv is not None:
            return
        wm, bm = self.mixer.folded_kernel_bias()
        wn, bn = self.norm.folded_kernel_bias()
        g = self.layer_scale
        w = identity_kernel(self.dim, self.dim, self.k, wm) + g.unsqueeze(-1) * (wm - wn)
        b = g.reshape(-1) * (bm - bn)
        conv = nn.Conv2d(self.dim, self.dim, self.k, 1, self.k // 2, groups=self.dim,
                         bias=True).to(w.dtype)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(b)
        self.norm = None
        self.mixer = None
        self.layer_scale = None
        self.reparam_conv = conv


class ConvFFN(nn.Module):
    """dw 7x7 (no bias) + BN -> 1x1 (bias) -> GELU -> 1x1 (bias). BN is never folded."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.conv = ConvBN(dim, dim, 7, 1, dim)
        self.fc1 = nn.Conv2d(dim, hidden, 1, bias=True)
        self.fc2 = nn.Conv2d(hidden, dim, 1, bias=True)

    def forward(self, x):
        return conv_fwd(self.fc2, F.gelu(conv_fwd(self.fc1, self.conv(x))))


class RepCPE(nn.Module):
    """x + dwconv7x7(x) (with bias); folds to one dw 7x7 conv with bias."""

    def __init__(self, dim, k=7):
        super().__init__()
        self.dim, self.k = dim, k
        self.reparam_conv = None
        self.pos_enc = nn.Conv2d(dim, dim, k, 1, k // 2, groups=dim, bias=True)

    def forward(self, x):
        if self.reparam_conv is not None:
            return self.reparam_conv(x)
        return x + self.pos_enc(x)

    def reparameterize(self):
        if self.reparam_conv is not None:
            return
        w = identity_kernel(self.dim, self.dim, self.k, self.pos_enc.weight) + self.pos_enc.weight
        conv = nn.Conv2d(self.dim, self.dim, self.k, 1, self.k // 2, groups=self.dim,
                         bias=True).to(w.dtype)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(self.pos_enc.bias)
        self.pos_enc = None
        self.reparam_conv = conv


class LayerNormChannel(nn.Module):
    """LayerNorm over C for every pixel of an NCHW map (biased variance, affine)."""

    def __init__(self, dim, eps=LN_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        mu = x.mean(dim=1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)


class MHSA(nn.Module):
    """Multi-head self-attention over the h*w tokens (row-major), head_dim 32."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.heads = dim // HEAD_DIM
        self.scale = HEAD_DIM ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x):
        B, C, H, W = x.shape
        N = H * W
        t = x.reshape(B, C, N).transpose(1, 2)                       # [B, N, C]
        qkv = linear_fwd(self.qkv, t).reshape(B, N, 3, self.heads, HEAD_DIM).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                             # [B, heads, N, 32]
        attn = torch.softmax(torch.matmul(q * self.scale, k.transpose(-2, -1)), dim=-1)
        o = torch.matmul(attn, v).transpose(1, 2).reshape(B, N, C)
        o = linear_fwd(self.proj, o)
        return o.transpose(1, 2).reshape(B, C, H, W)


class RepMixerBlock(nn.Module):
    def __init__(self, dim, mlp_ratio):
        super().__init__()
        self.token_mixer = RepMixer(dim)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x):
        x = self.token_mixer(x)
        return x + self.layer_scale * self.mlp(x)


class AttentionBlock(nn.Module):
    def __init__(self, dim, mlp_ratio, norm):
        super().__init__()
        self.norm = (LayerNormChannel(dim) if norm == "ln"
                     else nn.BatchNorm2d(dim, eps=BN_EPS))
        self.token_mixer = MHSA(dim)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio))
        self.layer_scale_1 = nn.Parameter(torch.ones(dim, 1, 1))
        self.layer_scale_2 = nn.Parameter(torch.ones(dim, 1, 1))

    def forward(self, x):
        x = x + self.layer_scale_1 * self.token_mixer(self.norm(x))
        return x + self.layer_scale_2 * self.mlp(x)


class Stage(nn.Module):
    """timm-style stage: [down-sampler] -> [RepCPE] -> blocks."""

    def __init__(self, cin, dim, depth, mixer, mlp_ratio, attn_norm, downsample, se_down, cpe):
        super().__init__()
        self.downsample = PatchEmbed(cin, dim, se_down) if downsample else None
        self.pos_emb = RepCPE(dim) if cpe else None
        blocks = []
        for _ in range(depth):
            if mixer == "R":
                blocks.append(RepMixerBlock(dim, mlp_ratio))
            else:
                blocks.append(AttentionBlock(dim, mlp_ratio, attn_norm))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        if self.downsample is not None:
            x = self.downsample(x)
        if self.pos_emb is not None:
            x = self.pos_emb(x)
        for b in self.blocks:
            x = b(x)
        return x


class FastViTRef(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        w = cfg["widths"]
        c0, cl = w[0], w[-1]
        sb = cfg["stem_scale"]
        self.stem = nn.Sequential(
            MobileOne(3, c0, 3, 2, 1, scale_branch=sb),
            MobileOne(c0, c0, 3, 2, c0, scale_branch=sb),
            MobileOne(c0, c0, 1, 1, 1, scale_branch=sb),
        )
        stages = []
        for i, depth in enumerate(cfg["depths"]):
            stages.append(Stage(w[i - 1] if i > 0 else c0, w[i], depth, cfg["mixers"][i],
                                cfg["mlp_ratio"], cfg["attn_norm"], downsample=(i > 0),
                                se_down=cfg["se_down"][i], cpe=cfg["cpe"][i]))
        self.stages = nn.ModuleList(stages)
        self.final_conv = MobileOne(cl, 2 * cl, 3, 1, cl, use_se=True, use_act=True)
        self.head_proj = nn.Parameter(torch.zeros(2 * cl, cfg["embed"]))

    def forward_features(self, x):
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        return self.final_conv(x)

    def forward(self, x):
        f = self.forward_features(x)
        pooled = f.mean(dim=(2, 3)) @ self.head_proj
        return f, pooled

    def reparameterize(self):
        def walk(m):
            if isinstance(m, (MobileOne, LargeKernelConv, RepMixer, RepCPE)):
                m.reparameterize()
                return
            for c in m.children():
                walk(c)
        walk(self)
        return self

    @property
    def is_folded(self):
        return self.stem[0].reparam_conv is not None


# --------------------------------------------------------------------------------------
# seeded weights
# --------------------------------------------------------------------------------------

def init_weights(model, seed):
    """Deterministic synthetic weights that keep activations O(1) through every depth."""
    torch.manual_seed(seed)

    def u(shape, lo, hi):
        return torch.rand(shape, dtype=torch.float64) * (hi - lo) + lo

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                gain = 1.0
                if name.endswith("mlp.fc2"):
                    gain = GAIN_FC2
                elif ".token_mixer.mixer." in name:
                    gain = GAIN_MIXER
                elif name.endswith("pos_enc"):
                    gain = 0.5
                m.weight.copy_(torch.randn(m.weight.shape, dtype=torch.float64)
                               * (gain / math.sqrt(fan_in)))
                if m.bias is not None:
                    m.bias.copy_(u(m.bias.shape, -0.1, 0.1))
            elif isinstance(m, nn.Linear):
                fan_in = m.weight.shape[1]
                m.weight.copy_(torch.randn(m.weight.shape, dtype=torch.float64)
                               / math.sqrt(fan_in))
                if m.bias is not None:
                    m.bias.copy_(u(m.bias.shape, -0.1, 0.1))
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(u(c, 0.5, 1.5))
                m.bias.copy_(u(c, -0.1, 0.1))
                m.running_mean.copy_(u(c, -0.1, 0.1))
                m.running_var.copy_(u(c, 0.5, 1.5))
                m.num_batches_tracked.fill_(int(torch.randint(1, 1 << 20, (1,))))
            elif isinstance(m, LayerNormChannel):
                c = m.weight.shape[0]
                m.weight.copy_(u(c, 0.5, 1.5))
                m.bias.copy_(u(c, -0.1, 0.1))
        for name, p in model.named_parameters():
            if "layer_scale" in name:
                p.copy_(u(p.shape, 0.1, 0.5))
        model.head_proj.copy_(torch.randn(model.head_proj.shape, dtype=torch.float64)
                              / math.sqrt(model.head_proj.shape[0]))


def round_model_(model, dtype):
    """Round every float parameter / buffer to the storage dtype (values kept in f64)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(round_tensor(t, dtype))


def round_tensor(t, dtype):
    tdt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    return t.detach().to(torch.float32).to(tdt).to(t.dtype)


# --------------------------------------------------------------------------------------
# tensor naming: (name, tensor, kind) with kind None | "T" (stored transposed) | "zeros"
# --------------------------------------------------------------------------------------

def _bn_items(p, bn, nbt):
    yield p + "weight", bn.weight, None
    yield p + "bias", bn.bias, None
    yield p + "running_mean", bn.running_mean, None
    yield p + "running_var", bn.running_var, None
    if nbt:
        yield p + "num_batches_tracked", bn.num_batches_tracked, None


def _convbn_items(p, cb, nbt):
    yield p + "conv.weight", cb.conv.weight, None
    yield from _bn_items(p + "bn.", cb.bn, nbt)


def _conv_items(p, conv):
    yield p + "weight", conv.weight, None
    if conv.bias is not None:
        yield p + "bias", conv.bias, None


def _se_items(p, se, apple_seblock):
    # Apple's own SEBlock (final conv) uses reduce/expand; timm SqueezeExcite uses fc1/fc2.
    n1, n2 = ("reduce", "expand") if apple_seblock else ("fc1", "fc2")
    yield from _conv_items(p + n1 + ".", se.fc1)
    yield from _conv_items(p + n2 + ".", se.fc2)


def _mobileone_items(p, m, apple, nbt):
    if m.reparam_conv is not None:
        yield from _conv_items(p + "reparam_conv.", m.reparam_conv)
    else:
        if m.conv_kxk is not None:
            for i, br in enumerate(m.conv_kxk):
                yield from _convbn_items(p + ("rbr_conv" if apple else "conv_kxk") + f".{i}.", br, nbt)
        if m.conv_scale is not None:
            yield from _convbn_items(p + ("rbr_scale." if apple else "conv_scale."), m.conv_scale, nbt)
        if m.identity is not None:
            yield from _bn_items(p + ("rbr_skip." if apple else "identity."), m.identity, nbt)
    if m.se is not None:
        yield from _se_items(p + "se.", m.se, apple_seblock=apple)


def _lk_items(p, m, apple, nbt):
    if m.reparam_conv is not None:
        yield from _conv_items(p + ("lkb_reparam." if apple else "reparam_conv."), m.reparam_conv)
    else:
        yield from _convbn_items(p + ("lkb_origin." if apple else "large_conv."), m.large_conv, nbt)
        yield from _convbn_items(p + "small_conv.", m.small_conv, nbt)
    if m.se is not None:
        # both Apple (replknet.py) and timm use timm's SqueezeExcite here -> fc1/fc2
        yield from _se_items(p + "se.", m.se, apple_seblock=False)


def _patch_embed_items(p, m, apple, nbt):
    yield from _lk_items(p + "proj.0.", m.proj[0], apple, nbt)
    yield from _mobileone_items(p + "proj.1.", m.proj[1], apple, nbt)


def _cpe_items(p, m, apple):
    if m.reparam_conv is not None:
        yield from _conv_items(p + "reparam_conv.", m.reparam_conv)
    else:
        yield from _conv_items(p + ("pe." if apple else "pos_enc."), m.pos_enc)


def _ls(name, apple):
    return name if apple else name + ".gamma"


def _ffn_items(p, m, nbt):
    yield from _convbn_items(p + "conv.", m.conv, nbt)
    yield from _conv_items(p + "fc1.", m.fc1)
    yield from _conv_items(p + "fc2.", m.fc2)


def _block_items(p, b, apple, nbt, bn_nbt):
    ffn = "convffn." if apple else "mlp."
    if isinstance(b, RepMixerBlock):
        tm = b.token_mixer
        if tm.reparam_conv is not None:
            yield from _conv_items(p + "token_mixer.reparam_conv.", tm.reparam_conv)
        else:
            yield from _mobileone_items(p + "token_mixer.norm.", tm.norm, apple, nbt)
            yield from _mobileone_items(p + "token_mixer.mixer.", tm.mixer, apple, nbt)
            yield p + "token_mixer." + _ls("layer_scale", apple), tm.layer_scale, None
        yield from _ffn_items(p + ffn, b.mlp, bn_nbt)
        yield p + _ls("layer_scale", apple), b.layer_scale, None
    else:
        if isinstance(b.norm, nn.BatchNorm2d):
            yield from _bn_items(p + "norm.", b.norm, bn_nbt)
        else:
            yield p + "norm.weight", b.norm.weight, None
            yield p + "norm.bias", b.norm.bias, None
        yield p + "token_mixer.qkv.weight", b.token_mixer.qkv.weight, None
        yield p + "token_mixer.proj.weight", b.token_mixer.proj.weight, None
        yield p + "token_mixer.proj.bias", b.token_mixer.proj.bias, None
        yield from _ffn_items(p + ffn, b.mlp, bn_nbt)
        yield p + _ls("layer_scale_1", apple), b.layer_scale_1, None
        yield p + _ls("layer_scale_2", apple), b.layer_scale_2, None


def apple_network_layout(n_stages, cpe):
    """Apple's flat `network` list: [cpe_i] stage_i [down_{i+1}] ... -> list of (kind, stage)."""
    out = []
    for i in range(n_stages):
        if cpe[i]:
            out.append(("cpe", i))
        out.append(("stage", i))
        if i < n_stages - 1:
            out.append(("down", i + 1))
    return out


def state_items(model, scheme, nbt=None):
    """Yield (name, tensor, kind) in checkpoint order for scheme timm|fastvlm|mobileclip.

    nbt: write BatchNorm num_batches_tracked (default: only in train form, where the
    real checkpoints have it)."""
    apple = scheme in ("fastvlm", "mobileclip")
    pre = PREFIX[scheme]
    train = not model.is_folded
    if nbt is None:
        nbt = train
    bn_nbt = nbt   # BNs that survive folding (ConvFFN BN, BN pre-attention norm)
    items = []
    stem_p = pre + ("patch_embed." if apple else "stem.")
    for i in range(3):
        items += list(_mobileone_items(stem_p + f"{i}.", model.stem[i], apple, nbt))
    if apple:
        for k, (kind, si) in enumerate(apple_network_layout(len(model.stages), model.cfg["cpe"])):
            st = model.stages[si]
            p = pre + f"network.{k}."
            if kind == "cpe":
                items += list(_cpe_items(p, st.pos_emb, apple))
            elif kind == "down":
                items += list(_patch_embed_items(p, st.downsample, apple, nbt))
            else:
                for j, b in enumerate(st.blocks):
                    items += list(_block_items(p + f"{j}.", b, apple, nbt, bn_nbt))
        items += list(_mobileone_items(pre + "conv_exp.", model.final_conv, apple, nbt))
        items.append((pre + "head.proj", model.head_proj, None))
    else:
        for si, st in enumerate(model.stages):
            p = pre + f"stages.{si}."
            if st.downsample is not None:
                items += list(_patch_embed_items(p + "downsample.", st.downsample, apple, nbt))
            if st.pos_emb is not None:
                items += list(_cpe_items(p + "pos_emb.", st.pos_emb, apple))
            for j, b in enumerate(st.blocks):
                items += list(_block_items(p + f"blocks.{j}.", b, apple, nbt, bn_nbt))
        items += list(_mobileone_items(pre + "final_conv.", model.final_conv, apple, nbt))
        items.append((pre + "head.fc.weight", model.head_proj, "T"))
        items.append((pre + "head.fc.bias", model.head_proj, "zeros"))
    names = [n for n, _, _ in items]
    assert len(names) == len(set(names)), "duplicate tensor names"
    return items


def item_value(t, kind):
    if kind == "T":
        return t.detach().t().contiguous()
    if kind == "zeros":
        return torch.zeros(t.shape[1], dtype=t.dtype)
    return t.detach()


# --------------------------------------------------------------------------------------
# safetensors (pure python writer / reader)
# --------------------------------------------------------------------------------------

def _encode(t, dtype):
    if t.dtype == torch.int64:
        return "I64", t.cpu().numpy().astype("<i8").tobytes()
    t32 = t.detach().to(torch.float32).contiguous().cpu()
    if dtype == "f32":
        return "F32", t32.numpy().astype("<f4").tobytes()
    if dtype == "f16":
        return "F16", t32.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "bf16":
        # torch rounds f32 -> bf16 to nearest even; keep the raw 16-bit pattern
        return "BF16", t32.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, named_tensors, dtype, metadata=None):
    header = {}
    blobs = []
    off = 0
    for name, t in named_tensors:
        st_dtype, raw = _encode(t, dtype)
        header[name] = {"dtype": st_dtype, "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    return 8 + len(hjson) + off


def read_safetensors(path):
    """Minimal reader -> (dict name -> (dtype, np.ndarray as float64/int64), metadata)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0, "header length not a multiple of 8"
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    data = buf[8 + n:]
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for a, b, k in spans:
        assert a == pos and b >= a, f"non-contiguous data for {k}"
        pos = b
    assert pos == len(data), "trailing / missing data bytes"
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        raw = data[a:b]
        shape = tuple(v["shape"])
        dt = v["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
            arr = (u16 << 16).view(np.float32).astype(np.float64)
        elif dt == "I64":
            arr = np.frombuffer(raw, dtype="<i8").astype(np.int64)
        else:
            raise ValueError(dt)
        assert arr.size == int(np.prod(shape)), f"size mismatch for {k}"
        out[k] = (dt, arr.reshape(shape))
    return out, meta


def verify_checkpoint(path, items):
    """Re-read the file and check every tensor equals the (already rounded) model value."""
    tensors, _ = read_safetensors(path)
    assert set(tensors.keys()) == set(n for n, _, _ in items) and len(tensors) == len(items)
    for name, t, kind in items:
        dt, arr = tensors[name]
        ref = item_value(t, kind)
        assert tuple(arr.shape) == tuple(ref.shape), (name, arr.shape, ref.shape)
        if dt == "I64":
            assert np.array_equal(arr, ref.numpy()), name
        else:
            refn = ref.to(torch.float64).numpy()
            if not np.array_equal(arr, refn):
                raise AssertionError(f"{name}: stored value differs from model value "
                                     f"(max {np.abs(arr - refn).max():.3g})")
    return len(tensors)


# --------------------------------------------------------------------------------------
# utilities
# --------------------------------------------------------------------------------------

def build(model_name, seed=0, init=True):
    m = FastViTRef(CONFIGS[model_name]).double()
    if init:
        init_weights(m, seed)
    return m.eval()


def count_params(folded_model, with_head=True):
    """Inference-form parameters: conv/linear weights+biases, BN/LN affine, layer scales,
    SE, head proj. BN running statistics are buffers and not counted."""
    n = sum(p.numel() for name, p in folded_model.named_parameters() if name != "head_proj")
    if with_head:
        n += folded_model.head_proj.numel()
    return n


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def tokens_of(fmap):
    """[1, C, h, w] -> [h*w, C], row-major over h then w."""
    _, c, h, w = fmap.shape
    return fmap[0].reshape(c, h * w).t().contiguous()


class _TokensWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        f = self.model.forward_features(x)
        c = f.shape[1]
        return f.reshape(c, -1).transpose(0, 1)


def export_onnx(folded_model, path, height, width, opset=14):
    """Export the inference-form model (float32) to ONNX: input [1,3,H,W] -> tokens [h*w, 2C]."""
    global FAST_F32
    m = copy.deepcopy(folded_model).float().eval()
    x = torch.rand(1, 3, height, width)
    saved, FAST_F32 = FAST_F32, False
    try:
        torch.onnx.export(_TokensWrapper(m), (x,), path, opset_version=opset,
                          input_names=["pixel_values"], output_names=["tokens"],
                          do_constant_folding=True)
    finally:
        FAST_F32 = saved
    return path


def print_params(models):
    ok = True
    for name in models:
        cfg = CONFIGS[name]
        m = FastViTRef(cfg).reparameterize()
        tot = count_params(m, True)
        noh = count_params(m, False)
        line = f"{name:10s} params (inference form, head incl.) {tot:>12,d} = {tot / 1e6:.2f} M" \
               f"   without head {noh:>12,d} = {noh / 1e6:.2f} M   spec {cfg['params_m']:.2f} M"
        print(line)
        if abs(round(tot / 1e6, 2) - cfg["params_m"]) > 1e-9:
            ok = False
            print(f"  MISMATCH for {name}", file=sys.stderr)
        if cfg["params_nohead_m"] is not None and \
                abs(round(noh / 1e6, 2) - cfg["params_nohead_m"]) > 1e-9:
            ok = False
            print(f"  MISMATCH (no head) for {name}", file=sys.stderr)
        del m
    assert ok, "parameter counts do not match the spec"


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def run(args):
    torch.set_num_threads(args.threads)
    if args.compute == "auto":
        # float64 where it is cheap; above ~320x320 the reference-BLAS float64 path takes
        # minutes, so use float32 (oneDNN), which agrees with float64 to ~1e-6 relative
        args.compute = "f64" if args.height * args.width <= 320 * 320 else "f32"
    cdt = torch.float64 if args.compute == "f64" else torch.float32
    t0 = time.time()

    model = build(args.model, args.seed)
    # train-form weights are stored (train form) or folded (inference form); either way the
    # train-form values are first made representable in the storage dtype.
    round_model_(model, args.dtype)
    model = model.to(cdt)

    gen = torch.Generator().manual_seed(args.seed + 1)
    x32 = torch.rand(1, 3, args.height, args.width, generator=gen, dtype=torch.float32)
    x = x32.to(cdt)
    t_build = time.time() - t0

    timings = {}
    with torch.no_grad():
        t = time.time()
        f_train, p_train = model(x)
        timings["train_fwd"] = time.time() - t

        folded = copy.deepcopy(model).reparameterize()
        f_exp, p_exp = f_train, p_train
        rel_f = rel_p = None
        if args.form == "inference":
            exact_round = args.dtype == "f32"
            if not exact_round:
                # check the fold before the (coarse) storage rounding
                t = time.time()
                f_inf, p_inf = folded(x)
                timings["inference_fwd_unrounded"] = time.time() - t
                rel_f, rel_p = rel_err(f_inf, f_train), rel_err(p_inf, p_train)
            round_model_(folded, args.dtype)
            t = time.time()
            f_exp, p_exp = folded(x)
            timings["inference_fwd"] = time.time() - t
            if exact_round:
                rel_f, rel_p = rel_err(f_exp, f_train), rel_err(p_exp, p_train)
            save_model = folded
        else:
            if not args.skip_check:
                t = time.time()
                f_inf, p_inf = folded(x)
                timings["inference_fwd"] = time.time() - t
                rel_f, rel_p = rel_err(f_inf, f_train), rel_err(p_inf, p_train)
            save_model = model
        if rel_f is not None:
            tol = 1e-4
            print(f"train vs inference form: feature rel err {rel_f:.3e}, pooled rel err {rel_p:.3e}")
            assert rel_f < tol and rel_p < tol, "re-parameterisation does not match train form"

    tok = tokens_of(f_exp)
    _, c2, gh, gw = f_exp.shape
    stats = dict(min=float(tok.min()), max=float(tok.max()), mean=float(tok.mean()),
                 std=float(tok.std()), pooled_absmax=float(p_exp.abs().max()))
    assert torch.isfinite(tok).all() and torch.isfinite(p_exp).all()

    if args.input:
        np.save(args.input, x32.numpy())
    if args.output:
        np.save(args.output, tok.to(torch.float32).numpy())
    if args.pooled:
        np.save(args.pooled, p_exp[0].to(torch.float32).numpy())

    if args.weights:
        nbt = None if args.num_batches_tracked == "auto" else (args.num_batches_tracked == "yes")
        items = state_items(save_model, args.scheme, nbt)
        meta = {"format": "pt", "generator": "vlmbench tests/torch/fastvit_ref.py",
                "model": args.model, "scheme": args.scheme, "form": args.form,
                "seed": args.seed, "dtype": args.dtype}
        t = time.time()
        nbytes = write_safetensors(args.weights, [(n, item_value(v, k)) for n, v, k in items],
                                   args.dtype, meta)
        ntens = verify_checkpoint(args.weights, items)
        timings["write_verify"] = time.time() - t
        print(f"wrote {args.weights}: {ntens} tensors, {nbytes} bytes ({args.scheme}/{args.form}/{args.dtype}), re-read OK")
        if args.list_names:
            for n, v, k in items:
                print(f"  {n} {list(item_value(v, k).shape)}")

    if args.onnx:
        try:
            export_onnx(save_model if save_model.is_folded else folded, args.onnx,
                        args.height, args.width)
            print(f"wrote {args.onnx}")
        except Exception as e:  # pragma: no cover - depends on the installed exporter
            print(f"ONNX export failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 2

    print(f"{args.model} {args.height}x{args.width}: grid {gh}x{gw} = {gh * gw} tokens x {c2}, "
          f"embed {p_exp.shape[1]}; tokens min {stats['min']:.4f} max {stats['max']:.4f} "
          f"mean {stats['mean']:.4f} std {stats['std']:.4f}; |pooled|max {stats['pooled_absmax']:.4f}")
    print("timings (s): build %.2f, " % t_build +
          ", ".join(f"{k} {v:.2f}" for k, v in timings.items()) +
          f", total {time.time() - t0:.2f} (compute {args.compute}, threads {args.threads})")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(CONFIGS))
    ap.add_argument("--scheme", choices=("timm", "fastvlm", "mobileclip"), default="timm",
                    help="checkpoint naming: timm names, FastVLM (LLaVA) Apple names with prefix "
                         "'model.vision_tower.vision_tower.model.', or MobileCLIP .pt Apple "
                         "names with prefix 'image_encoder.model.'")
    ap.add_argument("--form", choices=("inference", "train"), default="inference")
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=("f32", "bf16", "f16"), default="f32",
                    help="storage dtype of the checkpoint (expected outputs use the rounded values)")
    ap.add_argument("--compute", choices=("auto", "f64", "f32"), default="auto",
                    help="precision of the reference forward pass (auto: f64 up to 320x320 "
                         "pixels, f32 above)")
    ap.add_argument("--weights", help="output .safetensors")
    ap.add_argument("--input", help="output .npy of the input image [1,3,H,W] float32")
    ap.add_argument("--output", help="output .npy of the feature tokens [h*w, 2C] float32")
    ap.add_argument("--pooled", help="output .npy of the CLIP embedding [embed] float32")
    ap.add_argument("--onnx", help="export the inference-form model to this .onnx file")
    ap.add_argument("--params", action="store_true",
                    help="print inference-form parameter counts (all models unless --model)")
    ap.add_argument("--num-batches-tracked", choices=("auto", "yes", "no"), default="auto",
                    help="write BN num_batches_tracked (I64 scalar); auto = train form only")
    ap.add_argument("--skip-check", action="store_true",
                    help="train form: skip the folded-model forward used to check the fold")
    ap.add_argument("--list-names", action="store_true", help="print tensor names and shapes")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    if args.params:
        print_params([args.model] if args.model else ["fastvithd", "mci0", "mci1", "mci2"])
        if not (args.weights or args.output or args.input or args.pooled or args.onnx):
            return 0
    if not args.model:
        ap.error("--model is required")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
