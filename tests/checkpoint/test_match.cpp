// check_matches refuses a checkpoint of another model, naming the first difference.
#include <catch2/catch.hpp>
#include <vector>

#include "runtime/checkpoint/match.h"

using namespace resnetc::checkpoint;

namespace {

// Only names, dtypes and shapes matter here, so the tensors view no data.
Checkpoint checkpoint_of(const std::vector<TensorSpec>& specs) {
  std::vector<Tensor> tensors;
  for (const TensorSpec& s : specs) tensors.push_back({s.name, s.dtype, s.shape, {}});
  return Checkpoint("run/epoch3.safetensors", std::move(tensors), {}, nullptr);
}

const std::vector<TensorSpec> kModel = {
    {"stem.conv.weight", DType::F32, {64, 3, 7, 7}},
    {"stage1.block0.conv1.weight", DType::F32, {64, 64, 3, 3}},
    {"stage1.block0.conv1.weight.momentum", DType::F32, {64, 64, 3, 3}},
    {"stage1.block0.bn1.num_batches_tracked", DType::I64, {}},
};

}  // namespace

TEST_CASE("a checkpoint of the same model matches, in any file order", "[checkpoint]") {
  std::vector<TensorSpec> shuffled(kModel.rbegin(), kModel.rend());
  REQUIRE_NOTHROW(check_matches(checkpoint_of(shuffled), kModel));
}

TEST_CASE("a missing tensor is named, the first one in model order", "[checkpoint]") {
  const Checkpoint checkpoint = checkpoint_of({kModel[0], kModel[3]});
  REQUIRE_THROWS_AS(check_matches(checkpoint, kModel), CheckpointError);
  REQUIRE_THROWS_WITH(check_matches(checkpoint, kModel),
                      "run/epoch3.safetensors: checkpoint has no tensor "
                      "'stage1.block0.conv1.weight'");
}

TEST_CASE("a shape mismatch shows both shapes", "[checkpoint]") {
  std::vector<TensorSpec> other = kModel;
  other[1].shape = {128, 64, 3, 3};
  other[2].shape = {1};
  REQUIRE_THROWS_WITH(check_matches(checkpoint_of(other), kModel),
                      "run/epoch3.safetensors: tensor 'stage1.block0.conv1.weight' has shape "
                      "[128, 64, 3, 3] in the checkpoint, but the model expects [64, 64, 3, 3]");
}

TEST_CASE("a dtype mismatch shows both dtypes", "[checkpoint]") {
  std::vector<TensorSpec> other = kModel;
  other[3].dtype = DType::I32;
  REQUIRE_THROWS_WITH(check_matches(checkpoint_of(other), kModel),
                      "run/epoch3.safetensors: tensor 'stage1.block0.bn1.num_batches_tracked' "
                      "has dtype I32 in the checkpoint, but the model expects I64");
}

TEST_CASE("an extra tensor is named, the first one in file order", "[checkpoint]") {
  std::vector<TensorSpec> other = kModel;
  other.insert(other.begin() + 1, {"stage9.extra.weight", DType::F32, {1}});
  other.push_back({"zzz.later", DType::F32, {1}});
  REQUIRE_THROWS_WITH(check_matches(checkpoint_of(other), kModel),
                      "run/epoch3.safetensors: checkpoint has tensor 'stage9.extra.weight', "
                      "which the model does not have");
}

TEST_CASE("missing tensors are reported before extra ones", "[checkpoint]") {
  std::vector<TensorSpec> other = kModel;
  other[2].name = "stage1.block0.conv1.weight.velocity";
  REQUIRE_THROWS_WITH(check_matches(checkpoint_of(other), kModel),
                      "run/epoch3.safetensors: checkpoint has no tensor "
                      "'stage1.block0.conv1.weight.momentum'");
}
