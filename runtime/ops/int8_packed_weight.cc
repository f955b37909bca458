#include "runtime/ops/int8_packed_weight.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "runtime/io/mapped_file.h"

namespace sq {
namespace {

using kernels::Isa;
using kernels::PackedMatrixS8;

std::atomic<int64_t> g_packed_at_prepare{0};

constexpr int64_t kMaxDim = int64_t{1} << 31;

struct PackedAttrs {
  Isa isa = Isa::kScalar;
  int64_t k = 0, n = 0;
  const Tensor* data = nullptr;
  const Tensor* col_sums = nullptr;
};

// Reads and checks the packed form: sizes against K, N and the ISA's layout, alignment.
PackedAttrs read_packed(const Node& node) {
  PackedAttrs p;
  const std::string isa = node.attr_string("packed_isa", "");
  SQ_CHECK(kernels::isa_from_name(isa, &p.isa), node.describe(), ": unknown packed_isa '", isa,
           "' (expected scalar, avx2, avx512vnni, neon or neondot)");
  p.k = node.attr_int("packed_k");
  p.n = node.attr_int("packed_n");
  SQ_CHECK(p.k >= 0 && p.k < kMaxDim && p.n >= 0 && p.n < kMaxDim, node.describe(),
           ": packed_k ", p.k, " and packed_n ", p.n, " must be in [0, 2^31)");
  p.data = &node.attr_tensor("packed_weight");
  p.col_sums = &node.attr_tensor("packed_col_sums");
  const int64_t bytes = kernels::packed_b_bytes(p.k, p.n, p.isa);
  SQ_CHECK(p.data->dtype() == DType::kInt8 && p.data->rank() == 1 && p.data->numel() == bytes,
           node.describe(), ": packed_weight must be int8 [", bytes, "] for ", p.k, " x ", p.n,
           " packed for ", isa, ", got ", dtype_name(p.data->dtype()), " ",
           shape_str(p.data->shape()));
  SQ_CHECK(reinterpret_cast<uintptr_t>(p.data->raw()) % 64 == 0, node.describe(),
           ": packed_weight is not 64-byte aligned");
  SQ_CHECK(p.col_sums->dtype() == DType::kInt32 && p.col_sums->numel() == p.n, node.describe(),
           ": packed_col_sums must be int32 [", p.n, "], got ", dtype_name(p.col_sums->dtype()),
           " ", shape_str(p.col_sums->shape()));
  return p;
}

// The stored packed matrix, in place: the view keeps both attribute tensors alive.
PackedMatrixS8 view_of(const PackedAttrs& p) {
  auto owner = std::make_shared<std::pair<Tensor, Tensor>>(*p.data, *p.col_sums);
  return kernels::packed_b_s8_view(p.isa, p.k, p.n, owner->first.data<int8_t>(),
                                   owner->second.data<int32_t>(), owner);
}

struct UnpackedWeight {
  const int8_t* values;
  int64_t k, n, stride_k, stride_n;
};

UnpackedWeight read_unpacked(const Node& node) {
  const Tensor& w = node.attr_tensor("weight");
  SQ_CHECK(w.dtype() == DType::kInt8 && w.rank() == 2, node.describe(),
           ": weight must be a 2-D int8 tensor, got ", dtype_name(w.dtype()), " ",
           shape_str(w.shape()));
  const bool transposed = node.attr_int("weight_transposed", 0) != 0;
  const int64_t k = transposed ? w.dim(1) : w.dim(0), n = transposed ? w.dim(0) : w.dim(1);
  SQ_CHECK(k < kMaxDim && n < kMaxDim, node.describe(), ": weight ", shape_str(w.shape()),
           " is too large");
  return {w.data<int8_t>(), k, n, transposed ? 1 : n, transposed ? k : 1};
}

void set_packed_attrs(Node& node, Isa isa, int64_t k, int64_t n, Tensor data, Tensor col_sums) {
  node.attrs["packed_weight"] = Attribute::of_tensor(std::move(data));
  node.attrs["packed_col_sums"] = Attribute::of_tensor(std::move(col_sums));
  node.attrs["packed_isa"] = Attribute::of_string(kernels::isa_name(isa));
  node.attrs["packed_k"] = Attribute::of_int(k);
  node.attrs["packed_n"] = Attribute::of_int(n);
  node.attrs.erase("weight");
  node.attrs.erase("weight_transposed");
}

constexpr const char* kPackedKeys[] = {"packed_weight", "packed_col_sums", "packed_isa",
                                       "packed_k", "packed_n"};

}  // namespace

// Any packed attribute means the packed form: a missing one is an error, not a fallback.
bool has_packed_form(const Node& node) {
  for (const char* key : kPackedKeys) {
    if (node.has_attr(key)) return true;
  }
  return false;
}

void share_packed_table(Node& gather, const Node& matmul) {
  for (const char* key : kPackedKeys) gather.attrs[key] = matmul.attrs.at(key);
  gather.attrs.erase("weight");
}

PackedMatrixS8 stored_packed_weight(const Node& node) { return view_of(read_packed(node)); }

PackedWeightSlab::PackedWeightSlab(int64_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t rounded = (static_cast<size_t>(std::max<int64_t>(bytes, 1)) + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  SQ_CHECK(p != nullptr, "out of memory allocating ", rounded, " bytes for packed weights");
  mem_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  size_ = static_cast<int64_t>(rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(p, rounded, MADV_HUGEPAGE);  // a hint: without THP nothing changes
#endif
}

Tensor PackedWeightSlab::take(int64_t bytes) {
  SQ_CHECK(bytes % 64 == 0 && used_ + bytes <= size_, "packed weight slab of ", size_,
           " bytes cannot hold ", bytes, " more after ", used_);
  std::shared_ptr<void> view(mem_, static_cast<char*>(mem_.get()) + used_);
  used_ += bytes;
  return Tensor::external(DType::kInt8, {bytes}, std::move(view));
}

int64_t unpacked_weight_bytes(const Node& node, Isa isa) {
  if (has_packed_form(node)) return 0;
  const UnpackedWeight w = read_unpacked(node);
  return kernels::packed_b_bytes(w.k, w.n, isa);
}

int64_t prepack_weight(Node& node, Isa isa, PackedWeightSlab* slab) {
  if (has_packed_form(node)) {
    const PackedAttrs p = read_packed(node);
    if (p.isa == isa) return 0;
    const PackedMatrixS8 re = kernels::repack_b_s8(view_of(p), isa);
    Tensor data(DType::kInt8, {re.data_bytes}), sums(DType::kInt32, {p.n});
    std::memcpy(data.raw(), re.data.get(), static_cast<size_t>(re.data_bytes));
    std::memcpy(sums.raw(), re.col_sums.data(), re.col_sums.size_bytes());
    set_packed_attrs(node, isa, p.k, p.n, std::move(data), std::move(sums));
    return re.data_bytes;
  }
  const UnpackedWeight w = read_unpacked(node);
  const int64_t bytes = kernels::packed_b_bytes(w.k, w.n, isa);
  Tensor data = slab ? slab->take(bytes) : Tensor(DType::kInt8, {bytes});
  Tensor sums(DType::kInt32, {w.n});
  SQ_CHECK(reinterpret_cast<uintptr_t>(data.raw()) % 64 == 0, node.describe(),
           ": tensor storage is not 64-byte aligned");
  kernels::pack_b_s8_into(w.values, w.k, w.n, w.stride_k, w.stride_n, isa, data.data<int8_t>(),
                          sums.data<int32_t>());
  set_packed_attrs(node, isa, w.k, w.n, std::move(data), std::move(sums));
  return bytes;
}

PackedMatrixS8 packed_weight_of(const Node& node) {
  const Isa isa = kernels::default_isa();
  if (has_packed_form(node)) {
    const PackedAttrs p = read_packed(node);
    if (p.isa == isa) return view_of(p);
    g_packed_at_prepare.fetch_add(1, std::memory_order_relaxed);
    PackedMatrixS8 repacked = kernels::repack_b_s8(view_of(p), isa);
    // Stored bytes in a mapped .sqm are not read again (a tied table re-reads its few rows from
    // the file): let their pages go instead of holding both layouts.
    release_mapped_pages(p.data->raw(), p.data->nbytes());
    return repacked;
  }
  const UnpackedWeight w = read_unpacked(node);
  g_packed_at_prepare.fetch_add(1, std::memory_order_relaxed);
  return kernels::pack_b_s8(w.values, w.k, w.n, w.stride_k, w.stride_n, isa);
}

int64_t weights_packed_at_prepare() { return g_packed_at_prepare.load(std::memory_order_relaxed); }

}  // namespace sq
