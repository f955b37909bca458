// The int8 engine's lowered ops (domain com.softquant), produced by engine/int8_lowering from QDQ
// patterns and executed on the integer kernels of runtime/kernels:
//
//   MatMulU8S8ToFloat(a_u8, a_scale, a_zero_point[, bias]) with attributes
//       weight (int8 tensor, [K, N], or [N, K] when weight_transposed = 1) or the same weight
//       prepacked (packed_weight, packed_col_sums, packed_isa, packed_k, packed_n: see
//       ops/int8_packed_weight.h), weight_scale ([N] or [1]) and layout ("rows": A is
//       [..., K]; "nchw": a 1x1 Conv over [B, K, H, W])
//     = DequantizeLinear(a) x DequantizeLinear(weight) (+ bias), in float.
//   BatchMatMulU8U8ToFloat(a_u8, a_scale, a_zero, b_u8, b_scale, b_zero)
//     = MatMul(DequantizeLinear(a), DequantizeLinear(b)), numpy batch broadcasting.
//   GatherDequantize(indices) with attributes weight (int8 [V, ...]; or, for a table tied to the
//       LM head, that head's packed weight attributes), weight_scale and weight_zero_point (one
//       value, or one per row)
//     = Gather(DequantizeLinear(weight), indices, axis 0): only the gathered rows are
//       dequantized (an int8 embedding table stays int8).
//
// Weights are packed once, when the op is prepared; prepacked weights in the running ISA's layout
// are used in place (a mapped .sqm: no copy).
#include <algorithm>
#include <memory>
#include <vector>

#include "runtime/kernels/gemm_u8s8.h"
#include "runtime/kernels/quant_math.h"
#include "runtime/ops/int8_packed_weight.h"
#include "runtime/ops/matmul_plan.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

using kernels::GemmU8S8Epilogue;
using kernels::PackedMatrixS8;

struct PerTensorQuant {
  float scale = 1;
  int32_t zero = 0;
};

PerTensorQuant read_per_tensor(const Node& node, const Tensor& scale, const Tensor* zero,
                               const char* what) {
  SQ_CHECK(scale.dtype() == DType::kFloat32 && scale.numel() == 1, node.describe(), ": ", what,
           " scale must be one float32");
  PerTensorQuant q;
  q.scale = scale.data<float>()[0];
  if (zero) {
    SQ_CHECK(zero->dtype() == DType::kUInt8 && zero->numel() == 1, node.describe(), ": ", what,
             " zero point must be one uint8");
    q.zero = zero->data<uint8_t>()[0];
  }
  return q;
}

void check_u8(const Node& node, const Tensor& t, const char* what) {
  SQ_CHECK(t.dtype() == DType::kUInt8, node.describe(), ": ", what, " must be uint8, got ",
           dtype_name(t.dtype()));
}

// Runs C = A x B on the pool in tiles of at most kTileRows rows by a column block whose slice of
// packed B fits in L2 (~192 KiB), so each B block is read from memory once per row tile and the
// kernel's passes over it hit the cache; tiles are spread over the threads.
void parallel_gemm(ThreadPool& pool, const uint8_t* a, int64_t m, int64_t lda,
                   const PackedMatrixS8& b, const GemmU8S8Epilogue& ep, float* c, int64_t ldc) {
  constexpr int64_t kTileRows = 128, kBlockBytes = 192 << 10;
  const int64_t unit = kernels::gemm_column_block(b.isa);
  int64_t cols = std::max<int64_t>(unit, kBlockBytes / std::max<int64_t>(b.k, 1) / unit * unit);
  // At least 4 tiles per thread when the rows fit one tile, so the threads finish together.
  const int64_t balanced = (b.n + 4 * pool.num_threads() - 1) / (4 * pool.num_threads());
  if (m <= kTileRows) cols = std::min(cols, std::max(unit, (balanced + unit - 1) / unit * unit));
  const int64_t col_blocks = (b.n + cols - 1) / cols, row_tiles = (m + kTileRows - 1) / kTileRows;
  auto tile = [&](int64_t t) {
    const int64_t r0 = (t / col_blocks) * kTileRows, j0 = (t % col_blocks) * cols;
    kernels::gemm_u8s8_f32(a + r0 * lda, std::min(kTileRows, m - r0), lda, b, j0,
                           std::min(b.n, j0 + cols), ep, c + r0 * ldc, ldc);
  };
  const int64_t tiles = row_tiles * col_blocks;
  if (pool.num_threads() <= 1 || m * b.n * b.k < (int64_t{1} << 18)) {
    for (int64_t t = 0; t < tiles; ++t) tile(t);
    return;
  }
  pool.parallel_for(tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) tile(t);
  });
}

class MatMulU8S8Kernel : public OpKernel {
 public:
  explicit MatMulU8S8Kernel(const Node& node) {
    check_num_inputs(node, 3, 4);
    packed_ = packed_weight_of(node);
    const int64_t n = packed_.n;
    const Tensor& s = node.attr_tensor("weight_scale");
    SQ_CHECK(s.dtype() == DType::kFloat32 && (s.numel() == 1 || s.numel() == n), node.describe(),
             ": weight_scale must hold 1 or ", n, " float32 values");
    col_scale_.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) col_scale_[static_cast<size_t>(j)] = s.data<float>()[s.numel() == 1 ? 0 : j];
    const std::string layout = node.attr_string("layout", "rows");
    SQ_CHECK(layout == "rows" || layout == "nchw", node.describe(), ": unknown layout '", layout, "'");
    nchw_ = layout == "nchw";
  }

  void run(OpContext& ctx) const override {
    const Node& node = ctx.node();
    const Tensor& a = ctx.in(0);
    check_u8(node, a, "input A");
    const PerTensorQuant aq = read_per_tensor(node, ctx.in(1), ctx.input(2), "input A");
    const Tensor* bias = ctx.input(3);
    if (bias) {
      SQ_CHECK(bias->dtype() == DType::kFloat32 && bias->numel() == packed_.n, node.describe(),
               ": bias must hold ", packed_.n, " float32 values");
    }
    GemmU8S8Epilogue ep;
    ep.a_zero = aq.zero;
    ep.scale = aq.scale;
    ep.col_scale = col_scale_.data();
    ep.bias = bias ? bias->data<float>() : nullptr;
    const int64_t k = packed_.k, n = packed_.n;
    if (!nchw_) {
      SQ_CHECK(a.rank() >= 1 && a.shape().back() == k, node.describe(), ": input A ",
               shape_str(a.shape()), " must end in ", k);
      Shape out_shape = a.shape();
      out_shape.back() = n;
      Tensor y(DType::kFloat32, out_shape);
      const int64_t m = a.numel() / std::max<int64_t>(k, 1);
      if (m > 0) parallel_gemm(ctx.pool(), a.data<uint8_t>(), m, k, packed_, ep, y.data<float>(), n);
      ctx.set_output(0, std::move(y));
      return;
    }
    // 1x1 convolution: per image, pixels become rows ([HW, K] x [K, N]) and back to [N, HW].
    SQ_CHECK(a.rank() >= 3 && a.dim(1) == k, node.describe(), ": input ", shape_str(a.shape()),
             " must be [batch, ", k, ", ...]");
    Shape out_shape = a.shape();
    out_shape[1] = n;
    Tensor y(DType::kFloat32, out_shape);
    const int64_t batch = a.dim(0), hw = a.numel() / std::max<int64_t>(batch * k, 1);
    // Scratch in tensors, so a session's arena places it (planner/execution_arena.h).
    Tensor rows_scratch(DType::kUInt8, {hw * k});
    Tensor out_rows_scratch(DType::kFloat32, {hw * n});
    uint8_t* rows = rows_scratch.data<uint8_t>();
    float* out_rows = out_rows_scratch.data<float>();
    for (int64_t b = 0; b < batch; ++b) {
      const uint8_t* src = a.data<uint8_t>() + b * k * hw;
      for (int64_t c = 0; c < k; ++c)
        for (int64_t p = 0; p < hw; ++p) rows[p * k + c] = src[c * hw + p];
      parallel_gemm(ctx.pool(), rows, hw, k, packed_, ep, out_rows, n);
      float* dst = y.data<float>() + b * n * hw;
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t c = 0; c < n; ++c) dst[c * hw + p] = out_rows[p * n + c];
    }
    ctx.set_output(0, std::move(y));
  }

 private:
  PackedMatrixS8 packed_;
  std::vector<float> col_scale_;
  bool nchw_ = false;
};

std::unique_ptr<OpKernel> make_batch_matmul_u8u8(const Node& node, int64_t) {
  check_num_inputs(node, 6, 6);
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(3);
    check_u8(node, a, "input A");
    check_u8(node, b, "input B");
    const PerTensorQuant aq = read_per_tensor(node, ctx.in(1), ctx.input(2), "input A");
    const PerTensorQuant bq = read_per_tensor(node, ctx.in(4), ctx.input(5), "input B");
    const MatMulPlan plan = plan_matmul(node, a.shape(), b.shape());
    Tensor y(DType::kFloat32, plan.out);
    if (y.numel() == 0) return ctx.set_output(0, std::move(y));
    // vpdpbusd-style kernels multiply uint8 by int8: B's values shift by -128 (b ^ 0x80), and so
    // does its zero point.
    Tensor b_s8_scratch(DType::kInt8, {b.numel()});  // a tensor: an arena places it
    int8_t* b_s8 = b_s8_scratch.data<int8_t>();
    const uint8_t* bu = b.data<uint8_t>();
    for (int64_t i = 0; i < b.numel(); ++i) b_s8[i] = static_cast<int8_t>(bu[i] ^ 0x80);
    GemmU8S8Epilogue ep;
    ep.a_zero = aq.zero;
    ep.b_zero = bq.zero - 128;
    ep.scale = aq.scale * bq.scale;
    const int64_t m = plan.m, n = plan.n, k = plan.k;
    const uint8_t* ad = a.data<uint8_t>();
    float* yd = y.data<float>();
    auto one = [&](int64_t i) {
      const auto bi = static_cast<size_t>(i);
      PackedMatrixS8 pb = kernels::pack_b_s8(b_s8 + plan.b_offsets[bi], k, n, n, 1);
      kernels::gemm_u8s8_f32(ad + plan.a_offsets[bi], m, k, pb, 0, n, ep, yd + i * m * n, n);
    };
    if (plan.fold_batch) {  // one B for every batch: a single product with batches * m rows
      PackedMatrixS8 pb = kernels::pack_b_s8(b_s8, k, n, n, 1);
      parallel_gemm(ctx.pool(), ad, m * plan.batches, k, pb, ep, yd, n);
    } else {
      ctx.pool().parallel_for(plan.batches, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) one(i);
      });
    }
    ctx.set_output(0, std::move(y));
  });
}

// The table is either the int8 weight attribute [V, ...] or, for an embedding tied to the LM head,
// that head's packed weight (ops/int8_packed_weight.h), whose column r is table row r.
class GatherDequantizeKernel : public OpKernel {
 public:
  explicit GatherDequantizeKernel(const Node& node)
      : scale_(node.attr_tensor("weight_scale")), zero_(node.attr_tensor("weight_zero_point")) {
    check_num_inputs(node, 1, 1);
    if (has_packed_form(node)) {
      packed_ = stored_packed_weight(node);
      rows_ = packed_.n;
      row_shape_ = {packed_.k};
    } else {
      weight_ = node.attr_tensor("weight");
      SQ_CHECK(weight_.dtype() == DType::kInt8 && weight_.rank() >= 1, node.describe(),
               ": weight must be int8 of rank >= 1");
      rows_ = weight_.dim(0);
      row_shape_.assign(weight_.shape().begin() + 1, weight_.shape().end());
    }
    SQ_CHECK(scale_.dtype() == DType::kFloat32 && (scale_.numel() == 1 || scale_.numel() == rows_) &&
                 zero_.dtype() == DType::kInt8 && zero_.numel() == scale_.numel(),
             node.describe(), ": weight_scale and weight_zero_point must hold 1 or ", rows_, " values");
  }

  void run(OpContext& ctx) const override {
    const Node& node = ctx.node();
    const Tensor& idx = ctx.in(0);
    SQ_CHECK(idx.dtype() == DType::kInt64 || idx.dtype() == DType::kInt32, node.describe(),
             ": indices must be int64 or int32, got ", dtype_name(idx.dtype()));
    const int64_t rows = rows_, row_len = shape_numel(row_shape_);
    Shape out_shape = idx.shape();
    out_shape.insert(out_shape.end(), row_shape_.begin(), row_shape_.end());
    Tensor y(DType::kFloat32, out_shape);
    float* out = y.data<float>();
    const bool per_row = scale_.numel() > 1;
    std::vector<int8_t> column(packed_.data ? static_cast<size_t>(row_len) : 0);
    for (int64_t i = 0; i < idx.numel(); ++i) {
      int64_t r = idx.get_as_int64(i);
      SQ_CHECK(r >= -rows && r < rows, node.describe(), ": index ", r, " is out of range [", -rows,
               ", ", rows, ")");
      if (r < 0) r += rows;
      const float s = scale_.data<float>()[per_row ? r : 0];
      const int32_t z = zero_.data<int8_t>()[per_row ? r : 0];
      const int8_t* src = nullptr;
      if (packed_.data) {
        kernels::packed_b_column(packed_, r, column.data());
        src = column.data();
      } else {
        src = weight_.data<int8_t>() + r * row_len;
      }
      float* dst = out + i * row_len;
      for (int64_t j = 0; j < row_len; ++j) dst[j] = dequantize_value(src[j], s, z);
    }
    ctx.set_output(0, std::move(y));
  }

 private:
  Tensor weight_, scale_, zero_;
  PackedMatrixS8 packed_;  // set instead of weight_ for a table shared with a packed LM head
  int64_t rows_ = 0;
  Shape row_shape_;
};

}  // namespace

void register_int8_ops(OpRegistry& r) {
  register_int8_attention_op(r);
  register_int8_lookup_op(r);
  register_layer_norm_chain_op(r);
  r.add("GatherDequantize",
        [](const Node& node, int64_t) { return std::make_unique<GatherDequantizeKernel>(node); },
        kInt8Domain);
  r.add("MatMulU8S8ToFloat",
        [](const Node& node, int64_t) { return std::make_unique<MatMulU8S8Kernel>(node); },
        kInt8Domain);
  r.add("BatchMatMulU8U8ToFloat", make_batch_matmul_u8u8, kInt8Domain);
}

}  // namespace sq
