#include "runtime/ops/dtype_dispatch.h"

#include "runtime/ops/op_util.h"

namespace sq {

Tensor convert_tensor(const Tensor& t, DType to, ThreadPool* pool) {
  if (t.dtype() == to) return t;
  Tensor out(to, t.shape());
  const int64_t n = t.numel();
  visit_dtype(AllTypes{}, t.dtype(), "convert_tensor", [&](auto from_tag) {
    using From = decltype(from_tag);
    visit_dtype(AllTypes{}, to, "convert_tensor", [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* src = t.data<From>();
      To* dst = out.data<To>();
      auto body = [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = convert_value<To>(src[i]);
      };
      if (pool) {
        pool->parallel_for(n, kElementwiseGrain, body);
      } else {
        body(0, n);
      }
    });
  });
  return out;
}

}  // namespace sq
