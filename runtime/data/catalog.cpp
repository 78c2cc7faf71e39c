#include "runtime/data/catalog.h"

#include <fmt/format.h>

#include <stdexcept>

#include "runtime/cpu/thread_pool.h"
#include "runtime/data/cifar.h"
#include "runtime/data/idx.h"
#include "runtime/data/image_folder.h"

namespace resnetc::data {

const std::vector<std::string_view>& dataset_names() {
  static const std::vector<std::string_view> names = {"fashion-mnist", "mnist", "cifar10", "cifar100",
                                                      "cifar100-coarse", "folder"};
  return names;
}

std::filesystem::path default_data_dir(std::string_view name) {
  if (name == "fashion-mnist") return kDefaultDataDir;
  if (name == "mnist") return kDefaultMnistDir;
  return {};
}

DataSet load_dataset(std::string_view name, const std::filesystem::path& dir, const InputImage& input,
                     const FolderReading& folder) {
  if (name == "fashion-mnist" || name == "mnist") return load_mnist_like(dir, name);
  if (name == "cifar10") return load_cifar10(dir);
  if (name == "cifar100" || name == "cifar100-coarse") return load_cifar100(dir, name == "cifar100-coarse");
  if (name == "folder")
    return load_folder_dataset(dir, input.channels, folder.size.value_or(ImageSize{{input.height, input.width}}),
                               folder.bad, folder.pool ? *folder.pool : cpu::ThreadPool::global(), folder.cache,
                               folder.log);
  throw std::invalid_argument(fmt::format("there is no data set '{}'", name));
}

}  // namespace resnetc::data
