#include "train/report/figure_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "runtime/checkpoint/atomic_file.h"
#include "runtime/checkpoint/error.h"

extern char** environ;

namespace resnetc::report {
namespace {

namespace fs = std::filesystem;

constexpr const char* kConverter = "rsvg-convert";

[[noreturn]] void refuse(const std::string& message) { throw std::runtime_error(message); }

std::string error_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// rsvg-convert's full path, found on PATH; none when it is not installed.
std::optional<fs::path> converter() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / kConverter;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::string no_converter(const fs::path& out) {
  return fmt::format(
      "cannot write {}: PNG needs {} (Debian: apt-get install librsvg2-bin); or write an SVG "
      "(-o {}), which every browser shows",
      out.string(), kConverter, fs::path(out).replace_extension(".svg").string());
}

// A temporary file, removed however the conversion ends.
struct TempFile {
  explicit TempFile(const std::string& suffix)
      : path((fs::temp_directory_path() / ("resnetc-figure-XXXXXX" + suffix)).string()) {
    const int fd = ::mkstemps(path.data(), static_cast<int>(suffix.size()));
    if (fd < 0)
      refuse(fmt::format("cannot create a temporary file in {}: {}", fs::temp_directory_path().string(),
                         error_text(errno)));
    ::close(fd);
  }
  ~TempFile() { ::unlink(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::string path;
};

std::string png_of(const fs::path& out, const std::string& svg) {
  const std::optional<fs::path> program = converter();
  if (!program) refuse(no_converter(out));
  TempFile in(".svg"), png(".png");
  std::ofstream(in.path, std::ios::binary) << svg;
  const std::string output = "--output=" + png.path;
  std::vector<std::string> args{program->string(), "--format=png", output, in.path};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (const int e = ::posix_spawn(&pid, program->c_str(), nullptr, nullptr, argv.data(), environ); e != 0)
    refuse(fmt::format("cannot run {}: {}", program->string(), error_text(e)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    refuse(fmt::format("cannot write {}: {} failed ({})", out.string(), kConverter,
                       WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status)) : "killed by a signal"));
  std::ifstream result(png.path, std::ios::binary);
  std::ostringstream bytes;
  bytes << result.rdbuf();
  return bytes.str();
}

std::string kind_of(const fs::file_status& s) {
  switch (s.type()) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a FIFO";
    default: return "not a regular file";
  }
}

}  // namespace

std::optional<FigureFormat> figure_format(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".svg") return FigureFormat::Svg;
  if (ext == ".png") return FigureFormat::Png;
  return std::nullopt;
}

void check_figure_output(const fs::path& out, const std::vector<fs::path>& inputs) {
  std::error_code ec;
  for (const fs::path& input : inputs)
    if (fs::equivalent(out, input, ec) || out.lexically_normal() == input.lexically_normal())
      refuse(fmt::format("the figure {} is an input ({}); choose another file, outputs never overwrite inputs",
                         out.string(), input.string()));
  const fs::file_status s = fs::status(out, ec);
  if (fs::exists(s) && !fs::is_regular_file(s))
    refuse(fmt::format("the figure {} is {}; give it a file name", out.string(), kind_of(s)));
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    refuse(fmt::format("cannot write the figure {}: the directory {} does not exist", out.string(), dir.string()));
  if (figure_format(out) == FigureFormat::Png && !converter()) refuse(no_converter(out));
}

void write_figure(const fs::path& out, const std::string& svg) {
  std::error_code ec;
  // Through a link to the file it names, as the trainer writes its checkpoint.
  const fs::path target = fs::is_symlink(fs::symlink_status(out, ec)) ? fs::weakly_canonical(out, ec) : out;
  const std::string bytes = figure_format(out) == FigureFormat::Png ? png_of(out, svg) : svg;
  try {
    checkpoint::AtomicFile file(target.empty() ? out : target);
    file.write(std::as_bytes(std::span(bytes)));
    file.commit();
  } catch (const checkpoint::CheckpointError& e) {
    refuse(fmt::format("cannot write the figure {}: {}", out.string(), e.problem()));
  }
}

}  // namespace resnetc::report
