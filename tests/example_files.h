#pragma once
// Every examples/*.net, sorted, for the suites that check all of them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

inline std::vector<std::string> example_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(RESNETC_SOURCE_DIR) + "/examples"))
    if (entry.path().extension() == ".net") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 10);
  return files;
}
