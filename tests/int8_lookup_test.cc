// Elementwise subgraphs between uint8 QDQ pairs become lookup tables on the int8 engine
// (engine/int8_lookup_lowering.h): checked against the QDQ simulation (the same graph on the
// reference engine), which they must reproduce exactly, on unary chains (Sigmoid; GELU written
// out with Erf, reading the dequantized input twice), on Add and Mul of two quantized tensors
// with broadcasting, and on subgraphs that must stay in float.
#include <gtest/gtest.h>

#include "tests/lowering_test_builder.h"

namespace sq {
namespace {

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
