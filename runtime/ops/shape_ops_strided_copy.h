// Why this exists: Transpose and Slice are both "copy a strided view of the input into a
// contiguous output". One routine does it for every dtype (by element size): it merges axes that
// are contiguous in both layouts, copies unit-stride rows with memcpy, tiles the 2-D transpose
// case for cache locality, and splits large copies across the thread pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"

namespace sq {

// dst[i_0, ..., i_{r-1}] = src[offset + sum_k i_k * strides[k]] for every index of `shape`, with
// dst contiguous. Strides and offset are in elements and may be zero or negative; the caller
// guarantees every addressed element lies inside src. elem_size is 1, 2, 4 or 8.
// pool may be null (single-threaded).
void strided_copy(const void* src, int64_t offset, const Shape& shape,
                  const std::vector<int64_t>& strides, size_t elem_size, void* dst,
                  ThreadPool* pool);

}  // namespace sq
