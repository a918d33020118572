#!/usr/bin/python3
"""Independent PyTorch reference of the CLIP text towers (spec models.md sections 5.1, 5.2).

    x = token_embedding[ids] + positional_embedding          (no scaling)
    per block (pre-LN): x += out_proj(MHA(ln_1 x, causal mask or none)); x += c_proj(act(c_fc(ln_2 x)))
    y = ln_final(x)[argmax(ids)] @ text_projection            (the end-of-text position)

--causal 1 with QuickGELU is OpenAI CLIP; --causal 0 with exact GELU is MobileCLIP-S1/S2
(bidirectional, and no key-padding mask, so padding positions are attended to). Names:
--scheme openclip (`text.token_embedding.weight`, `text.transformer.resblocks.{i}.*`, ...) or
apple (`text_encoder.embedding_layer.weight`, `text_encoder.transformer.{i}.pre_norm_mha.*`,
positional table [1, 1, ctx, w]). float64 compute from the stored float32 weights.

MobileCLIP-S0 "mct" tower (configs text-tiny-mct, text-mct-s0; Apple names only, see
/work/notes/mct-spec.md): transformer.0 and transformer.{L+1} are RepMixerBlocks in TRAINING
form (BatchNorm branches with running stats, eps 1e-5), transformer.1..L are the layers above.
On [seq, w] (the [B, w, 1, seq] NCHW layout of the original), with dw = depthwise conv over the
sequence, kernel 11, zero padding 5, no bias, and BN(x) = (x - mean)/sqrt(var + 1e-5)*g + b:
    x += token_mixer.layer_scale * (mixer.rbr_skip(x) + mixer.rbr_conv.0.bn(dw(x))
                                    - norm.rbr_skip(x))
    x += layer_scale * fc2(gelu(fc1(convffn.conv.bn(dw(x)))))
--count prints the number of parameters the config would draw (no forward, no files).
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastvit_ref import write_safetensors  # noqa: E402

CFGS = {"text-tiny": dict(width=32, layers=2, heads=4, mlp=128, ctx=16, vocab=600, embed=32,
                          causal=True, act="quickgelu"),
        "text-tiny-bidir": dict(width=32, layers=2, heads=4, mlp=128, ctx=16, vocab=600, embed=32,
                                causal=False, act="gelu"),
        # MobileCLIP-S0 "mct" layout: RepMixerBlock + `layers` transformer layers + RepMixerBlock
        "text-tiny-mct": dict(width=32, layers=2, heads=4, mlp=128, ctx=16, vocab=600, embed=32,
                              causal=False, act="gelu", mct=True, kernel=11, mct_ratio=4),
        # real S0 sizes [mobileclip/configs/mobileclip_s0.json]; for --count only
        "text-mct-s0": dict(width=512, layers=4, heads=8, mlp=2048, ctx=77, vocab=49408,
                            embed=512, causal=False, act="gelu", mct=True, kernel=11,
                            mct_ratio=4, count_only=True)}
MCT_BN_EPS = 1e-5


def mct_block_names(B, d, k, hidden):
    """(name, shape, kind) of one training-form text RepMixerBlock, in module order."""
    out = []

    def bn(prefix):
        out.extend([(prefix + ".weight", (d,), "norm"), (prefix + ".bias", (d,), "small"),
                    (prefix + ".running_mean", (d,), "mean"),
                    (prefix + ".running_var", (d,), "var")])
    bn(B + "token_mixer.norm.rbr_skip")
    bn(B + "token_mixer.mixer.rbr_skip")
    out.append((B + "token_mixer.mixer.rbr_conv.0.conv.weight", (d, 1, 1, k), "w"))
    bn(B + "token_mixer.mixer.rbr_conv.0.bn")
    out.append((B + "token_mixer.layer_scale", (d, 1, 1), "ls"))
    out.append((B + "convffn.conv.conv.weight", (d, 1, 1, k), "w"))
    bn(B + "convffn.conv.bn")
    out.extend([(B + "convffn.fc1.weight", (hidden, d, 1, 1), "w"),
                (B + "convffn.fc1.bias", (hidden,), "b"),
                (B + "convffn.fc2.weight", (d, hidden, 1, 1), "w"),
                (B + "convffn.fc2.bias", (d,), "b"),
                (B + "layer_scale", (d, 1, 1), "ls")])
    return out


def mct_names(c):
    """(name, shape, kind) of the whole S0-style text tower, in module order."""
    P = "text_encoder."
    d, n, m, k = c["width"], c["ctx"], c["mlp"], c["kernel"]
    hidden = int(d * c["mct_ratio"])
    out = [(P + "embedding_layer.weight", (c["vocab"], d), "w"),
           (P + "positional_embedding.pos_embed.pos_embed", (1, 1, n, d), "b")]
    out += mct_block_names(P + "transformer.0.", d, k, hidden)
    for i in range(1, c["layers"] + 1):
        B = P + f"transformer.{i}."
        out += [(B + "pre_norm_mha.0.weight", (d,), "norm"), (B + "pre_norm_mha.0.bias", (d,), "b"),
                (B + "pre_norm_mha.1.qkv_proj.weight", (3 * d, d), "w"),
                (B + "pre_norm_mha.1.qkv_proj.bias", (3 * d,), "b"),
                (B + "pre_norm_mha.1.out_proj.weight", (d, d), "w"),
                (B + "pre_norm_mha.1.out_proj.bias", (d,), "b"),
                (B + "pre_norm_ffn.0.weight", (d,), "norm"), (B + "pre_norm_ffn.0.bias", (d,), "b"),
                (B + "pre_norm_ffn.1.weight", (m, d), "w"), (B + "pre_norm_ffn.1.bias", (m,), "b"),
                (B + "pre_norm_ffn.4.weight", (d, m), "w"), (B + "pre_norm_ffn.4.bias", (d,), "b")]
    out += mct_block_names(P + f"transformer.{c['layers'] + 1}.", d, k, hidden)
    out += [(P + "final_layer_norm.weight", (d,), "norm"), (P + "final_layer_norm.bias", (d,), "b"),
            (P + "projection_layer", (d, c["embed"]), "w")]
    return out


def mct_count(c):
    """Learnable parameters (BN running stats are buffers, counted apart) of the mct tower."""
    names = mct_names(c)
    params = sum(int(np.prod(s)) for nm, s, _ in names if not nm.endswith(("running_mean",
                                                                            "running_var")))
    buffers = sum(int(np.prod(s)) for nm, s, _ in names if nm.endswith(("running_mean",
                                                                        "running_var")))
    return params, buffers, len(names)


def mct_main(a, c, g):
    """Draw the mct tower (Apple names, training-form RepMixerBlocks) and run it in float64."""
    # the same seeded prompt as the other configs: start token, words, end token, zeros
    gi = torch.Generator().manual_seed(a.seed + 1)
    words = torch.randint(1, c["vocab"] - 2, (c["ctx"] // 2,), generator=gi)
    ids = torch.zeros(c["ctx"], dtype=torch.int64)
    ids[0] = c["vocab"] - 2
    ids[1:1 + len(words)] = words
    ids[1 + len(words)] = c["vocab"] - 1
    items = []
    W = {}
    for name, shape, kind in mct_names(c):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        u = torch.rand(shape, generator=g, dtype=torch.float64)
        t = {"w": (u * 2 - 1) * math.sqrt(3 / fan_in), "norm": 0.8 + 0.4 * u,
             "b": (u * 2 - 1) * 0.5, "small": (u * 2 - 1) * 0.1, "mean": (u * 2 - 1) * 0.05,
             "var": 0.8 + 0.4 * u, "ls": 0.05 + 0.1 * u}[kind].to(torch.float32)
        items.append((name, t))
        W[name[len("text_encoder."):]] = t.to(torch.float64)
    d, n, k, h = c["width"], c["ctx"], c["kernel"], c["heads"]
    hd = d // h

    def bn(x, p):  # x [n, d], per-channel running-stat BatchNorm (eval mode)
        return (x - W[p + ".running_mean"]) / torch.sqrt(W[p + ".running_var"] + MCT_BN_EPS) * \
            W[p + ".weight"] + W[p + ".bias"]

    def dw(x, wname):  # depthwise conv along the sequence, kernel k, zero padding k // 2
        w = W[wname].reshape(d, k)
        xp = torch.nn.functional.pad(x.T, (k // 2, k // 2))          # [d, n + k - 1]
        return torch.stack([(xp[:, t:t + k] * w).sum(-1) for t in range(n)])   # [n, d]

    def repmixer_block(x, B):
        mixer = bn(x, B + "token_mixer.mixer.rbr_skip") + \
            bn(dw(x, B + "token_mixer.mixer.rbr_conv.0.conv.weight"),
               B + "token_mixer.mixer.rbr_conv.0.bn")
        x = x + W[B + "token_mixer.layer_scale"].reshape(d) * \
            (mixer - bn(x, B + "token_mixer.norm.rbr_skip"))
        f = bn(dw(x, B + "convffn.conv.conv.weight"), B + "convffn.conv.bn")
        f = f @ W[B + "convffn.fc1.weight"].flatten(1).T + W[B + "convffn.fc1.bias"]
        f = torch.nn.functional.gelu(f)
        f = f @ W[B + "convffn.fc2.weight"].flatten(1).T + W[B + "convffn.fc2.bias"]
        return x + W[B + "layer_scale"].reshape(d) * f

    def transformer_layer(x, B):
        hh = ln(x, W[B + "pre_norm_mha.0.weight"], W[B + "pre_norm_mha.0.bias"])
        q, kk, v = (hh @ W[B + "pre_norm_mha.1.qkv_proj.weight"].T +
                    W[B + "pre_norm_mha.1.qkv_proj.bias"]).split(d, dim=-1)
        q, kk, v = (t.view(n, h, hd).transpose(0, 1) for t in (q, kk, v))
        o = torch.softmax(q @ kk.transpose(-1, -2) / math.sqrt(hd), -1) @ v   # no mask at all
        x = x + o.transpose(0, 1).reshape(n, d) @ W[B + "pre_norm_mha.1.out_proj.weight"].T + \
            W[B + "pre_norm_mha.1.out_proj.bias"]
        f = ln(x, W[B + "pre_norm_ffn.0.weight"], W[B + "pre_norm_ffn.0.bias"])
        f = torch.nn.functional.gelu(f @ W[B + "pre_norm_ffn.1.weight"].T +
                                     W[B + "pre_norm_ffn.1.bias"])
        return x + f @ W[B + "pre_norm_ffn.4.weight"].T + W[B + "pre_norm_ffn.4.bias"]

    def forward(ids):
        x = W["embedding_layer.weight"][ids] + \
            W["positional_embedding.pos_embed.pos_embed"].reshape(n, d)
        x = repmixer_block(x, "transformer.0.")
        for i in range(1, c["layers"] + 1):
            x = transformer_layer(x, f"transformer.{i}.")
        x = repmixer_block(x, f"transformer.{c['layers'] + 1}.")
        x = ln(x, W["final_layer_norm.weight"], W["final_layer_norm.bias"])
        return x[ids.argmax()] @ W["projection_layer"]

    if a.ids is not None:
        rows = torch.from_numpy(np.load(a.ids).astype(np.int64))
        y = torch.stack([forward(r) for r in rows])
    else:
        y = forward(ids).reshape(1, -1)
    write_safetensors(a.weights, items, "f32")
    np.save(a.input, ids.numpy().astype(np.float32))
    np.save(a.output, np.ascontiguousarray(y.numpy().astype(np.float32)))


def ln(x, w, b):
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5) * w + b


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, choices=sorted(CFGS))
    ap.add_argument("--scheme", default=None, choices=["openclip", "apple"],
                    help="name scheme (default openclip; the mct configs are apple only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights")
    ap.add_argument("--input", help="writes the token ids here (.npy float32)")
    ap.add_argument("--output")
    ap.add_argument("--ids", default=None,
                    help="embed these [R, ctx] token ids (.npy) instead of the seeded prompt")
    ap.add_argument("--count", action="store_true",
                    help="mct configs: print the parameter count and exit (no forward, no files)")
    a = ap.parse_args()
    c = CFGS[a.model]
    if a.count:
        if not c.get("mct"):
            ap.error("--count is only available for the mct configs")
        params, buffers, tensors = mct_count(c)
        print(f"{a.model}: {params} parameters ({params / 1e6:.2f} M), {buffers} BatchNorm "
              f"running-stat values, {tensors} tensors")
        return
    missing = [o for o in ("weights", "input", "output") if getattr(a, o) is None]
    if missing:
        ap.error("the following arguments are required: " +
                 ", ".join("--" + o for o in missing))
    if c.get("count_only"):
        ap.error(f"{a.model} is for --count only")
    if a.scheme is None:
        a.scheme = "apple" if c.get("mct") else "openclip"
    if c.get("mct") and a.scheme != "apple":
        ap.error(f"{a.model} has Apple names only (--scheme apple)")
    g = torch.Generator().manual_seed(a.seed)
    items = []

    def draw(name, shape, kind="w"):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        if kind == "w":
            t = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * math.sqrt(3 / fan_in)
        elif kind == "norm":
            t = 0.8 + 0.4 * torch.rand(shape, generator=g, dtype=torch.float64)
        else:
            t = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * 0.5
        t = t.to(torch.float32)
        items.append((name, t))
        return t.to(torch.float64)

    if c.get("mct"):
        return mct_main(a, c, g)
    apple = a.scheme == "apple"
    P = "text_encoder." if apple else "text."
    d, n, m = c["width"], c["ctx"], c["mlp"]
    emb = draw(P + ("embedding_layer.weight" if apple else "token_embedding.weight"),
               (c["vocab"], d))
    pos = draw(P + ("positional_embedding.pos_embed.pos_embed" if apple
                    else "positional_embedding"), (1, 1, n, d) if apple else (n, d), "b")
    pos = pos.reshape(n, d)
    # a prompt: start token (vocab - 2), words, end token (vocab - 1, the largest), zeros
    gi = torch.Generator().manual_seed(a.seed + 1)
    words = torch.randint(1, c["vocab"] - 2, (n // 2,), generator=gi)
    ids = torch.zeros(n, dtype=torch.int64)
    ids[0] = c["vocab"] - 2
    ids[1:1 + len(words)] = words
    ids[1 + len(words)] = c["vocab"] - 1
    layers = []
    hd = d // c["heads"]
    act = (lambda t: t * torch.sigmoid(1.702 * t)) if c["act"] == "quickgelu" else \
        torch.nn.functional.gelu
    for i in range(c["layers"]):
        if apple:
            B = P + f"transformer.{i}."
            nm = {"ln_1": "pre_norm_mha.0", "qkv": "pre_norm_mha.1.qkv_proj",
                  "out": "pre_norm_mha.1.out_proj", "ln_2": "pre_norm_ffn.0",
                  "fc": "pre_norm_ffn.1", "proj": "pre_norm_ffn.4"}
        else:
            B = P + f"transformer.resblocks.{i}."
            nm = {"ln_1": "ln_1", "qkv": "attn.in_proj", "out": "attn.out_proj", "ln_2": "ln_2",
                  "fc": "mlp.c_fc", "proj": "mlp.c_proj"}
        sep = "." if apple else "_"
        L = {}
        L["l1w"], L["l1b"] = draw(B + nm["ln_1"] + ".weight", (d,), "norm"), draw(B + nm["ln_1"] + ".bias", (d,), "b")
        L["wqkv"] = draw(B + nm["qkv"] + sep + "weight", (3 * d, d))
        L["bqkv"] = draw(B + nm["qkv"] + sep + "bias", (3 * d,), "b")
        L["wo"], L["bo"] = draw(B + nm["out"] + ".weight", (d, d)), draw(B + nm["out"] + ".bias", (d,), "b")
        L["l2w"], L["l2b"] = draw(B + nm["ln_2"] + ".weight", (d,), "norm"), draw(B + nm["ln_2"] + ".bias", (d,), "b")
        L["w1"], L["b1"] = draw(B + nm["fc"] + ".weight", (m, d)), draw(B + nm["fc"] + ".bias", (m,), "b")
        L["w2"], L["b2"] = draw(B + nm["proj"] + ".weight", (d, m)), draw(B + nm["proj"] + ".bias", (d,), "b")
        layers.append(L)
    fw = draw(P + ("final_layer_norm.weight" if apple else "ln_final.weight"), (d,), "norm")
    fb = draw(P + ("final_layer_norm.bias" if apple else "ln_final.bias"), (d,), "b")
    proj = draw(P + ("projection_layer" if apple else "text_projection"), (d, c["embed"]))
    mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1) if c["causal"] else None

    def forward(ids):
        x = emb[ids] + pos
        for L in layers:
            h = ln(x, L["l1w"], L["l1b"])
            q, k, v = (h @ L["wqkv"].T + L["bqkv"]).split(d, dim=-1)
            q, k, v = (t.view(n, c["heads"], hd).transpose(0, 1) for t in (q, k, v))
            s = q @ k.transpose(-1, -2) / math.sqrt(hd)
            if mask is not None:
                s = s + mask
            o = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(n, d)
            x = x + o @ L["wo"].T + L["bo"]
            x = x + act(ln(x, L["l2w"], L["l2b"]) @ L["w1"].T + L["b1"]) @ L["w2"].T + L["b2"]
        return ln(x, fw, fb)[ids.argmax()] @ proj

    if a.ids is not None:
        rows = torch.from_numpy(np.load(a.ids).astype(np.int64))
        y = torch.stack([forward(r) for r in rows])
    else:
        y = forward(ids).reshape(1, -1)
    write_safetensors(a.weights, items, "f32")
    np.save(a.input, ids.numpy().astype(np.float32))
    np.save(a.output, np.ascontiguousarray(y.numpy().astype(np.float32)))


if __name__ == "__main__":
    main()
