#pragma once

// The file side of resnetc's on-disk kernel caches (NVRTC's cubins, the CPU backend's objects):
// where they live, and reading and writing one entry so that concurrent processes and crashes
// never leave a half-written entry under its final name.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

namespace resnetc::cache {

// $XDG_CACHE_HOME/resnetc, else $HOME/.cache/resnetc, else <temp dir>/resnetc-cache.
std::filesystem::path default_cache_dir();

// The whole file, or nothing when it cannot be read.
std::optional<std::vector<std::byte>> read_file(const std::filesystem::path& path);

// Writes a temporary file beside `path` (creating the directory) and renames it over `path`:
// rename() is atomic, so a concurrent reader sees the old entry or the whole new one, and a crash
// leaves at worst a stray temporary file. A failure writes nothing under `path` and is not
// reported: a cache only saves time.
void write_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);

}  // namespace resnetc::cache
