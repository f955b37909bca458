// gemm_u8s8_f32: the scalar reference against a naive int64 recomputation done here (exact sum,
// then one fma), and every ISA kernel this CPU can run against the scalar reference, bit for bit,
// on odd shapes, both B layouts, padded A rows, extreme zero points and values (the int16
// saturation trap of vpmaddubsw), optional col_scale / bias and column ranges. A's last row ends
// right before a PROT_NONE page, so a kernel reading A past its k values crashes the test.
#include "runtime/kernels/gemm_u8s8.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace sq::kernels {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

bool is_available(Isa isa) {
  const auto& isas = available_isas();
  return std::find(isas.begin(), isas.end(), isa) != isas.end();
}

// `size` bytes that end exactly at a PROT_NONE page.
class GuardedBytes {
 public:
  explicit GuardedBytes(size_t size) : size_(size) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    map_bytes_ = (size + page - 1) / page * page + page;
    void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    base_ = static_cast<uint8_t*>(p);
    EXPECT_EQ(mprotect(base_ + map_bytes_ - page, page, PROT_NONE), 0);
  }
  ~GuardedBytes() { munmap(base_, map_bytes_); }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  uint8_t* data() {
    return base_ + (map_bytes_ - static_cast<size_t>(sysconf(_SC_PAGESIZE))) - size_;
  }

 private:
  size_t size_, map_bytes_;
  uint8_t* base_;
};

struct Case {
  int64_t m, k, n;
  bool b_kn = true;     // B stored [K][N] (stride_k = n, stride_n = 1), else [N][K]
  int64_t lda_pad = 0;  // lda = k + lda_pad
  int32_t a_zero = 0, b_zero = 0;
  bool col_scale = false, bias = false;
  uint32_t seed = 1;

  std::string str() const {
    return "m=" + std::to_string(m) + " k=" + std::to_string(k) + " n=" + std::to_string(n) +
           (b_kn ? " B[K][N]" : " B[N][K]") + " lda=k+" + std::to_string(lda_pad) +
           " a_zero=" + std::to_string(a_zero) + " b_zero=" + std::to_string(b_zero) +
           (col_scale ? " col_scale" : "") + (bias ? " bias" : "");
  }
};

// Inputs of one case; values are extremes (0/255, -128/127) half of the time.
struct Problem {
  explicit Problem(const Case& cs)
      : c(cs), lda(cs.k + cs.lda_pad), a_mem(static_cast<size_t>((cs.m - 1) * lda + cs.k)) {
    std::mt19937 rng(cs.seed);
    auto pick = [&](int lo, int hi) {
      const int v = static_cast<int>(rng() % 4);
      if (v == 0) return lo;
      if (v == 1) return hi;
      return lo + static_cast<int>(rng() % static_cast<uint32_t>(hi - lo + 1));
    };
    a = a_mem.data();
    for (int64_t i = 0; i < cs.m; ++i) {
      for (int64_t kk = 0; kk < lda && i * lda + kk < (cs.m - 1) * lda + cs.k; ++kk) {
        a[i * lda + kk] = kk < cs.k ? static_cast<uint8_t>(pick(0, 255)) : 0xAB;  // 0xAB: padding
      }
    }
    b.resize(static_cast<size_t>(cs.k * cs.n));
    for (auto& v : b) v = static_cast<int8_t>(pick(-128, 127));
    stride_k = cs.b_kn ? cs.n : 1;
    stride_n = cs.b_kn ? 1 : cs.k;
    if (cs.col_scale) {
      for (int64_t j = 0; j < cs.n; ++j)
        col_scale.push_back(
            std::ldexp(1.0f + (rng() % 997) / 1000.0f, -12 + static_cast<int>(j % 5)));
    }
    if (cs.bias) {
      for (int64_t j = 0; j < cs.n; ++j)
        bias.push_back(static_cast<float>(static_cast<int>(rng() % 20001) - 10000) / 7.0f);
    }
    e.a_zero = cs.a_zero;
    e.b_zero = cs.b_zero;
    e.scale = 0.0123f;
    e.col_scale = cs.col_scale ? col_scale.data() : nullptr;
    e.bias = cs.bias ? bias.data() : nullptr;
  }

  int8_t bval(int64_t kk, int64_t j) const { return b[kk * stride_k + j * stride_n]; }

  // The header's definition, by hand: exact int64 sum (must fit int32), then one float fma.
  float naive(int64_t i, int64_t j) const {
    int64_t acc = 0;
    for (int64_t kk = 0; kk < c.k; ++kk) {
      acc += (int64_t{a[i * lda + kk]} - c.a_zero) * (int64_t{bval(kk, j)} - c.b_zero);
    }
    EXPECT_LE(std::abs(acc), int64_t{std::numeric_limits<int32_t>::max()});
    const float mult = c.col_scale ? e.scale * col_scale[static_cast<size_t>(j)] : e.scale;
    const float add = c.bias ? bias[static_cast<size_t>(j)] : 0.0f;
    return std::fma(static_cast<float>(acc), mult, add);
  }

  // C over columns [n_begin, n_end) with ldc = n + 3; everything else must stay at the sentinel.
  std::vector<float> run(Isa isa, const std::vector<std::pair<int64_t, int64_t>>& ranges) const {
    const PackedMatrixS8 packed = pack_b_s8(b.data(), c.k, c.n, stride_k, stride_n, isa);
    const int64_t ldc = c.n + 3;
    std::vector<float> out(static_cast<size_t>(c.m * ldc), kSentinel);
    for (auto [lo, hi] : ranges) gemm_u8s8_f32(a, c.m, lda, packed, lo, hi, e, out.data(), ldc);
    return out;
  }

  static constexpr float kSentinel = -12345.678f;
  Case c;
  int64_t lda;
  GuardedBytes a_mem;
  uint8_t* a;
  std::vector<int8_t> b;
  int64_t stride_k = 0, stride_n = 0;
  std::vector<float> col_scale, bias;
  GemmU8S8Epilogue e;
};

// Checks the reference against naive() and `isa` against the reference. Returns false on the
// first mismatch (after reporting it) to keep failure output short.
bool check(const Case& cs, Isa isa) {
  SCOPED_TRACE(std::string(isa_name(isa)) + " " + cs.str());
  Problem p(cs);
  const int64_t ldc = cs.n + 3;
  const std::vector<float> ref = p.run(Isa::kScalar, {{0, cs.n}});
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float want = j < cs.n ? p.naive(i, j) : Problem::kSentinel;
      const float got = ref[static_cast<size_t>(i * ldc + j)];
      if (bits(got) != bits(want)) {
        ADD_FAILURE() << "reference vs naive at i=" << i << " j=" << j << ": " << got
                      << " != " << want;
        return false;
      }
    }
  }
  if (isa == Isa::kScalar) return true;
  // Whole range, and the same columns computed as several column blocks.
  const int64_t cb = gemm_column_block(isa);
  std::vector<std::pair<int64_t, int64_t>> split;
  for (int64_t lo = 0, step = 1; lo < cs.n; lo += step * cb, ++step) {
    split.push_back({lo, std::min(cs.n, lo + step * cb)});
  }
  for (const auto& ranges : {std::vector<std::pair<int64_t, int64_t>>{{0, cs.n}}, split}) {
    const std::vector<float> got = p.run(isa, ranges);
    for (size_t x = 0; x < got.size(); ++x) {
      if (bits(got[x]) != bits(ref[x])) {
        ADD_FAILURE() << "kernel vs reference at i=" << x / ldc << " j=" << x % ldc << " ("
                      << ranges.size() << " column ranges): " << got[x] << " != " << ref[x];
        return false;
      }
    }
  }
  return true;
}

class GemmU8S8 : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!is_available(GetParam())) {
      GTEST_SKIP() << "ISA " << isa_name(GetParam())
                   << " is not compiled into this binary or not supported by this CPU; its "
                      "kernel was not run";
    }
  }
};

// Every shape of the grid; the options rotate with the case index so each is met on many shapes.
TEST_P(GemmU8S8, ShapeGridMatchesReference) {
  const int32_t a_zeros[] = {0, 255, 128};
  const int32_t b_zeros[] = {0, -128, 127};
  int idx = 0;
  for (int64_t m : {1, 2, 3, 5, 7, 17, 64}) {
    for (int64_t k : {1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 768}) {
      for (int64_t n : {1, 7, 15, 16, 17, 33, 100}) {
        Case cs{m, k, n};
        cs.b_kn = idx % 2 == 0;
        cs.lda_pad = (idx / 2) % 2 == 0 ? 0 : 13;
        cs.a_zero = a_zeros[idx % 3];
        cs.b_zero = b_zeros[(idx / 3) % 3];
        cs.col_scale = (idx / 5) % 2 == 1;
        cs.bias = (idx / 7) % 2 == 1;
        cs.seed = static_cast<uint32_t>(idx + 1);
        ++idx;
        if (!check(cs, GetParam())) return;
      }
    }
  }
}

// Every combination of options, on shapes with m, n and k tails.
TEST_P(GemmU8S8, OptionGridMatchesReference) {
  uint32_t seed = 1000;
  for (auto [m, k, n] :
       {std::tuple<int64_t, int64_t, int64_t>{5, 17, 33}, {3, 65, 17}, {9, 5, 40}, {2, 130, 100}}) {
    for (bool b_kn : {true, false}) {
      for (int64_t lda_pad : {0, 7}) {
        for (int32_t a_zero : {0, 255, 128}) {
          for (int32_t b_zero : {0, -128, 127}) {
            for (bool col_scale : {false, true}) {
              for (bool bias : {false, true}) {
                Case cs{m, k, n, b_kn, lda_pad, a_zero, b_zero, col_scale, bias, ++seed};
                if (!check(cs, GetParam())) return;
              }
            }
          }
        }
      }
    }
  }
}

// Long k on few rows: decode kernels read k in chunks longer than the grid's k (4096 values on
// AVX2 for one or two rows), so k runs past one and two such chunks here, with a tail.
TEST_P(GemmU8S8, LongKOnFewRowsMatchesReference) {
  uint32_t seed = 2000;
  for (int64_t m : {1, 2, 3}) {
    for (int64_t k : {4095, 4097, 8195}) {
      Case cs{m, k, 37};
      cs.a_zero = 3;
      cs.b_zero = m == 2 ? 5 : 0;
      cs.col_scale = true;
      cs.bias = true;
      cs.seed = ++seed;
      if (!check(cs, GetParam())) return;
    }
  }
}

// Long k with every product at its extreme: the int32 sums are exact (no int16 saturation, no
// overflow) and, with scale 1, no bias, they are exactly representable floats.
TEST_P(GemmU8S8, LongKExtremesAreExact) {
  const int64_t m = 5, k = 4096, n = 37;
  struct Extreme {
    uint8_t a;
    int8_t b;
    int32_t a_zero, b_zero;
    float want;  // k * (a - a_zero) * (b - b_zero)
  };
  for (const Extreme& x :
       {Extreme{255, -128, 0, 0, -133693440.0f}, Extreme{255, 127, 0, 0, 132648960.0f},
        Extreme{0, 127, 255, -128, -266342400.0f}, Extreme{255, -128, 0, 127, -266342400.0f}}) {
    SCOPED_TRACE("a=" + std::to_string(x.a) + " b=" + std::to_string(x.b));
    GuardedBytes a_mem(static_cast<size_t>(m * k));
    std::memset(a_mem.data(), x.a, static_cast<size_t>(m * k));
    const std::vector<int8_t> b(static_cast<size_t>(k * n), x.b);
    const PackedMatrixS8 packed = pack_b_s8(b.data(), k, n, n, 1, GetParam());
    GemmU8S8Epilogue e;
    e.a_zero = x.a_zero;
    e.b_zero = x.b_zero;
    std::vector<float> c(static_cast<size_t>(m * n), 0.0f);
    gemm_u8s8_f32(a_mem.data(), m, k, packed, 0, n, e, c.data(), n);
    for (float v : c) ASSERT_EQ(v, x.want);
  }
}

TEST_P(GemmU8S8, PackIsAlignedPaddedAndSummed) {
  const int64_t k = 19, n = 21;
  std::vector<int8_t> b(static_cast<size_t>(k * n));
  for (size_t x = 0; x < b.size(); ++x) b[x] = static_cast<int8_t>(x * 37 % 256 - 128);
  const PackedMatrixS8 p = pack_b_s8(b.data(), k, n, 1, k, GetParam());  // [N][K]
  EXPECT_EQ(p.isa, GetParam());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.data.get()) % 64, 0u);
  EXPECT_EQ(p.data_bytes % 64, 0);
  EXPECT_GE(p.data_bytes, k * n);
  ASSERT_EQ(p.col_sums.size(), static_cast<size_t>(n));
  int64_t total = 0;
  for (int64_t j = 0; j < n; ++j) {
    int32_t s = 0;
    for (int64_t kk = 0; kk < k; ++kk) s += b[static_cast<size_t>(j * k + kk)];
    EXPECT_EQ(p.col_sums[static_cast<size_t>(j)], s) << "column " << j;
  }
  for (int64_t x = 0; x < p.data_bytes; ++x) total += p.data[x];
  int64_t want = 0;
  for (int8_t v : b) want += v;
  EXPECT_EQ(total, want) << "every value packed once, padding zero";
}

INSTANTIATE_TEST_SUITE_P(AllIsas, GemmU8S8,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon,
                                           Isa::kNeonDot),
                         [](const ::testing::TestParamInfo<Isa>& info) {
                           return std::string(isa_name(info.param));
                         });

// Packed for any ISA and repacked for any ISA (compiled into this binary or not: a model packed
// for a board is repacked on a workstation and back): the same bytes and column sums as packing
// the original for the target, on a shape with k and n tails in every layout; every column reads
// back as B's; and a view over packed bytes runs like the matrix it views.
TEST(GemmU8S8Repack, EveryPairOfIsasAndViews) {
  const Isa all[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512Vnni, Isa::kNeon, Isa::kNeonDot};
  const int64_t k = 37, n = 45, m = 5;
  std::vector<int8_t> b(static_cast<size_t>(k * n));
  for (size_t x = 0; x < b.size(); ++x) b[x] = static_cast<int8_t>(x * 53 % 256 - 128);
  for (Isa from_isa : all) {
    const PackedMatrixS8 from = pack_b_s8(b.data(), k, n, n, 1, from_isa);
    EXPECT_EQ(from.data_bytes, packed_b_bytes(k, n, from_isa));
    std::vector<int8_t> col(static_cast<size_t>(k));
    for (int64_t j = 0; j < n; ++j) {
      packed_b_column(from, j, col.data());
      for (int64_t kk = 0; kk < k; ++kk) {
        ASSERT_EQ(col[static_cast<size_t>(kk)], b[static_cast<size_t>(kk * n + j)])
            << isa_name(from_isa) << " column " << j << " row " << kk;
      }
    }
    for (Isa to : all) {
      SCOPED_TRACE(std::string(isa_name(from_isa)) + " to " + isa_name(to));
      const PackedMatrixS8 want = pack_b_s8(b.data(), k, n, n, 1, to);
      const PackedMatrixS8 got = repack_b_s8(from, to);
      EXPECT_EQ(got.isa, to);
      ASSERT_EQ(got.data_bytes, want.data_bytes);
      EXPECT_EQ(std::memcmp(got.data.get(), want.data.get(), static_cast<size_t>(got.data_bytes)),
                0);
      ASSERT_EQ(got.col_sums.size(), want.col_sums.size());
      EXPECT_TRUE(std::equal(got.col_sums.begin(), got.col_sums.end(), want.col_sums.begin()));
    }
    if (!is_available(from_isa)) continue;
    const PackedMatrixS8 view =
        packed_b_s8_view(from_isa, k, n, from.data.get(), from.col_sums.data(), from.data);
    EXPECT_EQ(view.data.get(), from.data.get()) << "a view copies nothing";
    std::vector<uint8_t> a(static_cast<size_t>(m * k));
    for (size_t x = 0; x < a.size(); ++x) a[x] = static_cast<uint8_t>(x * 29 % 256);
    GemmU8S8Epilogue e;
    e.a_zero = 131;
    std::vector<float> c1(static_cast<size_t>(m * n)), c2(c1.size());
    gemm_u8s8_f32(a.data(), m, k, from, 0, n, e, c1.data(), n);
    gemm_u8s8_f32(a.data(), m, k, view, 0, n, e, c2.data(), n);
    EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0) << isa_name(from_isa);
  }
}

TEST(GemmU8S8Dispatch, ColumnBlocksAndAvailableIsas) {
  ASSERT_FALSE(available_isas().empty());
  EXPECT_EQ(available_isas().front(), Isa::kScalar);
  EXPECT_EQ(gemm_column_block(Isa::kScalar), 1);
  for (Isa isa : available_isas()) {
    std::printf("[ info     ] gemm_u8s8 ISA available: %s (column block %lld)\n", isa_name(isa),
                static_cast<long long>(gemm_column_block(isa)));
  }
}

}  // namespace
}  // namespace sq::kernels
