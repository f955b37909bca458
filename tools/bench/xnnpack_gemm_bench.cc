// Why this exists: issue 4 asks to use XNNPACK where it is the faster choice and to measure that
// it is. This program times, on the shapes the models run (OPT-125M linear layers at m = 1, 128,
// 512 tokens and its LM head; SD v1.5 1x1 convolutions as GEMMs), our gemm_u8s8_f32 against the
// int8 operators of the installed XNNPACK (Debian 12: a 2022 snapshot):
//
//   ours_raw    one gemm_u8s8_f32 call over the whole matrix (as gemm_u8s8_bench times it)
//   ours_tiled  the engine's parallel_gemm tiling (runtime/ops/int8_ops.cc: <= 128-row tiles x
//               L2-sized column blocks), tiles spread over the pthreadpool when threads = 2
//   xnn_qu8_fc  xnn_create_fully_connected_nc_qu8: u8 x u8 (weight zero point 128), per tensor
//   xnn_qs8_fc  xnn_create_fully_connected_nc_qs8: s8 x s8 (symmetric weights), per tensor
//   xnn_qc8_1x1 xnn_create_convolution2d_nhwc_qc8 with a 1x1 kernel: s8 x s8, per-channel weight
//               scales (this snapshot's only per-channel int8 path)
//
// Not identical work: ours writes float C (fma(acc, scale * col_scale[j], bias[j])), XNNPACK
// writes requantized 8-bit C (int32 bias added before requantization, then rounded, clamped and
// offset) — a quarter of the output bytes. XNNPACK's operators and our packed B are created
// outside the timed loop; only gemm_u8s8_f32 / xnn_run_operator are timed. Before timing, sampled
// outputs of every variant are checked against a scalar reference (XNNPACK: within 1 output
// step), so a misconfigured operator fails instead of being timed.
//
//   xnnpack_gemm_bench [--benchmark_filter=...]
// Counter: GOP/s = 2*m*n*k per second. threads:1 runs on the calling thread (XNNPACK gets a null
// pthreadpool) and is timed in thread CPU time, like gemm_u8s8_bench; threads:2 uses a
// 2-thread pthreadpool for both libraries and is timed in wall time (the workers' CPU time is not
// the benchmark thread's).
#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/gemm_u8s8.h"

namespace {

using sq::kernels::Isa;

struct Shape {
  const char* what;
  int64_t m, k, n;
  // The 1x1 convolution's input is h x w pixels (m = h * w); OPT rows are m x 1.
  int64_t h, w;
};

const Shape kShapes[] = {
    {"opt", 1, 768, 768, 1, 1},        {"opt", 1, 768, 3072, 1, 1},
    {"opt", 1, 3072, 768, 1, 1},       {"opt", 128, 768, 768, 128, 1},
    {"opt", 128, 768, 3072, 128, 1},   {"opt", 128, 3072, 768, 128, 1},
    {"opt", 512, 768, 768, 512, 1},    {"opt", 512, 768, 3072, 512, 1},
    {"opt", 512, 3072, 768, 512, 1},   {"optlmhead", 128, 768, 50272, 128, 1},
    {"sd1x1", 4096, 320, 320, 64, 64}, {"sd1x1", 1024, 640, 640, 32, 32},
};

std::string shape_name(const Shape& s) {
  return std::string(s.what) + "_m" + std::to_string(s.m) + "_k" + std::to_string(s.k) + "_n" +
         std::to_string(s.n);
}

pthreadpool_t pool_for(int threads) {
  static pthreadpool_t two = pthreadpool_create(2);
  return threads <= 1 ? nullptr : two;
}

void set_counters(benchmark::State& state, const Shape& s) {
  const double gop =
      2e-9 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  state.counters["GOP/s"] = benchmark::Counter(gop, benchmark::Counter::kIsIterationInvariantRate);
}

// Inputs shared by every variant of a shape: A as u8 (zero point 128 for the u8 paths; the s8
// paths use A - 128, the same real values), B as s8 [n][k] (row j = output column j), per-column
// weight scales, float bias. Output scale chosen so that the 8-bit outputs span about +-3 sigma.
struct Problem {
  Shape s;
  std::vector<uint8_t> a_u8;
  std::vector<int8_t> a_s8;
  std::vector<int8_t> b_nk;    // [n][k]
  std::vector<float> w_scale;  // [n]
  std::vector<float> bias_f;   // [n]
  float a_scale = 0.02f, w_scale_tensor = 0.004f, out_scale = 1;
};

Problem make_problem(const Shape& s) {
  Problem p;
  p.s = s;
  std::mt19937 rng(1);
  p.a_u8.resize(static_cast<size_t>(s.m * s.k));
  p.a_s8.resize(p.a_u8.size());
  for (size_t i = 0; i < p.a_u8.size(); ++i) {
    p.a_u8[i] = static_cast<uint8_t>(rng());
    p.a_s8[i] = static_cast<int8_t>(static_cast<int>(p.a_u8[i]) - 128);
  }
  p.b_nk.resize(static_cast<size_t>(s.n * s.k));
  for (auto& v : p.b_nk) v = static_cast<int8_t>(rng());
  p.w_scale.resize(static_cast<size_t>(s.n));
  p.bias_f.resize(static_cast<size_t>(s.n));
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (int64_t j = 0; j < s.n; ++j) {
    p.w_scale[static_cast<size_t>(j)] = p.w_scale_tensor * u(rng);
    p.bias_f[static_cast<size_t>(j)] = (u(rng) - 1.0f) * 10.0f;
  }
  // acc std of a k-long dot product of uniform 8-bit values (std ~74 each): 74^2 * sqrt(k).
  const double acc_std = 74.0 * 74.0 * std::sqrt(static_cast<double>(s.k));
  p.out_scale = static_cast<float>(3.0 * acc_std * p.a_scale * p.w_scale_tensor / 127.0);
  return p;
}

// sum_k (A_u8 - 128) * B_s8: the same integer for every variant (qu8 weights are B + 128 with
// zero point 128, s8 activations are A - 128 with zero point 0).
int32_t dot_centered(const Problem& p, int64_t i, int64_t j) {
  int32_t acc = 0;
  for (int64_t kk = 0; kk < p.s.k; ++kk) {
    acc += (static_cast<int32_t>(p.a_u8[static_cast<size_t>(i * p.s.k + kk)]) - 128) *
           static_cast<int32_t>(p.b_nk[static_cast<size_t>(j * p.s.k + kk)]);
  }
  return acc;
}

// Sampled (i, j): corners plus a spread, enough to catch a wrong layout or wrong parameters.
std::vector<std::pair<int64_t, int64_t>> samples(const Shape& s) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::mt19937 rng(7);
  out.push_back({0, 0});
  out.push_back({s.m - 1, s.n - 1});
  for (int t = 0; t < 62; ++t) {
    out.push_back({static_cast<int64_t>(rng() % static_cast<uint32_t>(s.m)),
                   static_cast<int64_t>(rng() % static_cast<uint32_t>(s.n))});
  }
  return out;
}

// ---- ours ------------------------------------------------------------------------------------

struct OursSetup {
  sq::kernels::PackedMatrixS8 packed;
  sq::kernels::GemmU8S8Epilogue e;
  std::vector<float> c;
};

// runtime/ops/int8_ops.cc parallel_gemm's tiling, with pthreadpool in place of the engine's pool.
void ours_tiled(pthreadpool_t pool, int threads, const uint8_t* a, int64_t m, int64_t lda,
                const sq::kernels::PackedMatrixS8& b, const sq::kernels::GemmU8S8Epilogue& ep,
                float* c, int64_t ldc) {
  constexpr int64_t kTileRows = 128, kBlockBytes = 192 << 10;
  const int64_t unit = sq::kernels::gemm_column_block(b.isa);
  int64_t cols = std::max<int64_t>(unit, kBlockBytes / std::max<int64_t>(b.k, 1) / unit * unit);
  const int64_t balanced = (b.n + 4 * threads - 1) / (4 * threads);
  if (m <= kTileRows) cols = std::min(cols, std::max(unit, (balanced + unit - 1) / unit * unit));
  const int64_t col_blocks = (b.n + cols - 1) / cols, row_tiles = (m + kTileRows - 1) / kTileRows;
  auto tile = [&](size_t t_) {
    const int64_t t = static_cast<int64_t>(t_);
    const int64_t r0 = (t / col_blocks) * kTileRows, j0 = (t % col_blocks) * cols;
    sq::kernels::gemm_u8s8_f32(a + r0 * lda, std::min(kTileRows, m - r0), lda, b, j0,
                               std::min(b.n, j0 + cols), ep, c + r0 * ldc, ldc);
  };
  const int64_t tiles = row_tiles * col_blocks;
  if (threads <= 1 || m * b.n * b.k < (int64_t{1} << 18)) {
    for (int64_t t = 0; t < tiles; ++t) tile(static_cast<size_t>(t));
    return;
  }
  pthreadpool_parallelize_1d(pool, tile, static_cast<size_t>(tiles));
}

void BM_Ours(benchmark::State& state, Shape s, bool tiled, int threads) {
  const Problem p = make_problem(s);
  const Isa isa = sq::kernels::default_isa();
  OursSetup o;
  o.packed = sq::kernels::pack_b_s8(p.b_nk.data(), s.k, s.n, 1, s.k, isa);  // [n][k] = transB
  o.e.a_zero = 128;
  o.e.scale = p.a_scale;
  o.e.col_scale = p.w_scale.data();
  o.e.bias = p.bias_f.data();
  o.c.assign(static_cast<size_t>(s.m * s.n), 0.0f);
  pthreadpool_t pool = pool_for(threads);
  auto run = [&] {
    if (tiled) {
      ours_tiled(pool, threads, p.a_u8.data(), s.m, s.k, o.packed, o.e, o.c.data(), s.n);
    } else {
      sq::kernels::gemm_u8s8_f32(p.a_u8.data(), s.m, s.k, o.packed, 0, s.n, o.e, o.c.data(), s.n);
    }
  };
  run();
  for (auto [i, j] : samples(s)) {
    const size_t jj = static_cast<size_t>(j);
    const double want =
        static_cast<double>(dot_centered(p, i, j)) * p.a_scale * p.w_scale[jj] + p.bias_f[jj];
    const double got = o.c[static_cast<size_t>(i * s.n + j)];
    if (std::fabs(got - want) > 1e-4 * (1.0 + std::fabs(want))) {
      state.SkipWithError("ours: mismatch against the reference");
      return;
    }
  }
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(sq::kernels::isa_name(isa));
  set_counters(state, s);
}

// ---- XNNPACK ---------------------------------------------------------------------------------

enum class Xnn { kQu8Fc, kQs8Fc, kQc8Conv1x1 };

const char* xnn_name(Xnn v) {
  switch (v) {
    case Xnn::kQu8Fc:
      return "xnn_qu8_fc";
    case Xnn::kQs8Fc:
      return "xnn_qs8_fc";
    case Xnn::kQc8Conv1x1:
      return "xnn_qc8_1x1";
  }
  return "?";
}

void BM_Xnn(benchmark::State& state, Shape s, Xnn v, int threads) {
  const Problem p = make_problem(s);
  pthreadpool_t pool = pool_for(threads);
  const size_t k = static_cast<size_t>(s.k), n = static_cast<size_t>(s.n);
  // Per-tensor paths use one weight scale; the per-channel path uses w_scale[j]. Bias is int32 in
  // units of a_scale * weight scale.
  std::vector<float> wsc(n);
  for (size_t j = 0; j < n; ++j) wsc[j] = v == Xnn::kQc8Conv1x1 ? p.w_scale[j] : p.w_scale_tensor;
  std::vector<int32_t> bias(n);
  for (size_t j = 0; j < n; ++j)
    bias[j] = static_cast<int32_t>(std::lrint(p.bias_f[j] / (p.a_scale * wsc[j])));
  std::vector<uint8_t> b_u8;
  if (v == Xnn::kQu8Fc) {
    b_u8.resize(p.b_nk.size());
    for (size_t i = 0; i < b_u8.size(); ++i) b_u8[i] = static_cast<uint8_t>(p.b_nk[i] + 128);
  }
  const int32_t out_zero = v == Xnn::kQu8Fc ? 128 : 0;
  std::vector<uint8_t> out(static_cast<size_t>(s.m) * n);  // u8 or s8 bytes

  xnn_operator_t op = nullptr;
  xnn_status st = xnn_status_success;
  switch (v) {
    case Xnn::kQu8Fc:
      st = xnn_create_fully_connected_nc_qu8(k, n, k, n, 128, p.a_scale, 128, p.w_scale_tensor,
                                             b_u8.data(), bias.data(), 128, p.out_scale, 0, 255, 0,
                                             &op);
      if (st == xnn_status_success) {
        st = xnn_setup_fully_connected_nc_qu8(op, static_cast<size_t>(s.m), p.a_u8.data(),
                                              out.data(), pool);
      }
      break;
    case Xnn::kQs8Fc:
      st = xnn_create_fully_connected_nc_qs8(k, n, k, n, 0, p.a_scale, p.w_scale_tensor,
                                             p.b_nk.data(), bias.data(), 0, p.out_scale, -128, 127,
                                             0, &op);
      if (st == xnn_status_success) {
        st = xnn_setup_fully_connected_nc_qs8(op, static_cast<size_t>(s.m), p.a_s8.data(),
                                              reinterpret_cast<int8_t*>(out.data()), pool);
      }
      break;
    case Xnn::kQc8Conv1x1:
      // Kernel [n][1][1][k]; one group; NHWC input of h x w pixels with k channels.
      st = xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, k, n, k, n, 0,
                                             p.a_scale, wsc.data(), p.b_nk.data(), bias.data(), 0,
                                             p.out_scale, -128, 127, 0, &op);
      if (st == xnn_status_success) {
        st = xnn_setup_convolution2d_nhwc_qc8(op, 1, static_cast<size_t>(s.h),
                                              static_cast<size_t>(s.w), p.a_s8.data(),
                                              reinterpret_cast<int8_t*>(out.data()), pool);
      }
      break;
  }
  if (st != xnn_status_success || op == nullptr) {
    state.SkipWithError(("XNNPACK create/setup failed, status " + std::to_string(st)).c_str());
    return;
  }
  if (xnn_run_operator(op, pool) != xnn_status_success) {
    state.SkipWithError("xnn_run_operator failed");
    xnn_delete_operator(op);
    return;
  }
  int saturated = 0, checked = 0;
  for (auto [i, j] : samples(s)) {
    const size_t jj = static_cast<size_t>(j);
    const int32_t acc = dot_centered(p, i, j) + bias[jj];
    const double y = std::nearbyint(static_cast<double>(acc) * p.a_scale * wsc[jj] / p.out_scale);
    const int lo = v == Xnn::kQu8Fc ? 0 : -128, hi = v == Xnn::kQu8Fc ? 255 : 127;
    const int want = static_cast<int>(std::clamp<double>(y + out_zero, lo, hi));
    const uint8_t raw = out[static_cast<size_t>(i) * n + jj];
    const int got = v == Xnn::kQu8Fc ? raw : static_cast<int8_t>(raw);
    saturated += (want == lo || want == hi);
    ++checked;
    if (std::abs(got - want) > 1) {
      state.SkipWithError(("XNNPACK output mismatch at (" + std::to_string(i) + ", " +
                           std::to_string(j) + "): got " + std::to_string(got) + ", want " +
                           std::to_string(want))
                              .c_str());
      xnn_delete_operator(op);
      return;
    }
  }
  for (auto _ : state) {
    xnn_run_operator(op, pool);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  xnn_delete_operator(op);
  set_counters(state, s);
  state.counters["sat_pct"] = 100.0 * saturated / checked;
}

}  // namespace

int main(int argc, char** argv) {
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::fprintf(stderr, "xnn_initialize failed (unsupported CPU?)\n");
    return 1;
  }
  for (const Shape& s : kShapes) {
    const std::string name = shape_name(s);
    for (int threads : {1, 2}) {
      const std::string suffix = "/" + name + "/threads:" + std::to_string(threads);
      auto timed = [threads](benchmark::internal::Benchmark* b) {
        b->Unit(benchmark::kMicrosecond);
        if (threads > 1) b->UseRealTime();
      };
      if (threads == 1)
        timed(benchmark::RegisterBenchmark(("ours_raw" + suffix).c_str(), BM_Ours, s, false, 1));
      timed(
          benchmark::RegisterBenchmark(("ours_tiled" + suffix).c_str(), BM_Ours, s, true, threads));
      for (Xnn v : {Xnn::kQu8Fc, Xnn::kQs8Fc, Xnn::kQc8Conv1x1}) {
        timed(benchmark::RegisterBenchmark((xnn_name(v) + suffix).c_str(), BM_Xnn, s, v, threads));
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  xnn_deinitialize();
  return 0;
}
