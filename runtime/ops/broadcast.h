// Why this exists: ONNX multidirectional (numpy) broadcasting, shared by every op that combines
// tensors of different shapes (Add, Where, Expand, Clip, ...).
//
// A BroadcastPlan collapses the output's loop nest once: size-1 output dims are dropped and
// adjacent dims that every input walks contiguously (or not at all) are merged. Equal shapes
// become one contiguous run, [512,768] + [768] becomes 512 runs of 768 with the vector re-read,
// and a scalar is a run with stride 0. Kernels then see runs: an output offset, one offset per
// input and each input's stride inside the run (1, or 0 when that input is broadcast along it),
// so their inner loops are plain vectorizable loops.
//
// Usage:
//   BroadcastPlan plan = make_broadcast_plan({a.shape(), b.shape()}, node.describe());
//   Tensor out(DType::kFloat32, plan.out_shape);
//   broadcast_binary(plan, a.data<float>(), b.data<float>(), out.data<float>(), pool,
//                    [](float x, float y) { return x + y; });
// or, for any number of inputs, parallel_for_each_run(plan, pool, fn) with
//   fn(int64_t out_offset, const int64_t* in_offsets, const int64_t* in_strides, int64_t n).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"

namespace sq {

// The broadcast of several shapes; throws sq::Error "<who>: cannot broadcast shapes [..] and [..]".
Shape broadcast_shapes(const std::vector<Shape>& shapes, const std::string& who);

// Element strides of a contiguous tensor of shape `in` viewed as `out` (right-aligned, 0 where
// `in` is broadcast). `in` must broadcast to `out` (checked by the plan makers, not here).
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);

struct BroadcastPlan {
  static constexpr int kMaxInputs = 4;

  Shape out_shape;
  int64_t numel = 0;  // elements of out_shape
  int num_inputs = 0;
  // Collapsed loop nest, outermost first; dims.back() is the length of one run (never empty).
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, kMaxInputs> strides;  // [input][collapsed dim]
  std::array<int64_t, kMaxInputs> inner_strides{};       // strides[i].back(): 0 or 1

  // Calls fn(out_offset, in_offsets, inner_strides, n) for the runs covering output elements
  // [begin, end), splitting runs at the range edges.
  template <typename Fn>
  void for_each_run(int64_t begin, int64_t end, Fn&& fn) const;
};

// Plan for inputs broadcast against each other (out_shape = broadcast_shapes(inputs)).
BroadcastPlan make_broadcast_plan(const std::vector<Shape>& inputs, const std::string& who);
// Plan for inputs broadcast to a given output shape (each input must broadcast to `out` without
// changing it: unidirectional broadcasting, as Expand or a bias needs).
BroadcastPlan make_broadcast_plan_to(const std::vector<Shape>& inputs, const Shape& out,
                                     const std::string& who);

// Copies `t` broadcast (unidirectionally) to `shape`: Expand's kernel, also used to materialize a
// small broadcast operand such as a normalization scale. Any element type. Throws naming `who`.
Tensor broadcast_to(const Tensor& t, const Shape& shape, const std::string& who, ThreadPool& pool);

// Runs for_each_run over the whole output on the pool (chunks of >= `grain` elements).
template <typename Fn>
void parallel_for_each_run(const BroadcastPlan& plan, ThreadPool& pool, Fn&& fn,
                           int64_t grain = 1 << 15) {
  pool.parallel_for(plan.numel, grain,
                    [&](int64_t begin, int64_t end) { plan.for_each_run(begin, end, fn); });
}

// out[i] = f(a[i], b[i]) under a two-input plan, with the inner loop specialized for each
// combination of contiguous / broadcast operands.
template <typename A, typename B, typename Out, typename F>
void broadcast_binary(const BroadcastPlan& plan, const A* a, const B* b, Out* out, ThreadPool& pool,
                      F f) {
  parallel_for_each_run(plan, pool,
                        [&](int64_t o, const int64_t* off, const int64_t* st, int64_t n) {
                          const A* pa = a + off[0];
                          const B* pb = b + off[1];
                          Out* po = out + o;
                          if (st[0] && st[1]) {
                            for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
                          } else if (st[0]) {
                            const B vb = *pb;
                            for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
                          } else if (st[1]) {
                            const A va = *pa;
                            for (int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
                          } else {
                            std::fill(po, po + n, static_cast<Out>(f(*pa, *pb)));
                          }
                        });
}

template <typename Fn>
void BroadcastPlan::for_each_run(int64_t begin, int64_t end, Fn&& fn) const {
  if (begin >= end) return;
  const size_t rank = dims.size();
  const int64_t inner = dims.back();
  int64_t run = begin / inner, k = begin % inner;
  // Odometer over the outer dims, and each input's offset at the start of the current run.
  std::vector<int64_t> idx(rank - 1);
  std::array<int64_t, kMaxInputs> base{}, off{};
  for (size_t d = rank - 1; d-- > 0;) {
    idx[d] = run % dims[d];
    run /= dims[d];
    for (int i = 0; i < num_inputs; ++i) base[i] += idx[d] * strides[i][d];
  }
  for (int64_t pos = begin;;) {
    const int64_t n = std::min(inner - k, end - pos);
    for (int i = 0; i < num_inputs; ++i) off[i] = base[i] + k * inner_strides[i];
    fn(pos, off.data(), inner_strides.data(), n);
    pos += n;
    if (pos >= end) return;
    k = 0;
    for (size_t d = rank - 1; d-- > 0;) {
      for (int i = 0; i < num_inputs; ++i) base[i] += strides[i][d];
      if (++idx[d] < dims[d]) break;
      for (int i = 0; i < num_inputs; ++i) base[i] -= dims[d] * strides[i][d];
      idx[d] = 0;
    }
  }
}

}  // namespace sq
