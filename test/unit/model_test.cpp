#include <gtest/gtest.h>

#include "model.hpp"
#include "serialize.hpp"

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

using Shape = std::vector<int64_t>;

BuiltModel build(const char* layers, int64_t width) { return build_model(json::parse(layers), width); }

// The probed shape is the one a real batch gets. Random inputs in [0, 1) are also valid
// token ids (0) for an Embedding.
void expect_shape(const char* layers, int64_t width, const Shape& shape) {
  SCOPED_TRACE(layers);
  auto model = build(layers, width);
  EXPECT_EQ(model.output_shape, shape);
  Shape batch = {3};
  batch.insert(batch.end(), shape.begin(), shape.end());
  EXPECT_EQ(model.net->forward(torch::rand({3, width})).sizes(), batch);
}

// Weights saved from one build load, by name, into a fresh build of the same layers.
void expect_weights_survive(const char* layers, int64_t width, const std::vector<std::string>& names) {
  SCOPED_TRACE(layers);
  auto saved = build(layers, width);
  auto loaded = build(layers, width);
  load_from_bytes(*loaded.net, save_to_bytes(*saved.net));
  auto expected = saved.net->named_parameters();
  auto actual = loaded.net->named_parameters();
  for (const auto& name : names) EXPECT_TRUE(expected.contains(name)) << name;
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& item : expected) EXPECT_TRUE(torch::equal(item.value(), actual[item.key()])) << item.key();
  torch::Tensor ids = torch::randint(0, 10, {4, width}).to(torch::kFloat);
  EXPECT_TRUE(torch::equal(saved.net->forward(ids), loaded.net->forward(ids)));
}

const char* kImage = R"({"type": "Unflatten", "dim": 1, "unflattened_size": [1, 6, 6]})";

std::string image_error(const std::string& layer) {
  return error_of(("[" + std::string(kImage) + ", " + layer + "]").c_str(), 36);
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

TEST(Model, Conv2dNetOnImages) {
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [1, 28, 28]},
      {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
      {"type": "MaxPool2d", "kernel_size": 2}])", 784, {8, 14, 14});
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [1, 28, 28]},
      {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "ReLU"},
      {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"}, {"type": "Linear", "out_features": 10}])",
               784, {10});
}

TEST(Model, Conv2dAndPoolingTakeTorchArguments) {
  // kernel [3, 5] stride [2, 1]: (28 - 3) / 2 + 1 = 13 by 28 - 5 + 1 = 24
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [1, 28, 28]},
      {"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": [3, 5], "stride": [2, 1]},
      {"type": "AvgPool2d", "kernel_size": 2, "stride": 1},
      {"type": "Conv2d", "out_channels": 6, "kernel_size": 3, "padding": "same", "groups": 2, "bias": false},
      {"type": "MaxPool2d", "kernel_size": [2, 3], "stride": 1, "padding": 1, "dilation": 2, "ceil_mode": true}])",
               784, {6, 12, 21});
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 10, 10]},
      {"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "padding": "valid", "dilation": [1, 2]}])",
               300, {2, 8, 6});
}

TEST(Model, AdaptiveAvgPool2dGivesItsOutputSize) {
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 10, 10]},
      {"type": "AdaptiveAvgPool2d", "output_size": [2, 4]}])", 300, {3, 2, 4});
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 10, 10]},
      {"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"}])", 300, {3});
}

TEST(Model, BatchNorm2dKeepsShapeAndStatistics) {
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 4, 4]},
      {"type": "BatchNorm2d", "num_features": 3, "momentum": 0.2}])", 48, {3, 4, 4});
  // The shape probe must neither move the running statistics nor leave the layer in eval mode.
  auto model = build(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 4, 4]},
      {"type": "BatchNorm2d"}])", 48);
  auto buffers = model.net->named_buffers();
  EXPECT_TRUE(torch::equal(buffers["1.running_var"], torch::ones({3})));
  EXPECT_EQ(buffers["1.num_batches_tracked"].item<int64_t>(), 0);
  EXPECT_TRUE(model.net->children()[1]->is_training());
}

TEST(Model, Conv1dAndPooling1d) {
  // Conv1d: (50 - 5) / 2 + 1 = 23; MaxPool1d strides by its kernel: 7; AvgPool1d: (7 + 2 - 2) / 2 + 1 = 4
  expect_shape(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [2, 50]},
      {"type": "Conv1d", "out_channels": 4, "kernel_size": 5, "stride": 2},
      {"type": "MaxPool1d", "kernel_size": 3}, {"type": "AvgPool1d", "kernel_size": 2, "padding": 1},
      {"type": "Conv1d", "out_channels": 3, "kernel_size": 3, "padding": "same", "dilation": 2},
      {"type": "Flatten"}])", 100, {12});
}

TEST(Model, EmbeddingLooksUpFloatIds) {
  expect_shape(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3}])", 5, {5, 3});
  expect_shape(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3}, {"type": "Flatten"}])", 5, {15});
  auto model = build(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3, "padding_idx": 0}])", 5);
  torch::Tensor weight = model.net->named_parameters()["0.embedding.weight"];
  EXPECT_TRUE(torch::equal(weight[0], torch::zeros({3})));
  torch::Tensor out = model.net->forward(torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f, 9.0f}}));
  EXPECT_TRUE(torch::equal(out[0], weight.index_select(0, torch::tensor({1, 2, 3, 4, 9}))));
}

TEST(Model, LstmGivesLastOrAllSteps) {
  const char* sequence = R"({"type": "Unflatten", "dim": 1, "unflattened_size": [6, 4]})";
  auto layers = [&](const char* lstm) { return "[" + std::string(sequence) + ", " + lstm + "]"; };
  expect_shape(layers(R"({"type": "LSTM", "hidden_size": 5})").c_str(), 24, {5});
  expect_shape(layers(R"({"type": "LSTM", "input_size": 4, "hidden_size": 5, "bidirectional": true})").c_str(), 24,
               {10});
  expect_shape(layers(R"({"type": "LSTM", "hidden_size": 5, "bidirectional": true, "output": "all"})").c_str(), 24,
               {6, 10});
  // "last" is output[:, -1] of "all": same weights, same numbers.
  std::string all = layers(R"({"type": "LSTM", "hidden_size": 5, "num_layers": 2, "bidirectional": true, "output": "all"})");
  std::string last = layers(R"({"type": "LSTM", "hidden_size": 5, "num_layers": 2, "bidirectional": true})");
  auto all_model = build(all.c_str(), 24);
  auto last_model = build(last.c_str(), 24);
  load_from_bytes(*last_model.net, save_to_bytes(*all_model.net));
  torch::Tensor x = torch::randn({3, 24});
  EXPECT_TRUE(torch::allclose(last_model.net->forward(x), all_model.net->forward(x).select(1, -1)));
}

TEST(Model, GruAfterEmbedding) {
  expect_shape(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 4},
      {"type": "GRU", "hidden_size": 7}])", 5, {7});
  expect_shape(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 4},
      {"type": "GRU", "hidden_size": 7, "num_layers": 2, "dropout": 0.1, "bias": false, "output": "all"},
      {"type": "Flatten"}, {"type": "Linear", "out_features": 2}])", 5, {2});
}

TEST(Model, CustomLayersKeepTheirWeightsByName) {
  expect_weights_survive(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3},
      {"type": "LSTM", "hidden_size": 4, "output": "all"}, {"type": "GRU", "hidden_size": 3, "bidirectional": true},
      {"type": "Linear", "out_features": 2}])", 5,
                         {"0.embedding.weight", "1.rnn.weight_ih_l0", "1.rnn.bias_hh_l0", "2.rnn.weight_hh_l0_reverse",
                          "3.weight"});
  expect_weights_survive(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [1, 5]},
      {"type": "Conv1d", "out_channels": 2, "kernel_size": 2}, {"type": "Flatten"}])", 5,
                         {"1.weight", "1.bias"});
}

TEST(Model, CustomLayersClone) {
  auto model = build(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3},
      {"type": "LSTM", "hidden_size": 4}])", 5);
  auto copy = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(model.net->clone());
  ASSERT_TRUE(copy);
  torch::Tensor ids = torch::randint(0, 10, {2, 5}).to(torch::kFloat);
  EXPECT_TRUE(torch::equal(copy->forward(ids), model.net->forward(ids)));
}

TEST(Model, NewLayerErrorsNameTheLayer) {
  EXPECT_EQ(error_of(R"([{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}])", 784),
            "spec field \"model.layers[0]\": Conv2d takes (channels, height, width) per row, not [784]; "
            "reshape with Unflatten first");
  EXPECT_EQ(error_of(R"([{"type": "Conv1d", "out_channels": 4, "kernel_size": 3}])", 50),
            "spec field \"model.layers[0]\": Conv1d takes (channels, length) per row, not [50]; "
            "reshape with Unflatten first");
  EXPECT_EQ(error_of(R"([{"type": "BatchNorm2d"}])", 12),
            "spec field \"model.layers[0]\": BatchNorm2d takes (channels, height, width) per row, not [12]; "
            "reshape with Unflatten first");
  EXPECT_EQ(image_error(R"({"type": "Conv2d", "out_channels": 4})"),
            "spec field \"model.layers[1].kernel_size\": is required for Conv2d");
  EXPECT_EQ(image_error(R"({"type": "Conv2d", "out_channels": 4, "kernal_size": 3})"),
            "spec field \"model.layers[1].kernal_size\": unknown argument of Conv2d; did you mean \"kernel_size\"?");
  EXPECT_EQ(image_error(R"({"type": "Conv2d", "out_channels": 4, "kernel_size": [3]})"),
            "spec field \"model.layers[1].kernel_size\": must be an integer of at least 1 or a list of 2 such integers");
  EXPECT_EQ(image_error(R"({"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": -1})"),
            "spec field \"model.layers[1].padding\": must be an integer of at least 0 or a list of 2 such integers");
  EXPECT_EQ(image_error(R"({"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": "Same"})"),
            "spec field \"model.layers[1].padding\": must be one of \"same\", \"valid\"; did you mean \"same\"?");
  EXPECT_EQ(image_error(R"({"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3})"),
            "spec field \"model.layers[1].in_channels\": is 3 but the input has 1");
  EXPECT_NE(image_error(R"({"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "groups": 2})")
                .find("spec field \"model.layers[1]\": cannot be built: "),
            std::string::npos);
  EXPECT_NE(image_error(R"({"type": "MaxPool2d", "kernel_size": 7})")
                .find("spec field \"model.layers[1]\": cannot take an input of shape [1, 6, 6]"),
            std::string::npos);
  EXPECT_EQ(image_error(R"({"type": "AdaptiveAvgPool2d"})"),
            "spec field \"model.layers[1].output_size\": is required for AdaptiveAvgPool2d");
}

TEST(Model, SequenceLayerErrorsNameTheLayer) {
  EXPECT_EQ(error_of(R"([{"type": "LSTM", "hidden_size": 4}])", 12),
            "spec field \"model.layers[0]\": LSTM takes (seq_len, features) per row, not [12]; "
            "reshape with Unflatten or start with an Embedding");
  const char* embedding = R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3}, )";
  auto error = [&](const char* layer) { return error_of((embedding + std::string(layer) + "]").c_str(), 5); };
  EXPECT_EQ(error(R"({"type": "LSTM"})"), "spec field \"model.layers[1].hidden_size\": is required for LSTM");
  EXPECT_EQ(error(R"({"type": "LSTM", "hidden_size": 4, "output": "first"})"),
            "spec field \"model.layers[1].output\": must be one of \"last\", \"all\"");
  EXPECT_EQ(error(R"({"type": "GRU", "hidden_size": 4, "dropout": 1.5})"),
            "spec field \"model.layers[1].dropout\": must be between 0 and 1");
  EXPECT_EQ(error(R"({"type": "GRU", "input_size": 4, "hidden_size": 4})"),
            "spec field \"model.layers[1].input_size\": is 4 but the input has 3");
  EXPECT_EQ(error_of(R"([{"type": "Embedding", "num_embeddings": 10}])", 5),
            "spec field \"model.layers[0].embedding_dim\": is required for Embedding");
  EXPECT_EQ(error_of(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3, "padding_idx": 10}])", 5),
            "spec field \"model.layers[0].padding_idx\": must be less than num_embeddings");
  EXPECT_EQ(error_of(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3, "padding_idx": -11}])", 5),
            "spec field \"model.layers[0].padding_idx\": must be an integer of at least -10");
}

// Outside autograd, a MaxPool2d whose windows tile the input takes the maxima of strided slices:
// the values of torch's max_pool2d exactly, NaN included, for odd sizes (the rest dropped),
// kernels of 2 and 2 x 3, and inputs with and without a batch dimension.
TEST(Model, TiledMaxPool2dGivesTorchsValues) {
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  for (std::vector<int64_t> kernel : {std::vector<int64_t>{2, 2}, std::vector<int64_t>{2, 3}}) {
    TiledMaxPool2d pool{torch::nn::MaxPool2dOptions(torch::ExpandingArray<2>(kernel))};
    pool->eval();
    for (torch::Tensor input : {torch::randn({4, 3, 9, 13}), torch::randn({3, 8, 12}).relu()}) {
      input.view(-1)[5] = NAN;
      torch::Tensor expected = torch::max_pool2d(input, kernel, kernel);
      torch::Tensor got = pool(input);
      ASSERT_EQ(got.sizes(), expected.sizes());
      EXPECT_TRUE(torch::equal(got.isnan(), expected.isnan()));
      EXPECT_TRUE(torch::equal(got.nan_to_num(0), expected.nan_to_num(0)));
    }
  }
}

// In training, and wherever a gradient is wanted, it is torch's own max_pool2d.
TEST(Model, TiledMaxPool2dTrainsAsTorchDoes) {
  TiledMaxPool2d pool(torch::nn::MaxPool2dOptions(2));
  torch::Tensor input = torch::randn({2, 3, 6, 6}, torch::requires_grad());
  pool(input).sum().backward();
  torch::Tensor reference = input.detach().clone().requires_grad_();
  torch::max_pool2d(reference, 2).sum().backward();
  EXPECT_TRUE(torch::equal(input.grad(), reference.grad()));
}
