// Builds a torch::nn::Sequential from a layer list written with torch.nn's own class and
// argument names. The first layer's input width comes from the data.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

struct BuiltModel {
  torch::nn::Sequential net;
  std::vector<int64_t> output_shape;  // per row, without the batch dimension
};

// A layer that reads right-padded sequences with their lengths (collate_fn "pad"): LSTM and
// GRU, which then stop at each row's last real step.
class SequenceLayer {
 public:
  virtual ~SequenceLayer() = default;
  // `input` (N, L, F), `steps` (N) int64: the real steps of each row, 1..L.
  virtual torch::Tensor forward_padded(const torch::Tensor& input, const torch::Tensor& steps) = 0;
};

// Throws SpecError naming "model.layers[i]..." for a bad layer or an impossible shape.
// `input_shape`, from a reshape transform, is the shape each flat row takes before the first layer.
BuiltModel build_model(const json& layers, int64_t input_width, const std::vector<int64_t>& input_shape = {});

}  // namespace pinnacle
