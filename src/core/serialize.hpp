// Weights and optimizer state to and from bytes (torch::save's archive format), the form
// they take in pinnacle.checkpoints.
#pragma once

#include <string>

#include <torch/torch.h>

namespace pinnacle {

std::string save_to_bytes(const torch::nn::Module& module);
std::string save_to_bytes(const torch::optim::Optimizer& optimizer);
void load_from_bytes(torch::nn::Module& module, const std::string& bytes);
void load_from_bytes(torch::optim::Optimizer& optimizer, const std::string& bytes);

}  // namespace pinnacle
