#pragma once
// Writing a figure: SVG as it is, PNG through rsvg-convert (Debian: librsvg2-bin) when it is
// installed; always atomically (a browser reloading it sees the old figure or the new one, never
// half of one), and never over an input.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace resnetc::report {

enum class FigureFormat { Svg, Png };

// By the file's name: .svg or .png (any case); none for any other.
std::optional<FigureFormat> figure_format(const std::filesystem::path& path);

// Refuses (std::runtime_error, naming the file) an output that is one of `inputs` under any
// name, is not a regular file, lies in a directory that does not exist, or is a PNG when no
// converter is installed: checked before the work, so a mistake costs nothing.
void check_figure_output(const std::filesystem::path& out, const std::vector<std::filesystem::path>& inputs);

// `svg` into `out`, converted to PNG when its name says so; links are written through.
void write_figure(const std::filesystem::path& out, const std::string& svg);

}  // namespace resnetc::report
