// Single-thread throughput of the fused int8 attention kernel, per available ISA, against an FP32
// baseline (Eigen float Q·Kᵀ, std::exp softmax, Eigen float P·V, per block of 64 rows) on
// Stable Diffusion v1.5 and OPT attention shapes (one head). GOP/s counts 2 * lq * lk * (d + dv)
// operations for every shape, causal ones included, so the columns compare directly.
//
//   attention_u8_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/attention_u8.h"

namespace {

using sq::kernels::AttentionParams;
using sq::kernels::Isa;

struct Shape {
  const char* name;
  int64_t lq, lk, d;
  bool causal;
};

constexpr Shape kShapes[] = {
    {"sd_self_4096_d40", 4096, 4096, 40, false},
    {"sd_self_1024_d80", 1024, 1024, 80, false},
    {"opt_causal_512_d64", 512, 512, 64, true},
};

double ops(const Shape& s) { return 2.0 * s.lq * s.lk * (s.d + s.d); }

struct Data {
  std::vector<uint8_t> q, k, v;
  std::vector<float> o;
};

Data make_data(const Shape& s) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> byte(0, 255);
  Data x;
  x.q.resize(s.lq * s.d);
  x.k.resize(s.lk * s.d);
  x.v.resize(s.lk * s.d);
  for (auto* vec : {&x.q, &x.k, &x.v}) {
    for (auto& b : *vec) b = static_cast<uint8_t>(byte(rng));
  }
  x.o.resize(s.lq * s.d);
  return x;
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

void bm_int8(benchmark::State& state, Shape s, Isa isa) {
  Data x = make_data(s);
  const float p_mult = 1.0f / 256, p_add = 1e-4f;
  AttentionParams p;
  p.lq = s.lq, p.lk = s.lk, p.d = s.d, p.dv = s.d;
  p.q = x.q.data(), p.q_stride = s.d;
  p.k = x.k.data(), p.k_stride = s.d;
  p.v = x.v.data(), p.v_stride = s.d;
  p.q_scale = p.k_scale = 0.03f, p.v_scale = 0.02f;
  p.q_zero = p.k_zero = p.v_zero = 128;
  p.score_scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  p.causal = s.causal;
  p.p_bits = 8, p.p_scale = 1.0f / 256, p.p_zero = 0;
  p.p_mult = &p_mult, p.p_add = &p_add, p.correction_rows = 1;
  p.o = x.o.data(), p.o_stride = s.d;
  const size_t bytes = (sq::kernels::attention_scratch_bytes(s.lk, s.d, isa) + 63) / 64 * 64;
  std::unique_ptr<void, AlignedFree> scratch(std::aligned_alloc(64, bytes));
  for (auto _ : state) {
    sq::kernels::attention_u8(p, 0, s.lq, scratch.get(), isa);
    benchmark::DoNotOptimize(x.o.data());
    benchmark::ClobberMemory();
  }
  state.counters["GOP/s"] =
      benchmark::Counter(ops(s) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_fp32(benchmark::State& state, Shape s) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Mat q(s.lq, s.d), k(s.lk, s.d), v(s.lk, s.d), o(s.lq, s.d);
  for (Mat* m : {&q, &k, &v}) {
    for (Eigen::Index i = 0; i < m->size(); ++i) m->data()[i] = normal(rng);
  }
  constexpr int64_t kBlock = 64;
  Mat scores(kBlock, s.lk);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  for (auto _ : state) {
    for (int64_t i0 = 0; i0 < s.lq; i0 += kBlock) {
      const int64_t n = std::min(kBlock, s.lq - i0);
      auto sc = scores.topRows(n);
      sc.noalias() = q.middleRows(i0, n) * k.transpose();
      for (int64_t r = 0; r < n; ++r) {
        float* row = sc.row(r).data();
        const int64_t lim = s.causal ? std::min(s.lk, i0 + r + 1) : s.lk;
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < lim; ++j) {
          row[j] *= scale;
          m = std::max(m, row[j]);
        }
        float sum = 0;
        for (int64_t j = 0; j < lim; ++j) sum += row[j] = std::exp(row[j] - m);
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < lim; ++j) row[j] *= inv;
        for (int64_t j = lim; j < s.lk; ++j) row[j] = 0.0f;
      }
      o.middleRows(i0, n).noalias() = sc * v;
    }
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  state.counters["GOP/s"] =
      benchmark::Counter(ops(s) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

int register_all() {
  Eigen::setNbThreads(1);
  for (const Shape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("fp32_eigen/") + s.name).c_str(), bm_fp32, s)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    for (Isa isa : sq::kernels::available_isas()) {
      benchmark::RegisterBenchmark(
          (std::string("int8/") + s.name + "/" + sq::kernels::isa_name(isa)).c_str(), bm_int8, s,
          isa)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  return 0;
}

const int kRegistered = register_all();

}  // namespace

BENCHMARK_MAIN();
