#include "runtime/ops/shape_ops_strided_copy.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace sq {
namespace {

// Work below this many bytes per task is not worth a thread hand-off.
constexpr int64_t kMinBytesPerTask = int64_t{1} << 16;
constexpr int64_t kTile = 32;

// Drops size-1 axes and merges neighbours that are contiguous in the source as well.
void coalesce(Shape* shape, std::vector<int64_t>* strides) {
  Shape dims;
  std::vector<int64_t> st;
  for (size_t k = 0; k < shape->size(); ++k) {
    int64_t d = (*shape)[k], s = (*strides)[k];
    if (d == 1) continue;
    if (!dims.empty() && st.back() == s * d) {
      dims.back() *= d;
      st.back() = s;
    } else {
      dims.push_back(d);
      st.push_back(s);
    }
  }
  if (dims.empty()) {
    dims = {1};
    st = {1};
  }
  *shape = std::move(dims);
  *strides = std::move(st);
}

// Source offset of outer index `row` (all axes but the last), in elements.
int64_t row_offset(const Shape& shape, const std::vector<int64_t>& strides, size_t outer_rank,
                   int64_t row, std::vector<int64_t>* idx) {
  int64_t off = 0;
  for (size_t k = outer_rank; k-- > 0;) {
    (*idx)[k] = row % shape[k];
    row /= shape[k];
    off += (*idx)[k] * strides[k];
  }
  return off;
}

template <typename T>
void copy_rows(const T* src, const Shape& shape, const std::vector<int64_t>& strides, T* dst,
               int64_t r0, int64_t r1) {
  const size_t outer = shape.size() - 1;
  const int64_t n = shape[outer], s = strides[outer];
  std::vector<int64_t> idx(outer);
  int64_t off = row_offset(shape, strides, outer, r0, &idx);
  T* out = dst + r0 * n;
  for (int64_t row = r0; row < r1; ++row, out += n) {
    const T* in = src + off;
    if (s == 1) {
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(T));
    } else {
      for (int64_t i = 0; i < n; ++i) out[i] = in[i * s];
    }
    for (size_t k = outer; k-- > 0;) {  // odometer step
      off += strides[k];
      if (++idx[k] < shape[k]) break;
      off -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
}

// Batched 2-D transpose: the second-to-last axis has source stride 1, the last does not.
// Tasks are (batch, block of kTile output rows); each copies kTile x kTile tiles.
template <typename T>
void transpose_tiles(const T* src, const Shape& shape, const std::vector<int64_t>& strides, T* dst,
                     int64_t t0, int64_t t1) {
  const size_t r = shape.size();
  const int64_t a = shape[r - 2], b = shape[r - 1], sb = strides[r - 1];
  const int64_t blocks = (a + kTile - 1) / kTile;
  std::vector<int64_t> idx(r - 2);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t batch = t / blocks, i0 = (t % blocks) * kTile, i1 = std::min(a, i0 + kTile);
    const T* in = src + row_offset(shape, strides, r - 2, batch, &idx);
    T* out = dst + batch * a * b;
    for (int64_t j0 = 0; j0 < b; j0 += kTile) {
      const int64_t j1 = std::min(b, j0 + kTile);
      for (int64_t j = j0; j < j1; ++j) {
        const T* col = in + j * sb;
        for (int64_t i = i0; i < i1; ++i) out[i * b + j] = col[i];
      }
    }
  }
}

template <typename T>
void strided_copy_typed(const T* src, Shape shape, std::vector<int64_t> strides, T* dst,
                        ThreadPool* pool) {
  coalesce(&shape, &strides);
  const size_t r = shape.size();
  const int64_t numel = shape_numel(shape);
  auto run = [&](int64_t n, int64_t work_per_item, const std::function<void(int64_t, int64_t)>& f) {
    int64_t grain = std::max<int64_t>(1, kMinBytesPerTask / std::max<int64_t>(1, work_per_item));
    if (pool && n > grain) {
      pool->parallel_for(n, grain, f);
    } else {
      f(0, n);
    }
  };
  if (r >= 2 && strides[r - 1] != 1 && strides[r - 2] == 1) {
    const int64_t a = shape[r - 2], b = shape[r - 1];
    const int64_t tasks = numel / (a * b) * ((a + kTile - 1) / kTile);
    run(tasks, kTile * b * static_cast<int64_t>(sizeof(T)),
        [&](int64_t t0, int64_t t1) { transpose_tiles(src, shape, strides, dst, t0, t1); });
    return;
  }
  const int64_t n = shape[r - 1];
  run(numel / n, n * static_cast<int64_t>(sizeof(T)),
      [&](int64_t r0, int64_t r1) { copy_rows(src, shape, strides, dst, r0, r1); });
}

}  // namespace

void strided_copy(const void* src, int64_t offset, const Shape& shape,
                  const std::vector<int64_t>& strides, size_t elem_size, void* dst,
                  ThreadPool* pool) {
  assert(shape.size() == strides.size());
  if (shape_numel(shape) == 0) return;
  switch (elem_size) {
    case 1:
      strided_copy_typed(static_cast<const uint8_t*>(src) + offset, shape, strides,
                         static_cast<uint8_t*>(dst), pool);
      break;
    case 2:
      strided_copy_typed(static_cast<const uint16_t*>(src) + offset, shape, strides,
                         static_cast<uint16_t*>(dst), pool);
      break;
    case 4:
      strided_copy_typed(static_cast<const uint32_t*>(src) + offset, shape, strides,
                         static_cast<uint32_t*>(dst), pool);
      break;
    case 8:
      strided_copy_typed(static_cast<const uint64_t*>(src) + offset, shape, strides,
                         static_cast<uint64_t*>(dst), pool);
      break;
    default:
      assert(false && "unsupported element size");
  }
}

}  // namespace sq
