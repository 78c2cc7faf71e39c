#pragma once
// The data a run trains on, as its checkpoint records it, so that a --resume on other data
// (another data set, another --data directory's images, another --val-split) is refused unless
// asked for, like a changed recipe: continuing on other images is not continuing the run.
#include <optional>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"
#include "train/run_record.h"

namespace resnetc::train {

struct DataRecord {
  std::string dataset;              // the data set's name (fashion-mnist, cifar10, folder, ...)
  std::optional<double> val_split;  // --val-split's fraction, when the evaluated images were carved out
  std::string train_images;         // "COUNT images CxHxW, fingerprint HEX": the training split itself
};

// `train` is the split the run trains on (after --val-split carved its images out). Its
// fingerprint is FNV-1a over its size, pixels and labels: equal for the same images in the same
// order wherever they were read from.
DataRecord data_record(const std::string& dataset, std::optional<double> val_split, const data::Split& train);

// Adds "dataset", "train_images" and, when the run has one, "val_split" to a checkpoint's metadata.
void add_data_record(Metadata& metadata, const DataRecord& record);

// The fields in which `now` differs from the checkpoint's record, "dataset cifar10 (the
// checkpoint's: fashion-mnist)". A checkpoint written before data were recorded is not compared.
std::vector<std::string> data_changes(const Metadata& metadata, const DataRecord& now);

// The --val-split fraction the checkpoint's run evaluated with: none when it records none (a run
// on the test set, or a checkpoint written before data were recorded); a CheckpointError when the
// value is not a fraction above 0 and below 1.
std::optional<double> recorded_val_split(const Metadata& metadata, const std::string& source);

}  // namespace resnetc::train
