#include "runtime/ops/matmul_plan.h"

#include "runtime/ops/broadcast.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {

MatMulPlan plan_matmul(const Node& node, const Shape& a, const Shape& b) {
  SQ_CHECK(!a.empty() && !b.empty(), node.describe(), ": MatMul inputs must have rank >= 1, got ",
           shape_str(a), " and ", shape_str(b));
  MatMulPlan p;
  const bool vec_a = a.size() == 1, vec_b = b.size() == 1;
  p.m = vec_a ? 1 : a[a.size() - 2];
  p.k = a.back();
  const int64_t kb = vec_b ? b[0] : b[b.size() - 2];
  p.n = vec_b ? 1 : b.back();
  SQ_CHECK(p.k == kb, node.describe(), ": inner dimensions differ: A ", shape_str(a), " x B ",
           shape_str(b), " (", p.k, " vs ", kb, ")");
  // The batch dimensions broadcast numpy-style; each batch element is one matrix product.
  const Shape ba(a.begin(), a.end() - (vec_a ? 1 : 2)), bb(b.begin(), b.end() - (vec_b ? 1 : 2));
  const BroadcastPlan batch =
      make_broadcast_plan({ba, bb}, node.describe() + " (batch dimensions of A " + shape_str(a) +
                                        " and B " + shape_str(b) + ")");
  p.out = batch.out_shape;
  if (!vec_a) p.out.push_back(p.m);
  if (!vec_b) p.out.push_back(p.n);
  p.batches = batch.numel;
  if (shape_numel(bb) == 1) {
    p.fold_batch = true;  // A's matrices are consecutive and all use the same B
    return p;
  }
  p.a_offsets.resize(static_cast<size_t>(p.batches));
  p.b_offsets.resize(static_cast<size_t>(p.batches));
  batch.for_each_run(0, p.batches,
                     [&](int64_t o, const int64_t* off, const int64_t* st, int64_t n) {
                       for (int64_t j = 0; j < n; ++j) {
                         const auto i = static_cast<size_t>(o + j);
                         p.a_offsets[i] = (off[0] + j * st[0]) * p.m * p.k;
                         p.b_offsets[i] = (off[1] + j * st[1]) * p.k * p.n;
                       }
                     });
  return p;
}

}  // namespace sq
