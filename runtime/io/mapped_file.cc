#include "runtime/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "runtime/core/error.h"

namespace sq {
namespace {

// Live mappings made by map_file (start -> size), so release_mapped_pages only ever touches them.
std::mutex g_mappings_mutex;
std::map<uintptr_t, size_t> g_mappings;

}  // namespace

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
  {
    std::lock_guard<std::mutex> lock(g_mappings_mutex);
    g_mappings[reinterpret_cast<uintptr_t>(p)] = size;
  }
  m.owner = std::shared_ptr<void>(p, [size](void* q) {
    {
      std::lock_guard<std::mutex> lock(g_mappings_mutex);
      g_mappings.erase(reinterpret_cast<uintptr_t>(q));
    }
    ::munmap(q, size);
  });
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

size_t release_mapped_pages(const void* p, size_t n) {
  const auto begin = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(g_mappings_mutex);
  auto it = g_mappings.upper_bound(begin);
  if (it == g_mappings.begin()) return 0;
  --it;
  if (begin < it->first || n > it->second || begin - it->first > it->second - n) return 0;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page, last = (begin + n) / page * page;
  if (last <= first) return 0;
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return last - first;
}

}  // namespace sq
