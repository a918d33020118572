#!/usr/bin/python3
"""Side-by-side latency of one FastViT-family image tower in three implementations.

    /usr/bin/python3 bench/peers/compare.py [--model fastvithd,mci0] [--res 256,512,1024]
        [--threads 1,2] [--rounds 3] [--reps 5] [--out /tmp/vlm_peers]

  engine  our vlmbench binary (`vlmbench bench --json`, accuracy with `vlmbench infer`)
  ort     ONNX Runtime, npm onnxruntime-node, CPU EP (bench/peers/ort_bench.mjs)
  torch   Debian's PyTorch (this interpreter), tests/torch/fastvit_ref.py in inference form,
          float32, no_grad; contiguous and channels_last are both timed and the faster
          (lower median) is reported

For every (model, res) the network is built once with a fixed seed (fastvit_ref.py: seeded
training-form weights, rounded to f32, folded to inference form) and written to
OUT/<model>_<H>x<W>/: weights.safetensors (timm names, inference form, F32), model.onnx
(exported at that size), input.npy ([1,3,H,W] float32 in [0,1]) and expected.npy (the
reference forward on those weights, [h*w, 2C] float32; float64 compute by default). The three
implementations therefore run the same network, weights and thread count. For every thread
count and every round the three run one after another (engine, ort, torch; engine, ort,
torch; ...), each in a fresh process with OMP_PROC_BIND=close OMP_PLACES=cores
OMP_NUM_THREADS=T; every timed sample is kept. Medians and minima are over all samples of all
rounds. GFLOP/s = 2 * MACs / median, with the MACs vlmbench reports (convolutions, linears,
QK^T and AV). Accuracy: max |out - expected| / max |expected| per implementation.

Writes OUT/compare.json (every sample, versions, `vlmbench env --json`, load averages) and
prints a markdown table. Peers are context for our engine, not part of the product.
"""

import argparse
import copy
import datetime
import gc
import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF_PY = os.path.join(ROOT, "tests", "torch", "fastvit_ref.py")

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

MODELS = ("fastvithd", "mci0", "mci1", "mci2")
# the issue's configuration set
DEFAULT_SET = [("fastvithd", 256, 256), ("fastvithd", 512, 512), ("fastvithd", 1024, 1024),
               ("mci0", 256, 256)]
DEFAULT_RES = {"fastvithd": [256, 512, 1024], "mci0": [256], "mci1": [256], "mci2": [256]}
IMPLS = ("engine", "ort", "torch")
PREP_VERSION = 1


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


def run_json(cmd, env, what):
    """Run a child, return its stdout parsed as JSON; raise with its stderr on failure."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {p.returncode}): {' '.join(cmd)}\n"
                           f"{p.stderr.strip()[-2000:]}")
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{what}: no JSON on stdout ({e}): {p.stdout[:500]!r}\n"
                           f"{p.stderr.strip()[-2000:]}")


def tokens_f(fmap):
    """[1, C, h, w] -> contiguous [h*w, C] tokens (a view for channels_last, a copy otherwise)."""
    _, c, h, w = fmap.shape
    return fmap[0].permute(1, 2, 0).reshape(h * w, c).contiguous()


# --------------------------------------------------------------------------------------
# safetensors (F32) -> inference-form FastViTRef, for the torch worker
# --------------------------------------------------------------------------------------

def read_f32_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, v in header.items():
        if v["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {v['dtype']}, the peer benchmark writes F32")
        a, b = v["data_offsets"]
        out[name] = np.frombuffer(buf, dtype="<f4", count=(b - a) // 4,
                                  offset=base + a).reshape(v["shape"])
    return out


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
# torch worker: `compare.py torch-worker ...` (a fresh process per round, like the others)
# --------------------------------------------------------------------------------------

TORCH_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
TORCH_VARIANTS = ("contiguous", "channels_last", "frozen")
TORCH_TAGS = {"contiguous": "", "channels_last": " (cl)", "frozen": " (jit)"}


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
    ap.add_argument("--formats", default="contiguous,channels_last")
    ap.add_argument("--max-time", type=float, default=600.0)
    a = ap.parse_args(argv)
    for fmt in a.formats.split(","):
        if fmt not in TORCH_VARIANTS:
            ap.error(f"unknown torch variant '{fmt}' (one of {', '.join(TORCH_VARIANTS)})")

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    t0 = time.perf_counter()
    model = load_folded_model(a.model, a.weights)
    load_ms = (time.perf_counter() - t0) * 1e3
    x = torch.from_numpy(np.load(a.input).astype(np.float32, copy=False))
    exp = np.load(a.expected) if a.expected else None

    res = {"runtime": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
           "interop_threads": torch.get_num_interop_threads(), "load_ms": load_ms,
           "warmup": a.warmup, "reps": a.reps, "formats": {}}
    with torch.no_grad():
        for fmt in a.formats.split(","):
            t0 = time.perf_counter()
            if fmt == "frozen":
                model = model.to(memory_format=torch.contiguous_format)
                xf = x.contiguous()
                fn = torch.jit.optimize_for_inference(
                    torch.jit.freeze(torch.jit.trace(_Tokens(model).eval(), xf)))
            else:
                mf = TORCH_FORMATS[fmt]
                model = model.to(memory_format=mf)     # 4-D parameters change layout in place
                xf = x.contiguous(memory_format=mf)
                fn = _Tokens(model)
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
    print(json.dumps(res))
    return 0


# --------------------------------------------------------------------------------------
# preparation: weights, onnx, input, expected output
# --------------------------------------------------------------------------------------

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
    if all(os.path.exists(p) for p in files.values()) and os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        if old.get("key") == key:
            log(f"{model_name} {h}x{w}: reusing {d}")
            return files, old
    for p in list(files.values()) + [meta_path]:
        if os.path.exists(p):
            os.remove(p)

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
# one run of each implementation
# --------------------------------------------------------------------------------------

def run_engine(a, model_name, h, w, files, threads):
    cmd = [a.vlmbench, "bench", "--model", model_name, "--res", f"{h}x{w}",
           "--weights", files["weights"], "--threads", str(threads), "--json",
           "--warmup", str(a.warmup), "--min-reps", str(a.reps), "--min-time", "0",
           "--max-time", f"{a.max_time:g}"]
    j = run_json(cmd, child_env(threads), "vlmbench bench")
    vm = j["vision_ms"]
    return {"samples": list(vm["samples"]), "median": vm["median"], "min": vm["min"],
            "macs": j["macs"], "gflops": j.get("gflops"), "build_ms": j.get("build_ms"),
            "threads": j.get("threads"), "tokens": j.get("tokens"),
            "feature_dim": j.get("feature_dim")}


def engine_accuracy(a, model_name, files, threads, d):
    out = os.path.join(d, f"engine_out_t{threads}.npy")
    cmd = [a.vlmbench, "infer", "--model", model_name, "--weights", files["weights"],
           "--input", files["input"], "--output", out, "--threads", str(threads)]
    p = subprocess.run(cmd, env=child_env(threads), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"vlmbench infer failed (exit {p.returncode}): {p.stderr.strip()}")
    y = np.load(out)
    exp = np.load(files["expected"])
    if tuple(y.shape) != tuple(exp.shape):
        raise RuntimeError(f"vlmbench infer: output shape {list(y.shape)}, "
                           f"expected {list(exp.shape)}")
    return max_rel_err(y, exp)


def run_ort(a, files, threads):
    cmd = [a.node, os.path.join(HERE, "ort_bench.mjs"), "--model", files["onnx"],
           "--input", files["input"], "--expected", files["expected"],
           "--threads", str(threads), "--warmup", str(a.warmup), "--reps", str(a.reps),
           "--max-time", f"{a.max_time:g}"]
    return run_json(cmd, child_env(threads), "ort_bench.mjs")


def run_torch(a, model_name, files, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "torch-worker", "--model", model_name,
           "--weights", files["weights"], "--input", files["input"],
           "--expected", files["expected"], "--threads", str(threads),
           "--warmup", str(a.warmup), "--reps", str(a.reps), "--formats", a.torch_variants,
           "--max-time", f"{a.max_time:g}"]
    return run_json(cmd, child_env(threads), "torch worker")


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------

def configs_from_args(a):
    if a.model is None and a.res is None:
        return list(DEFAULT_SET)
    models = a.model or ["fastvithd", "mci0"]
    out = []
    for m in models:
        for h, w in (a.res or [(r, r) for r in DEFAULT_RES[m]]):
            out.append((m, h, w))
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
    e = row["impl"]["engine"]["median"]
    for impl in ("ort", "torch"):
        m = row["impl"][impl]["median"]
        row[f"ratio_{impl}_engine"] = (m / e) if (m and e) else None


def fmt_num(v, spec):
    return "—" if v is None else format(v, spec)


def fmt_err(v):
    return "—" if v is None else f"{v:.1e}"


def markdown(report):
    a = report["args"]
    lines = [
        f"Peers vs engine: {a['rounds']} round(s) x {a['reps']} rep(s) per implementation per "
        f"thread count, interleaved engine -> ORT -> torch; medians and minima over all samples; "
        f"OMP_PROC_BIND=close OMP_PLACES=cores OMP_NUM_THREADS=T for all three; "
        f"ORT {report['versions'].get('onnxruntime_node')} (intra T, inter 1, opt all, "
        f"sequential); torch {report['versions'].get('torch')} f32 no_grad, best of "
        f"{'/'.join(a['torch_variants'])} (cl = channels_last"
        f"{', jit = frozen' if 'frozen' in a['torch_variants'] else ''}); "
        f"ratio > 1 = our engine faster; err = max rel error "
        f"vs the {a['ref_dtype']} reference output.",
        "",
        "| model | res | thr | engine ms med / min | ORT ms med / min | torch ms med / min "
        "| GFLOP/s engine / ORT / torch | ORT/engine | torch/engine | err engine / ORT / torch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        i = r["impl"]
        tf = i["torch"].get("best_format")
        tag = TORCH_TAGS.get(tf, "")
        lines.append(
            f"| {r['model']} | {r['height']}x{r['width']} | {r['threads']} "
            f"| {fmt_num(i['engine']['median'], '.2f')} / {fmt_num(i['engine']['min'], '.2f')} "
            f"| {fmt_num(i['ort']['median'], '.2f')} / {fmt_num(i['ort']['min'], '.2f')} "
            f"| {fmt_num(i['torch']['median'], '.2f')} / {fmt_num(i['torch']['min'], '.2f')}{tag} "
            f"| {fmt_num(i['engine']['gflops'], '.1f')} / {fmt_num(i['ort']['gflops'], '.1f')} / "
            f"{fmt_num(i['torch']['gflops'], '.1f')} "
            f"| {fmt_num(r['ratio_ort_engine'], '.2f')} | {fmt_num(r['ratio_torch_engine'], '.2f')} "
            f"| {fmt_err(i['engine'].get('max_rel_err'))} / {fmt_err(i['ort'].get('max_rel_err'))} "
            f"/ {fmt_err(i['torch'].get('max_rel_err'))} |")
    errs = [f"- {r['model']} {r['height']}x{r['width']} t{r['threads']} {impl}: {e}"
            for r in report["results"] for impl in IMPLS for e in r["impl"][impl]["errors"]]
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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "torch-worker":
        return torch_worker(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=parse_models,
                    help="comma-separated models (fastvithd, mci0, mci1, mci2); without --model "
                         "and --res: the issue's set (FastViTHD 256/512/1024, MCi0 256)")
    ap.add_argument("--res", type=parse_res,
                    help="comma-separated sizes, R or HxW (default per model: fastvithd "
                         "256,512,1024; mci* 256)")
    ap.add_argument("--threads", type=parse_int_list, default=[1, 2],
                    help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--reps", type=int, default=5,
                    help="timed repetitions per implementation per round (default 5)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed passes per implementation per round (default 1)")
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
    ap.add_argument("--opset", type=int, default=14, help="ONNX opset (default 14)")
    ap.add_argument("--torch-variants", default="contiguous,channels_last",
                    help="torch variants timed, the fastest reported (default "
                         "contiguous,channels_last; opt-in: frozen = torch.jit.trace + freeze + "
                         "optimize_for_inference, which sends every conv to oneDNN)")
    a = ap.parse_args(argv)
    for v in a.torch_variants.split(","):
        if v not in TORCH_VARIANTS:
            ap.error(f"unknown --torch-variants entry '{v}' (one of {', '.join(TORCH_VARIANTS)})")
    if a.rounds < 1 or a.reps < 1 or a.warmup < 0 or a.max_time <= 0:
        ap.error("--rounds and --reps must be >= 1, --warmup >= 0, --max-time > 0")
    a.vlmbench = os.path.abspath(a.vlmbench)
    if not os.access(a.vlmbench, os.X_OK):
        ap.error(f"{a.vlmbench} is not an executable; build it with "
                 f"`cmake --workflow --preset default` or pass --vlmbench")
    if shutil.which(a.node) is None:
        ap.error(f"Node.js '{a.node}' not found")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        ap.error(f"onnxruntime-node is not installed: run `npm ci --prefix {HERE}`")

    configs = configs_from_args(a)
    os.makedirs(a.out, exist_ok=True)
    out_json = os.path.join(a.out, "compare.json")
    env_json = run_json([a.vlmbench, "env", "--json"], child_env(max(a.threads)),
                        "vlmbench env")
    report = {
        "tool": "bench/peers/compare.py",
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "args": {"configs": [f"{m}@{h}x{w}" for m, h, w in configs], "threads": a.threads,
                 "rounds": a.rounds, "reps": a.reps, "warmup": a.warmup,
                 "max_time_s": a.max_time, "seed": a.seed,
                 "ref_dtype": a.ref_dtype, "opset": a.opset, "out": a.out,
                 "torch_variants": a.torch_variants.split(","),
                 "vlmbench": a.vlmbench, "node": a.node},
        "omp_env": dict(OMP_ENV, OMP_NUM_THREADS="T (per row)"),
        "order": "for each (model, res): for each thread count: for each round: engine, ort, "
                 "torch (each a fresh process)",
        "versions": versions(a),
        "env": env_json,
        "loadavg_before": loadavg(),
        "results": [],
    }
    log(f"{len(configs)} config(s) x threads {a.threads}, {a.rounds} round(s) x {a.reps} rep(s); "
        f"writing {out_json}")

    failed = False
    for model_name, h, w in configs:
        d = os.path.join(a.out, f"{model_name}_{h}x{w}")
        files, prep = prepare(model_name, h, w, a.seed, a.ref_dtype, a.opset, d, max(a.threads))
        for t in a.threads:
            row = {"model": model_name, "height": h, "width": w, "threads": t, "dir": d,
                   "prepare": prep, "loadavg_before": loadavg(), "rounds": [],
                   "impl": {"engine": {"samples": [], "errors": []},
                            "ort": {"samples": [], "errors": [], "rel_errs": []},
                            "torch": {"formats": {}, "errors": []}}}
            imp = row["impl"]
            try:
                imp["engine"]["max_rel_err"] = engine_accuracy(a, model_name, files, t, d)
            except Exception as e:
                imp["engine"]["errors"].append(f"infer: {e}")
            for rnd in range(a.rounds):
                log(f"{model_name} {h}x{w} t{t} round {rnd + 1}/{a.rounds}")
                rr = {"round": rnd + 1}
                try:
                    r = run_engine(a, model_name, h, w, files, t)
                    imp["engine"]["samples"] += r["samples"]
                    row["macs"] = r["macs"]
                    row["tokens"], row["feature_dim"] = r["tokens"], r["feature_dim"]
                    rr["engine"] = {k: r[k] for k in ("median", "min", "build_ms", "samples")}
                except Exception as e:
                    imp["engine"]["errors"].append(str(e))
                if prep.get("onnx_error"):
                    if rnd == 0:
                        imp["ort"]["errors"].append(f"no ONNX model: {prep['onnx_error']}")
                else:
                    try:
                        r = run_ort(a, files, t)
                        imp["ort"]["samples"] += r["samples"]
                        imp["ort"]["rel_errs"].append(r.get("max_rel_err"))
                        rr["ort"] = {k: r.get(k) for k in ("median", "min", "session_create_ms",
                                                            "samples", "max_rel_err")}
                    except Exception as e:
                        imp["ort"]["errors"].append(str(e))
                try:
                    r = run_torch(a, model_name, files, t)
                    rr["torch"] = r
                    for fmt, fs in r["formats"].items():
                        agg = imp["torch"]["formats"].setdefault(
                            fmt, {"samples": [], "rel_errs": []})
                        agg["samples"] += fs["samples"]
                        if fs.get("max_rel_err") is not None:
                            agg["rel_errs"].append(fs["max_rel_err"])
                except Exception as e:
                    imp["torch"]["errors"].append(str(e))
                row["rounds"].append(rr)
            ort_errs = [v for v in imp["ort"].pop("rel_errs") if v is not None]
            imp["ort"]["max_rel_err"] = max(ort_errs) if ort_errs else None
            summarize(row)
            row["loadavg_after"] = loadavg()
            failed |= any(imp[k]["errors"] for k in IMPLS)
            report["results"].append(row)
            report["loadavg_after"] = loadavg()
            with open(out_json, "w") as f:      # rewritten after every row
                json.dump(report, f, indent=1)
            for k in IMPLS:
                for e in imp[k]["errors"]:
                    log(f"{k} FAILED: {e}")

    report["loadavg_after"] = loadavg()
    report["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    with open(out_json, "w") as f:
        json.dump(report, f, indent=1)
    print(markdown(report))
    print(f"\nloadavg before {report['loadavg_before']}, after {report['loadavg_after']}; "
          f"full data: {out_json}")
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
