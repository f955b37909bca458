// Why this exists: most elementwise math (Sqrt, Exp, Relu, Gelu, ...) is "apply f to every
// element, same shape and type out". map_unary() is that loop once: dtype dispatch over the
// op's supported types, float16 computed in float32, parallel chunks, vectorizable inner loop.
#pragma once

#include <string>

#include "runtime/core/thread_pool.h"
#include "runtime/ops/dtype_dispatch.h"
#include "runtime/ops/op_util.h"

namespace sq {

// Returns f(x) elementwise; f is generic (called with each T in Types, must return something
// convertible to T). float16 inputs are computed in float32 (float must be in Types).
// `what` names the node in the unsupported-type error.
template <typename... Ts, typename F>
Tensor map_unary(TypeList<Ts...> types, const Tensor& x, ThreadPool& pool, const std::string& what,
                 F f) {
  if (contains_type<float>(types) && x.dtype() == DType::kFloat16) {
    Tensor y = map_unary(types, convert_tensor(x, DType::kFloat32, &pool), pool, what, f);
    return convert_tensor(y, DType::kFloat16, &pool);
  }
  Tensor out(x.dtype(), x.shape());
  visit_dtype(types, x.dtype(), what, [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    pool.parallel_for(x.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = static_cast<T>(f(in[i]));
    });
  });
  return out;
}

}  // namespace sq
