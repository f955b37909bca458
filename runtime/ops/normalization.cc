// LayerNormalization (opset 17), InstanceNormalization and GroupNormalization (opset 18; a
// per-channel scale/bias as in opset 21 is accepted too). All three normalize contiguous rows
// of the input: statistics are two-pass in double (mean, then squared deviations), and
// y = (x - mean) * inv_std * scale + bias is evaluated in double before rounding to the element
// type, so results match PyTorch to float precision even when |mean| >> std.
#include <cmath>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/op.h"
#include "runtime/ops/op_util.h"
#include "runtime/ops/vec_math.h"

namespace sq {
namespace {

struct RowStats {
  double mean = 0, inv_std = 0;
};

template <typename T>
RowStats row_stats(const T* x, int64_t n, double epsilon) {
  RowStats s;
  if (n == 0) return s;
  s.mean = sum_lanes(x, n) / static_cast<double>(n);
  const double var = sum_sq_dev_lanes(x, n, s.mean) / static_cast<double>(n);
  s.inv_std = 1.0 / std::sqrt(var + epsilon);
  return s;
}

// y[j] = (x[j] - mean) * inv_std * scale[j] + bias[j]; bias may be null.
template <typename T>
void affine_per_element(const T* x, T* y, int64_t n, RowStats s, const T* scale, const T* bias) {
  for (int64_t j = 0; j < n; ++j) {
    const double v = (static_cast<double>(x[j]) - s.mean) * s.inv_std * scale[j];
    y[j] = static_cast<T>(bias ? v + static_cast<double>(bias[j]) : v);
  }
}

// y[j] = (x[j] - mean) * inv_std * scale + bias with one scale and bias for the whole range.
template <typename T>
void affine_constant(const T* x, T* y, int64_t n, RowStats s, double scale, double bias) {
  const double a = s.inv_std * scale, b = bias - s.mean * a;
  for (int64_t j = 0; j < n; ++j) y[j] = static_cast<T>(static_cast<double>(x[j]) * a + b);
}

// Runs fn(row) for rows of `len` elements on the pool.
template <typename Fn>
void parallel_rows(ThreadPool& pool, int64_t rows, int64_t len, Fn fn) {
  pool.parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, len)),
                    [&](int64_t b, int64_t e) {
                      for (int64_t r = b; r < e; ++r) fn(r);
                    });
}

// Float16 inputs are normalized in float32; these convert on the way in and out.
DType work_type(DType t) { return t == DType::kFloat16 ? DType::kFloat32 : t; }
Tensor to_work(const Tensor* t, ThreadPool& pool) {
  return t ? convert_tensor(*t, work_type(t->dtype()), &pool) : Tensor();
}

void check_same_type(const Node& node, const Tensor& x, const Tensor* t, const char* what) {
  if (!t) return;
  SQ_CHECK(t->dtype() == x.dtype(), node.describe(), ": ", what, " is ", dtype_name(t->dtype()),
           ", expected ", dtype_name(x.dtype()), " like the input");
}

// ---- LayerNormalization. ----

void layer_norm(OpContext& ctx, int64_t axis_attr, double epsilon, DType stash) {
  const Node& node = ctx.node();
  ThreadPool& pool = ctx.pool();
  const Tensor& x0 = ctx.in(0);
  check_same_type(node, x0, &ctx.in(1), "Scale");
  check_same_type(node, x0, ctx.input(2), "B");
  const int64_t axis = normalize_axis(node, axis_attr, x0.rank());
  const Shape norm_shape(x0.shape().begin() + axis, x0.shape().end());
  Shape stat_shape(x0.shape().begin(), x0.shape().begin() + axis);
  stat_shape.resize(x0.shape().size(), 1);
  const int64_t len = shape_numel(norm_shape), rows = shape_numel(stat_shape);
  Tensor x = to_work(&x0, pool);
  // Scale and B broadcast to the normalized shape; materialize them when they do not match it.
  auto prepare = [&](const Tensor* t, const char* what) {
    if (!t) return Tensor();
    Tensor w = to_work(t, pool);
    if (w.numel() == len && w.rank() <= static_cast<int>(norm_shape.size()) &&
        std::equal(w.shape().rbegin(), w.shape().rend(), norm_shape.rbegin())) {
      return w;
    }
    return broadcast_to(w, norm_shape, node.describe() + " " + what, pool);
  };
  Tensor scale = prepare(&ctx.in(1), "Scale"), bias = prepare(ctx.input(2), "B");
  Tensor y(x.dtype(), x.shape());
  Tensor mean(DType::kFloat64, stat_shape), inv_std(DType::kFloat64, stat_shape);
  double* mean_out = mean.data<double>();
  double* inv_out = inv_std.data<double>();
  visit_dtype(FloatTypes{}, x.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T* ps = scale.data<T>();
    const T* pb = bias.empty_handle() ? nullptr : bias.data<T>();
    parallel_rows(pool, rows, len, [&](int64_t r) {
      const RowStats s = row_stats(px + r * len, len, epsilon);
      affine_per_element(px + r * len, py + r * len, len, s, ps, pb);
      mean_out[r] = s.mean;
      inv_out[r] = s.inv_std;
    });
  });
  ctx.set_output(0, convert_tensor(y, x0.dtype(), &pool));
  if (ctx.num_outputs() > 1) ctx.set_output(1, convert_tensor(mean, stash, &pool));
  if (ctx.num_outputs() > 2) ctx.set_output(2, convert_tensor(inv_std, stash, &pool));
}

// ---- InstanceNormalization and GroupNormalization. ----

// Normalizes X [N, C, spatial...] over groups of `channels / groups` channels times the spatial
// size. scale/bias hold one value per group or per channel (`per_channel`).
void channel_groups_norm(OpContext& ctx, int64_t groups, bool per_channel, double epsilon) {
  const Node& node = ctx.node();
  ThreadPool& pool = ctx.pool();
  const Tensor& x0 = ctx.in(0);
  const Tensor x = to_work(&x0, pool), scale = to_work(&ctx.in(1), pool),
               bias = to_work(&ctx.in(2), pool);
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const int64_t spatial = x.numel() / std::max<int64_t>(1, batch * channels);
  const int64_t per_group = channels / groups;
  const int64_t len = per_group * spatial;
  Tensor y(x.dtype(), x.shape());
  visit_dtype(FloatTypes{}, x.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T* ps = scale.data<T>();
    const T* pb = bias.data<T>();
    parallel_rows(pool, batch * groups, len, [&](int64_t r) {
      const int64_t g = r % groups;
      const RowStats s = row_stats(px + r * len, len, epsilon);
      for (int64_t c = 0; c < per_group; ++c) {
        const int64_t p = per_channel ? g * per_group + c : g;
        const int64_t off = r * len + c * spatial;
        affine_constant(px + off, py + off, spatial, s, static_cast<double>(ps[p]),
                        static_cast<double>(pb[p]));
      }
    });
  });
  ctx.set_output(0, convert_tensor(y, x0.dtype(), &pool));
}

// Checks X is [N, C, ...] and scale/bias hold `count` values each (or `alt_count` when given).
void check_channel_params(const Node& node, const Tensor& x, const Tensor& scale,
                          const Tensor& bias, int64_t count, int64_t alt_count) {
  SQ_CHECK(x.rank() >= 2, node.describe(), ": input must have rank >= 2 ([N, C, ...]), got ",
           shape_str(x.shape()));
  check_same_type(node, x, &scale, "scale");
  check_same_type(node, x, &bias, "bias");
  for (const Tensor* t : {&scale, &bias}) {
    SQ_CHECK(t->rank() == 1 && (t->numel() == count || t->numel() == alt_count), node.describe(),
             ": ", t == &scale ? "scale" : "bias", " must have shape [", count, "], got ",
             shape_str(t->shape()));
  }
}

}  // namespace

void register_normalization_ops(OpRegistry& r) {
  r.add("LayerNormalization", [](const Node& node, int64_t) {
    check_num_inputs(node, 2, 3);
    const int64_t axis = node.attr_int("axis", -1);
    const double epsilon = node.attr_float("epsilon", 1e-5f);
    // Statistics are always computed in double; stash_type only sets the type of the optional
    // Mean and InvStdDev outputs.
    const DType stash = dtype_from_onnx(static_cast<int>(node.attr_int("stash_type", 1)),
                                        node.describe() + " attribute 'stash_type'");
    SQ_CHECK(dtype_is_float(stash), node.describe(), ": stash_type must be a float type, got ",
             dtype_name(stash));
    return make_kernel(
        [axis, epsilon, stash](OpContext& ctx) { layer_norm(ctx, axis, epsilon, stash); });
  });
  r.add("InstanceNormalization", [](const Node& node, int64_t) {
    check_num_inputs(node, 3, 3);
    const double epsilon = node.attr_float("epsilon", 1e-5f);
    return make_kernel([epsilon](OpContext& ctx) {
      const Tensor& x = ctx.in(0);
      SQ_CHECK(x.rank() >= 2, ctx.node().describe(), ": input must have rank >= 2, got ",
               shape_str(x.shape()));
      const int64_t channels = x.dim(1);
      check_channel_params(ctx.node(), x, ctx.in(1), ctx.in(2), channels, channels);
      channel_groups_norm(ctx, channels, true, epsilon);
    });
  });
  r.add("GroupNormalization", [](const Node& node, int64_t) {
    check_num_inputs(node, 3, 3);
    const double epsilon = node.attr_float("epsilon", 1e-5f);
    const int64_t groups = node.attr_int("num_groups");
    SQ_CHECK(groups > 0, node.describe(), ": num_groups must be positive, got ", groups);
    return make_kernel([epsilon, groups](OpContext& ctx) {
      const Node& n = ctx.node();
      const Tensor& x = ctx.in(0);
      SQ_CHECK(x.rank() >= 2, n.describe(), ": input must have rank >= 2, got ",
               shape_str(x.shape()));
      const int64_t channels = x.dim(1);
      SQ_CHECK(channels % groups == 0, n.describe(), ": ", channels,
               " channels are not divisible by num_groups ", groups);
      // Opset 18 defines one scale/bias per group; opset 21 per channel. Accept both.
      check_channel_params(n, x, ctx.in(1), ctx.in(2), groups, channels);
      const bool per_channel = ctx.in(1).numel() == channels && channels != groups;
      SQ_CHECK(ctx.in(2).numel() == ctx.in(1).numel(), n.describe(),
               ": scale and bias have different lengths (", ctx.in(1).numel(), " and ",
               ctx.in(2).numel(), ")");
      channel_groups_norm(ctx, groups, per_channel, epsilon);
    });
  });
}

}  // namespace sq
