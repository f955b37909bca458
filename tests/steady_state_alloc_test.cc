// "No allocation in the steady state of run": this binary replaces the C allocation functions
// (malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign; operator new reaches them
// through malloc) with counting wrappers around glibc's, and counts, over every thread, the
// calls made during the 2nd and later run() calls of one session (ExecutionArena) on the FP32 and
// int8 engines, for the bundled OPT and the torch SD block. Counted separately:
//   - tensor data: aligned_alloc/posix_memalign/memalign, which is how tensor storage is
//     allocated (core/tensor_allocator.cc) and nothing else in the runtime uses: must be 0;
//   - large: any allocation of >= 4 KiB (kernel scratch, big vectors): must be 0 on the int8
//     engine and on the FP32 SD block; the FP32 OPT's Gemm/MatMul products still allocate
//     Eigen's packing buffers (beyond Eigen's 128 KiB stack limit) inside their tasks: printed;
//   - small: the rest (shapes, the engine's per-run slot vector, shared_ptr control blocks),
//     printed, not asserted.
// Each result is dropped before the next run (a kept result makes the arena allocate new output
// buffers: execution_arena_test covers that). The same runs without an arena are counted too, to
// show what the counter sees when tensors come from the heap.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/engine/int8_engine.h"
#include "runtime/planner/execution_arena.h"
#include "tests/test_models.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SQ_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SQ_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef SQ_COUNT_ALLOCATIONS
#define SQ_COUNT_ALLOCATIONS 1
#endif

namespace {

constexpr size_t kLarge = 4096;

struct Counts {
  std::atomic<int64_t> aligned_calls{0}, aligned_bytes{0};
  std::atomic<int64_t> large_calls{0}, large_bytes{0};
  std::atomic<int64_t> small_calls{0};
};
Counts g_counts;
std::atomic<bool> g_counting{false};

void count(size_t bytes, bool aligned) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  if (aligned) {
    g_counts.aligned_calls.fetch_add(1, std::memory_order_relaxed);
    g_counts.aligned_bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  }
  if (bytes >= kLarge) {
    g_counts.large_calls.fetch_add(1, std::memory_order_relaxed);
    g_counts.large_bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  } else {
    g_counts.small_calls.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

#if SQ_COUNT_ALLOCATIONS
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);

void* malloc(size_t n) {
  count(n, false);
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  count(a * b, false);
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  count(n, false);
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  count(n, true);
  return __libc_memalign(alignment, n);
}
void* memalign(size_t alignment, size_t n) {
  count(n, true);
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  count(n, true);
  void* p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

namespace sq {
namespace {

struct Measured {
  int64_t aligned_calls, aligned_bytes, large_calls, large_bytes, small_calls;
};

// Counts allocations over `runs` calls of run() (each result dropped), after one uncounted run.
Measured count_runs(const ReferenceEngine& engine, const TensorMap& feeds, ThreadPool& pool,
                    ExecutionArena* arena, int runs) {
  ReferenceEngine::RunOptions options;
  options.arena = arena;
  engine.run(feeds, pool, options);  // the 1st run: records and plans
  g_counts.aligned_calls = g_counts.aligned_bytes = 0;
  g_counts.large_calls = g_counts.large_bytes = g_counts.small_calls = 0;
  g_counting = true;
  for (int r = 0; r < runs; ++r) engine.run(feeds, pool, options);
  g_counting = false;
  return Measured{g_counts.aligned_calls.load() / runs, g_counts.aligned_bytes.load() / runs,
                  g_counts.large_calls.load() / runs, g_counts.large_bytes.load() / runs,
                  g_counts.small_calls.load() / runs};
}

void print(const char* what, const Measured& m) {
  std::printf("%-34s per run: tensor data %lld calls (%.1f KiB), >= 4 KiB %lld calls (%.1f KiB), "
              "smaller %lld calls\n",
              what, static_cast<long long>(m.aligned_calls), m.aligned_bytes / 1024.0,
              static_cast<long long>(m.large_calls), m.large_bytes / 1024.0,
              static_cast<long long>(m.small_calls));
}

void expect_no_steady_state_allocation(const std::string& name, const ReferenceEngine& engine,
                                       const TensorMap& feeds, bool expect_no_large = true) {
  if (!SQ_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  constexpr int kRuns = 3;
  ThreadPool pool(2);
  const Measured heap = count_runs(engine, feeds, pool, nullptr, kRuns);
  ExecutionArena arena;
  const Measured with_arena = count_runs(engine, feeds, pool, &arena, kRuns);
  print((name + ", no arena").c_str(), heap);
  print((name + ", arena").c_str(), with_arena);
  EXPECT_GT(heap.aligned_calls, 0) << "the counter sees no tensor allocation without an arena";
  EXPECT_EQ(with_arena.aligned_calls, 0) << name << ": tensor data allocated in the steady state";
  if (expect_no_large) {
    EXPECT_EQ(with_arena.large_calls, 0) << name << ": allocations >= 4 KiB in the steady state";
  }
  EXPECT_EQ(arena.stats().diverged_runs, 0);
  EXPECT_EQ(arena.stats().recorded_runs, 1);
}

TEST(SteadyStateAllocation, Fp32Opt) {
  test::ModelCase c = test::bundled_opt_case(64, 1);
  expect_no_steady_state_allocation("FP32 OPT", ReferenceEngine(c.fp32), c.samples[0],
                                    /*expect_no_large=*/false);  // Eigen's packing buffers
}

TEST(SteadyStateAllocation, Int8Opt) {
  test::ModelCase c = test::bundled_opt_case(64, 1);
  expect_no_steady_state_allocation("int8 OPT", *make_int8_engine(*c.qdq), c.samples[0]);
}

TEST(SteadyStateAllocation, Fp32SdBlock) {
  test::ModelCase c = test::torch_sd_block_case();
  expect_no_steady_state_allocation("FP32 SD block", ReferenceEngine(c.fp32), c.samples[0]);
}

TEST(SteadyStateAllocation, Int8SdBlock) {
  test::ModelCase c = test::torch_sd_block_case();
  expect_no_steady_state_allocation("int8 SD block", *make_int8_engine(*c.qdq), c.samples[0]);
}

}  // namespace
}  // namespace sq
