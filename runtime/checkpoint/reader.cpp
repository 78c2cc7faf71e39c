#include "runtime/checkpoint/reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/checkpoint/header.h"
#include "runtime/checkpoint/json_reader.h"
#include "runtime/host/files.h"
#include "runtime/host/memory.h"

namespace resnetc::checkpoint {
namespace {

// Checks that the byte ranges tile the data area exactly, in file order: each one matches
// its shape, none overlap, and there are no holes or bytes past the end. Sorts `entries`.
void check_layout(std::vector<HeaderEntry>& entries, uint64_t data_size,
                  const std::string& source) {
  const auto fail = [&](std::string problem) { throw CheckpointError(source, std::move(problem)); };
  std::stable_sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  const HeaderEntry* previous = nullptr;
  uint64_t covered = 0;  // the data area up to here is accounted for
  for (const HeaderEntry& e : entries) {
    const auto needed = byte_size(e.dtype, e.shape);
    if (!needed) {
      fail(fmt::format("tensor '{}': shape {} is too large to address", e.name,
                       format_shape(e.shape)));
    }
    if (e.end < e.begin) {
      fail(fmt::format("tensor '{}': data_offsets [{}, {}] end before they begin", e.name, e.begin,
                       e.end));
    }
    if (e.end - e.begin != *needed) {
      fail(
          fmt::format("tensor '{}': data_offsets [{}, {}] hold {} bytes, but shape {} of {} "
                      "needs {}",
                      e.name, e.begin, e.end, e.end - e.begin, format_shape(e.shape),
                      dtype_name(e.dtype), *needed));
    }
    if (e.end > data_size) {
      fail(
          fmt::format("tensor '{}': data_offsets [{}, {}] run past the end of the file (the "
                      "data area has {} bytes)",
                      e.name, e.begin, e.end, data_size));
    }
    if (e.begin < covered) {
      fail(fmt::format("tensor '{}': data_offsets [{}, {}] overlap tensor '{}'", e.name, e.begin,
                       e.end, previous->name));
    }
    if (e.begin > covered) {
      fail(fmt::format("hole of {} bytes in the data area before tensor '{}'", e.begin - covered,
                       e.name));
    }
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size) {
    fail(fmt::format("{} bytes at the end of the data area belong to no tensor",
                     data_size - covered));
  }
}

Checkpoint decode(std::span<const std::byte> bytes, std::string source,
                  std::shared_ptr<const void> storage) {
  if (bytes.size() < kLengthPrefixBytes) {
    throw CheckpointError(source, fmt::format("file is {} bytes, too short for the {}-byte "
                                              "header length",
                                              bytes.size(), kLengthPrefixBytes));
  }
  const uint64_t header_size = decode_length(bytes.first<kLengthPrefixBytes>());
  if (header_size > kMaxHeaderBytes) {
    // The usual mistake: a file torch.save wrote (a zip archive since PyTorch 1.6).
    if (std::string_view(reinterpret_cast<const char*>(bytes.data()), 4) == "PK\x03\x04") {
      throw CheckpointError(source, "not a safetensors file but a zip archive, as PyTorch's torch.save "
                                    "writes; save the state dict with safetensors.torch.save_file");
    }
    throw CheckpointError(source, fmt::format("header length {} is absurd (the limit is {})",
                                              header_size, kMaxHeaderBytes));
  }
  const std::span<const std::byte> rest = bytes.subspan(kLengthPrefixBytes);
  if (header_size > rest.size()) {
    throw CheckpointError(source, fmt::format("header length {} is larger than the {} bytes "
                                              "that follow it",
                                              header_size, rest.size()));
  }
  const std::string_view json(reinterpret_cast<const char*>(rest.data()), header_size);
  const std::span<const std::byte> data = rest.subspan(header_size);

  Header header;
  try {
    header = parse_header(json);
  } catch (const JsonError& e) {
    throw CheckpointError(source, fmt::format("bad header at byte {}: {}",
                                              kLengthPrefixBytes + e.offset(), e.what()));
  }
  check_layout(header.entries, data.size(), source);

  std::vector<Tensor> tensors;
  tensors.reserve(header.entries.size());
  for (HeaderEntry& e : header.entries) {
    tensors.push_back(Tensor{.name = std::move(e.name),
                             .dtype = e.dtype,
                             .shape = std::move(e.shape),
                             .data = data.subspan(e.begin, e.end - e.begin)});
  }
  return Checkpoint(std::move(source), std::move(tensors), std::move(header.metadata),
                    std::move(storage));
}

// The whole file; a FIFO or device is refused without blocking (host::InputFile), and a file
// too large to hold is an error naming its size.
std::vector<std::byte> read_file(const std::filesystem::path& path) {
  host::InputFile in(path);
  if (!in) throw CheckpointError(path.string(), in.open_error() ? "cannot open: " + in.problem() : in.problem());
  std::vector<std::byte> bytes;
  try {
    bytes.resize(static_cast<size_t>(in.size()));
  } catch (const std::bad_alloc&) {
    throw CheckpointError(path.string(), fmt::format("out of memory reading the file ({})", host::format_bytes(in.size())));
  }
  if (std::string problem = in.read(bytes); !problem.empty())
    throw CheckpointError(path.string(), "cannot read: " + problem);
  return bytes;
}

}  // namespace

Checkpoint read_safetensors(const std::filesystem::path& path) {
  auto bytes = std::make_shared<const std::vector<std::byte>>(read_file(path));
  return decode(*bytes, path.string(), bytes);
}

Checkpoint parse_safetensors(std::span<const std::byte> bytes, std::string source) {
  return decode(bytes, std::move(source), nullptr);
}

}  // namespace resnetc::checkpoint
