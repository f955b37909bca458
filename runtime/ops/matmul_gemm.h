// Why this exists: MatMul, Gemm and Conv (1x1 and im2col) all reduce to one row-major GEMM. This
// header is the single place that maps it onto Eigen and splits the output across the session's
// ThreadPool: each task runs one single-threaded Eigen product on a block of rows or columns of C
// (Eigen is built without OpenMP, so it never starts threads of its own).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "runtime/core/thread_pool.h"

namespace sq {

// C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, all row-major with leading dimensions.
// op(A) is A^T when trans_a (A stored [k, m]); op(B) is B^T when trans_b (B stored [n, k]).
// With beta == 0, C's previous contents are ignored (may be uninitialized).
template <typename T>
struct GemmProblem {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  T alpha = T(1), beta = T(0);
  const T* a = nullptr;
  int64_t lda = 0;
  const T* b = nullptr;
  int64_t ldb = 0;
  T* c = nullptr;
  int64_t ldc = 0;
};

namespace gemm_detail {

// A task below this many multiply-adds is not worth handing to another thread.
constexpr int64_t kMinMacsPerTask = int64_t{1} << 18;
// Column splits are multiples of this, so every task's rows start SIMD-aligned relative to C.
constexpr int64_t kColumnBlock = 16;

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstView = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using View = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Rows [m0, m1) of op(A).
template <typename T, bool kTrans>
auto a_rows(const GemmProblem<T>& p, int64_t m0, int64_t m1) {
  if constexpr (kTrans) {
    return ConstView<T>(p.a + m0, p.k, m1 - m0, Eigen::OuterStride<>(p.lda)).transpose();
  } else {
    return ConstView<T>(p.a + m0 * p.lda, m1 - m0, p.k, Eigen::OuterStride<>(p.lda));
  }
}

// Columns [n0, n1) of op(B).
template <typename T, bool kTrans>
auto b_cols(const GemmProblem<T>& p, int64_t n0, int64_t n1) {
  if constexpr (kTrans) {
    return ConstView<T>(p.b + n0 * p.ldb, n1 - n0, p.k, Eigen::OuterStride<>(p.ldb)).transpose();
  } else {
    return ConstView<T>(p.b + n0, p.k, n1 - n0, Eigen::OuterStride<>(p.ldb));
  }
}

template <typename T, bool kTransA, bool kTransB>
void block(const GemmProblem<T>& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  View<T> c(p.c + m0 * p.ldc + n0, m1 - m0, n1 - n0, Eigen::OuterStride<>(p.ldc));
  if (p.k == 0) {
    if (p.beta == T(0)) {
      c.setZero();
    } else {
      c *= p.beta;
    }
    return;
  }
  auto a = a_rows<T, kTransA>(p, m0, m1);
  auto b = b_cols<T, kTransB>(p, n0, n1);
  if (p.beta == T(0)) {
    c.noalias() = p.alpha * a * b;
  } else {
    if (p.beta != T(1)) c *= p.beta;
    c.noalias() += p.alpha * a * b;
  }
}

// The block [m0, m1) x [n0, n1) of C, on the calling thread.
template <typename T>
void tile(const GemmProblem<T>& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 <= m0 || n1 <= n0) return;
  if (p.trans_a) {
    p.trans_b ? block<T, true, true>(p, m0, m1, n0, n1) : block<T, true, false>(p, m0, m1, n0, n1);
  } else {
    p.trans_b ? block<T, false, true>(p, m0, m1, n0, n1)
              : block<T, false, false>(p, m0, m1, n0, n1);
  }
}

}  // namespace gemm_detail

// Multiply-adds of the problem, for callers choosing between splitting batches and splitting C.
template <typename T>
int64_t gemm_macs(const GemmProblem<T>& p) {
  return p.m * p.n * std::max<int64_t>(p.k, 1);
}

// Runs the problem, split over pool's threads along the larger of m and n when it is big enough.
// pool may be null (single-threaded, e.g. when the caller already parallelizes over batches).
template <typename T>
void gemm(const GemmProblem<T>& p, ThreadPool* pool) {
  using gemm_detail::kColumnBlock;
  using gemm_detail::kMinMacsPerTask;
  if (p.m <= 0 || p.n <= 0) return;
  if (!pool || pool->num_threads() < 2 || gemm_macs(p) < 2 * kMinMacsPerTask) {
    gemm_detail::tile(p, 0, p.m, 0, p.n);
    return;
  }
  const int64_t k = std::max<int64_t>(p.k, 1);
  if (p.m >= p.n) {
    const int64_t grain = std::max<int64_t>(1, kMinMacsPerTask / (p.n * k));
    pool->parallel_for(p.m, grain,
                       [&](int64_t m0, int64_t m1) { gemm_detail::tile(p, m0, m1, 0, p.n); });
  } else {
    const int64_t blocks = (p.n + kColumnBlock - 1) / kColumnBlock;
    const int64_t grain = std::max<int64_t>(1, kMinMacsPerTask / (p.m * k * kColumnBlock));
    pool->parallel_for(blocks, grain, [&](int64_t b0, int64_t b1) {
      gemm_detail::tile(p, 0, p.m, b0 * kColumnBlock, std::min(p.n, b1 * kColumnBlock));
    });
  }
}

}  // namespace sq
