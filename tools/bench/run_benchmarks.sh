#!/usr/bin/env bash
# Side-by-side benchmark, in one run on one machine: OPT-125M prefill (128 and 512 tokens), OPT-125M
# greedy decoding (128-token prompt, then 128 steps of one token: case "decode") and
# SD v1.5 spatial-transformer blocks (320 ch at 64x64 = 4096 tokens, 640 ch at 32x32 = 1024
# tokens), each on our FP32 engine, our int8 engine, ONNX Runtime FP32 and ONNX Runtime running
# our QDQ graph (onnxruntime-node, same thread count). Prints a table of median latencies and the
# ratios the project tracks; raw JSON lines go to $OUT/results.jsonl.
#
# Models have synthetic weights (`softquant models build`), quantized W8A8 with an 8-bit softmax
# and per-length bias correction on 2 calibration samples; latency does not depend on the weights.
#
# Decoding: ours on the graph with Optimum past_key_values I/O (fp32: float cache; int8: uint8
# cache on the graph's own quantizer grid) and on the plain QDQ graph (int8: the runtime's own
# int8 KV cache), ONNX Runtime on the past_key_values graph, FP32 and QDQ (decode_ort.js).
#
# Environment: BUILD_DIR [build], OUT [out/bench], THREADS [2], REPEAT [5],
#   CASES ["opt128 opt512 sd320 sd640 decode"] to run a subset.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
OUT="${OUT:-out/bench}"
THREADS="${THREADS:-2}"
REPEAT="${REPEAT:-5}"
CASES="${CASES:-opt128 opt512 sd320 sd640 decode}"
SQ="$BUILD_DIR/tools/softquant"
ORT="node tools/interop/run_ort.js"
[[ -x $SQ ]] || { echo "run_benchmarks: build softquant first ($SQ missing)" >&2; exit 1; }
[[ -d tools/interop/node_modules/onnxruntime-node ]] ||
  { echo "run_benchmarks: run tools/setup.sh first (onnxruntime-node missing)" >&2; exit 1; }
mkdir -p "$OUT"
: > "$OUT/results.jsonl"

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads $THREADS, $REPEAT timed runs each"

json_field() { sed -n "s/.*\"$1\": *\([0-9.e+-]*\).*/\1/p" | tail -n 1; }

# prepare NAME: writes $OUT/NAME.onnx (FP32), $OUT/NAME.qdq.onnx and $OUT/NAME.in/ (inputs).
prepare() {
  local name=$1 d="$OUT/$1"
  [[ -f $d.qdq.onnx ]] && return
  case $name in
    opt*)
      local seq=${name#opt}
      [[ -f $OUT/opt125m.onnx ]] || "$SQ" models build opt --config opt-125m -o "$OUT/opt125m.onnx" >/dev/null
      cp "$OUT/opt125m.onnx" "$d.onnx"
      "$SQ" models inputs opt --seq "$seq" -o "$d.in" >/dev/null
      "$SQ" models inputs opt --seq "$seq" --seed 1 -o "$d.calib/s0" >/dev/null
      "$SQ" models inputs opt --seq "$seq" --seed 2 -o "$d.calib/s1" >/dev/null ;;
    sd320|sd640)
      local c=${name#sd} s=64
      [[ $c == 640 ]] && s=32
      "$SQ" models build sd-attn --channels "$c" --size "$s" -o "$d.onnx" >/dev/null
      "$SQ" models inputs sd-attn --channels "$c" --size "$s" -o "$d.in" >/dev/null
      "$SQ" models inputs sd-attn --channels "$c" --size "$s" --seed 1 -o "$d.calib/s0" >/dev/null
      "$SQ" models inputs sd-attn --channels "$c" --size "$s" --seed 2 -o "$d.calib/s1" >/dev/null ;;
  esac
  "$SQ" quantize "$d.onnx" --calib "inputs:$d.calib" --softmax-bc length -o "$d.qdq.onnx" \
    --threads "$THREADS" >/dev/null 2>&1
}

ours() {  # model engine inputs -> median ms
  "$SQ" bench "$1" --engine "$2" --inputs "$3" --repeat "$REPEAT" --threads "$THREADS" --json \
    2>/dev/null | tee -a "$OUT/results.jsonl" | json_field median_ms
}
theirs() {  # model inputs -> median ms
  local args=()
  for f in "$2"/*.npy; do args+=(--input "$(basename "$f" .npy)=$f"); done
  $ORT "$1" "${args[@]}" --threads "$THREADS" --repeat "$REPEAT" | tee -a "$OUT/results.jsonl" |
    json_field median_ms
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# decode: greedy decoding of OPT-125M, 128-token prompt + 128 steps, decode tokens/s.
decode_case() {
  local d="$OUT/decode" opt=(--seq 128 --decode 128 --repeat "$REPEAT" --threads "$THREADS" --json)
  [[ -f $OUT/opt125m.onnx ]] || "$SQ" models build opt --config opt-125m -o "$OUT/opt125m.onnx" >/dev/null
  if [[ ! -f $d.kv.qdq.onnx ]]; then
    "$SQ" models build opt --config opt-125m --kv-cache -o "$d.kv.onnx" >/dev/null
    for s in 1 2; do
      "$SQ" models inputs opt --seq 128 --seed "$s" -o "$d.calib/s$s" >/dev/null
      "$SQ" models inputs opt --seq 128 --seed "$s" --kv-cache opt-125m -o "$d.kvcalib/s$s" >/dev/null
    done
    "$SQ" quantize "$OUT/opt125m.onnx" --calib "inputs:$d.calib" --softmax-bc length \
      -o "$d.qdq.onnx" --threads "$THREADS" >/dev/null 2>&1
    "$SQ" quantize "$d.kv.onnx" --calib "inputs:$d.kvcalib" --softmax-bc length \
      -o "$d.kv.qdq.onnx" --threads "$THREADS" >/dev/null 2>&1
  fi
  tps() { tee -a "$OUT/results.jsonl" | json_field decode_tokens_per_s; }
  local f i ik of oq
  f=$("$SQ" bench "$d.kv.onnx" --engine fp32 "${opt[@]}" 2>/dev/null | tps)
  i=$("$SQ" bench "$d.qdq.onnx" --engine int8 "${opt[@]}" 2>/dev/null | tps)
  ik=$("$SQ" bench "$d.kv.qdq.onnx" --engine int8 "${opt[@]}" 2>/dev/null | tps)
  local ort=(node tools/interop/decode_ort.js --heads 12 --head-dim 64 --prompt-len 128 --decode 128
             --repeat "$REPEAT" --threads "$THREADS")
  of=$("${ort[@]}" "$d.kv.onnx" | tps)
  oq=$("${ort[@]}" "$d.kv.qdq.onnx" | tps)
  echo
  echo "decode (OPT-125M, 128-token prompt, 128 steps), tokens/s: our fp32 (graph cache) $f," \
    "our int8 (runtime int8 cache) $i, our int8 (graph uint8 cache) $ik, ORT fp32 $of, ORT qdq $oq"
  echo "  int8/fp32 $(ratio "$i" "$f"), int8/ORT-qdq $(ratio "$i" "$oq"), int8/ORT-fp32 $(ratio "$i" "$of")"
  "$SQ" bench "$d.qdq.onnx" --engine int8 --seq 128 --decode 128 --repeat "$REPEAT" \
    --threads "$THREADS" 2>/dev/null | sed -n 's/^a decode step/  a decode step/p'
}

printf '\n%-8s %12s %12s %12s %12s | %10s %14s %12s\n' case "our fp32" "our int8" "ORT fp32" \
  "ORT qdq" "fp32/int8" "ORTqdq/int8" "ORTfp32/int8"
for c in $CASES; do
  [[ $c == decode ]] && continue
  prepare "$c"
  d="$OUT/$c"
  f=$(ours "$d.onnx" fp32 "$d.in")
  i=$(ours "$d.qdq.onnx" int8 "$d.in")
  of=$(theirs "$d.onnx" "$d.in")
  oq=$(theirs "$d.qdq.onnx" "$d.in")
  printf '%-8s %10.2fms %10.2fms %10.2fms %10.2fms | %10s %14s %12s\n' "$c" "$f" "$i" "$of" "$oq" \
    "$(ratio "$f" "$i")" "$(ratio "$oq" "$i")" "$(ratio "$of" "$i")"
done
[[ " $CASES " == *" decode "* ]] && decode_case
echo "raw results: $OUT/results.jsonl"
