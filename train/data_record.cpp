#include "train/data_record.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <span>

#include "runtime/checkpoint/error.h"

namespace resnetc::train {
namespace {

// FNV-1a, eight bytes (little-endian) at a time: a fingerprint, not a defence against forgery.
struct Fnv {
  uint64_t h = 0xcbf29ce484222325ull;
  void word(uint64_t w) { h = (h ^ w) * 0x100000001b3ull; }
  void bytes(std::span<const uint8_t> b) {
    size_t i = 0;
    for (; i + 8 <= b.size(); i += 8) {
      uint64_t w = 0;
      for (int k = 7; k >= 0; --k) w = w << 8 | b[i + static_cast<size_t>(k)];
      word(w);
    }
    for (; i < b.size(); ++i) word(b[i]);
  }
};

std::string split_text(std::optional<double> fraction) {
  return fraction ? fmt::format("{}", *fraction) : std::string("none");
}

}  // namespace

DataRecord data_record(const std::string& dataset, std::optional<double> val_split, const data::Split& train) {
  Fnv f;
  for (int64_t v : {train.count, train.channels, train.height, train.width}) f.word(static_cast<uint64_t>(v));
  f.bytes(train.images);
  for (int32_t label : train.labels) f.word(static_cast<uint32_t>(label));
  return {dataset, val_split,
          fmt::format("{} images {}x{}x{}, fingerprint {:016x}", train.count, train.channels, train.height,
                      train.width, f.h)};
}

void add_data_record(Metadata& m, const DataRecord& r) {
  m["dataset"] = r.dataset;
  m["train_images"] = r.train_images;
  if (r.val_split) m["val_split"] = split_text(r.val_split);
}

std::vector<std::string> data_changes(const Metadata& m, const DataRecord& now) {
  const auto dataset = m.find("dataset"), images = m.find("train_images");
  if (dataset == m.end() || images == m.end()) return {};
  std::vector<std::string> changes;
  if (dataset->second != now.dataset)
    changes.push_back(fmt::format("dataset {} (the checkpoint's: {})", now.dataset, dataset->second));
  const auto split = m.find("val_split");
  const std::string saved_split = split == m.end() ? "none" : split->second, now_split = split_text(now.val_split);
  if (saved_split != now_split)
    changes.push_back(fmt::format("--val-split {} (the checkpoint's: {})", now_split, saved_split));
  if (images->second != now.train_images)
    changes.push_back(fmt::format("training set of {} (the checkpoint's: {})", now.train_images, images->second));
  return changes;
}

std::optional<double> recorded_val_split(const Metadata& m, const std::string& source) {
  const auto split = m.find("val_split");
  if (split == m.end()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(split->second.c_str(), &end);
  if (split->second.empty() || *end != '\0' || !(v > 0 && v < 1))
    throw checkpoint::CheckpointError(
        source, fmt::format("metadata 'val_split' is '{}', expected a fraction above 0 and below 1", split->second));
  return v;
}

}  // namespace resnetc::train
