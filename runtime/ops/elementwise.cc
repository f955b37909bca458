// Elementwise ONNX ops: binary arithmetic, comparison and logic with numpy broadcasting, the
// variadic Sum/Mean/Max/Min, unary math, Where, Clip, Cast and Expand.
// Integer arithmetic wraps on overflow and integer division/modulo by zero gives 0 (ONNX leaves
// both undefined; this keeps the reference engine free of undefined behaviour and SIGFPE).
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/op.h"
#include "runtime/ops/op_util.h"
#include "runtime/ops/unary.h"

namespace sq {
namespace {

using EqualTypes = TypeList<float, double, int64_t, int32_t, int8_t, uint8_t, bool>;
using BoolTypes = TypeList<bool>;

template <typename T>
using Unsigned = std::make_unsigned_t<T>;

// ---- Scalar operations. Each is a functor generic over the element type. ----

struct AddOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(Unsigned<T>(a) + Unsigned<T>(b));
    else
      return a + b;
  }
};
struct SubOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(Unsigned<T>(a) - Unsigned<T>(b));
    else
      return a - b;
  }
};
struct MulOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(Unsigned<T>(a) * Unsigned<T>(b));
    else
      return a * b;
  }
};
template <typename T>
T wrapping_neg(T a) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(Unsigned<T>(0) - Unsigned<T>(a));
  else
    return -a;
}
struct DivOp {  // integers truncate toward zero, like C++ and ONNX
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return wrapping_neg(a);
      }
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
};
struct ModOp {
  bool fmod = false;  // true: sign of the dividend (C fmod); false: sign of the divisor (Python)
  template <typename T>
  T operator()(T a, T b) const {
    T r;
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return 0;
      }
      r = static_cast<T>(a % b);
    } else {
      r = std::fmod(a, b);
    }
    if constexpr (std::is_signed_v<T>) {
      if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    }
    return r;
  }
};
struct PowOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>)
      return b == T(2) ? a * a : std::pow(a, b);  // x^2 (decomposed LayerNorm): same value, faster
    else
      return convert_value<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
};
template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}
struct MaxOp {  // NaN propagates, as in numpy.maximum and torch.maximum
  template <typename T>
  T operator()(T a, T b) const {
    return (a > b || is_nan(a)) ? a : b;
  }
};
struct MinOp {
  template <typename T>
  T operator()(T a, T b) const {
    return (a < b || is_nan(a)) ? a : b;
  }
};
struct EqualOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a == b;
  }
};
struct LessOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a < b;
  }
};
struct LessOrEqualOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a <= b;
  }
};
struct GreaterOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a > b;
  }
};
struct GreaterOrEqualOp {
  template <typename T>
  bool operator()(T a, T b) const {
    return a >= b;
  }
};
struct AndOp {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct XorOp {
  bool operator()(bool a, bool b) const { return a != b; }
};

// ---- Binary driver: type checks, float16 through float32, broadcasting. ----

// Applies op with broadcasting. Both inputs must share one element type from `types`; the output
// has that type, or bool when kBoolOut (comparisons).
template <bool kBoolOut, typename Types, typename Op>
Tensor apply_binary(const Node& node, const Tensor& a, const Tensor& b, ThreadPool& pool,
                    const Op& op) {
  SQ_CHECK(a.dtype() == b.dtype(), node.describe(), ": inputs have different element types (",
           dtype_name(a.dtype()), " and ", dtype_name(b.dtype()), ")");
  if (contains_type<float>(Types{}) && a.dtype() == DType::kFloat16) {
    Tensor r = apply_binary<kBoolOut, Types>(node, convert_tensor(a, DType::kFloat32, &pool),
                                             convert_tensor(b, DType::kFloat32, &pool), pool, op);
    return kBoolOut ? r : convert_tensor(r, DType::kFloat16, &pool);
  }
  BroadcastPlan plan = make_broadcast_plan({a.shape(), b.shape()}, node.describe());
  Tensor out(kBoolOut ? DType::kBool : a.dtype(), plan.out_shape);
  visit_dtype(Types{}, a.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    using Out = std::conditional_t<kBoolOut, bool, T>;
    broadcast_binary(plan, a.data<T>(), b.data<T>(), out.data<Out>(), pool,
                     [&op](T x, T y) { return static_cast<Out>(op(x, y)); });
  });
  return out;
}

template <bool kBoolOut, typename Types, typename Op>
void add_binary(OpRegistry& r, const char* name, Op op = Op{}) {
  r.add(name, [op](const Node& node, int64_t) {
    check_num_inputs(node, 2, 2);
    return make_kernel([op](OpContext& ctx) {
      ctx.set_output(
          0, apply_binary<kBoolOut, Types>(ctx.node(), ctx.in(0), ctx.in(1), ctx.pool(), op));
    });
  });
}

// Sum, Mean, Max, Min: fold the inputs pairwise (broadcasting is associative). float16 inputs
// are accumulated in float32 and rounded once at the end.
template <typename Op>
void add_variadic(OpRegistry& r, const char* name, bool mean) {
  r.add(name, [mean](const Node& node, int64_t) {
    check_num_inputs(node, 1, std::numeric_limits<size_t>::max());
    return make_kernel([mean](OpContext& ctx) {
      const Node& n = ctx.node();
      ThreadPool& pool = ctx.pool();
      const DType dtype = ctx.in(0).dtype();
      if (mean) {
        SQ_CHECK(dtype_is_float(dtype), n.describe(), ": input must be a float type, got ",
                 dtype_name(dtype));
      } else if (dtype != DType::kFloat16) {
        visit_dtype(NumericTypes{}, dtype, n.describe(), [](auto) {});
      }
      const DType work = dtype == DType::kFloat16 ? DType::kFloat32 : dtype;
      Tensor acc = convert_tensor(ctx.in(0), work, &pool);
      size_t count = 1;
      for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        if (!ctx.input(i)) continue;
        SQ_CHECK(ctx.input(i)->dtype() == dtype, n.describe(), ": input ", i, " is ",
                 dtype_name(ctx.input(i)->dtype()), ", expected ", dtype_name(dtype));
        acc = apply_binary<false, NumericTypes>(n, acc, convert_tensor(*ctx.input(i), work, &pool),
                                                pool, Op{});
        ++count;
      }
      if (mean) {
        const double c = static_cast<double>(count);
        acc = map_unary(FloatTypes{}, acc, pool, n.describe(),
                        [c](auto v) { return v / static_cast<decltype(v)>(c); });
      }
      ctx.set_output(0, convert_tensor(acc, dtype, &pool));
    });
  });
}

// ---- Unary ops. ----

template <typename Types, typename F>
void add_unary(OpRegistry& r, const char* name, F f) {
  r.add(name, [f](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    return make_kernel([f](OpContext& ctx) {
      ctx.set_output(0, map_unary(Types{}, ctx.in(0), ctx.pool(), ctx.node().describe(), f));
    });
  });
}

// IsNaN / IsInf: float in, bool out.
template <typename Pred>
Tensor float_predicate(const Node& node, const Tensor& x, ThreadPool& pool, Pred pred) {
  Tensor xf = x.dtype() == DType::kFloat16 ? convert_tensor(x, DType::kFloat32, &pool) : x;
  Tensor out(DType::kBool, x.shape());
  bool* o = out.data<bool>();
  visit_dtype(FloatTypes{}, xf.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = xf.data<T>();
    pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = pred(in[i]);
    });
  });
  return out;
}

void register_unary(OpRegistry& r) {
  add_unary<NumericTypes>(r, "Neg", [](auto x) { return wrapping_neg(x); });
  add_unary<NumericTypes>(r, "Abs", [](auto x) {
    if constexpr (std::is_unsigned_v<decltype(x)>)
      return x;
    else
      return x < 0 ? wrapping_neg(x) : x;
  });
  add_unary<NumericTypes>(r, "Sign", [](auto x) {
    using T = decltype(x);
    if constexpr (std::is_unsigned_v<T>)
      return static_cast<T>(x > 0 ? 1 : 0);
    else
      return is_nan(x) ? x : static_cast<T>(x > 0 ? 1 : (x < 0 ? -1 : 0));
  });
  add_unary<FloatTypes>(r, "Sqrt", [](auto x) { return std::sqrt(x); });
  add_unary<FloatTypes>(r, "Reciprocal", [](auto x) { return decltype(x)(1) / x; });
  add_unary<FloatTypes>(r, "Exp", [](auto x) { return std::exp(x); });
  add_unary<FloatTypes>(r, "Log", [](auto x) { return std::log(x); });
  add_unary<FloatTypes>(r, "Floor", [](auto x) { return std::floor(x); });
  add_unary<FloatTypes>(r, "Ceil", [](auto x) { return std::ceil(x); });
  // Halves round to even (the default floating-point rounding mode), as ONNX specifies.
  add_unary<FloatTypes>(r, "Round", [](auto x) { return std::nearbyint(x); });
  add_unary<BoolTypes>(r, "Not", [](bool x) { return !x; });

  r.add("IsNaN", [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    return make_kernel([](OpContext& ctx) {
      ctx.set_output(0, float_predicate(ctx.node(), ctx.in(0), ctx.pool(),
                                        [](auto v) { return std::isnan(v); }));
    });
  });
  r.add("IsInf", [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    const bool neg = node.attr_int("detect_negative", 1) != 0;
    const bool pos = node.attr_int("detect_positive", 1) != 0;
    return make_kernel([neg, pos](OpContext& ctx) {
      ctx.set_output(0, float_predicate(ctx.node(), ctx.in(0), ctx.pool(), [neg, pos](auto v) {
                       return std::isinf(v) && (v > 0 ? pos : neg);
                     }));
    });
  });
}

// ---- Where, Clip, Cast, Expand. ----

Tensor where(const Node& node, const Tensor& cond, const Tensor& x, const Tensor& y,
             ThreadPool& pool) {
  SQ_CHECK(cond.dtype() == DType::kBool, node.describe(), ": condition must be bool, got ",
           dtype_name(cond.dtype()));
  SQ_CHECK(x.dtype() == y.dtype(), node.describe(), ": X and Y have different element types (",
           dtype_name(x.dtype()), " and ", dtype_name(y.dtype()), ")");
  BroadcastPlan plan = make_broadcast_plan({cond.shape(), x.shape(), y.shape()}, node.describe());
  Tensor out(x.dtype(), plan.out_shape);
  visit_dtype(AllTypes{}, x.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    const bool* c = cond.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    parallel_for_each_run(plan, pool,
                          [&](int64_t o, const int64_t* off, const int64_t* st, int64_t n) {
                            const bool* cc = c + off[0];
                            const T* xx = px + off[1];
                            const T* yy = py + off[2];
                            T* oo = po + o;
                            if (st[0] && st[1] && st[2]) {
                              for (int64_t i = 0; i < n; ++i) oo[i] = cc[i] ? xx[i] : yy[i];
                            } else {
                              for (int64_t i = 0; i < n; ++i)
                                oo[i] = cc[i * st[0]] ? xx[i * st[1]] : yy[i * st[2]];
                            }
                          });
  });
  return out;
}

// Clip's bound from an optional scalar input, else the pre-opset-11 attribute, else `def`.
double clip_bound(const Node& node, const Tensor* t, const Tensor& x, const char* which,
                  double attr, double def) {
  if (!t) return std::isnan(attr) ? def : attr;
  SQ_CHECK(t->dtype() == x.dtype(), node.describe(), ": ", which, " is ", dtype_name(t->dtype()),
           ", expected ", dtype_name(x.dtype()), " like the input");
  SQ_CHECK(t->numel() == 1, node.describe(), ": ", which, " must be a scalar, got shape ",
           shape_str(t->shape()));
  return t->get_as_double(0);
}

Tensor clip(const Node& node, const Tensor& x, const Tensor* min_t, const Tensor* max_t,
            double min_attr, double max_attr, ThreadPool& pool) {
  if (x.dtype() == DType::kFloat16) {
    Tensor y = clip(node, convert_tensor(x, DType::kFloat32, &pool), nullptr, nullptr,
                    clip_bound(node, min_t, x, "min", min_attr, -INFINITY),
                    clip_bound(node, max_t, x, "max", max_attr, INFINITY), pool);
    return convert_tensor(y, DType::kFloat16, &pool);
  }
  Tensor out(x.dtype(), x.shape());
  visit_dtype(NumericTypes{}, x.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    constexpr double kLowest = static_cast<double>(std::numeric_limits<T>::lowest());
    constexpr double kMax = static_cast<double>(std::numeric_limits<T>::max());
    const T lo = convert_value<T>(clip_bound(node, min_t, x, "min", min_attr, kLowest));
    const T hi = convert_value<T>(clip_bound(node, max_t, x, "max", max_attr, kMax));
    const T* in = x.data<T>();
    T* o = out.data<T>();
    pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T v = in[i] < lo ? lo : in[i];  // NaN stays NaN
        o[i] = v > hi ? hi : v;
      }
    });
  });
  return out;
}

Tensor expand(const Node& node, const Tensor& x, const Tensor& shape_t, ThreadPool& pool) {
  SQ_CHECK(shape_t.dtype() == DType::kInt64 && shape_t.rank() == 1, node.describe(),
           ": shape must be a 1-D int64 tensor, got ", dtype_name(shape_t.dtype()), " ",
           shape_str(shape_t.shape()));
  Shape target = shape_t.to_int64_vector();
  for (int64_t d : target) {
    SQ_CHECK(d >= 0, node.describe(), ": shape ", shape_str(target), " has a negative dimension");
  }
  return broadcast_to(x, broadcast_shapes({x.shape(), target}, node.describe()), node.describe(),
                      pool);
}

void register_misc(OpRegistry& r) {
  r.add("Where", [](const Node& node, int64_t) {
    check_num_inputs(node, 3, 3);
    return make_kernel([](OpContext& ctx) {
      ctx.set_output(0, where(ctx.node(), ctx.in(0), ctx.in(1), ctx.in(2), ctx.pool()));
    });
  });
  r.add("Clip", [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 3);
    const double min_attr = node.attr_float("min", NAN), max_attr = node.attr_float("max", NAN);
    return make_kernel([min_attr, max_attr](OpContext& ctx) {
      ctx.set_output(0, clip(ctx.node(), ctx.in(0), ctx.input(1), ctx.input(2), min_attr, max_attr,
                             ctx.pool()));
    });
  });
  r.add("Cast", [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    const DType to =
        dtype_from_onnx(static_cast<int>(node.attr_int("to")), node.describe() + " attribute 'to'");
    return make_kernel(
        [to](OpContext& ctx) { ctx.set_output(0, convert_tensor(ctx.in(0), to, &ctx.pool())); });
  });
  r.add("Expand", [](const Node& node, int64_t) {
    check_num_inputs(node, 2, 2);
    return make_kernel([](OpContext& ctx) {
      ctx.set_output(0, expand(ctx.node(), ctx.in(0), ctx.in(1), ctx.pool()));
    });
  });
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  add_binary<false, NumericTypes, AddOp>(r, "Add");
  add_binary<false, NumericTypes, SubOp>(r, "Sub");
  add_binary<false, NumericTypes, MulOp>(r, "Mul");
  add_binary<false, NumericTypes, DivOp>(r, "Div");
  add_binary<true, EqualTypes, EqualOp>(r, "Equal");
  add_binary<true, NumericTypes, LessOp>(r, "Less");
  add_binary<true, NumericTypes, LessOrEqualOp>(r, "LessOrEqual");
  add_binary<true, NumericTypes, GreaterOp>(r, "Greater");
  add_binary<true, NumericTypes, GreaterOrEqualOp>(r, "GreaterOrEqual");
  add_binary<true, BoolTypes, AndOp>(r, "And");
  add_binary<true, BoolTypes, OrOp>(r, "Or");
  add_binary<true, BoolTypes, XorOp>(r, "Xor");
  r.add("Mod", [](const Node& node, int64_t) {
    check_num_inputs(node, 2, 2);
    const int64_t fmod = node.attr_int("fmod", 0);
    SQ_CHECK(fmod == 0 || fmod == 1, node.describe(), ": attribute 'fmod' must be 0 or 1, got ",
             fmod);
    const ModOp op{fmod == 1};
    return make_kernel([op](OpContext& ctx) {
      ctx.set_output(
          0, apply_binary<false, NumericTypes>(ctx.node(), ctx.in(0), ctx.in(1), ctx.pool(), op));
    });
  });
  // Pow allows an exponent of another type: it is converted to the base's type first.
  r.add("Pow", [](const Node& node, int64_t) {
    check_num_inputs(node, 2, 2);
    return make_kernel([](OpContext& ctx) {
      const Tensor& base = ctx.in(0);
      Tensor exponent = convert_tensor(ctx.in(1), base.dtype(), &ctx.pool());
      ctx.set_output(
          0, apply_binary<false, NumericTypes>(ctx.node(), base, exponent, ctx.pool(), PowOp{}));
    });
  });
  add_variadic<MaxOp>(r, "Max", false);
  add_variadic<MinOp>(r, "Min", false);
  add_variadic<AddOp>(r, "Sum", false);
  add_variadic<AddOp>(r, "Mean", true);
  register_unary(r);
  register_misc(r);
}

}  // namespace sq
