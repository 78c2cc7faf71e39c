#pragma once
// An inference graph as an ONNX model (opset 17): one node or a few per op, the constants as
// initializers, the batch dimension left free ("N"), checked by the ONNX project's own checker.
#include <map>
#include <string>

#include "export/inference_graph.h"

namespace resnetc::exporter {

inline constexpr int kOpset = 17;
inline constexpr const char* kInputName = "input";
inline constexpr const char* kOutputName = "logits";

struct ModelInfo {
  std::string producer_version;                 // resnetc's version
  std::map<std::string, std::string> metadata;  // the model's metadata_props
};

// The serialized ModelProto. Throws ExportError naming the first op with no ONNX equivalent, or
// quoting onnx::checker::check_model when it refuses the model.
std::string onnx_model(const InferenceGraph& net, const ModelInfo& info);

}  // namespace resnetc::exporter
