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
  std::ostringstream ss;
  ss << in.rdbuf();
  SQ_CHECK(!in.bad(), path, ": read error");
  return ss.str();
}

}  // namespace sq
