// Why this exists: lets a session's execution arena (planner/execution_arena.h) supply the
// storage of the tensors ops create, without any op knowing about arenas. The engine installs an
// allocator on its own thread around each op's run, and Tensor(DType, Shape) asks it for memory;
// with none installed, storage comes from the heap. ThreadPool::parallel_for suspends the
// allocator while a job runs, so memory taken inside parallel tasks always comes from the heap
// and the sequence of requests an allocator sees depends only on the graph and the shapes.
#pragma once

#include <cstddef>
#include <memory>

namespace sq {

class TensorAllocator {
 public:
  virtual ~TensorAllocator() = default;
  // 64-byte aligned storage for `bytes` bytes (bytes > 0, a multiple of 64).
  virtual std::shared_ptr<void> allocate(size_t bytes) = 0;
};

// 64-byte aligned heap storage of `bytes` bytes (rounded up to 64; 0 gives 64), freed when the
// last holder drops it. Throws sq::Error when out of memory.
std::shared_ptr<void> heap_allocate(size_t bytes);

// Storage for a new tensor: from the thread's current allocator if one is installed, else the
// heap. `bytes` is rounded up to a multiple of 64 (at least 64).
std::shared_ptr<void> allocate_tensor_storage(size_t bytes);

// The allocator installed on this thread, or nullptr.
TensorAllocator* current_tensor_allocator();

// Installs `allocator` on this thread for the scope (nullptr suspends the current one), and puts
// the previous one back on exit.
class ScopedTensorAllocator {
 public:
  explicit ScopedTensorAllocator(TensorAllocator* allocator);
  ~ScopedTensorAllocator();
  ScopedTensorAllocator(const ScopedTensorAllocator&) = delete;
  ScopedTensorAllocator& operator=(const ScopedTensorAllocator&) = delete;

 private:
  TensorAllocator* previous_;
};

}  // namespace sq
