#include "runtime/planner/greedy_by_size_planner.h"

#include <algorithm>
#include <numeric>

namespace sq {

size_t GreedyBySizePlanner::plan(const std::vector<Buffer>& buffers, size_t alignment,
                                 std::vector<size_t>* offsets) const {
  // Largest first; ties by first use, then by index, so the plan is deterministic.
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].size != buffers[b].size) return buffers[a].size > buffers[b].size;
    return buffers[a].first_use < buffers[b].first_use;
  });
  std::vector<size_t> placed;  // indices already placed
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of placed buffers live together
  size_t arena = 0;
  for (size_t i : order) {
    const Buffer& b = buffers[i];
    busy.clear();
    for (size_t j : placed) {
      const Buffer& p = buffers[j];
      if (p.size && p.first_use <= b.last_use && b.first_use <= p.last_use) {
        busy.emplace_back((*offsets)[j], (*offsets)[j] + p.size);
      }
    }
    std::sort(busy.begin(), busy.end());
    // The lowest gap between busy ranges that holds the buffer.
    size_t candidate = 0;
    for (const auto& [start, end] : busy) {
      if (candidate + b.size <= start) break;
      candidate = std::max(candidate, align_up(end, alignment));
    }
    (*offsets)[i] = candidate;
    arena = std::max(arena, candidate + b.size);
    placed.push_back(i);
  }
  return align_up(arena, alignment);
}

}  // namespace sq
