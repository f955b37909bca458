// Matrix products: MatMul (numpy batched semantics), Gemm, MatMulInteger. All of them run on the
// chunked Eigen GEMM of matmul_gemm.h.
#include <algorithm>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/matmul_gemm.h"
#include "runtime/ops/matmul_plan.h"
#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

// Element types of MatMul and Gemm.
using MatrixTypes = TypeList<float, double, int32_t, int64_t>;

template <typename T>
void run_matmul(const MatMulPlan& plan, const T* a, const T* b, T* c, ThreadPool& pool) {
  GemmProblem<T> g;
  g.m = plan.m;
  g.n = plan.n;
  g.k = plan.k;
  g.lda = plan.k;
  g.ldb = plan.n;
  g.ldc = plan.n;
  g.b = b;
  if (plan.fold_batch) {
    g.m = plan.m * plan.batches;
    g.a = a;
    g.c = c;
    gemm(g, &pool);
    return;
  }
  const int64_t batches = plan.batches;
  auto one = [&](int64_t i, ThreadPool* p) {
    GemmProblem<T> gi = g;
    gi.a = a + plan.a_offsets[static_cast<size_t>(i)];
    gi.b = b + plan.b_offsets[static_cast<size_t>(i)];
    gi.c = c + i * plan.m * plan.n;
    gemm(gi, p);
  };
  const int64_t macs = gemm_macs(g);
  // Many small products: one thread per group of batches; few large ones: split each product.
  if (batches >= 2 * pool.num_threads() || macs < gemm_detail::kMinMacsPerTask) {
    const int64_t grain = std::max<int64_t>(1, gemm_detail::kMinMacsPerTask / macs);
    pool.parallel_for(batches, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(i, nullptr);
    });
  } else {
    for (int64_t i = 0; i < batches; ++i) one(i, &pool);
  }
}

// Dispatches on the (shared) dtype of a and b; the output has the same dtype.
Tensor matmul_any(const Node& node, const Tensor& a, const Tensor& b, ThreadPool& pool) {
  SQ_CHECK(a.dtype() == b.dtype(), node.describe(), ": A is ", dtype_name(a.dtype()), " but B is ",
           dtype_name(b.dtype()));
  const MatMulPlan plan = plan_matmul(node, a.shape(), b.shape());
  Tensor y(a.dtype(), plan.out);
  if (y.numel() == 0) return y;
  visit_dtype(MatrixTypes{}, a.dtype(), node.describe(), [&](auto tag) {
    using T = decltype(tag);
    run_matmul(plan, a.data<T>(), b.data<T>(), y.data<T>(), pool);
  });
  return y;
}

std::unique_ptr<OpKernel> make_matmul(const Node& node, int64_t) {
  check_num_inputs(node, 2, 2);
  return make_kernel([](OpContext& ctx) {
    ctx.set_output(0, matmul_any(ctx.node(), ctx.in(0), ctx.in(1), ctx.pool()));
  });
}

// ------------------------------------------------------------------------------------ Gemm

struct GemmAttrs {
  bool trans_a, trans_b;
  float alpha, beta;
};

template <typename T>
void run_gemm(const GemmAttrs& at, const Tensor& a, const Tensor& b, const Tensor* c, Tensor& y,
              ThreadPool& pool) {
  const int64_t m = y.dim(0), n = y.dim(1);
  GemmProblem<T> g;
  g.trans_a = at.trans_a;
  g.trans_b = at.trans_b;
  g.m = m;
  g.n = n;
  g.k = at.trans_a ? a.dim(0) : a.dim(1);
  g.alpha = static_cast<T>(at.alpha);
  g.a = a.data<T>();
  g.lda = a.dim(1);
  g.b = b.data<T>();
  g.ldb = b.dim(1);
  g.c = y.data<T>();
  g.ldc = n;
  if (c && at.beta != 0.0f) {
    // Y = beta * broadcast(C), then accumulate the product on top.
    const T beta = static_cast<T>(at.beta);
    const T* cv = c->data<T>();
    const int64_t cm = c->rank() == 2 ? c->dim(0) : 1, cn = c->rank() >= 1 ? c->shape().back() : 1;
    T* out = y.data<T>();
    for (int64_t i = 0; i < m; ++i) {
      const T* crow = cv + (cm == 1 ? 0 : i) * cn;
      for (int64_t j = 0; j < n; ++j) out[i * n + j] = beta * crow[cn == 1 ? 0 : j];
    }
    g.beta = T(1);
  }
  gemm(g, &pool);
}

std::unique_ptr<OpKernel> make_gemm(const Node& node, int64_t) {
  check_num_inputs(node, 2, 3);
  const GemmAttrs at{node.attr_int("transA", 0) != 0, node.attr_int("transB", 0) != 0,
                     node.attr_float("alpha", 1.0f), node.attr_float("beta", 1.0f)};
  return make_kernel([at](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    const Tensor* c = ctx.input(2);
    SQ_CHECK(a.rank() == 2 && b.rank() == 2, node.describe(), ": A ", shape_str(a.shape()),
             " and B ", shape_str(b.shape()), " must be 2-D");
    SQ_CHECK(a.dtype() == b.dtype() && (!c || c->dtype() == a.dtype()), node.describe(),
             ": A, B and C must have the same type");
    const int64_t m = at.trans_a ? a.dim(1) : a.dim(0), k = at.trans_a ? a.dim(0) : a.dim(1);
    const int64_t kb = at.trans_b ? b.dim(1) : b.dim(0), n = at.trans_b ? b.dim(0) : b.dim(1);
    SQ_CHECK(k == kb, node.describe(), ": inner dimensions differ: A ", shape_str(a.shape()),
             (at.trans_a ? "^T" : ""), " x B ", shape_str(b.shape()), (at.trans_b ? "^T" : ""),
             " (", k, " vs ", kb, ")");
    if (c) {
      const Shape& cs = c->shape();
      const int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
      SQ_CHECK(cs.size() <= 2 && (cm == 1 || cm == m) && (cn == 1 || cn == n), node.describe(),
               ": C ", shape_str(cs), " does not broadcast to [", m, ",", n, "]");
    }
    Tensor y(a.dtype(), {m, n});
    visit_dtype(MatrixTypes{}, a.dtype(), node.describe(),
                [&](auto tag) { run_gemm<decltype(tag)>(at, a, b, c, y, ctx.pool()); });
    ctx.set_output(0, std::move(y));
  });
}

// --------------------------------------------------------------------------- MatMulInteger

// x - zero_point as int32, the zero point either per tensor (one element) or one per index
// along `axis` (rows of A: axis -2, columns of B: axis -1).
Tensor subtract_zero_point(const Node& node, const Tensor& x, const Tensor* zp, int axis_from_end,
                           const char* what) {
  SQ_CHECK(x.dtype() == DType::kUInt8 || x.dtype() == DType::kInt8, node.describe(), ": ", what,
           " must be uint8 or int8, got ", dtype_name(x.dtype()));
  Tensor y(DType::kInt32, x.shape());
  int32_t* out = y.data<int32_t>();
  const int axis = x.rank() - axis_from_end;
  const int64_t along = axis >= 0 ? x.dim(axis) : 1;
  const int64_t inner =
      dims_product(x.shape(), static_cast<size_t>(std::max(axis, 0)) + 1, x.shape().size());
  std::vector<int32_t> z(1, 0);
  if (zp) {
    SQ_CHECK(zp->dtype() == x.dtype(), node.describe(), ": zero point of ", what, " is ",
             dtype_name(zp->dtype()), ", expected ", dtype_name(x.dtype()));
    SQ_CHECK(zp->numel() == 1 || (zp->rank() == 1 && zp->numel() == along && axis >= 0),
             node.describe(), ": zero point of ", what, " has shape ", shape_str(zp->shape()),
             ", expected one value or ", along);
    z.clear();
    for (int64_t i = 0; i < zp->numel(); ++i)
      z.push_back(static_cast<int32_t>(zp->get_as_int64(i)));
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int32_t zi = z.size() == 1 ? z[0] : z[static_cast<size_t>(i / inner % along)];
    out[i] = static_cast<int32_t>(x.get_as_int64(i)) - zi;
  }
  return y;
}

std::unique_ptr<OpKernel> make_matmul_integer(const Node& node, int64_t) {
  check_num_inputs(node, 2, 4);
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    const Tensor a32 = subtract_zero_point(node, a, ctx.input(2), 2, "A");
    const Tensor b32 = subtract_zero_point(node, b, ctx.input(3), b.rank() >= 2 ? 1 : 2, "B");
    ctx.set_output(0, matmul_any(node, a32, b32, ctx.pool()));
  });
}

}  // namespace

void register_matmul_ops(OpRegistry& r) {
  r.add("MatMul", make_matmul);
  r.add("Gemm", make_gemm);
  r.add("MatMulInteger", make_matmul_integer);
}

}  // namespace sq
