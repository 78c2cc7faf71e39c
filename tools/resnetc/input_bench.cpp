// `resnetc bench MODEL.net --data DIR`: the input pipeline alone, without training: the data
// set's files read (a folder's images decoded and resized to the network's input, or kept at
// --image-size, on --threads threads), then one epoch of batches assembled on the host as the
// trainer's batch feeder assembles them (train/batch_feeder.h: data::fill_batch in the epoch's
// order, resized to the input, /255, normalized).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dsl/frontend.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/data/catalog.h"
#include "runtime/data/idx.h"
#include "runtime/data/image_folder.h"
#include "runtime/data/normalize.h"
#include "runtime/data/sampler.h"
#include "train/normalization_settings.h"
#include "train/recipe.h"
#include "tools/resnetc/commands.h"

namespace resnetc::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// --mean/--std (else the train section's mean/std), one value for all channels widened to `channels`.
data::Normalization bench_normalization(const Options& o, const dsl::TrainingSettings& file, int64_t channels) {
  const auto widen = [&](const std::vector<float>& values, const char* flag) {
    if (std::ssize(values) == channels) return values;
    if (values.size() == 1) return std::vector<float>(static_cast<size_t>(channels), values[0]);
    throw data::DataError(fmt::format("{} has {} values, but the data set's images have {} channels: give one a "
                                      "channel, or one for all",
                                      flag, values.size(), channels));
  };
  const data::Normalization asked =
      train::requested_normalization(file, {o.mean, o.std_dev}, false, channels).values;
  if (asked.empty()) return {};
  return {widen(asked.mean, "--mean"), widen(asked.std, "--std")};
}

}  // namespace

int run_input_bench(const Options& o, dsl::SourceManager& sources) {
  const dsl::CompiledNetwork net = dsl::compile_file(sources, o.model, {o.input, 1});
  const train::Recipe recipe = train::recipe_from(net.training);
  const std::string dataset = o.dataset.value_or(recipe.dataset);
  const int64_t batch = o.batch.value_or(recipe.batch);
  const ir::Dims& input = net.graph.shape(net.graph.input);  // [1, C, H, W]
  cpu::ThreadPool pool(cpu::ThreadPool::Options{o.threads, 0});
  const data::BadImages bad = o.skip_bad_images ? data::BadImages::Skip : data::BadImages::Refuse;

  // A folder's training images, as torchvision's ImageFolder(DIR/train) reads them; any other
  // data set is read whole (both splits) and its training split batched.
  const Clock::time_point start = Clock::now();
  data::Split train;
  std::string what;
  std::optional<data::ImageSize> kept_at;  // a folder's --image-size (or the train section's)
  if (dataset == "folder") {
    const std::filesystem::path dir = std::filesystem::path(o.data_dir) / "train";
    const data::FolderListing listing = data::list_image_folder(dir, bad);
    std::vector<std::string> skipped = listing.skipped;
    // Kept at --image-size (else the train section's, else the input's) as training keeps them.
    kept_at = o.image_size ? o.image_size : recipe.image_size;
    const data::ImageSize size = kept_at.value_or(data::ImageSize{{input[2], input[3]}});
    const data::ImageAllocator storage = data::image_storage(
        o.image_cache, listing.files.size() * static_cast<uint64_t>(input[1] * size.size.height * size.size.width),
        fmt::format("{}'s {} images at {}x{}x{}", dir.string(), listing.files.size(), input[1], size.size.height,
                    size.size.width),
        &std::cout);
    train = data::load_image_folder(listing, input[1], size, bad, skipped, pool, storage, {&std::cout, dir.string()});
    print_skipped(skipped);
    what = fmt::format("decoded and resized {} images of {}/train", train.count, o.data_dir);
  } else {
    if (o.image_size)
      throw data::DataError(fmt::format("--image-size is the size a folder's images are kept at; {}'s are kept as its "
                                        "files hold them",
                                        dataset));
    data::DataSet all = data::load_dataset(dataset, o.data_dir, {input[1], input[2], input[3]});
    what = fmt::format("read {} train and {} test images of {}", all.train.count, all.test.count, o.data_dir);
    train = std::move(all.train);
  }
  const double load_s = seconds_since(start);
  if (train.channels != input[1])
    throw data::DataError(fmt::format("the network takes {} input channels, but {} has {}", input[1], dataset,
                                      train.channels));

  const data::Normalization normalization = bench_normalization(o, net.training, train.channels);
  const data::Resizer resizer(train.height, train.width, input[2], input[3]);
  std::vector<float> images(static_cast<size_t>(batch * input[1] * input[2] * input[3]));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  const Clock::time_point batches_start = Clock::now();
  const std::vector<uint32_t> order = data::epoch_order(recipe.seed, 0, static_cast<uint32_t>(train.count));
  int64_t batches = 0;
  for (int64_t first = 0; first < train.count; first += batch, ++batches) {
    const auto count = static_cast<size_t>(std::min(batch, train.count - first));
    data::fill_batch(train, std::span(order).subspan(static_cast<size_t>(first), count), resizer, images.data(),
                     labels.data(), normalization);
  }
  const double batch_s = seconds_since(batches_start);

  const auto rate = [&](double seconds) { return static_cast<double>(train.count) / seconds; };
  fmt::print("input pipeline of {} ({}x{}x{}, batch {}{}{}) on {}, {} threads\n", net.graph.name, input[1], input[2],
             input[3], batch, normalization.empty() ? "" : ", normalized",
             kept_at ? ", kept at --image-size " + data::format_image_size(*kept_at) : "", dataset, pool.num_threads());
  fmt::print("{} in {:.3f} s: {:.1f} images/sec\n", what, load_s, rate(load_s));
  fmt::print("assembled {} batches in {:.3f} s: {:.1f} images/sec (every later epoch, from memory)\n", batches,
             batch_s, rate(batch_s));
  fmt::print("{:.1f} images/sec from the files to batches (one epoch, {} images in {:.3f} s)\n",
             rate(load_s + batch_s), train.count, load_s + batch_s);
  return 0;
}

}  // namespace resnetc::cli
