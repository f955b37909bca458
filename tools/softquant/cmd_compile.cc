// `softquant compile`: lowers a QDQ ONNX model to the int8 engine's graph, packs its GEMM weights
// for a target ISA (`--isa`, default the host's), runs it once on zero-filled inputs of fixed
// shapes to make a session memory plan (planner/memory_plan.h), and writes it all as a compiled
// .sqm (runtime/graph/sqm_format.h), which `run`, `bench` and the C API (runtime/capi/softquant.h)
// load without ONNX or protobuf.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <thread>

#include "quantizer/evaluate.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/engine/int8_lowering.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/planner/execution_arena.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct CompileArgs {
  std::string model, output, isa = "host";
  std::vector<std::string> plan_shapes;  // NAME=D0xD1x...
  int plan_threads = 0;                  // 0: this machine's hardware threads
};

int plan_threads(const CompileArgs& a) {
  if (a.plan_threads > 0) return a.plan_threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// "1x128" -> {1, 128}; every dimension a positive integer.
Shape parse_dims(const std::string& spec, const std::string& text) {
  Shape dims;
  size_t at = 0;
  while (true) {
    const size_t x = text.find('x', at);
    const std::string d = text.substr(at, x == std::string::npos ? std::string::npos : x - at);
    const bool digits = !d.empty() && d.size() <= 18 &&
                        d.find_first_not_of("0123456789") == std::string::npos;
    SQ_CHECK(digits && std::stoll(d) > 0, "--plan-shape '", spec, "': expected NAME=D0xD1x... "
             "with positive integer dimensions (e.g. input_ids=1x128)");
    dims.push_back(std::stoll(d));
    if (x == std::string::npos) return dims;
    at = x + 1;
  }
}

const ValueInfo* find_input(const Graph& g, const std::string& name) {
  for (const ValueInfo& vi : g.inputs) {
    if (vi.name == name) return &vi;
  }
  return nullptr;
}

// The --plan-shape options by input name, each checked against the graph input: it exists, is
// given once, has its rank and agrees with its static dimensions.
std::map<std::string, Shape> parse_plan_shapes(const std::vector<std::string>& specs,
                                               const Graph& g) {
  std::map<std::string, Shape> shapes;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    SQ_CHECK(eq != std::string::npos && eq > 0, "--plan-shape '", spec,
             "': expected NAME=D0xD1x... (e.g. input_ids=1x128)");
    const std::string name = spec.substr(0, eq);
    const ValueInfo* vi = find_input(g, name);
    SQ_CHECK(vi, "--plan-shape '", spec, "': the model has no input '", name, "'");
    SQ_CHECK(!shapes.count(name), "--plan-shape: input '", name, "' given twice");
    Shape dims = parse_dims(spec, spec.substr(eq + 1));
    if (vi->has_shape) {
      SQ_CHECK(dims.size() == vi->dims.size(), "--plan-shape '", spec, "': input '", name,
               "' has rank ", vi->dims.size(), ", not ", dims.size());
      for (size_t d = 0; d < dims.size(); ++d) {
        SQ_CHECK(!vi->dims[d].known() || vi->dims[d].value == dims[d], "--plan-shape '", spec,
                 "': dimension ", d, " of input '", name, "' is ", vi->dims[d].value);
      }
    }
    shape_nbytes(vi->dtype, dims, "--plan-shape '" + spec + "'");  // refuses absurd sizes
    shapes.emplace(name, std::move(dims));
  }
  return shapes;
}

// "" if every dimension of the input is static, else the first that is not, in words.
std::string first_unset_dim(const ValueInfo& vi) {
  if (!vi.has_shape) return "an unknown shape";
  for (size_t d = 0; d < vi.dims.size(); ++d) {
    if (vi.dims[d].known()) continue;
    const std::string& name = vi.dims[d].param;
    return "a symbolic dimension " + std::to_string(d) + (name.empty() ? "" : " ('" + name + "')");
  }
  return "";
}

// Zero-filled inputs for the planning run: each --plan-shape, else the input's static shape.
// nullopt (with one stderr line naming the input and the flag) if an input has a symbolic or
// unknown dimension that no --plan-shape sets.
std::optional<TensorMap> plan_inputs(const Graph& g, const std::map<std::string, Shape>& given) {
  TensorMap feeds;
  for (const ValueInfo& vi : g.inputs) {
    auto it = given.find(vi.name);
    if (it != given.end()) {
      feeds[vi.name] = Tensor::zeros(vi.dtype, it->second);
      continue;
    }
    const std::string unset = first_unset_dim(vi);
    if (!unset.empty()) {
      std::fprintf(stderr, "compile: no memory plan stored: input '%s' has %s; give its shape "
                   "with --plan-shape %s=D0xD1x... to store one\n", vi.name.c_str(),
                   unset.c_str(), vi.name.c_str());
      return std::nullopt;
    }
    Shape shape;
    for (const Dim& d : vi.dims) shape.push_back(d.value);
    feeds[vi.name] = Tensor::zeros(vi.dtype, shape);
  }
  return feeds;
}

// Runs `engine` once on `feeds` with a session arena and returns the plan the arena made.
// Kernel scratch sized per thread is planned for `threads`; sessions with fewer use part of it.
MemoryPlan record_plan(const ReferenceEngine& engine, const TensorMap& feeds, int threads) {
  ThreadPool pool(threads);
  ExecutionArena arena;
  ReferenceEngine::RunOptions options;
  options.arena = &arena;
  engine.run(feeds, pool, options);
  std::optional<MemoryPlan> plan = arena.export_plan();
  SQ_CHECK(plan, "the planning run made no plan");
  return *plan;
}

// The memory plan to store: nullopt when shapes are missing or (without --plan-shape) the
// planning run fails, with one line on stderr saying why. With --plan-shape, a failing run is an
// error.
std::optional<MemoryPlan> make_plan(const ReferenceEngine& engine, const CompileArgs& a,
                                    const std::map<std::string, Shape>& given) {
  std::optional<TensorMap> feeds = plan_inputs(engine.model().graph, given);
  if (!feeds) return std::nullopt;
  try {
    return record_plan(engine, *feeds, plan_threads(a));
  } catch (const Error& e) {
    if (!a.plan_shapes.empty()) {
      throw make_error("the memory planning run with the --plan-shape shapes failed: ", e.what());
    }
    std::fprintf(stderr, "compile: warning: no memory plan stored: the planning run on zero-filled "
                 "inputs of the model's static shapes failed: %s\n", e.what());
    return std::nullopt;
  }
}

void compile_command(const CompileArgs& a) {
  Model qdq = load_onnx(a.model);
  SQ_CHECK(has_quantizers(qdq), a.model, ": has no QuantizeLinear or DequantizeLinear nodes; "
           "compile takes a quantized (QDQ) model: run `softquant quantize` first");
  Int8LoweringReport report;
  Model lowered = lower_to_int8(qdq, &report);
  qdq = Model();  // the lowered graph shares the weights it needs
  // Prepare a copy as the device will (every op known, attributes valid, weights packable), so a
  // model the runtime cannot run is refused here rather than written and refused at load.
  make_int8_engine_from_lowered(std::make_shared<Model>(lowered));
  // --plan-shape names and shapes are checked before any work on weights.
  const std::map<std::string, Shape> plan_shapes = parse_plan_shapes(a.plan_shapes, lowered.graph);
  lowered.metadata["softquant.lowering"] = report.summary();
  lowered.metadata["softquant.source"] = a.model;
  std::string packing = "weights unpacked (packed at load)";
  if (a.isa != "none") {
    kernels::Isa isa = kernels::default_isa();
    if (a.isa != "host") kernels::isa_from_name(a.isa, &isa);  // CLI11 checked the name
    const PrepackStats ps = prepack_int8_weights(lowered, isa);
    packing = std::to_string(ps.matrices) + " weight(s) prepacked for " + kernels::isa_name(isa) +
              " (" + std::to_string(ps.packed_bytes) + " bytes)";
  }
  // The plan comes from the engine a loader of the file builds: the model as stored.
  std::optional<MemoryPlan> plan =
      make_plan(*make_int8_engine_from_lowered(std::make_shared<Model>(lowered)), a, plan_shapes);
  if (plan) lowered.memory_plans.push_back(*plan);
  const SqmWriteStats st = save_sqm(lowered, a.output);
  std::printf("%s\n", report.summary().c_str());
  std::printf("%s\n", packing.c_str());
  if (plan) {
    std::vector<std::string> names;
    for (const ValueInfo& vi : lowered.graph.inputs) names.push_back(vi.name);
    std::printf("memory plan (sessions of up to %d thread(s)): %s\n", plan_threads(a),
                memory_plan_summary(*plan, names).c_str());
  }
  std::printf("wrote %s: %zu bytes (.sqm version %u), %zu nodes, %zu tensors holding %zu bytes\n",
              a.output.c_str(), st.file_bytes, kSqmVersion, st.nodes, st.tensors,
              st.tensor_bytes);
}

}  // namespace

void add_compile_command(CLI::App& app) {
  auto a = std::make_shared<CompileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compile", "Lower a QDQ ONNX model to int8 kernels and write it as a compiled .sqm model");
  cmd->add_option("model", a->model, "Quantized (QDQ) ONNX model")->required();
  cmd->add_option("--output,-o", a->output, "The .sqm file to write")->required();
  cmd->add_option("--isa", a->isa,
                  "Target ISA of the prepacked GEMM weights: host (this machine's, default), "
                  "scalar, avx2, avx512vnni, neon, neondot, or none (store them unpacked, packed "
                  "at load). A model packed for another ISA still runs anywhere, repacked at load")
      ->check(CLI::IsMember({"host", "none", "scalar", "avx2", "avx512vnni", "neon", "neondot"}));
  cmd->add_option("--plan-shape", a->plan_shapes,
                  "NAME=D0xD1x... (repeatable): the shape of input NAME for the memory plan stored "
                  "in the .sqm (e.g. --plan-shape input_ids=1x128 --plan-shape attention_mask=1x128). "
                  "compile runs the model once on zero-filled inputs of these shapes and stores "
                  "where each tensor of a run goes in one arena buffer; a session whose inputs "
                  "have these shapes allocates that buffer when it is made and replays the plan "
                  "from its first run instead of recording one. Inputs with only static dimensions need none; without it for an input "
                  "with a symbolic dimension, no plan is stored")
      ->allow_extra_args(false);
  cmd->add_option("--plan-threads", a->plan_threads,
                  "Worker threads of the planning run (default: this machine's hardware threads). "
                  "Some kernels' scratch grows with a session's threads: the stored plan serves "
                  "sessions of up to this many threads; one with more records its own plan")
      ->check(CLI::Range(1, 1024));
  cmd->callback([a] { compile_command(*a); });
}

}  // namespace sq::cli
