// Why this exists: a compiled model (.sqm) is used in place, not parsed into copies: the file is
// mapped read-only-to-the-file (private, copy-on-write) and tensors alias the mapping. The
// mapping is held by a shared_ptr, so it lives as long as the last tensor that points into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sq {

struct MappedFile {
  std::shared_ptr<void> owner;  // unmaps when the last holder lets go; page aligned
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// Maps a whole regular file. Throws sq::Error (naming the file and the OS error) if it cannot be
// opened, is not a regular file, or cannot be mapped. An empty file gives size 0, data nullptr.
MappedFile map_file(const std::string& path);

// Drops the whole pages inside [offset, offset + length) from this process's resident set
// (madvise MADV_DONTNEED): they are read from the file again when next touched, so a loader that
// has checksummed a file keeps resident only what the model then uses. Only for pages never
// written to (a private mapping would lose the writes). Best effort: errors are ignored.
void release_pages(const MappedFile& f, size_t offset, size_t length);

// The same for any memory: releases the whole pages of [p, p + n) if they lie inside a mapping
// made by map_file that is still mapped, and leaves anything else alone. For file data read once
// and not needed again (a weight repacked at load for another ISA). Returns the bytes released.
size_t release_mapped_pages(const void* p, size_t n);

}  // namespace sq
