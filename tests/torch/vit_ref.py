#!/usr/bin/python3
"""Independent PyTorch reference of the baseline vision encoders (spec models.md section 3).

    vit      OpenAI-CLIP-shaped ViT: patch conv (no bias), class token, learned position table
             (resized for other inputs with F.interpolate(bicubic, antialias=True,
             align_corners=False) on the grid part, class entry kept: open_clip
             resize_pos_embed), ln_pre, pre-LN blocks with QuickGELU, block `select` gives the
             VLM features (class token dropped), pooled = ln_post(cls) @ proj after all blocks.
    siglip   SigLIP-shaped ViT: patch conv with bias, no class token, tanh GELU, LN eps 1e-6,
             features after `select` blocks, pooled = MAP head(post_layernorm(all blocks)).
    siglip-anyres  the same over T tiles given as a batch [T, 3, S, S]; features of each tile
             concatenated.
    convnext ConvNeXt: stem conv 4x4 s4 + channel LN, stages (LN + conv 2x2 s2 between them),
             blocks x += gamma * fc2(GELU(fc1(LN(dw7x7 x)))), last block of the last stage
             dropped (ConvLLaVA select -2); features = last stage output, no final norm.

Everything is computed in float64 from the stored float32 weights. Names: --scheme openclip
(visual.*), hf (vision_model.* / HF ConvNext), timm (ConvNeXt). Run with /usr/bin/python3.

For bench/peers/compare.py: CFGS also holds the real towers (vit-b16, vit-l14-336, siglip,
convnext-l); Weights(seed, torch.float32) is the float32 mode (same draws, float32 compute);
Features(model, {name: float32 tensor}) replays stored weights through the same forward code
as an nn.Module (features [tokens, dim]), for PyTorch timing and ONNX export.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastvit_ref import write_safetensors  # noqa: E402  (same test folder)

CFGS = {
    # patch, width, layers, heads, mlp, native, select, embed
    "vit-tiny": dict(kind="vit", patch=8, width=64, layers=3, heads=4, mlp=256, native=32,
                     select=2, embed=32),
    "siglip-tiny": dict(kind="siglip", patch=8, width=48, layers=3, heads=3, mlp=136, native=32,
                        select=2, embed=48),
    "siglip-tiny-anyres": dict(kind="siglip", patch=8, width=48, layers=3, heads=3, mlp=136,
                               native=32, select=2, embed=48),
    "convnext-tiny": dict(kind="convnext", depth=[1, 2, 2], width=[16, 32, 48], drop_last=1),
    # the real towers (spec models.md section 3; the engine's vit.c / convnext.c tables), for
    # bench/peers/compare.py: seeded weights at full size, the same forward code
    "vit-b16": dict(kind="vit", patch=16, width=768, layers=12, heads=12, mlp=3072, native=224,
                    select=12, embed=512),
    "vit-l14-336": dict(kind="vit", patch=14, width=1024, layers=24, heads=16, mlp=4096,
                        native=336, select=23, embed=768),
    "siglip": dict(kind="siglip", patch=14, width=1152, layers=27, heads=16, mlp=4304,
                   native=384, select=26, embed=1152),
    "convnext-l": dict(kind="convnext", depth=[3, 3, 27, 3, 6], width=[192, 384, 768, 1536, 3072],
                       drop_last=1),
}


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def ln(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def mha(q_in, kv_in, wq, bq, wk, bk, wv, bv, wo, bo, heads):
    """q_in [T, nq, d], kv_in [T, n, d] -> [T, nq, d]."""
    T, nq, d = q_in.shape
    n = kv_in.shape[1]
    hd = d // heads
    q = (q_in @ wq.T + bq).view(T, nq, heads, hd).transpose(1, 2)
    k = (kv_in @ wk.T + bk).view(T, n, heads, hd).transpose(1, 2)
    v = (kv_in @ wv.T + bv).view(T, n, heads, hd).transpose(1, 2)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
    return a.transpose(1, 2).reshape(T, nq, d) @ wo.T + bo


class Weights:
    """Draws seeded weights in a fixed order and records them under checkpoint names."""

    def __init__(self, seed, dtype=torch.float64):
        self.g = torch.Generator().manual_seed(seed)
        self.items = []
        self.dtype = dtype  # compute precision of the returned tensors (float32 mode: float32)

    def draw(self, name, shape, kind="w"):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        if kind == "w":
            a = math.sqrt(3.0 / max(fan_in, 1))
            t = (torch.rand(shape, generator=self.g, dtype=torch.float64) * 2 - 1) * a
        elif kind == "norm":
            t = 0.8 + 0.4 * torch.rand(shape, generator=self.g, dtype=torch.float64)
        else:  # small biases, positions, class tokens
            t = (torch.rand(shape, generator=self.g, dtype=torch.float64) * 2 - 1) * 0.5
        t = t.to(torch.float32)
        self.items.append((name, t))
        return t.to(self.dtype)


def vit_forward(c, W, x, scheme, pooled):
    """x [T, 3, H, W] float64 -> (features [T*np, d], pooled [1, e] or None)."""
    siglip = c["kind"] == "siglip"
    hf = scheme == "hf"
    P = "vision_model." if hf else "visual."
    d, k, g0 = c["width"], c["patch"], c["native"] // c["patch"]
    name = (lambda oc, h: P + (h if hf else oc))
    wpe = W.draw(name("conv1.weight", "embeddings.patch_embedding.weight"), (d, 3, k, k))
    bpe = W.draw(name("", "embeddings.patch_embedding.bias"), (d,), "b") if siglip else None
    cls = None if siglip else W.draw(name("class_embedding", "embeddings.class_embedding"),
                                     (d,), "b")
    ntab = g0 * g0 + (0 if siglip else 1)
    pos = W.draw(name("positional_embedding", "embeddings.position_embedding.weight"),
                 (ntab, d), "b")
    eps = 1e-6 if siglip else 1e-5
    if not siglip:
        lpw = W.draw(name("ln_pre.weight", "pre_layrnorm.weight"), (d,), "norm")
        lpb = W.draw(name("ln_pre.bias", "pre_layrnorm.bias"), (d,), "b")
    T = x.shape[0]
    t = F.conv2d(x, wpe, bpe, stride=k)  # [T, d, gh, gw]
    gh, gw = t.shape[2], t.shape[3]
    t = t.flatten(2).transpose(1, 2)  # [T, np, d]
    grid = pos if siglip else pos[1:]
    if (gh, gw) != (g0, g0):
        img = grid.reshape(1, g0, g0, d).permute(0, 3, 1, 2)
        img = F.interpolate(img, size=(gh, gw), mode="bicubic", antialias=True,
                            align_corners=False)
        grid = img.permute(0, 2, 3, 1).reshape(gh * gw, d)
    t = t + grid
    if not siglip:
        t = torch.cat([(cls + pos[0]).expand(T, 1, d), t], dim=1)
        t = ln(t, lpw, lpb, eps)
    act = gelu_tanh if siglip else quick_gelu
    nblocks = c["layers"] if pooled else c["select"]
    feats = None
    for i in range(nblocks):
        if hf:
            L = P + f"encoder.layers.{i}."
            n1w = W.draw(L + "layer_norm1.weight", (d,), "norm")
            n1b = W.draw(L + "layer_norm1.bias", (d,), "b")
            qkv = []
            for m in "qkv":
                qkv.append(W.draw(L + f"self_attn.{m}_proj.weight", (d, d)))
                qkv.append(W.draw(L + f"self_attn.{m}_proj.bias", (d,), "b"))
            wo = W.draw(L + "self_attn.out_proj.weight", (d, d))
            bo = W.draw(L + "self_attn.out_proj.bias", (d,), "b")
            n2w = W.draw(L + "layer_norm2.weight", (d,), "norm")
            n2b = W.draw(L + "layer_norm2.bias", (d,), "b")
            w1 = W.draw(L + "mlp.fc1.weight", (c["mlp"], d))
            b1 = W.draw(L + "mlp.fc1.bias", (c["mlp"],), "b")
            w2 = W.draw(L + "mlp.fc2.weight", (d, c["mlp"]))
            b2 = W.draw(L + "mlp.fc2.bias", (d,), "b")
        else:
            L = P + f"transformer.resblocks.{i}."
            n1w = W.draw(L + "ln_1.weight", (d,), "norm")
            n1b = W.draw(L + "ln_1.bias", (d,), "b")
            win = W.draw(L + "attn.in_proj_weight", (3 * d, d))
            bin_ = W.draw(L + "attn.in_proj_bias", (3 * d,), "b")
            qkv = [win[:d], bin_[:d], win[d:2 * d], bin_[d:2 * d], win[2 * d:], bin_[2 * d:]]
            wo = W.draw(L + "attn.out_proj.weight", (d, d))
            bo = W.draw(L + "attn.out_proj.bias", (d,), "b")
            n2w = W.draw(L + "ln_2.weight", (d,), "norm")
            n2b = W.draw(L + "ln_2.bias", (d,), "b")
            w1 = W.draw(L + "mlp.c_fc.weight", (c["mlp"], d))
            b1 = W.draw(L + "mlp.c_fc.bias", (c["mlp"],), "b")
            w2 = W.draw(L + "mlp.c_proj.weight", (d, c["mlp"]))
            b2 = W.draw(L + "mlp.c_proj.bias", (d,), "b")
        h = ln(t, n1w, n1b, eps)
        t = t + mha(h, h, *qkv, wo, bo, c["heads"])
        t = t + act(ln(t, n2w, n2b, eps) @ w1.T + b1) @ w2.T + b2
        if i == c["select"] - 1:
            feats = (t if siglip else t[:, 1:]).reshape(-1, d).clone()
    if not pooled:
        return feats, None
    e = c["embed"]
    if not siglip:
        pw = W.draw(name("ln_post.weight", "post_layernorm.weight"), (d,), "norm")
        pb = W.draw(name("ln_post.bias", "post_layernorm.bias"), (d,), "b")
        proj = W.draw(P + "proj", (d, e))
        if pooled == "dense":  # the CLIP head on every patch token (zero-shot segmentation)
            return (ln(t[:, 1:], pw, pb, eps) @ proj).reshape(-1, e), None
        return feats, ln(t[:, 0], pw, pb, eps) @ proj
    pw = W.draw(P + "post_layernorm.weight", (d,), "norm")
    pb = W.draw(P + "post_layernorm.bias", (d,), "b")
    H = P + "head."
    probe = W.draw(H + "probe", (1, 1, d), "b")
    win = W.draw(H + "attention.in_proj_weight", (3 * d, d))
    bin_ = W.draw(H + "attention.in_proj_bias", (3 * d,), "b")
    wo = W.draw(H + "attention.out_proj.weight", (d, d))
    bo = W.draw(H + "attention.out_proj.bias", (d,), "b")
    lw = W.draw(H + "layernorm.weight", (d,), "norm")
    lb = W.draw(H + "layernorm.bias", (d,), "b")
    w1 = W.draw(H + "mlp.fc1.weight", (c["mlp"], d))
    b1 = W.draw(H + "mlp.fc1.bias", (c["mlp"],), "b")
    w2 = W.draw(H + "mlp.fc2.weight", (d, c["mlp"]))
    b2 = W.draw(H + "mlp.fc2.bias", (d,), "b")
    xs = ln(t, pw, pb, eps)
    y = mha(probe.expand(T, 1, d), xs, win[:d], bin_[:d], win[d:2 * d], bin_[d:2 * d],
            win[2 * d:], bin_[2 * d:], wo, bo, c["heads"])
    y = y + gelu_tanh(ln(y, lw, lb, eps) @ w1.T + b1) @ w2.T + b2
    return feats, y[:, 0]


def convnext_forward(c, W, x, scheme):
    hf = scheme == "hf"
    P = "convnext." if hf else ""

    def cl_ln(t, base, ch):  # channel LN of NCHW
        w = W.draw(base + ".weight", (ch,), "norm")
        b = W.draw(base + ".bias", (ch,), "b")
        return ln(t.permute(0, 2, 3, 1), w, b, 1e-6).permute(0, 3, 1, 2)

    w0 = c["width"][0]
    stem = P + ("embeddings.patch_embeddings" if hf else "stem.0")
    t = F.conv2d(x, W.draw(stem + ".weight", (w0, 3, 4, 4)), W.draw(stem + ".bias", (w0,), "b"),
                 stride=4)
    t = cl_ln(t, P + ("embeddings.layernorm" if hf else "stem.1"), w0)
    ns = len(c["depth"])
    for s in range(ns):
        d = c["width"][s]
        if s > 0:
            dpre = P + (f"encoder.stages.{s}.downsampling_layer." if hf else
                        f"stages.{s}.downsample.")
            t = cl_ln(t, dpre + "0", c["width"][s - 1])
            t = F.conv2d(t, W.draw(dpre + "1.weight", (d, c["width"][s - 1], 2, 2)),
                         W.draw(dpre + "1.bias", (d,), "b"), stride=2)
        run = c["depth"][s] - (c["drop_last"] if s == ns - 1 else 0)
        for j in range(c["depth"][s]):
            B = P + (f"encoder.stages.{s}.layers.{j}." if hf else f"stages.{s}.blocks.{j}.")
            nm = (lambda timm, h: B + (h if hf else timm))
            dw_w = W.draw(nm("conv_dw.weight", "dwconv.weight"), (d, 1, 7, 7))
            dw_b = W.draw(nm("conv_dw.bias", "dwconv.bias"), (d,), "b")
            nw = W.draw(nm("norm.weight", "layernorm.weight"), (d,), "norm")
            nb = W.draw(nm("norm.bias", "layernorm.bias"), (d,), "b")
            w1 = W.draw(nm("mlp.fc1.weight", "pwconv1.weight"), (4 * d, d))
            b1 = W.draw(nm("mlp.fc1.bias", "pwconv1.bias"), (4 * d,), "b")
            w2 = W.draw(nm("mlp.fc2.weight", "pwconv2.weight"), (d, 4 * d))
            b2 = W.draw(nm("mlp.fc2.bias", "pwconv2.bias"), (d,), "b")
            gm = W.draw(nm("gamma", "layer_scale_parameter"), (d,), "b")
            if j >= run:
                continue
            h = F.conv2d(t, dw_w, dw_b, padding=3, groups=d).permute(0, 2, 3, 1)
            h = F.gelu(ln(h, nw, nb, 1e-6) @ w1.T + b1) @ w2.T + b2
            t = t + (h * gm).permute(0, 3, 1, 2)
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]), None


# --------------------------------------------------------------------------------------
# replay: stored weights through the same forward code (bench/peers/compare.py's torch
# column and ONNX export)
# --------------------------------------------------------------------------------------

DEFAULT_SCHEME = {"vit": "openclip", "siglip": "hf", "convnext": "timm"}


class Replay:
    """Stands in for Weights: draw() returns the stored tensor of that name (shape-checked)."""

    def __init__(self, tensors):
        self.tensors = tensors
        self.used = set()

    def draw(self, name, shape, kind="w"):
        if name not in self.tensors:
            raise KeyError(f"missing tensor {name} (shape {list(shape)})")
        t = self.tensors[name]
        if tuple(t.shape) != tuple(shape):
            raise ValueError(f"tensor {name} has shape {list(t.shape)}, want {list(shape)}")
        self.used.add(name)
        return t


class Features(torch.nn.Module):
    """forward(x [T, 3, H, W]) -> the VLM features [tokens, dim] (vit_forward without the pooled
    head / convnext_forward), computed from a stored weights dict (checkpoint name -> tensor,
    kept as float32 buffers) in the dtype of x. For timing in PyTorch and for ONNX export."""

    def __init__(self, model, weights, scheme=None):
        super().__init__()
        self.cfg = CFGS[model]
        self.scheme = scheme or DEFAULT_SCHEME[self.cfg["kind"]]
        self.names = list(weights)
        for i, n in enumerate(self.names):  # buffer names may not contain dots
            self.register_buffer(f"w{i}", torch.as_tensor(weights[n]).to(torch.float32))
        self.unused = None  # checkpoint names the last forward did not read

    def forward(self, x):
        bufs = dict(self.named_buffers())
        W = Replay({n: bufs[f"w{i}"].to(x.dtype) for i, n in enumerate(self.names)})
        if self.cfg["kind"] == "convnext":
            feats, _ = convnext_forward(self.cfg, W, x, self.scheme)
        else:
            feats, _ = vit_forward(self.cfg, W, x, self.scheme, False)
        self.unused = sorted(set(self.names) - W.used)
        return feats


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, choices=sorted(CFGS))
    ap.add_argument("--scheme", default="openclip", choices=["openclip", "hf", "timm"])
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--tiles", type=int, default=1, help="anyres: images in the batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pooled", default=None, help="also write the pooled embedding (.npy)")
    ap.add_argument("--dense", action="store_true",
                    help="CLIP ViTs: --output gets the CLIP head applied to every patch token")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    c = CFGS[a.model]
    W = Weights(a.seed)
    gx = torch.Generator().manual_seed(a.seed + 1)
    x = torch.rand((a.tiles, 3, a.height, a.width), generator=gx, dtype=torch.float64) * 2 - 1
    x = x.to(torch.float32).to(torch.float64)
    with torch.no_grad():
        if c["kind"] == "convnext":
            feats, pooled = convnext_forward(c, W, x, a.scheme)
        else:
            feats, pooled = vit_forward(c, W, x, a.scheme,
                                        "dense" if a.dense else a.pooled is not None)
    write_safetensors(a.weights, W.items, "f32")
    np.save(a.input, x.numpy().astype(np.float32))
    np.save(a.output, np.ascontiguousarray(feats.numpy().astype(np.float32)))
    if a.pooled is not None and pooled is not None:
        np.save(a.pooled, np.ascontiguousarray(pooled.reshape(1, -1).numpy().astype(np.float32)))
    print(f"{a.model} {a.scheme} {a.height}x{a.width} tiles {a.tiles}: features "
          f"{tuple(feats.shape)}")


if __name__ == "__main__":
    main()
