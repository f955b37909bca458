// GPT-2's own byte-level BPE encoder (npm gpt-3-encoder, a port of openai/gpt-2's encoder.py)
// as the reference for SoftQuant's tokenizer tests.
// Usage: node gpt2_encode.js STRINGS.json
//   STRINGS.json holds a JSON array of strings; prints a JSON array with one array of token ids
//   per string, on one line.
'use strict';
const fs = require('fs');
const { encode } = require('gpt-3-encoder');

if (process.argv.length !== 3) {
  process.stderr.write('usage: node gpt2_encode.js STRINGS.json\n');
  process.exit(2);
}
const strings = JSON.parse(fs.readFileSync(process.argv[2], 'utf-8'));
if (!Array.isArray(strings) || !strings.every((s) => typeof s === 'string')) {
  process.stderr.write(`${process.argv[2]}: expected a JSON array of strings\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(strings.map((s) => encode(s))) + '\n');
