#!/usr/bin/env bash
# Load time and peak RSS of OPT-125M int8 (prefill of SEQ tokens) from the QDQ ONNX and from the
# compiled .sqm (weights prepacked for this machine), in one run, runs interleaved so both see
# the same machine load. Peak RSS (getrusage ru_maxrss: includes the mapped .sqm pages a run
# touches) does not depend on load; times do, so compare them only within one run. Each case also
# runs with MALLOC_MMAP_THRESHOLD_=262144: glibc's default raises its mmap threshold when a large
# buffer is freed, after which freed activation buffers pile up in the heap by 20-50 MB depending
# on incidental allocation order (even argv); the fixed threshold shows the RSS without that.
#
# Model as tools/bench/run_benchmarks.sh builds it (synthetic weights, W8A8, 8-bit softmax with
# per-length bias correction, 2 calibration samples); reuses $OUT/opt$SEQ.qdq.onnx if present.
# Environment: BUILD_DIR [build], OUT [out/bench], SEQ [128], THREADS [2], RUNS [3],
#   BASELINE: another softquant binary to measure from the ONNX in the same run (e.g. main's).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
OUT="${OUT:-out/bench}"
SEQ="${SEQ:-128}"
THREADS="${THREADS:-2}"
RUNS="${RUNS:-3}"
SQ="$BUILD_DIR/tools/softquant"
[[ -x $SQ ]] || { echo "load_rss: build softquant first ($SQ missing)" >&2; exit 1; }
mkdir -p "$OUT"
d="$OUT/opt$SEQ"
if [[ ! -f $d.qdq.onnx ]]; then
  [[ -f $OUT/opt125m.onnx ]] || "$SQ" models build opt --config opt-125m -o "$OUT/opt125m.onnx" >/dev/null
  "$SQ" models inputs opt --seq "$SEQ" -o "$d.in" >/dev/null
  "$SQ" models inputs opt --seq "$SEQ" --seed 1 -o "$d.calib/s0" >/dev/null
  "$SQ" models inputs opt --seq "$SEQ" --seed 2 -o "$d.calib/s1" >/dev/null
  "$SQ" quantize "$OUT/opt125m.onnx" --calib "inputs:$d.calib" --softmax-bc length \
    -o "$d.qdq.onnx" --threads "$THREADS" >/dev/null 2>&1
fi
"$SQ" compile "$d.qdq.onnx" -o "$d.sqm" | tail -n 2

field() { sed -n "s/.*\"$1\": *\([0-9.e+-]*\).*/\1/p" | tail -n 1; }
bench() {  # binary model -> "peak_rss_mb,load_ms,load_peak_rss_mb,median_ms,fixed_threshold_peak_rss_mb"
  local j f
  f=$(MALLOC_MMAP_THRESHOLD_=262144 "$1" bench "$2" --engine int8 --inputs "$d.in" --repeat 1 \
      --threads "$THREADS" --json 2>/dev/null | tail -n 1)
  j=$("$1" bench "$2" --engine int8 --inputs "$d.in" --repeat 1 --threads "$THREADS" --json 2>/dev/null |
      tail -n 1)
  echo "$(field peak_rss_mb <<<"$j"),$(field load_ms <<<"$j"),$(field load_peak_rss_mb <<<"$j"),$(field median_ms <<<"$j"),$(field peak_rss_mb <<<"$f")"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg); OPT-125M int8, $SEQ tokens, $THREADS threads, $RUNS runs each"
printf '%-20s %12s %22s %10s %18s %10s\n' source "peak RSS MB" "(fixed mmap threshold)" "load ms" "RSS after load MB" "run ms"
for ((r = 1; r <= RUNS; r++)); do
  for src in onnx sqm baseline; do
    case $src in
      onnx) res=$(bench "$SQ" "$d.qdq.onnx") ;;
      sqm) res=$(bench "$SQ" "$d.sqm") ;;
      baseline) [[ -n ${BASELINE:-} ]] || continue
        # an older binary may not print load_ms: its fields then stay empty
        res=$(bench "$BASELINE" "$d.qdq.onnx") ;;
    esac
    IFS=, read -r rss load lrss run frss <<<"$res"
    [[ -n $load ]] && load=$(printf '%.0f' "$load") && lrss=$(printf '%.1f' "$lrss")
    printf '%-20s %12.1f %22.1f %10s %18s %10.0f\n' "$src (run $r)" "$rss" "$frss" "${load:--}" \
      "${lrss:--}" "$run"
  done
done
