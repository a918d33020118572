#!/usr/bin/env node
// Time one ONNX model with ONNX Runtime (npm onnxruntime-node, CPU execution provider).
//
//   node bench/peers/ort_bench.mjs --model model.onnx --input input.npy --threads T
//        [--warmup 1] [--reps 5] [--max-time S] [--expected expected.npy] [--output out.npy]
//        [--shape 1,3,H,W]   (the input's shape: required for a raw little-endian float32
//                             --input file; for a .npy, a reshape to the same element count,
//                             e.g. LLM embeddings [N, D] fed as inputs_embeds [1, N, D])
//
// Session: intraOpNumThreads = T, interOpNumThreads = 1, graphOptimizationLevel 'all',
// executionMode 'sequential'. Runs --warmup untimed passes, then --reps timed passes
// (process.hrtime.bigint around session.run; fewer, but at least one, once --max-time
// seconds of timed passes are spent) and prints one JSON object on stdout:
// every sample in ms, median, min, session creation time, and, with --expected, the max
// relative error of the output (max |out - exp| / max |exp|, the metric of
// tests/torch/fastvit_ref.py rel_err). Part of bench/peers: context, not part of vlmbench.

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'package.json'));
const ort = require('onnxruntime-node');

function usage(msg) {
  if (msg) process.stderr.write(`ort_bench: ${msg}\n`);
  process.stderr.write('usage: node ort_bench.mjs --model M.onnx --input X.npy|X.f32 --threads T ' +
    '[--warmup N] [--reps K] [--max-time S] [--expected E.npy] [--output O.npy] [--shape D0,D1,...]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { warmup: 1, reps: 5, threads: 1, maxTime: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--model': a.model = v; i++; break;
      case '--input': a.input = v; i++; break;
      case '--expected': a.expected = v; i++; break;
      case '--output': a.output = v; i++; break;
      case '--shape': a.shape = v.split(/[,x]/).map(Number); i++; break;
      case '--threads': a.threads = Number(v); i++; break;
      case '--warmup': a.warmup = Number(v); i++; break;
      case '--reps': a.reps = Number(v); i++; break;
      case '--max-time': a.maxTime = Number(v); i++; break;
      case '-h': case '--help': usage();
      default: usage(`unknown argument '${k}'`);
    }
  }
  if (!a.model || !a.input) usage('--model and --input are required');
  if (!(a.maxTime > 0)) usage('bad --max-time');
  for (const k of ['threads', 'warmup', 'reps'])
    if (!Number.isInteger(a[k]) || a[k] < (k === 'warmup' ? 0 : 1)) usage(`bad --${k}`);
  return a;
}

// .npy (v1/v2/v3), little-endian float32 ('<f4') or float64 ('<f8'), C order -> {shape, data}
function readNpy(path) {
  const buf = readFileSync(path);
  if (buf.readUInt32BE(0) !== 0x934e554d || buf.toString('latin1', 4, 6) !== 'PY')
    throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${path}: bad .npy header`);
  if (fortran === 'True') throw new Error(`${path}: Fortran-order arrays are not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = shape.reduce((p, d) => p * d, 1);
  const off = hstart + hlen;
  const itemsize = descr === '<f8' ? 8 : 4;
  if (buf.length - off < itemsize * count) throw new Error(`${path}: truncated data`);
  let data;
  if (descr === '<f4') {
    data = new Float32Array(count);
    new Uint8Array(data.buffer).set(buf.subarray(off, off + 4 * count));
  } else if (descr === '<f8') {
    const d64 = new Float64Array(count);
    new Uint8Array(d64.buffer).set(buf.subarray(off, off + 8 * count));
    data = Float32Array.from(d64);
  } else {
    throw new Error(`${path}: dtype ${descr} is not supported (want <f4 or <f8)`);
  }
  return { shape, data };
}

function writeNpy(path, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt32BE(0x934e554d, 0);
  pre.write('PY', 4, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function readInput(path, shape) {
  if (path.endsWith('.npy')) {
    const x = readNpy(path);
    if (!shape) return x;
    if (shape.reduce((p, d) => p * d, 1) !== x.data.length)
      throw new Error(`${path}: shape ${x.shape} (${x.data.length} values) cannot be viewed as ${shape}`);
    return { shape, data: x.data };
  }
  if (!shape) throw new Error(`${path}: a raw float32 input needs --shape`);
  const buf = readFileSync(path);
  const count = shape.reduce((p, d) => p * d, 1);
  if (buf.length !== 4 * count)
    throw new Error(`${path}: ${buf.length} bytes, shape ${shape} wants ${4 * count}`);
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(buf);
  return { shape, data };
}

function maxRelErr(out, exp) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < exp.length; i++) {
    const d = Math.abs(out[i] - exp[i]);
    if (!(d <= num)) num = d; // NaN-propagating max
    const e = Math.abs(exp[i]);
    if (e > den) den = e;
  }
  return num / Math.max(den, 1e-30);
}

function median(xs) {
  const s = [...xs].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const x = readInput(a.input, a.shape);
  const opts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  let t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, opts);
  const createMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const feeds = { [inName]: new ort.Tensor('float32', x.data, x.shape) };

  for (let i = 0; i < a.warmup; i++) await session.run(feeds);
  const samples = [];
  let out;
  const tStart = process.hrtime.bigint();
  for (let i = 0; i < a.reps; i++) {
    t0 = process.hrtime.bigint();
    const r = await session.run(feeds);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    out = r[outName];
    if (Number(process.hrtime.bigint() - tStart) / 1e9 >= a.maxTime) break;
  }
  const result = {
    runtime: 'onnxruntime-node',
    version: ort.env.versions?.node ?? null,
    node: process.version,
    model: a.model,
    input: a.input,
    input_shape: x.shape,
    output_shape: out.dims,
    threads: a.threads,
    session_options: opts,
    session_create_ms: createMs,
    warmup: a.warmup,
    reps: a.reps,
    max_time_s: Number.isFinite(a.maxTime) ? a.maxTime : null,
    samples,
    median: median(samples),
    min: Math.min(...samples),
  };
  if (a.expected) {
    const e = readNpy(a.expected);
    if (e.data.length !== out.data.length)
      throw new Error(`output has ${out.data.length} values (${out.dims}), ` +
                      `expected ${e.data.length} (${e.shape})`);
    result.max_rel_err = maxRelErr(out.data, e.data);
    result.expected = a.expected;
  }
  if (a.output) writeNpy(a.output, out.dims, out.data);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_bench: ${e.stack ?? e}\n`);
  process.exit(3);
});
