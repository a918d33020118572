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
                                causal=False, act="gelu")}


def ln(x, w, b):
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5) * w + b


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, choices=sorted(CFGS))
    ap.add_argument("--scheme", default="openclip", choices=["openclip", "apple"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--input", required=True, help="writes the token ids here (.npy float32)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--ids", default=None,
                    help="embed these [R, ctx] token ids (.npy) instead of the seeded prompt")
    a = ap.parse_args()
    c = CFGS[a.model]
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
