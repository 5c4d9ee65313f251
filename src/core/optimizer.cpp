#include "optimizer.hpp"

#include "fused_adam.hpp"

namespace pinnacle {

namespace {

using StateCheck = std::function<void(const torch::Tensor&)>;

void check_state_tensor(const torch::Tensor& state, const torch::Tensor& param, const char* name,
                        const StateCheck& also) {
  if (!state.defined()) return;
  if (state.sizes() != param.sizes() || state.scalar_type() != param.scalar_type() || !state.device().is_cpu() ||
      state.layout() != torch::kStrided || !state.is_contiguous())
    throw std::runtime_error(std::string("the stored optimizer state does not fit this model: its ") + name + " of " +
                             c10::str(state.sizes()) + " is for a parameter of " + c10::str(param.sizes()));
  if (also) also(state);
}

void check_step(int64_t step) {
  if (step < 0) throw std::runtime_error("the stored optimizer state has a negative step count");
}

void check_param_state(torch::optim::OptimizerParamState& state, const torch::Tensor& param, const StateCheck& also) {
  using namespace torch::optim;
  if (auto* s = dynamic_cast<AdamParamState*>(&state)) {
    check_step(s->step());
    check_state_tensor(s->exp_avg(), param, "exp_avg", also);
    check_state_tensor(s->exp_avg_sq(), param, "exp_avg_sq", also);
    check_state_tensor(s->max_exp_avg_sq(), param, "max_exp_avg_sq", also);
  } else if (auto* s = dynamic_cast<AdamWParamState*>(&state)) {
    check_step(s->step());
    check_state_tensor(s->exp_avg(), param, "exp_avg", also);
    check_state_tensor(s->exp_avg_sq(), param, "exp_avg_sq", also);
    check_state_tensor(s->max_exp_avg_sq(), param, "max_exp_avg_sq", also);
  } else if (auto* s = dynamic_cast<SGDParamState*>(&state)) {
    check_state_tensor(s->momentum_buffer(), param, "momentum_buffer", also);
  } else if (auto* s = dynamic_cast<RMSpropParamState*>(&state)) {
    check_step(s->step());
    check_state_tensor(s->square_avg(), param, "square_avg", also);
    check_state_tensor(s->momentum_buffer(), param, "momentum_buffer", also);
    check_state_tensor(s->grad_avg(), param, "grad_avg", also);
  } else if (auto* s = dynamic_cast<AdagradParamState*>(&state)) {
    check_step(s->step());
    check_state_tensor(s->sum(), param, "sum", also);
  } else {
    throw std::logic_error("check_optimizer_state: an optimizer state of an unknown kind");
  }
}

}  // namespace

void check_optimizer_state(torch::optim::Optimizer& optimizer, const StateCheck& also) {
  for (const auto& group : optimizer.param_groups())
    for (const auto& param : group.params()) {
      auto state = optimizer.state().find(c10::guts::to_string(param.unsafeGetTensorImpl()));
      if (state != optimizer.state().end()) check_param_state(*state->second, param, also);
    }
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<torch::Tensor> params) {
  using namespace torch::optim;
  const json& k = spec.kwargs;
  auto betas = [&]() {
    if (!k.contains("betas")) return std::make_tuple(0.9, 0.999);
    return std::make_tuple(k["betas"][0].get<double>(), k["betas"][1].get<double>());
  };
  if (spec.cls == "Adam" || spec.cls == "AdamW") {
    if (spec.cls == "AdamW")
      return std::make_unique<FusedAdamW>(std::move(params), AdamWOptions(k.value("lr", 1e-3))
                                                            .betas(betas())
                                                            .eps(k.value("eps", 1e-8))
                                                            .weight_decay(k.value("weight_decay", 1e-2))
                                                            .amsgrad(k.value("amsgrad", false)));
    return std::make_unique<FusedAdam>(std::move(params), AdamOptions(k.value("lr", 1e-3))
                                                         .betas(betas())
                                                         .eps(k.value("eps", 1e-8))
                                                         .weight_decay(k.value("weight_decay", 0.0))
                                                         .amsgrad(k.value("amsgrad", false)));
  }
  if (spec.cls == "SGD")
    return std::make_unique<SGD>(std::move(params), SGDOptions(k.at("lr").get<double>())
                                                        .momentum(k.value("momentum", 0.0))
                                                        .dampening(k.value("dampening", 0.0))
                                                        .weight_decay(k.value("weight_decay", 0.0))
                                                        .nesterov(k.value("nesterov", false)));
  if (spec.cls == "RMSprop")
    return std::make_unique<RMSprop>(std::move(params), RMSpropOptions(k.value("lr", 1e-2))
                                                            .alpha(k.value("alpha", 0.99))
                                                            .eps(k.value("eps", 1e-8))
                                                            .weight_decay(k.value("weight_decay", 0.0))
                                                            .momentum(k.value("momentum", 0.0))
                                                            .centered(k.value("centered", false)));
  if (spec.cls == "Adagrad")
    return std::make_unique<Adagrad>(std::move(params), AdagradOptions(k.value("lr", 1e-2))
                                                            .lr_decay(k.value("lr_decay", 0.0))
                                                            .weight_decay(k.value("weight_decay", 0.0))
                                                            .initial_accumulator_value(k.value("initial_accumulator_value", 0.0))
                                                            .eps(k.value("eps", 1e-10)));
  throw std::logic_error("unknown optimizer " + spec.cls);
}

}  // namespace pinnacle
