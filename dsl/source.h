#pragma once
// Source files held in memory for the whole compile, so diagnostics can quote any line.
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/location.h"

namespace resnetc::dsl {

using ir::SourceLoc;

struct SourceFile {
  std::shared_ptr<const std::string> name;  // as the user wrote it; shared with every SourceLoc
  std::string text;
  bool is_prelude = false;

  std::string_view line(uint32_t line_number) const;  // without the newline; empty if out of range
};

class SourceManager {
 public:
  // Reads a .net file; a missing file, a directory or an oversized file is a CompileError.
  const SourceFile& load(const std::filesystem::path& path);
  const SourceFile& add(std::string name, std::string text, bool is_prelude = false);
  const SourceFile* find(const SourceLoc& loc) const;

 private:
  std::vector<std::unique_ptr<SourceFile>> files_;  // stable addresses
};

}  // namespace resnetc::dsl
