#include "runtime/planner/linear_planner.h"

namespace sq {

size_t LinearPlanner::plan(const std::vector<Buffer>& buffers, size_t alignment,
                           std::vector<size_t>* offsets) const {
  size_t end = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    (*offsets)[i] = end;
    end = align_up(end + buffers[i].size, alignment);
  }
  return end;
}

}  // namespace sq
