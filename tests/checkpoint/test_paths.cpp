// Paths that are not regular files: refused at once, whether read (a FIFO must not block the
// open) or written (a FIFO or directory must not be replaced by the rename).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "runtime/checkpoint/atomic_file.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"
#include "test_util.h"

using namespace resnetc::checkpoint;
using resnetc::checkpoint::test::bytes_of;
using resnetc::checkpoint::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A FIFO at `path`, and a writer that opens it (again and again) after `patience`, so that a
// reader blocked in open() is let go and the test fails on the time it took instead of hanging.
class Fifo {
 public:
  explicit Fifo(fs::path path, std::chrono::seconds patience = std::chrono::seconds(5)) : path_(std::move(path)) {
    REQUIRE(::mkfifo(path_.c_str(), 0600) == 0);
    rescuer_ = std::thread([this, patience] {
      const auto deadline = std::chrono::steady_clock::now() + patience;
      while (!done_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (std::chrono::steady_clock::now() < deadline) continue;
        // O_NONBLOCK: succeeds only if a reader is waiting, which it then releases.
        if (const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK); fd >= 0) ::close(fd);
      }
    });
  }
  ~Fifo() {
    done_ = true;
    rescuer_.join();
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::atomic<bool> done_{false};
  std::thread rescuer_;
};

template <class F>
double seconds_taken(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("reading a FIFO as a checkpoint is refused without waiting for a writer", "[checkpoint]") {
  TempDir dir;
  const Fifo fifo(dir.path() / "weights.safetensors");
  const fs::path link = dir.path() / "link.safetensors";
  fs::create_symlink(fifo.path(), link);
  for (const fs::path& path : {fifo.path(), link}) {
    INFO(path);
    const double seconds = seconds_taken([&] {
      REQUIRE_THROWS_WITH(read_safetensors(path), path.string() + ": it is a FIFO, not a regular file");
    });
    CHECK(seconds < 1.0);
  }
}

TEST_CASE("a device is refused as a checkpoint to read", "[checkpoint]") {
  REQUIRE_THROWS_WITH(read_safetensors("/dev/zero"), "/dev/zero: it is a character device, not a regular file");
}

TEST_CASE("require_regular_or_absent accepts files and new names, and refuses the rest", "[checkpoint]") {
  TempDir dir;
  const fs::path file = dir.path() / "old.safetensors";
  test::write_bytes(file, std::vector<std::byte>(3));
  CHECK_NOTHROW(require_regular_or_absent(file));
  CHECK_NOTHROW(require_regular_or_absent(dir.path() / "new.safetensors"));

  CHECK_THROWS_WITH(require_regular_or_absent(dir.path()), dir.path().string() + ": it is a directory");
  CHECK_THROWS_WITH(require_regular_or_absent("/dev/null"), "/dev/null: it is a character device, not a regular file");
  const fs::path fifo = dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const fs::path link = dir.path() / "link";
  fs::create_symlink(fifo, link);
  CHECK_THROWS_WITH(require_regular_or_absent(link), link.string() + ": it is a FIFO, not a regular file");
  const fs::path orphan = dir.path() / "missing" / "x.safetensors";
  CHECK_THROWS_WITH(require_regular_or_absent(orphan),
                    orphan.string() + ": its directory '" + (dir.path() / "missing").string() + "' does not exist");
  CHECK_THROWS_WITH(require_regular_or_absent(file / "x"),
                    (file / "x").string() + ": '" + file.string() + "' is not a directory");
}

TEST_CASE("writing a checkpoint over a FIFO leaves the FIFO and writes nothing", "[checkpoint]") {
  TempDir dir;
  const fs::path fifo = dir.path() / "last.safetensors";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::vector<float> values = {1, 2};
  REQUIRE_THROWS_WITH(write_safetensors(fifo, std::vector<Tensor>{{"w", DType::F32, {2}, bytes_of(values)}}),
                      fifo.string() + ": it is a FIFO, not a regular file");
  CHECK(fs::is_fifo(fifo));
  CHECK(dir.entries() == std::vector<std::string>{"last.safetensors"});
}
