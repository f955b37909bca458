#!/usr/bin/env bash
# Builds the concurrency test (tests/concurrency_test.cc: one loaded model, FP32 and int8
# engines, 4 threads calling run() at once) under ThreadSanitizer into build-tsan/ and runs it.
# Any data race report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-tsan}"
JOBS="${JOBS:-2}"
start=$(date +%s)
san="-fsanitize=thread -fno-omit-frame-pointer -g"
# The static TSan runtime (clang 14's shared one crashes at start-up on this kernel); only the
# test's own dependencies are built, not libsoftquant_rt.so, which would need the shared one.
link="-fsanitize=thread"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target concurrency_test
echo "tsan: built in $(( $(date +%s) - start )) s"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
status=0
"$BUILD_DIR/tests/concurrency_test" || status=$?
echo "tsan: finished in $(( $(date +%s) - start )) s (exit $status)"
exit $status
