#include <gtest/gtest.h>

#include "search.hpp"

using pinnacle::json;
using pinnacle::plan_search;

namespace {

json base_spec() {
  return json::parse(R"({"identifier": "m", "select": "SELECT x, y FROM t", "key": ["x", "y"],
    "model": {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}, {"type": "Linear", "out_features": 1}]},
    "objective": "mse", "optimizer_kwargs": {"lr": 0.01}})");
}

std::string error_of(const json& search) {
  try {
    plan_search(base_spec(), search);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Search, GridIsTheProductOfItsListsInPathOrder) {
  auto plan = plan_search(base_spec(), json::parse(R"({"method": "grid", "space": {
      "optimizer_kwargs.lr": [0.1, 0.01], "model.layers.0.out_features": [4, 16, 32]}})"));
  ASSERT_EQ(plan.trials.size(), 6u);
  EXPECT_TRUE(plan.rungs.empty());
  EXPECT_EQ(plan.trials[5].params["model.layers.0.out_features"], 32);
  EXPECT_EQ(plan.trials[5].spec["model"]["layers"][0]["out_features"], 32);
  EXPECT_EQ(plan.trials[5].spec["optimizer_kwargs"]["lr"], 0.01);
  // the rest of the spec is the base spec's
  EXPECT_EQ(plan.trials[5].spec["model"]["layers"][2]["out_features"], 1);
}

TEST(Search, RandomIsSeededAndStaysInItsBounds) {
  json search = json::parse(R"({"method": "random", "trials": 20, "seed": 7, "space": {
      "optimizer_kwargs.lr": {"log_uniform": [0.0001, 0.1]}, "loader_kwargs.batch_size": {"int_uniform": [8, 12]},
      "optimizer_kwargs.weight_decay": {"uniform": [0, 0.5]}, "optimizer_cls": ["Adam", "SGD"]}})");
  auto plan = plan_search(base_spec(), search);
  ASSERT_EQ(plan.trials.size(), 20u);
  std::set<int64_t> sizes;
  for (const auto& t : plan.trials) {
    double lr = t.params["optimizer_kwargs.lr"];
    EXPECT_GE(lr, 0.0001);
    EXPECT_LT(lr, 0.1);
    sizes.insert(t.params["loader_kwargs.batch_size"].get<int64_t>());
    EXPECT_TRUE(t.spec["loader_kwargs"]["batch_size"].is_number_integer());
  }
  EXPECT_EQ(*sizes.begin(), 8);
  EXPECT_EQ(*sizes.rbegin(), 12);
  EXPECT_EQ(plan_search(base_spec(), search).trials[3].params, plan.trials[3].params);
  search["seed"] = 8;
  EXPECT_NE(plan_search(base_spec(), search).trials[3].params, plan.trials[3].params);
}

TEST(Search, HalvingHasARungPerHalvingUnlessGiven) {
  auto plan = plan_search(base_spec(), json::parse(R"({"method": "halving", "space": {"optimizer_kwargs.lr": [1, 2, 3, 4, 5]}})"));
  EXPECT_EQ(plan.rungs, (std::vector<int64_t>{1, 2, 4}));
  plan = plan_search(base_spec(), json::parse(R"({"method": "halving", "rungs": [3, 6], "trials": 4,
      "space": {"optimizer_kwargs.lr": {"uniform": [0.001, 0.1]}}})"));
  EXPECT_EQ(plan.rungs, (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(plan.trials.size(), 4u);
}

TEST(Search, ErrorsNameTheFieldOrThePathAndValue) {
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"model.layers.7.out_features": [4]}})"))
                .find("search field \"space.model.layers.7.out_features\": \"7\" is not an index"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"optimizer_kwargs.lr": [0.1, -1]}})"))
                .find("optimizer_kwargs.lr = -1 makes an invalid spec: spec field \"optimizer_kwargs.lr\""), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"loader_kwargs.batchsize": [4]}})"))
                .find("spec field \"loader_kwargs.batchsize\": unknown field"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"select": ["SELECT 1"]}})"))
                .find("cannot vary \"select\""), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"compute_kwargs.seed": [1, 2]}})"))
                .find("cannot vary \"compute_kwargs.seed\""), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"optimizer_kwargs.lr": {"uniform": [0, 1]}}})"))
                .find("a grid needs a list of values"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "random", "space": {"optimizer_kwargs.lr": [1]}})"))
                .find("search field \"trials\""), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "spaces": {}})")).find("did you mean \"space\""), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "bayes", "space": {"optimizer_kwargs.lr": [1]}})"))
                .find("search field \"method\""), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "random", "trials": 2, "space": {"optimizer_kwargs.lr": {"log_uniform": [0, 1]}}})"))
                .find("above 0"), std::string::npos);
}

// A plan is built in the caller's backend before anything can be cancelled: a grid too large
// to run is refused from the sizes of its lists, before it is built.
TEST(Search, AHugeGridIsRefusedBeforeItIsBuilt) {
  json values = json::array();
  for (int i = 1; i <= 10; ++i) values.push_back(i);
  json space = json::object();
  for (const char* path : {"loader_kwargs.batch_size", "loader_kwargs.seed", "max_iterations",
                           "validation_interval", "no_improve_then_stop", "model.layers.0.out_features"})
    space[path] = values;
  EXPECT_NE(error_of({{"method", "grid"}, {"space", space}}).find("more than 1024 trials"), std::string::npos);
  EXPECT_NE(error_of(json::parse(R"({"method": "random", "trials": 1025, "space": {"optimizer_kwargs.lr": [0.1]}})"))
                .find("to 1024"),
            std::string::npos);
}

TEST(Search, IntegerBoundsStayWhereDrawsAreExact) {
  EXPECT_NE(error_of(json::parse(R"({"method": "random", "trials": 2,
                                     "space": {"max_iterations": {"int_uniform": [1, 1e30]}}})"))
                .find("within +-2^53"),
            std::string::npos);
}

TEST(Search, AnObjectThatHoldsAFixedFieldIsFixedToo) {
  EXPECT_NE(error_of(json::parse(R"({"method": "grid", "space": {"compute_kwargs": [{"seed": 1}, {"seed": 2}]}})"))
                .find("cannot vary \"compute_kwargs.seed\""),
            std::string::npos);
}
