// Exports as scripted modules built with torch::jit::Module::define() (DESIGN.md section 5), so
// that Python can fine-tune them: the model part, submodule "model" of the export, holds copies of
// the trained parameters with requires_grad on. A layer list becomes one scripted module per
// layer, named as in torch.nn.Sequential ("model.0.weight", ...); an imported TorchScript module
// is kept as it is, control flow and all. Only layers with a scripted form here are covered; the
// caller traces the others. (In define()'s source, torch.<op> names the aten op; torch.ops and
// torch.nn.functional are not resolved there.)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

namespace pinnacle {

// A module whose forward(x0, x1, ...) takes one (rows x width) tensor per input column,
// concatenates them and runs `net`'s layers; nullopt when a layer has no scripted form here.
std::optional<torch::jit::Module> script_layer_list(const torch::nn::Sequential& net, size_t input_columns);

// A module whose forward(x0, x1, ...) passes the input columns to (a copy of) `trained` as the
// spec's `signature` says: positionally, or by the names `input_names`.
torch::jit::Module script_module(const torch::jit::Module& trained, const std::string& signature,
                                 const std::vector<std::string>& input_names);

}  // namespace pinnacle
