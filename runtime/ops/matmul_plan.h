// Why this exists: MatMul's numpy semantics (rank-1 promotion, broadcast batch dimensions)
// resolved once into matrix sizes and per-batch offsets, shared by the float MatMul and the
// integer activation x activation product of the int8 engine.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/graph/ir.h"

namespace sq {

// Shapes and per-batch offsets of one MatMul, resolved from its input shapes.
struct MatMulPlan {
  Shape out;
  int64_t m = 0, n = 0, k = 0, batches = 1;
  std::vector<int64_t> a_offsets, b_offsets;  // element offset of each batch's matrix
  bool fold_batch = false;  // B is shared and A contiguous: one GEMM with m * batches rows
};

MatMulPlan plan_matmul(const Node& node, const Shape& a, const Shape& b);

}  // namespace sq
