#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU) on .npy inputs and writes every
// output as OUT_DIR/<name>.npy. SoftQuant's interop tests and benchmarks use it as the peer.
//   node run_ort.js MODEL.onnx --input NAME=FILE.npy [...] --output-dir DIR [--threads N]
//                   [--opt-level disabled|basic|extended|all] [--repeat N]  (benchmark: prints {"median_ms": ...} as JSON on the last line)
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array],
};
const DESCR = {
  float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', int8: '|i1', uint8: '|u1', bool: '|b1',
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim())
    .filter((s) => s.length).map(Number);
  const [type, Ctor] = DTYPES[descr] || [];
  if (!type) throw new Error(`${file}: unsupported dtype ${descr}`);
  const offset = start + headerLen;
  const bytes = buf.subarray(offset);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  let data = new Ctor(copy.buffer, 0, shape.reduce((a, b) => a * b, 1));
  if (type === 'bool') data = Uint8Array.from(data);
  return new ort.Tensor(type, data, shape);
}

function writeNpy(file, tensor) {
  const descr = DESCR[tensor.type];
  if (!descr) throw new Error(`output type ${tensor.type} not supported`);
  const dims = tensor.dims;
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const data = tensor.type === 'bool' ? Uint8Array.from(tensor.data, (b) => (b ? 1 : 0)) : tensor.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

async function main() {
  const args = process.argv.slice(2);
  let model = null, outDir = null, threads = 2, repeat = 0, optLevel = 'all';
  const feeds = {};
  for (let i = 0; i < args.length; ++i) {
    const a = args[i];
    if (a === '--input') {
      const spec = args[++i];
      const eq = spec.indexOf('=');
      feeds[spec.slice(0, eq)] = readNpy(spec.slice(eq + 1));
    } else if (a === '--output-dir') outDir = args[++i];
    else if (a === '--threads') threads = Number(args[++i]);
    else if (a === '--repeat') repeat = Number(args[++i]);
    else if (a === '--opt-level') optLevel = args[++i];
    else model = a;
  }
  if (!model) throw new Error('usage: run_ort.js MODEL.onnx --input NAME=FILE.npy ... --output-dir DIR');
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'],
    graphOptimizationLevel: optLevel,
  });
  let outputs = await session.run(feeds);
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    for (const [name, t] of Object.entries(outputs)) writeNpy(path.join(outDir, `${name.replace(/[/\\]/g, '_')}.npy`), t);
  }
  if (repeat > 0) {
    const times = [];
    for (let r = 0; r < repeat; ++r) {
      const t0 = process.hrtime.bigint();
      outputs = await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], runs: repeat }));
  }
}

main().catch((e) => {
  console.error(`run_ort: error: ${String(e.message || e).split('\n')[0]}`);
  process.exit(1);
});
