// Int8 GEMM front end: packs B into the chosen ISA's layout (with column sums), checks the call
// and dispatches to that ISA's kernel. Also the baseline-compiled helpers the kernels share.
#include "runtime/kernels/gemm_u8s8.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <new>

#include "runtime/kernels/gemm_u8s8_impl.h"

namespace sq::kernels {
namespace gemm_detail {

GemmLayout layout_of(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return kScalarLayout;
    case Isa::kAvx2:
      return kAvx2Layout;
    case Isa::kAvx512Vnni:
      return kAvx512VnniLayout;
    case Isa::kNeon:
      return kNeonLayout;
    case Isa::kNeonDot:
      return kNeonDotLayout;
  }
  assert(false && "unknown Isa");
  return kScalarLayout;
}

int32_t row_sum_u8(const uint8_t* row, int64_t k) {
  uint32_t s = 0;
  for (int64_t kk = 0; kk < k; ++kk) s += row[kk];
  return static_cast<int32_t>(s);
}

int32_t row_term(const GemmArgs& g, int64_t i) {
  if (g.e.b_zero == 0) return 0;
  const uint32_t s = static_cast<uint32_t>(row_sum_u8(g.a + i * g.lda, g.k));
  return static_cast<int32_t>(0u - static_cast<uint32_t>(g.e.b_zero) * s);
}

void finish_tile(const GemmArgs& g, const int32_t* raw, int64_t ld_raw, int64_t i0, int mr,
                 int64_t j0, int nc, const int32_t* row_terms, int32_t a_offset) {
  const uint32_t a_coef = static_cast<uint32_t>(g.e.a_zero - a_offset);
  for (int jj = 0; jj < nc; ++jj) {
    const int64_t j = j0 + jj;
    const uint32_t col =
        static_cast<uint32_t>(g.kab) - a_coef * static_cast<uint32_t>(g.col_sums[j]);
    const float mult = g.e.col_scale ? g.e.scale * g.e.col_scale[j] : g.e.scale;
    const float bias = g.e.bias ? g.e.bias[j] : 0.0f;
    for (int r = 0; r < mr; ++r) {
      const int32_t acc = static_cast<int32_t>(static_cast<uint32_t>(raw[r * ld_raw + jj]) + col +
                                               static_cast<uint32_t>(row_terms[r]));
      g.c[(i0 + r) * g.ldc + j] = std::fma(static_cast<float>(acc), mult, bias);
    }
  }
}

}  // namespace gemm_detail

using gemm_detail::GemmLayout;

namespace {

int64_t padded_k(const GemmLayout& l, int64_t k) {
  return (k + l.k_align - 1) / l.k_align * l.k_align;
}

// Offset of B[kk][j] in a matrix packed with layout l (see gemm_u8s8_impl.h).
int64_t packed_offset(const GemmLayout& l, int64_t k_pad, int64_t kk, int64_t j) {
  return (j / l.nr) * k_pad * l.nr + (kk / l.kg) * l.nr * l.kg + (j % l.nr) * l.kg + kk % l.kg;
}

// Fresh 64-byte aligned storage for packed data followed by n column sums, zeroed.
std::shared_ptr<int8_t[]> allocate_packed(int64_t data_bytes, int64_t n) {
  const auto total = static_cast<size_t>(data_bytes + n * static_cast<int64_t>(sizeof(int32_t)));
  auto* mem = static_cast<int8_t*>(::operator new[](total, std::align_val_t{64}));
  std::memset(mem, 0, total);
  return std::shared_ptr<int8_t[]>(mem,
                                   [](int8_t* q) { ::operator delete[](q, std::align_val_t{64}); });
}

PackedMatrixS8 own_packed(Isa isa, int64_t k, int64_t n, std::shared_ptr<int8_t[]> mem,
                          int64_t data_bytes) {
  PackedMatrixS8 p;
  p.isa = isa;
  p.k = k;
  p.n = n;
  p.col_sums = std::span<const int32_t>(reinterpret_cast<const int32_t*>(mem.get() + data_bytes),
                                        static_cast<size_t>(n));
  p.data = std::move(mem);
  p.data_bytes = data_bytes;
  return p;
}

}  // namespace

int64_t packed_b_bytes(int64_t k, int64_t n, Isa isa) {
  const GemmLayout l = gemm_detail::layout_of(isa);
  const int64_t panels = (n + l.nr - 1) / l.nr;
  return std::max<int64_t>(64, (panels * padded_k(l, k) * l.nr + 63) / 64 * 64);
}

void pack_b_s8_into(const int8_t* b, int64_t k, int64_t n, int64_t stride_k, int64_t stride_n,
                    Isa isa, int8_t* out, int32_t* col_sums) {
  assert(k >= 0 && n >= 0);
  const GemmLayout l = gemm_detail::layout_of(isa);
  const int64_t k_pad = padded_k(l, k);
  std::memset(out, 0, static_cast<size_t>(packed_b_bytes(k, n, isa)));
  for (int64_t j = 0; j < n; ++j) {
    int32_t sum = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t v = b[kk * stride_k + j * stride_n];
      out[packed_offset(l, k_pad, kk, j)] = v;
      sum += v;
    }
    col_sums[j] = sum;
  }
}

PackedMatrixS8 pack_b_s8(const int8_t* b, int64_t k, int64_t n, int64_t stride_k, int64_t stride_n,
                         Isa isa) {
  const int64_t bytes = packed_b_bytes(k, n, isa);
  std::shared_ptr<int8_t[]> mem = allocate_packed(bytes, n);
  pack_b_s8_into(b, k, n, stride_k, stride_n, isa, mem.get(),
                 reinterpret_cast<int32_t*>(mem.get() + bytes));
  return own_packed(isa, k, n, std::move(mem), bytes);
}

PackedMatrixS8 packed_b_s8_view(Isa isa, int64_t k, int64_t n, const int8_t* data,
                                const int32_t* col_sums, std::shared_ptr<const void> owner) {
  assert(reinterpret_cast<uintptr_t>(data) % 64 == 0);
  PackedMatrixS8 p;
  p.isa = isa;
  p.k = k;
  p.n = n;
  p.data = std::shared_ptr<const int8_t[]>(std::move(owner), data);
  p.data_bytes = packed_b_bytes(k, n, isa);
  p.col_sums = std::span<const int32_t>(col_sums, static_cast<size_t>(n));
  return p;
}

PackedMatrixS8 repack_b_s8(const PackedMatrixS8& from, Isa isa) {
  const GemmLayout src = gemm_detail::layout_of(from.isa), dst = gemm_detail::layout_of(isa);
  const int64_t k = from.k, n = from.n, src_k_pad = padded_k(src, k), dst_k_pad = padded_k(dst, k);
  const int64_t bytes = packed_b_bytes(k, n, isa);
  std::shared_ptr<int8_t[]> mem = allocate_packed(bytes, n);
  int8_t* out = mem.get();
  const int8_t* in = from.data.get();
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t kk = 0; kk < k; ++kk) {
      out[packed_offset(dst, dst_k_pad, kk, j)] = in[packed_offset(src, src_k_pad, kk, j)];
    }
  }
  std::memcpy(out + bytes, from.col_sums.data(), static_cast<size_t>(n) * sizeof(int32_t));
  return own_packed(isa, k, n, std::move(mem), bytes);
}

void packed_b_column(const PackedMatrixS8& b, int64_t j, int8_t* out) {
  assert(0 <= j && j < b.n);
  const GemmLayout l = gemm_detail::layout_of(b.isa);
  const int64_t k_pad = padded_k(l, b.k);
  const int8_t* in = b.data.get();
  for (int64_t kk = 0; kk < b.k; ++kk) out[kk] = in[packed_offset(l, k_pad, kk, j)];
}

int64_t gemm_column_block(Isa isa) { return gemm_detail::layout_of(isa).nr; }

void gemm_u8s8_f32(const uint8_t* a, int64_t m, int64_t lda, const PackedMatrixS8& b,
                   int64_t n_begin, int64_t n_end, const GemmU8S8Epilogue& epilogue, float* c,
                   int64_t ldc) {
  const GemmLayout l = gemm_detail::layout_of(b.isa);
  assert(m >= 0 && lda >= b.k && ldc >= n_end);
  assert(0 <= n_begin && n_begin <= n_end && n_end <= b.n);
  assert(n_begin % l.nr == 0);
  if (m == 0 || n_begin == n_end) return;

  gemm_detail::GemmArgs g;
  g.a = a;
  g.m = m;
  g.lda = lda;
  g.b = b.data.get();
  g.col_sums = b.col_sums.data();
  g.k = b.k;
  g.n = b.n;
  g.k_pad = padded_k(l, b.k);
  g.n_begin = n_begin;
  g.n_end = n_end;
  g.e = epilogue;
  g.kab = static_cast<int32_t>(static_cast<uint32_t>(b.k) * static_cast<uint32_t>(epilogue.a_zero) *
                               static_cast<uint32_t>(epilogue.b_zero));
  g.c = c;
  g.ldc = ldc;

  if (b.k == 0) {  // no products: every layout reduces to the reference epilogue
    gemm_detail::gemm_ref(g);
    return;
  }
  switch (b.isa) {
    case Isa::kScalar:
      gemm_detail::gemm_ref(g);
      return;
#if defined(SQ_HAVE_X86_KERNELS)
    case Isa::kAvx2:
      gemm_detail::gemm_avx2(g);
      return;
    case Isa::kAvx512Vnni:
      gemm_detail::gemm_avx512vnni(g);
      return;
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
    case Isa::kNeon:
      gemm_detail::gemm_neon(g);
      return;
    case Isa::kNeonDot:
      gemm_detail::gemm_neondot(g);
      return;
#endif
    default:
      break;
  }
  assert(false && "gemm_u8s8_f32: B packed for an ISA not compiled into this binary");
}

}  // namespace sq::kernels
