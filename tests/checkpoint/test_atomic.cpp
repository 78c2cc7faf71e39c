// A failed write leaves the previous checkpoint intact and no temporary files behind.
#include <signal.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>

#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"
#include "test_util.h"

using namespace resnetc::checkpoint;
using resnetc::checkpoint::test::bytes_of;
using resnetc::checkpoint::test::TempDir;

namespace {

// Makes writes past `max_bytes` fail with EFBIG, as a full disk fails them with ENOSPC,
// for as long as it lives. SIGXFSZ would otherwise kill the test instead.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t max_bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    saved_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = max_bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, saved_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*saved_handler_)(int) = SIG_DFL;
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
        Catch::StartsWith(path.string() + ": cannot write '") &&
            Catch::EndsWith("': File too large"));
  }
  REQUIRE(test::read_bytes(path) == old_bytes);
  REQUIRE(read_safetensors(path).metadata_at("epoch") == "1");
  REQUIRE(dir.entries() == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("a write whose rename fails leaves the target intact", "[checkpoint]") {
  // A non-empty directory at the target path cannot be renamed over.
  TempDir dir;
  const auto path = dir.path() / "last.safetensors";
  std::filesystem::create_directory(path);
  std::ofstream(path / "keep") << "old contents";
  const std::vector<float> values = {1, 2};
  REQUIRE_THROWS_WITH(
      write_safetensors(path, std::vector<Tensor>{{"w", DType::F32, {2}, bytes_of(values)}}),
      Catch::StartsWith(path.string() + ": cannot rename into place '") &&
          Catch::EndsWith("': Is a directory"));
  REQUIRE(std::filesystem::is_directory(path));
  std::ifstream kept(path / "keep");
  std::string contents;
  std::getline(kept, contents);
  REQUIRE(contents == "old contents");
  REQUIRE(dir.entries() == std::vector<std::string>{"last.safetensors"});
}

TEST_CASE("writing into a missing directory names the path and the system error", "[checkpoint]") {
  TempDir dir;
  const auto path = dir.path() / "no-such-dir" / "last.safetensors";
  REQUIRE_THROWS_WITH(write_safetensors(path, {}),
                      Catch::StartsWith(path.string() + ": cannot create temporary file '") &&
                          Catch::EndsWith("': No such file or directory"));
}
