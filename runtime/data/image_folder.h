// An image-classification folder, read as torchvision's ImageFolder reads it, so a folder
// gives the same classes, the same order and the same labels in resnetc and in PyTorch.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "runtime/data/augment_spec.h"
#include "runtime/data/dataset.h"
#include "runtime/data/image_storage.h"

namespace resnetc::cpu {
class ThreadPool;
}

namespace resnetc::data {

// What to do with a file below a class folder that is not a readable image: a file not named
// .png, .jpg or .jpeg (hidden files so named excepted: .DS_Store), one in a format resnetc does
// not read, or an image that cannot be decoded (corrupt, truncated, CMYK, ...). Refuse: stop,
// naming the file (the default, so that no file is silently left out). Skip: leave it out and
// list it in DataSet::skipped (resnetc train --skip-bad-images).
enum class BadImages { Refuse, Skip };

// ROOT/<class>/**/<image>: the classes are ROOT's subdirectories sorted by name (label i is
// the i-th); a class's images are every PNG or JPEG file below its directory, subdirectories
// and symbolic links included, sorted by (directory, file name) as sorted(os.walk(...)) and
// sorted(file names) order them, as torchvision's ImageFolder finds them. Other files are
// handled as `bad` says.
struct FolderListing {
  std::vector<std::string> classes;
  std::vector<std::filesystem::path> files;
  std::vector<int> labels;  // one per file
  std::vector<std::string> skipped;  // with BadImages::Skip, "FILE: why" for each file left out
};

// Throws DataError when ROOT is not a directory, has no class directory, a class has no
// image, or (BadImages::Refuse) a file below it is not named as a PNG or JPEG image.
FolderListing list_image_folder(const std::filesystem::path& root, BadImages bad = BadImages::Refuse);

// The PNG and JPEG files below `dir`, in a class folder's order (above), other files skipped.
// Throws DataError for an image format resnetc does not read (BMP, TIFF, WebP, PPM, PGM: named so
// that no image is silently left out), or a directory it cannot list.
std::vector<std::filesystem::path> images_below(const std::filesystem::path& dir);

// How far decoding has got, for a data set that takes minutes: "decoding WHAT: N of M images
// (P%)" on `out` every `every` while it lasts (nothing for one decoded sooner, or without `out`).
struct DecodeProgress {
  std::ostream* out = nullptr;
  std::string what;
  std::chrono::steady_clock::duration every = std::chrono::seconds(10);
};

// Decodes every file into `channels` planes (image_decode.h) and resizes it to `size` as
// torchvision's Resize does on a PIL image (load_size.h: "HxW" exactly, "N" its shorter side, then
// the center N x N), in parallel on `pool`, into bytes from `storage`: a split without labels.
// Throws DataError naming the first file that cannot be read.
Split load_images(std::span<const std::filesystem::path> files, int64_t channels, const ImageSize& size,
                  cpu::ThreadPool& pool, const ImageAllocator& storage = {}, const DecodeProgress& progress = {});
// The same at exactly height x width, on the CPU pool.
Split load_images(std::span<const std::filesystem::path> files, int64_t channels, int64_t height, int64_t width);

// load_images of the listing's files, with its labels. With BadImages::Skip a file that cannot
// be decoded is left out and added to `skipped` ("FILE: why"), in the listing's order; a DataError
// when none is left.
Split load_image_folder(const FolderListing& listing, int64_t channels, const ImageSize& size, BadImages bad,
                        std::vector<std::string>& skipped, cpu::ThreadPool& pool, const ImageAllocator& storage = {},
                        const DecodeProgress& progress = {});
// The same at exactly height x width, refusing bad images, on the CPU pool.
Split load_image_folder(const FolderListing& listing, int64_t channels, int64_t height, int64_t width);

// The `folder` data set: DIR/train and DIR/val (or, without val, DIR/test), each a folder of
// class folders with the same names, images read as load_image_folder reads them, on `pool`, kept
// where `cache` says (image_storage.h); where that is a file, `log` (when given) says so and why,
// and how far decoding has got (DecodeProgress). Throws DataError when a split is missing, the two
// splits' classes differ (naming the difference), the images at `size` would not fit in the
// memory available under ImageCacheMode::Memory (before decoding any), or a cache file's disk
// lacks room for them. Files left out under BadImages::Skip are listed in the DataSet's `skipped`.
DataSet load_folder_dataset(const std::filesystem::path& dir, int64_t channels, const ImageSize& size, BadImages bad,
                            cpu::ThreadPool& pool, const ImageCache& cache = {}, std::ostream* log = nullptr);

}  // namespace resnetc::data
