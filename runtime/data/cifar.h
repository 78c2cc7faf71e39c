// CIFAR-10 and CIFAR-100 in their official binary versions ("CIFAR-10 binary version",
// https://www.cs.toronto.edu/~kriz/cifar.html): one record per image, its label byte(s) and
// then 3072 pixel bytes, the red, green and blue 32x32 planes, each row-major: the layout of
// data::Split already.
#pragma once

#include <filesystem>

#include "runtime/data/dataset.h"

namespace resnetc::data {

// CIFAR-10: data_batch_1.bin .. data_batch_5.bin (training) and test_batch.bin in `dir`,
// records of 1 label byte (0..9) + 3072 bytes; class names from batches.meta.txt when present.
DataSet load_cifar10(const std::filesystem::path& dir);

// CIFAR-100: train.bin and test.bin in `dir`, records of a coarse label byte (0..19), a fine
// label byte (0..99) and 3072 bytes. `coarse` trains on the 20 superclasses instead of the 100
// classes; the names come from coarse_label_names.txt or fine_label_names.txt when present.
DataSet load_cifar100(const std::filesystem::path& dir, bool coarse);

}  // namespace resnetc::data
