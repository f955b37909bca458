#!/usr/bin/env bash
# Builds the whole project (library, CLI, every test) under AddressSanitizer + UndefinedBehavior
# Sanitizer into build-asan/ and runs the test suite there with ctest. Any sanitizer report fails
# the test that triggered it (UBSan does not recover; ASan checks leaks at exit). The CLI the
# tests spawn is the instrumented one too.
#   SAN_CC=gcc SAN_CXX=g++ bash tools/sanitize.sh     # GCC instead of clang
#   CTEST_ARGS="-E 'Ort|Torch'" bash tools/sanitize.sh  # extra ctest arguments (e.g. exclusions)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-asan}"
JOBS="${JOBS:-2}"
SAN_CC="${SAN_CC:-clang}"
SAN_CXX="${SAN_CXX:-clang++}"
start=$(date +%s)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# libsoftquant_rt.so links with --no-undefined: with clang, link the shared sanitizer runtime
# into every binary (-shared-libsan) so the library resolves the ASan symbols, and find it by rpath.
link="-fsanitize=address,undefined"
if [[ "$SAN_CXX" == clang* ]]; then
  link+=" -shared-libsan -Wl,-rpath,$("$SAN_CC" --print-runtime-dir)"
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$SAN_CC" -DCMAKE_CXX_COMPILER="$SAN_CXX" \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
echo "sanitize: built in $(( $(date +%s) - start )) s"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$BUILD_DIR"
status=0
eval "ctest --output-on-failure -j $JOBS --timeout 1800 ${CTEST_ARGS:-}" || status=$?
echo "sanitize: finished in $(( $(date +%s) - start )) s (exit $status)"
exit $status
