#include "runtime/graph/sqm_format.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "runtime/io/atomic_file.h"
#include "runtime/io/mapped_file.h"
#include "runtime/planner/memory_plan.h"

namespace sq {

static_assert(std::endian::native == std::endian::little, ".sqm I/O assumes a little-endian host");

namespace {

constexpr char kMagic[8] = {'S', 'Q', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr size_t kChecksumOffset = 24;
constexpr size_t kSectionEntrySize = 24;
constexpr uint32_t kSectionMeta = 1, kSectionData = 2, kSectionPlan = 3;
constexpr uint32_t kFirstVersionWithPlans = 3;
constexpr uint32_t kMaxRank = 64;
enum AttrCode : uint8_t { kAFloat = 1, kAInt, kAString, kATensor, kAFloats, kAInts, kAStrings };

constexpr uint64_t kFnvOffset = 14695981039346656037ull, kFnvPrime = 1099511628211ull;

uint64_t fnv1a(const uint8_t* p, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnvPrime;
  return h;
}

size_t align64(size_t x) { return (x + 63) / 64 * 64; }

// ---- writing --------------------------------------------------------------------------------

class ByteWriter {
 public:
  template <typename T>
  void pod(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void u8(uint8_t v) { pod(v); }
  void u32(uint32_t v) { pod(v); }
  void i64(int64_t v) { pod(v); }
  void u64(uint64_t v) { pod(v); }
  void count(size_t n, const char* what) {
    SQ_CHECK(n <= UINT32_MAX, "too many ", what, " for the .sqm format: ", n);
    u32(static_cast<uint32_t>(n));
  }
  void str(const std::string& s) {
    count(s.size(), "bytes in a string");
    out_ += s;
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

struct PendingTensor {
  const Tensor* t;
  size_t offset;  // absolute, filled once the META size is known
};

class MetaWriter {
 public:
  ByteWriter w;
  std::vector<PendingTensor> tensors;

  // Tensors sharing one buffer (an embedding table tied to the LM head) are stored once.
  uint32_t add_tensor(const Tensor& t, const std::string& what) {
    SQ_CHECK(!t.empty_handle(), what, ": tensor has no data, cannot be saved to .sqm");
    auto [it, inserted] = by_buffer.emplace(t.raw(), static_cast<uint32_t>(tensors.size()));
    const Tensor* seen = tensors.empty() || inserted ? nullptr : tensors[it->second].t;
    if (seen && seen->dtype() == t.dtype() && seen->shape() == t.shape()) return it->second;
    if (!inserted) it->second = static_cast<uint32_t>(tensors.size());
    tensors.push_back({&t, 0});
    return static_cast<uint32_t>(tensors.size() - 1);
  }
  std::unordered_map<const void*, uint32_t> by_buffer;
  void value_infos(const std::vector<ValueInfo>& vis) {
    w.count(vis.size(), "values");
    for (const ValueInfo& vi : vis) {
      w.str(vi.name);
      w.u8(static_cast<uint8_t>(dtype_to_onnx(vi.dtype)));
      w.u8(vi.has_type);
      w.u8(vi.has_shape);
      SQ_CHECK(vi.dims.size() <= kMaxRank, "value '", vi.name, "' has rank ", vi.dims.size());
      w.count(vi.dims.size(), "dims");
      for (const Dim& d : vi.dims) {
        w.i64(d.known() ? d.value : -1);
        w.str(d.param);
      }
    }
  }
};

// Emits the whole file image piece by piece to `sink(ptr, n)`: once to checksum, once to write.
template <typename Sink>
void emit(const std::string& head, const std::string& meta, const std::string& plans,
          size_t data_offset, const std::vector<PendingTensor>& tensors, Sink&& sink) {
  static const uint8_t zeros[64] = {};
  sink(reinterpret_cast<const uint8_t*>(head.data()), head.size());
  sink(reinterpret_cast<const uint8_t*>(meta.data()), meta.size());
  sink(reinterpret_cast<const uint8_t*>(plans.data()), plans.size());
  size_t pos = head.size() + meta.size() + plans.size();
  sink(zeros, data_offset - pos);
  pos = data_offset;
  for (const PendingTensor& pt : tensors) {
    sink(zeros, pt.offset - pos);
    sink(static_cast<const uint8_t*>(pt.t->raw()), pt.t->nbytes());
    pos = pt.offset + pt.t->nbytes();
  }
}

std::string plan_graph_error(size_t i, const MemoryPlan& p, const Graph& g);

// The PLAN section: every plan checked first, so a file never holds one the loader refuses.
std::string plan_section(const Model& model) {
  ByteWriter w;
  w.count(model.memory_plans.size(), "memory plans");
  for (size_t i = 0; i < model.memory_plans.size(); ++i) {
    const MemoryPlan& p = model.memory_plans[i];
    std::string e = memory_plan_error(p);
    SQ_CHECK(e.empty(), "memory plan ", i, ": ", e);
    e = plan_graph_error(i, p, model.graph);
    SQ_CHECK(e.empty(), e);
    w.count(p.inputs.size(), "plan inputs");
    for (const MemoryPlan::Input& in : p.inputs) {
      w.u8(static_cast<uint8_t>(dtype_to_onnx(in.dtype)));
      SQ_CHECK(in.dims.size() <= kMaxRank, "memory plan ", i, ": input of rank ", in.dims.size());
      w.count(in.dims.size(), "dims");
      for (int64_t d : in.dims) w.i64(d);
    }
    w.u64(p.arena_bytes);
    w.count(p.buffers.size(), "plan buffers");
    for (const MemoryPlan::Buffer& b : p.buffers) {
      w.u64(b.size);
      w.u64(b.offset);
      w.pod(b.first);
      w.pod(b.last);
      w.pod(b.output);
    }
  }
  return std::move(w.bytes());
}

// ---- reading --------------------------------------------------------------------------------

class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n, size_t base, const std::string& what,
             const char* section = "META")
      : p_(p), n_(n), base_(base), what_(what), section_(section) {}

  template <typename T>
  T pod(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint8_t u8(const char* f) { return pod<uint8_t>(f); }
  uint32_t u32(const char* f) { return pod<uint32_t>(f); }
  int64_t i64(const char* f) { return pod<int64_t>(f); }
  uint64_t u64(const char* f) { return pod<uint64_t>(f); }
  float f32(const char* f) { return pod<float>(f); }
  // A count of items that each take at least `min_bytes` in the stream: refused if the rest of
  // the section could not hold them, so nothing absurd is ever reserved.
  size_t count(size_t min_bytes, const char* field) {
    const size_t at = pos_;
    const uint32_t n = u32(field);
    if (static_cast<uint64_t>(n) * min_bytes > n_ - pos_) {
      fail(field, " count ", n, " at byte ", base_ + at, " does not fit in the ", n_ - pos_,
           " bytes left in the ", section_, " section");
    }
    return n;
  }
  std::string str(const char* field) {
    const size_t n = count(1, field);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  DType dtype(const char* field) {
    const size_t at = pos_;
    const uint8_t code = u8(field);
    switch (code) {
      case 1: return DType::kFloat32;
      case 2: return DType::kUInt8;
      case 3: return DType::kInt8;
      case 6: return DType::kInt32;
      case 7: return DType::kInt64;
      case 9: return DType::kBool;
      case 10: return DType::kFloat16;
      case 11: return DType::kFloat64;
      default: fail(field, ": unknown dtype code ", int{code}, " at byte ", base_ + at);
    }
  }
  bool at_end() const { return pos_ == n_; }
  size_t remaining() const { return n_ - pos_; }

  template <typename... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    throw make_error(what_, ": corrupted .sqm file (", std::forward<Parts>(parts)..., ")");
  }

 private:
  void need(size_t k, const char* field) {
    if (k > n_ - pos_) {
      fail(field, " at byte ", base_ + pos_, " runs past the end of the ", section_, " section");
    }
  }
  const uint8_t* p_;
  size_t n_, pos_ = 0, base_;
  const std::string& what_;
  const char* section_;
};

uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::vector<ValueInfo> read_value_infos(ByteReader& r, const char* field) {
  // name (4) + dtype, has_type, has_shape (3) + rank (4)
  const size_t n = r.count(11, field);
  std::vector<ValueInfo> out(n);
  for (ValueInfo& vi : out) {
    vi.name = r.str("value name");
    vi.dtype = r.dtype("value dtype");
    const uint8_t has_type = r.u8("has_type"), has_shape = r.u8("has_shape");
    if (has_type > 1 || has_shape > 1) r.fail("value '", vi.name, "': bad has_type/has_shape flag");
    vi.has_type = has_type;
    vi.has_shape = has_shape;
    const size_t rank = r.count(12, "value rank");
    if (rank > kMaxRank) r.fail("value '", vi.name, "' has rank ", rank);
    vi.dims.resize(rank);
    for (Dim& d : vi.dims) {
      d.value = r.i64("dim");
      if (d.value < -1) r.fail("value '", vi.name, "' has dimension ", d.value);
      d.param = r.str("dim name");
    }
  }
  return out;
}

// "" if plan `i` belongs to `g`: one input per graph input, of its dtype, rank and known dims,
// and no step beyond the graph's nodes; else what is wrong.
std::string plan_graph_error(size_t i, const MemoryPlan& p, const Graph& g) {
  std::ostringstream os;
  if (p.inputs.size() != g.inputs.size()) {
    os << "memory plan " << i << " has " << p.inputs.size() << " inputs, the graph "
       << g.inputs.size();
    return os.str();
  }
  for (size_t j = 0; j < p.inputs.size(); ++j) {
    const ValueInfo& vi = g.inputs[j];
    const MemoryPlan::Input& in = p.inputs[j];
    bool fits = !vi.has_type || in.dtype == vi.dtype;
    if (vi.has_shape) {
      fits = fits && in.dims.size() == vi.dims.size();
      for (size_t d = 0; fits && d < in.dims.size(); ++d) {
        fits = !vi.dims[d].known() || vi.dims[d].value == in.dims[d];
      }
    }
    if (!fits) {
      os << "memory plan " << i << " input " << j << " (" << dtype_name(in.dtype) << " "
         << shape_str(in.dims) << ") does not fit graph input '" << vi.name << "'";
      return os.str();
    }
  }
  for (const MemoryPlan::Buffer& b : p.buffers) {
    if (b.last >= 0 && static_cast<size_t>(b.last) >= g.nodes.size()) {
      os << "memory plan " << i << ": a buffer lives to step " << b.last << " of a graph of "
         << g.nodes.size() << " nodes";
      return os.str();
    }
  }
  return "";
}

MemoryPlan read_plan(ByteReader& r, size_t i, const Graph& g) {
  MemoryPlan p;
  // dtype (1) + rank (4)
  p.inputs.resize(r.count(5, "plan inputs"));
  if (p.inputs.size() != g.inputs.size()) {
    r.fail("memory plan ", i, " has ", p.inputs.size(), " inputs, the graph ", g.inputs.size());
  }
  for (MemoryPlan::Input& in : p.inputs) {
    in.dtype = r.dtype("plan input dtype");
    const size_t rank = r.count(8, "plan input rank");
    if (rank > kMaxRank) r.fail("memory plan ", i, " has an input of rank ", rank);
    in.dims.resize(rank);
    for (int64_t& d : in.dims) d = r.i64("plan input dim");
  }
  p.arena_bytes = r.u64("plan arena bytes");
  // size, offset (16) + first, last, output (12)
  p.buffers.resize(r.count(28, "plan buffers"));
  for (MemoryPlan::Buffer& b : p.buffers) {
    b.size = r.u64("plan buffer size");
    b.offset = r.u64("plan buffer offset");
    b.first = r.pod<int32_t>("plan buffer first step");
    b.last = r.pod<int32_t>("plan buffer last step");
    b.output = r.pod<int32_t>("plan buffer output");
  }
  std::string e = plan_graph_error(i, p, g);
  if (!e.empty()) r.fail(e);
  e = memory_plan_error(p);
  if (!e.empty()) r.fail("memory plan ", i, ": ", e);
  return p;
}

std::vector<MemoryPlan> read_plans(ByteReader& r, const Graph& g) {
  std::vector<MemoryPlan> plans(r.count(16, "memory plans"));
  for (size_t i = 0; i < plans.size(); ++i) plans[i] = read_plan(r, i, g);
  if (!r.at_end()) r.fail(r.remaining(), " unexpected bytes at the end of the PLAN section");
  return plans;
}

}  // namespace

uint64_t sqm_checksum(const uint8_t* data, size_t size) {
  static const uint8_t zeros[8] = {};
  if (size < kChecksumOffset + 8) return fnv1a(data, size, kFnvOffset);
  uint64_t h = fnv1a(data, kChecksumOffset, kFnvOffset);
  h = fnv1a(zeros, 8, h);
  return fnv1a(data + kChecksumOffset + 8, size - kChecksumOffset - 8, h);
}

SqmWriteStats save_sqm(const Model& model, const std::string& path,
                       const SqmWriteOptions& options) {
  SQ_CHECK(options.version >= 2 && options.version <= kSqmVersion, "save_sqm: cannot write .sqm "
           "version ", options.version, " (2 to ", kSqmVersion, ")");
  const bool with_plans = options.version >= kFirstVersionWithPlans;
  const uint32_t sections = with_plans ? 3 : 2;
  const size_t meta_offset = kSqmHeaderSize + sections * kSectionEntrySize;
  const std::string plans = with_plans ? plan_section(model) : std::string();
  MetaWriter m;
  ByteWriter& w = m.w;
  w.i64(model.ir_version);
  w.str(model.producer_name);
  w.str(model.producer_version);
  w.count(model.opset_imports.size(), "opsets");
  for (const auto& [domain, version] : model.opset_imports) {
    w.str(domain);
    w.i64(version);
  }
  w.count(model.metadata.size(), "metadata entries");
  for (const auto& [k, v] : model.metadata) {
    w.str(k);
    w.str(v);
  }
  const Graph& g = model.graph;
  w.str(g.name);
  // Tensors first (so the loader has them when initializers and attributes refer to them): collect
  // their indices in a first pass over initializers and attributes.
  std::vector<uint32_t> init_index;
  for (const auto& [name, t] : g.initializers) init_index.push_back(m.add_tensor(t, name));
  std::vector<uint32_t> attr_index;
  for (const Node& n : g.nodes) {
    for (const auto& [key, a] : n.attrs) {
      if (a.kind == Attribute::Kind::kTensor) {
        attr_index.push_back(m.add_tensor(a.t, n.describe() + " attribute '" + key + "'"));
      }
    }
  }
  ByteWriter tensor_table;
  // Offsets are only known once META's size is: write the table after a size-only dry run.
  auto write_tensor_table = [&](ByteWriter& tw) {
    tw.count(m.tensors.size(), "tensors");
    for (const PendingTensor& pt : m.tensors) {
      const Tensor& t = *pt.t;
      tw.u8(static_cast<uint8_t>(dtype_to_onnx(t.dtype())));
      SQ_CHECK(t.shape().size() <= kMaxRank, "tensor of rank ", t.shape().size());
      tw.count(t.shape().size(), "dims");
      for (int64_t d : t.shape()) tw.i64(d);
      tw.u64(pt.offset);
      tw.u64(t.nbytes());
    }
  };
  ByteWriter rest;
  {
    MetaWriter r2;  // reuse the value-info writer
    r2.value_infos(g.inputs);
    r2.value_infos(g.outputs);
    r2.value_infos(g.value_info);
    r2.w.count(g.initializers.size(), "initializers");
    size_t i = 0;
    for (const auto& [name, t] : g.initializers) {
      r2.w.str(name);
      r2.w.u32(init_index[i++]);
    }
    size_t ai = 0;
    r2.w.count(g.nodes.size(), "nodes");
    for (const Node& n : g.nodes) {
      r2.w.str(n.name);
      r2.w.str(n.op_type);
      r2.w.str(n.domain);
      r2.w.count(n.inputs.size(), "inputs");
      for (const auto& s : n.inputs) r2.w.str(s);
      r2.w.count(n.outputs.size(), "outputs");
      for (const auto& s : n.outputs) r2.w.str(s);
      r2.w.count(n.attrs.size(), "attributes");
      for (const auto& [key, a] : n.attrs) {
        r2.w.str(key);
        switch (a.kind) {
          case Attribute::Kind::kFloat: r2.w.u8(kAFloat); r2.w.pod(a.f); break;
          case Attribute::Kind::kInt: r2.w.u8(kAInt); r2.w.i64(a.i); break;
          case Attribute::Kind::kString: r2.w.u8(kAString); r2.w.str(a.s); break;
          case Attribute::Kind::kTensor: r2.w.u8(kATensor); r2.w.u32(attr_index[ai++]); break;
          case Attribute::Kind::kFloats:
            r2.w.u8(kAFloats);
            r2.w.count(a.floats.size(), "floats");
            for (float f : a.floats) r2.w.pod(f);
            break;
          case Attribute::Kind::kInts:
            r2.w.u8(kAInts);
            r2.w.count(a.ints.size(), "ints");
            for (int64_t v : a.ints) r2.w.i64(v);
            break;
          case Attribute::Kind::kStrings:
            r2.w.u8(kAStrings);
            r2.w.count(a.strings.size(), "strings");
            for (const auto& s : a.strings) r2.w.str(s);
            break;
        }
      }
    }
    rest.bytes() = std::move(r2.w.bytes());
  }
  {
    ByteWriter dry;
    write_tensor_table(dry);
    const size_t meta_size = w.bytes().size() + dry.bytes().size() + rest.bytes().size();
    size_t pos = align64(meta_offset + meta_size + plans.size());
    for (PendingTensor& pt : m.tensors) {
      pt.offset = pos;
      pos = align64(pos + pt.t->nbytes());
    }
  }
  write_tensor_table(tensor_table);
  std::string meta = std::move(w.bytes());
  meta += tensor_table.bytes();
  meta += rest.bytes();

  const size_t plan_offset = meta_offset + meta.size();
  const size_t data_offset = align64(plan_offset + plans.size());
  size_t file_size = data_offset;
  SqmWriteStats stats;
  for (const PendingTensor& pt : m.tensors) {
    file_size = pt.offset + pt.t->nbytes();
    stats.tensor_bytes += pt.t->nbytes();
  }

  ByteWriter head;
  head.bytes().append(kMagic, 8);
  head.u32(options.version);
  head.u32(0);  // flags
  head.u64(file_size);
  head.u64(0);  // checksum, filled below
  head.u32(kSqmHeaderSize);
  head.u32(sections);
  head.u64(kSqmHeaderSize);
  head.u64(0);
  head.u64(0);
  head.u32(kSectionMeta);
  head.u32(0);
  head.u64(meta_offset);
  head.u64(meta.size());
  head.u32(kSectionData);
  head.u32(0);
  head.u64(data_offset);
  head.u64(file_size - data_offset);
  if (with_plans) {
    head.u32(kSectionPlan);
    head.u32(0);
    head.u64(plan_offset);
    head.u64(plans.size());
  }

  uint64_t h = kFnvOffset;
  emit(head.bytes(), meta, plans, data_offset, m.tensors,
       [&](const uint8_t* p, size_t n) { h = fnv1a(p, n, h); });
  std::memcpy(head.bytes().data() + kChecksumOffset, &h, 8);

  AtomicFile f;
  f.open(path);
  emit(head.bytes(), meta, plans, data_offset, m.tensors,
       [&](const uint8_t* p, size_t n) { f.write(p, n); });
  f.commit();
  stats.file_bytes = file_size;
  stats.tensors = m.tensors.size();
  stats.nodes = g.nodes.size();
  stats.memory_plans = with_plans ? model.memory_plans.size() : 0;
  return stats;
}

namespace {

// The whole load; `mapped` (or nullptr) is the file `data` maps, whose pages are released once
// checksummed.
Model load_sqm_impl(std::shared_ptr<void> owner, const uint8_t* data, size_t size,
                    const std::string& what, const MappedFile* mapped) {
  // FNV-1a over the file in chunks; a mapped file's chunks leave the resident set once hashed.
  auto checksum_and_release = [mapped](const uint8_t* p, size_t n) {
    if (!mapped) return sqm_checksum(p, n);
    constexpr size_t kChunk = size_t{8} << 20;
    static const uint8_t zeros[8] = {};
    uint64_t h = fnv1a(p, kChecksumOffset, kFnvOffset);
    h = fnv1a(zeros, 8, h);
    for (size_t at = kChecksumOffset + 8; at < n; at += kChunk) {
      const size_t len = std::min(kChunk, n - at);
      h = fnv1a(p + at, len, h);
      release_pages(*mapped, at, len);
    }
    return h;
  };
  auto bad = [&](auto&&... parts) -> Error {
    return make_error(what, ": ", std::forward<decltype(parts)>(parts)...);
  };
  if (size < 8 || std::memcmp(data, kMagic, 8) != 0) {
    throw bad("not a compiled SoftQuant model (.sqm): bad magic");
  }
  if (size < kSqmHeaderSize) throw bad("truncated .sqm file (", size, " bytes, header is 64)");
  const uint32_t version = get_u32(data + 8), flags = get_u32(data + 12);
  if (version < kSqmOldestVersion || version > kSqmVersion) {
    throw bad(".sqm version ", version, " is not supported (this runtime reads versions ",
              kSqmOldestVersion, " to ", kSqmVersion, "): recompile the model with this "
              "softquant's `softquant compile`");
  }
  if (flags != 0) throw bad("unsupported .sqm flags 0x", std::hex, flags);
  const uint64_t file_size = get_u64(data + 16);
  if (file_size != size) {
    throw bad(size < file_size ? "truncated" : "corrupted", " .sqm file (", size,
              " bytes, the header says ", file_size, ")");
  }
  const uint64_t stored = get_u64(data + kChecksumOffset);
  const uint64_t actual = checksum_and_release(data, size);
  if (stored != actual) {
    throw bad("corrupted .sqm file (checksum mismatch: stored 0x", std::hex, stored,
              ", computed 0x", actual, ")");
  }
  // From here the bytes are what the writer wrote, unless someone forged the checksum: still
  // check every field.
  const uint32_t header_size = get_u32(data + 32), sections = get_u32(data + 36);
  const uint64_t table_offset = get_u64(data + 40);
  const bool with_plans = version >= kFirstVersionWithPlans;
  const uint32_t want_sections = with_plans ? 3 : 2;
  if (header_size != kSqmHeaderSize || sections != want_sections ||
      table_offset != kSqmHeaderSize || get_u64(data + 48) != 0 || get_u64(data + 56) != 0) {
    throw bad("corrupted .sqm header (header size ", header_size, ", ", sections,
              " sections at ", table_offset, ")");
  }
  const size_t table_end = kSqmHeaderSize + want_sections * kSectionEntrySize;
  if (size < table_end) throw bad("truncated .sqm section table");
  uint64_t off[4] = {}, len[4] = {};
  for (uint32_t s = 0; s < want_sections; ++s) {
    const uint8_t* e = data + kSqmHeaderSize + s * kSectionEntrySize;
    const uint32_t kind = get_u32(e);
    if (kind != s + 1 || get_u32(e + 4) != 0) {
      throw bad("corrupted .sqm section table (entry ", s, " has kind ", kind, ")");
    }
    off[kind] = get_u64(e + 8);
    len[kind] = get_u64(e + 16);
    if (off[kind] > size || len[kind] > size - off[kind]) {
      throw bad("corrupted .sqm section table (section ", kind, " [", off[kind], ", +", len[kind],
                ") is outside the ", size, "-byte file)");
    }
  }
  // META right after the table, then PLAN (version 3) right after META, then DATA.
  const uint64_t meta_end = off[kSectionMeta] + len[kSectionMeta];
  const uint64_t before_data = with_plans ? off[kSectionPlan] + len[kSectionPlan] : meta_end;
  if (off[kSectionMeta] != table_end || (with_plans && off[kSectionPlan] != meta_end) ||
      off[kSectionData] % 64 != 0 || off[kSectionData] < before_data) {
    throw bad("corrupted .sqm section table (META at ", off[kSectionMeta], ", PLAN at ",
              off[kSectionPlan], ", DATA at ", off[kSectionData], ")");
  }
  const size_t data_begin = off[kSectionData], data_end = data_begin + len[kSectionData];
  const bool alias = reinterpret_cast<uintptr_t>(data) % 64 == 0 && owner;

  ByteReader r(data + off[kSectionMeta], len[kSectionMeta], off[kSectionMeta], what);
  Model model;
  model.ir_version = r.i64("ir_version");
  model.producer_name = r.str("producer_name");
  model.producer_version = r.str("producer_version");
  for (size_t n = r.count(12, "opsets"); n > 0; --n) {
    std::string domain = r.str("opset domain");
    model.opset_imports[domain] = r.i64("opset version");
  }
  for (size_t n = r.count(8, "metadata"); n > 0; --n) {
    std::string key = r.str("metadata key");
    model.metadata[key] = r.str("metadata value");
  }
  Graph& g = model.graph;
  g.name = r.str("graph name");

  const size_t num_tensors = r.count(21, "tensors");
  std::vector<Tensor> tensors;
  tensors.reserve(num_tensors);
  for (size_t i = 0; i < num_tensors; ++i) {
    const DType dt = r.dtype("tensor dtype");
    const size_t rank = r.count(8, "tensor rank");
    if (rank > kMaxRank) r.fail("tensor ", i, " has rank ", rank);
    Shape shape(rank);
    for (int64_t& d : shape) d = r.i64("tensor dim");
    const uint64_t offset = r.u64("tensor offset"), nbytes = r.u64("tensor size");
    size_t expect = 0;
    try {
      expect = shape_nbytes(dt, shape, "tensor " + std::to_string(i));
    } catch (const Error& e) {
      r.fail(e.what());
    }
    if (nbytes != expect) {
      r.fail("tensor ", i, " of ", dtype_name(dt), " ", shape_str(shape), " claims ", nbytes,
             " bytes");
    }
    if (offset % 64 != 0 || offset < data_begin || offset > data_end ||
        nbytes > data_end - offset) {
      r.fail("tensor ", i, " at [", offset, ", +", nbytes, ") is misaligned or outside the DATA "
             "section [", data_begin, ", ", data_end, ")");
    }
    const uint8_t* src = data + offset;
    if (dt == DType::kBool) {
      for (size_t k = 0; k < nbytes; ++k) {
        if (src[k] > 1) r.fail("tensor ", i, ": bool value ", int{src[k]});
      }
    }
    if (nbytes == 0 || !alias) {
      Tensor t(dt, shape);
      if (nbytes) std::memcpy(t.raw(), src, nbytes);
      tensors.push_back(std::move(t));
    } else {
      tensors.push_back(Tensor::external(
          dt, std::move(shape), std::shared_ptr<void>(owner, const_cast<uint8_t*>(src))));
    }
  }
  auto tensor_ref = [&](const char* field) -> const Tensor& {
    const uint32_t idx = r.u32(field);
    if (idx >= tensors.size()) r.fail(field, " refers to tensor ", idx, " of ", tensors.size());
    return tensors[idx];
  };

  g.inputs = read_value_infos(r, "inputs");
  g.outputs = read_value_infos(r, "outputs");
  g.value_info = read_value_infos(r, "value_info");
  for (size_t n = r.count(8, "initializers"); n > 0; --n) {
    std::string name = r.str("initializer name");
    const Tensor& t = tensor_ref("initializer tensor");
    if (!g.initializers.emplace(name, t).second) r.fail("initializer '", name, "' given twice");
  }
  const size_t num_nodes = r.count(24, "nodes");
  g.nodes.resize(num_nodes);
  for (Node& n : g.nodes) {
    n.name = r.str("node name");
    n.op_type = r.str("node op_type");
    n.domain = r.str("node domain");
    n.inputs.resize(r.count(4, "node inputs"));
    for (auto& s : n.inputs) s = r.str("node input");
    n.outputs.resize(r.count(4, "node outputs"));
    for (auto& s : n.outputs) s = r.str("node output");
    for (size_t k = r.count(5, "node attributes"); k > 0; --k) {
      std::string key = r.str("attribute name");
      const uint8_t kind = r.u8("attribute kind");
      Attribute a;
      switch (kind) {
        case kAFloat: a = Attribute::of_float(r.f32("float attribute")); break;
        case kAInt: a = Attribute::of_int(r.i64("int attribute")); break;
        case kAString: a = Attribute::of_string(r.str("string attribute")); break;
        case kATensor: a = Attribute::of_tensor(tensor_ref("tensor attribute")); break;
        case kAFloats: {
          std::vector<float> v(r.count(4, "floats attribute"));
          for (float& f : v) f = r.f32("floats attribute");
          a = Attribute::of_floats(std::move(v));
          break;
        }
        case kAInts: {
          std::vector<int64_t> v(r.count(8, "ints attribute"));
          for (int64_t& x : v) x = r.i64("ints attribute");
          a = Attribute::of_ints(std::move(v));
          break;
        }
        case kAStrings: {
          a.kind = Attribute::Kind::kStrings;
          a.strings.resize(r.count(4, "strings attribute"));
          for (auto& s : a.strings) s = r.str("strings attribute");
          break;
        }
        default:
          r.fail(n.describe(), " attribute '", key, "' has unknown kind ", int{kind});
      }
      if (!n.attrs.emplace(key, std::move(a)).second) {
        r.fail(n.describe(), " has attribute '", key, "' twice");
      }
    }
  }
  if (!r.at_end()) r.fail(r.remaining(), " unexpected bytes at the end of the META section");
  if (with_plans) {
    ByteReader pr(data + off[kSectionPlan], len[kSectionPlan], off[kSectionPlan], what, "PLAN");
    model.memory_plans = read_plans(pr, g);
  }
  return model;
}

}  // namespace

Model load_sqm_from_memory(std::shared_ptr<void> owner, const uint8_t* data, size_t size,
                           const std::string& what) {
  return load_sqm_impl(std::move(owner), data, size, what, nullptr);
}

Model load_sqm(const std::string& path) {
  MappedFile f = map_file(path);
  return load_sqm_impl(f.owner, f.data, f.size, path, &f);
}

bool is_sqm_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char b[8] = {};
  return in.read(b, 8) && std::memcmp(b, kMagic, 8) == 0;
}

}  // namespace sq
