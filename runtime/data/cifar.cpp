#include "runtime/data/cifar.h"

#include <fmt/format.h>

#include <cerrno>
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "runtime/data/idx.h"
#include "runtime/host/files.h"

namespace resnetc::data {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSide = 32, kChannels = 3, kPixels = kChannels * kSide * kSide;

// The label kept from a record: its `label_byte`-th of `label_bytes` (CIFAR-100's fine label is
// the second), which must be below `classes`.
struct RecordFormat {
  int64_t label_bytes = 1, label_byte = 0;
  int classes = 10;
};

// Files are opened as host::InputFile, so that a FIFO or a device cannot block or surprise.
void check_open(const host::InputFile& in, const fs::path& file) {
  if (in) return;
  if (in.open_error() == ENOENT) throw DataError(fmt::format("{}: no such file", file.string()));
  throw DataError(fmt::format("{}: {}", file.string(), in.open_error() ? "cannot open: " + in.problem() : in.problem()));
}

void read_into(host::InputFile& in, const fs::path& file, std::span<std::byte> dst) {
  if (const std::string problem = in.read(dst); !problem.empty())
    throw DataError(fmt::format("{}: {}", file.string(), problem));
}

std::string read_whole(const fs::path& file) {
  host::InputFile in(file);
  check_open(in, file);
  std::string text(in.size(), '\0');
  read_into(in, file, std::as_writable_bytes(std::span(text)));
  return text;
}

// Appends every record of `file` to `split`.
void read_batch_file(const fs::path& file, const RecordFormat& format, Split& split) {
  host::InputFile in(file);
  check_open(in, file);
  const uint64_t record = static_cast<uint64_t>(format.label_bytes + kPixels);
  const uint64_t size = in.size();
  const std::string record_text = fmt::format("{}-byte records ({} label byte{} and a 3x32x32 image each)", record,
                                              format.label_bytes, format.label_bytes == 1 ? "" : "s");
  if (size == 0) throw DataError(fmt::format("{}: the file is empty; it must hold {}", file.string(), record_text));
  if (size % record != 0)
    throw DataError(fmt::format("{}: {} bytes is not a whole number of {}: {} bytes left over", file.string(), size,
                                record_text, size % record));
  std::vector<uint8_t> bytes(size);
  read_into(in, file, std::as_writable_bytes(std::span(bytes)));
  const auto records = static_cast<int64_t>(size / record);
  split.images.reserve(split.images.size() + static_cast<size_t>(records * kPixels));
  for (int64_t i = 0; i < records; ++i) {
    const uint8_t* r = bytes.data() + static_cast<size_t>(i) * record;
    const uint8_t label = r[format.label_byte];
    if (label >= format.classes)
      throw DataError(fmt::format("{}: record {} (byte offset {}) has label {}, expected 0..{}", file.string(), i,
                                  static_cast<uint64_t>(i) * record + static_cast<uint64_t>(format.label_byte), label,
                                  format.classes - 1));
    split.labels.push_back(label);
    split.images.insert(split.images.end(), r + format.label_bytes, r + record);
  }
  split.count += records;
}

Split read_split(const fs::path& dir, const std::vector<std::string>& files, const RecordFormat& format) {
  Split split;
  split.channels = kChannels;
  split.height = kSide;
  split.width = kSide;
  for (const std::string& name : files) read_batch_file(dir / name, format, split);
  return split;
}

// One name a line (blank lines, which the official files end with, skipped); without the file,
// the class numbers.
std::vector<std::string> class_names(const fs::path& file, int classes) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    for (int i = 0; i < classes; ++i) names.push_back(std::to_string(i));
    return names;
  }
  std::string text = read_whole(file);
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(std::move(line));
    start = end + 1;
  }
  if (std::ssize(names) != classes)
    throw DataError(fmt::format("{}: {} class names, expected {} (one a line)", file.string(), names.size(), classes));
  return names;
}

void check_directory(const fs::path& dir, std::string_view dataset, std::string_view archive) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  throw DataError(fmt::format("data directory {} {}; {} is read from the directory that "
                              "https://www.cs.toronto.edu/~kriz/{} unpacks to, given with --data DIR",
                              dir.string(), fs::exists(dir, ec) ? "is not a directory" : "does not exist", dataset,
                              archive));
}

}  // namespace

DataSet load_cifar10(const fs::path& dir) {
  check_directory(dir, "cifar10", "cifar-10-binary.tar.gz");
  const RecordFormat format{1, 0, 10};
  DataSet ds;
  ds.train = read_split(dir, {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                              "data_batch_5.bin"},
                        format);
  ds.test = read_split(dir, {"test_batch.bin"}, format);
  ds.num_classes = format.classes;
  ds.class_names = class_names(dir / "batches.meta.txt", format.classes);
  ds.name = "cifar10";
  return ds;
}

DataSet load_cifar100(const fs::path& dir, bool coarse) {
  check_directory(dir, coarse ? "cifar100-coarse" : "cifar100", "cifar-100-binary.tar.gz");
  const RecordFormat format = coarse ? RecordFormat{2, 0, 20} : RecordFormat{2, 1, 100};
  DataSet ds;
  ds.train = read_split(dir, {"train.bin"}, format);
  ds.test = read_split(dir, {"test.bin"}, format);
  ds.num_classes = format.classes;
  ds.class_names =
      class_names(dir / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt"), format.classes);
  ds.name = coarse ? "cifar100-coarse" : "cifar100";
  return ds;
}

}  // namespace resnetc::data
