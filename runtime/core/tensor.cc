#include "runtime/core/tensor.h"

#include "runtime/core/tensor_allocator.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "runtime/core/memory_limit.h"

namespace sq {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    // Shapes read from files or computed by ops may be absurd: never let the product overflow.
    if (__builtin_mul_overflow(n, d, &n)) {
      throw make_error("shape ", shape_str(shape), " has more elements than int64 can count");
    }
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

size_t shape_nbytes(DType dtype, const Shape& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    SQ_CHECK(d >= 0, what, ": shape ", shape_str(shape), " has a negative dimension");
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      throw make_error(what, ": shape ", shape_str(shape), " overflows");
    }
    n *= d;
  }
  // Refused before anything is allocated: a tensor larger than physical memory can never be
  // used, and with overcommit its allocation might succeed only for the OOM killer to end us.
  const uint64_t limit = max_tensor_bytes(), elem = dtype_size(dtype);
  if (static_cast<uint64_t>(n) > limit / elem) {
    const bool overflows = static_cast<uint64_t>(n) > UINT64_MAX / elem;
    throw make_error(what, ": shape ", shape_str(shape), " of ", dtype_name(dtype), " needs ",
                     overflows ? std::string("more than 2^64") : std::to_string(n * elem),
                     " bytes, more than this machine's ", limit, " bytes of physical memory");
  }
  return static_cast<size_t>(n) * dtype_size(dtype);
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  buffer_ = allocate_tensor_storage(shape_nbytes(dtype_, shape_));
}

Tensor Tensor::external(DType dtype, Shape shape, std::shared_ptr<void> data) {
  shape_nbytes(dtype, shape);  // validates the shape
  SQ_CHECK(data, "Tensor::external: no data");
  SQ_CHECK(reinterpret_cast<uintptr_t>(data.get()) % 64 == 0,
           "Tensor::external: data is not 64-byte aligned");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.buffer_ = std::move(data);
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape new_shape) const {
  SQ_CHECK(shape_numel(new_shape) == numel(), "cannot reshape ", shape_str(shape_), " to ",
           shape_str(new_shape));
  Tensor t = *this;
  t.shape_ = std::move(new_shape);
  return t;
}

Tensor Tensor::clone() const {
  if (empty_handle()) return *this;
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

void Tensor::check_type(DType t) const {
  if (t != dtype_) {
    throw make_error("tensor of type ", dtype_name(dtype_), " accessed as ", dtype_name(t));
  }
}

double Tensor::get_as_double(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32:
      return static_cast<const float*>(raw())[i];
    case DType::kFloat16:
      return half_to_float(static_cast<const uint16_t*>(raw())[i]);
    case DType::kFloat64:
      return static_cast<const double*>(raw())[i];
    case DType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(raw())[i]);
    case DType::kInt32:
      return static_cast<const int32_t*>(raw())[i];
    case DType::kInt8:
      return static_cast<const int8_t*>(raw())[i];
    case DType::kUInt8:
      return static_cast<const uint8_t*>(raw())[i];
    case DType::kBool:
      return static_cast<const bool*>(raw())[i] ? 1.0 : 0.0;
  }
  return 0;
}

int64_t Tensor::get_as_int64(int64_t i) const {
  switch (dtype_) {
    case DType::kInt64:
      return static_cast<const int64_t*>(raw())[i];
    case DType::kInt32:
      return static_cast<const int32_t*>(raw())[i];
    case DType::kInt8:
      return static_cast<const int8_t*>(raw())[i];
    case DType::kUInt8:
      return static_cast<const uint8_t*>(raw())[i];
    case DType::kBool:
      return static_cast<const bool*>(raw())[i] ? 1 : 0;
    default:
      return static_cast<int64_t>(get_as_double(i));
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) v[static_cast<size_t>(i)] = get_as_int64(i);
  return v;
}

std::vector<float> Tensor::to_float_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) {
    v[static_cast<size_t>(i)] = static_cast<float>(get_as_double(i));
  }
  return v;
}

}  // namespace sq
