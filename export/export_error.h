#pragma once
// Why a network cannot be exported: an op with no ONNX equivalent (named), weights that do not
// fit the network, a model the ONNX checker refuses.
#include <stdexcept>

namespace resnetc::exporter {

class ExportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace resnetc::exporter
