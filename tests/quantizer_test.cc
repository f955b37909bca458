// The quantizer end to end on small graphs: what gets quantized, the softmax correction folded
// into standard ops (masked keys stay exactly 0, corrected row sums), encodings, and the causal
// guarantee (logits at positions <= t are bit-identical when token t+1 changes).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "calib/dataset.h"
#include "models/opt_builder.h"
#include "quantizer/evaluate.h"
#include "quantizer/quantize.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

namespace sq {
namespace {

using test::attention_model;

std::string write_samples(const Model& m, int count, uint64_t seed) {
  return test::write_random_samples(m, count, seed);
}

QuantizeResult quantize_with(std::shared_ptr<Model> m, const std::string& data_dir, QuantConfig config) {
  SampleSet data = SampleSet::load(parse_data_spec("inputs:" + data_dir), m->graph, 0, 0);
  Calibration cal = calibrate_model(m, config, data, 2);
  return build_quantized_model(*m, config, cal);
}

int count_ops(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node& node : m.graph.nodes) n += node.op_type == op;
  return n;
}

TEST(Quantizer, PlansWeightsActivationsAndSoftmax) {
  auto m = attention_model(2, 8, 4, false);
  QdqPlan plan = plan_qdq(*m, QuantConfig{});
  ASSERT_EQ(plan.softmaxes.size(), 1u);
  EXPECT_EQ(plan.softmaxes[0].scores, "scores");
  // q, k (traced back through the Transpose) and v; the softmax output is not re-quantized.
  std::set<std::string> sources;
  for (const auto& a : plan.activations) sources.insert(a.source);
  EXPECT_EQ(sources, (std::set<std::string>{"q", "k", "v"}));
  EXPECT_TRUE(plan.weights.empty());
}

TEST(Quantizer, FloatOpsAreLeftAlone) {
  auto m = attention_model(2, 8, 4, false);
  QuantConfig c;
  c.float_ops = {"Softmax", "MatMul"};
  QdqPlan plan = plan_qdq(*m, c);
  EXPECT_TRUE(plan.softmaxes.empty());
  EXPECT_TRUE(plan.activations.empty());
  EXPECT_EQ(plan.float_nodes.size(), 2u);
}

// Runs the quantized model on the calibration samples and returns mean row sums per head and
// checks that masked probabilities are exactly zero.
std::vector<double> mean_row_sums(const Model& qm, const Model& fp, const std::string& dir, int64_t heads,
                                  bool causal) {
  auto shared = std::make_shared<const Model>(qm);
  ModelRunner runner(shared, EngineKind::kSim);
  SampleSet data = SampleSet::load(parse_data_spec("inputs:" + dir), fp.graph, 0, 0);
  ThreadPool pool(2);
  std::vector<double> sums(static_cast<size_t>(heads), 0.0);
  double rows_per_head = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    TensorMap out = runner.run(data.feeds(i), pool);
    const Tensor& p = out.at("probs_out");
    const int64_t seq = p.dim(2);
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t r = 0; r < seq; ++r) {
        double s = 0;
        for (int64_t j = 0; j < seq; ++j) {
          float v = p.data<float>()[(h * seq + r) * seq + j];
          if (causal && j > r) EXPECT_EQ(v, 0.0f) << "probability on a masked key";
          s += v;
        }
        sums[static_cast<size_t>(h)] += s;
      }
    }
    rows_per_head += static_cast<double>(seq);
  }
  for (auto& s : sums) s /= rows_per_head;
  return sums;
}

TEST(Quantizer, PerHeadCorrectionRestoresRowSums) {
  const int64_t heads = 2, seq = 64;
  auto m = attention_model(heads, seq, 8, false);
  std::string dir = write_samples(*m, 3, 7);
  for (BcForm form : {BcForm::kOffset, BcForm::kScale}) {
    QuantConfig c;
    c.softmax_bits = 6;  // a coarse grid makes the bias large
    c.softmax_bc = BcGranularity::kHead;
    c.softmax_bc_form = form;
    QuantizeResult q = quantize_with(m, dir, c);
    ASSERT_EQ(q.softmax.size(), 1u);
    EXPECT_GT(std::fabs(q.softmax[0].deficit_before), 0.005) << "test needs a visible bias";
    EXPECT_NEAR(q.softmax[0].deficit_after, 0.0, 1e-9);
    // Measured on the simulated QDQ graph (whose q, k are quantized, so slightly different).
    std::vector<double> sums = mean_row_sums(q.model, *m, dir, heads, false);
    for (double s : sums) EXPECT_NEAR(s, 1.0, 0.01) << bc_form_name(form);
    QuantConfig none = c;
    none.softmax_bc = BcGranularity::kNone;
    std::vector<double> raw = mean_row_sums(quantize_with(m, dir, none).model, *m, dir, heads, false);
    for (size_t h = 0; h < raw.size(); ++h) EXPECT_GT(std::fabs(raw[h] - 1.0), std::fabs(sums[h] - 1.0));
  }
}

TEST(Quantizer, CausalCorrectionNeverTouchesMaskedKeys) {
  const int64_t heads = 2, seq = 48;
  auto m = attention_model(heads, seq, 8, true);
  std::string dir = write_samples(*m, 2, 11);
  for (BcGranularity g : {BcGranularity::kTensor, BcGranularity::kHead, BcGranularity::kLength}) {
    for (BcForm form : {BcForm::kOffset, BcForm::kScale}) {
      QuantConfig c;
      c.softmax_bits = 8;
      c.softmax_bc = g;
      c.softmax_bc_form = form;
      QuantizeResult q = quantize_with(m, dir, c);
      // The scale form makes each group's mean row sum exactly 1 on the calibration data; the
      // offset form only does so where rows share a length (not per tensor or per head here).
      if (form == BcForm::kScale) EXPECT_NEAR(q.softmax[0].deficit_after, 0.0, 1e-9);
      mean_row_sums(q.model, *m, dir, heads, true);  // asserts exact zeros on masked keys
    }
  }
}

TEST(Quantizer, EncodingsFollowAimetLayout) {
  auto m = attention_model(2, 16, 4, false);
  std::string dir = write_samples(*m, 1, 3);
  QuantConfig c;
  c.softmax_bc = BcGranularity::kTensor;
  QuantizeResult q = quantize_with(m, dir, c);
  const Json& e = q.encodings;
  EXPECT_EQ(e.at("version").as_string(), "0.6.1");
  const Json& acts = e.at("activation_encodings");
  for (const char* name : {"q", "k", "v", "probs"}) ASSERT_TRUE(acts.has(name)) << name;
  const Json& entry = acts.at("q")[0];
  for (const char* key : {"bitwidth", "dtype", "is_symmetric", "min", "max", "scale", "offset"}) {
    EXPECT_TRUE(entry.has(key)) << key;
  }
  // real = scale * (q + offset): min = scale * offset.
  EXPECT_NEAR(entry.at("min").as_number(), entry.at("scale").as_number() * entry.at("offset").as_number(), 1e-9);
  // The corrected softmax has offset beta / s (fractional, z = 0 on the fixed grid).
  const Json& sm = acts.at("probs")[0];
  double beta = q.softmax[0].correction.values[0];
  EXPECT_NEAR(sm.at("offset").as_number(), beta / (1.0 / 256), 1e-6);
  EXPECT_NE(sm.at("offset").as_number(), std::round(sm.at("offset").as_number()));
}

TEST(Quantizer, QdqModelRoundTripsThroughOnnx) {
  auto m = attention_model(2, 16, 4, true);
  std::string dir = write_samples(*m, 1, 5);
  QuantConfig c;
  c.softmax_bits = 12;  // exercises the wide (float-op) quantizer path too
  c.act_bits = 16;
  c.softmax_bc = BcGranularity::kLength;
  QuantizeResult q = quantize_with(m, dir, c);
  std::string path = test::temp_dir() + "/q.onnx";
  save_onnx(q.model, path);
  Model loaded = load_onnx(path);
  SampleSet data = SampleSet::load(parse_data_spec("inputs:" + dir), m->graph, 0, 0);
  ThreadPool pool(2);
  ReferenceEngine a(std::make_shared<const Model>(q.model)), b(std::make_shared<const Model>(loaded));
  TensorMap ra = a.run(data.feeds(0), pool), rb = b.run(data.feeds(0), pool);
  for (const auto& [name, t] : ra) {
    ASSERT_EQ(t.numel(), rb.at(name).numel());
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t.data<float>()[i], rb.at(name).data<float>()[i]);
  }
}

// Build a tiny OPT, quantize it with every correction, and check causality bit-exactly.
TEST(Quantizer, CausalLogitsBitIdenticalWhenLaterTokenChanges) {
  OptConfig cfg = opt_config("opt-tiny");
  auto weights = make_synthetic_weights(1);
  auto m = std::make_shared<Model>(build_opt(cfg, OptBuildOptions{}, *weights));
  std::mt19937 rng(3);
  std::vector<int64_t> ids(64);
  for (auto& t : ids) t = static_cast<int64_t>(rng() % static_cast<uint32_t>(cfg.vocab_size));
  std::string tokens = test::temp_dir() + "/ids.npy";
  write_npy(tokens, Tensor::from_vector<int64_t>({64}, ids));
  const int64_t ctx = 16, changed = 10;
  for (BcGranularity g : {BcGranularity::kTensor, BcGranularity::kHead, BcGranularity::kLength}) {
    for (BcForm form : {BcForm::kOffset, BcForm::kScale}) {
      QuantConfig c;
      c.softmax_bc = g;
      c.softmax_bc_form = form;
      SampleSet data = SampleSet::load(parse_data_spec("tokens:" + tokens), m->graph, ctx, 0);
      Calibration cal = calibrate_model(m, c, data, 2);
      QuantizeResult q = build_quantized_model(*m, c, cal);
      ReferenceEngine engine(std::make_shared<const Model>(q.model));
      ThreadPool pool(2);
      std::vector<int64_t> a(ids.begin(), ids.begin() + ctx), b = a;
      b[changed] = (b[changed] + 1) % cfg.vocab_size;
      Tensor la = engine.run(token_window_feeds(q.model.graph, a), pool).at("logits");
      Tensor lb = engine.run(token_window_feeds(q.model.graph, b), pool).at("logits");
      const int64_t vocab = la.dim(2);
      bool later_differs = false;
      for (int64_t pos = 0; pos < ctx; ++pos) {
        for (int64_t v = 0; v < vocab; ++v) {
          float x = la.data<float>()[pos * vocab + v], y = lb.data<float>()[pos * vocab + v];
          if (pos < changed) ASSERT_EQ(x, y) << "position " << pos << " " << bc_granularity_name(g);
          else later_differs = later_differs || x != y;
        }
      }
      EXPECT_TRUE(later_differs);
    }
  }
}

}  // namespace
}  // namespace sq
