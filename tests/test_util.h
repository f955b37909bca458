// Why this exists: small helpers shared by the test suites: paths to test data and the CLI,
// running the CLI and capturing its output, building single-node graphs for op tests, and
// comparing results bit for bit.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/engine/reference_engine.h"

namespace sq::test {

std::string data_dir();
std::string cli_path();
// A fresh empty temporary folder, unique per call, removed when the test binary exits.
std::string temp_dir();

// Whole-file helpers for tests that build, cut or tamper with files.
std::string read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::string& bytes);
// Number of '\n'-terminated lines (a CLI error must be exactly one).
int count_lines(const std::string& text);

struct CliResult {
  int exit_code = 0;
  std::string out, err;
};
// Runs `softquant <args>` through the shell; args are passed as written.
CliResult run_cli(const std::string& args);

// Runs a one-node model: inputs given as (name, tensor); attributes on the node.
// Returns the node's outputs in order.
std::vector<Tensor> run_single_op(const std::string& op_type,
                                  const std::vector<std::pair<std::string, Tensor>>& inputs,
                                  const std::map<std::string, Attribute>& attrs = {},
                                  size_t num_outputs = 1, int64_t opset = 17);

// Same names, dtypes, shapes and bytes (a gtest failure naming the first output that differs).
void expect_bit_identical(const TensorMap& a, const TensorMap& b);

}  // namespace sq::test
