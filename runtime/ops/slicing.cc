// Slicing and indexing ops: Concat, Slice, Split, Gather, GatherElements, Tile, ScatterND, Trilu,
// Pad. They only move elements, so every dtype is handled by element size.
#include <algorithm>
#include <cstring>
#include <limits>

#include "runtime/ops/op.h"
#include "runtime/ops/shape_ops_strided_copy.h"
#include "runtime/ops/shape_ops_util.h"

namespace sq {
namespace {

// Copies below this many bytes per task stay on the calling thread.
constexpr int64_t kMinBytesPerTask = int64_t{1} << 16;

void parallel_items(ThreadPool& pool, int64_t n, int64_t bytes_per_item,
                    const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t grain =
      std::max<int64_t>(1, kMinBytesPerTask / std::max<int64_t>(1, bytes_per_item));
  if (n > grain) {
    pool.parallel_for(n, grain, fn);
  } else if (n > 0) {
    fn(0, n);
  }
}

// Index into an axis of size `dim`, negative counting from the end; throws if out of range.
int64_t checked_index(const Node& node, int64_t i, int64_t dim, const char* what) {
  SQ_CHECK(i >= -dim && i < dim, node.describe(), ": ", what, " ", i,
           " is out of range for an axis of size ", dim);
  return i < 0 ? i + dim : i;
}

const uint8_t* bytes(const Tensor& t) { return static_cast<const uint8_t*>(t.raw()); }
uint8_t* bytes(Tensor& t) { return static_cast<uint8_t*>(t.raw()); }

// ---------------------------------------------------------------------------------- Concat

std::unique_ptr<OpKernel> make_concat(const Node& node, int64_t) {
  check_num_inputs(node, 1, std::numeric_limits<size_t>::max());
  const int64_t axis = node.attr_int("axis");
  return make_kernel([axis](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& first = ctx.in(0);
    const int64_t r = first.rank();
    SQ_CHECK(r > 0, node.describe(), ": cannot concatenate scalars");
    const int a = normalize_axis(node, axis, r);
    Shape out = first.shape();
    out[static_cast<size_t>(a)] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.in(i);
      SQ_CHECK(t.dtype() == first.dtype(), node.describe(), ": input ", i, " '", node.input(i),
               "' is ", dtype_name(t.dtype()), ", expected ", dtype_name(first.dtype()),
               " like input 0");
      SQ_CHECK(t.rank() == r, node.describe(), ": input ", i, " '", node.input(i), "' has shape ",
               shape_str(t.shape()), " of rank ", t.rank(), ", expected rank ", r, " like input 0 ",
               shape_str(first.shape()));
      for (int k = 0; k < r; ++k) {
        SQ_CHECK(k == a || t.dim(k) == first.dim(k), node.describe(), ": input ", i, " '",
                 node.input(i), "' has shape ", shape_str(t.shape()), ", expected ",
                 shape_str(first.shape()), " except on axis ", a);
      }
      out[static_cast<size_t>(a)] += t.dim(a);
    }
    Tensor y(first.dtype(), out);
    const int64_t outer = dims_product(out, 0, static_cast<size_t>(a));
    const int64_t inner = dims_product(out, static_cast<size_t>(a) + 1, out.size()) *
                          static_cast<int64_t>(dtype_size(first.dtype()));
    const int64_t out_row = out[static_cast<size_t>(a)] * inner;
    uint8_t* dst = bytes(y);
    parallel_items(ctx.pool(), outer, out_row, [&](int64_t o0, int64_t o1) {
      int64_t col = 0;
      for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        const Tensor& t = ctx.in(i);
        const int64_t chunk = t.dim(a) * inner;
        for (int64_t o = o0; o < o1 && chunk > 0; ++o) {
          std::memcpy(dst + o * out_row + col, bytes(t) + o * chunk, static_cast<size_t>(chunk));
        }
        col += chunk;
      }
    });
    ctx.set_output(0, std::move(y));
  });
}

// ----------------------------------------------------------------------------------- Slice

// One axis of a slice after ONNX's clamping rules: first index, step and element count.
struct SliceAxis {
  int64_t start = 0, step = 1, count = 0;
};

SliceAxis clamp_slice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  SliceAxis s;
  s.step = step;
  if (dim == 0) return s;
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    s.count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    const int64_t mag =
        step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
    s.count = start > end ? (start - end - 1) / mag + 1 : 0;
  }
  s.start = s.count > 0 ? start : 0;
  return s;
}

std::unique_ptr<OpKernel> make_slice(const Node& node, int64_t opset) {
  // Opsets 1-9 carry starts/ends/axes as attributes; 10+ as inputs.
  const bool attr_form = opset < 10;
  std::vector<int64_t> attr_starts, attr_ends;
  std::optional<std::vector<int64_t>> attr_axes;
  if (attr_form) {
    check_num_inputs(node, 1, 1);
    attr_starts = node.attr_ints("starts");
    attr_ends = node.attr_ints("ends");
    attr_axes = node.attr_ints_opt("axes");
  } else {
    check_num_inputs(node, 3, 5);
  }
  return make_kernel([=](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    std::vector<int64_t> starts = attr_starts, ends = attr_ends, steps;
    std::optional<std::vector<int64_t>> axes = attr_axes;
    if (!attr_form) {
      starts = read_int_list(node, ctx.in(1), "starts");
      ends = read_int_list(node, ctx.in(2), "ends");
      if (const Tensor* t = ctx.input(3)) axes = read_int_list(node, *t, "axes");
      if (const Tensor* t = ctx.input(4)) steps = read_int_list(node, *t, "steps");
    }
    const size_t n = starts.size();
    SQ_CHECK(
        ends.size() == n && (!axes || axes->size() == n) && (steps.empty() || steps.size() == n),
        node.describe(), ": starts, ends, axes and steps must have the same length (got ", n, ", ",
        ends.size(), ", ", axes ? axes->size() : n, ", ", steps.empty() ? n : steps.size(), ")");
    const int r = x.rank();
    const auto in_strides = contiguous_strides(x.shape());
    Shape out = x.shape();
    std::vector<int64_t> strides = in_strides;
    std::vector<bool> seen(static_cast<size_t>(r), false);
    int64_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      const int a = normalize_axis(node, axes ? (*axes)[i] : static_cast<int64_t>(i), r);
      const auto ua = static_cast<size_t>(a);
      SQ_CHECK(!seen[ua], node.describe(), ": axis ", a, " is sliced twice");
      seen[ua] = true;
      const int64_t step = steps.empty() ? 1 : steps[i];
      SQ_CHECK(step != 0, node.describe(), ": step for axis ", a, " is 0");
      const SliceAxis s = clamp_slice(starts[i], ends[i], step, x.dim(a));
      out[ua] = s.count;
      strides[ua] = in_strides[ua] * s.step;
      offset += s.start * in_strides[ua];
    }
    Tensor y(x.dtype(), out);
    strided_copy(x.raw(), offset, out, strides, dtype_size(x.dtype()), y.raw(), &ctx.pool());
    ctx.set_output(0, std::move(y));
  });
}

// ----------------------------------------------------------------------------------- Split

std::unique_ptr<OpKernel> make_split(const Node& node, int64_t opset) {
  check_num_inputs(node, 1, 2);
  const int64_t axis = node.attr_int("axis", 0);
  std::optional<std::vector<int64_t>> attr_split;
  if (opset < 13) attr_split = node.attr_ints_opt("split");
  const int64_t num_outputs = node.attr_int("num_outputs", 0);
  const int64_t outputs = static_cast<int64_t>(node.outputs.size());
  SQ_CHECK(!node.has_attr("num_outputs") || num_outputs == outputs, node.describe(),
           ": num_outputs=", num_outputs, " but the node has ", outputs, " outputs");
  SQ_CHECK(!(node.has_attr("num_outputs") && node.num_inputs() > 1), node.describe(),
           ": give either the 'split' input or the num_outputs attribute, not both");
  SQ_CHECK(outputs > 0, node.describe(), ": has no outputs");
  return make_kernel([=](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    SQ_CHECK(x.rank() > 0, node.describe(), ": cannot split a scalar");
    const int a = normalize_axis(node, axis, x.rank());
    const int64_t dim = x.dim(a);
    const auto n = static_cast<int64_t>(ctx.num_outputs());
    std::vector<int64_t> sizes;
    if (const Tensor* t = ctx.input(1)) {
      sizes = read_int_list(node, *t, "split");
    } else if (attr_split) {
      sizes = *attr_split;
    } else {
      // Equal parts; if uneven, every part has ceil(dim / n) and the last one what is left.
      const int64_t chunk = (dim + n - 1) / n;
      SQ_CHECK(dim - chunk * (n - 1) >= 0, node.describe(), ": cannot split axis ", a, " of size ",
               dim, " into ", n, " outputs");
      sizes.assign(static_cast<size_t>(n), chunk);
      sizes.back() = dim - chunk * (n - 1);
    }
    int64_t total = 0;
    for (int64_t s : sizes) {
      SQ_CHECK(s >= 0, node.describe(), ": split ", shape_str(sizes), " has a negative size");
      total += s;
    }
    SQ_CHECK(static_cast<int64_t>(sizes.size()) == n && total == dim, node.describe(), ": split ",
             shape_str(sizes), " does not divide axis ", a, " of size ", dim, " into ", n,
             " outputs");
    const int64_t outer = dims_product(x.shape(), 0, static_cast<size_t>(a));
    const int64_t inner = dims_product(x.shape(), static_cast<size_t>(a) + 1, x.shape().size()) *
                          static_cast<int64_t>(dtype_size(x.dtype()));
    const int64_t in_row = dim * inner;
    int64_t col = 0;
    for (int64_t o = 0; o < n; ++o) {
      Shape shape = x.shape();
      shape[static_cast<size_t>(a)] = sizes[static_cast<size_t>(o)];
      Tensor y(x.dtype(), shape);
      const int64_t chunk = sizes[static_cast<size_t>(o)] * inner;
      uint8_t* dst = bytes(y);
      parallel_items(ctx.pool(), chunk > 0 ? outer : 0, chunk, [&](int64_t o0, int64_t o1) {
        for (int64_t i = o0; i < o1; ++i) {
          std::memcpy(dst + i * chunk, bytes(x) + i * in_row + col, static_cast<size_t>(chunk));
        }
      });
      col += chunk;
      ctx.set_output(static_cast<size_t>(o), std::move(y));
    }
  });
}

// ---------------------------------------------------------------------------------- Gather

// Indices as int64 with negatives resolved; throws naming the node for out-of-range values.
std::vector<int64_t> resolve_indices(const Node& node, const Tensor& idx, int64_t dim) {
  SQ_CHECK(idx.dtype() == DType::kInt64 || idx.dtype() == DType::kInt32, node.describe(),
           ": indices must be int64 or int32, got ", dtype_name(idx.dtype()));
  std::vector<int64_t> v = idx.to_int64_vector();
  for (int64_t& i : v) i = checked_index(node, i, dim, "index");
  return v;
}

std::unique_ptr<OpKernel> make_gather(const Node& node, int64_t) {
  check_num_inputs(node, 2, 2);
  const int64_t axis = node.attr_int("axis", 0);
  return make_kernel([axis](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor& idx = ctx.in(1);
    SQ_CHECK(x.rank() > 0, node.describe(), ": cannot gather from a scalar");
    const int a = normalize_axis(node, axis, x.rank());
    const auto ua = static_cast<size_t>(a);
    const int64_t dim = x.dim(a);
    const std::vector<int64_t> index = resolve_indices(node, idx, dim);
    Shape out(x.shape().begin(), x.shape().begin() + a);
    out.insert(out.end(), idx.shape().begin(), idx.shape().end());
    out.insert(out.end(), x.shape().begin() + a + 1, x.shape().end());
    Tensor y(x.dtype(), out);
    const auto nidx = static_cast<int64_t>(index.size());
    const int64_t outer = dims_product(x.shape(), 0, ua);
    const int64_t inner = dims_product(x.shape(), ua + 1, x.shape().size()) *
                          static_cast<int64_t>(dtype_size(x.dtype()));
    uint8_t* dst = bytes(y);
    parallel_items(ctx.pool(), inner > 0 ? outer * nidx : 0, inner, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t o = item / nidx, j = item % nidx;
        std::memcpy(dst + item * inner,
                    bytes(x) + (o * dim + index[static_cast<size_t>(j)]) * inner,
                    static_cast<size_t>(inner));
      }
    });
    ctx.set_output(0, std::move(y));
  });
}

std::unique_ptr<OpKernel> make_gather_elements(const Node& node, int64_t) {
  check_num_inputs(node, 2, 2);
  const int64_t axis = node.attr_int("axis", 0);
  return make_kernel([axis](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor& idx = ctx.in(1);
    const int r = x.rank();
    SQ_CHECK(r > 0 && idx.rank() == r, node.describe(), ": indices ", shape_str(idx.shape()),
             " must have the same rank as data ", shape_str(x.shape()), " (rank >= 1)");
    const int a = normalize_axis(node, axis, r);
    for (int k = 0; k < r; ++k) {
      SQ_CHECK(k == a || idx.dim(k) <= x.dim(k), node.describe(), ": indices ",
               shape_str(idx.shape()), " exceed data ", shape_str(x.shape()), " on axis ", k);
    }
    const std::vector<int64_t> index = resolve_indices(node, idx, x.dim(a));
    const auto strides = contiguous_strides(x.shape());
    Tensor y(x.dtype(), idx.shape());
    with_elem_type(dtype_size(x.dtype()), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      T* dst = static_cast<T*>(y.raw());
      std::vector<int64_t> pos(static_cast<size_t>(r), 0);
      int64_t base = 0;  // offset of pos over the axes other than `a`
      for (size_t i = 0; i < index.size(); ++i) {
        dst[i] = src[base + index[i] * strides[static_cast<size_t>(a)]];
        for (int k = r; k-- > 0;) {  // odometer step over the indices' shape
          const auto uk = static_cast<size_t>(k);
          if (k != a) base += strides[uk];
          if (++pos[uk] < idx.dim(k)) break;
          if (k != a) base -= strides[uk] * idx.dim(k);
          pos[uk] = 0;
        }
      }
    });
    ctx.set_output(0, std::move(y));
  });
}

// ------------------------------------------------------------------------------------ Tile

std::unique_ptr<OpKernel> make_tile(const Node& node, int64_t) {
  check_num_inputs(node, 2, 2);
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> reps = read_int_list(node, ctx.in(1), "repeats");
    const int r = x.rank();
    SQ_CHECK(static_cast<int>(reps.size()) == r, node.describe(), ": repeats ", shape_str(reps),
             " must have one entry per input axis (input ", shape_str(x.shape()), ")");
    Shape out = x.shape();
    for (int k = 0; k < r; ++k) {
      const auto uk = static_cast<size_t>(k);
      SQ_CHECK(reps[uk] >= 0, node.describe(), ": repeats ", shape_str(reps), " is negative");
      out[uk] *= reps[uk];
    }
    Tensor y(x.dtype(), out);
    if (y.numel() == 0) {
      ctx.set_output(0, std::move(y));
      return;
    }
    if (r == 0) {
      ctx.set_output(0, x.clone());
      return;
    }
    const auto strides = contiguous_strides(x.shape());
    const int64_t es = static_cast<int64_t>(dtype_size(x.dtype()));
    const int64_t in_last = x.dim(r - 1), out_last = out.back();
    const int64_t row_bytes = in_last * es;
    uint8_t* dst = bytes(y);
    parallel_items(ctx.pool(), y.numel() / out_last, out_last * es, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t src = 0;
        for (int64_t k = r - 1, rem = row; k-- > 0;) {
          const auto uk = static_cast<size_t>(k);
          src += (rem % out[uk]) % x.dim(static_cast<int>(k)) * strides[uk];
          rem /= out[uk];
        }
        uint8_t* d = dst + row * out_last * es;
        for (int64_t rep = 0; rep < reps.back(); ++rep, d += row_bytes) {
          std::memcpy(d, bytes(x) + src * es, static_cast<size_t>(row_bytes));
        }
      }
    });
    ctx.set_output(0, std::move(y));
  });
}

// ------------------------------------------------------------------------------- ScatterND

std::unique_ptr<OpKernel> make_scatter_nd(const Node& node, int64_t) {
  check_num_inputs(node, 3, 3);
  const std::string reduction = node.attr_string("reduction", "none");
  SQ_CHECK(reduction == "none", node.describe(), ": reduction '", reduction,
           "' is not supported (only 'none')");
  return make_kernel([](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const Tensor& idx = ctx.in(1);
    const Tensor& upd = ctx.in(2);
    SQ_CHECK(idx.dtype() == DType::kInt64 || idx.dtype() == DType::kInt32, node.describe(),
             ": indices must be int64 or int32, got ", dtype_name(idx.dtype()));
    SQ_CHECK(upd.dtype() == x.dtype(), node.describe(), ": updates are ", dtype_name(upd.dtype()),
             ", expected ", dtype_name(x.dtype()), " like data");
    SQ_CHECK(idx.rank() >= 1, node.describe(), ": indices must have rank >= 1");
    const int64_t k = idx.shape().back();
    SQ_CHECK(k >= 1 && k <= x.rank(), node.describe(), ": indices ", shape_str(idx.shape()),
             " index ", k, " axes of data ", shape_str(x.shape()));
    Shape expect(idx.shape().begin(), idx.shape().end() - 1);
    expect.insert(expect.end(), x.shape().begin() + k, x.shape().end());
    SQ_CHECK(upd.shape() == expect, node.describe(), ": updates have shape ",
             shape_str(upd.shape()), ", expected ", shape_str(expect));
    const auto strides = contiguous_strides(x.shape());
    const auto es = static_cast<int64_t>(dtype_size(x.dtype()));
    const int64_t slice = dims_product(x.shape(), static_cast<size_t>(k), x.shape().size()) * es;
    const std::vector<int64_t> index = idx.to_int64_vector();
    Tensor y = x.clone();
    for (int64_t i = 0; i < static_cast<int64_t>(index.size()) / k; ++i) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; ++j) {
        off += checked_index(node, index[static_cast<size_t>(i * k + j)],
                             x.dim(static_cast<int>(j)), "index") *
               strides[static_cast<size_t>(j)];
      }
      std::memcpy(bytes(y) + off * es, bytes(upd) + i * slice, static_cast<size_t>(slice));
    }
    ctx.set_output(0, std::move(y));
  });
}

// ----------------------------------------------------------------------------------- Trilu

std::unique_ptr<OpKernel> make_trilu(const Node& node, int64_t) {
  check_num_inputs(node, 1, 2);
  const bool upper = node.attr_int("upper", 1) != 0;
  return make_kernel([upper](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    SQ_CHECK(x.rank() >= 2, node.describe(), ": input ", shape_str(x.shape()),
             " must have rank >= 2");
    const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
    int64_t k = ctx.input(1) ? read_int_scalar(node, *ctx.input(1), "k") : 0;
    k = std::clamp<int64_t>(k, -rows - 1, cols + 1);  // beyond this the result does not change
    const auto es = static_cast<int64_t>(dtype_size(x.dtype()));
    Tensor y(x.dtype(), x.shape());
    uint8_t* dst = bytes(y);
    parallel_items(ctx.pool(), x.numel() / std::max<int64_t>(1, cols), cols * es,
                   [&](int64_t b, int64_t e) {
                     for (int64_t row = b; row < e; ++row) {
                       const int64_t i = row % rows;
                       // Kept columns: j - i >= k (upper) or j - i <= k (lower).
                       const int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
                       const int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
                       uint8_t* d = dst + row * cols * es;
                       std::memset(d, 0, static_cast<size_t>(cols * es));
                       if (hi > lo) {
                         std::memcpy(d + lo * es, bytes(x) + (row * cols + lo) * es,
                                     static_cast<size_t>((hi - lo) * es));
                       }
                     }
                   });
    ctx.set_output(0, std::move(y));
  });
}

// ------------------------------------------------------------------------------------- Pad

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Source index on an axis of size dim for output index o (begin padding pb); -1 = constant.
int64_t pad_source(PadMode mode, int64_t o, int64_t pb, int64_t dim) {
  const int64_t i = o - pb;
  if (i >= 0 && i < dim) return i;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return std::clamp<int64_t>(i, 0, dim - 1);
    case PadMode::kWrap:
      return (i % dim + dim) % dim;
    case PadMode::kReflect: {
      if (dim == 1) return 0;
      const int64_t period = 2 * (dim - 1);
      const int64_t m = (i % period + period) % period;
      return m < dim ? m : period - m;
    }
  }
  return -1;
}

std::unique_ptr<OpKernel> make_pad(const Node& node, int64_t opset) {
  const std::string mode_name = node.attr_string("mode", "constant");
  PadMode mode;
  if (mode_name == "constant") {
    mode = PadMode::kConstant;
  } else if (mode_name == "reflect") {
    mode = PadMode::kReflect;
  } else if (mode_name == "edge") {
    mode = PadMode::kEdge;
  } else if (mode_name == "wrap") {
    mode = PadMode::kWrap;
  } else {
    throw make_error(node.describe(), ": unsupported mode '", mode_name,
                     "' (expected constant, reflect, edge or wrap)");
  }
  // Opsets 1-10 carry pads and the constant as attributes.
  const bool attr_form = opset < 11;
  std::vector<int64_t> attr_pads;
  const float attr_value = node.attr_float("value", 0.0f);
  if (attr_form) {
    check_num_inputs(node, 1, 1);
    attr_pads = node.attr_ints("pads");
  } else {
    check_num_inputs(node, 2, 4);
  }
  return make_kernel([=](OpContext& ctx) {
    const Node& node = ctx.node();
    const Tensor& x = ctx.in(0);
    const int r = x.rank();
    const std::vector<int64_t> pads =
        attr_form ? attr_pads : read_int_list(node, ctx.in(1), "pads");
    std::vector<int64_t> axes;
    if (const Tensor* t = attr_form ? nullptr : ctx.input(3)) {
      for (int64_t a : read_int_list(node, *t, "axes")) axes.push_back(normalize_axis(node, a, r));
    } else {
      for (int k = 0; k < r; ++k) axes.push_back(k);
    }
    const size_t na = axes.size();
    SQ_CHECK(pads.size() == 2 * na, node.describe(), ": pads ", shape_str(pads), " must have ",
             2 * na, " entries for input ", shape_str(x.shape()));
    std::vector<int64_t> begin(static_cast<size_t>(r), 0);
    Shape out = x.shape();
    for (size_t i = 0; i < na; ++i) {
      const auto a = static_cast<size_t>(axes[i]);
      begin[a] = pads[i];
      out[a] += pads[i] + pads[i + na];
      SQ_CHECK(out[a] >= 0, node.describe(), ": pads ", shape_str(pads), " crop more than axis ", a,
               " of input ", shape_str(x.shape()), " holds");
      SQ_CHECK(mode == PadMode::kConstant || x.dim(static_cast<int>(a)) > 0 || out[a] == 0,
               node.describe(), ": cannot ", mode_name, "-pad empty axis ", a);
    }
    const size_t es = dtype_size(x.dtype());
    Tensor fill = Tensor::zeros(x.dtype(), {});
    if (const Tensor* cv = attr_form ? nullptr : ctx.input(2)) {
      SQ_CHECK(cv->dtype() == x.dtype() && cv->numel() == 1, node.describe(),
               ": constant_value must be one ", dtype_name(x.dtype()), " value, got ",
               dtype_name(cv->dtype()), " ", shape_str(cv->shape()));
      std::memcpy(fill.raw(), cv->raw(), es);
    } else if (attr_value != 0.0f) {
      SQ_CHECK(x.dtype() == DType::kFloat32, node.describe(),
               ": the 'value' attribute needs float32 data");
      *fill.data<float>() = attr_value;
    }
    Tensor y(x.dtype(), out);
    if (y.numel() == 0) {
      ctx.set_output(0, std::move(y));
      return;
    }
    if (r == 0) {
      ctx.set_output(0, x.clone());
      return;
    }
    // Source index of every output position, per axis.
    std::vector<std::vector<int64_t>> src_index(static_cast<size_t>(r));
    for (size_t a = 0; a < static_cast<size_t>(r); ++a) {
      for (int64_t o = 0; o < out[a]; ++o) {
        src_index[a].push_back(pad_source(mode, o, begin[a], x.shape()[a]));
      }
    }
    const auto strides = contiguous_strides(x.shape());
    const int64_t last = out.back();
    with_elem_type(es, [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      const T value = *static_cast<const T*>(fill.raw());
      T* dst = static_cast<T*>(y.raw());
      const auto& last_index = src_index.back();
      parallel_items(ctx.pool(), y.numel() / last, last * static_cast<int64_t>(es),
                     [&](int64_t b, int64_t e) {
                       for (int64_t row = b; row < e; ++row) {
                         int64_t off = 0;
                         bool constant_row = false;
                         for (int64_t k = r - 1, rem = row; k-- > 0;) {
                           const auto uk = static_cast<size_t>(k);
                           const int64_t s = src_index[uk][static_cast<size_t>(rem % out[uk])];
                           rem /= out[uk];
                           constant_row = constant_row || s < 0;
                           off += s * strides[uk];
                         }
                         T* d = dst + row * last;
                         for (int64_t j = 0; j < last; ++j) {
                           const int64_t s = last_index[static_cast<size_t>(j)];
                           d[j] = (constant_row || s < 0) ? value : src[off + s];
                         }
                       }
                     });
    });
    ctx.set_output(0, std::move(y));
  });
}

}  // namespace

void register_slicing_ops(OpRegistry& r) {
  r.add("Concat", make_concat);
  r.add("Slice", make_slice);
  r.add("Split", make_split);
  r.add("Gather", make_gather);
  r.add("GatherElements", make_gather_elements);
  r.add("Tile", make_tile);
  r.add("ScatterND", make_scatter_nd);
  r.add("Trilu", make_trilu);
  r.add("Pad", make_pad);
}

}  // namespace sq
