#include "runtime/ops/op_util.h"

#include <algorithm>

namespace sq {

std::vector<int64_t> normalize_axes(const Node& node, const std::vector<int64_t>& axes,
                                    int64_t rank, const char* what) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t a : axes) out.push_back(normalize_axis(node, a, rank, what));
  std::sort(out.begin(), out.end());
  SQ_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), node.describe(), ": ", what,
           " contains a repeated axis");
  return out;
}

}  // namespace sq
