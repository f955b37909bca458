// Interop with ONNX Runtime (npm onnxruntime-node): the QDQ models the quantizer exports load and
// run in ORT, and ORT's outputs match `--engine sim` within quantization tolerance. Skipped when
// node or onnxruntime-node is missing, unless SOFTQUANT_REQUIRE_ORT=1 (CI sets it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "models/opt_builder.h"
#include "quantizer/evaluate.h"
#include "quantizer/quantize.h"
#include "runtime/engine/generation.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

namespace sq {
namespace {

namespace fs = std::filesystem;

std::string interop_dir() { return std::string(SQ_SOURCE_DIR) + "/tools/interop"; }

bool ort_available() {
  return std::system("node --version >/dev/null 2>&1") == 0 &&
         fs::exists(interop_dir() + "/node_modules/onnxruntime-node");
}

#define REQUIRE_ORT()                                                                 \
  do {                                                                                \
    if (!ort_available()) {                                                           \
      const char* req = std::getenv("SOFTQUANT_REQUIRE_ORT");                         \
      if (req && std::string(req) == "1") FAIL() << "onnxruntime-node is required";   \
      GTEST_SKIP() << "node or onnxruntime-node missing (run tools/setup.sh)";        \
    }                                                                                 \
  } while (0)

TensorMap run_ort(const std::string& model_path, const TensorMap& feeds, const Graph& graph) {
  std::string dir = test::temp_dir();
  std::string cmd = "node " + interop_dir() + "/run_ort.js " + model_path + " --opt-level basic";
  for (const auto& [name, t] : feeds) {
    std::string p = dir + "/in_" + name + ".npy";
    write_npy(p, t);
    cmd += " --input " + name + "=" + p;
  }
  cmd += " --output-dir " + dir + "/out 2>" + dir + "/err";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << test::read_bytes(dir + "/err");
  TensorMap out;
  for (const auto& vi : graph.outputs) out[vi.name] = read_npy(dir + "/out/" + vi.name + ".npy");
  return out;
}

struct Diff {
  double max_rel = 0, sqnr_db = 0, exact_fraction = 0;
};

Diff diff(const Tensor& ref, const Tensor& test) {
  EXPECT_EQ(ref.shape(), test.shape());
  double max_ref = 0, max_err = 0, sig = 0, noise = 0;
  int64_t exact = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    double a = ref.data<float>()[i], b = test.data<float>()[i];
    max_ref = std::max(max_ref, std::fabs(a));
    max_err = std::max(max_err, std::fabs(a - b));
    sig += a * a;
    noise += (a - b) * (a - b);
    exact += std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(a));
  }
  Diff d;
  d.max_rel = max_ref > 0 ? max_err / max_ref : max_err;
  d.sqnr_db = noise > 0 ? 10 * std::log10(sig / noise) : 300;
  d.exact_fraction = static_cast<double>(exact) / static_cast<double>(ref.numel());
  return d;
}

QuantizeResult quantize(std::shared_ptr<Model> m, const std::string& spec, int64_t context, const QuantConfig& c) {
  SampleSet data = SampleSet::load(parse_data_spec(spec), m->graph, context, 0);
  Calibration cal = calibrate_model(m, c, data, 2);
  return build_quantized_model(*m, c, cal);
}

TEST(OrtInterop, AttentionQdqMatchesSimulation) {
  REQUIRE_ORT();
  auto m = test::attention_model(2, 40, 8, true);
  std::string dir = test::write_random_samples(*m, 2, 21);
  struct Case {
    int bits;
    SoftmaxGridKind grid;
    BcGranularity bc;
    BcForm form;
  };
  const Case cases[] = {
      {8, SoftmaxGridKind::kFixed, BcGranularity::kNone, BcForm::kOffset},
      {8, SoftmaxGridKind::kFixed, BcGranularity::kLength, BcForm::kOffset},
      {8, SoftmaxGridKind::kUnit, BcGranularity::kHead, BcForm::kScale},
      {8, SoftmaxGridKind::kCalibrated, BcGranularity::kTensor, BcForm::kScale},
      {6, SoftmaxGridKind::kFixed, BcGranularity::kHead, BcForm::kOffset},
      {12, SoftmaxGridKind::kUnit, BcGranularity::kLength, BcForm::kScale},
  };
  for (const Case& k : cases) {
    QuantConfig c;
    c.softmax_bits = k.bits;
    c.softmax_grid = k.grid;
    c.softmax_bc = k.bc;
    c.softmax_bc_form = k.form;
    QuantizeResult q = quantize(m, "inputs:" + dir, 0, c);
    std::string path = test::temp_dir() + "/attn_qdq.onnx";
    save_onnx(q.model, path);
    Model loaded = load_onnx(path);
    ReferenceEngine sim(std::make_shared<const Model>(loaded));
    SampleSet data = SampleSet::load(parse_data_spec("inputs:" + dir), m->graph, 0, 0);
    ThreadPool pool(2);
    for (size_t i = 0; i < data.size(); ++i) {
      TensorMap feeds = data.feeds(i);
      TensorMap ours = sim.run(feeds, pool);
      TensorMap ort = run_ort(path, feeds, loaded.graph);
      std::string what = c.summary();
      Diff p = diff(ours.at("probs_out"), ort.at("probs_out"));
      // Quantized probabilities: identical except where float rounding puts a value on the
      // other side of a rounding boundary (at most one grid step).
      EXPECT_GE(p.exact_fraction, 0.999) << what;
      EXPECT_LE(p.max_rel, std::ldexp(1.0, -k.bits) * 1.01 + 1e-6) << what;
      Diff o = diff(ours.at("out"), ort.at("out"));
      EXPECT_LE(o.max_rel, 1e-2) << what;
      EXPECT_GE(o.sqnr_db, 40) << what;
    }
  }
}

TEST(OrtInterop, OptTinyQdqMatchesSimulation) {
  REQUIRE_ORT();
  OptConfig cfg = opt_config("opt-tiny");
  auto weights = make_synthetic_weights(5);
  auto m = std::make_shared<Model>(build_opt(cfg, OptBuildOptions{}, *weights));
  std::mt19937 rng(9);
  std::vector<int64_t> ids(96);
  for (auto& t : ids) t = static_cast<int64_t>(rng() % static_cast<uint32_t>(cfg.vocab_size));
  std::string tokens = test::temp_dir() + "/ids.npy";
  write_npy(tokens, Tensor::from_vector<int64_t>({96}, ids));
  for (BcForm form : {BcForm::kOffset, BcForm::kScale}) {
    QuantConfig c;
    c.softmax_bc = BcGranularity::kLength;
    c.softmax_bc_form = form;
    QuantizeResult q = quantize(m, "tokens:" + tokens, 32, c);
    std::string path = test::temp_dir() + "/opt_qdq.onnx";
    save_onnx(q.model, path);
    Model loaded = load_onnx(path);
    ReferenceEngine sim(std::make_shared<const Model>(loaded));
    ThreadPool pool(2);
    std::vector<int64_t> window(ids.begin(), ids.begin() + 32);
    TensorMap feeds = token_window_feeds(loaded.graph, window);
    Tensor ours = sim.run(feeds, pool).at("logits");
    Tensor ort = run_ort(path, feeds, loaded.graph).at("logits");
    Diff d = diff(ours, ort);
    EXPECT_GE(d.sqnr_db, 30) << bc_form_name(form);
    EXPECT_LE(d.max_rel, 0.05) << bc_form_name(form);
    // And the FP32 graph itself agrees with ORT to float precision.
    std::string fp_path = test::temp_dir() + "/opt_fp32.onnx";
    save_onnx(*m, fp_path);
    ReferenceEngine fp(std::make_shared<const Model>(*m));
    Diff f = diff(fp.run(feeds, pool).at("logits"), run_ort(fp_path, feeds, m->graph).at("logits"));
    EXPECT_LE(f.max_rel, 1e-4);
  }
}

// Greedy decoding through past_key_values: ONNX Runtime (tools/interop/decode_ort.js) and our
// generation give the same tokens on the FP32 opt-tiny graph with Optimum-style cache I/O.
TEST(OrtInterop, PastKeyValuesDecodingGivesOnnxRuntimesTokens) {
  REQUIRE_ORT();
  OptConfig cfg = opt_config("opt-tiny");
  auto weights = make_synthetic_weights(11);
  OptBuildOptions o;
  o.kv_cache = true;
  auto m = std::make_shared<const Model>(build_opt(cfg, o, *weights));
  const std::string path = test::temp_dir() + "/opt_tiny_kv.onnx";
  save_onnx(*m, path);
  const std::string dir = test::temp_dir();
  const std::string cmd = "node " + interop_dir() + "/decode_ort.js " + path + " --heads " +
                          std::to_string(cfg.num_heads) + " --head-dim " +
                          std::to_string(cfg.head_dim()) +
                          " --prompt-len 12 --decode 20 --repeat 1 >" + dir + "/decode.json 2>" +
                          dir + "/decode.err";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << test::read_bytes(dir + "/decode.err");
  // "tokens":[...] on the last line: prompt then generated ids.
  const std::string json = test::read_bytes(dir + "/decode.json");
  const size_t at = json.find("\"tokens\":[");
  ASSERT_NE(at, std::string::npos) << json;
  std::vector<int64_t> ort_tokens;
  for (size_t i = at + 10; i < json.size() && json[i] != ']';) {
    size_t end = 0;
    ort_tokens.push_back(std::stoll(json.substr(i), &end));
    i += end;
    if (json[i] == ',') ++i;
  }
  ASSERT_EQ(ort_tokens.size(), 12u + 21u);
  ReferenceEngine fp(m);
  ThreadPool pool(2);
  GenerationOptions opt;
  opt.max_new = 21;  // decode_ort's prefill makes one token, then 20 steps
  GenerationResult ours = generate_greedy(
      fp, std::vector<int64_t>(ort_tokens.begin(), ort_tokens.begin() + 12), opt, pool);
  EXPECT_EQ(ours.tokens, ort_tokens);
}

}  // namespace
}  // namespace sq
