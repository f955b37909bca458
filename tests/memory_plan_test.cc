// Memory plans made ahead of time (runtime/planner/memory_plan.h) and stored in compiled models
// (.sqm PLAN section, runtime/graph/sqm_format.h): an arena seeded with a plan replays its first
// run (no recording) with outputs bit-identical to a run without an arena; other shapes record;
// a wrong plan diverges to the heap and never changes a result; plans round-trip through .sqm;
// corrupted or truncated PLAN bytes are refused with one line; version-2 files (no plan) still
// load and run; `softquant compile --plan-shape` stores a plan that `bench` uses.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "calib/dataset.h"
#include "runtime/core/memory_limit.h"
#include "runtime/engine/int8_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "runtime/planner/execution_arena.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

namespace sq {
namespace {

using test::expect_bit_identical;

constexpr int64_t kContext = 32;  // tokens per plan-shape sample

// The bundled OPT, quantized, and eval windows of 32 and 48 tokens (quantized once per binary).
struct OptCase {
  std::shared_ptr<const Model> qdq;
  TensorMap feeds32, feeds48;
};

const OptCase& opt_case() {
  static const OptCase c = [] {
    OptCase o;
    test::ModelCase m = test::bundled_opt_case(kContext, 1);
    o.qdq = m.qdq;
    o.feeds32 = m.samples.at(0);
    const std::string dir = std::string(SQ_SOURCE_DIR) + "/models/assets/opt-bytes";
    SampleSet eval48 = SampleSet::load(parse_data_spec("tokens:" + dir + "/eval_tokens.npy"),
                                       m.fp32->graph, 48, 1);
    o.feeds48 = eval48.feeds(0);
    return o;
  }();
  return c;
}

TensorMap run_with(const ReferenceEngine& engine, const TensorMap& feeds, ExecutionArena* arena,
                   int threads = 2) {
  ThreadPool pool(threads);
  ReferenceEngine::RunOptions options;
  options.arena = arena;
  return engine.run(feeds, pool, options);
}

// The lowered OPT with weights prepacked for this machine, as `softquant compile` stores it.
Model lowered_opt() {
  Model lowered = lower_to_int8(*opt_case().qdq);
  prepack_int8_weights(lowered, kernels::default_isa());
  return lowered;
}

// What `softquant compile` does to make a plan: one run of the engine with an arena.
MemoryPlan record_plan(const ReferenceEngine& engine, const TensorMap& feeds) {
  ExecutionArena arena;
  run_with(engine, feeds, &arena);
  std::optional<MemoryPlan> plan = arena.export_plan();
  EXPECT_TRUE(plan.has_value());
  return plan.value_or(MemoryPlan{});
}

std::unique_ptr<ReferenceEngine> engine_of(const Model& m) {
  return make_int8_engine_from_lowered(std::make_shared<Model>(m));
}

// A .sqm of the bundled OPT holding plans for each of `plan_feeds`; returns its path.
std::string compile_with_plans(const std::string& name, const std::vector<TensorMap>& plan_feeds,
                               uint32_t version = kSqmVersion) {
  Model lowered = lowered_opt();
  auto engine = engine_of(lowered);
  for (const TensorMap& f : plan_feeds) lowered.memory_plans.push_back(record_plan(*engine, f));
  const std::string path = test::temp_dir() + "/" + name;
  SqmWriteOptions options;
  options.version = version;
  save_sqm(lowered, path, options);
  return path;
}

// ---- the plan on its own ------------------------------------------------------------------

TEST(MemoryPlan, RecordedPlanIsValidAndEachCorruptionIsNamed) {
  const MemoryPlan good = record_plan(*engine_of(lowered_opt()), opt_case().feeds32);
  ASSERT_EQ(memory_plan_error(good), "");
  ASSERT_GT(good.arena_buffers(), 10);
  ASSERT_GT(good.output_buffers(), 0);
  // Two arena buffers live at a common step (placed apart by the planner).
  size_t a = 0, b = 0;
  for (size_t i = 0; i < good.buffers.size() && !b; ++i) {
    for (size_t j = i + 1; j < good.buffers.size(); ++j) {
      const auto &x = good.buffers[i], &y = good.buffers[j];
      if (x.output < 0 && y.output < 0 && y.first <= x.last) {
        a = i, b = j;
        break;
      }
    }
  }
  ASSERT_GT(b, 0u);
  size_t out = 0;
  while (good.buffers[out].output < 0) ++out;
  auto refused = [&](const std::function<void(MemoryPlan&)>& spoil, const std::string& needle) {
    MemoryPlan p = good;
    spoil(p);
    const std::string e = memory_plan_error(p);
    EXPECT_NE(e.find(needle), std::string::npos) << needle << ": got '" << e << "'";
  };
  refused([&](MemoryPlan& p) { p.buffers[b].offset = p.buffers[a].offset; }, "live together and overlap");
  refused([&](MemoryPlan& p) { p.buffers[a].offset += 8; }, "misaligned or outside");
  refused([&](MemoryPlan& p) { p.buffers[a].offset = p.arena_bytes; }, "misaligned or outside");
  refused([&](MemoryPlan& p) { p.buffers[a].size = 0; }, "not a positive multiple of 64");
  refused([&](MemoryPlan& p) { p.buffers[a].last = p.buffers[a].first - 1; }, "lifetime");
  refused([&](MemoryPlan& p) { p.buffers[b].first = -1; }, "lifetime");
  refused([&](MemoryPlan& p) { p.buffers.back().first = 0, p.buffers.back().last = 0; }, "before the previous one");
  refused([&](MemoryPlan& p) { p.buffers[out].output = p.output_buffers(); }, "output number");
  refused([&](MemoryPlan& p) { p.buffers[a].output = -7; }, "output number");
  refused([&](MemoryPlan& p) { p.arena_bytes = max_tensor_bytes() + 64; }, "this machine can hold");
  refused([&](MemoryPlan& p) { p.arena_bytes += 1; }, "not a multiple of 64");
  refused([&](MemoryPlan& p) { p.inputs[0].dims[1] = -2; }, "input 0 has shape");
  // Two outputs sharing one number.
  MemoryPlan two = good;
  two.buffers.push_back(two.buffers[out]);
  two.buffers.back().first = two.buffers[two.buffers.size() - 2].first;
  two.buffers.back().last = two.buffers.back().first;
  EXPECT_NE(memory_plan_error(two).find("each once"), std::string::npos) << memory_plan_error(two);
  std::printf("plan for %s: %s\n", shape_str(good.inputs[0].dims).c_str(),
              memory_plan_summary(good).c_str());
}

// ---- arenas seeded with a plan --------------------------------------------------------------

TEST(MemoryPlan, SeededArenaReplaysItsFirstRunAndRecordsOtherShapes) {
  const OptCase& c = opt_case();
  Model lowered = lowered_opt();
  auto engine = engine_of(lowered);
  const MemoryPlan plan = record_plan(*engine, c.feeds32);
  const TensorMap want32 = run_with(*engine, c.feeds32, nullptr);
  const TensorMap want48 = run_with(*engine, c.feeds48, nullptr);

  ExecutionArena arena;
  arena.seed({plan});
  ExecutionArena::Stats st = arena.stats();
  EXPECT_EQ(st.arena_bytes, plan.arena_bytes) << "allocated when seeded, before any run";
  EXPECT_TRUE(st.plan_seeded);
  expect_bit_identical(want32, run_with(*engine, c.feeds32, &arena));
  st = arena.stats();
  EXPECT_EQ(st.recorded_runs, 0);
  EXPECT_EQ(st.replayed_runs, 1);
  EXPECT_EQ(st.diverged_runs, 0);
  EXPECT_EQ(st.output_allocations, 0);
  EXPECT_EQ(arena.export_plan(), plan);

  // Other shapes record (correct results); the seeded shapes come back without recording.
  expect_bit_identical(want48, run_with(*engine, c.feeds48, &arena));
  expect_bit_identical(want48, run_with(*engine, c.feeds48, &arena));
  expect_bit_identical(want32, run_with(*engine, c.feeds32, &arena));
  st = arena.stats();
  EXPECT_EQ(st.recorded_runs, 1);
  EXPECT_EQ(st.replayed_runs, 3);
  EXPECT_EQ(st.diverged_runs, 0);
  EXPECT_TRUE(st.plan_seeded);
  EXPECT_EQ(st.seeded_plans, 1);

  // Two plans: each shape replays from its first run.
  ExecutionArena both;
  both.seed({plan, record_plan(*engine, c.feeds48)});
  expect_bit_identical(want48, run_with(*engine, c.feeds48, &both));
  expect_bit_identical(want32, run_with(*engine, c.feeds32, &both));
  EXPECT_EQ(both.stats().recorded_runs, 0);
  EXPECT_EQ(both.stats().replayed_runs, 2);

  MemoryPlan bad = plan;
  bad.buffers[0].offset = 1;
  EXPECT_THROW(ExecutionArena().seed({bad}), Error);
}

// AttentionU8's kernel scratch is one block per pool thread: a plan made with 2 threads serves a
// 1-thread session (smaller requests fit their slots); a 4-thread session diverges once and then
// records its own plan. Every result is the same.
TEST(MemoryPlan, PlanMadeWithMoreThreadsServesSessionsWithFewer) {
  const OptCase& c = opt_case();
  auto engine = engine_of(lowered_opt());
  ExecutionArena two;
  run_with(*engine, c.feeds32, &two, 2);
  const MemoryPlan plan = two.export_plan().value();
  ExecutionArena one_thread;
  one_thread.seed({plan});
  const TensorMap want = run_with(*engine, c.feeds32, nullptr, 1);
  expect_bit_identical(want, run_with(*engine, c.feeds32, &one_thread, 1));
  EXPECT_EQ(one_thread.stats().replayed_runs, 1);
  EXPECT_EQ(one_thread.stats().diverged_runs, 0);
  ExecutionArena four_threads;
  four_threads.seed({plan});
  for (int i = 0; i < 3; ++i) {
    expect_bit_identical(want, run_with(*engine, c.feeds32, &four_threads, 4));
  }
  EXPECT_EQ(four_threads.stats().diverged_runs, 1);
  EXPECT_EQ(four_threads.stats().recorded_runs, 1);
  EXPECT_EQ(four_threads.stats().replayed_runs, 2);
}

// A plan with the right input shapes that does not describe the run: the replay notices, the rest
// of the run goes to the heap, the results are unchanged, and the plan is dropped for a recording.
TEST(MemoryPlan, WrongSeededPlansDivergeAndNeverChangeResults) {
  const OptCase& c = opt_case();
  auto engine = engine_of(lowered_opt());
  const MemoryPlan plan = record_plan(*engine, c.feeds32);
  const TensorMap want = run_with(*engine, c.feeds32, nullptr);

  std::vector<std::pair<std::string, MemoryPlan>> wrong;
  MemoryPlan sizes = plan;  // one arena buffer 64 bytes smaller than the tensor it is for
  for (auto& b : sizes.buffers) {
    if (b.output < 0 && b.size >= 128) {
      b.size -= 64;
      break;
    }
  }
  wrong.emplace_back("size", sizes);
  // A buffer claimed to die at its first step while it lives on, and a later buffer placed over
  // it: valid as written, wrong for the run. The replay must notice before the second is used.
  for (size_t i = 0; i < plan.buffers.size() && wrong.size() < 2; ++i) {
    const auto& x = plan.buffers[i];
    if (x.output >= 0 || x.last <= x.first) continue;
    for (size_t j = i + 1; j < plan.buffers.size(); ++j) {
      const auto& y = plan.buffers[j];
      if (y.output >= 0 || y.first <= x.first || y.first > x.last || y.size > x.size) continue;
      MemoryPlan p = plan;
      p.buffers[i].last = x.first;
      p.buffers[j].offset = x.offset;
      if (memory_plan_error(p).empty()) {
        wrong.emplace_back("lifetime", p);
        break;
      }
    }
  }
  MemoryPlan fewer = plan;
  fewer.buffers.resize(fewer.buffers.size() / 2);
  wrong.emplace_back("truncated", fewer);
  ASSERT_EQ(wrong.size(), 3u) << "no pair of buffers to build the lifetime case from";
  for (const auto& [what, p] : wrong) {
    SCOPED_TRACE(what);
    ASSERT_EQ(memory_plan_error(p), "");
    ExecutionArena arena;
    arena.seed({p});
    expect_bit_identical(want, run_with(*engine, c.feeds32, &arena));
    expect_bit_identical(want, run_with(*engine, c.feeds32, &arena));
    expect_bit_identical(want, run_with(*engine, c.feeds32, &arena));
    // Seeded replay (diverges), recording (the seed is dropped), replay of the recording.
    const ExecutionArena::Stats st = arena.stats();
    EXPECT_EQ(st.diverged_runs, 1);
    EXPECT_EQ(st.recorded_runs, 1);
    EXPECT_EQ(st.replayed_runs, 2);
    EXPECT_EQ(st.seeded_plans, 0);
    EXPECT_FALSE(st.plan_seeded);
  }
}

// ---- plans in .sqm files ------------------------------------------------------------------

TEST(SqmPlan, PlansRoundTripThroughSaveAndLoad) {
  const OptCase& c = opt_case();
  Model lowered = lowered_opt();
  auto engine = engine_of(lowered);
  lowered.memory_plans = {record_plan(*engine, c.feeds32), record_plan(*engine, c.feeds48)};
  const std::string dir = test::temp_dir();
  const SqmWriteStats st = save_sqm(lowered, dir + "/two.sqm");
  EXPECT_EQ(st.memory_plans, 2u);
  Model back = load_sqm(dir + "/two.sqm");
  ASSERT_EQ(back.memory_plans.size(), 2u);
  EXPECT_TRUE(back.memory_plans == lowered.memory_plans);
  EXPECT_EQ(back.memory_plans[1].inputs[0].dims, (Shape{1, 48}));

  lowered.memory_plans.clear();
  save_sqm(lowered, dir + "/none.sqm");
  EXPECT_TRUE(load_sqm(dir + "/none.sqm").memory_plans.empty());

  // A plan that does not belong to the graph, or is invalid, is not written.
  lowered.memory_plans = {record_plan(*engine, c.feeds32)};
  lowered.memory_plans[0].inputs.pop_back();
  EXPECT_THROW(save_sqm(lowered, dir + "/bad.sqm"), Error);
  lowered.memory_plans = {record_plan(*engine, c.feeds32)};
  lowered.memory_plans[0].buffers[0].offset = 32;
  EXPECT_THROW(save_sqm(lowered, dir + "/bad.sqm"), Error);
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.sqm"));
}

TEST(SqmPlan, LoadedModelSessionReplaysTheStoredPlanFirst) {
  const OptCase& c = opt_case();
  const std::string path = compile_with_plans("opt32.sqm", {c.feeds32});
  auto lowered = std::make_shared<Model>(load_sqm(path));
  ASSERT_EQ(lowered->memory_plans.size(), 1u);
  auto engine = make_int8_engine_from_lowered(lowered);
  ASSERT_EQ(engine->model().memory_plans.size(), 1u) << "the engine's model carries the plans";
  const TensorMap want = run_with(*engine, c.feeds32, nullptr);
  ExecutionArena arena;
  arena.seed(engine->model().memory_plans);
  expect_bit_identical(want, run_with(*engine, c.feeds32, &arena));
  EXPECT_EQ(arena.stats().recorded_runs, 0);
  EXPECT_EQ(arena.stats().replayed_runs, 1);
  EXPECT_EQ(arena.stats().diverged_runs, 0);
  // Other shapes record, and are still right.
  expect_bit_identical(run_with(*engine, c.feeds48, nullptr),
                       run_with(*engine, c.feeds48, &arena));
  EXPECT_EQ(arena.stats().recorded_runs, 1);
}

// The PLAN section's position in a version-3 file: from the section table's third entry.
struct PlanSection {
  size_t offset = 0, size = 0;
};
PlanSection plan_section(const std::string& b) {
  PlanSection s;
  uint32_t kind = 0;
  std::memcpy(&kind, b.data() + 64 + 2 * 24, 4);
  EXPECT_EQ(kind, 3u);
  std::memcpy(&s.offset, b.data() + 64 + 2 * 24 + 8, 8);
  std::memcpy(&s.size, b.data() + 64 + 2 * 24 + 16, 8);
  return s;
}

void reseal(std::string& b) {
  const uint64_t h = sqm_checksum(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  std::memcpy(b.data() + 24, &h, 8);
}

// Loads bytes; "" if they load, else the error (which must be one line naming the file).
std::string load_error(const std::string& b, std::vector<MemoryPlan>* plans = nullptr) {
  try {
    Model m = load_sqm_from_memory(nullptr, reinterpret_cast<const uint8_t*>(b.data()), b.size(),
                                   "m.sqm");
    if (plans) *plans = m.memory_plans;
    return "";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("m.sqm: ", 0), 0u) << msg;
    return msg;
  }
}

TEST(SqmPlan, CorruptedPlanBytesAreRefusedWithOneLine) {
  const OptCase& c = opt_case();
  const std::string good = test::read_bytes(compile_with_plans("c.sqm", {c.feeds32}));
  const PlanSection ps = plan_section(good);
  ASSERT_GT(ps.size, 100u);
  ASSERT_EQ(load_error(good), "");
  // Field positions: count (4), inputs count (4), per input dtype (1) rank (4) dims (8 each),
  // arena bytes (8), buffer count (4), then 28 bytes per buffer.
  const size_t inputs_at = ps.offset + 8;
  const size_t arena_at = inputs_at + 2 * (1 + 4 + 2 * 8);
  const size_t buffers_at = arena_at + 8 + 4;
  // Buffers to spoil: an arena buffer a, one live with it that overlaps it when moved onto it,
  // and an output.
  const MemoryPlan plan = load_sqm_from_memory(nullptr, reinterpret_cast<const uint8_t*>(good.data()),
                                               good.size(), "m.sqm").memory_plans.at(0);
  size_t a = plan.buffers.size(), b = 0, out = 0;
  for (size_t i = 0; i < plan.buffers.size() && a == plan.buffers.size(); ++i) {
    for (size_t j = i + 1; j < plan.buffers.size(); ++j) {
      MemoryPlan p = plan;
      p.buffers[j].offset = p.buffers[i].offset;
      if (p.buffers[i].output < 0 && p.buffers[j].output < 0 &&
          memory_plan_error(p).find("overlap") != std::string::npos) {
        a = i, b = j;
        break;
      }
    }
  }
  ASSERT_LT(a, plan.buffers.size());
  while (plan.buffers[out].output < 0) ++out;
  auto field = [&](size_t k, size_t f) { return buffers_at + 28 * k + f; };
  auto forged = [&](const std::function<void(std::string&)>& spoil, const std::string& needle) {
    std::string b = good;
    spoil(b);
    reseal(b);
    const std::string e = load_error(b);
    EXPECT_NE(e.find(needle), std::string::npos) << needle << ": got '" << e << "'";
  };
  auto put64 = [](std::string& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); };
  auto put32 = [](std::string& b, size_t at, int32_t v) { std::memcpy(b.data() + at, &v, 4); };
  uint64_t arena = 0;
  std::memcpy(&arena, good.data() + arena_at, 8);
  forged([&](std::string& s) { put64(s, field(a, 8), arena); }, "outside the");
  forged([&](std::string& s) { put32(s, field(a, 16), 1 << 20); }, "lifetime");
  forged([&](std::string& s) { put32(s, field(a, 20), 1 << 20); }, "lives to step");
  forged([&](std::string& s) { put32(s, field(out, 24), 1000); }, "output number");
  forged([&](std::string& s) { put64(s, field(b, 8), plan.buffers[a].offset); }, "overlap");
  forged([&](std::string& s) { put64(s, arena_at, uint64_t{1} << 62); }, "this machine can hold");
  forged([&](std::string& s) { put32(s, arena_at + 8, 0x7fffffff); }, "does not fit in the");
  forged([&](std::string& s) { put32(s, ps.offset, 1000); }, "memory plans count 1000");
  forged([&](std::string& s) { put32(s, inputs_at - 4, 1); }, "inputs");
  forged([&](std::string& s) { s[inputs_at] = 1; }, "does not fit graph input");
  forged([&](std::string& s) { s[inputs_at] = 99; }, "unknown dtype code 99");
  // The section cut short (the table says fewer bytes), or claiming bytes beyond DATA's start.
  forged([&](std::string& s) { put64(s, 64 + 2 * 24 + 16, ps.size - 10); }, "PLAN section");
  forged([&](std::string& s) { put64(s, 64 + 2 * 24 + 16, ps.size + 4096); }, "section table");
  forged([&](std::string& s) { put64(s, 64 + 2 * 24 + 8, ps.offset + 8); }, "section table");
  // A version-3 file relabelled as version 2 (which has two sections) is refused, not misread.
  forged([&](std::string& s) { s[8] = 2; }, "corrupted .sqm header");
  forged([&](std::string& s) { s[8] = 4; }, "recompile");

  // Truncations inside the section and plain bit flips there: the size and checksum checks.
  for (size_t at = ps.offset; at < ps.offset + ps.size; at += 97) {
    EXPECT_NE(load_error(good.substr(0, at)).find("truncated"), std::string::npos) << at;
    std::string b = good;
    b[at] ^= 0x04;
    EXPECT_NE(load_error(b).find("checksum mismatch"), std::string::npos) << at;
  }
  // Bit flips with the checksum forged (every byte of the first 256, then every 13th): refused
  // with one line, or loaded with plans that pass the full check (a different but safe plan).
  // Never a crash.
  int refused = 0, loaded = 0;
  for (size_t at = ps.offset; at < ps.offset + ps.size; at += at < ps.offset + 256 ? 1 : 13) {
    std::string s = good;
    s[at] ^= static_cast<char>(1 << (at % 8));
    reseal(s);
    std::vector<MemoryPlan> plans;
    if (load_error(s, &plans).empty()) {
      ++loaded;
      for (const MemoryPlan& p : plans) EXPECT_EQ(memory_plan_error(p), "") << at;
    } else {
      ++refused;
    }
  }
  std::printf("forged flips in the %zu-byte PLAN section: %d refused, %d loaded (valid plans)\n",
              ps.size, refused, loaded);
  EXPECT_GT(refused, 0);
}

// Files written before memory plans (version 2: two sections, no PLAN) still load and run; their
// sessions record as before. A version-2 file cannot carry plans.
TEST(SqmPlan, Version2FilesLoadAndRunWithoutAPlan) {
  const OptCase& c = opt_case();
  const std::string path = compile_with_plans("v2.sqm", {c.feeds32}, 2);
  const std::string bytes = test::read_bytes(path);
  uint32_t version = 0, sections = 0;
  std::memcpy(&version, bytes.data() + 8, 4);
  std::memcpy(&sections, bytes.data() + 36, 4);
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(sections, 2u);
  auto lowered = std::make_shared<Model>(load_sqm(path));
  EXPECT_TRUE(lowered->memory_plans.empty());
  auto engine = make_int8_engine_from_lowered(lowered);
  ExecutionArena arena;
  arena.seed(engine->model().memory_plans);
  expect_bit_identical(run_with(*engine_of(lowered_opt()), c.feeds32, nullptr),
                       run_with(*engine, c.feeds32, &arena));
  EXPECT_EQ(arena.stats().recorded_runs, 1);
  EXPECT_EQ(arena.stats().replayed_runs, 0);
  EXPECT_THROW(save_sqm(*lowered, test::temp_dir() + "/v1.sqm", SqmWriteOptions{1}), Error);
}

// ---- the CLI ------------------------------------------------------------------------------

TEST(SqmPlanCli, CompileStoresThePlanAndBenchReplaysIt) {
  const OptCase& c = opt_case();
  const std::string dir = test::temp_dir();
  save_onnx(*c.qdq, dir + "/q.onnx");
  test::CliResult r = test::run_cli("compile " + dir + "/q.onnx --plan-shape input_ids=1x32 "
                                    "--plan-shape attention_mask=1x32 --plan-threads 2 -o " + dir +
                                    "/p.sqm");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("memory plan (sessions of up to 2 thread(s)): input_ids int64 [1,32], "
                       "attention_mask int64 [1,32]: arena "),
            std::string::npos) << r.out;
  Model m = load_sqm(dir + "/p.sqm");
  ASSERT_EQ(m.memory_plans.size(), 1u);
  EXPECT_EQ(m.memory_plans[0].inputs[1].dims, (Shape{1, 32}));
  EXPECT_NE(r.out.find(std::to_string(m.memory_plans[0].arena_bytes) + " bytes"),
            std::string::npos) << r.out;

  // The warm-up and the timed runs all replay the stored plan (with 2 threads, as planned, and
  // with 1); with 4 threads the first replay diverges and the session records its own.
  for (const char* threads : {"2", "1"}) {
    r = test::run_cli("bench " + dir + "/p.sqm --seq 32 --repeat 2 --threads " + threads);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("plan from the model file (0 recorded run(s), 3 replayed)"),
              std::string::npos) << threads << " thread(s): " << r.out;
  }
  r = test::run_cli("bench " + dir + "/p.sqm --seq 32 --repeat 2 --threads 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("plan recorded (1 recorded run(s), 2 replayed, 1 diverged)"),
            std::string::npos) << r.out;
  r = test::run_cli("bench " + dir + "/p.sqm --seq 16 --repeat 2 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("plan recorded (1 recorded run(s), 2 replayed)"), std::string::npos)
      << r.out;

  // Without --plan-shape, symbolic dimensions: the file is written, without a plan, and one
  // stderr line says which input needs the flag.
  r = test::run_cli("compile " + dir + "/q.onnx -o " + dir + "/n.sqm");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("no memory plan stored: input 'input_ids' has a symbolic dimension"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--plan-shape input_ids="), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("memory plan:"), std::string::npos) << r.out;
  EXPECT_TRUE(load_sqm(dir + "/n.sqm").memory_plans.empty());
  r = test::run_cli("compile " + dir + "/q.onnx --plan-shape input_ids=1x32 -o " + dir + "/h.sqm");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("input 'attention_mask'"), std::string::npos) << r.err;

  // A planning run that fails with explicit shapes (a mask shorter than the ids) is an error,
  // and nothing is written.
  r = test::run_cli("compile " + dir + "/q.onnx --plan-shape input_ids=1x32 "
                    "--plan-shape attention_mask=1x16 -o " + dir + "/f.sqm");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("memory planning run"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/f.sqm"));

  r = test::run_cli("compile --help");
  EXPECT_NE(r.out.find("--plan-shape"), std::string::npos) << r.out;
}

ValueInfo static_input(const std::string& name, DType dtype, const Shape& shape) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = dtype;
  vi.has_type = vi.has_shape = true;
  for (int64_t d : shape) vi.dims.push_back(Dim{d, ""});
  return vi;
}

// A QDQ graph with static inputs whose run fails on zeros: y = DQ(Q(x)) + Range(0, 4, d), and a
// zero step d is an error. Its planning run on zero-filled inputs fails.
Model fails_on_zeros() {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = m.graph;
  g.inputs = {static_input("x", DType::kFloat32, {4}), static_input("d", DType::kInt64, {})};
  g.outputs = {static_input("y", DType::kFloat32, {4})};
  g.initializers["scale"] = Tensor::from_vector<float>({}, {0.1f});
  g.initializers["zp"] = Tensor::from_vector<uint8_t>({}, {128});
  g.initializers["start"] = Tensor::from_vector<int64_t>({}, {0});
  g.initializers["limit"] = Tensor::from_vector<int64_t>({}, {4});
  auto node = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
    Node n;
    n.name = out + "_node";
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {out};
    g.nodes.push_back(std::move(n));
  };
  node("QuantizeLinear", {"x", "scale", "zp"}, "xq");
  node("DequantizeLinear", {"xq", "scale", "zp"}, "xd");
  node("Range", {"start", "limit", "d"}, "r");
  node("Cast", {"r"}, "rf");
  g.nodes.back().attrs["to"] = Attribute::of_int(1);
  node("Add", {"xd", "rf"}, "y");
  return m;
}

// Without --plan-shape, a planning run that fails is a one-line warning and the file is written
// without a plan.
TEST(SqmPlanCli, FailingPlanningRunWithoutPlanShapeWarnsAndWritesNoPlan) {
  const std::string dir = test::temp_dir();
  save_onnx(fails_on_zeros(), dir + "/z.onnx");
  test::CliResult r = test::run_cli("compile " + dir + "/z.onnx -o " + dir + "/z.sqm");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("warning: no memory plan stored: the planning run"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("delta is 0"), std::string::npos) << r.err;
  EXPECT_TRUE(load_sqm(dir + "/z.sqm").memory_plans.empty());
}

}  // namespace
}  // namespace sq
