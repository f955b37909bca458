// Why this exists: tensors carry their element type at run time, kernels are templates. This
// header is the one bridge: visit_dtype() instantiates a kernel only for the types an op
// supports (and names the rest in a one-line error), and convert_value()/convert_tensor() give
// every op the same element conversion rules, those of ONNX Cast.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"

namespace sq {

template <typename... Ts>
struct TypeList {};

// float16 is stored as uint16_t; ops usually compute it in float32 via convert_tensor().
using FloatTypes = TypeList<float, double>;
using NumericTypes = TypeList<float, double, int64_t, int32_t, int8_t, uint8_t>;
using AllTypes = TypeList<float, uint16_t, double, int64_t, int32_t, int8_t, uint8_t, bool>;

template <typename T, typename... Ts>
constexpr bool contains_type(TypeList<Ts...>) {
  return (std::is_same_v<T, Ts> || ...);
}

// Calls fn(T{}) with T the C++ element type of `t` if it is one of Ts..., else throws sq::Error
// "<what>: unsupported element type X (supported: ...)".
template <typename... Ts, typename Fn>
void visit_dtype(TypeList<Ts...>, DType t, const std::string& what, Fn&& fn) {
  bool done = ((t == DTypeOf<Ts>::value ? (fn(Ts{}), true) : false) || ...);
  if (!done) {
    std::string names;
    ((names += (names.empty() ? "" : ", ") + std::string(dtype_name(DTypeOf<Ts>::value))), ...);
    throw make_error(what, ": unsupported element type ", dtype_name(t), " (supported: ", names,
                     ")");
  }
}

// Converts one element with ONNX Cast semantics: float -> integer truncates toward zero (NaN
// gives 0, values beyond int64 saturate, then narrower integers wrap like numpy on x86),
// anything -> bool is `!= 0`, bool -> number is 0/1. uint16_t means float16.
template <typename To, typename From>
To convert_value(From v) {
  if constexpr (std::is_same_v<From, uint16_t>) {
    return convert_value<To>(half_to_float(v));
  } else if constexpr (std::is_same_v<To, uint16_t>) {
    return float_to_half(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To(0);
    constexpr double kLimit = 9223372036854775807.0;  // 2^63
    double d = std::trunc(static_cast<double>(v));
    int64_t i = d >= kLimit   ? std::numeric_limits<int64_t>::max()
                : d < -kLimit ? std::numeric_limits<int64_t>::min()
                              : static_cast<int64_t>(d);
    return static_cast<To>(i);
  } else {
    return static_cast<To>(v);
  }
}

// A tensor of the same shape with every element converted (shares storage if `to` is already
// t's type). Parallel over `pool` when given.
Tensor convert_tensor(const Tensor& t, DType to, ThreadPool* pool = nullptr);

}  // namespace sq
