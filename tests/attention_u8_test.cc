// Tests of the fused int8 attention kernel: the scalar reference against an independent
// double-precision derivation, every available ISA against the reference (bit for bit), masks,
// causal rows, extreme quantization parameters, row ranges, and the polynomial exp.
#include "runtime/kernels/attention_u8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/exp_approx.h"
#include "runtime/kernels/quant_math.h"

namespace sq::kernels {
namespace {

constexpr float kNoKey = -3.4e38f;

struct Config {
  int64_t lq = 4, lk = 8, d = 8, dv = 8;
  int32_t q_zero = 128, k_zero = 128, v_zero = 128;
  float q_scale = 0.05f, k_scale = 0.04f, v_scale = 0.02f, score_scale = 0.125f;
  enum class Mask { kNone, kFull, kPaddingRow, kScalar } mask = Mask::kNone;
  bool causal = false;
  int64_t causal_offset = 0;
  int p_bits = 8;
  float p_scale = 1.0f / 256;
  int32_t p_zero = 0;
  int correction_rows = 1;
  uint32_t seed = 1;
};

struct Problem {
  Config cfg;
  std::vector<uint8_t> q, k, v;
  std::vector<float> mask, p_mult, p_add;
  AttentionParams params;
};

// Random inputs; the full mask has random -3.4e38 entries (padding), small random values
// elsewhere, and row 0 keeps exactly one key.
std::unique_ptr<Problem> make_problem(const Config& c) {
  auto pr = std::make_unique<Problem>();
  pr->cfg = c;
  std::mt19937 rng(c.seed);
  std::uniform_int_distribution<int> byte(0, 255);
  pr->q.resize(c.lq * (c.d + 3));  // row strides larger than d
  pr->k.resize(c.lk * (c.d + 1));
  pr->v.resize(c.lk * (c.dv + 2));
  for (auto& x : pr->q) x = static_cast<uint8_t>(byte(rng));
  for (auto& x : pr->k) x = static_cast<uint8_t>(byte(rng));
  for (auto& x : pr->v) x = static_cast<uint8_t>(byte(rng));
  AttentionParams& p = pr->params;
  p.lq = c.lq, p.lk = c.lk, p.d = c.d, p.dv = c.dv;
  p.q = pr->q.data(), p.q_stride = c.d + 3;
  p.k = pr->k.data(), p.k_stride = c.d + 1;
  p.v = pr->v.data(), p.v_stride = c.dv + 2;
  p.q_scale = c.q_scale, p.k_scale = c.k_scale, p.v_scale = c.v_scale;
  p.q_zero = c.q_zero, p.k_zero = c.k_zero, p.v_zero = c.v_zero;
  p.score_scale = c.score_scale;
  std::uniform_real_distribution<float> small(-2.0f, 2.0f);
  switch (c.mask) {
    case Config::Mask::kNone:
      break;
    case Config::Mask::kFull: {
      pr->mask.resize(c.lq * c.lk);
      std::bernoulli_distribution pad(0.3);
      for (int64_t i = 0; i < c.lq; ++i) {
        for (int64_t j = 0; j < c.lk; ++j) {
          pr->mask[i * c.lk + j] = pad(rng) ? kNoKey : small(rng);
          if (i == 0) pr->mask[j] = j == c.lk / 2 ? 0.5f : kNoKey;
        }
      }
      p.mask = pr->mask.data(), p.mask_row_stride = c.lk, p.mask_col_stride = 1;
      break;
    }
    case Config::Mask::kPaddingRow: {  // [1, lk] broadcast over rows: last third padded
      pr->mask.resize(c.lk);
      for (int64_t j = 0; j < c.lk; ++j) pr->mask[j] = j >= c.lk - c.lk / 3 ? kNoKey : 0.0f;
      p.mask = pr->mask.data(), p.mask_row_stride = 0, p.mask_col_stride = 1;
      break;
    }
    case Config::Mask::kScalar:  // [lq, 1] broadcast over keys
      pr->mask.resize(c.lq);
      for (auto& x : pr->mask) x = small(rng);
      p.mask = pr->mask.data(), p.mask_row_stride = 1, p.mask_col_stride = 0;
      break;
  }
  p.causal = c.causal, p.causal_offset = c.causal_offset;
  p.p_bits = c.p_bits, p.p_scale = c.p_scale, p.p_zero = c.p_zero;
  for (int r = 0; r < c.correction_rows; ++r) {
    pr->p_mult.push_back(c.p_scale * (1.0f + 0.01f * r));
    pr->p_add.push_back(c.correction_rows == 1 ? 0.0f : 2e-4f * (r + 1));
  }
  if (c.correction_rows == 1 && c.seed % 2 == 0) pr->p_add[0] = 3e-4f;  // offset form
  p.p_mult = pr->p_mult.data(), p.p_add = pr->p_add.data();
  p.correction_rows = c.correction_rows;
  p.o_stride = c.dv + 1;
  return pr;
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// Runs rows [b, e) with `isa`; rows outside keep a NaN sentinel.
std::vector<float> run(Problem& pr, Isa isa, int64_t b = 0, int64_t e = -1) {
  AttentionParams p = pr.params;
  if (e < 0) e = p.lq;
  std::vector<float> o(p.lq * p.o_stride, std::numeric_limits<float>::quiet_NaN());
  p.o = o.data();
  const size_t bytes = (attention_scratch_bytes(p.lk, p.dv, isa) + 63) / 64 * 64;
  std::unique_ptr<void, AlignedFree> scratch(std::aligned_alloc(64, bytes));
  std::memset(scratch.get(), 0xA5, bytes);  // the kernel must not rely on zeroed scratch
  attention_u8(p, b, e, scratch.get(), isa);
  return o;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Independent derivation: dequantized inputs, scores and softmax in double; qp via
// quantize_value. Returns O in double; `ties` counts keys whose p / p_scale lies so close to a
// rounding boundary that float and double may round differently.
struct Naive {
  std::vector<double> o;
  std::vector<int32_t> qp;  // [lq][lk], -1 on masked keys
  std::vector<int> ties;    // per row
};

Naive naive(const Problem& pr) {
  const AttentionParams& p = pr.params;
  Naive n;
  n.o.assign(p.lq * p.dv, 0.0);
  n.qp.assign(p.lq * p.lk, -1);
  n.ties.assign(p.lq, 0);
  const int32_t qmax = (1 << p.p_bits) - 1;
  for (int64_t i = 0; i < p.lq; ++i) {
    std::vector<double> s(p.lk);
    std::vector<bool> valid(p.lk, false);
    double m = -INFINITY;
    int64_t nv = 0;
    for (int64_t j = 0; j < p.lk; ++j) {
      if (p.causal && j > i + p.causal_offset) continue;
      double dot = 0;
      for (int64_t t = 0; t < p.d; ++t) {
        const double qd = (static_cast<double>(p.q[i * p.q_stride + t]) - p.q_zero) * p.q_scale;
        const double kd = (static_cast<double>(p.k[j * p.k_stride + t]) - p.k_zero) * p.k_scale;
        dot += qd * kd;
      }
      s[j] = dot * p.score_scale +
             (p.mask ? p.mask[i * p.mask_row_stride + j * p.mask_col_stride] : 0.0);
      if (!(s[j] > -1e30)) continue;
      valid[j] = true;
      m = std::max(m, s[j]);
      ++nv;
    }
    if (nv == 0) continue;
    double sum = 0;
    for (int64_t j = 0; j < p.lk; ++j) sum += valid[j] ? std::exp(s[j] - m) : 0.0;
    int r = 0;
    while ((int64_t{2} << r) <= nv) ++r;
    r = std::min(r, p.correction_rows - 1);
    for (int64_t j = 0; j < p.lk; ++j) {
      if (!valid[j]) continue;
      const double prob = std::exp(s[j] - m) / sum;
      const int32_t qp = quantize_value(static_cast<float>(prob), p.p_scale, p.p_zero, 0, qmax);
      n.qp[i * p.lk + j] = qp;
      const double x = prob / p.p_scale;
      if (std::fabs(x - std::floor(x) - 0.5) < 3e-5 * x + 1e-5) ++n.ties[i];
      const double pp = (qp - p.p_zero) * double{p.p_mult[r]} + p.p_add[r];
      for (int64_t e = 0; e < p.dv; ++e) {
        n.o[i * p.dv + e] +=
            pp * ((static_cast<double>(p.v[j * p.v_stride + e]) - p.v_zero) * p.v_scale);
      }
    }
  }
  return n;
}

// Reference within float tolerance of the double derivation (ties widen the tolerance by one
// probability step per tied key).
void expect_close_to_naive(Problem& pr, const std::string& what) {
  const AttentionParams& p = pr.params;
  const std::vector<float> o = run(pr, Isa::kScalar);
  const Naive n = naive(pr);
  double vmax = 0;
  for (int64_t j = 0; j < p.lk; ++j) {
    for (int64_t e = 0; e < p.dv; ++e) {
      vmax = std::max(
          vmax, std::fabs((static_cast<double>(p.v[j * p.v_stride + e]) - p.v_zero) * p.v_scale));
    }
  }
  double mult_max = 0;
  for (int r = 0; r < p.correction_rows; ++r) mult_max = std::max(mult_max, double{p.p_mult[r]});
  for (int64_t i = 0; i < p.lq; ++i) {
    const double tol = 2e-5 * vmax * (1.0 + p.lk * 1e-3) + n.ties[i] * mult_max * vmax * 1.01;
    for (int64_t e = 0; e < p.dv; ++e) {
      ASSERT_NEAR(o[i * p.o_stride + e], n.o[i * p.dv + e], tol)
          << what << " row " << i << " col " << e << " ties " << n.ties[i];
    }
  }
}

void expect_isas_match_reference(Problem& pr, const std::string& what, int64_t b = 0,
                                 int64_t e = -1) {
  const std::vector<float> ref = run(pr, Isa::kScalar, b, e);
  for (Isa isa : available_isas()) {
    if (isa == Isa::kScalar) continue;
    const std::vector<float> got = run(pr, isa, b, e);
    if (!bit_equal(ref, got)) {
      for (size_t x = 0; x < ref.size(); ++x) {
        if (std::memcmp(&ref[x], &got[x], sizeof(float)) != 0) {
          FAIL() << what << " isa " << isa_name(isa) << ": first difference at row "
                 << x / pr.params.o_stride << " col " << x % pr.params.o_stride << ": ref "
                 << ref[x] << " got " << got[x];
        }
      }
    }
  }
}

std::string describe(const Config& c) {
  return "lq=" + std::to_string(c.lq) + " lk=" + std::to_string(c.lk) +
         " d=" + std::to_string(c.d) + " dv=" + std::to_string(c.dv) +
         " mask=" + std::to_string(static_cast<int>(c.mask)) +
         " causal=" + std::to_string(c.causal) + "/" + std::to_string(c.causal_offset) +
         " bits=" + std::to_string(c.p_bits) + " zeros=" + std::to_string(c.q_zero) + "," +
         std::to_string(c.k_zero) + "," + std::to_string(c.v_zero) +
         " rows=" + std::to_string(c.correction_rows);
}

TEST(ExpApprox, WithinTwoUlpOfStdExpOnSoftmaxRange) {
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_EQ(exp_approx(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exp_approx(-1e30f), 0.0f);
  int64_t worst = 0;
  float worst_x = 0;
  auto ulp_distance = [](float a, float b) {
    int32_t ia, ib;
    std::memcpy(&ia, &a, 4);
    std::memcpy(&ib, &b, 4);
    return std::llabs(int64_t{ia} - ib);  // both non-negative floats
  };
  for (float x = 0.0f; x >= -88.0f; x = std::nextafter(x, -100.0f) - 1.3e-5f) {
    const float want = static_cast<float>(std::exp(static_cast<double>(x)));
    const int64_t d = ulp_distance(exp_approx(x), want);
    if (d > worst) worst = d, worst_x = x;
  }
  for (float x = -1e-3f; x < -1e-30f; x = x * 0.97f) {  // tiny arguments
    const int64_t d = ulp_distance(exp_approx(x), static_cast<float>(std::exp(double{x})));
    if (d > worst) worst = d, worst_x = x;
  }
  EXPECT_LE(worst, 2) << "at x = " << worst_x;
  std::printf("exp_approx: worst %lld ulp at x = %g\n", static_cast<long long>(worst), worst_x);
}

TEST(AttentionU8Reference, MatchesDoubleDerivation) {
  int n = 0;
  for (auto mask : {Config::Mask::kNone, Config::Mask::kFull, Config::Mask::kPaddingRow,
                    Config::Mask::kScalar}) {
    for (bool causal : {false, true}) {
      for (int bits : {4, 6, 8, 12, 16}) {
        for (int rows : {1, 12}) {
          Config c;
          c.lq = 7, c.lk = 37, c.d = 15, c.dv = 9;
          c.mask = mask, c.causal = causal, c.causal_offset = causal ? c.lk - c.lq : 0;
          c.p_bits = bits, c.p_scale = 1.0f / static_cast<float>(1 << bits);
          c.correction_rows = rows, c.seed = ++n;
          auto pr = make_problem(c);
          expect_close_to_naive(*pr, describe(c));
        }
      }
    }
  }
}

// With V = identity, v_scale = 1, p_mult = 1 and p_add = 0, O[i][j] = qp[i][j] - p_zero: the
// quantized probabilities themselves, which must equal the double derivation's except on ties.
TEST(AttentionU8Reference, QuantizedProbabilitiesMatchExceptOnTies) {
  for (int bits : {4, 6, 8, 10}) {
    for (float scale_num : {1.0f, 0.0f, 0.37f}) {
      Config c;
      c.lq = 17, c.lk = 40, c.d = 16, c.dv = 40, c.p_bits = bits;
      const float levels = static_cast<float>((1 << bits) - 1);
      c.p_scale = scale_num == 1.0f   ? 1.0f / static_cast<float>(1 << bits)
                  : scale_num == 0.0f ? 1.0f / levels
                                      : scale_num / levels;  // calibrated max 0.37
      c.q_scale = 0.1f, c.k_scale = 0.1f, c.score_scale = 0.25f;
      c.seed = bits * 7 + static_cast<uint32_t>(scale_num * 100);
      auto pr = make_problem(c);
      for (int64_t j = 0; j < c.lk; ++j) {
        for (int64_t e = 0; e < c.dv; ++e) pr->v[j * pr->params.v_stride + e] = j == e ? 1 : 0;
      }
      pr->params.v_zero = 0, pr->params.v_scale = 1.0f;
      pr->p_mult[0] = 1.0f, pr->p_add[0] = 0.0f;
      const std::vector<float> o = run(*pr, Isa::kScalar);
      const Naive n = naive(*pr);
      int exact = 0, off = 0;
      for (int64_t i = 0; i < c.lq; ++i) {
        for (int64_t j = 0; j < c.lk; ++j) {
          const float want = static_cast<float>(n.qp[i * c.lk + j] - c.p_zero);
          const float got = o[i * pr->params.o_stride + j];
          if (got == want) {
            ++exact;
          } else {
            ++off;
            EXPECT_EQ(std::fabs(got - want), 1.0f);
            EXPECT_GT(n.ties[i], 0) << "bits " << bits << " row " << i << " key " << j;
          }
        }
      }
      EXPECT_LE(off, 2) << "bits " << bits;
      EXPECT_GT(exact, 0);
    }
  }
}

TEST(AttentionU8, IsasBitExactOnShapeSweep) {
  std::printf("ISAs tested:");
  for (Isa isa : available_isas()) std::printf(" %s", isa_name(isa));
  std::printf("\n");
  uint32_t n = 0;
  for (int64_t lq : {1, 2, 3, 7, 17, 64}) {
    for (int64_t lk : {1, 2, 5, 16, 17, 100, 257}) {
      for (int64_t d : {1, 3, 8, 15, 16, 40, 64, 65}) {
        for (int64_t dv : {1, 7, 16, 40, 64}) {
          ++n;
          Config c;
          c.lq = lq, c.lk = lk, c.d = d, c.dv = dv, c.seed = n;
          c.mask = static_cast<Config::Mask>(n % 4);
          c.causal = n % 3 == 0;
          c.causal_offset = n % 2 ? 0 : lk - lq;
          c.correction_rows = n % 5 == 0 ? 12 : 1;
          c.p_bits = 8 - 2 * static_cast<int>(n % 3);  // 8, 6, 4
          c.p_scale = 1.0f / static_cast<float>(1 << c.p_bits);
          c.score_scale = 1.0f / std::sqrt(static_cast<float>(d));
          auto pr = make_problem(c);
          expect_isas_match_reference(*pr, describe(c));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(AttentionU8, IsasBitExactOnQuantizationCorners) {
  uint32_t n = 100;
  for (int32_t zero : {0, 255, 128}) {
    for (int bits : {4, 6, 8}) {
      for (int grid = 0; grid < 3; ++grid) {
        for (int rows : {1, 12}) {
          for (auto mask : {Config::Mask::kNone, Config::Mask::kFull}) {
            Config c;
            c.lq = 17, c.lk = 100, c.d = 40, c.dv = 40, c.seed = ++n;
            c.q_zero = c.k_zero = c.v_zero = zero;
            c.p_bits = bits, c.correction_rows = rows, c.mask = mask;
            const float levels = static_cast<float>((1 << bits) - 1);
            c.p_scale = grid == 0   ? 1.0f / static_cast<float>(1 << bits)
                        : grid == 1 ? 1.0f / levels
                                    : 0.61f / levels;
            c.p_zero = grid == 2 && bits == 8 ? 3 : 0;  // a nonzero probability zero point too
            auto pr = make_problem(c);
            expect_isas_match_reference(*pr, describe(c));
            if (HasFatalFailure()) return;
            if (zero == 128) expect_close_to_naive(*pr, describe(c));
          }
        }
      }
    }
  }
}

TEST(AttentionU8, IsasBitExactOnCausalRowsAndRowRanges) {
  uint32_t n = 1000;
  for (int64_t lq : {1, 7, 33, 64}) {
    for (int64_t extra : {0, 5, 100}) {
      for (bool with_mask : {false, true}) {
        Config c;
        c.lq = lq, c.lk = lq + extra, c.d = 64, c.dv = 64, c.seed = ++n;
        c.causal = true, c.causal_offset = extra;
        c.mask = with_mask ? Config::Mask::kPaddingRow : Config::Mask::kNone;
        c.correction_rows = 12;
        auto pr = make_problem(c);
        expect_isas_match_reference(*pr, describe(c));
        for (int64_t b : {int64_t{1}, lq / 3, lq - 1}) {
          if (b <= 0 || b >= lq) continue;
          expect_isas_match_reference(*pr, describe(c) + " rows from " + std::to_string(b), b,
                                      std::min(lq, b + 20));
          // Rows outside the range are untouched.
          const std::vector<float> o = run(*pr, default_isa(), b, lq);
          for (int64_t i = 0; i < b; ++i) EXPECT_TRUE(std::isnan(o[i * pr->params.o_stride]));
          // A range gives the same rows as the whole call.
          const std::vector<float> all = run(*pr, default_isa());
          for (int64_t x = b * pr->params.o_stride; x < lq * pr->params.o_stride; ++x) {
            ASSERT_EQ(std::memcmp(&o[x], &all[x], 4), 0) << describe(c) << " at " << x;
          }
        }
        // causal_offset 0 with lk > lq: a prefix of the keys only.
        pr->params.causal_offset = 0;
        expect_isas_match_reference(*pr, describe(c) + " offset 0");
        expect_close_to_naive(*pr, describe(c) + " offset 0");
      }
    }
  }
}

// Long rows where most 8-bit probabilities round to 0 (SD self-attention: thousands of keys):
// the optimized P·V runs over the nonzero weight pairs only, and must still match the reference
// bit for bit, with and without padding and with a nonzero probability zero point. The double
// derivation confirms the rows really are sparse.
TEST(AttentionU8, IsasBitExactOnLongSparseRows) {
  uint32_t n = 2000;
  for (int64_t lk : {1500, 3001}) {
    for (float score_scale : {0.02f, 0.3f}) {  // diffuse, then peaky scores
      for (auto mask : {Config::Mask::kNone, Config::Mask::kPaddingRow, Config::Mask::kFull}) {
        for (int32_t p_zero : {0, 3}) {
          Config c;
          c.lq = 9, c.lk = lk, c.d = 40, c.dv = 40, c.seed = ++n, c.mask = mask;
          c.score_scale = score_scale, c.p_zero = p_zero, c.correction_rows = 12;
          auto pr = make_problem(c);
          expect_isas_match_reference(*pr, describe(c));
          if (HasFatalFailure()) return;
          const Naive nv = naive(*pr);
          int64_t zero = 0;
          for (int32_t q : nv.qp) zero += q == p_zero || q < 0;
          // >= 90% zero keys: at most 20% of the key pairs are nonzero, so the sparse P·V runs.
          EXPECT_GT(zero, static_cast<int64_t>(nv.qp.size()) * 9 / 10) << describe(c);
        }
      }
    }
  }
}

// A call for one row (decoding with a KV cache) takes its own path in the optimized kernels: every
// row computed alone must equal the reference, on odd d and dv, every mask kind, zero points at
// both ends, causal offsets, and rows long enough for the sparse P·V.
TEST(AttentionU8, SingleRowCallsMatchReference) {
  uint32_t n = 3000;
  for (int64_t lk : {1, 9, 130, 1500}) {
    for (auto [d, dv] : {std::pair<int64_t, int64_t>{64, 64}, {15, 7}, {40, 80}, {65, 33}}) {
      for (int32_t zero : {0, 128, 255}) {
        Config c;
        c.lq = 3, c.lk = lk, c.d = d, c.dv = dv, c.seed = ++n;
        c.q_zero = c.k_zero = c.v_zero = zero;
        c.mask = static_cast<Config::Mask>(n % 4);
        c.causal = n % 2 == 0, c.causal_offset = lk - 3;
        c.correction_rows = 12;
        c.score_scale = lk > 100 && n % 3 == 0 ? 0.02f : 0.3f;  // diffuse or peaky rows
        auto pr = make_problem(c);
        for (int64_t i = 0; i < c.lq; ++i) {
          expect_isas_match_reference(*pr, describe(c) + " row " + std::to_string(i), i, i + 1);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(AttentionU8, RowWithAllKeysMaskedIsZeroAndOneKeyRowIsExact) {
  Config c;
  c.lq = 3, c.lk = 20, c.d = 8, c.dv = 8, c.mask = Config::Mask::kFull;
  auto pr = make_problem(c);
  for (int64_t j = 0; j < c.lk; ++j) pr->mask[1 * c.lk + j] = kNoKey;  // row 1: nothing valid
  for (Isa isa : available_isas()) {
    const std::vector<float> o = run(*pr, isa);
    for (int64_t e = 0; e < c.dv; ++e) EXPECT_EQ(o[1 * pr->params.o_stride + e], 0.0f);
    // Row 0 keeps key lk / 2 only: p = 1, qp = 255 (1.0 is not representable on 1/256).
    for (int64_t e = 0; e < c.dv; ++e) {
      const float want =
          c.v_scale *
          (pr->p_mult[0] * (255.0f * (pr->v[(c.lk / 2) * pr->params.v_stride + e] - c.v_zero)) +
           pr->p_add[0] *
               static_cast<float>(pr->v[(c.lk / 2) * pr->params.v_stride + e] - c.v_zero));
      EXPECT_NEAR(o[e], want, 1e-5f * std::fabs(want) + 1e-6f) << isa_name(isa);
    }
  }
  expect_isas_match_reference(*pr, "all masked row");
}

// A masked key never contributes: changing V (and K) at masked keys leaves O bit-identical.
TEST(AttentionU8, MaskedKeysNeverContribute) {
  for (bool causal : {false, true}) {
    Config c;
    c.lq = 40, c.lk = 70, c.d = 40, c.dv = 40, c.correction_rows = 12;
    c.causal = causal, c.causal_offset = causal ? 30 : 0;
    c.mask = Config::Mask::kPaddingRow;
    auto pr = make_problem(c);
    for (Isa isa : available_isas()) {
      const std::vector<float> before = run(*pr, isa);
      auto changed = make_problem(c);
      for (int64_t j = c.lk - c.lk / 3; j < c.lk; ++j) {  // padded keys
        for (int64_t e = 0; e < c.dv; ++e) changed->v[j * changed->params.v_stride + e] ^= 0x5a;
        for (int64_t t = 0; t < c.d; ++t) changed->k[j * changed->params.k_stride + t] ^= 0x33;
      }
      EXPECT_TRUE(bit_equal(before, run(*changed, isa))) << isa_name(isa);
      if (causal) {
        // Changing token t + 1 leaves rows <= t bit-identical (rows i see keys <= i + 30; key
        // t + 31 = 41 is not padded).
        const int64_t t = 10;
        auto next = make_problem(c);
        for (int64_t e = 0; e < c.dv; ++e) next->v[(t + 31) * next->params.v_stride + e] ^= 0x77;
        for (int64_t x = 0; x < c.d; ++x) next->k[(t + 31) * next->params.k_stride + x] ^= 0x11;
        const std::vector<float> after = run(*next, isa);
        EXPECT_EQ(std::memcmp(before.data(), after.data(),
                              (t + 1) * next->params.o_stride * sizeof(float)),
                  0)
            << isa_name(isa);
        EXPECT_FALSE(bit_equal(before, after));
      }
    }
  }
}

TEST(AttentionU8, IsasBitExactOnModelSizedRows) {
  {  // Stable Diffusion self-attention: 4096 keys, d = 40; a few rows.
    Config c;
    c.lq = 4096, c.lk = 4096, c.d = 40, c.dv = 40, c.seed = 77;
    c.q_scale = 0.03f, c.k_scale = 0.03f, c.score_scale = 1.0f / std::sqrt(40.0f);
    c.correction_rows = 12;
    auto pr = make_problem(c);
    expect_isas_match_reference(*pr, "sd", 1000, 1021);
  }
  {  // OPT causal rows with 2048 keys, d = 64.
    Config c;
    c.lq = 2048, c.lk = 2048, c.d = 64, c.dv = 64, c.seed = 78, c.causal = true;
    c.correction_rows = 12, c.score_scale = 0.125f;
    auto pr = make_problem(c);
    expect_isas_match_reference(*pr, "opt", 2020, 2048);
    expect_isas_match_reference(*pr, "opt", 0, 20);
  }
}

TEST(AttentionU8, WideProbabilityGridsFallBackToReference) {
  for (int bits : {10, 16}) {
    Config c;
    c.lq = 9, c.lk = 50, c.d = 16, c.dv = 16, c.p_bits = bits, c.causal = true;
    c.p_scale = 1.0f / static_cast<float>(1 << bits);
    auto pr = make_problem(c);
    expect_isas_match_reference(*pr, describe(c));
    expect_close_to_naive(*pr, describe(c));
  }
}

}  // namespace
}  // namespace sq::kernels
