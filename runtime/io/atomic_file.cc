#include "runtime/io/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "runtime/core/error.h"

namespace sq {
namespace fs = std::filesystem;

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_ && !tmp_path_.empty()) std::remove(tmp_path_.c_str());
}

void AtomicFile::open(const std::string& path) {
  SQ_CHECK(!file_ && !finished_ && !committed_, path, ": AtomicFile opened twice");
  path_ = path;
  std::error_code ec;
  SQ_CHECK(!path.empty(), "output path is empty");
  const fs::file_status st = fs::status(path, ec);
  SQ_CHECK(!fs::is_directory(st), path, ": is a directory, expected a file path");
  // Renaming over a device, FIFO or socket would replace it with a regular file (as root:
  // /dev/null or /dev/full itself), so only regular files are ever overwritten.
  SQ_CHECK(!fs::exists(st) || fs::is_regular_file(st), path,
           ": exists and is not a regular file (a device, FIFO or socket); give a file path");
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    SQ_CHECK(fs::is_directory(parent, ec), path, ": folder ", parent.string(), " does not exist");
  }
  // Unique per process and per call, so two threads saving the same path never share a temp.
  static std::atomic<uint64_t> counter{0};
  tmp_path_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!file_) {
    std::string why = std::strerror(errno);
    tmp_path_.clear();
    throw make_error(path, ": cannot write (", why, ")");
  }
}

void AtomicFile::write(const void* data, size_t n) {
  SQ_CHECK(file_, path_, ": write to a file that is not open");
  if (n == 0) return;
  if (std::fwrite(data, 1, n, file_) != n) {
    throw make_error(path_, ": write failed (", std::strerror(errno), ")");
  }
}

void AtomicFile::finish() {
  SQ_CHECK(file_, path_, ": finish of a file that is not open");
  errno = 0;
  int rc = std::fflush(file_);
  int err = errno;
  int rc2 = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0 || rc2 != 0) {
    throw make_error(path_, ": write failed (", std::strerror(rc != 0 ? err : errno), ")");
  }
  finished_ = true;
}

void AtomicFile::commit() {
  SQ_CHECK(!committed_ && (file_ || finished_), path_, ": commit of a file that is not open");
  if (file_) finish();
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    throw make_error(path_, ": cannot rename temporary file into place (", std::strerror(errno),
                     ")");
  }
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFile f;
  f.open(path);
  f.write(contents.data(), contents.size());
  f.commit();
}

}  // namespace sq
