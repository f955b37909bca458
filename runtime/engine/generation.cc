#include "runtime/engine/generation.h"

#include <chrono>
#include <cmath>
#include <optional>

#include "runtime/engine/decode_graph.h"
#include "runtime/engine/graph_index.h"
#include "runtime/kernels/quant_math.h"
#include "runtime/ops/kv_cache.h"

namespace sq {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One past_key_values.N.{key,value} input, its present output, and the buffer caching it:
// [heads][capacity][head_dim], uint8 on the present's quantizer grid or float.
struct GraphCacheEntry {
  std::string past, present;
  int64_t heads = 0, head_dim = 0;
  bool quantized = false;
  float scale = 1;
  int32_t zero = 0;
  std::vector<uint8_t> q;
  std::vector<float> f;
};

struct DecoderIo {
  std::string ids, mask, positions, logits;
  bool past_length = false;
  std::vector<GraphCacheEntry> cache;
};

// The per-tensor uint8 QuantizeLinear reading `name`, if there is one.
std::optional<std::pair<float, int32_t>> quantizer_of(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes) {
    if (n.op_type != "QuantizeLinear" || !is_default_domain(n) || n.input(0) != name) continue;
    if (!has_per_tensor_params(g, n, DType::kUInt8)) continue;
    return std::make_pair(find_initializer(g, n.input(1))->data<float>()[0],
                          static_cast<int32_t>(find_initializer(g, n.input(2))->data<uint8_t>()[0]));
  }
  return std::nullopt;
}

DecoderIo decoder_io(const Model& model) {
  const Graph& g = model.graph;
  DecoderIo io;
  for (const ValueInfo& vi : g.inputs) {
    const std::string& n = vi.name;
    if (n == "input_ids") {
      io.ids = n;
    } else if (n == "attention_mask") {
      io.mask = n;
    } else if (n == "position_ids") {
      io.positions = n;
    } else if (n == kPastLengthInput) {
      io.past_length = true;
    } else if (n.rfind("past_key_values.", 0) == 0) {
      GraphCacheEntry e;
      e.past = n;
      e.present = "present." + n.substr(std::string("past_key_values.").size());
      bool has_present = false;
      for (const ValueInfo& o : g.outputs) has_present |= o.name == e.present;
      SQ_CHECK(has_present, "generation: input '", n, "' has no matching output '", e.present, "'");
      SQ_CHECK(vi.dims.size() == 4 && vi.dims[1].known() && vi.dims[3].known(), "generation: '", n,
               "' must be declared [batch, heads, past_sequence, head_dim] with known heads and "
               "head_dim");
      e.heads = vi.dims[1].value;
      e.head_dim = vi.dims[3].value;
      if (auto qp = quantizer_of(g, e.present)) {
        e.quantized = true;
        e.scale = qp->first;
        e.zero = qp->second;
      }
      io.cache.push_back(std::move(e));
    } else if (n == "use_cache_branch") {
      throw make_error("generation: input 'use_cache_branch' marks Optimum's merged decoder (two "
                       "graphs behind an If), which is not supported: use its "
                       "decoder_with_past_model.onnx, or a model.onnx exported without merging");
    } else {
      throw make_error("generation: the decoder has an input '", n,
                       "' that is none of input_ids, attention_mask, position_ids, "
                       "past_key_values.N.key/value");
    }
  }
  SQ_CHECK(!io.ids.empty(), "generation: the model has no 'input_ids' input");
  SQ_CHECK(!g.outputs.empty(), "generation: the model has no outputs");
  io.logits = g.outputs[0].name;
  for (const ValueInfo& o : g.outputs)
    if (o.name == "logits") io.logits = o.name;
  return io;
}

Tensor row_of_ids(const std::vector<int64_t>& ids, size_t from) {
  return Tensor::from_vector<int64_t>({1, static_cast<int64_t>(ids.size() - from)},
                                      std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end()));
}

Tensor positions(int64_t from, int64_t to) {
  Tensor t(DType::kInt64, {1, to - from});
  for (int64_t i = from; i < to; ++i) t.data<int64_t>()[i - from] = i;
  return t;
}

// The cached rows [0, past) of one entry as the float past input [1, heads, past, head_dim].
Tensor past_input(const GraphCacheEntry& e, int64_t capacity, int64_t past) {
  Tensor t(DType::kFloat32, {1, e.heads, past, e.head_dim});
  float* out = t.data<float>();
  for (int64_t h = 0; h < e.heads; ++h) {
    const int64_t src = h * capacity * e.head_dim, dst = h * past * e.head_dim;
    for (int64_t i = 0; i < past * e.head_dim; ++i)
      out[dst + i] = e.quantized ? dequantize_value(e.q[static_cast<size_t>(src + i)], e.scale, e.zero)
                                 : e.f[static_cast<size_t>(src + i)];
  }
  return t;
}

// Stores rows [past, total) of the present output into the entry's buffer.
void store_present(GraphCacheEntry& e, const Tensor& present, int64_t capacity, int64_t past,
                   int64_t total) {
  SQ_CHECK(present.dtype() == DType::kFloat32 &&
               present.shape() == Shape({1, e.heads, total, e.head_dim}),
           "generation: output '", e.present, "' has shape ", shape_str(present.shape()),
           ", expected [1, ", e.heads, ", ", total, ", ", e.head_dim, "]");
  const float* in = present.data<float>();
  for (int64_t h = 0; h < e.heads; ++h) {
    for (int64_t i = past * e.head_dim; i < total * e.head_dim; ++i) {
      const float x = in[h * total * e.head_dim + i];
      const size_t at = static_cast<size_t>(h * capacity * e.head_dim + i);
      if (e.quantized)
        e.q[at] = static_cast<uint8_t>(quantize_value(x, e.scale, e.zero, 0, 255));
      else
        e.f[at] = x;
    }
  }
}

int64_t arg_max_last_row(const Tensor& logits, const std::string& name, int64_t rows) {
  SQ_CHECK(logits.dtype() == DType::kFloat32 && logits.rank() == 3 && logits.dim(0) == 1 &&
               logits.dim(1) == rows && logits.dim(2) > 0,
           "generation: output '", name, "' has shape ", shape_str(logits.shape()),
           ", expected [1, ", rows, ", vocab]");
  const int64_t vocab = logits.dim(2);
  const float* row = logits.data<float>() + (rows - 1) * vocab;
  int64_t best = 0;
  for (int64_t v = 1; v < vocab; ++v)
    if (row[v] > row[best]) best = v;
  return best;
}

}  // namespace

const char* decode_cache_name(DecodeCache c) {
  switch (c) {
    case DecodeCache::kGraph: return "graph past_key_values";
    case DecodeCache::kRuntime: return "runtime int8 KV cache";
    case DecodeCache::kRecompute: return "none (recompute)";
  }
  return "?";
}

DecodeCache decode_cache_for(const Model& model) {
  for (const ValueInfo& vi : model.graph.inputs)
    if (vi.name.rfind("past_key_values.", 0) == 0) return DecodeCache::kGraph;
  return is_prepared_for_cached_decoding(model) ? DecodeCache::kRuntime : DecodeCache::kRecompute;
}

namespace {

// How a step is fed to a graph with a runtime cache (engine/decode_graph.h).
enum class Feed { kNewTokens, kWholeSequence };

// One step over tokens [0, total): feeds what the cache kind needs and runs.
TensorMap run_step(const ReferenceEngine& engine, const DecoderIo& io, DecodeCache kind, Feed feed,
                   const std::vector<int64_t>& tokens, int64_t past, int64_t capacity,
                   KvCache* kv, ThreadPool& pool, const ReferenceEngine::Observer* observer) {
  const int64_t total = static_cast<int64_t>(tokens.size());
  const bool whole = kind == DecodeCache::kRecompute ||
                     (kind == DecodeCache::kRuntime && feed == Feed::kWholeSequence);
  const int64_t feed_from = whole ? 0 : past;
  TensorMap feeds;
  feeds[io.ids] = row_of_ids(tokens, static_cast<size_t>(feed_from));
  if (!io.mask.empty()) {
    Tensor ones(DType::kInt64, {1, total});
    for (int64_t i = 0; i < total; ++i) ones.data<int64_t>()[i] = 1;
    feeds[io.mask] = std::move(ones);
  }
  if (!io.positions.empty()) feeds[io.positions] = positions(feed_from, total);
  if (io.past_length) {
    feeds[kPastLengthInput] =
        Tensor::from_vector<int64_t>({1}, {feed == Feed::kWholeSequence ? past : 0});
  }
  for (const GraphCacheEntry& e : io.cache) feeds[e.past] = past_input(e, capacity, past);
  return engine.run(feeds, pool, observer, kv);
}

// Which feed makes the cached graph reproduce the uncached one: a 3-token probe run whole
// without a cache, against 2 tokens then 1 with a cache; the last row's logits must agree
// (relative 1e-4). Throws if neither does: the attention pattern was not recognized.
Feed choose_feed(const ReferenceEngine& engine, const DecoderIo& io, ThreadPool& pool) {
  const std::vector<int64_t> probe = {0, 1, 2};
  const Tensor ref = run_step(engine, io, DecodeCache::kRuntime, Feed::kNewTokens, probe, 0, 3,
                              nullptr, pool, nullptr)
                         .at(io.logits);
  SQ_CHECK(ref.rank() == 3 && ref.dim(1) == 3, "generation: output '", io.logits, "' has shape ",
           shape_str(ref.shape()), " for 3 tokens, expected [1, 3, vocab]");
  const int64_t vocab = ref.dim(2);
  std::string why;
  std::vector<Feed> feeds = {Feed::kNewTokens};
  if (io.past_length) feeds.push_back(Feed::kWholeSequence);
  for (Feed feed : feeds) {
    const char* name = feed == Feed::kNewTokens ? "new tokens" : "whole sequence";
    try {
      KvCache kv(3);
      run_step(engine, io, DecodeCache::kRuntime, feed, {0, 1}, 0, 3, &kv, pool, nullptr);
      const Tensor got = run_step(engine, io, DecodeCache::kRuntime, feed, probe, 2, 3, &kv, pool,
                                  nullptr)
                             .at(io.logits);
      SQ_CHECK(got.shape() == Shape({1, 1, vocab}), "logits ", shape_str(got.shape()),
               " for one new token");
      double max_ref = 0, max_diff = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        const double r = ref.data<float>()[2 * vocab + v], g = got.data<float>()[v];
        max_ref = std::max(max_ref, std::abs(r));
        max_diff = std::max(max_diff, std::abs(r - g));
      }
      SQ_CHECK(max_diff <= 1e-4 * max_ref, "logits differ from the uncached run by up to ",
               max_diff, " (largest ", max_ref, ")");
      return feed;
    } catch (const Error& e) {
      why += std::string(why.empty() ? "" : "; ") + name + ": " + e.what();
    }
  }
  throw make_error("cached decoding does not reproduce the uncached graph on a 3-token probe (",
                   why, "): the attention pattern was not recognized");
}

}  // namespace

GenerationResult generate_greedy(const ReferenceEngine& engine, const std::vector<int64_t>& prompt,
                                 const GenerationOptions& options, ThreadPool& pool) {
  SQ_CHECK(!prompt.empty(), "generation: the prompt is empty");
  SQ_CHECK(options.max_new >= 0, "generation: max_new must be >= 0");
  const DecodeCache kind = decode_cache_for(engine.model());
  DecoderIo io = decoder_io(engine.model());
  const int64_t capacity = static_cast<int64_t>(prompt.size()) + std::max<int64_t>(options.max_new, 1);
  for (GraphCacheEntry& e : io.cache) {
    const size_t n = static_cast<size_t>(e.heads * capacity * e.head_dim);
    if (e.quantized)
      e.q.resize(n);
    else
      e.f.resize(n);
  }
  std::optional<KvCache> kv;
  if (kind == DecodeCache::kRuntime) kv.emplace(capacity);

  const Feed feed = kind == DecodeCache::kRuntime ? choose_feed(engine, io, pool) : Feed::kNewTokens;
  GenerationResult r;
  r.tokens = prompt;
  int64_t past = 0;  // tokens whose keys and values are cached
  for (int64_t step = 0; step < options.max_new; ++step) {
    const auto t0 = Clock::now();
    const int64_t total = static_cast<int64_t>(r.tokens.size());
    const int64_t from = kind == DecodeCache::kRecompute ? 0 : past;
    TensorMap out = run_step(engine, io, kind, feed, r.tokens, past, capacity, kv ? &*kv : nullptr,
                             pool, options.observer);
    const int64_t next = arg_max_last_row(out.at(io.logits), io.logits, total - from);
    for (GraphCacheEntry& e : io.cache) store_present(e, out.at(e.present), capacity, past, total);
    if (kv) {
      SQ_CHECK(kv->length() == total, "generation: the KV cache holds ", kv->length(),
               " rows after a step over ", total, " tokens (an attention layer was not cached)");
    }
    past = total;
    r.tokens.push_back(next);
    ++r.generated;
    (step == 0 ? r.prefill_ms : r.decode_ms) += ms_since(t0);
    if (options.on_token) options.on_token(step, next);
    if (next == options.eos_id) break;
  }

  bool any_q = false, any_f = false;
  for (const GraphCacheEntry& e : io.cache) {
    r.cache_bytes += e.q.size() + e.f.size() * sizeof(float);
    (e.quantized ? any_q : any_f) = true;
  }
  if (kv) {
    r.cache_bytes += kv->bytes();
    any_q = true;
  }
  r.cache_storage = any_q && any_f ? "uint8+float32" : any_q ? "uint8" : any_f ? "float32" : "none";
  return r;
}

}  // namespace sq
