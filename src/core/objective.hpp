// The loss functions named by the spec's "objective", with their options.
#pragma once

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

// `target` is int64 class indices (N) for cross_entropy and nll, else float32 like `output`.
torch::Tensor compute_loss(const ObjectiveSpec& objective, const torch::Tensor& output, const torch::Tensor& target);

// What compute_loss's mean divides by for the rows of `target`: their count, except for
// cross_entropy and nll with a weight or an ignore_index, whose mean is over their targets'
// weights (an ignored target weighs 0). A data-parallel step weights each rank's loss by its
// share of the global batch's denominator, so that N ranks compute the loss of one.
bool loss_denominator_is_row_count(const ObjectiveSpec& objective);
double loss_denominator(const ObjectiveSpec& objective, const torch::Tensor& target);

}  // namespace pinnacle
