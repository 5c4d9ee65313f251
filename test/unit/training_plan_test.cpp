#include <gtest/gtest.h>

#include "training_plan.hpp"

using namespace pinnacle;

namespace {

ObjectiveSpec objective(const std::string& name) { return ObjectiveSpec{name, json::object()}; }

torch::nn::Sequential mlp(torch::nn::AnyModule activation, bool bias = true) {
  torch::manual_seed(7);
  return torch::nn::Sequential(torch::nn::Linear(torch::nn::LinearOptions(12, 9).bias(bias)), activation,
                               torch::nn::Linear(9, 5), activation.clone(), torch::nn::Linear(5, 4));
}

struct Gradients {
  double loss;
  std::vector<torch::Tensor> grads;
};

Gradients of(torch::nn::Sequential& net) {
  std::vector<torch::Tensor> grads;
  for (auto& p : net->parameters()) grads.push_back(p.grad().clone());
  return {0, grads};
}

// The batch's loss and gradients by autograd, the way the trainer computed them before plans.
Gradients by_autograd(torch::nn::Sequential& net, const torch::Tensor& x, const torch::Tensor& target,
                      const std::string& name, float scale) {
  for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
  torch::Tensor out = net->forward(x);
  torch::Tensor loss = (name == "mse" ? torch::nn::functional::mse_loss(out, target)
                                      : torch::nn::functional::cross_entropy(out, target)) * scale;
  loss.backward();
  Gradients g = of(net);
  g.loss = loss.item<double>();
  return g;
}

Gradients by_plan(torch::nn::Sequential& net, const torch::Tensor& x, const torch::Tensor& target,
                  const std::string& name, float scale) {
  auto plan = TrainingPlan::build(net, objective(name), x.size(1));
  EXPECT_TRUE(plan);
  for (auto& p : net->parameters()) p.mutable_grad() = torch::full_like(p, 123.f);  // overwritten, not added to
  auto loss = plan->step(x, target, scale);
  EXPECT_TRUE(loss.has_value());
  Gradients g = of(net);
  g.loss = loss->item<double>();
  return g;
}

void expect_same(const Gradients& a, const Gradients& b) {
  EXPECT_NEAR(a.loss, b.loss, 1e-5 * std::max(1.0, std::abs(a.loss)));
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (size_t i = 0; i < a.grads.size(); ++i)
    EXPECT_TRUE(torch::allclose(a.grads[i], b.grads[i], 1e-4, 1e-6)) << "parameter " << i;
}

// rows of 13 values whose first 12 are the input: the trainer's rows carry the target after it
torch::Tensor batch_input(int64_t rows) { return torch::randn({rows, 13}).narrow(1, 0, 12); }

}  // namespace

TEST(TrainingPlan, CrossEntropyGradientsEqualAutograds) {
  for (auto activation : {torch::nn::AnyModule(torch::nn::ReLU()), torch::nn::AnyModule(torch::nn::Tanh()),
                          torch::nn::AnyModule(torch::nn::Sigmoid()),
                          torch::nn::AnyModule(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.1)))}) {
    torch::nn::Sequential net = mlp(activation);
    torch::Tensor x = batch_input(33), labels = torch::randint(0, 4, {33}, torch::kInt64);
    expect_same(by_autograd(net, x, labels, "cross_entropy", 1.f), by_plan(net, x, labels, "cross_entropy", 1.f));
  }
}

TEST(TrainingPlan, MseGradientsEqualAutogradsScaledAndWithoutBias) {
  torch::nn::Sequential net = mlp(torch::nn::AnyModule(torch::nn::ReLU()), false);
  torch::Tensor x = batch_input(17), target = torch::randn({17, 4});
  expect_same(by_autograd(net, x, target, "mse", 0.25f), by_plan(net, x, target, "mse", 0.25f));
}

TEST(TrainingPlan, LeavesToTorchWhatItDoesNotCover) {
  torch::nn::Sequential net = mlp(torch::nn::AnyModule(torch::nn::ReLU()));
  auto plan = TrainingPlan::build(net, objective("cross_entropy"), 12);
  ASSERT_TRUE(plan);
  // a label out of range: torch raises its error
  EXPECT_FALSE(plan->step(batch_input(3), torch::tensor({0, 4, 1}, torch::kInt64), 1.f));
  EXPECT_FALSE(plan->step(batch_input(3), torch::tensor({0, -100, 1}, torch::kInt64), 1.f));

  ObjectiveSpec smoothed{"cross_entropy", json::parse(R"({"label_smoothing": 0.1})")};
  EXPECT_FALSE(TrainingPlan::build(net, smoothed, 12));
  EXPECT_FALSE(TrainingPlan::build(net, objective("l1"), 12));
  EXPECT_FALSE(TrainingPlan::build(net, objective("mse"), 11));  // does not fit the input
  EXPECT_FALSE(TrainingPlan::build(torch::nn::Sequential(torch::nn::Linear(12, 4), torch::nn::Dropout(0.5)),
                                   objective("mse"), 12));
  EXPECT_FALSE(TrainingPlan::build(torch::nn::Sequential(torch::nn::Linear(12, 4), torch::nn::ReLU(), torch::nn::Tanh()),
                                   objective("mse"), 12));
  EXPECT_FALSE(TrainingPlan::build(torch::nn::Sequential(torch::nn::ReLU(), torch::nn::Linear(12, 4)),
                                   objective("mse"), 12));
}

TEST(TrainingPlan, StepsTheSameWeightsAsAutogradOverManySteps) {
  torch::nn::Sequential a = mlp(torch::nn::AnyModule(torch::nn::ReLU())), b = mlp(torch::nn::AnyModule(torch::nn::ReLU()));
  torch::optim::Adam opt_a(a->parameters(), 1e-2), opt_b(b->parameters(), 1e-2);
  auto plan = TrainingPlan::build(b, objective("cross_entropy"), 12);
  ASSERT_TRUE(plan);
  torch::manual_seed(3);
  for (int step = 0; step < 50; ++step) {
    torch::Tensor x = batch_input(step % 7 == 6 ? 5 : 32), labels = torch::randint(0, 4, {x.size(0)}, torch::kInt64);
    by_autograd(a, x, labels, "cross_entropy", 1.f);
    opt_a.step();
    ASSERT_TRUE(plan->step(x, labels, 1.f));
    opt_b.step();
  }
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_TRUE(torch::allclose(a->parameters()[i], b->parameters()[i], 1e-4, 1e-5)) << "parameter " << i;
}
