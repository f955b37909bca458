// `softquant compare`: SQNR, cosine similarity and max abs error of a test model's outputs
// against a reference model's, over every sample in a folder.
#include <cstdio>
#include <iostream>

#include "calib/progress.h"
#include "quantizer/evaluate.h"
#include "runtime/core/json.h"
#include "runtime/graph/onnx_io.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct CompareArgs {
  std::string reference, test, inputs, engine = "sim";
  int64_t max_samples = 0;
  bool json = false;
  int threads = 2;
};

void compare_command(const CompareArgs& a) {
  auto ref_model = std::make_shared<const Model>(load_onnx(a.reference));
  auto test_model = std::make_shared<const Model>(load_onnx(a.test));
  ModelRunner ref(ref_model, EngineKind::kFp32);
  EngineKind kind = parse_engine_kind(a.engine);
  if (kind == EngineKind::kSim && !has_quantizers(*test_model)) kind = EngineKind::kFp32;
  ModelRunner test(test_model, kind);
  DataSpec spec{DataSpec::Kind::kInputs, a.inputs};
  SampleSet data = SampleSet::load(spec, ref_model->graph, 0, a.max_samples);
  OutputComparison cmp;
  ThreadPool pool(a.threads);
  Progress bar("comparing", static_cast<int64_t>(data.size()));
  for (size_t i = 0; i < data.size(); ++i) {
    TensorMap feeds = data.feeds(i);
    TensorMap r = ref.run(feeds, pool);
    TensorMap t = test.run(feeds, pool);
    for (const auto& [name, value] : r) {
      auto it = t.find(name);
      SQ_CHECK(it != t.end(), "output '", name, "' of ", a.reference, " is missing from ", a.test);
      cmp.add(name, value, it->second);
    }
    bar.step();
  }
  bar.finish();
  Json outputs = Json::object();
  std::printf("%-32s %10s %10s %14s\n", "output", "SQNR dB", "cosine", "max abs err");
  for (const auto& [name, m] : cmp.results()) {
    std::printf("%-32s %10.3f %10.6f %14.6g\n", name.c_str(), m.sqnr_db, m.cosine, m.max_abs_error);
    Json o = Json::object();
    o.set("sqnr_db", m.sqnr_db);
    o.set("cosine", m.cosine);
    o.set("max_abs_error", m.max_abs_error);
    outputs.set(name, o);
  }
  std::printf("over %zu sample(s); reference engine fp32, test engine %s\n", data.size(), engine_kind_name(kind));
  if (a.json) {
    Json j = Json::object();
    j.set("outputs", outputs);
    std::cout << j.dump() << "\n";
  }
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Compare a test model's outputs with a reference model's (SQNR, cosine, max abs error)");
  cmd->add_option("reference", a->reference, "Reference ONNX model (run in fp32)")->required();
  cmd->add_option("test", a->test, "Test ONNX model (e.g. the quantized QDQ model)")->required();
  cmd->add_option("--inputs", a->inputs, "Folder with one subfolder of <input>.npy per sample")->required();
  cmd->add_option("--engine", a->engine, "Engine for the test model: sim (QDQ simulation), int8 (integer kernels) or fp32")->default_val("sim");
  cmd->add_option("--max-samples", a->max_samples, "Use at most N samples (0: all)")->default_val(0);
  cmd->add_flag("--json", a->json, "Print {\"outputs\": {name: {sqnr_db, cosine, max_abs_error}}} as JSON on the last line");
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a] { compare_command(*a); });
}

}  // namespace sq::cli
