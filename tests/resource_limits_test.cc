// Resource limits: a model whose declared or computed tensor sizes need more memory than this
// machine has is refused with an sq::Error naming the initializer, input or node, before anything
// is allocated (no std::bad_alloc, no OOM killer). Every size here is twice physical memory
// (runtime/core/memory_limit.h), so nothing in these tests can actually be allocated.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>

#include "runtime/core/memory_limit.h"
#include "runtime/engine/reference_engine.h"
#include "runtime/graph/onnx_io.h"
#include "runtime/graph/sqm_format.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

// Elements of a float32 tensor twice the size of physical memory, as {rows, 1024}.
int64_t rows_for_twice_memory(size_t elem_bytes) {
  return static_cast<int64_t>(2 * physical_memory_bytes() / elem_bytes / 1024) + 1;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an sq::Error: ") + e.what();
  }
  return "no error";
}

ValueInfo value(const std::string& name) {
  ValueInfo vi;
  vi.name = name;
  return vi;
}

// Runs a graph of one node with the given initializers as its inputs, output "y".
std::string run_one_node(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& inits) {
  auto m = std::make_shared<Model>();
  m->opset_imports[""] = 17;
  Node n;
  n.name = "big";
  n.op_type = op;
  for (const auto& [name, t] : inits) {
    n.inputs.push_back(name);
    m->graph.initializers[name] = t;
  }
  n.outputs = {"y"};
  m->graph.nodes.push_back(n);
  m->graph.outputs.push_back(value("y"));
  return error_of([&] {
    ReferenceEngine engine(m);
    ThreadPool pool(1);
    engine.run({}, pool);
  });
}

TEST(MemoryLimit, IsThisMachinesPhysicalMemory) {
  // Sanity: between 64 MiB and 1 TiB on anything that runs these tests.
  EXPECT_GT(physical_memory_bytes(), uint64_t{64} << 20);
  EXPECT_LE(max_tensor_bytes(), physical_memory_bytes());
  EXPECT_LE(max_tensor_bytes(), uint64_t{1} << 40);
  EXPECT_EQ(shape_nbytes(DType::kFloat32, {1024, 1024}), size_t{4} << 20);
  const std::string e = error_of([] { shape_nbytes(DType::kFloat32, {rows_for_twice_memory(4), 1024}, "t"); });
  EXPECT_NE(e.find("t: shape ["), std::string::npos) << e;
  EXPECT_NE(e.find("bytes of physical memory"), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(physical_memory_bytes())), std::string::npos) << e;
}

TEST(MemoryLimit, RunTimeAllocationsBiggerThanMemoryNameTheNode) {
  const int64_t rows = rows_for_twice_memory(4);
  const Tensor shape = Tensor::from_vector<int64_t>({2}, {rows, 1024});
  const Tensor one = Tensor::from_vector<float>({1, 1}, {1.f});
  for (const auto& [op, inits] : std::vector<std::pair<std::string, std::vector<std::pair<std::string, Tensor>>>>{
           {"ConstantOfShape", {{"shape", shape}}},
           {"Expand", {{"x", one}, {"shape", shape}}},
           {"Tile", {{"x", one}, {"repeats", shape}}},
           {"Range",
            {{"start", Tensor::scalar_i64(0)},
             {"limit", Tensor::scalar_i64(rows * 1024 / 2)},  // int64: 8 bytes each
             {"delta", Tensor::scalar_i64(1)}}},
       }) {
    SCOPED_TRACE(op);
    const std::string e = run_one_node(op, inits);
    EXPECT_EQ(e.rfind("node 'big' (" + op + "): ", 0), 0u) << e;
    EXPECT_NE(e.find("physical memory"), std::string::npos) << e;
  }
  // Below the limit the same ops run.
  EXPECT_EQ(run_one_node("ConstantOfShape", {{"shape", Tensor::from_vector<int64_t>({2}, {3, 4})}}), "no error");
}

TEST(MemoryLimit, GraphInputDimsBiggerThanMemoryAreRefusedBeforeAllocating) {
  // `softquant bench` generates inputs from declared dims: the input is named, nothing allocated.
  const std::string dir = temp_dir();
  Model m;
  m.opset_imports[""] = 17;
  ValueInfo x = value("x");
  x.dtype = DType::kFloat32;
  x.has_type = x.has_shape = true;
  x.dims = {Dim{rows_for_twice_memory(4), ""}, Dim{1024, ""}};
  m.graph.inputs.push_back(x);
  Node n;
  n.name = "id";
  n.op_type = "Identity";
  n.inputs = {"x"};
  n.outputs = {"y"};
  m.graph.nodes.push_back(n);
  m.graph.outputs.push_back(value("y"));
  save_onnx(m, dir + "/m.onnx");
  CliResult r = run_cli("bench " + dir + "/m.onnx --repeat 1");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("input 'x': shape ["), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("physical memory"), std::string::npos) << r.err;
}

onnx::ModelProto identity_with_initializer(int64_t rows) {
  onnx::ModelProto mp;
  mp.set_ir_version(8);
  mp.add_opset_import()->set_version(17);
  auto* g = mp.mutable_graph();
  g->set_name("g");
  auto* node = g->add_node();
  node->set_name("id");
  node->set_op_type("Identity");
  node->add_input("w");
  node->add_output("y");
  g->add_output()->set_name("y");
  auto* t = g->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(rows);
  t->add_dims(1024);
  t->set_raw_data(std::string(16, '\0'));
  return mp;
}

TEST(MemoryLimit, InitializersBiggerThanMemoryOrTheirDataAreRefusedAtLoad) {
  auto load = [](const onnx::ModelProto& mp) {
    return error_of([&] { load_onnx_from_bytes(mp.SerializeAsString(), "/nonexistent", "m.onnx"); });
  };
  // Declared dims that need more than physical memory.
  std::string e = load(identity_with_initializer(rows_for_twice_memory(4)));
  EXPECT_NE(e.find("initializer 'w'"), std::string::npos) << e;
  EXPECT_NE(e.find("physical memory"), std::string::npos) << e;
  // Declared dims that fit in memory but need more than the 16 bytes of data present.
  e = load(identity_with_initializer(256));
  EXPECT_NE(e.find("initializer 'w': holds 16 bytes"), std::string::npos) << e;
  EXPECT_NE(e.find("needs 1048576"), std::string::npos) << e;
}

TEST(MemoryLimit, SqmTensorDimsBiggerThanMemoryAreRefusedAtLoad) {
  // A .sqm whose one tensor, [3, 1024] float32, is re-declared (checksum fixed) as twice memory.
  Model m;
  m.opset_imports[""] = 17;
  m.graph.initializers["w"] = Tensor::zeros(DType::kFloat32, {3, 1024});
  Node n;
  n.name = "id";
  n.op_type = "Identity";
  n.inputs = {"w"};
  n.outputs = {"y"};
  m.graph.nodes.push_back(n);
  m.graph.outputs.push_back(value("y"));
  const std::string path = temp_dir() + "/m.sqm";
  save_sqm(m, path);
  std::string bytes = read_bytes(path);
  const int64_t dims[2] = {3, 1024};
  const std::string pattern(reinterpret_cast<const char*>(dims), sizeof dims);
  const size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(bytes.find(pattern, at + 1), std::string::npos);
  const int64_t huge[2] = {rows_for_twice_memory(4), 1024};
  std::memcpy(bytes.data() + at, huge, sizeof huge);
  auto* data = reinterpret_cast<uint8_t*>(bytes.data());
  const uint64_t sum = sqm_checksum(data, bytes.size());
  std::memcpy(data + 24, &sum, 8);
  const std::string e = error_of([&] { load_sqm_from_memory(nullptr, data, bytes.size(), "m.sqm"); });
  EXPECT_EQ(e.rfind("m.sqm: ", 0), 0u) << e;
  EXPECT_NE(e.find("physical memory"), std::string::npos) << e;
}

}  // namespace
}  // namespace sq::test
