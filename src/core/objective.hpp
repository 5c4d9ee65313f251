// The loss functions named by the spec's "objective", with their options.
#pragma once

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

// `target` is int64 class indices (N) for cross_entropy and nll, else float32 like `output`.
torch::Tensor compute_loss(const ObjectiveSpec& objective, const torch::Tensor& output, const torch::Tensor& target);

}  // namespace pinnacle
