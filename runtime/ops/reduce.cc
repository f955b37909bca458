// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum, ArgMax/ArgMin, CumSum.
// Axes come from the `axes` attribute (opset <= 17) or the optional second input (ReduceSum from
// opset 13, all from 18); either form is accepted at any opset. Float sums accumulate in double,
// integer sums in int64. When the reduced axes are one contiguous block the kernel walks
// [outer, reduced, inner] directly with an inner loop over contiguous elements; other layouts
// use precomputed offsets.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/op.h"
#include "runtime/ops/op_util.h"

namespace sq {
namespace {

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum };

// Accumulation rules of one reduction kind for element type T.
template <Kind K, typename T>
struct Reducer {
  static constexpr bool kMinMax = K == Kind::kMax || K == Kind::kMin;
  using Wide = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  using UWide = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
  using Acc = std::conditional_t<kMinMax, T, Wide>;

  // Integer accumulation goes through unsigned arithmetic so overflow wraps instead of being
  // undefined; for floats these are the identity.
  static auto unsigned_of(T x) {
    if constexpr (std::is_floating_point_v<T>)
      return static_cast<double>(x);
    else
      return static_cast<uint64_t>(static_cast<int64_t>(x));
  }
  template <typename U>
  static Wide wrap(U v) {
    return static_cast<Wide>(v);
  }

  static Acc init() {
    if constexpr (K == Kind::kMax) {
      if constexpr (std::is_floating_point_v<T>)
        return -std::numeric_limits<T>::infinity();
      else
        return std::numeric_limits<T>::lowest();
    } else if constexpr (K == Kind::kMin) {
      if constexpr (std::is_floating_point_v<T>)
        return std::numeric_limits<T>::infinity();
      else
        return std::numeric_limits<T>::max();
    } else if constexpr (K == Kind::kProd) {
      return 1;
    } else {
      return 0;
    }
  }
  static Acc step(Acc a, T x) {
    if constexpr (K == Kind::kMax) {
      if constexpr (std::is_floating_point_v<T>)
        return (x > a || std::isnan(x)) ? x : a;
      else
        return x > a ? x : a;
    } else if constexpr (K == Kind::kMin) {
      if constexpr (std::is_floating_point_v<T>)
        return (x < a || std::isnan(x)) ? x : a;
      else
        return x < a ? x : a;
    } else if constexpr (K == Kind::kProd) {
      return wrap(static_cast<UWide>(a) * unsigned_of(x));
    } else if constexpr (K == Kind::kSumSquare || K == Kind::kL2) {
      return wrap(static_cast<UWide>(a) + unsigned_of(x) * unsigned_of(x));
    } else if constexpr (K == Kind::kL1) {
      if constexpr (std::is_signed_v<T>) {
        if (x < T(0)) return wrap(static_cast<UWide>(a) - unsigned_of(x));
      }
      return wrap(static_cast<UWide>(a) + unsigned_of(x));
    } else {
      return wrap(static_cast<UWide>(a) + unsigned_of(x));
    }
  }
  static T finish(Acc a, int64_t count) {
    if constexpr (K == Kind::kMean) {
      return convert_value<T>(static_cast<double>(a) / static_cast<double>(count));
    } else if constexpr (K == Kind::kL2) {
      return convert_value<T>(std::sqrt(static_cast<double>(a)));
    } else if constexpr (K == Kind::kLogSum) {
      return convert_value<T>(std::log(static_cast<double>(a)));
    } else {
      return static_cast<T>(a);
    }
  }
};

// Input shape reduced over sorted, normalized axes.
struct ReduceLayout {
  Shape out_shape;
  int64_t count = 1;  // elements per reduced group
  bool contiguous_block = false;
  int64_t outer = 1, inner = 1;                                   // valid when contiguous_block
  std::vector<int64_t> kept_dims, kept_strides, reduced_offsets;  // otherwise
};

ReduceLayout make_layout(const Shape& shape, const std::vector<int64_t>& axes, bool keepdims) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<bool> reduced(shape.size(), false);
  for (int64_t a : axes) reduced[a] = true;
  ReduceLayout l;
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t d = rank - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  int64_t first = -1, last = -1;  // span of reduced dims of size > 1
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      l.count *= shape[d];
      if (keepdims) l.out_shape.push_back(1);
      if (shape[d] != 1) {
        if (first < 0) first = d;
        last = d;
      }
    } else {
      l.out_shape.push_back(shape[d]);
    }
  }
  bool block = true;
  for (int64_t d = first; first >= 0 && d <= last; ++d)
    block = block && (reduced[d] || shape[d] == 1);
  if (block) {
    l.contiguous_block = true;
    const int64_t split_lo = first < 0 ? rank : first, split_hi = first < 0 ? rank : last + 1;
    for (int64_t d = 0; d < split_lo; ++d) l.outer *= shape[d];
    for (int64_t d = split_hi; d < rank; ++d) l.inner *= shape[d];
    return l;
  }
  l.reduced_offsets.assign(1, 0);
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d]) {
      l.kept_dims.push_back(shape[d]);
      l.kept_strides.push_back(strides[d]);
      continue;
    }
    std::vector<int64_t> next;
    next.reserve(l.reduced_offsets.size() * shape[d]);
    for (int64_t off : l.reduced_offsets) {
      for (int64_t j = 0; j < shape[d]; ++j) next.push_back(off + j * strides[d]);
    }
    l.reduced_offsets = std::move(next);
  }
  return l;
}

template <Kind K, typename T>
void reduce_typed(const ReduceLayout& l, const T* x, T* out, ThreadPool& pool) {
  using R = Reducer<K, T>;
  using Acc = typename R::Acc;
  const int64_t count = l.count;
  if (l.contiguous_block && l.inner == 1) {
    pool.parallel_for(l.outer,
                      std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, count)),
                      [&](int64_t b, int64_t e) {
                        for (int64_t o = b; o < e; ++o) {
                          const T* row = x + o * count;
                          Acc acc = R::init();
                          for (int64_t j = 0; j < count; ++j) acc = R::step(acc, row[j]);
                          out[o] = R::finish(acc, count);
                        }
                      });
  } else if (l.contiguous_block) {
    const int64_t inner = l.inner;
    parallel_outer_inner(pool, l.outer, inner, count, [&](int64_t o, int64_t i0, int64_t i1) {
      std::array<Acc, kInnerBlock> acc;
      const int64_t n = i1 - i0;
      std::fill(acc.begin(), acc.begin() + n, R::init());
      for (int64_t j = 0; j < count; ++j) {
        const T* src = x + (o * count + j) * inner + i0;
        for (int64_t i = 0; i < n; ++i) acc[i] = R::step(acc[i], src[i]);
      }
      for (int64_t i = 0; i < n; ++i) out[o * inner + i0 + i] = R::finish(acc[i], count);
    });
  } else {
    const int64_t num_out = shape_numel(l.kept_dims);
    const auto& offs = l.reduced_offsets;
    pool.parallel_for(num_out,
                      std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, count)),
                      [&](int64_t b, int64_t e) {
                        for (int64_t idx = b; idx < e; ++idx) {
                          int64_t base = 0, rest = idx;
                          for (size_t d = l.kept_dims.size(); d-- > 0;) {
                            base += (rest % l.kept_dims[d]) * l.kept_strides[d];
                            rest /= l.kept_dims[d];
                          }
                          Acc acc = R::init();
                          for (int64_t off : offs) acc = R::step(acc, x[base + off]);
                          out[idx] = R::finish(acc, count);
                        }
                      });
  }
}

template <Kind K>
Tensor reduce(const Node& node, const Tensor& x, const std::vector<int64_t>& axes, bool keepdims,
              ThreadPool& pool) {
  if (x.dtype() == DType::kFloat16) {
    Tensor y = reduce<K>(node, convert_tensor(x, DType::kFloat32, &pool), axes, keepdims, pool);
    return convert_tensor(y, DType::kFloat16, &pool);
  }
  ReduceLayout l = make_layout(x.shape(), axes, keepdims);
  Tensor out(x.dtype(), l.out_shape);
  visit_dtype(NumericTypes{}, x.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    reduce_typed<K, T>(l, x.data<T>(), out.data<T>(), pool);
  });
  return out;
}

template <Kind K>
void add_reduce(OpRegistry& r, const char* name) {
  r.add(name, [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 2);
    const bool keepdims = node.attr_int("keepdims", 1) != 0;
    const bool noop = node.attr_int("noop_with_empty_axes", 0) != 0;
    const auto attr_axes = node.attr_ints_opt("axes");
    SQ_CHECK(!(attr_axes && node.num_inputs() == 2), node.describe(),
             ": axes given both as attribute and as input");
    return make_kernel([keepdims, noop, attr_axes](OpContext& ctx) {
      const Node& n = ctx.node();
      const Tensor& x = ctx.in(0);
      std::vector<int64_t> axes;
      if (const Tensor* t = ctx.input(1)) {
        SQ_CHECK(t->dtype() == DType::kInt64 && t->rank() <= 1, n.describe(),
                 ": axes must be a 1-D int64 tensor, got ", dtype_name(t->dtype()), " ",
                 shape_str(t->shape()));
        axes = t->to_int64_vector();
      } else if (attr_axes) {
        axes = *attr_axes;
      }
      if (axes.empty() && !noop) {
        for (int64_t d = 0; d < x.rank(); ++d) axes.push_back(d);
      }
      axes = normalize_axes(n, axes, x.rank());
      ctx.set_output(0, reduce<K>(n, x, axes, keepdims, ctx.pool()));
    });
  });
}

// ---- ArgMax / ArgMin. ----

template <bool kMax, typename T>
void arg_reduce_typed(const T* x, int64_t* out, int64_t outer, int64_t len, int64_t inner,
                      bool last, ThreadPool& pool) {
  // NaN wins (numpy and PyTorch return the first NaN); ties go first, or last when asked.
  auto better = [last](T v, T best) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(best)) return last && std::isnan(v);
      if (std::isnan(v)) return true;
    }
    if (last) return kMax ? v >= best : v <= best;
    return kMax ? v > best : v < best;
  };
  parallel_outer_inner(pool, outer, inner, len, [&](int64_t o, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* p = x + o * len * inner + i;
      T best = p[0];
      int64_t arg = 0;
      for (int64_t j = 1; j < len; ++j) {
        if (better(p[j * inner], best)) {
          best = p[j * inner];
          arg = j;
        }
      }
      out[o * inner + i] = arg;
    }
  });
}

template <bool kMax>
void add_arg_reduce(OpRegistry& r, const char* name) {
  r.add(name, [](const Node& node, int64_t) {
    check_num_inputs(node, 1, 1);
    const int64_t axis_attr = node.attr_int("axis", 0);
    const bool keepdims = node.attr_int("keepdims", 1) != 0;
    const bool last = node.attr_int("select_last_index", 0) != 0;
    return make_kernel([axis_attr, keepdims, last](OpContext& ctx) {
      const Node& n = ctx.node();
      Tensor x = convert_tensor(
          ctx.in(0), ctx.in(0).dtype() == DType::kFloat16 ? DType::kFloat32 : ctx.in(0).dtype(),
          &ctx.pool());
      const int64_t axis = normalize_axis(n, axis_attr, x.rank());
      const int64_t len = x.dim(static_cast<int>(axis));
      SQ_CHECK(len > 0, n.describe(), ": cannot take ", kMax ? "ArgMax" : "ArgMin",
               " over an empty axis (input shape ", shape_str(x.shape()), ")");
      int64_t outer = 1, inner = 1;
      Shape out_shape;
      for (int64_t d = 0; d < x.rank(); ++d) {
        if (d < axis) outer *= x.dim(static_cast<int>(d));
        if (d > axis) inner *= x.dim(static_cast<int>(d));
        if (d != axis)
          out_shape.push_back(x.dim(static_cast<int>(d)));
        else if (keepdims)
          out_shape.push_back(1);
      }
      Tensor out(DType::kInt64, out_shape);
      visit_dtype(NumericTypes{}, x.dtype(), n.describe(), [&](auto tag) {
        using T = decltype(tag);
        arg_reduce_typed<kMax, T>(x.data<T>(), out.data<int64_t>(), outer, len, inner, last,
                                  ctx.pool());
      });
      ctx.set_output(0, std::move(out));
    });
  });
}

// ---- CumSum. ----

template <typename T>
void cumsum_typed(const T* x, T* out, int64_t outer, int64_t len, int64_t inner, bool exclusive,
                  bool reverse, ThreadPool& pool) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  parallel_outer_inner(pool, outer, inner, len, [&](int64_t o, int64_t i0, int64_t i1) {
    std::array<Acc, kInnerBlock> acc{};
    const int64_t n = i1 - i0;
    for (int64_t step = 0; step < len; ++step) {
      const int64_t j = reverse ? len - 1 - step : step;
      const int64_t base = (o * len + j) * inner + i0;
      for (int64_t i = 0; i < n; ++i) {
        const Acc v = static_cast<Acc>(x[base + i]);
        if (!exclusive) acc[i] += v;
        out[base + i] = static_cast<T>(acc[i]);
        if (exclusive) acc[i] += v;
      }
    }
  });
}

void add_cumsum(OpRegistry& r) {
  r.add("CumSum", [](const Node& node, int64_t) {
    check_num_inputs(node, 2, 2);
    const bool exclusive = node.attr_int("exclusive", 0) != 0;
    const bool reverse = node.attr_int("reverse", 0) != 0;
    return make_kernel([exclusive, reverse](OpContext& ctx) {
      const Node& n = ctx.node();
      const Tensor& x0 = ctx.in(0);
      const bool half = x0.dtype() == DType::kFloat16;
      Tensor x = half ? convert_tensor(x0, DType::kFloat32, &ctx.pool()) : x0;
      const int64_t axis = normalize_axis(n, read_int_scalar(n, ctx.in(1), "axis"), x.rank());
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < x.rank(); ++d) {
        if (d < axis) outer *= x.dim(static_cast<int>(d));
        if (d > axis) inner *= x.dim(static_cast<int>(d));
      }
      Tensor out(x.dtype(), x.shape());
      visit_dtype(NumericTypes{}, x.dtype(), n.describe(), [&](auto tag) {
        using T = decltype(tag);
        cumsum_typed<T>(x.data<T>(), out.data<T>(), outer, x.dim(static_cast<int>(axis)), inner,
                        exclusive, reverse, ctx.pool());
      });
      ctx.set_output(0, half ? convert_tensor(out, DType::kFloat16, &ctx.pool()) : out);
    });
  });
}

}  // namespace

void register_reduction_ops(OpRegistry& r) {
  add_reduce<Kind::kSum>(r, "ReduceSum");
  add_reduce<Kind::kMean>(r, "ReduceMean");
  add_reduce<Kind::kMax>(r, "ReduceMax");
  add_reduce<Kind::kMin>(r, "ReduceMin");
  add_reduce<Kind::kProd>(r, "ReduceProd");
  add_reduce<Kind::kL1>(r, "ReduceL1");
  add_reduce<Kind::kL2>(r, "ReduceL2");
  add_reduce<Kind::kSumSquare>(r, "ReduceSumSquare");
  add_reduce<Kind::kLogSum>(r, "ReduceLogSum");
  add_arg_reduce<true>(r, "ArgMax");
  add_arg_reduce<false>(r, "ArgMin");
  add_cumsum(r);
}

}  // namespace sq
