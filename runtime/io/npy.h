// Why this exists: test data, calibration sets and `softquant run` outputs travel as NumPy .npy
// files. Reads and writes float32, float16, float64, int64, int32, int8, uint8 and bool,
// little-endian, C order; refuses Fortran order, object arrays, big-endian data and truncated
// files with a one-line sq::Error.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/core/tensor.h"

namespace sq {

Tensor read_npy(const std::string& path);
Tensor parse_npy(const std::string& bytes, const std::string& what);
std::string serialize_npy(const Tensor& t);
void write_npy(const std::string& path, const Tensor& t);  // atomic
// Writes several .npy files as a set: each goes to a temporary name, and they are renamed into
// place only once all of them are complete, so a failure (a full disk, say) leaves none of them.
void write_npy_files(const std::vector<std::pair<std::string, const Tensor*>>& files);

}  // namespace sq
