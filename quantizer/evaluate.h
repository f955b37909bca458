// Why this exists: the accuracy measurements every command and report shares: which engine runs
// a model (fp32 reference, or the QDQ simulation), perplexity over token windows (every predicted
// token counted), and per-output SQNR / cosine / max-abs-error between a reference and a test run.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "calib/dataset.h"
#include "runtime/engine/reference_engine.h"

namespace sq {

enum class EngineKind { kFp32, kSim, kInt8 };
EngineKind parse_engine_kind(const std::string& s);  // fp32|sim|int8
const char* engine_kind_name(EngineKind k);

// fp32 runs every op as written in float; sim runs a QDQ graph through the same reference
// kernels, whose QuantizeLinear/DequantizeLinear use the shared quantization arithmetic; int8
// lowers the QDQ patterns to integer kernels (runtime/engine/int8_engine.h) and prints on stderr
// which nodes still compute in float. sim and int8 refuse a model without quantizers (a likely
// mistake: nothing would be quantized).
class ModelRunner {
 public:
  ModelRunner(std::shared_ptr<const Model> model, EngineKind kind);
  explicit ModelRunner(std::unique_ptr<ReferenceEngine> engine) : engine_(std::move(engine)) {}
  // arena: the caller's session arena (planner/execution_arena.h), or nullptr for the heap.
  TensorMap run(const TensorMap& inputs, ThreadPool& pool, ExecutionArena* arena = nullptr) const {
    ReferenceEngine::RunOptions options;
    options.arena = arena;
    return engine_->run(inputs, pool, options);
  }
  TensorMap run_observed(const TensorMap& inputs, ThreadPool& pool,
                         const ReferenceEngine::Observer& observer,
                         ExecutionArena* arena = nullptr) const {
    ReferenceEngine::RunOptions options;
    options.observer = &observer;
    options.arena = arena;
    return engine_->run(inputs, pool, options);
  }
  // The graph the engine executes (for int8: the lowered one).
  const Model& model() const { return engine_->model(); }
  const ReferenceEngine& engine() const { return *engine_; }

 private:
  std::unique_ptr<ReferenceEngine> engine_;
};

// Loads MODEL for `run` and `bench`: an ONNX file, or a compiled .sqm (recognized by its magic,
// whatever its extension), whose graph is lowered already and runs on the int8 engine only:
// asking for fp32 or sim explicitly (`kind_given`) is an error.
ModelRunner load_model_runner(const std::string& path, EngineKind kind, bool kind_given);

// Loads a causal decoder for `generate` and `bench --decode`, as load_model_runner does, except
// that on the int8 engine a plain decoder (no past_key_values inputs) is prepared for cached
// decoding (runtime/engine/decode_graph.h), so the runtime keeps its int8 KV cache.
ModelRunner load_decoder_runner(const std::string& path, EngineKind kind, bool kind_given);

bool has_quantizers(const Model& model);

struct PerplexityResult {
  double perplexity = 0, mean_nll = 0;
  int64_t tokens = 0, windows = 0;
};

// logits output: the first output named "logits", else the first output; shape [1, L, vocab].
PerplexityResult evaluate_perplexity(const ModelRunner& runner, const SampleSet& windows,
                                     int threads, bool progress = true);

struct OutputMetrics {
  double sqnr_db = 0, cosine = 0, max_abs_error = 0;
};

// Accumulates signal and error energy over all samples, per output name.
class OutputComparison {
 public:
  void add(const std::string& name, const Tensor& reference, const Tensor& test);
  std::map<std::string, OutputMetrics> results() const;

 private:
  struct Acc {
    double signal = 0, noise = 0, dot = 0, ref_sq = 0, test_sq = 0, max_abs = 0;
  };
  std::map<std::string, Acc> acc_;
};

}  // namespace sq
