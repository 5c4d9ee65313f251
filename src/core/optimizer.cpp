#include "optimizer.hpp"

#include "fused_adam.hpp"

namespace pinnacle {

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
