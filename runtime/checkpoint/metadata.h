#pragma once
// Free-form string metadata stored beside the tensors (epoch, model name, fingerprint, RNG
// seed); safetensors allows only string values, so callers format numbers themselves.
#include <map>
#include <string>

namespace resnetc::checkpoint {

using Metadata = std::map<std::string, std::string>;

}  // namespace resnetc::checkpoint
