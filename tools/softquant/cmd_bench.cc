// `softquant bench`: latency of one forward pass of a model on an engine (median over repeats
// after a warm-up run), with tokens/s, the GOP/s of its matrix products and the process's peak
// resident memory. Inputs come from --inputs DIR, or are generated: token models (input_ids,
// attention_mask) get --seq tokens; other inputs need fully known shapes.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "quantizer/evaluate.h"
#include "runtime/core/json.h"
#include "runtime/engine/binding.h"
#include "runtime/engine/generation.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/io/npy.h"
#include "runtime/planner/execution_arena.h"
#include "tools/softquant/commands.h"

namespace sq::cli {

namespace {

struct BenchArgs {
  std::string model, inputs, engine = "fp32";
  int64_t seq = 128, decode = 0;
  int repeat = 5, threads = 2;
  bool json = false, profile = false, engine_given = false, no_arena = false;
};

Tensor generated_input(const ValueInfo& vi, int64_t seq, std::mt19937& rng) {
  const bool token_input = vi.name == "input_ids" || vi.name == "attention_mask";
  Shape shape;
  for (size_t d = 0; d < vi.dims.size(); ++d) {
    if (vi.dims[d].known()) {
      shape.push_back(vi.dims[d].value);
    } else {
      SQ_CHECK(token_input, "input '", vi.name, "' has a symbolic dimension ", d,
               " ('", vi.dims[d].param, "'): give sample inputs with --inputs DIR");
      shape.push_back(d == 0 ? 1 : seq);  // [batch, sequence]
    }
  }
  shape_nbytes(vi.dtype, shape, "input '" + vi.name + "'");  // refuses sizes beyond memory, by name
  Tensor t = Tensor::zeros(vi.dtype, shape);
  if (vi.name == "attention_mask") {
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = 1;
  } else if (vi.name == "input_ids") {
    // Ids below 256 exist in every vocabulary (byte-level models have exactly 256).
    std::uniform_int_distribution<int64_t> id(0, 255);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = id(rng);
  } else {
    SQ_CHECK(vi.dtype == DType::kFloat32, "input '", vi.name, "' is ", dtype_name(vi.dtype),
             ": give sample inputs with --inputs DIR");
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  }
  return t;
}

TensorMap bench_inputs(const BenchArgs& a, const Graph& g) {
  TensorMap feeds;
  std::mt19937 rng(0);
  for (const auto& vi : g.inputs) {
    feeds[vi.name] = a.inputs.empty() ? generated_input(vi, a.seq, rng)
                                      : read_npy(a.inputs + "/" + vi.name + ".npy");
  }
  check_bindings(g, feeds);
  return feeds;
}

// Tokens one pass processes: input_ids elements, else the positions (H x W) of the first 4-D
// input, else 1.
int64_t tokens_of(const TensorMap& feeds) {
  auto ids = feeds.find("input_ids");
  if (ids != feeds.end()) return ids->second.numel();
  for (const auto& [name, t] : feeds) {
    if (t.rank() == 4) return t.dim(2) * t.dim(3);
  }
  return 1;
}

// Multiply-adds of the matrix products of one run, from the shapes the engine actually saw
// (attention counted dense, as its float graph computes it, even where masked keys are skipped).
int64_t count_macs(const ModelRunner& runner, const TensorMap& feeds, ThreadPool& pool,
                   ExecutionArena* arena) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : feeds) shapes[name] = t.shape();
  for (const auto& [name, t] : runner.model().graph.initializers) shapes[name] = t.shape();
  int64_t macs = 0;
  ReferenceEngine::Observer observe = [&](const Node& n, size_t o, const Tensor& v) {
    shapes[n.outputs[o]] = v.shape();
    if (o != 0 || n.inputs.empty()) return;
    auto a = shapes.find(n.inputs[0]);
    if (a == shapes.end() || a->second.empty()) return;
    const Shape& as = a->second;
    int64_t k = 0;
    if (n.op_type == "MatMul" || n.op_type == "BatchMatMulU8U8ToFloat") k = as.back();
    if (n.op_type == "Gemm") k = n.attr_int("transA", 0) ? as[0] : as.back();
    if (n.op_type == "MatMulU8S8ToFloat") k = n.attr_string("layout", "rows") == "nchw" ? as[1] : as.back();
    if (n.op_type == "Conv" && as.size() >= 2 && n.inputs.size() >= 2) {
      auto w = shapes.find(n.inputs[1]);
      if (w != shapes.end()) {
        k = 1;
        for (size_t d = 1; d < w->second.size(); ++d) k *= w->second[d];
      }
    }
    if (n.op_type == "AttentionU8" && n.inputs.size() > 6) {
      // Dense count (Q·Kᵀ and P·V over every key, masked or not): out [..., Lq, dv].
      auto vs = shapes.find(n.inputs[6]);
      if (vs != shapes.end() && vs->second.size() >= 2 && v.rank() >= 2) {
        const int64_t lk = vs->second[vs->second.size() - 2], dv = vs->second.back();
        macs += v.numel() / std::max<int64_t>(dv, 1) * lk * (as.back() + dv);
      }
      return;
    }
    macs += k * v.numel();
  };
  runner.run_observed(feeds, pool, observe, arena);
  return macs;
}

// Wall time per op type (time between consecutive node completions; restart() marks the start of
// a run), printed largest first.
class OpProfile {
 public:
  void restart() { last_ = std::chrono::steady_clock::now(); }
  ReferenceEngine::Observer observer() {
    return [this](const Node& n, size_t o, const Tensor&) {
      if (o != 0) return;
      const auto now = std::chrono::steady_clock::now();
      auto& e = by_op_[n.domain.empty() ? n.op_type : n.domain + "::" + n.op_type];
      e.first += std::chrono::duration<double, std::milli>(now - last_).count();
      ++e.second;
      last_ = now;
    };
  }
  // `what` names the runs profiled; `wall_ms` > 0 adds a row for the time outside the ops.
  void print(const char* what, double wall_ms = 0) const {
    std::vector<std::pair<std::string, std::pair<double, int>>> rows(by_op_.begin(), by_op_.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
    double total = 0;
    for (const auto& r : rows) total += r.second.first;
    std::printf("profile of %s (%.2f ms in ops), by op type:\n", what, total);
    for (const auto& [op, e] : rows) {
      if (e.first < 0.005 * total) break;
      std::printf("  %-40s %9.2f ms %5.1f%%  (%d nodes)\n", op.c_str(), e.first,
                  100 * e.first / total, e.second);
    }
    if (wall_ms > 0) {
      std::printf("  %-40s %9.2f ms\n", "(outside the ops: generation loop)", wall_ms - total);
    }
  }

 private:
  std::map<std::string, std::pair<double, int>> by_op_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

void print_profile(const ModelRunner& runner, const TensorMap& feeds, ThreadPool& pool,
                   ExecutionArena* arena) {
  OpProfile profile;
  profile.restart();
  runner.run_observed(feeds, pool, profile.observer(), arena);
  profile.print("one run");
}

// Op profile of the decode steps (not the prefill) of one more generation.
void print_decode_profile(const ModelRunner& runner, const std::vector<int64_t>& prompt,
                          int64_t steps, ThreadPool& pool) {
  OpProfile profile;
  ReferenceEngine::Observer timed = profile.observer();
  bool decoding = false;
  ReferenceEngine::Observer observe = [&](const Node& n, size_t o, const Tensor& v) {
    if (decoding) timed(n, o, v);
  };
  GenerationOptions opt;
  opt.max_new = steps + 1;
  opt.observer = &observe;
  opt.on_token = [&](int64_t, int64_t) {
    decoding = true;
    profile.restart();
  };
  const GenerationResult r = generate_greedy(runner.engine(), prompt, opt, pool);
  const std::string what = std::to_string(steps) + " decode steps";
  profile.print(what.c_str(), r.decode_ms);
}

// Minor page faults of the process so far (first touches of newly mapped memory).
int64_t minor_faults() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_minflt);
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// Streaming read bandwidth of this machine with the pool's threads: the best of 3 passes over
// 512 MiB (far beyond the caches), the baseline a decode step's weight traffic is compared with.
double read_bandwidth_gbps(ThreadPool& pool) {
  const size_t words = (size_t{512} << 20) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  pool.parallel_for(static_cast<int64_t>(words), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) buf[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  });
  double best = 0;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass < 3; ++pass) {
    std::atomic<uint64_t> total{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<int64_t>(words), 1 << 16, [&](int64_t b, int64_t e) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        s0 += buf[static_cast<size_t>(i)];
        s1 += buf[static_cast<size_t>(i + 1)];
        s2 += buf[static_cast<size_t>(i + 2)];
        s3 += buf[static_cast<size_t>(i + 3)];
      }
      for (; i < e; ++i) s0 += buf[static_cast<size_t>(i)];
      total += s0 + s1 + s2 + s3;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sink = sink + total.load();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / s / 1e9);
  }
  return best;
}

// `--decode N`: prefill --seq generated tokens, then N greedy steps with the model's KV cache;
// reports decode tokens/s (median over --repeat generations after a warm-up), the weight bytes
// one decode step streams (int8 weights: 1 byte per multiply-add of a one-row product; float
// weights: 4) and that traffic against the machine's read bandwidth measured in the same run.
void bench_decode(const BenchArgs& a) {
  ModelRunner runner = load_decoder_runner(a.model, parse_engine_kind(a.engine), a.engine_given);
  const std::string engine_name = is_sqm_file(a.model) ? "int8" : a.engine;
  const DecodeCache cache = decode_cache_for(runner.model());
  std::mt19937 rng(0);
  std::uniform_int_distribution<int64_t> id(0, 255);  // ids every vocabulary has
  std::vector<int64_t> prompt(static_cast<size_t>(a.seq));
  for (int64_t& t : prompt) t = id(rng);
  ThreadPool pool(a.threads);

  // Warm-up: two tokens; the second step (one new row) is observed to count weight bytes.
  std::map<std::string, Shape> shapes;
  double weight_bytes = 0;
  bool counting = false;
  ReferenceEngine::Observer observe = [&](const Node& n, size_t o, const Tensor& v) {
    shapes[n.outputs[o]] = v.shape();
    if (!counting || o != 0 || n.inputs.empty()) return;
    auto in = shapes.find(n.inputs[0]);
    if (in == shapes.end() || in->second.empty()) return;
    const double k = static_cast<double>(in->second.back());
    if (n.op_type == "MatMulU8S8ToFloat") weight_bytes += k * static_cast<double>(v.numel());
    if ((n.op_type == "MatMul" || n.op_type == "Gemm") && n.inputs.size() > 1 &&
        runner.model().graph.is_initializer(n.inputs[1]))
      weight_bytes += 4 * k * static_cast<double>(v.numel());
  };
  GenerationOptions warm;
  warm.max_new = 2;
  warm.observer = &observe;
  warm.on_token = [&](int64_t step, int64_t) { counting = step == 0; };
  generate_greedy(runner.engine(), prompt, warm, pool);

  GenerationOptions opt;
  opt.max_new = a.decode + 1;  // the prefill makes the first token, then `decode` steps
  std::vector<double> tps, prefill;
  GenerationResult last;
  for (int i = 0; i < a.repeat; ++i) {
    last = generate_greedy(runner.engine(), prompt, opt, pool);
    SQ_CHECK(last.generated == a.decode + 1, "generation stopped early");
    tps.push_back(static_cast<double>(a.decode) * 1000.0 / last.decode_ms);
    prefill.push_back(last.prefill_ms);
  }
  std::sort(tps.begin(), tps.end());
  std::sort(prefill.begin(), prefill.end());
  const double tokens_per_s = tps[tps.size() / 2], prefill_ms = prefill[prefill.size() / 2];
  const double rss = peak_rss_mb();
  const bool cached = cache != DecodeCache::kRecompute;
  const double weight_gbps = cached ? weight_bytes * tokens_per_s / 1e9 : 0;
  const double read_gbps = read_bandwidth_gbps(pool);
  std::printf("%s on %s, %d thread(s), cache %s (%s, %.2f MB): prefill %lld tokens %.1f ms, "
              "decode %lld tokens: %.1f tokens/s (median of %d; min %.1f, max %.1f), peak RSS "
              "%.1f MB\n",
              a.model.c_str(), engine_name.c_str(), a.threads, decode_cache_name(cache),
              last.cache_storage.c_str(), last.cache_bytes / 1e6, static_cast<long long>(a.seq),
              prefill_ms, static_cast<long long>(a.decode), tokens_per_s, a.repeat, tps.front(),
              tps.back(), rss);
  if (cached) {
    std::printf("a decode step streams %.1f MB of weights: %.1f GB/s, %.0f%% of this machine's "
                "read bandwidth (%.1f GB/s, %d thread(s), measured now)\n",
                weight_bytes / 1e6, weight_gbps, 100 * weight_gbps / read_gbps, read_gbps, a.threads);
  }
  if (a.profile) print_decode_profile(runner, prompt, a.decode, pool);
  if (a.json) {
    Json j = Json::object();
    j.set("decode_tokens_per_s", tokens_per_s);
    j.set("prefill_ms", prefill_ms);
    j.set("weight_mb_per_token", weight_bytes / 1e6);
    j.set("weight_gbps", weight_gbps);
    j.set("read_gbps", read_gbps);
    j.set("peak_rss_mb", rss);
    j.set("engine", engine_name);
    j.set("cache", std::string(decode_cache_name(cache)));
    j.set("threads", static_cast<int64_t>(a.threads));
    std::cout << j.dump() << "\n";
  }
}

void bench_command(const BenchArgs& a) {
  if (a.decode > 0) return bench_decode(a);
  // The runner keeps what it executes (for int8, the lowered graph with packed weights), so the
  // loaded model is not held twice.
  const auto t_load = std::chrono::steady_clock::now();
  ModelRunner runner = load_model_runner(a.model, parse_engine_kind(a.engine), a.engine_given);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  const double load_rss = peak_rss_mb();  // loading and preparing, before any run
  const std::string engine_name = is_sqm_file(a.model) ? "int8" : a.engine;
  TensorMap feeds = bench_inputs(a, runner.model().graph);
  ThreadPool pool(a.threads);
  // The session's arena: the warm-up run records and plans (or, for a compiled model that stores
  // a plan for these input shapes, already replays it), the timed runs replay the plan.
  ExecutionArena session_arena;
  ExecutionArena* arena = a.no_arena ? nullptr : &session_arena;
  if (arena) arena->seed(runner.model().memory_plans);
  const int64_t macs = count_macs(runner, feeds, pool, arena);  // doubles as the warm-up run
  std::vector<double> ms;
  const int64_t faults_before = minor_faults();
  for (int i = 0; i < a.repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    runner.run(feeds, pool, arena);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double faults_per_run = static_cast<double>(minor_faults() - faults_before) / a.repeat;
  std::sort(ms.begin(), ms.end());
  if (a.profile) print_profile(runner, feeds, pool, arena);
  const double median = ms[ms.size() / 2];
  const int64_t tokens = tokens_of(feeds);
  const double tokens_per_s = tokens / (median / 1e3);
  const double gops = 2.0 * static_cast<double>(macs) / (median / 1e3) / 1e9;
  const double rss = peak_rss_mb();
  std::string arena_note = "no arena (tensors from the heap)";
  if (arena) {
    const ExecutionArena::Stats st = arena->stats();
    arena_note = "arena " + std::to_string(st.arena_bytes / 1024) + " KiB for " +
                 std::to_string(st.planned_buffers) + " tensors (their sizes sum to " +
                 std::to_string(st.planned_bytes_sum / 1024) + " KiB), plan " +
                 (st.plan_seeded ? "from the model file" : "recorded") + " (" +
                 std::to_string(st.recorded_runs) + " recorded run(s), " +
                 std::to_string(st.replayed_runs) + " replayed" +
                 (st.diverged_runs ? ", " + std::to_string(st.diverged_runs) + " diverged" : "") +
                 ")";
  }
  std::printf("%s on %s, %d thread(s), %lld token(s) per run: median %.2f ms over %d run(s) "
              "(min %.2f, max %.2f), %.1f tokens/s, %.1f GOP/s (%.3f GMAC per run), peak RSS "
              "%.1f MB, %.0f page faults per timed run, %s\n",
              a.model.c_str(), engine_name.c_str(), a.threads, static_cast<long long>(tokens), median,
              a.repeat, ms.front(), ms.back(), tokens_per_s, gops, static_cast<double>(macs) / 1e9,
              rss, faults_per_run, arena_note.c_str());
  std::printf("load and prepare: %.1f ms, peak RSS %.1f MB\n", load_ms, load_rss);
  if (a.json) {
    Json j = Json::object();
    j.set("median_ms", median);
    j.set("tokens_per_s", tokens_per_s);
    j.set("gops", gops);
    j.set("peak_rss_mb", rss);
    j.set("load_ms", load_ms);
    j.set("load_peak_rss_mb", load_rss);
    j.set("engine", engine_name);
    j.set("tokens", tokens);
    j.set("threads", static_cast<int64_t>(a.threads));
    j.set("page_faults_per_run", faults_per_run);
    j.set("arena", arena != nullptr);
    if (arena) {
      const ExecutionArena::Stats st = arena->stats();
      j.set("arena_mb", static_cast<double>(st.arena_bytes) / (1024.0 * 1024.0));
      j.set("arena_plan_from_file", st.plan_seeded);
      j.set("arena_recorded_runs", st.recorded_runs);
    }
    std::cout << j.dump() << "\n";
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Latency, tokens/s, GOP/s and peak memory of one forward pass on an engine");
  cmd->add_option("model", a->model, "ONNX model (FP32, or QDQ for --engine sim|int8), or a compiled .sqm")->required();
  CLI::Option* engine = cmd->add_option("--engine", a->engine,
                  "fp32 (every op as written), sim (QDQ simulation) or int8 (integer kernels)")
      ->default_val("fp32")
      ->check(CLI::IsMember({"fp32", "sim", "int8"}));
  cmd->add_option("--seq", a->seq, "Tokens per pass for token models (input_ids, attention_mask)")
      ->default_val(128)
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  CLI::Option* decode = cmd->add_option("--decode", a->decode,
                  "Instead of one pass: prefill --seq tokens, then N greedy decode steps with the "
                  "KV cache; reports decode tokens/s and the weight traffic against the machine's "
                  "read bandwidth")
      ->default_val(0)
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--inputs", a->inputs, "Folder of <input_name>.npy to run instead of generated inputs")
      ->excludes(decode);
  cmd->add_option("--repeat", a->repeat, "Timed runs after one warm-up run (the median is reported)")
      ->default_val(5)
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", a->json,
                "Print {\"median_ms\", \"tokens_per_s\", \"gops\", \"peak_rss_mb\", ...} as JSON "
                "on the last line");
  cmd->add_flag("--no-arena", a->no_arena,
                "Allocate every tensor from the heap instead of a session arena (for comparison)");
  cmd->add_flag("--profile", a->profile, "Also print the time per op type of one more run");
  cmd->add_option("--threads", a->threads, "Worker threads")->default_val(2)->check(CLI::Range(1, 256));
  cmd->callback([a, engine] {
    a->engine_given = engine->count() > 0;
    bench_command(*a);
  });
}

}  // namespace sq::cli
