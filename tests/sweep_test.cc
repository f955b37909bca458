// `softquant sweep` and its library: the grid of points, one calibration per (weight, act) bits
// pair, re-runs that evaluate nothing new, numbers equal to quantizing and evaluating one point
// directly (tensor data: SQNR; token data: perplexity), and the report files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "models/opt_builder.h"
#include "quantizer/evaluate.h"
#include "quantizer/quantize.h"
#include "quantizer/sweep.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

namespace sq {
namespace {

Json read_json(const std::string& path) { return Json::parse(test::read_bytes(path), path); }

// results.json stores numbers with 9 significant digits.
void expect_close(double stored, double direct, const std::string& what) {
  EXPECT_NEAR(stored, direct, 1e-8 * std::max(1.0, std::fabs(direct))) << what;
}

const Json& entry_for(const Json& results, const SweepPoint& p) {
  for (const Json& e : results.at("points").items()) {
    if (SweepPoint::from_json(e.at("config")) == p) return e;
  }
  ADD_FAILURE() << "no point " << p.label();
  return results;
}

TEST(Sweep, ExpandsEveryCombinationWithNoneOncePerBitsAndGrid) {
  SweepAxes axes;
  axes.softmax_bits = {4, 8, 8};  // repeated values count once
  axes.grids = {SoftmaxGridKind::kFixed, SoftmaxGridKind::kUnit};
  axes.corrections = {BcGranularity::kNone, BcGranularity::kTensor, BcGranularity::kLength};
  axes.forms = {BcForm::kOffset, BcForm::kScale};
  axes.act_bits = {8, 16};
  std::vector<SweepPoint> points = expand_sweep(axes);
  // 2 act bits x 2 grids x 2 softmax bits x (1 none + 2 corrections x 2 forms).
  ASSERT_EQ(points.size(), 2u * 2 * 2 * 5);
  std::set<std::string> labels;
  int none = 0;
  for (const auto& p : points) {
    labels.insert(p.label());
    none += p.bc == BcGranularity::kNone;
    EXPECT_EQ(SweepPoint::from_json(p.to_json()), p);
  }
  EXPECT_EQ(labels.size(), points.size()) << "duplicate points";
  EXPECT_EQ(none, 2 * 2 * 2);
  // The form means nothing without a correction.
  SweepPoint a, b;
  b.form = BcForm::kScale;
  EXPECT_EQ(a, b);
  EXPECT_TRUE(a.to_json().at("softmax_bc_form").is_null());
  a.bc = b.bc = BcGranularity::kHead;
  EXPECT_FALSE(a == b);
  EXPECT_EQ(a.to_json().at("softmax_bc_form").as_string(), "offset");

  axes.softmax_bits = {3};
  EXPECT_THROW(expand_sweep(axes), Error);
  axes.softmax_bits = {};
  EXPECT_THROW(expand_sweep(axes), Error);
}

struct TensorSetup {
  std::shared_ptr<Model> model;
  std::string samples;
  SweepSettings settings;
};

TensorSetup tensor_setup() {
  TensorSetup s;
  s.model = test::attention_model(2, 32, 8, /*causal=*/true);
  s.samples = test::write_random_samples(*s.model, 3, 21);
  s.settings.model_path = "attention";
  s.settings.calib = "inputs:" + s.samples;
  s.settings.eval = "inputs:" + s.samples;
  s.settings.progress = false;
  return s;
}

TEST(Sweep, TensorDataOnePointPerCombinationRerunEvaluatesNothing) {
  TensorSetup t = tensor_setup();
  SweepAxes axes;
  axes.softmax_bits = {4, 8};
  axes.corrections = {BcGranularity::kNone, BcGranularity::kTensor, BcGranularity::kLength};
  axes.forms = {BcForm::kOffset, BcForm::kScale};
  std::vector<SweepPoint> points = expand_sweep(axes);
  ASSERT_EQ(points.size(), 10u);
  const std::string path = test::temp_dir() + "/results.json";

  int evaluated = 0;
  SweepHooks hooks;
  hooks.on_point = [&](const SweepPoint&, const Json&) { ++evaluated; };
  SweepSummary first = run_sweep(t.model, points, t.settings, path, hooks);
  EXPECT_EQ(first.evaluated, 10u);
  EXPECT_EQ(evaluated, 10);
  EXPECT_EQ(first.calibrations, 1u) << "one calibration per (weight, act) bits pair";
  EXPECT_TRUE(first.per_layer_evaluated);

  Json r = read_json(path);
  EXPECT_EQ(r.at("metric").as_string(), "sqnr_db");
  ASSERT_EQ(r.at("points").size(), points.size());
  std::vector<SweepPoint> stored;
  for (const Json& e : r.at("points").items()) {
    stored.push_back(SweepPoint::from_json(e.at("config")));
    const Json& sqnr = e.at("sqnr_db");
    ASSERT_TRUE(sqnr.has("out") && sqnr.has("probs_out"));
    EXPECT_TRUE(std::isfinite(sqnr.at("out").as_number()));
    ASSERT_EQ(e.at("softmax").size(), 1u);
    EXPECT_EQ(e.at("softmax")[0].at("node").as_string(), "Softmax_probs");
  }
  for (const auto& p : points) {
    EXPECT_EQ(std::count(stored.begin(), stored.end(), p), 1) << p.label();
  }
  // 4-bit softmax loses more than 8-bit, and the scale form restores the mean row sum exactly.
  SweepPoint p4{8, 8, 4}, p8{8, 8, 8};
  EXPECT_LT(entry_for(r, p4).at("sqnr_db").at("probs_out").as_number(),
            entry_for(r, p8).at("sqnr_db").at("probs_out").as_number());
  SweepPoint scale4{8, 8, 4, SoftmaxGridKind::kFixed, BcGranularity::kLength, BcForm::kScale};
  const Json& sm = entry_for(r, scale4).at("softmax")[0];
  EXPECT_GT(sm.at("deficit_before").as_number(), 0.01);
  EXPECT_NEAR(sm.at("deficit_after").as_number(), 0.0, 1e-6);
  // Row sums per length bucket (causal rows: 1..32 keys) and the per-layer comparison.
  const Json& rs = r.at("row_sums");
  EXPECT_EQ(rs.at("softmax_bits").as_int(), 8);
  EXPECT_EQ(rs.at("buckets").size(), 6u);
  EXPECT_EQ(rs.at("corrections").size(), 4u);
  const Json& pl = r.at("per_layer");
  EXPECT_EQ(SweepPoint::from_json(pl.at("best")).softmax_bits, 8);
  EXPECT_NE(SweepPoint::from_json(pl.at("best")).bc, BcGranularity::kNone);
  EXPECT_EQ(SweepPoint::from_json(pl.at("uncorrected")).bc, BcGranularity::kNone);
  ASSERT_EQ(pl.at("nodes").size(), 1u);
  EXPECT_NE(pl.at("nodes")[0].at("consumer").as_string().find("MatMul"), std::string::npos);
  EXPECT_TRUE(pl.at("nodes")[0].at("output_sqnr_db").at("best").is_number());

  // SQNR equals quantizing and comparing that one point directly.
  SweepPoint direct{8, 8, 4, SoftmaxGridKind::kFixed, BcGranularity::kTensor, BcForm::kOffset};
  SampleSet data = SampleSet::load(parse_data_spec(t.settings.eval), t.model->graph, 0, 0);
  Calibration cal = calibrate_model(t.model, direct.quant_config(), data, 2);
  auto qm = std::make_shared<const Model>(build_quantized_model(*t.model, direct.quant_config(), cal).model);
  ModelRunner fp(t.model, EngineKind::kFp32), sim(qm, EngineKind::kSim);
  OutputComparison cmp;
  ThreadPool pool(2);
  for (size_t i = 0; i < data.size(); ++i) {
    TensorMap ref = fp.run(data.feeds(i), pool), out = sim.run(data.feeds(i), pool);
    for (const auto& [name, v] : ref) cmp.add(name, v, out.at(name));
  }
  for (const auto& [name, m] : cmp.results()) {
    expect_close(entry_for(r, direct).at("sqnr_db").at(name).as_number(), m.sqnr_db, name);
  }

  // A re-run evaluates, calibrates and writes nothing.
  const std::string before = test::read_bytes(path);
  evaluated = 0;
  SweepSummary again = run_sweep(t.model, points, t.settings, path, hooks);
  EXPECT_EQ(again.evaluated, 0u);
  EXPECT_EQ(again.skipped, 10u);
  EXPECT_EQ(again.calibrations, 0u);
  EXPECT_FALSE(again.baseline_evaluated);
  EXPECT_FALSE(again.per_layer_evaluated);
  EXPECT_EQ(evaluated, 0);
  EXPECT_EQ(test::read_bytes(path), before);

  // Adding softmax bits evaluates only the new points, from one more calibration.
  axes.softmax_bits = {4, 6, 8};
  SweepSummary more = run_sweep(t.model, expand_sweep(axes), t.settings, path, hooks);
  EXPECT_EQ(more.evaluated, 5u);
  EXPECT_EQ(more.skipped, 10u);
  EXPECT_EQ(more.calibrations, 1u);
  EXPECT_EQ(read_json(path).at("points").size(), 15u);

  // Other data settings or another model: refused, not silently mixed.
  SweepSettings other = t.settings;
  other.max_eval = 2;
  EXPECT_THROW(run_sweep(t.model, points, other, path), Error);
  auto other_model = test::attention_model(2, 32, 8, /*causal=*/false);
  EXPECT_THROW(run_sweep(other_model, points, t.settings, path), Error);
}

TEST(Sweep, TokenDataPerplexityEqualsDirectEvaluation) {
  OptConfig cfg = opt_config("opt-tiny");
  auto weights = make_synthetic_weights(4);
  auto model = std::make_shared<const Model>(build_opt(cfg, OptBuildOptions{}, *weights));
  std::mt19937 rng(9);
  auto token_file = [&](int64_t n, const std::string& name) {
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (auto& id : ids) id = static_cast<int64_t>(rng() % static_cast<uint32_t>(cfg.vocab_size));
    std::string path = test::temp_dir() + "/" + name;
    write_npy(path, Tensor::from_vector<int64_t>({n}, ids));
    return path;
  };
  SweepSettings s;
  s.model_path = "opt-tiny";
  s.calib = "tokens:" + token_file(96, "calib.npy");
  s.eval = "tokens:" + token_file(72, "eval.npy");  // 2 full windows and a tail
  s.context = 32;
  s.progress = false;
  SweepAxes axes;
  axes.softmax_bits = {6, 8};
  axes.corrections = {BcGranularity::kNone, BcGranularity::kHead};
  const std::string path = test::temp_dir() + "/results.json";
  SweepSummary sum = run_sweep(model, expand_sweep(axes), s, path);
  EXPECT_EQ(sum.evaluated, 4u);
  EXPECT_EQ(sum.calibrations, 1u);
  EXPECT_TRUE(sum.baseline_evaluated);

  Json r = read_json(path);
  EXPECT_EQ(r.at("metric").as_string(), "perplexity");
  ASSERT_EQ(r.at("points").size(), 4u);
  SampleSet calib = SampleSet::load(parse_data_spec(s.calib), model->graph, s.context, 0);
  SampleSet eval = SampleSet::load(parse_data_spec(s.eval), model->graph, s.context, 0, /*include_tail=*/true);
  ASSERT_EQ(eval.size(), 3u);
  PerplexityResult fp32 = evaluate_perplexity(ModelRunner(model, EngineKind::kFp32), eval, 2, false);
  expect_close(r.at("baseline").at("perplexity").as_number(), fp32.perplexity, "FP32 baseline");
  EXPECT_EQ(r.at("baseline").at("tokens").as_int(), fp32.tokens);

  // Each point equals build_quantized_model + evaluate_perplexity run directly (the 6-bit point
  // also checks that a calibration shared across softmax bits quantizes at the point's bits).
  for (SweepPoint p : {SweepPoint{8, 8, 8, SoftmaxGridKind::kFixed, BcGranularity::kHead, BcForm::kOffset},
                       SweepPoint{8, 8, 6, SoftmaxGridKind::kFixed, BcGranularity::kNone, BcForm::kOffset}}) {
    Calibration cal = calibrate_model(model, p.quant_config(), calib, 2);
    QuantizeResult q = build_quantized_model(*model, p.quant_config(), cal);
    auto qm = std::make_shared<const Model>(std::move(q.model));
    PerplexityResult direct = evaluate_perplexity(ModelRunner(qm, EngineKind::kSim), eval, 2, false);
    const Json& e = entry_for(r, p);
    expect_close(e.at("perplexity").as_number(), direct.perplexity, p.label());
    ASSERT_EQ(e.at("softmax").size(), q.softmax.size());
    for (size_t i = 0; i < q.softmax.size(); ++i) {
      expect_close(e.at("softmax")[i].at("deficit_before").as_number(), q.softmax[i].deficit_before, q.softmax[i].node);
      expect_close(e.at("softmax")[i].at("deficit_after").as_number(), q.softmax[i].deficit_after, q.softmax[i].node);
    }
  }
  EXPECT_NE(entry_for(r, SweepPoint{8, 8, 6}).at("perplexity").as_number(),
            entry_for(r, SweepPoint{8, 8, 8}).at("perplexity").as_number());
  EXPECT_EQ(r.at("per_layer").at("nodes").size(), static_cast<size_t>(cfg.num_layers));
}

TEST(SweepCli, WritesResultsAndReportsAndSkipsOnRerun) {
  TensorSetup t = tensor_setup();
  const std::string dir = test::temp_dir();
  save_onnx(*t.model, dir + "/attn.onnx");
  const std::string out = dir + "/sweep";
  const std::string args = "sweep " + dir + "/attn.onnx --calib inputs:" + t.samples + " --inputs " + t.samples +
                           " --softmax-bits 6,8 --softmax-bc none,head,length --softmax-bc-form offset,scale --out " + out;
  test::CliResult first = test::run_cli(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("10 point(s): 10 to evaluate, 0 skipped"), std::string::npos) << first.err;
  EXPECT_NE(first.out.find("evaluated 10 point(s)"), std::string::npos) << first.out;
  Json r = read_json(out + "/results.json");
  EXPECT_EQ(r.at("points").size(), 10u);
  const std::string html = test::read_bytes(out + "/report.html");
  const std::string md = test::read_bytes(out + "/report.md");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "the report must not need scripts";
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = html.find(what); at != std::string::npos; at = html.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("http"), count("xmlns=\"http://www.w3.org/2000/svg\"")) << "nothing may be fetched";
  EXPECT_EQ(count("src="), 0u);
  EXPECT_NE(md.find("| correction |"), std::string::npos);
  // The tables carry the numbers of results.json (SQNR with 2 decimals).
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", r.at("points")[0].at("sqnr_db").at("out").as_number());
  EXPECT_NE(md.find(buf), std::string::npos) << buf;

  const std::string results_before = test::read_bytes(out + "/results.json");
  test::CliResult again = test::run_cli(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("10 point(s): 0 to evaluate, 10 skipped"), std::string::npos) << again.err;
  EXPECT_EQ(test::read_bytes(out + "/results.json"), results_before);
  EXPECT_EQ(test::read_bytes(out + "/report.html"), html);

  test::CliResult bad = test::run_cli(args + " --max-samples 1");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(test::count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("other data settings"), std::string::npos) << bad.err;
  test::CliResult neither = test::run_cli("sweep " + dir + "/attn.onnx --calib inputs:" + t.samples + " --out " + out);
  EXPECT_EQ(neither.exit_code, 1);
  EXPECT_NE(neither.err.find("exactly one of --tokens"), std::string::npos) << neither.err;
}

}  // namespace
}  // namespace sq
