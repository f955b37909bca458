// The execution arena (runtime/planner/execution_arena.h) on real models: results with an arena
// are bit-identical to results without one, on the FP32 and the int8 engine; the first run with
// a set of input shapes records and plans, later ones replay; new shapes re-plan; results never
// alias the arena (a result kept across the next run is unchanged); the planned arena is smaller
// than the sum of the buffers it holds.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/engine/int8_engine.h"
#include "runtime/planner/execution_arena.h"
#include "tests/test_models.h"

namespace sq {
namespace {

bool identical(const TensorMap& a, const TensorMap& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end()) return false;
    const Tensor& u = it->second;
    if (t.dtype() != u.dtype() || t.shape() != u.shape() ||
        std::memcmp(t.raw(), u.raw(), t.nbytes()) != 0) {
      return false;
    }
  }
  return true;
}

TensorMap run_with(const ReferenceEngine& engine, const TensorMap& feeds, ThreadPool& pool,
                   ExecutionArena& arena) {
  ReferenceEngine::RunOptions options;
  options.arena = &arena;
  return engine.run(feeds, pool, options);
}

// Every sample three times through one arena, each result compared with a run without one.
void expect_identical_with_arena(const ReferenceEngine& engine, const std::vector<TensorMap>& samples) {
  ThreadPool pool(2);
  ExecutionArena arena;
  for (size_t s = 0; s < samples.size(); ++s) {
    const TensorMap expected = engine.run(samples[s], pool);
    for (int r = 0; r < 3; ++r) {
      EXPECT_TRUE(identical(expected, run_with(engine, samples[s], pool, arena)))
          << "sample " << s << ", run " << r;
    }
  }
  const ExecutionArena::Stats st = arena.stats();
  EXPECT_EQ(st.diverged_runs, 0);
  EXPECT_GE(st.replayed_runs, 2);
  EXPECT_GT(st.planned_buffers, 0);
  EXPECT_LT(st.arena_bytes, st.planned_bytes_sum);
  std::printf("%d tensors per run in an arena of %.1f KiB (sum of their sizes %.1f KiB), %d "
              "output buffer(s); %lld recorded and %lld replayed run(s)\n",
              st.planned_buffers, st.arena_bytes / 1024.0, st.planned_bytes_sum / 1024.0,
              st.output_buffers, static_cast<long long>(st.recorded_runs),
              static_cast<long long>(st.replayed_runs));
}

TEST(ExecutionArena, Fp32OptIsBitIdenticalWithAndWithoutArena) {
  test::ModelCase c = test::bundled_opt_case(48, 2);
  ReferenceEngine engine(c.fp32);
  expect_identical_with_arena(engine, c.samples);
}

TEST(ExecutionArena, Int8OptIsBitIdenticalWithAndWithoutArena) {
  test::ModelCase c = test::bundled_opt_case(48, 2);
  expect_identical_with_arena(*make_int8_engine(*c.qdq), c.samples);
}

TEST(ExecutionArena, Fp32AndInt8SdBlockAreBitIdenticalWithAndWithoutArena) {
  test::ModelCase c = test::torch_sd_block_case();
  expect_identical_with_arena(ReferenceEngine(c.fp32), c.samples);
  expect_identical_with_arena(*make_int8_engine(*c.qdq), c.samples);
}

TEST(ExecutionArena, SameShapesReplayAndNewShapesReplan) {
  test::ModelCase c32 = test::bundled_opt_case(32, 1);
  test::ModelCase c48 = test::bundled_opt_case(48, 1);
  auto engine = make_int8_engine(*c32.qdq);
  ThreadPool pool(2);
  ExecutionArena arena;
  const TensorMap& short_feeds = c32.samples[0];
  const TensorMap& long_feeds = c48.samples[0];
  const TensorMap expected_short = engine->run(short_feeds, pool);
  const TensorMap expected_long = engine->run(long_feeds, pool);

  EXPECT_TRUE(identical(expected_short, run_with(*engine, short_feeds, pool, arena)));
  EXPECT_TRUE(identical(expected_short, run_with(*engine, short_feeds, pool, arena)));
  EXPECT_EQ(arena.stats().recorded_runs, 1);
  EXPECT_EQ(arena.stats().replayed_runs, 1);
  const size_t short_arena = arena.stats().arena_bytes;

  EXPECT_TRUE(identical(expected_long, run_with(*engine, long_feeds, pool, arena)));
  EXPECT_TRUE(identical(expected_long, run_with(*engine, long_feeds, pool, arena)));
  EXPECT_EQ(arena.stats().recorded_runs, 2);
  EXPECT_EQ(arena.stats().replayed_runs, 2);
  EXPECT_GT(arena.stats().arena_bytes, short_arena);

  EXPECT_TRUE(identical(expected_short, run_with(*engine, short_feeds, pool, arena)));
  EXPECT_EQ(arena.stats().recorded_runs, 3);
  EXPECT_EQ(arena.stats().diverged_runs, 0);
}

TEST(ExecutionArena, ResultsKeptAcrossRunsAreNotOverwritten) {
  test::ModelCase c = test::bundled_opt_case(32, 2);
  ReferenceEngine engine(c.fp32);
  ThreadPool pool(2);
  ExecutionArena arena;
  // Two windows of the same shape: the same plan serves both, with different values.
  const TensorMap expected0 = engine.run(c.samples[0], pool);
  const TensorMap expected1 = engine.run(c.samples[1], pool);
  run_with(engine, c.samples[0], pool, arena);  // records
  const TensorMap kept = run_with(engine, c.samples[0], pool, arena);
  const int64_t allocated_before = arena.stats().output_allocations;
  const TensorMap next = run_with(engine, c.samples[1], pool, arena);
  EXPECT_TRUE(identical(expected0, kept)) << "a kept result changed during the next run";
  EXPECT_TRUE(identical(expected1, next));
  // `kept` still held its output buffers, so the next run had to allocate new ones.
  EXPECT_EQ(arena.stats().output_allocations - allocated_before, arena.stats().output_buffers);
  for (const auto& [name, t] : next) EXPECT_FALSE(arena.owns(t.raw())) << name;
}

TEST(ExecutionArena, RefusesTwoRunsAtOnce) {
  ExecutionArena arena;
  arena.begin_run({});
  EXPECT_THROW(arena.begin_run({}), Error);
  arena.end_run(true);
  arena.begin_run({});  // free again
  arena.end_run(true);
}

}  // namespace
}  // namespace sq
