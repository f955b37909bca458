// Activation functions: Relu, LeakyRelu, Sigmoid, Tanh, Erf, Gelu, Softplus, HardSigmoid, Elu.
// All are map_unary() over float32/float64 (float16 computed in float32), except float Sigmoid,
// which runs the vectorized array kernel of vec_math.h; Relu also takes integers. Attributes are
// validated when the node is prepared.
#include <cmath>
#include <string>
#include <type_traits>

#include "runtime/ops/op.h"
#include "runtime/ops/op_util.h"
#include "runtime/ops/unary.h"
#include "runtime/ops/vec_math.h"

namespace sq {
namespace {

// Registers an activation whose function is built from the node's attributes at prepare time:
// make_fn(node) returns the generic elementwise function.
template <typename Types, typename MakeFn>
void add_activation(OpRegistry& r, const char* name, MakeFn make_fn) {
  r.add(name, [make_fn](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    auto f = make_fn(node);
    return make_kernel([f](OpContext& ctx) {
      ctx.set_output(0, map_unary(Types{}, ctx.in(0), ctx.pool(), ctx.node().describe(), f));
    });
  });
}

template <typename T>
T sigmoid_scalar(T x) {
  // exp of a non-positive argument only, so large |x| neither overflows nor loses precision.
  const T e = std::exp(-std::abs(x));
  const T r = T(1) / (T(1) + e);
  return x >= 0 ? r : e * r;
}

// float32 (and float16 through it) runs the vectorized array kernel; float64 the scalar one.
Tensor sigmoid(const Node& node, const Tensor& x, ThreadPool& pool) {
  if (x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat16) {
    return map_unary(FloatTypes{}, x, pool, node.describe(),
                     [](auto v) { return sigmoid_scalar(v); });
  }
  const Tensor xf = convert_tensor(x, DType::kFloat32, &pool);
  Tensor y(DType::kFloat32, x.shape());
  const float* in = xf.data<float>();
  float* out = y.data<float>();
  pool.parallel_for(x.numel(), kElementwiseGrain,
                    [&](int64_t b, int64_t e) { array_sigmoid(in + b, out + b, e - b); });
  return convert_tensor(y, x.dtype(), &pool);
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  add_activation<NumericTypes>(r, "Relu", [](const Node&) {
    return [](auto x) {
      if constexpr (std::is_unsigned_v<decltype(x)>)
        return x;
      else
        return x < 0 ? decltype(x)(0) : x;  // NaN passes through, as in PyTorch
    };
  });
  add_activation<FloatTypes>(r, "LeakyRelu", [](const Node& node) {
    const float alpha = node.attr_float("alpha", 0.01f);
    return [alpha](auto x) { return x < 0 ? x * static_cast<decltype(x)>(alpha) : x; };
  });
  r.add("Sigmoid", [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    return make_kernel(
        [](OpContext& ctx) { ctx.set_output(0, sigmoid(ctx.node(), ctx.in(0), ctx.pool())); });
  });
  add_activation<FloatTypes>(r, "Tanh",
                             [](const Node&) { return [](auto x) { return std::tanh(x); }; });
  add_activation<FloatTypes>(r, "Erf",
                             [](const Node&) { return [](auto x) { return std::erf(x); }; });
  // Gelu is opset 20, but exporters emit it earlier: it is accepted at any opset.
  add_activation<FloatTypes>(r, "Gelu", [](const Node& node) {
    const std::string approximate = node.attr_string("approximate", "none");
    SQ_CHECK(approximate == "none" || approximate == "tanh", node.describe(),
             ": attribute 'approximate' must be \"none\" or \"tanh\", got \"", approximate, "\"");
    const bool use_tanh = approximate == "tanh";
    return [use_tanh](auto x) {
      using T = decltype(x);
      if (use_tanh) {
        const T k = static_cast<T>(0.7978845608028654);  // sqrt(2 / pi)
        return T(0.5) * x * (T(1) + std::tanh(k * (x + static_cast<T>(0.044715) * x * x * x)));
      }
      // 1 + erf(z) = erfc(-z): no cancellation for negative x.
      return T(0.5) * x * std::erfc(x * static_cast<T>(-0.7071067811865476));
    };
  });
  add_activation<FloatTypes>(r, "Softplus", [](const Node&) {
    // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
    return [](auto x) {
      using T = decltype(x);
      return (x > 0 ? x : T(0)) + std::log1p(std::exp(-std::abs(x)));
    };
  });
  add_activation<FloatTypes>(r, "HardSigmoid", [](const Node& node) {
    const float alpha = node.attr_float("alpha", 0.2f), beta = node.attr_float("beta", 0.5f);
    return [alpha, beta](auto x) {
      using T = decltype(x);
      const T v = static_cast<T>(alpha) * x + static_cast<T>(beta);
      return v < 0 ? T(0) : (v > 1 ? T(1) : v);
    };
  });
  add_activation<FloatTypes>(r, "Elu", [](const Node& node) {
    const float alpha = node.attr_float("alpha", 1.0f);
    return [alpha](auto x) {
      using T = decltype(x);
      return x < 0 ? static_cast<T>(alpha) * std::expm1(x) : x;
    };
  });
}

}  // namespace sq
