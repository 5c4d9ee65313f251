#include <gtest/gtest.h>

#include "fused_adam.hpp"
#include "optimizer.hpp"
#include "serialize.hpp"

using namespace pinnacle;

namespace {

// A few steps of a small regression with the given optimizer; returns the weights after.
template <class Optimizer, class Options>
std::vector<torch::Tensor> train_steps(const Options& options, int steps, torch::nn::Sequential net) {
  Optimizer optimizer(net->parameters(), options);
  torch::Tensor x = torch::linspace(-1, 1, 64 * 5).reshape({64, 5});
  torch::Tensor y = x.sum(1, true).sin();
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    torch::mse_loss(net->forward(x), y).backward();
    optimizer.step();
  }
  std::vector<torch::Tensor> weights;
  for (const auto& p : net->parameters()) weights.push_back(p.detach().clone());
  return weights;
}

torch::nn::Sequential small_net() {
  torch::manual_seed(7);
  return torch::nn::Sequential(torch::nn::Linear(5, 32), torch::nn::Tanh(), torch::nn::Linear(32, 1));
}

void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6)) << "parameter " << i;
}

}  // namespace

TEST(FusedAdam, StepsLikeTorchAdam) {
  auto options = torch::optim::AdamOptions(0.01).weight_decay(0.1);
  expect_close(train_steps<FusedAdam>(options, 50, small_net()),
               train_steps<torch::optim::Adam>(options, 50, small_net()));
}

TEST(FusedAdam, StepsLikeTorchAdamW) {
  auto options = torch::optim::AdamWOptions(0.01).weight_decay(0.1).betas({0.8, 0.99});
  expect_close(train_steps<FusedAdamW>(options, 50, small_net()),
               train_steps<torch::optim::AdamW>(options, 50, small_net()));
}

TEST(FusedAdam, AmsgradFallsBackToTorchAdam) {
  auto options = torch::optim::AdamOptions(0.01).amsgrad(true);
  expect_close(train_steps<FusedAdam>(options, 20, small_net()),
               train_steps<torch::optim::Adam>(options, 20, small_net()));
}

// optimizer_state checkpoints written by either load into the other and continue alike
TEST(FusedAdam, StateIsTorchAdamsState) {
  torch::nn::Sequential net = small_net();
  auto options = torch::optim::AdamOptions(0.01);
  FusedAdam fused(net->parameters(), options);
  torch::Tensor x = torch::ones({4, 5});
  torch::mse_loss(net->forward(x), torch::zeros({4, 1})).backward();
  fused.step();

  torch::optim::Adam plain(net->parameters(), options);
  load_from_bytes(plain, save_to_bytes(fused));
  const auto& state = static_cast<torch::optim::AdamParamState&>(
      *plain.state().at(c10::guts::to_string(net->parameters()[0].unsafeGetTensorImpl())));
  EXPECT_EQ(state.step(), 1);
  EXPECT_GT(state.exp_avg_sq().abs().sum().item<float>(), 0);
}

// What an imported archive's optimizer state goes through (check_optimizer_state): a state of
// another architecture with as many parameters loads into torch::optim by position, and would
// send the fused step past its tensors; it is refused. Each optimizer's own state is checked.
TEST(OptimizerState, AStateForOtherShapesIsRefused) {
  for (const char* cls : {"Adam", "AdamW", "RMSprop", "Adagrad", "SGD"}) {
    OptimizerSpec spec{cls, json{{"lr", 0.01}, {"momentum", 0.9}}};
    if (spec.cls != "SGD" && spec.cls != "RMSprop") spec.kwargs.erase("momentum");
    torch::nn::Sequential trained = small_net();
    auto optimizer = make_optimizer(spec, trained->parameters());
    torch::mse_loss(trained->forward(torch::ones({4, 5})), torch::zeros({4, 1})).backward();
    optimizer->step();
    std::string state = save_to_bytes(*optimizer);

    torch::nn::Sequential same = small_net();
    auto fitting = make_optimizer(spec, same->parameters());
    EXPECT_NO_THROW(load_from_bytes(*fitting, state)) << cls;

    torch::nn::Sequential other(torch::nn::Linear(5, 16), torch::nn::Tanh(), torch::nn::Linear(16, 1));
    auto misfit = make_optimizer(spec, other->parameters());
    EXPECT_THROW(load_from_bytes(*misfit, state), std::runtime_error) << cls;
  }
}

// A state tensor may be a window of a larger storage that was stored whole: every value it
// addresses is among the bytes read. (Archives whose declared offsets or storage sizes reach
// past their records are forged in test/data/forge_archive.py and refused in export_python.)
TEST(OptimizerState, AWindowOfAStoredStorageLoads) {
  torch::nn::Sequential trained = small_net();
  auto optimizer = make_optimizer(OptimizerSpec{"Adam", json{{"lr", 0.01}}}, trained->parameters());
  torch::mse_loss(trained->forward(torch::ones({4, 5})), torch::zeros({4, 1})).backward();
  optimizer->step();
  torch::Tensor param = trained->parameters()[0];
  auto& state = static_cast<torch::optim::AdamParamState&>(
      *optimizer->state().at(c10::guts::to_string(param.unsafeGetTensorImpl())));
  torch::Tensor wider = torch::arange(param.numel() + 8, torch::kFloat32);
  state.exp_avg(wider.narrow(0, 8, param.numel()).view(param.sizes()));
  std::string stored = save_to_bytes(*optimizer);
  torch::nn::Sequential same = small_net();
  auto loading = make_optimizer(OptimizerSpec{"Adam", json{{"lr", 0.01}}}, same->parameters());
  ASSERT_NO_THROW(load_from_bytes(*loading, stored));
  torch::Tensor loaded = static_cast<torch::optim::AdamParamState&>(
      *loading->state().at(c10::guts::to_string(same->parameters()[0].unsafeGetTensorImpl()))).exp_avg();
  EXPECT_TRUE(torch::equal(loaded, state.exp_avg()));
}
