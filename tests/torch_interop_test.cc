// Interop with torch.onnx: every fixture under tests/data/torch/<case>/ (written by
// tools/fixtures/make_fixtures.py) is a graph exported by torch.onnx.export together with
// PyTorch's own outputs. The reference engine, and `softquant run`, must reproduce them within the
// case's tolerance, measured as max|actual - expected| / max|expected| per output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

namespace fs = std::filesystem;

std::string torch_dir() { return data_dir() + "/torch"; }

// One (model, inputs, expected outputs) triple: a case folder, or one of its sets/<name>/.
struct InteropCase {
  std::string name;       // gtest-safe: case folder, plus "__" and the set name for extra sets
  std::string case_dir;   // holds model.onnx and meta.json
  std::string data_root;  // holds inputs/ and expected/
};

void PrintTo(const InteropCase& c, std::ostream* os) { *os << c.data_root; }

std::string gtest_safe(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

std::vector<InteropCase> discover_cases() {
  std::vector<InteropCase> cases;
  std::error_code ec;
  if (!fs::is_directory(torch_dir(), ec)) return cases;
  for (const auto& entry : fs::directory_iterator(torch_dir())) {
    if (!fs::exists(entry.path() / "model.onnx")) continue;
    std::string dir = entry.path().string(), name = entry.path().filename().string();
    cases.push_back({gtest_safe(name), dir, dir});
    fs::path sets = entry.path() / "sets";
    if (!fs::is_directory(sets, ec)) continue;
    for (const auto& set : fs::directory_iterator(sets)) {
      cases.push_back({gtest_safe(name + "__" + set.path().filename().string()), dir,
                       set.path().string()});
    }
  }
  std::sort(cases.begin(), cases.end(),
            [](const InteropCase& a, const InteropCase& b) { return a.name < b.name; });
  return cases;
}

// meta.json is written by make_fixtures.py; only "tolerance" is needed here.
double read_tolerance(const std::string& case_dir) {
  std::ifstream in(case_dir + "/meta.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  size_t key = text.find("\"tolerance\"");
  if (key == std::string::npos) return 1e-4;
  size_t colon = text.find(':', key);
  return std::strtod(text.c_str() + colon + 1, nullptr);
}

// Every <stem>.npy in a folder, keyed by stem (the graph input or output name).
TensorMap read_npy_folder(const std::string& dir) {
  TensorMap map;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".npy") {
      map[entry.path().stem().string()] = read_npy(entry.path().string());
    }
  }
  return map;
}

// max|a - b| / max|b|; +inf when a holds a NaN or shapes differ.
double relative_error(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape()) return INFINITY;
  std::vector<float> a = actual.to_float_vector(), b = expected.to_float_vector();
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return INFINITY;
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(b[i])));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

// Compares every expected/<name>.npy against outputs[name]; prints the measured ratios.
void expect_matches(const std::string& label, const TensorMap& outputs,
                    const std::string& expected_dir, double tolerance) {
  TensorMap expected = read_npy_folder(expected_dir);
  ASSERT_FALSE(expected.empty()) << expected_dir << ": no expected outputs";
  for (const auto& [name, want] : expected) {
    auto it = outputs.find(name);
    ASSERT_NE(it, outputs.end()) << label << ": output '" << name << "' was not produced";
    const Tensor& got = it->second;
    EXPECT_EQ(got.dtype(), want.dtype()) << label << ": output '" << name << "'";
    ASSERT_EQ(shape_str(got.shape()), shape_str(want.shape())) << label << ": output '" << name
                                                               << "'";
    double err = relative_error(got, want);
    std::cout << "[interop] " << label << " " << name << " " << shape_str(want.shape())
              << ": max|a-b|/max|b| = " << err << " (tolerance " << tolerance << ")\n";
    EXPECT_LE(err, tolerance) << label << ": output '" << name << "'";
  }
}

class TorchInterop : public ::testing::TestWithParam<InteropCase> {};

TEST_P(TorchInterop, ReferenceEngineMatchesPyTorch) {
  const InteropCase& c = GetParam();
  auto model = std::make_shared<const Model>(load_onnx(c.case_dir + "/model.onnx"));
  ReferenceEngine engine(model);
  TensorMap feeds = read_npy_folder(c.data_root + "/inputs");
  ASSERT_EQ(feeds.size(), model->graph.inputs.size()) << c.data_root << ": one .npy per input";
  ThreadPool pool(2);
  TensorMap outputs = engine.run(feeds, pool);
  expect_matches(c.name, outputs, c.data_root + "/expected", read_tolerance(c.case_dir));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchInterop, ::testing::ValuesIn(discover_cases()),
                         [](const ::testing::TestParamInfo<InteropCase>& info) {
                           return info.param.name;
                         });

// The suite above is empty (and passes vacuously) if the fixtures went missing: pin them.
TEST(TorchInteropFixtures, AllCasesPresent) {
  std::vector<std::string> names;
  for (const auto& c : discover_cases()) names.push_back(c.name);
  for (const char* want : {"opt_tiny_opset14", "opt_tiny_opset17", "opt_tiny_kv_opset17",
                           "sd_block_c64_s8_opset14", "sd_block_c64_s8_opset17",
                           "sd_block_c64_s8_gelu", "opt_tiny_opset14__batch3_seq5",
                           "sd_block_c64_s8_opset14__batch2_s4_tokens7"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

// `softquant run` end to end: writes one .npy per graph output (names with '/' or '\' become
// '_'; the fixtures' output names have neither) that must match PyTorch like the engine does.
class TorchInteropCli : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchInteropCli, RunWritesOutputsMatchingPyTorch) {
  std::string case_dir = torch_dir() + "/" + GetParam();
  std::string out_dir = temp_dir() + "/out";
  std::string args = "run " + case_dir + "/model.onnx -o " + out_dir;
  for (const auto& entry : fs::directory_iterator(case_dir + "/inputs")) {
    args += " --input " + entry.path().stem().string() + "=" + entry.path().string();
  }
  CliResult r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  TensorMap written = read_npy_folder(out_dir);
  size_t num_expected = 0;
  for (const auto& entry : fs::directory_iterator(case_dir + "/expected")) {
    (void)entry;
    ++num_expected;
  }
  EXPECT_EQ(written.size(), num_expected) << "one .npy per graph output";
  expect_matches("cli " + GetParam(), written, case_dir + "/expected", read_tolerance(case_dir));
  fs::remove_all(fs::path(out_dir).parent_path());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TorchInteropCli,
                         ::testing::Values("opt_tiny_opset17", "opt_tiny_kv_opset17"));

// Causality survives export and execution: changing the last token of row 0 must leave every
// earlier position's logits bit-identical (masked keys get exactly zero probability).
TEST(TorchInteropCausal, LastTokenDoesNotChangeEarlierLogits) {
  std::string case_dir = torch_dir() + "/opt_tiny_opset17";
  auto model = std::make_shared<const Model>(load_onnx(case_dir + "/model.onnx"));
  ReferenceEngine engine(model);
  TensorMap feeds = read_npy_folder(case_dir + "/inputs");
  ThreadPool pool(2);
  Tensor before = engine.run(feeds, pool).at("logits");

  Tensor ids = feeds.at("input_ids").clone();
  const int64_t seq = ids.dim(1);
  int64_t* p = ids.data<int64_t>();
  p[seq - 1] = (p[seq - 1] + 17) % 256;  // row 0, last position
  feeds["input_ids"] = ids;
  Tensor after = engine.run(feeds, pool).at("logits");

  const int64_t vocab = before.dim(2);
  const float* a = before.data<float>();
  const float* b = after.data<float>();
  for (int64_t i = 0; i < (seq - 1) * vocab; ++i) {
    ASSERT_EQ(a[i], b[i]) << "row 0, position " << i / vocab << ", token " << i % vocab;
  }
  bool last_changed = false;
  for (int64_t i = (seq - 1) * vocab; i < seq * vocab; ++i) last_changed |= a[i] != b[i];
  EXPECT_TRUE(last_changed) << "the changed token must change its own logits";
  // Row 1 did not change at all.
  for (int64_t i = seq * vocab; i < before.numel(); ++i) ASSERT_EQ(a[i], b[i]);
}

}  // namespace
}  // namespace sq::test
