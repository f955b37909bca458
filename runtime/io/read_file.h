// Why this exists: every input file (ONNX models, .npy tensors, token files) is read whole through
// one function that refuses missing paths, folders and non-regular files (a FIFO or /dev/zero
// would hang or exhaust memory) with a one-line sq::Error naming the path.
#pragma once

#include <string>

namespace sq {

// `kind` names what was expected, for messages: "an ONNX file", "a .npy file".
std::string read_file_bytes(const std::string& path, const std::string& kind);

}  // namespace sq
