#!/usr/bin/python3
"""Independent PyTorch reference of the decoder-only LLM prefill used by FastVLM.

    Qwen2   (q/k/v biases, GQA, RoPE theta 1e6, RMSNorm eps 1e-6, SwiGLU, tied or untied head)
    Vicuna  (= Llama-2 layout: no biases, MHA, RoPE theta 1e4, RMSNorm eps 1e-5, untied head)

Written from /work/shared/spec/models.md section 6 and checked by reading HF transformers'
`models/qwen2/modeling_qwen2.py` and `models/llama/modeling_llama.py` (nothing copied; only
the math and the tensor names are reproduced):

  x0  = embed_tokens[ids]                 (or inputs_embeds given directly: FastVLM image tokens)
  per layer:
    h   = RMSNorm(x; input_layernorm)     RMSNorm(x; w) = x * rsqrt(mean(x^2) + eps) * w
    q,k,v = h @ W^T (+ b)                 q [N, H, hd], k/v [N, KV, hd]; biases only for Qwen2
    q,k = RoPE(q), RoPE(k)                "rotate_half" layout: dim i pairs with i + hd/2,
                                          x' = x*cos + cat(-x2, x1)*sin, positions 0..N-1,
                                          angle[p, i] = p * inv_freq_i, inv_freq_i = theta^(-2i/hd)
    head j of q uses kv head j // (H/KV)  (HF repeat_kv)
    A   = softmax(q k^T * hd^-0.5 + causal mask) v ;  x = x + o_proj(A)   (o_proj: no bias)
    h   = RMSNorm(x; post_attention_layernorm)
    x   = x + down(silu(gate(h)) * up(h))                             (MLP: no biases)
  logits = lm_head(RMSNorm(x; norm)[N-1])  lm_head = embed_tokens when tied (--tie 1)

Numerics of the expected output: everything in float64 from the exact weight values stored in
the checkpoint (i.e. after rounding to the storage dtype). HF itself computes RMSNorm and the
softmax in float32 even for a float64 model; here they are float64.
RoPE (--rope hf, the default) follows HF bit for bit up to the angle: inv_freq is computed in
float32 exactly as HF does (1 / theta ** (arange(0, hd, 2).float() / hd)) and the angle
p * inv_freq is rounded to float32 as HF's float32 matmul does; cos/sin of that angle are then
evaluated in float64 (HF: float32, <= 1 ulp f32 apart). --rope exact uses float64 throughout.

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 tests/torch/qwen2_ref.py ...

Checkpoint (HF names, `--prefix` replaces `model.`; [out, in] as nn.Linear stores them):
  model.embed_tokens.weight                              [V, D]
  model.layers.{i}.input_layernorm.weight                [D]
  model.layers.{i}.self_attn.q_proj.weight               [H*hd, D]   (.bias [H*hd]  if --qkv-bias 1)
  model.layers.{i}.self_attn.k_proj.weight               [KV*hd, D]  (.bias [KV*hd] if --qkv-bias 1)
  model.layers.{i}.self_attn.v_proj.weight               [KV*hd, D]  (.bias [KV*hd] if --qkv-bias 1)
  model.layers.{i}.self_attn.o_proj.weight               [D, H*hd]
  model.layers.{i}.post_attention_layernorm.weight       [D]
  model.layers.{i}.mlp.gate_proj.weight                  [I, D]
  model.layers.{i}.mlp.up_proj.weight                    [I, D]
  model.layers.{i}.mlp.down_proj.weight                  [D, I]
  model.norm.weight                                      [D]
  lm_head.weight                                         [V, D]      (only if --tie 0; --lm-head renames)
--shards K > 1 writes model-0000k-of-0000K.safetensors next to the index file named by
--weights, and the index {"metadata": {"total_size": data bytes}, "weight_map": {name: file}}
as HF's save_pretrained writes it (json indent 2, sorted keys, trailing newline).

Weights are drawn in that order from torch.Generator().manual_seed(--seed), so they depend on
every dim and on --qkv-bias/--tie; the inputs come from a second generator (seed + 1), so the
ids and the embeds runs of one config share the same weights.

Outputs:
  --ids      the seeded token ids [N] as float32 .npy (ids < 2^24 are exact)
  --embeds   instead of ids: seeded inputs_embeds [N, D] float32 .npy (std 0.5), fed directly
  --logits   last-position logits [V] float32 .npy (computed in float64)
  --onnx     fp32 ONNX model: inputs_embeds [1, N, D] -> logits [1, V] (opset 14, fixed N)
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

# --------------------------------------------------------------------------------------
# configurations
# --------------------------------------------------------------------------------------

KEYS = ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab",
        "theta", "eps", "qkv_bias", "tie")

PRESETS = {
    "qwen2-0.5b": dict(hidden=896, layers=24, heads=14, kv_heads=2, head_dim=64,
                       intermediate=4864, vocab=151936, theta=1e6, eps=1e-6, qkv_bias=1, tie=1),
    "qwen2-1.5b": dict(hidden=1536, layers=28, heads=12, kv_heads=2, head_dim=128,
                       intermediate=8960, vocab=151936, theta=1e6, eps=1e-6, qkv_bias=1, tie=1),
    "qwen2-7b": dict(hidden=3584, layers=28, heads=28, kv_heads=4, head_dim=128,
                     intermediate=18944, vocab=152064, theta=1e6, eps=1e-6, qkv_bias=1, tie=0),
    "vicuna-7b": dict(hidden=4096, layers=32, heads=32, kv_heads=32, head_dim=128,
                      intermediate=11008, vocab=32000, theta=1e4, eps=1e-5, qkv_bias=0, tie=0),
    "tiny-qwen2": dict(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16,
                       intermediate=160, vocab=1000, theta=1e6, eps=1e-6, qkv_bias=1, tie=1),
    "tiny-vicuna": dict(hidden=64, layers=2, heads=4, kv_heads=4, head_dim=16,
                        intermediate=172, vocab=500, theta=1e4, eps=1e-5, qkv_bias=0, tie=0),
}
REAL_PRESETS = ("qwen2-0.5b", "qwen2-1.5b", "qwen2-7b", "vicuna-7b")

# shared/spec/models.md section 6: total params in B (3 decimals, base-model tying) and
# non-embedding params in M (1 decimal; excludes embed_tokens and an untied lm_head)
SPEC_PARAMS = {
    "qwen2-0.5b": (0.494, 357.9),
    "qwen2-1.5b": (1.544, 1310.3),
    "qwen2-7b": (7.616, 6525.6),
    "vicuna-7b": (6.738, 6476.3),
}

# building float64 weights needs 8 bytes / parameter (+ the checkpoint bytes): refuse above this
MAX_BUILD_PARAMS = 1_200_000_000
# the naive loop self-check runs automatically below this size
SELF_CHECK_MAX_PARAMS = 3_000_000
SELF_CHECK_MAX_TOKENS = 128
SELF_CHECK_TOL = 1e-10


def model_type(cfg):
    return "qwen2" if cfg["qkv_bias"] else "llama"


def validate_cfg(cfg):
    for k in KEYS:
        if cfg.get(k) is None:
            raise ValueError(f"--{k.replace('_', '-')} is required (or use --preset)")
    if cfg["heads"] % cfg["kv_heads"]:
        raise ValueError(f"heads {cfg['heads']} not a multiple of kv-heads {cfg['kv_heads']}")
    if cfg["head_dim"] % 2:
        raise ValueError("head-dim must be even (RoPE pairs dims i and i + hd/2)")
    for k in ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
        if cfg[k] <= 0:
            raise ValueError(f"{k} must be > 0")
    if cfg["qkv_bias"] not in (0, 1) or cfg["tie"] not in (0, 1):
        raise ValueError("--qkv-bias and --tie take 0 or 1")


# --------------------------------------------------------------------------------------
# tensor table (shape only): drives parameter counts, weight generation and the checkpoint
# --------------------------------------------------------------------------------------

def tensor_table(cfg):
    """[(canonical name, shape, init kind, fan_in)], canonical names without the `model.`
    prefix except 'lm_head.weight'. Order = generation order = checkpoint order."""
    D, H, KV, hd, I, V = (cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"],
                          cfg["intermediate"], cfg["vocab"])
    t = [("embed_tokens.weight", (V, D), "embed", None)]
    for i in range(cfg["layers"]):
        p = f"layers.{i}."
        t.append((p + "input_layernorm.weight", (D,), "norm", None))
        for proj, out in (("q_proj", H * hd), ("k_proj", KV * hd), ("v_proj", KV * hd)):
            t.append((p + f"self_attn.{proj}.weight", (out, D), "linear", D))
            if cfg["qkv_bias"]:
                t.append((p + f"self_attn.{proj}.bias", (out,), "bias", None))
        t.append((p + "self_attn.o_proj.weight", (D, H * hd), "linear", H * hd))
        t.append((p + "post_attention_layernorm.weight", (D,), "norm", None))
        t.append((p + "mlp.gate_proj.weight", (I, D), "linear", D))
        t.append((p + "mlp.up_proj.weight", (I, D), "linear", D))
        t.append((p + "mlp.down_proj.weight", (D, I), "linear", I))
    t.append(("norm.weight", (D,), "norm", None))
    if not cfg["tie"]:
        t.append(("lm_head.weight", (V, D), "linear", D))
    return t


def ckpt_name(name, prefix, lm_head="lm_head.weight"):
    return lm_head if name == "lm_head.weight" else prefix + name


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def param_counts(cfg):
    """(total, non-embedding, embedding-like). Non-embedding excludes embed_tokens and an
    untied lm_head (the spec's convention)."""
    total = sum(numel(s) for _, s, _, _ in tensor_table(cfg))
    emb = cfg["vocab"] * cfg["hidden"] * (1 if cfg["tie"] else 2)
    return total, total - emb, emb


def print_param_counts(name, cfg, check):
    total, nonemb, emb = param_counts(cfg)
    tot_s = f"{total / 1e9:.3f} B" if total >= 1e8 else f"{total / 1e6:.3f} M"
    line = (f"{name:12s} params {total:>14,d} = {tot_s}   non-embedding "
            f"{nonemb:>14,d} = {nonemb / 1e6:.1f} M   ({'tied' if cfg['tie'] else 'untied'} "
            f"lm_head; embedding params {emb:,d})")
    ok = True
    if check and name in SPEC_PARAMS:
        sb, sm = SPEC_PARAMS[name]
        ok = round(total / 1e9, 3) == sb and round(nonemb / 1e6, 1) == sm
        line += f"   spec {sb:.3f} B / {sm:.1f} M: {'OK' if ok else 'MISMATCH'}"
    print(line)
    return ok


# --------------------------------------------------------------------------------------
# seeded weights and inputs
# --------------------------------------------------------------------------------------

def round_to(t, dtype):
    """Round float64 values to the storage dtype (values kept in float64)."""
    t32 = t.to(torch.float32)
    if dtype == "bf16":
        t32 = t32.to(torch.bfloat16).to(torch.float32)
    return t32.to(torch.float64)


def make_weights(cfg, seed, dtype):
    """Seeded weights, float64 tensors holding values exactly representable in `dtype`.
      embed_tokens N(0,1)*0.5; norm weights U(0.8,1.2); q/k/v biases U(-0.1,0.1);
      linear weights (incl. untied lm_head) U(-a, a), a = sqrt(3/fan_in) (unit variance out
      for a unit-RMS input): attention scores O(1), logits O(1) (tied: ~0.5*sqrt(D))."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    W = {}
    for name, shape, kind, fan_in in tensor_table(cfg):
        if kind == "embed":
            t = torch.randn(shape, generator=g, dtype=torch.float64) * 0.5
        elif kind == "norm":
            t = 0.8 + 0.4 * torch.rand(shape, generator=g, dtype=torch.float64)
        elif kind == "bias":
            t = -0.1 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float64)
        else:
            a = math.sqrt(3.0 / fan_in)
            t = (2.0 * torch.rand(shape, generator=g, dtype=torch.float64) - 1.0) * a
        W[name] = round_to(t, dtype)
    return W


def make_inputs(cfg, seed, n_tokens, embeds):
    """Seeded inputs from a generator independent of the weights' (same weights either way).
    Returns (ids LongTensor [N] or None, inputs_embeds float32 tensor [N, D] or None)."""
    g = torch.Generator().manual_seed(seed + 1)
    if embeds:
        e = torch.randn(n_tokens, cfg["hidden"], generator=g, dtype=torch.float64) * 0.5
        return None, e.to(torch.float32)
    return torch.randint(0, cfg["vocab"], (n_tokens,), generator=g, dtype=torch.int64), None


# --------------------------------------------------------------------------------------
# RoPE
# --------------------------------------------------------------------------------------

def hf_inv_freq_f32(theta, head_dim):
    """inv_freq exactly as HF computes it (default rope type): float32."""
    return 1.0 / (float(theta) ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float()
                                   / head_dim))


def rope_angles(cfg, n_tokens, mode):
    """angle[p, i] for positions 0..N-1 and pairs i < hd/2, as float64 [N, hd/2]."""
    hd = cfg["head_dim"]
    if mode == "hf":
        inv = hf_inv_freq_f32(cfg["theta"], hd)                       # [hd/2] f32
        pos = torch.arange(n_tokens, dtype=torch.int64)[None, None, :].float()
        freqs = (inv[None, :, None].float() @ pos).transpose(1, 2)[0]  # f32, as HF
        return freqs.to(torch.float64)
    inv = 1.0 / (float(cfg["theta"]) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    return torch.arange(n_tokens, dtype=torch.float64)[:, None] * inv[None, :]


def rope_cos_sin(cfg, n_tokens, mode):
    """HF layout tables [N, hd]: emb = cat(freqs, freqs)."""
    ang = rope_angles(cfg, n_tokens, mode)
    emb = torch.cat((ang, ang), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


# --------------------------------------------------------------------------------------
# main implementation (vectorised, float64)
# --------------------------------------------------------------------------------------

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def forward(W, cfg, x0, rope="hf"):
    """x0: inputs_embeds [N, D] float64. Returns (final normed hidden [N, D], logits [V])."""
    N, D = x0.shape
    H, KV, hd, eps = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["eps"]
    rep = H // KV
    cos, sin = rope_cos_sin(cfg, N, rope)                             # [N, hd]
    mask = torch.triu(torch.full((N, N), float("-inf"), dtype=torch.float64), diagonal=1)
    scale = hd ** -0.5

    def lin(x, name, bias=False):
        y = x @ W[name + ".weight"].t()
        if bias:
            y = y + W[name + ".bias"]
        return y

    x = x0
    for i in range(cfg["layers"]):
        p = f"layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        b = bool(cfg["qkv_bias"])
        q = lin(h, p + "self_attn.q_proj", b).view(N, H, hd).transpose(0, 1)   # [H, N, hd]
        k = lin(h, p + "self_attn.k_proj", b).view(N, KV, hd).transpose(0, 1)  # [KV, N, hd]
        v = lin(h, p + "self_attn.v_proj", b).view(N, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k[:, None].expand(KV, rep, N, hd).reshape(H, N, hd)   # head j <- kv head j // rep
        v = v[:, None].expand(KV, rep, N, hd).reshape(H, N, hd)
        s = (q @ k.transpose(1, 2)) * scale + mask
        a = torch.softmax(s, dim=-1) @ v                                        # [H, N, hd]
        x = x + lin(a.transpose(0, 1).reshape(N, H * hd), p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = lin(h, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(gate) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    hn = rms_norm(x, W["norm.weight"], eps)
    head = W["embed_tokens.weight"] if cfg["tie"] else W["lm_head.weight"]
    return hn, head @ hn[N - 1]


def embed_ids(W, ids):
    return W["embed_tokens.weight"][ids]


# --------------------------------------------------------------------------------------
# second, independently written implementation: numpy, explicit per-head / per-position loops
# --------------------------------------------------------------------------------------

def forward_naive(W, cfg, x0, rope="hf"):
    Wn = {k: v.numpy() for k, v in W.items()}
    x = np.array(x0.numpy(), dtype=np.float64)
    N, D = x.shape
    H, KV, hd, eps = cfg["heads"], cfg["kv_heads"], cfg["head_dim"], float(cfg["eps"])
    half = hd // 2
    group = H // KV

    # angles: own derivation (exact) or HF's float32 inv_freq table with a float32 product
    ang = np.zeros((N, half))
    if rope == "hf":
        inv32 = hf_inv_freq_f32(cfg["theta"], hd).numpy().astype(np.float32)
        for pos in range(N):
            for i in range(half):
                ang[pos, i] = float(np.float32(pos) * inv32[i])
    else:
        for pos in range(N):
            for i in range(half):
                ang[pos, i] = pos * math.pow(float(cfg["theta"]), -2.0 * i / hd)

    def norm(vec, w):
        ss = 0.0
        for val in vec:
            ss += val * val
        r = 1.0 / math.sqrt(ss / len(vec) + eps)
        return np.array([vec[j] * r * w[j] for j in range(len(vec))])

    def rot(vec, pos):
        out = np.empty(hd)
        for i in range(half):
            c, s = math.cos(ang[pos, i]), math.sin(ang[pos, i])
            a, b = vec[i], vec[i + half]
            out[i] = a * c - b * s
            out[i + half] = b * c + a * s
        return out

    for layer in range(cfg["layers"]):
        p = f"layers.{layer}."
        qs = np.zeros((N, H, hd))
        ks = np.zeros((N, KV, hd))
        vs = np.zeros((N, KV, hd))
        for t in range(N):
            h = norm(x[t], Wn[p + "input_layernorm.weight"])
            q = Wn[p + "self_attn.q_proj.weight"].dot(h)
            k = Wn[p + "self_attn.k_proj.weight"].dot(h)
            v = Wn[p + "self_attn.v_proj.weight"].dot(h)
            if cfg["qkv_bias"]:
                q = q + Wn[p + "self_attn.q_proj.bias"]
                k = k + Wn[p + "self_attn.k_proj.bias"]
                v = v + Wn[p + "self_attn.v_proj.bias"]
            for hh in range(H):
                qs[t, hh] = rot(q[hh * hd:(hh + 1) * hd], t)
            for kh in range(KV):
                ks[t, kh] = rot(k[kh * hd:(kh + 1) * hd], t)
                vs[t, kh] = v[kh * hd:(kh + 1) * hd]
        attn = np.zeros((N, H * hd))
        for hh in range(H):
            kh = hh // group
            for t in range(N):
                sc = [sum(qs[t, hh, d] * ks[s, kh, d] for d in range(hd)) / math.sqrt(hd)
                      for s in range(t + 1)]                       # causal: keys 0..t only
                m = max(sc)
                e = [math.exp(z - m) for z in sc]
                tot = sum(e)
                for s in range(t + 1):
                    attn[t, hh * hd:(hh + 1) * hd] += (e[s] / tot) * vs[s, kh]
        x_new = np.zeros_like(x)
        for t in range(N):
            r = x[t] + Wn[p + "self_attn.o_proj.weight"].dot(attn[t])
            h = norm(r, Wn[p + "post_attention_layernorm.weight"])
            gt = Wn[p + "mlp.gate_proj.weight"].dot(h)
            up = Wn[p + "mlp.up_proj.weight"].dot(h)
            act = np.array([gt[j] / (1.0 + math.exp(-gt[j])) * up[j] for j in range(len(gt))])
            x_new[t] = r + Wn[p + "mlp.down_proj.weight"].dot(act)
        x = x_new
    hn = np.stack([norm(x[t], Wn["norm.weight"]) for t in range(N)])
    head = Wn["embed_tokens.weight"] if cfg["tie"] else Wn["lm_head.weight"]
    logits = np.array([head[j].dot(hn[N - 1]) for j in range(head.shape[0])])
    return hn, logits


def self_check(W, cfg, x0, rope, hn, logits):
    t = time.time()
    hn2, lg2 = forward_naive(W, cfg, x0, rope)
    scale = max(1.0, float(logits.abs().max()))
    d_log = float(np.abs(lg2 - logits.numpy()).max())
    d_hid = float(np.abs(hn2 - hn.numpy()).max())
    ok = d_log <= SELF_CHECK_TOL * scale and d_hid <= SELF_CHECK_TOL * max(1.0, float(hn.abs().max()))
    print(f"self-check vs naive per-head loops (rope {rope}): max |d logits| {d_log:.3e}, "
          f"max |d hidden| (all {x0.shape[0]} positions) {d_hid:.3e}, tol {SELF_CHECK_TOL:g} "
          f"-> {'OK' if ok else 'FAIL'} ({time.time() - t:.1f} s)")
    # causality: changing the last input must leave every earlier position untouched
    x1 = x0.clone()
    x1[-1] += 1.0
    hn3, _ = forward(W, cfg, x1, rope)
    d_prev = float((hn3[:-1] - hn[:-1]).abs().max()) if x0.shape[0] > 1 else 0.0
    d_last = float((hn3[-1] - hn[-1]).abs().max())
    causal_ok = d_prev == 0.0 and d_last > 0.0
    print(f"causality check: perturbing the last input changes positions < N-1 by {d_prev:.1e}, "
          f"the last by {d_last:.2e} -> {'OK' if causal_ok else 'FAIL'}")
    return ok and causal_ok


# --------------------------------------------------------------------------------------
# safetensors (pure python writer / reader) and HF sharding
# --------------------------------------------------------------------------------------

def _encode(t, dtype):
    t32 = t.detach().to(torch.float32).contiguous().cpu()
    if dtype == "f32":
        return "F32", t32.numpy().astype("<f4").tobytes()
    if dtype == "bf16":
        # values are already bf16-representable; keep the raw 16-bit pattern
        return "BF16", t32.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, named_tensors, dtype, metadata=None):
    """Returns the number of data bytes written (sum of tensor sizes)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, t in named_tensors:
        st_dtype, raw = _encode(t, dtype)
        header[name] = {"dtype": st_dtype, "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    return off


def read_safetensors(path):
    """-> {name: (dtype, float64 ndarray)}; checks header length, padding, contiguity."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0, "header length not a multiple of 8"
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = buf[8 + n:]
    pos = 0
    for a, b, k in sorted((v["data_offsets"][0], v["data_offsets"][1], k)
                          for k, v in header.items()):
        assert a == pos and b >= a, f"non-contiguous data for {k}"
        pos = b
    assert pos == len(data), "trailing / missing data bytes"
    out = {}
    for k, v in header.items():
        a, b = v["data_offsets"]
        raw = data[a:b]
        if v["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif v["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            arr = arr.astype(np.float64)
        else:
            raise ValueError(v["dtype"])
        assert arr.size == numel(v["shape"]), f"size mismatch for {k}"
        out[k] = (v["dtype"], arr.reshape(v["shape"]))
    return out


def shard_plan(items, nbytes, k):
    """Split the ordered tensor list into k contiguous, non-empty groups of ~equal bytes."""
    n = len(items)
    if k > n:
        raise ValueError(f"--shards {k} > number of tensors {n}")
    total = sum(nbytes)
    groups, cur, cum = [], [], 0
    for i, item in enumerate(items):
        remaining_items = n - i
        remaining_groups = k - len(groups)
        if cur and (remaining_items < remaining_groups
                    or (cum >= total * len(groups + [cur]) / k and len(groups) < k - 1)):
            groups.append(cur)
            cur = []
        cur.append(item)
        cum += nbytes[i]
    groups.append(cur)
    assert len(groups) == k and all(groups), "shard plan failed"
    return groups


def write_checkpoint(path, W, cfg, prefix, lm_head, dtype, shards, meta):
    """Returns (list of files written, {ckpt name: file}, total data bytes)."""
    items = [(ckpt_name(name, prefix, lm_head), W[name]) for name, _, _, _ in tensor_table(cfg)]
    esize = 4 if dtype == "f32" else 2
    metadata = {"format": "pt"}
    metadata.update(meta)
    if shards <= 1:
        nb = write_safetensors(path, items, dtype, metadata)
        return [path], {n: os.path.basename(path) for n, _ in items}, nb
    d = os.path.dirname(os.path.abspath(path))
    groups = shard_plan(items, [t.numel() * esize for _, t in items], shards)
    files, weight_map, total = [], {}, 0
    for j, grp in enumerate(groups):
        fname = f"model-{j + 1:05d}-of-{shards:05d}.safetensors"
        fpath = os.path.join(d, fname)
        total += write_safetensors(fpath, grp, dtype, metadata)
        files.append(fpath)
        for n, _ in grp:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return files, weight_map, total


def verify_checkpoint(files, W, cfg, prefix, lm_head):
    """Re-read every file and check each tensor equals the value the reference used."""
    want = {ckpt_name(name, prefix, lm_head): W[name] for name, _, _, _ in tensor_table(cfg)}
    seen = {}
    for f in files:
        for k, (dt, arr) in read_safetensors(f).items():
            assert k not in seen, f"{k} stored twice"
            seen[k] = (dt, arr)
    assert set(seen) == set(want), f"tensor set differs: {sorted(set(seen) ^ set(want))}"
    for k, ref in want.items():
        arr = seen[k][1]
        assert tuple(arr.shape) == tuple(ref.shape), (k, arr.shape, tuple(ref.shape))
        assert np.array_equal(arr, ref.numpy()), f"{k}: stored value differs from the model's"
    return len(seen)


# --------------------------------------------------------------------------------------
# ONNX export: fp32, inputs_embeds [1, N, D] -> last-position logits [1, V], fixed N
# --------------------------------------------------------------------------------------

class OnnxPrefill(nn.Module):
    def __init__(self, W, cfg, n_tokens, rope):
        super().__init__()
        self.cfg = dict(cfg)
        self.n = n_tokens
        self.w = nn.ParameterDict()
        for name, t in W.items():
            self.w[name.replace(".", "__")] = nn.Parameter(t.to(torch.float32), requires_grad=False)
        cos, sin = rope_cos_sin(cfg, n_tokens, rope)
        self.register_buffer("cos", cos.to(torch.float32))
        self.register_buffer("sin", sin.to(torch.float32))
        self.register_buffer("mask", torch.triu(torch.full((n_tokens, n_tokens), float("-inf")),
                                                diagonal=1))

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def norm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["eps"]) * self.p(name)

    def forward(self, inputs_embeds):
        c = self.cfg
        N, H, KV, hd = self.n, c["heads"], c["kv_heads"], c["head_dim"]
        rep = H // KV
        x = inputs_embeds[0]                                              # [N, D]
        for i in range(c["layers"]):
            pre = f"layers.{i}."
            h = self.norm(x, pre + "input_layernorm.weight")
            q = h @ self.p(pre + "self_attn.q_proj.weight").t()
            k = h @ self.p(pre + "self_attn.k_proj.weight").t()
            v = h @ self.p(pre + "self_attn.v_proj.weight").t()
            if c["qkv_bias"]:
                q = q + self.p(pre + "self_attn.q_proj.bias")
                k = k + self.p(pre + "self_attn.k_proj.bias")
                v = v + self.p(pre + "self_attn.v_proj.bias")
            q = q.reshape(N, H, hd).transpose(0, 1)
            k = k.reshape(N, KV, hd).transpose(0, 1)
            v = v.reshape(N, KV, hd).transpose(0, 1)
            q = q * self.cos + rotate_half(q) * self.sin
            k = k * self.cos + rotate_half(k) * self.sin
            if rep > 1:
                k = k.unsqueeze(1).expand(KV, rep, N, hd).reshape(H, N, hd)
                v = v.unsqueeze(1).expand(KV, rep, N, hd).reshape(H, N, hd)
            s = torch.matmul(q, k.transpose(1, 2)) * (hd ** -0.5) + self.mask
            a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(0, 1).reshape(N, H * hd)
            x = x + a @ self.p(pre + "self_attn.o_proj.weight").t()
            h = self.norm(x, pre + "post_attention_layernorm.weight")
            g = h @ self.p(pre + "mlp.gate_proj.weight").t()
            u = h @ self.p(pre + "mlp.up_proj.weight").t()
            x = x + (g * torch.sigmoid(g) * u) @ self.p(pre + "mlp.down_proj.weight").t()
        last = self.norm(x[N - 1:N], "norm.weight")                      # [1, D]
        head = self.p("embed_tokens.weight") if c["tie"] else self.p("lm_head.weight")
        return last @ head.t()                                            # [1, V]


def export_onnx(W, cfg, n_tokens, rope, path, x0_f32, ref_logits):
    m = OnnxPrefill(W, cfg, n_tokens, rope).eval()
    x = x0_f32.to(torch.float32)[None]
    with torch.no_grad():
        y = m(x)[0].to(torch.float64)
    rel = float((y - ref_logits).abs().max() / ref_logits.abs().max())
    print(f"ONNX module (torch fp32) vs float64 reference: max rel err {rel:.2e}")
    assert rel < 1e-4, "the fp32 export module disagrees with the reference"
    torch.onnx.export(m, (x,), path, opset_version=14, input_names=["inputs_embeds"],
                      output_names=["logits"], do_constant_folding=True)
    print(f"wrote {path} (opset 14, inputs_embeds [1, {n_tokens}, {cfg['hidden']}] float32 "
          f"-> logits [1, {cfg['vocab']}])")


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def resolve_cfg(args):
    cfg = dict(PRESETS[args.preset]) if args.preset else {k: None for k in KEYS}
    overridden = False
    for k in KEYS:
        v = getattr(args, k)
        if v is not None:
            if args.preset and v != cfg[k]:
                overridden = True
            cfg[k] = v
    return cfg, overridden


def hf_config(cfg, args):
    """An HF-style config.json for the synthetic checkpoint (convenience)."""
    c = {"architectures": ["Qwen2ForCausalLM" if cfg["qkv_bias"] else "LlamaForCausalLM"],
         "model_type": model_type(cfg), "hidden_size": cfg["hidden"],
         "num_hidden_layers": cfg["layers"], "num_attention_heads": cfg["heads"],
         "num_key_value_heads": cfg["kv_heads"], "head_dim": cfg["head_dim"],
         "intermediate_size": cfg["intermediate"], "vocab_size": cfg["vocab"],
         "rope_theta": float(cfg["theta"]), "rms_norm_eps": float(cfg["eps"]),
         "tie_word_embeddings": bool(cfg["tie"]), "hidden_act": "silu",
         "torch_dtype": "float32" if args.dtype == "f32" else "bfloat16"}
    if not cfg["qkv_bias"]:
        c["attention_bias"] = False
        c["mlp_bias"] = False
    return c


def run(args, cfg, label):
    t0 = time.time()
    total, nonemb, _ = param_counts(cfg)
    if total > MAX_BUILD_PARAMS:
        print(f"error: {total / 1e9:.3f} B parameters is too large to build in float64 here "
              f"(limit {MAX_BUILD_PARAMS / 1e9:.1f} B); use --params-only", file=sys.stderr)
        return 2
    for out in (args.weights, args.ids, args.embeds, args.logits, args.onnx, args.config_json):
        if out and os.path.dirname(os.path.abspath(out)):
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    W = make_weights(cfg, args.seed, args.dtype)
    built = sum(t.numel() for t in W.values())
    assert built == total, f"built {built} params, table says {total}"
    ids, emb = make_inputs(cfg, args.seed, args.tokens, args.embeds is not None)
    x0 = emb.to(torch.float64) if emb is not None else embed_ids(W, ids)
    t_build = time.time() - t0

    with torch.no_grad():
        t = time.time()
        hn, logits = forward(W, cfg, x0, args.rope)
        t_fwd = time.time() - t
        assert torch.isfinite(logits).all()
        alt = "exact" if args.rope == "hf" else "hf"
        _, logits_alt = forward(W, cfg, x0, alt)
        print(f"rope {args.rope} vs {alt}: max |d logits| {float((logits_alt - logits).abs().max()):.2e}")

        ok = True
        do_check = args.self_check == "yes" or (
            args.self_check == "auto" and total <= SELF_CHECK_MAX_PARAMS
            and args.tokens <= SELF_CHECK_MAX_TOKENS)
        if do_check:
            ok = self_check(W, cfg, x0, args.rope, hn, logits)

    if args.ids and ids is not None:
        np.save(args.ids, ids.to(torch.float32).numpy())
        assert int(ids.max()) < (1 << 24)
    if args.embeds:
        np.save(args.embeds, emb.numpy())
    if args.logits:
        np.save(args.logits, logits.to(torch.float32).numpy())

    if args.weights:
        t = time.time()
        meta = {"generator": "vlmbench tests/torch/qwen2_ref.py", "model_type": model_type(cfg),
                "seed": args.seed, "dtype": args.dtype}
        files, wmap, nbytes = write_checkpoint(args.weights, W, cfg, args.prefix, args.lm_head,
                                               args.dtype, args.shards, meta)
        ntens = verify_checkpoint(files, W, cfg, args.prefix, args.lm_head)
        what = (f"{len(files)} shards + index {args.weights}" if args.shards > 1
                else args.weights)
        print(f"wrote {what}: {ntens} tensors, {nbytes} data bytes ({args.dtype}), "
              f"re-read OK ({time.time() - t:.1f} s)")
        if args.list_names:
            for name, shape, _, _ in tensor_table(cfg):
                n = ckpt_name(name, args.prefix, args.lm_head)
                print(f"  {n} {list(shape)}" + (f"  -> {wmap[n]}" if args.shards > 1 else ""))
    if args.config_json:
        with open(args.config_json, "w", encoding="utf-8") as f:
            f.write(json.dumps(hf_config(cfg, args), indent=2, sort_keys=True) + "\n")

    if args.onnx:
        try:
            export_onnx(W, cfg, args.tokens, args.rope, args.onnx, x0, logits)
        except Exception as e:  # pragma: no cover - depends on the installed exporter
            print(f"ONNX export failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 2

    lg = logits
    top = torch.topk(lg, min(5, lg.numel()))
    print(f"{label} ({model_type(cfg)}, D {cfg['hidden']}, L {cfg['layers']}, "
          f"H {cfg['heads']}/{cfg['kv_heads']}x{cfg['head_dim']}, I {cfg['intermediate']}, "
          f"V {cfg['vocab']}, theta {cfg['theta']:g}, eps {cfg['eps']:g}, bias {cfg['qkv_bias']}, "
          f"tie {cfg['tie']}): N {args.tokens} {'inputs_embeds' if emb is not None else 'ids'}, "
          f"params {total:,d} (non-embedding {nonemb:,d})")
    print(f"logits: min {float(lg.min()):.4f} max {float(lg.max()):.4f} mean {float(lg.mean()):.4f} "
          f"std {float(lg.std()):.4f}; top-5 ids {top.indices.tolist()} "
          f"values {[round(float(v), 4) for v in top.values]}")
    print(f"timings (s): build {t_build:.2f}, forward {t_fwd:.2f}, total {time.time() - t0:.2f}")
    if not ok:
        print("SELF-CHECK FAILED", file=sys.stderr)
        return 3
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), help="fill the dims (flags override)")
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--kv-heads", dest="kv_heads", type=int)
    ap.add_argument("--head-dim", dest="head_dim", type=int)
    ap.add_argument("--intermediate", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--theta", type=float)
    ap.add_argument("--eps", type=float)
    ap.add_argument("--qkv-bias", dest="qkv_bias", type=int, choices=(0, 1))
    ap.add_argument("--tie", type=int, choices=(0, 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokens", type=int, default=7, help="prefill length N (default 7)")
    ap.add_argument("--weights", help="output .safetensors (with --shards K > 1: the index "
                                      "file path, e.g. DIR/model.safetensors.index.json)")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--dtype", choices=("f32", "bf16"), default="f32",
                    help="storage dtype (the expected logits use the rounded values)")
    ap.add_argument("--prefix", default="model.", help="name prefix of the decoder tensors")
    ap.add_argument("--lm-head", dest="lm_head", default="lm_head.weight",
                    help="checkpoint name of the untied head (default lm_head.weight)")
    ap.add_argument("--ids", help="output .npy of the token ids [N] (float32)")
    ap.add_argument("--embeds", help="use seeded inputs_embeds [N, D] instead of ids; output .npy")
    ap.add_argument("--logits", help="output .npy of the last-position logits [V] (float32)")
    ap.add_argument("--onnx", help="export an fp32 ONNX model inputs_embeds [1,N,D] -> logits [1,V]")
    ap.add_argument("--config-json", help="also write an HF-style config.json")
    ap.add_argument("--rope", choices=("hf", "exact"), default="hf",
                    help="hf: float32 inv_freq and angle as HF (default); exact: float64")
    ap.add_argument("--self-check", choices=("auto", "yes", "no"), default="auto",
                    help="compare with the naive loop implementation (auto: small models)")
    ap.add_argument("--params-only", action="store_true",
                    help="print parameter counts (shape-only) and exit; without a preset or "
                         "dims: the four real presets")
    ap.add_argument("--list-names", action="store_true", help="print tensor names and shapes")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.params_only and not args.preset and all(getattr(args, k) is None for k in KEYS):
        ok = all([print_param_counts(n, PRESETS[n], True) for n in REAL_PRESETS])
        assert ok, "parameter counts do not match the spec"
        return 0
    try:
        cfg, overridden = resolve_cfg(args)
        validate_cfg(cfg)
    except ValueError as e:
        ap.error(str(e))
    if args.embeds and args.ids:
        ap.error("--ids and --embeds are alternatives (--embeds feeds inputs_embeds, no ids)")
    if args.tokens < 1:
        ap.error("--tokens must be >= 1")
    if args.shards < 1:
        ap.error("--shards must be >= 1")
    if args.shards > 1 and args.weights and not args.weights.endswith(".json"):
        ap.error("with --shards K > 1, --weights names the index file "
                 "(e.g. DIR/model.safetensors.index.json); the shards go next to it")
    name = args.preset if (args.preset and not overridden) else "custom"
    ok = print_param_counts(name, cfg, name in REAL_PRESETS)
    if name in REAL_PRESETS:
        assert ok, f"parameter counts of {name} do not match spec section 6"
    if args.params_only:
        return 0
    return run(args, cfg, name)


if __name__ == "__main__":
    sys.exit(main())
