#include "models/sd_attn_builder.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "models/graph_builder.h"
#include "models/nn_layers.h"
#include "models/synthetic.h"

namespace sq {

namespace {

class SdAttnGraph {
 public:
  SdAttnGraph(const SdAttnOptions& o, WeightSource& w)
      : o_(o), c_(o.channels), w_(&w), b_(o.opset, "sd_attn") {}

  Model build() {
    const Dim one = fixed_dim(1), ch = fixed_dim(c_), sz = fixed_dim(o_.size);
    b_.add_input("latent", DType::kFloat32, {one, ch, sz, sz});
    b_.add_input("context", DType::kFloat32,
                 {one, fixed_dim(kSdContextLength), fixed_dim(kSdContextDim)});
    b_.add_output("out", DType::kFloat32, {one, ch, sz, sz});

    const int64_t s = o_.size, hw = s * s;
    std::string h = group_norm("latent");
    h = conv1x1("proj_in", h);
    h = b_.op("Transpose", {h}, {{"perm", Attribute::of_ints({0, 2, 3, 1})}});
    h = b_.op("Reshape", {h, b_.const_i64s({1, hw, c_})});
    {
      GraphBuilder::Scope blocks(b_, "transformer_blocks.0");
      prefix_ = "transformer_blocks.0.";
      h = basic_transformer_block(h);
      prefix_.clear();
    }
    h = b_.op("Reshape", {h, b_.const_i64s({1, s, s, c_})});
    h = b_.op("Transpose", {h}, {{"perm", Attribute::of_ints({0, 3, 1, 2})}});
    h = conv1x1("proj_out", h);
    b_.add_node("Add", {h, "latent"}, {}, 1, {"out"});
    return b_.finish();
  }

 private:
  // ---- synthetic weights, diffusers names, N(0, 0.02) unless stated ----
  std::string param(const std::string& name, Shape shape, Init init, float stddev = 0.02f) {
    return b_.add_initializer(name, w_->fetch({name, std::move(shape), init, stddev}));
  }
  std::string linear_weight(const std::string& name, int64_t out, int64_t in,
                            float stddev = 0.02f) {
    return b_.add_initializer(transposed_name(name),
                              w_->fetch_transposed({name, {out, in}, Init::kNormal, stddev}));
  }

  // torch's GroupNorm export: Reshape [1, G, -1] -> InstanceNormalization(unit scale, zero
  // bias) -> Reshape back -> Mul gamma [C,1,1] -> Add beta [C,1,1].
  std::string group_norm(const std::string& x) {
    GraphBuilder::Scope s(b_, "norm");
    Tensor ones(DType::kFloat32, {kSdGroups});
    std::fill_n(ones.data<float>(), kSdGroups, 1.0f);
    std::string scale = b_.constant(ones, "group_norm_scale");
    std::string zero = b_.constant(Tensor::zeros(DType::kFloat32, {kSdGroups}), "group_norm_bias");
    std::string r = b_.op("Reshape", {x, b_.const_i64s({1, kSdGroups, -1})});
    r = b_.op("InstanceNormalization", {r, scale, zero}, {{"epsilon", Attribute::of_float(1e-6f)}});
    r = b_.op("Reshape", {r, b_.const_i64s({1, c_, o_.size, o_.size})});
    Tensor gamma = w_->fetch({"norm.weight", {c_}, Init::kOnes}).reshaped({c_, 1, 1});
    Tensor beta = w_->fetch({"norm.bias", {c_}, Init::kZeros}).reshaped({c_, 1, 1});
    r = b_.op("Mul", {r, b_.add_initializer("norm.weight", std::move(gamma))});
    return b_.op("Add", {r, b_.add_initializer("norm.bias", std::move(beta))});
  }

  // Synthetic projections keep their input's scale (std 1/sqrt(fan_in)), so the block changes
  // the latent as much as a trained block does instead of vanishing under the residual, and an
  // error inside the block (e.g. softmax quantization) shows in the block's output.
  static float unit_gain_std(int64_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); }

  std::string conv1x1(const std::string& module, const std::string& x) {
    GraphBuilder::Scope s(b_, module);
    std::string w = param(module + ".weight", {c_, c_, 1, 1}, Init::kNormal, unit_gain_std(c_));
    std::string bias = param(module + ".bias", {c_}, Init::kZeros);
    return b_.op("Conv", {x, w, bias}, {{"kernel_shape", Attribute::of_ints({1, 1})}});
  }

  std::string norm(const std::string& module, const std::string& x) {
    GraphBuilder::Scope s(b_, module);
    const std::string base = prefix_ + module;
    return layer_norm(b_, x, param(base + ".weight", {c_}, Init::kOnes),
                      param(base + ".bias", {c_}, Init::kZeros), 1e-5f);
  }

  // diffusers Attention + AttnProcessor: to_q/k/v without bias, softmax(q k^T * scale) v,
  // to_out.0 with bias. `context` is "" for self-attention.
  std::string attention(const std::string& module, const std::string& x,
                        const std::string& context) {
    GraphBuilder::Scope s(b_, module);
    const std::string base = prefix_ + module + ".";
    const int64_t hd = c_ / kSdHeads;
    const bool cross = !context.empty();
    const std::string& kv_in = cross ? context : x;
    const int64_t kv_dim = cross ? kSdContextDim : c_;
    const float q_std = static_cast<float>(sd_qk_weight_std(c_));
    const float k_std = static_cast<float>(sd_qk_weight_std(kv_dim));
    auto proj = [&](const std::string& name, const std::string& in, int64_t in_dim, float sd) {
      GraphBuilder::Scope ps(b_, name);
      return linear(b_, in, linear_weight(base + name + ".weight", c_, in_dim, sd), "");
    };
    std::string q = proj("to_q", x, c_, q_std);
    std::string k = proj("to_k", kv_in, kv_dim, k_std);
    std::string v = proj("to_v", kv_in, kv_dim, unit_gain_std(kv_dim));
    std::string scores = b_.op("MatMul", {split_heads(b_, q, kSdHeads, hd, {0, 2, 1, 3}),
                                          split_heads(b_, k, kSdHeads, hd, {0, 2, 3, 1})});
    scores = b_.op("Mul", {scores, b_.const_f32(1.0f / std::sqrt(static_cast<float>(hd)))});
    std::string probs = b_.op("Softmax", {scores}, {{"axis", Attribute::of_int(-1)}});
    std::string ctx = b_.op("MatMul", {probs, split_heads(b_, v, kSdHeads, hd, {0, 2, 1, 3})});
    ctx = merge_heads(b_, ctx, c_);
    GraphBuilder::Scope out_scope(b_, "to_out.0");
    return linear(b_, ctx, linear_weight(base + "to_out.0.weight", c_, c_, unit_gain_std(c_)),
                  param(base + "to_out.0.bias", {c_}, Init::kZeros));
  }

  // GEGLU: proj C -> 8C, hidden * gelu(gate), then Linear 4C -> C.
  std::string feed_forward(const std::string& x) {
    GraphBuilder::Scope s(b_, "ff");
    const std::string base = prefix_ + "ff.net.";
    const int64_t inner = 4 * c_;
    std::string h;
    {
      GraphBuilder::Scope ps(b_, "net.0");
      h = linear(b_, x, linear_weight(base + "0.proj.weight", 2 * inner, c_, unit_gain_std(c_)),
                 param(base + "0.proj.bias", {2 * inner}, Init::kZeros));
      auto halves = b_.add_node("Split", {h, b_.const_i64s({inner, inner})},
                                {{"axis", Attribute::of_int(-1)}}, 2);
      h = b_.op("Mul", {halves[0], gelu(b_, halves[1], o_.gelu_op)});
    }
    GraphBuilder::Scope ps(b_, "net.2");
    return linear(b_, h, linear_weight(base + "2.weight", c_, inner, unit_gain_std(inner)),
                  param(base + "2.bias", {c_}, Init::kZeros));
  }

  std::string basic_transformer_block(std::string h) {
    h = b_.op("Add", {attention("attn1", norm("norm1", h), ""), h});
    h = b_.op("Add", {attention("attn2", norm("norm2", h), "context"), h});
    return b_.op("Add", {feed_forward(norm("norm3", h)), h});
  }

  const SdAttnOptions& o_;
  const int64_t c_;
  WeightSource* w_;
  GraphBuilder b_;
  std::string prefix_;
};

}  // namespace

double sd_qk_weight_std(int64_t fan_in, double target_logit_std) {
  return std::sqrt(target_logit_std / static_cast<double>(fan_in));
}

int64_t sd_attn_parameter_count(int64_t c) {
  const int64_t cross = kSdContextDim;
  int64_t n = 2 * c;                           // GroupNorm
  n += 2 * (c * c + c);                        // proj_in, proj_out (1x1 conv)
  n += 3 * 2 * c;                              // norm1..3
  n += 4 * c * c + c;                          // attn1: q, k, v, out (+ out bias)
  n += 2 * c * c + 2 * c * cross + c;          // attn2: q, out from C; k, v from 768
  n += (8 * c * c + 8 * c) + (4 * c * c + c);  // GEGLU proj, ff.net.2
  return n;
}

Model build_sd_attn(const SdAttnOptions& options) {
  auto weights = make_synthetic_weights(options.seed);
  return build_sd_attn(options, *weights);
}

Model build_sd_attn(const SdAttnOptions& options, WeightSource& weights) {
  const int64_t c = options.channels;
  SQ_CHECK(c > 0 && c % kSdGroups == 0 && c % kSdHeads == 0, "SD attention block: channels ", c,
           " must be a positive multiple of ", kSdGroups, " (GroupNorm groups) and ", kSdHeads,
           " (heads)");
  SQ_CHECK(options.size > 0, "SD attention block: size must be positive, got ", options.size);
  SQ_CHECK(options.opset >= 14 && options.opset <= 17, "SD attention block: unsupported opset ",
           options.opset, " (expected 14 to 17)");
  Model model = SdAttnGraph(options, weights).build();
  model.metadata["softquant.model"] = "sd-attn";
  model.metadata["softquant.config"] = "channels " + std::to_string(c) + ", size " +
                                       std::to_string(options.size) + ", " +
                                       std::to_string(kSdHeads) + " heads";
  const int64_t counted = count_parameters(model), expected = sd_attn_parameter_count(c);
  SQ_CHECK(counted == expected, "SD attention builder: the graph holds ", counted,
           " parameters but ", expected, " were expected (internal error)");
  return model;
}

TensorMap sd_attn_inputs(int64_t channels, int64_t size, uint64_t seed) {
  SQ_CHECK(channels > 0 && size > 0, "SD inputs: channels and size must be positive");
  return {{"latent", normal_tensor({1, channels, size, size}, 1.0f, stream_seed(seed, "latent"))},
          {"context", normal_tensor({1, kSdContextLength, kSdContextDim}, 1.0f,
                                    stream_seed(seed, "context"))}};
}

}  // namespace sq
