// Shape ops: Reshape, Transpose, Unsqueeze, Squeeze, Flatten, Shape, Size, Identity.
// Everything except a real Transpose is a zero-copy view of the input buffer.
#include <algorithm>
#include <numeric>

#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_strided_copy.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {

// ONNX Reshape: 0 copies the input dimension (unless allowzero), -1 is inferred.
Shape reshape_target(const Node& node, const Shape& in, const std::vector<int64_t>& spec,
                     bool allowzero) {
  Shape out(spec.size());
  int infer = -1;
  bool has_zero = false;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    SQ_CHECK(d >= -1, node.describe(), ": shape ", shape_str(spec), " has invalid dimension ", d);
    if (d == -1) {
      SQ_CHECK(infer < 0, node.describe(), ": shape ", shape_str(spec), " has more than one -1");
      infer = static_cast<int>(i);
      continue;
    }
    if (d == 0) {
      has_zero = true;
      if (!allowzero) {
        SQ_CHECK(i < in.size(), node.describe(), ": shape ", shape_str(spec), " copies dimension ",
                 i, " (0) but the input ", shape_str(in), " has rank ", in.size());
        d = in[i];
      }
    }
    out[i] = d;
    SQ_CHECK(!__builtin_mul_overflow(known, d, &known), node.describe(), ": shape ",
             shape_str(spec), " overflows int64");
  }
  SQ_CHECK(!(allowzero && has_zero && infer >= 0), node.describe(), ": shape ", shape_str(spec),
           " has both 0 and -1 with allowzero=1");
  const int64_t numel = shape_numel(in);
  if (infer >= 0) {
    SQ_CHECK(known != 0 && numel % known == 0, node.describe(), ": cannot reshape input ",
             shape_str(in), " (", numel, " elements) to ", shape_str(spec));
    out[static_cast<size_t>(infer)] = numel / known;
  }
  SQ_CHECK(shape_numel(out) == numel, node.describe(), ": cannot reshape input ", shape_str(in),
           " (", numel, " elements) to ", shape_str(out), " (", shape_numel(out), " elements)");
  return out;
}

namespace {

std::unique_ptr<OpKernel> make_reshape(const Node& node, int64_t) {
  check_num_inputs(node, 2, 2);
  const bool allowzero = node.attr_int("allowzero", 0) != 0;
  return make_kernel([allowzero](OpContext& ctx) {
    const Tensor& data = ctx.in(0);
    auto spec = read_int_list(ctx.node(), ctx.in(1), "shape");
    ctx.set_output(0, data.reshaped(reshape_target(ctx.node(), data.shape(), spec, allowzero)));
  });
}

std::unique_ptr<OpKernel> make_transpose(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  auto perm = node.attr_ints_opt("perm");
  if (perm) {
    std::vector<int64_t> sorted = *perm;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      SQ_CHECK(sorted[i] == static_cast<int64_t>(i), node.describe(), ": perm ", shape_str(*perm),
               " is not a permutation of 0..", perm->size() - 1);
    }
  }
  return make_kernel([perm](OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t r = x.shape().size();
    std::vector<int64_t> p(r);
    if (perm) {
      SQ_CHECK(perm->size() == r, ctx.node().describe(), ": perm ", shape_str(*perm),
               " does not match input rank ", r);
      p = *perm;
    } else {
      for (size_t i = 0; i < r; ++i) p[i] = static_cast<int64_t>(r - 1 - i);
    }
    Shape out_shape(r);
    std::vector<int64_t> strides(r);
    const auto in_strides = contiguous_strides(x.shape());
    int64_t last_moved = -1;
    bool order_kept = true;  // the non-unit axes keep their order: a pure view
    for (size_t k = 0; k < r; ++k) {
      const auto a = static_cast<size_t>(p[k]);
      out_shape[k] = x.dim(static_cast<int>(a));
      strides[k] = in_strides[a];
      if (out_shape[k] != 1) {
        order_kept = order_kept && p[k] > last_moved;
        last_moved = p[k];
      }
    }
    if (order_kept) {
      ctx.set_output(0, x.reshaped(out_shape));
      return;
    }
    Tensor y(x.dtype(), out_shape);
    strided_copy(x.raw(), 0, out_shape, strides, dtype_size(x.dtype()), y.raw(), &ctx.pool());
    ctx.set_output(0, std::move(y));
  });
}

// Axes of (Un)Squeeze: the optional second input (opset 13+) or the attribute (older opsets).
std::optional<std::vector<int64_t>> squeeze_axes(const OpContext& ctx) {
  if (const Tensor* t = ctx.input(1)) return read_int_list(ctx.node(), *t, "axes");
  return ctx.node().attr_ints_opt("axes");
}

std::unique_ptr<OpKernel> make_unsqueeze(const Node& node, int64_t) {
  check_num_inputs(node, 1, 2);
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    auto axes = squeeze_axes(ctx);
    SQ_CHECK(axes.has_value(), node.describe(), ": missing 'axes' (input 1 or attribute)");
    const int64_t out_rank = x.rank() + static_cast<int64_t>(axes->size());
    std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
    for (int64_t a : *axes) {
      int k = normalize_axis(node, a, out_rank, "unsqueeze axis");
      SQ_CHECK(!inserted[static_cast<size_t>(k)], node.describe(), ": axes ", shape_str(*axes),
               " repeat axis ", k);
      inserted[static_cast<size_t>(k)] = true;
    }
    Shape out;
    size_t next = 0;
    for (int64_t k = 0; k < out_rank; ++k) {
      out.push_back(inserted[static_cast<size_t>(k)] ? 1 : x.shape()[next++]);
    }
    ctx.set_output(0, x.reshaped(out));
  });
}

std::unique_ptr<OpKernel> make_squeeze(const Node& node, int64_t) {
  check_num_inputs(node, 1, 2);
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    auto axes = squeeze_axes(ctx);
    std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
    if (axes) {
      for (int64_t a : *axes) {
        int k = normalize_axis(node, a, x.rank(), "squeeze axis");
        SQ_CHECK(x.dim(k) == 1, node.describe(), ": cannot squeeze axis ", a, " of input ",
                 shape_str(x.shape()), " (size ", x.dim(k), ", expected 1)");
        drop[static_cast<size_t>(k)] = true;
      }
    } else {
      for (int k = 0; k < x.rank(); ++k) drop[static_cast<size_t>(k)] = x.dim(k) == 1;
    }
    Shape out;
    for (int k = 0; k < x.rank(); ++k) {
      if (!drop[static_cast<size_t>(k)]) out.push_back(x.dim(k));
    }
    ctx.set_output(0, x.reshaped(out));
  });
}

std::unique_ptr<OpKernel> make_flatten(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  const int64_t axis = node.attr_int("axis", 1);
  return make_kernel([axis](OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const int64_t r = x.rank();
    SQ_CHECK(axis >= -r && axis <= r, ctx.node().describe(), ": axis ", axis,
             " is out of range for rank ", r, " (expected [", -r, ", ", r, "])");
    const auto a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    ctx.set_output(0, x.reshaped({dims_product(x.shape(), 0, a),
                                  dims_product(x.shape(), a, x.shape().size())}));
  });
}

std::unique_ptr<OpKernel> make_shape(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  const int64_t start = node.attr_int("start", 0);
  const bool has_end = node.has_attr("end");
  const int64_t end = node.attr_int("end", 0);
  return make_kernel([start, has_end, end](OpContext& ctx) {
    const Tensor& x = ctx.in(0);
    const int64_t r = x.rank();
    auto clamp_axis = [r](int64_t a) { return std::clamp<int64_t>(a < 0 ? a + r : a, 0, r); };
    const int64_t b = clamp_axis(start), e = has_end ? clamp_axis(end) : r;
    std::vector<int64_t> dims;
    for (int64_t k = b; k < e; ++k) dims.push_back(x.dim(static_cast<int>(k)));
    ctx.set_output(0, Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims));
  });
}

std::unique_ptr<OpKernel> make_size(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  return make_kernel(
      [](OpContext& ctx) { ctx.set_output(0, Tensor::scalar_i64(ctx.in(0).numel())); });
}

std::unique_ptr<OpKernel> make_identity(const Node& node, int64_t) {
  check_num_inputs(node, 1, 1);
  return make_kernel([](OpContext& ctx) { ctx.set_output(0, ctx.in(0)); });
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.add("Reshape", make_reshape);
  r.add("Transpose", make_transpose);
  r.add("Unsqueeze", make_unsqueeze);
  r.add("Squeeze", make_squeeze);
  r.add("Flatten", make_flatten);
  r.add("Shape", make_shape);
  r.add("Size", make_size);
  r.add("Identity", make_identity);
}

}  // namespace sq
