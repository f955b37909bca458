#!/usr/bin/env bash
# Cross-builds the integer kernels and their tests for aarch64 (SOFTQUANT_KERNELS_ONLY, Debian's
# g++-aarch64-linux-gnu, static binaries) and runs gemm_u8s8_test, attention_u8_test and
# quantize_u8_test under `qemu-aarch64 -cpu max`, so the scalar, NEON and NEON dotprod paths are
# all checked against the scalar reference. Installs what it needs if missing (Debian 12, root or
# sudo). BUILD_DIR overrides the build folder (default: build-arm), JOBS the build parallelism.
# Exits non-zero if anything fails, or if qemu does not expose both neon and neondot.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build-arm}"
JOBS="${JOBS:-$(nproc)}"
start=$(date +%s)
if [[ $(uname -m) != x86_64 ]]; then
  echo "arm: this script cross-builds on an x86-64 Debian host; on $(uname -m) build natively" >&2
  exit 2
fi

# --- packages: one apt-get update, only when something is missing -------------------------------
want=(cmake ninja-build g++-aarch64-linux-gnu libc6-dev-arm64-cross libgtest-dev)
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

# --- cross build (log kept in the build folder, shown on failure) -------------------------------
mkdir -p "$BUILD_DIR"
log="$BUILD_DIR/arm-build.log"
echo "arm: cross-building the kernels for aarch64 into $BUILD_DIR"
if ! { cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
         -DSOFTQUANT_KERNELS_ONLY=ON -DCMAKE_TOOLCHAIN_FILE=tools/arm/aarch64-toolchain.cmake &&
       cmake --build "$BUILD_DIR" -j "$JOBS"; } >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "arm: cross build FAILED (full log: $log)"
  exit 1
fi
echo "arm: built in $(( $(date +%s) - start )) s"

# --- tests under qemu ---------------------------------------------------------------------------
# Every test of every binary runs: under qemu the three take about 10 s in all.
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

echo "arm: finished in $(( $(date +%s) - start )) s"
echo "qemu-aarch64: $passed passed, $failed failed, $skipped skipped"
exit "$status"
