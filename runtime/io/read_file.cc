#include "runtime/io/read_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/core/error.h"

namespace sq {

std::string read_file_bytes(const std::string& path, const std::string& kind) {
  namespace fs = std::filesystem;
  std::error_code ec;
  SQ_CHECK(!path.empty(), "empty path, expected ", kind);
  fs::file_status st = fs::status(path, ec);
  SQ_CHECK(fs::exists(st), path, ": no such file");
  SQ_CHECK(!fs::is_directory(st), path, ": is a directory, expected ", kind);
  SQ_CHECK(fs::is_regular_file(st), path, ": is not a regular file, expected ", kind);
  std::ifstream in(path, std::ios::binary);
  SQ_CHECK(in.good(), path, ": cannot open for reading (", std::strerror(errno), ")");
  // One buffer of the file's size (a stringstream would hold the bytes twice at its peak).
  const auto size = fs::file_size(path, ec);
  SQ_CHECK(!ec, path, ": cannot read its size (", ec.message(), ")");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  SQ_CHECK(!in.bad() && in.gcount() == static_cast<std::streamsize>(size), path, ": read error");
  return bytes;
}

}  // namespace sq
