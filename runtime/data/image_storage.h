// Where a split's decoded images are kept: in memory, or in a file the system pages in as batches
// read it, for a data set larger than the memory (an --image-size of 256 over ImageNet is 250 GB).
// Both are one contiguous array of uint8 that the batches read the same way, so the batches,
// their order, the augmentation and --resume are the same wherever the images live.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <new>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace resnetc::data {

// An allocator of bytes either from the heap or from a file: a temporary file in `dir`, unlinked
// as soon as it is made (so it is gone when the process ends, however it ends), its blocks
// reserved up front (so a full disk is an error here, not a SIGBUS while decoding), mapped shared
// (so its pages go back to the file, not to swap, when memory runs short). Any instance frees
// what any other allocated: a mapping is found by its address.
class ImageAllocator {
 public:
  using value_type = uint8_t;
  using is_always_equal = std::true_type;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  template <class U>
  struct rebind {
    static_assert(std::is_same_v<U, uint8_t>, "image bytes only");
    using other = ImageAllocator;
  };

  ImageAllocator() = default;  // the heap
  // A file in `dir`.
  static ImageAllocator in_file(std::filesystem::path dir) {
    ImageAllocator a;
    a.dir_ = std::move(dir);
    return a;
  }

  // Throws DataError naming the directory when the file cannot be made or its disk lacks room.
  uint8_t* allocate(size_t n);
  void deallocate(uint8_t* p, size_t n) noexcept;
  // Default-initialized, so that sizing a file-backed array writes nothing to the file.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  bool in_file() const { return !dir_.empty(); }
  const std::filesystem::path& dir() const { return dir_; }
  friend bool operator==(const ImageAllocator&, const ImageAllocator&) { return true; }

 private:
  std::filesystem::path dir_;  // empty: the heap
};

using ImageBytes = std::vector<uint8_t, ImageAllocator>;

// --image-cache: where a folder's decoded images are kept. Auto: in memory when they fit in the
// memory available, else in a file; Memory: in memory, refused when they do not fit; Disk: in a file.
enum class ImageCacheMode { Auto, Memory, Disk };

struct ImageCache {
  ImageCacheMode mode = ImageCacheMode::Auto;
  std::filesystem::path dir;  // --image-cache-dir; empty: the system's temporary directory ($TMPDIR, else /tmp)
  std::filesystem::path directory() const { return dir.empty() ? std::filesystem::temp_directory_path() : dir; }
};

// Where `needed` bytes of decoded images (`what`: "DIR's 1300 images at 3x256x256") are kept, as
// `cache` says; a file is announced on `log` (when given), with why under ImageCacheMode::Auto.
// Throws DataError under ImageCacheMode::Memory when they exceed the memory available.
ImageAllocator image_storage(const ImageCache& cache, uint64_t needed, const std::string& what, std::ostream* log);

}  // namespace resnetc::data
