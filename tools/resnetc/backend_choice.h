#pragma once
// Picks the device that runs the generated kernels (--device).
#include <memory>

#include "train/executor.h"
#include "tools/resnetc/options.h"

namespace resnetc::cli {

// auto: a GPU when the CUDA backend can use one, else the CPU. Throws std::runtime_error
// when the asked-for device cannot be used, saying why.
std::unique_ptr<train::Backend> make_backend(const Options& o);

}  // namespace resnetc::cli
