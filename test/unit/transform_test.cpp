#include <gtest/gtest.h>

#include "model.hpp"
#include "transform.hpp"

using namespace pinnacle;

namespace {

const std::vector<std::string> kColumns = {"a", "b", "y"};

std::string error_of(const char* transform, size_t inputs = 2) {
  try {
    Transformer(json::parse(transform), kColumns, inputs);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Transform, StandardizeIsFittedOnTrainingRowsAndSaved) {
  Transformer t(json::parse(R"({"a": ["standardize"], "b": [{"scale": 2}, {"shift": 1}]})"), kColumns, 2);
  auto rows = torch::tensor({{1.f, 10.f, 5.f}, {3.f, 20.f, 6.f}});  // a, b, y
  t.fit(rows, {1, 1, 1});
  auto out = t.apply(rows, {1, 1, 1});
  EXPECT_TRUE(torch::allclose(out, torch::tensor({{-1.f, 21.f, 5.f}, {1.f, 41.f, 6.f}})));

  // the fitted statistics travel with the model and give the same result on new rows
  Transformer loaded = Transformer::from_fitted(json::parse(t.fitted().dump()), kColumns, 2);
  auto fresh = torch::tensor({{2.f, 0.f}});
  EXPECT_TRUE(torch::allclose(loaded.apply(fresh, {1, 1}), torch::tensor({{0.f, 1.f}})));
}

TEST(Transform, MinMaxOneHotAndCast) {
  Transformer t(json::parse(R"({"a": ["min_max"], "b": [{"cast": "int64"}, {"one_hot": 3}]})"), kColumns, 2);
  auto rows = torch::tensor({{0.f, 2.9f, 0.f}, {4.f, 0.2f, 0.f}});
  t.fit(rows, {1, 1, 1});
  EXPECT_EQ(t.output_widths({1, 1, 1}), (std::vector<int64_t>{1, 3, 1}));
  auto out = t.apply(rows, {1, 1, 1});
  EXPECT_TRUE(torch::allclose(out, torch::tensor({{0.f, 0.f, 0.f, 1.f, 0.f}, {1.f, 1.f, 0.f, 0.f, 0.f}})));
  EXPECT_THROW(t.apply(torch::tensor({{1.f, 7.f, 0.f}}), {1, 1, 1}), std::runtime_error);  // class 7 of 3
}

TEST(Transform, ReshapeGivesTheModelItsInputShape) {
  Transformer t(json::parse(R"({"a": [{"scale": 0.5}, {"reshape": [1, 2, 2]}]})"), {"a", "y"}, 1);
  EXPECT_EQ(t.input_shape(), (std::vector<int64_t>{1, 2, 2}));
  auto model = build_model(json::parse(R"([{"type": "Flatten"}])"), 4, t.input_shape());
  EXPECT_EQ(model.output_shape, std::vector<int64_t>{4});
  EXPECT_EQ(model.net->size(), 2u);  // the reshape, then the layer list
}

TEST(Transform, ErrorsNameTheField) {
  EXPECT_EQ(error_of(R"({"z": ["standardize"]})"), "spec field \"transform.z\": is not an input column of key");
  EXPECT_NE(error_of(R"({"y": ["standardize"]})").find("transforms apply to input columns"), std::string::npos);
  EXPECT_NE(error_of(R"({"a": ["normalize"]})").find("spec field \"transform.a[0]\""), std::string::npos);
  EXPECT_NE(error_of(R"({"a": [{"one_hot": 1}]})").find("transform.a[0].one_hot"), std::string::npos);
  EXPECT_NE(error_of(R"({"a": [{"reshape": [2]}]})").find("only input column"), std::string::npos);
}
