// The optimizer named by "optimizer_cls", built with "optimizer_kwargs".
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params);

}  // namespace pinnacle
