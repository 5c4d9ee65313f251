#include "training_plan.hpp"

#include <cmath>

namespace pinnacle {

namespace {

using Activation = TrainingPlan::Layer::Activation;

// The activation a module is, if it is one the plan differentiates from its output alone.
std::optional<TrainingPlan::Layer> activation_of(const torch::nn::Module& module, TrainingPlan::Layer layer) {
  using namespace torch::nn;
  if (module.as<ReLUImpl>()) {
    layer.activation = Activation::relu;
  } else if (const auto* leaky = module.as<LeakyReLUImpl>()) {
    // (with a negative slope the output's sign no longer tells the input's)
    if (leaky->options.negative_slope() < 0) return std::nullopt;
    layer.activation = Activation::leaky_relu;
    layer.slope = static_cast<float>(leaky->options.negative_slope());
  } else if (module.as<TanhImpl>()) {
    layer.activation = Activation::tanh;
  } else if (module.as<SigmoidImpl>()) {
    layer.activation = Activation::sigmoid;
  } else {
    return std::nullopt;
  }
  return layer;
}

// In place, with torch's own kernels, so that the outputs are those of the autograd path.
void activate(const TrainingPlan::Layer& layer, torch::Tensor& y) {
  switch (layer.activation) {
    case Activation::none: return;
    case Activation::relu: at::relu_(y); return;
    case Activation::leaky_relu: at::leaky_relu_(y, layer.slope); return;
    case Activation::tanh: at::tanh_(y); return;
    case Activation::sigmoid: at::sigmoid_(y); return;
  }
}

// The gradient with respect to the activation's input, from the one with respect to its
// output `y` (as torch's threshold, leaky_relu, tanh and sigmoid backward compute it).
void differentiate(const TrainingPlan::Layer& layer, const torch::Tensor& y, torch::Tensor& gradient) {
  const float* out = y.data_ptr<float>();
  float* g = gradient.data_ptr<float>();
  const int64_t n = y.numel();
  switch (layer.activation) {
    case Activation::none: return;
    case Activation::relu:
      for (int64_t i = 0; i < n; ++i) g[i] = out[i] > 0 ? g[i] : 0.f;
      return;
    case Activation::leaky_relu:
      for (int64_t i = 0; i < n; ++i) g[i] = out[i] > 0 ? g[i] : g[i] * layer.slope;
      return;
    case Activation::tanh:
      for (int64_t i = 0; i < n; ++i) g[i] *= 1.f - out[i] * out[i];
      return;
    case Activation::sigmoid:
      for (int64_t i = 0; i < n; ++i) g[i] *= (1.f - out[i]) * out[i];
      return;
  }
}

// A buffer of rows x width floats, kept while the batch size stays.
torch::Tensor& sized(torch::Tensor& buffer, int64_t rows, int64_t width) {
  if (!buffer.defined() || buffer.size(0) != rows || buffer.size(1) != width)
    buffer = torch::empty({rows, width}, torch::kFloat32);
  return buffer;
}

torch::Tensor& gradient_of(torch::Tensor& parameter) {
  if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
  return parameter.mutable_grad();
}

}  // namespace

std::unique_ptr<TrainingPlan> TrainingPlan::build(const torch::nn::Sequential& net, const ObjectiveSpec& objective,
                                                  int64_t input_width) {
  if (net.is_empty() || !objective.options.empty()) return nullptr;
  if (objective.name != "cross_entropy" && objective.name != "mse") return nullptr;
  std::unique_ptr<TrainingPlan> plan(new TrainingPlan(objective.name == "cross_entropy"));
  int64_t width = input_width;
  for (const auto& item : *net) {
    const torch::nn::Module& module = *item.ptr();
    if (const auto* linear = module.as<torch::nn::LinearImpl>()) {
      if (linear->weight.dim() != 2 || linear->weight.size(1) != width) return nullptr;
      plan->layers_.push_back(Layer{linear->weight, linear->bias, Activation::none, 0});
      width = linear->weight.size(0);
      continue;
    }
    // an activation follows a Linear layer, whose output buffer it then overwrites
    if (plan->layers_.empty() || plan->layers_.back().activation != Activation::none) return nullptr;
    std::optional<Layer> activated = activation_of(module, plan->layers_.back());
    if (!activated) return nullptr;
    plan->layers_.back() = *activated;
  }
  if (plan->layers_.empty()) return nullptr;
  for (const Layer& layer : plan->layers_)
    if (layer.weight.scalar_type() != torch::kFloat32 || !layer.weight.is_contiguous()) return nullptr;
  plan->outputs_.resize(plan->layers_.size());
  plan->gradients_.resize(plan->layers_.size());
  return plan;
}

bool TrainingPlan::fits(const torch::Tensor& input, const torch::Tensor& target) const {
  if (input.dim() != 2 || input.scalar_type() != torch::kFloat32 || input.stride(1) != 1 ||
      input.size(1) != layers_.front().weight.size(1))
    return false;
  const int64_t rows = input.size(0), classes = layers_.back().weight.size(0);
  if (!cross_entropy_)
    return target.dim() == 2 && target.size(0) == rows && target.size(1) == classes &&
           target.scalar_type() == torch::kFloat32 && target.is_contiguous();
  if (target.dim() != 1 || target.size(0) != rows || target.scalar_type() != torch::kInt64) return false;
  const int64_t* label = target.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows; ++i)
    if (label[i] < 0 || label[i] >= classes) return false;
  return true;
}

std::optional<torch::Tensor> TrainingPlan::step(const torch::Tensor& input, const torch::Tensor& target,
                                                float scale) {
  if (input.size(0) == 0 || !fits(input, target)) return std::nullopt;
  torch::NoGradGuard no_gradients;
  forward(input);
  double loss = output_gradient(target, scale);
  backward(input);
  return torch::scalar_tensor(loss, torch::kFloat32);
}

// torch's Linear: addmm(bias, x, weightᵀ), or mm without a bias.
void TrainingPlan::forward(const torch::Tensor& input) {
  const torch::Tensor* x = &input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    torch::Tensor& y = sized(outputs_[i], input.size(0), layer.weight.size(0));
    if (layer.bias.defined())
      at::addmm_out(y, layer.bias, *x, layer.weight.t());
    else
      at::mm_out(y, *x, layer.weight.t());
    activate(layer, y);
    x = &y;
  }
}

// The loss of the batch (times scale) and its gradient with respect to the last output.
double TrainingPlan::output_gradient(const torch::Tensor& target, float scale) {
  const torch::Tensor& output = outputs_.back();
  const int64_t rows = output.size(0), width = output.size(1);
  torch::Tensor& gradient = sized(gradients_.back(), rows, width);
  const float* z = output.data_ptr<float>();
  float* g = gradient.data_ptr<float>();
  double total = 0;
  if (cross_entropy_) {  // log_softmax, then the mean negative log-likelihood of the labels
    const int64_t* label = target.data_ptr<int64_t>();
    const float row_weight = scale / static_cast<float>(rows);
    for (int64_t r = 0; r < rows; ++r, z += width, g += width) {
      float max = z[0];
      for (int64_t c = 1; c < width; ++c) max = std::max(max, z[c]);
      float sum = 0;
      for (int64_t c = 0; c < width; ++c) sum += (g[c] = std::exp(z[c] - max));
      total += std::log(sum) + max - z[label[r]];
      for (int64_t c = 0; c < width; ++c) g[c] *= row_weight / sum;
      g[label[r]] -= row_weight;
    }
    return total / static_cast<double>(rows) * scale;
  }
  const float* t = target.data_ptr<float>();  // mse: the mean of the squared differences
  const int64_t n = rows * width;
  const float element_weight = 2.f * scale / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) {
    float difference = z[i] - t[i];
    total += static_cast<double>(difference) * difference;
    g[i] = element_weight * difference;
  }
  return total / static_cast<double>(n) * scale;
}

// Linear's backward: weight gradient dyᵀ·x, bias gradient the column sums of dy, and the
// input's gradient dy·weight for the layer before (the first layer's input needs none).
void TrainingPlan::backward(const torch::Tensor& input) {
  for (size_t i = layers_.size(); i-- > 0;) {
    Layer& layer = layers_[i];
    torch::Tensor& dy = gradients_[i];
    differentiate(layer, outputs_[i], dy);
    const torch::Tensor& x = i == 0 ? input : outputs_[i - 1];
    at::mm_out(gradient_of(layer.weight), dy.t(), x);
    if (layer.bias.defined()) at::sum_out(gradient_of(layer.bias), dy, {0});
    if (i > 0) at::mm_out(sized(gradients_[i - 1], dy.size(0), layer.weight.size(1)), dy, layer.weight);
  }
}

}  // namespace pinnacle
