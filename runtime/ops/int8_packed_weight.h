// Why this exists: a MatMulU8S8ToFloat node carries its int8 weight in one of two forms, and
// both the engine (prepacking before the kernels are prepared, so a model's weights are never
// held twice) and the .sqm writer (storing weights packed for a target ISA) need the same
// conversion, while the kernel needs one way to get the packed matrix back out of either form:
//
//   unpacked  weight (int8 [K, N], or [N, K] with weight_transposed = 1)
//   packed    packed_weight (int8 [packed_b_bytes(K, N, isa)], 64-byte aligned, the ISA's GEMM
//             layout), packed_col_sums (int32 [N]), packed_isa (string: isa_name), packed_k,
//             packed_n (int)
//
// weight_scale (and everything else) is the same in both forms. A GatherDequantize whose int8
// table is a MatMulU8S8ToFloat's transposed weight (an embedding tied to the LM head) may carry
// the same packed attributes, sharing that node's packed tensors, so the table is held once.
#pragma once

#include <cstdint>

#include "runtime/graph/ir.h"
#include "runtime/kernels/gemm_u8s8.h"

namespace sq {

// One buffer for the packed weights of a model, 2 MiB-aligned and advised for transparent huge
// pages (MADV_HUGEPAGE) before anything is written: a decode step streams every weight once, and
// separate heap buffers of 4 KiB pages cost it TLB misses. Pages are touched only as weights are
// packed into it, so peak memory is unchanged.
class PackedWeightSlab {
 public:
  explicit PackedWeightSlab(int64_t bytes);
  // The next `bytes` (a multiple of 64) as an int8 tensor sharing the slab; throws sq::Error if
  // the slab is used up.
  Tensor take(int64_t bytes);

 private:
  std::shared_ptr<void> mem_;
  int64_t size_ = 0, used_ = 0;
};

// Bytes prepack_weight will pack for `node` in `isa`'s layout when its weight is unpacked, else 0.
int64_t unpacked_weight_bytes(const Node& node, kernels::Isa isa);

// Replaces `node`'s unpacked weight by the packed form for `isa`; the unpacked attribute is
// dropped at once (its memory is freed here if nothing else holds it). Returns the packed bytes
// added; a node already packed for `isa` is left as it is (returns 0), one packed for another ISA
// is repacked. An unpacked weight is packed into `slab` when given. Throws sq::Error for a node
// whose weight attributes are invalid.
int64_t prepack_weight(Node& node, kernels::Isa isa, PackedWeightSlab* slab = nullptr);

// The packed matrix a kernel uses, for the runtime's ISA (kernels::default_isa()). From the
// packed form in that ISA's layout: the attribute's memory itself (a mapped .sqm: no copy, no
// packing work). From the packed form of another ISA: repacked (correct, slower). From the
// unpacked form: packed. Every attribute is validated first (sizes against K, N and the ISA,
// alignment); throws sq::Error naming the node otherwise.
kernels::PackedMatrixS8 packed_weight_of(const Node& node);

// True if `node` carries any packed_* attribute (then all of them must be valid).
bool has_packed_form(const Node& node);

// Points `gather` (GatherDequantize over [V, D], the table `matmul` had as its transposed weight
// before prepack_weight) at `matmul`'s packed tensors, and drops its own table attribute.
void share_packed_table(Node& gather, const Node& matmul);

// The packed matrix as stored, in whatever ISA's layout (validated, never repacked): for readers
// of single columns (GatherDequantize reads table row r as packed column r).
kernels::PackedMatrixS8 stored_packed_weight(const Node& node);

// Weights packed or repacked by packed_weight_of in this process so far (tests check that a
// model prepacked for the running ISA needs none).
int64_t weights_packed_at_prepare();

}  // namespace sq
