#include <gtest/gtest.h>

#include "model.hpp"
#include "script_export.hpp"

using namespace pinnacle;

namespace {

std::vector<std::string> parameter_names(const torch::jit::Module& module) {
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters()) names.push_back(p.name);
  return names;
}

}  // namespace

TEST(ScriptExport, LayerListKeepsItsParametersUnderSequentialNames) {
  auto net = build_model(json::parse(R"([{"type": "Linear", "out_features": 4}, {"type": "GELU"},
    {"type": "Dropout", "p": 0.5}, {"type": "Linear", "out_features": 2, "bias": false}, {"type": "LeakyReLU"},
    {"type": "SiLU"}])"), 3).net;
  net->eval();
  auto scripted = script_layer_list(net, 2);
  ASSERT_TRUE(scripted.has_value());
  EXPECT_EQ(parameter_names(*scripted),
            (std::vector<std::string>{"model.0.weight", "model.0.bias", "model.3.weight"}));
  for (const auto& p : scripted->parameters()) EXPECT_TRUE(p.requires_grad());
  // forward(x0, x1) concatenates its input columns, as predict does; in eval mode, no dropout
  torch::Tensor a = torch::randn({5, 1}), b = torch::randn({5, 2});
  torch::NoGradGuard no_grad;
  torch::Tensor expected = net->forward(torch::cat({a, b}, 1));
  EXPECT_TRUE(torch::allclose(scripted->forward({a, b}).toTensor(), expected, 1e-6, 1e-6));
}

TEST(ScriptExport, LayerWithoutAScriptedFormIsLeftToTheTrace) {
  auto net = build_model(json::parse(R"([{"type": "Linear", "out_features": 4}, {"type": "LayerNorm"}])"), 3).net;
  EXPECT_FALSE(script_layer_list(net, 1).has_value());
}
