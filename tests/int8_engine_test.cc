// The int8 engine against the QDQ simulation on torch-exported graphs: the bundled trained
// byte-level OPT (learned attention) and a torch-exported SD v1.5 block (1x1 Conv, GEGLU, cross
// attention). What is lowered, and agreement: every QuantizeLinear output (the integer tensors
// both engines produce) within 1 LSB on >= 99.9% of elements, and the model outputs close.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "calib/dataset.h"
#include "quantizer/evaluate.h"
#include "quantizer/quantize.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace sq {
namespace {

std::shared_ptr<Model> load_folded(const std::string& path) {
  auto m = std::make_shared<Model>(load_onnx(path));
  fold_constants(*m);
  return m;
}

std::shared_ptr<const Model> quantize(std::shared_ptr<Model> m, const SampleSet& data,
                                      QuantConfig config) {
  Calibration cal = calibrate_model(m, config, data, 2);
  return std::make_shared<const Model>(build_quantized_model(*m, config, cal).model);
}

struct Agreement {
  int64_t elements = 0, within_one = 0, max_diff = 0;
};

// Runs both engines on the same inputs and compares every QuantizeLinear output.
Agreement compare_quantized_tensors(const Model& qdq, const TensorMap& feeds,
                                    TensorMap* sim_out = nullptr, TensorMap* int8_out = nullptr) {
  ReferenceEngine sim(std::make_shared<const Model>(qdq));
  auto int8 = make_int8_engine(qdq);
  ThreadPool pool(2);
  std::map<std::string, Tensor> sim_q;
  ReferenceEngine::Observer keep = [&](const Node& n, size_t, const Tensor& v) {
    if (n.op_type == "QuantizeLinear") sim_q[n.outputs[0]] = v;
  };
  TensorMap s = sim.run(feeds, pool, &keep);
  Agreement a;
  ReferenceEngine::Observer check = [&](const Node& n, size_t, const Tensor& v) {
    if (n.op_type != "QuantizeLinear") return;
    auto it = sim_q.find(n.outputs[0]);
    ASSERT_NE(it, sim_q.end()) << n.outputs[0];
    ASSERT_EQ(v.shape(), it->second.shape());
    for (int64_t i = 0; i < v.numel(); ++i) {
      const int64_t d = std::llabs(v.get_as_int64(i) - it->second.get_as_int64(i));
      a.max_diff = std::max(a.max_diff, d);
      a.within_one += d <= 1;
    }
    a.elements += v.numel();
  };
  TensorMap i8 = int8->run(feeds, pool, &check);
  std::printf("int8 vs sim: %lld of %lld quantized elements within 1 LSB, max difference %lld\n",
              static_cast<long long>(a.within_one), static_cast<long long>(a.elements),
              static_cast<long long>(a.max_diff));
  if (sim_out) *sim_out = s;
  if (int8_out) *int8_out = i8;
  return a;
}

double sqnr_db(const Tensor& ref, const Tensor& test) {
  double sig = 0, err = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data<float>()[i], t = test.data<float>()[i];
    sig += r * r;
    err += (r - t) * (r - t);
  }
  return 10 * std::log10(sig / std::max(err, 1e-30));
}

std::string bundled_model_dir() { return std::string(SQ_SOURCE_DIR) + "/models/assets/opt-bytes"; }

// `count` windows of `context` tokens from one of the bundled model's token files.
SampleSet bundled_windows(const Graph& g, const std::string& file, int64_t context, int count) {
  return SampleSet::load(parse_data_spec("tokens:" + bundled_model_dir() + "/" + file), g, context,
                         count);
}

// The bundled trained OPT quantized with `config`, calibrated on 2 windows of `context` tokens.
std::shared_ptr<const Model> quantized_bundled(const Model& fp32, int64_t context,
                                               QuantConfig config) {
  return quantize(std::make_shared<Model>(fp32),
                  bundled_windows(fp32.graph, "calib_tokens.npy", context, 2), config);
}

TEST(Int8Engine, LowersEveryProductOfTheTrainedOpt) {
  auto m = load_folded(bundled_model_dir() + "/model.onnx");
  QuantConfig config;
  config.softmax_bc = BcGranularity::kLength;
  auto q = quantized_bundled(*m, 128, config);
  Int8LoweringReport report;
  Model lowered = lower_to_int8(*q, &report);
  // 4 layers x (q, k, v, out, fc1, fc2) + the tied LM head; each layer's attention (Q·Kᵀ, mask,
  // softmax, 8-bit probabilities with the per-length offset correction, P·V) is one fused op.
  EXPECT_EQ(report.lowered_matmuls, 4 * 6 + 1) << report.summary();
  EXPECT_EQ(report.fused_attention, 4) << report.summary();
  EXPECT_EQ(report.lowered_act_matmuls, 0) << report.summary();
  EXPECT_TRUE(report.float_nodes.empty()) << report.summary();
  for (const Node& n : lowered.graph.nodes) {
    EXPECT_FALSE(n.op_type == "DequantizeLinear" && lowered.graph.is_initializer(n.input(0)))
        << "weight left behind DequantizeLinear: " << n.describe();
  }

  SampleSet windows = bundled_windows(m->graph, "eval_tokens.npy", 128, 1);
  TensorMap sim_out, int8_out;
  Agreement a = compare_quantized_tensors(*q, windows.feeds(0), &sim_out, &int8_out);
  ASSERT_GT(a.elements, 100000);
  EXPECT_GE(static_cast<double>(a.within_one) / a.elements, 0.999)
      << a.within_one << " of " << a.elements << " within 1 LSB, max diff " << a.max_diff;
  EXPECT_GT(sqnr_db(sim_out.at("logits"), int8_out.at("logits")), 30.0);
}

TEST(Int8Engine, LowersConvAndAttentionOfATorchSdBlock) {
  const std::string dir = test::data_dir() + "/torch/sd_block_c64_s8_opset14";
  auto m = load_folded(dir + "/model.onnx");
  SampleSet data = SampleSet::load(parse_data_spec("inputs:" + dir + "/inputs"), m->graph, 0, 0);
  auto q = quantize(m, data, QuantConfig{});
  Int8LoweringReport report;
  Model lowered = lower_to_int8(*q, &report);
  int conv = 0;
  for (const Node& n : lowered.graph.nodes) {
    conv += n.op_type == "MatMulU8S8ToFloat" && n.attr_string("layout", "") == "nchw";
  }
  EXPECT_EQ(conv, 2) << "proj_in and proj_out; " << report.summary();
  EXPECT_EQ(report.fused_attention, 2) << report.summary();  // self- and cross-attention
  TensorMap sim_out, int8_out;
  Agreement a = compare_quantized_tensors(*q, data.feeds(0), &sim_out, &int8_out);
  ASSERT_GT(a.elements, 10000);
  EXPECT_GE(static_cast<double>(a.within_one) / a.elements, 0.999)
      << a.within_one << " of " << a.elements << " within 1 LSB, max diff " << a.max_diff;
  for (const auto& [name, t] : sim_out) EXPECT_GT(sqnr_db(t, int8_out.at(name)), 30.0) << name;
}

TEST(Int8Engine, LeavesUnsupportedPatternsInFloatAndSaysSo) {
  // A 3x3 Conv with padding is not a 1x1 product: it stays a float Conv on dequantized inputs.
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = m.graph;
  g.inputs.push_back(ValueInfo{"x", DType::kUInt8, true, true, {{1, {}}, {2, {}}, {4, {}}, {4, {}}}});
  g.outputs.push_back(ValueInfo{"y", DType::kFloat32, false, false, {}});
  g.initializers["xs"] = Tensor::scalar_f32(0.5f);
  g.initializers["xz"] = Tensor::from_vector<uint8_t>({}, {3});
  std::vector<int8_t> wv(2 * 2 * 9);
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<int8_t>(static_cast<int>(i) - 17);
  g.initializers["wq"] = Tensor::from_vector<int8_t>({2, 2, 3, 3}, wv);
  g.initializers["ws"] = Tensor::from_vector<float>({2}, {0.1f, 0.2f});
  g.initializers["wz"] = Tensor::from_vector<int8_t>({2}, {0, 0});
  g.nodes.push_back(Node{"dqx", "DequantizeLinear", "", {"x", "xs", "xz"}, {"xf"}, {}});
  g.nodes.push_back(Node{"dqw", "DequantizeLinear", "", {"wq", "ws", "wz"}, {"wf"},
                         {{"axis", Attribute::of_int(0)}}});
  g.nodes.push_back(Node{"conv", "Conv", "", {"xf", "wf"}, {"y"},
                         {{"pads", Attribute::of_ints({1, 1, 1, 1})}}});
  Int8LoweringReport report;
  lower_to_int8(m, &report);
  EXPECT_EQ(report.lowered_matmuls, 0);
  ASSERT_EQ(report.float_nodes.size(), 1u);
  EXPECT_NE(report.summary().find("node 'conv' (Conv)"), std::string::npos) << report.summary();
  std::vector<uint8_t> xv(32);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<uint8_t>(i * 7);
  TensorMap feeds{{"x", Tensor::from_vector<uint8_t>({1, 2, 4, 4}, xv)}};
  ThreadPool pool(1);
  Tensor ref = ReferenceEngine(std::make_shared<const Model>(m)).run(feeds, pool).at("y");
  Tensor got = make_int8_engine(m)->run(feeds, pool).at("y");
  ASSERT_EQ(ref.shape(), got.shape());
  for (int64_t i = 0; i < ref.numel(); ++i) EXPECT_EQ(ref.data<float>()[i], got.data<float>()[i]);
}

// Every softmax setting the quantizer exports is fused into AttentionU8 and agrees with the
// simulation: bits 4, 6, 8 on the fixed, unit and calibrated grids; no correction; each
// granularity in both forms.
struct FusionCase {
  int bits;
  SoftmaxGridKind grid;
  BcGranularity bc;
  BcForm form;
};

class Int8AttentionFusion : public ::testing::TestWithParam<FusionCase> {};

TEST_P(Int8AttentionFusion, FusesAndAgreesWithTheSimulation) {
  const FusionCase fc = GetParam();
  auto m = load_folded(bundled_model_dir() + "/model.onnx");
  QuantConfig config;
  config.softmax_bits = fc.bits;
  config.softmax_grid = fc.grid;
  config.softmax_bc = fc.bc;
  config.softmax_bc_form = fc.form;
  auto q = quantized_bundled(*m, 64, config);
  Int8LoweringReport report;
  lower_to_int8(*q, &report);
  EXPECT_EQ(report.fused_attention, 4) << report.summary();
  EXPECT_TRUE(report.float_nodes.empty()) << report.summary();
  SampleSet windows = bundled_windows(m->graph, "eval_tokens.npy", 64, 1);
  TensorMap sim_out, int8_out;
  Agreement a = compare_quantized_tensors(*q, windows.feeds(0), &sim_out, &int8_out);
  EXPECT_GE(static_cast<double>(a.within_one) / a.elements, 0.999)
      << a.within_one << " of " << a.elements << " within 1 LSB, max diff " << a.max_diff;
  EXPECT_GT(sqnr_db(sim_out.at("logits"), int8_out.at("logits")), 30.0);
}

INSTANTIATE_TEST_SUITE_P(
    Settings, Int8AttentionFusion,
    ::testing::Values(FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kNone, BcForm::kOffset},
                      FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kTensor, BcForm::kOffset},
                      FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kHead, BcForm::kOffset},
                      FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kLength, BcForm::kOffset},
                      FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kTensor, BcForm::kScale},
                      FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kHead, BcForm::kScale},
                      FusionCase{8, SoftmaxGridKind::kFixed, BcGranularity::kLength, BcForm::kScale},
                      FusionCase{6, SoftmaxGridKind::kUnit, BcGranularity::kLength, BcForm::kOffset},
                      FusionCase{4, SoftmaxGridKind::kCalibrated, BcGranularity::kHead, BcForm::kOffset},
                      FusionCase{4, SoftmaxGridKind::kFixed, BcGranularity::kNone, BcForm::kOffset}));

// The causal guarantee holds on the int8 engine too: changing the last token leaves every
// earlier position's logits bit-identical.
TEST(Int8Engine, CausalLogitsDoNotSeeLaterTokens) {
  auto m = load_folded(bundled_model_dir() + "/model.onnx");
  QuantConfig config;
  config.softmax_bc = BcGranularity::kLength;
  auto q = quantized_bundled(*m, 64, config);
  auto engine = make_int8_engine(*q);
  SampleSet windows = bundled_windows(m->graph, "eval_tokens.npy", 48, 1);
  TensorMap feeds = windows.feeds(0);
  ThreadPool pool(2);
  Tensor before = engine->run(feeds, pool).at("logits");
  Tensor ids = feeds.at("input_ids").clone();
  const int64_t last = ids.numel() - 1;
  ids.data<int64_t>()[last] = (ids.data<int64_t>()[last] + 101) % 256;
  feeds["input_ids"] = ids;
  Tensor after = engine->run(feeds, pool).at("logits");
  const int64_t vocab = before.shape().back();
  for (int64_t i = 0; i < last * vocab; ++i) {
    ASSERT_EQ(before.data<float>()[i], after.data<float>()[i]) << "position " << i / vocab;
  }
  bool last_changed = false;
  for (int64_t i = last * vocab; i < before.numel(); ++i)
    last_changed = last_changed || before.data<float>()[i] != after.data<float>()[i];
  EXPECT_TRUE(last_changed);
}

}  // namespace
}  // namespace sq
