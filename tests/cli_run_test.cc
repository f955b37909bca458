// `softquant run` end to end: a saved model run on .npy inputs writes DIR/<output>.npy with the
// right values; every bad input exits 1 with exactly one line on stderr and writes nothing.
#include <gtest/gtest.h>

#include <filesystem>

#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

namespace fs = std::filesystem;

ValueInfo value(const std::string& name, DType dt, std::vector<Dim> dims, bool has_shape = true) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = dt;
  vi.has_type = true;
  vi.has_shape = has_shape;
  vi.dims = std::move(dims);
  return vi;
}

Node node(const std::string& name, const std::string& op, std::vector<std::string> ins,
          std::vector<std::string> outs) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  return n;
}

// A folder with model.onnx (sum = a + b, "prod/ab" = a * b), a.npy, b.npy and bad inputs.
class CliRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    Model m;
    m.opset_imports[""] = 17;
    m.graph.inputs.push_back(value("a", DType::kFloat32, {Dim{2, ""}, Dim{3, ""}}));
    m.graph.inputs.push_back(value("b", DType::kFloat32, {Dim{2, ""}, Dim{3, ""}}));
    m.graph.outputs.push_back(value("sum", DType::kFloat32, {}, false));
    m.graph.outputs.push_back(value("prod/ab", DType::kFloat32, {}, false));
    m.graph.nodes.push_back(node("add", "Add", {"a", "b"}, {"sum"}));
    m.graph.nodes.push_back(node("mul", "Mul", {"a", "b"}, {"prod/ab"}));
    save_onnx(m, path("model.onnx"));
    write_npy(path("a.npy"), Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
    write_npy(path("b.npy"), Tensor::from_vector<float>({2, 3}, {0.5f, -1, 2, 10, 0, -3}));
    write_npy(path("b_int.npy"), Tensor::zeros(DType::kInt32, {2, 3}));
    std::string b = read_bytes(path("b.npy"));
    write_bytes(path("b_cut.npy"), b.substr(0, b.size() - 7));
    std::string model = read_bytes(path("model.onnx"));
    write_bytes(path("cut.onnx"), model.substr(0, model.size() / 2));
    write_bytes(path("plain_file"), "not a folder");
    fs::create_directory(path("model_dir.onnx"));
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string good_inputs() const {
    return " --input a=" + path("a.npy") + " --input b=" + path("b.npy");
  }

  // Runs a case that must fail: exit 1, one line on stderr containing `needle`, no output.
  void expect_failure(const std::string& args, const std::string& needle,
                      const std::string& out_dir) {
    SCOPED_TRACE(args);
    CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("softquant: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    if (fs::is_directory(out_dir)) {
      EXPECT_TRUE(fs::is_empty(out_dir)) << out_dir;
    } else {
      EXPECT_FALSE(fs::exists(out_dir + "/sum.npy"));
    }
  }

  std::string dir_;
};

TEST_F(CliRun, WritesEveryOutputAsNpy) {
  std::string out = path("results/nested");  // created on demand
  CliResult r = run_cli("run " + path("model.onnx") + good_inputs() + " -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("sum: float32 [2,3]"), std::string::npos) << r.out;
  Tensor sum = read_npy(out + "/sum.npy");
  Tensor prod = read_npy(out + "/prod_ab.npy");  // '/' in an output name becomes '_'
  EXPECT_EQ(sum.shape(), (Shape{2, 3}));
  EXPECT_EQ(sum.to_float_vector(), (std::vector<float>{1.5f, 1, 5, 14, 5, 3}));
  EXPECT_EQ(prod.to_float_vector(), (std::vector<float>{0.5f, -2, 6, 40, 0, -18}));
  // Only the two outputs, no temporary files.
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), 2);
  // Running again overwrites in place; --threads is honoured.
  r = run_cli("run " + path("model.onnx") + good_inputs() + " -o " + out + " --threads 3");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_npy(out + "/sum.npy").to_float_vector(), sum.to_float_vector());
}

TEST_F(CliRun, BadInputsFailCleanly) {
  const std::string model = path("model.onnx");
  const std::string out = path("out");
  expect_failure("run " + path("missing.onnx") + good_inputs() + " -o " + out, "no such file", out);
  expect_failure("run " + path("cut.onnx") + good_inputs() + " -o " + out, "not a valid ONNX model",
                 out);
  expect_failure("run " + path("model_dir.onnx") + good_inputs() + " -o " + out, "is a directory",
                 out);
  expect_failure("run " + model + " --input " + path("a.npy") + " -o " + out,
                 "expected NAME=FILE.npy", out);
  expect_failure("run " + model + good_inputs() + " --input c=" + path("a.npy") + " -o " + out,
                 "unknown input 'c'", out);
  expect_failure("run " + model + " --input a=" + path("a.npy") + " -o " + out, "missing input 'b'",
                 out);
  expect_failure("run " + model + " --input a=" + path("a.npy") +
                     " --input b=" + path("b_int.npy") + " -o " + out,
                 "input 'b': got int32", out);
  expect_failure("run " + model + " --input a=" + path("a.npy") +
                     " --input b=" + path("b_cut.npy") + " -o " + out,
                 "truncated .npy data", out);
  expect_failure("run " + model + " --input a=" + path("a.npy") + " --input b=" + path("nope.npy") +
                     " -o " + out,
                 "no such file", out);
  expect_failure("run " + model + good_inputs() + " -o /proc/sq_nope", "/proc/sq_nope",
                 "/proc/sq_nope");
  EXPECT_FALSE(fs::exists("/proc/sq_nope"));
  expect_failure("run " + model + good_inputs() + " -o " + path("plain_file"), "not a folder",
                 path("plain_file"));
  EXPECT_EQ(read_bytes(path("plain_file")), "not a folder");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliRun, UsageErrorsAreOneLine) {
  CliResult r = run_cli("run " + path("model.onnx") + good_inputs());  // no --output-dir
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--output-dir"), std::string::npos) << r.err;
  r = run_cli("run " + path("model.onnx") + good_inputs() + " -o " + path("o") + " --threads 0");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(path("o")));
  r = run_cli("frobnicate");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  r = run_cli("run --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--input"), std::string::npos);
}

}  // namespace
}  // namespace sq::test
