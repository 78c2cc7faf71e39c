#pragma once
// The one exception type for everything that can go wrong with a checkpoint, so that the
// trainer can catch a single type and still tell the user which file and what went wrong.
#include <stdexcept>
#include <string>

namespace resnetc::checkpoint {

class CheckpointError : public std::runtime_error {
 public:
  CheckpointError(std::string source, std::string problem);

  const std::string& source() const { return source_; }    // the file, or "<memory>"
  const std::string& problem() const { return problem_; }  // what is wrong, without the file

 private:
  std::string source_;
  std::string problem_;
};

}  // namespace resnetc::checkpoint
