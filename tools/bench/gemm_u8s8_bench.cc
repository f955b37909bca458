// Why this exists: throughput of gemm_u8s8_f32 per ISA on OPT-125M projection shapes (prefill
// m = 128 / 512 tokens, decode m = 1), next to an FP32 Eigen GEMM on the same shapes, and the
// register-only peak of the int8 multiply-accumulate instruction each x86 path is built on, so
// one run shows GOP/s, the int8 / fp32 ratio and the fraction of peak. Single thread.
//
//   gemm_u8s8_bench [--benchmark_filter=...]
// Counters: GOP/s = 2*m*n*k per second; pct_peak = GOP/s as a percentage of the measured peak of
// the ISA's instruction (avx2: vpmaddwd + vpaddd, 16 MACs; avx512vnni: vpdpbusd zmm, 64 MACs).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/gemm_u8s8.h"

namespace {

using sq::kernels::Isa;

struct Shape {
  int64_t m, k, n;
};

const Shape kShapes[] = {{128, 768, 768},  {128, 3072, 768}, {128, 768, 3072}, {512, 768, 768},
                         {512, 3072, 768}, {512, 768, 3072}, {1, 768, 768}};

std::string shape_name(const Shape& s) {
  return "m" + std::to_string(s.m) + "_k" + std::to_string(s.k) + "_n" + std::to_string(s.n);
}

#if defined(__x86_64__)
// 8 independent vpmaddwd + vpaddd chains, 64 iterations of the block per call: 8 * 64 * 16 MACs.
constexpr int64_t kAvx2PeakMacs = 8 * 64 * 16;
void avx2_peak_block() {
  asm volatile(
      "mov $64, %%ecx\n"
      "1:\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm0\n vpaddd %%ymm0, %%ymm8, %%ymm8\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm1\n vpaddd %%ymm1, %%ymm9, %%ymm9\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm2\n vpaddd %%ymm2, %%ymm10, %%ymm10\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm3\n vpaddd %%ymm3, %%ymm11, %%ymm11\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm4\n vpaddd %%ymm4, %%ymm12, %%ymm12\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm5\n vpaddd %%ymm5, %%ymm13, %%ymm13\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm6\n vpaddd %%ymm6, %%ymm8, %%ymm8\n"
      "vpmaddwd %%ymm15, %%ymm14, %%ymm7\n vpaddd %%ymm7, %%ymm9, %%ymm9\n"
      "dec %%ecx\n jnz 1b\n"
      "vzeroupper\n" ::
          : "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
            "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
}

// 12 independent vpdpbusd zmm chains (latency 5, up to 2 per cycle), 64 iterations per call.
constexpr int64_t kVnniPeakMacs = 12 * 64 * 64;
void vnni_peak_block() {
  asm volatile(
      "mov $64, %%ecx\n"
      "1:\n"
      "vpdpbusd %%zmm13, %%zmm12, %%zmm0\n vpdpbusd %%zmm13, %%zmm12, %%zmm1\n"
      "vpdpbusd %%zmm13, %%zmm12, %%zmm2\n vpdpbusd %%zmm13, %%zmm12, %%zmm3\n"
      "vpdpbusd %%zmm13, %%zmm12, %%zmm4\n vpdpbusd %%zmm13, %%zmm12, %%zmm5\n"
      "vpdpbusd %%zmm13, %%zmm12, %%zmm6\n vpdpbusd %%zmm13, %%zmm12, %%zmm7\n"
      "vpdpbusd %%zmm13, %%zmm12, %%zmm8\n vpdpbusd %%zmm13, %%zmm12, %%zmm9\n"
      "vpdpbusd %%zmm13, %%zmm12, %%zmm10\n vpdpbusd %%zmm13, %%zmm12, %%zmm11\n"
      "dec %%ecx\n jnz 1b\n"
      "vzeroupper\n" ::
          : "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
            "xmm10", "xmm11", "xmm12", "xmm13", "cc");
}
#endif

struct Peak {
  void (*block)() = nullptr;
  int64_t macs_per_block = 0;
  double gops = 0;  // measured at start-up, 2 ops per MAC
};

Peak& peak_of(Isa isa) {
  static Peak none, avx2, vnni;
#if defined(__x86_64__)
  if (isa == Isa::kAvx2) return avx2.block ? avx2 : (avx2 = {avx2_peak_block, kAvx2PeakMacs});
  if (isa == Isa::kAvx512Vnni) {
    return vnni.block ? vnni : (vnni = {vnni_peak_block, kVnniPeakMacs});
  }
#endif
  (void)isa;
  return none;
}

double measure_gops(const Peak& p) {
  for (int i = 0; i < 1000; ++i) p.block();  // warm up
  // Thread CPU time, like the benchmarks' rate counters (the machine may be shared).
  auto cpu_seconds = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  const double t0 = cpu_seconds();
  const int reps = 2000000;
  for (int i = 0; i < reps; ++i) p.block();
  const double s = cpu_seconds() - t0;
  return 2.0 * static_cast<double>(p.macs_per_block) * reps / s * 1e-9;
}

void BM_PeakInt8Mac(benchmark::State& state, Isa isa) {
  const Peak& p = peak_of(isa);
  for (auto _ : state) p.block();
  state.counters["GOP/s"] = benchmark::Counter(2e-9 * static_cast<double>(p.macs_per_block),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void set_counters(benchmark::State& state, const Shape& s, double peak_gops) {
  const double gop = 2e-9 * static_cast<double>(s.m * s.n * s.k);
  state.counters["GOP/s"] = benchmark::Counter(gop, benchmark::Counter::kIsIterationInvariantRate);
  if (peak_gops > 0) {
    state.counters["pct_peak"] =
        benchmark::Counter(gop / peak_gops * 100.0, benchmark::Counter::kIsIterationInvariantRate);
  }
}

void BM_GemmU8S8(benchmark::State& state, Isa isa, Shape s) {
  std::mt19937 rng(1);
  std::vector<uint8_t> a(static_cast<size_t>(s.m * s.k));
  std::vector<int8_t> b(static_cast<size_t>(s.k * s.n));
  for (auto& v : a) v = static_cast<uint8_t>(rng());
  for (auto& v : b) v = static_cast<int8_t>(rng());
  std::vector<float> col_scale(static_cast<size_t>(s.n), 0.5f), bias(static_cast<size_t>(s.n), 1);
  const sq::kernels::PackedMatrixS8 packed =
      sq::kernels::pack_b_s8(b.data(), s.k, s.n, s.n, 1, isa);
  sq::kernels::GemmU8S8Epilogue e;
  e.a_zero = 117;
  e.scale = 0.01f;
  e.col_scale = col_scale.data();
  e.bias = bias.data();
  std::vector<float> c(static_cast<size_t>(s.m * s.n));
  for (auto _ : state) {
    sq::kernels::gemm_u8s8_f32(a.data(), s.m, s.k, packed, 0, s.n, e, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s, peak_of(isa).gops);
}

void BM_EigenF32(benchmark::State& state, Shape s) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Mat a = Mat::Random(s.m, s.k), b = Mat::Random(s.k, s.n), c(s.m, s.n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s, 0);
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  for (Isa isa : sq::kernels::available_isas()) {
    Peak& p = peak_of(isa);
    if (!p.block) continue;
    p.gops = measure_gops(p);
    std::printf("peak %s int8 MAC instruction: %.1f GOP/s\n", sq::kernels::isa_name(isa), p.gops);
    benchmark::RegisterBenchmark(
        (std::string("BM_PeakInt8Mac/") + sq::kernels::isa_name(isa)).c_str(), BM_PeakInt8Mac, isa);
  }
  for (const Shape& s : kShapes) {
    for (Isa isa : sq::kernels::available_isas()) {
      benchmark::RegisterBenchmark(
          ("BM_GemmU8S8/" + std::string(sq::kernels::isa_name(isa)) + "/" + shape_name(s)).c_str(),
          BM_GemmU8S8, isa, s)
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark(("BM_EigenF32/" + shape_name(s)).c_str(), BM_EigenF32, s)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
