// ONNX load/save: lossless round trips of models built in memory (nodes, every attribute kind,
// initializers of every dtype, value_info, opsets), external data and its tampering, and every
// kind of bad file (truncated at every byte, random, empty, a folder, unsupported opset or element
// type, cycle, dangling input, unsupported op) giving a one-line sq::Error, never a crash.
#include "runtime/graph/onnx_io.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "runtime/engine/reference_engine.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

namespace fs = std::filesystem;

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

#define EXPECT_ERROR_HAS(stmt, ...)                                                     \
  do {                                                                                  \
    std::string msg_ = error_of([&] { stmt; });                                         \
    for (const char* n_ : {__VA_ARGS__}) {                                              \
      EXPECT_NE(msg_.find(n_), std::string::npos) << "'" << n_ << "' not in: " << msg_; \
    }                                                                                   \
  } while (0)

ValueInfo value(const std::string& name, DType dt, std::vector<Dim> dims, bool has_shape = true) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = dt;
  vi.has_type = true;
  vi.has_shape = has_shape;
  vi.dims = std::move(dims);
  return vi;
}
Dim fixed(int64_t v) { return Dim{v, ""}; }
Dim sym(const std::string& p) { return Dim{-1, p}; }

Node node(const std::string& name, const std::string& op, std::vector<std::string> ins,
          std::vector<std::string> outs, const std::string& domain = "") {
  Node n;
  n.name = name;
  n.op_type = op;
  n.domain = domain;
  n.inputs = std::move(ins);
  n.outputs = std::move(outs);
  return n;
}

Model base_model(int64_t opset = 17) {
  Model m;
  m.opset_imports[""] = opset;
  return m;
}

void expect_same_tensor(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  if (a.nbytes()) {
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0);
  }
}

void expect_same_value_info(const ValueInfo& a, const ValueInfo& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.has_type, b.has_type);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.has_shape, b.has_shape);
  ASSERT_EQ(a.dims.size(), b.dims.size()) << a.name;
  for (size_t i = 0; i < a.dims.size(); ++i) {
    EXPECT_EQ(a.dims[i].value, b.dims[i].value) << a.name << " dim " << i;
    EXPECT_EQ(a.dims[i].param, b.dims[i].param) << a.name << " dim " << i;
  }
}

// One initializer of every dtype, incl. 0-d and zero-size, with distinctive values.
std::map<std::string, Tensor> every_dtype_initializers() {
  std::map<std::string, Tensor> m;
  m["w_f32"] = Tensor::from_vector<float>({2, 2}, {1.5f, -2.f, 3.f, 1e-20f});
  m["w_f16"] = Tensor::from_vector<uint16_t>({2}, {float_to_half(0.5f), 0xfbff});
  m["w_f64"] = Tensor::from_vector<double>({1}, {-1e200});
  m["w_i64"] = Tensor::from_vector<int64_t>({3}, {int64_t{1} << 50, -1, 0});
  m["w_i32"] = Tensor::from_vector<int32_t>({2}, {-2147483647 - 1, 7});
  m["w_i8"] = Tensor::from_vector<int8_t>({3}, {-128, 0, 127});
  m["w_u8"] = Tensor::from_vector<uint8_t>({2}, {0, 255});
  m["w_bool"] = Tensor::from_vector<bool>({2}, {true, false});
  m["w_scalar"] = Tensor::scalar_i64(42);
  m["w_empty"] = Tensor::zeros(DType::kFloat32, {0, 4});
  return m;
}

// A model that uses every IR feature the ONNX I/O has to carry.
Model rich_model() {
  Model m = base_model(17);
  m.opset_imports["com.example"] = 3;
  m.ir_version = 8;
  m.producer_name = "softquant-test";
  m.producer_version = "9.9";
  m.metadata["purpose"] = "round trip";
  m.graph.name = "rich";
  m.graph.inputs.push_back(value("x", DType::kFloat32, {sym("batch"), fixed(4)}));
  m.graph.inputs.push_back(value("ids", DType::kInt64, {sym("batch"), Dim{}}));
  m.graph.inputs.push_back(value("any", DType::kUInt8, {}, /*has_shape=*/false));
  m.graph.outputs.push_back(value("y", DType::kFloat32, {sym("batch"), fixed(4)}));
  m.graph.outputs.push_back(value("z", DType::kInt64, {}, false));
  m.graph.value_info.push_back(value("h", DType::kFloat32, {sym("batch"), fixed(4)}));
  m.graph.initializers = every_dtype_initializers();
  Node a = node("first", "Custom", {"x", "", "w_f32"}, {"h"}, "com.example");
  a.attrs["f"] = Attribute::of_float(0.25f);
  a.attrs["i"] = Attribute::of_int(-(int64_t{1} << 40));
  a.attrs["s"] = Attribute::of_string(std::string("with\0nul", 8));
  a.attrs["t"] = Attribute::of_tensor(Tensor::from_vector<int8_t>({2}, {-3, 4}));
  a.attrs["fs"] = Attribute::of_floats({1.f, -0.5f});
  a.attrs["is"] = Attribute::of_ints({3, -4, 5});
  a.attrs["empty_is"] = Attribute::of_ints({});
  Attribute strs;
  strs.kind = Attribute::Kind::kStrings;
  strs.strings = {"a", "", "ccc"};
  a.attrs["ss"] = strs;
  m.graph.nodes.push_back(a);
  m.graph.nodes.push_back(node("second", "Custom", {"h", "ids", "any"}, {"y", "z"}, "com.example"));
  return m;
}

TEST(OnnxIo, RoundTripKeepsEverything) {
  Model m = rich_model();
  std::string path = temp_dir() + "/rich.onnx";
  save_onnx(m, path);
  EXPECT_FALSE(fs::exists(path + ".data"));  // small: no external data
  LoadOptions no_inference;
  no_inference.infer_shapes = false;
  Model r = load_onnx(path, no_inference);

  EXPECT_EQ(r.opset_imports, m.opset_imports);
  EXPECT_EQ(r.opset(), 17);
  EXPECT_EQ(r.ir_version, 8);
  EXPECT_EQ(r.producer_name, "softquant-test");
  EXPECT_EQ(r.producer_version, "9.9");
  EXPECT_EQ(r.metadata, m.metadata);
  EXPECT_EQ(r.graph.name, "rich");
  ASSERT_EQ(r.graph.inputs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) expect_same_value_info(r.graph.inputs[i], m.graph.inputs[i]);
  ASSERT_EQ(r.graph.outputs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) expect_same_value_info(r.graph.outputs[i], m.graph.outputs[i]);
  ASSERT_EQ(r.graph.value_info.size(), 1u);
  expect_same_value_info(r.graph.value_info[0], m.graph.value_info[0]);

  ASSERT_EQ(r.graph.initializers.size(), m.graph.initializers.size());
  for (const auto& [name, t] : m.graph.initializers) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(r.graph.is_initializer(name));
    expect_same_tensor(r.graph.initializers.at(name), t);
  }

  ASSERT_EQ(r.graph.nodes.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Node& a = m.graph.nodes[i];
    const Node& b = r.graph.nodes[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.op_type, a.op_type);
    EXPECT_EQ(b.domain, a.domain);
    EXPECT_EQ(b.inputs, a.inputs);
    EXPECT_EQ(b.outputs, a.outputs);
    EXPECT_EQ(b.attrs.size(), a.attrs.size());
  }
  const Node& n = r.graph.nodes[0];
  EXPECT_EQ(n.num_inputs(), 3u);
  EXPECT_EQ(n.input(1), "");
  EXPECT_EQ(n.attr_float("f", 0), 0.25f);
  EXPECT_EQ(n.attr_int("i"), -(int64_t{1} << 40));
  EXPECT_EQ(n.attr_string("s", ""), std::string("with\0nul", 8));
  expect_same_tensor(n.attr_tensor("t"), Tensor::from_vector<int8_t>({2}, {-3, 4}));
  EXPECT_EQ(n.attr_floats("fs"), (std::vector<float>{1.f, -0.5f}));
  EXPECT_EQ(n.attr_ints("is"), (std::vector<int64_t>{3, -4, 5}));
  EXPECT_EQ(n.attr_ints("empty_is"), std::vector<int64_t>{});
  EXPECT_EQ(n.attrs.at("ss").kind, Attribute::Kind::kStrings);
  EXPECT_EQ(n.attrs.at("ss").strings, (std::vector<std::string>{"a", "", "ccc"}));
  // Typed getters refuse the wrong kind, naming the node.
  EXPECT_ERROR_HAS(n.attr_int("f"), "node 'first' (com.example.Custom)", "'f'", "wrong type");
  EXPECT_ERROR_HAS(n.attr_ints("missing"), "node 'first'", "missing required attribute");
}

TEST(OnnxIo, ReadsTypedDataFieldsWrittenByOtherTools) {
  // Other exporters store small tensors in float_data/int32_data/... instead of raw_data.
  onnx::ModelProto mp;
  mp.set_ir_version(8);
  mp.add_opset_import()->set_version(17);
  auto* g = mp.mutable_graph();
  auto add = [&](const char* name, int type, std::vector<int64_t> dims) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    return t;
  };
  auto* f = add("f", 1, {2});
  f->add_float_data(1.5f);
  f->add_float_data(-2.f);
  auto* h = add("h", 10, {1});
  h->add_int32_data(float_to_half(3.f));
  auto* i8 = add("i8", 3, {2});
  i8->add_int32_data(-5);
  i8->add_int32_data(100);
  auto* b = add("b", 9, {2});
  b->add_int32_data(1);
  b->add_int32_data(0);
  auto* d = add("d", 11, {1});
  d->add_double_data(0.125);
  auto* l = add("l", 7, {1});
  l->add_int64_data(-9);
  auto* short_f = add("short", 1, {3});
  short_f->add_float_data(1.f);
  std::string bytes = mp.SerializeAsString();
  EXPECT_ERROR_HAS(load_onnx_from_bytes(bytes, ".", "typed.onnx"), "typed.onnx",
                   "initializer 'short'", "holds 1 values", "needs 3");
  g->mutable_initializer()->RemoveLast();
  Model m = load_onnx_from_bytes(mp.SerializeAsString(), ".", "typed.onnx");
  const auto& in = m.graph.initializers;
  EXPECT_EQ(in.at("f").to_float_vector(), (std::vector<float>{1.5f, -2.f}));
  EXPECT_EQ(in.at("h").get_as_double(0), 3.0);
  EXPECT_EQ(in.at("i8").to_int64_vector(), (std::vector<int64_t>{-5, 100}));
  EXPECT_EQ(in.at("b").to_int64_vector(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(in.at("d").get_as_double(0), 0.125);
  EXPECT_EQ(in.at("l").get_as_int64(0), -9);
}

// A model whose initializers are large enough to go to external data.
Model big_model() {
  Model m = base_model();
  m.graph.inputs.push_back(value("x", DType::kFloat32, {fixed(512)}));
  m.graph.outputs.push_back(value("y", DType::kFloat32, {fixed(512)}));
  std::vector<float> w(512), v(300);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.5f - 7.f;
  for (size_t i = 0; i < v.size(); ++i) v[i] = -static_cast<float>(i);
  m.graph.initializers["w"] = Tensor::from_vector<float>({512}, w);           // 2 KiB: external
  m.graph.initializers["v"] = Tensor::from_vector<float>({300}, v);           // 1.2 KiB: external
  m.graph.initializers["small"] = Tensor::from_vector<int64_t>({2}, {1, 2});  // inline
  m.graph.nodes.push_back(node("add", "Add", {"x", "w"}, {"y"}));
  return m;
}

TEST(OnnxIo, ExternalDataRoundTrip) {
  Model m = big_model();
  std::string dir = temp_dir();
  std::string path = dir + "/big.onnx";
  SaveOptions so;
  so.external_data_threshold_bytes = 0;
  save_onnx(m, path, so);
  ASSERT_TRUE(fs::exists(path + ".data"));
  EXPECT_LT(fs::file_size(path), 1024u);  // the weights are not inline
  EXPECT_GE(fs::file_size(path + ".data"), 2048u + 1200u);
  // Offsets are 64-byte aligned.
  onnx::ModelProto mp;
  ASSERT_TRUE(mp.ParseFromString(read_bytes(path)));
  int external = 0;
  for (const auto& t : mp.graph().initializer()) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    ++external;
    for (const auto& kv : t.external_data()) {
      if (kv.key() == "offset") {
        EXPECT_EQ(std::stoll(kv.value()) % 64, 0) << t.name();
      }
      if (kv.key() == "location") {
        EXPECT_EQ(kv.value(), "big.onnx.data");
      }
    }
  }
  EXPECT_EQ(external, 2);

  Model r = load_onnx(path);
  for (const auto& [name, t] : m.graph.initializers) {
    SCOPED_TRACE(name);
    expect_same_tensor(r.graph.initializers.at(name), t);
  }
  // Loading from another working directory still finds the data next to the model.
  std::string moved = temp_dir();
  fs::rename(path, moved + "/big.onnx");
  fs::rename(path + ".data", moved + "/big.onnx.data");
  expect_same_tensor(load_onnx(moved + "/big.onnx").graph.initializers.at("w"),
                     m.graph.initializers.at("w"));
  // The default threshold keeps small models in one file.
  std::string inline_path = dir + "/inline.onnx";
  save_onnx(m, inline_path);
  EXPECT_FALSE(fs::exists(inline_path + ".data"));
  expect_same_tensor(load_onnx(inline_path).graph.initializers.at("v"),
                     m.graph.initializers.at("v"));
}

// Saves big_model() with external data, edits the first external initializer's key/value
// entries with `edit`, and returns the load error.
std::string tampered_error(const std::function<void(onnx::TensorProto*)>& edit,
                           const std::function<void(const std::string& dir)>& touch_files = {}) {
  std::string dir = temp_dir();
  std::string path = dir + "/m.onnx";
  SaveOptions so;
  so.external_data_threshold_bytes = 0;
  save_onnx(big_model(), path, so);
  onnx::ModelProto mp;
  EXPECT_TRUE(mp.ParseFromString(read_bytes(path)));
  for (auto& t : *mp.mutable_graph()->mutable_initializer()) {
    if (t.data_location() == onnx::TensorProto::EXTERNAL && t.name() == "w") edit(&t);
  }
  write_bytes(path, mp.SerializeAsString());
  if (touch_files) touch_files(dir);
  return error_of([&] { load_onnx(path); });
}

void set_kv(onnx::TensorProto* t, const std::string& key, const std::string& value) {
  for (auto& kv : *t->mutable_external_data()) {
    if (kv.key() == key) kv.set_value(value);
  }
}

TEST(OnnxIo, TamperedExternalDataIsRefused) {
  auto has = [](const std::string& msg, const char* needle) {
    return msg.find(needle) != std::string::npos;
  };
  std::string e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "offset", "1000000"); });
  EXPECT_TRUE(has(e, "initializer 'w'") && has(e, "outside")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "offset", "9223372036854775807"); });
  EXPECT_TRUE(has(e, "initializer 'w'")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "length", "4"); });
  EXPECT_TRUE(has(e, "initializer 'w'") && has(e, "length 4") && has(e, "needs 2048")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "offset", "12abc"); });
  EXPECT_TRUE(has(e, "initializer 'w'") && has(e, "not a non-negative integer")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "offset", "-64"); });
  EXPECT_TRUE(has(e, "not a non-negative integer")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "location", "../m.onnx.data"); });
  EXPECT_TRUE(has(e, "must be a relative path inside the model's folder")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "location", "sub/../../etc/passwd"); });
  EXPECT_TRUE(has(e, "must be a relative path inside the model's folder")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "location", "/etc/passwd"); });
  EXPECT_TRUE(has(e, "must be a relative path inside the model's folder")) << e;
  e = tampered_error([](onnx::TensorProto* t) { set_kv(t, "location", "other.data"); });
  EXPECT_TRUE(has(e, "other.data") && has(e, "not found")) << e;
  e = tampered_error([](onnx::TensorProto* t) { t->clear_external_data(); });
  EXPECT_TRUE(has(e, "without a location")) << e;
  // The data file cut short: the last tensor's range no longer fits.
  e = tampered_error([](onnx::TensorProto*) {},
                     [](const std::string& dir) { fs::resize_file(dir + "/m.onnx.data", 100); });
  EXPECT_TRUE(has(e, "outside") && has(e, "(100 bytes)")) << e;
  e = tampered_error([](onnx::TensorProto*) {},
                     [](const std::string& dir) { fs::remove(dir + "/m.onnx.data"); });
  EXPECT_TRUE(has(e, "not found")) << e;
}

TEST(OnnxIo, EveryTruncationIsAnErrorOrTheWholeGraph) {
  Model m = rich_model();
  m.graph.initializers["big"] = Tensor::zeros(DType::kFloat32, {64});
  std::string path = temp_dir() + "/cut.onnx";
  save_onnx(m, path);
  const std::string bytes = read_bytes(path);
  ASSERT_GT(bytes.size(), 500u);
  int errors = 0, loaded = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    try {
      Model r = load_onnx_from_bytes(bytes.substr(0, cut), ".", "cut.onnx");
      // A cut on a field boundary after the graph: the graph itself must be complete.
      ++loaded;
      EXPECT_EQ(r.graph.nodes.size(), m.graph.nodes.size()) << "cut at " << cut;
      EXPECT_EQ(r.graph.initializers.size(), m.graph.initializers.size()) << "cut at " << cut;
      EXPECT_NO_THROW(topological_order(r.graph));
    } catch (const Error& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
      EXPECT_EQ(std::string(e.what()).rfind("cut.onnx: ", 0), 0u) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cut at " << cut << ": non-sq exception: " << e.what();
    }
  }
  EXPECT_GT(errors, static_cast<int>(bytes.size()) * 9 / 10);
  EXPECT_EQ(errors + loaded, static_cast<int>(bytes.size()));
}

TEST(OnnxIo, BadFilesAreOneLineErrors) {
  std::string dir = temp_dir();
  EXPECT_ERROR_HAS(load_onnx(dir + "/missing.onnx"), "missing.onnx", "no such file");
  EXPECT_ERROR_HAS(load_onnx(dir), dir.c_str(), "is a directory");
  EXPECT_ERROR_HAS(load_onnx("/dev/zero"), "/dev/zero", "not a regular file");
  write_bytes(dir + "/empty.onnx", "");
  EXPECT_ERROR_HAS(load_onnx(dir + "/empty.onnx"), "empty.onnx", "file is empty");
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(1 + rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    try {
      load_onnx_from_bytes(junk, dir, "junk.onnx");
      ADD_FAILURE() << "random bytes loaded as a model (trial " << trial << ")";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "trial " << trial << ": non-sq exception: " << e.what();
    }
  }
  write_bytes(dir + "/text.onnx", "this is not a model\n");
  EXPECT_ERROR_HAS(load_onnx(dir + "/text.onnx"), "text.onnx", "not a valid ONNX model");
}

TEST(OnnxIo, UnsupportedOpsetsAreRefused) {
  std::string dir = temp_dir();
  for (int64_t opset : {7, 12, 19, 21}) {
    Model m = base_model(opset);
    m.graph.inputs.push_back(value("x", DType::kFloat32, {fixed(1)}));
    m.graph.outputs.push_back(value("x", DType::kFloat32, {fixed(1)}));
    std::string path = dir + "/o" + std::to_string(opset) + ".onnx";
    save_onnx(m, path);
    std::string want = "unsupported opset " + std::to_string(opset);
    EXPECT_ERROR_HAS(load_onnx(path), want.c_str(), "supported: 13 to 18");
  }
  Model none;  // no default-domain opset import at all
  none.graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  none.graph.initializers["y"] = Tensor::scalar_f32(1);
  save_onnx(none, dir + "/none.onnx");
  EXPECT_ERROR_HAS(load_onnx(dir + "/none.onnx"), "unsupported opset 0");
  for (int64_t opset : {13, 18}) {
    Model ok = base_model(opset);
    ok.graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
    ok.graph.initializers["y"] = Tensor::scalar_f32(1);
    save_onnx(ok, dir + "/ok.onnx");
    EXPECT_EQ(load_onnx(dir + "/ok.onnx").opset(), opset);
  }
}

// x [batch, 8] -> MatMul -> Add -> Reshape -> Transpose -> Softmax -> Mul(Constant) -> ReduceSum.
Model mlp_model() {
  Model m = base_model();
  m.graph.inputs.push_back(value("x", DType::kFloat32, {sym("batch"), fixed(8)}));
  m.graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  std::vector<float> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) * 0.1f - 0.3f;
  m.graph.initializers["w"] = Tensor::from_vector<float>({8, 8}, w);
  m.graph.initializers["b"] = Tensor::from_vector<float>({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  m.graph.initializers["shp"] = Tensor::from_vector<int64_t>({3}, {0, 2, 4});
  m.graph.nodes.push_back(node("mm", "MatMul", {"x", "w"}, {"xw"}));
  m.graph.nodes.push_back(node("add", "Add", {"xw", "b"}, {"h"}));
  m.graph.nodes.push_back(node("rs", "Reshape", {"h", "shp"}, {"r"}));
  Node tr = node("tr", "Transpose", {"r"}, {"t"});
  tr.attrs["perm"] = Attribute::of_ints({0, 2, 1});
  m.graph.nodes.push_back(tr);
  Node sm = node("sm", "Softmax", {"t"}, {"s"});
  sm.attrs["axis"] = Attribute::of_int(-1);
  m.graph.nodes.push_back(sm);
  Node cst = node("cst", "Constant", {}, {"c"});
  cst.attrs["value"] = Attribute::of_tensor(Tensor::from_vector<float>({1}, {1.5f}));
  m.graph.nodes.push_back(cst);
  m.graph.nodes.push_back(node("mul", "Mul", {"s", "c"}, {"m"}));
  Node rsum = node("rsum", "ReduceSum", {"m"}, {"y"});
  rsum.attrs["keepdims"] = Attribute::of_int(0);
  m.graph.nodes.push_back(rsum);
  return m;
}

TEST(OnnxIo, MutatedModelsNeverCrash) {
  // Random byte edits of a real model: each load gives a model or an sq::Error; a model that
  // loads either runs or fails with an sq::Error. Anything else (a crash, another exception
  // type) is a bug.
  std::string path = temp_dir() + "/mlp.onnx";
  save_onnx(mlp_model(), path);
  const std::string base = read_bytes(path);
  std::mt19937 rng(2024);
  int loaded = 0, ran = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string b = base;
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      size_t pos = rng() % b.size();
      if (rng() % 3 == 0) {
        b.erase(pos, 1 + rng() % 4);
      } else {
        b[pos] = static_cast<char>(b[pos] ^ (1 << (rng() % 8)));
      }
    }
    try {
      Model m = load_onnx_from_bytes(b, ".", "mutant.onnx");
      ++loaded;
      ReferenceEngine engine(std::make_shared<const Model>(m));
      ThreadPool pool(1);
      TensorMap feeds;
      for (const auto& vi : m.graph.inputs) {
        feeds[vi.name] = Tensor::zeros(vi.dtype, {2, 8});
      }
      engine.run(feeds, pool);
      ++ran;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "trial " << trial << ": non-sq exception: " << e.what();
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(ran, 0);
}

// A valid one-Identity model as a proto, for tests that break one piece of it.
onnx::ModelProto identity_proto() {
  onnx::ModelProto mp;
  mp.set_ir_version(8);
  mp.add_opset_import()->set_version(17);
  auto* g = mp.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  g->add_output()->set_name("y");
  auto* n = g->add_node();
  n->set_name("id");
  n->set_op_type("Identity");
  n->add_input("x");
  n->add_output("y");
  return mp;
}

TEST(OnnxIo, StructureErrorsInAParsedProtobufAreOneLine) {
  auto load = [](const onnx::ModelProto& mp) {
    return load_onnx_from_bytes(mp.SerializeAsString(), ".", "s.onnx");
  };
  EXPECT_NO_THROW(load(identity_proto()));
  {
    onnx::ModelProto mp = identity_proto();
    mp.clear_graph();
    EXPECT_ERROR_HAS(load(mp), "s.onnx", "no graph");
  }
  {
    onnx::ModelProto mp = identity_proto();
    auto* t = mp.mutable_graph()->add_initializer();
    t->set_name("s");
    t->set_data_type(8);  // STRING
    EXPECT_ERROR_HAS(load(mp), "s.onnx", "initializer 's'", "unsupported ONNX element type 8");
    t->set_data_type(16);  // BFLOAT16
    EXPECT_ERROR_HAS(load(mp), "initializer 's'", "unsupported ONNX element type 16");
  }
  {
    onnx::ModelProto mp = identity_proto();
    mp.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(14);
    EXPECT_ERROR_HAS(load(mp), "value 'x'", "unsupported ONNX element type 14");
  }
  {
    onnx::ModelProto mp = identity_proto();
    mp.mutable_graph()->mutable_input(0)->clear_type();
    EXPECT_ERROR_HAS(load(mp), "graph input 'x' has no tensor type");
  }
  {
    onnx::ModelProto mp = identity_proto();
    mp.mutable_graph()->mutable_node(0)->clear_op_type();
    EXPECT_ERROR_HAS(load(mp), "node 'id'", "no op_type");
  }
  {
    onnx::ModelProto mp = identity_proto();
    mp.mutable_graph()->add_initializer()->set_data_type(1);
    EXPECT_ERROR_HAS(load(mp), "an initializer has no name");
  }
  {
    onnx::ModelProto mp = identity_proto();
    auto* t = mp.mutable_graph()->add_initializer();
    t->set_name("huge");
    t->set_data_type(1);
    t->add_dims(int64_t{1} << 40);
    t->add_dims(int64_t{1} << 40);
    EXPECT_ERROR_HAS(load(mp), "initializer 'huge'", "overflows");
    t->clear_dims();
    t->add_dims(-3);
    EXPECT_ERROR_HAS(load(mp), "initializer 'huge'", "negative dimension");
    t->clear_dims();
    t->add_dims(1 << 28);  // 1 GiB claimed, no data: refused without allocating
    EXPECT_ERROR_HAS(load(mp), "initializer 'huge'", "holds 0 values");
  }
  {
    onnx::ModelProto mp = identity_proto();
    auto* a = mp.mutable_graph()->mutable_node(0)->add_attribute();
    a->set_name("body");
    a->set_type(onnx::AttributeProto::GRAPH);
    EXPECT_ERROR_HAS(load(mp), "node 'id' (Identity)", "attribute 'body'", "unsupported type");
  }
  {
    onnx::ModelProto mp = identity_proto();
    mp.mutable_graph()->mutable_node(0)->set_input(0, "line\nbreak");
    EXPECT_ERROR_HAS(load(mp), "node 'id'", "line break", "dangling");
  }
  {
    onnx::ModelProto mp = identity_proto();
    auto* n = mp.mutable_graph()->add_node();
    n->set_op_type("Identity");
    n->add_input("x");
    n->add_output("y");
    EXPECT_ERROR_HAS(load(mp), "output 'y' is produced more than once");
  }
  {
    onnx::ModelProto mp = identity_proto();
    mp.mutable_graph()->mutable_output(0)->set_name("nowhere");
    EXPECT_ERROR_HAS(load(mp), "graph output 'nowhere' is not produced");
  }
}

TEST(OnnxIo, CycleAndDanglingInputAreNamed) {
  std::string dir = temp_dir();
  Model cyc = base_model();
  cyc.graph.inputs.push_back(value("x", DType::kFloat32, {fixed(2)}));
  cyc.graph.outputs.push_back(value("c", DType::kFloat32, {}, false));
  cyc.graph.nodes.push_back(node("n1", "Add", {"x", "c"}, {"b"}));
  cyc.graph.nodes.push_back(node("n2", "Relu", {"b"}, {"c"}));
  save_onnx(cyc, dir + "/cycle.onnx");
  EXPECT_ERROR_HAS(load_onnx(dir + "/cycle.onnx"), "cycle.onnx", "cycle", "node 'n");
  EXPECT_ERROR_HAS(ReferenceEngine(std::make_shared<const Model>(cyc)), "cycle");

  Model dang = base_model();
  dang.graph.inputs.push_back(value("x", DType::kFloat32, {fixed(2)}));
  dang.graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  dang.graph.nodes.push_back(node("adder", "Add", {"x", "ghost"}, {"y"}));
  save_onnx(dang, dir + "/dangling.onnx");
  EXPECT_ERROR_HAS(load_onnx(dir + "/dangling.onnx"), "node 'adder' (Add)", "input 'ghost'",
                   "dangling");
  EXPECT_ERROR_HAS(ReferenceEngine(std::make_shared<const Model>(dang)), "'ghost'", "dangling");

  // Nodes listed out of order load in execution order.
  Model shuffled = base_model();
  shuffled.graph.inputs.push_back(value("x", DType::kFloat32, {fixed(2)}));
  shuffled.graph.outputs.push_back(value("c", DType::kFloat32, {}, false));
  shuffled.graph.nodes.push_back(node("second", "Relu", {"b"}, {"c"}));
  shuffled.graph.nodes.push_back(node("first", "Relu", {"x"}, {"b"}));
  save_onnx(shuffled, dir + "/shuffled.onnx");
  Model sorted = load_onnx(dir + "/shuffled.onnx");
  ASSERT_EQ(sorted.graph.nodes.size(), 2u);
  EXPECT_EQ(sorted.graph.nodes[0].name, "first");
  EXPECT_EQ(sorted.graph.nodes[1].name, "second");
}

TEST(OnnxIo, UnsupportedOpIsNamedByTheEngine) {
  Model m = base_model();
  m.opset_imports["com.example"] = 1;
  m.graph.inputs.push_back(value("x", DType::kFloat32, {fixed(2)}));
  m.graph.outputs.push_back(value("y", DType::kFloat32, {}, false));
  m.graph.nodes.push_back(node("foo_node", "FooBar", {"x"}, {"y"}, "com.example"));
  std::string path = temp_dir() + "/foo.onnx";
  save_onnx(m, path);
  Model loaded = load_onnx(path);  // loading is fine: the structure is valid
  ASSERT_EQ(loaded.graph.nodes.size(), 1u);
  EXPECT_EQ(loaded.graph.nodes[0].domain, "com.example");
  EXPECT_ERROR_HAS(ReferenceEngine(std::make_shared<const Model>(loaded)), "unsupported op",
                   "node 'foo_node' (com.example.FooBar)");
  // A fake op in the default domain is refused too.
  m.graph.nodes[0].domain = "";
  EXPECT_ERROR_HAS(ReferenceEngine(std::make_shared<const Model>(m)), "node 'foo_node' (FooBar)");
}

TEST(OnnxIo, ShapeInferenceFillsValueInfo) {
  Model m = base_model();
  m.graph.inputs.push_back(value("x", DType::kFloat32, {sym("batch"), fixed(3)}));
  m.graph.outputs.push_back(value("y", DType::kFloat32, {}, false));  // no shape declared
  m.graph.initializers["w"] = Tensor::zeros(DType::kFloat32, {3, 4});
  m.graph.initializers["b"] = Tensor::zeros(DType::kFloat32, {4});
  m.graph.nodes.push_back(node("mm", "MatMul", {"x", "w"}, {"xw"}));
  m.graph.nodes.push_back(node("add", "Add", {"xw", "b"}, {"y"}));
  std::string path = temp_dir() + "/mm.onnx";
  save_onnx(m, path);

  Model r = load_onnx(path);
  const ValueInfo* xw = r.graph.find_value_info("xw");
  ASSERT_NE(xw, nullptr);
  EXPECT_TRUE(xw->has_type);
  EXPECT_EQ(xw->dtype, DType::kFloat32);
  ASSERT_TRUE(xw->has_shape);
  ASSERT_EQ(xw->dims.size(), 2u);
  EXPECT_EQ(xw->dims[0].param, "batch");
  EXPECT_EQ(xw->dims[1].value, 4);
  const ValueInfo* y = r.graph.find_value_info("y");
  ASSERT_NE(y, nullptr);
  ASSERT_TRUE(y->has_shape);
  ASSERT_EQ(y->dims.size(), 2u);
  EXPECT_EQ(y->dims[0].param, "batch");
  EXPECT_EQ(y->dims[1].value, 4);

  LoadOptions off;
  off.infer_shapes = false;
  Model raw = load_onnx(path, off);
  EXPECT_EQ(raw.graph.find_value_info("xw"), nullptr);
  EXPECT_FALSE(raw.graph.find_value_info("y")->has_shape);
}

TEST(OnnxIo, SaveFailuresLeaveNothingBehind) {
  Model m = big_model();
  SaveOptions so;
  so.external_data_threshold_bytes = 0;
  EXPECT_ERROR_HAS(save_onnx(m, "/proc/sq_nope.onnx", so), "/proc/sq_nope.onnx", "cannot write");
  EXPECT_FALSE(fs::exists("/proc/sq_nope.onnx.data"));
  std::string dir = temp_dir();
  EXPECT_ERROR_HAS(save_onnx(m, dir, so), "is a directory");
  EXPECT_ERROR_HAS(save_onnx(m, dir + "/no/such/dir/m.onnx", so), "does not exist");
  Model empty_init = base_model();
  empty_init.graph.initializers["hollow"] = Tensor();
  EXPECT_ERROR_HAS(save_onnx(empty_init, dir + "/h.onnx"), "initializer 'hollow'", "no data");
  EXPECT_TRUE(fs::is_empty(dir));
}

// A full disk while saving a model with external data: the .data file is complete and renamed
// first, then the model's write fails. Neither may be left behind. The save runs in a child with
// RLIMIT_FSIZE just above the data file's size (SIGXFSZ ignored: writes fail with EFBIG).
TEST(OnnxIo, FullDiskWhileSavingTheModelLeavesNoDataFileBehind) {
  Model m = base_model();
  m.graph.initializers["large"] = Tensor::zeros(DType::kFloat32, {300});  // 1200 B: external
  for (int i = 0; i < 8; ++i) {  // 8 x 1000 B inline: the model file is over 8 KB
    m.graph.initializers["small" + std::to_string(i)] = Tensor::zeros(DType::kFloat32, {250});
  }
  SaveOptions so;
  so.external_data_threshold_bytes = 0;
  const std::string dir = temp_dir();
  const std::string path = dir + "/m.onnx";
  auto save_on_full_disk = [&] {
    const struct rlimit rl = {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &rl);
    ::signal(SIGXFSZ, SIG_IGN);
    try {
      save_onnx(m, path, so);
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      std::_Exit(3);
    }
    std::_Exit(0);
  };
  EXPECT_EXIT(save_on_full_disk(), ::testing::ExitedWithCode(3), "m.onnx: write failed \\(File too large\\)");
  EXPECT_TRUE(fs::is_empty(dir)) << "left " << fs::directory_iterator(dir)->path();
  // Without the limit the same save writes both files.
  save_onnx(m, path, so);
  EXPECT_TRUE(fs::exists(path + ".data"));
  EXPECT_EQ(load_onnx(path).graph.initializers.size(), 9u);
}

}  // namespace
}  // namespace sq::test
