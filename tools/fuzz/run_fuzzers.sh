#!/usr/bin/env bash
# Builds the libFuzzer targets (tools/fuzz/*_fuzzer.cc) with Debian's clang under ASan + UBSan
# into build-fuzz/ and runs each for FUZZ_SECONDS (default 60) on a copy of its committed seed
# corpus (tools/fuzz/corpus/<target>/). Exits non-zero if any target crashes, leaks, times out or
# trips a sanitizer; the reproducer is left in build-fuzz/artifacts/<target>/.
#   FUZZ_SECONDS=600 bash tools/fuzz/run_fuzzers.sh          # longer run
#   FUZZ_TARGETS="npy" bash tools/fuzz/run_fuzzers.sh        # one target
#   build-fuzz/tools/fuzz/npy_fuzzer CRASH_FILE               # replay a reproducer
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build-fuzz}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_TARGETS="${FUZZ_TARGETS:-onnx_load npy bindings sqm_load}"
JOBS="${JOBS:-2}"

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "run_fuzzers: $tool not found (sudo bash tools/setup.sh)" >&2; exit 1; }
done

start=$(date +%s)
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
  -DSOFTQUANT_FUZZ=ON -DSOFTQUANT_BUILD_TESTS=OFF >/dev/null
targets=()
for t in $FUZZ_TARGETS; do targets+=("${t}_fuzzer"); done
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}"
echo "run_fuzzers: built in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in $FUZZ_TARGETS; do
  work="$BUILD_DIR/fuzz-corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  echo "run_fuzzers: $t for $FUZZ_SECONDS s"
  # New inputs go to the scratch corpus; the committed seeds are only read.
  if ! "$BUILD_DIR/tools/fuzz/${t}_fuzzer" -max_total_time="$FUZZ_SECONDS" -timeout=30 \
      -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$work" "tools/fuzz/corpus/$t" 2>"$BUILD_DIR/$t.log"; then
    tail -n 60 "$BUILD_DIR/$t.log" >&2
    failed+=("$t")
  else
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "$BUILD_DIR/$t.log" || true
  fi
done
echo "run_fuzzers: finished in $(( $(date +%s) - start )) s"
if ((${#failed[@]})); then
  echo "run_fuzzers: FAILED: ${failed[*]} (reproducers in $BUILD_DIR/artifacts/, logs in $BUILD_DIR/*.log)" >&2
  exit 1
fi
