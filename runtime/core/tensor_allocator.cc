#include "runtime/core/tensor_allocator.h"

#include <cstdlib>

#include "runtime/core/error.h"

namespace sq {

namespace {
thread_local TensorAllocator* t_current = nullptr;

size_t round_up_64(size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }
}  // namespace

std::shared_ptr<void> heap_allocate(size_t bytes) {
  const size_t rounded = round_up_64(bytes);
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw make_error("out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

std::shared_ptr<void> allocate_tensor_storage(size_t bytes) {
  if (t_current) return t_current->allocate(round_up_64(bytes));
  return heap_allocate(bytes);
}

TensorAllocator* current_tensor_allocator() { return t_current; }

ScopedTensorAllocator::ScopedTensorAllocator(TensorAllocator* allocator) : previous_(t_current) {
  t_current = allocator;
}

ScopedTensorAllocator::~ScopedTensorAllocator() { t_current = previous_; }

}  // namespace sq
