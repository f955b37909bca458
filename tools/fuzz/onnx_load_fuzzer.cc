// libFuzzer target: the ONNX loader on arbitrary bytes, then the preparation (op validation,
// kernel creation) of the FP32 reference engine and of the int8 engine (QDQ lowering, weight
// packing) on whatever loads. Each must either succeed or throw one sq::Error: any other
// exception, crash, leak or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/engine/int8_engine.h"
#include "runtime/engine/reference_engine.h"
#include "runtime/graph/onnx_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::shared_ptr<const sq::Model> model;
  try {
    // A base folder that does not exist: external-data references must fail cleanly.
    model = std::make_shared<const sq::Model>(
        sq::load_onnx_from_bytes(bytes, "/nonexistent-fuzz-dir", "fuzz.onnx"));
  } catch (const sq::Error&) {
    return 0;
  }
  try {
    sq::ReferenceEngine engine(model);
  } catch (const sq::Error&) {
  }
  try {
    sq::make_int8_engine(*model);
  } catch (const sq::Error&) {
  }
  return 0;
}
