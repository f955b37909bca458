// AttentionU8 (domain com.softquant), made by engine/int8_attention_fusion:
//   inputs  q_u8 [..., Lq, d], q_scale, q_zero, kt_u8 [..., d, Lk], k_scale, k_zero,
//           v_u8 [..., Lk, dv], v_scale, v_zero, [mask (float)], [mask_space_shape (int64)]
//   attrs   score_scale, p_bits, p_scale, p_zero_point, correction (none|head|length),
//           p_mult, p_add (one entry per head, per length bucket, or one)
//   output  [..., Lq, dv] float
//           kv_cache_slot (optional, engine/decode_graph.h)
// The mask is added in the layout mask_space_shape gives the scores (a Reshape of [..., Lq, Lk]
// keeping the last two dimensions), or in the scores' own layout. Each (batch, head) matrix and
// block of query rows runs kernels::attention_u8 on its own thread; a mask that hides every
// key above the causal diagonal lets the kernel skip those keys.
// Cached decoding: when the node has a kv_cache_slot and the run a KvCache, the step's K and V
// rows are appended to the cache and the Lq query rows (the last Lq positions of the sequence)
// attend over every cached key; the mask then covers the whole sequence ([..., L or 1, L]) and
// its last Lq rows are used.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "runtime/kernels/attention_u8.h"
#include "runtime/ops/broadcast.h"
#include "runtime/ops/kv_cache.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

struct QuantInput {
  const uint8_t* data = nullptr;
  float scale = 1;
  int32_t zero = 0;
};

QuantInput quant_input(const Node& node, const OpContext& ctx, size_t i, const char* what) {
  const Tensor& x = ctx.in(i);
  const Tensor& s = ctx.in(i + 1);
  const Tensor& z = ctx.in(i + 2);
  SQ_CHECK(x.dtype() == DType::kUInt8 && s.dtype() == DType::kFloat32 && s.numel() == 1 &&
               z.dtype() == DType::kUInt8 && z.numel() == 1,
           node.describe(), ": ", what, " must be uint8 with one float scale and one uint8 zero point");
  return QuantInput{x.data<uint8_t>(), s.data<float>()[0], z.data<uint8_t>()[0]};
}

// Key rows [lk][d] and value rows [lk][dv] of each matrix, and where they live.
struct KeyValueRows {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  int64_t k_matrix_stride = 0, v_matrix_stride = 0, lk = 0;
  Tensor own_k;  // this step's keys transposed, when there is no cache (a tensor: arenas place it)
};

KeyValueRows own_rows(const QuantInput& k, const QuantInput& v, int64_t n_mat, int64_t d,
                      int64_t lk, int64_t dv) {
  KeyValueRows kv;
  kv.own_k = Tensor(DType::kUInt8, {n_mat * lk * d});
  for (int64_t m = 0; m < n_mat; ++m) {
    const uint8_t* src = k.data + m * d * lk;
    uint8_t* dst = kv.own_k.data<uint8_t>() + m * lk * d;
    for (int64_t c = 0; c < d; ++c)
      for (int64_t j = 0; j < lk; ++j) dst[j * d + c] = src[c * lk + j];
  }
  kv.k = kv.own_k.data<uint8_t>();
  kv.v = v.data;
  kv.k_matrix_stride = lk * d;
  kv.v_matrix_stride = lk * dv;
  kv.lk = lk;
  return kv;
}

KeyValueRows append_to_cache(KvCache& cache, int slot, const Node& node, const QuantInput& k,
                             const QuantInput& v, int64_t n_mat, int64_t d, int64_t lk,
                             int64_t dv) {
  KvCache::Layer& l =
      cache.layer(slot, n_mat, d, dv, k.scale, k.zero, v.scale, v.zero, node.describe());
  const int64_t cap = cache.capacity(), past = l.length;
  SQ_CHECK(past + lk <= cap, node.describe(), ": the KV cache holds ", cap, " tokens; ", past,
           " cached + ", lk, " new do not fit");
  for (int64_t m = 0; m < n_mat; ++m) {
    const uint8_t* src = k.data + m * d * lk;
    uint8_t* dst = l.k.get() + (m * cap + past) * d;
    for (int64_t c = 0; c < d; ++c)
      for (int64_t j = 0; j < lk; ++j) dst[j * d + c] = src[c * lk + j];
    std::copy(v.data + m * lk * dv, v.data + (m + 1) * lk * dv, l.v.get() + (m * cap + past) * dv);
  }
  l.length = past + lk;
  KeyValueRows kv;
  kv.k = l.k.get();
  kv.v = l.v.get();
  kv.k_matrix_stride = cap * d;
  kv.v_matrix_stride = cap * dv;
  kv.lk = l.length;
  return kv;
}

class AttentionU8Kernel : public OpKernel {
 public:
  explicit AttentionU8Kernel(const Node& node) {
    check_num_inputs(node, 9, 11);
    score_scale_ = node.attr_float("score_scale", 1.0f);
    p_bits_ = static_cast<int>(node.attr_int("p_bits", 8));
    p_scale_ = node.attr_float("p_scale", 1.0f / 256);
    p_zero_ = static_cast<int32_t>(node.attr_int("p_zero_point", 0));
    const std::string kind = node.attr_string("correction", "none");
    SQ_CHECK(kind == "none" || kind == "head" || kind == "length", node.describe(),
             ": unknown correction '", kind, "'");
    per_head_ = kind == "head";
    mult_ = node.attr_floats("p_mult");
    add_ = node.attr_floats("p_add");
    SQ_CHECK(!mult_.empty() && mult_.size() == add_.size() && (kind != "none" || mult_.size() == 1),
             node.describe(), ": p_mult and p_add must have the same, nonzero length");
    SQ_CHECK(p_bits_ >= 1 && p_bits_ <= 16, node.describe(), ": p_bits must be in [1, 16]");
    cache_slot_ = static_cast<int>(node.attr_int("kv_cache_slot", -1));
  }

  void run(OpContext& ctx) const override {
    const Node& node = ctx.node();
    const QuantInput q = quant_input(node, ctx, 0, "Q");
    const QuantInput k = quant_input(node, ctx, 3, "Kᵀ");
    const QuantInput v = quant_input(node, ctx, 6, "V");
    const Shape& qs = ctx.in(0).shape();
    const Shape& ks = ctx.in(3).shape();
    const Shape& vs = ctx.in(6).shape();
    SQ_CHECK(qs.size() >= 2 && ks.size() == qs.size() && vs.size() == qs.size(), node.describe(),
             ": Q ", shape_str(qs), ", Kᵀ ", shape_str(ks), " and V ", shape_str(vs),
             " must have the same rank >= 2");
    const size_t r = qs.size();
    const Shape batch(qs.begin(), qs.end() - 2);
    SQ_CHECK(Shape(ks.begin(), ks.end() - 2) == batch && Shape(vs.begin(), vs.end() - 2) == batch,
             node.describe(), ": Q ", shape_str(qs), ", Kᵀ ", shape_str(ks), " and V ",
             shape_str(vs), " must have the same batch dimensions");
    const int64_t lq = qs[r - 2], d = qs[r - 1], lk_step = ks[r - 1], dv = vs[r - 1];
    SQ_CHECK(ks[r - 2] == d && vs[r - 2] == lk_step, node.describe(), ": Q ", shape_str(qs),
             " x Kᵀ ", shape_str(ks), " x V ", shape_str(vs), " do not chain");
    const int64_t n_mat = shape_numel(batch);
    Shape out_shape = batch;
    out_shape.push_back(lq);
    out_shape.push_back(dv);
    Tensor y(DType::kFloat32, out_shape);
    if (y.numel() == 0) return ctx.set_output(0, std::move(y));

    // Keys as rows [lk][d] (from Kᵀ [d][lk]) and value rows [lk][dv], per matrix: this step's
    // own, or the cache's after appending this step's.
    KeyValueRows kv =
        cache_slot_ >= 0 && ctx.kv_cache()
            ? append_to_cache(*ctx.kv_cache(), cache_slot_, node, k, v, n_mat, d, lk_step, dv)
            : own_rows(k, v, n_mat, d, lk_step, dv);
    const int64_t lk = kv.lk;
    SQ_CHECK(lk >= lq || lk == lk_step, node.describe(), ": ", lq, " query rows but ", lk,
             " cached keys");

    // Mask offset of each (batch, head) matrix, with its row and column strides.
    const Tensor* mask = ctx.input(9);
    std::vector<int64_t> mask_offset(static_cast<size_t>(n_mat), 0);
    int64_t mask_row_stride = 0, mask_col_stride = 0;
    if (mask) {
      SQ_CHECK(mask->dtype() == DType::kFloat32, node.describe(), ": mask must be float32");
      Shape scores = batch;
      scores.push_back(lq);
      scores.push_back(lk_step);
      const Tensor* space = ctx.input(10);
      Shape layout =
          space ? reshape_target(node, scores, read_int_list(node, *space, "mask layout"), false)
                : scores;
      SQ_CHECK(layout.size() >= 2 && layout[layout.size() - 2] == lq && layout.back() == lk_step,
               node.describe(), ": the mask's layout ", shape_str(layout),
               " must end in the scores' [", lq, ", ", lk_step, "]");
      layout.back() = lk;
      // With a cache, a mask over the whole sequence: its last lq rows belong to this step.
      Shape ms = mask->shape();
      int64_t skip_rows = 0;
      if (lk != lk_step && ms.size() >= 2 && ms[ms.size() - 2] > lq) {
        skip_rows = ms[ms.size() - 2] - lq;
        ms[ms.size() - 2] = lq;
      }
      const BroadcastPlan plan = make_broadcast_plan({ms, layout}, node.describe() + " (mask)");
      SQ_CHECK(plan.out_shape == layout, node.describe(), ": mask ", shape_str(mask->shape()),
               " does not broadcast to the scores ", shape_str(layout));
      // Strides of the mask against the layout (0 on broadcast dimensions).
      std::vector<int64_t> stride(layout.size(), 0);
      int64_t s = 1;
      for (size_t i = 0; i < ms.size(); ++i) {
        const size_t li = layout.size() - 1 - i, mi = ms.size() - 1 - i;
        const int64_t full = mi == ms.size() - 2 ? ms[mi] + skip_rows : ms[mi];
        stride[li] = full == 1 ? 0 : s;
        s *= full;
      }
      mask_row_stride = stride[layout.size() - 2];
      mask_col_stride = stride.back();
      for (int64_t m = 0; m < n_mat; ++m) {
        int64_t rest = m, off = skip_rows * mask_row_stride;
        for (size_t i = layout.size() - 2; i-- > 0;) {
          off += (rest % layout[i]) * stride[i];
          rest /= layout[i];
        }
        mask_offset[static_cast<size_t>(m)] = off;
      }
    }
    // Causal masks (every key above the diagonal masked) let the kernel skip those keys.
    std::map<int64_t, bool> causal_by_offset;
    auto is_causal = [&](int64_t off) {
      auto [it, fresh] = causal_by_offset.emplace(off, true);
      if (!fresh) return it->second;
      const float* mk = mask->data<float>() + off;
      for (int64_t i = 0; i < lq && it->second; ++i)
        for (int64_t j = i + (lk - lq) + 1; j < lk; ++j)
          if (mk[i * mask_row_stride + j * mask_col_stride] > -1e30f) {
            it->second = false;
            break;
          }
      return it->second;
    };
    std::vector<char> causal(static_cast<size_t>(n_mat), 0);
    if (mask && lk >= lq) {
      for (int64_t m = 0; m < n_mat; ++m) causal[static_cast<size_t>(m)] = is_causal(mask_offset[static_cast<size_t>(m)]);
    }

    // Tasks of many rows: the kernel prepares V once per call. Whole matrices when there are
    // enough of them, else each matrix split into a few row ranges (block-aligned).
    const kernels::Isa isa = kernels::default_isa();
    const int64_t row_block = std::max<int64_t>(1, kernels::attention_row_block(isa));
    const int64_t want = std::max<int64_t>(1, (4 * ctx.pool().num_threads() + n_mat - 1) / n_mat);
    const int64_t block = std::max(row_block, ((lq + want - 1) / want + row_block - 1) / row_block * row_block);
    const int64_t blocks = (lq + block - 1) / block;
    const size_t scratch_bytes = kernels::attention_scratch_bytes(lk, dv, isa);
    const int heads = per_head_ ? static_cast<int>(mult_.size()) : 1;
    float* out = y.data<float>();
    // One kernel scratch per chunk (a job has at most num_threads chunks), each 64-byte aligned.
    const int64_t scratch_stride = static_cast<int64_t>((scratch_bytes + 63) / 64 * 64);
    Tensor task_scratch(DType::kUInt8, {ctx.pool().num_threads() * scratch_stride});
    std::atomic<int64_t> next_scratch{0};
    ctx.pool().parallel_for(n_mat * blocks, 1, [&](int64_t t0, int64_t t1) {
      void* scratch = task_scratch.data<uint8_t>() + next_scratch.fetch_add(1) * scratch_stride;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t m = t / blocks, b = t % blocks;
        kernels::AttentionParams p;
        p.lq = lq;
        p.lk = lk;
        p.d = d;
        p.dv = dv;
        p.q = q.data + m * lq * d;
        p.q_stride = d;
        p.k = kv.k + m * kv.k_matrix_stride;
        p.k_stride = d;
        p.v = kv.v + m * kv.v_matrix_stride;
        p.v_stride = dv;
        p.q_scale = q.scale;
        p.k_scale = k.scale;
        p.v_scale = v.scale;
        p.q_zero = q.zero;
        p.k_zero = k.zero;
        p.v_zero = v.zero;
        p.score_scale = score_scale_;
        if (mask) {
          p.mask = mask->data<float>() + mask_offset[static_cast<size_t>(m)];
          p.mask_row_stride = mask_row_stride;
          p.mask_col_stride = mask_col_stride;
          p.causal = causal[static_cast<size_t>(m)] != 0;
          p.causal_offset = lk - lq;
        }
        p.p_bits = p_bits_;
        p.p_scale = p_scale_;
        p.p_zero = p_zero_;
        const size_t row = per_head_ ? static_cast<size_t>(m % heads) : 0;
        p.p_mult = mult_.data() + row;
        p.p_add = add_.data() + row;
        p.correction_rows = per_head_ ? 1 : static_cast<int>(mult_.size());
        p.o = out + m * lq * dv;
        p.o_stride = dv;
        kernels::attention_u8(p, b * block, std::min(lq, (b + 1) * block), scratch, isa);
      }
    });
    ctx.set_output(0, std::move(y));
  }

 private:
  float score_scale_ = 1, p_scale_ = 1;
  int p_bits_ = 8;
  int32_t p_zero_ = 0;
  bool per_head_ = false;
  int cache_slot_ = -1;
  std::vector<float> mult_, add_;
};

}  // namespace

void register_int8_attention_op(OpRegistry& r) {
  r.add("AttentionU8",
        [](const Node& node, int64_t) { return std::make_unique<AttentionU8Kernel>(node); },
        kInt8Domain);
}

}  // namespace sq
