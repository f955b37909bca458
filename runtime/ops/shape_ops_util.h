// Why this exists: the shape, slicing, generator, matmul, conv and quant ops all check their input
// counts, turn ONNX axes (which may be negative) into positions, compute row-major strides and
// read shape-like int64 inputs; these few helpers keep that arithmetic and its error messages in
// one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/graph/ir.h"

namespace sq {

// Prepare-time check of how many inputs a node gives (trailing omitted ones not counted).
inline void check_num_inputs(const Node& node, size_t min, size_t max) {
  const size_t n = node.num_inputs();
  SQ_CHECK(n >= min && n <= max, node.describe(), ": expected ", min,
           (min == max ? "" : " to " + std::to_string(max)), " inputs, got ", n);
}

// Maps an axis in [-rank, rank) to [0, rank); throws sq::Error naming the node otherwise.
inline int normalize_axis(const Node& node, int64_t axis, int64_t rank, const char* what = "axis") {
  SQ_CHECK(axis >= -rank && axis < rank, node.describe(), ": ", what, " ", axis,
           " is out of range for rank ", rank, " (expected [", -rank, ", ", rank, "))");
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Row-major strides, in elements.
inline std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

// Product of shape[begin, end).
inline int64_t dims_product(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) n *= shape[i];
  return n;
}

// Reads a shape-like input (Reshape's shape, Slice's starts, ...): must be an integer tensor of
// rank 0 or 1. `what` names the input in error messages.
inline std::vector<int64_t> read_int_list(const Node& node, const Tensor& t, const char* what) {
  SQ_CHECK(t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32, node.describe(), ": input '",
           what, "' must be int64 or int32, got ", dtype_name(t.dtype()));
  SQ_CHECK(t.rank() <= 1, node.describe(), ": input '", what, "' must be 1-D, got shape ",
           shape_str(t.shape()));
  return t.to_int64_vector();
}

// Reads a scalar (or one-element) integer input such as Trilu's k.
inline int64_t read_int_scalar(const Node& node, const Tensor& t, const char* what) {
  SQ_CHECK(t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32, node.describe(), ": input '",
           what, "' must be int64 or int32, got ", dtype_name(t.dtype()));
  SQ_CHECK(t.numel() == 1, node.describe(), ": input '", what,
           "' must hold exactly one value, got shape ", shape_str(t.shape()));
  return t.get_as_int64(0);
}

// Ops that only move elements: calls f(T{}) with an unsigned integer type of the given element
// size (1, 2, 4 or 8 bytes), so one template instance serves every dtype of that size.
template <typename F>
inline void with_elem_type(size_t size, F&& f) {
  switch (size) {
    case 1:
      f(uint8_t{});
      break;
    case 2:
      f(uint16_t{});
      break;
    case 4:
      f(uint32_t{});
      break;
    default:
      f(uint64_t{});
      break;
  }
}

// ONNX Reshape of `in` to `spec`: 0 copies the input dimension (unless allowzero), -1 is
// inferred. Throws sq::Error naming the node for a spec that does not fit (shape_ops.cc).
Shape reshape_target(const Node& node, const Shape& in, const std::vector<int64_t>& spec,
                     bool allowzero);

}  // namespace sq
