// A training step without autograd for the common model: a layer list of Linear layers, each
// followed by at most one elementwise activation (ReLU, LeakyReLU, Tanh, Sigmoid), trained on
// cross_entropy or mse without options. At the batch sizes users train with, autograd's graph,
// its per-op allocations and dispatch cost about as much as the matrix products themselves;
// here a step is the same products (the calls torch's Linear and its backward make) into
// buffers kept from step to step, and a few loops. Gradients are written into the parameters'
// own .grad tensors, so the optimizer, checkpoints and data-parallel sums see what autograd
// would have left there, to float rounding.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

class TrainingPlan {
 public:
  // The plan for `net` on inputs of `input_width` values per row, or null when a layer or the
  // objective is outside what a plan covers; the autograd path then trains the model.
  static std::unique_ptr<TrainingPlan> build(const torch::nn::Sequential& net, const ObjectiveSpec& objective,
                                             int64_t input_width);

  // The batch's forward and backward: sets every parameter's gradient to `scale` times the
  // gradient of the batch's mean loss, and returns `scale` times that loss. nullopt, with
  // nothing written, when the batch is one the plan leaves to torch (a class index out of
  // range, an output that does not fit the target), so that torch's own error is raised.
  std::optional<torch::Tensor> step(const torch::Tensor& input, const torch::Tensor& target, float scale);

  struct Layer {
    enum class Activation { none, relu, leaky_relu, tanh, sigmoid };
    torch::Tensor weight, bias;  // the model's own (bias undefined when the layer has none)
    Activation activation = Activation::none;
    float slope = 0;  // leaky_relu
  };

 private:
  explicit TrainingPlan(bool cross_entropy) : cross_entropy_(cross_entropy) {}
  bool fits(const torch::Tensor& input, const torch::Tensor& target) const;
  void forward(const torch::Tensor& input);
  double output_gradient(const torch::Tensor& target, float scale);
  void backward(const torch::Tensor& input);

  bool cross_entropy_;  // else mse
  std::vector<Layer> layers_;
  std::vector<torch::Tensor> outputs_;  // each layer's output after its activation
  std::vector<torch::Tensor> gradients_;  // of the loss with respect to each layer's output
};

}  // namespace pinnacle
