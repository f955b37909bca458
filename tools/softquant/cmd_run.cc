// `softquant run`: executes a model on .npy inputs and writes every graph output as .npy.
#include <filesystem>
#include <iostream>

#include "runtime/engine/reference_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  int threads = 2;
};

void run_command(const RunArgs& args) {
  TensorMap feeds;
  for (const auto& spec : args.inputs) {
    size_t eq = spec.find('=');
    SQ_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < spec.size(), "--input '", spec,
             "': expected NAME=FILE.npy");
    std::string name = spec.substr(0, eq);
    SQ_CHECK(!feeds.count(name), "--input '", name, "' given twice");
    feeds[name] = read_npy(spec.substr(eq + 1));
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(args.output_dir, ec)) {
    fs::create_directories(args.output_dir, ec);
    SQ_CHECK(!ec, args.output_dir, ": cannot create output folder (", ec.message(), ")");
  }
  SQ_CHECK(fs::is_directory(args.output_dir, ec), args.output_dir, ": is not a folder");

  auto model = std::make_shared<const Model>(load_onnx(args.model));
  ReferenceEngine engine(model);
  ThreadPool pool(args.threads);
  TensorMap outputs = engine.run(feeds, pool);
  for (const auto& vi : model->graph.outputs) {
    std::string safe = vi.name;
    for (char& c : safe) if (c == '/' || c == '\\') c = '_';
    std::string path = (fs::path(args.output_dir) / (safe + ".npy")).string();
    write_npy(path, outputs.at(vi.name));
    std::cout << vi.name << ": " << dtype_name(outputs.at(vi.name).dtype()) << " "
              << shape_str(outputs.at(vi.name).shape()) << " -> " << path << "\n";
  }
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model on .npy inputs and write each output as DIR/<name>.npy");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("--input,-i", args->inputs, "NAME=FILE.npy, once per graph input")->required();
  cmd->add_option("--output-dir,-o", args->output_dir, "Folder for the outputs (created if missing)")->required();
  cmd->add_option("--threads", args->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([args] { run_command(*args); });
}

}  // namespace sq::cli
