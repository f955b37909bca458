#!/usr/bin/env bash
# Installs everything SoftQuant needs on Debian 12, idempotently: one `apt-get update`,
# then only the packages that are missing. Run as root (or with sudo available).
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler
  libeigen3-dev
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev
  libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
)
# Fuzzing and sanitizer builds (tools/fuzz/run_fuzzers.sh, tools/sanitize.sh, tools/tsan.sh; run by CI):
# clang with its compiler-rt (libFuzzer, ASan, UBSan, TSan runtimes).
BUILD_PKGS+=(clang libclang-rt-14-dev)
# Python is only used by tools/ scripts that generate test fixtures, never by the product.
ASSET_PKGS=(python3 python3-numpy python3-torch python3-onnx libopenblas0-pthread)

# aarch64 cross build of the device runtime, tested under qemu (tools/arm/test_arm_qemu.sh, run by CI).
ARM_PKGS=(g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)

want=("${BUILD_PKGS[@]}")
if [[ "${SOFTQUANT_SKIP_PYTHON:-0}" != 1 ]]; then want+=("${ASSET_PKGS[@]}"); fi
if [[ "${SOFTQUANT_SKIP_ARM:-0}" != 1 && $(uname -m) == x86_64 ]]; then want+=("${ARM_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# ONNX Runtime (npm onnxruntime-node, CPU build for linux x64/arm64) is the interop and benchmark
# peer. --ignore-scripts: its install script would try to download a GPU build.
if [[ "${SOFTQUANT_SKIP_ORT:-0}" != 1 ]]; then
  if ! command -v npm >/dev/null; then
    echo "setup: installing nodejs and npm"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
  fi
  here="$(cd "$(dirname "$0")" && pwd)"
  if [[ ! -d "$here/interop/node_modules/onnxruntime-node" ]]; then
    echo "setup: installing onnxruntime-node into tools/interop"
    (cd "$here/interop" && npm ci --ignore-scripts --no-audit --no-fund)
  else
    echo "setup: onnxruntime-node present"
  fi
fi
