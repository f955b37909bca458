// LayerNormChainF32 (domain com.softquant), made by engine/layer_norm_fusion.h from the nine-op
// LayerNorm spelling of older exporters:
//   inputs  x (float32 [..., C]), gamma (float32 [C] or [1]), beta (float32 [C] or [1])
//   attrs   epsilon (float)
//   output  float32, x's shape
// Per row of C values it computes exactly what the chain computes with the reference kernels, in
// the same order and precision, so the result is bit-identical:
//   mean = float(double sum of x / C)            (ReduceMean: double accumulation, in order)
//   d    = x - mean                              (Sub)
//   var  = float(double sum of (d * d) / C)      (Pow 2 is d * d, then ReduceMean)
//   s    = sqrt(var + epsilon)                   (Add, Sqrt)
//   y    = (d / s) * gamma + beta                (Div, Mul, Add: two roundings, never an fma)
// This file is compiled with -ffp-contract=off (runtime/CMakeLists.txt) so the compiler cannot
// fuse the last multiply and add.
#include <cmath>

#include "runtime/ops/op.h"
#include "runtime/ops/op_util.h"

namespace sq {
namespace {

// gs, bs: gamma's and beta's strides (1, or 0 for a one-value vector broadcast over the row).
void normalize_row(const float* x, const float* gamma, int64_t gs, const float* beta, int64_t bs,
                   int64_t c, float eps, float* d, float* y) {
  double sum = 0;
  for (int64_t j = 0; j < c; ++j) sum = sum + static_cast<double>(x[j]);
  const float mean = static_cast<float>(sum / static_cast<double>(c));
  double sq = 0;
  for (int64_t j = 0; j < c; ++j) {
    d[j] = x[j] - mean;
    const float p = d[j] * d[j];
    sq = sq + static_cast<double>(p);
  }
  const float var = static_cast<float>(sq / static_cast<double>(c));
  const float s = std::sqrt(var + eps);
  for (int64_t j = 0; j < c; ++j) {
    const float n = d[j] / s;
    const float scaled = n * gamma[j * gs];
    y[j] = scaled + beta[j * bs];
  }
}

class LayerNormChainKernel : public OpKernel {
 public:
  explicit LayerNormChainKernel(const Node& node) : eps_(node.attr_float("epsilon", 1e-5f)) {
    check_num_inputs(node, 3, 3);
  }

  void run(OpContext& ctx) const override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor& gamma = ctx.in(1);
    const Tensor& beta = ctx.in(2);
    SQ_CHECK(x.dtype() == DType::kFloat32 && x.rank() >= 1, node.describe(),
             ": input must be float32 with rank >= 1");
    const int64_t c = x.dim(x.rank() - 1);
    for (const Tensor* t : {&gamma, &beta}) {
      SQ_CHECK(t->dtype() == DType::kFloat32 && (t->numel() == c || t->numel() == 1),
               node.describe(), ": gamma and beta must hold ", c,
               " float32 values (the last dimension) or one");
    }
    Tensor y(DType::kFloat32, x.shape());
    const int64_t rows = c == 0 ? 0 : x.numel() / c;
    const float* px = x.data<float>();
    float* py = y.data<float>();
    const float* g = gamma.data<float>();
    const float* b = beta.data<float>();
    ctx.pool().parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, c)),
                            [&](int64_t r0, int64_t r1) {
                              std::vector<float> d(static_cast<size_t>(c));
                              for (int64_t r = r0; r < r1; ++r)
                                normalize_row(px + r * c, g, gamma.numel() == 1 ? 0 : 1, b,
                                              beta.numel() == 1 ? 0 : 1, c, eps_, d.data(),
                                              py + r * c);
                            });
    ctx.set_output(0, std::move(y));
  }

 private:
  float eps_;
};

}  // namespace

void register_layer_norm_chain_op(OpRegistry& r) {
  r.add("LayerNormChainF32",
        [](const Node& node, int64_t) { return std::make_unique<LayerNormChainKernel>(node); },
        kInt8Domain);
}

}  // namespace sq
