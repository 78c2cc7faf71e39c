#include "runtime/checkpoint/error.h"

#include <fmt/format.h>

#include <utility>

namespace resnetc::checkpoint {

CheckpointError::CheckpointError(std::string source, std::string problem)
    : std::runtime_error(fmt::format("{}: {}", source, problem)),
      source_(std::move(source)),
      problem_(std::move(problem)) {}

}  // namespace resnetc::checkpoint
