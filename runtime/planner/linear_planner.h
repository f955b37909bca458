// Why this exists: the baseline strategy: every buffer gets its own bytes, one after another, as
// if nothing were ever freed. The arena is the (aligned) sum of all sizes; greedy strategies are
// measured against it.
#pragma once

#include "runtime/planner/memory_planner.h"

namespace sq {

class LinearPlanner final : public MemoryPlanner {
 public:
  using MemoryPlanner::MemoryPlanner;

 protected:
  size_t plan(const std::vector<Buffer>& buffers, size_t alignment,
              std::vector<size_t>* offsets) const override;
};

}  // namespace sq
