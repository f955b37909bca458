#include "quantizer/evaluate.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "calib/progress.h"
#include "runtime/engine/decode_graph.h"
#include "runtime/engine/generation.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/planner/execution_arena.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"

namespace sq {

EngineKind parse_engine_kind(const std::string& s) {
  if (s == "fp32") return EngineKind::kFp32;
  if (s == "sim") return EngineKind::kSim;
  if (s == "int8") return EngineKind::kInt8;
  throw make_error("unknown --engine '", s, "' (expected fp32, sim or int8)");
}

const char* engine_kind_name(EngineKind k) {
  switch (k) {
    case EngineKind::kFp32: return "fp32";
    case EngineKind::kSim: return "sim";
    case EngineKind::kInt8: return "int8";
  }
  return "?";
}

bool has_quantizers(const Model& model) {
  for (const Node& n : model.graph.nodes) {
    if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear") return true;
  }
  return false;
}

static std::unique_ptr<ReferenceEngine> make_engine(std::shared_ptr<const Model> model,
                                                    EngineKind kind) {
  SQ_CHECK(kind == EngineKind::kFp32 || has_quantizers(*model), "--engine ",
           engine_kind_name(kind), " needs a quantized (QDQ) model, but this model has no "
           "QuantizeLinear or DequantizeLinear nodes: run `softquant quantize` first, or use "
           "--engine fp32");
  if (kind != EngineKind::kInt8) return std::make_unique<ReferenceEngine>(std::move(model));
  Int8LoweringReport report;
  auto engine = make_int8_engine(std::move(model), &report);  // frees the QDQ copy early
  std::fprintf(stderr, "%s\n", report.summary().c_str());
  return engine;
}

ModelRunner::ModelRunner(std::shared_ptr<const Model> model, EngineKind kind)
    : engine_(make_engine(std::move(model), kind)) {}

ModelRunner load_model_runner(const std::string& path, EngineKind kind, bool kind_given) {
  if (!is_sqm_file(path)) return ModelRunner(std::make_shared<const Model>(load_onnx(path)), kind);
  SQ_CHECK(!kind_given || kind == EngineKind::kInt8, path, ": a compiled .sqm model runs on the "
           "int8 engine only, not --engine ", engine_kind_name(kind));
  auto lowered = std::make_shared<Model>(load_sqm(path));
  try {
    return ModelRunner(make_int8_engine_from_lowered(std::move(lowered)));
  } catch (const Error& e) {
    // A cycle, dangling input or unknown op found while preparing: name the file too.
    throw make_error(path, ": ", e.what());
  }
}

ModelRunner load_decoder_runner(const std::string& path, EngineKind kind, bool kind_given) {
  std::shared_ptr<Model> lowered;
  if (is_sqm_file(path)) {
    SQ_CHECK(!kind_given || kind == EngineKind::kInt8, path, ": a compiled .sqm model runs on the "
             "int8 engine only, not --engine ", engine_kind_name(kind));
    lowered = std::make_shared<Model>(load_sqm(path));
  } else {
    Model model = load_onnx(path);
    if (kind != EngineKind::kInt8) return ModelRunner(std::make_shared<const Model>(std::move(model)), kind);
    SQ_CHECK(has_quantizers(model), "--engine int8 needs a quantized (QDQ) model, but this model "
             "has no QuantizeLinear or DequantizeLinear nodes: run `softquant quantize` first, or "
             "use --engine fp32");
    Int8LoweringReport report;
    lowered = std::make_shared<Model>(lower_to_int8(model, &report));
    model = Model();  // the lowered graph shares the weights it still needs
    prepack_int8_weights(*lowered, kernels::default_isa());  // unpacked copies freed one by one
    std::fprintf(stderr, "%s\n", report.summary().c_str());
  }
  try {
    if (decode_cache_for(*lowered) == DecodeCache::kRecompute) {
      lowered = std::make_shared<Model>(prepare_for_cached_decoding(*lowered));
    }
    return ModelRunner(make_int8_engine_from_lowered(std::move(lowered)));
  } catch (const Error& e) {
    // A cycle, dangling input or unknown op found while preparing: name the file too.
    throw make_error(path, ": ", e.what());
  }
}

static std::string logits_name(const Graph& g) {
  for (const auto& vi : g.outputs) {
    if (vi.name == "logits") return vi.name;
  }
  SQ_CHECK(!g.outputs.empty(), "model has no outputs");
  return g.outputs[0].name;
}

PerplexityResult evaluate_perplexity(const ModelRunner& runner, const SampleSet& windows,
                                     int threads, bool progress) {
  SQ_CHECK(windows.is_tokens(), "perplexity needs token data (--tokens FILE.npy)");
  const std::string out_name = logits_name(runner.model().graph);
  ThreadPool pool(threads);
  ExecutionArena arena;  // windows of one length share one plan (the tail re-plans)
  arena.seed(runner.model().memory_plans);  // a compiled model's stored plans, if any
  Progress bar("evaluating", static_cast<int64_t>(windows.size()), progress);
  double total_nll = 0;
  int64_t tokens = 0;
  for (size_t w = 0; w < windows.size(); ++w) {
    const std::vector<int64_t>& ids = windows.window(w);
    TensorMap outs = runner.run(windows.feeds(w), pool, &arena);
    const Tensor& logits = outs.at(out_name);
    const int64_t len = static_cast<int64_t>(ids.size());
    SQ_CHECK(logits.dtype() == DType::kFloat32 && logits.rank() == 3 && logits.dim(0) == 1 &&
                 logits.dim(1) == len,
             "output '", out_name, "' has shape ", shape_str(logits.shape()), ", expected [1,", len, ",vocab]");
    const int64_t vocab = logits.dim(2);
    const float* p = logits.data<float>();
    for (int64_t i = 0; i + 1 < len; ++i) {
      const float* row = p + i * vocab;
      const int64_t target = ids[static_cast<size_t>(i + 1)];
      SQ_CHECK(target < vocab, "token id ", target, " is outside the model's vocabulary of ", vocab);
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t v = 0; v < vocab; ++v) m = std::max(m, static_cast<double>(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - m);
      double nll = m + std::log(sum) - row[target];
      SQ_CHECK(std::isfinite(nll), "non-finite logits in window ", w, " at position ", i);
      total_nll += nll;
      ++tokens;
    }
    bar.step();
  }
  bar.finish();
  SQ_CHECK(tokens > 0, "no predicted tokens (windows need at least 2 tokens)");
  PerplexityResult r;
  r.mean_nll = total_nll / static_cast<double>(tokens);
  r.perplexity = std::exp(r.mean_nll);
  r.tokens = tokens;
  r.windows = static_cast<int64_t>(windows.size());
  return r;
}

void OutputComparison::add(const std::string& name, const Tensor& reference, const Tensor& test) {
  SQ_CHECK(reference.shape() == test.shape(), "output '", name, "': shapes differ (",
           shape_str(reference.shape()), " vs ", shape_str(test.shape()), ")");
  Acc& a = acc_[name];
  for (int64_t i = 0; i < reference.numel(); ++i) {
    double r = reference.get_as_double(i), t = test.get_as_double(i);
    double e = r - t;
    a.signal += r * r;
    a.noise += e * e;
    a.dot += r * t;
    a.ref_sq += r * r;
    a.test_sq += t * t;
    a.max_abs = std::max(a.max_abs, std::fabs(e));
  }
}

std::map<std::string, OutputMetrics> OutputComparison::results() const {
  std::map<std::string, OutputMetrics> out;
  for (const auto& [name, a] : acc_) {
    OutputMetrics m;
    m.sqnr_db = a.noise > 0 ? 10.0 * std::log10(a.signal / a.noise) : std::numeric_limits<double>::infinity();
    double denom = std::sqrt(a.ref_sq) * std::sqrt(a.test_sq);
    m.cosine = denom > 0 ? a.dot / denom : (a.ref_sq == a.test_sq ? 1.0 : 0.0);
    m.max_abs_error = a.max_abs;
    out[name] = m;
  }
  return out;
}

}  // namespace sq
