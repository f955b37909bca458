// Why this exists: a session arena's plan (planner/execution_arena.h) as plain data, so it can
// be computed once ahead of time (`softquant compile` runs the model once), stored in a compiled
// model (.sqm, graph/sqm_format.h) and given to a new session, whose first run with the plan's
// input shapes then replays it instead of recording, and whose arena buffer is allocated when the
// session is made. A plan read from a file is untrusted: memory_plan_error checks everything a
// replay relies on (in particular that no two buffers live at a common step share bytes), so a
// plan that passes can at worst not match the run, which the arena detects and survives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/core/tensor.h"

namespace sq {

struct MemoryPlan {
  // The graph inputs' dtypes and shapes the plan was recorded with, in graph input order.
  struct Input {
    DType dtype = DType::kFloat32;
    Shape dims;
    bool operator==(const Input&) const = default;
  };
  // One tensor the engine's thread creates during a run, in creation order.
  struct Buffer {
    uint64_t size = 0;    // bytes requested (a multiple of 64)
    uint64_t offset = 0;  // in the arena (0 for outputs)
    int32_t first = 0;    // the step (node index) that creates it
    int32_t last = 0;     // the last step it is alive in (first for outputs)
    int32_t output = -1;  // >= 0: outlives the run (its own buffer, numbered 0..outputs-1)
    bool operator==(const Buffer&) const = default;
  };
  std::vector<Input> inputs;
  uint64_t arena_bytes = 0;
  std::vector<Buffer> buffers;

  bool operator==(const MemoryPlan&) const = default;

  int arena_buffers() const;   // buffers placed in the arena
  int output_buffers() const;  // buffers that outlive the run
};

inline constexpr size_t kMemoryPlanAlignment = 64;

// "" if `plan` is usable by an arena, else what is wrong (one line): every size and offset
// 64-byte aligned and non-zero sizes, every arena buffer inside arena_bytes, arena_bytes no
// larger than the largest tensor this machine can hold, 0 <= first <= last, creation steps never
// decreasing, output numbers 0..outputs-1 each once, no two buffers live at a common step
// overlapping in memory. O(n log n) in the number of buffers.
std::string memory_plan_error(const MemoryPlan& plan);

// One line: the input shapes ("input_ids int64 [1,128], ..." with `input_names`, one per
// input; else without names), the arena size and the buffer counts.
std::string memory_plan_summary(const MemoryPlan& plan,
                                const std::vector<std::string>& input_names = {});

}  // namespace sq
