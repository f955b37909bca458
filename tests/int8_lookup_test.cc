// Elementwise subgraphs between uint8 QDQ pairs become lookup tables on the int8 engine
// (engine/int8_lookup_lowering.h): checked against the QDQ simulation (the same graph on the
// reference engine), which they must reproduce exactly, on unary chains (Sigmoid; GELU written
// out with Erf, reading the dequantized input twice), on Add and Mul of two quantized tensors
// with broadcasting, and on subgraphs that must stay in float.
#include <gtest/gtest.h>

#include <random>

#include "runtime/engine/int8_engine.h"
#include "runtime/engine/reference_engine.h"

namespace sq {
namespace {

struct Builder {
  Model m;
  int n = 0;
  Builder() { m.opset_imports[""] = 17; }
  std::string scalar(float v) {
    const std::string name = "c" + std::to_string(n++);
    m.graph.initializers[name] = Tensor::from_vector<float>({}, {v});
    return name;
  }
  std::string node(const std::string& op, std::vector<std::string> in) {
    Node x;
    x.name = op + std::to_string(n++);
    x.op_type = op;
    x.inputs = std::move(in);
    x.outputs = {x.name + "_out"};
    m.graph.nodes.push_back(x);
    return x.outputs[0];
  }
  // QuantizeLinear then DequantizeLinear (uint8, per tensor).
  std::string qdq(const std::string& x, float scale, uint8_t zero) {
    const std::string s = scalar(scale), z = "z" + std::to_string(n++);
    m.graph.initializers[z] = Tensor::from_vector<uint8_t>({}, {zero});
    return node("DequantizeLinear", {node("QuantizeLinear", {x, s, z}), s, z});
  }
  void input(const std::string& name, Shape shape) {
    ValueInfo vi;
    vi.name = name;
    vi.has_type = vi.has_shape = true;
    for (int64_t d : shape) vi.dims.push_back(Dim{d, ""});
    m.graph.inputs.push_back(vi);
  }
  void output(const std::string& name) {
    ValueInfo vi;
    vi.name = name;
    m.graph.outputs.push_back(vi);
  }
};

Tensor random_input(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// Runs sim and int8 on the inputs; every output must be bit-identical. Returns the report.
Int8LoweringReport expect_int8_equals_sim(const Model& m, const TensorMap& feeds) {
  ReferenceEngine sim(std::make_shared<const Model>(m));
  Int8LoweringReport report;
  auto int8 = make_int8_engine(m, &report);
  ThreadPool pool(2);
  TensorMap a = sim.run(feeds, pool), b = int8->run(feeds, pool);
  for (const auto& [name, t] : a) {
    const Tensor& u = b.at(name);
    EXPECT_EQ(t.shape(), u.shape()) << name;
    int64_t differ = 0;
    for (int64_t i = 0; i < t.numel(); ++i) differ += t.get_as_double(i) != u.get_as_double(i);
    EXPECT_EQ(differ, 0) << name << ": " << differ << " of " << t.numel() << " differ";
  }
  return report;
}

TEST(Int8Lookup, UnaryChainsBecomeTablesAndMatchTheSimulation) {
  Builder b;
  b.input("x", {2, 3, 37});
  const std::string x = b.qdq("x", 0.04f, 128);
  // Sigmoid -> 8-bit output on the 1/255 grid.
  b.output(b.qdq(b.node("Sigmoid", {x}), 1.0f / 255, 0));
  // GELU with Erf: 0.5 * x * (1 + erf(x / sqrt(2))), x read twice.
  const std::string erf = b.node("Erf", {b.node("Div", {x, b.scalar(1.4142135f)})});
  const std::string gelu = b.node("Mul", {b.node("Mul", {x, b.node("Add", {erf, b.scalar(1.0f)})}),
                                          b.scalar(0.5f)});
  b.output(b.qdq(gelu, 0.03f, 10));
  Int8LoweringReport r = expect_int8_equals_sim(b.m, {{"x", random_input({2, 3, 37}, 1)}});
  EXPECT_EQ(r.lookups, 2) << r.summary();
  EXPECT_TRUE(r.float_nodes.empty()) << r.summary();
}

TEST(Int8Lookup, AddAndMulOfTwoQuantizedTensorsBroadcast) {
  Builder b;
  b.input("a", {2, 3, 5});
  b.input("c", {5});
  const std::string a = b.qdq("a", 0.05f, 120), c = b.qdq("c", 0.02f, 200);
  b.output(b.qdq(b.node("Add", {a, c}), 0.07f, 128));
  b.output(b.qdq(b.node("Mul", {c, a}), 0.1f, 128));  // the table's first input is c here
  Int8LoweringReport r = expect_int8_equals_sim(
      b.m, {{"a", random_input({2, 3, 5}, 2)}, {"c", random_input({5}, 3)}});
  EXPECT_EQ(r.lookups, 2) << r.summary();
}

TEST(Int8Lookup, SubgraphsReadElsewhereOrWithVectorConstantsStayInFloat) {
  Builder b;
  b.input("x", {4, 8});
  const std::string x = b.qdq("x", 0.04f, 128);
  const std::string s = b.node("Sigmoid", {x});
  b.output(s);                      // the Sigmoid's float value is a graph output too
  b.output(b.qdq(s, 1.0f / 255, 0));
  b.m.graph.initializers["bias"] = Tensor::from_vector<float>({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  b.output(b.qdq(b.node("Add", {x, "bias"}), 0.1f, 64));  // a vector constant: not a table
  Int8LoweringReport r = expect_int8_equals_sim(b.m, {{"x", random_input({4, 8}, 4)}});
  EXPECT_EQ(r.lookups, 0) << r.summary();
  EXPECT_EQ(r.float_nodes.size(), 2u) << r.summary();
}

}  // namespace
}  // namespace sq
