// Validation metrics: accuracy, precision, recall, f1 (macro), mse, rmse, mae, r2.
#pragma once

#include <string>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

// `output` is the model's output for the validation rows, `target` as for compute_loss.
double compute_metric(const std::string& name, const ObjectiveSpec& objective, const torch::Tensor& output,
                      const torch::Tensor& target);

}  // namespace pinnacle
