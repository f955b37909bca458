// Softmax and LogSoftmax. Opset >= 13: normalize along one axis (default -1); opset < 13: the
// input is coerced to 2-D at `axis` (default 1) and each row of the flattened trailing dims is
// normalized.
//
// Each row subtracts its maximum before exp. Attention masks use float-min constants: a row
// holding only float-min values is uniform (exp(0) everywhere), and a row whose maximum is -inf
// (two masks added) is defined as uniform too, never NaN. Rows run in parallel; the max, exp and
// sum passes use the vectorized helpers of vec_math.h. Sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/op.h"
#include "runtime/ops/op_util.h"
#include "runtime/ops/vec_math.h"

namespace sq {
namespace {

// Softmax (or LogSoftmax) of one contiguous row x[0..n) into y (y may not alias x).
template <typename T>
void softmax_row(const T* x, T* y, int64_t n, bool log) {
  const T m = array_max(x, n);
  if (m == -std::numeric_limits<T>::infinity()) {  // fully masked (or all -inf): uniform
    const T v = log ? static_cast<T>(-std::log(static_cast<double>(n)))
                    : static_cast<T>(1.0 / static_cast<double>(n));
    for (int64_t j = 0; j < n; ++j) y[j] = v;
    return;
  }
  array_exp(x, y, n, m);
  const double sum = sum_lanes(y, n);
  if (log) {
    // (x - max) - log(sum), not x - (max + log(sum)): with max = float-min the sum would vanish.
    const T log_sum = static_cast<T>(std::log(sum));
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m) - log_sum;
  } else {
    const T inv = static_cast<T>(1.0 / sum);
    for (int64_t j = 0; j < n; ++j) y[j] *= inv;
  }
}

// Softmax over the middle axis of an [outer, len, inner] view.
template <typename T>
void softmax_typed(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool log,
                   ThreadPool& pool) {
  if (len == 0) return;
  if (inner == 1) {
    pool.parallel_for(outer, std::max<int64_t>(1, kElementwiseGrain / len),
                      [&](int64_t b, int64_t e) {
                        for (int64_t r = b; r < e; ++r)
                          softmax_row(x + r * len, y + r * len, len, log);
                      });
    return;
  }
  // Strided rows: gather each into a contiguous buffer, normalize, scatter back.
  parallel_outer_inner(pool, outer, inner, len, [&](int64_t o, int64_t i0, int64_t i1) {
    std::vector<T> in(static_cast<size_t>(len)), out(static_cast<size_t>(len));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t base = o * len * inner + i;
      for (int64_t j = 0; j < len; ++j) in[j] = x[base + j * inner];
      softmax_row(in.data(), out.data(), len, log);
      for (int64_t j = 0; j < len; ++j) y[base + j * inner] = out[j];
    }
  });
}

Tensor softmax(const Node& node, const Tensor& x, int64_t axis_attr, bool coerce_2d, bool log,
               ThreadPool& pool) {
  if (x.dtype() == DType::kFloat16) {
    Tensor y =
        softmax(node, convert_tensor(x, DType::kFloat32, &pool), axis_attr, coerce_2d, log, pool);
    return convert_tensor(y, DType::kFloat16, &pool);
  }
  // A 0-D input is treated as one row of one element.
  const int64_t rank = std::max<int64_t>(1, x.rank());
  const int64_t axis = normalize_axis(node, axis_attr, rank);
  const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t s = shape[static_cast<size_t>(d)];
    if (d < axis)
      outer *= s;
    else if (d == axis || coerce_2d)
      len *= s;
    else
      inner *= s;
  }
  Tensor out(x.dtype(), x.shape());
  visit_dtype(FloatTypes{}, x.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    softmax_typed<T>(x.data<T>(), out.data<T>(), outer, len, inner, log, pool);
  });
  return out;
}

void add_softmax(OpRegistry& r, const char* name, bool log) {
  r.add(name, [log](const Node& node, int64_t opset) {
    check_num_inputs(node, 1, 1);
    const bool coerce_2d = opset > 0 && opset < 13;
    const int64_t axis = node.attr_int("axis", coerce_2d ? 1 : -1);
    return make_kernel([axis, coerce_2d, log](OpContext& ctx) {
      ctx.set_output(0, softmax(ctx.node(), ctx.in(0), axis, coerce_2d, log, ctx.pool()));
    });
  });
}

}  // namespace

void register_softmax_ops(OpRegistry& r) {
  add_softmax(r, "Softmax", false);
  add_softmax(r, "LogSoftmax", true);
}

}  // namespace sq
