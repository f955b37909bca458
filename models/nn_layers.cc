#include "models/nn_layers.h"

namespace sq {

std::string layer_norm(GraphBuilder& b, const std::string& x, const std::string& weight,
                       const std::string& bias, float eps) {
  if (b.opset() >= 17) {
    return b.op("LayerNormalization", {x, weight, bias},
                {{"axis", Attribute::of_int(-1)}, {"epsilon", Attribute::of_float(eps)}});
  }
  const std::map<std::string, Attribute> last_axis = {{"axes", Attribute::of_ints({-1})},
                                                      {"keepdims", Attribute::of_int(1)}};
  std::string mean = b.op("ReduceMean", {x}, last_axis);
  std::string centered = b.op("Sub", {x, mean});
  std::string sq = b.op("Pow", {centered, b.const_f32(2.0f)});
  std::string var = b.op("ReduceMean", {sq}, last_axis);
  std::string std_dev = b.op("Sqrt", {b.op("Add", {var, b.const_f32(eps)})});
  std::string normed = b.op("Div", {centered, std_dev});
  return b.op("Add", {b.op("Mul", {normed, weight}), bias});
}

std::string linear(GraphBuilder& b, const std::string& x, const std::string& weight_in_out,
                   const std::string& bias) {
  std::string y = b.op("MatMul", {x, weight_in_out});
  return bias.empty() ? y : b.op("Add", {y, bias});
}

std::string gelu(GraphBuilder& b, const std::string& x, bool use_gelu_op) {
  if (use_gelu_op) return b.op("Gelu", {x});
  std::string erf = b.op("Erf", {b.op("Div", {x, b.const_f32(1.4142135623730951f)})});
  std::string one_plus = b.op("Add", {erf, b.const_f32(1.0f)});
  return b.op("Mul", {b.op("Mul", {x, one_plus}), b.const_f32(0.5f)});
}

std::string split_heads(GraphBuilder& b, const std::string& x, int64_t heads, int64_t head_dim,
                        const std::vector<int64_t>& perm) {
  std::string r = b.op("Reshape", {x, b.const_i64s({0, 0, heads, head_dim})});
  return b.op("Transpose", {r}, {{"perm", Attribute::of_ints(perm)}});
}

std::string merge_heads(GraphBuilder& b, const std::string& x, int64_t hidden) {
  std::string t = b.op("Transpose", {x}, {{"perm", Attribute::of_ints({0, 2, 1, 3})}});
  return b.op("Reshape", {t, b.const_i64s({0, 0, hidden})});
}

}  // namespace sq
