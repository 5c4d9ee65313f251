#include "metrics.hpp"

namespace pinnacle {

namespace {

// Predicted and true class labels as flat int64 tensors.
std::pair<torch::Tensor, torch::Tensor> class_labels(const ObjectiveSpec& objective, const torch::Tensor& output,
                                                     const torch::Tensor& target) {
  if (objective.wants_class_index()) return {output.argmax(1), target};
  // bce_with_logits: a positive logit predicts 1, each output column on its own.
  return {(output > 0).to(torch::kInt64).flatten(), (target > 0.5).to(torch::kInt64).flatten()};
}

enum class Average { precision, recall, f1 };

// Macro average over the classes that occur in the truth or the prediction (as scikit-learn).
double macro_average(Average what, const torch::Tensor& predicted, const torch::Tensor& truth) {
  int64_t classes = std::max(predicted.max().item<int64_t>(), truth.max().item<int64_t>()) + 1;
  double sum = 0;
  int64_t counted = 0;
  for (int64_t c = 0; c < classes; ++c) {
    auto is_pred = predicted == c, is_true = truth == c;
    double tp = (is_pred & is_true).sum().item<double>();
    double predicted_c = is_pred.sum().item<double>(), true_c = is_true.sum().item<double>();
    if (predicted_c == 0 && true_c == 0) continue;
    double precision = predicted_c > 0 ? tp / predicted_c : 0.0;
    double recall = true_c > 0 ? tp / true_c : 0.0;
    double value = what == Average::precision ? precision
                   : what == Average::recall  ? recall
                   : (precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0);
    sum += value;
    ++counted;
  }
  return counted ? sum / counted : 0.0;
}

// R^2 per output column, averaged (scikit-learn's "uniform_average").
double r2_score(const torch::Tensor& output, const torch::Tensor& target) {
  auto y = target.reshape({target.size(0), -1}).to(torch::kFloat64);
  auto p = output.reshape({output.size(0), -1}).to(torch::kFloat64);
  auto residual = (y - p).pow(2).sum(0);
  auto total = (y - y.mean(0)).pow(2).sum(0);
  auto r2 = torch::where(total > 0, 1 - residual / total, torch::zeros_like(total));
  return r2.mean().item<double>();
}

}  // namespace

double compute_metric(const std::string& name, const ObjectiveSpec& objective, const torch::Tensor& output,
                      const torch::Tensor& target) {
  torch::NoGradGuard no_grad;
  if (name == "accuracy" || name == "precision" || name == "recall" || name == "f1") {
    auto [predicted, truth] = class_labels(objective, output, target);
    if (name == "accuracy") return (predicted == truth).to(torch::kFloat64).mean().item<double>();
    Average what = name == "precision" ? Average::precision : name == "recall" ? Average::recall : Average::f1;
    return macro_average(what, predicted, truth);
  }
  auto error = (output.to(torch::kFloat64) - target.to(torch::kFloat64));
  if (name == "mse") return error.pow(2).mean().item<double>();
  if (name == "rmse") return std::sqrt(error.pow(2).mean().item<double>());
  if (name == "mae") return error.abs().mean().item<double>();
  if (name == "r2") return r2_score(output, target);
  throw std::logic_error("unknown metric " + name);
}

}  // namespace pinnacle
