#include "runtime/checkpoint/writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/checkpoint/atomic_file.h"
#include "runtime/checkpoint/header.h"
#include "runtime/checkpoint/utf8.h"

namespace resnetc::checkpoint {
namespace {

// Refuses what read_safetensors (or another safetensors reader) would refuse, so that a
// training run fails at its first save rather than at resume time.
void check_writable(std::span<const Tensor> tensors, const Metadata& metadata,
                    const std::string& source) {
  const auto fail = [&](std::string problem) { throw CheckpointError(source, std::move(problem)); };
  std::set<std::string_view> names;
  for (const Tensor& t : tensors) {
    if (find_invalid_utf8(t.name)) fail(fmt::format("tensor name '{}' is not UTF-8", t.name));
    if (t.name == kMetadataKey) fail(fmt::format("tensor name '{}' is reserved", t.name));
    if (!names.insert(t.name).second) fail(fmt::format("duplicate tensor name '{}'", t.name));
    const auto needed = byte_size(t.dtype, t.shape);
    if (!needed) fail(fmt::format("tensor '{}': invalid shape {}", t.name, format_shape(t.shape)));
    if (*needed != t.data.size()) {
      fail(fmt::format("tensor '{}': shape {} of {} needs {} bytes, but {} were given", t.name,
                       format_shape(t.shape), dtype_name(t.dtype), *needed, t.data.size()));
    }
  }
  for (const auto& [key, value] : metadata) {
    if (find_invalid_utf8(key)) fail(fmt::format("metadata key '{}' is not UTF-8", key));
    if (find_invalid_utf8(value)) fail(fmt::format("metadata '{}' is not UTF-8", key));
  }
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, std::span<const Tensor> tensors,
                       const Metadata& metadata) {
  const std::string source = path.string();
  check_writable(tensors, metadata, source);

  // Largest elements first: with the data area 8-aligned, each tensor then starts at a
  // multiple of its element size, as in files from safetensors' own writer.
  std::vector<const Tensor*> order;
  for (const Tensor& t : tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const Tensor* a, const Tensor* b) {
    return dtype_size(a->dtype) > dtype_size(b->dtype);
  });

  std::vector<HeaderEntry> entries;
  uint64_t offset = 0;
  for (const Tensor* t : order) {
    entries.push_back(HeaderEntry{.name = t->name,
                                  .dtype = t->dtype,
                                  .shape = t->shape,
                                  .begin = offset,
                                  .end = offset + t->data.size()});
    offset += t->data.size();
  }
  const std::string header = encode_header(entries, metadata);
  if (header.size() > kMaxHeaderBytes) {
    throw CheckpointError(source, fmt::format("header of {} bytes exceeds the {} byte limit",
                                              header.size(), kMaxHeaderBytes));
  }

  AtomicFile file(path);
  file.write(encode_length(header.size()));
  file.write(std::as_bytes(std::span(header)));
  for (const Tensor* t : order) file.write(t->data);
  file.commit();
}

}  // namespace resnetc::checkpoint
