// Why this exists: the strategy the execution arena uses (TensorFlow Lite Micro's
// GreedyMemoryPlanner): buffers are placed largest first, each at the lowest aligned offset
// where it overlaps no buffer already placed whose lifetime intersects its own. Large
// activations claim the bottom of the arena, and the many small ones fill the gaps between them.
#pragma once

#include "runtime/planner/memory_planner.h"

namespace sq {

class GreedyBySizePlanner final : public MemoryPlanner {
 public:
  using MemoryPlanner::MemoryPlanner;

 protected:
  size_t plan(const std::vector<Buffer>& buffers, size_t alignment,
              std::vector<size_t>* offsets) const override;
};

}  // namespace sq
