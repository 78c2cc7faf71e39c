#include "dsl/source.h"

#include <cerrno>
#include <span>

#include "dsl/diagnostics.h"
#include "runtime/host/files.h"

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
    return CompileError(CompileError::Phase::Source,
                        SourceLoc{std::make_shared<const std::string>(path.string()), 0, 0}, std::move(why));
  };
  // Opened without blocking and checked on the descriptor (host::InputFile), so a FIFO or a
  // device named as the model is refused at once instead of waiting for a writer.
  host::InputFile in(path);
  if (!in) {
    if (in.open_error() == ENOENT) throw fail("cannot open file: no such file");
    throw fail((in.open_error() ? "cannot open file: " : "cannot read file: ") + in.problem());
  }
  if (in.size() > kMaxSourceBytes) throw fail("file is too large for a network description (over 1 MiB)");
  std::string text(static_cast<size_t>(in.size()), '\0');
  if (std::string problem = in.read(std::as_writable_bytes(std::span(text))); !problem.empty())
    throw fail("error while reading file: " + problem);
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
