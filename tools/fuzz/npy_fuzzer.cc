// libFuzzer target: the .npy parser (sq::parse_npy, what sq::read_npy calls on a file's bytes).
// It must return a tensor whose size matches its shape, or throw one sq::Error. A parsed tensor
// must survive a serialize/parse round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  sq::Tensor t;
  try {
    t = sq::parse_npy(bytes, "fuzz.npy");
  } catch (const sq::Error&) {
    return 0;
  }
  if (t.empty_handle() || t.nbytes() > size) std::abort();
  const sq::Tensor back = sq::parse_npy(sq::serialize_npy(t), "round trip");
  if (back.dtype() != t.dtype() || back.shape() != t.shape() ||
      (t.nbytes() && std::memcmp(back.raw(), t.raw(), t.nbytes()) != 0)) {
    std::abort();
  }
  return 0;
}
