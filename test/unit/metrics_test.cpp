#include <gtest/gtest.h>

#include "metrics.hpp"

using namespace pinnacle;

namespace {

ObjectiveSpec objective(const char* name) {
  ObjectiveSpec o;
  o.name = name;
  return o;
}

}  // namespace

TEST(Metrics, ClassMetricsFromLogits) {
  // predicted classes 0, 1, 1, 2 against truth 0, 1, 2, 2
  auto output = torch::tensor({{5.f, 0.f, 0.f}, {0.f, 5.f, 0.f}, {0.f, 5.f, 0.f}, {0.f, 0.f, 5.f}});
  auto target = torch::tensor({0, 1, 2, 2}, torch::kInt64);
  auto ce = objective("cross_entropy");
  EXPECT_DOUBLE_EQ(compute_metric("accuracy", ce, output, target), 0.75);
  // precision per class: 1, 0.5, 1 -> 0.8333; recall: 1, 1, 0.5 -> 0.8333; f1: 1, 0.667, 0.667
  EXPECT_NEAR(compute_metric("precision", ce, output, target), 2.5 / 3, 1e-9);
  EXPECT_NEAR(compute_metric("recall", ce, output, target), 2.5 / 3, 1e-9);
  EXPECT_NEAR(compute_metric("f1", ce, output, target), (1 + 2.0 / 3 + 2.0 / 3) / 3, 1e-9);
}

TEST(Metrics, BinaryLogits) {
  auto output = torch::tensor({{2.f}, {-1.f}, {3.f}, {-2.f}});
  auto target = torch::tensor({{1.f}, {0.f}, {0.f}, {0.f}});
  EXPECT_DOUBLE_EQ(compute_metric("accuracy", objective("bce_with_logits"), output, target), 0.75);
}

TEST(Metrics, RegressionMetrics) {
  auto target = torch::tensor({{1.f}, {2.f}, {3.f}, {4.f}});
  auto output = torch::tensor({{1.f}, {2.f}, {3.f}, {6.f}});
  auto mse = objective("mse");
  EXPECT_DOUBLE_EQ(compute_metric("mse", mse, output, target), 1.0);
  EXPECT_DOUBLE_EQ(compute_metric("rmse", mse, output, target), 1.0);
  EXPECT_DOUBLE_EQ(compute_metric("mae", mse, output, target), 0.5);
  EXPECT_DOUBLE_EQ(compute_metric("r2", mse, output, target), 1.0 - 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(compute_metric("r2", mse, target, target), 1.0);
}
