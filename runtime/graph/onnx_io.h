// Why this exists: the only place that touches ONNX's protobuf types. Converts ONNX files
// (opsets 13-18, inline or external-data initializers) to the IR and back, runs ONNX's own shape
// inference to fill value_info, and turns every protobuf or file problem into a one-line sq::Error.
#pragma once

#include <string>

#include "runtime/graph/ir.h"

namespace sq {

struct LoadOptions {
  bool infer_shapes = true;  // run onnx::shape_inference and keep the result in value_info
};

// Throws sq::Error for unreadable, truncated or malformed files, unsupported opsets or element
// types, external data that is missing or out of range, and graphs that are not a DAG.
Model load_onnx(const std::string& path, const LoadOptions& options = {});
Model load_onnx_from_bytes(const std::string& bytes, const std::string& base_dir,
                           const std::string& what, const LoadOptions& options = {});

struct SaveOptions {
  // Initializers go to "<file>.data" next to the model when their total exceeds this (ONNX files
  // cannot exceed 2 GB); 0 forces external data for every initializer above 1 KiB.
  int64_t external_data_threshold_bytes = int64_t{1800} << 20;
};

// Writes atomically (temporary name, then rename): a failed save leaves no partial file.
void save_onnx(const Model& model, const std::string& path, const SaveOptions& options = {});

// Supported range of the default-domain opset.
constexpr int64_t kMinOpset = 13;
constexpr int64_t kMaxOpset = 18;

}  // namespace sq
