#include "runtime/core/memory_limit.h"

#include <unistd.h>

#include <algorithm>

namespace sq {

uint64_t physical_memory_bytes() {
  static const uint64_t bytes = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    // Unknown (sysconf failed): fall back to the 1 TiB cap alone.
    if (pages <= 0 || page <= 0) return uint64_t{1} << 40;
    return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  }();
  return bytes;
}

uint64_t max_tensor_bytes() { return std::min<uint64_t>(physical_memory_bytes(), uint64_t{1} << 40); }

}  // namespace sq
