#include "runtime/data/image_storage.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "runtime/data/idx.h"
#include "runtime/data/memory_fit.h"

namespace resnetc::data {
namespace {

// The file mappings made, by address, so that deallocate tells them from heap blocks.
struct Mappings {
  std::mutex mutex;
  std::unordered_map<const void*, size_t> sizes;
};

Mappings& mappings() {
  static Mappings m;
  return m;
}

std::string free_space(const std::filesystem::path& dir) {
  struct statvfs s {};
  if (statvfs(dir.c_str(), &s) != 0) return "unknown";
  return format_bytes(static_cast<uint64_t>(s.f_bavail) * s.f_frsize);
}

}  // namespace

uint8_t* ImageAllocator::allocate(size_t n) {
  if (!in_file() || n == 0) return std::allocator<uint8_t>().allocate(n);
  std::string name = (dir_ / "resnetc-images-XXXXXX").string();
  const int fd = mkstemp(name.data());
  if (fd < 0)
    throw DataError(fmt::format("{}: cannot make the decoded images' cache file there: {}; give --image-cache-dir a "
                                "writable directory",
                                dir_.string(), std::strerror(errno)));
  unlink(name.c_str());  // the mapping keeps the file until it is unmapped or the process ends
  if (const int e = posix_fallocate(fd, 0, static_cast<off_t>(n)); e != 0) {
    close(fd);
    throw DataError(fmt::format("{}: no room for the decoded images' cache: it needs {}, the disk has {} free ({}); "
                                "give --image-cache-dir a directory on a disk with room, or a smaller --image-size",
                                dir_.string(), format_bytes(n), free_space(dir_), std::strerror(e)));
  }
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_errno = errno;
  close(fd);
  if (p == MAP_FAILED)
    throw DataError(fmt::format("{}: cannot map the decoded images' cache of {}: {}", dir_.string(), format_bytes(n),
                                std::strerror(map_errno)));
  std::lock_guard lock(mappings().mutex);
  mappings().sizes.emplace(p, n);
  return static_cast<uint8_t*>(p);
}

void ImageAllocator::deallocate(uint8_t* p, size_t n) noexcept {
  {
    std::lock_guard lock(mappings().mutex);
    if (const auto it = mappings().sizes.find(p); it != mappings().sizes.end()) {
      munmap(p, it->second);
      mappings().sizes.erase(it);
      return;
    }
  }
  std::allocator<uint8_t>().deallocate(p, n);
}

ImageAllocator image_storage(const ImageCache& cache, uint64_t needed, const std::string& what, std::ostream* log) {
  const std::optional<uint64_t> available = available_memory();
  if (cache.mode == ImageCacheMode::Memory && available) check_memory_fits(needed, *available, what);
  const bool too_large = cache.mode == ImageCacheMode::Auto && available && needed > *available;
  if (cache.mode != ImageCacheMode::Disk && !too_large) return {};
  ImageAllocator storage = ImageAllocator::in_file(cache.directory());
  if (log)
    *log << (too_large ? fmt::format("{} need {} of memory, kept decoded as uint8, but {} is available: they are kept "
                                     "in a file in {} (--image-cache-dir), read from the disk as batches need them\n",
                                     what, format_bytes(needed), format_bytes(*available), storage.dir().string())
                       : fmt::format("{} ({}) are kept in a file in {} (--image-cache disk)\n", what,
                                     format_bytes(needed), storage.dir().string()));
  return storage;
}

}  // namespace resnetc::data
