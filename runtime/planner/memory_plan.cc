#include "runtime/planner/memory_plan.h"

#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <sstream>

#include "runtime/core/memory_limit.h"

namespace sq {

int MemoryPlan::arena_buffers() const {
  return static_cast<int>(std::count_if(buffers.begin(), buffers.end(),
                                        [](const Buffer& b) { return b.output < 0; }));
}

int MemoryPlan::output_buffers() const {
  return static_cast<int>(buffers.size()) - arena_buffers();
}

namespace {

template <typename... Parts>
std::string text(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

// Each buffer on its own: sizes, offsets, steps, output numbers.
std::string buffer_error(const MemoryPlan& plan, size_t k, int32_t previous_first,
                         std::vector<bool>* output_seen) {
  const MemoryPlan::Buffer& b = plan.buffers[k];
  const std::string which = text("buffer ", k);
  if (b.size == 0 || b.size % kMemoryPlanAlignment != 0) {
    return text(which, " has size ", b.size, " (not a positive multiple of 64)");
  }
  if (b.first < 0 || b.last < b.first) {
    return text(which, " has lifetime [", b.first, ", ", b.last, "]");
  }
  if (b.first < previous_first) {
    return text(which, " is created at step ", b.first, ", before the previous one (",
                previous_first, ")");
  }
  if (b.output >= 0) {
    if (static_cast<size_t>(b.output) >= output_seen->size() || (*output_seen)[b.output]) {
      return text(which, " has output number ", b.output, " (outputs are numbered 0 to ",
                  output_seen->size(), " - 1, each once)");
    }
    (*output_seen)[b.output] = true;
    return "";
  }
  if (b.output != -1) return text(which, " has output number ", b.output);
  if (b.offset % kMemoryPlanAlignment != 0 || b.offset > plan.arena_bytes ||
      b.size > plan.arena_bytes - b.offset) {
    return text(which, " at [", b.offset, ", +", b.size, ") is misaligned or outside the ",
                plan.arena_bytes, "-byte arena");
  }
  return "";
}

// No two arena buffers live at a common step share bytes: a sweep over creation steps keeps the
// live buffers ordered by offset (they never overlap, so a new one need only be checked against
// its two neighbours).
std::string overlap_error(const MemoryPlan& plan) {
  using Ending = std::pair<int32_t, size_t>;  // last step, buffer index
  std::priority_queue<Ending, std::vector<Ending>, std::greater<Ending>> by_last;
  std::map<uint64_t, size_t> live;  // offset -> buffer index
  for (size_t k = 0; k < plan.buffers.size(); ++k) {
    const MemoryPlan::Buffer& b = plan.buffers[k];
    if (b.output >= 0) continue;
    while (!by_last.empty() && by_last.top().first < b.first) {
      live.erase(plan.buffers[by_last.top().second].offset);
      by_last.pop();
    }
    auto next = live.lower_bound(b.offset);
    size_t clash = plan.buffers.size();
    if (next != live.end() && next->first < b.offset + b.size) clash = next->second;
    if (next != live.begin()) {
      const size_t p = std::prev(next)->second;
      if (plan.buffers[p].offset + plan.buffers[p].size > b.offset) clash = p;
    }
    if (clash != plan.buffers.size()) {
      return text("buffers ", clash, " and ", k, " are live together and overlap");
    }
    live.emplace(b.offset, k);
    by_last.emplace(b.last, k);
  }
  return "";
}

}  // namespace

std::string memory_plan_error(const MemoryPlan& plan) {
  if (plan.arena_bytes % kMemoryPlanAlignment != 0 || plan.arena_bytes > max_tensor_bytes()) {
    return text("arena of ", plan.arena_bytes, " bytes (not a multiple of 64, or more than the ",
                max_tensor_bytes(), " bytes this machine can hold)");
  }
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    for (int64_t d : plan.inputs[i].dims) {
      if (d < 0) return text("input ", i, " has shape ", shape_str(plan.inputs[i].dims));
    }
  }
  std::vector<bool> output_seen(static_cast<size_t>(plan.output_buffers()), false);
  int32_t previous_first = 0;
  for (size_t k = 0; k < plan.buffers.size(); ++k) {
    std::string e = buffer_error(plan, k, previous_first, &output_seen);
    if (!e.empty()) return e;
    previous_first = plan.buffers[k].first;
  }
  return overlap_error(plan);
}

std::string memory_plan_summary(const MemoryPlan& plan,
                                const std::vector<std::string>& input_names) {
  std::ostringstream os;
  for (size_t i = 0; i < plan.inputs.size(); ++i) {
    if (i) os << ", ";
    if (i < input_names.size()) os << input_names[i] << " ";
    os << dtype_name(plan.inputs[i].dtype) << " " << shape_str(plan.inputs[i].dims);
  }
  os << ": arena " << plan.arena_bytes << " bytes (" << plan.arena_bytes / 1024 << " KiB) for "
     << plan.arena_buffers() << " tensors, " << plan.output_buffers() << " output buffer(s)";
  return os.str();
}

}  // namespace sq
