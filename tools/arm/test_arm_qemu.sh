#!/usr/bin/env bash
# Cross-builds the device runtime for aarch64 (SOFTQUANT_RUNTIME_ONLY, Debian's
# g++-aarch64-linux-gnu: sq_runtime_core, libsoftquant_rt.so, the C example, sqm_check and the
# kernel tests) and runs it under `qemu-aarch64 -cpu max`:
#   1. gemm_u8s8_test, attention_u8_test, quantize_u8_test: scalar, NEON and NEON dotprod paths
#      against the scalar reference;
#   2. compiled models: on the x86-64 host (HOST_BUILD_DIR, a normal build), the bundled trained
#      OPT (models/assets/opt-bytes) and an SD v1.5 attention block (320 ch, 8x8 latent) are
#      quantized, compiled to .sqm, and sqm_check records the host int8 engine's outputs and
#      quantized intermediates; under qemu, sqm_check runs each .sqm with SOFTQUANT_ISA=scalar,
#      neon and neondot and checks agreement with the host (criterion in tests/device/sqm_check.cc);
#   3. the C example (tests/capi/capi_smoke.c, linked against the aarch64 libsoftquant_rt.so)
#      runs each .sqm on two concurrent sessions and must reproduce the aarch64 C++ engine's
#      outputs bit for bit, and refuse a bit-flipped copy;
#   4. prints the stripped sizes of libsoftquant_rt.so and the C example.
# Installs the cross packages it needs if missing (Debian 12, root or sudo); the host build needs
# tools/setup.sh's packages. BUILD_DIR overrides the cross build folder (default: build-arm),
# HOST_BUILD_DIR the host one (default: build), JOBS the build parallelism.
# Exits non-zero if anything fails, or if qemu does not expose both neon and neondot.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build-arm}"
HOST_BUILD_DIR="${HOST_BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
start=$(date +%s)
if [[ $(uname -m) != x86_64 ]]; then
  echo "arm: this script cross-builds on an x86-64 Debian host; on $(uname -m) build natively" >&2
  exit 2
fi
elapsed() { echo "$(( $(date +%s) - start ))"; }

# --- packages: one apt-get update, only when something is missing -------------------------------
want=(cmake ninja-build g++-aarch64-linux-gnu libc6-dev-arm64-cross libgtest-dev libeigen3-dev
      binutils-aarch64-linux-gnu)
missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ! command -v qemu-aarch64 >/dev/null && ! command -v qemu-aarch64-static >/dev/null; then
  missing+=(qemu-user)
fi
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "arm: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
QEMU="$(command -v qemu-aarch64 || command -v qemu-aarch64-static)"
SYSROOT=/usr/aarch64-linux-gnu  # for the dynamically linked C example
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

# --- host: softquant and sqm_check, then the test models and their recorded outputs -------------
mkdir -p "$BUILD_DIR"
hlog="$BUILD_DIR/host-build.log"
echo "arm: building softquant and sqm_check for the host in $HOST_BUILD_DIR"
if ! { { [[ -f $HOST_BUILD_DIR/CMakeCache.txt ]] ||
         cmake -S . -B "$HOST_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"; } &&
       cmake --build "$HOST_BUILD_DIR" --target softquant sqm_check -j "$JOBS"; } >"$hlog" 2>&1; then
  tail -n 60 "$hlog"
  echo "arm: host build FAILED (full log: $hlog)"
  exit 1
fi
SQ="$HOST_BUILD_DIR/tools/softquant"
HOST_CHECK="$HOST_BUILD_DIR/tests/sqm_check"
CASES="$BUILD_DIR/sqm-cases"
rm -rf "$CASES"
mkdir -p "$CASES/opt" "$CASES/sd"
mlog="$BUILD_DIR/sqm-cases.log"
t0=$(date +%s)
if ! {
  # The bundled trained OPT: W8A8, 8-bit softmax with the per-length-bucket correction, 64 tokens.
  asset=models/assets/opt-bytes
  "$SQ" quantize "$asset/model.onnx" -o "$CASES/opt/qdq.onnx" --calib "tokens:$asset/calib_tokens.npy" \
    --context 64 --calib-samples 2 --softmax-bc length &&
  "$SQ" compile "$CASES/opt/qdq.onnx" -o "$CASES/opt/model.sqm" &&
  "$SQ" models inputs opt --seq 64 --vocab 256 --seed 5 -o "$CASES/opt/inputs" &&
  # An SD v1.5 block (synthetic weights): 320 channels, 8x8 latent, 77 context tokens.
  "$SQ" models build sd-attn --channels 320 --size 8 -o "$CASES/sd/block.onnx" &&
  "$SQ" models inputs sd-attn --channels 320 --size 8 --seed 1 -o "$CASES/sd/calib/s1" &&
  "$SQ" models inputs sd-attn --channels 320 --size 8 --seed 2 -o "$CASES/sd/calib/s2" &&
  "$SQ" models inputs sd-attn --channels 320 --size 8 --seed 3 -o "$CASES/sd/inputs" &&
  "$SQ" quantize "$CASES/sd/block.onnx" -o "$CASES/sd/qdq.onnx" --calib "inputs:$CASES/sd/calib" \
    --softmax-bc tensor &&
  "$SQ" compile "$CASES/sd/qdq.onnx" -o "$CASES/sd/model.sqm"
} >"$mlog" 2>&1; then
  tail -n 30 "$mlog"
  echo "arm: making the test models FAILED (full log: $mlog)"
  exit 1
fi
# sqm_check arguments of a case: --input NAME=FILE for every .npy in its inputs folder.
case_inputs() {
  local f
  for f in "$CASES/$1/inputs"/*.npy; do printf -- '--input\n%s=%s\n' "$(basename "$f" .npy)" "$f"; done
}
for c in opt sd; do
  mapfile -t args < <(case_inputs "$c")
  mkdir -p "$CASES/$c/expected"
  if ! "$HOST_CHECK" "$CASES/$c/model.sqm" "${args[@]}" --record "$CASES/$c/expected" >>"$mlog" 2>&1; then
    tail -n 20 "$mlog"
    echo "arm: recording the host outputs of $c FAILED"
    exit 1
  fi
done
echo "arm: test models quantized, compiled and recorded on the host in $(( $(date +%s) - t0 )) s:" \
  "$(du -b "$CASES/opt/model.sqm" | cut -f1) B opt.sqm, $(du -b "$CASES/sd/model.sqm" | cut -f1) B sd.sqm"

# --- cross build (log kept in the build folder, shown on failure) -------------------------------
log="$BUILD_DIR/arm-build.log"
echo "arm: cross-building the runtime for aarch64 into $BUILD_DIR"
t0=$(date +%s)
if ! { cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSOFTQUANT_RUNTIME_ONLY=ON \
         -DCMAKE_TOOLCHAIN_FILE=tools/arm/aarch64-toolchain.cmake "${launcher[@]}" &&
       cmake --build "$BUILD_DIR" -j "$JOBS"; } >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "arm: cross build FAILED (full log: $log)"
  exit 1
fi
echo "arm: cross-built in $(( $(date +%s) - t0 )) s (at $(elapsed) s)"

# --- kernel tests under qemu --------------------------------------------------------------------
tests=(gemm_u8s8_test attention_u8_test quantize_u8_test)
passed=0 failed=0 skipped=0 status=0
for t in "${tests[@]}"; do
  tlog="$BUILD_DIR/$t.qemu.log"
  t0=$(date +%s)
  rc=0
  "$QEMU" -cpu max "$BUILD_DIR/tests/$t" --gtest_color=no >"$tlog" 2>&1 || rc=$?
  echo "arm: $t (qemu-aarch64 -cpu max, $(( $(date +%s) - t0 )) s, exit $rc)"
  grep -E '^\[==========\] .* ran|^\[  PASSED  \]|^\[  SKIPPED \] [0-9]+ test|^\[  FAILED  \]|^ISAs tested:|ISA available:' "$tlog" | sed 's/^/  /' || true
  if [[ $t == gemm_u8s8_test ]]; then
    # The parameterized suite names the ISA in each test name: count per ISA.
    for isa in scalar neon neondot avx2 avx512vnni; do
      ok=$(grep -cE "^\[       OK \] .*/$isa \(" "$tlog" || true)
      sk=$(grep -cE "^\[  SKIPPED \] .*/$isa \(" "$tlog" || true)
      echo "  per ISA: $isa: $ok passed, $sk skipped"
    done
    for isa in neon neondot; do
      if ! grep -qE "ISA available: $isa " "$tlog"; then
        echo "arm: ISA $isa is not available under qemu-aarch64 -cpu max: its kernel did not run"
        status=1
      fi
    done
  fi
  p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\..*/\1/p' "$tlog" | tail -n 1)
  s=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?,.*/\1/p' "$tlog" | tail -n 1)
  f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?,.*/\1/p' "$tlog" | tail -n 1)
  passed=$((passed + ${p:-0})) skipped=$((skipped + ${s:-0})) failed=$((failed + ${f:-0}))
  if ((rc != 0)); then
    status=1
    if [[ -z $f ]]; then failed=$((failed + 1)); fi  # crashed before gtest's summary
    tail -n 40 "$tlog"
  fi
done

# --- compiled models under qemu: every kernel ISA against the host, then the C example ----------
sqm_passed=0 sqm_failed=0
for c in opt sd; do
  mapfile -t args < <(case_inputs "$c")
  for isa in scalar neon neondot; do
    clog="$BUILD_DIR/sqm_check.$c.$isa.qemu.log"
    extra=()
    if [[ $isa == neondot ]]; then extra=(--capi-case "$CASES/$c/capi-case.txt"); fi
    t0=$(date +%s)
    rc=0
    SOFTQUANT_ISA=$isa "$QEMU" -cpu max "$BUILD_DIR/tests/sqm_check" "$CASES/$c/model.sqm" \
      "${args[@]}" --expect "$CASES/$c/expected" "${extra[@]}" >"$clog" 2>&1 || rc=$?
    if ((rc == 0)) && ! grep -q "kernels: $isa\$" "$clog"; then
      echo "arm: sqm_check did not run the $isa kernels:"; rc=1
    fi
    echo "arm: sqm_check $c.sqm SOFTQUANT_ISA=$isa (qemu, $(( $(date +%s) - t0 )) s, exit $rc)"
    grep -E '^sqm_check: (output|quantized|FAIL)' "$clog" | sed 's/^sqm_check: /  /' || true
    if ((rc == 0)); then sqm_passed=$((sqm_passed + 1)); else sqm_failed=$((sqm_failed + 1)); status=1; tail -n 5 "$clog"; fi
  done
  clog="$BUILD_DIR/capi_smoke.$c.qemu.log"
  rc=0
  "$QEMU" -cpu max -L "$SYSROOT" "$BUILD_DIR/tests/capi_smoke" "$CASES/$c/capi-case.txt" >"$clog" 2>&1 || rc=$?
  echo "arm: capi_smoke $c.sqm (qemu, exit $rc)"
  sed 's/^/  /' "$clog"
  if ((rc == 0)); then sqm_passed=$((sqm_passed + 1)); else sqm_failed=$((sqm_failed + 1)); status=1; fi
done

# --- stripped sizes -----------------------------------------------------------------------------
mkdir -p "$BUILD_DIR/stripped"
for f in runtime/libsoftquant_rt.so tests/capi_smoke tests/sqm_check; do
  aarch64-linux-gnu-strip -o "$BUILD_DIR/stripped/$(basename "$f")" "$BUILD_DIR/$f"
done
echo "arm: stripped aarch64 sizes: libsoftquant_rt.so $(stat -c %s "$BUILD_DIR/stripped/libsoftquant_rt.so") B," \
  "capi_smoke (C example, dynamic) $(stat -c %s "$BUILD_DIR/stripped/capi_smoke") B," \
  "sqm_check (static) $(stat -c %s "$BUILD_DIR/stripped/sqm_check") B"

echo "arm: finished in $(elapsed) s"
echo "qemu-aarch64: kernel tests $passed passed, $failed failed, $skipped skipped;" \
  "compiled-model runs $sqm_passed passed, $sqm_failed failed"
exit "$status"
