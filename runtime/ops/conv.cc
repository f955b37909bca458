// Conv for 1-D and 2-D NCHW inputs: 1x1 convolutions are one GEMM over the input as it is,
// everything else goes through im2col + GEMM (matmul_gemm.h), per image and group.
#include <algorithm>
#include <cstring>

#include "runtime/ops/matmul_gemm.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

constexpr int64_t kMinBytesPerTask = int64_t{1} << 16;

struct ConvAttrs {
  std::string auto_pad;
  std::optional<std::vector<int64_t>> kernel_shape, strides, dilations, pads;
  int64_t group = 1;
};

// One spatial axis of the convolution, resolved for a given input size.
struct ConvAxis {
  int64_t in = 1, kernel = 1, stride = 1, dilation = 1, pad_begin = 0, pad_end = 0, out = 1;
};

ConvAxis resolve_axis(const Node& node, const ConvAttrs& at, size_t i, size_t spatial, int64_t in,
                      int64_t kernel) {
  ConvAxis a;
  a.in = in;
  a.kernel = kernel;
  if (at.strides) a.stride = (*at.strides)[i];
  if (at.dilations) a.dilation = (*at.dilations)[i];
  const int64_t extent = (kernel - 1) * a.dilation + 1;
  if (at.auto_pad == "SAME_UPPER" || at.auto_pad == "SAME_LOWER") {
    a.out = (in + a.stride - 1) / a.stride;
    const int64_t total = std::max<int64_t>(0, (a.out - 1) * a.stride + extent - in);
    const int64_t small = total / 2, large = total - small;
    a.pad_begin = at.auto_pad == "SAME_UPPER" ? small : large;
    a.pad_end = total - a.pad_begin;
    return a;
  }
  if (at.auto_pad == "NOTSET" && at.pads) {
    a.pad_begin = (*at.pads)[i];
    a.pad_end = (*at.pads)[i + spatial];
  }
  const int64_t span = in + a.pad_begin + a.pad_end - extent;
  SQ_CHECK(span >= 0, node.describe(), ": spatial axis ", i, " of size ", in, " (padded ",
           in + a.pad_begin + a.pad_end, ") is smaller than the dilated kernel ", extent);
  a.out = span / a.stride + 1;
  return a;
}

// Input patches of one image and group as a [channels * kh * kw, oh * ow] matrix.
void im2col(const float* x, int64_t channels, const ConvAxis& h, const ConvAxis& w, float* col,
            ThreadPool& pool) {
  const int64_t rows = channels * h.kernel * w.kernel, cols = h.out * w.out;
  auto fill = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / (h.kernel * w.kernel), ki = r / w.kernel % h.kernel, kj = r % w.kernel;
      const float* plane = x + c * h.in * w.in;
      float* dst = col + r * cols;
      for (int64_t oy = 0; oy < h.out; ++oy, dst += w.out) {
        const int64_t iy = oy * h.stride - h.pad_begin + ki * h.dilation;
        if (iy < 0 || iy >= h.in) {
          std::fill(dst, dst + w.out, 0.0f);
          continue;
        }
        const float* src = plane + iy * w.in;
        for (int64_t ox = 0; ox < w.out; ++ox) {
          const int64_t ix = ox * w.stride - w.pad_begin + kj * w.dilation;
          dst[ox] = (ix >= 0 && ix < w.in) ? src[ix] : 0.0f;
        }
      }
    }
  };
  const int64_t grain = std::max<int64_t>(1, kMinBytesPerTask / (cols * 4));
  if (rows > grain) {
    pool.parallel_for(rows, grain, fill);
  } else {
    fill(0, rows);
  }
}

std::unique_ptr<OpKernel> make_conv(const Node& node, int64_t) {
  check_num_inputs(node, 2, 3);
  ConvAttrs at;
  at.auto_pad = node.attr_string("auto_pad", "NOTSET");
  at.kernel_shape = node.attr_ints_opt("kernel_shape");
  at.strides = node.attr_ints_opt("strides");
  at.dilations = node.attr_ints_opt("dilations");
  at.pads = node.attr_ints_opt("pads");
  at.group = node.attr_int("group", 1);
  SQ_CHECK(at.auto_pad == "NOTSET" || at.auto_pad == "SAME_UPPER" || at.auto_pad == "SAME_LOWER" ||
               at.auto_pad == "VALID",
           node.describe(), ": unsupported auto_pad '", at.auto_pad, "'");
  SQ_CHECK(at.group >= 1, node.describe(), ": group must be >= 1, got ", at.group);
  for (const auto* list : {&at.strides, &at.dilations}) {
    if (!*list) continue;
    for (int64_t v : **list) {
      SQ_CHECK(v >= 1, node.describe(), ": strides and dilations must be >= 1, got ",
               shape_str(**list));
    }
  }
  if (at.pads) {
    SQ_CHECK(at.pads->size() % 2 == 0, node.describe(), ": pads ", shape_str(*at.pads),
             " must have an even length");
    for (int64_t v : *at.pads) {
      SQ_CHECK(v >= 0, node.describe(), ": pads ", shape_str(*at.pads), " must be >= 0");
    }
  }
  return make_kernel([at](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor& wt = ctx.in(1);
    const Tensor* bias = ctx.input(2);
    SQ_CHECK(x.dtype() == DType::kFloat32 && wt.dtype() == DType::kFloat32 &&
                 (!bias || bias->dtype() == DType::kFloat32),
             node.describe(), ": only float32 is supported");
    SQ_CHECK((x.rank() == 3 || x.rank() == 4) && wt.rank() == x.rank(), node.describe(), ": input ",
             shape_str(x.shape()), " and weight ", shape_str(wt.shape()),
             " must both be 3-D (1-D conv) or 4-D (2-D conv)");
    const auto spatial = static_cast<size_t>(x.rank() - 2);
    for (const auto* list : {&at.kernel_shape, &at.strides, &at.dilations}) {
      SQ_CHECK(!*list || (*list)->size() == spatial, node.describe(), ": attribute ",
               shape_str(**list), " must have ", spatial, " entries");
    }
    SQ_CHECK(!at.pads || at.pads->size() == 2 * spatial, node.describe(), ": pads ",
             shape_str(at.pads.value_or(Shape{})), " must have ", 2 * spatial, " entries");
    const int64_t batch = x.dim(0), channels = x.dim(1), m = wt.dim(0), cg = wt.dim(1);
    const int64_t group = at.group;
    SQ_CHECK(channels == cg * group && m % group == 0, node.describe(), ": input ",
             shape_str(x.shape()), " and weight ", shape_str(wt.shape()),
             " do not match group=", group);
    for (size_t i = 0; i < spatial && at.kernel_shape; ++i) {
      SQ_CHECK((*at.kernel_shape)[i] == wt.dim(static_cast<int>(i) + 2), node.describe(),
               ": kernel_shape ", shape_str(*at.kernel_shape), " does not match weight ",
               shape_str(wt.shape()));
    }
    SQ_CHECK(!bias || (bias->rank() == 1 && bias->dim(0) == m), node.describe(), ": bias ",
             shape_str(bias ? bias->shape() : Shape{}), " must be [", m, "]");
    // A 1-D convolution is a 2-D one over a height-1 image.
    ConvAxis h, w;
    if (spatial == 2) {
      h = resolve_axis(node, at, 0, 2, x.dim(2), wt.dim(2));
      w = resolve_axis(node, at, 1, 2, x.dim(3), wt.dim(3));
    } else {
      w = resolve_axis(node, at, 0, 1, x.dim(2), wt.dim(2));
    }
    Shape out_shape = {batch, m};
    if (spatial == 2) out_shape.push_back(h.out);
    out_shape.push_back(w.out);
    Tensor y(DType::kFloat32, out_shape);
    if (y.numel() == 0) {
      ctx.set_output(0, std::move(y));
      return;
    }
    const int64_t mg = m / group, kk = cg * h.kernel * w.kernel, plane = h.out * w.out;
    const bool pointwise = h.kernel == 1 && w.kernel == 1 && h.stride == 1 && w.stride == 1 &&
                           h.pad_begin + h.pad_end + w.pad_begin + w.pad_end == 0;
    std::vector<float> col(pointwise ? 0 : static_cast<size_t>(kk * plane));
    const float* xd = x.data<float>();
    float* yd = y.data<float>();
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t g = 0; g < group; ++g) {
        const float* xg = xd + (n * channels + g * cg) * h.in * w.in;
        float* yg = yd + (n * m + g * mg) * plane;
        GemmProblem<float> p;
        p.m = mg;
        p.n = plane;
        p.k = kk;
        p.a = wt.data<float>() + g * mg * kk;
        p.lda = kk;
        p.b = xg;
        p.ldb = plane;
        if (!pointwise) {
          im2col(xg, cg, h, w, col.data(), ctx.pool());
          p.b = col.data();
        }
        p.c = yg;
        p.ldc = plane;
        if (bias) {
          for (int64_t o = 0; o < mg; ++o) {
            std::fill(yg + o * plane, yg + (o + 1) * plane, bias->data<float>()[g * mg + o]);
          }
          p.beta = 1.0f;
        }
        gemm(p, &ctx.pool());
      }
    }
    ctx.set_output(0, std::move(y));
  });
}

}  // namespace

void register_conv_ops(OpRegistry& r) { r.add("Conv", make_conv); }

}  // namespace sq
