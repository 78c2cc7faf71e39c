#include "dsl/source.h"

#include <fstream>
#include <iterator>
#include <system_error>

#include "dsl/diagnostics.h"

namespace resnetc::dsl {
namespace {
// A network description is a few kilobytes; this bound keeps hostile inputs cheap.
constexpr std::uintmax_t kMaxSourceBytes = 1u << 20;
}  // namespace

std::string_view SourceFile::line(uint32_t line_number) const {
  std::string_view rest = text;
  for (uint32_t i = 1; i < line_number; ++i) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return {};
    rest.remove_prefix(nl + 1);
  }
  rest = rest.substr(0, rest.find('\n'));
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  return rest;
}

const SourceFile& SourceManager::load(const std::filesystem::path& path) {
  auto fail = [&](std::string why) -> CompileError {
    return CompileError(Diagnostic{SourceLoc{std::make_shared<const std::string>(path.string()), 0, 0}, std::move(why), {}});
  };
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw fail("cannot open file: no such file");
  if (std::filesystem::is_directory(status)) throw fail("cannot read file: it is a directory");
  if (!std::filesystem::is_regular_file(status)) throw fail("cannot read file: not a regular file");
  if (std::filesystem::file_size(path, ec) > kMaxSourceBytes)
    throw fail("file is too large for a network description (over 1 MiB)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open file: permission denied or unreadable");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw fail("error while reading file");
  return add(path.string(), std::move(text));
}

const SourceFile& SourceManager::add(std::string name, std::string text, bool is_prelude) {
  // Some editors start UTF-8 files with a byte order mark; it is not part of the text.
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
  files_.push_back(std::make_unique<SourceFile>(
      SourceFile{std::make_shared<const std::string>(std::move(name)), std::move(text), is_prelude}));
  return *files_.back();
}

const SourceFile* SourceManager::find(const SourceLoc& loc) const {
  for (const auto& f : files_)
    if (f->name == loc.file) return f.get();
  return nullptr;
}

}  // namespace resnetc::dsl
