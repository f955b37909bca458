#!/usr/bin/env bash
# The README's main command: softmax bias correction on the bundled model, end to end.
# Builds softquant if needed; quantizes the bundled byte-level OPT (models/assets/opt-bytes) to
# W8A8 with an 8-bit softmax, without and with bias correction (QDQ ONNX + AIMET-style encodings
# in out/demo/); evaluates the perplexity of the FP32 and both quantized models (QDQ simulation,
# and the corrected model on the int8 engine too);
# compiles the corrected model to .sqm and generates text from it on the int8 engine with its
# int8 KV cache; runs a sweep over softmax bits x correction x form; and prints where the report is.
# About 4 minutes on 2 idle cores (the evaluation is capped at SOFTQUANT_DEMO_WINDOWS windows).
#
# Environment overrides (defaults in brackets):
#   SOFTQUANT_DEMO_MODEL [models/assets/opt-bytes/model.onnx], SOFTQUANT_DEMO_CALIB
#   [.../calib_tokens.npy], SOFTQUANT_DEMO_EVAL [.../eval_tokens.npy]: model and 1-D token files
#   SOFTQUANT_DEMO_CONTEXT [512]: tokens per window (at most the model's positions)
#   SOFTQUANT_DEMO_WINDOWS [4]: evaluation windows per model / sweep point
#   SOFTQUANT_DEMO_CALIB_WINDOWS [8]: calibration windows
#   SOFTQUANT_DEMO_OUT [out/demo], BUILD_DIR [build], JOBS [nproc], THREADS [2]
set -euo pipefail
cd "$(dirname "$0")/.."

ASSET=models/assets/opt-bytes
MODEL="${SOFTQUANT_DEMO_MODEL:-$ASSET/model.onnx}"
CALIB="${SOFTQUANT_DEMO_CALIB:-$ASSET/calib_tokens.npy}"
EVAL="${SOFTQUANT_DEMO_EVAL:-$ASSET/eval_tokens.npy}"
CONTEXT="${SOFTQUANT_DEMO_CONTEXT:-512}"
WINDOWS="${SOFTQUANT_DEMO_WINDOWS:-4}"
CALIB_WINDOWS="${SOFTQUANT_DEMO_CALIB_WINDOWS:-8}"
OUT="${SOFTQUANT_DEMO_OUT:-out/demo}"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
THREADS="${THREADS:-2}"

for f in "$MODEL" "$CALIB" "$EVAL"; do
  if [[ ! -f $f ]]; then
    echo "demo: $f is missing (the bundled model lives in $ASSET; see its README.md)" >&2
    exit 1
  fi
done

start=$(date +%s)
step() { printf '\n== %s (%d s)\n' "$*" "$(( $(date +%s) - start ))"; }

step "building softquant in $BUILD_DIR"
if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" --target softquant -j "$JOBS" >/dev/null
SQ="$BUILD_DIR/tools/softquant"
mkdir -p "$OUT"

common=(--context "$CONTEXT" --threads "$THREADS")
step "1/6 quantize: W8A8, 8-bit softmax on the 1/256 grid, no correction"
"$SQ" quantize "$MODEL" --calib "tokens:$CALIB" --calib-samples "$CALIB_WINDOWS" "${common[@]}" \
  -o "$OUT/w8a8.onnx" --encodings "$OUT/w8a8.encodings.json"

step "2/6 quantize: the same with softmax bias correction per valid-length bucket (offset form)"
"$SQ" quantize "$MODEL" --calib "tokens:$CALIB" --calib-samples "$CALIB_WINDOWS" "${common[@]}" \
  --softmax-bc length -o "$OUT/w8a8_bc-length.onnx" --encodings "$OUT/w8a8_bc-length.encodings.json"

step "3/6 perplexity on $WINDOWS held-out window(s) of $CONTEXT tokens"
eval_one() {  # label, model, engine
  local line
  line=$("$SQ" eval "$2" --tokens "$EVAL" --max-windows "$WINDOWS" --engine "$3" "${common[@]}" | tail -n 1)
  printf '%-38s %s\n' "$1" "$line"
}
eval_one "FP32:" "$MODEL" fp32
eval_one "W8A8, 8-bit softmax:" "$OUT/w8a8.onnx" sim
eval_one "W8A8, 8-bit softmax + correction:" "$OUT/w8a8_bc-length.onnx" sim
eval_one "the same on the int8 engine:" "$OUT/w8a8_bc-length.onnx" int8

step "4/6 compile the corrected model to .sqm and generate from it (int8 engine, int8 KV cache)"
# The inputs have symbolic [batch, sequence] dims: --plan-shape gives the shapes of the session
# memory plan the .sqm stores (a full window).
"$SQ" compile "$OUT/w8a8_bc-length.onnx" -o "$OUT/w8a8_bc-length.sqm" \
  --plan-shape "input_ids=1x$CONTEXT" --plan-shape "attention_mask=1x$CONTEXT"
"$SQ" generate "$OUT/w8a8_bc-length.sqm" --prompt "A module is a file containing Python" \
  --tokenizer bytes --max-new 64 --threads "$THREADS" -o "$OUT/generated.npy" 2>/dev/null

step "5/6 sweep: softmax bits 4,6,8,16 x correction none,tensor,head,length x form offset,scale"
"$SQ" sweep "$MODEL" --calib "tokens:$CALIB" --calib-samples "$CALIB_WINDOWS" --tokens "$EVAL" \
  --max-windows "$WINDOWS" "${common[@]}" --softmax-bits 4,6,8,16 \
  --softmax-bc none,tensor,head,length --softmax-bc-form offset,scale --engine sim --out "$OUT/sweep"

step "6/6 done"
echo "quantized models and encodings: $OUT/"
echo "sweep report: $OUT/sweep/report.html (tables: report.md; numbers: results.json)"
echo "demo finished in $(( $(date +%s) - start )) s"
