// Why this exists: the interface between whoever knows buffer lifetimes (the execution arena,
// which records them on a run) and the strategies that pack buffers into one arena, after
// TensorFlow Lite Micro's MemoryPlanner: add_buffer(size, first_use, last_use) for each buffer,
// then one offset per buffer and the arena size. Two buffers whose [first_use, last_use] step
// intervals intersect never share bytes; every offset is a multiple of the alignment.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace sq {

class MemoryPlanner {
 public:
  struct Buffer {
    size_t size = 0;
    int first_use = 0, last_use = 0;  // steps, inclusive
  };

  explicit MemoryPlanner(size_t alignment = 64);
  virtual ~MemoryPlanner() = default;

  // Adds a buffer live from step first_use to last_use inclusive; returns its index. Throws
  // sq::Error if last_use < first_use or first_use < 0.
  int add_buffer(size_t size, int first_use, int last_use);
  int buffer_count() const { return static_cast<int>(buffers_.size()); }
  const std::vector<Buffer>& buffers() const { return buffers_; }
  size_t alignment() const { return alignment_; }

  // Planned on first call after the last add_buffer.
  size_t offset(int index);
  const std::vector<size_t>& offsets();
  size_t arena_size();

 protected:
  // Offsets (multiples of `alignment`) for `buffers`; returns the arena size (a multiple of
  // `alignment`, at least the end of every buffer).
  virtual size_t plan(const std::vector<Buffer>& buffers, size_t alignment,
                      std::vector<size_t>* offsets) const = 0;

 private:
  void ensure_planned();

  size_t alignment_;
  std::vector<Buffer> buffers_;
  std::vector<size_t> offsets_;
  size_t arena_size_ = 0;
  bool planned_ = false;
};

size_t align_up(size_t value, size_t alignment);

// "" if the plan is valid: every offset aligned, every buffer inside the arena, no two buffers
// that are live at a common step overlapping in memory; else what is wrong (for tests).
std::string check_memory_plan(const std::vector<MemoryPlanner::Buffer>& buffers,
                              const std::vector<size_t>& offsets, size_t arena_size,
                              size_t alignment);

}  // namespace sq
