#!/usr/bin/env bash
# Session arena vs heap, in one run on one machine: `softquant bench` on one model, alternating
# runs with the arena (default) and with --no-arena (every tensor from the heap), ROUNDS times
# each (separate processes, so each reports its own peak RSS). Prints every run, then the
# medians and the ratios arena / heap for latency and peak RSS, and the minor page faults per
# timed run (memory the heap maps and touches afresh on every run; noise-free, unlike latency on
# a shared machine).
#
#   bash tools/bench/arena_compare.sh MODEL.onnx INPUT_DIR [ENGINE]
# Environment: BUILD_DIR [build], THREADS [2], REPEAT [5] (timed runs per process), ROUNDS [3].
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$1 INPUTS=$2 ENGINE=${3:-int8}
BUILD_DIR="${BUILD_DIR:-build}" THREADS="${THREADS:-2}" REPEAT="${REPEAT:-5}" ROUNDS="${ROUNDS:-3}"
SQ="$BUILD_DIR/tools/softquant"
json_field() { sed -n "s/.*\"$1\": *\([0-9.e+-]*\).*/\1/p" | tail -n 1; }
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
declare -A ms rss pf
for ((r = 1; r <= ROUNDS; ++r)); do
  for mode in arena heap; do
    flag=""; [[ $mode == heap ]] && flag="--no-arena"
    line=$("$SQ" bench "$MODEL" --engine "$ENGINE" --inputs "$INPUTS" --repeat "$REPEAT" \
      --threads "$THREADS" --json $flag 2>/dev/null | tail -n 1)
    m=$(json_field median_ms <<<"$line"); p=$(json_field peak_rss_mb <<<"$line")
    f=$(json_field page_faults_per_run <<<"$line")
    echo "round $r $mode: median $m ms, peak RSS $p MB, $f page faults per run"
    ms[$mode]+="$m "; rss[$mode]+="$p "; pf[$mode]+="$f "
  done
done
am=$(tr ' ' '\n' <<<"${ms[arena]}" | grep . | median); hm=$(tr ' ' '\n' <<<"${ms[heap]}" | grep . | median)
ar=$(tr ' ' '\n' <<<"${rss[arena]}" | grep . | median); hr=$(tr ' ' '\n' <<<"${rss[heap]}" | grep . | median)
af=$(tr ' ' '\n' <<<"${pf[arena]}" | grep . | median); hf=$(tr ' ' '\n' <<<"${pf[heap]}" | grep . | median)
echo "medians over $ROUNDS rounds: arena $am ms, $ar MB, $af page faults per run; heap $hm ms, $hr MB, $hf page faults per run"
awk -v a="$am" -v h="$hm" -v ar="$ar" -v hr="$hr" \
  'BEGIN {printf "arena / heap: latency %.3f, peak RSS %.3f\n", a / h, ar / hr}'
