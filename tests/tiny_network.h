#pragma once
// The small network several test suites train one step of: every block kind of a ResNet
// (basic with a projection shortcut, pre-activation, max pooling) on shapes that divide no
// tile size evenly.
#include <optional>
#include <string>

#include "compiler/autodiff/training_graph.h"
#include "dsl/frontend.h"

namespace resnetc::testing {

inline constexpr const char* kTinyNetwork = R"(
network tiny {
  input 2x9x7
  stem { conv 5 k3 p1; bn; relu; maxpool k3 s2 p1 }
  stage basic 6 stride=2
  stage preact 6
  head { avgpool; fc 4 }
})";

// A squeeze-excitation block (a gate of pool, squeeze, silu, expand, sigmoid) with a projection,
// and a silu stem.
inline constexpr const char* kTinySeNetwork = R"(
block se(width, stride = 1) {
  branch {
    conv width k3 stride=stride p1; bn; relu
    conv width k3 p1; bn
    gate se { avgpool; conv 3 k1 bias; silu; conv width k1 bias; sigmoid }
  }
  shortcut if stride != 1 or in != width { conv width k1 stride=stride; bn }
  post { relu }
}
network tiny_se {
  input 2x9x7
  stem { conv 5 k3 p1; bn; silu }
  stage se 7 stride=2
  head { avgpool; fc 4 }
})";

// Option-A shortcuts, dropout between the convs, drop-path on the branch and dropout before
// the classifier: the training step reads the [2] int32 seed and step.
inline constexpr const char* kTinyDropoutNetwork = R"(
block a(width, stride = 1) {
  branch { conv width k3 stride=stride p1; bn; relu; dropout 0.3; conv width k3 p1; bn; droppath 0.4 }
  shortcut if stride != 1 or in != width { padshortcut width stride=stride }
  post { relu }
}
network tiny_dropout {
  input 2x9x7
  stem { conv 5 k3 p1; bn; relu }
  stage a 5
  stage a 7 stride=2
  head { avgpool; dropout 0.5; fc 4 }
})";

// The training step of `text` (default: kTinyNetwork) at `batch`.
inline ir::Graph tiny_training_graph(autodiff::TrainingOptions options, int64_t batch = 3,
                                     const std::string& text = kTinyNetwork) {
  dsl::SourceManager sources;
  return autodiff::make_training_graph(dsl::compile_source(sources, "t.net", text, {std::nullopt, batch}).graph,
                                       options);
}

}  // namespace resnetc::testing
