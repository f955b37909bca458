// `softquant run`: executes a model on .npy inputs and writes every graph output as .npy.
#include <filesystem>
#include <iostream>
#include <set>

#include "quantizer/evaluate.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "runtime/planner/execution_arena.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  int threads = 2;
  std::string engine = "fp32";
  bool engine_given = false;
};

// Maps each graph output to DIR/<name>.npy ('/' and '\' in names become '_'); refuses two
// outputs that would share a file.
std::vector<std::string> output_paths(const Graph& g, const std::string& dir) {
  std::vector<std::string> paths;
  std::set<std::string> seen;
  for (const auto& vi : g.outputs) {
    std::string safe = vi.name;
    for (char& c : safe) {
      if (c == '/' || c == '\\') c = '_';
    }
    SQ_CHECK(!safe.empty() && safe != "." && safe != "..", "output '", vi.name,
             "' has no usable file name");
    std::string path = (std::filesystem::path(dir) / (safe + ".npy")).string();
    SQ_CHECK(seen.insert(path).second, "outputs '", vi.name, "' and another output both map to ",
             path);
    paths.push_back(path);
  }
  return paths;
}

void run_command(const RunArgs& args) {
  namespace fs = std::filesystem;
  // Everything that can be checked is checked before the output folder is touched.
  TensorMap feeds;
  for (const auto& spec : args.inputs) {
    size_t eq = spec.find('=');
    SQ_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < spec.size(), "--input '", spec,
             "': expected NAME=FILE.npy");
    std::string name = spec.substr(0, eq);
    SQ_CHECK(!feeds.count(name), "--input '", name, "' given twice");
    feeds[name] = read_npy(spec.substr(eq + 1));
  }
  ModelRunner engine =
      load_model_runner(args.model, parse_engine_kind(args.engine), args.engine_given);
  const Model* model = &engine.model();  // for int8: the lowered graph, same inputs and outputs
  check_bindings(model->graph, feeds);
  std::error_code ec;
  SQ_CHECK(!fs::exists(args.output_dir, ec) || fs::is_directory(args.output_dir, ec),
           args.output_dir, ": exists and is not a folder");
  std::vector<std::string> paths = output_paths(model->graph, args.output_dir);

  ThreadPool pool(args.threads);
  // One pass: the session arena replays the plan a compiled model stores for these shapes, else
  // only records it (a later run with these shapes would replay).
  ExecutionArena arena;
  arena.seed(engine.model().memory_plans);
  TensorMap outputs = engine.run(feeds, pool, &arena);

  const bool created = !fs::exists(args.output_dir, ec);
  if (created) {
    fs::create_directories(args.output_dir, ec);
    SQ_CHECK(!ec, args.output_dir, ": cannot create output folder (", ec.message(), ")");
  }
  // All outputs or none: a failed write (a full disk) leaves no partial set of results, and no
  // empty folder where there was none.
  std::vector<std::pair<std::string, const Tensor*>> files;
  for (size_t i = 0; i < paths.size(); ++i) files.emplace_back(paths[i], &outputs.at(model->graph.outputs[i].name));
  try {
    write_npy_files(files);
  } catch (const Error&) {
    if (created) fs::remove(args.output_dir, ec);  // only if still empty
    throw;
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    const Tensor& t = *files[i].second;
    std::cout << model->graph.outputs[i].name << ": " << dtype_name(t.dtype()) << " "
              << shape_str(t.shape()) << " -> " << paths[i] << "\n";
  }
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run a model on .npy inputs and write each output as DIR/<name>.npy");
  cmd->add_option("model", args->model, "ONNX model file, or a compiled .sqm (int8 engine)")
      ->required();
  cmd->add_option("--input,-i", args->inputs, "NAME=FILE.npy, once per graph input")->required();
  cmd->add_option("--output-dir,-o", args->output_dir,
                  "Folder for the outputs (created if missing)")
      ->required();
  cmd->add_option("--threads", args->threads, "Worker threads")
      ->default_val(2)
      ->check(CLI::Range(1, 256));
  CLI::Option* engine =
      cmd->add_option("--engine", args->engine,
                      "fp32 (every op as written), sim (QDQ simulation) or int8 (integer kernels)")
          ->default_val("fp32")
          ->check(CLI::IsMember({"fp32", "sim", "int8"}));
  cmd->callback([args, engine] {
    args->engine_given = engine->count() > 0;
    run_command(*args);
  });
}

}  // namespace sq::cli
