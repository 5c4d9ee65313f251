#include <gtest/gtest.h>

#include "inference_plan.hpp"
#include "model.hpp"
#include "transform.hpp"

using namespace pinnacle;

namespace {

const std::vector<std::string> kColumns = {"a", "b", "y"};
const std::vector<int64_t> kWidths = {5, 3};  // a and b, the input columns

// A transform with every elementwise step, fitted on random rows like those of check_plan.
Transformer fitted_transform(const char* spec) {
  Transformer transformer(json::parse(spec), kColumns, 2);
  transformer.fit(torch::rand({50, 8}) * 255, kWidths);
  return transformer;
}

// Runs random rows through the plan and through torch (the transform, then the layer list)
// and expects the same outputs to float rounding.
void check_plan(const char* layers, const Transformer& transformer) {
  torch::manual_seed(7);
  BuiltModel model = build_model(json::parse(layers), 8);
  model.net->eval();
  auto plan = InferencePlan::build(model.net, transformer, kWidths);
  ASSERT_NE(plan, nullptr) << layers;

  torch::NoGradGuard no_grad;
  torch::Tensor rows = torch::rand({20, 8}) * 255;
  torch::Tensor expected = model.net->forward(transformer.apply(rows, kWidths));
  ASSERT_EQ(plan->output_width(), expected.size(1));
  torch::Tensor got = torch::empty_like(expected);
  for (int64_t r = 0; r < rows.size(0); ++r) plan->run(rows[r].data_ptr<float>(), got[r].data_ptr<float>());
  double scale = std::max(1.0, expected.abs().max().item<double>());
  EXPECT_LE((got - expected).abs().max().item<double>() / scale, 2e-6) << layers;
}

}  // namespace

TEST(InferencePlan, LinearAndActivationsMatchTorch) {
  Transformer transform = fitted_transform(
      R"({"a": [{"scale": 0.00392156862745098}, "standardize"], "b": [{"cast": "int64"}, "min_max", {"shift": -0.5}]})");
  for (const char* layers : {
           R"([{"type": "Linear", "out_features": 16}, {"type": "ReLU"}, {"type": "Linear", "out_features": 3}])",
           R"([{"type": "Linear", "out_features": 16, "bias": false}, {"type": "LeakyReLU", "negative_slope": 0.2},
               {"type": "Dropout", "p": 0.5}, {"type": "Linear", "out_features": 12}, {"type": "Tanh"},
               {"type": "Flatten"}, {"type": "Linear", "out_features": 4}, {"type": "Sigmoid"}])",
           R"([{"type": "Linear", "out_features": 32}, {"type": "GELU"}, {"type": "Linear", "out_features": 9},
               {"type": "SiLU"}, {"type": "Linear", "out_features": 1}])",
           R"([{"type": "Flatten"}, {"type": "Tanh"}])",  // no Linear: the transformed row, activated
       })
    check_plan(layers, transform);
}

TEST(InferencePlan, WithoutTransform) {
  check_plan(R"([{"type": "Linear", "out_features": 10}, {"type": "ReLU"}, {"type": "Linear", "out_features": 2}])",
             Transformer());
}

TEST(InferencePlan, OtherModelsTakeTheTorchPath) {
  const char* mlp = R"([{"type": "Linear", "out_features": 4}])";
  auto plan_of = [](const char* layers, const Transformer& transformer) {
    return InferencePlan::build(build_model(json::parse(layers), 8).net, transformer, kWidths);
  };
  EXPECT_NE(plan_of(mlp, Transformer()), nullptr);
  EXPECT_EQ(plan_of(R"([{"type": "Linear", "out_features": 4}, {"type": "Softmax"}])", Transformer()), nullptr);
  EXPECT_EQ(plan_of(R"([{"type": "Flatten", "start_dim": 0}])", Transformer()), nullptr);
  // Dropout is an identity only in eval mode
  EXPECT_EQ(plan_of(R"([{"type": "Dropout"}])", Transformer()), nullptr);
  // one_hot widens its column
  Transformer one_hot(json::parse(R"({"b": [{"one_hot": 3}]})"), {"a", "b", "y"}, 2);
  EXPECT_EQ(InferencePlan::build(build_model(json::parse(mlp), 7).net, one_hot, {5, 1}), nullptr);
  EXPECT_EQ(InferencePlan::build(torch::nn::Sequential(nullptr), Transformer(), kWidths), nullptr);  // TorchScript
}

// Widths that fill no panel or chunk evenly: the padding of both must add nothing.
TEST(InferencePlan, WidthsOffThePanelsAndChunks) {
  check_plan(R"([{"type": "Linear", "out_features": 37}, {"type": "Sigmoid"}, {"type": "Linear", "out_features": 13},
                 {"type": "ReLU"}, {"type": "Linear", "out_features": 1}])",
             Transformer());
  check_plan(R"([{"type": "Linear", "out_features": 3}, {"type": "Tanh"}, {"type": "Linear", "out_features": 21}])",
             Transformer());
}
