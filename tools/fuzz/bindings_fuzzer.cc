// libFuzzer target: binding and shape checks (sq::check_bindings) on tensors decoded from the
// fuzz bytes, against a small fixed model with symbolic (batch, sequence) and fixed dimensions:
// Gather of token ids, a mask, a fixed-width float input, MatMul and Softmax. Inputs that pass the
// checks are run on the reference engine, which must then either produce [batch, 3] probabilities
// or throw one sq::Error (an out-of-range token id, say); nothing else is acceptable.
//
// Input format: byte 0 = number of tensors (mod 5); per tensor: name, dtype, rank (mod 5), one
// byte per dimension (mod 9, or 0..255 if the top bit is set); then the element bytes, taken from
// the rest of the input (repeated as needed; zeros if none are left).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "runtime/core/thread_pool.h"
#include "runtime/engine/binding.h"
#include "runtime/engine/reference_engine.h"

namespace {

using sq::Attribute;
using sq::DType;
using sq::Node;
using sq::Tensor;
using sq::ValueInfo;

sq::Dim sym(const char* name) { return sq::Dim{-1, name}; }
sq::Dim fixed(int64_t v) { return sq::Dim{v, {}}; }

std::shared_ptr<const sq::Model> fixed_model() {
  auto m = std::make_shared<sq::Model>();
  m->opset_imports[""] = 17;
  sq::Graph& g = m->graph;
  g.inputs.push_back(ValueInfo{"input_ids", DType::kInt64, true, true, {sym("batch"), sym("sequence")}});
  g.inputs.push_back(
      ValueInfo{"attention_mask", DType::kFloat32, true, true, {sym("batch"), sym("sequence")}});
  g.inputs.push_back(ValueInfo{"x", DType::kFloat32, true, true, {sym("batch"), fixed(4)}});
  g.outputs.push_back(ValueInfo{"probs", DType::kFloat32, true, true, {sym("batch"), fixed(3)}});
  std::vector<float> emb(16 * 4), w(4 * 3);
  for (size_t i = 0; i < emb.size(); ++i) emb[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * static_cast<float>(i) - 0.6f;
  g.initializers["emb"] = Tensor::from_vector<float>({16, 4}, emb);
  g.initializers["w"] = Tensor::from_vector<float>({4, 3}, w);
  g.initializers["axis2"] = Tensor::from_vector<int64_t>({1}, {2});
  g.initializers["axis1"] = Tensor::from_vector<int64_t>({1}, {1});
  g.nodes.push_back(Node{"gather", "Gather", "", {"emb", "input_ids"}, {"e"}, {}});
  g.nodes.push_back(Node{"unsq", "Unsqueeze", "", {"attention_mask", "axis2"}, {"m3"}, {}});
  g.nodes.push_back(Node{"mul", "Mul", "", {"e", "m3"}, {"em"}, {}});
  g.nodes.push_back(Node{"sum", "ReduceSum", "", {"em", "axis1"}, {"r"},
                         {{"keepdims", Attribute::of_int(0)}}});
  g.nodes.push_back(Node{"add", "Add", "", {"r", "x"}, {"h"}, {}});
  g.nodes.push_back(Node{"mm", "MatMul", "", {"h", "w"}, {"z"}, {}});
  g.nodes.push_back(Node{"softmax", "Softmax", "", {"z"}, {"probs"}, {{"axis", Attribute::of_int(-1)}}});
  return m;
}

struct Reader {
  const uint8_t* data;
  size_t size, pos = 0;
  uint8_t next() { return pos < size ? data[pos++] : 0; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const sq::Model> model = fixed_model();
  static const sq::ReferenceEngine engine(model);
  static const char* kNames[] = {"input_ids", "attention_mask", "x", "input_ids", "unknown"};

  Reader r{data, size};
  sq::TensorMap inputs;
  const int count = r.next() % 5;
  for (int k = 0; k < count; ++k) {
    const std::string name = kNames[r.next() % 5];
    const uint8_t dtype_byte = r.next();
    if (dtype_byte == 0xff) {  // an empty handle: a tensor that holds no data
      inputs[name] = Tensor();
      continue;
    }
    const DType dtype = static_cast<DType>(dtype_byte % 8);
    const int rank = r.next() % 5;
    sq::Shape shape;
    int64_t numel = 1;
    for (int i = 0; i < rank; ++i) {
      const uint8_t b = r.next();
      shape.push_back(b & 0x80 ? (b & 0x7f) * 2 : b % 9);
      numel *= shape.back();
    }
    if (numel > 4096) continue;  // keep each run small
    Tensor t(dtype, shape);
    auto* out = static_cast<uint8_t*>(t.raw());
    const size_t rest = size - r.pos;
    for (size_t i = 0; i < t.nbytes(); ++i) out[i] = rest ? data[r.pos + i % rest] : 0;
    if (dtype == DType::kBool) {
      for (size_t i = 0; i < t.nbytes(); ++i) out[i] &= 1;
    }
    inputs[name] = t;
  }

  try {
    sq::check_bindings(model->graph, inputs);
  } catch (const sq::Error&) {
    return 0;
  }
  // The bindings were accepted: running must not crash, and the output has the bound batch.
  sq::ThreadPool pool(1);
  try {
    sq::TensorMap out = engine.run(inputs, pool);
    const Tensor& p = out.at("probs");
    const int64_t batch = inputs.at("x").dim(0);
    if (p.shape() != sq::Shape{batch, 3}) std::abort();
  } catch (const sq::Error&) {
  }
  return 0;
}
