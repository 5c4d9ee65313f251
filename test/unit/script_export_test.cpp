#include <sstream>

#include <gtest/gtest.h>

#include "model.hpp"
#include "network.hpp"
#include "script_export.hpp"
#include "transform.hpp"

using namespace pinnacle;

namespace {

std::vector<std::string> parameter_names(const torch::jit::Module& module) {
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters()) names.push_back(p.name);
  return names;
}

bool has_buffer(const torch::jit::Module& module, const std::string& name) {
  for (const auto& b : module.named_buffers())
    if (b.name == name) return true;
  return false;
}

// A layer list of one input column of `width`, with trained-looking (random) weights and
// BatchNorm statistics, in eval mode as predict has it.
Network layer_list(const std::string& layers, int64_t width, const std::vector<int64_t>& shape = {}) {
  torch::manual_seed(7);
  Network network = Network::from_layers(json::parse(layers), width, shape);
  torch::NoGradGuard no_grad;
  for (auto& b : network.buffers())
    if (b.is_floating_point()) b.uniform_(0.5, 1.5);
  network.set_training(false);
  return network;
}

torch::Tensor exported(torch::jit::Module& module, const std::vector<torch::Tensor>& inputs) {
  torch::NoGradGuard no_grad;
  return module.forward(std::vector<c10::IValue>(inputs.begin(), inputs.end())).toTensor();
}

ExportSignature one_column(bool padded = false, int64_t width = 0) { return {{"x"}, "*args", padded, width}; }

}  // namespace

TEST(ScriptExport, LayerListKeepsItsParametersUnderSequentialNames) {
  Network net = layer_list(R"([{"type": "Linear", "out_features": 4}, {"type": "GELU"},
    {"type": "Dropout", "p": 0.5}, {"type": "Linear", "out_features": 2, "bias": false}, {"type": "LeakyReLU"},
    {"type": "SiLU"}])", 3);
  auto scripted = script_export(net, Transformer(), {{"a", "b"}, "*args", false, 0});
  EXPECT_EQ(parameter_names(scripted), (std::vector<std::string>{"model.0.weight", "model.0.bias", "model.3.weight"}));
  for (const auto& p : scripted.parameters()) EXPECT_TRUE(p.requires_grad());
  // forward(x0, x1) concatenates its input columns, as predict does; in eval mode, no dropout
  torch::Tensor a = torch::randn({5, 1}), b = torch::randn({5, 2});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(exported(scripted, {a, b}), net.forward({a, b})));
}

TEST(ScriptExport, ConvNetWithBatchNormGivesPredictsOutputsAndKeepsRunningStatistics) {
  Network net = layer_list(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [2, 6, 6]},
    {"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": "same"}, {"type": "BatchNorm2d"},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Conv2d", "out_channels": 4,
    "kernel_size": [2, 1], "stride": 1, "padding": [1, 0], "bias": false}, {"type": "AvgPool2d", "kernel_size": 2,
    "ceil_mode": true}, {"type": "AdaptiveAvgPool2d", "output_size": [1, 1]}, {"type": "Flatten"},
    {"type": "Linear", "out_features": 3}, {"type": "LogSoftmax", "dim": 1}])", 72);
  auto scripted = script_export(net, Transformer(), one_column());
  EXPECT_TRUE(has_buffer(scripted, "model.2.running_mean"));
  EXPECT_TRUE(has_buffer(scripted, "model.2.running_var"));
  EXPECT_TRUE(has_buffer(scripted, "model.2.num_batches_tracked"));
  EXPECT_EQ(parameter_names(scripted),
            (std::vector<std::string>{"model.1.weight", "model.1.bias", "model.2.weight", "model.2.bias",
                                      "model.5.weight", "model.9.weight", "model.9.bias"}));
  torch::Tensor x = torch::randn({4, 72});
  EXPECT_TRUE(torch::equal(exported(scripted, {x}), net.forward({x})));

  // in training mode, batch statistics and the running statistics move as torch.nn's do
  net.set_training(true);
  scripted.train(true);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(exported(scripted, {x}), net.forward({x})));
  for (const auto& b : scripted.named_buffers()) {
    if (b.name == "model.2.running_mean") {
      EXPECT_TRUE(torch::equal(b.value, net.layers()->named_buffers()["2.running_mean"]));
    }
    if (b.name == "model.2.num_batches_tracked") {
      EXPECT_EQ(b.value.item<int64_t>(), 1);
    }
  }
}

TEST(ScriptExport, OneDimensionalLayersAndNormsGivePredictsOutputs) {
  Network net = layer_list(R"([{"type": "Unflatten", "dim": 1, "unflattened_size": [2, 8]},
    {"type": "Conv1d", "out_channels": 3, "kernel_size": 3, "dilation": 2, "padding": "valid"},
    {"type": "BatchNorm1d", "affine": false}, {"type": "MaxPool1d", "kernel_size": 2, "stride": 1},
    {"type": "AvgPool1d", "kernel_size": 2, "count_include_pad": false, "padding": 1},
    {"type": "LayerNorm"}, {"type": "Tanh"}, {"type": "Flatten"},
    {"type": "BatchNorm1d", "track_running_stats": false}, {"type": "Sigmoid"}, {"type": "Softmax"}])", 16);
  auto scripted = script_export(net, Transformer(), one_column());
  EXPECT_FALSE(has_buffer(scripted, "model.8.running_mean"));
  torch::Tensor x = torch::randn({5, 16});
  EXPECT_TRUE(torch::equal(exported(scripted, {x}), net.forward({x})));
}

TEST(ScriptExport, RecurrentLayersKeepTorchNnNamesAndGivePredictsOutputs) {
  Network net = layer_list(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3, "padding_idx": 0},
    {"type": "LSTM", "hidden_size": 4, "num_layers": 2, "bidirectional": true, "output": "all"},
    {"type": "GRU", "hidden_size": 5}, {"type": "Linear", "out_features": 2}])", 6);
  auto scripted = script_export(net, Transformer(), one_column());
  auto names = parameter_names(scripted);
  for (const char* name : {"model.0.weight", "model.1.weight_ih_l0", "model.1.bias_hh_l1_reverse", "model.2.weight_hh_l0"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  torch::Tensor x = torch::randint(0, 10, {4, 6}).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(exported(scripted, {x}), net.forward({x})));
}

TEST(ScriptExport, PaddedLayerListTakesTheLengthsAfterTheInputs) {
  Network net = layer_list(R"([{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3, "padding_idx": 0},
    {"type": "LSTM", "hidden_size": 4, "bidirectional": true}, {"type": "Linear", "out_features": 2}])", 6);
  auto scripted = script_export(net, Transformer(), one_column(true, 6));
  torch::Tensor x = torch::randint(1, 10, {4, 6}).to(torch::kFloat32);
  torch::Tensor lengths = torch::tensor({6, 1, 3, 2}, torch::kLong);
  x.index_put_({1, torch::indexing::Slice(1)}, 0);
  torch::Tensor expected = net.forward({x}, {lengths});
  EXPECT_TRUE(torch::equal(exported(scripted, {x, lengths}), expected));
  // each row packed on its own: a row's output does not depend on the others in the batch
  torch::Tensor alone = exported(scripted, {x.narrow(0, 2, 1), lengths.narrow(0, 2, 1)});
  EXPECT_TRUE(torch::allclose(alone, expected.narrow(0, 2, 1), 1e-6, 1e-6));
}

TEST(ScriptExport, TransformIsASubmoduleWithItsFittedStatisticsAsBuffers) {
  json spec_transform = json::parse(R"({"a": [{"scale": 0.1}, "standardize"], "b": [{"one_hot": 4}],
    "c": ["min_max", {"shift": -0.5}, {"cast": "int64"}]})");
  Transformer transformer(spec_transform, {"a", "b", "c", "y"}, 3);
  std::vector<int64_t> widths = {2, 1, 3};
  torch::Tensor rows = torch::cat({torch::randn({20, 2}) * 5, torch::randint(0, 4, {20, 1}), torch::rand({20, 3}) * 9}, 1);
  transformer.fit(rows, widths);
  Network net = layer_list(R"([{"type": "Linear", "out_features": 1}])", 9);
  auto scripted = script_export(net, transformer, {{"a", "b", "c"}, "*args", false, 0});
  EXPECT_TRUE(has_buffer(scripted, "transform.center_0_1"));
  EXPECT_TRUE(has_buffer(scripted, "transform.spread_2_0"));
  EXPECT_EQ(parameter_names(scripted), (std::vector<std::string>{"model.0.weight", "model.0.bias"}));
  torch::Tensor transformed = transformer.apply(rows, widths);
  torch::Tensor expected = net.forward({transformed.narrow(1, 0, 2), transformed.narrow(1, 2, 4), transformed.narrow(1, 6, 3)});
  EXPECT_TRUE(torch::equal(exported(scripted, {rows.narrow(1, 0, 2), rows.narrow(1, 2, 1), rows.narrow(1, 3, 3)}), expected));
}

TEST(ScriptExport, ReshapeStepShapesTheRowsForTheModel) {
  Transformer transformer(json::parse(R"({"x": ["standardize", {"reshape": [1, 4, 4]}]})"), {"x", "y"}, 1);
  torch::Tensor rows = torch::randn({8, 16});
  transformer.fit(rows, {16});
  Network net = layer_list(R"([{"type": "Conv2d", "out_channels": 2, "kernel_size": 3}, {"type": "Flatten"},
    {"type": "Linear", "out_features": 1}])", 16, transformer.input_shape());
  auto scripted = script_export(net, transformer, one_column());
  // the reshape belongs to the transform: the model's layers keep their Sequential indices
  EXPECT_EQ(parameter_names(scripted),
            (std::vector<std::string>{"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}));
  EXPECT_TRUE(torch::equal(exported(scripted, {rows}), net.forward({transformer.apply(rows, {16})})));
}

TEST(ScriptExport, ExportedParametersTrainInTorchScript) {
  Network net = layer_list(R"([{"type": "Linear", "out_features": 3}, {"type": "BatchNorm1d"}, {"type": "ReLU"},
    {"type": "Linear", "out_features": 1}])", 2);
  auto scripted = script_export(net, Transformer(), one_column());
  scripted.train(true);
  std::vector<torch::Tensor> params;
  for (const auto& p : scripted.parameters()) params.push_back(p);
  torch::optim::SGD sgd(params, 0.1);
  torch::Tensor x = torch::randn({6, 2});
  torch::Tensor before = params[0].clone();
  scripted.forward({x}).toTensor().pow(2).mean().backward();
  sgd.step();
  EXPECT_FALSE(torch::equal(params[0], before));
}

// An imported module gets the transformed columns as its signature says: here by name, then a
// padded column's lengths as "<input>_lengths".
TEST(ScriptExport, ImportedModuleGetsTheTransformedColumnsByNameAndTheirLengths) {
  torch::jit::Module user("__torch__.User");
  user.register_parameter("w", torch::tensor({2.0f}), false);
  user.define(R"(
def forward(self, a, b, a_lengths, b_lengths):
    return self.w * a + b * (a_lengths + b_lengths).unsqueeze(1).to(a.dtype)
)");
  std::ostringstream bytes;
  user.save(bytes);
  TrainSpec spec = parse_spec(R"({"identifier": "u", "select": "SELECT a, b, y FROM t",
    "key": {"inputs": ["a", "b"], "target": "y"}, "model": {"torchscript": "user"}, "signature": "**kwargs",
    "collate_fn": "pad", "objective": "mse"})");
  Network net = Network::from_torchscript(bytes.str(), spec, {});
  Transformer transformer(json::parse(R"({"a": [{"scale": 3}], "b": [{"shift": -1}]})"), {"a", "b", "y"}, 2);
  auto scripted = script_export(net, transformer, {{"a", "b"}, "**kwargs", true, 0});
  EXPECT_EQ(parameter_names(scripted), (std::vector<std::string>{"model.w"}));
  torch::Tensor a = torch::rand({3, 2}), b = torch::rand({3, 2});
  torch::Tensor la = torch::tensor({2, 1, 2}), lb = torch::tensor({1, 1, 2});
  torch::Tensor transformed = transformer.apply(torch::cat({a, b}, 1), {2, 2});
  torch::Tensor expected = net.forward({transformed.narrow(1, 0, 2), transformed.narrow(1, 2, 2)}, {la, lb});
  EXPECT_TRUE(torch::equal(exported(scripted, {a, b, la, lb}), expected));
}
