#include "runtime/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runtime/core/error.h"

namespace sq {

MappedFile map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw make_error(path, ": cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw make_error(path, ": not a regular file");
  }
  MappedFile m;
  m.size = static_cast<size_t>(st.st_size);
  if (m.size == 0) {
    ::close(fd);
    return m;
  }
  // Private and writable: an op that wrote into a weight would get its own copy of the page
  // instead of a crash, and the file itself is never modified.
  void* p = ::mmap(nullptr, m.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) throw make_error(path, ": cannot map (", std::strerror(err), ")");
  const size_t size = m.size;
  m.owner = std::shared_ptr<void>(p, [size](void* q) { ::munmap(q, size); });
  m.data = static_cast<const uint8_t*>(p);
  return m;
}

void release_pages(const MappedFile& f, size_t offset, size_t length) {
  if (!f.data || offset >= f.size) return;
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t end = offset + std::min(length, f.size - offset);
  const size_t first = (offset + page - 1) / page * page, last = end / page * page;
  if (last <= first) return;
  ::madvise(const_cast<uint8_t*>(f.data) + first, last - first, MADV_DONTNEED);
}

}  // namespace sq
