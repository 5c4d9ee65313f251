#include <gtest/gtest.h>

#include "model.hpp"
#include "predictor.hpp"
#include "serialize.hpp"
#include "trainer.hpp"

using namespace pinnacle;

namespace {

// y = 3*x1 - 2*x2 + 1 on a fixed grid of points
Dataset linear_rows(int n) {
  Dataset data({"x1", "x2", "y"}, 0);
  for (int i = 0; i < n; ++i) {
    float x1 = static_cast<float>((i * 37) % 101) / 50.f - 1.f;
    float x2 = static_cast<float>((i * 53) % 97) / 48.f - 1.f;
    data.append_row({{x1}, {x2}, {3 * x1 - 2 * x2 + 1}});
  }
  return data;
}

TrainSpec linear_spec(const std::string& extra) {
  json spec = json::parse(R"({"identifier": "m", "select": "-", "key": {"inputs": ["x1", "x2"], "target": "y"},
      "model": {"layers": [{"type": "Linear", "out_features": 16}, {"type": "Tanh"},
                           {"type": "Linear", "out_features": 1}]},
      "objective": "mse", "optimizer_kwargs": {"lr": 0.01}})");
  spec.merge_patch(json::parse(extra));
  return parse_spec(spec.dump());
}

Trainer::Event run_to_end(Trainer& trainer, int* validations = nullptr) {
  Trainer::Event event;
  while ((event = trainer.advance()) != Trainer::Event::Finished)
    if (event == Trainer::Event::Validated && validations) ++*validations;
  return event;
}

Dataset no_rows() { return Dataset({"x1", "x2", "y"}, 0); }

}  // namespace

TEST(Trainer, LearnsALinearFunction) {
  Trainer trainer(linear_spec(R"({"max_iterations": 600, "validation_interval": 100,
                                  "validation": {"split": 0.1, "metrics": ["mse", "r2"]}})"),
                  linear_rows(2000), no_rows());
  run_to_end(trainer);
  EXPECT_EQ(trainer.stop_reason(), "max_iterations");
  EXPECT_LT(trainer.history()["mse"].back().get<double>(), 0.01);
  EXPECT_GT(trainer.history()["r2"].back().get<double>(), 0.99);
}

TEST(Trainer, MaxIterationsIsExactAndValidatesAtTheEnd) {
  Trainer trainer(linear_spec(R"({"max_iterations": 37, "validation_interval": 10})"), linear_rows(500), no_rows());
  int validations = 0;
  run_to_end(trainer, &validations);
  EXPECT_EQ(trainer.iteration(), 37);
  EXPECT_EQ(validations, 4);
  EXPECT_EQ(trainer.history()["iteration"], json::parse("[10, 20, 30, 37]"));
  EXPECT_EQ(trainer.history()["objective"].size(), 4u);
}

TEST(Trainer, StopsAfterValidationsWithoutImprovement) {
  // lr 0: the validation loss never improves after the first validation
  Trainer trainer(linear_spec(R"({"optimizer_cls": "SGD", "optimizer_kwargs": {"lr": 0},
                                  "validation_interval": 5, "no_improve_then_stop": 2,
                                  "validation": {"split": 0.2}})"),
                  linear_rows(500), no_rows());
  run_to_end(trainer);
  EXPECT_EQ(trainer.stop_reason(), "no_improvement");
  EXPECT_EQ(trainer.iteration(), 15);
  EXPECT_EQ(trainer.best_iteration(), 5);
}

TEST(Trainer, RestoresTheBestWeights) {
  Trainer trainer(linear_spec(R"({"max_iterations": 300, "validation_interval": 50,
                                  "listen": "r2", "validation": {"split": 0.1, "metrics": ["r2"]}})"),
                  linear_rows(1000), no_rows());
  std::string best_weights;
  Trainer::Event event;
  while ((event = trainer.advance()) != Trainer::Event::Finished)
    if (event == Trainer::Event::Validated && trainer.last_was_best()) best_weights = trainer.weights();
  EXPECT_FALSE(best_weights.empty());
  // the best r2 is the highest one: the metric's own direction
  auto r2 = trainer.history()["r2"].get<std::vector<double>>();
  EXPECT_DOUBLE_EQ(trainer.best_value(), *std::max_element(r2.begin(), r2.end()));
  // the finished model holds exactly the best checkpoint's weights
  auto reference = build_model(linear_spec("{}").layers, 2);
  load_from_bytes(*reference.net, best_weights);
  auto current = build_model(linear_spec("{}").layers, 2);
  load_from_bytes(*current.net, trainer.weights());
  auto a = reference.net->parameters(), b = current.net->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
}

TEST(Trainer, SameSeedSameWeights) {
  auto train_once = [] {
    Trainer trainer(linear_spec(R"({"max_iterations": 50, "compute_kwargs": {"seed": 3},
                                    "loader_kwargs": {"seed": 9}})"),
                    linear_rows(300), no_rows());
    run_to_end(trainer);
    return trainer.weights();
  };
  EXPECT_EQ(train_once(), train_once());
}

TEST(Trainer, ResumeContinuesWeightsOptimizerAndCount) {
  // 30 batches of 10 rows make one epoch, so an unshuffled run resumed at step 30 sees the
  // same batches as one that never stopped.
  const char* spec = R"({"loader_kwargs": {"batch_size": 10, "shuffle": false}, "validation_interval": 10})";
  Trainer straight(linear_spec(spec), linear_rows(300), no_rows());
  for (int i = 0; i < 60; ++i) straight.advance();

  TrainSpec half = linear_spec(R"({"loader_kwargs": {"batch_size": 10, "shuffle": false}, "validation_interval": 10,
                                   "max_iterations": 30})");
  Trainer first(half, linear_rows(300), no_rows());
  run_to_end(first);
  Trainer second(half, linear_rows(300), no_rows());
  second.resume(first.weights(), first.optimizer_state(), first.iteration(), first.history());
  run_to_end(second);

  EXPECT_EQ(second.iteration(), 60);
  EXPECT_EQ(second.steps_this_run(), 30);
  EXPECT_EQ(second.history()["iteration"].front(), 10);  // the history goes on
  EXPECT_EQ(second.history()["iteration"].back(), 60);
  auto expected = build_model(half.layers, 2), actual = build_model(half.layers, 2);
  load_from_bytes(*expected.net, straight.weights());
  load_from_bytes(*actual.net, second.weights());
  auto a = expected.net->parameters(), b = actual.net->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6));
}

TEST(Trainer, ResumeRejectsWeightsOfAnotherModel) {
  Trainer small(linear_spec("{}"), linear_rows(100), no_rows());
  TrainSpec wide = linear_spec(R"({"model": {"layers": [{"type": "Linear", "out_features": 1}]}})");
  Trainer other(wide, linear_rows(100), no_rows());
  EXPECT_THROW(other.resume(small.weights(), small.optimizer_state(), 0, json::object()), std::runtime_error);
}

TEST(Trainer, StreamedRowsTrainLikeInMemoryOnes) {
  TrainSpec spec = linear_spec(R"({"in_memory": false, "data_prefetch": true, "prefetch_size": 100,
                                   "prefetch_factor": 3, "max_iterations": 600, "validation_interval": 100,
                                   "validation": {"split": 0.1, "metrics": ["mse"]}})");
  Dataset rows({"x1", "x2", "y"}, 0);
  rows.spill(spec.prefetch_size);
  Dataset source = linear_rows(2000);
  for (int64_t r = 0; r < source.rows(); ++r) {
    auto row = source.all()[r];
    rows.append_row({{row[0].item<float>()}, {row[1].item<float>()}, {row[2].item<float>()}});
  }
  EXPECT_TRUE(rows.spilled());
  Trainer trainer(spec, std::move(rows), no_rows());
  EXPECT_EQ(trainer.train_rows(), 1800);  // the split is exact, as in memory
  EXPECT_EQ(trainer.validation_rows(), 200);
  run_to_end(trainer);
  EXPECT_EQ(trainer.iteration(), 600);
  EXPECT_LT(trainer.history()["mse"].back().get<double>(), 0.02);
}

TEST(Trainer, StreamedRowsFitTheTransformAsInMemoryRowsDo) {
  const char* extra = R"({"transform": {"x1": [{"scale": 3}, "standardize"], "x2": ["min_max"]}, "max_iterations": 1})";
  TrainSpec streamed_spec = linear_spec(extra);
  streamed_spec.in_memory = false;
  streamed_spec.prefetch_size = 64;  // many chunks, the last one partial
  Dataset streamed({"x1", "x2", "y"}, 0);
  streamed.spill(streamed_spec.prefetch_size);
  Dataset source = linear_rows(1000);
  for (int64_t r = 0; r < source.rows(); ++r) {
    auto row = source.all()[r];
    streamed.append_row({{row[0].item<float>()}, {row[1].item<float>()}, {row[2].item<float>()}});
  }
  Trainer in_memory(linear_spec(extra), linear_rows(1000), no_rows());
  Trainer spilled(streamed_spec, std::move(streamed), no_rows());
  json expected = in_memory.fitted_transform(), actual = spilled.fitted_transform();
  for (const char* column : {"x1", "x2"}) {
    const json& e = expected[column].back().begin().value();
    const json& a = actual[column].back().begin().value();
    EXPECT_NEAR(a["center"][0].get<double>(), e["center"][0].get<double>(), 1e-5) << column;
    EXPECT_NEAR(a["spread"][0].get<double>(), e["spread"][0].get<double>(), 1e-5) << column;
  }
  EXPECT_NE(actual["x1"][1]["standardize"]["spread"][0].get<double>(), 1.0);  // fitted, not the default
}

TEST(Trainer, NonFiniteLossFailsWithTheStep) {
  Dataset data({"x1", "x2", "y"}, 0);
  for (int i = 0; i < 64; ++i) data.append_row({{1.f}, {1.f}, {1e30f}});
  Trainer trainer(linear_spec(R"({"optimizer_cls": "SGD", "optimizer_kwargs": {"lr": 1e10}, "max_iterations": 20})"),
                  std::move(data), no_rows());
  try {
    run_to_end(trainer);
    FAIL() << "a non-finite loss went unnoticed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("loss became"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("at step"), std::string::npos);
  }
}

TEST(Trainer, EmptyDataIsAnError) {
  EXPECT_THROW(Trainer(linear_spec("{}"), no_rows(), no_rows()), std::runtime_error);
}

// A stored transform is checked against the spec's when a model is loaded (an attack imported
// metadata whose transform had lost its standardize, and predict ran on unscaled values).
TEST(Trainer, APredictorRefusesAStoredTransformThatIsNotTheSpecs) {
  const std::string extra = R"({"max_iterations": 5, "transform": {"x1": ["standardize"]}})";
  Trainer trainer(linear_spec(extra), linear_rows(200), no_rows());
  run_to_end(trainer);
  json spec = json::parse(R"({"identifier": "m", "select": "-", "key": {"inputs": ["x1", "x2"], "target": "y"},
      "model": {"layers": [{"type": "Linear", "out_features": 16}, {"type": "Tanh"},
                           {"type": "Linear", "out_features": 1}]},
      "objective": "mse", "optimizer_kwargs": {"lr": 0.01}})");
  spec.merge_patch(json::parse(extra));
  json fitted = trainer.fitted_transform();
  EXPECT_NO_THROW(Predictor(spec.dump(), trainer.column_widths(), trainer.weights(), fitted));

  EXPECT_THROW(Predictor(spec.dump(), trainer.column_widths(), trainer.weights(), json::object()), std::runtime_error);
  json wider = fitted;
  wider["x1"][0]["standardize"]["center"] = {1.0, 2.0, 3.0};
  EXPECT_THROW(Predictor(spec.dump(), trainer.column_widths(), trainer.weights(), wider), std::runtime_error);
}
