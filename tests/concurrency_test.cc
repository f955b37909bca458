// One loaded model, several threads calling run() at once: ReferenceEngine::run is const and
// documented as safe to call concurrently, each caller with its own ThreadPool. Checked on the
// FP32 engine and on the int8 engine (a quantized copy of the bundled trained OPT): 4 threads,
// each running several different token windows, must produce outputs bit-identical to a
// single-threaded run of the same windows; then again with each thread running through its own
// session arena (planner/execution_arena.h), the windows sharing one shape so that the arena
// replays its plan. tools/tsan.sh runs this test under ThreadSanitizer.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "calib/dataset.h"
#include "quantizer/quantize.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/planner/execution_arena.h"

namespace sq {
namespace {

constexpr int kThreads = 4;
constexpr int kRunsPerThread = 3;
constexpr int64_t kContext = 32;
constexpr int kPoolThreads = 2;  // every pool the same size: work splits identically

std::string bundled_model_dir() { return std::string(SQ_SOURCE_DIR) + "/models/assets/opt-bytes"; }

bool identical(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Runs windows[k] for k = 0..kThreads*kRunsPerThread-1 once on one thread (the reference), then
// from kThreads threads at once (thread t runs windows t, t+kThreads, ...), and compares. With
// arenas, every thread has its own ExecutionArena.
void expect_concurrent_runs_identical(const ReferenceEngine& engine,
                                      const std::vector<TensorMap>& windows, bool arenas) {
  std::vector<TensorMap> expected;
  {
    ThreadPool pool(kPoolThreads);
    for (const TensorMap& feeds : windows) expected.push_back(engine.run(feeds, pool));
  }
  std::vector<TensorMap> got(windows.size());
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        ThreadPool pool(kPoolThreads);
        ExecutionArena arena;
        ReferenceEngine::RunOptions options;
        if (arenas) options.arena = &arena;
        for (size_t k = static_cast<size_t>(t); k < windows.size(); k += kThreads) {
          got[k] = engine.run(windows[k], pool, options);
        }
        if (arenas) {
          const ExecutionArena::Stats st = arena.stats();
          if (st.recorded_runs != 1 || st.replayed_runs != kRunsPerThread - 1 || st.diverged_runs) {
            errors[static_cast<size_t>(t)] = "the arena did not replay every run after the first";
          }
        }
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(t)] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[static_cast<size_t>(t)], "") << "thread " << t;
  for (size_t k = 0; k < windows.size(); ++k) {
    ASSERT_EQ(got[k].size(), expected[k].size()) << "window " << k;
    for (const auto& [name, tensor] : expected[k]) {
      auto it = got[k].find(name);
      ASSERT_NE(it, got[k].end()) << "window " << k << ": output " << name;
      EXPECT_TRUE(identical(tensor, it->second))
          << "window " << k << ": output " << name << " differs from the single-threaded run";
    }
  }
}

struct Fixture {
  std::shared_ptr<Model> model;
  std::vector<TensorMap> windows;
};

Fixture load_bundled() {
  Fixture f;
  f.model = std::make_shared<Model>(load_onnx(bundled_model_dir() + "/model.onnx"));
  fold_constants(*f.model);
  SampleSet eval = SampleSet::load(parse_data_spec("tokens:" + bundled_model_dir() + "/eval_tokens.npy"),
                                   f.model->graph, kContext, kThreads * kRunsPerThread);
  for (size_t i = 0; i < eval.size(); ++i) f.windows.push_back(eval.feeds(i));
  return f;
}

TEST(Concurrency, Fp32EngineGivesIdenticalResultsFromFourThreads) {
  Fixture f = load_bundled();
  ASSERT_EQ(f.windows.size(), static_cast<size_t>(kThreads * kRunsPerThread));
  ReferenceEngine engine(f.model);
  expect_concurrent_runs_identical(engine, f.windows, /*arenas=*/false);
  expect_concurrent_runs_identical(engine, f.windows, /*arenas=*/true);
}

TEST(Concurrency, Int8EngineGivesIdenticalResultsFromFourThreads) {
  Fixture f = load_bundled();
  ASSERT_EQ(f.windows.size(), static_cast<size_t>(kThreads * kRunsPerThread));
  SampleSet calib = SampleSet::load(
      parse_data_spec("tokens:" + bundled_model_dir() + "/calib_tokens.npy"), f.model->graph,
      kContext, 2);
  QuantConfig config;
  config.softmax_bc = BcGranularity::kLength;
  Calibration cal = calibrate_model(f.model, config, calib, 2);
  Model qdq = build_quantized_model(*f.model, config, cal).model;
  Int8LoweringReport report;
  auto engine = make_int8_engine(qdq, &report);
  EXPECT_EQ(report.fused_attention, 4) << report.summary();  // the fused integer path is covered
  expect_concurrent_runs_identical(*engine, f.windows, /*arenas=*/false);
  expect_concurrent_runs_identical(*engine, f.windows, /*arenas=*/true);
}

}  // namespace
}  // namespace sq
