// PNG and JPEG files decoded into the planes a network reads: PNG through libspng, JPEG
// through libjpeg-turbo's TurboJPEG API, then converted to the network's channel count the
// way torchvision's loaders (PIL's Image.convert) do, so the pixels match what PyTorch reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace resnetc::data {

// `channels` planes of height x width bytes, plane after plane (CHW).
struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;
};

// Decodes a PNG or JPEG (told apart by their first bytes, not the file's name) into 1 (gray)
// or 3 (RGB) channels: gray copied into R, G and B; RGB to gray by ITU-R 601-2 luma, rounded
// as PIL's convert("L") rounds; alpha dropped, as convert("RGB") drops it. 16-bit PNG samples
// keep their high byte, as PIL reads 16-bit colour PNGs (it reads 16-bit gray ones as integers,
// which its convert() clips instead: the one case where the pixels differ from PyTorch's).
// CMYK JPEGs are refused. Throws DataError naming `name` and the fault.
Image decode_image(std::span<const uint8_t> bytes, int channels, const std::string& name);

// Reads and decodes a file; throws DataError naming it when it cannot be read or decoded.
Image decode_image_file(const std::filesystem::path& file, int channels);

}  // namespace resnetc::data
