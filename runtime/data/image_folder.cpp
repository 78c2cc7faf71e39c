#include "runtime/data/image_folder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <iterator>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

#include "runtime/cpu/thread_pool.h"
#include "runtime/data/idx.h"
#include "runtime/data/image_decode.h"
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

}  // namespace

// In sorted(os.walk) order: by directory, then by file name.
std::vector<fs::path> images_below(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;  // (directory, file name)
  std::error_code e;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, e);
  if (e) throw filesystem_error(dir, e);
  for (; it != fs::recursive_directory_iterator(); it.increment(e)) {
    if (e) throw filesystem_error(it->path(), e);
    if (!it->is_regular_file(e)) continue;
    switch (kind_of(it->path())) {
      case FileKind::Image: found.emplace_back(it->path().parent_path().string(), it->path().filename().string()); break;
      case FileKind::Unsupported:
        throw DataError(fmt::format("{}: {} files are not read (PNG and JPEG are); convert it or move it out",
                                    it->path().string(), lower(it->path().extension().string()).substr(1)));
      case FileKind::Other: break;
    }
  }
  if (e) throw filesystem_error(dir, e);
  std::sort(found.begin(), found.end());
  std::vector<fs::path> files;
  files.reserve(found.size());
  for (const auto& [parent, name] : found) files.push_back(fs::path(parent) / name);
  return files;
}

FolderListing list_image_folder(const fs::path& root) {
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
  if (listing.classes.size() > std::numeric_limits<uint8_t>::max() + size_t{1})
    throw DataError(fmt::format("{}: {} classes; resnetc reads at most 256 for now", root.string(),
                                listing.classes.size()));
  for (size_t label = 0; label < listing.classes.size(); ++label) {
    const fs::path dir = root / listing.classes[label];
    std::vector<fs::path> files = images_below(dir);
    if (files.empty())
      throw DataError(fmt::format("{}: no PNG or JPEG image in class folder '{}'", dir.string(), listing.classes[label]));
    listing.labels.insert(listing.labels.end(), files.size(), static_cast<int>(label));
    std::move(files.begin(), files.end(), std::back_inserter(listing.files));
  }
  return listing;
}

Split load_images(std::span<const fs::path> files, int64_t channels, int64_t height, int64_t width) {
  return load_images(files, channels, height, width, cpu::ThreadPool::global());
}

Split load_images(std::span<const fs::path> files, int64_t channels, int64_t height, int64_t width,
                  cpu::ThreadPool& pool) {
  Split split;
  split.count = static_cast<int64_t>(files.size());
  split.channels = channels, split.height = height, split.width = width;
  const auto plane = static_cast<size_t>(height * width);
  const size_t image_bytes = plane * static_cast<size_t>(channels);
  split.images.resize(image_bytes * files.size());

  pool.parallel_for(split.count, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> scratch;
    for (int64_t i = begin; i < end; ++i) {
      const Image image = decode_image_file(files[static_cast<size_t>(i)], static_cast<int>(channels));
      uint8_t* out = split.images.data() + static_cast<size_t>(i) * image_bytes;
      if (image.height == height && image.width == width) {
        std::copy(image.pixels.begin(), image.pixels.end(), out);
        continue;
      }
      const Resizer resizer(image.height, image.width, height, width);
      scratch.resize(resizer.scratch_size());
      const auto in_plane = static_cast<size_t>(image.height * image.width);
      for (int64_t c = 0; c < channels; ++c)
        resizer.resize(std::span(image.pixels).subspan(static_cast<size_t>(c) * in_plane, in_plane),
                       std::span(out + static_cast<size_t>(c) * plane, plane), scratch);
    }
  });
  return split;
}

Split load_image_folder(const FolderListing& listing, int64_t channels, int64_t height, int64_t width) {
  Split split = load_images(listing.files, channels, height, width);
  split.labels.assign(listing.labels.begin(), listing.labels.end());
  return split;
}

DataSet load_folder_dataset(const fs::path& dir, int64_t channels, int64_t height, int64_t width) {
  std::error_code e;
  if (!fs::is_directory(dir, e))
    throw DataError(fmt::format("{}: the folder data set is a directory holding train/ and val/ (or test/): {}",
                                dir.string(), fs::exists(dir, e) ? "this is not a directory" : "it does not exist"));
  const fs::path test_dir = fs::is_directory(dir / "val", e) ? dir / "val" : dir / "test";
  if (!fs::is_directory(dir / "train", e) || !fs::is_directory(test_dir, e))
    throw DataError(fmt::format("{}: the folder data set needs train/ and val/ (or test/) in it, each a folder of "
                                "class folders; {} is missing",
                                dir.string(), fs::is_directory(dir / "train", e) ? "val/ (or test/)" : "train/"));
  const FolderListing train = list_image_folder(dir / "train");
  const FolderListing test = list_image_folder(test_dir);
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
  DataSet data;
  data.name = "folder";
  data.class_names = train.classes;
  data.num_classes = static_cast<int>(train.classes.size());
  data.train = load_image_folder(train, channels, height, width);
  data.test = load_image_folder(test, channels, height, width);
  return data;
}

}  // namespace resnetc::data
