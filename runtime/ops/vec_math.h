// Why this exists: the row loops that dominate Softmax, Sigmoid and the normalizations, written
// to run vectorized under the project's plain -O3 flags. GCC cannot vectorize them on its own:
// std::exp is a scalar library call, and with -ftrapping-math (the default) a float
// compare-and-select (`a > b ? a : b`) is never if-converted. So the float kernels below are
// written once with GCC/Clang vector extensions and compiled twice in vec_math.cc: 4 lanes
// (SSE2 / NEON baseline) and, on x86, 8 lanes with AVX2+FMA, chosen once by CPUID. The double
// versions and the sum helpers are plain loops (the sums keep explicit independent lanes, in
// double, so the compiler vectorizes them without reassociating).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace sq {

// Which compiled version of a float kernel to run; kBest picks the widest the CPU supports.
// Tests call the others directly to compare them.
enum class VecIsa { kBest, kBase, kAvx2Fma };
bool cpu_has_avx2_fma();

// exp(x) with max relative error ~2 ulp against std::exp; exact 0 below -87.33 (where float exp
// would be subnormal), NaN for NaN, +inf above 88.37 (true float exp overflows only at 88.72;
// callers pass x <= 0 or moderate values).
// y[j] = exp(x[j] - shift) for j in [0, n); y may alias x.
void array_exp(const float* x, float* y, int64_t n, float shift, VecIsa isa = VecIsa::kBest);
// Maximum of x[0..n) (-inf when empty); NaN elements are skipped.
float array_max(const float* x, int64_t n, VecIsa isa = VecIsa::kBest);
// y[j] = 1 / (1 + exp(-x[j])), without overflow for large |x|; y may alias x.
void array_sigmoid(const float* x, float* y, int64_t n, VecIsa isa = VecIsa::kBest);

inline float exp_scalar(float x) {
  float y;
  array_exp(&x, &y, 1, 0.0f);
  return y;
}

// Double versions: library exp, accuracy over speed.
inline void array_exp(const double* x, double* y, int64_t n, double shift) {
  for (int64_t j = 0; j < n; ++j) y[j] = std::exp(x[j] - shift);
}
inline double array_max(const double* x, int64_t n) {
  double r = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) r = x[j] > r ? x[j] : r;
  return r;
}

constexpr int kSumLanes = 8;

// Sum of x[0..n) accumulated in double.
template <typename T>
double sum_lanes(const T* x, int64_t n) {
  double lanes[kSumLanes] = {};
  int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    for (int k = 0; k < kSumLanes; ++k) lanes[k] += static_cast<double>(x[j + k]);
  }
  double s = 0;
  for (int k = 0; k < kSumLanes; ++k) s += lanes[k];
  for (; j < n; ++j) s += static_cast<double>(x[j]);
  return s;
}

// Sum of (x[j] - center)^2 over x[0..n), in double.
template <typename T>
double sum_sq_dev_lanes(const T* x, int64_t n, double center) {
  double lanes[kSumLanes] = {};
  int64_t j = 0;
  for (; j + kSumLanes <= n; j += kSumLanes) {
    for (int k = 0; k < kSumLanes; ++k) {
      const double d = static_cast<double>(x[j + k]) - center;
      lanes[k] += d * d;
    }
  }
  double s = 0;
  for (int k = 0; k < kSumLanes; ++k) s += lanes[k];
  for (; j < n; ++j) {
    const double d = static_cast<double>(x[j]) - center;
    s += d * d;
  }
  return s;
}

}  // namespace sq
