#!/usr/bin/env node
// Greedy decoding in ONNX Runtime (onnxruntime-node, CPU) of a decoder with Optimum's
// past_key_values.N.key/value inputs and present.N.* outputs: the peer of `softquant bench
// --decode`. Prefills --prompt-len token ids (seeded, below 256), then --decode steps of one
// token each, feeding the presents back; prints {"decode_tokens_per_s", "prefill_ms"} as JSON on
// the last line (median over --repeat generations after one warm-up), with "tokens": prompt
// plus generated ids of the last generation.
//   node decode_ort.js MODEL.onnx --heads H --head-dim D [--prompt-len 128] [--decode 128]
//                      [--threads 2] [--repeat 3]
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const args = process.argv.slice(2);
  const opt = { promptLen: 128, decode: 128, threads: 2, repeat: 3, heads: 0, headDim: 0 };
  let model = null;
  for (let i = 0; i < args.length; ++i) {
    const a = args[i];
    if (a === '--prompt-len') opt.promptLen = Number(args[++i]);
    else if (a === '--decode') opt.decode = Number(args[++i]);
    else if (a === '--threads') opt.threads = Number(args[++i]);
    else if (a === '--repeat') opt.repeat = Number(args[++i]);
    else if (a === '--heads') opt.heads = Number(args[++i]);
    else if (a === '--head-dim') opt.headDim = Number(args[++i]);
    else model = a;
  }
  if (!model || !opt.heads || !opt.headDim) throw new Error('usage: decode_ort.js MODEL.onnx --heads H --head-dim D [...]');
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: opt.threads, interOpNumThreads: 1, executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
  });
  const pastNames = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  if (!pastNames.length) throw new Error(`${model}: no past_key_values inputs`);
  let seed = 1;
  const prompt = [];
  for (let i = 0; i < opt.promptLen; ++i) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    prompt.push(BigInt(seed % 256));
  }

  async function generate() {
    const tokens = prompt.slice();
    let past = {};
    for (const n of pastNames) past[n] = new ort.Tensor('float32', new Float32Array(0), [1, opt.heads, 0, opt.headDim]);
    let prefillMs = 0;
    const t0 = process.hrtime.bigint();
    let tDecode = t0;
    for (let step = 0; step <= opt.decode; ++step) {
      const from = step === 0 ? 0 : tokens.length - 1;
      const ids = BigInt64Array.from(tokens.slice(from));
      const feeds = {
        input_ids: new ort.Tensor('int64', ids, [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(tokens.length).fill(1n), [1, tokens.length]),
        ...past,
      };
      if (session.inputNames.includes('position_ids')) {
        const pos = new BigInt64Array(ids.length);
        for (let i = 0; i < ids.length; ++i) pos[i] = BigInt(from + i);
        feeds.position_ids = new ort.Tensor('int64', pos, [1, ids.length]);
      }
      const out = await session.run(feeds);
      const logits = out.logits || out[session.outputNames[0]];
      const vocab = logits.dims[2], rows = logits.dims[1];
      let best = 0;
      const base = (rows - 1) * vocab;
      for (let v = 1; v < vocab; ++v) if (logits.data[base + v] > logits.data[base + best]) best = v;
      tokens.push(BigInt(best));
      past = {};
      for (const n of pastNames) past[n] = out[n.replace('past_key_values.', 'present.')];
      if (step === 0) {
        tDecode = process.hrtime.bigint();
        prefillMs = Number(tDecode - t0) / 1e6;
      }
    }
    const decodeMs = Number(process.hrtime.bigint() - tDecode) / 1e6;
    return { tps: opt.decode * 1000 / decodeMs, prefillMs, tokens };
  }

  await generate();  // warm-up
  const runs = [];
  for (let r = 0; r < opt.repeat; ++r) runs.push(await generate());
  const tps = runs.map((x) => x.tps).sort((a, b) => a - b);
  const pre = runs.map((x) => x.prefillMs).sort((a, b) => a - b);
  console.log(JSON.stringify({ decode_tokens_per_s: tps[Math.floor(tps.length / 2)],
    prefill_ms: pre[Math.floor(pre.length / 2)], runs: opt.repeat,
    tokens: runs[runs.length - 1].tokens.map(Number) }));
}

main().catch((e) => {
  console.error(`decode_ort: error: ${String(e.message || e).split('\n')[0]}`);
  process.exit(1);
});
