#include "tests/test_models.h"

#include <filesystem>

#include "calib/dataset.h"
#include "quantizer/quantize.h"
#include "runtime/engine/constant_folding.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/io/npy.h"
#include "tests/test_util.h"

namespace sq::test {

namespace {

constexpr float kFloatMin = -3.4028234663852886e38f;

ValueInfo float_value(const std::string& name, const Shape& shape) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = DType::kFloat32;
  vi.has_type = vi.has_shape = true;
  for (int64_t d : shape) vi.dims.push_back(Dim{d, ""});
  return vi;
}

Node make_node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
               std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = op + "_" + out[0];
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attrs = std::move(attrs);
  return n;
}

}  // namespace

Tensor random_tensor(Shape shape, std::mt19937& rng, float stddev) {
  Tensor t(DType::kFloat32, std::move(shape));
  std::normal_distribution<float> n(0.f, stddev);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
  return t;
}

std::shared_ptr<Model> attention_model(int64_t heads, int64_t seq, int64_t dim, bool causal) {
  auto m = std::make_shared<Model>();
  m->opset_imports[""] = 17;
  Graph& g = m->graph;
  for (const char* n : {"q", "k", "v"}) g.inputs.push_back(float_value(n, {1, heads, seq, dim}));
  Tensor mask = Tensor::zeros(DType::kFloat32, {1, 1, seq, seq});
  if (causal) {
    for (int64_t i = 0; i < seq; ++i)
      for (int64_t j = i + 1; j < seq; ++j) mask.data<float>()[i * seq + j] = kFloatMin;
  }
  g.initializers["mask"] = mask;
  g.nodes.push_back(make_node("Transpose", {"k"}, {"kt"}, {{"perm", Attribute::of_ints({0, 1, 3, 2})}}));
  g.nodes.push_back(make_node("MatMul", {"q", "kt"}, {"qk"}));
  g.nodes.push_back(make_node("Add", {"qk", "mask"}, {"scores"}));
  g.nodes.push_back(make_node("Softmax", {"scores"}, {"probs"}, {{"axis", Attribute::of_int(-1)}}));
  g.nodes.push_back(make_node("Identity", {"probs"}, {"probs_out"}));
  g.nodes.push_back(make_node("MatMul", {"probs", "v"}, {"out"}));
  g.outputs.push_back(float_value("out", {1, heads, seq, dim}));
  g.outputs.push_back(float_value("probs_out", {1, heads, seq, seq}));
  return m;
}

std::string write_random_samples(const Model& model, int count, uint64_t seed, float stddev) {
  std::string dir = temp_dir();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  for (int s = 0; s < count; ++s) {
    std::string sd = dir + "/sample" + std::to_string(s);
    std::filesystem::create_directories(sd);
    for (const auto& vi : model.graph.inputs) {
      Shape shape;
      for (const auto& d : vi.dims) shape.push_back(d.value);
      write_npy(sd + "/" + vi.name + ".npy", random_tensor(shape, rng, stddev));
    }
  }
  return dir;
}

namespace {

std::shared_ptr<Model> load_folded(const std::string& path) {
  auto m = std::make_shared<Model>(load_onnx(path));
  fold_constants(*m);
  return m;
}

std::shared_ptr<const Model> quantize_default(const std::shared_ptr<Model>& m,
                                              const SampleSet& calib) {
  QuantConfig config;
  Calibration cal = calibrate_model(m, config, calib, 2);
  return std::make_shared<const Model>(build_quantized_model(*m, config, cal).model);
}

}  // namespace

ModelCase bundled_opt_case(int64_t context, int count) {
  const std::string dir = std::string(SQ_SOURCE_DIR) + "/models/assets/opt-bytes";
  ModelCase c;
  c.name = "bundled OPT";
  c.fp32 = load_folded(dir + "/model.onnx");
  SampleSet eval = SampleSet::load(parse_data_spec("tokens:" + dir + "/eval_tokens.npy"),
                                   c.fp32->graph, context, count);
  for (size_t i = 0; i < eval.size(); ++i) c.samples.push_back(eval.feeds(i));
  c.qdq = quantize_default(
      c.fp32, SampleSet::load(parse_data_spec("tokens:" + dir + "/calib_tokens.npy"),
                              c.fp32->graph, context, 2));
  return c;
}

ModelCase torch_sd_block_case() {
  const std::string dir = data_dir() + "/torch/sd_block_c64_s8_opset14";
  ModelCase c;
  c.name = "SD block";
  c.fp32 = load_folded(dir + "/model.onnx");
  SampleSet data = SampleSet::load(parse_data_spec("inputs:" + dir + "/inputs"), c.fp32->graph, 0, 0);
  for (size_t i = 0; i < data.size(); ++i) c.samples.push_back(data.feeds(i));
  c.qdq = quantize_default(c.fp32, data);
  return c;
}

}  // namespace sq::test
