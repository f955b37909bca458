// The model builders: OPT (parameter count, KV cache, padding, causality, HF reference logits)
// and the SD v1.5 attention block (shapes, attention-logit scale), plus `softquant models`.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "models/flat_json.h"
#include "models/graph_builder.h"
#include "models/opt_builder.h"
#include "models/opt_config.h"
#include "models/sd_attn_builder.h"
#include "models/synthetic.h"
#include "models/weight_source.h"
#include "runtime/engine/reference_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

namespace fs = std::filesystem;

Model build_opt_synthetic(const std::string& config, OptBuildOptions options = {},
                          uint64_t seed = 0) {
  auto weights = make_synthetic_weights(seed);
  return build_opt(opt_config(config), options, *weights);
}

// Saves to disk and loads back, so every test also covers the ONNX round trip.
std::shared_ptr<const Model> round_trip(const Model& model) {
  std::string path = temp_dir() + "/model.onnx";
  save_onnx(model, path);
  return std::make_shared<const Model>(load_onnx(path));
}

TensorMap run(const std::shared_ptr<const Model>& model, const TensorMap& inputs,
              const ReferenceEngine::Observer* observer = nullptr) {
  ReferenceEngine engine(model);
  ThreadPool pool(2);
  return engine.run(inputs, pool, observer);
}

Tensor ids_tensor(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from_vector<int64_t>(
      {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, flat);
}

Tensor ones_mask(int64_t batch, int64_t len) {
  return Tensor::from_vector<int64_t>({batch, len}, std::vector<int64_t>(batch * len, 1));
}

// Token ids 0..n-1 scrambled deterministically, within vocab.
std::vector<int64_t> tokens(int64_t n, int64_t vocab, uint64_t seed = 7) {
  Prng rng(seed);
  std::vector<int64_t> t(n);
  for (auto& v : t) v = static_cast<int64_t>(rng.below(vocab));
  return t;
}

// Slice [b, s0:s1, :] of a [B, S, V] float tensor as a vector.
std::vector<float> rows_of(const Tensor& t, int64_t b, int64_t s0, int64_t s1) {
  const int64_t s = t.dim(1), v = t.dim(2);
  const float* p = t.data<float>() + (b * s + s0) * v;
  return std::vector<float>(p, p + (s1 - s0) * v);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

bool all_finite(const Tensor& t) {
  for (float v : t.to_float_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Configs and parameter counts

TEST(OptConfig, ParameterCountOpt125mFromTheBuiltGraph) {
  EXPECT_EQ(opt_parameter_count(opt_config("opt-125m")), 125239296);
  Model model = build_opt_synthetic("opt-125m");  // built, not run
  EXPECT_EQ(count_parameters(model), 125239296);
  // The tied LM head reads embed_tokens itself: no transposed [768, 50272] copy exists.
  for (const auto& [name, t] : model.graph.initializers) {
    EXPECT_FALSE(t.shape() == Shape({768, 50272})) << name;
  }
  const Node* gemm = nullptr;
  for (const auto& n : model.graph.nodes) {
    if (n.op_type == "Gemm") gemm = &n;
  }
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->inputs[1], "model.decoder.embed_tokens.weight");
  EXPECT_EQ(gemm->attr_int("transB"), 1);
  EXPECT_EQ(model.graph.initializers.at("model.decoder.embed_positions.weight").shape(),
            Shape({2050, 768}));
}

TEST(OptConfig, ParameterCountOpt350mMatchesHuggingFace) {
  OptConfig c = opt_config("opt-350m");
  EXPECT_TRUE(c.has_projection());
  EXPECT_FALSE(c.has_final_layer_norm());
  EXPECT_EQ(opt_parameter_count(c), 331196416);  // HF's count for facebook/opt-350m
}

TEST(OptConfig, UnknownNameListsTheKnownOnes) {
  try {
    opt_config("opt-7b");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("opt-125m"), std::string::npos) << e.what();
  }
}

TEST(OptConfig, ReadsHuggingFaceConfigJson) {
  std::string dir = temp_dir();
  write_bytes(dir + "/config.json", R"({
    "architectures": ["OPTForCausalLM"], "activation_function": "relu",
    "hidden_size": 96, "num_hidden_layers": 3, "num_attention_heads": 6, "ffn_dim": 192,
    "vocab_size": 300, "max_position_embeddings": 64, "word_embed_proj_dim": 48,
    "do_layer_norm_before": false, "nested": {"a": [1, "}"]}, "dropout": 0.1, "x": null})");
  OptConfig c = opt_config(dir + "/config.json");
  EXPECT_EQ(c.hidden_size, 96);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 6);
  EXPECT_EQ(c.ffn_dim, 192);
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_EQ(c.max_positions, 64);
  EXPECT_EQ(c.word_embed_proj_dim, 48);
  EXPECT_FALSE(c.do_layer_norm_before);
  EXPECT_EQ(c.name, fs::path(dir).filename().string());  // <dir>/config.json is named <dir>

  write_bytes(dir + "/bad.json", R"({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
    "ffn_dim": 8, "max_position_embeddings": 16})");
  try {
    opt_config(dir + "/bad.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_attention_heads"), std::string::npos) << e.what();
  }
  write_bytes(dir + "/broken.json", R"({"hidden_size": 64,)");
  EXPECT_THROW(opt_config(dir + "/broken.json"), Error);
  write_bytes(dir + "/gelu.json", R"({"activation_function": "gelu"})");
  EXPECT_THROW(opt_config(dir + "/gelu.json"), Error);
}

TEST(OptConfig, ThousandsSeparators) {
  EXPECT_EQ(with_thousands(125239296), "125,239,296");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(0), "0");
}

// ---------------------------------------------------------------------------------------------
// Builder mechanics

TEST(GraphBuilder, NamesAreUniqueAndConstantsShared) {
  GraphBuilder b(14, "g");
  b.add_input("x", DType::kFloat32, {symbolic_dim("n")});
  std::string y;
  {
    GraphBuilder::Scope s(b, "blk");
    y = b.op("Add", {"x", b.const_f32(1.0f)});
    y = b.op("Add", {y, b.const_f32(1.0f)});
  }
  b.add_initializer("w", Tensor::scalar_f32(2.0f));
  b.add_node("Mul", {y, "w"}, {}, 1, {"out"});
  b.add_output("out", DType::kFloat32, {symbolic_dim("n")});
  EXPECT_EQ(b.parameter_count(), 1);
  Model m = b.finish();
  ASSERT_EQ(m.graph.nodes.size(), 3u);
  EXPECT_EQ(m.graph.nodes[0].name, "/blk/Add");
  EXPECT_EQ(m.graph.nodes[1].name, "/blk/Add_1");
  EXPECT_EQ(m.graph.initializers.size(), 2u);  // one shared constant + w
  EXPECT_EQ(count_parameters(m), 1);
}

TEST(GraphBuilder, UnproducedOutputIsAnError) {
  GraphBuilder b(14, "g");
  b.add_output("nothing", DType::kFloat32, {});
  EXPECT_THROW(b.finish(), Error);
}

TEST(Synthetic, NormalSamplesHaveTheRequestedMoments) {
  Tensor t = normal_tensor({200000}, 0.02f, stream_seed(0, "x"));
  double sum = 0, sq = 0;
  for (float v : t.to_float_vector()) {
    sum += v;
    sq += double(v) * v;
  }
  double mean = sum / t.numel(), sd = std::sqrt(sq / t.numel() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 2e-4);
  EXPECT_NEAR(sd, 0.02, 2e-4);
  // Deterministic, and different names give different streams.
  Tensor again = normal_tensor({200000}, 0.02f, stream_seed(0, "x"));
  EXPECT_EQ(t.to_float_vector(), again.to_float_vector());
  EXPECT_NE(normal_tensor({8}, 1.0f, stream_seed(0, "y")).to_float_vector(),
            normal_tensor({8}, 1.0f, stream_seed(0, "x")).to_float_vector());
}

// ---------------------------------------------------------------------------------------------
// OPT numerics (opt-tiny)

TEST(OptTiny, LoadsBackAndRunsWithFiniteLogits) {
  for (int64_t opset : {14, 17}) {
    OptBuildOptions options;
    options.opset = opset;
    auto model = round_trip(build_opt_synthetic("opt-tiny", options));
    EXPECT_EQ(model->opset(), opset);
    TensorMap out = run(model, opt_inputs(2, 9, 256, 1));
    const Tensor& logits = out.at("logits");
    EXPECT_EQ(logits.shape(), Shape({2, 9, 256}));
    EXPECT_TRUE(all_finite(logits));
  }
}

TEST(OptTiny, Opset14And17AgreeAndDecomposeLayerNormAsTorch) {
  OptBuildOptions o14, o17;
  o17.opset = 17;
  Model m14 = build_opt_synthetic("opt-tiny", o14), m17 = build_opt_synthetic("opt-tiny", o17);
  std::multiset<std::string> ops14, ops17;
  for (const auto& n : m14.graph.nodes) ops14.insert(n.op_type);
  for (const auto& n : m17.graph.nodes) ops17.insert(n.op_type);
  EXPECT_EQ(ops14.count("LayerNormalization"), 0u);
  EXPECT_EQ(ops14.count("Sqrt"), 5u);  // 2 layers x 2 + final
  EXPECT_EQ(ops17.count("LayerNormalization"), 5u);
  TensorMap in = opt_inputs(1, 6, 256, 3);
  Tensor a = run(std::make_shared<const Model>(std::move(m14)), in).at("logits");
  Tensor b = run(std::make_shared<const Model>(std::move(m17)), in).at("logits");
  EXPECT_LT(max_abs_diff(a.to_float_vector(), b.to_float_vector()), 1e-4f);
}

// Runs a full forward, then prefill + one step with the KV-cache graph, and compares.
void expect_kv_cache_consistent(const std::string& config_spec, const OptConfig& config) {
  auto full_model = std::make_shared<const Model>(build_opt_synthetic(config_spec));
  OptBuildOptions kv;
  kv.kv_cache = true;
  auto kv_model = round_trip(build_opt_synthetic(config_spec, kv));
  const int64_t n = 12, prefix = 7, vocab = config.vocab_size;
  std::vector<int64_t> ids = tokens(n, vocab);
  Tensor full =
      run(full_model, {{"input_ids", ids_tensor({ids})}, {"attention_mask", ones_mask(1, n)}})
          .at("logits");

  // Prefill with an empty past.
  TensorMap feeds = {{"input_ids", ids_tensor({{ids.begin(), ids.begin() + prefix}})},
                     {"attention_mask", ones_mask(1, prefix)}};
  for (int64_t l = 0; l < config.num_layers; ++l) {
    for (bool key : {true, false}) {
      feeds[opt_past_name(l, key)] =
          Tensor::zeros(DType::kFloat32, {1, config.num_heads, 0, config.head_dim()});
    }
  }
  TensorMap pre = run(kv_model, feeds);
  EXPECT_EQ(pre.at(opt_present_name(0, true)).shape(),
            Shape({1, config.num_heads, prefix, config.head_dim()}));
  // Step with the remaining tokens fed the present tensors.
  feeds = {{"input_ids", ids_tensor({{ids.begin() + prefix, ids.end()}})},
           {"attention_mask", ones_mask(1, n)}};
  for (int64_t l = 0; l < config.num_layers; ++l) {
    for (bool key : {true, false}) feeds[opt_past_name(l, key)] = pre.at(opt_present_name(l, key));
  }
  TensorMap step = run(kv_model, feeds);
  EXPECT_EQ(step.at(opt_present_name(config.num_layers - 1, false)).shape(),
            Shape({1, config.num_heads, n, config.head_dim()}));
  EXPECT_LT(max_abs_diff(rows_of(full, 0, 0, prefix), rows_of(pre.at("logits"), 0, 0, prefix)),
            1e-5f);
  EXPECT_LT(max_abs_diff(rows_of(full, 0, prefix, n), rows_of(step.at("logits"), 0, 0, n - prefix)),
            1e-5f);
}

TEST(OptTiny, KvCachePrefillThenStepEqualsFullForward) {
  expect_kv_cache_consistent("opt-tiny", opt_config("opt-tiny"));
}

TEST(OptTiny, KvCacheGraphDeclaresOptimumNames) {
  OptBuildOptions kv;
  kv.kv_cache = true;
  Model m = build_opt_synthetic("opt-tiny", kv);
  std::vector<std::string> outs;
  for (const auto& vi : m.graph.outputs) outs.push_back(vi.name);
  EXPECT_EQ(outs, (std::vector<std::string>{"logits", "present.0.key", "present.0.value",
                                            "present.1.key", "present.1.value"}));
  const ValueInfo* past = m.graph.find_value_info("past_key_values.1.value");
  ASSERT_NE(past, nullptr);
  ASSERT_EQ(past->dims.size(), 4u);
  EXPECT_EQ(past->dims[0].param, "batch");
  EXPECT_EQ(past->dims[1].value, 4);
  EXPECT_EQ(past->dims[2].param, "past_sequence");
  EXPECT_EQ(past->dims[3].value, 16);
  EXPECT_EQ(m.graph.find_value_info("attention_mask")->dims[1].param, "past_sequence+sequence");
}

TEST(OptTiny, LeftPaddedRowMatchesTheUnpaddedRow) {
  auto model = std::make_shared<const Model>(build_opt_synthetic("opt-tiny"));
  const int64_t n = 6, pad = 3;
  std::vector<int64_t> ids = tokens(n, 256);
  Tensor alone = run(model, {{"input_ids", ids_tensor({ids})}, {"attention_mask", ones_mask(1, n)}})
                     .at("logits");
  std::vector<int64_t> padded_ids(pad, 1);
  padded_ids.insert(padded_ids.end(), ids.begin(), ids.end());
  std::vector<int64_t> other = tokens(n + pad, 256, 99);
  std::vector<int64_t> mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  Tensor batch = run(model, {{"input_ids", ids_tensor({other, padded_ids})},
                             {"attention_mask", Tensor::from_vector<int64_t>({2, n + pad}, mask)}})
                     .at("logits");
  EXPECT_TRUE(all_finite(batch));  // fully masked rows (padding queries) stay finite
  EXPECT_LT(max_abs_diff(rows_of(alone, 0, 0, n), rows_of(batch, 1, pad, n + pad)), 1e-5f);
}

TEST(OptTiny, ChangingTheLastTokenLeavesEarlierLogitsBitIdentical) {
  auto model = std::make_shared<const Model>(build_opt_synthetic("opt-tiny"));
  std::vector<int64_t> a = tokens(10, 256), b = a;
  b.back() = (a.back() + 17) % 256;
  Tensor la = run(model, {{"input_ids", ids_tensor({a})}, {"attention_mask", ones_mask(1, 10)}})
                  .at("logits");
  Tensor lb = run(model, {{"input_ids", ids_tensor({b})}, {"attention_mask", ones_mask(1, 10)}})
                  .at("logits");
  EXPECT_EQ(rows_of(la, 0, 0, 9), rows_of(lb, 0, 0, 9));  // bit-identical
  EXPECT_GT(max_abs_diff(rows_of(la, 0, 9, 10), rows_of(lb, 0, 9, 10)), 0.0f);
}

// A small opt-350m-shaped config: post-LN, no final LayerNorm, project_in / project_out.
TEST(OptPostLn, ProjectedPostLnConfigRunsAndKeepsTheKvCacheConsistent) {
  std::string dir = temp_dir();
  write_bytes(dir + "/config.json", R"({"hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "ffn_dim": 128, "vocab_size": 200, "max_position_embeddings": 64,
    "word_embed_proj_dim": 32, "do_layer_norm_before": false})");
  OptConfig c = opt_config(dir + "/config.json");
  Model m = build_opt_synthetic(dir + "/config.json");
  EXPECT_EQ(count_parameters(m), opt_parameter_count(c));
  EXPECT_TRUE(m.graph.is_initializer("model.decoder.project_in.weight.T"));
  EXPECT_FALSE(m.graph.is_initializer("model.decoder.final_layer_norm.weight"));
  expect_kv_cache_consistent(dir + "/config.json", c);
}

// ---------------------------------------------------------------------------------------------
// Real weights

// Writes a built model's weights as HF/diffusers-named, torch-layout .npy files.
void write_hf_npy(const Model& m, const std::string& dir) {
  for (const auto& [name, t] : m.graph.initializers) {
    if (is_helper_constant(name)) continue;
    const std::string suffix = ".T";
    bool transposed = name.size() > 2 && name.compare(name.size() - 2, 2, suffix) == 0;
    Tensor torch_layout = transposed ? transposed_2d(t) : t;
    if (name.rfind("norm.", 0) == 0) torch_layout = t.reshaped({t.numel()});  // GroupNorm [C,1,1]
    write_npy(dir + "/" + (transposed ? name.substr(0, name.size() - 2) : name) + ".npy",
              torch_layout);
  }
}

TEST(OptWeights, NpyFolderAndOnnxFileReproduceTheSyntheticModel) {
  Model synthetic = build_opt_synthetic("opt-tiny", {}, 5);
  std::string dir = temp_dir();
  write_hf_npy(synthetic, dir);
  auto from_npy = open_weights(dir);
  Model a = build_opt(opt_config("opt-tiny"), {}, *from_npy);
  std::string onnx = temp_dir() + "/m.onnx";
  save_onnx(synthetic, onnx);
  OptBuildOptions kv;
  kv.kv_cache = true;
  auto from_onnx = open_weights(onnx);
  Model b = build_opt(opt_config("opt-tiny"), kv, *from_onnx);
  for (const auto& [name, t] : synthetic.graph.initializers) {
    if (is_helper_constant(name)) continue;
    EXPECT_EQ(a.graph.initializers.at(name).to_float_vector(), t.to_float_vector()) << name;
    EXPECT_EQ(b.graph.initializers.at(name).to_float_vector(), t.to_float_vector()) << name;
  }
}

TEST(OptWeights, MissingAndMisshapedTensorsAreNamed) {
  Model synthetic = build_opt_synthetic("opt-tiny");
  std::string dir = temp_dir();
  write_hf_npy(synthetic, dir);
  const std::string victim = "model.decoder.layers.1.fc2.weight";
  fs::remove(dir + "/" + victim + ".npy");
  try {
    auto w = open_weights(dir);
    build_opt(opt_config("opt-tiny"), {}, *w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(victim), std::string::npos) << msg;
    EXPECT_NE(msg.find("[64,256]"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  write_npy(dir + "/" + victim + ".npy", Tensor::zeros(DType::kFloat32, {256, 64}));
  try {
    auto w = open_weights(dir);
    build_opt(opt_config("opt-tiny"), {}, *w);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(victim), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected float32 [64,256]"), std::string::npos) << msg;
  }
}

// PyTorch fixture: HF OPT semantics computed by tools/fixtures (left-padded batch included).
TEST(OptWeights, MatchesPyTorchHfLogits) {
  const std::string dir = data_dir() + "/torch/opt_tiny_hf";
  if (!fs::exists(dir + "/logits.npy")) GTEST_SKIP() << "no PyTorch fixture at " << dir;
  OptConfig c = opt_config(dir + "/config.json");
  for (int64_t opset : {14, 17}) {
    OptBuildOptions options;
    options.opset = opset;
    auto w = open_weights(dir + "/weights");
    auto model = round_trip(build_opt(c, options, *w));
    Tensor expected = read_npy(dir + "/logits.npy");
    Tensor got = run(model, {{"input_ids", read_npy(dir + "/input_ids.npy")},
                             {"attention_mask", read_npy(dir + "/attention_mask.npy")}})
                     .at("logits");
    ASSERT_EQ(got.shape(), expected.shape());
    std::vector<float> e = expected.to_float_vector();
    float scale = 0;
    for (float v : e) scale = std::max(scale, std::fabs(v));
    EXPECT_LT(max_abs_diff(got.to_float_vector(), e), 1e-4f * scale) << "opset " << opset;
  }
}

// ---------------------------------------------------------------------------------------------
// SD attention block

SdAttnOptions small_sd() {
  SdAttnOptions o;
  o.channels = 64;
  o.size = 8;
  return o;
}

TEST(SdAttn, LoadsBackAndRunsWithFiniteOutput) {
  for (bool gelu_op : {false, true}) {
    SdAttnOptions o = small_sd();
    o.gelu_op = gelu_op;
    o.opset = gelu_op ? 17 : 14;
    Model built = build_sd_attn(o);
    EXPECT_EQ(count_parameters(built), sd_attn_parameter_count(64));
    auto model = round_trip(built);
    TensorMap out = run(model, sd_attn_inputs(64, 8, 0));
    EXPECT_EQ(out.at("out").shape(), Shape({1, 64, 8, 8}));
    EXPECT_TRUE(all_finite(out.at("out")));
  }
}

TEST(SdAttn, GeluOpAndErfDecompositionAgree) {
  SdAttnOptions a = small_sd(), b = small_sd();
  b.gelu_op = true;
  TensorMap in = sd_attn_inputs(64, 8, 1);
  Tensor x = run(std::make_shared<const Model>(build_sd_attn(a)), in).at("out");
  Tensor y = run(std::make_shared<const Model>(build_sd_attn(b)), in).at("out");
  EXPECT_LT(max_abs_diff(x.to_float_vector(), y.to_float_vector()), 1e-5f);
}

TEST(SdAttn, AttentionLogitStdIsLikeATrainedModel) {
  auto model = std::make_shared<const Model>(build_sd_attn(small_sd()));
  std::set<std::string> softmax_inputs;
  for (const auto& n : model->graph.nodes) {
    if (n.op_type == "Softmax") softmax_inputs.insert(n.inputs[0]);
  }
  ASSERT_EQ(softmax_inputs.size(), 2u);  // self- and cross-attention
  std::map<std::string, Shape> shapes;
  std::map<std::string, double> stds;
  ReferenceEngine::Observer observer = [&](const Node& n, size_t o, const Tensor& value) {
    if (!softmax_inputs.count(n.outputs[o])) return;
    double sum = 0, sq = 0;
    for (float v : value.to_float_vector()) {
      sum += v;
      sq += double(v) * v;
    }
    double mean = sum / value.numel();
    stds[n.outputs[o]] = std::sqrt(sq / value.numel() - mean * mean);
    shapes[n.outputs[o]] = value.shape();
  };
  run(model, sd_attn_inputs(64, 8, 0), &observer);
  ASSERT_EQ(stds.size(), 2u);
  std::set<Shape> seen;
  for (const auto& [name, sd] : stds) {
    EXPECT_GE(sd, 1.5) << name;
    EXPECT_LE(sd, 4.0) << name;
    EXPECT_NEAR(sd, kSdTargetLogitStd, 0.4) << name;  // the analytic scale holds empirically
    seen.insert(shapes[name]);
  }
  EXPECT_EQ(seen, (std::set<Shape>{{1, 8, 64, 64}, {1, 8, 64, 77}}));
}

TEST(SdAttn, NpyWeightsReproduceTheSyntheticBlock) {
  SdAttnOptions o = small_sd();
  o.seed = 4;
  Model synthetic = build_sd_attn(o);
  std::string dir = temp_dir();
  write_hf_npy(synthetic, dir);
  EXPECT_TRUE(fs::exists(dir + "/transformer_blocks.0.attn2.to_k.weight.npy"));
  EXPECT_EQ(read_npy(dir + "/transformer_blocks.0.attn2.to_k.weight.npy").shape(),
            Shape({64, 768}));
  auto w = open_weights(dir);
  Model from_npy = build_sd_attn(small_sd(), *w);
  TensorMap in = sd_attn_inputs(64, 8, 0);
  Tensor a = run(std::make_shared<const Model>(std::move(synthetic)), in).at("out");
  Tensor b = run(std::make_shared<const Model>(std::move(from_npy)), in).at("out");
  EXPECT_EQ(a.to_float_vector(), b.to_float_vector());
}

TEST(SdAttn, RejectsChannelsNotDivisibleBy32) {
  SdAttnOptions o = small_sd();
  o.channels = 48;
  EXPECT_THROW(build_sd_attn(o), Error);
}

// ---------------------------------------------------------------------------------------------
// CLI

TEST(ModelsCli, BuildsOptAndPrintsTheParameterCount) {
  std::string dir = temp_dir();
  CliResult r = run_cli("models build opt --config opt-tiny --kv-cache -o " + dir + "/m.onnx");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("parameters: 124,800"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("opt-tiny"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(dir + "/m.onnx"), std::string::npos) << r.out;
  Model m = load_onnx(dir + "/m.onnx");
  EXPECT_EQ(m.graph.outputs.size(), 5u);
  EXPECT_EQ(count_parameters(m), 124800);
}

TEST(ModelsCli, BuildsSdAttnAndWritesInputsThatRun) {
  std::string dir = temp_dir();
  CliResult r = run_cli("models build sd-attn --channels 64 --size 8 -o " + dir + "/b.onnx");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli("models inputs sd-attn --channels 64 --size 8 --seed 3 -o " + dir + "/in");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Tensor latent = read_npy(dir + "/in/latent.npy");
  EXPECT_EQ(latent.shape(), Shape({1, 64, 8, 8}));
  EXPECT_EQ(read_npy(dir + "/in/context.npy").shape(), Shape({1, 77, 768}));
  EXPECT_EQ(latent.to_float_vector(), sd_attn_inputs(64, 8, 3).at("latent").to_float_vector());
  r = run_cli("run " + dir + "/b.onnx -i latent=" + dir + "/in/latent.npy -i context=" + dir +
              "/in/context.npy -o " + dir + "/out");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_npy(dir + "/out/out.npy").shape(), Shape({1, 64, 8, 8}));
}

TEST(ModelsCli, WritesOptInputs) {
  std::string dir = temp_dir();
  CliResult r = run_cli("models inputs opt --seq 5 --batch 2 --vocab 256 -o " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Tensor ids = read_npy(dir + "/input_ids.npy"), mask = read_npy(dir + "/attention_mask.npy");
  EXPECT_EQ(ids.shape(), Shape({2, 5}));
  EXPECT_EQ(ids.dtype(), DType::kInt64);
  for (int64_t v : ids.to_int64_vector()) EXPECT_TRUE(v >= 0 && v < 256);
  EXPECT_EQ(mask.to_int64_vector(), std::vector<int64_t>(10, 1));
}

TEST(ModelsCli, BadArgumentsAreOneLineErrors) {
  std::string dir = temp_dir();
  CliResult r = run_cli("models build opt --config opt-9000 -o " + dir + "/m.onnx");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("opt-9000"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/m.onnx"));
  r = run_cli("models build opt --config opt-tiny --weights " + dir + "/none -o " + dir +
              "/m.onnx");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  r = run_cli("models build sd-attn --channels 40 --size 8 -o " + dir + "/b.onnx");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

}  // namespace
}  // namespace sq::test
