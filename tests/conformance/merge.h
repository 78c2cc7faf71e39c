#pragma once
// Conformance cases merged into a few graphs, for backends whose per-graph cost is high (the
// emulated CUDA backend compiles each program with the host compiler): the cases that share a
// tolerance, an input scale, the GEMM, large, positive-inputs and BatchNorm-draw flags go into one graph, each case's values renamed
// "c<index>.<name>" so a mismatch names its case.
#include <string>
#include <vector>

#include "tests/conformance/cases.h"

namespace resnetc::testing::conformance {

struct Group {
  ir::Graph graph;
  double tolerance = 1e-4;
  float input_scale = 1.0f;
  bool gemm = false;
  bool large = false;
  bool positive_inputs = false;
  bool batchnorm_near_identity = false;
  std::vector<size_t> members;  // indices into cases()
};

std::vector<Group> merged_groups(const std::vector<Case>& cases);

// Graphs side by side in one, graph i's names prefixed "g<i>." (its output the first graph's).
ir::Graph merge(const std::vector<ir::Graph>& graphs);

// The case a value of a merged graph belongs to ("c12.conv.weight" -> the name of case 12).
std::string case_of(const std::vector<Case>& cases, const std::string& value_name);

}  // namespace resnetc::testing::conformance
