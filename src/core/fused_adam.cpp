#include "fused_adam.hpp"

#include <cmath>

namespace pinnacle {

namespace {

// The scalars of one parameter's update at one step, as torch::optim computes them.
struct AdamScalars {
  float beta1, beta2, one_minus_beta1, one_minus_beta2;
  float sqrt_bias_correction2, eps, negative_step_size;
  float weight_decay;        // Adam: added to the gradient
  float decoupled_decay;     // AdamW: the factor the parameter is first multiplied by
};

// Element for element what Adam::step does with whole tensors, in the same order of
// operations: grad.add(p, wd); exp_avg.mul_(b1).add_(grad, 1-b1);
// exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1-b2); denom = sqrt(v) / sqrt(bc2) + eps;
// p.addcdiv_(exp_avg, denom, -step_size).
void update(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t begin, int64_t end,
            const AdamScalars& s) {
  for (int64_t i = begin; i < end; ++i) {
    float p = param[i] * s.decoupled_decay;
    float g = grad[i] + s.weight_decay * p;
    float m = exp_avg[i] * s.beta1 + s.one_minus_beta1 * g;
    float v = exp_avg_sq[i] * s.beta2 + s.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = p + s.negative_step_size * m / (std::sqrt(v) / s.sqrt_bias_correction2 + s.eps);
  }
}

bool is_plain_float(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous() &&
         t.layout() == torch::kStrided;
}

constexpr int64_t kGrain = 32768;  // elements per task when compute_kwargs.threads > 1

}  // namespace

template <class Base, class Options, class State, bool kDecoupledDecay>
bool FusedAdamBase<Base, Options, State, kDecoupledDecay>::fusable() const {
  for (const auto& group : this->param_groups_) {
    if (static_cast<const Options&>(group.options()).amsgrad()) return false;
    for (const auto& p : group.params())
      if (p.grad().defined() && !(is_plain_float(p) && is_plain_float(p.grad()))) return false;
  }
  return true;
}

template <class Base, class Options, class State, bool kDecoupledDecay>
State& FusedAdamBase<Base, Options, State, kDecoupledDecay>::state_of(const torch::Tensor& param) {
  auto& slot = this->state_[c10::guts::to_string(param.unsafeGetTensorImpl())];
  if (!slot) {  // as torch::optim initialises it, so that a checkpoint reads the same
    auto state = std::make_unique<State>();
    state->step(0);
    state->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(param, torch::MemoryFormat::Preserve));
    slot = std::move(state);
  }
  return static_cast<State&>(*slot);
}

template <class Base, class Options, class State, bool kDecoupledDecay>
torch::Tensor FusedAdamBase<Base, Options, State, kDecoupledDecay>::step(
    torch::optim::Optimizer::LossClosure closure) {
  if (!fusable()) return Base::step(closure);
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : this->param_groups_) {
    const auto& options = static_cast<const Options&>(group.options());
    for (auto& param : group.params()) {
      if (!param.grad().defined()) continue;
      State& state = state_of(param);
      state.step(state.step() + 1);
      double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
      double bias_correction1 = 1 - std::pow(beta1, state.step());
      double bias_correction2 = 1 - std::pow(beta2, state.step());
      double decay = options.weight_decay();
      AdamScalars s{static_cast<float>(beta1),
                    static_cast<float>(beta2),
                    static_cast<float>(1 - beta1),
                    static_cast<float>(1 - beta2),
                    static_cast<float>(std::sqrt(bias_correction2)),
                    static_cast<float>(options.eps()),
                    static_cast<float>(-options.lr() / bias_correction1),
                    kDecoupledDecay ? 0.0f : static_cast<float>(decay),
                    kDecoupledDecay ? static_cast<float>(1 - options.lr() * decay) : 1.0f};
      float* p = param.template data_ptr<float>();
      const float* g = param.grad().template data_ptr<float>();
      float* m = state.exp_avg().template data_ptr<float>();
      float* v = state.exp_avg_sq().template data_ptr<float>();
      at::parallel_for(0, param.numel(), kGrain,
                       [&](int64_t begin, int64_t end) { update(p, g, m, v, begin, end, s); });
    }
  }
  return loss;
}

template class FusedAdamBase<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState, false>;
template class FusedAdamBase<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState, true>;

}  // namespace pinnacle
