#include "runtime/ops/broadcast.h"

#include "runtime/ops/dtype_dispatch.h"

namespace sq {

namespace {

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (i) s += (i + 1 == shapes.size()) ? " and " : ", ";
    s += shape_str(shapes[i]);
  }
  return s;
}

}  // namespace

Shape broadcast_shapes(const std::vector<Shape>& shapes, const std::string& who) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    const size_t lead = rank - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[lead + d];
      const int64_t v = s[d];
      if (v == o || v == 1) continue;
      if (o == 1) {
        o = v;
        continue;
      }
      throw make_error(who, ": cannot broadcast shapes ", shapes_str(shapes), " (dimension ",
                       static_cast<int64_t>(lead + d) - static_cast<int64_t>(rank), ": ", o, " vs ",
                       v, ")");
    }
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  const size_t lead = out.size() - in.size();
  int64_t stride = 1;
  for (size_t d = in.size(); d-- > 0;) {
    st[lead + d] = (in[d] == 1 && out[lead + d] != 1) ? 0 : stride;
    stride *= in[d];
  }
  return st;
}

BroadcastPlan make_broadcast_plan_to(const std::vector<Shape>& inputs, const Shape& out,
                                     const std::string& who) {
  SQ_CHECK(!inputs.empty() && inputs.size() <= BroadcastPlan::kMaxInputs, who,
           ": broadcasting supports 1 to ", BroadcastPlan::kMaxInputs, " inputs, got ",
           inputs.size());
  for (const Shape& s : inputs) {
    bool ok = s.size() <= out.size();
    for (size_t d = 0; ok && d < s.size(); ++d) {
      const int64_t o = out[out.size() - s.size() + d];
      ok = s[d] == o || s[d] == 1;
    }
    SQ_CHECK(ok, who, ": cannot broadcast shape ", shape_str(s), " to ", shape_str(out));
  }
  BroadcastPlan p;
  p.out_shape = out;
  p.numel = shape_numel(out);
  p.num_inputs = static_cast<int>(inputs.size());
  std::vector<std::vector<int64_t>> full;
  for (const Shape& s : inputs) full.push_back(broadcast_strides(s, out));
  // Walk from the innermost dim outwards, dropping size-1 dims and merging a dim into the one
  // inside it when every input steps through both as one contiguous (or constant) range.
  std::vector<int64_t> dims;  // innermost first while building
  std::vector<std::vector<int64_t>> st(inputs.size());
  for (size_t d = out.size(); d-- > 0;) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t i = 0; merge && i < inputs.size(); ++i) {
      merge = full[i][d] == st[i].back() * dims.back();
    }
    if (merge) {
      dims.back() *= out[d];
      continue;
    }
    dims.push_back(out[d]);
    for (size_t i = 0; i < inputs.size(); ++i) st[i].push_back(full[i][d]);
  }
  if (dims.empty()) {  // scalar output (or all dims 1)
    dims.push_back(1);
    for (auto& s : st) s.push_back(0);
  }
  p.dims.assign(dims.rbegin(), dims.rend());
  for (size_t i = 0; i < inputs.size(); ++i) {
    p.strides[i].assign(st[i].rbegin(), st[i].rend());
    p.inner_strides[i] = p.strides[i].back();
  }
  return p;
}

BroadcastPlan make_broadcast_plan(const std::vector<Shape>& inputs, const std::string& who) {
  return make_broadcast_plan_to(inputs, broadcast_shapes(inputs, who), who);
}

Tensor broadcast_to(const Tensor& t, const Shape& shape, const std::string& who, ThreadPool& pool) {
  BroadcastPlan plan = make_broadcast_plan_to({t.shape()}, shape, who);
  Tensor out(t.dtype(), shape);
  visit_dtype(AllTypes{}, t.dtype(), who, [&](auto tag) {
    using T = decltype(tag);
    const T* in = t.data<T>();
    T* po = out.data<T>();
    parallel_for_each_run(plan, pool,
                          [&](int64_t o, const int64_t* off, const int64_t* st, int64_t n) {
                            if (st[0]) {
                              std::copy(in + off[0], in + off[0] + n, po + o);
                            } else {
                              std::fill(po + o, po + o + n, in[off[0]]);
                            }
                          });
  });
  return out;
}

}  // namespace sq
