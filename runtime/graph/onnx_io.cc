#include "runtime/graph/onnx_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <type_traits>

#include "runtime/graph/sqm_format.h"
#include "runtime/io/atomic_file.h"
#include "runtime/io/read_file.h"

namespace sq {
namespace fs = std::filesystem;

namespace {

// Parses a decimal int64 from an external-data key (offset, length).
int64_t parse_int64(const std::string& text, const std::string& what) {
  SQ_CHECK(!text.empty() && text.size() <= 18 &&
               text.find_first_not_of("0123456789") == std::string::npos,
           what, ": '", text, "' is not a non-negative integer");
  return std::stoll(text);
}

// Reads [offset, offset+length) of an external-data file, refusing paths that leave base_dir.
std::string read_external(const std::string& base_dir, const std::string& location, int64_t offset,
                          int64_t length, const std::string& what) {
  fs::path rel(location);
  bool inside = !rel.empty() && !rel.is_absolute() && !rel.has_root_name();
  for (const auto& part : rel) inside = inside && part != "..";
  SQ_CHECK(inside, what, ": external data location '", location,
           "' must be a relative path inside the model's folder");
  fs::path p = fs::path(base_dir) / rel;
  std::error_code ec;
  SQ_CHECK(fs::is_regular_file(p, ec), what, ": external data file ", p.string(), " not found");
  const int64_t size = static_cast<int64_t>(fs::file_size(p, ec));
  SQ_CHECK(!ec, what, ": cannot read the size of ", p.string());
  if (length < 0 && offset <= size) length = size - offset;
  SQ_CHECK(offset <= size && length <= size - offset, what, ": external data range [", offset,
           ", +", length, ") is outside ", p.string(), " (", size, " bytes)");
  std::ifstream in(p, std::ios::binary);
  std::string buf(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(buf.data(), length);
  SQ_CHECK(in.good() || length == 0, what, ": cannot read ", p.string());
  return buf;
}

// `what` names the tensor in errors: "initializer 'w'" or "node 'n' (Constant): attribute 'value'".
Tensor tensor_from_proto(const onnx::TensorProto& tp, const std::string& base_dir,
                         const std::string& what) {
  DType dtype = dtype_from_onnx(tp.data_type(), what);
  Shape shape(tp.dims().begin(), tp.dims().end());
  // Sizes come from the file: check them before allocating anything.
  const size_t nbytes = shape_nbytes(dtype, shape, what);
  const int64_t n = static_cast<int64_t>(nbytes / dtype_size(dtype));

  std::string external;
  const std::string* raw = nullptr;
  if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : tp.external_data()) {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = parse_int64(kv.value(), what + ": external offset");
      else if (kv.key() == "length")
        length = parse_int64(kv.value(), what + ": external length");
    }
    SQ_CHECK(!location.empty(), what, ": external data without a location");
    SQ_CHECK(length < 0 || static_cast<uint64_t>(length) == nbytes, what, ": external length ",
             length, ", shape ", shape_str(shape), " of ", dtype_name(dtype), " needs ", nbytes);
    external = read_external(base_dir, location, offset, length, what);
    raw = &external;
  } else if (tp.has_raw_data()) {
    raw = &tp.raw_data();
  }
  if (raw) {
    SQ_CHECK(raw->size() == nbytes, what, ": holds ", raw->size(), " bytes, shape ",
             shape_str(shape), " of ", dtype_name(dtype), " needs ", nbytes);
    Tensor t(dtype, shape);
    if (nbytes) std::memcpy(t.raw(), raw->data(), nbytes);
    return t;
  }
  auto expect = [&](int64_t have) {
    SQ_CHECK(have == n, what, ": holds ", have, " values, shape ", shape_str(shape), " needs ", n);
  };
  auto from_int32_data = [&](auto* out) {
    expect(tp.int32_data_size());
    using T = std::remove_pointer_t<decltype(out)>;
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(tp.int32_data(static_cast<int>(i)));
  };
  switch (dtype) {
    case DType::kFloat32:
      expect(tp.float_data_size());
      break;
    case DType::kFloat64:
      expect(tp.double_data_size());
      break;
    case DType::kInt64:
      expect(tp.int64_data_size());
      break;
    default:
      expect(tp.int32_data_size());
      break;
  }
  Tensor t(dtype, shape);
  switch (dtype) {
    case DType::kFloat32:
      std::copy(tp.float_data().begin(), tp.float_data().end(), t.data<float>());
      break;
    case DType::kFloat64:
      std::copy(tp.double_data().begin(), tp.double_data().end(), t.data<double>());
      break;
    case DType::kInt64:
      std::copy(tp.int64_data().begin(), tp.int64_data().end(), t.data<int64_t>());
      break;
    case DType::kInt32:
      from_int32_data(t.data<int32_t>());
      break;
    case DType::kInt8:
      from_int32_data(t.data<int8_t>());
      break;
    case DType::kUInt8:
      from_int32_data(t.data<uint8_t>());
      break;
    case DType::kFloat16:
      from_int32_data(t.data<uint16_t>());
      break;  // ONNX stores the bits
    case DType::kBool: {
      expect(tp.int32_data_size());
      bool* out = t.data<bool>();
      for (int64_t i = 0; i < n; ++i) out[i] = tp.int32_data(static_cast<int>(i)) != 0;
      break;
    }
  }
  return t;
}

void tensor_to_proto(const std::string& name, const Tensor& t, onnx::TensorProto* tp,
                     const std::string& what) {
  SQ_CHECK(!t.empty_handle(), what, ": tensor holds no data");
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
        if (d.has_dim_value())
          dim.value = d.dim_value();
        else if (d.has_dim_param())
          dim.param = d.dim_param();
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
    if (d.known())
      dp->set_dim_value(d.value);
    else if (!d.param.empty())
      dp->set_dim_param(d.param);
  }
}

Attribute attribute_from_proto(const onnx::AttributeProto& ap, const Node& node,
                               const std::string& base_dir) {
  Attribute a;
  using AP = onnx::AttributeProto;
  switch (ap.type()) {
    case AP::FLOAT:
      a.kind = Attribute::Kind::kFloat;
      a.f = ap.f();
      break;
    case AP::INT:
      a.kind = Attribute::Kind::kInt;
      a.i = ap.i();
      break;
    case AP::STRING:
      a.kind = Attribute::Kind::kString;
      a.s = ap.s();
      break;
    case AP::TENSOR:
      a.kind = Attribute::Kind::kTensor;
      a.t =
          tensor_from_proto(ap.t(), base_dir, node.describe() + ": attribute '" + ap.name() + "'");
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
                       "' has an unsupported type (subgraphs and sparse tensors are not "
                       "supported)");
  }
  return a;
}

void attribute_to_proto(const Node& node, const std::string& key, const Attribute& a,
                        onnx::AttributeProto* ap) {
  using AP = onnx::AttributeProto;
  ap->set_name(key);
  switch (a.kind) {
    case Attribute::Kind::kFloat:
      ap->set_type(AP::FLOAT);
      ap->set_f(a.f);
      break;
    case Attribute::Kind::kInt:
      ap->set_type(AP::INT);
      ap->set_i(a.i);
      break;
    case Attribute::Kind::kString:
      ap->set_type(AP::STRING);
      ap->set_s(a.s);
      break;
    case Attribute::Kind::kTensor:
      ap->set_type(AP::TENSOR);
      tensor_to_proto("", a.t, ap->mutable_t(), node.describe() + ": attribute '" + key + "'");
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

// Graph outputs and intermediate value_info; re-read after shape inference has refined them.
void read_value_infos(const onnx::GraphProto& gp, Graph* g) {
  g->outputs.clear();
  for (const auto& vp : gp.output()) g->outputs.push_back(value_info_from_proto(vp));
  g->value_info.clear();
  for (const auto& vp : gp.value_info()) {
    if (!vp.type().has_tensor_type()) continue;
    try {
      g->value_info.push_back(value_info_from_proto(vp));
    } catch (const Error&) {
      // An intermediate of a type we don't store is only a problem if an op produces it.
    }
  }
}

// Raw initializer data above this size is dropped from the message once converted, so a model
// is not held twice while it loads; shape inference still sees every initializer's type and
// dims, and the values of the small ones (shape-like constants) it may read.
constexpr size_t kReleaseRawBytes = 64 << 10;

void convert_graph(onnx::GraphProto* mgp, const std::string& base_dir, Graph* g) {
  const onnx::GraphProto& gp = *mgp;
  g->name = gp.name();
  for (auto& tp : *mgp->mutable_initializer()) {
    SQ_CHECK(!tp.name().empty(), "an initializer has no name");
    SQ_CHECK(!g->initializers.count(tp.name()), "initializer '", tp.name(),
             "' is defined more than once");
    g->initializers[tp.name()] = tensor_from_proto(tp, base_dir, "initializer '" + tp.name() + "'");
    if (tp.raw_data().size() > kReleaseRawBytes) delete tp.release_raw_data();
  }
  for (const auto& vp : gp.input()) {
    if (g->initializers.count(vp.name())) continue;  // old-style: initializers listed as inputs
    SQ_CHECK(!vp.name().empty(), "a graph input has no name");
    g->inputs.push_back(value_info_from_proto(vp));
    SQ_CHECK(g->inputs.back().has_type, "graph input '", vp.name(), "' has no tensor type");
  }
  read_value_infos(gp, g);
  int unnamed = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(unnamed++) : np.name();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    SQ_CHECK(!n.op_type.empty(), n.describe(), ": node has no op_type");
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& ap : np.attribute()) {
      SQ_CHECK(ap.ref_attr_name().empty(), n.describe(),
               ": attribute references (functions) are not supported");
      SQ_CHECK(!n.attrs.count(ap.name()), n.describe(), ": attribute '", ap.name(),
               "' is given more than once");
      n.attrs[ap.name()] = attribute_from_proto(ap, n, base_dir);
    }
    g->nodes.push_back(std::move(n));
  }
}

}  // namespace

namespace {

Model model_from_proto(onnx::ModelProto& mp, const std::string& base_dir, const std::string& what,
                       const LoadOptions& options);

void parse_model_proto(google::protobuf::io::ZeroCopyInputStream& raw, size_t size,
                       const std::string& what, onnx::ModelProto* mp) {
  SQ_CHECK(size > 0, what, ": file is empty, expected an ONNX model");
  SQ_CHECK(size <= static_cast<size_t>(INT_MAX), what,
           ": file is larger than 2 GB (large weights must use ONNX external data)");
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  SQ_CHECK(mp->ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage(), what,
           ": not a valid ONNX model (malformed or truncated protobuf)");
}

}  // namespace

// Parses straight from the file, so the model's bytes are never held twice (file buffer and
// parsed message) on top of the converted tensors.
Model load_onnx(const std::string& path, const LoadOptions& options) {
  std::error_code ec;
  SQ_CHECK(!path.empty(), "empty path, expected an ONNX file");
  const fs::file_status st = fs::status(path, ec);
  SQ_CHECK(fs::exists(st), path, ": no such file");
  SQ_CHECK(!fs::is_directory(st), path, ": is a directory, expected an ONNX file");
  SQ_CHECK(fs::is_regular_file(st), path, ": is not a regular file, expected an ONNX file");
  SQ_CHECK(!is_sqm_file(path), path, ": is a compiled .sqm model, expected an ONNX file (only "
           "run and bench take a .sqm)");
  std::ifstream in(path, std::ios::binary);
  SQ_CHECK(in.good(), path, ": cannot open for reading (", std::strerror(errno), ")");
  const auto size = static_cast<size_t>(fs::file_size(path, ec));
  onnx::ModelProto mp;
  {
    google::protobuf::io::IstreamInputStream raw(&in);
    parse_model_proto(raw, size, path, &mp);
  }
  SQ_CHECK(!in.bad(), path, ": read error");
  const std::string dir = fs::path(path).parent_path().string();
  return model_from_proto(mp, dir.empty() ? "." : dir, path, options);
}

Model load_onnx_from_bytes(const std::string& bytes, const std::string& base_dir,
                           const std::string& what, const LoadOptions& options) {
  onnx::ModelProto mp;
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  parse_model_proto(raw, bytes.size(), what, &mp);
  return model_from_proto(mp, base_dir, what, options);
}

namespace {

Model model_from_proto(onnx::ModelProto& mp, const std::string& base_dir, const std::string& what,
                       const LoadOptions& options) {
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

  try {
    convert_graph(mp.mutable_graph(), base_dir, &model.graph);
    // Validate structure now (cycles, dangling inputs), and keep the graph in execution order.
    std::vector<size_t> order = topological_order(model.graph);
    std::vector<Node> sorted;
    sorted.reserve(order.size());
    for (size_t i : order) sorted.push_back(std::move(model.graph.nodes[i]));
    model.graph.nodes = std::move(sorted);
  } catch (const Error& e) {
    throw make_error(what, ": ", e.what());
  }

  // Shape inference only runs on a structurally valid graph; it refines outputs and value_info.
  if (options.infer_shapes) {
    bool inferred = true;
    try {
      onnx::shape_inference::InferShapes(mp);
    } catch (const std::exception& e) {
      inferred = false;
      std::string msg = e.what();
      std::replace(msg.begin(), msg.end(), '\n', ' ');
      std::cerr << "softquant: warning: " << what << ": ONNX shape inference failed (" << msg
                << "); continuing without inferred shapes\n";
    }
    if (inferred) {
      try {
        read_value_infos(mp.graph(), &model.graph);
      } catch (const Error& e) {
        throw make_error(what, ": ", e.what());
      }
    }
  }
  return model;
}

}  // namespace

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
    for (const auto& [key, a] : n.attrs) attribute_to_proto(n, key, a, np->add_attribute());
  }

  constexpr size_t kMinExternalBytes = 1024;  // smaller initializers always stay inline
  int64_t total = 0;
  bool any_large = false;
  for (const auto& [name, t] : g.initializers) {
    SQ_CHECK(!t.empty_handle(), path, ": initializer '", name, "' holds no data");
    total += static_cast<int64_t>(t.nbytes());
    any_large = any_large || t.nbytes() > kMinExternalBytes;
  }
  const bool external = any_large && total > options.external_data_threshold_bytes;
  const std::string data_name = fs::path(path).filename().string() + ".data";
  // Open the model first: an unwritable destination fails before any data is written.
  AtomicFile out, data_file;
  out.open(path);
  if (external) data_file.open(path + ".data");
  int64_t offset = 0;
  for (const auto& [name, t] : g.initializers) {
    auto* tp = gp->add_initializer();
    if (!external || t.nbytes() <= kMinExternalBytes) {
      tensor_to_proto(name, t, tp, "initializer '" + name + "'");
      continue;
    }
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
  }
  std::string bytes;
  SQ_CHECK(mp.SerializeToString(&bytes), path, ": model too large to serialize (over 2 GB)");
  out.write(bytes.data(), bytes.size());
  out.finish();  // both files complete (a full disk fails here) before either is renamed
  if (!external) {
    out.commit();
    return;
  }
  data_file.commit();
  try {
    out.commit();
  } catch (const Error&) {
    // The model did not land: do not leave its data file behind alone.
    std::remove((path + ".data").c_str());
    throw;
  }
}

}  // namespace sq
