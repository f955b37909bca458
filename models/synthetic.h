// Why this exists: builders need deterministic synthetic weights (HF-style N(0, 0.02) init) and
// deterministic N(0,1) test inputs that are identical on every run and machine, fast enough to
// fill OPT-125M's 125M parameters in about a second. Each tensor gets its own stream derived from
// (seed, tensor name), so a tensor's values never depend on build order.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/tensor.h"

namespace sq {

// xoshiro256** seeded through splitmix64.
class Prng {
 public:
  explicit Prng(uint64_t seed);
  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);

 private:
  uint64_t s_[4];
};

// A stream seed for one named tensor: mixes the global seed with a hash of the name.
uint64_t stream_seed(uint64_t seed, const std::string& name);

// Fills out[0..n) with N(0, stddev^2) samples (ziggurat) from the given stream seed.
void fill_normal(float* out, int64_t n, float stddev, uint64_t stream);
Tensor normal_tensor(const Shape& shape, float stddev, uint64_t stream);

// dst[c * rows + r] = src[r * cols + c]: a blocked 2-D float transpose.
void transpose_2d(const float* src, int64_t rows, int64_t cols, float* dst);
// [rows, cols] float32 -> [cols, rows].
Tensor transposed_2d(const Tensor& t);

}  // namespace sq
