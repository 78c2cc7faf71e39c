#include "runtime/data/image_decode.h"

#include <spng.h>
#include <turbojpeg.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <memory>

#include "runtime/data/idx.h"
#include "runtime/data/resize.h"
#include "runtime/host/files.h"

namespace resnetc::data {
namespace {

constexpr uint8_t kPngSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr uint8_t kJpegSignature[] = {0xff, 0xd8, 0xff};

bool starts_with(std::span<const uint8_t> bytes, std::span<const uint8_t> signature) {
  return bytes.size() >= signature.size() && std::equal(signature.begin(), signature.end(), bytes.begin());
}

// Interleaved pixels as a decoder returns them: `components` bytes a pixel, the first three
// (or the only one) the colour.
struct Interleaved {
  int64_t height = 0, width = 0;
  int components = 0;
  std::vector<uint8_t> pixels;
};

void check_size(int64_t height, int64_t width, const std::string& name) {
  if (height < 1 || width < 1 || height > kMaxImageSide || width > kMaxImageSide)
    throw DataError(fmt::format("{}: the image is {}x{}; sides must be 1 to {} pixels", name, width, height,
                                kMaxImageSide));
}

Interleaved decode_png(std::span<const uint8_t> bytes, const std::string& name) {
  const std::unique_ptr<spng_ctx, decltype(&spng_ctx_free)> ctx(spng_ctx_new(0), spng_ctx_free);
  if (!ctx) throw DataError(fmt::format("{}: out of memory starting the PNG decoder", name));
  const auto fail = [&](int error) {
    return DataError(fmt::format("{}: not a readable PNG: {}", name, spng_strerror(error)));
  };
  // A file's header may claim any size: bound it, and the chunks, before anything is allocated.
  spng_set_image_limits(ctx.get(), static_cast<uint32_t>(kMaxImageSide), static_cast<uint32_t>(kMaxImageSide));
  spng_set_chunk_limits(ctx.get(), 64u << 20, 64u << 20);
  if (const int e = spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size())) throw fail(e);
  spng_ihdr ihdr{};
  if (const int e = spng_get_ihdr(ctx.get(), &ihdr)) throw fail(e);
  check_size(ihdr.height, ihdr.width, name);
  // Every colour type decodes to RGBA8 (gray becomes R = G = B, whose luma is that gray again).
  size_t size = 0;
  if (const int e = spng_decoded_image_size(ctx.get(), SPNG_FMT_RGBA8, &size)) throw fail(e);
  Interleaved out{ihdr.height, ihdr.width, 4, std::vector<uint8_t>(size)};
  if (const int e = spng_decode_image(ctx.get(), out.pixels.data(), size, SPNG_FMT_RGBA8, 0)) throw fail(e);
  return out;
}

Interleaved decode_jpeg(std::span<const uint8_t> bytes, const std::string& name) {
  const std::unique_ptr<void, decltype(&tjDestroy)> tj(tjInitDecompress(), tjDestroy);
  if (!tj) throw DataError(fmt::format("{}: cannot start the JPEG decoder: {}", name, tjGetErrorStr2(nullptr)));
  const auto fail = [&] {
    return DataError(fmt::format("{}: not a readable JPEG: {}", name, tjGetErrorStr2(tj.get())));
  };
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), &width, &height,
                          &subsampling, &colorspace) != 0)
    throw fail();
  check_size(height, width, name);
  // Adobe's CMYK files store inverted inks that each reader converts its own way; rather than
  // guess at PIL's conversion, they are refused.
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    throw DataError(fmt::format("{}: a CMYK JPEG, which resnetc does not read: convert it to RGB (for example with "
                                "PIL's Image.convert(\"RGB\"))",
                                name));
  // A gray JPEG stays one channel, as PIL opens it ("L"); any other is decoded to RGB, so gray
  // from a colour JPEG is luma of RGB, as PIL computes it, not the file's Y plane.
  const bool gray = colorspace == TJCS_GRAY;
  Interleaved out{height, width, gray ? 1 : 3, {}};
  out.pixels.resize(static_cast<size_t>(height) * static_cast<size_t>(width) * static_cast<size_t>(out.components));
  // Flags 0: the accurate integer DCT and smooth chroma upsampling, as PIL decodes. A warning
  // (a truncated or corrupt file, decoded with gray where data is missing) fails too, as PIL
  // refuses a truncated file.
  if (tjDecompress2(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), out.pixels.data(), width, 0,
                    height, gray ? TJPF_GRAY : TJPF_RGB, 0) != 0)
    throw fail();
  return out;
}

// PIL's convert("L"): L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
uint8_t luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((19595u * rgb[0] + 38470u * rgb[1] + 7471u * rgb[2] + 0x8000u) >> 16);
}

Image to_planes(const Interleaved& in, int channels) {
  const auto plane = static_cast<size_t>(in.height) * static_cast<size_t>(in.width);
  Image out{channels, in.height, in.width, std::vector<uint8_t>(plane * static_cast<size_t>(channels))};
  const uint8_t* px = in.pixels.data();
  for (size_t i = 0; i < plane; ++i, px += in.components) {
    if (channels == 1) {
      out.pixels[i] = in.components == 1 ? px[0] : luma(px);
    } else {
      for (int c = 0; c < 3; ++c) out.pixels[static_cast<size_t>(c) * plane + i] = px[in.components == 1 ? 0 : c];
    }
  }
  return out;
}

}  // namespace

Image decode_image(std::span<const uint8_t> bytes, int channels, const std::string& name) {
  if (channels != 1 && channels != 3)
    throw DataError(fmt::format("{}: images can be read as 1 or 3 channels, not {}", name, channels));
  if (starts_with(bytes, kPngSignature)) return to_planes(decode_png(bytes, name), channels);
  if (starts_with(bytes, kJpegSignature)) return to_planes(decode_jpeg(bytes, name), channels);
  throw DataError(fmt::format("{}: neither a PNG nor a JPEG file (its first bytes say neither)", name));
}

Image decode_image_file(const std::filesystem::path& file, int channels) {
  const std::string name = file.string();
  host::InputFile in(file);
  if (!in) throw DataError(fmt::format("{}: {}", name, in.problem()));
  std::vector<uint8_t> bytes(in.size());
  if (const std::string problem = in.read(std::as_writable_bytes(std::span(bytes))); !problem.empty())
    throw DataError(fmt::format("{}: {}", name, problem));
  return decode_image(bytes, channels, name);
}

}  // namespace resnetc::data
