// Why this exists: sizes in a model (initializer dims, graph input dims, shapes computed by
// ConstantOfShape/Expand/Tile/Range) come from untrusted files. A tensor larger than the
// machine's physical memory can never be used: with Linux overcommit the allocation may even
// succeed and the process is then killed by the OOM killer. Every tensor size is checked against
// this limit (in shape_nbytes, core/tensor.h) before anything is allocated, so such a model is
// refused with an sq::Error naming the tensor or node instead.
#pragma once

#include <cstdint>

namespace sq {

// Physical memory of this machine in bytes (sysconf), read once.
uint64_t physical_memory_bytes();

// The largest tensor the runtime allocates: physical memory, capped at 1 TiB.
uint64_t max_tensor_bytes();

}  // namespace sq
