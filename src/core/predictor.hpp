// A stored model version loaded for inference: the spec's model rebuilt for the stored
// column widths, its weights and fitted transform loaded, in eval mode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "inference_plan.hpp"
#include "layout.hpp"
#include "network.hpp"
#include "spec.hpp"
#include "transform.hpp"

namespace pinnacle {

class Predictor {
 public:
  static constexpr int64_t kMaxBatchRows = 1024;

  // `column_widths` are the key columns' widths as stored (inputs, then the target);
  // `fitted_transform` is Trainer::fitted_transform() of the run (null when none).
  Predictor(const std::string& spec_json, const std::vector<int64_t>& column_widths, const std::string& weights,
            const json& fitted_transform);

  // values per row before the transform, as predict's arguments give them
  int64_t input_width() const { return raw_input_width_; }
  int64_t output_width() const { return output_width_; }
  int input_columns() const { return static_cast<int>(raw_input_widths_.size()); }
  const std::vector<int64_t>& column_widths() const { return widths_; }

  // `rows` rows of input values (input_width floats a row, the input columns side by side),
  // row after row, to rows x output_width floats. A padded model (collate_fn "pad") takes
  // each input right-padded with zeros to its column width, and `lengths`: each row's real
  // length of each input column (rows x input columns).
  void predict(const float* values, int64_t rows, float* out, const int64_t* lengths = nullptr);
  bool padded() const { return layout_.padded; }
  // The most rows one predict call should take: that many rows' inputs and activations
  // stay within about a MB.
  int64_t batch_rows() const { return batch_rows_; }

  // The weights, saved anew (Network::save).
  std::string weights() const { return model_.save(); }
  // An optimizer state for this model (an imported version's), loaded into the spec's
  // optimizer over the model's parameters, checked (check_optimizer_state) and saved anew.
  std::string checked_optimizer_state(const std::string& bytes);

  // The model with its transform as a scripted TorchScript module (script_export.hpp): forward
  // takes one (rows x width) tensor per input column, as stored (then, for a padded model, one
  // tensor of lengths per input column), and returns what predict returns. `metadata` goes
  // into the archive as extra files (see ExportMetadata).
  std::string export_torchscript(const ExportMetadata& metadata);

 private:
  torch::Tensor run(const std::vector<torch::Tensor>& raw_inputs, const std::vector<torch::Tensor>& lengths);
  torch::Tensor checked_output(const torch::Tensor& output, int64_t rows) const;

  TrainSpec spec_;
  std::vector<int64_t> widths_;
  std::vector<int64_t> raw_input_widths_;
  int64_t raw_input_width_;
  Transformer transformer_;
  Layout layout_;
  Network model_;
  int64_t output_width_ = 0;
  int64_t batch_rows_ = 1;
  std::unique_ptr<InferencePlan> plan_;  // null when the model needs the torch path
};

}  // namespace pinnacle
