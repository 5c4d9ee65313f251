// Adam and AdamW with torch::optim's arithmetic, state and checkpoints, updating each
// parameter in one pass over its elements.
//
// torch::optim::Adam::step makes seven passes over every parameter and allocates two
// temporaries the size of it; for the MLP 784-256-128-10 at batch 128 that took longer than
// the step's matrix products. One pass reads the gradient and both moments once and writes
// them back while they are in cache. The state (step, exp_avg, exp_avg_sq) is the same
// AdamParamState under the same keys, so optimizer_state checkpoints load either way.
#pragma once

#include <torch/torch.h>

namespace pinnacle {

template <class Base, class Options, class State, bool kDecoupledDecay>
class FusedAdamBase : public Base {
 public:
  using Base::Base;
  torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override;

 private:
  bool fusable() const;
  State& state_of(const torch::Tensor& param);
};

using FusedAdam = FusedAdamBase<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState, false>;
using FusedAdamW = FusedAdamBase<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState, true>;

}  // namespace pinnacle
