// The reference engine's contract: binding errors name the input, intermediates are freed after
// their last use (peak memory stays at a couple of buffers on a chain), one engine serves several
// threads at once, and ThreadPool::parallel_for covers every index exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "runtime/engine/reference_engine.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no sq::Error thrown";
  return "";
}

void expect_has(const std::string& msg, const std::vector<std::string>& needles) {
  for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << n << " | " << msg;
}

ValueInfo value(const std::string& name, DType dt, std::vector<Dim> dims, bool has_shape = true) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = dt;
  vi.has_type = true;
  vi.has_shape = has_shape;
  vi.dims = std::move(dims);
  return vi;
}

Node node(const std::string& name, const std::string& op, std::vector<std::string> ins,
          std::vector<std::string> outs) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  return n;
}

std::shared_ptr<Model> new_model() {
  auto m = std::make_shared<Model>();
  m->opset_imports[""] = 17;
  return m;
}

Tensor filled(Shape shape, float start, float step) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + step * static_cast<float>(i);
  return t;
}

// a, b: float32 [batch, 3]; ids: int64 [2]. y = a + b, z = Identity(ids).
std::shared_ptr<Model> binding_model() {
  auto m = new_model();
  m->graph.inputs.push_back(value("a", DType::kFloat32, {Dim{-1, "batch"}, Dim{3, ""}}));
  m->graph.inputs.push_back(value("b", DType::kFloat32, {Dim{-1, "batch"}, Dim{3, ""}}));
  m->graph.inputs.push_back(value("ids", DType::kInt64, {Dim{2, ""}}));
  m->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("z", DType::kInt64, {}, false));
  m->graph.nodes.push_back(node("add", "Add", {"a", "b"}, {"y"}));
  m->graph.nodes.push_back(node("id", "Identity", {"ids"}, {"z"}));
  return m;
}

TEST(Binding, GoodInputsRun) {
  ReferenceEngine engine(binding_model());
  ThreadPool pool(2);
  TensorMap feeds = {{"a", filled({2, 3}, 1, 1)},
                     {"b", filled({2, 3}, 10, 10)},
                     {"ids", Tensor::from_vector<int64_t>({2}, {7, -8})}};
  TensorMap out = engine.run(feeds, pool);
  EXPECT_EQ(out.at("y").to_float_vector(), (std::vector<float>{11, 22, 33, 44, 55, 66}));
  EXPECT_EQ(out.at("z").to_int64_vector(), (std::vector<int64_t>{7, -8}));
  // Any batch size binds, as long as both inputs agree.
  feeds["a"] = filled({5, 3}, 0, 0);
  feeds["b"] = filled({5, 3}, 2, 0);
  EXPECT_EQ(engine.run(feeds, pool).at("y").shape(), (Shape{5, 3}));
}

TEST(Binding, EveryMistakeNamesTheInput) {
  ReferenceEngine engine(binding_model());
  ThreadPool pool(1);
  const TensorMap good = {{"a", filled({2, 3}, 1, 1)},
                          {"b", filled({2, 3}, 1, 1)},
                          {"ids", Tensor::from_vector<int64_t>({2}, {1, 2})}};
  auto run_with = [&](const std::function<void(TensorMap&)>& edit) {
    TensorMap feeds = good;
    edit(feeds);
    return error_of([&] { engine.run(feeds, pool); });
  };
  expect_has(run_with([](TensorMap& f) { f.erase("ids"); }),
             {"missing input 'ids'", "expected ids: int64 [2]"});
  expect_has(run_with([](TensorMap& f) { f["bogus"] = Tensor::scalar_f32(0); }),
             {"unknown input 'bogus'", "a, b, ids"});
  expect_has(run_with([](TensorMap& f) {
               f["a"] = Tensor::zeros(DType::kInt32, {2, 3});
             }),
             {"input 'a'", "got int32", "expected a: float32 [batch,3]"});
  expect_has(run_with([](TensorMap& f) { f["b"] = filled({6}, 0, 0); }),
             {"input 'b'", "got shape [6]", "expected b: float32 [batch,3]"});
  expect_has(run_with([](TensorMap& f) {
               f["a"] = filled({2, 4}, 0, 0);
             }),
             {"input 'a'", "got shape [2,4]", "[batch,3]"});
  expect_has(run_with([](TensorMap& f) {
               f["ids"] = Tensor::from_vector<int64_t>({3}, {1, 2, 3});
             }),
             {"input 'ids'", "got shape [3]", "expected ids: int64 [2]"});
  expect_has(run_with([](TensorMap& f) {
               f["b"] = filled({5, 3}, 0, 0);
             }),
             {"input 'b'", "dimension 'batch' is 5", "input 'a' bound it to 2"});
  expect_has(run_with([](TensorMap& f) { f["a"] = Tensor(); }), {"input 'a'", "no data"});
}

TEST(Engine, KernelErrorsNameTheNode) {
  auto m = new_model();
  m->graph.inputs.push_back(value("a", DType::kFloat32, {}, false));
  m->graph.inputs.push_back(value("b", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m->graph.nodes.push_back(node("adder", "Add", {"a", "b"}, {"y"}));
  ReferenceEngine engine(m);
  ThreadPool pool(1);
  std::string msg = error_of([&] {
    engine.run({{"a", filled({2, 3}, 0, 1)}, {"b", filled({4}, 0, 1)}}, pool);
  });
  expect_has(msg, {"node 'adder' (Add)"});
  // An absurd Reshape target is an error naming the node, never an integer overflow.
  auto rs = new_model();
  rs->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  rs->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  rs->graph.initializers["shape"] =
      Tensor::from_vector<int64_t>({2}, {int64_t{1} << 62, int64_t{1} << 62});
  rs->graph.nodes.push_back(node("reshaper", "Reshape", {"x", "shape"}, {"y"}));
  ReferenceEngine rs_engine(rs);
  expect_has(error_of([&] {
               rs_engine.run({{"x", filled({4}, 0, 1)}}, pool);
             }),
             {"node 'reshaper' (Reshape)"});
  // Nodes built in memory out of execution order are refused up front.
  auto bad = new_model();
  bad->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  bad->graph.outputs.push_back(value("z", DType::kFloat32, {}, false));
  bad->graph.nodes.push_back(node("second", "Relu", {"y"}, {"z"}));
  bad->graph.nodes.push_back(node("first", "Relu", {"x"}, {"y"}));
  expect_has(error_of([&] { ReferenceEngine e(bad); }), {"not in topological order"});
}

// Found by UBSan (tools/sanitize.sh): the product of a Reshape target's dimensions overflowed
// int64 (2^62 * 2^62, undefined behaviour) before the element count was compared. It is now
// checked as it is computed.
TEST(Engine, ReshapeTargetWhoseDimensionProductOverflowsIsRefused) {
  ThreadPool pool(1);
  auto rs = new_model();
  rs->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  rs->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  rs->graph.initializers["shape"] =
      Tensor::from_vector<int64_t>({3}, {int64_t{1} << 62, int64_t{1} << 62, 0});
  rs->graph.nodes.push_back(node("reshaper", "Reshape", {"x", "shape"}, {"y"}));
  rs->graph.nodes.back().attrs["allowzero"] = Attribute::of_int(1);
  ReferenceEngine engine(rs);
  expect_has(error_of([&] { engine.run({{"x", filled({4}, 0, 1)}}, pool); }),
             {"node 'reshaper' (Reshape)", "overflows int64"});
}

// x -> op_0 -> t_0 -> op_1 -> t_1 ... -> y, every intermediate the size of x.
std::shared_ptr<Model> chain_model(int length) {
  auto m = new_model();
  m->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m->graph.initializers["c"] = Tensor::scalar_f32(0.5f);
  const char* ops[] = {"Relu", "Add", "Identity", "Mul"};
  std::string prev = "x";
  for (int i = 0; i < length; ++i) {
    std::string op = ops[i % 4];
    std::string out = i + 1 == length ? "y" : "t" + std::to_string(i);
    std::vector<std::string> ins = {prev};
    if (op == "Add" || op == "Mul") ins.push_back("c");
    m->graph.nodes.push_back(node("n" + std::to_string(i), op, ins, {out}));
    prev = out;
  }
  return m;
}

TEST(Engine, LivenessKeepsPeakMemoryFlatOnAChain) {
  const int kLength = 12;
  const Shape shape = {256, 1024};  // 1 MiB per float32 tensor
  const int64_t buffer = 256 * 1024 * 4;
  ReferenceEngine engine(chain_model(kLength));
  ThreadPool pool(2);
  int64_t sum_of_intermediates = 0;
  int calls = 0;
  ReferenceEngine::Observer observer = [&](const Node&, size_t, const Tensor& t) {
    sum_of_intermediates += static_cast<int64_t>(t.nbytes());
    ++calls;
  };
  Tensor x = filled(shape, -100, 0.001f);
  TensorMap out = engine.run({{"x", x}}, pool, &observer);
  EXPECT_EQ(calls, kLength);
  EXPECT_EQ(sum_of_intermediates, kLength * buffer);
  // At any node only its input and its output are alive; Identity's view shares a buffer.
  EXPECT_EQ(engine.last_peak_intermediate_bytes(), 2 * buffer);
  EXPECT_LT(engine.last_peak_intermediate_bytes() * 5, sum_of_intermediates);
  // Values are right: 12 nodes = 3 x (Relu, +0.5, Identity, *0.5).
  const float* in = x.data<float>();
  const float* got = out.at("y").data<float>();
  for (int64_t i = 0; i < x.numel(); i += 997) {
    float v = in[i];
    for (int r = 0; r < 3; ++r) v = (std::max(v, 0.f) + 0.5f) * 0.5f;
    ASSERT_FLOAT_EQ(got[i], v) << i;
  }
}

TEST(Engine, LivenessCountsBranchesAndDeadOutputs) {
  // r1 = Relu(x); r2 = Relu(r1); dead = Relu(r2) (never read); y = r1 + r2.
  auto m = new_model();
  m->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m->graph.nodes.push_back(node("a", "Relu", {"x"}, {"r1"}));
  m->graph.nodes.push_back(node("b", "Relu", {"r1"}, {"r2"}));
  m->graph.nodes.push_back(node("c", "Relu", {"r2"}, {"dead"}));
  m->graph.nodes.push_back(node("d", "Add", {"r1", "r2"}, {"y"}));
  ReferenceEngine engine(m);
  ThreadPool pool(1);
  const int64_t buffer = 1000 * 4;
  TensorMap out = engine.run({{"x", filled({1000}, -3, 0.01f)}}, pool);
  // At node c: r1, r2 and dead are alive; dead is freed at once, so d sees r1, r2, y.
  EXPECT_EQ(engine.last_peak_intermediate_bytes(), 3 * buffer);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_FLOAT_EQ(out.at("y").data<float>()[999], 2 * (-3 + 0.01f * 999));
}

TEST(Engine, ViewsShareOneBufferInThePeak) {
  // r = Relu(x); v1, v2 = Identity(r) (zero-copy views); y = v1 + v2: r's buffer counts once.
  auto m = new_model();
  m->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m->graph.nodes.push_back(node("r", "Relu", {"x"}, {"r"}));
  m->graph.nodes.push_back(node("v1", "Identity", {"r"}, {"v1"}));
  m->graph.nodes.push_back(node("v2", "Identity", {"r"}, {"v2"}));
  m->graph.nodes.push_back(node("y", "Add", {"v1", "v2"}, {"y"}));
  ReferenceEngine engine(m);
  ThreadPool pool(1);
  TensorMap out = engine.run({{"x", filled({500}, -1, 0.01f)}}, pool);
  EXPECT_EQ(engine.last_peak_intermediate_bytes(), 2 * 500 * 4);
  EXPECT_FLOAT_EQ(out.at("y").data<float>()[499], 2 * (-1 + 0.01f * 499));
}

TEST(Engine, OutputsNeverAliasWeightsOrInputs) {
  auto m = new_model();
  m->graph.inputs.push_back(value("x", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("w_out", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("x_out", DType::kFloat32, {}, false));
  m->graph.outputs.push_back(value("w", DType::kFloat32, {}, false));
  m->graph.initializers["w"] = Tensor::from_vector<float>({2}, {1, 2});
  m->graph.nodes.push_back(node("wid", "Identity", {"w"}, {"w_out"}));
  m->graph.nodes.push_back(node("xid", "Identity", {"x"}, {"x_out"}));
  ReferenceEngine engine(m);
  ThreadPool pool(1);
  Tensor x = Tensor::from_vector<float>({2}, {5, 6});
  TensorMap out = engine.run({{"x", x}}, pool);
  out.at("w_out").data<float>()[0] = 100;
  out.at("w").data<float>()[1] = 200;
  out.at("x_out").data<float>()[0] = 300;
  EXPECT_EQ(x.to_float_vector(), (std::vector<float>{5, 6}));
  EXPECT_EQ(m->graph.initializers.at("w").to_float_vector(), (std::vector<float>{1, 2}));
  TensorMap again = engine.run({{"x", x}}, pool);
  EXPECT_EQ(again.at("w_out").to_float_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ(engine.last_peak_intermediate_bytes(), 0);  // views of external buffers only
}

TEST(Engine, OneEngineManyThreads) {
  auto m = new_model();
  m->graph.inputs.push_back(value("x", DType::kFloat32, {Dim{-1, "n"}, Dim{64, ""}}));
  m->graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m->graph.initializers["w"] = filled({64, 64}, -1, 1.f / 2048);
  m->graph.initializers["b"] = filled({64}, 0.25f, -0.01f);
  m->graph.nodes.push_back(node("mm", "MatMul", {"x", "w"}, {"xw"}));
  m->graph.nodes.push_back(node("add", "Add", {"xw", "b"}, {"h"}));
  m->graph.nodes.push_back(node("relu", "Relu", {"h"}, {"r"}));
  m->graph.nodes.push_back(node("mul", "Mul", {"r", "h"}, {"y"}));
  ReferenceEngine engine(m);

  const int kThreads = 4, kRuns = 20;
  std::vector<Tensor> inputs, expected;
  {
    ThreadPool pool(1);
    for (int t = 0; t < kThreads; ++t) {
      inputs.push_back(filled({32 + t, 64}, static_cast<float>(t) - 2, 0.003f));
      expected.push_back(engine.run({{"x", inputs.back()}}, pool).at("y"));
    }
  }
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ThreadPool pool(2);
      for (int r = 0; r < kRuns; ++r) {
        try {
          Tensor y = engine.run({{"x", inputs[t]}}, pool).at("y");
          if (y.shape() != expected[t].shape() ||
              std::memcmp(y.raw(), expected[t].raw(), y.nbytes()) != 0) {
            ++mismatches;
          }
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(engine.last_peak_intermediate_bytes(), 0);
}

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 3, 5, 16, 17, 100, 1001}) {
      for (int64_t grain : {0, 1, 2, 3, 7, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> chunks{0}, small_chunks{0};
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          ++chunks;
          if (e - b < std::max<int64_t>(grain, 1)) ++small_chunks;
          for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
        });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1)
              << "threads " << threads << " n " << n << " grain " << grain << " index " << i;
        }
        EXPECT_LE(chunks.load(), threads);
        if (chunks.load() > 1) {
          EXPECT_EQ(small_chunks.load(), 0) << n << " " << grain;
        }
      }
    }
  }
}

TEST(ThreadPool, ManyJobsNestingAndExceptions) {
  ThreadPool pool(3);
  // Many short jobs in a row: no job is lost or run twice.
  std::atomic<int64_t> total{0};
  for (int job = 0; job < 2000; ++job) {
    pool.parallel_for(30, 1, [&](int64_t b, int64_t e) { total += e - b; });
  }
  EXPECT_EQ(total.load(), 2000 * 30);
  // A nested call runs inline instead of deadlocking or corrupting the outer job.
  std::vector<std::atomic<int>> grid(40 * 40);
  pool.parallel_for(40, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(40, 1, [&](int64_t jb, int64_t je) {
        for (int64_t j = jb; j < je; ++j) ++grid[static_cast<size_t>(i * 40 + j)];
      });
    }
  });
  for (const auto& g : grid) ASSERT_EQ(g.load(), 1);
  // An exception in any chunk reaches the caller after all chunks finished; the pool stays usable.
  for (int64_t bad : {0, 99}) {
    std::atomic<int> done{0};
    EXPECT_THROW(pool.parallel_for(100, 1,
                                   [&](int64_t b, int64_t e) {
                                     done += static_cast<int>(e - b);
                                     if (b <= bad && bad < e) throw Error("chunk failed");
                                   }),
                 Error);
    EXPECT_EQ(done.load(), 100);
  }
  std::atomic<int> after{0};
  pool.parallel_for(10, 1, [&](int64_t b, int64_t e) { after += static_cast<int>(e - b); });
  EXPECT_EQ(after.load(), 10);
}

}  // namespace
}  // namespace sq::test
