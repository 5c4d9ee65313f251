#include "objective.hpp"

#include <sstream>

namespace pinnacle {

namespace {

torch::Tensor float_list(const json& values) {
  std::vector<float> v;
  for (const auto& x : values) v.push_back(x.get<float>());
  return torch::tensor(v);
}

}  // namespace

namespace {

// A module's output is checked at every step: a shape the loss would broadcast is an error,
// not a run that silently learns something else.
void check_output_shape(const ObjectiveSpec& objective, const torch::Tensor& output, const torch::Tensor& target) {
  bool fits = objective.wants_class_index()
                  ? output.dim() == 2 && output.size(0) == target.size(0)
                  : output.sizes() == target.sizes();
  if (!fits) {
    std::ostringstream shapes;
    shapes << "the model's output of shape " << output.sizes() << " does not fit the target of shape "
           << target.sizes() << " (objective " << objective.name << ")";
    throw std::runtime_error(shapes.str());
  }
}

}  // namespace

torch::Tensor compute_loss(const ObjectiveSpec& objective, const torch::Tensor& output, const torch::Tensor& target) {
  namespace F = torch::nn::functional;
  check_output_shape(objective, output, target);
  const json& o = objective.options;
  const std::string& name = objective.name;
  if (name == "mse") return F::mse_loss(output, target);
  if (name == "l1") return F::l1_loss(output, target);
  if (name == "huber") return F::huber_loss(output, target, F::HuberLossFuncOptions().delta(o.value("delta", 1.0)));
  if (name == "cross_entropy") {
    auto options = F::CrossEntropyFuncOptions()
                       .label_smoothing(o.value("label_smoothing", 0.0))
                       .ignore_index(o.value("ignore_index", int64_t{-100}));
    if (o.contains("weight")) options.weight(float_list(o["weight"]));
    return F::cross_entropy(output, target, options);
  }
  if (name == "nll") {
    auto options = F::NLLLossFuncOptions().ignore_index(o.value("ignore_index", int64_t{-100}));
    if (o.contains("weight")) options.weight(float_list(o["weight"]));
    return F::nll_loss(output, target, options);
  }
  if (name == "bce_with_logits") {
    // a target is a probability: outside [0, 1] the loss is not a cross entropy and can go below 0
    if (target.numel() > 0 && (target.min().item<float>() < 0 || target.max().item<float>() > 1))
      throw std::runtime_error("objective bce_with_logits needs targets between 0 and 1, and the batch has " +
                               std::to_string(target.min().item<float>()) + " to " +
                               std::to_string(target.max().item<float>()));
    auto options = F::BinaryCrossEntropyWithLogitsFuncOptions();
    if (o.contains("pos_weight")) options.pos_weight(float_list(o["pos_weight"]));
    return F::binary_cross_entropy_with_logits(output, target, options);
  }
  throw std::logic_error("unknown objective " + name);
}

bool loss_denominator_is_row_count(const ObjectiveSpec& objective) {
  return !objective.wants_class_index() ||
         (!objective.options.contains("weight") && !objective.options.contains("ignore_index"));
}

double loss_denominator(const ObjectiveSpec& objective, const torch::Tensor& target) {
  if (loss_denominator_is_row_count(objective)) return static_cast<double>(target.size(0));
  torch::Tensor counted = target.masked_select(target != objective.options.value("ignore_index", int64_t{-100}));
  if (!objective.options.contains("weight")) return static_cast<double>(counted.numel());
  return float_list(objective.options["weight"]).index_select(0, counted).sum().item<double>();
}

}  // namespace pinnacle
