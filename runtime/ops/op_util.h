// Why this exists: helpers shared by the elementwise, reduction, softmax and normalization ops:
// work splitting for parallel loops and validation of axis lists. The basic checks (input
// counts, one axis, shape-like inputs) live in shape_ops_util.h and are re-exported here so
// every op reports bad models with the same messages.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/graph/ir.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {

// Elements per parallel_for chunk for cheap per-element loops: smaller tensors run on one thread.
constexpr int64_t kElementwiseGrain = 1 << 15;

// The largest i_end - i_begin that parallel_outer_inner passes.
constexpr int64_t kInnerBlock = 256;

// Runs fn(o, i_begin, i_end) over an [outer, inner] index space on the pool, in tasks of one
// outer index and a block of at most kInnerBlock inner indices (for kernels that walk a middle axis
// of an [outer, axis, inner] view). `cost` is the work per (o, i) pair, used to size chunks.
template <typename Fn>
void parallel_outer_inner(ThreadPool& pool, int64_t outer, int64_t inner, int64_t cost, Fn fn) {
  const int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  const int64_t task_cost = std::max<int64_t>(1, std::min(inner, kInnerBlock) * cost);
  pool.parallel_for(outer * blocks, std::max<int64_t>(1, kElementwiseGrain / task_cost),
                    [&](int64_t b, int64_t e) {
                      for (int64_t t = b; t < e; ++t) {
                        const int64_t o = t / blocks, i0 = (t % blocks) * kInnerBlock;
                        fn(o, i0, std::min(inner, i0 + kInnerBlock));
                      }
                    });
}

// Normalizes each axis and rejects duplicates; the result is sorted ascending.
std::vector<int64_t> normalize_axes(const Node& node, const std::vector<int64_t>& axes,
                                    int64_t rank, const char* what = "axes");

}  // namespace sq
