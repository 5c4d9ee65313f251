#include <gtest/gtest.h>

#include "model.hpp"

using namespace pinnacle;

namespace {

std::string error_of(const char* layers, int64_t width) {
  try {
    build_model(json::parse(layers), width);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Model, InfersInputWidths) {
  auto model = build_model(json::parse(R"([{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
      {"type": "BatchNorm1d"}, {"type": "LayerNorm"}, {"type": "Dropout", "p": 0.2},
      {"type": "GELU"}, {"type": "Linear", "out_features": 3}, {"type": "Softmax", "dim": 1}])"), 5);
  EXPECT_EQ(model.output_shape, std::vector<int64_t>{3});
  auto out = model.net->forward(torch::randn({4, 5}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(torch::allclose(out.sum(1), torch::ones({4})));
}

TEST(Model, UnflattenAndFlattenTrackShapes) {
  auto model = build_model(json::parse(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [2, 6]},
      {"type": "Linear", "out_features": 4}, {"type": "Flatten"}])"), 12);
  EXPECT_EQ(model.output_shape, std::vector<int64_t>{8});
}

TEST(Model, ErrorsNameTheLayer) {
  EXPECT_EQ(error_of(R"([{"type": "Linear", "out_features": 2}, {"type": "Linera"}])", 3),
            "spec field \"model.layers[1].type\": unknown layer type \"Linera\"; did you mean \"Linear\"?");
  EXPECT_EQ(error_of(R"([{"type": "Linear", "out_feature": 2}])", 3),
            "spec field \"model.layers[0].out_feature\": unknown argument of Linear; did you mean \"out_features\"?");
  EXPECT_EQ(error_of(R"([{"type": "Linear"}])", 3), "spec field \"model.layers[0].out_features\": is required for Linear");
  EXPECT_EQ(error_of(R"([{"type": "Linear", "in_features": 4, "out_features": 2}])", 3),
            "spec field \"model.layers[0].in_features\": is 4 but the input has 3");
  EXPECT_NE(error_of(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [5, 5]}])", 12)
                .find("spec field \"model.layers[0]\": cannot take an input of shape [12]"),
            std::string::npos);
}
