#include "runtime/graph/onnx_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "runtime/io/atomic_file.h"

namespace sq {
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::error_code ec;
  SQ_CHECK(fs::exists(path, ec), path, ": no such file");
  SQ_CHECK(!fs::is_directory(path, ec), path, ": is a directory, expected an ONNX file");
  std::ifstream in(path, std::ios::binary);
  SQ_CHECK(in.good(), path, ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  SQ_CHECK(!in.bad(), path, ": read error");
  return ss.str();
}

// Reads [offset, offset+length) of an external-data file, refusing paths that leave base_dir.
std::string read_external(const std::string& base_dir, const std::string& location, int64_t offset,
                          int64_t length, const std::string& tensor) {
  fs::path rel(location);
  SQ_CHECK(!rel.is_absolute() && location.find("..") == std::string::npos, "initializer '",
           tensor, "': external data location '", location, "' must be a relative path inside the model's folder");
  fs::path p = fs::path(base_dir) / rel;
  std::error_code ec;
  SQ_CHECK(fs::is_regular_file(p, ec), "initializer '", tensor, "': external data file ",
           p.string(), " not found");
  int64_t size = static_cast<int64_t>(fs::file_size(p, ec));
  if (length < 0) length = size - offset;
  SQ_CHECK(offset >= 0 && length >= 0 && offset + length <= size, "initializer '", tensor,
           "': external data range [", offset, ", ", offset + length, ") is outside ", p.string(),
           " (", size, " bytes)");
  std::ifstream in(p, std::ios::binary);
  std::string buf(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(buf.data(), length);
  SQ_CHECK(in.good() || length == 0, "initializer '", tensor, "': cannot read ", p.string());
  return buf;
}

Tensor tensor_from_proto(const onnx::TensorProto& tp, const std::string& base_dir) {
  const std::string what = "initializer '" + tp.name() + "'";
  DType dtype = dtype_from_onnx(tp.data_type(), what);
  Shape shape(tp.dims().begin(), tp.dims().end());
  for (int64_t d : shape) SQ_CHECK(d >= 0, what, ": negative dimension in ", shape_str(shape));
  Tensor t(dtype, shape);
  const size_t nbytes = t.nbytes();
  const int64_t n = t.numel();

  std::string external;
  const std::string* raw = nullptr;
  if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : tp.external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    }
    SQ_CHECK(!location.empty(), what, ": external data without a location");
    external = read_external(base_dir, location, offset, length, tp.name());
    raw = &external;
  } else if (tp.has_raw_data()) {
    raw = &tp.raw_data();
  }
  if (raw) {
    SQ_CHECK(raw->size() == nbytes, what, ": holds ", raw->size(), " bytes, shape ",
             shape_str(shape), " of ", dtype_name(dtype), " needs ", nbytes);
    if (nbytes) std::memcpy(t.raw(), raw->data(), nbytes);
    return t;
  }
  auto expect = [&](int64_t have) {
    SQ_CHECK(have == n, what, ": holds ", have, " values, shape ", shape_str(shape), " needs ", n);
  };
  switch (dtype) {
    case DType::kFloat32:
      expect(tp.float_data_size());
      std::copy(tp.float_data().begin(), tp.float_data().end(), t.data<float>());
      break;
    case DType::kFloat64:
      expect(tp.double_data_size());
      std::copy(tp.double_data().begin(), tp.double_data().end(), t.data<double>());
      break;
    case DType::kInt64:
      expect(tp.int64_data_size());
      std::copy(tp.int64_data().begin(), tp.int64_data().end(), t.data<int64_t>());
      break;
    case DType::kInt32:
      expect(tp.int32_data_size());
      std::copy(tp.int32_data().begin(), tp.int32_data().end(), t.data<int32_t>());
      break;
    case DType::kInt8:
      expect(tp.int32_data_size());
      for (int64_t i = 0; i < n; ++i) t.data<int8_t>()[i] = static_cast<int8_t>(tp.int32_data(i));
      break;
    case DType::kUInt8:
      expect(tp.int32_data_size());
      for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(tp.int32_data(i));
      break;
    case DType::kBool:
      expect(tp.int32_data_size());
      for (int64_t i = 0; i < n; ++i) t.data<bool>()[i] = tp.int32_data(i) != 0;
      break;
    case DType::kFloat16:
      expect(tp.int32_data_size());
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = static_cast<uint16_t>(tp.int32_data(i));
      break;
  }
  return t;
}

void tensor_to_proto(const std::string& name, const Tensor& t, onnx::TensorProto* tp) {
  tp->set_name(name);
  tp->set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape()) tp->add_dims(d);
  tp->set_raw_data(t.raw(), t.nbytes());
}

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& vp) {
  ValueInfo vi;
  vi.name = vp.name();
  if (vp.has_type() && vp.type().has_tensor_type()) {
    const auto& tt = vp.type().tensor_type();
    if (tt.elem_type() != 0) {
      vi.dtype = dtype_from_onnx(tt.elem_type(), "value '" + vp.name() + "'");
      vi.has_type = true;
    }
    if (tt.has_shape()) {
      vi.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        else if (d.has_dim_param()) dim.param = d.dim_param();
        vi.dims.push_back(dim);
      }
    }
  }
  return vi;
}

void value_info_to_proto(const ValueInfo& vi, onnx::ValueInfoProto* vp) {
  vp->set_name(vi.name);
  if (!vi.has_type) return;
  auto* tt = vp->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_to_onnx(vi.dtype));
  if (!vi.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const auto& d : vi.dims) {
    auto* dp = shape->add_dim();
    if (d.known()) dp->set_dim_value(d.value);
    else if (!d.param.empty()) dp->set_dim_param(d.param);
  }
}

Attribute attribute_from_proto(const onnx::AttributeProto& ap, const Node& node,
                               const std::string& base_dir) {
  Attribute a;
  using AP = onnx::AttributeProto;
  switch (ap.type()) {
    case AP::FLOAT: a.kind = Attribute::Kind::kFloat; a.f = ap.f(); break;
    case AP::INT: a.kind = Attribute::Kind::kInt; a.i = ap.i(); break;
    case AP::STRING: a.kind = Attribute::Kind::kString; a.s = ap.s(); break;
    case AP::TENSOR:
      a.kind = Attribute::Kind::kTensor;
      a.t = tensor_from_proto(ap.t(), base_dir);
      break;
    case AP::FLOATS:
      a.kind = Attribute::Kind::kFloats;
      a.floats.assign(ap.floats().begin(), ap.floats().end());
      break;
    case AP::INTS:
      a.kind = Attribute::Kind::kInts;
      a.ints.assign(ap.ints().begin(), ap.ints().end());
      break;
    case AP::STRINGS:
      a.kind = Attribute::Kind::kStrings;
      a.strings.assign(ap.strings().begin(), ap.strings().end());
      break;
    default:
      throw make_error(node.describe(), ": attribute '", ap.name(),
                       "' has an unsupported type (subgraphs and sparse tensors are not supported)");
  }
  return a;
}

void attribute_to_proto(const std::string& key, const Attribute& a, onnx::AttributeProto* ap) {
  using AP = onnx::AttributeProto;
  ap->set_name(key);
  switch (a.kind) {
    case Attribute::Kind::kFloat: ap->set_type(AP::FLOAT); ap->set_f(a.f); break;
    case Attribute::Kind::kInt: ap->set_type(AP::INT); ap->set_i(a.i); break;
    case Attribute::Kind::kString: ap->set_type(AP::STRING); ap->set_s(a.s); break;
    case Attribute::Kind::kTensor:
      ap->set_type(AP::TENSOR);
      tensor_to_proto("", a.t, ap->mutable_t());
      break;
    case Attribute::Kind::kFloats:
      ap->set_type(AP::FLOATS);
      for (float f : a.floats) ap->add_floats(f);
      break;
    case Attribute::Kind::kInts:
      ap->set_type(AP::INTS);
      for (int64_t i : a.ints) ap->add_ints(i);
      break;
    case Attribute::Kind::kStrings:
      ap->set_type(AP::STRINGS);
      for (const auto& s : a.strings) ap->add_strings(s);
      break;
  }
}

}  // namespace

Model load_onnx(const std::string& path, const LoadOptions& options) {
  std::string bytes = read_file(path);
  std::string dir = fs::path(path).parent_path().string();
  return load_onnx_from_bytes(bytes, dir.empty() ? "." : dir, path, options);
}

Model load_onnx_from_bytes(const std::string& bytes, const std::string& base_dir,
                           const std::string& what, const LoadOptions& options) {
  SQ_CHECK(!bytes.empty(), what, ": file is empty, expected an ONNX model");
  onnx::ModelProto mp;
  {
    google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(INT_MAX);
    SQ_CHECK(mp.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage(), what,
             ": not a valid ONNX model (malformed or truncated protobuf)");
  }
  SQ_CHECK(mp.has_graph(), what, ": not a valid ONNX model (no graph)");

  Model model;
  model.ir_version = mp.ir_version();
  model.producer_name = mp.producer_name();
  model.producer_version = mp.producer_version();
  for (const auto& op : mp.opset_import()) {
    std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
    model.opset_imports[domain] = op.version();
  }
  for (const auto& kv : mp.metadata_props()) model.metadata[kv.key()] = kv.value();
  int64_t opset = model.opset();
  SQ_CHECK(opset >= kMinOpset && opset <= kMaxOpset, what, ": unsupported opset ", opset,
           " (supported: ", kMinOpset, " to ", kMaxOpset, ")");

  if (options.infer_shapes) {
    try {
      onnx::shape_inference::InferShapes(mp);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      std::replace(msg.begin(), msg.end(), '\n', ' ');
      std::cerr << "softquant: warning: " << what << ": ONNX shape inference failed (" << msg
                << "); continuing without inferred shapes\n";
    }
  }

  const auto& gp = mp.graph();
  Graph& g = model.graph;
  g.name = gp.name();
  for (const auto& tp : gp.initializer()) {
    SQ_CHECK(!tp.name().empty(), what, ": an initializer has no name");
    g.initializers[tp.name()] = tensor_from_proto(tp, base_dir);
  }
  for (const auto& vp : gp.input()) {
    if (g.initializers.count(vp.name())) continue;  // old-style: initializers listed as inputs
    g.inputs.push_back(value_info_from_proto(vp));
    SQ_CHECK(g.inputs.back().has_type, what, ": graph input '", vp.name(), "' has no tensor type");
  }
  for (const auto& vp : gp.output()) g.outputs.push_back(value_info_from_proto(vp));
  for (const auto& vp : gp.value_info()) {
    if (vp.type().has_tensor_type()) {
      try {
        g.value_info.push_back(value_info_from_proto(vp));
      } catch (const Error&) {
        // An intermediate of a type we don't store is only a problem if an op produces it.
      }
    }
  }
  int unnamed = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(unnamed++) : np.name();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& ap : np.attribute()) {
      if (!ap.ref_attr_name().empty()) {
        throw make_error(n.describe(), ": attribute references (functions) are not supported");
      }
      n.attrs[ap.name()] = attribute_from_proto(ap, n, base_dir);
    }
    g.nodes.push_back(std::move(n));
  }
  // Validate structure now (cycles, dangling inputs), and keep the graph in execution order.
  std::vector<size_t> order = topological_order(g);
  std::vector<Node> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
  return model;
}

void save_onnx(const Model& model, const std::string& path, const SaveOptions& options) {
  onnx::ModelProto mp;
  mp.set_ir_version(model.ir_version);
  mp.set_producer_name(model.producer_name);
  mp.set_producer_version(model.producer_version);
  for (const auto& [domain, version] : model.opset_imports) {
    auto* op = mp.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  for (const auto& [k, v] : model.metadata) {
    auto* kv = mp.add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  const Graph& g = model.graph;
  auto* gp = mp.mutable_graph();
  gp->set_name(g.name);
  for (const auto& vi : g.inputs) value_info_to_proto(vi, gp->add_input());
  for (const auto& vi : g.outputs) value_info_to_proto(vi, gp->add_output());
  for (const auto& vi : g.value_info) value_info_to_proto(vi, gp->add_value_info());
  for (const auto& n : g.nodes) {
    auto* np = gp->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (const auto& in : n.inputs) np->add_input(in);
    for (const auto& out : n.outputs) np->add_output(out);
    for (const auto& [key, a] : n.attrs) attribute_to_proto(key, a, np->add_attribute());
  }

  int64_t total = 0;
  for (const auto& [name, t] : g.initializers) total += static_cast<int64_t>(t.nbytes());
  const bool external = total > options.external_data_threshold_bytes;
  const std::string data_name = fs::path(path).filename().string() + ".data";
  const std::string data_path = path + ".data";
  AtomicFile data_file;
  int64_t offset = 0;
  if (external) data_file.open(data_path);
  for (const auto& [name, t] : g.initializers) {
    auto* tp = gp->add_initializer();
    if (external && t.nbytes() > 1024) {
      tp->set_name(name);
      tp->set_data_type(dtype_to_onnx(t.dtype()));
      for (int64_t d : t.shape()) tp->add_dims(d);
      tp->set_data_location(onnx::TensorProto::EXTERNAL);
      auto add_kv = [&](const char* k, const std::string& v) {
        auto* kv = tp->add_external_data();
        kv->set_key(k);
        kv->set_value(v);
      };
      add_kv("location", data_name);
      add_kv("offset", std::to_string(offset));
      add_kv("length", std::to_string(t.nbytes()));
      data_file.write(t.raw(), t.nbytes());
      offset += static_cast<int64_t>(t.nbytes());
      // Keep offsets 64-byte aligned so the data file can be mmapped.
      static const char kPad[64] = {};
      size_t pad = static_cast<size_t>((64 - offset % 64) % 64);
      data_file.write(kPad, pad);
      offset += static_cast<int64_t>(pad);
    } else {
      tensor_to_proto(name, t, tp);
    }
  }
  std::string bytes;
  SQ_CHECK(mp.SerializeToString(&bytes), path, ": model too large to serialize (over 2 GB)");
  AtomicFile out;
  out.open(path);
  out.write(bytes.data(), bytes.size());
  if (external) data_file.commit();
  out.commit();
}

}  // namespace sq
