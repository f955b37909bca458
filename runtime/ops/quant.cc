// QuantizeLinear and DequantizeLinear (opset 13 semantics: per tensor or per axis), on the
// shared arithmetic of runtime/kernels/quant_math.h.
#include <algorithm>
#include <type_traits>

#include "runtime/kernels/quant_math.h"
#include "runtime/kernels/quantize_u8.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

constexpr int64_t kMinElementsPerTask = int64_t{1} << 15;

// Scale and zero point per channel of `axis` (one channel when per tensor), with the layout
// [outer, channels, inner] of the data around that axis.
struct QuantParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  int64_t outer = 1, channels = 1, inner = 1;
};

QuantParams resolve_params(const Node& node, const Shape& x, const Tensor& scale, const Tensor* zp,
                           int64_t axis) {
  SQ_CHECK(scale.dtype() == DType::kFloat32, node.describe(), ": scale must be float32, got ",
           dtype_name(scale.dtype()));
  QuantParams p;
  p.inner = shape_numel(x);
  const bool per_tensor = scale.rank() == 0 || (scale.rank() == 1 && scale.numel() == 1);
  if (!per_tensor) {
    SQ_CHECK(scale.rank() == 1, node.describe(), ": scale must be a scalar or 1-D, got ",
             shape_str(scale.shape()));
    const int a = normalize_axis(node, axis, static_cast<int64_t>(x.size()));
    const auto ua = static_cast<size_t>(a);
    SQ_CHECK(scale.numel() == x[ua], node.describe(), ": scale ", shape_str(scale.shape()),
             " must have one value per index of axis ", a, " of input ", shape_str(x));
    p.outer = dims_product(x, 0, ua);
    p.channels = x[ua];
    p.inner = dims_product(x, ua + 1, x.size());
  }
  const float* s = scale.data<float>();
  p.scale.assign(s, s + scale.numel());
  if (zp) {
    SQ_CHECK(zp->shape() == scale.shape() || (zp->numel() == 1 && per_tensor), node.describe(),
             ": zero point ", shape_str(zp->shape()), " must have the shape of scale ",
             shape_str(scale.shape()));
    for (int64_t i = 0; i < zp->numel(); ++i) {
      p.zero_point.push_back(static_cast<int32_t>(zp->get_as_int64(i)));
    }
  } else {
    p.zero_point.assign(p.scale.size(), 0);
  }
  return p;
}

// fn(channel, begin, end) over contiguous runs of elements that share one channel's parameters.
void for_each_run(ThreadPool& pool, const QuantParams& p,
                  const std::function<void(int64_t, int64_t, int64_t)>& fn) {
  if (p.channels == 1) {  // per tensor: any split of the elements will do
    const int64_t n = p.outer * p.inner;
    if (n > kMinElementsPerTask) {
      pool.parallel_for(n, kMinElementsPerTask, [&](int64_t b, int64_t e) { fn(0, b, e); });
    } else {
      fn(0, 0, n);
    }
    return;
  }
  const int64_t rows = p.outer * p.channels;
  const int64_t grain = std::max<int64_t>(1, kMinElementsPerTask / std::max<int64_t>(1, p.inner));
  auto body = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) fn(r % p.channels, r * p.inner, (r + 1) * p.inner);
  };
  if (rows > grain) {
    pool.parallel_for(rows, grain, body);
  } else {
    body(0, rows);
  }
}

template <typename Q, typename X>
void quantize_all(const X* x, const QuantParams& p, Q* y, ThreadPool& pool) {
  constexpr QRange r = qrange_of<Q>();
  for_each_run(pool, p, [&](int64_t c, int64_t b, int64_t e) {
    const float s = p.scale[static_cast<size_t>(c)];
    const int32_t z = p.zero_point[static_cast<size_t>(c)];
    if constexpr (std::is_same_v<Q, uint8_t> && std::is_same_v<X, float>) {
      kernels::quantize_f32_u8(x + b, e - b, s, z, y + b);  // vectorized, same arithmetic
    } else {
      for (int64_t i = b; i < e; ++i) {
        y[i] = static_cast<Q>(quantize_value(static_cast<float>(x[i]), s, z, r.qmin, r.qmax));
      }
    }
  });
}

template <typename Q>
void dequantize_all(const Q* x, const QuantParams& p, float* y, ThreadPool& pool) {
  for_each_run(pool, p, [&](int64_t c, int64_t b, int64_t e) {
    const float s = p.scale[static_cast<size_t>(c)];
    const int32_t z = p.zero_point[static_cast<size_t>(c)];
    for (int64_t i = b; i < e; ++i) y[i] = dequantize_value(x[i], s, z);
  });
}

void check_no_blocks(const Node& node) {
  SQ_CHECK(node.attr_int("block_size", 0) == 0, node.describe(),
           ": blocked quantization (block_size) is not supported");
}

std::unique_ptr<OpKernel> make_quantize_linear(const Node& node, int64_t) {
  check_num_inputs(node, 2, 3);
  check_no_blocks(node);
  const int64_t axis = node.attr_int("axis", 1);
  return make_kernel([axis](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor* zp = ctx.input(2);
    const DType out_type = zp ? zp->dtype() : DType::kUInt8;
    SQ_CHECK(out_type == DType::kUInt8 || out_type == DType::kInt8, node.describe(),
             ": zero point must be uint8 or int8, got ", dtype_name(out_type));
    SQ_CHECK(x.dtype() == DType::kFloat32 || x.dtype() == DType::kInt32, node.describe(),
             ": input must be float32 or int32, got ", dtype_name(x.dtype()));
    const QuantParams p = resolve_params(node, x.shape(), ctx.in(1), zp, axis);
    Tensor y(out_type, x.shape());
    auto run = [&](auto* out) {
      if (x.dtype() == DType::kFloat32) {
        quantize_all(x.data<float>(), p, out, ctx.pool());
      } else {
        quantize_all(x.data<int32_t>(), p, out, ctx.pool());
      }
    };
    if (out_type == DType::kUInt8) {
      run(y.data<uint8_t>());
    } else {
      run(y.data<int8_t>());
    }
    ctx.set_output(0, std::move(y));
  });
}

std::unique_ptr<OpKernel> make_dequantize_linear(const Node& node, int64_t) {
  check_num_inputs(node, 2, 3);
  check_no_blocks(node);
  const int64_t axis = node.attr_int("axis", 1);
  return make_kernel([axis](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor* zp = ctx.input(2);
    SQ_CHECK(!zp || zp->dtype() == x.dtype(), node.describe(), ": zero point is ",
             dtype_name(zp ? zp->dtype() : x.dtype()), " but the input is ", dtype_name(x.dtype()));
    const QuantParams p = resolve_params(node, x.shape(), ctx.in(1), zp, axis);
    Tensor y(DType::kFloat32, x.shape());
    float* out = y.data<float>();
    switch (x.dtype()) {
      case DType::kUInt8:
        dequantize_all(x.data<uint8_t>(), p, out, ctx.pool());
        break;
      case DType::kInt8:
        dequantize_all(x.data<int8_t>(), p, out, ctx.pool());
        break;
      case DType::kInt32:
        dequantize_all(x.data<int32_t>(), p, out, ctx.pool());
        break;
      default:
        throw make_error(node.describe(), ": input must be uint8, int8 or int32, got ",
                         dtype_name(x.dtype()));
    }
    ctx.set_output(0, std::move(y));
  });
}

}  // namespace

void register_quant_ops(OpRegistry& r) {
  r.add("QuantizeLinear", make_quantize_linear);
  r.add("DequantizeLinear", make_dequantize_linear);
}

}  // namespace sq
