// The nine-op LayerNorm spelling (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul,
// Add) becomes one LayerNormChainF32 node on the int8 engine (engine/layer_norm_fusion.h), whose
// output must equal the chain's bit for bit: checked against the QDQ simulation (the unfused
// graph on the reference engine) on odd row lengths, both operand orders, opset 18's axes input,
// one-value gamma and beta, a large mean offset (where a different summation order would show),
// and chains that must not be fused.
#include <gtest/gtest.h>

#include "tests/lowering_test_builder.h"

namespace sq {
namespace {

struct ChainOptions {
  bool swap_operands = false;  // Mul(gamma, Div), Add(beta, Mul), Add(eps, var)
  bool axes_input = false;     // opset 18: ReduceMean axes as an input
  float exponent = 2.0f;
  int64_t axis = -1;
  bool one_value_affine = false;  // gamma and beta of shape [1], broadcast over the row
};

std::string reduce_mean(Builder& b, const std::string& x, const ChainOptions& o) {
  if (!o.axes_input) {
    const std::string out = b.node("ReduceMean", {x});
    b.m.graph.nodes.back().attrs["axes"] = Attribute::of_ints({o.axis});
    return out;
  }
  const std::string axes = "axes" + std::to_string(b.n++);
  b.m.graph.initializers[axes] = Tensor::from_vector<int64_t>({1}, {o.axis});
  return b.node("ReduceMean", {x, axes});
}

// The chain on x with row length c; returns its output. Sets the ids of Sub's output in *diff.
std::string chain(Builder& b, const std::string& x, int64_t c, const ChainOptions& o,
                  std::string* diff = nullptr) {
  const int64_t len = o.one_value_affine ? 1 : c;
  std::vector<float> gv(static_cast<size_t>(len)), bv(static_cast<size_t>(len));
  for (int64_t j = 0; j < len; ++j) {
    gv[static_cast<size_t>(j)] = 0.5f + 0.13f * static_cast<float>(j);
    bv[static_cast<size_t>(j)] = -0.2f + 0.07f * static_cast<float>(j);
  }
  const std::string gamma = "gamma" + std::to_string(b.n++), beta = "beta" + std::to_string(b.n++);
  b.m.graph.initializers[gamma] = Tensor::from_vector<float>({len}, gv);
  b.m.graph.initializers[beta] = Tensor::from_vector<float>({len}, bv);
  const std::string d = b.node("Sub", {x, reduce_mean(b, x, o)});
  if (diff) *diff = d;
  const std::string var = reduce_mean(b, b.node("Pow", {d, b.scalar(o.exponent)}), o);
  const std::string eps = b.scalar(1e-5f);
  const std::string s = b.node("Sqrt", {b.node("Add", o.swap_operands ? std::vector{eps, var}
                                                                         : std::vector{var, eps})});
  const std::string n = b.node("Div", {d, s});
  const std::string y = b.node("Mul", o.swap_operands ? std::vector{gamma, n} : std::vector{n, gamma});
  return b.node("Add", o.swap_operands ? std::vector{beta, y} : std::vector{y, beta});
}

int count_op(const Model& m, const std::string& op) {
  int k = 0;
  for (const Node& n : lower_to_int8(m).graph.nodes) k += n.op_type == op;
  return k;
}

TEST(LayerNormFusion, ChainsBecomeOneNodeBitIdenticalToTheSimulation) {
  for (int64_t c : {1, 7, 768}) {
    for (bool swap : {false, true}) {
      for (bool axes_input : {false, true}) {
        SCOPED_TRACE("c=" + std::to_string(c) + " swap=" + std::to_string(swap) +
                     " axes_input=" + std::to_string(axes_input));
        const bool one_value = swap && axes_input;  // gamma and beta [1] in one variant
        Builder b;
        if (axes_input) b.m.opset_imports[""] = 18;
        b.input("x", {2, 3, c});
        ChainOptions o;
        o.swap_operands = swap, o.axes_input = axes_input, o.one_value_affine = one_value;
        // Float input (the residual stream); the float result is an output, and its quantized
        // value like in a QDQ model.
        const std::string ln = chain(b, "x", c, o);
        b.output(ln);
        b.output(b.qdq(ln, 0.02f, 128));
        Tensor x = random_input({2, 3, c}, static_cast<uint32_t>(c));
        for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += 1000.0f;  // large mean
        const Int8LoweringReport r = expect_int8_equals_sim(b.m, {{"x", x}});
        EXPECT_EQ(r.fused_layer_norms, 1) << r.summary();
        EXPECT_EQ(count_op(b.m, "LayerNormChainF32"), 1);
        EXPECT_EQ(count_op(b.m, "ReduceMean"), 0);
      }
    }
  }
}

TEST(LayerNormFusion, ChainsThatDifferStayUnfused) {
  struct Case {
    const char* what;
    ChainOptions o;
    bool diff_is_output;
  };
  ChainOptions cube, first_axis;
  cube.exponent = 3.0f;
  first_axis.axis = 0;
  for (const Case& k : {Case{"exponent 3", cube, false}, Case{"axis 0", first_axis, false},
                        Case{"x - mean read outside", ChainOptions{}, true}}) {
    SCOPED_TRACE(k.what);
    Builder b;
    b.input("x", {4, 6});
    std::string diff;
    b.output(b.qdq(chain(b, "x", 6, k.o, &diff), 0.02f, 128));
    if (k.diff_is_output) b.output(diff);
    const Int8LoweringReport r = expect_int8_equals_sim(b.m, {{"x", random_input({4, 6}, 9)}});
    EXPECT_EQ(r.fused_layer_norms, 0) << r.summary();
  }
}

}  // namespace
}  // namespace sq
