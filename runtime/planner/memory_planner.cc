#include "runtime/planner/memory_planner.h"

#include "runtime/core/error.h"

namespace sq {

size_t align_up(size_t value, size_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

MemoryPlanner::MemoryPlanner(size_t alignment) : alignment_(alignment) {
  SQ_CHECK(alignment_ > 0 && (alignment_ & (alignment_ - 1)) == 0,
           "MemoryPlanner: alignment must be a power of two, got ", alignment_);
}

int MemoryPlanner::add_buffer(size_t size, int first_use, int last_use) {
  SQ_CHECK(first_use >= 0 && last_use >= first_use, "MemoryPlanner::add_buffer: lifetime [",
           first_use, ", ", last_use, "] is empty or negative");
  buffers_.push_back(Buffer{size, first_use, last_use});
  planned_ = false;
  return static_cast<int>(buffers_.size()) - 1;
}

void MemoryPlanner::ensure_planned() {
  if (planned_) return;
  offsets_.assign(buffers_.size(), 0);
  arena_size_ = plan(buffers_, alignment_, &offsets_);
  planned_ = true;
}

size_t MemoryPlanner::offset(int index) {
  SQ_CHECK(index >= 0 && index < buffer_count(), "MemoryPlanner::offset: no buffer ", index);
  ensure_planned();
  return offsets_[static_cast<size_t>(index)];
}

const std::vector<size_t>& MemoryPlanner::offsets() {
  ensure_planned();
  return offsets_;
}

size_t MemoryPlanner::arena_size() {
  ensure_planned();
  return arena_size_;
}

std::string check_memory_plan(const std::vector<MemoryPlanner::Buffer>& buffers,
                              const std::vector<size_t>& offsets, size_t arena_size,
                              size_t alignment) {
  if (offsets.size() != buffers.size()) return "one offset per buffer expected";
  if (arena_size % alignment) return "arena size " + std::to_string(arena_size) + " not aligned";
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (offsets[i] % alignment) return "buffer " + std::to_string(i) + " not aligned";
    if (offsets[i] + buffers[i].size > arena_size) {
      return "buffer " + std::to_string(i) + " ends beyond the arena";
    }
    for (size_t j = 0; j < i; ++j) {
      const auto& a = buffers[i];
      const auto& b = buffers[j];
      const bool same_time = a.first_use <= b.last_use && b.first_use <= a.last_use;
      const bool same_bytes = a.size && b.size && offsets[i] < offsets[j] + b.size &&
                              offsets[j] < offsets[i] + a.size;
      if (same_time && same_bytes) {
        return "buffers " + std::to_string(j) + " and " + std::to_string(i) +
               " are live together and overlap";
      }
    }
  }
  return "";
}

}  // namespace sq
