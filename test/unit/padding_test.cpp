// collate_fn "pad": right-padding and lengths must not change what a sequence model
// computes for a row, and the trainer must learn what only the real steps show.
#include <gtest/gtest.h>

#include "network.hpp"
#include "predictor.hpp"
#include "trainer.hpp"

using namespace pinnacle;

namespace {

// The same layers built for two input widths share their weights (none depends on the width).
void expect_padding_changes_nothing(const char* layers_for_width_8, const char* layers_for_width_4, int64_t real) {
  Network padded = Network::from_layers(json::parse(layers_for_width_8), 8, {});
  Network exact = Network::from_layers(json::parse(layers_for_width_4), real, {});
  exact.load(padded.save());
  padded.set_training(false);
  exact.set_training(false);
  torch::NoGradGuard no_grad;
  torch::Tensor row = torch::tensor({{1.f, 3.f, 2.f, 4.f}}).narrow(1, 0, real);
  torch::Tensor padded_row = torch::cat({row, torch::zeros({1, 8 - real})}, 1);
  torch::Tensor with_lengths = padded.forward({padded_row}, {torch::tensor({real})});
  EXPECT_TRUE(torch::allclose(with_lengths, exact.forward({row}), 1e-5, 1e-6));
  // without its length the padding would be read as steps
  EXPECT_FALSE(torch::allclose(padded.forward({padded_row}), exact.forward({row}), 1e-5, 1e-6));
}

// Class = the last real token of 2..6 tokens in 1..4.
Dataset last_token_rows(int n) {
  Dataset data({"tokens", "last"}, 0);
  data.pad_inputs(1);
  for (int i = 0; i < n; ++i) {
    std::vector<float> tokens;
    for (int j = 0; j < 2 + i % 5; ++j) tokens.push_back(static_cast<float>(1 + (i * 7 + j * 13 + (i * j) % 5) % 4));
    data.append_row({tokens, {tokens.back() - 1}});
  }
  return data;
}

const char* kLastTokenSpec = R"({"identifier": "m", "select": "-", "key": ["tokens", "last"], "collate_fn": "pad",
    "model": {"layers": [{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 8, "padding_idx": 0},
                         {"type": "GRU", "hidden_size": 16}, {"type": "Linear", "out_features": 4}]},
    "objective": "cross_entropy", "optimizer_kwargs": {"lr": 0.02}, "loader_kwargs": {"batch_size": 32},
    "max_iterations": 300, "validation_interval": 100, "validation": {"split": 0.2, "metrics": ["accuracy"]},
    "listen": "accuracy"})";

}  // namespace

TEST(Padding, BidirectionalLstmStopsAtEachRowsLastStep) {
  expect_padding_changes_nothing(
      R"([{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 3},
          {"type": "LSTM", "hidden_size": 4, "bidirectional": true}])",
      R"([{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 3},
          {"type": "LSTM", "hidden_size": 4, "bidirectional": true}])",
      3);
}

TEST(Padding, StepsFollowAnUnflattenToSeveralFeaturesPerStep) {
  // 8 values as 4 steps of 2 features; a row of 4 real values is 2 steps
  expect_padding_changes_nothing(
      R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [4, 2]}, {"type": "GRU", "hidden_size": 3}])",
      R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [2, 2]}, {"type": "GRU", "hidden_size": 3}])", 4);
}

TEST(Padding, TrainerLearnsWhatOnlyTheRealStepsShow) {
  Trainer trainer(parse_spec(kLastTokenSpec), last_token_rows(500), Dataset({"tokens", "last"}, 0));
  while (trainer.advance() != Trainer::Event::Finished) {
  }
  EXPECT_EQ(trainer.column_widths(), (std::vector<int64_t>{6, 1}));
  EXPECT_GT(trainer.best_value(), 0.95);

  Predictor predictor(kLastTokenSpec, trainer.column_widths(), trainer.weights(), trainer.fitted_transform());
  float out[4];
  for (float last : {1.f, 2.f, 3.f, 4.f}) {
    float row[6] = {2, 4, last, 0, 0, 0};
    int64_t length = 3;
    predictor.predict(row, 1, out, &length);
    EXPECT_EQ(std::max_element(out, out + 4) - out, static_cast<int64_t>(last) - 1) << "last token " << last;
  }
}

TEST(Padding, ABatchOfRowsOfDifferentLengthsPredictsAsEachRowAlone) {
  Trainer trainer(parse_spec(kLastTokenSpec), last_token_rows(200), Dataset({"tokens", "last"}, 0));
  trainer.advance();
  Predictor predictor(kLastTokenSpec, trainer.column_widths(), trainer.weights(), trainer.fitted_transform());
  ASSERT_EQ(trainer.column_widths()[0], 6);
  float rows[3][6] = {{2, 4, 0, 0, 0, 0}, {1, 3, 2, 4, 1, 2}, {3, 0, 0, 0, 0, 0}};
  int64_t lengths[3] = {2, 6, 1};
  float batch[3][4], alone[4];
  predictor.predict(&rows[0][0], 3, &batch[0][0], lengths);
  for (int r = 0; r < 3; ++r) {
    predictor.predict(rows[r], 1, alone, &lengths[r]);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(batch[r][i], alone[i], 1e-5) << "row " << r;
  }
}
