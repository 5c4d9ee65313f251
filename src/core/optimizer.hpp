// The optimizer named by "optimizer_cls", built with "optimizer_kwargs".
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params);

// Checks a loaded optimizer state against the optimizer's parameters: torch::optim's load
// matches states to parameters by position and checks no shape, and a moment of another shape
// would send FusedAdam's step past its tensor. Every state tensor must be a dense float tensor
// of its parameter's shape, every step count non-negative; throws std::runtime_error otherwise.
// `also` is applied to every state tensor as well (load_from_bytes: the bytes that hold it).
void check_optimizer_state(torch::optim::Optimizer& optimizer,
                           const std::function<void(const torch::Tensor&)>& also = nullptr);

}  // namespace pinnacle
