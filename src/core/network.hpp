// The model a run trains and predict serves: a layer list built into torch::nn::Sequential,
// or a TorchScript module imported with pinnacle_import. Inputs arrive one tensor per input
// column; the spec's signature says how they reach forward.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "spec.hpp"

namespace pinnacle {

class Network {
 public:
  // A layer list; its input is the input columns concatenated in key order, in `input_shape`
  // when a reshape transform gives one.
  static Network from_layers(const json& layers, int64_t input_width, const std::vector<int64_t>& input_shape);
  // A TorchScript archive (torch.jit.save / torch::jit::Module::save); `spec` gives the signature
  // and the input names for keyword arguments.
  static Network from_torchscript(const std::string& bytes, const TrainSpec& spec,
                                  const std::vector<int64_t>& input_shape);

  // Runs a two-row probe of zeros and returns the per-row output shape. Throws SpecError
  // naming the model when forward does not accept the inputs.
  std::vector<int64_t> probe(const std::vector<int64_t>& input_widths, bool padded = false);
  // Values each row leaves in memory on its way through a layer list (every layer's output),
  // measured on a two-row probe in eval mode; a TorchScript module's output only.
  int64_t activation_values_per_row(const std::vector<int64_t>& input_widths, bool padded);

  // `lengths`, with collate_fn "pad", holds each input column's real lengths (int64, one per
  // row): a layer list hands them to its LSTM and GRU layers, a TorchScript forward gets them
  // after the inputs ("*args") or as "<input>_lengths" (by name).
  torch::Tensor forward(const std::vector<torch::Tensor>& inputs, const std::vector<torch::Tensor>& lengths = {});
  std::vector<torch::Tensor> parameters();
  std::vector<torch::Tensor> buffers();  // BatchNorm's running statistics, ...
  void set_training(bool training);
  void freeze();  // no gradients: for inference and tracing

  // Weights: a torch::save archive for a layer list, the whole module for TorchScript.
  std::string save() const;
  // Loads weights in place, so that an optimizer built on parameters() keeps working.
  void load(const std::string& bytes);

  bool is_torchscript() const { return scripted_; }
  const torch::nn::Sequential& layers() const { return net_; }  // null for TorchScript
  const torch::jit::Module& module() const { return module_; }

 private:
  bool scripted_ = false;
  torch::Tensor forward_layers(torch::Tensor x, const torch::Tensor& lengths);

  torch::nn::Sequential net_{nullptr};
  int64_t input_width_ = 0;  // a layer list's, for the steps of padded sequences
  torch::jit::Module module_;
  std::string signature_;
  std::vector<std::string> input_names_;
  std::vector<int64_t> input_shape_;
};

// Loads TorchScript bytes; throws std::runtime_error naming the problem when they are not a
// TorchScript module with a forward method.
torch::jit::Module load_torchscript(const std::string& bytes);

// What an export carries for pinnacle_import to add it as a model version elsewhere (DESIGN.md
// section 10): the version's metadata (JSON: spec, transform, column widths, version, metrics),
// its stored weights and optimizer state, byte for byte, as extra files of the TorchScript archive.
struct ExportMetadata {
  std::string metadata_json;  // empty: the archive carries none (a module for "torchscript")
  std::string weights;
  std::string optimizer_state;  // empty: none (an imported version without one)
};
torch::jit::ExtraFilesMap export_files(const ExportMetadata& metadata);
// Reads them back from an archive that loads as TorchScript.
ExportMetadata read_export_files(const std::string& bytes);

}  // namespace pinnacle
