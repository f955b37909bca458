#include "tests/test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace sq::test {

std::string data_dir() { return SQ_TEST_DATA_DIR; }
std::string cli_path() { return SQ_CLI_PATH; }

namespace {
// Removes every folder temp_dir() handed out when the test binary exits.
class TempDirs {
 public:
  ~TempDirs() {
    std::error_code ec;
    for (const auto& p : dirs_) std::filesystem::remove_all(p, ec);
  }
  void add(const std::filesystem::path& p) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(p);
  }

 private:
  std::mutex mu_;
  std::vector<std::filesystem::path> dirs_;
};
}  // namespace

std::string temp_dir() {
  static std::atomic<int> counter{0};
  static TempDirs dirs;
  auto p = std::filesystem::temp_directory_path() /
           ("sqtest_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  dirs.add(p);
  return p.string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

CliResult run_cli(const std::string& args) {
  std::string dir = temp_dir();
  std::string out = dir + "/stdout", err = dir + "/stderr";
  std::string cmd = cli_path() + " " + args + " >" + out + " 2>" + err + " </dev/null";
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_bytes(out);
  r.err = read_bytes(err);
  std::filesystem::remove_all(dir);
  return r;
}

std::vector<Tensor> run_single_op(const std::string& op_type,
                                  const std::vector<std::pair<std::string, Tensor>>& inputs,
                                  const std::map<std::string, Attribute>& attrs, size_t num_outputs,
                                  int64_t opset) {
  auto model = std::make_shared<Model>();
  model->opset_imports[""] = opset;
  Node node;
  node.name = "test_" + op_type;
  node.op_type = op_type;
  node.attrs = attrs;
  TensorMap feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& [name, t] = inputs[i];
    node.inputs.push_back(name);
    if (name.empty()) continue;  // omitted optional input
    ValueInfo vi;
    vi.name = name;
    vi.dtype = t.dtype();
    vi.has_type = true;
    model->graph.inputs.push_back(vi);
    feeds[name] = t;
  }
  for (size_t o = 0; o < num_outputs; ++o) {
    node.outputs.push_back("out" + std::to_string(o));
    ValueInfo vi;
    vi.name = node.outputs.back();
    model->graph.outputs.push_back(vi);
  }
  model->graph.nodes.push_back(node);
  ReferenceEngine engine(model);
  ThreadPool pool(2);
  TensorMap result = engine.run(feeds, pool);
  std::vector<Tensor> outs;
  for (size_t o = 0; o < num_outputs; ++o) outs.push_back(result.at("out" + std::to_string(o)));
  return outs;
}

void expect_bit_identical(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.dtype(), u.dtype()) << name;
    ASSERT_EQ(t.shape(), u.shape()) << name;
    EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << name << " differs";
  }
}

}  // namespace sq::test
