// The memory planners (runtime/planner/): every strategy places buffers so that no two buffers
// live at a common step overlap and every offset is aligned; the greedy strategy's arena is never
// larger than the baseline's (the sum of the sizes) and, on a chain of activations, much smaller.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "runtime/core/error.h"
#include "runtime/planner/greedy_by_size_planner.h"
#include "runtime/planner/linear_planner.h"

namespace sq {
namespace {

template <typename Planner>
std::string plan_errors(Planner& p) {
  return check_memory_plan(p.buffers(), p.offsets(), p.arena_size(), p.alignment());
}

// A transformer-like chain: buffer i is produced at step i and read at step i + 1; every third
// one is also read four steps later (a residual).
template <typename Planner>
void add_chain(Planner& p, int n) {
  for (int i = 0; i < n; ++i) {
    const size_t size = (i % 3 == 0) ? 3000 : 1000 + 100 * static_cast<size_t>(i % 7);
    p.add_buffer(size, i, i % 3 == 0 ? i + 4 : i + 1);
  }
}

TEST(LinearPlanner, PlacesBuffersOneAfterAnotherAligned) {
  LinearPlanner p(64);
  p.add_buffer(10, 0, 1);
  p.add_buffer(100, 1, 2);
  p.add_buffer(64, 5, 5);
  EXPECT_EQ(p.offset(0), 0u);
  EXPECT_EQ(p.offset(1), 64u);
  EXPECT_EQ(p.offset(2), 192u);
  EXPECT_EQ(p.arena_size(), 256u);
  EXPECT_EQ(plan_errors(p), "");
}

TEST(GreedyBySizePlanner, ReusesMemoryOfBuffersThatAreDead) {
  GreedyBySizePlanner p(64);
  p.add_buffer(1000, 0, 1);  // dead after step 1
  p.add_buffer(1000, 1, 2);  // live with the first at step 1
  p.add_buffer(1000, 2, 3);  // can take the first one's place
  EXPECT_EQ(plan_errors(p), "");
  EXPECT_EQ(p.offset(2), p.offset(0));
  EXPECT_NE(p.offset(1), p.offset(0));
  EXPECT_EQ(p.arena_size(), 2048u);  // two 1000-byte buffers, each rounded up to 1024
}

TEST(GreedyBySizePlanner, FillsGapsBetweenLargerBuffers) {
  GreedyBySizePlanner p(64);
  p.add_buffer(4096, 0, 3);  // bottom
  p.add_buffer(4096, 2, 5);  // above it (steps 2..3 shared)
  p.add_buffer(2048, 4, 5);  // first is dead at 4: goes to offset 0
  p.add_buffer(100, 0, 1);   // live with the first only: goes above it
  EXPECT_EQ(plan_errors(p), "");
  EXPECT_EQ(p.offset(0), 0u);
  EXPECT_EQ(p.offset(1), 4096u);
  EXPECT_EQ(p.offset(2), 0u);
  EXPECT_EQ(p.offset(3), 4096u);
  EXPECT_EQ(p.arena_size(), 8192u);
}

TEST(GreedyBySizePlanner, HandlesZeroSizedAndSingleStepBuffers) {
  GreedyBySizePlanner p(64);
  p.add_buffer(0, 0, 0);
  p.add_buffer(128, 0, 0);
  p.add_buffer(128, 0, 0);  // same step: must not share with the previous one
  EXPECT_EQ(plan_errors(p), "");
  EXPECT_NE(p.offset(1), p.offset(2));
  EXPECT_EQ(p.arena_size(), 256u);
}

TEST(MemoryPlanner, RejectsEmptyLifetimesAndBadAlignment) {
  GreedyBySizePlanner p(64);
  EXPECT_THROW(p.add_buffer(10, 3, 2), Error);
  EXPECT_THROW(p.add_buffer(10, -1, 2), Error);
  EXPECT_THROW(GreedyBySizePlanner(48), Error);
}

TEST(MemoryPlanner, CheckFindsOverlapsAndMisalignment) {
  std::vector<MemoryPlanner::Buffer> b = {{100, 0, 2}, {100, 2, 3}};
  EXPECT_EQ(check_memory_plan(b, {0, 128}, 256, 64), "");
  EXPECT_NE(check_memory_plan(b, {0, 64}, 256, 64), "");  // live together at step 2, overlapping
  EXPECT_NE(check_memory_plan(b, {0, 130}, 256, 64), "");  // misaligned
  EXPECT_NE(check_memory_plan(b, {0, 192}, 256, 64), "");  // beyond the arena
}

TEST(GreedyBySizePlanner, ChainArenaIsSmallerThanTheSumOfSizes) {
  GreedyBySizePlanner greedy(64);
  LinearPlanner linear(64);
  add_chain(greedy, 60);
  add_chain(linear, 60);
  EXPECT_EQ(plan_errors(greedy), "");
  EXPECT_EQ(plan_errors(linear), "");
  std::printf("chain of 60 buffers: greedy arena %zu bytes, linear %zu bytes (%.1fx smaller)\n",
              greedy.arena_size(), linear.arena_size(),
              static_cast<double>(linear.arena_size()) / static_cast<double>(greedy.arena_size()));
  // At most 5 buffers are live at any step (two residuals, the current and the next ones).
  EXPECT_LE(greedy.arena_size(), 5u * 3008u);
  EXPECT_LT(greedy.arena_size() * 5, linear.arena_size());
}

TEST(GreedyBySizePlanner, RandomLifetimesGiveValidPlansNoLargerThanLinear) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    GreedyBySizePlanner greedy(64);
    LinearPlanner linear(64);
    const int n = 1 + static_cast<int>(rng() % 200);
    for (int i = 0; i < n; ++i) {
      const size_t size = rng() % 5000;
      const int first = static_cast<int>(rng() % 100);
      const int last = first + static_cast<int>(rng() % 20);
      greedy.add_buffer(size, first, last);
      linear.add_buffer(size, first, last);
    }
    ASSERT_EQ(plan_errors(greedy), "") << "trial " << trial;
    ASSERT_EQ(plan_errors(linear), "") << "trial " << trial;
    EXPECT_LE(greedy.arena_size(), linear.arena_size()) << "trial " << trial;
  }
}

}  // namespace
}  // namespace sq
