// Why this exists: the one dense tensor type the runtime passes between ops. Storage is a
// shared, 64-byte aligned buffer, so Reshape/Identity/Squeeze are zero-copy views, and memory is
// released as soon as the last holder (the engine's liveness map) drops it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/core/error.h"

namespace sq {

using Shape = std::vector<int64_t>;

// Product of the dims (1 for a scalar); throws sq::Error if it overflows int64.
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);
// Bytes needed by a tensor of this dtype and shape. Throws sq::Error (prefixed with `what`) for
// negative dimensions, overflow or sizes beyond what the runtime will allocate, so callers can
// check a size read from a file before allocating it.
size_t shape_nbytes(DType dtype, const Shape& shape, const std::string& what = "tensor");

class Tensor {
 public:
  Tensor() = default;
  // Allocates uninitialized storage for shape (throws sq::Error on negative dims or overflow).
  Tensor(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  static Tensor scalar_f32(float v) { return from_vector<float>({}, {v}); }
  static Tensor scalar_i64(int64_t v) { return from_vector<int64_t>({}, {v}); }
  // A tensor over memory it does not allocate (a mapped .sqm file): `data` points at
  // shape_nbytes(dtype, shape) bytes, 64-byte aligned, and keeps their owner alive (build it
  // with shared_ptr's aliasing constructor from the mapping's shared_ptr). No copy is made.
  static Tensor external(DType dtype, Shape shape, std::shared_ptr<void> data);

  bool empty_handle() const { return !buffer_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() { return buffer_.get(); }
  const void* raw() const { return buffer_.get(); }
  template <typename T>
  T* data() {
    check_type(DTypeOf<T>::value);
    return static_cast<T*>(raw());
  }
  template <typename T>
  const T* data() const {
    check_type(DTypeOf<T>::value);
    return static_cast<const T*>(raw());
  }

  // A view with a new shape over the same buffer (numel must match).
  Tensor reshaped(Shape new_shape) const;
  // A deep copy with its own buffer (an empty handle stays an empty handle).
  Tensor clone() const;
  // Element i converted to double / int64, whatever the dtype (for shape math and tests).
  double get_as_double(int64_t i) const;
  int64_t get_as_int64(int64_t i) const;
  // All elements as int64 (for shape-like tensors: Reshape's shape, Slice's starts, ...).
  std::vector<int64_t> to_int64_vector() const;
  std::vector<float> to_float_vector() const;

 private:
  void check_type(DType t) const;

  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<void> buffer_;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  SQ_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from_vector: ", values.size(),
           " values for shape ", shape_str(t.shape()));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace sq
