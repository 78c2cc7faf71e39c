// A failed write leaves the previous checkpoint intact and no temporary files behind.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>

#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"
#include "runtime/host/signals.h"
#include "test_util.h"

using namespace resnetc::checkpoint;
using resnetc::checkpoint::test::bytes_of;
using resnetc::checkpoint::test::TempDir;

namespace {

// Makes writes past `max_bytes` fail, as a full disk fails them, for as long as it lives. The
// process is set up as resnetc's main() sets it up (host::ignore_file_size_signal), so the
// writes fail with EFBIG; without that, SIGXFSZ kills the test, as it would kill resnetc.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t max_bytes) {
    resnetc::host::ignore_file_size_signal();
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    rlimit limit = saved_;
    limit.rlim_cur = max_bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() { ::setrlimit(RLIMIT_FSIZE, &saved_); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("a successful write replaces the old checkpoint", "[checkpoint]") {
  TempDir dir;
  const auto path = dir.path() / "last.safetensors";
  const std::vector<float> old_values = {1, 2};
  const std::vector<float> new_values = {3, 4, 5};
  write_safetensors(path, std::vector<Tensor>{{"w", DType::F32, {2}, bytes_of(old_values)}},
                    {{"epoch", "1"}});
  write_safetensors(path, std::vector<Tensor>{{"w", DType::F32, {3}, bytes_of(new_values)}},
                    {{"epoch", "2"}});
  const Checkpoint checkpoint = read_safetensors(path);
  REQUIRE(checkpoint.metadata_at("epoch") == "2");
  REQUIRE(checkpoint.at("w").shape == std::vector<int64_t>{3});
  REQUIRE(dir.entries() == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("a write that runs out of space leaves the old checkpoint intact", "[checkpoint]") {
  TempDir dir;
  const auto path = dir.path() / "last.safetensors";
  const std::vector<float> small(4, 1.0f);
  write_safetensors(path, std::vector<Tensor>{{"w", DType::F32, {4}, bytes_of(small)}},
                    {{"epoch", "1"}});
  const auto old_bytes = test::read_bytes(path);

  const std::vector<float> big(1 << 16, 2.0f);
  {
    const FileSizeLimit limit(4096);
    REQUIRE_THROWS_WITH(
        write_safetensors(path, std::vector<Tensor>{{"w", DType::F32, {1 << 16}, bytes_of(big)}},
                          {{"epoch", "2"}}),
        path.string() + ": cannot write: File too large (the file-size limit, ulimit -f)");
  }
  REQUIRE(test::read_bytes(path) == old_bytes);
  REQUIRE(read_safetensors(path).metadata_at("epoch") == "1");
  REQUIRE(dir.entries() == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("a directory at the target is refused before anything is written", "[checkpoint]") {
  // The rename would fail on it only after the whole checkpoint was written.
  TempDir dir;
  const auto path = dir.path() / "last.safetensors";
  std::filesystem::create_directory(path);
  std::ofstream(path / "keep") << "old contents";
  const std::vector<float> values = {1, 2};
  REQUIRE_THROWS_WITH(write_safetensors(path, std::vector<Tensor>{{"w", DType::F32, {2}, bytes_of(values)}}),
                      path.string() + ": it is a directory");
  std::ifstream kept(path / "keep");
  std::string contents;
  std::getline(kept, contents);
  REQUIRE(contents == "old contents");
  REQUIRE(dir.entries() == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("writing into a missing directory says which directory", "[checkpoint]") {
  TempDir dir;
  const auto path = dir.path() / "no-such-dir" / "last.safetensors";
  REQUIRE_THROWS_WITH(write_safetensors(path, {}),
                      path.string() + ": its directory '" + (dir.path() / "no-such-dir").string() + "' does not exist");
}
