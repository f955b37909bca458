// Why this exists: tests of the int8 lowering passes (lookup tables, LayerNorm fusion) build
// small QDQ graphs by hand and require the int8 engine to reproduce the QDQ simulation bit for
// bit; the graph builder and that check live here once.
#pragma once

#include <gtest/gtest.h>

#include <random>

#include "runtime/engine/int8_engine.h"
#include "runtime/engine/reference_engine.h"

namespace sq {

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

inline Tensor random_input(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 2.0f);
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

// Runs sim and int8 on the inputs; every output must be bit-identical. Returns the report.
inline Int8LoweringReport expect_int8_equals_sim(const Model& m, const TensorMap& feeds) {
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

}  // namespace sq
