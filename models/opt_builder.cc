#include "models/opt_builder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "models/graph_builder.h"
#include "models/nn_layers.h"
#include "models/synthetic.h"

namespace sq {

namespace {

constexpr float kFloatMin = std::numeric_limits<float>::lowest();  // torch.finfo(float32).min

// Emits the decoder while fetching each weight just before its first use, so a weight source
// backed by a file releases its copy as the graph fills up.
class OptGraph {
 public:
  OptGraph(const OptConfig& c, const OptBuildOptions& o, WeightSource& w)
      : c_(c), o_(o), w_(w), b_(o.opset, c.name) {}

  Model build() {
    declare_io();
    GraphBuilder::Scope model_scope(b_, "model");
    GraphBuilder::Scope decoder_scope(b_, "decoder");
    std::string h = embeddings();
    std::string mask = attention_mask_4d();
    for (int64_t i = 0; i < c_.num_layers; ++i) h = decoder_layer(i, h, mask);
    if (c_.has_final_layer_norm()) {
      GraphBuilder::Scope s(b_, "final_layer_norm");
      h = layer_norm(b_, h, norm_weight(prefix_ + "final_layer_norm.weight"),
                     norm_bias(prefix_ + "final_layer_norm.bias"), c_.layer_norm_eps);
    }
    if (c_.has_projection()) {
      GraphBuilder::Scope s(b_, "project_out");
      h = linear(
          b_, h,
          linear_weight(prefix_ + "project_out.weight", c_.word_embed_proj_dim, c_.hidden_size),
          "");
    }
    lm_head(h);
    return b_.finish();
  }

 private:
  // ---- weights (names and shapes exactly as HF's state dict) ----
  std::string embedding(const std::string& name, int64_t rows, int64_t cols) {
    return b_.add_initializer(name, w_.fetch({name, {rows, cols}, Init::kNormal}));
  }
  std::string linear_weight(const std::string& name, int64_t out, int64_t in) {
    return b_.add_initializer(transposed_name(name),
                              w_.fetch_transposed({name, {out, in}, Init::kNormal}));
  }
  std::string vector_param(const std::string& name, int64_t n, Init init) {
    return b_.add_initializer(name, w_.fetch({name, {n}, init}));
  }
  std::string bias(const std::string& name, int64_t n) {
    return vector_param(name, n, Init::kZeros);
  }
  std::string norm_weight(const std::string& name) {
    return vector_param(name, c_.hidden_size, Init::kOnes);
  }
  std::string norm_bias(const std::string& name) {
    return vector_param(name, c_.hidden_size, Init::kZeros);
  }
  // Linear layer `<prefix><module>` with bias: [*, in] -> [*, out].
  std::string dense(const std::string& module, const std::string& x, int64_t out, int64_t in) {
    GraphBuilder::Scope s(b_, module);
    const std::string base = scope_prefix_ + module;
    return linear(b_, x, linear_weight(base + ".weight", out, in), bias(base + ".bias", out));
  }
  std::string layer_norm_module(const std::string& module, const std::string& x) {
    GraphBuilder::Scope s(b_, module);
    const std::string base = scope_prefix_ + module;
    return layer_norm(b_, x, norm_weight(base + ".weight"), norm_bias(base + ".bias"),
                      c_.layer_norm_eps);
  }

  // ---- graph pieces ----
  void declare_io() {
    const Dim batch = symbolic_dim("batch"), seq = symbolic_dim("sequence");
    const Dim past = symbolic_dim("past_sequence"), total = symbolic_dim("past_sequence+sequence");
    const Dim heads = fixed_dim(c_.num_heads), head_dim = fixed_dim(c_.head_dim());
    b_.add_input("input_ids", DType::kInt64, {batch, seq});
    b_.add_input("attention_mask", DType::kInt64, {batch, o_.kv_cache ? total : seq});
    b_.add_output("logits", DType::kFloat32, {batch, seq, fixed_dim(c_.vocab_size)});
    if (!o_.kv_cache) return;
    for (int64_t i = 0; i < c_.num_layers; ++i) {
      for (bool key : {true, false}) {
        b_.add_input(opt_past_name(i, key), DType::kFloat32, {batch, heads, past, head_dim});
      }
    }
    for (int64_t i = 0; i < c_.num_layers; ++i) {
      for (bool key : {true, false}) {
        b_.add_output(opt_present_name(i, key), DType::kFloat32, {batch, heads, total, head_dim});
      }
    }
  }

  // Shape scalars: S (query length), T (key length = past + S), P = T - S (past length).
  void shape_scalars() {
    seq_len_ = b_.op("Gather", {b_.op("Shape", {"input_ids"}), b_.const_i64(1)});
    total_len_ = b_.op("Gather", {b_.op("Shape", {"attention_mask"}), b_.const_i64(1)});
    past_len_ = b_.op("Sub", {total_len_, seq_len_});
  }

  // inputs_embeds (+ project_in) + OPTLearnedPositionalEmbedding(attention_mask, past).
  std::string embeddings() {
    std::string tokens;
    {
      GraphBuilder::Scope s(b_, "embed_tokens");
      embed_tokens_ =
          embedding(prefix_ + "embed_tokens.weight", c_.vocab_size, c_.word_embed_proj_dim);
      tokens = b_.op("Gather", {embed_tokens_, "input_ids"}, {{"axis", Attribute::of_int(0)}});
    }
    shape_scalars();
    std::string positions;
    {
      GraphBuilder::Scope s(b_, "embed_positions");
      // positions = cumsum(mask, 1) * mask - 1, keep the last S columns, + offset 2.
      std::string cum = b_.op("CumSum", {"attention_mask", b_.const_i64(1)});
      std::string pos = b_.op("Sub", {b_.op("Mul", {cum, "attention_mask"}), b_.const_i64(1)});
      std::string starts = b_.op("Unsqueeze", {past_len_, b_.const_i64s({0})});
      pos = b_.op("Slice", {pos, starts, b_.const_i64s({std::numeric_limits<int64_t>::max()}),
                            b_.const_i64s({1})});
      pos = b_.op("Add", {pos, b_.const_i64(kOptPositionOffset)});
      std::string table = embedding(prefix_ + "embed_positions.weight",
                                    c_.max_positions + kOptPositionOffset, c_.hidden_size);
      positions = b_.op("Gather", {table, pos}, {{"axis", Attribute::of_int(0)}});
    }
    if (c_.has_projection()) {
      GraphBuilder::Scope s(b_, "project_in");
      tokens = linear(
          b_, tokens,
          linear_weight(prefix_ + "project_in.weight", c_.hidden_size, c_.word_embed_proj_dim), "");
    }
    return b_.op("Add", {tokens, positions});
  }

  // HF's 4-D additive mask [B, 1, S, T]: float-min where key j > query i + P (causal) or where
  // attention_mask is 0 (padding), else 0. Where, not addition, so no -inf can arise.
  std::string attention_mask_4d() {
    GraphBuilder::Scope s(b_, "attn_mask");
    std::string one = b_.const_i64(1);
    std::string q_pos = b_.op("Range", {past_len_, total_len_, one});
    std::string k_pos = b_.op("Range", {b_.const_i64(0), total_len_, one});
    std::string causal = b_.op("Greater", {b_.op("Unsqueeze", {k_pos, b_.const_i64s({0})}),
                                           b_.op("Unsqueeze", {q_pos, b_.const_i64s({1})})});
    std::string padded = b_.op("Equal", {"attention_mask", b_.const_i64(0)});
    padded = b_.op("Unsqueeze", {padded, b_.const_i64s({1, 2})});
    std::string masked = b_.op("Or", {padded, causal});
    return b_.op("Where", {masked, b_.const_f32(kFloatMin), b_.const_f32(0.0f)});
  }

  std::string self_attention(int64_t layer, const std::string& x, const std::string& mask) {
    GraphBuilder::Scope s(b_, "self_attn");
    const std::string saved = scope_prefix_;
    scope_prefix_ += "self_attn.";
    const int64_t d = c_.hidden_size, heads = c_.num_heads, hd = c_.head_dim();
    const float scaling = 1.0f / std::sqrt(static_cast<float>(hd));
    std::string q = b_.op("Mul", {dense("q_proj", x, d, d), b_.const_f32(scaling)});
    std::string k = dense("k_proj", x, d, d);
    std::string v = dense("v_proj", x, d, d);
    std::string qh = split_heads(b_, q, heads, hd, {0, 2, 1, 3});
    std::string k_t, vh;
    if (o_.kv_cache) {
      auto concat_past = [&](const std::string& cur, bool key) {
        return b_
            .add_node("Concat", {opt_past_name(layer, key), cur}, {{"axis", Attribute::of_int(2)}},
                      1, {opt_present_name(layer, key)})
            .front();
      };
      std::string present_k = concat_past(split_heads(b_, k, heads, hd, {0, 2, 1, 3}), true);
      k_t = b_.op("Transpose", {present_k}, {{"perm", Attribute::of_ints({0, 1, 3, 2})}});
      vh = concat_past(split_heads(b_, v, heads, hd, {0, 2, 1, 3}), false);
    } else {
      k_t = split_heads(b_, k, heads, hd, {0, 2, 3, 1});
      vh = split_heads(b_, v, heads, hd, {0, 2, 1, 3});
    }
    std::string scores = b_.op("Add", {b_.op("MatMul", {qh, k_t}), mask});
    scores = b_.op("Max", {scores, b_.const_f32(kFloatMin)});
    std::string probs = b_.op("Softmax", {scores}, {{"axis", Attribute::of_int(-1)}});
    std::string ctx = merge_heads(b_, b_.op("MatMul", {probs, vh}), d);
    std::string out = dense("out_proj", ctx, d, d);
    scope_prefix_ = saved;
    return out;
  }

  std::string decoder_layer(int64_t i, const std::string& input, const std::string& mask) {
    GraphBuilder::Scope s(b_, "layers." + std::to_string(i));
    scope_prefix_ = prefix_ + "layers." + std::to_string(i) + ".";
    const bool pre = c_.do_layer_norm_before;
    std::string h = input;
    std::string x = pre ? layer_norm_module("self_attn_layer_norm", h) : h;
    h = b_.op("Add", {h, self_attention(i, x, mask)});
    if (!pre) h = layer_norm_module("self_attn_layer_norm", h);
    x = pre ? layer_norm_module("final_layer_norm", h) : h;
    x = dense("fc1", x, c_.ffn_dim, c_.hidden_size);
    x = b_.op("Relu", {x});
    x = dense("fc2", x, c_.hidden_size, c_.ffn_dim);
    h = b_.op("Add", {h, x});
    if (!pre) h = layer_norm_module("final_layer_norm", h);
    scope_prefix_.clear();
    return h;
  }

  // Tied head: [B, S, E] -> [B*S, E] -> Gemm(transB=1) with embed_tokens [V, E] -> [B, S, V].
  void lm_head(const std::string& h) {
    GraphBuilder::Scope s(b_, "lm_head");
    std::string flat = b_.op("Reshape", {h, b_.const_i64s({-1, c_.word_embed_proj_dim})});
    std::string logits = b_.op("Gemm", {flat, embed_tokens_}, {{"transB", Attribute::of_int(1)}});
    std::string shape =
        b_.op("Concat", {b_.op("Shape", {"input_ids"}), b_.const_i64s({c_.vocab_size})},
              {{"axis", Attribute::of_int(0)}});
    b_.add_node("Reshape", {logits, shape}, {}, 1, {"logits"});
  }

  const OptConfig& c_;
  const OptBuildOptions& o_;
  WeightSource& w_;
  GraphBuilder b_;
  const std::string prefix_ = "model.decoder.";
  std::string scope_prefix_;  // HF name prefix of the module being emitted
  std::string embed_tokens_, seq_len_, total_len_, past_len_;
};

}  // namespace

std::string opt_past_name(int64_t layer, bool key) {
  return "past_key_values." + std::to_string(layer) + (key ? ".key" : ".value");
}

std::string opt_present_name(int64_t layer, bool key) {
  return "present." + std::to_string(layer) + (key ? ".key" : ".value");
}

Model build_opt(const OptConfig& config, const OptBuildOptions& options, WeightSource& weights) {
  config.validate();
  SQ_CHECK(options.opset >= 14 && options.opset <= 17, "OPT builder: unsupported opset ",
           options.opset, " (expected 14 to 17)");
  Model model = OptGraph(config, options, weights).build();
  model.metadata["softquant.model"] = "opt";
  model.metadata["softquant.config"] = config.summary();
  const int64_t counted = count_parameters(model), expected = opt_parameter_count(config);
  SQ_CHECK(counted == expected, "OPT builder: the graph holds ", counted,
           " parameters but the config implies ", expected, " (internal error)");
  return model;
}

TensorMap opt_inputs(int64_t batch, int64_t seq, int64_t vocab, uint64_t seed) {
  SQ_CHECK(batch > 0 && seq > 0 && vocab > 0,
           "OPT inputs: batch, sequence and vocab must be "
           "positive (got ",
           batch, ", ", seq, ", ", vocab, ")");
  Tensor ids(DType::kInt64, {batch, seq});
  Prng rng(stream_seed(seed, "input_ids"));
  int64_t* p = ids.data<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) p[i] = static_cast<int64_t>(rng.below(vocab));
  Tensor mask(DType::kInt64, {batch, seq});
  std::fill_n(mask.data<int64_t>(), mask.numel(), int64_t{1});
  return {{"input_ids", ids}, {"attention_mask", mask}};
}

}  // namespace sq
