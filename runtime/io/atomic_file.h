// Why this exists: every output file (models, .npy, reports) is written to a temporary name in
// the destination folder and renamed only once complete, so a failed run never leaves a
// half-written file behind. Errors (unwritable path, directory, full disk) are one-line sq::Errors.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace sq {

class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void open(const std::string& path);
  void write(const void* data, size_t n);
  // Flushes and closes the temporary file, throwing if any byte could not be written (a full
  // disk shows up here, since writes are buffered). Optional: commit() does it too.
  void finish();
  void commit();  // finish() if not done, then rename over the destination (no fsync); once only

 private:
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  bool finished_ = false, committed_ = false;
};

// Convenience: writes a whole buffer atomically.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace sq
