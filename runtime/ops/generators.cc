// Generator ops: Constant, ConstantOfShape, Range, EyeLike. Constants are built once at prepare
// time and every run hands out the same immutable buffer.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>

#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

std::unique_ptr<OpKernel> make_constant(const Node& node, int64_t) {
  check_num_inputs(node, 0, 0);
  static const char* const kKeys[] = {"value",         "value_float", "value_floats",
                                      "value_int",     "value_ints",  "value_string",
                                      "value_strings", "sparse_value"};
  int given = 0;
  for (const char* k : kKeys) given += node.has_attr(k) ? 1 : 0;
  SQ_CHECK(given == 1, node.describe(), ": expected exactly one value attribute, got ", given);
  Tensor t;
  if (node.has_attr("value")) {
    t = node.attr_tensor("value");
  } else if (node.has_attr("value_float")) {
    t = Tensor::scalar_f32(node.attr_float("value_float", 0.0f));
  } else if (node.has_attr("value_floats")) {
    auto v = node.attr_floats("value_floats");
    t = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  } else if (node.has_attr("value_int")) {
    t = Tensor::scalar_i64(node.attr_int("value_int"));
  } else if (node.has_attr("value_ints")) {
    auto v = node.attr_ints("value_ints");
    t = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  } else {
    throw make_error(node.describe(), ": string and sparse constants are not supported");
  }
  return make_kernel([t](OpContext& ctx) { ctx.set_output(0, t); });
}

std::unique_ptr<OpKernel> make_constant_of_shape(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  Tensor value = Tensor::zeros(DType::kFloat32, {1});
  if (node.has_attr("value")) {
    value = node.attr_tensor("value");
    SQ_CHECK(value.numel() == 1, node.describe(), ": attribute 'value' must hold one element, got ",
             shape_str(value.shape()));
  }
  return make_kernel([value](OpContext& ctx) {
    const Node& node = ctx.node();
    const Shape shape = read_int_list(node, ctx.in(0), "shape");
    for (int64_t d : shape) {
      SQ_CHECK(d >= 0, node.describe(), ": shape ", shape_str(shape), " has a negative dimension");
    }
    Tensor y(value.dtype(), shape);
    with_elem_type(dtype_size(value.dtype()), [&](auto tag) {
      using T = decltype(tag);
      const T v = *static_cast<const T*>(value.raw());
      T* out = static_cast<T*>(y.raw());
      for (int64_t i = 0; i < y.numel(); ++i) out[i] = v;
    });
    ctx.set_output(0, std::move(y));
  });
}

// Refuses ranges that could not be allocated before computing with their length.
constexpr double kMaxRangeLength = double(int64_t{1} << 40);

template <typename T>
Tensor range_of(const Node& node, T start, T limit, T delta) {
  SQ_CHECK(delta != T(0), node.describe(), ": delta is 0");
  double n;
  if constexpr (std::is_integral_v<T>) {
    // 128-bit so that extreme int64 limits cannot overflow.
    const __int128 diff = static_cast<__int128>(limit) - start;
    const __int128 d = delta;
    __int128 q = diff / d;
    if (q * d != diff && ((diff > 0) == (d > 0))) ++q;  // ceil for same-sign operands
    n = q > 0 ? static_cast<double>(q) : 0.0;
  } else {
    n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                  static_cast<double>(delta));
    SQ_CHECK(!std::isnan(n), node.describe(), ": start, limit and delta give no length");
    n = std::max(n, 0.0);
  }
  SQ_CHECK(n <= kMaxRangeLength, node.describe(), ": range of ", n, " elements is too long");
  const auto len = static_cast<int64_t>(n);
  Tensor y(DTypeOf<T>::value, {len});
  T* out = y.data<T>();
  // ONNX defines element i as start + i * delta (not a running sum).
  for (int64_t i = 0; i < len; ++i) {
    if constexpr (std::is_integral_v<T>) {
      out[i] = static_cast<T>(static_cast<__int128>(start) + static_cast<__int128>(i) * delta);
    } else {
      out[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    }
  }
  return y;
}

std::unique_ptr<OpKernel> make_range(const Node& node, int64_t) {
  check_num_inputs(node, 3, 3);
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor &s = ctx.in(0), &l = ctx.in(1), &d = ctx.in(2);
    SQ_CHECK(s.dtype() == l.dtype() && s.dtype() == d.dtype(), node.describe(),
             ": start, limit and delta must have the same type, got ", dtype_name(s.dtype()), ", ",
             dtype_name(l.dtype()), ", ", dtype_name(d.dtype()));
    SQ_CHECK(s.numel() == 1 && l.numel() == 1 && d.numel() == 1, node.describe(),
             ": start, limit and delta must be scalars");
    visit_dtype(TypeList<float, double, int64_t, int32_t>{}, s.dtype(), node.describe(),
                [&](auto tag) {
                  using T = decltype(tag);
                  ctx.set_output(0, range_of(node, *s.data<T>(), *l.data<T>(), *d.data<T>()));
                });
  });
}

// Writes the value 1 of dtype t at element i of a raw buffer.
void set_one(void* data, DType t, int64_t i) {
  switch (t) {
    case DType::kFloat32:
      static_cast<float*>(data)[i] = 1.0f;
      break;
    case DType::kFloat16:
      static_cast<uint16_t*>(data)[i] = float_to_half(1.0f);
      break;
    case DType::kFloat64:
      static_cast<double*>(data)[i] = 1.0;
      break;
    case DType::kInt64:
      static_cast<int64_t*>(data)[i] = 1;
      break;
    case DType::kInt32:
      static_cast<int32_t*>(data)[i] = 1;
      break;
    case DType::kInt8:
      static_cast<int8_t*>(data)[i] = 1;
      break;
    case DType::kUInt8:
      static_cast<uint8_t*>(data)[i] = 1;
      break;
    case DType::kBool:
      static_cast<bool*>(data)[i] = true;
      break;
  }
}

std::unique_ptr<OpKernel> make_eye_like(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  const int64_t diagonal = node.attr_int("k", 0);
  std::optional<DType> dtype;
  if (node.has_attr("dtype"))
    dtype = dtype_from_onnx(static_cast<int>(node.attr_int("dtype")),
                            node.describe() + " attribute 'dtype'");
  return make_kernel([diagonal, dtype](OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    SQ_CHECK(x.rank() == 2, ctx.node().describe(), ": input ", shape_str(x.shape()),
             " must be 2-D");
    Tensor y = Tensor::zeros(dtype.value_or(x.dtype()), x.shape());
    const int64_t rows = x.dim(0), cols = x.dim(1);
    const int64_t k = std::clamp<int64_t>(diagonal, -rows, cols);
    for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i) {
      set_one(y.raw(), y.dtype(), i * cols + i + k);
    }
    ctx.set_output(0, std::move(y));
  });
}

}  // namespace

void register_generator_ops(OpRegistry& r) {
  r.add("Constant", make_constant);
  r.add("ConstantOfShape", make_constant_of_shape);
  r.add("Range", make_range);
  r.add("EyeLike", make_eye_like);
}

}  // namespace sq
