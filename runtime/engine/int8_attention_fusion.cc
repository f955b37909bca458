#include "runtime/engine/int8_attention_fusion.h"

#include <cmath>
#include <optional>
#include <vector>

#include "runtime/engine/graph_index.h"
#include "runtime/ops/op.h"

namespace sq {
namespace {

constexpr float kMaskThreshold = -1e30f;  // the quantizer's valid-key test: score > -1e30

struct ScoreChain {
  const Node* qk = nullptr;  // MatMul(DQ(q), DQ(kᵀ))
  float score_scale = 1.0f;
  std::string mask, mask_space_shape;  // "" when absent
};

// Walks from the Softmax input back to the Q·Kᵀ MatMul through the ops the pattern allows; `c`
// carries what the steps below the current value contributed.
std::optional<ScoreChain> match_scores(const Graph& g, const GraphIndex& idx,
                                       const std::string& value, ScoreChain c, int depth = 0) {
  const Node* n = idx.producer(value);
  if (!n || !is_default_domain(*n) || depth > 12) return std::nullopt;
  float k = 0;
  if (n->op_type == "MatMul") {
    if (!idx.u8_dq(n->input(0)) || !idx.u8_dq(n->input(1))) return std::nullopt;
    c.qk = n;
    return c;
  }
  if (n->num_inputs() != 2) return std::nullopt;
  if (n->op_type == "Mul" || n->op_type == "Max") {
    const bool left = scalar_initializer(g, n->input(0), &k);
    if (!left && !scalar_initializer(g, n->input(1), &k)) return std::nullopt;
    if (n->op_type == "Mul") {
      c.score_scale *= k;
    } else if (!(k <= kMaskThreshold)) {
      return std::nullopt;  // Max(x, float-min) only changes masked scores, which stay masked
    }
    return match_scores(g, idx, n->input(left ? 1 : 0), c, depth + 1);
  }
  if (n->op_type == "Div") {
    if (!scalar_initializer(g, n->input(1), &k) || k == 0.0f) return std::nullopt;
    c.score_scale /= k;
    return match_scores(g, idx, n->input(0), c, depth + 1);
  }
  if (n->op_type == "Reshape") {
    if (n->attr_int("allowzero", 0) != 0) return std::nullopt;
    if (!c.mask.empty()) {
      // The mask was added in this Reshape's output layout; a second Reshape above it would
      // make that layout depend on shapes the fused op does not see.
      if (!c.mask_space_shape.empty()) return std::nullopt;
      c.mask_space_shape = n->input(1);
    }
    return match_scores(g, idx, n->input(0), c, depth + 1);
  }
  if (n->op_type == "Add" && c.mask.empty()) {
    // The chain goes on through the input that leads back to Q·Kᵀ; the other is the mask.
    for (int side = 0; side < 2; ++side) {
      ScoreChain with_mask = c;
      with_mask.mask = n->input(1 - side);
      if (auto r = match_scores(g, idx, n->input(side), with_mask, depth + 1)) return r;
    }
  }
  return std::nullopt;
}

// Correction tables of the fused op: probability of a valid key = (qp - z) * mult[r] + add[r].
struct Correction {
  std::string kind = "none";  // none|head|length (per tensor is one row)
  std::vector<float> mult, add;
};

// thresholds[k] == 2^(k+1): the quantizer's floor(log2(valid keys)) bucket lookup.
bool is_length_lookup(const Graph& g, const GraphIndex& idx, const Node& gather, size_t buckets) {
  const Node* cast = idx.producer(gather.input(1));
  const Node* sum = cast ? idx.producer(cast->input(0)) : nullptr;
  const Node* cast2 = sum && sum->op_type == "ReduceSum" ? idx.producer(sum->input(0)) : nullptr;
  const Node* ge = cast2 ? idx.producer(cast2->input(0)) : nullptr;
  if (!ge || ge->op_type != "GreaterOrEqual") return false;
  const Tensor* th = find_initializer(g, ge->input(1));
  if (!th || th->dtype() != DType::kFloat32 || static_cast<size_t>(th->numel()) + 1 != buckets)
    return false;
  for (int64_t k = 0; k < th->numel(); ++k) {
    if (th->data<float>()[k] != std::ldexp(1.0f, static_cast<int>(k + 1))) return false;
  }
  return true;
}

// A 1-D float table read by Gather(table, bucket-of-valid-length), or nullptr.
const Tensor* length_table(const Graph& g, const GraphIndex& idx, const std::string& value) {
  const Node* gather = idx.producer(value);
  if (!gather || gather->op_type != "Gather" || gather->num_inputs() != 2) return nullptr;
  const Tensor* t = find_initializer(g, gather->input(0));
  if (!t || t->dtype() != DType::kFloat32 || t->rank() != 1) return nullptr;
  return is_length_lookup(g, idx, *gather, static_cast<size_t>(t->numel())) ? t : nullptr;
}

// Cast(Greater(scores, -1e30)) on the Softmax input: the valid-key indicator.
bool is_valid_indicator(const Graph& g, const GraphIndex& idx, const std::string& value,
                        const std::string& scores) {
  const Node* cast = idx.producer(value);
  if (!cast || cast->op_type != "Cast" || cast->attr_int("to", 0) != 1) return false;
  const Node* gt = idx.producer(cast->input(0));
  float th = 0;
  return gt && gt->op_type == "Greater" && gt->input(0) == scores &&
         scalar_initializer(g, gt->input(1), &th) && th == kMaskThreshold;
}

std::vector<float> values_of(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// From the DequantizeLinear of the probabilities to the P·V MatMul; fills the correction.
const Node* match_correction(const Graph& g, const GraphIndex& idx, const Node& dq,
                             const std::string& scores, Correction* c) {
  const Tensor* scale = find_initializer(g, dq.input(1));
  if (!scale || scale->dtype() != DType::kFloat32) return nullptr;
  const std::vector<float> s = values_of(*scale);
  if (s.size() > 1) {  // scale form per head: one dequantization scale per head
    const int64_t axis = dq.attr_int("axis", 1);
    if (axis != 0 && axis != 1) return nullptr;
    c->kind = "head";
    c->mult = s;
    c->add.assign(s.size(), 0.0f);
  } else {
    c->mult = {s[0]};
    c->add = {0.0f};
  }
  const Node* next = idx.only_reader(dq.outputs[0]);
  if (!next || !is_default_domain(*next)) return nullptr;
  if (next->op_type == "MatMul") return next->input(0) == dq.outputs[0] ? next : nullptr;
  if (s.size() > 1 || next->num_inputs() != 2) return nullptr;
  const std::string& other = next->input(next->input(0) == dq.outputs[0] ? 1 : 0);
  if (next->op_type == "Mul") {  // scale form per length bucket
    const Tensor* t = length_table(g, idx, other);
    if (!t) return nullptr;
    c->kind = "length";
    c->mult.clear();
    for (float f : values_of(*t)) c->mult.push_back(s[0] * f);
    c->add.assign(c->mult.size(), 0.0f);
  } else if (next->op_type == "Add") {  // offset form: + beta on valid keys
    const Node* mul = idx.producer(other);
    if (!mul || mul->op_type != "Mul" || mul->num_inputs() != 2) return nullptr;
    const bool valid_left = is_valid_indicator(g, idx, mul->input(0), scores);
    if (!valid_left && !is_valid_indicator(g, idx, mul->input(1), scores)) return nullptr;
    const std::string& beta = mul->input(valid_left ? 1 : 0);
    if (const Tensor* t = length_table(g, idx, beta)) {
      c->kind = "length";
      c->add = values_of(*t);
    } else if (const Tensor* b = find_initializer(g, beta)) {
      if (b->dtype() != DType::kFloat32) return nullptr;
      c->add = values_of(*b);
      if (b->numel() > 1) {
        // Per head: shaped [1, H, 1, 1] or [H, 1, 1] against the probabilities.
        const Shape& bs = b->shape();
        if (bs.size() < 3 || bs[bs.size() - 1] != 1 || bs[bs.size() - 2] != 1 ||
            bs[bs.size() - 3] != b->numel())
          return nullptr;
        c->kind = "head";
      }
    } else {
      return nullptr;
    }
    c->mult.assign(c->add.size(), s[0]);
  } else {
    return nullptr;
  }
  const Node* pv = idx.only_reader(next->outputs[0]);
  return pv && is_default_domain(*pv) && pv->op_type == "MatMul" && pv->input(0) == next->outputs[0]
             ? pv
             : nullptr;
}

// The uint8 probability quantizer after Softmax: [Clip] -> QuantizeLinear -> DequantizeLinear.
struct ProbQuant {
  int bits = 8;
  float scale = 1;
  int32_t zero = 0;
  const Node* dq = nullptr;
};

std::optional<ProbQuant> match_prob_quant(const Graph& g, const GraphIndex& idx,
                                          const Node& softmax) {
  const Node* n = idx.only_reader(softmax.outputs[0]);
  float clip_hi = 0, clip_lo = 0;
  const bool clipped = n && n->op_type == "Clip";
  if (clipped) {
    if (n->num_inputs() != 3 || !scalar_initializer(g, n->input(1), &clip_lo) ||
        !scalar_initializer(g, n->input(2), &clip_hi))
      return std::nullopt;
    n = idx.only_reader(n->outputs[0]);
  }
  if (!n || n->op_type != "QuantizeLinear" || !is_default_domain(*n) ||
      !has_per_tensor_params(g, *n, DType::kUInt8))
    return std::nullopt;
  ProbQuant p;
  scalar_initializer(g, n->input(1), &p.scale);
  p.zero = find_initializer(g, n->input(2))->data<uint8_t>()[0];
  if (clipped) {
    // The quantizer clips to [(0 - z) s, (2^b - 1 - z) s] for b < 8 bits.
    const long qmax = std::lround(clip_hi / p.scale) + p.zero;
    p.bits = 0;
    while (p.bits < 8 && (1L << p.bits) - 1 < qmax) ++p.bits;
    if ((1L << p.bits) - 1 != qmax || std::lround(clip_lo / p.scale) + p.zero != 0)
      return std::nullopt;
  }
  const Node* dq = idx.only_reader(n->outputs[0]);
  if (!dq || dq->op_type != "DequantizeLinear" || !is_default_domain(*dq) || dq->num_inputs() != 3)
    return std::nullopt;
  const Tensor* z = find_initializer(g, dq->input(2));
  if (!z || z->dtype() != DType::kUInt8) return std::nullopt;
  for (int64_t i = 0; i < z->numel(); ++i)
    if (z->data<uint8_t>()[i] != p.zero) return std::nullopt;
  p.dq = dq;
  return p;
}

bool softmax_on_last_axis(const Node& s, int64_t opset) {
  if (!s.has_attr("axis")) return opset >= 13;
  return s.attr_int("axis") == -1;
}

}  // namespace

int fuse_int8_attention(Graph& g, int64_t opset) {
  int fused = 0;
  std::vector<std::pair<size_t, Node>> replacements;  // P·V node index -> fused node
  {
    GraphIndex idx(g);
    for (const Node& s : g.nodes) {
      if (s.op_type != "Softmax" || !is_default_domain(s) || !softmax_on_last_axis(s, opset))
        continue;
      auto pq = match_prob_quant(g, idx, s);
      if (!pq) continue;
      Correction corr;
      const Node* pv = match_correction(g, idx, *pq->dq, s.input(0), &corr);
      if (!pv) continue;
      const Node* v = idx.u8_dq(pv->input(1));
      auto chain = match_scores(g, idx, s.input(0), ScoreChain{});
      if (!v || !chain) continue;
      const Node* q = idx.u8_dq(chain->qk->input(0));
      const Node* k = idx.u8_dq(chain->qk->input(1));
      Node f;
      f.name = pv->name + "/attention_int8";
      f.op_type = "AttentionU8";
      f.domain = kInt8Domain;
      f.inputs = {q->input(0), q->input(1), q->input(2), k->input(0), k->input(1), k->input(2),
                  v->input(0), v->input(1), v->input(2), chain->mask, chain->mask_space_shape};
      while (!f.inputs.empty() && f.inputs.back().empty()) f.inputs.pop_back();
      f.outputs = pv->outputs;
      f.attrs["score_scale"] = Attribute::of_float(chain->score_scale);
      f.attrs["p_bits"] = Attribute::of_int(pq->bits);
      f.attrs["p_scale"] = Attribute::of_float(pq->scale);
      f.attrs["p_zero_point"] = Attribute::of_int(pq->zero);
      f.attrs["correction"] = Attribute::of_string(corr.kind);
      f.attrs["p_mult"] = Attribute::of_floats(corr.mult);
      f.attrs["p_add"] = Attribute::of_floats(corr.add);
      replacements.emplace_back(static_cast<size_t>(pv - g.nodes.data()), std::move(f));
    }
  }
  for (auto& [i, f] : replacements) {
    g.nodes[i] = std::move(f);
    ++fused;
  }
  return fused;
}

}  // namespace sq
