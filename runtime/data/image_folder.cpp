#include "runtime/data/image_folder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <iterator>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "runtime/cpu/thread_pool.h"
#include "runtime/data/idx.h"
#include "runtime/data/image_decode.h"
#include "runtime/data/load_size.h"
#include "runtime/data/memory_fit.h"
#include "runtime/data/resize.h"

namespace fs = std::filesystem;

namespace resnetc::data {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

enum class FileKind { Image, Unsupported, Other };

FileKind kind_of(const fs::path& file) {
  const std::string ext = lower(file.extension().string());
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") return FileKind::Image;
  constexpr std::array<std::string_view, 6> kUnread = {".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"};
  return std::find(kUnread.begin(), kUnread.end(), ext) != kUnread.end() ? FileKind::Unsupported : FileKind::Other;
}

DataError filesystem_error(const fs::path& path, const std::error_code& e) {
  return DataError(fmt::format("{}: {}", path.string(), e.message()));
}

struct Found {
  fs::path file;
  FileKind kind;
};

// Every regular file below `dir` but hidden ones not named as images (.DS_Store), in
// sorted(os.walk) order: by directory, then by file name.
std::vector<Found> files_below(const fs::path& dir) {
  std::vector<std::tuple<std::string, std::string, FileKind>> found;  // (directory, file name, kind)
  std::error_code e;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, e);
  if (e) throw filesystem_error(dir, e);
  for (; it != fs::recursive_directory_iterator(); it.increment(e)) {
    if (e) throw filesystem_error(it->path(), e);
    if (!it->is_regular_file(e)) continue;
    const FileKind kind = kind_of(it->path());
    if (kind != FileKind::Image && it->path().filename().string().starts_with('.')) continue;
    found.emplace_back(it->path().parent_path().string(), it->path().filename().string(), kind);
  }
  if (e) throw filesystem_error(dir, e);
  std::sort(found.begin(), found.end());
  std::vector<Found> files;
  files.reserve(found.size());
  for (const auto& [parent, name, kind] : found) files.push_back({fs::path(parent) / name, kind});
  return files;
}

std::string unsupported_format(const fs::path& file) {
  return fmt::format("{}: {} files are not read (PNG and JPEG are); convert it or move it out", file.string(),
                     lower(file.extension().string()).substr(1));
}

constexpr std::string_view kSkipHint = "--skip-bad-images leaves out every file that is not a readable image";

// Counts decoded images from every thread and prints a line every `progress.every`.
class ProgressCounter {
 public:
  ProgressCounter(const DecodeProgress& progress, int64_t total)
      : progress_(progress), total_(total), last_(std::chrono::steady_clock::now()) {}

  void one_more() {
    const int64_t done = done_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (!progress_.out) return;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (now - last_ < progress_.every) return;
    last_ = now;
    *progress_.out << fmt::format("decoding {}: {} of {} images ({}%)\n", progress_.what, done, total_,
                                  done * 100 / total_)
                   << std::flush;
  }

 private:
  const DecodeProgress& progress_;
  const int64_t total_;
  std::atomic<int64_t> done_{0};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_;
};

// Decodes files[i], resizes it as `size` says and keeps it as image i of the split, in bytes from
// `storage`. With `errors`, a file that cannot be decoded leaves its image unwritten and its reason
// in errors[i]; without, it throws.
Split decode_all(std::span<const fs::path> files, int64_t channels, const ImageSize& size, cpu::ThreadPool& pool,
                 std::vector<std::string>* errors, const ImageAllocator& storage, const DecodeProgress& progress) {
  Split split;
  split.images = ImageBytes(storage);
  split.count = static_cast<int64_t>(files.size());
  split.channels = channels, split.height = size.size.height, split.width = size.size.width;
  const auto plane = static_cast<size_t>(split.height * split.width);
  const size_t image_bytes = plane * static_cast<size_t>(channels);
  split.images.resize(image_bytes * files.size());
  if (errors) errors->assign(files.size(), {});

  ProgressCounter counter(progress, split.count);
  pool.parallel_for(split.count, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> scratch, resized;
    for (int64_t i = begin; i < end; ++i, counter.one_more()) {
      Image image;
      try {
        image = decode_image_file(files[static_cast<size_t>(i)], static_cast<int>(channels));
      } catch (const DataError& e) {
        if (!errors) throw;
        (*errors)[static_cast<size_t>(i)] = e.what();
        continue;
      }
      uint8_t* out = split.images.data() + static_cast<size_t>(i) * image_bytes;
      const LoadGeometry g = load_geometry(size, image.height, image.width);
      if (std::max(g.resized_height, g.resized_width) > kMaxImageSide)
        throw DataError(fmt::format("{}: an image of {}x{} with its shorter side resized to {} (--image-size) would be "
                                    "{}x{}, more than {} pixels a side; crop it, or give another --image-size",
                                    files[static_cast<size_t>(i)].string(), image.height, image.width,
                                    size.size.height, g.resized_height, g.resized_width, kMaxImageSide));
      const bool cropped = g.resized_height != split.height || g.resized_width != split.width;
      if (image.height == split.height && image.width == split.width && !cropped) {
        std::copy(image.pixels.begin(), image.pixels.end(), out);
        continue;
      }
      const Resizer resizer(image.height, image.width, g.resized_height, g.resized_width);
      scratch.resize(resizer.scratch_size());
      const auto in_plane = static_cast<size_t>(image.height * image.width);
      const auto resized_plane = static_cast<size_t>(g.resized_height * g.resized_width);
      // Resized whole, then cropped, as torchvision's Resize then CenterCrop: the kept pixels are
      // those of the whole image's resize.
      if (cropped) resized.resize(resized_plane);
      for (int64_t c = 0; c < channels; ++c) {
        const auto in = std::span(image.pixels).subspan(static_cast<size_t>(c) * in_plane, in_plane);
        uint8_t* out_plane = out + static_cast<size_t>(c) * plane;
        if (!cropped) {
          resizer.resize(in, std::span(out_plane, plane), scratch);
          continue;
        }
        resizer.resize(in, std::span(resized), scratch);  // an unchanged size is copied
        for (int64_t y = 0; y < split.height; ++y)
          std::copy_n(resized.begin() + static_cast<std::ptrdiff_t>((g.top + y) * g.resized_width + g.left),
                      split.width, out_plane + y * split.width);
      }
    }
  });
  return split;
}

}  // namespace

std::vector<fs::path> images_below(const fs::path& dir) {
  std::vector<fs::path> images;
  for (const Found& f : files_below(dir)) {
    if (f.kind == FileKind::Unsupported) throw DataError(unsupported_format(f.file));
    if (f.kind == FileKind::Image) images.push_back(f.file);
  }
  return images;
}

FolderListing list_image_folder(const fs::path& root, BadImages bad) {
  std::error_code e;
  const fs::file_status status = fs::status(root, e);
  if (!fs::is_directory(status))
    throw DataError(fmt::format("{}: not a directory of class folders: {}", root.string(),
                                status.type() == fs::file_type::not_found ? "it does not exist"
                                : e                                       ? e.message()
                                                                          : "it is not a directory"));
  FolderListing listing;
  for (fs::directory_iterator it(root, e), end; !e && it != end; it.increment(e))
    if (it->is_directory(e)) listing.classes.push_back(it->path().filename().string());
  if (e) throw filesystem_error(root, e);
  if (listing.classes.empty())
    throw DataError(fmt::format("{}: no class folders in it (expected {}/<class>/<image>.png or .jpg)", root.string(),
                                root.string()));
  std::sort(listing.classes.begin(), listing.classes.end());
  for (size_t label = 0; label < listing.classes.size(); ++label) {
    const fs::path dir = root / listing.classes[label];
    size_t images = 0;
    for (const Found& f : files_below(dir)) {
      if (f.kind == FileKind::Image) {
        listing.files.push_back(f.file);
        listing.labels.push_back(static_cast<int>(label));
        ++images;
        continue;
      }
      const std::string why = f.kind == FileKind::Unsupported
                                  ? unsupported_format(f.file)
                                  : fmt::format("{}: not a PNG or JPEG image (its name ends in neither .png, .jpg nor "
                                                ".jpeg); move it out of the class folder",
                                                f.file.string());
      if (bad == BadImages::Refuse) throw DataError(fmt::format("{}; {}", why, kSkipHint));
      listing.skipped.push_back(why);
    }
    if (images == 0)
      throw DataError(fmt::format("{}: no PNG or JPEG image in class folder '{}'", dir.string(), listing.classes[label]));
  }
  return listing;
}

Split load_images(std::span<const fs::path> files, int64_t channels, const ImageSize& size, cpu::ThreadPool& pool,
                  const ImageAllocator& storage, const DecodeProgress& progress) {
  return decode_all(files, channels, size, pool, nullptr, storage, progress);
}

Split load_images(std::span<const fs::path> files, int64_t channels, int64_t height, int64_t width) {
  return load_images(files, channels, ImageSize{{height, width}}, cpu::ThreadPool::global());
}

Split load_image_folder(const FolderListing& listing, int64_t channels, const ImageSize& size, BadImages bad,
                        std::vector<std::string>& skipped, cpu::ThreadPool& pool, const ImageAllocator& storage,
                        const DecodeProgress& progress) {
  std::vector<std::string> errors;
  Split split = decode_all(listing.files, channels, size, pool, &errors, storage, progress);
  if (bad == BadImages::Refuse) {
    // The first in the listing's order, whichever thread met it first.
    for (const std::string& error : errors)
      if (!error.empty()) throw DataError(fmt::format("{}; {}", error, kSkipHint));
  }
  // Each image kept moves down over those left out, its label beside it.
  const auto image_bytes = static_cast<size_t>(channels * split.height * split.width);
  int64_t kept = 0;
  for (size_t i = 0; i < listing.files.size(); ++i) {
    if (!errors[i].empty()) {
      skipped.push_back(std::move(errors[i]));
      continue;
    }
    if (kept != static_cast<int64_t>(i))
      std::copy_n(split.images.begin() + static_cast<std::ptrdiff_t>(i * image_bytes), image_bytes,
                  split.images.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(kept) * image_bytes));
    split.labels.push_back(listing.labels[i]);
    ++kept;
  }
  if (kept == 0)
    throw DataError(fmt::format("not one of the {} image files could be read; the first: {}", listing.files.size(),
                                skipped[skipped.size() - listing.files.size()]));
  split.count = kept;
  split.images.resize(static_cast<size_t>(kept) * image_bytes);
  return split;
}

Split load_image_folder(const FolderListing& listing, int64_t channels, int64_t height, int64_t width) {
  std::vector<std::string> skipped;
  return load_image_folder(listing, channels, ImageSize{{height, width}}, BadImages::Refuse, skipped,
                           cpu::ThreadPool::global());
}

DataSet load_folder_dataset(const fs::path& dir, int64_t channels, const ImageSize& size, BadImages bad,
                            cpu::ThreadPool& pool, const ImageCache& cache, std::ostream* log) {
  std::error_code e;
  if (!fs::is_directory(dir, e))
    throw DataError(fmt::format("{}: the folder data set is a directory holding train/ and val/ (or test/): {}",
                                dir.string(), fs::exists(dir, e) ? "this is not a directory" : "it does not exist"));
  const fs::path test_dir = fs::is_directory(dir / "val", e) ? dir / "val" : dir / "test";
  if (!fs::is_directory(dir / "train", e) || !fs::is_directory(test_dir, e))
    throw DataError(fmt::format("{}: the folder data set needs train/ and val/ (or test/) in it, each a folder of "
                                "class folders; {} is missing",
                                dir.string(), fs::is_directory(dir / "train", e) ? "val/ (or test/)" : "train/"));
  const FolderListing train = list_image_folder(dir / "train", bad);
  const FolderListing test = list_image_folder(test_dir, bad);
  if (train.classes != test.classes) {
    // Labels are positions in the sorted class list: both splits must list the same classes.
    const auto missing_from = [](const FolderListing& a, const FolderListing& b) {
      std::vector<std::string> out;
      std::set_difference(a.classes.begin(), a.classes.end(), b.classes.begin(), b.classes.end(),
                          std::back_inserter(out));
      return out;
    };
    const std::vector<std::string> only_train = missing_from(train, test), only_test = missing_from(test, train);
    throw DataError(fmt::format("{}: train/ and {}/ must have the same class folders; {}{}{}", dir.string(),
                                test_dir.filename().string(),
                                only_train.empty() ? "" : fmt::format("only train/ has '{}'", fmt::join(only_train, "', '")),
                                !only_train.empty() && !only_test.empty() ? "; " : "",
                                only_test.empty() ? "" : fmt::format("only {}/ has '{}'", test_dir.filename().string(),
                                                                     fmt::join(only_test, "', '"))));
  }
  const auto images = static_cast<uint64_t>(train.files.size() + test.files.size());
  const uint64_t needed = images * static_cast<uint64_t>(channels * size.size.height * size.size.width);
  const std::string what =
      fmt::format("{}'s {} images at {}x{}x{}", dir.string(), images, channels, size.size.height, size.size.width);
  const ImageAllocator storage = image_storage(cache, needed, what, log);
  const auto progress = [&](const fs::path& split) {
    return DecodeProgress{log, split.string()};
  };
  DataSet data;
  data.name = "folder";
  data.class_names = train.classes;
  data.num_classes = static_cast<int>(train.classes.size());
  data.skipped = train.skipped;
  data.train = load_image_folder(train, channels, size, bad, data.skipped, pool, storage, progress(dir / "train"));
  data.skipped.insert(data.skipped.end(), test.skipped.begin(), test.skipped.end());
  data.test = load_image_folder(test, channels, size, bad, data.skipped, pool, storage, progress(test_dir));
  return data;
}

}  // namespace resnetc::data
