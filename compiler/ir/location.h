#pragma once
// Where in a .net source an IR op came from, so that later passes can still point errors
// at the user's line.
#include <cstdint>
#include <memory>
#include <string>

namespace resnetc::ir {

struct SourceLoc {
  std::shared_ptr<const std::string> file;  // shared: hundreds of ops name the same file
  uint32_t line = 0;                        // 1-based; 0 means "no location"
  uint32_t col = 0;                         // 1-based, in bytes
  // A layer of a block: the `stage` that instantiated it. Errors found after lowering point
  // there when the block's own line is not the user's (the built-in prelude).
  std::shared_ptr<const SourceLoc> instance = nullptr;

  bool valid() const { return file && line > 0; }
};

}  // namespace resnetc::ir
