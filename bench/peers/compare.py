#!/usr/bin/python3
"""Side-by-side latency of image towers and LLM prefill in three implementations.

    /usr/bin/python3 bench/peers/compare.py [--model fastvithd,mci0] [--res 256,512,1024]
        [--threads 1,2] [--rounds 3] [--reps 5] [--out /tmp/vlm_peers]
    /usr/bin/python3 bench/peers/compare.py --model qwen2-0.5b,qwen2-1.5b --tokens 280
    /usr/bin/python3 bench/peers/compare.py --model vit-b16,vit-l14-336 --torch-rounds 1

  engine  our vlmbench binary (`vlmbench bench --json`, accuracy with `vlmbench infer`)
  ort     ONNX Runtime, npm onnxruntime-node, CPU EP (bench/peers/ort_bench.mjs)
  torch   Debian's PyTorch (this interpreter), float32, no_grad. Image towers:
          tests/torch/fastvit_ref.py in inference form, contiguous and channels_last both
          timed and the faster (lower median) reported. Baseline encoders:
          tests/torch/vit_ref.py's Features (its forward code replaying the stored weights;
          ConvNeXt contiguous and channels_last, ViTs contiguous only: their one 4-D op is the
          patch conv). LLMs: tests/torch/qwen2_ref.py's OnnxPrefill, the module its ONNX
          export traces (eager; no layout variants)

Image towers (fastvithd, mci0-2): for every (model, res) the network is built once with a fixed
seed (fastvit_ref.py: seeded training-form weights, rounded to f32, folded to inference form)
and written to OUT/<model>_<H>x<W>/: weights.safetensors (timm names, inference form, F32),
model.onnx (exported at that size), input.npy ([1,3,H,W] float32 in [0,1]) and expected.npy
(the reference forward on those weights, [h*w, 2C] float32; float64 compute by default).

Baseline encoders (vit-b16 224, vit-l14-336 336, siglip 384, convnext-l 768; vit-tiny,
siglip-tiny, convnext-tiny for smoke runs; default input: the native size): for every
(model, res) a child process (`compare.py encoder-prepare`) draws vit_ref.py's seeded weights
(vit_ref.Weights, seed --seed) and writes OUT/<model>_<H>x<W>/: weights.safetensors (F32;
open_clip names visual.* for the CLIP ViTs, HF vision_model.* for SigLIP, timm stem./stages.
for ConvNeXt; the ViTs hold the blocks up to the VLM's select layer, the features the engine
computes), onnx/model.onnx (vit_ref.Features exported at that size: pixel_values [1,3,H,W]
-> features [tokens, dim]; external data files above 2 GiB; ViTs only at their native size:
torch 1.13 cannot export the antialiased bicubic resize of the position table), input.npy ([1,3,H,W] float32
in [-1,1], seed + 1, as vit_ref.py's CLI) and expected.npy (vit_forward / convnext_forward's
features; float64 compute by default).

LLMs (qwen2-0.5b, qwen2-1.5b; qwen2-tiny and vicuna-tiny for smoke runs): for every (model, N)
a child process builds the seeded weights with qwen2_ref.py's code (kept in float32, the values
qwen2_ref stores) and writes OUT/<model>_<N>tok/: weights.safetensors (HF names, F32),
onnx/model.onnx (qwen2_ref's export: inputs_embeds [1,N,D] float32 -> last-position logits
[1,V]; above protobuf's 2 GiB torch writes the weights as external data files next to it),
input.npy (seeded inputs_embeds [N,D] float32, as qwen2_ref --embeds) and expected.npy (the
last-position logits [1,V] of qwen2_ref.forward; float64 compute by default, the float32
weights widened one tensor at a time so the 1.5B model needs no 12 GB float64 copy).

The three implementations therefore run the same network, weights and thread count. For every
thread count and every round the three run one after another (engine, ort, torch; engine, ort,
torch; ...), each in a fresh process with OMP_PROC_BIND=close OMP_PLACES=cores
OMP_NUM_THREADS=T; every timed sample and each process's peak RSS are kept. Medians and minima
are over all samples of all rounds. GFLOP/s = 2 * MACs / median, with the MACs vlmbench reports
(convolutions, linears, QK^T and AV; for LLMs the full N x N attention and the head on the last
position). Accuracy: max |out - expected| / max |expected| per implementation.

Writes OUT/compare.json (every sample, versions, `vlmbench env --json`, load averages) and
prints a markdown table. Peers are context for our engine, not part of the product.
"""

import argparse
import contextlib
import copy
import datetime
import gc
import hashlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF_PY = os.path.join(ROOT, "tests", "torch", "fastvit_ref.py")
QREF_PY = os.path.join(ROOT, "tests", "torch", "qwen2_ref.py")
VREF_PY = os.path.join(ROOT, "tests", "torch", "vit_ref.py")

OMP_ENV = {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}
# before torch (and its OpenMP runtime) is loaded, so that the preparation step runs under the
# same binding as the measured processes
os.environ.update(OMP_ENV)

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - wrong interpreter
    sys.exit(f"compare.py: {e}; run it with Debian's interpreter: /usr/bin/python3 {sys.argv[0]}")

sys.path.insert(0, os.path.dirname(REF_PY))
import fastvit_ref as ref  # noqa: E402
import qwen2_ref as qref  # noqa: E402
import vit_ref as vref  # noqa: E402

FASTVIT_MODELS = ("fastvithd", "mci0", "mci1", "mci2")
# baseline encoders: engine model name (= vit_ref.CFGS key) -> native input side
ENCODER_MODELS = {"vit-b16": 224, "vit-l14-336": 336, "siglip": 384, "convnext-l": 768,
                  "vit-tiny": 32, "siglip-tiny": 32, "convnext-tiny": 64}
VISION_MODELS = FASTVIT_MODELS + tuple(ENCODER_MODELS)
# engine model name -> qwen2_ref.py preset (the same dims; checked against the engine's params)
LLM_MODELS = {"qwen2-0.5b": "qwen2-0.5b", "qwen2-1.5b": "qwen2-1.5b",
              "qwen2-tiny": "tiny-qwen2", "vicuna-tiny": "tiny-vicuna"}
MODELS = VISION_MODELS + tuple(LLM_MODELS)
# the issue's configuration set (image towers; the LLM set is --model qwen2-0.5b,qwen2-1.5b)
DEFAULT_SET = [("fastvithd", 256, 256), ("fastvithd", 512, 512), ("fastvithd", 1024, 1024),
               ("mci0", 256, 256)]
DEFAULT_RES = {"fastvithd": [256, 512, 1024], "mci0": [256], "mci1": [256], "mci2": [256]}
DEFAULT_RES.update({m: [r] for m, r in ENCODER_MODELS.items()})
DEFAULT_LLMS = ["qwen2-0.5b", "qwen2-1.5b"]
DEFAULT_TOKENS = [280]
IMPLS = ("engine", "ort", "torch")
PREP_VERSION = 1
LLM_PREP_VERSION = 1
ENC_PREP_VERSION = 1
LLM_ROPE = "hf"          # qwen2_ref's default: HF's float32 inv_freq and angle
LLM_OPSET = 14           # qwen2_ref.export_onnx's opset
# cross-checks that hold the whole model twice more (float64 make_weights, verify_checkpoint)
# run only below this many parameters
LLM_SELF_CHECK_MAX_PARAMS = 50_000_000
PROTOBUF_LIMIT = 2 ** 31 - 1


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return None


def mem_available():
    """MemAvailable in bytes, or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return None
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def max_rel_err(out, exp):
    """max |out - exp| / max |exp| (fastvit_ref.rel_err), in float64; NaN-propagating."""
    out = np.asarray(out, dtype=np.float64).reshape(-1)
    exp = np.asarray(exp, dtype=np.float64).reshape(-1)
    if out.size != exp.size:
        raise ValueError(f"output has {out.size} values, expected {exp.size}")
    return float(np.max(np.abs(out - exp)) / max(float(np.max(np.abs(exp))), 1e-30))


def parse_res(text):
    out = []
    for tok in text.split(","):
        tok = tok.strip().lower()
        if not tok:
            continue
        if "x" in tok:
            h, w = tok.split("x", 1)
            out.append((int(h), int(w)))
        else:
            out.append((int(tok), int(tok)))
    if not out or any(h <= 0 or w <= 0 for h, w in out):
        raise argparse.ArgumentTypeError(f"bad --res '{text}' (want R or HxW, comma-separated)")
    return out


def parse_int_list(text):
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad list '{text}'")
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"bad list '{text}' (positive integers)")
    return vals


def parse_models(text):
    vals = [t.strip() for t in text.split(",") if t.strip()]
    for v in vals:
        if v not in MODELS:
            raise argparse.ArgumentTypeError(f"unknown model '{v}' (one of {', '.join(MODELS)})")
    return vals


def child_env(threads):
    env = dict(os.environ)
    env.update(OMP_ENV)
    t = str(threads)
    env.update({"OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t})
    return env


# Children are started through this small launcher, which forks and execs the command and
# reports its wait4 ru_maxrss: Linux carries a process's high-water RSS across fork and exec,
# so a child started directly from this (torch-sized, for image towers preparing in-process)
# driver would be charged the driver's peak as well; the launcher's own is ~10 MB.
_RSS_LAUNCHER = """
import os, sys
# The driver may have imported torch, whose OpenMP (under OMP_PROC_BIND=close) pins the
# driver's main thread to one core; children inherit that mask, so give them every core back.
os.sched_setaffinity(0, range(os.cpu_count()))
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as e:
        sys.stderr.write(f"cannot run {sys.argv[2]}: {e}\\n")
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(ru.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(cmd, env, what, stderr_live=False):
    """Run a child to completion; return (stdout, stderr, its peak RSS in MiB or None). Raise
    with its stderr on failure. stderr_live: the child's stderr goes straight to ours
    (progress of long steps) instead of being captured."""
    fd, rss_path = tempfile.mkstemp(prefix="compare_rss_")
    os.close(fd)
    try:
        p = subprocess.run([sys.executable, "-S", "-c", _RSS_LAUNCHER, rss_path] + list(cmd),
                           env=env, stdout=subprocess.PIPE,
                           stderr=None if stderr_live else subprocess.PIPE, text=True)
        try:
            with open(rss_path) as f:
                rss = int(f.read()) / 1024.0          # Linux: ru_maxrss in KiB
        except ValueError:
            rss = None
    finally:
        os.remove(rss_path)
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n"
                           f"{(p.stderr or '').strip()[-2000:]}")
    return p.stdout, p.stderr or "", rss


def run_json(cmd, env, what, stderr_live=False):
    """run_child, stdout parsed as JSON: (object, peak RSS MiB)."""
    out, err, rss = run_child(cmd, env, what, stderr_live)
    try:
        return json.loads(out), rss
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{what}: no JSON on stdout ({e}): {out[:500]!r}\n"
                           f"{err.strip()[-2000:]}")


def tokens_f(fmap):
    """[1, C, h, w] -> contiguous [h*w, C] tokens (a view for channels_last, a copy otherwise)."""
    _, c, h, w = fmap.shape
    return fmap[0].permute(1, 2, 0).reshape(h * w, c).contiguous()


# --------------------------------------------------------------------------------------
# configurations: ("vision", model, h, w) or ("llm", model, tokens)
# --------------------------------------------------------------------------------------

def is_llm(model_name):
    return model_name in LLM_MODELS


def cfg_label(c):
    return f"{c['model']} {c['height']}x{c['width']}" if c["kind"] == "vision" \
        else f"{c['model']} {c['tokens']} tok"


def cfg_dir(out, c):
    return os.path.join(out, f"{c['model']}_{c['height']}x{c['width']}" if c["kind"] == "vision"
                        else f"{c['model']}_{c['tokens']}tok")


def cfg_id(c):
    return f"{c['model']}@{c['height']}x{c['width']}" if c["kind"] == "vision" \
        else f"{c['model']}@{c['tokens']}tok"


# --------------------------------------------------------------------------------------
# safetensors (F32): reader for the torch worker, streaming writer for the LLM checkpoints
# --------------------------------------------------------------------------------------

def read_f32_safetensors(path):
    """{name: float32 ndarray} viewing one writable buffer (no per-tensor copies)."""
    size = os.path.getsize(path)
    buf = bytearray(size)
    with open(path, "rb") as f:
        if f.readinto(buf) != size:
            raise ValueError(f"{path}: short read")
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, v in header.items():
        if v["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {v['dtype']}, the peer benchmark writes F32")
        a, b = v["data_offsets"]
        if base + b > size or b - a != 4 * qref.numel(v["shape"]):
            raise ValueError(f"{path}: {name} has bad data offsets")
        out[name] = np.frombuffer(buf, dtype="<f4", count=(b - a) // 4,
                                  offset=base + a).reshape(v["shape"])
    return out


def write_f32_safetensors(path, named_tensors, metadata):
    """The layout of qwen2_ref.write_safetensors (F32, compact JSON header padded to 8 bytes,
    tensors in order), streamed tensor by tensor instead of joined in memory first: the 1.5B
    checkpoint is 6 GB. Returns the data bytes written."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors are little-endian; this writer assumes a little-endian host")
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    off = 0
    for name, t in named_tensors:
        nb = 4 * t.numel()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + nb]}
        off += nb
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name, t in named_tensors:
            if t.dtype != torch.float32:
                raise TypeError(f"{name}: {t.dtype}, want float32")
            t.contiguous().numpy().tofile(f)
        if f.tell() != 8 + len(hjson) + off:
            raise RuntimeError(f"{path}: wrote {f.tell()} bytes, header says {8 + len(hjson) + off}")
    return off


# --------------------------------------------------------------------------------------
# image towers: safetensors (F32) -> inference-form FastViTRef, for the torch worker
# --------------------------------------------------------------------------------------

def load_folded_model(model_name, weights):
    """The inference-form reference model in float32 with the tensors of `weights` (timm)."""
    m = ref.FastViTRef(ref.CONFIGS[model_name]).reparameterize().float().eval()
    tensors = read_f32_safetensors(weights)
    items = ref.state_items(m, "timm")
    with torch.no_grad():
        for name, t, kind in items:
            if kind == "zeros":        # head.fc.bias: written as zeros, not a model tensor
                continue
            if name not in tensors:
                raise KeyError(f"{weights}: missing {name}")
            arr = torch.from_numpy(np.array(tensors[name]))
            if kind == "T":
                arr = arr.t()
            if tuple(arr.shape) != tuple(t.shape):
                raise ValueError(f"{weights}: {name} has shape {list(arr.shape)}, "
                                 f"model wants {list(t.shape)}")
            t.copy_(arr)
    extra = set(tensors) - set(n for n, _, _ in items)
    if extra:
        raise ValueError(f"{weights}: unexpected tensors {sorted(extra)[:5]}")
    return m


# --------------------------------------------------------------------------------------
# baseline encoders: vit_ref.py's configs, names and forward code
# --------------------------------------------------------------------------------------

def is_encoder(model_name):
    return model_name in ENCODER_MODELS


def encoder_scheme(model_name):
    """The checkpoint names written: open_clip (CLIP ViTs), HF (SigLIP), timm (ConvNeXt)."""
    return vref.DEFAULT_SCHEME[vref.CFGS[model_name]["kind"]]


def encoder_forward(model_name, W, x):
    """vit_ref's features of x [T, 3, H, W] with the weights source W (Weights or Replay)."""
    c = vref.CFGS[model_name]
    if c["kind"] == "convnext":
        return vref.convnext_forward(c, W, x, encoder_scheme(model_name))[0]
    return vref.vit_forward(c, W, x, encoder_scheme(model_name), False)[0]


def load_encoder_module(model_name, weights):
    """vit_ref.Features (float32) holding the tensors of `weights` (views of the file buffer)."""
    tensors = read_f32_safetensors(weights)
    return vref.Features(model_name, {n: torch.from_numpy(v) for n, v in tensors.items()},
                         encoder_scheme(model_name)).eval()


def default_torch_variants(model_name):
    """ConvNeXt and FastViT: both layouts (the faster is reported); ViTs: contiguous only, their
    one 4-D op is the patch conv, so channels_last would only double the (slow) torch time."""
    if is_encoder(model_name) and vref.CFGS[model_name]["kind"] != "convnext":
        return "contiguous"
    return "contiguous,channels_last"


# --------------------------------------------------------------------------------------
# LLMs: qwen2_ref's weights in float32, its float64 forward without a float64 copy,
# and its OnnxPrefill module loaded from the checkpoint
# --------------------------------------------------------------------------------------

def llm_cfg(model_name):
    return dict(qref.PRESETS[LLM_MODELS[model_name]])


def llm_weights_f32(cfg, seed):
    """qwen2_ref.make_weights(cfg, seed, "f32") with every tensor kept in float32 instead of
    float64: the same generator, draws, order and values (make_weights rounds each tensor to
    f32 and widens it back to float64; the widening is skipped here). Half the memory: the
    1.5B model's float64 table would be 12 GB."""
    orig = qref.round_to

    def round_to_f32(t, dtype):
        assert dtype == "f32"
        return t.to(torch.float32)

    qref.round_to = round_to_f32
    try:
        return qref.make_weights(cfg, seed, "f32")
    finally:
        qref.round_to = orig


class _Float64View:
    """W[name] widened to float64 on each access: qwen2_ref.forward reads every weight once per
    use, so at most one float64 tensor (the largest: the embedding/head) exists at a time."""

    def __init__(self, W):
        self.W = W

    def __getitem__(self, name):
        return self.W[name].to(torch.float64)


def llm_ckpt_items(cfg, W):
    return [(qref.ckpt_name(name, "model."), W[name]) for name, _, _, _ in qref.tensor_table(cfg)]


def load_llm_module(model_name, weights, tokens):
    """qwen2_ref.OnnxPrefill (float32) holding the tensors of `weights` (HF names, F32)."""
    cfg = llm_cfg(model_name)
    tensors = read_f32_safetensors(weights)
    W = {}
    for name, shape, _, _ in qref.tensor_table(cfg):
        ck = qref.ckpt_name(name, "model.")
        if ck not in tensors:
            raise KeyError(f"{weights}: missing {ck}")
        arr = tensors.pop(ck)
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(f"{weights}: {ck} has shape {list(arr.shape)}, want {list(shape)}")
        W[name] = torch.from_numpy(arr)             # no copy: a view of the file buffer
    if tensors:
        raise ValueError(f"{weights}: unexpected tensors {sorted(tensors)[:5]}")
    return qref.OnnxPrefill(W, cfg, tokens, LLM_ROPE).eval()


# --------------------------------------------------------------------------------------
# torch worker: `compare.py torch-worker ...` (a fresh process per round, like the others)
# --------------------------------------------------------------------------------------

TORCH_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
TORCH_VARIANTS = ("contiguous", "channels_last", "frozen")
TORCH_TAGS = {"contiguous": "", "channels_last": " (cl)", "frozen": " (jit)", "eager": ""}


class _Tokens(torch.nn.Module):
    """forward_features + contiguous [h*w, C] tokens: what the engine and the ONNX graph output."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tokens_f(self.model.forward_features(x))


def torch_worker(argv):
    ap = argparse.ArgumentParser(prog="compare.py torch-worker")
    ap.add_argument("--model", required=True, choices=MODELS)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--expected")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--formats", default="contiguous,channels_last",
                    help="image towers only (LLMs: eager)")
    ap.add_argument("--max-time", type=float, default=600.0)
    a = ap.parse_args(argv)
    llm = is_llm(a.model)
    enc = is_encoder(a.model)
    formats = ["eager"] if llm else a.formats.split(",")
    for fmt in formats:
        if not llm and fmt not in TORCH_VARIANTS:
            ap.error(f"unknown torch variant '{fmt}' (one of {', '.join(TORCH_VARIANTS)})")

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    x = torch.from_numpy(np.load(a.input).astype(np.float32, copy=False))
    t0 = time.perf_counter()
    if llm:
        if x.dim() != 2:
            ap.error(f"{a.input}: LLM input must be [N, D] embeddings, got {list(x.shape)}")
        model = load_llm_module(a.model, a.weights, x.shape[0])
        x = x[None].contiguous()                      # [1, N, D], as the ONNX graph takes it
    elif enc:                                          # its output is already [tokens, dim]
        model = load_encoder_module(a.model, a.weights)
    else:
        model = load_folded_model(a.model, a.weights)
    load_ms = (time.perf_counter() - t0) * 1e3
    exp = np.load(a.expected) if a.expected else None

    res = {"runtime": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
           "interop_threads": torch.get_num_interop_threads(), "load_ms": load_ms,
           "warmup": a.warmup, "reps": a.reps, "formats": {}}
    with torch.no_grad():
        for fmt in formats:
            t0 = time.perf_counter()
            if fmt == "eager":                           # LLM: qwen2_ref.OnnxPrefill as is
                xf, fn = x, model
            elif fmt == "frozen":
                model = model.to(memory_format=torch.contiguous_format)
                xf = x.contiguous()
                fn = torch.jit.optimize_for_inference(
                    torch.jit.freeze(torch.jit.trace(model if enc else _Tokens(model).eval(),
                                                     xf)))
            else:
                mf = TORCH_FORMATS[fmt]
                model = model.to(memory_format=mf)     # 4-D parameters change layout in place
                xf = x.contiguous(memory_format=mf)
                fn = model if enc else _Tokens(model)
            setup_ms = (time.perf_counter() - t0) * 1e3
            # the TorchScript profiling executor optimises the graph on its first runs
            for _ in range(max(a.warmup, 3) if fmt == "frozen" else a.warmup):
                fn(xf)
            samples = []
            out = None
            t_start = time.perf_counter()
            for _ in range(a.reps):
                t = time.perf_counter_ns()
                out = fn(xf)
                samples.append((time.perf_counter_ns() - t) / 1e6)
                if time.perf_counter() - t_start >= a.max_time:
                    break
            r = {"samples": samples, "median": median(samples), "min": min(samples),
                 "output_shape": list(out.shape), "setup_ms": setup_ms}
            if exp is not None:
                r["max_rel_err"] = max_rel_err(out.numpy(), exp)
            res["formats"][fmt] = r
    if enc and model.unused:
        raise ValueError(f"{a.weights}: tensors the forward never read: {model.unused[:5]}")
    print(json.dumps(res))
    return 0


# --------------------------------------------------------------------------------------
# image towers: preparation of weights, onnx, input, expected output (in this process)
# --------------------------------------------------------------------------------------

def reuse_prep(d, files, key, label):
    """The metadata (prep.json) of the preparation in d when it was made under key and all its
    files are there; else None, after removing what an older or broken preparation left (an
    ONNX file in a subfolder takes the folder with it: its external data)."""
    meta_path = os.path.join(d, "prep.json")
    if all(os.path.exists(p) for p in files.values()) and os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        if old.get("key") == key:
            log(f"{label}: reusing {d}")
            return old
    for k, p in files.items():
        if k == "onnx" and os.path.dirname(p) != d:
            shutil.rmtree(os.path.dirname(p), ignore_errors=True)
        elif os.path.exists(p):
            os.remove(p)
    if os.path.exists(meta_path):
        os.remove(meta_path)
    os.makedirs(d, exist_ok=True)
    return None


def run_prep_child(d, key, cmd, threads, what):
    """Runs a preparation child (cmd prints its info as JSON) and records the info under key in
    d/prep.json, unless the ONNX export failed (the next run then tries again)."""
    info, rss = run_json(cmd, child_env(threads), what, stderr_live=True)
    info["key"] = key
    info["peak_rss_mb"] = rss
    if info.get("onnx_error") is None:
        with open(os.path.join(d, "prep.json"), "w") as f:
            json.dump(info, f, indent=1)
    return info


def prepare(model_name, h, w, seed, ref_dtype, opset, d, threads):
    os.makedirs(d, exist_ok=True)
    files = {k: os.path.join(d, f) for k, f in (("weights", "weights.safetensors"),
                                                ("onnx", "model.onnx"),
                                                ("input", "input.npy"),
                                                ("expected", "expected.npy"))}
    key = {"version": PREP_VERSION, "model": model_name, "height": h, "width": w, "seed": seed,
           "ref_dtype": ref_dtype, "opset": opset, "fastvit_ref_sha256": sha256_file(REF_PY),
           "torch": torch.__version__}
    meta_path = os.path.join(d, "prep.json")
    old = reuse_prep(d, files, key, f"{model_name} {h}x{w}")
    if old is not None:
        return files, old

    torch.set_num_threads(threads)
    t0 = time.time()
    log(f"{model_name} {h}x{w}: building seeded model (seed {seed})")
    m = ref.build(model_name, seed)          # float64, training form, seeded weights
    ref.round_model_(m, "f32")               # values representable in f32 ...
    folded = m.reparameterize()              # ... folded to inference form ...
    ref.round_model_(folded, "f32")          # ... and rounded again: the stored values
    del m
    items = ref.state_items(folded, "timm")
    meta = {"format": "pt", "generator": "vlmbench bench/peers/compare.py via fastvit_ref.py",
            "model": model_name, "scheme": "timm", "form": "inference", "seed": seed,
            "dtype": "f32"}
    nbytes = ref.write_safetensors(files["weights"],
                                   [(n, ref.item_value(v, k)) for n, v, k in items], "f32", meta)
    del items

    gen = torch.Generator().manual_seed(seed + 1)
    x32 = torch.rand(1, 3, h, w, generator=gen, dtype=torch.float32)
    np.save(files["input"], x32.numpy())

    log(f"{model_name} {h}x{w}: reference forward ({ref_dtype})")
    t1 = time.time()
    with torch.no_grad():
        if ref_dtype == "f64":
            fmap = folded.forward_features(x32.double())
        else:
            fmap = copy.deepcopy(folded).float().forward_features(x32)
        exp = tokens_f(fmap).to(torch.float32).numpy()
        del fmap
    ref_s = time.time() - t1
    if not np.isfinite(exp).all():
        raise RuntimeError(f"{model_name} {h}x{w}: reference output is not finite")
    np.save(files["expected"], exp)

    log(f"{model_name} {h}x{w}: ONNX export (opset {opset})")
    t1 = time.time()
    onnx_error = None
    try:
        ref.export_onnx(folded, files["onnx"], h, w, opset)
    except Exception as e:  # the other two still run
        onnx_error = f"{type(e).__name__}: {e}"
        log(f"ONNX export failed: {onnx_error}")
    export_s = time.time() - t1
    del folded
    gc.collect()
    info = {"key": key, "files": {k: os.path.basename(p) for k, p in files.items()},
            "weights_bytes": nbytes, "output_shape": list(exp.shape),
            "expected_absmax": float(np.abs(exp).max()), "reference_forward_s": ref_s,
            "onnx_export_s": export_s, "onnx_error": onnx_error,
            "prepare_s": time.time() - t0}
    if onnx_error is None:
        with open(meta_path, "w") as f:
            json.dump(info, f, indent=1)
    log(f"{model_name} {h}x{w}: prepared in {info['prepare_s']:.1f} s "
        f"(tokens {exp.shape[0]} x {exp.shape[1]})")
    return files, info


# --------------------------------------------------------------------------------------
# LLMs: preparation in a child process (`compare.py llm-prepare ...`), so that the driver
# stays small while the measured processes run
# --------------------------------------------------------------------------------------

def llm_files(d):
    return {"weights": os.path.join(d, "weights.safetensors"),
            "onnx": os.path.join(d, "onnx", "model.onnx"),
            "input": os.path.join(d, "input.npy"),
            "expected": os.path.join(d, "expected.npy")}


def llm_prepare_estimate(cfg):
    """Rough peak bytes of llm-prepare: the float32 weights W, plus the largest of
      make_weights' float64 temporaries of one tensor (~3 x 8 bytes x its size),
      the float64 forward's widened tensor (8 bytes x the largest) and
      torch.onnx.export: the folded (transposed) copy of every weight, and below protobuf's
      2 GiB the serialized model held about three times more (bytes, Python copy, checker);
      plus ~0.3 GiB for Python and torch themselves."""
    total = qref.param_counts(cfg)[0]
    big = max(qref.numel(s) for _, s, _, _ in qref.tensor_table(cfg))
    wb = 4 * total
    export = wb * (2 if wb >= PROTOBUF_LIMIT else 5)
    return int(max(wb + 24 * big, wb + 8 * big, export) + 0.3 * 2**30), wb


def llm_prepare_worker(argv):
    ap = argparse.ArgumentParser(prog="compare.py llm-prepare")
    ap.add_argument("--model", required=True, choices=sorted(LLM_MODELS))
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref-dtype", choices=("f64", "f32"), default="f64")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = llm_cfg(a.model)
    N = a.tokens
    files = llm_files(a.dir)
    tag = f"{a.model} {N} tok"
    total, nonemb, _ = qref.param_counts(cfg)
    est, wb = llm_prepare_estimate(cfg)
    avail = mem_available()
    log(f"{tag}: {total / 1e6:.1f} M params, {wb / 2**30:.2f} GiB in f32; preparation needs "
        f"about {est / 2**30:.1f} GiB, {'?' if avail is None else f'{avail / 2**30:.1f}'} GiB "
        f"available")
    if avail is not None and est > avail:
        log(f"{tag}: WARNING: the estimate exceeds the available memory")
    os.makedirs(os.path.dirname(files["onnx"]), exist_ok=True)
    t0 = time.time()

    log(f"{tag}: seeded weights (qwen2_ref.make_weights, seed {a.seed}, kept in f32)")
    W = llm_weights_f32(cfg, a.seed)
    small = total <= LLM_SELF_CHECK_MAX_PARAMS
    if small:      # the float32 shortcut gives exactly qwen2_ref's values
        W64 = qref.make_weights(cfg, a.seed, "f32")
        assert all(torch.equal(W64[k], W[k].to(torch.float64)) for k in W64) and \
            set(W64) == set(W), "llm_weights_f32 differs from qwen2_ref.make_weights"
        del W64
    meta = {"format": "pt", "generator": "vlmbench bench/peers/compare.py via qwen2_ref.py",
            "model": a.model, "preset": LLM_MODELS[a.model], "model_type": qref.model_type(cfg),
            "seed": a.seed, "dtype": "f32"}
    nbytes = write_f32_safetensors(files["weights"], llm_ckpt_items(cfg, W), meta)
    if small:
        qref.verify_checkpoint([files["weights"]], W, cfg, "model.", "lm_head.weight")
    log(f"{tag}: wrote {files['weights']} ({nbytes / 2**30:.2f} GiB)")

    _, emb = qref.make_inputs(cfg, a.seed, N, True)            # [N, D] float32, seed + 1
    np.save(files["input"], emb.numpy())

    log(f"{tag}: reference forward ({a.ref_dtype})")
    t1 = time.time()
    with torch.no_grad():
        if a.ref_dtype == "f64":
            _, logits = qref.forward(_Float64View(W), cfg, emb.to(torch.float64), LLM_ROPE)
        else:      # the float32 OnnxPrefill, i.e. the torch column's own module
            logits = qref.OnnxPrefill(W, cfg, N, LLM_ROPE).eval()(emb[None])[0]
        logits = logits.to(torch.float64)
    ref_s = time.time() - t1
    if not torch.isfinite(logits).all():
        raise RuntimeError(f"{tag}: reference logits are not finite")
    exp = logits.to(torch.float32).numpy()[None]                 # [1, V], as all three output
    np.save(files["expected"], exp)

    log(f"{tag}: ONNX export (qwen2_ref.export_onnx, opset {LLM_OPSET})")
    t1 = time.time()
    onnx_error = None
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):     # our stdout carries the JSON result
            qref.export_onnx(W, cfg, N, LLM_ROPE, files["onnx"], emb, logits)
    except Exception as e:  # the other two still run
        onnx_error = f"{type(e).__name__}: {e}"
        log(f"ONNX export failed: {onnx_error}")
    for line in captured.getvalue().splitlines():
        log(f"{tag}: qwen2_ref: {line}")
    export_s = time.time() - t1
    onnx_dir = os.path.dirname(files["onnx"])
    onnx_files = sorted(os.listdir(onnx_dir)) if os.path.isdir(onnx_dir) else []
    onnx_bytes = sum(os.path.getsize(os.path.join(onnx_dir, f)) for f in onnx_files)
    info = {"files": {k: os.path.relpath(p, a.dir) for k, p in files.items()},
            "preset": LLM_MODELS[a.model], "config": cfg, "params": total,
            "non_embedding_params": nonemb, "weights_bytes": nbytes,
            "input_shape": list(emb.shape), "output_shape": list(exp.shape),
            "expected_absmax": float(np.abs(exp).max()), "reference_forward_s": ref_s,
            "onnx_export_s": export_s, "onnx_error": onnx_error,
            "onnx_module_check": captured.getvalue().strip().splitlines()[:1],
            "onnx_bytes": onnx_bytes,
            "onnx_external_data_files": max(0, len(onnx_files) - 1),
            "estimated_peak_bytes": est, "prepare_s": time.time() - t0}
    log(f"{tag}: prepared in {info['prepare_s']:.1f} s (ONNX {onnx_bytes / 2**30:.2f} GiB in "
        f"{len(onnx_files)} file(s))")
    print(json.dumps(info))
    return 0


def prepare_llm(a, model_name, n, d, threads):
    """Reuse OUT/<model>_<N>tok/ when its key matches, else run llm-prepare in a child."""
    files = llm_files(d)
    key = {"version": LLM_PREP_VERSION, "model": model_name, "preset": LLM_MODELS[model_name],
           "tokens": n, "seed": a.seed, "ref_dtype": a.ref_dtype, "rope": LLM_ROPE,
           "opset": LLM_OPSET, "qwen2_ref_sha256": sha256_file(QREF_PY),
           "torch": torch.__version__}
    old = reuse_prep(d, files, key, f"{model_name} {n} tok")
    if old is not None:
        return files, old
    cmd = [sys.executable, os.path.abspath(__file__), "llm-prepare", "--model", model_name,
           "--tokens", str(n), "--seed", str(a.seed), "--ref-dtype", a.ref_dtype, "--dir", d,
           "--threads", str(threads)]
    info = run_prep_child(d, key, cmd, threads, "LLM preparation")
    rss = info["peak_rss_mb"]
    log(f"{model_name} {n} tok: preparation peak RSS {fmt_gib(rss)} GiB "
        f"(estimated {info['estimated_peak_bytes'] / 2**30:.2f} GiB)")
    return files, info


# --------------------------------------------------------------------------------------
# baseline encoders: preparation in a child process (`compare.py encoder-prepare ...`): the
# real towers' weights are 0.35-2.6 GB, which the driver should not keep while measuring
# --------------------------------------------------------------------------------------

def encoder_files(d):
    return {"weights": os.path.join(d, "weights.safetensors"),
            "onnx": os.path.join(d, "onnx", "model.onnx"),
            "input": os.path.join(d, "input.npy"),
            "expected": os.path.join(d, "expected.npy")}


def encoder_prepare_worker(argv):
    ap = argparse.ArgumentParser(prog="compare.py encoder-prepare")
    ap.add_argument("--model", required=True, choices=sorted(ENCODER_MODELS))
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref-dtype", choices=("f64", "f32"), default="f64")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    files = encoder_files(a.dir)
    tag = f"{a.model} {a.height}x{a.width}"
    os.makedirs(os.path.dirname(files["onnx"]), exist_ok=True)
    t0 = time.time()

    # the input of vit_ref.py's CLI: uniform in [-1, 1] (already normalised), seed + 1
    gx = torch.Generator().manual_seed(a.seed + 1)
    x = (torch.rand((1, 3, a.height, a.width), generator=gx, dtype=torch.float64) * 2 - 1)
    x = x.to(torch.float32)
    np.save(files["input"], x.numpy())

    # vit_ref draws each weight when the forward first needs it: weights and the reference
    # output come out of the same pass
    log(f"{tag}: seeded weights (vit_ref.Weights, seed {a.seed}) and the reference forward "
        f"({a.ref_dtype})")
    dtype = torch.float64 if a.ref_dtype == "f64" else torch.float32
    W = vref.Weights(a.seed, dtype)
    t1 = time.time()
    with torch.no_grad():
        feats = encoder_forward(a.model, W, x.to(dtype))
    ref_s = time.time() - t1
    if not torch.isfinite(feats).all():
        raise RuntimeError(f"{tag}: reference output is not finite")
    exp = np.ascontiguousarray(feats.to(torch.float32).numpy())
    del feats
    np.save(files["expected"], exp)
    scheme = encoder_scheme(a.model)
    meta = {"format": "pt", "generator": "vlmbench bench/peers/compare.py via vit_ref.py",
            "model": a.model, "scheme": scheme, "seed": a.seed, "dtype": "f32"}
    nbytes = write_f32_safetensors(files["weights"], W.items, meta)
    params = sum(t.numel() for _, t in W.items)
    log(f"{tag}: wrote {files['weights']} ({len(W.items)} tensors, {params / 1e6:.1f} M values, "
        f"{scheme} names)")

    log(f"{tag}: ONNX export (vit_ref.Features, opset {a.opset})")
    t1 = time.time()
    onnx_error = None
    captured = io.StringIO()
    try:
        module = vref.Features(a.model, dict(W.items), scheme).eval()
        with contextlib.redirect_stdout(captured), torch.no_grad(), \
                warnings.catch_warnings():          # our stdout carries the JSON result
            # Replay.draw's shape checks and the attention scale read shapes as Python values:
            # constants of the traced graph, which is exported at one fixed input size
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(module, (x,), files["onnx"], opset_version=a.opset,
                              input_names=["pixel_values"], output_names=["features"],
                              do_constant_folding=True)
        if module.unused:
            raise RuntimeError(f"the traced forward did not read {module.unused[:5]}")
        del module
    except Exception as e:  # the other two still run
        onnx_error = f"{type(e).__name__}: {e}"
        log(f"ONNX export failed: {onnx_error}")
    for line in captured.getvalue().splitlines():
        log(f"{tag}: export: {line}")
    export_s = time.time() - t1
    onnx_dir = os.path.dirname(files["onnx"])
    onnx_files = sorted(os.listdir(onnx_dir)) if os.path.isdir(onnx_dir) else []
    onnx_bytes = sum(os.path.getsize(os.path.join(onnx_dir, f)) for f in onnx_files)
    info = {"files": {k: os.path.relpath(p, a.dir) for k, p in files.items()},
            "config": vref.CFGS[a.model], "scheme": scheme, "weight_values": params,
            "weights_bytes": nbytes, "input_shape": list(x.shape),
            "output_shape": list(exp.shape), "expected_absmax": float(np.abs(exp).max()),
            "reference_forward_s": ref_s, "onnx_export_s": export_s, "onnx_error": onnx_error,
            "onnx_bytes": onnx_bytes, "onnx_external_data_files": max(0, len(onnx_files) - 1),
            "prepare_s": time.time() - t0}
    log(f"{tag}: prepared in {info['prepare_s']:.1f} s (reference {ref_s:.1f} s, export "
        f"{export_s:.1f} s; tokens {exp.shape[0]} x {exp.shape[1]})")
    print(json.dumps(info))
    return 0


def prepare_encoder(a, model_name, h, w, d, threads):
    """Reuse OUT/<model>_<H>x<W>/ when its key matches, else run encoder-prepare in a child."""
    files = encoder_files(d)
    key = {"version": ENC_PREP_VERSION, "model": model_name, "height": h, "width": w,
           "seed": a.seed, "ref_dtype": a.ref_dtype, "opset": a.opset,
           "vit_ref_sha256": sha256_file(VREF_PY), "torch": torch.__version__}
    old = reuse_prep(d, files, key, f"{model_name} {h}x{w}")
    if old is not None:
        return files, old
    cmd = [sys.executable, os.path.abspath(__file__), "encoder-prepare", "--model", model_name,
           "--height", str(h), "--width", str(w), "--seed", str(a.seed),
           "--ref-dtype", a.ref_dtype, "--opset", str(a.opset), "--dir", d,
           "--threads", str(threads)]
    info = run_prep_child(d, key, cmd, threads, "encoder preparation")
    log(f"{model_name} {h}x{w}: preparation peak RSS {fmt_gib(info['peak_rss_mb'])} GiB")
    return files, info


# --------------------------------------------------------------------------------------
# one run of each implementation
# --------------------------------------------------------------------------------------

def run_engine(a, c, files, threads):
    cmd = [a.vlmbench, "bench", "--model", c["model"]]
    cmd += (["--tokens", str(c["tokens"])] if c["kind"] == "llm"
            else ["--res", f"{c['height']}x{c['width']}"])
    cmd += ["--weights", files["weights"], "--threads", str(threads), "--json",
            "--warmup", str(a.warmup), "--min-reps", str(a.reps), "--min-time", "0",
            "--max-time", f"{a.max_time:g}"]
    j, rss = run_json(cmd, child_env(threads), "vlmbench bench")
    vm = j["prefill_ms"] if c["kind"] == "llm" else j["vision_ms"]
    if vm.get("estimated"):
        raise RuntimeError("vlmbench reported a layer-sampled estimate, not a measurement")
    return {"samples": list(vm["samples"]), "median": vm["median"], "min": vm["min"],
            "macs": j["macs"], "gflops": j.get("gflops"), "build_ms": j.get("build_ms"),
            "threads": j.get("threads"), "tokens": j.get("tokens"),
            "feature_dim": j.get("feature_dim"), "params": j.get("params"),
            "peak_rss_mb": rss}


def engine_accuracy(a, model_name, files, threads, d):
    out = os.path.join(d, f"engine_out_t{threads}.npy")
    cmd = [a.vlmbench, "infer", "--model", model_name, "--weights", files["weights"],
           "--input", files["input"], "--output", out, "--threads", str(threads)]
    run_child(cmd, child_env(threads), "vlmbench infer")
    y = np.load(out)
    exp = np.load(files["expected"])
    if tuple(y.shape) != tuple(exp.shape):
        raise RuntimeError(f"vlmbench infer: output shape {list(y.shape)}, "
                           f"expected {list(exp.shape)}")
    return max_rel_err(y, exp)


def run_ort(a, c, files, threads):
    cmd = [a.node, os.path.join(HERE, "ort_bench.mjs"), "--model", files["onnx"],
           "--input", files["input"], "--expected", files["expected"],
           "--threads", str(threads), "--warmup", str(a.warmup), "--reps", str(a.reps),
           "--max-time", f"{a.max_time:g}"]
    if c["kind"] == "llm":      # input.npy is [N, D]; the graph takes inputs_embeds [1, N, D]
        n, dim = np.load(files["input"], mmap_mode="r").shape
        cmd += ["--shape", f"1,{n},{dim}"]
    r, rss = run_json(cmd, child_env(threads), "ort_bench.mjs")
    r["peak_rss_mb"] = rss
    return r


def run_torch(a, c, files, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "torch-worker", "--model", c["model"],
           "--weights", files["weights"], "--input", files["input"],
           "--expected", files["expected"], "--threads", str(threads),
           "--warmup", str(a.torch_warmup), "--reps", str(a.torch_reps),
           "--formats", "eager" if c["kind"] == "llm" else
           (a.torch_variants or default_torch_variants(c["model"])),
           "--max-time", f"{a.max_time:g}"]
    r, rss = run_json(cmd, child_env(threads), "torch worker")
    r["peak_rss_mb"] = rss
    return r


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------

def configs_from_args(a):
    if a.model is None and a.res is None and a.tokens is None:
        return [{"kind": "vision", "model": m, "height": h, "width": w} for m, h, w in DEFAULT_SET]
    if a.model is not None:
        models = a.model
    else:
        models = (["fastvithd", "mci0"] if a.res is not None else []) + \
                 (DEFAULT_LLMS if a.tokens is not None else [])
    out = []
    for m in models:
        if is_llm(m):
            for n in (a.tokens or DEFAULT_TOKENS):
                out.append({"kind": "llm", "model": m, "tokens": n})
        else:
            for h, w in (a.res or [(r, r) for r in DEFAULT_RES[m]]):
                out.append({"kind": "vision", "model": m, "height": h, "width": w})
    return out


def summarize(row):
    """Fill the row's summary fields from its collected samples."""
    macs = row.get("macs")
    for impl in IMPLS:
        s = row["impl"][impl]
        if impl == "torch":
            best = None
            for fmt, fs in s["formats"].items():
                fs["median"] = median(fs["samples"])
                fs["min"] = min(fs["samples"]) if fs["samples"] else None
                fs["max_rel_err"] = max(fs["rel_errs"]) if fs["rel_errs"] else None
                if fs["median"] is not None and (best is None or
                                                 fs["median"] < s["formats"][best]["median"]):
                    best = fmt
            s["best_format"] = best
            src = s["formats"][best] if best else {"samples": []}
            s["samples"] = src["samples"]
            s["max_rel_err"] = src.get("max_rel_err")
        s["median"] = median(s["samples"])
        s["min"] = min(s["samples"]) if s["samples"] else None
        s["gflops"] = (2.0 * macs / (s["median"] * 1e6)) if (macs and s["median"]) else None
        rss = [v for v in s.pop("rss", []) if v is not None]
        s["peak_rss_mb"] = max(rss) if rss else None
    e = row["impl"]["engine"]["median"]
    for impl in ("ort", "torch"):
        m = row["impl"][impl]["median"]
        row[f"ratio_{impl}_engine"] = (m / e) if (m and e) else None


def fmt_num(v, spec):
    return "—" if v is None else format(v, spec)


def fmt_err(v):
    return "—" if v is None else f"{v:.1e}"


def fmt_gib(mb):
    return "—" if mb is None else f"{mb / 1024:.2f}"


def row_input(r):
    return f"{r['height']}x{r['width']}" if r.get("kind", "vision") == "vision" \
        else f"{r['tokens']} tok"


def markdown(report):
    a = report["args"]
    kinds = {r.get("kind", "vision") for r in report["results"]} or {"vision"}
    torch_desc = []
    if "vision" in kinds:
        tv = a["torch_variants"]
        if isinstance(tv, dict):       # the per-model defaults
            used = sorted({v for vs in tv.values() for v in vs}, key=TORCH_VARIANTS.index)
            enc = any(is_encoder(k.split("@")[0]) for k in tv)
            note = "; ViT/SigLIP contiguous only; baseline encoders: vit_ref.py's forward code"
            torch_desc.append(f"image towers best of {'/'.join(used)} (cl = channels_last"
                              f"{note if enc else ''})")
        else:
            torch_desc.append(
                f"image towers best of {'/'.join(tv)} (cl = channels_last"
                f"{', jit = frozen' if 'frozen' in tv else ''})")
    if "llm" in kinds:
        torch_desc.append("LLMs qwen2_ref's OnnxPrefill, eager")
    torch_rounds = (f", torch in the first {a['torch_rounds']} round(s)"
                    if a["torch_rounds"] < a["rounds"] else "")
    if a.get("torch_reps", a["reps"]) != a["reps"]:
        torch_rounds += f", torch {a['torch_reps']} rep(s) per round"
    lines = [
        f"Peers vs engine: {a['rounds']} round(s) x {a['reps']} rep(s) per implementation per "
        f"thread count{torch_rounds}, interleaved engine -> ORT -> torch; medians and minima "
        f"over all samples; OMP_PROC_BIND=close OMP_PLACES=cores OMP_NUM_THREADS=T for all "
        f"three; ORT {report['versions'].get('onnxruntime_node')} (intra T, inter 1, opt all, "
        f"sequential); torch {report['versions'].get('torch')} f32 no_grad, "
        f"{'; '.join(torch_desc)}; ratio > 1 = our engine faster; err = max rel error "
        f"vs the {a['ref_dtype']} reference output (LLMs: the last position's logits); "
        f"RSS = peak resident set of each process.",
        "",
        "| model | input | thr | engine ms med / min | ORT ms med / min | torch ms med / min "
        "| GFLOP/s engine / ORT / torch | ORT/engine | torch/engine | err engine / ORT / torch "
        "| RSS GiB engine / ORT / torch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        i = r["impl"]
        tf = i["torch"].get("best_format")
        tag = TORCH_TAGS.get(tf, "")
        lines.append(
            f"| {r['model']} | {row_input(r)} | {r['threads']} "
            f"| {fmt_num(i['engine']['median'], '.2f')} / {fmt_num(i['engine']['min'], '.2f')} "
            f"| {fmt_num(i['ort']['median'], '.2f')} / {fmt_num(i['ort']['min'], '.2f')} "
            f"| {fmt_num(i['torch']['median'], '.2f')} / {fmt_num(i['torch']['min'], '.2f')}{tag} "
            f"| {fmt_num(i['engine']['gflops'], '.1f')} / {fmt_num(i['ort']['gflops'], '.1f')} / "
            f"{fmt_num(i['torch']['gflops'], '.1f')} "
            f"| {fmt_num(r['ratio_ort_engine'], '.2f')} | {fmt_num(r['ratio_torch_engine'], '.2f')} "
            f"| {fmt_err(i['engine'].get('max_rel_err'))} / {fmt_err(i['ort'].get('max_rel_err'))} "
            f"/ {fmt_err(i['torch'].get('max_rel_err'))} "
            f"| {fmt_gib(i['engine'].get('peak_rss_mb'))} / {fmt_gib(i['ort'].get('peak_rss_mb'))} "
            f"/ {fmt_gib(i['torch'].get('peak_rss_mb'))} |")
    errs = [f"- {r['model']} {row_input(r)} t{r['threads']} {impl}: {e}"
            for r in report["results"] for impl in IMPLS for e in r["impl"][impl]["errors"]]
    errs += [f"- {p['config']} preparation: {p['error']}" for p in report.get("prepare_failures", [])]
    if errs:
        lines += ["", "Failures:"] + errs
    return "\n".join(lines)


def versions(a):
    v = {"python": platform.python_version(), "torch": torch.__version__,
         "numpy": np.__version__, "torch_parallel": torch.__config__.parallel_info()}
    try:
        v["blas"] = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        pass
    try:
        v["node"] = subprocess.run([a.node, "--version"], stdout=subprocess.PIPE, text=True,
                                   check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        v["node"] = f"unavailable: {e}"
    try:
        with open(os.path.join(HERE, "node_modules", "onnxruntime-node", "package.json")) as f:
            v["onnxruntime_node"] = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        v["onnxruntime_node"] = None
    try:
        v["vlmbench"] = subprocess.run([a.vlmbench, "--version"], stdout=subprocess.PIPE,
                                       text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        v["vlmbench"] = f"unavailable: {e}"
    return v


def new_row(c, t, d, prep):
    row = dict(c)
    row.update({"threads": t, "dir": d, "prepare": prep, "loadavg_before": loadavg(),
                "rounds": [],
                "impl": {"engine": {"samples": [], "errors": [], "rss": []},
                         "ort": {"samples": [], "errors": [], "rel_errs": [], "rss": []},
                         "torch": {"formats": {}, "errors": [], "rss": []}}})
    return row


def measure_row(a, c, files, prep, t, d):
    """All rounds of one (config, thread count): engine, ORT, torch per round."""
    row = new_row(c, t, d, prep)
    imp = row["impl"]
    label = cfg_label(c)
    try:
        imp["engine"]["max_rel_err"] = engine_accuracy(a, c["model"], files, t, d)
    except Exception as e:
        imp["engine"]["errors"].append(f"infer: {e}")
    for rnd in range(a.rounds):
        log(f"{label} t{t} round {rnd + 1}/{a.rounds}")
        rr = {"round": rnd + 1}
        try:
            r = run_engine(a, c, files, t)
            imp["engine"]["samples"] += r["samples"]
            imp["engine"]["rss"].append(r["peak_rss_mb"])
            row["macs"] = r["macs"]
            if c["kind"] == "vision":
                row["tokens"], row["feature_dim"] = r["tokens"], r["feature_dim"]
            else:
                row["vocab"], row["params"] = r["feature_dim"], r["params"]
            rr["engine"] = {k: r[k] for k in ("median", "min", "build_ms", "samples",
                                              "peak_rss_mb")}
        except Exception as e:
            imp["engine"]["errors"].append(str(e))
        if prep.get("onnx_error"):
            if rnd == 0:
                imp["ort"]["errors"].append(f"no ONNX model: {prep['onnx_error']}")
        else:
            try:
                r = run_ort(a, c, files, t)
                imp["ort"]["samples"] += r["samples"]
                imp["ort"]["rel_errs"].append(r.get("max_rel_err"))
                imp["ort"]["rss"].append(r["peak_rss_mb"])
                rr["ort"] = {k: r.get(k) for k in ("median", "min", "session_create_ms",
                                                    "samples", "max_rel_err", "peak_rss_mb")}
            except Exception as e:
                imp["ort"]["errors"].append(str(e))
        if rnd < a.torch_rounds:
            try:
                r = run_torch(a, c, files, t)
                rr["torch"] = r
                imp["torch"]["rss"].append(r["peak_rss_mb"])
                for fmt, fs in r["formats"].items():
                    agg = imp["torch"]["formats"].setdefault(fmt, {"samples": [], "rel_errs": []})
                    agg["samples"] += fs["samples"]
                    if fs.get("max_rel_err") is not None:
                        agg["rel_errs"].append(fs["max_rel_err"])
            except Exception as e:
                imp["torch"]["errors"].append(str(e))
        row["rounds"].append(rr)
    if c["kind"] == "llm" and row.get("params") is not None and \
            row["params"] != prep.get("params"):
        imp["engine"]["errors"].append(f"engine model has {row['params']} params, qwen2_ref "
                                       f"preset {LLM_MODELS[c['model']]} {prep.get('params')}")
    ort_errs = [v for v in imp["ort"].pop("rel_errs") if v is not None]
    imp["ort"]["max_rel_err"] = max(ort_errs) if ort_errs else None
    summarize(row)
    row["loadavg_after"] = loadavg()
    return row


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "torch-worker":
        return torch_worker(argv[1:])
    if argv and argv[0] == "llm-prepare":
        return llm_prepare_worker(argv[1:])
    if argv and argv[0] == "encoder-prepare":
        return encoder_prepare_worker(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=parse_models,
                    help="comma-separated models: image towers fastvithd, mci0, mci1, mci2; "
                         "baseline encoders vit-b16, vit-l14-336, siglip, convnext-l (smoke: "
                         "vit-tiny, siglip-tiny, convnext-tiny); "
                         "LLMs qwen2-0.5b, qwen2-1.5b, qwen2-tiny, vicuna-tiny. Without "
                         "--model, --res and --tokens: the issue's image set (FastViTHD "
                         "256/512/1024, MCi0 256); the issue's LLM set is --model "
                         "qwen2-0.5b,qwen2-1.5b (280 tokens)")
    ap.add_argument("--res", type=parse_res,
                    help="image towers: comma-separated sizes, R or HxW (default per model: "
                         "fastvithd 256,512,1024; mci* 256; encoders their native size: "
                         "vit-b16 224, vit-l14-336 336, siglip 384, convnext-l 768)")
    ap.add_argument("--tokens", type=parse_int_list,
                    help="LLMs: comma-separated prefill lengths (default 280)")
    ap.add_argument("--threads", type=parse_int_list, default=[1, 2],
                    help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--reps", type=int, default=5,
                    help="timed repetitions per implementation per round (default 5)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed passes per implementation per round (default 1)")
    ap.add_argument("--torch-warmup", type=int,
                    help="untimed passes of the torch worker per round (default: --warmup)")
    ap.add_argument("--torch-reps", type=int,
                    help="timed repetitions of the torch worker per round (default: --reps); "
                         "Debian's torch runs ViT matmuls through the reference BLAS")
    ap.add_argument("--torch-rounds", type=int,
                    help="run torch in the first K rounds only (default: every round); for "
                         "models where one torch pass takes minutes")
    ap.add_argument("--max-time", type=float, default=600.0,
                    help="seconds of timed passes after which an implementation (each torch "
                         "variant) stops a round early, keeping >= 1 sample (default 600, "
                         "vlmbench's --max-time)")
    ap.add_argument("--out", default="/tmp/vlm_peers", help="output folder (default /tmp/vlm_peers)")
    ap.add_argument("--vlmbench", default=os.path.join(ROOT, "build", "vlmbench"),
                    help="our engine's binary (default: <repo>/build/vlmbench)")
    ap.add_argument("--node", default="node", help="Node.js executable (default: node)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed (input uses seed + 1)")
    ap.add_argument("--ref-dtype", choices=("f64", "f32"), default="f64",
                    help="compute precision of the reference output (default f64, from the "
                         "same f32 weights and input)")
    ap.add_argument("--opset", type=int, default=14,
                    help="ONNX opset of the image towers (default 14; LLMs: qwen2_ref's 14)")
    ap.add_argument("--torch-variants",
                    help="image towers: torch variants timed, the fastest reported (default "
                         "contiguous,channels_last; ViT/SigLIP contiguous; opt-in: frozen = "
                         "torch.jit.trace + freeze + optimize_for_inference, which sends every "
                         "conv to oneDNN). LLMs: eager only")
    a = ap.parse_args(argv)
    for v in (a.torch_variants.split(",") if a.torch_variants else []):
        if v not in TORCH_VARIANTS:
            ap.error(f"unknown --torch-variants entry '{v}' (one of {', '.join(TORCH_VARIANTS)})")
    if a.rounds < 1 or a.reps < 1 or a.warmup < 0 or a.max_time <= 0:
        ap.error("--rounds and --reps must be >= 1, --warmup >= 0, --max-time > 0")
    a.torch_warmup = a.warmup if a.torch_warmup is None else a.torch_warmup
    a.torch_reps = a.reps if a.torch_reps is None else a.torch_reps
    if a.torch_reps < 1:
        ap.error("--torch-reps must be >= 1")
    a.torch_rounds = a.rounds if a.torch_rounds is None else min(a.torch_rounds, a.rounds)
    if a.torch_warmup < 0 or a.torch_rounds < 0:
        ap.error("--torch-warmup and --torch-rounds must be >= 0")
    configs = configs_from_args(a)
    if a.res is not None and not any(c["kind"] == "vision" for c in configs):
        ap.error("--res applies to image towers; LLMs take --tokens")
    if a.tokens is not None and not any(c["kind"] == "llm" for c in configs):
        ap.error("--tokens applies to LLMs; image towers take --res")
    a.vlmbench = os.path.abspath(a.vlmbench)
    if not os.access(a.vlmbench, os.X_OK):
        ap.error(f"{a.vlmbench} is not an executable; build it with "
                 f"`cmake --workflow --preset default` or pass --vlmbench")
    if shutil.which(a.node) is None:
        ap.error(f"Node.js '{a.node}' not found")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        ap.error(f"onnxruntime-node is not installed: run `npm ci --prefix {HERE}`")

    os.makedirs(a.out, exist_ok=True)
    out_json = os.path.join(a.out, "compare.json")
    env_json, _ = run_json([a.vlmbench, "env", "--json"], child_env(max(a.threads)),
                           "vlmbench env")
    report = {
        "tool": "bench/peers/compare.py",
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "args": {"configs": [cfg_id(c) for c in configs], "threads": a.threads,
                 "rounds": a.rounds, "reps": a.reps, "warmup": a.warmup,
                 "torch_warmup": a.torch_warmup, "torch_rounds": a.torch_rounds,
                 "torch_reps": a.torch_reps,
                 "max_time_s": a.max_time, "seed": a.seed,
                 "ref_dtype": a.ref_dtype, "opset": a.opset, "out": a.out,
                 "torch_variants": (a.torch_variants.split(",") if a.torch_variants else
                                    {cfg_id(c): default_torch_variants(c["model"]).split(",")
                                     for c in configs if c["kind"] == "vision"}),
                 "vlmbench": a.vlmbench, "node": a.node},
        "omp_env": dict(OMP_ENV, OMP_NUM_THREADS="T (per row)"),
        "order": "for each config: for each thread count: for each round: engine, ort, "
                 "torch (each a fresh process)",
        "versions": versions(a),
        "env": env_json,
        "loadavg_before": loadavg(),
        "results": [],
        "prepare_failures": [],
    }
    log(f"{len(configs)} config(s) x threads {a.threads}, {a.rounds} round(s) x {a.reps} rep(s); "
        f"writing {out_json}")

    def save():
        report["loadavg_after"] = loadavg()
        with open(out_json, "w") as f:          # rewritten after every row
            json.dump(report, f, indent=1)

    failed = False
    for c in configs:
        d = cfg_dir(a.out, c)
        try:
            if c["kind"] == "llm":
                files, prep = prepare_llm(a, c["model"], c["tokens"], d, max(a.threads))
            elif is_encoder(c["model"]):
                files, prep = prepare_encoder(a, c["model"], c["height"], c["width"], d,
                                              max(a.threads))
            else:
                files, prep = prepare(c["model"], c["height"], c["width"], a.seed, a.ref_dtype,
                                      a.opset, d, max(a.threads))
        except Exception as e:          # e.g. a killed preparation: the next config still runs
            log(f"{cfg_label(c)}: preparation FAILED: {e}")
            report["prepare_failures"].append({"config": cfg_id(c), "error": str(e)})
            failed = True
            save()
            continue
        for t in a.threads:
            row = measure_row(a, c, files, prep, t, d)
            failed |= any(row["impl"][k]["errors"] for k in IMPLS)
            report["results"].append(row)
            save()
            for k in IMPLS:
                for e in row["impl"][k]["errors"]:
                    log(f"{k} FAILED: {e}")

    report["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    save()
    print(markdown(report))
    print(f"\nloadavg before {report['loadavg_before']}, after {report['loadavg_after']}; "
          f"full data: {out_json}")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
