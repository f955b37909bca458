#include "runtime/ops/vec_math.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#define SQ_VEC_X86 1
#else
#define SQ_VEC_X86 0
#endif

namespace sq {
namespace {

template <int W>
struct Lanes {
  typedef float F __attribute__((vector_size(4 * W)));
  typedef int32_t I __attribute__((vector_size(4 * W)));
};

// Vectors are passed by reference: a by-value 32-byte vector in a function compiled without AVX
// would change the ABI (GCC -Wpsabi). Everything is always inlined into the per-ISA entry points
// at the bottom, so each is compiled with that entry point's instruction set.

template <typename F, typename I>
[[gnu::always_inline]] inline void exp_inplace(F& x) {
  const F zero = {};
  const F lo = zero + -87.3365447505531f, hi = zero + 88.3762626647949f;
  F xc = x > lo ? x : lo;  // NaN lanes become lo here and are restored at the end
  xc = xc < hi ? xc : hi;
  // n = round(x / ln2) by adding 1.5 * 2^23; r = x - n ln2 with ln2 split in two for precision.
  const F magic = zero + 12582912.0f;
  const F t = xc * 1.44269504088896341f + magic;
  const F fn = t - magic;
  const I n = reinterpret_cast<I>(t) - reinterpret_cast<I>(magic);
  const F r = xc - fn * 0.693359375f - fn * -2.12194440e-4f;
  F p = zero + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const F y = p * r * r + r + 1.0f;
  // 2^n from the exponent bits (n is in [-126, 128]; 128 gives +inf).
  F result = y * reinterpret_cast<F>((n + 127) << 23);
  result = reinterpret_cast<F>(reinterpret_cast<I>(result) & (x >= lo));  // 0 below lo
  result = x > hi ? zero + std::numeric_limits<float>::infinity() : result;
  x = x != x ? x : result;
}

template <typename F, typename I>
[[gnu::always_inline]] inline void sigmoid_inplace(F& x) {
  const F zero = {};
  // e = exp(-|x|) <= 1, so nothing overflows; sigmoid = x >= 0 ? 1/(1+e) : e/(1+e).
  F e = reinterpret_cast<F>(reinterpret_cast<I>(x) | (I{} + std::numeric_limits<int32_t>::min()));
  exp_inplace<F, I>(e);
  const F r = (zero + 1.0f) / (e + 1.0f);
  x = x >= zero ? r : e * r;  // NaN: e is NaN, so the result is too
}

enum class Op { kExp, kSigmoid };

template <Op kOp, typename F, typename I>
[[gnu::always_inline]] inline void apply_op(F& v, float shift) {
  if constexpr (kOp == Op::kExp) {
    v -= shift;
    exp_inplace<F, I>(v);
  } else {
    sigmoid_inplace<F, I>(v);
  }
}

// y = op(x - shift) over an array, the tail padded to a full vector.
template <int W, Op kOp>
[[gnu::always_inline]] inline void map_impl(const float* x, float* y, int64_t n, float shift) {
  using F = typename Lanes<W>::F;
  using I = typename Lanes<W>::I;
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    F v;
    std::memcpy(&v, x + j, sizeof(v));
    apply_op<kOp, F, I>(v, shift);
    std::memcpy(y + j, &v, sizeof(v));
  }
  if (j < n) {
    const size_t rest = static_cast<size_t>(n - j) * sizeof(float);
    float tail[W] = {};
    std::memcpy(tail, x + j, rest);
    F v;
    std::memcpy(&v, tail, sizeof(v));
    apply_op<kOp, F, I>(v, shift);
    std::memcpy(tail, &v, sizeof(v));
    std::memcpy(y + j, tail, rest);
  }
}

template <int W>
[[gnu::always_inline]] inline float max_impl(const float* x, int64_t n) {
  using F = typename Lanes<W>::F;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  F m = F{} + kNegInf;
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    F v;
    std::memcpy(&v, x + j, sizeof(v));
    m = v > m ? v : m;
  }
  float r = kNegInf;
  for (int k = 0; k < W; ++k) r = m[k] > r ? m[k] : r;
  for (; j < n; ++j) r = x[j] > r ? x[j] : r;
  return r;
}

void exp_base(const float* x, float* y, int64_t n, float shift) {
  map_impl<4, Op::kExp>(x, y, n, shift);
}
void sigmoid_base(const float* x, float* y, int64_t n) { map_impl<4, Op::kSigmoid>(x, y, n, 0); }
float max_base(const float* x, int64_t n) { return max_impl<4>(x, n); }

#if SQ_VEC_X86
__attribute__((target("avx2,fma"))) void exp_avx2(const float* x, float* y, int64_t n,
                                                  float shift) {
  map_impl<8, Op::kExp>(x, y, n, shift);
}
__attribute__((target("avx2,fma"))) void sigmoid_avx2(const float* x, float* y, int64_t n) {
  map_impl<8, Op::kSigmoid>(x, y, n, 0);
}
__attribute__((target("avx2,fma"))) float max_avx2(const float* x, int64_t n) {
  return max_impl<8>(x, n);
}
#endif

}  // namespace

#if SQ_VEC_X86
static bool use_avx2(VecIsa isa) { return isa != VecIsa::kBase && cpu_has_avx2_fma(); }
#endif

bool cpu_has_avx2_fma() {
#if SQ_VEC_X86
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

void array_exp(const float* x, float* y, int64_t n, float shift, VecIsa isa) {
#if SQ_VEC_X86
  if (use_avx2(isa)) return exp_avx2(x, y, n, shift);
#endif
  exp_base(x, y, n, shift);
}

float array_max(const float* x, int64_t n, VecIsa isa) {
#if SQ_VEC_X86
  if (use_avx2(isa)) return max_avx2(x, n);
#endif
  return max_base(x, n);
}

void array_sigmoid(const float* x, float* y, int64_t n, VecIsa isa) {
#if SQ_VEC_X86
  if (use_avx2(isa)) return sigmoid_avx2(x, y, n);
#endif
  sigmoid_base(x, y, n);
}

}  // namespace sq
