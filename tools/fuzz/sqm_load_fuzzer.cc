// libFuzzer target: the compiled-model (.sqm) loader on arbitrary bytes, then the int8 engine's
// preparation (kernel creation, weight packing) of whatever loads. Nearly every mutation breaks
// the FNV-1a checksum, which the loader checks first, so each input is tried twice: as it is, and
// with the header's size and checksum fields rewritten to match, so mutations of the graph and
// the tensor table reach the parser. Each attempt must either succeed or throw one sq::Error:
// any other exception, crash, leak or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "runtime/engine/int8_engine.h"
#include "runtime/graph/sqm_format.h"

namespace {

// Loads bytes the way load_sqm maps a file: 64-byte aligned, so tensors alias the buffer.
void load_and_prepare(const uint8_t* data, size_t size, bool fix_header) {
  const size_t cap = (size + 63) / 64 * 64 + 64;
  std::shared_ptr<void> owner(std::aligned_alloc(64, cap), [](void* p) { std::free(p); });
  auto* bytes = static_cast<uint8_t*>(owner.get());
  if (size) std::memcpy(bytes, data, size);
  if (fix_header) {
    if (size < sq::kSqmHeaderSize) return;
    const uint64_t file_size = size;
    std::memcpy(bytes + 16, &file_size, 8);
    const uint64_t sum = sq::sqm_checksum(bytes, size);
    std::memcpy(bytes + 24, &sum, 8);
  }
  std::shared_ptr<sq::Model> model;
  try {
    model = std::make_shared<sq::Model>(sq::load_sqm_from_memory(owner, bytes, size, "fuzz.sqm"));
  } catch (const sq::Error&) {
    return;
  }
  try {
    sq::make_int8_engine_from_lowered(std::move(model));
  } catch (const sq::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_and_prepare(data, size, /*fix_header=*/false);
  load_and_prepare(data, size, /*fix_header=*/true);
  return 0;
}
