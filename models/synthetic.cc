#include "models/synthetic.h"

#include <algorithm>
#include <cmath>

namespace sq {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Prng::Prng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

uint64_t Prng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Prng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t Prng::below(uint64_t n) {
  // Lemire's multiply-shift; the tiny bias for huge n is irrelevant for test inputs.
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
}

uint64_t stream_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  uint64_t x = seed ^ h;
  return splitmix64(x);
}

namespace {
// Marsaglia & Tsang's 128-layer ziggurat (about 2 ns a sample, no trig): the layer index comes
// from the low 7 bits of a 64-bit draw and the signed 32-bit abscissa from its top half.
struct Ziggurat {
  uint32_t k[128];
  double w[128], f[128];
  Ziggurat() {
    const double m1 = 2147483648.0, vn = 9.91256303526217e-3;
    double dn = 3.442619855899, tn = dn;
    const double q = vn / std::exp(-0.5 * dn * dn);
    k[0] = static_cast<uint32_t>((dn / q) * m1);
    k[1] = 0;
    w[0] = q / m1;
    w[127] = dn / m1;
    f[0] = 1.0;
    f[127] = std::exp(-0.5 * dn * dn);
    for (int i = 126; i >= 1; --i) {
      dn = std::sqrt(-2.0 * std::log(vn / dn + std::exp(-0.5 * dn * dn)));
      k[i + 1] = static_cast<uint32_t>((dn / tn) * m1);
      tn = dn;
      f[i] = std::exp(-0.5 * dn * dn);
      w[i] = dn / m1;
    }
  }
};
const Ziggurat& ziggurat() {
  static const Ziggurat z;
  return z;
}

double uniform_open(Prng& rng) {  // (0, 1]
  return static_cast<double>((rng.next() >> 11) + 1) * 0x1.0p-53;
}

double standard_normal(Prng& rng, const Ziggurat& z) {
  constexpr double kR = 3.442619855899;
  while (true) {
    const uint64_t bits = rng.next();
    const auto hz = static_cast<int32_t>(static_cast<uint32_t>(bits >> 32));
    const int iz = static_cast<int>(bits & 127);
    const double x = hz * z.w[iz];
    const int64_t mag = hz < 0 ? -static_cast<int64_t>(hz) : hz;
    if (mag < static_cast<int64_t>(z.k[iz])) return x;  // inside the layer's rectangle
    if (iz == 0) {                                      // the tail beyond kR
      double tx, ty;
      do {
        tx = -std::log(uniform_open(rng)) / kR;
        ty = -std::log(uniform_open(rng));
      } while (ty + ty < tx * tx);
      return hz > 0 ? kR + tx : -kR - tx;
    }
    if (z.f[iz] + rng.uniform() * (z.f[iz - 1] - z.f[iz]) < std::exp(-0.5 * x * x)) return x;
  }
}
}  // namespace

void fill_normal(float* out, int64_t n, float stddev, uint64_t stream) {
  Prng rng(stream);
  const Ziggurat& z = ziggurat();
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(standard_normal(rng, z) * stddev);
}

Tensor normal_tensor(const Shape& shape, float stddev, uint64_t stream) {
  Tensor t(DType::kFloat32, shape);
  fill_normal(t.data<float>(), t.numel(), stddev, stream);
  return t;
}

void transpose_2d(const float* src, int64_t rows, int64_t cols, float* dst) {
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t r1 = std::min(rows, r0 + kBlock);
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const int64_t c1 = std::min(cols, c0 + kBlock);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

Tensor transposed_2d(const Tensor& t) {
  SQ_CHECK(t.rank() == 2 && t.dtype() == DType::kFloat32,
           "transposed_2d: expected a 2-D float32 "
           "tensor, got ",
           dtype_name(t.dtype()), " ", shape_str(t.shape()));
  Tensor out(DType::kFloat32, {t.dim(1), t.dim(0)});
  transpose_2d(t.data<float>(), t.dim(0), t.dim(1), out.data<float>());
  return out;
}

}  // namespace sq
